//! `mmsc serve`: wire the store, the control plane and the dataplane cores together, and run
//! until SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mmsc_config::{Backend, Config, PushMode, StoreIo};
use mmsc_controlplane::service::{Settings, rules_of};
use mmsc_controlplane::submit::{CoreSubmitter, CoreWake, FastPath, IdSource};
use mmsc_controlplane::{ControlConfig, ControlPlane, Doorbell};
use mmsc_dataplane::bufpool::BufPool;
use mmsc_dataplane::kernel::{self, ReactorConfig};
use mmsc_dataplane::mm1::Mm1Front;
use mmsc_dataplane::submit::Submitter;
use mmsc_store::{IoMode, Store, StoreConfig};
use mmsc_wire::Limits;
use mmsc_wire::http::HttpLimits;

use crate::admin::{self, Metric, Source};
use crate::afxdp_backend::{AfxdpBackend, AfxdpMetrics};
use crate::dpdk_backend::{DpdkBackend, DpdkMetrics};

/// Capacity of each core's job and reply rings.
const RING_CAPACITY: usize = 8192;
/// Request buffers kept per core for use again (16 KiB each: at most 16 MiB per core).
const REQUEST_BUFFERS: usize = 1024;

/// Completions of a core's submits wake it as the control plane's replies do.
fn set_core_wakes(slots: &[CoreWake], wakes: &[Arc<dyn Fn() + Send + Sync>]) {
    for (slot, wake) in slots.iter().zip(wakes) {
        let _ = slot.set(Arc::clone(wake));
    }
}

/// Load the configuration: the file, or the embedded defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => mmsc_config::load(p).map_err(|e| {
            // All problems at once, one per line.
            anyhow::anyhow!("{}: invalid configuration:\n{e}", p.display())
        }),
        None => Ok(Config::default()),
    }
}

/// Which CPUs run dataplane cores: the configured list, or half the CPUs (at least one),
/// leaving the rest to the control plane, the store writer and the push workers.
fn choose_cores(cfg: &Config) -> Vec<usize> {
    if !cfg.dataplane.cores.is_empty() {
        return cfg.dataplane.cores.clone();
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..(n / 2).max(1)).collect()
}

