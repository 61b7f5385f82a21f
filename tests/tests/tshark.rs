//! Cross-check of our MMS encoder against Wireshark's MMSE dissector (tshark 4.0).
//!
//! For every message type tshark knows (`tshark -G values`, field `mmse.message_type`), a
//! realistic PDU is built with `mmsc_wire::Pdu::new(..).with(..)`, and tshark must show every
//! header value we put in (and, for PDUs with a body, the Content-Type, its parameters and each
//! part's content type, Content-ID, Content-Location and data).
//!
//! Each expectation is written next to the header it checks, from the value given to the
//! encoder and the way tshark 4.0.17 prints such a value (PROTOCOLS.md §5.1):
//! - enumerated octets as `0x80`, integers in decimal, dates with `TZ=UTC` as
//!   `Jun  3, 2011 09:45:21.000000000 UTC`, relative times as `259200.000000000`;
//! - Encoded-string-values with a charset: tshark 4.0 does not convert the charset, it shows
//!   every octet >= 0x80 as U+FFFD;
//! - MMS 1.2 fields 0xA2-0xB3 are not decoded by tshark 4.0: only a tree line
//!   `<name>: <Well-known value 0xNN> (not decoded)` or `<Value in general form>` (with the
//!   header's octets in `mmse.header.bytes`), which still proves where each header ends;
//! - in m-mbox-delete-conf, tshark 4.0 labels both the counted X-Mms-Content-Location and the
//!   counted X-Mms-Response-Text "X-Mms-Content-Location: <Undecoded value for
//!   m-mbox-delete-conf>".
//!
//! tshark missing is a failure, not a skip: `scripts/test` installs it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use mmsc_tests::{TsharkMmse, have_tool, tshark_mmse_many, tshark_time};
use mmsc_wire::mms::{EncodedString, MessageType, TimeValue, Value, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType, ParamName, ParamValue, Part, PartHeader};
use mmsc_wire::{Limits, Pdu};

