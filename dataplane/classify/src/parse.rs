//! The frame parser: Ethernet, up to two VLAN tags, IPv4 or IPv6 (with its Hop-by-Hop,
//! Routing and Destination Options headers), TCP.
//!
//! [`parse`] returns the [`Flow`] of a complete, well-formed TCP segment, or the [`Slow`]
//! reason why the frame is not one. Every length is checked against the bytes present before
//! it is used, and the IP packet is bounded by its own length field (bytes after it are
//! Ethernet padding and are ignored). Nothing here panics, allocates or loops more than a
//! fixed number of times.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use zerocopy::FromBytes;

use crate::headers::{
    ETH_P_8021AD, ETH_P_8021Q, ETH_P_ARP, ETH_P_IPV4, ETH_P_IPV6, EthernetHeader, IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_ROUTING, IPPROTO_TCP,
    Ipv4Header, Ipv6ExtHeader, Ipv6Header, TcpHeader, VlanTag,
};

/// At most this many VLAN tags (802.1ad outer + 802.1Q inner, or any two of them); a third
/// gives [`Slow::TooManyVlans`].
pub const MAX_VLAN_TAGS: usize = 2;

/// At most this many IPv6 Hop-by-Hop / Routing / Destination Options headers before the TCP
/// header; a ninth gives [`Slow::TooManyExtHeaders`].
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

/// TCP flags (the 8 bits of the flags octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// SYN is set.
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// ACK is set.
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    /// RST is set.
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// A connection request: SYN set, ACK clear (what the SYN rate limit counts).
    pub fn is_connection_request(self) -> bool {
        self.syn() && !self.ack()
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;

    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// A well-formed TCP segment found in a frame: its addresses, ports and flags, and where its
/// layers are. Offsets are from the start of the frame, and
/// `ip_offset < tcp_offset < payload_offset <= ip_end <= frame.len()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Number of VLAN tags crossed (0..=2).
    pub vlan_tags: u8,
    /// Start of the IP header.
    pub ip_offset: usize,
    /// Start of the TCP header.
    pub tcp_offset: usize,
    /// Start of the TCP payload (after the TCP options).
    pub payload_offset: usize,
    /// End of the IP packet as its length field says; anything after is Ethernet padding.
    pub ip_end: usize,
}

impl Flow {
    /// Length of the TCP payload.
    pub fn payload_len(&self) -> usize {
        self.ip_end.saturating_sub(self.payload_offset)
    }
}

/// Why a frame is not a TCP flow the fast path can classify: such a frame is class
/// [`Other`](crate::Class::Other) and always goes to the kernel. The numbers are the indices
/// of the per-reason counters: do not renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Slow {
    /// The EtherType (after any VLAN tags) is neither IPv4 nor IPv6: ARP, LLDP, an 802.3
    /// length, ...
    NotIp = 0,
    /// More than [`MAX_VLAN_TAGS`] VLAN tags.
    TooManyVlans = 1,
    /// An IPv4 fragment (MF set or offset non-zero) or an IPv6 packet with a Fragment
    /// header: left to the kernel, which reassembles.
    Fragment = 2,
    /// IP, but the payload is not TCP: UDP, ICMP, AH, ESP, IPv6 No Next Header, ...
    NotTcp = 3,
    /// More than [`MAX_IPV6_EXT_HEADERS`] IPv6 extension headers before TCP.
    TooManyExtHeaders = 4,
    /// A header does not fit in the bytes that hold it: the frame ends inside the Ethernet
    /// header, a VLAN tag or an IP header, before the end the IP length field gives, or an
    /// extension header or the TCP header runs past the end of the IP packet.
    Truncated = 5,
    /// An IP header with an impossible field: a version that does not match the EtherType,
    /// an IPv4 IHL below 5, or an IPv4 total length shorter than the header.
    BadIpHeader = 6,
    /// A TCP data offset below 5, or a TCP header (with options) longer than the rest of the
    /// IP packet.
    BadTcpHeader = 7,
}

impl Slow {
    /// Every reason, in counter order.
    pub const ALL: [Slow; 8] = [
        Slow::NotIp,
        Slow::TooManyVlans,
        Slow::Fragment,
        Slow::NotTcp,
        Slow::TooManyExtHeaders,
        Slow::Truncated,
        Slow::BadIpHeader,
        Slow::BadTcpHeader,
    ];
    /// Number of reasons (size of the per-reason counter array).
    pub const COUNT: usize = 8;

    /// The counter index.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the reason counts in the *malformed* total of the
    /// [rule set](crate#the-rule-set): a header cut short or impossible (`Truncated`,
    /// `BadIpHeader`, `BadTcpHeader`).
    pub fn is_malformed(self) -> bool {
        matches!(
            self,
            Slow::Truncated | Slow::BadIpHeader | Slow::BadTcpHeader
        )
    }

    /// Whether the reason counts in the *slow path* total of the
    /// [rule set](crate#the-rule-set): well-formed, but deeper than the fast path looks
    /// (`Fragment`, `TooManyVlans`, `TooManyExtHeaders`). `NotIp` and `NotTcp` are in
    /// neither total.
    pub fn is_slow_path(self) -> bool {
        matches!(
            self,
            Slow::Fragment | Slow::TooManyVlans | Slow::TooManyExtHeaders
        )
    }

