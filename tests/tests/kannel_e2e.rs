//! MM1 end to end through a real Kannel (ISSUE 3 item 9): the `mmsc` binary pushes its
//! notifications through Kannel, and the test plays both handsets.
//!
//! ```text
//! handset A ──POST m-send-req──▶ mmsc ──PAP──▶ wapbox PPG ─┐
//!                                      └─sendsms─▶ smsbox ──┴▶ bearerbox ──▶ fakesmsc (SMS)
//! handset B ◀── SMS segments, reassembled: WSP Push ▶ m-notification-ind
//! handset B ──GET Content-Location──▶ mmsc ──▶ m-retrieve-conf (parts = what A sent)
//! handset B ──POST m-notifyresp-ind Retrieved──▶ mmsc ──push──▶ Kannel ──▶ A: m-delivery-ind
//! ```
//!
//! Two tests: push mode `pap` (Kannel's PPG builds the WSP push and the SMS) and `sendsms`
//! (mmsc builds them and hands each SMS to smsbox's sendsms). Kannel runs on loopback in a
//! temporary directory ([`mmsc_tests::kannel`]).

use std::time::{Duration, Instant};

use mmsc_tests::kannel::{Kannel, Options};
use mmsc_tests::mm1::{self, Handset, plmn};
use mmsc_tests::server::{Config, Mmsc};
use mmsc_wire::mms::{MessageType, Status, TimeValue, field};
use mmsc_wire::push::PushHeader;

/// How long a push may take to come out of Kannel.
const ARRIVAL: Duration = Duration::from_secs(60);

fn elapsed(t: Instant) -> String {
    format!("{:.2}s", t.elapsed().as_secs_f64())
}

