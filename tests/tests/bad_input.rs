//! Bad input against the real `mmsc` (ISSUE 3 item 10), each case its own test on its own
//! server. Every test also checks, at the end ([`Fixture::finish`]), that the server is still
//! up and takes a good submit, that nothing of the refused input was stored or notified
//! (refused input is addressed to [`VICTIM`], good submits to [`B`]; `mmsc notifications`
//! must list no push to the victim), and that the store holds exactly the good messages
//! (the counters mmsc prints at a graceful stop, and again after a restart).

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mmsc_tests::http::{HttpConn, Response, request_bytes};
use mmsc_tests::mm1::{self, Handset, MMS_CONTENT_TYPE};
use mmsc_tests::server::{Config, Mmsc};
use mmsc_wire::Pdu;
use mmsc_wire::mms::{MessageType, ResponseStatus, RetrieveStatus, TimeValue, Value, field};

const A: &str = "+358401400001";
const B: &str = "+358401400002";
/// The recipient of every refused submit: no push may ever reach it.
const VICTIM: &str = "+358401400099";

struct Fixture {
    mmsc: Mmsc,
    good: usize,
    good_ids: Vec<String>,
}

impl Fixture {
    fn new(cfg: Config) -> Fixture {
        let mut f = Fixture {
            mmsc: Mmsc::start(cfg),
            good: 0,
            good_ids: Vec::new(),
        };
        f.good_submit("before");
        f
    }

    /// A good submit from A to B on a new connection: m-send-conf Ok.
    fn good_submit(&mut self, tag: &str) -> String {
        let mut a = Handset::new(&self.mmsc, A);
        let mid = a.submit_ok(&good_req(&format!("good-{tag}")));
        self.good += 1;
        self.good_ids.push(mid.clone());
        mid
    }

    fn conn(&self) -> HttpConn {
        self.mmsc.connect()
    }

    /// Still up, and only the good messages stored and notified.
    fn finish(mut self) {
        assert!(self.mmsc.is_running(), "mmsc died:\n{}", self.mmsc.log());
        self.good_submit("after");
        let pushes = self
            .mmsc
            .wait_notifications(self.good, Duration::from_secs(20));
        assert!(
            pushes.iter().all(|p| p.to == B),
            "a push for refused input: {:?}",
            pushes
                .iter()
                .filter(|p| p.to != B)
                .map(|p| (&p.to, &p.summary))
                .collect::<Vec<_>>()
        );
        let locations: std::collections::BTreeSet<String> =
            pushes.iter().filter_map(|p| p.content_location()).collect();
        assert_eq!(
            locations.len(),
            self.good,
            "one notification per good submit"
        );
        for id in &self.good_ids {
            let token = id.split('@').next().unwrap_or(id);
            assert!(
                locations.iter().any(|l| l.contains(token)),
                "no notification for {id}"
            );
        }
        let s = self.mmsc.stop();
        assert_eq!(s.stored as usize, self.good, "messages stored: {s:?}");
        assert_eq!(s.accepted as usize, self.good, "messages accepted: {s:?}");
        // And after a restart, the store still holds just those.
        self.mmsc.restart();
        let s = self.mmsc.stop();
        assert_eq!(s.stored as usize, self.good, "after a restart: {s:?}");
    }
}

fn good_req(tid: &str) -> Pdu<'static> {
    mm1::send_req(
        tid,
        &[B],
        "good",
        false,
        mm1::sample_parts("a good message", 2000, 5),
    )
}

fn victim_req(tid: &str) -> Pdu<'static> {
    mm1::send_req(
        tid,
        &[VICTIM],
        "refused",
        false,
        mm1::sample_parts("must not be stored", 2000, 6),
    )
}

fn mms_headers(msisdn: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", MMS_CONTENT_TYPE.to_owned()),
        ("X-MSISDN", msisdn.to_owned()),
    ]
}

fn post(c: &mut HttpConn, path: &str, headers: &[(&str, String)], body: &[u8]) -> Response {
    let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    c.post(path, &h, body)
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// An m-send-conf answer: HTTP 200, the MMS content type; the PDU.
fn send_conf(r: &Response) -> Pdu<'static> {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.media_type().as_deref(), Some(MMS_CONTENT_TYPE), "{r:?}");
    let p = mm1::decode(&r.body);
    assert_eq!(p.message_type, MessageType::SEND_CONF, "{p:?}");
    p
}

