//! MMS header fields (OMA-TS-MMS_ENC §7.3/§7.4): their codes, names, value grammars, and the
//! decoding and encoding of their values.

use std::borrow::Cow;
use std::fmt;

use crate::error::{DecodeError, EncodeError, ErrorKind};
use crate::mms::enums::MessageType;
use crate::reader::{Reader, TEXT_QUOTE};
use crate::wsp::{Param, ParamName, ParamValue};
use crate::{Limits, Warning, WarningKind, charset, writer};

/// How a field's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grammar {
    /// Text-string.
    Text,
    /// Encoded-string-value.
    Encoded,
    /// One octet from an enumeration (or, leniently, a Token-text).
    Octet,
    /// Long-integer.
    LongInteger,
    /// Integer-value.
    IntegerValue,
    /// Short-integer version.
    Version,
    /// Value-length (Absolute-token Date-value | Relative-token Delta-seconds-value).
    Time,
    /// Value-length (Address-present-token Encoded-string-value | Insert-address-token).
    From,
    /// Content-type-value: the last header; the body follows.
    ContentType,
    /// Value-length Forwarded-count-value Encoded-string-value (Previously-Sent-By).
    CountedAddress,
    /// Value-length Forwarded-count-value Date-value (Previously-Sent-Date).
    CountedDate,
    /// Value-length token Encoded-string-value (MM-Flags).
    TokenText,
    /// Value-length token Integer-value (Mbox-Totals, Mbox-Quotas).
    TokenInteger,
    /// Value-length Content-Reference-value *(Parameter) (Element-Descriptor).
    ElementDescriptor,
    /// Short-integer naming a header field (Attributes).
    FieldCode,
    /// Text-string; in m-mbox-delete-conf Value-length Status-count-value Text-string.
    ContentLocation,
    /// Encoded-string-value; in m-mbox-delete-conf with a Status-count-value before it.
    ResponseText,
    /// Not interpreted: one generic WSP value, kept as its octets.
    Raw,
}

/// One known header field.
#[derive(Clone, Copy, Debug)]
pub struct FieldInfo {
    /// Wire code (0x81..=0xBF).
    pub code: u8,
    /// Name as OMA-TS-MMS_ENC spells it.
    pub name: &'static str,
    /// Value grammar.
    pub grammar: Grammar,
    /// MMS version that introduced it (0x10 = 1.0).
    pub since: u8,
}

