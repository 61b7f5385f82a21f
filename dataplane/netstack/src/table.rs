//! A core's TCP sockets, laid out so that a segment costs the same with ten connections or
//! ten thousand.
//!
//! smoltcp finds a segment's socket by asking every socket of the set it is given whether it
//! takes the segment, and sends (egress) and computes its next timer by visiting every socket
//! of the set. With every connection in one set, each segment and each round cost a pass over
//! all of them. Here the listening pool has a set of its own, and each connection's socket is
//! alone in a set, found from the segment's 4-tuple with one hash look-up ([`Table::route`]).
//! A round sends and re-arms the timer of the sockets it touched only; the sockets' timers
//! (retransmission, delayed ACK, handshake timeout, ...) wait in a heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use mmsc_classify::parse;
use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, RxToken, TxToken};
use smoltcp::socket::{AnySocket, Socket, tcp};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpEndpoint};

/// A connection's socket in the table.
pub(crate) type SockId = u32;

/// Most egress passes for one socket in one round (each sends at most one segment).
pub(crate) const EGRESS_PASSES: usize = 1024;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IP_PROTO_ICMPV6: u8 = 58;

/// A connection's endpoints, as the segments it receives carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Tuple {
    local: IpEndpoint,
    remote: IpEndpoint,
}

/// Where a received frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// A segment of a connection the table has.
    Conn(SockId),
    /// A TCP segment of no known connection: to the listening pool (a SYN takes a listener;
    /// anything else is answered with RST by smoltcp).
    Listen {
        /// A SYN without ACK or RST: a connection attempt.
        syn: bool,
    },
    /// ARP or ICMPv6 neighbour discovery: what it teaches may let any socket send.
    Neighbor,
    /// Anything else (ICMP echo, a frame the classifier dropped, not IP, ...).
    Other,
}

struct Entry {
    /// Holds the socket alone while the entry is in use; empty (its storage kept) when free.
    set: SocketSet<'static>,
    handle: Option<SocketHandle>,
    tuple: Option<Tuple>,
    /// The connection served on it, if any (a slot of the stack's connections).
    conn: Option<u32>,
    touched: bool,
    /// Sequence of the socket's live timer in the heap (entries with another are stale).
    timer_seq: u32,
    /// When the live timer fires.
    timer_at: Option<Instant>,
}

/// The listening pool and the connections' sockets of one core.
pub(crate) struct Table {
    /// The listening pool: sockets in LISTEN only (one that takes a SYN is moved out at once).
    pub(crate) listen: SocketSet<'static>,
    entries: Vec<Entry>,
    free: Vec<SockId>,
    by_tuple: HashMap<Tuple, SockId, foldhash::fast::RandomState>,
    /// Sockets to send from and re-arm at the end of the round.
    touched: Vec<SockId>,
    /// Sockets' timers: (when, socket, sequence).
    timers: BinaryHeap<Reverse<(i64, SockId, u32)>>,
}

