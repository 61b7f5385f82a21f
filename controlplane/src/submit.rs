//! The submit fast path's store side: a [`CoreSubmitter`] per dataplane core (the
//! [`Submitter`] the core calls), and what the control plane hears of it ([`NoticeReader`]).
//!
//! For each planned m-send-req the core hands over, the submitter
//! 1. makes the message's id (from an [`IdSource`] of its own) and its MESSAGE
//!    record (metadata, then the PDU straight from the request buffer: no copy);
//! 2. tells the control plane what it is about to store (a notice on the core's own ring,
//!    with the metadata and the notifications' summary), *before* the append, so that the
//!    control plane always has the notice when the record's completion reaches it;
//! 3. appends the record with the core's own completion route: the store writer hands the
//!    completion to the core (and wakes it) before the completion channel hears of it;
//! 4. gives the m-send-conf back to the core when the completion arrives: Ok with the
//!    Message-ID once the record is durable, a transient error if the store failed.
//!
//! The control plane matches the completion on its channel with the notice (by token) and
//! indexes and notifies the message exactly as one it stored itself; it never answers it.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use mmsc_dataplane::bufpool::BufPool;
use mmsc_dataplane::ring::{ConnId, Reply, Response};
use mmsc_dataplane::submit::{SubmitPlan, SubmitRules, Submitter};
use mmsc_store::{Payload, Recycle, Route, RouteSink, Store, StoreError};
use mmsc_wire::mms::{MessageType, ResponseStatus, Version};

use crate::records::{self, Id, MessageRecord};

/// Message ids of one holder (the control plane, or one core): a counter of its own and a
/// nonce drawn at start, made distinct per holder ([`IdSource::for_core`]), so that ids
/// never collide and no counter is shared between threads.
#[derive(Debug)]
pub struct IdSource {
    counter: u64,
    nonce: u32,
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource::new()
    }
}

impl IdSource {
    /// The control plane's source, with a fresh nonce.
    pub fn new() -> IdSource {
        IdSource {
            counter: 0,
            nonce: boot_nonce(),
        }
    }

    /// The source of dataplane core `core`: this one's nonce made distinct (cores are 1..,
    /// the control plane 0).
    pub fn for_core(&self, core: u16) -> IdSource {
        IdSource {
            counter: 0,
            nonce: self.nonce ^ (u32::from(core) + 1),
        }
    }

    /// The nonce (the control plane's is also in outbox job ids).
    pub fn nonce(&self) -> u32 {
        self.nonce
    }

    /// A new id for a message accepted at `now`: (time, counter, nonce), whose text is
    /// "{:010x}{:06x}{:08x}" of them.
    pub fn next(&mut self, now: u64) -> Id {
        self.counter += 1;
        Id::from_parts(now, self.counter, self.nonce)
    }
}

fn boot_nonce() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u32::from_le_bytes(b) ^ t.rotate_left(13) ^ std::process::id()
}

/// What a notification says about a message besides its addressing, kept in memory so that
/// notifying does not read the message back from the store.
#[derive(Clone, Debug, Default)]
pub(crate) struct Summary {
    pub(crate) subject: Option<mmsc_wire::mms::EncodedString<'static>>,
    pub(crate) class: Option<mmsc_wire::mms::Value<'static>>,
}

/// A plan as the store and the control plane take it: the record's metadata (its id still
/// [`Id::ZERO`]: the caller gives it one), the summary, and the transaction id.
pub(crate) fn split_plan(plan: SubmitPlan) -> (Vec<u8>, MessageRecord, Summary) {
    let rec = MessageRecord {
        id: Id::ZERO,
        received_at: plan.received_at,
        expiry_at: plan.expiry_at,
        sender: plan.sender.into_boxed_str(),
        version: plan.version.0,
        delivery_report: plan.delivery_report,
        read_report: plan.read_report,
        hide_sender: plan.hide_sender,
        recipients: plan.recipients,
        body_offset: plan.body_offset,
    };
    let summary = Summary {
        subject: plan.subject,
        class: plan.class,
    };
    (plan.tid, rec, summary)
}

/// What a core tells the control plane about its submits.
pub(crate) enum Notice {
    /// A MESSAGE record with this token is being appended.
    Stored {
        token: u64,
        rec: MessageRecord,
        pdu_at: usize,
        summary: Summary,
    },
    /// The append of this token was refused at once: forget it.
    Cancelled { token: u64 },
}

