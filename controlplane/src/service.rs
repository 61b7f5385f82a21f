//! The MM1 service: what the MMSC does with each transaction (OMA-TS-MMS_CTR), on top of the
//! store. Driven by the control-plane thread with jobs, store completions, push results and
//! the time; it answers through [`Service::replies`] and asks for pushes through
//! [`Service::pushes`]. Nothing here blocks.
//!
//! Durability rules:
//! - a submit (or forward) is answered Ok only after its message record is durable, and only
//!   then becomes retrievable and notified;
//! - a recipient's state change, and the report it triggers, are written before the handset's
//!   request is answered;
//! - a push is "done" only once written so (PUSH_DONE, or the Notified state); after a crash,
//!   every push not done is sent again (at least once).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mmsc_dataplane::mm1::reply_version;
use mmsc_dataplane::ring::{Chunk, ConnId, Job, JobKind, Reply, Response};
use mmsc_dataplane::submit::{SubmitPlan, SubmitRules, clean_subject};
use mmsc_store::{Completion, Location, Payload, Recovered, Store};
use mmsc_wire::mms::build::{self, Notification};
use mmsc_wire::mms::{
    EncodedString, HeaderName, MessageType, Pdu, ReadStatus, ResponseStatus, RetrieveStatus,
    Status, Value, Version, field,
};
use mmsc_wire::{Limits, wsp::Body};

use crate::pusher::{PushKey, PushRequest, PushResult};
use crate::records::{self, Id, MessageRecord, OutboxRecord, RecipientState, StateRecord};
use crate::submit::{FastPath, IdSource, Notice, NoticeReader, Summary, is_core_token, split_plan};
use crate::{HashMap, HashSet};

/// A retrieval waiting for its message to be read into memory.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// The connection that asked.
    pub conn: ConnId,
    /// Its MSISDN.
    pub msisdn: Option<String>,
    /// The Content-Location token.
    pub token: String,
    /// Where the message is.
    pub loc: Location,
}

/// Settings of the service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Base of Content-Location URLs ("http://127.0.0.1:8514/mms"): `<base>/<token>`.
    pub content_location_base: String,
    /// MSISDN prefixes served by this MMSC ("+35840").
    pub local_prefixes: Vec<String>,
    /// Expiry of messages that ask none, seconds.
    pub default_expiry_secs: u64,
    /// Longest expiry granted, seconds.
    pub max_expiry_secs: u64,
    /// Domain part of Message-IDs.
    pub domain: String,
    /// First push retry delay, seconds.
    pub retry_initial_secs: u64,
    /// Longest push retry delay, seconds.
    pub retry_max_secs: u64,
    /// Decoder limits.
    pub limits: Limits,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages accepted (m-send-conf Ok).
    pub accepted: u64,
    /// Messages refused.
    pub refused: u64,
    /// Retrievals served.
    pub retrieved: u64,
    /// Pushes delivered to the gateway.
    pub pushed: u64,
    /// Push attempts that failed.
    pub push_failures: u64,
    /// Messages expired.
    pub expired: u64,
    /// Messages stored now.
    pub stored: u64,
    /// Segments reclaimed by compaction.
    pub segments_reclaimed: u64,
    /// Records relocated by compaction.
    pub records_relocated: u64,
    /// Retrievals whose message was read back into memory by the fetcher first (it had left
    /// the store's page-cache window).
    pub fetched: u64,
}

#[derive(Clone, Debug)]
struct Rcpt {
    state: RecipientState,
    report_denied: bool,
}

#[derive(Clone, Debug)]
struct Msg {
    rec: MessageRecord,
    loc: Location,
    /// Offset of the PDU in the record payload (the metadata before it is far below 4 GiB:
    /// records are at most `max_record_bytes`).
    pdu_at: u32,
    /// A boxed slice, not a vector: the index holds one `Msg` per stored message (16 octets
    /// less for each).
    rcpts: Box<[Rcpt]>,
    /// Filled at submit; after a restart, read from the store when first needed.
    summary: Option<Box<Summary>>,
}

// The index holds one per stored message: 128 octets is one of the allocator's size classes.
const _: () = assert!(size_of::<Msg>() <= 128);

/// A PDU offset as [`Msg`] keeps it (a record's metadata is far below 4 GiB).
fn pdu_offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

impl Msg {
    fn new(rec: MessageRecord, loc: Location, pdu_at: usize) -> Msg {
        let rcpts = rec
            .recipients
            .iter()
            .map(|r| Rcpt {
                state: if r.msisdn.is_some() {
                    RecipientState::Pending
                } else {
                    RecipientState::NotLocal
                },
                report_denied: false,
            })
            .collect();
        Msg {
            rec,
            loc,
            pdu_at: pdu_offset(pdu_at),
            rcpts,
            summary: None,
        }
    }

    /// A message about to be appended (its location comes with its completion).
    fn unstored(rec: MessageRecord, pdu_at: usize, summary: Option<Summary>) -> Msg {
        let mut m = Msg::new(
            rec,
            Location {
                segment: 0,
                offset: 0,
                len: 0,
            },
            pdu_at,
        );
        m.summary = summary.map(Box::new);
        m
    }

    fn pdu_at(&self) -> usize {
        self.pdu_at as usize
    }

    fn pdu_len(&self) -> u64 {
        (self.loc.len as usize).saturating_sub(self.pdu_at()) as u64
    }
}

#[derive(Debug)]
struct PushJob {
    msisdn: String,
    /// The PDU, for outbox jobs (notifications are built when sent).
    pdu: Option<Vec<u8>>,
    attempts: u32,
    expires_at: u64,
    in_flight: bool,
    /// Durable and ready to run.
    runnable: bool,
}

enum Pending {
    Submit {
        conn: ConnId,
        tid: Vec<u8>,
        version: Version,
        msg: Box<Msg>,
        forward: bool,
    },
    /// A message a dataplane core stores through its fast path (it answers the handset):
    /// indexed and notified once durable.
    Stored {
        msg: Box<Msg>,
    },
    /// Answer 200 (or 500) once durable.
    Answer {
        conn: Option<ConnId>,
    },
    /// An outbox job becomes runnable once durable; answer too if asked.
    Outbox {
        job: u64,
        conn: Option<ConnId>,
    },
    Internal,
    /// A message record relocated by compaction.
    Relocated {
        id: Id,
    },
    /// A state or outbox record relocated by compaction.
    RelocatedOther,
}

/// What a record is about, for the per-segment bookkeeping of compaction.
#[derive(Clone, Debug)]
enum Subject {
    None,
    Msg(Id),
    /// A NOTIFIED record: the messages it is about.
    Msgs(Vec<Id>),
    Job(u64),
}

#[derive(Debug)]
struct Compaction {
    segment: u32,
    outstanding: usize,
    failed: bool,
}

