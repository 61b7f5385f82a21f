//! The push senders against a real Kannel (bearerbox + wapbox PPG / smsbox + fakesmsc) on
//! loopback, and the log sender against the file system.
//!
//! Every SMS that reaches fakesmsc is reassembled with `mmsc_wire::push::reassemble`, decoded
//! as a WSP Push and its MMS PDU compared with what was pushed.
//!
//! Needs the Debian packages `kannel` and `kannel-extras`; without them these tests fail,
//! naming the package.

mod support;

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mmsc_push::{LogSender, PapSender, PushError, SendSmsSender, Sender, read_log};
use mmsc_wire::Limits;
use mmsc_wire::mms::{EncodedString, MessageType, Pdu, TimeValue, Value, field};
use mmsc_wire::push::{PushHeader, PushPdu, parse_user_data, reassemble};
use support::kannel::{Kannel, Options, SENDSMS_PASSWORD, SENDSMS_SENDER, SENDSMS_USER, Sms};

const TIMEOUT: Duration = Duration::from_secs(10);
const ARRIVAL: Duration = Duration::from_secs(20);
const UTF_8: u64 = 106;

// ---- PDUs ------------------------------------------------------------------------------------

fn text(s: &str) -> Value<'static> {
    Value::Text(Cow::Owned(s.as_bytes().to_vec()))
}

/// An m-notification-ind: TID, version 1.2, From, Subject (UTF-8), class, size, expiry,
/// content location.
fn notification(tid: &str, subject: &str, location: &str) -> Pdu<'static> {
    Pdu::new(MessageType::NOTIFICATION_IND)
        .with(field::TRANSACTION_ID, text(tid))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(
            field::FROM,
            Value::From(Some(EncodedString::plain(
                b"+358401234567/TYPE=PLMN".to_vec(),
            ))),
        )
        .with(
            field::SUBJECT,
            Value::Encoded(EncodedString {
                charset: Some(UTF_8),
                text: Cow::Owned(subject.as_bytes().to_vec()),
            }),
        )
        .with(field::MESSAGE_CLASS, Value::Octet(0x80))
        .with(field::MESSAGE_SIZE, Value::Integer(30_512))
        .with(field::EXPIRY, Value::Time(TimeValue::Relative(259_200)))
        .with(field::CONTENT_LOCATION, text(location))
}

fn encode(p: &Pdu<'_>) -> Vec<u8> {
    p.encode().expect("encode the PDU")
}

/// The usual notification (~110 octets; two SMS through Kannel's PPG).
fn standard_notification(tid: &str) -> Vec<u8> {
    encode(&notification(
        tid,
        "Terveisiä mökiltä",
        &format!("http://mmsc.example.net/m/{tid}"),
    ))
}

/// A notification of more than 300 octets: at least three SMS.
fn long_notification(tid: &str) -> Vec<u8> {
    let subject = "Pitkä otsikko — a long subject that fills SMS ".repeat(4);
    let location = format!("http://mmsc.example.net/retrieve/{tid}/{}", "x".repeat(120));
    let pdu = encode(&notification(tid, &subject, &location));
    assert!(pdu.len() > 300, "{}", pdu.len());
    pdu
}

/// An m-delivery-ind (short: one SMS).
fn delivery_ind(id: &str) -> Vec<u8> {
    encode(
        &Pdu::new(MessageType::DELIVERY_IND)
            .with(field::MMS_VERSION, Value::Octet(0x92))
            .with(field::MESSAGE_ID, text(id))
            .with(
                field::TO,
                Value::Encoded(EncodedString::plain(b"+358409999999/TYPE=PLMN".to_vec())),
            )
            .with(field::DATE, Value::Integer(1_795_515_300))
            .with(field::STATUS, Value::Octet(0x81)),
    )
}

