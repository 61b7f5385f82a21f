//! The full MM1 flow as handsets do it, from N threads, each its own pair of subscribers on
//! one keep-alive connection: submit (m-send-req → m-send-conf Ok) → the notification appears
//! in `notifications.log` → retrieve (GET Content-Location → m-retrieve-conf, checked against
//! what was sent) → m-notifyresp-ind Retrieved (→ 200). Bounded in time and in count.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mmsc_wire::mms::{MessageType, ResponseStatus};
use mmsc_wire::{Limits, Pdu};

use crate::http::Client;
use crate::message::{Notification, jpeg_of, notifyresp_retrieved, parse_log_line, send_req};

/// How long a flow waits for its notification.
const NOTIFY_WAIT: Duration = Duration::from_secs(10);
/// How often the log is polled for new lines.
const TAIL_POLL: Duration = Duration::from_millis(1);
/// Error messages kept for the report.
const KEEP_ERRORS: usize = 5;

/// The steps of one flow, in order, and the whole.
pub const STEPS: [&str; 5] = ["submit", "notify", "retrieve", "notifyresp", "whole flow"];

/// How to load.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// mmsc's MM1 address.
    pub addr: SocketAddr,
    /// The POST path.
    pub path: String,
    /// mmsc's notification log.
    pub log: PathBuf,
    /// Client threads (one flow at a time each).
    pub threads: usize,
    /// Stop starting flows after this long.
    pub duration: Duration,
    /// Most flows per thread.
    pub max_flows: u64,
}

/// What the run did.
#[derive(Debug, Default)]
pub struct FlowResult {
    /// Flows completed (every step answered as expected).
    pub completed: u64,
    /// Seconds from the start to the end of the last flow.
    pub secs: f64,
    /// Submits answered m-send-conf Ok.
    pub submits_ok: u64,
    /// Flows that failed at some step.
    pub errors: u64,
    /// The first few error messages.
    pub first_errors: Vec<String>,
    /// Latency samples in µs, per step of [`STEPS`], sorted.
    pub samples: Vec<Vec<u64>>,
}

impl FlowResult {
    /// Completed flows per second.
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.secs.max(1e-9)
    }
}

/// Notifications read from the log, by recipient, with when they were seen.
#[derive(Default)]
struct Inbox {
    by_msisdn: Mutex<HashMap<String, VecDeque<(Notification, Instant)>>>,
    arrived: Condvar,
}

impl Inbox {
    fn put(&self, n: Notification) {
        let now = Instant::now();
        if let Ok(mut m) = self.by_msisdn.lock() {
            m.entry(n.to.clone()).or_default().push_back((n, now));
        }
        self.arrived.notify_all();
    }

    fn take(&self, msisdn: &str, limit: Duration) -> Option<(Notification, Instant)> {
        let until = Instant::now() + limit;
        let mut m = self.by_msisdn.lock().ok()?;
        loop {
            if let Some(n) = m.get_mut(msisdn).and_then(VecDeque::pop_front) {
                return Some(n);
            }
            let left = until.checked_duration_since(Instant::now())?;
            m = self.arrived.wait_timeout(m, left).ok()?.0;
        }
    }
}

/// Follow the log from `from` (an offset) until `stop`, handing each notification to `inbox`.
fn tail(path: PathBuf, from: u64, inbox: Arc<Inbox>, stop: Arc<AtomicBool>, bad: Arc<Mutex<u64>>) {
    let mut file: Option<File> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::Acquire) {
        if file.is_none() {
            file = File::open(&path).ok().and_then(|mut f| {
                f.seek(SeekFrom::Start(from)).ok()?;
                Some(f)
            });
        }
        let n = file.as_mut().map_or(0, |f| f.read(&mut chunk).unwrap_or(0));
        if n == 0 {
            std::thread::sleep(TAIL_POLL);
            continue;
        }
        pending.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        while let Some(i) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            if line.trim().is_empty() {
                continue;
            }
            match parse_log_line(&line) {
                Ok(Some(n)) => inbox.put(n),
                Ok(None) => {}
                Err(_) => {
                    if let Ok(mut b) = bad.lock() {
                        *b += 1;
                    }
                }
            }
        }
    }
}

/// The path of an absolute http URL ("http://h:p/mms/x" → "/mms/x").
fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.find('/').and_then(|i| rest.get(i..))
}

