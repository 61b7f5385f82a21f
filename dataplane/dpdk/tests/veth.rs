//! mmsc-dpdk against real drivers: `net_null` and `net_af_packet` on a veth pair whose other
//! end lives in a network namespace. Shown: EAL init once, lcores, port/queue ownership,
//! bursts on net_null; frames from the namespace in rx bursts (its ARP request), a frame of
//! ours sent by tx burst reaching it (our ARP reply, after which its kernel addresses echo
//! requests to our MAC); smoltcp on the DpdkDevice answering `ping` and echoing a TCP
//! connection from the namespace; every mbuf back in its pool at the end.
//!
//! DPDK's EAL initialises once per process, so this binary has one test that walks through
//! every check in order. It needs root (namespaces, veth, AF_PACKET); as another user it says
//! so and passes. Every wait is bounded; the namespace and the veth pair are deleted by a
//! Drop guard, on failure too.

use std::collections::BTreeSet;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use mmsc_dpdk::{
    DpdkDevice, Eal, Error, EtherHeader, Mbuf, Mempool, MempoolConfig, Port, PortConfig, Queue,
};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, Icmpv4Message, Icmpv4Packet, IpAddress, IpCidr, IpProtocol,
    Ipv4Address, Ipv4Packet,
};

/// The TCP port smoltcp listens on in the namespace test.
const ECHO_PORT: u16 = 8080;

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid:\treal\teffective\tsaved\tfs"
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// The first CPU this process may run on (EAL lcores are pinned to CPUs).
fn first_allowed_cpu() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| {
            let first = list.trim().split([',', '-']).next()?;
            first.parse().ok()
        })
        .unwrap_or(0)
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace holding one end of a veth pair; the other end stays in the root
/// namespace for DPDK's net_af_packet. Deleted on drop.
struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    /// The third octet of 10.203.x.0/24 (addresses exist inside the namespace only).
    subnet: u8,
}

