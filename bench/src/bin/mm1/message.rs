//! The PDUs of the MM1 benchmark, built with `mmsc-wire`: the 10 KB m-send-req (SMIL, text,
//! a ~9 KB JPEG-like part), the m-notifyresp-ind, and the reading of `notifications.log`.

use std::borrow::Cow;

use mmsc_wire::mms::{EncodedString, MessageType, Status, Value, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType, ParamName, ParamValue, Part, PartHeader};
use mmsc_wire::{Limits, Pdu};

use crate::fixtures::fake_jpeg;

/// WSP well-known codes (Tables 38 and 40) used here.
const CT_TEXT_PLAIN: u16 = 0x03;
const CT_IMAGE_JPEG: u16 = 0x1E;
const CT_MULTIPART_RELATED: u16 = 0x33;
const P_CHARSET: u8 = 0x01;
const P_NAME: u8 = 0x05;
const P_TYPE: u8 = 0x09;
const P_START: u8 = 0x0A;
const UTF_8: u64 = 106;
/// 2026-11-24T10:15:00Z.
const DATE: u64 = 1_795_515_300;
/// Octets of the JPEG-like part: with the SMIL, the text and the headers, ~10 KB in all.
pub const JPEG_BYTES: usize = 9 * 1024;
/// Seed of the JPEG-like part (every message carries the same picture).
pub const JPEG_SEED: u64 = 0x5EED_0010;

const SMIL: &str = "<smil><head><layout><root-layout width=\"320\" height=\"480\"/>\
    <region id=\"Image\" top=\"0\" left=\"0\" height=\"75%\" width=\"100%\" fit=\"meet\"/>\
    <region id=\"Text\" top=\"75%\" left=\"0\" height=\"25%\" width=\"100%\" fit=\"scroll\"/>\
    </layout></head><body><par dur=\"5000ms\"><img src=\"IMG_0001.jpg\" region=\"Image\"/>\
    <text src=\"text_0.txt\" region=\"Text\"/></par></body></smil>";

const GREETING: &str = "Hei! Terveisiä mökiltä \u{1F332} Sää oli hyvä koko viikonlopun, \
    järvi vielä lämmin. Kuvassa laituri illalla. Soitellaan kun tullaan kotiin — \
    nähdään sunnuntaina! / Hi! Greetings from the cottage: the weather held all weekend and \
    the lake is still warm. The picture is the jetty in the evening. See you on Sunday!";

fn bytes(s: &str) -> Cow<'static, [u8]> {
    Cow::Owned(s.as_bytes().to_vec())
}

fn part_headers(id: &str, name: &str) -> Vec<PartHeader<'static>> {
    vec![
        PartHeader::ContentId {
            value: bytes(id),
            quoted: true,
        },
        PartHeader::ContentLocation(bytes(name)),
    ]
}

/// The multipart body: SMIL, UTF-8 text, JPEG.
fn body() -> (ContentType<'static>, Body<'static>) {
    let related = ContentType::new(MediaType::WellKnown(CT_MULTIPART_RELATED))
        .with(
            ParamName::WellKnown(P_START),
            ParamValue::Text(bytes("<smil>")),
        )
        .with(
            ParamName::WellKnown(P_TYPE),
            ParamValue::Text(bytes("application/smil")),
        );
    let smil = Part {
        content_type: ContentType::new(MediaType::Text(bytes("application/smil"))).with(
            ParamName::WellKnown(P_NAME),
            ParamValue::Text(bytes("smil.smil")),
        ),
        headers: part_headers("<smil>", "smil.smil"),
        body: Body::Data(bytes(SMIL)),
    };
    let text = Part {
        content_type: ContentType::new(MediaType::WellKnown(CT_TEXT_PLAIN))
            .with(ParamName::WellKnown(P_CHARSET), ParamValue::Integer(UTF_8))
            .with(
                ParamName::WellKnown(P_NAME),
                ParamValue::Text(bytes("text_0.txt")),
            ),
        headers: part_headers("<text_0>", "text_0.txt"),
        body: Body::Data(bytes(GREETING)),
    };
    let jpeg = Part {
        content_type: ContentType::new(MediaType::WellKnown(CT_IMAGE_JPEG)).with(
            ParamName::WellKnown(P_NAME),
            ParamValue::Text(bytes("IMG_0001.jpg")),
        ),
        headers: part_headers("<IMG_0001>", "IMG_0001.jpg"),
        body: Body::Data(Cow::Owned(fake_jpeg(JPEG_BYTES, JPEG_SEED))),
    };
    (related, Body::Multipart(vec![smil, text, jpeg]))
}

