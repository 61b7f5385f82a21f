//! WSP multipart bodies (application/vnd.wap.multipart.*) and part headers.
//!
//! ```text
//! nEntries uintvar
//! entry:   HeadersLen uintvar, DataLen uintvar, ContentType, Headers, Data
//! ```
//! Part data is borrowed from the input; nested multiparts are decoded up to
//! [`Limits::max_depth`].

use std::borrow::Cow;

use crate::error::{DecodeError, EncodeError, ErrorKind, Limit};
use crate::reader::{QUOTED_STRING, Reader};
use crate::wsp::content_type::{
    ContentDisposition, ContentType, Param, ParamName, ParamSink, ParamTally, ParamValue, Tally,
};
use crate::wsp::tables::header;
use crate::{Limits, Warning, WarningKind, writer};

/// One header of a multipart entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartHeader<'a> {
    /// Content-ID (0xC0); `quoted` when it was a Quoted-string (the usual form).
    ContentId {
        /// The id, usually with its angle brackets: `<0.smil>`.
        value: Cow<'a, [u8]>,
        /// Whether it is encoded as a Quoted-string.
        quoted: bool,
    },
    /// Content-Location (0x8E).
    ContentLocation(Cow<'a, [u8]>),
    /// Content-Disposition (0xAE, or 0xC5 in WSP 1.4).
    ContentDisposition {
        /// The well-known code used (0x2E or 0x45).
        code: u8,
        /// The value.
        value: ContentDisposition<'a>,
    },
    /// An application header: Token-text name, Text-string value.
    Text {
        /// Header name.
        name: Cow<'a, [u8]>,
        /// Header value.
        value: Cow<'a, [u8]>,
    },
    /// Any other well-known WSP header, kept as its encoded value.
    Other {
        /// Well-known code (without the high bit).
        code: u8,
        /// The encoded value.
        raw: Cow<'a, [u8]>,
    },
}

impl PartHeader<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> PartHeader<'static> {
        match self {
            PartHeader::ContentId { value, quoted } => PartHeader::ContentId {
                value: Cow::Owned(value.into_owned()),
                quoted,
            },
            PartHeader::ContentLocation(v) => {
                PartHeader::ContentLocation(Cow::Owned(v.into_owned()))
            }
            PartHeader::ContentDisposition { code, value } => PartHeader::ContentDisposition {
                code,
                value: value.into_owned(),
            },
            PartHeader::Text { name, value } => PartHeader::Text {
                name: Cow::Owned(name.into_owned()),
                value: Cow::Owned(value.into_owned()),
            },
            PartHeader::Other { code, raw } => PartHeader::Other {
                code,
                raw: Cow::Owned(raw.into_owned()),
            },
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            PartHeader::ContentId { value, quoted } => {
                out.push(0x80 | header::CONTENT_ID);
                if *quoted {
                    writer::quoted_string(out, value, "Content-ID")?;
                } else if value.first() == Some(&QUOTED_STRING) {
                    // Behind the Text-string quote, or it would read back as a Quoted-string.
                    if value.contains(&0) {
                        return Err(EncodeError::NulInText("Content-ID"));
                    }
                    out.push(crate::reader::TEXT_QUOTE);
                    out.extend_from_slice(value);
                    out.push(0);
                } else {
                    writer::text_string(out, value, "Content-ID")?;
                }
            }
            PartHeader::ContentLocation(v) => {
                out.push(0x80 | header::CONTENT_LOCATION);
                writer::text_string(out, v, "Content-Location")?;
            }
            PartHeader::ContentDisposition { code, value } => {
                writer::short_integer(out, *code, "Content-Disposition")?;
                value.encode(out)?;
            }
            PartHeader::Text { name, value } => {
                writer::token_text(out, name, "part header name")?;
                writer::text_string(out, value, "part header value")?;
            }
            PartHeader::Other { code, raw } => {
                // Codes that decode to a typed header cannot be carried raw: they would not
                // read back as they are.
                let typed = match *code {
                    header::CONTENT_ID | header::CONTENT_LOCATION => true,
                    // Only the Value-length form of a disposition decodes as typed.
                    header::CONTENT_DISPOSITION | header::CONTENT_DISPOSITION_14 => {
                        raw.first().is_some_and(|&b| b <= 0x1F)
                    }
                    _ => false,
                };
                if typed {
                    return Err(EncodeError::Inconsistent(
                        "a typed part header given as a raw value",
                    ));
                }
                writer::short_integer(out, *code, "part header")?;
                // The raw value must itself be one well-formed value.
                let mut r = Reader::new(raw);
                match r.raw_value() {
                    Ok(v) if r.is_empty() && v.len() == raw.len() => out.extend_from_slice(raw),
                    _ => return Err(EncodeError::Inconsistent("malformed raw part header value")),
                }
            }
        }
        Ok(())
    }
}

