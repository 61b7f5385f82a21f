//! PAP 2.0 (WAP-247-PAP) push submission to a Push Proxy Gateway.
//!
//! ```text
//! POST <pap_url>
//! Content-Type: multipart/related; boundary=B; type="application/xml"
//!
//! --B
//! Content-Type: application/xml
//!
//! <?xml version="1.0"?>
//! <!DOCTYPE pap PUBLIC "-//WAPFORUM//DTD PAP 2.0//EN" "http://www.wapforum.org/DTD/pap_2.0.dtd">
//! <pap><push-message push-id="...">
//! <address address-value="WAPPUSH=+358401234567/TYPE=PLMN@ppg.example"/>
//! <quality-of-service delivery-method="unconfirmed" network="GSM" bearer="SMS"/>
//! </push-message></pap>
//! --B
//! Content-Type: application/vnd.wap.mms-message
//! X-Wap-Application-Id: x-wap-application:mms.ua
//!
//! <binary MMS PDU>      (or base64 with Content-Transfer-Encoding, see transfer_encoding)
//! --B--
//! ```
//!
//! The PPG answers with a `<push-response>` holding `<response-result code=".." desc=".."/>`,
//! or with a `<badmessage-response code=".." .../>` for a request it could not parse; the
//! code's class decides: see [`classify_code`].
//!
//! What Kannel 1.4.5's PPG does (checked against the Debian package): it answers every PAP
//! request with HTTP 202 and puts the outcome in the PAP code (1001 accepted, 2000 for an
//! address it cannot parse, e.g. a PLMN number without `+`); it writes `code ="1001"` with a
//! space before `=`; it answers with the PAP 1.0 DOCTYPE; it copies the pusher's User-Agent and
//! Accept headers into the WSP Push (so this sender sends neither); and an address value
//! without `WAPPUSH=` (e.g. `foo`) makes it stop answering that and every later request until
//! wapbox restarts. Hence MSISDNs are checked ([`crate::check_msisdn`]) before they are sent.
//! Its MIME parser also searches for header names inside the content, so a PDU that contains
//! `content` goes in base64 (see [`transfer_encoding`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::{Delivered, PushError, Sender, check_msisdn, http};

/// The content type of the pushed MMS PDU.
pub const MMS_CONTENT_TYPE: &str = "application/vnd.wap.mms-message";
/// The push application id of the MMS user agent.
pub const MMS_APP_ID: &str = "x-wap-application:mms.ua";

/// How a PAP result code is to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeClass {
    /// 1xxx: the PPG accepted the push.
    Accepted,
    /// Worth retrying later.
    Transient,
    /// Retrying the same push will not help.
    Permanent,
}

/// PAP 2.0 result codes (WAP-247-PAP §9.13) and their names.
pub const CODES: &[(u16, &str)] = &[
    (1000, "OK"),
    (1001, "Accepted for processing"),
    (2000, "Bad request"),
    (2001, "Forbidden"),
    (2002, "Address error"),
    (2003, "Address not found"),
    (2004, "Push ID not found"),
    (2005, "Capabilities mismatch"),
    (2006, "Required capabilities not supported"),
    (2007, "Duplicate push ID"),
    (2008, "Cancellation not possible"),
    (3000, "Internal server error"),
    (3001, "Not implemented"),
    (3002, "Version not supported"),
    (3003, "Not possible"),
    (3004, "Capability matching not possible"),
    (3005, "Multiple addresses not supported"),
    (3006, "Transformation failure"),
    (3007, "Specified delivery method not possible"),
    (3008, "Capabilities not available"),
    (3009, "Required network not available"),
    (3010, "Required bearer not available"),
    (3011, "Replacement not supported"),
    (4000, "Service failure"),
    (4001, "Service unavailable"),
    (5000, "Mobile client aborted"),
];