/// An m-send-req of about 10 KB from the handset (From: insert-address) to `to` (an MSISDN,
/// sent as `<to>/TYPE=PLMN`), no delivery or read report asked.
pub fn send_req(tid: &str, to: &str) -> Result<Vec<u8>, String> {
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(field::TRANSACTION_ID, Value::Text(bytes(tid)))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::DATE, Value::Integer(DATE))
        .with(field::FROM, Value::From(None))
        .with(
            field::TO,
            Value::Encoded(EncodedString::plain(format!("{to}/TYPE=PLMN").into_bytes())),
        )
        .with(
            field::SUBJECT,
            Value::Encoded(EncodedString {
                charset: Some(UTF_8),
                text: bytes("Terveisiä mökiltä"),
            }),
        )
        .with(field::MESSAGE_CLASS, Value::Octet(0x80)) // Personal
        .with(field::PRIORITY, Value::Octet(0x81)) // Normal
        .with(field::DELIVERY_REPORT, Value::Octet(0x81)) // No
        .with(field::READ_REPORT, Value::Octet(0x81)); // No
    let (ct, b) = body();
    p.set_body(ct, b);
    let wire = p
        .encode()
        .map_err(|e| format!("m-send-req does not encode: {e}"))?;
    // What we send must be what we built.
    match Pdu::decode(&wire, &Limits::default()) {
        Ok(back) if back == p => Ok(wire),
        Ok(_) => Err("m-send-req does not round-trip".into()),
        Err(e) => Err(format!("m-send-req does not decode: {e}")),
    }
}

/// An m-notifyresp-ind saying Retrieved for the notification with transaction id `tid`.
pub fn notifyresp_retrieved(tid: &[u8]) -> Result<Vec<u8>, String> {
    Pdu::new(MessageType::NOTIFYRESP_IND)
        .with(field::TRANSACTION_ID, Value::Text(Cow::Owned(tid.to_vec())))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::STATUS, Value::Octet(Status::RETRIEVED.0))
        .encode()
        .map_err(|e| format!("m-notifyresp-ind does not encode: {e}"))
}

/// The JPEG part of a decoded m-send-req or m-retrieve-conf.
pub fn jpeg_of<'p>(p: &'p Pdu<'_>) -> Option<&'p [u8]> {
    p.parts().get(2).and_then(|part| part.data())
}

/// One notification read back from `notifications.log`.
#[derive(Clone, Debug)]
pub struct Notification {
    /// The MSISDN it was pushed to.
    pub to: String,
    /// Its X-Mms-Content-Location.
    pub location: String,
    /// Its X-Mms-Transaction-ID.
    pub tid: Vec<u8>,
}

/// A JSON string value after `"key":"` in `line` (the log's strings here need no unescaping:
/// MSISDNs, base64).
fn json_str<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let len = line.get(start..)?.find('"')?;
    line.get(start..start + len)
}

/// One line of `notifications.log` (`{"at":..,"to":"+..","pdu_base64":"..",..}`):
/// `Ok(Some(..))` for an m-notification-ind, `Ok(None)` for another PDU (a report).
pub fn parse_log_line(line: &str) -> Result<Option<Notification>, String> {
    let to = json_str(line, "to").ok_or("no \"to\"")?;
    let b64 = json_str(line, "pdu_base64").ok_or("no \"pdu_base64\"")?;
    let pdu = base64_decode(b64).ok_or("bad base64")?;
    let p = Pdu::decode(&pdu, &Limits::default()).map_err(|e| format!("bad PDU: {e}"))?;
    if p.message_type != MessageType::NOTIFICATION_IND {
        return Ok(None);
    }
    let location = p
        .content_location()
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or("notification without Content-Location")?;
    let tid = p
        .transaction_id()
        .ok_or("notification without Transaction-ID")?;
    Ok(Some(Notification {
        to: to.to_string(),
        location: location.to_string(),
        tid: tid.to_vec(),
    }))
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let octets = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + octets]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_req_is_about_10_kb_and_valid() {
        let wire = send_req("t1", "+358401000002").unwrap();
        assert!((9_800..10_600).contains(&wire.len()), "{}", wire.len());
        let p = Pdu::decode(&wire, &Limits::default()).unwrap();
        assert_eq!(p.message_type, MessageType::SEND_REQ);
        assert_eq!(p.parts().len(), 3);
        assert_eq!(jpeg_of(&p).unwrap(), &fake_jpeg(JPEG_BYTES, JPEG_SEED)[..]);
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmE=").unwrap(), b"fooba");
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn log_line() {
        let n = Pdu::new(MessageType::NOTIFICATION_IND)
            .with(field::TRANSACTION_ID, Value::Text(bytes("abc-0")))
            .with(field::MMS_VERSION, Value::Octet(0x92))
            .with(
                field::CONTENT_LOCATION,
                Value::Text(bytes("http://127.0.0.1:1/mms/abc-0")),
            )
            .encode()
            .unwrap();
        let b64 = {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut s = String::new();
            for c in n.chunks(3) {
                let v = c
                    .iter()
                    .enumerate()
                    .fold(0u32, |a, (i, &b)| a | u32::from(b) << (16 - 8 * i));
                for i in 0..4 {
                    if i <= c.len() {
                        s.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        s.push('=');
                    }
                }
            }
            s
        };
        let line = format!(
            "{{\"at\":1,\"to\":\"+358401000002\",\"pdu_base64\":\"{b64}\",\"summary\":{{}}}}"
        );
        let got = parse_log_line(&line).unwrap().unwrap();
        assert_eq!(got.to, "+358401000002");
        assert_eq!(got.location, "http://127.0.0.1:1/mms/abc-0");
        assert_eq!(got.tid, b"abc-0");
    }
}
