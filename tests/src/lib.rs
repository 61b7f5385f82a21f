//! Helpers shared by the end-to-end tests: where the vectors are, how to run real peers.
//!
//! - [`vectors_dir`]: the shared MMS test vectors (`$MMSC_VECTORS`, else
//!   `<workspace>/../shared/vectors`).
//! - [`tshark_mmse`] / [`tshark_mmse_many`] / [`tshark_mmse_fields`]: Wireshark's MMSE
//!   dissector as an independent decoder (PROTOCOLS.md §5.1 recipe (a): the PDU is wrapped in an
//!   HTTP POST with `Content-Type: application/vnd.wap.mms-message`, turned into an
//!   "exported PDU" capture by `text2pcap -P http`, and decoded by `tshark -T pdml` with
//!   `TZ=UTC`).
//!
//! - [`server`]: the real `mmsc` binary started on a free loopback port with a generated
//!   configuration and its own store ([`server::Mmsc`]), killed with it.
//! - [`http`]: a small blocking HTTP/1.1 client (keep-alive, raw writes for malformed input).
//! - [`mm1`]: building and checking the MM1 PDUs handsets send and receive.
//! - [`kannel`]: a throw-away Kannel (bearerbox, wapbox with its PPG, smsbox, fakesmsc).
//! - [`netns`]: two network namespaces joined by a veth pair, for the backend tests.
//!
//! Everything runs on temporary files under [`std::env::temp_dir`] with unique names, removed
//! afterwards; every child process is waited for with a deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod http;
pub mod kannel;
pub mod mm1;
pub mod netns;
pub mod server;

/// Largest frame recipe (a) handles (text2pcap's limit).
pub const MAX_FRAME_BYTES: usize = 262_144;

/// How long one text2pcap or tshark run may take before it is killed.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory of the shared MMS test vectors: `$MMSC_VECTORS` if set, else
/// `<workspace>/../shared/vectors`. `None` when that directory does not exist.
pub fn vectors_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MMSC_VECTORS") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    };
    dir.is_dir().then_some(dir)
}

/// Every regular file under `dir`, recursively, sorted. Bounded: at most `max` files and 16
/// directory levels.
pub fn files_under(dir: &Path, max: usize) -> std::io::Result<Vec<PathBuf>> {
    fn walk(d: &Path, depth: usize, max: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if depth > 16 {
            return Ok(());
        }
        let mut entries = std::fs::read_dir(d)?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if out.len() >= max {
                return Ok(());
            }
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), depth + 1, max, out)?;
            } else if t.is_file() {
                out.push(e.path());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, 0, max, &mut out)?;
    out.sort();
    Ok(out)
}

/// Why a tshark run gave no answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum TsharkError {
    /// A tool is not installed.
    Missing(&'static str),
    /// The PDU does not fit one frame of recipe (a).
    TooLarge(usize),
    /// Temporary file or pipe trouble.
    Io(std::io::Error),
    /// A tool exited with an error (or was killed after [`TOOL_TIMEOUT`]).
    Failed {
        /// The tool.
        tool: &'static str,
        /// Its exit status, as text.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// The PDML output did not parse, or did not hold what was expected.
    Pdml(String),
}

impl fmt::Display for TsharkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsharkError::Missing(t) => write!(
                f,
                "`{t}` is not installed: run scripts/test (it installs tshark, which gives \
                 text2pcap too), or apt-get install tshark"
            ),
            TsharkError::TooLarge(n) => {
                write!(
                    f,
                    "frame of {n} bytes exceeds {MAX_FRAME_BYTES} (recipe (a))"
                )
            }
            TsharkError::Io(e) => write!(f, "I/O: {e}"),
            TsharkError::Failed {
                tool,
                status,
                stderr,
            } => write!(f, "{tool} failed ({status}): {stderr}"),
            TsharkError::Pdml(m) => write!(f, "PDML: {m}"),
        }
    }
}

impl std::error::Error for TsharkError {}

impl From<std::io::Error> for TsharkError {
    fn from(e: std::io::Error) -> Self {
        TsharkError::Io(e)
    }
}

/// True when `tool` can be run (found on `PATH`).
pub fn have_tool(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| {
            let f = p.join(tool);
            f.is_file()
        })
    })
}

/// A file under the temporary directory, removed when dropped.
#[derive(Debug)]
pub struct TempFile(PathBuf);

