//! The mmsc control plane: the MM1 service on the store, notification push and reports,
//! expiry. One thread runs [`service::Service`]; it drains the cores' job rings in batches,
//! feeds store completions and push results to it, and returns replies on the cores' rings.
//! The store writer and the push workers are threads of their own, so this loop never waits
//! on a disk or a gateway.
//!
//! m-send-reqs take a shorter way ([`submit`]): a core's [`submit::CoreSubmitter`] appends
//! them to the store itself and answers them when the store hands it their completion; this
//! loop hears of them from the core's notices and the same completion, and indexes and
//! notifies them off the handset's path.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod pusher;
pub mod records;
pub mod service;
pub mod submit;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;
use mmsc_dataplane::ControlRings;
use mmsc_dataplane::ring::Reply;
use mmsc_store::{Completion, Recovered, Store};

use crate::pusher::{PushResult, Pusher};
use crate::service::{Service, Settings, Stats};
use crate::submit::FastPath;

/// The control plane's tables: their keys are what this MMSC made itself (message ids it
/// assigned, store tokens, job and segment numbers), so they hash with foldhash (seeded per
/// process) rather than SipHash, which was about a twentieth of all the instructions of a
/// submit (callgrind).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`HashMap`].
pub(crate) type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Wakes the control-plane thread (from cores, the store writer and push workers). Made
/// before the thread exists; wakes issued before it starts are not lost (the loop drains
/// everything when it starts).
#[derive(Debug, Default)]
pub struct Doorbell {
    thread: OnceLock<Thread>,
    /// The thread is about to sleep, or sleeps, for longer than a poll: set before it looks a
    /// last time for the cores' notices.
    sleeping: AtomicBool,
}

impl Doorbell {
    /// A new doorbell.
    pub fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell::default())
    }

    /// Wake the control plane.
    pub fn ring(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Wake the control plane if it sleeps for longer than a poll (a core's submitter calls
    /// this after a notice: while the control plane waits for such records it polls, and
    /// needs no wake-up).
    pub fn ring_if_sleeping(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.ring();
        }
    }
}

/// How often the control plane looks for the completions of the cores' submits while some
/// are outstanding (the store does not wake it for them).
const FAST_PATH_POLL: Duration = Duration::from_millis(2);

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the control plane is given to run.
pub struct ControlConfig {
    /// Service settings.
    pub settings: Settings,
    /// The store (already open).
    pub store: Store,
    /// What recovery found in it.
    pub recovered: Recovered,
    /// Completions of the store's appends.
    pub completions: Receiver<Completion>,
    /// The control-plane ends of each core's rings, by core index.
    pub rings: Vec<ControlRings>,
    /// Wakes each core after replies are pushed to it, by core index.
    pub wake_cores: Vec<Arc<dyn Fn() + Send + Sync>>,
    /// The push sender (PAP, sendsms, log).
    pub sender: Arc<dyn mmsc_push::Sender>,
    /// Push worker threads.
    pub push_workers: usize,
    /// The doorbell the cores, the store and the push workers ring.
    pub doorbell: Arc<Doorbell>,
    /// The cores' submit fast path, when they have one.
    pub fast: Option<FastPath>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("settings", &self.settings)
            .field("cores", &self.rings.len())
            .finish()
    }
}

/// A running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    stop: Arc<AtomicBool>,
    doorbell: Arc<Doorbell>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<Mutex<Stats>>,
}