/// Notices a core can leave waiting for the control plane (at least; twice the submits in
/// flight when that is more). The control plane stops now and then for longer than usual: one
/// of its tables doubles, or the machine is busy. The message table doubles when the stored
/// messages pass 917 504, 1 835 008, ... With `Arc<str>` keys, a table of that shape alone
/// (boxed 170-octet values, foldhash, mimalloc, huge pages allowed), filled on this project's
/// 2-vCPU VM, took 258 ms for the insert that doubled it at 917 504 entries and 547 ms at
/// 1 835 008; 16 384 slots (0.3 s at 54 000 submits/s) ran full once at 512 connections
/// (1 294 answers 503 in the 5 s round in which the stored messages passed 917 504). Since
/// the keys are 12-octet [`Id`]s: a program of the same shape (boxed 128-octet values, huge
/// pages off) took 10 ms for the doubling insert at 917 504 and 19 ms at 1 835 008, against
/// 76 and 165 ms with `Arc<str>` keys in the same run. While the ring has room the core goes on taking
/// submits; when it is full they are answered 503. 65 536 hold 1.2 s, at 192 octets a slot
/// (12 MiB per core once the ring has gone round): a margin for a busy machine too.
const NOTICE_SLOTS: usize = 65_536;

/// The control plane's end of a core's notices.
pub struct NoticeReader(pub(crate) rtrb::Consumer<Notice>);

impl std::fmt::Debug for NoticeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NoticeReader({} waiting)", self.0.slots())
    }
}

/// What wakes a core: set once the core exists (its loop is started after its submitter is
/// made).
pub type CoreWake = Arc<OnceLock<Arc<dyn Fn() + Send + Sync>>>;

/// Tokens of a core's appends: the top bit set (the control plane's own count up from 1),
/// then the core's number.
fn token_base(core: u16) -> u64 {
    (1 << 63) | (u64::from(core) << 40)
}

/// Whether a store token is one of a core's.
pub(crate) fn is_core_token(token: u64) -> bool {
    token >> 63 == 1
}

struct Waiting {
    conn: ConnId,
    tid: Vec<u8>,
    version: Version,
    id: Id,
}

/// A dataplane core's submitter (see the module documentation).
pub struct CoreSubmitter {
    store: Store,
    route: Route,
    ids: IdSource,
    rules: Arc<SubmitRules>,
    domain: Arc<str>,
    notices: rtrb::Producer<Notice>,
    /// Rung after a notice when the control plane sleeps long (it polls otherwise).
    doorbell: Arc<crate::Doorbell>,
    durable: rtrb::Consumer<(u64, bool)>,
    waiting: crate::HashMap<u64, Waiting>,
    next_token: u64,
    capacity: usize,
    /// Where request buffers go once written: the core's pool.
    recycle: Option<Arc<dyn Recycle>>,
}

/// A core's buffer pool, as the store gives buffers back.
struct PoolHome(Arc<BufPool>);

impl Recycle for PoolHome {
    fn recycle(&self, buf: Vec<u8>) {
        self.0.give(buf);
    }
}

impl std::fmt::Debug for CoreSubmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreSubmitter")
            .field("route", &self.route)
            .field("in_flight", &self.waiting.len())
            .finish()
    }
}

/// Where the store writer puts a core's completions.
struct DurableSink {
    ring: rtrb::Producer<(u64, bool)>,
    wake: CoreWake,
}

impl RouteSink for DurableSink {
    fn put(&mut self, done: &[(u64, bool)]) {
        // Never full: the core has at most as many submits in flight as the ring holds, and
        // takes their completions out of it before it forgets them.
        for &d in done {
            let _ = self.ring.push(d);
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.wake.get() {
            w();
        }
    }
}

/// What the control plane needs to take part in the fast path.
#[derive(Debug)]
pub struct FastPath {
    /// The rules the cores plan with (their refusals are counted there).
    pub rules: Arc<SubmitRules>,
    /// The control plane's id source, from which the cores' were made.
    pub ids: IdSource,
    /// The cores' notices.
    pub notices: Vec<NoticeReader>,
}

impl CoreSubmitter {
    /// The submitter of core `core`: at most `capacity` submits in flight; `wake` wakes the
    /// core when completions arrive (set it once the core runs); `doorbell` is the control
    /// plane's. `domain` is the Message-ID's.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: u16,
        store: &Store,
        rules: Arc<SubmitRules>,
        ids: IdSource,
        domain: &str,
        capacity: usize,
        wake: CoreWake,
        doorbell: Arc<crate::Doorbell>,
    ) -> Result<(CoreSubmitter, NoticeReader), StoreError> {
        let capacity = capacity.max(1);
        let (done_tx, done_rx) = rtrb::RingBuffer::<(u64, bool)>::new(capacity);
        let (notice_tx, notice_rx) = rtrb::RingBuffer::new((capacity * 2).max(NOTICE_SLOTS));
        let route = store.add_route(Box::new(DurableSink {
            ring: done_tx,
            wake,
        }))?;
        Ok((
            CoreSubmitter {
                store: store.clone(),
                route,
                ids,
                rules,
                domain: Arc::from(domain),
                notices: notice_tx,
                doorbell,
                durable: done_rx,
                waiting: crate::HashMap::with_capacity_and_hasher(
                    capacity.min(4096),
                    foldhash::fast::RandomState::default(),
                ),
                next_token: token_base(core),
                capacity,
                recycle: None,
            },
            NoticeReader(notice_rx),
        ))
    }

