//! Child processes killed on drop, a temporary directory removed on drop, free loopback ports,
//! and what `/proc` tells about a process and the machine.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// A child process, killed (SIGKILL) and reaped when dropped unless it was stopped before.
#[derive(Debug)]
pub struct Guard {
    /// What it is, for messages.
    pub name: String,
    child: Option<Child>,
}

impl Guard {
    /// Start `cmd`.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Guard, String> {
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(Guard {
            name: name.to_string(),
            child: Some(child),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Send `signal` (a name such as "TERM" or "INT") with kill(1).
    pub fn signal(&self, signal: &str) -> Result<(), String> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "kill -{signal} {} ({}) failed",
                self.pid(),
                self.name
            ))
        }
    }

    /// Wait up to `limit` for it to exit; kill it after that. The exit status, or None when it
    /// had to be killed.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Some(s) = self.exited() {
                self.child = None;
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        None
    }

    /// Wait up to `limit` for the exit (killing it after that) and read what it wrote to its
    /// piped stdout and stderr. For short outputs only: the child must not block on a full
    /// pipe before it exits.
    pub fn wait_for_output(
        &mut self,
        limit: Duration,
    ) -> Result<(ExitStatus, String, String), String> {
        let until = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.exited() {
                break s;
            }
            if Instant::now() >= until {
                self.kill();
                return Err(format!("{} did not finish within {limit:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut child = self.child.take().ok_or("no child")?;
        let read = |r: Option<&mut dyn Read>| {
            let mut s = String::new();
            if let Some(r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        };
        let out = read(child.stdout.as_mut().map(|r| r as &mut dyn Read));
        let err = read(child.stderr.as_mut().map(|r| r as &mut dyn Read));
        Ok((status, out, err))
    }

    /// Send `signal` and wait up to `limit` for the exit.
    pub fn stop(&mut self, signal: &str, limit: Duration) -> Option<ExitStatus> {
        if self.exited().is_none() {
            let _ = self.signal(signal);
        }
        self.wait_for(limit)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A directory removed with its contents when dropped (unless `keep`).
#[derive(Debug)]
pub struct TempDir {
    /// Its path.
    pub path: PathBuf,
    /// Leave it in place.
    pub keep: bool,
}

impl TempDir {
    /// A new directory `<parent>/mm1-bench.<pid>` (emptied first if it exists).
    pub fn new(parent: &Path) -> Result<TempDir, String> {
        let path = parent.join(format!("mm1-bench.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// Wait up to `limit` until `addr` accepts connections, while `child` lives.
pub fn wait_listening(addr: SocketAddr, child: &mut Guard, limit: Duration) -> Result<(), String> {
    let until = Instant::now() + limit;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(s) = child.exited() {
            return Err(format!("{} exited at start ({s})", child.name));
        }
        if Instant::now() >= until {
            return Err(format!(
                "{} does not listen on {addr} after {limit:?}",
                child.name
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident size so far.
    pub hwm_kib: u64,
    /// RssAnon: resident anonymous memory (heap, stacks).
    pub anon_kib: u64,
    /// RssFile: resident file-backed pages mapped (the binary, the store's segment maps).
    pub file_kib: u64,
}

/// The memory of `pid`, if it is alive.
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:").unwrap_or(0),
        file_kib: field("RssFile:").unwrap_or(0),
    })
}

/// User + system CPU time used by `pid` so far (all its threads), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux for every architecture this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// The load averages, as /proc/loadavg prints them ("0.52 0.61 0.70").
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Whether `program` can be run from PATH (or is a path to an executable file).
pub fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// `program` if on PATH, else the first of `also` that exists (Debian puts nginx in /usr/sbin,
/// which is not on every user's PATH).
pub fn find_program(program: &str, also: &[&str]) -> Option<PathBuf> {
    if on_path(program) {
        return Some(PathBuf::from(program));
    }
    also.iter().map(PathBuf::from).find(|p| p.is_file())
}
