//! `classify`: the user-space flow classifier (`mmsc-classify`) on a realistic mix of frames,
//! on one core, beside a memcpy of the same frames measured in the same run, with the ratio.
//!
//! Benchmarks print; they never assert on a time. They do check that what is measured is
//! right: before timing, every frame of every set is classified once and its class and
//! action compared with what it was built to be.

#[path = "../measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use mmsc_classify::build::{FrameBuilder, L4, arp_request};
use mmsc_classify::headers::{ETH_P_8021AD, ETH_P_8021Q, IPPROTO_HOPOPTS};
use mmsc_classify::{
    Action, Class, Classifier, DropReason, Listener, Mode, Prefix, Rules, Slow, TcpFlags,
};

use crate::measure::{Config, Op, Stats, json_num, mb_per_s, measure};

const HELP: &str = "\
classify: the flow classifier on a mix of frames, one core, beside a memcpy of the same frames

USAGE:
    cargo run --locked --release -p mmsc-bench --bin classify -- [OPTIONS]

OPTIONS:
    --quick            few short rounds, under a second (CI smoke test; figures are rough)
    --json             machine-readable output on stdout
    --rounds N         rounds per figure (default 20, --quick 5)
    --batch-ms N       target duration of one batch in ms (default 5, --quick 1)
    -h, --help         this text

Each set of frames is timed in interleaved rounds (memcpy of every frame of the set into one
2 KiB buffer, then classify of every frame, then the next round); the figures are medians
over the rounds, per frame. Frames sit at a 2 KiB stride in one buffer, like AF_XDP UMEM
chunks. The clock given to the classifier advances 50 ns per frame.";

/// The goal: frames per second per core on the mix.
const TARGET_FRAMES_PER_SEC: f64 = 20e6;

/// UMEM-like chunk size: each frame starts at a multiple of it.
const CHUNK: usize = 2048;

/// Simulated time between two frames given to the classifier.
const NS_PER_FRAME: u64 = 50;

/// Distinct client addresses per set (SYN sources spread over the rate limit's table).
const CLIENTS: u32 = 4096;

fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// The MMSC's rules in the benchmark: MM1 on :80, MM4 on :25 (two peer networks), MM7 on
/// one address, a SYN limit, redirect mode (the `afxdp` backend).
fn rules() -> Rules {
    let l = |addr: Option<&str>, port, class| Listener {
        addr: addr.map(ip),
        port,
        class,
    };
    Rules {
        listeners: vec![
            l(None, 80, Class::Mm1),
            l(None, 25, Class::Mm4),
            l(Some("10.0.0.1"), 8080, Class::Mm7),
            l(Some("2001:db8::1"), 8080, Class::Mm7),
        ],
        mm4_peers: vec![
            Prefix {
                addr: ip("192.0.2.0"),
                len: 24,
            },
            Prefix {
                addr: ip("2001:db8:4::"),
                len: 48,
            },
        ],
        syn_rate: 100,
        syn_burst: 20,
        mode: Mode::Redirect,
    }
}

/// A frame and what the classifier must make of it (with a fresh classifier, at time 0).
#[derive(Clone, Debug)]
struct Frame {
    bytes: Vec<u8>,
    class: Class,
    action: Action,
    slow: Option<Slow>,
}

fn client_v4(i: u32) -> IpAddr {
    // 100.64.0.0/10 (carrier-grade NAT space: handsets behind a GGSN).
    IpAddr::V4((0x6440_0000 | (i % CLIENTS)).into())
}

fn client_v6(i: u32) -> IpAddr {
    IpAddr::V6((0x2001_0db8_00aa_u128 << 80 | u128::from(i % CLIENTS)).into())
}

fn peer_v6(i: u32) -> IpAddr {
    IpAddr::V6((0x2001_0db8_0004_u128 << 80 | u128::from(i % 16 + 1)).into())
}