/// An m-retrieve-conf error answer, never HTML.
fn retrieve_error(r: &Response) -> RetrieveStatus {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.media_type().as_deref(),
        Some(MMS_CONTENT_TYPE),
        "an MMS PDU, never HTML: {r:?}"
    );
    assert!(
        !r.text().to_ascii_lowercase().contains("<html"),
        "HTML in {r:?}"
    );
    let p = mm1::decode(&r.body);
    assert_eq!(p.message_type, MessageType::RETRIEVE_CONF, "{p:?}");
    p.retrieve_status().expect("X-Mms-Retrieve-Status")
}

/// A plain HTTP error status (not an MMS answer).
fn assert_http_error(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert_ne!(
        r.media_type().as_deref(),
        Some(MMS_CONTENT_TYPE),
        "an HTTP error, not a PDU: {r:?}"
    );
}

// ---- Bodies ---------------------------------------------------------------------------------

#[test]
fn garbage_body_is_400_and_stores_nothing() {
    let f = Fixture::new(Config::new());
    let mut c = f.conn();
    for body in [
        &b"garbage"[..],
        b"",
        b"\x00\x01\x02\x03",
        b"<html><body>hello</body></html>",
        b"\x8c",
        &[0xFFu8; 3000][..],
    ] {
        let r = post(&mut c, "/mms", &mms_headers(A), body);
        match r.status {
            400 => assert_http_error(&r, 400),
            // Something that starts like a PDU gets an MMS answer, never Ok.
            200 => assert_ne!(
                send_conf(&r).response_status(),
                Some(ResponseStatus::OK),
                "{body:02X?}"
            ),
            _ => panic!("garbage {body:02X?} answered {r:?}"),
        }
        if r.closes() {
            c = f.conn();
        }
    }
    f.finish();
}

#[test]
fn truncated_pdu_is_format_corrupt_with_the_tid_echoed() {
    let f = Fixture::new(Config::new());
    let full = mm1::encode(&victim_req("T-trunc"));
    let body_at = Pdu::body_offset(&full, &mmsc_wire::Limits::default())
        .unwrap()
        .unwrap();
    let mut c = f.conn();
    // Inside the multipart body, in its part headers, at its start, and in the last header
    // (the Content-Type value).
    for cut in [
        full.len() - 1,
        full.len() - 700,
        body_at + 3,
        body_at + 1,
        body_at - 2,
    ] {
        let r = post(&mut c, "/mms", &mms_headers(A), &full[..cut]);
        let conf = send_conf(&r);
        assert_eq!(
            conf.response_status(),
            Some(ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT),
            "cut at {cut} of {}: {conf:?}",
            full.len()
        );
        assert_eq!(conf.transaction_id(), Some(&b"T-trunc"[..]), "TID echoed");
        assert!(conf.message_id().is_none(), "{conf:?}");
    }
    f.finish();
}

#[test]
fn wrong_content_type_is_415() {
    let f = Fixture::new(Config::new());
    let body = mm1::encode(&victim_req("T-ct"));
    let mut c = f.conn();
    for ct in ["text/html", "application/octet-stream", "multipart/related"] {
        let r = post(
            &mut c,
            "/mms",
            &[("Content-Type", ct.to_owned()), ("X-MSISDN", A.to_owned())],
            &body,
        );
        assert_http_error(&r, 415);
        if r.closes() {
            c = f.conn();
        }
    }
    // No Content-Type at all.
    let r = post(&mut c, "/mms", &[("X-MSISDN", A.to_owned())], &body);
    assert_http_error(&r, 415);
    f.finish();
}

const SMALL_LIMIT: usize = 100_000;

#[test]
fn oversize_body_by_content_length_is_413() {
    let mut f =
        Fixture::new(Config::new().set("mm1", "max_message_bytes", SMALL_LIMIT.to_string()));
    // Announced too large: answered from the head alone, without reading the body.
    let mut c = f.conn();
    let head = request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("Content-Length", &(SMALL_LIMIT + 1).to_string()),
        ],
        None,
    );
    c.write_raw(&head).unwrap();
    let r = c.read_response().expect("an answer before the body");
    assert_http_error(&r, 413);
    assert!(c.closed_within(Duration::from_secs(5)), "closed after 413");

    // A real m-send-req just over the limit, sent in full.
    let mut big = victim_req("T-big");
    big.set_body(
        mm1::related_content_type(),
        mmsc_wire::wsp::Body::Multipart(mm1::sample_parts("big", SMALL_LIMIT, 9)),
    );
    let body = mm1::encode(&big);
    assert!(body.len() > SMALL_LIMIT);
    let mut c = f.conn();
    let r = post(&mut c, "/mms", &mms_headers(A), &body);
    assert_http_error(&r, 413);

    // Just under the limit is fine (and goes to B, so it counts as good).
    let mut ok = good_req("T-fits");
    ok.set_body(
        mm1::related_content_type(),
        mmsc_wire::wsp::Body::Multipart(mm1::sample_parts("fits", SMALL_LIMIT - 2000, 9)),
    );
    let mut a = Handset::new(&f.mmsc, A);
    let mid = a.submit_ok(&ok);
    f.good += 1;
    f.good_ids.push(mid);
    f.finish();
}

