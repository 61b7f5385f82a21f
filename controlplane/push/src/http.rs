//! The HTTP client the gateway senders share: one ureq agent per sender, bounded by a timeout,
//! with errors classified as transient or permanent.

use std::time::Duration;

use ureq::config::AutoHeaderValue;

use crate::PushError;

/// Most octets of a gateway's answer that are read.
pub(crate) const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Most characters of a gateway's answer quoted in an error.
const MAX_QUOTED_CHARS: usize = 200;

/// An agent whose every request (connect, send, answer) ends within `timeout`; HTTP error
/// statuses are returned as responses, not errors; no proxy from the environment, no
/// redirects.
///
/// It sends no User-Agent, Accept or Accept-Encoding of its own: Kannel's PPG copies the
/// pusher's User-Agent and Accept into the WSP Push, where each octet costs SMS payload.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        .user_agent(AutoHeaderValue::None)
        .accept(AutoHeaderValue::None)
        .accept_encoding(AutoHeaderValue::None)
        .build()
        .into()
}

/// Classify a failed request: a URL or request that cannot be built is permanent (it will
/// not build next time either); everything else (refused or reset connections, timeouts,
/// unreachable hosts, protocol violations of the peer) is transient.
pub(crate) fn classify(what: &str, e: &ureq::Error) -> PushError {
    match e {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::TlsRequired => PushError::Permanent(format!("{what}: {e}")),
        ureq::Error::Timeout(_) => PushError::Transient(format!("{what}: timed out ({e})")),
        _ => PushError::Transient(format!("{what}: {e}")),
    }
}

/// Classify an HTTP status that is not a success: 408 and 429 (try again later) and 5xx are
/// transient, other 4xx permanent; anything else (1xx, 3xx) transient.
pub(crate) fn status_error(what: &str, status: u16, body: &str) -> PushError {
    let msg = format!("{what}: HTTP {status} {}", quote(body));
    match status {
        408 | 429 => PushError::Transient(msg),
        400..=499 => PushError::Permanent(msg),
        _ => PushError::Transient(msg),
    }
}

/// Read an answer's body (at most [`MAX_RESPONSE_BYTES`]) as text, invalid UTF-8 replaced.
pub(crate) fn body_text(
    what: &str,
    resp: &mut ureq::http::Response<ureq::Body>,
) -> Result<String, PushError> {
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map_err(|e| classify(what, &e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A gateway's answer, trimmed and shortened, for an error or a detail.
pub(crate) fn quote(body: &str) -> String {
    let t = body.trim();
    let mut out: String = t.chars().take(MAX_QUOTED_CHARS).collect();
    if out.len() < t.len() {
        out.push('…');
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [408, 429, 500, 502, 503, 504, 302] {
            assert!(status_error("x", s, "").is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 413] {
            assert!(!status_error("x", s, "").is_transient(), "{s}");
        }
        let e = status_error("sendsms", 403, "Authorization failed for sendsms\n");
        assert_eq!(
            e.message(),
            "sendsms: HTTP 403 \"Authorization failed for sendsms\""
        );
    }

    #[test]
    fn quoting_is_bounded() {
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert_eq!(q.chars().count(), MAX_QUOTED_CHARS + 3);
        assert!(q.ends_with("…\""));
        assert_eq!(quote("  ok \r\n"), "\"ok\"");
    }

    #[test]
    fn errors() {
        assert!(!classify("pap", &ureq::Error::BadUri("x".into())).is_transient());
        assert!(classify("pap", &ureq::Error::ConnectionFailed).is_transient());
        assert!(classify("pap", &ureq::Error::HostNotFound).is_transient());
        let io = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(classify("pap", &io).is_transient());
    }
}