/// The kinds of frames, each a set of its own and a share of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SynV4,
    SynV6,
    AckV4,
    AckV4Vlan,
    DataV4,
    DataV6,
    Mm4V6QinQ,
    Other,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::SynV4,
        Kind::SynV6,
        Kind::AckV4,
        Kind::AckV4Vlan,
        Kind::DataV4,
        Kind::DataV6,
        Kind::Mm4V6QinQ,
        Kind::Other,
    ];

    fn key(self) -> &'static str {
        match self {
            Kind::SynV4 => "syn-v4",
            Kind::SynV6 => "syn-v6",
            Kind::AckV4 => "ack-v4",
            Kind::AckV4Vlan => "ack-v4-vlan",
            Kind::DataV4 => "data-v4",
            Kind::DataV6 => "data-v6",
            Kind::Mm4V6QinQ => "mm4-v6-qinq",
            Kind::Other => "other",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::SynV4 => "MM1 SYN v4, 60 B + MSS/SACK/WS options",
            Kind::SynV6 => "MM1 SYN v6, 94 B",
            Kind::AckV4 => "MM1 pure ACK v4, 60 B",
            Kind::AckV4Vlan => "MM1 pure ACK v4 802.1Q, 64 B",
            Kind::DataV4 => "MM1 data v4, 1514 B",
            Kind::DataV6 => "MM1 data v6 + HbH, 1514 B",
            Kind::Mm4V6QinQ => "MM4 data v6 QinQ, 600 B",
            Kind::Other => "other: ARP, DNS, ICMP, SSH, frag",
        }
    }

    /// Frames of this kind in 100 of the mix.
    fn share(self) -> usize {
        match self {
            Kind::SynV4 => 8,
            Kind::SynV6 => 4,
            Kind::AckV4 => 20,
            Kind::AckV4Vlan => 6,
            Kind::DataV4 => 32,
            Kind::DataV6 => 12,
            Kind::Mm4V6QinQ => 8,
            Kind::Other => 10,
        }
    }

    /// The `i`-th frame of this kind.
    fn frame(self, i: u32) -> Frame {
        let mm1 = |b: FrameBuilder| Frame {
            bytes: b.build(),
            class: Class::Mm1,
            action: Action::Redirect,
            slow: None,
        };
        let port = 32768 + (i % 28000) as u16;
        let syn_options = [2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7];
        match self {
            Kind::SynV4 => mm1(FrameBuilder::tcp(client_v4(i), port, ip("10.0.0.1"), 80)
                .flags(TcpFlags::SYN)
                .tcp_options(&syn_options)
                .pad_to(60)),
            Kind::SynV6 => mm1(FrameBuilder::tcp(client_v6(i), port, ip("2001:db8::1"), 80)
                .flags(TcpFlags::SYN)
                .tcp_options(&syn_options)),
            Kind::AckV4 => mm1(FrameBuilder::tcp(client_v4(i), port, ip("10.0.0.1"), 80)
                .flags(TcpFlags::ACK)
                .pad_to(60)),
            Kind::AckV4Vlan => mm1(FrameBuilder::tcp(client_v4(i), port, ip("10.0.0.1"), 80)
                .flags(TcpFlags::ACK)
                .vlan(ETH_P_8021Q, 100)
                .pad_to(64)),
            Kind::DataV4 => mm1(FrameBuilder::tcp(client_v4(i), port, ip("10.0.0.1"), 80)
                .flags(TcpFlags::ACK | TcpFlags::PSH)
                .payload_len(1460)),
            Kind::DataV6 => mm1(FrameBuilder::tcp(client_v6(i), port, ip("2001:db8::1"), 80)
                .flags(TcpFlags::ACK | TcpFlags::PSH)
                .ipv6_ext(IPPROTO_HOPOPTS, 0)
                .payload_len(1432)),
            Kind::Mm4V6QinQ => Frame {
                bytes: FrameBuilder::tcp(peer_v6(i), port, ip("2001:db8::1"), 25)
                    .flags(TcpFlags::ACK | TcpFlags::PSH)
                    .vlan(ETH_P_8021AD, 10)
                    .vlan(ETH_P_8021Q, 20)
                    .payload_len(600 - 22 - 40 - 20)
                    .build(),
                class: Class::Mm4,
                action: Action::Redirect,
                slow: None,
            },
            Kind::Other => other_frame(i),
        }
    }
}

fn other_frame(i: u32) -> Frame {
    let pass = |bytes, slow| Frame {
        bytes,
        class: Class::Other,
        action: Action::Pass,
        slow,
    };
    let client = client_v4(i);
    match i % 6 {
        0 => pass(
            arp_request([2, 0, 0, 0, 0, 9], [100, 64, 0, 9], [100, 64, 0, 1]),
            Some(Slow::NotIp),
        ),
        1 => pass(
            FrameBuilder::tcp(ip("10.0.0.1"), 53, client, 40000)
                .l4(L4::Udp {
                    src_port: 40000,
                    dst_port: 53,
                })
                .payload_len(40)
                .build(),
            Some(Slow::NotTcp),
        ),
        2 => pass(
            FrameBuilder::tcp(client, 0, ip("10.0.0.1"), 0)
                .l4(L4::Icmp)
                .payload_len(56)
                .build(),
            Some(Slow::NotTcp),
        ),
        3 => pass(
            FrameBuilder::tcp(client, 50000, ip("10.0.0.1"), 22)
                .flags(TcpFlags::ACK | TcpFlags::PSH)
                .payload_len(100)
                .build(),
            None,
        ),
        4 => pass(
            FrameBuilder::tcp(client, 50000, ip("10.0.0.1"), 80)
                .flags(TcpFlags::ACK)
                .payload_len(1000)
                .fragment(0, true)
                .build(),
            Some(Slow::Fragment),
        ),
        // An MM4 connection attempt from outside the peers: dropped.
        _ => Frame {
            bytes: FrameBuilder::tcp(client, 50000, ip("10.0.0.1"), 25)
                .flags(TcpFlags::SYN)
                .pad_to(60)
                .build(),
            class: Class::Mm4,
            action: Action::Drop(DropReason::NotPeer),
            slow: None,
        },
    }
}

