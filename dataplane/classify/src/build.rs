//! A small frame builder for tests and benchmarks (here, in `mmsc-ebpf`'s tests of the XDP
//! program, and in `mmsc-bench`): Ethernet, VLAN tags, IPv4 with options or IPv6 with
//! extension headers, an optional fragment, then TCP, UDP, ICMP or a bare protocol number.
//!
//! The frames are well formed, checksums included (IPv4 header, TCP, UDP, ICMP/ICMPv6 over
//! the usual pseudo-header), so they can also be sent through a real interface. It is not a
//! general packet writer: lengths that do not fit their fields are clamped (IPv4 options and
//! TCP options to 40 octets, IP lengths to 65 535), never reported.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::headers::{
    ETH_P_ARP, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_FRAGMENT, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP,
    IPPROTO_UDP,
};
use crate::parse::TcpFlags;

/// Destination MAC address of built frames.
pub const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Source MAC address of built frames.
pub const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// The layer-4 header of a built frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum L4 {
    /// A TCP header (20 octets plus `options`, padded with zeros to a multiple of 4, at most
    /// 40).
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Flags.
        flags: TcpFlags,
        /// Options.
        options: Vec<u8>,
    },
    /// A UDP header.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// An ICMP (IPv4) or ICMPv6 echo request header.
    Icmp,
    /// No layer-4 header: the payload follows the IP headers under this protocol number.
    Raw(u8),
}

/// Where the layers of a built frame start (offsets from the start of the frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Start of the IP header.
    pub ip_offset: usize,
    /// Start of the layer-4 header (after IPv4 options / IPv6 extension headers).
    pub l4_offset: usize,
    /// Start of the payload.
    pub payload_offset: usize,
    /// End of the IP packet.
    pub ip_end: usize,
    /// Length of the frame (`ip_end`, or more with padding).
    pub frame_len: usize,
}

/// The description of a frame; [`FrameBuilder::build`] writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameBuilder {
    /// VLAN tags, outermost first: (TPID, VLAN id).
    pub vlans: Vec<(u16, u16)>,
    /// Source address. If its family differs from `dst`'s, it is converted (IPv4-mapped, or
    /// the IPv4 address an IPv4-mapped IPv6 address holds, else 0.0.0.0).
    pub src: IpAddr,
    /// Destination address; its family is the frame's.
    pub dst: IpAddr,
    /// IPv4 options (ignored for IPv6).
    pub ipv4_options: Vec<u8>,
    /// IPv6 extension headers before the layer-4 header (ignored for IPv4): (next-header
    /// type, hdr_ext_len); each is (hdr_ext_len + 1) × 8 octets, zero-filled after its first
    /// two.
    pub ipv6_ext: Vec<(u8, u8)>,
    /// A fragment: (offset in 8-octet units, more fragments). IPv4: in the header; IPv6: a
    /// Fragment header after `ipv6_ext`.
    pub fragment: Option<(u16, bool)>,
    /// The layer-4 header.
    pub l4: L4,
    /// The payload.
    pub payload: Vec<u8>,
    /// Minimum frame length: zero octets are appended after the IP packet up to it
    /// (Ethernet padding; 60 is the Ethernet minimum without FCS).
    pub pad_to: usize,
}

