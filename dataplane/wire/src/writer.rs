//! Encoders of the WSP / MMS primitive values, appending to a `Vec<u8>`.

use crate::error::EncodeError;
use crate::reader::{LENGTH_QUOTE, QUOTED_STRING, TEXT_QUOTE};

/// The octets of a uintvar, in `tmp[start..]`.
fn uintvar_octets(v: u32) -> ([u8; 5], usize) {
    let mut tmp = [0u8; 5];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        let cont = if i == tmp.len() - 1 { 0 } else { 0x80 };
        if let Some(slot) = tmp.get_mut(i) {
            *slot = (v & 0x7F) as u8 | cont;
        }
        v >>= 7;
        if v == 0 || i == 0 {
            break;
        }
    }
    (tmp, i)
}

/// Append a uintvar.
pub fn uintvar(out: &mut Vec<u8>, v: u32) {
    let (tmp, i) = uintvar_octets(v);
    out.extend_from_slice(tmp.get(i..).unwrap_or(&[]));
}

/// Number of octets [`uintvar`] writes for `v`.
pub fn uintvar_len(v: u32) -> usize {
    match v {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        0x20_0000..=0xFFF_FFFF => 4,
        _ => 5,
    }
}

/// Append a Value-length (Short-length, or Length-quote + uintvar).
pub fn value_length(out: &mut Vec<u8>, len: usize, what: &'static str) -> Result<(), EncodeError> {
    if len <= 30 {
        out.push(len as u8);
    } else {
        let v = u32::try_from(len).map_err(|_| EncodeError::OutOfRange(what))?;
        out.push(LENGTH_QUOTE);
        uintvar(out, v);
    }
    Ok(())
}

/// Append the output of `f`, preceded by its Value-length.
pub fn with_value_length<F>(out: &mut Vec<u8>, what: &'static str, f: F) -> Result<(), EncodeError>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
{
    // A one-octet Short-length is reserved and filled in afterwards (the usual case); a
    // longer value has the Length-quote and uintvar put in its place.
    let at = out.len();
    out.push(0);
    let start = out.len();
    f(out)?;
    let len = out.len() - start;
    if len <= 30 {
        if let Some(slot) = out.get_mut(at) {
            *slot = len as u8;
        }
    } else {
        let v = u32::try_from(len).map_err(|_| EncodeError::OutOfRange(what))?;
        let (tmp, i) = uintvar_octets(v);
        let uv = tmp.get(i..).unwrap_or(&[]);
        out.splice(
            at..start,
            std::iter::once(LENGTH_QUOTE).chain(uv.iter().copied()),
        );
    }
    Ok(())
}

/// Append a Short-integer (0..=127).
pub fn short_integer(out: &mut Vec<u8>, v: u8, what: &'static str) -> Result<(), EncodeError> {
    if v > 0x7F {
        return Err(EncodeError::OutOfRange(what));
    }
    out.push(0x80 | v);
    Ok(())
}

/// Append a Long-integer in its shortest form.
pub fn long_integer(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|&&b| b == 0).count();
    let sig = bytes.get(skip..).unwrap_or(&[]);
    out.push(sig.len() as u8);
    out.extend_from_slice(sig);
}

/// Append an Integer-value: Short-integer when below 128, else Long-integer.
pub fn integer_value(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(0x80 | v as u8);
    } else {
        long_integer(out, v);
    }
}

fn check_text(s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    if s.contains(&0) {
        return Err(EncodeError::NulInText(what));
    }
    Ok(())
}

