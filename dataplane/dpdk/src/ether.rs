//! A zero-copy view of the Ethernet header at the start of a frame, for a quick look at a
//! received mbuf (full parsing belongs to the classifier and smoltcp).

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The 14-byte Ethernet II header, in network byte order, over the frame's own bytes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct EtherHeader {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
    /// EtherType (0x0800 IPv4, 0x0806 ARP, 0x86dd IPv6, 0x8100 VLAN, ...).
    pub ether_type: U16,
}

impl EtherHeader {
    /// EtherType of IPv4.
    pub const IPV4: u16 = 0x0800;
    /// EtherType of ARP.
    pub const ARP: u16 = 0x0806;
    /// EtherType of IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// EtherType of an 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;

    /// The header at the start of `frame`, `None` if `frame` is shorter than 14 bytes.
    pub fn view(frame: &[u8]) -> Option<&EtherHeader> {
        EtherHeader::ref_from_prefix(frame).ok().map(|(h, _)| h)
    }

    /// The EtherType as a number.
    pub fn ether_type(&self) -> u16 {
        self.ether_type.get()
    }

    /// Whether the destination is a broadcast or multicast address.
    pub fn is_multicast(&self) -> bool {
        self.dst[0] & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_a_frame_in_place() {
        let mut frame = [0u8; 60];
        frame[..6].copy_from_slice(&[0xff; 6]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        frame[12..14].copy_from_slice(&[0x08, 0x06]);
        let h = EtherHeader::view(&frame).unwrap();
        assert_eq!(h.ether_type(), EtherHeader::ARP);
        assert_eq!(h.src, [0x02, 0, 0, 0, 0, 1]);
        assert!(h.is_multicast());
        assert!(std::ptr::eq(h.dst.as_ptr(), frame.as_ptr()));
        assert!(EtherHeader::view(&frame[..13]).is_none());
    }
}
