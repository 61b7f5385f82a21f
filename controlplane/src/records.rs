//! Payloads of the store records the control plane writes, and their binary encoding.
//!
//! Every payload starts with a format version octet. Strings are length-prefixed (u16),
//! integers little-endian. Decoding is bounded and returns `None` on anything malformed (a
//! record that passed its CRC but does not decode is a bug, reported at recovery).

/// A message, with its recipients and the m-send-req as received.
pub const MESSAGE: u8 = 1;
/// A recipient's state changed.
pub const STATE: u8 = 2;
/// A push to send (a report), until its [`PUSH_DONE`].
pub const OUTBOX: u8 = 3;
/// A push of the outbox is done (delivered, or given up).
pub const PUSH_DONE: u8 = 4;
/// A message is removed (expired or finished).
pub const REMOVED: u8 = 5;
/// Recipients notified (their notification handed to the gateway), many in one record: the
/// Notified states of a batch of push results. Applies only to recipients still Pending.
pub const NOTIFIED: u8 = 6;

const FORMAT: u8 = 1;

/// Where a recipient is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecipientState {
    /// Not yet notified.
    Pending = 0,
    /// Notification handed to the push gateway.
    Notified = 1,
    /// The handset retrieved the message (notifyresp Retrieved or acknowledge).
    Retrieved = 2,
    /// The handset rejected it.
    Rejected = 3,
    /// The handset will retrieve it later.
    Deferred = 4,
    /// The handset did not recognise the notification.
    Unrecognised = 5,
    /// Expired before retrieval.
    Expired = 6,
    /// The notification could not be pushed (permanent error).
    Unreachable = 7,
    /// Not served by this MMSC (no local subscriber); kept for the record.
    NotLocal = 8,
}

impl RecipientState {
    /// From its octet.
    pub fn from_u8(v: u8) -> Option<Self> {
        use RecipientState::*;
        Some(match v {
            0 => Pending,
            1 => Notified,
            2 => Retrieved,
            3 => Rejected,
            4 => Deferred,
            5 => Unrecognised,
            6 => Expired,
            7 => Unreachable,
            8 => NotLocal,
            _ => return None,
        })
    }

    /// No further change is expected (the message may still be re-fetched until expiry).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RecipientState::Retrieved
                | RecipientState::Rejected
                | RecipientState::Expired
                | RecipientState::Unrecognised
                | RecipientState::NotLocal
        )
    }
}

/// The recipients of a message, as the submit rules (on a core or here) found them.
pub use mmsc_dataplane::submit::{Recipient, RecipientKind};

/// A message's internal id (24 hex digits): shared by the maps that refer to the message.
pub type Id = std::sync::Arc<str>;

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Internal id (also the prefix of tokens and Message-ID). Shared: the service's maps
    /// hold it by reference count, not by copy.
    pub id: Id,
    /// When it was accepted (seconds since the epoch).
    pub received_at: u64,
    /// When it expires.
    pub expiry_at: u64,
    /// The originator (MSISDN).
    pub sender: Box<str>,
    /// MMS version the originator spoke (0x10 = 1.0).
    pub version: u8,
    /// The originator asked for delivery reports.
    pub delivery_report: bool,
    /// The originator asked for read reports.
    pub read_report: bool,
    /// The originator asked to hide its address.
    pub hide_sender: bool,
    /// Recipients.
    pub recipients: Vec<Recipient>,
    /// Where the body starts in the PDU.
    pub body_offset: u32,
}

/// A recipient's state change, with the report it triggers (if any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRecord {
    /// Message id.
    pub id: String,
    /// Recipient index.
    pub recipient: u16,
    /// New state.
    pub state: RecipientState,
    /// When.
    pub at: u64,
    /// The recipient forbade reports (Report-Allowed: No).
    pub report_denied: bool,
}

/// A push in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Job id (unique).
    pub job: u64,
    /// Target MSISDN.
    pub msisdn: String,
    /// Give up after this time.
    pub expires_at: u64,
    /// The PDU to push.
    pub pdu: Vec<u8>,
}

