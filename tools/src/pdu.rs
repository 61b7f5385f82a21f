//! `mmsc pdu`: decode, encode and wrap MMS PDUs.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use mmsc_wire::json;
use mmsc_wire::mms::{HeaderName, Pdu, ResponseStatus, RetrieveStatus, field, field_info};
use mmsc_wire::push::{self, ConcatRef, PushPdu};
use mmsc_wire::wsp::{Body, Part, PartHeader};
use mmsc_wire::{Limits, Warning};
use serde_json::Value as Json;

/// `mmsc pdu ...`
#[derive(Debug, Subcommand)]
pub enum PduCommand {
    /// Decode a binary MMS PDU and print it as a tree, or as JSON.
    Decode {
        /// The PDU file ("-" for standard input).
        file: PathBuf,
        /// Print JSON (keys are the header names of OMA-TS-MMS_ENC).
        #[arg(long)]
        json: bool,
        /// Largest PDU accepted, in bytes.
        #[arg(long, default_value_t = Limits::default().max_pdu_bytes)]
        max_bytes: usize,
    },
    /// Encode the JSON form of a PDU (as `decode --json` prints it) into binary.
    Encode {
        /// The JSON file ("-" for standard input).
        file: PathBuf,
        /// Where to write the binary PDU ("-" for standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Wrap a PDU into a WAP Push and print its SMS segments (hex user data, one per line);
    /// with --decode, reassemble segments (or read a raw WSP push) and decode it.
    Push {
        /// The PDU file; with --decode, files of hex segments (one per line) or one binary
        /// WSP push. "-" is standard input.
        files: Vec<PathBuf>,
        /// Reassemble and decode instead.
        #[arg(long)]
        decode: bool,
        /// WSP transaction id of the push.
        #[arg(long, default_value_t = 0)]
        tid: u8,
        /// Concatenation reference for multi-segment pushes.
        #[arg(long = "ref", default_value_t = 1)]
        reference: u16,
        /// Use 16-bit concatenation references (IEI 0x08) instead of 8-bit (IEI 0x00).
        #[arg(long)]
        ref16: bool,
        /// With --decode: print the contained MMS PDU as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a `pdu` subcommand.
pub fn run(cmd: PduCommand) -> Result<()> {
    match cmd {
        PduCommand::Decode {
            file,
            json,
            max_bytes,
        } => {
            let bytes = read_input(&file)?;
            let limits = Limits {
                max_pdu_bytes: max_bytes,
                ..Limits::default()
            };
            let (pdu, warnings) = Pdu::decode_with_warnings(&bytes, &limits)
                .with_context(|| file.display().to_string())?;
            print_warnings(&file, &warnings);
            let out = if json {
                pretty(&json::to_json(&pdu))?
            } else {
                tree(&pdu)
            };
            write_stdout(out.as_bytes())
        }
        PduCommand::Encode { file, output } => {
            let text = read_input(&file)?;
            let doc: Json = serde_json::from_slice(&text)
                .with_context(|| format!("{}: not JSON", file.display()))?;
            let pdu = json::from_json(&doc).with_context(|| format!("{}", file.display()))?;
            let bytes = pdu.encode().context("cannot encode")?;
            if output == Path::new("-") {
                write_stdout(&bytes)
            } else {
                std::fs::write(&output, &bytes)
                    .with_context(|| format!("cannot write {}", output.display()))
            }
        }
        PduCommand::Push {
            files,
            decode,
            tid,
            reference,
            ref16,
            json,
        } => {
            if decode {
                return push_decode(&files, json);
            }
            let [file] = files.as_slice() else {
                bail!("push takes exactly one PDU file");
            };
            let bytes = read_input(file)?;
            // Check that it is an MMS PDU first: a push of garbage is refused.
            let pdu = Pdu::decode(&bytes, &Limits::default())
                .with_context(|| file.display().to_string())?;
            if pdu.message_type != mmsc_wire::mms::MessageType::NOTIFICATION_IND {
                eprintln!(
                    "mmsc: warning: {} is {}, handsets expect m-notification-ind in a push",
                    file.display(),
                    pdu.message_type
                );
            }
            let wsp = PushPdu::mms_notification(tid, &bytes)
                .encode()
                .context("cannot encode the WSP push")?;
            let reference = if ref16 {
                ConcatRef::Sixteen(reference)
            } else {
                ConcatRef::Eight(u8::try_from(reference).context("--ref above 255 needs --ref16")?)
            };
            let segments = push::segment(&wsp, reference).context("cannot segment")?;
            let mut out = String::new();
            for s in segments {
                out.push_str(&hex(&s));
                out.push('\n');
            }
            write_stdout(out.as_bytes())
        }
    }
}

fn push_decode(files: &[PathBuf], as_json: bool) -> Result<()> {
    let files: Vec<PathBuf> = if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    };
    let mut segments: Vec<Vec<u8>> = Vec::new();
    let mut raw: Option<Vec<u8>> = None;
    for f in &files {
        let content = read_input(f)?;
        let is_hex = content
            .iter()
            .all(|b| b.is_ascii_hexdigit() || b.is_ascii_whitespace());
        if is_hex && !content.is_empty() {
            let text = String::from_utf8_lossy(&content);
            for (n, line) in text.lines().enumerate() {
                let line: String = line.split_whitespace().collect();
                if line.is_empty() {
                    continue;
                }
                segments.push(
                    unhex(&line)
                        .with_context(|| format!("{}: line {}: bad hex", f.display(), n + 1))?,
                );
            }
        } else if files.len() == 1 {
            raw = Some(content);
        } else {
            bail!("{}: not hex segments", f.display());
        }
    }
    let (wsp, udh_note) = match raw {
        Some(r) => (r, "raw WSP push".to_string()),
        None => {
            if segments.is_empty() {
                bail!("no segments");
            }
            let refs: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            let payload = push::reassemble(&refs).context("segments do not reassemble")?;
            (payload, format!("{} SMS segment(s)", segments.len()))
        }
    };
    let push = PushPdu::decode(&wsp, &Limits::default()).context("not a WSP push")?;
    let mut out = String::new();
    if !as_json {
        let _ = writeln!(out, "WAP Push ({udh_note}, {} octets)", wsp.len());
        let _ = writeln!(out, "  TID: {}", push.transaction_id);
        let _ = writeln!(out, "  PDU type: 0x{:02X}", push.pdu_type);
        let _ = writeln!(out, "  Content-Type: {}", push.content_type);
        if let Some(app) = push.application_id() {
            let _ = writeln!(out, "  X-Wap-Application-Id: {app}");
        }
        let _ = writeln!(out, "  Body: {} octets", push.body.len());
    }
    if !push.is_mms() {
        write_stdout(out.as_bytes())?;
        bail!("the push does not carry an MMS PDU");
    }
    let (pdu, warnings) = Pdu::decode_with_warnings(&push.body, &Limits::default())
        .context("push body is not a valid MMS PDU")?;
    print_warnings(Path::new("push body"), &warnings);
    if as_json {
        out = pretty(&json::to_json(&pdu))?;
    } else {
        for line in tree(&pdu).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    write_stdout(out.as_bytes())
}

fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .context("cannot read standard input")?;
        Ok(v)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn write_stdout(b: &[u8]) -> Result<()> {
    let mut o = std::io::stdout().lock();
    match o.write_all(b).and_then(|()| o.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(anyhow!("cannot write output: {e}")),
    }
}

fn print_warnings(what: &Path, warnings: &[Warning]) {
    for w in warnings {
        eprintln!("mmsc: warning: {}: {w}", what.display());
    }
}

fn pretty(j: &Json) -> Result<String> {
    let mut s = serde_json::to_string_pretty(j)?;
    s.push('\n');
    Ok(s)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow!("bad hex digit"))
        })
        .collect()
}

