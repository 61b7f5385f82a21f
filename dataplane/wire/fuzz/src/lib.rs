//! Checks shared by the fuzz targets of `mmsc-wire`.
//!
//! Every check is a property that must hold for *any* input: a decoder returns a typed error or
//! a value; a decoded value encodes canonically (or is refused with a typed error for the few
//! values the lenient decoder keeps but the canonical encoder must not write), and the canonical
//! encoding decodes back to the same value (parse → emit → parse).

use std::fmt::Write as _;

use mmsc_wire::http::{Event, HttpError, HttpLimits, ServerConn};
use mmsc_wire::mms::field;
use mmsc_wire::push::{
    ConcatRef, MAX_USER_DATA, PushPdu, Reassembler, WAP_PUSH_PORT, WSP_CONNECTIONLESS_PORT,
    parse_user_data, reassemble, segment,
};
use mmsc_wire::reader::Reader;
use mmsc_wire::wsp::{Body, Part, decode_multipart, encode_multipart};
use mmsc_wire::{DecodeError, EncodeError, Limits, Pdu, Warning};

/// Small limits, so that the fuzzer reaches every limit check with inputs of a few hundred
/// octets.
pub fn small_limits() -> Limits {
    Limits {
        max_pdu_bytes: 64 * 1024,
        max_headers: 32,
        max_parts: 8,
        max_depth: 2,
        max_params: 4,
    }
}

/// The input as hex, for assertion messages (libFuzzer saves the input too).
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Encode errors that are a legitimate refusal of a decoded value.
///
/// The decoder is lenient: it keeps values that break the grammar but can be carried on
/// (an extension media type or a parameter token that is not an RFC 2616 token, an MM-Flags
/// or Mbox-Totals token octet below 0x80). The canonical encoder writes only well-formed
/// values and refuses those with [`EncodeError::BadToken`] or [`EncodeError::OutOfRange`].
/// Any other refusal ([`EncodeError::NulInText`], [`EncodeError::Inconsistent`], ...) of a
/// value the decoder produced is a bug: the decoder built something the two sides disagree on.
pub fn refusal_is_legitimate(e: &EncodeError) -> bool {
    matches!(e, EncodeError::BadToken(_) | EncodeError::OutOfRange(_))
}

fn check_error(e: &DecodeError, input_len: usize, limits: &Limits) {
    // The offset points into the input (or is the limit, for an oversized PDU).
    assert!(
        e.offset <= input_len.max(limits.max_pdu_bytes),
        "error offset {} beyond input of {input_len} octets: {e}",
        e.offset
    );
    let _ = e.to_string();
    let _ = e.response_status();
}

fn check_warnings(w: &[Warning], input_len: usize) {
    for w in w {
        assert!(
            w.offset <= input_len,
            "warning offset beyond input of {input_len} octets: {w}"
        );
        let _ = w.to_string();
    }
}

