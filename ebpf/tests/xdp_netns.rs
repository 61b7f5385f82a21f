//! The BPF programs against real traffic.
//!
//! XDP: each test builds its own pair of network namespaces joined by a veth pair
//! (`mmsc-t<pid>-<n>a/b`, `mmx<pid><n>a/b`, 10.203.<n>.0/24 and fd00:203:<n>::/64 inside
//! them only), runs `mmsc-xdp-probe` under `ip netns exec` on side b, and sends from side a:
//! real TCP connections (a thread moved into the namespace with setns) and crafted frames
//! (AF_PACKET, through python3). A guard deletes the namespaces at the end, also on panic.
//!
//! Differential: in a quiet lab (no addresses, IPv6 off), a seeded mix of frames built with
//! `mmsc_classify::build` goes one frame at a time into the veth and into a
//! `mmsc_classify::Classifier`; after every frame all counters of the XDP program must equal
//! the classifier's (the rule set in `mmsc_classify`'s crate docs, implemented twice).
//!
//! SK_REUSEPORT: two SO_REUSEPORT listeners on 127.0.0.1 in one group.
//!
//! They need root; without it they print why and return.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use mmsc_classify::{Class, Listener, Rules};
use mmsc_ebpf::{AttachMode, EbpfError, ReuseportSteering, XdpProgram};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "skipped: this test loads BPF programs and creates network namespaces; \
                 it needs root"
            );
            return;
        }
    };
}

/// Runs a command, panics with its stderr when it fails, returns its stdout.
fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two network namespaces joined by a veth pair; deleted on drop.
struct Lab {
    tag: u8,
    ns_a: String,
    ns_b: String,
    if_a: String,
    if_b: String,
}

impl Lab {
    fn new(tag: u8) -> Lab {
        Lab::create(tag, true)
    }

    /// A lab whose interfaces have no address and IPv6 turned off: no neighbour discovery,
    /// no router solicitation, no ARP; the only frames on the wire are the test's.
    fn quiet(tag: u8) -> Lab {
        Lab::create(tag, false)
    }

    fn create(tag: u8, addresses: bool) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            tag,
            ns_a: format!("mmsc-t{pid}-{tag}a"),
            ns_b: format!("mmsc-t{pid}-{tag}b"),
            if_a: format!("mmx{pid}{tag}a"),
            if_b: format!("mmx{pid}{tag}b"),
        };
        // the guard exists before anything is created: a failure below still cleans up
        sh(&["ip", "netns", "add", &lab.ns_a]);
        sh(&["ip", "netns", "add", &lab.ns_b]);
        let (mac_a, mac_b) = (mac_text(lab.mac_a()), mac_text(lab.mac_b()));
        sh(&[
            "ip", "link", "add", "name", &lab.if_a, "address", &mac_a, "netns", &lab.ns_a, "type",
            "veth", "peer", "name", &lab.if_b, "address", &mac_b, "netns", &lab.ns_b,
        ]);
        for (ns, iface, hosts) in [
            (&lab.ns_a, &lab.if_a, &[1u8, 3][..]),
            (&lab.ns_b, &lab.if_b, &[2u8][..]),
        ] {
            if !addresses {
                for conf in ["all", "default", iface.as_str()] {
                    sh(&[
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{conf}.disable_ipv6=1"),
                    ]);
                }
            }
            for &h in hosts.iter().filter(|_| addresses) {
                sh(&[
                    "ip",
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{}/24", lab.v4(h)),
                    "dev",
                    iface,
                ]);
                sh(&[
                    "ip",
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{}/64", lab.v6(h)),
                    "dev",
                    iface,
                    "nodad",
                ]);
            }
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", iface, "up"]);
        }
        lab
    }

    fn v4(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 203, self.tag, host)
    }

    fn v6(&self, host: u8) -> Ipv6Addr {
        Ipv6Addr::new(
            0xfd00,
            0x203,
            u16::from(self.tag),
            0,
            0,
            0,
            0,
            u16::from(host),
        )
    }

    fn mac_a(&self) -> [u8; 6] {
        [0x02, 0, 0, 0, self.tag, 0x0a]
    }

    fn mac_b(&self) -> [u8; 6] {
        [0x02, 0, 0, 0, self.tag, 0x0b]
    }

    /// `ip -d link show` of side b (shows `xdp`/`xdpgeneric` and `prog/xdp id N`).
    fn link_b(&self) -> String {
        sh(&[
            "ip", "-n", &self.ns_b, "-d", "link", "show", "dev", &self.if_b,
        ])
    }

    /// The kernel's id of side b's XDP program, if any.
    fn xdp_prog_id_b(&self) -> Option<u32> {
        let link = self.link_b();
        let rest = link.split("prog/xdp id ").nth(1)?;
        rest.split_whitespace().next()?.parse().ok()
    }

    /// Sends raw Ethernet frames out of side a.
    fn inject(&self, frames: &[Vec<u8>]) {
        const SCRIPT: &str = "import socket, sys\n\
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
            s.bind((sys.argv[1], 0))\n\
            for h in sys.argv[2:]:\n    s.send(bytes.fromhex(h))\n";
        let hex: Vec<String> = frames
            .iter()
            .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        let mut args = vec![
            "ip", "netns", "exec", &self.ns_a, "python3", "-c", SCRIPT, &self.if_a,
        ];
        args.extend(hex.iter().map(String::as_str));
        sh(&args);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs `f` on a thread moved into network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    let thread = std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    });
    thread
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// What a TCP connection attempt got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// SYN-ACK.
    Connected,
    /// RST.
    Refused,
    /// Nothing within the wait.
    NoAnswer,
}

/// Starts a non-blocking connection from `src` (port chosen by the kernel) to `dst`.
fn start_connect(src: IpAddr, dst: SocketAddr) -> OwnedFd {
    let family = if dst.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::bind(&fd, &SocketAddr::new(src, 0)).expect("bind the source address");
    match rustix::net::connect(&fd, &dst) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
        Err(e) => panic!("connect {src} -> {dst}: {e}"),
    }
    fd
}

/// The outcome of a connection started by [`start_connect`], waiting at most `wait`.
fn outcome(fd: &OwnedFd, wait: Duration) -> Outcome {
    let mut fds = [PollFd::new(fd, PollFlags::OUT)];
    let timeout = Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    let ready = rustix::event::poll(&mut fds, Some(&timeout)).expect("poll");
    if ready == 0 {
        return Outcome::NoAnswer;
    }
    match rustix::net::sockopt::socket_error(fd).expect("SO_ERROR") {
        Ok(()) => Outcome::Connected,
        Err(rustix::io::Errno::CONNREFUSED) => Outcome::Refused,
        Err(e) => panic!("connection failed: {e}"),
    }
}

fn connect_once(src: IpAddr, dst: SocketAddr, wait: Duration) -> Outcome {
    let fd = start_connect(src, dst);
    outcome(&fd, wait)
}

/// The counters as the probe prints them.
#[derive(Clone, Debug, Default)]
struct Seen {
    class: HashMap<String, (u64, u64)>,
    stat: HashMap<String, u64>,
}

impl Seen {
    fn parse(line: &str) -> Seen {
        let mut seen = Seen::default();
        let body = line
            .strip_prefix("counters ")
            .unwrap_or_else(|| panic!("not a counters line: {line:?}"));
        for item in body.split_whitespace() {
            let (key, value) = item.split_once('=').expect("key=value");
            match value.split_once('/') {
                Some((p, b)) => {
                    seen.class
                        .insert(key.to_owned(), (p.parse().unwrap(), b.parse().unwrap()));
                }
                None => {
                    seen.stat.insert(key.to_owned(), value.parse().unwrap());
                }
            }
        }
        seen
    }

    fn packets(&self, class: &str) -> u64 {
        self.class[class].0
    }

    fn bytes(&self, class: &str) -> u64 {
        self.class[class].1
    }

    fn stat(&self, name: &str) -> u64 {
        self.stat[name]
    }
}

const PROBE: &str = env!("CARGO_BIN_EXE_mmsc-xdp-probe");

/// `mmsc-xdp-probe` running in side b of a lab.
struct Probe {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// The `attached ...` line.
    attached: String,
}