/// A set of frames laid out at a [`CHUNK`] stride in one buffer.
#[derive(Debug)]
struct Set {
    key: &'static str,
    title: &'static str,
    buf: Vec<u8>,
    lens: Vec<usize>,
}

impl Set {
    fn new(key: &'static str, title: &'static str, frames: &[Frame]) -> Result<Set, String> {
        let mut buf = vec![0u8; frames.len() * CHUNK];
        let mut lens = Vec::with_capacity(frames.len());
        let mut classifier = Classifier::new(&rules());
        for (i, f) in frames.iter().enumerate() {
            if f.bytes.len() > CHUNK {
                return Err(format!("{key}: frame {i} longer than a chunk"));
            }
            let v = classifier.classify(&f.bytes, 0);
            if (v.class, v.action, v.slow) != (f.class, f.action, f.slow) {
                return Err(format!(
                    "{key}: frame {i} classified {v:?}, built as {:?} {:?} {:?}",
                    f.class, f.action, f.slow
                ));
            }
            let chunk = buf
                .get_mut(i * CHUNK..i * CHUNK + f.bytes.len())
                .ok_or("chunk out of range")?;
            chunk.copy_from_slice(&f.bytes);
            lens.push(f.bytes.len());
        }
        Ok(Set {
            key,
            title,
            buf,
            lens,
        })
    }

    fn frames(&self) -> impl Iterator<Item = &[u8]> {
        self.buf
            .chunks(CHUNK)
            .zip(&self.lens)
            .map(|(c, &l)| c.get(..l).unwrap_or(c))
    }

    fn octets(&self) -> usize {
        self.lens.iter().sum()
    }
}

/// The mix: the kinds in their shares, interleaved by a fixed-seed shuffle.
fn mix(frames: usize) -> Vec<Frame> {
    let mut out = Vec::with_capacity(frames);
    let mut i = 0u32;
    while out.len() < frames {
        for k in Kind::ALL {
            for _ in 0..k.share() {
                out.push(k.frame(i));
                i += 1;
            }
        }
    }
    out.truncate(frames);
    // Fisher-Yates with xorshift64.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for j in (1..out.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.swap(j, (x % (j as u64 + 1)) as usize);
    }
    out
}

fn sets(quick: bool) -> Result<Vec<Set>, String> {
    let per_kind = if quick { 128 } else { 256 };
    let mut sets = vec![Set::new(
        "mix",
        "mix of all below, by share",
        &mix(if quick { 500 } else { 1000 }),
    )?];
    for k in Kind::ALL {
        let frames: Vec<Frame> = (0..per_kind).map(|i| k.frame(i)).collect();
        sets.push(Set::new(k.key(), k.title(), &frames)?);
    }
    Ok(sets)
}

/// The operations on a set: memcpy of every frame, classify of every frame.
fn ops(set: &Set) -> Vec<Op<'_>> {
    let mut dst = vec![0u8; CHUNK];
    let memcpy: Op<'_> = Box::new(move |n| {
        for _ in 0..n {
            for f in set.frames() {
                if let Some(d) = dst.get_mut(..f.len()) {
                    d.copy_from_slice(black_box(f));
                }
                black_box(&mut dst);
            }
        }
    });
    let mut classifier = Classifier::new(&rules());
    let mut now = 0u64;
    let classify: Op<'_> = Box::new(move |n| {
        for _ in 0..n {
            for f in set.frames() {
                now += NS_PER_FRAME;
                black_box(classifier.classify(black_box(f), now));
            }
        }
    });
    vec![memcpy, classify]
}

