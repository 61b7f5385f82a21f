//! Builders of the PDUs an MMS Relay/Server sends (OMA-TS-MMS_CTR): confirmations, the
//! notification, the retrieval answer, and the reports to an originator.

use std::borrow::Cow;

use crate::mms::enums::{
    MessageClass, MessageType, ReadStatus, ResponseStatus, RetrieveStatus, Status, Version,
};
use crate::mms::header::{EncodedString, TimeValue, Value, encode_value, field};
use crate::mms::pdu::Pdu;
use crate::{EncodeError, writer};

fn text(t: &[u8]) -> Value<'static> {
    Value::Text(Cow::Owned(t.to_vec()))
}

fn base(mt: MessageType, tid: Option<&[u8]>, version: Version) -> Pdu<'static> {
    let mut p = Pdu::new(mt);
    if let Some(t) = tid {
        p.push(field::TRANSACTION_ID, text(t));
    }
    p.push(field::MMS_VERSION, Value::Octet(0x80 | version.0));
    p
}

/// An address value (`+358.../TYPE=PLMN`) as an Encoded-string-value.
pub fn address(a: &str) -> Value<'static> {
    Value::Encoded(EncodedString::plain(a.as_bytes().to_vec()))
}

/// m-send-conf: the answer to an m-send-req.
pub fn send_conf(
    tid: Option<&[u8]>,
    version: Version,
    status: ResponseStatus,
    message_id: Option<&[u8]>,
) -> Pdu<'static> {
    let mut p = base(MessageType::SEND_CONF, tid, version);
    p.push(field::RESPONSE_STATUS, Value::Octet(status.0));
    if let Some(m) = message_id {
        p.push(field::MESSAGE_ID, text(m));
    }
    p
}

/// An m-send-conf or m-forward-conf (`message_type`) written straight into `out`: the octets
/// of `send_conf(..).encode()` / `forward_conf(..).encode()` without building the PDU (one
/// answers every submit). Fails, writing part of it, where that fails: a transaction or
/// message id with a NUL.
pub fn conf_into(
    out: &mut Vec<u8>,
    message_type: MessageType,
    tid: Option<&[u8]>,
    version: Version,
    status: ResponseStatus,
    message_id: Option<&[u8]>,
) -> Result<(), EncodeError> {
    out.extend_from_slice(&[field::MESSAGE_TYPE, message_type.0]);
    if let Some(t) = tid {
        out.push(field::TRANSACTION_ID);
        writer::text_string(out, t, "X-Mms-Transaction-ID")?;
    }
    out.extend_from_slice(&[
        field::MMS_VERSION,
        0x80 | version.0,
        field::RESPONSE_STATUS,
        status.0,
    ]);
    if let Some(m) = message_id {
        out.push(field::MESSAGE_ID);
        writer::text_string(out, m, "Message-ID")?;
    }
    Ok(())
}

/// m-forward-conf: the answer to an m-forward-req.
pub fn forward_conf(
    tid: Option<&[u8]>,
    version: Version,
    status: ResponseStatus,
    message_id: Option<&[u8]>,
) -> Pdu<'static> {
    let mut p = send_conf(tid, version, status, message_id);
    p.message_type = MessageType::FORWARD_CONF;
    p
}

/// What an m-notification-ind announces.
#[derive(Clone, Debug)]
pub struct Notification<'a> {
    /// Transaction id of this notification (the handset echoes it in m-notifyresp-ind).
    pub tid: &'a [u8],
    /// MMS version to speak.
    pub version: Version,
    /// The originator, unless hidden.
    pub from: Option<&'a str>,
    /// Subject, as the originator sent it.
    pub subject: Option<EncodedString<'a>>,
    /// Message class (token or text), Personal when absent.
    pub class: Option<Value<'a>>,
    /// Size of the message, octets.
    pub size: u64,
    /// Expiry, absolute (seconds since the epoch).
    pub expiry: u64,
    /// Where to fetch it.
    pub content_location: &'a [u8],
    /// Whether a delivery report was requested (MMS 1.1+ carries it in the notification).
    pub delivery_report: Option<bool>,
}