fn exercise_parts(parts: &[Part<'_>]) {
    for p in parts {
        let _ = p.content_type.to_string();
        let _ = p.content_type.charset();
        let _ = p.content_type.param("name");
        let _ = p.content_type.media.name();
        let _ = p.content_id();
        let _ = p.content_location();
        let _ = p.data();
        if let Body::Multipart(nested) = &p.body {
            assert!(
                p.content_type.media.is_wsp_multipart(),
                "nested entries under {}",
                p.content_type
            );
            exercise_parts(nested);
        }
    }
}

fn exercise_accessors(pdu: &Pdu<'_>) {
    let _ = pdu.transaction_id();
    let _ = pdu.version();
    let _ = pdu.message_id();
    if let Some(Some(from)) = pdu.from() {
        let _ = from.to_text();
    }
    for code in [field::TO, field::CC, field::BCC] {
        for r in pdu.recipients(code) {
            let _ = r.to_text_lossy();
        }
    }
    if let Some(s) = pdu.subject() {
        let _ = s.to_text();
        let _ = s.to_text_lossy();
    }
    let _ = pdu.content_location();
    let _ = pdu.response_status().map(|s| (s.name(), s.effective()));
    let _ = pdu.retrieve_status().map(|s| (s.name(), s.effective()));
    let _ = pdu.status().map(|s| s.name());
    let _ = pdu.message_type.name();
    let _ = pdu.date();
    let _ = pdu.message_size();
    let _ = pdu.expiry();
    let _ = pdu.yes_no(field::DELIVERY_REPORT);
    if let Some(ct) = &pdu.content_type {
        let _ = ct.to_string();
        let _ = ct.charset();
        let _ = ct.param("type");
        let _ = ct.param("start");
    }
    exercise_parts(pdu.parts());
    // Debug of everything (EncodedString's Debug converts charsets).
    let _ = format!("{pdu:?}");
}

/// The header-only decode (a multipart body checked, not split) fails exactly when the full
/// decode fails, with the same error, and otherwise gives the same headers and body offset.
fn check_unsplit(data: &[u8], limits: &Limits) {
    match (
        Pdu::decode_located(data, limits),
        Pdu::decode_located_unsplit(data, limits),
    ) {
        (Ok((f, fat)), Ok((u, uat))) => {
            assert_eq!(fat, uat, "body offsets differ\ninput: {}", hex(data));
            assert_eq!(
                (f.message_type, &f.headers, &f.content_type),
                (u.message_type, &u.headers, &u.content_type),
                "headers differ\ninput: {}",
                hex(data)
            );
            if !matches!(f.body, Some(Body::Multipart(_))) {
                assert_eq!(f.body, u.body, "bodies differ\ninput: {}", hex(data));
            }
        }
        (Err(f), Err(u)) => assert_eq!(f, u, "errors differ\ninput: {}", hex(data)),
        (f, u) => panic!(
            "decode_located {:?} but decode_located_unsplit {:?}\ninput: {}",
            f.map(|_| ()),
            u.map(|_| ()),
            hex(data)
        ),
    }
}

/// `Pdu::decode` on arbitrary input, then the accessors, `into_owned`, and the canonical
/// encoding and its identity.
pub fn check_pdu(data: &[u8]) {
    let limits = small_limits();
    check_unsplit(data, &limits);
    let (pdu, warnings) = match Pdu::decode_with_warnings(data, &limits) {
        Ok(ok) => ok,
        Err(e) => {
            check_error(&e, data.len(), &limits);
            return;
        }
    };
    check_warnings(&warnings, data.len());
    // The decoder's body offset is where the header-only scan puts it.
    let located = Pdu::decode_located(data, &limits).map(|(_, at)| at);
    assert_eq!(
        located.as_ref().ok(),
        Pdu::body_offset(data, &limits).as_ref().ok(),
        "decode_located and body_offset disagree\ninput: {}",
        hex(data)
    );
    exercise_accessors(&pdu);
    assert_eq!(pdu.clone().into_owned(), pdu, "into_owned changed the PDU");

    let bytes = match pdu.encode() {
        Ok(b) => b,
        Err(e) => {
            assert!(
                refusal_is_legitimate(&e),
                "encoder refused a decoded PDU: {e:?}\ninput: {}",
                hex(data)
            );
            return;
        }
    };
    // The size the encoder computes for the body is the size it writes.
    if let Some(body) = &pdu.body {
        let mut head = Vec::new();
        pdu.encode_headers_into(&mut head)
            .expect("headers encoded once already");
        assert_eq!(
            head.len() + body.encoded_len(),
            bytes.len(),
            "Body::encoded_len disagrees with the encoding\ninput: {}",
            hex(data)
        );
    }
    // The canonical form may be a few octets longer than a sloppy input (a From without its
    // token, a charset folded into the Content-Type): only the size limit is lifted.
    let relaxed = Limits {
        max_pdu_bytes: usize::MAX,
        ..limits
    };
    let again = match Pdu::decode(&bytes, &relaxed) {
        Ok(p) => p,
        Err(e) => panic!(
            "the canonical encoding does not decode: {e}\ninput:   {}\nencoded: {}",
            hex(data),
            hex(&bytes)
        ),
    };
    assert_eq!(
        again,
        pdu,
        "decode(encode(x)) != x\ninput:   {}\nencoded: {}",
        hex(data),
        hex(&bytes)
    );
}

/// `wsp::decode_multipart` on arbitrary input, then the canonical encoding and its identity.
pub fn check_multipart(data: &[u8]) {
    let limits = small_limits();
    let mut r = Reader::new(data);
    let mut warnings = Vec::new();
    let parts = match decode_multipart(&mut r, &limits, 0, &mut warnings) {
        Ok(p) => p,
        Err(e) => {
            check_error(&e, data.len(), &limits);
            return;
        }
    };
    assert!(r.is_empty(), "decode_multipart left octets unread");
    check_warnings(&warnings, data.len());
    exercise_parts(&parts);
    let owned: Vec<Part<'static>> = parts.iter().cloned().map(Part::into_owned).collect();
    assert_eq!(owned, parts, "into_owned changed the parts");

    let mut out = Vec::new();
    if let Err(e) = encode_multipart(&mut out, &parts) {
        assert!(
            refusal_is_legitimate(&e),
            "encoder refused decoded parts: {e:?}\ninput: {}",
            hex(data)
        );
        return;
    }
    let body = Body::Multipart(parts);
    assert_eq!(
        body.encoded_len(),
        out.len(),
        "Body::encoded_len disagrees with the encoding\ninput: {}",
        hex(data)
    );
    let mut w2 = Vec::new();
    let again = match decode_multipart(&mut Reader::new(&out), &limits, 0, &mut w2) {
        Ok(p) => p,
        Err(e) => panic!(
            "the canonical encoding does not decode: {e}\ninput:   {}\nencoded: {}",
            hex(data),
            hex(&out)
        ),
    };
    assert_eq!(
        again,
        body.parts(),
        "decode(encode(x)) != x\ninput:   {}\nencoded: {}",
        hex(data),
        hex(&out)
    );
}

/// `push::PushPdu::decode` on arbitrary input: accessors, `into_owned`, encode → decode
/// identity; an MMS push's body goes through [`check_pdu`].
pub fn check_push_pdu(data: &[u8]) {
    let limits = small_limits();
    let push = match PushPdu::decode(data, &limits) {
        Ok(p) => p,
        Err(e) => {
            check_error(&e, data.len(), &limits);
            return;
        }
    };
    let _ = push.content_type.to_string();
    let _ = push.app_id().map(|a| (a.name(), a.is_mms_ua()));
    let _ = push.application_id();
    let _ = push.content_length();
    for h in &push.headers {
        let _ = (h.code(), h.name());
    }
    let _ = format!("{push:?}");
    assert_eq!(
        push.clone().into_owned(),
        push,
        "into_owned changed the push"
    );
    match push.encode() {
        Ok(bytes) => {
            let relaxed = Limits {
                max_pdu_bytes: usize::MAX,
                ..limits
            };
            match PushPdu::decode(&bytes, &relaxed) {
                Ok(again) => assert_eq!(
                    again,
                    push,
                    "push: decode(encode(x)) != x\ninput:   {}\nencoded: {}",
                    hex(data),
                    hex(&bytes)
                ),
                Err(e) => panic!(
                    "push: the canonical encoding does not decode: {e}\ninput:   {}\nencoded: {}",
                    hex(data),
                    hex(&bytes)
                ),
            }
        }
        Err(e) => assert!(
            refusal_is_legitimate(&e),
            "push: encoder refused a decoded push: {e:?}\ninput: {}",
            hex(data)
        ),
    }
    // The body's own properties are the pdu_decode target's; here it need only not panic.
    if push.is_mms()
        && let Ok(pdu) = Pdu::decode(&push.body, &limits)
    {
        exercise_accessors(&pdu);
    }
}

/// `push::parse_user_data` on one SMS user data: the UDH re-encodes to one that parses back
/// the same, with the same payload.
pub fn check_user_data(ud: &[u8]) {
    let (udh, payload) = match parse_user_data(ud) {
        Ok(ok) => ok,
        Err(e) => {
            assert!(
                e.offset <= ud.len(),
                "user data error offset beyond input: {e}"
            );
            let _ = e.to_string();
            return;
        }
    };
    assert!(payload.len() < ud.len(), "the UDHL octet is not payload");
    let mut out = Vec::new();
    match udh.encode(&mut out) {
        Ok(()) => {
            assert_eq!(out.len(), udh.encoded_len(), "Udh::encoded_len disagrees");
            out.extend_from_slice(payload);
            match parse_user_data(&out) {
                Ok((udh2, payload2)) => {
                    assert_eq!(udh2, udh, "UDH: parse(encode(x)) != x\ninput: {}", hex(ud));
                    assert_eq!(
                        payload2,
                        payload,
                        "UDH: payload changed\ninput: {}",
                        hex(ud)
                    );
                }
                Err(e) => panic!(
                    "UDH: the encoding does not parse: {e}\ninput:   {}\nencoded: {}",
                    hex(ud),
                    hex(&out)
                ),
            }
        }
        // 8-bit ports are widened to 16 bits: a full UDH can outgrow its one-octet length.
        Err(EncodeError::OutOfRange(_)) => {}
        Err(e) => panic!(
            "UDH: encoder refused a parsed UDH: {e:?}\ninput: {}",
            hex(ud)
        ),
    }
}

/// Split `rest` into records `[tag] [len] [len octets]`: tag & 3 names one of four
/// originators. A last short record takes what is left.
pub fn records(mut rest: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let [tag, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (rec, next) = tail.split_at(n);
        out.push((tag & 3, rec));
        rest = next;
    }
    out
}

/// A permutation of `0..n` from a seed (Fisher-Yates with xorshift).
fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p.swap(i, (x % (i as u64 + 1)) as usize);
    }
    p
}

