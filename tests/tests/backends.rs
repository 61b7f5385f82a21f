//! The dataplane backends end to end, in network namespaces (ISSUE 4 item 4): the real
//! `mmsc serve` runs in a server namespace (`ip netns exec`), curl in a client namespace
//! submits a real m-send-req over a veth pair and gets m-send-conf Ok, and connection
//! attempts to the MM4 port show what the backend does with peers and non-peers.
//!
//! - `kernel`: the submit; MM4 is not served yet, so the kernel refuses every attempt (RST).
//! - `xdp`: the submit; a non-peer's SYNs to the MM4 port get no answer at all (dropped by
//!   the XDP program), a peer's reach the kernel (RST: nothing listens until the SMTP engine
//!   exists); `mmsc status` (run in the server namespace) counts exactly the segments the
//!   client's TCP stack sent (its own `/proc/net/snmp` counters), the drops, and the attach
//!   mode; SIGTERM detaches the program.
//! - start-up errors of `xdp`: a missing interface, no root.
//! - `dpdk`: DPDK in the server namespace on its veth end through `net_af_packet` (no
//!   hugepages, no PCI; one or two cores and queue pairs), smoltcp owning the server's
//!   address (the kernel there has none): the submit, ping, a non-peer's MM4 SYNs dropped by
//!   the classifier in front of the stack, a peer's reset by smoltcp; `mmsc status` counts
//!   the MM1 request, the client's segments (as frames of class MM1), the drops, the frames
//!   in and out of the stacks and of the port; 20 more submits on one connection give the
//!   latency figures; SIGTERM stops the cores, the port and the EAL.
//! - start-up errors of `dpdk`: lcore options in `dpdk_args`, a device that does not probe,
//!   an option the EAL refuses, fewer queue pairs than cores, no root.
//! - `afxdp`: smoltcp behind an AF_XDP socket owns the server's address (the server's kernel
//!   has none there): start-up refuses an address the kernel still has and more cores than
//!   the veth has queues; ping and the submit are answered by smoltcp, a non-peer's MM4 SYNs
//!   are dropped by the XDP program, a peer's are reset by smoltcp, and the server's kernel
//!   sees no TCP segment and no ICMP; `mmsc status` shows the XDP program's redirects (every
//!   one received by the socket), the socket's mode and counters, MM1 requests; SIGTERM
//!   stops the core and detaches the program.
//!
//! Each test has its own namespaces and veth pair ([`Lab`], pid and tag in the names,
//! `10.203.<tag>.0/24` inside them only), deleted at the end, also on panic. They need root
//! (and an `mmsc` built with `--features ebpf` for `xdp`, `--features dpdk` for `dpdk`,
//! `--features afxdp` for `afxdp`); without root they say so and return.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use mmsc_tests::mm1;
use mmsc_tests::netns::{IP_TIMEOUT, Lab, is_root};
use mmsc_tests::server::{Config, Mmsc, mmsc_bin, run_bounded};
use mmsc_tests::{TempFile, have_tool};
use mmsc_wire::mms::{MessageType, ResponseStatus};

const SENDER: &str = "+358401700001";
const RECIPIENT: &str = "+358401700002";
const MM1_PORT: u16 = 8514;
const MM4_PORT: u16 = 2525;
/// Connection attempts to MM4 from the non-peer.
const NON_PEER_ATTEMPTS: usize = 3;
/// How long one MM4 connection attempt waits for an answer: less than TCP's first SYN
/// retransmission timeout (1 s), so each attempt is one SYN (the counters check it).
const CONNECT_WAIT: Duration = Duration::from_millis(600);
/// How long counters may take to show traffic that was sent.
const SETTLE: Duration = Duration::from_secs(10);

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!(
                "skipped: the backend tests create network namespaces and load BPF programs; \
                 they need root"
            );
            return;
        }
        for tool in ["ip", "curl", "python3"] {
            assert!(have_tool(tool), "the backend tests need `{tool}` on PATH");
        }
    };
}

/// The configuration both backends share: MM1 on the server's address, the client's first
/// address a trusted proxy, MM4 on [`MM4_PORT`] with the client's second address a peer.
fn lab_config(lab: &Lab) -> Config {
    Config::new()
        .set(
            "mm1",
            "trusted_proxies",
            format!("[\"{}/32\"]", lab.client()),
        )
        .set_str(
            "mm4",
            "listen",
            &SocketAddr::new(lab.server().into(), MM4_PORT).to_string(),
        )
        .set("mm4", "peers", format!("[\"{}/32\"]", lab.client2()))
}

fn mm1_addr(lab: &Lab) -> SocketAddr {
    SocketAddr::new(lab.server().into(), MM1_PORT)
}

/// curl, in the client namespace from its first address, POSTs an m-send-req to mmsc;
/// checks the m-send-conf (Ok, the TID echoed) and returns the size of the PDU sent.
fn submit(lab: &Lab, mmsc: &Mmsc, tid: &str) -> usize {
    let req = mm1::send_req(
        tid,
        &[RECIPIENT],
        "over veth",
        false,
        mm1::sample_parts("hello from the other namespace", 6000, 7),
    );
    let pdu = mm1::encode(&req);
    let body = TempFile::new(".mms");
    std::fs::write(body.path(), &pdu).expect("write the m-send-req");
    let answer = TempFile::new(".conf");
    let url = format!("http://{}/mms", mm1_addr(lab));
    let data = format!("@{}", body.path().display());
    let msisdn = format!("X-MSISDN: {SENDER}");
    let source = lab.client().to_string();
    let out = answer.path().to_string_lossy().into_owned();
    let code = lab.client_sh(
        &[
            "curl",
            "-sS",
            "--max-time",
            "15",
            "--interface",
            &source,
            "--data-binary",
            &data,
            "-H",
            "Content-Type: application/vnd.wap.mms-message",
            "-H",
            &msisdn,
            "-o",
            &out,
            "-w",
            "%{http_code}",
            &url,
        ],
        Duration::from_secs(20),
    );
    assert_eq!(code, "200", "curl got HTTP {code}\n{}", mmsc.log());
    let conf = mm1::decode(&std::fs::read(answer.path()).expect("curl's output"));
    assert_eq!(conf.message_type, MessageType::SEND_CONF, "{conf:?}");
    assert_eq!(
        conf.response_status(),
        Some(ResponseStatus::OK),
        "m-send-conf {conf:?}"
    );
    assert_eq!(conf.transaction_id(), req.transaction_id());
    pdu.len()
}

