//! `backends`: the MM1 submit benchmark of `mm1` over a veth pair between two network
//! namespaces, once per dataplane backend the `mmsc` binary was built with (`kernel` first:
//! every other backend's rate is printed as a ratio to it, measured in the same run), and the
//! XDP program's MM4 ACL dropping a bounded SYN flood from a source that is not a peer
//! (frames per second, and per second of softirq CPU: the Mpps one core sustains).
//!
//! Needs root (namespaces, XDP), wrk, trafgen (Debian: netsniff-ng) and `ip`. The namespaces,
//! the veth pair and everything in them are deleted at the end, also on failure. Benchmarks
//! print; they never assert on a time. See `bench/README.md`.

#[path = "../fixtures.rs"]
#[allow(dead_code)] // shared with the codec benchmark, which uses the rest
mod fixtures;
#[path = "mm1/message.rs"]
#[allow(dead_code)] // shared with the mm1 benchmark
mod message;
#[path = "mm1/procs.rs"]
#[allow(dead_code)] // shared with the mm1 benchmark
mod procs;
#[path = "mm1/wrk.rs"]
#[allow(dead_code)] // shared with the mm1 benchmark
mod wrk;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use mmsc_classify::TcpFlags;
use mmsc_classify::build::FrameBuilder;

use crate::procs::{Guard, TempDir, cpu_time, find_program, loadavg};
use crate::wrk::{WrkLoad, WrkResult};

const HELP: &str = "\
backends: MM1 submits (durable, 10 KB m-send-req, wrk) over a veth pair to mmsc in a network
namespace, once per backend of the mmsc build (ratios to kernel), and the XDP MM4 ACL under a
bounded SYN flood from a non-peer (trafgen)

usage: backends [--quick] [--rounds N] [--duration-secs N] [--connections N] [--flood-frames N]
                [--backends LIST] [--no-flood]
    --quick              1 round of 1 s per backend, 1 000 000 flood frames (a smoke run)
    --rounds N           rounds, each running every backend once, interleaved (default 3)
    --duration-secs N    seconds of wrk load per backend per round (default 5)
    --connections N      wrk keep-alive connections (default 32)
    --flood-frames N     SYN frames in the flood (default 20 000 000)
    --backends LIST      only these backends, comma-separated (kernel is always run: the
                         ratios are to it)
    --no-flood           skip the SYN flood

The environment variable MMSC_BENCH_XDP_MODE (auto, driver or generic) sets dataplane.xdp_mode
of the xdp and afxdp runs (default: mmsc's, auto: driver mode on veth). MMSC_BENCH_DPDK_PMD
(af_xdp or af_packet) chooses the DPDK port of the dpdk run on the server's veth end: net_af_xdp
(the default) or net_af_packet; MMSC_BENCH_DPDK_DEVARGS adds devargs to it (e.g.
busy_budget=64) and MMSC_BENCH_DPDK_DESCRIPTORS its dataplane.dpdk_descriptors.
MMSC_BENCH_IDLE_POLL_US sets dataplane.idle_poll_us of the
afxdp and dpdk runs (default: mmsc's).

Runs target/release/mmsc (beside this binary; build it with the backends to compare, e.g.
cargo build --release -p mmsc --features ebpf). Needs root, wrk, trafgen (netsniff-ng), ip.";

/// Deadline of one `ip` command.
const IP_TIMEOUT: Duration = Duration::from_secs(10);
/// The subnet inside the namespaces (never routed anywhere else).
const NET: [u8; 3] = [10, 203, 250];
const MM1_PORT: u16 = 8514;
const MM4_PORT: u16 = 2525;
const ADMIN_PORT: u16 = 8515;

#[derive(Clone, Debug)]
struct Options {
    quick: bool,
    duration: Duration,
    connections: usize,
    flood_frames: u64,
    rounds: u32,
    only: Option<Vec<String>>,
    flood: bool,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut o = Options {
        quick: false,
        duration: Duration::from_secs(5),
        connections: 32,
        flood_frames: 20_000_000,
        rounds: 3,
        only: None,
        flood: true,
    };
    let mut args = std::env::args().skip(1);
    let mut duration_set = false;
    let mut flood_set = false;
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--quick" => o.quick = true,
            "--duration-secs" => {
                o.duration = Duration::from_secs(num("--duration-secs")?);
                duration_set = true;
            }
            "--connections" => o.connections = num("--connections")? as usize,
            "--rounds" => o.rounds = num("--rounds")?.min(100) as u32,
            "--flood-frames" => {
                o.flood_frames = num("--flood-frames")?;
                flood_set = true;
            }
            "--backends" => {
                let list = args.next().ok_or("--backends needs a list")?;
                o.only = Some(list.split(',').map(|b| b.trim().to_string()).collect());
            }
            "--no-flood" => o.flood = false,
            // cargo bench passes --bench.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}\n\n{HELP}")),
        }
    }
    if o.quick {
        o.rounds = 1;
        if !duration_set {
            o.duration = Duration::from_secs(1);
        }
        if !flood_set {
            o.flood_frames = 1_000_000;
        }
    }
    Ok(Some(o))
}

