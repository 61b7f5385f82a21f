//! WSP Content-type-value, its parameters, and Content-Disposition.

use std::borrow::Cow;
use std::fmt;

use crate::error::{DecodeError, EncodeError, ErrorKind, Limit};
use crate::reader::{QUOTED_STRING, Reader};
use crate::writer;
use crate::wsp::tables;
use crate::{Limits, charset};

/// A media type: a well-known code (WSP Table 40) or its text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum MediaType<'a> {
    /// Well-known media code.
    WellKnown(u16),
    /// Extension-media (text, as on the wire).
    Text(Cow<'a, [u8]>),
}

impl MediaType<'_> {
    /// The media type as text ("image/jpeg"); unknown codes as "0xNN".
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            MediaType::WellKnown(c) => match tables::content_type_name(*c) {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(format!("0x{c:02X}")),
            },
            MediaType::Text(t) => String::from_utf8_lossy(t),
        }
    }

    /// True when this is the given well-known type, by code or by name.
    pub fn is(&self, code: u16) -> bool {
        match self {
            MediaType::WellKnown(c) => *c == code,
            MediaType::Text(t) => tables::content_type_name(code)
                .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(t)),
        }
    }

    /// True for application/vnd.wap.multipart.*: a binary WSP multipart body follows.
    pub fn is_wsp_multipart(&self) -> bool {
        match self {
            MediaType::WellKnown(c) => matches!(c, 0x22..=0x26 | 0x33),
            MediaType::Text(t) => {
                let p = b"application/vnd.wap.multipart.";
                t.len() > p.len() && t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p))
            }
        }
    }

    /// A media type from its text: the well-known code when there is one.
    pub fn from_name(name: &str) -> MediaType<'static> {
        match tables::content_type_code(name) {
            Some(c) => MediaType::WellKnown(c),
            None => MediaType::Text(Cow::Owned(name.as_bytes().to_vec())),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> MediaType<'static> {
        match self {
            MediaType::WellKnown(c) => MediaType::WellKnown(c),
            MediaType::Text(t) => MediaType::Text(Cow::Owned(t.into_owned())),
        }
    }
}

impl fmt::Debug for MediaType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A parameter name: well-known (Table 38 code) or Token-text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParamName<'a> {
    /// Well-known parameter code (0x00..=0x7F).
    WellKnown(u8),
    /// Untyped parameter name.
    Token(Cow<'a, [u8]>),
}

impl ParamName<'_> {
    /// The name as text (lower case for well-known names).
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            ParamName::WellKnown(c) => match tables::param_name(*c) {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(format!("0x{c:02X}")),
            },
            ParamName::Token(t) => String::from_utf8_lossy(t),
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> ParamName<'static> {
        match self {
            ParamName::WellKnown(c) => ParamName::WellKnown(c),
            ParamName::Token(t) => ParamName::Token(Cow::Owned(t.into_owned())),
        }
    }
}

/// A parameter value, in the form it takes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ParamValue<'a> {
    /// An integer (Integer-value, Short-integer, Q-value, Date-value, media or charset code).
    Integer(u64),
    /// Text-string or Token-text.
    Text(Cow<'a, [u8]>),
    /// Quoted-string (without its quote).
    Quoted(Cow<'a, [u8]>),
    /// No-value.
    NoValue,
}

impl ParamValue<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> ParamValue<'static> {
        match self {
            ParamValue::Integer(v) => ParamValue::Integer(v),
            ParamValue::Text(t) => ParamValue::Text(Cow::Owned(t.into_owned())),
            ParamValue::Quoted(t) => ParamValue::Quoted(Cow::Owned(t.into_owned())),
            ParamValue::NoValue => ParamValue::NoValue,
        }
    }

    /// Text bytes, if the value is text.
    pub fn as_text(&self) -> Option<&[u8]> {
        match self {
            ParamValue::Text(t) | ParamValue::Quoted(t) => Some(t),
            _ => None,
        }
    }
}

/// One parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param<'a> {
    /// Its name.
    pub name: ParamName<'a>,
    /// Its value.
    pub value: ParamValue<'a>,
}

