//! The MMS encapsulation (OMA-TS-MMS_ENC 1.0-1.3).

pub mod build;
pub mod enums;
pub mod header;
pub mod pdu;

pub use enums::{
    CancelStatus, ContentClass, MessageClass, MessageType, MmFlagsToken, MmState, Priority,
    QuotaToken, ReadStatus, ReplyCharging, ResponseStatus, RetrievalMode, RetrieveStatus,
    SenderVisibility, Status, StoreStatus, Version, YesNo,
};
pub use header::{
    EncodedString, FIELDS, FieldInfo, Grammar, Header, HeaderName, TimeValue, Value, field,
    field_by_name, field_info,
};
pub use pdu::Pdu;