impl Probe {
    /// Starts the probe; `Err` carries its error line when it does not attach.
    fn start(lab: &Lab, args: &[&str]) -> Result<Probe, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns_b, PROBE, "--iface", &lab.if_b])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn mmsc-xdp-probe");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut probe = Probe {
            child,
            stdin,
            lines,
            attached: String::new(),
        };
        let first = probe.line();
        if first.starts_with("attached ") {
            probe.attached = first;
            Ok(probe)
        } else {
            Err(first)
        }
    }

    fn line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("mmsc-xdp-probe said nothing for 30 s"),
            Err(RecvTimeoutError::Disconnected) => "(probe exited)".to_owned(),
        }
    }

    fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("probe stdin open");
        writeln!(stdin, "{command}").expect("write to the probe");
        stdin.flush().expect("flush");
        self.line()
    }

    fn counters(&mut self) -> Seen {
        Seen::parse(&self.command("counters"))
    }

    /// Polls the counters until `done` holds (or 5 s pass); returns the last reading.
    fn counters_until(&mut self, done: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = self.counters();
            if done(&seen) || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The value of `key=` in the `attached` line.
    fn attached_field(&self, key: &str) -> String {
        self.attached
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {key}= in {:?}", self.attached))
    }

    /// Closes stdin; returns the lines printed until exit and whether it exited with 0.
    fn finish(mut self) -> (Vec<String>, bool) {
        drop(self.stdin.take());
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        let status = wait_exit(&mut self.child);
        (lines, status.is_some_and(|s| s.success()))
    }

    /// SIGKILL (`ip netns exec` execs the probe: same process).
    fn kill9(mut self) {
        self.child.kill().expect("kill -9 the probe");
        wait_exit(&mut self.child).expect("the probe ends after SIGKILL");
    }
}

fn wait_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Probe {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- crafted frames ----

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

fn tcp(dport: u16, flags: u8, doff: u8) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&40000u16.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&1u32.to_be_bytes());
    h[12] = doff << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&1024u16.to_be_bytes());
    h
}

fn udp(dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0..2].copy_from_slice(&40000u16.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&8u16.to_be_bytes());
    h
}

/// IPv4 header of `ihl` words (options are NOPs) + payload; `frag` is the flags/offset field.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, ihl: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let hlen = usize::from(ihl.max(5)) * 4;
    let mut h = vec![1u8; hlen]; // options: NOP
    h[0] = 0x40 | ihl;
    h[1] = 0;
    h[2..4].copy_from_slice(&((hlen + payload.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&7u16.to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let mut sum = 0u32;
    for pair in h[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// IPv6 header + extension headers (each `(type, body length in 8-octet units - 1)`, the
/// last one's next header being `proto`) + payload.
fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, ext: &[u8], proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, &kind) in ext.iter().enumerate() {
        let next = ext.get(i + 1).copied().unwrap_or(proto);
        if kind == 44 {
            body.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 9]); // fragment, offset 0, M=0
        } else {
            // 8 octets: next, len 0, then a PadN option of 4 (or routing type 0, 0 left)
            body.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
            if kind == 43 {
                let n = body.len();
                body[n - 6..n - 4].copy_from_slice(&[0, 0]);
            }
        }
    }
    body.extend_from_slice(payload);
    let first = ext.first().copied().unwrap_or(proto);
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.push(first);
    h.push(64);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(&body);
    h
}

fn eth(lab: &Lab, tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&lab.mac_b());
    f.extend_from_slice(&lab.mac_a());
    for &tpid in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&100u16.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const ETH_IP: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

#[test]
fn crafted_frames_are_classified_and_counted_exactly() {
    require_root!();
    let lab = Lab::new(1);
    let b4 = lab.v4(2);
    let b6 = lab.v6(2);
    let peer4 = lab.v4(1);
    let stranger4 = Ipv4Addr::new(10, 203, lab.tag, 77);
    let peer6 = lab.v6(1);
    let stranger6 = lab.v6(77);
    let mut probe = Probe::start(
        &lab,
        &[
            "--listener",
            "*:8002:mm1",
            "--listener",
            &format!("{b4}:25:mm4"),
            "--listener",
            &format!("[{b6}]:25:mm4"),
            "--listener",
            "0.0.0.0:8080:mm7",
            "--listener",
            "*:2525:mm3",
            "--peer",
            &format!("{peer4}/32"),
            "--peer",
            &format!("{peer6}/128"),
        ],
    )
    .expect("probe attaches");
    let before = probe.counters();

    let ack = |port| tcp(port, TCP_ACK, 5);
    let v4 = |src, port| ipv4(src, b4, 6, 5, 0, &ack(port));
    let v6 = |src, ext: &[u8], port| ipv6(src, b6, ext, 6, &ack(port));
    // (what, frame, class, stat it bumps)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "ipv4 mm1",
            eth(&lab, &[], ETH_IP, &v4(peer4, 8002)),
            "mm1",
            None,
        ),
        (
            "802.1Q mm1",
            eth(&lab, &[0x8100], ETH_IP, &v4(peer4, 8002)),
            "mm1",
            None,
        ),
        (
            "QinQ mm1",
            eth(&lab, &[0x88a8, 0x8100], ETH_IP, &v4(peer4, 8002)),
            "mm1",
            None,
        ),
        (
            "three tags",
            eth(&lab, &[0x88a8, 0x8100, 0x8100], ETH_IP, &v4(peer4, 8002)),
            "other",
            Some("slow_path"),
        ),
        (
            "ipv4 options",
            eth(&lab, &[], ETH_IP, &ipv4(peer4, b4, 6, 7, 0, &ack(8002))),
            "mm1",
            None,
        ),
        (
            "ihl 4",
            eth(&lab, &[], ETH_IP, &ipv4(peer4, b4, 6, 4, 0, &ack(8002))),
            "other",
            Some("malformed"),
        ),
        (
            "first fragment",
            eth(
                &lab,
                &[],
                ETH_IP,
                &ipv4(peer4, b4, 6, 5, 0x2000, &ack(8002)),
            ),
            "other",
            Some("slow_path"),
        ),
        (
            "later fragment",
            eth(
                &lab,
                &[],
                ETH_IP,
                &ipv4(peer4, b4, 6, 5, 0x0003, &ack(8002)),
            ),
            "other",
            Some("slow_path"),
        ),
        (
            "truncated ipv4",
            eth(&lab, &[], ETH_IP, &v4(peer4, 8002)[..12]),
            "other",
            Some("malformed"),
        ),
        (
            "truncated tcp",
            eth(&lab, &[], ETH_IP, &v4(peer4, 8002)[..30]),
            "other",
            Some("malformed"),
        ),
        (
            "tcp doff 4",
            eth(
                &lab,
                &[],
                ETH_IP,
                &ipv4(peer4, b4, 6, 5, 0, &tcp(8002, TCP_ACK, 4)),
            ),
            "other",
            Some("malformed"),
        ),
        (
            "udp to 8002",
            eth(&lab, &[], ETH_IP, &ipv4(peer4, b4, 17, 5, 0, &udp(8002))),
            "other",
            None,
        ),
        (
            "no listener port",
            eth(&lab, &[], ETH_IP, &v4(peer4, 8003)),
            "other",
            None,
        ),
        (
            "v4 wildcard mm7",
            eth(&lab, &[], ETH_IP, &v4(peer4, 8080)),
            "mm7",
            None,
        ),
        (
            "v6 not in v4 wildcard",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[], 8080)),
            "other",
            None,
        ),
        (
            "any-family mm3 v6",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[], 2525)),
            "mm3",
            None,
        ),
        (
            "mm4 from peer",
            eth(&lab, &[], ETH_IP, &v4(peer4, 25)),
            "mm4",
            None,
        ),
        (
            "mm4 from stranger",
            eth(&lab, &[], ETH_IP, &v4(stranger4, 25)),
            "mm4",
            Some("not_peer"),
        ),
        (
            "mm4 other address",
            eth(
                &lab,
                &[],
                ETH_IP,
                &ipv4(
                    peer4,
                    Ipv4Addr::new(10, 203, lab.tag, 99),
                    6,
                    5,
                    0,
                    &ack(25),
                ),
            ),
            "other",
            None,
        ),
        (
            "ipv6 mm1",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[], 8002)),
            "mm1",
            None,
        ),
        (
            "ipv6 hbh+rt+dst",
            eth(&lab, &[0x8100], ETH_IPV6, &v6(peer6, &[0, 43, 60], 8002)),
            "mm1",
            None,
        ),
        (
            "ipv6 8 ext",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[60; 8], 8002)),
            "mm1",
            None,
        ),
        (
            "ipv6 9 ext",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[60; 9], 8002)),
            "other",
            Some("slow_path"),
        ),
        (
            "ipv6 fragment",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[44], 8002)),
            "other",
            Some("slow_path"),
        ),
        (
            "ipv6 hbh+fragment",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[0, 44], 8002)),
            "other",
            Some("slow_path"),
        ),
        (
            "ipv6 truncated ext",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[60, 60], 8002)[..44]),
            "other",
            Some("malformed"),
        ),
        (
            "ipv6 mm4 from peer",
            eth(&lab, &[], ETH_IPV6, &v6(peer6, &[], 25)),
            "mm4",
            None,
        ),
        (
            "ipv6 mm4 from stranger",
            eth(&lab, &[], ETH_IPV6, &v6(stranger6, &[], 25)),
            "mm4",
            Some("not_peer"),
        ),
        (
            "ethernet header only",
            eth(&lab, &[], ETH_IP, &[]),
            "other",
            Some("malformed"),
        ),
        (
            "truncated vlan tag",
            eth(&lab, &[], 0x8100, &[0, 100]),
            "other",
            Some("malformed"),
        ),
    ];
    lab.inject(&cases.iter().map(|c| c.1.clone()).collect::<Vec<_>>());

    let mut want_packets: HashMap<&str, u64> = HashMap::new();
    let mut want_bytes: HashMap<&str, u64> = HashMap::new();
    let mut want_stat: HashMap<&str, u64> = HashMap::new();
    for (_, frame, class, stat) in &cases {
        *want_packets.entry(class).or_default() += 1;
        *want_bytes.entry(class).or_default() += frame.len() as u64;
        if let Some(stat) = stat {
            *want_stat.entry(stat).or_default() += 1;
        }
    }
    let after = probe.counters_until(|s| {
        ["mm1", "mm4", "mm7", "mm3"]
            .iter()
            .all(|c| s.packets(c) - before.packets(c) >= want_packets.get(c).copied().unwrap_or(0))
            && s.stat("malformed") - before.stat("malformed") >= want_stat["malformed"]
    });
    let listing: Vec<String> = cases
        .iter()
        .map(|(what, f, class, stat)| format!("{what}: {} bytes -> {class} {stat:?}", f.len()))
        .collect();
    for class in ["mm1", "mm4", "mm7", "mm3"] {
        assert_eq!(
            after.packets(class) - before.packets(class),
            want_packets.get(class).copied().unwrap_or(0),
            "{class} packets; sent:\n{}",
            listing.join("\n")
        );
        assert_eq!(
            after.bytes(class) - before.bytes(class),
            want_bytes.get(class).copied().unwrap_or(0),
            "{class} bytes"
        );
    }
    // class other also sees the namespaces' own chatter (neighbour discovery, ...)
    assert!(after.packets("other") - before.packets("other") >= want_packets["other"]);
    for stat in ["malformed", "slow_path", "not_peer"] {
        assert_eq!(
            after.stat(stat) - before.stat(stat),
            want_stat[stat],
            "{stat}; sent:\n{}",
            listing.join("\n")
        );
    }
    assert_eq!(after.stat("syn_rate"), 0);
    assert_eq!(after.stat("redirected"), 0);

    let (lines, ok) = probe.finish();
    assert!(ok, "probe exit: {lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("detached"));
}