/// The name of a PAP result code.
pub fn code_name(code: u16) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// How to take a PAP result code.
///
/// - 1xxx: accepted.
/// - Transient: 2007 Duplicate push ID (each attempt gets a new push id), 3000 Internal server
///   error, 3009 Required network not available, 3010 Required bearer not available (the
///   PPG's SMSC link may be down), every 4xxx (service failure / unavailable), and codes
///   outside the classes PAP defines.
/// - Permanent: the other 2xxx (the request or its address is wrong), the other 3xxx (the PPG
///   cannot do this push), 5xxx (the device aborted).
pub fn classify_code(code: u16) -> CodeClass {
    match code {
        1000..=1999 => CodeClass::Accepted,
        2007 | 3000 | 3009 | 3010 => CodeClass::Transient,
        2000..=3999 | 5000..=5999 => CodeClass::Permanent,
        _ => CodeClass::Transient,
    }
}

/// The PAP client address of an MSISDN: `WAPPUSH=<msisdn>/TYPE=PLMN@<domain>`, or without
/// `@<domain>` when the domain is empty (Kannel refuses an empty domain after `@`).
pub fn address(msisdn: &str, domain: &str) -> String {
    if domain.is_empty() {
        format!("WAPPUSH={msisdn}/TYPE=PLMN")
    } else {
        format!("WAPPUSH={msisdn}/TYPE=PLMN@{domain}")
    }
}

/// `s` with `&`, `<`, `>`, `"` and `'` written as XML entities.
pub fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The PAP control entity of an unconfirmed push to one address over SMS.
pub fn control_entity(push_id: &str, address: &str) -> String {
    format!(
        concat!(
            "<?xml version=\"1.0\"?>\r\n",
            "<!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD PAP 2.0//EN\" ",
            "\"http://www.wapforum.org/DTD/pap_2.0.dtd\">\r\n",
            "<pap>\r\n",
            "<push-message push-id=\"{}\">\r\n",
            "<address address-value=\"{}\"/>\r\n",
            "<quality-of-service delivery-method=\"unconfirmed\" network=\"GSM\" bearer=\"SMS\"/>\r\n",
            "</push-message>\r\n",
            "</pap>"
        ),
        xml_escape(push_id),
        xml_escape(address)
    )
}

/// A PAP request: its Content-Type and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PapRequest {
    /// `multipart/related; boundary=...; type="application/xml"`.
    pub content_type: String,
    /// How the PDU is carried.
    pub encoding: TransferEncoding,
    /// The multipart body.
    pub body: Vec<u8>,
}

/// Octets of PDU per base64 line: 57 octets make the 76 characters RFC 2045 allows.
const BASE64_LINE_OCTETS: usize = 57;

/// How the PDU travels in the PAP request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEncoding {
    /// As it is (no Content-Transfer-Encoding header).
    Binary,
    /// `Content-Transfer-Encoding: base64`, 76 characters a line.
    Base64,
}

/// The encoding [`build_request`] uses for `pdu` with this boundary: binary, unless the PDU
/// contains `content` in any case or the boundary delimiter, then base64.
///
/// Why: Kannel's PAP MIME parser looks for its header names (`Content-Type`,
/// `Content-Transfer-Encoding`, `Content-ID`, `Content-Description`, any `Content*`) anywhere
/// in a body part, content included. A binary PDU that contains CRLF, `Content-Type: ..`, CRLF
/// CRLF (an MMS Subject can carry those octets) reaches the handset with everything before it
/// cut off. Base64 avoids that, but Kannel then adds a textual `Content-Transfer-Encoding:
/// binary` header (33 octets) to the WSP push, which can cost an extra SMS; so binary is kept
/// whenever the PDU cannot trip the parser.
pub fn transfer_encoding(pdu: &[u8], boundary: &str) -> TransferEncoding {
    let delimiter = format!("--{boundary}");
    let has = |needle: &[u8]| {
        pdu.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if has(b"content") || has(delimiter.as_bytes()) {
        TransferEncoding::Base64
    } else {
        TransferEncoding::Binary
    }
}

/// Build the multipart/related request: the control entity, then the PDU with its
/// Content-Type and X-Wap-Application-Id, in the [`transfer_encoding`] for it. The boundary is
/// `mmsc-<boundary_seed in hex>` (its `-` cannot occur in base64).
pub fn build_request(push_id: &str, address: &str, pdu: &[u8], boundary_seed: u64) -> PapRequest {
    let boundary = format!("mmsc-{boundary_seed:016x}");
    let encoding = transfer_encoding(pdu, &boundary);
    let xml = control_entity(push_id, address);
    let cte = match encoding {
        TransferEncoding::Binary => "",
        TransferEncoding::Base64 => "Content-Transfer-Encoding: base64\r\n",
    };
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/xml\r\n\r\n{xml}\r\n--{boundary}\r\n\
         Content-Type: {MMS_CONTENT_TYPE}\r\n{cte}X-Wap-Application-Id: {MMS_APP_ID}\r\n\r\n"
    )
    .into_bytes();
    match encoding {
        TransferEncoding::Binary => body.extend_from_slice(pdu),
        TransferEncoding::Base64 => {
            let mut text = String::with_capacity(pdu.len() * 4 / 3 + pdu.len() / 28 + 4);
            for (i, line) in pdu.chunks(BASE64_LINE_OCTETS).enumerate() {
                if i > 0 {
                    text.push_str("\r\n");
                }
                B64.encode_string(line, &mut text);
            }
            body.extend_from_slice(text.as_bytes());
        }
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    PapRequest {
        content_type: format!("multipart/related; boundary={boundary}; type=\"application/xml\""),
        encoding,
        body,
    }
}

/// The result a PPG gave in its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PapResult {
    /// The element it came from: `response-result` or `badmessage-response`.
    pub element: &'static str,
    /// The PAP code.
    pub code: u16,
    /// The `desc` attribute, if any (entities resolved).
    pub desc: Option<String>,
}