#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn new() -> Self {
        Enc(vec![FORMAT])
    }
    /// Room for `n` octets after the format octet: one allocation, no regrowth.
    fn with_capacity(n: usize) -> Self {
        let mut v = Vec::with_capacity(1 + n);
        v.push(FORMAT);
        Enc(v)
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        let n = b.len().min(u16::MAX as usize);
        self.u16(n as u16);
        self.0.extend_from_slice(b.get(..n).unwrap_or(&[]));
        self
    }
    fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.u8(1).str(s),
            None => self.u8(0),
        }
    }
}

struct Dec<'a>(&'a [u8]);

impl<'a> Dec<'a> {
    fn new(b: &'a [u8]) -> Option<Self> {
        let (&v, rest) = b.split_first()?;
        (v == FORMAT).then_some(Dec(rest))
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
    fn rest(&self) -> &'a [u8] {
        self.0
    }
}

impl MessageRecord {
    /// Encode the metadata; the PDU follows it in the record (see [`MessageRecord::decode`]).
    pub fn encode_meta(&self) -> Vec<u8> {
        // Its size: the fixed fields, the strings with their lengths, and per recipient an
        // address, an optional MSISDN and a kind.
        let size = 2 + self.id.len() + 8 + 8 + 2 + self.sender.len() + 1 + 1 + 4 + 2;
        let size = self.recipients.iter().fold(size, |n, r| {
            n + 2 + r.address.len() + 1 + r.msisdn.as_ref().map_or(0, |m| 2 + m.len()) + 1
        });
        let mut e = Enc::with_capacity(size);
        e.str(&self.id)
            .u64(self.received_at)
            .u64(self.expiry_at)
            .str(&self.sender)
            .u8(self.version)
            .u8(u8::from(self.delivery_report)
                | u8::from(self.read_report) << 1
                | u8::from(self.hide_sender) << 2)
            .u32(self.body_offset)
            .u16(self.recipients.len().min(u16::MAX as usize) as u16);
        for r in self.recipients.iter().take(u16::MAX as usize) {
            e.str(&r.address).opt(r.msisdn.as_deref()).u8(r.kind as u8);
        }
        e.0
    }

    /// Decode a record payload: the metadata and where the PDU starts in the payload.
    pub fn decode(payload: &[u8]) -> Option<(MessageRecord, usize)> {
        let mut d = Dec::new(payload)?;
        let id = Id::from(d.str()?);
        let received_at = d.u64()?;
        let expiry_at = d.u64()?;
        let sender = d.str()?;
        let version = d.u8()?;
        let flags = d.u8()?;
        let body_offset = d.u32()?;
        let n = d.u16()?;
        let mut recipients = Vec::with_capacity(usize::from(n).min(1024));
        for _ in 0..n {
            let address = d.str()?;
            let msisdn = d.opt()?;
            let kind = match d.u8()? {
                0 => RecipientKind::To,
                1 => RecipientKind::Cc,
                2 => RecipientKind::Bcc,
                _ => return None,
            };
            recipients.push(Recipient {
                address,
                msisdn,
                kind,
            });
        }
        let pdu_at = payload.len() - d.rest().len();
        Some((
            MessageRecord {
                id,
                received_at,
                expiry_at,
                sender: sender.into_boxed_str(),
                version,
                delivery_report: flags & 1 != 0,
                read_report: flags & 2 != 0,
                hide_sender: flags & 4 != 0,
                recipients,
                body_offset,
            },
            pdu_at,
        ))
    }
}

impl StateRecord {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.str(&self.id)
            .u16(self.recipient)
            .u8(self.state as u8)
            .u64(self.at)
            .u8(u8::from(self.report_denied));
        e.0
    }

    /// Decode.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut d = Dec::new(b)?;
        Some(StateRecord {
            id: d.str()?,
            recipient: d.u16()?,
            state: RecipientState::from_u8(d.u8()?)?,
            at: d.u64()?,
            report_denied: d.u8()? != 0,
        })
    }
}

