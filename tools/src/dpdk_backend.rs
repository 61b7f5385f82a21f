//! Backend `dpdk`: a DPDK port, one rx/tx queue pair and one user-space TCP/IP stack
//! (smoltcp, [`mmsc_netstack::Stack`]) per dataplane core, the MM4 ACL and SYN limit of the
//! `xdp` backend applied by the same classifier in front of each stack, and the port's and
//! the stacks' counters for the admin API.
//!
//! How the configuration maps onto DPDK:
//!
//! - **EAL arguments**: `[dataplane] dpdk_args` as given, then `--lcores=0@C0,1@C1,...` where
//!   `C0, C1, ...` are the dataplane CPUs (`[dataplane] cores`, or the automatic choice).
//!   Rule: *dataplane core i is EAL lcore i, pinned to the i-th CPU of the list*; lcore 0 is
//!   the EAL's main lcore. So `dpdk_args` must not carry `-l`, `-c`, `--lcores` or
//!   `--main-lcore` (refused at start).
//! - **Port**: the first device `dpdk_args` names (`-a` / `--allow` PCI address, `--vdev`
//!   name, each up to its first `,`) that is an ethdev port; when it names none, the first
//!   port that probed. One queue pair per dataplane core, RSS over IP/TCP/UDP (as far as the
//!   NIC does it) with more than one; promiscuous only for an IPv6 address (neighbour
//!   solicitations go to a multicast MAC that a NIC otherwise filters out).
//! - **Mbufs**: one pool for every queue (rx rings, tx bursts), sized for the rings, the
//!   per-lcore caches and the frames in flight.
//! - **Stacks**: `[dataplane] address` owned by every core's stack (neighbours are gleaned,
//!   so a peer's ARP reply reaching one queue serves all), the port's MAC, MM1 on the port of
//!   `mm1.listen` (its address is ignored: the stack serves `address`), the HTTP limits and
//!   MM1 front of the `kernel` backend, `mm1.max_connections` split over the cores.
//! - **Classifier**: the rules of the `xdp` backend (fastpath.rs) with both listeners at
//!   `address`: MM4 from sources outside `mm4.peers` and SYNs beyond `syn_rate_per_source`
//!   are dropped before smoltcp sees them. The SYN buckets are per core: with RSS a source's
//!   connections spread over the cores, so it may open up to `cores ×` the rate in all.
//!
//! The EAL lives on a thread of its own, which becomes lcore 0 (DPDK pins it) and runs core
//! 0's loop; the other lcores are DPDK's worker threads. Each core polls its queue while
//! there is work. Idle, it sleeps: on a `net_af_xdp` or `net_af_packet` port in poll(2) on
//! the port's kernel sockets and its doorbell (a datagram socket pair; the control plane
//! rings it when it has replies for a sleeping core), so that a frame wakes it at once (these
//! drivers have no rx interrupts); on other ports (a NIC's PMD) it parks for at most 100 us
//! while connections are open, and the control plane unparks it.
//! A scoped thread beside them answers the admin API's requests for the port's counters.
//! [`DpdkBackend::stop`] stops the loops (connections reset), the port, and cleans the EAL
//! up.

#![cfg_attr(
    not(feature = "dpdk"),
    expect(
        dead_code,
        reason = "the EAL arguments are only used with feature dpdk"
    )
)]

use std::net::{IpAddr, SocketAddr};

use anyhow::{Result, bail};
use mmsc_classify::{Class, Rules};
use mmsc_config::Config;

/// EAL options that choose lcores: the backend derives them from `[dataplane] cores`.
const LCORE_OPTIONS: &[&str] = &["-l", "-c", "--lcores", "--main-lcore", "--master-lcore"];

/// The EAL arguments for `dpdk_args` and the dataplane CPUs `cpus`: `dpdk_args`, then
/// `--lcores=0@C0,1@C1,...` (dataplane core i is lcore i on CPU `cpus[i]`). Refuses
/// `dpdk_args` that choose lcores themselves.
pub fn eal_args(dpdk_args: &[String], cpus: &[usize]) -> Result<Vec<String>> {
    for (i, arg) in dpdk_args.iter().enumerate() {
        let chooses_lcores = LCORE_OPTIONS.iter().any(|o| {
            arg == o
                || arg
                    .strip_prefix(o)
                    .is_some_and(|rest| rest.starts_with('=') || o.len() == 2)
        });
        if chooses_lcores {
            bail!(
                "dataplane.dpdk_args[{i}] {arg:?}: the lcores come from dataplane.cores (core i \
                 is lcore i on the i-th CPU listed); remove -l / -c / --lcores / --main-lcore"
            );
        }
    }
    if cpus.is_empty() {
        bail!("backend dpdk needs at least one dataplane core");
    }
    let lcores: Vec<String> = cpus
        .iter()
        .enumerate()
        .map(|(i, cpu)| format!("{i}@{cpu}"))
        .collect();
    let mut args = dpdk_args.to_vec();
    args.push(format!("--lcores={}", lcores.join(",")));
    Ok(args)
}

/// The devices `dpdk_args` names, in order: PCI addresses of `-a` / `--allow` (and the old
/// `-w` / `--pci-whitelist`) and `--vdev` names, each without its `,key=value` arguments.
pub fn named_devices(dpdk_args: &[String]) -> Vec<String> {
    const WITH_VALUE: &[&str] = &["-a", "--allow", "-w", "--pci-whitelist", "--vdev"];
    let mut out = Vec::new();
    let mut args = dpdk_args.iter();
    while let Some(arg) = args.next() {
        let value = if WITH_VALUE.contains(&arg.as_str()) {
            args.next().map(String::as_str)
        } else if let Some((opt, v)) = arg.split_once('=')
            && WITH_VALUE.contains(&opt)
            && opt.starts_with("--")
        {
            Some(v)
        } else if let Some(v) = arg.strip_prefix("-a").or_else(|| arg.strip_prefix("-w"))
            && !v.is_empty()
            && !arg.starts_with("--")
        {
            Some(v)
        } else {
            None
        };
        if let Some(v) = value {
            let name = v.split(',').next().unwrap_or_default();
            if !name.is_empty() {
                out.push(name.to_owned());
            }
        }
    }
    out
}

