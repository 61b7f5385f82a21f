//! `mmsc-bench`: decode and encode of MMS PDUs, each printed beside a memcpy of the same
//! number of octets measured in the same run, with the ratio.
//!
//! Benchmarks print; they never assert on a time. See `bench/README.md` for how to read them.

mod fixtures;
mod measure;

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::time::Duration;

use mmsc_wire::wsp::Body;
use mmsc_wire::{Limits, Pdu};

use crate::measure::{Config, Op, Stats, json_num, mb_per_s, measure};

const HELP: &str = "\
mmsc-bench: MMS PDU decode/encode, each beside a memcpy of the same octets

USAGE:
    cargo run --release -p mmsc-bench -- [OPTIONS]

OPTIONS:
    --quick            few short rounds (CI smoke test; figures are rough)
    --json             machine-readable output on stdout
    --rounds N         rounds per figure (default 30, --quick 5)
    --batch-ms N       target duration of one batch in ms (default 10, --quick 2)
    --instructions     also count instructions per operation with valgrind's cachegrind
                       (stable across runs; slow; needs valgrind on PATH)
    --count CASE OP N  run OP of CASE N times and exit, nothing printed (used by
                       --instructions; CASE: notification, send-req, retrieve-conf;
                       OP: memcpy, decode, encode_into, encode)
    -h, --help         this text

Each case is timed in interleaved rounds (memcpy, decode, encode_into, encode, then the next
round); each round is one batch of about --batch-ms; the figures are the median and the
10th/90th percentiles of ns per operation over the rounds.";

/// Operations measured for each case, in the order they are printed.
const OPS: [&str; 4] = ["memcpy", "decode", "encode_into", "encode"];

/// The case whose decode must cost less than one copy of its octets.
const GOAL_CASE: &str = "send-req";

#[derive(Debug)]
struct Case {
    /// Short name (used by --count and in JSON).
    key: &'static str,
    /// What it is, for the table.
    title: &'static str,
    /// The PDU as sent on the wire.
    wire: Vec<u8>,
}

fn build_case(key: &str) -> Result<Case, String> {
    let (key, title, pdu) = match key {
        "notification" => (
            "notification",
            "m-notification-ind",
            fixtures::notification_ind(),
        ),
        "send-req" => ("send-req", "m-send-req 30 KB", fixtures::send_req_30k()),
        "retrieve-conf" => (
            "retrieve-conf",
            "m-retrieve-conf 300 KB",
            fixtures::retrieve_conf_300k(),
        ),
        other => return Err(format!("unknown case {other:?}")),
    };
    let wire = pdu
        .encode()
        .map_err(|e| format!("{key}: fixture does not encode: {e}"))?;
    // The fixture must be what it claims, and the decode must borrow the part data.
    let back = Pdu::decode(&wire, &Limits::default())
        .map_err(|e| format!("{key}: fixture does not decode: {e}"))?;
    if back != pdu {
        return Err(format!("{key}: fixture does not round-trip"));
    }
    let range = wire.as_ptr_range();
    for part in back.parts() {
        if let Body::Data(d) = &part.body
            && !d.is_empty()
            && !range.contains(&d.as_ptr())
        {
            return Err(format!(
                "{key}: decoded part data is not borrowed from the input"
            ));
        }
    }
    Ok(Case { key, title, wire })
}

fn all_cases() -> Result<Vec<Case>, String> {
    ["notification", "send-req", "retrieve-conf"]
        .into_iter()
        .map(build_case)
        .collect()
}

/// The closure that runs `op` on `case` n times.
fn make_op<'a>(op: &str, wire: &'a [u8], limits: &'a Limits) -> Result<Op<'a>, String> {
    let pdu = Pdu::decode(wire, limits).map_err(|e| e.to_string())?;
    Ok(match op {
        "memcpy" => {
            let mut dst = vec![0u8; wire.len()];
            Box::new(move |n| {
                for _ in 0..n {
                    dst.copy_from_slice(black_box(wire));
                    black_box(&mut dst);
                }
            })
        }
        "decode" => Box::new(move |n| {
            for _ in 0..n {
                let p = Pdu::decode(black_box(wire), limits);
                black_box(&p);
            }
        }),
        "encode_into" => {
            let mut out = Vec::with_capacity(wire.len() + 64);
            Box::new(move |n| {
                for _ in 0..n {
                    out.clear();
                    let r = black_box(&pdu).encode_into(&mut out);
                    black_box((&r, &out));
                }
            })
        }
        "encode" => Box::new(move |n| {
            for _ in 0..n {
                let r = black_box(&pdu).encode();
                black_box(&r);
            }
        }),
        other => return Err(format!("unknown op {other:?}")),
    })
}

