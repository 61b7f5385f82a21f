//! The classifier: rules compiled once, then one [`Verdict`] per frame, with counters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::parse::{ControlFrame, Flow, Slow, control_frame, parse};
use crate::syn::{DEFAULT_SYN_SEED, DEFAULT_SYN_SOURCES, SynTable};
use crate::{Class, Mode, Prefix, Rules};

/// Why the fast path drops a packet. The numbers are the indices of the per-reason drop
/// counters: do not renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// An MM4 packet whose source is in none of the MM4 peer prefixes.
    NotPeer = 0,
    /// A connection request (SYN without ACK) to a listener beyond its source's rate.
    SynRate = 1,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 2] = [DropReason::NotPeer, DropReason::SynRate];
    /// Number of reasons (size of the drop counter array).
    pub const COUNT: usize = 2;

    /// The counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in status output and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NotPeer => "not_peer",
            DropReason::SynRate => "syn_rate",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the fast path does with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Hand it to the kernel (`XDP_PASS`).
    Pass,
    /// Drop it (`XDP_DROP`).
    Drop(DropReason),
    /// Hand it to the core's AF_XDP socket (`XDP_REDIRECT` into the XSK map).
    Redirect,
}

/// The decision on one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    /// The class of the frame (also when it is dropped).
    pub class: Class,
    /// What to do with it.
    pub action: Action,
    /// Why the frame is not a classifiable TCP segment, when it is not (then `class` is
    /// `Other`, and `action` is `Pass`, or `Redirect` for a frame to an owned address: see
    /// [`Classifier::set_owned_addresses`]).
    pub slow: Option<Slow>,
}

/// The classifier's counters. Arrays are indexed by [`Class::index`], [`DropReason::index`]
/// and [`Slow::index`]. They wrap on overflow (after 2⁶⁴).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames per class, dropped ones included.
    pub packets: [u64; Class::COUNT],
    /// Octets (whole frame lengths) per class, dropped ones included.
    pub bytes: [u64; Class::COUNT],
    /// Frames dropped, per reason.
    pub drops: [u64; DropReason::COUNT],
    /// Frames that are not a classifiable TCP segment, per reason (all of them are in
    /// `packets[Class::Other]` too).
    pub slow: [u64; Slow::COUNT],
    /// Frames redirected to the AF_XDP socket.
    pub redirected: u64,
    /// Of `redirected`, the frames for an owned address (ARP, ICMP, ICMPv6 that are not TCP:
    /// see [`Classifier::set_owned_addresses`]).
    pub redirected_owned: u64,
    /// Sources evicted from the SYN rate limit's table to make room for new ones.
    pub syn_evictions: u64,
}

impl Counters {
    /// Add `other` to these counters, field by field (wrapping): the sum of several cores'
    /// classifiers.
    pub fn add(&mut self, other: &Counters) {
        fn add_all<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = x.wrapping_add(*y);
            }
        }
        add_all(&mut self.packets, &other.packets);
        add_all(&mut self.bytes, &other.bytes);
        add_all(&mut self.drops, &other.drops);
        add_all(&mut self.slow, &other.slow);
        self.redirected = self.redirected.wrapping_add(other.redirected);
        self.redirected_owned = self.redirected_owned.wrapping_add(other.redirected_owned);
        self.syn_evictions = self.syn_evictions.wrapping_add(other.syn_evictions);
    }

    /// Frames counted, all classes together.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Frames dropped, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// The *slow path* total of the [rule set](crate#the-rule-set): frames of the reasons
    /// for which [`Slow::is_slow_path`] holds (fragments, more than 2 VLAN tags, more than
    /// 8 IPv6 extension headers). The XDP program's `slow_path` counts the same.
    pub fn slow_path(&self) -> u64 {
        self.slow_total(Slow::is_slow_path)
    }

    /// The *malformed* total of the [rule set](crate#the-rule-set): frames of the reasons
    /// for which [`Slow::is_malformed`] holds (truncated, bad IP header, bad TCP header).
    /// The XDP program's `malformed` counts the same.
    pub fn malformed(&self) -> u64 {
        self.slow_total(Slow::is_malformed)
    }

    fn slow_total(&self, which: fn(Slow) -> bool) -> u64 {
        Slow::ALL
            .into_iter()
            .zip(self.slow)
            .filter(|&(r, _)| which(r))
            .fold(0, |a, (_, n)| a.wrapping_add(n))
    }
}

fn bump(counters: &mut [u64], index: usize, by: u64) {
    if let Some(c) = counters.get_mut(index) {
        *c = c.wrapping_add(by);
    }
}

/// An exact listener address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exact {
    V4(u32),
    V6(u128),
}

/// The listeners compiled into the keys of the [rule set](crate#the-rule-set): exact
/// (family, address, port) and wildcard (family, port), the first listener that gives a key
/// keeping it, class `Other` left out. Exact keys are looked up first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ListenerTable {
    exact: Vec<(u16, Exact, Class)>,
    any_v4: Vec<(u16, Class)>,
    any_v6: Vec<(u16, Class)>,
}

impl ListenerTable {
    fn new(listeners: &[crate::Listener]) -> ListenerTable {
        fn add<K: PartialEq>(table: &mut Vec<(u16, K, Class)>, port: u16, key: K, class: Class) {
            if !table.iter().any(|(p, k, _)| *p == port && *k == key) {
                table.push((port, key, class));
            }
        }
        fn add_any(table: &mut Vec<(u16, Class)>, port: u16, class: Class) {
            if !table.iter().any(|&(p, _)| p == port) {
                table.push((port, class));
            }
        }
        let mut t = ListenerTable::default();
        for l in listeners.iter().filter(|l| l.class != Class::Other) {
            match l.addr {
                None => {
                    add_any(&mut t.any_v4, l.port, l.class);
                    add_any(&mut t.any_v6, l.port, l.class);
                }
                Some(IpAddr::V4(a)) if a.is_unspecified() => {
                    add_any(&mut t.any_v4, l.port, l.class)
                }
                Some(IpAddr::V6(a)) if a.is_unspecified() => {
                    add_any(&mut t.any_v6, l.port, l.class)
                }
                Some(IpAddr::V4(a)) => add(&mut t.exact, l.port, Exact::V4(a.to_bits()), l.class),
                Some(IpAddr::V6(a)) => add(&mut t.exact, l.port, Exact::V6(a.to_bits()), l.class),
            }
        }
        t
    }