impl Table {
    pub(crate) fn new() -> Table {
        Table {
            listen: SocketSet::new(Vec::new()),
            entries: Vec::new(),
            free: Vec::new(),
            by_tuple: HashMap::default(),
            touched: Vec::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Where `frame` goes.
    pub(crate) fn route(&self, frame: &[u8]) -> Route {
        match parse(frame) {
            Ok(flow) => {
                let key = Tuple {
                    local: IpEndpoint::new(IpAddress::from(flow.dst), flow.dst_port),
                    remote: IpEndpoint::new(IpAddress::from(flow.src), flow.src_port),
                };
                match self.by_tuple.get(&key) {
                    Some(&id) => Route::Conn(id),
                    None => Route::Listen {
                        syn: flow.flags.syn() && !flow.flags.ack() && !flow.flags.rst(),
                    },
                }
            }
            Err(_) => {
                let ethertype = frame
                    .get(12..14)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                let next_header = frame.get(20).copied();
                // Neighbour discovery: router solicitation / advertisement, neighbour
                // solicitation / advertisement, redirect (ICMPv6 types 133-137) right after
                // the IPv6 header, as RFC 4861 sends them. Echo and the rest teach nothing.
                let icmpv6_type = frame.get(54).copied().unwrap_or(0);
                if ethertype == ETHERTYPE_ARP
                    || (ethertype == ETHERTYPE_IPV6
                        && next_header == Some(IP_PROTO_ICMPV6)
                        && (133..=137).contains(&icmpv6_type))
                {
                    Route::Neighbor
                } else {
                    Route::Other
                }
            }
        }
    }

    /// The set a frame on `route` is given to.
    pub(crate) fn set_for(&mut self, route: Route) -> &mut SocketSet<'static> {
        if let Route::Conn(id) = route
            && let Some(e) = self.entries.get_mut(id as usize)
            && e.handle.is_some()
        {
            return &mut e.set;
        }
        &mut self.listen
    }

    /// Take `socket` in, alone in its set, under its 4-tuple (a socket with none, closed,
    /// is taken in too: it is found by its id only). Its id; it is touched.
    pub(crate) fn insert(&mut self, socket: tcp::Socket<'static>) -> SockId {
        let tuple = match (socket.local_endpoint(), socket.remote_endpoint()) {
            (Some(local), Some(remote)) => Some(Tuple { local, remote }),
            _ => None,
        };
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.entries.push(Entry {
                    set: SocketSet::new(Vec::with_capacity(1)),
                    handle: None,
                    tuple: None,
                    conn: None,
                    touched: false,
                    timer_seq: 0,
                    timer_at: None,
                });
                (self.entries.len() - 1) as SockId
            }
        };
        if let Some(e) = self.entries.get_mut(id as usize) {
            e.handle = Some(e.set.add(socket));
            e.tuple = tuple;
            e.conn = None;
            e.touched = false;
            e.timer_at = None;
        }
        if let Some(t) = tuple {
            self.by_tuple.insert(t, id);
        }
        self.touch(id);
        id
    }

    /// Move the listener `handle` (which has just taken a SYN) out of the pool into a set of
    /// its own.
    pub(crate) fn adopt(&mut self, handle: SocketHandle) -> Option<SockId> {
        match self.listen.remove(handle) {
            Socket::Tcp(s) => Some(self.insert(s)),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Take the socket `id` out (the id is free after); `None` for an id not in use.
    pub(crate) fn take(&mut self, id: SockId) -> Option<tcp::Socket<'static>> {
        let e = self.entries.get_mut(id as usize)?;
        let h = e.handle.take()?;
        if let Some(t) = e.tuple.take()
            && self.by_tuple.get(&t) == Some(&id)
        {
            self.by_tuple.remove(&t);
        }
        e.conn = None;
        // Its timers in the heap are stale from now.
        e.timer_seq = e.timer_seq.wrapping_add(1);
        e.timer_at = None;
        self.free.push(id);
        match e.set.remove(h) {
            Socket::Tcp(s) => Some(s),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The socket `id`. Panics on an id not in use: the stack keeps only ids it holds.
    pub(crate) fn sock(&mut self, id: SockId) -> &mut tcp::Socket<'static> {
        let e = &mut self.entries[id as usize];
        let h = e.handle.expect("a socket id in use");
        e.set.get_mut::<tcp::Socket<'static>>(h)
    }

    /// Record the connection slot served on socket `id`.
    pub(crate) fn set_conn(&mut self, id: SockId, conn: Option<u32>) {
        if let Some(e) = self.entries.get_mut(id as usize) {
            e.conn = conn;
        }
    }

    /// Send from socket `id` and re-arm its timer at the end of the round.
    pub(crate) fn touch(&mut self, id: SockId) {
        if let Some(e) = self.entries.get_mut(id as usize)
            && e.handle.is_some()
            && !e.touched
        {
            e.touched = true;
            self.touched.push(id);
        }
    }

    /// Touch every socket (a neighbour became known: any socket waiting for it may send).
    pub(crate) fn touch_all(&mut self) {
        for id in 0..self.entries.len() {
            self.touch(id as SockId);
        }
    }

    /// The connection slots of the sockets touched so far in this round, into `out`.
    pub(crate) fn touched_conns(&self, out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            self.touched
                .iter()
                .filter_map(|&id| self.entries.get(id as usize).and_then(|e| e.conn)),
        );
    }

    /// Touch the sockets whose timer is due at `now`.
    pub(crate) fn fire_timers(&mut self, now: Instant) {
        let now = now.total_micros();
        while let Some(&Reverse((at, id, seq))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(e) = self.entries.get_mut(id as usize)
                && e.timer_seq == seq
                && e.handle.is_some()
            {
                e.timer_at = None;
                self.touch(id);
            }
        }
    }

    /// When the earliest timer fires (perhaps a stale one: waking early is harmless).
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers
            .peek()
            .map(|&Reverse((at, _, _))| Instant::from_micros(at))
    }

    /// Whether a round has sockets to send from.
    pub(crate) fn has_touched(&self) -> bool {
        !self.touched.is_empty()
    }

    /// Send what the touched sockets have to send, and re-arm their timers; true when
    /// anything was sent.
    pub(crate) fn egress<D: Device>(
        &mut self,
        iface: &mut Interface,
        device: &mut D,
        now: Instant,
    ) -> bool {
        let mut sent = false;
        let mut touched = std::mem::take(&mut self.touched);
        for &id in &touched {
            let Some(e) = self.entries.get_mut(id as usize) else {
                continue;
            };
            e.touched = false;
            if e.handle.is_none() {
                continue;
            }
            for _ in 0..EGRESS_PASSES {
                if iface.poll_egress(now, device, &mut e.set) == PollResult::None {
                    break;
                }
                sent = true;
            }
            if let Some(at) = iface.poll_at(now, &e.set)
                && e.timer_at.is_none_or(|t| at < t)
            {
                // A later live timer is left in place: it fires early, which is harmless,
                // and the socket is re-armed then.
                e.timer_seq = e.timer_seq.wrapping_add(1);
                e.timer_at = Some(at);
                self.timers
                    .push(Reverse((at.total_micros(), id, e.timer_seq)));
            }
        }
        touched.clear();
        // Keep the allocation (nothing touches sockets during the egress).
        self.touched = touched;
        sent
    }

    /// Every socket, the listening pool's included.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(&mut tcp::Socket<'static>)) {
        for (_, s) in self.listen.iter_mut() {
            if let Some(t) = tcp::Socket::downcast_mut(s) {
                f(t);
            }
        }
        for e in &mut self.entries {
            if let Some(h) = e.handle {
                f(e.set.get_mut::<tcp::Socket<'static>>(h));
            }
        }
    }
}

