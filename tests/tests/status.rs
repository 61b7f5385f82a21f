//! The admin API of a running `mmsc serve`: `mmsc status` (JSON) and `GET /metrics`
//! (Prometheus text) show the counters of the traffic a handset sent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use mmsc_tests::mm1::{self, Handset};
use mmsc_tests::server::{Config, Mmsc, mmsc_bin};

const A: &str = "+358401600001";
const B: &str = "+358401600002";

fn status(mmsc: &Mmsc) -> serde_json::Value {
    let out = Command::new(mmsc_bin())
        .args(["status", "--config"])
        .arg(mmsc.config_path())
        .output()
        .expect("run mmsc status");
    assert!(
        out.status.success(),
        "mmsc status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("mmsc status prints JSON")
}

/// `admin.listen` of the configuration the harness wrote.
fn admin_addr(mmsc: &Mmsc) -> SocketAddr {
    let text = std::fs::read_to_string(mmsc.config_path()).expect("config");
    let admin = text.split("[admin]").nth(1).expect("an [admin] section");
    let line = admin
        .lines()
        .find(|l| l.trim_start().starts_with("listen"))
        .expect("admin.listen");
    line.split('"')
        .nth(1)
        .expect("a quoted address")
        .parse()
        .expect("an address")
}

#[test]
fn status_and_metrics_count_the_traffic() {
    let mmsc = Mmsc::start(Config::new());
    let before = status(&mmsc);
    assert_eq!(before["messages"]["accepted"], 0, "{before:#}");
    let mut a = Handset::new(&mmsc, A);
    for i in 0..3 {
        let tid = format!("st-{i}");
        let req = mm1::send_req(&tid, &[B], "s", false, mm1::sample_parts("t", 500, i));
        a.submit_ok(&req);
    }
    // The control plane publishes its counters after each loop round: wait for them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = status(&mmsc);
        if s["push"]["delivered"] == 3 || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(after["messages"]["accepted"], 3, "{after:#}");
    assert_eq!(after["messages"]["stored"], 3, "{after:#}");
    assert_eq!(after["push"]["delivered"], 3, "{after:#}");
    assert_eq!(after["mm1"]["requests"]["0"], 3, "{after:#}");
    assert!(
        after["store"]["records"].as_u64().unwrap() >= 3,
        "{after:#}"
    );
    assert!(
        after["store"]["fdatasync"].as_u64().unwrap() >= 1,
        "{after:#}"
    );
    assert_eq!(after["store"]["failed"], 0, "{after:#}");

    let mut s = TcpStream::connect(admin_addr(&mmsc)).expect("connect to the admin API");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\nmmsc_messages_accepted 3\n"), "{text}");
    assert!(
        text.contains("\nmmsc_mm1_requests{core=\"0\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE mmsc_messages_stored gauge\n"),
        "{text}"
    );
}

#[test]
fn status_names_the_problem_when_no_server_runs() {
    let dir = std::env::temp_dir().join(format!("mmsc-status-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("mmsc.toml");
    let port = mmsc_tests::server::free_port();
    std::fs::write(&cfg, format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let out = Command::new(mmsc_bin())
        .args(["status", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the admin API"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `THP_enabled` of a process's `/proc/PID/status` (0 once it turned them off for itself).
fn thp_enabled(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim().to_owned())
}

/// By default the server turns transparent huge pages off for itself
/// (`[mmsc] transparent_hugepages = false`); set true, it leaves the system's setting alone.
#[test]
fn transparent_huge_pages_are_off_unless_configured() {
    if std::fs::read_to_string("/proc/self/status").map_or(true, |s| !s.contains("THP_enabled:")) {
        eprintln!("skipped: this kernel's /proc/PID/status has no THP_enabled line");
        return;
    }
    let off = Mmsc::start(Config::new());
    assert_eq!(
        thp_enabled(off.pid().expect("running")).as_deref(),
        Some("0"),
        "default configuration"
    );
    drop(off);
    let on = Mmsc::start(Config::new().set("mmsc", "transparent_hugepages", "true"));
    // What a process inherits from its parent: this test runner's own value.
    let inherited = thp_enabled(std::process::id());
    assert_eq!(
        thp_enabled(on.pid().expect("running")),
        inherited,
        "transparent_hugepages = true"
    );
}