impl OutboxRecord {
    /// Encode.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::new();
        e.u64(self.job).str(&self.msisdn).u64(self.expires_at);
        e.0.extend_from_slice(&self.pdu);
        e.0
    }

    /// Decode.
    pub fn decode(b: &[u8]) -> Option<Self> {
        let mut d = Dec::new(b)?;
        Some(OutboxRecord {
            job: d.u64()?,
            msisdn: d.str()?,
            expires_at: d.u64()?,
            pdu: d.rest().to_vec(),
        })
    }
}

/// Encode a PUSH_DONE payload.
pub fn encode_push_done(job: u64) -> Vec<u8> {
    let mut e = Enc::new();
    e.u64(job);
    e.0
}

/// Decode a PUSH_DONE payload.
pub fn decode_push_done(b: &[u8]) -> Option<u64> {
    Dec::new(b)?.u64()
}

/// Encode a NOTIFIED payload: (message id, recipient index) of each.
pub fn encode_notified(list: &[(Id, u16)]) -> Vec<u8> {
    let mut e = Enc::new();
    e.u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
    for (id, r) in list.iter().take(u32::MAX as usize) {
        e.str(id).u16(*r);
    }
    e.0
}

/// Decode a NOTIFIED payload.
pub fn decode_notified(b: &[u8]) -> Option<Vec<(String, u16)>> {
    let mut d = Dec::new(b)?;
    let n = d.u32()?;
    let mut out = Vec::with_capacity((n as usize).min(4096));
    for _ in 0..n {
        let id = d.str()?;
        out.push((id, d.u16()?));
    }
    d.rest().is_empty().then_some(out)
}

/// Encode a REMOVED payload.
pub fn encode_removed(id: &str) -> Vec<u8> {
    let mut e = Enc::new();
    e.str(id);
    e.0
}

/// Decode a REMOVED payload.
pub fn decode_removed(b: &[u8]) -> Option<String> {
    Dec::new(b)?.str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = MessageRecord {
            id: "abc".into(),
            received_at: 1,
            expiry_at: 2,
            sender: "+3584011".into(),
            version: 0x12,
            delivery_report: true,
            read_report: false,
            hide_sender: true,
            recipients: vec![
                Recipient {
                    address: "+3584022/TYPE=PLMN".into(),
                    msisdn: Some("+3584022".into()),
                    kind: RecipientKind::To,
                },
                Recipient {
                    address: "a@b".into(),
                    msisdn: None,
                    kind: RecipientKind::Bcc,
                },
            ],
            body_offset: 40,
        };
        let mut payload = m.encode_meta();
        // Sized once, exactly.
        assert_eq!(payload.len(), payload.capacity());
        payload.extend_from_slice(b"PDU");
        let (back, at) = MessageRecord::decode(&payload).unwrap();
        assert_eq!(back, m);
        assert_eq!(&payload[at..], b"PDU");
        let s = StateRecord {
            id: "abc".into(),
            recipient: 1,
            state: RecipientState::Deferred,
            at: 9,
            report_denied: true,
        };
        assert_eq!(StateRecord::decode(&s.encode()).unwrap(), s);
        let o = OutboxRecord {
            job: 7,
            msisdn: "+1".into(),
            expires_at: 3,
            pdu: vec![1, 2, 3],
        };
        assert_eq!(OutboxRecord::decode(&o.encode()).unwrap(), o);
        assert_eq!(decode_push_done(&encode_push_done(5)), Some(5));
        assert_eq!(decode_removed(&encode_removed("x")).as_deref(), Some("x"));
        let list: Vec<(Id, u16)> = vec![("a".into(), 0), ("bc".into(), 7)];
        assert_eq!(
            decode_notified(&encode_notified(&list)),
            Some(vec![("a".to_string(), 0), ("bc".to_string(), 7)])
        );
        let enc = encode_notified(&list);
        assert_eq!(decode_notified(&enc[..enc.len() - 1]), None, "truncated");
        let mut longer = enc.clone();
        longer.push(0);
        assert_eq!(decode_notified(&longer), None, "trailing octets");
        // Truncations never panic and never decode.
        for n in 0..payload.len() - 3 {
            assert!(MessageRecord::decode(&payload[..n]).is_none(), "{n}");
        }
        assert!(StateRecord::decode(&[2]).is_none());
    }
}
