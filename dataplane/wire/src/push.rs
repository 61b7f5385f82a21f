//! WAP Push: the WSP connectionless Push PDU that carries an m-notification-ind, and its
//! carriage over GSM SMS (WDP over SMS: user data headers with port addressing and
//! concatenation).
//!
//! ```text
//! WSP Push (WAP-230-WSP §8.2.4.1, connectionless: the TID octet is present)
//!   TID(1) Type(1: 0x06 Push | 0x07 ConfirmedPush) HeadersLen(uintvar)
//!   ContentType Headers(HeadersLen - len(ContentType)) Data
//!
//! SMS user data with a UDH (3GPP TS 23.040 §9.2.3.24), 8-bit data, at most 140 octets:
//!   UDHL(1) { IEI(1) IEDL(1) IED(IEDL) }* payload
//!   IEI 0x05 ports 16-bit: dst(2) src(2)          (WAP push: dst 2948, src 9200)
//!   IEI 0x00 concatenation, 8-bit reference:  ref(1) total(1) seq(1)
//!   IEI 0x08 concatenation, 16-bit reference: ref(2) total(1) seq(1)
//! ```
//!
//! [`PushPdu::decode`] borrows from its input and is bounded by [`Limits`]; every header
//! round-trips (`decode(encode(x)) == x` for every decoded `x`): headers without a typed form
//! here are kept as their encoded value ([`PushHeader::Other`]) or as text
//! ([`PushHeader::Text`]). [`segment`], [`parse_user_data`], [`reassemble`] and
//! [`Reassembler`] handle the SMS side; nothing here does I/O or reads a clock.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::error::{DecodeError, EncodeError, ErrorKind, Limit};
use crate::reader::Reader;
use crate::wsp::content_type::ContentType;
use crate::wsp::tables::{self, APP_ID_MMS_UA, CT_MMS_MESSAGE, header};
use crate::{Limits, writer};

/// WSP PDU type of an unconfirmed Push.
pub const PDU_PUSH: u8 = 0x06;
/// WSP PDU type of a ConfirmedPush.
pub const PDU_CONFIRMED_PUSH: u8 = 0x07;

/// The URN of the MMS user agent's push application id.
pub const APP_ID_MMS_UA_URN: &str = "x-wap-application:mms.ua";

/// X-Wap-Application-Id value: an assigned code (WINA) or a URI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AppId<'a> {
    /// App-assigned-code (Integer-value), e.g. 0x04 = x-wap-application:mms.ua.
    Code(u32),
    /// Uri-value (Text-string), e.g. `x-wap-application:mms.ua`; not empty, and its first
    /// octet is not a control (0x00..=0x1F), as the encoding could not tell it from the
    /// integer form.
    Uri(Cow<'a, [u8]>),
}

impl AppId<'_> {
    /// The application id as text: the URN of a known code, `0xNN` for an unknown code, or the
    /// URI as sent.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            AppId::Code(c) => match tables::application_id_name(*c) {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(format!("0x{c:02X}")),
            },
            AppId::Uri(u) => String::from_utf8_lossy(u),
        }
    }

    /// True for x-wap-application:mms.ua, by code or by URN (case-insensitive).
    pub fn is_mms_ua(&self) -> bool {
        match self {
            AppId::Code(c) => *c == APP_ID_MMS_UA,
            AppId::Uri(u) => u.eq_ignore_ascii_case(APP_ID_MMS_UA_URN.as_bytes()),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> AppId<'static> {
        match self {
            AppId::Code(c) => AppId::Code(c),
            AppId::Uri(u) => AppId::Uri(Cow::Owned(u.into_owned())),
        }
    }
}

/// Encoding-Version value (Version-value). The code-page form
/// (`Value-length Code-page [Version-value]`) is kept as [`PushHeader::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EncodingVersion<'a> {
    /// Short-integer: major version in bits 6..4, minor in bits 3..0 (0x0F = no minor);
    /// e.g. 0x13 = 1.3. Value 0..=0x7F.
    Short(u8),
    /// Text-string, e.g. `1.3`; not empty, and its first octet is not a control.
    Text(Cow<'a, [u8]>),
}

impl EncodingVersion<'_> {
    /// The version as text: `1.3`, or `1` when the minor number is absent (0x0F).
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            EncodingVersion::Short(v) => {
                let (major, minor) = ((v >> 4) & 0x07, v & 0x0F);
                if minor == 0x0F {
                    Cow::Owned(format!("{major}"))
                } else {
                    Cow::Owned(format!("{major}.{minor}"))
                }
            }
            EncodingVersion::Text(t) => String::from_utf8_lossy(t),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> EncodingVersion<'static> {
        match self {
            EncodingVersion::Short(v) => EncodingVersion::Short(v),
            EncodingVersion::Text(t) => EncodingVersion::Text(Cow::Owned(t.into_owned())),
        }
    }
}

/// One header of a push PDU (after its Content-Type).
///
/// A well-known header whose value does not have the form typed here (e.g. a Content-Length
/// written as text) decodes as [`PushHeader::Other`], so that it re-encodes as it came.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PushHeader<'a> {
    /// X-Wap-Application-Id (0xAF).
    ApplicationId(AppId<'a>),
    /// Content-Length (0x8D), Integer-value.
    ContentLength(u64),
    /// Push-Flag (0xB4), Short-integer: 0x01 authenticated initiator, 0x02 trusted content,
    /// 0x04 last push. Value 0..=0x7F.
    PushFlag(u8),
    /// Encoding-Version (0xC3).
    EncodingVersion(EncodingVersion<'a>),
    /// An application header: Token-text name, Text-string value.
    Text {
        /// Header name (never empty, first octet 0x20..=0x7E).
        name: Cow<'a, [u8]>,
        /// Header value.
        value: Cow<'a, [u8]>,
    },
    /// Any other well-known header (User-Agent, Accept, X-Wap-Initiator-URI, ...) or a typed
    /// one in a form not decoded here, kept as its encoded value.
    Other {
        /// Well-known code, without the high bit (0..=0x7F).
        code: u8,
        /// The encoded value: one Short-integer octet, Value-length + data, or text with its NUL.
        raw: Cow<'a, [u8]>,
    },
}

impl PushHeader<'_> {
    /// The well-known field code (without the high bit); `None` for a textual header.
    pub fn code(&self) -> Option<u8> {
        match self {
            PushHeader::ApplicationId(_) => Some(header::X_WAP_APPLICATION_ID),
            PushHeader::ContentLength(_) => Some(header::CONTENT_LENGTH),
            PushHeader::PushFlag(_) => Some(header::PUSH_FLAG),
            PushHeader::EncodingVersion(_) => Some(header::ENCODING_VERSION),
            PushHeader::Text { .. } => None,
            PushHeader::Other { code, .. } => Some(*code),
        }
    }

    /// The header name as text (WSP Table 39 name, or the textual name).
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            PushHeader::Text { name, .. } => String::from_utf8_lossy(name),
            other => match other.code() {
                Some(c) => match tables::header_name(c) {
                    Some(n) => Cow::Borrowed(n),
                    None => Cow::Owned(format!("0x{c:02X}")),
                },
                None => Cow::Borrowed(""),
            },
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> PushHeader<'static> {
        match self {
            PushHeader::ApplicationId(a) => PushHeader::ApplicationId(a.into_owned()),
            PushHeader::ContentLength(n) => PushHeader::ContentLength(n),
            PushHeader::PushFlag(f) => PushHeader::PushFlag(f),
            PushHeader::EncodingVersion(v) => PushHeader::EncodingVersion(v.into_owned()),
            PushHeader::Text { name, value } => PushHeader::Text {
                name: Cow::Owned(name.into_owned()),
                value: Cow::Owned(value.into_owned()),
            },
            PushHeader::Other { code, raw } => PushHeader::Other {
                code,
                raw: Cow::Owned(raw.into_owned()),
            },
        }
    }

    fn decode<'a>(r: &mut Reader<'a>) -> Result<PushHeader<'a>, DecodeError> {
        let at = r.offset();
        match r.peek() {
            None => Err(r.err(ErrorKind::Truncated { needed: 1 })),
            Some(b) if b >= 0x80 => {
                r.u8()?;
                let code = b & 0x7F;
                let raw = r.raw_value()?;
                Ok(typed_header(code, raw).unwrap_or(PushHeader::Other {
                    code,
                    raw: Cow::Borrowed(raw),
                }))
            }
            Some(0x20..=0x7E) => {
                let name = r.until_nul()?;
                let value = r.text_string()?;
                Ok(PushHeader::Text {
                    name: Cow::Borrowed(name),
                    value: Cow::Borrowed(value),
                })
            }
            Some(b) => Err(r.err_at(
                ErrorKind::Unexpected {
                    byte: b,
                    what: "push header",
                },
                at,
            )),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            PushHeader::ApplicationId(id) => {
                out.push(0x80 | header::X_WAP_APPLICATION_ID);
                match id {
                    AppId::Code(c) => writer::integer_value(out, u64::from(*c)),
                    AppId::Uri(u) => nonempty_text(out, u, "X-Wap-Application-Id")?,
                }
            }
            PushHeader::ContentLength(n) => {
                out.push(0x80 | header::CONTENT_LENGTH);
                writer::integer_value(out, *n);
            }
            PushHeader::PushFlag(f) => {
                out.push(0x80 | header::PUSH_FLAG);
                writer::short_integer(out, *f, "Push-Flag")?;
            }
            PushHeader::EncodingVersion(v) => {
                out.push(0x80 | header::ENCODING_VERSION);
                match v {
                    EncodingVersion::Short(s) => {
                        writer::short_integer(out, *s, "Encoding-Version")?
                    }
                    EncodingVersion::Text(t) => nonempty_text(out, t, "Encoding-Version")?,
                }
            }
            PushHeader::Text { name, value } => {
                writer::token_text(out, name, "push header name")?;
                text_value(out, value, "push header value")?;
            }
            PushHeader::Other { code, raw } => {
                writer::short_integer(out, *code, "push header")?;
                // The raw value must itself be exactly one well-formed value.
                let mut r = Reader::new(raw);
                match r.raw_value() {
                    Ok(v) if r.is_empty() && v.len() == raw.len() => out.extend_from_slice(raw),
                    _ => return Err(EncodeError::Inconsistent("malformed raw push header value")),
                }
            }
        }
        Ok(())
    }
}