impl Param<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> Param<'static> {
        Param {
            name: self.name.into_owned(),
            value: self.value.into_owned(),
        }
    }

    /// Value as MIME text: charset and media codes by name.
    pub fn value_text(&self) -> Cow<'_, str> {
        match (&self.name, &self.value) {
            (ParamName::WellKnown(0x01), ParamValue::Integer(m)) => match charset::name(*m) {
                Some(n) => Cow::Borrowed(n),
                None => Cow::Owned(m.to_string()),
            },
            (ParamName::WellKnown(0x03 | 0x09), ParamValue::Integer(c)) => {
                match u16::try_from(*c).ok().and_then(tables::content_type_name) {
                    Some(n) => Cow::Borrowed(n),
                    None => Cow::Owned(c.to_string()),
                }
            }
            (_, ParamValue::Integer(v)) => Cow::Owned(v.to_string()),
            (_, ParamValue::Text(t) | ParamValue::Quoted(t)) => String::from_utf8_lossy(t),
            (_, ParamValue::NoValue) => Cow::Borrowed(""),
        }
    }
}

/// How a well-known parameter's value is encoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ParamForm {
    /// Q-value (uintvar-like).
    Q,
    /// Integer-value, or text for lenient input.
    Integer,
    /// Short-integer or text (Constrained-encoding, Version-value, Field-name).
    ShortOrText,
    /// Text-string.
    TextString,
    /// Text-value: No-value | Token-text | Quoted-string.
    TextValue,
    /// No-value.
    NoValue,
}

fn param_form(code: u8) -> ParamForm {
    match code {
        0x00 => ParamForm::Q,
        0x01 | 0x03 | 0x0E | 0x13..=0x16 => ParamForm::Integer,
        0x02 | 0x07 | 0x08 | 0x09 | 0x11 => ParamForm::ShortOrText,
        0x05 | 0x06 | 0x0A..=0x0D | 0x0F => ParamForm::TextString,
        0x10 => ParamForm::NoValue,
        _ => ParamForm::TextValue,
    }
}

/// Generic value: Integer-value | Text-value.
fn decode_untyped_value<'a>(r: &mut Reader<'a>) -> Result<ParamValue<'a>, DecodeError> {
    match r.peek() {
        None => Err(r.err(ErrorKind::Truncated { needed: 1 })),
        Some(0) => {
            r.u8()?;
            Ok(ParamValue::NoValue)
        }
        Some(b) if b >= 0x80 || b <= 30 => Ok(ParamValue::Integer(r.integer_value()?)),
        Some(QUOTED_STRING) => Ok(ParamValue::Quoted(Cow::Borrowed(r.quoted_string()?.0))),
        Some(_) => Ok(ParamValue::Text(Cow::Borrowed(r.text_string()?))),
    }
}

// Inlined: returning the large Result through memory costs more than the call.
#[inline(always)]
fn decode_param<'a>(r: &mut Reader<'a>) -> Result<Param<'a>, DecodeError> {
    let at = r.offset();
    let first = r
        .peek()
        .ok_or_else(|| r.err(ErrorKind::Truncated { needed: 1 }))?;
    if first >= 0x80 || first <= 30 {
        // Typed-parameter: Well-known-parameter-token (Integer-value) Typed-value.
        let code = r.integer_value()?;
        let code = u8::try_from(code)
            .ok()
            .filter(|c| *c < 0x80)
            .ok_or_else(|| r.err_at(ErrorKind::InvalidValue("parameter code"), at))?;
        let value = match param_form(code) {
            ParamForm::Q => ParamValue::Integer(u64::from(r.uintvar()?)),
            ParamForm::Integer => decode_untyped_value(r)?,
            ParamForm::ShortOrText => match r.peek() {
                Some(b) if b >= 0x80 => ParamValue::Integer(u64::from(r.short_integer()?)),
                _ => ParamValue::Text(Cow::Borrowed(r.text_string()?)),
            },
            ParamForm::TextString => ParamValue::Text(Cow::Borrowed(r.text_string()?)),
            ParamForm::NoValue => {
                if r.peek() == Some(0) {
                    r.u8()?;
                    ParamValue::NoValue
                } else {
                    decode_untyped_value(r)?
                }
            }
            ParamForm::TextValue => decode_untyped_value(r)?,
        };
        Ok(Param {
            name: ParamName::WellKnown(code),
            value,
        })
    } else {
        // Untyped-parameter: Token-text Untyped-value.
        let name = r.until_nul()?;
        let value = decode_untyped_value(r)?;
        Ok(Param {
            name: ParamName::Token(Cow::Borrowed(name)),
            value,
        })
    }
}

