//! `mm1`: MM1 submits of a 10 KB m-send-req to a running `mmsc serve` (durable: every m-send-conf
//! Ok waits for its group-commit fdatasync), beside nginx (`return 204`, one worker) taking the
//! same POSTs from the same wrk load in the same run, and the disk's own write + fdatasync rate;
//! then the full flow (submit, notification, retrieval, notifyresp) from our own handsets.
//!
//! Benchmarks print; they never assert on a time. They do check that what was measured was
//! right: every answer 2xx, every accepted message notified. See `bench/README.md`.

#[path = "../fixtures.rs"]
#[allow(dead_code)] // shared with the codec benchmark, which uses the rest
mod fixtures;

#[path = "mm1/disk.rs"]
mod disk;
#[path = "mm1/flow.rs"]
mod flow;
#[path = "mm1/http.rs"]
mod http;
#[path = "mm1/message.rs"]
mod message;
#[path = "mm1/perf.rs"]
mod perf;
#[path = "mm1/procs.rs"]
mod procs;
#[path = "mm1/servers.rs"]
mod servers;
#[path = "mm1/wrk.rs"]
mod wrk;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::procs::{Memory, TempDir, cpu_time, find_program, free_port, load1, loadavg, memory};
use crate::servers::{Mmsc, Nginx, StopLine};
use crate::wrk::{WrkLoad, WrkResult};

const HELP: &str = "\
mm1: MM1 submits to mmsc (durable) beside nginx (return 204) under the same wrk load, the
disk's own write+fdatasync rate, and the full MM1 flow rate; all in one run

USAGE:
    cargo build --release -p mmsc          # first: the server under test
    cargo run --release -p mmsc-bench --bin mm1 -- [OPTIONS]

OPTIONS:
    --quick              a few seconds in all (CI smoke test): one short round, a short
                         flow run; figures are rough, the checks are the same
    --duration-secs N    seconds of wrk load per server (default 15, --quick 1), split
                         into --rounds rounds; each round runs every load, each load
                         nginx then mmsc
    --rounds N           rounds (default 3, --quick 1)
    --connections LIST   wrk keep-alive connections, one load per number, comma-separated
                         (default 32,512; --quick 32): handsets are many, each sends one
                         request at a time; group commit needs several at once to fill a
                         batch, nginx does not. The goal is judged on each server's best
                         rate over the loads (also per round: the loads of a round are
                         measured over the same stretch of time)
    --threads N          wrk threads (default 1)
    --flow-threads N     full flow: handset threads (default 16, --quick 4)
    --flow-secs N        full flow: seconds (default 10, --quick 1; 0 skips it)
    --long               then a 5-minute run on a fresh mmsc (full flow, messages
                         expiring after 60 s) sampling its RSS every 5 s: series and slope
    --long-secs N        length of the --long run (default 300)
    --mmsc PATH          the mmsc binary (default: target/release/mmsc beside this one)
    --keep               keep the temporary directory (store, logs, configurations)
    --store-io MODE      mmsc's [store] io: direct (its default) or buffered
    --zero-fill          mmsc's [store] zero_fill = true (new segments written with zeros
                         before use; off by default)
    -h, --help           this text

Needs wrk and nginx (Debian: apt-get install wrk nginx-light); counts fdatasyncs with perf
(linux-perf) when present. Exit status 1 when a check fails (an error answer, a socket
error, an accepted message without its notification, a failed flow).";

#[derive(Clone, Debug)]
struct Options {
    quick: bool,
    duration_secs: u64,
    rounds: u64,
    connections: Vec<usize>,
    threads: usize,
    flow_threads: usize,
    flow_secs: u64,
    long: bool,
    long_secs: u64,
    mmsc: Option<PathBuf>,
    keep: bool,
    /// `[store] io` of the mmsc under test ("direct" or "buffered"); None: its default.
    store_io: Option<String>,
    /// `[store] zero_fill = true` for the mmsc under test.
    zero_fill: bool,
}