/// The body of a PDU or of a multipart entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Body<'a> {
    /// Opaque data.
    Data(Cow<'a, [u8]>),
    /// A WSP multipart: its entries.
    Multipart(Vec<Part<'a>>),
}

impl Body<'_> {
    /// A copy that owns its data.
    pub fn into_owned(self) -> Body<'static> {
        match self {
            Body::Data(d) => Body::Data(Cow::Owned(d.into_owned())),
            Body::Multipart(p) => Body::Multipart(p.into_iter().map(Part::into_owned).collect()),
        }
    }

    /// Entries, when this is a multipart.
    pub fn parts(&self) -> &[Part<'_>] {
        match self {
            Body::Multipart(p) => p,
            Body::Data(_) => &[],
        }
    }

    /// Encoded size in octets.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        // Sizes only: encode headers, count data without copying it.
        match self {
            Body::Data(d) => d.len(),
            Body::Multipart(parts) => {
                let mut n = writer::uintvar_len(parts.len() as u32);
                for p in parts {
                    v.clear();
                    let _ = p.encode_headers(&mut v);
                    let dl = p.body.encoded_len();
                    n += writer::uintvar_len(v.len() as u32)
                        + writer::uintvar_len(dl as u32)
                        + v.len()
                        + dl;
                }
                n
            }
        }
    }
}

/// One multipart entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Part<'a> {
    /// Its content type.
    pub content_type: ContentType<'a>,
    /// Its headers, in wire order.
    pub headers: Vec<PartHeader<'a>>,
    /// Its data, or nested entries when its type is a WSP multipart.
    pub body: Body<'a>,
}

impl<'a> Part<'a> {
    /// A part with data and no headers.
    pub fn new(content_type: ContentType<'a>, data: impl Into<Cow<'a, [u8]>>) -> Self {
        Part {
            content_type,
            headers: Vec::new(),
            body: Body::Data(data.into()),
        }
    }

    /// The Content-ID, if any (the binary header, or a textual `Content-ID` as some encoders
    /// write it).
    pub fn content_id(&self) -> Option<&[u8]> {
        self.headers.iter().find_map(|h| match h {
            PartHeader::ContentId { value, .. } => Some(&value[..]),
            PartHeader::Text { name, value } if name.eq_ignore_ascii_case(b"Content-ID") => {
                Some(&value[..])
            }
            _ => None,
        })
    }

    /// The Content-Location, if any (binary or textual header).
    pub fn content_location(&self) -> Option<&[u8]> {
        self.headers.iter().find_map(|h| match h {
            PartHeader::ContentLocation(v) => Some(&v[..]),
            PartHeader::Text { name, value } if name.eq_ignore_ascii_case(b"Content-Location") => {
                Some(&value[..])
            }
            _ => None,
        })
    }

    /// The data, when this part is not a nested multipart.
    pub fn data(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Data(d) => Some(d),
            Body::Multipart(_) => None,
        }
    }

    /// A copy that owns its data.
    pub fn into_owned(self) -> Part<'static> {
        Part {
            content_type: self.content_type.into_owned(),
            headers: self
                .headers
                .into_iter()
                .map(PartHeader::into_owned)
                .collect(),
            body: self.body.into_owned(),
        }
    }

    fn encode_headers(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.content_type.encode(out)?;
        for h in &self.headers {
            h.encode(out)?;
        }
        Ok(())
    }
}

