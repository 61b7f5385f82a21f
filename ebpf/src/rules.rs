//! `Rules` translated into the contents of the XDP program's maps. Pure: unit-tested without
//! BPF.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mmsc_classify::{Mode, Rules};

use crate::EbpfError;
use crate::maps::{
    ConfigValue, ListenerKey, MAX_LISTENERS, MAX_PEERS, MODE_PASS, MODE_REDIRECT, addr16,
    wildcard16,
};

/// What the maps must hold for a set of rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapContents {
    pub config: ConfigValue,
    /// listener key -> class counter index.
    pub listeners: BTreeMap<ListenerKey, u32>,
    /// IPv4 peer prefixes: (prefix length, network with host bits cleared).
    pub peers_v4: Vec<(u32, [u8; 4])>,
    /// IPv6 peer prefixes.
    pub peers_v6: Vec<(u32, [u8; 16])>,
}

impl MapContents {
    /// Validates `rules` and lays them out as map entries.
    ///
    /// Listeners: `addr: None` matches any destination of both families; an unspecified
    /// address (`0.0.0.0`, `::`) matches any destination of its family, as a bind to it
    /// does. An exact address beats a wildcard. When two listeners give the same key, the
    /// first one in the list wins. `syn_burst` 0 with a rate counts as 1.
    pub(crate) fn from_rules(rules: &Rules) -> Result<Self, EbpfError> {
        let mut listeners = BTreeMap::new();
        for listener in &rules.listeners {
            let class = listener.class.index() as u32;
            let addrs: Vec<[u8; 16]> = match listener.addr {
                None => vec![wildcard16(true), wildcard16(false)],
                Some(addr) if addr.is_unspecified() => vec![wildcard16(addr.is_ipv4())],
                Some(addr) => vec![addr16(addr)],
            };
            for addr in addrs {
                let key = ListenerKey {
                    addr,
                    port: listener.port,
                    _pad: 0,
                };
                listeners.entry(key).or_insert(class);
            }
        }
        if listeners.len() > MAX_LISTENERS {
            return Err(EbpfError::InvalidRules(format!(
                "{} listener entries (a wildcard listener takes two), at most {MAX_LISTENERS}",
                listeners.len()
            )));
        }

        let mut peers_v4 = Vec::new();
        let mut peers_v6 = Vec::new();
        for prefix in &rules.mm4_peers {
            match prefix.addr {
                IpAddr::V4(v4) => {
                    if prefix.len > 32 {
                        return Err(EbpfError::InvalidRules(format!(
                            "MM4 peer prefix {}/{}: an IPv4 prefix length is at most 32",
                            prefix.addr, prefix.len
                        )));
                    }
                    let mask = u32::MAX
                        .checked_shl(32 - u32::from(prefix.len))
                        .unwrap_or(0);
                    let net = (u32::from(v4) & mask).to_be_bytes();
                    let entry = (u32::from(prefix.len), net);
                    if !peers_v4.contains(&entry) {
                        peers_v4.push(entry);
                    }
                }
                IpAddr::V6(v6) => {
                    if prefix.len > 128 {
                        return Err(EbpfError::InvalidRules(format!(
                            "MM4 peer prefix {}/{}: an IPv6 prefix length is at most 128",
                            prefix.addr, prefix.len
                        )));
                    }
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(prefix.len))
                        .unwrap_or(0);
                    let net = (u128::from(v6) & mask).to_be_bytes();
                    let entry = (u32::from(prefix.len), net);
                    if !peers_v6.contains(&entry) {
                        peers_v6.push(entry);
                    }
                }
            }
        }
        if peers_v4.len() > MAX_PEERS || peers_v6.len() > MAX_PEERS {
            return Err(EbpfError::InvalidRules(format!(
                "{} IPv4 and {} IPv6 MM4 peer prefixes, at most {MAX_PEERS} of each",
                peers_v4.len(),
                peers_v6.len()
            )));
        }

