//! Sans-I/O codecs of the mmsc MMS Relay/Server.
//!
//! This crate has no I/O, no clock and no `unsafe`. Decoders borrow from their input and are
//! bounded by [`Limits`]; every error is typed, carries the byte offset, and maps onto the
//! protocol status to answer with ([`DecodeError::response_status`]).
//!
//! - [`mms`]: the MMS encapsulation (OMA-TS-MMS_ENC 1.0-1.3): all message types and header
//!   fields, open enumerations, canonical encoding.
//! - [`wsp`]: WSP content types, parameters and multipart bodies.
//! - [`push`]: the WSP Push PDU carrying an m-notification-ind, and its SMS segmentation.
//! - [`charset`]: MIBenum charsets.
//! - `json` (feature `json`): the JSON form used by `mmsc pdu`.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)
)]

pub mod charset;
pub mod error;
pub mod http;
#[cfg(feature = "json")]
pub mod json;
pub mod mms;
pub mod push;
pub mod reader;
pub mod writer;
pub mod wsp;

pub use error::{DecodeError, EncodeError, ErrorKind, Limit};
pub use mms::Pdu;

/// Bounds on what a decoder accepts. Defaults suit an MMSC; the MM1 engine takes them from the
/// configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest PDU, in octets.
    pub max_pdu_bytes: usize,
    /// Most headers in the PDU, or in one multipart entry.
    pub max_headers: usize,
    /// Most entries in one multipart.
    pub max_parts: usize,
    /// Levels of nested multiparts that are decoded; deeper ones stay opaque data.
    pub max_depth: usize,
    /// Most parameters in one Content-Type or Content-Disposition.
    pub max_params: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pdu_bytes: 16 * 1024 * 1024,
            max_headers: 256,
            max_parts: 256,
            max_depth: 4,
            max_params: 32,
        }
    }
}

/// Something a decoder tolerated. Warnings never change what was decoded; they say where the
/// input departed from the specification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Offset from the start of the input.
    pub offset: usize,
    /// What was tolerated.
    pub kind: WarningKind,
}

/// Kinds of tolerated sloppiness.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// A part's charset was written after its Content-Type value instead of inside it; it was
    /// taken as the part's charset.
    CharsetOutsideContentType,
    /// A multipart Content-Type with no body at all: taken as zero entries.
    MultipartBodyMissing,
    /// A nested multipart that did not decode (or lies beyond the depth limit): kept as data.
    NestedMultipartKeptAsData,
    /// Octets after the last header or the last multipart entry: ignored.
    TrailingBytes(usize),
    /// Octets left inside a header's Value-length after its value: ignored.
    ValueSlack {
        /// Field code.
        field: u8,
        /// Octets ignored.
        len: usize,
    },
    /// A From value without Value-length and address-present token: taken as the address.
    FromWithoutToken,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            WarningKind::CharsetOutsideContentType => {
                "charset written after the part's Content-Type value".to_string()
            }
            WarningKind::MultipartBodyMissing => "multipart Content-Type without a body".into(),
            WarningKind::NestedMultipartKeptAsData => "nested multipart kept as data".into(),
            WarningKind::TrailingBytes(n) => format!("{n} trailing octet(s) ignored"),
            WarningKind::ValueSlack { field, len } => {
                format!("{len} octet(s) ignored inside the value of field 0x{field:02X}")
            }
            WarningKind::FromWithoutToken => "From without address-present token".into(),
        };
        write!(f, "{what} at offset {}", self.offset)
    }
}