/// Run the MMSC.
pub fn run(config: Option<PathBuf>) -> Result<()> {
    let cfg = load_config(config.as_deref())?;
    if !cfg.mmsc.transparent_hugepages
        && let Err(e) = rustix::thread::disable_transparent_huge_pages(true)
    {
        // Not fatal: the system's setting applies.
        eprintln!("mmsc: cannot turn transparent huge pages off for this process ({e})");
    }
    // Before anything listens: a SIGTERM that comes as soon as the port accepts connections
    // must stop the server gracefully, not kill it with the default action.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handler")?;
    }
    check_backend(cfg.dataplane.backend)?;
    let doorbell = Doorbell::new();
    let (completions_tx, completions_rx) = crossbeam_channel::unbounded();
    let bell = Arc::clone(&doorbell);
    let mut store_cfg = StoreConfig::new(&cfg.store.path);
    store_cfg.segment_bytes = cfg.store.segment_bytes;
    store_cfg.max_batch_records = cfg.store.max_batch_records;
    store_cfg.page_cache_window = cfg.store.window_mb.saturating_mul(1024 * 1024);
    store_cfg.prepare_segments = cfg.store.prepare_segments;
    store_cfg.zero_fill = cfg.store.zero_fill;
    store_cfg.io = match cfg.store.io {
        StoreIo::Direct => IoMode::Direct,
        StoreIo::Buffered => IoMode::Buffered,
    };
    store_cfg.max_record_bytes = cfg.mm1.max_message_bytes * 2 + 64 * 1024;
    let (store, recovered) = Store::open(store_cfg, completions_tx, Box::new(move || bell.ring()))
        .with_context(|| format!("cannot open the store in {}", cfg.store.path.display()))?;
    if let Some((seg, at, n)) = recovered.cut {
        eprintln!("mmsc: store: cut a torn tail of {n} octets in segment {seg} at offset {at}");
    }
    for p in &recovered.problems {
        eprintln!("mmsc: store: {p}");
    }

    let timeout = Duration::from_secs(cfg.push.timeout_secs);
    let sender: Arc<dyn mmsc_push::Sender> = match cfg.push.mode {
        PushMode::Log => {
            let path = cfg.push.log_file(&cfg.store.path);
            Arc::new(
                mmsc_push::LogSender::open(&path)
                    .with_context(|| format!("cannot open {}", path.display()))?,
            )
        }
        PushMode::Pap => {
            let url = cfg
                .push
                .pap_url
                .as_ref()
                .context("push.pap_url is required")?;
            Arc::new(mmsc_push::PapSender::new(
                url.as_str(),
                &cfg.push.pap_address_domain,
                timeout,
            ))
        }
        PushMode::Sendsms => {
            let url = cfg
                .push
                .sendsms_url
                .as_ref()
                .context("push.sendsms_url is required")?;
            Arc::new(mmsc_push::SendSmsSender::new(url.as_str(), timeout))
        }
    };

    let limits = Limits {
        max_pdu_bytes: cfg.mm1.max_message_bytes,
        ..Limits::default()
    };
    let settings = Settings {
        content_location_base: cfg
            .mm1
            .content_location_base()
            .trim_end_matches('/')
            .to_string(),
        local_prefixes: cfg.subscribers.local_prefixes.clone(),
        default_expiry_secs: cfg.mm1.default_expiry_secs,
        max_expiry_secs: cfg.mm1.max_expiry_secs,
        domain: cfg.mmsc.hostname.clone(),
        retry_initial_secs: cfg.push.retry_initial_secs,
        retry_max_secs: cfg.push.retry_max_secs,
        limits: limits.clone(),
    };
    // The submit fast path: every core plans m-send-reqs with these rules and stores them
    // through a submitter of its own (see mmsc_controlplane::submit).
    let rules = Arc::new(rules_of(&settings));
    let ids = IdSource::new();
    let mut notices = Vec::new();
    let mut submitter = |core: usize| -> Result<(Box<dyn Submitter>, CoreWake, Arc<BufPool>)> {
        let wake = CoreWake::default();
        let core = u16::try_from(core).context("too many dataplane cores")?;
        let (mut sub, reader) = CoreSubmitter::new(
            core,
            &store,
            Arc::clone(&rules),
            ids.for_core(core),
            &cfg.mmsc.hostname,
            RING_CAPACITY,
            Arc::clone(&wake),
            Arc::clone(&doorbell),
        )
        .context("cannot start the submit path of a dataplane core")?;
        // Request buffers of the core's reads: given back by the store writer.
        let pool = Arc::new(BufPool::new(REQUEST_BUFFERS, kernel::READ_CHUNK));
        sub.recycle_into(Arc::clone(&pool));
        notices.push(reader);
        Ok((Box::new(sub), wake, pool))
    };
    let mm1 = cfg.mm1.clone();
    let front = Mm1Front {
        path: cfg.mm1.path().trim_end_matches('/').to_string(),
        msisdn_headers: cfg.mm1.msisdn_headers.clone(),
        trusted: Arc::new(move |ip| mm1.is_trusted(ip)),
        limits: limits.clone(),
        now_secs: Arc::new(mmsc_controlplane::now_secs),
        rules: Some(Arc::clone(&rules)),
    };
    let http = HttpLimits {
        max_head_bytes: cfg.mm1.max_header_bytes,
        max_headers: 64,
        max_body_bytes: cfg.mm1.max_message_bytes,
        idle_timeout_ms: cfg.mm1.idle_timeout_secs * 1000,
        request_timeout_ms: cfg.mm1.request_timeout_secs * 1000,
    };
    let cpus = choose_cores(&cfg);
    let mut reactors = Vec::new();
    let mut control_rings = Vec::new();
    let mut wake_cores: Vec<Arc<dyn Fn() + Send + Sync>> = Vec::new();
    let mut dpdk = None;
    let mut afxdp = None;
    let fast_path;
    if matches!(cfg.dataplane.backend, Backend::Dpdk | Backend::Afxdp) {
        // DPDK ports or AF_XDP sockets, and a user-space TCP stack per core: no kernel socket.
        fast_path = None;
        let mut core_rings = Vec::with_capacity(cpus.len());
        let mut core_wakes = Vec::with_capacity(cpus.len());
        for i in 0..cpus.len() {
            let (mut core, ctl) = mmsc_dataplane::ring_pair(RING_CAPACITY);
            let (sub, wake, pool) = submitter(i)?;
            core.submit = Some(sub);
            core.pool = Some(pool);
            core_wakes.push(wake);
            core_rings.push(core);
            control_rings.push(ctl);
        }
        let bell = Arc::clone(&doorbell);
        let wake_control: Arc<dyn Fn() + Send + Sync> = Arc::new(move || bell.ring());
        if cfg.dataplane.backend == Backend::Dpdk {
            let backend = DpdkBackend::start(&cfg, &cpus, &front, &http, core_rings, wake_control)?;
            wake_cores = backend.wakers();
            set_core_wakes(&core_wakes, &wake_cores);
            dpdk = Some(backend);
        } else {
            let backend =
                AfxdpBackend::start(&cfg, &cpus, &front, &http, core_rings, wake_control)?;
            wake_cores = backend.wakers();
            set_core_wakes(&core_wakes, &wake_cores);
            afxdp = Some(backend);
        }
    } else {
        // Every core's listener before any reactor runs, in one SO_REUSEPORT group on one
        // port (the steering program of backend xdp takes them all at once). Not earlier: a
        // port that accepts connections means the store and control plane are there (tests
        // rely on it).
        let listeners = kernel::reuseport_group(cfg.mm1.listen, cpus.len())
            .with_context(|| format!("cannot listen on {}", cfg.mm1.listen))?;
        let mm1_addr = listeners
            .first()
            .map(std::net::TcpListener::local_addr)
            .transpose()?
            .unwrap_or(cfg.mm1.listen);
        fast_path = start_fast_path(&cfg, mm1_addr, &listeners)?;
        let per_core_conns = (cfg.mm1.max_connections / cpus.len()).max(1);
        for (i, (cpu, listener)) in cpus.iter().zip(listeners).enumerate() {
            let (mut core_rings, ctl) = mmsc_dataplane::ring_pair(RING_CAPACITY);
            let (sub, core_wake, pool) = submitter(i)?;
            core_rings.submit = Some(sub);
            core_rings.pool = Some(pool);
            let bell = Arc::clone(&doorbell);
            let reactor = kernel::spawn_on(
                ReactorConfig {
                    core: i as u16,
                    cpu: Some(*cpu),
                    listen: mm1_addr,
                    http: http.clone(),
                    max_connections: per_core_conns,
                    front: front.clone(),
                },
                listener,
                core_rings,
                Arc::new(move || bell.ring()),
            )
            .with_context(|| format!("cannot start dataplane core {i} on {mm1_addr}"))?;
            let waker = reactor.waker();
            let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                let _ = waker.wake();
            });
            let _ = core_wake.set(Arc::clone(&wake));
            wake_cores.push(wake);
            control_rings.push(ctl);
            reactors.push(reactor);
        }
    }
    if let Some(mm4) = cfg.mm4.listen {
        eprintln!(
            "mmsc: mm4.listen {mm4}: the MM4 SMTP engine is not built yet, nothing listens there{}",
            match cfg.dataplane.backend {
                Backend::Xdp => " (the XDP program classifies the port and drops non-peers)",
                Backend::Dpdk =>
                    " (the dpdk backend's classifier drops non-peers; the stack resets the peers)",
                Backend::Afxdp =>
                    " (the XDP program drops non-peers; the afxdp backend's stack resets the peers)",
                _ => "",
            }
        );
    }

    let stored_before = recovered.records.len();
    let control = ControlPlane::start(ControlConfig {
        settings,
        store: store.clone(),
        recovered,
        completions: completions_rx,
        rings: control_rings,
        wake_cores,
        sender,
        push_workers: cfg.push.workers,
        doorbell,
        fast: Some(FastPath {
            rules,
            ids,
            notices,
        }),
    })
    .context("cannot start the control plane")?;

    let admin = match cfg.admin.listen {
        Some(at) => Some(admin::Admin::start(
            at,
            metrics_source(
                &reactors,
                &control,
                &store,
                &cfg,
                fast_path.clone(),
                dpdk.as_ref().map(DpdkBackend::metrics_source),
                afxdp.as_ref().map(AfxdpBackend::metrics_source),
            ),
        )?),
        None => None,
    };
    let addr = match (&dpdk, &afxdp) {
        (Some(d), _) => d.mm1_addr(),
        (None, Some(a)) => a.mm1_addr(),
        (None, None) => reactors.first().map_or(cfg.mm1.listen, |r| r.local_addr),
    };
    eprintln!(
        "mmsc: serving MM1 at {} (listening on {addr}, {} dataplane core(s) on CPU {:?}, backend {}); store {} ({} records recovered, {} I/O); push mode {}; admin API {}",
        cfg.mm1.public_url.as_str(),
        reactors.len()
            + dpdk.as_ref().map_or(0, DpdkBackend::cores)
            + afxdp.as_ref().map_or(0, AfxdpBackend::cores),
        cpus,
        cfg.dataplane.backend,
        cfg.store.path.display(),
        stored_before,
        store.io_mode().name(),
        cfg.push.mode,
        admin.as_ref().map_or("off".to_string(), |a| format!(
            "at http://{}/status",
            a.local_addr
        )),
    );

    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("mmsc: stopping");
    if let Some(a) = admin {
        a.stop();
    }
    for r in reactors {
        r.stop();
    }
    if let Some(d) = dpdk {
        d.stop();
    }
    if let Some(a) = afxdp {
        a.stop();
    }
    #[cfg(feature = "ebpf")]
    if let Some(f) = &fast_path {
        f.stop();
    }
    // Read after the stop: the control plane publishes its counters at the end of each
    // round, and a stop that comes before its first round would otherwise report none.
    let stats = control.stats_reader();
    control.stop();
    let stats = stats();
    let (syncs, records) = store.counters();
    store.close();
    eprintln!(
        "mmsc: stopped ({} accepted, {} refused, {} retrieved, {} pushed, {} stored, {records} store records, {syncs} fdatasync)",
        stats.accepted, stats.refused, stats.retrieved, stats.pushed, stats.stored
    );
    Ok(())
}

