//! A sans-I/O HTTP/1.1 server connection: bytes and `now` in, requests and errors out.
//!
//! The reactor reads straight into the connection's buffer ([`ServerConn::spare`] /
//! [`ServerConn::filled`]); the request head is parsed in place (httparse); the body is gathered
//! in the same buffer, which is handed over with the request ([`Request::buf`]), so body bytes
//! are never copied after the socket read (chunked bodies are compacted in place).
//!
//! One request is in flight per connection: pipelined requests stay buffered until the
//! response to the previous one is done ([`ServerConn::response_done`]), which keeps responses
//! in order. Limits map onto statuses: a malformed head 400, a POST without length 411, a body
//! over the limit 413, a head over the limit 431, a client too slow 408.

use std::ops::Range;

/// Bounds and timeouts of a connection (milliseconds for time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest request head (request line and headers), in octets.
    pub max_head_bytes: usize,
    /// Most header fields in a head.
    pub max_headers: usize,
    /// Largest body, in octets.
    pub max_body_bytes: usize,
    /// A keep-alive connection with no request started is closed after this.
    pub idle_timeout_ms: u64,
    /// A request whose head and body are not complete this long after its first octet gets 408
    /// (slowloris).
    pub request_timeout_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 8 * 1024,
            max_headers: 64,
            max_body_bytes: 1024 * 1024,
            idle_timeout_ms: 60_000,
            request_timeout_ms: 30_000,
        }
    }
}

/// Why a request cannot be served; each maps onto one status, after which the connection is
/// closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Malformed request line, header, length or chunk.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// A body without Content-Length or chunked coding.
    #[error("length required")]
    LengthRequired,
    /// Body above [`HttpLimits::max_body_bytes`].
    #[error("request body too large")]
    PayloadTooLarge,
    /// Head above [`HttpLimits::max_head_bytes`] or [`HttpLimits::max_headers`].
    #[error("request header fields too large")]
    HeadTooLarge,
    /// The request did not complete in time.
    #[error("request timeout")]
    Timeout,
    /// An HTTP version other than 1.0 / 1.1, or an unsupported transfer coding.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
}

impl HttpError {
    /// The status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::LengthRequired => 411,
            HttpError::PayloadTooLarge => 413,
            HttpError::HeadTooLarge => 431,
            HttpError::Timeout => 408,
            HttpError::NotImplemented(_) => 501,
        }
    }
}

/// A complete request. Its head fields are ranges into [`Request::buf`], which also holds the
/// body.
#[derive(Debug)]
pub struct Request {
    /// The buffer holding head and body (and nothing else).
    pub buf: Vec<u8>,
    method: Range<usize>,
    target: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    body: Range<usize>,
    /// HTTP/1.1 (true) or 1.0.
    pub http11: bool,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
}

impl Request {
    fn slice(&self, r: &Range<usize>) -> &[u8] {
        self.buf.get(r.clone()).unwrap_or(&[])
    }

    /// The method ("GET", "POST", ...).
    pub fn method(&self) -> &str {
        std::str::from_utf8(self.slice(&self.method)).unwrap_or("")
    }

    /// The request target as sent ("/mms?x=1").
    pub fn target(&self) -> &str {
        std::str::from_utf8(self.slice(&self.target)).unwrap_or("")
    }

    /// The target's path (before '?').
    pub fn path(&self) -> &str {
        let t = self.target();
        // An absolute-form target (via a proxy) carries scheme and authority. (A byte scan
        // finds the first "://" as `str::find` does, without setting up a substring search.)
        let t = match t.as_bytes().windows(3).position(|w| w == b"://") {
            Some(i) => t
                .get(i + 3..)
                .and_then(|r| r.find('/').and_then(|j| r.get(j..)))
                .unwrap_or("/"),
            None => t,
        };
        t.split('?').next().unwrap_or("")
    }

    /// The query (after '?'), if any.
    pub fn query(&self) -> Option<&str> {
        self.target().split_once('?').map(|(_, q)| q)
    }