macro_rules! fields {
    ($( $konst:ident = $code:literal, $name:literal, $g:ident, $since:literal; )*) => {
        /// Field codes (wire values, high bit set).
        pub mod field {
            $( #[doc = $name] pub const $konst: u8 = $code; )*
        }
        /// Every known field.
        pub const FIELDS: &[FieldInfo] = &[
            $( FieldInfo { code: $code, name: $name, grammar: Grammar::$g, since: $since }, )*
        ];
    };
}

fields! {
    BCC = 0x81, "Bcc", Encoded, 0x10;
    CC = 0x82, "Cc", Encoded, 0x10;
    CONTENT_LOCATION = 0x83, "X-Mms-Content-Location", ContentLocation, 0x10;
    CONTENT_TYPE = 0x84, "Content-Type", ContentType, 0x10;
    DATE = 0x85, "Date", LongInteger, 0x10;
    DELIVERY_REPORT = 0x86, "X-Mms-Delivery-Report", Octet, 0x10;
    DELIVERY_TIME = 0x87, "X-Mms-Delivery-Time", Time, 0x10;
    EXPIRY = 0x88, "X-Mms-Expiry", Time, 0x10;
    FROM = 0x89, "From", From, 0x10;
    MESSAGE_CLASS = 0x8A, "X-Mms-Message-Class", Octet, 0x10;
    MESSAGE_ID = 0x8B, "Message-ID", Text, 0x10;
    MESSAGE_TYPE = 0x8C, "X-Mms-Message-Type", Octet, 0x10;
    MMS_VERSION = 0x8D, "X-Mms-MMS-Version", Version, 0x10;
    MESSAGE_SIZE = 0x8E, "X-Mms-Message-Size", LongInteger, 0x10;
    PRIORITY = 0x8F, "X-Mms-Priority", Octet, 0x10;
    READ_REPORT = 0x90, "X-Mms-Read-Report", Octet, 0x10;
    REPORT_ALLOWED = 0x91, "X-Mms-Report-Allowed", Octet, 0x10;
    RESPONSE_STATUS = 0x92, "X-Mms-Response-Status", Octet, 0x10;
    RESPONSE_TEXT = 0x93, "X-Mms-Response-Text", ResponseText, 0x10;
    SENDER_VISIBILITY = 0x94, "X-Mms-Sender-Visibility", Octet, 0x10;
    STATUS = 0x95, "X-Mms-Status", Octet, 0x10;
    SUBJECT = 0x96, "Subject", Encoded, 0x10;
    TO = 0x97, "To", Encoded, 0x10;
    TRANSACTION_ID = 0x98, "X-Mms-Transaction-ID", Text, 0x10;
    RETRIEVE_STATUS = 0x99, "X-Mms-Retrieve-Status", Octet, 0x11;
    RETRIEVE_TEXT = 0x9A, "X-Mms-Retrieve-Text", Encoded, 0x11;
    READ_STATUS = 0x9B, "X-Mms-Read-Status", Octet, 0x11;
    REPLY_CHARGING = 0x9C, "X-Mms-Reply-Charging", Octet, 0x11;
    REPLY_CHARGING_DEADLINE = 0x9D, "X-Mms-Reply-Charging-Deadline", Time, 0x11;
    REPLY_CHARGING_ID = 0x9E, "X-Mms-Reply-Charging-ID", Text, 0x11;
    REPLY_CHARGING_SIZE = 0x9F, "X-Mms-Reply-Charging-Size", LongInteger, 0x11;
    PREVIOUSLY_SENT_BY = 0xA0, "X-Mms-Previously-Sent-By", CountedAddress, 0x11;
    PREVIOUSLY_SENT_DATE = 0xA1, "X-Mms-Previously-Sent-Date", CountedDate, 0x11;
    STORE = 0xA2, "X-Mms-Store", Octet, 0x12;
    MM_STATE = 0xA3, "X-Mms-MM-State", Octet, 0x12;
    MM_FLAGS = 0xA4, "X-Mms-MM-Flags", TokenText, 0x12;
    STORE_STATUS = 0xA5, "X-Mms-Store-Status", Octet, 0x12;
    STORE_STATUS_TEXT = 0xA6, "X-Mms-Store-Status-Text", Encoded, 0x12;
    STORED = 0xA7, "X-Mms-Stored", Octet, 0x12;
    ATTRIBUTES = 0xA8, "X-Mms-Attributes", FieldCode, 0x12;
    TOTALS = 0xA9, "X-Mms-Totals", Octet, 0x12;
    MBOX_TOTALS = 0xAA, "X-Mms-Mbox-Totals", TokenInteger, 0x12;
    QUOTAS = 0xAB, "X-Mms-Quotas", Octet, 0x12;
    MBOX_QUOTAS = 0xAC, "X-Mms-Mbox-Quotas", TokenInteger, 0x12;
    MESSAGE_COUNT = 0xAD, "X-Mms-Message-Count", IntegerValue, 0x12;
    CONTENT = 0xAE, "Content", Raw, 0x12;
    START = 0xAF, "X-Mms-Start", IntegerValue, 0x12;
    ADDITIONAL_HEADERS = 0xB0, "Additional-headers", Raw, 0x12;
    DISTRIBUTION_INDICATOR = 0xB1, "X-Mms-Distribution-Indicator", Octet, 0x12;
    ELEMENT_DESCRIPTOR = 0xB2, "X-Mms-Element-Descriptor", ElementDescriptor, 0x12;
    LIMIT = 0xB3, "X-Mms-Limit", IntegerValue, 0x12;
    RECOMMENDED_RETRIEVAL_MODE = 0xB4, "X-Mms-Recommended-Retrieval-Mode", Octet, 0x13;
    RECOMMENDED_RETRIEVAL_MODE_TEXT = 0xB5, "X-Mms-Recommended-Retrieval-Mode-Text", Encoded, 0x13;
    STATUS_TEXT = 0xB6, "X-Mms-Status-Text", Encoded, 0x13;
    APPLIC_ID = 0xB7, "X-Mms-Applic-ID", Text, 0x13;
    REPLY_APPLIC_ID = 0xB8, "X-Mms-Reply-Applic-ID", Text, 0x13;
    AUX_APPLIC_INFO = 0xB9, "X-Mms-Aux-Applic-Info", Text, 0x13;
    CONTENT_CLASS = 0xBA, "X-Mms-Content-Class", Octet, 0x13;
    DRM_CONTENT = 0xBB, "X-Mms-DRM-Content", Octet, 0x13;
    ADAPTATION_ALLOWED = 0xBC, "X-Mms-Adaptation-Allowed", Octet, 0x13;
    REPLACE_ID = 0xBD, "X-Mms-Replace-ID", Text, 0x13;
    CANCEL_ID = 0xBE, "X-Mms-Cancel-ID", Text, 0x13;
    CANCEL_STATUS = 0xBF, "X-Mms-Cancel-Status", Octet, 0x13;
}

/// The description of a field code, if known.
pub fn field_info(code: u8) -> Option<&'static FieldInfo> {
    code.checked_sub(0x81)
        .and_then(|i| FIELDS.get(usize::from(i)))
        .filter(|f| f.code == code)
}