/// Runs a command with a deadline; its stdout, or why it failed.
fn run(args: &[&str], limit: Duration) -> Result<String, String> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut g = Guard::spawn(args[0], &mut cmd)?;
    let (status, out, err) = g.wait_for_output(limit)?;
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{args:?} failed ({status}): {err}{out}"))
    }
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Lab {
    client_ns: String,
    server_ns: String,
    client_if: String,
    server_if: String,
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let pid = std::process::id();
        let lab = Lab {
            client_ns: format!("mmsc-bb{pid}c"),
            server_ns: format!("mmsc-bb{pid}s"),
            client_if: format!("mmbb{pid}c"),
            server_if: format!("mmbb{pid}s"),
        };
        let (c, s) = (lab.client_ns.as_str(), lab.server_ns.as_str());
        let (ci, si) = (lab.client_if.as_str(), lab.server_if.as_str());
        let client = format!("{}/24", lab.v4(1));
        let client2 = format!("{}/24", lab.v4(3));
        let server = format!("{}/24", lab.v4(2));
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", c],
            vec!["ip", "netns", "add", s],
            vec![
                "ip", "link", "add", ci, "netns", c, "type", "veth", "peer", "name", si, "netns", s,
            ],
            vec!["ip", "-n", c, "link", "set", "lo", "up"],
            vec!["ip", "-n", s, "link", "set", "lo", "up"],
            vec!["ip", "-n", c, "addr", "add", &client, "dev", ci],
            vec!["ip", "-n", c, "addr", "add", &client2, "dev", ci],
            vec!["ip", "-n", s, "addr", "add", &server, "dev", si],
            vec!["ip", "-n", c, "link", "set", ci, "up"],
            vec!["ip", "-n", s, "link", "set", si, "up"],
            // XDP redirect between CPUs on veth needs the peer's checksum offload off; harmless
            // otherwise.
            vec!["ip", "netns", "exec", c, "ethtool", "-K", ci, "tx", "off"],
        ];
        for step in steps {
            run(&step, IP_TIMEOUT)?;
        }
        Ok(lab)
    }

    /// Take the server's address (and IPv6) off its veth, for a user-space stack that owns it.
    fn hand_server_side_to_user_space(&self) -> Result<(), String> {
        let addr = format!("{}/24", self.v4(2));
        run(
            &[
                "ip",
                "-n",
                &self.server_ns,
                "addr",
                "del",
                &addr,
                "dev",
                &self.server_if,
            ],
            IP_TIMEOUT,
        )?;
        run(
            &[
                "ip",
                "netns",
                "exec",
                &self.server_ns,
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", self.server_if),
            ],
            IP_TIMEOUT,
        )
        .map(drop)
    }

    /// Give the server's address back to the kernel.
    fn give_server_side_back(&self) -> Result<(), String> {
        let addr = format!("{}/24", self.v4(2));
        run(
            &[
                "ip",
                "-n",
                &self.server_ns,
                "addr",
                "add",
                &addr,
                "dev",
                &self.server_if,
            ],
            IP_TIMEOUT,
        )
        .map(drop)
    }

    fn v4(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(NET[0], NET[1], NET[2], host)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.client_ns, &self.server_ns] {
            let _ = run(&["ip", "netns", "delete", ns], IP_TIMEOUT);
        }
    }
}

