//! The crate's error: what failed, and why, in terms an operator can act on.

use std::error::Error as StdError;
use std::io;

/// Lines of the verifier log kept in [`EbpfError::Verifier`] (the reason is at the end).
const VERIFIER_LOG_LINES: usize = 30;

/// An error of loading, attaching or driving the BPF programs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EbpfError {
    /// The kernel refused a BPF or netlink operation for lack of privilege (EPERM/EACCES).
    #[error(
        "no permission to {what} ({source}): BPF needs root, or CAP_BPF, CAP_NET_ADMIN and \
         CAP_PERFMON"
    )]
    Permission {
        /// The operation refused.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// No network interface of that name in this network namespace.
    #[error("network interface {name:?} not found")]
    InterfaceNotFound {
        /// The name asked for.
        name: String,
    },
    /// The verifier rejected a program.
    #[error("the kernel verifier rejected {program} ({source}); end of its log:\n{log_excerpt}")]
    Verifier {
        /// The program (C function name).
        program: &'static str,
        /// The last lines of the verifier log, where it says why.
        log_excerpt: String,
        /// The error of BPF_PROG_LOAD.
        #[source]
        source: io::Error,
    },
    /// The interface already runs an XDP program that this loader may not replace.
    #[error("interface {iface} already runs XDP program {prog_id} ({name}): {why}")]
    InterfaceBusy {
        /// The interface.
        iface: String,
        /// The kernel's id of the program there.
        prog_id: u32,
        /// Its name.
        name: String,
        /// Why it was left alone.
        why: &'static str,
    },
    /// The program could not be attached in any of the modes tried.
    #[error("attaching mmsc_xdp to {iface} failed: {detail}")]
    Attach {
        /// The interface.
        iface: String,
        /// The errors, per mode tried.
        detail: String,
    },
    /// The rules do not fit the programs' maps or are inconsistent.
    #[error("invalid rules: {0}")]
    InvalidRules(String),
    /// An AF_XDP queue index beyond the XSKMAP.
    #[error("queue {queue} is out of range: the XSKMAP has {max} entries")]
    QueueOutOfRange {
        /// The queue asked for.
        queue: u32,
        /// The XSKMAP's size.
        max: u32,
    },
    /// Reuseport steering needs between 1 and [`MAX_CORES`](crate::MAX_CORES) listeners.
    #[error("{count} listener sockets given: reuseport steering takes 1 to {max}")]
    ListenerCount {
        /// Sockets given.
        count: usize,
        /// The socket array's size.
        max: usize,
    },
    /// Another BPF operation failed.
    #[error("{what}: {source}")]
    Bpf {
        /// The operation.
        what: String,
        /// aya's error.
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// A netlink request about the interface failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// The request.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
}

fn is_permission(code: Option<i32>) -> bool {
    matches!(code, Some(1 | 13)) // EPERM, EACCES
}

impl EbpfError {
    /// Classifies an error of aya (or the OS) while doing `what`: permission problems and
    /// verifier rejections get their own variants, the rest is [`EbpfError::Bpf`].
    pub(crate) fn bpf(
        what: impl Into<String>,
        error: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        let what = what.into();
        let error = error.into();
        let mut cause: Option<&(dyn StdError + 'static)> = Some(&*error);
        while let Some(e) = cause {
            if let Some(aya::programs::ProgramError::LoadError {
                io_error,
                verifier_log,
            }) = e.downcast_ref::<aya::programs::ProgramError>()
            {
                // the verifier refuses with EACCES or EINVAL; EPERM is a missing privilege
                let code = io_error.raw_os_error();
                if code == Some(1) {
                    return Self::Permission {
                        what,
                        source: io::Error::from_raw_os_error(code.unwrap_or(1)),
                    };
                }
                return Self::Verifier {
                    program: program_in(&what),
                    log_excerpt: log_tail(&verifier_log.to_string()),
                    source: io_error
                        .raw_os_error()
                        .map(io::Error::from_raw_os_error)
                        .unwrap_or_else(|| io::Error::other(io_error.to_string())),
                };
            }
            if let Some(io_error) = e.downcast_ref::<io::Error>()
                && is_permission(io_error.raw_os_error())
            {
                return Self::Permission {
                    what,
                    source: io::Error::from_raw_os_error(io_error.raw_os_error().unwrap_or(1)),
                };
            }
            cause = e.source();
        }
        Self::Bpf {
            what,
            source: error,
        }
    }

    /// A netlink failure, with permission errors as [`EbpfError::Permission`].
    pub(crate) fn netlink(what: impl Into<String>, error: io::Error) -> Self {
        if is_permission(error.raw_os_error()) {
            Self::Permission {
                what: what.into(),
                source: error,
            }
        } else {
            Self::Netlink {
                what: what.into(),
                source: error,
            }
        }
    }
}

fn program_in(what: &str) -> &'static str {
    if what.contains(crate::maps::REUSEPORT_PROGRAM) {
        crate::maps::REUSEPORT_PROGRAM
    } else {
        crate::maps::XDP_PROGRAM
    }
}

fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(the kernel gave no verifier log)".to_owned();
    }
    let start = lines.len().saturating_sub(VERIFIER_LOG_LINES);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_is_found_in_the_cause_chain() {
        let err = aya::maps::MapError::SyscallError(aya::sys::SyscallError {
            call: "bpf_map_update_elem",
            io_error: io::Error::from_raw_os_error(1),
        });
        let classified = EbpfError::bpf("update map mmsc_config", err);
        assert!(
            matches!(classified, EbpfError::Permission { ref what, .. } if what == "update map mmsc_config"),
            "{classified:?}"
        );
        assert!(classified.to_string().contains("root"));
    }

    #[test]
    fn other_errors_keep_their_cause() {
        let classified = EbpfError::bpf("read map mmsc_stats", io::Error::from_raw_os_error(22));
        assert!(matches!(classified, EbpfError::Bpf { .. }));
        assert!(classified.to_string().starts_with("read map mmsc_stats: "));
    }

    #[test]
    fn log_tail_keeps_the_end() {
        let log: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&log);
        assert_eq!(tail.lines().count(), VERIFIER_LOG_LINES);
        assert!(tail.ends_with("line 99"));
        assert_eq!(log_tail("\n\n"), "(the kernel gave no verifier log)");
    }
}
