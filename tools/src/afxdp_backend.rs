//! Backend `afxdp`: the XDP program of backend `xdp` in redirect mode on `[dataplane]
//! interface`, one AF_XDP socket ([`mmsc_afxdp::XskDevice`]) per dataplane core on the
//! receive queue of the same number, and one user-space TCP/IP stack (smoltcp,
//! [`mmsc_netstack::Stack`]) per core on its socket, with the rings to the control plane of
//! the kernel backend's reactors.
//!
//! How the configuration maps onto it:
//!
//! - **XDP program**: the rules of backend `xdp` ([`crate::fastpath::rules`]) with MM1 at
//!   `address`:(port of `mm1.listen`) and MM4 at `address`:(port of `mm4.listen`), in
//!   [`Mode::Redirect`]: MM1 and MM4 segments it does not drop (MM4 from non-peers, SYNs over
//!   `syn_rate_per_source`) go to the AF_XDP socket of the queue they came in on, and so do
//!   ARP, ICMP and ICMPv6 for `address` (`set_owned_addresses`); everything else passes to
//!   the kernel (SSH, the admin API, routing protocols on the kernel's own addresses).
//!   Attached as `xdp_mode` says (`auto`: driver mode, else generic).
//! - **Queues**: dataplane core i (the i-th CPU of `[dataplane] cores`, or of the automatic
//!   choice) owns receive queue i. The interface needs at least as many receive queues as
//!   there are cores (`ethtool -L IFACE combined N`; refused at start otherwise), and should
//!   have exactly as many: MM1/MM4 frames that RSS puts on a queue without a socket pass to
//!   the kernel unserved (`xdp.redirect_no_socket`; a warning at start).
//! - **Sockets**: `dataplane.afxdp_frames` frames of 2048 octets (16384 by default: a 32 MiB
//!   UMEM per socket, 8192-entry rings), on 2 MiB hugepages when enough are free, zero-copy
//!   when the driver has it, else copy mode; the interface's MTU (at most what a frame
//!   holds).
//! - **Stacks**: every core's stack owns `address` (neighbours are gleaned from the frames
//!   received, so a peer's ARP reply reaching one queue serves all), with the interface's
//!   MAC, MM1 on the port of `mm1.listen` (its address is ignored: the stack serves
//!   `address`), the HTTP limits and MM1 front of the `kernel` backend, and
//!   `mm1.max_connections` split over the cores. No classifier in front of the stacks: the
//!   XDP program already filtered.
//! - **The address** must not be configured on the kernel's interface (the kernel would
//!   answer ARP and ping for it too, and reset TCP it does not know): checked at start (a
//!   UDP socket binds to it only when the kernel has it).
//!
//! Each core's thread pins itself to its CPU, opens its socket, puts it in the program's
//! XSKMAP and runs the stack's loop ([`mmsc_netstack::spawn_core`]): it polls while there is
//! work, and when idle it waits in poll(2) (at most 1 ms) for a frame on its socket or a
//! ring of its doorbell (a datagram socket pair), which the control plane rings after
//! pushing replies: a frame or a reply finds the core awake at once, as the kernel backend's
//! epoll reactors are. After each round the socket's TX ring is kicked and its fill ring
//! refilled ([`XskDevice::flush`](mmsc_afxdp::XskDevice::flush)) and its counters are
//! published for the admin API. [`AfxdpBackend::stop`] stops the loops (connections reset, sockets closed),
//! then detaches the XDP program.

#![cfg_attr(
    all(not(feature = "afxdp"), not(test)),
    expect(
        dead_code,
        reason = "the rules and interface checks are only used with feature afxdp"
    )
)]

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;

use anyhow::{Result, bail};
use mmsc_classify::{Class, Mode, Rules};
use mmsc_config::Config;

/// The XDP program's rules for backend `afxdp`: those of backend `xdp`
/// ([`crate::fastpath::rules`]) with MM1 on `address`:`mm1_port` and MM4 at `address` too
/// (the stacks own that address only, whatever `mm1.listen` and `mm4.listen` say), in
/// [`Mode::Redirect`].
pub fn rules(cfg: &Config, address: IpAddr, mm1_port: u16) -> Rules {
    let mut r = crate::fastpath::rules(cfg, SocketAddr::new(address, mm1_port));
    for l in &mut r.listeners {
        if l.class == Class::Mm4 {
            l.addr = Some(address.to_canonical());
        }
    }
    r.mode = Mode::Redirect;
    r
}

/// Whether this host's kernel has `ip` on one of its interfaces (in this network namespace):
/// only then does a socket bind to it (unless `ip_nonlocal_bind` is set).
pub fn kernel_owns(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// What the kernel says about the interface (`/sys/class/net/IFACE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceFacts {
    /// Its Ethernet address.
    pub mac: [u8; 6],
    /// Its IP MTU.
    pub mtu: usize,
    /// Its receive queues (`rx-N` under `queues/`: the real number, as `ethtool -L` sets
    /// it).
    pub rx_queues: usize,
}

impl InterfaceFacts {
    /// Reads them from `sysfs` (`/sys/class/net/IFACE`, as `ip netns exec` mounts it for the
    /// namespace).
    pub fn read(sysfs: &Path) -> io::Result<InterfaceFacts> {
        let read = |name: &str| std::fs::read_to_string(sysfs.join(name));
        let bad = |what: &str, text: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} {:?} in {}", text.trim(), sysfs.display()),
            )
        };
        let text = read("address")?;
        let mac = parse_mac(&text).ok_or_else(|| bad("Ethernet address", &text))?;
        let text = read("mtu")?;
        let mtu = text.trim().parse().map_err(|_| bad("MTU", &text))?;
        let mut rx_queues = 0;
        for entry in std::fs::read_dir(sysfs.join("queues"))? {
            let name = entry?.file_name();
            if name
                .to_str()
                .and_then(|n| n.strip_prefix("rx-"))
                .is_some_and(|n| n.parse::<u32>().is_ok())
            {
                rx_queues += 1;
            }
        }
        Ok(InterfaceFacts {
            mac,
            mtu,
            rx_queues,
        })
    }
}