    #[inline(always)]
    fn class_of(&self, dst: IpAddr, port: u16) -> Class {
        let (key, any) = match dst {
            IpAddr::V4(a) => (Exact::V4(a.to_bits()), &self.any_v4),
            IpAddr::V6(a) => (Exact::V6(a.to_bits()), &self.any_v6),
        };
        if let Some(&(_, _, class)) = self.exact.iter().find(|&&(p, k, _)| p == port && k == key) {
            return class;
        }
        any.iter()
            .find(|&&(p, _)| p == port)
            .map_or(Class::Other, |&(_, c)| c)
    }
}

/// Address prefixes as (network, mask) pairs per family, for any-match lookups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PrefixSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl PrefixSet {
    /// Prefixes longer than their family allows match nothing (see [`Rules::problems`]).
    fn new(prefixes: &[Prefix]) -> PrefixSet {
        let mut set = PrefixSet::default();
        for p in prefixes {
            match p.addr {
                IpAddr::V4(a) if p.len <= 32 => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(p.len)).unwrap_or(0);
                    set.v4.push((a.to_bits() & mask, mask));
                }
                IpAddr::V6(a) if p.len <= 128 => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(p.len)).unwrap_or(0);
                    set.v6.push((a.to_bits() & mask, mask));
                }
                _ => {}
            }
        }
        set
    }

    fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => {
                let a = a.to_bits();
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = a.to_bits();
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

/// The addresses the user-space stack owns (see [`Classifier::set_owned_addresses`]), per
/// family, without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OwnedSet {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

impl OwnedSet {
    fn new(addrs: &[IpAddr]) -> OwnedSet {
        let mut set = OwnedSet::default();
        for &a in addrs {
            match a {
                IpAddr::V4(a) if !set.v4.contains(&a) => set.v4.push(a),
                IpAddr::V6(a) if !set.v6.contains(&a) => set.v6.push(a),
                _ => {}
            }
        }
        set
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(&a),
            IpAddr::V6(a) => self.v6.contains(&a),
        }
    }

    /// Step 5 of the rule set: an ARP packet, ICMP message or ICMPv6 message for an owned
    /// address.
    fn wants(&self, frame: &[u8]) -> bool {
        match control_frame(frame) {
            Some(ControlFrame::Arp { target }) => self.v4.contains(&target),
            Some(ControlFrame::Icmpv4 { dst }) => self.v4.contains(&dst),
            Some(ControlFrame::Icmpv6 {
                dst,
                solicit_target,
            }) => self.v6.contains(&dst) || solicit_target.is_some_and(|t| self.v6.contains(&t)),
            None => false,
        }
    }

    fn addresses(&self) -> Vec<IpAddr> {
        let v4 = self.v4.iter().map(|&a| IpAddr::V4(a));
        v4.chain(self.v6.iter().map(|&a| IpAddr::V6(a))).collect()
    }
}

/// The user-space flow classifier: the same decisions as the XDP program.
///
/// Build it once from the [`Rules`] (per core: it holds the per-source SYN buckets and the
/// counters, and is not shared), then call [`classify`](Self::classify) for every received
/// frame with the current time.
///
/// It implements the [rule set](crate#the-rule-set), in its order:
///
/// 1. [`parse`]: a frame that is not a complete, well-formed TCP segment (ARP, UDP, ICMP,
///    fragments, truncated or malformed headers, ...) is [`Class::Other`] and
///    [`Action::Pass`], with the [`Slow`] reason in the verdict. Fragments are never
///    dropped: they go to the kernel, which reassembles them (so neither the MM4 ACL nor the
///    SYN limit applies to fragmented packets in the fast path).
/// 2. The class: the listener of the exact (address, port) of the destination, else the
///    wildcard of its family (`None`, `0.0.0.0` / `::`); among listeners that give the same
///    key, the first in [`Rules::listeners`]; listeners of class `Other` are ignored. An
///    IPv4-mapped IPv6 destination is not its IPv4 address. No listener: `Other`, `Pass`.
/// 3. The MM4 ACL: class `Mm4` and the source address in none of [`Rules::mm4_peers`] →
///    [`DropReason::NotPeer`]. An IPv4-mapped IPv6 address is an IPv6 address here.
/// 4. The SYN rate limit, after the ACL (a refused peer takes no slot in the table): a
///    connection request (SYN set, ACK clear) to any listener, when
///    [`Rules::syn_rate`] > 0, takes a token from its source address's bucket (see
///    [`crate::syn`]); none left → [`DropReason::SynRate`].
/// 5. The mode: [`Mode::Redirect`] redirects `Mm1` and `Mm4`, and the ARP, ICMP and ICMPv6
///    frames for an owned address ([`set_owned_addresses`](Self::set_owned_addresses));
///    everything else, and everything in [`Mode::Pass`], is passed.
///
/// Every frame is counted under its class (packets, and bytes = frame length), whatever the
/// action; drops per reason, slow-path frames per reason, redirects.
#[derive(Clone, Debug)]
pub struct Classifier {
    listeners: ListenerTable,
    peers: PrefixSet,
    syn: Option<SynTable>,
    mode: Mode,
    owned: OwnedSet,
    counters: Counters,
}

impl Classifier {
    /// A classifier for `rules`, with a SYN table of [`DEFAULT_SYN_SOURCES`] sources when
    /// `rules.syn_rate` > 0.
    ///
    /// Rules are taken as they are: check them first with [`Rules::problems`]. An MM4 peer
    /// prefix longer than its family allows matches nothing; a `syn_burst` of 0 with a
    /// non-zero `syn_rate` is a burst of 1.
    pub fn new(rules: &Rules) -> Classifier {
        Classifier::with_syn_table(rules, DEFAULT_SYN_SOURCES, DEFAULT_SYN_SEED)
    }