/// Find the result in a PPG's answer: the `code` (and `desc`) of the first
/// `<response-result>`, else of a `<badmessage-response>`. Whitespace around `=` and either
/// quote are accepted; `None` when there is no such element with a numeric code.
pub fn parse_response(xml: &str) -> Option<PapResult> {
    for element in ["response-result", "badmessage-response"] {
        if let Some(attrs) = element_attributes(xml, element) {
            let code = attrs
                .iter()
                .find(|(n, _)| *n == "code")
                .and_then(|(_, v)| v.trim().parse().ok())?;
            let desc = attrs
                .iter()
                .find(|(n, _)| *n == "desc")
                .map(|(_, v)| v.clone());
            return Some(PapResult {
                element,
                code,
                desc,
            });
        }
    }
    None
}

/// The attributes of the first start tag named `name` (entities in values resolved); `None`
/// when there is no such tag or its attributes are malformed.
fn element_attributes<'a>(xml: &'a str, name: &str) -> Option<Vec<(&'a str, String)>> {
    let mut from = 0;
    let tag = loop {
        let at = from + xml.get(from..)?.find('<')?;
        let rest = xml.get(at + 1..)?;
        from = at + 1;
        if let Some(after) = rest.strip_prefix(name)
            && after.starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        {
            break after;
        }
    };
    let mut attrs = Vec::new();
    let mut s = tag;
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return None;
        }
        if s.starts_with('>') || s.starts_with("/>") {
            return Some(attrs);
        }
        let name_end = s.find(|c: char| c.is_ascii_whitespace() || c == '=')?;
        let (attr, rest) = s.split_at(name_end);
        let rest = rest.trim_start().strip_prefix('=')?.trim_start();
        let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
        let rest = rest.get(1..)?;
        let end = rest.find(quote)?;
        attrs.push((attr, xml_unescape(rest.get(..end)?)));
        s = rest.get(end + 1..)?;
    }
}

