//! The AF_XDP device against real traffic, between two network namespaces.
//!
//! Each test builds its own lab: namespaces `mmsc-x<pid>-<tag>c` (client) and
//! `mmsc-x<pid>-<tag>s` (server) joined by a veth pair `mxa<pid><tag>c` / `mxa<pid><tag>s`
//! (one queue each), the client with 10.203.<tag>.1/24 and fd00:203:<tag>::1/64 and TX
//! checksum offload off (XDP redirect between CPUs on veth needs finished checksums), the
//! server side with no address and IPv6 off in its kernel: 10.203.<tag>.2 and
//! fd00:203:<tag>::2 belong to smoltcp alone. On the server side, in a thread moved into the
//! server namespace (setns): the XDP program in driver mode and redirect mode (MM1 on port
//! 8514, both owned addresses), an XskDevice on queue 0 in its XSKMAP, and a smoltcp
//! Interface over it. A guard deletes the namespaces at the end, also on panic; every wait
//! is bounded.
//!
//! They need root; without it they print why and return.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mmsc_afxdp::{AfXdpError, BindMode, XskConfig, XskDevice, XskMode, XskStats};
use mmsc_classify::{Class, Listener, Mode, Rules};
use mmsc_ebpf::{AttachMode, AttachRequest, Counters, XdpOptions, XdpProgram};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

const MM1_PORT: u16 = 8514;
const HELLO: &str = "mmsc afxdp: hello from smoltcp\n";

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "skipped: this test creates network namespaces, loads an XDP program and \
                 opens AF_XDP sockets; it needs root"
            );
            return;
        }
    };
}

/// Runs a command; panics with its stderr when it cannot start.
fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Runs a command, panics with its stderr when it fails, returns its stdout.
fn sh(args: &[&str]) -> String {
    let out = run(args);
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
    ns_c: String,
    ns_s: String,
    if_c: String,
    if_s: String,
}

impl Lab {
    fn new(tag: u8) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            tag,
            ns_c: format!("mmsc-x{pid}-{tag}c"),
            ns_s: format!("mmsc-x{pid}-{tag}s"),
            if_c: format!("mxa{pid}{tag}c"),
            if_s: format!("mxa{pid}{tag}s"),
        };
        // the guard exists before anything is made: a failure below still cleans up
        sh(&["ip", "netns", "add", &lab.ns_c]);
        sh(&["ip", "netns", "add", &lab.ns_s]);
        let (mac_c, mac_s) = (mac_text(lab.mac_c()), mac_text(lab.mac_s()));
        sh(&[
            "ip",
            "link",
            "add",
            "name",
            &lab.if_c,
            "address",
            &mac_c,
            "netns",
            &lab.ns_c,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            &lab.if_s,
            "address",
            &mac_s,
            "netns",
            &lab.ns_s,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
        ]);
        // the server's kernel has no address of either family
        for conf in ["all", "default", lab.if_s.as_str()] {
            sh(&[
                "ip",
                "netns",
                "exec",
                &lab.ns_s,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{conf}.disable_ipv6=1"),
            ]);
        }
        let (v4, v6) = (
            format!("{}/24", lab.client_v4()),
            format!("{}/64", lab.client_v6()),
        );
        sh(&["ip", "-n", &lab.ns_c, "addr", "add", &v4, "dev", &lab.if_c]);
        sh(&[
            "ip", "-n", &lab.ns_c, "addr", "add", &v6, "dev", &lab.if_c, "nodad",
        ]);
        for (ns, iface) in [(&lab.ns_c, &lab.if_c), (&lab.ns_s, &lab.if_s)] {
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", iface, "up"]);
        }
        // XDP redirect between CPUs on veth drops TCP with unfinished checksums
        sh(&[
            "ip", "netns", "exec", &lab.ns_c, "ethtool", "-K", &lab.if_c, "tx", "off",
        ]);
        lab
    }

    fn client_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 203, self.tag, 1)
    }

    fn owned_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 203, self.tag, 2)
    }

    fn client_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x203, u16::from(self.tag), 0, 0, 0, 0, 1)
    }

    fn owned_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x203, u16::from(self.tag), 0, 0, 0, 0, 2)
    }

    fn mac_c(&self) -> [u8; 6] {
        [0x02, 0, 0, 0x5a, self.tag, 0x0c]
    }

    fn mac_s(&self) -> [u8; 6] {
        [0x02, 0, 0, 0x5a, self.tag, 0x05]
    }

    /// A command in the client namespace.
    fn client(&self, args: &[&str]) -> Output {
        let mut all = vec!["ip", "netns", "exec", &self.ns_c];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The server kernel's SNMP counters (`/proc/net/snmp`), as "Ip.InReceives" -> n.
    fn server_snmp(&self) -> HashMap<String, u64> {
        let text = sh(&["ip", "netns", "exec", &self.ns_s, "cat", "/proc/net/snmp"]);
        let lines: Vec<&str> = text.lines().collect();
        let mut out = HashMap::new();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (Some((proto, names)), Some((_, values))) =
                (names.split_once(':'), values.split_once(':'))
            else {
                continue;
            };
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse() {
                    out.insert(format!("{proto}.{n}"), v);
                }
            }
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.ns_c, &self.ns_s] {
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

/// Starts `f` on a thread moved into network namespace `ns`.
fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
}