    /// Like [`new`](Self::new), with a SYN table for `sources` sources (rounded up to a power
    /// of two, see [`SynTable::new`]) and a hash `seed` (pass a random one in service).
    pub fn with_syn_table(rules: &Rules, sources: usize, seed: u64) -> Classifier {
        let listeners = ListenerTable::new(&rules.listeners);
        let syn = (rules.syn_rate > 0)
            .then(|| SynTable::new(sources, seed, rules.syn_rate, rules.syn_burst));
        Classifier {
            listeners,
            peers: PrefixSet::new(&rules.mm4_peers),
            syn,
            mode: rules.mode,
            owned: OwnedSet::default(),
            counters: Counters::default(),
        }
    }

    /// The addresses the user-space TCP/IP stack behind the AF_XDP socket owns (the `afxdp`
    /// backend's smoltcp), which the kernel does not have: in [`Mode::Redirect`], frames
    /// that are not TCP segments but ask the owner of one of them something go to the
    /// socket too, so that the stack can answer them — ARP packets whose target protocol
    /// address is owned, ICMP messages to an owned IPv4 address, ICMPv6 messages to an owned
    /// IPv6 address and Neighbor Solicitations whose target is owned (step 5 of the
    /// [rule set](crate#the-rule-set), read by [`control_frame`]). They stay class
    /// [`Class::Other`] with their [`Slow`] reason, and count in `redirected` and
    /// `redirected_owned`. Replaces the previous set; duplicates are ignored; an IPv4 and
    /// its IPv4-mapped IPv6 address are different addresses. Empty (the default): nothing
    /// but MM1 and MM4 is redirected. The XDP program's `XdpProgram::set_owned_addresses`
    /// takes the same list.
    pub fn set_owned_addresses(&mut self, addrs: &[IpAddr]) {
        self.owned = OwnedSet::new(addrs);
    }

    /// The owned addresses (see [`set_owned_addresses`](Self::set_owned_addresses)), IPv4
    /// first, in the order given.
    pub fn owned_addresses(&self) -> Vec<IpAddr> {
        self.owned.addresses()
    }

    /// Whether `addr` is an owned address.
    pub fn is_owned(&self, addr: IpAddr) -> bool {
        self.owned.contains(addr)
    }

    /// Classify one Ethernet frame (without FCS) received at `now_ns` (any monotonic clock
    /// in nanoseconds; only differences matter), and count it.
    #[inline]
    pub fn classify(&mut self, frame: &[u8], now_ns: u64) -> Verdict {
        let verdict = match parse(frame) {
            Ok(flow) => {
                let (class, action) = self.decide(&flow, now_ns);
                Verdict {
                    class,
                    action,
                    slow: None,
                }
            }
            Err(slow) => Verdict {
                class: Class::Other,
                action: if self.mode == Mode::Redirect
                    && matches!(slow, Slow::NotIp | Slow::NotTcp)
                    && !self.owned.is_empty()
                    && self.owned.wants(frame)
                {
                    Action::Redirect
                } else {
                    Action::Pass
                },
                slow: Some(slow),
            },
        };
        self.count(&verdict, frame.len());
        verdict
    }

    /// The class and action for an already parsed flow (steps 2 to 5 of the order above),
    /// without counting it. Updates the SYN buckets.
    pub fn decide(&mut self, flow: &Flow, now_ns: u64) -> (Class, Action) {
        let class = self.class_of(flow.dst, flow.dst_port);
        if class == Class::Other {
            return (class, Action::Pass);
        }
        if class == Class::Mm4 && !self.peers.contains(flow.src) {
            return (class, Action::Drop(DropReason::NotPeer));
        }
        if flow.flags.is_connection_request()
            && let Some(syn) = &mut self.syn
            && !syn.allow(flow.src, now_ns)
        {
            return (class, Action::Drop(DropReason::SynRate));
        }
        let redirect = self.mode == Mode::Redirect && matches!(class, Class::Mm1 | Class::Mm4);
        (
            class,
            if redirect {
                Action::Redirect
            } else {
                Action::Pass
            },
        )
    }

    /// The class of TCP traffic to `dst`:`port`: the listener of the exact address, else of
    /// the wildcard of its family, else `Other` (step 2 of the
    /// [rule set](crate#the-rule-set)).
    pub fn class_of(&self, dst: IpAddr, port: u16) -> Class {
        self.listeners.class_of(dst, port)
    }

    /// Whether `src` is an allowed MM4 peer.
    pub fn is_mm4_peer(&self, src: IpAddr) -> bool {
        self.peers.contains(src)
    }