/// `push::segment` → `push::reassemble` / `push::Reassembler` identity for `payload`, in a
/// shuffled order, with `noise` segments from other originators interleaved.
pub fn check_segmentation(payload: &[u8], reference: u8, seed: u64, noise: &[(u8, &[u8])]) {
    let segs = match segment(payload, ConcatRef::Eight(reference)) {
        Ok(s) => s,
        Err(e) => {
            assert_eq!(e, EncodeError::TooManySegments, "segment refused: {e:?}");
            assert!(payload.len() > 255 * 128, "segment refused a small payload");
            return;
        }
    };
    assert!(!segs.is_empty());
    for s in &segs {
        assert!(s.len() <= MAX_USER_DATA, "an SMS of {} octets", s.len());
        let (udh, _) = parse_user_data(s).expect("our own segment parses");
        assert_eq!(
            (udh.dst_port, udh.src_port),
            (Some(WAP_PUSH_PORT), Some(WSP_CONNECTIONLESS_PORT))
        );
        assert_eq!(udh.concat.is_some(), segs.len() > 1);
    }
    let order = permutation(segs.len(), seed);
    let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
    assert_eq!(reassemble(&refs).expect("in order"), payload);
    let shuffled: Vec<&[u8]> = order.iter().filter_map(|&i| refs.get(i).copied()).collect();
    assert_eq!(reassemble(&shuffled).expect("shuffled"), payload);
    // A missing segment and a duplicate are errors, not a wrong message.
    assert!(
        reassemble(&refs[1..]).is_err(),
        "reassembled without segment 1"
    );
    let mut dup = refs.clone();
    dup.extend_from_slice(&refs[..1]);
    assert!(reassemble(&dup).is_err(), "reassembled with a duplicate");

    // Stateful: enough room for every noise message plus ours, so ours is never evicted.
    let mut ra = Reassembler::new(noise.len() + 1, 1 << 24);
    let mut done = Vec::new();
    let mut noise_it = noise.iter();
    for (k, &i) in order.iter().enumerate() {
        if let Some((tag, n)) = noise_it.next() {
            let _ = ra.push(&[b'n', *tag], n);
        }
        let seg = refs.get(i).copied().unwrap_or_default();
        if let Some(m) = ra.push(b"me", seg).expect("our segment is accepted") {
            done.push((k, m));
        }
        if k == 0 && segs.len() > 1 {
            assert_eq!(
                ra.push(b"me", seg).expect("duplicate"),
                None,
                "duplicate completed"
            );
        }
    }
    assert_eq!(done.len(), 1, "the message did not complete exactly once");
    if let Some((k, m)) = done.first() {
        assert_eq!(*k, order.len() - 1, "completed before its last segment");
        assert_eq!(m.as_slice(), payload, "Reassembler changed the payload");
    }
}