    /// The name used in status output and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Slow::NotIp => "not_ip",
            Slow::TooManyVlans => "too_many_vlans",
            Slow::Fragment => "fragment",
            Slow::NotTcp => "not_tcp",
            Slow::TooManyExtHeaders => "too_many_ext_headers",
            Slow::Truncated => "truncated",
            Slow::BadIpHeader => "bad_ip_header",
            Slow::BadTcpHeader => "bad_tcp_header",
        }
    }
}

impl std::fmt::Display for Slow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The view of type `T` at the start of `bytes`, or [`Slow::Truncated`] if they are too short.
#[inline(always)]
fn view<T: FromBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    bytes: &[u8],
) -> Result<(&T, &[u8]), Slow> {
    T::ref_from_prefix(bytes).map_err(|_| Slow::Truncated)
}

/// Parse an Ethernet frame (without FCS) down to its TCP header: step 1 of the
/// [rule set](crate#the-rule-set), which the XDP program implements too.
///
/// The order of the checks, which decides the reason when several apply:
/// 1. Ethernet header, then while the EtherType is 0x8100 or 0x88A8 a VLAN tag (at most
///    [`MAX_VLAN_TAGS`], else [`Slow::TooManyVlans`]); then EtherType 0x0800 or 0x86DD, else
///    [`Slow::NotIp`].
/// 2. IPv4: 20 octets present; version 4 and IHL ≥ 5 and total length ≥ IHL × 4, else
///    [`Slow::BadIpHeader`]; total length within the frame, else [`Slow::Truncated`]; MF or
///    fragment offset → [`Slow::Fragment`]; protocol not TCP → [`Slow::NotTcp`]. The options
///    are skipped by IHL.
///
///    IPv6: 40 octets present; version 6, else [`Slow::BadIpHeader`]; 40 + payload length
///    within the frame, else [`Slow::Truncated`]; then the chain of next headers: Hop-by-Hop
///    (0), Routing (43) and Destination Options (60) are skipped by their length
///    ((hdr_ext_len + 1) × 8, which must lie within the packet) — a ninth one gives
///    [`Slow::TooManyExtHeaders`]; Fragment (44) → [`Slow::Fragment`]; TCP (6) ends the walk;
///    anything else (AH, ESP, No Next Header, UDP, ICMPv6, ...) → [`Slow::NotTcp`].
/// 3. TCP, within the IP packet: 20 octets present, else [`Slow::Truncated`]; data offset ≥ 5
///    and the header with its options within the packet, else [`Slow::BadTcpHeader`].
pub fn parse(frame: &[u8]) -> Result<Flow, Slow> {
    let (eth, mut rest) = view::<EthernetHeader>(frame)?;
    let mut ethertype = eth.ethertype.get();
    let mut vlan_tags = 0u8;
    while ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        if usize::from(vlan_tags) == MAX_VLAN_TAGS {
            return Err(Slow::TooManyVlans);
        }
        let (tag, after) = view::<VlanTag>(rest)?;
        ethertype = tag.ethertype.get();
        rest = after;
        vlan_tags += 1;
    }
    // `rest` is a suffix of `frame`, so this does not underflow.
    let ip_offset = frame.len() - rest.len();
    let l3 = match ethertype {
        ETH_P_IPV4 => parse_ipv4(rest)?,
        ETH_P_IPV6 => parse_ipv6(rest)?,
        _ => return Err(Slow::NotIp),
    };
    // The TCP header lies within the IP packet, which lies within `rest`.
    let (tcp, tcp_len) = parse_tcp(l3.segment)?;
    let tcp_offset = ip_offset + l3.tcp_start;
    Ok(Flow {
        src: l3.src,
        dst: l3.dst,
        src_port: tcp.src_port.get(),
        dst_port: tcp.dst_port.get(),
        flags: TcpFlags(tcp.flags),
        vlan_tags,
        ip_offset,
        tcp_offset,
        payload_offset: tcp_offset + tcp_len,
        ip_end: ip_offset + l3.ip_len,
    })
}

/// What the IP layer found: the addresses and the TCP segment (up to the end of the packet).
struct L3<'a> {
    src: IpAddr,
    dst: IpAddr,
    /// The bytes from the TCP header to the end of the IP packet.
    segment: &'a [u8],
    /// Offset of the TCP header from the start of the IP header.
    tcp_start: usize,
    /// Length of the IP packet.
    ip_len: usize,
}

#[inline(always)]
fn parse_ipv4(bytes: &[u8]) -> Result<L3<'_>, Slow> {
    let (ip, _) = view::<Ipv4Header>(bytes)?;
    let header_len = ip.header_len();
    let total_len = usize::from(ip.total_len.get());
    if ip.version() != 4 || header_len < size_of::<Ipv4Header>() || total_len < header_len {
        return Err(Slow::BadIpHeader);
    }
    let packet = bytes.get(..total_len).ok_or(Slow::Truncated)?;
    if ip.is_fragment() {
        return Err(Slow::Fragment);
    }
    if ip.protocol != IPPROTO_TCP {
        return Err(Slow::NotTcp);
    }
    // header_len <= total_len == packet.len(): never fails.
    let segment = packet.get(header_len..).ok_or(Slow::BadIpHeader)?;
    Ok(L3 {
        src: IpAddr::V4(Ipv4Addr::from(ip.src)),
        dst: IpAddr::V4(Ipv4Addr::from(ip.dst)),
        segment,
        tcp_start: header_len,
        ip_len: total_len,
    })
}