/// `aa:bb:cc:dd:ee:ff` (as sysfs writes it).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for octet in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *octet = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `aa:bb:cc:dd:ee:ff`, as `ip link` shows it.
pub fn mac_text(mac: [u8; 6]) -> String {
    let octets: Vec<String> = mac.iter().map(|o| format!("{o:02x}")).collect();
    octets.join(":")
}

/// Core i serves queue i: refuses an interface with fewer receive queues than cores; with
/// more, returns the warning to print.
pub fn check_queues(iface: &str, rx_queues: usize, cores: usize) -> Result<Option<String>> {
    if rx_queues < cores {
        bail!(
            "backend afxdp: interface {iface} has {rx_queues} receive queue(s) and there are \
             {cores} dataplane core(s): core i serves queue i, so the interface needs one \
             queue per core (`ethtool -L {iface} combined {cores}`), or list {rx_queues} CPU(s) \
             in dataplane.cores"
        );
    }
    if rx_queues > cores {
        return Ok(Some(format!(
            "mmsc: afxdp: warning: interface {iface} has {rx_queues} receive queues and there \
             are {cores} dataplane core(s): MM1/MM4 frames that RSS puts on queues {cores}..{} \
             find no AF_XDP socket and pass to the kernel unserved \
             (xdp.redirect_no_socket); make them equal: `ethtool -L {iface} combined {cores}`",
            rx_queues - 1
        )));
    }
    Ok(None)
}

/// Why zero-copy was refused, in words: the bind's error `e`, and what it means.
fn zero_copy_refusal(e: &io::Error, generic_xdp: bool) -> String {
    let why = if generic_xdp {
        Some("generic XDP allows copy mode only")
    } else {
        match e.raw_os_error() {
            Some(95) => Some("the driver has no AF_XDP zero-copy"),
            _ => None,
        }
    };
    match why {
        Some(why) => format!("{e}: {why}"),
        None => e.to_string(),
    }
}

/// Why hugepages were refused, in words: mmap's error `e`, and what it means (`free`: the
/// 2 MiB hugepages free now).
fn hugepage_refusal(e: &io::Error, free: u64) -> String {
    match e.raw_os_error() {
        Some(12) => format!(
            "{e}: not enough free 2 MiB hugepages ({free} free), reserve them with \
             vm.nr_hugepages"
        ),
        _ => e.to_string(),
    }
}

#[cfg(feature = "afxdp")]
pub use running::{AfxdpBackend, AfxdpMetrics};

#[cfg(not(feature = "afxdp"))]
pub use absent::{AfxdpBackend, AfxdpMetrics};

/// A build without feature `afxdp`: the types exist, nothing can start.
#[cfg(not(feature = "afxdp"))]
mod absent {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use anyhow::{Result, bail};
    use mmsc_config::Config;
    use mmsc_dataplane::kernel::{CoreRings, ReactorStats};
    use mmsc_dataplane::mm1::Mm1Front;
    use mmsc_wire::http::HttpLimits;

    use crate::admin::Metric;

    /// What serve calls after the control plane pushed replies to a core.
    pub type CoreWaker = Arc<dyn Fn() + Send + Sync>;

    /// Never made without feature `afxdp`.
    #[derive(Debug)]
    pub enum AfxdpBackend {}

    /// Never made without feature `afxdp`.
    #[derive(Debug, Clone)]
    pub enum AfxdpMetrics {}

    impl AfxdpBackend {
        /// Refuses: this build has no AF_XDP.
        pub fn start(
            _cfg: &Config,
            _cpus: &[usize],
            _front: &Mm1Front,
            _http: &HttpLimits,
            _rings: Vec<CoreRings>,
            _wake_control: CoreWaker,
        ) -> Result<AfxdpBackend> {
            bail!("this build of mmsc has no backend afxdp (build it with --features afxdp)")
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

        pub fn metrics_source(&self) -> AfxdpMetrics {
            match *self {}
        }

        pub fn stop(self) {
            match self {}
        }
    }

    impl AfxdpMetrics {
        pub fn mm1(&self) -> Vec<&ReactorStats> {
            match *self {}
        }

        pub fn metrics(&self) -> Vec<Metric> {
            match *self {}
        }
    }
}

#[cfg(feature = "afxdp")]
mod running {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::net::SocketAddr;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::net::UnixDatagram;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
    use std::time::{Duration, Instant};

    use anyhow::{Context, Result, anyhow, bail};
    use crossbeam_channel::Sender;
    use mmsc_afxdp::{FrameSize, KernelStats, Pages, XskConfig, XskDevice, XskMode, XskStats};
    use mmsc_afxdp::{XskRxToken, XskTxToken};
    use mmsc_config::{Config, XdpMode};
    use mmsc_dataplane::kernel::{CoreRings, ReactorStats};
    use mmsc_dataplane::mm1::Mm1Front;
    use mmsc_ebpf::{AttachMode, AttachRequest, XdpOptions, XdpProgram};
    use mmsc_netstack::{Backoff, CoreDevice, NetCore, StackConfig, StackStats, spawn_core};
    use mmsc_wire::http::HttpLimits;
    use smoltcp::phy::{Device, DeviceCapabilities};
    use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

