//! The fast path of backend `xdp`: the classifier rules made from the configuration, the XDP
//! program on `[dataplane] interface`, SK_REUSEPORT steering over the cores' MM1 listeners,
//! and their counters for the admin API.
//!
//! The rules are built in every build of mmsc (and tested; the `dpdk` backend's classifier
//! and the `afxdp` backend's XDP program take them too, see dpdk_backend.rs and
//! afxdp_backend.rs); loading the programs needs the cargo feature `ebpf`
//! (clang and libbpf-dev to build, root or CAP_BPF + CAP_NET_ADMIN to run).

use std::net::{IpAddr, SocketAddr};

use mmsc_classify::{Class, Listener, Mode, Prefix, Rules};
use mmsc_config::Config;

/// The listener rule of a socket bound to `addr`: `[::]` is dual-stack (any destination of
/// either family), `0.0.0.0` any IPv4 destination, anything else that address (an
/// IPv4-mapped IPv6 address as the IPv4 address it carries).
fn listener(addr: SocketAddr, class: Class) -> Listener {
    let ip = addr.ip();
    Listener {
        addr: match ip {
            IpAddr::V6(v6) if v6.is_unspecified() => None,
            _ => Some(ip.to_canonical()),
        },
        port: addr.port(),
        class,
    }
}

/// The rules of the XDP program for `cfg`, with MM1 on `mm1` (the address the listeners
/// actually got: `mm1.listen` may ask for port 0): MM1 and MM4 listeners, the MM4 peers, the
/// per-source SYN limit, and [`Mode::Pass`] (backend `xdp` hands everything it keeps to the
/// kernel's TCP stack).
pub fn rules(cfg: &Config, mm1: SocketAddr) -> Rules {
    let mut listeners = vec![listener(mm1, Class::Mm1)];
    if let Some(mm4) = cfg.mm4.listen {
        listeners.push(listener(mm4, Class::Mm4));
    }
    Rules {
        listeners,
        mm4_peers: cfg
            .mm4
            .peers
            .iter()
            .map(|c| Prefix {
                addr: c.network(),
                len: c.prefix_len(),
            })
            .collect(),
        syn_rate: cfg.dataplane.syn_rate_per_source,
        syn_burst: cfg.dataplane.syn_burst,
        mode: Mode::Pass,
    }
}

#[cfg(feature = "ebpf")]
pub use loaded::FastPath;
#[cfg(feature = "afxdp")]
pub use loaded::metrics as xdp_metrics;

#[cfg(feature = "ebpf")]
mod loaded {
    use std::net::TcpListener;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    use anyhow::{Context, Result, bail};
    use mmsc_classify::{Class, Rules, Slow};
    use mmsc_config::XdpMode;
    use mmsc_ebpf::{AttachRequest, Counters, ReuseportSteering, XdpOptions, XdpProgram};

    use crate::admin::Metric;

    /// The XDP program on the interface and the steering of the MM1 listeners, while
    /// attached. [`FastPath::stop`] (or dropping it) detaches both.
    #[derive(Debug)]
    pub struct FastPath {
        xdp: Mutex<Option<XdpProgram>>,
        steering: Mutex<Option<ReuseportSteering>>,
        interface: String,
        mode: &'static str,
        program_id: u32,
        cores: u32,
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    impl FastPath {
        /// Loads the XDP program with `rules` on `interface` (in the `mode` asked for) and
        /// steers new MM1 connections over `listeners` (core i's listener first in entry i).
        pub fn start(
            interface: &str,
            mode: XdpMode,
            rules: &Rules,
            listeners: &[TcpListener],
        ) -> Result<FastPath> {
            let problems = rules.problems();
            if !problems.is_empty() {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                bail!("the fast-path rules are inconsistent: {}", list.join("; "));
            }
            let options = XdpOptions {
                attach: match mode {
                    XdpMode::Auto => AttachRequest::Auto,
                    XdpMode::Driver => AttachRequest::Driver,
                    XdpMode::Generic => AttachRequest::Generic,
                },
                replace_foreign: false,
            };
            let xdp = XdpProgram::load_with(interface, rules, &options).with_context(|| {
                format!("backend xdp: cannot attach the XDP program to interface {interface:?}")
            })?;
            for old in xdp.replaced() {
                eprintln!(
                    "mmsc: xdp: replaced a stale XDP program on {interface} (id {}, {})",
                    old.prog_id, old.name
                );
            }
            let steering = ReuseportSteering::attach(listeners).context(
                "backend xdp: cannot attach the SK_REUSEPORT steering to the MM1 listeners",
            )?;
            Ok(FastPath {
                interface: interface.to_owned(),
                mode: xdp.mode().name(),
                program_id: xdp.program_id(),
                cores: steering.cores(),
                xdp: Mutex::new(Some(xdp)),
                steering: Mutex::new(Some(steering)),
            })
        }

        /// `driver` or `generic`.
        pub fn mode(&self) -> &'static str {
            self.mode
        }

