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

/// A message's internal id: 96 bits, written as 24 lowercase hex digits (the time in
/// seconds, 40 bits; a counter, 24 bits; the holder's nonce, 32 bits).
///
/// A value, not text: the maps that refer to a message copy it (12 octets, no allocation, no
/// reference count) and hash and compare two integers. Its order is that of its text (the
/// number, most significant first). Held as a u64 and a u32 packed to a 4-octet alignment
/// (a `u128` would be aligned to 16 octets, and the push keys, heap entries and tables that
/// hold it would grow with the padding).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, packed(4))]
pub struct Id {
    /// The time (high 40 bits), then the counter (low 24 bits).
    hi: u64,
    /// The nonce.
    lo: u32,
}

/// Hex digits of an [`Id`]'s text.
const ID_DIGITS: usize = 24;

impl Id {
    /// The id of all zeros: the placeholder of a record not yet given its id.
    pub const ZERO: Id = Id { hi: 0, lo: 0 };

    /// The id of (`time`, `counter`, `nonce`): their low 40, 24 and 32 bits.
    pub fn from_parts(time: u64, counter: u64, nonce: u32) -> Id {
        Id {
            hi: (time & 0xFF_FFFF_FFFF) << 24 | (counter & 0xFF_FFFF),
            lo: nonce,
        }
    }

    /// The id as a number (96 bits).
    pub fn value(self) -> u128 {
        u128::from(self.hi) << 32 | u128::from(self.lo)
    }

    /// The id of a number (its low 96 bits).
    pub fn from_value(v: u128) -> Id {
        Id {
            hi: (v >> 32) as u64,
            lo: v as u32,
        }
    }

    /// The id of its text: exactly 24 lowercase hex digits, else `None`.
    pub fn parse(text: &str) -> Option<Id> {
        Id::parse_ascii(text.as_bytes())
    }

    /// [`Id::parse`] of octets.
    pub fn parse_ascii(text: &[u8]) -> Option<Id> {
        if text.len() != ID_DIGITS {
            return None;
        }
        let mut v: u128 = 0;
        for &c in text {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = v << 4 | u128::from(d);
        }
        Some(Id::from_value(v))
    }

    /// Its text (24 lowercase hex digits), without allocating.
    pub fn text(self) -> IdText {
        let mut out = [0u8; ID_DIGITS];
        let mut v = self.value();
        for d in out.iter_mut().rev() {
            *d = HEX.get((v & 0xf) as usize).copied().unwrap_or(b'0');
            v >>= 4;
        }
        IdText(out)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.text().as_str())
    }
}

/// As its text, quoted (as the text ids were).
impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.text().as_str(), f)
    }
}

/// An [`Id`]'s text, on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdText([u8; ID_DIGITS]);