#[test]
fn oversize_chunked_body_is_413() {
    let mut f =
        Fixture::new(Config::new().set("mm1", "max_message_bytes", SMALL_LIMIT.to_string()));
    let mut c = f.conn();
    c.write_raw(&request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("Transfer-Encoding", "chunked"),
        ],
        None,
    ))
    .unwrap();
    // A valid m-send-req start, then chunks of filler beyond the limit; stop writing as soon
    // as the server answers or closes.
    let start = mm1::encode(&victim_req("T-chunked"));
    let mut sent = 0usize;
    let chunk = vec![0x41u8; 8192];
    let mut write_err = None;
    let first = format!("{:x}\r\n", start.len());
    let mut w = first.into_bytes();
    w.extend_from_slice(&start);
    w.extend_from_slice(b"\r\n");
    c.write_raw(&w).unwrap();
    sent += start.len();
    while sent <= SMALL_LIMIT * 2 {
        let mut w = format!("{:x}\r\n", chunk.len()).into_bytes();
        w.extend_from_slice(&chunk);
        w.extend_from_slice(b"\r\n");
        if let Err(e) = c.write_raw(&w) {
            write_err = Some(e);
            break;
        }
        sent += chunk.len();
    }
    if write_err.is_none() {
        let _ = c.write_raw(b"0\r\n\r\n");
    }
    let r = c.read_response().unwrap_or_else(|e| {
        panic!("no answer to an oversize chunked body ({sent} octets sent, write error {write_err:?}): {e}")
    });
    assert_http_error(&r, 413);
    assert!(c.closed_within(Duration::from_secs(5)), "closed after 413");
    // A chunked submit within the limit works (and counts as good).
    let body = mm1::encode(&good_req("T-chunked-ok"));
    let mut c = f.conn();
    let mut w = request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("Transfer-Encoding", "chunked"),
        ],
        None,
    );
    for piece in body.chunks(700) {
        w.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        w.extend_from_slice(piece);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"0\r\n\r\n");
    c.write_raw(&w).unwrap();
    let conf = send_conf(&c.read_response().unwrap());
    assert_eq!(conf.response_status(), Some(ResponseStatus::OK), "{conf:?}");
    f.good += 1;
    f.good_ids
        .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
    f.finish();
}

#[test]
fn expect_100_continue() {
    let mut f =
        Fixture::new(Config::new().set("mm1", "max_message_bytes", SMALL_LIMIT.to_string()));
    // The server says 100 Continue, then the body is sent and answered.
    let body = mm1::encode(&good_req("T-expect"));
    let mut c = f.conn();
    c.write_raw(&request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("Expect", "100-continue"),
            ("Content-Length", &body.len().to_string()),
        ],
        None,
    ))
    .unwrap();
    let r = c.read_response().unwrap();
    assert_eq!(r.status, 100, "{r:?}");
    c.write_raw(&body).unwrap();
    let conf = send_conf(&c.read_response().unwrap());
    assert_eq!(conf.response_status(), Some(ResponseStatus::OK), "{conf:?}");
    f.good += 1;
    f.good_ids
        .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
    // The connection stays usable.
    let conf = send_conf(&post(
        &mut c,
        "/mms",
        &mms_headers(A),
        &mm1::encode(&good_req("T-expect-2")),
    ));
    assert_eq!(conf.response_status(), Some(ResponseStatus::OK));
    f.good += 1;
    f.good_ids
        .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());

    // Too large: a final 413 instead of 100 Continue, before any body.
    let mut c = f.conn();
    c.write_raw(&request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("Expect", "100-continue"),
            ("Content-Length", &(SMALL_LIMIT * 10).to_string()),
        ],
        None,
    ))
    .unwrap();
    let r = c.read_response().unwrap();
    assert_http_error(&r, 413);
    f.finish();
}