impl FrameBuilder {
    /// A TCP segment with no flags, no options and no payload.
    pub fn tcp(src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> FrameBuilder {
        FrameBuilder {
            vlans: Vec::new(),
            src,
            dst,
            ipv4_options: Vec::new(),
            ipv6_ext: Vec::new(),
            fragment: None,
            l4: L4::Tcp {
                src_port,
                dst_port,
                flags: TcpFlags::default(),
                options: Vec::new(),
            },
            payload: Vec::new(),
            pad_to: 0,
        }
    }

    /// Set the TCP flags (no effect if the layer 4 is not TCP).
    pub fn flags(mut self, f: TcpFlags) -> FrameBuilder {
        if let L4::Tcp { flags, .. } = &mut self.l4 {
            *flags = f;
        }
        self
    }

    /// Set the TCP options (no effect if the layer 4 is not TCP).
    pub fn tcp_options(mut self, o: &[u8]) -> FrameBuilder {
        if let L4::Tcp { options, .. } = &mut self.l4 {
            *options = o.to_vec();
        }
        self
    }

    /// Replace the layer-4 header.
    pub fn l4(mut self, l4: L4) -> FrameBuilder {
        self.l4 = l4;
        self
    }

    /// Add a VLAN tag inside the ones already there.
    pub fn vlan(mut self, tpid: u16, vid: u16) -> FrameBuilder {
        self.vlans.push((tpid, vid));
        self
    }

    /// Set the IPv4 options.
    pub fn ipv4_options(mut self, o: &[u8]) -> FrameBuilder {
        self.ipv4_options = o.to_vec();
        self
    }

    /// Add an IPv6 extension header after the ones already there.
    pub fn ipv6_ext(mut self, kind: u8, hdr_ext_len: u8) -> FrameBuilder {
        self.ipv6_ext.push((kind, hdr_ext_len));
        self
    }

    /// Make it a fragment.
    pub fn fragment(mut self, offset: u16, more: bool) -> FrameBuilder {
        self.fragment = Some((offset, more));
        self
    }

    /// A payload of `n` octets (0, 1, 2, ... wrapping).
    pub fn payload_len(mut self, n: usize) -> FrameBuilder {
        // Truncation to u8 is the pattern.
        self.payload = (0..n).map(|i| i as u8).collect();
        self
    }

    /// Set the payload.
    pub fn payload(mut self, p: &[u8]) -> FrameBuilder {
        self.payload = p.to_vec();
        self
    }

    /// Pad the frame with zeros to at least `n` octets.
    pub fn pad_to(mut self, n: usize) -> FrameBuilder {
        self.pad_to = n;
        self
    }

    fn is_v6(&self) -> bool {
        self.dst.is_ipv6()
    }

    fn src_v4(&self) -> Ipv4Addr {
        match self.src {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        }
    }

    fn src_v6(&self) -> Ipv6Addr {
        match self.src {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        }
    }

    fn ipv4_options_padded(&self) -> Vec<u8> {
        padded(&self.ipv4_options)
    }

    fn ip_header_len(&self) -> usize {
        if self.is_v6() {
            let ext: usize = self
                .ipv6_ext
                .iter()
                .map(|&(_, l)| (usize::from(l) + 1) * 8)
                .sum();
            40 + ext + if self.fragment.is_some() { 8 } else { 0 }
        } else {
            20 + self.ipv4_options_padded().len()
        }
    }

    fn l4_header(&self) -> Vec<u8> {
        match &self.l4 {
            L4::Tcp {
                src_port,
                dst_port,
                flags,
                options,
            } => {
                let options = padded(options);
                let doff = (20 + options.len()) / 4;
                let mut h = Vec::with_capacity(20 + options.len());
                h.extend_from_slice(&src_port.to_be_bytes());
                h.extend_from_slice(&dst_port.to_be_bytes());
                h.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // seq
                h.extend_from_slice(&(if flags.ack() { 0x0506_0708u32 } else { 0 }).to_be_bytes());
                // doff <= 15 since options are at most 40 octets.
                h.push((doff as u8) << 4);
                h.push(flags.0);
                h.extend_from_slice(&64240u16.to_be_bytes()); // window
                h.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                h.extend_from_slice(&options);
                h
            }
            L4::Udp { src_port, dst_port } => {
                let len = clamp16(8 + self.payload.len());
                let mut h = Vec::with_capacity(8);
                h.extend_from_slice(&src_port.to_be_bytes());
                h.extend_from_slice(&dst_port.to_be_bytes());
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(&[0, 0]);
                h
            }
            L4::Icmp => {
                let kind = if self.is_v6() { 128 } else { 8 };
                vec![kind, 0, 0, 0, 0x12, 0x34, 0, 1]
            }
            L4::Raw(_) => Vec::new(),
        }
    }

    fn protocol(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => IPPROTO_TCP,
            L4::Udp { .. } => IPPROTO_UDP,
            L4::Icmp if self.is_v6() => IPPROTO_ICMPV6,
            L4::Icmp => IPPROTO_ICMP,
            L4::Raw(p) => p,
        }
    }

