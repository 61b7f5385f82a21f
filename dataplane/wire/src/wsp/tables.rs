//! WSP (WAP-230-WSP) number spaces: well-known media types (Table 40), header field names
//! (Table 39), push application ids, parameter names (Table 38).

/// Well-known media types: code -> name (WSP Table 40, WINA registrations).
pub const CONTENT_TYPES: &[(u16, &str)] = &[
    (0x00, "*/*"),
    (0x01, "text/*"),
    (0x02, "text/html"),
    (0x03, "text/plain"),
    (0x04, "text/x-hdml"),
    (0x05, "text/x-ttml"),
    (0x06, "text/x-vCalendar"),
    (0x07, "text/x-vCard"),
    (0x08, "text/vnd.wap.wml"),
    (0x09, "text/vnd.wap.wmlscript"),
    (0x0A, "text/vnd.wap.wta-event"),
    (0x0B, "multipart/*"),
    (0x0C, "multipart/mixed"),
    (0x0D, "multipart/form-data"),
    (0x0E, "multipart/byteranges"),
    (0x0F, "multipart/alternative"),
    (0x10, "application/*"),
    (0x11, "application/java-vm"),
    (0x12, "application/x-www-form-urlencoded"),
    (0x13, "application/x-hdmlc"),
    (0x14, "application/vnd.wap.wmlc"),
    (0x15, "application/vnd.wap.wmlscriptc"),
    (0x16, "application/vnd.wap.wta-eventc"),
    (0x17, "application/vnd.wap.uaprof"),
    (0x18, "application/vnd.wap.wtls-ca-certificate"),
    (0x19, "application/vnd.wap.wtls-user-certificate"),
    (0x1A, "application/x-x509-ca-cert"),
    (0x1B, "application/x-x509-user-cert"),
    (0x1C, "image/*"),
    (0x1D, "image/gif"),
    (0x1E, "image/jpeg"),
    (0x1F, "image/tiff"),
    (0x20, "image/png"),
    (0x21, "image/vnd.wap.wbmp"),
    (0x22, "application/vnd.wap.multipart.*"),
    (0x23, "application/vnd.wap.multipart.mixed"),
    (0x24, "application/vnd.wap.multipart.form-data"),
    (0x25, "application/vnd.wap.multipart.byteranges"),
    (0x26, "application/vnd.wap.multipart.alternative"),
    (0x27, "application/xml"),
    (0x28, "text/xml"),
    (0x29, "application/vnd.wap.wbxml"),
    (0x2A, "application/x-x968-cross-cert"),
    (0x2B, "application/x-x968-ca-cert"),
    (0x2C, "application/x-x968-user-cert"),
    (0x2D, "text/vnd.wap.si"),
    (0x2E, "application/vnd.wap.sic"),
    (0x2F, "text/vnd.wap.sl"),
    (0x30, "application/vnd.wap.slc"),
    (0x31, "text/vnd.wap.co"),
    (0x32, "application/vnd.wap.coc"),
    (0x33, "application/vnd.wap.multipart.related"),
    (0x34, "application/vnd.wap.sia"),
    (0x35, "text/vnd.wap.connectivity-xml"),
    (0x36, "application/vnd.wap.connectivity-wbxml"),
    (0x37, "application/pkcs7-mime"),
    (0x38, "application/vnd.wap.hashed-certificate"),
    (0x39, "application/vnd.wap.signed-certificate"),
    (0x3A, "application/vnd.wap.cert-response"),
    (0x3B, "application/xhtml+xml"),
    (0x3C, "application/wml+xml"),
    (0x3D, "text/css"),
    (0x3E, "application/vnd.wap.mms-message"),
    (0x3F, "application/vnd.wap.rollover-certificate"),
    (0x40, "application/vnd.wap.locc+wbxml"),
    (0x41, "application/vnd.wap.loc+xml"),
    (0x42, "application/vnd.syncml.dm+wbxml"),
    (0x43, "application/vnd.syncml.dm+xml"),
    (0x44, "application/vnd.syncml.notification"),
    (0x45, "application/vnd.wap.xhtml+xml"),
    (0x46, "application/vnd.wv.csp.cir"),
    (0x47, "application/vnd.oma.dd+xml"),
    (0x48, "application/vnd.oma.drm.message"),
    (0x49, "application/vnd.oma.drm.content"),
    (0x4A, "application/vnd.oma.drm.rights+xml"),
    (0x4B, "application/vnd.oma.drm.rights+wbxml"),
    (0x4C, "application/vnd.wv.csp+xml"),
    (0x4D, "application/vnd.wv.csp+wbxml"),
    (0x0201, "application/vnd.uplanet.cacheop-wbxml"),
    (0x0202, "application/vnd.uplanet.signal"),
    (0x0203, "application/vnd.uplanet.alert-wbxml"),
    (0x0204, "application/vnd.uplanet.list-wbxml"),
    (0x0205, "application/vnd.uplanet.listcmd-wbxml"),
    (0x0206, "application/vnd.uplanet.channel-wbxml"),
    (0x0207, "application/vnd.uplanet.provisioning-status-uri"),
    (0x0208, "x-wap.multipart/vnd.uplanet.header-set"),
    (0x0209, "application/vnd.uplanet.bearer-choice-wbxml"),
    (0x020A, "application/vnd.phonecom.mmc-wbxml"),
    (0x020B, "application/vnd.nokia.syncset+wbxml"),
    (0x020C, "image/x-up-wpng"),
    (0x0300, "application/iota.mmc-wbxml"),
    (0x0301, "application/iota.mmc-xml"),
];

