//! MM1 through a `Stack`, against smoltcp clients on the other end of an in-memory cable, with
//! a fake control plane answering the jobs. Time is driven by the test (1 ms per step unless
//! said otherwise), so every run is the same.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mmsc_classify::{Class, Classifier, Listener, Mode, Rules};
use mmsc_dataplane::bufpool::BufPool;
use mmsc_dataplane::kernel::READ_CHUNK;
use mmsc_dataplane::mm1::Mm1Front;
use mmsc_dataplane::ring::{ConnId, JobKind, Reply, Response};
use mmsc_dataplane::submit::{SubmitPlan, SubmitRules, Submitter};
use mmsc_dataplane::{ControlRings, ring_pair};
use mmsc_netstack::mem::{MemPort, exchange};
use mmsc_netstack::{ConfigProblem, Stack, StackConfig, StackError, StackStats};
use mmsc_wire::http::HttpLimits;
use mmsc_wire::mms::build;
use mmsc_wire::mms::{EncodedString, MessageType, ResponseStatus, Value, Version, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType, Part};
use mmsc_wire::{Limits, Pdu};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

const SERVER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const SERVER_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const CLIENT_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const SERVER_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const CLIENT_IP6: Ipv6Address = Ipv6Address::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PORT: u16 = 8080;
const MSISDN: &str = "+358401234567";
/// Bound of every wait, in steps.
const MAX_STEPS: usize = 20_000;

fn front() -> Mm1Front {
    Mm1Front {
        path: "/mms".into(),
        msisdn_headers: vec!["X-MSISDN".into()],
        // The MSISDN header is believed from the client's addresses only: this checks that
        // the stack hands the front the peer's address.
        trusted: Arc::new(|ip: IpAddr| ip == IpAddr::V4(CLIENT_IP) || ip == IpAddr::V6(CLIENT_IP6)),
        limits: Limits::default(),
        now_secs: Arc::new(|| 1_700_000_000),
        rules: None,
    }
}

/// A front that plans m-send-reqs itself (they become `JobKind::Submit`).
fn planning_front() -> Mm1Front {
    Mm1Front {
        rules: Some(Arc::new(SubmitRules {
            local_prefixes: vec!["+35840".into()],
            default_expiry_secs: 3600,
            max_expiry_secs: 7200,
            ..SubmitRules::default()
        })),
        ..front()
    }
}

/// The submits a [`TestSubmitter`] holds, and those the test made durable.
#[derive(Default)]
struct Submits {
    taken: Vec<(ConnId, Vec<u8>, usize)>,
    durable: Vec<(ConnId, Vec<u8>)>,
}

/// A submitter that holds at most `capacity` submits until the test makes them durable.
struct TestSubmitter {
    shared: Arc<Mutex<Submits>>,
    capacity: usize,
}

impl Submitter for TestSubmitter {
    fn submit(
        &mut self,
        conn: ConnId,
        plan: Box<SubmitPlan>,
        buf: Vec<u8>,
        body: std::ops::Range<usize>,
    ) -> Result<(), Response> {
        let mut s = self.shared.lock().unwrap();
        if s.taken.len() >= self.capacity {
            return Err(Response::text(503, "full"));
        }
        // The plan describes the PDU in the buffer handed over with it.
        let pdu = &buf[body];
        assert_eq!(&pdu[plan.body_offset as usize..][..1], &[0x02]);
        s.taken.push((conn, plan.tid.clone(), pdu.len()));
        Ok(())
    }

    fn completed(&mut self, out: &mut Vec<Reply>) -> usize {
        let mut s = self.shared.lock().unwrap();
        let n = s.durable.len();
        for (conn, tid) in s.durable.drain(..) {
            let conf = build::send_conf(Some(&tid), Version::V1_2, ResponseStatus::OK, None);
            out.push(Reply {
                conn,
                response: Response::mms(conf.encode().unwrap()),
            });
        }
        n
    }

    fn has_completed(&self) -> bool {
        !self.shared.lock().unwrap().durable.is_empty()
    }

    fn in_flight(&self) -> usize {
        self.shared.lock().unwrap().taken.len()
    }
}

fn config() -> StackConfig {
    let mut cfg = StackConfig::new(
        3,
        IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24),
        SERVER_MAC,
        PORT,
        front(),
    );
    cfg.listen_backlog = 4;
    cfg.max_connections = 32;
    cfg.rx_buffer_bytes = 16 * 1024;
    cfg.tx_buffer_bytes = 16 * 1024;
    cfg.random_seed = 7;
    cfg
}

/// A handset's m-send-req with a text part and an opaque part of `extra` octets.
fn send_req(tid: &str, extra: usize) -> Vec<u8> {
    let text = Part::new(
        ContentType::new(MediaType::WellKnown(0x03)),
        b"hello".to_vec(),
    );
    let blob: Vec<u8> = (0..extra).map(|i| (i * 7 + i / 251) as u8).collect();
    let image = Part::new(ContentType::new(MediaType::WellKnown(0x1E)), blob);
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(
            field::TRANSACTION_ID,
            Value::Text(Cow::Owned(tid.as_bytes().to_vec())),
        )
        .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
        .with(field::FROM, Value::From(None))
        .with(
            field::TO,
            Value::Encoded(EncodedString::plain(b"+358409999999/TYPE=PLMN".to_vec())),
        );
    p.set_body(
        ContentType::new(MediaType::WellKnown(0x23)),
        Body::Multipart(vec![text, image]),
    );
    p.encode().unwrap()
}

fn post(pdu: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /mms HTTP/1.1\r\nHost: mmsc\r\nContent-Type: application/vnd.wap.mms-message\r\n\
         X-MSISDN: {MSISDN}\r\nContent-Length: {}\r\n\r\n",
        pdu.len()
    )
    .into_bytes();
    r.extend_from_slice(pdu);
    r
}

fn submit(tid: &str) -> Vec<u8> {
    post(&send_req(tid, 100))
}

/// A parsed HTTP response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The m-send-conf in the body: (transaction id, status).
    fn send_conf(&self) -> (Vec<u8>, ResponseStatus) {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/vnd.wap.mms-message")
        );
        let p = Pdu::decode(&self.body, &Limits::default()).unwrap();
        assert_eq!(p.message_type, MessageType::SEND_CONF);
        (
            p.transaction_id().unwrap().to_vec(),
            p.response_status().unwrap(),
        )
    }
}

/// The complete responses at the start of `buf`, and the octets they take.
fn parse_responses(buf: &[u8]) -> (Vec<Resp>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let total = end + 4 + len;
        if rest.len() < total {
            break;
        }
        out.push(Resp {
            status,
            headers,
            body: rest[end + 4..total].to_vec(),
        });
        at += total;
    }
    (out, at)
}

struct Client {
    handle: SocketHandle,
    /// Octets to send, and how many are sent.
    out: Vec<u8>,
    sent: usize,
    /// Octets received.
    got: Vec<u8>,
    /// Stop reading (a client that does not read its responses).
    paused: bool,
}

/// How the fake control plane answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Control {
    /// Answer every job at once.
    Answer,
    /// Leave the jobs in the ring.
    Paused,
}

struct Net {
    now_ms: i64,
    stack: Stack,
    sport: MemPort,
    stats: Arc<StackStats>,
    ctl: ControlRings,
    control: Control,
    wakes: Arc<AtomicUsize>,
    /// Jobs answered: (msisdn, message type) of each submit.
    answered: Vec<(String, MessageType)>,
    ciface: Interface,
    csockets: SocketSet<'static>,
    cport: MemPort,
    clients: Vec<Client>,
    next_port: u16,
}

