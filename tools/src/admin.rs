//! The administration API of `mmsc serve`, on a listener of its own (`[admin] listen`):
//!
//! - `GET /status`: the counters as JSON (what `mmsc status` prints);
//! - `GET /metrics`: the same counters in the Prometheus text format.
//!
//! One thread answers one connection at a time with short timeouts: it is for operators and
//! scrapers, not for traffic, and it never touches a dataplane core.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mmsc_wire::http::{self, Event, HttpLimits, ServerConn};
use serde_json::{Map, Value as Json};

/// How long one connection may take to send its request and read the answer.
const CONN_TIMEOUT: Duration = Duration::from_secs(2);

/// One counter or gauge: a dotted name (`mm1.requests`), its help text and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Dotted name; the JSON nests on the dots, Prometheus joins them with `_` after `mmsc_`.
    pub name: String,
    /// What it counts.
    pub help: &'static str,
    /// Counter (only grows) or gauge.
    pub counter: bool,
    /// Labels (`core`, `class`, ...).
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
}

impl Metric {
    /// A counter.
    pub fn counter(name: impl Into<String>, help: &'static str, value: u64) -> Metric {
        Metric {
            name: name.into(),
            help,
            counter: true,
            labels: Vec::new(),
            value,
        }
    }

    /// A gauge.
    pub fn gauge(name: impl Into<String>, help: &'static str, value: u64) -> Metric {
        Metric {
            counter: false,
            ..Metric::counter(name, help, value)
        }
    }

    /// With a label.
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Metric {
        self.labels.push((name, value.into()));
        self
    }
}

/// What the API reports: called for every request.
pub type Source = Arc<dyn Fn() -> Vec<Metric> + Send + Sync>;

/// A running admin listener.
#[derive(Debug)]
pub struct Admin {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The address it listens on.
    pub local_addr: SocketAddr,
}

impl Admin {
    /// Listen on `addr` and answer with what `source` reports.
    pub fn start(addr: SocketAddr, source: Source) -> Result<Admin> {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mmsc-admin".into())
            .spawn(move || {
                while !stop2.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = serve_conn(s, &source);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })?;
        Ok(Admin {
            stop,
            thread: Some(thread),
            local_addr,
        })
    }

    /// Stop and wait.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_conn(mut s: TcpStream, source: &Source) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(CONN_TIMEOUT))?;
    s.set_write_timeout(Some(CONN_TIMEOUT))?;
    let started = Instant::now();
    let limits = HttpLimits {
        max_head_bytes: 8 * 1024,
        max_headers: 64,
        max_body_bytes: 0,
        idle_timeout_ms: CONN_TIMEOUT.as_millis() as u64,
        request_timeout_ms: CONN_TIMEOUT.as_millis() as u64,
    };
    let mut conn = ServerConn::new(limits, 0);
    loop {
        let now = started.elapsed().as_millis() as u64;
        match conn.poll() {
            Ok(Some(Event::Request(req))) => {
                let (status, ctype, body) = answer(req.method(), req.path(), source);
                let mut out = Vec::with_capacity(body.len() + 128);
                http::write_head(
                    &mut out,
                    status,
                    &[("Content-Type", ctype)],
                    body.len(),
                    false,
                );
                out.extend_from_slice(body.as_bytes());
                return s.write_all(&out);
            }
            Ok(Some(Event::Continue)) => continue,
            Ok(None) => {}
            Err(e) => {
                let status = e.status();
                let mut out = Vec::new();
                http::write_head(&mut out, status, &[], 0, false);
                return s.write_all(&out);
            }
        }
        if started.elapsed() > CONN_TIMEOUT {
            return Ok(());
        }
        let buf = conn.spare(1024);
        let n = s.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.filled(n, now);
    }
}

fn answer(method: &str, path: &str, source: &Source) -> (u16, &'static str, String) {
    if method != "GET" && method != "HEAD" {
        return (405, "text/plain", "GET only\n".into());
    }
    match path {
        "/status" => {
            let j = to_json(&source());
            (
                200,
                "application/json",
                serde_json::to_string_pretty(&j).unwrap_or_default() + "\n",
            )
        }
        "/metrics" => (200, "text/plain; version=0.0.4", to_prometheus(&source())),
        _ => (404, "text/plain", "try /status or /metrics\n".into()),
    }
}

