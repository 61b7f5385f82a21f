//! Writes self-made seed inputs, built with our own encoder, into `corpus/<target>/`
//! (gitignored): `cargo run --release --example seeds [PDU files...]` from
//! `dataplane/wire/fuzz/`. Each PDU file given that decodes with a multipart body adds that
//! body, re-encoded, to `corpus/multipart/`.
//!
//! The seeds cover grammar the public vectors rarely show: every header grammar, nested
//! multiparts, Content-Disposition, application headers, counted values of
//! m-mbox-delete-conf, WAP pushes and concatenated SMS.

use std::borrow::Cow;
use std::path::Path;

use mmsc_wire::Pdu;
use mmsc_wire::mms::{EncodedString, MessageType, TimeValue, Value, field};
use mmsc_wire::push::{ConcatRef, PushPdu, segment};
use mmsc_wire::wsp::{
    Body, ContentDisposition, ContentType, DispositionKind, MediaType, Param, ParamName,
    ParamValue, Part, PartHeader, encode_multipart,
};

fn t(s: &'static str) -> Value<'static> {
    Value::Text(Cow::Borrowed(s.as_bytes()))
}

fn enc(s: &'static str, charset: Option<u64>) -> EncodedString<'static> {
    EncodedString {
        charset,
        text: Cow::Borrowed(s.as_bytes()),
    }
}

fn parts() -> Vec<Part<'static>> {
    let smil = Part {
        content_type: ContentType::new(MediaType::Text(Cow::Borrowed(b"application/smil")))
            .with(ParamName::WellKnown(0x01), ParamValue::Integer(106)),
        headers: vec![
            PartHeader::ContentId {
                value: Cow::Borrowed(b"<smil>"),
                quoted: true,
            },
            PartHeader::ContentLocation(Cow::Borrowed(b"smil.smil")),
        ],
        body: Body::Data(Cow::Borrowed(
            b"<smil><body><par><img src=\"a.jpg\"/></par></body></smil>",
        )),
    };
    let text = Part {
        content_type: ContentType::well_known(0x03)
            .with(ParamName::WellKnown(0x01), ParamValue::Integer(106))
            .with(
                ParamName::WellKnown(0x05),
                ParamValue::Text(Cow::Borrowed(b"t.txt")),
            )
            .with(
                ParamName::Token(Cow::Borrowed(b"format")),
                ParamValue::Quoted(Cow::Borrowed(b"flowed")),
            ),
        headers: vec![
            PartHeader::ContentId {
                value: Cow::Borrowed(b"t"),
                quoted: false,
            },
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
                code: 0x0D,
                raw: Cow::Borrowed(&[0x85]),
            },
        ],
        body: Body::Data(Cow::Borrowed("Hei maailma \u{263A}".as_bytes())),
    };
    let jpeg = Part::new(
        ContentType::well_known(0x1E),
        &b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9"[..],
    );
    let alternative = Part {
        content_type: ContentType::well_known(0x26),
        headers: vec![],
        body: Body::Multipart(vec![
            Part::new(ContentType::well_known(0x03), &b"plain"[..]),
            Part::new(ContentType::well_known(0x02), &b"<b>html</b>"[..]),
        ]),
    };
    vec![smil, text, jpeg, alternative]
}

fn related() -> ContentType<'static> {
    ContentType::well_known(0x33)
        .with(
            ParamName::WellKnown(0x0A),
            ParamValue::Text(Cow::Borrowed(b"<smil>")),
        )
        .with(
            ParamName::WellKnown(0x09),
            ParamValue::Text(Cow::Borrowed(b"application/smil")),
        )
}