// ---- Connections ----------------------------------------------------------------------------

#[test]
fn slowloris_gets_408_and_is_closed() {
    let mut f = Fixture::new(Config::new().set("mm1", "request_timeout_secs", "2"));
    let t = Instant::now();
    let mut s = TcpStream::connect(f.mmsc.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let head = request_bytes(
        "POST",
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE),
            ("X-MSISDN", A),
            ("X-Padding", &"p".repeat(200)),
        ],
        None,
    );
    // One octet every 250 ms: far slower than the 2 s allowed for the whole request.
    let mut answer = Vec::new();
    let mut closed = false;
    let mut i = 0;
    while t.elapsed() < Duration::from_secs(10) && i < head.len() {
        if s.write_all(&head[i..=i]).is_err() {
            closed = true;
            break;
        }
        i += 1;
        let mut buf = [0u8; 4096];
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        // Meanwhile the server serves others.
        if i == 4 {
            f.good_submit("during-slowloris");
        }
    }
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&answer);
    println!("slowloris: {i} octets sent in {took:?}; answer {text:?}; closed {closed}");
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "a 408 answer, got {text:?}"
    );
    assert!(closed, "the connection is closed");
    assert!(i < head.len(), "the whole head got through");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    f.finish();
}

#[test]
fn pipelined_garbage_after_a_good_request_gets_400_and_close() {
    let mut f = Fixture::new(Config::new());
    let mut c = f.conn();
    let mut w = request_bytes(
        "POST",
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
        Some(&mm1::encode(&good_req("T-pipe"))),
    );
    w.extend_from_slice(b"THIS IS NOT HTTP\r\n\r\n");
    w.extend_from_slice(&request_bytes(
        "POST",
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
        Some(&mm1::encode(&victim_req("T-after-garbage"))),
    ));
    c.write_raw(&w).unwrap();
    let conf = send_conf(&c.read_response().unwrap());
    assert_eq!(conf.response_status(), Some(ResponseStatus::OK), "{conf:?}");
    assert_eq!(conf.transaction_id(), Some(&b"T-pipe"[..]));
    f.good += 1;
    f.good_ids
        .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
    let r = c.read_response().unwrap();
    assert_http_error(&r, 400);
    assert!(c.closed_within(Duration::from_secs(5)), "closed after 400");
    assert!(
        c.unread().is_empty(),
        "nothing after the 400: {:?}",
        String::from_utf8_lossy(c.unread())
    );

    // Two good requests pipelined in one write are both answered, in order.
    let mut c = f.conn();
    let mut w = Vec::new();
    for tid in ["T-p1", "T-p2"] {
        w.extend_from_slice(&request_bytes(
            "POST",
            "/mms",
            &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
            Some(&mm1::encode(&good_req(tid))),
        ));
    }
    c.write_raw(&w).unwrap();
    for tid in ["T-p1", "T-p2"] {
        let conf = send_conf(&c.read_response().unwrap());
        assert_eq!(conf.transaction_id(), Some(tid.as_bytes()));
        assert_eq!(conf.response_status(), Some(ResponseStatus::OK));
        f.good += 1;
        f.good_ids
            .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
    }
    f.finish();
}

#[test]
fn header_section_over_the_limit_is_431() {
    let f = Fixture::new(Config::new());
    let mut c = f.conn();
    let big = "x".repeat(10_000);
    let r = post(
        &mut c,
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE.to_owned()),
            ("X-MSISDN", A.to_owned()),
            ("X-Big", big),
        ],
        &mm1::encode(&victim_req("T-431")),
    );
    assert_http_error(&r, 431);
    assert!(c.closed_within(Duration::from_secs(5)));
    // Many small headers adding up over the limit too.
    let mut c = f.conn();
    let many: Vec<(String, String)> = (0..400)
        .map(|i| (format!("X-H{i}"), "0123456789012345678901234".to_owned()))
        .collect();
    let mut h: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    h.push(("X-MSISDN", A));
    let r = c.get("/mms/whatever-0", &h).unwrap();
    assert!(matches!(r.status, 431 | 400), "{r:?}");
    f.finish();
}

