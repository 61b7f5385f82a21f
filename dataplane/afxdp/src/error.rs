//! What can go wrong when opening an AF_XDP socket, each cause named.

use std::io;

/// An AF_XDP socket could not be opened: which step failed, and the system's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AfXdpError {
    /// The configuration is impossible (see [`XskConfig`](crate::XskConfig) for the limits).
    #[error("invalid AF_XDP configuration: {0}")]
    InvalidConfig(String),
    /// No interface of that name in this network namespace.
    #[error("interface {name:?} not found in this network namespace")]
    InterfaceNotFound {
        /// The name asked for.
        name: String,
    },
    /// Not allowed: AF_XDP sockets need root (CAP_NET_RAW, and CAP_IPC_LOCK or a large
    /// enough RLIMIT_MEMLOCK for the UMEM).
    #[error("{what}: not permitted (AF_XDP needs root, or CAP_NET_RAW and CAP_IPC_LOCK): {source}")]
    Permission {
        /// The step that was refused.
        what: &'static str,
        /// EPERM or EACCES.
        #[source]
        source: io::Error,
    },
    /// The UMEM could not be mapped (normal pages, or hugepages when they were required).
    #[error("cannot map the UMEM ({bytes} bytes, {pages}): {source}")]
    Umem {
        /// Length of the mapping asked for.
        bytes: usize,
        /// "2 MiB hugepages" or "normal pages".
        pages: &'static str,
        /// From mmap.
        #[source]
        source: io::Error,
    },
    /// A step of the socket set-up other than the bind failed (socket, UMEM registration,
    /// ring sizes, ring mappings).
    #[error("AF_XDP socket for {iface} queue {queue}: {what}: {source}")]
    Socket {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
        /// The step.
        what: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The bind to (interface, queue) failed in every mode tried: `zero_copy` and `copy` hold
    /// each attempt's error (`None`: not tried). EBUSY: another socket is bound to that
    /// queue; EINVAL: no such queue (see `ethtool -l`); EOPNOTSUPP with zero-copy: the driver
    /// has no AF_XDP zero-copy support.
    #[error("cannot bind an AF_XDP socket to {iface} queue {queue}: {}", bind_detail(.zero_copy.as_ref(), .copy.as_ref()))]
    Bind {
        /// The interface.
        iface: String,
        /// The queue.
        queue: u32,
        /// The error of the zero-copy attempt, if it was tried.
        zero_copy: Option<io::Error>,
        /// The error of the copy-mode attempt, if it was tried.
        copy: Option<io::Error>,
    },
}

fn bind_detail(zero_copy: Option<&io::Error>, copy: Option<&io::Error>) -> String {
    let mut parts = Vec::new();
    if let Some(e) = zero_copy {
        parts.push(format!("zero-copy: {e}"));
    }
    if let Some(e) = copy {
        parts.push(format!("copy mode: {e}"));
    }
    if parts.is_empty() {
        parts.push("no mode tried".to_owned());
    }
    parts.join("; ")
}

/// The `io::Error` of an errno from xdpilone (which reports some as negative numbers).
pub(crate) fn errno(e: &xdpilone::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.get_raw().saturating_abs())
}

/// Whether an error is a refusal for lack of privileges.
pub(crate) fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(1) | Some(13))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_error_names_both_attempts() {
        let e = AfXdpError::Bind {
            iface: "eth0".into(),
            queue: 3,
            zero_copy: Some(io::Error::from_raw_os_error(95)),
            copy: Some(io::Error::from_raw_os_error(16)),
        };
        let text = e.to_string();
        assert!(text.contains("eth0 queue 3"), "{text}");
        assert!(text.contains("zero-copy: "), "{text}");
        assert!(text.contains("copy mode: "), "{text}");
        assert!(is_permission(&io::Error::from_raw_os_error(1)));
        assert!(!is_permission(&io::Error::from_raw_os_error(16)));
    }
}
