//! Counting a process's syscalls with `perf stat` on the syscall tracepoints (cheap: a counter
//! in the kernel, no ptrace stop). Optional: without perf (Debian `linux-perf`) or without
//! access to the tracepoints, the counts are simply not shown.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::procs::{Guard, find_program};

/// Every system call.
pub const SYSCALLS: &str = "raw_syscalls:sys_enter";
/// Context switches (software event).
pub const SWITCHES: &str = "context-switches";
/// fdatasync calls.
pub const FDATASYNC: &str = "syscalls:sys_enter_fdatasync";
/// pwrite64 calls.
pub const PWRITE: &str = "syscalls:sys_enter_pwrite64";

/// A running `perf stat -p PID`.
#[derive(Debug)]
pub struct Counter {
    guard: Guard,
    out: PathBuf,
    events: Vec<&'static str>,
}

/// Start counting `events` of `pid` (all its threads); None when perf is missing or cannot
/// attach.
pub fn start(pid: u32, events: &[&'static str], dir: &Path) -> Option<Counter> {
    let perf = find_program("perf", &["/usr/bin/perf"])?;
    let out = dir.join(format!("perf-stat.{pid}.csv"));
    let mut guard = Guard::spawn(
        "perf stat",
        Command::new(perf)
            .args(["stat", "-x", ","])
            .arg("-e")
            .arg(events.join(","))
            .arg("-o")
            .arg(&out)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .ok()?;
    // It attaches within a few ms; an early exit means it cannot (no tracefs, no permission).
    std::thread::sleep(Duration::from_millis(300));
    if guard.exited().is_some() {
        return None;
    }
    Some(Counter {
        guard,
        out,
        events: events.to_vec(),
    })
}

impl Counter {
    /// Stop and read the counts, by event name.
    pub fn finish(mut self) -> Option<Counts> {
        self.guard.stop("INT", Duration::from_secs(10))?;
        let text = std::fs::read_to_string(&self.out).ok()?;
        let _ = std::fs::remove_file(&self.out);
        let counts = self
            .events
            .iter()
            .map(|ev| {
                // CSV: value,unit,event,...
                text.lines().find_map(|l| {
                    let mut f = l.split(',');
                    let v = f.next()?;
                    let _unit = f.next()?;
                    (f.next()? == *ev).then(|| v.trim().parse().ok())?
                })
            })
            .collect::<Option<Vec<u64>>>()?;
        Some(Counts(self.events.iter().copied().zip(counts).collect()))
    }
}

/// Counts by event name.
#[derive(Clone, Debug, Default)]
pub struct Counts(Vec<(&'static str, u64)>);

impl Counts {
    /// The count of `event`, if it was counted.
    pub fn get(&self, event: &str) -> Option<u64> {
        self.0.iter().find(|(e, _)| *e == event).map(|(_, n)| *n)
    }
}
