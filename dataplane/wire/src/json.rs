//! The JSON form of MMS PDUs: what `mmsc pdu decode --json` prints and `mmsc pdu encode` reads.
//!
//! Keys are the header names as OMA-TS-MMS_ENC spells them ("X-Mms-Message-Type",
//! "X-Mms-Transaction-ID", "From", "To", ...); enumerated values by their spec names ("m-send-req",
//! "Ok", "Personal"), unknown ones as numbers; versions as "1.2"; dates as RFC 3339 UTC text;
//! "Content-Type" as MIME text; a multipart body as "parts" (each with "Content-Type",
//! "Content-ID", "Content-Location", "data" in base64), any other body as "data".
//!
//! Value forms:
//! - Encoded-string-value: a string, or `{"charset": "utf-8", "text": "..."}`; octets that are
//!   not valid in their charset as `{"charset": .., "base64": ..}` (nothing is replaced).
//! - From: an address as above, or `{"insert-address": true}`.
//! - Expiry-like: `{"relative": 259200}` or `{"absolute": "2011-05-19T08:56:34Z"}`.
//! - Fields not interpreted, and unknown field codes (keys "0xC5"): `{"raw": "<hex>"}`.
//! - Application (textual) headers: `"application-headers": [{"name": .., "value": ..}]`.
//!
//! The JSON form is canonical: decoding, converting to JSON, encoding that JSON and decoding
//! again gives the same JSON. Encoding details the JSON does not show (WSP 1.2 vs 1.4 parameter
//! codes, quoting forms, header order inside one part) take their canonical choice.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as Json};

use crate::charset;
use crate::mms::Pdu;
use crate::mms::enums::*;
use crate::mms::header::{
    EncodedString, Grammar, HeaderName, TimeValue, Value, field, field_by_name, field_info, grammar,
};
use crate::wsp::{
    Body, ContentDisposition, ContentType, DispositionKind, MediaType, Param, ParamName,
    ParamValue, Part, PartHeader, tables,
};

/// A JSON document that is not a PDU: where (a JSON path) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    /// Path of the offending value, e.g. `parts[1].Content-Type`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, JsonError> {
    Err(JsonError {
        path: path.to_string(),
        message: message.into(),
    })
}

// ---------------------------------------------------------------------------------------------
// Dates

/// RFC 3339 UTC text of seconds since the epoch ("2011-06-03T09:45:21Z"); `None` past 9999.
pub fn format_date(secs: u64) -> Option<String> {
    let days = i64::try_from(secs / 86_400).ok()?;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), after H. Hinnant.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if y > 9999 {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ".
pub fn parse_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || !matches!(b.get(19), Some(b'Z' | b'z')) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse::<i64>().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days-from-civil.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se).ok()
}

fn date_json(secs: u64) -> Json {
    format_date(secs).map_or(Json::from(secs), Json::from)
}

fn date_from(path: &str, j: &Json) -> Result<u64, JsonError> {
    match j {
        Json::Number(n) => n.as_u64().map_or_else(|| err(path, "not a date"), Ok),
        Json::String(s) => parse_date(s).map_or_else(
            || err(path, "date must be YYYY-MM-DDTHH:MM:SSZ or seconds"),
            Ok,
        ),
        _ => err(path, "not a date"),
    }
}

// ---------------------------------------------------------------------------------------------
// Small value forms

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(path: &str, s: &str) -> Result<Vec<u8>, JsonError> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return err(path, "odd number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map_or_else(|| err(path, "bad hex"), Ok)
        })
        .collect()
}

fn b64_from(path: &str, j: &Json) -> Result<Vec<u8>, JsonError> {
    match j.as_str() {
        Some(s) => B64
            .decode(s.trim())
            .or_else(|e| err(path, format!("bad base64: {e}"))),
        None => err(path, "expected base64 text"),
    }
}

fn text_json(b: &[u8]) -> Json {
    match std::str::from_utf8(b) {
        Ok(s) => Json::from(s),
        Err(_) => serde_json::json!({ "base64": B64.encode(b) }),
    }
}

fn text_from(path: &str, j: &Json) -> Result<Vec<u8>, JsonError> {
    match j {
        Json::String(s) => Ok(s.as_bytes().to_vec()),
        Json::Object(o) if o.len() == 1 && o.contains_key("base64") => {
            b64_from(&format!("{path}.base64"), &o["base64"])
        }
        _ => err(path, "expected text (a string, or {\"base64\": ..})"),
    }
}

fn charset_json(mib: u64) -> Json {
    charset::name(mib).map_or(Json::from(mib), Json::from)
}

fn charset_from(path: &str, j: &Json) -> Result<u64, JsonError> {
    match j {
        Json::Number(n) => n
            .as_u64()
            .map_or_else(|| err(path, "bad charset number"), Ok),
        Json::String(s) => charset::mib(s).map_or_else(
            || {
                err(
                    path,
                    format!("unknown charset {s:?} (give its MIBenum number)"),
                )
            },
            Ok,
        ),
        _ => err(path, "bad charset"),
    }
}

fn encoded_json(e: &EncodedString<'_>) -> Json {
    match e.charset {
        None => text_json(&e.text),
        // Text only when it survives encoding and decoding again (some decoders are not
        // one-to-one, e.g. Shift_JIS forms that map to one character; a byte order mark is
        // not text and may go).
        Some(mib) => match e.to_text() {
            Some(t)
                if charset::encode(mib, &t)
                    .is_some_and(|b| charset::decode(mib, &b).as_deref() == Some(&*t)) =>
            {
                serde_json::json!({ "charset": charset_json(mib), "text": t })
            }
            _ => serde_json::json!({ "charset": charset_json(mib), "base64": B64.encode(&e.text) }),
        },
    }
}

