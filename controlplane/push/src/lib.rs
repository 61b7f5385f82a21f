//! Notification push senders: how an m-notification-ind (and the m-delivery-ind /
//! m-read-orig-ind reports) reaches a handset.
//!
//! - [`PapSender`]: PAP 2.0 (WAP-247-PAP) over HTTP to a Push Proxy Gateway, e.g. Kannel's
//!   wapbox PPG; the PPG wraps the PDU in a WSP Push and sends it as WAP Push SMS.
//! - [`SendSmsSender`]: the MMSC builds the WSP Push itself ([`mmsc_wire::push::PushPdu`]),
//!   splits it into SMS with port-addressing and concatenation UDHs
//!   ([`mmsc_wire::push::segment`]) and hands each SMS to an SMS gateway's HTTP API (Kannel
//!   smsbox `sendsms`).
//! - [`LogSender`]: appends one JSON line per push to a file; [`read_log`] reads them back.
//!
//! Every sender is blocking and bounded by its timeout: the control plane runs senders on
//! worker threads and does the retrying itself, guided by [`PushError::is_transient`]. A sender
//! does not retry.
//!
//! MSISDNs are E.164 with a leading `+` (`+358401234567`); [`check_msisdn`] refuses anything
//! else but digits after an optional `+` before it reaches a gateway (Kannel 1.4.5's PPG stops
//! answering every request after one PAP address it cannot parse, see [`PapSender`]).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod http;
mod log;
pub mod pap;
pub mod sendsms;

pub use log::{LogError, LogSender, LoggedPush, read_log};
pub use pap::PapSender;
pub use sendsms::SendSmsSender;

/// Something that delivers a push PDU (an MMS PDU: m-notification-ind, m-delivery-ind,
/// m-read-orig-ind) to the handset of an MSISDN.
pub trait Sender: Send + Sync {
    /// Push `pdu` (the binary MMS PDU) to `msisdn` (`+` and digits). Blocks at most about the
    /// sender's timeout (per HTTP request). Does not retry.
    fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Delivered, PushError>;

    /// Most pushes a worker should hand to one [`Sender::send_batch`]. Gateways that take one
    /// push per request keep 1, so that the workers send in parallel; a sender that gains from
    /// batching (one `write` for many log lines) says how many it takes.
    fn batch_limit(&self) -> usize {
        1
    }

    /// Push each `(msisdn, pdu)`; one outcome per push, in order. By default, one
    /// [`Sender::send`] after the other.
    fn send_batch(&self, pushes: &[(&str, &[u8])]) -> Vec<Result<Delivered, PushError>> {
        pushes.iter().map(|(m, p)| self.send(m, p)).collect()
    }
}

/// A push the gateway accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// What the gateway said, for the log: `PAP 1001`, `sendsms 202 x2 segments`, `logged`.
    pub detail: String,
}

/// Why a push failed, and whether trying again later may help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The gateway is down, overloaded or timed out, or it answered with a temporary failure:
    /// retry later.
    #[error("transient push failure: {0}")]
    Transient(String),
    /// The gateway refused this push (bad address, bad credentials, unsupported request) or
    /// it cannot be built: retrying the same push will not help.
    #[error("permanent push failure: {0}")]
    Permanent(String),
}

impl PushError {
    /// True when a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PushError::Transient(_))
    }

    /// The message without the class.
    pub fn message(&self) -> &str {
        match self {
            PushError::Transient(m) | PushError::Permanent(m) => m,
        }
    }
}

/// Longest MSISDN accepted, digits only (E.164 allows 15; some networks use a few more).
pub const MAX_MSISDN_DIGITS: usize = 20;

/// Check an MSISDN: an optional `+`, then 1 to [`MAX_MSISDN_DIGITS`] ASCII digits.
///
/// Error: [`PushError::Permanent`] naming the MSISDN.
pub fn check_msisdn(msisdn: &str) -> Result<(), PushError> {
    let digits = msisdn.strip_prefix('+').unwrap_or(msisdn);
    if !digits.is_empty()
        && digits.len() <= MAX_MSISDN_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(PushError::Permanent(format!(
            "invalid MSISDN {msisdn:?} (expected + and 1 to {MAX_MSISDN_DIGITS} digits)"
        )))
    }
}

/// A value that differs between runs of the process: seeds push ids and SMS references.
fn run_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Truncation is fine: only the low bits matter, mixed with the process id.
    (nanos as u64) ^ (u64::from(std::process::id()) << 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_check() {
        for ok in [
            "+358401234567",
            "358401234567",
            "+1",
            "12345678901234567890",
        ] {
            assert_eq!(check_msisdn(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "+",
            "++358",
            "+358 40",
            "foo",
            "+35840*123",
            "#31",
            "+123456789012345678901",
            "+٣٥٨",
        ] {
            let e = check_msisdn(bad).unwrap_err();
            assert!(!e.is_transient(), "{bad}");
            assert!(e.message().contains("invalid MSISDN"), "{e}");
        }
    }

    #[test]
    fn error_classes() {
        let t = PushError::Transient("PPG down".into());
        let p = PushError::Permanent("bad address".into());
        assert!(t.is_transient());
        assert!(!p.is_transient());
        assert_eq!(t.to_string(), "transient push failure: PPG down");
        assert_eq!(p.to_string(), "permanent push failure: bad address");
        assert_eq!(p.message(), "bad address");
    }

    #[test]
    fn seeds_differ_over_time() {
        let a = run_seed();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(a, run_seed());
    }
}
