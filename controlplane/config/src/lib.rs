//! The configuration of mmsc: its schema, defaults, validation and documented example.
//!
//! # Contract
//!
//! - **One TOML file**, read by [`load`] (or [`parse`] from text). Every key has a default
//!   ([`Config::default`]), so an empty file, or none, gives a complete MMSC on loopback with
//!   its store in `./mmsc-data`.
//! - **Every problem at once.** Unknown sections and keys, values of the wrong type, values
//!   that do not parse (addresses, CIDR prefixes, URLs, names) and rules between keys (a push
//!   mode and its URL, retry bounds, insecure settings) are all collected into one
//!   [`ConfigErrors`], each [`Problem`] with its key path (`mm1.trusted_proxies[1]`) and line,
//!   sorted by line. A file that is not valid TOML reports its syntax errors only.
//! - **The example is the documentation.** [`example`] is the complete file with every key at
//!   its default and a comment on each; tests check that it parses to exactly
//!   [`Config::default`] and that it names every field of [`Config`], so the two cannot drift.
//! - **Naming.** Units are in key names (`_bytes`, `_secs`); an option that turns a
//!   protection off starts with `insecure_`. An empty string means "not set" where a key is
//!   optional (`admin.listen`, `push.log_path`, URLs of unused push modes).
//! - A [`Config`] returned by [`parse`] or [`load`] satisfies [`Config::validate`]; a `Config`
//!   built or changed in code should be checked with it.
//!
//! # Why not `#[derive(Deserialize)]`
//!
//! serde stops at the first error, and the contract is to report them all. So the file is
//! parsed into a spanned TOML tree, and each section is walked key by key against the schema
//! in this crate: an absent key takes its default, a bad one records a problem (and its
//! default stands in, so the walk goes on), keys left over are unknown. Rules that involve
//! more than one key run on the typed [`Config`] afterwards ([`Config::validate`]). The types
//! still implement `Serialize`, into this same schema (for printing the effective
//! configuration).

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used)
)]

mod error;
mod net;
mod read;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Serialize, Serializer};
use toml::de::DeTable;

pub use error::{ConfigErrors, Problem};
pub use net::{Cidr, CidrError, HttpUrl, UrlError};

use read::{Reader, boolean, optional, parsed, string, uint};

/// The whole configuration: one field per section of the file.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Config {
    /// `[mm1]`: the HTTP interface to handsets.
    pub mm1: Mm1,
    /// `[mm4]`: the SMTP interface to other operators' MMSCs.
    pub mm4: Mm4,
    /// `[subscribers]`: who is served here.
    pub subscribers: Subscribers,
    /// `[store]`: the embedded message store (MM2).
    pub store: Store,
    /// `[push]`: how notifications reach handsets.
    pub push: Push,
    /// `[dataplane]`: packet I/O backend and cores.
    pub dataplane: Dataplane,
    /// `[mmsc]`: identity of this MMSC.
    pub mmsc: Mmsc,
    /// `[admin]`: the administration API.
    pub admin: Admin,
}

/// `[mm1]`: the HTTP interface that handsets reach through the operator's WAP gateway / GGSN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mm1 {
    /// Address and port to listen on. Default `127.0.0.1:8514`.
    pub listen: SocketAddr,
    /// The URL handsets POST to (no query): its path is the POST target and the base of
    /// Content-Location URLs. Default `http://127.0.0.1:8514/mms`.
    pub public_url: HttpUrl,
    /// Headers carrying the sender's MSISDN, tried in order, believed only from
    /// [`trusted_proxies`](Mm1::trusted_proxies). Default `X-MSISDN`,
    /// `X-WAP-Network-Client-MSISDN`.
    pub msisdn_headers: Vec<String>,
    /// Client prefixes whose MSISDN headers are believed. Default `127.0.0.1/32`.
    pub trusted_proxies: Vec<Cidr>,
    /// Allow a `/0` prefix in `trusted_proxies` (anyone may claim any MSISDN). Default false.
    pub insecure_trust_any_proxy: bool,
    /// Largest submitted message (HTTP body), octets. Default 1 MiB (1048576).
    pub max_message_bytes: usize,
    /// Largest request line plus headers, octets. Default 8192.
    pub max_header_bytes: usize,
    /// Most connections open at once. Default 10000.
    pub max_connections: usize,
    /// Idle keep-alive connections are closed after this. Default 60.
    pub idle_timeout_secs: u64,
    /// A request must arrive in full within this, from its first octet. Default 30.
    pub request_timeout_secs: u64,
    /// Expiry of messages that set none. Default 604800 (7 days).
    pub default_expiry_secs: u64,
    /// Longest expiry accepted; longer requests are cut to it. Default 1209600 (14 days).
    pub max_expiry_secs: u64,
}

impl Default for Mm1 {
    fn default() -> Mm1 {
        Mm1 {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8514),
            public_url: default_url("http://127.0.0.1:8514/mms"),
            msisdn_headers: vec![
                "X-MSISDN".to_owned(),
                "X-WAP-Network-Client-MSISDN".to_owned(),
            ],
            trusted_proxies: vec![Cidr::host(IpAddr::V4(Ipv4Addr::LOCALHOST))],
            insecure_trust_any_proxy: false,
            max_message_bytes: 1024 * 1024,
            max_header_bytes: 8192,
            max_connections: 10_000,
            idle_timeout_secs: 60,
            request_timeout_secs: 30,
            default_expiry_secs: 7 * DAY_SECS,
            max_expiry_secs: 14 * DAY_SECS,
        }
    }
}

const DAY_SECS: u64 = 24 * 60 * 60;

/// A URL of the defaults. These are constants, and the tests parse every one of them.
fn default_url(text: &str) -> HttpUrl {
    HttpUrl::parse(text).expect("the URLs of the defaults are valid")
}

impl Mm1 {
    /// The path of [`public_url`](Mm1::public_url), as written (e.g. `/mms`): where handsets
    /// POST.
    pub fn path(&self) -> &str {
        self.public_url.path()
    }

    /// The base of Content-Location URLs: `public_url` ending in exactly the `/` it has or
    /// one added (`http://127.0.0.1:8514/mms/`). A message's URL is this plus its id.
    pub fn content_location_base(&self) -> String {
        let url = self.public_url.as_str();
        if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        }
    }

    /// Whether a client at `ip` is a trusted proxy, whose MSISDN headers are believed.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }
}

/// `[mm4]`: SMTP to and from other operators' MMSCs. The SMTP engine is not built yet; with
/// a backend that classifies packets (`xdp`), the listener's port is already classified and
/// only [`peers`](Mm4::peers) reach it.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Mm4 {
    /// Address and port of the MM4 SMTP listener; `None` (written `""`) turns MM4 off. A
    /// fixed port, not the port of `mm1.listen`. Default `None`.
    #[serde(serialize_with = "display_or_empty")]
    pub listen: Option<SocketAddr>,
    /// Prefixes of the peer MMSCs allowed to connect, no repeats, none of length 0 (that
    /// would be an open relay). Default empty (no peer).
    pub peers: Vec<Cidr>,
}

impl Mm4 {
    /// Whether a client at `ip` is a configured peer MMSC.
    pub fn is_peer(&self, ip: IpAddr) -> bool {
        self.peers.iter().any(|c| c.contains(ip))
    }
}

/// `[subscribers]`: the subscribers this MMSC serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscribers {
    /// E.164 prefixes (`+` and digits) of local MSISDNs. Default `+35840`.
    pub local_prefixes: Vec<String>,
}

impl Default for Subscribers {
    fn default() -> Subscribers {
        Subscribers {
            local_prefixes: vec!["+35840".to_owned()],
        }
    }
}

impl Subscribers {
    /// Whether `msisdn` is served here: an E.164 number (`+` and 1 to 15 digits, as
    /// recipients are normalised before routing) that starts with a local prefix.
    /// Anything else, national formats included, is not local.
    pub fn is_local(&self, msisdn: &str) -> bool {
        net::is_e164(msisdn)
            && self
                .local_prefixes
                .iter()
                .any(|p| msisdn.starts_with(p.as_str()))
    }
}

/// `[store]`: the embedded message store (MM2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Store {
    /// Directory of the segment files. Default `./mmsc-data`.
    pub path: PathBuf,
    /// Size of one segment file, octets, at least 4096. Default 64 MiB (67108864).
    pub segment_bytes: u64,
    /// Most records made durable by one fdatasync. Default 1024.
    pub max_batch_records: usize,
    /// How records are written. Default [`StoreIo::Direct`].
    pub io: StoreIo,
    /// MiB of the most recently written records kept in memory to serve retrievals; older ones
    /// are read from the disk (by a fetcher thread) when asked for. Direct I/O: the store's
    /// own write buffers (at least the newest batch; 0 keeps none). Buffered: the page cache
    /// (older ranges are dropped from it; 0 leaves it to the kernel). Default 256.
    pub window_mb: u64,
    /// Keep the next segment ready ahead of time (a deleted one reused, or a new one
    /// preallocated) off the commit path. Default true.
    pub prepare_segments: bool,
    /// Write new prepared segments with zeros before use. Default false.
    pub zero_fill: bool,
}

/// `[store] io`: how the store writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreIo {
    /// `"direct"`: `O_DIRECT` writes from the store's own aligned buffers, no page-cache copy
    /// (falls back to buffered where the file system refuses it). The default.
    #[default]
    Direct,
    /// `"buffered"`: writes through the page cache.
    Buffered,
}

impl StoreIo {
    const NAMES: &[&str] = &["direct", "buffered"];

    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreIo::Direct => "direct",
            StoreIo::Buffered => "buffered",
        }
    }
}