/// Refuses the backends this build cannot run, saying why.
fn check_backend(backend: Backend) -> Result<()> {
    match backend {
        Backend::Kernel => Ok(()),
        Backend::Xdp if cfg!(feature = "ebpf") => Ok(()),
        Backend::Xdp => bail!(
            "dataplane backend \"xdp\" needs the eBPF programs, which this build of mmsc does \
             not have: build it with `cargo build --release -p mmsc --features ebpf` (needs \
             clang and libbpf-dev), or use backend \"kernel\""
        ),
        Backend::Dpdk if cfg!(feature = "dpdk") => Ok(()),
        Backend::Dpdk => bail!(
            "dataplane backend \"dpdk\" needs DPDK, which this build of mmsc does not have: \
             build it with `cargo build --release -p mmsc --features dpdk` (needs libdpdk-dev, \
             pkg-config and libclang-dev), or use backend \"kernel\""
        ),
        Backend::Afxdp if cfg!(feature = "afxdp") => Ok(()),
        Backend::Afxdp => bail!(
            "dataplane backend \"afxdp\" needs the eBPF programs and AF_XDP, which this build of \
             mmsc does not have: build it with `cargo build --release -p mmsc --features afxdp` \
             (needs clang and libbpf-dev), or use backend \"xdp\" or \"kernel\""
        ),
    }
}