impl ControlPlane {
    /// Start the control-plane thread.
    pub fn start(cfg: ControlConfig) -> std::io::Result<ControlPlane> {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(Stats::default()));
        let doorbell = Arc::clone(&cfg.doorbell);
        let (results_tx, results_rx) = crossbeam_channel::unbounded();
        let bell = Arc::clone(&cfg.doorbell);
        let pusher = Pusher::start(
            cfg.push_workers,
            Arc::clone(&cfg.sender),
            results_tx,
            Arc::new(move || bell.ring()),
        )?;
        let stop2 = Arc::clone(&stop);
        let stats2 = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("mmsc-control".into())
            .spawn(move || run(cfg, pusher, results_rx, stop2, stats2))?;
        let _ = doorbell.thread.set(thread.thread().clone());
        doorbell.ring();
        Ok(ControlPlane {
            stop,
            doorbell,
            thread: Some(thread),
            stats,
        })
    }

    /// The latest counters.
    pub fn stats(&self) -> Stats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// A reader of the latest counters, for other threads (the admin API).
    pub fn stats_reader(&self) -> impl Fn() -> Stats + Send + Sync + 'static {
        let stats = Arc::clone(&self.stats);
        move || stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Stop and wait.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        self.doorbell.ring();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    mut cfg: ControlConfig,
    pusher: Pusher,
    results: Receiver<PushResult>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Stats>>,
) {
    let mut svc = Service::new(
        cfg.settings.clone(),
        cfg.store.clone(),
        &cfg.recovered,
        now_secs(),
    );
    if let Some(fast) = cfg.fast.take() {
        svc.attach_fast_path(fast);
    }
    for line in svc.log.drain(..) {
        eprintln!("mmsc: {line}");
    }
    // The fetcher: reads messages that left the store's page-cache window into memory, off
    // this thread and off the dataplane cores, then hands the retrieval back.
    let (fetch_tx, fetch_rx) = crossbeam_channel::unbounded::<service::Fetch>();
    let (fetched_tx, fetched_rx) = crossbeam_channel::unbounded::<service::Fetch>();
    let fetcher = {
        let store = cfg.store.clone();
        let bell = Arc::clone(&cfg.doorbell);
        std::thread::Builder::new()
            .name("mmsc-fetch".into())
            .spawn(move || {
                while let Ok(f) = fetch_rx.recv() {
                    store.prefetch(f.loc);
                    if fetched_tx.send(f).is_err() {
                        break;
                    }
                    bell.ring();
                }
            })
    };
    let cores = cfg.rings.len();
    let mut backlog: Vec<VecDeque<Reply>> = (0..cores).map(|_| VecDeque::new()).collect();
    let mut last_tick = 0u64;
    let mut last_release = now_secs();
    loop {
        let now = now_secs();
        // What the cores' submitters are storing: before the completions, which it explains.
        let mut busy = svc.drain_notices();
        // Jobs from the cores, in batches.
        for ring in cfg.rings.iter_mut() {
            let n = ring.jobs.slots();
            if n == 0 {
                continue;
            }
            busy = true;
            if let Ok(chunk) = ring.jobs.read_chunk(n) {
                for job in chunk.into_iter() {
                    svc.handle_job(job, now);
                }
            }
        }
        // Durable records.
        while let Ok(c) = cfg.completions.try_recv() {
            busy = true;
            svc.on_completion(c, now);
        }
        // Push outcomes, in one batch (their Notified states go in one record).
        let outcomes: Vec<PushResult> = results.try_iter().collect();
        if !outcomes.is_empty() {
            busy = true;
            svc.on_push_results(outcomes, now);
        }
        // Retrievals whose message is in memory now.
        while let Ok(f) = fetched_rx.try_recv() {
            busy = true;
            svc.on_fetched(f, now);
        }
        if now != last_tick || busy {
            if now >= last_release + 2 {
                // Pages read through the store's maps would otherwise count in our resident
                // size for ever (they are page cache, reclaimable, but they look like ours).
                last_release = now;
                cfg.store.release_pages();
            }
            last_tick = now;
            svc.tick(now);
        }
        if !svc.pushes.is_empty() {
            pusher.send_all(svc.pushes.drain(..));
        }
        for f in std::mem::take(&mut svc.fetches) {
            if fetcher.is_ok() {
                let _ = fetch_tx.send(f);
            } else {
                // No fetcher thread: answer here, reading from the disk.
                svc.on_fetched(f, now);
            }
        }
        // Replies to the cores; what does not fit waits in a backlog.
        for reply in svc.replies.drain(..) {
            if let Some(b) = backlog.get_mut(usize::from(reply.conn.core)) {
                b.push_back(reply);
            }
        }
        for (core, b) in backlog.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            let Some(ring) = cfg.rings.get_mut(core) else {
                continue;
            };
            let mut pushed = false;
            while let Some(r) = b.pop_front() {
                match ring.replies.push(r) {
                    Ok(()) => pushed = true,
                    Err(rtrb::PushError::Full(r)) => {
                        b.push_front(r);
                        break;
                    }
                }
            }
            if pushed && let Some(w) = cfg.wake_cores.get(core) {
                w();
            }
        }
        for line in svc.log.drain(..) {
            eprintln!("mmsc: {line}");
        }
        if let Ok(mut s) = stats.lock() {
            *s = svc.published_stats();
        }
        // The cores stopped before the flag was set: their last notices are visible now.
        if stop.load(Ordering::Acquire) && !svc.drain_notices() && svc.in_flight() == 0 {
            break;
        }
        if !busy && backlog.iter().all(VecDeque::is_empty) {
            let wait = Duration::from_millis(
                svc.next_due()
                    .map_or(1000, |t| t.saturating_sub(now).saturating_mul(1000))
                    .clamp(5, 1000),
            );
            if svc.in_flight() > 0 {
                // Records in flight, among them perhaps the cores' submits, whose completions
                // do not wake this thread: poll for them.
                std::thread::park_timeout(wait.min(FAST_PATH_POLL));
            } else {
                // Nothing in flight: a long sleep, and a core that starts a submit rings. The
                // flag first, then a last look (a notice pushed after it sees the flag).
                cfg.doorbell.sleeping.store(true, Ordering::Relaxed);
                std::sync::atomic::fence(Ordering::SeqCst);
                if !svc.has_notices() {
                    std::thread::park_timeout(wait);
                }
                cfg.doorbell.sleeping.store(false, Ordering::Relaxed);
            }
        }
    }
    pusher.stop();
    drop(fetch_tx);
    if let Ok(t) = fetcher {
        let _ = t.join();
    }
}