impl IdText {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Always hex digits: never the default.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::ops::Deref for IdText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for IdText {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Internal id (also the prefix of tokens and Message-ID).
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
    pub id: Id,
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
    /// An id, as its text (the format stores ids as strings).
    fn id(&mut self, id: Id) -> &mut Self {
        self.str(id.text().as_str())
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
    /// An id's text: one that does not parse is malformed.
    fn id(&mut self) -> Option<Id> {
        let n = self.u16()? as usize;
        Id::parse_ascii(self.take(n)?)
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
        let size = 2 + ID_DIGITS + 8 + 8 + 2 + self.sender.len() + 1 + 1 + 4 + 2;
        let size = self.recipients.iter().fold(size, |n, r| {
            n + 2 + r.address.len() + 1 + r.msisdn.as_ref().map_or(0, |m| 2 + m.len()) + 1
        });
        let mut e = Enc::with_capacity(size);
        e.id(self.id)
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
        let id = d.id()?;
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
        e.id(self.id)
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
            id: d.id()?,
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
    for &(id, r) in list.iter().take(u32::MAX as usize) {
        e.id(id).u16(r);
    }
    e.0
}

/// Decode a NOTIFIED payload.
pub fn decode_notified(b: &[u8]) -> Option<Vec<(Id, u16)>> {
    let mut d = Dec::new(b)?;
    let n = d.u32()?;
    let mut out = Vec::with_capacity((n as usize).min(4096));
    for _ in 0..n {
        let id = d.id()?;
        out.push((id, d.u16()?));
    }
    d.rest().is_empty().then_some(out)
}

/// Encode a REMOVED payload.
pub fn encode_removed(id: Id) -> Vec<u8> {
    let mut e = Enc::new();
    e.id(id);
    e.0
}

/// Decode a REMOVED payload.
pub fn decode_removed(b: &[u8]) -> Option<Id> {
    Dec::new(b)?.id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = Id::parse("00699a5c10000001c0ffee42").unwrap();
        let m = MessageRecord {
            id,
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
            id,
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
        assert_eq!(decode_removed(&encode_removed(id)), Some(id));
        let a = Id::parse("0000000000000000000000aa").unwrap();
        let bc = Id::parse("ffffffffff0000070000000b").unwrap();
        let list: Vec<(Id, u16)> = vec![(a, 0), (bc, 7)];
        assert_eq!(
            decode_notified(&encode_notified(&list)),
            Some(vec![(a, 0), (bc, 7)])
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

    /// Ids are written as their 24-digit text, as they always were.
    #[test]
    fn ids_are_stored_as_their_text() {
        let id = Id::parse("0123456789abcdef01234567").unwrap();
        let mut expected = vec![FORMAT, 24, 0];
        expected.extend_from_slice(b"0123456789abcdef01234567");
        assert_eq!(encode_removed(id), expected);
        let s = StateRecord {
            id,
            recipient: 3,
            state: RecipientState::Retrieved,
            at: 5,
            report_denied: false,
        };
        assert!(s.encode().starts_with(&expected));
        let m = bare_record(id);
        let meta = m.encode_meta();
        assert!(meta.starts_with(&expected));
        assert_eq!(meta.len(), meta.capacity());
    }

    /// A message record with `id`, no recipients, the other fields small.
    fn bare_record(id: Id) -> MessageRecord {
        MessageRecord {
            id,
            received_at: 1,
            expiry_at: 2,
            sender: "+1".into(),
            version: 0x12,
            delivery_report: false,
            read_report: false,
            hide_sender: false,
            recipients: Vec::new(),
            body_offset: 0,
        }
    }

    /// A record whose id is not an id's text does not decode (as any corrupt record).
    #[test]
    fn records_with_bad_ids_do_not_decode() {
        let good = Id::parse("0123456789abcdef01234567").unwrap();
        let bad: [&[u8]; 7] = [
            b"",
            b"abc",
            b"0123456789abcdef0123456",
            b"0123456789abcdef012345678",
            b"0123456789ABCDEF01234567",
            b"0123456789abcdeg01234567",
            b"0123456789abcdef012345\xc3\xa9",
        ];
        for text in bad {
            let with_id = |rest: &[u8]| {
                let mut e = Enc::new();
                e.u16(text.len() as u16);
                e.0.extend_from_slice(text);
                e.0.extend_from_slice(rest);
                e.0
            };
            assert_eq!(decode_removed(&with_id(&[])), None, "{text:?}");
            let state = StateRecord {
                id: good,
                recipient: 1,
                state: RecipientState::Rejected,
                at: 9,
                report_denied: false,
            }
            .encode();
            assert!(StateRecord::decode(&state).is_some());
            assert_eq!(StateRecord::decode(&with_id(&state[27..])), None);
            let m = bare_record(good).encode_meta();
            assert!(MessageRecord::decode(&m).is_some());
            assert_eq!(MessageRecord::decode(&with_id(&m[27..])), None);
            let mut notified = Enc::new();
            notified.u32(2).id(good).u16(0).u16(text.len() as u16);
            notified.0.extend_from_slice(text);
            notified.u16(1);
            assert_eq!(decode_notified(&notified.0), None);
        }
    }

    /// A small deterministic generator (splitmix64), for the property tests below.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// A 96-bit value, often with long runs of zeros or ones.
        fn value(&mut self) -> u128 {
            let v = (u128::from(self.next()) << 64 | u128::from(self.next())) & ID_MASK;
            match self.next() % 4 {
                0 => v >> (self.next() % 96),
                1 => (v | (ID_MASK >> (self.next() % 96))) & ID_MASK,
                _ => v,
            }
        }
    }

    const ID_MASK: u128 = (1 << 96) - 1;

    fn old_text(v: u128) -> String {
        // The text ids were: "{:010x}{:06x}{:08x}" of (time, counter, nonce).
        format!(
            "{:010x}{:06x}{:08x}",
            v >> 56,
            (v >> 32) & 0xFF_FFFF,
            v & 0xFFFF_FFFF
        )
    }

    #[test]
    fn id_text_round_trips() {
        let mut rng = Rng(1);
        let mut values = vec![0, 1, ID_MASK, ID_MASK - 1, 1 << 95, (1 << 95) - 1];
        values.extend((0..20_000).map(|_| rng.value()));
        for v in values {
            let id = Id::from_value(v);
            assert_eq!(id.value(), v);
            let text = old_text(v);
            assert_eq!(id.text().as_str(), text);
            assert_eq!(&*id.text(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(format!("{id:?}"), format!("{text:?}"));
            assert_eq!(Id::parse(&text), Some(id), "{text}");
            assert_eq!(Id::parse_ascii(text.as_bytes()), Some(id));
        }
        assert_eq!(Id::ZERO.to_string(), "000000000000000000000000");
        assert_eq!(
            Id::from_value(ID_MASK).to_string(),
            "ffffffffffffffffffffffff"
        );
        assert_eq!(
            Id::parse("ffffffffffffffffffffffff").map(Id::value),
            Some(ID_MASK)
        );
        assert_eq!(Id::parse("000000000000000000000000"), Some(Id::ZERO));
        // Bits above the 96th are not part of an id.
        assert_eq!(Id::from_value(u128::MAX), Id::from_value(ID_MASK));
        assert_eq!(size_of::<Id>(), 12);
    }

    #[test]
    fn ids_are_their_parts() {
        let mut rng = Rng(2);
        for _ in 0..10_000 {
            let (t, c, n) = (rng.next(), rng.next(), rng.next() as u32);
            let id = Id::from_parts(t, c, n);
            let text = format!("{:010x}{:06x}{:08x}", t & 0xFF_FFFF_FFFF, c & 0xFF_FFFF, n);
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn ids_order_as_their_text() {
        let mut rng = Rng(3);
        for i in 0..20_000 {
            let a = rng.value();
            // Some pairs share a prefix, some are equal.
            let b = match i % 4 {
                0 => a,
                1 => a ^ (1 << (rng.next() % 96)),
                _ => rng.value(),
            };
            let (x, y) = (Id::from_value(a), Id::from_value(b));
            assert_eq!(x.cmp(&y), old_text(a).cmp(&old_text(b)), "{x} {y}");
            assert_eq!(x.cmp(&y), a.cmp(&b));
            assert_eq!(x == y, a == b);
            assert_eq!(x.partial_cmp(&y), Some(x.cmp(&y)));
            // As the expiry heap orders: by time, then id.
            assert_eq!((5u64, x).cmp(&(5u64, y)), old_text(a).cmp(&old_text(b)));
        }
    }

    #[test]
    fn only_24_lowercase_hex_digits_are_ids() {
        let good = "0123456789abcdef01234567";
        assert!(Id::parse(good).is_some());
        for bad in [
            "",
            "0",
            "0123456789abcdef0123456",
            "0123456789abcdef012345678",
            "00123456789abcdef01234567",
            "0123456789ABCDEF01234567",
            "0123456789abcdeF01234567",
            "0123456789abcdeg01234567",
            "0123456789abcdef0123456 ",
            " 0123456789abcdef0123456",
            "+123456789abcdef01234567",
            "-123456789abcdef01234567",
            "0x23456789abcdef01234567",
            "0123456789abcdef0123456\u{e9}",
            "0123456789abcdef012345\u{e9}",
            "0123456789abcdef01234\u{20ac}",
            "0123456789abcdef0123456\u{0}",
            "\u{ff10}123456789abcdef0123456",
        ] {
            assert_eq!(Id::parse(bad), None, "{bad:?}");
            assert_eq!(Id::parse_ascii(bad.as_bytes()), None, "{bad:?}");
        }
        // Every octet that is not a lowercase hex digit, in every place.
        for at in 0..24 {
            for c in 0..=255u8 {
                let mut text = *b"0123456789abcdef01234567";
                text[at] = c;
                let ok = c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
                assert_eq!(Id::parse_ascii(&text).is_some(), ok, "{at} {c}");
            }
        }
    }
}