/// The typed form of a well-known push header, when its raw value has exactly that form.
fn typed_header(code: u8, raw: &[u8]) -> Option<PushHeader<'_>> {
    let first = *raw.first()?;
    let mut v = Reader::new(raw);
    let h = match code {
        header::X_WAP_APPLICATION_ID => PushHeader::ApplicationId(match first {
            0x80.. | 1..=30 => AppId::Code(u32::try_from(v.integer_value().ok()?).ok()?),
            0x20..=0x7F => AppId::Uri(Cow::Borrowed(nonempty(v.text_string().ok()?)?)),
            _ => return None,
        }),
        header::CONTENT_LENGTH => match first {
            0x80.. | 1..=30 => PushHeader::ContentLength(v.integer_value().ok()?),
            _ => return None,
        },
        header::PUSH_FLAG if first >= 0x80 => PushHeader::PushFlag(v.short_integer().ok()?),
        header::ENCODING_VERSION => PushHeader::EncodingVersion(match first {
            0x80.. => EncodingVersion::Short(v.short_integer().ok()?),
            0x20..=0x7F => EncodingVersion::Text(Cow::Borrowed(nonempty(v.text_string().ok()?)?)),
            _ => return None,
        }),
        _ => return None,
    };
    v.is_empty().then_some(h)
}

fn nonempty(s: &[u8]) -> Option<&[u8]> {
    (!s.is_empty()).then_some(s)
}

/// A Text-string that reads back as `s` (the writer quotes a leading 0x7F or >= 0x80).
fn text_value(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    writer::text_string(out, s, what)
}

/// A Text-string as a typed header value, which is told from the other value forms by its
/// first octet: it must not be empty nor start with a control octet (it would read back as a
/// Value-length).
fn nonempty_text(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    match s.first() {
        Some(&c) if c >= 0x20 => text_value(out, s, what),
        _ => Err(EncodeError::BadToken(what)),
    }
}

/// A WSP connectionless Push (or ConfirmedPush) PDU.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PushPdu<'a> {
    /// Transaction identifier (the first octet of a connectionless WSP PDU).
    pub transaction_id: u8,
    /// [`PDU_PUSH`] (0x06) or [`PDU_CONFIRMED_PUSH`] (0x07).
    pub pdu_type: u8,
    /// Content-Type of the pushed data.
    pub content_type: ContentType<'a>,
    /// Headers after the Content-Type, in wire order.
    pub headers: Vec<PushHeader<'a>>,
    /// The pushed data (for MMS: the m-notification-ind PDU).
    pub body: Cow<'a, [u8]>,
}

impl<'a> PushPdu<'a> {
    /// Decode a connectionless Push PDU. The data borrows from `buf`.
    ///
    /// Errors: [`Limit::PduBytes`] when `buf` is larger than `limits.max_pdu_bytes`,
    /// [`Limit::Headers`] beyond `limits.max_headers`, `Unexpected` for a PDU type other than
    /// Push / ConfirmedPush, `LengthOverrun` when HeadersLen exceeds the input, and the
    /// Content-Type and header value errors at their offsets.
    pub fn decode(buf: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        if buf.len() > limits.max_pdu_bytes {
            return Err(DecodeError::new(
                ErrorKind::Limit(Limit::PduBytes),
                limits.max_pdu_bytes,
            ));
        }
        let mut r = Reader::new(buf);
        let transaction_id = r.u8()?;
        let type_at = r.offset();
        let pdu_type = r.u8()?;
        if !matches!(pdu_type, PDU_PUSH | PDU_CONFIRMED_PUSH) {
            return Err(r.err_at(
                ErrorKind::Unexpected {
                    byte: pdu_type,
                    what: "WSP PDU type (Push 0x06 or ConfirmedPush 0x07)",
                },
                type_at,
            ));
        }
        let headers_len = r.uintvar_len()?;
        let mut h = r.sub(headers_len)?;
        let content_type = ContentType::decode(&mut h, limits)?;
        let mut headers = Vec::new();
        while !h.is_empty() {
            if headers.len() >= limits.max_headers {
                return Err(h.err(ErrorKind::Limit(Limit::Headers)));
            }
            headers.push(PushHeader::decode(&mut h)?);
        }
        Ok(PushPdu {
            transaction_id,
            pdu_type,
            content_type,
            headers,
            body: Cow::Borrowed(r.take_rest()),
        })
    }

    /// Encode: TID, type, HeadersLen, Content-Type, headers in their order, body.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if !matches!(self.pdu_type, PDU_PUSH | PDU_CONFIRMED_PUSH) {
            return Err(EncodeError::OutOfRange("WSP PDU type"));
        }
        let mut hdr = Vec::with_capacity(64);
        self.content_type.encode(&mut hdr)?;
        for h in &self.headers {
            h.encode(&mut hdr)?;
        }
        let hl = u32::try_from(hdr.len()).map_err(|_| EncodeError::OutOfRange("HeadersLen"))?;
        let mut out = Vec::with_capacity(2 + writer::uintvar_len(hl) + hdr.len() + self.body.len());
        out.push(self.transaction_id);
        out.push(self.pdu_type);
        writer::uintvar(&mut out, hl);
        out.extend_from_slice(&hdr);
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// The push an MMSC sends for an m-notification-ind: an unconfirmed Push with Content-Type
    /// application/vnd.wap.mms-message (0xBE) and X-Wap-Application-Id x-wap-application:mms.ua
    /// (0xAF 0x84); the body is the m-notification-ind PDU.
    ///
    /// Encodes as `TID 06 03 BE AF 84 <notification_ind>`.
    pub fn mms_notification(transaction_id: u8, notification_ind: &'a [u8]) -> Self {
        PushPdu {
            transaction_id,
            pdu_type: PDU_PUSH,
            content_type: ContentType::well_known(CT_MMS_MESSAGE),
            headers: vec![PushHeader::ApplicationId(AppId::Code(APP_ID_MMS_UA))],
            body: Cow::Borrowed(notification_ind),
        }
    }

    /// The first X-Wap-Application-Id, if any.
    pub fn app_id(&self) -> Option<&AppId<'a>> {
        self.headers.iter().find_map(|h| match h {
            PushHeader::ApplicationId(a) => Some(a),
            _ => None,
        })
    }

    /// The push application id as text: a numeric id resolved to its URN
    /// ([`tables::application_id_name`]; `0xNN` when unknown), or the URI as sent.
    pub fn application_id(&self) -> Option<Cow<'_, str>> {
        self.app_id().map(AppId::name)
    }

    /// The Content-Length header, if present in its Integer-value form.
    pub fn content_length(&self) -> Option<u64> {
        self.headers.iter().find_map(|h| match h {
            PushHeader::ContentLength(n) => Some(*n),
            _ => None,
        })
    }

    /// True when this push carries an MMS PDU: the content type is
    /// application/vnd.wap.mms-message (well-known 0x3E or as text) and the application id is
    /// x-wap-application:mms.ua (by code or URN) or absent.
    pub fn is_mms(&self) -> bool {
        self.content_type.media.is(CT_MMS_MESSAGE) && self.app_id().is_none_or(AppId::is_mms_ua)
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> PushPdu<'static> {
        PushPdu {
            transaction_id: self.transaction_id,
            pdu_type: self.pdu_type,
            content_type: self.content_type.into_owned(),
            headers: self
                .headers
                .into_iter()
                .map(PushHeader::into_owned)
                .collect(),
            body: Cow::Owned(self.body.into_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SMS: user data headers, segmentation, reassembly.

/// WDP destination port of WAP Push (connectionless, unsecured).
pub const WAP_PUSH_PORT: u16 = 2948;
/// WDP source port of connectionless WSP.
pub const WSP_CONNECTIONLESS_PORT: u16 = 9200;
/// Most octets of 8-bit user data in one SMS, UDH included.
pub const MAX_USER_DATA: usize = 140;
/// Most segments of one concatenated message (the total is one octet).
pub const MAX_SEGMENTS: usize = 255;

/// Information element identifiers used here (3GPP TS 23.040 §9.2.3.24).
pub mod iei {
    /// Concatenated short messages, 8-bit reference (IEDL 3).
    pub const CONCAT_8: u8 = 0x00;
    /// Application port addressing, 8-bit ports (IEDL 2).
    pub const PORTS_8: u8 = 0x04;
    /// Application port addressing, 16-bit ports (IEDL 4).
    pub const PORTS_16: u8 = 0x05;
    /// Concatenated short messages, 16-bit reference (IEDL 4).
    pub const CONCAT_16: u8 = 0x08;
}

/// The reference that ties the segments of one concatenated message together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConcatRef {
    /// IEI 0x00: 8-bit reference.
    Eight(u8),
    /// IEI 0x08: 16-bit reference.
    Sixteen(u16),
}

impl ConcatRef {
    /// The reference number.
    pub fn value(self) -> u16 {
        match self {
            ConcatRef::Eight(r) => u16::from(r),
            ConcatRef::Sixteen(r) => r,
        }
    }

    /// Octets of its IE, IEI and IEDL included.
    fn ie_len(self) -> usize {
        match self {
            ConcatRef::Eight(_) => 5,
            ConcatRef::Sixteen(_) => 6,
        }
    }
}

/// A concatenation IE: which segment of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concat {
    /// Reference shared by all segments of the message.
    pub reference: ConcatRef,
    /// Number of segments (1..=255).
    pub total: u8,
    /// This segment's number (1..=total).
    pub seq: u8,
}

/// A user data header.
///
/// Parsing keeps the last occurrence of a repeated port or concatenation IE (TS 23.040
/// §9.2.3.24: "the last occurrence of the IE shall be used"); 8-bit ports (IEI 0x04) are
/// widened to `u16`. [`Udh::encode`] writes 16-bit ports (IEI 0x05) first, then the
/// concatenation IE, then the `other` IEs in order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Udh {
    /// Destination port (application port addressing).
    pub dst_port: Option<u16>,
    /// Originator port (application port addressing).
    pub src_port: Option<u16>,
    /// Concatenation, when the message spans several SMS.
    pub concat: Option<Concat>,
    /// Other IEs, in wire order: (IEI, data).
    pub other: Vec<(u8, Vec<u8>)>,
}