struct Handset {
    client: Client,
    path: String,
    sender: String,
    recipient: String,
    jpeg: Vec<u8>,
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl Handset {
    /// One flow; the latency of each step in µs.
    fn flow(&mut self, inbox: &Inbox, n: u64) -> Result<[u64; 5], String> {
        let limits = Limits::default();
        let tid = format!("{}-{n}", &self.sender[1..]);
        let req = send_req(&tid, &self.recipient)?;
        let mms = ("Content-Type", "application/vnd.wap.mms-message");
        let t0 = Instant::now();
        let r =
            self.client
                .request("POST", &self.path, &[mms, ("X-MSISDN", &self.sender)], &req)?;
        let t1 = Instant::now();
        if r.status != 200 {
            return Err(format!("submit: HTTP {}", r.status));
        }
        let conf = Pdu::decode(&r.body, &limits).map_err(|e| format!("m-send-conf: {e}"))?;
        if conf.message_type != MessageType::SEND_CONF
            || conf.transaction_id() != Some(tid.as_bytes())
        {
            return Err("submit: not the m-send-conf of this transaction".into());
        }
        if conf.response_status() != Some(ResponseStatus::OK) {
            return Err(format!("submit: {:?}", conf.response_status()));
        }
        let mid = conf
            .message_id()
            .ok_or("m-send-conf Ok without Message-ID")?
            .to_vec();

        let (note, seen) = inbox.take(&self.recipient, NOTIFY_WAIT).ok_or_else(|| {
            format!(
                "no notification to {} within {NOTIFY_WAIT:?}",
                self.recipient
            )
        })?;
        let t2 = Instant::now();

        let path = url_path(&note.location)
            .ok_or_else(|| format!("notification: bad Content-Location {}", note.location))?;
        let r = self
            .client
            .request("GET", path, &[("X-MSISDN", &self.recipient)], &[])?;
        let t3 = Instant::now();
        if r.status != 200 {
            return Err(format!("retrieve: HTTP {}", r.status));
        }
        let rc = Pdu::decode(&r.body, &limits).map_err(|e| format!("m-retrieve-conf: {e}"))?;
        if rc.message_type != MessageType::RETRIEVE_CONF {
            return Err(format!("retrieve: got {:?}", rc.message_type));
        }
        if rc.message_id() != Some(&mid[..]) {
            return Err("retrieve: another message (Message-ID differs)".into());
        }
        if jpeg_of(&rc) != Some(&self.jpeg[..]) {
            return Err("retrieve: the picture differs from what was sent".into());
        }

        let nr = notifyresp_retrieved(&note.tid)?;
        let r = self.client.request(
            "POST",
            &self.path,
            &[mms, ("X-MSISDN", &self.recipient)],
            &nr,
        )?;
        let t4 = Instant::now();
        if r.status != 200 {
            return Err(format!("notifyresp: HTTP {}", r.status));
        }
        Ok([
            micros(t1 - t0),
            micros(seen.saturating_duration_since(t1)),
            micros(t3 - t2),
            micros(t4 - t3),
            micros(t4 - t0),
        ])
    }
}

#[derive(Default)]
struct ThreadResult {
    completed: u64,
    submits_ok: u64,
    errors: u64,
    first_errors: Vec<String>,
    samples: Vec<Vec<u64>>,
}

/// Run the flow load. `from` is the log offset to follow from (its size before the run).
pub fn run(cfg: &FlowConfig, from: u64) -> Result<FlowResult, String> {
    let inbox = Arc::new(Inbox::default());
    let stop = Arc::new(AtomicBool::new(false));
    let bad_lines = Arc::new(Mutex::new(0u64));
    let tailer = {
        let (path, inbox, stop, bad) = (
            cfg.log.clone(),
            Arc::clone(&inbox),
            Arc::clone(&stop),
            Arc::clone(&bad_lines),
        );
        std::thread::Builder::new()
            .name("mm1-tail".into())
            .spawn(move || tail(path, from, inbox, stop, bad))
            .map_err(|e| e.to_string())?
    };
    let jpeg = crate::fixtures::fake_jpeg(crate::message::JPEG_BYTES, crate::message::JPEG_SEED);
    let start = Instant::now();
    let mut workers = Vec::new();
    for i in 0..cfg.threads {
        let mut h = Handset {
            client: Client::new(cfg.addr),
            path: cfg.path.clone(),
            sender: format!("+35840{:07}", 2_000_000 + i),
            recipient: format!("+35840{:07}", 3_000_000 + i),
            jpeg: jpeg.clone(),
        };
        let inbox = Arc::clone(&inbox);
        let (duration, max) = (cfg.duration, cfg.max_flows);
        let w = std::thread::Builder::new()
            .name(format!("mm1-flow{i}"))
            .spawn(move || {
                let mut r = ThreadResult {
                    samples: vec![Vec::new(); STEPS.len()],
                    ..ThreadResult::default()
                };
                let mut n = 0;
                while n < max && start.elapsed() < duration {
                    n += 1;
                    match h.flow(&inbox, n) {
                        Ok(lat) => {
                            r.completed += 1;
                            r.submits_ok += 1;
                            for (s, v) in r.samples.iter_mut().zip(lat) {
                                s.push(v);
                            }
                        }
                        Err(e) => {
                            if !e.starts_with("submit") {
                                r.submits_ok += 1;
                            }
                            r.errors += 1;
                            if r.first_errors.len() < KEEP_ERRORS {
                                r.first_errors.push(e);
                            }
                            // A failed step may leave its notification behind; start over on a
                            // fresh connection after a pause, without hammering.
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                r
            })
            .map_err(|e| e.to_string())?;
        workers.push(w);
    }
    let mut out = FlowResult {
        samples: vec![Vec::new(); STEPS.len()],
        ..FlowResult::default()
    };
    for w in workers {
        let r = w.join().map_err(|_| "a flow thread panicked".to_string())?;
        out.completed += r.completed;
        out.submits_ok += r.submits_ok;
        out.errors += r.errors;
        for e in r.first_errors {
            if out.first_errors.len() < KEEP_ERRORS {
                out.first_errors.push(e);
            }
        }
        for (all, mine) in out.samples.iter_mut().zip(r.samples) {
            all.extend(mine);
        }
    }
    out.secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    let _ = tailer.join();
    for s in &mut out.samples {
        s.sort_unstable();
    }
    let bad = bad_lines.lock().map_or(0, |b| *b);
    if bad > 0 {
        out.errors += bad;
        out.first_errors.push(format!(
            "{bad} line(s) of the notification log did not parse"
        ));
    }
    Ok(out)
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_percentiles() {
        assert_eq!(
            url_path("http://127.0.0.1:8514/mms/ab-0"),
            Some("/mms/ab-0")
        );
        assert_eq!(url_path("http://h"), None);
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&s, 0.5), Some(51));
        assert_eq!(percentile(&s, 0.99), Some(99));
        assert_eq!(percentile(&s, 1.0), Some(100));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
