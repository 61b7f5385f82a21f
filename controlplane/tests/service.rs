//! The MM1 service driven directly (no sockets), over a real store in a temporary directory.

mod common;
use common::settings;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::Receiver;
use mmsc_controlplane::pusher::{PushKey, PushRequest, PushResult};
use mmsc_controlplane::service::Service;
use mmsc_dataplane::ring::{ConnId, Job, JobKind, Reply};
use mmsc_push::PushError;
use mmsc_store::{Completion, Store, StoreConfig};
use mmsc_wire::Limits;
use mmsc_wire::mms::{
    EncodedString, MessageType, Pdu, ResponseStatus, RetrieveStatus, Status, TimeValue, Value,
    Version, field,
};
use mmsc_wire::wsp::{Body, ContentType, MediaType, Part, tables};

const A: &str = "+358401000001";
const B: &str = "+358401000002";
const C: &str = "+358401000003";
const T0: u64 = 1_800_000_000;

struct Rig {
    dir: PathBuf,
    svc: Service,
    store: Store,
    done: Receiver<Completion>,
    conn: u32,
}

fn open(dir: &Path, segment_bytes: u64, now: u64) -> Rig {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut cfg = StoreConfig::new(dir);
    cfg.segment_bytes = segment_bytes;
    let (store, recovered) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
    let svc = Service::new(settings(), store.clone(), &recovered, now);
    Rig {
        dir: dir.to_path_buf(),
        svc,
        store,
        done: rx,
        conn: 0,
    }
}

fn tmpdir(name: &str) -> PathBuf {
    common::tmpdir("svc", name)
}

impl Rig {
    fn conn(&mut self) -> ConnId {
        self.conn += 1;
        ConnId {
            core: 0,
            slot: self.conn,
            generation: 1,
        }
    }

    /// Let the store make everything durable and feed the completions back.
    fn settle(&mut self, now: u64) {
        while self.svc.in_flight() > 0 {
            let c = self
                .done
                .recv_timeout(Duration::from_secs(10))
                .expect("store completion");
            self.svc.on_completion(c, now);
        }
    }

    fn post(&mut self, from: &str, pdu: &Pdu<'_>, now: u64) -> Reply {
        let bytes = pdu.encode().unwrap();
        let len = bytes.len();
        let conn = self.conn();
        self.svc.handle_job(
            Job {
                conn,
                kind: JobKind::Post {
                    msisdn: from.into(),
                    message_type: pdu.message_type,
                    version: pdu.version().unwrap_or(Version::V1_0),
                    buf: bytes,
                    body: 0..len,
                },
            },
            now,
        );
        self.settle(now);
        self.take_reply(conn)
    }

    fn get(&mut self, who: &str, token: &str, now: u64) -> Vec<u8> {
        let conn = self.conn();
        self.svc.handle_job(
            Job {
                conn,
                kind: JobKind::Retrieve {
                    msisdn: Some(who.into()),
                    token: token.into(),
                },
            },
            now,
        );
        // A message not in the store's memory window goes to the fetcher first (serve runs
        // it on a thread of its own); do what it does.
        for f in std::mem::take(&mut self.svc.fetches) {
            assert!(self.store.prefetch(f.loc));
            self.svc.on_fetched(f, now);
        }
        let r = self.take_reply(conn);
        assert_eq!(r.response.status, 200);
        r.response
            .body
            .iter()
            .flat_map(|c| c.bytes().to_vec())
            .collect()
    }

    fn take_reply(&mut self, conn: ConnId) -> Reply {
        let i = self
            .svc
            .replies
            .iter()
            .position(|r| r.conn == conn)
            .expect("a reply to the request");
        self.svc.replies.remove(i)
    }

    /// What the control-plane loop does each round: tick, let records become durable, tick
    /// again (records made durable may make pushes runnable).
    fn pushes(&mut self, now: u64) -> Vec<PushRequest> {
        self.svc.tick(now);
        self.settle(now);
        self.svc.tick(now);
        self.settle(now);
        std::mem::take(&mut self.svc.pushes)
    }

    fn deliver(&mut self, reqs: Vec<PushRequest>, now: u64) {
        for r in reqs {
            self.svc.on_push_result(
                PushResult {
                    key: r.key,
                    outcome: Ok("test".into()),
                },
                now,
            );
        }
        self.settle(now);
    }

