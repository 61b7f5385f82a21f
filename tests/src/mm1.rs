//! MM1 from the handset's side: the PDUs a handset sends (built with `mmsc_wire`), a
//! [`Handset`] that POSTs and GETs them through a trusted-proxy connection, and checks of
//! what comes back.

use std::borrow::Cow;

use mmsc_wire::mms::{EncodedString, MessageType, Status, Value, Version, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType, ParamName, ParamValue, Part, PartHeader};
use mmsc_wire::{Limits, Pdu};

use crate::http::{HttpConn, Response};
use crate::server::Mmsc;

/// The MIME type of MM1 bodies.
pub const MMS_CONTENT_TYPE: &str = "application/vnd.wap.mms-message";

/// A SMIL presentation referring to the parts of [`sample_parts`].
pub const SMIL: &str = r#"<smil><head><layout><root-layout width="176" height="208"/><region id="Image" top="0" left="0" width="176" height="144"/><region id="Text" top="144" left="0" width="176" height="64"/></layout></head><body><par dur="5000ms"><img src="image1.jpg" region="Image"/><text src="text1.txt" region="Text"/></par></body></smil>"#;

/// `+358...` as an MMS address (`+358.../TYPE=PLMN`).
pub fn plmn(msisdn: &str) -> String {
    format!("{msisdn}/TYPE=PLMN")
}

/// Octets that look like a JPEG (SOI, JFIF APP0, pseudo-random data, EOI), `len` octets
/// (at least 24), different for each `seed`.
pub fn jpeg_like(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() + 2 < len.max(24) {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 24) as u8);
    }
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn cid(p: &mut Part<'static>, id: &str, location: &str) {
    p.headers.push(PartHeader::ContentId {
        value: Cow::Owned(id.as_bytes().to_vec()),
        quoted: true,
    });
    p.headers.push(PartHeader::ContentLocation(Cow::Owned(
        location.as_bytes().to_vec(),
    )));
}

/// A slide: SMIL (Content-ID `<smil>`), text/plain; charset=utf-8 with `text`, and an
/// image/jpeg of `image_len` octets made from `seed`; each with Content-ID and
/// Content-Location.
pub fn sample_parts(text: &str, image_len: usize, seed: u64) -> Vec<Part<'static>> {
    let mut smil = Part::new(
        ContentType::new(MediaType::Text(Cow::Borrowed(b"application/smil"))),
        SMIL.as_bytes().to_vec(),
    );
    cid(&mut smil, "<smil>", "smil.xml");
    let mut txt = Part::new(
        ContentType::new(MediaType::WellKnown(0x03)).with(
            ParamName::WellKnown(0x01),
            ParamValue::Integer(mmsc_wire::charset::UTF_8),
        ),
        text.as_bytes().to_vec(),
    );
    cid(&mut txt, "<text1>", "text1.txt");
    let mut img = Part::new(
        ContentType::new(MediaType::WellKnown(0x1E)),
        jpeg_like(image_len, seed),
    );
    cid(&mut img, "<image1>", "image1.jpg");
    vec![smil, txt, img]
}

/// application/vnd.wap.multipart.related; start=<smil>; type=application/smil
pub fn related_content_type() -> ContentType<'static> {
    ContentType::new(MediaType::WellKnown(0x33))
        .with(
            ParamName::WellKnown(0x0A),
            ParamValue::Text(Cow::Borrowed(b"<smil>")),
        )
        .with(
            ParamName::WellKnown(0x09),
            ParamValue::Text(Cow::Borrowed(b"application/smil")),
        )
}

/// An m-send-req (MMS 1.2) from the insert-address token to `to` (`+358...` numbers or full
/// addresses), multipart.related with `parts`.
pub fn send_req(
    tid: &str,
    to: &[&str],
    subject: &str,
    delivery_report: bool,
    parts: Vec<Part<'static>>,
) -> Pdu<'static> {
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(
            field::TRANSACTION_ID,
            Value::Text(Cow::Owned(tid.as_bytes().to_vec())),
        )
        .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
        .with(field::FROM, Value::From(None));
    for t in to {
        let a = if t.contains('/') || t.contains('@') {
            (*t).to_owned()
        } else {
            plmn(t)
        };
        p.push(
            field::TO,
            Value::Encoded(EncodedString::plain(a.into_bytes())),
        );
    }
    p.push(
        field::SUBJECT,
        Value::Encoded(EncodedString::plain(subject.as_bytes().to_vec())),
    );
    p.push(
        field::DELIVERY_REPORT,
        Value::Octet(if delivery_report { 0x80 } else { 0x81 }),
    );
    p.set_body(related_content_type(), Body::Multipart(parts));
    p
}