/// The field with this name (case-insensitive). The MMS 1.0 spelling X-Mms-Read-Reply and
/// "X-Mms-Transaction-Id" are accepted too.
pub fn field_by_name(name: &str) -> Option<&'static FieldInfo> {
    let n = match name {
        n if n.eq_ignore_ascii_case("X-Mms-Read-Reply") => "X-Mms-Read-Report",
        n => n,
    };
    FIELDS.iter().find(|f| f.name.eq_ignore_ascii_case(n))
}

/// The grammar of a field code (unknown codes are raw).
pub fn grammar(code: u8) -> Grammar {
    field_info(code).map_or(Grammar::Raw, |f| f.grammar)
}

/// An Encoded-string-value: text in an optional charset.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncodedString<'a> {
    /// MIBenum of the charset, when the value-length form with a Char-set was used.
    pub charset: Option<u64>,
    /// The text's octets, without quote or terminator.
    pub text: Cow<'a, [u8]>,
}

impl<'a> EncodedString<'a> {
    /// A plain Text-string.
    pub fn plain(text: impl Into<Cow<'a, [u8]>>) -> Self {
        EncodedString {
            charset: None,
            text: text.into(),
        }
    }

    /// The text, converted from its charset; `None` when the octets are not valid in it.
    /// Without a charset the octets are taken as UTF-8 (US-ASCII being a subset).
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self.charset {
            None => std::str::from_utf8(&self.text).ok().map(Cow::Borrowed),
            Some(m) => charset::decode(m, &self.text),
        }
    }

    /// The text, with undecodable octets replaced (borrowed when it is UTF-8 already).
    pub fn to_text_lossy(&self) -> Cow<'_, str> {
        match self.to_text() {
            Some(t) => t,
            None => String::from_utf8_lossy(&self.text),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> EncodedString<'static> {
        EncodedString {
            charset: self.charset,
            text: Cow::Owned(self.text.into_owned()),
        }
    }

    /// Decode an Encoded-string-value.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        if r.at_value_length() && r.peek() != Some(0) {
            let mut v = r.value_region()?;
            let charset = v.integer_value()?;
            if v.peek() == Some(TEXT_QUOTE) {
                v.u8()?;
            }
            let mut text = v.take_rest();
            // The terminating NUL; UTF-16 text may hold other NULs, so only one is removed.
            if let Some((&0, head)) = text.split_last() {
                text = head;
            }
            Ok(EncodedString {
                charset: Some(charset),
                text: Cow::Borrowed(text),
            })
        } else {
            Ok(EncodedString::plain(r.text_string()?))
        }
    }

    /// Encode as an Encoded-string-value.
    pub fn encode(&self, out: &mut Vec<u8>, what: &'static str) -> Result<(), EncodeError> {
        match self.charset {
            None => writer::text_string(out, &self.text, what),
            Some(mib) => writer::with_value_length(out, what, |o| {
                writer::integer_value(o, mib);
                if self.text.first().is_some_and(|&b| b >= 0x80)
                    || self.text.first() == Some(&TEXT_QUOTE)
                {
                    o.push(TEXT_QUOTE);
                }
                o.extend_from_slice(&self.text);
                o.push(0);
                Ok(())
            }),
        }
    }
}