fn encoded_from(path: &str, j: &Json) -> Result<EncodedString<'static>, JsonError> {
    match j {
        Json::Object(o) if o.contains_key("charset") => {
            let mib = charset_from(&format!("{path}.charset"), &o["charset"])?;
            let text = match (o.get("text"), o.get("base64")) {
                (Some(Json::String(t)), None) => match charset::encode(mib, t) {
                    Some(b) => b,
                    None => {
                        return err(path, "text cannot be encoded in that charset");
                    }
                },
                (None, Some(b)) => b64_from(&format!("{path}.base64"), b)?,
                _ => return err(path, "needs \"text\" or \"base64\" beside \"charset\""),
            };
            if o.len() != 2 {
                return err(path, "unexpected keys beside charset and text");
            }
            Ok(EncodedString {
                charset: Some(mib),
                text: Cow::Owned(text),
            })
        }
        _ => Ok(EncodedString::plain(text_from(path, j)?)),
    }
}

fn octet_name(code: u8, o: u8) -> Option<&'static str> {
    match code {
        field::MESSAGE_TYPE => MessageType(o).name(),
        field::DELIVERY_REPORT
        | field::READ_REPORT
        | field::REPORT_ALLOWED
        | field::STORE
        | field::STORED
        | field::TOTALS
        | field::QUOTAS
        | field::DISTRIBUTION_INDICATOR
        | field::DRM_CONTENT
        | field::ADAPTATION_ALLOWED => YesNo(o).name(),
        field::MESSAGE_CLASS => MessageClass(o).name(),
        field::PRIORITY => Priority(o).name(),
        field::RESPONSE_STATUS => ResponseStatus(o).name(),
        field::SENDER_VISIBILITY => SenderVisibility(o).name(),
        field::STATUS => Status(o).name(),
        field::RETRIEVE_STATUS => RetrieveStatus(o).name(),
        field::READ_STATUS => ReadStatus(o).name(),
        field::REPLY_CHARGING => ReplyCharging(o).name(),
        field::MM_STATE => MmState(o).name(),
        field::STORE_STATUS => StoreStatus(o).name(),
        field::RECOMMENDED_RETRIEVAL_MODE => RetrievalMode(o).name(),
        field::CONTENT_CLASS => ContentClass(o).name(),
        field::CANCEL_STATUS => CancelStatus(o).name(),
        field::MM_FLAGS => MmFlagsToken(o).name(),
        field::MBOX_TOTALS | field::MBOX_QUOTAS => QuotaToken(o).name(),
        _ => None,
    }
}

fn octet_by_name(code: u8, name: &str) -> Option<u8> {
    (0x80..=0xFF).find(|&o| octet_name(code, o).is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

fn octet_json(code: u8, o: u8) -> Json {
    octet_name(code, o).map_or(Json::from(o), Json::from)
}

fn octet_from(path: &str, code: u8, j: &Json) -> Result<u8, JsonError> {
    match j {
        Json::Number(n) => match n.as_u64().and_then(|v| u8::try_from(v).ok()) {
            Some(o) if o >= 0x80 => Ok(o),
            _ => err(path, "enumerated values are 128..=255"),
        },
        Json::String(s) => {
            octet_by_name(code, s).map_or_else(|| err(path, format!("unknown value {s:?}")), Ok)
        }
        _ => err(path, "expected a name or a number"),
    }
}

fn u64_from(path: &str, j: &Json) -> Result<u64, JsonError> {
    j.as_u64()
        .map_or_else(|| err(path, "expected a non-negative integer"), Ok)
}

fn get<'j>(path: &str, o: &'j Map<String, Json>, k: &str) -> Result<&'j Json, JsonError> {
    o.get(k)
        .map_or_else(|| err(path, format!("missing \"{k}\"")), Ok)
}

// ---------------------------------------------------------------------------------------------
// Header values

/// The JSON form of one header value of field `code` (as it appears under its key).
pub fn value_json(code: u8, v: &Value<'_>) -> Json {
    use serde_json::json;
    match (grammar(code), v) {
        (_, Value::Raw(r)) => json!({ "raw": hex(r) }),
        (Grammar::FieldCode, Value::Octet(o)) => {
            field_info(*o).map_or(Json::from(*o), |f| Json::from(f.name))
        }
        (Grammar::Version, Value::Octet(o)) => Json::from(Version(o & 0x7F).to_string()),
        // Text where an octet is expected: as an explicit {"text": ..} when the plain string
        // would read back as the octet (a known name, a version, a field name).
        (g @ (Grammar::Octet | Grammar::Version | Grammar::FieldCode), Value::Text(t)) => {
            match std::str::from_utf8(t) {
                Ok(s)
                    if match g {
                        Grammar::Octet => octet_by_name(code, s).is_some(),
                        Grammar::Version => Version::parse(s).is_some(),
                        _ => field_by_name(s).is_some(),
                    } =>
                {
                    json!({ "text": s })
                }
                _ => text_json(t),
            }
        }
        (_, Value::Octet(o)) => octet_json(code, *o),
        (_, Value::Text(t)) => text_json(t),
        (_, Value::Encoded(e)) => encoded_json(e),
        (_, Value::Integer(i)) if code == field::DATE => date_json(*i),
        (_, Value::Integer(i)) => Json::from(*i),
        (_, Value::Time(TimeValue::Relative(s))) => json!({ "relative": s }),
        (_, Value::Time(TimeValue::Absolute(s))) => json!({ "absolute": date_json(*s) }),
        (_, Value::From(None)) => json!({ "insert-address": true }),
        (_, Value::From(Some(e))) => encoded_json(e),
        (g, Value::Tagged { tag, value }) => {
            let inner = |k: &str| {
                let mut m = Map::new();
                let t = match g {
                    Grammar::TokenText | Grammar::TokenInteger => (
                        "token",
                        u8::try_from(*tag).map_or(Json::from(*tag), |o| octet_json(code, o)),
                    ),
                    _ => ("count", Json::from(*tag)),
                };
                m.insert(t.0.into(), t.1);
                let val = match (&**value, g) {
                    (Value::Integer(i), Grammar::CountedDate) => date_json(*i),
                    (other, _) => value_json_inner(other),
                };
                m.insert(k.into(), val);
                Json::Object(m)
            };
            match g {
                Grammar::CountedAddress => inner("address"),
                Grammar::CountedDate => inner("date"),
                Grammar::TokenInteger => inner("value"),
                Grammar::ContentLocation => inner("uri"),
                _ => inner("text"),
            }
        }
        (_, Value::Element { reference, params }) => {
            let ps: Vec<Json> = params
                .iter()
                .map(|p| {
                    let name = match &p.name {
                        ParamName::WellKnown(c) => Json::from(*c),
                        ParamName::Token(t) => text_json(t),
                    };
                    let value = match &p.value {
                        ParamValue::Integer(i) => Json::from(*i),
                        ParamValue::Text(t) | ParamValue::Quoted(t) => text_json(t),
                        ParamValue::NoValue => Json::from(""),
                    };
                    json!({ "name": name, "value": value })
                })
                .collect();
            json!({ "reference": text_json(reference), "params": ps })
        }
    }
}

