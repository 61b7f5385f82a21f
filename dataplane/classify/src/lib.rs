//! Flow classification of Ethernet frames: which interface a packet belongs to (MM1, MM4,
//! MM7, MM3, other), and what the fast path does with it (pass to the kernel, drop, or
//! redirect to the core's AF_XDP socket).
//!
//! The XDP program in `ebpf/` makes the same decisions in the kernel; this crate is the
//! user-space twin (for the `afxdp` and `dpdk` backends, and as the reference the BPF side is
//! tested against). The rule set below is the contract both sides implement.
//!
//! - [`headers`]: zerocopy views of the Ethernet, VLAN, IPv4, IPv6, IPv6 extension and TCP
//!   headers.
//! - [`parse()`]: a frame down to its TCP header, as a [`Flow`], or the [`Slow`] reason it is
//!   not one (not IP, not TCP, a fragment, truncated, malformed).
//! - [`Classifier`]: [`Rules`] compiled; [`Classifier::classify`] gives the [`Verdict`] on a
//!   frame (its [`Class`] and [`Action`]) and counts it.
//! - [`syn`]: the per-source SYN token bucket (integer nanosecond arithmetic) and its
//!   bounded table.
//! - [`build`]: a frame builder for tests and benchmarks.
//!
//! No `unsafe`, no allocation per frame, and no panic on any input: every length from the
//! wire is checked against the bytes present before it is used.
//!
//! # The rule set
//!
//! Written once, here; [`Classifier`] and the XDP program (`ebpf/bpf/mmsc_xdp.c`, whose
//! header points here) implement it exactly, and `ebpf/tests/xdp_netns.rs` feeds both the
//! same frames and compares their counters frame by frame. For every frame, in this order:
//!
//! 1. **Parse** ([`parse()`]). The first check that fails gives the frame's [`Slow`] reason;
//!    such a frame is class [`Other`](Class::Other), passed to the kernel, never dropped.
//!    - Ethernet: 14 octets, else `Truncated`. While the EtherType is 0x8100 or 0x88A8, a
//!      VLAN tag: a third one is `TooManyVlans` (whatever follows), a tag cut short
//!      `Truncated`. Then 0x0800 (IPv4) or 0x86DD (IPv6), else `NotIp`.
//!    - IPv4: 20 octets, else `Truncated`; version 4, IHL ≥ 5 and total length ≥ IHL × 4,
//!      else `BadIpHeader`; the total length within the frame, else `Truncated`; MF or a
//!      fragment offset: `Fragment`; protocol not TCP: `NotTcp`.
//!    - IPv6: 40 octets, else `Truncated`; version 6, else `BadIpHeader`; 40 + payload
//!      length within the frame, else `Truncated`. Then the next headers: Hop-by-Hop (0),
//!      Routing (43), Destination Options (60) are skipped by their length, which must lie
//!      within the packet (else `Truncated`), at most [`MAX_IPV6_EXT_HEADERS`] of them (a
//!      ninth: `TooManyExtHeaders`); Fragment (44): `Fragment`; TCP ends the walk; anything
//!      else: `NotTcp`.
//!    - TCP, within the IP packet (octets after its length field's end are Ethernet
//!      padding): 20 octets, else `Truncated`; data offset ≥ 5 and the header with its
//!      options within the packet, else `BadTcpHeader`.
//! 2. **Listener.** Each [`Listener`] (except those of class `Other`, which are ignored)
//!    gives keys: an exact (family, address, port), or a wildcard (family, port) for the
//!    unspecified address `0.0.0.0` / `::` (its family) or for `addr: None` (both
//!    families). When several listeners give the same key, the first in
//!    [`Rules::listeners`] has it. A packet takes the class of the exact key of its
//!    destination, else of the wildcard key of its family, else `Other` (passed): an exact
//!    address beats a wildcard whatever the order, as with the kernel's binds. IPv4 and IPv6
//!    are separate families: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is an IPv6
//!    address, matched by IPv6 listeners only.
//! 3. **MM4 ACL.** Class `Mm4` and a source in none of [`Rules::mm4_peers`] of its own
//!    family (an IPv4-mapped source is checked against the IPv6 prefixes):
//!    [`DropReason::NotPeer`]. Prefix host bits are ignored; a prefix longer than its
//!    family matches nothing (the XDP loader refuses it).
//! 4. **SYN rate limit**, after the ACL (a refused peer takes no bucket): a connection
//!    request (SYN set, ACK clear) of any listener class, when [`Rules::syn_rate`] > 0,
//!    takes a token from the bucket of its (family, source address) — `192.0.2.1` and
//!    `::ffff:192.0.2.1` have separate buckets. A bucket holds `max(syn_burst, 1)` tokens
//!    (a `syn_burst` of 0 counts as 1), refills at `syn_rate` tokens/s with the exact
//!    integer arithmetic of [`syn`], and starts full for a new source. No token:
//!    [`DropReason::SynRate`].
//! 5. **Mode.** [`Mode::Redirect`]: `Mm1` and `Mm4` frames that are not dropped go to the
//!    AF_XDP socket of the receiving queue; so do the frames for an **owned address**
//!    (below); everything else, and everything in [`Mode::Pass`], is passed.
//!
//!    *Owned addresses* are the addresses of the user-space stack behind the AF_XDP socket
//!    (the `afxdp` backend's smoltcp), which the kernel does not have; they are given apart
//!    from [`Rules`] ([`Classifier::set_owned_addresses`], `XdpProgram::set_owned_addresses`
//!    in `mmsc-ebpf`; empty by default). A frame that step 1 refused as `NotIp` or `NotTcp`
//!    (so after at most 2 VLAN tags, well-formed, not a fragment) is for an owned address
//!    when ([`control_frame`]):
//!    - EtherType 0x0806 (ARP), 28 octets within the frame, protocol type 0x0800, hardware
//!      length 6, protocol length 4, and the target protocol address (octets 24..28) owned
//!      (request or reply: the operation and hardware type are not looked at);
//!    - IPv4 protocol 1 (ICMP) and the destination owned;
//!    - IPv6 next header 58 (ICMPv6, after the extension headers of step 1) and the
//!      destination owned, or ICMPv6 type 135 (Neighbor Solicitation, usually sent to the
//!      solicited-node multicast address) with its 24 octets within the packet and the
//!      target (octets 8..24) owned.
//!
//!    Addresses compare per family (an IPv4-mapped IPv6 address is an IPv6 address). Such a
//!    frame stays class `Other` with its `Slow` reason; it counts in `redirected` (or
//!    `redirect_no_socket`) and in `redirected_owned`. Everything else of class `Other`
//!    (UDP, TCP to other ports, ARP for other addresses, ...) is passed as before.
//! 6. **Counters.** Every frame counts once in its class (packets, and bytes = the frame
//!    length without FCS), dropped and slow-path ones included; drops per [`DropReason`];
//!    slow-path frames per [`Slow`] reason; redirects. The XDP program's `mmsc_stats` map
//!    has the same counters at fixed indices: `0 + DropReason` (0 `not_peer`, 1
//!    `syn_rate`; 2 and 3 kept for new drop reasons), 4 `redirected`, 5
//!    `redirect_no_socket`, 6 `redirected_owned` (the frames for an owned address among
//!    the two before), `8 + Slow` (8 `not_ip` ... 15 `bad_tcp_header`). Two totals are
//!    derived on both sides ([`Counters::slow_path`], [`Counters::malformed`]):
//!    *slow path* = `Fragment` + `TooManyVlans` + `TooManyExtHeaders` (well-formed, but
//!    deeper than the fast path looks: the kernel handles them) and *malformed* =
//!    `Truncated` + `BadIpHeader` + `BadTcpHeader`; `NotIp` and `NotTcp` are in neither.
//!    A redirect the XDP program makes to a queue without an AF_XDP socket passes the frame
//!    and counts `redirect_no_socket` instead of `redirected`: this classifier's
//!    `redirected` is the XDP program's `redirected + redirect_no_socket`.
//!
//! Where the two may still differ, by construction: the SYN table (here a set-associative
//! table with LRU eviction per set, there a BPF LRU hash of 65 536 sources: they differ
//! only when more sources are active than the table holds, and an evicted source comes
//! back with a full bucket); the clock (here the caller's `now_ns`, there
//! `bpf_ktime_get_ns`); and SYNs of one source handled at the same instant on two CPUs,
//! which may both take its last token in the kernel.
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
pub use parse::{
    ControlFrame, Flow, ICMPV6_NEIGHBOR_SOLICIT, MAX_IPV6_EXT_HEADERS, MAX_VLAN_TAGS, Slow,
    TcpFlags, control_frame, parse,
};

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
/// destination of its family, as a bind to it does; an exact address beats a wildcard (see
/// the [rule set](crate#the-rule-set)).
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

