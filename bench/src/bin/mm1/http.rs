//! A minimal blocking HTTP/1.1 client over one keep-alive `TcpStream`: enough for the full-flow
//! load (requests with a body and Content-Length, responses with Content-Length).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest wait for a connect, a write or a read.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 8 << 20;

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// One keep-alive connection (reconnected when the server closes it after a response).
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Client {
    /// A client of `addr`; it connects on the first request.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
            out: Vec::with_capacity(16 * 1024),
        }
    }

    fn connect(&mut self) -> Result<&mut TcpStream, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, TIMEOUT)
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = s.set_nodelay(true);
            let _ = s.set_read_timeout(Some(TIMEOUT));
            let _ = s.set_write_timeout(Some(TIMEOUT));
            self.buf.clear();
            self.stream = Some(s);
        }
        self.stream.as_mut().ok_or_else(|| "not connected".into())
    }

    /// Send one request and read its response. On any error the connection is dropped (the
    /// next request opens a new one); nothing is retried.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let r = self.exchange(method, path, headers, body);
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let _ = write!(out, "{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (n, v) in headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        if !body.is_empty() || method == "POST" {
            let _ = write!(out, "Content-Length: {}\r\n", body.len());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        let result = self
            .connect()
            .and_then(|s| s.write_all(&out).map_err(|e| format!("write: {e}")));
        self.out = out;
        result?;
        self.read_response()
    }

    fn fill(&mut self) -> Result<(), String> {
        let s = self.stream.as_mut().ok_or("not connected")?;
        let mut chunk = [0u8; 16 * 1024];
        match s.read(&mut chunk) {
            Ok(0) => Err("connection closed by the server".into()),
            Ok(n) => {
                self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                Ok(())
            }
            Err(e) => Err(format!("read: {e}")),
        }
    }

    fn read_response(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err("response head too large".into());
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(self.buf.get(..head_end).unwrap_or(&[])).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let mut len = None;
        let mut close = false;
        for l in lines {
            let Some((n, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if n.eq_ignore_ascii_case("content-length") {
                len = v.parse::<usize>().ok();
            } else if n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            } else if n.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!("unsupported Transfer-Encoding: {v}"));
            }
        }
        // 1xx, 204 and 304 have no body.
        let len = match (status, len) {
            (100..=199 | 204 | 304, _) => 0,
            (_, Some(n)) if n <= MAX_BODY => n,
            (_, Some(n)) => return Err(format!("response body of {n} octets too large")),
            (_, None) => return Err("response without Content-Length".into()),
        };
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = self
            .buf
            .get(head_end..head_end + len)
            .unwrap_or(&[])
            .to_vec();
        self.buf.drain(..head_end + len);
        if close {
            self.stream = None;
        }
        if status < 200 {
            // 100 Continue and the like: the real response follows.
            return self.read_response();
        }
        Ok(Response { status, body })
    }
}