enum Mode {
    Help,
    Run(Options),
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut quick = false;
    let mut long = false;
    let mut keep = false;
    let mut mmsc = None;
    let mut store_io = None;
    let mut zero_fill = false;
    let mut connections: Option<Vec<usize>> = None;
    let mut nums: [Option<u64>; 8] = [None; 8];
    const NAMES: [&str; 8] = [
        "--duration-secs",
        "--rounds",
        "",
        "--threads",
        "--flow-threads",
        "--flow-secs",
        "--long-secs",
        "",
    ];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--quick" => quick = true,
            "--long" => long = true,
            "--keep" => keep = true,
            "--zero-fill" => zero_fill = true,
            "--mmsc" => mmsc = Some(PathBuf::from(it.next().ok_or("--mmsc needs a path")?)),
            "--store-io" => match it.next().map(String::as_str) {
                Some(m @ ("direct" | "buffered")) => store_io = Some(m.to_string()),
                _ => return Err("--store-io needs direct or buffered".into()),
            },
            "--connections" => {
                let list = it.next().ok_or("--connections needs a list of numbers")?;
                let v: Vec<usize> = list
                    .split(',')
                    .map(|n| n.trim().parse::<usize>().ok().filter(|&n| n > 0))
                    .collect::<Option<_>>()
                    .ok_or("--connections needs positive numbers, comma-separated")?;
                connections = Some(v);
            }
            other => {
                let i = NAMES
                    .iter()
                    .position(|n| !n.is_empty() && *n == other)
                    .ok_or_else(|| format!("unknown argument {other:?} (see --help)"))?;
                let v: u64 = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("{other} needs a number"))?;
                // Only --flow-secs may be 0 (no flow run).
                if v == 0 && other != "--flow-secs" {
                    return Err(format!("{other} needs a positive number"));
                }
                if let Some(slot) = nums.get_mut(i) {
                    *slot = Some(v);
                }
            }
        }
    }
    let [
        duration,
        rounds,
        _,
        threads,
        flow_threads,
        flow_secs,
        long_secs,
        _,
    ] = nums;
    let opts = Options {
        quick,
        duration_secs: duration.unwrap_or(if quick { 1 } else { 15 }),
        rounds: rounds.unwrap_or(if quick { 1 } else { 3 }),
        connections: connections.unwrap_or_else(|| if quick { vec![32] } else { vec![32, 512] }),
        threads: threads.unwrap_or(1) as usize,
        flow_threads: flow_threads.unwrap_or(if quick { 4 } else { 16 }) as usize,
        flow_secs: flow_secs.unwrap_or(if quick { 1 } else { 10 }),
        long,
        long_secs: long_secs.unwrap_or(300),
        mmsc,
        store_io,
        zero_fill,
        keep,
    };
    if opts.connections.iter().any(|&c| opts.threads > c) {
        return Err(
            "--threads must not exceed --connections (wrk needs a connection per thread)".into(),
        );
    }
    Ok(Mode::Run(opts))
}

/// `1234567.8` → `"1 234 568"`; small values keep a decimal.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v < 100.0 {
        return format!("{v:.1}");
    }
    count(v.round() as u64)
}

/// An integer count, grouped by thousands: `1234567` → `"1 234 567"`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Where things are: the mmsc binary, the directory for temporary files.
struct Paths {
    mmsc: PathBuf,
    nginx: PathBuf,
    wrk: PathBuf,
    /// The target directory (on the repository's filesystem).
    target: PathBuf,
}

fn find_paths(opts: &Options) -> Result<Paths, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // target/release/mm1 → target/release, target.
    let bin_dir = exe.parent().ok_or("no parent directory")?.to_path_buf();
    let target = bin_dir.parent().unwrap_or(&bin_dir).to_path_buf();
    let mmsc = opts.mmsc.clone().unwrap_or_else(|| bin_dir.join("mmsc"));
    if !mmsc.is_file() {
        return Err(format!(
            "{} not found: build it first with\n\n    cargo build --release -p mmsc\n\n\
             (with the same CARGO_TARGET_DIR as this benchmark), or give --mmsc PATH",
            mmsc.display()
        ));
    }
    if cfg!(debug_assertions) || !bin_dir.ends_with("release") {
        eprintln!(
            "mm1: warning: {} is not a release build; build both with --release",
            exe.display()
        );
    }
    let nginx = find_program("nginx", &["/usr/sbin/nginx"])
        .ok_or("nginx not found (Debian: apt-get install nginx-light)")?;
    let wrk = find_program("wrk", &[]).ok_or("wrk not found (Debian: apt-get install wrk)")?;
    Ok(Paths {
        mmsc,
        nginx,
        wrk,
        target,
    })
}

/// One wrk run of one server in a round.
struct Run {
    /// wrk's connections.
    conns: usize,
    round: u64,
    server: &'static str,
    wrk: WrkResult,
    load1: f64,
    /// CPU time the server used during the run.
    cpu: Duration,
}

