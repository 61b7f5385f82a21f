//! WAP Push SMS through an SMS gateway's HTTP API (Kannel smsbox `sendsms`).
//!
//! The PDU is wrapped in a WSP Push ([`PushPdu::mms_notification`]: `TID 06 03 BE AF 84 PDU`)
//! and split into SMS ([`segment`]) with 16-bit port addressing (2948 / 9200) and, when more
//! than one SMS is needed, an 8-bit concatenation reference that changes from push to push.
//! Each SMS is one request:
//!
//! ```text
//! GET <sendsms_url>&to=%2B358401234567&udh=%0B%05%04%0B%84%23%F0%00%03%2A%02%01
//!     &text=<payload octets, percent-encoded>&coding=1
//! ```
//!
//! `udh` carries the user data header with its length octet, `coding=1` says 8-bit data. Any
//! 2xx is acceptance (Kannel: 202 `0: Accepted for delivery`); 408, 429 and 5xx are
//! transient, other 4xx permanent (Kannel: 403 `Authorization failed for sendsms`, 400
//! `Sender missing and no global set, rejected` when neither the request nor the
//! `sendsms-user` gives a sender; put `from=` in the URL or `default-sender` in Kannel).
//! Segments are sent in order; a failure stops the push, and the retry sends every segment
//! again under a new reference.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mmsc_wire::push::{ConcatRef, PushPdu, segment};

use crate::{Delivered, PushError, Sender, check_msisdn, http};

/// Percent-encode every octet but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`),
/// with upper-case hex digits.
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// The request URL of one SMS: `base` (with its own parameters) followed by `to`, `udh`,
/// `text` and `coding=1`.
pub fn sms_url(base: &str, msisdn: &str, udh: &[u8], payload: &[u8]) -> String {
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    format!(
        "{base}{sep}to={}&udh={}&text={}&coding=1",
        percent_encode(msisdn.as_bytes()),
        percent_encode(udh),
        percent_encode(payload)
    )
}

/// The WSP Push of `pdu` (transaction id `tid`) as SMS request URLs, one per segment.
///
/// Error: [`PushError::Permanent`] when the push needs more than 255 SMS.
pub fn push_urls(
    base: &str,
    msisdn: &str,
    pdu: &[u8],
    tid: u8,
    reference: u8,
) -> Result<Vec<String>, PushError> {
    let wsp = PushPdu::mms_notification(tid, pdu)
        .encode()
        .map_err(|e| PushError::Permanent(format!("cannot build the WSP push: {e}")))?;
    let sms = segment(&wsp, ConcatRef::Eight(reference))
        .map_err(|e| PushError::Permanent(format!("cannot split the WSP push into SMS: {e}")))?;
    Ok(sms
        .iter()
        .map(|ud| {
            // segment() always writes a UDH: UDHL, then UDHL octets of IEs.
            let udh_len = ud.first().map_or(0, |l| usize::from(*l) + 1).min(ud.len());
            let (udh, payload) = ud.split_at(udh_len);
            sms_url(base, msisdn, udh, payload)
        })
        .collect())
}

/// Pushes WAP Push SMS through an SMS gateway's `sendsms` HTTP API (see the module
/// documentation).
#[derive(Debug)]
pub struct SendSmsSender {
    url: String,
    agent: ureq::Agent,
    seed: u64,
    next: AtomicU64,
}

impl SendSmsSender {
    /// A sender using `url`, the gateway's send URL with its fixed parameters (e.g.
    /// `http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p`), each request bounded
    /// by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        SendSmsSender {
            url: url.to_owned(),
            agent: http::agent(timeout),
            seed: crate::run_seed(),
            next: AtomicU64::new(0),
        }
    }
}