/// The JSON form: names nest on their dots; a labelled metric becomes an object keyed by its
/// label values (`{"core": {"0": 12, "1": 9}}`).
pub fn to_json(metrics: &[Metric]) -> Json {
    let mut root = Map::new();
    for m in metrics {
        let mut path: Vec<String> = m.name.split('.').map(str::to_owned).collect();
        for (_, v) in &m.labels {
            path.push(v.clone());
        }
        insert(&mut root, &path, m.value);
    }
    Json::Object(root)
}

fn insert(map: &mut Map<String, Json>, path: &[String], value: u64) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), Json::from(value));
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            if let Json::Object(m) = entry {
                insert(m, rest, value);
            }
        }
    }
}

/// The Prometheus text exposition format.
pub fn to_prometheus(metrics: &[Metric]) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for m in metrics {
        let name = format!("mmsc_{}", m.name.replace(['.', '-'], "_"));
        if name != last {
            out.push_str(&format!("# HELP {name} {}\n", m.help));
            out.push_str(&format!(
                "# TYPE {name} {}\n",
                if m.counter { "counter" } else { "gauge" }
            ));
            last.clone_from(&name);
        }
        out.push_str(&name);
        if !m.labels.is_empty() {
            let labels: Vec<String> = m
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            out.push('{');
            out.push_str(&labels.join(","));
            out.push('}');
        }
        out.push_str(&format!(" {}\n", m.value));
    }
    out
}

/// `mmsc status`: ask a running `mmsc serve` at `addr` for `/status` and return the body.
pub fn fetch_status(addr: SocketAddr) -> Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, CONN_TIMEOUT).with_context(|| {
        format!("cannot reach the admin API of mmsc serve at {addr} (is it running?)")
    })?;
    s.set_read_timeout(Some(CONN_TIMEOUT))?;
    s.write_all(
        format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .with_context(|| format!("reading the answer of {addr}"))?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the admin API sent no complete HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        anyhow::bail!(
            "the admin API at {addr} answered {}",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Metric> {
        vec![
            Metric::counter("mm1.requests", "HTTP requests parsed", 7).label("core", "0"),
            Metric::counter("mm1.requests", "HTTP requests parsed", 5).label("core", "1"),
            Metric::gauge("store.messages", "messages stored", 3),
        ]
    }

    #[test]
    fn json_nests_names_and_labels() {
        let j = to_json(&sample());
        assert_eq!(j["mm1"]["requests"]["0"], 7);
        assert_eq!(j["mm1"]["requests"]["1"], 5);
        assert_eq!(j["store"]["messages"], 3);
    }

    #[test]
    fn prometheus_text() {
        let t = to_prometheus(&sample());
        assert_eq!(
            t,
            "# HELP mmsc_mm1_requests HTTP requests parsed\n\
             # TYPE mmsc_mm1_requests counter\n\
             mmsc_mm1_requests{core=\"0\"} 7\n\
             mmsc_mm1_requests{core=\"1\"} 5\n\
             # HELP mmsc_store_messages messages stored\n\
             # TYPE mmsc_store_messages gauge\n\
             mmsc_store_messages 3\n"
        );
    }

    #[test]
    fn serves_status_metrics_and_404() {
        let src: Source = Arc::new(sample);
        let admin = Admin::start("127.0.0.1:0".parse().unwrap(), src).unwrap();
        let body = fetch_status(admin.local_addr).unwrap();
        let j: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(j["mm1"]["requests"]["1"], 5);
        let get = |path: &str| {
            let mut s = TcpStream::connect(admin.local_addr).unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            r
        };
        let m = get("/metrics");
        assert!(m.starts_with("HTTP/1.1 200"), "{m}");
        assert!(m.contains("mmsc_store_messages 3\n"), "{m}");
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
        let mut s = TcpStream::connect(admin.local_addr).unwrap();
        s.write_all(b"garbage\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
        admin.stop();
    }
}
