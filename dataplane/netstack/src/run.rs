//! The per-core loop a backend runs on its pinned thread: poll while there is work, back off
//! when there is none.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
/// `yield_now` between them, then a sleep of up to [`Backoff::max_sleep`] (shorter when
/// smoltcp or a timeout is due sooner) with `thread::park_timeout`, so that the thread can be
/// woken early by [`std::thread::Thread::unpark`] (the control plane does that after pushing
/// replies). Any poll that does work starts over.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// Idle polls back to back before yielding.
    pub spin_polls: u32,
    /// Idle polls with a yield between them before sleeping.
    pub yield_polls: u32,
    /// Longest sleep.
    pub max_sleep: std::time::Duration,
    idle: u32,
}

impl Default for Backoff {
    /// 64 spinning polls, 64 yielding polls, then sleeps of up to 1 ms.
    fn default() -> Self {
        Backoff {
            spin_polls: 64,
            yield_polls: 64,
            max_sleep: std::time::Duration::from_millis(1),
            idle: 0,
        }
    }
}

impl Backoff {
    /// A poll did work: poll again at once.
    pub fn reset(&mut self) {
        self.idle = 0;
    }

    /// A poll did no work: wait according to how long the core has been idle; `due` is the
    /// stack's [`Stack::poll_delay`].
    pub fn idle(&mut self, due: Option<smoltcp::time::Duration>) {
        self.idle = self.idle.saturating_add(1);
        if self.idle <= self.spin_polls {
            std::hint::spin_loop();
        } else if self.idle <= self.spin_polls.saturating_add(self.yield_polls) {
            std::thread::yield_now();
        } else {
            let sleep = due.map_or(self.max_sleep, |d| {
                std::time::Duration::from_micros(d.total_micros()).min(self.max_sleep)
            });
            if !sleep.is_zero() {
                std::thread::park_timeout(sleep);
            }
        }
    }
}

impl Stack {
    /// Poll on `device` until `stop` is set, backing off when idle (see [`Backoff`]); then
    /// reset the connections left. `clock` must be the one the stack was made with.
    pub fn run<D: Device>(&mut self, device: &mut D, stop: &AtomicBool, clock: &Clock) {
        let mut backoff = Backoff::default();
        while !stop.load(Ordering::Acquire) {
            if self.poll(device, clock.now()) {
                backoff.reset();
            } else {
                let due = self.poll_delay(clock.now());
                backoff.idle(due);
            }
        }
        self.shutdown(device, clock.now());
    }
}

/// The loop of one dataplane core of the `afxdp` or `dpdk` backend, to call on its pinned
/// thread: a [`Stack`] for `cfg` on `device`, polled until `stop` is set (see
/// [`Stack::run`]). Jobs go up `rings` (with `wake_control` called after each batch), counters
/// into `stats`. The control plane wakes a sleeping core by unparking this thread.
pub fn run_core<D: Device>(
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