/// Where decoded items go: kept in a `Vec`, or only counted by a check that keeps nothing
/// (the limits on their number apply alike).
pub(crate) trait Tally<T> {
    /// How many so far.
    fn count(&self) -> usize;
    /// One more.
    fn add(&mut self, item: T);
}

impl<T> Tally<T> for Vec<T> {
    #[inline]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline]
    fn add(&mut self, item: T) {
        self.push(item);
    }
}

/// Where decoded parameters go, and the charset they give ([`ContentType::charset`]).
pub(crate) trait ParamSink<'a>: Tally<Param<'a>> {
    /// The charset of the parameters so far.
    fn charset(&self) -> Option<u64>;
}

impl<'a> ParamSink<'a> for Vec<Param<'a>> {
    #[inline]
    fn charset(&self) -> Option<u64> {
        self.iter().find_map(param_charset)
    }
}

/// Parameters counted, and the charset they give, without keeping them.
#[derive(Debug, Default)]
pub(crate) struct ParamTally {
    count: usize,
    charset: Option<u64>,
}

impl<'a> Tally<Param<'a>> for ParamTally {
    #[inline]
    fn count(&self) -> usize {
        self.count
    }

    #[inline]
    fn add(&mut self, p: Param<'a>) {
        self.count += 1;
        if self.charset.is_none() {
            self.charset = param_charset(&p);
        }
    }
}

impl ParamSink<'_> for ParamTally {
    #[inline]
    fn charset(&self) -> Option<u64> {
        self.charset
    }
}

/// The charset a parameter gives, if it is a charset parameter with a known value.
fn param_charset(p: &Param<'_>) -> Option<u64> {
    match (&p.name, &p.value) {
        (ParamName::WellKnown(0x01), ParamValue::Integer(m)) => Some(*m),
        (ParamName::WellKnown(0x01), v) => v
            .as_text()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(charset::mib),
        _ => None,
    }
}

// Inlined: returning the large Result through memory costs more than the call.
#[inline(always)]
fn decode_params_into<'a, S: ParamSink<'a>>(
    r: &mut Reader<'a>,
    limits: &Limits,
    params: &mut S,
) -> Result<(), DecodeError> {
    while !r.is_empty() {
        if params.count() >= limits.max_params {
            return Err(r.err(ErrorKind::Limit(Limit::Params)));
        }
        params.add(decode_param(r)?);
    }
    Ok(())
}

/// Decode parameters until `r` is exhausted.
// Inlined: returning the large Result through memory costs more than the call.
#[inline(always)]
pub fn decode_params<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
) -> Result<Vec<Param<'a>>, DecodeError> {
    let mut params = Vec::new();
    decode_params_into(r, limits, &mut params)?;
    Ok(params)
}

fn encode_param(out: &mut Vec<u8>, p: &Param<'_>) -> Result<(), EncodeError> {
    const WHAT: &str = "parameter";
    match &p.name {
        ParamName::WellKnown(code) => {
            writer::short_integer(out, *code, WHAT)?;
            match (param_form(*code), &p.value) {
                (ParamForm::Q, ParamValue::Integer(v)) => {
                    let v = u32::try_from(*v).map_err(|_| EncodeError::OutOfRange("q-value"))?;
                    writer::uintvar(out, v);
                }
                (ParamForm::ShortOrText, ParamValue::Integer(v)) => {
                    let v = u8::try_from(*v).map_err(|_| EncodeError::OutOfRange(WHAT))?;
                    writer::short_integer(out, v, WHAT)?;
                }
                (ParamForm::ShortOrText | ParamForm::TextString, ParamValue::Text(t)) => {
                    writer::text_string(out, t, WHAT)?;
                }
                (_, v) => encode_untyped_value(out, v)?,
            }
        }
        ParamName::Token(name) => {
            writer::token_text(out, name, WHAT)?;
            encode_untyped_value(out, &p.value)?;
        }
    }
    Ok(())
}