impl Net {
    fn new(cfg: StackConfig) -> Net {
        Net::with_ring(cfg, 64)
    }

    fn with_ring(cfg: StackConfig, ring: usize) -> Net {
        Net::with_rings(cfg, ring, None, None)
    }

    fn with_rings(
        cfg: StackConfig,
        ring: usize,
        submit: Option<Box<dyn Submitter>>,
        pool: Option<Arc<BufPool>>,
    ) -> Net {
        let (mut rings, ctl) = ring_pair(ring);
        rings.submit = submit;
        rings.pool = pool;
        let mut sport = MemPort::new();
        let stats = Arc::new(StackStats::default());
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let stack = Stack::new(
            cfg,
            rings,
            Arc::clone(&stats),
            Arc::new(move || {
                w.fetch_add(1, Ordering::Relaxed);
            }),
            &mut sport,
            Instant::from_millis(0),
        )
        .unwrap();
        let mut cport = MemPort::new();
        let mut ic = Config::new(HardwareAddress::Ethernet(CLIENT_MAC));
        ic.random_seed = 11;
        let mut ciface = Interface::new(ic, &mut cport, Instant::from_millis(0));
        ciface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(CLIENT_IP), 24)).unwrap();
            a.push(IpCidr::new(IpAddress::Ipv6(CLIENT_IP6), 64))
                .unwrap();
        });
        Net {
            now_ms: 0,
            stack,
            sport,
            stats,
            ctl,
            control: Control::Answer,
            wakes,
            answered: Vec::new(),
            ciface,
            csockets: SocketSet::new(Vec::new()),
            cport,
            clients: Vec::new(),
            next_port: 40000,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms)
    }

    /// A client connecting to `addr`:`port`, with 64 KiB buffers; its index.
    fn connect_to(&mut self, addr: IpAddress, port: u16) -> usize {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        self.next_port += 1;
        s.connect(self.ciface.context(), (addr, port), self.next_port)
            .unwrap();
        let handle = self.csockets.add(s);
        self.clients.push(Client {
            handle,
            out: Vec::new(),
            sent: 0,
            got: Vec::new(),
            paused: false,
        });
        self.clients.len() - 1
    }

    fn connect(&mut self) -> usize {
        self.connect_to(IpAddress::Ipv4(SERVER_IP), PORT)
    }

    fn sock(&mut self, c: usize) -> &mut tcp::Socket<'static> {
        let h = self.clients[c].handle;
        self.csockets.get_mut::<tcp::Socket<'static>>(h)
    }

    fn state(&mut self, c: usize) -> tcp::State {
        self.sock(c).state()
    }

    fn send(&mut self, c: usize, data: &[u8]) {
        self.clients[c].out.extend_from_slice(data);
    }

    /// One step of `ms` milliseconds: the stack, the cable, the clients, the control plane.
    fn step_ms(&mut self, ms: i64) {
        let now = self.now();
        self.stack.poll(&mut self.sport, now);
        exchange(&mut self.sport, &mut self.cport);
        self.ciface.poll(now, &mut self.cport, &mut self.csockets);
        for c in &mut self.clients {
            let s = self.csockets.get_mut::<tcp::Socket<'static>>(c.handle);
            if c.sent < c.out.len() && s.can_send() {
                c.sent += s.send_slice(&c.out[c.sent..]).unwrap();
            }
            while !c.paused && s.can_recv() {
                let got = &mut c.got;
                s.recv(|d| {
                    got.extend_from_slice(d);
                    (d.len(), ())
                })
                .unwrap();
            }
        }
        self.ciface.poll(now, &mut self.cport, &mut self.csockets);
        exchange(&mut self.sport, &mut self.cport);
        if self.control == Control::Answer {
            self.answer_jobs();
        }
        self.now_ms += ms;
    }

    fn step(&mut self) {
        self.step_ms(1);
    }

    /// The fake control plane: an m-send-conf Ok for each submit, `N` octets of MMS for a
    /// retrieval of `big-N`.
    fn answer_jobs(&mut self) {
        while let Ok(job) = self.ctl.jobs.pop() {
            let response = match job.kind {
                JobKind::Post {
                    msisdn,
                    message_type,
                    version,
                    buf,
                    body,
                } => {
                    let pdu = Pdu::decode(&buf[body], &Limits::default()).unwrap();
                    self.answered.push((msisdn, message_type));
                    let conf = build::send_conf(
                        pdu.transaction_id(),
                        version,
                        ResponseStatus::OK,
                        Some(b"msg-1"),
                    );
                    Response::mms(conf.encode().unwrap())
                }
                JobKind::Submit { plan, .. } => {
                    self.answered
                        .push((plan.sender.clone(), MessageType::SEND_REQ));
                    let conf = build::send_conf(
                        Some(&plan.tid),
                        plan.version,
                        ResponseStatus::OK,
                        Some(b"msg-1"),
                    );
                    Response::mms(conf.encode().unwrap())
                }
                JobKind::Retrieve { token, .. } => {
                    let n: usize = token.strip_prefix("big-").unwrap().parse().unwrap();
                    Response::mms((0..n).map(|i| (i % 253) as u8).collect())
                }
            };
            self.ctl
                .replies
                .push(Reply {
                    conn: job.conn,
                    response,
                })
                .unwrap();
        }
    }

    /// Step until `done`, at most [`MAX_STEPS`] times.
    fn run_until(&mut self, what: &str, mut done: impl FnMut(&mut Net) -> bool) {
        for _ in 0..MAX_STEPS {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("not done after {MAX_STEPS} steps: {what}");
    }

    /// Step until client `c` has `n` complete responses; they are taken from its buffer.
    fn responses(&mut self, c: usize, n: usize) -> Vec<Resp> {
        self.run_until("responses", |net| {
            parse_responses(&net.clients[c].got).0.len() >= n
        });
        let (rs, used) = parse_responses(&self.clients[c].got);
        self.clients[c].got.drain(..used);
        rs
    }

    fn established(&mut self, c: usize) {
        self.run_until("established", |net| net.state(c) == tcp::State::Established);
    }
}