// Inlined: returning the large Result through memory costs more than the call.
#[inline(always)]
fn decode_part_headers<'a, H: Tally<PartHeader<'a>>, P: ParamSink<'a>>(
    r: &mut Reader<'a>,
    params: &mut P,
    limits: &Limits,
    warnings: &mut Vec<Warning>,
    headers: &mut H,
) -> Result<(), DecodeError> {
    while let Some(b) = r.peek() {
        if headers.count() >= limits.max_headers {
            return Err(r.err(ErrorKind::Limit(Limit::Headers)));
        }
        let at = r.offset();
        if b >= 0x80 {
            r.u8()?;
            let code = b & 0x7F;
            match code {
                header::CONTENT_ID => {
                    let (v, quoted) = if r.peek() == Some(QUOTED_STRING) {
                        (r.quoted_string()?.0, true)
                    } else {
                        (r.text_string()?, false)
                    };
                    headers.add(PartHeader::ContentId {
                        value: Cow::Borrowed(v),
                        quoted,
                    });
                }
                header::CONTENT_LOCATION => {
                    headers.add(PartHeader::ContentLocation(Cow::Borrowed(r.text_string()?)))
                }
                header::CONTENT_DISPOSITION | header::CONTENT_DISPOSITION_14
                    if r.at_value_length() =>
                {
                    let value = ContentDisposition::decode(r, limits)?;
                    headers.add(PartHeader::ContentDisposition { code, value });
                }
                // A charset written after the Content-Type value instead of inside it (seen
                // from handsets): it is the part's charset. Fold it in, and say so.
                header::ACCEPT_CHARSET_11
                    if params.charset().is_none()
                        && params.count() < limits.max_params
                        && matches!(r.peek(), Some(0x80..) | Some(1..=8)) =>
                {
                    let mib = r.integer_value()?;
                    params.add(Param {
                        name: ParamName::WellKnown(0x01),
                        value: ParamValue::Integer(mib),
                    });
                    warnings.push(Warning {
                        offset: at,
                        kind: WarningKind::CharsetOutsideContentType,
                    });
                }
                _ => headers.add(PartHeader::Other {
                    code,
                    raw: Cow::Borrowed(r.raw_value()?),
                }),
            }
        } else if (0x20..0x7F).contains(&b) {
            let name = r.until_nul()?;
            let value = r.text_string()?;
            headers.add(PartHeader::Text {
                name: Cow::Borrowed(name),
                value: Cow::Borrowed(value),
            });
        } else {
            return Err(r.err(ErrorKind::Unexpected {
                byte: b,
                what: "part header",
            }));
        }
    }
    Ok(())
}

/// Decode a multipart body (everything in `r`).
pub fn decode_multipart<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
    depth: usize,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Part<'a>>, DecodeError> {
    if r.is_empty() {
        warnings.push(Warning {
            offset: r.offset(),
            kind: WarningKind::MultipartBodyMissing,
        });
        return Ok(Vec::new());
    }
    let count_at = r.offset();
    let count = r.uintvar()? as usize;
    if count > limits.max_parts {
        return Err(r.err_at(ErrorKind::Limit(Limit::Parts), count_at));
    }
    // Each entry takes at least three octets: never allocate by a wire count beyond that.
    let mut parts = Vec::with_capacity(count.min(r.remaining() / 3));
    for _ in 0..count {
        let headers_len = r.uintvar()? as usize;
        let data_len = r.uintvar()? as usize;
        let mut hr = r.sub(headers_len)?;
        let data_at = r.offset();
        let data = r.take(data_len)?;
        let mut content_type = ContentType::decode(&mut hr, limits)?;
        let mut headers = Vec::new();
        decode_part_headers(
            &mut hr,
            &mut content_type.params,
            limits,
            warnings,
            &mut headers,
        )?;
        let body = if content_type.media.is_wsp_multipart() && depth < limits.max_depth {
            let mut nested_warnings = Vec::new();
            let mut dr = Reader::with_base(data, data_at);
            match decode_multipart(&mut dr, limits, depth + 1, &mut nested_warnings) {
                Ok(nested) if !data.is_empty() => {
                    warnings.extend(nested_warnings);
                    Body::Multipart(nested)
                }
                _ => {
                    warnings.push(Warning {
                        offset: data_at,
                        kind: WarningKind::NestedMultipartKeptAsData,
                    });
                    Body::Data(Cow::Borrowed(data))
                }
            }
        } else {
            if content_type.media.is_wsp_multipart() {
                warnings.push(Warning {
                    offset: data_at,
                    kind: WarningKind::NestedMultipartKeptAsData,
                });
            }
            Body::Data(Cow::Borrowed(data))
        };
        parts.push(Part {
            content_type,
            headers,
            body,
        });
    }
    if !r.is_empty() {
        warnings.push(Warning {
            offset: r.offset(),
            kind: WarningKind::TrailingBytes(r.remaining()),
        });
        r.take_rest();
    }
    Ok(parts)
}

