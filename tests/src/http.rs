//! A minimal blocking HTTP/1.1 client over [`std::net::TcpStream`], for talking to mmsc (and
//! Kannel's admin page) in tests: keep-alive, raw writes (for malformed, pipelined and
//! trickled requests), interim `100 Continue` answers, Content-Length, chunked and
//! until-close bodies. Every read is bounded by the connection's read timeout.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Default time limit of one read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of the Content-Type header, lower case, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// True when the server announced it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The body as (lossy) text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection.
#[derive(Debug)]
pub struct HttpConn {
    stream: TcpStream,
    /// Octets read but not consumed yet.
    buf: Vec<u8>,
    /// The peer closed its side (EOF seen).
    eof: bool,
}

/// Serialize a request: request line, `Host`, the given headers, `Content-Length` when a body
/// is given and no `Content-Length` / `Transfer-Encoding` header is, a blank line, the body.
pub fn request_bytes(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: mmsc.test\r\n").into_bytes();
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    if let Some(b) = body
        && !has("content-length")
        && !has("transfer-encoding")
    {
        out.extend_from_slice(format!("Content-Length: {}\r\n", b.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

impl HttpConn {
    /// Connect (at most 5 s), with [`READ_TIMEOUT`] on reads and writes.
    pub fn connect(addr: SocketAddr) -> io::Result<HttpConn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(HttpConn {
            stream,
            buf: Vec::new(),
            eof: false,
        })
    }

    /// Change the read timeout.
    pub fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(d))
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Write octets as they are.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Send a request and read its final answer (interim 1xx answers are skipped).
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<Response> {
        self.write_raw(&request_bytes(method, target, headers, body))?;
        loop {
            let r = self.read_response()?;
            if !(100..200).contains(&r.status) {
                return Ok(r);
            }
        }
    }

    /// POST `body` to `target`.
    pub fn post(
        &mut self,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.request("POST", target, headers, Some(body))
    }

    /// GET `target`.
    pub fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
        self.request("GET", target, headers, None)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn eof_error(what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("connection closed {what}"),
        )
    }

    /// Read one line ending in CRLF (or LF), without it.
    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let s = String::from_utf8_lossy(&line);
                return Ok(s.trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response line too long",
                ));
            }
            if self.fill()? == 0 {
                return Err(Self::eof_error("inside a response head"));
            }
        }
    }

    fn read_exact_buf(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(Self::eof_error("inside a response body"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Read one response (an interim 1xx one too). A response to HEAD is not supported.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let status_line = self.read_line()?;
        let mut it = status_line.splitn(3, ' ');
        let version = it.next().unwrap_or("");
        let status: u16 = it.next().and_then(|s| s.parse().ok()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
        if !version.starts_with("HTTP/1.") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            ));
        }
        let reason = it.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad header {line:?}"))
            })?;
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        let mut r = Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(r);
        }
        let chunked = r
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let size_line = self.read_line()?;
                let size =
                    usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("bad chunk size {size_line:?}"),
                            )
                        })?;
                if size == 0 {
                    // Trailers up to the blank line.
                    while !self.read_line()?.is_empty() {}
                    break;
                }
                if r.body.len() + size > MAX_BODY {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
                }
                let data = self.read_exact_buf(size)?;
                r.body.extend_from_slice(&data);
                self.read_line()?;
            }
        } else if let Some(cl) = r.header("content-length") {
            let n: usize = cl.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad Content-Length {cl}"),
                )
            })?;
            if n > MAX_BODY {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
            }
            r.body = self.read_exact_buf(n)?;
        } else {
            // Until the server closes.
            while !self.eof {
                if self.fill()? == 0 {
                    break;
                }
                if self.buf.len() > MAX_BODY {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
                }
            }
            r.body = std::mem::take(&mut self.buf);
        }
        Ok(r)
    }

    /// Wait (at most `within`) for the server to close the connection, discarding anything it
    /// sends first. True when it closed (EOF or reset), false on timeout.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        if self.eof {
            return true;
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .is_err()
            {
                return true;
            }
            match self.fill() {
                Ok(0) => return true,
                Ok(_) => self.buf.clear(),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
    }

    /// Octets received and not consumed by a response yet.
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn reads_length_chunked_interim_and_close_delimited_answers() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = vec![0u8; 4096];
            let _ = s.read(&mut req).unwrap();
            s.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc\
                  HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\
                  2\r\nde\r\n1;x=y\r\nf\r\n0\r\nT: 1\r\n\r\n\
                  HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\ngone",
            )
            .unwrap();
        });
        let mut c = HttpConn::connect(addr).unwrap();
        let r = c.post("/mms", &[("X-MSISDN", "1")], b"x").unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"abc"[..]));
        assert_eq!(r.header("x-a"), Some("b"));
        let r = c.read_response().unwrap();
        assert_eq!((r.status, &r.body[..]), (201, &b"def"[..]));
        let r = c.read_response().unwrap();
        assert_eq!(
            (r.status, &r.body[..], r.closes()),
            (404, &b"gone"[..], true)
        );
        assert!(c.closed_within(Duration::from_secs(1)));
        server.join().unwrap();
    }

    #[test]
    fn request_serialization() {
        let b = request_bytes("POST", "/mms", &[("X-MSISDN", "+1")], Some(b"hi"));
        assert_eq!(
            b,
            b"POST /mms HTTP/1.1\r\nHost: mmsc.test\r\nX-MSISDN: +1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let b = request_bytes("GET", "/x", &[], None);
        assert_eq!(b, b"GET /x HTTP/1.1\r\nHost: mmsc.test\r\n\r\n");
    }
}