impl TempFile {
    /// A new, unique, not yet existing path with this suffix.
    pub fn new(suffix: &str) -> TempFile {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        TempFile(std::env::temp_dir().join(format!(
            "mmsc-tests-{}-{n}-{nanos}{suffix}",
            std::process::id()
        )))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A temporary directory under [`std::env::temp_dir`], removed when dropped, except while
/// the thread panics (a failed test keeps its files for inspection and says where).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, unique directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Run `cmd` with `stdin` fed to it, and wait at most [`TOOL_TIMEOUT`]. Returns stdout.
fn run(tool: &'static str, cmd: &mut Command, stdin: &[u8]) -> Result<Vec<u8>, TsharkError> {
    let out_file = TempFile::new(".out");
    let err_file = TempFile::new(".err");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(out_file.path())?)
        .stderr(std::fs::File::create(err_file.path())?)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TsharkError::Missing(tool),
            _ => TsharkError::Io(e),
        })?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin)?;
    }
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = String::from_utf8_lossy(&std::fs::read(err_file.path())?).into_owned();
    match status {
        Some(s) if s.success() => Ok(std::fs::read(out_file.path())?),
        Some(s) => Err(TsharkError::Failed {
            tool,
            status: s.to_string(),
            stderr,
        }),
        None => Err(TsharkError::Failed {
            tool,
            status: format!("killed after {TOOL_TIMEOUT:?}"),
            stderr,
        }),
    }
}

/// The HTTP POST of recipe (a) around one PDU.
pub fn http_post(pdu: &[u8]) -> Vec<u8> {
    let mut frame = format!(
        "POST /mms HTTP/1.1\r\nHost: mmsc\r\nContent-Type: application/vnd.wap.mms-message\r\n\
         Content-Length: {}\r\n\r\n",
        pdu.len()
    )
    .into_bytes();
    frame.extend_from_slice(pdu);
    frame
}

/// `od -Ax -tx1 -v` of several frames, one after the other (each restarts at offset 0, which
/// text2pcap takes as a new packet).
fn hexdump(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut s = String::new();
    for f in frames {
        for (i, chunk) in f.chunks(16).enumerate() {
            s.push_str(&format!("{:06x}", i * 16));
            for b in chunk {
                s.push_str(&format!(" {b:02x}"));
            }
            s.push('\n');
        }
        s.push_str(&format!("{:06x}\n", f.len()));
    }
    s.into_bytes()
}

/// Capture `frames` as HTTP exported PDUs and return tshark's PDML.
fn tshark_pdml(frames: &[Vec<u8>]) -> Result<String, TsharkError> {
    if let Some(f) = frames.iter().find(|f| f.len() > MAX_FRAME_BYTES) {
        return Err(TsharkError::TooLarge(f.len()));
    }
    for t in ["text2pcap", "tshark"] {
        if !have_tool(t) {
            return Err(TsharkError::Missing(t));
        }
    }
    let pcap = TempFile::new(".pcapng");
    run(
        "text2pcap",
        Command::new("text2pcap")
            .args(["-q", "-P", "http", "-"])
            .arg(pcap.path()),
        &hexdump(frames),
    )?;
    let out = run(
        "tshark",
        Command::new("tshark")
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .args(["-n", "-T", "pdml", "-r"])
            .arg(pcap.path()),
        b"",
    )?;
    String::from_utf8(out).map_err(|e| TsharkError::Pdml(format!("not UTF-8: {e}")))
}

/// One element of tshark's PDML (`<proto>` or `<field>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PdmlNode {
    /// `proto` or `field` (or `packet`).
    pub tag: String,
    /// `name` attribute (field abbreviation, e.g. `mmse.to`).
    pub name: String,
    /// `show` attribute (the value as tshark prints it).
    pub show: String,
    /// `showname` attribute (the tree line).
    pub showname: String,
    /// `value` attribute (hex of the bytes).
    pub value: String,
    /// `pos` attribute (offset in the frame).
    pub pos: usize,
    /// `size` attribute.
    pub size: usize,
    /// Children in document order.
    pub children: Vec<PdmlNode>,
}