    use super::{
        InterfaceFacts, check_queues, hugepage_refusal, kernel_owns, mac_text, rules,
        zero_copy_refusal,
    };
    use crate::admin::Metric;

    /// What serve calls after the control plane pushed replies to a core.
    pub type CoreWaker = Arc<dyn Fn() + Send + Sync>;

    /// How long the cores may take to open their sockets.
    const START_WAIT: Duration = Duration::from_secs(20);
    /// The Ethernet header, outside the IP MTU.
    const ETHERNET_HEADER: usize = 14;

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A core's [`XskStats`], as last published by the core after a round.
    #[derive(Debug, Default)]
    struct XskCounters {
        rx_frames: AtomicU64,
        rx_bytes: AtomicU64,
        rx_invalid: AtomicU64,
        tx_frames: AtomicU64,
        tx_bytes: AtomicU64,
        tx_dropped: AtomicU64,
        completion_invalid: AtomicU64,
        tx_kicks: AtomicU64,
        fill_wakeups: AtomicU64,
    }

    impl XskCounters {
        fn publish(&self, s: &XskStats) {
            let w = |a: &AtomicU64, v| a.store(v, Ordering::Relaxed);
            w(&self.rx_frames, s.rx_frames);
            w(&self.rx_bytes, s.rx_bytes);
            w(&self.rx_invalid, s.rx_invalid);
            w(&self.tx_frames, s.tx_frames);
            w(&self.tx_bytes, s.tx_bytes);
            w(&self.tx_dropped, s.tx_dropped);
            w(&self.completion_invalid, s.completion_invalid);
            w(&self.tx_kicks, s.tx_kicks);
            w(&self.fill_wakeups, s.fill_wakeups);
        }

        fn read(&self) -> XskStats {
            let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
            XskStats {
                rx_frames: r(&self.rx_frames),
                rx_bytes: r(&self.rx_bytes),
                rx_invalid: r(&self.rx_invalid),
                tx_frames: r(&self.tx_frames),
                tx_bytes: r(&self.tx_bytes),
                tx_dropped: r(&self.tx_dropped),
                completion_invalid: r(&self.completion_invalid),
                tx_kicks: r(&self.tx_kicks),
                fill_wakeups: r(&self.fill_wakeups),
            }
        }
    }

    /// What a core's socket got when it opened.
    #[derive(Debug, Clone)]
    struct SocketInfo {
        cpu: usize,
        pinned: bool,
        queue: u32,
        mode: XskMode,
        zero_copy_refusal: Option<String>,
        pages: Pages,
        hugepage_refusal: Option<String>,
        frames: usize,
        frame_size: usize,
        umem_bytes: usize,
    }

    impl SocketInfo {
        /// One line for the start-up log: socket mode and UMEM pages, and why.
        fn describe(&self, iface: &str, index: usize) -> String {
            let mode = match (&self.mode, &self.zero_copy_refusal) {
                (XskMode::ZeroCopy, _) => {
                    "zero-copy mode (the driver has AF_XDP zero-copy)".to_owned()
                }
                (XskMode::Copy, Some(e)) => format!("copy mode (zero-copy refused: {e})"),
                (XskMode::Copy, None) => "copy mode".to_owned(),
            };
            let pages = match (&self.pages, &self.hugepage_refusal) {
                (Pages::Huge2M, _) => "2 MiB hugepages".to_owned(),
                (Pages::Normal, Some(e)) => format!("normal pages (hugepages refused: {e})"),
                (Pages::Normal, None) => "normal pages".to_owned(),
            };
            format!(
                "mmsc: afxdp: core {index} on CPU {}{}: {iface} queue {}: {mode}; UMEM {} KiB \
                 ({} frames of {} octets) on {pages}",
                self.cpu,
                if self.pinned { "" } else { " (not pinned)" },
                self.queue,
                self.umem_bytes / 1024,
                self.frames,
                self.frame_size,
            )
        }
    }

    /// What each core shares with the rest of mmsc.
    #[derive(Debug, Default)]
    struct CoreShared {
        /// The socket's counters, published by the core.
        xsk: XskCounters,
        /// The socket, once open.
        info: OnceLock<SocketInfo>,
        /// A duplicate of the socket's descriptor, to read the kernel's counters of it
        /// (`XDP_STATISTICS`) from the admin API's thread; dropped at the stop.
        socket: Mutex<Option<OwnedFd>>,
        /// The core waits (or is about to): only then does the control plane ring its
        /// doorbell (a busy core sees the replies at its next poll).
        asleep: AtomicBool,
    }

    /// The XDP program, while attached.
    #[derive(Debug)]
    struct Xdp {
        program: Mutex<Option<XdpProgram>>,
        interface: String,
        mode: &'static str,
        program_id: u32,
    }

    /// The running backend: the XDP program and the cores' loops.
    #[derive(Debug)]
    pub struct AfxdpBackend {
        cores: Vec<NetCore>,
        /// The control plane's end of each core's doorbell.
        bells: Vec<Arc<UnixDatagram>>,
        shared: Arc<[CoreShared]>,
        stacks: Arc<[Arc<StackStats>]>,
        xdp: Arc<Xdp>,
        mm1_addr: SocketAddr,
    }

    /// The counters of the backend, for the admin API (cheap to clone, `Send + Sync`).
    #[derive(Debug, Clone)]
    pub struct AfxdpMetrics {
        shared: Arc<[CoreShared]>,
        stacks: Arc<[Arc<StackStats>]>,
        xdp: Arc<Xdp>,
    }