        let config = ConfigValue {
            mode: match rules.mode {
                Mode::Pass => MODE_PASS,
                Mode::Redirect => MODE_REDIRECT,
            },
            syn_rate: rules.syn_rate,
            syn_burst: if rules.syn_rate > 0 {
                rules.syn_burst.max(1)
            } else {
                rules.syn_burst
            },
            _pad: 0,
        };
        Ok(Self {
            config,
            listeners,
            peers_v4,
            peers_v6,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use mmsc_classify::{Class, Listener, Prefix};

    use super::*;

    fn key(addr: IpAddr, port: u16) -> ListenerKey {
        ListenerKey {
            addr: addr16(addr),
            port,
            _pad: 0,
        }
    }

    #[test]
    fn wildcard_listener_covers_both_families() {
        let rules = Rules {
            listeners: vec![Listener {
                addr: None,
                port: 8002,
                class: Class::Mm1,
            }],
            ..Rules::default()
        };
        let maps = MapContents::from_rules(&rules).unwrap();
        assert_eq!(maps.listeners.len(), 2);
        assert_eq!(
            maps.listeners[&key(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8002)],
            1
        );
        assert_eq!(
            maps.listeners[&key(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8002)],
            1
        );
    }

    #[test]
    fn unspecified_address_is_the_family_wildcard_and_first_listener_wins() {
        let rules = Rules {
            listeners: vec![
                Listener {
                    addr: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    port: 25,
                    class: Class::Mm4,
                },
                Listener {
                    addr: None,
                    port: 25,
                    class: Class::Mm3,
                },
                Listener {
                    addr: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                    port: 25,
                    class: Class::Mm3,
                },
            ],
            ..Rules::default()
        };
        let maps = MapContents::from_rules(&rules).unwrap();
        assert_eq!(maps.listeners.len(), 3);
        // 0.0.0.0:25 came first: MM4 for any IPv4 destination
        assert_eq!(
            maps.listeners[&key(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 25)],
            Class::Mm4 as u32
        );
        assert_eq!(
            maps.listeners[&key(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 25)],
            Class::Mm3 as u32
        );
        assert_eq!(
            maps.listeners[&key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 25)],
            Class::Mm3 as u32
        );
        // v4 keys are v4-mapped
        assert_eq!(
            key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 25).addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]
        );
    }

    #[test]
    fn peer_prefixes_are_masked_deduplicated_and_checked() {
        let rules = Rules {
            mm4_peers: vec![
                Prefix {
                    addr: "10.1.2.3".parse().unwrap(),
                    len: 16,
                },
                Prefix {
                    addr: "10.1.0.0".parse().unwrap(),
                    len: 16,
                },
                Prefix {
                    addr: "0.0.0.0".parse().unwrap(),
                    len: 0,
                },
                Prefix {
                    addr: "2001:db8::1".parse().unwrap(),
                    len: 32,
                },
                Prefix {
                    addr: "fd00::5".parse().unwrap(),
                    len: 128,
                },
            ],
            ..Rules::default()
        };
        let maps = MapContents::from_rules(&rules).unwrap();
        assert_eq!(maps.peers_v4, vec![(16, [10, 1, 0, 0]), (0, [0, 0, 0, 0])]);
        assert_eq!(maps.peers_v6.len(), 2);
        assert_eq!(
            maps.peers_v6[0],
            (32, "2001:db8::".parse::<Ipv6Addr>().unwrap().octets())
        );
        assert_eq!(
            maps.peers_v6[1],
            (128, "fd00::5".parse::<Ipv6Addr>().unwrap().octets())
        );

        for (addr, len) in [("10.0.0.0", 33), ("fd00::", 129)] {
            let bad = Rules {
                mm4_peers: vec![Prefix {
                    addr: addr.parse().unwrap(),
                    len,
                }],
                ..Rules::default()
            };
            let err = MapContents::from_rules(&bad).unwrap_err();
            assert!(
                matches!(err, EbpfError::InvalidRules(ref m) if m.contains(addr)),
                "{err}"
            );
        }
    }

    #[test]
    fn config_mode_and_burst() {
        let rules = Rules {
            syn_rate: 10,
            syn_burst: 0,
            mode: Mode::Redirect,
            ..Rules::default()
        };
        let maps = MapContents::from_rules(&rules).unwrap();
        assert_eq!(
            maps.config,
            ConfigValue {
                mode: MODE_REDIRECT,
                syn_rate: 10,
                syn_burst: 1,
                _pad: 0
            }
        );
        let maps = MapContents::from_rules(&Rules::default()).unwrap();
        assert_eq!(maps.config, ConfigValue::default());
    }

    #[test]
    fn too_many_listeners() {
        let rules = Rules {
            listeners: (0..200)
                .map(|port| Listener {
                    addr: None,
                    port,
                    class: Class::Mm7,
                })
                .collect(),
            ..Rules::default()
        };
        assert!(matches!(
            MapContents::from_rules(&rules),
            Err(EbpfError::InvalidRules(_))
        ));
    }
}