/// m-notifyresp-ind (MMS 1.2) for the notification with transaction id `tid`.
pub fn notifyresp_ind(tid: &[u8], status: Status) -> Vec<u8> {
    encode(
        &Pdu::new(MessageType::NOTIFYRESP_IND)
            .with(field::TRANSACTION_ID, Value::Text(Cow::Owned(tid.to_vec())))
            .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0))
            .with(field::STATUS, Value::Octet(status.0)),
    )
}

/// m-acknowledge-ind (MMS 1.2) for the m-retrieve-conf with transaction id `tid`.
pub fn acknowledge_ind(tid: &[u8]) -> Vec<u8> {
    encode(
        &Pdu::new(MessageType::ACKNOWLEDGE_IND)
            .with(field::TRANSACTION_ID, Value::Text(Cow::Owned(tid.to_vec())))
            .with(field::MMS_VERSION, Value::Octet(0x80 | Version::V1_2.0)),
    )
}

/// Encode, panicking on error.
pub fn encode(p: &Pdu<'_>) -> Vec<u8> {
    p.encode()
        .unwrap_or_else(|e| panic!("encode {:?}: {e}", p.message_type))
}

/// Decode an owned copy, panicking (with a hex dump) on error.
pub fn decode(b: &[u8]) -> Pdu<'static> {
    Pdu::decode(b, &Limits::default())
        .unwrap_or_else(|e| panic!("decode {}: {e}", hex(&b[..b.len().min(200)])))
        .into_owned()
}

/// Space-separated hex.
pub fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A text field of a PDU as a string.
pub fn text_of(p: &Pdu<'_>, code: u8) -> Option<String> {
    match p.get(code)? {
        Value::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        Value::Encoded(e) => Some(e.to_text_lossy().into_owned()),
        Value::From(Some(e)) => Some(e.to_text_lossy().into_owned()),
        _ => None,
    }
}

/// The addresses of one kind (To, Cc, Bcc) as strings.
pub fn addresses(p: &Pdu<'_>, code: u8) -> Vec<String> {
    p.recipients(code)
        .map(|e| e.to_text_lossy().into_owned())
        .collect()
}

/// One part, described for comparisons: content type (with parameters), Content-ID,
/// Content-Location, data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartView {
    /// Content type as `media; p=v; ...`.
    pub content_type: String,
    /// Content-ID.
    pub content_id: Option<String>,
    /// Content-Location.
    pub content_location: Option<String>,
    /// Data.
    pub data: Vec<u8>,
}

/// A part header sent in its textual form (`Content-ID\0<0000>\0`, as python-messaging
/// writes it) rather than as a well-known code.
fn textual_header<'p>(p: &'p Part<'_>, name: &str) -> Option<&'p [u8]> {
    p.headers.iter().find_map(|h| match h {
        PartHeader::Text { name: n, value } if n.eq_ignore_ascii_case(name.as_bytes()) => {
            Some(&value[..])
        }
        _ => None,
    })
}

/// Describe the parts of a multipart body (a Content-ID or Content-Location in either the
/// well-known or the textual header form).
pub fn part_views(parts: &[Part<'_>]) -> Vec<PartView> {
    parts
        .iter()
        .map(|p| {
            let mut ct = p.content_type.media.name().into_owned();
            let mut params = String::new();
            let _ = mmsc_wire::wsp::content_type::write_params(&mut params, &p.content_type.params);
            ct.push_str(&params);
            PartView {
                content_type: ct,
                content_id: p
                    .content_id()
                    .or_else(|| textual_header(p, "Content-ID"))
                    .map(|c| String::from_utf8_lossy(c).into_owned()),
                content_location: p
                    .content_location()
                    .or_else(|| textual_header(p, "Content-Location"))
                    .map(|c| String::from_utf8_lossy(c).into_owned()),
                data: p.data().unwrap_or_default().to_vec(),
            }
        })
        .collect()
}

/// Assert that two multipart bodies carry the same parts: content types, Content-IDs,
/// Content-Locations, octets, and every part header.
pub fn assert_same_parts(got: &[Part<'_>], want: &[Part<'_>], what: &str) {
    let (g, w) = (part_views(got), part_views(want));
    assert_eq!(g.len(), w.len(), "{what}: number of parts: {g:#?}");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert_eq!(
            a.content_type, b.content_type,
            "{what}: part {i} content type"
        );
        assert_eq!(a.content_id, b.content_id, "{what}: part {i} Content-ID");
        assert_eq!(
            a.content_location, b.content_location,
            "{what}: part {i} Content-Location"
        );
        assert!(
            a.data == b.data,
            "{what}: part {i} data differ ({} octets, want {})",
            a.data.len(),
            b.data.len()
        );
    }
    assert_eq!(got, want, "{what}: parts (headers in full)");
}

