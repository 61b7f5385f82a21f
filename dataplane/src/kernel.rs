//! The `kernel` backend: one mio reactor per dataplane core, each with its own SO_REUSEPORT
//! listener (the kernel spreads connections over them, or an SK_REUSEPORT program does:
//! [`reuseport_group`] creates the listeners up front for that, [`spawn_on`] runs a reactor
//! on one of them), pinned to its CPU. The `xdp` backend runs these same reactors.
//!
//! A reactor reads straight into each connection's HTTP buffer, runs the MM1 front, pushes jobs
//! to the control plane in one batch per poll round, and writes replies (scatter-gather, from
//! owned buffers or store maps) as they come back. Nothing on this thread blocks.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use mmsc_wire::http::{self, Event, HttpLimits, ServerConn};

use crate::bufpool::BufPool;
use crate::mm1::{Action, Mm1Front};
use crate::ring::{Chunk, ConnId, Job, Reply, Response};
use crate::submit::{Submitter, hand_over};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Size of a request buffer's first read, and smallest growth of one, on every backend (and
/// the size of the buffers of a [`BufPool`] for reads).
pub const READ_CHUNK: usize = 16 * 1024;
/// Smallest room worth a `read` into a buffer that has some: below it the buffer grows (by
/// doubling, which copies what it holds), so a request that fits the first chunk is never
/// moved.
const MIN_READ: usize = 2048;
/// Readiness events handled between two hand-overs of a round's submits to the store.
const SLICE_EVENTS: usize = 32;

/// Settings of one reactor.
#[derive(Clone, Debug)]
pub struct ReactorConfig {
    /// Index of this dataplane core (in [`ConnId::core`]).
    pub core: u16,
    /// CPU to pin the thread to, if any.
    pub cpu: Option<usize>,
    /// Address to listen on (shared by all reactors through SO_REUSEPORT).
    pub listen: SocketAddr,
    /// HTTP limits and timeouts.
    pub http: HttpLimits,
    /// Most connections this reactor keeps open.
    pub max_connections: usize,
    /// The MM1 front.
    pub front: Mm1Front,
}

/// Counters of a reactor (read by status and metrics).
#[derive(Debug, Default)]
pub struct ReactorStats {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Requests parsed.
    pub requests: AtomicU64,
    /// Jobs handed to the control plane.
    pub jobs: AtomicU64,
    /// m-send-reqs taken to the store by the core's submit fast path.
    pub fast_submits: AtomicU64,
    /// Requests refused because the ring to the control plane was full.
    pub overloaded: AtomicU64,
    /// HTTP errors answered (4xx/5xx from the engine).
    pub http_errors: AtomicU64,
}

/// The ends of the rings a reactor holds.
#[derive(Debug)]
pub struct CoreRings {
    /// Jobs to the control plane.
    pub jobs: rtrb::Producer<Job>,
    /// Replies from the control plane.
    pub replies: rtrb::Consumer<Reply>,
    /// The submit fast path: planned m-send-reqs ([`crate::ring::JobKind::Submit`]) go to it
    /// instead of the control plane, and it gives their answers back. Without it they go to
    /// the control plane like every other job.
    pub submit: Option<Box<dyn Submitter>>,
    /// Request buffers to read into, given back once their request is done with (the
    /// submitter's store writer does); without it each request gets a new buffer.
    pub pool: Option<Arc<BufPool>>,
}

/// A running reactor.
#[derive(Debug)]
pub struct Reactor {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Its counters.
    pub stats: Arc<ReactorStats>,
    /// The address it listens on.
    pub local_addr: SocketAddr,
}