#[test]
fn a_submit_gets_its_send_conf() {
    let mut net = Net::new(config());
    let c = net.connect();
    net.send(c, &submit("T-1"));
    let r = net.responses(c, 1);
    let (tid, status) = r[0].send_conf();
    assert_eq!((tid.as_slice(), status), (&b"T-1"[..], ResponseStatus::OK));
    assert_eq!(r[0].header("connection"), None, "keep-alive by default");
    // The job carried the subscriber from the trusted peer.
    assert_eq!(
        net.answered,
        vec![(MSISDN.to_string(), MessageType::SEND_REQ)]
    );
    let s = &net.stats.mm1;
    assert_eq!(s.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(s.requests.load(Ordering::Relaxed), 1);
    assert_eq!(s.jobs.load(Ordering::Relaxed), 1);
    assert_eq!(s.overloaded.load(Ordering::Relaxed), 0);
    assert!(net.wakes.load(Ordering::Relaxed) >= 1);
    assert!(net.stats.frames_in.load(Ordering::Relaxed) > 0);
    assert!(net.stats.frames_out.load(Ordering::Relaxed) > 0);
    assert_eq!(net.stack.open_connections(), 1);
}

#[test]
fn planned_submits_go_to_the_control_plane_when_the_core_has_no_submitter() {
    let mut cfg = config();
    cfg.front = planning_front();
    let mut net = Net::new(cfg);
    let c = net.connect();
    net.send(c, &submit("S-1"));
    let (tid, status) = net.responses(c, 1)[0].send_conf();
    assert_eq!((tid.as_slice(), status), (&b"S-1"[..], ResponseStatus::OK));
    assert_eq!(
        net.answered,
        vec![(MSISDN.to_string(), MessageType::SEND_REQ)]
    );
    assert_eq!(net.stats.mm1.jobs.load(Ordering::Relaxed), 1);
    assert_eq!(net.stats.mm1.fast_submits.load(Ordering::Relaxed), 0);
}

#[test]
fn the_submit_fast_path_answers_from_the_core_once_durable() {
    let mut cfg = config();
    cfg.front = planning_front();
    let shared = Arc::new(Mutex::new(Submits::default()));
    let sub = TestSubmitter {
        shared: Arc::clone(&shared),
        capacity: 2,
    };
    // Request buffers given back earlier, for the connections' reads.
    let pool = Arc::new(BufPool::new(8, READ_CHUNK));
    for _ in 0..3 {
        pool.give(vec![0xEE; READ_CHUNK]);
    }
    let mut net = Net::with_rings(cfg, 64, Some(Box::new(sub)), Some(Arc::clone(&pool)));
    net.control = Control::Paused;
    let cs: Vec<usize> = (0..3).map(|_| net.connect()).collect();
    for &c in &cs {
        net.established(c);
        net.send(c, &submit(&format!("F-{c}")));
    }
    // Two are taken; the third is answered by the submitter's refusal at once.
    net.run_until("taken and refused", |net| {
        shared.lock().unwrap().taken.len() == 2
            && cs
                .iter()
                .any(|&c| !parse_responses(&net.clients[c].got).0.is_empty())
    });
    let refused = cs
        .iter()
        .copied()
        .find(|&c| !parse_responses(&net.clients[c].got).0.is_empty())
        .unwrap();
    assert_eq!(net.responses(refused, 1)[0].status, 503);
    assert_eq!(net.stats.mm1.overloaded.load(Ordering::Relaxed), 1);
    // Nothing reached the control plane; nothing is answered before it is durable.
    assert_eq!(net.ctl.jobs.slots(), 0);
    for _ in 0..50 {
        net.step();
    }
    for &c in cs.iter().filter(|&&c| c != refused) {
        assert!(net.clients[c].got.is_empty(), "no answer before durable");
    }
    // Durable: each gets its own m-send-conf.
    {
        let mut s = shared.lock().unwrap();
        let taken: Vec<_> = s.taken.drain(..).collect();
        for (conn, tid, len) in taken {
            assert!(len > 100);
            s.durable.push((conn, tid));
        }
    }
    for &c in cs.iter().filter(|&&c| c != refused) {
        assert_eq!(
            net.responses(c, 1)[0].send_conf(),
            (format!("F-{c}").into_bytes(), ResponseStatus::OK)
        );
    }
    assert_eq!(net.stats.mm1.fast_submits.load(Ordering::Relaxed), 2);
    assert_eq!(
        pool.available(),
        0,
        "the connections read into the pool's buffers"
    );
    assert_eq!(net.stats.mm1.jobs.load(Ordering::Relaxed), 0);
    assert!(net.answered.is_empty());
}

#[test]
fn keep_alive_serves_three_requests_on_one_connection() {
    let mut net = Net::new(config());
    let c = net.connect();
    for i in 0..3 {
        let tid = format!("K-{i}");
        net.send(c, &submit(&tid));
        let r = net.responses(c, 1);
        assert_eq!(r[0].send_conf().0, tid.as_bytes());
    }
    assert_eq!(net.state(c), tcp::State::Established);
    assert_eq!(net.stats.mm1.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(net.stats.mm1.requests.load(Ordering::Relaxed), 3);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut net = Net::new(config());
    let c = net.connect();
    let mut all = Vec::new();
    for i in 0..3 {
        all.extend(submit(&format!("P-{i}")));
    }
    // Then an immediate answer (404, no job) behind them, and a last submit closing.
    all.extend_from_slice(b"GET /elsewhere HTTP/1.1\r\nHost: mmsc\r\n\r\n");
    let last = send_req("P-last", 10);
    let mut req = post(&last);
    let at = req.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    req.splice(at..at, b"Connection: close\r\n".iter().copied());
    all.extend(req);
    net.send(c, &all);
    let r = net.responses(c, 5);
    for (i, resp) in r.iter().take(3).enumerate() {
        assert_eq!(resp.send_conf().0, format!("P-{i}").as_bytes());
    }
    assert_eq!(r[3].status, 404);
    assert_eq!(r[4].send_conf().0, b"P-last");
    assert_eq!(r[4].header("connection"), Some("close"));
    // The stack closes after the last response.
    net.run_until("server FIN", |net| !net.sock(c).may_recv());
    net.run_until("released", |net| net.stack.open_connections() == 0);
}

#[test]
fn more_concurrent_connections_than_the_listen_pool() {
    let mut cfg = config();
    cfg.listen_backlog = 2;
    let mut net = Net::new(cfg);
    assert_eq!(net.stack.listening(), 2);
    let n = 9;
    let cs: Vec<usize> = (0..n).map(|_| net.connect()).collect();
    // All of them connect (a SYN finding no listening socket is reset: the clients of one
    // step are few enough, and the pool is refilled every round).
    for &c in &cs {
        net.established(c);
    }
    for &c in &cs {
        net.send(c, &submit(&format!("C-{c}")));
    }
    for &c in &cs {
        let r = net.responses(c, 1);
        assert_eq!(r[0].send_conf().0, format!("C-{c}").as_bytes());
    }
    assert_eq!(net.stack.open_connections(), n);
    assert_eq!(net.stack.listening(), 2);
    assert!(net.stack.sockets_allocated() <= 32);
    // Closed by the clients: the stack closes too, and the sockets are recycled.
    for &c in &cs {
        net.sock(c).close();
    }
    net.run_until("all closed", |net| net.stack.open_connections() == 0);
    net.run_until("client sockets closed", |net| {
        cs.iter()
            .all(|&c| matches!(net.state(c), tcp::State::TimeWait | tcp::State::Closed))
    });
    for _ in 0..10 {
        net.step();
    }
    assert!(
        net.stack.sockets_allocated() <= 2 + 2,
        "spares trimmed to the backlog"
    );
}

#[test]
fn connections_beyond_the_limit_are_reset() {
    let mut cfg = config();
    cfg.listen_backlog = 2;
    cfg.max_connections = 3;
    let mut net = Net::new(cfg);
    let cs: Vec<usize> = (0..3).map(|_| net.connect()).collect();
    for &c in &cs {
        net.established(c);
    }
    assert_eq!(net.stack.listening(), 0, "every socket is in use");
    let extra = net.connect();
    net.run_until("reset", |net| net.state(extra) == tcp::State::Closed);
    // One closes; a new client gets in.
    net.sock(cs[0]).close();
    net.run_until("freed", |net| net.stack.listening() > 0);
    let again = net.connect();
    net.established(again);
    net.send(again, &submit("again"));
    assert_eq!(net.responses(again, 1)[0].send_conf().0, b"again");
}

#[test]
fn a_300k_body_in_and_a_reply_larger_than_the_tx_buffer_out() {
    let mut net = Net::new(config());
    let c = net.connect();
    let big = send_req("BIG", 300 * 1024);
    assert!(big.len() > 300 * 1024);
    net.send(c, &post(&big));
    let r = net.responses(c, 1);
    assert_eq!(r[0].send_conf().0, b"BIG");
    // 200 KB back through a 16 KiB transmit buffer, then another request on the connection.
    let n = 200 * 1024;
    net.send(
        c,
        format!("GET /mms/big-{n} HTTP/1.1\r\nHost: mmsc\r\nX-MSISDN: {MSISDN}\r\n\r\n").as_bytes(),
    );
    let r = net.responses(c, 1);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].body.len(), n);
    assert!(
        r[0].body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 253) as u8)
    );
    net.send(c, &submit("after"));
    assert_eq!(net.responses(c, 1)[0].send_conf().0, b"after");
}

