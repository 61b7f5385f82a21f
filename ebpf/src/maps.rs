//! Map layouts shared with the C programs (`bpf/mmsc_maps.h`): the same `#[repr(C)]` structs,
//! their sizes asserted here and with `_Static_assert` there, and the map names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mmsc_classify::{DropReason, Slow};

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
pub(crate) const MAP_OWNED: &str = "mmsc_owned";
pub(crate) const MAP_RP_SOCKS: &str = "mmsc_rp_socks";
pub(crate) const MAP_RP_CONFIG: &str = "mmsc_rp_config";

/// `MMSC_STAT_*` indices of `mmsc_stats` (the layout of step 6 of the rule set in
/// `mmsc_classify`): drops at `DropReason::index`, then the redirects, then the slow-path
/// reasons at `STAT_SLOW_BASE + Slow::index`.
pub(crate) const STAT_NOT_PEER: u32 = 0;
pub(crate) const STAT_SYN_RATE: u32 = 1;
pub(crate) const STAT_REDIRECTED: u32 = 4;
pub(crate) const STAT_REDIRECT_NO_SOCKET: u32 = 5;
pub(crate) const STAT_REDIRECTED_OWNED: u32 = 6;
pub(crate) const STAT_SLOW_BASE: u32 = 8;
pub(crate) const STAT_COUNT: u32 = 16;

const _: () = assert!(STAT_NOT_PEER as usize == DropReason::NotPeer as usize);
const _: () = assert!(STAT_SYN_RATE as usize == DropReason::SynRate as usize);
// Drop reasons have indices 0..4, before STAT_REDIRECTED.
const _: () = assert!(DropReason::COUNT <= STAT_REDIRECTED as usize);
const _: () = assert!(STAT_SLOW_BASE as usize + Slow::COUNT <= STAT_COUNT as usize);

/// `MMSC_FAMILY_*`: the family byte of the listener and SYN bucket keys.
pub(crate) const FAMILY_V4: u8 = 4;
pub(crate) const FAMILY_V6: u8 = 6;

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
/// Entries of the owned-address map: at most this many addresses
/// ([`XdpProgram::set_owned_addresses`](crate::XdpProgram::set_owned_addresses)).
pub const MAX_OWNED: usize = 64;

/// `struct mmsc_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConfigValue {
    pub mode: u32,
    pub syn_rate: u32,
    pub syn_burst: u32,
    pub _pad: u32,
}

/// `struct mmsc_listener_key`: (family, address, port); the address IPv6, or v4-mapped for
/// IPv4 (the family keeps them apart); port in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ListenerKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub family: u8,
    pub _pad: u8,
}

impl ListenerKey {
    /// The exact key of `addr`:`port`.
    pub(crate) fn exact(addr: IpAddr, port: u16) -> ListenerKey {
        ListenerKey {
            addr: addr16(addr),
            port,
            family: family(addr),
            _pad: 0,
        }
    }

    /// The wildcard key of a family: its unspecified address.
    pub(crate) fn wildcard(v4: bool, port: u16) -> ListenerKey {
        let any = if v4 {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        };
        ListenerKey::exact(any, port)
    }
}

/// `struct mmsc_owned_key`: (family, address), the address IPv6, or v4-mapped for IPv4.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct OwnedKey {
    pub addr: [u8; 16],
    pub family: u8,
    pub _pad: [u8; 3],
}

impl OwnedKey {
    pub(crate) fn new(addr: IpAddr) -> OwnedKey {
        OwnedKey {
            addr: addr16(addr),
            family: family(addr),
            _pad: [0; 3],
        }
    }

    /// The address the key stands for.
    pub(crate) fn addr(&self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.addr);
        match (self.family, v6.to_ipv4_mapped()) {
            (FAMILY_V4, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(v6),
        }
    }
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
// SAFETY: as above: #[repr(C)] integers and a byte array, no implicit padding (20 bytes:
// 16 + 2 + 1 + 1, alignment 2).
unsafe impl aya::Pod for ListenerKey {}
// SAFETY: as above: #[repr(C)] byte arrays and a byte, no implicit padding (20 bytes,
// alignment 1).
unsafe impl aya::Pod for OwnedKey {}
// SAFETY: as above: #[repr(C)], two u64, no padding.
unsafe impl aya::Pod for CounterValue {}
// SAFETY: as above: #[repr(C)], two u32, no padding.
unsafe impl aya::Pod for RpConfigValue {}

const _: () = assert!(size_of::<ConfigValue>() == 16);
const _: () = assert!(size_of::<ListenerKey>() == 20);
const _: () = assert!(size_of::<CounterValue>() == 16);
const _: () = assert!(size_of::<OwnedKey>() == 20);
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

/// The family byte of an address in map keys.
pub(crate) fn family(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => FAMILY_V4,
        IpAddr::V6(_) => FAMILY_V6,
    }
}