fn encode_untyped_value(out: &mut Vec<u8>, v: &ParamValue<'_>) -> Result<(), EncodeError> {
    const WHAT: &str = "parameter value";
    match v {
        ParamValue::Integer(i) => writer::integer_value(out, *i),
        ParamValue::Text(t) => match t.first() {
            Some(&c) if (0x20..0x7F).contains(&c) && c != QUOTED_STRING => {
                writer::token_text(out, t, WHAT)?
            }
            // Text a reader would take for another form (empty: No-value; '"': a
            // Quoted-string; a control or high octet): behind the Text-string quote.
            _ => {
                if t.contains(&0) {
                    return Err(EncodeError::NulInText(WHAT));
                }
                out.push(crate::reader::TEXT_QUOTE);
                out.extend_from_slice(t);
                out.push(0);
            }
        },
        ParamValue::Quoted(t) => writer::quoted_string(out, t, WHAT)?,
        ParamValue::NoValue => out.push(0),
    }
    Ok(())
}

/// Encode parameters one after the other.
pub fn encode_params(out: &mut Vec<u8>, params: &[Param<'_>]) -> Result<(), EncodeError> {
    params.iter().try_for_each(|p| encode_param(out, p))
}

/// A Content-Type value: media type and parameters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContentType<'a> {
    /// The media type.
    pub media: MediaType<'a>,
    /// Its parameters, in wire order.
    pub params: Vec<Param<'a>>,
}

impl<'a> ContentType<'a> {
    /// A content type without parameters.
    pub fn new(media: MediaType<'a>) -> Self {
        ContentType {
            media,
            params: Vec::new(),
        }
    }

    /// A well-known content type without parameters.
    pub fn well_known(code: u16) -> ContentType<'static> {
        ContentType {
            media: MediaType::WellKnown(code),
            params: Vec::new(),
        }
    }

    /// Add a parameter (builder style).
    pub fn with(mut self, name: ParamName<'a>, value: ParamValue<'a>) -> Self {
        self.params.push(Param { name, value });
        self
    }

    /// The first parameter with this name (by MIME name, case-insensitive).
    pub fn param(&self, name: &str) -> Option<&Param<'a>> {
        self.params
            .iter()
            .find(|p| p.name.name().eq_ignore_ascii_case(name))
    }

    /// The charset MIBenum, if a charset parameter is present.
    pub fn charset(&self) -> Option<u64> {
        self.params.charset()
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> ContentType<'static> {
        ContentType {
            media: self.media.into_owned(),
            params: self.params.into_iter().map(Param::into_owned).collect(),
        }
    }

    /// Decode a Content-type-value.
    // Inlined: returning the large Result through memory costs more than the call.
    #[inline(always)]
    pub fn decode(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, DecodeError> {
        let mut params = Vec::new();
        let media = Self::decode_into(r, limits, &mut params)?;
        Ok(ContentType { media, params })
    }

    /// Decode a Content-type-value: its media type, its parameters into `params`.
    // Inlined: returning the large Result through memory costs more than the call.
    #[inline(always)]
    pub(crate) fn decode_into<S: ParamSink<'a>>(
        r: &mut Reader<'a>,
        limits: &Limits,
        params: &mut S,
    ) -> Result<MediaType<'a>, DecodeError> {
        let at = r.offset();
        match r.peek() {
            None => Err(r.err(ErrorKind::Truncated { needed: 1 })),
            // Constrained-media: Short-integer.
            Some(b) if b >= 0x80 => Ok(MediaType::WellKnown(u16::from(r.short_integer()?))),
            // Content-general-form: Value-length Media-type.
            Some(0..=0x1F) => {
                let mut v = r.value_region()?;
                let media = match v.peek() {
                    None => return Err(v.err(ErrorKind::Truncated { needed: 1 })),
                    Some(b) if b >= 0x80 || b <= 30 => {
                        let code = v.integer_value()?;
                        MediaType::WellKnown(
                            u16::try_from(code)
                                .map_err(|_| r.err_at(ErrorKind::InvalidValue("media code"), at))?,
                        )
                    }
                    Some(_) => MediaType::Text(Cow::Borrowed(v.text_string()?)),
                };
                decode_params_into(&mut v, limits, params)?;
                Ok(media)
            }
            // Constrained-media: Extension-media.
            Some(_) => Ok(MediaType::Text(Cow::Borrowed(r.text_string()?))),
        }
    }

    /// Encode: the constrained form when there are no parameters, else the general form.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        const WHAT: &str = "Content-Type";
        fn media(out: &mut Vec<u8>, m: &MediaType<'_>, general: bool) -> Result<(), EncodeError> {
            match m {
                MediaType::WellKnown(c) if *c < 0x80 => out.push(0x80 | *c as u8),
                MediaType::WellKnown(c) if general => writer::long_integer(out, u64::from(*c)),
                MediaType::WellKnown(_) => return Err(EncodeError::OutOfRange(WHAT)),
                MediaType::Text(t) => {
                    if t.first().is_none_or(|&b| !(0x20..0x7F).contains(&b)) {
                        return Err(EncodeError::BadToken(WHAT));
                    }
                    writer::text_string(out, t, WHAT)?
                }
            }
            Ok(())
        }
        let needs_general =
            !self.params.is_empty() || matches!(self.media, MediaType::WellKnown(c) if c >= 0x80);
        if needs_general {
            writer::with_value_length(out, WHAT, |o| {
                media(o, &self.media, true)?;
                encode_params(o, &self.params)
            })
        } else {
            media(out, &self.media, false)
        }
    }
}