impl Reactor {
    /// The waker the control plane calls after pushing replies.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Stop and wait.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listener with SO_REUSEPORT, so that every core can have its own.
pub fn reuseport_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// `count` SO_REUSEPORT listeners on `addr`, one per core, all in one reuseport group: with
/// port 0, the first takes a free port and the others bind to that same port.
pub fn reuseport_group(addr: SocketAddr, count: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(count);
    let mut at = addr;
    for _ in 0..count {
        let l = reuseport_listener(at)?;
        at = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Start a reactor with a listener of its own on `cfg.listen`. `wake_control` is called
/// after each batch of jobs is pushed.
pub fn spawn(
    cfg: ReactorConfig,
    rings: CoreRings,
    wake_control: Arc<dyn Fn() + Send + Sync>,
) -> io::Result<Reactor> {
    let listener = reuseport_listener(cfg.listen)?;
    spawn_on(cfg, listener, rings, wake_control)
}

/// Start a reactor that accepts on `listener` (made non-blocking here), e.g. one of a
/// [`reuseport_group`] steered by an SK_REUSEPORT program; `cfg.listen` is then only
/// informative.
pub fn spawn_on(
    cfg: ReactorConfig,
    std_listener: std::net::TcpListener,
    rings: CoreRings,
    wake_control: Arc<dyn Fn() + Send + Sync>,
) -> io::Result<Reactor> {
    std_listener.set_nonblocking(true)?;
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let local_addr = std_listener.local_addr()?;
    let mut listener = TcpListener::from_std(std_listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(ReactorStats::default());
    let mut core = Core {
        poll,
        listener,
        conns: Vec::new(),
        free: Vec::new(),
        rings,
        wake_control,
        pending_jobs: Vec::new(),
        answers: Vec::new(),
        stop: Arc::clone(&stop),
        stats: Arc::clone(&stats),
        start: Instant::now(),
        cfg,
        open: 0,
    };
    let thread = std::thread::Builder::new()
        .name(format!("mmsc-dp{}", core.cfg.core))
        .spawn(move || {
            if let Some(cpu) = core.cfg.cpu {
                core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            }
            core.run();
        })?;
    Ok(Reactor {
        waker,
        stop,
        thread: Some(thread),
        stats,
        local_addr,
    })
}

enum Out {
    Bytes(Chunk),
    /// End of a final response: the request is answered.
    End {
        close: bool,
    },
}

struct Conn {
    sock: TcpStream,
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
    /// The last read stopped at the buffer limit (backpressure) with data possibly left in
    /// the socket, which raises no new edge: read again once the request is answered.
    read_held: bool,
    writable: bool,
    /// When the oldest queued output was queued (ms), for a write timeout.
    out_since: Option<u64>,
}

struct Core {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    rings: CoreRings,
    wake_control: Arc<dyn Fn() + Send + Sync>,
    pending_jobs: Vec<Job>,
    /// Answers of the submit fast path, being delivered (kept for its capacity).
    answers: Vec<Reply>,
    stop: Arc<AtomicBool>,
    stats: Arc<ReactorStats>,
    start: Instant,
    cfg: ReactorConfig,
    open: usize,
}

impl Core {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = 0u64;
        loop {
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            if let Err(e) = self
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)))
            {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("mmsc: dataplane core {}: poll failed: {e}", self.cfg.core);
                break;
            }
            for (i, ev) in events.iter().enumerate() {
                if i > 0 && i % SLICE_EVENTS == 0 {
                    // A long round: what it has planned goes to the store now, and answers
                    // the store has finished go out, rather than after the last event.
                    self.exchange();
                }
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(slot) => {
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            // Without a FIN or an error in the event, a short read drained
                            // the socket: data that comes after it raises a new edge.
                            let drain = ev.is_read_closed() || ev.is_error();
                            self.read_ready(slot, !drain);
                        }
                        if ev.is_writable() {
                            self.flush(slot);
                        }
                    }
                }
            }
            self.exchange();
            self.push_jobs();
            let now = self.now();
            if now >= last_sweep + 250 {
                last_sweep = now;
                self.sweep(now);
            }
        }
    }

    /// Jobs first: the store can start on the submits planned so far while the answers of
    /// its previous group commit are written here.
    fn exchange(&mut self) {
        self.push_jobs();
        self.drain_replies();
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut sock, addr)) => {
                    self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                    if self.open >= self.cfg.max_connections {
                        let mut head = Vec::new();
                        http::write_head(&mut head, 503, &[("Retry-After", "1")], 0, false);
                        let _ = sock.write(&head);
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    let slot = match self.free.pop() {
                        Some(s) => s,
                        None => {
                            self.conns.push(None);
                            self.conns.len() - 1
                        }
                    };
                    if self
                        .poll
                        .registry()
                        .register(&mut sock, Token(slot), Interest::READABLE)
                        .is_err()
                    {
                        self.free.push(slot);
                        continue;
                    }
                    let generation = self.next_generation(slot);
                    let now = self.now();
                    if let Some(c) = self.conns.get_mut(slot) {
                        *c = Some(Conn {
                            sock,
                            peer: addr.ip(),
                            http: ServerConn::new(self.cfg.http.clone(), now),
                            generation,
                            out: VecDeque::new(),
                            out_off: 0,
                            awaiting: false,
                            keep_alive: true,
                            peer_closed: false,
                            closing: false,
                            read_held: false,
                            writable: false,
                            out_since: None,
                        });
                    }
                    self.open += 1;
                    // Data may already be waiting (edge-triggered).
                    self.on_readable(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }

    fn next_generation(&self, _slot: usize) -> u32 {
        // Unique per accept on this core: the accept counter.
        self.stats.accepted.load(Ordering::Relaxed) as u32
    }

    fn close(&mut self, slot: usize) {
        if let Some(entry) = self.conns.get_mut(slot)
            && let Some(mut c) = entry.take()
        {
            let _ = self.poll.registry().deregister(&mut c.sock);
            self.free.push(slot);
            self.open -= 1;
        }
    }

    /// Read what the socket holds, until it would block, then parse and act on it.
    fn on_readable(&mut self, slot: usize) {
        self.read_ready(slot, false);
    }

    /// [`Core::on_readable`]; with `short_read_drains`, a read that fills less than it was
    /// given ends the reading: edge-triggered epoll reports data that arrives after it, and
    /// the `recv` that would only say `EAGAIN` is saved (one system call per request). Only
    /// for a readiness event without FIN or error: a FIN already queued when the event was
    /// taken raises no new edge, and must be read (as 0) now.
    fn read_ready(&mut self, slot: usize, short_read_drains: bool) {
        let now = self.now();
        let max_buffer = self.cfg.http.max_body_bytes + self.cfg.http.max_head_bytes + READ_CHUNK;
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let mut failed = false;
        c.read_held = false;
        loop {
            // Backpressure: while a request is in flight, buffer at most one more request.
            if c.http.buffered() >= max_buffer {
                c.read_held = true;
                break;
            }
            let room = c.http.room();
            let want = if room >= MIN_READ { room } else { READ_CHUNK };
            let fresh = self
                .rings
                .pool
                .as_ref()
                .and_then(|p| p.storage_for(&c.http, want));
            let buf = c.http.spare_from(want, fresh);
            let asked = buf.len();
            match c.sock.read(buf) {
                Ok(0) => {
                    c.peer_closed = true;
                    break;
                }
                Ok(n) => {
                    c.http.filled(n, now);
                    if short_read_drains && n < asked {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            return self.close(slot);
        }
        self.process(slot);
    }

    /// Parse and act on what is buffered, while no request is in flight.
    fn process(&mut self, slot: usize) {
        loop {
            let Some(Some(c)) = self.conns.get_mut(slot) else {
                return;
            };
            if c.awaiting || c.closing || c.http.is_busy() {
                break;
            }
            match c.http.poll() {
                Ok(Some(Event::Continue)) => {
                    c.out
                        .push_back(Out::Bytes(Chunk::Owned(http::CONTINUE_100.to_vec())));
                }
                Ok(Some(Event::Request(req))) => {
                    self.stats.requests.fetch_add(1, Ordering::Relaxed);
                    c.keep_alive = req.keep_alive;
                    let peer = c.peer;
                    match self.cfg.front.handle(req, peer) {
                        Action::Respond(r) => self.queue_response(slot, r),
                        Action::Job(kind) => {
                            if let Some(Some(c)) = self.conns.get_mut(slot) {
                                c.awaiting = true;
                                let conn = ConnId {
                                    core: self.cfg.core,
                                    slot: slot as u32,
                                    generation: c.generation,
                                };
                                self.pending_jobs.push(Job { conn, kind });
                            }
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.stats.http_errors.fetch_add(1, Ordering::Relaxed);
                    c.keep_alive = false;
                    c.closing = true;
                    let status = e.status();
                    self.queue_response(slot, Response::text(status, &e.to_string()));
                    break;
                }
            }
        }
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        if c.peer_closed && !c.awaiting && c.out.is_empty() {
            return self.close(slot);
        }
        self.flush(slot);
    }

    fn queue_response(&mut self, slot: usize, r: Response) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let keep = c.keep_alive && !c.closing;
        let mut head = Vec::with_capacity(160);
        let mut hdrs: Vec<(&str, &str)> = Vec::with_capacity(r.headers.len() + 1);
        if let Some(ct) = r.content_type {
            hdrs.push(("Content-Type", ct));
        }
        for (n, v) in &r.headers {
            hdrs.push((n, v.as_str()));
        }
        http::write_head(&mut head, r.status, &hdrs, r.body_len(), keep);
        c.out.push_back(Out::Bytes(Chunk::Owned(head)));
        for b in r.body {
            c.out.push_back(Out::Bytes(b));
        }
        c.out.push_back(Out::End { close: !keep });
        if c.out_since.is_none() {
            c.out_since = Some(self.start.elapsed().as_millis() as u64);
        }
    }

    /// Write what is queued; on a finished response, let the next request be parsed.
    fn flush(&mut self, slot: usize) {
        let now = self.now();
        let mut answered = false;
        loop {
            let Some(Some(c)) = self.conns.get_mut(slot) else {
                return;
            };
            // Finished responses at the front.
            while let Some(Out::End { close }) = c.out.front() {
                let close = *close;
                c.out.pop_front();
                c.http.response_done(now);
                answered = true;
                if close {
                    let _ = c.sock.flush();
                    let _ = c.sock.shutdown(std::net::Shutdown::Write);
                    return self.close(slot);
                }
            }
            if c.out.is_empty() {
                c.out_since = None;
                if c.writable {
                    c.writable = false;
                    let _ = self.poll.registry().reregister(
                        &mut c.sock,
                        Token(slot),
                        Interest::READABLE,
                    );
                }
                break;
            }
            // Gather the queued chunks up to the next response end.
            let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(8);
            for (i, o) in c.out.iter().enumerate() {
                match o {
                    Out::Bytes(b) => {
                        let bytes = b.bytes();
                        let bytes = if i == 0 {
                            bytes.get(c.out_off..).unwrap_or(&[])
                        } else {
                            bytes
                        };
                        slices.push(IoSlice::new(bytes));
                    }
                    Out::End { .. } => break,
                }
                if slices.len() >= 64 {
                    break;
                }
            }
            match c.sock.write_vectored(&slices) {
                Ok(0) => return self.close(slot),
                Ok(mut n) => {
                    drop(slices);
                    while n > 0 {
                        let Some(Out::Bytes(b)) = c.out.front() else {
                            break;
                        };
                        let left = b.bytes().len() - c.out_off;
                        if n >= left {
                            n -= left;
                            c.out.pop_front();
                            c.out_off = 0;
                        } else {
                            c.out_off += n;
                            n = 0;
                        }
                    }
                    // Empty chunks at the front are done too.
                    while matches!(c.out.front(), Some(Out::Bytes(b)) if b.bytes().len() == c.out_off)
                    {
                        c.out.pop_front();
                        c.out_off = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !c.writable {
                        c.writable = true;
                        let _ = self.poll.registry().reregister(
                            &mut c.sock,
                            Token(slot),
                            Interest::READABLE | Interest::WRITABLE,
                        );
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(slot),
            }
        }
        if answered {
            // Reads held back while the request was in flight; else pipelined requests
            // already buffered (every read before took what the socket had: its next octets
            // raise a new edge), without a `recv` that would only say `EAGAIN`.
            if self
                .conns
                .get(slot)
                .is_some_and(|c| c.as_ref().is_some_and(|c| c.read_held))
            {
                self.on_readable(slot);
            } else {
                self.process(slot);
            }
        }
    }

    fn drain_replies(&mut self) {
        while let Ok(reply) = self.rings.replies.pop() {
            self.deliver(reply);
        }
        if let Some(sub) = self.rings.submit.as_mut()
            && sub.has_completed()
        {
            let mut answers = std::mem::take(&mut self.answers);
            sub.completed(&mut answers);
            for reply in answers.drain(..) {
                self.deliver(reply);
            }
            self.answers = answers;
        }
    }

    /// Answer the request in flight on a connection (if it is still there).
    fn deliver(&mut self, reply: Reply) {
        let slot = reply.conn.slot as usize;
        let ok = matches!(self.conns.get(slot), Some(Some(c)) if c.generation == reply.conn.generation && c.awaiting);
        if !ok {
            // The connection is gone; its reply is dropped.
            return;
        }
        if let Some(Some(c)) = self.conns.get_mut(slot) {
            c.awaiting = false;
        }
        self.queue_response(slot, reply.response);
        self.flush(slot);
    }

    /// Planned submits to the store through the fast path, if the core has one; what it
    /// cannot take is answered at once.
    fn submit_fast(&mut self) {
        let Some(sub) = self.rings.submit.as_mut() else {
            return;
        };
        let mut answers = std::mem::take(&mut self.answers);
        let done = hand_over(&mut **sub, &mut self.pending_jobs, &mut answers);
        if done.taken > 0 {
            self.stats
                .fast_submits
                .fetch_add(done.taken, Ordering::Relaxed);
        }
        if done.overloaded > 0 {
            self.stats
                .overloaded
                .fetch_add(done.overloaded, Ordering::Relaxed);
        }
        for reply in answers.drain(..) {
            self.deliver(reply);
        }
        self.answers = answers;
    }

    fn push_jobs(&mut self) {
        self.submit_fast();
        if self.pending_jobs.is_empty() {
            return;
        }
        let n = self.pending_jobs.len().min(self.rings.jobs.slots());
        let mut refused = self.pending_jobs.split_off(n);
        if n > 0 {
            if let Ok(chunk) = self.rings.jobs.write_chunk_uninit(n) {
                chunk.fill_from_iter(self.pending_jobs.drain(..));
            }
            self.stats.jobs.fetch_add(n as u64, Ordering::Relaxed);
            (self.wake_control)();
        }
        // Whatever did not fit (or could not be pushed) is refused with 503.
        refused.append(&mut self.pending_jobs);
        for job in refused {
            self.stats.overloaded.fetch_add(1, Ordering::Relaxed);
            let slot = job.conn.slot as usize;
            if let Some(Some(c)) = self.conns.get_mut(slot) {
                c.awaiting = false;
            }
            let mut r = Response::text(503, "overloaded, retry later");
            r.headers.push(("Retry-After", "1".into()));
            self.queue_response(slot, r);
            self.flush(slot);
        }
    }

    fn sweep(&mut self, now: u64) {
        let write_timeout = self.cfg.http.request_timeout_ms;
        for slot in 0..self.conns.len() {
            let Some(Some(c)) = self.conns.get_mut(slot) else {
                continue;
            };
            if c.out_since
                .is_some_and(|t| now.saturating_sub(t) > write_timeout)
            {
                // The client does not read its response.
                self.close(slot);
                continue;
            }
            if c.awaiting || !c.out.is_empty() {
                continue;
            }
            match c.http.check_timeout(now) {
                Ok(false) => {}
                Ok(true) => self.close(slot),
                Err(e) => {
                    c.keep_alive = false;
                    c.closing = true;
                    self.queue_response(slot, Response::text(e.status(), &e.to_string()));
                    self.flush(slot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port() {
        let group = reuseport_group(SocketAddr::from(([127, 0, 0, 1], 0)), 3).unwrap();
        let port = group[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        for l in &group {
            assert_eq!(l.local_addr().unwrap().port(), port);
        }
        // Every listener of the group takes connections.
        let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(
            reuseport_group(SocketAddr::from(([127, 0, 0, 1], port)), 0)
                .unwrap()
                .is_empty()
        );
    }
}