/// The ethdev port names a named device may have: itself, and with the PCI domain `0000:`
/// when it is a short PCI address (`3b:00.0`).
pub fn port_names(device: &str) -> Vec<String> {
    let mut names = vec![device.to_owned()];
    let short_pci = device.len() == 7
        && device.as_bytes().get(2) == Some(&b':')
        && device.as_bytes().get(5) == Some(&b'.');
    if short_pci {
        names.push(format!("0000:{device}"));
    }
    names
}

/// The classifier rules of the dpdk backend: those of the `xdp` backend
/// ([`crate::fastpath::rules`]) with MM1 on `address`:`mm1_port` and MM4 at `address` too
/// (the stack owns that address only, whatever `mm1.listen` and `mm4.listen` say).
pub fn rules(cfg: &Config, address: IpAddr, mm1_port: u16) -> Rules {
    let mut r = crate::fastpath::rules(cfg, SocketAddr::new(address, mm1_port));
    for l in &mut r.listeners {
        if l.class == Class::Mm4 {
            l.addr = Some(address.to_canonical());
        }
    }
    r
}

/// Mbufs for `queues` queue pairs of `rx_descriptors` + `tx_descriptors`, `cache` per lcore,
/// and up to five bursts of 32 in flight per core, plus slack: rounded up to 2^n − 1 (the
/// best size for DPDK's ring).
pub fn pool_mbufs(queues: u32, rx_descriptors: u32, tx_descriptors: u32, cache: u32) -> u32 {
    let need = queues * (rx_descriptors + tx_descriptors + cache + 5 * 32) + 1024;
    need.next_power_of_two() - 1
}

/// The effective user id of this process, from `/proc/self/status`.
fn euid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What to add to a start-up error when mmsc does not run as root.
fn root_hint() -> String {
    match euid() {
        Some(0) => String::new(),
        Some(uid) => format!(
            " (mmsc runs as uid {uid}, not root: DPDK needs root, or access to the hugepages, \
             /dev/vfio and CAP_NET_RAW / CAP_IPC_LOCK)"
        ),
        None => String::new(),
    }
}

#[cfg(feature = "dpdk")]
pub use running::{DpdkBackend, DpdkMetrics};

#[cfg(not(feature = "dpdk"))]
pub use absent::{DpdkBackend, DpdkMetrics};

/// A build without feature `dpdk`: the types exist, nothing can start.
#[cfg(not(feature = "dpdk"))]
mod absent {
    use std::net::SocketAddr;

    use anyhow::{Result, bail};
    use mmsc_config::Config;
    use mmsc_dataplane::kernel::{CoreRings, ReactorStats};
    use mmsc_dataplane::mm1::Mm1Front;
    use mmsc_wire::http::HttpLimits;

    use crate::admin::Metric;

    /// Never made without feature `dpdk`.
    #[derive(Debug)]
    pub enum DpdkBackend {}

    /// Never made without feature `dpdk`.
    #[derive(Debug, Clone)]
    pub enum DpdkMetrics {}

    /// What serve calls after the control plane wakes a core.
    pub type CoreWaker = std::sync::Arc<dyn Fn() + Send + Sync>;

    impl DpdkBackend {
        /// Refuses: this build has no DPDK.
        pub fn start(
            _cfg: &Config,
            _cpus: &[usize],
            _front: &Mm1Front,
            _http: &HttpLimits,
            _rings: Vec<CoreRings>,
            _wake_control: CoreWaker,
        ) -> Result<DpdkBackend> {
            bail!("this build of mmsc has no backend dpdk (build it with --features dpdk)")
        }

        pub fn mm1_addr(&self) -> SocketAddr {
            match *self {}
        }

        pub fn cores(&self) -> usize {
            match *self {}
        }

        pub fn wakers(&self) -> Vec<CoreWaker> {
            match *self {}
        }

        pub fn metrics_source(&self) -> DpdkMetrics {
            match *self {}
        }

        pub fn stop(self) {
            match self {}
        }
    }

    impl DpdkMetrics {
        pub fn mm1(&self) -> Vec<&ReactorStats> {
            match *self {}
        }

        pub fn metrics(&self) -> Vec<Metric> {
            match *self {}
        }
    }
}