impl fmt::Debug for EncodedString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.charset {
            Some(m) => write!(
                f,
                "{:?} ({})",
                self.to_text_lossy(),
                charset::name(m).unwrap_or("?")
            ),
            None => write!(f, "{:?}", self.to_text_lossy()),
        }
    }
}

/// An absolute date or a relative delay, in seconds (Expiry, Delivery-Time, RC-Deadline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeValue {
    /// Seconds since 1970-01-01T00:00:00Z.
    Absolute(u64),
    /// Seconds from now.
    Relative(u64),
}

/// A decoded header value; which variant a field takes follows its [`Grammar`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// An enumerated octet (>= 0x80), including Short-integers kept as octets (version,
    /// attributes).
    Octet(u8),
    /// A Text-string, or a Token-text given where an octet was expected.
    Text(Cow<'a, [u8]>),
    /// An Encoded-string-value.
    Encoded(EncodedString<'a>),
    /// An integer (date, size, count).
    Integer(u64),
    /// Expiry-like time.
    Time(TimeValue),
    /// From: an address, or `None` for the insert-address token.
    From(Option<EncodedString<'a>>),
    /// A token or count before another value (Previously-Sent-*, MM-Flags, Mbox-Totals,
    /// counted Content-Location / Response-Text).
    Tagged {
        /// The count (Previously-Sent-*, status count) or token octet.
        tag: u64,
        /// The value after it.
        value: Box<Value<'a>>,
    },
    /// Element-Descriptor.
    Element {
        /// Content-Reference-value.
        reference: Cow<'a, [u8]>,
        /// Parameters.
        params: Vec<Param<'a>>,
    },
    /// Octets of one generic value, not interpreted.
    Raw(Cow<'a, [u8]>),
}

impl Value<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Octet(o) => Value::Octet(o),
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Encoded(e) => Value::Encoded(e.into_owned()),
            Value::Integer(i) => Value::Integer(i),
            Value::Time(t) => Value::Time(t),
            Value::From(a) => Value::From(a.map(EncodedString::into_owned)),
            Value::Tagged { tag, value } => Value::Tagged {
                tag,
                value: Box::new(value.into_owned()),
            },
            Value::Element { reference, params } => Value::Element {
                reference: Cow::Owned(reference.into_owned()),
                params: params.into_iter().map(Param::into_owned).collect(),
            },
            Value::Raw(r) => Value::Raw(Cow::Owned(r.into_owned())),
        }
    }

    /// Text octets of Text, Encoded and From-address values.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Value::Text(t) => Some(t),
            Value::Encoded(e) | Value::From(Some(e)) => Some(&e.text),
            _ => None,
        }
    }
}

/// A header's name: a well-known field code, or the name of an application header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HeaderName<'a> {
    /// Binary field code (0x80..=0xFF).
    Field(u8),
    /// Application header (Token-text); its value is a [`Value::Text`].
    Application(Cow<'a, [u8]>),
}

/// One header.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// Its name.
    pub name: HeaderName<'a>,
    /// Its value.
    pub value: Value<'a>,
}