/// Name of a well-known media type.
pub fn content_type_name(code: u16) -> Option<&'static str> {
    CONTENT_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// Code of a media type name (case-insensitive), if it is well-known.
pub fn content_type_code(name: &str) -> Option<u16> {
    CONTENT_TYPES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

/// application/vnd.wap.mms-message.
pub const CT_MMS_MESSAGE: u16 = 0x3E;
/// application/vnd.wap.multipart.mixed.
pub const CT_MULTIPART_MIXED: u16 = 0x23;
/// application/vnd.wap.multipart.related.
pub const CT_MULTIPART_RELATED: u16 = 0x33;
/// application/vnd.wap.multipart.alternative.
pub const CT_MULTIPART_ALTERNATIVE: u16 = 0x26;
/// text/plain.
pub const CT_TEXT_PLAIN: u16 = 0x03;

/// WSP header field names (Table 39), index = well-known code (0x00..=0x4A).
pub const HEADER_NAMES: &[&str] = &[
    "Accept",
    "Accept-Charset",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Ranges",
    "Age",
    "Allow",
    "Authorization",
    "Cache-Control",
    "Connection",
    "Content-Base",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Location",
    "Content-MD5",
    "Content-Range",
    "Content-Type",
    "Date",
    "ETag",
    "Expires",
    "From",
    "Host",
    "If-Modified-Since",
    "If-Match",
    "If-None-Match",
    "If-Range",
    "If-Unmodified-Since",
    "Location",
    "Last-Modified",
    "Max-Forwards",
    "Pragma",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Public",
    "Range",
    "Referer",
    "Retry-After",
    "Server",
    "Transfer-Encoding",
    "Upgrade",
    "User-Agent",
    "Vary",
    "Via",
    "Warning",
    "WWW-Authenticate",
    "Content-Disposition",
    "X-Wap-Application-Id",
    "X-Wap-Content-URI",
    "X-Wap-Initiator-URI",
    "Accept-Application",
    "Bearer-Indication",
    "Push-Flag",
    "Profile",
    "Profile-Diff",
    "Profile-Warning",
    "Expect",
    "TE",
    "Trailer",
    "Accept-Charset",
    "Accept-Encoding",
    "Cache-Control",
    "Content-Range",
    "X-Wap-Tod",
    "Content-ID",
    "Set-Cookie",
    "Cookie",
    "Encoding-Version",
    "Profile-Warning",
    "Content-Disposition",
    "X-WAP-Security",
    "Cache-Control",
    "Expect",
    "X-Wap-Loc-Invocation",
    "X-Wap-Loc-Delivery",
];

/// Name of a well-known WSP header (code without the high bit).
pub fn header_name(code: u8) -> Option<&'static str> {
    HEADER_NAMES.get(usize::from(code)).copied()
}

/// Well-known header codes used by the MMS and push codecs (without the high bit).
pub mod header {
    /// Accept (push headers).
    pub const ACCEPT: u8 = 0x00;
    /// Accept-Charset, WSP 1.1 code: handsets put a part's charset here by mistake.
    pub const ACCEPT_CHARSET_11: u8 = 0x01;
    /// Content-Length.
    pub const CONTENT_LENGTH: u8 = 0x0D;
    /// Content-Location.
    pub const CONTENT_LOCATION: u8 = 0x0E;
    /// Content-Type (as a labelled header; a part's own type comes first, unlabelled).
    pub const CONTENT_TYPE: u8 = 0x11;
    /// User-Agent.
    pub const USER_AGENT: u8 = 0x29;
    /// Content-Disposition, WSP 1.1-1.3 code.
    pub const CONTENT_DISPOSITION: u8 = 0x2E;
    /// X-Wap-Application-Id.
    pub const X_WAP_APPLICATION_ID: u8 = 0x2F;
    /// Push-Flag.
    pub const PUSH_FLAG: u8 = 0x34;
    /// Content-ID.
    pub const CONTENT_ID: u8 = 0x40;
    /// Encoding-Version.
    pub const ENCODING_VERSION: u8 = 0x43;
    /// Content-Disposition, WSP 1.4 code.
    pub const CONTENT_DISPOSITION_14: u8 = 0x45;
}