impl PdmlNode {
    /// Every descendant (depth first, document order), not including `self`.
    pub fn descendants(&self) -> Vec<&PdmlNode> {
        let mut out = Vec::new();
        let mut stack: Vec<&PdmlNode> = self.children.iter().rev().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(n.children.iter().rev());
        }
        out
    }

    /// The first descendant with this `name`.
    pub fn find(&self, name: &str) -> Option<&PdmlNode> {
        self.descendants().into_iter().find(|n| n.name == name)
    }

    /// Every descendant with this `name`.
    pub fn find_all(&self, name: &str) -> Vec<&PdmlNode> {
        self.descendants()
            .into_iter()
            .filter(|n| n.name == name)
            .collect()
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let c = match ent {
            "quot" => Some('"'),
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parse the attributes of one tag body (`field name="x" show="y"`).
fn parse_tag(body: &str) -> Result<(String, BTreeMap<String, String>), TsharkError> {
    let body = body.trim();
    let (tag, mut rest) = body.split_at(body.find(char::is_whitespace).unwrap_or(body.len()));
    let mut attrs = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let eq = rest
            .find('=')
            .ok_or_else(|| TsharkError::Pdml(format!("attribute without '=' in <{body}>")))?;
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| TsharkError::Pdml(format!("unquoted attribute in <{body}>")))?;
        let close = after[1..]
            .find(quote)
            .ok_or_else(|| TsharkError::Pdml(format!("unterminated attribute in <{body}>")))?;
        attrs.insert(key, unescape(&after[1..1 + close]));
        rest = &after[close + 2..];
    }
    Ok((tag.to_string(), attrs))
}

/// Parse PDML into its packets. Only `<packet>`, `<proto>` and `<field>` are kept.
pub fn parse_pdml(pdml: &str) -> Result<Vec<PdmlNode>, TsharkError> {
    let mut packets = Vec::new();
    let mut stack: Vec<PdmlNode> = Vec::new();
    let mut rest = pdml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        // Attribute values escape '<' and '>', so the tag ends at the next '>'.
        let gt = rest
            .find('>')
            .ok_or_else(|| TsharkError::Pdml("unterminated tag".into()))?;
        let raw = &rest[..gt];
        rest = &rest[gt + 1..];
        if raw.starts_with('?') || raw.starts_with('!') {
            continue;
        }
        if let Some(closing) = raw.strip_prefix('/') {
            let closing = closing.trim();
            if !matches!(closing, "packet" | "proto" | "field") {
                continue;
            }
            let node = stack
                .pop()
                .ok_or_else(|| TsharkError::Pdml(format!("stray </{closing}>")))?;
            if node.tag != closing {
                return Err(TsharkError::Pdml(format!(
                    "</{closing}> closes <{}>",
                    node.tag
                )));
            }
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => packets.push(node),
            }
            continue;
        }
        let (self_closing, body) = match raw.strip_suffix('/') {
            Some(b) => (true, b),
            None => (false, raw),
        };
        let (tag, attrs) = parse_tag(body)?;
        if !matches!(tag.as_str(), "packet" | "proto" | "field") {
            continue;
        }
        let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        let node = PdmlNode {
            tag,
            name: get("name"),
            show: get("show"),
            showname: get("showname"),
            value: get("value"),
            pos: get("pos").parse().unwrap_or(0),
            size: get("size").parse().unwrap_or(0),
            children: Vec::new(),
        };
        if self_closing {
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => packets.push(node),
            }
        } else {
            stack.push(node);
        }
    }
    if !stack.is_empty() {
        return Err(TsharkError::Pdml(format!(
            "{} unclosed element(s)",
            stack.len()
        )));
    }
    Ok(packets)
}

/// A WSP content type as tshark shows it: the media type and its parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TsharkContentType {
    /// The media type (`show` of `wsp.header.content_type`).
    pub media: String,
    /// The tree line (`Content-Type: text/plain; charset=utf-8`).
    pub showname: String,
    /// Parameters: field name (`wsp.parameter.charset`, ...) -> shown values.
    pub params: BTreeMap<String, Vec<String>>,
}

/// One multipart entry as tshark shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TsharkPart {
    /// Its content type.
    pub content_type: TsharkContentType,
    /// `wsp.header.content_id` as shown (a Quoted-string keeps its `"`).
    pub content_id: Option<String>,
    /// `wsp.header.content_location`.
    pub content_location: Option<String>,
    /// The octets tshark hands to the part's content dissector (its data), when it did.
    pub data: Option<Vec<u8>>,
    /// The whole PDML element.
    pub node: PdmlNode,
}

