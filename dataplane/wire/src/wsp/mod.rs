//! WSP encodings shared by MMS and WAP Push: content types, parameters, multipart bodies.

pub mod content_type;
pub mod multipart;
pub mod tables;

pub use content_type::{
    ContentDisposition, ContentType, DispositionKind, MediaType, Param, ParamName, ParamValue,
};
pub use multipart::{Body, Part, PartHeader, decode_multipart, encode_multipart};
