//! The MM1 front, run on the dataplane core for every HTTP request: routing, subscriber
//! identification, PDU decoding and validation, and the answers that need no state. Requests
//! that change or read state become [`JobKind`]s for the control plane.
//!
//! Sans-I/O: a request and the peer's address in, an [`Action`] out.

use std::net::IpAddr;
use std::sync::Arc;

use mmsc_wire::http::Request;
use mmsc_wire::mms::build;
use mmsc_wire::mms::{MessageType, Pdu, ResponseStatus, RetrieveStatus, Version};
use mmsc_wire::{ErrorKind, Limits};

use crate::ring::{JobKind, MMS_CONTENT_TYPE, Response};
use crate::submit::SubmitRules;

/// Decides whether a peer address is a trusted proxy (WAP gateway / GGSN).
pub type TrustFn = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Settings of the MM1 front.
#[derive(Clone)]
pub struct Mm1Front {
    /// Path of the MM1 URL ("/mms"): POSTs go there; retrievals are GETs below it.
    pub path: String,
    /// Headers carrying the subscriber's MSISDN, first present wins.
    pub msisdn_headers: Vec<String>,
    /// Whether those headers are believed from a peer.
    pub trusted: TrustFn,
    /// Decoder limits (max_pdu_bytes is the largest message accepted).
    pub limits: Limits,
    /// The clock for Date headers of immediate answers (seconds since the epoch).
    pub now_secs: Arc<dyn Fn() -> u64 + Send + Sync>,
    /// The submit rules: with them an m-send-req is checked and planned here, on the core
    /// ([`JobKind::Submit`], or an m-send-conf refusing it); without them it goes to the
    /// control plane as a [`JobKind::Post`].
    pub rules: Option<Arc<SubmitRules>>,
}

impl std::fmt::Debug for Mm1Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mm1Front")
            .field("path", &self.path)
            .field("msisdn_headers", &self.msisdn_headers)
            .finish()
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Action {
    /// Answer now.
    Respond(Response),
    /// Hand to the control plane.
    Job(JobKind),
}

/// Normalize an MSISDN header value to E.164 with a leading '+': digits, optionally with
/// '+', spaces and dashes removed. `None` for anything else.
pub fn normalize_msisdn(v: &str) -> Option<String> {
    let v = v.trim();
    let rest = v.strip_prefix('+').unwrap_or(v);
    // Counted first, so that the answer is built once, at its size.
    let mut digits = 0usize;
    for b in rest.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b' ' | b'-' => {}
            _ => return None,
        }
    }
    if !(5..=15).contains(&digits) {
        return None;
    }
    let mut out = String::with_capacity(1 + digits);
    out.push('+');
    out.extend(rest.chars().filter(char::is_ascii_digit));
    Some(out)
}

/// A token is what follows the MM1 path in a Content-Location: letters, digits, '-', '_', '.'.
fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The version of an answer to a handset that spoke `v`: the newest this MMSC speaks at most.
pub fn reply_version(v: Version) -> Version {
    v.min(Version::V1_3)
}

/// An m-send-conf or m-forward-conf (`message_type`) as the answer to a submit or a forward
/// (the cores', their submitters' and the control plane's).
pub fn conf_response(
    message_type: MessageType,
    tid: Option<&[u8]>,
    version: Version,
    status: ResponseStatus,
    message_id: Option<&[u8]>,
) -> Response {
    let mut b =
        Vec::with_capacity(16 + tid.map_or(0, <[u8]>::len) + message_id.map_or(0, <[u8]>::len));
    match build::conf_into(&mut b, message_type, tid, version, status, message_id) {
        Ok(()) => Response::mms(b),
        Err(e) => Response::text(500, &format!("cannot encode the answer: {e}")),
    }
}

fn mms_conf(tid: Option<&[u8]>, version: Version, status: ResponseStatus) -> Response {
    conf_response(MessageType::SEND_CONF, tid, version, status, None)
}

