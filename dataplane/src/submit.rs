//! The submit fast path: an m-send-req checked and planned on the dataplane core that received
//! it, appended to the store from there, and answered from there once durable.
//!
//! - [`SubmitRules`] decide, from the decoded PDU alone, whether a submit is accepted and what
//!   is stored with it ([`SubmitPlan`]): its recipients (and which of them this MMSC serves),
//!   its expiry, the reports asked for, and what its notifications will say. Pure: the same
//!   rules run on a core (the fast path) and in the control plane (a submit that reaches it as
//!   a job, and forwards).
//! - A [`Submitter`] (one per core, from the control plane's crate) takes the plan and the
//!   request buffer, appends the message to the store with the core's own completion route,
//!   and gives back the m-send-conf once the store reports it durable. The control plane
//!   learns of the message from the store's completion stream as of any other record, so it
//!   indexes and notifies it off the handset's critical path.
//!
//! The hot path of a submit is then: core -> store writer -> core (two thread hand-overs, one
//! of them the group commit), instead of core -> control plane -> store writer -> control
//! plane -> core.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use mmsc_wire::Limits;
use mmsc_wire::mms::{
    EncodedString, Pdu, ResponseStatus, SenderVisibility, TimeValue, Value, Version, field,
};

use crate::ring::{ConnId, Job, JobKind, Reply, Response};

/// Kind of address of a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecipientKind {
    /// To
    To = 0,
    /// Cc
    Cc = 1,
    /// Bcc
    Bcc = 2,
}

/// One recipient of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the originator wrote it (`+358.../TYPE=PLMN`).
    pub address: String,
    /// The local subscriber's MSISDN, when this MMSC serves it.
    pub msisdn: Option<String>,
    /// To, Cc or Bcc.
    pub kind: RecipientKind,
}

/// An accepted m-send-req, ready to store: everything the message record and the
/// notifications need, taken from the PDU once.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmitPlan {
    /// Its X-Mms-Transaction-ID (echoed in the m-send-conf).
    pub tid: Vec<u8>,
    /// The originator (the subscriber's MSISDN, not the PDU's From).
    pub sender: String,
    /// The MMS version the handset spoke.
    pub version: Version,
    /// When it was accepted (seconds since the epoch).
    pub received_at: u64,
    /// When it expires.
    pub expiry_at: u64,
    /// A delivery report was asked for.
    pub delivery_report: bool,
    /// A read report was asked for.
    pub read_report: bool,
    /// The originator asked to hide its address.
    pub hide_sender: bool,
    /// The recipients, To then Cc then Bcc.
    pub recipients: Vec<Recipient>,
    /// Where the body starts in the PDU.
    pub body_offset: u32,
    /// The subject, as notifications carry it ([`clean_subject`]).
    pub subject: Option<EncodedString<'static>>,
    /// X-Mms-Message-Class.
    pub class: Option<Value<'static>>,
}

/// What decides whether a submit is accepted and how it is stored.
#[derive(Debug, Default)]
pub struct SubmitRules {
    /// MSISDN prefixes served by this MMSC ("+35840").
    pub local_prefixes: Vec<String>,
    /// Expiry of messages that ask none, seconds.
    pub default_expiry_secs: u64,
    /// Longest expiry granted, seconds.
    pub max_expiry_secs: u64,
    /// Decoder limits.
    pub limits: Limits,
    /// Submits refused by these rules, or by a [`Submitter`] (a count for status).
    pub refused: AtomicU64,
}

/// `+358401234567/TYPE=PLMN` (or a plain number) as an MSISDN (`+358401234567`); `None` for
/// any other kind of address.
pub fn address_msisdn(addr: &str) -> Option<String> {
    let a = addr.trim();
    let num = match a.split_once('/') {
        Some((n, ty))
            if ty.eq_ignore_ascii_case("TYPE=PLMN") || ty.eq_ignore_ascii_case("TYPE=PLNM") =>
        {
            n
        }
        Some(_) => return None,
        None if a.contains('@') => return None,
        None => a,
    };
    let digits = num.strip_prefix('+').unwrap_or(num);
    ((5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
        let mut m = String::with_capacity(1 + digits.len());
        m.push('+');
        m.push_str(digits);
        m
    })
}