/// A thread in a namespace that runs until told to stop; stopped and joined on drop (also
/// when the test panics), its panic passed on by [`Worker::finish`].
struct Worker<T> {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<T>>,
}

impl<T> Worker<T> {
    fn finish(mut self) -> T {
        self.stop.store(true, Ordering::Release);
        let handle = self.handle.take().expect("joined once");
        handle
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Waits for the worker's set-up message; a set-up that panicked is passed on.
fn ready<T>(rx: &Receiver<String>, worker: Worker<T>) -> (String, Worker<T>) {
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(text) => (text, worker),
        Err(_) => {
            worker.finish();
            panic!("the server thread did not get ready within 30 s");
        }
    }
}

/// The XDP program on the server side: driver mode, redirect mode, MM1 on the owned
/// addresses' port 8514, both addresses owned.
fn server_program(lab_if: &str, owned: [IpAddr; 2]) -> XdpProgram {
    let rules = Rules {
        listeners: owned
            .iter()
            .map(|&a| Listener {
                addr: Some(a),
                port: MM1_PORT,
                class: Class::Mm1,
            })
            .collect(),
        mode: Mode::Redirect,
        ..Rules::default()
    };
    let options = XdpOptions {
        attach: AttachRequest::Driver,
        replace_foreign: false,
    };
    let mut xdp = XdpProgram::load_with(lab_if, &rules, &options).expect("load the XDP program");
    assert_eq!(xdp.mode(), AttachMode::Driver);
    xdp.set_owned_addresses(&owned)
        .expect("set the owned addresses");
    xdp
}

/// One HTTP connection of the server: the request so far, the answer and how much of it
/// is sent.
struct Conn {
    handle: SocketHandle,
    request: Vec<u8>,
    answer: Option<Vec<u8>>,
    sent: usize,
}

/// Largest request the test server takes.
const MAX_REQUEST: usize = 1 << 20;

/// The answer to a complete request: a fixed text for GET, the body echoed for POST.
fn answer(request: &[u8]) -> Option<Vec<u8>> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&request[..end]).ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let body = request.get(end..end + length)?;
    let body = if head.starts_with("POST ") {
        body.to_vec()
    } else {
        HELLO.as_bytes().to_vec()
    };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// What the server thread saw.
#[derive(Debug)]
struct ServerReport {
    answered: usize,
    device: XskStats,
    kernel: mmsc_afxdp::KernelStats,
    xdp: Counters,
}

