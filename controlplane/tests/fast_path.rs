//! The submit fast path over a real store: a core's submitter stores an m-send-req and answers
//! it from the store's route; the service indexes and notifies the message from the same
//! completion, whichever of the core's notice and the completion it sees first.

mod common;
use common::settings;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::Receiver;
use mmsc_controlplane::Doorbell;
use mmsc_controlplane::service::{Service, rules_of};
use mmsc_controlplane::submit::{CoreSubmitter, CoreWake, FastPath, IdSource};
use mmsc_dataplane::ring::{ConnId, Job, JobKind, Reply};
use mmsc_dataplane::submit::Submitter;
use mmsc_store::{Completion, Store, StoreConfig};
use mmsc_wire::Limits;
use mmsc_wire::mms::{EncodedString, MessageType, Pdu, ResponseStatus, Value, Version, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType};

const A: &str = "+358401000001";
const B: &str = "+358401000002";
const T0: u64 = 1_800_000_000;

fn tmpdir(name: &str) -> PathBuf {
    common::tmpdir("fast", name)
}

fn send_req(tid: &str, to: &str, data: &[u8]) -> Vec<u8> {
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(
            field::TRANSACTION_ID,
            Value::Text(Cow::Owned(tid.as_bytes().to_vec())),
        )
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::FROM, Value::From(None))
        .with(
            field::TO,
            Value::Encoded(EncodedString::plain(format!("{to}/TYPE=PLMN").into_bytes())),
        );
    p.set_body(
        ContentType::new(MediaType::Text(Cow::Borrowed(b"text/plain"))),
        Body::Data(Cow::Owned(data.to_vec())),
    );
    p.encode().unwrap()
}

struct Rig {
    dir: PathBuf,
    store: Store,
    done: Receiver<Completion>,
    svc: Service,
    sub: CoreSubmitter,
    wakes: Arc<std::sync::atomic::AtomicUsize>,
}

fn rig(name: &str, capacity: usize) -> Rig {
    rig_with(name, capacity, |_| {})
}