/// The MM1 service.
pub struct Service {
    settings: Settings,
    /// The submit rules, shared with the cores when they plan submits themselves.
    rules: Arc<SubmitRules>,
    /// Message ids (the cores' submitters have sources of their own, made from it).
    ids: IdSource,
    /// What the cores' submitters store.
    notices: Vec<NoticeReader>,
    store: Store,
    /// Boxed: the table holds a pointer per message, so growing it moves little.
    msgs: HashMap<Id, Box<Msg>>,
    expiry: BinaryHeap<Reverse<(u64, Id)>>,
    jobs: HashMap<PushKey, PushJob>,
    due: BinaryHeap<Reverse<(u64, u64, PushKey)>>,
    due_seq: u64,
    pending: HashMap<u64, Pending>,
    subjects: HashMap<u64, (u8, Subject)>,
    /// Messages and outbox jobs with records in each segment.
    seg_msgs: HashMap<u32, HashSet<Id>>,
    seg_jobs: HashMap<u32, HashSet<u64>>,
    /// Live octets of message and outbox records in each segment.
    seg_live: HashMap<u32, u64>,
    job_locs: HashMap<u64, Location>,
    compaction: Option<Compaction>,
    /// Segments whose deletion was asked (the writer deletes them asynchronously).
    deleted: HashSet<u32>,
    next_token: u64,
    next_job: u64,
    /// Replies to send to the cores.
    pub replies: Vec<Reply>,
    /// Pushes to hand to the push workers.
    pub pushes: Vec<PushRequest>,
    /// Retrievals of messages no longer in the store's page-cache window: their pages are
    /// read on a fetcher thread (not here, not on a dataplane core), then
    /// [`Service::on_fetched`] answers.
    pub fetches: Vec<Fetch>,
    /// Counters.
    pub stats: Stats,
    /// Problems found at recovery or while running (for the log).
    pub log: Vec<String>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("messages", &self.msgs.len())
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

/// Appends `{id}-{idx}`: a recipient's token (its Content-Location's last segment and its
/// notification's Transaction-ID), without the formatting machinery.
fn push_token(out: &mut String, id: &str, idx: u16) {
    out.push_str(id);
    out.push('-');
    out.push_str(itoa::Buffer::new().format(idx));
}

/// The Message-ID of message `id` of this MMSC (`{id}@{domain}`).
pub(crate) fn message_id(id: Id, domain: &str) -> String {
    [id.text().as_str(), "@", domain].concat()
}

fn plmn(msisdn: &str) -> String {
    [msisdn, "/TYPE=PLMN"].concat()
}

/// A header value borrowing what `v` owns (the text forms a Message-Class takes; other forms
/// are copied).
fn borrowed<'v>(v: &'v Value<'_>) -> Value<'v> {
    match v {
        Value::Octet(o) => Value::Octet(*o),
        Value::Text(t) => Value::Text(Cow::Borrowed(t)),
        other => other.clone(),
    }
}

/// The submit rules of these settings.
pub fn rules_of(settings: &Settings) -> SubmitRules {
    SubmitRules {
        local_prefixes: settings.local_prefixes.clone(),
        default_expiry_secs: settings.default_expiry_secs,
        max_expiry_secs: settings.max_expiry_secs,
        limits: settings.limits.clone(),
        refused: Default::default(),
    }
}

impl Service {
    /// A service over `store`, rebuilt from what recovery found. Ready to run at `now`.
    pub fn new(settings: Settings, store: Store, recovered: &Recovered, now: u64) -> Service {
        let mut s = Service {
            rules: Arc::new(rules_of(&settings)),
            ids: IdSource::new(),
            notices: Vec::new(),
            settings,
            store,
            msgs: HashMap::default(),
            expiry: BinaryHeap::new(),
            jobs: HashMap::default(),
            due: BinaryHeap::new(),
            due_seq: 0,
            pending: HashMap::default(),
            subjects: HashMap::default(),
            seg_msgs: HashMap::default(),
            seg_jobs: HashMap::default(),
            seg_live: HashMap::default(),
            job_locs: HashMap::default(),
            compaction: None,
            deleted: HashSet::default(),
            next_token: 1,
            next_job: 1,
            replies: Vec::new(),
            pushes: Vec::new(),
            fetches: Vec::new(),
            stats: Stats::default(),
            log: Vec::new(),
        };
        s.recover(recovered, now);
        s
    }

    fn recover(&mut self, recovered: &Recovered, now: u64) {
        let mut bad = 0usize;
        for r in &recovered.records {
            let Some(payload) = self.store.read(r.location) else {
                bad += 1;
                continue;
            };
            match r.kind {
                records::MESSAGE => match MessageRecord::decode(&payload) {
                    Some((rec, pdu_at)) => {
                        let id = rec.id;
                        self.note_segment(r.location.segment, &Subject::Msg(id));
                        match self.msgs.get_mut(&id) {
                            // Relocated by compaction: same message, new place, states kept.
                            Some(m) => {
                                m.loc = r.location;
                                m.pdu_at = pdu_offset(pdu_at);
                            }
                            None => {
                                self.msgs
                                    .insert(id, Box::new(Msg::new(rec, r.location, pdu_at)));
                            }
                        }
                    }
                    None => bad += 1,
                },
                records::NOTIFIED => match records::decode_notified(&payload) {
                    Some(list) => {
                        for (id, recipient) in list {
                            self.note_segment(r.location.segment, &Subject::Msg(id));
                            // Only from Pending: a later state, written before this record,
                            // stays.
                            if let Some(m) = self.msgs.get_mut(&id)
                                && let Some(rc) = m.rcpts.get_mut(usize::from(recipient))
                                && rc.state == RecipientState::Pending
                            {
                                rc.state = RecipientState::Notified;
                            }
                        }
                    }
                    None => bad += 1,
                },
                records::STATE => match StateRecord::decode(&payload) {
                    Some(st) => {
                        self.note_segment(r.location.segment, &Subject::Msg(st.id));
                        if let Some(m) = self.msgs.get_mut(&st.id)
                            && let Some(rc) = m.rcpts.get_mut(usize::from(st.recipient))
                        {
                            rc.state = st.state;
                            rc.report_denied |= st.report_denied;
                        }
                    }
                    None => bad += 1,
                },
                records::OUTBOX => match OutboxRecord::decode(&payload) {
                    Some(o) => {
                        self.next_job = self.next_job.max((o.job & 0xFFFF_FFFF) + 1);
                        self.note_segment(r.location.segment, &Subject::Job(o.job));
                        self.job_locs.insert(o.job, r.location);
                        self.jobs.insert(
                            PushKey::Outbox(o.job),
                            PushJob {
                                msisdn: o.msisdn,
                                pdu: Some(o.pdu),
                                attempts: 0,
                                expires_at: o.expires_at,
                                in_flight: false,
                                runnable: true,
                            },
                        );
                    }
                    None => bad += 1,
                },
                records::PUSH_DONE => match records::decode_push_done(&payload) {
                    Some(job) => {
                        self.jobs.remove(&PushKey::Outbox(job));
                        self.job_locs.remove(&job);
                    }
                    None => bad += 1,
                },
                records::REMOVED => match records::decode_removed(&payload) {
                    Some(id) => {
                        self.msgs.remove(&id);
                    }
                    None => bad += 1,
                },
                _ => bad += 1,
            }
        }
        if bad > 0 {
            self.log.push(format!(
                "recovery: {bad} record(s) could not be read and were skipped"
            ));
        }
        for p in &recovered.problems {
            self.log.push(format!("recovery: {p}"));
        }
        for m in self.msgs.values() {
            *self.seg_live.entry(m.loc.segment).or_default() += m.loc.footprint();
        }
        for l in self.job_locs.values() {
            *self.seg_live.entry(l.segment).or_default() += l.footprint();
        }
        let ids: Vec<Id> = self.msgs.keys().copied().collect();
        for id in ids {
            let Some(m) = self.msgs.get(&id) else {
                continue;
            };
            self.expiry.push(Reverse((m.rec.expiry_at, id)));
            let pending: Vec<(u16, String)> = m
                .rcpts
                .iter()
                .enumerate()
                .filter(|(_, r)| r.state == RecipientState::Pending)
                .filter_map(|(i, _)| {
                    m.rec
                        .recipients
                        .get(i)?
                        .msisdn
                        .clone()
                        .map(|ms| (i as u16, ms))
                })
                .collect();
            let exp = m.rec.expiry_at;
            for (i, ms) in pending {
                self.add_notify_job(id, i, ms, exp, now);
            }
        }
        let outbox: Vec<PushKey> = self.jobs.keys().copied().collect();
        for k in outbox {
            self.schedule(k, now);
        }
        self.stats.stored = self.msgs.len() as u64;
    }