    /// Where the layers of the built frame start.
    pub fn layout(&self) -> Layout {
        let ip_offset = 14 + 4 * self.vlans.len();
        let l4_offset = ip_offset + self.ip_header_len();
        let payload_offset = l4_offset + self.l4_header().len();
        let ip_end = payload_offset + self.payload.len();
        Layout {
            ip_offset,
            l4_offset,
            payload_offset,
            ip_end,
            frame_len: ip_end.max(self.pad_to),
        }
    }

    /// Write the frame.
    pub fn build(&self) -> Vec<u8> {
        let layout = self.layout();
        let mut f = Vec::with_capacity(layout.frame_len);
        f.extend_from_slice(&DST_MAC);
        f.extend_from_slice(&SRC_MAC);
        for &(tpid, vid) in &self.vlans {
            f.extend_from_slice(&tpid.to_be_bytes());
            f.extend_from_slice(&vid.to_be_bytes());
        }
        let ethertype = if self.is_v6() { ETH_P_IPV6 } else { ETH_P_IPV4 };
        f.extend_from_slice(&ethertype.to_be_bytes());

        let mut l4 = self.l4_header();
        let l4_len = l4.len() + self.payload.len();
        let protocol = self.protocol();
        // The pseudo-header's addresses and the checksum's place in the layer-4 header.
        let (src, dst): (Vec<u8>, Vec<u8>) = if self.is_v6() {
            (
                self.src_v6().octets().to_vec(),
                ipv6_dst(self).octets().to_vec(),
            )
        } else {
            (
                self.src_v4().octets().to_vec(),
                ipv4_dst(self).octets().to_vec(),
            )
        };
        let checksum_at = match self.l4 {
            L4::Tcp { .. } => Some(16),
            L4::Udp { .. } => Some(6),
            L4::Icmp => Some(2),
            L4::Raw(_) => None,
        };
        if let Some(at) = checksum_at {
            let len32 = u32::try_from(l4_len).unwrap_or(u32::MAX).to_be_bytes();
            let proto = [0, 0, 0, protocol];
            let with_pseudo = self.is_v6() || !matches!(self.l4, L4::Icmp);
            let sum = if with_pseudo {
                checksum(&[&src, &dst, &len32, &proto, &l4, &self.payload])
            } else {
                checksum(&[&l4, &self.payload])
            };
            let sum = if sum == 0 && matches!(self.l4, L4::Udp { .. }) {
                0xFFFF
            } else {
                sum
            };
            if let Some(slot) = l4.get_mut(at..at + 2) {
                slot.copy_from_slice(&sum.to_be_bytes());
            }
        }

        if self.is_v6() {
            let ext_len = self.ip_header_len() - 40;
            let mut h = Vec::with_capacity(40 + ext_len);
            h.extend_from_slice(&0x6000_0000u32.to_be_bytes());
            h.extend_from_slice(&clamp16(ext_len + l4_len).to_be_bytes());
            let kinds: Vec<u8> = self
                .ipv6_ext
                .iter()
                .map(|&(k, _)| k)
                .chain(self.fragment.map(|_| IPPROTO_FRAGMENT))
                .chain(std::iter::once(protocol))
                .collect();
            h.push(kinds.first().copied().unwrap_or(protocol));
            h.push(64);
            h.extend_from_slice(&src);
            h.extend_from_slice(&dst);
            for (i, &(_, len)) in self.ipv6_ext.iter().enumerate() {
                let next = kinds.get(i + 1).copied().unwrap_or(protocol);
                let mut e = vec![0u8; (usize::from(len) + 1) * 8];
                if let Some(head) = e.get_mut(..2) {
                    head.copy_from_slice(&[next, len]);
                }
                h.extend_from_slice(&e);
            }
            if let Some((offset, more)) = self.fragment {
                h.extend_from_slice(&[protocol, 0]);
                let field = (offset << 3) | u16::from(more);
                h.extend_from_slice(&field.to_be_bytes());
                h.extend_from_slice(&0xCAFE_F00Du32.to_be_bytes());
            }
            f.extend_from_slice(&h);
        } else {
            let options = self.ipv4_options_padded();
            let header_len = 20 + options.len();
            let mut h = Vec::with_capacity(header_len);
            // header_len / 4 <= 15.
            h.push(0x40 | (header_len / 4) as u8);
            h.push(0);
            h.extend_from_slice(&clamp16(header_len + l4_len).to_be_bytes());
            h.extend_from_slice(&0x1234u16.to_be_bytes());
            let flags_frag = self.fragment.map_or(0x4000, |(offset, more)| {
                (offset & 0x1FFF) | (u16::from(more) << 13)
            });
            h.extend_from_slice(&flags_frag.to_be_bytes());
            h.push(64);
            h.push(protocol);
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&src);
            h.extend_from_slice(&dst);
            h.extend_from_slice(&options);
            let sum = checksum(&[&h]);
            if let Some(slot) = h.get_mut(10..12) {
                slot.copy_from_slice(&sum.to_be_bytes());
            }
            f.extend_from_slice(&h);
        }
        f.extend_from_slice(&l4);
        f.extend_from_slice(&self.payload);
        f.resize(layout.frame_len, 0);
        f
    }
}