    // How long an idle core polls (yielding between polls) before it waits on its socket
    // and doorbell, `dataplane.idle_poll_us`: a wait costs a wake-up (an interrupt to its
    // CPU) when the next frame or reply comes. Over veth (bench/README.md, "Backends over
    // veth"), 50 us used the least CPU per request at the kernel backend's rate or above;
    // 400 us cost 10 us more per request, 0 us lowered the rate.

    /// What the thread of core `index` needs to open its socket.
    struct CoreSetup {
        index: usize,
        cpu: usize,
        iface: String,
        xsk: XskConfig,
        xdp: Arc<Xdp>,
        shared: Arc<[CoreShared]>,
        doorbell: UnixDatagram,
        ready: Sender<Result<usize, (usize, String)>>,
        idle_poll: Duration,
    }

    /// A core's AF_XDP socket as the netstack loop drives it: kicked and refilled after each
    /// round, its counters published when they change; idle waits end at the first frame or
    /// ring of the doorbell.
    struct XskCore {
        device: XskDevice,
        /// The receiving end of the core's doorbell (non-blocking).
        doorbell: UnixDatagram,
        shared: Arc<[CoreShared]>,
        index: usize,
        published: XskStats,
        idle_poll: Duration,
    }

    impl Device for XskCore {
        type RxToken<'a> = XskRxToken<'a>;
        type TxToken<'a> = XskTxToken<'a>;

        fn receive(
            &mut self,
            timestamp: smoltcp::time::Instant,
        ) -> Option<(XskRxToken<'_>, XskTxToken<'_>)> {
            self.device.receive(timestamp)
        }

        fn transmit(&mut self, timestamp: smoltcp::time::Instant) -> Option<XskTxToken<'_>> {
            self.device.transmit(timestamp)
        }

        fn capabilities(&self) -> DeviceCapabilities {
            self.device.capabilities()
        }
    }

    impl CoreDevice for XskCore {
        fn after_round(&mut self) {
            self.device.flush();
            let now = self.device.stats();
            if now != self.published
                && let Some(c) = self.shared.get(self.index)
            {
                c.xsk.publish(&now);
                self.published = now;
            }
        }

        fn backoff(&self) -> Backoff {
            Backoff::new(self.idle_poll)
        }

        fn will_wait(&mut self) {
            if let Some(c) = self.shared.get(self.index) {
                c.asleep.store(true, Ordering::SeqCst);
            }
        }

        fn woke(&mut self) {
            if let Some(c) = self.shared.get(self.index) {
                c.asleep.store(false, Ordering::Relaxed);
            }
        }

        fn idle_wait(&mut self, timeout: Duration) {
            if self.device.wait_or(self.doorbell.as_fd(), timeout).is_err() {
                std::thread::park_timeout(timeout);
            }
            let mut rings = [0u8; 64];
            while matches!(self.doorbell.recv(&mut rings), Ok(n) if n > 0) {}
        }
    }

    /// A core's doorbell: (the control plane's end, the core's end), both non-blocking.
    fn doorbell() -> std::io::Result<(UnixDatagram, UnixDatagram)> {
        let (bell, core) = UnixDatagram::pair()?;
        bell.set_nonblocking(true)?;
        core.set_nonblocking(true)?;
        Ok((bell, core))
    }

    /// On core `s.index`'s thread: pin it, open the socket on queue `s.index`, put it in the
    /// XSKMAP, and tell the starting thread how it went.
    fn open_core(s: CoreSetup) -> Result<XskCore> {
        let pinned = core_affinity::set_for_current(core_affinity::CoreId { id: s.cpu });
        let queue = u32::try_from(s.index).context("too many dataplane cores")?;
        let opened = (|| -> Result<XskDevice> {
            let device = XskDevice::open(&s.iface, queue, &s.xsk).with_context(|| {
                format!("cannot open an AF_XDP socket on {} queue {queue}", s.iface)
            })?;
            let mut program = lock(&s.xdp.program);
            let program = program
                .as_mut()
                .context("the XDP program is already detached")?;
            device.register(program).with_context(|| {
                format!("cannot put the AF_XDP socket of queue {queue} in the XSKMAP")
            })?;
            Ok(device)
        })();
        let device = match opened {
            Ok(d) => d,
            Err(e) => {
                let _ = s.ready.send(Err((s.index, format!("{e:#}"))));
                return Err(e);
            }
        };
        let core = s
            .shared
            .get(s.index)
            .context("no shared state for the core")?;
        let _ = core.info.set(SocketInfo {
            cpu: s.cpu,
            pinned,
            queue,
            mode: device.mode(),
            zero_copy_refusal: device
                .zero_copy_refusal()
                .map(|e| zero_copy_refusal(e, s.xdp.mode == AttachMode::Generic.name())),
            pages: device.pages(),
            hugepage_refusal: device
                .hugepage_refusal()
                .map(|e| hugepage_refusal(e, mmsc_afxdp::free_hugepages())),
            frames: device.frame_count(),
            frame_size: device.frame_size(),
            umem_bytes: device.umem_bytes(),
        });
        *lock(&core.socket) = device.as_fd().try_clone_to_owned().ok();
        let _ = s.ready.send(Ok(s.index));
        Ok(XskCore {
            device,
            doorbell: s.doorbell,
            shared: s.shared,
            index: s.index,
            published: XskStats::default(),
            idle_poll: s.idle_poll,
        })
    }