#[derive(Debug)]
struct CaseResult {
    key: &'static str,
    title: &'static str,
    octets: usize,
    stats: Vec<(&'static str, Stats)>,
    /// Instructions per operation, when counted.
    instructions: Vec<Option<f64>>,
}

impl CaseResult {
    fn median(&self, op: &str) -> f64 {
        self.stats
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(f64::NAN, |(_, s)| s.median_ns)
    }

    fn ratio(&self, op: &str) -> f64 {
        self.median(op) / self.median("memcpy")
    }
}

#[derive(Debug)]
struct Options {
    quick: bool,
    json: bool,
    instructions: bool,
    cfg: Config,
}

enum Mode {
    Help,
    Run(Options),
    Count(String, String, u64),
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut quick = false;
    let mut json = false;
    let mut instructions = false;
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
            "-h" | "--help" => return Ok(Mode::Help),
            "--quick" => quick = true,
            "--json" => json = true,
            "--instructions" => instructions = true,
            "--rounds" => rounds = Some(number(it.next(), "--rounds")?),
            "--batch-ms" => batch_ms = Some(number(it.next(), "--batch-ms")?),
            "--count" => {
                let case = it.next().ok_or("--count needs CASE OP N")?.clone();
                let op = it.next().ok_or("--count needs CASE OP N")?.clone();
                let n = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--count needs CASE OP N")?;
                return Ok(Mode::Count(case, op, n));
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let (def_rounds, def_batch, warmup) = if quick {
        (5, 2, Duration::from_millis(20))
    } else {
        (30, 10, Duration::from_millis(200))
    };
    Ok(Mode::Run(Options {
        quick,
        json,
        instructions,
        cfg: Config {
            rounds: rounds.map_or(def_rounds, |r| r as usize),
            batch: Duration::from_millis(batch_ms.unwrap_or(def_batch)),
            warmup,
        },
    }))
}

fn run_count(case: &str, op: &str, n: u64) -> Result<(), String> {
    let case = build_case(case)?;
    let limits = Limits::default();
    let mut f = make_op(op, &case.wire, &limits)?;
    f(n);
    Ok(())
}

/// Instructions executed by `--count case op n`, as cachegrind counts them.
fn cachegrind_irefs(case: &str, op: &str, n: u64) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
        ])
        .arg(exe)
        .args(["--count", case, op, &n.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !out.status.success() {
        return Err(format!("valgrind failed: {}", out.status));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| {
            l.split_once("I   refs:")
                .map(|(_, v)| v.trim().replace(',', ""))
        })
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no \"I refs\" line in valgrind's output".to_string())
}

/// Instructions per operation: (count with n ops − count with 0 ops) / n.
fn instructions_per_op(case: &str, op: &str, octets: usize) -> Result<f64, String> {
    let n = (2_000_000 / octets.max(1) as u64).clamp(20, 5_000);
    let base = cachegrind_irefs(case, op, 0)?;
    let with = cachegrind_irefs(case, op, n)?;
    Ok(with.saturating_sub(base) as f64 / n as f64)
}

fn run(opts: &Options) -> Result<Vec<CaseResult>, String> {
    let limits = Limits::default();
    let cases = all_cases()?;
    let mut results = Vec::new();
    for case in &cases {
        let mut ops = OPS
            .iter()
            .map(|op| make_op(op, &case.wire, &limits))
            .collect::<Result<Vec<_>, _>>()?;
        let stats = measure(&mut ops, &opts.cfg);
        results.push(CaseResult {
            key: case.key,
            title: case.title,
            octets: case.wire.len(),
            stats: OPS.iter().copied().zip(stats).collect(),
            instructions: vec![None; OPS.len()],
        });
    }
    // After all timing, so that valgrind's runs do not disturb it.
    if opts.instructions {
        for r in &mut results {
            for (op, slot) in OPS.iter().zip(&mut r.instructions) {
                *slot = Some(instructions_per_op(r.key, op, r.octets)?);
            }
        }
    }
    Ok(results)
}

