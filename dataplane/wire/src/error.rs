//! Typed errors of the codecs.
//!
//! Every decode error carries the byte offset (from the start of the PDU) at which the problem
//! was found, and maps onto the protocol status a peer should be answered with.

use crate::mms::ResponseStatus;

/// Which configured limit a decoder hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The PDU is larger than [`crate::Limits::max_pdu_bytes`].
    PduBytes,
    /// More header fields than [`crate::Limits::max_headers`].
    Headers,
    /// More multipart entries than [`crate::Limits::max_parts`].
    Parts,
    /// Multiparts nested deeper than [`crate::Limits::max_depth`].
    Depth,
    /// More parameters in one Content-Type than [`crate::Limits::max_params`].
    Params,
    /// More SMS segments than a concatenated message can have (255).
    Segments,
}

impl Limit {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Limit::PduBytes => "PDU size",
            Limit::Headers => "header count",
            Limit::Parts => "part count",
            Limit::Depth => "multipart nesting depth",
            Limit::Params => "parameter count",
            Limit::Segments => "segment count",
        }
    }
}

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended inside a value.
    #[error("truncated: {needed} more byte(s) needed")]
    Truncated {
        /// How many bytes were missing at least.
        needed: usize,
    },
    /// A uintvar longer than 5 octets, or one that does not fit 32 bits.
    #[error("uintvar longer than 5 octets or above 2^32-1")]
    BadUintvar,
    /// A length (Value-length, part length, ...) larger than the bytes that remain.
    #[error("length {declared} exceeds the {available} byte(s) available")]
    LengthOverrun {
        /// The length the input declared.
        declared: usize,
        /// What was there.
        available: usize,
    },
    /// A Text-string, Token-text or Quoted-string without its terminating NUL.
    #[error("text without terminating NUL")]
    Unterminated,
    /// A Long-integer of 0 or more than 8 octets (we keep integers in 64 bits).
    #[error("long-integer of {0} octets is not supported (1..=8)")]
    BadLongInteger(usize),
    /// The first octet is not X-Mms-Message-Type (0x8C): this is not an MMS PDU.
    #[error("not an MMS PDU: first header is not X-Mms-Message-Type")]
    NotMmsPdu,
    /// An octet that cannot start what the grammar expects here.
    #[error("unexpected octet 0x{byte:02X} in {what}")]
    Unexpected {
        /// The octet found.
        byte: u8,
        /// What was being decoded.
        what: &'static str,
    },
    /// A value that is well-formed but not allowed for its field.
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
    /// A configured limit was hit.
    #[error("{} limit exceeded", .0.name())]
    Limit(Limit),
    /// A mandatory header is missing.
    #[error("mandatory header {0} missing")]
    Missing(&'static str),
    /// WAP Push / SMS segmentation: the segments do not form one message.
    #[error("segments do not reassemble: {0}")]
    Reassembly(&'static str),
}

/// A decode error: what, and where (byte offset from the start of the input).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at offset {offset}")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Offset of the octet at which it was detected, from the start of the PDU.
    pub offset: usize,
}

impl DecodeError {
    /// A new error at `offset`.
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        DecodeError { kind, offset }
    }

    /// The X-Mms-Response-Status an MMSC answers an m-send-req (or forward) that failed so.
    ///
    /// Limits on size and counts are a policy refusal of the content (content-not-accepted);
    /// everything else is a corrupt message.
    pub fn response_status(&self) -> ResponseStatus {
        match self.kind {
            ErrorKind::Limit(_) => ResponseStatus::ERROR_PERMANENT_CONTENT_NOT_ACCEPTED,
            ErrorKind::NotMmsPdu => ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT,
            _ => ResponseStatus::ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT,
        }
    }
}

/// What went wrong while encoding: values that the binary encoding cannot carry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A text value contains a NUL octet, which terminates Text-strings.
    #[error("{0}: text contains a NUL octet")]
    NulInText(&'static str),
    /// A value does not fit its encoding (e.g. a Short-integer above 127, a uintvar above 2^32-1).
    #[error("{0}: value out of range for its encoding")]
    OutOfRange(&'static str),
    /// A token (Token-text, header name, parameter name) that is empty or has characters
    /// outside RFC 2616 token characters.
    #[error("{0}: not a valid token")]
    BadToken(&'static str),
    /// A body that does not fit the message (e.g. multipart entries for a non-multipart type).
    #[error("{0}")]
    Inconsistent(&'static str),
    /// A WAP Push payload does not fit into 255 concatenated SMS.
    #[error("payload needs more than 255 SMS segments")]
    TooManySegments,
}