/// An m-read-orig-ind.
fn read_orig_ind(id: &str) -> Vec<u8> {
    encode(
        &Pdu::new(MessageType::READ_ORIG_IND)
            .with(field::MMS_VERSION, Value::Octet(0x92))
            .with(field::MESSAGE_ID, text(id))
            .with(
                field::TO,
                Value::Encoded(EncodedString::plain(b"+358409999999/TYPE=PLMN".to_vec())),
            )
            .with(
                field::FROM,
                Value::From(Some(EncodedString::plain(
                    b"+358401234567/TYPE=PLMN".to_vec(),
                ))),
            )
            .with(field::DATE, Value::Integer(1_795_515_400))
            .with(field::READ_STATUS, Value::Octet(0x80)),
    )
}

// ---- What fakesmsc received -----------------------------------------------------------------

/// Wait for every SMS of the one push sent to `to` (the first one's UDH says how many), and
/// return them in arrival order.
fn push_sms(k: &Kannel, to: &str) -> Vec<Sms> {
    let first = k.messages_to(to, 1, ARRIVAL).remove(0);
    let (udh, _) = parse_user_data(&first.user_data()).expect("the first SMS's UDH");
    let total = udh.concat.map_or(1, |c| usize::from(c.total));
    let all = k.messages_to(to, total, ARRIVAL);
    assert_eq!(all.len(), total, "more SMS than one push to {to}: {all:?}");
    all
}

/// Reassemble, decode the WSP Push, check that it is an MMS push carrying exactly `pdu`, and
/// return it.
fn check_push(sms: &[Sms], pdu: &[u8]) -> PushPdu<'static> {
    for m in sms {
        assert_eq!(m.kind, "udh", "{m:?}");
        let ud = m.user_data();
        let (udh, payload) = parse_user_data(&ud).expect("UDH");
        assert_eq!((udh.dst_port, udh.src_port), (Some(2948), Some(9200)));
        assert!(m.user_data().len() <= 140, "{m:?}");
        assert!(!payload.is_empty());
    }
    let uds: Vec<Vec<u8>> = sms.iter().map(Sms::user_data).collect();
    let refs: Vec<&[u8]> = uds.iter().map(Vec::as_slice).collect();
    let wsp = reassemble(&refs).expect("reassemble the SMS");
    let push = PushPdu::decode(&wsp, &Limits::default())
        .expect("decode the WSP push")
        .into_owned();
    assert!(push.is_mms(), "not an MMS push: {push:?}");
    assert_eq!(push.pdu_type, 0x06, "unconfirmed Push");
    assert_eq!(&push.body[..], pdu, "the pushed PDU's octets");
    let got = Pdu::decode(&push.body, &Limits::default()).expect("decode the pushed PDU");
    let want = Pdu::decode(pdu, &Limits::default()).expect("decode the sent PDU");
    assert_eq!(got, want);
    push
}