/// tshark's decode of one MMSE PDU.
#[derive(Clone, Debug, Default)]
pub struct TsharkMmse {
    /// Every `mmse.*` field in the PDU (at any depth): name -> shown values, in order.
    pub fields: BTreeMap<String, Vec<String>>,
    /// `showname` of every direct child of the MMSE tree, in order (generic headers appear only
    /// this way).
    pub lines: Vec<String>,
    /// The PDU's Content-Type, if tshark found one.
    pub content_type: Option<TsharkContentType>,
    /// Multipart entries of the body (top level only).
    pub parts: Vec<TsharkPart>,
    /// tshark flagged the packet as malformed.
    pub malformed: bool,
    /// The MMSE element.
    pub mmse: PdmlNode,
}

fn content_type_of(n: &PdmlNode) -> TsharkContentType {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in n.descendants() {
        if p.name.starts_with("wsp.parameter.") {
            params
                .entry(p.name.clone())
                .or_default()
                .push(p.show.clone());
        }
    }
    TsharkContentType {
        media: n.show.clone(),
        showname: n.showname.clone(),
        params,
    }
}

/// `pdu` is the MMSE PDU, which tshark shows at frame offset `base`.
fn part_of(n: &PdmlNode, pdu: &[u8], base: usize) -> TsharkPart {
    let content_type = n
        .find("wsp.header.content_type")
        .map(content_type_of)
        .unwrap_or_default();
    // The part's data: the first child that is neither the content type nor the headers (a
    // content dissector's proto, or a data field), located by its position in the frame.
    let data = n
        .children
        .iter()
        .find(|c| {
            c.pos > n.pos
                && !c.name.starts_with("wsp.header")
                && c.name != "wsp.headers"
                && !(c.name.is_empty() && c.show == "Content-Type")
        })
        .and_then(|c| {
            let at = c.pos.checked_sub(base)?;
            pdu.get(at..at.checked_add(c.size)?)
        })
        .map(<[u8]>::to_vec);
    TsharkPart {
        content_type,
        content_id: n.find("wsp.header.content_id").map(|c| c.show.clone()),
        content_location: n
            .find("wsp.header.content_location")
            .map(|c| c.show.clone()),
        data,
        node: n.clone(),
    }
}

fn mmse_of(packet: &PdmlNode, pdu: &[u8]) -> Result<TsharkMmse, TsharkError> {
    let mmse = packet
        .descendants()
        .into_iter()
        .find(|n| n.tag == "proto" && n.name == "mmse")
        .ok_or_else(|| TsharkError::Pdml("no mmse element: tshark did not dissect MMSE".into()))?;
    // Fields of this PDU only: an MMSE nested in a part (m-mbox-view-conf) is not descended
    // into.
    let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack: Vec<&PdmlNode> = mmse.children.iter().rev().collect();
    while let Some(n) = stack.pop() {
        if n.tag == "proto" && n.name == "mmse" {
            continue;
        }
        if n.name.starts_with("mmse.") {
            fields
                .entry(n.name.clone())
                .or_default()
                .push(n.show.clone());
        }
        stack.extend(n.children.iter().rev());
    }
    let lines = mmse
        .children
        .iter()
        .map(|c| {
            if c.showname.is_empty() {
                c.show.clone()
            } else {
                c.showname.clone()
            }
        })
        .collect();
    // The PDU's own Content-Type is a direct child; the parts' are deeper.
    let content_type = mmse
        .children
        .iter()
        .find(|c| c.name == "wsp.header.content_type")
        .map(content_type_of);
    let mut parts = Vec::new();
    let mut stack: Vec<&PdmlNode> = mmse.children.iter().rev().collect();
    while let Some(n) = stack.pop() {
        if n.name == "wsp.multipart" {
            parts.push(part_of(n, pdu, mmse.pos));
        } else {
            stack.extend(n.children.iter().rev());
        }
    }
    let malformed = packet
        .descendants()
        .iter()
        .any(|n| n.name == "_ws.malformed" || n.name.starts_with("_ws.malformed"));
    Ok(TsharkMmse {
        fields,
        lines,
        content_type,
        parts,
        malformed,
        mmse: mmse.clone(),
    })
}

