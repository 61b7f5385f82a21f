//! An MMS PDU: its message type, headers, Content-Type and body.
//!
//! [`Pdu::decode`] borrows every string and every part's data from the input (`Pdu<'a>`);
//! [`Pdu::into_owned`] gives a `Pdu<'static>` for storage or building. Encoding is canonical:
//! X-Mms-Message-Type first, then X-Mms-Transaction-ID and X-Mms-MMS-Version, then the other
//! headers in their order, Content-Type last. Decoding puts headers in the same order, so
//! `decode(encode(x)) == x` for every decoded `x`.

use std::borrow::Cow;

use crate::error::{DecodeError, EncodeError, ErrorKind, Limit};
use crate::mms::enums::{MessageType, ResponseStatus, RetrieveStatus, Status, Version};
use crate::mms::header::{
    EncodedString, Header, HeaderName, TimeValue, Value, decode_value, encode_value, field,
};
use crate::reader::Reader;
use crate::wsp::multipart::check_multipart;
use crate::wsp::{Body, ContentType, decode_multipart, encode_multipart};
use crate::{Limits, Warning, WarningKind, writer};

/// Header slots a decode allocates at once.
const HEADERS_RESERVED: usize = 16;

/// An MMS PDU.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pdu<'a> {
    /// X-Mms-Message-Type.
    pub message_type: MessageType,
    /// All other headers but Content-Type, in canonical order.
    pub headers: Vec<Header<'a>>,
    /// Content-Type; present exactly when there is a body.
    pub content_type: Option<ContentType<'a>>,
    /// The body (multipart entries or data).
    pub body: Option<Body<'a>>,
}

fn rank(h: &Header<'_>) -> u8 {
    match h.name {
        HeaderName::Field(field::TRANSACTION_ID) => 0,
        HeaderName::Field(field::MMS_VERSION) => 1,
        _ => 2,
    }
}

impl<'a> Pdu<'a> {
    /// A PDU of this type with no headers.
    pub fn new(message_type: MessageType) -> Self {
        Pdu {
            message_type,
            headers: Vec::new(),
            content_type: None,
            body: None,
        }
    }

    /// Decode with `limits`; warnings about tolerated sloppiness are dropped.
    pub fn decode(buf: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        Self::decode_with_warnings(buf, limits).map(|(p, _)| p)
    }

