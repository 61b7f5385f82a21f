//! Open enumerations of the MMS encapsulation: each is a newtype over its octet, so unknown
//! values round-trip; known values have their OMA-TS-MMS_ENC names.

use std::fmt;

macro_rules! octet_enum {
    (
        $(#[$m:meta])*
        $name:ident {
            $( $(#[$vm:meta])* $konst:ident = $val:literal => $text:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u8);

        impl $name {
            $( $(#[$vm])* pub const $konst: $name = $name($val); )*

            /// Every known value with its name.
            pub const KNOWN: &'static [($name, &'static str)] = &[ $( ($name($val), $text), )* ];

            /// The spec name of a known value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some($text), )*
                    _ => None,
                }
            }

            /// The value with this spec name (case-insensitive).
            pub fn from_name(s: &str) -> Option<Self> {
                Self::KNOWN
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(s))
                    .map(|(v, _)| *v)
            }

            /// True if the value is one the spec defines.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "0x{:02X}", self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

octet_enum! {
    /// X-Mms-Message-Type (0x8C).
    MessageType {
        /// m-send-req
        SEND_REQ = 0x80 => "m-send-req",
        /// m-send-conf
        SEND_CONF = 0x81 => "m-send-conf",
        /// m-notification-ind
        NOTIFICATION_IND = 0x82 => "m-notification-ind",
        /// m-notifyresp-ind
        NOTIFYRESP_IND = 0x83 => "m-notifyresp-ind",
        /// m-retrieve-conf
        RETRIEVE_CONF = 0x84 => "m-retrieve-conf",
        /// m-acknowledge-ind
        ACKNOWLEDGE_IND = 0x85 => "m-acknowledge-ind",
        /// m-delivery-ind
        DELIVERY_IND = 0x86 => "m-delivery-ind",
        /// m-read-rec-ind
        READ_REC_IND = 0x87 => "m-read-rec-ind",
        /// m-read-orig-ind
        READ_ORIG_IND = 0x88 => "m-read-orig-ind",
        /// m-forward-req
        FORWARD_REQ = 0x89 => "m-forward-req",
        /// m-forward-conf
        FORWARD_CONF = 0x8A => "m-forward-conf",
        /// m-mbox-store-req
        MBOX_STORE_REQ = 0x8B => "m-mbox-store-req",
        /// m-mbox-store-conf
        MBOX_STORE_CONF = 0x8C => "m-mbox-store-conf",
        /// m-mbox-view-req
        MBOX_VIEW_REQ = 0x8D => "m-mbox-view-req",
        /// m-mbox-view-conf
        MBOX_VIEW_CONF = 0x8E => "m-mbox-view-conf",
        /// m-mbox-upload-req
        MBOX_UPLOAD_REQ = 0x8F => "m-mbox-upload-req",
        /// m-mbox-upload-conf
        MBOX_UPLOAD_CONF = 0x90 => "m-mbox-upload-conf",
        /// m-mbox-delete-req
        MBOX_DELETE_REQ = 0x91 => "m-mbox-delete-req",
        /// m-mbox-delete-conf
        MBOX_DELETE_CONF = 0x92 => "m-mbox-delete-conf",
        /// m-mbox-descr
        MBOX_DESCR = 0x93 => "m-mbox-descr",
        /// m-delete-req
        DELETE_REQ = 0x94 => "m-delete-req",
        /// m-delete-conf
        DELETE_CONF = 0x95 => "m-delete-conf",
        /// m-cancel-req
        CANCEL_REQ = 0x96 => "m-cancel-req",
        /// m-cancel-conf
        CANCEL_CONF = 0x97 => "m-cancel-conf",
    }
}

octet_enum! {
    /// X-Mms-Response-Status (0x92). Unknown values follow the class rule of
    /// OMA-TS-MMS_ENC 1.3 §7.3.48: see [`ResponseStatus::effective`].
    ResponseStatus {
        /// Ok
        OK = 0x80 => "Ok",
        /// Error-unspecified (1.0)
        ERROR_UNSPECIFIED = 0x81 => "Error-unspecified",
        /// Error-service-denied (1.0)
        ERROR_SERVICE_DENIED = 0x82 => "Error-service-denied",
        /// Error-message-format-corrupt (1.0)
        ERROR_MESSAGE_FORMAT_CORRUPT = 0x83 => "Error-message-format-corrupt",
        /// Error-sending-address-unresolved (1.0)
        ERROR_SENDING_ADDRESS_UNRESOLVED = 0x84 => "Error-sending-address-unresolved",
        /// Error-message-not-found (1.0)
        ERROR_MESSAGE_NOT_FOUND = 0x85 => "Error-message-not-found",
        /// Error-network-problem (1.0)
        ERROR_NETWORK_PROBLEM = 0x86 => "Error-network-problem",
        /// Error-content-not-accepted (1.0)
        ERROR_CONTENT_NOT_ACCEPTED = 0x87 => "Error-content-not-accepted",
        /// Error-unsupported-message (1.0)
        ERROR_UNSUPPORTED_MESSAGE = 0x88 => "Error-unsupported-message",
        /// Error-transient-failure
        ERROR_TRANSIENT_FAILURE = 0xC0 => "Error-transient-failure",
        /// Error-transient-sending-address-unresolved
        ERROR_TRANSIENT_SENDING_ADDRESS_UNRESOLVED = 0xC1 => "Error-transient-sending-address-unresolved",
        /// Error-transient-message-not-found
        ERROR_TRANSIENT_MESSAGE_NOT_FOUND = 0xC2 => "Error-transient-message-not-found",
        /// Error-transient-network-problem
        ERROR_TRANSIENT_NETWORK_PROBLEM = 0xC3 => "Error-transient-network-problem",
        /// Error-transient-partial-success
        ERROR_TRANSIENT_PARTIAL_SUCCESS = 0xC4 => "Error-transient-partial-success",
        /// Error-permanent-failure
        ERROR_PERMANENT_FAILURE = 0xE0 => "Error-permanent-failure",
        /// Error-permanent-service-denied
        ERROR_PERMANENT_SERVICE_DENIED = 0xE1 => "Error-permanent-service-denied",
        /// Error-permanent-message-format-corrupt
        ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT = 0xE2 => "Error-permanent-message-format-corrupt",
        /// Error-permanent-sending-address-unresolved
        ERROR_PERMANENT_SENDING_ADDRESS_UNRESOLVED = 0xE3 => "Error-permanent-sending-address-unresolved",
        /// Error-permanent-message-not-found
        ERROR_PERMANENT_MESSAGE_NOT_FOUND = 0xE4 => "Error-permanent-message-not-found",
        /// Error-permanent-content-not-accepted
        ERROR_PERMANENT_CONTENT_NOT_ACCEPTED = 0xE5 => "Error-permanent-content-not-accepted",
        /// Error-permanent-reply-charging-limitations-not-met
        ERROR_PERMANENT_REPLY_CHARGING_LIMITATIONS_NOT_MET = 0xE6 => "Error-permanent-reply-charging-limitations-not-met",
        /// Error-permanent-reply-charging-request-not-accepted
        ERROR_PERMANENT_REPLY_CHARGING_REQUEST_NOT_ACCEPTED = 0xE7 => "Error-permanent-reply-charging-request-not-accepted",
        /// Error-permanent-reply-charging-forwarding-denied
        ERROR_PERMANENT_REPLY_CHARGING_FORWARDING_DENIED = 0xE8 => "Error-permanent-reply-charging-forwarding-denied",
        /// Error-permanent-reply-charging-not-supported
        ERROR_PERMANENT_REPLY_CHARGING_NOT_SUPPORTED = 0xE9 => "Error-permanent-reply-charging-not-supported",
        /// Error-permanent-address-hiding-not-supported
        ERROR_PERMANENT_ADDRESS_HIDING_NOT_SUPPORTED = 0xEA => "Error-permanent-address-hiding-not-supported",
        /// Error-permanent-lack-of-prepaid
        ERROR_PERMANENT_LACK_OF_PREPAID = 0xEB => "Error-permanent-lack-of-prepaid",
    }
}

impl ResponseStatus {
    /// The value a receiver acts on: known values as they are; unknown 0xC5-0xDF as
    /// Error-transient-failure; any other unknown value as Error-permanent-failure.
    pub fn effective(self) -> ResponseStatus {
        if self.is_known() {
            self
        } else if (0xC5..=0xDF).contains(&self.0) {
            ResponseStatus::ERROR_TRANSIENT_FAILURE
        } else {
            ResponseStatus::ERROR_PERMANENT_FAILURE
        }
    }

    /// True for Ok.
    pub fn is_ok(self) -> bool {
        self == ResponseStatus::OK
    }

    /// True when the sender may retry the same request later.
    pub fn is_transient(self) -> bool {
        (0xC0..=0xDF).contains(&self.effective().0)
    }
}

octet_enum! {
    /// X-Mms-Retrieve-Status (0x99), class rule of §7.3.50 in [`RetrieveStatus::effective`].
    RetrieveStatus {
        /// Ok
        OK = 0x80 => "Ok",
        /// Error-transient-failure
        ERROR_TRANSIENT_FAILURE = 0xC0 => "Error-transient-failure",
        /// Error-transient-message-not-found
        ERROR_TRANSIENT_MESSAGE_NOT_FOUND = 0xC1 => "Error-transient-message-not-found",
        /// Error-transient-network-problem
        ERROR_TRANSIENT_NETWORK_PROBLEM = 0xC2 => "Error-transient-network-problem",
        /// Error-permanent-failure
        ERROR_PERMANENT_FAILURE = 0xE0 => "Error-permanent-failure",
        /// Error-permanent-service-denied
        ERROR_PERMANENT_SERVICE_DENIED = 0xE1 => "Error-permanent-service-denied",
        /// Error-permanent-message-not-found
        ERROR_PERMANENT_MESSAGE_NOT_FOUND = 0xE2 => "Error-permanent-message-not-found",
        /// Error-permanent-content-unsupported
        ERROR_PERMANENT_CONTENT_UNSUPPORTED = 0xE3 => "Error-permanent-content-unsupported",
    }
}

impl RetrieveStatus {
    /// Unknown 0xC3-0xDF act as Error-transient-failure, other unknowns as
    /// Error-permanent-failure.
    pub fn effective(self) -> RetrieveStatus {
        if self.is_known() {
            self
        } else if (0xC3..=0xDF).contains(&self.0) {
            RetrieveStatus::ERROR_TRANSIENT_FAILURE
        } else {
            RetrieveStatus::ERROR_PERMANENT_FAILURE
        }
    }
}

octet_enum! {
    /// X-Mms-Store-Status (0xA5).
    StoreStatus {
        /// Success
        SUCCESS = 0x80 => "Success",
        /// Error-transient-failure
        ERROR_TRANSIENT_FAILURE = 0xC0 => "Error-transient-failure",
        /// Error-transient-network-problem
        ERROR_TRANSIENT_NETWORK_PROBLEM = 0xC1 => "Error-transient-network-problem",
        /// Error-permanent-failure
        ERROR_PERMANENT_FAILURE = 0xE0 => "Error-permanent-failure",
        /// Error-permanent-service-denied
        ERROR_PERMANENT_SERVICE_DENIED = 0xE1 => "Error-permanent-service-denied",
        /// Error-permanent-message-format-corrupt
        ERROR_PERMANENT_MESSAGE_FORMAT_CORRUPT = 0xE2 => "Error-permanent-message-format-corrupt",
        /// Error-permanent-message-not-found
        ERROR_PERMANENT_MESSAGE_NOT_FOUND = 0xE3 => "Error-permanent-message-not-found",
        /// Error-permanent-mmbox-full
        ERROR_PERMANENT_MMBOX_FULL = 0xE4 => "Error-permanent-mmbox-full",
    }
}

octet_enum! {
    /// X-Mms-Status (0x95).
    Status {
        /// Expired
        EXPIRED = 0x80 => "Expired",
        /// Retrieved
        RETRIEVED = 0x81 => "Retrieved",
        /// Rejected
        REJECTED = 0x82 => "Rejected",
        /// Deferred
        DEFERRED = 0x83 => "Deferred",
        /// Unrecognised
        UNRECOGNISED = 0x84 => "Unrecognised",
        /// Indeterminate
        INDETERMINATE = 0x85 => "Indeterminate",
        /// Forwarded
        FORWARDED = 0x86 => "Forwarded",
        /// Unreachable
        UNREACHABLE = 0x87 => "Unreachable",
    }
}

octet_enum! {
    /// Yes / No fields (Delivery-Report, Read-Report, Report-Allowed, Store, ...).
    YesNo {
        /// Yes
        YES = 0x80 => "Yes",
        /// No
        NO = 0x81 => "No",
    }
}

octet_enum! {
    /// X-Mms-Message-Class (0x8A), when given as a token; classes may also be text.
    MessageClass {
        /// Personal
        PERSONAL = 0x80 => "Personal",
        /// Advertisement
        ADVERTISEMENT = 0x81 => "Advertisement",
        /// Informational
        INFORMATIONAL = 0x82 => "Informational",
        /// Auto
        AUTO = 0x83 => "Auto",
    }
}

octet_enum! {
    /// X-Mms-Priority (0x8F).
    Priority {
        /// Low
        LOW = 0x80 => "Low",
        /// Normal
        NORMAL = 0x81 => "Normal",
        /// High
        HIGH = 0x82 => "High",
    }
}

octet_enum! {
    /// X-Mms-Sender-Visibility (0x94).
    SenderVisibility {
        /// Hide
        HIDE = 0x80 => "Hide",
        /// Show
        SHOW = 0x81 => "Show",
    }
}

octet_enum! {
    /// X-Mms-Read-Status (0x9B).
    ReadStatus {
        /// Read
        READ = 0x80 => "Read",
        /// Deleted-without-being-read
        DELETED_WITHOUT_BEING_READ = 0x81 => "Deleted-without-being-read",
    }
}

octet_enum! {
    /// X-Mms-Reply-Charging (0x9C).
    ReplyCharging {
        /// Requested
        REQUESTED = 0x80 => "Requested",
        /// Requested-text-only
        REQUESTED_TEXT_ONLY = 0x81 => "Requested-text-only",
        /// Accepted
        ACCEPTED = 0x82 => "Accepted",
        /// Accepted-text-only
        ACCEPTED_TEXT_ONLY = 0x83 => "Accepted-text-only",
    }
}

octet_enum! {
    /// X-Mms-MM-State (0xA3).
    MmState {
        /// Draft
        DRAFT = 0x80 => "Draft",
        /// Sent
        SENT = 0x81 => "Sent",
        /// New
        NEW = 0x82 => "New",
        /// Retrieved
        RETRIEVED = 0x83 => "Retrieved",
        /// Forwarded
        FORWARDED = 0x84 => "Forwarded",
    }
}

octet_enum! {
    /// The token of X-Mms-MM-Flags (0xA4).
    MmFlagsToken {
        /// Add
        ADD = 0x80 => "Add",
        /// Remove
        REMOVE = 0x81 => "Remove",
        /// Filter
        FILTER = 0x82 => "Filter",
    }
}

octet_enum! {
    /// The token of X-Mms-Mbox-Totals (0xAA) and X-Mms-Mbox-Quotas (0xAC).
    QuotaToken {
        /// Message count
        MESSAGE = 0x80 => "Message",
        /// Size in octets
        SIZE = 0x81 => "Size",
    }
}

octet_enum! {
    /// X-Mms-Recommended-Retrieval-Mode (0xB4).
    RetrievalMode {
        /// Manual
        MANUAL = 0x80 => "Manual",
    }
}

octet_enum! {
    /// X-Mms-Content-Class (0xBA).
    ContentClass {
        /// text
        TEXT = 0x80 => "text",
        /// image-basic
        IMAGE_BASIC = 0x81 => "image-basic",
        /// image-rich
        IMAGE_RICH = 0x82 => "image-rich",
        /// video-basic
        VIDEO_BASIC = 0x83 => "video-basic",
        /// video-rich
        VIDEO_RICH = 0x84 => "video-rich",
        /// megapixel
        MEGAPIXEL = 0x85 => "megapixel",
        /// content-basic
        CONTENT_BASIC = 0x86 => "content-basic",
        /// content-rich
        CONTENT_RICH = 0x87 => "content-rich",
    }
}

octet_enum! {
    /// X-Mms-Cancel-Status (0xBF).
    CancelStatus {
        /// Cancel request successfully received
        REQUEST_SUCCESSFULLY_RECEIVED = 0x80 => "Cancel-request-successfully-received",
        /// Cancel request corrupted
        REQUEST_CORRUPTED = 0x81 => "Cancel-request-corrupted",
    }
}

/// X-Mms-MMS-Version: major 0..=7, minor 0..=14, or minor 15 meaning "major only".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u8);

impl Version {
    /// MMS 1.0.
    pub const V1_0: Version = Version(0x10);
    /// MMS 1.1.
    pub const V1_1: Version = Version(0x11);
    /// MMS 1.2.
    pub const V1_2: Version = Version(0x12);
    /// MMS 1.3.
    pub const V1_3: Version = Version(0x13);

    /// Major number.
    pub fn major(self) -> u8 {
        (self.0 >> 4) & 0x07
    }

    /// Minor number, `None` for "major only" (0x0F).
    pub fn minor(self) -> Option<u8> {
        match self.0 & 0x0F {
            0x0F => None,
            m => Some(m),
        }
    }

    /// Parse "1.2" or "1".
    pub fn parse(s: &str) -> Option<Version> {
        let (maj, min) = match s.split_once('.') {
            Some((a, b)) => (a.parse::<u8>().ok()?, b.parse::<u8>().ok()?),
            None => (s.parse::<u8>().ok()?, 0x0F),
        };
        if maj > 7 || min > 0x0F {
            return None;
        }
        Some(Version((maj << 4) | min))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minor() {
            Some(m) => write!(f, "{}.{}", self.major(), m),
            None => write!(f, "{}", self.major()),
        }
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(MessageType::SEND_REQ.name(), Some("m-send-req"));
        assert_eq!(
            MessageType::from_name("M-CANCEL-CONF"),
            Some(MessageType(0x97))
        );
        assert_eq!(MessageType::KNOWN.len(), 24);
        assert_eq!(format!("{:?}", MessageType(0x42)), "0x42");
        assert_eq!(Status::from_name("Retrieved"), Some(Status::RETRIEVED));
    }

    #[test]
    fn class_rules() {
        assert_eq!(
            ResponseStatus(0xC7).effective(),
            ResponseStatus::ERROR_TRANSIENT_FAILURE
        );
        assert_eq!(
            ResponseStatus(0xEC).effective(),
            ResponseStatus::ERROR_PERMANENT_FAILURE
        );
        assert_eq!(
            ResponseStatus(0x90).effective(),
            ResponseStatus::ERROR_PERMANENT_FAILURE
        );
        assert_eq!(
            ResponseStatus(0x10).effective(),
            ResponseStatus::ERROR_PERMANENT_FAILURE
        );
        assert_eq!(ResponseStatus(0xE2).effective(), ResponseStatus(0xE2));
        assert!(ResponseStatus(0xC9).is_transient());
        assert!(!ResponseStatus::OK.is_transient());
        assert_eq!(
            RetrieveStatus(0xC5).effective(),
            RetrieveStatus::ERROR_TRANSIENT_FAILURE
        );
        assert_eq!(
            RetrieveStatus(0xE4).effective(),
            RetrieveStatus::ERROR_PERMANENT_FAILURE
        );
    }

    #[test]
    fn versions() {
        assert_eq!(Version::V1_2.to_string(), "1.2");
        assert_eq!(Version::parse("1.3"), Some(Version::V1_3));
        assert_eq!(Version(0x1F).to_string(), "1");
        assert_eq!(Version::parse("1"), Some(Version(0x1F)));
        assert_eq!(Version::parse("9.1"), None);
    }
}
