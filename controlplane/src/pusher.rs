//! Push workers: threads that run the blocking push senders (PAP, sendsms, log) so that the
//! control plane never waits on a gateway. Requests go in on a channel; results come back on
//! another, after which the control plane is woken.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
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
///
/// The queue is a mutex and a condition variable rather than a channel: the control plane
/// queues a round's pushes at once and wakes one worker for them (a channel wakes a
/// receiver per request, and its receivers spin and yield before they sleep, which on a
/// machine whose CPUs are busy costs context switches for nothing).
#[derive(Debug)]
pub struct Pusher {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    requests: VecDeque<PushRequest>,
    /// No more requests come: the workers stop once the queue is empty.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A worker that panicked holding the lock left the queue itself consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pusher {
    /// Start `workers` threads sending with `sender`; results go to `results`, then `wake`.
    pub fn start(
        workers: usize,
        sender: Arc<dyn PushSender>,
        results: Sender<PushResult>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<Pusher> {
        let queue = Arc::new(Queue::default());
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let shared = Arc::clone(&queue);
            let sender = Arc::clone(&sender);
            let results = results.clone();
            let wake = Arc::clone(&wake);
            let spawned = std::thread::Builder::new()
                .name(format!("mmsc-push{i}"))
                .spawn(move || work(&*sender, &shared, &results, &*wake));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    Pusher { queue, threads }.stop();
                    return Err(e);
                }
            }
        }
        Ok(Pusher { queue, threads })
    }

    /// Queue pushes, waking one worker for them (all of them where requests were already
    /// waiting); how many were queued (none once stopping).
    pub fn send_all(&self, reqs: impl IntoIterator<Item = PushRequest>) -> usize {
        let (n, queued) = {
            let mut q = self.queue.lock();
            if q.closed {
                return 0;
            }
            let before = q.requests.len();
            q.requests.extend(reqs);
            (q.requests.len() - before, q.requests.len())
        };
        if queued > n {
            // A backlog: the other workers may help.
            self.queue.ready.notify_all();
        } else if n > 0 {
            self.queue.ready.notify_one();
        }
        n
    }

    /// Pushes waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.lock().requests.len()
    }

    /// Stop after the queued pushes.
    pub fn stop(mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One worker: take what is queued (up to the sender's batch limit), send it, return the
/// outcomes, and wake the control plane once per batch.
fn work(
    sender: &dyn PushSender,
    queue: &Queue,
    results: &Sender<PushResult>,
    wake: &(dyn Fn() + Send + Sync),
) {
    let limit = sender.batch_limit().max(1);
    let mut batch: Vec<PushRequest> = Vec::with_capacity(limit);
    loop {
        let more = {
            let mut q = queue.lock();
            while q.requests.is_empty() && !q.closed {
                q = queue.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
            if q.requests.is_empty() {
                return;
            }
            let n = q.requests.len().min(limit);
            batch.extend(q.requests.drain(..n));
            !q.requests.is_empty()
        };
        if more {
            queue.ready.notify_one();
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

#[cfg(test)]
mod tests {
    use super::*;
    use mmsc_push::Delivered;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A gateway that takes `delay` per push and records how many pushes it had at once.
    struct Slow {
        delay: Duration,
        limit: usize,
        now: AtomicUsize,
        most: AtomicUsize,
        sent: Mutex<Vec<String>>,
    }

    impl Slow {
        fn new(delay: Duration, limit: usize) -> Arc<Slow> {
            Arc::new(Slow {
                delay,
                limit,
                now: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                sent: Mutex::new(Vec::new()),
            })
        }
    }

    impl PushSender for Slow {
        fn send(&self, msisdn: &str, _pdu: &[u8]) -> Result<Delivered, PushError> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            self.sent.lock().unwrap().push(msisdn.to_string());
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(Delivered {
                detail: "ok".into(),
            })
        }

        fn batch_limit(&self) -> usize {
            self.limit
        }
    }

    fn requests(n: u64) -> Vec<PushRequest> {
        (0..n)
            .map(|i| PushRequest {
                key: PushKey::Outbox(i),
                msisdn: format!("+35840{i:07}"),
                pdu: vec![0x8c, 0x82],
            })
            .collect()
    }

    fn run(workers: usize, sender: Arc<Slow>, n: u64) -> Vec<PushResult> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let p = Pusher::start(workers, sender, tx, Arc::new(|| {})).unwrap();
        // In a few rounds, as the control plane queues them.
        let reqs = requests(n);
        let mut it = reqs.into_iter();
        loop {
            let round: Vec<PushRequest> = it.by_ref().take(7).collect();
            if round.is_empty() {
                break;
            }
            let len = round.len();
            assert_eq!(p.send_all(round), len);
        }
        // Stop right away: what is queued is still sent.
        p.stop();
        rx.try_iter().collect()
    }

    #[test]
    fn every_queued_push_is_sent_once_and_answered_even_when_stopping() {
        let sender = Slow::new(Duration::ZERO, 64);
        let mut results = run(2, Arc::clone(&sender), 70);
        assert_eq!(results.len(), 70);
        results.sort_by_key(|r| r.key);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.key, PushKey::Outbox(i as u64));
            assert_eq!(r.outcome.as_deref(), Ok("ok"));
        }
        let mut sent = sender.sent.lock().unwrap().clone();
        sent.sort();
        sent.dedup();
        assert_eq!(sent.len(), 70, "each once");
    }

    #[test]
    fn one_push_per_batch_runs_on_several_workers_at_once() {
        let sender = Slow::new(Duration::from_millis(20), 1);
        let results = run(4, Arc::clone(&sender), 14);
        assert_eq!(results.len(), 14);
        let most = sender.most.load(Ordering::SeqCst);
        assert!(most >= 2, "pushes ran in parallel: at most {most} at once");
    }

    #[test]
    fn nothing_is_queued_after_stop() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let p = Pusher::start(1, Slow::new(Duration::ZERO, 8), tx, Arc::new(|| {})).unwrap();
        let q = Arc::clone(&p.queue);
        p.stop();
        let late = Pusher {
            queue: q,
            threads: Vec::new(),
        };
        assert_eq!(late.send_all(requests(3)), 0);
        assert_eq!(late.queued(), 0);
    }
}
