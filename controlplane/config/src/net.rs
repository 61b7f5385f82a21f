//! Address types of the configuration: [`Cidr`] prefixes and [`HttpUrl`]s, and the syntax
//! checks for header names, DNS names, E.164 prefixes and interface names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An IP prefix such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a prefix of one host
/// (`/32` or `/128`).
///
/// The address is kept as written (host bits may be set, as in an interface address
/// `10.0.0.2/24`); [`Cidr::contains`] compares only the first `prefix_len` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    Address(String),
    /// The part after `/` is not a decimal number.
    #[error("prefix length {0:?} is not a number")]
    PrefixSyntax(String),
    /// The prefix length is longer than the address.
    #[error("prefix length {len} is more than {max}")]
    PrefixTooLong {
        /// The length given.
        len: u32,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

impl Cidr {
    /// A prefix of `prefix_len` bits of `addr`.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr, CidrError> {
        let max = max_prefix_len(addr);
        if prefix_len > max {
            return Err(CidrError::PrefixTooLong {
                len: u32::from(prefix_len),
                max,
            });
        }
        Ok(Cidr { addr, prefix_len })
    }

    /// The prefix of the single address `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix_len: max_prefix_len(addr),
        }
    }

    /// The address as written.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that [`Cidr::contains`] compares.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The address with its host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from_bits(a.to_bits() & mask32(self.prefix_len))),
            IpAddr::V6(a) => {
                IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() & mask128(self.prefix_len)))
            }
        }
    }

    /// Whether `ip` lies in this prefix.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports for an
    /// IPv4 peer) is compared as the IPv4 address it carries. An IPv4 address is never inside
    /// an IPv6 prefix, nor the reverse.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix_len);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix_len);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            _ => false,
        }
    }
}

fn max_prefix_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr_text, len_text) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::Address(addr_text.to_owned()))?;
        let max = max_prefix_len(addr);
        let len = match len_text {
            None => max,
            Some(l) => {
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError::PrefixSyntax(l.to_owned()));
                }
                let len: u32 = l
                    .parse()
                    .map_err(|_| CidrError::PrefixSyntax(l.to_owned()))?;
                u8::try_from(len)
                    .ok()
                    .filter(|&len| len <= max)
                    .ok_or(CidrError::PrefixTooLong { len, max })?
            }
        };
        Cidr::new(addr, len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An absolute `http://` or `https://` URL with a host, an optional port, a path and an
/// optional query: what the MMSC serves on (MM1) and what it calls (PPG, SMS gateway).
///
/// Credentials in the authority (`user:password@`) and fragments (`#...`) are refused; the
/// text is kept exactly as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    text: String,
    https: bool,
    host: Range<usize>,
    port: Option<u16>,
    path: Range<usize>,
}

/// Why a string is not an [`HttpUrl`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Neither `http://` nor `https://`.
    #[error("the scheme is not http:// or https://")]
    Scheme,
    /// Spaces or control characters.
    #[error("it contains spaces or control characters")]
    Whitespace,
    /// `user:password@host`.
    #[error("credentials in the URL (user@host) are not supported")]
    Credentials,
    /// Nothing between `//` and the path.
    #[error("it has no host")]
    NoHost,
    /// The host is neither a DNS name, an IPv4 address nor a bracketed IPv6 address.
    #[error("host {0:?} is not a DNS name, an IPv4 address or a bracketed IPv6 address")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
    /// Nothing after the authority: a path, at least `/`, is needed.
    #[error("it has no path (at least \"/\" is needed)")]
    NoPath,
    /// A `#fragment`, which is never sent to a server.
    #[error("it has a #fragment")]
    Fragment,
}