    /// Decode with `limits`, and say what was tolerated.
    pub fn decode_with_warnings(
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<(Self, Vec<Warning>), DecodeError> {
        Self::decode_all(buf, limits, true).map(|(p, w, _)| (p, w))
    }

    /// Decode with `limits`, and say where the body starts in `buf` (just after the
    /// Content-Type value; `None` without a body): what [`Pdu::body_offset`] finds, without
    /// parsing the headers again.
    pub fn decode_located(
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<(Self, Option<usize>), DecodeError> {
        Self::decode_all(buf, limits, true).map(|(p, _, at)| (p, at))
    }

    /// As [`Pdu::decode_located`], for a caller that needs the headers only: a multipart body
    /// is checked as the full decode checks it (`Err` exactly when, and with the error that,
    /// [`Pdu::decode_located`] fails) but not split into its entries; the body is then
    /// [`Body::Data`] of its octets (re-encoded, the same octets). Nothing is allocated for
    /// the entries.
    pub fn decode_located_unsplit(
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<(Self, Option<usize>), DecodeError> {
        Self::decode_all(buf, limits, false).map(|(p, _, at)| (p, at))
    }

    // Inlined into its callers: `split` is then a constant.
    #[inline(always)]
    fn decode_all(
        buf: &'a [u8],
        limits: &Limits,
        split: bool,
    ) -> Result<(Self, Vec<Warning>, Option<usize>), DecodeError> {
        if buf.len() > limits.max_pdu_bytes {
            return Err(DecodeError::new(
                ErrorKind::Limit(Limit::PduBytes),
                limits.max_pdu_bytes,
            ));
        }
        let mut warnings = Vec::new();
        let mut r = Reader::new(buf);
        if r.peek() != Some(field::MESSAGE_TYPE) {
            return Err(r.err(ErrorKind::NotMmsPdu));
        }
        r.u8()?;
        let at = r.offset();
        let mt = r.u8()?;
        if mt < 0x80 {
            return Err(r.err_at(ErrorKind::InvalidValue("X-Mms-Message-Type"), at));
        }
        let message_type = MessageType(mt);
        let mut pdu = Pdu::new(message_type);
        // One allocation for the usual count (a submit has about ten), not a regrowth at 4
        // and 8.
        pdu.headers
            .reserve(HEADERS_RESERVED.min(limits.max_headers));
        let mut body_offset = None;
        while let Some(b) = r.peek() {
            if pdu.headers.len() >= limits.max_headers {
                return Err(r.err(ErrorKind::Limit(Limit::Headers)));
            }
            let at = r.offset();
            match b {
                field::CONTENT_TYPE => {
                    r.u8()?;
                    let ct = ContentType::decode(&mut r, limits)?;
                    let body_at = r.offset();
                    body_offset = Some(body_at);
                    let rest = r.take_rest();
                    let body = if ct.media.is_wsp_multipart() && split {
                        let mut br = Reader::with_base(rest, body_at);
                        Body::Multipart(decode_multipart(&mut br, limits, 0, &mut warnings)?)
                    } else if ct.media.is_wsp_multipart() {
                        check_multipart(&mut Reader::with_base(rest, body_at), limits)?;
                        Body::Data(Cow::Borrowed(rest))
                    } else {
                        Body::Data(Cow::Borrowed(rest))
                    };
                    pdu.content_type = Some(ct);
                    pdu.body = Some(body);
                    break;
                }
                field::MESSAGE_TYPE => {
                    return Err(r.err(ErrorKind::InvalidValue("repeated X-Mms-Message-Type")));
                }
                0x80..=0xFF => {
                    r.u8()?;
                    let value = decode_value(&mut r, b, message_type, limits, &mut warnings)?;
                    pdu.headers.push(Header {
                        name: HeaderName::Field(b),
                        value,
                    });
                }
                0x20..=0x7E => {
                    let name = r.until_nul()?;
                    let value = r.text_string()?;
                    pdu.headers.push(Header {
                        name: HeaderName::Application(Cow::Borrowed(name)),
                        value: Value::Text(Cow::Borrowed(value)),
                    });
                }
                _ => {
                    // Handsets leave stray NULs after the last header; nothing else is
                    // skipped.
                    if r.rest().iter().all(|&z| z == 0) {
                        warnings.push(Warning {
                            offset: at,
                            kind: WarningKind::TrailingBytes(r.remaining()),
                        });
                        r.take_rest();
                        break;
                    }
                    return Err(r.err(ErrorKind::Unexpected {
                        byte: b,
                        what: "header field",
                    }));
                }
            }
        }
        // Usually in order already (transaction id and version first): then nothing moves.
        if !pdu.headers.is_sorted_by_key(rank) {
            pdu.headers.sort_by_key(rank);
        }
        Ok((pdu, warnings, body_offset))
    }

    /// Where the body starts in an encoded PDU (just after the Content-Type value): a stored
    /// message's body can then be served as it is, behind freshly encoded headers.
    pub fn body_offset(buf: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
        let mut r = Reader::new(buf);
        if r.peek() != Some(field::MESSAGE_TYPE) {
            return Err(r.err(ErrorKind::NotMmsPdu));
        }
        r.u8()?;
        let mt = MessageType(r.u8()?);
        let mut warnings = Vec::new();
        while let Some(b) = r.peek() {
            match b {
                field::CONTENT_TYPE => {
                    r.u8()?;
                    ContentType::decode(&mut r, limits)?;
                    return Ok(Some(r.offset()));
                }
                0x80..=0xFF => {
                    r.u8()?;
                    decode_value(&mut r, b, mt, limits, &mut warnings)?;
                }
                0x20..=0x7E => {
                    r.until_nul()?;
                    r.text_string()?;
                }
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The headers that decode before the first error (with that error), for answering a
    /// malformed request: its transaction id and version can usually still be echoed.
    pub fn decode_prefix(buf: &'a [u8]) -> (Self, Option<DecodeError>) {
        let mut r = Reader::new(buf);
        let mut pdu = Pdu::new(MessageType(0));
        if r.peek() != Some(field::MESSAGE_TYPE) {
            return (pdu, Some(r.err(ErrorKind::NotMmsPdu)));
        }
        let _ = r.u8();
        match r.u8() {
            Ok(mt) if mt >= 0x80 => pdu.message_type = MessageType(mt),
            _ => {
                return (
                    pdu,
                    Some(r.err(ErrorKind::InvalidValue("X-Mms-Message-Type"))),
                );
            }
        }
        let limits = Limits::default();
        let mut warnings = Vec::new();
        let mut count = 0usize;
        while let Some(b @ 0x80..=0xFF) = r.peek() {
            if b == field::CONTENT_TYPE || count >= limits.max_headers {
                break;
            }
            count += 1;
            let _ = r.u8();
            match decode_value(&mut r, b, pdu.message_type, &limits, &mut warnings) {
                Ok(value) => pdu.headers.push(Header {
                    name: HeaderName::Field(b),
                    value,
                }),
                Err(e) => {
                    pdu.headers.sort_by_key(rank);
                    return (pdu, Some(e));
                }
            }
        }
        pdu.headers.sort_by_key(rank);
        (pdu, None)
    }

    /// Encode canonically into a new buffer.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.body.as_ref().map_or(0, Body::encoded_len) + 256);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Encode the headers (up to and including the Content-Type value) into `out`. With a
    /// data body, the body follows in `out`'s caller's hands (scatter-gather writes).
    pub fn encode_headers_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.message_type.0 < 0x80 {
            return Err(EncodeError::OutOfRange("X-Mms-Message-Type"));
        }
        out.push(field::MESSAGE_TYPE);
        out.push(self.message_type.0);
        for pass in 0..3 {
            for h in self.headers.iter().filter(|h| rank(h) == pass) {
                match &h.name {
                    HeaderName::Field(field::CONTENT_TYPE | field::MESSAGE_TYPE) => {
                        return Err(EncodeError::Inconsistent(
                            "Content-Type and X-Mms-Message-Type are not listed as headers",
                        ));
                    }
                    HeaderName::Field(code) if *code >= 0x80 => {
                        out.push(*code);
                        encode_value(out, *code, &h.value)?;
                    }
                    HeaderName::Field(_) => return Err(EncodeError::OutOfRange("field code")),
                    HeaderName::Application(name) => {
                        writer::token_text(out, name, "application header name")?;
                        match &h.value {
                            Value::Text(t) => writer::text_string(out, t, "application header")?,
                            _ => {
                                return Err(EncodeError::Inconsistent(
                                    "application header values are text",
                                ));
                            }
                        }
                    }
                }
            }
        }
        match (&self.content_type, &self.body) {
            (Some(ct), _) => {
                out.push(field::CONTENT_TYPE);
                ct.encode(out)?;
            }
            (None, Some(_)) => return Err(EncodeError::Inconsistent("body without Content-Type")),
            (None, None) => {}
        }
        Ok(())
    }

    /// Encode canonically, appending to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_headers_into(out)?;
        match (&self.content_type, &self.body) {
            (Some(ct), Some(Body::Multipart(parts))) => {
                if !ct.media.is_wsp_multipart() {
                    return Err(EncodeError::Inconsistent(
                        "multipart entries under a non-multipart Content-Type",
                    ));
                }
                encode_multipart(out, parts)
            }
            (Some(_), Some(Body::Data(d))) => {
                out.extend_from_slice(d);
                Ok(())
            }
            (Some(ct), None) if ct.media.is_wsp_multipart() => encode_multipart(out, &[]),
            _ => Ok(()),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> Pdu<'static> {
        Pdu {
            message_type: self.message_type,
            headers: self.headers.into_iter().map(Header::into_owned).collect(),
            content_type: self.content_type.map(ContentType::into_owned),
            body: self.body.map(Body::into_owned),
        }
    }

    /// Put headers in canonical order (transaction id, version, the rest).
    pub fn canonicalize(&mut self) {
        self.headers.sort_by_key(rank);
    }

    /// The first value of field `code`.
    pub fn get(&self, code: u8) -> Option<&Value<'a>> {
        self.headers
            .iter()
            .find(|h| h.code() == Some(code))
            .map(|h| &h.value)
    }

    /// Every value of field `code`, in order.
    pub fn get_all(&self, code: u8) -> impl Iterator<Item = &Value<'a>> {
        self.headers
            .iter()
            .filter(move |h| h.code() == Some(code))
            .map(|h| &h.value)
    }

    /// Add a header, keeping canonical order.
    pub fn push(&mut self, code: u8, value: Value<'a>) {
        let h = Header {
            name: HeaderName::Field(code),
            value,
        };
        let r = rank(&h);
        let pos = self
            .headers
            .iter()
            .position(|x| rank(x) > r)
            .unwrap_or(self.headers.len());
        self.headers.insert(pos, h);
    }

    /// Add a header (builder style).
    pub fn with(mut self, code: u8, value: Value<'a>) -> Self {
        self.push(code, value);
        self
    }

    /// Replace every value of `code` with one value (added at its canonical place if absent).
    pub fn set(&mut self, code: u8, value: Value<'a>) {
        match self
            .headers
            .iter()
            .position(|h| h.name == HeaderName::Field(code))
        {
            Some(i) => {
                if let Some(h) = self.headers.get_mut(i) {
                    h.value = value;
                }
                let mut seen = 0usize;
                self.headers.retain(|h| {
                    if h.name == HeaderName::Field(code) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.push(code, value),
        }
    }

    /// Remove every value of `code`.
    pub fn remove(&mut self, code: u8) {
        self.headers.retain(|h| h.name != HeaderName::Field(code));
    }

    /// Set the body with its Content-Type.
    pub fn set_body(&mut self, content_type: ContentType<'a>, body: Body<'a>) {
        self.content_type = Some(content_type);
        self.body = Some(body);
    }

    fn text_of(&self, code: u8) -> Option<&[u8]> {
        self.get(code).and_then(Value::text)
    }

    fn octet_of(&self, code: u8) -> Option<u8> {
        match self.get(code) {
            Some(Value::Octet(o)) => Some(*o),
            _ => None,
        }
    }

    fn integer_of(&self, code: u8) -> Option<u64> {
        match self.get(code) {
            Some(Value::Integer(i)) => Some(*i),
            _ => None,
        }
    }

    /// X-Mms-Transaction-ID.
    pub fn transaction_id(&self) -> Option<&[u8]> {
        self.text_of(field::TRANSACTION_ID)
    }

    /// X-Mms-MMS-Version.
    pub fn version(&self) -> Option<Version> {
        self.octet_of(field::MMS_VERSION).map(|o| Version(o & 0x7F))
    }

    /// Message-ID.
    pub fn message_id(&self) -> Option<&[u8]> {
        self.text_of(field::MESSAGE_ID)
    }

    /// From: `Some(None)` for the insert-address token.
    pub fn from(&self) -> Option<Option<&EncodedString<'a>>> {
        match self.get(field::FROM) {
            Some(Value::From(a)) => Some(a.as_ref()),
            _ => None,
        }
    }

    /// Recipients of one kind (field::TO, CC or BCC).
    pub fn recipients(&self, code: u8) -> impl Iterator<Item = &EncodedString<'a>> {
        self.get_all(code).filter_map(|v| match v {
            Value::Encoded(e) => Some(e),
            _ => None,
        })
    }

    /// Subject.
    pub fn subject(&self) -> Option<&EncodedString<'a>> {
        match self.get(field::SUBJECT) {
            Some(Value::Encoded(e)) => Some(e),
            _ => None,
        }
    }

    /// X-Mms-Content-Location (plain form).
    pub fn content_location(&self) -> Option<&[u8]> {
        match self.get(field::CONTENT_LOCATION) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// X-Mms-Response-Status.
    pub fn response_status(&self) -> Option<ResponseStatus> {
        self.octet_of(field::RESPONSE_STATUS).map(ResponseStatus)
    }

    /// X-Mms-Retrieve-Status.
    pub fn retrieve_status(&self) -> Option<RetrieveStatus> {
        self.octet_of(field::RETRIEVE_STATUS).map(RetrieveStatus)
    }

    /// X-Mms-Status.
    pub fn status(&self) -> Option<Status> {
        self.octet_of(field::STATUS).map(Status)
    }

    /// Date (seconds since the epoch).
    pub fn date(&self) -> Option<u64> {
        self.integer_of(field::DATE)
    }

    /// X-Mms-Message-Size.
    pub fn message_size(&self) -> Option<u64> {
        self.integer_of(field::MESSAGE_SIZE)
    }

    /// X-Mms-Expiry.
    pub fn expiry(&self) -> Option<TimeValue> {
        match self.get(field::EXPIRY) {
            Some(Value::Time(t)) => Some(*t),
            _ => None,
        }
    }

    /// A Yes/No field: `Some(true)` for Yes.
    pub fn yes_no(&self, code: u8) -> Option<bool> {
        self.octet_of(code).map(|o| o == 0x80)
    }

    /// Multipart entries (empty for data bodies and body-less PDUs).
    pub fn parts(&self) -> &[crate::wsp::Part<'a>] {
        match &self.body {
            Some(Body::Multipart(p)) => p,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsp::{MediaType, Part, tables};

    /// mmsd unit/test-mmsutil.c mms_m_notify_ind_1 (PROTOCOLS.md 1.7), written out.
    const NOTIFY_IND_1: &[u8] = b"\x8c\x82\x98OgQKKB\0\x8d\x90\x89\x08\x80Erotik\0\x96Pin-Ups\0\x8a\x80\x8e\x02\x40\x00\x88\x05\x81\x03\x03\xf4\x80\x83http://eps3.de/O/Z9IZO\0";

    #[test]
    fn notification_ind_fields() {
        let p = Pdu::decode(NOTIFY_IND_1, &Limits::default()).unwrap();
        assert_eq!(p.message_type, MessageType::NOTIFICATION_IND);
        assert_eq!(p.transaction_id(), Some(&b"OgQKKB"[..]));
        assert_eq!(p.version(), Some(Version::V1_0));
        assert_eq!(p.from().unwrap().unwrap().text, &b"Erotik"[..]);
        assert_eq!(p.subject().unwrap().to_text().unwrap(), "Pin-Ups");
        assert_eq!(p.message_size(), Some(16384));
        assert_eq!(p.expiry(), Some(TimeValue::Relative(259_200)));
        assert_eq!(p.content_location(), Some(&b"http://eps3.de/O/Z9IZO"[..]));
        // Canonical re-encoding is byte-identical (it was canonical already).
        assert_eq!(p.encode().unwrap(), NOTIFY_IND_1);
    }

    #[test]
    fn canonical_order_and_identity() {
        // Version before transaction id on the wire; the decode puts them in order.
        let wire = b"\x8c\x83\x8d\x92\x98T1\0\x95\x81";
        let p = Pdu::decode(wire, &Limits::default()).unwrap();
        let enc = p.encode().unwrap();
        assert_eq!(enc, b"\x8c\x83\x98T1\0\x8d\x92\x95\x81");
        assert_eq!(Pdu::decode(&enc, &Limits::default()).unwrap(), p);
    }

    #[test]
    fn send_req_with_parts() {
        let smil = b"<smil><body><par><text src=\"t.txt\"/></par></body></smil>";
        let mut p = Pdu::new(MessageType::SEND_REQ)
            .with(field::MMS_VERSION, Value::Octet(0x92))
            .with(field::TRANSACTION_ID, Value::Text(Cow::Borrowed(b"tx-1")))
            .with(field::FROM, Value::From(None))
            .with(
                field::TO,
                Value::Encoded(EncodedString::plain(&b"+358401/TYPE=PLMN"[..])),
            );
        let ct = ContentType::new(MediaType::WellKnown(tables::CT_MULTIPART_RELATED)).with(
            crate::wsp::ParamName::WellKnown(0x09),
            crate::wsp::ParamValue::Text(Cow::Borrowed(b"application/smil")),
        );
        p.set_body(
            ct,
            Body::Multipart(vec![
                Part::new(
                    ContentType::new(MediaType::Text(Cow::Borrowed(b"application/smil"))),
                    &smil[..],
                ),
                Part::new(
                    ContentType::well_known(tables::CT_TEXT_PLAIN),
                    &b"hello"[..],
                ),
            ]),
        );
        let enc = p.encode().unwrap();
        assert_eq!(&enc[..4], b"\x8c\x80\x98t");
        let back = Pdu::decode(&enc, &Limits::default()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.parts()[1].data(), Some(&b"hello"[..]));
        // Zero copy: the part data points into the encoded buffer.
        let d = back.parts()[0].data().unwrap();
        let range = enc.as_ptr_range();
        assert!(range.contains(&d.as_ptr()));
    }

    #[test]
    fn body_offset_points_after_content_type() {
        let b = b"\x8c\x80\x98T\0\x84\x83hello";
        assert_eq!(Pdu::body_offset(b, &Limits::default()).unwrap(), Some(7));
        assert_eq!(
            Pdu::body_offset(NOTIFY_IND_1, &Limits::default()).unwrap(),
            None
        );
        // The full decode finds the same place.
        let (p, at) = Pdu::decode_located(b, &Limits::default()).unwrap();
        assert_eq!(at, Some(7));
        assert_eq!(p, Pdu::decode(b, &Limits::default()).unwrap());
        let (_, at) = Pdu::decode_located(NOTIFY_IND_1, &Limits::default()).unwrap();
        assert_eq!(at, None);
    }

    /// m-send-reqs whose multipart bodies hold what a part may: parameters (a charset among
    /// them, or not), every kind of part header, a charset written after the Content-Type,
    /// a nested multipart, and a nested multipart that does not decode.
    fn multipart_send_reqs() -> Vec<Vec<u8>> {
        use crate::wsp::{
            ContentDisposition, DispositionKind, Param, ParamName, ParamValue, PartHeader,
        };
        let text_ct = ContentType::well_known(tables::CT_TEXT_PLAIN)
            .with(ParamName::WellKnown(0x01), ParamValue::Integer(106))
            .with(
                ParamName::WellKnown(0x05),
                ParamValue::Text(Cow::Borrowed(b"t.txt")),
            );
        let mut text = Part::new(text_ct, &b"hello"[..]);
        text.headers = vec![
            PartHeader::ContentId {
                value: Cow::Borrowed(b"<t>"),
                quoted: true,
            },
            PartHeader::ContentLocation(Cow::Borrowed(b"t.txt")),
            PartHeader::ContentDisposition {
                code: 0x2E,
                value: ContentDisposition {
                    kind: DispositionKind::Octet(0x81),
                    params: vec![Param {
                        name: ParamName::WellKnown(0x06),
                        value: ParamValue::Text(Cow::Borrowed(b"t.txt")),
                    }],
                },
            },
            PartHeader::Text {
                name: Cow::Borrowed(b"X-Extra"),
                value: Cow::Borrowed(b"1"),
            },
            PartHeader::Other {
                code: 0x0F,
                raw: Cow::Borrowed(b"\x81"),
            },
        ];
        let smil = Part::new(
            ContentType::new(MediaType::Text(Cow::Borrowed(b"application/smil")))
                .with(ParamName::Token(Cow::Borrowed(b"x")), ParamValue::NoValue),
            &b"<smil/>"[..],
        );
        let nested = Part {
            content_type: ContentType::well_known(tables::CT_MULTIPART_MIXED),
            headers: vec![],
            body: Body::Multipart(vec![Part::new(
                ContentType::well_known(tables::CT_TEXT_PLAIN),
                &b"inner"[..],
            )]),
        };
        let head = |p: &mut Pdu<'_>| {
            p.push(field::TRANSACTION_ID, Value::Text(Cow::Borrowed(b"T-9")));
            p.push(field::MMS_VERSION, Value::Octet(0x92));
            p.push(field::FROM, Value::From(None));
            p.push(
                field::TO,
                Value::Encoded(EncodedString::plain(&b"+358401/TYPE=PLMN"[..])),
            );
        };
        let mut out = Vec::new();
        let related = ContentType::well_known(tables::CT_MULTIPART_RELATED).with(
            ParamName::WellKnown(0x09),
            ParamValue::Text(Cow::Borrowed(b"application/smil")),
        );
        for parts in [
            vec![smil.clone(), text.clone(), nested.clone()],
            vec![text.clone()],
            vec![],
        ] {
            let mut p = Pdu::new(MessageType::SEND_REQ);
            head(&mut p);
            p.set_body(related.clone(), Body::Multipart(parts));
            out.push(p.encode().unwrap());
        }
        // Raw entries: the mmsd one with its charset after the Content-Type, and a
        // multipart/mixed entry whose data is not a multipart.
        let mut p = Pdu::new(MessageType::SEND_REQ);
        head(&mut p);
        p.set_body(
            ContentType::well_known(tables::CT_MULTIPART_MIXED),
            Body::Data(Cow::Borrowed(b"")),
        );
        let mut b = p.encode().unwrap();
        b.extend_from_slice(&[0x02, 0x1C, 0x05, 0x83, 0x85]);
        b.extend_from_slice(b"Text.txt\0");
        b.extend_from_slice(&[0x81, 0x83, 0xC0, 0x22]);
        b.extend_from_slice(b"<Text.txt>\0");
        b.extend_from_slice(b"hello");
        b.extend_from_slice(&[0x01, 0x03, 0xA3, 0x81, 0x83, 0xFF, 0x01, 0x02]);
        out.push(b);
        out
    }

    #[test]
    fn unsplit_decode_agrees_with_the_full_decode() {
        let tight = [
            Limits::default(),
            Limits {
                max_headers: 5,
                max_parts: 2,
                max_depth: 0,
                max_params: 1,
                ..Limits::default()
            },
            Limits {
                max_headers: 1,
                max_parts: 1,
                max_params: 0,
                ..Limits::default()
            },
        ];
        // Inputs that decode with entries, and that fail in the body.
        let (mut split, mut body_errors) = (0, 0);
        let mut check = |buf: &[u8], limits: &Limits| {
            let full = Pdu::decode_located(buf, limits);
            let unsplit = Pdu::decode_located_unsplit(buf, limits);
            match (full, unsplit) {
                (Ok((f, fat)), Ok((u, uat))) => {
                    split += usize::from(matches!(f.body, Some(Body::Multipart(_))));
                    assert_eq!(fat, uat, "{buf:02x?}");
                    assert_eq!(f.message_type, u.message_type);
                    assert_eq!(f.headers, u.headers);
                    assert_eq!(f.content_type, u.content_type);
                    match f.body {
                        Some(Body::Multipart(_)) => {
                            let rest = fat.and_then(|at| buf.get(at..)).unwrap();
                            assert_eq!(u.body, Some(Body::Data(Cow::Borrowed(rest))));
                            // The body's octets again behind the headers, parts or not.
                            if let Ok(e) = u.encode() {
                                assert!(e.ends_with(rest));
                            }
                        }
                        other => assert_eq!(other, u.body),
                    }
                }
                (Err(f), Err(u)) => {
                    assert_eq!(f, u, "{buf:02x?}");
                    body_errors += usize::from(f.offset > 60);
                }
                (f, u) => panic!("{buf:02x?}: {f:?} / {u:?}"),
            }
        };
        let mut cases = 0;
        for base in multipart_send_reqs() {
            for limits in &tight {
                check(&base, limits);
                for n in 0..base.len() {
                    check(&base[..n], limits);
                    let mut cut = base.clone();
                    cut.remove(n);
                    check(&cut, limits);
                    let mut grown = base.clone();
                    grown.insert(n, base[n]);
                    check(&grown, limits);
                    for v in [
                        0x00,
                        0x01,
                        0x02,
                        0x03,
                        0x05,
                        0x1E,
                        0x1F,
                        0x20,
                        0x22,
                        0x7F,
                        0x80,
                        0x81,
                        0x83,
                        0x85,
                        0x8E,
                        0xAE,
                        0xC0,
                        0xC5,
                        0xFF,
                        base[n] ^ 1,
                        base[n] ^ 0x80,
                    ] {
                        let mut m = base.clone();
                        m[n] = v;
                        check(&m, limits);
                        cases += 1;
                    }
                }
            }
        }
        assert!(cases > 10_000, "{cases}");
        assert!(split > 1000 && body_errors > 1000, "{split} {body_errors}");
    }

    #[test]
    fn trailing_nuls_tolerated_other_junk_refused() {
        let (p, w) =
            Pdu::decode_with_warnings(b"\x8c\x82\x98X\0\x81\0\0", &Limits::default()).unwrap();
        assert_eq!(p.headers.len(), 2);
        assert_eq!(w.len(), 1);
        let e = Pdu::decode(b"\x8c\x82\x98X\0\x01\x02", &Limits::default()).unwrap_err();
        assert_eq!(e.offset, 5);
    }

    #[test]
    fn not_mms_and_limits() {
        assert_eq!(
            Pdu::decode(b"<html>", &Limits::default()).unwrap_err().kind,
            ErrorKind::NotMmsPdu
        );
        assert_eq!(
            Pdu::decode(b"", &Limits::default()).unwrap_err().kind,
            ErrorKind::NotMmsPdu
        );
        let l = Limits {
            max_pdu_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            Pdu::decode(NOTIFY_IND_1, &l).unwrap_err().kind,
            ErrorKind::Limit(Limit::PduBytes)
        );
        let l = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        assert_eq!(
            Pdu::decode(NOTIFY_IND_1, &l).unwrap_err().kind,
            ErrorKind::Limit(Limit::Headers)
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for n in 0..NOTIFY_IND_1.len() {
            // Cutting inside a value must fail; cutting between headers decodes fewer headers.
            let _ = Pdu::decode(&NOTIFY_IND_1[..n], &Limits::default());
        }
        assert!(Pdu::decode(&NOTIFY_IND_1[..NOTIFY_IND_1.len() - 1], &Limits::default()).is_err());
    }
}