#[test]
fn many_idle_connections_do_not_stop_service() {
    let mut f = Fixture::new(Config::new());
    let t = Instant::now();
    // 400 connections: idle, half a head, half a body.
    let mut idle = Vec::new();
    let body = mm1::encode(&victim_req("T-idle"));
    for i in 0..400 {
        let mut s = TcpStream::connect(f.mmsc.addr()).expect("connect");
        match i % 3 {
            0 => {}
            1 => s.write_all(b"POST /mms HTTP/1.1\r\nX-MSISDN: ").unwrap(),
            _ => {
                let w = request_bytes(
                    "POST",
                    "/mms",
                    &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
                    Some(&body),
                );
                s.write_all(&w[..w.len() - 100]).unwrap();
            }
        }
        idle.push(s);
    }
    println!("400 idle connections open in {:?}", t.elapsed());
    for i in 0..5 {
        let t1 = Instant::now();
        f.good_submit(&format!("idle-{i}"));
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "a submit took {:?}",
            t1.elapsed()
        );
    }
    // And a retrieval.
    let pushes = f.mmsc.wait_notifications(1, Duration::from_secs(10));
    let loc = pushes[0].content_location().unwrap();
    let conf = Handset::new(&f.mmsc, B).retrieve(&loc);
    assert_eq!(
        conf.retrieve_status().unwrap_or(RetrieveStatus::OK),
        RetrieveStatus::OK
    );
    drop(idle);
    f.finish();
}

// ---- Identity -------------------------------------------------------------------------------

#[test]
fn missing_msisdn_is_service_denied_or_403() {
    let f = Fixture::new(Config::new());
    let mut c = f.conn();
    let body = mm1::encode(&victim_req("T-anon"));
    let r = post(
        &mut c,
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE.to_owned())],
        &body,
    );
    let conf = send_conf(&r);
    assert_eq!(
        conf.response_status(),
        Some(ResponseStatus::ERROR_PERMANENT_SERVICE_DENIED),
        "{conf:?}"
    );
    assert_eq!(conf.transaction_id(), Some(&b"T-anon"[..]));
    // An MSISDN header that is not a number is no MSISDN.
    let r = post(
        &mut c,
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE.to_owned()),
            ("X-MSISDN", "anonymous".to_owned()),
        ],
        &body,
    );
    assert_eq!(
        send_conf(&r).response_status(),
        Some(ResponseStatus::ERROR_PERMANENT_SERVICE_DENIED)
    );
    // Not a PDU and no subscriber: 403.
    let r = post(
        &mut c,
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE.to_owned())],
        b"junk",
    );
    assert_http_error(&r, 403);
    if r.closes() {
        c = f.conn();
    }
    // A retrieval without MSISDN: an MMS error, never HTML.
    let r = c.get("/mms/0000000000-0", &[]).unwrap();
    assert_eq!(
        retrieve_error(&r),
        RetrieveStatus::ERROR_PERMANENT_SERVICE_DENIED
    );
    f.finish();
}