#[test]
fn mm4_from_non_peers_gets_no_answer_and_peers_reach_the_host() {
    require_root!();
    let lab = Lab::new(2);
    let mut probe = Probe::start(
        &lab,
        &[
            "--listener",
            "*:25:mm4",
            "--listener",
            "*:8002:mm1",
            "--peer",
            &format!("{}/32", lab.v4(1)),
            "--peer",
            &format!("{}/128", lab.v6(1)),
        ],
    )
    .expect("probe attaches");
    assert_eq!(
        probe.attached_field("mode"),
        "driver",
        "veth supports native XDP"
    );
    let (a4_peer, a4_other) = (IpAddr::V4(lab.v4(1)), IpAddr::V4(lab.v4(3)));
    let (a6_peer, a6_other) = (IpAddr::V6(lab.v6(1)), IpAddr::V6(lab.v6(3)));
    let b4 = IpAddr::V4(lab.v4(2));
    let b6 = IpAddr::V6(lab.v6(2));
    let outcomes = in_netns(&lab.ns_a, move || {
        let wait = Duration::from_millis(1500);
        // all at once: the waits overlap
        let attempts: Vec<(&str, OwnedFd)> = vec![
            (
                "v4 non-peer mm4",
                start_connect(a4_other, SocketAddr::new(b4, 25)),
            ),
            (
                "v4 peer mm4",
                start_connect(a4_peer, SocketAddr::new(b4, 25)),
            ),
            (
                "v6 non-peer mm4",
                start_connect(a6_other, SocketAddr::new(b6, 25)),
            ),
            (
                "v6 peer mm4",
                start_connect(a6_peer, SocketAddr::new(b6, 25)),
            ),
            (
                "v4 non-peer mm1",
                start_connect(a4_other, SocketAddr::new(b4, 8002)),
            ),
        ];
        attempts
            .iter()
            .map(|(what, fd)| (*what, outcome(fd, wait)))
            .collect::<Vec<_>>()
    });
    let got: HashMap<&str, Outcome> = outcomes.into_iter().collect();
    // nothing listens in side b: an answer is a RST
    assert_eq!(got["v4 non-peer mm4"], Outcome::NoAnswer, "{got:?}");
    assert_eq!(got["v6 non-peer mm4"], Outcome::NoAnswer, "{got:?}");
    assert_eq!(got["v4 peer mm4"], Outcome::Refused, "{got:?}");
    assert_eq!(got["v6 peer mm4"], Outcome::Refused, "{got:?}");
    assert_eq!(
        got["v4 non-peer mm1"],
        Outcome::Refused,
        "the ACL is MM4's only: {got:?}"
    );

    let seen = probe.counters();
    assert!(seen.stat("not_peer") >= 2, "{seen:?}");
    assert!(seen.packets("mm4") >= 4, "{seen:?}");
    assert!(seen.packets("mm1") >= 1, "{seen:?}");

    // the rules change under traffic: .3 becomes a peer
    assert_eq!(
        probe.command(&format!(
            "rules --listener *:25:mm4 --peer {}/32 --peer {}/31",
            lab.v4(1),
            lab.v4(2)
        )),
        "updated"
    );
    let got = in_netns(&lab.ns_a, move || {
        connect_once(
            a4_other,
            SocketAddr::new(b4, 25),
            Duration::from_millis(1500),
        )
    });
    assert_eq!(got, Outcome::Refused, "10.203.x.3 is in 10.203.x.2/31 now");
    let (_, ok) = probe.finish();
    assert!(ok);
}

#[test]
fn syn_flood_beyond_the_burst_is_dropped_and_counted() {
    require_root!();
    let lab = Lab::new(3);
    let mut probe = Probe::start(
        &lab,
        &[
            "--listener",
            "*:8002:mm1",
            "--syn-rate",
            "1",
            "--syn-burst",
            "4",
        ],
    )
    .expect("probe attaches");
    let b4 = lab.v4(2);
    let flooder = Ipv4Addr::new(10, 203, lab.tag, 50);
    let other = Ipv4Addr::new(10, 203, lab.tag, 51);
    let syn = |src| {
        eth(
            &lab,
            &[],
            ETH_IP,
            &ipv4(src, b4, 6, 5, 0, &tcp(8002, TCP_SYN, 5)),
        )
    };
    let ack = |src| {
        eth(
            &lab,
            &[],
            ETH_IP,
            &ipv4(src, b4, 6, 5, 0, &tcp(8002, TCP_ACK, 5)),
        )
    };
    let synack = |src| {
        eth(
            &lab,
            &[],
            ETH_IP,
            &ipv4(src, b4, 6, 5, 0, &tcp(8002, TCP_SYN | TCP_ACK, 5)),
        )
    };
    // 12 SYNs from one source within microseconds: 4 pass (the burst), 8 are dropped
    let mut frames: Vec<Vec<u8>> = (0..12).map(|_| syn(flooder)).collect();
    // another source has a bucket of its own
    frames.extend((0..3).map(|_| syn(other)));
    // only SYN without ACK is limited
    frames.extend((0..5).map(|_| ack(flooder)));
    frames.extend((0..2).map(|_| synack(flooder)));
    lab.inject(&frames);
    let seen = probe.counters_until(|s| s.packets("mm1") >= 22);
    assert_eq!(seen.packets("mm1"), 22, "{seen:?}");
    assert_eq!(seen.stat("syn_rate"), 8, "{seen:?}");

    // real connections from a fresh source: 4 answered (RST), 2 get nothing
    let a3 = IpAddr::V4(lab.v4(3));
    let dst = SocketAddr::new(IpAddr::V4(b4), 8002);
    let outcomes = in_netns(&lab.ns_a, move || {
        let fds: Vec<OwnedFd> = (0..6).map(|_| start_connect(a3, dst)).collect();
        // less than the first SYN retransmission (1 s): each socket sent one SYN
        std::thread::sleep(Duration::from_millis(500));
        fds.iter()
            .map(|fd| outcome(fd, Duration::ZERO))
            .collect::<Vec<_>>()
    });
    let answered = outcomes.iter().filter(|o| **o == Outcome::Refused).count();
    let silent = outcomes.iter().filter(|o| **o == Outcome::NoAnswer).count();
    assert_eq!((answered, silent), (4, 2), "{outcomes:?}");
    let seen = probe.counters();
    assert_eq!(seen.stat("syn_rate"), 10, "{seen:?}");

    // the bucket refills at 1 token/s
    std::thread::sleep(Duration::from_millis(1100));
    let got = in_netns(&lab.ns_a, move || {
        connect_once(a3, dst, Duration::from_millis(500))
    });
    assert_eq!(got, Outcome::Refused, "a token came back after 1 s");
    let (_, ok) = probe.finish();
    assert!(ok);
}