fn value_json_inner(v: &Value<'_>) -> Json {
    match v {
        Value::Text(t) => text_json(t),
        Value::Encoded(e) => encoded_json(e),
        Value::Integer(i) => Json::from(*i),
        other => value_json(0, other),
    }
}

fn only_keys(path: &str, o: &Map<String, Json>, keys: &[&str]) -> Result<(), JsonError> {
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => err(path, format!("unexpected key \"{k}\" (expected {keys:?})")),
        None => Ok(()),
    }
}

fn value_from(path: &str, code: u8, j: &Json) -> Result<Value<'static>, JsonError> {
    if let Json::Object(o) = j
        && o.contains_key("raw")
        && matches!(grammar(code), Grammar::Raw | Grammar::ContentType)
    {
        only_keys(path, o, &["raw"])?;
        let raw = unhex(&format!("{path}.raw"), o["raw"].as_str().unwrap_or(""))?;
        return Ok(Value::Raw(Cow::Owned(raw)));
    }
    let obj = |what: &str| -> Result<&Map<String, Json>, JsonError> {
        j.as_object()
            .map_or_else(|| err(path, format!("expected an object ({what})")), Ok)
    };
    let sub = |k: &str| format!("{path}.{k}");
    Ok(match grammar(code) {
        Grammar::Text => Value::Text(Cow::Owned(text_from(path, j)?)),
        Grammar::ContentLocation => match j {
            Json::Object(o) if o.contains_key("count") => {
                only_keys(path, o, &["count", "uri"])?;
                Value::Tagged {
                    tag: u64_from(&sub("count"), &o["count"])?,
                    value: Box::new(Value::Text(Cow::Owned(text_from(
                        &sub("uri"),
                        get(path, o, "uri")?,
                    )?))),
                }
            }
            _ => Value::Text(Cow::Owned(text_from(path, j)?)),
        },
        Grammar::Encoded => Value::Encoded(encoded_from(path, j)?),
        Grammar::ResponseText => match j {
            Json::Object(o) if o.contains_key("count") => {
                only_keys(path, o, &["count", "text"])?;
                Value::Tagged {
                    tag: u64_from(&sub("count"), &o["count"])?,
                    value: Box::new(Value::Encoded(encoded_from(
                        &sub("text"),
                        get(path, o, "text")?,
                    )?)),
                }
            }
            _ => Value::Encoded(encoded_from(path, j)?),
        },
        // A Token-text in place of the octet (e.g. a new message class) is text: a string
        // that is no known name, or {"base64": ..}.
        Grammar::Octet | Grammar::Version | Grammar::FieldCode
            if j.as_object().is_some_and(|o| o.contains_key("text")) =>
        {
            let o = obj("{\"text\": ..}")?;
            only_keys(path, o, &["text"])?;
            match o.get("text").and_then(Json::as_str) {
                Some(t) => Value::Text(Cow::Owned(t.as_bytes().to_vec())),
                None => return err(path, "\"text\" must be a string"),
            }
        }
        Grammar::Octet => match j {
            Json::String(s) if octet_by_name(code, s).is_none() => {
                Value::Text(Cow::Owned(s.as_bytes().to_vec()))
            }
            Json::Object(_) => Value::Text(Cow::Owned(text_from(path, j)?)),
            _ => Value::Octet(octet_from(path, code, j)?),
        },
        Grammar::FieldCode => match j {
            Json::String(s) => match field_by_name(s) {
                Some(f) => Value::Octet(f.code),
                None => Value::Text(Cow::Owned(s.as_bytes().to_vec())),
            },
            Json::Object(_) => Value::Text(Cow::Owned(text_from(path, j)?)),
            _ => Value::Octet(octet_from(path, code, j)?),
        },
        Grammar::Version => match j.as_str().and_then(Version::parse) {
            Some(v) => Value::Octet(0x80 | v.0),
            None => match j {
                Json::String(_) | Json::Object(_) => Value::Text(Cow::Owned(text_from(path, j)?)),
                _ => return err(path, "version must be \"major.minor\" or \"major\""),
            },
        },
        Grammar::LongInteger if code == field::DATE => Value::Integer(date_from(path, j)?),
        Grammar::LongInteger | Grammar::IntegerValue => Value::Integer(u64_from(path, j)?),
        Grammar::Time => {
            let o = obj("{\"relative\": secs} or {\"absolute\": date}")?;
            match (o.get("relative"), o.get("absolute")) {
                (Some(r), None) if o.len() == 1 => {
                    Value::Time(TimeValue::Relative(u64_from(&sub("relative"), r)?))
                }
                (None, Some(a)) if o.len() == 1 => {
                    Value::Time(TimeValue::Absolute(date_from(&sub("absolute"), a)?))
                }
                _ => {
                    return err(
                        path,
                        "expected {\"relative\": secs} or {\"absolute\": date}",
                    );
                }
            }
        }
        Grammar::From => match j {
            Json::Object(o) if o.contains_key("insert-address") => {
                only_keys(path, o, &["insert-address"])?;
                if o["insert-address"] != Json::Bool(true) {
                    return err(path, "\"insert-address\" must be true");
                }
                Value::From(None)
            }
            _ => Value::From(Some(encoded_from(path, j)?)),
        },
        Grammar::CountedAddress => {
            let o = obj("{\"count\", \"address\"}")?;
            only_keys(path, o, &["count", "address"])?;
            Value::Tagged {
                tag: u64_from(&sub("count"), get(path, o, "count")?)?,
                value: Box::new(Value::Encoded(encoded_from(
                    &sub("address"),
                    get(path, o, "address")?,
                )?)),
            }
        }
        Grammar::CountedDate => {
            let o = obj("{\"count\", \"date\"}")?;
            only_keys(path, o, &["count", "date"])?;
            Value::Tagged {
                tag: u64_from(&sub("count"), get(path, o, "count")?)?,
                value: Box::new(Value::Integer(date_from(
                    &sub("date"),
                    get(path, o, "date")?,
                )?)),
            }
        }
        g @ (Grammar::TokenText | Grammar::TokenInteger) => {
            let k = if g == Grammar::TokenText {
                "text"
            } else {
                "value"
            };
            let o = obj("{\"token\", ..}")?;
            only_keys(path, o, &["token", k])?;
            let tag = u64::from(octet_from(&sub("token"), code, get(path, o, "token")?)?);
            let v = get(path, o, k)?;
            let value = if g == Grammar::TokenText {
                Value::Encoded(encoded_from(&sub(k), v)?)
            } else {
                Value::Integer(u64_from(&sub(k), v)?)
            };
            Value::Tagged {
                tag,
                value: Box::new(value),
            }
        }
        Grammar::ElementDescriptor => {
            let o = obj("{\"reference\", \"params\"}")?;
            only_keys(path, o, &["reference", "params"])?;
            let reference = text_from(&sub("reference"), get(path, o, "reference")?)?;
            let mut params = Vec::new();
            if let Some(ps) = o.get("params") {
                let Some(ps) = ps.as_array() else {
                    return err(&sub("params"), "expected an array");
                };
                for (i, p) in ps.iter().enumerate() {
                    let pp = format!("{path}.params[{i}]");
                    let Some(po) = p.as_object() else {
                        return err(&pp, "expected {\"name\", \"value\"}");
                    };
                    let name = match get(&pp, po, "name")? {
                        Json::Number(n) => ParamName::WellKnown(
                            n.as_u64()
                                .and_then(|v| u8::try_from(v).ok())
                                .filter(|v| *v < 0x80)
                                .map_or_else(|| err(&pp, "parameter codes are 0..=127"), Ok)?,
                        ),
                        other => ParamName::Token(Cow::Owned(text_from(&pp, other)?)),
                    };
                    let value = match get(&pp, po, "value")? {
                        Json::Number(n) => ParamValue::Integer(n.as_u64().unwrap_or(u64::MAX)),
                        other => ParamValue::Text(Cow::Owned(text_from(&pp, other)?)),
                    };
                    params.push(Param { name, value });
                }
            }
            Value::Element {
                reference: Cow::Owned(reference),
                params,
            }
        }
        Grammar::ContentType | Grammar::Raw => {
            return err(path, "this field takes {\"raw\": \"<hex>\"}");
        }
    })
}