    impl AfxdpBackend {
        /// Attaches the XDP program and starts one core per CPU of `cpus` (see the module
        /// docs), with core i's rings `rings[i]`; `wake_control` wakes the control plane.
        /// Returns once every core has its socket in the XSKMAP, or with the first error
        /// (what failed and what to check); nothing is left attached then.
        pub fn start(
            cfg: &Config,
            cpus: &[usize],
            front: &Mm1Front,
            http: &HttpLimits,
            rings: Vec<CoreRings>,
            wake_control: CoreWaker,
        ) -> Result<AfxdpBackend> {
            let dp = &cfg.dataplane;
            let iface = dp.interface.as_str();
            let address = dp.address.as_ref().context(
                "backend afxdp needs dataplane.address (the address its TCP stacks own)",
            )?;
            let ip = address.addr();
            let mm1_port = cfg.mm1.listen.port();
            if mm1_port == 0 {
                bail!(
                    "backend afxdp needs a fixed MM1 port: mm1.listen {} asks for port 0",
                    cfg.mm1.listen
                );
            }
            if cpus.is_empty() || rings.len() != cpus.len() {
                bail!("backend afxdp needs one ring pair per dataplane core, and a core");
            }
            let listen_ip = cfg.mm1.listen.ip();
            if !listen_ip.is_unspecified() && listen_ip.to_canonical() != ip.to_canonical() {
                eprintln!(
                    "mmsc: afxdp: mm1.listen {} is not on dataplane.address {ip}: MM1 is served \
                     at {ip} port {mm1_port}",
                    cfg.mm1.listen
                );
            }
            if kernel_owns(ip) {
                bail!(
                    "backend afxdp: dataplane.address {ip} is configured on this host's kernel \
                     (or net.ipv4.ip_nonlocal_bind is set): the user-space stacks own it, and \
                     the kernel would answer ARP and ping for it too and reset their TCP \
                     connections; remove it (`ip addr del {address} dev {iface}`) and keep \
                     other addresses for the kernel"
                );
            }
            let rules = rules(cfg, ip, mm1_port);
            let problems = rules.problems();
            if !problems.is_empty() {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                bail!("the fast-path rules are inconsistent: {}", list.join("; "));
            }
            let options = XdpOptions {
                attach: match dp.xdp_mode {
                    XdpMode::Auto => AttachRequest::Auto,
                    XdpMode::Driver => AttachRequest::Driver,
                    XdpMode::Generic => AttachRequest::Generic,
                },
                replace_foreign: false,
            };
            let mut program =
                XdpProgram::load_with(iface, &rules, &options).with_context(|| {
                    format!("backend afxdp: cannot attach the XDP program to interface {iface:?}")
                })?;
            for old in program.replaced() {
                eprintln!(
                    "mmsc: afxdp: replaced a stale XDP program on {iface} (id {}, {})",
                    old.prog_id, old.name
                );
            }
            program.set_owned_addresses(&[ip]).with_context(|| {
                format!("backend afxdp: cannot give the XDP program the owned address {ip}")
            })?;
            let sysfs = std::path::Path::new("/sys/class/net").join(iface);
            let facts = InterfaceFacts::read(&sysfs).with_context(|| {
                format!(
                    "backend afxdp: cannot read the MAC address, MTU and queues of {iface} from \
                     {}",
                    sysfs.display()
                )
            })?;
            if let Some(warning) = check_queues(iface, facts.rx_queues, cpus.len())? {
                eprintln!("{warning}");
            }
            let mac = EthernetAddress(facts.mac);
            if !mac.is_unicast() {
                bail!(
                    "backend afxdp: {iface} has no unicast MAC address ({})",
                    mac_text(facts.mac)
                );
            }
            let xsk = XskConfig {
                frame_count: dp.afxdp_frames,
                mtu: facts
                    .mtu
                    .min(FrameSize::B2048.max_frame() - ETHERNET_HEADER),
                ..XskConfig::default()
            };
            let problems = xsk.problems();
            if !problems.is_empty() {
                bail!(
                    "backend afxdp: interface {iface} (MTU {}): {}",
                    facts.mtu,
                    problems.join("; ")
                );
            }
            let xdp = Arc::new(Xdp {
                interface: iface.to_owned(),
                mode: program.mode().name(),
                program_id: program.program_id(),
                program: Mutex::new(Some(program)),
            });

            let cidr = IpCidr::new(IpAddress::from(ip), address.prefix_len());
            let per_core_conns = (cfg.mm1.max_connections / cpus.len()).max(1);
            let seeds = RandomState::new();
            let shared: Arc<[CoreShared]> =
                (0..cpus.len()).map(|_| CoreShared::default()).collect();
            let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
            let mut backend = AfxdpBackend {
                cores: Vec::with_capacity(cpus.len()),
                bells: Vec::with_capacity(cpus.len()),
                shared: Arc::clone(&shared),
                stacks: Arc::from(Vec::new()),
                xdp: Arc::clone(&xdp),
                mm1_addr: SocketAddr::new(ip, mm1_port),
            };
            let mut stacks = Vec::with_capacity(cpus.len());
            for (i, (&cpu, core_rings)) in cpus.iter().zip(rings).enumerate() {
                let core = u16::try_from(i).context("too many dataplane cores")?;
                let mut s = StackConfig::new(core, cidr, mac, mm1_port, front.clone());
                s.max_connections = per_core_conns.max(s.listen_backlog);
                s.http = http.clone();
                s.random_seed = seeds.hash_one((i, std::process::id()));
                let problems = s.problems();
                if !problems.is_empty() {
                    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                    bail!(
                        "backend afxdp: bad stack configuration: {}",
                        list.join("; ")
                    );
                }
                let (bell, core_end) = doorbell().context("cannot make a core's doorbell")?;
                backend.bells.push(Arc::new(bell));
                let setup = CoreSetup {
                    index: i,
                    cpu,
                    iface: iface.to_owned(),
                    xsk,
                    xdp: Arc::clone(&xdp),
                    shared: Arc::clone(&shared),
                    doorbell: core_end,
                    ready: ready_tx.clone(),
                    idle_poll: Duration::from_micros(dp.idle_poll_us),
                };
                let net_core = spawn_core(
                    format!("mmsc-afxdp{i}"),
                    s,
                    core_rings,
                    Arc::clone(&wake_control),
                    move || open_core(setup),
                )
                .with_context(|| format!("cannot start the thread of dataplane core {i}"))?;
                stacks.push(Arc::clone(&net_core.stats));
                backend.cores.push(net_core);
            }
            drop(ready_tx);
            backend.stacks = Arc::from(stacks);

            let deadline = Instant::now() + START_WAIT;
            for _ in cpus {
                match ready_rx.recv_deadline(deadline) {
                    Ok(Ok(_)) => {}
                    Ok(Err((i, e))) => {
                        let cpu = cpus.get(i).copied().unwrap_or_default();
                        let _ = backend.halt();
                        bail!("backend afxdp: dataplane core {i} (CPU {cpu}): {e}");
                    }
                    Err(_) => {
                        let ended = backend.halt();
                        let mut err = anyhow!(
                            "backend afxdp: the dataplane cores did not open their sockets \
                             within {START_WAIT:?}"
                        );
                        if let Err(e) = ended {
                            err = err.context(format!("{e:#}"));
                        }
                        return Err(err);
                    }
                }
            }

            let generic = xdp.mode == AttachMode::Generic.name();
            eprintln!(
                "mmsc: afxdp: mmsc_xdp attached to {iface} in {} mode{} (program id {}, \
                 xdp_mode {}), redirecting to AF_XDP; smoltcp owns {cidr} (MAC {}, MTU {}) \
                 on {} core(s), one per receive queue ({} queue(s)); MM1 port {mm1_port}; MM4 \
                 {}, {} peer prefix(es); SYN limit {}",
                xdp.mode,
                if generic {
                    " (the driver has no native XDP: slower, and copy mode only)"
                } else {
                    ""
                },
                xdp.program_id,
                dp.xdp_mode,
                mac_text(facts.mac),
                xsk.mtu,
                cpus.len(),
                facts.rx_queues,
                cfg.mm4
                    .listen
                    .map_or_else(|| "off".to_owned(), |a| format!("port {}", a.port())),
                rules.mm4_peers.len(),
                if rules.syn_rate == 0 {
                    "off".to_owned()
                } else {
                    format!("{}/s per source, burst {}", rules.syn_rate, rules.syn_burst)
                },
            );
            for (i, c) in shared.iter().enumerate() {
                if let Some(info) = c.info.get() {
                    eprintln!("{}", info.describe(iface, i));
                }
            }
            Ok(backend)
        }