/// What `n` TCP connection attempts from `src` to `dst` (python3 in the client namespace,
/// each waiting [`CONNECT_WAIT`]) got, and the segments the client's TCP stack sent for them
/// (all SYNs: checked against its OutSegs, ActiveOpens and TCPSynRetrans counters).
fn connect_attempts(lab: &Lab, src: IpAddr, dst: SocketAddr, n: usize) -> (Vec<String>, u64) {
    connect_attempts_waiting(lab, src, dst, n, CONNECT_WAIT)
}

/// [`connect_attempts`], each attempt waiting `wait` for an answer.
fn connect_attempts_waiting(
    lab: &Lab,
    src: IpAddr,
    dst: SocketAddr,
    n: usize,
    wait: Duration,
) -> (Vec<String>, u64) {
    const SCRIPT: &str = "import socket, sys\n\
        src, host, port, n, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])\n\
        for _ in range(n):\n\
        \x20   s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
        \x20   s.bind((src, 0))\n\
        \x20   s.settimeout(wait)\n\
        \x20   try:\n\
        \x20       s.connect((host, port))\n\
        \x20       print('connected')\n\
        \x20   except socket.timeout:\n\
        \x20       print('timeout')\n\
        \x20   except ConnectionRefusedError:\n\
        \x20       print('refused')\n\
        \x20   except OSError as e:\n\
        \x20       print('error-%d' % e.errno)\n\
        \x20   finally:\n\
        \x20       s.close()\n";
    let segs = lab.client_tcp_counter("OutSegs");
    let opens = lab.client_tcp_counter("ActiveOpens");
    let retrans = lab.client_tcp_counter("TCPSynRetrans");
    let out = lab.client_sh(
        &[
            "python3",
            "-c",
            SCRIPT,
            &src.to_string(),
            &dst.ip().to_string(),
            &dst.port().to_string(),
            &n.to_string(),
            &wait.as_secs_f64().to_string(),
        ],
        IP_TIMEOUT + wait * n as u32,
    );
    let outcomes: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(outcomes.len(), n, "{out}");
    // OutSegs leaves retransmissions out: the new segments are the first SYNs, and the
    // SYNs sent again are in TCPSynRetrans.
    let new_segs = lab.client_tcp_counter("OutSegs") - segs;
    let first_syns = lab.client_tcp_counter("ActiveOpens") - opens;
    let syns_again = lab.client_tcp_counter("TCPSynRetrans") - retrans;
    assert_eq!(
        new_segs, first_syns,
        "every segment the attempts sent is a SYN"
    );
    (outcomes, first_syns + syns_again)
}

