//! Push workers: threads that run the blocking push senders (PAP, sendsms, log) so that the
//! control plane never waits on a gateway. Requests go in on a channel; results come back on
//! another, after which the control plane is woken.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use mmsc_push::{PushError, Sender as PushSender};

/// What a push is for: the control plane matches results back with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushKey {
    /// The notification of a message to one recipient.
    Notify {
        /// Message id.
        id: crate::records::Id,
        /// Recipient index.
        recipient: u16,
    },
    /// A report in the outbox.
    Outbox(u64),
}

/// One push to send.
#[derive(Debug)]
pub struct PushRequest {
    /// What it is for.
    pub key: PushKey,
    /// Target MSISDN.
    pub msisdn: String,
    /// The MMS PDU to push.
    pub pdu: Vec<u8>,
}

/// The outcome of a push.
#[derive(Debug)]
pub struct PushResult {
    /// What it was for.
    pub key: PushKey,
    /// Delivered (with a detail for the log), or why not.
    pub outcome: Result<String, PushError>,
}

/// The pool of push workers.
#[derive(Debug)]
pub struct Pusher {
    tx: Option<Sender<PushRequest>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pusher {
    /// Start `workers` threads sending with `sender`; results go to `results`, then `wake`.
    pub fn start(
        workers: usize,
        sender: Arc<dyn PushSender>,
        results: Sender<PushResult>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Pusher> {
        let (tx, rx): (Sender<PushRequest>, Receiver<PushRequest>) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let sender = Arc::clone(&sender);
            let results = results.clone();
            let wake = Arc::clone(&wake);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("mmsc-push{i}"))
                    .spawn(move || work(&*sender, &rx, &results, &*wake))?,
            );
        }
        Ok(Pusher {
            tx: Some(tx),
            threads,
        })
    }

    /// Queue a push.
    pub fn send(&self, req: PushRequest) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(req).is_ok())
    }

    /// Pushes waiting for a worker.
    pub fn queued(&self) -> usize {
        self.tx.as_ref().map_or(0, Sender::len)
    }

    /// Stop after the queued pushes.
    pub fn stop(mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One worker: take what is queued (up to the sender's batch limit), send it, return the
/// outcomes, and wake the control plane once per batch.
fn work(
    sender: &dyn PushSender,
    rx: &Receiver<PushRequest>,
    results: &Sender<PushResult>,
    wake: &(dyn Fn() + Send + Sync),
) {
    let limit = sender.batch_limit().max(1);
    let mut batch: Vec<PushRequest> = Vec::with_capacity(limit);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < limit {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        let pushes: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|r| (r.msisdn.as_str(), r.pdu.as_slice()))
            .collect();
        let outcomes = sender.send_batch(&pushes);
        drop(pushes);
        let mut outcomes = outcomes.into_iter();
        for req in batch.drain(..) {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(mmsc_push::PushError::Transient(
                    "the sender gave no outcome for this push".into(),
                ))
            });
            if results
                .send(PushResult {
                    key: req.key,
                    outcome: outcome.map(|d| d.detail),
                })
                .is_err()
            {
                return;
            }
        }
        wake();
    }
}