        /// Where MM1 is served: the stacks' address and the MM1 port.
        pub fn mm1_addr(&self) -> SocketAddr {
            self.mm1_addr
        }

        /// Dataplane cores.
        pub fn cores(&self) -> usize {
            self.shared.len()
        }

        /// One waker per core, for the control plane: rings the core's doorbell (a datagram
        /// to the socket its idle wait polls beside its AF_XDP socket; dropped when one is
        /// already waiting) if the core waits or is about to; a busy core sees the replies
        /// at its next poll without it.
        pub fn wakers(&self) -> Vec<CoreWaker> {
            self.bells
                .iter()
                .enumerate()
                .map(|(i, bell)| {
                    let bell = Arc::clone(bell);
                    let shared = Arc::clone(&self.shared);
                    Arc::new(move || {
                        // The replies are in the ring: the core, which says it waits before it
                        // looks at the ring a last time, either sees them or is rung.
                        fence(Ordering::SeqCst);
                        if shared
                            .get(i)
                            .is_none_or(|c| c.asleep.load(Ordering::Relaxed))
                        {
                            let _ = bell.send(&[1]);
                        }
                    }) as CoreWaker
                })
                .collect()
        }

        /// The counters, for the admin API.
        pub fn metrics_source(&self) -> AfxdpMetrics {
            AfxdpMetrics {
                shared: Arc::clone(&self.shared),
                stacks: Arc::clone(&self.stacks),
                xdp: Arc::clone(&self.xdp),
            }
        }

        /// Stops the cores (their connections are reset, their sockets closed), then
        /// detaches the XDP program; says so, or what failed.
        pub fn stop(mut self) {
            let cores = self.cores.len();
            match self.halt() {
                Ok(()) => eprintln!(
                    "mmsc: afxdp: stopped: {cores} core(s) ended, their AF_XDP sockets closed"
                ),
                Err(e) => eprintln!("mmsc: afxdp: stopping: {e:#}"),
            }
        }

        fn halt(&mut self) -> Result<()> {
            for c in self.shared.iter() {
                drop(lock(&c.socket).take());
            }
            let mut problems = Vec::new();
            // A core waiting in poll(2) sees the stop within a millisecond.
            for (i, core) in self.cores.drain(..).enumerate() {
                if let Err(e) = core.stop() {
                    problems.push(format!("core {i}: {e}"));
                }
            }
            if let Some(program) = lock(&self.xdp.program).take() {
                match program.detach() {
                    Ok(()) => eprintln!("mmsc: afxdp: detached from {}", self.xdp.interface),
                    Err(e) => problems.push(format!(
                        "detaching the XDP program from {}: {e}",
                        self.xdp.interface
                    )),
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(anyhow!("{}", problems.join("; ")))
            }
        }
    }