/// The backends this mmsc build has, from `mmsc --version` ("... (backends: kernel, xdp)").
fn backends_of(mmsc: &Path) -> Result<Vec<String>, String> {
    let v = run(&[&mmsc.to_string_lossy(), "--version"], IP_TIMEOUT)?;
    let list = v
        .split("backends:")
        .nth(1)
        .map(|r| r.trim().trim_end_matches(')').to_string())
        .unwrap_or_else(|| "kernel".into());
    Ok(list.split(',').map(|b| b.trim().to_string()).collect())
}

/// A running `mmsc serve` in the server namespace.
struct Server {
    guard: Guard,
    config: PathBuf,
    stderr: PathBuf,
    server_ns: String,
    mmsc: PathBuf,
}

impl Server {
    fn start(lab: &Lab, mmsc: &Path, dir: &Path, backend: &str) -> Result<Server, String> {
        let server = lab.v4(2);
        let peer = lab.v4(3);
        let store = dir.join(format!("store-{backend}"));
        let config = dir.join(format!("mmsc-{backend}.toml"));
        let mut text = format!(
            "# written by mmsc-bench backends\n\
             [mm1]\nlisten = \"{server}:{MM1_PORT}\"\npublic_url = \"http://{server}:{MM1_PORT}/mms\"\n\
             trusted_proxies = [\"{}.{}.{}.0/24\"]\n\
             [subscribers]\nlocal_prefixes = [\"+35840\"]\n\
             [store]\npath = \"{}\"\n\
             [push]\nmode = \"log\"\n\
             [mm4]\nlisten = \"{server}:{MM4_PORT}\"\npeers = [\"{peer}/32\"]\n\
             [admin]\nlisten = \"127.0.0.1:{ADMIN_PORT}\"\n\
             [dataplane]\nbackend = \"{backend}\"\n",
            NET[0],
            NET[1],
            NET[2],
            store.display()
        );
        match backend {
            "kernel" => {}
            "afxdp" => {
                text.push_str(&format!(
                    "interface = \"{}\"\naddress = \"{server}/24\"\ncores = [0]\n",
                    lab.server_if
                ));
                if let Ok(mode) = std::env::var("MMSC_BENCH_XDP_MODE") {
                    text.push_str(&format!("xdp_mode = \"{mode}\"\n"));
                }
                text.push_str(&idle_poll());
            }
            "dpdk" => {
                text.push_str(&format!(
                    "address = \"{server}/24\"\ncores = [0]\n\
                     dpdk_args = [\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--no-telemetry\", \
                     \"-m\", \"256\", \"--vdev={}\"]\n",
                    dpdk_vdev(&lab.server_if)
                ));
                text.push_str(&idle_poll());
                if let Ok(n) = std::env::var("MMSC_BENCH_DPDK_DESCRIPTORS") {
                    text.push_str(&format!("dpdk_descriptors = {n}\n"));
                }
            }
            _ => {
                text.push_str(&format!("interface = \"{}\"\n", lab.server_if));
                if let Ok(mode) = std::env::var("MMSC_BENCH_XDP_MODE") {
                    text.push_str(&format!("xdp_mode = \"{mode}\"\n"));
                }
            }
        }
        std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;
        let stderr = dir.join(format!("mmsc-{backend}.stderr"));
        let err = std::fs::File::create(&stderr).map_err(|e| e.to_string())?;
        let guard = Guard::spawn(
            "mmsc",
            Command::new("ip")
                .args(["netns", "exec", &lab.server_ns])
                .arg(mmsc)
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err),
        )?;
        let mut s = Server {
            guard,
            config,
            stderr,
            server_ns: lab.server_ns.clone(),
            mmsc: mmsc.to_path_buf(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(&s.stderr).unwrap_or_default();
            if log.contains("mmsc: serving MM1") {
                break;
            }
            if let Some(st) = s.guard.exited() {
                return Err(format!("mmsc ({backend}) exited ({st}):\n{log}"));
            }
            if Instant::now() > until {
                return Err(format!(
                    "mmsc ({backend}) did not start within 20 s:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(s)
    }

    fn status(&self) -> Result<serde_json::Value, String> {
        let out = run(
            &[
                "ip",
                "netns",
                "exec",
                &self.server_ns,
                &self.mmsc.to_string_lossy(),
                "status",
                "--config",
                &self.config.to_string_lossy(),
            ],
            IP_TIMEOUT,
        )?;
        serde_json::from_str(&out).map_err(|e| format!("mmsc status: {e}: {out}"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stop(mut self) -> String {
        let _ = self.guard.stop("TERM", Duration::from_secs(30));
        self.log()
    }
}

/// The number at `path`, or the sum of the numbers under it (a counter kept per core).
fn total(j: &serde_json::Value, path: &[&str]) -> u64 {
    fn sum(v: &serde_json::Value) -> u64 {
        match v {
            serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
            serde_json::Value::Object(m) => m.values().map(sum).sum(),
            _ => 0,
        }
    }
    sum(path.iter().fold(j, |v, k| &v[*k]))
}

/// Seconds of softirq time of all CPUs (from /proc/stat).
fn softirq_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let hz = 100.0; // USER_HZ on Linux
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(7))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |t| t / hz)
}

fn num(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// One backend, started afresh, under wrk; its store removed after.
fn one_run(
    lab: &Lab,
    mmsc: &Path,
    dir: &Path,
    backend: &str,
    load: &WrkLoad<'_>,
    url: &str,
) -> Result<Row, String> {
    // User-space stacks own the server's address: the kernel there must not have it.
    let user_space = backend == "dpdk" || backend == "afxdp";
    if user_space {
        lab.hand_server_side_to_user_space()?;
    }
    let server = Server::start(lab, mmsc, dir, backend);
    let (w, status, log) = match server {
        Ok(server) => {
            let before = CpuSnap::take(server.guard.pid());
            let w = wrk::run(load, url);
            let cpu = CpuSnap::take(server.guard.pid()).since(&before);
            let status = server.status();
            (w.map(|w| (w, cpu)), status, server.stop())
        }
        Err(e) => (Err(e), Err(String::new()), String::new()),
    };
    if user_space {
        lab.give_server_side_back()?;
    }
    // Its store goes, and with it its page cache: the next run writes into recycled pages as
    // this one did, not into memory the machine never touched (on a VM that costs several
    // microseconds per message, and would favour whoever runs first).
    let _ = std::fs::remove_dir_all(dir.join(format!("store-{backend}")));
    let (w, cpu) = w.map_err(|e| format!("{backend}: {e}\nmmsc log:\n{log}"))?;
    let status = status?;
    let accepted = total(&status, &["messages", "accepted"]);
    let mut detail = format!("{accepted} accepted");
    if backend == "xdp" {
        detail.push_str(&format!(
            ", XDP saw {} MM1 frames",
            total(&status, &["xdp", "packets", "mm1"])
        ));
    }
    // Frames lost before the user-space stack saw them (each costs its sender a TCP
    // retransmission): the rx ring was full, or had no buffer.
    let drops = match backend {
        "afxdp" => {
            total(&status, &["afxdp", "kernel", "rx_ring_full"])
                + total(&status, &["afxdp", "kernel", "rx_dropped"])
        }
        "dpdk" => {
            total(&status, &["dpdk", "port", "rx_missed"])
                + total(&status, &["dpdk", "port", "rx_no_mbuf"])
        }
        _ => 0,
    };
    if user_space {
        detail.push_str(&format!(", {drops} rx drops"));
    }
    if w.errors() > 0 {
        return Err(format!(
            "{backend}: {} errors from wrk (non-2xx {}, socket {:?})\n{log}",
            w.errors(),
            w.non_2xx,
            w.socket_errors
        ));
    }
    Ok(Row {
        backend: backend.to_string(),
        wrk: w,
        cpu,
        detail,
    })
}

struct Row {
    backend: String,
    wrk: WrkResult,
    cpu: CpuUse,
    detail: String,
}

/// CPU time so far: of the mmsc process (all its threads), of this benchmark's children
/// that have ended (wrk, once it has), and of all CPUs from /proc/stat (busy: everything but
/// idle and iowait; softirq on its own), in seconds.
#[derive(Clone, Copy, Debug, Default)]
struct CpuSnap {
    mmsc: f64,
    children: f64,
    busy: f64,
    softirq: f64,
}

/// CPU seconds used over a run.
#[derive(Clone, Copy, Debug, Default)]
struct CpuUse {
    mmsc: f64,
    /// wrk (and the `ip netns exec` it runs under).
    wrk: f64,
    busy: f64,
    softirq: f64,
}

impl CpuSnap {
    fn take(pid: u32) -> CpuSnap {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let hz = 100.0; // USER_HZ on Linux
        let fields: Vec<f64> = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .map(|l| {
                l.split_whitespace()
                    .skip(1)
                    .map(|v| v.parse::<f64>().unwrap_or(0.0) / hz)
                    .collect()
            })
            .unwrap_or_default();
        let f = |i: usize| fields.get(i).copied().unwrap_or(0.0);
        // user nice system idle iowait irq softirq steal (guest time is in user already)
        CpuSnap {
            mmsc: cpu_time(pid).map_or(0.0, |d| d.as_secs_f64()),
            children: children_cpu_secs(),
            busy: f(0) + f(1) + f(2) + f(5) + f(6) + f(7),
            softirq: f(6),
        }
    }

    fn since(&self, before: &CpuSnap) -> CpuUse {
        CpuUse {
            mmsc: self.mmsc - before.mmsc,
            wrk: self.children - before.children,
            busy: self.busy - before.busy,
            softirq: self.softirq - before.softirq,
        }
    }
}

impl CpuUse {
    fn add(&mut self, o: &CpuUse) {
        self.mmsc += o.mmsc;
        self.wrk += o.wrk;
        self.busy += o.busy;
        self.softirq += o.softirq;
    }

    /// Microseconds per request: mmsc, softirq, all CPUs, and the busy time that is neither
    /// mmsc's nor wrk's (the kernel's work outside them, and other processes of this shared
    /// machine: a run with much of it was disturbed).
    fn per_request(&self, requests: u64) -> (f64, f64, f64, f64) {
        let n = requests.max(1) as f64;
        // Softirq time spent in a process's context is in its time too: not subtracted.
        let other = (self.busy - self.mmsc - self.wrk).max(0.0);
        (
            self.mmsc / n * 1e6,
            self.softirq / n * 1e6,
            self.busy / n * 1e6,
            other / n * 1e6,
        )
    }
}

/// CPU seconds of this process's children that have ended and been waited for
/// (`cutime + cstime` of /proc/self/stat).
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 of the line, 14 and 15 after the name and state.
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0 // USER_HZ
}

/// `dataplane.idle_poll_us` of the afxdp and dpdk runs, from `MMSC_BENCH_IDLE_POLL_US` (none:
/// mmsc's default).
fn idle_poll() -> String {
    std::env::var("MMSC_BENCH_IDLE_POLL_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or_else(String::new, |us| format!("idle_poll_us = {us}\n"))
}

/// The DPDK port of the dpdk run on the server's veth end: `net_af_xdp` (an AF_XDP socket in
/// copy mode; over veth it costs less CPU per request than `net_af_packet`), or
/// `net_af_packet` with `MMSC_BENCH_DPDK_PMD=af_packet`.
fn dpdk_vdev(iface: &str) -> String {
    let port = match std::env::var("MMSC_BENCH_DPDK_PMD").as_deref() {
        Ok("af_packet") => format!("net_af_packet0,iface={iface},qpairs=1"),
        _ => format!("net_af_xdp0,iface={iface},start_queue=0,queue_count=1"),
    };
    match std::env::var("MMSC_BENCH_DPDK_DEVARGS") {
        Ok(more) if !more.is_empty() => format!("{port},{more}"),
        _ => port,
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("backends: {e}");
            return ExitCode::from(2);
        }
    };
    match bench(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backends: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench(opts: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let release = exe.parent().ok_or("no directory of this binary")?;
    let mmsc = release.join("mmsc");
    if !mmsc.is_file() {
        return Err(format!(
            "{} does not exist: cargo build --release -p mmsc (with the backends' features)",
            mmsc.display()
        ));
    }
    let wrk = find_program("wrk", &[]).ok_or("wrk not found (Debian: apt-get install wrk)")?;
    let trafgen = find_program("trafgen", &["/usr/sbin"]);
    let backends = backends_of(&mmsc)?;
    let target = release.parent().ok_or("no target directory")?;
    let dir = TempDir::new(target)?;
    let lab = Lab::new().map_err(|e| format!("{e} (the benchmark needs root)"))?;

    println!(
        "backends: MM1 submits of a 10 KB m-send-req over a veth pair, durable, per backend; \
         then the XDP MM4 ACL under a SYN flood"
    );
    println!(
        "machine: {} CPUs, load average {} at start; mmsc {} with backends {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        loadavg(),
        mmsc.display(),
        backends.join(", ")
    );
    if backends.iter().any(|b| b == "dpdk") {
        println!("dpdk port: --vdev={}", dpdk_vdev(&lab.server_if));
    }
    println!(
        "load: wrk 1 thread, {} keep-alive connections, {} round(s) x {} s per backend, \
         interleaved, from namespace {} to {} ({}){}",
        opts.connections,
        opts.rounds,
        opts.duration.as_secs(),
        lab.client_ns,
        lab.server_ns,
        lab.v4(2),
        if opts.quick { " (--quick: rough)" } else { "" }
    );

    // wrk runs in the client namespace through a wrapper.
    let wrapper = dir.path.join("wrk-in-ns");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
            lab.client_ns,
            wrk.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    run(&["chmod", "+x", &wrapper.to_string_lossy()], IP_TIMEOUT)?;
    let body = dir.path.join("send-req.mms");
    std::fs::write(&body, message::send_req("wrk-0001", "+358401000002")?)
        .map_err(|e| e.to_string())?;
    let script = dir.path.join("mm1-post.lua");
    std::fs::write(&script, wrk::SCRIPT).map_err(|e| e.to_string())?;
    let load = WrkLoad {
        program: &wrapper,
        script: &script,
        body: &body,
        msisdn: "+358401000001",
        threads: 1,
        connections: opts.connections,
        duration: opts.duration,
    };
    let url = format!("http://{}:{MM1_PORT}/mms", lab.v4(2));

    let runnable: Vec<&String> = backends
        .iter()
        .filter(|b| {
            let ok = matches!(b.as_str(), "kernel" | "xdp" | "afxdp" | "dpdk");
            if !ok {
                println!("{b}: not run by this benchmark yet");
            }
            let chosen = b.as_str() == "kernel"
                || opts.only.as_ref().is_none_or(|l| l.iter().any(|o| o == *b));
            ok && chosen
        })
        .collect();
    // Rounds interleave the backends, so that a slow spell of this shared machine does not
    // land on one backend only; each round starts each backend afresh, in an order that
    // rotates.
    let mut rows: Vec<Row> = Vec::new();
    println!();
    println!(
        "{:<6} {:<8} {:>12} {:>9} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>6}  checks",
        "round",
        "backend",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "x kernel",
        "mmsc us",
        "sirq us",
        "all us",
        "other"
    );
    for round in 1..=opts.rounds {
        // The order rotates from round to round: no backend always runs first (or last).
        let n = runnable.len().max(1);
        let start = (round as usize - 1) % n;
        let order: Vec<&String> = (0..n)
            .filter_map(|i| runnable.get((start + i) % n).copied())
            .collect();
        let mut this_round = Vec::new();
        for backend in order {
            this_round.push(one_run(&lab, &mmsc, &dir.path, backend, &load, &url)?);
        }
        let kernel_rate = this_round
            .iter()
            .find(|r| r.backend == "kernel")
            .map(|r| r.wrk.rate);
        for row in this_round {
            let ratio = kernel_rate.map_or("-".into(), |k| format!("{:.3}", row.wrk.rate / k));
            let (m, q, a, o) = row.cpu.per_request(row.wrk.requests);
            println!(
                "{:<6} {:<8} {:>12} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>8.1} {:>8.1} {:>8.1} {:>6.1}  {}",
                round,
                row.backend,
                num(row.wrk.rate),
                row.wrk.p50_ms,
                row.wrk.p90_ms,
                row.wrk.p99_ms,
                ratio,
                m,
                q,
                a,
                o,
                row.detail
            );
            rows.push(row);
        }
    }

    // All requests over all time per backend; latency: median of the rounds.
    println!();
    println!(
        "{:<8} {:>12} {:>9} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>6}  per round",
        "summary",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "x kernel",
        "mmsc us",
        "sirq us",
        "all us",
        "other"
    );
    let total = |b: &str| -> (f64, Vec<&Row>) {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.backend == b).collect();
        let req: u64 = rs.iter().map(|r| r.wrk.requests).sum();
        let secs: f64 = rs.iter().map(|r| r.wrk.secs).sum();
        (if secs > 0.0 { req as f64 / secs } else { 0.0 }, rs)
    };
    let median = |mut v: Vec<f64>| -> f64 {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (kernel_total, kernel_rows) = total("kernel");
    for backend in &runnable {
        let (rate, rs) = total(backend);
        let per_round: Vec<String> = rs
            .iter()
            .zip(kernel_rows.iter())
            .map(|(r, k)| format!("{:.3}", r.wrk.rate / k.wrk.rate))
            .collect();
        let mut cpu = CpuUse::default();
        for r in &rs {
            cpu.add(&r.cpu);
        }
        let (m, q, a, o) = cpu.per_request(rs.iter().map(|r| r.wrk.requests).sum());
        println!(
            "{:<8} {:>12} {:>9.2} {:>9.2} {:>9.2} {:>10.3} {:>8.1} {:>8.1} {:>8.1} {:>6.1}  {}",
            backend,
            num(rate),
            median(rs.iter().map(|r| r.wrk.p50_ms).collect()),
            median(rs.iter().map(|r| r.wrk.p90_ms).collect()),
            median(rs.iter().map(|r| r.wrk.p99_ms).collect()),
            rate / kernel_total,
            m,
            q,
            a,
            o,
            per_round.join(", ")
        );
    }
    println!(
        "targets: afxdp and dpdk >= 1 x kernel (aim 1.5 x); this run has {}",
        backends.join(", ")
    );

    println!(
        "CPU per request (us): mmsc = its user + system time; sirq = softirq time of all \
         CPUs; all = busy time of all CPUs (wrk and the kernel's veth work included); other = \
         all - mmsc - wrk (a few us: softirq outside them; much more: other processes \
         disturbed the run)"
    );

    // --- The XDP MM4 ACL under a bounded SYN flood --------------------------------------
    println!();
    if !opts.flood {
        return Ok(());
    }
    if !backends.iter().any(|b| b == "xdp") {
        println!("XDP ACL flood: skipped (mmsc built without the xdp backend: --features ebpf)");
        return Ok(());
    }
    let Some(trafgen) = trafgen else {
        println!("XDP ACL flood: skipped (trafgen not found; Debian: apt-get install netsniff-ng)");
        return Ok(());
    };
    flood(opts, &lab, &mmsc, &dir.path, &trafgen)
}

/// SYNs from a non-peer to the MM4 port, sent by trafgen from the client namespace; the XDP
/// program on the server's veth drops them (not a peer).
fn flood(opts: &Options, lab: &Lab, mmsc: &Path, dir: &Path, trafgen: &Path) -> Result<(), String> {
    let frame = FrameBuilder::tcp(
        IpAddr::V4(lab.v4(1)),
        40000,
        IpAddr::V4(lab.v4(2)),
        MM4_PORT,
    )
    .flags(TcpFlags::SYN)
    .pad_to(60)
    .build();
    let bytes: Vec<String> = frame.iter().map(|b| format!("0x{b:02x}")).collect();
    let cfg = dir.join("syn.trafgen");
    std::fs::write(&cfg, format!("{{ {} }}\n", bytes.join(", "))).map_err(|e| e.to_string())?;

    let server = Server::start(lab, mmsc, dir, "xdp")?;
    let before = server.status()?;
    let soft0 = softirq_secs();
    let t0 = Instant::now();
    let frames = opts.flood_frames.to_string();
    let sent = run(
        &[
            "ip",
            "netns",
            "exec",
            &lab.client_ns,
            &trafgen.to_string_lossy(),
            "--dev",
            &lab.client_if,
            "--in",
            &cfg.to_string_lossy(),
            "--num",
            &frames,
            "--cpus",
            "1",
            "--no-sock-mem",
        ],
        Duration::from_secs(300),
    );
    let secs = t0.elapsed().as_secs_f64();
    let soft = softirq_secs() - soft0;
    let after = server.status();
    let log = server.stop();
    let sent = sent.map_err(|e| format!("trafgen: {e}"))?;
    let after = after?;
    let dropped = total(&after, &["xdp", "dropped", "not_peer"])
        .saturating_sub(total(&before, &["xdp", "dropped", "not_peer"]));
    let seen = total(&after, &["xdp", "packets", "mm4"])
        .saturating_sub(total(&before, &["xdp", "packets", "mm4"]));
    if dropped == 0 {
        return Err(format!(
            "the XDP program dropped nothing of the flood\ntrafgen: {sent}\nmmsc log:\n{log}"
        ));
    }
    println!(
        "XDP MM4 ACL: {} SYN frames of {} octets from {} (not a peer) to {}:{MM4_PORT}, sent by trafgen \
         on one CPU",
        num(opts.flood_frames as f64),
        frame.len(),
        lab.v4(1),
        lab.v4(2)
    );
    println!(
        "  XDP saw {} MM4 frames and dropped {} as not_peer in {:.2} s = {:.2} Mpps (the \
         sender's rate bounds this)",
        num(seen as f64),
        num(dropped as f64),
        secs,
        dropped as f64 / secs / 1e6
    );
    if soft > 0.0 {
        println!(
            "  softirq CPU on all CPUs during the flood: {soft:.2} s (veth receive + XDP) -> \
             {:.2} Mpps per core of softirq time",
            dropped as f64 / soft / 1e6
        );
    } else {
        println!("  softirq CPU time not measurable here (/proc/stat showed none)");
    }
    println!("  load average at the end: {}", loadavg());
    Ok(())
}