impl Sender for SendSmsSender {
    fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Delivered, PushError> {
        check_msisdn(msisdn)?;
        let n = self
            .seed
            .wrapping_add(self.next.fetch_add(1, Ordering::Relaxed));
        // Truncations intended: TID and reference are the low octets of a per-push counter.
        let urls = push_urls(&self.url, msisdn, pdu, n as u8, n as u8)?;
        let total = urls.len();
        let mut last_status = 0;
        for (i, url) in urls.iter().enumerate() {
            let what = format!("sendsms segment {}/{total}", i + 1);
            let mut resp = self
                .agent
                .get(url)
                .call()
                .map_err(|e| http::classify(&what, &e))?;
            let status = resp.status().as_u16();
            let body = http::body_text(&what, &mut resp)?;
            if !(200..300).contains(&status) {
                return Err(http::status_error(&what, status, &body));
            }
            last_status = status;
        }
        let plural = if total == 1 { "" } else { "s" };
        Ok(Delivered {
            detail: format!("sendsms {last_status} x{total} segment{plural}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode the `udh=` and `text=` of a URL this module built.
    fn param(url: &str, name: &str) -> Vec<u8> {
        let q = url.split_once('?').unwrap().1;
        let v = q
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap();
        let mut out = Vec::new();
        let b = v.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn encoding() {
        assert_eq!(
            percent_encode(b"+358 40&x=1/~._-Az9"),
            "%2B358%2040%26x%3D1%2F~._-Az9"
        );
        assert_eq!(percent_encode(&[0x00, 0x0B, 0xFF]), "%00%0B%FF");
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(param(&format!("u?x={}", percent_encode(&all)), "x"), all);
    }

    #[test]
    fn url_joining() {
        for (base, want) in [
            ("http://h/s?u=a&p=b", "http://h/s?u=a&p=b&to="),
            ("http://h/s?", "http://h/s?to="),
            ("http://h/s?u=a&", "http://h/s?u=a&to="),
            ("http://h/s", "http://h/s?to="),
        ] {
            assert!(sms_url(base, "+1", &[], &[]).starts_with(want), "{base}");
        }
        assert_eq!(
            sms_url(
                "http://h/s?u=a",
                "+358401234567",
                &[6, 5, 4, 0x0B, 0x84, 0x23, 0xF0],
                b"\x01 a"
            ),
            "http://h/s?u=a&to=%2B358401234567&udh=%06%05%04%0B%84%23%F0&text=%01%20a&coding=1"
        );
    }

    #[test]
    fn single_segment_octets() {
        let pdu = b"\x8C\x82\x98T1\x00\x8D\x92";
        let urls = push_urls("http://h/s?u=a", "+358401234567", pdu, 7, 42).unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!(
            param(&urls[0], "udh"),
            [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]
        );
        let mut text = vec![7, 0x06, 0x03, 0xBE, 0xAF, 0x84];
        text.extend_from_slice(pdu);
        assert_eq!(param(&urls[0], "text"), text);
        assert_eq!(param(&urls[0], "to"), b"+358401234567");
        assert_eq!(param(&urls[0], "coding"), b"1");
    }

    #[test]
    fn multi_segment_octets() {
        let pdu: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let urls = push_urls("http://h/s", "+1", &pdu, 0x11, 0x2A).unwrap();
        // 6 + 300 octets of WSP push, 128 per SMS.
        assert_eq!(urls.len(), 3);
        let mut joined = Vec::new();
        for (i, u) in urls.iter().enumerate() {
            assert_eq!(
                param(u, "udh"),
                [
                    0x0B,
                    0x05,
                    0x04,
                    0x0B,
                    0x84,
                    0x23,
                    0xF0,
                    0x00,
                    0x03,
                    0x2A,
                    3,
                    i as u8 + 1
                ]
            );
            let text = param(u, "text");
            assert!(text.len() <= 128);
            joined.extend_from_slice(&text);
        }
        assert_eq!(joined[..6], [0x11, 0x06, 0x03, 0xBE, 0xAF, 0x84]);
        assert_eq!(joined[6..], pdu[..]);
    }

    #[test]
    fn too_long_is_permanent() {
        let e = push_urls("http://h/s", "+1", &vec![0; 128 * 256], 0, 0).unwrap_err();
        assert!(!e.is_transient(), "{e}");
    }

    #[test]
    fn bad_msisdn_is_refused_before_sending() {
        let s = SendSmsSender::new("http://127.0.0.1:9/s", Duration::from_secs(1));
        assert!(!s.send("+358 40", b"\x8c\x82").unwrap_err().is_transient());
    }
}