/// Push application ids (WINA), code -> URN.
pub const APPLICATION_IDS: &[(u32, &str)] = &[
    (0x00, "x-wap-application:*"),
    (0x01, "x-wap-application:push.sia"),
    (0x02, "x-wap-application:wml.ua"),
    (0x03, "x-wap-application:wta.ua"),
    (0x04, "x-wap-application:mms.ua"),
    (0x05, "x-wap-application:push.syncml"),
    (0x06, "x-wap-application:loc.ua"),
    (0x07, "x-wap-application:syncml.dm"),
    (0x08, "x-wap-application:drm.ua"),
    (0x09, "x-wap-application:emn.ua"),
    (0x0A, "x-wap-application:wv.ua"),
];

/// x-wap-application:mms.ua.
pub const APP_ID_MMS_UA: u32 = 0x04;

/// URN of a push application id.
pub fn application_id_name(code: u32) -> Option<&'static str> {
    APPLICATION_IDS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// Well-known parameter names (Table 38) with the encoding version that defined them.
pub const PARAM_NAMES: &[(u8, &str)] = &[
    (0x00, "q"),
    (0x01, "charset"),
    (0x02, "level"),
    (0x03, "type"),
    (0x05, "name"),
    (0x06, "filename"),
    (0x07, "differences"),
    (0x08, "padding"),
    (0x09, "type"),
    (0x0A, "start"),
    (0x0B, "start-info"),
    (0x0C, "comment"),
    (0x0D, "domain"),
    (0x0E, "max-age"),
    (0x0F, "path"),
    (0x10, "secure"),
    (0x11, "sec"),
    (0x12, "mac"),
    (0x13, "creation-date"),
    (0x14, "modification-date"),
    (0x15, "read-date"),
    (0x16, "size"),
    (0x17, "name"),
    (0x18, "filename"),
    (0x19, "start"),
    (0x1A, "start-info"),
    (0x1B, "comment"),
    (0x1C, "domain"),
    (0x1D, "path"),
];

/// Name of a well-known parameter.
pub fn param_name(code: u8) -> Option<&'static str> {
    PARAM_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

/// The code an encoder uses for a parameter name: the WSP 1.2 codes that every handset reads
/// (Type 0x09, Start 0x0A, Name 0x05, Filename 0x06), the 1.4 codes only where no older one exists.
pub fn param_code(name: &str) -> Option<u8> {
    const PREFERRED: &[(&str, u8)] = &[
        ("q", 0x00),
        ("charset", 0x01),
        ("level", 0x02),
        ("type", 0x09),
        ("name", 0x05),
        ("filename", 0x06),
        ("differences", 0x07),
        ("padding", 0x08),
        ("start", 0x0A),
        ("start-info", 0x0B),
        ("comment", 0x0C),
        ("domain", 0x0D),
        ("max-age", 0x0E),
        ("path", 0x0F),
        ("secure", 0x10),
        ("sec", 0x11),
        ("mac", 0x12),
        ("creation-date", 0x13),
        ("modification-date", 0x14),
        ("read-date", 0x15),
        ("size", 0x16),
    ];
    PREFERRED
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        assert_eq!(
            content_type_name(0x33),
            Some("application/vnd.wap.multipart.related")
        );
        assert_eq!(content_type_code("IMAGE/JPEG"), Some(0x1E));
        assert_eq!(header_name(0x2F), Some("X-Wap-Application-Id"));
        assert_eq!(header_name(0x40), Some("Content-ID"));
        assert_eq!(header_name(0x43), Some("Encoding-Version"));
        assert_eq!(header_name(0x45), Some("Content-Disposition"));
        assert_eq!(application_id_name(4), Some("x-wap-application:mms.ua"));
        // Every preferred code names itself.
        for (code, name) in PARAM_NAMES {
            let c = param_code(name).unwrap();
            assert_eq!(param_name(c), Some(*name), "{code:#x}");
        }
        // Codes are unique.
        for (i, (a, _)) in CONTENT_TYPES.iter().enumerate() {
            assert!(CONTENT_TYPES[i + 1..].iter().all(|(b, _)| a != b));
        }
    }
}