impl Udh {
    /// The UDH of a WAP push segment: ports 2948 / 9200, and `concat` when given.
    pub fn wap_push(concat: Option<Concat>) -> Self {
        Udh {
            dst_port: Some(WAP_PUSH_PORT),
            src_port: Some(WSP_CONNECTIONLESS_PORT),
            concat,
            other: Vec::new(),
        }
    }

    /// Octets [`Udh::encode`] writes, UDHL included.
    pub fn encoded_len(&self) -> usize {
        let ports = if self.dst_port.is_some() || self.src_port.is_some() {
            6
        } else {
            0
        };
        let concat = self.concat.map_or(0, |c| c.reference.ie_len());
        let other: usize = self.other.iter().map(|(_, d)| 2 + d.len()).sum();
        1 + ports + concat + other
    }

    /// Append UDHL and the IEs.
    ///
    /// Errors: only one of the two ports set, a concatenation with total 0 or seq outside
    /// 1..=total, an `other` IE that uses one of the IEIs typed here or has more than 255
    /// octets, or a header longer than 255 octets.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let udhl = u8::try_from(self.encoded_len() - 1)
            .map_err(|_| EncodeError::OutOfRange("user data header length"))?;
        out.push(udhl);
        match (self.dst_port, self.src_port) {
            (Some(d), Some(s)) => {
                out.extend_from_slice(&[iei::PORTS_16, 4]);
                out.extend_from_slice(&d.to_be_bytes());
                out.extend_from_slice(&s.to_be_bytes());
            }
            (None, None) => {}
            _ => {
                return Err(EncodeError::Inconsistent(
                    "port addressing needs both ports",
                ));
            }
        }
        if let Some(c) = self.concat {
            if c.total == 0 || c.seq == 0 || c.seq > c.total {
                return Err(EncodeError::OutOfRange("concatenation sequence number"));
            }
            match c.reference {
                ConcatRef::Eight(r) => out.extend_from_slice(&[iei::CONCAT_8, 3, r]),
                ConcatRef::Sixteen(r) => {
                    out.extend_from_slice(&[iei::CONCAT_16, 4]);
                    out.extend_from_slice(&r.to_be_bytes());
                }
            }
            out.extend_from_slice(&[c.total, c.seq]);
        }
        for (id, data) in &self.other {
            if matches!(
                *id,
                iei::CONCAT_8 | iei::PORTS_8 | iei::PORTS_16 | iei::CONCAT_16
            ) {
                return Err(EncodeError::Inconsistent(
                    "ports and concatenation go in their fields, not in `other`",
                ));
            }
            let len = u8::try_from(data.len()).map_err(|_| EncodeError::OutOfRange("IE length"))?;
            out.push(*id);
            out.push(len);
            out.extend_from_slice(data);
        }
        Ok(())
    }
}

/// Split a WSP push into SMS user data, each `UDHL + UDH + payload chunk`, at most
/// [`MAX_USER_DATA`] (140) octets.
///
/// Every SMS carries 16-bit port addressing (IEI 0x05, dst 2948, src 9200); when more than one
/// SMS is needed each also carries a concatenation IE after it (IEI 0x00 for
/// [`ConcatRef::Eight`], 0x08 for [`ConcatRef::Sixteen`]), as Kannel does:
/// `0B 05 04 0B 84 23 F0 00 03 <ref> <total> <seq>`. A single SMS has `06 05 04 0B 84 23 F0`.
/// Payload per SMS: 133 octets alone, 128 with an 8-bit reference, 127 with a 16-bit one.
///
/// Error: [`EncodeError::TooManySegments`] when more than 255 SMS would be needed.
pub fn segment(wsp_push: &[u8], reference: ConcatRef) -> Result<Vec<Vec<u8>>, EncodeError> {
    let single = Udh::wap_push(None);
    if wsp_push.len() <= MAX_USER_DATA - single.encoded_len() {
        let mut sms = Vec::with_capacity(single.encoded_len() + wsp_push.len());
        single.encode(&mut sms)?;
        sms.extend_from_slice(wsp_push);
        return Ok(vec![sms]);
    }
    let header_len = single.encoded_len() + reference.ie_len();
    let chunk = MAX_USER_DATA - header_len;
    let count = wsp_push.len().div_ceil(chunk);
    let total = u8::try_from(count).map_err(|_| EncodeError::TooManySegments)?;
    let mut out = Vec::with_capacity(count);
    for (seq, part) in (1..=total).zip(wsp_push.chunks(chunk)) {
        let udh = Udh::wap_push(Some(Concat {
            reference,
            total,
            seq,
        }));
        let mut sms = Vec::with_capacity(header_len + part.len());
        udh.encode(&mut sms)?;
        sms.extend_from_slice(part);
        out.push(sms);
    }
    Ok(out)
}

/// Parse one SMS user data that starts with its UDH (the transport's UDHI bit was set):
/// UDHL, the IEs, then the payload, which is returned borrowed.
///
/// Every IE length is checked against the UDH and the UDH against the input. Errors:
/// `Truncated` (empty input, an IEI without its length), `LengthOverrun` (UDHL beyond the input,
/// IEDL beyond the UDH), `Unexpected` (a port or concatenation IE of the wrong length),
/// `InvalidValue` (concatenation total 0, or seq 0 or above the total); offsets count from the
/// UDHL octet.
pub fn parse_user_data(ud: &[u8]) -> Result<(Udh, &[u8]), DecodeError> {
    let mut r = Reader::new(ud);
    let udhl = usize::from(r.u8()?);
    if udhl > r.remaining() {
        return Err(DecodeError::new(
            ErrorKind::LengthOverrun {
                declared: udhl,
                available: r.remaining(),
            },
            0,
        ));
    }
    let mut h = r.sub(udhl)?;
    let mut udh = Udh::default();
    while !h.is_empty() {
        let at = h.offset();
        let id = h.u8()?;
        let len_at = h.offset();
        let len = h.u8()?;
        let data = h.take(usize::from(len)).map_err(|e| DecodeError {
            offset: len_at,
            ..e
        })?;
        let expected = match id {
            iei::CONCAT_8 => Some((3, "8-bit concatenation IE length")),
            iei::CONCAT_16 => Some((4, "16-bit concatenation IE length")),
            iei::PORTS_8 => Some((2, "8-bit port addressing IE length")),
            iei::PORTS_16 => Some((4, "16-bit port addressing IE length")),
            _ => None,
        };
        if let Some((want, what)) = expected
            && usize::from(len) != want
        {
            return Err(DecodeError::new(
                ErrorKind::Unexpected { byte: len, what },
                len_at,
            ));
        }
        match (id, data) {
            (iei::CONCAT_8, &[r8, total, seq]) => {
                udh.concat = Some(concat(ConcatRef::Eight(r8), total, seq, at)?);
            }
            (iei::CONCAT_16, &[hi, lo, total, seq]) => {
                let reference = ConcatRef::Sixteen(u16::from_be_bytes([hi, lo]));
                udh.concat = Some(concat(reference, total, seq, at)?);
            }
            (iei::PORTS_8, &[d, s]) => {
                udh.dst_port = Some(u16::from(d));
                udh.src_port = Some(u16::from(s));
            }
            (iei::PORTS_16, &[d1, d2, s1, s2]) => {
                udh.dst_port = Some(u16::from_be_bytes([d1, d2]));
                udh.src_port = Some(u16::from_be_bytes([s1, s2]));
            }
            _ => udh.other.push((id, data.to_vec())),
        }
    }
    Ok((udh, r.rest()))
}

/// A checked concatenation IE; `at` is the offset of its IEI.
fn concat(reference: ConcatRef, total: u8, seq: u8, at: usize) -> Result<Concat, DecodeError> {
    // IEI, IEDL, reference (1 or 2 octets), total, seq.
    let total_at = at + reference.ie_len() - 2;
    if total == 0 {
        return Err(DecodeError::new(
            ErrorKind::InvalidValue("concatenation total (0)"),
            total_at,
        ));
    }
    if seq == 0 || seq > total {
        return Err(DecodeError::new(
            ErrorKind::InvalidValue("concatenation sequence number (not in 1..=total)"),
            total_at + 1,
        ));
    }
    Ok(Concat {
        reference,
        total,
        seq,
    })
}

/// Reassemble the segments of ONE message, given in any order, and return its payload.
///
/// Checks that they all carry a concatenation IE with one reference and one total, that every
/// seq in 1..=total is present exactly once, and that their ports agree. A single segment
/// without a concatenation IE is a whole message.
///
/// Error offsets count octets as if the segments were laid end to end in the order given, so
/// an offset names both the segment and the octet in it; errors about a segment as a whole
/// point at its first octet (its UDHL). `Reassembly(..)` errors: no segments, a segment without
/// concatenation, mixed references or totals, a duplicate seq, a missing seq, ports that
/// differ (a missing segment is reported at the end of the input). More than 255 segments:
/// `Limit(Segments)`.
pub fn reassemble(segments: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
    if segments.is_empty() {
        return Err(DecodeError::new(ErrorKind::Reassembly("no segments"), 0));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(DecodeError::new(ErrorKind::Limit(Limit::Segments), 0));
    }
    let mut parsed = Vec::with_capacity(segments.len());
    let mut base = 0usize;
    for s in segments {
        let (udh, payload) = parse_user_data(s).map_err(|e| DecodeError {
            offset: e.offset.saturating_add(base),
            ..e
        })?;
        parsed.push((base, udh, payload));
        base = base.saturating_add(s.len());
    }
    if let [(_, udh, payload)] = parsed.as_slice()
        && udh.concat.is_none()
    {
        return Ok(payload.to_vec());
    }
    let mut first: Option<(Concat, Option<u16>, Option<u16>)> = None;
    let mut slots: Vec<Option<&[u8]>> = Vec::new();
    for (at, udh, payload) in &parsed {
        let err = |what| DecodeError::new(ErrorKind::Reassembly(what), *at);
        let c = udh
            .concat
            .ok_or_else(|| err("segment without concatenation IE"))?;
        let (c0, dst, src) = *first.get_or_insert((c, udh.dst_port, udh.src_port));
        if c.reference != c0.reference {
            return Err(err("segments of different messages (references differ)"));
        }
        if c.total != c0.total {
            return Err(err("segments disagree on the total"));
        }
        if (udh.dst_port, udh.src_port) != (dst, src) {
            return Err(err("segments disagree on the ports"));
        }
        if slots.is_empty() {
            slots = vec![None; usize::from(c0.total)];
        }
        match slots.get_mut(usize::from(c.seq).saturating_sub(1)) {
            Some(slot @ None) => *slot = Some(payload),
            Some(Some(_)) => return Err(err("duplicate sequence number")),
            None => return Err(err("sequence number above the total")),
        }
    }
    let mut out = Vec::with_capacity(parsed.iter().map(|(_, _, p)| p.len()).sum());
    for slot in &slots {
        match slot {
            Some(p) => out.extend_from_slice(p),
            None => {
                return Err(DecodeError::new(
                    ErrorKind::Reassembly("missing segment"),
                    base,
                ));
            }
        }
    }
    Ok(out)
}

