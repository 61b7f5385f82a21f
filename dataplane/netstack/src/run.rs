//! The per-core loop a backend runs on its pinned thread: poll while there is work, back off
//! when there is none.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use mmsc_dataplane::kernel::CoreRings;
use smoltcp::phy::Device;

use crate::config::{StackConfig, StackError};
use crate::stack::{Stack, StackStats, WakeFn};

/// The monotonic clock of one stack, as smoltcp wants it (microseconds since the stack was
/// made). smoltcp's own `Instant::now` reads the wall clock, which can step back.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The time now.
    pub fn now(&self) -> smoltcp::time::Instant {
        let us = i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX);
        smoltcp::time::Instant::from_micros(us)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// How an idle core waits: a few polls back to back (spinning), then polls with a
/// `yield_now` between them for [`Backoff::yield_for`] (other threads of its CPU run when
/// they have something to do; a frame or a reply arriving meanwhile is seen at the next
/// poll), then sleeps of up to [`Backoff::max_sleep`] (shorter when smoltcp or a timeout is
/// due sooner), by default with `thread::park_timeout`, so that the thread can be woken early
/// by [`std::thread::Thread::unpark`] (the control plane does that after pushing replies).
/// Any poll that does work starts over.
///
/// The yielding phase is measured in time, not in polls: an idle poll costs well under a
/// microsecond, and what it waits for (the next request of a connection whose reply has just
/// gone out, a batch of replies from the store's next sync) comes tens to hundreds of
/// microseconds later. A device that can wait for its frames (AF_XDP: poll(2) on the
/// socket) needs only a short window; one that cannot (a DPDK port) a long one, since frames
/// that arrive while it sleeps wait for the end of the sleep.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Idle polls back to back before yielding.
    pub spin_polls: u32,
    /// How long idle polls go on with a yield between them before the core sleeps.
    pub yield_for: std::time::Duration,
    /// Longest sleep.
    pub max_sleep: std::time::Duration,
    idle: u32,
    idle_since: Option<std::time::Instant>,
}

impl Default for Backoff {
    /// 64 spinning polls, yielding polls for 50 us, then sleeps of up to 1 ms.
    fn default() -> Self {
        Backoff::new(std::time::Duration::from_micros(50))
    }
}

impl Backoff {
    /// 64 spinning polls, yielding polls for `yield_for`, then sleeps of up to 1 ms.
    pub fn new(yield_for: std::time::Duration) -> Self {
        Backoff {
            spin_polls: 64,
            yield_for,
            max_sleep: std::time::Duration::from_millis(1),
            idle: 0,
            idle_since: None,
        }
    }

    /// A poll did work: poll again at once.
    pub fn reset(&mut self) {
        self.idle = 0;
        self.idle_since = None;
    }

    /// A poll did no work: spin or yield according to how long the core has been idle, or,
    /// once it has been idle long enough, return how long to sleep (see
    /// [`CoreDevice::idle_wait`]). `due` gives the stack's [`Stack::poll_delay`]; it is only
    /// asked for when the core is about to sleep.
    pub fn idle(
        &mut self,
        due: impl FnOnce() -> Option<smoltcp::time::Duration>,
    ) -> Option<std::time::Duration> {
        self.idle = self.idle.saturating_add(1);
        if self.idle <= self.spin_polls {
            std::hint::spin_loop();
            return None;
        }
        let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < self.yield_for {
            std::thread::yield_now();
            return None;
        }
        let sleep = due().map_or(self.max_sleep, |d| {
            std::time::Duration::from_micros(d.total_micros()).min(self.max_sleep)
        });
        // A poll that found nothing to do although something was due: do not spin on it.
        Some(sleep.max(MIN_SLEEP))
    }
}

/// Shortest sleep of an idle core.
const MIN_SLEEP: std::time::Duration = std::time::Duration::from_micros(10);

/// What the run loop needs from a backend's device beyond a smoltcp [`Device`]: both hooks
/// have defaults.
pub trait CoreDevice: Device {
    /// Called after each round: push out what the round wrote (a device that batches its
    /// transmissions bursts them here; an AF_XDP device kicks its TX ring and refills its
    /// fill ring).
    fn after_round(&mut self) {}

    /// How the core backs off when idle: by default [`Backoff::default`], for a device whose
    /// [`CoreDevice::idle_wait`] ends when a frame arrives.
    fn backoff(&self) -> Backoff {
        Backoff::default()
    }

    /// The core is about to wait (see [`CoreDevice::idle_wait`]): for a device whose waker
    /// rings only a sleeping core. The loop looks at the reply ring after this and waits
    /// only if it is empty, so a waker that publishes its replies before it looks whether the
    /// core sleeps (with a `SeqCst` fence between) cannot leave a reply unseen.
    fn will_wait(&mut self) {}

    /// The core's wait is over (or was skipped).
    fn woke(&mut self) {}

    /// The core has had nothing to do for a while: wait up to `timeout` for frames, or for
    /// the thread to be unparked (how the control plane wakes the core). The default parks
    /// the thread; a device that waits on something else (poll(2) on a socket) should keep
    /// to `timeout`, which is at most [`Backoff::max_sleep`].
    fn idle_wait(&mut self, timeout: std::time::Duration) {
        std::thread::park_timeout(timeout);
    }
}