/// An m-retrieve-conf carrying an error (answers to retrievals are always MMS PDUs).
pub fn retrieve_error(now: u64, status: RetrieveStatus, text: &str) -> Response {
    match build::retrieve_error(None, Version::V1_2, status, now, text).encode() {
        Ok(b) => Response::mms(b),
        Err(_) => Response::text(500, "cannot encode m-retrieve-conf"),
    }
}

impl Mm1Front {
    /// The subscriber behind a request: from the first present MSISDN header, believed only
    /// from a trusted peer.
    pub fn msisdn(&self, req: &Request, peer: IpAddr) -> Option<String> {
        if !(self.trusted)(peer) {
            return None;
        }
        self.msisdn_headers
            .iter()
            .find_map(|h| req.header_str(h))
            .and_then(normalize_msisdn)
    }

    /// Decide what to do with a request.
    pub fn handle(&self, req: Request, peer: IpAddr) -> Action {
        let path = req.path();
        let method = req.method();
        if path == self.path || path.strip_suffix('/') == Some(&self.path) {
            if method != "POST" {
                let mut r =
                    Response::text(405, "MM1 accepts POST here; retrieve with GET below it");
                r.headers.push(("Allow", "POST".into()));
                return Action::Respond(r);
            }
            return self.post(req, peer);
        }
        let Some(token) = path
            .strip_prefix(&self.path)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Action::Respond(Response::text(404, "not found"));
        };
        if method != "GET" {
            let mut r = Response::text(405, "Content-Locations are retrieved with GET");
            r.headers.push(("Allow", "GET".into()));
            return Action::Respond(r);
        }
        let now = (self.now_secs)();
        if !valid_token(token) {
            return Action::Respond(retrieve_error(
                now,
                RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
                "no such message",
            ));
        }
        let msisdn = self.msisdn(&req, peer);
        if msisdn.is_none() {
            return Action::Respond(retrieve_error(
                now,
                RetrieveStatus::ERROR_PERMANENT_SERVICE_DENIED,
                "subscriber not identified",
            ));
        }
        Action::Job(JobKind::Retrieve {
            msisdn,
            token: token.to_string(),
        })
    }

    fn post(&self, req: Request, peer: IpAddr) -> Action {
        let ct_ok = req.header_str("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(MMS_CONTENT_TYPE))
        });
        let msisdn = self.msisdn(&req, peer);
        let body = req.body();
        // The headers are what is looked at here: a multipart body is checked, not split.
        let (decoded, body_at) = match Pdu::decode_located_unsplit(body, &self.limits) {
            Ok((p, at)) => (Ok(p), at),
            Err(e) => (Err(e), None),
        };
        let (message_type, version) = match &decoded {
            Ok(p) => (p.message_type, p.version().unwrap_or(Version::V1_0)),
            Err(e) => {
                let (prefix, _) = Pdu::decode_prefix(body);
                if e.kind == ErrorKind::NotMmsPdu || prefix.message_type.0 == 0 {
                    // Nothing readable: an HTTP answer, not an MMS one.
                    return Action::Respond(if msisdn.is_none() {
                        Response::text(403, "subscriber not identified")
                    } else if !ct_ok {
                        Response::text(415, "expected application/vnd.wap.mms-message")
                    } else {
                        Response::text(400, &format!("not an MMS PDU: {e}"))
                    });
                }
                let version = prefix.version().unwrap_or(Version::V1_0);
                return Action::Respond(mms_conf(
                    prefix.transaction_id(),
                    version,
                    e.response_status(),
                ));
            }
        };
        let tid = decoded
            .as_ref()
            .ok()
            .and_then(|p| p.transaction_id().map(<[u8]>::to_vec));
        let Some(msisdn) = msisdn else {
            return Action::Respond(mms_conf(
                tid.as_deref(),
                version,
                ResponseStatus::ERROR_PERMANENT_SERVICE_DENIED,
            ));
        };
        if !ct_ok {
            return Action::Respond(Response::text(
                415,
                "expected application/vnd.wap.mms-message",
            ));
        }
        match message_type {
            MessageType::SEND_REQ
            | MessageType::NOTIFYRESP_IND
            | MessageType::ACKNOWLEDGE_IND
            | MessageType::READ_REC_IND
            | MessageType::FORWARD_REQ => {
                if message_type == MessageType::SEND_REQ {
                    if tid.is_none() {
                        return Action::Respond(mms_conf(
                            None,
                            version,
                            ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT,
                        ));
                    }
                    if let (Some(rules), Ok(pdu)) = (&self.rules, &decoded) {
                        // Checked and planned here; stored by the core's submitter (or the
                        // control plane).
                        let now = (self.now_secs)();
                        return match rules.plan(&msisdn, version, pdu, body_at, now) {
                            Ok(plan) => {
                                let plan = Box::new(plan);
                                let range = req.body_range();
                                drop(decoded);
                                Action::Job(JobKind::Submit {
                                    plan,
                                    buf: req.buf,
                                    body: range,
                                })
                            }
                            Err((tid, status)) => {
                                rules.count_refused();
                                Action::Respond(mms_conf(
                                    Some(&tid),
                                    reply_version(version),
                                    status,
                                ))
                            }
                        };
                    }
                }
                let range = req.body_range();
                Action::Job(JobKind::Post {
                    msisdn,
                    message_type,
                    version,
                    buf: req.buf,
                    body: range,
                })
            }
            _ => Action::Respond(mms_conf(
                tid.as_deref(),
                version,
                ResponseStatus::ERROR_UNSUPPORTED_MESSAGE,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsc_wire::http::{Event, HttpLimits, ServerConn};

    fn front() -> Mm1Front {
        Mm1Front {
            path: "/mms".into(),
            msisdn_headers: vec!["X-MSISDN".into(), "X-WAP-Network-Client-MSISDN".into()],
            trusted: Arc::new(|ip: IpAddr| ip.is_loopback()),
            limits: Limits::default(),
            now_secs: Arc::new(|| 1_700_000_000),
            rules: None,
        }
    }

    fn request(raw: &[u8]) -> Request {
        let mut c = ServerConn::new(HttpLimits::default(), 0);
        c.recv(raw, 0);
        match c.poll().unwrap() {
            Some(Event::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn post(headers: &str, body: &[u8]) -> Request {
        let mut raw = format!(
            "POST /mms HTTP/1.1\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        request(&raw)
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const FOREIGN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const SEND_REQ: &[u8] =
        b"\x8c\x80\x98T1\0\x8d\x92\x89\x01\x81\x97+358401/TYPE=PLMN\0\x84\x83hi";

    fn conf_status(a: Action) -> (Option<Vec<u8>>, ResponseStatus) {
        let Action::Respond(r) = a else {
            panic!("{a:?}")
        };
        assert_eq!(r.status, 200);
        let body = r.body[0].bytes().to_vec();
        let p = Pdu::decode(&body, &Limits::default()).unwrap();
        assert_eq!(p.message_type, MessageType::SEND_CONF);
        (
            p.transaction_id().map(<[u8]>::to_vec),
            p.response_status().unwrap(),
        )
    }

    #[test]
    fn msisdn_normalization() {
        assert_eq!(
            normalize_msisdn("358401234567").as_deref(),
            Some("+358401234567")
        );
        assert_eq!(
            normalize_msisdn(" +358 40-123 4567 ").as_deref(),
            Some("+358401234567")
        );
        assert_eq!(normalize_msisdn("abc"), None);
        assert_eq!(normalize_msisdn("+1234"), None);
    }

    /// What `normalize_msisdn` was before it stopped collecting and formatting.
    fn normalize_msisdn_reference(v: &str) -> Option<String> {
        let v = v.trim();
        let digits: String = v
            .strip_prefix('+')
            .unwrap_or(v)
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let ok = (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| format!("+{digits}"))
    }

    #[test]
    fn msisdns_normalize_as_they_did() {
        let mut inputs: Vec<String> = [
            "",
            "+",
            "++358401234567",
            "+358401234567",
            "358401234567",
            " +358 40-123 4567 ",
            "\t+358401234567\u{a0}",
            "+35840123456789012",
            "+3584012345678901",
            "1234",
            "12345",
            "123456789012345",
            "1234567890123456",
            "+1-2-3-4-5",
            "- - 1 2 3 4 5 - -",
            "+ 12345",
            "+-12345",
            "12345+",
            "１２３４５",
            "12345\u{e9}",
            "12a45",
            "12\u{0}45",
            "٣٤٥٦٧٨",
            "12 34\t56",
            "+358401234567/TYPE=PLMN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every short string over the alphabet that matters.
        let alphabet = ['1', '+', ' ', '-', 'x', '\u{e9}'];
        let mut layer = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for s in &layer {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            inputs.extend(next.iter().map(|s| format!("{s}2345")));
            inputs.extend(next.iter().cloned());
            layer = next;
        }
        for v in &inputs {
            assert_eq!(normalize_msisdn(v), normalize_msisdn_reference(v), "{v:?}");
        }
    }

    #[test]
    fn submit_from_a_trusted_proxy_becomes_a_job() {
        let f = front();
        let a = f.handle(
            post(
                "Content-Type: application/vnd.wap.mms-message\r\nX-MSISDN: 358401111\r\n",
                SEND_REQ,
            ),
            LOCAL,
        );
        match a {
            Action::Job(JobKind::Post {
                msisdn,
                message_type,
                version,
                buf,
                body,
            }) => {
                assert_eq!(msisdn, "+358401111");
                assert_eq!(message_type, MessageType::SEND_REQ);
                assert_eq!(version, Version::V1_2);
                assert_eq!(&buf[body], SEND_REQ);
            }
            other => panic!("{other:?}"),
        }
        // The second header name works too.
        let a = f.handle(
            post(
                "Content-Type: application/vnd.wap.mms-message\r\nX-WAP-Network-Client-MSISDN: +358402222\r\n",
                SEND_REQ,
            ),
            LOCAL,
        );
        assert!(
            matches!(a, Action::Job(JobKind::Post { ref msisdn, .. }) if msisdn == "+358402222")
        );
    }

    #[test]
    fn untrusted_or_missing_msisdn_is_denied() {
        let f = front();
        for (hdr, peer) in [
            ("X-MSISDN: 358401111\r\n", FOREIGN),
            ("", LOCAL),
            ("X-MSISDN: not-a-number\r\n", LOCAL),
        ] {
            let a = f.handle(
                post(
                    &format!("Content-Type: application/vnd.wap.mms-message\r\n{hdr}"),
                    SEND_REQ,
                ),
                peer,
            );
            let (tid, st) = conf_status(a);
            assert_eq!(tid.as_deref(), Some(&b"T1"[..]));
            assert_eq!(st, ResponseStatus::ERROR_PERMANENT_SERVICE_DENIED);
        }
        // Unreadable body and no subscriber: HTTP 403.
        let a = f.handle(
            post("Content-Type: application/vnd.wap.mms-message\r\n", b"junk"),
            FOREIGN,
        );
        assert!(matches!(a, Action::Respond(ref r) if r.status == 403));
    }

    #[test]
    fn malformed_pdus_get_the_matching_status_with_the_tid() {
        let f = front();
        let hdr = "Content-Type: application/vnd.wap.mms-message\r\nX-MSISDN: 358401111\r\n";
        let (tid, st) =
            conf_status(f.handle(post(hdr, b"\x8c\x80\x98T9\0\x8d\x92\x89\x1f\xff"), LOCAL));
        assert_eq!(tid.as_deref(), Some(&b"T9"[..]));
        assert_eq!(st, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT);
        // No transaction id in an m-send-req.
        let (_, st) = conf_status(f.handle(post(hdr, b"\x8c\x80\x8d\x92"), LOCAL));
        assert_eq!(st, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT);
        // Unsupported message type.
        let (_, st) = conf_status(f.handle(post(hdr, b"\x8c\x8b\x98T\0\x8d\x92"), LOCAL));
        assert_eq!(st, ResponseStatus::ERROR_UNSUPPORTED_MESSAGE);
        // Over the size limit.
        let mut small = front();
        small.limits.max_pdu_bytes = 10;
        let (_, st) = conf_status(small.handle(post(hdr, SEND_REQ), LOCAL));
        assert_eq!(st, ResponseStatus::ERROR_PERMANENT_CONTENT_NOT_ACCEPTED);
        // Garbage: not an MMS PDU at all.
        assert!(
            matches!(f.handle(post(hdr, b"garbage"), LOCAL), Action::Respond(ref r) if r.status == 400)
        );
        // Wrong content type.
        let a = f.handle(
            post(
                "Content-Type: text/html\r\nX-MSISDN: 358401111\r\n",
                SEND_REQ,
            ),
            LOCAL,
        );
        assert!(matches!(a, Action::Respond(ref r) if r.status == 415));
    }

    #[test]
    fn with_rules_a_submit_is_planned_here_or_refused_here() {
        let mut f = front();
        let rules = Arc::new(SubmitRules {
            local_prefixes: vec!["+358401".into()],
            default_expiry_secs: 60,
            max_expiry_secs: 60,
            ..SubmitRules::default()
        });
        f.rules = Some(Arc::clone(&rules));
        let hdr = "Content-Type: application/vnd.wap.mms-message\r\nX-MSISDN: 358401111\r\n";
        match f.handle(post(hdr, SEND_REQ), LOCAL) {
            Action::Job(JobKind::Submit { plan, buf, body }) => {
                assert_eq!(&buf[body], SEND_REQ);
                assert_eq!(plan.sender, "+358401111");
                assert_eq!(plan.tid, b"T1");
                assert_eq!(plan.recipients[0].msisdn.as_deref(), Some("+358401"));
                assert_eq!(plan.expiry_at, 1_700_000_060);
            }
            other => panic!("{other:?}"),
        }
        // No transaction id: refused as before, not planned.
        let (_, st) = conf_status(f.handle(post(hdr, b"\x8c\x80\x8d\x92"), LOCAL));
        assert_eq!(st, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT);
        assert_eq!(rules.refused.load(std::sync::atomic::Ordering::Relaxed), 0);
        // No recipient served here: refused on the core, and counted.
        let mut other = front();
        other.rules = Some(Arc::new(SubmitRules {
            local_prefixes: vec!["+4670".into()],
            ..SubmitRules::default()
        }));
        let (tid, st) = conf_status(other.handle(post(hdr, SEND_REQ), LOCAL));
        assert_eq!(tid.as_deref(), Some(&b"T1"[..]));
        assert_eq!(
            st,
            ResponseStatus::ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED
        );
        let refused = other
            .rules
            .as_ref()
            .unwrap()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(refused, 1);
    }

    #[test]
    fn routing() {
        let f = front();
        let get = |p: &str| {
            request(format!("GET {p} HTTP/1.1\r\nX-MSISDN: 358401111\r\n\r\n").as_bytes())
        };
        assert!(
            matches!(f.handle(get("/other"), LOCAL), Action::Respond(ref r) if r.status == 404)
        );
        assert!(matches!(f.handle(get("/mms"), LOCAL), Action::Respond(ref r) if r.status == 405));
        match f.handle(get("/mms/abc-1"), LOCAL) {
            Action::Job(JobKind::Retrieve { msisdn, token }) => {
                assert_eq!(
                    (msisdn.as_deref(), token.as_str()),
                    (Some("+358401111"), "abc-1")
                );
            }
            other => panic!("{other:?}"),
        }
        // A bad token and an unidentified subscriber get m-retrieve-conf errors, not HTML.
        for (p, peer, want) in [
            (
                "/mms/..%2f",
                LOCAL,
                RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
            ),
            (
                "/mms/abc-1",
                FOREIGN,
                RetrieveStatus::ERROR_PERMANENT_SERVICE_DENIED,
            ),
        ] {
            let Action::Respond(r) = f.handle(get(p), peer) else {
                panic!()
            };
            assert_eq!(r.content_type, Some(MMS_CONTENT_TYPE));
            let body = r.body[0].bytes().to_vec();
            let pdu = Pdu::decode(&body, &Limits::default()).unwrap();
            assert_eq!(pdu.retrieve_status(), Some(want));
        }
        let del = request(b"DELETE /mms/abc HTTP/1.1\r\n\r\n");
        assert!(matches!(f.handle(del, LOCAL), Action::Respond(ref r) if r.status == 405));
    }
}
