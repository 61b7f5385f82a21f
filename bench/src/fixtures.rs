//! The PDUs measured: built with the codec's own builder, deterministic (fixed-seed xorshift
//! for image data), nothing read from disk.

use std::borrow::Cow;

use mmsc_wire::Pdu;
use mmsc_wire::mms::{EncodedString, MessageType, TimeValue, Value, field};
use mmsc_wire::wsp::{Body, ContentType, MediaType, ParamName, ParamValue, Part, PartHeader};

/// WSP well-known media codes (Table 40) used here.
const CT_TEXT_PLAIN: u16 = 0x03;
const CT_IMAGE_JPEG: u16 = 0x1E;
const CT_MULTIPART_RELATED: u16 = 0x33;
/// WSP well-known parameter codes (Table 38) used here.
const P_CHARSET: u8 = 0x01;
const P_NAME: u8 = 0x05;
const P_TYPE: u8 = 0x09;
const P_START: u8 = 0x0A;
/// MIBenum of UTF-8.
const UTF_8: u64 = 106;
/// 2026-11-24T10:15:00Z.
const DATE: u64 = 1_795_515_300;

/// Marsaglia's xorshift64: fast, deterministic filler for image data.
#[derive(Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        XorShift64(seed.max(1))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Fill `out` with pseudo-random octets.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            let n = chunk.len();
            chunk.copy_from_slice(&v[..n]);
        }
    }
}

/// `len` octets that look like a baseline JPEG to anything that sniffs: SOI, a JFIF APP0
/// segment, a DQT segment header, pseudo-random "entropy-coded" data, EOI.
pub fn fake_jpeg(len: usize, seed: u64) -> Vec<u8> {
    const HEAD: &[u8] = &[
        0xFF, 0xD8, // SOI
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x01, 0x00, 0x48, 0x00,
        0x48, 0x00, 0x00, // APP0 JFIF 1.1, 72 dpi, no thumbnail
        0xFF, 0xDB, 0x00, 0x43, 0x00, // DQT, table 0 (its 64 octets come from the filler)
    ];
    let len = len.max(HEAD.len() + 2);
    let mut out = vec![0u8; len];
    out[..HEAD.len()].copy_from_slice(HEAD);
    XorShift64::new(seed).fill(&mut out[HEAD.len()..len - 2]);
    out[len - 2..].copy_from_slice(&[0xFF, 0xD9]); // EOI
    out
}

fn text(s: &'static str) -> Value<'static> {
    Value::Text(Cow::Borrowed(s.as_bytes()))
}

fn address(s: &'static str) -> Value<'static> {
    Value::Encoded(EncodedString::plain(s.as_bytes()))
}

fn utf8(s: &'static str) -> EncodedString<'static> {
    EncodedString {
        charset: Some(UTF_8),
        text: Cow::Borrowed(s.as_bytes()),
    }
}

fn content_id(id: &'static str) -> PartHeader<'static> {
    PartHeader::ContentId {
        value: Cow::Borrowed(id.as_bytes()),
        quoted: true,
    }
}

fn location(name: &'static str) -> PartHeader<'static> {
    PartHeader::ContentLocation(Cow::Borrowed(name.as_bytes()))
}

fn named(media: MediaType<'static>, name: &'static str) -> ContentType<'static> {
    ContentType::new(media).with(
        ParamName::WellKnown(P_NAME),
        ParamValue::Text(Cow::Borrowed(name.as_bytes())),
    )
}

fn related_smil() -> ContentType<'static> {
    ContentType::new(MediaType::WellKnown(CT_MULTIPART_RELATED))
        .with(
            ParamName::WellKnown(P_START),
            ParamValue::Text(Cow::Borrowed(b"<smil>")),
        )
        .with(
            ParamName::WellKnown(P_TYPE),
            ParamValue::Text(Cow::Borrowed(b"application/smil")),
        )
}

fn smil(images: &[&str], text: &str) -> Vec<u8> {
    let mut s = String::from(
        "<smil><head><layout><root-layout width=\"320\" height=\"480\"/>\
         <region id=\"Image\" top=\"0\" left=\"0\" height=\"75%\" width=\"100%\" fit=\"meet\"/>\
         <region id=\"Text\" top=\"75%\" left=\"0\" height=\"25%\" width=\"100%\" fit=\"scroll\"/>\
         </layout></head><body>",
    );
    for (i, img) in images.iter().enumerate() {
        s.push_str("<par dur=\"5000ms\">");
        s.push_str(&format!("<img src=\"{img}\" region=\"Image\"/>"));
        if i == 0 {
            s.push_str(&format!("<text src=\"{text}\" region=\"Text\"/>"));
        }
        s.push_str("</par>");
    }
    s.push_str("</body></smil>");
    s.into_bytes()
}

fn smil_part(data: Vec<u8>) -> Part<'static> {
    Part {
        content_type: named(
            MediaType::Text(Cow::Borrowed(b"application/smil")),
            "smil.smil",
        ),
        headers: vec![content_id("<smil>"), location("smil.smil")],
        body: Body::Data(Cow::Owned(data)),
    }
}

fn text_part(name: &'static str, body: &'static str) -> Part<'static> {
    Part {
        content_type: ContentType::new(MediaType::WellKnown(CT_TEXT_PLAIN))
            .with(ParamName::WellKnown(P_CHARSET), ParamValue::Integer(UTF_8))
            .with(
                ParamName::WellKnown(P_NAME),
                ParamValue::Text(Cow::Borrowed(name.as_bytes())),
            ),
        headers: vec![content_id("<text_0>"), location(name)],
        body: Body::Data(Cow::Borrowed(body.as_bytes())),
    }
}

fn jpeg_part(name: &'static str, id: &'static str, data: Vec<u8>) -> Part<'static> {
    Part {
        content_type: named(MediaType::WellKnown(CT_IMAGE_JPEG), name),
        headers: vec![content_id(id), location(name)],
        body: Body::Data(Cow::Owned(data)),
    }
}