    fn count(&mut self, v: &Verdict, len: usize) {
        let c = &mut self.counters;
        let class = v.class.index();
        bump(&mut c.packets, class, 1);
        bump(&mut c.bytes, class, len as u64);
        if let Some(slow) = v.slow {
            bump(&mut c.slow, slow.index(), 1);
        }
        match v.action {
            Action::Pass => {}
            Action::Drop(r) => bump(&mut c.drops, r.index(), 1),
            Action::Redirect => {
                c.redirected = c.redirected.wrapping_add(1);
                if v.slow.is_some() {
                    c.redirected_owned = c.redirected_owned.wrapping_add(1);
                }
            }
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.syn_evictions = self.syn.as_ref().map_or(0, SynTable::evictions);
        c
    }

    /// The SYN rate limit's table, when `syn_rate` > 0.
    pub fn syn_table(&self) -> Option<&SynTable> {
        self.syn.as_ref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_add_every_field() {
        let mut a = Counters::default();
        let mut b = Counters::default();
        b.packets[1] = 3;
        b.bytes[2] = 100;
        b.drops[0] = 2;
        b.slow[1] = 5;
        b.redirected = 7;
        b.redirected_owned = 1;
        b.syn_evictions = 4;
        a.packets[1] = u64::MAX;
        a.add(&b);
        a.add(&b);
        assert_eq!(a.packets[1], 5, "wraps");
        assert_eq!(
            (
                a.bytes[2],
                a.drops[0],
                a.slow[1],
                a.redirected,
                a.redirected_owned,
                a.syn_evictions
            ),
            (200, 4, 10, 14, 2, 8)
        );
    }

    use super::*;
    use crate::Listener;
    use crate::build::{FrameBuilder, L4, arp_request};
    use crate::headers::{ETH_P_8021AD, ETH_P_8021Q, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS};
    use crate::parse::TcpFlags;

    const SEC: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn listener(addr: Option<&str>, port: u16, class: Class) -> Listener {
        Listener {
            addr: addr.map(ip),
            port,
            class,
        }
    }

    fn prefix(s: &str) -> Prefix {
        let (a, l) = s.split_once('/').unwrap();
        Prefix {
            addr: ip(a),
            len: l.parse().unwrap(),
        }
    }

    /// MM1 on port 80 everywhere, MM7 on 10.0.0.1:8080 and 2001:db8::7:8080, MM4 on 25
    /// everywhere, MM3 on 10.0.0.3:25 (an exact address: it beats the wildcard before it).
    fn rules() -> Rules {
        Rules {
            listeners: vec![
                listener(None, 80, Class::Mm1),
                listener(Some("10.0.0.1"), 8080, Class::Mm7),
                listener(Some("2001:db8::7"), 8080, Class::Mm7),
                listener(None, 25, Class::Mm4),
                listener(Some("10.0.0.3"), 25, Class::Mm3),
            ],
            mm4_peers: vec![prefix("192.0.2.0/24"), prefix("2001:db8:4::/48")],
            syn_rate: 0,
            syn_burst: 0,
            mode: Mode::Pass,
        }
    }

    fn tcp(src: &str, dst: &str, port: u16, flags: TcpFlags) -> Vec<u8> {
        FrameBuilder::tcp(ip(src), 40000, ip(dst), port)
            .flags(flags)
            .build()
    }

    fn ack(src: &str, dst: &str, port: u16) -> Vec<u8> {
        tcp(src, dst, port, TcpFlags::ACK)
    }

    fn syn(src: &str, dst: &str, port: u16) -> Vec<u8> {
        tcp(src, dst, port, TcpFlags::SYN)
    }

    fn verdict(class: Class, action: Action) -> Verdict {
        Verdict {
            class,
            action,
            slow: None,
        }
    }

    #[test]
    fn wildcard_and_specific_listeners() {
        let mut c = Classifier::new(&rules());
        let pass = |class| verdict(class, Action::Pass);
        // Wildcard: any address, either family.
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 80), 0),
            pass(Class::Mm1)
        );
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.9.9.9", 80), 0),
            pass(Class::Mm1)
        );
        assert_eq!(
            c.classify(&ack("2001:db8::9", "2001:db8::1", 80), 0),
            pass(Class::Mm1)
        );
        // Specific: only that address.
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 8080), 0),
            pass(Class::Mm7)
        );
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.2", 8080), 0),
            pass(Class::Other)
        );
        assert_eq!(
            c.classify(&ack("2001:db8::9", "2001:db8::7", 8080), 0),
            pass(Class::Mm7)
        );
        assert_eq!(
            c.classify(&ack("2001:db8::9", "2001:db8::8", 8080), 0),
            pass(Class::Other)
        );
        // An IPv4-mapped address is not its IPv4 address.
        assert_eq!(
            c.classify(&ack("2001:db8::9", "::ffff:10.0.0.1", 8080), 0),
            pass(Class::Other)
        );
        // Other ports.
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 22), 0),
            pass(Class::Other)
        );
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 81), 0),
            pass(Class::Other)
        );
        // An exact address beats the wildcard listed before it, for its address only ...
        assert_eq!(
            c.classify(&ack("192.0.2.5", "10.0.0.3", 25), 0),
            pass(Class::Mm3)
        );
        assert_eq!(
            c.classify(&ack("192.0.2.5", "10.0.0.4", 25), 0),
            pass(Class::Mm4)
        );
        // ... and in the other order too.
        let mut r = rules();
        r.listeners.swap(3, 4);
        let mut c = Classifier::new(&r);
        assert_eq!(
            c.classify(&ack("192.0.2.5", "10.0.0.3", 25), 0),
            pass(Class::Mm3)
        );
        assert_eq!(
            c.classify(&ack("192.0.2.5", "10.0.0.4", 25), 0),
            pass(Class::Mm4)
        );
        // The unspecified address is the wildcard of its family.
        let r = Rules {
            listeners: vec![
                listener(Some("0.0.0.0"), 80, Class::Mm1),
                listener(Some("::"), 80, Class::Mm7),
            ],
            ..Rules::default()
        };
        let mut c = Classifier::new(&r);
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.1.2.3", 80), 0),
            pass(Class::Mm1)
        );
        assert_eq!(
            c.classify(&ack("2001:db8::9", "2001:db8::3", 80), 0),
            pass(Class::Mm7)
        );
        let r = Rules {
            listeners: vec![listener(Some("::"), 80, Class::Mm7)],
            ..Rules::default()
        };
        let mut c = Classifier::new(&r);
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.1.2.3", 80), 0),
            pass(Class::Other)
        );
        // The source port does not matter.
        let f = FrameBuilder::tcp(ip("203.0.113.9"), 80, ip("10.0.0.1"), 9999).build();
        assert_eq!(c.classify(&f, 0), pass(Class::Other));
    }

    #[test]
    fn listener_precedence_exact_then_wildcard_then_first() {
        let c = |listeners: Vec<Listener>| {
            Classifier::new(&Rules {
                listeners,
                ..Rules::default()
            })
        };
        // Duplicates: the first wins, for exact keys and for wildcards alike.
        let k = c(vec![
            listener(Some("10.0.0.1"), 80, Class::Mm7),
            listener(Some("10.0.0.1"), 80, Class::Mm3),
            listener(Some("0.0.0.0"), 80, Class::Mm1),
            listener(None, 80, Class::Mm4),
        ]);
        assert_eq!(k.class_of(ip("10.0.0.1"), 80), Class::Mm7);
        assert_eq!(k.class_of(ip("10.0.0.2"), 80), Class::Mm1);
        // `None` gave the IPv6 wildcard: 0.0.0.0 only took the IPv4 one.
        assert_eq!(k.class_of(ip("2001:db8::1"), 80), Class::Mm4);
        // The exact address wins from after both wildcards.
        let k = c(vec![
            listener(None, 80, Class::Mm1),
            listener(Some("::"), 80, Class::Mm4),
            listener(Some("2001:db8::1"), 80, Class::Mm7),
        ]);
        assert_eq!(k.class_of(ip("2001:db8::1"), 80), Class::Mm7);
        assert_eq!(k.class_of(ip("2001:db8::2"), 80), Class::Mm1);
        assert_eq!(k.class_of(ip("10.0.0.1"), 80), Class::Mm1);
        // Class Other listeners are ignored: they take no key from a later listener.
        let k = c(vec![
            listener(Some("10.0.0.1"), 22, Class::Other),
            listener(None, 22, Class::Other),
            listener(Some("10.0.0.1"), 22, Class::Mm3),
            listener(None, 22, Class::Mm7),
        ]);
        assert_eq!(k.class_of(ip("10.0.0.1"), 22), Class::Mm3);
        assert_eq!(k.class_of(ip("10.0.0.2"), 22), Class::Mm7);
        assert_eq!(k.class_of(ip("2001:db8::2"), 22), Class::Mm7);
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv6() {
        let mut r = Rules {
            listeners: vec![
                listener(Some("10.0.0.1"), 443, Class::Mm7),
                listener(Some("::ffff:10.0.0.1"), 443, Class::Mm1),
                listener(Some("0.0.0.0"), 25, Class::Mm4),
            ],
            mm4_peers: vec![prefix("192.0.2.0/24"), prefix("::ffff:198.51.100.0/120")],
            syn_rate: 1,
            syn_burst: 1,
            mode: Mode::Pass,
        };
        let mut c = Classifier::new(&r);
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 443), 0).class,
            Class::Mm7
        );
        assert_eq!(
            c.classify(&ack("2001:db8::9", "::ffff:10.0.0.1", 443), 0)
                .class,
            Class::Mm1
        );
        // The IPv4 wildcard does not cover a mapped destination.
        assert_eq!(
            c.classify(&ack("::ffff:192.0.2.1", "::ffff:10.0.0.1", 25), 0)
                .class,
            Class::Other
        );
        // A mapped source is checked against the IPv6 prefixes.
        assert!(c.is_mm4_peer(ip("192.0.2.1")));
        assert!(!c.is_mm4_peer(ip("::ffff:192.0.2.1")));
        assert!(c.is_mm4_peer(ip("::ffff:198.51.100.7")));
        assert!(!c.is_mm4_peer(ip("198.51.100.7")));
        // 10.0.0.1 and ::ffff:10.0.0.1 have a SYN bucket each.
        r.listeners.push(listener(None, 80, Class::Mm1));
        let mut c = Classifier::new(&r);
        for src in ["203.0.113.9", "::ffff:203.0.113.9"] {
            let dst = if src.contains(':') {
                "2001:db8::1"
            } else {
                "10.0.0.1"
            };
            assert_eq!(c.classify(&syn(src, dst, 80), 0).action, Action::Pass);
            assert_eq!(
                c.classify(&syn(src, dst, 80), 0).action,
                Action::Drop(DropReason::SynRate)
            );
        }
        assert_eq!(c.syn_table().map(SynTable::len), Some(2));
    }

    #[test]
    fn counter_totals() {
        let mut c = Classifier::new(&rules());
        let frag = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
            .fragment(0, true)
            .build();
        let three_tags = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
            .vlan(ETH_P_8021Q, 1)
            .vlan(ETH_P_8021Q, 2)
            .vlan(ETH_P_8021Q, 3)
            .build();
        let ok = ack("203.0.113.9", "10.0.0.1", 80);
        for f in [&frag, &three_tags, &ok[..20], &ok[..40], &ok] {
            c.classify(f, 0);
        }
        c.classify(&ack("198.51.100.1", "10.0.0.1", 25), 0);
        let arp = arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 1]);
        c.classify(&arp, 0);
        let k = c.counters();
        assert_eq!(k.slow_path(), 2);
        assert_eq!(k.malformed(), 2);
        assert_eq!(k.slow[Slow::NotIp.index()], 1);
        assert_eq!(k.dropped(), 1);
        assert_eq!(k.total_packets(), 7);
    }

    #[test]
    fn no_listeners_everything_is_other() {
        let mut c = Classifier::new(&Rules::default());
        let v = c.classify(&syn("203.0.113.9", "10.0.0.1", 80), 0);
        assert_eq!(v, verdict(Class::Other, Action::Pass));
    }

    #[test]
    fn mm4_acl_v4() {
        let mut c = Classifier::new(&rules());
        assert_eq!(
            c.classify(&ack("192.0.2.200", "10.0.0.1", 25), 0).action,
            Action::Pass
        );
        assert_eq!(
            c.classify(&ack("192.0.3.1", "10.0.0.1", 25), 0).action,
            Action::Drop(DropReason::NotPeer)
        );
        // A dropped packet keeps its class.
        assert_eq!(
            c.classify(&ack("192.0.3.1", "10.0.0.1", 25), 0).class,
            Class::Mm4
        );
        // v6 prefixes do not admit v4 sources, nor v4 prefixes an IPv4-mapped source.
        assert_eq!(
            c.classify(&ack("::ffff:192.0.2.1", "2001:db8::1", 25), 0)
                .action,
            Action::Drop(DropReason::NotPeer)
        );
        // The ACL is only for MM4.
        assert_eq!(
            c.classify(&ack("192.0.3.1", "10.0.0.1", 80), 0).action,
            Action::Pass
        );
        let counters = c.counters();
        assert_eq!(counters.drops[DropReason::NotPeer.index()], 3);
        assert_eq!(counters.packets[Class::Mm4.index()], 4);
    }

    #[test]
    fn mm4_acl_v6() {
        let mut c = Classifier::new(&rules());
        for (src, ok) in [
            ("2001:db8:4::1", true),
            ("2001:db8:4:ffff:ffff:ffff:ffff:ffff", true),
            ("2001:db8:5::1", false),
            ("2001:db8::1", false),
        ] {
            let v = c.classify(&ack(src, "2001:db8::1", 25), 0);
            let want = if ok {
                Action::Pass
            } else {
                Action::Drop(DropReason::NotPeer)
            };
            assert_eq!(v.action, want, "{src}");
        }
    }

    #[test]
    fn mm4_acl_edges() {
        let check = |peers: &[&str], src: &str, dst: &str, ok: bool| {
            let mut r = rules();
            r.mm4_peers = peers.iter().map(|p| prefix(p)).collect();
            let mut c = Classifier::new(&r);
            let want = if ok {
                Action::Pass
            } else {
                Action::Drop(DropReason::NotPeer)
            };
            assert_eq!(
                c.classify(&ack(src, dst, 25), 0).action,
                want,
                "{peers:?} {src}"
            );
            assert_eq!(c.is_mm4_peer(ip(src)), ok);
        };
        // Empty list: nobody.
        check(&[], "192.0.2.1", "10.0.0.1", false);
        check(&[], "2001:db8::1", "2001:db8::2", false);
        // /0: everybody of that family only.
        check(&["0.0.0.0/0"], "203.0.113.1", "10.0.0.1", true);
        check(&["0.0.0.0/0"], "2001:db8::1", "2001:db8::2", false);
        check(&["::/0"], "2001:db8::1", "2001:db8::2", true);
        check(&["::/0"], "203.0.113.1", "10.0.0.1", false);
        // Host bits of the network address are ignored.
        check(&["192.0.2.77/24"], "192.0.2.1", "10.0.0.1", true);
        // /32 and /128: exactly one host.
        check(&["192.0.2.1/32"], "192.0.2.1", "10.0.0.1", true);
        check(&["192.0.2.1/32"], "192.0.2.2", "10.0.0.1", false);
        check(&["2001:db8::1/128"], "2001:db8::1", "2001:db8::9", true);
        check(&["2001:db8::1/128"], "2001:db8::2", "2001:db8::9", false);
        // Odd lengths.
        check(&["192.0.2.128/25"], "192.0.2.129", "10.0.0.1", true);
        check(&["192.0.2.128/25"], "192.0.2.127", "10.0.0.1", false);
        check(&["2001:db8::/33"], "2001:db8:7fff::1", "2001:db8::9", true);
        check(&["2001:db8::/33"], "2001:db8:8000::1", "2001:db8::9", false);
        // Any of several.
        check(
            &["10.1.0.0/16", "192.0.2.1/32"],
            "192.0.2.1",
            "10.0.0.1",
            true,
        );
        // Too long for the family: matches nothing.
        check(&["192.0.2.1/33"], "192.0.2.1", "10.0.0.1", false);
        check(&["2001:db8::1/129"], "2001:db8::1", "2001:db8::9", false);
    }

    #[test]
    fn syn_token_bucket_burst_then_refill() {
        let mut r = rules();
        r.syn_rate = 2;
        r.syn_burst = 3;
        let mut c = Classifier::new(&r);
        let s = syn("203.0.113.9", "10.0.0.1", 80);
        let t0 = 5 * SEC;
        for _ in 0..3 {
            assert_eq!(c.classify(&s, t0).action, Action::Pass);
        }
        assert_eq!(c.classify(&s, t0).action, Action::Drop(DropReason::SynRate));
        // Only connection requests are limited: ACKs, SYN-ACKs pass.
        assert_eq!(
            c.classify(&ack("203.0.113.9", "10.0.0.1", 80), t0).action,
            Action::Pass
        );
        let synack = tcp("203.0.113.9", "10.0.0.1", 80, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(c.classify(&synack, t0).action, Action::Pass);
        // Another source has its own bucket.
        assert_eq!(
            c.classify(&syn("203.0.113.10", "10.0.0.1", 80), t0).action,
            Action::Pass
        );
        // SYNs to other ports are not limited.
        for _ in 0..10 {
            assert_eq!(
                c.classify(&syn("203.0.113.9", "10.0.0.1", 22), t0).action,
                Action::Pass
            );
        }
        // 2/s: one token after 500 ms, not before.
        assert_eq!(
            c.classify(&s, t0 + SEC / 2 - 1).action,
            Action::Drop(DropReason::SynRate)
        );
        assert_eq!(c.classify(&s, t0 + SEC / 2).action, Action::Pass);
        assert_eq!(
            c.classify(&s, t0 + SEC / 2).action,
            Action::Drop(DropReason::SynRate)
        );
        // After a long pause, the burst again and no more.
        let t1 = t0 + 60 * SEC;
        for _ in 0..3 {
            assert_eq!(c.classify(&s, t1).action, Action::Pass);
        }
        assert_eq!(c.classify(&s, t1).action, Action::Drop(DropReason::SynRate));
        let counters = c.counters();
        assert_eq!(counters.drops[DropReason::SynRate.index()], 4);
        assert_eq!(c.syn_table().map(SynTable::len), Some(2));
    }

    #[test]
    fn syn_rate_zero_is_no_limit() {
        let mut c = Classifier::new(&rules());
        assert!(c.syn_table().is_none());
        let s = syn("203.0.113.9", "10.0.0.1", 80);
        for _ in 0..10_000 {
            assert_eq!(c.classify(&s, 0).action, Action::Pass);
        }
    }

    #[test]
    fn acl_comes_before_the_rate_limit() {
        let mut r = rules();
        r.syn_rate = 1;
        r.syn_burst = 1;
        let mut c = Classifier::new(&r);
        // A refused peer is dropped as such, and takes no slot.
        for _ in 0..3 {
            assert_eq!(
                c.classify(&syn("198.51.100.1", "10.0.0.1", 25), 0).action,
                Action::Drop(DropReason::NotPeer)
            );
        }
        assert_eq!(c.syn_table().map(SynTable::len), Some(0));
        // An allowed peer is rate limited.
        let s = syn("192.0.2.1", "10.0.0.1", 25);
        assert_eq!(c.classify(&s, 0).action, Action::Pass);
        assert_eq!(c.classify(&s, 0).action, Action::Drop(DropReason::SynRate));
    }

    #[test]
    fn redirect_versus_pass_mode() {
        let frames = [
            (ack("203.0.113.9", "10.0.0.1", 80), Class::Mm1),
            (ack("192.0.2.1", "10.0.0.1", 25), Class::Mm4),
            (ack("203.0.113.9", "10.0.0.1", 8080), Class::Mm7),
            (ack("203.0.113.9", "10.0.0.1", 22), Class::Other),
        ];
        let mut r = rules();
        r.listeners.swap(3, 4); // so that 10.0.0.3:25 is MM3
        let mm3 = (ack("192.0.2.1", "10.0.0.3", 25), Class::Mm3);
        for mode in [Mode::Pass, Mode::Redirect] {
            r.mode = mode;
            let mut c = Classifier::new(&r);
            for (f, class) in frames.iter().chain([&mm3]) {
                let v = c.classify(f, 0);
                let redirected = mode == Mode::Redirect && matches!(class, Class::Mm1 | Class::Mm4);
                let want = if redirected {
                    Action::Redirect
                } else {
                    Action::Pass
                };
                assert_eq!(v, verdict(*class, want), "{mode:?} {class:?}");
            }
            let want = if mode == Mode::Redirect { 2 } else { 0 };
            assert_eq!(c.counters().redirected, want);
            // Drops are not redirected, nor slow-path frames.
            assert_eq!(
                c.classify(&ack("198.51.100.1", "10.0.0.1", 25), 0).action,
                Action::Drop(DropReason::NotPeer)
            );
            let frag = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
                .fragment(0, true)
                .build();
            assert_eq!(
                c.classify(&frag, 0),
                Verdict {
                    class: Class::Other,
                    action: Action::Pass,
                    slow: Some(Slow::Fragment)
                }
            );
        }
    }

    #[test]
    fn fragments_are_never_dropped() {
        let mut r = rules();
        r.syn_rate = 1;
        r.syn_burst = 1;
        let mut c = Classifier::new(&r);
        let v4 = |offset, more| {
            FrameBuilder::tcp(ip("198.51.100.1"), 1, ip("10.0.0.1"), 25)
                .flags(TcpFlags::SYN)
                .payload_len(64)
                .fragment(offset, more)
                .build()
        };
        let v6 = FrameBuilder::tcp(ip("2001:db8:99::1"), 1, ip("2001:db8::1"), 25)
            .flags(TcpFlags::SYN)
            .ipv6_ext(IPPROTO_HOPOPTS, 0)
            .fragment(0, true)
            .build();
        for f in [v4(0, true), v4(8, true), v4(8, false), v6] {
            for _ in 0..3 {
                let v = c.classify(&f, 0);
                assert_eq!(v.action, Action::Pass);
                assert_eq!(v.class, Class::Other);
                assert_eq!(v.slow, Some(Slow::Fragment));
            }
        }
        let counters = c.counters();
        assert_eq!(counters.slow[Slow::Fragment.index()], 12);
        assert_eq!(counters.drops, [0, 0]);
    }

    #[test]
    fn other_traffic_with_its_reason() {
        let mut c = Classifier::new(&rules());
        let arp = arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 1]);
        let udp = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
            .l4(L4::Udp {
                src_port: 1,
                dst_port: 80,
            })
            .build();
        let icmp = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
            .l4(L4::Icmp)
            .build();
        for (f, slow) in [
            (&arp, Slow::NotIp),
            (&udp, Slow::NotTcp),
            (&icmp, Slow::NotTcp),
            (&vec![0u8; 10], Slow::Truncated),
        ] {
            let v = c.classify(f, 0);
            assert_eq!(
                v,
                Verdict {
                    class: Class::Other,
                    action: Action::Pass,
                    slow: Some(slow)
                }
            );
        }
        let counters = c.counters();
        assert_eq!(counters.slow[Slow::NotIp.index()], 1);
        assert_eq!(counters.slow[Slow::NotTcp.index()], 2);
        assert_eq!(counters.slow[Slow::Truncated.index()], 1);
        assert_eq!(counters.packets[Class::Other.index()], 4);
        let bytes = (arp.len() + udp.len() + icmp.len() + 10) as u64;
        assert_eq!(counters.bytes[Class::Other.index()], bytes);
    }

    #[test]
    fn vlan_ipv6_extension_headers_and_options_classify() {
        let mut c = Classifier::new(&rules());
        let f = FrameBuilder::tcp(ip("2001:db8:4::1"), 1, ip("2001:db8::7"), 25)
            .vlan(ETH_P_8021AD, 100)
            .vlan(ETH_P_8021Q, 200)
            .ipv6_ext(IPPROTO_HOPOPTS, 0)
            .ipv6_ext(IPPROTO_DSTOPTS, 3)
            .tcp_options(&[1, 1, 1, 1])
            .payload_len(1000)
            .build();
        assert_eq!(c.classify(&f, 0), verdict(Class::Mm4, Action::Pass));
        let f = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 8080)
            .vlan(ETH_P_8021Q, 5)
            .ipv4_options(&[0x94, 4, 0, 0])
            .pad_to(200)
            .build();
        assert_eq!(c.classify(&f, 0), verdict(Class::Mm7, Action::Pass));
    }

    #[test]
    fn truncated_listener_frames_are_never_a_listener_class() {
        let mut r = rules();
        r.mode = Mode::Redirect;
        r.syn_rate = 1;
        r.syn_burst = 1_000_000;
        let frames = [
            FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
                .flags(TcpFlags::SYN)
                .ipv4_options(&[1; 4])
                .vlan(ETH_P_8021Q, 3),
            FrameBuilder::tcp(ip("2001:db8:4::1"), 1, ip("2001:db8::1"), 25)
                .ipv6_ext(IPPROTO_HOPOPTS, 0)
                .ipv6_ext(IPPROTO_DSTOPTS, 1)
                .payload_len(30),
        ];
        for b in &frames {
            let f = b.build();
            let mut c = Classifier::new(&r);
            let full = c.classify(&f, 0);
            assert_ne!(full.class, Class::Other);
            // No padding: every shorter frame cuts the IP packet short.
            assert_eq!(b.layout().ip_end, f.len());
            for cut in 0..f.len() {
                let v = c.classify(&f[..cut], 0);
                assert_eq!(v.class, Class::Other, "cut {cut}");
                assert_eq!(v.action, Action::Pass);
                assert_eq!(v.slow, Some(Slow::Truncated));
            }
        }
    }

    #[test]
    fn counters_by_class_and_bytes() {
        let mut c = Classifier::new(&rules());
        let a = ack("203.0.113.9", "10.0.0.1", 80);
        let big = FrameBuilder::tcp(ip("203.0.113.9"), 1, ip("10.0.0.1"), 80)
            .payload_len(1446)
            .build();
        assert_eq!(big.len(), 1500);
        c.classify(&a, 0);
        c.classify(&big, 0);
        c.classify(&ack("192.0.2.1", "10.0.0.1", 25), 0);
        let counters = c.counters();
        assert_eq!(counters.packets, [0, 2, 1, 0, 0]);
        assert_eq!(counters.bytes[Class::Mm1.index()], (a.len() + 1500) as u64);
        assert_eq!(counters.total_packets(), 3);
        assert_eq!(counters.slow, [0; Slow::COUNT]);
    }

    #[test]
    fn syn_evictions_are_counted() {
        let mut r = rules();
        r.syn_rate = 1;
        r.syn_burst = 1;
        let mut c = Classifier::with_syn_table(&r, 4, 99);
        for i in 0..20u8 {
            let src = format!("203.0.113.{i}");
            assert_eq!(
                c.classify(&syn(&src, "10.0.0.1", 80), 0).action,
                Action::Pass
            );
        }
        assert_eq!(c.counters().syn_evictions, 16);
        assert_eq!(c.syn_table().map(SynTable::capacity), Some(4));
    }

    #[test]
    fn drop_reasons_have_distinct_indices_in_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(r.to_string(), r.name());
        }
        assert_eq!(DropReason::ALL.len(), DropReason::COUNT);
    }

    #[test]
    fn owned_addresses_get_arp_icmp_and_neighbour_discovery_in_redirect_mode() {
        use crate::build::{arp_reply, neighbor_solicitation};
        let v6 = |s: &str| -> std::net::Ipv6Addr { s.parse().unwrap() };
        let echo = |dst: &str| {
            FrameBuilder::tcp(ip("192.0.2.1"), 0, ip(dst), 0)
                .l4(L4::Icmp)
                .build()
        };
        let echo6 = |dst: &str| {
            FrameBuilder::tcp(ip("2001:db8::9"), 0, ip(dst), 0)
                .l4(L4::Icmp)
                .build()
        };
        let udp = FrameBuilder::tcp(ip("192.0.2.1"), 0, ip("10.0.0.2"), 0)
            .l4(L4::Udp {
                src_port: 1,
                dst_port: 2,
            })
            .build();
        let frag = FrameBuilder::tcp(ip("192.0.2.1"), 0, ip("10.0.0.2"), 0)
            .l4(L4::Icmp)
            .fragment(8, false)
            .build();
        // (frame, slow reason, for an owned address)
        let cases: Vec<(Vec<u8>, Slow, bool)> = vec![
            (
                arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 2]),
                Slow::NotIp,
                true,
            ),
            (
                arp_reply([2; 6], [10, 0, 0, 9], [4; 6], [10, 0, 0, 2]),
                Slow::NotIp,
                true,
            ),
            (
                arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 2], [10, 0, 0, 3]),
                Slow::NotIp,
                false,
            ),
            (echo("10.0.0.2"), Slow::NotTcp, true),
            (echo("10.0.0.3"), Slow::NotTcp, false),
            (udp, Slow::NotTcp, false),
            (frag, Slow::Fragment, false),
            (echo6("2001:db8::2"), Slow::NotTcp, true),
            (echo6("2001:db8::3"), Slow::NotTcp, false),
            // IPv4-mapped is IPv6: 10.0.0.2 is owned, ::ffff:10.0.0.2 is not
            (echo6("::ffff:10.0.0.2"), Slow::NotTcp, false),
            (
                neighbor_solicitation(v6("fe80::9"), v6("2001:db8::2")),
                Slow::NotTcp,
                true,
            ),
            (
                neighbor_solicitation(v6("fe80::9"), v6("2001:db8::3")),
                Slow::NotTcp,
                false,
            ),
        ];
        let owned = [ip("10.0.0.2"), ip("2001:db8::2"), ip("10.0.0.2")];
        for mode in [Mode::Pass, Mode::Redirect] {
            let mut r = rules();
            r.mode = mode;
            let mut c = Classifier::new(&r);
            c.set_owned_addresses(&owned);
            assert_eq!(c.owned_addresses(), vec![ip("10.0.0.2"), ip("2001:db8::2")]);
            assert!(c.is_owned(ip("10.0.0.2")) && !c.is_owned(ip("::ffff:10.0.0.2")));
            let mut redirected = 0;
            for (i, (frame, slow, owned)) in cases.iter().enumerate() {
                let redirect = *owned && mode == Mode::Redirect;
                let want = Verdict {
                    class: Class::Other,
                    action: if redirect {
                        Action::Redirect
                    } else {
                        Action::Pass
                    },
                    slow: Some(*slow),
                };
                assert_eq!(c.classify(frame, 0), want, "case {i} in {mode:?}");
                redirected += u64::from(redirect);
            }
            // MM1 is still redirected by its listener, and counted apart.
            let mm1 = c.classify(&ack("192.0.2.1", "10.0.0.2", 80), 0);
            assert_eq!(mm1.class, Class::Mm1);
            let counters = c.counters();
            assert_eq!(counters.redirected_owned, redirected);
            let mm1_redirected = u64::from(mode == Mode::Redirect);
            assert_eq!(counters.redirected, redirected + mm1_redirected);
            assert_eq!(counters.slow[Slow::NotIp.index()], 3);
            assert_eq!(counters.packets[Class::Other.index()], cases.len() as u64);
        }
        // Without owned addresses nothing but MM1/MM4 is redirected; the set is replaced.
        let mut r = rules();
        r.mode = Mode::Redirect;
        let mut c = Classifier::new(&r);
        assert!(c.owned_addresses().is_empty());
        assert_eq!(c.classify(&echo("10.0.0.2"), 0).action, Action::Pass);
        c.set_owned_addresses(&[ip("10.0.0.2")]);
        assert_eq!(c.classify(&echo("10.0.0.2"), 0).action, Action::Redirect);
        c.set_owned_addresses(&[]);
        assert_eq!(c.classify(&echo("10.0.0.2"), 0).action, Action::Pass);
        assert_eq!(c.counters().redirected_owned, 1);
    }
}