/// `1234567.8` → `"1 234 568"`; small values keep a decimal.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn text_report(opts: &Options, results: &[CaseResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mmsc-bench: {} rounds x ~{} ms batch per figure, operations of a case interleaved{}",
        opts.cfg.rounds,
        opts.cfg.batch.as_millis(),
        if opts.quick { " (--quick: rough)" } else { "" }
    );
    let _ = write!(
        s,
        "{:<24}{:>8}  {:<12}{:>11}{:>11}{:>11}{:>10}{:>10}",
        "case", "octets", "op", "median ns", "p10 ns", "p90 ns", "MB/s", "x memcpy"
    );
    if opts.instructions {
        let _ = write!(s, "{:>12}", "instr/op");
    }
    s.push('\n');
    for r in results {
        for (i, ((op, st), ins)) in r.stats.iter().zip(&r.instructions).enumerate() {
            let (title, octets) = if i == 0 {
                (r.title, r.octets.to_string())
            } else {
                ("", String::new())
            };
            let _ = write!(
                s,
                "{:<24}{:>8}  {:<12}{:>11}{:>11}{:>11}{:>10}{:>10.2}",
                title,
                octets,
                op,
                num(st.median_ns),
                num(st.p10_ns),
                num(st.p90_ns),
                num(mb_per_s(r.octets, st.median_ns)),
                r.ratio(op),
            );
            if let Some(ins) = ins {
                let _ = write!(s, "{:>12}", num(*ins));
            }
            s.push('\n');
        }
    }
    if let Some(goal) = results.iter().find(|r| r.key == GOAL_CASE) {
        let ratio = goal.ratio("decode");
        let _ = writeln!(
            s,
            "\ngoal: decoding the {} costs less than copying its {} octets once\n      \
             decode {} ns / memcpy {} ns = {:.3}  -> {}",
            goal.title,
            goal.octets,
            num(goal.median("decode")),
            num(goal.median("memcpy")),
            ratio,
            if ratio < 1.0 { "met" } else { "NOT met" }
        );
    }
    let _ = write!(s, "encode copies the part data: encode_into / memcpy =");
    for (i, r) in results.iter().enumerate() {
        let _ = write!(
            s,
            "{} {:.2} ({})",
            if i == 0 { "" } else { "," },
            r.ratio("encode_into"),
            r.key
        );
    }
    s.push('\n');
    s
}

fn json_report(opts: &Options, results: &[CaseResult]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\"config\":{{\"rounds\":{},\"batch_ms\":{},\"quick\":{}}},\"cases\":[",
        opts.cfg.rounds,
        opts.cfg.batch.as_millis(),
        opts.quick
    );
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"case\":\"{}\",\"title\":\"{}\",\"octets\":{},\"ops\":[",
            r.key, r.title, r.octets
        );
        for (j, ((op, st), ins)) in r.stats.iter().zip(&r.instructions).enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"op\":\"{op}\",\"median_ns\":{},\"p10_ns\":{},\"p90_ns\":{},\"mb_per_s\":{},\
                 \"ratio_to_memcpy\":{},\"batch\":{},\"rounds\":{},\"instructions\":{}}}",
                json_num(st.median_ns),
                json_num(st.p10_ns),
                json_num(st.p90_ns),
                json_num(mb_per_s(r.octets, st.median_ns)),
                json_num(r.ratio(op)),
                st.batch,
                st.rounds,
                ins.map_or("null".into(), json_num),
            );
        }
        s.push_str("]}");
    }
    s.push(']');
    if let Some(goal) = results.iter().find(|r| r.key == GOAL_CASE) {
        let ratio = goal.ratio("decode");
        let _ = write!(
            s,
            ",\"goal\":{{\"case\":\"{}\",\"decode_over_memcpy\":{},\"met\":{}}}",
            goal.key,
            json_num(ratio),
            ratio < 1.0
        );
    }
    s.push_str("}\n");
    s
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match parse_args(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mmsc-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match mode {
        Mode::Help => {
            println!("{HELP}");
            Ok(())
        }
        Mode::Count(case, op, n) => run_count(&case, &op, n),
        Mode::Run(opts) => {
            if cfg!(debug_assertions) {
                eprintln!("mmsc-bench: debug build; figures mean little (use --release)");
            }
            run(&opts).map(|results| {
                if opts.json {
                    print!("{}", json_report(&opts, &results));
                } else {
                    print!("{}", text_report(&opts, &results));
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mmsc-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(num(5.04), "5.0");
        assert_eq!(num(1234.4), "1 234");
        assert_eq!(num(1_234_567.8), "1 234 568");
        assert_eq!(num(f64::NAN), "-");
    }

    #[test]
    fn every_op_runs_on_every_case() {
        let limits = Limits::default();
        for case in all_cases().unwrap() {
            for op in OPS {
                let mut f = make_op(op, &case.wire, &limits).unwrap();
                f(2);
            }
        }
    }

    #[test]
    fn args() {
        let a = |v: &[&str]| parse_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(matches!(a(&["--help"]), Ok(Mode::Help)));
        assert!(matches!(a(&["--quick", "--json"]), Ok(Mode::Run(o)) if o.quick && o.json));
        assert!(a(&["--rounds", "0"]).is_err());
        assert!(a(&["--bogus"]).is_err());
        assert!(
            matches!(a(&["--count", "send-req", "decode", "3"]), Ok(Mode::Count(c, o, 3)) if c == "send-req" && o == "decode")
        );
    }
}
