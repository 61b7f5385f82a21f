//! Mode `log`: one JSON line per push, appended to a file, instead of a gateway.
//!
//! ```text
//! {"at":1795515300,"to":"+358401234567","pdu_base64":"jIKY..."}
//! ```
//!
//! Writing a line costs a base64 encoding and one `write`: nothing is decoded on the push
//! path. [`read_log`] adds each entry's `summary`, the PDU's JSON form
//! ([`mmsc_wire::json::to_json`]) without its body (`parts` / `data`), or `{"error": ..}` for a
//! PDU that does not decode; `mmsc notifications --json` prints entries with it. (Lines
//! written with a `summary` of their own are read as they are.) The file is opened with `O_APPEND`; each line goes out in one `write` under a lock,
//! so lines from concurrent pushes (and processes) do not interleave. There is no fsync: after
//! a crash the last line may be torn, and [`read_log`] skips a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use mmsc_wire::{DecodeError, Limits, Pdu};
use serde_json::{Map, Value as Json, json};

use crate::{Delivered, PushError, Sender};

/// Appends each push to a file as a JSON line (see the module documentation).
#[derive(Debug)]
pub struct LogSender {
    path: PathBuf,
    file: Mutex<File>,
    /// The detail of every delivery, made once.
    detail: String,
}

impl LogSender {
    /// Open (create) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogSender {
            path: path.to_owned(),
            file: Mutex::new(file),
            detail: format!("logged to {}", path.display()),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry pushed at `at` (seconds since the epoch).
    pub fn append(&self, at: u64, msisdn: &str, pdu: &[u8]) -> io::Result<()> {
        let mut lines = Vec::with_capacity(64 + pdu.len() * 4 / 3);
        push_line(&mut lines, at, msisdn, pdu);
        self.write_lines(&lines)
    }

    /// Append entries pushed at `at`, all in one `write`.
    pub fn append_all(&self, at: u64, pushes: &[(&str, &[u8])]) -> io::Result<()> {
        let len: usize = pushes.iter().map(|(_, p)| 64 + p.len() * 4 / 3).sum();
        let mut lines = Vec::with_capacity(len);
        for (msisdn, pdu) in pushes {
            push_line(&mut lines, at, msisdn, pdu);
        }
        self.write_lines(&lines)
    }

    fn write_lines(&self, lines: &[u8]) -> io::Result<()> {
        // A poisoned lock only means another push panicked mid-write; the file is still usable.
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(lines)?;
        f.flush()
    }

    fn failed(&self, e: &io::Error) -> PushError {
        PushError::Transient(format!("cannot append to {}: {e}", self.path.display()))
    }

    fn delivered(&self) -> Delivered {
        Delivered {
            detail: self.detail.clone(),
        }
    }
}

/// One log line: octets, not a `String` (the base64 text is ASCII by construction; a
/// `String` would check it again as UTF-8).
fn push_line(out: &mut Vec<u8>, at: u64, msisdn: &str, pdu: &[u8]) {
    out.extend_from_slice(b"{\"at\":");
    out.extend_from_slice(itoa::Buffer::new().format(at).as_bytes());
    out.extend_from_slice(b",\"to\":");
    push_json_string(out, msisdn);
    out.extend_from_slice(b",\"pdu_base64\":\"");
    let start = out.len();
    out.resize(start + base64::encoded_len(pdu.len(), true).unwrap_or(0), 0);
    let n = B64
        .encode_slice(pdu, out.get_mut(start..).unwrap_or(&mut []))
        .unwrap_or(0);
    out.truncate(start + n);
    out.extend_from_slice(b"\"}\n");
}

