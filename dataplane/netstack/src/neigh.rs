//! Neighbours learnt from outside smoltcp's own ARP / NDP exchanges.
//!
//! smoltcp fills its neighbour cache only from ARP and NDP messages aimed at it. With several
//! cores serving one address, a peer's ARP reply reaches one receive queue, hence one core:
//! the others would never learn where to send. So each core *gleans* the (address, MAC) of the
//! frames it receives (a peer that sends us a SYN is where the SYN-ACK goes), and hands them to
//! smoltcp as a synthetic ARP reply or neighbour advertisement, fed through the interface like
//! a received frame (whatever smoltcp would answer to it is discarded).

use smoltcp::iface::{Interface, PollIngressSingleResult, SocketSet};
use smoltcp::phy::{ChecksumCapabilities, DeviceCapabilities, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Address, Ipv6Address,
    Ipv6Packet, Ipv6Repr, NdiscNeighborFlags, NdiscRepr,
};

use crate::table::OneFrame;

/// The source (address, MAC) of an untagged IPv4 or IPv6 frame, when its MAC is unicast.
pub(crate) fn source_of(frame: &[u8]) -> Option<(IpAddress, EthernetAddress)> {
    let mac = EthernetAddress::from_bytes(frame.get(6..12)?);
    if !mac.is_unicast() {
        return None;
    }
    let ip = match frame.get(12..14)? {
        [0x08, 0x00] => {
            let b: [u8; 4] = frame.get(26..30)?.try_into().ok()?;
            IpAddress::Ipv4(Ipv4Address::from(b))
        }
        [0x86, 0xDD] => {
            let b: [u8; 16] = frame.get(22..38)?.try_into().ok()?;
            IpAddress::Ipv6(Ipv6Address::from(b))
        }
        _ => return None,
    };
    ip.is_unicast().then_some((ip, mac))
}

/// A frame that tells smoltcp `ip` is at `mac`: an ARP reply to `ours` (IPv4), or an
/// unsolicited neighbour advertisement with the override flag to `ours` (IPv6). `None` when
/// the families differ.
pub(crate) fn announcement(
    ip: IpAddress,
    mac: EthernetAddress,
    ours: IpAddress,
    our_mac: EthernetAddress,
) -> Option<Vec<u8>> {
    match (ip, ours) {
        (IpAddress::Ipv4(ip), IpAddress::Ipv4(ours)) => {
            let arp = ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: mac,
                source_protocol_addr: ip,
                target_hardware_addr: our_mac,
                target_protocol_addr: ours,
            };
            let eth = EthernetRepr {
                src_addr: mac,
                dst_addr: our_mac,
                ethertype: EthernetProtocol::Arp,
            };
            let mut buf = vec![0; eth.buffer_len() + arp.buffer_len()];
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut frame);
            arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
            Some(buf)
        }
        (IpAddress::Ipv6(ip), IpAddress::Ipv6(ours)) => {
            let icmp = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                flags: NdiscNeighborFlags::OVERRIDE,
                target_addr: ip,
                lladdr: Some(mac.into()),
            });
            let ipr = Ipv6Repr {
                src_addr: ip,
                dst_addr: ours,
                next_header: IpProtocol::Icmpv6,
                payload_len: icmp.buffer_len(),
                hop_limit: 255,
            };
            let eth = EthernetRepr {
                src_addr: mac,
                dst_addr: our_mac,
                ethertype: EthernetProtocol::Ipv6,
            };
            let mut buf = vec![0; eth.buffer_len() + ipr.buffer_len() + icmp.buffer_len()];
            let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
            eth.emit(&mut frame);
            let mut p = Ipv6Packet::new_unchecked(frame.payload_mut());
            ipr.emit(&mut p);
            icmp.emit(
                &ip,
                &ours,
                &mut Icmpv6Packet::new_unchecked(p.payload_mut()),
                &ChecksumCapabilities::default(),
            );
            Some(buf)
        }
        _ => None,
    }
}

/// Feed `frame` to the interface as if received; what it would send in answer is dropped.
pub(crate) fn inject(
    iface: &mut Interface,
    sockets: &mut SocketSet<'_>,
    caps: &DeviceCapabilities,
    frame: &[u8],
    now: Instant,
) -> bool {
    let mut dev = OneFrame {
        frame: Some(frame),
        tx: Some(Discard),
        caps,
    };
    iface.poll_ingress_single(now, &mut dev, sockets) != PollIngressSingleResult::None
}

/// A transmission thrown away.
struct Discard;

impl TxToken for Discard {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        f(&mut vec![0; len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_frames() {
        let mut f = vec![0u8; 60];
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[26..30].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(
            source_of(&f),
            Some((
                IpAddress::v4(10, 0, 0, 9),
                EthernetAddress([2, 0, 0, 0, 0, 9])
            ))
        );
        // Multicast source MAC, ARP, VLAN, truncated: nothing.
        let mut m = f.clone();
        m[6] = 1;
        assert_eq!(source_of(&m), None);
        for et in [[0x08, 0x06], [0x81, 0x00]] {
            let mut o = f.clone();
            o[12..14].copy_from_slice(&et);
            assert_eq!(source_of(&o), None);
        }
        assert_eq!(source_of(&f[..29]), None);
        // A multicast or unspecified source address: nothing.
        let mut z = f.clone();
        z[26..30].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(source_of(&z), None);
        // IPv6.
        let mut s = vec![0u8; 80];
        s[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        s[12..14].copy_from_slice(&[0x86, 0xDD]);
        s[22] = 0xfd;
        s[37] = 9;
        assert_eq!(
            source_of(&s).map(|(ip, _)| ip),
            Some(IpAddress::Ipv6(Ipv6Address::new(
                0xfd00, 0, 0, 0, 0, 0, 0, 9
            )))
        );
        assert_eq!(source_of(&s[..37]), None);
    }

    #[test]
    fn announcements_parse_back() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 9]);
        let ours = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let f = announcement(
            IpAddress::v4(10, 0, 0, 9),
            mac,
            IpAddress::v4(10, 0, 0, 1),
            ours,
        )
        .unwrap();
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        let arp = ArpRepr::parse(&ArpPacket::new_checked(e.payload()).unwrap()).unwrap();
        assert!(matches!(
            arp,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr,
                ..
            } if source_hardware_addr == mac
        ));
        let v6 = |n| IpAddress::Ipv6(Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, n));
        let f = announcement(v6(9), mac, v6(1), ours).unwrap();
        let e = EthernetFrame::new_checked(&f[..]).unwrap();
        let p = Ipv6Packet::new_checked(e.payload()).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        let icmp = Icmpv6Repr::parse(
            &r.src_addr,
            &r.dst_addr,
            &Icmpv6Packet::new_checked(p.payload()).unwrap(),
            &ChecksumCapabilities::default(),
        )
        .unwrap();
        assert!(matches!(
            icmp,
            Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { lladdr: Some(l), .. })
                if l == mac.into()
        ));
        assert_eq!(
            announcement(v6(9), mac, IpAddress::v4(10, 0, 0, 1), ours),
            None
        );
    }
}