    fn close(self) {
        drop(self.svc);
        self.store.close();
    }
}

fn text(t: &str) -> Value<'static> {
    Value::Text(Cow::Owned(t.as_bytes().to_vec()))
}

fn addr(m: &str) -> Value<'static> {
    Value::Encoded(EncodedString::plain(format!("{m}/TYPE=PLMN").into_bytes()))
}

fn send_req(tid: &str, to: &[&str], image: &[u8], report: bool) -> Pdu<'static> {
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(field::TRANSACTION_ID, text(tid))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::FROM, Value::From(None))
        .with(
            field::SUBJECT,
            Value::Encoded(EncodedString::plain(&b"hello"[..])),
        );
    for t in to {
        p.push(field::TO, addr(t));
    }
    if report {
        p.push(field::DELIVERY_REPORT, Value::Octet(0x80));
    }
    p.set_body(
        ContentType::new(MediaType::WellKnown(tables::CT_MULTIPART_RELATED)),
        Body::Multipart(vec![
            Part::new(
                ContentType::well_known(tables::CT_TEXT_PLAIN),
                &b"hi there"[..],
            ),
            Part::new(ContentType::well_known(0x1E), image.to_vec()),
        ]),
    );
    p
}

fn decode(b: &[u8]) -> Pdu<'_> {
    Pdu::decode(b, &Limits::default()).unwrap()
}

/// The token of a notification push (its transaction id).
fn token_of(req: &PushRequest) -> String {
    let p = decode(&req.pdu);
    assert_eq!(p.message_type, MessageType::NOTIFICATION_IND);
    String::from_utf8(p.transaction_id().unwrap().to_vec()).unwrap()
}