    fn schedule(&mut self, key: PushKey, at: u64) {
        self.due_seq += 1;
        self.due.push(Reverse((at, self.due_seq, key)));
    }

    fn add_notify_job(
        &mut self,
        id: Id,
        recipient: u16,
        msisdn: String,
        expires_at: u64,
        now: u64,
    ) {
        let key = PushKey::Notify { id, recipient };
        self.jobs.insert(
            key,
            PushJob {
                msisdn,
                pdu: None,
                attempts: 0,
                expires_at,
                in_flight: false,
                runnable: true,
            },
        );
        self.schedule(key, now);
    }

    fn new_id(&mut self, now: u64) -> Id {
        self.ids.next(now)
    }

    /// Take part in the cores' submit fast path: their rules (so that their refusals count
    /// here), the shared id source, and their notices.
    pub fn attach_fast_path(&mut self, fast: FastPath) {
        self.rules = fast.rules;
        self.ids = fast.ids;
        self.notices = fast.notices;
    }

    /// The counters, with the submits the cores refused themselves.
    pub fn published_stats(&self) -> Stats {
        let mut s = self.stats;
        s.refused += self.rules.refused.load(Ordering::Relaxed);
        s
    }

    /// Whether a core's submitter said something not yet taken.
    pub fn has_notices(&self) -> bool {
        self.notices.iter().any(|r| r.0.slots() > 0)
    }

    /// Take what the cores' submitters said they are storing.
    pub fn drain_notices(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.notices.len() {
            while let Some(n) = self.notices.get_mut(i).and_then(|r| r.0.pop().ok()) {
                any = true;
                match n {
                    Notice::Stored {
                        token,
                        rec,
                        pdu_at,
                        summary,
                    } => {
                        let id = rec.id;
                        let msg = Msg::unstored(rec, pdu_at, Some(summary));
                        self.pending
                            .insert(token, Pending::Stored { msg: Box::new(msg) });
                        self.subjects
                            .insert(token, (records::MESSAGE, Subject::Msg(id)));
                    }
                    Notice::Cancelled { token } => {
                        self.pending.remove(&token);
                        self.subjects.remove(&token);
                    }
                }
            }
        }
        any
    }

    fn message_id(&self, id: Id) -> String {
        message_id(id, &self.settings.domain)
    }

    fn is_local(&self, msisdn: &str) -> bool {
        self.rules.is_local(msisdn)
    }

    fn reply(&mut self, conn: ConnId, response: Response) {
        self.replies.push(Reply { conn, response });
    }

    /// An m-send-conf (or m-forward-conf) written straight into the answer.
    fn reply_conf(
        &mut self,
        conn: ConnId,
        forward: bool,
        tid: Option<&[u8]>,
        version: Version,
        status: ResponseStatus,
        message_id: Option<&[u8]>,
    ) {
        let kind = if forward {
            MessageType::FORWARD_CONF
        } else {
            MessageType::SEND_CONF
        };
        let r = mmsc_dataplane::mm1::conf_response(kind, tid, version, status, message_id);
        self.reply(conn, r);
    }

    fn note_segment(&mut self, segment: u32, subject: &Subject) {
        match subject {
            Subject::Msg(id) => {
                self.seg_msgs.entry(segment).or_default().insert(*id);
            }
            Subject::Msgs(ids) => {
                let set = self.seg_msgs.entry(segment).or_default();
                set.extend(ids.iter().copied());
            }
            Subject::Job(j) => {
                self.seg_jobs.entry(segment).or_default().insert(*j);
            }
            Subject::None => {}
        }
    }

    fn append(&mut self, kind: u8, payload: Payload, then: Pending) -> bool {
        let subject = match &then {
            Pending::Submit { msg, .. } | Pending::Stored { msg } => Subject::Msg(msg.rec.id),
            Pending::Outbox { job, .. } => Subject::Job(*job),
            Pending::Relocated { id } => Subject::Msg(*id),
            _ => Subject::None,
        };
        self.append_about(kind, payload, then, subject)
    }

    fn append_about(
        &mut self,
        kind: u8,
        payload: Payload,
        then: Pending,
        subject: Subject,
    ) -> bool {
        let token = self.next_token;
        self.next_token += 1;
        match self.store.append(kind, payload, token) {
            Ok(()) => {
                self.pending.insert(token, then);
                self.subjects.insert(token, (kind, subject));
                true
            }
            Err(e) => {
                self.log.push(format!("store: {e}"));
                self.fail_pending(then);
                false
            }
        }
    }

    fn fail_pending(&mut self, p: Pending) {
        match p {
            Pending::Submit {
                conn,
                tid,
                version,
                forward,
                ..
            } => {
                self.stats.refused += 1;
                let status = ResponseStatus::ERROR_TRANSIENT_FAILURE;
                self.reply_conf(conn, forward, Some(&tid), version, status, None);
            }
            // The core that stored it answered the handset.
            Pending::Stored { .. } => self.stats.refused += 1,
            Pending::Answer { conn: Some(conn) }
            | Pending::Outbox {
                conn: Some(conn), ..
            } => {
                self.reply(conn, Response::text(500, "store unavailable"));
            }
            _ => {}
        }
    }

