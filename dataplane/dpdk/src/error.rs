//! Errors of the DPDK wrappers.

use std::ffi::CStr;
use std::fmt;

use dpdk_sys as sys;

/// An error number from DPDK (`rte_errno`, or a negated return value), shown with
/// `rte_strerror`'s text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's `rte_errno`.
    pub fn last() -> Errno {
        // SAFETY: reads the calling thread's rte_errno (thread-local); no other effect.
        Errno(unsafe { sys::mmsc_rte_errno() })
    }

    /// The error of a DPDK call returning `-errno` (ethdev's convention).
    pub fn from_ret(ret: i32) -> Errno {
        Errno(ret.saturating_neg())
    }

    /// `rte_strerror`'s text for this number.
    pub fn message(self) -> String {
        // SAFETY: rte_strerror accepts any number and returns a NUL-terminated string that
        // stays valid at least until the next call on this thread; it is copied at once.
        let text = unsafe { CStr::from_ptr(sys::rte_strerror(self.0)) };
        text.to_string_lossy().into_owned()
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.message(), self.0)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {})", self.0, self.message())
    }
}

/// What went wrong in a DPDK wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `rte_eal_init` ran in this process already (DPDK allows it once per process, even
    /// after `rte_eal_cleanup`).
    #[error("the DPDK EAL was already initialised in this process (once per process)")]
    AlreadyInitialised,
    /// An argument the wrapper refused before calling DPDK.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A DPDK call failed.
    #[error("{call} failed: {errno}")]
    Dpdk {
        /// The DPDK function.
        call: &'static str,
        /// Its error.
        errno: Errno,
    },
    /// No ethdev port has this name (a `--vdev` that did not probe, a PCI address not bound
    /// to a DPDK driver, ...).
    #[error("no DPDK port named {0:?}")]
    NoSuchPort(String),
    /// The port is already owned by a [`Port`](crate::Port) of this process.
    #[error("DPDK port {0} is already in use")]
    PortInUse(u16),
    /// The port is not started, so its queues cannot be used.
    #[error("DPDK port {0} is not started")]
    NotStarted(u16),
    /// Queue pair `queue` does not exist on the port.
    #[error("port {port} has no queue {queue} ({count} configured)")]
    NoSuchQueue {
        /// The port.
        port: u16,
        /// The queue asked for.
        queue: u16,
        /// How many queue pairs the port has.
        count: u16,
    },
    /// Queue pair `queue` is already held by a [`Queue`](crate::Queue).
    #[error("queue {queue} of port {port} is already in use")]
    QueueInUse {
        /// The port.
        port: u16,
        /// The queue.
        queue: u16,
    },
    /// A call that must run on the EAL's main lcore ran on another thread.
    #[error("{0} must be called on the EAL's main lcore (the thread that ran Eal::init)")]
    NotMainLcore(&'static str),
}

impl Error {
    pub(crate) fn dpdk(call: &'static str, errno: Errno) -> Error {
        Error::Dpdk { call, errno }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_reads_rte_strerror_without_an_eal() {
        let e = Errno::from_ret(-22);
        assert_eq!(e, Errno(22));
        assert_eq!(e.message(), "Invalid argument");
        let err = Error::dpdk("rte_eth_dev_configure", e);
        assert_eq!(
            err.to_string(),
            "rte_eth_dev_configure failed: Invalid argument (errno 22)"
        );
    }
}