/// The rates of one load (a number of wrk connections).
struct Load {
    conns: usize,
    nginx: f64,
    mmsc: f64,
    /// mmsc / nginx in each round.
    per_round: Vec<f64>,
}

/// Everything measured, for the report and the checks.
#[derive(Default)]
struct Report {
    text: String,
    failures: Vec<String>,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
        // Printed as it goes: a long run shows progress.
        println!("{}", s.as_ref());
    }

    fn check(&mut self, ok: bool, what: String) {
        if !ok {
            self.failures.push(what);
        }
    }
}

fn sum_rate(runs: &[&Run]) -> f64 {
    let req: u64 = runs.iter().map(|r| r.wrk.requests).sum();
    let secs: f64 = runs.iter().map(|r| r.wrk.secs).sum();
    req as f64 / secs.max(1e-9)
}

fn cpu_us_per_request(runs: &[&Run]) -> f64 {
    let req: u64 = runs.iter().map(|r| r.wrk.requests).sum();
    let cpu: f64 = runs.iter().map(|r| r.cpu.as_secs_f64()).sum();
    cpu * 1e6 / req.max(1) as f64
}

fn run(opts: &Options, rep: &mut Report) -> Result<(), String> {
    let paths = find_paths(opts)?;
    let mut dir = TempDir::new(&paths.target)?;
    dir.keep = opts.keep;
    let body = message::send_req("wrk-0001", "+358401000002")?;
    let body_path = dir.path.join("send-req.mms");
    let script_path = dir.path.join("mm1-post.lua");
    std::fs::write(&body_path, &body).map_err(|e| e.to_string())?;
    std::fs::write(&script_path, wrk::SCRIPT).map_err(|e| e.to_string())?;

    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let round_secs = opts.duration_secs.div_ceil(opts.rounds).max(1);
    rep.line(format!(
        "mm1: MM1 submit of a {}-octet m-send-req (SMIL, text, {} KiB JPEG), durable, beside nginx",
        body.len(),
        message::JPEG_BYTES / 1024
    ));
    rep.line(format!(
        "machine: {cpus} CPUs, load average {} at start; temporary files in {}",
        loadavg(),
        dir.path.display()
    ));
    rep.line(format!(
        "load: wrk {} thread(s); {} keep-alive connections; {} round(s) x {} s per load and \
         server (a round: every load, nginx then mmsc){}",
        opts.threads,
        opts.connections
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" then "),
        opts.rounds,
        round_secs,
        if opts.quick { " (--quick: rough)" } else { "" }
    ));

    let nginx = Nginx::start(&paths.nginx, &dir.path, free_port()?)?;
    let mmsc = Mmsc::start(
        &paths.mmsc,
        &dir.path,
        free_port()?,
        None,
        opts.store_io.as_deref(),
        opts.zero_fill,
    )?;
    let pid = mmsc.guard.pid();
    let first = mmsc.stderr();
    if let Some(l) = first.lines().find(|l| l.contains("serving MM1")) {
        rep.line(
            l.trim_start_matches("mmsc: ")
                .replace("serving", "mmsc: serving"),
        );
    }
    let mem_start = memory(pid).unwrap_or_default();
    let counters = [
        perf::start(
            nginx.guard.pid(),
            &[perf::SYSCALLS, perf::SWITCHES],
            &dir.path,
        ),
        perf::start(
            pid,
            &[
                perf::SYSCALLS,
                perf::SWITCHES,
                perf::FDATASYNC,
                perf::PWRITE,
            ],
            &dir.path,
        ),
    ];

    // --- wrk: in each round every load, each load nginx then mmsc ------------------------
    // (A round visits every load so that the servers' best loads are measured over the same
    // stretch of time: this machine's speed drifts, and the goal compares best with best.)
    let mut runs: Vec<Run> = Vec::new();
    rep.line(String::new());
    rep.line(format!(
        "{:<7}{:<6}{:<7}{:>12}{:>10}{:>10}{:>10}{:>9}{:>9}{:>11}{:>7}",
        "conns",
        "round",
        "server",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "non-2xx",
        "sockerr",
        "CPU us/req",
        "load1"
    ));
    for round in 1..=opts.rounds {
        for &conns in &opts.connections {
            let load = WrkLoad {
                program: &paths.wrk,
                script: &script_path,
                body: &body_path,
                msisdn: "+358401000001",
                threads: opts.threads,
                connections: conns,
                duration: Duration::from_secs(round_secs),
            };
            for (server, url, spid) in [
                ("nginx", nginx.url(), nginx.guard.pid()),
                ("mmsc", mmsc.url(), pid),
            ] {
                let load_before = load1();
                let cpu0 = cpu_time(spid).unwrap_or_default();
                let w = wrk::run(&load, &url)?;
                let cpu = cpu_time(spid).unwrap_or_default().saturating_sub(cpu0);
                let r = Run {
                    conns,
                    round,
                    server,
                    wrk: w,
                    load1: load_before,
                    cpu,
                };
                rep.line(format!(
                    "{:<7}{:<6}{:<7}{:>12}{:>10.2}{:>10.2}{:>10.2}{:>9}{:>9}{:>11.1}{:>7.2}",
                    r.conns,
                    r.round,
                    r.server,
                    num(r.wrk.rate),
                    r.wrk.p50_ms,
                    r.wrk.p90_ms,
                    r.wrk.p99_ms,
                    r.wrk.non_2xx,
                    r.wrk.socket_errors.iter().sum::<u64>(),
                    r.cpu.as_secs_f64() * 1e6 / r.wrk.requests.max(1) as f64,
                    r.load1
                ));
                runs.push(r);
            }
        }
    }
    let [ng_counts, counts] = counters.map(|c| c.and_then(perf::Counter::finish));
    let mem_after_wrk = memory(pid).unwrap_or_default();
    let (wrk_notes, wrk_bad) = mmsc.settle_notifications(Duration::from_secs(15));

    let of = |s: &str, c: Option<usize>| {
        runs.iter()
            .filter(|r| r.server == s && c.is_none_or(|c| r.conns == c))
            .collect::<Vec<_>>()
    };
    let (ng, mm) = (of("nginx", None), of("mmsc", None));
    let med = |v: &[&Run], f: fn(&WrkResult) -> f64| median(v.iter().map(|r| f(&r.wrk)).collect());
    rep.line(String::new());
    rep.line(
        "summary per load (rate: all requests / all time; latency: median over rounds; \
         syscalls and switches: over all loads)",
    );
    rep.line(format!(
        "{:<7}{:<8}{:>12}{:>10}{:>10}{:>10}{:>9}{:>11}{:>14}{:>14}{:>10}",
        "conns",
        "server",
        "requests/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "errors",
        "CPU us/req",
        "syscalls/req",
        "switches/req",
        "x nginx"
    ));
    let mut loads: Vec<Load> = Vec::new();
    for &conns in &opts.connections {
        let (ngc, mmc) = (of("nginx", Some(conns)), of("mmsc", Some(conns)));
        let (rate_ng, rate_mm) = (sum_rate(&ngc), sum_rate(&mmc));
        for (name, v, rate, c) in [
            ("nginx", &ngc, rate_ng, &ng_counts),
            ("mmsc", &mmc, rate_mm, &counts),
        ] {
            // The counters ran over all rounds of both servers; an idle server makes few
            // calls.
            let requests: u64 = of(name, None).iter().map(|r| r.wrk.requests).sum();
            let per = |ev| {
                c.as_ref()
                    .and_then(|c| c.get(ev))
                    .map_or(f64::NAN, |n| n as f64 / requests.max(1) as f64)
            };
            rep.line(format!(
                "{:<7}{:<8}{:>12}{:>10.2}{:>10.2}{:>10.2}{:>9}{:>11.1}{:>14.1}{:>14.2}{:>10}",
                conns,
                name,
                num(rate),
                med(v, |w| w.p50_ms),
                med(v, |w| w.p90_ms),
                med(v, |w| w.p99_ms),
                v.iter().map(|r| r.wrk.errors()).sum::<u64>(),
                cpu_us_per_request(v),
                per(perf::SYSCALLS),
                per(perf::SWITCHES),
                if name == "mmsc" {
                    format!("{:.3}", rate / rate_ng)
                } else {
                    "1.000".into()
                }
            ));
        }
        let per_round = mmc
            .iter()
            .zip(&ngc)
            .map(|(m, n)| m.wrk.rate / n.wrk.rate)
            .collect();
        loads.push(Load {
            conns,
            nginx: rate_ng,
            mmsc: rate_mm,
            per_round,
        });
    }
    let best = |f: fn(&Load) -> f64| {
        loads
            .iter()
            .max_by(|a, b| f(a).total_cmp(&f(b)))
            .map_or((0, f64::NAN), |l| (l.conns, f(l)))
    };
    let (ng_at, rate_ng) = best(|l| l.nginx);
    let (mm_at, rate_mm) = best(|l| l.mmsc);
    let ratio = rate_mm / rate_ng;
    // The same per round: each server at its best load in that round.
    let round_best = |server: &str, round: u64| {
        runs.iter()
            .filter(|r| r.server == server && r.round == round)
            .map(|r| r.wrk.rate)
            .fold(f64::NAN, f64::max)
    };
    let per_round: Vec<String> = (1..=opts.rounds)
        .map(|r| format!("{:.3}", round_best("mmsc", r) / round_best("nginx", r)))
        .collect();
    rep.line(format!(
        "\ngoal: mmsc >= 0.5 x nginx (aim 1 x), durable submits of {} octets, each server at \
         its best load\n      mmsc {} (at {mm_at} connections) / nginx {} (at {ng_at}) \
         requests/s = {:.3}  -> {}\n      per round, each server at its best load of the round: {}",
        body.len(),
        num(rate_mm),
        num(rate_ng),
        ratio,
        if ratio >= 0.5 { "met" } else { "NOT met" },
        per_round.join(", ")
    ));
    for l in &loads {
        rep.line(format!(
            "      at {} connections: mmsc {} / nginx {} = {:.3}  (per round: {})",
            l.conns,
            num(l.mmsc),
            num(l.nginx),
            l.mmsc / l.nginx,
            l.per_round
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }

    // --- durable path: fdatasyncs, disk reference ---------------------------------------
    let mm_ok: u64 = mm.iter().map(|r| r.wrk.ok()).sum();
    let mut batches = vec![1usize];
    batches.extend(&opts.connections);
    rep.line(String::new());
    match counts
        .as_ref()
        .and_then(|c| Some((c.get(perf::FDATASYNC)?, c.get(perf::PWRITE)?)))
    {
        Some((syncs, pwrites)) => {
            let per = wrk_notes as f64 / syncs.max(1) as f64;
            rep.line(format!(
                "durable path: {} fdatasync for {} messages during the wrk runs: {:.1} messages \
                 per fdatasync; {:.1} pwrite per message (perf stat)",
                count(syncs),
                count(wrk_notes),
                per,
                pwrites as f64 / wrk_notes.max(1) as f64
            ));
            batches.push(per.round().max(1.0) as usize);
        }
        None => rep.line(
            "durable path: fdatasync count not available (needs perf: apt-get install linux-perf)",
        ),
    }
    batches.push(1024);
    batches.sort_unstable();
    batches.dedup();
    let record = (body.len() + 24 + 200).div_ceil(8) * 8;
    let disk_time = Duration::from_millis(if opts.quick { 200 } else { 2000 });
    let store_mode = match mmsc.store_io().as_deref() {
        Some("buffered") => disk::Mode::Buffered,
        // Direct writes into segments written with zeros beforehand.
        _ if opts.zero_fill => disk::Mode::Prepared,
        // The store's default: direct writes into preallocated segments (new ones: the
        // disk's unwritten blocks, as here; reused ones: written blocks, as `prepared`).
        _ => disk::Mode::Direct,
    };
    rep.line(format!(
        "disk reference, same run: {record}-octet records, one fdatasync per batch, in a \
         fallocated file beside the store; buffered: a pwrite per record; direct: the batch \
         copied into an aligned buffer, one O_DIRECT pwrite; prepared: direct, into a file \
         written with zeros beforehand (mmsc's store: {}) (load1 {:.2})",
        store_mode.name(),
        load1()
    ));
    rep.line(format!(
        "{:>8}{:>10}{:>12}{:>10}{:>14}{:>16}",
        "batch", "mode", "records/s", "MB/s", "fdatasync ms", "mmsc/this"
    ));
    for b in batches {
        for mode in [
            disk::Mode::Buffered,
            disk::Mode::Direct,
            disk::Mode::Prepared,
        ] {
            let d = disk::measure(&mmsc.store, record, b, mode, disk_time)?;
            rep.line(format!(
                "{:>8}{:>10}{:>12}{:>10}{:>14.3}{:>16}",
                d.batch,
                d.mode.name(),
                num(d.rate),
                num(d.mb_per_s),
                d.sync_p50_ms,
                if d.mode == store_mode {
                    format!("{:.3}", rate_mm / d.rate)
                } else {
                    "-".to_string()
                }
            ));
        }
    }

    // --- full flow ----------------------------------------------------------------------
    let flow = if opts.flow_secs > 0 {
        let from = std::fs::metadata(&mmsc.log).map_or(0, |m| m.len());
        let cfg = flow::FlowConfig {
            addr: mmsc.addr,
            path: mmsc.path.clone(),
            log: mmsc.log.clone(),
            threads: opts.flow_threads,
            duration: Duration::from_secs(opts.flow_secs),
            max_flows: 10_000_000,
        };
        let l = load1();
        let cpu0 = cpu_time(pid).unwrap_or_default();
        let f = flow::run(&cfg, from)?;
        let cpu = cpu_time(pid).unwrap_or_default().saturating_sub(cpu0);
        print_flow(rep, &f, &cfg, l, cpu);
        Some(f)
    } else {
        None
    };

    // --- memory, stop, checks -----------------------------------------------------------
    let (notes_running, _) = mmsc.settle_notifications(Duration::from_secs(15));
    let mem_end = memory(pid).unwrap_or_default();
    let store_kib = mmsc.store_kib();
    let log = mmsc.log.clone();
    nginx.stop();
    let stop = mmsc.stop()?;
    // Counted again once mmsc has exited: the log is final (a push still queued when it
    // stopped would be sent after a restart, but is missing here).
    let (notes, bad) = servers::count_notifications(&log);
    rep.line(String::new());
    print_memory(rep, mem_start, mem_after_wrk, mem_end, stop, store_kib);

    let ng_errors: u64 = ng.iter().map(|r| r.wrk.errors()).sum();
    let mm_errors: u64 = mm.iter().map(|r| r.wrk.errors()).sum();
    let in_flight = opts.rounds * opts.connections.iter().sum::<usize>() as u64;
    rep.line(format!(
        "\nchecks: wrk counted {} 2xx answers of mmsc; {} notifications were logged for the \
         wrk runs (the {} more are requests in flight when wrk stopped: at most {}, rounds x \
         connections);\n        mmsc's stop line: {} accepted, {} refused; {} notifications \
         in the log in all (must equal accepted)",
        count(mm_ok),
        count(wrk_notes),
        wrk_notes.saturating_sub(mm_ok),
        in_flight,
        count(stop.accepted),
        stop.refused,
        count(notes),
    ));
    rep.check(ng_errors == 0, format!("nginx: {ng_errors} errors"));
    rep.check(
        mm_errors == 0,
        format!("mmsc: {mm_errors} errors (non-2xx or socket)"),
    );
    rep.check(mm_ok > 0, "mmsc: no successful submit".into());
    rep.check(
        stop.refused == 0,
        format!("mmsc refused {} submits", stop.refused),
    );
    rep.check(
        wrk_bad == 0 && bad == 0,
        format!("{} notification log lines do not parse", wrk_bad.max(bad)),
    );
    rep.check(
        (mm_ok..=mm_ok + in_flight).contains(&wrk_notes),
        format!("wrk counted {mm_ok} 2xx from mmsc but {wrk_notes} notifications were logged"),
    );
    rep.check(
        notes == stop.accepted,
        format!(
            "mmsc accepted {} messages but logged {notes} notifications ({notes_running} \
             before it stopped)",
            stop.accepted
        ),
    );
    if let Some(f) = &flow {
        rep.check(f.completed > 0, "full flow: no flow completed".into());
        rep.check(
            f.errors == 0,
            format!(
                "full flow: {} errors: {}",
                f.errors,
                f.first_errors.join("; ")
            ),
        );
        rep.check(
            stop.retrieved >= f.completed,
            format!(
                "full flow: {} flows completed but mmsc counted {} retrievals",
                f.completed, stop.retrieved
            ),
        );
    }
    rep.line(format!("machine load average at the end: {}", loadavg()));

    if opts.long {
        long_run(opts, &paths, &dir.path, rep)?;
    }
    Ok(())
}

fn print_flow(
    rep: &mut Report,
    f: &flow::FlowResult,
    cfg: &flow::FlowConfig,
    load1: f64,
    cpu: Duration,
) {
    rep.line(String::new());
    rep.line(format!(
        "full flow: {} handset threads, one keep-alive connection each, {} s (load1 {load1:.2}): \
         submit -> notification in the log -> GET -> notifyresp",
        cfg.threads,
        cfg.duration.as_secs()
    ));
    rep.line(format!(
        "  {} flows completed in {:.2} s = {} flows/s ({} HTTP requests/s); {} errors; \
         mmsc CPU {:.1} us per flow",
        count(f.completed),
        f.secs,
        num(f.rate()),
        num(f.rate() * 3.0),
        f.errors,
        cpu.as_secs_f64() * 1e6 / f.completed.max(1) as f64
    ));
    rep.line(format!(
        "  {:<14}{:>10}{:>10}{:>10}{:>10}",
        "step", "p50 ms", "p90 ms", "p99 ms", "max ms"
    ));
    for (name, s) in flow::STEPS.iter().zip(&f.samples) {
        let p = |q| flow::percentile(s, q).map_or(f64::NAN, |v| v as f64 / 1000.0);
        rep.line(format!(
            "  {:<14}{:>10.2}{:>10.2}{:>10.2}{:>10.2}",
            name,
            p(0.5),
            p(0.9),
            p(0.99),
            p(1.0)
        ));
    }
    for e in &f.first_errors {
        rep.line(format!("  error: {e}"));
    }
}

fn print_memory(
    rep: &mut Report,
    start: Memory,
    after_wrk: Memory,
    end: Memory,
    stop: StopLine,
    store_kib: Option<u64>,
) {
    rep.line(format!(
        "mmsc memory (VmRSS = RssAnon heap + RssFile mapped files): peak (VmHWM) {}",
        mib(end.hwm_kib)
    ));
    for (when, m) in [
        ("at start", start),
        ("after the wrk runs", after_wrk),
        ("at the end", end),
    ] {
        rep.line(format!(
            "  {:<20}RSS {:>11}  = anon {:>11} + file {:>11}",
            when,
            mib(m.rss_kib),
            mib(m.anon_kib),
            mib(m.file_kib)
        ));
    }
    let per = |a: u64, b: u64| num(a.saturating_sub(b) as f64 * 1024.0 / stop.stored.max(1) as f64);
    // Direct I/O: the store's window of recent records (its own write buffers, filled in
    // chunks of an eighth of it) is anonymous memory of a bounded size, not growth per
    // message; once it is full, what grows beyond it is the in-memory index.
    let window_kib = servers::WINDOW_MB * 1024;
    let index_end = end.anon_kib.saturating_sub(window_kib).max(start.anon_kib);
    rep.line(format!(
        "  {} messages stored at the end (stop line), {} on disk: growth per stored message \
         {} octets anon in all, {} beyond the store's {} MiB window of recent records (the \
         in-memory index, once the window is full), {} octets file (segment pages mapped: \
         page cache, reclaimable)",
        count(stop.stored),
        store_kib.map_or("?".into(), mib),
        per(end.anon_kib, start.anon_kib),
        per(index_end, start.anon_kib),
        servers::WINDOW_MB,
        per(end.file_kib, start.file_kib),
    ));
}

/// Least-squares slope of (x, y).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    sxy / sxx
}