/// Append a Text-string: the quote 0x7F when the first octet is >= 0x80, the text, NUL.
pub fn text_string(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    check_text(s, what)?;
    // The quote is required before an octet >= 0x80, and needed before a leading 0x7F (a
    // reader would take it for the quote) or a control octet (a reader would take it for a
    // Value-length).
    if s.first().is_some_and(|&b| !(0x20..0x7F).contains(&b)) {
        out.push(TEXT_QUOTE);
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

/// Append a Quoted-string: 0x22, the text, NUL.
pub fn quoted_string(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    check_text(s, what)?;
    out.push(QUOTED_STRING);
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

/// True if `s` is a non-empty RFC 2616 token (what Token-text may carry).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c > 0x20
                && c < 0x7F
                && !matches!(
                    c,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

/// Append a Token-text (token, NUL). The token must start with an octet 0x20..=0x7E so that it
/// is not read back as another form; header names and parameter names use this.
pub fn token_text(out: &mut Vec<u8>, s: &[u8], what: &'static str) -> Result<(), EncodeError> {
    check_text(s, what)?;
    match s.first() {
        Some(&c) if (0x20..0x7F).contains(&c) => {}
        _ => return Err(EncodeError::BadToken(what)),
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Reader;

    #[test]
    fn uintvar_round_trip() {
        for v in [
            0u32,
            1,
            127,
            128,
            16383,
            16384,
            0x1F_FFFF,
            0x20_0000,
            u32::MAX,
        ] {
            let mut out = Vec::new();
            uintvar(&mut out, v);
            assert_eq!(out.len(), uintvar_len(v), "{v}");
            assert_eq!(Reader::new(&out).uintvar().unwrap(), v);
        }
    }

    #[test]
    fn integers() {
        let mut out = Vec::new();
        long_integer(&mut out, 16384);
        assert_eq!(out, [0x02, 0x40, 0x00]);
        out.clear();
        long_integer(&mut out, 0);
        assert_eq!(out, [0x01, 0x00]);
        out.clear();
        integer_value(&mut out, 3);
        assert_eq!(out, [0x83]);
        out.clear();
        long_integer(&mut out, u64::MAX);
        assert_eq!(Reader::new(&out).long_integer().unwrap(), u64::MAX);
    }

    #[test]
    fn value_lengths() {
        let mut out = Vec::new();
        with_value_length(&mut out, "t", |o| {
            o.extend_from_slice(&[7; 40]);
            Ok(())
        })
        .unwrap();
        assert_eq!(&out[..2], &[0x1F, 40]);
        assert_eq!(Reader::new(&out).value_length().unwrap(), 40);
        // Every length, behind other octets: the Value-length then the value, as
        // `value_length` writes it.
        for len in (0..=300).chain([16_383, 16_384, 70_000]) {
            let mut out = vec![0xAA, 0xBB];
            with_value_length(&mut out, "t", |o| {
                o.extend((0..len).map(|i| i as u8));
                Ok(())
            })
            .unwrap();
            let mut want = vec![0xAA, 0xBB];
            value_length(&mut want, len, "t").unwrap();
            want.extend((0..len).map(|i| i as u8));
            assert_eq!(out, want, "{len}");
        }
        // Nested, and an error inside is passed on.
        let mut out = Vec::new();
        with_value_length(&mut out, "t", |o| {
            o.push(1);
            with_value_length(o, "u", |p| {
                p.extend_from_slice(&[2; 31]);
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(&out[..5], &[0x1F, 34, 1, 0x1F, 31]);
        assert_eq!(out.len(), 36);
        assert!(with_value_length(&mut Vec::new(), "t", |o| text_string(o, b"a\0", "t")).is_err());
    }

    #[test]
    fn texts() {
        let mut out = Vec::new();
        text_string(&mut out, "é".as_bytes(), "t").unwrap();
        assert_eq!(out, [0x7F, 0xC3, 0xA9, 0]);
        assert!(text_string(&mut out, b"a\0b", "t").is_err());
        out.clear();
        text_string(&mut out, b"\x7fx", "t").unwrap();
        assert_eq!(Reader::new(&out).text_string().unwrap(), b"\x7fx");
        out.clear();
        text_string(&mut out, b"\x17\xd0]o", "t").unwrap();
        assert_eq!(out, b"\x7f\x17\xd0]o\0");
        assert_eq!(Reader::new(&out).text_string().unwrap(), b"\x17\xd0]o");
        assert!(token_text(&mut out, b"", "t").is_err());
    }
}