impl CoreDevice for crate::mem::MemPort {}

/// A device with an [`CoreDevice::after_round`] hook given as a closure: for a device type
/// of another crate (which cannot implement [`CoreDevice`] outside its own crate).
#[derive(Debug)]
pub struct Hooked<D, F> {
    /// The device.
    pub device: D,
    /// Called with it after each round.
    pub after_round: F,
}

impl<D: Device, F> Device for Hooked<D, F> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(
        &mut self,
        timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.device.receive(timestamp)
    }

    fn transmit(&mut self, timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(timestamp)
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        self.device.capabilities()
    }
}

impl<D: Device, F: FnMut(&mut D)> CoreDevice for Hooked<D, F> {
    fn after_round(&mut self) {
        (self.after_round)(&mut self.device);
    }
}

impl Stack {
    /// Poll on `device` until `stop` is set, with [`CoreDevice::after_round`] after each
    /// round, backing off when idle (see [`Backoff`]); then reset the connections left.
    /// `clock` must be the one the stack was made with.
    pub fn run<D: CoreDevice>(&mut self, device: &mut D, stop: &AtomicBool, clock: &Clock) {
        let mut backoff = device.backoff();
        while !stop.load(Ordering::Acquire) {
            let worked = self.poll(device, clock.now());
            device.after_round();
            if worked {
                backoff.reset();
            } else if let Some(sleep) = backoff.idle(|| self.poll_delay(clock.now())) {
                device.will_wait();
                if !self.replies_waiting() {
                    device.idle_wait(sleep);
                }
                device.woke();
            }
        }
        self.shutdown(device, clock.now());
        device.after_round();
    }
}

/// The loop of one dataplane core of the `afxdp` or `dpdk` backend, to call on its pinned
/// thread: a [`Stack`] for `cfg` on `device`, polled until `stop` is set (see
/// [`Stack::run`]). Jobs go up `rings` (with `wake_control` called after each batch), counters
/// into `stats`. The control plane wakes a sleeping core by unparking this thread.
pub fn run_core<D: CoreDevice>(
    device: &mut D,
    cfg: StackConfig,
    rings: CoreRings,
    stats: Arc<StackStats>,
    stop: Arc<AtomicBool>,
    wake_control: WakeFn,
) -> Result<(), StackError> {
    let clock = Clock::new();
    let mut stack = Stack::new(cfg, rings, stats, wake_control, device, clock.now())?;
    stack.run(device, &stop, &clock);
    Ok(())
}

/// Why a core's loop could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum CoreError {
    /// The device could not be made.
    Device(Box<dyn std::error::Error + Send + Sync>),
    /// The stack could not be built.
    Stack(StackError),
    /// The core's thread panicked.
    Panicked,
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CoreError::Device(e) => write!(f, "device: {e}"),
            CoreError::Stack(e) => write!(f, "{e}"),
            CoreError::Panicked => write!(f, "the core's thread panicked"),
        }
    }
}

impl std::error::Error for CoreError {}

/// A core's [`run_core`] loop on a thread of its own.
#[derive(Debug)]
pub struct NetCore {
    /// Its counters.
    pub stats: Arc<StackStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), CoreError>>>,
}

impl NetCore {
    /// What the control plane calls after pushing replies to this core: unparks its thread
    /// if it sleeps.
    pub fn waker(&self) -> WakeFn {
        let thread = self.thread.as_ref().map(|t| t.thread().clone());
        Arc::new(move || {
            if let Some(t) = &thread {
                t.unpark();
            }
        })
    }

    /// Whether the loop has ended (stopped, or failed to start: see [`NetCore::stop`]).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stop the loop (its connections are reset) and wait for the thread; why it could not
    /// run, if it could not.
    pub fn stop(mut self) -> Result<(), CoreError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), CoreError> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => {
                t.thread().unpark();
                t.join().unwrap_or(Err(CoreError::Panicked))
            }
            None => Ok(()),
        }
    }
}

impl Drop for NetCore {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// Start a core on a new thread named `name`: `make_device` runs first on that thread (pin
/// the thread there, then open the port queue), then [`run_core`] with the other arguments,
/// until [`NetCore::stop`].
pub fn spawn_core<D, E, F>(
    name: String,
    cfg: StackConfig,
    rings: CoreRings,
    wake_control: WakeFn,
    make_device: F,
) -> std::io::Result<NetCore>
where
    D: CoreDevice,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    F: FnOnce() -> Result<D, E> + Send + 'static,
{
    let stats = Arc::new(StackStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (st, sp) = (Arc::clone(&stats), Arc::clone(&stop));
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let mut device = make_device().map_err(|e| CoreError::Device(e.into()))?;
        run_core(&mut device, cfg, rings, st, sp, wake_control).map_err(CoreError::Stack)
    })?;
    Ok(NetCore {
        stats,
        stop,
        thread: Some(thread),
    })
}
