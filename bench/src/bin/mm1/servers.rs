//! The two servers under load: `mmsc serve` with a temporary configuration and store, and
//! nginx (one process, `return 204`) as the reference HTTP sink.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::message::parse_log_line;
use crate::procs::{Guard, wait_listening};

/// `[store] window_mb` of the mmsc under test (its default): MiB of recent records the store
/// keeps in memory (with direct I/O, its own buffers: anonymous memory of this fixed size).
pub const WINDOW_MB: u64 = 256;

/// A running `mmsc serve`.
#[derive(Debug)]
pub struct Mmsc {
    /// The process.
    pub guard: Guard,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The path handsets POST to (`/mms`).
    pub path: String,
    /// Its notification log (push mode "log").
    pub log: PathBuf,
    /// Its store directory.
    pub store: PathBuf,
    stderr: PathBuf,
}

/// The counters `mmsc serve` prints when it stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct StopLine {
    /// Messages accepted (m-send-conf Ok).
    pub accepted: u64,
    /// Submits refused (m-send-conf with an error status).
    pub refused: u64,
    /// Retrievals served.
    pub retrieved: u64,
    /// Pushes sent.
    pub pushed: u64,
    /// Messages in the store.
    pub stored: u64,
}

impl Mmsc {
    /// Start `exe serve` on `port` with its store, configuration and output in `dir`.
    /// `expiry_secs`: the default (and longest) message expiry, when not the built-in one.
    pub fn start(
        exe: &Path,
        dir: &Path,
        port: u16,
        expiry_secs: Option<u64>,
        store_io: Option<&str>,
        zero_fill: bool,
    ) -> Result<Mmsc, String> {
        let store = dir.join("store");
        let config = dir.join("mmsc.toml");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut text = format!(
            "# written by mmsc-bench mm1\n\
             [mm1]\nlisten = \"{addr}\"\npublic_url = \"http://{addr}/mms\"\n"
        );
        if let Some(e) = expiry_secs {
            text.push_str(&format!(
                "default_expiry_secs = {e}\nmax_expiry_secs = {e}\n"
            ));
        }
        text.push_str(&format!(
            "[subscribers]\nlocal_prefixes = [\"+35840\"]\n\
             [store]\npath = \"{}\"\nwindow_mb = {WINDOW_MB}\n{}{}\
             [push]\nmode = \"log\"\n\
             [dataplane]\nbackend = \"kernel\"\ncores = []\n\
             [admin]\nlisten = \"\"\n",
            store.display(),
            store_io.map_or(String::new(), |m| format!("io = \"{m}\"\n")),
            if zero_fill { "zero_fill = true\n" } else { "" }
        ));
        std::fs::write(&config, text)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let stderr = dir.join("mmsc.stderr");
        let err_file = File::create(&stderr).map_err(|e| e.to_string())?;
        let mut guard = Guard::spawn(
            "mmsc",
            Command::new(exe)
                .arg("serve")
                .arg("--config")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err_file),
        )?;
        if let Err(e) = wait_listening(addr, &mut guard, Duration::from_secs(20)) {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            return Err(format!("{e}\nmmsc's stderr:\n{text}"));
        }
        Ok(Mmsc {
            guard,
            addr,
            path: "/mms".into(),
            log: store.join("notifications.log"),
            store,
            stderr,
        })
    }

    /// The store's write mode as its start-up line says ("direct" or "buffered").
    pub fn store_io(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.stderr).ok()?;
        let line = text.lines().find(|l| l.starts_with("mmsc: serving MM1"))?;
        let (before, _) = line.split_once(" I/O)")?;
        Some(before.rsplit(' ').next()?.to_string())
    }

    /// The URL wrk posts to.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Notifications (m-notification-ind) in the log, and log lines that did not parse.
    pub fn notifications(&self) -> (u64, u64) {
        count_notifications(&self.log)
    }

    /// Lines in the notification log (one per push).
    pub fn log_lines(&self) -> u64 {
        std::fs::read(&self.log)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
            .unwrap_or(0)
    }

    /// Wait (up to `limit`) until the notification log stops growing for 500 ms (the pushes
    /// of the last accepted messages are written after their m-send-conf); then count the
    /// notifications in it.
    pub fn settle_notifications(&self, limit: Duration) -> (u64, u64) {
        let until = Instant::now() + limit;
        let mut last = self.log_lines();
        let mut since = Instant::now();
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.log_lines();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= Duration::from_millis(500) {
                break;
            }
        }
        self.notifications()
    }

    /// Octets in the store's segment files (allocated size on disk, in KiB, from du).
    pub fn store_kib(&self) -> Option<u64> {
        let out = Command::new("du")
            .arg("-sk")
            .arg(&self.store)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// SIGTERM, wait for the exit, and read the counters of its stop line.
    pub fn stop(mut self) -> Result<StopLine, String> {
        let status = self.guard.stop("TERM", Duration::from_secs(60));
        let text = self.stderr();
        let Some(status) = status else {
            return Err(format!("mmsc did not stop within 60 s of SIGTERM\n{text}"));
        };
        if !status.success() {
            return Err(format!("mmsc exited with {status}\n{text}"));
        }
        parse_stop_line(&text).ok_or_else(|| format!("no stop line in mmsc's stderr:\n{text}"))
    }
}