#[test]
fn a_big_reply_to_a_client_that_reads_slowly() {
    let mut net = Net::new(config());
    let c = net.connect();
    net.clients[c].paused = true;
    let n = 150 * 1024;
    net.send(
        c,
        format!("GET /mms/big-{n} HTTP/1.1\r\nHost: mmsc\r\nX-MSISDN: {MSISDN}\r\n\r\n").as_bytes(),
    );
    // The client's window fills; the stack keeps the rest without blocking anything.
    for _ in 0..300 {
        net.step();
    }
    let other = net.connect();
    net.send(other, &submit("other"));
    assert_eq!(net.responses(other, 1)[0].send_conf().0, b"other");
    net.clients[c].paused = false;
    let r = net.responses(c, 1);
    assert_eq!(r[0].body.len(), n);
}

#[test]
fn garbage_gets_400_and_close() {
    let mut net = Net::new(config());
    let c = net.connect();
    net.send(c, b"\x16\x03\x01 this is not HTTP\r\n\r\n");
    let r = net.responses(c, 1);
    assert_eq!(r[0].status, 400);
    assert_eq!(r[0].header("connection"), Some("close"));
    net.run_until("server FIN", |net| !net.sock(c).may_recv());
    assert_eq!(net.stats.mm1.http_errors.load(Ordering::Relaxed), 1);
    net.run_until("released", |net| net.stack.open_connections() == 0);
}

#[test]
fn a_full_ring_gets_503() {
    let mut net = Net::with_ring(config(), 2);
    net.control = Control::Paused;
    let cs: Vec<usize> = (0..3).map(|_| net.connect()).collect();
    for &c in &cs {
        net.established(c);
    }
    for &c in &cs {
        net.send(c, &submit(&format!("R-{c}")));
    }
    // Two jobs fill the ring; the third request is refused at once.
    net.run_until("refused", |net| {
        net.stats.mm1.overloaded.load(Ordering::Relaxed) == 1
    });
    let refused = cs
        .iter()
        .copied()
        .find(|&c| !parse_responses(&net.clients[c].got).0.is_empty());
    let refused = refused.unwrap_or_else(|| {
        net.run_until("503 delivered", |net| {
            cs.iter()
                .any(|&c| !parse_responses(&net.clients[c].got).0.is_empty())
        });
        cs.iter()
            .copied()
            .find(|&c| !parse_responses(&net.clients[c].got).0.is_empty())
            .unwrap()
    });
    let r = net.responses(refused, 1);
    assert_eq!(r[0].status, 503);
    assert_eq!(r[0].header("retry-after"), Some("1"));
    assert_eq!(
        r[0].header("connection"),
        None,
        "a 503 keeps the connection"
    );
    // The control plane catches up: the two others get their m-send-conf.
    net.control = Control::Answer;
    for &c in cs.iter().filter(|&&c| c != refused) {
        assert_eq!(
            net.responses(c, 1)[0].send_conf().0,
            format!("R-{c}").as_bytes()
        );
    }
    // The refused client tries again, and is served.
    net.send(refused, &submit("retry"));
    assert_eq!(net.responses(refused, 1)[0].send_conf().0, b"retry");
    assert_eq!(net.stats.mm1.jobs.load(Ordering::Relaxed), 3);
}

#[test]
fn a_reply_for_a_connection_gone_is_dropped() {
    let mut cfg = config();
    cfg.listen_backlog = 1;
    let mut net = Net::new(cfg);
    net.control = Control::Paused;
    let a = net.connect();
    net.send(a, &submit("gone"));
    net.run_until("job pushed", |net| {
        net.stats.mm1.jobs.load(Ordering::Relaxed) == 1
    });
    // The client resets; its slot is freed, and taken by the next connection.
    net.sock(a).abort();
    net.run_until("released", |net| net.stack.open_connections() == 0);
    let b = net.connect();
    net.send(b, &submit("mine"));
    net.run_until("second job", |net| {
        net.stats.mm1.jobs.load(Ordering::Relaxed) == 2
    });
    // Both replies come; only B's reaches B.
    net.control = Control::Answer;
    let r = net.responses(b, 1);
    assert_eq!(r[0].send_conf().0, b"mine");
    for _ in 0..50 {
        net.step();
    }
    assert!(net.clients[b].got.is_empty(), "nothing else for B");
}

#[test]
fn expect_100_continue() {
    let mut net = Net::new(config());
    let c = net.connect();
    let pdu = send_req("E-1", 100);
    net.send(
        c,
        format!(
            "POST /mms HTTP/1.1\r\nHost: mmsc\r\nContent-Type: application/vnd.wap.mms-message\r\n\
             X-MSISDN: {MSISDN}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            pdu.len()
        )
        .as_bytes(),
    );
    let r = net.responses(c, 1);
    assert_eq!(r[0].status, 100);
    net.send(c, &pdu);
    assert_eq!(net.responses(c, 1)[0].send_conf().0, b"E-1");
}

#[test]
fn slow_requests_get_408_and_idle_connections_are_closed() {
    let mut cfg = config();
    cfg.http = HttpLimits {
        request_timeout_ms: 2_000,
        idle_timeout_ms: 5_000,
        ..HttpLimits::default()
    };
    let mut net = Net::new(cfg);
    let slow = net.connect();
    let idle = net.connect();
    net.send(slow, b"POST /mms HTTP/1.1\r\nHost: mm");
    net.established(idle);
    let t0 = net.now_ms;
    for _ in 0..40 {
        net.step_ms(50);
    }
    let r = net.responses(slow, 1);
    assert_eq!(r[0].status, 408);
    net.run_until("slow closed", |net| !net.sock(slow).may_recv());
    assert!(
        net.sock(idle).may_recv(),
        "still open before its idle timeout"
    );
    for _ in 0..70 {
        net.step_ms(50);
    }
    assert!(net.now_ms - t0 > 5_000);
    net.run_until("idle closed", |net| !net.sock(idle).may_recv());
    assert!(
        net.clients[idle].got.is_empty(),
        "closed without a response"
    );
    net.run_until("released", |net| net.stack.open_connections() == 0);
}