impl Header<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> Header<'static> {
        Header {
            name: match self.name {
                HeaderName::Field(c) => HeaderName::Field(c),
                HeaderName::Application(n) => HeaderName::Application(Cow::Owned(n.into_owned())),
            },
            value: self.value.into_owned(),
        }
    }

    /// The field code, for binary fields.
    #[inline]
    pub fn code(&self) -> Option<u8> {
        match self.name {
            HeaderName::Field(c) => Some(c),
            HeaderName::Application(_) => None,
        }
    }
}

fn slack(r: &Reader<'_>, code: u8, warnings: &mut Vec<Warning>) {
    if !r.is_empty() {
        warnings.push(Warning {
            offset: r.offset(),
            kind: WarningKind::ValueSlack {
                field: code,
                len: r.remaining(),
            },
        });
    }
}

fn decode_octet<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<Value<'a>, DecodeError> {
    match r.peek() {
        Some(b) if b >= 0x80 => Ok(Value::Octet(r.u8()?)),
        Some(0x20..=0x7E) => Ok(Value::Text(Cow::Borrowed(r.until_nul()?))),
        Some(b) => Err(r.err(ErrorKind::Unexpected { byte: b, what })),
        None => Err(r.err(ErrorKind::Truncated { needed: 1 })),
    }
}

/// Decode the value of field `code` (the code octet already consumed).
// Inlined: returning the large Result through memory costs more than the call.
#[inline(always)]
pub fn decode_value<'a>(
    r: &mut Reader<'a>,
    code: u8,
    message_type: MessageType,
    limits: &Limits,
    warnings: &mut Vec<Warning>,
) -> Result<Value<'a>, DecodeError> {
    let info = field_info(code);
    let what = info.map_or("header value", |f| f.name);
    let counted = message_type == MessageType::MBOX_DELETE_CONF;
    Ok(match grammar(code) {
        Grammar::Text => Value::Text(Cow::Borrowed(r.text_string()?)),
        Grammar::Encoded => Value::Encoded(EncodedString::decode(r)?),
        Grammar::Octet | Grammar::Version | Grammar::FieldCode => decode_octet(r, what)?,
        Grammar::LongInteger | Grammar::IntegerValue => Value::Integer(r.integer_value()?),
        Grammar::Time => {
            let mut v = r.value_region()?;
            let at = v.offset();
            let token = v.u8()?;
            let secs = v.integer_value()?;
            slack(&v, code, warnings);
            Value::Time(match token {
                0x80 => TimeValue::Absolute(secs),
                0x81 => TimeValue::Relative(secs),
                b => return Err(v.err_at(ErrorKind::Unexpected { byte: b, what }, at)),
            })
        }
        Grammar::From => {
            if r.at_value_length() {
                let mut v = r.value_region()?;
                let at = v.offset();
                match v.u8()? {
                    0x80 => {
                        let e = EncodedString::decode(&mut v)?;
                        slack(&v, code, warnings);
                        Value::From(Some(e))
                    }
                    0x81 => {
                        slack(&v, code, warnings);
                        Value::From(None)
                    }
                    b => return Err(v.err_at(ErrorKind::Unexpected { byte: b, what }, at)),
                }
            } else {
                warnings.push(Warning {
                    offset: r.offset(),
                    kind: WarningKind::FromWithoutToken,
                });
                Value::From(Some(EncodedString::decode(r)?))
            }
        }
        Grammar::CountedAddress | Grammar::CountedDate => {
            let mut v = r.value_region()?;
            let tag = v.integer_value()?;
            let value = if grammar(code) == Grammar::CountedAddress {
                Value::Encoded(EncodedString::decode(&mut v)?)
            } else {
                Value::Integer(v.integer_value()?)
            };
            slack(&v, code, warnings);
            Value::Tagged {
                tag,
                value: Box::new(value),
            }
        }
        Grammar::TokenText | Grammar::TokenInteger => {
            let mut v = r.value_region()?;
            let tag = u64::from(v.u8()?);
            let value = if grammar(code) == Grammar::TokenText {
                Value::Encoded(EncodedString::decode(&mut v)?)
            } else {
                Value::Integer(v.integer_value()?)
            };
            slack(&v, code, warnings);
            Value::Tagged {
                tag,
                value: Box::new(value),
            }
        }
        Grammar::ElementDescriptor => {
            let mut v = r.value_region()?;
            let reference = Cow::Borrowed(v.text_string()?);
            let mut params = Vec::new();
            while !v.is_empty() {
                if params.len() >= limits.max_params {
                    return Err(v.err(ErrorKind::Limit(crate::error::Limit::Params)));
                }
                let name = match v.peek() {
                    Some(b) if b >= 0x80 => ParamName::WellKnown(v.short_integer()?),
                    _ => ParamName::Token(Cow::Borrowed(v.text_string()?)),
                };
                let value = match v.peek() {
                    Some(b) if b >= 0x80 => ParamValue::Integer(u64::from(v.short_integer()?)),
                    _ => ParamValue::Text(Cow::Borrowed(v.text_string()?)),
                };
                params.push(Param { name, value });
            }
            Value::Element { reference, params }
        }
        Grammar::ContentLocation if counted && matches!(r.peek(), Some(1..=0x1F)) => {
            let mut v = r.value_region()?;
            let tag = v.integer_value()?;
            let uri = v.text_string()?;
            slack(&v, code, warnings);
            Value::Tagged {
                tag,
                value: Box::new(Value::Text(Cow::Borrowed(uri))),
            }
        }
        Grammar::ContentLocation => Value::Text(Cow::Borrowed(r.text_string()?)),
        Grammar::ResponseText if counted && matches!(r.peek(), Some(1..=0x1F)) => {
            let mut v = r.value_region()?;
            let tag = v.integer_value()?;
            let text = EncodedString::decode(&mut v)?;
            slack(&v, code, warnings);
            Value::Tagged {
                tag,
                value: Box::new(Value::Encoded(text)),
            }
        }
        Grammar::ResponseText => Value::Encoded(EncodedString::decode(r)?),
        Grammar::ContentType | Grammar::Raw => Value::Raw(Cow::Borrowed(r.raw_value()?)),
    })
}