impl HttpUrl {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<HttpUrl, UrlError> {
        let (https, rest_at) = if starts_with_ignore_case(text, "http://") {
            (false, 7)
        } else if starts_with_ignore_case(text, "https://") {
            (true, 8)
        } else {
            return Err(UrlError::Scheme);
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Whitespace);
        }
        if text.contains('#') {
            return Err(UrlError::Fragment);
        }
        let rest = text.get(rest_at..).unwrap_or_default();
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = rest.get(..authority_len).unwrap_or_default();
        if authority.contains('@') {
            return Err(UrlError::Credentials);
        }
        if authority.is_empty() {
            return Err(UrlError::NoHost);
        }
        // Split host and port; an IPv6 host is bracketed and contains colons itself.
        let (host, port_text) = if let Some(inner) = authority.strip_prefix('[') {
            let close = inner
                .find(']')
                .ok_or_else(|| UrlError::Host(authority.to_owned()))?;
            let (v6, after) = inner.split_at(close);
            if v6.parse::<Ipv6Addr>().is_err() {
                return Err(UrlError::Host(authority.to_owned()));
            }
            let after = after.get(1..).unwrap_or_default();
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| UrlError::Host(authority.to_owned()))?,
                ),
            };
            (v6, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if !authority.starts_with('[') && !is_url_host(host) {
            return Err(UrlError::Host(host.to_owned()));
        }
        let port = match port_text {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n != 0 && p.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| UrlError::Port(p.to_owned()))?,
            ),
        };
        let path_start = rest_at + authority_len;
        if !text.get(path_start..).unwrap_or_default().starts_with('/') {
            return Err(UrlError::NoPath);
        }
        let path_end = text
            .get(path_start..)
            .and_then(|p| p.find('?'))
            .map_or(text.len(), |q| path_start + q);
        // The host's offset: after the scheme, past an opening bracket.
        let host_start = rest_at + usize::from(authority.starts_with('['));
        Ok(HttpUrl {
            text: text.to_owned(),
            https,
            host: host_start..host_start + host.len(),
            port,
            path: path_start..path_end,
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host: a DNS name, an IPv4 address, or an IPv6 address without its brackets.
    pub fn host(&self) -> &str {
        self.text.get(self.host.clone()).unwrap_or_default()
    }

    /// The port: as written, else 80 for http and 443 for https.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// The path, from its leading `/` up to any `?`.
    pub fn path(&self) -> &str {
        self.text.get(self.path.clone()).unwrap_or_default()
    }

    /// The query, after `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.text.get(self.path.end..)?.strip_prefix('?')
    }

    /// The path and any query: the request target of an HTTP/1.1 request to this URL.
    pub fn path_and_query(&self) -> &str {
        self.text.get(self.path.start..).unwrap_or_default()
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn is_url_host(host: &str) -> bool {
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().is_ok();
    }
    is_dns_name(host)
}

impl FromStr for HttpUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<HttpUrl, UrlError> {
        HttpUrl::parse(s)
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HttpUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// An HTTP field name: one or more `tchar`s (RFC 9110 section 5.6.2).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A DNS host name: dot-separated labels of 1 to 63 letters, digits and hyphens, not starting
/// or ending with a hyphen, 253 octets at most; one trailing dot is allowed.
pub(crate) fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An E.164 number or number prefix: `+` and 1 to 15 digits.
pub(crate) fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A Linux network interface name: 1 to 15 octets, no `/`, `:` or whitespace, not `.` or `..`.
pub(crate) fn is_interface_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parse_and_contains_v4() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert_eq!(c.prefix_len(), 16);
        assert!(c.contains(ip("10.1.2.3")));
        assert!(c.contains(ip("10.1.255.255")));
        assert!(!c.contains(ip("10.2.0.0")));
        assert!(!c.contains(ip("::1")));
        // IPv4-mapped IPv6, as a dual-stack socket reports an IPv4 peer.
        assert!(c.contains(ip("::ffff:10.1.9.9")));
        assert_eq!(c.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn cidr_parse_and_contains_v6() {
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:1::5")));
        assert!(!c.contains(ip("2001:db9::")));
        assert!(!c.contains(ip("10.0.0.1")));
    }

    #[test]
    fn cidr_edges() {
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!(!all.contains(ip("::1")));
        let all6: Cidr = "::/0".parse().unwrap();
        assert!(all6.contains(ip("2001:db8::1")));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.prefix_len(), 32);
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        let host6: Cidr = "::1".parse().unwrap();
        assert_eq!(host6.prefix_len(), 128);
        let iface: Cidr = "10.0.0.2/24".parse().unwrap();
        assert_eq!(iface.addr(), ip("10.0.0.2"));
        assert_eq!(iface.network(), ip("10.0.0.0"));
        assert!(iface.contains(ip("10.0.0.200")));
    }

    #[test]
    fn cidr_errors() {
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { len: 33, max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::PrefixTooLong { len: 129, max: 128 })
        );
        assert!(matches!(
            "10.0.0/8".parse::<Cidr>(),
            Err(CidrError::Address(_))
        ));
        assert!(matches!(
            "10.0.0.0/".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax(_))
        ));
        assert!(matches!(
            "10.0.0.0/+8".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax(_))
        ));
        assert!(matches!(
            "10.0.0.0/8/8".parse::<Cidr>(),
            Err(CidrError::PrefixSyntax(_))
        ));
        assert!(matches!("".parse::<Cidr>(), Err(CidrError::Address(_))));
    }

    #[test]
    fn url_parts() {
        let u = HttpUrl::parse("http://127.0.0.1:8514/mms").unwrap();
        assert!(!u.is_https());
        assert_eq!(u.host(), "127.0.0.1");
        assert_eq!(u.port(), 8514);
        assert_eq!(u.path(), "/mms");
        assert_eq!(u.query(), None);
        let u = HttpUrl::parse("https://mmsc.example.com/").unwrap();
        assert!(u.is_https());
        assert_eq!(u.port(), 443);
        assert_eq!(u.path(), "/");
        let u = HttpUrl::parse("http://[::1]:13013/cgi-bin/sendsms?username=u&password=p").unwrap();
        assert_eq!(u.host(), "::1");
        assert_eq!(u.port(), 13013);
        assert_eq!(u.path(), "/cgi-bin/sendsms");
        assert_eq!(u.query(), Some("username=u&password=p"));
        assert_eq!(u.path_and_query(), "/cgi-bin/sendsms?username=u&password=p");
        let u = HttpUrl::parse("HTTP://gw/x").unwrap();
        assert_eq!(u.port(), 80);
        assert_eq!(u.as_str(), "HTTP://gw/x");
    }

    #[test]
    fn url_errors() {
        let cases = [
            ("ftp://host/", UrlError::Scheme),
            ("127.0.0.1:8514/mms", UrlError::Scheme),
            ("http:///mms", UrlError::NoHost),
            ("http://host", UrlError::NoPath),
            ("http://host?x=1", UrlError::NoPath),
            ("http://host:0/", UrlError::Port("0".into())),
            ("http://host:99999/", UrlError::Port("99999".into())),
            ("http://host:/", UrlError::Port(String::new())),
            ("http://u:p@host/", UrlError::Credentials),
            ("http://host/a b", UrlError::Whitespace),
            ("http://host/#top", UrlError::Fragment),
            ("http://ho_st/", UrlError::Host("ho_st".into())),
            ("http://10.0.0.300/", UrlError::Host("10.0.0.300".into())),
            ("http://[zz]/", UrlError::Host("[zz]".into())),
        ];
        for (text, want) in cases {
            assert_eq!(HttpUrl::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn syntax_checks() {
        assert!(is_token("X-MSISDN"));
        assert!(is_token("X-WAP-Network-Client-MSISDN"));
        assert!(!is_token(""));
        assert!(!is_token("X MSISDN"));
        assert!(!is_token("X-MSISDN:"));
        assert!(is_dns_name("mmsc.local"));
        assert!(is_dns_name("localhost"));
        assert!(is_dns_name("a-b.example."));
        assert!(!is_dns_name("-a.example"));
        assert!(!is_dns_name("a..example"));
        assert!(!is_dns_name("mmsc_1.local"));
        assert!(!is_dns_name(""));
        assert!(is_e164("+35840"));
        assert!(is_e164("+1"));
        assert!(!is_e164("35840"));
        assert!(!is_e164("+"));
        assert!(!is_e164("+3584 0"));
        assert!(!is_e164("+1234567890123456"));
        assert!(is_interface_name("eth0"));
        assert!(is_interface_name("veth-mmsc0"));
        assert!(!is_interface_name(""));
        assert!(!is_interface_name("a/b"));
        assert!(!is_interface_name("sixteen-chars-xx"));
    }
}