/// What the fast path does with the flows of a class (and with the frames for an owned
/// address: [`Classifier::set_owned_addresses`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Everything that is not dropped goes to the kernel (`xdp` backend).
    #[default]
    Pass,
    /// MM1 and MM4 packets that are not dropped go to the core's AF_XDP socket, and so do
    /// ARP, ICMP and ICMPv6 for the owned addresses; everything else goes to the kernel
    /// (`afxdp` backend).
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
    /// Listener `index` never matches: listener `by`, before it, gives the same keys (the
    /// same port, and the same exact address, or the same wildcard; `None` is shadowed
    /// once both `0.0.0.0` and `::` were given, `by` being the later of the two). An exact
    /// address after a wildcard is not shadowed: it beats the wildcard.
    ListenerShadowed {
        /// Index in [`Rules::listeners`] of the listener that never matches.
        index: usize,
        /// Index of the earlier listener that takes its packets.
        by: usize,
    },
    /// Listener `index` has class `Other`, which means "not a listener": it is ignored, on
    /// both sides, as if it were not in the list.
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
                continue;
            }
            // Only listeners that take part (not class Other) can shadow.
            let earlier = |f: &dyn Fn(Option<IpAddr>) -> bool| {
                self.listeners
                    .iter()
                    .take(index)
                    .position(|e| e.class != Class::Other && e.port == l.port && f(e.addr))
            };
            let wildcard = |a: Option<IpAddr>, v4: bool| {
                a.is_none_or(|a| a.is_unspecified() && a.is_ipv4() == v4)
            };
            let shadow = match l.addr {
                // An exact address: only the same exact address takes its key.
                Some(a) if !a.is_unspecified() => earlier(&|e| e == Some(a)),
                // A family wildcard: `None` or the same unspecified address before it.
                Some(a) => earlier(&|e| wildcard(e, a.is_ipv4())),
                // Both wildcards: shadowed once both are taken.
                None => match (
                    earlier(&|e| wildcard(e, true)),
                    earlier(&|e| wildcard(e, false)),
                ) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                },
            };
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
                l(None, 7000, Class::Mm1),
                l(Some("::"), 7000, Class::Mm7),
                // Not shadowed: class Other listeners are ignored.
                l(Some("10.0.0.1"), 22, Class::Other),
                l(Some("10.0.0.1"), 22, Class::Mm1),
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
                // 1 (10.0.0.1:80 after *:80) and 8 (10.0.0.1:8080 after 0.0.0.0:8080) are
                // not shadowed: an exact address beats a wildcard.
                RulesProblem::ListenerShadowed { index: 4, by: 2 },
                RulesProblem::ListenerClassOther { index: 5 },
                RulesProblem::ListenerShadowed { index: 9, by: 7 },
                RulesProblem::ListenerShadowed { index: 11, by: 10 },
                RulesProblem::ListenerClassOther { index: 12 },
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