impl fmt::Display for ContentType<'_> {
    /// MIME text: `type; name=value; ...`, values quoted where MIME needs it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.media.name())?;
        write_params(f, &self.params)
    }
}

impl fmt::Debug for ContentType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Write `; name=value` for each parameter, quoting values that are not MIME tokens.
pub fn write_params(f: &mut impl fmt::Write, params: &[Param<'_>]) -> fmt::Result {
    for p in params {
        let v = p.value_text();
        write!(f, "; {}", p.name.name())?;
        if matches!(p.value, ParamValue::NoValue) {
            continue;
        }
        // Quoted only where MIME needs it, so that the text form is canonical.
        if !v.is_empty() && writer::is_token(v.as_bytes()) {
            write!(f, "={v}")?;
        } else {
            f.write_str("=\"")?;
            for c in v.chars() {
                if c == '"' || c == '\\' {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
            f.write_char('"')?;
        }
    }
    Ok(())
}

/// A Content-Disposition value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContentDisposition<'a> {
    /// Form-data 0x80, Attachment 0x81, Inline 0x82, or Token-text.
    pub kind: DispositionKind<'a>,
    /// Parameters (filename, ...).
    pub params: Vec<Param<'a>>,
}

/// The disposition itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DispositionKind<'a> {
    /// A well-known octet (0x80 form-data, 0x81 attachment, 0x82 inline, others kept).
    Octet(u8),
    /// Token-text.
    Token(Cow<'a, [u8]>),
}

impl DispositionKind<'_> {
    /// The disposition as text.
    pub fn name(&self) -> Cow<'_, str> {
        match self {
            DispositionKind::Octet(0x80) => Cow::Borrowed("form-data"),
            DispositionKind::Octet(0x81) => Cow::Borrowed("attachment"),
            DispositionKind::Octet(0x82) => Cow::Borrowed("inline"),
            DispositionKind::Octet(o) => Cow::Owned(format!("0x{o:02X}")),
            DispositionKind::Token(t) => String::from_utf8_lossy(t),
        }
    }

    /// From text: the well-known octet where there is one.
    pub fn from_name(name: &str) -> DispositionKind<'static> {
        match name.to_ascii_lowercase().as_str() {
            "form-data" => DispositionKind::Octet(0x80),
            "attachment" => DispositionKind::Octet(0x81),
            "inline" => DispositionKind::Octet(0x82),
            _ => match name
                .strip_prefix("0x")
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(o) if o >= 0x80 => DispositionKind::Octet(o),
                _ => DispositionKind::Token(Cow::Owned(name.as_bytes().to_vec())),
            },
        }
    }
}