/// How tshark 4.0 shows the octets of a string it does not convert: ASCII as is, every octet
/// >= 0x80 as U+FFFD.
fn tshark_ascii(b: &[u8]) -> String {
    b.iter()
        .map(|&c| if c < 0x80 { char::from(c) } else { '\u{FFFD}' })
        .collect()
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What tshark must show for one part.
#[derive(Debug)]
struct PartExpect {
    media: &'static str,
    params: Vec<(&'static str, &'static str)>,
    content_id: Option<String>,
    content_location: Option<&'static str>,
    data: Vec<u8>,
}

/// A PDU under construction together with what tshark must show for it.
#[derive(Debug)]
struct Case {
    name: &'static str,
    pdu: Pdu<'static>,
    /// tshark field -> values in order.
    fields: BTreeMap<&'static str, Vec<String>>,
    /// Tree lines that must appear (with multiplicity).
    lines: Vec<String>,
    /// Media type and parameters of the PDU's Content-Type.
    content_type: Option<(&'static str, Vec<(&'static str, &'static str)>)>,
    parts: Vec<PartExpect>,
}

fn text(s: &'static str) -> Value<'static> {
    Value::Text(Cow::Borrowed(s.as_bytes()))
}

fn enc(s: &'static str) -> Value<'static> {
    Value::Encoded(EncodedString::plain(s.as_bytes()))
}

impl Case {
    fn new(name: &'static str, mt: MessageType) -> Case {
        let mut c = Case {
            name,
            pdu: Pdu::new(mt),
            fields: BTreeMap::new(),
            lines: Vec::new(),
            content_type: None,
            parts: Vec::new(),
        };
        c.expect("mmse.message_type", format!("0x{:02x}", mt.0));
        c
    }

    fn expect(&mut self, f: &'static str, v: String) {
        self.fields.entry(f).or_default().push(v);
    }

    fn add(mut self, code: u8, v: Value<'static>, f: &'static str, shown: String) -> Case {
        self.pdu.push(code, v);
        self.expect(f, shown);
        self
    }

    fn tid(self, s: &'static str) -> Case {
        self.add(
            field::TRANSACTION_ID,
            text(s),
            "mmse.transaction_id",
            s.into(),
        )
    }

    /// `shown` is the version as tshark prints it ("1.2").
    fn version(self, octet: u8, shown: &'static str) -> Case {
        self.add(
            field::MMS_VERSION,
            Value::Octet(octet),
            "mmse.mms_version",
            shown.into(),
        )
    }

    fn text_field(self, code: u8, f: &'static str, s: &'static str) -> Case {
        self.add(code, text(s), f, s.into())
    }

    fn encoded(self, code: u8, f: &'static str, s: &'static str) -> Case {
        self.add(code, enc(s), f, s.into())
    }

    fn encoded_cs(self, code: u8, f: &'static str, mib: u64, s: &'static str) -> Case {
        let v = Value::Encoded(EncodedString {
            charset: Some(mib),
            text: Cow::Borrowed(s.as_bytes()),
        });
        self.add(code, v, f, tshark_ascii(s.as_bytes()))
    }

    fn from(self, addr: &'static str) -> Case {
        let v = Value::From(Some(EncodedString::plain(addr.as_bytes())));
        self.add(field::FROM, v, "mmse.from", addr.into())
    }

    fn insert_address(self) -> Case {
        self.add(
            field::FROM,
            Value::From(None),
            "mmse.from",
            "<insert address>".into(),
        )
    }

    fn to(self, a: &'static str) -> Case {
        self.encoded(field::TO, "mmse.to", a)
    }

    fn cc(self, a: &'static str) -> Case {
        self.encoded(field::CC, "mmse.cc", a)
    }

    fn bcc(self, a: &'static str) -> Case {
        self.encoded(field::BCC, "mmse.bcc", a)
    }

    fn octet(self, code: u8, f: &'static str, o: u8) -> Case {
        self.add(code, Value::Octet(o), f, format!("0x{o:02x}"))
    }

    fn long(self, code: u8, f: &'static str, n: u64) -> Case {
        self.add(code, Value::Integer(n), f, n.to_string())
    }

    fn date(self, secs: u64) -> Case {
        self.add(
            field::DATE,
            Value::Integer(secs),
            "mmse.date",
            tshark_time(secs),
        )
    }

    /// Expiry-like field; `f` is the tshark field prefix (`mmse.expiry`).
    fn time(self, code: u8, f: &'static str, t: TimeValue) -> Case {
        let (name, shown) = match (f, t) {
            ("mmse.expiry", TimeValue::Relative(s)) => {
                ("mmse.expiry.rel", format!("{s}.000000000"))
            }
            ("mmse.expiry", TimeValue::Absolute(s)) => ("mmse.expiry.abs", tshark_time(s)),
            ("mmse.delivery_time", TimeValue::Relative(s)) => {
                ("mmse.delivery_time.rel", format!("{s}.000000000"))
            }
            ("mmse.delivery_time", TimeValue::Absolute(s)) => {
                ("mmse.delivery_time.abs", tshark_time(s))
            }
            (_, TimeValue::Relative(s)) => {
                ("mmse.reply_charging_deadline.rel", format!("{s}.000000000"))
            }
            (_, TimeValue::Absolute(s)) => ("mmse.reply_charging_deadline.abs", tshark_time(s)),
        };
        self.add(code, Value::Time(t), name, shown)
    }

    fn prev_sent_by(mut self, count: u64, addr: &'static str) -> Case {
        self.pdu.push(
            field::PREVIOUSLY_SENT_BY,
            Value::Tagged {
                tag: count,
                value: Box::new(enc(addr)),
            },
        );
        self.expect("mmse.previously_sent_by.forward_count", count.to_string());
        self.expect("mmse.previously_sent_by.address", addr.into());
        self
    }

    fn prev_sent_date(mut self, count: u64, secs: u64) -> Case {
        self.pdu.push(
            field::PREVIOUSLY_SENT_DATE,
            Value::Tagged {
                tag: count,
                value: Box::new(Value::Integer(secs)),
            },
        );
        self.expect("mmse.previously_sent_date.forward_count", count.to_string());
        self.expect("mmse.previously_sent_date.date", tshark_time(secs));
        self
    }

    /// An MMS 1.2 field that tshark 4.0 shows as a bare well-known value.
    fn generic_octet(mut self, code: u8, name: &'static str, v: Value<'static>, o: u8) -> Case {
        self.pdu.push(code, v);
        self.lines.push(format!(
            "{name}: <Well-known value 0x{o:02x}> (not decoded)"
        ));
        self
    }

    /// An MMS 1.2 field in general form: tshark shows the header's octets, which must be the
    /// field code followed by `spec`, the value as PROTOCOLS.md §1.1 encodes it.
    fn generic_bytes(
        mut self,
        code: u8,
        name: &'static str,
        v: Value<'static>,
        spec: &[u8],
    ) -> Case {
        self.pdu.push(code, v);
        self.lines
            .push(format!("{name}: <Value in general form> (not decoded)"));
        let mut b = vec![code];
        b.extend_from_slice(spec);
        self.expect("mmse.header.bytes", colon_hex(&b));
        self
    }

    /// An MMS 1.2 Encoded-string field that tshark 4.0 shows as undecoded text.
    fn generic_text(mut self, code: u8, name: &'static str, s: &'static str) -> Case {
        self.pdu.push(code, enc(s));
        self.lines.push(format!("{name}: {s} (Not decoded)"));
        self
    }

    /// multipart.related: SMIL, text/plain; charset=utf-8, image/jpeg, each with Content-ID
    /// and Content-Location.
    fn related_body(mut self) -> Case {
        let ct = ContentType::new(MediaType::WellKnown(0x33))
            .with(
                ParamName::WellKnown(0x0A),
                ParamValue::Text(Cow::Borrowed(b"<smil>")),
            )
            .with(
                ParamName::WellKnown(0x09),
                ParamValue::Text(Cow::Borrowed(b"application/smil")),
            );
        let parts = vec![
            (
                ContentType::new(MediaType::Text(Cow::Borrowed(b"application/smil"))),
                "application/smil",
                vec![],
                "<smil>",
                "smil.xml",
                SMIL.to_vec(),
            ),
            (
                ContentType::new(MediaType::WellKnown(0x03)).with(
                    ParamName::WellKnown(0x01),
                    ParamValue::Integer(mmsc_wire::charset::UTF_8),
                ),
                "text/plain",
                vec![("wsp.parameter.charset", "UTF-8")],
                "<text_0001.txt>",
                "text_0001.txt",
                "Hyvää päivää! Greetings from Helsinki.".as_bytes().to_vec(),
            ),
            (
                ContentType::new(MediaType::WellKnown(0x1E)),
                "image/jpeg",
                vec![],
                "<image1>",
                "image1.jpg",
                JPEG.to_vec(),
            ),
        ];
        let mut body = Vec::new();
        for (ct, media, params, cid, loc, data) in parts {
            let mut p = Part::new(ct, data.clone());
            p.headers.push(PartHeader::ContentId {
                value: Cow::Borrowed(cid.as_bytes()),
                quoted: true,
            });
            p.headers
                .push(PartHeader::ContentLocation(Cow::Borrowed(loc.as_bytes())));
            body.push(p);
            self.parts.push(PartExpect {
                media,
                params,
                // A Quoted-string Content-ID is shown with its quote and a closing quote.
                content_id: Some(format!("\"{cid}\"")),
                content_location: Some(loc),
                data,
            });
        }
        self.pdu.set_body(ct, Body::Multipart(body));
        self.content_type = Some((
            "application/vnd.wap.multipart.related",
            vec![
                ("wsp.parameter.start", "<smil>"),
                ("wsp.parameter.upart.type", "application/smil"),
            ],
        ));
        self
    }

    /// multipart.mixed with the given (content type, data) entries and no part headers.
    fn mixed_body(mut self, entries: Vec<(ContentType<'static>, &'static str, Vec<u8>)>) -> Case {
        let mut body = Vec::new();
        for (ct, media, data) in entries {
            body.push(Part::new(ct, data.clone()));
            self.parts.push(PartExpect {
                media,
                params: vec![],
                content_id: None,
                content_location: None,
                data,
            });
        }
        self.pdu.set_body(
            ContentType::new(MediaType::WellKnown(0x23)),
            Body::Multipart(body),
        );
        self.content_type = Some(("application/vnd.wap.multipart.mixed", vec![]));
        self
    }
}

const SMIL: &[u8] = b"<smil><head><layout><root-layout/><region id=\"Image\" top=\"0\" \
left=\"0\" height=\"80%\" width=\"100%\"/><region id=\"Text\" top=\"80%\" left=\"0\" \
height=\"20%\" width=\"100%\"/></layout></head><body><par dur=\"5000ms\"><img src=\"image1.jpg\" \
region=\"Image\"/><text src=\"text_0001.txt\" region=\"Text\"/></par></body></smil>";

/// A minimal JFIF: SOI, APP0 "JFIF" 1.1, EOI.
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";

// Dates used below (seconds since the epoch, UTC).
const D_2011_06_03: u64 = 1_307_094_321; // 2011-06-03T09:45:21Z
const D_2014_03_14: u64 = 1_394_797_321; // 2014-03-14T11:42:01Z
const D_2030_01_01: u64 = 1_893_456_000; // 2030-01-01T00:00:00Z

#[expect(
    clippy::vec_init_then_push,
    reason = "one push per message type reads better than one huge vec![]"
)]
fn cases() -> Vec<Case> {
    use mmsc_wire::mms::field as f;
    let mut v = Vec::new();

    v.push(
        Case::new("send-req", MessageType::SEND_REQ)
            .tid("c024802b-2ebf-428d-b4d6-a8f991deed44")
            .version(0x92, "1.2")
            .date(D_2011_06_03)
            .insert_address()
            .to("+358401111111/TYPE=PLMN")
            .to("alice@example.org")
            .cc("+358402222222/TYPE=PLMN")
            .bcc("bob@example.org")
            .encoded_cs(f::SUBJECT, "mmse.subject", 106, "Grüße aus Helsinki")
            .octet(f::MESSAGE_CLASS, "mmse.message_class.id", 0x80)
            .time(f::EXPIRY, "mmse.expiry", TimeValue::Relative(259_200))
            .time(
                f::DELIVERY_TIME,
                "mmse.delivery_time",
                TimeValue::Absolute(D_2030_01_01),
            )
            .octet(f::DELIVERY_REPORT, "mmse.delivery_report", 0x80)
            .octet(f::READ_REPORT, "mmse.read_report", 0x81)
            .octet(f::PRIORITY, "mmse.priority", 0x82)
            .octet(f::SENDER_VISIBILITY, "mmse.sender_visibility", 0x81)
            .octet(f::REPLY_CHARGING, "mmse.reply_charging", 0x80)
            .time(
                f::REPLY_CHARGING_DEADLINE,
                "mmse.reply_charging_deadline",
                TimeValue::Relative(86_400),
            )
            .long(f::REPLY_CHARGING_SIZE, "mmse.reply_charging_size", 2048)
            .related_body(),
    );
    v.push(
        Case::new("send-conf", MessageType::SEND_CONF)
            .tid("31887")
            .version(0x90, "1.0")
            .octet(f::RESPONSE_STATUS, "mmse.response_status", 0x80)
            .encoded_cs(
                f::RESPONSE_TEXT,
                "mmse.response_text",
                3,
                "Message accepted",
            )
            .text_field(f::MESSAGE_ID, "mmse.message_id", "4dc268d71438a"),
    );
    v.push(
        Case::new("notification-ind", MessageType::NOTIFICATION_IND)
            .tid("OgQKKB")
            .version(0x93, "1.3")
            .from("+44123989100/TYPE=PLMN")
            .encoded(f::SUBJECT, "mmse.subject", "Pin-Ups")
            .octet(f::MESSAGE_CLASS, "mmse.message_class.id", 0x82)
            .octet(f::PRIORITY, "mmse.priority", 0x80)
            .long(f::MESSAGE_SIZE, "mmse.message_size", 16_384)
            .time(f::EXPIRY, "mmse.expiry", TimeValue::Absolute(D_2030_01_01))
            .octet(f::DELIVERY_REPORT, "mmse.delivery_report", 0x81)
            .octet(f::REPLY_CHARGING, "mmse.reply_charging", 0x82)
            .text_field(f::REPLY_CHARGING_ID, "mmse.reply_charging_id", "rc-0001")
            .generic_octet(
                f::DISTRIBUTION_INDICATOR,
                "X-Mms-Distribution-Indicator",
                Value::Octet(0x81),
                0x81,
            )
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net:8002/mms/OgQKKB",
            ),
    );
    v.push(
        Case::new("notifyresp-ind", MessageType::NOTIFYRESP_IND)
            .tid("OgQKKB")
            .version(0x92, "1.2")
            .octet(f::STATUS, "mmse.status", 0x83)
            .octet(f::REPORT_ALLOWED, "mmse.report_allowed", 0x80),
    );
    v.push(
        Case::new("retrieve-conf", MessageType::RETRIEVE_CONF)
            .tid("AaamMbG2tpp5lj4Ra")
            .version(0x92, "1.2")
            .text_field(
                f::MESSAGE_ID,
                "mmse.message_id",
                "A896C674-AB6D-71E3-A6B5-78E7D16557CC",
            )
            .date(D_2014_03_14)
            .from("+358401111111/TYPE=PLMN")
            .to("+358402222222/TYPE=PLMN")
            .cc("carol@example.org")
            .encoded_cs(f::SUBJECT, "mmse.subject", 106, "Holiday photos")
            .text_field(
                f::MESSAGE_CLASS,
                "mmse.message_class.str",
                "NewMessageClass",
            )
            .octet(f::PRIORITY, "mmse.priority", 0x81)
            .octet(f::DELIVERY_REPORT, "mmse.delivery_report", 0x81)
            .octet(f::READ_REPORT, "mmse.read_report", 0x80)
            .octet(f::RETRIEVE_STATUS, "mmse.retrieve_status", 0x80)
            .encoded(f::RETRIEVE_TEXT, "mmse.retrieve_text", "Retrieved")
            .prev_sent_by(1, "+358403333333/TYPE=PLMN")
            .prev_sent_date(1, D_2011_06_03)
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x83), 0x83)
            .generic_bytes(
                f::MM_FLAGS,
                "X-Mms-MM-Flags",
                Value::Tagged {
                    tag: 0x80,
                    value: Box::new(enc("$Seen")),
                },
                b"\x07\x80$Seen\x00",
            )
            .related_body(),
    );
    v.push(
        Case::new("acknowledge-ind", MessageType::ACKNOWLEDGE_IND)
            .tid("BH6WJE2N9CSG1@xma.724.com")
            .version(0x91, "1.1")
            .octet(f::REPORT_ALLOWED, "mmse.report_allowed", 0x81),
    );
    v.push(
        Case::new("delivery-ind", MessageType::DELIVERY_IND)
            .version(0x92, "1.2")
            .text_field(f::MESSAGE_ID, "mmse.message_id", "BH24CBJJA40W1")
            .to("+358500000000/TYPE=PLMN")
            .date(D_2014_03_14)
            .octet(f::STATUS, "mmse.status", 0x81),
    );
    v.push(
        Case::new("read-rec-ind", MessageType::READ_REC_IND)
            .version(0x92, "1.2")
            .text_field(
                f::MESSAGE_ID,
                "mmse.message_id",
                "ED4FEEF0-7795-71E3-B973-D485645D138C",
            )
            .to("+358500000000/TYPE=PLMN")
            .insert_address()
            .date(D_2014_03_14)
            .octet(f::READ_STATUS, "mmse.read_status", 0x80),
    );
    v.push(
        Case::new("read-orig-ind", MessageType::READ_ORIG_IND)
            .version(0x92, "1.2")
            .text_field(f::MESSAGE_ID, "mmse.message_id", "BH24CBJJA40W1")
            .to("+358440000001/TYPE=PLMN")
            .from("+358500000000/TYPE=PLMN")
            .date(D_2011_06_03)
            .octet(f::READ_STATUS, "mmse.read_status", 0x81),
    );
    v.push(
        Case::new("forward-req", MessageType::FORWARD_REQ)
            .tid("fwd-0001")
            .version(0x92, "1.2")
            .date(D_2014_03_14)
            .insert_address()
            .to("+358409999999/TYPE=PLMN")
            .cc("dave@example.org")
            .bcc("+358408888888/TYPE=PLMN")
            .time(f::EXPIRY, "mmse.expiry", TimeValue::Relative(604_800))
            .time(
                f::DELIVERY_TIME,
                "mmse.delivery_time",
                TimeValue::Relative(3600),
            )
            .octet(f::REPORT_ALLOWED, "mmse.report_allowed", 0x80)
            .octet(f::DELIVERY_REPORT, "mmse.delivery_report", 0x80)
            .octet(f::READ_REPORT, "mmse.read_report", 0x81)
            .generic_octet(f::STORE, "X-Mms-Store", Value::Octet(0x80), 0x80)
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x81), 0x81)
            .generic_bytes(
                f::MM_FLAGS,
                "X-Mms-MM-Flags",
                Value::Tagged {
                    tag: 0x80,
                    value: Box::new(enc("$Forwarded")),
                },
                b"\x0c\x80$Forwarded\x00",
            )
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/42",
            ),
    );
    v.push(
        Case::new("forward-conf", MessageType::FORWARD_CONF)
            .tid("fwd-0001")
            .version(0x92, "1.2")
            .octet(f::RESPONSE_STATUS, "mmse.response_status", 0xC2)
            .encoded(f::RESPONSE_TEXT, "mmse.response_text", "Try again later")
            .text_field(f::MESSAGE_ID, "mmse.message_id", "fwd-msg-0001")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/43",
            )
            .generic_octet(
                f::STORE_STATUS,
                "X-Mms-Store-Status",
                Value::Octet(0x80),
                0x80,
            )
            .generic_text(f::STORE_STATUS_TEXT, "X-Mms-Store-Status-Text", "Stored"),
    );
    v.push(
        Case::new("mbox-store-req", MessageType::MBOX_STORE_REQ)
            .tid("store-1")
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/msg/77",
            )
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x80), 0x80)
            .generic_bytes(
                f::MM_FLAGS,
                "X-Mms-MM-Flags",
                Value::Tagged {
                    tag: 0x81,
                    value: Box::new(enc("$Draft")),
                },
                b"\x08\x81$Draft\x00",
            ),
    );
    v.push(
        Case::new("mbox-store-conf", MessageType::MBOX_STORE_CONF)
            .tid("store-1")
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/77",
            )
            .generic_octet(
                f::STORE_STATUS,
                "X-Mms-Store-Status",
                Value::Octet(0xE4),
                0xE4,
            )
            .generic_text(
                f::STORE_STATUS_TEXT,
                "X-Mms-Store-Status-Text",
                "MMBox full",
            ),
    );
    v.push(
        Case::new("mbox-view-req", MessageType::MBOX_VIEW_REQ)
            .tid("view-1")
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/77",
            )
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x82), 0x82)
            .generic_bytes(
                f::MM_FLAGS,
                "X-Mms-MM-Flags",
                Value::Tagged {
                    tag: 0x82,
                    value: Box::new(enc("$Seen")),
                },
                b"\x07\x82$Seen\x00",
            )
            // Start 0 and Limit 10 as Integer-values: Short-integers 0x80 and 0x8A.
            .generic_octet(f::START, "X-Mms-Start", Value::Integer(0), 0x80)
            .generic_octet(f::LIMIT, "X-Mms-Limit", Value::Integer(10), 0x8A)
            // Attributes: the code of Subject.
            .generic_octet(f::ATTRIBUTES, "X-Mms-Attributes", Value::Octet(0x96), 0x96)
            .generic_octet(f::TOTALS, "X-Mms-Totals", Value::Octet(0x80), 0x80)
            .generic_octet(f::QUOTAS, "X-Mms-Quotas", Value::Octet(0x81), 0x81),
    );
    // The entry of an m-mbox-view-conf: an m-mbox-descr, encoded by us as well.
    let descr = Pdu::new(MessageType::MBOX_DESCR)
        .with(f::MMS_VERSION, Value::Octet(0x92))
        .with(f::CONTENT_LOCATION, text("http://mmsc.example.net/mbox/77"))
        .with(f::MESSAGE_ID, text("msg-77"))
        .with(f::MM_STATE, Value::Octet(0x82))
        .encode()
        .expect("encode m-mbox-descr");
    v.push(
        Case::new("mbox-view-conf", MessageType::MBOX_VIEW_CONF)
            .tid("view-1")
            .version(0x92, "1.2")
            .octet(f::RESPONSE_STATUS, "mmse.response_status", 0x80)
            .encoded(f::RESPONSE_TEXT, "mmse.response_text", "OK")
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x82), 0x82)
            .generic_octet(f::START, "X-Mms-Start", Value::Integer(0), 0x80)
            .generic_octet(f::LIMIT, "X-Mms-Limit", Value::Integer(10), 0x8A)
            .generic_octet(f::ATTRIBUTES, "X-Mms-Attributes", Value::Octet(0x96), 0x96)
            .generic_bytes(
                f::MBOX_TOTALS,
                "X-Mms-Mbox-Totals",
                Value::Tagged {
                    tag: 0x80,
                    value: Box::new(Value::Integer(5)),
                },
                &[0x02, 0x80, 0x85],
            )
            .generic_bytes(
                f::MBOX_QUOTAS,
                "X-Mms-Mbox-Quotas",
                Value::Tagged {
                    tag: 0x81,
                    value: Box::new(Value::Integer(100_000)),
                },
                // Size 100000 as a Long-integer: 03 01 86 A0.
                &[0x05, 0x81, 0x03, 0x01, 0x86, 0xA0],
            )
            .generic_octet(
                f::MESSAGE_COUNT,
                "X-Mms-Message-Count",
                Value::Integer(1),
                0x81,
            )
            .mixed_body(vec![(
                ContentType::new(MediaType::WellKnown(0x3E)),
                "application/vnd.wap.mms-message",
                descr,
            )]),
    );
    v.push(
        Case::new("mbox-upload-req", MessageType::MBOX_UPLOAD_REQ)
            .tid("upload-1")
            .version(0x92, "1.2")
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x80), 0x80)
            .generic_bytes(
                f::MM_FLAGS,
                "X-Mms-MM-Flags",
                Value::Tagged {
                    tag: 0x80,
                    value: Box::new(enc("$Draft")),
                },
                b"\x08\x80$Draft\x00",
            )
            .mixed_body(vec![(
                ContentType::new(MediaType::WellKnown(0x03)),
                "text/plain",
                b"Draft text".to_vec(),
            )]),
    );
    v.push(
        Case::new("mbox-upload-conf", MessageType::MBOX_UPLOAD_CONF)
            .tid("upload-1")
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/78",
            )
            .generic_octet(
                f::STORE_STATUS,
                "X-Mms-Store-Status",
                Value::Octet(0x80),
                0x80,
            )
            .generic_text(f::STORE_STATUS_TEXT, "X-Mms-Store-Status-Text", "Uploaded"),
    );
    v.push(
        Case::new("mbox-delete-req", MessageType::MBOX_DELETE_REQ)
            .tid("delete-1")
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/77",
            )
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/78",
            ),
    );
    let mut delete_conf = Case::new("mbox-delete-conf", MessageType::MBOX_DELETE_CONF)
        .tid("delete-1")
        .version(0x92, "1.2")
        .octet(f::RESPONSE_STATUS, "mmse.response_status", 0x80);
    // Counted forms (Value-length Status-count-value ...), which tshark 4.0 does not decode.
    delete_conf.pdu.push(
        f::CONTENT_LOCATION,
        Value::Tagged {
            tag: 1,
            value: Box::new(text("http://mmsc.example.net/mbox/77")),
        },
    );
    delete_conf.pdu.push(
        f::RESPONSE_TEXT,
        Value::Tagged {
            tag: 1,
            value: Box::new(enc("Deleted")),
        },
    );
    for _ in 0..2 {
        delete_conf
            .lines
            .push("X-Mms-Content-Location: <Undecoded value for m-mbox-delete-conf>".to_string());
    }
    v.push(delete_conf);
    v.push(
        Case::new("mbox-descr", MessageType::MBOX_DESCR)
            .version(0x92, "1.2")
            .text_field(
                f::CONTENT_LOCATION,
                "mmse.content_location",
                "http://mmsc.example.net/mbox/77",
            )
            .text_field(f::MESSAGE_ID, "mmse.message_id", "msg-77")
            .generic_octet(f::MM_STATE, "X-Mms-MM-State", Value::Octet(0x82), 0x82)
            .date(D_2011_06_03)
            .from("+358401111111/TYPE=PLMN")
            .to("+358402222222/TYPE=PLMN")
            .encoded(f::SUBJECT, "mmse.subject", "Stored message")
            .octet(f::MESSAGE_CLASS, "mmse.message_class.id", 0x81)
            .octet(f::PRIORITY, "mmse.priority", 0x81)
            .long(f::MESSAGE_SIZE, "mmse.message_size", 70_000)
            .time(f::EXPIRY, "mmse.expiry", TimeValue::Relative(1_209_600))
            .mixed_body(vec![(
                ContentType::new(MediaType::WellKnown(0x03)),
                "text/plain",
                b"Stored text".to_vec(),
            )]),
    );
    v
}

