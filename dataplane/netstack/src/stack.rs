//! One core's stack: a smoltcp interface, a pool of TCP sockets on the MM1 port, one
//! [`ServerConn`] per connection, the MM1 front, and the core's rings to the control plane.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mmsc_classify::Classifier;
use mmsc_dataplane::bufpool::BufPool;
use mmsc_dataplane::kernel::{CoreRings, READ_CHUNK, ReactorStats};
use mmsc_dataplane::mm1::{Action, Mm1Front};
use mmsc_dataplane::ring::{Chunk, ConnId, Job, Reply, Response};
use mmsc_dataplane::submit::hand_over;
use mmsc_wire::http::{self, Event, HttpLimits, ServerConn};
use smoltcp::iface::{Config, Interface, SocketHandle};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress};

use crate::config::{StackConfig, StackError};
use crate::neigh;
use crate::table::{OneFrame, Route, SockId, Table};
use crate::tap::{Counts, Tap};

/// Called after each batch of jobs is pushed, to wake the control plane.
pub type WakeFn = Arc<dyn Fn() + Send + Sync>;

/// Most frames taken from the device in one round.
pub const INGRESS_BUDGET: usize = 256;
/// Period of the timeout sweep, milliseconds.
pub const SWEEP_MS: u64 = 100;
/// A gleaned neighbour is told to smoltcp again after this long (its cache keeps an entry
/// 60 s).
const GLEAN_REFRESH_MS: u64 = 20_000;
/// A gleaned neighbour not heard from in this long is forgotten.
const GLEAN_FORGET_MS: u64 = 60_000;
/// Most gleaned neighbours remembered (beyond, new ones are left to ARP / NDP).
const MAX_GLEANED_NEIGHBORS: usize = 4096;

/// Counters of one core's stack (read by status and metrics).
#[derive(Debug, Default)]
pub struct StackStats {
    /// The MM1 counters, the same as the kernel backend's reactors keep: connections
    /// accepted (established), requests parsed, jobs handed over, requests refused because the
    /// ring was full, HTTP errors answered.
    pub mm1: ReactorStats,
    /// Frames received from the device.
    pub frames_in: AtomicU64,
    /// Frames sent to the device.
    pub frames_out: AtomicU64,
    /// Frames received and dropped by the classifier ([`StackConfig::filter`]).
    pub frames_filtered: AtomicU64,
    /// Neighbours told to smoltcp from the frames received
    /// ([`StackConfig::glean_neighbors`]) or by [`Stack::learn_neighbor`].
    pub neighbors_learnt: AtomicU64,
    /// Connections reset by the stack: a response not read in time, a close not acknowledged
    /// in time, a socket error.
    pub aborted: AtomicU64,
}

enum Out {
    Bytes(Chunk),
    /// End of a final response: the request is answered.
    End {
        close: bool,
    },
}

/// What a round did to a connection.
enum Fate {
    Keep,
    /// Close after what is queued in the socket is sent (FIN).
    Close,
    /// Reset it.
    Abort,
    /// The socket is closed already (reset by the peer, or timed out in smoltcp).
    Gone,
}

enum Flushed {
    /// Nothing more can be written now (or nothing is queued).
    Idle,
    /// A response was finished: pipelined requests may be parsed.
    Answered,
    /// A response with `Connection: close` was finished.
    Close,
    /// The socket refuses data.
    Error,
}

/// What a connection needs from the stack while it is served.
struct Cx<'a> {
    now: u64,
    core: u16,
    slot: u32,
    front: &'a Mm1Front,
    stats: &'a StackStats,
    jobs: &'a mut Vec<Job>,
    /// Request buffers given back by the store writer, to read into.
    pool: Option<&'a BufPool>,
    max_buffer: usize,
    work: bool,
}

struct Conn {
    sock: SockId,
    peer: IpAddr,
    http: ServerConn,
    generation: u32,
    out: VecDeque<Out>,
    /// Octets of the front chunk already written.
    out_off: usize,
    /// A job is at the control plane.
    awaiting: bool,
    /// Keep-alive of the request in flight.
    keep_alive: bool,
    /// The peer closed its side.
    peer_closed: bool,
    /// Close once the queue is written.
    closing: bool,
    /// When the oldest queued output was queued (ms), for a write timeout.
    out_since: Option<u64>,
}