    /// Handle a job from a dataplane core.
    pub fn handle_job(&mut self, job: Job, now: u64) {
        let conn = job.conn;
        match job.kind {
            JobKind::Retrieve { msisdn, token } => {
                self.retrieve(conn, msisdn.as_deref(), &token, now, false)
            }
            // Planned on the core, which has no fast path of its own.
            JobKind::Submit { plan, buf, body } => self.submit(conn, *plan, buf, body),
            JobKind::Post {
                msisdn,
                message_type,
                version,
                buf,
                body,
            } => {
                let limits = self.settings.limits.clone();
                let pdu_bytes = buf.get(body.clone()).unwrap_or(&[]);
                // Borrowed from the request buffer: nothing of the message is copied.
                let (pdu, body_at) = match Pdu::decode_located(pdu_bytes, &limits) {
                    Ok(p) => p,
                    Err(e) => {
                        return self.reply_conf(
                            conn,
                            false,
                            None,
                            version,
                            e.response_status(),
                            None,
                        );
                    }
                };
                if message_type == MessageType::SEND_REQ {
                    let plan = self.rules.plan(&msisdn, version, &pdu, body_at, now);
                    drop(pdu);
                    return match plan {
                        Ok(plan) => self.submit(conn, plan, buf, body),
                        Err((tid, status)) => {
                            self.stats.refused += 1;
                            let rv = reply_version(version);
                            self.reply_conf(conn, false, Some(&tid), rv, status, None);
                        }
                    };
                }
                match message_type {
                    MessageType::NOTIFYRESP_IND => self.notifyresp(conn, &msisdn, &pdu, now),
                    MessageType::ACKNOWLEDGE_IND => self.acknowledge(conn, &msisdn, &pdu, now),
                    MessageType::READ_REC_IND => self.read_rec(conn, &msisdn, &pdu, now),
                    MessageType::FORWARD_REQ => self.forward(conn, &msisdn, version, &pdu, now),
                    _ => {
                        self.reply_conf(
                            conn,
                            false,
                            pdu.transaction_id(),
                            version,
                            ResponseStatus::ERROR_UNSUPPORTED_MESSAGE,
                            None,
                        );
                    }
                }
            }
        }
    }

    /// Store a checked m-send-req: its metadata, then the PDU straight from the request buffer.
    fn submit(
        &mut self,
        conn: ConnId,
        plan: SubmitPlan,
        buf: Vec<u8>,
        body: std::ops::Range<usize>,
    ) {
        let version = plan.version;
        let (tid, mut rec, summary) = split_plan(plan);
        rec.id = self.new_id(rec.received_at);
        let meta = rec.encode_meta();
        let pdu_at = meta.len();
        let mut payload = Payload::new();
        payload.push(meta);
        payload.push_range(buf, body);
        let msg = Msg::unstored(rec, pdu_at, Some(summary));
        self.append(
            records::MESSAGE,
            payload,
            Pending::Submit {
                conn,
                tid,
                version: reply_version(version),
                msg: Box::new(msg),
                forward: false,
            },
        );
    }

    /// A store completion.
    pub fn on_completion(&mut self, c: Completion, now: u64) {
        if is_core_token(c.token) && !self.pending.contains_key(&c.token) {
            // A core's notice is pushed before its append, so it is there by now.
            self.drain_notices();
        }
        let subject = self.subjects.remove(&c.token);
        let Some(p) = self.pending.remove(&c.token) else {
            return;
        };
        let loc = match c.result {
            Ok(loc) => loc,
            Err(e) => {
                self.log.push(format!("store: {e}"));
                if matches!(p, Pending::Relocated { .. } | Pending::RelocatedOther)
                    && let Some(cp) = self.compaction.as_mut()
                {
                    cp.failed = true;
                    cp.outstanding = cp.outstanding.saturating_sub(1);
                }
                return self.fail_pending(p);
            }
        };
        if let Some((kind, subject)) = subject {
            self.note_segment(loc.segment, &subject);
            if let Subject::Job(j) = subject
                && kind == records::OUTBOX
            {
                if let Some(old) = self.job_locs.insert(j, loc) {
                    self.sub_live(old);
                }
                *self.seg_live.entry(loc.segment).or_default() += loc.footprint();
            }
        }
        match p {
            Pending::Relocated { id } => {
                self.stats.records_relocated += 1;
                if let Some(cp) = self.compaction.as_mut() {
                    cp.outstanding = cp.outstanding.saturating_sub(1);
                }
                // A message removed meanwhile has its REMOVED record after this one.
                if let Some(m) = self.msgs.get_mut(&id) {
                    let old = m.loc;
                    m.loc = loc;
                    self.sub_live(old);
                    *self.seg_live.entry(loc.segment).or_default() += loc.footprint();
                }
            }
            Pending::RelocatedOther => {
                self.stats.records_relocated += 1;
                if let Some(cp) = self.compaction.as_mut() {
                    cp.outstanding = cp.outstanding.saturating_sub(1);
                }
            }
            Pending::Stored { mut msg } => {
                msg.loc = loc;
                self.index(msg, now);
            }
            Pending::Submit {
                conn,
                tid,
                version,
                mut msg,
                forward,
            } => {
                msg.loc = loc;
                let mid = self.message_id(msg.rec.id);
                self.index(msg, now);
                self.reply_conf(
                    conn,
                    forward,
                    Some(&tid),
                    version,
                    ResponseStatus::OK,
                    Some(mid.as_bytes()),
                );
            }
            Pending::Answer { conn } => {
                if let Some(conn) = conn {
                    self.reply(conn, Response::empty(200));
                }
            }
            Pending::Outbox { job, conn } => {
                if let Some(j) = self.jobs.get_mut(&PushKey::Outbox(job)) {
                    j.runnable = true;
                    self.schedule(PushKey::Outbox(job), now);
                }
                if let Some(conn) = conn {
                    self.reply(conn, Response::empty(200));
                }
            }
            Pending::Internal => {}
        }
    }

    /// A message that became durable (at `msg.loc`): counted in its segment, indexed, given
    /// its expiry, and its local recipients' notifications queued.
    fn index(&mut self, msg: Box<Msg>, now: u64) {
        let loc = msg.loc;
        *self.seg_live.entry(loc.segment).or_default() += loc.footprint();
        let id = msg.rec.id;
        self.expiry.push(Reverse((msg.rec.expiry_at, id)));
        let notify: Vec<(u16, String)> = msg
            .rec
            .recipients
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.msisdn.clone().map(|m| (i as u16, m)))
            .collect();
        let exp = msg.rec.expiry_at;
        self.msgs.insert(id, msg);
        for (i, m) in notify {
            self.add_notify_job(id, i, m, exp, now);
        }
        self.stats.accepted += 1;
        self.stats.stored = self.msgs.len() as u64;
    }

    /// A recipient's token: its message's id (`None` if it is not an id this MMSC makes: no
    /// such message) and the recipient's index.
    fn parse_token(&self, token: &str) -> Option<(Id, usize)> {
        let (id, idx) = token.rsplit_once('-')?;
        Some((Id::parse(id)?, idx.parse().ok()?))
    }

    fn content_location(&self, id: Id, idx: u16) -> String {
        let base = &self.settings.content_location_base;
        let id = id.text();
        let mut s = String::with_capacity(base.len() + id.len() + 7);
        s.push_str(base);
        s.push('/');
        push_token(&mut s, &id, idx);
        s
    }