    /// Give request buffers back to `pool` (the core's) once the store has written them.
    pub fn recycle_into(&mut self, pool: Arc<BufPool>) {
        self.recycle = Some(Arc::new(PoolHome(pool)));
    }

    fn refuse(&self, tid: &[u8], version: Version, status: ResponseStatus) -> Response {
        self.rules.count_refused();
        conf(tid, version, status, None)
    }
}

fn conf(tid: &[u8], version: Version, status: ResponseStatus, mid: Option<&[u8]>) -> Response {
    mmsc_dataplane::mm1::conf_response(MessageType::SEND_CONF, Some(tid), version, status, mid)
}

fn overloaded() -> Response {
    let mut r = Response::text(503, "overloaded, retry later");
    r.headers.push(("Retry-After", "1".into()));
    r
}

impl Submitter for CoreSubmitter {
    fn submit(
        &mut self,
        conn: ConnId,
        plan: Box<SubmitPlan>,
        buf: Vec<u8>,
        body: Range<usize>,
    ) -> Result<(), Response> {
        // Room for the notice and a possible cancellation, and for the completion.
        if self.waiting.len() >= self.capacity || self.notices.slots() < 2 {
            return Err(overloaded());
        }
        let version = mmsc_dataplane::mm1::reply_version(plan.version);
        let (tid, mut rec, summary) = split_plan(*plan);
        let id = self.ids.next(rec.received_at);
        rec.id = id;
        let meta = rec.encode_meta();
        let pdu_at = meta.len();
        let mut payload = Payload::new();
        payload.push(meta);
        match &self.recycle {
            Some(home) => payload.push_recycled(buf, body, Arc::clone(home)),
            None => payload.push_range(buf, body),
        };
        let token = self.next_token;
        self.next_token += 1;
        // Checked above: there is room.
        let _ = self.notices.push(Notice::Stored {
            token,
            rec,
            pdu_at,
            summary,
        });
        if let Err(e) = self
            .store
            .append_routed(records::MESSAGE, payload, token, self.route)
        {
            let _ = self.notices.push(Notice::Cancelled { token });
            let status = match e {
                StoreError::TooLarge(_) => ResponseStatus::ERROR_PERMANENT_CONTENT_NOT_ACCEPTED,
                _ => ResponseStatus::ERROR_TRANSIENT_FAILURE,
            };
            return Err(self.refuse(&tid, version, status));
        }
        self.doorbell.ring_if_sleeping();
        self.waiting.insert(
            token,
            Waiting {
                conn,
                tid,
                version,
                id,
            },
        );
        Ok(())
    }

    fn completed(&mut self, out: &mut Vec<Reply>) -> usize {
        let mut n = 0;
        while let Ok((token, durable)) = self.durable.pop() {
            let Some(w) = self.waiting.remove(&token) else {
                continue;
            };
            let response = if durable {
                let mid = crate::service::message_id(w.id, &self.domain);
                conf(&w.tid, w.version, ResponseStatus::OK, Some(mid.as_bytes()))
            } else {
                // The control plane counts it refused when the failed completion reaches it.
                conf(
                    &w.tid,
                    w.version,
                    ResponseStatus::ERROR_TRANSIENT_FAILURE,
                    None,
                )
            };
            out.push(Reply {
                conn: w.conn,
                response,
            });
            n += 1;
        }
        n
    }

    fn has_completed(&self) -> bool {
        self.durable.slots() > 0
    }

    fn in_flight(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_clock_the_counter_and_the_nonce_in_hex() {
        let mut s = IdSource::new();
        for now in [0, 1, 0x12_3456_789a_bcde, u64::MAX] {
            let id = s.next(now);
            let expected = format!(
                "{:010x}{:06x}{:08x}",
                now & 0xFF_FFFF_FFFF,
                s.counter & 0xFF_FFFF,
                s.nonce
            );
            assert_eq!(&*id.text(), expected);
            assert_eq!(id.to_string(), expected);
            assert_eq!(Id::parse(&expected), Some(id));
        }
    }

    #[test]
    fn ids_are_unique_across_holders_and_tokens_apart_from_the_control_planes() {
        let mut ctl = IdSource::new();
        let mut cores: Vec<IdSource> = (0..3).map(|c| ctl.for_core(c)).collect();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(ctl.next(1_800_000_000)));
            for c in &mut cores {
                assert!(
                    seen.insert(c.next(1_800_000_000)),
                    "same second, same counts"
                );
            }
        }
        assert!(seen.iter().all(|id| id.text().len() == 24));
        assert!(is_core_token(token_base(0)));
        assert!(is_core_token(token_base(u16::MAX) + (1 << 40) - 1));
        assert!(!is_core_token(1 << 40));
        assert_ne!(token_base(1), token_base(2));
    }
}