/// The server: XDP program, AF_XDP socket on queue 0, smoltcp with the owned addresses and
/// an HTTP server on port 8514 (4 sockets, re-listening after each connection), until
/// `stop`. Sends a description of the set-up on `ready` first.
fn serve(
    if_s: String,
    mac: [u8; 6],
    owned: [IpAddr; 2],
    ready: std::sync::mpsc::Sender<String>,
    stop: Arc<AtomicBool>,
) -> ServerReport {
    let mut xdp = server_program(&if_s, owned);

    // zero-copy alone first, to report what the driver says; then the device, in Auto
    let zero_copy = XskConfig {
        bind: BindMode::ZeroCopy,
        ..XskConfig::default()
    };
    let zero_copy = match XskDevice::open(&if_s, 0, &zero_copy) {
        Ok(d) => format!("zero-copy bind accepted: {}", d.describe()),
        Err(AfXdpError::Bind {
            zero_copy: Some(e),
            copy: None,
            ..
        }) => format!("zero-copy bind refused: {e}"),
        Err(e) => panic!("zero-copy attempt: {e}"),
    };
    let mut device = XskDevice::open(&if_s, 0, &XskConfig::default()).expect("open the socket");
    if device.mode() == XskMode::Copy {
        assert!(device.zero_copy_refusal().is_some(), "Auto tried zero-copy");
    }
    device.register(&mut xdp).expect("register the socket");
    let described = format!("{}\n{zero_copy}", device.describe());

    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    config.random_seed = u64::from(std::process::id());
    let mut iface = Interface::new(config, &mut device, smoltcp::time::Instant::now());
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::from(owned[0]), 24))
            .expect("room for the IPv4 address");
        addrs
            .push(IpCidr::new(IpAddress::from(owned[1]), 64))
            .expect("room for the IPv6 address");
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut conns: Vec<Conn> = (0..4)
        .map(|_| {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; 64 * 1024]),
                tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            );
            s.listen(MM1_PORT).expect("listen");
            Conn {
                handle: sockets.add(s),
                request: Vec::new(),
                answer: None,
                sent: 0,
            }
        })
        .collect();
    ready.send(described).expect("tell the test");

    let mut answered = 0;
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Acquire) {
        let now = smoltcp::time::Instant::now();
        let mut work =
            iface.poll(now, &mut device, &mut sockets) != smoltcp::iface::PollResult::None;
        for c in &mut conns {
            let s = sockets.get_mut::<tcp::Socket<'_>>(c.handle);
            if !s.is_open() {
                // closed, or in TIME-WAIT after our close: take the next connection
                s.listen(MM1_PORT).expect("listen again");
                c.request.clear();
                c.answer = None;
                c.sent = 0;
                continue;
            }
            while s.can_recv() && c.request.len() < MAX_REQUEST {
                let n = s.recv_slice(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                c.request.extend_from_slice(&buf[..n]);
                work = true;
            }
            if c.answer.is_none() {
                c.answer = answer(&c.request);
            }
            if let Some(out) = &c.answer {
                if c.sent < out.len() && s.can_send() {
                    c.sent += s.send_slice(&out[c.sent..]).unwrap_or(0);
                    work = true;
                }
                if c.sent == out.len() && s.may_send() {
                    s.close();
                    answered += 1;
                }
            }
        }
        if work {
            iface.poll(now, &mut device, &mut sockets);
        }
        device.flush();
        if !work {
            let due = iface
                .poll_delay(smoltcp::time::Instant::now(), &sockets)
                .map_or(Duration::from_millis(2), |d| {
                    Duration::from_micros(d.total_micros())
                });
            let _ = device.wait(due.min(Duration::from_millis(2)));
        }
    }
    ServerReport {
        answered,
        device: device.stats(),
        kernel: device.kernel_stats().expect("XDP_STATISTICS"),
        xdp: xdp.counters().expect("counters"),
    }
}

