//! Character sets: IANA MIBenum numbers (as MMS and WSP carry them) and text conversion.
//!
//! Conversion goes through `encoding_rs` (WHATWG encodings); UCS-2 and UTF-16, which WHATWG
//! only decodes, are encoded here. A MIBenum without a converter is kept as a number: its text
//! stays bytes and round-trips unchanged.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// MIBenum of US-ASCII.
pub const US_ASCII: u64 = 3;
/// MIBenum of ISO-8859-1.
pub const ISO_8859_1: u64 = 4;
/// MIBenum of UTF-8.
pub const UTF_8: u64 = 106;
/// MIBenum of ISO-10646-UCS-2.
pub const UCS_2: u64 = 1000;
/// MIBenum of UTF-16BE.
pub const UTF_16BE: u64 = 1013;
/// MIBenum of UTF-16LE.
pub const UTF_16LE: u64 = 1014;
/// MIBenum of UTF-16.
pub const UTF_16: u64 = 1015;

/// Known charsets: MIBenum -> preferred MIME name.
pub const CHARSETS: &[(u64, &str)] = &[
    (0, "*"),
    (3, "us-ascii"),
    (4, "iso-8859-1"),
    (5, "iso-8859-2"),
    (6, "iso-8859-3"),
    (7, "iso-8859-4"),
    (8, "iso-8859-5"),
    (9, "iso-8859-6"),
    (10, "iso-8859-7"),
    (11, "iso-8859-8"),
    (12, "iso-8859-9"),
    (13, "iso-8859-10"),
    (17, "shift_jis"),
    (18, "euc-jp"),
    (36, "ks_c_5601-1987"),
    (37, "iso-2022-kr"),
    (38, "euc-kr"),
    (39, "iso-2022-jp"),
    (40, "iso-2022-jp-2"),
    (104, "iso-2022-cn"),
    (106, "utf-8"),
    (109, "iso-8859-13"),
    (110, "iso-8859-14"),
    (111, "iso-8859-15"),
    (112, "iso-8859-16"),
    (113, "gbk"),
    (114, "gb18030"),
    (1000, "iso-10646-ucs-2"),
    (1013, "utf-16be"),
    (1014, "utf-16le"),
    (1015, "utf-16"),
    (1017, "utf-32"),
    (2025, "gb2312"),
    (2026, "big5"),
    (2084, "koi8-r"),
    (2088, "koi8-u"),
    (2250, "windows-1250"),
    (2251, "windows-1251"),
    (2252, "windows-1252"),
    (2253, "windows-1253"),
    (2254, "windows-1254"),
    (2255, "windows-1255"),
    (2256, "windows-1256"),
    (2257, "windows-1257"),
    (2258, "windows-1258"),
];

/// Preferred MIME name of a MIBenum.
pub fn name(mib: u64) -> Option<&'static str> {
    CHARSETS.iter().find(|(m, _)| *m == mib).map(|(_, n)| *n)
}

/// MIBenum of a charset name or alias (case-insensitive).
pub fn mib(name: &str) -> Option<u64> {
    let n = name.trim();
    if let Some((m, _)) = CHARSETS.iter().find(|(_, cn)| cn.eq_ignore_ascii_case(n)) {
        return Some(*m);
    }
    const ALIASES: &[(&str, u64)] = &[
        ("ascii", 3),
        ("utf8", 106),
        ("latin1", 4),
        ("ucs-2", 1000),
        ("ucs2", 1000),
        ("iso-10646", 1000),
        ("utf16", 1015),
        ("sjis", 17),
        ("big5-hkscs", 2026),
    ];
    ALIASES
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(n))
        .map(|(_, m)| *m)
}