impl<'a> ContentDisposition<'a> {
    /// Decode: Value-length Disposition *(Parameter).
    pub fn decode(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, DecodeError> {
        let mut v = r.value_region()?;
        let kind = match v.peek() {
            None => return Err(v.err(ErrorKind::Truncated { needed: 1 })),
            Some(b) if b >= 0x80 => DispositionKind::Octet(v.u8()?),
            Some(_) => DispositionKind::Token(Cow::Borrowed(v.until_nul()?)),
        };
        let params = decode_params(&mut v, limits)?;
        Ok(ContentDisposition { kind, params })
    }

    /// Encode with its Value-length.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        writer::with_value_length(out, "Content-Disposition", |o| {
            match &self.kind {
                DispositionKind::Octet(b) if *b >= 0x80 => o.push(*b),
                DispositionKind::Octet(_) => {
                    return Err(EncodeError::OutOfRange("Content-Disposition"));
                }
                DispositionKind::Token(t) => writer::token_text(o, t, "Content-Disposition")?,
            }
            encode_params(o, &self.params)
        })
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> ContentDisposition<'static> {
        ContentDisposition {
            kind: match self.kind {
                DispositionKind::Octet(o) => DispositionKind::Octet(o),
                DispositionKind::Token(t) => DispositionKind::Token(Cow::Owned(t.into_owned())),
            },
            params: self.params.into_iter().map(Param::into_owned).collect(),
        }
    }
}

impl fmt::Display for ContentDisposition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind.name())?;
        write_params(f, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(b: &[u8]) -> ContentType<'_> {
        let mut r = Reader::new(b);
        let ct = ContentType::decode(&mut r, &Limits::default()).unwrap();
        assert!(r.is_empty(), "left {:?}", r.rest());
        ct
    }

    #[test]
    fn constrained_and_general_forms() {
        assert_eq!(
            dec(&[0xA3]).to_string(),
            "application/vnd.wap.multipart.mixed"
        );
        assert_eq!(dec(b"application/smil\0").to_string(), "application/smil");
        // From PROTOCOLS.md: sailfish m-send_2.req.
        let mut b = vec![0x1B, 0xB3, 0x89];
        b.extend_from_slice(b"application/smil\0");
        b.push(0x8A);
        b.extend_from_slice(b"0.smil\0");
        let ct = dec(&b);
        assert_eq!(
            ct.to_string(),
            "application/vnd.wap.multipart.related; type=\"application/smil\"; start=0.smil"
        );
        let mut out = Vec::new();
        ct.encode(&mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn charset_and_name() {
        // text/plain; charset=utf-8; name=a.txt (1.4 name code, Text-value)
        let b = [
            0x0A, 0x83, 0x81, 0xEA, 0x97, b'a', b'.', b't', b'x', b't', 0x00,
        ];
        let ct = dec(&b);
        assert_eq!(ct.charset(), Some(106));
        assert_eq!(ct.to_string(), "text/plain; charset=utf-8; name=a.txt");
        let mut out = Vec::new();
        ct.encode(&mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn untyped_params_and_quoting() {
        let b = b"\x10text/x\0foo\0\"a b\0";
        let ct = dec(b);
        assert_eq!(ct.to_string(), "text/x; foo=\"a b\"");
        let mut out = Vec::new();
        ct.encode(&mut out).unwrap();
        assert_eq!(&out[..], &b[..]);
    }

    #[test]
    fn untyped_text_that_looks_like_another_form() {
        for v in [&b""[..], b"\"x y", b"\x01a", b"\xc3\xa9"] {
            let ct = ContentType::new(MediaType::WellKnown(0x03)).with(
                ParamName::Token(Cow::Borrowed(b"x")),
                ParamValue::Text(Cow::Borrowed(v)),
            );
            let mut out = Vec::new();
            ct.encode(&mut out).unwrap();
            assert_eq!(dec(&out), ct, "{v:?}");
        }
    }

    #[test]
    fn disposition() {
        let b = [
            0x0A, 0x81, 0x86, b'f', b'.', b'j', b'p', b'g', 0x00, 0x81, 0xEA,
        ];
        let mut r = Reader::new(&b);
        let d = ContentDisposition::decode(&mut r, &Limits::default()).unwrap();
        assert_eq!(d.to_string(), "attachment; filename=f.jpg; charset=utf-8");
        let mut out = Vec::new();
        d.encode(&mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let l = Limits::default();
        for b in [&[][..], &[0x05, 0x83][..], &[0x02, 0x83, 0x81][..], b"text"] {
            assert!(
                ContentType::decode(&mut Reader::new(b), &l).is_err(),
                "{b:?}"
            );
        }
    }
}