    /// The first header with this name (case-insensitive), as octets.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| self.slice(n).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| self.slice(v))
    }

    /// The first header with this name, as trimmed text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// All headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.headers
            .iter()
            .map(|(n, v)| (self.slice(n), self.slice(v)))
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        self.slice(&self.body)
    }

    /// The body's range within [`Request::buf`].
    pub fn body_range(&self) -> Range<usize> {
        self.body.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, this many octets left.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// Inside the trailer section, after the last chunk.
    Trailer,
}

#[derive(Debug)]
enum State {
    /// Waiting for (more of) a request head.
    Head,
    /// Head parsed; gathering the body.
    Body {
        head: ParsedHead,
        framing: Framing,
        /// End of the (de-chunked) body so far.
        body_end: usize,
        /// Chunked: where parsing resumes.
        scan: usize,
        chunk: Chunk,
    },
    /// A request was returned; waiting for its response to finish.
    Busy,
    /// Broken; close after the error response.
    Closed,
}

#[derive(Debug, Clone)]
struct ParsedHead {
    method: Range<usize>,
    target: Range<usize>,
    headers: Vec<(Range<usize>, Range<usize>)>,
    head_len: usize,
    http11: bool,
    keep_alive: bool,
}

/// What [`ServerConn::poll`] found.
#[derive(Debug)]
pub enum Event {
    /// A complete request; answer it, then call [`ServerConn::response_done`].
    Request(Request),
    /// The client waits for `100 Continue` before sending its body: write
    /// [`CONTINUE_100`] now.
    Continue,
}

/// The interim response a client that sent `Expect: 100-continue` waits for.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// One server-side connection.
#[derive(Debug)]
pub struct ServerConn {
    limits: HttpLimits,
    /// Initialized storage; `buf[..end]` holds received octets not yet consumed.
    buf: Vec<u8>,
    end: usize,
    state: State,
    /// When the current request's first octet arrived (ms), or the connection went idle.
    started_at: Option<u64>,
    idle_since: u64,
    continue_pending: bool,
}

fn range_of(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
    start..start + part.len()
}

impl ServerConn {
    /// A new connection, accepted at `now_ms`.
    pub fn new(limits: HttpLimits, now_ms: u64) -> Self {
        ServerConn {
            limits,
            buf: Vec::new(),
            end: 0,
            state: State::Head,
            started_at: None,
            idle_since: now_ms,
            continue_pending: false,
        }
    }