    impl Drop for AfxdpBackend {
        fn drop(&mut self) {
            let _ = self.halt();
        }
    }

    /// A per-core counter of the sockets: name, help, field.
    type SocketCounter = (&'static str, &'static str, fn(&XskStats) -> u64);
    /// A per-core counter of the kernel's for the sockets: name, help, field.
    type KernelCounter = (&'static str, &'static str, fn(&KernelStats) -> u64);
    /// A per-core counter of the stacks: name, help, field.
    type StackCounter = (&'static str, &'static str, fn(&StackStats) -> &AtomicU64);

    const SOCKET_COUNTERS: [SocketCounter; 9] = [
        (
            "afxdp.rx_frames",
            "frames the AF_XDP socket handed to smoltcp",
            |s| s.rx_frames,
        ),
        ("afxdp.rx_bytes", "octets of those frames", |s| s.rx_bytes),
        (
            "afxdp.tx_frames",
            "frames smoltcp sent through the AF_XDP socket",
            |s| s.tx_frames,
        ),
        ("afxdp.tx_bytes", "octets of those frames", |s| s.tx_bytes),
        (
            "afxdp.tx_dropped",
            "frames smoltcp wrote that found no free TX frame in the UMEM (TCP retransmits)",
            |s| s.tx_dropped,
        ),
        (
            "afxdp.rx_invalid",
            "RX descriptors outside the RX half of the UMEM (skipped)",
            |s| s.rx_invalid,
        ),
        (
            "afxdp.completion_invalid",
            "completions outside the TX half of the UMEM (skipped)",
            |s| s.completion_invalid,
        ),
        (
            "afxdp.tx_kicks",
            "sendto calls that started transmission",
            |s| s.tx_kicks,
        ),
        (
            "afxdp.fill_wakeups",
            "wakeups the fill ring asked for (zero-copy)",
            |s| s.fill_wakeups,
        ),
    ];

    const KERNEL_COUNTERS: [KernelCounter; 6] = [
        (
            "afxdp.kernel.rx_dropped",
            "frames the kernel dropped for the socket (XDP_STATISTICS rx_dropped)",
            |k| k.rx_dropped,
        ),
        (
            "afxdp.kernel.rx_ring_full",
            "frames dropped because the socket's RX ring was full",
            |k| k.rx_ring_full,
        ),
        (
            "afxdp.kernel.rx_fill_ring_empty",
            "times the fill ring was empty when a frame came",
            |k| k.rx_fill_ring_empty_descs,
        ),
        (
            "afxdp.kernel.tx_ring_empty",
            "times the kernel found the TX ring empty",
            |k| k.tx_ring_empty_descs,
        ),
        (
            "afxdp.kernel.rx_invalid_descs",
            "invalid descriptors in the fill ring",
            |k| k.rx_invalid_descs,
        ),
        (
            "afxdp.kernel.tx_invalid_descs",
            "invalid descriptors in the TX ring",
            |k| k.tx_invalid_descs,
        ),
    ];

    const STACK_COUNTERS: [StackCounter; 4] = [
        (
            "netstack.frames_in",
            "frames the core's TCP/IP stack received",
            |s| &s.frames_in,
        ),
        (
            "netstack.frames_out",
            "frames the core's TCP/IP stack sent",
            |s| &s.frames_out,
        ),
        (
            "netstack.neighbors_learnt",
            "neighbours the stack learnt from the frames it received",
            |s| &s.neighbors_learnt,
        ),
        (
            "netstack.aborted",
            "connections the stack reset (response not read, close not acknowledged, error)",
            |s| &s.aborted,
        ),
    ];

    impl AfxdpMetrics {
        /// The MM1 counters of each core's stack, in core order.
        pub fn mm1(&self) -> Vec<&ReactorStats> {
            self.stacks.iter().map(|s| &s.mm1).collect()
        }