/// Key of a message being reassembled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    originator: Vec<u8>,
    reference: ConcatRef,
    total: u8,
}

/// A message being reassembled.
#[derive(Debug)]
struct Entry {
    /// (time of the first segment, arrival number): its place in the eviction order.
    order: (u64, u64),
    ports: (Option<u16>, Option<u16>),
    slots: Vec<Option<Vec<u8>>>,
    received: usize,
    bytes: usize,
}

/// Stateful reassembly of concatenated SMS for a receiver, bounded in messages and octets.
///
/// Messages are keyed by originator (as the transport names it), reference and total. A segment
/// without concatenation is a whole message at once; duplicates of a segment already held are
/// ignored (the first copy is kept); a message is returned when its last missing segment
/// arrives. When `max_pending` messages are held, the oldest (by first segment) is evicted to
/// make room for a new one; when `max_bytes` payload octets are held, the oldest other messages
/// are evicted. Time is an input ([`Reassembler::push_at`], [`Reassembler::expire_before`]),
/// in whatever unit the caller uses; nothing here reads a clock.
#[derive(Debug)]
pub struct Reassembler {
    max_pending: usize,
    max_bytes: usize,
    entries: HashMap<Key, Entry>,
    order: BTreeMap<(u64, u64), Key>,
    next_arrival: u64,
    now: u64,
    bytes: usize,
    evicted: u64,
}

impl Reassembler {
    /// A reassembler holding at most `max_pending` incomplete messages and `max_bytes` payload
    /// octets.
    pub fn new(max_pending: usize, max_bytes: usize) -> Self {
        Reassembler {
            max_pending,
            max_bytes,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_arrival: 0,
            now: 0,
            bytes: 0,
            evicted: 0,
        }
    }

    /// Take one SMS user data (starting with its UDHL) from `originator`; returns the payload
    /// of the message it completes, if any.
    ///
    /// Errors (the segment is then not kept): the [`parse_user_data`] errors; `Reassembly` when
    /// its ports differ from those of the message's earlier segments or when `max_pending` is 0;
    /// `Limit(PduBytes)` when the message cannot fit in `max_bytes` even alone (its earlier
    /// segments are dropped too).
    pub fn push(
        &mut self,
        originator: &[u8],
        user_data: &[u8],
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        let (udh, payload) = parse_user_data(user_data)?;
        let payload_at = user_data.len() - payload.len();
        let c = match udh.concat {
            Some(c) if c.total > 1 => c,
            // No concatenation, or a message of one segment: complete now.
            _ => return Ok(Some(payload.to_vec())),
        };
        let key = Key {
            originator: originator.to_vec(),
            reference: c.reference,
            total: c.total,
        };
        let ports = (udh.dst_port, udh.src_port);
        let index = usize::from(c.seq).saturating_sub(1);
        if let Some(e) = self.entries.get(&key) {
            if e.ports != ports {
                return Err(DecodeError::new(
                    ErrorKind::Reassembly("ports differ from the message's earlier segments"),
                    0,
                ));
            }
            if e.slots.get(index).is_some_and(Option::is_some) {
                return Ok(None);
            }
        }
        // Room in octets: evict the oldest other messages.
        while self.bytes + payload.len() > self.max_bytes {
            let oldest = self.order.iter().find(|(_, k)| **k != key).map(|(o, _)| *o);
            match oldest {
                Some(o) => self.evict(o),
                None => {
                    if let Some(order) = self.entries.get(&key).map(|e| e.order) {
                        self.evict(order);
                    }
                    return Err(DecodeError::new(
                        ErrorKind::Limit(Limit::PduBytes),
                        payload_at,
                    ));
                }
            }
        }
        if !self.entries.contains_key(&key) {
            // Room in messages: evict the oldest.
            while self.entries.len() >= self.max_pending {
                if !self.evict_oldest() {
                    return Err(DecodeError::new(
                        ErrorKind::Reassembly("no room for pending messages (max_pending is 0)"),
                        0,
                    ));
                }
            }
            let order = (self.now, self.next_arrival);
            self.next_arrival += 1;
            self.order.insert(order, key.clone());
            self.entries.insert(
                key.clone(),
                Entry {
                    order,
                    ports,
                    slots: vec![None; usize::from(c.total)],
                    received: 0,
                    bytes: 0,
                },
            );
        }
        let Some(e) = self.entries.get_mut(&key) else {
            return Ok(None);
        };
        if let Some(slot @ None) = e.slots.get_mut(index) {
            *slot = Some(payload.to_vec());
            e.received += 1;
            e.bytes += payload.len();
            self.bytes += payload.len();
        }
        if e.received < e.slots.len() {
            return Ok(None);
        }
        let Some(e) = self.entries.remove(&key) else {
            return Ok(None);
        };
        self.order.remove(&e.order);
        self.bytes = self.bytes.saturating_sub(e.bytes);
        let mut out = Vec::with_capacity(e.bytes);
        for p in e.slots.iter().flatten() {
            out.extend_from_slice(p);
        }
        Ok(Some(out))
    }

    /// [`Reassembler::push`] at time `now` (any monotonic unit; the time of a message is that
    /// of its first segment, for [`Reassembler::expire_before`]). Later calls to `push` use
    /// the last `now` given.
    pub fn push_at(
        &mut self,
        now: u64,
        originator: &[u8],
        user_data: &[u8],
    ) -> Result<Option<Vec<u8>>, DecodeError> {
        self.now = now;
        self.push(originator, user_data)
    }

    /// Drop the incomplete messages whose first segment came before `cutoff`; returns how many.
    pub fn expire_before(&mut self, cutoff: u64) -> usize {
        let mut n = 0;
        while let Some(o) = self.order.keys().next().copied() {
            if o.0 >= cutoff {
                break;
            }
            self.evict(o);
            n += 1;
        }
        n
    }

    /// Drop the oldest incomplete message; false when there is none.
    pub fn evict_oldest(&mut self) -> bool {
        match self.order.keys().next().copied() {
            Some(o) => {
                self.evict(o);
                true
            }
            None => false,
        }
    }

    fn evict(&mut self, order: (u64, u64)) {
        if let Some(key) = self.order.remove(&order)
            && let Some(e) = self.entries.remove(&key)
        {
            self.bytes = self.bytes.saturating_sub(e.bytes);
            self.evicted += 1;
        }
    }

    /// Drop every incomplete message.
    pub fn clear(&mut self) {
        self.evicted += self.entries.len() as u64;
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Incomplete messages held.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }

    /// Payload octets held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Incomplete messages dropped so far (evicted for room, expired, or cleared).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsp::content_type::{MediaType, ParamName, ParamValue};
    use proptest::prelude::*;
    use std::path::{Path, PathBuf};

    fn shared(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared")
            .join(rel)
    }