/// Polls `mmsc status` until `done` holds (at most [`SETTLE`]); returns the last status.
fn status_when(mmsc: &Mmsc, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let s = mmsc.status();
        if done(&s) || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kernel_backend_over_veth() {
    require_root!();
    let lab = Lab::new(201);
    let cfg = lab_config(&lab).set_str("dataplane", "backend", "kernel");
    let mut mmsc = Mmsc::start_in_netns(cfg, &lab.server_ns, mm1_addr(&lab));

    submit(&lab, &mmsc, "kernel-1");
    // No classifier: the kernel answers every MM4 attempt itself (nothing listens yet).
    let mm4 = SocketAddr::new(lab.server().into(), MM4_PORT);
    let (outcomes, _) = connect_attempts(&lab, lab.client().into(), mm4, 1);
    assert_eq!(outcomes, ["refused"], "non-peer, kernel backend");
    let (outcomes, _) = connect_attempts(&lab, lab.client2().into(), mm4, 1);
    assert_eq!(outcomes, ["refused"], "peer, kernel backend");

    let s = status_when(&mmsc, |s| s["messages"]["accepted"] == 1);
    assert_eq!(s["messages"]["accepted"], 1, "{s:#}");
    assert_eq!(s["mm1"]["requests"]["0"], 1, "{s:#}");
    assert!(
        s["dataplane"]["cores"]["kernel"].as_u64() >= Some(1),
        "{s:#}"
    );
    assert!(s.get("xdp").is_none(), "no XDP counters with kernel: {s:#}");
    let stats = mmsc.stop();
    assert_eq!(stats.accepted, 1);
    assert!(!lab.server_link().contains("prog/xdp"));
}

/// Panics unless the `mmsc` under test can run `backend` (`mmsc --version` lists the
/// backends of its build, e.g. "(backends: kernel, xdp, dpdk)"), built with cargo feature
/// `feature`: a test that cannot test what it claims must not pass.
fn require_backend(backend: &str, feature: &str) {
    let (ok, out, err) = run_bounded(
        std::process::Command::new(mmsc_bin()).arg("--version"),
        IP_TIMEOUT,
    );
    let version = String::from_utf8_lossy(&out);
    assert!(ok, "mmsc --version: {err}");
    let listed = version.split("backends:").nth(1).is_some_and(|l| {
        l.trim()
            .trim_end_matches(')')
            .split(", ")
            .any(|b| b == backend)
    });
    assert!(
        listed,
        "{} has no backend {backend} ({}): build it with `cargo build --locked -p mmsc \
         --features {feature}` (scripts/test does)",
        mmsc_bin().display(),
        version.trim()
    );
}

#[test]
fn xdp_backend_over_veth() {
    require_root!();
    require_backend("xdp", "ebpf");
    let lab = Lab::new(202);
    // Checksum offload off on the sending side: needed on veth only for XDP redirects
    // between CPUs (afxdp), harmless here; it also makes every TCP segment its own frame.
    mmsc_tests::netns::sh(&[
        "ip",
        "netns",
        "exec",
        &lab.client_ns,
        "ethtool",
        "-K",
        &lab.client_if,
        "tx",
        "off",
    ]);
    let cfg = lab_config(&lab)
        .set_str("dataplane", "backend", "xdp")
        .set_str("dataplane", "interface", &lab.server_if)
        // Two reactors: the SK_REUSEPORT program spreads connections over both listeners.
        .set("dataplane", "cores", "[0, 1]")
        .set("dataplane", "syn_rate_per_source", "100")
        .set("dataplane", "syn_burst", "50");
    let mut mmsc = Mmsc::start_in_netns(cfg, &lab.server_ns, mm1_addr(&lab));
    let log = mmsc.log();
    let attached = log
        .lines()
        .find(|l| l.starts_with("mmsc: xdp: mmsc_xdp attached to "))
        .unwrap_or_else(|| panic!("no attach line in the log:\n{log}"));
    let mode = if attached.contains(" in driver mode ") {
        "driver"
    } else {
        assert!(attached.contains(" in generic mode "), "{attached}");
        "generic"
    };
    eprintln!("xdp attach mode on veth: {mode} ({attached})");
    let link = lab.server_link();
    assert!(link.contains("prog/xdp id "), "{link}");

    // MM1: the submit, and every segment the client sent for it counted as MM1.
    let segs_before = lab.client_tcp_counter("OutSegs");
    let pdu_len = submit(&lab, &mmsc, "xdp-1");
    let deadline = Instant::now() + SETTLE;
    let (mm1_segs, s) = loop {
        // The client's last ACK may follow curl's exit: wait until both sides agree.
        let segs = lab.client_tcp_counter("OutSegs") - segs_before;
        let s = mmsc.status();
        if s["xdp"]["packets"]["mm1"] == segs || Instant::now() >= deadline {
            break (segs, s);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(s["xdp"]["packets"]["mm1"], mm1_segs, "{s:#}");
    // SYN, the request in segments of at most one MSS, ACKs, FIN.
    assert!(mm1_segs >= 4, "{mm1_segs} segments");
    assert!(
        s["xdp"]["bytes"]["mm1"].as_u64() > Some(pdu_len as u64),
        "{s:#}"
    );

    // MM4 from a non-peer: no answer at all, every SYN dropped by the XDP program.
    let mm4 = SocketAddr::new(lab.server().into(), MM4_PORT);
    let (outcomes, non_peer_syns) =
        connect_attempts(&lab, lab.client().into(), mm4, NON_PEER_ATTEMPTS);
    assert_eq!(outcomes, ["timeout"; NON_PEER_ATTEMPTS], "non-peer");
    assert!(non_peer_syns >= NON_PEER_ATTEMPTS as u64);
    // From the peer: the SYN reaches the kernel, which refuses it (no SMTP engine yet).
    let (outcomes, peer_syns) = connect_attempts(&lab, lab.client2().into(), mm4, 1);
    assert_eq!(outcomes, ["refused"], "peer");

    let s = status_when(&mmsc, |s| {
        s["xdp"]["packets"]["mm4"] == non_peer_syns + peer_syns && s["messages"]["accepted"] == 1
    });
    let x = &s["xdp"];
    assert_eq!(x["dropped"]["not_peer"], non_peer_syns, "{s:#}");
    assert_eq!(x["packets"]["mm4"], non_peer_syns + peer_syns, "{s:#}");
    assert_eq!(x["packets"]["mm1"], mm1_segs, "nothing more for MM1: {s:#}");
    assert_eq!(x["dropped"]["syn_rate"], 0, "{s:#}");
    assert_eq!(x["slow_path"], 0, "{s:#}");
    assert_eq!(x["malformed"], 0, "{s:#}");
    assert_eq!(x["redirected"], 0, "pass mode: {s:#}");
    for class in ["mm7", "mm3"] {
        assert_eq!(x["packets"][class], 0, "{s:#}");
    }
    // ARP at least, counted as a frame that is not IP.
    assert!(x["packets"]["other"].as_u64() >= Some(1), "{s:#}");
    assert!(x["unclassified"]["not_ip"].as_u64() >= Some(1), "{s:#}");
    assert_eq!(x["attached"][&lab.server_if][mode], 1, "{s:#}");
    assert!(x["program_id"].as_u64() > Some(0), "{s:#}");
    assert_eq!(s["dataplane"]["cores"]["xdp"], 2, "{s:#}");
    assert_eq!(s["dataplane"]["steered_cores"], 2, "{s:#}");
    let requests: u64 = ["0", "1"]
        .iter()
        .filter_map(|c| s["mm1"]["requests"][c].as_u64())
        .sum();
    assert_eq!(requests, 1, "{s:#}");
    assert_eq!(s["messages"]["accepted"], 1, "{s:#}");
    eprintln!(
        "xdp counters: mm1 {} packets / {} octets, mm4 {} packets, not_peer drops {}, other {}",
        x["packets"]["mm1"],
        x["bytes"]["mm1"],
        x["packets"]["mm4"],
        x["dropped"]["not_peer"],
        x["packets"]["other"]
    );

    // SIGTERM: a clean stop detaches the program.
    let stats = mmsc.stop();
    assert_eq!(stats.accepted, 1);
    assert!(
        mmsc.log()
            .contains(&format!("mmsc: xdp: detached from {}", lab.server_if)),
        "{}",
        mmsc.log()
    );
    let link = lab.server_link();
    assert!(
        !link.contains("prog/xdp"),
        "still attached after the stop: {link}"
    );
}

#[test]
fn xdp_backend_start_up_errors() {
    require_root!();
    require_backend("xdp", "ebpf");
    let lab = Lab::new(203);
    let dir = mmsc_tests::TempDir::new("mmsc-tests-backends");
    let bin = mmsc_bin();
    let bin = bin.to_string_lossy();
    let serve = |iface: &str, as_nobody: bool| {
        let config = dir.path().join(format!("{iface}-{as_nobody}.toml"));
        // A store the unprivileged user may write: the XDP program is loaded after it opens.
        let store = dir.path().join(format!("store-{iface}-{as_nobody}"));
        std::fs::create_dir(&store).expect("create the store directory");
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777))
            .expect("chmod the store directory");
        let text = format!(
            "[mm1]\nlisten = \"{}\"\n[store]\npath = \"{}\"\n[admin]\nlisten = \"\"\n\
             [dataplane]\nbackend = \"xdp\"\ninterface = \"{iface}\"\n",
            mm1_addr(&lab),
            store.display()
        );
        std::fs::write(&config, text).expect("write the configuration");
        let config = config.to_string_lossy().into_owned();
        let mut args = Vec::new();
        if as_nobody {
            args.extend([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]);
        }
        args.extend([&*bin, "serve", "--config", &config]);
        let (ok, _, err) = lab.exec(&lab.server_ns, &args, Duration::from_secs(20));
        assert!(!ok, "mmsc serve started with {args:?}: {err}");
        err
    };
    let err = serve("nosuch0", false);
    assert!(
        err.contains("cannot attach the XDP program to interface \"nosuch0\"")
            && err.contains("network interface \"nosuch0\" not found"),
        "{err}"
    );
    if have_tool("setpriv") {
        let err = serve(&lab.server_if, true);
        assert!(
            err.contains("no permission") && err.contains("root"),
            "{err}"
        );
    } else {
        eprintln!("setpriv is not installed: the start without root is not checked");
    }
    let link = lab.server_link();
    assert!(!link.contains("prog/xdp"), "{link}");
}

/// The CPUs this process may run on (DPDK pins its lcores: a CPU outside the allowed set is
/// an EAL error), from `/proc/self/status`.
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("0");
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            cpus.extend(a..=b);
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

/// `[dataplane] dpdk_args` for DPDK without hugepages or PCI, on `iface` through AF_PACKET
/// with `queues` queue pairs.
fn dpdk_args(iface: &str, queues: usize) -> String {
    format!(
        "[\"--no-huge\", \"--no-pci\", \"--no-shconf\", \"--no-telemetry\", \"-m\", \"128\", \
         \"--vdev=net_af_packet0,iface={iface},qpairs={queues}\"]"
    )
}

/// The sum of a per-core counter of `mmsc status` (`{"0": 3, "1": 4}`).
fn all_cores(v: &serde_json::Value) -> u64 {
    v.as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
        .unwrap_or(0)
}

/// curl in the client namespace POSTs the same m-send-req (transaction `tid`, parts from
/// `seed`) `n` times over one connection (keep-alive); returns each transfer's total time
/// (seconds), after checking every answer is HTTP 200.
fn submit_times(lab: &Lab, tid: &str, seed: u64, n: usize) -> Vec<f64> {
    let req = mm1::send_req(
        tid,
        &[RECIPIENT],
        "latency",
        false,
        mm1::sample_parts("timed", 2000, seed),
    );
    let body = TempFile::new(".mms");
    std::fs::write(body.path(), mm1::encode(&req)).expect("write the m-send-req");
    let url = format!("http://{}/mms", mm1_addr(lab));
    let data = format!("@{}", body.path().display());
    let msisdn = format!("X-MSISDN: {SENDER}");
    let source = lab.client().to_string();
    let mut args: Vec<&str> = vec![
        "curl",
        "-sS",
        "--max-time",
        "15",
        "--interface",
        &source,
        "-H",
        "Content-Type: application/vnd.wap.mms-message",
        "-H",
        &msisdn,
        "--data-binary",
        &data,
        "-w",
        "%{http_code} %{time_total}\\n",
    ];
    for _ in 0..n {
        args.extend(["-o", "/dev/null", &url]);
    }
    let out = lab.client_sh(&args, Duration::from_secs(20));
    let times: Vec<f64> = out
        .lines()
        .map(|l| {
            let (code, t) = l.split_once(' ').unwrap_or((l, ""));
            assert_eq!(code, "200", "{out}");
            t.parse().unwrap_or_else(|_| panic!("curl time {t:?}"))
        })
        .collect();
    assert_eq!(times.len(), n, "{out}");
    times
}

#[test]
fn dpdk_backend_over_veth() {
    require_root!();
    require_backend("dpdk", "dpdk");
    for tool in ["ping", "ethtool"] {
        assert!(
            have_tool(tool),
            "the dpdk backend test needs `{tool}` on PATH"
        );
    }
    let lab = Lab::new(204);
    // smoltcp over DPDK owns the server's address; the kernel there keeps quiet.
    lab.hand_server_side_to_user_space();
    // Two cores (two queue pairs, AF_PACKET fanout spreading the flows) where the machine
    // allows: the client's flows may land on either, whose stacks share the address.
    let cpus: Vec<usize> = allowed_cpus().into_iter().take(2).collect();
    let cores = cpus.len();
    let cpu_list: Vec<String> = cpus.iter().map(ToString::to_string).collect();
    let cfg = lab_config(&lab)
        .set_str("dataplane", "backend", "dpdk")
        .set("dataplane", "cores", format!("[{}]", cpu_list.join(", ")))
        .set_str("dataplane", "address", &format!("{}/24", lab.server()))
        .set("dataplane", "dpdk_args", dpdk_args(&lab.server_if, cores))
        .set("dataplane", "syn_rate_per_source", "100")
        .set("dataplane", "syn_burst", "50")
        .set("dataplane", "dpdk_descriptors", "512");
    let mut mmsc = Mmsc::start_in_netns(cfg, &lab.server_ns, mm1_addr(&lab));
    let log = mmsc.log();
    let port_line = log
        .lines()
        .find(|l| l.starts_with("mmsc: dpdk: port "))
        .unwrap_or_else(|| panic!("no port line in the log:\n{log}"));
    assert!(port_line.contains("(net_af_packet0)"), "{port_line}");
    // 512 descriptors per ring: a pool of 4095 mbufs for one or two queues (8191 or 16383
    // with the default 2048).
    assert!(port_line.contains(", 4095 mbufs;"), "{port_line}");
    assert!(
        log.contains("idle cores sleep in poll(2) on the port's"),
        "the cores of a net_af_packet port sleep on its sockets:\n{log}"
    );
    assert!(
        port_line.contains(&format!("smoltcp owns {}/24", lab.server())),
        "{port_line}"
    );

    // MM1: the submit, every segment the client sent for it seen by the classifier as MM1.
    let segs_before = lab.client_tcp_counter("OutSegs");
    let retrans_before = lab.client_tcp_counter("RetransSegs");
    let started = Instant::now();
    let pdu_len = submit(&lab, &mmsc, "dpdk-1");
    let first_submit = started.elapsed();
    let deadline = Instant::now() + SETTLE;
    let (mm1_segs, retrans, s) = loop {
        // The client's last ACK may follow curl's exit: wait until both sides agree.
        let segs = lab.client_tcp_counter("OutSegs") - segs_before;
        let retrans = lab.client_tcp_counter("RetransSegs") - retrans_before;
        let s = mmsc.status();
        let seen = s["dpdk"]["classifier"]["packets"]["mm1"].as_u64();
        if seen >= Some(segs) || Instant::now() >= deadline {
            break (segs, retrans, s);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let seen = s["dpdk"]["classifier"]["packets"]["mm1"]
        .as_u64()
        .unwrap_or_else(|| panic!("no dpdk classifier counters: {s:#}"));
    // Retransmitted segments are frames too, but not in OutSegs.
    assert!(
        (mm1_segs..=mm1_segs + retrans).contains(&seen),
        "{seen} MM1 frames for {mm1_segs} segments ({retrans} retransmitted): {s:#}"
    );
    assert!(mm1_segs >= 4, "{mm1_segs} segments");

    // smoltcp answers ping.
    let ping = lab.ping_server();
    assert!(ping.contains("3 received"), "{ping}");

    // MM4 from a non-peer: no answer at all, every SYN dropped by the classifier in front of
    // the stack; from the peer: smoltcp resets it (nothing listens until the SMTP engine).
    let mm4 = SocketAddr::new(lab.server().into(), MM4_PORT);
    let (outcomes, non_peer_syns) =
        connect_attempts(&lab, lab.client().into(), mm4, NON_PEER_ATTEMPTS);
    assert_eq!(outcomes, ["timeout"; NON_PEER_ATTEMPTS], "non-peer");
    assert!(non_peer_syns >= NON_PEER_ATTEMPTS as u64);
    // The peer's address has sent smoltcp nothing yet: smoltcp answers its first SYN with an
    // ARP request instead of the RST (an answer made while the frame is processed finds no
    // neighbour; the stack gleans the sender's MAC just after), and resets the SYN the
    // client retransmits after 1 s. Hence a longer wait here.
    let (outcomes, peer_syns) =
        connect_attempts_waiting(&lab, lab.client2().into(), mm4, 1, Duration::from_secs(3));
    assert_eq!(outcomes, ["refused"], "peer");
    assert!(peer_syns <= 2, "{peer_syns} SYNs from the peer");

    let s = status_when(&mmsc, |s| {
        s["dpdk"]["classifier"]["packets"]["mm4"] == non_peer_syns + peer_syns
            && s["messages"]["accepted"] == 1
    });
    let d = &s["dpdk"];
    let c = &d["classifier"];
    assert_eq!(s["messages"]["accepted"], 1, "{s:#}");
    assert_eq!(all_cores(&s["mm1"]["requests"]), 1, "{s:#}");
    assert_eq!(all_cores(&s["mm1"]["connections_accepted"]), 1, "{s:#}");
    assert_eq!(s["dataplane"]["cores"]["dpdk"], cores, "{s:#}");
    assert_eq!(d["port"]["queues"], cores, "{s:#}");
    assert_eq!(c["packets"]["mm4"], non_peer_syns + peer_syns, "{s:#}");
    assert_eq!(c["dropped"]["not_peer"], non_peer_syns, "{s:#}");
    assert_eq!(c["dropped"]["syn_rate"], 0, "{s:#}");
    assert_eq!(all_cores(&d["frames_filtered"]), non_peer_syns, "{s:#}");
    assert_eq!(c["packets"]["mm1"], seen, "nothing more for MM1: {s:#}");
    let frames_in = all_cores(&d["frames_in"]);
    let frames_out = all_cores(&d["frames_out"]);
    // The client's MM1 and MM4 segments, 3 echo requests, ARP at least.
    assert!(
        frames_in > mm1_segs + non_peer_syns + peer_syns + 3,
        "frames in {frames_in}: {s:#}"
    );
    // The submit's answers, 3 echo replies, an ARP reply, the peer's RST at least.
    assert!(frames_out > 5, "{s:#}");
    assert!(all_cores(&d["neighbors_learnt"]) >= 1, "{s:#}");
    let port = &d["port"];
    assert!(port["rx_packets"].as_u64() >= Some(frames_in), "{s:#}");
    assert!(port["tx_packets"].as_u64() >= Some(frames_out), "{s:#}");
    assert_eq!(
        port["info"]["net_af_packet0"].as_object().map(|m| m.len()),
        Some(1),
        "{s:#}"
    );
    assert_eq!(all_cores(&d["tx_dropped"]), 0, "{s:#}");

    // A few submits over one connection, for the figures.
    let times = submit_times(&lab, "dpdk-timed", 11, 20);
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "dpdk: first submit ({pdu_len} octets, ARP, handshake, {mm1_segs} segments) {:.1} ms \
         from the test; 20 submits on one connection: median {:.2} ms, max {:.2} ms (curl \
         time_total); {cores} core(s), frames in {frames_in}, out {frames_out}, port rx {} tx {}, \
         non-peer SYNs dropped {non_peer_syns}, peer SYNs {peer_syns}",
        first_submit.as_secs_f64() * 1e3,
        sorted[sorted.len() / 2] * 1e3,
        sorted[sorted.len() - 1] * 1e3,
        port["rx_packets"],
        port["tx_packets"],
    );

    // SIGTERM: cores stopped, port closed, EAL cleaned up.
    let stats = mmsc.stop();
    assert_eq!(stats.accepted, 21);
    assert!(
        mmsc.log()
            .contains(&format!("mmsc: dpdk: stopped: {cores} core(s) ended")),
        "{}",
        mmsc.log()
    );
}

#[test]
fn dpdk_backend_start_up_errors() {
    require_root!();
    require_backend("dpdk", "dpdk");
    let lab = Lab::new(205);
    lab.hand_server_side_to_user_space();
    let dir = mmsc_tests::TempDir::new("mmsc-tests-backends");
    let bin = mmsc_bin();
    let bin = bin.to_string_lossy();
    let cpus = allowed_cpus();
    let serve_on = |name: &str, cores: &[usize], dpdk_args: &str, as_nobody: bool| {
        let cores: Vec<String> = cores.iter().map(ToString::to_string).collect();
        let cores = cores.join(", ");
        let config = dir.path().join(format!("{name}.toml"));
        // A store the unprivileged user may write: DPDK starts after it opens.
        let store = dir.path().join(format!("store-{name}"));
        std::fs::create_dir(&store).expect("create the store directory");
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777))
            .expect("chmod the store directory");
        let text = format!(
            "[mm1]\nlisten = \"{}\"\n[store]\npath = \"{}\"\n[admin]\nlisten = \"\"\n\
             [dataplane]\nbackend = \"dpdk\"\ncores = [{cores}]\naddress = \"{}/24\"\n\
             dpdk_args = {dpdk_args}\n",
            mm1_addr(&lab),
            store.display(),
            lab.server(),
        );
        std::fs::write(&config, text).expect("write the configuration");
        let config = config.to_string_lossy().into_owned();
        let mut args = Vec::new();
        if as_nobody {
            args.extend([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ]);
        }
        args.extend([&*bin, "serve", "--config", &config]);
        let (ok, _, err) = lab.exec(&lab.server_ns, &args, Duration::from_secs(20));
        assert!(!ok, "mmsc serve started with {args:?}: {err}");
        eprintln!("start-up error {name}: {}", err.trim());
        err
    };
    let serve = |name: &str, dpdk_args: &str, as_nobody: bool| {
        serve_on(name, &cpus[..1], dpdk_args, as_nobody)
    };
    // A device that does not probe: no port.
    let err = serve("noport", &dpdk_args("nosuch0", 1), false);
    assert!(err.contains("backend dpdk: no DPDK port"), "{err}");
    // Lcores chosen in dpdk_args.
    let err = serve("lcores", "[\"--no-huge\", \"-l\", \"0\"]", false);
    assert!(
        err.contains("dataplane.dpdk_args[1] \"-l\"") && err.contains("dataplane.cores"),
        "{err}"
    );
    // An option the EAL does not know: its failure, with DPDK's message.
    let err = serve(
        "badarg",
        "[\"--no-huge\", \"--no-pci\", \"--no-such-eal-option\"]",
        false,
    );
    assert!(
        err.contains("the DPDK EAL did not start") && err.contains("rte_eal_init failed"),
        "{err}"
    );
    // Two cores on a port with one queue pair.
    if cpus.len() >= 2 {
        let err = serve_on("queues", &cpus[..2], &dpdk_args(&lab.server_if, 1), false);
        assert!(
            err.contains("with 2 queue pair(s), one per dataplane core")
                && err.contains("at most 1 queue pairs"),
            "{err}"
        );
    }
    if have_tool("setpriv") {
        let err = serve("nobody", &dpdk_args(&lab.server_if, 1), true);
        assert!(err.contains("not root"), "{err}");
    } else {
        eprintln!("setpriv is not installed: the start without root is not checked");
    }
}