/// The fast path of backend `xdp` (nothing for `kernel`).
#[cfg(feature = "ebpf")]
type FastPathHandle = Option<Arc<crate::fastpath::FastPath>>;
#[cfg(not(feature = "ebpf"))]
type FastPathHandle = Option<Arc<NoFastPath>>;

/// What a build without feature `ebpf` has instead of a fast path: nothing.
#[cfg(not(feature = "ebpf"))]
#[derive(Debug)]
enum NoFastPath {}

/// For backend `xdp`: loads the XDP program on `dataplane.interface` with the rules of `cfg`
/// (MM1 on `mm1`) and steers new connections over `listeners`.
#[cfg(feature = "ebpf")]
fn start_fast_path(
    cfg: &Config,
    mm1: std::net::SocketAddr,
    listeners: &[std::net::TcpListener],
) -> Result<FastPathHandle> {
    if cfg.dataplane.backend != Backend::Xdp {
        return Ok(None);
    }
    let iface = &cfg.dataplane.interface;
    if mm1.ip().is_loopback() && iface != "lo" {
        eprintln!(
            "mmsc: warning: mm1.listen {mm1} is a loopback address: no MM1 packet crosses {iface}"
        );
    }
    let rules = crate::fastpath::rules(cfg, mm1);
    let f = crate::fastpath::FastPath::start(iface, cfg.dataplane.xdp_mode, &rules, listeners)?;
    eprintln!(
        "mmsc: xdp: mmsc_xdp attached to {iface} in {} mode (program id {}, xdp_mode {}); \
         SK_REUSEPORT steering over {} core(s); MM4 {}, {} peer prefix(es); SYN limit {}",
        f.mode(),
        f.program_id(),
        cfg.dataplane.xdp_mode,
        f.steered_cores(),
        cfg.mm4
            .listen
            .map_or_else(|| "off".to_owned(), |a| a.to_string()),
        rules.mm4_peers.len(),
        if rules.syn_rate == 0 {
            "off".to_owned()
        } else {
            format!("{}/s per source, burst {}", rules.syn_rate, rules.syn_burst)
        },
    );
    Ok(Some(Arc::new(f)))
}