fn show(j: &Json) -> String {
    match j {
        Json::String(s) => s.clone(),
        Json::Object(o) if o.len() == 2 && o.contains_key("charset") && o.contains_key("text") => {
            format!("{} (charset {})", show(&o["text"]), show(&o["charset"]))
        }
        other => other.to_string(),
    }
}

/// A readable tree of a PDU.
pub fn tree(pdu: &Pdu<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (0x{:02X})", pdu.message_type, pdu.message_type.0);
    for h in &pdu.headers {
        match &h.name {
            HeaderName::Field(code) => {
                let name =
                    field_info(*code).map_or_else(|| format!("0x{code:02X}"), |f| f.name.into());
                let mut v = show(&json::value_json(*code, &h.value));
                if let mmsc_wire::mms::Value::Octet(o) = h.value {
                    if *code == field::RESPONSE_STATUS && !ResponseStatus(o).is_known() {
                        let _ = write!(v, " (unknown; acts as {})", ResponseStatus(o).effective());
                    }
                    if *code == field::RETRIEVE_STATUS && !RetrieveStatus(o).is_known() {
                        let _ = write!(v, " (unknown; acts as {})", RetrieveStatus(o).effective());
                    }
                }
                let _ = writeln!(out, "  {name}: {v}");
            }
            HeaderName::Application(n) => {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(h.value.text().unwrap_or_default())
                );
            }
        }
    }
    if let Some(ct) = &pdu.content_type {
        let _ = writeln!(out, "  Content-Type: {ct}");
    }
    match &pdu.body {
        Some(Body::Multipart(parts)) => {
            let _ = writeln!(out, "  Body: {} part(s)", parts.len());
            parts_tree(&mut out, parts, 2);
        }
        Some(Body::Data(d)) => {
            let _ = writeln!(out, "  Body: {} octets", d.len());
        }
        None => {}
    }
    out
}