/// Message types tshark knows: (code, name) from `tshark -G values`.
fn tshark_message_types() -> Vec<(u8, String)> {
    let out = std::process::Command::new("tshark")
        .args(["-G", "values"])
        .output()
        .expect("run tshark -G values");
    assert!(out.status.success(), "tshark -G values failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            match (it.next(), it.next(), it.next(), it.next()) {
                (Some("V"), Some("mmse.message_type"), Some(code), Some(name)) => {
                    let code = u8::from_str_radix(code.trim_start_matches("0x"), 16).ok()?;
                    Some((code, name.to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

fn require_tshark() {
    for t in ["tshark", "text2pcap"] {
        assert!(
            have_tool(t),
            "`{t}` not found: run scripts/test (it installs tshark, which gives text2pcap), \
             or `apt-get install tshark`"
        );
    }
}

fn check(case: &Case, m: &TsharkMmse, errors: &mut Vec<String>) {
    let mut err = |s: String| errors.push(format!("{}: {s}", case.name));
    if m.malformed {
        err("tshark flags the PDU as malformed".into());
    }
    for (f, want) in &case.fields {
        let got = m.fields.get(*f).cloned().unwrap_or_default();
        if &got != want {
            err(format!("{f}: tshark shows {got:?}, we put in {want:?}"));
        }
    }
    let mut lines: Vec<&String> = m.lines.iter().collect();
    for want in &case.lines {
        match lines.iter().position(|l| *l == want) {
            Some(i) => {
                lines.remove(i);
            }
            None => err(format!("no tree line {want:?} in {:?}", m.lines)),
        }
    }
    match (&case.content_type, &m.content_type) {
        (None, None) => {}
        (Some((media, params)), Some(ct)) => {
            if ct.media != *media {
                err(format!("Content-Type {:?}, we put in {media:?}", ct.media));
            }
            for (p, v) in params {
                if ct.params.get(*p).map(Vec::as_slice) != Some(&[v.to_string()][..]) {
                    err(format!(
                        "Content-Type parameter {p}: {:?}, want {v:?}",
                        ct.params
                    ));
                }
            }
        }
        (want, got) => err(format!("Content-Type: tshark {got:?}, we put in {want:?}")),
    }
    if m.parts.len() != case.parts.len() {
        err(format!(
            "tshark shows {} parts, we put in {}",
            m.parts.len(),
            case.parts.len()
        ));
    }
    for (i, (got, want)) in m.parts.iter().zip(&case.parts).enumerate() {
        if got.content_type.media != want.media {
            err(format!(
                "part {i}: content type {:?}, want {:?}",
                got.content_type.media, want.media
            ));
        }
        for (p, v) in &want.params {
            if got.content_type.params.get(*p).map(Vec::as_slice) != Some(&[v.to_string()][..]) {
                err(format!(
                    "part {i}: parameter {p}: {:?}, want {v:?}",
                    got.content_type.params
                ));
            }
        }
        if got.content_id != want.content_id {
            err(format!(
                "part {i}: Content-ID {:?}, want {:?}",
                got.content_id, want.content_id
            ));
        }
        if got.content_location.as_deref() != want.content_location {
            err(format!(
                "part {i}: Content-Location {:?}, want {:?}",
                got.content_location, want.content_location
            ));
        }
        if got.data.as_deref() != Some(&want.data[..]) {
            err(format!(
                "part {i}: data {:?}, want {:?}",
                got.data.as_deref().map(String::from_utf8_lossy),
                String::from_utf8_lossy(&want.data)
            ));
        }
    }
}

#[test]
fn tshark_shows_what_we_encode_for_every_message_type() {
    require_tshark();
    let known = tshark_message_types();
    assert!(
        known.len() >= 20,
        "tshark -G values lists only {} MMSE message types: {known:?}",
        known.len()
    );
    let cases = cases();
    let covered: BTreeSet<u8> = cases.iter().map(|c| c.pdu.message_type.0).collect();
    let missing: Vec<_> = known.iter().filter(|(c, _)| !covered.contains(c)).collect();
    assert!(
        missing.is_empty(),
        "message types without a case: {missing:?}"
    );

    let encoded: Vec<Vec<u8>> = cases
        .iter()
        .map(|c| {
            let b = c.pdu.encode().expect(c.name);
            // Our own decoder agrees with our encoder before tshark is asked.
            let back = Pdu::decode(&b, &Limits::default()).expect(c.name);
            assert_eq!(back, c.pdu, "{}: decode(encode(p)) != p", c.name);
            b
        })
        .collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let decoded = tshark_mmse_many(&refs).unwrap_or_else(|e| panic!("tshark: {e}"));

    let mut errors = Vec::new();
    for ((case, m), bytes) in cases.iter().zip(&decoded).zip(&encoded) {
        // The message type line names the type as tshark's table and ours both do.
        let mt = case.pdu.message_type;
        let ts_name = known
            .iter()
            .find(|(c, _)| *c == mt.0)
            .map(|(_, n)| n.as_str());
        if ts_name != mt.name() {
            errors.push(format!(
                "{}: tshark calls 0x{:02x} {ts_name:?}, we call it {:?}",
                case.name,
                mt.0,
                mt.name()
            ));
        }
        if m.mmse.size != bytes.len() {
            errors.push(format!(
                "{}: tshark's MMSE tree covers {} of {} bytes",
                case.name,
                m.mmse.size,
                bytes.len()
            ));
        }
        check(case, m, &mut errors);
    }
    assert!(
        errors.is_empty(),
        "tshark disagrees with what we encoded:\n{}",
        errors.join("\n")
    );
    println!(
        "tshark agreed on {} PDUs covering message types {:02x?}",
        cases.len(),
        covered
    );
}

/// The mmsd vector PROTOCOLS.md §5.1 shows decoded by tshark: our re-encoding of it must
/// decode in tshark exactly as the original does (same fields, same parts).
#[test]
fn tshark_sees_our_reencoding_of_vectors_like_the_originals() {
    require_tshark();
    let Some(dir) = mmsc_tests::vectors_dir() else {
        println!("SKIP: shared vectors not found (set MMSC_VECTORS)");
        return;
    };
    let files = mmsc_tests::files_under(&dir, 1000).expect("list vectors");
    let mut originals = Vec::new();
    let mut reencoded = Vec::new();
    let mut names = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        // Only PDUs that are MMS (our decoder accepts them) and fit recipe (a).
        if bytes.len() + 200 > mmsc_tests::MAX_FRAME_BYTES {
            continue;
        }
        let Ok(p) = Pdu::decode(&bytes, &Limits::default()) else {
            continue;
        };
        let Ok(enc) = p.encode() else { continue };
        names.push(f.display().to_string());
        originals.push(bytes);
        reencoded.push(enc);
    }
    assert!(
        names.len() >= 50,
        "only {} vectors decoded: is {dir:?} the shared vectors directory?",
        names.len()
    );
    let a: Vec<&[u8]> = originals.iter().map(Vec::as_slice).collect();
    let b: Vec<&[u8]> = reencoded.iter().map(Vec::as_slice).collect();
    let ta = tshark_mmse_many(&a).unwrap_or_else(|e| panic!("tshark: {e}"));
    let tb = tshark_mmse_many(&b).unwrap_or_else(|e| panic!("tshark: {e}"));
    let mut errors = Vec::new();
    for ((name, x), y) in names.iter().zip(&ta).zip(&tb) {
        // Header order may differ (canonical order puts Transaction-ID and version first), so
        // compare per field; the malformed flag may differ where the original ends in
        // trailing junk or hits tshark's last-value-0x84 bug, so it is not compared.
        //
        // tshark 4.0 shows the Quote octet (0x7F) of a charset Encoded-string-value as a
        // literal "\x7f". Our encoder writes the Quote exactly when the text starts with an
        // octet >= 0x80 (OMA-TS-MMS_ENC Text-string); several vectors omit it there or put it
        // before ASCII, so it is stripped on both sides before comparing.
        let strip = |m: &TsharkMmse| -> BTreeMap<String, Vec<String>> {
            m.fields
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .iter()
                        .map(|s| s.strip_prefix("\\x7f").unwrap_or(s).to_string())
                        .collect();
                    (k.clone(), v)
                })
                .collect()
        };
        let (xf, yf) = (strip(x), strip(y));
        if xf != yf {
            let (x, y) = (&xf, &yf);
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                if x.get(k) != y.get(k) {
                    errors.push(format!(
                        "{name}: {k}: original {:?}, re-encoded {:?}",
                        x.get(k),
                        y.get(k)
                    ));
                }
            }
        }
        let parts = |m: &TsharkMmse| {
            m.parts
                .iter()
                .map(|p| {
                    (
                        p.content_type.media.clone(),
                        p.content_id.clone(),
                        p.content_location.clone(),
                        p.data.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        if parts(x) != parts(y) {
            errors.push(format!(
                "{name}: parts differ: original {:?} re-encoded {:?}",
                x.parts.len(),
                y.parts.len()
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    println!(
        "{} vectors: tshark decodes our re-encoding like the original",
        names.len()
    );
}
