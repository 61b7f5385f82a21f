//! Zero-copy views of the headers the classifier reads.
//!
//! Each view is a `#[repr(C)]` struct of byte arrays and network-endian integers, so it has
//! alignment 1 and no padding, and any byte sequence of its size is a valid value: a view is
//! taken with [`zerocopy::FromBytes::ref_from_prefix`], which fails only when the bytes are
//! too short. The accessors never panic. The sizes are asserted at compile time (they are
//! the wire sizes, and the BPF side declares the same structs).

use zerocopy::byteorder::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// EtherType of IPv4.
pub const ETH_P_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86DD;
/// EtherType of ARP (never classified; named for tests and counters).
pub const ETH_P_ARP: u16 = 0x0806;
/// Tag protocol identifier of an IEEE 802.1Q (customer) VLAN tag.
pub const ETH_P_8021Q: u16 = 0x8100;
/// Tag protocol identifier of an IEEE 802.1ad (service, "QinQ" outer) VLAN tag.
pub const ETH_P_8021AD: u16 = 0x88A8;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6 next header: Hop-by-Hop Options.
pub const IPPROTO_HOPOPTS: u8 = 0;
/// IPv6 next header: Routing.
pub const IPPROTO_ROUTING: u8 = 43;
/// IPv6 next header: Fragment.
pub const IPPROTO_FRAGMENT: u8 = 44;
/// IP protocol number of ESP.
pub const IPPROTO_ESP: u8 = 50;
/// IP protocol number of AH.
pub const IPPROTO_AH: u8 = 51;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// IPv6 next header: No Next Header.
pub const IPPROTO_NONE: u8 = 59;
/// IPv6 next header: Destination Options.
pub const IPPROTO_DSTOPTS: u8 = 60;

/// Ethernet II header (without the FCS, which NICs strip).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct EthernetHeader {
    /// Destination MAC address.
    pub dst: [u8; 6],
    /// Source MAC address.
    pub src: [u8; 6],
    /// EtherType, or the TPID of the first VLAN tag.
    pub ethertype: U16,
}

/// The part of an 802.1Q / 802.1ad VLAN tag that follows its TPID (the TPID sits where the
/// EtherType of the enclosing header is).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct VlanTag {
    /// Tag control information: priority (3 bits), DEI (1), VLAN id (12).
    pub tci: U16,
    /// EtherType of what follows, or the TPID of the next tag.
    pub ethertype: U16,
}

impl VlanTag {
    /// The VLAN identifier (low 12 bits of the TCI).
    pub fn vid(&self) -> u16 {
        self.tci.get() & 0x0FFF
    }
}

/// IPv4 header, without options (RFC 791).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv4Header {
    /// Version (high 4 bits) and IHL, the header length in 32-bit words (low 4 bits).
    pub version_ihl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    /// Length of the whole packet (header, options, payload) in octets.
    pub total_len: U16,
    /// Identification (for reassembly).
    pub id: U16,
    /// Flags (reserved, DF, MF: high 3 bits) and fragment offset in 8-octet units (low 13).
    pub flags_frag: U16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload.
    pub protocol: u8,
    /// Header checksum (not verified here: the kernel or the NIC does).
    pub checksum: U16,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

impl Ipv4Header {
    /// The More Fragments flag.
    pub const MF: u16 = 0x2000;
    /// The Don't Fragment flag.
    pub const DF: u16 = 0x4000;
    /// Mask of the fragment offset.
    pub const OFFSET_MASK: u16 = 0x1FFF;

    /// The version field (4 for a valid header).
    pub fn version(&self) -> u8 {
        self.version_ihl >> 4
    }

    /// The header length in octets (IHL × 4; at least 20 for a valid header).
    pub fn header_len(&self) -> usize {
        usize::from(self.version_ihl & 0x0F) * 4
    }

    /// The fragment offset in 8-octet units.
    pub fn fragment_offset(&self) -> u16 {
        self.flags_frag.get() & Self::OFFSET_MASK
    }

    /// Whether More Fragments is set.
    pub fn more_fragments(&self) -> bool {
        self.flags_frag.get() & Self::MF != 0
    }

    /// Whether this packet is a fragment (first, middle or last): MF set or offset non-zero.
    pub fn is_fragment(&self) -> bool {
        self.flags_frag.get() & (Self::MF | Self::OFFSET_MASK) != 0
    }
}

/// IPv6 fixed header (RFC 8200).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv6Header {
    /// Version (4 bits), traffic class (8), flow label (20).
    pub vtc_flow: U32,
    /// Length of what follows the fixed header (extension headers and payload).
    pub payload_len: U16,
    /// Type of the first extension header or of the payload.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

impl Ipv6Header {
    /// The version field (6 for a valid header).
    pub fn version(&self) -> u8 {
        // The shift leaves 4 bits, so the cast keeps them all.
        (self.vtc_flow.get() >> 28) as u8
    }
}

/// The common start of the IPv6 extension headers that carry a length in 8-octet units
/// beyond the first 8 (Hop-by-Hop, Routing, Destination Options), and of the Fragment header
/// (always 8 octets). The first 8 octets are always present.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Ipv6ExtHeader {
    /// Type of the next header.
    pub next_header: u8,
    /// Length in 8-octet units, not counting the first 8 octets.
    pub hdr_ext_len: u8,
    /// The rest of the first 8 octets (options, routing type, fragment fields...).
    pub data: [u8; 6],
}

impl Ipv6ExtHeader {
    /// The length of the whole extension header in octets: (hdr_ext_len + 1) × 8, 8..=2048.
    /// (Meaningless for the Fragment header, whose length is always 8.)
    pub fn len(&self) -> usize {
        (usize::from(self.hdr_ext_len) + 1) * 8
    }

    /// Never empty: at least the 8 octets of this view (for clippy's `len` without
    /// `is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// TCP header without options (RFC 9293).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq: U32,
    /// Acknowledgment number.
    pub ack: U32,
    /// Data offset in 32-bit words (high 4 bits), reserved and AE (low 4).
    pub data_offset: u8,
    /// Flags: CWR ECE URG ACK PSH RST SYN FIN, high bit to low.
    pub flags: u8,
    /// Receive window.
    pub window: U16,
    /// Checksum (not verified here).
    pub checksum: U16,
    /// Urgent pointer.
    pub urgent: U16,
}

impl TcpHeader {
    /// The header length in octets (data offset × 4; at least 20 for a valid header).
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset >> 4) * 4
    }
}

const _: () = {
    assert!(size_of::<EthernetHeader>() == 14);
    assert!(size_of::<VlanTag>() == 4);
    assert!(size_of::<Ipv4Header>() == 20);
    assert!(size_of::<Ipv6Header>() == 40);
    assert!(size_of::<Ipv6ExtHeader>() == 8);
    assert!(size_of::<TcpHeader>() == 20);
};