/// Resolve the predefined entities and character references; anything unknown stays as it is.
fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        rest = rest.get(i..).unwrap_or_default();
        let resolved = rest.find(';').filter(|&e| e <= 10).and_then(|e| {
            let entity = rest.get(1..e)?;
            let c = match entity {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let n = if let Some(h) = entity.strip_prefix("#x") {
                        u32::from_str_radix(h, 16).ok()?
                    } else {
                        entity.strip_prefix('#')?.parse().ok()?
                    };
                    char::from_u32(n)?
                }
            };
            Some((c, e + 1))
        });
        match resolved {
            Some((c, len)) => {
                out.push(c);
                rest = rest.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Pushes through a PPG with PAP 2.0 (see the module documentation).
#[derive(Debug)]
pub struct PapSender {
    url: String,
    address_domain: String,
    agent: ureq::Agent,
    seed: u64,
    next: AtomicU64,
}

impl PapSender {
    /// A sender posting to `url` (e.g. `http://127.0.0.1:13180/wappush`), addressing handsets
    /// as `WAPPUSH=<msisdn>/TYPE=PLMN@<address_domain>`, each request bounded by `timeout`.
    pub fn new(url: &str, address_domain: &str, timeout: Duration) -> Self {
        PapSender {
            url: url.to_owned(),
            address_domain: address_domain.to_owned(),
            agent: http::agent(timeout),
            seed: crate::run_seed(),
            next: AtomicU64::new(1),
        }
    }

    /// A push id unique to this push: `mmsc-<run seed>-<counter>@<domain>`.
    fn push_id(&self, n: u64) -> String {
        let domain = if self.address_domain.is_empty() {
            "mmsc"
        } else {
            &self.address_domain
        };
        format!("mmsc-{:x}-{n}@{domain}", self.seed)
    }

    fn interpret(status: u16, body: &str) -> Result<Delivered, PushError> {
        match parse_response(body) {
            Some(r) => {
                let name = r.desc.as_deref().or(code_name(r.code)).unwrap_or("");
                let msg = format!("PAP {} {name} (HTTP {status})", r.code);
                match classify_code(r.code) {
                    CodeClass::Accepted => Ok(Delivered {
                        detail: format!("PAP {}", r.code),
                    }),
                    CodeClass::Transient => Err(PushError::Transient(msg)),
                    CodeClass::Permanent => Err(PushError::Permanent(msg)),
                }
            }
            None if (200..300).contains(&status) => Err(PushError::Transient(format!(
                "PAP: HTTP {status} without a PAP result: {}",
                http::quote(body)
            ))),
            None => Err(http::status_error("PAP", status, body)),
        }
    }
}

impl Sender for PapSender {
    fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Delivered, PushError> {
        check_msisdn(msisdn)?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let push_id = self.push_id(n);
        let req = build_request(
            &push_id,
            &address(msisdn, &self.address_domain),
            pdu,
            self.seed ^ n.rotate_left(32),
        );
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Content-Type", &req.content_type)
            .send(&req.body[..])
            .map_err(|e| http::classify("PAP", &e))?;
        let status = resp.status().as_u16();
        let body = http::body_text("PAP", &mut resp)?;
        Self::interpret(status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kannel 1.4.5's answer to an accepted push, verbatim.
    const KANNEL_1001: &str = "<?xml version=\"1.0\"?><!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD \
        PAP 1.0//EN\" \"http://www.wapforum.org/DTD/pap_1.0.dtd\"><pap><push-response \
        push-id=\"mmsc-1@x\" sender-name=\"vm; WAP/1.3 (Kannel/1.4.5)\" \
        reply-time=\"2026-11-24T22:31:40Z\" sender-address=\"/wappush\"><response-result \
        code =\"1001\" desc=\"The request has been accepted for processing\"></response-result>\
        </push-response></pap>";

    /// Kannel 1.4.5's answer to an address it cannot parse (fragment shortened).
    const KANNEL_2000: &str = "<?xml version=\"1.0\"?><!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD \
        PAP 1.0//EN\" \"http://www.wapforum.org/DTD/pap_1.0.dtd\"><pap><badmessage-response \
        code=\"2000\" desc=\"Not understood due to malformed syntax\" \
        bad-message-fragment=\"&lt;address address-value=&quot;WAPPUSH=358/TYPE=PLMN&quot;/&gt;\">\
        </badmessage-response></pap>";

    #[test]
    fn escaping() {
        assert!(matches!(xml_escape("+358401234567"), Cow::Borrowed(_)));
        assert_eq!(
            xml_escape(r#"a&b<c>d"e'f"#),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f"
        );
        assert_eq!(
            xml_unescape("a&amp;b&lt;&#65;&#x42;&bogus;&"),
            "a&b<AB&bogus;&"
        );
        assert_eq!(xml_unescape(&xml_escape("<&\"'>")), "<&\"'>");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address("+358401234567", "ppg.example"),
            "WAPPUSH=+358401234567/TYPE=PLMN@ppg.example"
        );
        assert_eq!(address("+1", ""), "WAPPUSH=+1/TYPE=PLMN");
    }

    #[test]
    fn control_entity_exact() {
        let xml = control_entity("id<1>&\"", "WAPPUSH=+358401234567/TYPE=PLMN@a&b");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\r\n\
             <!DOCTYPE pap PUBLIC \"-//WAPFORUM//DTD PAP 2.0//EN\" \
             \"http://www.wapforum.org/DTD/pap_2.0.dtd\">\r\n\
             <pap>\r\n\
             <push-message push-id=\"id&lt;1&gt;&amp;&quot;\">\r\n\
             <address address-value=\"WAPPUSH=+358401234567/TYPE=PLMN@a&amp;b\"/>\r\n\
             <quality-of-service delivery-method=\"unconfirmed\" network=\"GSM\" bearer=\"SMS\"/>\r\n\
             </push-message>\r\n\
             </pap>"
        );
    }

    #[test]
    fn request_layout_binary() {
        let pdu = b"\x8c\x82\x98T1\x00\r\n\r\n--x\x00\xff";
        let r = build_request("p1@m", "WAPPUSH=+1/TYPE=PLMN@m", pdu, 0xAB);
        let boundary = "mmsc-00000000000000ab";
        assert_eq!(r.encoding, TransferEncoding::Binary);
        assert_eq!(
            r.content_type,
            format!("multipart/related; boundary={boundary}; type=\"application/xml\"")
        );
        let mut want = format!(
            "--{boundary}\r\nContent-Type: application/xml\r\n\r\n{}\r\n--{boundary}\r\n\
             Content-Type: application/vnd.wap.mms-message\r\n\
             X-Wap-Application-Id: x-wap-application:mms.ua\r\n\r\n",
            control_entity("p1@m", "WAPPUSH=+1/TYPE=PLMN@m")
        )
        .into_bytes();
        want.extend_from_slice(pdu);
        want.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        assert_eq!(r.body, want);
    }

    #[test]
    fn request_layout_base64() {
        let pdu = b"\x8c\x82\x98T1\x00\r\nCONTENT-type: x\r\n\r\n\xff";
        let r = build_request("p1@m", "WAPPUSH=+1/TYPE=PLMN@m", pdu, 0xAB);
        let boundary = "mmsc-00000000000000ab";
        assert_eq!(r.encoding, TransferEncoding::Base64);
        let want = format!(
            "--{boundary}\r\nContent-Type: application/xml\r\n\r\n{}\r\n--{boundary}\r\n\
             Content-Type: application/vnd.wap.mms-message\r\n\
             Content-Transfer-Encoding: base64\r\n\
             X-Wap-Application-Id: x-wap-application:mms.ua\r\n\r\n\
             {}\r\n--{boundary}--\r\n",
            control_entity("p1@m", "WAPPUSH=+1/TYPE=PLMN@m"),
            B64.encode(pdu)
        );
        assert_eq!(String::from_utf8(r.body).unwrap(), want);
    }

    #[test]
    fn encoding_choice() {
        let b = "mmsc-0000000000000001";
        assert_eq!(transfer_encoding(b"\x8c\x82", b), TransferEncoding::Binary);
        assert_eq!(transfer_encoding(b"", b), TransferEncoding::Binary);
        assert_eq!(
            transfer_encoding(b"a\r\n\r\nb--mmsc-", b),
            TransferEncoding::Binary
        );
        for base64 in [
            &b"http://mmsc/content/1"[..],
            b"x CoNtEnT",
            b"\r\n--mmsc-0000000000000001\r\n",
        ] {
            assert_eq!(transfer_encoding(base64, b), TransferEncoding::Base64);
        }
    }

    #[test]
    fn base64_lines_and_boundary() {
        // 57 octets a line (76 characters), CRLF between lines.
        let mut pdu: Vec<u8> = b"content".to_vec();
        pdu.extend((0..=255).cycle().take(193));
        let r = build_request("p", "a", &pdu, u64::MAX);
        assert_eq!(r.encoding, TransferEncoding::Base64);
        let body = String::from_utf8(r.body).unwrap();
        let content = body
            .split("mms.ua\r\n\r\n")
            .nth(1)
            .and_then(|c| c.strip_suffix("\r\n--mmsc-ffffffffffffffff--\r\n"))
            .unwrap();
        let lines: Vec<&str> = content.split("\r\n").collect();
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [76, 76, 76, 40]
        );
        assert_eq!(B64.decode(lines.concat()).unwrap(), pdu);
        // The boundary's '-' is not a base64 character.
        assert!(!content.contains('-'));
        assert_eq!(body.matches("--mmsc-ffffffffffffffff").count(), 3);
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(KANNEL_1001),
            Some(PapResult {
                element: "response-result",
                code: 1001,
                desc: Some("The request has been accepted for processing".into()),
            })
        );
        let bad = parse_response(KANNEL_2000).unwrap();
        assert_eq!((bad.element, bad.code), ("badmessage-response", 2000));
        // Single quotes, self-closing, attributes in any order, whitespace.
        assert_eq!(
            parse_response(
                "<pap><push-response push-id='x'>\n<response-result\n desc = 'a&amp;b'\tcode = '4001' /></push-response></pap>"
            ),
            Some(PapResult {
                element: "response-result",
                code: 4001,
                desc: Some("a&b".into())
            })
        );
        // An element whose name merely starts the same is not it.
        assert_eq!(parse_response("<response-results code=\"1000\"/>"), None);
        for junk in [
            "",
            "<html>Not found</html>",
            "<response-result code=\"abc\"/>",
            "<response-result code=1000/>",
            "<response-result code=\"1000",
            "<response-result desc=\"x\"/>",
            "<response-result",
        ] {
            assert_eq!(parse_response(junk), None, "{junk}");
        }
    }

    #[test]
    fn code_classes() {
        use CodeClass::*;
        for (code, class) in [
            (1000, Accepted),
            (1001, Accepted),
            (2000, Permanent),
            (2001, Permanent),
            (2002, Permanent),
            (2003, Permanent),
            (2007, Transient),
            (3000, Transient),
            (3001, Permanent),
            (3002, Permanent),
            (3003, Permanent),
            (3004, Permanent),
            (3005, Permanent),
            (3006, Permanent),
            (3007, Permanent),
            (3008, Permanent),
            (3009, Transient),
            (3010, Transient),
            (3011, Permanent),
            (4000, Transient),
            (4001, Transient),
            (5000, Permanent),
            (0, Transient),
            (9999, Transient),
        ] {
            assert_eq!(classify_code(code), class, "{code}");
        }
        assert_eq!(code_name(3010), Some("Required bearer not available"));
        assert_eq!(code_name(1234), None);
        assert!(CODES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn interpretation() {
        assert_eq!(
            PapSender::interpret(202, KANNEL_1001),
            Ok(Delivered {
                detail: "PAP 1001".into()
            })
        );
        let e = PapSender::interpret(202, KANNEL_2000).unwrap_err();
        assert_eq!(
            e,
            PushError::Permanent(
                "PAP 2000 Not understood due to malformed syntax (HTTP 202)".into()
            )
        );
        let e = PapSender::interpret(400, "<response-result code=\"4001\"/>").unwrap_err();
        assert_eq!(
            e,
            PushError::Transient("PAP 4001 Service unavailable (HTTP 400)".into())
        );
        // No PAP result: by HTTP status.
        assert!(
            PapSender::interpret(200, "<html/>")
                .unwrap_err()
                .is_transient()
        );
        assert!(
            PapSender::interpret(503, "busy")
                .unwrap_err()
                .is_transient()
        );
        assert!(!PapSender::interpret(404, "no").unwrap_err().is_transient());
        assert!(!PapSender::interpret(401, "").unwrap_err().is_transient());
    }

    #[test]
    fn push_ids_are_unique() {
        let s = PapSender::new("http://127.0.0.1:9/", "ppg.example", Duration::from_secs(1));
        let a = s.push_id(1);
        assert_ne!(a, s.push_id(2));
        assert!(a.ends_with("-1@ppg.example"), "{a}");
        let other = PapSender::new("http://127.0.0.1:9/", "", Duration::from_secs(1));
        assert!(other.push_id(1).ends_with("@mmsc"));
    }

    #[test]
    fn bad_msisdn_is_refused_before_sending() {
        // Port 9 (discard) is not listened on; a request would fail transiently.
        let s = PapSender::new("http://127.0.0.1:9/", "ppg.example", Duration::from_secs(1));
        let e = s.send("foo", b"\x8c\x82").unwrap_err();
        assert!(!e.is_transient(), "{e}");
    }
}
