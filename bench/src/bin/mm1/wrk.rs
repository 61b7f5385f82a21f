//! Running wrk with the POST script (`bench/mm1-post.lua`) and reading its report.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procs::Guard;

/// The Lua script: method, headers and the binary body read from a file.
pub const SCRIPT: &str = include_str!("../../../mm1-post.lua");

/// What one wrk run reports.
#[derive(Clone, Debug, Default)]
pub struct WrkResult {
    /// Responses completed.
    pub requests: u64,
    /// Seconds the run took, as wrk measured it.
    pub secs: f64,
    /// requests / secs.
    pub rate: f64,
    /// Latency percentiles in ms: 50, 75, 90, 99.
    pub p50_ms: f64,
    /// 75th percentile.
    pub p75_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Responses that were not 2xx or 3xx.
    pub non_2xx: u64,
    /// Socket errors: connect, read, write, timeout.
    pub socket_errors: [u64; 4],
}

impl WrkResult {
    /// Responses with a 2xx (or 3xx) status.
    pub fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.non_2xx)
    }

    /// Every kind of error.
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors.iter().sum::<u64>()
    }
}

/// How to run wrk.
#[derive(Clone, Debug)]
pub struct WrkLoad<'a> {
    /// The wrk program.
    pub program: &'a Path,
    /// The script file.
    pub script: &'a Path,
    /// The body file.
    pub body: &'a Path,
    /// The sender's MSISDN (X-MSISDN).
    pub msisdn: &'a str,
    /// wrk threads.
    pub threads: usize,
    /// Connections (over all threads).
    pub connections: usize,
    /// How long.
    pub duration: Duration,
}

/// Run wrk against `url` and parse its report.
pub fn run(load: &WrkLoad<'_>, url: &str) -> Result<WrkResult, String> {
    let secs = load.duration.as_secs_f64().max(1.0).round() as u64;
    let mut cmd = Command::new(load.program);
    cmd.arg("-t")
        .arg(load.threads.to_string())
        .arg("-c")
        .arg(load.connections.to_string())
        .arg("-d")
        .arg(format!("{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg("-s")
        .arg(load.script)
        .arg(url)
        .arg("--")
        .arg(load.body)
        .arg(load.msisdn)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let guard = Guard::spawn("wrk", &mut cmd)?;
    // wrk ends by itself after -d; the guard kills it if this thread unwinds.
    let out = wait_output(guard, Duration::from_secs(secs + 60))?;
    parse(&out).ok_or_else(|| format!("cannot read wrk's report:\n{out}"))
}

fn wait_output(mut guard: Guard, limit: Duration) -> Result<String, String> {
    // The report is short (< 1 KB): it fits the pipe, so waiting before reading cannot
    // deadlock.
    let status = guard.wait_for_output(limit)?;
    let (status, stdout, stderr) = status;
    if !status.success() {
        return Err(format!("wrk failed ({status}):\n{stdout}{stderr}"));
    }
    Ok(format!("{stdout}{stderr}"))
}

/// "236.00us", "1.43ms", "2.00s", "1.00m" in ms.
fn duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60_000.0)
    } else if let Some(v) = s.strip_suffix('h') {
        (v, 3_600_000.0)
    } else {
        return None;
    };
    num.trim().parse::<f64>().ok().map(|v| v * mul)
}

/// Read wrk's text report.
pub fn parse(out: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut seen_total = false;
    for line in out.lines().map(str::trim) {
        if let Some((pct, v)) = line.split_once('%')
            && let Ok(pct) = pct.trim().parse::<u32>()
            && let Some(ms) = duration_ms(v)
        {
            match pct {
                50 => r.p50_ms = ms,
                75 => r.p75_ms = ms,
                90 => r.p90_ms = ms,
                99 => r.p99_ms = ms,
                _ => {}
            }
        } else if let Some((n, rest)) = line.split_once(" requests in ") {
            r.requests = n.trim().parse().ok()?;
            r.secs = duration_ms(rest.split(',').next()?)? / 1000.0;
            seen_total = true;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().ok()?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for (i, item) in v.split(',').enumerate().take(4) {
                if let Some(slot) = r.socket_errors.get_mut(i) {
                    *slot = item.split_whitespace().nth(1)?.parse().ok()?;
                }
            }
        }
    }
    if !seen_total || r.secs <= 0.0 {
        return None;
    }
    r.rate = r.requests as f64 / r.secs;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:18080/mms
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms    2.06ms  26.83ms   86.99%
    Req/Sec    69.14k    40.37k  147.96k    50.00%
  Latency Distribution
     50%  236.00us
     75%    1.43ms
     90%    3.92ms
     99%    2.25s
  345903 requests in 5.04s, 36.29MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  68668.35
Transfer/sec:      7.20MB
";

    #[test]
    fn reads_the_report() {
        let r = parse(REPORT).unwrap();
        assert_eq!(r.requests, 345_903);
        assert!((r.secs - 5.04).abs() < 1e-9);
        assert!((r.p50_ms - 0.236).abs() < 1e-9);
        assert!((r.p75_ms - 1.43).abs() < 1e-9);
        assert!((r.p90_ms - 3.92).abs() < 1e-9);
        assert!((r.p99_ms - 2250.0).abs() < 1e-9);
        assert_eq!(r.non_2xx, 12);
        assert_eq!(r.socket_errors, [0, 2, 0, 7]);
        assert_eq!(r.ok(), 345_891);
        assert_eq!(r.errors(), 21);
        assert!(parse("Running 5s test\n").is_none());
    }
}