// ---------------------------------------------------------------------------------------------
// MIME text of Content-Type / Content-Disposition

/// Split `type; a=b; c="d;e"` into the first item and (name, value) pairs.
/// A MIME value split into its first item and its (name, value) parameters.
type MimeParts = (String, Vec<(String, Option<String>)>);

fn split_mime(path: &str, s: &str) -> Result<MimeParts, JsonError> {
    let mut items: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '\\' if quoted => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ';' if !quoted => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if quoted {
        return err(path, "unterminated quoted string");
    }
    items.push(cur);
    let mut it = items.into_iter();
    let first = it.next().unwrap_or_default().trim().to_string();
    if first.is_empty() {
        return err(path, "empty media type");
    }
    let mut params = Vec::new();
    for item in it {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        match item.split_once('=') {
            None => params.push((item.to_string(), None)),
            Some((n, v)) => {
                let v = v.trim();
                let v = if let Some(inner) = v.strip_prefix('"') {
                    let Some(inner) = inner.strip_suffix('"') else {
                        return err(path, format!("bad quoted value in {item:?}"));
                    };
                    let mut out = String::new();
                    let mut cs = inner.chars();
                    while let Some(c) = cs.next() {
                        if c == '\\' {
                            if let Some(n) = cs.next() {
                                out.push(n);
                            }
                        } else {
                            out.push(c);
                        }
                    }
                    out
                } else {
                    v.to_string()
                };
                params.push((n.trim().to_string(), Some(v)));
            }
        }
    }
    Ok((first, params))
}

fn hex_code(s: &str) -> Option<u64> {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
}