fn pdus() -> Vec<(&'static str, Pdu<'static>)> {
    let notification = Pdu::new(MessageType::NOTIFICATION_IND)
        .with(field::TRANSACTION_ID, t("T1"))
        .with(field::MMS_VERSION, Value::Octet(0x93))
        .with(
            field::FROM,
            Value::From(Some(enc("+358401/TYPE=PLMN", None))),
        )
        .with(
            field::SUBJECT,
            Value::Encoded(enc("Hyvää päivää", Some(106))),
        )
        .with(field::MESSAGE_CLASS, t("NewClass"))
        .with(field::MESSAGE_SIZE, Value::Integer(30_000))
        .with(
            field::EXPIRY,
            Value::Time(TimeValue::Absolute(1_795_515_300)),
        )
        .with(field::CONTENT_LOCATION, t("http://mmsc/x"));
    let mut send = Pdu::new(MessageType::SEND_REQ)
        .with(field::TRANSACTION_ID, t("T2"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::DATE, Value::Integer(1_795_515_300))
        .with(field::FROM, Value::From(None))
        .with(field::TO, Value::Encoded(enc("+358501/TYPE=PLMN", None)))
        .with(field::CC, Value::Encoded(enc("a@example.net", None)))
        .with(field::DELIVERY_TIME, Value::Time(TimeValue::Relative(60)))
        .with(
            field::REPLY_CHARGING_DEADLINE,
            Value::Time(TimeValue::Relative(3600)),
        )
        .with(
            field::ELEMENT_DESCRIPTOR,
            Value::Element {
                reference: Cow::Borrowed(b"<smil>"),
                params: vec![Param {
                    name: ParamName::WellKnown(0x09),
                    value: ParamValue::Text(Cow::Borrowed(b"application/smil")),
                }],
            },
        )
        .with(
            field::MM_FLAGS,
            Value::Tagged {
                tag: 0x80,
                value: Box::new(Value::Encoded(enc("$Seen", None))),
            },
        )
        .with(
            field::PREVIOUSLY_SENT_BY,
            Value::Tagged {
                tag: 1,
                value: Box::new(Value::Encoded(enc("+358401/TYPE=PLMN", Some(3)))),
            },
        )
        .with(
            field::PREVIOUSLY_SENT_DATE,
            Value::Tagged {
                tag: 1,
                value: Box::new(Value::Integer(1_000_000)),
            },
        )
        .with(
            field::MBOX_TOTALS,
            Value::Tagged {
                tag: 0x80,
                value: Box::new(Value::Integer(5)),
            },
        )
        .with(field::ATTRIBUTES, Value::Octet(0x96))
        .with(0xC7, Value::Raw(Cow::Borrowed(&[0x02, 0x01, 0x02])));
    send.headers.push(mmsc_wire::mms::Header {
        name: mmsc_wire::mms::HeaderName::Application(Cow::Borrowed(b"X-App")),
        value: t("v"),
    });
    send.set_body(related(), Body::Multipart(parts()));
    let delete_conf = Pdu::new(MessageType(0x92))
        .with(field::TRANSACTION_ID, t("T3"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(
            field::CONTENT_LOCATION,
            Value::Tagged {
                tag: 1,
                value: Box::new(t("http://mmsc/1")),
            },
        )
        .with(
            field::RESPONSE_TEXT,
            Value::Tagged {
                tag: 1,
                value: Box::new(Value::Encoded(enc("ok", None))),
            },
        );
    let mut retrieve = Pdu::new(MessageType::RETRIEVE_CONF)
        .with(field::MMS_VERSION, Value::Octet(0x90))
        .with(field::RETRIEVE_STATUS, Value::Octet(0xE2))
        .with(
            field::RETRIEVE_TEXT,
            Value::Encoded(enc("not found", Some(4))),
        );
    retrieve.set_body(
        ContentType::well_known(0x03),
        Body::Data(Cow::Borrowed(b"gone")),
    );
    vec![
        ("notification", notification),
        ("send-req", send),
        ("mbox-delete-conf", delete_conf),
        ("retrieve-conf-error", retrieve),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let corpus = Path::new("corpus");
    let mut n = 0;
    for (name, pdu) in pdus() {
        let wire = pdu.encode()?;
        write(&corpus.join("pdu_decode"), name, &wire)?;
        write(&corpus.join("pdu_json"), name, &wire)?;
        let json = mmsc_wire::json::to_json(&pdu).to_string();
        write(
            &corpus.join("pdu_json"),
            &format!("{name}.json"),
            json.as_bytes(),
        )?;
        n += 3;
        if let Some(Body::Multipart(p)) = &pdu.body {
            let mut body = Vec::new();
            encode_multipart(&mut body, p)?;
            write(&corpus.join("multipart"), name, &body)?;
            n += 1;
        }
        if name == "notification" {
            let push = PushPdu::mms_notification(7, &wire).encode()?;
            write(&corpus.join("push_reassembly"), "push", &push)?;
            // Records [tag][len][SMS] of the push split into SMS, for the reassembly half.
            let mut recs = vec![0x5B, 0x2A, 0x03];
            for sms in segment(&push, ConcatRef::Eight(0x2A))?.iter().rev() {
                recs.push(1);
                recs.push(u8::try_from(sms.len())?);
                recs.extend_from_slice(sms);
            }
            write(&corpus.join("push_reassembly"), "sms-records", &recs)?;
            n += 2;
        }
    }
    // HTTP streams for the http target: one config octet (piece size), then the stream.
    let http: [(&str, &[u8]); 4] = [
        ("get", b"\x03GET /mms?id=1 HTTP/1.1\r\nHost: mmsc\r\n\r\n"),
        (
            "post-pipelined",
            b"\x11POST /mms HTTP/1.1\r\nContent-Length: 5\r\nX-MSISDN: +358401\r\n\r\nhelloGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ),
        (
            "chunked",
            b"\x07POST /mms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
        ),
        (
            "expect-continue",
            b"\x00PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        ),
    ];
    for (name, bytes) in http {
        write(&corpus.join("http"), name, bytes)?;
        n += 1;
    }
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let Ok(pdu) = Pdu::decode(&bytes, &mmsc_wire::Limits::default()) else {
            continue;
        };
        if let Some(Body::Multipart(p)) = &pdu.body {
            let mut body = Vec::new();
            if encode_multipart(&mut body, p).is_ok() {
                let name = Path::new(&path)
                    .file_name()
                    .map_or_else(|| "input".into(), |f| f.to_string_lossy().into_owned());
                write(&corpus.join("multipart"), &name, &body)?;
                n += 1;
            }
        }
    }
    println!("wrote {n} seeds under {}", corpus.display());
    Ok(())
}