/// The subject as a notification carries it: line breaks (which a PPG's MIME parser may act
/// on, and which no handset shows) become spaces.
pub fn clean_subject(s: &EncodedString<'_>) -> EncodedString<'static> {
    let has_break = match s.to_text() {
        Some(t) => t.contains(['\r', '\n']),
        None => s.text.iter().any(|b| matches!(b, b'\r' | b'\n')),
    };
    if !has_break {
        return s.clone().into_owned();
    }
    let text = s.to_text_lossy().replace(['\r', '\n'], " ");
    EncodedString {
        charset: Some(mmsc_wire::charset::UTF_8),
        text: text.into_bytes().into(),
    }
}

impl SubmitRules {
    /// Whether this MMSC serves `msisdn`.
    pub fn is_local(&self, msisdn: &str) -> bool {
        self.local_prefixes
            .iter()
            .any(|p| msisdn.starts_with(p.as_str()))
    }

    /// When a message submitted at `now` expires: what it asks (capped), or the default.
    pub fn expiry_of(&self, pdu: &Pdu<'_>, now: u64) -> u64 {
        let max = now + self.max_expiry_secs;
        match pdu.expiry() {
            Some(TimeValue::Absolute(t)) if t > now => t.min(max),
            Some(TimeValue::Relative(d)) if d > 0 => now.saturating_add(d).min(max),
            // An expiry in the past, or none: the default.
            _ => now + self.default_expiry_secs,
        }
    }

    /// The To, Cc and Bcc addresses of a PDU, each with its MSISDN when local.
    pub fn recipients_of(&self, pdu: &Pdu<'_>) -> Vec<Recipient> {
        // Sized exactly: the vector stays in the control plane's index for the message's
        // life, and a first push alone would reserve room for four.
        let n = [field::TO, field::CC, field::BCC]
            .into_iter()
            .map(|code| pdu.recipients(code).count())
            .sum();
        let mut out = Vec::with_capacity(n);
        for (code, kind) in [
            (field::TO, RecipientKind::To),
            (field::CC, RecipientKind::Cc),
            (field::BCC, RecipientKind::Bcc),
        ] {
            for e in pdu.recipients(code) {
                let text = e.to_text_lossy();
                let address = text.trim();
                if address.is_empty() {
                    continue;
                }
                let msisdn = address_msisdn(address).filter(|m| self.is_local(m));
                out.push(Recipient {
                    address: address.to_string(),
                    msisdn,
                    kind,
                });
            }
        }
        out
    }

    /// Check an m-send-req from `sender`, whose body starts at `body_offset` in its encoding
    /// (from [`Pdu::decode_located`]), and describe the message to store; or the status to
    /// refuse it with, and its transaction id.
    pub fn plan(
        &self,
        sender: &str,
        version: Version,
        pdu: &Pdu<'_>,
        body_offset: Option<usize>,
        now: u64,
    ) -> Result<SubmitPlan, (Vec<u8>, ResponseStatus)> {
        let tid = pdu.transaction_id().unwrap_or_default().to_vec();
        let recipients = self.recipients_of(pdu);
        if recipients.is_empty() {
            return Err((tid, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT));
        }
        if recipients.iter().all(|r| r.msisdn.is_none()) {
            // No recipient this MMSC can deliver to (inter-operator routing comes with MM4).
            return Err((
                tid,
                ResponseStatus::ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED,
            ));
        }
        if recipients.len() > usize::from(u16::MAX) {
            return Err((tid, ResponseStatus::ERROR_PERMANENT_CONTENT_NOT_ACCEPTED));
        }
        let body_offset = match body_offset {
            Some(o) => match u32::try_from(o) {
                Ok(o) => o,
                Err(_) => return Err((tid, ResponseStatus::ERROR_PERMANENT_CONTENT_NOT_ACCEPTED)),
            },
            None => return Err((tid, ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT)),
        };
        Ok(SubmitPlan {
            received_at: now,
            expiry_at: self.expiry_of(pdu, now),
            sender: sender.to_string(),
            version,
            delivery_report: pdu.yes_no(field::DELIVERY_REPORT) == Some(true),
            read_report: pdu.yes_no(field::READ_REPORT) == Some(true),
            hide_sender: matches!(pdu.get(field::SENDER_VISIBILITY), Some(Value::Octet(o)) if *o == SenderVisibility::HIDE.0),
            recipients,
            body_offset,
            subject: pdu.subject().map(clean_subject),
            class: pdu
                .get(field::MESSAGE_CLASS)
                .cloned()
                .map(Value::into_owned),
            tid,
        })
    }

    /// Count a refused submit.
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
}

/// The fast path of a dataplane core: takes planned submits to the store and answers them
/// once durable. One per core, owned and called by the core's loop only; it never blocks.
pub trait Submitter: Send {
    /// Take a planned submit whose PDU is `buf[body]`. `Err` is the answer to give at once
    /// instead (no room for more submits in flight: 503; the store failed: m-send-conf with a
    /// transient error).
    fn submit(
        &mut self,
        conn: ConnId,
        plan: Box<SubmitPlan>,
        buf: Vec<u8>,
        body: Range<usize>,
    ) -> Result<(), Response>;

    /// The answers of submits the store has finished with (m-send-conf Ok with the
    /// Message-ID once durable, or a transient error), appended to `out`; how many.
    fn completed(&mut self, out: &mut Vec<Reply>) -> usize;

    /// Whether answers wait to be taken (for a core about to sleep).
    fn has_completed(&self) -> bool;

    /// Submits taken and not yet answered.
    fn in_flight(&self) -> usize;
}

impl std::fmt::Debug for dyn Submitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Submitter({} in flight)", self.in_flight())
    }
}