const GREETING: &str = "Hei! Terveisiä mökiltä \u{1F332} Sää oli hyvä koko viikonlopun, \
    järvi vielä lämmin. Kuvassa laituri illalla. Soitellaan kun tullaan kotiin — \
    nähdään sunnuntaina! / Hi! Greetings from the cottage: the weather held all weekend and \
    the lake is still warm. The picture is the jetty in the evening. See you on Sunday!";

/// An m-notification-ind as an MMSC sends it in a WAP Push (~150 octets).
pub fn notification_ind() -> Pdu<'static> {
    Pdu::new(MessageType::NOTIFICATION_IND)
        .with(field::TRANSACTION_ID, text("T4f1c9a07d3e25b68"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(
            field::FROM,
            Value::From(Some(EncodedString::plain(&b"+358401234567/TYPE=PLMN"[..]))),
        )
        .with(field::SUBJECT, Value::Encoded(utf8("Terveisiä mökiltä")))
        .with(field::MESSAGE_CLASS, Value::Octet(0x80))
        .with(field::MESSAGE_SIZE, Value::Integer(30_512))
        .with(field::EXPIRY, Value::Time(TimeValue::Relative(259_200)))
        .with(
            field::CONTENT_LOCATION,
            text("http://mmsc.example.net/m/4f1c9a07d3e25b68"),
        )
}

/// An m-send-req of about 30 KB: multipart.related with a SMIL part, a UTF-8 text part and a
/// ~28 KB JPEG.
pub fn send_req_30k() -> Pdu<'static> {
    let mut p = Pdu::new(MessageType::SEND_REQ)
        .with(field::TRANSACTION_ID, text("1795515300-17"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::DATE, Value::Integer(DATE))
        .with(field::FROM, Value::From(None))
        .with(field::TO, address("+358501234567/TYPE=PLMN"))
        .with(field::SUBJECT, Value::Encoded(utf8("Terveisiä mökiltä")))
        .with(field::MESSAGE_CLASS, Value::Octet(0x80))
        .with(field::PRIORITY, Value::Octet(0x81))
        .with(field::DELIVERY_REPORT, Value::Octet(0x81))
        .with(field::READ_REPORT, Value::Octet(0x81));
    p.set_body(
        related_smil(),
        Body::Multipart(vec![
            smil_part(smil(&["IMG_0001.jpg"], "text_0.txt")),
            text_part("text_0.txt", GREETING),
            jpeg_part(
                "IMG_0001.jpg",
                "<IMG_0001>",
                fake_jpeg(28 * 1024, 0x5EED_0001),
            ),
        ]),
    );
    p
}

/// An m-retrieve-conf of about 300 KB: SMIL, text, a ~240 KB and a ~56 KB JPEG.
pub fn retrieve_conf_300k() -> Pdu<'static> {
    let mut p = Pdu::new(MessageType::RETRIEVE_CONF)
        .with(field::TRANSACTION_ID, text("T4f1c9a07d3e25b68"))
        .with(field::MMS_VERSION, Value::Octet(0x92))
        .with(field::MESSAGE_ID, text("4f1c9a07d3e25b68@mmsc.example.net"))
        .with(
            field::FROM,
            Value::From(Some(EncodedString::plain(&b"+358401234567/TYPE=PLMN"[..]))),
        )
        .with(field::TO, address("+358501234567/TYPE=PLMN"))
        .with(field::CC, address("+358451234567/TYPE=PLMN"))
        .with(field::DATE, Value::Integer(DATE))
        .with(field::SUBJECT, Value::Encoded(utf8("Terveisiä mökiltä")))
        .with(field::MESSAGE_CLASS, Value::Octet(0x80))
        .with(field::PRIORITY, Value::Octet(0x81))
        .with(field::DELIVERY_REPORT, Value::Octet(0x81))
        .with(field::READ_REPORT, Value::Octet(0x80))
        .with(field::RETRIEVE_STATUS, Value::Octet(0x80));
    p.set_body(
        related_smil(),
        Body::Multipart(vec![
            smil_part(smil(&["IMG_0001.jpg", "IMG_0002.jpg"], "text_0.txt")),
            text_part("text_0.txt", GREETING),
            jpeg_part(
                "IMG_0001.jpg",
                "<IMG_0001>",
                fake_jpeg(240 * 1024, 0x5EED_0002),
            ),
            jpeg_part(
                "IMG_0002.jpg",
                "<IMG_0002>",
                fake_jpeg(56 * 1024, 0x5EED_0003),
            ),
        ]),
    );
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsc_wire::Limits;

    #[test]
    fn fixtures_round_trip_and_have_their_sizes() {
        for (pdu, min, max) in [
            (notification_ind(), 120, 180),
            (send_req_30k(), 29_000, 31_000),
            (retrieve_conf_300k(), 295_000, 310_000),
        ] {
            let wire = pdu.encode().unwrap();
            assert!((min..=max).contains(&wire.len()), "{}", wire.len());
            assert_eq!(Pdu::decode(&wire, &Limits::default()).unwrap(), pdu);
        }
    }

    #[test]
    fn fake_jpeg_looks_like_one() {
        let j = fake_jpeg(1000, 7);
        assert_eq!(j.len(), 1000);
        assert_eq!(&j[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
        assert_eq!(&j[6..11], b"JFIF\0");
        assert_eq!(&j[998..], &[0xFF, 0xD9]);
        assert_eq!(fake_jpeg(1000, 7), j);
        assert_ne!(fake_jpeg(1000, 8), j);
    }
}
