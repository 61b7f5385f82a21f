//! The real `mmsc` binary, run by a test: [`Mmsc::start`] writes a configuration into a fresh
//! temporary directory (a free loopback port, the store in that directory), starts
//! `mmsc serve --config FILE` and waits, bounded, until the port accepts connections. The
//! process is killed when the [`Mmsc`] is dropped; [`Mmsc::kill9`], [`Mmsc::stop`] (SIGTERM,
//! with the counters mmsc prints) and [`Mmsc::restart`] (same port, same store) are there for
//! crash and recovery tests.
//!
//! [`Mmsc::start_in_netns`] runs it inside a network namespace (`ip netns exec NS mmsc
//! serve`) on an address of that namespace; it is ready when it prints its start-up line,
//! and [`Mmsc::status`] asks its admin API from inside the namespace too.
//!
//! The binary: `$MMSC_BIN`, else `<workspace>/target/debug/mmsc` (`scripts/test` builds the
//! workspace before testing; by hand: `cargo build -p mmsc`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmsc_wire::{Limits, Pdu};

use crate::TempDir;
use crate::http::HttpConn;

/// How long start-up may take.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a graceful stop may take.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `mmsc notifications` run may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// The `mmsc` binary to test: `$MMSC_BIN`, else `<workspace>/target/debug/mmsc`. Panics when
/// it does not exist.
pub fn mmsc_bin() -> PathBuf {
    let p = match std::env::var_os("MMSC_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::workspace_dir().join("target/debug/mmsc"),
    };
    assert!(
        p.is_file(),
        "{} does not exist: run `cargo build -p mmsc` first (or set MMSC_BIN)",
        p.display()
    );
    p
}

/// Ports handed out by [`free_port`]: below the kernel's ephemeral range (32768-60999 by
/// default), so that the source port of some other test's outgoing connection cannot take a
/// port between the moment it is found free and the moment mmsc binds it.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A free TCP port on 127.0.0.1, outside the ephemeral range: tried in a sequence of its own
/// per process (from the pid and a counter), the first one that binds. Another test process
/// can still take it before mmsc binds it; [`Mmsc::start`] then tries again on other ports.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // An odd stride visits every port of the span once.
        let port = TEST_PORTS.start + ((seed.wrapping_add(n.wrapping_mul(7919))) % span) as u16;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Configuration keys for a test server, by section; [`Mmsc::start`] adds `mm1.listen`,
/// `mm1.public_url` and `store.path` (unless set here).
#[derive(Clone, Debug, Default)]
pub struct Config {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Config {
    /// Push mode "log", everything else at mmsc's defaults.
    pub fn new() -> Config {
        Config::default().set_str("push", "mode", "log")
    }