fn rig_with(name: &str, capacity: usize, store_cfg: impl FnOnce(&mut StoreConfig)) -> Rig {
    let dir = tmpdir(name);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut cfg = StoreConfig::new(&dir);
    store_cfg(&mut cfg);
    let (store, recovered) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
    let mut svc = Service::new(settings(), store.clone(), &recovered, T0);
    let rules = Arc::new(rules_of(&settings()));
    let ids = IdSource::new();
    let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let wake: CoreWake = Arc::new(OnceLock::new());
    let w = Arc::clone(&wakes);
    let _ = wake.set(Arc::new(move || {
        w.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    let (sub, reader) = CoreSubmitter::new(
        0,
        &store,
        Arc::clone(&rules),
        ids.for_core(0),
        "mmsc.test",
        capacity,
        wake,
        Doorbell::new(),
    )
    .unwrap();
    svc.attach_fast_path(FastPath {
        rules,
        ids,
        notices: vec![reader],
    });
    Rig {
        dir,
        store,
        done: rx,
        svc,
        sub,
        wakes,
    }
}

fn conn(slot: u32) -> ConnId {
    ConnId {
        core: 0,
        slot,
        generation: 1,
    }
}

impl Rig {
    /// Plan and submit through the core's submitter, as a core does.
    fn submit(&mut self, slot: u32, tid: &str, data: &[u8]) -> Result<(), Reply> {
        let bytes = send_req(tid, B, data);
        let (pdu, at) = Pdu::decode_located(&bytes, &Limits::default()).unwrap();
        let plan = rules_of(&settings())
            .plan(A, Version::V1_2, &pdu, at, T0)
            .unwrap();
        let len = bytes.len();
        self.sub
            .submit(conn(slot), Box::new(plan), bytes, 0..len)
            .map_err(|response| Reply {
                conn: conn(slot),
                response,
            })
    }

    /// The core's answers, once the store made `n` submits durable.
    fn answers(&mut self, n: usize) -> Vec<Reply> {
        let mut out = Vec::new();
        for _ in 0..1000 {
            self.sub.completed(&mut out);
            if out.len() >= n {
                return out;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("only {} answers of {n}", out.len());
    }

    fn close(self) {
        drop(self.svc);
        drop(self.sub);
        self.store.close();
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

/// The octets of a reply's body.
fn body_of(r: &Reply) -> Vec<u8> {
    r.response
        .body
        .iter()
        .flat_map(|c| c.bytes().to_vec())
        .collect()
}

fn conf(r: &Reply) -> (Vec<u8>, ResponseStatus, Option<String>) {
    let body = body_of(r);
    let p = Pdu::decode(&body, &Limits::default()).unwrap();
    assert_eq!(p.message_type, MessageType::SEND_CONF);
    (
        p.transaction_id().unwrap().to_vec(),
        p.response_status().unwrap(),
        p.message_id()
            .map(|m| String::from_utf8_lossy(m).into_owned()),
    )
}

#[test]
fn a_submit_is_answered_by_the_core_and_indexed_and_notified_by_the_service() {
    let mut rig = rig("basic", 64);
    rig.submit(1, "T-1", b"hello fast path").unwrap();
    assert_eq!(rig.sub.in_flight(), 1);
    let answers = rig.answers(1);
    assert!(rig.wakes.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let (tid, status, mid) = conf(&answers[0]);
    assert_eq!((tid.as_slice(), status), (&b"T-1"[..], ResponseStatus::OK));
    let mid = mid.expect("a Message-ID");
    assert!(mid.ends_with("@mmsc.test"), "{mid}");
    assert_eq!(rig.sub.in_flight(), 0);
    // The completion reaches the service before it looked at the core's notices: it finds
    // the notice itself.
    let c = rig.done.recv_timeout(Duration::from_secs(10)).unwrap();
    rig.svc.on_completion(c, T0);
    assert_eq!(rig.svc.in_flight(), 0);
    assert_eq!(rig.svc.stats.accepted, 1);
    assert!(
        rig.svc.replies.is_empty(),
        "the core answered, not the service"
    );
    rig.svc.tick(T0);
    let pushes = std::mem::take(&mut rig.svc.pushes);
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].msisdn, B);
    let n = Pdu::decode(&pushes[0].pdu, &Limits::default()).unwrap();
    assert_eq!(n.message_type, MessageType::NOTIFICATION_IND);
    // The recipient retrieves what was sent, under the Message-ID the core gave.
    let loc = String::from_utf8(n.content_location().unwrap().to_vec()).unwrap();
    let token = loc.rsplit('/').next().unwrap().to_string();
    rig.svc.handle_job(
        Job {
            conn: conn(2),
            kind: JobKind::Retrieve {
                msisdn: Some(B.into()),
                token,
            },
        },
        T0,
    );
    let r = rig.svc.replies.pop().unwrap();
    let body = body_of(&r);
    let got = Pdu::decode(&body, &Limits::default()).unwrap();
    assert_eq!(got.message_type, MessageType::RETRIEVE_CONF);
    assert_eq!(
        got.message_id()
            .map(|m| String::from_utf8_lossy(m).into_owned()),
        Some(mid)
    );
    assert!(matches!(got.body, Some(Body::Data(ref d)) if &d[..] == b"hello fast path"));
    rig.close();
}

#[test]
fn no_room_is_503_and_a_record_too_large_is_refused_and_forgotten() {
    let mut rig = rig("limits", 2);
    rig.submit(1, "T-1", b"one").unwrap();
    rig.submit(2, "T-2", b"two").unwrap();
    let full = rig.submit(3, "T-3", b"three").unwrap_err();
    assert_eq!(full.response.status, 503);
    assert_eq!(rig.answers(2).len(), 2);
    // Room again.
    rig.submit(4, "T-4", b"four").unwrap();
    assert_eq!(rig.answers(1).len(), 1);
    for _ in 0..3 {
        let c = rig.done.recv_timeout(Duration::from_secs(10)).unwrap();
        rig.svc.on_completion(c, T0);
    }
    assert_eq!(rig.svc.stats.accepted, 3);
    rig.close();

    // A record the store fails (too large, found by the writer): the submitter answers with a
    // transient error, and the service forgets the message when the failed completion comes.
    let mut rig = rig_with("large", 8, |c| c.max_record_bytes = 1000);
    rig.submit(1, "T-big", &[7u8; 2000]).unwrap();
    let c = rig.done.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(c.result.is_err());
    let out = rig.answers(1);
    let (tid, status, mid) = conf(&out[0]);
    assert_eq!(
        (tid.as_slice(), status, mid),
        (&b"T-big"[..], ResponseStatus::ERROR_TRANSIENT_FAILURE, None)
    );
    rig.svc.on_completion(c, T0);
    assert_eq!(rig.svc.in_flight(), 0, "forgotten");
    assert_eq!(rig.svc.stats.accepted, 0);
    assert_eq!(rig.svc.published_stats().refused, 1);
    rig.close();
}
