//! The MM1 transactions after a submit (ISSUE 3 item 6), against the real `mmsc` in push
//! mode "log" (what would be pushed is read back with `mmsc notifications --json`):
//! m-acknowledge-ind, m-notifyresp-ind Deferred / Rejected / Report-Allowed No, delivery
//! reports (also Expired), m-read-rec-ind → m-read-orig-ind, m-forward-req → m-forward-conf
//! and a new delivery, several recipients (To, Cc, Bcc, a foreign one), hidden sender.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use mmsc_tests::mm1::{self, Handset, plmn};
use mmsc_tests::server::{Config, LoggedPush, Mmsc};
use mmsc_wire::Pdu;
use mmsc_wire::mms::{
    EncodedString, MessageType, ReadStatus, ResponseStatus, RetrieveStatus, Status, TimeValue,
    Value, Version, field,
};

const A: &str = "+358401500001";
const B: &str = "+358401500002";
const C: &str = "+358401500003";
const D: &str = "+358401500004";
const WAIT: Duration = Duration::from_secs(20);

fn text(s: &str) -> Value<'static> {
    Value::Text(Cow::Owned(s.as_bytes().to_vec()))
}

/// Wait until a push to `to` satisfies `pred`; return it.
fn wait_push(mmsc: &Mmsc, to: &str, what: &str, pred: impl Fn(&Pdu<'_>) -> bool) -> LoggedPush {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(p) = mmsc
            .notifications()
            .into_iter()
            .find(|p| p.to == to && pred(&p.decode()))
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} pushed to {to} within {WAIT:?}; pushes: {:#?}\n{}",
            mmsc.notifications()
                .iter()
                .map(|p| (p.to.clone(), p.summary.to_string()))
                .collect::<Vec<_>>(),
            mmsc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The m-notification-ind of message `mid` pushed to `to`.
fn notification(mmsc: &Mmsc, to: &str, mid: &str) -> (Pdu<'static>, String) {
    let token = format!("/{}-", mid.split('@').next().unwrap_or(mid));
    let p = wait_push(mmsc, to, "m-notification-ind", |p| {
        p.message_type == MessageType::NOTIFICATION_IND
            && p.content_location()
                .is_some_and(|l| String::from_utf8_lossy(l).contains(&token))
    });
    let loc = p.content_location().expect("Content-Location");
    (p.decode(), loc)
}

/// Every m-delivery-ind pushed to `to` about `mid`, in order.
fn delivery_reports(mmsc: &Mmsc, to: &str, mid: &str) -> Vec<Status> {
    mmsc.notifications()
        .iter()
        .filter(|p| p.to == to)
        .map(LoggedPush::decode)
        .filter(|p| {
            p.message_type == MessageType::DELIVERY_IND
                && mm1::text_of(p, field::MESSAGE_ID).as_deref() == Some(mid)
        })
        .map(|p| p.status().expect("X-Mms-Status"))
        .collect()
}

fn wait_reports(mmsc: &Mmsc, to: &str, mid: &str, n: usize) -> Vec<Status> {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = delivery_reports(mmsc, to, mid);
        if r.len() >= n {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} delivery reports for {mid}:\n{}",
            r.len(),
            mmsc.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn submit(
    h: &mut Handset,
    tid: &str,
    to: &[&str],
    delivery_report: bool,
) -> (Pdu<'static>, String) {
    let req = mm1::send_req(
        tid,
        to,
        &format!("subject {tid}"),
        delivery_report,
        mm1::sample_parts(&format!("text of {tid}"), 1500, tid.len() as u64),
    );
    let mid = h.submit_ok(&req);
    (req, mid)
}

#[test]
fn acknowledge_ind_after_retrieval_gives_one_delivery_report() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let (req, mid) = submit(&mut a, "ack-1", &[B], true);
    let (n, loc) = notification(&mmsc, B, &mid);
    assert_eq!(n.yes_no(field::DELIVERY_REPORT), Some(true), "{n:?}");
    let conf = b.retrieve(&loc);
    mm1::assert_same_parts(conf.parts(), req.parts(), "retrieved");
    // Retrieval is repeatable until acknowledged (and after).
    let again = b.retrieve(&loc);
    assert_eq!(again.parts(), conf.parts());
    b.post_ok(&mm1::acknowledge_ind(conf.transaction_id().expect("TID")));
    assert_eq!(wait_reports(&mmsc, A, &mid, 1), [Status::RETRIEVED]);
    let rep = wait_push(&mmsc, A, "m-delivery-ind", |p| {
        p.message_type == MessageType::DELIVERY_IND
    })
    .decode();
    assert_eq!(mm1::addresses(&rep, field::TO), vec![plmn(B)]);
    // A late m-notifyresp-ind Retrieved changes nothing: no second report.
    b.post_ok(&mm1::notifyresp_ind(
        n.transaction_id().expect("TID"),
        Status::RETRIEVED,
    ));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(delivery_reports(&mmsc, A, &mid), [Status::RETRIEVED]);
}

#[test]
fn deferred_then_retrieved_gives_two_reports_in_order() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let (_, mid) = submit(&mut a, "def-1", &[B], true);
    let (n, loc) = notification(&mmsc, B, &mid);
    let ntid = n.transaction_id().expect("TID").to_vec();
    b.post_ok(&mm1::notifyresp_ind(&ntid, Status::DEFERRED));
    assert_eq!(wait_reports(&mmsc, A, &mid, 1), [Status::DEFERRED]);
    let conf = b.retrieve(&loc);
    b.post_ok(&mm1::acknowledge_ind(conf.transaction_id().expect("TID")));
    assert_eq!(
        wait_reports(&mmsc, A, &mid, 2),
        [Status::DEFERRED, Status::RETRIEVED]
    );
}

#[test]
fn report_allowed_no_suppresses_the_delivery_report() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let (_, mid) = submit(&mut a, "deny-1", &[B], true);
    let (n, loc) = notification(&mmsc, B, &mid);
    b.retrieve(&loc);
    let resp = mm1::encode(
        &Pdu::new(MessageType::NOTIFYRESP_IND)
            .with(
                field::TRANSACTION_ID,
                Value::Text(Cow::Owned(n.transaction_id().unwrap().to_vec())),
            )
            .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
            .with(field::STATUS, Value::Octet(Status::RETRIEVED.0))
            .with(field::REPORT_ALLOWED, Value::Octet(0x81)),
    );
    b.post_ok(&resp);
    // And a message without Delivery-Report gets none either.
    let (_, mid2) = submit(&mut a, "deny-2", &[B], false);
    let (n2, _) = notification(&mmsc, B, &mid2);
    b.post_ok(&mm1::notifyresp_ind(
        n2.transaction_id().unwrap(),
        Status::RETRIEVED,
    ));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(delivery_reports(&mmsc, A, &mid), []);
    assert_eq!(delivery_reports(&mmsc, A, &mid2), []);
    assert!(
        mmsc.notifications().iter().all(|p| p.to != A),
        "nothing pushed to A"
    );
}