    /// A retrieval whose message was read into memory by the fetcher: answer it now.
    pub fn on_fetched(&mut self, f: Fetch, now: u64) {
        self.stats.fetched += 1;
        self.retrieve(f.conn, f.msisdn.as_deref(), &f.token, now, true);
    }

    fn retrieve(
        &mut self,
        conn: ConnId,
        msisdn: Option<&str>,
        token: &str,
        now: u64,
        fetched: bool,
    ) {
        let not_found = |s: &mut Service| {
            let r = mmsc_dataplane::mm1::retrieve_error(
                now,
                RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
                "no such message",
            );
            s.reply(conn, r);
        };
        let Some((id, idx)) = self.parse_token(token) else {
            return not_found(self);
        };
        let Some(m) = self.msgs.get(&id) else {
            return not_found(self);
        };
        let owner = m.rec.recipients.get(idx).and_then(|r| r.msisdn.as_deref());
        if owner.is_none() || owner != msisdn || now >= m.rec.expiry_at {
            // Unknown, expired, or somebody else's: the same answer, so nothing leaks.
            return not_found(self);
        }
        if !fetched && !self.store.is_cached(m.loc) {
            // Reading it here would wait for the disk (and so would the dataplane core that
            // writes it out): the fetcher reads it first.
            let loc = m.loc;
            self.fetches.push(Fetch {
                conn,
                msisdn: msisdn.map(str::to_owned),
                token: token.to_owned(),
                loc,
            });
            return;
        }
        let Some(payload) = self.store.read(m.loc) else {
            return not_found(self);
        };
        let pdu_map = payload.slice(m.pdu_at()..payload.len());
        let body_at = m.rec.body_offset as usize;
        let stored = match Pdu::decode(&pdu_map, &self.settings.limits) {
            Ok(p) => p,
            Err(_) => return not_found(self),
        };
        let mut conf = Pdu::new(MessageType::RETRIEVE_CONF);
        conf.push(field::TRANSACTION_ID, Value::Text(token.as_bytes().into()));
        conf.push(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0));
        conf.push(
            field::MESSAGE_ID,
            Value::Text(self.message_id(m.rec.id).into_bytes().into()),
        );
        if !m.rec.hide_sender {
            conf.push(
                field::FROM,
                Value::From(Some(EncodedString::plain(plmn(&m.rec.sender).into_bytes()))),
            );
        }
        if stored.date().is_none() {
            conf.push(field::DATE, Value::Integer(m.rec.received_at));
        }
        for h in &stored.headers {
            let keep = match h.name {
                HeaderName::Field(c) => matches!(
                    c,
                    field::TO
                        | field::CC
                        | field::SUBJECT
                        | field::DATE
                        | field::MESSAGE_CLASS
                        | field::PRIORITY
                        | field::DELIVERY_REPORT
                        | field::READ_REPORT
                        | field::REPLY_CHARGING
                        | field::REPLY_CHARGING_DEADLINE
                        | field::REPLY_CHARGING_ID
                        | field::REPLY_CHARGING_SIZE
                        | field::PREVIOUSLY_SENT_BY
                        | field::PREVIOUSLY_SENT_DATE
                        | field::CONTENT_CLASS
                        | field::DRM_CONTENT
                        | field::APPLIC_ID
                        | field::REPLY_APPLIC_ID
                        | field::AUX_APPLIC_INFO
                ),
                HeaderName::Application(_) => true,
            };
            if keep {
                conf.headers.push(h.clone());
            }
        }
        conf.canonicalize();
        conf.content_type = stored.content_type.clone();
        let mut head = Vec::with_capacity(256);
        if conf.encode_headers_into(&mut head).is_err() {
            return not_found(self);
        }
        let body = pdu_map.slice(body_at..pdu_map.len());
        self.stats.retrieved += 1;
        self.reply(
            conn,
            Response {
                status: 200,
                content_type: Some(mmsc_dataplane::ring::MMS_CONTENT_TYPE),
                headers: Vec::new(),
                body: vec![Chunk::Owned(head), Chunk::Shared(Box::new(body))],
            },
        );
    }

    /// Find the recipient a transaction id (notification or retrieve-conf TID) refers to, for
    /// the subscriber `msisdn`.
    fn recipient_of(&self, tid: Option<&[u8]>, msisdn: &str) -> Option<(Id, usize)> {
        let token = std::str::from_utf8(tid?).ok()?;
        let (id, idx) = self.parse_token(token)?;
        let m = self.msgs.get(&id)?;
        (m.rec.recipients.get(idx)?.msisdn.as_deref() == Some(msisdn)).then_some((id, idx))
    }

    fn notifyresp(&mut self, conn: ConnId, msisdn: &str, pdu: &Pdu<'_>, now: u64) {
        let Some((id, idx)) = self.recipient_of(pdu.transaction_id(), msisdn) else {
            // Nothing of this subscriber's: acknowledged, nothing changes.
            return self.reply(conn, Response::empty(200));
        };
        let state = match pdu.status() {
            Some(Status::RETRIEVED) => RecipientState::Retrieved,
            Some(Status::REJECTED) => RecipientState::Rejected,
            Some(Status::UNRECOGNISED) => RecipientState::Unrecognised,
            _ => RecipientState::Deferred,
        };
        let denied = pdu.yes_no(field::REPORT_ALLOWED) == Some(false);
        self.set_state(id, idx, state, denied, now, Some(conn));
    }

    fn acknowledge(&mut self, conn: ConnId, msisdn: &str, pdu: &Pdu<'_>, now: u64) {
        let Some((id, idx)) = self.recipient_of(pdu.transaction_id(), msisdn) else {
            return self.reply(conn, Response::empty(200));
        };
        let denied = pdu.yes_no(field::REPORT_ALLOWED) == Some(false);
        self.set_state(id, idx, RecipientState::Retrieved, denied, now, Some(conn));
    }

    /// Change a recipient's state: write it (and the delivery report it triggers), then answer.
    fn set_state(
        &mut self,
        id: Id,
        idx: usize,
        state: RecipientState,
        denied: bool,
        now: u64,
        conn: Option<ConnId>,
    ) {
        let Some(m) = self.msgs.get_mut(&id) else {
            if let Some(c) = conn {
                self.reply(c, Response::empty(200));
            }
            return;
        };
        let Some(r) = m.rcpts.get_mut(idx) else {
            if let Some(c) = conn {
                self.reply(c, Response::empty(200));
            }
            return;
        };
        if r.state == state || (r.state.is_final() && state != RecipientState::Expired) {
            // Repeated or late: nothing changes.
            if let Some(c) = conn {
                self.reply(c, Response::empty(200));
            }
            return;
        }
        r.state = state;
        r.report_denied |= denied;
        let report_denied = r.report_denied;
        let wants_report = m.rec.delivery_report && !report_denied;
        let sender = m.rec.sender.clone();
        let address = m
            .rec
            .recipients
            .get(idx)
            .map(|r| r.address.clone())
            .unwrap_or_default();
        let mid = message_id(id, &self.settings.domain);
        let expiry_at = m.rec.expiry_at;
        let rec = StateRecord {
            id,
            recipient: idx as u16,
            state,
            at: now,
            report_denied,
        };
        // A notification still queued for this recipient is moot now.
        if state != RecipientState::Notified {
            self.jobs.remove(&PushKey::Notify {
                id,
                recipient: idx as u16,
            });
        }
        let status = match state {
            RecipientState::Retrieved => Some(Status::RETRIEVED),
            RecipientState::Rejected => Some(Status::REJECTED),
            RecipientState::Deferred => Some(Status::DEFERRED),
            RecipientState::Unrecognised => Some(Status::UNRECOGNISED),
            RecipientState::Expired => Some(Status::EXPIRED),
            RecipientState::Unreachable => Some(Status::UNREACHABLE),
            _ => None,
        };
        let report = status
            .filter(|_| wants_report && self.is_local(&sender))
            .map(|st| build::delivery_ind(Version::V1_2, mid.as_bytes(), &address, now, st));
        match report {
            Some(rep) => {
                // The state record first, then the report; the answer waits for the report,
                // which is written after the state (same writer, in order).
                self.append(records::STATE, rec.encode().into(), Pending::Internal);
                match rep.encode() {
                    Ok(pdu) => {
                        // Reports outlive the message a little: a day past its expiry.
                        self.queue_outbox(&sender, pdu, expiry_at.max(now) + 86_400, now, conn)
                    }
                    Err(e) => {
                        self.log.push(format!("cannot encode delivery report: {e}"));
                        if let Some(c) = conn {
                            self.reply(c, Response::empty(200));
                        }
                    }
                }
            }
            None => {
                self.append(
                    records::STATE,
                    rec.encode().into(),
                    Pending::Answer { conn },
                );
            }
        }
    }

    fn queue_outbox(
        &mut self,
        msisdn: &str,
        pdu: Vec<u8>,
        expires_at: u64,
        _now: u64,
        conn: Option<ConnId>,
    ) {
        let job = (u64::from(self.ids.nonce()) << 32) | (self.next_job & 0xFFFF_FFFF);
        self.next_job += 1;
        let rec = OutboxRecord {
            job,
            msisdn: msisdn.to_string(),
            expires_at,
            pdu: pdu.clone(),
        };
        self.jobs.insert(
            PushKey::Outbox(job),
            PushJob {
                msisdn: msisdn.to_string(),
                pdu: Some(pdu),
                attempts: 0,
                expires_at,
                in_flight: false,
                runnable: false,
            },
        );
        self.append(
            records::OUTBOX,
            rec.encode().into(),
            Pending::Outbox { job, conn },
        );
    }

    fn read_rec(&mut self, conn: ConnId, msisdn: &str, pdu: &Pdu<'_>, now: u64) {
        let target = pdu
            .message_id()
            .and_then(|m| std::str::from_utf8(m).ok())
            .and_then(|m| Id::parse(m.split('@').next().unwrap_or(m)));
        // Not an id this MMSC makes: no such message.
        let Some(m) = target.and_then(|id| self.msgs.get(&id)) else {
            return self.reply(conn, Response::empty(200));
        };
        let is_recipient = m
            .rec
            .recipients
            .iter()
            .any(|r| r.msisdn.as_deref() == Some(msisdn));
        if !is_recipient || !self.is_local(&m.rec.sender) {
            return self.reply(conn, Response::empty(200));
        }
        let status = match pdu.get(field::READ_STATUS) {
            Some(Value::Octet(o)) => ReadStatus(*o),
            _ => ReadStatus::READ,
        };
        let sender = m.rec.sender.clone();
        let mid = self.message_id(m.rec.id);
        let expires = m.rec.expiry_at.max(now) + 86_400;
        let rep = build::read_orig_ind(
            Version::V1_2,
            mid.as_bytes(),
            &plmn(&sender),
            &plmn(msisdn),
            now,
            status,
        );
        match rep.encode() {
            Ok(b) => self.queue_outbox(&sender, b, expires, now, Some(conn)),
            Err(_) => self.reply(conn, Response::text(500, "cannot encode read report")),
        }
    }

    fn forward(&mut self, conn: ConnId, msisdn: &str, version: Version, pdu: &Pdu<'_>, now: u64) {
        let tid = pdu.transaction_id().unwrap_or_default().to_vec();
        let rv = reply_version(version);
        let refuse = |s: &mut Service, status: ResponseStatus| {
            s.stats.refused += 1;
            s.reply_conf(conn, true, Some(&tid), rv, status, None);
        };
        // The message forwarded is one the forwarder received: its Content-Location.
        let base = format!("{}/", self.settings.content_location_base);
        let token = pdu
            .content_location()
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.strip_prefix(&base).map(str::to_string));
        let found = token.as_deref().and_then(|t| {
            let (id, idx) = self.parse_token(t)?;
            let m = self.msgs.get(&id)?;
            (m.rec.recipients.get(idx)?.msisdn.as_deref() == Some(msisdn) && now < m.rec.expiry_at)
                .then(|| m.clone())
        });
        let Some(orig) = found else {
            return refuse(self, ResponseStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND);
        };
        let recipients = self.rules.recipients_of(pdu);
        if recipients.is_empty() {
            return refuse(self, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT);
        }
        if recipients.iter().all(|r| r.msisdn.is_none()) {
            return refuse(
                self,
                ResponseStatus::ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED,
            );
        }
        let Some(payload) = self.store.read(orig.loc) else {
            return refuse(self, ResponseStatus::ERROR_TRANSIENT_FAILURE);
        };
        let orig_pdu_bytes = payload.get(orig.pdu_at()..).unwrap_or(&[]);
        let Ok(orig_pdu) = Pdu::decode(orig_pdu_bytes, &self.settings.limits) else {
            return refuse(self, ResponseStatus::ERROR_TRANSIENT_FAILURE);
        };
        // The new message: the forward request's addressing and options, the original's
        // content and subject, and who sent it first.
        let mut new = Pdu::new(MessageType::SEND_REQ);
        new.push(field::TRANSACTION_ID, Value::Text(tid.clone().into()));
        new.push(field::MMS_VERSION, Value::Octet(0x80 | rv.0));
        new.push(field::DATE, Value::Integer(now));
        new.push(
            field::FROM,
            Value::From(Some(EncodedString::plain(plmn(msisdn).into_bytes()))),
        );
        for h in &pdu.headers {
            if let HeaderName::Field(
                field::TO
                | field::CC
                | field::BCC
                | field::EXPIRY
                | field::DELIVERY_REPORT
                | field::READ_REPORT,
            ) = h.name
            {
                new.headers.push(h.clone().into_owned());
            }
        }
        for h in &orig_pdu.headers {
            if let HeaderName::Field(field::SUBJECT | field::MESSAGE_CLASS | field::PRIORITY) =
                h.name
            {
                new.headers.push(h.clone().into_owned());
            }
        }
        new.push(
            field::PREVIOUSLY_SENT_BY,
            Value::Tagged {
                tag: 1,
                value: Box::new(Value::Encoded(EncodedString::plain(
                    plmn(&orig.rec.sender).into_bytes(),
                ))),
            },
        );
        new.push(
            field::PREVIOUSLY_SENT_DATE,
            Value::Tagged {
                tag: 1,
                value: Box::new(Value::Integer(
                    orig_pdu.date().unwrap_or(orig.rec.received_at),
                )),
            },
        );
        new.canonicalize();
        new.content_type = orig_pdu.content_type.clone().map(|c| c.into_owned());
        let mut head = Vec::new();
        if new.encode_headers_into(&mut head).is_err() {
            return refuse(self, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT);
        }
        let body_offset = head.len() as u32;
        let body = orig_pdu_bytes
            .get(orig.rec.body_offset as usize..)
            .unwrap_or(&[])
            .to_vec();
        if !matches!(new.body, None | Some(Body::Data(_))) {
            return refuse(self, ResponseStatus::ERROR_TRANSIENT_FAILURE);
        }
        let id = self.new_id(now);
        let rec = MessageRecord {
            id,
            received_at: now,
            expiry_at: self.rules.expiry_of(pdu, now),
            sender: msisdn.into(),
            version: version.0,
            delivery_report: pdu.yes_no(field::DELIVERY_REPORT) == Some(true),
            read_report: pdu.yes_no(field::READ_REPORT) == Some(true),
            hide_sender: false,
            recipients,
            body_offset,
        };
        let meta = rec.encode_meta();
        let pdu_at = meta.len();
        let mut p = Payload::new();
        p.push(meta);
        p.push(head);
        p.push(body);
        let msg = Msg::unstored(rec, pdu_at, None);
        self.append(
            records::MESSAGE,
            p,
            Pending::Submit {
                conn,
                tid,
                version: rv,
                msg: Box::new(msg),
                forward: true,
            },
        );
    }

    fn notification_pdu(&self, id: Id, idx: u16) -> Option<Vec<u8>> {
        let m = self.msgs.get(&id)?;
        // After a restart the summary is read back from the store, once per notification.
        let read_back;
        let summary = match &m.summary {
            Some(s) => &**s,
            None => {
                let payload = self.store.read(m.loc)?;
                let pdu_bytes = payload.get(m.pdu_at()..)?;
                let stored = Pdu::decode(pdu_bytes, &self.settings.limits).ok()?;
                read_back = Summary {
                    subject: stored.subject().map(clean_subject),
                    class: stored
                        .get(field::MESSAGE_CLASS)
                        .cloned()
                        .map(Value::into_owned),
                };
                &read_back
            }
        };
        let from = (!m.rec.hide_sender).then(|| plmn(&m.rec.sender));
        let location = self.content_location(id, idx);
        // The recipient's token ends the Content-Location, and is the Transaction-ID too.
        let token_at = self.settings.content_location_base.len() + 1;
        let subject = summary.subject.as_ref();
        let n = Notification {
            tid: location.as_bytes().get(token_at..).unwrap_or_default(),
            version: Version::V1_2,
            from: from.as_deref(),
            // Borrowed from the summary: nothing is copied for the encoding.
            subject: subject.map(|s| EncodedString {
                charset: s.charset,
                text: Cow::Borrowed(&s.text),
            }),
            class: summary.class.as_ref().map(borrowed),
            size: m.pdu_len(),
            expiry: m.rec.expiry_at,
            content_location: location.as_bytes(),
            delivery_report: Some(m.rec.delivery_report),
        };
        let mut out = Vec::with_capacity(
            48 + 2 * location.len()
                + from.as_ref().map_or(0, String::len)
                + subject.map_or(0, |s| s.text.len()),
        );
        build::notification_ind_into(&mut out, &n).ok()?;
        Some(out)
    }

    /// Drop the summary of a message once no notification of it is left to send.
    fn forget_summary_if_done(&mut self, id: Id) {
        let Some(m) = self.msgs.get(&id) else {
            return;
        };
        let n = m.rcpts.len();
        let pending = (0..n).any(|i| {
            self.jobs.contains_key(&PushKey::Notify {
                id,
                recipient: i as u16,
            })
        });
        if !pending && let Some(m) = self.msgs.get_mut(&id) {
            m.summary = None;
        }
    }

    /// Hand due pushes to the workers, and expire what is due.
    pub fn tick(&mut self, now: u64) {
        self.expire_due(now);
        self.maybe_compact();
        while let Some(Reverse((at, _, _))) = self.due.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, key))) = self.due.pop() else {
                break;
            };
            let Some(job) = self.jobs.get(&key) else {
                continue;
            };
            if job.in_flight || !job.runnable {
                continue;
            }
            if now > job.expires_at {
                self.give_up(&key, now, "expired before it could be pushed");
                continue;
            }
            let pdu = match (&key, &job.pdu) {
                (_, Some(p)) => Some(p.clone()),
                (PushKey::Notify { id, recipient }, None) => self.notification_pdu(*id, *recipient),
                _ => None,
            };
            let Some(pdu) = pdu else {
                self.jobs.remove(&key);
                continue;
            };
            let msisdn = job.msisdn.clone();
            if let Some(j) = self.jobs.get_mut(&key) {
                j.in_flight = true;
            }
            self.pushes.push(PushRequest { key, msisdn, pdu });
        }
    }

    fn give_up(&mut self, key: &PushKey, now: u64, why: &str) {
        self.log.push(format!("push {key:?}: giving up: {why}"));
        self.jobs.remove(key);
        match key {
            PushKey::Notify { id, recipient } => {
                self.set_state(
                    *id,
                    usize::from(*recipient),
                    RecipientState::Unreachable,
                    false,
                    now,
                    None,
                );
            }
            PushKey::Outbox(job) => self.outbox_done(*job),
        }
    }

    fn outbox_done(&mut self, job: u64) {
        self.append(
            records::PUSH_DONE,
            records::encode_push_done(job).into(),
            Pending::Internal,
        );
        if let Some(l) = self.job_locs.remove(&job) {
            self.sub_live(l);
        }
    }

    fn sub_live(&mut self, loc: Location) {
        if let Some(v) = self.seg_live.get_mut(&loc.segment) {
            *v = v.saturating_sub(loc.footprint());
        }
    }

    /// Reclaim the oldest segment once at most half of it is live: relocate what is live in
    /// it (message records straight from the map; the current states of its messages; its
    /// pending outbox jobs) to the active segment, and delete it once all of that is durable.
    /// Oldest first, so a PUSH_DONE or REMOVED in the segment only ever cancels records in
    /// the same segment or in segments already gone.
    fn maybe_compact(&mut self) {
        if let Some(cp) = &self.compaction {
            if cp.outstanding > 0 {
                return;
            }
            let (seg, failed) = (cp.segment, cp.failed);
            self.compaction = None;
            if failed {
                self.log
                    .push(format!("compaction of segment {seg} failed; segment kept"));
                return;
            }
            if self.store.delete_segment(seg).is_ok() {
                self.deleted.insert(seg);
                self.seg_msgs.remove(&seg);
                self.seg_jobs.remove(&seg);
                self.seg_live.remove(&seg);
                self.stats.segments_reclaimed += 1;
            }
            return;
        }
        let segs = self.store.segments();
        self.deleted.retain(|d| segs.iter().any(|s| s.id == *d));
        let Some(oldest) = segs
            .iter()
            .find(|s| !s.active && !self.deleted.contains(&s.id))
        else {
            return;
        };
        let live = self.seg_live.get(&oldest.id).copied().unwrap_or(0);
        if live.saturating_mul(2) > oldest.used {
            return;
        }
        let seg = oldest.id;
        self.compaction = Some(Compaction {
            segment: seg,
            outstanding: 0,
            failed: false,
        });
        let ids: Vec<Id> = self
            .seg_msgs
            .get(&seg)
            .map(|s| {
                s.iter()
                    .filter(|id| self.msgs.contains_key(*id))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        let mut queued = 0usize;
        for id in ids {
            let Some(m) = self.msgs.get(&id) else {
                continue;
            };
            if m.loc.segment == seg {
                let Some(mapped) = self.store.read(m.loc) else {
                    continue;
                };
                let mut p = Payload::new();
                p.push_mapped(mapped);
                if self.append(records::MESSAGE, p, Pending::Relocated { id }) {
                    queued += 1;
                }
            }
            let Some(m) = self.msgs.get(&id) else {
                continue;
            };
            let states: Vec<StateRecord> = m
                .rcpts
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    !matches!(r.state, RecipientState::Pending | RecipientState::NotLocal)
                        || r.report_denied
                })
                .map(|(i, r)| StateRecord {
                    id,
                    recipient: i as u16,
                    state: r.state,
                    at: m.rec.received_at,
                    report_denied: r.report_denied,
                })
                .collect();
            for st in states {
                if self.append_about(
                    records::STATE,
                    st.encode().into(),
                    Pending::RelocatedOther,
                    Subject::Msg(id),
                ) {
                    queued += 1;
                }
            }
        }
        let jobs: Vec<u64> = self
            .seg_jobs
            .get(&seg)
            .map(|s| {
                s.iter()
                    .filter(|j| self.jobs.contains_key(&PushKey::Outbox(**j)))
                    .copied()
                    .collect()
            })
            .unwrap_or_default();
        for job in jobs {
            let Some(j) = self.jobs.get(&PushKey::Outbox(job)) else {
                continue;
            };
            let Some(pdu) = j.pdu.clone() else { continue };
            let rec = OutboxRecord {
                job,
                msisdn: j.msisdn.clone(),
                expires_at: j.expires_at,
                pdu,
            };
            if self.append_about(
                records::OUTBOX,
                rec.encode().into(),
                Pending::RelocatedOther,
                Subject::Job(job),
            ) {
                queued += 1;
            }
        }
        if let Some(cp) = self.compaction.as_mut() {
            cp.outstanding += queued;
        }
    }

    /// A push worker's result.
    pub fn on_push_result(&mut self, r: PushResult, now: u64) {
        self.on_push_results(std::iter::once(r), now);
    }

    /// Push workers' results. The recipients they notified are written Notified in one
    /// record (a NOTIFIED record), after which their notifications count as done.
    pub fn on_push_results(&mut self, results: impl IntoIterator<Item = PushResult>, now: u64) {
        let mut notified: Vec<(Id, u16)> = Vec::new();
        for r in results {
            self.push_outcome(r, now, &mut notified);
        }
        if notified.is_empty() {
            return;
        }
        let payload = records::encode_notified(&notified);
        let ids: Vec<Id> = notified.into_iter().map(|(id, _)| id).collect();
        self.append_about(
            records::NOTIFIED,
            payload.into(),
            Pending::Internal,
            Subject::Msgs(ids),
        );
    }

    fn push_outcome(&mut self, r: PushResult, now: u64, notified: &mut Vec<(Id, u16)>) {
        let Some(job) = self.jobs.get_mut(&r.key) else {
            return;
        };
        job.in_flight = false;
        match r.outcome {
            Ok(_) => {
                self.stats.pushed += 1;
                self.jobs.remove(&r.key);
                match r.key {
                    PushKey::Notify { id, recipient } => {
                        self.forget_summary_if_done(id);
                        if let Some(rc) = self
                            .msgs
                            .get_mut(&id)
                            .and_then(|m| m.rcpts.get_mut(usize::from(recipient)))
                            && rc.state == RecipientState::Pending
                        {
                            // Written with the batch's other Notified states.
                            rc.state = RecipientState::Notified;
                            notified.push((id, recipient));
                        }
                    }
                    PushKey::Outbox(job) => self.outbox_done(job),
                }
            }
            Err(e) if e.is_transient() => {
                self.stats.push_failures += 1;
                job.attempts += 1;
                let shift = job.attempts.min(20);
                let delay = self
                    .settings
                    .retry_initial_secs
                    .max(1)
                    .saturating_mul(1u64 << shift.saturating_sub(1))
                    .min(self.settings.retry_max_secs.max(1));
                self.schedule(r.key, now + delay);
            }
            Err(e) => {
                self.stats.push_failures += 1;
                self.give_up(&r.key, now, &e.to_string());
            }
        }
    }

    fn expire_due(&mut self, now: u64) {
        while let Some(Reverse((at, _))) = self.expiry.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = self.expiry.pop() else {
                break;
            };
            let Some(m) = self.msgs.get(&id) else {
                continue;
            };
            if m.rec.expiry_at != at {
                continue;
            }
            let open: Vec<usize> = m
                .rcpts
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.state.is_final())
                .map(|(i, _)| i)
                .collect();
            let n = m.rcpts.len();
            for i in open {
                self.set_state(id, i, RecipientState::Expired, false, now, None);
            }
            for i in 0..n {
                self.jobs.remove(&PushKey::Notify {
                    id,
                    recipient: i as u16,
                });
            }
            self.append(
                records::REMOVED,
                records::encode_removed(id).into(),
                Pending::Internal,
            );
            if let Some(m) = self.msgs.remove(&id) {
                self.sub_live(m.loc);
            }
            self.stats.expired += 1;
            self.stats.stored = self.msgs.len() as u64;
        }
    }

    /// Earliest time something is due (a push or an expiry), for the loop's sleep.
    pub fn next_due(&self) -> Option<u64> {
        let a = self.due.peek().map(|Reverse((t, _, _))| *t);
        let b = self.expiry.peek().map(|Reverse((t, _))| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Messages stored and pushes queued.
    pub fn sizes(&self) -> (usize, usize) {
        (self.msgs.len(), self.jobs.len())
    }

    /// Store records awaiting durability.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_the_id_a_dash_and_the_index() {
        for idx in [0u16, 7, 10, 999, u16::MAX] {
            let mut s = String::from("x/");
            super::push_token(&mut s, "0123abc", idx);
            assert_eq!(s, format!("x/0123abc-{idx}"));
        }
    }
}