fn start_server(lab: &Lab) -> (String, Worker<ServerReport>) {
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (if_s, mac) = (lab.if_s.clone(), lab.mac_s());
    let owned = [IpAddr::V4(lab.owned_v4()), IpAddr::V6(lab.owned_v6())];
    let flag = stop.clone();
    let handle = spawn_in_netns(&lab.ns_s, move || serve(if_s, mac, owned, tx, flag));
    ready(
        &rx,
        Worker {
            stop,
            handle: Some(handle),
        },
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A file removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn smoltcp_answers_arp_nd_ping_and_http_over_af_xdp_and_the_kernel_does_not() {
    require_root!();
    let lab = Lab::new(21);
    let (described, server) = start_server(&lab);
    eprintln!("server: {described}");
    let (v4, v6) = (lab.owned_v4().to_string(), lab.owned_v6().to_string());
    let snmp_before = lab.server_snmp();

    // ARP and ICMP echo (IPv4), neighbour discovery and ICMPv6 echo: smoltcp's answers
    for (family, addr) in [("-4", &v4), ("-6", &v6)] {
        let out = lab.client(&["ping", family, "-c", "3", "-i", "0.2", "-W", "2", addr]);
        if !out.status.success() {
            let report = server.finish();
            let neigh = sh(&["ip", "-n", &lab.ns_c, "neigh", "show"]);
            panic!(
                "ping {family} {addr}: {}\nclient neighbours: {neigh}\nserver: {report:#?}",
                text(&out)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("3 received"), "{stdout}");
    }
    let neigh = sh(&["ip", "-n", &lab.ns_c, "neigh", "show", "dev", &lab.if_c]);
    let mac = mac_text(lab.mac_s());
    for addr in [&v4, &v6] {
        assert!(
            neigh
                .lines()
                .any(|l| l.starts_with(&format!("{addr} ")) && l.contains(&mac)),
            "the client learnt {addr} at {mac} (ARP / neighbour advertisement): {neigh}"
        );
    }

    // TCP through the UMEM both ways: a GET per family, and a POST of 300 000 octets
    // echoed back
    for url in [
        format!("http://{v4}:{MM1_PORT}/"),
        format!("http://[{v6}]:{MM1_PORT}/"),
    ] {
        let out = lab.client(&["curl", "-sS", "-g", "--max-time", "10", &url]);
        assert!(out.status.success(), "GET {url}: {}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), HELLO, "GET {url}");
    }
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let file =
        TempFile(std::env::temp_dir().join(format!("mmsc-afxdp-{}-body", std::process::id())));
    std::fs::write(&file.0, &body).expect("write the body");
    let data = format!("@{}", file.0.display());
    let url = format!("http://{v4}:{MM1_PORT}/echo");
    let out = lab.client(&[
        "curl",
        "-sS",
        "--max-time",
        "20",
        "-H",
        "Expect:",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &data,
        &url,
    ]);
    assert!(
        out.status.success(),
        "POST: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), body.len(), "echoed body length");
    assert!(out.stdout == body, "echoed body differs");

    // the kernel saw none of it: no IP packet reached its stack, no echo reply, no RST
    let snmp = lab.server_snmp();
    let delta =
        |k: &str| snmp.get(k).copied().unwrap_or(0) - snmp_before.get(k).copied().unwrap_or(0);
    assert_eq!(delta("Ip.InReceives"), 0, "{snmp:?}");
    assert_eq!(delta("Icmp.OutEchoReps"), 0, "{snmp:?}");
    assert_eq!(delta("Icmp.OutMsgs"), 0, "{snmp:?}");
    assert_eq!(delta("Tcp.OutRsts"), 0, "{snmp:?}");
    assert_eq!(delta("Tcp.PassiveOpens"), 0, "{snmp:?}");

    // a port without a listener is passed to the kernel, which does not own the address:
    // silence (curl times out, 28), not a refusal (7); the kernel counted it and sent nothing
    let out = lab.client(&[
        "curl",
        "-sS",
        "--max-time",
        "1",
        &format!("http://{v4}:{}/", MM1_PORT + 1),
    ]);
    assert_eq!(out.status.code(), Some(28), "{}", text(&out));
    let after = lab.server_snmp();
    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - snmp.get(k).copied().unwrap_or(0);
    assert!(delta("Ip.InReceives") >= 1, "{after:?}");
    assert_eq!(delta("Tcp.OutRsts"), 0, "{after:?}");
    assert_eq!(
        after.get("Tcp.OutRsts").copied().unwrap_or(0),
        snmp_before.get("Tcp.OutRsts").copied().unwrap_or(0)
    );

    let report = server.finish();
    eprintln!("{report:#?}");
    assert_eq!(report.answered, 3, "{report:?}");
    let c = &report.xdp;
    // 2 ARP/ND exchanges at least, 6 echo requests, every TCP segment to 8514
    assert!(c.redirected_owned >= 8, "{c:?}");
    assert!(c.class(Class::Mm1).packets >= 3 * 3, "{c:?}");
    assert_eq!(
        c.redirected,
        c.redirected_owned + c.class(Class::Mm1).packets,
        "{c:?}"
    );
    assert_eq!(c.redirect_no_socket, 0, "{c:?}");
    let d = &report.device;
    assert_eq!(
        d.rx_frames, c.redirected,
        "every redirected frame reached smoltcp: {d:?}"
    );
    assert!(
        d.rx_bytes > body.len() as u64 && d.tx_bytes > body.len() as u64,
        "{d:?}"
    );
    assert_eq!(
        (d.rx_invalid, d.completion_invalid, d.tx_dropped),
        (0, 0, 0),
        "{d:?}"
    );
    assert_eq!(report.kernel.rx_dropped, 0, "{:?}", report.kernel);
    drop(lab);
}

/// Offset of the number in a smoke frame (Ethernet, IPv4, TCP, then the marker).
const SMOKE_NUMBER: usize = 54 + 17;

/// The test frame from the client to the server's MM1 port; the sender writes each frame's
/// number at [`SMOKE_NUMBER`] (the TCP checksum then no longer matches: nothing checks it,
/// the program and the device count frames).
fn smoke_frame(lab: &Lab) -> Vec<u8> {
    use mmsc_classify::TcpFlags;
    use mmsc_classify::build::FrameBuilder;
    let mut payload = b"mmsc-afxdp-smoke:".to_vec();
    payload.resize(64, 0);
    let mut f = FrameBuilder::tcp(
        IpAddr::V4(lab.client_v4()),
        40000,
        IpAddr::V4(lab.owned_v4()),
        MM1_PORT,
    )
    .flags(TcpFlags::ACK)
    .payload(&payload)
    .build();
    f[..6].copy_from_slice(&lab.mac_s());
    f[6..12].copy_from_slice(&lab.mac_c());
    f
}

#[test]
fn throughput_smoke_every_frame_sent_is_received() {
    require_root!();
    const FRAMES: u64 = 200_000;
    /// Frames in flight at most: under the veth's ring (256) and the socket's rings.
    const WINDOW: u64 = 128;
    let lab = Lab::new(22);
    let received = Arc::new(AtomicU64::new(0));

    // server: the program and a socket, counting the numbered frames in order
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let owned = [IpAddr::V4(lab.owned_v4()), IpAddr::V6(lab.owned_v6())];
    let (if_s, count, flag) = (lab.if_s.clone(), received.clone(), stop.clone());
    let handle = spawn_in_netns(&lab.ns_s, move || {
        let mut xdp = server_program(&if_s, owned);
        let mut device =
            XskDevice::open(&if_s, 0, &XskConfig::default()).expect("open the server socket");
        device.register(&mut xdp).expect("register");
        tx.send(device.describe()).expect("tell the test");
        let mut out_of_order = 0u64;
        while !flag.load(Ordering::Acquire) {
            let now = smoltcp::time::Instant::now();
            let mut got = false;
            while let Some((frame, _reply)) = device.receive(now) {
                got = true;
                frame.consume(|f| {
                    let Some(n) = f.get(SMOKE_NUMBER..SMOKE_NUMBER + 4) else {
                        return;
                    };
                    if f.get(54..54 + 17) == Some(&b"mmsc-afxdp-smoke:"[..]) {
                        let n = u32::from_be_bytes(n.try_into().unwrap_or_default());
                        let seen = count.load(Ordering::Relaxed);
                        if u64::from(n) != seen {
                            out_of_order += 1;
                        }
                        count.store(seen + 1, Ordering::Release);
                    }
                });
            }
            if !got {
                let _ = device.wait(Duration::from_millis(1));
            }
        }
        (
            device.stats(),
            device.kernel_stats().expect("XDP_STATISTICS"),
            xdp.counters().expect("counters"),
            out_of_order,
        )
    });
    let (described, server) = ready(
        &rx,
        Worker {
            stop,
            handle: Some(handle),
        },
    );
    eprintln!("server: {described}");

    // client: a socket on its side of the veth that only transmits (no program there)
    let frame = smoke_frame(&lab);
    let (if_c, count) = (lab.if_c.clone(), received.clone());
    let client = spawn_in_netns(&lab.ns_c, move || {
        let config = XskConfig {
            tx_kick_batch: 32,
            ..XskConfig::default()
        };
        let mut device = XskDevice::open(&if_c, 0, &config).expect("open the client socket");
        let described = device.describe();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        let mut sent = 0u64;
        while sent < FRAMES && Instant::now() < deadline {
            if sent - count.load(Ordering::Acquire) >= WINDOW {
                device.flush();
                std::thread::yield_now();
                continue;
            }
            let now = smoltcp::time::Instant::now();
            let Some(token) = device.transmit(now) else {
                device.flush();
                continue;
            };
            token.consume(frame.len(), |buf| {
                buf.copy_from_slice(&frame);
                buf[SMOKE_NUMBER..SMOKE_NUMBER + 4].copy_from_slice(&(sent as u32).to_be_bytes());
            });
            sent += 1;
        }
        device.flush();
        while count.load(Ordering::Acquire) < sent && Instant::now() < deadline {
            device.flush();
            std::thread::sleep(Duration::from_micros(100));
        }
        (sent, started.elapsed(), device.stats(), described)
    });
    let (sent, elapsed, client_stats, client_described) = client
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    let (stats, kernel, xdp, out_of_order) = server.finish();
    let got = received.load(Ordering::Acquire);
    let rate = got as f64 / elapsed.as_secs_f64();
    eprintln!("client: {client_described}\n{client_stats:?}");
    eprintln!(
        "throughput smoke: {sent} frames sent, {got} received in {elapsed:?} ({:.3} M frames/s \
         with at most {WINDOW} in flight, one veth, copy mode both ways); server {stats:?} \
         {kernel:?}; xdp redirected {}",
        rate / 1e6,
        xdp.redirected
    );
    assert_eq!(sent, FRAMES, "the client sent everything within 60 s");
    assert_eq!(got, FRAMES, "every frame arrived");
    assert_eq!(out_of_order, 0);
    assert_eq!(xdp.redirected, FRAMES);
    assert_eq!(stats.rx_frames, FRAMES);
    assert_eq!(client_stats.tx_frames, FRAMES);
    assert_eq!(client_stats.tx_dropped, 0);
    assert_eq!(kernel.rx_dropped, 0);
    drop(lab);
}