#[test]
fn submit_notify_retrieve_report() {
    let dir = tmpdir("flow");
    let mut rig = open(&dir, 1 << 20, T0);
    let image: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let reply = rig.post(
        A,
        &send_req("tx1", &[B, "+44770090012/TYPE=PLMN"], &image, true),
        T0,
    );
    let conf_b = reply.response.body[0].bytes().to_vec();
    let conf = decode(&conf_b);
    assert_eq!(conf.message_type, MessageType::SEND_CONF);
    assert_eq!(conf.transaction_id(), Some(&b"tx1"[..]));
    assert_eq!(conf.response_status(), Some(ResponseStatus::OK));
    let mid = conf.message_id().unwrap().to_vec();

    // One notification: B is local, the +44 recipient is not.
    let pushes = rig.pushes(T0);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].msisdn, B);
    let n = decode(&pushes[0].pdu);
    assert_eq!(n.subject().unwrap().text, &b"hello"[..]);
    assert_eq!(n.expiry(), Some(TimeValue::Absolute(T0 + 3600)));
    let loc = String::from_utf8(n.content_location().unwrap().to_vec()).unwrap();
    let token = token_of(&pushes[0]);
    assert_eq!(loc, format!("http://127.0.0.1:8514/mms/{token}"));
    rig.deliver(pushes, T0);

    // B retrieves: the original parts, From A, Bcc never shown.
    let rc_b = rig.get(B, &token, T0 + 1);
    let rc = decode(&rc_b);
    assert_eq!(rc.message_type, MessageType::RETRIEVE_CONF);
    assert_eq!(rc.message_id(), Some(&mid[..]));
    assert_eq!(
        rc.from().unwrap().unwrap().text,
        format!("{A}/TYPE=PLMN").as_bytes()
    );
    assert_eq!(rc.parts().len(), 2);
    assert_eq!(rc.parts()[1].data(), Some(&image[..]));
    // Re-fetch works; C may not fetch it.
    assert_eq!(rig.get(B, &token, T0 + 2), rc_b);
    let other = rig.get(C, &token, T0 + 2);
    assert_eq!(
        decode(&other).retrieve_status(),
        Some(RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );

    // B says Retrieved: A gets a delivery report.
    let nr = Pdu::new(MessageType::NOTIFYRESP_IND)
        .with(field::TRANSACTION_ID, text(&token))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::STATUS, Value::Octet(Status::RETRIEVED.0));
    assert_eq!(rig.post(B, &nr, T0 + 3).response.status, 200);
    let reports = rig.pushes(T0 + 3);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].msisdn, A);
    let d = decode(&reports[0].pdu);
    assert_eq!(d.message_type, MessageType::DELIVERY_IND);
    assert_eq!(d.status(), Some(Status::RETRIEVED));
    assert_eq!(d.message_id(), Some(&mid[..]));
    // A repeated notifyresp changes nothing and reports nothing.
    assert_eq!(rig.post(B, &nr, T0 + 4).response.status, 200);
    rig.deliver(reports, T0 + 4);
    assert!(rig.pushes(T0 + 5).is_empty());
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refusals() {
    let dir = tmpdir("refuse");
    let mut rig = open(&dir, 1 << 20, T0);
    let status = |r: &Reply| {
        let b = r.response.body[0].bytes().to_vec();
        decode(&b).response_status().unwrap()
    };
    let r = rig.post(
        A,
        &send_req("t", &["+44770090012/TYPE=PLMN"], b"x", false),
        T0,
    );
    assert_eq!(
        status(&r),
        ResponseStatus::ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED
    );
    let r = rig.post(A, &send_req("t", &[], b"x", false), T0);
    assert_eq!(
        status(&r),
        ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT
    );
    assert!(
        rig.pushes(T0).is_empty(),
        "nothing stored, nothing notified"
    );
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn push_retry_then_give_up_and_expiry_report() {
    let dir = tmpdir("retry");
    let mut rig = open(&dir, 1 << 20, T0);
    rig.post(A, &send_req("t", &[B], b"img", true), T0);
    let p = rig.pushes(T0);
    assert_eq!(p.len(), 1);
    let key = p[0].key;
    rig.svc.on_push_result(
        PushResult {
            key,
            outcome: Err(PushError::Transient("PPG down".into())),
        },
        T0,
    );
    assert!(rig.pushes(T0 + 1).is_empty(), "backoff");
    let again = rig.pushes(T0 + 2);
    assert_eq!(again.len(), 1, "retried after retry_initial_secs");
    rig.svc.on_push_result(
        PushResult {
            key,
            outcome: Err(PushError::Transient("PPG down".into())),
        },
        T0 + 2,
    );
    assert!(rig.pushes(T0 + 5).is_empty(), "doubled backoff");
    assert_eq!(rig.pushes(T0 + 6).len(), 1);
    // The message expires unretrieved: A gets an Expired report, B's location is gone.
    let reports = rig.pushes(T0 + 3600);
    let d: Vec<_> = reports.iter().filter(|r| r.msisdn == A).collect();
    assert_eq!(d.len(), 1);
    assert_eq!(decode(&d[0].pdu).status(), Some(Status::EXPIRED));
    let token = token_of(&again[0]);
    let gone = rig.get(B, &token, T0 + 3601);
    assert_eq!(
        decode(&gone).retrieve_status(),
        Some(RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn permanent_push_failure_reports_unreachable() {
    let dir = tmpdir("perm");
    let mut rig = open(&dir, 1 << 20, T0);
    rig.post(A, &send_req("t", &[B], b"img", true), T0);
    let p = rig.pushes(T0);
    rig.svc.on_push_result(
        PushResult {
            key: p[0].key,
            outcome: Err(PushError::Permanent("address refused".into())),
        },
        T0,
    );
    let reports = rig.pushes(T0 + 1);
    assert_eq!(reports.len(), 1);
    assert_eq!(decode(&reports[0].pdu).status(), Some(Status::UNREACHABLE));
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recovery_resends_what_was_not_done() {
    let dir = tmpdir("recover");
    let mut rig = open(&dir, 1 << 20, T0);
    rig.post(A, &send_req("t1", &[B], b"one", true), T0);
    rig.post(A, &send_req("t2", &[C], b"two", false), T0);
    let p = rig.pushes(T0);
    assert_eq!(p.len(), 2);
    // Only B's notification is delivered before the "crash".
    let (b_push, c_push): (Vec<_>, Vec<_>) = p.into_iter().partition(|r| r.msisdn == B);
    let b_token = token_of(&b_push[0]);
    let c_token = token_of(&c_push[0]);
    rig.deliver(b_push, T0);
    let nr = Pdu::new(MessageType::NOTIFYRESP_IND)
        .with(field::TRANSACTION_ID, text(&b_token))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::STATUS, Value::Octet(Status::REJECTED.0));
    rig.post(B, &nr, T0 + 1);
    // The Rejected report to A is queued but not pushed.
    rig.close();

    let mut rig = open(&dir, 1 << 20, T0 + 10);
    let p = rig.pushes(T0 + 10);
    let mut kinds: Vec<(String, MessageType)> = p
        .iter()
        .map(|r| (r.msisdn.clone(), decode(&r.pdu).message_type))
        .collect();
    kinds.sort_by_key(|k| k.0.clone());
    assert_eq!(
        kinds,
        vec![
            (A.to_string(), MessageType::DELIVERY_IND),
            (C.to_string(), MessageType::NOTIFICATION_IND),
        ]
    );
    assert!(
        p.iter()
            .any(|r| matches!(r.key, PushKey::Notify { .. }) && token_of(r) == c_token)
    );
    // Both messages are still retrievable by their recipients.
    assert_eq!(
        decode(&rig.get(C, &c_token, T0 + 11)).parts()[1].data(),
        Some(&b"two"[..])
    );
    assert_eq!(
        decode(&rig.get(B, &b_token, T0 + 11)).parts()[1].data(),
        Some(&b"one"[..])
    );
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compaction_reclaims_expired_segments_and_keeps_live_messages() {
    let dir = tmpdir("compact");
    // Small segments: a few messages each.
    let mut rig = open(&dir, 16 * 1024, T0);
    let image = vec![0xAB; 3000];
    // Long-lived messages (to C) interleaved with short-lived ones (to B), so that the old
    // segments hold live records that compaction must move.
    let mut keep = Vec::new();
    for i in 0..24 {
        if i % 6 == 2 {
            rig.post(A, &send_req(&format!("k{i}"), &[C], &image, false), T0);
        } else {
            let mut p = send_req(&format!("s{i}"), &[B], &image, false);
            p.push(field::EXPIRY, Value::Time(TimeValue::Relative(60)));
            rig.post(A, &p, T0);
        }
    }
    let pushes = rig.pushes(T0);
    for r in &pushes {
        if r.msisdn == C {
            keep.push(token_of(r));
        }
    }
    rig.deliver(pushes, T0);
    assert_eq!(keep.len(), 4);
    let before = rig.store.segments().len();
    assert!(before >= 4, "{before} segments");
    // The short-lived ones expire; compaction runs over several ticks.
    for t in 0..20 {
        rig.pushes(T0 + 61 + t);
    }
    // Segment deletion is asynchronous: wait for the writer.
    rig.store.barrier().unwrap();
    let after = rig.store.segments().len();
    assert!(after < before, "segments {before} -> {after}");
    // Relocation writes may open new segments; what is reclaimed is gone from disk too.
    assert!(rig.svc.stats.segments_reclaimed as usize >= before - after);
    let files = std::fs::read_dir(&rig.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .count();
    assert_eq!(files, after);
    assert!(rig.svc.stats.records_relocated >= 4, "{:?}", rig.svc.stats);
    for t in &keep {
        assert_eq!(
            decode(&rig.get(C, t, T0 + 100)).parts()[1].data(),
            Some(&image[..])
        );
    }
    rig.close();
    // And after a restart.
    let mut rig = open(&dir, 16 * 1024, T0 + 200);
    for t in &keep {
        assert_eq!(
            decode(&rig.get(C, t, T0 + 201)).parts()[1].data(),
            Some(&image[..])
        );
    }
    assert!(
        rig.pushes(T0 + 201).is_empty(),
        "no notification resent: they were delivered"
    );
    let dir2 = rig.dir.clone();
    rig.close();
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn a_batch_of_push_results_is_one_record_and_survives_a_restart() {
    let dir = tmpdir("notified");
    let mut rig = open(&dir, 1 << 20, T0);
    for i in 0..3 {
        rig.post(A, &send_req(&format!("n{i}"), &[B, C], b"x", false), T0);
    }
    let pushes = rig.pushes(T0);
    assert_eq!(pushes.len(), 6);
    let (_, before) = rig.store.counters();
    rig.svc.on_push_results(
        pushes.into_iter().map(|p| PushResult {
            key: p.key,
            outcome: Ok("test".into()),
        }),
        T0,
    );
    rig.settle(T0);
    let (_, after) = rig.store.counters();
    assert_eq!(after - before, 1, "six Notified states, one record");
    assert_eq!(rig.svc.stats.pushed, 6);
    rig.close();
    let mut rig = open(&dir, 1 << 20, T0 + 10);
    assert!(rig.pushes(T0 + 10).is_empty(), "nobody notified again");
    let dir2 = rig.dir.clone();
    rig.close();
    let _ = std::fs::remove_dir_all(&dir2);
}

#[test]
fn forward_read_report_and_acknowledge() {
    let dir = tmpdir("forward");
    let mut rig = open(&dir, 1 << 20, T0);
    let image = b"original image".to_vec();
    let reply = rig.post(A, &send_req("t1", &[B], &image, true), T0);
    let conf_b = reply.response.body[0].bytes().to_vec();
    let mid = decode(&conf_b).message_id().unwrap().to_vec();
    let p = rig.pushes(T0);
    let token = token_of(&p[0]);
    rig.deliver(p, T0);

    // B acknowledges the retrieval but forbids reports: A gets no delivery report.
    let ack = Pdu::new(MessageType::ACKNOWLEDGE_IND)
        .with(field::TRANSACTION_ID, text(&token))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::REPORT_ALLOWED, Value::Octet(0x81));
    assert_eq!(rig.post(B, &ack, T0 + 1).response.status, 200);
    assert!(rig.pushes(T0 + 1).is_empty(), "Report-Allowed: No");

    // B sends a read report: A gets an m-read-orig-ind.
    let rr = Pdu::new(MessageType::READ_REC_IND)
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::MESSAGE_ID, Value::Text(Cow::Owned(mid.clone())))
        .with(field::TO, addr(A))
        .with(field::FROM, Value::From(None))
        .with(field::READ_STATUS, Value::Octet(0x80));
    assert_eq!(rig.post(B, &rr, T0 + 2).response.status, 200);
    let reports = rig.pushes(T0 + 2);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].msisdn, A);
    let ro = decode(&reports[0].pdu);
    assert_eq!(ro.message_type, MessageType::READ_ORIG_IND);
    assert_eq!(ro.message_id(), Some(&mid[..]));
    assert_eq!(
        ro.from().unwrap().unwrap().text,
        format!("{B}/TYPE=PLMN").as_bytes()
    );
    rig.deliver(reports, T0 + 2);
    // A read report from someone who did not receive the message is ignored.
    assert_eq!(rig.post(C, &rr, T0 + 3).response.status, 200);
    assert!(rig.pushes(T0 + 3).is_empty());

    // B forwards it to C: m-forward-conf Ok, C is notified and gets the same content, with
    // B as sender and A as the one who sent it first.
    let location = format!("http://127.0.0.1:8514/mms/{token}");
    let fwd = Pdu::new(MessageType::FORWARD_REQ)
        .with(field::TRANSACTION_ID, text("f1"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::FROM, Value::From(None))
        .with(field::TO, addr(C))
        .with(field::CONTENT_LOCATION, text(&location));
    let r = rig.post(B, &fwd, T0 + 4);
    let fc_b = r.response.body[0].bytes().to_vec();
    let fc = decode(&fc_b);
    assert_eq!(fc.message_type, MessageType::FORWARD_CONF);
    assert_eq!(fc.response_status(), Some(ResponseStatus::OK));
    assert_ne!(fc.message_id(), Some(&mid[..]));
    let p = rig.pushes(T0 + 4);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].msisdn, C);
    let ctoken = token_of(&p[0]);
    let rc_b = rig.get(C, &ctoken, T0 + 5);
    let rc = decode(&rc_b);
    assert_eq!(
        rc.from().unwrap().unwrap().text,
        format!("{B}/TYPE=PLMN").as_bytes()
    );
    assert_eq!(rc.parts()[1].data(), Some(&image[..]));
    assert!(matches!(
        rc.get(field::PREVIOUSLY_SENT_BY),
        Some(Value::Tagged { .. })
    ));
    assert_eq!(rc.subject().unwrap().text, &b"hello"[..]);
    // C cannot forward B's copy: it is not C's.
    let fwd2 = fwd.clone();
    let r = rig.post(C, &fwd2, T0 + 6);
    let b2 = r.response.body[0].bytes().to_vec();
    assert_eq!(
        decode(&b2).response_status(),
        Some(ResponseStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );
    rig.close();
    let _ = std::fs::remove_dir_all(&dir);
}