#[test]
fn a_connection_to_another_port_gets_rst() {
    let mut net = Net::new(config());
    let c = net.connect_to(IpAddress::Ipv4(SERVER_IP), PORT + 1);
    net.run_until("reset", |net| net.state(c) == tcp::State::Closed);
    assert_eq!(net.stats.mm1.accepted.load(Ordering::Relaxed), 0);
    // MM1 still works.
    let ok = net.connect();
    net.send(ok, &submit("ok"));
    assert_eq!(net.responses(ok, 1)[0].send_conf().0, b"ok");
}

#[test]
fn mm1_over_ipv6_with_neighbour_discovery() {
    let mut cfg = config();
    cfg.addresses
        .push(IpCidr::new(IpAddress::Ipv6(SERVER_IP6), 64));
    let mut net = Net::new(cfg);
    let c = net.connect_to(IpAddress::Ipv6(SERVER_IP6), PORT);
    net.send(c, &submit("V6"));
    assert_eq!(net.responses(c, 1)[0].send_conf().0, b"V6");
    assert_eq!(
        net.answered,
        vec![(MSISDN.to_string(), MessageType::SEND_REQ)]
    );
}

fn arp_request(target: Ipv4Address) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: CLIENT_MAC,
        source_protocol_addr: CLIENT_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let eth = EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let mut buf = vec![0; eth.buffer_len() + arp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    buf
}

fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src_addr: CLIENT_IP,
        dst_addr: SERVER_IP,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: SERVER_MAC,
        ethertype: EthernetProtocol::Ipv4,
    };
    let caps = ChecksumCapabilities::default();
    let mut buf = vec![0; eth.buffer_len() + ip.buffer_len() + icmp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf);
    eth.emit(&mut frame);
    let mut p = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut p, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
    buf
}

/// A TCP SYN from the client's address and `src_port` to the MM1 port.
fn syn(src_port: u16) -> Vec<u8> {
    segment(src_port, TcpControl::Syn, 1000)
}

/// A segment without ACK from the client's `src_port` to the MM1 port.
fn segment(src_port: u16, control: TcpControl, seq: i32) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port,
        dst_port: PORT,
        control,
        seq_number: TcpSeqNumber(seq),
        ack_number: None,
        window_len: 1024,
        window_scale: None,
        max_seg_size: Some(1460),
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload: &[],
    };
    let ip = Ipv4Repr {
        src_addr: CLIENT_IP,
        dst_addr: SERVER_IP,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: SERVER_MAC,
        ethertype: EthernetProtocol::Ipv4,
    };
    let caps = ChecksumCapabilities::default();
    let mut buf = vec![0; eth.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut buf);
    eth.emit(&mut frame);
    let mut p = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut p, &caps);
    tcp.emit(
        &mut TcpPacket::new_unchecked(p.payload_mut()),
        &IpAddress::Ipv4(CLIENT_IP),
        &IpAddress::Ipv4(SERVER_IP),
        &caps,
    );
    buf
}

/// The TCP control flags of the segments in `frames` (SYN, ACK, RST) to `dst_port`.
fn tcp_flags(frames: &[Vec<u8>], dst_port: u16) -> Vec<(bool, bool, bool)> {
    frames
        .iter()
        .filter_map(|f| {
            let e = EthernetFrame::new_checked(&f[..]).ok()?;
            if e.ethertype() != EthernetProtocol::Ipv4 {
                return None;
            }
            let ip = Ipv4Packet::new_checked(e.payload()).ok()?;
            let t = TcpPacket::new_checked(ip.payload()).ok()?;
            (t.dst_port() == dst_port).then(|| (t.syn(), t.ack(), t.rst()))
        })
        .collect()
}

/// A stack alone on a port, fed crafted frames.
fn lone_stack(cfg: StackConfig) -> (Stack, MemPort, Arc<StackStats>) {
    let (rings, _ctl) = ring_pair(8);
    let mut port = MemPort::new();
    let stats = Arc::new(StackStats::default());
    let stack = Stack::new(
        cfg,
        rings,
        Arc::clone(&stats),
        Arc::new(|| {}),
        &mut port,
        Instant::from_millis(0),
    )
    .unwrap();
    (stack, port, stats)
}

#[test]
fn arp_for_the_owned_address_and_icmp_echo_are_answered() {
    let (mut stack, mut port, stats) = lone_stack(config());
    // ARP for another address: no answer.
    port.rx
        .push_back(arp_request(Ipv4Address::new(10, 0, 0, 99)));
    assert!(stack.poll(&mut port, Instant::from_millis(1)));
    assert!(port.tx.is_empty());
    // ARP for ours: a reply with our MAC.
    port.rx.push_back(arp_request(SERVER_IP));
    stack.poll(&mut port, Instant::from_millis(2));
    let reply = port.tx.pop_front().expect("an ARP reply");
    let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(frame.ethertype(), EthernetProtocol::Arp);
    assert_eq!(frame.dst_addr(), CLIENT_MAC);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
    assert_eq!(
        arp,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: SERVER_MAC,
            source_protocol_addr: SERVER_IP,
            target_hardware_addr: CLIENT_MAC,
            target_protocol_addr: CLIENT_IP,
        }
    );
    // ICMP echo: the same ident, sequence number and data back.
    port.rx.push_back(echo_request(0x1234, 7, b"ping payload"));
    stack.poll(&mut port, Instant::from_millis(3));
    let reply = port.tx.pop_front().expect("an echo reply");
    let frame = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!(frame.ethertype(), EthernetProtocol::Ipv4);
    let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER_IP, CLIENT_IP));
    let icmp = Icmpv4Repr::parse(
        &Icmpv4Packet::new_checked(ip.payload()).unwrap(),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    assert_eq!(
        icmp,
        Icmpv4Repr::EchoReply {
            ident: 0x1234,
            seq_no: 7,
            data: b"ping payload",
        }
    );
    assert_eq!(stats.frames_in.load(Ordering::Relaxed), 3);
    assert_eq!(stats.frames_out.load(Ordering::Relaxed), 2);
    // Nothing more to do.
    assert!(!stack.poll(&mut port, Instant::from_millis(4)));
    assert_eq!(stack.poll_delay(Instant::from_millis(4)), None);
}

#[test]
fn the_classifier_drops_mm4_from_strangers_before_smoltcp() {
    let mut cfg = config();
    let rules = Rules {
        listeners: vec![
            Listener {
                addr: None,
                port: PORT,
                class: Class::Mm1,
            },
            Listener {
                addr: None,
                port: 2525,
                class: Class::Mm4,
            },
        ],
        mm4_peers: Vec::new(),
        syn_rate: 0,
        syn_burst: 0,
        mode: Mode::Redirect,
    };
    cfg.filter = Some(Classifier::new(&rules));
    let mut net = Net::new(cfg);
    // MM4 from a non-peer: no answer at all (the SYN is dropped, the client keeps trying).
    let mm4 = net.connect_to(IpAddress::Ipv4(SERVER_IP), 2525);
    for _ in 0..500 {
        net.step();
    }
    assert_eq!(net.state(mm4), tcp::State::SynSent);
    assert!(net.stats.frames_filtered.load(Ordering::Relaxed) >= 1);
    // Another port: RST, as without the classifier; MM1: served.
    let other = net.connect_to(IpAddress::Ipv4(SERVER_IP), 2526);
    net.run_until("reset", |net| net.state(other) == tcp::State::Closed);
    let ok = net.connect();
    net.send(ok, &submit("ok"));
    assert_eq!(net.responses(ok, 1)[0].send_conf().0, b"ok");
    let counters = net.stack.filter().unwrap().counters();
    assert!(counters.dropped() >= 1);
    assert!(counters.packets[Class::Mm1.index()] > 0);
}