/// m-notification-ind.
pub fn notification_ind(n: &Notification<'_>) -> Pdu<'static> {
    let mut p = base(MessageType::NOTIFICATION_IND, Some(n.tid), n.version);
    if let Some(f) = n.from {
        p.push(
            field::FROM,
            Value::From(Some(EncodedString::plain(f.as_bytes().to_vec()))),
        );
    }
    if let Some(s) = &n.subject {
        p.push(field::SUBJECT, Value::Encoded(s.clone().into_owned()));
    }
    p.push(
        field::MESSAGE_CLASS,
        n.class
            .clone()
            .map_or(Value::Octet(MessageClass::PERSONAL.0), Value::into_owned),
    );
    p.push(field::MESSAGE_SIZE, Value::Integer(n.size));
    p.push(field::EXPIRY, Value::Time(TimeValue::Absolute(n.expiry)));
    if let Some(dr) = n.delivery_report
        && n.version >= Version::V1_1
    {
        p.push(
            field::DELIVERY_REPORT,
            Value::Octet(if dr { 0x80 } else { 0x81 }),
        );
    }
    p.push(field::CONTENT_LOCATION, text(n.content_location));
    p
}

/// m-notification-ind written straight into `out`: the octets of
/// `notification_ind(n).encode()` without building the PDU (one per recipient of every
/// message). Fails, writing part of it, where that fails: a NUL in a text, a Message-Class
/// that is neither a class octet nor a token.
pub fn notification_ind_into(out: &mut Vec<u8>, n: &Notification<'_>) -> Result<(), EncodeError> {
    out.extend_from_slice(&[
        field::MESSAGE_TYPE,
        MessageType::NOTIFICATION_IND.0,
        field::TRANSACTION_ID,
    ]);
    writer::text_string(out, n.tid, "X-Mms-Transaction-ID")?;
    out.extend_from_slice(&[field::MMS_VERSION, 0x80 | n.version.0]);
    if let Some(f) = n.from {
        out.push(field::FROM);
        writer::with_value_length(out, "From", |o| {
            o.push(0x80);
            writer::text_string(o, f.as_bytes(), "From")
        })?;
    }
    if let Some(s) = &n.subject {
        out.push(field::SUBJECT);
        s.encode(out, "Subject")?;
    }
    out.push(field::MESSAGE_CLASS);
    match &n.class {
        None => out.push(MessageClass::PERSONAL.0),
        Some(c) => encode_value(out, field::MESSAGE_CLASS, c)?,
    }
    out.push(field::MESSAGE_SIZE);
    writer::long_integer(out, n.size);
    out.push(field::EXPIRY);
    writer::with_value_length(out, "X-Mms-Expiry", |o| {
        o.push(0x80);
        writer::long_integer(o, n.expiry);
        Ok(())
    })?;
    if let Some(dr) = n.delivery_report
        && n.version >= Version::V1_1
    {
        out.extend_from_slice(&[field::DELIVERY_REPORT, if dr { 0x80 } else { 0x81 }]);
    }
    out.push(field::CONTENT_LOCATION);
    writer::text_string(out, n.content_location, "X-Mms-Content-Location")
}

/// m-retrieve-conf carrying an error status and no message (unknown, expired, or not the
/// caller's). A text/plain body is required by the grammar (Content-Type is mandatory).
pub fn retrieve_error(
    tid: Option<&[u8]>,
    version: Version,
    status: RetrieveStatus,
    date: u64,
    text_msg: &str,
) -> Pdu<'static> {
    let mut p = base(MessageType::RETRIEVE_CONF, tid, version);
    p.push(field::DATE, Value::Integer(date));
    if version >= Version::V1_1 {
        p.push(field::RETRIEVE_STATUS, Value::Octet(status.0));
        p.push(
            field::RETRIEVE_TEXT,
            Value::Encoded(EncodedString::plain(text_msg.as_bytes().to_vec())),
        );
    }
    p.set_body(
        crate::wsp::ContentType::well_known(crate::wsp::tables::CT_TEXT_PLAIN),
        crate::wsp::Body::Data(Cow::Owned(text_msg.as_bytes().to_vec())),
    );
    p
}

/// m-delivery-ind: a delivery report to the originator.
pub fn delivery_ind(
    version: Version,
    message_id: &[u8],
    recipient: &str,
    date: u64,
    status: Status,
) -> Pdu<'static> {
    let mut p = base(MessageType::DELIVERY_IND, None, version);
    p.push(field::MESSAGE_ID, text(message_id));
    p.push(field::TO, address(recipient));
    p.push(field::DATE, Value::Integer(date));
    p.push(field::STATUS, Value::Octet(status.0));
    p
}