/// `push::reassemble` and a bounded `push::Reassembler` on arbitrary segments: no panic, and
/// the bounds hold.
pub fn check_reassembly(max_pending: usize, max_bytes: usize, segs: &[(u8, &[u8])]) {
    let only: Vec<&[u8]> = segs.iter().map(|(_, s)| *s).collect();
    let total: usize = only.iter().map(|s| s.len()).sum();
    match reassemble(&only) {
        Ok(m) => {
            assert!(m.len() <= total, "reassembled more octets than given");
            check_push_pdu(&m);
        }
        Err(e) => {
            assert!(
                e.offset <= total,
                "reassembly error offset beyond input: {e}"
            );
            let _ = e.to_string();
        }
    }
    let mut ra = Reassembler::new(max_pending, max_bytes);
    for (t, (tag, s)) in segs.iter().enumerate() {
        let _ = ra.push_at(t as u64, &[*tag], s);
        assert!(ra.pending() <= max_pending, "more pending than max_pending");
        assert!(ra.bytes() <= max_bytes, "more octets held than max_bytes");
    }
    let before = ra.pending();
    let expired = ra.expire_before(segs.len() as u64 / 2);
    assert_eq!(ra.pending() + expired, before);
    ra.clear();
    assert_eq!((ra.pending(), ra.bytes()), (0, 0));
}