#[test]
fn rejected_gives_a_rejected_report() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let (_, mid) = submit(&mut a, "rej-1", &[B], true);
    let (n, _) = notification(&mmsc, B, &mid);
    b.post_ok(&mm1::notifyresp_ind(
        n.transaction_id().unwrap(),
        Status::REJECTED,
    ));
    assert_eq!(wait_reports(&mmsc, A, &mid, 1), [Status::REJECTED]);
}

#[test]
fn a_notifyresp_for_somebody_elses_message_changes_nothing() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut c) = (Handset::new(&mmsc, A), Handset::new(&mmsc, C));
    let (_, mid) = submit(&mut a, "other-1", &[B], true);
    let (n, loc) = notification(&mmsc, B, &mid);
    // C claims B's notification.
    c.post_ok(&mm1::notifyresp_ind(
        n.transaction_id().unwrap(),
        Status::REJECTED,
    ));
    c.post_ok(&mm1::acknowledge_ind(n.transaction_id().unwrap()));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(delivery_reports(&mmsc, A, &mid), []);
    // B can still retrieve it.
    Handset::new(&mmsc, B).retrieve(&loc);
}

#[test]
fn expired_message_gives_an_expired_report() {
    let mmsc = Mmsc::start(Config::new());
    let mut a = Handset::new(&mmsc, A);
    let mut req = mm1::send_req(
        "exp-1",
        &[B],
        "short-lived",
        true,
        mm1::sample_parts("gone soon", 500, 3),
    );
    req.push(field::EXPIRY, Value::Time(TimeValue::Relative(1)));
    let mid = a.submit_ok(&req);
    let (n, loc) = notification(&mmsc, B, &mid);
    assert!(n.expiry().is_some(), "{n:?}");
    assert_eq!(wait_reports(&mmsc, A, &mid, 1), [Status::EXPIRED]);
    let r = Handset::new(&mmsc, B).get(&loc);
    assert_eq!(
        mm1::decode(&r.body).retrieve_status(),
        Some(RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );
}

#[test]
fn read_rec_ind_gives_a_read_orig_ind_to_the_originator() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let mut req = mm1::send_req(
        "read-1",
        &[B],
        "read me",
        false,
        mm1::sample_parts("read me", 500, 4),
    );
    req.push(field::READ_REPORT, Value::Octet(0x80));
    let mid = a.submit_ok(&req);
    let (_, loc) = notification(&mmsc, B, &mid);
    let conf = b.retrieve(&loc);
    assert_eq!(conf.yes_no(field::READ_REPORT), Some(true), "{conf:?}");
    let rr = Pdu::new(MessageType::READ_REC_IND)
        .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
        .with(field::MESSAGE_ID, text(&mid))
        .with(
            field::TO,
            Value::Encoded(EncodedString::plain(plmn(A).into_bytes())),
        )
        .with(field::FROM, Value::From(None))
        .with(field::DATE, Value::Integer(1_800_000_000))
        .with(field::READ_STATUS, Value::Octet(ReadStatus::READ.0));
    b.post_ok(&mm1::encode(&rr));
    let orig = wait_push(&mmsc, A, "m-read-orig-ind", |p| {
        p.message_type == MessageType::READ_ORIG_IND
    })
    .decode();
    assert_eq!(
        mm1::text_of(&orig, field::MESSAGE_ID).as_deref(),
        Some(mid.as_str())
    );
    assert_eq!(
        mm1::text_of(&orig, field::FROM).as_deref(),
        Some(plmn(B).as_str()),
        "{orig:?}"
    );
    assert_eq!(mm1::addresses(&orig, field::TO), vec![plmn(A)]);
    assert_eq!(
        orig.get(field::READ_STATUS),
        Some(&Value::Octet(ReadStatus::READ.0))
    );
    // A read report from someone who did not receive the message is ignored.
    Handset::new(&mmsc, C).post_ok(&mm1::encode(&rr));
    std::thread::sleep(Duration::from_millis(1200));
    let n = mmsc
        .notifications()
        .iter()
        .filter(|p| p.to == A && p.decode().message_type == MessageType::READ_ORIG_IND)
        .count();
    assert_eq!(n, 1, "one m-read-orig-ind");
}