/// Headers counted, not kept.
struct HeaderCount(usize);

impl<T> Tally<T> for HeaderCount {
    #[inline]
    fn count(&self) -> usize {
        self.0
    }

    #[inline]
    fn add(&mut self, _: T) {
        self.0 += 1;
    }
}

/// Check a multipart body (everything in `r`) as [`decode_multipart`] decodes it, keeping
/// nothing: `Err` exactly when, and with the error that, `decode_multipart` fails. Nested
/// multiparts are not looked into (one that does not decode is kept as data, no error).
pub(crate) fn check_multipart(r: &mut Reader<'_>, limits: &Limits) -> Result<(), DecodeError> {
    if r.is_empty() {
        return Ok(());
    }
    let count_at = r.offset();
    let count = r.uintvar()? as usize;
    if count > limits.max_parts {
        return Err(r.err_at(ErrorKind::Limit(Limit::Parts), count_at));
    }
    // Warnings are not kept; this stays empty unless a charset is folded in.
    let mut warnings = Vec::new();
    for _ in 0..count {
        let headers_len = r.uintvar()? as usize;
        let data_len = r.uintvar()? as usize;
        let mut hr = r.sub(headers_len)?;
        r.take(data_len)?;
        let mut params = ParamTally::default();
        ContentType::decode_into(&mut hr, limits, &mut params)?;
        decode_part_headers(
            &mut hr,
            &mut params,
            limits,
            &mut warnings,
            &mut HeaderCount(0),
        )?;
    }
    Ok(())
}