fn parts_tree(out: &mut String, parts: &[Part<'_>], indent: usize) {
    let pad = " ".repeat(indent * 2);
    for (i, p) in parts.iter().enumerate() {
        let size = match &p.body {
            Body::Data(d) => format!("{} octets", d.len()),
            Body::Multipart(ps) => format!("{} part(s)", ps.len()),
        };
        let _ = writeln!(out, "{pad}[{i}] {} ({size})", p.content_type);
        for h in &p.headers {
            let line = match h {
                PartHeader::ContentId { value, .. } => {
                    format!("Content-ID: {}", String::from_utf8_lossy(value))
                }
                PartHeader::ContentLocation(v) => {
                    format!("Content-Location: {}", String::from_utf8_lossy(v))
                }
                PartHeader::ContentDisposition { value, .. } => {
                    format!("Content-Disposition: {value}")
                }
                PartHeader::Text { name, value } => format!(
                    "{}: {}",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(value)
                ),
                PartHeader::Other { code, raw } => format!(
                    "{}: {}",
                    mmsc_wire::wsp::tables::header_name(*code).unwrap_or("?"),
                    hex(raw)
                ),
            };
            let _ = writeln!(out, "{pad}    {line}");
        }
        match &p.body {
            Body::Multipart(ps) => parts_tree(out, ps, indent + 2),
            Body::Data(d) if p.content_type.media.name().starts_with("text/") => {
                let text = match p.content_type.charset() {
                    Some(m) => mmsc_wire::charset::decode(m, d).map(|c| c.into_owned()),
                    None => std::str::from_utf8(d).ok().map(str::to_string),
                };
                if let Some(t) = text {
                    let mut preview: String = t.chars().take(200).collect();
                    preview = preview.replace(['\r', '\n'], " ");
                    let _ = writeln!(out, "{pad}    | {preview}");
                }
            }
            Body::Data(_) => {}
        }
    }
}
