//! Flow classification of Ethernet frames: which interface a packet belongs to (MM1, MM4,
//! MM7, MM3, other), and what the fast path does with it (pass to the kernel, drop, or
//! redirect to the core's AF_XDP socket).
//!
//! The XDP program in `ebpf/` makes the same decisions in the kernel; this crate is the
//! user-space twin (for the `afxdp` and `dpdk` backends, and as the reference the BPF side is
//! tested against). The rules below are the contract both sides implement.
//!
//! - [`headers`]: zerocopy views of the Ethernet, VLAN, IPv4, IPv6, IPv6 extension and TCP
//!   headers.
//! - [`parse()`]: a frame down to its TCP header, as a [`Flow`], or the [`Slow`] reason it is
//!   not one (not IP, not TCP, a fragment, truncated, malformed).
//! - [`Classifier`]: [`Rules`] compiled; [`Classifier::classify`] gives the [`Verdict`] on a
//!   frame (its [`Class`] and [`Action`]) and counts it. The order of the checks is on
//!   [`Classifier`]: parse, listener, MM4 ACL, SYN rate limit, mode.
//! - [`syn`]: the per-source SYN token bucket (integer nanosecond arithmetic) and its
//!   bounded table.
//! - [`build`]: a frame builder for tests and benchmarks.
//!
//! No `unsafe`, no allocation per frame, and no panic on any input: every length from the
//! wire is checked against the bytes present before it is used.
//!
//! ```
//! use mmsc_classify::build::FrameBuilder;
//! use mmsc_classify::{Action, Class, Classifier, Listener, Mode, Rules, TcpFlags};
//!
//! let rules = Rules {
//!     listeners: vec![Listener { addr: None, port: 80, class: Class::Mm1 }],
//!     syn_rate: 100,
//!     syn_burst: 20,
//!     mode: Mode::Redirect,
//!     ..Rules::default()
//! };
//! assert!(rules.problems().is_empty());
//! let mut classifier = Classifier::new(&rules);
//! let syn = FrameBuilder::tcp("192.0.2.1".parse()?, 40000, "198.51.100.7".parse()?, 80)
//!     .flags(TcpFlags::SYN)
//!     .build();
//! let verdict = classifier.classify(&syn, 0);
//! assert_eq!((verdict.class, verdict.action), (Class::Mm1, Action::Redirect));
//! assert_eq!(classifier.counters().packets[Class::Mm1.index()], 1);
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

pub mod build;
mod classifier;
pub mod headers;
mod parse;
pub mod syn;

#[cfg(test)]
mod proptests;

use std::net::IpAddr;

pub use classifier::{Action, Classifier, Counters, DropReason, Verdict};
pub use parse::{Flow, MAX_IPV6_EXT_HEADERS, MAX_VLAN_TAGS, Slow, TcpFlags, parse};

/// The interface a flow belongs to, by the listener it is addressed to. The numbers are the
/// indices of the per-class counters in the BPF maps: do not renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Class {
    /// Anything that is not addressed to a configured listener (ARP, ICMP, SSH, ...).
    Other = 0,
    /// MM1: handsets over HTTP.
    Mm1 = 1,
    /// MM4: other operators' MMSCs over SMTP.
    Mm4 = 2,
    /// MM7: value-added service providers over SOAP/HTTP.
    Mm7 = 3,
    /// MM3: e-mail over SMTP.
    Mm3 = 4,
}

impl Class {
    /// Every class, in counter order.
    pub const ALL: [Class; 5] = [Class::Other, Class::Mm1, Class::Mm4, Class::Mm7, Class::Mm3];
    /// Number of classes (size of the per-class counter arrays).
    pub const COUNT: usize = 5;

    /// The counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in status output and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Class::Other => "other",
            Class::Mm1 => "mm1",
            Class::Mm4 => "mm4",
            Class::Mm7 => "mm7",
            Class::Mm3 => "mm3",
        }
    }
}

/// A TCP listener of the MMSC: packets to `addr`:`port` (any local address when `addr` is
/// `None`) belong to `class`. The unspecified address (`0.0.0.0`, `::`) matches any
/// destination of its family, as a bind to it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Listener {
    /// The listener's address; `None` matches any destination address (a wildcard bind).
    pub addr: Option<IpAddr>,
    /// TCP port.
    pub port: u16,
    /// The interface it serves.
    pub class: Class,
}

/// An address prefix (for the MM4 peer ACL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length in bits (0..=32 for IPv4, 0..=128 for IPv6).
    pub len: u8,
}

/// What the fast path does with the flows of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Everything that is not dropped goes to the kernel (`xdp` backend).
    #[default]
    Pass,
    /// MM1 and MM4 packets that are not dropped go to the core's AF_XDP socket; everything
    /// else goes to the kernel (`afxdp` backend).
    Redirect,
}

/// The rules of the fast path, filled from the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Rules {
    /// The MMSC's TCP listeners.
    pub listeners: Vec<Listener>,
    /// MM4 peers: an MM4 packet whose source is in none of these prefixes is dropped.
    pub mm4_peers: Vec<Prefix>,
    /// New connections (TCP SYN without ACK) to any listener allowed per second per source
    /// address; 0 = no limit.
    pub syn_rate: u32,
    /// Burst of the per-source SYN token bucket (at least 1 when `syn_rate` > 0).
    pub syn_burst: u32,
    /// Pass or redirect.
    pub mode: Mode,
}