/// Verdicts over one pass of a set, with a fresh classifier and the benchmark's clock.
fn verdicts(set: &Set) -> String {
    let mut c = Classifier::new(&rules());
    let mut now = 0;
    for f in set.frames() {
        now += NS_PER_FRAME;
        c.classify(f, now);
    }
    let k = c.counters();
    let classes: Vec<String> = Class::ALL
        .iter()
        .map(|cl| format!("{} {}", cl.name(), k.packets[cl.index()]))
        .collect();
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .map(|r| format!("{} {}", r.name(), k.drops[r.index()]))
        .collect();
    let slow: Vec<String> = Slow::ALL
        .iter()
        .filter(|r| k.slow[r.index()] > 0)
        .map(|r| format!("{} {}", r.name(), k.slow[r.index()]))
        .collect();
    format!(
        "{}; redirected {}; dropped: {}; slow path: {}",
        classes.join(", "),
        k.redirected,
        drops.join(", "),
        if slow.is_empty() {
            "none".to_string()
        } else {
            slow.join(", ")
        }
    )
}

#[derive(Debug)]
struct Row {
    key: &'static str,
    title: &'static str,
    frames: usize,
    octets: usize,
    memcpy: Stats,
    classify: Stats,
}

impl Row {
    fn ns(&self, s: &Stats) -> f64 {
        s.median_ns / self.frames as f64
    }
    fn classify_ns(&self) -> f64 {
        self.ns(&self.classify)
    }
    fn memcpy_ns(&self) -> f64 {
        self.ns(&self.memcpy)
    }
    fn ratio(&self) -> f64 {
        self.classify.median_ns / self.memcpy.median_ns
    }
}

#[derive(Debug)]
struct Options {
    quick: bool,
    json: bool,
    cfg: Config,
}

enum Cmd {
    Help,
    Run(Options),
}