#[cfg(feature = "dpdk")]
mod running {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::net::SocketAddr;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, Ordering, fence};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    use std::thread::{JoinHandle, Thread};
    use std::time::Duration;

    use anyhow::{Context, Result, anyhow, bail};
    use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
    use mmsc_classify::{Class, Classifier, Counters, DropReason};
    use mmsc_config::Config;
    use mmsc_dataplane::kernel::{CoreRings, ReactorStats};
    use mmsc_dataplane::mm1::Mm1Front;
    use mmsc_dpdk::{
        DeviceStats, DpdkDevice, Eal, Link, Mempool, MempoolConfig, Port, PortConfig, PortStats,
        RxWait,
    };
    use mmsc_netstack::{Backoff, Clock, Stack, StackConfig, StackStats, WakeFn};
    use mmsc_wire::http::HttpLimits;
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

    use super::{eal_args, named_devices, pool_mbufs, port_names, root_hint, rules};
    use crate::admin::Metric;

    /// What serve calls after the control plane pushed replies to a core.
    pub type CoreWaker = Arc<dyn Fn() + Send + Sync>;

    /// Mbufs cached per lcore.
    const POOL_CACHE: u32 = 256;
    /// Rounds with work between two publications of a core's classifier and device counters
    /// (they are also published whenever the core goes to sleep).
    const PUBLISH_ROUNDS: u32 = 1024;
    /// How long the admin API waits for the port's counters.
    const STATS_WAIT: Duration = Duration::from_millis(500);
    /// How often the port-counter thread checks for the stop.
    const STATS_TICK: Duration = Duration::from_millis(50);

    /// What each core shares with the rest of mmsc.
    #[derive(Debug)]
    struct CoreShared {
        /// The thread of its lcore, once it runs: unparked to wake it from a park.
        thread: OnceLock<Thread>,
        /// Set while its lcore sleeps on the port's sockets and its doorbell, or is about to.
        asleep: AtomicBool,
        /// The control plane's end of the lcore's doorbell (non-blocking).
        bell: UnixDatagram,
        /// The stack's counters.
        stats: Arc<StackStats>,
        /// The classifier's and the device's counters, as last published by the core.
        published: Mutex<(Counters, DeviceStats)>,
    }

    /// The port, as it was set up.
    #[derive(Debug, Clone)]
    struct PortInfo {
        id: u16,
        name: String,
        mac: EthernetAddress,
        mtu: u16,
        link: Link,
        queues: u16,
        promiscuous: bool,
        mbufs: u32,
    }

    /// The port's counters and link, and the pool's occupancy, at one moment.
    #[derive(Debug, Clone, Copy)]
    struct PortSnapshot {
        stats: Option<PortStats>,
        link: Option<Link>,
        mbufs_in_use: u32,
        mbufs_available: u32,
    }

    /// What the EAL thread tells the thread that starts the backend.
    enum StartEvent {
        Port(PortInfo),
        CoreReady,
        CoreFailed(usize, String),
    }

    /// The running backend: the EAL thread with the port and the cores' loops.
    #[derive(Debug)]
    pub struct DpdkBackend {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<Result<()>>>,
        cores: Arc<[CoreShared]>,
        stats_requests: Sender<Sender<PortSnapshot>>,
        info: PortInfo,
        mm1_addr: SocketAddr,
    }

    /// The counters of the backend, for the admin API (cheap to clone, `Send + Sync`).
    #[derive(Debug, Clone)]
    pub struct DpdkMetrics {
        cores: Arc<[CoreShared]>,
        stats_requests: Sender<Sender<PortSnapshot>>,
        info: PortInfo,
    }

    /// Everything the EAL thread needs, made from the configuration on the starting thread.
    struct Setup {
        eal_args: Vec<String>,
        named: Vec<String>,
        /// One per core, with a placeholder MAC (the port's is set once it is known).
        stacks: Vec<StackConfig>,
        rings: Vec<CoreRings>,
        promiscuous: bool,
        wake_control: WakeFn,
        idle_poll: Duration,
        /// Descriptors per rx and per tx ring (`dataplane.dpdk_descriptors`; DPDK adjusts
        /// them to the NIC's limits). With 1024, 256 connections each sending a 10 KB request
        /// over veth overflowed a `net_af_xdp` port's rx ring while its lcore was busy:
        /// dropped frames, TCP retransmission timeouts, p99 831 ms (`backends --connections
        /// 256`); with 2048, 13 ms.
        descriptors: u16,
        /// The lcores' ends of their doorbells.
        doorbells: Vec<UnixDatagram>,
    }

    impl DpdkBackend {
        /// Starts the EAL, the port and one stack per CPU of `cpus` (see the module docs),
        /// with core i's rings `rings[i]`; `wake_control` wakes the control plane. Returns
        /// once every core runs, or with the first error (DPDK's message, what to check).
        pub fn start(
            cfg: &Config,
            cpus: &[usize],
            front: &Mm1Front,
            http: &HttpLimits,
            rings: Vec<CoreRings>,
            wake_control: CoreWaker,
        ) -> Result<DpdkBackend> {
            let dp = &cfg.dataplane;
            let address = dp
                .address
                .as_ref()
                .context("backend dpdk needs dataplane.address (the address smoltcp owns)")?;
            let mm1_port = cfg.mm1.listen.port();
            if mm1_port == 0 {
                bail!(
                    "backend dpdk needs a fixed MM1 port: mm1.listen {} asks for port 0",
                    cfg.mm1.listen
                );
            }
            let ip = address.addr();
            let listen_ip = cfg.mm1.listen.ip();
            if !listen_ip.is_unspecified() && listen_ip.to_canonical() != ip.to_canonical() {
                eprintln!(
                    "mmsc: dpdk: mm1.listen {} is not on dataplane.address {ip}: MM1 is served \
                     at {ip} port {mm1_port}",
                    cfg.mm1.listen
                );
            }
            let rules = rules(cfg, ip, mm1_port);
            let problems = rules.problems();
            if !problems.is_empty() {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                bail!("the classifier rules are inconsistent: {}", list.join("; "));
            }
            let eal_args = eal_args(&dp.dpdk_args, cpus)?;
            let cidr = IpCidr::new(IpAddress::from(ip), address.prefix_len());
            let per_core_conns = (cfg.mm1.max_connections / cpus.len()).max(1);
            let seeds = RandomState::new();
            let mut stacks = Vec::with_capacity(cpus.len());
            for i in 0..cpus.len() {
                let core = u16::try_from(i).context("too many dataplane cores")?;
                // A placeholder until the port's MAC is known.
                let mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
                let mut s = StackConfig::new(core, cidr, mac, mm1_port, front.clone());
                s.max_connections = per_core_conns.max(s.listen_backlog);
                s.http = http.clone();
                s.random_seed = seeds.hash_one((i, std::process::id()));
                s.filter = Some(Classifier::with_syn_table(
                    &rules,
                    mmsc_classify::syn::DEFAULT_SYN_SOURCES,
                    seeds.hash_one(("syn", i)),
                ));
                let problems = s.problems();
                if !problems.is_empty() {
                    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    bail!("backend dpdk: bad stack configuration: {}", list.join("; "));
                }
                stacks.push(s);
            }
            if rings.len() != cpus.len() {
                bail!("one ring pair per dataplane core");
            }
            let mut shared = Vec::with_capacity(cpus.len());
            let mut doorbells = Vec::with_capacity(cpus.len());
            for _ in cpus {
                let (bell, core_end) = UnixDatagram::pair()
                    .and_then(|(b, c)| {
                        b.set_nonblocking(true)?;
                        c.set_nonblocking(true)?;
                        Ok((b, c))
                    })
                    .context("cannot make a core's doorbell")?;
                shared.push(CoreShared {
                    thread: OnceLock::new(),
                    asleep: AtomicBool::new(false),
                    bell,
                    stats: Arc::default(),
                    published: Mutex::default(),
                });
                doorbells.push(core_end);
            }
            let setup = Setup {
                named: named_devices(&dp.dpdk_args),
                eal_args,
                stacks,
                rings,
                promiscuous: ip.is_ipv6(),
                wake_control,
                idle_poll: Duration::from_micros(dp.idle_poll_us),
                descriptors: dp.dpdk_descriptors,
                doorbells,
            };
            let cores: Arc<[CoreShared]> = shared.into();
            let stop = Arc::new(AtomicBool::new(false));
            let (events_tx, events) = crossbeam_channel::unbounded();
            let (stats_requests, stats_rx) = crossbeam_channel::bounded(4);
            let thread = {
                let (cores, stop) = (Arc::clone(&cores), Arc::clone(&stop));
                std::thread::Builder::new()
                    .name("mmsc-dpdk".into())
                    .spawn(move || eal_thread(setup, &cores, &stop, &events_tx, &stats_rx))
                    .context("cannot start the DPDK thread")?
            };
            let mut backend = DpdkBackend {
                stop,
                thread: Some(thread),
                cores,
                stats_requests,
                info: PortInfo {
                    id: 0,
                    name: String::new(),
                    mac: EthernetAddress([0; 6]),
                    mtu: 0,
                    link: Link {
                        up: false,
                        speed_mbps: 0,
                        full_duplex: false,
                    },
                    queues: 0,
                    promiscuous: false,
                    mbufs: 0,
                },
                mm1_addr: SocketAddr::new(ip, mm1_port),
            };
            let mut ready = 0;
            let mut port = None;
            while ready < cpus.len() || port.is_none() {
                match events.recv() {
                    Ok(StartEvent::Port(info)) => port = Some(info),
                    Ok(StartEvent::CoreReady) => ready += 1,
                    Ok(StartEvent::CoreFailed(i, e)) => {
                        let also = match backend.halt() {
                            Ok(()) => String::new(),
                            Err(then) => format!("; then {then:#}"),
                        };
                        bail!("backend dpdk: dataplane core {i}: {e}{also}");
                    }
                    // The thread ended before every core ran: its error says why.
                    Err(_) => {
                        return Err(match backend.halt() {
                            Err(e) => e,
                            Ok(()) => anyhow!("backend dpdk: the DPDK thread ended at start-up"),
                        });
                    }
                }
            }
            if let Some(info) = port {
                backend.info = info;
            }
            let i = &backend.info;
            eprintln!(
                "mmsc: dpdk: port {} ({}) MAC {} MTU {}, link {}; {} queue pair(s){}{}, {} mbufs; \
                 lcores {}; smoltcp owns {cidr}, MM1 port {mm1_port}; MM4 {}, {} peer prefix(es); \
                 SYN limit {}",
                i.id,
                i.name,
                mac_text(i.mac),
                i.mtu,
                if i.link.up {
                    format!("up {} Mb/s", i.link.speed_mbps)
                } else {
                    "down".to_owned()
                },
                i.queues,
                if i.queues > 1 {
                    " (flows spread by RSS, or as the driver does)"
                } else {
                    ""
                },
                if i.promiscuous { ", promiscuous" } else { "" },
                i.mbufs,
                cpus.iter()
                    .enumerate()
                    .map(|(l, c)| format!("{l}@CPU{c}"))
                    .collect::<Vec<_>>()
                    .join(","),
                cfg.mm4
                    .listen
                    .map_or_else(|| "off".to_owned(), |a| format!("port {}", a.port())),
                rules.mm4_peers.len(),
                if rules.syn_rate == 0 {
                    "off".to_owned()
                } else {
                    format!(
                        "{}/s per source and core, burst {}",
                        rules.syn_rate, rules.syn_burst
                    )
                },
            );
            Ok(backend)
        }

        /// Where MM1 is served: the stack's address and the MM1 port.
        pub fn mm1_addr(&self) -> SocketAddr {
            self.mm1_addr
        }

        /// Dataplane cores.
        pub fn cores(&self) -> usize {
            self.cores.len()
        }

        /// One waker per core, for the control plane: rings the core's doorbell if it sleeps
        /// on its sockets or is about to (a busy core sees the replies at its next poll), and
        /// unparks its thread (for a core that parks instead).
        pub fn wakers(&self) -> Vec<CoreWaker> {
            (0..self.cores.len())
                .map(|i| {
                    let cores = Arc::clone(&self.cores);
                    Arc::new(move || {
                        let Some(c) = cores.get(i) else { return };
                        // The replies are in the ring: the core, which says it sleeps before it
                        // looks at the ring a last time, either sees them or is rung.
                        fence(Ordering::SeqCst);
                        if c.asleep.load(Ordering::Relaxed) {
                            let _ = c.bell.send(&[1]);
                        }
                        if let Some(t) = c.thread.get() {
                            t.unpark();
                        }
                    }) as CoreWaker
                })
                .collect()
        }

        /// The counters, for the admin API.
        pub fn metrics_source(&self) -> DpdkMetrics {
            DpdkMetrics {
                cores: Arc::clone(&self.cores),
                stats_requests: self.stats_requests.clone(),
                info: self.info.clone(),
            }
        }

        /// Stops the cores (their connections are reset), the port, and cleans the EAL up;
        /// says so, or what failed.
        pub fn stop(mut self) {
            match self.halt() {
                Ok(()) => eprintln!(
                    "mmsc: dpdk: stopped: {} core(s) ended, port {} stopped and closed, EAL \
                     cleaned up",
                    self.cores.len(),
                    self.info.id
                ),
                Err(e) => eprintln!("mmsc: dpdk: stopping: {e:#}"),
            }
        }

        fn halt(&mut self) -> Result<()> {
            self.stop.store(true, Ordering::Release);
            for c in self.cores.iter() {
                let _ = c.bell.send(&[1]);
                if let Some(t) = c.thread.get() {
                    t.unpark();
                }
            }
            match self.thread.take() {
                Some(t) => t
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("the DPDK thread panicked"))),
                None => Ok(()),
            }
        }
    }

    impl Drop for DpdkBackend {
        fn drop(&mut self) {
            let _ = self.halt();
        }
    }

    /// The EAL thread: EAL, pool, port, then every core's loop (this thread is lcore 0),
    /// until `stop`; then the port stops and closes and the EAL is cleaned up (in that
    /// order: drops in reverse order of creation).
    fn eal_thread(
        setup: Setup,
        cores: &[CoreShared],
        stop: &AtomicBool,
        events: &Sender<StartEvent>,
        stats_rx: &Receiver<Sender<PortSnapshot>>,
    ) -> Result<()> {
        let Setup {
            eal_args,
            named,
            stacks,
            rings,
            promiscuous,
            wake_control,
            idle_poll,
            descriptors,
            doorbells,
        } = setup;
        let eal = Eal::init(&eal_args).map_err(|e| {
            anyhow!(
                "backend dpdk: the DPDK EAL did not start with arguments [{}]: {e}; DPDK's log \
                 above says more{}",
                eal_args.join(" "),
                root_hint()
            )
        })?;
        let (port_id, name) = find_port(&eal, &named)?;
        let queues = u16::try_from(cores.len()).context("too many dataplane cores")?;
        let mbufs = pool_mbufs(
            u32::from(queues),
            u32::from(descriptors),
            u32::from(descriptors),
            POOL_CACHE,
        );
        let pool = Mempool::new(
            &eal,
            "mmsc_mbufs",
            &MempoolConfig {
                mbufs,
                cache_size: POOL_CACHE,
                ..MempoolConfig::default()
            },
        )
        .map_err(|e| {
            anyhow!(
                "backend dpdk: no mbuf pool of {mbufs} mbufs: {e} (too little hugepage memory? \
                 with --no-huge, raise -m){}",
                root_hint()
            )
        })?;
        let port_cfg = PortConfig {
            queues,
            rx_descriptors: descriptors,
            tx_descriptors: descriptors,
            promiscuous,
            rss: true,
            mtu: None,
        };
        let mut port = Port::configure(&eal, port_id, &port_cfg, &pool).map_err(|e| {
            anyhow!(
                "backend dpdk: cannot configure port {port_id} ({name}) with {queues} queue \
                 pair(s), one per dataplane core: {e}"
            )
        })?;
        port.start()
            .map_err(|e| anyhow!("backend dpdk: cannot start port {port_id} ({name}): {e}"))?;
        let mac = port
            .mac()
            .map_err(|e| anyhow!("backend dpdk: port {port_id}: {e}"))?;
        let mtu = port
            .mtu()
            .map_err(|e| anyhow!("backend dpdk: port {port_id}: {e}"))?;
        let link = port.link().map_err(|e| anyhow!("backend dpdk: {e}"))?;
        let mac = EthernetAddress(mac);
        if !mac.is_unicast() {
            bail!("backend dpdk: port {port_id} ({name}) has no unicast MAC address ({mac})");
        }
        let _ = events.send(StartEvent::Port(PortInfo {
            id: port_id,
            name,
            mac,
            mtu,
            link,
            queues,
            promiscuous,
            mbufs,
        }));
        let slots: Vec<Mutex<Option<CoreStart>>> = stacks
            .into_iter()
            .zip(rings)
            .zip(doorbells)
            .map(|((mut s, r), d)| {
                s.mac = mac;
                Mutex::new(Some((s, r, d)))
            })
            .collect();
        let lcores = LcoreCtx {
            port: &port,
            pool: &pool,
            mtu,
            slots,
            cores,
            stop,
            events,
            wake_control,
            idle_poll,
        };
        let launched = std::thread::scope(|s| {
            let port_stats = std::thread::Builder::new()
                .name("mmsc-dpdk-stats".into())
                .spawn_scoped(s, || serve_port_stats(&port, &pool, stop, stats_rx));
            let launched = eal.run_on_lcores(|lcore| lcore_main(lcore, &lcores));
            // Every loop has ended (a failed launch included): let the stats thread go.
            stop.store(true, Ordering::Release);
            if let Ok(t) = port_stats {
                let _ = t.join();
            }
            launched
        });
        drop(lcores);
        let stopped = port.stop();
        drop(port);
        drop(pool);
        drop(eal);
        launched.map_err(|e| anyhow!("backend dpdk: cannot run the lcores: {e}"))?;
        stopped.map_err(|e| anyhow!("backend dpdk: stopping port {port_id}: {e}"))?;
        Ok(())
    }

    /// The port the configuration means: the first named device that is a port, else (none
    /// named) the first port.
    fn find_port(eal: &Eal, named: &[String]) -> Result<(u16, String)> {
        let ports = eal.ports();
        if ports.is_empty() {
            bail!(
                "backend dpdk: no DPDK port: dataplane.dpdk_args probed none (a NIC bound to \
                 vfio-pci and allowed with -a, or a --vdev such as \
                 net_af_packet0,iface=eth1; DPDK's log above says why a device failed){}",
                root_hint()
            );
        }
        for device in named {
            for name in port_names(device) {
                if let Ok(id) = eal.port_by_name(&name) {
                    return Ok((id, name));
                }
            }
        }
        let ids: Vec<String> = ports.iter().map(ToString::to_string).collect();
        match (named.is_empty(), ports.first()) {
            (true, Some(&id)) => Ok((id, format!("port {id}"))),
            _ => bail!(
                "backend dpdk: none of the devices dataplane.dpdk_args names ({}) is a DPDK \
                 port (ports that probed: {})",
                named.join(", "),
                ids.join(", ")
            ),
        }
    }

    /// `02:00:5e:10:00:01`.
    fn mac_text(mac: EthernetAddress) -> String {
        let b = mac.0;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }

    // How long an idle lcore polls (yielding between polls) before it sleeps is
    // `dataplane.idle_poll_us`. On a port with sockets to sleep on, a frame ends the sleep;
    // on others, frames that arrive while it sleeps wait until the sleep ends or replies
    // unpark it.

    /// Longest sleep of an idle lcore that parks (a port without sockets to sleep on) while
    /// connections are open: a request that comes meanwhile waits for the end of the sleep.
    const OPEN_SLEEP: Duration = Duration::from_micros(100);

    /// What one lcore starts with: its stack's configuration, its rings, its doorbell's end.
    type CoreStart = (StackConfig, CoreRings, UnixDatagram);

    /// What every lcore reads.
    struct LcoreCtx<'p, 'a> {
        port: &'p Port<'a>,
        pool: &'a Mempool<'a>,
        mtu: u16,
        slots: Vec<Mutex<Option<CoreStart>>>,
        cores: &'p [CoreShared],
        stop: &'p AtomicBool,
        events: &'p Sender<StartEvent>,
        wake_control: WakeFn,
        idle_poll: Duration,
    }

    /// Dataplane core `lcore`'s loop (lcore i serves queue pair i): a stack on a
    /// [`DpdkDevice`], polled while it works, parked when idle, flushed after every round.
    fn lcore_main(lcore: u32, cx: &LcoreCtx<'_, '_>) {
        let i = lcore as usize;
        let (Some(slot), Some(shared)) = (cx.slots.get(i), cx.cores.get(i)) else {
            return;
        };
        let Some((cfg, rings, doorbell)) =
            slot.lock().unwrap_or_else(PoisonError::into_inner).take()
        else {
            return;
        };
        let _ = shared.thread.set(std::thread::current());
        let fail = |e: String| {
            cx.stop.store(true, Ordering::Release);
            let _ = cx.events.send(StartEvent::CoreFailed(i, e));
        };
        let queue = match u16::try_from(i).map(|q| cx.port.queue(q)) {
            Ok(Ok(q)) => q,
            Ok(Err(e)) => return fail(e.to_string()),
            Err(e) => return fail(e.to_string()),
        };
        let rx_wait = queue.rx_wait().unwrap_or_else(|e| {
            eprintln!(
                "mmsc: dpdk: core {i}: cannot find the port's sockets to sleep on ({e}): the \
                 core polls, then sleeps at most {} us while connections are open",
                OPEN_SLEEP.as_micros()
            );
            RxWait::none()
        });
        if i == 0 && !rx_wait.is_empty() {
            eprintln!(
                "mmsc: dpdk: idle cores sleep in poll(2) on the port's {} kernel socket(s) \
                 ({} has no rx interrupts)",
                rx_wait.sockets(),
                cx.port.driver()
            );
        }
        let mut device = DpdkDevice::new(queue, cx.pool, cx.mtu);
        let clock = Clock::new();
        let mut stack = match Stack::new(
            cfg,
            rings,
            Arc::clone(&shared.stats),
            Arc::clone(&cx.wake_control),
            &mut device,
            clock.now(),
        ) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string()),
        };
        let _ = cx.events.send(StartEvent::CoreReady);
        let mut backoff = Backoff::new(cx.idle_poll);
        let mut rounds = 0u32;
        while !cx.stop.load(Ordering::Acquire) {
            let worked = stack.poll(&mut device, clock.now());
            device.flush();
            if worked {
                backoff.reset();
                rounds = rounds.wrapping_add(1);
                if rounds.is_multiple_of(PUBLISH_ROUNDS) {
                    publish(&stack, &device, shared, false);
                }
            } else if let Some(sleep) = backoff.idle(|| stack.poll_delay(clock.now())) {
                publish(&stack, &device, shared, false);
                if !rx_wait.is_empty() {
                    // Say so before the last look at the reply ring (see `wakers`).
                    shared.asleep.store(true, Ordering::SeqCst);
                    let slept = stack.replies_waiting()
                        || cx.stop.load(Ordering::Acquire)
                        || rx_wait.wait_or(doorbell.as_fd(), sleep).is_ok();
                    let mut rings = [0u8; 64];
                    while matches!(doorbell.recv(&mut rings), Ok(n) if n > 0) {}
                    shared.asleep.store(false, Ordering::Relaxed);
                    if slept {
                        continue;
                    }
                }
                let sleep = if stack.open_connections() > 0 {
                    sleep.min(OPEN_SLEEP)
                } else {
                    sleep
                };
                std::thread::park_timeout(sleep);
            }
        }
        stack.shutdown(&mut device, clock.now());
        device.flush();
        publish(&stack, &device, shared, true);
        drop(stack);
        drop(device);
        cx.pool.flush_lcore_cache();
    }

    /// Copies the core's classifier and device counters where the admin API reads them
    /// (skipped when the admin API holds them, unless `wait`).
    fn publish(stack: &Stack, device: &DpdkDevice<'_, '_>, shared: &CoreShared, wait: bool) {
        let guard = if wait {
            Some(
                shared
                    .published
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            )
        } else {
            shared.published.try_lock().ok()
        };
        if let Some(mut g) = guard {
            if let Some(f) = stack.filter() {
                g.0 = f.counters();
            }
            g.1 = device.stats();
        }
    }

    /// Answers the admin API's requests for the port's counters until `stop`.
    fn serve_port_stats(
        port: &Port<'_>,
        pool: &Mempool<'_>,
        stop: &AtomicBool,
        requests: &Receiver<Sender<PortSnapshot>>,
    ) {
        while !stop.load(Ordering::Acquire) {
            match requests.recv_timeout(STATS_TICK) {
                Ok(reply) => {
                    let _ = reply.try_send(PortSnapshot {
                        stats: port.stats().ok(),
                        link: port.link().ok(),
                        mbufs_in_use: pool.in_use(),
                        mbufs_available: pool.available(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// A per-core counter of the stacks: name, help, field.
    type StackCounter = (
        &'static str,
        &'static str,
        fn(&StackStats) -> &std::sync::atomic::AtomicU64,
    );

    impl DpdkMetrics {
        /// The cores' MM1 counters (the same as the kernel backend's reactors').
        pub fn mm1(&self) -> Vec<&ReactorStats> {
            self.cores.iter().map(|c| &c.stats.mm1).collect()
        }

        /// The port's counters (asked from the EAL thread, waiting at most a moment), the
        /// stacks' frame counters per core, and the classifier's counters of all cores.
        pub fn metrics(&self) -> Vec<Metric> {
            let (reply_tx, reply) = crossbeam_channel::bounded(1);
            let snapshot = self
                .stats_requests
                .try_send(reply_tx)
                .ok()
                .and_then(|()| reply.recv_timeout(STATS_WAIT).ok());
            let stacks: Vec<Arc<StackStats>> =
                self.cores.iter().map(|c| Arc::clone(&c.stats)).collect();
            let published: Vec<(Counters, DeviceStats)> = self
                .cores
                .iter()
                .map(|c| {
                    c.published
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                })
                .collect();
            metrics(&self.info, snapshot.as_ref(), &stacks, &published)
        }
    }

    /// The metrics of the dpdk backend.
    fn metrics(
        info: &PortInfo,
        snapshot: Option<&PortSnapshot>,
        stacks: &[Arc<StackStats>],
        published: &[(Counters, DeviceStats)],
    ) -> Vec<Metric> {
        let mut m = Vec::new();
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let per_core: [StackCounter; 5] = [
            (
                "dpdk.frames_in",
                "frames the core's stack received from its queue",
                |s| &s.frames_in,
            ),
            (
                "dpdk.frames_out",
                "frames the core's stack sent to its queue",
                |s| &s.frames_out,
            ),
            (
                "dpdk.frames_filtered",
                "frames the core's classifier dropped before the stack (MM4 non-peers, SYN rate)",
                |s| &s.frames_filtered,
            ),
            (
                "dpdk.neighbors_learnt",
                "neighbours the core's stack learnt from the frames it received",
                |s| &s.neighbors_learnt,
            ),
            (
                "dpdk.connections_aborted",
                "connections the core's stack reset (response or close not acknowledged in \
                 time, socket errors)",
                |s| &s.aborted,
            ),
        ];
        for (name, help, field) in per_core {
            for (i, s) in stacks.iter().enumerate() {
                m.push(Metric::counter(name, help, r(field(s))).label("core", i.to_string()));
            }
        }
        for (i, (_, d)) in published.iter().enumerate() {
            m.push(
                Metric::counter(
                    "dpdk.tx_dropped",
                    "frames the core's stack wrote that were dropped (no free mbuf, tx queue full)",
                    d.tx_dropped,
                )
                .label("core", i.to_string()),
            );
        }
        let mut total = Counters::default();
        for (c, _) in published {
            total.add(c);
        }
        for class in Class::ALL {
            m.push(
                Metric::counter(
                    "dpdk.classifier.packets",
                    "frames the classifiers of the cores saw, per class (dropped ones included)",
                    total.packets[class.index()],
                )
                .label("class", class.name()),
            );
        }
        for class in Class::ALL {
            m.push(
                Metric::counter(
                    "dpdk.classifier.bytes",
                    "octets of those frames from the Ethernet header on, per class",
                    total.bytes[class.index()],
                )
                .label("class", class.name()),
            );
        }
        for reason in DropReason::ALL {
            m.push(
                Metric::counter(
                    "dpdk.classifier.dropped",
                    "frames the classifiers dropped before the stacks, per reason",
                    total.drops[reason.index()],
                )
                .label("reason", reason.name()),
            );
        }
        m.push(Metric::counter(
            "dpdk.classifier.slow_path",
            "frames the classifiers did not look into (IP fragments, deep VLAN or IPv6 \
             extension headers), handed to the stacks",
            total.slow_path(),
        ));
        m.push(Metric::counter(
            "dpdk.classifier.malformed",
            "frames with truncated or impossible headers, handed to the stacks (which drop \
             them)",
            total.malformed(),
        ));
        m.push(Metric::counter(
            "dpdk.classifier.syn_evictions",
            "sources evicted from the SYN limit's tables",
            total.syn_evictions,
        ));
        m.push(
            Metric::gauge(
                "dpdk.port.info",
                "the DPDK port: its name and MAC address",
                1,
            )
            .label("name", info.name.clone())
            .label("mac", mac_text(info.mac)),
        );
        m.push(Metric::gauge(
            "dpdk.port.id",
            "the DPDK port id",
            u64::from(info.id),
        ));
        m.push(Metric::gauge(
            "dpdk.port.queues",
            "rx/tx queue pairs of the port (one per core)",
            u64::from(info.queues),
        ));
        m.push(Metric::gauge(
            "dpdk.port.mtu",
            "IP MTU of the port",
            u64::from(info.mtu),
        ));
        if let Some(s) = snapshot {
            if let Some(p) = &s.stats {
                let port: [(&str, &'static str, u64); 8] = [
                    ("rx_packets", "frames the port received", p.rx_packets),
                    ("rx_bytes", "octets the port received", p.rx_bytes),
                    ("tx_packets", "frames the port sent", p.tx_packets),
                    ("tx_bytes", "octets the port sent", p.tx_bytes),
                    (
                        "rx_missed",
                        "frames the port dropped because its rx queues were full",
                        p.rx_missed,
                    ),
                    ("rx_errors", "erroneous frames received", p.rx_errors),
                    ("tx_errors", "frames that failed to send", p.tx_errors),
                    (
                        "rx_no_mbuf",
                        "rx failures for want of an mbuf",
                        p.rx_no_mbuf,
                    ),
                ];
                for (name, help, v) in port {
                    m.push(Metric::counter(format!("dpdk.port.{name}"), help, v));
                }
            }
            if let Some(l) = &s.link {
                m.push(Metric::gauge(
                    "dpdk.port.link_up",
                    "1 while the port's link is up",
                    u64::from(l.up),
                ));
                m.push(Metric::gauge(
                    "dpdk.port.link_speed_mbps",
                    "the link's speed, Mbit/s (0: unknown)",
                    u64::from(l.speed_mbps),
                ));
            }
            m.push(Metric::gauge(
                "dpdk.mbufs.in_use",
                "mbufs of the pool in use (in the rings, the lcore caches, in flight)",
                u64::from(s.mbufs_in_use),
            ));
            m.push(Metric::gauge(
                "dpdk.mbufs.available",
                "mbufs free in the pool",
                u64::from(s.mbufs_available),
            ));
        }
        m
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::admin::{to_json, to_prometheus};

        #[test]
        fn metrics_of_the_backend() {
            let info = PortInfo {
                id: 0,
                name: "net_af_packet0".into(),
                mac: EthernetAddress([2, 0, 0, 0, 0, 9]),
                mtu: 1500,
                link: Link {
                    up: true,
                    speed_mbps: 10_000,
                    full_duplex: true,
                },
                queues: 2,
                promiscuous: false,
                mbufs: 8191,
            };
            let stacks: Vec<Arc<StackStats>> = (0..2).map(|_| Arc::default()).collect();
            stacks[0].frames_in.store(12, Ordering::Relaxed);
            stacks[1].frames_filtered.store(3, Ordering::Relaxed);
            let mut c0 = Counters::default();
            c0.packets[Class::Mm1.index()] = 9;
            c0.drops[DropReason::NotPeer.index()] = 2;
            let mut c1 = Counters::default();
            c1.packets[Class::Mm1.index()] = 1;
            c1.drops[DropReason::NotPeer.index()] = 1;
            let published = [
                (c0, DeviceStats::default()),
                (
                    c1,
                    DeviceStats {
                        tx_dropped: 4,
                        ..DeviceStats::default()
                    },
                ),
            ];
            let snap = PortSnapshot {
                stats: Some(PortStats {
                    rx_packets: 15,
                    tx_packets: 11,
                    ..PortStats::default()
                }),
                link: Some(info.link),
                mbufs_in_use: 2300,
                mbufs_available: 5891,
            };
            let m = metrics(&info, Some(&snap), &stacks, &published);
            let j = to_json(&m);
            let d = &j["dpdk"];
            assert_eq!(d["frames_in"]["0"], 12);
            assert_eq!(d["frames_in"]["1"], 0);
            assert_eq!(d["frames_filtered"]["1"], 3);
            assert_eq!(d["tx_dropped"]["1"], 4);
            assert_eq!(d["classifier"]["packets"]["mm1"], 10);
            assert_eq!(d["classifier"]["dropped"]["not_peer"], 3);
            assert_eq!(d["classifier"]["dropped"]["syn_rate"], 0);
            assert_eq!(d["port"]["rx_packets"], 15);
            assert_eq!(d["port"]["tx_packets"], 11);
            assert_eq!(d["port"]["link_up"], 1);
            assert_eq!(d["port"]["link_speed_mbps"], 10_000);
            assert_eq!(d["port"]["info"]["net_af_packet0"]["02:00:00:00:00:09"], 1);
            assert_eq!(d["port"]["queues"], 2);
            assert_eq!(d["mbufs"]["in_use"], 2300);
            let p = to_prometheus(&m);
            assert!(p.contains("\nmmsc_dpdk_frames_in{core=\"0\"} 12\n"), "{p}");
            assert!(p.contains("\nmmsc_dpdk_port_rx_packets 15\n"), "{p}");
            assert_eq!(p.matches("# TYPE mmsc_dpdk_frames_in counter").count(), 1);
            // Without the port's answer: no port counters, the rest as before.
            let j = to_json(&metrics(&info, None, &stacks, &published));
            assert!(j["dpdk"]["port"].get("rx_packets").is_none());
            assert_eq!(j["dpdk"]["frames_in"]["0"], 12);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn eal_arguments_get_the_lcores_of_the_cores() {
        let args = strings(&["--no-huge", "--no-pci", "--vdev=net_af_packet0,iface=v1"]);
        assert_eq!(
            eal_args(&args, &[2, 3]).unwrap(),
            strings(&[
                "--no-huge",
                "--no-pci",
                "--vdev=net_af_packet0,iface=v1",
                "--lcores=0@2,1@3"
            ])
        );
        assert_eq!(eal_args(&[], &[0]).unwrap(), strings(&["--lcores=0@0"]));
        for bad in [
            &["-l", "0-1"][..],
            &["-l0"],
            &["-c", "0x3"],
            &["--lcores=0@1"],
            &["--lcores", "0"],
            &["--main-lcore=1"],
            &["--master-lcore", "1"],
        ] {
            let e = eal_args(&strings(bad), &[0]).unwrap_err().to_string();
            assert!(e.contains("dataplane.dpdk_args[0]"), "{bad:?}: {e}");
            assert!(e.contains("dataplane.cores"), "{e}");
        }
        // Not lcore options: a log level, a file prefix.
        assert!(eal_args(&strings(&["--log-level=8", "--file-prefix=lc"]), &[0]).is_ok());
        assert!(eal_args(&[], &[]).is_err());
    }

    #[test]
    fn devices_named_by_the_arguments() {
        let args = strings(&[
            "--no-huge",
            "-a",
            "0000:3b:00.0,rxq_cqe_comp_en=0",
            "--allow=3b:00.1",
            "-a0000:5e:00.0",
            "--vdev",
            "net_af_packet0,iface=veth1",
            "--vdev=net_tap0",
            "-m",
            "128",
            "-b",
            "0000:01:00.0",
        ]);
        assert_eq!(
            named_devices(&args),
            strings(&[
                "0000:3b:00.0",
                "3b:00.1",
                "0000:5e:00.0",
                "net_af_packet0",
                "net_tap0"
            ])
        );
        assert!(named_devices(&strings(&["--no-huge", "--no-pci"])).is_empty());
        assert_eq!(port_names("3b:00.1"), strings(&["3b:00.1", "0000:3b:00.1"]));
        assert_eq!(port_names("net_tap0"), strings(&["net_tap0"]));
    }

    #[test]
    fn classifier_rules_at_the_owned_address() {
        let cfg = mmsc_config::parse(
            r#"
[mm1]
listen = "0.0.0.0:8514"
trusted_proxies = ["10.0.0.1"]
[mm4]
listen = "0.0.0.0:2525"
peers = ["10.0.0.3/32"]
[dataplane]
backend = "dpdk"
address = "10.0.0.2/24"
syn_rate_per_source = 10
"#,
        )
        .unwrap();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let r = rules(&cfg, ip, 8514);
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        assert_eq!(r.listeners.len(), 2);
        for l in &r.listeners {
            assert_eq!(l.addr, Some(ip));
        }
        assert_eq!(
            (r.listeners[0].port, r.listeners[0].class),
            (8514, Class::Mm1)
        );
        assert_eq!(
            (r.listeners[1].port, r.listeners[1].class),
            (2525, Class::Mm4)
        );
        assert_eq!(r.mm4_peers.len(), 1);
        assert_eq!(r.syn_rate, 10);
    }

    #[test]
    fn pool_sizes() {
        assert_eq!(pool_mbufs(1, 1024, 1024, 256), 4095);
        assert_eq!(pool_mbufs(4, 1024, 1024, 256), 16383);
        assert_eq!(pool_mbufs(1, 2048, 2048, 256), 8191);
        assert_eq!(pool_mbufs(4, 2048, 2048, 256), 32767);
    }
}