        /// The kernel's id of the XDP program.
        pub fn program_id(&self) -> u32 {
            self.program_id
        }

        /// Cores new connections are steered over.
        pub fn steered_cores(&self) -> u32 {
            self.cores
        }

        /// The program's counters, while attached.
        pub fn counters(&self) -> Option<Counters> {
            lock(&self.xdp).as_ref().and_then(|x| x.counters().ok())
        }

        /// The counters as admin API metrics (none once detached).
        pub fn metrics(&self) -> Vec<Metric> {
            match self.counters() {
                Some(c) => metrics(&c, &self.interface, self.mode, self.program_id, self.cores),
                None => Vec::new(),
            }
        }

        /// Detaches the XDP program and the steering (reporting a failure to detach).
        pub fn stop(&self) {
            if let Some(xdp) = lock(&self.xdp).take() {
                match xdp.detach() {
                    Ok(()) => eprintln!("mmsc: xdp: detached from {}", self.interface),
                    Err(e) => eprintln!("mmsc: xdp: detaching from {}: {e}", self.interface),
                }
            }
            drop(lock(&self.steering).take());
        }
    }

    /// The metrics of the XDP program's counters: packets and bytes per class, drops per
    /// reason, slow path, malformed, redirected, and what is attached where.
    pub fn metrics(
        c: &Counters,
        interface: &str,
        mode: &'static str,
        program_id: u32,
        cores: u32,
    ) -> Vec<Metric> {
        let mut m = Vec::new();
        for class in Class::ALL {
            m.push(
                Metric::counter(
                    "xdp.packets",
                    "frames the XDP program saw, per class (dropped ones included)",
                    c.class(class).packets,
                )
                .label("class", class.name()),
            );
        }
        for class in Class::ALL {
            m.push(
                Metric::counter(
                    "xdp.bytes",
                    "octets of those frames from the Ethernet header on, per class",
                    c.class(class).bytes,
                )
                .label("class", class.name()),
            );
        }
        m.push(
            Metric::counter(
                "xdp.dropped",
                "frames the XDP program dropped, per reason",
                c.dropped_not_peer,
            )
            .label("reason", "not_peer"),
        );
        m.push(
            Metric::counter(
                "xdp.dropped",
                "frames the XDP program dropped, per reason",
                c.dropped_syn_rate,
            )
            .label("reason", "syn_rate"),
        );
        m.push(Metric::counter(
            "xdp.slow_path",
            "frames passed to the kernel unclassified because the fast path does not look into \
             them (IP fragments, too many VLAN tags or IPv6 extension headers)",
            c.slow_path,
        ));
        m.push(Metric::counter(
            "xdp.malformed",
            "frames with truncated or impossible headers passed to the kernel",
            c.malformed,
        ));
        for reason in Slow::ALL {
            m.push(
                Metric::counter(
                    "xdp.unclassified",
                    "frames that are not a classifiable TCP segment, per reason (class other)",
                    c.slow.get(reason.index()).copied().unwrap_or(0),
                )
                .label("reason", reason.name()),
            );
        }
        m.push(Metric::counter(
            "xdp.redirected",
            "frames handed to an AF_XDP socket",
            c.redirected,
        ));
        m.push(Metric::counter(
            "xdp.redirect_no_socket",
            "frames to redirect whose receive queue had no AF_XDP socket (passed to the kernel)",
            c.redirect_no_socket,
        ));
        m.push(
            Metric::gauge(
                "xdp.attached",
                "the XDP program's interface and attach mode (driver or generic)",
                1,
            )
            .label("interface", interface)
            .label("mode", mode),
        );
        m.push(Metric::gauge(
            "xdp.program_id",
            "the kernel's id of the XDP program (bpftool prog show id N)",
            u64::from(program_id),
        ));
        m.push(Metric::gauge(
            "dataplane.steered_cores",
            "cores the SK_REUSEPORT program spreads new MM1 connections over",
            u64::from(cores),
        ));
        m
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::admin::{to_json, to_prometheus};

        #[test]
        fn counters_as_metrics() {
            let mut c = Counters::default();
            c.classes[Class::Mm1.index()].packets = 12;
            c.classes[Class::Mm1.index()].bytes = 9000;
            c.classes[Class::Mm4.index()].packets = 3;
            c.dropped_not_peer = 2;
            c.slow_path = 1;
            c.slow[Slow::Fragment.index()] = 1;
            c.slow[Slow::NotIp.index()] = 4;
            let m = metrics(&c, "eth1", "driver", 77, 2);
            let j = to_json(&m);
            assert_eq!(j["xdp"]["packets"]["mm1"], 12);
            assert_eq!(j["xdp"]["bytes"]["mm1"], 9000);
            assert_eq!(j["xdp"]["packets"]["mm4"], 3);
            assert_eq!(j["xdp"]["packets"]["other"], 0);
            assert_eq!(j["xdp"]["dropped"]["not_peer"], 2);
            assert_eq!(j["xdp"]["dropped"]["syn_rate"], 0);
            assert_eq!(j["xdp"]["slow_path"], 1);
            assert_eq!(j["xdp"]["unclassified"][Slow::Fragment.name()], 1);
            assert_eq!(j["xdp"]["unclassified"][Slow::NotIp.name()], 4);
            assert_eq!(j["xdp"]["unclassified"][Slow::NotTcp.name()], 0);
            assert_eq!(j["xdp"]["redirect_no_socket"], 0);
            assert_eq!(j["xdp"]["attached"]["eth1"]["driver"], 1);
            assert_eq!(j["xdp"]["program_id"], 77);
            assert_eq!(j["dataplane"]["steered_cores"], 2);
            let p = to_prometheus(&m);
            assert!(p.contains("\nmmsc_xdp_packets{class=\"mm1\"} 12\n"), "{p}");
            assert!(
                p.contains("\nmmsc_xdp_dropped{reason=\"not_peer\"} 2\n"),
                "{p}"
            );
            assert!(
                p.contains("\nmmsc_xdp_attached{interface=\"eth1\",mode=\"driver\"} 1\n"),
                "{p}"
            );
            // One HELP/TYPE per name.
            assert_eq!(p.matches("# TYPE mmsc_xdp_packets counter").count(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        mmsc_config::parse(text).unwrap()
    }

    #[test]
    fn rules_from_the_configuration() {
        let c = cfg(r#"
[mm1]
listen = "10.0.0.2:0"
trusted_proxies = ["10.0.0.1"]
[mm4]
listen = "[::]:25"
peers = ["192.0.2.0/24", "2001:db8:4::1/48", "198.51.100.7"]
[dataplane]
backend = "xdp"
interface = "eth1"
syn_rate_per_source = 20
syn_burst = 40
"#);
        let r = rules(&c, "10.0.0.2:8514".parse().unwrap());
        assert_eq!(
            r.listeners,
            [
                Listener {
                    addr: Some("10.0.0.2".parse().unwrap()),
                    port: 8514,
                    class: Class::Mm1
                },
                Listener {
                    addr: None,
                    port: 25,
                    class: Class::Mm4
                },
            ]
        );
        let p = |a: &str, len| Prefix {
            addr: a.parse().unwrap(),
            len,
        };
        assert_eq!(
            r.mm4_peers,
            [
                p("192.0.2.0", 24),
                p("2001:db8:4::", 48),
                p("198.51.100.7", 32)
            ]
        );
        assert_eq!((r.syn_rate, r.syn_burst, r.mode), (20, 40, Mode::Pass));
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn listener_addresses() {
        let l = |a: &str| listener(a.parse().unwrap(), Class::Mm1).addr;
        assert_eq!(l("0.0.0.0:80"), Some("0.0.0.0".parse().unwrap()));
        assert_eq!(l("[::]:80"), None);
        assert_eq!(l("[::1]:80"), Some("::1".parse().unwrap()));
        assert_eq!(l("[::ffff:10.1.2.3]:80"), Some("10.1.2.3".parse().unwrap()));
        // MM4 off: MM1 only; no peers, no SYN limit by default.
        let r = rules(&Config::default(), "127.0.0.1:8514".parse().unwrap());
        assert_eq!(r.listeners.len(), 1);
        assert!(r.mm4_peers.is_empty());
        assert_eq!(r.syn_rate, 0);
    }
}
