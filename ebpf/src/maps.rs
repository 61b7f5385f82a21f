//! Map layouts shared with the C programs (`bpf/mmsc_maps.h`): the same `#[repr(C)]` structs,
//! their sizes asserted here and with `_Static_assert` there, and the map names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Name of the XDP program (the C function; the kernel shows it as the program name).
pub(crate) const XDP_PROGRAM: &str = "mmsc_xdp";
/// Name of the SK_REUSEPORT program.
pub(crate) const REUSEPORT_PROGRAM: &str = "mmsc_reuseport";

pub(crate) const MAP_CONFIG: &str = "mmsc_config";
pub(crate) const MAP_LISTENERS: &str = "mmsc_listeners";
pub(crate) const MAP_PEERS_V4: &str = "mmsc_peers_v4";
pub(crate) const MAP_PEERS_V6: &str = "mmsc_peers_v6";
pub(crate) const MAP_CLASSES: &str = "mmsc_classes";
pub(crate) const MAP_STATS: &str = "mmsc_stats";
pub(crate) const MAP_XSKS: &str = "mmsc_xsks";
pub(crate) const MAP_RP_SOCKS: &str = "mmsc_rp_socks";
pub(crate) const MAP_RP_CONFIG: &str = "mmsc_rp_config";

/// `MMSC_STAT_*` indices of `mmsc_stats`.
pub(crate) const STAT_NOT_PEER: u32 = 0;
pub(crate) const STAT_SYN_RATE: u32 = 1;
pub(crate) const STAT_SLOW_PATH: u32 = 2;
pub(crate) const STAT_MALFORMED: u32 = 3;
pub(crate) const STAT_REDIRECTED: u32 = 4;

pub(crate) const MODE_PASS: u32 = 0;
pub(crate) const MODE_REDIRECT: u32 = 1;

/// `MMSC_MAX_*` of the C header: the maps' sizes.
pub const MAX_LISTENERS: usize = 256;
/// Entries of each MM4 peer trie (IPv4 and IPv6 separately).
pub const MAX_PEERS: usize = 4096;
/// Entries of the XSKMAP: receive queues 0..MAX_QUEUES can have an AF_XDP socket.
pub const MAX_QUEUES: u32 = 64;
/// Entries of the reuseport socket array: at most this many cores.
pub const MAX_CORES: usize = 64;

/// `struct mmsc_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConfigValue {
    pub mode: u32,
    pub syn_rate: u32,
    pub syn_burst: u32,
    pub _pad: u32,
}

/// `struct mmsc_listener_key`: IPv6 or v4-mapped address, port in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ListenerKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub _pad: u16,
}

/// `struct mmsc_counter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CounterValue {
    pub packets: u64,
    pub bytes: u64,
}

/// `struct mmsc_rp_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RpConfigValue {
    pub cores: u32,
    pub _pad: u32,
}

// SAFETY: #[repr(C)], only integer fields, no padding bytes (sizes asserted below), every bit
// pattern is valid: aya may copy these to and from the kernel as plain bytes.
unsafe impl aya::Pod for ConfigValue {}
// SAFETY: as above: #[repr(C)] integers and a byte array, no implicit padding (20 bytes).
unsafe impl aya::Pod for ListenerKey {}
// SAFETY: as above: #[repr(C)], two u64, no padding.
unsafe impl aya::Pod for CounterValue {}
// SAFETY: as above: #[repr(C)], two u32, no padding.
unsafe impl aya::Pod for RpConfigValue {}

const _: () = assert!(size_of::<ConfigValue>() == 16);
const _: () = assert!(size_of::<ListenerKey>() == 20);
const _: () = assert!(size_of::<CounterValue>() == 16);
const _: () = assert!(size_of::<RpConfigValue>() == 8);
// struct mmsc_lpm_v4 / mmsc_lpm_v6 are aya's lpm_trie::Key<[u8; 4]> / Key<[u8; 16]>.
const _: () = assert!(size_of::<aya::maps::lpm_trie::Key<[u8; 4]>>() == 8);
const _: () = assert!(size_of::<aya::maps::lpm_trie::Key<[u8; 16]>>() == 20);

/// The 16-byte form of an address used in map keys: IPv6 as is, IPv4 v4-mapped.
pub(crate) fn addr16(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The wildcard key address of a family: `::ffff:0.0.0.0` (IPv4) or `::` (IPv6).
pub(crate) fn wildcard16(v4: bool) -> [u8; 16] {
    if v4 {
        addr16(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else {
        Ipv6Addr::UNSPECIFIED.octets()
    }
}