fn octet(out: &mut Vec<u8>, o: u8, what: &'static str) -> Result<(), EncodeError> {
    if o < 0x80 {
        return Err(EncodeError::OutOfRange(what));
    }
    out.push(o);
    Ok(())
}

/// Encode the value of field `code` (not the code itself).
pub fn encode_value(out: &mut Vec<u8>, code: u8, value: &Value<'_>) -> Result<(), EncodeError> {
    let what = field_info(code).map_or("header value", |f| f.name);
    let mismatch = || EncodeError::Inconsistent("value does not fit its header field");
    match (grammar(code), value) {
        // Only fields that are not interpreted are carried raw: a raw value under a typed
        // field would not read back as it is.
        (Grammar::Raw | Grammar::ContentType, Value::Raw(raw)) => {
            let mut r = Reader::new(raw);
            match r.raw_value() {
                Ok(v) if r.is_empty() && v.len() == raw.len() => out.extend_from_slice(raw),
                _ => return Err(EncodeError::Inconsistent("malformed raw header value")),
            }
        }
        (Grammar::Text | Grammar::ContentLocation, Value::Text(t)) => {
            writer::text_string(out, t, what)?
        }
        (Grammar::Encoded | Grammar::ResponseText, Value::Encoded(e)) => e.encode(out, what)?,
        (Grammar::Octet | Grammar::Version | Grammar::FieldCode, Value::Octet(o)) => {
            octet(out, *o, what)?
        }
        (Grammar::Octet | Grammar::Version | Grammar::FieldCode, Value::Text(t)) => {
            writer::token_text(out, t, what)?
        }
        (Grammar::LongInteger, Value::Integer(i)) => writer::long_integer(out, *i),
        (Grammar::IntegerValue, Value::Integer(i)) => writer::integer_value(out, *i),
        (Grammar::Time, Value::Time(t)) => writer::with_value_length(out, what, |o| {
            let (token, secs) = match *t {
                TimeValue::Absolute(s) => (0x80, s),
                TimeValue::Relative(s) => (0x81, s),
            };
            o.push(token);
            writer::long_integer(o, secs);
            Ok(())
        })?,
        (Grammar::From, Value::From(addr)) => writer::with_value_length(out, what, |o| {
            match addr {
                Some(e) => {
                    o.push(0x80);
                    e.encode(o, what)?;
                }
                None => o.push(0x81),
            }
            Ok(())
        })?,
        (g @ (Grammar::CountedAddress | Grammar::CountedDate), Value::Tagged { tag, value }) => {
            writer::with_value_length(out, what, |o| {
                writer::integer_value(o, *tag);
                match (g, &**value) {
                    (Grammar::CountedAddress, Value::Encoded(e)) => e.encode(o, what),
                    (Grammar::CountedDate, Value::Integer(d)) => {
                        writer::long_integer(o, *d);
                        Ok(())
                    }
                    _ => Err(mismatch()),
                }
            })?
        }
        (g @ (Grammar::TokenText | Grammar::TokenInteger), Value::Tagged { tag, value }) => {
            writer::with_value_length(out, what, |o| {
                let t = u8::try_from(*tag).map_err(|_| EncodeError::OutOfRange(what))?;
                octet(o, t, what)?;
                match (g, &**value) {
                    (Grammar::TokenText, Value::Encoded(e)) => e.encode(o, what),
                    (Grammar::TokenInteger, Value::Integer(i)) => {
                        writer::integer_value(o, *i);
                        Ok(())
                    }
                    _ => Err(mismatch()),
                }
            })?
        }
        (Grammar::ContentLocation | Grammar::ResponseText, Value::Tagged { tag, value }) => {
            writer::with_value_length(out, what, |o| {
                writer::integer_value(o, *tag);
                match &**value {
                    Value::Text(t) => writer::text_string(o, t, what),
                    Value::Encoded(e) => e.encode(o, what),
                    _ => Err(mismatch()),
                }
            })?
        }
        (Grammar::ElementDescriptor, Value::Element { reference, params }) => {
            writer::with_value_length(out, what, |o| {
                writer::text_string(o, reference, what)?;
                for p in params {
                    match &p.name {
                        ParamName::WellKnown(c) => writer::short_integer(o, *c, what)?,
                        ParamName::Token(t) => writer::text_string(o, t, what)?,
                    }
                    match &p.value {
                        ParamValue::Integer(i) => {
                            let i = u8::try_from(*i).map_err(|_| EncodeError::OutOfRange(what))?;
                            writer::short_integer(o, i, what)?
                        }
                        ParamValue::Text(t) | ParamValue::Quoted(t) => {
                            writer::text_string(o, t, what)?
                        }
                        ParamValue::NoValue => writer::text_string(o, b"", what)?,
                    }
                }
                Ok(())
            })?
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(code: u8, b: &[u8]) -> Value<'_> {
        let mut r = Reader::new(b);
        let mut w = Vec::new();
        let v = decode_value(
            &mut r,
            code,
            MessageType::SEND_REQ,
            &Limits::default(),
            &mut w,
        )
        .unwrap();
        assert!(r.is_empty());
        let mut out = Vec::new();
        encode_value(&mut out, code, &v).unwrap();
        assert_eq!(out, b, "re-encoding of {code:#x}");
        v
    }

    #[test]
    fn table_is_dense_and_ordered() {
        assert_eq!(FIELDS.len(), 0xBF - 0x81 + 1);
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(usize::from(f.code), 0x81 + i);
            assert_eq!(field_info(f.code).unwrap().name, f.name);
            assert_eq!(field_by_name(f.name).unwrap().code, f.code);
        }
        assert!(field_info(0x80).is_none());
        assert!(field_info(0xC0).is_none());
        assert_eq!(
            field_by_name("x-mms-read-reply").unwrap().code,
            field::READ_REPORT
        );
    }

    #[test]
    fn values_from_the_spec_examples() {
        // Expiry relative 259200 s (mmsd mms_m_notify_ind_1).
        assert_eq!(
            dec(field::EXPIRY, &[0x05, 0x81, 0x03, 0x03, 0xF4, 0x80]),
            Value::Time(TimeValue::Relative(259_200))
        );
        // From present "Erotik" and insert-address.
        assert_eq!(
            dec(field::FROM, b"\x08\x80Erotik\0"),
            Value::From(Some(EncodedString::plain(&b"Erotik"[..])))
        );
        assert_eq!(dec(field::FROM, &[0x01, 0x81]), Value::From(None));
        // Subject with charset us-ascii.
        let v = dec(field::SUBJECT, b"\x11\x83MMS-1.3-con-212\0");
        match v {
            Value::Encoded(e) => {
                assert_eq!(e.charset, Some(3));
                assert_eq!(e.to_text().unwrap(), "MMS-1.3-con-212");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            dec(field::MESSAGE_SIZE, &[0x02, 0x40, 0x00]),
            Value::Integer(16384)
        );
        assert_eq!(dec(field::MESSAGE_CLASS, &[0x80]), Value::Octet(0x80));
        assert_eq!(
            dec(field::MESSAGE_CLASS, b"NewMessageClass\0"),
            Value::Text(Cow::Borrowed(b"NewMessageClass"))
        );
        // MM-Flags: Add "$Seen"; Mbox-Totals: Message 5; Previously-Sent-Date: #1 at 1000.
        dec(field::MM_FLAGS, b"\x07\x80$Seen\0");
        dec(field::MBOX_TOTALS, &[0x02, 0x80, 0x85]);
        dec(field::PREVIOUSLY_SENT_DATE, &[0x04, 0x81, 0x02, 0x03, 0xE8]);
        dec(field::PREVIOUSLY_SENT_BY, b"\x0E\x82+358401/TYPE\0");
        dec(field::ELEMENT_DESCRIPTOR, b"\x0B<smil>\0\x89ab\0");
        dec(0xC5, &[0x03, 1, 2, 3]);
    }

    #[test]
    fn utf16_text_keeps_inner_nuls() {
        // Subject in UTF-16 with BOM: FE FF 00 41 (quote before 0xFE), NUL.
        let b = [0x09, 0x02, 0x03, 0xF7, 0x7F, 0xFE, 0xFF, 0x00, 0x41, 0x00];
        match dec(field::SUBJECT, &b) {
            Value::Encoded(e) => assert_eq!(e.to_text().unwrap(), "A"),
            other => panic!("{other:?}"),
        }
        // Without the terminator (sloppy encoders) the text is the same.
        let b = [0x08, 0x02, 0x03, 0xF7, 0x7F, 0xFE, 0xFF, 0x00, 0x41];
        let e = EncodedString::decode(&mut Reader::new(&b)).unwrap();
        assert_eq!(e.to_text().unwrap(), "A");
        // UTF-16LE "a" ends in a NUL of its own; exactly one NUL is the terminator.
        let e = EncodedString {
            charset: Some(charset::UTF_16LE),
            text: Cow::Borrowed(&[0x61, 0x00]),
        };
        let mut out = Vec::new();
        e.encode(&mut out, "t").unwrap();
        assert_eq!(EncodedString::decode(&mut Reader::new(&out)).unwrap(), e);
    }

    #[test]
    fn bad_values() {
        let l = Limits::default();
        let mut w = Vec::new();
        for (code, b) in [
            (field::EXPIRY, &[0x02, 0x82, 0x81][..]),
            (field::FROM, &[0x01, 0x85][..]),
            (field::DATE, &[0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]),
            (field::PRIORITY, &[0x05][..]),
            (field::SUBJECT, &[0x05, 0xEA, b'a'][..]),
        ] {
            let mut r = Reader::new(b);
            assert!(
                decode_value(&mut r, code, MessageType::SEND_REQ, &l, &mut w).is_err(),
                "{code:#x} {b:?}"
            );
        }
    }
}