        /// The stacks', the sockets' (ours and the kernel's) and the XDP program's counters.
        pub fn metrics(&self) -> Vec<Metric> {
            let mut m = Vec::new();
            for (name, help, field) in STACK_COUNTERS {
                for (i, s) in self.stacks.iter().enumerate() {
                    let v = field(s).load(Ordering::Relaxed);
                    m.push(Metric::counter(name, help, v).label("core", i.to_string()));
                }
            }
            let sockets: Vec<XskStats> = self.shared.iter().map(|c| c.xsk.read()).collect();
            for (name, help, field) in SOCKET_COUNTERS {
                for (i, s) in sockets.iter().enumerate() {
                    m.push(Metric::counter(name, help, field(s)).label("core", i.to_string()));
                }
            }
            let kernel: Vec<Option<KernelStats>> = self
                .shared
                .iter()
                .map(|c| {
                    lock(&c.socket)
                        .as_ref()
                        .and_then(|fd| KernelStats::of(fd).ok())
                })
                .collect();
            for (name, help, field) in KERNEL_COUNTERS {
                for (i, k) in kernel.iter().enumerate() {
                    if let Some(k) = k {
                        m.push(Metric::counter(name, help, field(k)).label("core", i.to_string()));
                    }
                }
            }
            for (i, c) in self.shared.iter().enumerate() {
                let Some(info) = c.info.get() else { continue };
                m.push(
                    Metric::gauge(
                        "afxdp.mode",
                        "the AF_XDP socket's mode (copy or zero-copy), per core",
                        1,
                    )
                    .label("core", i.to_string())
                    .label("mode", info.mode.name()),
                );
            }
            for (i, c) in self.shared.iter().enumerate() {
                let Some(info) = c.info.get() else { continue };
                m.push(
                    Metric::gauge(
                        "afxdp.pages",
                        "the pages under the socket's UMEM (huge_2m or normal), per core",
                        1,
                    )
                    .label("core", i.to_string())
                    .label(
                        "pages",
                        match info.pages {
                            Pages::Huge2M => "huge_2m",
                            Pages::Normal => "normal",
                        },
                    ),
                );
            }
            for (i, c) in self.shared.iter().enumerate() {
                let Some(info) = c.info.get() else { continue };
                m.push(
                    Metric::gauge(
                        "afxdp.umem_bytes",
                        "octets of the socket's UMEM",
                        info.umem_bytes as u64,
                    )
                    .label("core", i.to_string()),
                );
            }
            for (i, c) in self.shared.iter().enumerate() {
                let Some(info) = c.info.get() else { continue };
                m.push(
                    Metric::gauge(
                        "afxdp.queue",
                        "the receive queue of the core's socket",
                        u64::from(info.queue),
                    )
                    .label("core", i.to_string()),
                );
            }
            let counters = lock(&self.xdp.program)
                .as_ref()
                .and_then(|p| p.counters().ok());
            if let Some(c) = counters {
                m.extend(
                    crate::fastpath::xdp_metrics(
                        &c,
                        &self.xdp.interface,
                        self.xdp.mode,
                        self.xdp.program_id,
                        0,
                    )
                    .into_iter()
                    // No SK_REUSEPORT steering here: the NIC's RSS spreads the flows.
                    .filter(|m| m.name != "dataplane.steered_cores"),
                );
                m.push(Metric::counter(
                    "xdp.redirected_owned",
                    "frames redirected because they are ARP, ICMP or ICMPv6 for the owned \
                     address (part of xdp.redirected)",
                    c.redirected_owned,
                ));
            }
            m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsc_classify::Listener;

    #[test]
    fn rules_put_both_listeners_on_the_owned_address_and_redirect() {
        let c = mmsc_config::parse(
            r#"
[mm1]
listen = "0.0.0.0:8514"
[mm4]
listen = "[::]:25"
peers = ["192.0.2.0/24"]
[dataplane]
backend = "afxdp"
interface = "eth1"
address = "10.0.0.2/24"
syn_rate_per_source = 20
"#,
        )
        .unwrap();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let r = rules(&c, ip, 8514);
        assert_eq!(r.mode, Mode::Redirect);
        assert_eq!(
            r.listeners,
            [
                Listener {
                    addr: Some(ip),
                    port: 8514,
                    class: Class::Mm1
                },
                Listener {
                    addr: Some(ip),
                    port: 25,
                    class: Class::Mm4
                },
            ]
        );
        assert_eq!(r.mm4_peers.len(), 1);
        assert_eq!(r.syn_rate, 20);
        assert!(r.problems().is_empty(), "{:?}", r.problems());
    }

    #[test]
    fn macs_queues_and_the_kernels_addresses() {
        assert_eq!(
            parse_mac("02:1a:ff:00:9B:0c\n"),
            Some([0x02, 0x1a, 0xff, 0x00, 0x9b, 0x0c])
        );
        assert_eq!(
            mac_text([0x02, 0x1a, 0xff, 0, 0x9b, 0x0c]),
            "02:1a:ff:00:9b:0c"
        );
        for bad in [
            "",
            "02:1a:ff:00:9b",
            "02:1a:ff:00:9b:0c:01",
            "2:1a:ff:00:9b:0c",
            "zz",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert!(check_queues("eth1", 2, 2).unwrap().is_none());
        let warning = check_queues("eth1", 4, 2).unwrap().unwrap();
        assert!(warning.contains("queues 2..3"), "{warning}");
        assert!(warning.contains("ethtool -L eth1 combined 2"), "{warning}");
        let err = check_queues("eth1", 1, 2).unwrap_err().to_string();
        assert!(err.contains("has 1 receive queue(s)"), "{err}");
        assert!(err.contains("ethtool -L eth1 combined 2"), "{err}");
        let eop = io::Error::from_raw_os_error(95);
        assert!(
            zero_copy_refusal(&eop, false).ends_with(": the driver has no AF_XDP zero-copy"),
            "{}",
            zero_copy_refusal(&eop, false)
        );
        assert!(zero_copy_refusal(&eop, true).ends_with(": generic XDP allows copy mode only"));
        let nomem = hugepage_refusal(&io::Error::from_raw_os_error(12), 3);
        assert!(
            nomem.contains("(3 free), reserve them with vm.nr_hugepages"),
            "{nomem}"
        );
        // Loopback is always the kernel's; a documentation address never is.
        assert!(kernel_owns("127.0.0.1".parse().unwrap()));
        assert!(!kernel_owns("192.0.2.213".parse().unwrap()));
    }

    #[test]
    fn interface_facts_from_sysfs() {
        let lo = InterfaceFacts::read(Path::new("/sys/class/net/lo"));
        match lo {
            Ok(f) => {
                assert_eq!(f.mac, [0; 6]);
                assert!(f.mtu >= 1500, "{f:?}");
                assert!(f.rx_queues >= 1, "{f:?}");
            }
            // No sysfs here: nothing to check.
            Err(e) => eprintln!("no /sys/class/net/lo: {e}"),
        }
        assert!(InterfaceFacts::read(Path::new("/sys/class/net/nosuch0")).is_err());
    }
}