/// The push_reassembly target: the input as a WSP push, as one SMS user data, as the payload
/// of a segmentation round trip, and (after three config octets) as records of SMS segments.
pub fn check_push(data: &[u8]) {
    check_push_pdu(data);
    check_user_data(data);
    let (cfg, rest) = match data {
        [a, b, c, rest @ ..] => ([*a, *b, *c], rest),
        _ => return,
    };
    let recs = records(rest);
    check_segmentation(data, cfg[1], u64::from(cfg[2]) + 1, &recs);
    for (_, r) in &recs {
        check_user_data(r);
    }
    let max_pending = usize::from(cfg[0] & 7);
    let max_bytes = usize::from(cfg[0] >> 3) * 48;
    check_reassembly(max_pending, max_bytes, &recs);
}

/// What a connection made of a byte stream: the requests (method, target, headers, body,
/// HTTP/1.1, keep-alive) and the error that closed it, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpOutcome {
    /// Requests in order.
    pub requests: Vec<HttpSeen>,
    /// The error the connection ended with.
    pub error: Option<HttpError>,
}

/// One request as the application sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpSeen {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Header fields, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Body.
    pub body: Vec<u8>,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// Keep-alive.
    pub keep_alive: bool,
}

/// Small HTTP limits (reparsing a partial head on every poll is quadratic) and timeouts that
/// never fire, so that the outcome depends on the octets only.
pub fn small_http_limits() -> HttpLimits {
    HttpLimits {
        max_head_bytes: 512,
        max_headers: 8,
        max_body_bytes: 2048,
        idle_timeout_ms: 1 << 40,
        request_timeout_ms: 1 << 40,
    }
}