/// A problem in [`Rules`] found by [`Rules::problems`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RulesProblem {
    /// MM4 peer prefix `index` is longer than its family allows (32 bits for IPv4, 128 for
    /// IPv6); the classifier makes it match nothing.
    PrefixTooLong {
        /// Index in [`Rules::mm4_peers`].
        index: usize,
        /// The prefix.
        prefix: Prefix,
    },
    /// `syn_rate` > 0 with `syn_burst` 0; the classifier uses a burst of 1.
    SynBurstZero,
    /// Listener `index` never matches: listener `by`, before it, has the same port and the
    /// same address or a wildcard that covers it. (The XDP program's maps give an exact
    /// address precedence over a wildcard, where this classifier takes the first listener
    /// that matches: they agree exactly when no listener is shadowed.)
    ListenerShadowed {
        /// Index in [`Rules::listeners`] of the listener that never matches.
        index: usize,
        /// Index of the earlier listener that takes its packets.
        by: usize,
    },
    /// Listener `index` has class `Other`, which means "not a listener": its packets are
    /// treated as if it did not exist.
    ListenerClassOther {
        /// Index in [`Rules::listeners`].
        index: usize,
    },
}

impl std::fmt::Display for RulesProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesProblem::PrefixTooLong { index, prefix } => write!(
                f,
                "mm4 peer {index}: prefix {}/{} is longer than the address",
                prefix.addr, prefix.len
            ),
            RulesProblem::SynBurstZero => {
                f.write_str("syn_burst is 0 with a non-zero syn_rate (taken as 1)")
            }
            RulesProblem::ListenerShadowed { index, by } => write!(
                f,
                "listener {index} never matches: listener {by} takes the same port and address"
            ),
            RulesProblem::ListenerClassOther { index } => {
                write!(f, "listener {index} has class other")
            }
        }
    }
}

impl Rules {
    /// Everything questionable in these rules, all at once (empty when they are sound). The
    /// classifier accepts any rules; this is for the configuration to report.
    pub fn problems(&self) -> Vec<RulesProblem> {
        let mut out = Vec::new();
        for (index, l) in self.listeners.iter().enumerate() {
            if l.class == Class::Other {
                out.push(RulesProblem::ListenerClassOther { index });
            }
            let covers = |e: &Listener| match (e.addr, l.addr) {
                (None, _) => true,
                (Some(a), Some(b)) => a == b || (a.is_unspecified() && a.is_ipv4() == b.is_ipv4()),
                (Some(_), None) => false,
            };
            let earlier = |f: &dyn Fn(&Listener) -> bool| {
                self.listeners
                    .iter()
                    .take(index)
                    .position(|e| e.port == l.port && f(e))
            };
            let unspecified = |v4: bool| {
                earlier(&|e: &Listener| {
                    e.addr
                        .is_some_and(|a| a.is_unspecified() && a.is_ipv4() == v4)
                })
            };
            // `None` is also covered by `0.0.0.0` and `::` together.
            let shadow = earlier(&covers).or_else(|| {
                match (l.addr, unspecified(true), unspecified(false)) {
                    (None, Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                }
            });
            if let Some(by) = shadow {
                out.push(RulesProblem::ListenerShadowed { index, by });
            }
        }
        for (index, p) in self.mm4_peers.iter().enumerate() {
            let max = if p.addr.is_ipv4() { 32 } else { 128 };
            if p.len > max {
                out.push(RulesProblem::PrefixTooLong { index, prefix: *p });
            }
        }
        if self.syn_rate > 0 && self.syn_burst == 0 {
            out.push(RulesProblem::SynBurstZero);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_indices_are_the_counter_layout() {
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        assert_eq!(Class::ALL.len(), Class::COUNT);
        assert_eq!(Class::Mm4.name(), "mm4");
    }

    #[test]
    fn problems_all_at_once() {
        let l = |addr: Option<&str>, port, class| Listener {
            addr: addr.map(|a| a.parse().unwrap()),
            port,
            class,
        };
        let rules = Rules {
            listeners: vec![
                l(None, 80, Class::Mm1),
                l(Some("10.0.0.1"), 80, Class::Mm7),
                l(Some("10.0.0.1"), 25, Class::Mm4),
                l(Some("10.0.0.2"), 25, Class::Mm3),
                l(Some("10.0.0.1"), 25, Class::Mm3),
                l(None, 22, Class::Other),
                l(Some("0.0.0.0"), 8080, Class::Mm7),
                l(Some("::"), 8080, Class::Mm7),
                l(Some("10.0.0.1"), 8080, Class::Mm1),
                l(None, 8080, Class::Mm1),
            ],
            mm4_peers: vec![
                Prefix {
                    addr: "192.0.2.0".parse().unwrap(),
                    len: 33,
                },
                Prefix {
                    addr: "2001:db8::".parse().unwrap(),
                    len: 128,
                },
                Prefix {
                    addr: "2001:db8::".parse().unwrap(),
                    len: 129,
                },
            ],
            syn_rate: 10,
            syn_burst: 0,
            mode: Mode::Redirect,
        };
        let p = rules.problems();
        assert_eq!(
            p,
            vec![
                RulesProblem::ListenerShadowed { index: 1, by: 0 },
                RulesProblem::ListenerShadowed { index: 4, by: 2 },
                RulesProblem::ListenerClassOther { index: 5 },
                RulesProblem::ListenerShadowed { index: 8, by: 6 },
                RulesProblem::ListenerShadowed { index: 9, by: 7 },
                RulesProblem::PrefixTooLong {
                    index: 0,
                    prefix: rules.mm4_peers[0]
                },
                RulesProblem::PrefixTooLong {
                    index: 2,
                    prefix: rules.mm4_peers[2]
                },
                RulesProblem::SynBurstZero,
            ]
        );
        assert!(p.iter().all(|p| !p.to_string().is_empty()));
        assert!(Rules::default().problems().is_empty());
    }
}