    /// A test vector from /work/shared (GPL test data, never copied into the repository).
    fn vector(rel: &str) -> Option<Vec<u8>> {
        let p = shared(rel);
        match std::fs::read(&p) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("skipping: test vector {} not available ({e})", p.display());
                None
            }
        }
    }

    const KANNEL: &str = "peers/kannel/wsp_push_from_kannel.bin";

    fn dec(b: &[u8]) -> PushPdu<'_> {
        PushPdu::decode(b, &Limits::default()).unwrap()
    }

    /// Decodes, re-encodes to the same octets, and decodes again to the same value.
    fn round_trip_exact(b: &[u8]) -> PushPdu<'_> {
        let p = dec(b);
        let out = p.encode().unwrap();
        assert_eq!(out, b, "re-encoding differs");
        assert_eq!(PushPdu::decode(&out, &Limits::default()).unwrap(), p);
        p
    }

    // ---- WSP Push: vectors ------------------------------------------------------------------

    #[test]
    fn kannel_push_decodes() {
        let Some(b) = vector(KANNEL) else { return };
        assert_eq!(b.len(), 181);
        let p = round_trip_exact(&b);
        assert_eq!(p.transaction_id, 0);
        assert_eq!(p.pdu_type, PDU_PUSH);
        assert_eq!(
            p.content_type.media,
            MediaType::Text(Cow::Borrowed(b"application/vnd.wap.mms-message"))
        );
        assert_eq!(
            p.headers,
            vec![
                PushHeader::Other {
                    code: header::USER_AGENT,
                    raw: Cow::Borrowed(b"curl/7.88.1\0"),
                },
                PushHeader::Other {
                    code: header::ACCEPT,
                    raw: Cow::Borrowed(&[0x80]),
                },
                PushHeader::ApplicationId(AppId::Code(4)),
                PushHeader::ContentLength(125),
                PushHeader::EncodingVersion(EncodingVersion::Short(0x13)),
            ]
        );
        assert_eq!(p.headers[0].name(), "User-Agent");
        assert_eq!(p.headers[4].name(), "Encoding-Version");
        assert_eq!(
            p.application_id().as_deref(),
            Some("x-wap-application:mms.ua")
        );
        assert_eq!(p.content_length(), Some(125));
        assert!(matches!(&p.headers[4], PushHeader::EncodingVersion(v) if v.name() == "1.3"));
        assert!(p.is_mms());
        assert_eq!(p.body.len(), 125);
        let ind = crate::Pdu::decode(&p.body, &Limits::default()).unwrap();
        assert_eq!(ind.message_type, crate::mms::MessageType::NOTIFICATION_IND);
        assert_eq!(
            ind.transaction_id(),
            Some(&b"m10l9m7u03mct2jbc12@mms.beeline.ru"[..])
        );
        // Owned copy is equal.
        assert_eq!(p.clone().into_owned(), p);
    }

    #[test]
    fn kannel_push_resegmented_like_kannel() {
        let Some(b) = vector(KANNEL) else { return };
        let sms = segment(&b, ConcatRef::Eight(0x5A)).unwrap();
        assert_eq!(sms.len(), 2);
        for (i, s) in sms.iter().enumerate() {
            assert!(s.len() <= MAX_USER_DATA);
            let seq = i as u8 + 1;
            assert_eq!(
                &s[..12],
                &[
                    0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x5A, 0x02, seq
                ]
            );
        }
        assert_eq!(sms[0].len(), MAX_USER_DATA);
        assert_eq!(sms[0].len() - 12 + sms[1].len() - 12, 181);
        // Reversed order reassembles to the push, which decodes.
        let segs: Vec<&[u8]> = sms.iter().rev().map(Vec::as_slice).collect();
        let back = reassemble(&segs).unwrap();
        assert_eq!(back, b);
        assert!(dec(&back).is_mms());
        let mut ra = Reassembler::new(4, 4096);
        assert_eq!(ra.push(b"+358408201681", &sms[1]).unwrap(), None);
        assert_eq!(ra.pending(), 1);
        assert_eq!(ra.push(b"+358408201681", &sms[0]).unwrap(), Some(b));
        assert_eq!((ra.pending(), ra.bytes()), (0, 0));
    }

    fn mmsd(n: u8) -> Option<Vec<u8>> {
        vector(&format!("vectors/mmsd/from-test-source/push{n}.bin"))
    }

    #[test]
    fn mmsd_push1() {
        let Some(b) = mmsd(1) else { return };
        let p = round_trip_exact(&b);
        assert_eq!((p.transaction_id, p.pdu_type), (1, PDU_PUSH));
        assert_eq!(b[2], 36);
        assert_eq!(
            p.content_type.media,
            MediaType::Text(Cow::Borrowed(b"application/vnd.wap.mms-message"))
        );
        assert_eq!(
            p.headers,
            vec![
                PushHeader::ApplicationId(AppId::Code(APP_ID_MMS_UA)),
                PushHeader::PushFlag(0x06),
            ]
        );
        assert!(p.is_mms());
        assert_eq!(p.body.len(), 68);
        if let Some(ind) = vector("vectors/mmsd/from-test-source/mms_m_notify_ind_1.bin") {
            assert_eq!(&p.body[..], &ind[..]);
        }
        let ind = crate::Pdu::decode(&p.body, &Limits::default()).unwrap();
        assert_eq!(ind.transaction_id(), Some(&b"OgQKKB"[..]));
    }

    #[test]
    fn mmsd_push2() {
        let Some(b) = mmsd(2) else { return };
        let p = round_trip_exact(&b);
        assert_eq!((p.transaction_id, p.pdu_type), (0, PDU_PUSH));
        assert!(p.content_type.media.is(CT_MMS_MESSAGE));
        assert_eq!(
            p.headers,
            vec![
                PushHeader::ApplicationId(AppId::Code(APP_ID_MMS_UA)),
                PushHeader::ContentLength(0x5C),
            ]
        );
        assert!(p.is_mms());
        assert_eq!(p.body.len(), 93);
        if let Some(ind) = vector("vectors/mmsd/from-test-source/mms_m_notify_ind_2.bin") {
            assert_eq!(&p.body[..], &ind[..]);
        }
        let ind = crate::Pdu::decode(&p.body, &Limits::default()).unwrap();
        assert_eq!(ind.transaction_id(), Some(&b"wLJeT7THu"[..]));
    }

    #[test]
    fn mmsd_push3_drm() {
        let Some(b) = mmsd(3) else { return };
        let p = round_trip_exact(&b);
        assert_eq!((p.transaction_id, p.pdu_type), (76, PDU_PUSH));
        assert_eq!(
            p.content_type.to_string(),
            "application/vnd.oma.drm.rights+wbxml"
        );
        assert_eq!(p.headers, vec![PushHeader::ApplicationId(AppId::Code(8))]);
        assert_eq!(
            p.application_id().as_deref(),
            Some("x-wap-application:drm.ua")
        );
        assert_eq!(p.body.len(), 84);
        assert!(!p.is_mms());
    }

    #[test]
    fn mmsd_push4_dm() {
        let Some(b) = mmsd(4) else { return };
        let p = round_trip_exact(&b);
        assert_eq!((p.transaction_id, p.pdu_type), (183, PDU_PUSH));
        assert_eq!(
            p.content_type.to_string(),
            "application/vnd.syncml.notification"
        );
        assert_eq!(
            p.application_id().as_deref(),
            Some("x-wap-application:syncml.dm")
        );
        assert_eq!(p.body.len(), 32);
        assert!(!p.is_mms());
    }

    #[test]
    fn mmsd_push5_connectivity() {
        let Some(b) = mmsd(5) else { return };
        let p = round_trip_exact(&b);
        assert_eq!((p.transaction_id, p.pdu_type), (196, PDU_PUSH));
        assert_eq!(
            p.content_type.media,
            MediaType::WellKnown(0x36) // application/vnd.wap.connectivity-wbxml
        );
        assert_eq!(p.content_type.params.len(), 2);
        assert_eq!(p.content_type.params[0].name, ParamName::WellKnown(0x11));
        assert_eq!(p.content_type.params[0].value, ParamValue::Integer(1));
        assert_eq!(
            p.content_type.params[1].value.as_text(),
            Some(&b"59D36D14E88499A3D56EBA6D4F94A67041BD2A9C"[..])
        );
        assert!(p.headers.is_empty());
        assert_eq!(p.application_id(), None);
        assert_eq!(p.body.len(), 65);
        assert!(!p.is_mms());
    }

    // ---- WSP Push: built and malformed ------------------------------------------------------

    #[test]
    fn mms_notification_layout() {
        let ind = [0x8C, 0x82, 0x98, b'x', 0x00, 0x8D, 0x90];
        let p = PushPdu::mms_notification(0x2A, &ind);
        let out = p.encode().unwrap();
        assert_eq!(&out[..6], &[0x2A, 0x06, 0x03, 0xBE, 0xAF, 0x84]);
        assert_eq!(&out[6..], &ind);
        let back = dec(&out);
        assert_eq!(back, p);
        assert!(back.is_mms());
        assert_eq!(
            back.application_id().as_deref(),
            Some("x-wap-application:mms.ua")
        );
    }

    #[test]
    fn is_mms_forms() {
        let ind = [0x8C, 0x82];
        let mut p = PushPdu::mms_notification(0, &ind);
        assert!(p.is_mms());
        // App id as URN text, any case.
        p.headers = vec![PushHeader::ApplicationId(AppId::Uri(Cow::Borrowed(
            b"X-WAP-Application:mms.ua",
        )))];
        assert!(p.is_mms());
        // Absent app id.
        p.headers.clear();
        assert!(p.is_mms());
        // Content type as text.
        p.content_type = ContentType::new(MediaType::Text(Cow::Borrowed(
            b"application/vnd.wap.mms-message",
        )));
        assert!(p.is_mms());
        // Another application.
        p.headers = vec![PushHeader::ApplicationId(AppId::Code(0x09))];
        assert!(!p.is_mms());
        // Another content type.
        p.headers.clear();
        p.content_type = ContentType::well_known(0x2E);
        assert!(!p.is_mms());
    }

    #[test]
    fn header_forms_round_trip() {
        let mut b = vec![0x07, 0x07, 0x00, 0xBE];
        // App id as a Long-integer (0x9000: WINA's registered-code space), Content-Length as
        // Long-integer, Encoding-Version as text and in its code-page form, a textual header,
        // an unknown well-known header with a Value-length value, Push-Flag as text (kept raw).
        b.extend_from_slice(&[0xAF, 0x02, 0x90, 0x00]);
        b.extend_from_slice(&[0x8D, 0x02, 0x40, 0x00]);
        b.extend_from_slice(b"\xC31.2\0");
        b.extend_from_slice(&[0xC3, 0x02, 0x81, 0x93]);
        b.extend_from_slice(b"X-Foo\0bar\0");
        b.extend_from_slice(&[0xB2, 0x03, 0x01, 0x02, 0x03]);
        b.extend_from_slice(b"\xB4yes\0");
        b.extend_from_slice(b"\xAFx-wap-application:wml.ua\0");
        b[2] = (b.len() - 3) as u8;
        b.extend_from_slice(b"body");
        let p = dec(&b);
        assert_eq!(p.pdu_type, PDU_CONFIRMED_PUSH);
        assert_eq!(
            p.headers,
            vec![
                PushHeader::ApplicationId(AppId::Code(0x9000)),
                PushHeader::ContentLength(16384),
                PushHeader::EncodingVersion(EncodingVersion::Text(Cow::Borrowed(b"1.2"))),
                PushHeader::Other {
                    code: header::ENCODING_VERSION,
                    raw: Cow::Borrowed(&[0x02, 0x81, 0x93]),
                },
                PushHeader::Text {
                    name: Cow::Borrowed(b"X-Foo"),
                    value: Cow::Borrowed(b"bar"),
                },
                PushHeader::Other {
                    code: 0x32,
                    raw: Cow::Borrowed(&[0x03, 0x01, 0x02, 0x03]),
                },
                PushHeader::Other {
                    code: header::PUSH_FLAG,
                    raw: Cow::Borrowed(b"yes\0"),
                },
                PushHeader::ApplicationId(AppId::Uri(Cow::Borrowed(b"x-wap-application:wml.ua"))),
            ]
        );
        assert_eq!(p.application_id().as_deref(), Some("0x9000"));
        assert_eq!(&p.body[..], b"body");
        assert_eq!(p.headers[4].name(), "X-Foo");
        assert_eq!(p.headers[5].name(), "Accept-Application");
        let out = p.encode().unwrap();
        assert_eq!(dec(&out), p);
        // Every octet but the canonicalised Long-integer app id is kept.
        assert_eq!(out.len(), b.len());
    }

    #[test]
    fn texts_starting_with_quote_octets_round_trip() {
        let body = [];
        let mut p = PushPdu::mms_notification(0, &body);
        p.headers = vec![
            PushHeader::Text {
                name: Cow::Borrowed(b"X-A"),
                value: Cow::Borrowed(b"\x7Fq"),
            },
            PushHeader::Text {
                name: Cow::Borrowed(b"X-B"),
                value: Cow::Borrowed("été".as_bytes()),
            },
            PushHeader::Text {
                name: Cow::Borrowed(b"X-C"),
                value: Cow::Borrowed(b""),
            },
            PushHeader::ApplicationId(AppId::Uri(Cow::Borrowed(b"\x7Fz"))),
            PushHeader::EncodingVersion(EncodingVersion::Text(Cow::Borrowed("é".as_bytes()))),
        ];
        let out = p.encode().unwrap();
        assert_eq!(dec(&out), p);
    }

    #[test]
    fn encode_refuses_what_does_not_read_back() {
        let body = [];
        let base = PushPdu::mms_notification(0, &body);
        let with = |h: PushHeader<'static>| {
            let mut p = base.clone();
            p.headers = vec![h];
            p.encode()
        };
        assert!(with(PushHeader::ApplicationId(AppId::Uri(Cow::Borrowed(b"")))).is_err());
        assert!(
            with(PushHeader::ApplicationId(AppId::Uri(Cow::Borrowed(
                b"\x01a"
            ))))
            .is_err()
        );
        assert!(with(PushHeader::PushFlag(0x80)).is_err());
        assert!(with(PushHeader::EncodingVersion(EncodingVersion::Short(0x80))).is_err());
        assert!(
            with(PushHeader::Other {
                code: 0x29,
                raw: Cow::Borrowed(b"no-nul"),
            })
            .is_err()
        );
        assert!(
            with(PushHeader::Other {
                code: 0x29,
                raw: Cow::Borrowed(&[0x81, 0x82]),
            })
            .is_err()
        );
        assert!(
            with(PushHeader::Other {
                code: 0x80,
                raw: Cow::Borrowed(&[0x81]),
            })
            .is_err()
        );
        assert!(
            with(PushHeader::Text {
                name: Cow::Borrowed(b""),
                value: Cow::Borrowed(b"v"),
            })
            .is_err()
        );
        let mut p = base.clone();
        p.pdu_type = 0x08;
        assert_eq!(p.encode(), Err(EncodeError::OutOfRange("WSP PDU type")));
    }

    #[test]
    fn malformed_pushes_are_typed_errors() {
        let l = Limits::default();
        let err = |b: &[u8]| PushPdu::decode(b, &l).unwrap_err();
        assert!(matches!(err(&[]).kind, ErrorKind::Truncated { .. }));
        assert!(matches!(err(&[0x00]).kind, ErrorKind::Truncated { .. }));
        let e = err(&[0x00, 0x40, 0x01, 0xBE]);
        assert_eq!(e.offset, 1);
        assert!(matches!(e.kind, ErrorKind::Unexpected { byte: 0x40, .. }));
        // HeadersLen beyond the input.
        let e = err(&[0x00, 0x06, 0x05, 0xBE, 0xAF]);
        assert_eq!(e.offset, 2);
        assert!(matches!(
            e.kind,
            ErrorKind::LengthOverrun {
                declared: 5,
                available: 2
            }
        ));
        // HeadersLen 0: no Content-Type.
        assert!(matches!(
            err(&[0x00, 0x06, 0x00, 0x8C]).kind,
            ErrorKind::Truncated { .. }
        ));
        // A bad uintvar.
        assert_eq!(
            err(&[0x00, 0x06, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).kind,
            ErrorKind::BadUintvar
        );
        // A header value cut by HeadersLen.
        let e = err(&[0x00, 0x06, 0x03, 0xBE, 0xA9, b'a', b'b', 0x00]);
        assert_eq!(e.kind, ErrorKind::Unterminated);
        // An octet that starts no header.
        let e = err(&[0x00, 0x06, 0x02, 0xBE, 0x05]);
        assert_eq!(e.offset, 4);
        assert!(matches!(e.kind, ErrorKind::Unexpected { byte: 0x05, .. }));
        // Limits.
        let small = Limits {
            max_pdu_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            PushPdu::decode(&[0, 6, 1, 0xBE, 0], &small)
                .unwrap_err()
                .kind,
            ErrorKind::Limit(Limit::PduBytes)
        );
        let few = Limits {
            max_headers: 1,
            ..Limits::default()
        };
        assert_eq!(
            PushPdu::decode(&[0, 6, 5, 0xBE, 0xAF, 0x84, 0x8D, 0x80], &few)
                .unwrap_err()
                .kind,
            ErrorKind::Limit(Limit::Headers)
        );
    }

    // ---- UDH --------------------------------------------------------------------------------

    #[test]
    fn udh_single_and_concatenated_forms() {
        let sms = segment(b"hello", ConcatRef::Eight(1)).unwrap();
        assert_eq!(sms, vec![b"\x06\x05\x04\x0B\x84\x23\xF0hello".to_vec()]);
        let (udh, payload) = parse_user_data(&sms[0]).unwrap();
        assert_eq!(udh, Udh::wap_push(None));
        assert_eq!(payload, b"hello");

        // 16-bit reference.
        let data = vec![0x55; 300];
        let sms = segment(&data, ConcatRef::Sixteen(0xBEEF)).unwrap();
        assert_eq!(sms.len(), 3);
        assert_eq!(
            &sms[2][..13],
            &[
                0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0xBE, 0xEF, 0x03, 0x03
            ]
        );
        assert!(sms.iter().all(|s| s.len() <= MAX_USER_DATA));
        assert_eq!(sms[0].len(), MAX_USER_DATA);
        let (udh, _) = parse_user_data(&sms[1]).unwrap();
        assert_eq!(
            udh.concat,
            Some(Concat {
                reference: ConcatRef::Sixteen(0xBEEF),
                total: 3,
                seq: 2
            })
        );
        assert_eq!(ConcatRef::Sixteen(0xBEEF).value(), 0xBEEF);
    }

    #[test]
    fn segment_boundaries() {
        assert_eq!(segment(&[], ConcatRef::Eight(0)).unwrap().len(), 1);
        assert_eq!(segment(&[1; 133], ConcatRef::Eight(0)).unwrap().len(), 1);
        let two = segment(&[1; 134], ConcatRef::Eight(0)).unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].len(), 140);
        assert_eq!(two[1].len(), 12 + 6);
        let max8 = segment(&vec![7; 128 * 255], ConcatRef::Eight(9)).unwrap();
        assert_eq!(max8.len(), 255);
        assert!(max8.iter().all(|s| s.len() == MAX_USER_DATA));
        assert_eq!(
            segment(&vec![7; 128 * 255 + 1], ConcatRef::Eight(9)),
            Err(EncodeError::TooManySegments)
        );
        assert_eq!(
            segment(&vec![7; 127 * 255], ConcatRef::Sixteen(9))
                .unwrap()
                .len(),
            255
        );
        assert_eq!(
            segment(&vec![7; 127 * 255 + 1], ConcatRef::Sixteen(9)),
            Err(EncodeError::TooManySegments)
        );
    }

    #[test]
    fn udh_other_ies_and_8bit_ports() {
        // 8-bit ports, a special-SMS IE, an empty IE, then 8-bit concatenation.
        let ud = [
            0x0F, 0x04, 0x02, 0xF5, 0xF6, 0x01, 0x02, 0x81, 0x00, 0x70, 0x00, 0x00, 0x03, 0x07,
            0x02, 0x01, b'x',
        ];
        let (udh, payload) = parse_user_data(&ud).unwrap();
        assert_eq!(udh.dst_port, Some(0xF5));
        assert_eq!(udh.src_port, Some(0xF6));
        assert_eq!(udh.other, vec![(0x01, vec![0x81, 0x00]), (0x70, vec![])]);
        assert_eq!(
            udh.concat,
            Some(Concat {
                reference: ConcatRef::Eight(7),
                total: 2,
                seq: 1
            })
        );
        assert_eq!(payload, b"x");
        // Encode (16-bit ports) and parse back.
        let mut out = Vec::new();
        udh.encode(&mut out).unwrap();
        assert_eq!(out.len(), udh.encoded_len());
        assert_eq!(parse_user_data(&out).unwrap(), (udh.clone(), &[][..]));
        // The last of repeated IEs is used.
        let ud = [
            0x0A, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x03, 0x09, 0x03, 0x03,
        ];
        let (udh, _) = parse_user_data(&ud).unwrap();
        assert_eq!(
            udh.concat,
            Some(Concat {
                reference: ConcatRef::Eight(9),
                total: 3,
                seq: 3
            })
        );
        // Empty UDH.
        assert_eq!(
            parse_user_data(&[0x00, b'a']).unwrap(),
            (Udh::default(), &b"a"[..])
        );
    }

    #[test]
    fn udh_malformed() {
        let kind = |ud: &[u8]| parse_user_data(ud).unwrap_err();
        assert!(matches!(kind(&[]).kind, ErrorKind::Truncated { .. }));
        // UDHL beyond the input.
        let e = kind(&[0x06, 0x05, 0x04, 0x0B]);
        assert_eq!(e.offset, 0);
        assert!(matches!(
            e.kind,
            ErrorKind::LengthOverrun {
                declared: 6,
                available: 3
            }
        ));
        // IEI without its length (truncated IE).
        let e = kind(&[0x01, 0x05]);
        assert_eq!(e.offset, 2);
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }));
        // IE length beyond the UDH (overrun), though the payload has the octets.
        let e = kind(&[0x03, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
        assert_eq!(e.offset, 2);
        assert!(matches!(
            e.kind,
            ErrorKind::LengthOverrun {
                declared: 4,
                available: 1
            }
        ));
        // Wrong lengths for typed IEs.
        for ud in [
            &[0x04, 0x00, 0x02, 0x01, 0x01][..],
            &[0x05, 0x08, 0x03, 0x01, 0x01, 0x01][..],
            &[0x05, 0x05, 0x03, 0x01, 0x01, 0x01][..],
            &[0x05, 0x04, 0x03, 0x01, 0x01, 0x01][..],
        ] {
            let e = kind(ud);
            assert_eq!(e.offset, 2, "{ud:02X?}");
            assert!(matches!(e.kind, ErrorKind::Unexpected { .. }), "{ud:02X?}");
        }
        // seq 0, seq > total, total 0 (8- and 16-bit).
        let e = kind(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x00]);
        assert_eq!(
            (e.kind.clone(), e.offset),
            (
                ErrorKind::InvalidValue("concatenation sequence number (not in 1..=total)"),
                5
            )
        );
        let e = kind(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x03]);
        assert_eq!(e.offset, 5);
        assert!(matches!(e.kind, ErrorKind::InvalidValue(_)));
        let e = kind(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x00]);
        assert_eq!(
            (e.kind, e.offset),
            (ErrorKind::InvalidValue("concatenation total (0)"), 4)
        );
        let e = kind(&[0x06, 0x08, 0x04, 0x00, 0x01, 0x02, 0x03]);
        assert_eq!(e.offset, 6);
        assert!(matches!(e.kind, ErrorKind::InvalidValue(_)));
    }

    #[test]
    fn udh_encode_refusals() {
        let mut out = Vec::new();
        let one_port = Udh {
            dst_port: Some(1),
            ..Udh::default()
        };
        assert!(one_port.encode(&mut out).is_err());
        let bad_seq = Udh::wap_push(Some(Concat {
            reference: ConcatRef::Eight(1),
            total: 2,
            seq: 3,
        }));
        assert!(bad_seq.encode(&mut out).is_err());
        let typed_in_other = Udh {
            other: vec![(iei::CONCAT_8, vec![1, 1, 1])],
            ..Udh::default()
        };
        assert!(typed_in_other.encode(&mut out).is_err());
        let too_long = Udh {
            other: vec![(0x70, vec![0; 254])],
            ..Udh::default()
        };
        assert!(too_long.encode(&mut out).is_err());
    }

    // ---- reassembly -------------------------------------------------------------------------

    fn sms(reference: ConcatRef, total: u8, seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Udh::wap_push(Some(Concat {
            reference,
            total,
            seq,
        }))
        .encode(&mut out)
        .unwrap();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reassemble_checks() {
        let r8 = ConcatRef::Eight(3);
        let a = sms(r8, 2, 1, b"ab");
        let b = sms(r8, 2, 2, b"cd");
        assert_eq!(reassemble(&[&b, &a]).unwrap(), b"abcd");
        let seg_len = a.len();

        let err = |segs: &[&[u8]]| reassemble(segs).unwrap_err();
        assert_eq!(
            err(&[]),
            DecodeError::new(ErrorKind::Reassembly("no segments"), 0)
        );
        // Missing segment, reported at the end of the input.
        assert_eq!(
            err(&[&a]),
            DecodeError::new(ErrorKind::Reassembly("missing segment"), seg_len)
        );
        // Duplicate seq, reported at the second copy.
        assert_eq!(
            err(&[&a, &b, &a]),
            DecodeError::new(
                ErrorKind::Reassembly("duplicate sequence number"),
                2 * seg_len
            )
        );
        // Mixed references: other value, or same value in the other width.
        let other = sms(ConcatRef::Eight(4), 2, 2, b"cd");
        assert_eq!(
            err(&[&a, &other]).kind,
            ErrorKind::Reassembly("segments of different messages (references differ)")
        );
        let wide = sms(ConcatRef::Sixteen(3), 2, 2, b"cd");
        assert_eq!(
            err(&[&a, &wide]).kind,
            ErrorKind::Reassembly("segments of different messages (references differ)")
        );
        // Mixed totals.
        let three = sms(r8, 3, 2, b"cd");
        assert_eq!(
            err(&[&a, &three]).kind,
            ErrorKind::Reassembly("segments disagree on the total")
        );
        // Ports differ.
        let mut udh = Udh::wap_push(Some(Concat {
            reference: r8,
            total: 2,
            seq: 2,
        }));
        udh.dst_port = Some(2949);
        let mut other_port = Vec::new();
        udh.encode(&mut other_port).unwrap();
        assert_eq!(
            err(&[&a, &other_port]).kind,
            ErrorKind::Reassembly("segments disagree on the ports")
        );
        // A plain SMS among concatenated ones.
        let plain = segment(b"x", r8).unwrap().remove(0);
        let e = err(&[&a, &plain]);
        assert_eq!(
            e,
            DecodeError::new(
                ErrorKind::Reassembly("segment without concatenation IE"),
                seg_len
            )
        );
        // A single plain SMS is a whole message.
        assert_eq!(reassemble(&[&plain]).unwrap(), b"x");
        // Parse errors carry offsets into the concatenated input: seq 0 in the second segment.
        let mut bad = b.clone();
        bad[11] = 0;
        let e = err(&[&a, &bad]);
        assert_eq!(e.offset, seg_len + 11);
        assert!(matches!(e.kind, ErrorKind::InvalidValue(_)));
        // seq > total.
        bad[11] = 3;
        assert!(matches!(err(&[&a, &bad]).kind, ErrorKind::InvalidValue(_)));
        // More than 255 segments.
        let many: Vec<&[u8]> = std::iter::repeat_n(&a[..], 256).collect();
        assert_eq!(err(&many).kind, ErrorKind::Limit(Limit::Segments));
    }

    #[test]
    fn reassembler_duplicates_and_interleaving() {
        let mut ra = Reassembler::new(8, 10_000);
        let (x1, x2) = (
            sms(ConcatRef::Eight(1), 2, 1, b"x1"),
            sms(ConcatRef::Eight(1), 2, 2, b"x2"),
        );
        let (y1, y2, y3) = (
            sms(ConcatRef::Eight(1), 3, 1, b"y1"),
            sms(ConcatRef::Eight(1), 3, 2, b"y2"),
            sms(ConcatRef::Eight(1), 3, 3, b"y3"),
        );
        assert_eq!(ra.push(b"A", &x1).unwrap(), None);
        assert_eq!(ra.push(b"B", &x2).unwrap(), None); // other originator
        assert_eq!(ra.push(b"A", &y3).unwrap(), None); // same ref, other total
        assert_eq!(ra.push(b"A", &x1).unwrap(), None); // duplicate ignored
        assert_eq!(ra.pending(), 3);
        assert_eq!(ra.bytes(), 6);
        assert_eq!(ra.push(b"A", &y1).unwrap(), None);
        assert_eq!(ra.push(b"A", &x2).unwrap(), Some(b"x1x2".to_vec()));
        assert_eq!(ra.push(b"A", &y2).unwrap(), Some(b"y1y2y3".to_vec()));
        assert_eq!(ra.pending(), 1);
        assert_eq!(ra.push(b"B", &x1).unwrap(), Some(b"x1x2".to_vec()));
        assert_eq!((ra.pending(), ra.bytes(), ra.evicted()), (0, 0, 0));
        // A plain SMS passes straight through; so does a 1-of-1.
        let plain = segment(b"solo", ConcatRef::Eight(0)).unwrap().remove(0);
        assert_eq!(ra.push(b"A", &plain).unwrap(), Some(b"solo".to_vec()));
        let one = sms(ConcatRef::Sixteen(7), 1, 1, b"one");
        assert_eq!(ra.push(b"A", &one).unwrap(), Some(b"one".to_vec()));
        assert_eq!(ra.pending(), 0);
    }

    #[test]
    fn reassembler_bounds() {
        let seg = |r: u8, seq: u8| sms(ConcatRef::Eight(r), 2, seq, &[r; 10]);
        // max_pending: the oldest is evicted.
        let mut ra = Reassembler::new(2, 1000);
        ra.push(b"o", &seg(1, 1)).unwrap();
        ra.push(b"o", &seg(2, 1)).unwrap();
        ra.push(b"o", &seg(3, 1)).unwrap();
        assert_eq!((ra.pending(), ra.evicted(), ra.bytes()), (2, 1, 20));
        assert_eq!(ra.push(b"o", &seg(1, 2)).unwrap(), None); // 1 was evicted
        assert_eq!(ra.evicted(), 2); // ... and starting it again evicted 2
        assert_eq!(ra.push(b"o", &seg(3, 2)).unwrap(), Some(vec![3; 20]));
        // max_bytes: older messages make room; a message larger than the budget fails.
        let mut ra = Reassembler::new(10, 25);
        ra.push(b"o", &seg(1, 1)).unwrap();
        ra.push(b"o", &seg(2, 1)).unwrap();
        ra.push(b"o", &seg(3, 1)).unwrap();
        assert_eq!((ra.pending(), ra.bytes(), ra.evicted()), (2, 20, 1));
        let mut ra = Reassembler::new(10, 15);
        ra.push(b"o", &seg(1, 1)).unwrap();
        let e = ra.push(b"o", &seg(1, 2)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit(Limit::PduBytes));
        assert_eq!(e.offset, 12);
        assert_eq!((ra.pending(), ra.bytes()), (0, 0));
        // max_pending 0 holds nothing but still passes single SMS through.
        let mut ra = Reassembler::new(0, 1000);
        assert!(matches!(
            ra.push(b"o", &seg(1, 1)).unwrap_err().kind,
            ErrorKind::Reassembly(_)
        ));
        assert_eq!(
            ra.push(b"o", &segment(b"s", ConcatRef::Eight(0)).unwrap()[0])
                .unwrap(),
            Some(b"s".to_vec())
        );
        // Ports must agree with earlier segments; the bad segment is not kept.
        let mut ra = Reassembler::new(4, 1000);
        ra.push(b"o", &seg(1, 1)).unwrap();
        let mut other = Vec::new();
        Udh {
            dst_port: Some(1),
            src_port: Some(2),
            concat: Some(Concat {
                reference: ConcatRef::Eight(1),
                total: 2,
                seq: 2,
            }),
            other: vec![],
        }
        .encode(&mut other)
        .unwrap();
        assert!(matches!(
            ra.push(b"o", &other).unwrap_err().kind,
            ErrorKind::Reassembly(_)
        ));
        assert_eq!(ra.push(b"o", &seg(1, 2)).unwrap(), Some(vec![1; 20]));
        // Malformed user data is an error and changes nothing.
        assert!(ra.push(b"o", &[0x05, 0x00, 0x03]).is_err());
        assert_eq!(ra.pending(), 0);
    }

    #[test]
    fn reassembler_expiry_and_explicit_eviction() {
        let seg = |r: u8| sms(ConcatRef::Eight(r), 2, 1, &[r; 4]);
        let mut ra = Reassembler::new(10, 1000);
        ra.push_at(100, b"o", &seg(1)).unwrap();
        ra.push_at(200, b"o", &seg(2)).unwrap();
        ra.push_at(300, b"o", &seg(3)).unwrap();
        ra.push(b"o", &seg(4)).unwrap(); // at 300 too
        assert_eq!(ra.expire_before(250), 2);
        assert_eq!(ra.pending(), 2);
        assert!(ra.evict_oldest());
        assert_eq!((ra.pending(), ra.bytes()), (1, 4));
        ra.clear();
        assert_eq!((ra.pending(), ra.bytes(), ra.evicted()), (0, 0, 4));
        assert!(!ra.evict_oldest());
        assert_eq!(ra.expire_before(u64::MAX), 0);
    }

    // ---- properties -------------------------------------------------------------------------

    fn text(min: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0x20u8..0x7F, min..12)
    }

    fn any_text(min: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=0xFF, min..12)
    }

    /// Text as a typed header value takes: not starting with a control octet.
    fn value_text() -> impl Strategy<Value = Vec<u8>> {
        ((0x20u8..=0xFF), any_text(0)).prop_map(|(c, mut t)| {
            t.insert(0, c);
            t
        })
    }

    fn raw_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (0x80u8..=0xFF).prop_map(|b| vec![b]),
            text(1).prop_map(|mut t| {
                t.push(0);
                t
            }),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|d| {
                let mut v = Vec::new();
                writer::value_length(&mut v, d.len(), "t").unwrap();
                v.extend_from_slice(&d);
                v
            }),
        ]
    }

    fn push_header() -> impl Strategy<Value = PushHeader<'static>> {
        prop_oneof![
            any::<u32>().prop_map(|c| PushHeader::ApplicationId(AppId::Code(c))),
            value_text().prop_map(|t| PushHeader::ApplicationId(AppId::Uri(Cow::Owned(t)))),
            any::<u64>().prop_map(PushHeader::ContentLength),
            (0u8..0x80).prop_map(PushHeader::PushFlag),
            (0u8..0x80).prop_map(|v| PushHeader::EncodingVersion(EncodingVersion::Short(v))),
            value_text()
                .prop_map(|t| PushHeader::EncodingVersion(EncodingVersion::Text(Cow::Owned(t)))),
            (
                (0x20u8..0x7F).prop_flat_map(|c| text(0).prop_map(move |mut t| {
                    t.insert(0, c);
                    t
                })),
                any_text(0)
            )
                .prop_map(|(n, v)| PushHeader::Text {
                    name: Cow::Owned(n),
                    value: Cow::Owned(v),
                }),
            (
                (0u8..0x80).prop_filter("typed codes", |c| !matches!(
                    *c,
                    header::X_WAP_APPLICATION_ID
                        | header::CONTENT_LENGTH
                        | header::PUSH_FLAG
                        | header::ENCODING_VERSION
                )),
                raw_value()
            )
                .prop_map(|(code, raw)| PushHeader::Other {
                    code,
                    raw: Cow::Owned(raw),
                }),
        ]
    }

    fn push_pdu() -> impl Strategy<Value = PushPdu<'static>> {
        let media = prop_oneof![
            (0u16..0x80).prop_map(MediaType::WellKnown),
            (0x80u16..0x400).prop_map(MediaType::WellKnown),
            text(1)
                .prop_filter("not a quote", |t| t[0] != 0x7F)
                .prop_map(|t| MediaType::Text(Cow::Owned(t))),
        ];
        (
            any::<u8>(),
            prop_oneof![Just(PDU_PUSH), Just(PDU_CONFIRMED_PUSH)],
            media,
            proptest::option::of(any::<u8>()),
            proptest::collection::vec(push_header(), 0..8),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(tid, ty, media, charset, headers, body)| {
                let mut content_type = ContentType::new(media);
                if let Some(c) = charset {
                    content_type = content_type.with(
                        ParamName::WellKnown(0x01),
                        ParamValue::Integer(u64::from(c)),
                    );
                }
                PushPdu {
                    transaction_id: tid,
                    pdu_type: ty,
                    content_type,
                    headers,
                    body: Cow::Owned(body),
                }
            })
    }

    proptest! {
        #[test]
        fn prop_push_encode_decode(p in push_pdu()) {
            let out = p.encode().unwrap();
            let back = PushPdu::decode(&out, &Limits::default()).unwrap();
            prop_assert_eq!(&back, &p);
            prop_assert_eq!(back.encode().unwrap(), out);
        }

        #[test]
        fn prop_push_decode_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = PushPdu::decode(&b, &Limits::default()) {
                let _ = p.is_mms();
                let _ = p.application_id();
                if let Ok(out) = p.encode() {
                    let back = PushPdu::decode(&out, &Limits::default()).unwrap();
                    prop_assert_eq!(back, p);
                }
            }
        }

        #[test]
        fn prop_push_decode_mutated_header(
            p in push_pdu(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            // Damage one octet inside the headers; decoding must not panic.
            let mut out = p.encode().unwrap();
            let i = at.index(out.len().min(64));
            out[i] = byte;
            if let Ok(p2) = PushPdu::decode(&out, &Limits::default())
                && let Ok(again) = p2.encode()
            {
                prop_assert_eq!(PushPdu::decode(&again, &Limits::default()).unwrap(), p2);
            }
        }

        #[test]
        fn prop_segment_shuffle_reassemble(
            payload in proptest::collection::vec(any::<u8>(), 0..2000),
            wide in any::<bool>(),
            r in any::<u16>(),
            keys in proptest::collection::vec(any::<u32>(), 20),
        ) {
            let reference = if wide { ConcatRef::Sixteen(r) } else { ConcatRef::Eight(r as u8) };
            let sms = segment(&payload, reference).unwrap();
            prop_assert!(sms.iter().all(|s| s.len() <= MAX_USER_DATA));
            let mut order: Vec<usize> = (0..sms.len()).collect();
            order.sort_by_key(|&i| keys[i % keys.len()].wrapping_mul(i as u32 + 1));
            let shuffled: Vec<&[u8]> = order.iter().map(|&i| sms[i].as_slice()).collect();
            prop_assert_eq!(reassemble(&shuffled).unwrap(), payload.clone());
            let mut ra = Reassembler::new(4, 100_000);
            let mut done = None;
            for s in &shuffled {
                if let Some(p) = ra.push(b"orig", s).unwrap() {
                    prop_assert!(done.is_none());
                    done = Some(p);
                }
            }
            prop_assert_eq!(done, Some(payload));
            prop_assert_eq!(ra.pending(), 0);
        }

        #[test]
        fn prop_reassembler_interleaved(
            messages in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..700), 0u8..3), 1..6),
            keys in proptest::collection::vec(any::<u32>(), 64),
            dup_every in 2usize..7,
        ) {
            // Several messages (some from the same originator with distinct references), their
            // segments interleaved, with duplicates.
            let mut all: Vec<(usize, Vec<u8>)> = Vec::new();
            for (m, (payload, _)) in messages.iter().enumerate() {
                for s in segment(payload, ConcatRef::Sixteen(m as u16)).unwrap() {
                    all.push((m, s));
                }
            }
            let n = all.len();
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| (keys[i % keys.len()] ^ (i as u32).rotate_left(7), i));
            // Room for every message and for the stale copies that restart completed ones.
            let mut ra = Reassembler::new(n, 1_000_000);
            let mut got: Vec<Option<Vec<u8>>> = vec![None; messages.len()];
            for (k, &i) in order.iter().enumerate() {
                let (m, s) = &all[i];
                let orig = [b'o', messages[*m].1];
                let r = ra.push(&orig, s).unwrap();
                if let Some(p) = r {
                    prop_assert!(got[*m].is_none());
                    got[*m] = Some(p);
                }
                if k % dup_every == 0 {
                    // A duplicate of an earlier segment: ignored, or a fresh message if the
                    // original one already completed (then it stays pending).
                    let (m2, s2) = &all[order[k / 2]];
                    let orig2 = [b'o', messages[*m2].1];
                    let _ = ra.push(&orig2, s2).unwrap();
                }
            }
            for (m, (payload, _)) in messages.iter().enumerate() {
                prop_assert_eq!(got[m].as_ref(), Some(payload));
            }
        }

        #[test]
        fn prop_user_data_any_bytes(
            segs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..6),
        ) {
            for s in &segs {
                if let Ok((udh, payload)) = parse_user_data(s) {
                    prop_assert!(payload.len() < s.len());
                    let mut out = Vec::new();
                    if udh.encode(&mut out).is_ok() {
                        prop_assert_eq!(parse_user_data(&out).unwrap().0, udh);
                    }
                }
            }
            let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
            let _ = reassemble(&refs);
            let mut ra = Reassembler::new(2, 64);
            for s in &refs {
                let _ = ra.push(b"x", s);
                prop_assert!(ra.bytes() <= 64 && ra.pending() <= 2);
            }
        }
    }
}