impl Netns {
    fn create() -> Netns {
        let pid = std::process::id();
        let ns = Netns {
            name: format!("mmsc-dpdk-{pid}"),
            host_if: format!("mdpk{pid}"),
            ns_if: format!("mdpn{pid}"),
            subnet: u8::try_from(pid % 250).unwrap() + 1,
        };
        // Leftovers of an earlier run with the same pid.
        let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        let _ = Command::new("ip")
            .args(["link", "del", &ns.host_if])
            .output();
        run(&["ip", "netns", "add", &ns.name]);
        run(&[
            "ip",
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns.ns_if,
            "netns",
            &ns.name,
        ]);
        // The root namespace's end carries no address and no IPv6 chatter: it is DPDK's.
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", ns.host_if),
            "1",
        );
        run(&["ip", "link", "set", &ns.host_if, "up"]);
        let cidr = format!("{}/24", ns.ns_ip());
        run(&["ip", "-n", &ns.name, "addr", "add", &cidr, "dev", &ns.ns_if]);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns.name,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", ns.ns_if),
        ]);
        // The namespace's kernel would leave TCP checksums to an offload that a veth never
        // does (CHECKSUM_PARTIAL), and AF_PACKET hands DPDK the frame as is: smoltcp would
        // drop every segment. Checksums in software, as on a wire.
        run(&[
            "ip", "netns", "exec", &ns.name, "ethtool", "-K", &ns.ns_if, "tx", "off",
        ]);
        run(&["ip", "-n", &ns.name, "link", "set", &ns.ns_if, "up"]);
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's address.
    fn ns_ip(&self) -> Ipv4Address {
        Ipv4Address::new(10, 203, self.subnet, 1)
    }

    /// The address smoltcp owns on the DPDK side.
    fn dpdk_ip(&self) -> Ipv4Address {
        Ipv4Address::new(10, 203, self.subnet, 2)
    }

    /// `ping` from inside the namespace, in the background.
    fn ping(&self, count: u32) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "ping", "-n", "-c"])
            .arg(count.to_string())
            .args(["-i", "0.2", "-W", "2", "-w", "10"])
            .arg(self.dpdk_ip().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ping (iputils-ping) in the namespace");
        ChildGuard(Some(child))
    }

    /// A TCP client in the namespace: connects to the DPDK side's `port`, sends `text`,
    /// closes its sending half and prints what comes back.
    fn tcp_echo_client(&self, port: u16, text: &str) -> ChildGuard {
        let script = format!(
            "import socket, sys\n\
             s = socket.create_connection(('{ip}', {port}), timeout=10)\n\
             s.sendall(sys.argv[1].encode())\n\
             s.shutdown(socket.SHUT_WR)\n\
             got = b''\n\
             while True:\n\
             \x20   chunk = s.recv(4096)\n\
             \x20   if not chunk: break\n\
             \x20   got += chunk\n\
             print(got.decode())\n",
            ip = self.dpdk_ip(),
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", &script, text])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 in the namespace");
        ChildGuard(Some(child))
    }

    /// The namespace's neighbour entry for the DPDK side's address.
    fn neighbour(&self) -> String {
        let out = run(&[
            "ip",
            "-n",
            &self.name,
            "neigh",
            "show",
            &self.dpdk_ip().to_string(),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// A child process killed on drop if still running.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn finished(&mut self) -> bool {
        match self.0.as_mut().map(Child::try_wait) {
            Some(Ok(Some(_))) | None => true,
            Some(Ok(None)) => false,
            Some(Err(e)) => panic!("waiting for a child: {e}"),
        }
    }

    fn output(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `queue` until `want` accepts a frame or `timeout` passes; returns the frames seen.
fn receive_until<'a>(
    queue: &mut Queue<'_, 'a>,
    timeout: Duration,
    mut want: impl FnMut(&Mbuf<'a>) -> bool,
) -> (bool, usize) {
    let deadline = StdInstant::now() + timeout;
    let mut batch = Vec::with_capacity(32);
    let mut seen = 0;
    while StdInstant::now() < deadline {
        if queue.rx_burst(&mut batch, 32) == 0 {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        for m in batch.drain(..) {
            seen += 1;
            if want(&m) {
                return (true, seen);
            }
        }
    }
    (false, seen)
}

/// A MAC address as `ip` and sysfs print it.
fn colons(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

fn arp_of(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()
}

fn is_echo_request_to(frame: &[u8], mac: EthernetAddress, ip: Ipv4Address) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.dst_addr() != mac || eth.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(ipv4) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    if ipv4.dst_addr() != ip || ipv4.next_header() != IpProtocol::Icmp {
        return false;
    }
    Icmpv4Packet::new_checked(ipv4.payload())
        .is_ok_and(|icmp| icmp.msg_type() == Icmpv4Message::EchoRequest)
}

#[test]
fn dpdk_ports_bursts_and_smoltcp_over_veth() {
    if !is_root() {
        eprintln!("SKIPPED: mmsc-dpdk's veth test needs root (network namespaces, AF_PACKET)");
        return;
    }
    let started = StdInstant::now();
    let netns = Netns::create();
    let cpu = first_allowed_cpu();
    let args = vec![
        "--no-huge".to_owned(),
        "--no-pci".to_owned(),
        "--no-shconf".to_owned(),
        "--no-telemetry".to_owned(),
        "-m".to_owned(),
        "128".to_owned(),
        // Two lcores on one CPU: the main one (this thread) and a worker.
        format!("--lcores=0@{cpu},1@{cpu}"),
        format!("--vdev=net_af_packet0,iface={}", netns.host_if),
        "--vdev=net_null0".to_owned(),
    ];
    let eal = Eal::init(&args).expect("rte_eal_init");
    assert_eq!(Eal::init(&args).unwrap_err(), Error::AlreadyInitialised);
    println!(
        "EAL up: DPDK {}, PMDs from {}, lcores {:?}, ports {:?}",
        mmsc_dpdk::DPDK_VERSION,
        mmsc_dpdk::pmd_path(),
        eal.lcores(),
        eal.ports()
    );
    assert_eq!(eal.lcores(), vec![0, 1]);
    assert_eq!(eal.main_lcore(), 0);
    assert_eq!(Eal::current_lcore(), Some(0));
    assert_eq!(eal.port_count(), 2);
    let null_id = eal.port_by_name("net_null0").expect("net_null0 probed");
    let veth_id = eal
        .port_by_name("net_af_packet0")
        .expect("net_af_packet0 probed");
    assert!(matches!(
        eal.port_by_name("net_nothing0"),
        Err(Error::NoSuchPort(_))
    ));

    // Work on every lcore, the main one included; the closure borrows from this frame.
    let ran = Mutex::new(BTreeSet::new());
    eal.run_on_lcores(|lcore| {
        ran.lock().unwrap().insert(lcore);
    })
    .expect("run_on_lcores");
    assert_eq!(ran.into_inner().unwrap(), BTreeSet::from([0, 1]));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic below is expected: keep it quiet
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eal.run_on_lcores(|lcore| assert_ne!(lcore, 1, "a panic on a worker lcore"))
    }));
    std::panic::set_hook(hook);
    assert!(panicked.is_err(), "a worker's panic reaches the caller");

    let pool_config = MempoolConfig {
        mbufs: 4095,
        cache_size: 64,
        ..MempoolConfig::default()
    };
    let pool = Mempool::new(&eal, "mmsc_test", &pool_config).expect("mempool");
    assert_eq!(pool.in_use(), 0);

    // --- net_null: tx and rx bursts, counters, close. -------------------------------------
    {
        let mut port = Port::configure(&eal, null_id, &PortConfig::default(), &pool).unwrap();
        assert!(matches!(
            Port::configure(&eal, null_id, &PortConfig::default(), &pool),
            Err(Error::PortInUse(_))
        ));
        assert!(matches!(port.queue(0), Err(Error::NotStarted(_))));
        port.start().unwrap();
        let mut queue = port.queue(0).unwrap();
        assert!(matches!(port.queue(0), Err(Error::QueueInUse { .. })));
        assert!(matches!(port.queue(1), Err(Error::NoSuchQueue { .. })));
        assert!(
            queue.rx_wait().unwrap().is_empty(),
            "net_null has no socket to sleep on"
        );
        let mut out = Vec::new();
        assert!(pool.alloc_bulk(&mut out, 16));
        for m in &mut out {
            m.append(64).unwrap().fill(0xab);
        }
        assert_eq!(queue.tx_burst(&mut out), 16);
        assert!(out.is_empty());
        let mut rx = Vec::new();
        let got = queue.rx_burst(&mut rx, 8);
        assert!(got > 0 && rx.len() == got);
        assert!(rx.iter().all(|m| m.len() == 64 && m.segments() == 1));
        drop(rx);
        drop(queue);
        let stats = port.stats().unwrap();
        assert_eq!(stats.tx_packets, 16);
        println!("net_null0: {stats:?}");
        port.stop().unwrap();
    }
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");

    // --- net_af_packet on the veth: rx from the namespace, tx into it. --------------------
    // smoltcp gets its own MAC: the port is promiscuous, and the root namespace's kernel
    // drops frames for a MAC that is not its interface's, so it stays out of the exchange.
    let config = PortConfig {
        promiscuous: true,
        ..PortConfig::default()
    };
    let mut port = Port::configure(&eal, veth_id, &config, &pool).unwrap();
    port.start().unwrap();
    let port_mac = port.mac().unwrap();
    let host_mac =
        std::fs::read_to_string(format!("/sys/class/net/{}/address", netns.host_if)).unwrap();
    assert_eq!(
        colons(port_mac),
        host_mac.trim(),
        "the PMD's MAC is the interface's"
    );
    let mtu = port.mtu().unwrap();
    println!(
        "net_af_packet0: MAC {}, MTU {mtu}, link {:?}",
        EthernetAddress(port_mac),
        port.link()
    );
    let mac = EthernetAddress([0x02, 0x00, 0x0a, 0xcb, netns.subnet, 0x02]);
    let (ns_ip, dpdk_ip) = (netns.ns_ip(), netns.dpdk_ip());
    let mut queue = port.queue(0).unwrap();
    assert_eq!(port.driver(), "net_af_packet");
    let rx_wait = queue.rx_wait().unwrap();
    assert_eq!(rx_wait.sockets(), 1, "one AF_PACKET socket per queue pair");
    let (_bell, doorbell) = std::os::unix::net::UnixDatagram::pair().unwrap();

    // 1. The namespace pings the DPDK side's address: its kernel first asks by ARP.
    let ping = netns.ping(3);
    let asleep = StdInstant::now();
    assert!(
        rx_wait
            .wait_or(std::os::fd::AsFd::as_fd(&doorbell), Duration::from_secs(5))
            .unwrap(),
        "the ARP request did not wake the wait on the port's socket"
    );
    println!(
        "net_af_packet0: a frame ended the wait after {:?}",
        asleep.elapsed()
    );
    let mut request = None;
    let (found, seen) = receive_until(&mut queue, Duration::from_secs(5), |m| {
        let is_arp = m.ether_header().map(EtherHeader::ether_type) == Some(EtherHeader::ARP);
        request = arp_of(m.data()).filter(|arp| {
            is_arp
                && matches!(arp, ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    target_protocol_addr,
                    ..
                } if *target_protocol_addr == dpdk_ip)
        });
        request.is_some()
    });
    assert!(
        found,
        "no ARP request for {dpdk_ip} in {seen} frames from the namespace"
    );
    let Some(ArpRepr::EthernetIpv4 {
        source_hardware_addr: ns_mac,
        ..
    }) = request
    else {
        unreachable!()
    };
    println!("rx: ARP request who-has {dpdk_ip} from {ns_mac} after {seen} frame(s)");

    // 2. Answer it with a frame built here and sent by tx_burst: the namespace's kernel then
    //    sends its echo request to that MAC, which only our frame told it.
    let mut reply = pool.alloc().unwrap();
    let frame = reply.append(60).unwrap();
    let eth = EthernetRepr {
        src_addr: mac,
        dst_addr: ns_mac,
        ethertype: EthernetProtocol::Arp,
    };
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: dpdk_ip,
        target_hardware_addr: ns_mac,
        target_protocol_addr: ns_ip,
    };
    let mut eth_frame = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut eth_frame);
    arp.emit(&mut ArpPacket::new_unchecked(eth_frame.payload_mut()));
    let mut tx = vec![reply];
    assert_eq!(queue.tx_burst(&mut tx), 1);
    drop(tx);
    let (found, seen) = receive_until(&mut queue, Duration::from_secs(5), |m| {
        is_echo_request_to(m.data(), mac, dpdk_ip)
    });
    assert!(
        found,
        "no echo request to {mac} after our ARP reply ({seen} frames)"
    );
    let neigh = netns.neighbour();
    assert!(
        neigh.contains(&colons(mac.0)),
        "namespace neighbour entry: {neigh:?}"
    );
    println!(
        "tx: our ARP reply reached the namespace (neighbour: {})",
        neigh.trim()
    );
    drop(ping); // nobody answered those echo requests yet

    // 3. smoltcp on the same queue answers ping from the namespace.
    let mut device = DpdkDevice::new(queue, &pool, mtu);
    assert_eq!(
        device.capabilities().max_transmission_unit,
        usize::from(mtu) + 14
    );
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ethernet(mac)),
        &mut device,
        Instant::now(),
    );
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(dpdk_ip), 24))
            .unwrap();
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut ping = netns.ping(3);
    let deadline = StdInstant::now() + Duration::from_secs(15);
    while !ping.finished() {
        assert!(StdInstant::now() < deadline, "ping did not finish");
        iface.poll(Instant::now(), &mut device, &mut sockets);
        device.flush();
        thread::sleep(Duration::from_micros(200));
    }
    let out = ping.output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("ping from the namespace:\n{}", stdout.trim_end());
    assert!(out.status.success(), "ping failed: {stdout}");
    // `-c 3 -w 10`: ping stops after 3 replies. The first request may go unanswered while
    // smoltcp resolves the namespace's MAC by ARP (it drops the reply it could not send).
    assert!(stdout.contains(", 3 received"), "{stdout}");
    let dev_stats = device.stats();
    println!("smoltcp device: {dev_stats:?}");
    assert!(dev_stats.tx_frames >= 3, "three echo replies sent");
    assert_eq!(dev_stats.tx_dropped, 0);

    // 4. TCP: smoltcp accepts a connection from the namespace and echoes what it reads.
    let tcp = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 4096]),
        tcp::SocketBuffer::new(vec![0; 4096]),
    );
    let handle = sockets.add(tcp);
    sockets
        .get_mut::<tcp::Socket<'_>>(handle)
        .listen(ECHO_PORT)
        .unwrap();
    let mut client = netns.tcp_echo_client(ECHO_PORT, "m-send-req over smoltcp over DPDK");
    let deadline = StdInstant::now() + Duration::from_secs(15);
    let mut echoed = 0;
    while !client.finished() {
        assert!(
            StdInstant::now() < deadline,
            "the TCP client did not finish"
        );
        iface.poll(Instant::now(), &mut device, &mut sockets);
        let socket = sockets.get_mut::<tcp::Socket<'_>>(handle);
        if socket.can_recv() && socket.can_send() {
            let mut buf = [0u8; 1024];
            let n = socket.recv_slice(&mut buf).unwrap();
            socket.send_slice(&buf[..n]).unwrap();
            echoed += n;
        } else if !socket.may_recv() && socket.may_send() {
            socket.close();
        }
        iface.poll(Instant::now(), &mut device, &mut sockets);
        device.flush();
        thread::sleep(Duration::from_micros(200));
    }
    let out = client.output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "TCP client in the namespace: {} {}",
        stdout.trim(),
        stderr.trim()
    );
    assert!(out.status.success(), "TCP client failed: {stdout} {stderr}");
    assert_eq!(stdout.trim(), "m-send-req over smoltcp over DPDK");
    assert_eq!(echoed, stdout.trim().len());

    let queue = device.into_queue();
    drop(queue);
    drop(rx_wait); // before the port stops (the borrow checker insists)
    let stats = port.stats().unwrap();
    println!("net_af_packet0: {stats:?}");
    assert!(stats.rx_packets >= 6 && stats.tx_packets >= 4, "{stats:?}");
    port.stop().unwrap();
    drop(port);
    assert_eq!(pool.in_use(), 0, "every mbuf went back to the pool");
    drop(pool);
    drop(eal);
    println!("done in {:?}", started.elapsed());
}