impl FromStr for StoreIo {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<StoreIo, UnknownName> {
        match s {
            "direct" => Ok(StoreIo::Direct),
            "buffered" => Ok(StoreIo::Buffered),
            _ => Err(UnknownName {
                expected: StoreIo::NAMES,
            }),
        }
    }
}

impl fmt::Display for StoreIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for Store {
    fn default() -> Store {
        Store {
            path: PathBuf::from("./mmsc-data"),
            segment_bytes: 64 * 1024 * 1024,
            max_batch_records: 1024,
            io: StoreIo::Direct,
            window_mb: 256,
            prepare_segments: true,
            zero_fill: false,
        }
    }
}

/// How notifications are pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    /// `"log"`: write them to a file, send nothing. The default.
    #[default]
    Log,
    /// `"pap"`: PAP over HTTP to a Push Proxy Gateway.
    Pap,
    /// `"sendsms"`: WAP Push SMS through an SMS gateway's HTTP API.
    Sendsms,
}

impl PushMode {
    const NAMES: &[&str] = &["log", "pap", "sendsms"];

    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMode::Log => "log",
            PushMode::Pap => "pap",
            PushMode::Sendsms => "sendsms",
        }
    }
}

impl FromStr for PushMode {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<PushMode, UnknownName> {
        match s {
            "log" => Ok(PushMode::Log),
            "pap" => Ok(PushMode::Pap),
            "sendsms" => Ok(PushMode::Sendsms),
            _ => Err(UnknownName {
                expected: PushMode::NAMES,
            }),
        }
    }
}

impl fmt::Display for PushMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of a fixed set (a [`PushMode`], [`Backend`], [`XdpMode`] or
/// [`StoreIo`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected one of {}", quoted_list(self.expected))]
pub struct UnknownName {
    /// The names accepted.
    pub expected: &'static [&'static str],
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[push]`: how an m-notification-ind reaches the recipient's handset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Push {
    /// Which way to push. Default [`PushMode::Log`].
    pub mode: PushMode,
    /// The PPG's PAP URL; `Some` whenever `mode` is [`PushMode::Pap`].
    /// Default `http://127.0.0.1:13180/wappush`.
    #[serde(serialize_with = "display_or_empty")]
    pub pap_url: Option<HttpUrl>,
    /// Domain of PAP client addresses (`WAPPUSH=+MSISDN/TYPE=PLMN@domain`). Default
    /// `ppg.example`.
    pub pap_address_domain: String,
    /// The SMS gateway's send URL with its fixed parameters; `Some` whenever `mode` is
    /// [`PushMode::Sendsms`].
    /// Default `http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p`.
    #[serde(serialize_with = "display_or_empty")]
    pub sendsms_url: Option<HttpUrl>,
    /// File for mode log; `None` (written `""`) means `notifications.log` in the store
    /// directory, see [`Push::log_file`]. Default `None`.
    #[serde(serialize_with = "path_or_empty")]
    pub log_path: Option<PathBuf>,
    /// Push requests in flight at once. Default 2.
    pub workers: usize,
    /// Time limit of one push request. Default 10.
    pub timeout_secs: u64,
    /// First wait before a retry, doubled each time. Default 1.
    pub retry_initial_secs: u64,
    /// Longest wait between retries, at least `retry_initial_secs`. Default 300.
    pub retry_max_secs: u64,
}

impl Default for Push {
    fn default() -> Push {
        Push {
            mode: PushMode::Log,
            pap_url: Some(default_url("http://127.0.0.1:13180/wappush")),
            pap_address_domain: "ppg.example".to_owned(),
            sendsms_url: Some(default_url(
                "http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p",
            )),
            log_path: None,
            workers: 2,
            timeout_secs: 10,
            retry_initial_secs: 1,
            retry_max_secs: 300,
        }
    }
}

impl Push {
    /// The file mode log writes to: `log_path`, or `notifications.log` in `store_path`
    /// (normally [`Store::path`]).
    pub fn log_file(&self, store_path: &Path) -> PathBuf {
        match &self.log_path {
            Some(p) => p.clone(),
            None => store_path.join("notifications.log"),
        }
    }
}

/// The packet I/O backend of the dataplane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// `"kernel"`: kernel sockets. The default.
    #[default]
    Kernel,
    /// `"xdp"`: kernel sockets behind an XDP classifier.
    Xdp,
    /// `"afxdp"`: AF_XDP sockets and a user-space TCP stack per core.
    Afxdp,
    /// `"dpdk"`: a DPDK port and a user-space TCP stack per core.
    Dpdk,
}

impl Backend {
    const NAMES: &[&str] = &["kernel", "xdp", "afxdp", "dpdk"];

    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Kernel => "kernel",
            Backend::Xdp => "xdp",
            Backend::Afxdp => "afxdp",
            Backend::Dpdk => "dpdk",
        }
    }

    /// Whether this backend attaches to [`Dataplane::interface`].
    pub fn needs_interface(self) -> bool {
        matches!(self, Backend::Xdp | Backend::Afxdp)
    }

    /// Whether this backend runs its own TCP stack, at [`Dataplane::address`].
    pub fn needs_address(self) -> bool {
        matches!(self, Backend::Afxdp | Backend::Dpdk)
    }

    /// Whether packets pass a classifier (the XDP program, or its user-space twin) before
    /// the TCP stack: what enforces [`Dataplane::syn_rate_per_source`] and drops MM4 packets
    /// of non-peers early.
    pub fn classifies(self) -> bool {
        !matches!(self, Backend::Kernel)
    }
}