    /// Set `section.key` to a raw TOML value (`2`, `["127.0.0.2/32"]`, `"x"`).
    pub fn set(mut self, section: &str, key: &str, raw: impl Into<String>) -> Config {
        self.sections
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), raw.into());
        self
    }

    /// Set `section.key` to a string.
    pub fn set_str(self, section: &str, key: &str, value: &str) -> Config {
        self.set(section, key, toml_str(value))
    }

    /// Push by PAP to `url`.
    pub fn pap(self, url: &str) -> Config {
        self.set_str("push", "mode", "pap")
            .set_str("push", "pap_url", url)
    }

    /// Push through an SMS gateway's sendsms `url`.
    pub fn sendsms(self, url: &str) -> Config {
        self.set_str("push", "mode", "sendsms")
            .set_str("push", "sendsms_url", url)
    }

    fn get(&self, section: &str, key: &str) -> Option<&String> {
        self.sections.get(section)?.get(key)
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# written by mmsc-tests\n");
        for (section, keys) in &self.sections {
            out.push_str(&format!("\n[{section}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }
}

/// The counters `mmsc serve` prints when it stops gracefully.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopStats {
    /// Messages accepted (m-send-conf Ok) by this run.
    pub accepted: u64,
    /// Messages refused by this run.
    pub refused: u64,
    /// Retrievals served by this run.
    pub retrieved: u64,
    /// Pushes delivered by this run.
    pub pushed: u64,
    /// Messages in the store at the stop.
    pub stored: u64,
}

/// One push that mode "log" recorded (`mmsc notifications --json`).
#[derive(Clone, Debug)]
pub struct LoggedPush {
    /// When (seconds since the epoch).
    pub at: u64,
    /// The MSISDN pushed to.
    pub to: String,
    /// The pushed MMS PDU.
    pub pdu: Vec<u8>,
    /// mmsc's JSON summary of it.
    pub summary: serde_json::Value,
}

impl LoggedPush {
    /// The pushed PDU, decoded.
    pub fn decode(&self) -> Pdu<'static> {
        Pdu::decode(&self.pdu, &Limits::default())
            .unwrap_or_else(|e| panic!("logged push to {} does not decode: {e}", self.to))
            .into_owned()
    }

    /// Its X-Mms-Content-Location (for an m-notification-ind).
    pub fn content_location(&self) -> Option<String> {
        self.decode()
            .content_location()
            .map(|c| String::from_utf8_lossy(c).into_owned())
    }
}

/// Decode standard base64 (with or without padding); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Run `cmd` and wait at most `timeout`; returns (success, stdout, stderr).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> (bool, Vec<u8>, String) {
    let dir = TempDir::new("mmsc-tests-run");
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_p).expect("create stdout file"))
        .stderr(std::fs::File::create(&err_p).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = std::fs::read(&out_p).unwrap_or_default();
    let mut err = String::from_utf8_lossy(&std::fs::read(&err_p).unwrap_or_default()).into_owned();
    if status.is_none() {
        err.push_str(&format!("\n(killed after {timeout:?})"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

/// A running (or stopped) `mmsc serve`.
#[derive(Debug)]
pub struct Mmsc {
    bin: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    store_path: PathBuf,
    addr: SocketAddr,
    path: String,
    child: Option<Child>,
    starts: u32,
    /// The network namespace it runs in, if not this process's.
    netns: Option<String>,
    // Last: removed (or kept on panic) after the process is gone.
    dir: TempDir,
}

impl Mmsc {
    /// Start mmsc with `config` (plus a free port and a store in a new temporary directory) and
    /// wait until it accepts connections. Panics (with its log) when it does not within
    /// [`START_TIMEOUT`].
    pub fn start(config: Config) -> Mmsc {
        // The ports are found free, then bound by mmsc: another process can take one in
        // between. Then mmsc says so and exits, and we try other ports (when we chose them).
        let ours = config.get("mm1", "listen").is_none() && config.get("admin", "listen").is_none();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            let mut m = Mmsc::prepare(config.clone(), addr, None);
            match m.try_spawn() {
                Ok(()) => return m,
                Err(log) if ours && attempt < 5 && log.contains("Address already in use") => {
                    eprintln!("mmsc-tests: a port was taken before mmsc bound it; again: {log}");
                }
                Err(log) => panic!("{log}"),
            }
        }
    }

    /// Start mmsc in network namespace `netns` (with `ip netns exec`), MM1 on `listen` (an
    /// address of that namespace), and wait until it prints its start-up line. Panics (with
    /// its log) when it exits first or does not start within [`START_TIMEOUT`].
    pub fn start_in_netns(config: Config, netns: &str, listen: SocketAddr) -> Mmsc {
        Mmsc::start_at(config, listen, Some(netns.to_owned()))
    }

    fn start_at(config: Config, addr: SocketAddr, netns: Option<String>) -> Mmsc {
        let mut m = Mmsc::prepare(config, addr, netns);
        m.spawn();
        m
    }

    /// The configuration written into a new temporary directory; not started.
    fn prepare(config: Config, addr: SocketAddr, netns: Option<String>) -> Mmsc {
        let bin = mmsc_bin();
        let dir = TempDir::new("mmsc-tests-server");
        let mut config = config;
        if config.get("mm1", "listen").is_none() {
            config = config.set_str("mm1", "listen", &addr.to_string());
        }
        if config.get("mm1", "public_url").is_none() {
            config = config.set_str("mm1", "public_url", &format!("http://{addr}/mms"));
        }
        if config.get("admin", "listen").is_none() {
            let admin = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            config = config.set_str("admin", "listen", &admin.to_string());
        }
        let store_path = dir.path().join("store");
        if config.get("store", "path").is_none() {
            config = config.set_str("store", "path", &store_path.to_string_lossy());
        }
        let config_path = dir.path().join("mmsc.toml");
        std::fs::write(&config_path, config.to_toml()).expect("write the configuration");
        Mmsc {
            bin,
            config_path,
            log_path: dir.path().join("mmsc.log"),
            store_path,
            addr,
            path: "/mms".to_owned(),
            child: None,
            starts: 0,
            netns,
            dir,
        }
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!("{e}");
        }
    }

    /// Start the process and wait until it serves; what went wrong, with its log, if not.
    fn try_spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "mmsc is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open mmsc.log");
        self.starts += 1;
        let _ = writeln!(&log, "--- mmsc-tests: start #{} ---", self.starts);
        let err = log.try_clone().expect("clone the log file");
        let log_before = self.log().len();
        let child = self
            .command()
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Its start-up line comes once everything listens: MM1 accepts a little earlier,
            // while the admin API may still be starting (a test that asked for its status
            // right after a first MM1 connect was refused now and then). In a namespace MM1
            // is not reachable from here: the line alone says it serves.
            let started = self
                .log()
                .get(log_before..)
                .is_some_and(|l| l.lines().any(|l| l.starts_with("mmsc: serving MM1 ")));
            let ready = started
                && (self.netns.is_some()
                    || TcpStream::connect_timeout(&self.addr, Duration::from_millis(500)).is_ok());
            if ready {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "mmsc exited ({status}) during start-up:\n{}",
                    self.log()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "mmsc did not accept connections on {} within {START_TIMEOUT:?}:\n{}",
                    self.addr,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A command running the `mmsc` binary where the server runs (under `ip netns exec`
    /// for a server in a namespace).
    pub fn command(&self) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        }
    }

    /// What `mmsc status` prints (the admin API's `/status`), parsed. Panics when it fails.
    pub fn status(&self) -> serde_json::Value {
        let (ok, out, err) = run_bounded(
            self.command()
                .arg("status")
                .arg("--config")
                .arg(&self.config_path)
                .current_dir(self.dir.path()),
            TOOL_TIMEOUT,
        );
        assert!(ok, "mmsc status failed: {err}\n{}", self.log());
        serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!(
                "mmsc status printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            )
        })
    }

    /// The MM1 listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The MM1 path ("/mms").
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The public URL (POST target, base of Content-Locations).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// The temporary directory (configuration, log, store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store directory.
    pub fn store_path(&self) -> &Path {
        &self.store_path
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// A new connection to MM1.
    pub fn connect(&self) -> HttpConn {
        HttpConn::connect(self.addr)
            .unwrap_or_else(|e| panic!("connect to mmsc at {}: {e}\n{}", self.addr, self.log()))
    }

    /// Everything mmsc printed (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Its process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL (`kill -9`) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // std's Child::kill sends SIGKILL on Unix.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait (at most [`STOP_TIMEOUT`], then SIGKILL and panic) and return the
    /// counters it printed. Panics when it was not running or printed none.
    pub fn stop(&mut self) -> StopStats {
        let mut c = self.child.take().expect("mmsc is not running");
        let pid = c.id().to_string();
        let (ok, _, err) = run_bounded(
            Command::new("kill").args(["-TERM", &pid]),
            Duration::from_secs(5),
        );
        assert!(ok, "kill -TERM {pid}: {err}");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Ok(Some(s)) = c.try_wait() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "mmsc did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "mmsc exited with {status}:\n{}",
            self.log()
        );
        let log = self.log();
        let last = log
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("mmsc: stopped ("))
            .unwrap_or_else(|| panic!("no `mmsc: stopped (...)` line:\n{log}"));
        let mut s = StopStats::default();
        for item in last.trim_end_matches(')').split(", ") {
            let (n, what) = item.split_once(' ').unwrap_or(("", ""));
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("counter {item:?}"));
            match what {
                "accepted" => s.accepted = n,
                "refused" => s.refused = n,
                "retrieved" => s.retrieved = n,
                "pushed" => s.pushed = n,
                "stored" => s.stored = n,
                _ => {}
            }
        }
        s
    }

    /// Start again on the same port, configuration and store (after [`Mmsc::kill9`] or
    /// [`Mmsc::stop`]; a running process is killed with SIGKILL first).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The number of store records the latest start recovered (from its start-up line).
    pub fn recovered_records(&self) -> u64 {
        let log = self.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.starts_with("mmsc: serving MM1"))
            .unwrap_or_else(|| panic!("no start-up line in the log:\n{log}"));
        line.rsplit_once(" records recovered")
            .and_then(|(a, _)| a.rsplit_once('(').map(|(_, n)| n.to_owned()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no record count in {line:?}"))
    }

    /// What `mmsc notifications --json` lists (push mode "log").
    pub fn notifications(&self) -> Vec<LoggedPush> {
        let (ok, out, err) = run_bounded(
            Command::new(&self.bin)
                .arg("notifications")
                .arg("--config")
                .arg(&self.config_path)
                .arg("--json")
                .current_dir(self.dir.path()),
            TOOL_TIMEOUT,
        );
        assert!(ok, "mmsc notifications failed: {err}");
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("mmsc notifications line {l:?}: {e}"));
                LoggedPush {
                    at: v["at"].as_u64().unwrap_or(0),
                    to: v["to"].as_str().unwrap_or_default().to_owned(),
                    pdu: v["pdu_base64"]
                        .as_str()
                        .and_then(base64_decode)
                        .unwrap_or_else(|| panic!("no pdu_base64 in {l}")),
                    summary: v["summary"].clone(),
                }
            })
            .collect()
    }

    /// Wait (at most `timeout`) until `mmsc notifications` lists at least `count` pushes, and
    /// return them all. Panics on timeout.
    pub fn wait_notifications(&self, count: usize, timeout: Duration) -> Vec<LoggedPush> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.notifications();
            if n.len() >= count {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} pushes logged within {timeout:?}:\n{n:#?}\n{}",
                n.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Mmsc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Whether it was still running tells a refused connection from a dead server.
            let state = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => "still running".to_owned(),
                Some(Ok(Some(status))) => format!("exited: {status}"),
                Some(Err(e)) => format!("state unknown: {e}"),
                None => "not running".to_owned(),
            };
            eprintln!(
                "mmsc in {} (config {}), {state}; its log:\n{}",
                self.dir.path().display(),
                self.config_path.display(),
                self.log()
            );
        }
        self.kill9();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGVsbG8gd29ybGQ").unwrap(), b"hello world");
        assert_eq!(base64_decode("/+8=").unwrap(), [0xFF, 0xEF]);
        assert_eq!(base64_decode("a b"), None);
    }

    #[test]
    fn config_toml() {
        let c = Config::new()
            .set("mm1", "request_timeout_secs", "2")
            .set_str("push", "pap_url", "http://x/\"y\"");
        let t = c.to_toml();
        assert!(t.contains("[mm1]\nrequest_timeout_secs = 2\n"), "{t}");
        assert!(t.contains("pap_url = \"http://x/\\\"y\\\"\""), "{t}");
        assert!(t.contains("mode = \"log\""), "{t}");
    }
}
