//! `Rules` translated into the contents of the XDP program's maps. Pure: unit-tested without
//! BPF.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mmsc_classify::{Class, Mode, Rules};

use crate::EbpfError;
use crate::maps::{ConfigValue, ListenerKey, MAX_LISTENERS, MAX_PEERS, MODE_PASS, MODE_REDIRECT};

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
    /// Validates `rules` and lays them out as map entries, as step 2 of the rule set in
    /// `mmsc_classify` says.
    ///
    /// Listeners: `addr: None` gives the wildcard keys of both families; an unspecified
    /// address (`0.0.0.0`, `::`) the wildcard key of its family, as a bind to it does;
    /// any other address its exact (family, address, port) key. The program looks up the
    /// exact key before the wildcard, so an exact address beats a wildcard. When two
    /// listeners give the same key, the first one in the list has it. Listeners of class
    /// `Other` are left out. `syn_burst` 0 with a rate counts as 1.
    pub(crate) fn from_rules(rules: &Rules) -> Result<Self, EbpfError> {
        let mut listeners = BTreeMap::new();
        for listener in rules.listeners.iter().filter(|l| l.class != Class::Other) {
            let class = listener.class.index() as u32;
            let port = listener.port;
            let keys: Vec<ListenerKey> = match listener.addr {
                None => vec![
                    ListenerKey::wildcard(true, port),
                    ListenerKey::wildcard(false, port),
                ],
                Some(addr) if addr.is_unspecified() => {
                    vec![ListenerKey::wildcard(addr.is_ipv4(), port)]
                }
                Some(addr) => vec![ListenerKey::exact(addr, port)],
            };
            for key in keys {
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

    use mmsc_classify::{Classifier, Listener, Prefix};

    use super::*;
    use crate::maps::{FAMILY_V4, FAMILY_V6};

    fn key(addr: IpAddr, port: u16) -> ListenerKey {
        ListenerKey::exact(addr, port)
    }

    /// The program's lookup (`listener_class` in mmsc_xdp.c) over the map contents.
    fn lookup(maps: &MapContents, dst: IpAddr, port: u16) -> u32 {
        let exact = ListenerKey::exact(dst, port);
        let wildcard = ListenerKey::wildcard(dst.is_ipv4(), port);
        maps.listeners
            .get(&exact)
            .or_else(|| maps.listeners.get(&wildcard))
            .copied()
            .unwrap_or(Class::Other as u32)
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
                Listener {
                    addr: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
                    port: 25,
                    class: Class::Mm7,
                },
                Listener {
                    addr: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))),
                    port: 25,
                    class: Class::Other,
                },
            ],
            ..Rules::default()
        };
        let maps = MapContents::from_rules(&rules).unwrap();
        assert_eq!(maps.listeners.len(), 3, "{:?}", maps.listeners);
        // 0.0.0.0:25 came first: MM4 for any IPv4 destination
        assert_eq!(
            maps.listeners[&key(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 25)],
            Class::Mm4 as u32
        );
        assert_eq!(
            maps.listeners[&key(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 25)],
            Class::Mm3 as u32
        );
        // the first of the two 192.0.2.1:25
        assert_eq!(
            maps.listeners[&key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 25)],
            Class::Mm3 as u32
        );
        // v4 keys are v4-mapped, with the IPv4 family
        let k = key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 25);
        assert_eq!(
            k.addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]
        );
        assert_eq!(k.family, FAMILY_V4);
        let k = key("::ffff:192.0.2.1".parse().unwrap(), 25);
        assert_eq!(k.family, FAMILY_V6);
        assert!(!maps.listeners.contains_key(&k));
    }

    /// A small seeded generator (splitmix64), so that the cases are the same every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[test]
    fn the_maps_give_the_classifier_class_for_any_listener_set() {
        let addrs: Vec<Option<IpAddr>> = [
            None,
            Some("0.0.0.0"),
            Some("::"),
            Some("10.0.0.1"),
            Some("10.0.0.2"),
            Some("2001:db8::1"),
            Some("::ffff:10.0.0.1"),
            Some("::ffff:0.0.0.0"),
        ]
        .iter()
        .map(|a| a.map(|a| a.parse().unwrap()))
        .collect();
        let dsts: Vec<IpAddr> = [
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "2001:db8::1",
            "2001:db8::2",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let ports = [25, 80];
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let n = rng.next() % 7;
            let listeners: Vec<Listener> = (0..n)
                .map(|_| Listener {
                    addr: rng.pick(&addrs),
                    port: rng.pick(&ports),
                    class: rng.pick(&Class::ALL),
                })
                .collect();
            let rules = Rules {
                listeners,
                ..Rules::default()
            };
            let maps = MapContents::from_rules(&rules).unwrap();
            let classifier = Classifier::new(&rules);
            for &dst in &dsts {
                for port in ports {
                    assert_eq!(
                        lookup(&maps, dst, port),
                        classifier.class_of(dst, port) as u32,
                        "{dst}:{port} with {:?}",
                        rules.listeners
                    );
                }
            }
        }
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