impl Conn {
    /// Serve one round: read, parse, answer, write.
    fn service(&mut self, sock: &mut tcp::Socket<'_>, cx: &mut Cx<'_>) -> Fate {
        if matches!(sock.state(), tcp::State::Closed | tcp::State::TimeWait) {
            return Fate::Gone;
        }
        let mut fresh = self.read(sock, cx);
        loop {
            if fresh {
                self.process(cx);
            }
            match self.flush(sock, cx) {
                Flushed::Idle => break,
                Flushed::Answered => {
                    // Pipelined requests, or reads held back while the request was in flight.
                    self.read(sock, cx);
                    fresh = true;
                }
                Flushed::Close => return Fate::Close,
                Flushed::Error => return Fate::Abort,
            }
        }
        if self.peer_closed && !self.awaiting && self.out.is_empty() {
            return Fate::Close;
        }
        Fate::Keep
    }

    /// Move received octets into the HTTP buffer; true when some were.
    fn read(&mut self, sock: &mut tcp::Socket<'_>, cx: &mut Cx<'_>) -> bool {
        // Backpressure: while a request is in flight, buffer at most one more request; the
        // rest stays in the socket and its window closes.
        let room = cx.max_buffer.saturating_sub(self.http.buffered());
        let avail = sock.recv_queue().min(room);
        let mut got = false;
        if avail > 0 {
            // Everything queued in one copy (both halves of the ring); the buffer grows only
            // when it has no room for it, and then by at least a chunk.
            let want = if self.http.room() >= avail {
                avail
            } else {
                avail.max(READ_CHUNK)
            };
            let fresh = cx.pool.and_then(|p| p.storage_for(&self.http, want));
            let dst = self.http.spare_from(want, fresh);
            let dst_len = dst.len().min(avail);
            if let Some(dst) = dst.get_mut(..dst_len)
                && let Ok(n) = sock.recv_slice(dst)
                && n > 0
            {
                self.http.filled(n, cx.now);
                got = true;
            }
        }
        if !sock.may_recv() {
            self.peer_closed = true;
        }
        cx.work |= got;
        got
    }