#[test]
fn bad_configurations_are_refused_with_every_problem() {
    let mut cfg = config();
    cfg.addresses = vec![
        IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(224, 0, 0, 1)), 24),
        IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24),
        IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24),
    ];
    cfg.gateways = vec![IpAddress::Ipv6(SERVER_IP6)];
    cfg.mac = EthernetAddress::BROADCAST;
    cfg.mm1_port = 0;
    cfg.listen_backlog = 0;
    cfg.rx_buffer_bytes = 100;
    let problems = cfg.problems();
    for p in [
        ConfigProblem::TooManyAddresses { max: 2 },
        ConfigProblem::NotUnicast(IpCidr::new(
            IpAddress::Ipv4(Ipv4Address::new(224, 0, 0, 1)),
            24,
        )),
        ConfigProblem::DuplicateAddress(IpCidr::new(IpAddress::Ipv4(SERVER_IP), 24)),
        ConfigProblem::BadGateway(IpAddress::Ipv6(SERVER_IP6)),
        ConfigProblem::MacNotUnicast(EthernetAddress::BROADCAST),
        ConfigProblem::PortZero,
        ConfigProblem::NoBacklog,
        ConfigProblem::BufferTooSmall {
            which: "rx",
            bytes: 100,
        },
    ] {
        assert!(problems.contains(&p), "{p:?} missing from {problems:?}");
    }
    let (rings, _ctl) = ring_pair(2);
    let err = Stack::new(
        cfg,
        rings,
        Arc::new(StackStats::default()),
        Arc::new(|| {}),
        &mut MemPort::new(),
        Instant::from_millis(0),
    )
    .unwrap_err();
    assert!(matches!(err, StackError::Config(ref ps) if ps.len() == problems.len()));
    assert!(err.to_string().contains("MM1 port 0"));
    // A gateway of an owned family is fine.
    let mut cfg = config();
    cfg.gateways = vec![IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 254))];
    assert!(cfg.problems().is_empty());
}

#[test]
fn run_core_serves_until_stopped() {
    use std::sync::atomic::AtomicBool;
    // A device that answers nothing: the loop idles (backing off) until stopped.
    let (rings, _ctl) = ring_pair(2);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(StackStats::default());
    let (s, st) = (Arc::clone(&stop), Arc::clone(&stats));
    let t = std::thread::spawn(move || {
        let mut port = MemPort::new();
        port.rx.push_back(arp_request(SERVER_IP));
        mmsc_netstack::run_core(&mut port, config(), rings, st, s, Arc::new(|| {})).unwrap();
        port
    });
    let t0 = std::time::Instant::now();
    while stats.frames_out.load(Ordering::Relaxed) == 0 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    stop.store(true, Ordering::Release);
    t.thread().unpark();
    let port = t.join().unwrap();
    assert_eq!(port.tx.len(), 1, "the ARP reply");
}

#[test]
fn half_open_connections_are_bounded_and_time_out() {
    let mut cfg = config();
    cfg.listen_backlog = 1;
    cfg.max_connections = 2;
    cfg.handshake_timeout_ms = 3_000;
    let (mut stack, mut port, _stats) = lone_stack(cfg);
    // The SYNs' source has to be known to get SYN-ACKs: an ARP request tells it.
    port.rx.push_back(arp_request(SERVER_IP));
    port.rx.push_back(syn(50001));
    port.rx.push_back(syn(50002));
    port.rx.push_back(syn(50003));
    stack.poll(&mut port, Instant::from_millis(1));
    let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
    let syn_acks = |p| tcp_flags(&sent, p);
    // Two sockets: two SYN-ACKs; the third SYN finds none listening and is reset.
    assert_eq!(syn_acks(50001), vec![(true, true, false)]);
    assert_eq!(syn_acks(50002), vec![(true, true, false)]);
    assert_eq!(syn_acks(50003), vec![(false, true, true)]);
    assert_eq!(stack.listening(), 0);
    assert_eq!(stack.sockets_allocated(), 2);
    // Nobody completes the handshakes: after the timeout both are reset and listen again.
    let mut resets = 0;
    for t in (100..=5_000).step_by(100) {
        stack.poll(&mut port, Instant::from_millis(t));
        let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
        resets += tcp_flags(&sent, 50001)
            .into_iter()
            .chain(tcp_flags(&sent, 50002))
            .filter(|f| f.2)
            .count();
    }
    assert_eq!(resets, 2);
    assert_eq!(stack.listening(), 1);
    assert_eq!(stack.open_connections(), 0);
    assert_eq!(stack.sockets_allocated(), 2, "one listening, one spare");
}

#[test]
fn a_retransmitted_syn_is_answered_by_its_own_socket() {
    let mut cfg = config();
    cfg.listen_backlog = 4;
    let (mut stack, mut port, _stats) = lone_stack(cfg);
    port.rx.push_back(arp_request(SERVER_IP));
    port.rx.push_back(syn(50002));
    port.rx.push_back(syn(50001));
    stack.poll(&mut port, Instant::from_millis(1));
    let first: Vec<Vec<u8>> = port.tx.drain(..).collect();
    assert_eq!(tcp_flags(&first, 50001), vec![(true, true, false)]);
    // The first client gives up (RST): its socket listens again.
    port.rx.push_back(segment(50002, TcpControl::Rst, 1001));
    stack.poll(&mut port, Instant::from_millis(2));
    assert_eq!(stack.listening(), 4, "the pool keeps its size");
    // The second did not get its SYN-ACK and sends its SYN again: the socket in
    // SYN-RECEIVED answers it, not one listening (which would make a second half-open
    // connection).
    port.rx.push_back(syn(50001));
    stack.poll(&mut port, Instant::from_millis(3));
    let again: Vec<Vec<u8>> = port.tx.drain(..).collect();
    let seq = |frames: &[Vec<u8>]| -> Vec<u32> {
        frames
            .iter()
            .filter_map(|f| {
                let e = EthernetFrame::new_checked(&f[..]).ok()?;
                let ip = Ipv4Packet::new_checked(e.payload()).ok()?;
                let t = TcpPacket::new_checked(ip.payload()).ok()?;
                (t.dst_port() == 50001 && t.syn()).then(|| t.seq_number().0 as u32)
            })
            .collect()
    };
    let (s1, s2) = (seq(&first), seq(&again));
    assert_eq!(s1.len(), 1);
    assert!(
        s2.iter().all(|s| *s == s1[0]),
        "the same connection answers: {s1:?} then {s2:?}"
    );
    assert_eq!(stack.listening(), 4);
    assert_eq!(
        stack.sockets_allocated(),
        6,
        "four listening, one half-open, one spare"
    );
}

/// [`config`] for many connections at once: the listening pool and the connection limit
/// given, 4 KiB socket buffers each.
fn many_connections(listen_backlog: usize, max_connections: usize) -> StackConfig {
    let mut cfg = config();
    cfg.listen_backlog = listen_backlog;
    cfg.max_connections = max_connections;
    cfg.rx_buffer_bytes = 4096;
    cfg.tx_buffer_bytes = 4096;
    cfg
}