#[cfg(not(feature = "ebpf"))]
fn start_fast_path(
    _cfg: &Config,
    _mm1: std::net::SocketAddr,
    _listeners: &[std::net::TcpListener],
) -> Result<FastPathHandle> {
    Ok(None)
}

/// A per-core counter of the reactors: name, help, field.
type CoreCounter = (
    &'static str,
    &'static str,
    fn(&kernel::ReactorStats) -> &std::sync::atomic::AtomicU64,
);

/// What the admin API reports: the reactors' (or the dpdk or afxdp backend's), the control
/// plane's and
/// the store's counters.
fn metrics_source(
    reactors: &[kernel::Reactor],
    control: &ControlPlane,
    store: &Store,
    cfg: &Config,
    fast_path: FastPathHandle,
    dpdk: Option<DpdkMetrics>,
    afxdp: Option<AfxdpMetrics>,
) -> Source {
    let reactor_stats: Vec<_> = reactors.iter().map(|r| Arc::clone(&r.stats)).collect();
    let stats = control.stats_reader();
    let store = store.clone();
    let backend = cfg.dataplane.backend;
    let cfg_io = cfg.store.io;
    Arc::new(move || {
        let mut m = Vec::new();
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let per_core: [CoreCounter; 6] = [
            (
                "mm1.connections_accepted",
                "MM1 connections accepted",
                |s| &s.accepted,
            ),
            ("mm1.requests", "MM1 HTTP requests parsed", |s| &s.requests),
            (
                "mm1.jobs",
                "MM1 requests handed to the control plane",
                |s| &s.jobs,
            ),
            (
                "mm1.fast_submits",
                "m-send-reqs the core stored through its submit fast path (answered by it once \
                 durable)",
                |s| &s.fast_submits,
            ),
            (
                "mm1.overloaded",
                "MM1 requests refused with 503: no room to hand them on (the ring to the \
                 control plane, or the submit fast path, was full)",
                |s| &s.overloaded,
            ),
            (
                "mm1.http_errors",
                "MM1 HTTP errors answered by the engine (4xx/5xx)",
                |s| &s.http_errors,
            ),
        ];
        // The MM1 counters of each core: a reactor's, or a dpdk or afxdp core's stack's.
        let cores: Vec<&kernel::ReactorStats> = reactor_stats
            .iter()
            .map(|s| &**s)
            .chain(dpdk.iter().flat_map(DpdkMetrics::mm1))
            .chain(afxdp.iter().flat_map(AfxdpMetrics::mm1))
            .collect();
        for (name, help, field) in per_core {
            for (i, c) in cores.iter().enumerate() {
                m.push(Metric::counter(name, help, r(field(c))).label("core", i.to_string()));
            }
        }
        let s = stats();
        m.push(Metric::counter(
            "messages.accepted",
            "messages accepted (m-send-conf Ok)",
            s.accepted,
        ));
        m.push(Metric::counter(
            "messages.refused",
            "messages refused",
            s.refused,
        ));
        m.push(Metric::counter(
            "messages.fetched_from_disk",
            "retrievals of messages that had left the store's page-cache window, read into \
             memory by the fetcher thread before the answer",
            s.fetched,
        ));
        m.push(Metric::counter(
            "messages.retrieved",
            "retrievals served",
            s.retrieved,
        ));
        m.push(Metric::counter(
            "messages.expired",
            "messages expired",
            s.expired,
        ));
        m.push(Metric::gauge(
            "messages.stored",
            "messages stored now",
            s.stored,
        ));
        m.push(Metric::counter(
            "push.delivered",
            "pushes the gateway accepted",
            s.pushed,
        ));
        m.push(Metric::counter(
            "push.failures",
            "push attempts that failed",
            s.push_failures,
        ));
        let (syncs, records) = store.counters();
        m.push(Metric::counter(
            "store.records",
            "records written to the store",
            records,
        ));
        m.push(Metric::counter(
            "store.fdatasync",
            "fdatasync calls of the store",
            syncs,
        ));
        m.push(Metric::counter(
            "store.segments_reclaimed",
            "segments reclaimed by compaction",
            s.segments_reclaimed,
        ));
        m.push(Metric::counter(
            "store.records_relocated",
            "records relocated by compaction",
            s.records_relocated,
        ));
        m.push(
            Metric::gauge(
                "store.direct_io",
                "1 while the store writes with O_DIRECT, 0 when through the page cache",
                u64::from(store.io_mode() == IoMode::Direct),
            )
            .label("configured", cfg_io.as_str()),
        );
        m.push(Metric::counter(
            "store.segments_prepared",
            "segments rolled into that were made ready ahead of time",
            store.prepared_segments_used(),
        ));
        m.push(Metric::counter(
            "store.segments_reused",
            "emptied segments taken up again instead of new zero-filled files",
            store.segments_reused(),
        ));
        m.push(Metric::gauge(
            "store.failed",
            "1 once a write or sync failed (the store then refuses appends)",
            u64::from(store.is_failed()),
        ));
        m.push(
            Metric::gauge("dataplane.cores", "dataplane cores", cores.len() as u64)
                .label("backend", backend.to_string()),
        );
        #[cfg(feature = "ebpf")]
        if let Some(f) = &fast_path {
            m.extend(f.metrics());
        }
        if let Some(d) = &dpdk {
            m.extend(d.metrics());
        }
        if let Some(a) = &afxdp {
            m.extend(a.metrics());
        }
        #[cfg(not(feature = "ebpf"))]
        let _ = &fast_path;
        m
    })
}