    /// Parse and act on what is buffered, while no request is in flight.
    fn process(&mut self, cx: &mut Cx<'_>) {
        loop {
            if self.awaiting || self.closing || self.http.is_busy() {
                break;
            }
            match self.http.poll() {
                Ok(Some(Event::Continue)) => {
                    self.out
                        .push_back(Out::Bytes(Chunk::Owned(http::CONTINUE_100.to_vec())));
                }
                Ok(Some(Event::Request(req))) => {
                    cx.stats.mm1.requests.fetch_add(1, Ordering::Relaxed);
                    self.keep_alive = req.keep_alive;
                    match cx.front.handle(req, self.peer) {
                        Action::Respond(r) => self.queue_response(r, cx.now),
                        Action::Job(kind) => {
                            self.awaiting = true;
                            let conn = ConnId {
                                core: cx.core,
                                slot: cx.slot,
                                generation: self.generation,
                            };
                            cx.jobs.push(Job { conn, kind });
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    cx.stats.mm1.http_errors.fetch_add(1, Ordering::Relaxed);
                    self.keep_alive = false;
                    self.closing = true;
                    self.queue_response(Response::text(e.status(), &e.to_string()), cx.now);
                    break;
                }
            }
        }
    }

    fn queue_response(&mut self, r: Response, now: u64) {
        let keep = self.keep_alive && !self.closing;
        self.out
            .push_back(Out::Bytes(Chunk::Owned(response_head(&r, keep))));
        for b in r.body {
            self.out.push_back(Out::Bytes(b));
        }
        self.out.push_back(Out::End { close: !keep });
        if self.out_since.is_none() {
            self.out_since = Some(now);
        }
    }

    /// Write what is queued, as far as the socket takes it.
    fn flush(&mut self, sock: &mut tcp::Socket<'_>, cx: &mut Cx<'_>) -> Flushed {
        let mut answered = false;
        loop {
            match self.out.front() {
                None => {
                    self.out_since = None;
                    break;
                }
                Some(Out::End { close }) => {
                    let close = *close;
                    self.out.pop_front();
                    self.http.response_done(cx.now);
                    answered = true;
                    if close {
                        return Flushed::Close;
                    }
                }
                Some(Out::Bytes(b)) => {
                    let rest = b.bytes().get(self.out_off..).unwrap_or(&[]);
                    if rest.is_empty() {
                        self.out.pop_front();
                        self.out_off = 0;
                        continue;
                    }
                    let want = rest.len();
                    match sock.send_slice(rest) {
                        Ok(n) => {
                            cx.work |= n > 0;
                            if n == want {
                                self.out.pop_front();
                                self.out_off = 0;
                            } else {
                                // The transmit buffer is full: the rest on a later round.
                                self.out_off += n;
                                break;
                            }
                        }
                        Err(_) => return Flushed::Error,
                    }
                }
            }
        }
        if answered {
            Flushed::Answered
        } else {
            Flushed::Idle
        }
    }
}

/// The head of a response: status line, Content-Type, its headers, Content-Length, and
/// `Connection: close` unless `keep_alive`.
fn response_head(r: &Response, keep_alive: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(160);
    let mut hdrs: Vec<(&str, &str)> = Vec::with_capacity(r.headers.len() + 1);
    if let Some(ct) = r.content_type {
        hdrs.push(("Content-Type", ct));
    }
    for (n, v) in &r.headers {
        hdrs.push((n, v.as_str()));
    }
    http::write_head(&mut head, r.status, &hdrs, r.body_len(), keep_alive);
    head
}

/// A socket whose connection is over, until smoltcp is done with it.
struct Linger {
    sock: SockId,
    since: u64,
    aborted: bool,
}

/// A socket smoltcp has no more use for: closed with nothing left to send, or in TIME-WAIT
/// (dropped at once: a server that closes first does not wait 2 MSL).
fn recyclable(sock: &tcp::Socket<'_>) -> bool {
    match sock.state() {
        tcp::State::TimeWait => true,
        tcp::State::Closed => sock.local_endpoint().is_none(),
        _ => false,
    }
}

/// One dataplane core's user-space TCP/IP stack serving MM1.
///
/// Each [`Stack::poll`] runs one round, in this order:
///
/// 1. **ingress**: up to [`INGRESS_BUDGET`] frames from the device through smoltcp (ARP, NDP,
///    ICMP echo and TCP are handled there; SYNs to another port, or beyond the pool, get RST;
///    the listening pool is topped up whenever the frames since the last top-up could have
///    used it all). Each segment is given to its connection's socket alone, found by its
///    4-tuple, or to the listening pool (one set for the pool, one per connection): its cost
///    does not grow with the connections open;
/// 2. **replies** from the control plane, each queued on its connection (a reply whose
///    connection has closed since, its generation differing, is dropped);
/// 3. **listeners**: sockets that got a connection leave the listening pool and become
///    connections; the pool is refilled up to the backlog;
/// 4. **connections** whose socket the round touched (a segment, a reply, a timer):
///    received octets move from each socket into its HTTP engine (at most
///    one request beyond the one in flight is buffered: the rest waits in the socket, whose
///    window then closes), complete requests go through the MM1 front, answers and replies are
///    written into the socket as far as its transmit buffer takes them (the rest on later
///    rounds), in request order;
/// 5. **jobs**: the round's jobs go to the control plane in one batch, with one wake-up; those
///    the ring has no room for are answered 503 at once;
/// 6. **timeouts** (every [`SWEEP_MS`]), closed sockets recycled;
/// 7. **egress**: what the touched sockets have to send; their timers are re-armed.
///
/// Nothing in a round blocks; its cost is bounded by the ingress budget, the sockets it
/// touched and the octets the socket buffers take (every [`SWEEP_MS`], a pass over all
/// connections for their timeouts).
pub struct Stack {
    core: u16,
    port: u16,
    backlog: usize,
    max_sockets: usize,
    handshake_timeout: Duration,
    rx_buffer_bytes: usize,
    tx_buffer_bytes: usize,
    http: HttpLimits,
    front: Mm1Front,
    filter: Option<Classifier>,
    glean: bool,
    mac: EthernetAddress,
    gateways: Vec<IpAddress>,
    caps: DeviceCapabilities,
    /// Gleaned neighbours: MAC and when smoltcp was last told (ms).
    neighbors: HashMap<IpAddress, (EthernetAddress, u64)>,
    iface: Interface,
    /// Every TCP socket: the listening pool, and each connection's socket alone in a set.
    table: Table,
    /// The listening pool's sockets (in LISTEN).
    listeners: Vec<SocketHandle>,
    /// Sockets that took a SYN, until the handshake ends.
    handshaking: Vec<SockId>,
    /// Closed sockets kept for reuse (their buffers allocated).
    spare: Vec<tcp::Socket<'static>>,
    /// Sockets whose connection is over, until smoltcp is done with them.
    lingering: Vec<Linger>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    next_generation: u32,
    rings: CoreRings,
    wake_control: WakeFn,
    pending_jobs: Vec<Job>,
    /// Answers of the submit fast path, being delivered (kept for its capacity).
    answers: Vec<Reply>,
    stats: Arc<StackStats>,
    next_sweep: u64,
    /// Frames that may still arrive before the listening pool could be used up (each takes
    /// at most one listening socket): the pool is tended and topped up when it reaches 0.
    frames_to_topup: usize,
    /// The connection slots to serve in a round (kept for its capacity).
    ready: Vec<u32>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("core", &self.core)
            .field("port", &self.port)
            .field("addresses", &self.iface.ip_addrs())
            .field("open", &self.open)
            .field("listeners", &self.listeners.len())
            .field("lingering", &self.lingering.len())
            .finish_non_exhaustive()
    }
}

fn millis(now: Instant) -> u64 {
    u64::try_from(now.total_millis()).unwrap_or(0)
}

impl Stack {
    /// A stack for `cfg` on `device` (only its capabilities are read here), at `now` (the
    /// clock every later [`Stack::poll`] uses too). `wake_control` is called after each batch
    /// of jobs is pushed to `rings`; `stats` is where the counters go.
    pub fn new<D: Device>(
        cfg: StackConfig,
        rings: CoreRings,
        stats: Arc<StackStats>,
        wake_control: WakeFn,
        device: &mut D,
        now: Instant,
    ) -> Result<Stack, StackError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(StackError::Config(problems));
        }
        let caps = device.capabilities();
        let medium = caps.medium;
        if medium != Medium::Ethernet {
            return Err(StackError::NotEthernet(medium));
        }
        let mut ic = Config::new(HardwareAddress::Ethernet(cfg.mac));
        ic.random_seed = cfg.random_seed;
        let mut iface = Interface::new(ic, device, now);
        iface.update_ip_addrs(|addrs| {
            for a in &cfg.addresses {
                // Checked above: they fit.
                let _ = addrs.push(*a);
            }
        });
        for g in &cfg.gateways {
            // Checked above: one per family, they fit.
            let _ = match *g {
                IpAddress::Ipv4(v4) => iface.routes_mut().add_default_ipv4_route(v4),
                IpAddress::Ipv6(v6) => iface.routes_mut().add_default_ipv6_route(v6),
            };
        }
        let mut stack = Stack {
            core: cfg.core,
            port: cfg.mm1_port,
            backlog: cfg.listen_backlog,
            max_sockets: cfg.max_connections,
            handshake_timeout: Duration::from_millis(cfg.handshake_timeout_ms),
            rx_buffer_bytes: cfg.rx_buffer_bytes,
            tx_buffer_bytes: cfg.tx_buffer_bytes,
            http: cfg.http,
            front: cfg.front,
            filter: cfg.filter,
            glean: cfg.glean_neighbors,
            mac: cfg.mac,
            gateways: cfg.gateways,
            caps,
            neighbors: HashMap::new(),
            iface,
            table: Table::new(),
            listeners: Vec::new(),
            handshaking: Vec::new(),
            spare: Vec::new(),
            lingering: Vec::new(),
            conns: Vec::new(),
            free: Vec::new(),
            open: 0,
            next_generation: 0,
            rings,
            wake_control,
            pending_jobs: Vec::new(),
            answers: Vec::new(),
            stats,
            next_sweep: millis(now) + SWEEP_MS,
            frames_to_topup: 0,
            ready: Vec::new(),
        };
        stack.top_up();
        Ok(stack)
    }

    /// The counters.
    pub fn stats(&self) -> Arc<StackStats> {
        Arc::clone(&self.stats)
    }

    /// Connections open now (established and not yet closed by the stack).
    pub fn open_connections(&self) -> usize {
        self.open
    }

    /// Sockets in the LISTEN state now.
    pub fn listening(&self) -> usize {
        self.listeners
            .iter()
            .filter(|&&h| self.table.listen.get::<tcp::Socket<'_>>(h).is_listening())
            .count()
    }

    /// TCP sockets allocated now, of every kind (at most
    /// [`StackConfig::max_connections`]).
    pub fn sockets_allocated(&self) -> usize {
        self.in_use() + self.spare.len()
    }

    /// The owned addresses.
    pub fn addresses(&self) -> &[smoltcp::wire::IpCidr] {
        self.iface.ip_addrs()
    }

    /// The classifier in front of smoltcp, with its counters, if one is configured.
    pub fn filter(&self) -> Option<&Classifier> {
        self.filter.as_ref()
    }

    /// Run one round at `now` (see [`Stack`]); true when it did anything (frames in
    /// or out, octets moved, replies taken, jobs pushed). A caller polls again at once while
    /// it does, and may wait up to [`Stack::poll_delay`] when it does not.
    ///
    /// A round in which no frame arrives, no reply comes and nothing is due (no smoltcp
    /// timer, no timeout sweep) ends after the ingress: nothing else could have changed since
    /// the last round, whose egress sent everything it could. Such a round costs a look at
    /// the device and the reply ring, not a pass over every socket.
    pub fn poll<D: Device>(&mut self, device: &mut D, now: Instant) -> bool {
        let now_ms = millis(now);
        let now_ns = u64::try_from(now.total_micros())
            .unwrap_or(0)
            .saturating_mul(1000);
        let counts = Counts::default();
        let mut work = false;
        // The classifier is lent to the device wrapper for the ingress.
        let mut filter = self.filter.take();
        {
            let mut tap = Tap {
                inner: &mut *device,
                filter: filter.as_mut(),
                counts: &counts,
                now_ns,
                glean: self.glean,
            };
            self.iface.poll_maintenance(now);
            for _ in 0..INGRESS_BUDGET {
                // A frame takes at most one listening socket: after as many frames as there
                // are, the pool is topped up again, so that a burst of SYNs larger than the
                // backlog is not reset.
                if self.frames_to_topup == 0 {
                    self.tend_listeners(now_ms);
                    self.top_up();
                }
                let Some((rx, tx)) = tap.receive(now) else {
                    break;
                };
                // The frame's set is chosen before smoltcp sees it: its connection's socket
                // alone, or the listening pool.
                let (table, iface, caps) = (&mut self.table, &mut self.iface, &self.caps);
                let route = rx.consume(|frame| {
                    let route = table.route(frame);
                    let mut one = OneFrame {
                        frame: Some(frame),
                        tx: Some(tx),
                        caps,
                    };
                    iface.poll_ingress_single(now, &mut one, table.set_for(route));
                    route
                });
                self.frames_to_topup = self.frames_to_topup.saturating_sub(1);
                match route {
                    Route::Conn(id) => self.table.touch(id),
                    Route::Listen { syn: true } => self.adopt(),
                    Route::Neighbor => self.table.touch_all(),
                    Route::Listen { syn: false } | Route::Other => {}
                }
                // Before the answers are sent: where the frame's sender is.
                if !counts.gleaned.borrow().is_empty() {
                    let gleaned = counts.gleaned.take();
                    for (ip, mac) in gleaned {
                        self.glean(ip, mac, now);
                    }
                }
            }
        }
        self.filter = filter;
        work |= self.drain_replies(now_ms);
        if !work
            && counts.rx.get() == 0
            && now_ms < self.next_sweep
            && !self.is_due(now)
            && !self.table.has_touched()
        {
            return false;
        }
        self.table.fire_timers(now);
        self.tend_listeners(now_ms);
        // Only the connections whose socket was touched (a segment, a reply, a timer) have
        // anything to do.
        let mut ready = std::mem::take(&mut self.ready);
        self.table.touched_conns(&mut ready);
        for &slot in &ready {
            work |= self.service(slot as usize, now_ms);
        }
        self.ready = ready;
        work |= self.push_jobs(now_ms);
        if now_ms >= self.next_sweep {
            self.next_sweep = now_ms + SWEEP_MS;
            self.sweep(now_ms);
        }
        self.tend_lingering(now_ms);
        self.top_up();
        {
            let mut tap = Tap {
                inner: &mut *device,
                filter: None,
                counts: &counts,
                now_ns,
                glean: false,
            };
            self.table.egress(&mut self.iface, &mut tap, now);
        }
        let (rx, tx, filtered) = (counts.rx.get(), counts.tx.get(), counts.filtered.get());
        if rx > 0 {
            self.stats.frames_in.fetch_add(rx, Ordering::Relaxed);
        }
        if tx > 0 {
            self.stats.frames_out.fetch_add(tx, Ordering::Relaxed);
        }
        if filtered > 0 {
            self.stats
                .frames_filtered
                .fetch_add(filtered, Ordering::Relaxed);
        }
        work || rx > 0 || tx > 0
    }

    /// The listener that took the SYN just received (if one did) leaves the pool for a set of
    /// its own, until its handshake ends.
    fn adopt(&mut self) {
        let taken = self
            .listeners
            .iter()
            .position(|&h| !self.table.listen.get::<tcp::Socket<'_>>(h).is_listening());
        if let Some(i) = taken {
            let h = self.listeners.swap_remove(i);
            if let Some(id) = self.table.adopt(h) {
                self.handshaking.push(id);
            }
        }
    }

    /// Whether a socket's timer is due at `now`.
    fn is_due(&self, now: Instant) -> bool {
        self.table.next_timer().is_some_and(|at| at <= now)
    }

    /// How long the caller may wait before the next [`Stack::poll`] if no frame arrives and
    /// no reply comes: smoltcp's next timer (retransmission, delayed ACK, ...) or the next
    /// timeout sweep. `None`: nothing is due, ever.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        if self.table.has_touched() {
            return Some(Duration::ZERO);
        }
        let smol = self
            .table
            .next_timer()
            .map(|at| if now < at { at - now } else { Duration::ZERO });
        if self.open == 0 && self.lingering.is_empty() && self.handshaking.is_empty() {
            return smol;
        }
        let sweep = Duration::from_millis(self.next_sweep.saturating_sub(millis(now)));
        Some(smol.map_or(sweep, |d| d.min(sweep)))
    }

    /// Reset every connection and send what smoltcp has to send (the RSTs): for a core that
    /// stops.
    pub fn shutdown<D: Device>(&mut self, device: &mut D, now: Instant) {
        self.table.for_each_mut(|t| t.abort());
        self.table.touch_all();
        let counts = Counts::default();
        let mut tap = Tap {
            inner: device,
            filter: None,
            counts: &counts,
            now_ns: 0,
            glean: false,
        };
        self.table.egress(&mut self.iface, &mut tap, now);
        self.stats
            .frames_out
            .fetch_add(counts.tx.get(), Ordering::Relaxed);
    }

    /// Tell smoltcp that `ip` is at `mac` (as if it had answered our ARP request or sent a
    /// neighbour advertisement): for a backend that learns neighbours elsewhere (another
    /// core, the kernel's table). False when `ip` is not on the link of an owned address (or
    /// is one).
    pub fn learn_neighbor(&mut self, ip: IpAddress, mac: EthernetAddress, now: Instant) -> bool {
        if !mac.is_unicast() || !ip.is_unicast() || self.iface.has_ip_addr(ip) {
            return false;
        }
        let Some(ours) = self
            .iface
            .ip_addrs()
            .iter()
            .find(|c| c.contains_addr(&ip))
            .map(|c| c.address())
        else {
            return false;
        };
        let Some(frame) = neigh::announcement(ip, mac, ours, self.mac) else {
            return false;
        };
        let learnt = neigh::inject(
            &mut self.iface,
            &mut self.table.listen,
            &self.caps,
            &frame,
            now,
        );
        // What waited for this neighbour may go now.
        self.table.touch_all();
        if learnt {
            self.stats.neighbors_learnt.fetch_add(1, Ordering::Relaxed);
        }
        learnt
    }

    /// A frame from `ip` came from `mac`: the neighbour itself when `ip` is on-link, else the
    /// gateway of its family (if one is configured). smoltcp is told at most every
    /// [`GLEAN_REFRESH_MS`] per neighbour, or at once when the MAC changes.
    fn glean(&mut self, ip: IpAddress, mac: EthernetAddress, now: Instant) {
        let on_link = self.iface.ip_addrs().iter().any(|c| c.contains_addr(&ip));
        let neighbor = if on_link {
            ip
        } else {
            let v4 = matches!(ip, IpAddress::Ipv4(_));
            match self
                .gateways
                .iter()
                .find(|g| matches!(g, IpAddress::Ipv4(_)) == v4)
            {
                Some(g) => *g,
                None => return,
            }
        };
        let now_ms = millis(now);
        match self.neighbors.get(&neighbor) {
            Some(&(m, t)) if m == mac && now_ms.saturating_sub(t) < GLEAN_REFRESH_MS => return,
            None if self.neighbors.len() >= MAX_GLEANED_NEIGHBORS => return,
            _ => {}
        }
        if self.learn_neighbor(neighbor, mac, now) {
            self.neighbors.insert(neighbor, (mac, now_ms));
        }
    }

    fn in_use(&self) -> usize {
        self.listeners.len() + self.handshaking.len() + self.open + self.lingering.len()
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.rx_buffer_bytes]),
            tcp::SocketBuffer::new(vec![0; self.tx_buffer_bytes]),
        );
        // A response is written whole; do not hold its last segment back.
        s.set_nagle_enabled(false);
        s
    }

    /// [`Stack::refill`], and count the frames until the pool needs it again.
    fn top_up(&mut self) {
        let listening = self.refill();
        self.frames_to_topup = if listening == 0 {
            INGRESS_BUDGET
        } else {
            listening
        };
    }

    /// Keep `backlog` sockets listening, within `max_sockets`; trim the spares. The number
    /// listening after.
    fn refill(&mut self) -> usize {
        let mut listening = self.listening();
        while listening < self.backlog {
            if self.in_use() >= self.max_sockets {
                break;
            }
            let mut sock = match self.spare.pop() {
                Some(s) => s,
                None => self.new_socket(),
            };
            sock.set_timeout(Some(self.handshake_timeout));
            // Cannot fail (closed sockets listen, the port is not 0); if it did, the socket
            // is dropped.
            if sock.listen(self.port).is_ok() {
                self.listeners.push(self.table.listen.add(sock));
                listening += 1;
            }
        }
        self.spare.truncate(self.backlog);
        listening
    }

    /// Sockets that got a connection become connections; those whose handshake failed are
    /// recycled.
    fn tend_listeners(&mut self, now: u64) {
        let mut i = 0;
        while let Some(&id) = self.handshaking.get(i) {
            let sock = self.table.sock(id);
            match sock.state() {
                tcp::State::SynReceived => i += 1,
                tcp::State::Listen => {
                    // Reset by the peer during the handshake: the socket is free again.
                    self.handshaking.swap_remove(i);
                    if let Some(mut sock) = self.table.take(id) {
                        sock.close();
                        self.spare.push(sock);
                    }
                }
                tcp::State::Closed | tcp::State::TimeWait => {
                    // The handshake timed out (an RST may still have to go).
                    self.handshaking.swap_remove(i);
                    self.lingering.push(Linger {
                        sock: id,
                        since: now,
                        aborted: true,
                    });
                }
                _ => {
                    self.handshaking.swap_remove(i);
                    self.promote(id, now);
                }
            }
        }
    }

    fn promote(&mut self, id: SockId, now: u64) {
        let sock = self.table.sock(id);
        // smoltcp's timeout counts from the peer's last segment, even on an idle connection:
        // the HTTP engine's timeouts take over.
        sock.set_timeout(None);
        let peer = sock
            .remote_endpoint()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |e| IpAddr::from(e.addr));
        self.stats.mm1.accepted.fetch_add(1, Ordering::Relaxed);
        self.next_generation = self.next_generation.wrapping_add(1);
        let conn = Conn {
            sock: id,
            peer,
            http: ServerConn::new(self.http.clone(), now),
            generation: self.next_generation,
            out: VecDeque::new(),
            out_off: 0,
            awaiting: false,
            keep_alive: true,
            peer_closed: false,
            closing: false,
            out_since: None,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(c) = self.conns.get_mut(slot) {
                    *c = Some(conn);
                }
                slot
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.table.set_conn(id, Some(slot as u32));
        // Served in this round: data may have come with the handshake's last ACK.
        self.table.touch(id);
        self.open += 1;
    }

    /// Serve the connection in `slot` for one round; true when it did anything.
    fn service(&mut self, slot: usize, now: u64) -> bool {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return false;
        };
        // Whatever it does, the socket may have something to send.
        self.table.touch(c.sock);
        let sock = self.table.sock(c.sock);
        let mut cx = Cx {
            now,
            core: self.core,
            slot: slot as u32,
            front: &self.front,
            stats: &self.stats,
            jobs: &mut self.pending_jobs,
            pool: self.rings.pool.as_deref(),
            max_buffer: self.http.max_body_bytes + self.http.max_head_bytes + READ_CHUNK,
            work: false,
        };
        let fate = c.service(sock, &mut cx);
        let work = cx.work;
        match fate {
            Fate::Keep => {}
            Fate::Close => {
                sock.close();
                self.release(slot, now, false);
            }
            Fate::Abort => {
                sock.abort();
                self.stats.aborted.fetch_add(1, Ordering::Relaxed);
                self.release(slot, now, true);
            }
            Fate::Gone => self.release(slot, now, true),
        }
        work
    }

    /// Forget the connection in `slot` (a reply still on its way is dropped: the generation
    /// differs); its socket lingers until smoltcp is done with it.
    fn release(&mut self, slot: usize, now: u64, aborted: bool) {
        if let Some(entry) = self.conns.get_mut(slot)
            && let Some(c) = entry.take()
        {
            self.table.set_conn(c.sock, None);
            self.lingering.push(Linger {
                sock: c.sock,
                since: now,
                aborted,
            });
            self.free.push(slot);
            self.open -= 1;
        }
    }

    /// Recycle the sockets smoltcp is done with; reset those that linger too long.
    fn tend_lingering(&mut self, now: u64) {
        let limit = self.http.request_timeout_ms;
        let mut i = 0;
        while let Some(l) = self.lingering.get_mut(i) {
            let sock = self.table.sock(l.sock);
            let late = now.saturating_sub(l.since) >= limit;
            if recyclable(sock) || (late && l.aborted) {
                let id = l.sock;
                self.lingering.swap_remove(i);
                if let Some(mut sock) = self.table.take(id) {
                    // Forget any tuple left (an RST that could not be sent): listen, then
                    // close.
                    if sock.state() != tcp::State::Closed || sock.local_endpoint().is_some() {
                        sock.abort();
                        let _ = sock.listen(self.port);
                        sock.close();
                    }
                    self.spare.push(sock);
                }
                continue;
            }
            if late {
                // The peer does not acknowledge our FIN: reset, and give the RST a round.
                self.table.touch(l.sock);
                let sock = self.table.sock(l.sock);
                sock.abort();
                self.stats.aborted.fetch_add(1, Ordering::Relaxed);
                l.aborted = true;
                l.since = now;
            }
            i += 1;
        }
    }

    /// Whether replies from the control plane wait in the ring (for a loop about to sleep;
    /// see [`crate::CoreDevice::will_wait`]).
    pub fn replies_waiting(&self) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.rings.replies.slots() > 0
            || self
                .rings
                .submit
                .as_ref()
                .is_some_and(|s| s.has_completed())
    }

    fn drain_replies(&mut self, now: u64) -> bool {
        let mut work = false;
        while let Ok(reply) = self.rings.replies.pop() {
            work = true;
            self.deliver(reply, now);
        }
        if let Some(sub) = self.rings.submit.as_mut()
            && sub.has_completed()
        {
            let mut answers = std::mem::take(&mut self.answers);
            sub.completed(&mut answers);
            for reply in answers.drain(..) {
                self.deliver(reply, now);
            }
            self.answers = answers;
            work = true;
        }
        work
    }

    /// Queue the answer of the request in flight on a connection (if it is still there).
    fn deliver(&mut self, reply: Reply, now: u64) {
        let slot = reply.conn.slot as usize;
        match self.conns.get_mut(slot) {
            Some(Some(c))
                if reply.conn.core == self.core
                    && c.generation == reply.conn.generation
                    && c.awaiting =>
            {
                c.awaiting = false;
                c.queue_response(reply.response, now);
                self.table.touch(c.sock);
            }
            // The connection is gone; its reply is dropped.
            _ => {}
        }
    }

    /// Planned submits to the store through the fast path, if the core has one; what it
    /// cannot take is answered at once (and written in this round).
    fn submit_fast(&mut self, now: u64) -> bool {
        let Some(sub) = self.rings.submit.as_mut() else {
            return false;
        };
        let mut answers = std::mem::take(&mut self.answers);
        let done = hand_over(&mut **sub, &mut self.pending_jobs, &mut answers);
        if done.taken == 0 && answers.is_empty() {
            self.answers = answers;
            return false;
        }
        let mm1 = &self.stats.mm1;
        mm1.fast_submits.fetch_add(done.taken, Ordering::Relaxed);
        mm1.overloaded.fetch_add(done.overloaded, Ordering::Relaxed);
        for reply in answers.drain(..) {
            let slot = reply.conn.slot as usize;
            self.deliver(reply, now);
            self.service(slot, now);
        }
        self.answers = answers;
        true
    }

    fn push_jobs(&mut self, now: u64) -> bool {
        let fast = self.submit_fast(now);
        if self.pending_jobs.is_empty() {
            return fast;
        }
        let n = self.pending_jobs.len().min(self.rings.jobs.slots());
        let mut refused = self.pending_jobs.split_off(n);
        if n > 0 {
            if let Ok(chunk) = self.rings.jobs.write_chunk_uninit(n) {
                chunk.fill_from_iter(self.pending_jobs.drain(..));
            }
            self.stats.mm1.jobs.fetch_add(n as u64, Ordering::Relaxed);
            (self.wake_control)();
        }
        // Whatever did not fit (or could not be pushed) is refused with 503.
        refused.append(&mut self.pending_jobs);
        for job in refused {
            self.stats.mm1.overloaded.fetch_add(1, Ordering::Relaxed);
            let slot = job.conn.slot as usize;
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.awaiting = false;
                let mut r = Response::text(503, "overloaded, retry later");
                r.headers.push(("Retry-After", "1".into()));
                c.queue_response(r, now);
            }
            self.service(slot, now);
        }
        true
    }

    /// Timeouts, as the kernel backend applies them: a response not read in time resets the
    /// connection; an idle connection is closed; a request not complete in time gets 408.
    fn sweep(&mut self, now: u64) {
        if !self.neighbors.is_empty() {
            self.neighbors
                .retain(|_, &mut (_, t)| now.saturating_sub(t) < GLEAN_FORGET_MS);
        }
        let write_timeout = self.http.request_timeout_ms;
        for slot in 0..self.conns.len() {
            let Some(Some(c)) = self.conns.get_mut(slot) else {
                continue;
            };
            if c.out_since
                .is_some_and(|t| now.saturating_sub(t) > write_timeout)
            {
                // The client does not read its response.
                let id = c.sock;
                self.table.touch(id);
                self.table.sock(id).abort();
                self.stats.aborted.fetch_add(1, Ordering::Relaxed);
                self.release(slot, now, true);
                continue;
            }
            if c.awaiting || !c.out.is_empty() {
                continue;
            }
            match c.http.check_timeout(now) {
                Ok(false) => {}
                Ok(true) => {
                    let id = c.sock;
                    self.table.touch(id);
                    self.table.sock(id).close();
                    self.release(slot, now, false);
                }
                Err(e) => {
                    c.keep_alive = false;
                    c.closing = true;
                    c.queue_response(Response::text(e.status(), &e.to_string()), now);
                    self.service(slot, now);
                }
            }
        }
    }
}