fn parse_args(args: &[String]) -> Result<Cmd, String> {
    let mut quick = false;
    let mut json = false;
    let mut rounds = None;
    let mut batch_ms = None;
    let mut it = args.iter();
    let number = |v: Option<&String>, what: &str| -> Result<u64, String> {
        v.and_then(|s| s.parse().ok())
            .filter(|&n: &u64| n > 0)
            .ok_or_else(|| format!("{what} needs a positive number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Cmd::Help),
            "--quick" => quick = true,
            "--json" => json = true,
            "--rounds" => rounds = Some(number(it.next(), "--rounds")?),
            "--batch-ms" => batch_ms = Some(number(it.next(), "--batch-ms")?),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let (def_rounds, def_batch, warmup) = if quick {
        (5, 1, Duration::from_millis(5))
    } else {
        (20, 5, Duration::from_millis(100))
    };
    Ok(Cmd::Run(Options {
        quick,
        json,
        cfg: Config {
            rounds: rounds.map_or(def_rounds, |r| r as usize),
            batch: Duration::from_millis(batch_ms.unwrap_or(def_batch)),
            warmup,
        },
    }))
}

fn run(opts: &Options) -> Result<(Vec<Row>, String), String> {
    let sets = sets(opts.quick)?;
    let mut rows = Vec::new();
    for set in &sets {
        let mut ops = ops(set);
        let mut stats = measure(&mut ops, &opts.cfg).into_iter();
        let (Some(memcpy), Some(classify)) = (stats.next(), stats.next()) else {
            return Err("measure returned fewer figures than operations".into());
        };
        rows.push(Row {
            key: set.key,
            title: set.title,
            frames: set.lens.len(),
            octets: set.octets(),
            memcpy,
            classify,
        });
    }
    let mix_verdicts = sets.first().map(verdicts).unwrap_or_default();
    Ok((rows, mix_verdicts))
}

/// `1234567.8` → `"1 234 568"`; small values keep a decimal.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn mfps(ns_per_frame: f64) -> f64 {
    1e3 / ns_per_frame
}

fn text_report(opts: &Options, rows: &[Row], mix_verdicts: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "classify: one core, {} rounds x ~{} ms batch per figure, memcpy and classify \
         interleaved{}",
        opts.cfg.rounds,
        opts.cfg.batch.as_millis(),
        if opts.quick { " (--quick: rough)" } else { "" }
    );
    let _ = writeln!(
        s,
        "{:<13}{:<40}{:>7}{:>8}  {:>11}{:>11}  {:>11}{:>11}  {:>9}",
        "set",
        "frames",
        "n",
        "avg B",
        "classify ns",
        "M frames/s",
        "memcpy ns",
        "M frames/s",
        "x memcpy"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<13}{:<40}{:>7}{:>8}  {:>11.1}{:>11.1}  {:>11.1}{:>11.1}  {:>9.2}",
            r.key,
            r.title,
            r.frames,
            num(r.octets as f64 / r.frames as f64),
            r.classify_ns(),
            mfps(r.classify_ns()),
            r.memcpy_ns(),
            mfps(r.memcpy_ns()),
            r.ratio(),
        );
    }
    let _ = writeln!(
        s,
        "(ns are per frame, medians; p10..p90 of classify on the mix: {:.1}..{:.1} ns)",
        rows.first()
            .map_or(f64::NAN, |r| r.classify.p10_ns / r.frames as f64),
        rows.first()
            .map_or(f64::NAN, |r| r.classify.p90_ns / r.frames as f64),
    );
    if let Some(mix) = rows.first() {
        let fps = 1e9 / mix.classify_ns();
        let _ = writeln!(
            s,
            "\ntarget: >= {} M frames/s per core on the mix\n        classify {} frames/s \
             ({:.1} ns/frame), memcpy of the same frames {} frames/s, ratio {:.2}  -> {}",
            num(TARGET_FRAMES_PER_SEC / 1e6),
            num(fps),
            mix.classify_ns(),
            num(1e9 / mix.memcpy_ns()),
            mix.ratio(),
            if fps >= TARGET_FRAMES_PER_SEC {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    let _ = writeln!(s, "verdicts over one pass of the mix: {mix_verdicts}");
    s
}

fn json_report(opts: &Options, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"config\":{{\"rounds\":{},\"batch_ms\":{},\"quick\":{}}},\"sets\":[",
        opts.cfg.rounds,
        opts.cfg.batch.as_millis(),
        opts.quick
    );
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"set\":\"{}\",\"frames\":{},\"octets\":{},\"classify_ns_per_frame\":{},\
             \"memcpy_ns_per_frame\":{},\"classify_frames_per_s\":{},\"memcpy_frames_per_s\":{},\
             \"ratio_to_memcpy\":{},\"classify_mb_per_s\":{},\"memcpy_mb_per_s\":{},\
             \"batch\":{},\"rounds\":{}}}",
            r.key,
            r.frames,
            r.octets,
            json_num(r.classify_ns()),
            json_num(r.memcpy_ns()),
            json_num(1e9 / r.classify_ns()),
            json_num(1e9 / r.memcpy_ns()),
            json_num(r.ratio()),
            json_num(mb_per_s(r.octets, r.classify.median_ns)),
            json_num(mb_per_s(r.octets, r.memcpy.median_ns)),
            r.classify.batch,
            r.classify.rounds,
        );
    }
    s.push(']');
    if let Some(mix) = rows.first() {
        let fps = 1e9 / mix.classify_ns();
        let _ = write!(
            s,
            ",\"target\":{{\"frames_per_s\":{},\"met\":{}}}",
            json_num(TARGET_FRAMES_PER_SEC),
            fps >= TARGET_FRAMES_PER_SEC
        );
    }
    s.push_str("}\n");
    s
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(Cmd::Help) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Cmd::Run(o)) => o,
        Err(e) => {
            eprintln!("classify: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("classify: debug build; figures mean little (use --release)");
    }
    match run(&opts) {
        Ok((rows, mix_verdicts)) => {
            if opts.json {
                print!("{}", json_report(&opts, &rows));
            } else {
                print!("{}", text_report(&opts, &rows, &mix_verdicts));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("classify: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_set_classifies_as_built() {
        let sets = sets(true).unwrap();
        assert_eq!(sets.len(), 1 + Kind::ALL.len());
        assert_eq!(sets[0].lens.len(), 500);
        for s in &sets {
            assert!(s.frames().all(|f| !f.is_empty() && f.len() <= CHUNK));
        }
    }

    #[test]
    fn the_mix_has_every_kind_in_its_share() {
        let m = mix(1000);
        let mm1 = m.iter().filter(|f| f.class == Class::Mm1).count();
        // 8 + 4 + 20 + 6 + 32 + 12 = 82 %.
        assert_eq!(mm1, 820);
        assert!(m.iter().any(|f| f.bytes.len() == 1514));
        assert!(
            m.iter()
                .any(|f| f.action == Action::Drop(DropReason::NotPeer))
        );
    }

    #[test]
    fn arguments() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        match a(&["--quick"]) {
            Ok(Cmd::Run(o)) => {
                assert!(o.quick);
                assert_eq!(o.cfg.rounds, 5);
            }
            _ => panic!("--quick"),
        }
        assert!(matches!(a(&["--help"]), Ok(Cmd::Help)));
        assert!(a(&["--rounds", "0"]).is_err());
        assert!(a(&["--bogus"]).is_err());
    }
}
