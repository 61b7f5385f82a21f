//! A bounded reader over borrowed bytes, with the WSP / MMS primitive value encodings.
//!
//! Every length read from the wire is checked against the bytes present before it is used;
//! a sub-reader ([`Reader::sub`]) confines a value to its declared length. Nothing here
//! allocates, and nothing panics on any input.

use crate::error::{DecodeError, ErrorKind};

/// Quote octet that precedes a Text-string whose first character is >= 0x80.
pub const TEXT_QUOTE: u8 = 0x7F;
/// Quote octet that starts a Quoted-string.
pub const QUOTED_STRING: u8 = 0x22;
/// Length-quote: a uintvar length follows.
pub const LENGTH_QUOTE: u8 = 0x1F;

/// A cursor over `buf`, reporting errors at absolute offsets (`base` + position).
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole PDU (offsets count from its first octet).
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over `buf`, whose first octet is at absolute offset `base`.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// Absolute offset of the next octet.
    #[inline]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Octets not yet consumed.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything was consumed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unconsumed octets (not consumed by this call).
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Consume everything that remains.
    pub fn take_rest(&mut self) -> &'a [u8] {
        let r = self.rest();
        self.pos = self.buf.len();
        r
    }

    /// An error of `kind` at the current offset.
    #[inline]
    pub fn err(&self, kind: ErrorKind) -> DecodeError {
        DecodeError::new(kind, self.offset())
    }

    /// An error of `kind` at absolute offset `at`.
    #[inline]
    pub fn err_at(&self, kind: ErrorKind, at: usize) -> DecodeError {
        DecodeError::new(kind, at)
    }

    /// The next octet, not consumed.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The octet `n` places ahead, not consumed.
    #[inline]
    pub fn peek_at(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos + n).copied()
    }

    /// One octet.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.err(ErrorKind::Truncated { needed: 1 })),
        }
    }

    /// `n` octets.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let avail = self.remaining();
        if n > avail {
            return Err(self.err(ErrorKind::LengthOverrun {
                declared: n,
                available: avail,
            }));
        }
        let s = self.buf.get(self.pos..self.pos + n).unwrap_or(&[]);
        self.pos += n;
        Ok(s)
    }

    /// Skip `n` octets.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    /// A reader confined to the next `n` octets, which are consumed from this one.
    pub fn sub(&mut self, n: usize) -> Result<Reader<'a>, DecodeError> {
        let base = self.offset();
        let s = self.take(n)?;
        Ok(Reader::with_base(s, base))
    }

    /// uintvar: big-endian base-128, at most 5 octets, value below 2^32.
    pub fn uintvar(&mut self) -> Result<u32, DecodeError> {
        let start = self.offset();
        let mut v: u64 = 0;
        for _ in 0..5 {
            let b = self.u8()?;
            v = (v << 7) | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return u32::try_from(v).map_err(|_| self.err_at(ErrorKind::BadUintvar, start));
            }
        }
        Err(self.err_at(ErrorKind::BadUintvar, start))
    }

    /// uintvar as a length, checked against the bytes that remain.
    pub fn uintvar_len(&mut self) -> Result<usize, DecodeError> {
        let at = self.offset();
        let n = self.uintvar()? as usize;
        if n > self.remaining() {
            return Err(self.err_at(
                ErrorKind::LengthOverrun {
                    declared: n,
                    available: self.remaining(),
                },
                at,
            ));
        }
        Ok(n)
    }

    /// Value-length = Short-length (0..=30) | Length-quote uintvar; checked against what remains.
    pub fn value_length(&mut self) -> Result<usize, DecodeError> {
        let at = self.offset();
        let b = self.u8()?;
        let n = match b {
            0..=30 => usize::from(b),
            LENGTH_QUOTE => self.uintvar()? as usize,
            _ => {
                return Err(self.err_at(
                    ErrorKind::Unexpected {
                        byte: b,
                        what: "Value-length",
                    },
                    at,
                ));
            }
        };
        if n > self.remaining() {
            return Err(self.err_at(
                ErrorKind::LengthOverrun {
                    declared: n,
                    available: self.remaining(),
                },
                at,
            ));
        }
        Ok(n)
    }

    /// Value-length followed by that many octets, as a sub-reader.
    pub fn value_region(&mut self) -> Result<Reader<'a>, DecodeError> {
        let n = self.value_length()?;
        self.sub(n)
    }

    /// True if the next octet starts a Value-length (0..=31).
    pub fn at_value_length(&self) -> bool {
        matches!(self.peek(), Some(0..=LENGTH_QUOTE))
    }

    /// Short-integer: one octet with the high bit set; value 0..=127.
    pub fn short_integer(&mut self) -> Result<u8, DecodeError> {
        let at = self.offset();
        let b = self.u8()?;
        if b & 0x80 == 0 {
            return Err(self.err_at(
                ErrorKind::Unexpected {
                    byte: b,
                    what: "Short-integer",
                },
                at,
            ));
        }
        Ok(b & 0x7F)
    }

    /// Long-integer: Short-length (1..=30) then that many big-endian octets. Values above 64
    /// bits are refused.
    pub fn long_integer(&mut self) -> Result<u64, DecodeError> {
        let at = self.offset();
        let n = self.u8()?;
        if n > 30 {
            return Err(self.err_at(
                ErrorKind::Unexpected {
                    byte: n,
                    what: "Long-integer length",
                },
                at,
            ));
        }
        let n = usize::from(n);
        let bytes = self.take(n)?;
        // Leading zero octets do not count against the 64-bit limit.
        let significant = bytes
            .iter()
            .position(|&b| b != 0)
            .map_or(&[][..], |i| bytes.get(i..).unwrap_or(&[]));
        if n == 0 || significant.len() > 8 {
            return Err(self.err_at(ErrorKind::BadLongInteger(n), at));
        }
        Ok(significant
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }

    /// Integer-value: Short-integer | Long-integer.
    pub fn integer_value(&mut self) -> Result<u64, DecodeError> {
        match self.peek() {
            Some(b) if b & 0x80 != 0 => self.short_integer().map(u64::from),
            Some(_) => self.long_integer(),
            None => Err(self.err(ErrorKind::Truncated { needed: 1 })),
        }
    }

    /// Octets up to (not including) the next NUL, which is consumed.
    pub fn until_nul(&mut self) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest();
        match rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let s = rest.get(..i).unwrap_or(&[]);
                self.pos += i + 1;
                Ok(s)
            }
            None => Err(self.err(ErrorKind::Unterminated)),
        }
    }

    /// Text-string: [Quote 0x7F] *TEXT NUL. The quote, when present, is dropped.
    pub fn text_string(&mut self) -> Result<&'a [u8], DecodeError> {
        if self.peek() == Some(TEXT_QUOTE) {
            self.pos += 1;
        }
        self.until_nul()
    }

    /// Quoted-string: 0x22 *TEXT NUL (the leading quote is dropped). A plain Text-string is
    /// accepted too; the second value says whether the quote was there.
    pub fn quoted_string(&mut self) -> Result<(&'a [u8], bool), DecodeError> {
        if self.peek() == Some(QUOTED_STRING) {
            self.pos += 1;
            Ok((self.until_nul()?, true))
        } else {
            Ok((self.text_string()?, false))
        }
    }

    /// The raw octets of one generic WSP header value, whatever its field:
    /// Short-integer (1 octet) | Value-length + data | Text (to NUL, inclusive).
    pub fn raw_value(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        match self.peek() {
            None => return Err(self.err(ErrorKind::Truncated { needed: 1 })),
            Some(0..=LENGTH_QUOTE) => {
                let n = self.value_length()?;
                self.skip(n)?;
            }
            Some(0x20..=0x7F) => {
                self.until_nul()?;
            }
            Some(_) => self.pos += 1,
        }
        Ok(self.buf.get(start..self.pos).unwrap_or(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uintvar_forms() {
        assert_eq!(Reader::new(&[0x00]).uintvar().unwrap(), 0);
        assert_eq!(Reader::new(&[0x7F]).uintvar().unwrap(), 127);
        assert_eq!(Reader::new(&[0x81, 0x00]).uintvar().unwrap(), 128);
        assert_eq!(
            Reader::new(&[0x8F, 0xFF, 0xFF, 0xFF, 0x7F])
                .uintvar()
                .unwrap(),
            u32::MAX
        );
        // 2^32 does not fit.
        assert_eq!(
            Reader::new(&[0x90, 0x80, 0x80, 0x80, 0x00])
                .uintvar()
                .unwrap_err()
                .kind,
            ErrorKind::BadUintvar
        );
        // six octets
        assert_eq!(
            Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
                .uintvar()
                .unwrap_err()
                .kind,
            ErrorKind::BadUintvar
        );
        assert!(matches!(
            Reader::new(&[0x81]).uintvar().unwrap_err().kind,
            ErrorKind::Truncated { .. }
        ));
    }

    #[test]
    fn value_length_checked_against_input() {
        let mut r = Reader::new(&[0x03, 1, 2]);
        let e = r.value_length().unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(matches!(
            e.kind,
            ErrorKind::LengthOverrun {
                declared: 3,
                available: 2
            }
        ));
        let mut r = Reader::new(&[0x1F, 0x81, 0x00]);
        assert!(r.value_length().is_err());
        let mut r = Reader::new(&[0x1F, 0x02, 9, 9]);
        assert_eq!(r.value_length().unwrap(), 2);
        let mut r = Reader::new(&[0x20]);
        assert!(r.value_length().is_err());
    }

    #[test]
    fn long_integer_examples() {
        // From PROTOCOLS.md: 02 40 00 = 16384; 04 4D 99 92 5E = 1301910110.
        assert_eq!(
            Reader::new(&[0x02, 0x40, 0x00]).long_integer().unwrap(),
            16384
        );
        assert_eq!(
            Reader::new(&[0x04, 0x4D, 0x99, 0x92, 0x5E])
                .long_integer()
                .unwrap(),
            1_301_910_110
        );
        assert!(Reader::new(&[0x00]).long_integer().is_err());
        // 9 significant octets do not fit 64 bits; 9 with a leading zero do.
        assert!(
            Reader::new(&[9, 1, 0, 0, 0, 0, 0, 0, 0, 0])
                .long_integer()
                .is_err()
        );
        assert_eq!(
            Reader::new(&[9, 0, 0, 0, 0, 0, 0, 0, 1, 2])
                .long_integer()
                .unwrap(),
            258
        );
    }

    #[test]
    fn integer_value_and_text() {
        assert_eq!(Reader::new(&[0x83]).integer_value().unwrap(), 3);
        assert_eq!(Reader::new(&[0x01, 0xFF]).integer_value().unwrap(), 255);
        let mut r = Reader::new(b"\x7f\xc3\xa9t\xc3\xa9\0rest");
        assert_eq!(r.text_string().unwrap(), "été".as_bytes());
        assert_eq!(r.rest(), b"rest");
        assert_eq!(
            Reader::new(b"abc").text_string().unwrap_err().kind,
            ErrorKind::Unterminated
        );
        let (s, q) = Reader::new(b"\"<id>\0").quoted_string().unwrap();
        assert_eq!((s, q), (&b"<id>"[..], true));
    }

    #[test]
    fn sub_reader_reports_absolute_offsets() {
        let data = [0x05, 0, 0, 0, 0, 0];
        let mut r = Reader::new(&data);
        let mut s = r.value_region().unwrap();
        s.skip(4).unwrap();
        assert_eq!(s.offset(), 5);
        let e = s.take(2).unwrap_err();
        assert_eq!(e.offset, 5);
    }

    #[test]
    fn raw_values() {
        let mut r = Reader::new(&[0x84, 0x02, 1, 2, b'a', 0, 0x9F]);
        assert_eq!(r.raw_value().unwrap(), &[0x84]);
        assert_eq!(r.raw_value().unwrap(), &[0x02, 1, 2]);
        assert_eq!(r.raw_value().unwrap(), &[b'a', 0]);
        assert_eq!(r.raw_value().unwrap(), &[0x9F]);
        assert!(r.raw_value().is_err());
    }
}