/// A counter of the server namespace's kernel from `/proc/net/snmp` (`prefix` `Tcp:`,
/// `Icmp:`, `Ip:`).
fn afxdp_server_snmp(lab: &Lab, prefix: &str, name: &str) -> u64 {
    let (ok, out, err) = lab.exec(&lab.server_ns, &["cat", "/proc/net/snmp"], IP_TIMEOUT);
    assert!(ok, "cat /proc/net/snmp in {}: {err}", lab.server_ns);
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    if let [names, values] = lines[..] {
        let names = names.split_whitespace().skip(1);
        let values = values.split_whitespace().skip(1);
        if let Some((_, v)) = names.zip(values).find(|(n, _)| *n == name) {
            return v
                .parse()
                .unwrap_or_else(|_| panic!("{prefix} {name} = {v:?}"));
        }
    }
    panic!("no {prefix} {name} in the server's /proc/net/snmp:\n{text}")
}

#[test]
fn afxdp_backend_over_veth() {
    require_root!();
    require_backend("afxdp", "afxdp");
    let lab = Lab::new(206);
    let cfg = lab_config(&lab)
        .set_str("dataplane", "backend", "afxdp")
        .set_str("dataplane", "interface", &lab.server_if)
        .set_str("dataplane", "address", &format!("{}/24", lab.server()))
        // veth has one receive queue: one core, on queue 0.
        .set("dataplane", "cores", "[0]")
        .set_str("dataplane", "xdp_mode", "driver")
        .set("dataplane", "syn_rate_per_source", "100")
        .set("dataplane", "syn_burst", "50");

    // Start-up errors, while the server's kernel still has the address and with more cores
    // than the veth has queues: refused with the reason, nothing left attached.
    let dir = mmsc_tests::TempDir::new("mmsc-tests-backends");
    let refused = |name: &str, cfg: Config| {
        let path = dir.path().join(format!("{name}.toml"));
        let store = dir.path().join(format!("store-{name}"));
        let cfg = cfg
            .set_str("mm1", "listen", &mm1_addr(&lab).to_string())
            .set_str("store", "path", &store.to_string_lossy())
            .set_str("admin", "listen", "");
        std::fs::write(&path, cfg.to_toml()).expect("write the configuration");
        let bin = mmsc_bin();
        let (ok, _, err) = lab.exec(
            &lab.server_ns,
            &[
                &*bin.to_string_lossy(),
                "serve",
                "--config",
                &path.to_string_lossy(),
            ],
            Duration::from_secs(20),
        );
        assert!(!ok, "mmsc serve started ({name}): {err}");
        eprintln!("start-up error {name}: {}", err.trim());
        err
    };
    let err = refused("kernel-owns", cfg.clone());
    assert!(
        err.contains(&format!(
            "dataplane.address {} is configured on this host's kernel",
            lab.server()
        )),
        "{err}"
    );

    // smoltcp over AF_XDP owns the server's address; the kernel there has none on the veth
    // (nor IPv6), and the client computes its TCP checksums itself (`ethtool -K CLIENT tx
    // off`: XDP redirects on a veth hand the socket the segments as the client wrote them).
    let ns = &lab.server_ns;
    let addr = format!("{}/24", lab.server());
    mmsc_tests::netns::sh(&["ip", "-n", ns, "addr", "del", &addr, "dev", &lab.server_if]);
    mmsc_tests::netns::sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "sysctl",
        "-q",
        "-w",
        &format!("net.ipv6.conf.{}.disable_ipv6=1", lab.server_if),
    ]);
    mmsc_tests::netns::sh(&[
        "ip",
        "netns",
        "exec",
        &lab.client_ns,
        "ethtool",
        "-K",
        &lab.client_if,
        "tx",
        "off",
    ]);
    let err = refused("two-cores", cfg.clone().set("dataplane", "cores", "[0, 1]"));
    assert!(
        err.contains(&format!(
            "interface {} has 1 receive queue(s) and there are 2 dataplane core(s)",
            lab.server_if
        )) && err.contains(&format!("ethtool -L {} combined 2", lab.server_if)),
        "{err}"
    );
    assert!(!lab.server_link().contains("prog/xdp"));

    let kernel_tcp_in = afxdp_server_snmp(&lab, "Tcp:", "InSegs");
    let kernel_rsts = afxdp_server_snmp(&lab, "Tcp:", "OutRsts");
    let kernel_icmp_in = afxdp_server_snmp(&lab, "Icmp:", "InMsgs");
    let mut mmsc = Mmsc::start_in_netns(cfg, &lab.server_ns, mm1_addr(&lab));
    let log = mmsc.log();
    let attached = log
        .lines()
        .find(|l| l.starts_with("mmsc: afxdp: mmsc_xdp attached to "))
        .unwrap_or_else(|| panic!("no attach line in the log:\n{log}"));
    assert!(
        attached.contains(&format!(
            "attached to {} in driver mode (program id ",
            lab.server_if
        )) && attached.contains(&format!("smoltcp owns {}/24", lab.server())),
        "{attached}"
    );
    let socket = log
        .lines()
        .find(|l| l.starts_with("mmsc: afxdp: core 0 on CPU 0: "))
        .unwrap_or_else(|| panic!("no socket line in the log:\n{log}"));
    // veth has no AF_XDP zero-copy: copy mode, and why.
    assert!(
        socket.contains("copy mode (zero-copy refused: ")
            && socket.contains("the driver has no AF_XDP zero-copy"),
        "{socket}"
    );
    assert!(
        socket.contains(" on 2 MiB hugepages") || socket.contains(" on normal pages"),
        "{socket}"
    );
    eprintln!("{attached}\n{socket}");
    assert!(lab.server_link().contains("prog/xdp id "));

    // smoltcp answers ARP and ping for its address.
    let ping = lab.ping_server();
    assert!(ping.contains("3 received"), "{ping}");

    // MM1: the submit.
    let segs_before = lab.client_tcp_counter("OutSegs");
    let retrans_before = lab.client_tcp_counter("RetransSegs");
    let started = Instant::now();
    let pdu_len = submit(&lab, &mmsc, "afxdp-1");
    let first_submit = started.elapsed();
    // The client's last ACK may follow curl's exit.
    std::thread::sleep(Duration::from_millis(200));
    let mm1_segs = lab.client_tcp_counter("OutSegs") - segs_before;
    let retrans = lab.client_tcp_counter("RetransSegs") - retrans_before;

    // MM4 from a non-peer: no answer at all, every SYN dropped by the XDP program. From the
    // peer: smoltcp resets it, nothing listens there. The peer's address has sent smoltcp
    // nothing yet, and smoltcp answers a first frame from an unknown neighbour with an ARP
    // request instead (the stack gleans the sender's MAC just after): a ping from that
    // address first (its first echo may go unanswered that way) makes the RST immediate.
    let mm4 = SocketAddr::new(lab.server().into(), MM4_PORT);
    let (outcomes, non_peer_syns) =
        connect_attempts(&lab, lab.client().into(), mm4, NON_PEER_ATTEMPTS);
    assert_eq!(outcomes, ["timeout"; NON_PEER_ATTEMPTS], "non-peer");
    assert!(non_peer_syns >= NON_PEER_ATTEMPTS as u64);
    let ping = lab.client_sh(
        &[
            "ping",
            "-n",
            "-c",
            "2",
            "-i",
            "0.3",
            "-W",
            "2",
            "-I",
            &lab.client2().to_string(),
            &lab.server().to_string(),
        ],
        Duration::from_secs(10),
    );
    assert!(
        ping.contains(" 1 received") || ping.contains(" 2 received"),
        "{ping}"
    );
    let (outcomes, peer_syns) = connect_attempts(&lab, lab.client2().into(), mm4, 1);
    assert_eq!(outcomes, ["refused"], "peer");
    // The server's kernel took no part in any of that: no TCP segment, no RST, no ICMP (read
    // before the first `mmsc status`, whose admin API connection is TCP over loopback).
    assert_eq!(afxdp_server_snmp(&lab, "Tcp:", "InSegs"), kernel_tcp_in);
    assert_eq!(afxdp_server_snmp(&lab, "Tcp:", "OutRsts"), kernel_rsts);
    assert_eq!(afxdp_server_snmp(&lab, "Icmp:", "InMsgs"), kernel_icmp_in);

    let s = status_when(&mmsc, |s| {
        s["xdp"]["packets"]["mm4"] == non_peer_syns + peer_syns
            && s["xdp"]["packets"]["mm1"].as_u64() >= Some(mm1_segs)
            && s["messages"]["accepted"] == 1
            && s["xdp"]["redirected"] == all_cores(&s["afxdp"]["rx_frames"])
    });
    let x = &s["xdp"];
    let a = &s["afxdp"];
    // Every segment the client sent for the submit was redirected to the socket as MM1
    // (retransmitted segments are frames too, but not in OutSegs).
    let mm1_frames = x["packets"]["mm1"].as_u64().unwrap_or(0);
    assert!(
        (mm1_segs..=mm1_segs + retrans).contains(&mm1_frames),
        "{mm1_frames} MM1 frames for {mm1_segs} segments ({retrans} retransmitted): {s:#}"
    );
    assert!(mm1_segs >= 4, "{mm1_segs} segments");
    assert_eq!(s["messages"]["accepted"], 1, "{s:#}");
    assert_eq!(all_cores(&s["mm1"]["requests"]), 1, "{s:#}");
    assert_eq!(s["mm1"]["requests"]["0"], 1, "{s:#}");
    assert_eq!(all_cores(&s["mm1"]["connections_accepted"]), 1, "{s:#}");
    assert_eq!(s["dataplane"]["cores"]["afxdp"], 1, "{s:#}");
    assert_eq!(x["attached"][&lab.server_if]["driver"], 1, "{s:#}");
    assert_eq!(x["packets"]["mm4"], non_peer_syns + peer_syns, "{s:#}");
    assert_eq!(x["dropped"]["not_peer"], non_peer_syns, "{s:#}");
    assert_eq!(x["dropped"]["syn_rate"], 0, "{s:#}");
    assert_eq!(x["redirect_no_socket"], 0, "{s:#}");
    // Every redirected frame reached smoltcp: the MM1 segments, the peer's SYN, and the
    // owned-address frames (ARP, 4 echo requests at least).
    let redirected = x["redirected"].as_u64().unwrap_or(0);
    assert_eq!(all_cores(&a["rx_frames"]), redirected, "{s:#}");
    assert_eq!(all_cores(&s["netstack"]["frames_in"]), redirected, "{s:#}");
    assert!(
        redirected >= mm1_frames + peer_syns + 5,
        "{redirected} redirected: {s:#}"
    );
    assert!(x["redirected_owned"].as_u64() >= Some(5), "{s:#}");
    // The submit's answers, 4 echo replies, an ARP reply, the peer's RST at least.
    assert!(all_cores(&a["tx_frames"]) >= 7, "{s:#}");
    assert_eq!(all_cores(&a["tx_dropped"]), 0, "{s:#}");
    assert_eq!(all_cores(&a["kernel"]["rx_dropped"]), 0, "{s:#}");
    assert_eq!(a["mode"]["0"]["copy"], 1, "{s:#}");
    assert_eq!(a["queue"]["0"], 0, "{s:#}");
    assert!(a["pages"]["0"].is_object(), "{s:#}");

    // A few submits over one connection, for the figures.
    let times = submit_times(&lab, "afxdp-timed", 13, 20);
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "afxdp: first submit ({pdu_len} octets, ARP, handshake, {mm1_segs} segments) {:.1} ms \
         from the test; 20 submits on one connection: median {:.2} ms, max {:.2} ms (curl \
         time_total); redirected {redirected} frames ({} for owned-address ARP/ICMP), rx {} tx \
         {} frames, non-peer SYNs dropped {non_peer_syns}, peer SYNs {peer_syns}",
        first_submit.as_secs_f64() * 1e3,
        sorted[sorted.len() / 2] * 1e3,
        sorted[sorted.len() - 1] * 1e3,
        x["redirected_owned"],
        all_cores(&a["rx_frames"]),
        all_cores(&a["tx_frames"]),
    );

    // SIGTERM: cores stopped, sockets closed, the XDP program detached.
    let stats = mmsc.stop();
    assert_eq!(stats.accepted, 21);
    let log = mmsc.log();
    assert!(
        log.contains(&format!("mmsc: afxdp: detached from {}", lab.server_if))
            && log.contains("mmsc: afxdp: stopped: 1 core(s) ended"),
        "{log}"
    );
    let link = lab.server_link();
    assert!(
        !link.contains("prog/xdp"),
        "still attached after the stop: {link}"
    );
}