/// Encode a multipart body.
pub fn encode_multipart(out: &mut Vec<u8>, parts: &[Part<'_>]) -> Result<(), EncodeError> {
    let n = u32::try_from(parts.len()).map_err(|_| EncodeError::OutOfRange("part count"))?;
    writer::uintvar(out, n);
    let mut hdr = Vec::with_capacity(64);
    for p in parts {
        hdr.clear();
        p.encode_headers(&mut hdr)?;
        let data_len = p.body.encoded_len();
        let hl = u32::try_from(hdr.len()).map_err(|_| EncodeError::OutOfRange("part headers"))?;
        let dl = u32::try_from(data_len).map_err(|_| EncodeError::OutOfRange("part size"))?;
        writer::uintvar(out, hl);
        writer::uintvar(out, dl);
        out.extend_from_slice(&hdr);
        match &p.body {
            Body::Data(d) => out.extend_from_slice(d),
            Body::Multipart(nested) => {
                if !p.content_type.media.is_wsp_multipart() {
                    return Err(EncodeError::Inconsistent(
                        "nested entries under a non-multipart content type",
                    ));
                }
                encode_multipart(out, nested)?
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsp::content_type::MediaType;

    #[test]
    fn mmsd_retrieve_conf_1_body() {
        // PROTOCOLS.md 1.9: one entry, charset written outside the Content-Type value.
        let mut b = vec![0x01, 0x40, 0x3B, 0x14, 0x83, 0x85];
        b.extend_from_slice(b"Text_us-ascii.txt\0");
        b.extend_from_slice(&[0x81, 0x83, 0xC0, 0x22]);
        b.extend_from_slice(b"<Text_us-ascii.txt>\0");
        b.push(0x8E);
        b.extend_from_slice(b"Text_us-ascii.txt\0");
        let text = b"The quick brown fox jumped over the lazy dog 1234567890/!()";
        b.extend_from_slice(text);
        assert_eq!(b[1] as usize, 64);
        let mut w = Vec::new();
        let parts = decode_multipart(&mut Reader::new(&b), &Limits::default(), 0, &mut w).unwrap();
        assert_eq!(parts.len(), 1);
        let p = &parts[0];
        assert_eq!(p.content_type.charset(), Some(3));
        assert_eq!(
            p.content_type.to_string(),
            "text/plain; name=Text_us-ascii.txt; charset=us-ascii"
        );
        assert_eq!(p.content_id(), Some(&b"<Text_us-ascii.txt>"[..]));
        assert_eq!(p.content_location(), Some(&b"Text_us-ascii.txt"[..]));
        assert_eq!(p.data(), Some(&text[..]));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].kind, WarningKind::CharsetOutsideContentType);
        // Re-encoding puts the charset inside and decodes to the same part.
        let mut out = Vec::new();
        encode_multipart(&mut out, &parts).unwrap();
        let mut w2 = Vec::new();
        let again =
            decode_multipart(&mut Reader::new(&out), &Limits::default(), 0, &mut w2).unwrap();
        assert_eq!(again, parts);
        assert!(w2.is_empty());
    }

    #[test]
    fn unquoted_content_id_starting_with_a_quote_mark() {
        let mut p = Part::new(ContentType::well_known(0x2E), &b""[..]);
        p.headers.push(PartHeader::ContentId {
            value: Cow::Borrowed(b"\"\""),
            quoted: false,
        });
        let mut out = Vec::new();
        encode_multipart(&mut out, std::slice::from_ref(&p)).unwrap();
        let back = decode_multipart(
            &mut Reader::new(&out),
            &Limits::default(),
            0,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(back, vec![p]);
    }

    #[test]
    fn textual_content_id_and_location() {
        let mut p = Part::new(ContentType::well_known(0x03), &b"x"[..]);
        p.headers.push(PartHeader::Text {
            name: Cow::Borrowed(b"content-id"),
            value: Cow::Borrowed(b"<t>"),
        });
        p.headers.push(PartHeader::Text {
            name: Cow::Borrowed(b"Content-Location"),
            value: Cow::Borrowed(b"t.txt"),
        });
        assert_eq!(p.content_id(), Some(&b"<t>"[..]));
        assert_eq!(p.content_location(), Some(&b"t.txt"[..]));
    }

    #[test]
    fn nested_multipart_round_trip() {
        let inner = vec![Part::new(ContentType::well_known(0x03), &b"hi"[..])];
        let outer = vec![
            Part {
                content_type: ContentType::new(MediaType::WellKnown(0x26)),
                headers: vec![],
                body: Body::Multipart(inner),
            },
            Part::new(ContentType::well_known(0x1E), &b"\xFF\xD8"[..]),
        ];
        let mut out = Vec::new();
        encode_multipart(&mut out, &outer).unwrap();
        assert_eq!(Body::Multipart(outer.clone()).encoded_len(), out.len());
        let mut w = Vec::new();
        let back = decode_multipart(&mut Reader::new(&out), &Limits::default(), 0, &mut w).unwrap();
        assert_eq!(back, outer);
        // Depth limit.
        let limits = Limits {
            max_depth: 0,
            ..Limits::default()
        };
        let mut w = Vec::new();
        let back = decode_multipart(&mut Reader::new(&out), &limits, 0, &mut w).unwrap();
        assert!(matches!(back[0].body, Body::Data(_)));
    }

    #[test]
    fn limits_and_lies() {
        // Part count above the limit.
        let limits = Limits {
            max_parts: 2,
            ..Limits::default()
        };
        let e = decode_multipart(&mut Reader::new(&[3]), &limits, 0, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit(Limit::Parts));
        // Data length larger than the input.
        let b = [0x01, 0x01, 0x7F, 0x83, 1, 2];
        let e = decode_multipart(&mut Reader::new(&b), &Limits::default(), 0, &mut Vec::new())
            .unwrap_err();
        assert!(matches!(e.kind, ErrorKind::LengthOverrun { .. }));
        // A huge declared count with no bytes behind it fails without allocating.
        let b = [0x8F, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(
            decode_multipart(&mut Reader::new(&b), &Limits::default(), 0, &mut Vec::new()).is_err()
        );
    }
}