    /// Room to read into, at least `min` octets: read into it, then call
    /// [`ServerConn::filled`]. Storage is initialized once and reused, so reads cost no fill.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        self.spare_from(min, None)
    }

    /// [`ServerConn::spare`], taking `fresh` as the new storage when more is needed and it is
    /// large enough: initialized octets (of a request buffer used before and given back, say)
    /// whose contents do not matter. What is buffered moves into it. Without it, or when it is
    /// too small, the buffer grows (and is filled with zeros) as with `spare`.
    pub fn spare_from(&mut self, min: usize, fresh: Option<Vec<u8>>) -> &mut [u8] {
        if self.buf.len() - self.end < min {
            match fresh {
                Some(mut f) if f.len() >= self.end + min => {
                    if let (Some(dst), Some(src)) =
                        (f.get_mut(..self.end), self.buf.get(..self.end))
                    {
                        dst.copy_from_slice(src);
                    }
                    self.buf = f;
                }
                _ => {
                    let want = (self.end + min).max(self.buf.len() * 2);
                    self.buf.resize(want, 0);
                }
            }
        }
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }

    /// Room left to read into without growing the buffer.
    pub fn room(&self) -> usize {
        self.buf.len() - self.end
    }

    /// `n` octets were read into the slice [`ServerConn::spare`] returned, at `now_ms`.
    pub fn filled(&mut self, n: usize, now_ms: u64) {
        self.end = (self.end + n).min(self.buf.len());
        if n > 0 && self.started_at.is_none() && matches!(self.state, State::Head) {
            self.started_at = Some(now_ms);
        }
    }

    /// Octets received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end
    }

    /// Append received octets (for callers that read elsewhere; costs a copy).
    pub fn recv(&mut self, data: &[u8], now_ms: u64) {
        let n = data.len();
        if let Some(dst) = self.spare(n).get_mut(..n) {
            dst.copy_from_slice(data);
        }
        self.filled(n, now_ms);
    }

    fn data(&self) -> &[u8] {
        self.buf.get(..self.end).unwrap_or(&[])
    }

    /// The deadline (ms) after which [`ServerConn::check_timeout`] fails the connection.
    pub fn deadline(&self) -> Option<u64> {
        match self.state {
            State::Busy | State::Closed => None,
            _ => Some(match self.started_at {
                Some(t) => t + self.limits.request_timeout_ms,
                None => self.idle_since + self.limits.idle_timeout_ms,
            }),
        }
    }

    /// At `now_ms`: `Err(Timeout)` when a started request is late (answer 408 and close);
    /// `Ok(true)` when an idle connection should be closed silently.
    pub fn check_timeout(&mut self, now_ms: u64) -> Result<bool, HttpError> {
        match self.deadline() {
            Some(d) if now_ms >= d => {
                if self.started_at.is_some() {
                    self.state = State::Closed;
                    Err(HttpError::Timeout)
                } else {
                    Ok(true)
                }
            }
            _ => Ok(false),
        }
    }

    /// True while a request has been returned and its response is not done.
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Busy)
    }

    /// The response to the last request was written, at `now_ms`; buffered pipelined
    /// requests may now be polled.
    pub fn response_done(&mut self, now_ms: u64) {
        if matches!(self.state, State::Busy) {
            self.state = State::Head;
            self.idle_since = now_ms;
            self.started_at = if self.end == 0 { None } else { Some(now_ms) };
        }
    }

    /// Parse what has arrived. `Ok(None)`: more octets are needed (or a request is in flight).
    pub fn poll(&mut self) -> Result<Option<Event>, HttpError> {
        loop {
            match &mut self.state {
                State::Busy | State::Closed => return Ok(None),
                State::Head => {
                    if self.end == 0 {
                        return Ok(None);
                    }
                    let Some((head, framing)) = self.parse_head()? else {
                        return Ok(None);
                    };
                    let expects_continue = self.expects_continue(&head);
                    let head_len = head.head_len;
                    self.state = State::Body {
                        head,
                        framing,
                        body_end: head_len,
                        scan: head_len,
                        chunk: Chunk::Size,
                    };
                    let have_body = self.end > head_len;
                    let empty_body = framing == Framing::Length(0);
                    if expects_continue && !have_body && !empty_body {
                        self.continue_pending = true;
                    }
                }
                State::Body { .. } => {
                    let done = self.advance_body()?;
                    if let Some(req) = done {
                        self.state = State::Busy;
                        self.continue_pending = false;
                        return Ok(Some(Event::Request(req)));
                    }
                    if self.continue_pending {
                        self.continue_pending = false;
                        return Ok(Some(Event::Continue));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn expects_continue(&self, head: &ParsedHead) -> bool {
        head.http11
            && head.headers.iter().any(|(n, v)| {
                self.buf
                    .get(n.clone())
                    .is_some_and(|n| n.eq_ignore_ascii_case(b"expect"))
                    && self
                        .buf
                        .get(v.clone())
                        .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
            })
    }

    fn fail(&mut self, e: HttpError) -> HttpError {
        self.state = State::Closed;
        e
    }

    fn parse_head(&mut self) -> Result<Option<(ParsedHead, Framing)>, HttpError> {
        // Leading empty lines before a request line are allowed (RFC 9112 §2.2).
        let skip = self
            .data()
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if skip > 0 {
            self.buf.copy_within(skip..self.end, 0);
            self.end -= skip;
            if self.end == 0 {
                return Ok(None);
            }
        }
        let mut storage = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut req = httparse::Request::new(&mut storage);
        // At most one octet past the limit is looked at, so that a head over the limit gets
        // the same answer however the stream was cut.
        let data = self
            .buf
            .get(..self.end.min(self.limits.max_head_bytes + 1))
            .unwrap_or(&[]);
        let status = req.parse(data);
        let head_len = match status {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                if self.end > self.limits.max_head_bytes {
                    return Err(self.fail(HttpError::HeadTooLarge));
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => return Err(self.fail(HttpError::HeadTooLarge)),
            Err(httparse::Error::Version) => {
                // A well-formed HTTP-version other than 1.x is not implemented; anything else
                // in its place is a malformed request line.
                // The version is the third token of the request line.
                let crlf = find_crlf(data);
                let mut line = data.get(..crlf.unwrap_or(data.len())).unwrap_or(&[]);
                if crlf.is_none() {
                    // A CR whose LF has not arrived yet.
                    line = line.strip_suffix(b"\r").unwrap_or(line);
                }
                let tokens: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
                let version = tokens.get(2).copied().unwrap_or(&[]);
                let well_formed = tokens.len() == 3
                    && matches!(version,
                        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
                            if major.is_ascii_digit() && minor.is_ascii_digit());
                // A version token still arriving may yet be well formed: wait for the line.
                if crlf.is_none() && tokens.len() == 3 && version_prefix(version) {
                    if self.end > self.limits.max_head_bytes {
                        return Err(self.fail(HttpError::HeadTooLarge));
                    }
                    return Ok(None);
                }
                return Err(self.fail(if well_formed {
                    HttpError::NotImplemented("HTTP version")
                } else {
                    HttpError::BadRequest("malformed request line")
                }));
            }
            Err(_) => return Err(self.fail(HttpError::BadRequest("malformed request head"))),
        };
        if head_len > self.limits.max_head_bytes {
            return Err(self.fail(HttpError::HeadTooLarge));
        }
        let base = data;
        let method = range_of(base, req.method.unwrap_or("").as_bytes());
        let target = range_of(base, req.path.unwrap_or("").as_bytes());
        let http11 = req.version == Some(1);
        let mut headers = Vec::with_capacity(req.headers.len());
        let mut content_length: Option<usize> = None;
        let mut chunked = false;
        let mut conn_close = false;
        let mut conn_keep = false;
        for h in req.headers.iter() {
            let n = h.name.as_bytes();
            if n.eq_ignore_ascii_case(b"content-length") {
                let v = std::str::from_utf8(h.value).ok().map(str::trim);
                let len = v
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<usize>().ok());
                match (len, content_length) {
                    (None, _) => {
                        return Err(self.fail(HttpError::BadRequest("bad Content-Length")));
                    }
                    (Some(l), Some(prev)) if l != prev => {
                        return Err(self.fail(HttpError::BadRequest("conflicting Content-Length")));
                    }
                    (Some(l), _) => content_length = Some(l),
                }
            } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
                let v = h.value.trim_ascii();
                if v.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else if !v.eq_ignore_ascii_case(b"identity") {
                    return Err(self.fail(HttpError::NotImplemented("transfer coding")));
                }
            } else if n.eq_ignore_ascii_case(b"connection") {
                for tok in h.value.split(|&b| b == b',') {
                    let tok = tok.trim_ascii();
                    conn_close |= tok.eq_ignore_ascii_case(b"close");
                    conn_keep |= tok.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            headers.push((range_of(base, n), range_of(base, h.value)));
        }
        // Request smuggling guard: both framings at once is refused (RFC 9112 §6.3).
        let framing = match (chunked, content_length) {
            (true, Some(_)) => {
                return Err(self.fail(HttpError::BadRequest("both Content-Length and chunked")));
            }
            (true, None) => Framing::Chunked,
            (false, Some(l)) => Framing::Length(l),
            (false, None) => {
                let m = req.method.unwrap_or("");
                if m.eq_ignore_ascii_case("POST") || m.eq_ignore_ascii_case("PUT") {
                    return Err(self.fail(HttpError::LengthRequired));
                }
                Framing::Length(0)
            }
        };
        if let Framing::Length(l) = framing
            && l > self.limits.max_body_bytes
        {
            return Err(self.fail(HttpError::PayloadTooLarge));
        }
        let keep_alive = if http11 { !conn_close } else { conn_keep };
        Ok(Some((
            ParsedHead {
                method,
                target,
                headers,
                head_len,
                http11,
                keep_alive,
            },
            framing,
        )))
    }

    /// Gather the body; when complete, split the buffer and return the request.
    fn advance_body(&mut self) -> Result<Option<Request>, HttpError> {
        let end = self.end;
        let max_body = self.limits.max_body_bytes;
        let max_head = self.limits.max_head_bytes;
        let State::Body {
            head,
            framing,
            body_end,
            scan,
            chunk,
        } = &mut self.state
        else {
            return Ok(None);
        };
        let consumed = match *framing {
            Framing::Length(l) => {
                let need = head.head_len + l;
                if end < need {
                    return Ok(None);
                }
                *body_end = need;
                need
            }
            Framing::Chunked => loop {
                // De-chunk in place: data moves down over the chunk-size lines.
                let rest = self.buf.get(*scan..end).unwrap_or(&[]);
                match *chunk {
                    Chunk::Size => {
                        // The same limit whether or not the line's end has arrived.
                        let found = find_crlf(rest);
                        if line_len(rest, found) > MAX_CHUNK_LINE {
                            self.state = State::Closed;
                            return Err(HttpError::BadRequest("chunk size line too long"));
                        }
                        let Some(i) = found else {
                            return Ok(None);
                        };
                        let line = rest.get(..i).unwrap_or(&[]);
                        let size_part = line
                            .split(|&b| b == b';')
                            .next()
                            .unwrap_or(&[])
                            .trim_ascii();
                        let size = std::str::from_utf8(size_part)
                            .ok()
                            .filter(|s| !s.is_empty() && s.len() <= 16)
                            .and_then(|s| usize::from_str_radix(s, 16).ok());
                        let Some(size) = size else {
                            self.state = State::Closed;
                            return Err(HttpError::BadRequest("bad chunk size"));
                        };
                        *scan += i + 2;
                        if size == 0 {
                            *chunk = Chunk::Trailer;
                        } else if (*body_end - head.head_len).saturating_add(size) > max_body {
                            self.state = State::Closed;
                            return Err(HttpError::PayloadTooLarge);
                        } else {
                            *chunk = Chunk::Data(size);
                        }
                    }
                    Chunk::Data(left) => {
                        let n = rest.len().min(left);
                        if n == 0 {
                            return Ok(None);
                        }
                        if *scan != *body_end {
                            self.buf.copy_within(*scan..*scan + n, *body_end);
                        }
                        *scan += n;
                        *body_end += n;
                        *chunk = if left > n {
                            Chunk::Data(left - n)
                        } else {
                            Chunk::DataEnd
                        };
                    }
                    Chunk::DataEnd => match rest.get(..2) {
                        None => return Ok(None),
                        Some(b"\r\n") => {
                            *scan += 2;
                            *chunk = Chunk::Size;
                        }
                        Some(_) => {
                            self.state = State::Closed;
                            return Err(HttpError::BadRequest("chunk data not followed by CRLF"));
                        }
                    },
                    Chunk::Trailer => {
                        let found = find_crlf(rest);
                        if line_len(rest, found) > max_head {
                            self.state = State::Closed;
                            return Err(HttpError::HeadTooLarge);
                        }
                        let Some(i) = found else {
                            return Ok(None);
                        };
                        *scan += i + 2;
                        if i == 0 {
                            break *scan;
                        }
                    }
                }
            },
        };
        let head = head.clone();
        let body_range = head.head_len..*body_end;
        // Pipelined octets after this request move to a fresh buffer (usually none); the
        // request keeps the buffer it arrived in, all of its initialized storage (so that it
        // can serve another request once done with, without a fill).
        let rest = self.buf.get(consumed..end).unwrap_or(&[]).to_vec();
        let req_buf = std::mem::take(&mut self.buf);
        self.end = rest.len();
        self.buf = rest;
        Ok(Some(Request {
            buf: req_buf,
            method: head.method,
            target: head.target,
            headers: head.headers,
            body: body_range,
            http11: head.http11,
            keep_alive: head.keep_alive,
        }))
    }
}

/// Longest chunk-size line (size and extensions).
const MAX_CHUNK_LINE: usize = 1024;

/// True if `v` is a prefix of a well-formed `HTTP/d.d`.
fn version_prefix(v: &[u8]) -> bool {
    const SHAPE: &[u8] = b"HTTP/0.0";
    v.len() <= SHAPE.len()
        && v.iter().zip(SHAPE).all(|(&c, &s)| {
            if s == b'0' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
}

/// Length of the line at the start of `rest` (without its CRLF), or what is known of it when
/// its end has not arrived: a last CR may be the start of the CRLF and is not counted, so the
/// same line gets the same verdict however the stream was cut.
fn line_len(rest: &[u8], crlf: Option<usize>) -> usize {
    match crlf {
        Some(i) => i,
        None if rest.ends_with(b"\r") => rest.len() - 1,
        None => rest.len(),
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Write a response head (status line, the given headers, Content-Length, Connection) into
/// `out`; the body of `body_len` octets follows separately.
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body_len: usize,
    keep_alive: bool,
) {
    // Written piece by piece: this is on every answer, and `write!` costs several times
    // more than the copies.
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_read_as_formatted() {
        for (status, len, keep) in [
            (200u16, 0usize, true),
            (204, 7, true),
            (404, 10_135, false),
            (503, usize::MAX, true),
            (999, 1, false),
        ] {
            let headers = [
                ("Content-Type", "application/vnd.wap.mms-message"),
                ("X-A", ""),
            ];
            let mut out = Vec::new();
            write_head(&mut out, status, &headers, len, keep);
            let mut expected = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (n, v) in headers {
                expected.push_str(&format!("{n}: {v}\r\n"));
            }
            expected.push_str(&format!("Content-Length: {len}\r\n"));
            if !keep {
                expected.push_str("Connection: close\r\n");
            }
            expected.push_str("\r\n");
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    fn conn() -> ServerConn {
        ServerConn::new(HttpLimits::default(), 0)
    }

    fn req(c: &mut ServerConn) -> Request {
        match c.poll().unwrap() {
            Some(Event::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_and_keep_alive_pipelining() {
        let mut c = conn();
        c.recv(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0);
        let r = req(&mut c);
        assert_eq!(
            (r.method(), r.path(), r.query()),
            ("GET", "/a", Some("x=1"))
        );
        assert!(r.keep_alive);
        assert!(
            c.poll().unwrap().is_none(),
            "second request waits for the first response"
        );
        c.response_done(1);
        let r = req(&mut c);
        assert_eq!(r.path(), "/b");
        assert!(!r.keep_alive);
        assert_eq!(r.header_str("host"), Some("h"));
    }

    #[test]
    fn paths_of_every_target_form() {
        // What `path` was with `str::find("://")`.
        fn reference(t: &str) -> &str {
            let t = match t.find("://") {
                Some(i) => t
                    .get(i + 3..)
                    .and_then(|r| r.find('/').and_then(|j| r.get(j..)))
                    .unwrap_or("/"),
                None => t,
            };
            t.split('?').next().unwrap_or("")
        }
        for target in [
            "/mms",
            "/mms/",
            "/mms?x=1",
            "/mms/abc-0?y",
            "http://mmsc.example:8514/mms/abc-0?q=1",
            "http://mmsc.example",
            "http://mmsc.example?x",
            "https://h/",
            "/a://b/c",
            "/a:/b://c/d?e",
            ":///x",
            "://",
            "*",
            "/\u{e9}t\u{e9}://x/y",
            "h://://a/b",
        ] {
            let mut c = conn();
            c.recv(
                format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes(),
                0,
            );
            let r = req(&mut c);
            assert_eq!(r.target(), target);
            assert_eq!(r.path(), reference(target), "{target}");
        }
    }

    #[test]
    fn post_with_length_arrives_in_pieces() {
        let mut c = conn();
        let msg = b"POST /mms HTTP/1.1\r\nContent-Length: 5\r\nX-MSISDN: +35840\r\n\r\nhello";
        for (i, b) in msg.iter().enumerate() {
            assert!(c.poll().unwrap().is_none(), "at {i}");
            c.recv(&[*b], i as u64);
        }
        let r = req(&mut c);
        assert_eq!(r.body(), b"hello");
        assert_eq!(r.header_str("x-msisdn"), Some("+35840"));
        // The request holds the octets it arrived in, where they arrived.
        assert_eq!(&r.buf[..r.body_range().end], &msg[..]);
    }

    #[test]
    fn storage_given_back_is_taken_without_a_fill() {
        let mut c = conn();
        c.recv(b"POST /mms HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", 0);
        // Too small: ignored, the buffer grows as usual.
        let room = c.spare_from(100, Some(vec![7; 10])).len();
        assert!(room >= 100);
        // Large enough: taken, with what was buffered moved to its start.
        let given = vec![0xEE; 4096];
        let held = c.buffered();
        let dst = c.spare_from(4000, Some(given));
        assert_eq!(dst.len(), 4096 - held);
        assert!(dst.iter().all(|&b| b == 0xEE), "not filled");
        dst[..2].copy_from_slice(b"cd");
        c.filled(2, 0);
        let r = req(&mut c);
        assert_eq!(r.body(), b"abcd");
        assert_eq!(r.buf.len(), 4096, "the request keeps all of the storage");
    }

    #[test]
    fn chunked_is_compacted_in_place() {
        let mut c = conn();
        let msg = b"POST /mms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        // Feed in awkward pieces.
        for chunk in msg.chunks(3) {
            c.recv(chunk, 0);
            if let Some(Event::Request(r)) = c.poll().unwrap() {
                assert_eq!(r.body(), b"hello world");
                c.response_done(0);
                // The pipelined GET follows.
                for rest in msg.chunks(3).skip_while(|x| x.as_ptr() <= chunk.as_ptr()) {
                    c.recv(rest, 0);
                }
                let g = req(&mut c);
                assert_eq!(g.method(), "GET");
                return;
            }
        }
        panic!("no request");
    }

    #[test]
    fn expect_continue() {
        let mut c = conn();
        c.recv(
            b"POST /mms HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
            0,
        );
        assert!(matches!(c.poll().unwrap(), Some(Event::Continue)));
        assert!(c.poll().unwrap().is_none());
        c.recv(b"abc", 1);
        assert_eq!(req(&mut c).body(), b"abc");
    }

    #[test]
    fn limits_and_errors() {
        let cases: &[(&[u8], u16)] = &[
            (b"POST / HTTP/1.1\r\n\r\n", 411),
            (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
            (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                400,
            ),
            (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
            (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\n\r\n", 501),
            (b"THIS IS NOT HTTP\r\n\r\n", 400),
            (b"GET / FTP/1.1\r\n\r\n", 400),
        ];
        for (input, status) in cases {
            let mut c = conn();
            c.recv(input, 0);
            let e = c.poll().unwrap_err();
            assert_eq!(e.status(), *status, "{}", String::from_utf8_lossy(input));
            assert!(c.poll().unwrap().is_none(), "closed afterwards");
        }
        // Head too large.
        let mut c = conn();
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() < 9000 {
            big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        c.recv(&big, 0);
        assert_eq!(c.poll().unwrap_err().status(), 431);
        // Chunked body over the limit.
        let mut c = ServerConn::new(
            HttpLimits {
                max_body_bytes: 4,
                ..HttpLimits::default()
            },
            0,
        );
        c.recv(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            0,
        );
        assert_eq!(c.poll().unwrap_err().status(), 413);
    }

    /// What a connection makes of a stream: the requests (method, target, body) and the
    /// status it fails with, if it does.
    /// Requests seen (method, target, body) and the final error status.
    type Outcome = (Vec<(String, String, Vec<u8>)>, Option<u16>);

    fn outcome(stream: &[u8], piece: usize) -> Outcome {
        let limits = HttpLimits {
            max_head_bytes: 512,
            max_body_bytes: 2048,
            ..HttpLimits::default()
        };
        let mut c = ServerConn::new(limits, 0);
        let mut seen = Vec::new();
        for chunk in stream.chunks(piece.max(1)) {
            c.recv(chunk, 0);
            loop {
                match c.poll() {
                    Ok(Some(Event::Request(r))) => {
                        seen.push((
                            r.method().to_string(),
                            r.target().to_string(),
                            r.body().to_vec(),
                        ));
                        c.response_done(0);
                    }
                    Ok(Some(Event::Continue)) => {}
                    Ok(None) => break,
                    Err(e) => return (seen, Some(e.status())),
                }
            }
        }
        (seen, None)
    }

    #[test]
    fn the_answer_does_not_depend_on_how_the_stream_was_cut() {
        let long = |n: usize| "a".repeat(n);
        let cases: Vec<Vec<u8>> = vec![
            b"ms T / HTTP/1.0".to_vec(),
            b"GET / HTTP/2.0\r\n\r\n".to_vec(),
            b"GET / HTTP/2".to_vec(),
            format!("GET / HTTP/1.1\r\nX: {}\x01\r\n\r\n", long(600)).into_bytes(),
            format!(
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}\r\n\r\n",
                long(600)
            )
            .into_bytes(),
            format!(
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;{}\r\nhello\r\n0\r\n\r\n",
                "e".repeat(1100)
            )
            .into_bytes(),
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /x HTTP/1.1\r\n\r\n".to_vec(),
        ];
        for stream in &cases {
            let whole = outcome(stream, stream.len());
            for piece in 1..=16 {
                assert_eq!(
                    outcome(stream, piece),
                    whole,
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(&stream[..stream.len().min(40)])
                );
            }
        }
        assert_eq!(outcome(&cases[0], 100).1, Some(400));
        assert_eq!(outcome(&cases[1], 100).1, Some(501));
        assert_eq!(outcome(&cases[2], 100), (vec![], None));
        assert_eq!(outcome(&cases[3], 1000).1, Some(431));
        assert_eq!(outcome(&cases[4], 1000).1, Some(431));
        assert_eq!(outcome(&cases[5], 2000).1, Some(400));
        assert_eq!(outcome(&cases[6], 100).0.len(), 2);
    }

    #[test]
    fn a_line_exactly_at_the_limit_is_the_same_whole_and_in_pieces() {
        // Found by the http fuzz target: a 512-octet trailer line was accepted whole and
        // refused in pieces (its CR arrived before its LF and was counted).
        let mut stream = b"POST /mms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        stream.extend(std::iter::repeat_n(b'x', 512));
        stream.extend_from_slice(b"\r\n\r\n");
        let whole = outcome(&stream, stream.len());
        assert_eq!(whole.0.len(), 1);
        for piece in 1..=16 {
            assert_eq!(outcome(&stream, piece), whole, "pieces of {piece}");
        }
        let mut stream = b"POST /mms HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0;".to_vec();
        stream.extend(std::iter::repeat_n(b'e', MAX_CHUNK_LINE - 2));
        stream.extend_from_slice(b"\r\n\r\n");
        let whole = outcome(&stream, stream.len());
        assert_eq!(whole.0.len(), 1);
        for piece in 1..=16 {
            assert_eq!(outcome(&stream, piece), whole, "pieces of {piece}");
        }
    }

    #[test]
    fn timeouts() {
        let limits = HttpLimits::default();
        let mut c = ServerConn::new(limits.clone(), 0);
        assert_eq!(c.deadline(), Some(limits.idle_timeout_ms));
        assert_eq!(c.check_timeout(limits.idle_timeout_ms), Ok(true));
        let mut c = ServerConn::new(limits.clone(), 0);
        c.recv(b"GET / HT", 10);
        assert_eq!(c.deadline(), Some(10 + limits.request_timeout_ms));
        assert_eq!(c.check_timeout(5 + limits.request_timeout_ms), Ok(false));
        assert_eq!(
            c.check_timeout(10 + limits.request_timeout_ms),
            Err(HttpError::Timeout)
        );
    }

    #[test]
    fn response_head() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            200,
            &[("Content-Type", "application/vnd.wap.mms-message")],
            12,
            false,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.wap.mms-message\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
        );
    }
}