/// `s` as a JSON string, quoted and escaped as serde_json writes it.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(s.as_bytes().get(plain..i).unwrap_or(&[]));
        plain = i + 1;
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(s.as_bytes().get(plain..).unwrap_or(&[]));
    out.push(b'"');
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sender for LogSender {
    fn send(&self, msisdn: &str, pdu: &[u8]) -> Result<Delivered, PushError> {
        self.append(now(), msisdn, pdu)
            .map_err(|e| self.failed(&e))?;
        Ok(self.delivered())
    }

    /// Lines are small and the file is local: one `write` for many pushes.
    fn batch_limit(&self) -> usize {
        256
    }

    fn send_batch(&self, pushes: &[(&str, &[u8])]) -> Vec<Result<Delivered, PushError>> {
        match self.append_all(now(), pushes) {
            Ok(()) => pushes.iter().map(|_| Ok(self.delivered())).collect(),
            Err(e) => pushes.iter().map(|_| Err(self.failed(&e))).collect(),
        }
    }
}

/// The summary of a PDU: its JSON form without the body, or `{"error": ..}`.
fn summary(pdu: &[u8]) -> Json {
    match Pdu::decode(pdu, &Limits::default()) {
        Ok(p) => {
            let mut j = mmsc_wire::json::to_json(&p);
            if let Some(o) = j.as_object_mut() {
                o.remove("parts");
                o.remove("data");
            }
            j
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// One push read back from the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedPush {
    /// When, in seconds since the epoch.
    pub at: u64,
    /// The MSISDN pushed to.
    pub to: String,
    /// The MMS PDU.
    pub pdu: Vec<u8>,
    /// The summary written with it (see the module documentation).
    pub summary: Json,
}

impl LoggedPush {
    /// Decode the PDU.
    pub fn decode(&self) -> Result<Pdu<'_>, DecodeError> {
        Pdu::decode(&self.pdu, &Limits::default())
    }

    /// The entry as its JSON line (without the newline), as it is written to the log.
    pub fn to_json_line(&self) -> String {
        json!({
            "at": self.at,
            "to": self.to,
            "pdu_base64": B64.encode(&self.pdu),
            "summary": self.summary,
        })
        .to_string()
    }

    /// One human-readable line: time, MSISDN, message type, transaction id, and the content
    /// location, message id and status where present.
    pub fn summary_line(&self) -> String {
        let when = mmsc_wire::json::format_date(self.at).unwrap_or_else(|| self.at.to_string());
        let mut out = format!("{when} {}", self.to);
        let fields = [
            ("", "X-Mms-Message-Type"),
            ("tid=", "X-Mms-Transaction-ID"),
            ("", "X-Mms-Content-Location"),
            ("id=", "Message-ID"),
            ("status=", "X-Mms-Status"),
            ("read-status=", "X-Mms-Read-Status"),
            ("error: ", "error"),
        ];
        for (label, key) in fields {
            if let Some(v) = self.summary.get(key) {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                out.push(' ');
                out.push_str(label);
                out.push_str(&text);
            }
        }
        out
    }

    fn from_json(j: &Json) -> Result<LoggedPush, String> {
        let o: &Map<String, Json> = j.as_object().ok_or("not a JSON object")?;
        let at = o
            .get("at")
            .and_then(Json::as_u64)
            .ok_or("\"at\" is not a number of seconds")?;
        let to = o
            .get("to")
            .and_then(Json::as_str)
            .ok_or("\"to\" is not a string")?
            .to_owned();
        let pdu = o
            .get("pdu_base64")
            .and_then(Json::as_str)
            .ok_or("\"pdu_base64\" is not a string")
            .and_then(|s| B64.decode(s).map_err(|_| "\"pdu_base64\" is not base64"))?;
        let summary = match o.get("summary") {
            Some(s) => s.clone(),
            None => summary(&pdu),
        };
        Ok(LoggedPush {
            at,
            to,
            pdu,
            summary,
        })
    }
}

/// A push log that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file cannot be read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A line is not a push entry.
    #[error("line {line}: {message}")]
    Malformed {
        /// Line number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Read every entry of a push log, oldest first. A last line without its newline that does not
/// parse (torn by a crash mid-write) is skipped; any other malformed line is an error. Empty
/// lines are skipped.
pub fn read_log(path: &Path) -> Result<Vec<LoggedPush>, LogError> {
    let data = std::fs::read(path)?;
    let complete = data.ends_with(b"\n");
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let count = lines.len();
    let mut out = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let torn_tail = !complete && i + 1 == count;
        let parsed = serde_json::from_slice::<Json>(line)
            .map_err(|e| e.to_string())
            .and_then(|j| LoggedPush::from_json(&j));
        match parsed {
            Ok(p) => out.push(p),
            Err(_) if torn_tail => {}
            Err(message) => {
                return Err(LogError::Malformed {
                    line: i + 1,
                    message,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        let mut inputs: Vec<String> = vec![
            String::new(),
            "+358401234567".into(),
            "a\"b\\c/d".into(),
            "tab\tnl\ncr\rbs\u{8}ff\u{c}".into(),
            "é€😀 and \u{7f}".into(),
        ];
        inputs.extend((0u8..0x80).map(|b| format!("x{}y", char::from(b))));
        for s in &inputs {
            let mut out = Vec::new();
            push_json_string(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                Json::from(s.as_str()).to_string(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn entry_round_trip() {
        let pdu = b"\x8C\x82\x98T1\x00\x8D\x92\x83http://x/1\x00".to_vec();
        let e = LoggedPush {
            at: 1_795_515_300,
            to: "+358401234567".into(),
            summary: summary(&pdu),
            pdu,
        };
        let line = e.to_json_line();
        assert!(
            line.starts_with(r#"{"at":1795515300,"to":"+358401234567","pdu_base64":"jIKYVDEAjZKDaHR0cDovL3gvMQA=","summary":{"X-Mms-Message-Type":"m-notification-ind","X-Mms-Transaction-ID":"T1""#),
            "{line}"
        );
        let back = LoggedPush::from_json(&serde_json::from_str(&line).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            e.summary_line(),
            "2026-11-24T10:15:00Z +358401234567 m-notification-ind tid=T1 http://x/1"
        );
    }

    #[test]
    fn a_batch_is_written_as_one_line_per_push_in_order() {
        let dir = std::env::temp_dir().join(format!("mmsc-push-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("batch.log");
        let _ = std::fs::remove_file(&path);
        let log = LogSender::open(&path).unwrap();
        assert_eq!(log.batch_limit(), 256);
        let pdus: Vec<Vec<u8>> = (0..3u8)
            .map(|i| vec![0x8C, 0x82, 0x98, b'0' + i, 0])
            .collect();
        let pushes: Vec<(&str, &[u8])> = vec![
            ("+358400000001", &pdus[0]),
            ("+358400000002", &pdus[1]),
            ("+358400000003", &pdus[2]),
        ];
        let outcomes = log.send_batch(&pushes);
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        log.send("+358400000004", &pdus[0]).unwrap();
        let back = read_log(&path).unwrap();
        let got: Vec<(&str, &[u8])> = back.iter().map(|e| (e.to.as_str(), &e.pdu[..])).collect();
        assert_eq!(&got[..3], &pushes[..]);
        assert_eq!(got[3], ("+358400000004", &pdus[0][..]));
        assert_eq!(got.len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn undecodable_pdu_is_logged_with_its_error() {
        let s = summary(b"\x00garbage");
        assert!(s.get("error").and_then(Json::as_str).is_some(), "{s}");
        let e = LoggedPush {
            at: 0,
            to: "+1".into(),
            pdu: b"\x00garbage".to_vec(),
            summary: s,
        };
        assert!(
            e.summary_line().contains(" error: "),
            "{}",
            e.summary_line()
        );
        assert!(e.decode().is_err());
    }

    #[test]
    fn malformed_entries() {
        for (j, msg) in [
            (json!([]), "not a JSON object"),
            (json!({"at": -1, "to": "+1", "pdu_base64": ""}), "\"at\""),
            (json!({"at": 1, "to": 5, "pdu_base64": ""}), "\"to\""),
            (json!({"at": 1, "to": "+1", "pdu_base64": "!!"}), "base64"),
        ] {
            let e = LoggedPush::from_json(&j).unwrap_err();
            assert!(e.contains(msg), "{e}");
        }
    }
}