/// The path of an absolute `http://host:port/path` URL (or the URL itself when it has none).
pub fn url_path(url: &str) -> &str {
    match url.strip_prefix("http://") {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => url,
    }
}

/// A handset behind the operator's WAP gateway: one keep-alive connection to mmsc, every
/// request carrying `X-MSISDN`.
#[derive(Debug)]
pub struct Handset {
    /// Its MSISDN (`+358...`).
    pub msisdn: String,
    conn: HttpConn,
    path: String,
    addr: std::net::SocketAddr,
}

impl Handset {
    /// A handset with this MSISDN, connected to `mmsc`.
    pub fn new(mmsc: &Mmsc, msisdn: &str) -> Handset {
        Handset {
            msisdn: msisdn.to_owned(),
            conn: mmsc.connect(),
            path: mmsc.path().to_owned(),
            addr: mmsc.addr(),
        }
    }

    fn reconnect_on_error<T>(
        &mut self,
        f: impl Fn(&mut HttpConn) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        match f(&mut self.conn) {
            Ok(r) => Ok(r),
            // The server may have closed an idle keep-alive connection: one new try.
            Err(_) => {
                self.conn = HttpConn::connect(self.addr)?;
                f(&mut self.conn)
            }
        }
    }

    /// POST a PDU to the MM1 URL and return the HTTP answer.
    pub fn post(&mut self, pdu: &[u8]) -> Response {
        let path = self.path.clone();
        let msisdn = self.msisdn.clone();
        self.reconnect_on_error(|c| {
            c.post(
                &path,
                &[
                    ("Content-Type", MMS_CONTENT_TYPE),
                    ("X-MSISDN", msisdn.as_str()),
                ],
                pdu,
            )
        })
        .unwrap_or_else(|e| panic!("{}: POST {path}: {e}", self.msisdn))
    }

    /// POST a PDU that the MMSC answers with a PDU (m-send-conf, m-forward-conf): check the
    /// HTTP status and content type and return the answer decoded.
    pub fn post_for_pdu(&mut self, pdu: &[u8]) -> Pdu<'static> {
        let r = self.post(pdu);
        assert_eq!(r.status, 200, "{}: POST answered {r:?}", self.msisdn);
        assert_eq!(
            r.media_type().as_deref(),
            Some(MMS_CONTENT_TYPE),
            "{}: {r:?}",
            self.msisdn
        );
        decode(&r.body)
    }

    /// Submit an m-send-req and return the m-send-conf.
    pub fn submit(&mut self, req: &Pdu<'_>) -> Pdu<'static> {
        let conf = self.post_for_pdu(&encode(req));
        assert_eq!(conf.message_type, MessageType::SEND_CONF, "{conf:?}");
        conf
    }

    /// Submit and expect Ok; returns the Message-ID.
    pub fn submit_ok(&mut self, req: &Pdu<'_>) -> String {
        let conf = self.submit(req);
        assert_eq!(
            conf.response_status(),
            Some(mmsc_wire::mms::ResponseStatus::OK),
            "{}: m-send-conf {conf:?}",
            self.msisdn
        );
        assert_eq!(
            conf.transaction_id(),
            req.transaction_id(),
            "the TID is echoed"
        );
        text_of(&conf, field::MESSAGE_ID).expect("m-send-conf Ok carries a Message-ID")
    }

    /// POST a report or acknowledgement (m-notifyresp-ind, m-acknowledge-ind, ...) and expect
    /// a 2xx with no MMS error.
    pub fn post_ok(&mut self, pdu: &[u8]) {
        let r = self.post(pdu);
        assert!(
            (200..300).contains(&r.status),
            "{}: POST answered {r:?}",
            self.msisdn
        );
    }

    /// GET a Content-Location (absolute URL or path) and return the HTTP answer.
    pub fn get(&mut self, location: &str) -> Response {
        let path = url_path(location).to_owned();
        let msisdn = self.msisdn.clone();
        self.reconnect_on_error(|c| c.get(&path, &[("X-MSISDN", msisdn.as_str())]))
            .unwrap_or_else(|e| panic!("{}: GET {path}: {e}", self.msisdn))
    }

    /// Retrieve: GET, check the HTTP answer, return the m-retrieve-conf.
    pub fn retrieve(&mut self, location: &str) -> Pdu<'static> {
        let r = self.get(location);
        assert_eq!(r.status, 200, "{}: GET {location}: {r:?}", self.msisdn);
        assert_eq!(r.media_type().as_deref(), Some(MMS_CONTENT_TYPE), "{r:?}");
        let p = decode(&r.body);
        assert_eq!(p.message_type, MessageType::RETRIEVE_CONF, "{p:?}");
        p
    }
}