/// Notifications (m-notification-ind) in the log file `log`, and lines that did not parse.
pub fn count_notifications(log: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut n = 0;
    let mut bad = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_log_line(line) {
            Ok(Some(_)) => n += 1,
            Ok(None) => {}
            Err(_) => bad += 1,
        }
    }
    (n, bad)
}

/// "mmsc: stopped (3 accepted, 0 refused, 1 retrieved, 4 pushed, 3 stored)".
pub fn parse_stop_line(stderr: &str) -> Option<StopLine> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("mmsc: stopped ("))?;
    let inner = line.split_once('(')?.1.trim_end_matches(')');
    let mut s = StopLine::default();
    for item in inner.split(',') {
        let (n, what) = item.trim().split_once(' ')?;
        let n: u64 = n.parse().ok()?;
        match what {
            "accepted" => s.accepted = n,
            "refused" => s.refused = n,
            "retrieved" => s.retrieved = n,
            "pushed" => s.pushed = n,
            "stored" => s.stored = n,
            _ => {}
        }
    }
    Some(s)
}

/// A running nginx: one process (`master_process off`, so that killing it leaves no worker
/// behind), `return 204` at /mms.
#[derive(Debug)]
pub struct Nginx {
    /// The process.
    pub guard: Guard,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Nginx {
    /// Start `exe` with a configuration and prefix in `dir`, listening on `port`.
    pub fn start(exe: &Path, dir: &Path, port: u16) -> Result<Nginx, String> {
        let prefix = dir.join("nginx");
        let tmp = prefix.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let p = prefix.display();
        // Every path inside the prefix: nothing under /var is touched.
        let conf = format!(
            "# written by mmsc-bench mm1: nginx as an HTTP POST sink (one worker)
worker_processes 1;
master_process off;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # mmsc never closes a keep-alive connection; nginx's default closes one every 1000
    # requests.
    keepalive_requests 1000000;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    server {{
        listen {addr};
        location /mms {{
            # return runs before any body is read; nginx then reads the whole body off the
            # socket and discards it (1 KB header buffer, then 4 KB reads), so every octet
            # of every request is read. These two only matter to a handler that keeps it.
            client_body_buffer_size 64k;
            client_body_in_single_buffer on;
            return 204;
        }}
    }}
}}
"
        );
        let conf_path = prefix.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let err_file = File::create(prefix.join("stderr")).map_err(|e| e.to_string())?;
        let mut guard = Guard::spawn(
            "nginx",
            Command::new(exe)
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err_file),
        )?;
        if let Err(e) = wait_listening(addr, &mut guard, Duration::from_secs(10)) {
            let text = std::fs::read_to_string(prefix.join("stderr")).unwrap_or_default();
            let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
            return Err(format!("{e}\nnginx's stderr:\n{text}{log}"));
        }
        Ok(Nginx { guard, addr })
    }

    /// The URL wrk posts to.
    pub fn url(&self) -> String {
        format!("http://{}/mms", self.addr)
    }

    /// Stop (SIGQUIT: graceful).
    pub fn stop(mut self) {
        let _ = self.guard.stop("QUIT", Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_line() {
        let s = parse_stop_line(
            "mmsc: serving\nmmsc: stopping\n\
             mmsc: stopped (3 accepted, 1 refused, 2 retrieved, 4 pushed, 3 stored)\n",
        )
        .unwrap();
        assert_eq!(
            (s.accepted, s.refused, s.retrieved, s.pushed, s.stored),
            (3, 1, 2, 4, 3)
        );
        assert!(parse_stop_line("mmsc: stopping\n").is_none());
    }
}