enum Converter {
    Utf16 {
        big_endian_default: bool,
        sniff_bom: bool,
    },
    Whatwg(&'static Encoding),
}

fn converter(mib: u64) -> Option<Converter> {
    match mib {
        UCS_2 | UTF_16 => Some(Converter::Utf16 {
            big_endian_default: true,
            sniff_bom: true,
        }),
        UTF_16BE => Some(Converter::Utf16 {
            big_endian_default: true,
            sniff_bom: false,
        }),
        UTF_16LE => Some(Converter::Utf16 {
            big_endian_default: false,
            sniff_bom: false,
        }),
        // "*" (any): handsets mean their default, which is UTF-8 in practice.
        0 => Some(Converter::Whatwg(encoding_rs::UTF_8)),
        // The usual ones, without looking up their label (what that finds: see the tests).
        UTF_8 => Some(Converter::Whatwg(encoding_rs::UTF_8)),
        US_ASCII => Some(Converter::Whatwg(encoding_rs::WINDOWS_1252)),
        _ => name(mib)
            .and_then(|n| Encoding::for_label(n.as_bytes()))
            .map(Converter::Whatwg),
    }
}

/// True if `mib` can be converted both ways.
pub fn is_supported(mib: u64) -> bool {
    converter(mib).is_some()
}

/// Decode `bytes` in charset `mib`. `None` when the charset is unknown or the bytes are not
/// valid in it (the caller keeps the bytes: nothing is replaced silently).
pub fn decode(mib: u64, bytes: &[u8]) -> Option<Cow<'_, str>> {
    match converter(mib)? {
        Converter::Utf16 {
            big_endian_default,
            sniff_bom,
        } => {
            let (mut be, mut body) = (big_endian_default, bytes);
            if sniff_bom {
                match bytes {
                    [0xFE, 0xFF, rest @ ..] => (be, body) = (true, rest),
                    [0xFF, 0xFE, rest @ ..] => (be, body) = (false, rest),
                    _ => {}
                }
            }
            let enc = if be {
                encoding_rs::UTF_16BE
            } else {
                encoding_rs::UTF_16LE
            };
            enc.decode_without_bom_handling_and_without_replacement(body)
        }
        Converter::Whatwg(enc) => {
            if mib == US_ASCII && !bytes.is_ascii() {
                return None;
            }
            // A UTF-8 byte order mark is not text (handsets put one before subjects).
            let body = match bytes {
                [0xEF, 0xBB, 0xBF, rest @ ..] if enc == encoding_rs::UTF_8 => rest,
                _ => bytes,
            };
            enc.decode_without_bom_handling_and_without_replacement(body)
        }
    }
}

/// Encode `text` into charset `mib`. `None` when the charset is unknown or cannot represent
/// the text.
pub fn encode(mib: u64, text: &str) -> Option<Vec<u8>> {
    match converter(mib)? {
        Converter::Utf16 {
            big_endian_default, ..
        } => {
            let mut out = Vec::with_capacity(text.len() * 2);
            for u in text.encode_utf16() {
                let b = if big_endian_default {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                };
                out.extend_from_slice(&b);
            }
            Some(out)
        }
        Converter::Whatwg(enc) => {
            if mib == US_ASCII && !text.is_ascii() {
                return None;
            }
            let (bytes, _, unmappable) = enc.encode(text);
            if unmappable {
                None
            } else {
                Some(bytes.into_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_charsets_convert_as_their_label_says() {
        for mib in [UTF_8, US_ASCII] {
            let by_label = name(mib).and_then(|n| Encoding::for_label(n.as_bytes()));
            match converter(mib) {
                Some(Converter::Whatwg(enc)) => assert_eq!(Some(enc), by_label, "{mib}"),
                _ => panic!("{mib}"),
            }
        }
    }

    #[test]
    fn names() {
        assert_eq!(name(106), Some("utf-8"));
        assert_eq!(mib("UTF-8"), Some(106));
        assert_eq!(mib("ucs-2"), Some(1000));
        assert_eq!(mib("nope"), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(decode(UTF_8, "Shõrt".as_bytes()).unwrap(), "Shõrt");
        assert_eq!(decode(UTF_8, "\u{feff}Shõrt".as_bytes()).unwrap(), "Shõrt");
        assert!(decode(UTF_8, &[0xFF]).is_none());
        assert!(decode(US_ASCII, &[0xE9]).is_none());
        assert_eq!(decode(ISO_8859_1, &[0x41, 0xE9]).unwrap(), "Aé");
        assert_eq!(decode(UCS_2, &[0x00, 0x41, 0x00, 0xE9]).unwrap(), "Aé");
        assert_eq!(decode(UTF_16, &[0xFF, 0xFE, 0x41, 0x00]).unwrap(), "A");
        assert_eq!(encode(UTF_16, "A").unwrap(), vec![0x00, 0x41]);
        assert_eq!(encode(UTF_16LE, "A").unwrap(), vec![0x41, 0x00]);
        assert_eq!(encode(ISO_8859_1, "é").unwrap(), vec![0xE9]);
        assert!(encode(US_ASCII, "é").is_none());
        assert!(encode(9999, "x").is_none());
        assert_eq!(encode(2251, "Я").unwrap(), vec![0xDF]);
    }
}