fn ipv4_dst(b: &FrameBuilder) -> Ipv4Addr {
    match b.dst {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn ipv6_dst(b: &FrameBuilder) -> Ipv6Addr {
    match b.dst {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// `o` padded with zeros to a multiple of 4 octets, at most 40.
fn padded(o: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = o.iter().copied().take(40).collect();
    v.resize(v.len().div_ceil(4) * 4, 0);
    v
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u64::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    // sum <= 0xFFFF here.
    !(sum as u16)
}

/// An Ethernet frame with `ethertype` and `payload` (no padding).
pub fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A broadcast ARP request (42 octets, unpadded): who has `target`, tell `sender`.
pub fn arp_request(sender_mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    p.extend_from_slice(&sender_mac);
    p.extend_from_slice(&sender);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&target);
    let mut f = ethernet(ETH_P_ARP, &p);
    if let Some(dst) = f.get_mut(..6) {
        dst.copy_from_slice(&[0xFF; 6]);
    }
    if let Some(src) = f.get_mut(6..12) {
        src.copy_from_slice(&sender_mac);
    }
    f
}

/// An ARP reply (42 octets, unpadded): `sender` is at `sender_mac`, to `target` at
/// `target_mac`.
pub fn arp_reply(
    sender_mac: [u8; 6],
    sender: [u8; 4],
    target_mac: [u8; 6],
    target: [u8; 4],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    p.extend_from_slice(&sender_mac);
    p.extend_from_slice(&sender);
    p.extend_from_slice(&target_mac);
    p.extend_from_slice(&target);
    let mut f = ethernet(ETH_P_ARP, &p);
    if let Some(dst) = f.get_mut(..6) {
        dst.copy_from_slice(&target_mac);
    }
    if let Some(src) = f.get_mut(6..12) {
        src.copy_from_slice(&sender_mac);
    }
    f
}

/// The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 with the low 24 bits
/// of `addr` (RFC 4291).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// An ICMPv6 Neighbor Solicitation from `src` for `target` as a host sends it: to the
/// target's solicited-node multicast address (and its 33:33:ff MAC with the same low 24
/// bits), hop limit 255, with a source link-layer address option ([`SRC_MAC`]) and its
/// checksum.
pub fn neighbor_solicitation(src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst = solicited_node(target);
    let mut body = vec![135, 0, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&target.octets());
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&SRC_MAC);
    let b = FrameBuilder::tcp(IpAddr::V6(src), 0, IpAddr::V6(dst), 0)
        .l4(L4::Raw(IPPROTO_ICMPV6))
        .payload(&body);
    let layout = b.layout();
    let mut f = b.build();
    let len = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    let sum = checksum(&[
        &src.octets(),
        &dst.octets(),
        &len,
        &[0, 0, 0, IPPROTO_ICMPV6],
        &body,
    ]);
    let at = layout.payload_offset + 2;
    if let Some(slot) = f.get_mut(at..at + 2) {
        slot.copy_from_slice(&sum.to_be_bytes());
    }
    if let Some(hop_limit) = f.get_mut(layout.ip_offset + 7) {
        *hop_limit = 255;
    }
    let d = dst.octets();
    if let Some(mac) = f.get_mut(..6) {
        mac.copy_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_verifies() {
        let b = FrameBuilder::tcp(
            "192.0.2.1".parse().unwrap(),
            1,
            "192.0.2.2".parse().unwrap(),
            2,
        )
        .ipv4_options(&[1, 1, 1]);
        let f = b.build();
        let l = b.layout();
        // A header with its checksum sums to zero.
        assert_eq!(checksum(&[&f[l.ip_offset..l.l4_offset]]), 0);
        assert_eq!(l.l4_offset - l.ip_offset, 24);
    }

    #[test]
    fn tcp_checksum_verifies_over_the_pseudo_header() {
        for (src, dst) in [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")] {
            let src: IpAddr = src.parse().unwrap();
            let dst: IpAddr = dst.parse().unwrap();
            let b = FrameBuilder::tcp(src, 1000, dst, 80)
                .flags(TcpFlags::ACK)
                .payload_len(33);
            let f = b.build();
            let l = b.layout();
            let seg = &f[l.l4_offset..l.ip_end];
            let (s, d) = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
                (IpAddr::V6(s), IpAddr::V6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
                _ => unreachable!(),
            };
            let len = (seg.len() as u32).to_be_bytes();
            assert_eq!(checksum(&[&s, &d, &len, &[0, 0, 0, 6], seg]), 0);
        }
    }

    #[test]
    fn neighbor_solicitation_is_well_formed() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::12:3456".parse().unwrap();
        let f = neighbor_solicitation(src, target);
        assert_eq!(&f[..6], &[0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        let dst: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!(&f[14 + 24..14 + 40], &dst.octets());
        assert_eq!(f[14 + 6], IPPROTO_ICMPV6);
        assert_eq!(f[14 + 7], 255);
        let icmp = &f[54..];
        assert_eq!(icmp.len(), 32);
        assert_eq!(icmp[0], 135);
        assert_eq!(&icmp[8..24], &target.octets());
        let len = (icmp.len() as u32).to_be_bytes();
        assert_eq!(
            checksum(&[&src.octets(), &dst.octets(), &len, &[0, 0, 0, 58], icmp]),
            0
        );
        let reply = arp_reply(SRC_MAC, [10, 0, 0, 1], DST_MAC, [10, 0, 0, 2]);
        assert_eq!(reply.len(), 42);
        assert_eq!(&reply[20..22], &[0, 2]);
        assert_eq!(&reply[38..42], &[10, 0, 0, 2]);
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2, complement 220d.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2], &[0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            0x220d
        );
    }

    #[test]
    fn mixed_families_take_the_destination_family() {
        let b = FrameBuilder::tcp(
            "192.0.2.1".parse().unwrap(),
            1,
            "2001:db8::2".parse().unwrap(),
            2,
        );
        let f = b.build();
        assert_eq!(&f[12..14], &ETH_P_IPV6.to_be_bytes());
        assert_eq!(
            &f[14 + 8..14 + 24],
            &"::ffff:192.0.2.1".parse::<Ipv6Addr>().unwrap().octets()
        );
    }
}