impl FromStr for Backend {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Backend, UnknownName> {
        match s {
            "kernel" => Ok(Backend::Kernel),
            "xdp" => Ok(Backend::Xdp),
            "afxdp" => Ok(Backend::Afxdp),
            "dpdk" => Ok(Backend::Dpdk),
            _ => Err(UnknownName {
                expected: Backend::NAMES,
            }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the XDP program attaches to [`Dataplane::interface`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// `"auto"`: the driver's native XDP, else generic mode. The default.
    #[default]
    Auto,
    /// `"driver"`: native XDP only (the fast path); fails on a driver without it.
    Driver,
    /// `"generic"`: generic (skb) XDP only: works on any interface, no speed-up.
    Generic,
}

impl XdpMode {
    const NAMES: &[&str] = &["auto", "driver", "generic"];

    /// The name used in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Driver => "driver",
            XdpMode::Generic => "generic",
        }
    }
}

impl FromStr for XdpMode {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<XdpMode, UnknownName> {
        match s {
            "auto" => Ok(XdpMode::Auto),
            "driver" => Ok(XdpMode::Driver),
            "generic" => Ok(XdpMode::Generic),
            _ => Err(UnknownName {
                expected: XdpMode::NAMES,
            }),
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[dataplane]`: packet I/O and the cores that run the protocol engines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dataplane {
    /// Packet I/O backend. Default [`Backend::Kernel`].
    pub backend: Backend,
    /// CPU cores for dataplane engines, no repeats; empty chooses automatically. Default
    /// empty.
    pub cores: Vec<usize>,
    /// Interface for xdp and afxdp (required there); empty otherwise. Default empty.
    pub interface: String,
    /// Address and prefix of the user-space TCP stack, for afxdp and dpdk (required
    /// there). Default `None` (written `""`).
    #[serde(serialize_with = "display_or_empty")]
    pub address: Option<Cidr>,
    /// DPDK EAL arguments, for dpdk. Default empty.
    pub dpdk_args: Vec<String>,
    /// Descriptors per rx and per tx ring of the dpdk port's queues (DPDK rounds them to what
    /// the NIC takes), 64 to 16384. Default 2048.
    pub dpdk_descriptors: u16,
    /// Frames of each AF_XDP socket's UMEM, for afxdp: a power of two, 256 to 262144; half
    /// receive (the rx and fill rings have that many entries), half transmit. Default 16384
    /// (32 MiB of 2 KiB frames).
    pub afxdp_frames: u32,
    /// How the XDP program attaches, for xdp and afxdp. Default [`XdpMode::Auto`].
    pub xdp_mode: XdpMode,
    /// New TCP connections (SYNs) to the MMSC's listeners allowed per second from one source
    /// address, enforced by the packet classifier (not with backend kernel); 0 = no limit.
    /// Default 0.
    pub syn_rate_per_source: u32,
    /// Burst of the per-source SYN limit (token bucket capacity), at least 1 when
    /// `syn_rate_per_source` is set. Default 32.
    pub syn_burst: u32,
    /// afxdp and dpdk: microseconds an idle core keeps polling (yielding between polls)
    /// before it sleeps. More: lower latency, more CPU; 0: sleep at once. Default 50.
    pub idle_poll_us: u64,
}

impl Default for Dataplane {
    fn default() -> Dataplane {
        Dataplane {
            backend: Backend::Kernel,
            cores: Vec::new(),
            interface: String::new(),
            address: None,
            dpdk_args: Vec::new(),
            dpdk_descriptors: 2048,
            afxdp_frames: 16384,
            xdp_mode: XdpMode::Auto,
            syn_rate_per_source: 0,
            syn_burst: 32,
            idle_poll_us: 50,
        }
    }
}

/// `[mmsc]`: the identity of this MMSC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mmsc {
    /// DNS name in the Message-IDs this MMSC assigns. Default `mmsc.local`.
    pub hostname: String,
    /// Let the kernel back the process's memory with transparent huge pages where the
    /// system's setting allows them. Default false: the process turns them off for itself.
    pub transparent_hugepages: bool,
}

impl Default for Mmsc {
    fn default() -> Mmsc {
        Mmsc {
            hostname: "mmsc.local".to_owned(),
            transparent_hugepages: false,
        }
    }
}

/// `[admin]`: the administration API, a listener of its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Admin {
    /// Where to listen; `None` (written `""`) turns the API off. A loopback address unless
    /// `insecure_public_listen`. Default `127.0.0.1:8515`.
    #[serde(serialize_with = "display_or_empty")]
    pub listen: Option<SocketAddr>,
    /// Allow `listen` on a non-loopback address. Default false.
    pub insecure_public_listen: bool,
}

/// The documented default configuration file: every section and key, each with a comment,
/// at its default value. Parsing it gives [`Config::default`].
pub fn example() -> &'static str {
    include_str!("example.toml")
}

/// Reads a configuration from TOML text, reporting every problem in it.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let (doc, syntax) = DeTable::parse_recoverable(text);
    let mut reader = Reader::new(text);
    if !syntax.is_empty() {
        // What the parser recovered from broken TOML is guesswork: report the syntax only.
        let problems = syntax
            .iter()
            .map(|e| {
                let line = e.span().map(|s| reader.line_of(s.start));
                let mut message = format!("not valid TOML: {}", e.message());
                if let Some(written) = line.and_then(|n| text.lines().nth(n.saturating_sub(1))) {
                    let written: String = written.trim().chars().take(80).collect();
                    message.push_str(&format!(", in `{written}`"));
                }
                Problem {
                    path: String::new(),
                    line,
                    message,
                }
            })
            .collect();
        return Err(ConfigErrors::new(problems));
    }
    let root = doc.get_ref();
    let config = Config {
        mm1: read_mm1(&mut reader, root),
        mm4: read_mm4(&mut reader, root),
        subscribers: read_subscribers(&mut reader, root),
        store: read_store(&mut reader, root),
        push: read_push(&mut reader, root),
        dataplane: read_dataplane(&mut reader, root),
        mmsc: read_mmsc(&mut reader, root),
        admin: read_admin(&mut reader, root),
    };
    reader.finish_root(root);
    for f in config.findings() {
        reader.finding(f.path, f.related, f.message);
    }
    let problems = reader.into_problems();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::new(problems))
    }
}

/// Reads a configuration file, reporting every problem in it; a file that cannot be read (or
/// is not UTF-8) is one problem.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::new(vec![Problem {
            path: String::new(),
            line: None,
            message: format!("cannot read the configuration: {e}"),
        }])
        .in_file(path)
    })?;
    parse(&text).map_err(|e| e.in_file(path))
}

impl FromStr for Config {
    type Err = ConfigErrors;

    fn from_str(text: &str) -> Result<Config, ConfigErrors> {
        parse(text)
    }
}

impl Config {
    /// Checks the rules on values beyond their types (sizes above zero, names well formed,
    /// a push mode's URL present, retry bounds ordered, insecure settings allowed). [`parse`]
    /// and [`load`] run it; problems it finds have no line.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let problems: Vec<Problem> = self
            .findings()
            .into_iter()
            .map(|f| Problem {
                path: f.path,
                line: None,
                message: f.message,
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors::new(problems))
        }
    }

    fn findings(&self) -> Vec<Finding> {
        let mut out = Findings(Vec::new());
        self.mm1.check(&mut out);
        self.mm4.check(&self.mm1, &mut out);
        self.subscribers.check(&mut out);
        self.store.check(&mut out);
        self.push.check(&mut out);
        self.dataplane.check(&mut out);
        self.mmsc.check(&mut out);
        self.admin.check(&mut out);
        out.0
    }
}

/// A problem found by validation: its path, a second key it involves, and the message.
struct Finding {
    path: String,
    related: Option<&'static str>,
    message: String,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            path: path.into(),
            related: None,
            message: message.into(),
        });
    }

    fn add_related(
        &mut self,
        path: impl Into<String>,
        related: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(Finding {
            path: path.into(),
            related: Some(related),
            message: message.into(),
        });
    }

    fn positive(&mut self, path: &str, value: u64) {
        if value == 0 {
            self.add(path, "must be more than 0");
        }
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Mm1 {
    fn check(&self, out: &mut Findings) {
        if self.public_url.query().is_some() {
            out.add(
                "mm1.public_url",
                "must not have a ?query: it is the base of Content-Location URLs",
            );
        }
        if self.msisdn_headers.is_empty() {
            out.add(
                "mm1.msisdn_headers",
                "at least one header is needed to identify senders",
            );
        }
        for (i, h) in self.msisdn_headers.iter().enumerate() {
            if !net::is_token(h) {
                out.add(
                    format!("mm1.msisdn_headers[{i}]"),
                    format!("{h:?} is not an HTTP header name"),
                );
            } else if self
                .msisdn_headers
                .iter()
                .take(i)
                .any(|earlier| earlier.eq_ignore_ascii_case(h))
            {
                out.add(
                    format!("mm1.msisdn_headers[{i}]"),
                    format!("{h:?} is listed twice"),
                );
            }
        }
        for (i, c) in self.trusted_proxies.iter().enumerate() {
            if c.prefix_len() == 0 && !self.insecure_trust_any_proxy {
                out.add_related(
                    format!("mm1.trusted_proxies[{i}]"),
                    "mm1.insecure_trust_any_proxy",
                    format!(
                        "\"{c}\" trusts every client to name its own sender MSISDN; \
                         set mm1.insecure_trust_any_proxy = true if that is intended"
                    ),
                );
            }
        }
        out.positive("mm1.max_message_bytes", as_u64(self.max_message_bytes));
        out.positive("mm1.max_header_bytes", as_u64(self.max_header_bytes));
        out.positive("mm1.max_connections", as_u64(self.max_connections));
        out.positive("mm1.idle_timeout_secs", self.idle_timeout_secs);
        out.positive("mm1.request_timeout_secs", self.request_timeout_secs);
        out.positive("mm1.default_expiry_secs", self.default_expiry_secs);
        if self.max_expiry_secs < self.default_expiry_secs {
            out.add_related(
                "mm1.max_expiry_secs",
                "mm1.default_expiry_secs",
                format!(
                    "{} is less than mm1.default_expiry_secs ({})",
                    self.max_expiry_secs, self.default_expiry_secs
                ),
            );
        }
    }
}

/// Whether two listening addresses take the same connections (same port, and the same
/// address or a wildcard that covers the other; `[::]` is dual-stack).
fn listeners_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    let covers = |w: IpAddr, x: IpAddr| {
        w == x || (w.is_unspecified() && (w.is_ipv6() || w.is_ipv4() == x.is_ipv4()))
    };
    a.port() == b.port() && (covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

impl Mm4 {
    fn check(&self, mm1: &Mm1, out: &mut Findings) {
        if let Some(listen) = self.listen {
            if listen.port() == 0 {
                out.add(
                    "mm4.listen",
                    format!("{listen}: port 0 is not a port peers can be told; give a fixed one"),
                );
            } else if listeners_overlap(listen, mm1.listen) {
                out.add_related(
                    "mm4.listen",
                    "mm1.listen",
                    format!(
                        "{listen} takes the connections of mm1.listen ({})",
                        mm1.listen
                    ),
                );
            }
        }
        for (i, c) in self.peers.iter().enumerate() {
            if c.prefix_len() == 0 {
                out.add(
                    format!("mm4.peers[{i}]"),
                    format!(
                        "\"{c}\" admits every source as a peer MMSC (an open relay); list the \
                         peers' prefixes"
                    ),
                );
            } else if self.peers.iter().take(i).any(|e| e == c) {
                out.add(
                    format!("mm4.peers[{i}]"),
                    format!("\"{c}\" is listed twice"),
                );
            }
        }
    }
}

impl Subscribers {
    fn check(&self, out: &mut Findings) {
        for (i, p) in self.local_prefixes.iter().enumerate() {
            if !net::is_e164(p) {
                out.add(
                    format!("subscribers.local_prefixes[{i}]"),
                    format!(
                        "{p:?} is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+35840\")"
                    ),
                );
            }
        }
    }
}

impl Store {
    /// Smallest segment accepted: one page. Smaller values are mistaken units.
    const MIN_SEGMENT_BYTES: u64 = 4096;

    fn check(&self, out: &mut Findings) {
        if self.path.as_os_str().is_empty() {
            out.add("store.path", "must not be empty");
        }
        if self.segment_bytes < Store::MIN_SEGMENT_BYTES {
            out.add(
                "store.segment_bytes",
                format!(
                    "must be at least {} (octets), found {}",
                    Store::MIN_SEGMENT_BYTES,
                    self.segment_bytes
                ),
            );
        }
        out.positive("store.max_batch_records", as_u64(self.max_batch_records));
    }
}

impl Push {
    fn check(&self, out: &mut Findings) {
        if self.mode == PushMode::Pap && self.pap_url.is_none() {
            out.add_related(
                "push.pap_url",
                "push.mode",
                "mode \"pap\" needs the PPG's URL here",
            );
        }
        if self.mode == PushMode::Sendsms && self.sendsms_url.is_none() {
            out.add_related(
                "push.sendsms_url",
                "push.mode",
                "mode \"sendsms\" needs the SMS gateway's URL here",
            );
        }
        if !net::is_dns_name(&self.pap_address_domain) {
            out.add(
                "push.pap_address_domain",
                format!("{:?} is not a DNS name", self.pap_address_domain),
            );
        }
        out.positive("push.workers", as_u64(self.workers));
        out.positive("push.timeout_secs", self.timeout_secs);
        out.positive("push.retry_initial_secs", self.retry_initial_secs);
        if self.retry_initial_secs > self.retry_max_secs {
            out.add_related(
                "push.retry_initial_secs",
                "push.retry_max_secs",
                format!(
                    "{} is more than push.retry_max_secs ({})",
                    self.retry_initial_secs, self.retry_max_secs
                ),
            );
        }
    }
}

impl Dataplane {
    fn check(&self, out: &mut Findings) {
        if !(256..=262_144).contains(&self.afxdp_frames) || !self.afxdp_frames.is_power_of_two() {
            out.add(
                "dataplane.afxdp_frames",
                format!(
                    "{} is not a power of two between 256 and 262144",
                    self.afxdp_frames
                ),
            );
        }
        if !(64..=16384).contains(&self.dpdk_descriptors) {
            out.add(
                "dataplane.dpdk_descriptors",
                format!("{} is not between 64 and 16384", self.dpdk_descriptors),
            );
        }
        for (i, core) in self.cores.iter().enumerate() {
            if self.cores.iter().take(i).any(|c| c == core) {
                out.add(
                    format!("dataplane.cores[{i}]"),
                    format!("core {core} is listed twice"),
                );
            }
        }
        if self.interface.is_empty() {
            if self.backend.needs_interface() {
                out.add_related(
                    "dataplane.interface",
                    "dataplane.backend",
                    format!("backend \"{}\" needs an interface", self.backend),
                );
            }
        } else if !net::is_interface_name(&self.interface) {
            out.add(
                "dataplane.interface",
                format!("{:?} is not a network interface name", self.interface),
            );
        }
        if self.address.is_none() && self.backend.needs_address() {
            out.add_related(
                "dataplane.address",
                "dataplane.backend",
                format!(
                    "backend \"{}\" needs the address of its TCP stack, e.g. \"192.0.2.10/24\"",
                    self.backend
                ),
            );
        }
        for (i, arg) in self.dpdk_args.iter().enumerate() {
            if arg.is_empty() {
                out.add(format!("dataplane.dpdk_args[{i}]"), "must not be empty");
            }
        }
        if self.syn_rate_per_source > 0 {
            if !self.backend.classifies() {
                out.add_related(
                    "dataplane.syn_rate_per_source",
                    "dataplane.backend",
                    format!(
                        "backend \"{}\" has no packet classifier to enforce it; use \"xdp\" \
                         (or set 0)",
                        self.backend
                    ),
                );
            }
            if self.syn_burst == 0 {
                out.add_related(
                    "dataplane.syn_burst",
                    "dataplane.syn_rate_per_source",
                    "must be at least 1 when dataplane.syn_rate_per_source is set",
                );
            }
        }
    }
}

impl Mmsc {
    fn check(&self, out: &mut Findings) {
        if !net::is_dns_name(&self.hostname) {
            out.add(
                "mmsc.hostname",
                format!("{:?} is not a DNS name", self.hostname),
            );
        }
    }
}

impl Default for Admin {
    fn default() -> Admin {
        Admin {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 8515))),
            insecure_public_listen: false,
        }
    }
}

impl Admin {
    fn check(&self, out: &mut Findings) {
        if let Some(addr) = self.listen
            && !addr.ip().is_loopback()
            && !self.insecure_public_listen
        {
            out.add_related(
                "admin.listen",
                "admin.insecure_public_listen",
                format!(
                    "{addr} is not a loopback address; set admin.insecure_public_listen = true \
                     to expose the admin API there"
                ),
            );
        }
    }
}

// Reading, section by section. Each reads every key of its section, in the order of the
// example file, with the default for what is absent.

const SOCKET_ADDR: &str = "an address:port such as \"127.0.0.1:8514\"";
const URL: &str = "an http:// or https:// URL";
const CIDR: &str = "a CIDR";

fn read_mm1(r: &mut Reader, root: &DeTable<'_>) -> Mm1 {
    let d = Mm1::default();
    let mut s = r.section(root, "mm1");
    let mm1 = Mm1 {
        listen: s.get("listen", d.listen, |v| parsed(SOCKET_ADDR, v)),
        public_url: s.get("public_url", d.public_url, |v| parsed(URL, v)),
        msisdn_headers: s.list("msisdn_headers", d.msisdn_headers, string),
        trusted_proxies: s.list("trusted_proxies", d.trusted_proxies, |v| parsed(CIDR, v)),
        insecure_trust_any_proxy: s.get(
            "insecure_trust_any_proxy",
            d.insecure_trust_any_proxy,
            boolean,
        ),
        max_message_bytes: s.get("max_message_bytes", d.max_message_bytes, uint),
        max_header_bytes: s.get("max_header_bytes", d.max_header_bytes, uint),
        max_connections: s.get("max_connections", d.max_connections, uint),
        idle_timeout_secs: s.get("idle_timeout_secs", d.idle_timeout_secs, uint),
        request_timeout_secs: s.get("request_timeout_secs", d.request_timeout_secs, uint),
        default_expiry_secs: s.get("default_expiry_secs", d.default_expiry_secs, uint),
        max_expiry_secs: s.get("max_expiry_secs", d.max_expiry_secs, uint),
    };
    s.finish();
    mm1
}

fn read_mm4(r: &mut Reader, root: &DeTable<'_>) -> Mm4 {
    let d = Mm4::default();
    let mut s = r.section(root, "mm4");
    let mm4 = Mm4 {
        listen: s.get("listen", d.listen, |v| optional(SOCKET_ADDR, v)),
        peers: s.list("peers", d.peers, |v| parsed(CIDR, v)),
    };
    s.finish();
    mm4
}

fn read_subscribers(r: &mut Reader, root: &DeTable<'_>) -> Subscribers {
    let d = Subscribers::default();
    let mut s = r.section(root, "subscribers");
    let subscribers = Subscribers {
        local_prefixes: s.list("local_prefixes", d.local_prefixes, string),
    };
    s.finish();
    subscribers
}

fn read_store(r: &mut Reader, root: &DeTable<'_>) -> Store {
    let d = Store::default();
    let mut s = r.section(root, "store");
    let store = Store {
        path: s.get("path", d.path, |v| string(v).map(PathBuf::from)),
        segment_bytes: s.get("segment_bytes", d.segment_bytes, uint),
        max_batch_records: s.get("max_batch_records", d.max_batch_records, uint),
        io: s.get("io", d.io, |v| parsed("a store I/O mode", v)),
        window_mb: s.get("window_mb", d.window_mb, uint),
        prepare_segments: s.get("prepare_segments", d.prepare_segments, boolean),
        zero_fill: s.get("zero_fill", d.zero_fill, boolean),
    };
    s.finish();
    store
}

fn read_push(r: &mut Reader, root: &DeTable<'_>) -> Push {
    let d = Push::default();
    let mut s = r.section(root, "push");
    let push = Push {
        mode: s.get("mode", d.mode, |v| parsed("a push mode", v)),
        pap_url: s.get("pap_url", d.pap_url, |v| optional(URL, v)),
        pap_address_domain: s.get("pap_address_domain", d.pap_address_domain, string),
        sendsms_url: s.get("sendsms_url", d.sendsms_url, |v| optional(URL, v)),
        log_path: s.get("log_path", d.log_path, |v| {
            string(v).map(|p| (!p.is_empty()).then(|| PathBuf::from(p)))
        }),
        workers: s.get("workers", d.workers, uint),
        timeout_secs: s.get("timeout_secs", d.timeout_secs, uint),
        retry_initial_secs: s.get("retry_initial_secs", d.retry_initial_secs, uint),
        retry_max_secs: s.get("retry_max_secs", d.retry_max_secs, uint),
    };
    s.finish();
    push
}

fn read_dataplane(r: &mut Reader, root: &DeTable<'_>) -> Dataplane {
    let d = Dataplane::default();
    let mut s = r.section(root, "dataplane");
    let dataplane = Dataplane {
        backend: s.get("backend", d.backend, |v| parsed("a backend", v)),
        cores: s.list("cores", d.cores, uint),
        interface: s.get("interface", d.interface, string),
        address: s.get("address", d.address, |v| optional(CIDR, v)),
        dpdk_args: s.list("dpdk_args", d.dpdk_args, string),
        xdp_mode: s.get("xdp_mode", d.xdp_mode, |v| parsed("an XDP mode", v)),
        syn_rate_per_source: s.get("syn_rate_per_source", d.syn_rate_per_source, uint),
        syn_burst: s.get("syn_burst", d.syn_burst, uint),
        idle_poll_us: s.get("idle_poll_us", d.idle_poll_us, uint),
        dpdk_descriptors: s.get("dpdk_descriptors", d.dpdk_descriptors, uint),
        afxdp_frames: s.get("afxdp_frames", d.afxdp_frames, uint),
    };
    s.finish();
    dataplane
}

fn read_mmsc(r: &mut Reader, root: &DeTable<'_>) -> Mmsc {
    let d = Mmsc::default();
    let mut s = r.section(root, "mmsc");
    let mmsc = Mmsc {
        hostname: s.get("hostname", d.hostname, string),
        transparent_hugepages: s.get("transparent_hugepages", d.transparent_hugepages, boolean),
    };
    s.finish();
    mmsc
}

fn read_admin(r: &mut Reader, root: &DeTable<'_>) -> Admin {
    let d = Admin::default();
    let mut s = r.section(root, "admin");
    let admin = Admin {
        listen: s.get("listen", d.listen, |v| optional(SOCKET_ADDR, v)),
        insecure_public_listen: s.get("insecure_public_listen", d.insecure_public_listen, boolean),
    };
    s.finish();
    admin
}

fn display_or_empty<T: fmt::Display, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

fn path_or_empty<S: Serializer>(value: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(p) => s.collect_str(&p.display()),
        None => s.serialize_str(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn problems(text: &str) -> Vec<Problem> {
        match parse(text) {
            Ok(c) => panic!("expected problems, parsed {c:?}"),
            Err(e) => e.problems().to_vec(),
        }
    }

    /// The one problem at `path`, failing if there is not exactly one.
    fn at<'a>(problems: &'a [Problem], path: &str) -> &'a Problem {
        let found: Vec<&Problem> = problems.iter().filter(|p| p.path == path).collect();
        assert_eq!(found.len(), 1, "problems at {path} in {problems:#?}");
        found[0]
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Every key path of a TOML table (`mm1.listen`), arrays counting as leaves.
    fn key_paths(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
        for (k, v) in table {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => key_paths(t, &path, out),
                _ => {
                    out.insert(path);
                }
            }
        }
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.mm1.listen, "127.0.0.1:8514".parse().unwrap());
        assert_eq!(c.mm1.public_url.as_str(), "http://127.0.0.1:8514/mms");
        assert_eq!(
            c.mm1.msisdn_headers,
            ["X-MSISDN", "X-WAP-Network-Client-MSISDN"]
        );
        assert_eq!(c.mm1.trusted_proxies, ["127.0.0.1/32".parse().unwrap()]);
        assert!(!c.mm1.insecure_trust_any_proxy);
        assert_eq!(c.mm1.max_message_bytes, 1_048_576);
        assert_eq!(c.mm1.max_header_bytes, 8192);
        assert_eq!(c.mm1.max_connections, 10_000);
        assert_eq!(c.mm1.idle_timeout_secs, 60);
        assert_eq!(c.mm1.request_timeout_secs, 30);
        assert_eq!(c.mm1.default_expiry_secs, 7 * 86_400);
        assert_eq!(c.mm1.max_expiry_secs, 14 * 86_400);
        assert_eq!(c.subscribers.local_prefixes, ["+35840"]);
        assert_eq!(c.store.path, Path::new("./mmsc-data"));
        assert_eq!(c.store.segment_bytes, 64 << 20);
        assert_eq!(c.store.max_batch_records, 1024);
        assert_eq!(c.push.mode, PushMode::Log);
        assert_eq!(
            c.push.pap_url.as_ref().map(HttpUrl::as_str),
            Some("http://127.0.0.1:13180/wappush")
        );
        assert_eq!(
            c.push.sendsms_url.as_ref().map(HttpUrl::as_str),
            Some("http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p")
        );
        assert_eq!(c.push.pap_address_domain, "ppg.example");
        assert_eq!(c.push.log_path, None);
        assert_eq!(c.push.workers, 2);
        assert_eq!(c.push.timeout_secs, 10);
        assert_eq!(c.push.retry_initial_secs, 1);
        assert_eq!(c.push.retry_max_secs, 300);
        assert_eq!(c.dataplane.backend, Backend::Kernel);
        assert!(c.dataplane.cores.is_empty());
        assert_eq!(c.dataplane.interface, "");
        assert_eq!(c.dataplane.address, None);
        assert!(c.dataplane.dpdk_args.is_empty());
        assert_eq!(c.dataplane.xdp_mode, XdpMode::Auto);
        assert_eq!(c.dataplane.syn_rate_per_source, 0);
        assert_eq!(c.dataplane.syn_burst, 32);
        assert_eq!(c.mm4.listen, None);
        assert!(c.mm4.peers.is_empty());
        assert_eq!(c.mmsc.hostname, "mmsc.local");
        assert_eq!(c.admin.listen, Some("127.0.0.1:8515".parse().unwrap()));
        assert!(!c.admin.insecure_public_listen);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
        assert_eq!(parse("# nothing\n\n").unwrap(), Config::default());
        assert_eq!("".parse::<Config>().unwrap(), Config::default());
        // Empty sections too.
        let sections =
            "[mm1]\n[mm4]\n[subscribers]\n[store]\n[push]\n[dataplane]\n[mmsc]\n[admin]\n";
        assert_eq!(parse(sections).unwrap(), Config::default());
    }

    #[test]
    fn example_parses_to_the_default() {
        assert_eq!(parse(example()).unwrap(), Config::default());
    }

    #[test]
    fn example_names_every_field() {
        // Config serializes into the file's schema, so its keys are the fields of Config.
        let fields = toml::Table::try_from(Config::default()).unwrap();
        let mut from_fields = BTreeSet::new();
        key_paths(&fields, "", &mut from_fields);
        let written: toml::Table = toml::from_str(example()).unwrap();
        let mut from_example = BTreeSet::new();
        key_paths(&written, "", &mut from_example);
        assert_eq!(from_example, from_fields);
        assert!(from_fields.len() >= 30, "{from_fields:?}");
    }

    #[test]
    fn example_comments_every_key_and_section() {
        let lines: Vec<&str> = example().lines().collect();
        let mut checked = 0;
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "no comment above {line:?}"
            );
            checked += 1;
        }
        // Every key of Config, and the seven section headers.
        let fields = toml::Table::try_from(Config::default()).unwrap();
        let mut keys = BTreeSet::new();
        key_paths(&fields, "", &mut keys);
        assert_eq!(checked, keys.len() + fields.len());
    }

    #[test]
    fn serialized_config_reads_back() {
        let mut c = Config::default();
        c.mm1.listen = "[::]:8514".parse().unwrap();
        c.mm1.public_url = HttpUrl::parse("https://mms.operator.example/mms/").unwrap();
        c.mm1.trusted_proxies = vec![
            "10.20.0.0/16".parse().unwrap(),
            "2001:db8::/48".parse().unwrap(),
        ];
        c.subscribers.local_prefixes = vec!["+35840".into(), "+35850".into()];
        c.push.mode = PushMode::Pap;
        c.push.sendsms_url = None;
        c.push.log_path = Some(PathBuf::from("/var/log/mmsc/push.log"));
        c.dataplane.backend = Backend::Afxdp;
        c.dataplane.cores = vec![1, 3];
        c.dataplane.interface = "eth1".into();
        c.dataplane.address = Some("192.0.2.10/24".parse().unwrap());
        c.dataplane.xdp_mode = XdpMode::Generic;
        c.dataplane.syn_rate_per_source = 20;
        c.dataplane.syn_burst = 40;
        c.mm4.listen = Some("[::]:25".parse().unwrap());
        c.mm4.peers = vec![
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8:4::/48".parse().unwrap(),
        ];
        c.admin.listen = Some("127.0.0.1:9090".parse().unwrap());
        assert_eq!(c.validate(), Ok(()));
        let text = toml::to_string(&c).unwrap();
        assert_eq!(parse(&text).unwrap(), c, "{text}");
        let text = toml::to_string(&Config::default()).unwrap();
        assert_eq!(parse(&text).unwrap(), Config::default());
    }

    #[test]
    fn every_problem_at_once() {
        let text = r#"
[mm1]
listen = "127.0.0.1:8514"
trusted_proxies = ["127.0.0.1/32", "10.0.0.0/33"]
max_mesage_bytes = 1000

[store]
segment_bytes = "64MiB"

[push]
mode = "smpp"
retry_initial_secs = 600
retry_max_secs = 60

[dataplane]
backend = "afxdp"

[billing]
cdr_path = "/var/cdr"
"#;
        let errors = parse(text).unwrap_err();
        let ps = errors.problems();
        let cidr = at(ps, "mm1.trusted_proxies[1]");
        assert_eq!(cidr.line, Some(4));
        assert_eq!(
            cidr.message,
            "\"10.0.0.0/33\" is not a CIDR: prefix length 33 is more than 32"
        );
        let unknown = at(ps, "mm1.max_mesage_bytes");
        assert_eq!(unknown.line, Some(5));
        assert_eq!(
            unknown.message,
            "unknown key (did you mean max_message_bytes?)"
        );
        let ty = at(ps, "store.segment_bytes");
        assert_eq!(ty.line, Some(8));
        assert_eq!(
            ty.message,
            "expected a non-negative integer, found string \"64MiB\""
        );
        let mode = at(ps, "push.mode");
        assert_eq!(mode.line, Some(11));
        assert_eq!(
            mode.message,
            "\"smpp\" is not a push mode: expected one of \"log\", \"pap\", \"sendsms\""
        );
        assert_eq!(at(ps, "push.retry_initial_secs").line, Some(12));
        let iface = at(ps, "dataplane.interface");
        assert_eq!(iface.message, "backend \"afxdp\" needs an interface");
        assert_eq!(
            iface.line,
            Some(16),
            "absent: the line of the key it depends on"
        );
        assert!(
            at(ps, "dataplane.address")
                .message
                .contains("needs the address")
        );
        assert_eq!(at(ps, "billing").line, Some(18));
        assert_eq!(ps.len(), 8, "{ps:#?}");
        // Sorted by line.
        assert!(ps.windows(2).all(|w| w[0].line <= w[1].line));
        let shown = errors.to_string();
        assert_eq!(shown.lines().count(), 8);
        assert!(shown.contains(
            "line 4: mm1.trusted_proxies[1]: \"10.0.0.0/33\" is not a CIDR: prefix length 33 is more than 32\n"
        ));
        assert!(shown.contains("line 8: store.segment_bytes: expected a non-negative integer"));
    }

    #[test]
    fn unknown_sections() {
        let ps = problems("[mms]\nlisten = \"x\"\n\n[frobnicator]\nx = 1\n");
        assert_eq!(ps.len(), 2, "{ps:#?}");
        assert_eq!(at(&ps, "mms").line, Some(1));
        assert!(
            at(&ps, "mms")
                .message
                .starts_with("unknown section (did you mean [mm")
        );
        assert_eq!(at(&ps, "frobnicator").line, Some(4));
        assert!(
            at(&ps, "frobnicator")
                .message
                .contains("sections are mm1, mm4, subscribers")
        );
        // A key written at the top level that belongs in a section.
        let ps = problems("listen = \"127.0.0.1:1\"\n");
        assert_eq!(
            at(&ps, "listen").message,
            "unknown section (did you mean mm1.listen, in [mm1]?)"
        );
        // Dotted and quoted keys.
        let ps = problems("\"odd key\" = 1\n");
        assert_eq!(at(&ps, "\"odd key\"").line, Some(1));
    }

    #[test]
    fn unknown_keys() {
        let ps = problems(
            "[push]\nmode = \"log\"\nurl = \"x\"\n[push.extra]\na = 1\n[admin]\nlisten_on = \"\"\n",
        );
        assert_eq!(ps.len(), 3, "{ps:#?}");
        assert_eq!(at(&ps, "push.url").line, Some(3));
        assert!(
            at(&ps, "push.url")
                .message
                .starts_with("unknown key (keys of [push] are mode, pap_url")
        );
        assert_eq!(
            at(&ps, "push.extra").message.split(' ').next(),
            Some("unknown")
        );
        assert_eq!(
            at(&ps, "admin.listen_on").message,
            "unknown key (did you mean listen?)"
        );
        // Dotted keys at the top level reach the same checks.
        let ps = problems("mm1.listen = \"127.0.0.1:1\"\nmm1.lissen = 3\n");
        assert_eq!(ps.len(), 1);
        assert_eq!(at(&ps, "mm1.lissen").line, Some(2));
    }

    #[test]
    fn wrong_types() {
        let text = r#"
mmsc = 5
[mm1]
listen = 8514
max_message_bytes = -1
max_header_bytes = 1.5
max_connections = 99999999999999999999
msisdn_headers = "X-MSISDN"
idle_timeout_secs = true
[subscribers]
local_prefixes = ["+35840", 35850]
[admin]
insecure_public_listen = "yes"
[dataplane]
cores = [0, -1, "2"]
"#;
        let ps = problems(text);
        let expect = [
            ("mmsc", 2, "expected a table ([mmsc]), found integer 5"),
            ("mm1.listen", 4, "expected a string, found integer 8514"),
            ("mm1.max_message_bytes", 5, "must not be negative, found -1"),
            (
                "mm1.max_header_bytes",
                6,
                "expected a non-negative integer, found float 1.5",
            ),
            // Beyond TOML's 64-bit integers, which the parser leaves to us.
            (
                "mm1.max_connections",
                7,
                "99999999999999999999 is too large",
            ),
            (
                "mm1.msisdn_headers",
                8,
                "expected an array, found string \"X-MSISDN\"",
            ),
            (
                "mm1.idle_timeout_secs",
                9,
                "expected a non-negative integer, found boolean true",
            ),
            (
                "subscribers.local_prefixes[1]",
                11,
                "expected a string, found integer 35850",
            ),
            (
                "admin.insecure_public_listen",
                13,
                "expected true or false, found string \"yes\"",
            ),
            ("dataplane.cores[1]", 15, "must not be negative, found -1"),
            (
                "dataplane.cores[2]",
                15,
                "expected a non-negative integer, found string \"2\"",
            ),
        ];
        for (path, line, message) in expect {
            let p = at(&ps, path);
            assert_eq!(
                (p.line, p.message.as_str()),
                (Some(line), message),
                "{path}"
            );
        }
        assert_eq!(ps.len(), expect.len(), "{ps:#?}");
        // u64 and usize bounds.
        let ps = problems(
            "[store]\nmax_batch_records = 0x7fffffffffffffff\nsegment_bytes = 0\n[mm1]\nidle_timeout_secs = 18446744073709551616\n",
        );
        assert_eq!(
            at(&ps, "mm1.idle_timeout_secs").message,
            "18446744073709551616 is too large"
        );
        assert_eq!(
            at(&ps, "store.segment_bytes").message,
            "must be at least 4096 (octets), found 0"
        );
        assert_eq!(ps.len(), 2, "{ps:#?}");
    }

    #[test]
    fn integers_in_every_toml_form() {
        let c = parse("[mm1]\nmax_message_bytes = 1_048_577\nmax_header_bytes = 0x4000\nmax_connections = 0o777\nidle_timeout_secs = 0b101\nrequest_timeout_secs = +7\n").unwrap();
        assert_eq!(c.mm1.max_message_bytes, 1_048_577);
        assert_eq!(c.mm1.max_header_bytes, 0x4000);
        assert_eq!(c.mm1.max_connections, 0o777);
        assert_eq!(c.mm1.idle_timeout_secs, 5);
        assert_eq!(c.mm1.request_timeout_secs, 7);
    }

    #[test]
    fn bad_listen_cidr_url() {
        let text = r#"
[mm1]
listen = "localhost:8514"
public_url = "127.0.0.1:8514/mms"
trusted_proxies = ["10.0.0.0/8", "10.0.0/8", "fe80::/129", "10.1.0.0/x"]
[push]
pap_url = "ftp://ppg/"
sendsms_url = "http://gw:13013"
[admin]
listen = "127.0.0.1"
[dataplane]
address = "192.0.2.10/"
"#;
        let ps = problems(text);
        let expect = [
            (
                "mm1.listen",
                3,
                "\"localhost:8514\" is not an address:port such as \"127.0.0.1:8514\": invalid socket address syntax",
            ),
            (
                "mm1.public_url",
                4,
                "\"127.0.0.1:8514/mms\" is not an http:// or https:// URL: the scheme is not http:// or https://",
            ),
            (
                "mm1.trusted_proxies[1]",
                5,
                "\"10.0.0/8\" is not a CIDR: \"10.0.0\" is not an IPv4 or IPv6 address",
            ),
            (
                "mm1.trusted_proxies[2]",
                5,
                "\"fe80::/129\" is not a CIDR: prefix length 129 is more than 128",
            ),
            (
                "mm1.trusted_proxies[3]",
                5,
                "\"10.1.0.0/x\" is not a CIDR: prefix length \"x\" is not a number",
            ),
            (
                "push.pap_url",
                7,
                "\"ftp://ppg/\" is not an http:// or https:// URL: the scheme is not http:// or https://",
            ),
            (
                "push.sendsms_url",
                8,
                "\"http://gw:13013\" is not an http:// or https:// URL: it has no path (at least \"/\" is needed)",
            ),
            (
                "admin.listen",
                10,
                "\"127.0.0.1\" is not an address:port such as \"127.0.0.1:8514\": invalid socket address syntax",
            ),
            (
                "dataplane.address",
                12,
                "\"192.0.2.10/\" is not a CIDR: prefix length \"\" is not a number",
            ),
        ];
        for (path, line, message) in expect {
            let p = at(&ps, path);
            assert_eq!(
                (p.line, p.message.as_str()),
                (Some(line), message),
                "{path}"
            );
        }
        assert_eq!(ps.len(), expect.len(), "{ps:#?}");
    }

    #[test]
    fn value_rules() {
        let text = r#"
[mmsc]
hostname = "mmsc_1"
[mm1]
public_url = "http://mms.example/mms?x=1"
msisdn_headers = ["X-MSISDN", "X MSISDN", "x-msisdn"]
max_message_bytes = 0
request_timeout_secs = 0
default_expiry_secs = 100
max_expiry_secs = 50
[subscribers]
local_prefixes = ["+35840", "35850", "+"]
[store]
path = ""
max_batch_records = 0
[push]
pap_address_domain = "ppg..example"
workers = 0
[dataplane]
cores = [1, 2, 1]
interface = "a/b"
dpdk_args = ["--no-huge", ""]
"#;
        let ps = problems(text);
        let expect = [
            ("mmsc.hostname", 3, "\"mmsc_1\" is not a DNS name"),
            (
                "mm1.public_url",
                5,
                "must not have a ?query: it is the base of Content-Location URLs",
            ),
            (
                "mm1.msisdn_headers[1]",
                6,
                "\"X MSISDN\" is not an HTTP header name",
            ),
            ("mm1.msisdn_headers[2]", 6, "\"x-msisdn\" is listed twice"),
            ("mm1.max_message_bytes", 7, "must be more than 0"),
            ("mm1.request_timeout_secs", 8, "must be more than 0"),
            (
                "mm1.max_expiry_secs",
                10,
                "50 is less than mm1.default_expiry_secs (100)",
            ),
            (
                "subscribers.local_prefixes[1]",
                12,
                "\"35850\" is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+35840\")",
            ),
            (
                "subscribers.local_prefixes[2]",
                12,
                "\"+\" is not an E.164 prefix (\"+\" and 1 to 15 digits, e.g. \"+35840\")",
            ),
            ("store.path", 14, "must not be empty"),
            ("store.max_batch_records", 15, "must be more than 0"),
            (
                "push.pap_address_domain",
                17,
                "\"ppg..example\" is not a DNS name",
            ),
            ("push.workers", 18, "must be more than 0"),
            ("dataplane.cores[2]", 20, "core 1 is listed twice"),
            (
                "dataplane.interface",
                21,
                "\"a/b\" is not a network interface name",
            ),
            ("dataplane.dpdk_args[1]", 22, "must not be empty"),
        ];
        for (path, line, message) in expect {
            let p = at(&ps, path);
            assert_eq!(
                (p.line, p.message.as_str()),
                (Some(line), message),
                "{path}"
            );
        }
        assert_eq!(ps.len(), expect.len(), "{ps:#?}");
        let ps = problems("[mm1]\nmsisdn_headers = []\n");
        assert_eq!(
            at(&ps, "mm1.msisdn_headers").message,
            "at least one header is needed to identify senders"
        );
        let ps = problems("[push]\nretry_initial_secs = 0\n");
        assert_eq!(
            at(&ps, "push.retry_initial_secs").message,
            "must be more than 0"
        );
        let ps = problems("[push]\nretry_max_secs = 0\n");
        assert_eq!(
            (
                at(&ps, "push.retry_initial_secs").line,
                at(&ps, "push.retry_initial_secs").message.as_str()
            ),
            (Some(2), "1 is more than push.retry_max_secs (0)"),
            "an absent key is placed at the key it is compared with"
        );
    }

    #[test]
    fn a_default_standing_in_for_a_bad_value_raises_nothing_more() {
        // retry_max_secs is unreadable; the default (300) must not be compared with 600.
        let ps = problems("[push]\nretry_initial_secs = 600\nretry_max_secs = \"1m\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(ps[0].path, "push.retry_max_secs");
        // mode is unreadable; its default must not make pap_url = "" a problem, and an
        // unreadable pap_url is reported once.
        let ps = problems("[push]\nmode = 3\npap_url = \"\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        let ps = problems("[push]\nmode = \"pap\"\npap_url = \"gopher://x/\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(ps[0].path, "push.pap_url");
    }

    #[test]
    fn push_mode_needs_its_url() {
        // pap needs pap_url.
        let ps = problems("[push]\nmode = \"pap\"\npap_url = \"\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        let p = at(&ps, "push.pap_url");
        assert_eq!(p.line, Some(3));
        assert_eq!(p.message, "mode \"pap\" needs the PPG's URL here");
        // sendsms needs sendsms_url.
        let ps = problems("[push]\nmode = \"sendsms\"\nsendsms_url = \"\"\npap_url = \"\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(
            at(&ps, "push.sendsms_url").message,
            "mode \"sendsms\" needs the SMS gateway's URL here"
        );
        // A mode does not need the other modes' URLs.
        let c = parse("[push]\nmode = \"log\"\npap_url = \"\"\nsendsms_url = \"\"\n").unwrap();
        assert_eq!((c.push.pap_url, c.push.sendsms_url), (None, None));
        let c = parse("[push]\nmode = \"pap\"\npap_url = \"https://ppg.operator.example:8443/pap\"\nsendsms_url = \"\"\n").unwrap();
        assert_eq!(c.push.mode, PushMode::Pap);
        let url = c.push.pap_url.unwrap();
        assert_eq!(
            (url.host(), url.port(), url.path()),
            ("ppg.operator.example", 8443, "/pap")
        );
        let c = parse("[push]\nmode = \"sendsms\"\n").unwrap();
        assert_eq!(c.push.mode, PushMode::Sendsms);
        assert_eq!(
            c.push.sendsms_url.unwrap().path_and_query(),
            "/cgi-bin/sendsms?username=u&password=p"
        );
        // But a URL that is written must be a URL, whatever the mode.
        let ps = problems("[push]\nmode = \"log\"\nsendsms_url = \"gw:13013\"\n");
        assert_eq!(at(&ps, "push.sendsms_url").line, Some(3));
    }

    #[test]
    fn insecure_options() {
        let ps = problems("[mm1]\ntrusted_proxies = [\"10.0.0.0/8\", \"0.0.0.0/0\"]\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert!(
            at(&ps, "mm1.trusted_proxies[1]")
                .message
                .ends_with("set mm1.insecure_trust_any_proxy = true if that is intended")
        );
        let c = parse(
            "[mm1]\ntrusted_proxies = [\"::/0\", \"0.0.0.0/0\"]\ninsecure_trust_any_proxy = true\n",
        )
        .unwrap();
        assert!(c.mm1.is_trusted(ip("203.0.113.9")));
        assert!(c.mm1.is_trusted(ip("2001:db8::9")));

        let ps = problems("[admin]\nlisten = \"0.0.0.0:9090\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(
            at(&ps, "admin.listen").message,
            "0.0.0.0:9090 is not a loopback address; set admin.insecure_public_listen = true to expose the admin API there"
        );
        let c =
            parse("[admin]\nlisten = \"0.0.0.0:9090\"\ninsecure_public_listen = true\n").unwrap();
        assert_eq!(c.admin.listen, Some("0.0.0.0:9090".parse().unwrap()));
        let c = parse("[admin]\nlisten = \"[::1]:9090\"\n").unwrap();
        assert_eq!(c.admin.listen, Some("[::1]:9090".parse().unwrap()));
    }

    #[test]
    fn dataplane_backends() {
        let c = parse("[dataplane]\nbackend = \"xdp\"\ninterface = \"eth0\"\ncores = [2, 3]\n")
            .unwrap();
        assert_eq!(c.dataplane.backend, Backend::Xdp);
        assert_eq!(c.dataplane.cores, [2, 3]);
        let c = parse(
            "[dataplane]\nbackend = \"dpdk\"\naddress = \"10.0.0.2/24\"\ndpdk_args = [\"--no-huge\", \"--no-pci\", \"--vdev=net_af_packet0,iface=veth0\"]\n",
        )
        .unwrap();
        assert_eq!(c.dataplane.backend, Backend::Dpdk);
        assert_eq!(c.dataplane.address, Some("10.0.0.2/24".parse().unwrap()));
        assert_eq!(c.dataplane.dpdk_args.len(), 3);
        let c = parse(
            "[dataplane]\nbackend = \"afxdp\"\ninterface = \"veth0\"\naddress = \"fd00::2/64\"\n",
        )
        .unwrap();
        assert_eq!(c.dataplane.backend, Backend::Afxdp);
        let ps = problems("[dataplane]\nbackend = \"xdp\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert_eq!(
            at(&ps, "dataplane.interface").message,
            "backend \"xdp\" needs an interface"
        );
        let ps = problems("[dataplane]\nbackend = \"dpdk\"\n");
        assert_eq!(ps.len(), 1, "{ps:#?}");
        assert!(
            at(&ps, "dataplane.address")
                .message
                .starts_with("backend \"dpdk\" needs the address")
        );
        let ps = problems("[dataplane]\nbackend = \"netmap\"\n");
        assert_eq!(
            at(&ps, "dataplane.backend").message,
            "\"netmap\" is not a backend: expected one of \"kernel\", \"xdp\", \"afxdp\", \"dpdk\""
        );
        assert_eq!(ps.len(), 1, "{ps:#?}");
        for b in [Backend::Kernel, Backend::Xdp, Backend::Afxdp, Backend::Dpdk] {
            assert_eq!(b.as_str().parse::<Backend>(), Ok(b));
        }
        for m in [PushMode::Log, PushMode::Pap, PushMode::Sendsms] {
            assert_eq!(m.to_string().parse::<PushMode>(), Ok(m));
        }
    }

    #[test]
    fn mm4_listener_and_peers() {
        let c =
            parse("[mm4]\nlisten = \"10.0.0.2:25\"\npeers = [\"192.0.2.0/24\", \"2001:db8::7\"]\n")
                .unwrap();
        assert_eq!(c.mm4.listen, Some("10.0.0.2:25".parse().unwrap()));
        assert!(c.mm4.is_peer(ip("192.0.2.200")));
        assert!(c.mm4.is_peer(ip("::ffff:192.0.2.1")));
        assert!(c.mm4.is_peer(ip("2001:db8::7")));
        assert!(!c.mm4.is_peer(ip("2001:db8::8")));
        assert!(!c.mm4.is_peer(ip("192.0.3.1")));
        assert!(!Mm4::default().is_peer(ip("127.0.0.1")));
        // An MM4 port that is MM1's (on an address both take), port 0, an open relay, a
        // repeat, and a bad prefix: all at once, on their lines.
        let text = r#"
[mm1]
listen = "0.0.0.0:8514"
[mm4]
listen = "10.0.0.2:8514"
peers = ["192.0.2.0/24", "0.0.0.0/0", "192.0.2.0/24", "10.0.0.0/40"]
"#;
        let ps = problems(text);
        let expect = [
            (
                "mm4.listen",
                5,
                "10.0.0.2:8514 takes the connections of mm1.listen (0.0.0.0:8514)",
            ),
            (
                "mm4.peers[3]",
                6,
                "\"10.0.0.0/40\" is not a CIDR: prefix length 40 is more than 32",
            ),
        ];
        for (path, line, message) in expect {
            let p = at(&ps, path);
            assert_eq!(
                (p.line, p.message.as_str()),
                (Some(line), message),
                "{path}"
            );
        }
        // With a bad element the list is unread (its default stands in): the rules on the
        // list wait for a list that reads.
        assert_eq!(ps.len(), expect.len(), "{ps:#?}");
        let ps = problems(
            "[mm4]\nlisten = \"[::]:0\"\npeers = [\"192.0.2.0/24\", \"::/0\", \"192.0.2.0/24\"]\n",
        );
        assert_eq!(
            at(&ps, "mm4.listen").message,
            "[::]:0: port 0 is not a port peers can be told; give a fixed one"
        );
        assert_eq!(
            at(&ps, "mm4.peers[1]").message,
            "\"::/0\" admits every source as a peer MMSC (an open relay); list the peers' prefixes"
        );
        assert_eq!(
            at(&ps, "mm4.peers[2]").message,
            "\"192.0.2.0/24\" is listed twice"
        );
        assert_eq!(at(&ps, "mm4.peers[2]").line, Some(3));
        assert_eq!(ps.len(), 3, "{ps:#?}");
        // [::] is dual-stack: it takes 127.0.0.1:8514 too. Other ports and addresses are fine.
        let ps = problems("[mm4]\nlisten = \"[::]:8514\"\n");
        assert_eq!(at(&ps, "mm4.listen").line, Some(2));
        for ok in ["127.0.0.1:25", "127.0.0.2:8514", "[::1]:8514"] {
            let c = parse(&format!("[mm4]\nlisten = \"{ok}\"\n"));
            assert!(c.is_ok(), "{ok}: {c:?}");
        }
        let ps = problems("[mm1]\nlisten = \"[::]:8514\"\n[mm4]\nlisten = \"10.1.1.1:8514\"\n");
        assert_eq!(at(&ps, "mm4.listen").line, Some(4));
    }

    #[test]
    fn xdp_mode_and_syn_limit() {
        let c = parse(
            "[dataplane]\nbackend = \"xdp\"\ninterface = \"eth0\"\nxdp_mode = \"driver\"\nsyn_rate_per_source = 50\nsyn_burst = 100\n",
        )
        .unwrap();
        assert_eq!(c.dataplane.xdp_mode, XdpMode::Driver);
        assert_eq!(
            (c.dataplane.syn_rate_per_source, c.dataplane.syn_burst),
            (50, 100)
        );
        for m in [XdpMode::Auto, XdpMode::Driver, XdpMode::Generic] {
            assert_eq!(m.to_string().parse::<XdpMode>(), Ok(m));
        }
        let text = r#"
[dataplane]
xdp_mode = "native"
syn_rate_per_source = 10
syn_burst = 0
"#;
        let ps = problems(text);
        let expect = [
            (
                "dataplane.xdp_mode",
                3,
                "\"native\" is not an XDP mode: expected one of \"auto\", \"driver\", \"generic\"",
            ),
            (
                "dataplane.syn_rate_per_source",
                4,
                "backend \"kernel\" has no packet classifier to enforce it; use \"xdp\" (or set 0)",
            ),
            (
                "dataplane.syn_burst",
                5,
                "must be at least 1 when dataplane.syn_rate_per_source is set",
            ),
        ];
        for (path, line, message) in expect {
            let p = at(&ps, path);
            assert_eq!(
                (p.line, p.message.as_str()),
                (Some(line), message),
                "{path}"
            );
        }
        assert_eq!(ps.len(), expect.len(), "{ps:#?}");
        // The BPF maps hold 32-bit values.
        let ps = problems("[dataplane]\nsyn_rate_per_source = 4294967296\nsyn_burst = -1\n");
        assert_eq!(
            at(&ps, "dataplane.syn_rate_per_source").message,
            "4294967296 is too large"
        );
        assert_eq!(ps.len(), 2, "{ps:#?}");
        // A burst with no rate is harmless; a rate with the xdp backend is what it is for.
        assert!(parse("[dataplane]\nsyn_burst = 0\n").is_ok());
        // AF_XDP UMEM sizes.
        assert_eq!(Config::default().dataplane.afxdp_frames, 16384);
        let c = parse("[dataplane]\nafxdp_frames = 4096\n").unwrap();
        assert_eq!(c.dataplane.afxdp_frames, 4096);
        for (v, message) in [
            ("128", "128 is not a power of two between 256 and 262144"),
            ("5000", "5000 is not a power of two between 256 and 262144"),
            (
                "524288",
                "524288 is not a power of two between 256 and 262144",
            ),
            ("-1", "must not be negative, found -1"),
        ] {
            let ps = problems(&format!("[dataplane]\nafxdp_frames = {v}\n"));
            assert_eq!(at(&ps, "dataplane.afxdp_frames").message, message, "{v}");
            assert_eq!(ps.len(), 1, "{ps:#?}");
        }
        // dpdk ring sizes.
        assert_eq!(Config::default().dataplane.dpdk_descriptors, 2048);
        let c = parse("[dataplane]\ndpdk_descriptors = 4096\n").unwrap();
        assert_eq!(c.dataplane.dpdk_descriptors, 4096);
        for (v, message) in [
            ("0", "0 is not between 64 and 16384"),
            ("16385", "16385 is not between 64 and 16384"),
            ("65536", "65536 is too large"),
            ("-1", "must not be negative, found -1"),
        ] {
            let ps = problems(&format!("[dataplane]\ndpdk_descriptors = {v}\n"));
            assert_eq!(
                at(&ps, "dataplane.dpdk_descriptors").message,
                message,
                "{v}"
            );
            assert_eq!(ps.len(), 1, "{ps:#?}");
        }
        assert!(
            parse(
                "[dataplane]\nbackend = \"xdp\"\ninterface = \"eth0\"\nsyn_rate_per_source = 1\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn syntax_errors_only() {
        let errors = parse(
            "[mm1]\nlisten = 127.0.0.1:8514\nbogus = 1\n[store]\npath = \"a\"\npath = \"b\"\n",
        )
        .unwrap_err();
        let ps = errors.problems();
        assert_eq!(ps.len(), 2, "{ps:#?}");
        assert!(
            ps.iter()
                .all(|p| p.path.is_empty() && p.message.starts_with("not valid TOML: "))
        );
        assert_eq!(ps[0].line, Some(2));
        assert_eq!(ps[1].line, Some(6));
        assert!(errors.to_string().starts_with("line 2: not valid TOML: "));
        assert!(
            ps[0].message.ends_with(", in `listen = 127.0.0.1:8514`"),
            "{}",
            ps[0].message
        );
    }

    #[test]
    fn helpers() {
        let c = Config::default();
        assert_eq!(c.mm1.path(), "/mms");
        assert_eq!(c.mm1.content_location_base(), "http://127.0.0.1:8514/mms/");
        let c = parse("[mm1]\npublic_url = \"https://mms.operator.example/\"\n").unwrap();
        assert_eq!(c.mm1.path(), "/");
        assert_eq!(
            c.mm1.content_location_base(),
            "https://mms.operator.example/"
        );
        let c = parse("[mm1]\npublic_url = \"http://[2001:db8::1]:8080/mmsc/mm1\"\n").unwrap();
        assert_eq!(c.mm1.path(), "/mmsc/mm1");
        assert_eq!(
            c.mm1.content_location_base(),
            "http://[2001:db8::1]:8080/mmsc/mm1/"
        );

        let s = Config::default().subscribers;
        assert!(s.is_local("+358401234567"));
        assert!(s.is_local("+35840"));
        assert!(!s.is_local("+358501234567"));
        assert!(!s.is_local("358401234567"), "not E.164");
        assert!(!s.is_local("+35840123456x"));
        assert!(!s.is_local("+358401234567/TYPE=PLMN"));
        assert!(!s.is_local(""));
        let none = Subscribers {
            local_prefixes: vec![],
        };
        assert!(!none.is_local("+358401234567"));

        let m = parse(
            "[mm1]\ntrusted_proxies = [\"10.20.0.0/16\", \"192.0.2.1\", \"2001:db8:1::/48\"]\n",
        )
        .unwrap()
        .mm1;
        assert!(m.is_trusted(ip("10.20.30.40")));
        assert!(m.is_trusted(ip("::ffff:10.20.0.1")));
        assert!(m.is_trusted(ip("192.0.2.1")));
        assert!(!m.is_trusted(ip("192.0.2.2")));
        assert!(m.is_trusted(ip("2001:db8:1:ffff::1")));
        assert!(!m.is_trusted(ip("2001:db8:2::1")));
        assert!(!m.is_trusted(ip("127.0.0.1")));
        assert!(Config::default().mm1.is_trusted(ip("127.0.0.1")));
        assert!(!Config::default().mm1.is_trusted(ip("127.0.0.2")));
        let none = parse("[mm1]\ntrusted_proxies = []\n").unwrap().mm1;
        assert!(!none.is_trusted(ip("127.0.0.1")));

        let p = Config::default().push;
        assert_eq!(
            p.log_file(Path::new("./mmsc-data")),
            Path::new("./mmsc-data/notifications.log")
        );
        let p = parse("[push]\nlog_path = \"/var/log/mmsc/push.log\"\n")
            .unwrap()
            .push;
        assert_eq!(
            p.log_file(Path::new("/srv")),
            Path::new("/var/log/mmsc/push.log")
        );

        assert!(Backend::Xdp.needs_interface() && !Backend::Dpdk.needs_interface());
        assert!(Backend::Dpdk.needs_address() && !Backend::Kernel.needs_address());
    }

    #[test]
    fn validate_a_config_built_in_code() {
        let mut c = Config::default();
        c.push.mode = PushMode::Pap;
        c.push.pap_url = None;
        c.store.max_batch_records = 0;
        c.admin.listen = Some("192.0.2.1:9090".parse().unwrap());
        let errors = c.validate().unwrap_err();
        let paths: Vec<&str> = errors.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["store.max_batch_records", "push.pap_url", "admin.listen"]
        );
        assert!(errors.problems().iter().all(|p| p.line.is_none()));
        assert!(
            errors
                .to_string()
                .starts_with("store.max_batch_records: must be more than 0\n")
        );
    }

    #[test]
    fn load_files() {
        let dir = std::env::temp_dir().join(format!("mmsc-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let good = dir.join("good.toml");
        std::fs::write(&good, "[mm1]\nlisten = \"0.0.0.0:8514\"\n").unwrap();
        let c = load(&good).unwrap();
        assert_eq!(c.mm1.listen, "0.0.0.0:8514".parse().unwrap());

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[mm1]\nlisten = \"x\"\n[store]\nsegment_bytes = -5\n").unwrap();
        let errors = load(&bad).unwrap_err();
        assert_eq!(errors.file(), Some(bad.as_path()));
        let shown = errors.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2, "{shown}");
        assert_eq!(
            lines[0],
            format!(
                "{}:2: mm1.listen: \"x\" is not an address:port such as \"127.0.0.1:8514\": invalid socket address syntax",
                bad.display()
            )
        );
        assert_eq!(
            lines[1],
            format!(
                "{}:4: store.segment_bytes: must not be negative, found -5",
                bad.display()
            )
        );

        let missing = dir.join("missing.toml");
        let errors = load(&missing).unwrap_err();
        assert_eq!(errors.problems().len(), 1);
        assert_eq!(errors.problems()[0].line, None);
        assert!(
            errors.to_string().starts_with(&format!(
                "{}: cannot read the configuration: ",
                missing.display()
            )),
            "{errors}"
        );

        let binary = dir.join("binary.toml");
        std::fs::write(&binary, b"\xff\xfe").unwrap();
        assert!(
            load(&binary)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