/// Decode several PDUs with one tshark run (one packet each).
pub fn tshark_mmse_many(pdus: &[&[u8]]) -> Result<Vec<TsharkMmse>, TsharkError> {
    let frames: Vec<Vec<u8>> = pdus.iter().map(|p| http_post(p)).collect();
    let pdml = tshark_pdml(&frames)?;
    let packets = parse_pdml(&pdml)?;
    if packets.len() != frames.len() {
        return Err(TsharkError::Pdml(format!(
            "{} packet(s) for {} PDU(s)",
            packets.len(),
            frames.len()
        )));
    }
    packets
        .iter()
        .zip(pdus)
        .map(|(p, pdu)| mmse_of(p, pdu))
        .collect()
}

/// Decode one PDU.
pub fn tshark_mmse(pdu: &[u8]) -> Result<TsharkMmse, TsharkError> {
    tshark_mmse_many(&[pdu])?
        .pop()
        .ok_or_else(|| TsharkError::Pdml("no packet".into()))
}

/// The `mmse.*` fields tshark shows for one PDU: field name -> shown values, in order.
pub fn tshark_mmse_fields(pdu: &[u8]) -> Result<BTreeMap<String, Vec<String>>, TsharkError> {
    tshark_mmse(pdu).map(|m| m.fields)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of a date-time given in a zone `offset_minutes` east of UTC.
pub fn epoch(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, offset_minutes: i64) -> u64 {
    let secs = days_from_civil(y, mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        - offset_minutes * 60;
    u64::try_from(secs).unwrap_or(0)
}

/// `(year, month, day, hour, minute, second)` in UTC of epoch seconds (`civil_from_days`).
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod % 3600 / 60) as u32,
        (sod % 60) as u32,
    )
}

/// Epoch seconds the way tshark 4.0 shows an absolute time with `TZ=UTC`:
/// `Jun  3, 2011 09:45:21.000000000 UTC`.
pub fn tshark_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, h, mi, s) = civil(secs);
    let mon = MONTHS.get((m as usize).wrapping_sub(1)).unwrap_or(&"???");
    format!("{mon} {d:>2}, {y} {h:02}:{mi:02}:{s:02}.000000000 UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip_and_known_dates() {
        // 2011-06-03T11:45:21+0200 (mmsd rc-mms-1-3-con-212) is 1307094321.
        assert_eq!(epoch(2011, 6, 3, 11, 45, 21, 120), 1_307_094_321);
        assert_eq!(
            tshark_time(1_307_094_321),
            "Jun  3, 2011 09:45:21.000000000 UTC"
        );
        assert_eq!(tshark_time(0), "Jan  1, 1970 00:00:00.000000000 UTC");
        assert_eq!(epoch(2000, 2, 29, 0, 0, 0, 0), 951_782_400);
        for s in (0..4_102_444_800u64).step_by(86_400 * 37 + 3_601) {
            let (y, m, d, h, mi, se) = civil(s);
            assert_eq!(epoch(y, m, d, h, mi, se, 0), s);
        }
    }

    #[test]
    fn pdml_parser() {
        let x = r#"<?xml version="1.0"?>
<pdml><packet><proto name="mmse" showname="MMS" size="4" pos="2">
<field name="mmse.to" show="&quot;&lt;a&gt;&quot; &amp; &#x41;" pos="2" size="2" value="9700"/>
<field name="" show="x"><field name="mmse.x" show="y"/></field>
</proto></packet><packet></packet></pdml>"#;
        let p = parse_pdml(x).unwrap();
        assert_eq!(p.len(), 2);
        let to = p[0].find("mmse.to").unwrap();
        assert_eq!(to.show, "\"<a>\" & A");
        assert_eq!((to.pos, to.size, to.value.as_str()), (2, 2, "9700"));
        assert_eq!(p[0].find("mmse.x").unwrap().show, "y");
        assert!(parse_pdml("<packet><proto>").is_err());
        assert!(parse_pdml("<packet></proto>").is_err());
    }

    #[test]
    fn hexdump_restarts_offsets_per_frame() {
        let d = String::from_utf8(hexdump(&[vec![1; 17], vec![2]])).unwrap();
        assert_eq!(
            d,
            "000000 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01 01\n000010 01\n000011\n\
             000000 02\n000001\n"
        );
    }
}