#[cfg(test)]
mod tests {
    use mmsc_classify::Class;

    use super::*;

    /// The `#define NAME VALUE` lines of the C header.
    fn defines() -> Vec<(String, u64)> {
        include_str!("../bpf/mmsc_maps.h")
            .lines()
            .filter_map(|line| {
                let mut words = line.strip_prefix("#define ")?.split_whitespace();
                let name = words.next()?.to_owned();
                let value = words.next()?.parse().ok()?;
                Some((name, value))
            })
            .collect()
    }

    fn define(name: &str) -> u64 {
        defines()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no #define {name} in mmsc_maps.h"))
            .1
    }

    #[test]
    fn the_c_header_has_the_same_numbers() {
        for class in Class::ALL {
            let name = format!("MMSC_CLASS_{}", class.name().to_uppercase());
            assert_eq!(define(&name), class.index() as u64, "{name}");
        }
        assert_eq!(define("MMSC_CLASS_COUNT"), Class::COUNT as u64);
        for reason in Slow::ALL {
            let name = format!("MMSC_SLOW_{}", reason.name().to_uppercase());
            assert_eq!(define(&name), reason.index() as u64, "{name}");
        }
        assert_eq!(define("MMSC_SLOW_COUNT"), Slow::COUNT as u64);
        for reason in DropReason::ALL {
            let name = format!("MMSC_STAT_{}", reason.name().to_uppercase());
            assert_eq!(define(&name), reason.index() as u64, "{name}");
        }
        for (name, value) in [
            ("MMSC_STAT_REDIRECTED", STAT_REDIRECTED),
            ("MMSC_STAT_REDIRECT_NO_SOCKET", STAT_REDIRECT_NO_SOCKET),
            ("MMSC_STAT_REDIRECTED_OWNED", STAT_REDIRECTED_OWNED),
            ("MMSC_STAT_SLOW_BASE", STAT_SLOW_BASE),
            ("MMSC_STAT_COUNT", STAT_COUNT),
            ("MMSC_MODE_PASS", MODE_PASS),
            ("MMSC_MODE_REDIRECT", MODE_REDIRECT),
        ] {
            assert_eq!(define(name), u64::from(value), "{name}");
        }
        assert_eq!(define("MMSC_FAMILY_V4"), u64::from(FAMILY_V4));
        assert_eq!(define("MMSC_FAMILY_V6"), u64::from(FAMILY_V6));
        assert_eq!(define("MMSC_MAX_LISTENERS"), MAX_LISTENERS as u64);
        assert_eq!(define("MMSC_MAX_PEERS"), MAX_PEERS as u64);
        assert_eq!(define("MMSC_MAX_QUEUES"), u64::from(MAX_QUEUES));
        assert_eq!(define("MMSC_MAX_CORES"), MAX_CORES as u64);
        assert_eq!(define("MMSC_MAX_OWNED"), MAX_OWNED as u64);
    }

    #[test]
    fn listener_keys_keep_the_families_apart() {
        let v4 = ListenerKey::exact("192.0.2.1".parse().unwrap(), 25);
        let mapped = ListenerKey::exact("::ffff:192.0.2.1".parse().unwrap(), 25);
        assert_eq!(v4.addr, mapped.addr);
        assert_ne!(v4, mapped);
        assert_eq!((v4.family, mapped.family), (FAMILY_V4, FAMILY_V6));
        assert_eq!(
            ListenerKey::wildcard(true, 25).addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]
        );
        assert_eq!(ListenerKey::wildcard(false, 25).addr, [0; 16]);
        assert_eq!(ListenerKey::wildcard(false, 25).family, FAMILY_V6);
    }

    #[test]
    fn owned_keys_keep_the_families_apart_and_round_trip() {
        for a in [
            "10.0.0.2",
            "::ffff:10.0.0.2",
            "2001:db8::2",
            "0.0.0.0",
            "::",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            assert_eq!(OwnedKey::new(addr).addr(), addr, "{a}");
        }
        let v4 = OwnedKey::new("10.0.0.2".parse().unwrap());
        let mapped = OwnedKey::new("::ffff:10.0.0.2".parse().unwrap());
        assert_eq!(v4.addr, mapped.addr);
        assert_ne!(v4, mapped);
        assert_eq!((v4.family, mapped.family), (FAMILY_V4, FAMILY_V6));
    }
}