#[inline(always)]
fn parse_ipv6(bytes: &[u8]) -> Result<L3<'_>, Slow> {
    let (ip, _) = view::<Ipv6Header>(bytes)?;
    if ip.version() != 6 {
        return Err(Slow::BadIpHeader);
    }
    let total_len = size_of::<Ipv6Header>() + usize::from(ip.payload_len.get());
    let packet = bytes.get(..total_len).ok_or(Slow::Truncated)?;
    let (next, offset) = walk_ipv6_ext(packet, ip.next_header)?;
    if next != IPPROTO_TCP {
        return Err(Slow::NotTcp);
    }
    let segment = packet.get(offset..).ok_or(Slow::Truncated)?;
    Ok(L3 {
        src: IpAddr::V6(Ipv6Addr::from(ip.src)),
        dst: IpAddr::V6(Ipv6Addr::from(ip.dst)),
        segment,
        tcp_start: offset,
        ip_len: total_len,
    })
}

/// The chain of IPv6 next headers of `packet` (the whole IPv6 packet, fixed header
/// included) from `next`: Hop-by-Hop, Routing and Destination Options headers skipped by
/// their length, which must lie within the packet, at most [`MAX_IPV6_EXT_HEADERS`]; a
/// Fragment header is [`Slow::Fragment`]. Returns the first other next header and its
/// offset in `packet`.
#[inline(always)]
fn walk_ipv6_ext(packet: &[u8], mut next: u8) -> Result<(u8, usize), Slow> {
    let mut offset = size_of::<Ipv6Header>();
    let mut ext_headers = 0;
    loop {
        match next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {
                if ext_headers == MAX_IPV6_EXT_HEADERS {
                    return Err(Slow::TooManyExtHeaders);
                }
                let rest = packet.get(offset..).ok_or(Slow::Truncated)?;
                let (ext, _) = view::<Ipv6ExtHeader>(rest)?;
                let len = ext.len();
                if len > rest.len() {
                    return Err(Slow::Truncated);
                }
                next = ext.next_header;
                offset += len;
                ext_headers += 1;
            }
            IPPROTO_FRAGMENT => return Err(Slow::Fragment),
            _ => return Ok((next, offset)),
        }
    }
}

/// The TCP header at the start of `segment` and its length with options.
#[inline(always)]
fn parse_tcp(segment: &[u8]) -> Result<(&TcpHeader, usize), Slow> {
    let (tcp, _) = view::<TcpHeader>(segment)?;
    let len = tcp.header_len();
    if len < size_of::<TcpHeader>() || len > segment.len() {
        return Err(Slow::BadTcpHeader);
    }
    Ok((tcp, len))
}

/// ARP's protocol type for IPv4, and the offset of the target protocol address in an
/// Ethernet/IPv4 ARP packet (hardware length 6, protocol length 4: 28 octets).
const ARP_PTYPE_IPV4: u16 = 0x0800;
const ARP_LEN: usize = 28;
const ARP_TPA: usize = 24;
/// ICMPv6 Neighbor Solicitation: its type, and its length up to the end of the target
/// address (type, code, checksum, reserved, target).
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
const NS_LEN: usize = 24;

/// A frame that is not a TCP segment but asks something of the host that owns an address:
/// what the *owned-address* rule (step 5 of the [rule set](crate#the-rule-set)) reads. Found
/// by [`control_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlFrame {
    /// An ARP packet for IPv4 over Ethernet (request or reply) with this target protocol
    /// address.
    Arp {
        /// Target protocol address.
        target: Ipv4Addr,
    },
    /// An ICMP message (not a fragment) to this destination.
    Icmpv4 {
        /// Destination address of the IPv4 header.
        dst: Ipv4Addr,
    },
    /// An ICMPv6 message (not a fragment) to this destination.
    Icmpv6 {
        /// Destination address of the IPv6 header (for a Neighbor Solicitation usually the
        /// solicited-node multicast address of the target).
        dst: Ipv6Addr,
        /// The target address, when the message is a Neighbor Solicitation (type 135) whose
        /// target lies within the packet.
        solicit_target: Option<Ipv6Addr>,
    },
}