#[test]
fn connection_churn_leaves_no_socket_behind() {
    let cfg = many_connections(8, 128);
    let mut net = Net::with_ring(cfg, 256);
    for wave in 0..4 {
        // 60 connections, each one request that asks the server to close; half of the
        // clients close first, half wait for the server's FIN.
        let cs: Vec<usize> = (0..60).map(|_| net.connect()).collect();
        for &c in &cs {
            let mut req = submit(&format!("W{wave}-{c}"));
            let at = req.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
            req.splice(at..at, b"Connection: close\r\n".iter().copied());
            net.send(c, &req);
        }
        for &c in &cs {
            let r = net.responses(c, 1);
            assert_eq!(r[0].send_conf().0, format!("W{wave}-{c}").as_bytes());
            if c % 2 == 0 {
                net.sock(c).close();
            }
        }
        net.run_until("all released", |net| net.stack.open_connections() == 0);
        for &c in &cs {
            net.sock(c).close();
        }
        net.run_until("clients closed", |net| {
            cs.iter()
                .all(|&c| matches!(net.state(c), tcp::State::TimeWait | tcp::State::Closed))
        });
        for _ in 0..20 {
            net.step();
        }
        assert_eq!(net.stack.listening(), 8, "wave {wave}");
        assert!(
            net.stack.sockets_allocated() <= 8 + 8,
            "wave {wave}: {} sockets: listening and spares only",
            net.stack.sockets_allocated()
        );
    }
    assert_eq!(net.stats.mm1.accepted.load(Ordering::Relaxed), 240);
}

#[test]
fn five_hundred_connections_are_served_at_once() {
    let cfg = many_connections(64, 600);
    // A ring with room for every request (a full one answers 503).
    let mut net = Net::with_ring(cfg, 1024);
    let n = 500;
    let cs: Vec<usize> = (0..n).map(|_| net.connect()).collect();
    net.run_until("all established", |net| {
        cs.iter().all(|&c| net.state(c) == tcp::State::Established)
    });
    for round in 0..2 {
        for &c in &cs {
            net.send(c, &submit(&format!("C{round}-{c}")));
        }
        net.run_until("all answered", |net| {
            cs.iter()
                .all(|&c| !parse_responses(&net.clients[c].got).0.is_empty())
        });
        for &c in &cs {
            let r = net.responses(c, 1);
            assert_eq!(r[0].send_conf().0, format!("C{round}-{c}").as_bytes());
        }
    }
    assert_eq!(net.stack.open_connections(), n);
    assert_eq!(net.stats.mm1.accepted.load(Ordering::Relaxed), n as u64);
}

#[test]
fn a_client_that_does_not_read_its_response_is_reset() {
    let mut cfg = config();
    cfg.http.request_timeout_ms = 2_000;
    let mut net = Net::new(cfg);
    let c = net.connect();
    net.clients[c].paused = true;
    net.send(
        c,
        format!("GET /mms/big-200000 HTTP/1.1\r\nHost: mmsc\r\nX-MSISDN: {MSISDN}\r\n\r\n")
            .as_bytes(),
    );
    for _ in 0..60 {
        net.step_ms(50);
    }
    assert_eq!(net.state(c), tcp::State::Closed, "reset by the stack");
    assert_eq!(net.stats.aborted.load(Ordering::Relaxed), 1);
    net.run_until("released", |net| net.stack.open_connections() == 0);
}

#[test]
fn a_request_then_fin_still_gets_its_answer() {
    let mut net = Net::new(config());
    let c = net.connect();
    net.send(c, &submit("half"));
    net.run_until("sent", |net| {
        net.clients[c].sent == net.clients[c].out.len()
    });
    // The client closes its side at once (FIN); the answer still comes, then the stack closes.
    net.sock(c).close();
    let r = net.responses(c, 1);
    assert_eq!(r[0].send_conf().0, b"half");
    net.run_until("closed", |net| {
        matches!(net.state(c), tcp::State::TimeWait | tcp::State::Closed)
    });
    net.run_until("released", |net| net.stack.open_connections() == 0);
}

/// Both directions of a cable shared between threads: side `i` receives from queue `i`.
#[derive(Clone, Default)]
struct Cable(Arc<std::sync::Mutex<[std::collections::VecDeque<Vec<u8>>; 2]>>);

/// One end of a [`Cable`], as a smoltcp device.
struct End {
    cable: Cable,
    side: usize,
}

struct EndRx(Vec<u8>);

struct EndTx<'a> {
    cable: &'a Cable,
    to: usize,
}

impl smoltcp::phy::RxToken for EndRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for EndTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.cable.0.lock().unwrap()[self.to].push_back(frame);
        r
    }
}

impl smoltcp::phy::Device for End {
    type RxToken<'a> = EndRx;
    type TxToken<'a> = EndTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(EndRx, EndTx<'_>)> {
        let frame = self.cable.0.lock().unwrap()[self.side].pop_front()?;
        Some((
            EndRx(frame),
            EndTx {
                cable: &self.cable,
                to: 1 - self.side,
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<EndTx<'_>> {
        Some(EndTx {
            cable: &self.cable,
            to: 1 - self.side,
        })
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        let mut caps = smoltcp::phy::DeviceCapabilities::default();
        caps.medium = smoltcp::phy::Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

#[test]
fn a_spawned_core_serves_with_a_control_plane_thread() {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration as StdDuration;

    fn assert_send<T: Send>() {}
    assert_send::<Stack>();
    assert_send::<StackConfig>();

    let cable = Cable::default();
    let (rings, mut ctl) = ring_pair(64);
    let server_end = End {
        cable: cable.clone(),
        side: 0,
    };
    // A device of "another crate": its per-round hook given as a closure.
    let rounds = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&rounds);
    let core = mmsc_netstack::spawn_core(
        "mmsc-test-core".into(),
        config(),
        rings,
        Arc::new(|| {}),
        move || {
            Ok::<_, std::convert::Infallible>(mmsc_netstack::Hooked {
                device: server_end,
                after_round: move |_: &mut End| {
                    r.fetch_add(1, Ordering::Relaxed);
                },
            })
        },
    )
    .unwrap();
    // The control plane: answers each submit, then wakes the core.
    let wake_core = core.waker();
    let done = Arc::new(AtomicBool::new(false));
    let d = Arc::clone(&done);
    let control = std::thread::spawn(move || {
        while !d.load(Ordering::Acquire) {
            let mut any = false;
            while let Ok(job) = ctl.jobs.pop() {
                let JobKind::Post { buf, body, .. } = job.kind else {
                    panic!("a submit expected")
                };
                let pdu = Pdu::decode(&buf[body], &Limits::default()).unwrap();
                let conf = build::send_conf(
                    pdu.transaction_id(),
                    Version::V1_2,
                    ResponseStatus::OK,
                    None,
                );
                let response = Response::mms(conf.encode().unwrap());
                ctl.replies
                    .push(Reply {
                        conn: job.conn,
                        response,
                    })
                    .unwrap();
                any = true;
            }
            if any {
                wake_core();
            }
            std::thread::sleep(StdDuration::from_micros(200));
        }
    });
    // The handset, on this thread, in real time.
    let clock = mmsc_netstack::Clock::new();
    let mut dev = End { cable, side: 1 };
    let mut ic = Config::new(HardwareAddress::Ethernet(CLIENT_MAC));
    ic.random_seed = 5;
    let mut iface = Interface::new(ic, &mut dev, clock.now());
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv4(CLIENT_IP), 24)).unwrap();
    });
    let mut sockets = SocketSet::new(Vec::new());
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 65536]),
        tcp::SocketBuffer::new(vec![0; 65536]),
    );
    s.connect(iface.context(), (IpAddress::Ipv4(SERVER_IP), PORT), 45000)
        .unwrap();
    let h = sockets.add(s);
    let t0 = std::time::Instant::now();
    let mut got = Vec::new();
    for i in 0..3 {
        let req = submit(&format!("T-{i}"));
        let mut sent = 0;
        loop {
            assert!(
                t0.elapsed() < StdDuration::from_secs(20),
                "no answer in time"
            );
            iface.poll(clock.now(), &mut dev, &mut sockets);
            let s = sockets.get_mut::<tcp::Socket<'static>>(h);
            if sent < req.len() && s.can_send() {
                sent += s.send_slice(&req[sent..]).unwrap();
            }
            while s.can_recv() {
                s.recv(|d| {
                    got.extend_from_slice(d);
                    (d.len(), ())
                })
                .unwrap();
            }
            let (rs, used) = parse_responses(&got);
            if let Some(r) = rs.first() {
                assert_eq!(r.send_conf().0, format!("T-{i}").as_bytes());
                got.drain(..used);
                break;
            }
            std::thread::sleep(StdDuration::from_micros(100));
        }
    }
    let stats = Arc::clone(&core.stats);
    core.stop().unwrap();
    done.store(true, Ordering::Release);
    control.join().unwrap();
    assert_eq!(stats.mm1.accepted.load(Ordering::Relaxed), 1);
    assert_eq!(stats.mm1.jobs.load(Ordering::Relaxed), 3);
    assert!(rounds.load(Ordering::Relaxed) > 3);
    // Stopping reset the connection.
    for _ in 0..10 {
        iface.poll(clock.now(), &mut dev, &mut sockets);
    }
    assert_eq!(
        sockets.get::<tcp::Socket<'static>>(h).state(),
        tcp::State::Closed
    );
}