fn forward_req(tid: &str, to: &str, location: &str) -> Vec<u8> {
    mm1::encode(
        &Pdu::new(MessageType::FORWARD_REQ)
            .with(field::TRANSACTION_ID, text(tid))
            .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
            .with(field::FROM, Value::From(None))
            .with(
                field::TO,
                Value::Encoded(EncodedString::plain(plmn(to).into_bytes())),
            )
            .with(field::CONTENT_LOCATION, text(location)),
    )
}

#[test]
fn forward_req_gives_forward_conf_and_a_new_delivery() {
    let mmsc = Mmsc::start(Config::new());
    let (mut a, mut b, mut c) = (
        Handset::new(&mmsc, A),
        Handset::new(&mmsc, B),
        Handset::new(&mmsc, C),
    );
    let (req, mid) = submit(&mut a, "fwd-1", &[B], false);
    let (_, loc) = notification(&mmsc, B, &mid);
    // B forwards it to C without fetching it first.
    let fconf = b.post_for_pdu(&forward_req("fwd-tid", C, &loc));
    assert_eq!(fconf.message_type, MessageType::FORWARD_CONF, "{fconf:?}");
    assert_eq!(
        fconf.response_status(),
        Some(ResponseStatus::OK),
        "{fconf:?}"
    );
    assert_eq!(fconf.transaction_id(), Some(&b"fwd-tid"[..]));
    let fmid = mm1::text_of(&fconf, field::MESSAGE_ID).expect("Message-ID");
    assert_ne!(fmid, mid);
    let (n, cloc) = notification(&mmsc, C, &fmid);
    assert_eq!(
        mm1::text_of(&n, field::FROM).as_deref(),
        Some(plmn(B).as_str())
    );
    let conf = c.retrieve(&cloc);
    assert_eq!(
        mm1::text_of(&conf, field::FROM).as_deref(),
        Some(plmn(B).as_str()),
        "the forwarder is the sender: {conf:?}"
    );
    assert_eq!(
        mm1::text_of(&conf, field::SUBJECT).as_deref(),
        Some("subject fwd-1")
    );
    assert!(
        format!("{:?}", conf.get(field::PREVIOUSLY_SENT_BY)).contains(&plmn(A)),
        "Previously-Sent-By A: {conf:?}"
    );
    assert_eq!(conf.content_type, req.content_type);
    mm1::assert_same_parts(conf.parts(), req.parts(), "forwarded parts");
    // Only the recipient of a message may forward it: C cannot forward B's copy.
    let refused = c.post_for_pdu(&forward_req("fwd-bad", D, &loc));
    assert_eq!(
        refused.response_status(),
        Some(ResponseStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND),
        "{refused:?}"
    );
    // Nor can anyone forward an unknown location.
    let refused = b.post_for_pdu(&forward_req(
        "fwd-bad2",
        D,
        &format!("{}/nope-0", mmsc.url()),
    ));
    assert_eq!(
        refused.response_status(),
        Some(ResponseStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        mmsc.notifications().iter().all(|p| p.to != D),
        "nothing to D"
    );
}

#[test]
fn each_local_recipient_gets_its_own_copy_and_bcc_stays_hidden() {
    let mmsc = Mmsc::start(Config::new());
    let mut a = Handset::new(&mmsc, A);
    let mut req = mm1::send_req(
        "multi-1",
        &[B, "+12025550123"],
        "to many",
        false,
        mm1::sample_parts("to many", 800, 8),
    );
    req.push(
        field::CC,
        Value::Encoded(EncodedString::plain(plmn(C).into_bytes())),
    );
    req.push(
        field::BCC,
        Value::Encoded(EncodedString::plain(plmn(D).into_bytes())),
    );
    let mid = a.submit_ok(&req);
    let mut locs = Vec::new();
    for who in [B, C, D] {
        let (_, loc) = notification(&mmsc, who, &mid);
        locs.push(loc);
    }
    locs.sort();
    locs.dedup();
    assert_eq!(locs.len(), 3, "a Content-Location per recipient: {locs:?}");
    for who in [B, C, D] {
        let (_, loc) = notification(&mmsc, who, &mid);
        let conf = Handset::new(&mmsc, who).retrieve(&loc);
        mm1::assert_same_parts(conf.parts(), req.parts(), who);
        assert_eq!(
            mm1::addresses(&conf, field::TO),
            vec![plmn(B), "+12025550123/TYPE=PLMN".to_owned()]
        );
        assert_eq!(mm1::addresses(&conf, field::CC), vec![plmn(C)]);
        assert!(
            mm1::addresses(&conf, field::BCC).is_empty(),
            "Bcc is not shown to {who}: {conf:?}"
        );
        // Nobody fetches another's copy.
        for other in locs.iter().filter(|l| **l != loc) {
            let r = Handset::new(&mmsc, who).get(other);
            assert_eq!(
                mm1::decode(&r.body).retrieve_status(),
                Some(RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
            );
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        mmsc.notifications()
            .iter()
            .all(|p| [B, C, D].contains(&p.to.as_str())),
        "no push to the foreign recipient"
    );
}

#[test]
fn hidden_sender_is_not_shown() {
    let mmsc = Mmsc::start(Config::new());
    let mut a = Handset::new(&mmsc, A);
    let mut req = mm1::send_req(
        "hide-1",
        &[B],
        "anonymous",
        false,
        mm1::sample_parts("who am I", 300, 2),
    );
    req.push(field::SENDER_VISIBILITY, Value::Octet(0x80));
    let mid = a.submit_ok(&req);
    let (n, loc) = notification(&mmsc, B, &mid);
    assert!(
        n.get(field::FROM).is_none(),
        "From in the notification: {n:?}"
    );
    let conf = Handset::new(&mmsc, B).retrieve(&loc);
    assert!(
        !format!("{conf:?}").contains(&A[1..]),
        "the sender's number in the m-retrieve-conf: {conf:?}"
    );
}

#[test]
fn a_message_that_left_the_memory_window_is_fetched_and_retrieved_intact() {
    // A 1 MiB window and 1 MiB segments: four messages of ~600 KB push the first one out of
    // the page cache; its retrieval goes through the fetcher thread, and still gives the
    // parts that were sent.
    let mmsc = Mmsc::start(Config::new().set("store", "window_mb", "1").set(
        "store",
        "segment_bytes",
        "1048576",
    ));
    let (mut a, mut b) = (Handset::new(&mmsc, A), Handset::new(&mmsc, B));
    let mut sent = Vec::new();
    for i in 0..4u64 {
        let tid = format!("win-{i}");
        let req = mm1::send_req(
            &tid,
            &[B],
            &format!("subject {tid}"),
            false,
            mm1::sample_parts(&format!("text of {tid}"), 600_000, i),
        );
        let mid = a.submit_ok(&req);
        sent.push((req, mid));
    }
    for (req, mid) in &sent {
        let (_, loc) = notification(&mmsc, B, mid);
        let conf = b.retrieve(&loc);
        mm1::assert_same_parts(conf.parts(), req.parts(), "retrieved");
    }
    let status = mmsc.status();
    let fetched = status["messages"]["fetched_from_disk"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        fetched >= 1,
        "no retrieval went through the fetcher: {status:#}\n{}",
        mmsc.log()
    );
    assert_eq!(status["messages"]["retrieved"], 4, "{status:#}");
}