/// The [`ControlFrame`] a frame is, if it is one: the reading of step 5 of the
/// [rule set](crate#the-rule-set) for frames that [`parse`] refuses with [`Slow::NotIp`] or
/// [`Slow::NotTcp`]. It walks the frame exactly as [`parse`] does, so every frame it
/// returns something for is one of those two reasons:
///
/// - Ethernet and at most [`MAX_VLAN_TAGS`] VLAN tags, then EtherType 0x0806 (ARP): the
///   28 octets of an Ethernet/IPv4 ARP packet within the frame, protocol type 0x0800,
///   hardware length 6, protocol length 4: [`ControlFrame::Arp`] with the target protocol
///   address (the hardware type and the operation are not looked at).
/// - IPv4 that [`parse`] walks to [`Slow::NotTcp`] (well-formed, not a fragment) with
///   protocol 1: [`ControlFrame::Icmpv4`] with the destination.
/// - IPv6 that [`parse`] walks to [`Slow::NotTcp`] (well-formed, extension headers skipped,
///   not a fragment) with next header 58: [`ControlFrame::Icmpv6`] with the destination,
///   and when the ICMPv6 type is 135 and 24 octets of it lie within the packet, the
///   solicitation's target.
///
/// Everything else (TCP, UDP, fragments, truncated or impossible headers, other
/// EtherTypes): `None`.
pub fn control_frame(frame: &[u8]) -> Option<ControlFrame> {
    let (eth, mut rest) = view::<EthernetHeader>(frame).ok()?;
    let mut ethertype = eth.ethertype.get();
    let mut vlan_tags = 0;
    while ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        if vlan_tags == MAX_VLAN_TAGS {
            return None;
        }
        let (tag, after) = view::<VlanTag>(rest).ok()?;
        ethertype = tag.ethertype.get();
        rest = after;
        vlan_tags += 1;
    }
    match ethertype {
        ETH_P_ARP => {
            let arp = rest.get(..ARP_LEN)?;
            let ptype = u16::from_be_bytes([*arp.get(2)?, *arp.get(3)?]);
            if ptype != ARP_PTYPE_IPV4 || arp.get(4) != Some(&6) || arp.get(5) != Some(&4) {
                return None;
            }
            let tpa: [u8; 4] = arp.get(ARP_TPA..ARP_LEN)?.try_into().ok()?;
            Some(ControlFrame::Arp {
                target: Ipv4Addr::from(tpa),
            })
        }
        ETH_P_IPV4 => {
            let (ip, _) = view::<Ipv4Header>(rest).ok()?;
            let header_len = ip.header_len();
            let total_len = usize::from(ip.total_len.get());
            if ip.version() != 4 || header_len < size_of::<Ipv4Header>() || total_len < header_len {
                return None;
            }
            rest.get(..total_len)?;
            if ip.is_fragment() || ip.protocol != IPPROTO_ICMP {
                return None;
            }
            Some(ControlFrame::Icmpv4 {
                dst: Ipv4Addr::from(ip.dst),
            })
        }
        ETH_P_IPV6 => {
            let (ip, _) = view::<Ipv6Header>(rest).ok()?;
            if ip.version() != 6 {
                return None;
            }
            let total_len = size_of::<Ipv6Header>() + usize::from(ip.payload_len.get());
            let packet = rest.get(..total_len)?;
            let (next, offset) = walk_ipv6_ext(packet, ip.next_header).ok()?;
            if next != IPPROTO_ICMPV6 {
                return None;
            }
            // The walk keeps offset <= packet.len().
            let icmp = packet.get(offset..).unwrap_or_default();
            let solicit_target = match icmp.get(..NS_LEN) {
                Some(ns) if ns.first() == Some(&ICMPV6_NEIGHBOR_SOLICIT) => {
                    let target: [u8; 16] = ns.get(8..NS_LEN)?.try_into().ok()?;
                    Some(Ipv6Addr::from(target))
                }
                _ => None,
            };
            Some(ControlFrame::Icmpv6 {
                dst: Ipv6Addr::from(ip.dst),
                solicit_target,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{FrameBuilder, L4, arp_request, ethernet};
    use crate::headers::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn syn_v4() -> FrameBuilder {
        FrameBuilder::tcp(v4("192.0.2.1"), 40000, v4("198.51.100.7"), 80).flags(TcpFlags::SYN)
    }

    fn data_v6() -> FrameBuilder {
        FrameBuilder::tcp(v4("2001:db8::1"), 40000, v4("2001:db8::80"), 8080)
            .flags(TcpFlags::ACK | TcpFlags::PSH)
            .payload_len(100)
    }

    /// The fields a builder put in, as parse should find them.
    fn expect(b: &FrameBuilder, frame: &[u8]) {
        let flow = parse(frame).unwrap();
        let layout = b.layout();
        assert_eq!(flow.src, b.src);
        assert_eq!(flow.dst, b.dst);
        match b.l4 {
            L4::Tcp {
                src_port,
                dst_port,
                flags,
                ..
            } => {
                assert_eq!(flow.src_port, src_port);
                assert_eq!(flow.dst_port, dst_port);
                assert_eq!(flow.flags, flags);
            }
            _ => panic!("not a TCP builder"),
        }
        assert_eq!(flow.vlan_tags as usize, b.vlans.len());
        assert_eq!(flow.ip_offset, layout.ip_offset);
        assert_eq!(flow.tcp_offset, layout.l4_offset);
        assert_eq!(flow.payload_offset, layout.payload_offset);
        assert_eq!(flow.ip_end, layout.ip_end);
        assert_eq!(flow.payload_len(), b.payload.len());
    }

    #[test]
    fn ipv4_syn_without_options() {
        let b = syn_v4();
        let f = b.build();
        assert_eq!(f.len(), 14 + 20 + 20);
        expect(&b, &f);
        let flow = parse(&f).unwrap();
        assert!(flow.flags.is_connection_request());
        assert_eq!(flow.ip_offset, 14);
        assert_eq!(flow.tcp_offset, 34);
    }

    #[test]
    fn ipv4_with_options_skipped_by_ihl() {
        // Router alert (4 octets) and a timestamp-like option padded to 12 octets.
        let b = syn_v4()
            .ipv4_options(&[0x94, 0x04, 0, 0, 0x44, 0x08, 0x05, 0, 0, 0, 0, 0])
            .payload_len(33);
        let f = b.build();
        assert_eq!(f.get(14), Some(&0x48)); // IHL 8
        expect(&b, &f);
        assert_eq!(parse(&f).unwrap().tcp_offset, 14 + 32);
        // The largest IHL.
        let b = syn_v4().ipv4_options(&[1; 40]);
        let f = b.build();
        assert_eq!(f.get(14), Some(&0x4F));
        expect(&b, &f);
    }

    #[test]
    fn tcp_options_skipped_by_data_offset() {
        let b = syn_v4()
            .tcp_options(&[2, 4, 0x05, 0xb4, 1, 3, 3, 7])
            .payload_len(10);
        let f = b.build();
        expect(&b, &f);
        let flow = parse(&f).unwrap();
        assert_eq!(flow.payload_offset - flow.tcp_offset, 28);
    }

    #[test]
    fn ethernet_padding_after_the_ip_packet_is_ignored() {
        let b = syn_v4().pad_to(60);
        let f = b.build();
        assert_eq!(f.len(), 60);
        expect(&b, &f);
        assert_eq!(parse(&f).unwrap().ip_end, 54);
        // Padding on a v6 frame too (not needed by Ethernet, but allowed).
        let b = data_v6().pad_to(400);
        expect(&b, &b.build());
    }

    #[test]
    fn ipv6_with_hop_by_hop_and_destination_options() {
        let b = data_v6()
            .ipv6_ext(IPPROTO_HOPOPTS, 0)
            .ipv6_ext(IPPROTO_ROUTING, 2)
            .ipv6_ext(IPPROTO_DSTOPTS, 1);
        let f = b.build();
        expect(&b, &f);
        assert_eq!(parse(&f).unwrap().tcp_offset, 14 + 40 + 8 + 24 + 16);
    }

    #[test]
    fn ipv6_at_most_eight_extension_headers() {
        let mut b = data_v6();
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            b = b.ipv6_ext(IPPROTO_DSTOPTS, 0);
        }
        expect(&b, &b.build());
        let b = b.ipv6_ext(IPPROTO_HOPOPTS, 0);
        assert_eq!(parse(&b.build()), Err(Slow::TooManyExtHeaders));
    }

    #[test]
    fn ipv6_extension_header_longer_than_the_packet() {
        let b = data_v6().payload_len(0).ipv6_ext(IPPROTO_DSTOPTS, 0);
        let mut f = b.build();
        // hdr_ext_len 4 = 40 octets, but only 8 + 20 follow the fixed header.
        let at = b.layout().ip_offset + 40 + 1;
        f[at] = 4;
        assert_eq!(parse(&f), Err(Slow::Truncated));
        // Exactly up to the end of the packet: the extension header fits, the TCP header not.
        f[at] = 2;
        assert_eq!(parse(&f), Err(Slow::Truncated));
    }

    #[test]
    fn ipv6_fragment_header_goes_to_the_slow_path() {
        let b = data_v6().fragment(0, true);
        assert_eq!(parse(&b.build()), Err(Slow::Fragment));
        // Behind other extension headers, first or not, even an atomic fragment.
        for (offset, more) in [(0, false), (0, true), (185, true), (185, false)] {
            let b = data_v6()
                .ipv6_ext(IPPROTO_HOPOPTS, 0)
                .ipv6_ext(IPPROTO_DSTOPTS, 1)
                .fragment(offset, more);
            assert_eq!(parse(&b.build()), Err(Slow::Fragment), "{offset} {more}");
        }
    }

    #[test]
    fn ipv4_fragments_go_to_the_slow_path() {
        // First fragment: MF set, offset 0; it still carries the TCP header.
        let first = syn_v4().payload_len(100).fragment(0, true);
        assert_eq!(parse(&first.build()), Err(Slow::Fragment));
        // Middle and last fragments.
        let middle = syn_v4().payload_len(100).fragment(16, true);
        assert_eq!(parse(&middle.build()), Err(Slow::Fragment));
        let last = syn_v4().payload_len(100).fragment(16, false);
        assert_eq!(parse(&last.build()), Err(Slow::Fragment));
        // DF alone is not a fragment.
        let mut f = syn_v4().build();
        f[14 + 6] = 0x40;
        assert!(parse(&f).is_ok());
        // A fragment that is not TCP is counted as a fragment.
        let udp = syn_v4()
            .l4(L4::Udp {
                src_port: 1,
                dst_port: 2,
            })
            .fragment(3, false);
        assert_eq!(parse(&udp.build()), Err(Slow::Fragment));
    }

    #[test]
    fn vlan_and_qinq() {
        let b = syn_v4().vlan(ETH_P_8021Q, 100);
        let f = b.build();
        expect(&b, &f);
        assert_eq!(parse(&f).unwrap().ip_offset, 18);
        let b = data_v6().vlan(ETH_P_8021AD, 10).vlan(ETH_P_8021Q, 20);
        let f = b.build();
        expect(&b, &f);
        assert_eq!(parse(&f).unwrap().ip_offset, 22);
        // Two 802.1Q tags (old-style QinQ) are accepted too.
        let b = syn_v4().vlan(ETH_P_8021Q, 1).vlan(ETH_P_8021Q, 2);
        expect(&b, &b.build());
        // A third tag is not.
        let b = syn_v4()
            .vlan(ETH_P_8021AD, 1)
            .vlan(ETH_P_8021Q, 2)
            .vlan(ETH_P_8021Q, 3);
        assert_eq!(parse(&b.build()), Err(Slow::TooManyVlans));
    }

    #[test]
    fn arp_and_other_ethertypes_are_not_ip() {
        let f = arp_request(
            [2, 0, 0, 0, 0, 1],
            v4_octets("192.0.2.1"),
            v4_octets("192.0.2.2"),
        );
        assert_eq!(f.len(), 42);
        assert_eq!(parse(&f), Err(Slow::NotIp));
        assert_eq!(parse(&ethernet(0x88CC, &[0; 50])), Err(Slow::NotIp)); // LLDP
        assert_eq!(parse(&ethernet(0x0040, &[0; 64])), Err(Slow::NotIp)); // 802.3 length
        // ARP behind a VLAN tag.
        let mut tagged = ethernet(ETH_P_8021Q, &[0, 5, 0x08, 0x06]);
        tagged.extend_from_slice(&[0; 28]);
        assert_eq!(parse(&tagged), Err(Slow::NotIp));
    }

    fn v4_octets(s: &str) -> [u8; 4] {
        s.parse::<Ipv4Addr>().unwrap().octets()
    }

    #[test]
    fn udp_icmp_and_other_protocols_are_not_tcp() {
        let udp = syn_v4().l4(L4::Udp {
            src_port: 5000,
            dst_port: 80,
        });
        assert_eq!(parse(&udp.build()), Err(Slow::NotTcp));
        let icmp = syn_v4().l4(L4::Icmp);
        assert_eq!(parse(&icmp.build()), Err(Slow::NotTcp));
        let icmp6 = data_v6().l4(L4::Icmp);
        let f = icmp6.build();
        assert_eq!(f[14 + 6], IPPROTO_ICMPV6);
        assert_eq!(parse(&f), Err(Slow::NotTcp));
        for proto in [IPPROTO_AH, IPPROTO_ESP, IPPROTO_NONE, 132] {
            let b = data_v6().ipv6_ext(IPPROTO_HOPOPTS, 0).l4(L4::Raw(proto));
            assert_eq!(parse(&b.build()), Err(Slow::NotTcp), "{proto}");
            let b = syn_v4().l4(L4::Raw(proto));
            assert_eq!(parse(&b.build()), Err(Slow::NotTcp), "{proto}");
        }
    }

    #[test]
    fn wrong_ihl() {
        let f = syn_v4().payload_len(20).build();
        for ihl in 0..5u8 {
            let mut g = f.clone();
            g[14] = 0x40 | ihl;
            assert_eq!(parse(&g), Err(Slow::BadIpHeader), "ihl {ihl}");
        }
        // IHL beyond the total length.
        let mut g = f.clone();
        g[14] = 0x4F; // 60 octets, the packet has 60: no room left for TCP ...
        assert_eq!(parse(&g), Err(Slow::Truncated));
        let mut g = syn_v4().build();
        g[14] = 0x4F; // ... but here the packet is 40 octets long.
        assert_eq!(parse(&g), Err(Slow::BadIpHeader));
        // Wrong version.
        let mut g = f.clone();
        g[14] = 0x65;
        assert_eq!(parse(&g), Err(Slow::BadIpHeader));
        let mut g = data_v6().build();
        g[14] = 0x40;
        assert_eq!(parse(&g), Err(Slow::BadIpHeader));
    }

    #[test]
    fn ipv4_total_length() {
        let f = syn_v4().payload_len(10).build();
        // Shorter than the header.
        let mut g = f.clone();
        g[16..18].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::BadIpHeader));
        // Beyond the frame.
        let mut g = f.clone();
        g[16..18].copy_from_slice(&51u16.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::Truncated));
        // Shorter than the frame: the rest is padding; TCP header still complete.
        let mut g = f.clone();
        g[16..18].copy_from_slice(&40u16.to_be_bytes());
        let flow = parse(&g).unwrap();
        assert_eq!(flow.ip_end, 54);
        assert_eq!(flow.payload_len(), 0);
        // Too short for the TCP header.
        g[16..18].copy_from_slice(&39u16.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::Truncated));
        // IPv6 payload length beyond the frame.
        let mut g = data_v6().build();
        let len = u16::from_be_bytes([g[18], g[19]]);
        g[18..20].copy_from_slice(&(len + 1).to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::Truncated));
    }

    #[test]
    fn bad_data_offset() {
        let f = syn_v4().payload_len(8).build();
        let at = 14 + 20 + 12;
        for doff in 0..5u8 {
            let mut g = f.clone();
            g[at] = doff << 4;
            assert_eq!(parse(&g), Err(Slow::BadTcpHeader), "doff {doff}");
        }
        // 28 octets of header fit in 20 + 8.
        let mut g = f.clone();
        g[at] = 7 << 4;
        assert_eq!(parse(&g).unwrap().payload_offset, 14 + 20 + 28);
        // 32 do not.
        g[at] = 8 << 4;
        assert_eq!(parse(&g), Err(Slow::BadTcpHeader));
        g[at] = 15 << 4;
        assert_eq!(parse(&g), Err(Slow::BadTcpHeader));
        // The reserved bits do not matter.
        let mut g = f.clone();
        g[at] = (5 << 4) | 0x0F;
        assert!(parse(&g).is_ok());
    }

    #[test]
    fn truncated_at_every_offset() {
        let builders = [
            syn_v4(),
            syn_v4().ipv4_options(&[1; 8]).vlan(ETH_P_8021Q, 7),
            data_v6()
                .ipv6_ext(IPPROTO_HOPOPTS, 1)
                .ipv6_ext(IPPROTO_DSTOPTS, 0),
            data_v6().vlan(ETH_P_8021AD, 1).vlan(ETH_P_8021Q, 2),
            syn_v4().tcp_options(&[1; 12]).pad_to(80),
        ];
        for b in &builders {
            let f = b.build();
            let ip_end = b.layout().ip_end;
            for cut in 0..=f.len() {
                let r = parse(&f[..cut]);
                if cut < ip_end {
                    assert_eq!(r, Err(Slow::Truncated), "cut {cut} of {}", f.len());
                } else {
                    assert_eq!(r, parse(&f), "cut {cut} in the padding");
                    assert!(r.is_ok());
                }
            }
        }
    }

    #[test]
    fn the_reasons_have_distinct_indices_in_order() {
        for (i, r) in Slow::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(!r.name().is_empty());
            assert_eq!(r.to_string(), r.name());
            // At most one total.
            assert!(!(r.is_malformed() && r.is_slow_path()), "{r}");
        }
        assert_eq!(Slow::ALL.len(), Slow::COUNT);
        let malformed: Vec<Slow> = Slow::ALL.into_iter().filter(|r| r.is_malformed()).collect();
        assert_eq!(
            malformed,
            [Slow::Truncated, Slow::BadIpHeader, Slow::BadTcpHeader]
        );
        let slow: Vec<Slow> = Slow::ALL.into_iter().filter(|r| r.is_slow_path()).collect();
        assert_eq!(
            slow,
            [Slow::TooManyVlans, Slow::Fragment, Slow::TooManyExtHeaders]
        );
    }

    #[test]
    fn a_third_vlan_tag_is_too_many_even_when_cut_short() {
        // The count is checked before the tag is read (the XDP program does the same).
        let f = syn_v4().vlan(ETH_P_8021Q, 1).vlan(ETH_P_8021Q, 2).build();
        let mut g = f[..22].to_vec();
        g[20..22].copy_from_slice(&ETH_P_8021Q.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::TooManyVlans));
        // Two tags, the second cut short.
        assert_eq!(parse(&f[..20]), Err(Slow::Truncated));
    }

    #[test]
    fn ipv4_checks_in_order() {
        // A fragment with an impossible total length is a bad header, not a fragment.
        let f = syn_v4().payload_len(10).fragment(1, true).build();
        let mut g = f.clone();
        g[16..18].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::BadIpHeader));
        // A fragment longer than the frame is truncated.
        let mut g = f.clone();
        g[16..18].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(parse(&g), Err(Slow::Truncated));
        assert_eq!(parse(&f), Err(Slow::Fragment));
        // A UDP packet cut short is truncated before it is not TCP.
        let udp = syn_v4()
            .l4(L4::Udp {
                src_port: 1,
                dst_port: 2,
            })
            .payload_len(10)
            .build();
        assert_eq!(parse(&udp[..udp.len() - 1]), Err(Slow::Truncated));
        assert_eq!(parse(&udp), Err(Slow::NotTcp));
    }

    #[test]
    fn ipv6_fragment_after_eight_extension_headers_is_a_fragment() {
        let mut b = data_v6();
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            b = b.ipv6_ext(IPPROTO_DSTOPTS, 0);
        }
        assert_eq!(
            parse(&b.clone().fragment(0, false).build()),
            Err(Slow::Fragment)
        );
        let udp = b.l4(L4::Udp {
            src_port: 1,
            dst_port: 2,
        });
        assert_eq!(parse(&udp.build()), Err(Slow::NotTcp));
    }

    #[test]
    fn flags() {
        let f = TcpFlags::SYN | TcpFlags::ACK;
        assert!(f.syn() && f.ack() && !f.rst() && !f.fin());
        assert!(!f.is_connection_request());
        assert!(TcpFlags::SYN.is_connection_request());
        assert!((TcpFlags::SYN | TcpFlags::RST).is_connection_request());
        assert!((TcpFlags::FIN | TcpFlags::RST).fin());
        assert!((TcpFlags::FIN | TcpFlags::RST).rst());
    }

    #[test]
    fn control_frames_arp_icmp_and_neighbour_solicitation() {
        use crate::build::{arp_reply, neighbor_solicitation};
        let v6 = |s: &str| -> Ipv6Addr { s.parse().unwrap() };
        let arp = arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 1]);
        assert_eq!(parse(&arp), Err(Slow::NotIp));
        assert_eq!(
            control_frame(&arp),
            Some(ControlFrame::Arp {
                target: Ipv4Addr::new(10, 0, 0, 1)
            })
        );
        let reply = arp_reply([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [2; 6], [10, 0, 0, 7]);
        assert_eq!(
            control_frame(&reply),
            Some(ControlFrame::Arp {
                target: Ipv4Addr::new(10, 0, 0, 7)
            })
        );
        // Cut short, or not Ethernet/IPv4 ARP: none.
        assert_eq!(control_frame(&arp[..41]), None);
        for (at, value) in [(16, 0x86), (18, 8), (19, 16)] {
            let mut bad = arp.clone();
            bad[at] = value;
            assert_eq!(control_frame(&bad), None, "octet {at} = {value}");
        }
        // The hardware type and operation are not looked at; padding is fine.
        let mut odd = arp.clone();
        odd[15] = 6;
        odd[21] = 9;
        odd.resize(60, 0);
        assert!(control_frame(&odd).is_some());
        // Behind two VLAN tags; not behind three.
        let tagged = |tags: usize| {
            let mut f = arp[..12].to_vec();
            for _ in 0..tags {
                f.extend_from_slice(&[0x81, 0x00, 0, 5]);
            }
            f.extend_from_slice(&arp[12..]);
            f
        };
        assert!(control_frame(&tagged(2)).is_some());
        assert_eq!(control_frame(&tagged(3)), None);

        let echo = |dst: &str| {
            FrameBuilder::tcp(v4("192.0.2.1"), 0, v4(dst), 0)
                .l4(L4::Icmp)
                .build()
        };
        assert_eq!(parse(&echo("10.0.0.1")), Err(Slow::NotTcp));
        assert_eq!(
            control_frame(&echo("10.0.0.1")),
            Some(ControlFrame::Icmpv4 {
                dst: Ipv4Addr::new(10, 0, 0, 1)
            })
        );
        assert_eq!(
            control_frame(&echo("2001:db8::1")),
            Some(ControlFrame::Icmpv6 {
                dst: v6("2001:db8::1"),
                solicit_target: None
            })
        );
        // ICMPv6 after extension headers.
        let deep = FrameBuilder::tcp(v4("2001:db8::9"), 0, v4("2001:db8::1"), 0)
            .ipv6_ext(IPPROTO_HOPOPTS, 0)
            .ipv6_ext(IPPROTO_DSTOPTS, 1)
            .l4(L4::Icmp)
            .build();
        assert!(control_frame(&deep).is_some());
        // Fragments, UDP, TCP, truncated packets: none.
        let frag = FrameBuilder::tcp(v4("192.0.2.1"), 0, v4("10.0.0.1"), 0)
            .l4(L4::Icmp)
            .fragment(0, true)
            .build();
        assert_eq!(parse(&frag), Err(Slow::Fragment));
        assert_eq!(control_frame(&frag), None);
        let frag6 = FrameBuilder::tcp(v4("2001:db8::9"), 0, v4("2001:db8::1"), 0)
            .l4(L4::Icmp)
            .fragment(0, true)
            .build();
        assert_eq!(control_frame(&frag6), None);
        let udp = FrameBuilder::tcp(v4("192.0.2.1"), 0, v4("10.0.0.1"), 0)
            .l4(L4::Udp {
                src_port: 1,
                dst_port: 2,
            })
            .build();
        assert_eq!(control_frame(&udp), None);
        assert_eq!(control_frame(&syn_v4().build()), None);
        let e = echo("10.0.0.1");
        assert_eq!(control_frame(&e[..e.len() - 1]), None);

        let ns = neighbor_solicitation(v6("2001:db8::9"), v6("2001:db8::1"));
        assert_eq!(parse(&ns), Err(Slow::NotTcp));
        assert_eq!(
            control_frame(&ns),
            Some(ControlFrame::Icmpv6 {
                dst: v6("ff02::1:ff00:1"),
                solicit_target: Some(v6("2001:db8::1"))
            })
        );
        // A solicitation whose target runs past the packet has none (the IPv6 payload
        // length cut to 23 octets of ICMPv6; the rest of the frame is padding).
        let mut short = ns.clone();
        short[18..20].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            control_frame(&short),
            Some(ControlFrame::Icmpv6 {
                dst: v6("ff02::1:ff00:1"),
                solicit_target: None
            })
        );
        // Another ICMPv6 type with a target-like body: no target.
        let mut advert = ns.clone();
        advert[54] = 136;
        assert!(matches!(
            control_frame(&advert),
            Some(ControlFrame::Icmpv6 {
                solicit_target: None,
                ..
            })
        ));
    }

    #[test]
    fn control_frame_never_panics_on_cuts() {
        use crate::build::neighbor_solicitation;
        let frames = [
            arp_request([2, 0, 0, 0, 0, 9], [10, 0, 0, 9], [10, 0, 0, 1]),
            neighbor_solicitation("fe80::1".parse().unwrap(), "2001:db8::1".parse().unwrap()),
            FrameBuilder::tcp(v4("192.0.2.1"), 0, v4("10.0.0.1"), 0)
                .l4(L4::Icmp)
                .build(),
        ];
        for f in &frames {
            for cut in 0..f.len() {
                let _ = control_frame(&f[..cut]);
            }
        }
    }
}