/// The --long run: a fresh mmsc whose messages expire after 60 s, the full flow for
/// `long_secs`, RSS sampled every 5 s.
fn long_run(opts: &Options, paths: &Paths, dir: &Path, rep: &mut Report) -> Result<(), String> {
    const EXPIRY: u64 = 60;
    let sub = dir.join("long");
    std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
    let mmsc = Mmsc::start(
        &paths.mmsc,
        &sub,
        free_port()?,
        Some(EXPIRY),
        opts.store_io.as_deref(),
        opts.zero_fill,
    )?;
    let pid = mmsc.guard.pid();
    rep.line(String::new());
    rep.line(format!(
        "long run: {} s of the full flow ({} handset threads) on a fresh mmsc whose messages \
         expire after {EXPIRY} s (so the live set is bounded); RSS every 5 s (load {})",
        opts.long_secs,
        opts.flow_threads,
        loadavg()
    ));
    let cfg = flow::FlowConfig {
        addr: mmsc.addr,
        path: mmsc.path.clone(),
        log: mmsc.log.clone(),
        threads: opts.flow_threads,
        duration: Duration::from_secs(opts.long_secs),
        max_flows: u64::MAX,
    };
    let start = Instant::now();
    let sampler = {
        let secs = opts.long_secs;
        std::thread::spawn(move || {
            let mut series = Vec::new();
            let mut next = Duration::ZERO;
            while start.elapsed() <= Duration::from_secs(secs) {
                if start.elapsed() >= next {
                    if let Some(m) = memory(pid) {
                        series.push((start.elapsed().as_secs_f64(), m, load1()));
                    }
                    next += Duration::from_secs(5);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            series
        })
    };
    let f = flow::run(&cfg, 0)?;
    let series = sampler.join().map_err(|_| "the RSS sampler panicked")?;
    let hwm = memory(pid).map_or(0, |m| m.hwm_kib);
    let _ = mmsc.settle_notifications(Duration::from_secs(15));
    let stop = mmsc.stop()?;
    rep.line(format!(
        "{:>8}{:>12}{:>12}{:>12}{:>8}",
        "t s", "RSS MiB", "anon MiB", "file MiB", "load1"
    ));
    let m = |kib: u64| kib as f64 / 1024.0;
    for (t, mem, l) in &series {
        rep.line(format!(
            "{:>8.0}{:>12.1}{:>12.1}{:>12.1}{:>8.2}",
            t,
            m(mem.rss_kib),
            m(mem.anon_kib),
            m(mem.file_kib),
            l
        ));
    }
    let pts = |from: f64, f: fn(&Memory) -> u64| {
        series
            .iter()
            .filter(|p| p.0 >= from)
            .map(|p| (p.0 / 60.0, f(&p.1) as f64 / 1024.0))
            .collect::<Vec<_>>()
    };
    // Messages live for EXPIRY s and are swept within seconds after; by twice that the live
    // set has reached its steady size.
    let warm = (2 * EXPIRY) as f64;
    let half = opts.long_secs as f64 / 2.0;
    let after: Vec<u64> = series
        .iter()
        .filter(|p| p.0 >= warm)
        .map(|p| p.1.anon_kib)
        .collect();
    let range = |v: Option<&u64>| v.map_or("-".to_string(), |k| mib(*k));
    let (lo, hi) = (range(after.iter().min()), range(after.iter().max()));
    rep.line(format!(
        "RSS slope (MiB/min): {:.2} over the whole run, {:.2} after {warm:.0} s (anon {:.2}, \
         file {:.2}), {:.2} over the second half (anon {:.2}); anon after {warm:.0} s between \
         {} and {}; peak (VmHWM) {}",
        slope(&pts(0.0, |m| m.rss_kib)),
        slope(&pts(warm, |m| m.rss_kib)),
        slope(&pts(warm, |m| m.anon_kib)),
        slope(&pts(warm, |m| m.file_kib)),
        slope(&pts(half, |m| m.rss_kib)),
        slope(&pts(half, |m| m.anon_kib)),
        lo,
        hi,
        mib(hwm)
    ));
    rep.line(format!(
        "long run: {} flows completed ({} flows/s), {} errors; mmsc: {} accepted, {} stored at \
         the end",
        count(f.completed),
        num(f.rate()),
        f.errors,
        count(stop.accepted),
        count(stop.stored)
    ));
    rep.check(
        f.errors == 0,
        format!(
            "long run: {} errors: {}",
            f.errors,
            f.first_errors.join("; ")
        ),
    );
    rep.check(f.completed > 0, "long run: no flow completed".into());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Mode::Run(o)) => o,
        Ok(Mode::Help) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mm1: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rep = Report::default();
    if let Err(e) = run(&opts, &mut rep) {
        eprintln!("mm1: {e}");
        return ExitCode::FAILURE;
    }
    if rep.failures.is_empty() {
        println!("checks: ok");
        ExitCode::SUCCESS
    } else {
        for f in &rep.failures {
            println!("CHECK FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(matches!(a(&["--help"]), Ok(Mode::Help)));
        assert!(matches!(a(&["--quick"]), Ok(Mode::Run(o)) if o.quick && o.rounds == 1));
        assert!(
            matches!(a(&["--connections", "64", "--long"]), Ok(Mode::Run(o)) if o.connections == vec![64] && o.long)
        );
        assert!(matches!(a(&["--flow-secs", "0"]), Ok(Mode::Run(o)) if o.flow_secs == 0));
        assert!(a(&["--rounds", "0"]).is_err());
        assert!(a(&["--connections"]).is_err());
        assert!(
            matches!(a(&["--connections", "32,256,512"]), Ok(Mode::Run(o)) if o.connections == vec![32, 256, 512])
        );
        assert!(matches!(a(&[]), Ok(Mode::Run(o)) if o.connections == vec![32, 512]));
        assert!(matches!(a(&["--quick"]), Ok(Mode::Run(o)) if o.connections == vec![32]));
        assert!(a(&["--connections", "32,0"]).is_err());
        assert!(a(&["--connections", "32,x"]).is_err());
        assert!(a(&["--threads", "4", "--connections", "2"]).is_err());
        assert!(a(&["--bogus"]).is_err());
    }

    #[test]
    fn slopes_and_medians() {
        assert!((slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]) - 2.0).abs() < 1e-9);
        assert!(slope(&[(0.0, 1.0)]).is_nan());
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
        assert_eq!(num(1_234_567.8), "1 234 568");
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1 234 567");
    }
}