fn params_from(
    path: &str,
    raw: Vec<(String, Option<String>)>,
) -> Result<Vec<Param<'static>>, JsonError> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let pname = match tables::param_code(&name) {
            Some(c) => ParamName::WellKnown(c),
            None => match hex_code(&name).and_then(|c| u8::try_from(c).ok()) {
                Some(c) if c < 0x80 => ParamName::WellKnown(c),
                _ => {
                    if !crate::writer::is_token(name.as_bytes()) {
                        return err(path, format!("bad parameter name {name:?}"));
                    }
                    ParamName::Token(Cow::Owned(name.as_bytes().to_vec()))
                }
            },
        };
        let text = |v: &str| Cow::Owned(v.as_bytes().to_vec());
        let int = |v: &str| -> Option<u64> {
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse().ok())
                .flatten()
        };
        let pvalue = match (&pname, value.as_deref()) {
            (_, None) => ParamValue::NoValue,
            (ParamName::WellKnown(0x01), Some(v)) => match charset::mib(v) {
                Some(m) if charset::name(m) == Some(v) => ParamValue::Integer(m),
                _ => int(v).map_or_else(|| ParamValue::Text(text(v)), ParamValue::Integer),
            },
            (ParamName::WellKnown(c @ (0x03 | 0x09)), Some(v)) => {
                match tables::content_type_code(v) {
                    Some(code)
                        if tables::content_type_name(code) == Some(v)
                            && (*c == 0x03 || code < 0x80) =>
                    {
                        ParamValue::Integer(u64::from(code))
                    }
                    _ => int(v).map_or_else(|| ParamValue::Text(text(v)), ParamValue::Integer),
                }
            }
            (ParamName::WellKnown(0x00 | 0x0E | 0x13..=0x16), Some(v)) => {
                int(v).map_or_else(|| ParamValue::Text(text(v)), ParamValue::Integer)
            }
            (ParamName::WellKnown(0x02 | 0x07 | 0x08 | 0x11), Some(v)) => match int(v) {
                Some(i) if i < 0x80 => ParamValue::Integer(i),
                _ => ParamValue::Text(text(v)),
            },
            (ParamName::WellKnown(0x05 | 0x06 | 0x0A..=0x0D | 0x0F), Some(v)) => {
                ParamValue::Text(text(v))
            }
            (_, Some(v)) => {
                if !v.is_empty() && crate::writer::is_token(v.as_bytes()) {
                    ParamValue::Text(text(v))
                } else {
                    ParamValue::Quoted(text(v))
                }
            }
        };
        out.push(Param {
            name: pname,
            value: pvalue,
        });
    }
    Ok(out)
}

/// Parse MIME text ("text/plain; charset=utf-8") into a WSP Content-Type: well-known media and
/// parameter codes where they exist (WSP 1.2 codes preferred), text otherwise.
pub fn parse_content_type(path: &str, s: &str) -> Result<ContentType<'static>, JsonError> {
    let (media, params) = split_mime(path, s)?;
    let media = match tables::content_type_code(&media) {
        Some(c) if tables::content_type_name(c) == Some(media.as_str()) => MediaType::WellKnown(c),
        _ => match hex_code(&media).and_then(|c| u16::try_from(c).ok()) {
            Some(c) => MediaType::WellKnown(c),
            None => {
                if !media.is_ascii() || media.bytes().any(|b| b <= 0x20) {
                    return err(path, format!("bad media type {media:?}"));
                }
                MediaType::Text(Cow::Owned(media.into_bytes()))
            }
        },
    };
    Ok(ContentType {
        media,
        params: params_from(path, params)?,
    })
}

/// The JSON form of a Content-Type: MIME text when that text reads back to the same text,
/// else `{"raw": "<hex of its WSP encoding>"}` (non-UTF-8 octets, names that are not tokens,
/// text with control characters).
fn content_type_json(ct: &ContentType<'_>) -> Json {
    let text = ct.to_string();
    // Stable: the text, read, encoded and decoded again, reads the same.
    // and has as many parameters (a name with "; " in it would split).
    let stable = parse_content_type("", &text).is_ok_and(|p| {
        let mut b = Vec::new();
        p.params.len() == ct.params.len()
            && p.encode(&mut b).is_ok()
            && ContentType::decode(
                &mut crate::reader::Reader::new(&b),
                &crate::Limits::default(),
            )
            .is_ok_and(|back| back.to_string() == text)
    });
    if stable {
        return Json::from(text);
    }
    let mut raw = Vec::new();
    match ct.encode(&mut raw) {
        Ok(()) => serde_json::json!({ "raw": hex(&raw) }),
        Err(_) => Json::from(text),
    }
}

fn content_type_from(path: &str, j: &Json) -> Result<ContentType<'static>, JsonError> {
    match j {
        Json::String(s) => parse_content_type(path, s),
        Json::Object(o) if o.contains_key("raw") => {
            only_keys(path, o, &["raw"])?;
            let raw = unhex(&format!("{path}.raw"), o["raw"].as_str().unwrap_or(""))?;
            let mut r = crate::reader::Reader::new(&raw);
            let ct = ContentType::decode(&mut r, &crate::Limits::default())
                .or_else(|e| err(path, format!("raw Content-Type: {e}")))?;
            if !r.is_empty() {
                return err(path, "raw Content-Type has trailing octets");
            }
            Ok(ct.into_owned())
        }
        _ => err(path, "expected MIME text or {\"raw\": \"<hex>\"}"),
    }
}

/// The JSON form of a Content-Disposition, as for a Content-Type.
fn disposition_json(d: &ContentDisposition<'_>) -> Json {
    let text = d.to_string();
    let stable = parse_disposition("", &text).is_ok_and(|p| {
        let mut b = Vec::new();
        p.params.len() == d.params.len()
            && p.encode(&mut b).is_ok()
            && ContentDisposition::decode(
                &mut crate::reader::Reader::new(&b),
                &crate::Limits::default(),
            )
            .is_ok_and(|back| back.to_string() == text)
    });
    if stable {
        return Json::from(text);
    }
    let mut raw = Vec::new();
    match d.encode(&mut raw) {
        Ok(()) => serde_json::json!({ "raw": hex(&raw) }),
        Err(_) => Json::from(text),
    }
}