/// Feed `stream` to a new `http::ServerConn` `step` octets at a time (through
/// `spare_from`/`filled` when `zero_copy`, offering used storage every other read, else
/// `recv`), answering every request at once.
pub fn run_http(stream: &[u8], limits: &HttpLimits, step: usize, zero_copy: bool) -> HttpOutcome {
    let mut conn = ServerConn::new(limits.clone(), 0);
    let mut out = HttpOutcome {
        requests: Vec::new(),
        error: None,
    };
    for (t, chunk) in (1u64..).zip(stream.chunks(step.max(1))) {
        if zero_copy {
            let n = chunk.len();
            // Every other read offers used storage (garbage in it) as a pool would: what is
            // buffered must move into it intact.
            let fresh = (t % 2 == 1).then(|| vec![0xA5; conn.buffered() + n + (t as usize % 7)]);
            match conn.spare_from(n, fresh).get_mut(..n) {
                Some(dst) => dst.copy_from_slice(chunk),
                None => panic!("spare({n}) returned less than {n} octets"),
            }
            conn.filled(n, t);
        } else {
            conn.recv(chunk, t);
        }
        loop {
            match conn.poll() {
                Ok(Some(Event::Request(req))) => {
                    assert!(
                        req.body_range().end <= req.buf.len(),
                        "body beyond the request buffer"
                    );
                    assert!(req.body_range().start <= req.body_range().end);
                    if let Some(l) = req.header_str("content-length")
                        && req.header("transfer-encoding").is_none()
                    {
                        assert_eq!(l.parse::<usize>().ok(), Some(req.body().len()));
                    }
                    let _ = (req.path(), req.query(), req.header_str("host"));
                    assert!(
                        conn.is_busy(),
                        "a request is in flight but the connection is idle"
                    );
                    assert!(
                        matches!(conn.poll(), Ok(None)),
                        "polled past a busy request"
                    );
                    out.requests.push(HttpSeen {
                        method: req.method().to_owned(),
                        target: req.target().to_owned(),
                        headers: req
                            .headers()
                            .map(|(n, v)| (n.to_vec(), v.to_vec()))
                            .collect(),
                        body: req.body().to_vec(),
                        http11: req.http11,
                        keep_alive: req.keep_alive,
                    });
                    conn.response_done(t);
                }
                Ok(Some(Event::Continue)) => {}
                Ok(None) => break,
                Err(e) => {
                    let _ = (e.status(), e.to_string());
                    assert!(
                        matches!(conn.poll(), Ok(None)),
                        "polled a closed connection"
                    );
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    let _ = (
        conn.deadline(),
        conn.check_timeout(1 << 41),
        conn.buffered(),
    );
    out
}

/// The http target: the stream after one config octet, fed whole and in pieces of 1..=16
/// octets; what the application sees must not depend on how TCP cut the stream.
pub fn check_http(data: &[u8]) {
    let Some((&cfg, stream)) = data.split_first() else {
        return;
    };
    let limits = small_http_limits();
    let whole = run_http(stream, &limits, stream.len(), false);
    let step = usize::from(cfg & 15) + 1;
    let pieces = run_http(stream, &limits, step, cfg & 16 != 0);
    assert_eq!(
        whole,
        pieces,
        "the outcome depends on segmentation ({step}-octet pieces)\ninput: {}",
        hex(data)
    );
}

/// The pdu_json target. Input that parses as JSON goes to `json::from_json` (the form
/// `mmsc pdu encode` reads); anything else to `Pdu::decode`. Either way, once there is a PDU the
/// canonical encoding can carry: its JSON form survives JSON → PDU → octets → PDU → JSON
/// unchanged (the module's documented property).
pub fn check_pdu_json(data: &[u8]) {
    let limits = small_limits();
    if let Ok(j) = serde_json::from_slice::<serde_json::Value>(data) {
        match mmsc_wire::json::from_json(&j) {
            Ok(p) => check_json_stable(&p, data),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        return;
    }
    if let Ok(p) = Pdu::decode(data, &limits) {
        check_json_stable(&p, data);
    }
}

fn check_json_stable(p: &Pdu<'_>, data: &[u8]) {
    // Only PDUs the canonical encoder accepts have a canonical JSON form to compare.
    if p.encode().is_err() {
        return;
    }
    let j1 = mmsc_wire::json::to_json(p);
    let p2 = match mmsc_wire::json::from_json(&j1) {
        Ok(p2) => p2,
        Err(e) => panic!(
            "from_json refused to_json's output: {e}\nJSON: {j1}\ninput: {}",
            hex(data)
        ),
    };
    let bytes = match p2.encode() {
        Ok(b) => b,
        Err(e) => panic!(
            "the PDU from JSON does not encode: {e:?}\nJSON: {j1}\ninput: {}",
            hex(data)
        ),
    };
    let relaxed = Limits {
        max_pdu_bytes: usize::MAX,
        ..small_limits()
    };
    let p3 = match Pdu::decode(&bytes, &relaxed) {
        Ok(p3) => p3,
        Err(e) => panic!(
            "the encoding of the PDU from JSON does not decode: {e}\nJSON: {j1}\nencoded: {}\ninput: {}",
            hex(&bytes),
            hex(data)
        ),
    };
    let j2 = mmsc_wire::json::to_json(&p3);
    assert_eq!(
        j1,
        j2,
        "JSON → PDU → octets → PDU → JSON changed it\ninput: {}",
        hex(data)
    );
}