#[test]
fn msisdn_from_an_untrusted_proxy_is_denied() {
    // 127.0.0.1 (where the test connects from) is not a trusted proxy here.
    let mmsc = Mmsc::start(Config::new().set("mm1", "trusted_proxies", r#"["127.0.0.2/32"]"#));
    let mut c = mmsc.connect();
    let body = mm1::encode(&victim_req("T-untrusted"));
    for header in ["X-MSISDN", "X-WAP-Network-Client-MSISDN"] {
        let r = post(
            &mut c,
            "/mms",
            &[
                ("Content-Type", MMS_CONTENT_TYPE.to_owned()),
                (header, A.to_owned()),
            ],
            &body,
        );
        let conf = send_conf(&r);
        assert_eq!(
            conf.response_status(),
            Some(ResponseStatus::ERROR_PERMANENT_SERVICE_DENIED),
            "{header}: {conf:?}"
        );
        assert_eq!(conf.transaction_id(), Some(&b"T-untrusted"[..]));
    }
    let r = post(
        &mut c,
        "/mms",
        &[
            ("Content-Type", MMS_CONTENT_TYPE.to_owned()),
            ("X-MSISDN", A.to_owned()),
        ],
        b"junk",
    );
    assert_http_error(&r, 403);
    let mut c = mmsc.connect();
    let r = c.get("/mms/0000000000-0", &[("X-MSISDN", B)]).unwrap();
    assert_eq!(
        retrieve_error(&r),
        RetrieveStatus::ERROR_PERMANENT_SERVICE_DENIED
    );
    // Nothing stored, nothing pushed; still serving (a refusal, again).
    std::thread::sleep(Duration::from_millis(500));
    assert!(mmsc.notifications().is_empty());
    let mut mmsc = mmsc;
    assert!(mmsc.is_running());
    let s = mmsc.stop();
    assert_eq!((s.accepted, s.stored), (0, 0), "{s:?}");
}

// ---- Retrieval ------------------------------------------------------------------------------

#[test]
fn fetch_by_the_wrong_subscriber_or_of_unknown_and_expired_locations_is_not_found() {
    let mut f = Fixture::new(Config::new());
    let pushes = f.mmsc.wait_notifications(1, Duration::from_secs(10));
    let loc = pushes[0].content_location().expect("Content-Location");
    let path = mm1::url_path(&loc).to_owned();
    let mut c = f.conn();
    // The owner may; the sender and a stranger may not.
    for who in [A, "+358401400777"] {
        let r = c.get(&path, &[("X-MSISDN", who)]).unwrap();
        assert_eq!(
            retrieve_error(&r),
            RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
            "{who}"
        );
    }
    let mut b = Handset::new(&f.mmsc, B);
    assert_eq!(
        b.retrieve(&loc)
            .retrieve_status()
            .unwrap_or(RetrieveStatus::OK),
        RetrieveStatus::OK
    );
    // Unknown locations, tokens of the wrong shape, another recipient index.
    let token = path.rsplit('/').next().unwrap().to_owned();
    let other_index = format!("/mms/{}-1", token.rsplit_once('-').unwrap().0);
    for p in [
        "/mms/0123456789abcdef-0",
        "/mms/nope",
        "/mms/..%2F..%2Fetc%2Fpasswd",
        "/mms/a%00b",
        "/mms/x-99999999999999999999",
        other_index.as_str(),
        &format!("/mms/{}", "a".repeat(300)),
    ] {
        let r = c.get(p, &[("X-MSISDN", B)]).unwrap();
        assert_eq!(
            retrieve_error(&r),
            RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
            "{p}"
        );
        if r.closes() {
            c = f.conn();
        }
    }
    // Expired: a message asking for 1 s of life.
    let mut req = good_req("T-expiring");
    req.push(field::EXPIRY, Value::Time(TimeValue::Relative(1)));
    let mid = Handset::new(&f.mmsc, A).submit_ok(&req);
    f.good += 1;
    f.good_ids.push(mid.clone());
    let token = mid.split('@').next().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let loc = loop {
        if let Some(l) = f
            .mmsc
            .notifications()
            .iter()
            .filter_map(|p| p.content_location())
            .find(|l| l.contains(&token))
        {
            break l;
        }
        assert!(Instant::now() < deadline, "no notification for {mid}");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(2100));
    let r = b.get(&loc);
    assert_eq!(
        retrieve_error(&r),
        RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
        "expired"
    );
    // The expired message is gone from the store (it still counts as a good submit's
    // notification, but not as stored).
    assert!(f.mmsc.is_running());
    f.good_submit("after");
    let s = f.mmsc.stop();
    assert_eq!(
        s.stored as usize,
        f.good - 1,
        "the expired message is removed: {s:?}"
    );
    assert!(
        f.mmsc.notifications().iter().all(|p| p.to == B),
        "pushes only to the good recipient"
    );
}

#[test]
fn unknown_url_is_404_and_wrong_method_405() {
    let f = Fixture::new(Config::new());
    let mut c = f.conn();
    for p in ["/", "/index.html", "/mmsx", "/cgi-bin/sendsms", "/MMS"] {
        let r = c.get(p, &[("X-MSISDN", A)]).unwrap();
        assert_http_error(&r, 404);
        if r.closes() {
            c = f.conn();
        }
    }
    let r = post(
        &mut c,
        "/other",
        &mms_headers(A),
        &mm1::encode(&victim_req("T-404")),
    );
    assert_http_error(&r, 404);
    if r.closes() {
        c = f.conn();
    }
    for (m, p) in [
        ("GET", "/mms"),
        ("PUT", "/mms"),
        ("DELETE", "/mms"),
        ("PUT", "/mms/abc-0"),
        ("DELETE", "/mms/abc-0"),
        ("POST", "/mms/abc-0"),
    ] {
        let body = mm1::encode(&victim_req("T-405"));
        let b = (m != "GET" && m != "DELETE").then_some(&body[..]);
        let h = [("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)];
        let r = c.request(m, p, &h, b).unwrap();
        assert_http_error(&r, 405);
        assert!(r.header("allow").is_some(), "{m} {p}: Allow header: {r:?}");
        if r.closes() {
            c = f.conn();
        }
    }
    f.finish();
}

// ---- Unsupported PDUs -----------------------------------------------------------------------

#[test]
fn unsupported_message_type_and_no_local_recipient_are_refused() {
    let f = Fixture::new(Config::new());
    let mut a = Handset::new(&f.mmsc, A);
    // An m-retrieve-conf POSTed by a handset.
    let mut p = victim_req("T-type");
    p.message_type = MessageType::RETRIEVE_CONF;
    let conf = a.post_for_pdu(&mm1::encode(&p));
    assert_eq!(
        conf.response_status(),
        Some(ResponseStatus::ERROR_UNSUPPORTED_MESSAGE),
        "{conf:?}"
    );
    assert_eq!(conf.transaction_id(), Some(&b"T-type"[..]));
    // An m-send-req without recipients, and one to a foreign number only.
    let mut p = victim_req("T-norcpt");
    p.remove(field::TO);
    let conf = a.submit(&p);
    assert_ne!(conf.response_status(), Some(ResponseStatus::OK), "{conf:?}");
    let p = mm1::send_req(
        "T-foreign",
        &["+12025550123"],
        "x",
        false,
        mm1::sample_parts("x", 100, 1),
    );
    let conf = a.submit(&p);
    assert_ne!(conf.response_status(), Some(ResponseStatus::OK), "{conf:?}");
    f.finish();
}

#[test]
fn slow_body_gets_408_and_is_closed() {
    let f = Fixture::new(Config::new().set("mm1", "request_timeout_secs", "2"));
    let body = mm1::encode(&victim_req("T-slow-body"));
    let t = Instant::now();
    let mut s = TcpStream::connect(f.mmsc.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let w = request_bytes(
        "POST",
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
        Some(&body),
    );
    let head_len = w.len() - body.len();
    s.write_all(&w[..head_len]).unwrap();
    // The body, 16 octets every 200 ms (never the last octet).
    let mut at = head_len;
    let mut answer = Vec::new();
    let mut closed = false;
    while at < w.len() - 1 && t.elapsed() < Duration::from_secs(10) {
        let end = (at + 16).min(w.len() - 1);
        if s.write_all(&w[at..end]).is_err() {
            closed = true;
            break;
        }
        at = end;
        let mut buf = [0u8; 4096];
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&answer);
    println!(
        "slow body: {} of {} octets in {took:?}; answer {text:?}",
        at - head_len,
        body.len()
    );
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "a 408 answer, got {text:?}"
    );
    assert!(closed, "closed");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    f.finish();
}

#[test]
fn connection_limit_answers_503_and_timeouts_free_the_slots() {
    let mut f = Fixture::new(
        Config::new()
            .set("mm1", "max_connections", "16")
            .set("mm1", "request_timeout_secs", "2")
            .set("mm1", "idle_timeout_secs", "2"),
    );
    let t = Instant::now();
    // Fill every slot: idle connections and half-sent heads.
    let mut hogs = Vec::new();
    for i in 0..16 {
        let mut s = TcpStream::connect(f.mmsc.addr()).expect("connect");
        if i % 2 == 1 {
            s.write_all(b"POST /mms HTTP/1.1\r\nX-MSISDN: ").unwrap();
        }
        hogs.push(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    // One more: refused with 503, not left hanging.
    let mut c = f.conn();
    c.set_read_timeout(Duration::from_secs(5)).unwrap();
    match c.post(
        "/mms",
        &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
        b"x",
    ) {
        Ok(r) => {
            assert_eq!(r.status, 503, "{r:?}");
            assert!(r.header("retry-after").is_some(), "{r:?}");
        }
        // The 503 may be cut short by the close (a reset).
        Err(e) => println!("over the limit: {e}"),
    }
    // The idle and slow connections time out; then service resumes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = f.conn();
        c.set_read_timeout(Duration::from_secs(5)).unwrap();
        let r = c.post(
            "/mms",
            &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
            &mm1::encode(&good_req("T-after-limit")),
        );
        if let Ok(r) = r
            && r.status == 200
        {
            let conf = send_conf(&r);
            assert_eq!(conf.response_status(), Some(ResponseStatus::OK));
            f.good += 1;
            f.good_ids
                .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume after the idle connections timed out"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("service resumed after {:?}", t.elapsed());
    for (i, s) in hogs.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        loop {
            match std::io::Read::read(s, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got);
        if i % 2 == 1 {
            assert!(
                text.starts_with("HTTP/1.1 408"),
                "a half-sent head: {text:?}"
            );
        } else {
            assert!(
                got.is_empty(),
                "an idle connection is closed silently: {text:?}"
            );
        }
    }
    f.finish();
}

#[test]
fn a_spoofed_from_is_replaced_by_the_msisdn() {
    let mut f = Fixture::new(Config::new());
    let mut req = good_req("T-spoof");
    req.set(
        field::FROM,
        Value::From(Some(mmsc_wire::mms::EncodedString::plain(
            b"+358401400666/TYPE=PLMN".to_vec(),
        ))),
    );
    let mid = Handset::new(&f.mmsc, A).submit_ok(&req);
    f.good += 1;
    f.good_ids.push(mid.clone());
    let token = mid.split('@').next().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let push = loop {
        if let Some(p) = f
            .mmsc
            .notifications()
            .into_iter()
            .find(|p| p.content_location().is_some_and(|l| l.contains(&token)))
        {
            break p;
        }
        assert!(Instant::now() < deadline, "no notification for {mid}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let n = push.decode();
    assert_eq!(
        mm1::text_of(&n, field::FROM).as_deref(),
        Some(mm1::plmn(A).as_str()),
        "notification From: {n:?}"
    );
    let conf = Handset::new(&f.mmsc, B).retrieve(&push.content_location().unwrap());
    assert_eq!(
        mm1::text_of(&conf, field::FROM).as_deref(),
        Some(mm1::plmn(A).as_str()),
        "m-retrieve-conf From: {conf:?}"
    );
    assert_eq!(conf.get_all(field::FROM).count(), 1, "one From: {conf:?}");
    f.finish();
}

/// Write the submits `reqs` (transaction id, m-send-req) pipelined on one connection, from
/// another thread (the server may hold back reading until it has answered), and check that
/// each gets m-send-conf Ok, in order; the octets written are at least `min_octets`.
fn pipelined_submits_are_answered_in_order(
    f: &mut Fixture,
    reqs: &[(String, Pdu<'static>)],
    min_octets: usize,
) {
    let mut c = f.conn();
    let mut w = Vec::new();
    for (_, req) in reqs {
        w.extend_from_slice(&request_bytes(
            "POST",
            "/mms",
            &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", A)],
            Some(&mm1::encode(req)),
        ));
    }
    assert!(w.len() >= min_octets, "{} octets written", w.len());
    let mut s = c.stream().try_clone().unwrap();
    let writer = std::thread::spawn(move || s.write_all(&w));
    for (tid, _) in reqs {
        let conf = send_conf(&c.read_response().unwrap());
        assert_eq!(conf.transaction_id(), Some(tid.as_bytes()));
        assert_eq!(conf.response_status(), Some(ResponseStatus::OK));
        f.good += 1;
        f.good_ids
            .push(mm1::text_of(&conf, field::MESSAGE_ID).unwrap());
    }
    writer.join().unwrap().unwrap();
}

#[test]
fn many_pipelined_submits_are_all_answered_in_order() {
    let mut f = Fixture::new(Config::new());
    let reqs: Vec<(String, Pdu<'static>)> = (0..60)
        .map(|i| {
            let tid = format!("T-pp{i}");
            let req = good_req(&tid);
            (tid, req)
        })
        .collect();
    pipelined_submits_are_answered_in_order(&mut f, &reqs, 0);
    f.finish();
}

/// Pipelined submits that add up to more than a connection buffers while a request is in
/// flight: the server holds its reads back, and reads the rest once it has answered.
#[test]
fn pipelined_submits_beyond_the_read_buffer_are_all_answered_in_order() {
    let mut f = Fixture::new(Config::new().set("mm1", "max_message_bytes", "65536"));
    let reqs: Vec<(String, Pdu<'static>)> = (0..16u64)
        .map(|i| {
            let tid = format!("T-big{i}");
            let parts = mm1::sample_parts("a bigger message", 40_000, i);
            let req = mm1::send_req(&tid, &[B], "big", false, parts);
            (tid, req)
        })
        .collect();
    // More than the server buffers (its request limit and a read) while one is in flight.
    pipelined_submits_are_answered_in_order(&mut f, &reqs, 6 * 65536);
    f.finish();
}