/// m-read-orig-ind: a read report to the originator.
pub fn read_orig_ind(
    version: Version,
    message_id: &[u8],
    originator: &str,
    reader: &str,
    date: u64,
    status: ReadStatus,
) -> Pdu<'static> {
    let mut p = base(MessageType::READ_ORIG_IND, None, version);
    p.push(field::MESSAGE_ID, text(message_id));
    p.push(field::TO, address(originator));
    p.push(
        field::FROM,
        Value::From(Some(EncodedString::plain(reader.as_bytes().to_vec()))),
    );
    p.push(field::DATE, Value::Integer(date));
    p.push(field::READ_STATUS, Value::Octet(status.0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn conf_into_writes_what_the_pdu_encodes() {
        let tids: [Option<&[u8]>; 4] = [None, Some(b"T-1"), Some(b""), Some(b"\x80tid")];
        let mids: [Option<&[u8]>; 3] = [None, Some(b"0123abc@mmsc.local"), Some(b"\x7fm")];
        for tid in tids {
            for mid in mids {
                for (version, status) in [
                    (Version::V1_0, ResponseStatus::OK),
                    (Version::V1_2, ResponseStatus(0xE2)),
                ] {
                    let mut out = vec![9];
                    conf_into(&mut out, MessageType::SEND_CONF, tid, version, status, mid).unwrap();
                    let pdu = send_conf(tid, version, status, mid).encode().unwrap();
                    assert_eq!(out.get(1..), Some(pdu.as_slice()), "{tid:?} {mid:?}");
                    let mut out = vec![9];
                    conf_into(
                        &mut out,
                        MessageType::FORWARD_CONF,
                        tid,
                        version,
                        status,
                        mid,
                    )
                    .unwrap();
                    let pdu = forward_conf(tid, version, status, mid).encode().unwrap();
                    assert_eq!(out.get(1..), Some(pdu.as_slice()), "{tid:?} {mid:?}");
                }
            }
        }
        let mut out = Vec::new();
        assert!(
            conf_into(
                &mut out,
                MessageType::SEND_CONF,
                Some(b"a\0b"),
                Version::V1_2,
                ResponseStatus::OK,
                None
            )
            .is_err()
        );
        assert!(
            send_conf(Some(b"a\0b"), Version::V1_2, ResponseStatus::OK, None)
                .encode()
                .is_err()
        );
    }

    #[test]
    fn notification_ind_into_writes_what_the_pdu_encodes() {
        let long_location = format!("http://mmsc.example.net:8514/mms/{}-7", "a".repeat(300));
        let long_from = format!("+{}/TYPE=PLMN", "1".repeat(40));
        let tids: [&[u8]; 4] = [b"", b"0123abcd-0", b"\x80t", b"\x7fq"];
        let froms = [
            None,
            Some("+358401234567/TYPE=PLMN"),
            Some(""),
            Some("\u{e9}x"),
            Some(long_from.as_str()),
        ];
        let subjects = [
            None,
            Some(EncodedString::plain(&b"Hello"[..])),
            Some(EncodedString::plain(&b""[..])),
            Some(EncodedString::plain(
                "Terveisi\u{e4} m\u{f6}kilt\u{e4}".as_bytes(),
            )),
            Some(EncodedString {
                charset: Some(crate::charset::UTF_8),
                text: "Terveisi\u{e4} m\u{f6}kilt\u{e4}".as_bytes().into(),
            }),
            Some(EncodedString {
                charset: Some(crate::charset::US_ASCII),
                text: Cow::Borrowed(&b"\x7fquoted"[..]),
            }),
            Some(EncodedString {
                charset: Some(crate::charset::UTF_16LE),
                text: Cow::Owned("a".repeat(40).into_bytes()),
            }),
        ];
        let classes = [
            None,
            Some(Value::Octet(MessageClass::PERSONAL.0)),
            Some(Value::Octet(0x81)),
            Some(Value::Octet(0x83)),
            Some(Value::Text(Cow::Borrowed(&b"Promotional-x"[..]))),
        ];
        let locations: [&[u8]; 3] = [b"http://x/mms/a-0", b"", long_location.as_bytes()];
        let mut checked = 0;
        for (i, tid) in tids.iter().enumerate() {
            for (j, from) in froms.iter().enumerate() {
                for (k, subject) in subjects.iter().enumerate() {
                    for (l, class) in classes.iter().enumerate() {
                        for (m, location) in locations.iter().enumerate() {
                            let x = i + j + k + l + m;
                            let n = Notification {
                                tid,
                                version: [
                                    Version::V1_0,
                                    Version::V1_1,
                                    Version::V1_2,
                                    Version::V1_3,
                                ][x % 4],
                                from: *from,
                                subject: subject.clone(),
                                class: class.clone(),
                                size: [0, 127, 128, 10_135, u64::MAX][x % 5],
                                expiry: [0, 1, 1_700_604_800, u64::MAX][(x / 2) % 4],
                                content_location: location,
                                delivery_report: [None, Some(true), Some(false)][x % 3],
                            };
                            let mut out = vec![7, 7];
                            notification_ind_into(&mut out, &n).unwrap();
                            let pdu = notification_ind(&n).encode().unwrap();
                            assert_eq!(out.get(2..), Some(pdu.as_slice()), "{n:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 5 * 7 * 5 * 3);
        // What the Pdu refuses, this refuses alike.
        let ok = Notification {
            tid: b"t-0",
            version: Version::V1_2,
            from: Some("+358401/TYPE=PLMN"),
            subject: None,
            class: None,
            size: 1,
            expiry: 2,
            content_location: b"http://x/mms/t-0",
            delivery_report: Some(true),
        };
        let bad = [
            Notification {
                tid: b"t\0",
                ..ok.clone()
            },
            Notification {
                from: Some("a\0b"),
                ..ok.clone()
            },
            Notification {
                subject: Some(EncodedString::plain(&b"s\0"[..])),
                ..ok.clone()
            },
            Notification {
                class: Some(Value::Octet(0x10)),
                ..ok.clone()
            },
            Notification {
                class: Some(Value::Integer(3)),
                ..ok.clone()
            },
            Notification {
                content_location: b"x\0",
                ..ok.clone()
            },
        ];
        for n in &bad {
            let e = notification_ind_into(&mut Vec::new(), n).unwrap_err();
            assert_eq!(notification_ind(n).encode().unwrap_err(), e, "{n:?}");
        }
    }

    #[test]
    fn builders_round_trip() {
        let c = send_conf(Some(b"t1"), Version::V1_2, ResponseStatus::OK, Some(b"M1"));
        let b = c.encode().unwrap();
        assert_eq!(b, b"\x8c\x81\x98t1\0\x8d\x92\x92\x80\x8bM1\0");
        let n = notification_ind(&Notification {
            tid: b"n1",
            version: Version::V1_2,
            from: Some("+358401/TYPE=PLMN"),
            subject: Some(EncodedString::plain(&b"hi"[..])),
            class: None,
            size: 1000,
            expiry: 2_000_000_000,
            content_location: b"http://x/mms/a",
            delivery_report: Some(true),
        });
        let enc = n.encode().unwrap();
        let back = Pdu::decode(&enc, &Limits::default()).unwrap();
        assert_eq!(back, n);
        assert_eq!(back.content_location(), Some(&b"http://x/mms/a"[..]));
        let e = retrieve_error(
            None,
            Version::V1_3,
            RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND,
            5,
            "no",
        );
        let eb = e.encode().unwrap();
        let back = Pdu::decode(&eb, &Limits::default()).unwrap();
        assert_eq!(
            back.retrieve_status(),
            Some(RetrieveStatus::ERROR_PERMANENT_MESSAGE_NOT_FOUND)
        );
        let d = delivery_ind(
            Version::V1_2,
            b"M1",
            "+3584/TYPE=PLMN",
            7,
            Status::RETRIEVED,
        );
        let db = d.encode().unwrap();
        assert_eq!(Pdu::decode(&db, &Limits::default()).unwrap(), d);
        let r = read_orig_ind(
            Version::V1_2,
            b"M1",
            "+1/TYPE=PLMN",
            "+2/TYPE=PLMN",
            7,
            ReadStatus::READ,
        );
        let rb = r.encode().unwrap();
        assert_eq!(Pdu::decode(&rb, &Limits::default()).unwrap(), r);
    }

    #[test]
    fn prefix_of_a_broken_pdu() {
        let (p, e) = Pdu::decode_prefix(b"\x8c\x80\x98tx\0\x8d\x92\x89\x1f\xff");
        assert!(e.is_some());
        assert_eq!(p.transaction_id(), Some(&b"tx"[..]));
        assert_eq!(p.version(), Some(Version::V1_2));
    }
}