/// A device that holds one frame already taken from the real device, and that frame's
/// transmit token (for smoltcp's immediate answer).
pub(crate) struct OneFrame<'f, T> {
    pub(crate) frame: Option<&'f [u8]>,
    pub(crate) tx: Option<T>,
    pub(crate) caps: &'f DeviceCapabilities,
}

pub(crate) struct FrameRx<'f>(&'f [u8]);

impl RxToken for FrameRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0)
    }
}

impl<'f, T: TxToken> Device for OneFrame<'f, T> {
    type RxToken<'a>
        = FrameRx<'f>
    where
        Self: 'a;
    type TxToken<'a>
        = T
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.frame.take()?;
        let tx = self.tx.take()?;
        Some((FrameRx(frame), tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        self.tx.take()
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
        Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscRepr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
    };

    const A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
    const V6A: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    const V6B: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

    fn eth(ethertype: EthernetProtocol, payload: usize) -> (Vec<u8>, usize) {
        let e = EthernetRepr {
            src_addr: A,
            dst_addr: B,
            ethertype,
        };
        let mut buf = vec![0; e.buffer_len() + payload];
        e.emit(&mut EthernetFrame::new_unchecked(&mut buf));
        (buf, e.buffer_len())
    }

    fn tcp(control: TcpControl, ack: bool) -> Vec<u8> {
        let t = TcpRepr {
            src_port: 40_000,
            dst_port: 8514,
            control,
            seq_number: TcpSeqNumber(1),
            ack_number: ack.then_some(TcpSeqNumber(2)),
            window_len: 1024,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        let (src, dst) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: t.buffer_len(),
            hop_limit: 64,
        };
        let (mut buf, at) = eth(EthernetProtocol::Ipv4, 20 + t.buffer_len());
        let caps = ChecksumCapabilities::default();
        let mut p = Ipv4Packet::new_unchecked(&mut buf[at..]);
        ip.emit(&mut p, &caps);
        t.emit(
            &mut TcpPacket::new_unchecked(p.payload_mut()),
            &IpAddress::Ipv4(src),
            &IpAddress::Ipv4(dst),
            &caps,
        );
        buf
    }

    fn icmpv6(repr: Icmpv6Repr<'_>) -> Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: V6A,
            dst_addr: V6B,
            next_header: IpProtocol::Icmpv6,
            payload_len: repr.buffer_len(),
            hop_limit: 255,
        };
        let (mut buf, at) = eth(EthernetProtocol::Ipv6, 40 + repr.buffer_len());
        let mut p = Ipv6Packet::new_unchecked(&mut buf[at..]);
        ip.emit(&mut p);
        repr.emit(
            &V6A,
            &V6B,
            &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
            &ChecksumCapabilities::default(),
        );
        buf
    }

    #[test]
    fn frames_are_routed_by_what_they_are() {
        let t = Table::new();
        assert_eq!(
            t.route(&tcp(TcpControl::Syn, false)),
            Route::Listen { syn: true }
        );
        assert_eq!(
            t.route(&tcp(TcpControl::None, true)),
            Route::Listen { syn: false }
        );
        assert_eq!(
            t.route(&tcp(TcpControl::Rst, false)),
            Route::Listen { syn: false }
        );
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: A,
            source_protocol_addr: Ipv4Address::new(10, 0, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Address::new(10, 0, 0, 2),
        };
        let (mut buf, at) = eth(EthernetProtocol::Arp, arp.buffer_len());
        arp.emit(&mut ArpPacket::new_unchecked(&mut buf[at..]));
        assert_eq!(t.route(&buf), Route::Neighbor);
        let ns = icmpv6(Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: V6B,
            lladdr: Some(A.into()),
        }));
        assert_eq!(t.route(&ns), Route::Neighbor);
        let echo = icmpv6(Icmpv6Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"ping",
        });
        assert_eq!(t.route(&echo), Route::Other, "an echo teaches no neighbour");
        assert_eq!(t.route(&[]), Route::Other);
        assert_eq!(t.route(&[0xff; 13]), Route::Other);
    }
}