#[test]
fn mm1_counters_follow_a_real_connection() {
    require_root!();
    let lab = Lab::new(4);
    let mut probe = Probe::start(&lab, &["--listener", "*:8002:mm1", "--mode", "redirect"])
        .expect("probe attaches");
    let b4 = lab.v4(2);
    // a server in side b: echoes 3 messages then closes
    let server = {
        let listener = in_netns(&lab.ns_b, move || {
            TcpListener::bind((b4, 8002)).expect("listen in side b")
        });
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 1000];
            let mut got = 0;
            for _ in 0..3 {
                let n = std::io::Read::read(&mut conn, &mut buf).expect("read");
                got += n;
                conn.write_all(&buf[..n]).expect("echo");
            }
            got
        })
    };
    let a1 = lab.v4(1);
    let sent = in_netns(&lab.ns_a, move || {
        let mut conn = TcpStream::connect_timeout(
            &SocketAddr::new(IpAddr::V4(b4), 8002),
            Duration::from_secs(3),
        )
        .expect("connect: redirect mode without an AF_XDP socket passes to the kernel");
        assert_eq!(conn.local_addr().unwrap().ip(), IpAddr::V4(a1));
        conn.set_nodelay(true).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1000];
        for i in 0..3u8 {
            let message = vec![b'a' + i; 500];
            conn.write_all(&message).expect("send");
            std::io::Read::read_exact(&mut conn, &mut buf[..500]).expect("echo back");
            assert_eq!(&buf[..500], &message[..]);
        }
        1500u64
    });
    assert_eq!(server.join().expect("server") as u64, sent);
    let seen = probe.counters_until(|s| s.bytes("mm1") >= sent);
    // SYN, handshake ACK, 3 data segments (ACKs of the echoes ride on them or come alone),
    // then the close
    let packets = seen.packets("mm1");
    assert!((5..=20).contains(&packets), "{seen:?}");
    // every frame carries at least 14 + 20 + 20 octets of headers
    assert!(seen.bytes("mm1") >= sent + packets * 54, "{seen:?}");
    assert!(seen.bytes("mm1") <= sent + packets * 100, "{seen:?}");
    assert_eq!(seen.stat("redirected"), 0, "no AF_XDP socket registered");
    let (_, ok) = probe.finish();
    assert!(ok);
}