/// What [`hand_over`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandedOver {
    /// Submits the submitter took.
    pub taken: u64,
    /// Submits it refused with 503 (no room): the core's `overloaded` count.
    pub overloaded: u64,
}

/// Hand the planned submits among a core's `jobs` to its submitter; the other jobs stay in
/// `jobs`, in their order. What the submitter refuses goes to `answers`, to be given at once.
pub fn hand_over(
    sub: &mut dyn Submitter,
    jobs: &mut Vec<Job>,
    answers: &mut Vec<Reply>,
) -> HandedOver {
    let mut done = HandedOver::default();
    // In place: the vector keeps its capacity from round to round (taking it and letting
    // it drop made every round grow a fresh one, whose pages the allocator had given back).
    for job in jobs.extract_if(.., |j| matches!(j.kind, JobKind::Submit { .. })) {
        if let JobKind::Submit { plan, buf, body } = job.kind {
            match sub.submit(job.conn, plan, buf, body) {
                Ok(()) => done.taken += 1,
                Err(response) => {
                    if response.status == 503 {
                        done.overloaded += 1;
                    }
                    answers.push(Reply {
                        conn: job.conn,
                        response,
                    });
                }
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsc_wire::mms::MessageType;

    fn rules() -> SubmitRules {
        SubmitRules {
            local_prefixes: vec!["+35840".into()],
            default_expiry_secs: 3600,
            max_expiry_secs: 7200,
            limits: Limits::default(),
            refused: AtomicU64::new(0),
        }
    }

    fn send_req(to: &[&str], extra: impl FnOnce(&mut Pdu<'static>)) -> Vec<u8> {
        let mut p = Pdu::new(MessageType::SEND_REQ);
        p.push(field::TRANSACTION_ID, Value::Text(b"T1".to_vec().into()));
        p.push(field::MMS_VERSION, Value::Octet(0x92));
        p.push(field::FROM, Value::From(None));
        for t in to {
            p.push(
                field::TO,
                Value::Encoded(EncodedString::plain(t.as_bytes().to_vec())),
            );
        }
        p.push(
            field::SUBJECT,
            Value::Encoded(EncodedString::plain(b"line\r\nbreak".to_vec())),
        );
        extra(&mut p);
        p.canonicalize();
        p.content_type = Some(mmsc_wire::wsp::ContentType::new(
            mmsc_wire::wsp::MediaType::Text(b"text/plain".to_vec().into()),
        ));
        p.body = Some(mmsc_wire::wsp::Body::Data(b"hello".to_vec().into()));
        p.encode().unwrap()
    }

    fn plan(bytes: &[u8]) -> Result<SubmitPlan, (Vec<u8>, ResponseStatus)> {
        let r = rules();
        let (pdu, at) = Pdu::decode_located(bytes, &r.limits).unwrap();
        r.plan("+358401111111", Version::V1_2, &pdu, at, 1_000)
    }

    /// A submitter that takes submits from odd slots and refuses even ones with 503.
    struct OddOnly(Vec<u32>);

    impl Submitter for OddOnly {
        fn submit(
            &mut self,
            conn: ConnId,
            _plan: Box<SubmitPlan>,
            _buf: Vec<u8>,
            _body: Range<usize>,
        ) -> Result<(), Response> {
            if conn.slot % 2 == 1 {
                self.0.push(conn.slot);
                Ok(())
            } else {
                Err(Response::empty(503))
            }
        }
        fn completed(&mut self, _out: &mut Vec<Reply>) -> usize {
            0
        }
        fn has_completed(&self) -> bool {
            false
        }
        fn in_flight(&self) -> usize {
            self.0.len()
        }
    }

    /// Submits go to the submitter (its refusals to the answers), every other job stays in
    /// its order, and the jobs vector keeps its capacity.
    #[test]
    fn hand_over_takes_the_submits_and_keeps_the_rest_in_place() {
        let bytes = send_req(&["+358401234567/TYPE=PLMN"], |_| {});
        let planned = plan(&bytes).unwrap();
        let conn = |slot| ConnId {
            core: 0,
            slot,
            generation: 1,
        };
        let mut jobs: Vec<Job> = (0..8u32)
            .map(|slot| Job {
                conn: conn(slot),
                kind: if slot % 3 == 0 {
                    JobKind::Post {
                        msisdn: "+358401111111".into(),
                        message_type: MessageType::NOTIFYRESP_IND,
                        version: Version::V1_2,
                        buf: Vec::new(),
                        body: 0..0,
                    }
                } else {
                    JobKind::Submit {
                        plan: Box::new(planned.clone()),
                        buf: bytes.clone(),
                        body: 0..bytes.len(),
                    }
                },
            })
            .collect();
        let capacity = jobs.capacity();
        let mut sub = OddOnly(Vec::new());
        let mut answers = Vec::new();
        let done = hand_over(&mut sub, &mut jobs, &mut answers);
        // Submits: slots 1, 2, 4, 5, 7; the odd ones taken, the even ones refused.
        assert_eq!(sub.0, [1, 5, 7]);
        assert_eq!((done.taken, done.overloaded), (3, 2));
        let refused: Vec<(u32, u16)> = answers
            .iter()
            .map(|r| (r.conn.slot, r.response.status))
            .collect();
        assert_eq!(refused, [(2, 503), (4, 503)]);
        let left: Vec<u32> = jobs.iter().map(|j| j.conn.slot).collect();
        assert_eq!(left, [0, 3, 6]);
        assert!(jobs.iter().all(|j| matches!(j.kind, JobKind::Post { .. })));
        assert_eq!(jobs.capacity(), capacity);
        // Nothing to hand over: nothing changes.
        let again = hand_over(&mut sub, &mut jobs, &mut answers);
        assert_eq!((again.taken, again.overloaded), (0, 0));
        assert_eq!(jobs.len(), 3);
    }

    #[test]
    fn a_plan_has_local_and_remote_recipients_expiry_reports_and_subject() {
        let bytes = send_req(&["+358402222222/TYPE=PLMN", "+4670000000/TYPE=PLMN"], |p| {
            p.push(field::DELIVERY_REPORT, Value::Octet(0x80));
            p.push(field::EXPIRY, Value::Time(TimeValue::Relative(99_999)));
        });
        let p = plan(&bytes).unwrap();
        assert_eq!(p.tid, b"T1");
        assert_eq!(p.sender, "+358401111111");
        assert_eq!(p.recipients.len(), 2);
        assert_eq!(p.recipients[0].msisdn.as_deref(), Some("+358402222222"));
        assert_eq!(p.recipients[1].msisdn, None, "not served here");
        assert!(p.delivery_report && !p.read_report && !p.hide_sender);
        assert_eq!(p.expiry_at, 1_000 + 7200, "capped");
        assert_eq!(p.subject.unwrap().to_text().unwrap(), "line  break");
        assert_eq!(&bytes[p.body_offset as usize..], b"hello");
        let none = plan(&send_req(&["+358402222222/TYPE=PLMN"], |_| {})).unwrap();
        assert_eq!(none.expiry_at, 1_000 + 3600, "the default");
    }

    #[test]
    fn no_recipient_or_none_served_here_is_refused() {
        let (tid, st) = plan(&send_req(&[], |_| {})).unwrap_err();
        assert_eq!(
            (tid.as_slice(), st),
            (
                &b"T1"[..],
                ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT
            )
        );
        let (_, st) =
            plan(&send_req(&["+4670000000/TYPE=PLMN", "a@b.example"], |_| {})).unwrap_err();
        assert_eq!(
            st,
            ResponseStatus::ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address_msisdn("+358401234567/TYPE=PLMN").as_deref(),
            Some("+358401234567")
        );
        assert_eq!(
            address_msisdn("358401234567").as_deref(),
            Some("+358401234567")
        );
        assert_eq!(
            address_msisdn("+358500000000/TYPE=PLNM").as_deref(),
            Some("+358500000000")
        );
        assert_eq!(address_msisdn("user@example.com"), None);
        assert_eq!(address_msisdn("1.2.3.4/TYPE=IPv4"), None);
        // As it was before it stopped formatting.
        fn reference(addr: &str) -> Option<String> {
            let a = addr.trim();
            let num = match a.split_once('/') {
                Some((n, ty))
                    if ty.eq_ignore_ascii_case("TYPE=PLMN")
                        || ty.eq_ignore_ascii_case("TYPE=PLNM") =>
                {
                    n
                }
                Some(_) => return None,
                None if a.contains('@') => return None,
                None => a,
            };
            let digits = num.strip_prefix('+').unwrap_or(num);
            ((5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| format!("+{digits}"))
        }
        for number in [
            "",
            "+",
            "1234",
            "12345",
            "+12345",
            "++12345",
            "123456789012345",
            "1234567890123456",
            "+358401234567",
            "+35840 1234567",
            "35840123456a",
            "\u{e9}12345",
        ] {
            for suffix in [
                "",
                "/TYPE=PLMN",
                "/type=plnm",
                "/TYPE=IPv4",
                "/",
                "@x",
                "/TYPE=PLMN/",
            ] {
                for pad in ["", " ", "\t\n"] {
                    let a = format!("{pad}{number}{suffix}{pad}");
                    assert_eq!(address_msisdn(&a), reference(&a), "{a:?}");
                }
            }
        }
    }

    #[test]
    fn recipients_are_the_trimmed_addresses_in_to_cc_bcc_order() {
        let r = rules();
        let mut p = Pdu::new(mmsc_wire::mms::MessageType::SEND_REQ);
        let latin1 = EncodedString {
            charset: Some(mmsc_wire::charset::ISO_8859_1),
            text: b" +358409999999/TYPE=PLMN\xe9 ".to_vec().into(),
        };
        for (code, e) in [
            (
                field::BCC,
                EncodedString::plain(&b"+358403333333/TYPE=PLMN"[..]),
            ),
            (
                field::TO,
                EncodedString::plain(&b"  +358402222222/TYPE=PLMN\t"[..]),
            ),
            (field::CC, EncodedString::plain(&b"a@b.example"[..])),
            (field::TO, EncodedString::plain(&b"   "[..])),
            (
                field::TO,
                EncodedString::plain(&b"+4670000000/TYPE=PLMN"[..]),
            ),
            (field::CC, EncodedString::plain(&b"\xff+358404444444"[..])),
            (field::CC, EncodedString::plain(&b"+358404444444 "[..])),
            (field::TO, latin1),
        ] {
            p.push(code, Value::Encoded(e));
        }
        let got = r.recipients_of(&p);
        let want: Vec<(&str, Option<&str>, RecipientKind)> = vec![
            (
                "+358402222222/TYPE=PLMN",
                Some("+358402222222"),
                RecipientKind::To,
            ),
            ("+4670000000/TYPE=PLMN", None, RecipientKind::To),
            ("+358409999999/TYPE=PLMN\u{e9}", None, RecipientKind::To),
            ("a@b.example", None, RecipientKind::Cc),
            ("\u{fffd}+358404444444", None, RecipientKind::Cc),
            ("+358404444444", Some("+358404444444"), RecipientKind::Cc),
            (
                "+358403333333/TYPE=PLMN",
                Some("+358403333333"),
                RecipientKind::Bcc,
            ),
        ];
        let got: Vec<(&str, Option<&str>, RecipientKind)> = got
            .iter()
            .map(|r| (r.address.as_str(), r.msisdn.as_deref(), r.kind))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn subjects_lose_line_breaks() {
        let s = EncodedString::plain(b"a\r\nContent-Type: x".to_vec());
        assert_eq!(clean_subject(&s).to_text().unwrap(), "a  Content-Type: x");
        let s = EncodedString::plain(b"plain".to_vec());
        assert_eq!(clean_subject(&s), s);
    }
}