/// The whole flow for one pair of handsets; `mode` names the push path for messages.
fn end_to_end(kannel: &Kannel, mmsc: &Mmsc, mode: &str, a: &str, b: &str) {
    let t0 = Instant::now();
    let mut ha = Handset::new(mmsc, a);
    let mut hb = Handset::new(mmsc, b);

    // A submits: SMIL + text + JPEG-like image, with a delivery report asked.
    let parts = mm1::sample_parts(
        &format!("Terveisiä Helsingistä ({mode})! ☀"),
        6000,
        u64::from(mode.len() as u32),
    );
    let subject = format!("Kannel e2e {mode}");
    let req = mm1::send_req(
        &format!("tid-{mode}-1"),
        &[b],
        &subject,
        true,
        parts.clone(),
    );
    let mid = ha.submit_ok(&req);
    println!(
        "[{mode}] m-send-conf Ok, Message-ID {mid} ({})",
        elapsed(t0)
    );

    // The notification leaves Kannel as SMS to B.
    let pushes = kannel.wait_wap_pushes(b, 1, ARRIVAL);
    assert_eq!(pushes.len(), 1, "exactly one push to B: {pushes:#?}");
    let push = pushes[0].decode();
    println!(
        "[{mode}] notification to B: {} SMS, UDHs {:?}, WSP push headers {:?} ({})",
        pushes[0].sms.len(),
        pushes[0]
            .sms
            .iter()
            .map(|s| mm1::hex(&s.udh))
            .collect::<Vec<_>>(),
        push.headers,
        elapsed(t0)
    );
    assert!(
        push.headers
            .iter()
            .any(|h| matches!(h, PushHeader::ApplicationId(id) if id.is_mms_ua())),
        "X-Wap-Application-Id mms.ua: {push:?}"
    );
    let notif = mm1::decode(&push.body);
    assert_eq!(
        notif.message_type,
        MessageType::NOTIFICATION_IND,
        "{notif:?}"
    );
    let ntid = notif
        .transaction_id()
        .expect("the notification has a Transaction-ID")
        .to_vec();
    assert_eq!(
        mm1::text_of(&notif, field::FROM).as_deref(),
        Some(plmn(a).as_str()),
        "From is A: {notif:?}"
    );
    assert_eq!(
        mm1::text_of(&notif, field::SUBJECT).as_deref(),
        Some(subject.as_str())
    );
    let encoded_len = mm1::encode(&req).len() as u64;
    let size = notif.message_size().expect("X-Mms-Message-Size");
    assert!(
        size > 6000 && size <= encoded_len,
        "Message-Size {size} (the m-send-req is {encoded_len} octets)"
    );
    assert!(
        matches!(
            notif.expiry(),
            Some(TimeValue::Absolute(_) | TimeValue::Relative(_))
        ),
        "X-Mms-Expiry: {notif:?}"
    );
    assert!(notif.get(field::MESSAGE_CLASS).is_some(), "Message-Class");
    let location = String::from_utf8(
        notif
            .content_location()
            .expect("X-Mms-Content-Location")
            .to_vec(),
    )
    .expect("a UTF-8 Content-Location");
    assert!(
        location.starts_with(&format!("{}/", mmsc.url())),
        "Content-Location {location} under {}",
        mmsc.url()
    );

    // B retrieves: the parts are what A sent; From is A.
    let conf = hb.retrieve(&location);
    println!("[{mode}] B retrieved {location} ({})", elapsed(t0));
    assert_eq!(
        mm1::text_of(&conf, field::FROM).as_deref(),
        Some(plmn(a).as_str()),
        "{conf:?}"
    );
    assert_eq!(mm1::addresses(&conf, field::TO), vec![plmn(b)]);
    assert_eq!(
        mm1::text_of(&conf, field::SUBJECT).as_deref(),
        Some(subject.as_str())
    );
    assert_eq!(
        mm1::text_of(&conf, field::MESSAGE_ID).as_deref(),
        Some(mid.as_str())
    );
    assert!(conf.date().is_some(), "Date");
    assert_eq!(
        conf.content_type, req.content_type,
        "Content-Type and parameters"
    );
    mm1::assert_same_parts(conf.parts(), &parts, &format!("[{mode}] retrieved parts"));

    // A may not fetch B's copy.
    let r = ha.get(&location);
    assert_eq!(r.status, 200);
    let refused = mm1::decode(&r.body);
    assert_eq!(
        refused.retrieve_status(),
        Some(mmsc_wire::mms::RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
    );

    // B reports Retrieved: A gets an m-delivery-ind through Kannel.
    hb.post_ok(&mm1::notifyresp_ind(&ntid, Status::RETRIEVED));
    let reports = kannel.wait_wap_pushes(a, 1, ARRIVAL);
    assert_eq!(reports.len(), 1, "exactly one push to A: {reports:#?}");
    let rep = mm1::decode(&reports[0].decode().body);
    println!(
        "[{mode}] delivery report to A: {} SMS ({})",
        reports[0].sms.len(),
        elapsed(t0)
    );
    assert_eq!(rep.message_type, MessageType::DELIVERY_IND, "{rep:?}");
    assert_eq!(rep.status(), Some(Status::RETRIEVED), "{rep:?}");
    assert_eq!(
        mm1::text_of(&rep, field::MESSAGE_ID).as_deref(),
        Some(mid.as_str())
    );
    assert_eq!(mm1::addresses(&rep, field::TO), vec![plmn(b)]);
    assert!(rep.date().is_some(), "Date");

    // Nothing more: one notification, one report (no retries of pushes Kannel accepted).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(kannel.wap_pushes_to(b).len(), 1, "pushes to B");
    assert_eq!(kannel.wap_pushes_to(a).len(), 1, "pushes to A");
    println!("[{mode}] done in {}", elapsed(t0));
}

#[test]
fn pap_push_through_kannel_ppg_end_to_end() {
    let t = Instant::now();
    let kannel = Kannel::start(Options {
        wapbox: true,
        smsbox: false,
    });
    println!("Kannel (bearerbox, wapbox, fakesmsc) up in {}", elapsed(t));
    let mmsc = Mmsc::start(Config::new().pap(&kannel.pap_url()));
    end_to_end(&kannel, &mmsc, "pap", "+358401000001", "+358401000002");
    // A second pair on the same server: new message ids, locations and SMS references.
    end_to_end(&kannel, &mmsc, "pap-2", "+358401000003", "+358401000004");
}

#[test]
fn sendsms_push_through_kannel_smsbox_end_to_end() {
    let t = Instant::now();
    let kannel = Kannel::start(Options {
        wapbox: false,
        smsbox: true,
    });
    println!("Kannel (bearerbox, smsbox, fakesmsc) up in {}", elapsed(t));
    let mmsc = Mmsc::start(Config::new().sendsms(&kannel.sendsms_url_ok()));
    end_to_end(&kannel, &mmsc, "sendsms", "+358401000011", "+358401000012");
}