#[test]
fn stale_program_is_replaced_and_a_clean_exit_detaches() {
    require_root!();
    let lab = Lab::new(5);
    let args = ["--listener", "*:8002:mm1"];

    // 1. kill -9: the BPF link dies with the process, nothing is left on the interface
    let probe = Probe::start(&lab, &args).expect("probe attaches");
    let id: u32 = probe.attached_field("prog_id").parse().unwrap();
    assert_eq!(lab.xdp_prog_id_b(), Some(id), "{}", lab.link_b());
    probe.kill9();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.xdp_prog_id_b().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.xdp_prog_id_b(), None, "{}", lab.link_b());

    // 2. a stale program attached through netlink (as a loader without BPF links, or
    //    `ip link`, leaves it): the next start replaces it
    let object = std::env::temp_dir().join(format!("mmsc-xdp-{}.o", std::process::id()));
    std::fs::write(&object, mmsc_ebpf::xdp_object()).unwrap();
    let object_path = object.to_str().unwrap().to_owned();
    let loaded = Command::new("ip")
        .args([
            "-n",
            &lab.ns_b,
            "link",
            "set",
            "dev",
            &lab.if_b,
            "xdpgeneric",
            "obj",
        ])
        .args([&object_path, "sec", "xdp"])
        .output()
        .expect("run ip");
    let _ = std::fs::remove_file(&object);
    assert!(
        loaded.status.success(),
        "ip link set xdpgeneric obj: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let stale = lab.xdp_prog_id_b().expect("stale program attached");
    assert!(lab.link_b().contains("xdpgeneric"), "{}", lab.link_b());

    let mut probe = Probe::start(&lab, &args).expect("probe replaces the stale program");
    assert_eq!(
        probe.attached_field("replaced"),
        format!("{stale}:mmsc_xdp")
    );
    assert_eq!(probe.attached_field("mode"), "driver");
    let id: u32 = probe.attached_field("prog_id").parse().unwrap();
    assert_eq!(lab.xdp_prog_id_b(), Some(id));
    assert!(!lab.link_b().contains("xdpgeneric"), "{}", lab.link_b());
    // and it works
    let (a1, b4) = (IpAddr::V4(lab.v4(1)), IpAddr::V4(lab.v4(2)));
    let got = in_netns(&lab.ns_a, move || {
        connect_once(a1, SocketAddr::new(b4, 8002), Duration::from_secs(2))
    });
    assert_eq!(got, Outcome::Refused);
    let seen = probe.counters_until(|s| s.packets("mm1") >= 1);
    assert!(seen.packets("mm1") >= 1, "{seen:?}");

    // 3. a second loader does not steal a live program
    let err = Probe::start(&lab, &args)
        .err()
        .expect("second probe refused");
    assert!(err.contains("held by a BPF link"), "{err}");
    assert_eq!(lab.xdp_prog_id_b(), Some(id));

    // 4. end of stdin: counters, detach, exit 0, no XDP left
    let (lines, ok) = probe.finish();
    assert!(ok, "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("counters ")),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("detached"));
    let link = lab.link_b();
    assert!(!link.contains("xdp"), "{link}");

    // 5. another tool's program is left alone unless replace_foreign
    let foreign = concat!(env!("OUT_DIR"), "/test_foreign_xdp.o");
    sh(&[
        "ip",
        "-n",
        &lab.ns_b,
        "link",
        "set",
        "dev",
        &lab.if_b,
        "xdpgeneric",
        "obj",
        foreign,
        "sec",
        "xdp",
    ]);
    let other = lab.xdp_prog_id_b().expect("foreign program attached");
    let err = Probe::start(&lab, &args)
        .err()
        .expect("foreign program kept");
    assert!(err.contains("not an mmsc program"), "{err}");
    assert_eq!(lab.xdp_prog_id_b(), Some(other));
    let mut with_force = vec!["--replace-foreign"];
    with_force.extend(args);
    let probe = Probe::start(&lab, &with_force).expect("--replace-foreign replaces it");
    assert_eq!(
        probe.attached_field("replaced"),
        format!("{other}:other_tool_xdp")
    );
    let (_, ok) = probe.finish();
    assert!(ok);
    assert!(!lab.link_b().contains("xdp"), "{}", lab.link_b());
}

#[test]
fn generic_mode_on_request_and_errors_name_what_failed() {
    require_root!();
    let lab = Lab::new(6);
    let mut probe = Probe::start(&lab, &["--attach", "generic", "--listener", "*:8002:mm1"])
        .expect("generic attach");
    assert_eq!(probe.attached_field("mode"), "generic");
    assert!(lab.link_b().contains("xdpgeneric"), "{}", lab.link_b());
    let (a1, b4) = (IpAddr::V4(lab.v4(1)), IpAddr::V4(lab.v4(2)));
    let got = in_netns(&lab.ns_a, move || {
        connect_once(a1, SocketAddr::new(b4, 8002), Duration::from_secs(2))
    });
    assert_eq!(got, Outcome::Refused);
    let seen = probe.counters_until(|s| s.packets("mm1") >= 1);
    assert!(seen.packets("mm1") >= 1, "{seen:?}");
    let (_, ok) = probe.finish();
    assert!(ok);
    assert!(!lab.link_b().contains("xdp"), "{}", lab.link_b());

    // the library, in a thread inside side b
    let if_b = lab.if_b.clone();
    in_netns(&lab.ns_b, move || {
        let rules = Rules {
            listeners: vec![Listener {
                addr: None,
                port: 8002,
                class: Class::Mm1,
            }],
            ..Rules::default()
        };
        match XdpProgram::load("mmsc-nosuch0", &rules) {
            Err(EbpfError::InterfaceNotFound { name }) => assert_eq!(name, "mmsc-nosuch0"),
            other => panic!("{other:?}"),
        }
        let mut bad = rules.clone();
        bad.mm4_peers.push(mmsc_classify::Prefix {
            addr: "10.0.0.0".parse().unwrap(),
            len: 40,
        });
        assert!(matches!(
            XdpProgram::load(&if_b, &bad),
            Err(EbpfError::InvalidRules(_))
        ));

        let mut program = XdpProgram::load(&if_b, &rules).expect("load in side b");
        assert_eq!(program.mode(), AttachMode::Driver);
        assert_eq!(program.interface(), if_b);
        assert!(program.replaced().is_empty());
        let counters = program.counters().expect("counters");
        assert_eq!(counters.dropped(), 0);
        // queues beyond the XSKMAP, and a socket that is not AF_XDP
        assert!(matches!(
            program.register_xsk(mmsc_ebpf::MAX_QUEUES, std::io::stdin()),
            Err(EbpfError::QueueOutOfRange { queue: 64, max: 64 })
        ));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = program
            .register_xsk(0, &tcp)
            .expect_err("not an AF_XDP socket");
        assert!(err.to_string().contains("queue 0"), "{err}");
        program
            .unregister_xsk(0)
            .expect("unregister an empty queue");
        program.update_rules(&Rules::default()).expect("update");
        program.detach().expect("detach");
        // dropping detaches as well
        let program = XdpProgram::load(&if_b, &rules).expect("load again");
        drop(program);
    });
    assert!(!lab.link_b().contains("xdp"), "{}", lab.link_b());
}

// ---- SK_REUSEPORT ----

/// A listener on 127.0.0.1:`port` with SO_REUSEPORT (port 0: the kernel picks one).
fn reuseport_listener(port: u16) -> TcpListener {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::sockopt::set_socket_reuseport(&fd, true).expect("SO_REUSEPORT");
    rustix::net::bind(&fd, &SocketAddr::from(([127, 0, 0, 1], port))).expect("bind");
    rustix::net::listen(&fd, 256).expect("listen");
    let listener = TcpListener::from(fd);
    listener.set_nonblocking(true).unwrap();
    listener
}

/// Opens `n` connections to `port`, then counts the connections each listener accepted.
fn spread(listeners: &[&TcpListener], port: u16, n: usize) -> Vec<usize> {
    let clients: Vec<TcpStream> = (0..n)
        .map(|_| {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(2),
            )
            .expect("connect")
        })
        .collect();
    let mut counts = vec![0; listeners.len()];
    let deadline = Instant::now() + Duration::from_secs(5);
    while counts.iter().sum::<usize>() < n && Instant::now() < deadline {
        for (i, l) in listeners.iter().enumerate() {
            while let Ok(_conn) = l.accept() {
                counts[i] += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(clients);
    counts
}

#[test]
fn reuseport_connections_land_where_the_program_says() {
    require_root!();
    let l0 = reuseport_listener(0);
    let port = l0.local_addr().unwrap().port();
    let l1 = reuseport_listener(port);
    let both = [&l0, &l1];

    // one core: every connection goes to entry 0, although the group has two sockets (the
    // kernel alone would spread them)
    let steering = ReuseportSteering::attach(&[&l0]).expect("attach");
    assert_eq!(steering.cores(), 1);
    assert_eq!(spread(&both, port, 32), vec![32, 0]);
    // dropped: the array is emptied (the kernel chooses) and l0 may join another steering
    drop(steering);
    let counts = spread(&both, port, 32);
    assert_eq!(counts.iter().sum::<usize>(), 32, "{counts:?}");

    // two cores: by the flow hash, over both; then back to one with set_cores
    let mut steering = ReuseportSteering::attach(&both).expect("attach anew");
    assert_eq!(steering.cores(), 2);
    let counts = spread(&both, port, 64);
    assert_eq!(counts.iter().sum::<usize>(), 64, "{counts:?}");
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    steering.set_cores(1).unwrap();
    assert_eq!(spread(&both, port, 16), vec![16, 0]);
    // entry 0 can be any socket of the group
    drop(steering);
    let mut steering = ReuseportSteering::attach(&[&l1, &l0]).expect("attach reordered");
    steering.set_cores(1).unwrap();
    assert_eq!(spread(&both, port, 16), vec![0, 16]);
    drop(steering);

    // detached: the kernel's own choice, every connection still lands
    ReuseportSteering::detach(&l0).expect("detach");
    let counts = spread(&both, port, 32);
    assert_eq!(counts.iter().sum::<usize>(), 32, "{counts:?}");
}

#[test]
fn reuseport_rejects_bad_listener_sets() {
    let none: [&TcpListener; 0] = [];
    assert!(matches!(
        ReuseportSteering::attach(&none),
        Err(EbpfError::ListenerCount { count: 0, .. })
    ));
    if !is_root() {
        eprintln!("skipped the rest: needs root");
        return;
    }
    // a listener without SO_REUSEPORT cannot go in the socket array
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = ReuseportSteering::attach(&[&plain]).expect_err("no SO_REUSEPORT");
    assert!(err.to_string().contains("core 0"), "{err}");
}

/// An AF_XDP socket bound to `queue` of `iface` (copy mode) with a UMEM but no buffers in
/// its fill ring: what it is handed is counted and dropped by the kernel. Returns the
/// socket and the UMEM memory (keep it alive as long as the socket).
fn bare_xsk(iface: &str, queue: u32) -> (OwnedFd, Vec<u8>) {
    use rustix::net::xdp::{SocketAddrXdp, SocketAddrXdpFlags, XdpUmemReg, XdpUmemRegFlags};
    const PAGE: usize = 4096;
    const CHUNKS: usize = 16;
    let fd = rustix::net::socket_with(
        AddressFamily::XDP,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("AF_XDP socket");
    let umem = vec![0u8; (CHUNKS + 1) * PAGE];
    let start = (umem.as_ptr() as usize).next_multiple_of(PAGE);
    rustix::net::sockopt::set_xdp_umem_reg(
        &fd,
        XdpUmemReg {
            addr: start as u64,
            len: (CHUNKS * PAGE) as u64,
            chunk_size: PAGE as u32,
            headroom: 0,
            flags: XdpUmemRegFlags::empty(),
            tx_metadata_len: 0,
        },
    )
    .expect("XDP_UMEM_REG");
    rustix::net::sockopt::set_xdp_umem_fill_ring_size(&fd, 16).expect("fill ring");
    rustix::net::sockopt::set_xdp_umem_completion_ring_size(&fd, 16).expect("completion ring");
    rustix::net::sockopt::set_xdp_rx_ring_size(&fd, 16).expect("rx ring");
    let probe = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None).unwrap();
    let ifindex = rustix::net::netdevice::name_to_index(&probe, iface).expect("ifindex");
    let addr = SocketAddrXdp::new(SocketAddrXdpFlags::XDP_COPY, ifindex, queue);
    rustix::net::bind(&fd, &addr).expect("bind the AF_XDP socket");
    (fd, umem)
}

#[test]
fn redirect_mode_hands_mm1_and_mm4_to_the_queue_socket() {
    require_root!();
    let lab = Lab::new(7);
    let (ns_a, if_b) = (lab.ns_a.clone(), lab.if_b.clone());
    let (a1, b4) = (IpAddr::V4(lab.v4(1)), IpAddr::V4(lab.v4(2)));
    let rules = Rules {
        listeners: vec![
            Listener {
                addr: None,
                port: 8002,
                class: Class::Mm1,
            },
            Listener {
                addr: None,
                port: 8080,
                class: Class::Mm7,
            },
            Listener {
                addr: None,
                port: 25,
                class: Class::Mm4,
            },
        ],
        mm4_peers: vec![mmsc_classify::Prefix { addr: a1, len: 32 }],
        mode: mmsc_classify::Mode::Redirect,
        ..Rules::default()
    };
    in_netns(&lab.ns_b, move || {
        let connect = move |port| {
            in_netns(&ns_a, move || {
                connect_once(a1, SocketAddr::new(b4, port), Duration::from_millis(700))
            })
        };
        let mut program = XdpProgram::load(&if_b, &rules).expect("load in side b");
        // no socket on queue 0 yet: the kernel gets everything
        assert_eq!(connect(8002), Outcome::Refused);
        assert_eq!(program.counters().unwrap().redirected, 0);

        let (xsk, _umem) = bare_xsk(&if_b, 0);
        program
            .register_xsk(0, &xsk)
            .expect("register the AF_XDP socket");
        // MM1 and MM4 (from a peer) now go to the socket (which has no buffers: no
        // answer); MM7 still passes
        assert_eq!(connect(8002), Outcome::NoAnswer);
        assert_eq!(connect(25), Outcome::NoAnswer);
        assert_eq!(connect(8080), Outcome::Refused);
        let counters = program.counters().unwrap();
        assert!(counters.redirected >= 2, "{counters:?}");
        assert_eq!(counters.dropped(), 0, "{counters:?}");
        assert!(counters.class(Class::Mm4).packets >= 1, "{counters:?}");
        let stats = rustix::net::sockopt::xdp_statistics(&xsk).expect("XDP_STATISTICS");
        let reached = stats.rx_dropped + stats.rx_fill_ring_empty_descs.unwrap_or(0);
        assert!(reached >= counters.redirected, "{stats:?} {counters:?}");

        program.unregister_xsk(0).expect("unregister");
        assert_eq!(connect(8002), Outcome::Refused);
        program.detach().expect("detach");
    });
}

// ---- differential: the XDP program against mmsc_classify::Classifier ----

/// A seeded generator (splitmix64): the same mix of frames on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Listeners of every class, exact and wildcard, with the cases where the order, the
/// family or class Other matters (comments: what a packet to that key gets).
fn differential_rules(mode: mmsc_classify::Mode, syn_rate: u32, syn_burst: u32) -> Rules {
    let l = |a: Option<&str>, port, class| Listener {
        addr: a.map(addr),
        port,
        class,
    };
    let prefix = |a: &str, len| mmsc_classify::Prefix { addr: addr(a), len };
    Rules {
        listeners: vec![
            l(None, 80, Class::Mm1),
            // exact after the wildcard: 10.1.0.1:80 is MM7
            l(Some("10.1.0.1"), 80, Class::Mm7),
            // exact before the family wildcards: 10.1.0.3:25 MM3, other v4 and v6 MM4
            l(Some("10.1.0.3"), 25, Class::Mm3),
            l(Some("0.0.0.0"), 25, Class::Mm4),
            l(Some("::"), 25, Class::Mm4),
            l(Some("2001:db8::3"), 25, Class::Mm3),
            l(Some("10.1.0.7"), 8080, Class::Mm7),
            l(Some("2001:db8::7"), 8080, Class::Mm7),
            // duplicate wildcard key: the first (MM1) has it
            l(None, 8002, Class::Mm1),
            l(Some("0.0.0.0"), 8002, Class::Mm3),
            // duplicate exact key: the first (MM7) has it
            l(Some("10.1.0.9"), 8002, Class::Mm7),
            l(Some("10.1.0.9"), 8002, Class::Mm3),
            // IPv4-mapped IPv6 is IPv6: ::ffff:10.1.0.1:443 MM1, 10.1.0.1:443 MM7
            l(Some("::ffff:10.1.0.1"), 443, Class::Mm1),
            l(Some("10.1.0.1"), 443, Class::Mm7),
            // class Other is ignored: 10.1.0.1:2222 is MM3 by the wildcard
            l(Some("10.1.0.1"), 2222, Class::Other),
            l(None, 2222, Class::Mm3),
            l(Some("2001:db8::9"), 2223, Class::Mm4),
        ],
        mm4_peers: vec![
            prefix("192.0.2.0", 24),
            prefix("2001:db8:4::", 48),
            prefix("::ffff:198.51.100.0", 120),
        ],
        syn_rate,
        syn_burst,
        mode,
    }
}

const DIFF_DST_V4: [&str; 6] = [
    "10.1.0.1",
    "10.1.0.3",
    "10.1.0.7",
    "10.1.0.9",
    "10.1.0.50",
    "0.0.0.0",
];
const DIFF_DST_V6: [&str; 7] = [
    "2001:db8::3",
    "2001:db8::7",
    "2001:db8::9",
    "2001:db8::50",
    "::ffff:10.1.0.1",
    "::ffff:10.1.0.3",
    "::",
];
/// Peers and non-peers of both families, and IPv4-mapped sources (198.51.100.7 is a peer
/// only in its mapped form, 192.0.2.1 only as IPv4).
const DIFF_SRC_V4: [&str; 5] = [
    "192.0.2.1",
    "192.0.2.200",
    "198.51.100.7",
    "203.0.113.9",
    "203.0.113.10",
];
const DIFF_SRC_V6: [&str; 5] = [
    "2001:db8:4::1",
    "2001:db8:4:ffff::2",
    "2001:db8:5::1",
    "::ffff:198.51.100.7",
    "::ffff:192.0.2.1",
];
const DIFF_PORTS: [u16; 8] = [80, 25, 8080, 8002, 443, 2222, 2223, 22];

/// One frame of the mix, and what it was built as (for the failure message).
fn random_frame(rng: &mut Rng) -> (String, Vec<u8>) {
    use mmsc_classify::TcpFlags;
    use mmsc_classify::build::{FrameBuilder, L4, arp_request, ethernet};

    // not IP at all, now and then
    match rng.below(40) {
        0 => {
            return (
                "arp".into(),
                arp_request([2, 0, 0, 0, 0, 9], [10, 1, 0, 99], [10, 1, 0, 1]),
            );
        }
        1 => return ("lldp".into(), ethernet(0x88CC, &rng.bytes(46))),
        2 => return ("802.3 length".into(), ethernet(0x0040, &rng.bytes(64))),
        3 => return ("ethernet header only".into(), ethernet(0x0800, &[])),
        _ => {}
    }
    let v6 = rng.chance(45);
    let dst = addr(rng.pick(if v6 {
        &DIFF_DST_V6[..]
    } else {
        &DIFF_DST_V4[..]
    }));
    let src = addr(rng.pick(if v6 {
        &DIFF_SRC_V6[..]
    } else {
        &DIFF_SRC_V4[..]
    }));
    let port = if rng.chance(85) {
        rng.pick(&DIFF_PORTS)
    } else {
        rng.next() as u16
    };
    let flags = rng.pick(&[
        TcpFlags::SYN,
        TcpFlags::ACK,
        TcpFlags::ACK,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::PSH | TcpFlags::ACK,
        TcpFlags::RST,
        TcpFlags::FIN | TcpFlags::ACK,
        TcpFlags::SYN | TcpFlags::RST,
    ]);
    let mut what = format!("{src} -> {dst}:{port} flags {:#04x}", flags.0);
    let mut b = FrameBuilder::tcp(src, 40000 + rng.below(1000) as u16, dst, port)
        .flags(flags)
        .payload_len(if rng.chance(50) { 0 } else { rng.below(300) });
    let tags = match rng.below(20) {
        0..=11 => 0,
        12..=15 => 1,
        16..=18 => 2,
        _ => 3,
    };
    for _ in 0..tags {
        b = b.vlan(
            rng.pick(&[mmsc_classify::headers::ETH_P_8021Q, 0x88A8]),
            rng.below(4096) as u16,
        );
    }
    if tags > 0 {
        what += &format!(", {tags} vlan tags");
    }
    if rng.chance(25) {
        let n = 1 + rng.below(40);
        b = b.tcp_options(&rng.bytes(n));
        what += &format!(", {n} octets of tcp options");
    }
    if v6 && rng.chance(30) {
        let n = if rng.chance(15) { 9 } else { 1 + rng.below(4) };
        for _ in 0..n {
            b = b.ipv6_ext(rng.pick(&[0u8, 43, 60]), rng.below(4) as u8);
        }
        what += &format!(", {n} ipv6 extension headers");
    }
    if !v6 && rng.chance(30) {
        let n = 1 + rng.below(40);
        b = b.ipv4_options(&rng.bytes(n));
        what += &format!(", {n} octets of ipv4 options");
    }
    if rng.chance(8) {
        let (offset, more) = (rng.pick(&[0u16, 0, 8, 185]), rng.chance(50));
        b = b.fragment(offset, more);
        what += &format!(", fragment {offset} more {more}");
    }
    if rng.chance(8) {
        let l4 = match rng.below(5) {
            0 => L4::Udp {
                src_port: 5000,
                dst_port: port,
            },
            1 => L4::Icmp,
            n => L4::Raw([50, 59, 132][n - 2]),
        };
        what += &format!(", {l4:?}");
        b = b.l4(l4);
    }
    if rng.chance(20) {
        b = b.pad_to(60 + rng.below(40));
        what += ", padded";
    }
    let layout = b.layout();
    let mut f = b.build();
    let ip = layout.ip_offset;
    let tcp = matches!(b.l4, L4::Tcp { .. });
    // then break it, a quarter of the time
    if rng.chance(25) {
        match rng.below(7) {
            0 => {
                let cut = 14 + rng.below(f.len() - 14);
                f.truncate(cut);
                what += &format!(", cut to {cut}");
            }
            1 if !v6 => {
                let ihl = rng.below(5) as u8;
                f[ip] = 0x40 | ihl;
                what += &format!(", ihl {ihl}");
            }
            1 | 2 => {
                let version = rng.pick(&[0u8, 4, 5, 6, 15]);
                f[ip] = (f[ip] & 0x0F) | (version << 4);
                what += &format!(", ip version {version}");
            }
            3 => {
                let (at, fixed) = if v6 { (ip + 4, 40) } else { (ip + 2, 0) };
                let len = rng.below(f.len() - ip + 24 - fixed) as u16;
                f[at..at + 2].copy_from_slice(&len.to_be_bytes());
                what += &format!(", ip length field {len}");
            }
            4 if tcp && layout.l4_offset + 12 < f.len() => {
                let doff = rng.below(16) as u8;
                f[layout.l4_offset + 12] = doff << 4;
                what += &format!(", tcp data offset {doff}");
            }
            5 if v6 && !b.ipv6_ext.is_empty() => {
                let len = rng.below(256) as u8;
                f[ip + 41] = len;
                what += &format!(", first extension header length {len}");
            }
            6 => {
                let proto = rng.pick(&[0x0806u16, 0x0800, 0x86DD, 0x8100]);
                f[ip - 2..ip].copy_from_slice(&proto.to_be_bytes());
                what += &format!(", ethertype {proto:#06x}");
            }
            _ => {}
        }
    }
    (what, f)
}

/// The owned addresses of the differential test (step 5 of the rule set): two IPv4, one
/// IPv6 and an IPv4-mapped IPv6 address (10.1.0.3 itself is not owned, ::ffff:10.1.0.3 is).
const DIFF_OWNED: [&str; 4] = ["10.1.0.1", "10.1.0.50", "2001:db8::7", "::ffff:10.1.0.3"];
/// Targets and destinations of the control frames: owned and not owned, of both families.
const DIFF_CONTROL_V4: [&str; 4] = ["10.1.0.1", "10.1.0.50", "10.1.0.3", "10.1.0.99"];
const DIFF_CONTROL_V6: [&str; 5] = [
    "2001:db8::7",
    "::ffff:10.1.0.3",
    "2001:db8::3",
    "::ffff:10.1.0.1",
    "ff02::1",
];

/// `n` VLAN tags inserted after the MAC addresses.
fn vlan_tagged(frame: &[u8], n: usize) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    for i in 0..n {
        f.extend_from_slice(&[0x81, 0x00, 0, 10 + i as u8]);
    }
    f.extend_from_slice(&frame[12..]);
    f
}

/// A frame that is not a TCP segment but may be for an owned address: ARP requests and
/// replies, ICMP and ICMPv6 echo, neighbour solicitations and advertisements, UDP, to owned
/// and not owned addresses, behind 0 to 3 VLAN tags, now and then broken.
fn random_control(rng: &mut Rng) -> (String, Vec<u8>) {
    use mmsc_classify::build::{
        FrameBuilder, L4, arp_reply, arp_request, neighbor_solicitation, solicited_node,
    };
    let v4 = rng.pick(&DIFF_CONTROL_V4);
    let v6 = rng.pick(&DIFF_CONTROL_V6);
    let octets = |a: &str| match addr(a) {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => unreachable!(),
    };
    let v6_addr = |a: &str| match addr(a) {
        IpAddr::V6(a) => a,
        IpAddr::V4(_) => unreachable!(),
    };
    let src6 = rng.pick(&["fe80::9", "2001:db8:4::1"]);
    let (mut what, mut f) = match rng.below(7) {
        0 => (
            format!("arp request for {v4}"),
            arp_request([2, 0, 0, 0, 0, 9], [10, 1, 0, 99], octets(v4)),
        ),
        1 => (
            format!("arp reply to {v4}"),
            arp_reply(
                [2, 0, 0, 0, 0, 9],
                [10, 1, 0, 98],
                [2, 0, 0, 0, 8, 11],
                octets(v4),
            ),
        ),
        2 => {
            let mut b = FrameBuilder::tcp(addr("192.0.2.1"), 0, addr(v4), 0).l4(L4::Icmp);
            let mut what = format!("icmp echo to {v4}");
            if rng.chance(20) {
                b = b.ipv4_options(&[1, 1, 1, 1]);
                what += ", ip options";
            }
            if rng.chance(10) {
                b = b.fragment(0, true);
                what += ", fragment";
            }
            (what, b.build())
        }
        3 => {
            let mut b = FrameBuilder::tcp(addr(src6), 0, addr(v6), 0).l4(L4::Icmp);
            let mut what = format!("icmpv6 echo to {v6}");
            if rng.chance(20) {
                b = b.ipv6_ext(0, 0).ipv6_ext(60, 1);
                what += ", 2 extension headers";
            }
            if rng.chance(10) {
                b = b.fragment(0, true);
                what += ", fragment";
            }
            (what, b.build())
        }
        4 => (
            format!("neighbour solicitation for {v6}"),
            neighbor_solicitation(v6_addr(src6), v6_addr(v6)),
        ),
        5 => {
            // a neighbour advertisement: to the address, or to all nodes for it
            let dst = if rng.chance(50) { v6 } else { "ff02::1" };
            let mut body = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
            body.extend_from_slice(&v6_addr(v6).octets());
            let f = FrameBuilder::tcp(addr(src6), 0, addr(dst), 0)
                .l4(L4::Raw(58))
                .payload(&body)
                .build();
            (format!("neighbour advertisement for {v6} to {dst}"), f)
        }
        _ => {
            let dst = if rng.chance(50) { v4 } else { v6 };
            let f = FrameBuilder::tcp(addr("192.0.2.1"), 0, addr(dst), 0)
                .l4(L4::Udp {
                    src_port: 5000,
                    dst_port: 53,
                })
                .build();
            (
                format!(
                    "udp to {dst} (solicited node {})",
                    solicited_node(v6_addr(v6))
                ),
                f,
            )
        }
    };
    let tags = match rng.below(20) {
        0..=14 => 0,
        15..=16 => 1,
        17..=18 => 2,
        _ => 3,
    };
    if tags > 0 {
        f = vlan_tagged(&f, tags);
        what += &format!(", {tags} vlan tags");
    }
    let l3 = 14 + 4 * tags;
    let arp = f.len() >= l3 && f[l3 - 2..l3] == [0x08, 0x06];
    let ipv6 = f.len() >= l3 && f[l3 - 2..l3] == [0x86, 0xDD];
    if rng.chance(20) {
        match rng.below(4) {
            0 => {
                let cut = 14 + rng.below(f.len() - 14);
                f.truncate(cut);
                what += &format!(", cut to {cut}");
            }
            1 if arp => {
                let (at, value) = rng.pick(&[(2usize, 0x86u8), (4, 8), (5, 16), (7, 9), (1, 6)]);
                f[l3 + at] = value;
                what += &format!(", arp octet {at} = {value}");
            }
            2 if ipv6 => {
                let len = rng.below(48) as u16;
                f[l3 + 4..l3 + 6].copy_from_slice(&len.to_be_bytes());
                what += &format!(", ipv6 payload length {len}");
            }
            _ => {
                let proto = rng.pick(&[0x0806u16, 0x0800, 0x86DD, 0x88CC]);
                f[l3 - 2..l3].copy_from_slice(&proto.to_be_bytes());
                what += &format!(", ethertype {proto:#06x}");
            }
        }
    }
    if rng.chance(15) && f.len() < 60 {
        f.resize(60, 0);
        what += ", padded";
    }
    (what, f)
}

/// SYNs (and the odd ACK) from a few sources to listeners, for the rate limit; one source
/// twice, as IPv4 and as IPv4-mapped IPv6, which must have a bucket each.
fn random_syn(rng: &mut Rng) -> (String, Vec<u8>) {
    use mmsc_classify::TcpFlags;
    use mmsc_classify::build::FrameBuilder;

    let (src, dst) = rng.pick(&[
        ("203.0.113.9", "10.1.0.1"),
        ("::ffff:203.0.113.9", "2001:db8::7"),
        ("203.0.113.10", "10.1.0.50"),
        ("192.0.2.1", "10.1.0.3"),
        ("2001:db8:4::1", "2001:db8::3"),
    ]);
    let port = rng.pick(&[80, 25, 8080, 8002]);
    let flags = if rng.chance(85) {
        TcpFlags::SYN
    } else {
        TcpFlags::ACK
    };
    let what = format!("{src} -> {dst}:{port} flags {:#04x}", flags.0);
    let frame = FrameBuilder::tcp(addr(src), 40000, addr(dst), port)
        .flags(flags)
        .build();
    (what, frame)
}

/// Sends frames out of side a one at a time (AF_PACKET, through one python3 process).
struct Sender {
    child: Child,
    stdin: ChildStdin,
    acks: BufReader<std::process::ChildStdout>,
}

impl Sender {
    fn start(lab: &Lab) -> Sender {
        const SCRIPT: &str = "import socket, sys\n\
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
            s.bind((sys.argv[1], 0))\n\
            for line in sys.stdin:\n    \
                try:\n        s.send(bytes.fromhex(line.strip()))\n        \
                print('ok', flush=True)\n    \
                except OSError as e:\n        print('error', e, flush=True)\n";
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", &lab.ns_a, "python3", "-c", SCRIPT, &lab.if_a,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3");
        let stdin = child.stdin.take().expect("stdin");
        let acks = BufReader::new(child.stdout.take().expect("stdout"));
        Sender { child, stdin, acks }
    }

    fn send(&mut self, frame: &[u8]) {
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(self.stdin, "{hex}").expect("write to python3");
        self.stdin.flush().expect("flush");
        let mut ack = String::new();
        self.acks.read_line(&mut ack).expect("read from python3");
        assert_eq!(ack.trim(), "ok", "sending {} octets: {ack:?}", frame.len());
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn total_packets(c: &mmsc_ebpf::Counters) -> u64 {
    c.classes.iter().map(|c| c.packets).sum()
}

/// Feeds frames to the XDP program (through the veth) and to a Classifier, one at a time,
/// and compares all the counters after each frame.
struct Differential {
    program: XdpProgram,
    classifier: mmsc_classify::Classifier,
    sender: Sender,
    /// Whether an AF_XDP socket is registered (else redirects count as no-socket).
    socket: bool,
    start: Instant,
    sent: usize,
    name: &'static str,
}

impl Differential {
    fn new(lab: &Lab, name: &'static str, rules: &Rules) -> Differential {
        let program = XdpProgram::load(&lab.if_b, rules).expect("load in side b");
        assert_eq!(program.mode(), AttachMode::Driver);
        assert_eq!(
            program.counters().unwrap(),
            mmsc_ebpf::Counters::default(),
            "a quiet lab"
        );
        Differential {
            program,
            classifier: mmsc_classify::Classifier::new(rules),
            sender: Sender::start(lab),
            socket: false,
            start: Instant::now(),
            sent: 0,
            name,
        }
    }

    /// Gives both the owned addresses of the test.
    fn own(&mut self) {
        let owned: Vec<IpAddr> = DIFF_OWNED.iter().map(|a| addr(a)).collect();
        self.program
            .set_owned_addresses(&owned)
            .expect("set the owned addresses");
        self.classifier.set_owned_addresses(&owned);
        let mut want = owned.clone();
        want.sort_by_key(|a| (a.is_ipv6(), *a));
        assert_eq!(self.program.owned_addresses().unwrap(), want);
    }

    /// What the program must show now.
    fn want(&self) -> mmsc_ebpf::Counters {
        let mut want = mmsc_ebpf::Counters::from_classifier(&self.classifier.counters());
        if !self.socket {
            want.redirect_no_socket = want.redirected;
            want.redirected = 0;
        }
        want
    }

    fn send(&mut self, what: &str, frame: &[u8]) {
        let now = self.start.elapsed().as_nanos() as u64;
        self.sender.send(frame);
        let verdict = self.classifier.classify(frame, now);
        self.sent += 1;
        let want = self.want();
        let deadline = Instant::now() + Duration::from_secs(3);
        let got = loop {
            let got = self.program.counters().expect("counters");
            if total_packets(&got) >= total_packets(&want) || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_micros(50));
        };
        assert_eq!(
            got,
            want,
            "{}: the XDP program and the classifier part at frame {} ({what}: {} octets, \
             classifier says {verdict:?}):\n{}\nleft: XDP, right: classifier",
            self.name,
            self.sent - 1,
            frame.len(),
            frame.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    }
}

#[test]
fn xdp_and_classifier_count_the_same_mix_alike() {
    require_root!();
    let started = Instant::now();
    let lab = Lab::quiet(8);
    let if_b = lab.if_b.clone();
    let ns_b = lab.ns_b.clone();
    let lab = std::sync::Arc::new(lab);
    let inner = lab.clone();
    let summary = in_netns(&ns_b, move || {
        let lab = inner;
        let mut rng = Rng(0x6D6D_7363_6469_6666);
        let mut summary = Vec::new();

        // 1. pass mode, no SYN limit: the parse, the listeners, the ACL
        let mut d = Differential::new(
            &lab,
            "pass",
            &differential_rules(mmsc_classify::Mode::Pass, 0, 0),
        );
        d.own();
        for _ in 0..300 {
            let (what, frame) = if rng.chance(15) {
                random_control(&mut rng)
            } else {
                random_frame(&mut rng)
            };
            d.send(&what, &frame);
        }
        summary.push((d.name, d.program.counters().unwrap()));
        drop(d);

        // 2. redirect mode, no AF_XDP socket: every redirect is a redirect_no_socket
        let mut d = Differential::new(
            &lab,
            "redirect without a socket",
            &differential_rules(mmsc_classify::Mode::Redirect, 0, 0),
        );
        d.own();
        for _ in 0..120 {
            let (what, frame) = if rng.chance(35) {
                random_control(&mut rng)
            } else {
                random_frame(&mut rng)
            };
            d.send(&what, &frame);
        }
        summary.push((d.name, d.program.counters().unwrap()));
        drop(d);

        // 3. redirect mode with a socket on queue 0, and a SYN limit: bursts of SYNs
        //    from a few sources among the mix (1 SYN/s, burst 3: no refill within the
        //    phase unless it takes seconds, and then both sides refill alike)
        let mut d = Differential::new(
            &lab,
            "redirect with a socket, SYN limit",
            &differential_rules(mmsc_classify::Mode::Redirect, 1, 3),
        );
        let (xsk, _umem) = bare_xsk(&if_b, 0);
        d.program
            .register_xsk(0, &xsk)
            .expect("register the socket");
        d.socket = true;
        d.own();
        for _ in 0..180 {
            let (what, frame) = match rng.below(10) {
                0..=4 => random_syn(&mut rng),
                5..=6 => random_control(&mut rng),
                _ => random_frame(&mut rng),
            };
            d.send(&what, &frame);
        }
        let last = d.program.counters().unwrap();
        summary.push((d.name, last));
        drop(d);
        summary
    });
    drop(lab);

    // the mix reached every counter worth checking
    let sum =
        |f: &dyn Fn(&mmsc_ebpf::Counters) -> u64| summary.iter().map(|(_, c)| f(c)).sum::<u64>();
    for class in Class::ALL {
        assert!(
            sum(&|c| c.class(class).packets) > 0,
            "no {} frame: {summary:?}",
            class.name()
        );
    }
    for reason in mmsc_classify::Slow::ALL {
        assert!(
            sum(&|c| c.slow[reason.index()]) > 0,
            "no {reason} frame: {summary:?}"
        );
    }
    assert!(sum(&|c| c.dropped_not_peer) > 0, "{summary:?}");
    assert!(sum(&|c| c.dropped_syn_rate) > 0, "{summary:?}");
    assert!(sum(&|c| c.redirected) > 0, "{summary:?}");
    assert!(sum(&|c| c.redirect_no_socket) > 0, "{summary:?}");
    // owned addresses: nothing in pass mode, both outcomes in redirect mode
    assert_eq!(summary[0].1.redirected_owned, 0, "{summary:?}");
    assert!(summary[1].1.redirected_owned > 0, "{summary:?}");
    assert!(
        summary[2].1.redirected_owned > 0
            && summary[2].1.redirected > summary[2].1.redirected_owned,
        "{summary:?}"
    );
    for (name, c) in &summary {
        eprintln!("{name}: {c:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn syn_bucket_refills_to_a_whole_token_after_a_pause() {
    require_root!();
    let lab = Lab::quiet(9);
    let ns_b = lab.ns_b.clone();
    let lab = std::sync::Arc::new(lab);
    let inner = lab.clone();
    let got = in_netns(&ns_b, move || {
        use mmsc_classify::TcpFlags;
        use mmsc_classify::build::FrameBuilder;

        // 3 SYN/s, burst 1: cap / rate * rate = 999 999 999, one unit short of a token
        let rules = Rules {
            listeners: vec![Listener {
                addr: None,
                port: 80,
                class: Class::Mm1,
            }],
            syn_rate: 3,
            syn_burst: 1,
            ..Rules::default()
        };
        let mut d = Differential::new(&inner, "rate 3 burst 1", &rules);
        let syn = FrameBuilder::tcp(addr("203.0.113.9"), 40000, addr("10.1.0.1"), 80)
            .flags(TcpFlags::SYN)
            .build();
        // the first SYN takes the only token; after each pause of more than 1/3 s the
        // bucket is full again (one token), and the SYN right after that one is dropped
        d.send("first SYN", &syn);
        for pause in 0..2 {
            std::thread::sleep(Duration::from_millis(400));
            d.send(&format!("SYN after pause {pause}"), &syn);
        }
        d.send("SYN without a pause", &syn);
        d.program.counters().unwrap()
    });
    drop(lab);
    assert_eq!(got.class(Class::Mm1).packets, 4, "{got:?}");
    assert_eq!(got.dropped_syn_rate, 1, "{got:?}");
}
