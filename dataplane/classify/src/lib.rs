//! Flow classification of Ethernet frames: which interface a packet belongs to (MM1, MM4,
//! MM7, MM3, other), and what the fast path does with it (pass to the kernel, drop, or
//! redirect to the core's AF_XDP socket).
//!
//! The XDP program in `ebpf/` makes the same decisions in the kernel; this crate is the
//! user-space twin (for the `afxdp` and `dpdk` backends, and as the reference the BPF side is
//! tested against). The rules below are the contract both sides implement.

#![forbid(unsafe_code)]

use std::net::IpAddr;

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
/// `None`) belong to `class`.
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