fn disposition_from(path: &str, j: &Json) -> Result<ContentDisposition<'static>, JsonError> {
    match j {
        Json::String(s) => parse_disposition(path, s),
        Json::Object(o) if o.contains_key("raw") => {
            only_keys(path, o, &["raw"])?;
            let raw = unhex(&format!("{path}.raw"), o["raw"].as_str().unwrap_or(""))?;
            let mut r = crate::reader::Reader::new(&raw);
            let d = ContentDisposition::decode(&mut r, &crate::Limits::default())
                .or_else(|e| err(path, format!("raw Content-Disposition: {e}")))?;
            if !r.is_empty() {
                return err(path, "raw Content-Disposition has trailing octets");
            }
            Ok(d.into_owned())
        }
        _ => err(path, "expected MIME text or {\"raw\": \"<hex>\"}"),
    }
}

fn parse_disposition(path: &str, s: &str) -> Result<ContentDisposition<'static>, JsonError> {
    let (kind, params) = split_mime(path, s)?;
    Ok(ContentDisposition {
        kind: DispositionKind::from_name(&kind),
        params: params_from(path, params)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Parts

fn insert_grouped(m: &mut Map<String, Json>, key: String, v: Json, always_array: bool) {
    // Header values are never arrays themselves, so an array here is a group.
    match m.get_mut(&key) {
        Some(Json::Array(a)) => a.push(v),
        Some(existing) => {
            let first = existing.take();
            *existing = Json::Array(vec![first, v]);
        }
        None if always_array => {
            m.insert(key, Json::Array(vec![v]));
        }
        None => {
            m.insert(key, v);
        }
    }
}

fn part_json(p: &Part<'_>) -> Json {
    let mut m = Map::new();
    m.insert("Content-Type".into(), content_type_json(&p.content_type));
    let mut extra = Vec::new();
    for h in &p.headers {
        match h {
            PartHeader::ContentId { value, .. } => {
                insert_grouped(&mut m, "Content-ID".into(), text_json(value), false)
            }
            PartHeader::ContentLocation(v) => {
                insert_grouped(&mut m, "Content-Location".into(), text_json(v), false)
            }
            PartHeader::ContentDisposition { value, .. } => insert_grouped(
                &mut m,
                "Content-Disposition".into(),
                disposition_json(value),
                false,
            ),
            PartHeader::Text { name, value } => extra.push(serde_json::json!({
                "name": text_json(name), "value": text_json(value)
            })),
            PartHeader::Other { code, raw } => extra.push(serde_json::json!({
                "name": tables::header_name(*code).map_or(Json::from(*code), Json::from),
                "code": code,
                "raw": hex(raw)
            })),
        }
    }
    if !extra.is_empty() {
        m.insert("headers".into(), Json::Array(extra));
    }
    match &p.body {
        Body::Data(d) => m.insert("data".into(), Json::from(B64.encode(d))),
        Body::Multipart(ps) => m.insert(
            "parts".into(),
            Json::Array(ps.iter().map(part_json).collect()),
        ),
    };
    Json::Object(m)
}

fn list(j: &Json) -> Vec<&Json> {
    match j {
        Json::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

fn body_from(
    path: &str,
    o: &Map<String, Json>,
    ct: &ContentType<'_>,
) -> Result<Body<'static>, JsonError> {
    match (o.get("parts"), o.get("data")) {
        (Some(_), Some(_)) => err(path, "both \"parts\" and \"data\""),
        (Some(ps), None) => {
            if !ct.media.is_wsp_multipart() {
                return err(
                    path,
                    "\"parts\" needs an application/vnd.wap.multipart.* Content-Type",
                );
            }
            let Some(ps) = ps.as_array() else {
                return err(&format!("{path}.parts"), "expected an array");
            };
            let parts = ps
                .iter()
                .enumerate()
                .map(|(i, p)| part_from(&format!("{path}.parts[{i}]"), p))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Body::Multipart(parts))
        }
        (None, Some(d)) => Ok(Body::Data(Cow::Owned(b64_from(
            &format!("{path}.data"),
            d,
        )?))),
        (None, None) if ct.media.is_wsp_multipart() => Ok(Body::Multipart(Vec::new())),
        (None, None) => Ok(Body::Data(Cow::Borrowed(&[]))),
    }
}

fn part_headers_from(
    path: &str,
    hs: &Json,
    headers: &mut Vec<PartHeader<'static>>,
) -> Result<(), JsonError> {
    let Some(hs) = hs.as_array() else {
        return err(&format!("{path}.headers"), "expected an array");
    };
    for (i, h) in hs.iter().enumerate() {
        let hp = format!("{path}.headers[{i}]");
        let Some(ho) = h.as_object() else {
            return err(&hp, "expected an object");
        };
        if let Some(code) = ho.get("code") {
            only_keys(&hp, ho, &["name", "code", "raw"])?;
            let code = code
                .as_u64()
                .and_then(|c| u8::try_from(c).ok())
                .filter(|c| *c < 0x80)
                .map_or_else(|| err(&hp, "header codes are 0..=127"), Ok)?;
            let raw = unhex(&hp, get(&hp, ho, "raw")?.as_str().unwrap_or(""))?;
            let typed = match code {
                tables::header::CONTENT_ID | tables::header::CONTENT_LOCATION => true,
                tables::header::CONTENT_DISPOSITION | tables::header::CONTENT_DISPOSITION_14 => {
                    raw.first().is_some_and(|&b| b <= 0x1F)
                }
                _ => false,
            };
            if typed {
                return err(&hp, "this header has a key of its own in a part");
            }
            headers.push(PartHeader::Other {
                code,
                raw: Cow::Owned(raw),
            });
        } else {
            only_keys(&hp, ho, &["name", "value"])?;
            headers.push(PartHeader::Text {
                name: Cow::Owned(text_from(&hp, get(&hp, ho, "name")?)?),
                value: Cow::Owned(text_from(&hp, get(&hp, ho, "value")?)?),
            });
        }
    }
    Ok(())
}

fn part_from(path: &str, j: &Json) -> Result<Part<'static>, JsonError> {
    let Some(o) = j.as_object() else {
        return err(path, "expected an object");
    };
    only_keys(
        path,
        o,
        &[
            "Content-Type",
            "Content-ID",
            "Content-Location",
            "Content-Disposition",
            "headers",
            "data",
            "parts",
        ],
    )?;
    let ctp = format!("{path}.Content-Type");
    let ct = content_type_from(&ctp, get(path, o, "Content-Type")?)?;
    // Headers in the order of their keys, so that the JSON form is stable.
    let mut headers = Vec::new();
    for (key, v) in o {
        match key.as_str() {
            "Content-ID" => {
                for x in list(v) {
                    headers.push(PartHeader::ContentId {
                        value: Cow::Owned(text_from(&format!("{path}.Content-ID"), x)?),
                        quoted: true,
                    });
                }
            }
            "Content-Location" => {
                for x in list(v) {
                    headers.push(PartHeader::ContentLocation(Cow::Owned(text_from(
                        &format!("{path}.Content-Location"),
                        x,
                    )?)));
                }
            }
            "Content-Disposition" => {
                for x in list(v) {
                    let p = format!("{path}.Content-Disposition");
                    headers.push(PartHeader::ContentDisposition {
                        code: tables::header::CONTENT_DISPOSITION,
                        value: disposition_from(&p, x)?,
                    });
                }
            }
            "headers" => part_headers_from(path, v, &mut headers)?,
            _ => {}
        }
    }
    let body = body_from(path, o, &ct)?;
    if matches!(body, Body::Multipart(_))
        && !o.contains_key("parts")
        && !ct.media.is_wsp_multipart()
    {
        return err(path, "inconsistent body");
    }
    Ok(Part {
        content_type: ct,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// Whole PDU

const META_KEYS: &[&str] = &["application-headers", "parts", "data", "Content-Type"];

/// The JSON form of a PDU.
pub fn to_json(pdu: &Pdu<'_>) -> Json {
    let mut m = Map::new();
    m.insert(
        "X-Mms-Message-Type".into(),
        octet_json(field::MESSAGE_TYPE, pdu.message_type.0),
    );
    let mut app = Vec::new();
    for h in &pdu.headers {
        match &h.name {
            HeaderName::Field(code) => {
                let key = field_info(*code)
                    .map_or_else(|| format!("0x{code:02X}"), |f| f.name.to_string());
                let always = matches!(*code, field::TO | field::CC | field::BCC);
                insert_grouped(&mut m, key, value_json(*code, &h.value), always);
            }
            HeaderName::Application(name) => app.push(serde_json::json!({
                "name": text_json(name),
                "value": h.value.text().map_or(Json::Null, text_json),
            })),
        }
    }
    if !app.is_empty() {
        m.insert("application-headers".into(), Json::Array(app));
    }
    if let Some(ct) = &pdu.content_type {
        m.insert("Content-Type".into(), content_type_json(ct));
    }
    match &pdu.body {
        Some(Body::Multipart(ps)) => {
            m.insert(
                "parts".into(),
                Json::Array(ps.iter().map(part_json).collect()),
            );
        }
        Some(Body::Data(d)) => {
            m.insert("data".into(), Json::from(B64.encode(d)));
        }
        None => {}
    }
    Json::Object(m)
}

/// A PDU from its JSON form.
pub fn from_json(j: &Json) -> Result<Pdu<'static>, JsonError> {
    let Some(o) = j.as_object() else {
        return err("$", "expected a JSON object");
    };
    let mt = octet_from(
        "X-Mms-Message-Type",
        field::MESSAGE_TYPE,
        get("$", o, "X-Mms-Message-Type")?,
    )?;
    let mut pdu = Pdu::new(MessageType(mt));
    for (key, val) in o {
        if key == "X-Mms-Message-Type" || META_KEYS.contains(&key.as_str()) {
            continue;
        }
        let code = match field_by_name(key) {
            Some(f) if f.code == field::CONTENT_TYPE || f.code == field::MESSAGE_TYPE => {
                return err(key, "repeated");
            }
            Some(f) => f.code,
            None => match hex_code(key).and_then(|c| u8::try_from(c).ok()) {
                Some(c) if c >= 0x80 && c != field::CONTENT_TYPE && c != field::MESSAGE_TYPE => c,
                _ => return err(key, "unknown header name"),
            },
        };
        let items = list(val);
        for (i, item) in items.iter().enumerate() {
            let path = if items.len() > 1 || val.is_array() {
                format!("{key}[{i}]")
            } else {
                key.clone()
            };
            pdu.headers.push(crate::mms::Header {
                name: HeaderName::Field(code),
                value: value_from(&path, code, item)?,
            });
        }
    }
    if let Some(app) = o.get("application-headers") {
        let Some(app) = app.as_array() else {
            return err("application-headers", "expected an array");
        };
        for (i, h) in app.iter().enumerate() {
            let hp = format!("application-headers[{i}]");
            let Some(ho) = h.as_object() else {
                return err(&hp, "expected {\"name\", \"value\"}");
            };
            only_keys(&hp, ho, &["name", "value"])?;
            let name = text_from(&hp, get(&hp, ho, "name")?)?;
            if !name.first().is_some_and(|c| (0x20..0x7F).contains(c)) || name.contains(&0) {
                return err(&hp, "header names start with a printable ASCII character");
            }
            pdu.headers.push(crate::mms::Header {
                name: HeaderName::Application(Cow::Owned(name)),
                value: Value::Text(Cow::Owned(text_from(&hp, get(&hp, ho, "value")?)?)),
            });
        }
    }
    pdu.canonicalize();
    match o.get("Content-Type") {
        Some(ct) => {
            let ct = content_type_from("Content-Type", ct)?;
            let body = body_from("$", o, &ct)?;
            pdu.set_body(ct, body);
        }
        None if o.contains_key("parts") || o.contains_key("data") => {
            return err("Content-Type", "a body needs a Content-Type");
        }
        None => {}
    }
    Ok(pdu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn dates() {
        assert_eq!(format_date(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format_date(1_307_094_321).unwrap(), "2011-06-03T09:45:21Z");
        assert_eq!(format_date(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        for s in [
            0u64,
            59,
            86_399,
            951_782_400,
            1_307_094_321,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(parse_date(&format_date(s).unwrap()), Some(s), "{s}");
        }
        assert_eq!(format_date(253_402_300_800), None);
        assert_eq!(parse_date("2011-13-03T09:45:21Z"), None);
        assert_eq!(parse_date("2011-06-03 09:45:21"), None);
    }

    #[test]
    fn notification_json() {
        let b = b"\x8c\x82\x98OgQKKB\0\x8d\x90\x89\x08\x80Erotik\0\x96Pin-Ups\0\x8a\x80\x8e\x02\x40\x00\x88\x05\x81\x03\x03\xf4\x80\x83http://eps3.de/O/Z9IZO\0";
        let p = Pdu::decode(b, &Limits::default()).unwrap();
        let j = to_json(&p);
        assert_eq!(
            j,
            serde_json::json!({
                "X-Mms-Message-Type": "m-notification-ind",
                "X-Mms-Transaction-ID": "OgQKKB",
                "X-Mms-MMS-Version": "1.0",
                "From": "Erotik",
                "Subject": "Pin-Ups",
                "X-Mms-Message-Class": "Personal",
                "X-Mms-Message-Size": 16384,
                "X-Mms-Expiry": {"relative": 259200},
                "X-Mms-Content-Location": "http://eps3.de/O/Z9IZO"
            })
        );
        assert_eq!(from_json(&j).unwrap(), p);
    }

    #[test]
    fn content_type_text_round_trip() {
        for s in [
            "application/vnd.wap.multipart.related; type=\"application/smil\"; start=\"<0>\"",
            "text/plain; charset=utf-8; name=a.txt",
            "text/plain; charset=UTF-8",
            "image/jpeg; name=\"IMG 1.jpg\"",
            "audio/amr",
            "application/x-foo; secure; x-y=1",
        ] {
            let ct = parse_content_type("t", s).unwrap();
            assert_eq!(ct.to_string(), s);
            let mut out = Vec::new();
            ct.encode(&mut out).unwrap();
            let back =
                ContentType::decode(&mut crate::reader::Reader::new(&out), &Limits::default())
                    .unwrap();
            assert_eq!(back.to_string(), s);
        }
    }

    #[test]
    fn what_the_text_form_cannot_carry_round_trips_raw() {
        for input in [
            &b"\x8c\x81\x20\x00\x00"[..],
            b"\x8c\xff\x92\x33\xcd\x00",
            b"\x8c\x84\x84\x61\xff\x00",
            b"\x8c\x84\x84\x61\x2f\x62\x0a\x00",
            b"\x8c\x80\x8d\x31\x2e\x00",
            b"\x8c\x80\xa8\x7a\x00",
            // Token-texts that look like a version and like a known name.
            b"\x8c\x81\x8d02\x00\x86yes\x00",
            // An untyped parameter whose name holds "; ".
            b"\x8c\x80\x84\x07\x83a; b\x00\x00",
            // A Start parameter (WSP 1.4 code) with no value.
            b"\x8c\x80\x84\x03\xb3\x99\x00",
            // Shift_JIS that does not encode back to the same octets.
            b"\x8c\x81\x93\x1f\x05\x91\x92\xbd\xdc\x01\x00",
        ] {
            let p = Pdu::decode(input, &Limits::default()).unwrap();
            let j1 = to_json(&p);
            let p2 = from_json(&j1).unwrap_or_else(|e| panic!("{input:?}: {e}: {j1}"));
            let b = p2.encode().unwrap();
            let j2 = to_json(&Pdu::decode(&b, &Limits::default()).unwrap());
            assert_eq!(j1, j2, "{input:?}");
        }
    }

    #[test]
    fn errors_name_the_path() {
        let e = from_json(&serde_json::json!({"X-Mms-Message-Type": "m-nope"})).unwrap_err();
        assert_eq!(e.path, "X-Mms-Message-Type");
        let e =
            from_json(&serde_json::json!({"X-Mms-Message-Type": "m-send-req", "X-Mms-Expiry": 5}))
                .unwrap_err();
        assert_eq!(e.path, "X-Mms-Expiry");
        let e = from_json(&serde_json::json!({"X-Mms-Message-Type": "m-send-req", "Bogus": 5}))
            .unwrap_err();
        assert_eq!(e.path, "Bogus");
        let e = from_json(&serde_json::json!({
            "X-Mms-Message-Type": "m-send-req",
            "Content-Type": "application/vnd.wap.multipart.mixed",
            "parts": [{"Content-Type": "text/plain", "data": "!!"}]
        }))
        .unwrap_err();
        assert_eq!(e.path, "$.parts[0].data");
    }
}