/// The UDH octets of each SMS, as hex, for the test output.
fn udh_hex(sms: &[Sms]) -> Vec<String> {
    sms.iter()
        .map(|m| {
            m.udh
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

// ---- PAP -------------------------------------------------------------------------------------

#[test]
fn pap_push_reaches_the_handset_as_wap_push_sms() {
    let k = Kannel::start(Options {
        wapbox: true,
        ..Options::default()
    });
    let pap = PapSender::new(&k.pap_url(), "ppg.example", TIMEOUT);

    // The usual notification: two SMS.
    let pdu = standard_notification("T-pap-1");
    let d = pap.send("+358401110001", &pdu).expect("PAP push");
    assert_eq!(d.detail, "PAP 1001");
    let sms = push_sms(&k, "+358401110001");
    println!("PAP, {} octets: UDHs {:?}", pdu.len(), udh_hex(&sms));
    assert!(sms.len() >= 2, "{sms:?}");
    for (i, m) in sms.iter().enumerate() {
        assert_eq!(m.udh.len(), 12, "{m:?}");
        assert_eq!(
            m.udh[..9],
            [0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03]
        );
        assert_eq!(m.udh[10..], [sms.len() as u8, i as u8 + 1], "in order");
    }
    let push = check_push(&sms, &pdu);
    println!(
        "Kannel's WSP push: TID {}, content type {:?}, headers {:?}",
        push.transaction_id, push.content_type, push.headers
    );
    // Kannel writes the content type as text and adds its own headers.
    assert_eq!(push.content_length(), Some(pdu.len() as u64));
    assert!(
        push.headers
            .iter()
            .any(|h| matches!(h, PushHeader::ApplicationId(a) if a.is_mms_ua())),
        "{push:?}"
    );
    // Sent binary: no Content-Transfer-Encoding in the WSP push.
    assert!(
        !push
            .headers
            .iter()
            .any(|h| matches!(h, PushHeader::Text { .. })),
        "{push:?}"
    );
    let decoded = Pdu::decode(&push.body, &Limits::default()).unwrap();
    assert_eq!(decoded.transaction_id(), Some(&b"T-pap-1"[..]));
    assert_eq!(
        decoded.content_location(),
        Some(&b"http://mmsc.example.net/m/T-pap-1"[..])
    );
    assert_eq!(
        decoded.subject().unwrap().to_text().unwrap(),
        "Terveisiä mökiltä"
    );
    assert_eq!(decoded.message_size(), Some(30_512));
    assert_eq!(decoded.expiry(), Some(TimeValue::Relative(259_200)));

    // A PDU whose octets look like MIME syntax (CRLF, a header, CRLF CRLF, "--", a
    // boundary-like string): sent binary, Kannel would cut everything before the blank line;
    // sent base64 it arrives intact (with a textual Content-Transfer-Encoding header added).
    let tricky = encode(&notification(
        "T-pap-2",
        "a\r\n--mmsc-0000000000000001\r\nContent-Type: text/plain\r\n\r\n--",
        "http://mmsc.example.net/m/T-pap-2",
    ));
    assert_eq!(
        pap.send("+358401110002", &tricky).unwrap().detail,
        "PAP 1001"
    );
    let push = check_push(&push_sms(&k, "+358401110002"), &tricky);
    println!(
        "Kannel's WSP push of base64 content: headers {:?}",
        push.headers
    );
    // A content location with "content" in it goes base64 too.
    let content_url = encode(&notification(
        "T-pap-5",
        "hello",
        "http://mmsc.example.net/Content/T-pap-5",
    ));
    pap.send("+358401110005", &content_url).expect("PAP push");
    check_push(&push_sms(&k, "+358401110005"), &content_url);

    // A long one, and a short report.
    let long = long_notification("T-pap-3");
    pap.send("+358401110003", &long).expect("long PAP push");
    let sms = push_sms(&k, "+358401110003");
    assert!(sms.len() >= 3, "{}", sms.len());
    check_push(&sms, &long);
    let report = delivery_ind("M-pap-4");
    pap.send("+358401110004", &report).expect("report PAP push");
    check_push(&push_sms(&k, "+358401110004"), &report);
}

#[test]
fn pap_refused_address_is_permanent_and_the_ppg_keeps_working() {
    let k = Kannel::start(Options {
        wapbox: true,
        ..Options::default()
    });
    let pap = PapSender::new(&k.pap_url(), "ppg.example", TIMEOUT);
    let pdu = standard_notification("T-refused");

    // Kannel's PPG refuses a PLMN number without '+' (PAP 2000 in an HTTP 202).
    let e = pap.send("358401110010", &pdu).unwrap_err();
    assert!(matches!(e, PushError::Permanent(_)), "{e}");
    assert!(e.message().starts_with("PAP 2000 "), "{e}");
    assert!(e.message().contains("HTTP 202"), "{e}");

    // An address Kannel cannot parse at all would wedge its PPG: refused before sending.
    let started = Instant::now();
    let e = pap.send("foo", &pdu).unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // The PPG still answers, and nothing reached the SMSC for the refused pushes.
    pap.send("+358401110011", &pdu)
        .expect("PAP push after the refusals");
    check_push(&push_sms(&k, "+358401110011"), &pdu);
    assert!(
        k.messages().iter().all(|m| m.to == "+358401110011"),
        "{:?}",
        k.messages()
    );
}

#[test]
fn pap_ppg_down_or_silent_is_transient() {
    let mut k = Kannel::start(Options {
        wapbox: true,
        ..Options::default()
    });
    let pdu = standard_notification("T-down");
    let pap = PapSender::new(&k.pap_url(), "ppg.example", TIMEOUT);
    pap.send("+358401110020", &pdu).expect("PAP push while up");
    check_push(&push_sms(&k, "+358401110020"), &pdu);

    // wapbox gone: connection refused (also on the pooled connection).
    k.kill("wapbox");
    for _ in 0..2 {
        let e = pap.send("+358401110021", &pdu).unwrap_err();
        assert!(e.is_transient(), "{e}");
    }

    // A PPG that accepts the connection and never answers: the timeout, transient.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}/wappush", silent.local_addr().unwrap());
    let slow = PapSender::new(&url, "ppg.example", Duration::from_millis(500));
    let started = Instant::now();
    let e = slow.send("+358401110022", &pdu).unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.message().contains("timed out"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
    let e = PapSender::new(&url, "ppg.example", TIMEOUT)
        .send("+358401110022", &pdu)
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(!k.messages().iter().any(|m| m.to != "+358401110020"));
}

// ---- sendsms ---------------------------------------------------------------------------------

#[test]
fn sendsms_push_reaches_the_handset_as_wap_push_sms() {
    let k = Kannel::start(Options {
        smsbox: true,
        ..Options::default()
    });
    let s = SendSmsSender::new(&k.sendsms_url_ok(), TIMEOUT);

    // A report fits one SMS: ports only.
    let report = delivery_ind("M-sms-1");
    let d = s.send("+358402220001", &report).expect("sendsms push");
    assert_eq!(d.detail, "sendsms 202 x1 segment");
    let sms = push_sms(&k, "+358402220001");
    println!("sendsms, {} octets: UDHs {:?}", report.len(), udh_hex(&sms));
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].udh, [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
    assert_eq!(sms[0].from, SENDSMS_SENDER);
    let push = check_push(&sms, &report);
    // Our own WSP push: TID, 06, headers 03, BE (mms-message), AF 84 (mms.ua).
    assert_eq!(sms[0].data[1..6], [0x06, 0x03, 0xBE, 0xAF, 0x84]);
    assert_eq!(push.headers.len(), 1);

    // The notification (one SMS here: our WSP push has 6 octets of headers, Kannel's about 55)
    // and long ones (three or more), references differing.
    let mut seen_refs = Vec::new();
    for (to, pdu) in [
        ("+358402220002", standard_notification("T-sms-2")),
        ("+358402220003", long_notification("T-sms-3")),
        ("+358402220004", long_notification("T-sms-4")),
    ] {
        let d = s.send(to, &pdu).expect("sendsms push");
        let sms = push_sms(&k, to);
        println!("sendsms, {} octets: UDHs {:?}", pdu.len(), udh_hex(&sms));
        check_push(&sms, &pdu);
        if pdu.len() + 6 <= 133 {
            assert_eq!(d.detail, "sendsms 202 x1 segment");
            assert_eq!(sms.len(), 1);
            assert_eq!(sms[0].udh, [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
            continue;
        }
        assert_eq!(d.detail, format!("sendsms 202 x{} segments", sms.len()));
        assert_eq!(sms.len(), (pdu.len() + 6).div_ceil(128));
        assert!(sms.len() >= 3);
        let reference = sms[0].udh[9];
        let n = sms.len() as u8;
        let mut seqs: Vec<u8> = Vec::new();
        for m in &sms {
            assert_eq!(
                m.udh[..],
                [
                    0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, reference, n, m.udh[11]
                ]
            );
            seqs.push(m.udh[11]);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        seen_refs.push(reference);
    }
    assert_eq!(seen_refs.len(), 2);
    assert_ne!(seen_refs[0], seen_refs[1], "references {seen_refs:?}");
}

#[test]
fn sendsms_wrong_password_is_permanent_smsbox_down_transient() {
    let mut k = Kannel::start(Options {
        smsbox: true,
        ..Options::default()
    });
    let pdu = standard_notification("T-auth");
    let bad = SendSmsSender::new(&k.sendsms_url(SENDSMS_USER, "wrong"), TIMEOUT);
    let e = bad.send("+358402220010", &pdu).unwrap_err();
    assert!(matches!(e, PushError::Permanent(_)), "{e}");
    assert!(e.message().contains("HTTP 403"), "{e}");
    assert!(e.message().starts_with("sendsms segment 1/"), "{e}");
    let nobody = SendSmsSender::new(&k.sendsms_url("nobody", SENDSMS_PASSWORD), TIMEOUT);
    assert!(
        !nobody
            .send("+358402220010", &pdu)
            .unwrap_err()
            .is_transient()
    );

    let good = SendSmsSender::new(&k.sendsms_url_ok(), TIMEOUT);
    good.send("+358402220011", &pdu).expect("sendsms push");
    check_push(&push_sms(&k, "+358402220011"), &pdu);

    k.kill("smsbox");
    let e = good.send("+358402220012", &pdu).unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(
        k.messages().iter().all(|m| m.to == "+358402220011"),
        "{:?}",
        k.messages()
    );
}

/// A one-shot HTTP server answering each request with `status` and `body`; returns its URL.
fn canned_server(status: &'static str, body: &'static str, requests: usize) -> String {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    thread::spawn(move || {
        for _ in 0..requests {
            let Ok((mut c, _)) = l.accept() else { return };
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 65536];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            // Read the whole request body before answering: closing a socket with unread
            // input sends a reset, which the client may see before the answer.
            let head_end = got
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(got.len(), |i| i + 4);
            let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
            let want = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while got.len() < head_end + want {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = c.flush();
            let _ = c.shutdown(std::net::Shutdown::Write);
        }
    });
    url
}

#[test]
fn gateway_statuses_are_classified() {
    let pdu = delivery_ind("M-status");
    for (status, body, transient) in [
        ("503 Service Unavailable", "3: busy", true),
        ("500 Internal Server Error", "", true),
        ("429 Too Many Requests", "", true),
        ("408 Request Timeout", "", true),
        (
            "400 Bad Request",
            "Sender missing and no global set, rejected",
            false,
        ),
        ("404 Not Found", "", false),
    ] {
        let s = SendSmsSender::new(&format!("{}?u=a", canned_server(status, body, 1)), TIMEOUT);
        let e = s.send("+1", &pdu).unwrap_err();
        assert_eq!(e.is_transient(), transient, "{status}: {e}");
        let p = PapSender::new(&canned_server(status, body, 1), "ppg.example", TIMEOUT);
        let e = p.send("+1", &pdu).unwrap_err();
        assert_eq!(e.is_transient(), transient, "{status}: {e}");
    }
    // A 200 that is not a PAP answer: transient (the push may not have been taken).
    let p = PapSender::new(
        &canned_server("200 OK", "<html/>", 1),
        "ppg.example",
        TIMEOUT,
    );
    assert!(p.send("+1", &pdu).unwrap_err().is_transient());
    // PAP codes in any HTTP status.
    let p = PapSender::new(
        &canned_server(
            "202 Accepted",
            "<pap><push-response><response-result code=\"3010\" desc=\"no bearer\"/></push-response></pap>",
            1,
        ),
        "ppg.example",
        TIMEOUT,
    );
    let e = p.send("+1", &pdu).unwrap_err();
    assert_eq!(
        e,
        PushError::Transient("PAP 3010 no bearer (HTTP 202)".into())
    );
    // Any 2xx from sendsms is acceptance.
    let s = SendSmsSender::new(&canned_server("200 OK", "Sent.", 1), TIMEOUT);
    assert_eq!(s.send("+1", &pdu).unwrap().detail, "sendsms 200 x1 segment");
}

// ---- log -------------------------------------------------------------------------------------

#[test]
fn log_appends_lines_and_reads_them_back() {
    let dir = support::kannel::TempDir::new("mmsc-push-log");
    let path = dir.path().join("notifications.log");
    let log = Arc::new(LogSender::open(&path).unwrap());
    let pdus = [
        ("+358403330001", standard_notification("T-log-1")),
        ("+358403330002", delivery_ind("M-log-2")),
        ("+358403330003", read_orig_ind("M-log-3")),
        ("+358403330004", long_notification("T-log-4")),
    ];
    for (to, pdu) in &pdus {
        let d = log.send(to, pdu).unwrap();
        assert!(d.detail.starts_with("logged to "), "{}", d.detail);
    }
    let entries = read_log(&path).unwrap();
    assert_eq!(entries.len(), pdus.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (e, (to, pdu)) in entries.iter().zip(&pdus) {
        assert_eq!(&e.to, to);
        assert_eq!(&e.pdu, pdu);
        assert!(e.at <= now && e.at + 60 >= now, "{}", e.at);
        assert_eq!(
            e.decode().unwrap(),
            Pdu::decode(pdu, &Limits::default()).unwrap()
        );
    }
    assert_eq!(
        entries[0].summary["X-Mms-Message-Type"],
        "m-notification-ind"
    );
    assert_eq!(entries[0].summary["X-Mms-Transaction-ID"], "T-log-1");
    assert_eq!(
        entries[0].summary["X-Mms-Content-Location"],
        "http://mmsc.example.net/m/T-log-1"
    );
    assert_eq!(entries[1].summary["X-Mms-Message-Type"], "m-delivery-ind");
    assert_eq!(entries[1].summary["X-Mms-Status"], "Retrieved");
    assert_eq!(entries[2].summary["X-Mms-Read-Status"], "Read");
    let line = entries[0].summary_line();
    assert!(
        line.ends_with(
            " +358403330001 m-notification-ind tid=T-log-1 http://mmsc.example.net/m/T-log-1"
        ),
        "{line}"
    );
    assert!(
        entries[1]
            .summary_line()
            .contains(" id=M-log-2 status=Retrieved")
    );
    // The file holds exactly these lines: to_json_line without the summary, which is added
    // when the log is read.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut j: serde_json::Value = serde_json::from_str(&e.to_json_line()).unwrap();
            j.as_object_mut().unwrap().remove("summary");
            j.to_string()
        })
        .collect();
    assert_eq!(text, lines.join("\n") + "\n");

    // Concurrent pushes (and a second writer on the same file) do not interleave lines.
    let second = Arc::new(LogSender::open(&path).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = if t % 2 == 0 {
                Arc::clone(&log)
            } else {
                Arc::clone(&second)
            };
            let pdu = long_notification(&format!("T-conc-{t}"));
            thread::spawn(move || {
                for i in 0..25 {
                    w.send(&format!("+3584044{t:02}{i:03}"), &pdu).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let entries = read_log(&path).unwrap();
    assert_eq!(entries.len(), pdus.len() + 8 * 25);
    assert!(entries.iter().all(|e| e.decode().is_ok()));

    // A torn last line (a crash mid-write) is skipped; a malformed line elsewhere is an error.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"{\"at\":1,\"to\":\"+1\",\"pdu_bas").unwrap();
    assert_eq!(read_log(&path).unwrap().len(), pdus.len() + 200);
    f.write_all(b"\n").unwrap();
    let e = read_log(&path).unwrap_err();
    assert_eq!(
        e.to_string().split(':').next(),
        Some(&*format!("line {}", pdus.len() + 201))
    );
    assert!(read_log(&dir.path().join("missing.log")).is_err());
}