#[test]
fn a_core_whose_device_fails_reports_it() {
    let (rings, _ctl) = ring_pair(2);
    let core = mmsc_netstack::spawn_core(
        "mmsc-test-fail".into(),
        config(),
        rings,
        Arc::new(|| {}),
        || Err::<MemPort, _>("no such queue"),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    while !core.is_finished() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let err = core.stop().unwrap_err();
    assert_eq!(err.to_string(), "device: no such queue");
}

#[test]
fn neighbours_are_gleaned_from_received_frames() {
    // Another core got the peer's ARP: this one sees its SYN first, and answers it at once.
    let (mut stack, mut port, stats) = lone_stack(config());
    port.rx.push_back(syn(50001));
    stack.poll(&mut port, Instant::from_millis(1));
    let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
    assert_eq!(tcp_flags(&sent, 50001), vec![(true, true, false)]);
    assert_eq!(sent.len(), 1, "no ARP request");
    let to = EthernetFrame::new_checked(&sent[0][..]).unwrap().dst_addr();
    assert_eq!(to, CLIENT_MAC);
    assert_eq!(stats.neighbors_learnt.load(Ordering::Relaxed), 1);
    // Further frames from it do not tell smoltcp again (until the refresh).
    port.rx.push_back(syn(50002));
    stack.poll(&mut port, Instant::from_millis(2));
    assert_eq!(stats.neighbors_learnt.load(Ordering::Relaxed), 1);

    // Without gleaning: smoltcp asks first (ARP), and the SYN-ACK waits for the answer.
    let mut cfg = config();
    cfg.glean_neighbors = false;
    let (mut stack, mut port, _) = lone_stack(cfg);
    port.rx.push_back(syn(50001));
    stack.poll(&mut port, Instant::from_millis(1));
    let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
    assert!(tcp_flags(&sent, 50001).is_empty());
    assert_eq!(
        EthernetFrame::new_checked(&sent[0][..])
            .unwrap()
            .ethertype(),
        EthernetProtocol::Arp
    );
    // Told by the backend instead.
    assert!(stack.learn_neighbor(
        IpAddress::Ipv4(CLIENT_IP),
        CLIENT_MAC,
        Instant::from_millis(2)
    ));
    assert!(!stack.learn_neighbor(
        IpAddress::v4(192, 0, 2, 1),
        CLIENT_MAC,
        Instant::from_millis(2)
    ));
    assert!(!stack.learn_neighbor(
        IpAddress::Ipv4(SERVER_IP),
        CLIENT_MAC,
        Instant::from_millis(2)
    ));
    stack.poll(&mut port, Instant::from_millis(3));
    let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
    assert_eq!(tcp_flags(&sent, 50001), vec![(true, true, false)]);
}

#[test]
fn the_gateway_is_gleaned_from_off_link_peers() {
    let gw = Ipv4Address::new(10, 0, 0, 254);
    let gw_mac = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
    let mut cfg = config();
    cfg.gateways = vec![IpAddress::Ipv4(gw)];
    let (mut stack, mut port, _) = lone_stack(cfg);
    // A SYN from 198.51.100.7 through the router.
    let mut f = syn(50001);
    f[6..12].copy_from_slice(&gw_mac.0);
    let far = Ipv4Address::new(198, 51, 100, 7);
    {
        let mut frame = EthernetFrame::new_unchecked(&mut f[..]);
        let mut ip = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.set_src_addr(far);
        ip.fill_checksum();
        let (src, dst) = (IpAddress::Ipv4(far), IpAddress::Ipv4(SERVER_IP));
        let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
        tcp.fill_checksum(&src, &dst);
    }
    port.rx.push_back(f);
    stack.poll(&mut port, Instant::from_millis(1));
    let sent: Vec<Vec<u8>> = port.tx.drain(..).collect();
    assert_eq!(tcp_flags(&sent, 50001), vec![(true, true, false)]);
    let e = EthernetFrame::new_checked(&sent[0][..]).unwrap();
    assert_eq!(e.dst_addr(), gw_mac, "sent through the gateway");
    let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
    assert_eq!(ip.dst_addr(), far);
}

#[test]
fn reads_are_held_back_while_a_request_is_in_flight() {
    let mut cfg = config();
    cfg.http.max_body_bytes = 20 * 1024;
    let mut net = Net::new(cfg);
    net.control = Control::Paused;
    let c = net.connect();
    // 15 pipelined submits of ~10 KB: 150 KB, more than the stack buffers (one request beyond
    // the one in flight: 20 + 8 + 16 KiB), its socket window (16 KiB) and the client's
    // socket (64 KiB) hold together.
    let n = 15;
    for i in 0..n {
        net.send(c, &post(&send_req(&format!("B-{i}"), 10_000)));
    }
    let total = net.clients[c].out.len();
    assert!(total > 150_000);
    for _ in 0..500 {
        net.step();
    }
    let sent = net.clients[c].sent;
    assert!(sent < total, "the window closed: {sent} of {total} sent");
    // The request in flight, what the stack buffers, the window, the client's socket.
    let one = total / n;
    assert!(sent <= one + (20 + 8 + 16 + 16 + 64) * 1024, "{sent}");
    assert_eq!(net.stats.mm1.jobs.load(Ordering::Relaxed), 1);
    // The control plane answers: everything flows, in order.
    net.control = Control::Answer;
    let r = net.responses(c, n);
    for (i, resp) in r.iter().enumerate() {
        assert_eq!(resp.send_conf().0, format!("B-{i}").as_bytes());
    }
}
