//! PDUs from an encoder this project did not write: PyPI python-messaging 0.5.13
//! (`messaging.mms.message.MMSMessage`), run from the repository's `.venv` (created by
//! `scripts/test`) through `tests/python/pm_mms.py`.
//!
//! - python-messaging builds an m-send-req (two slides: an image and text, then text), the
//!   test submits it to the real `mmsc` → m-send-conf Ok in the handset's MMS version; the
//!   recipient's notification is logged; the recipient retrieves it and gets the parts
//!   python-messaging put in (content types, Content-ID / Content-Location, octets), and the
//!   multipart body octet for octet.
//! - python-messaging decodes our m-retrieve-conf (`MMSMessage.from_data`) and reads the same
//!   parts back, and decodes our m-notification-ind.
//!
//! A missing `.venv` or python-messaging is a failure (run `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mmsc_tests::TempDir;
use mmsc_tests::mm1::{self, Handset, plmn};
use mmsc_tests::server::{Config, Mmsc, run_bounded};
use mmsc_wire::mms::{MessageType, ResponseStatus, Version, field};
use mmsc_wire::{Limits, Pdu};
use serde_json::Value as Json;

const A: &str = "+358401200001";
const B: &str = "+358401200002";

fn python() -> PathBuf {
    let p = mmsc_tests::workspace_dir().join(".venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/test (it creates .venv with python-messaging==0.5.13)",
        p.display()
    );
    p
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pm_mms.py")
}

/// Run pm_mms.py with `args`; its JSON output.
fn pm(args: &[&str]) -> Json {
    let (ok, out, err) = run_bounded(
        Command::new(python()).arg(script()).args(args),
        Duration::from_secs(60),
    );
    assert!(ok, "pm_mms.py {args:?} failed:\n{err}");
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "pm_mms.py {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out)
        )
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// (content type, headers, data) of each part in a pm_mms.py JSON.
fn py_parts(j: &Json) -> Vec<(String, serde_json::Map<String, Json>, Vec<u8>)> {
    j["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["content_type"].as_str().expect("content_type").to_owned(),
                p["headers"].as_object().cloned().unwrap_or_default(),
                unhex(p["data_hex"].as_str().expect("data_hex")),
            )
        })
        .collect()
}

/// The multipart body of an encoded PDU (after its headers).
fn body_octets(pdu: &[u8]) -> &[u8] {
    let at = Pdu::body_offset(pdu, &Limits::default())
        .expect("body offset")
        .expect("a body");
    &pdu[at..]
}

/// Build with python-messaging, submit, retrieve; returns (mmsc, sent PDU octets, manifest,
/// retrieved octets).
fn submit_python_message(
    mmsc: &Mmsc,
    dir: &Path,
    tid: &str,
    version: &str,
) -> (Vec<u8>, Json, Vec<u8>, Vec<u8>) {
    let image = dir.join(format!("photo-{tid}.jpg"));
    std::fs::write(&image, mm1::jpeg_like(5000, 42)).expect("write the image");
    let out = dir.join(format!("{tid}.mms"));
    let manifest = pm(&[
        "encode",
        out.to_str().expect("path"),
        "--to",
        B,
        "--tid",
        tid,
        "--subject",
        "python-messaging",
        "--image",
        image.to_str().expect("path"),
        "--version",
        version,
    ]);
    let sent = std::fs::read(&out).expect("read the PDU python-messaging wrote");
    println!(
        "python-messaging m-send-req ({version}): {} octets, parts {:?}",
        sent.len(),
        py_parts(&manifest)
            .iter()
            .map(|(ct, h, d)| format!("{ct} {h:?} {} octets", d.len()))
            .collect::<Vec<_>>()
    );

    let mut a = Handset::new(mmsc, A);
    let conf = a.post_for_pdu(&sent);
    assert_eq!(conf.message_type, MessageType::SEND_CONF);
    assert_eq!(
        conf.response_status(),
        Some(ResponseStatus::OK),
        "m-send-conf {conf:?}\n{}",
        mmsc.log()
    );
    assert_eq!(conf.transaction_id(), Some(tid.as_bytes()));
    let want_version = match version {
        "1.0" => Version::V1_0,
        "1.1" => Version::V1_1,
        _ => Version::V1_2,
    };
    assert_eq!(
        conf.version(),
        Some(want_version),
        "m-send-conf in the handset's version"
    );
    let mid = mm1::text_of(&conf, field::MESSAGE_ID).expect("Message-ID");

    // The notification to B names a Content-Location; B retrieves it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let notif = loop {
        let found = mmsc.notifications().into_iter().find(|n| {
            n.to == B && {
                let p = n.decode();
                p.message_type == MessageType::NOTIFICATION_IND
                    && mm1::text_of(&p, field::FROM).as_deref() == Some(plmn(A).as_str())
                    && n.content_location()
                        .is_some_and(|l| l.contains(mid.split('@').next().unwrap_or("?")))
            }
        });
        if let Some(n) = found {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no notification to {B} for {mid}:\n{}",
            mmsc.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let location = notif.content_location().expect("Content-Location");
    let mut b = Handset::new(mmsc, B);
    let r = b.get(&location);
    assert_eq!(r.status, 200, "{r:?}");
    let got = mm1::decode(&r.body);
    assert_eq!(got.message_type, MessageType::RETRIEVE_CONF, "{got:?}");
    assert_eq!(
        mm1::text_of(&got, field::FROM).as_deref(),
        Some(plmn(A).as_str())
    );
    assert_eq!(mm1::addresses(&got, field::TO), vec![plmn(B)]);
    assert_eq!(
        mm1::text_of(&got, field::SUBJECT).as_deref(),
        Some("python-messaging")
    );
    assert_eq!(
        mm1::text_of(&got, field::MESSAGE_ID).as_deref(),
        Some(mid.as_str())
    );

    // The parts are those python-messaging encoded.
    let want = py_parts(&manifest);
    let views = mm1::part_views(got.parts());
    assert_eq!(views.len(), want.len(), "{views:#?}");
    for (i, (v, (ct, headers, data))) in views.iter().zip(&want).enumerate() {
        assert_eq!(&v.content_type, ct, "part {i} content type");
        assert!(v.data == *data, "part {i} ({ct}) octets differ");
        let hdr = |n: &str| headers.get(n).and_then(Json::as_str).map(str::to_owned);
        assert_eq!(v.content_id, hdr("Content-ID"), "part {i} Content-ID");
        assert_eq!(
            v.content_location,
            hdr("Content-Location"),
            "part {i} Content-Location"
        );
    }
    // And the multipart body is served octet for octet as submitted.
    assert!(
        body_octets(&r.body) == body_octets(&sent),
        "the retrieved multipart body differs from the submitted one"
    );
    (sent, manifest, r.body, notif.pdu)
}

#[test]
fn python_messaging_send_req_is_accepted_and_retrieved_intact() {
    let t = Instant::now();
    let dir = TempDir::new("mmsc-tests-pm");
    let mmsc = Mmsc::start(Config::new());
    submit_python_message(&mmsc, dir.path(), "pm-1.2", "1.2");
    // python-messaging's default version, MMS 1.0: answered in 1.0.
    submit_python_message(&mmsc, dir.path(), "pm-1.0", "1.0");
    println!("done in {:.2}s", t.elapsed().as_secs_f64());
}

#[test]
fn python_messaging_decodes_our_retrieve_conf_and_notification() {
    let t = Instant::now();
    let dir = TempDir::new("mmsc-tests-pm");
    let mmsc = Mmsc::start(Config::new());
    let (_, manifest, retrieved, notification) =
        submit_python_message(&mmsc, dir.path(), "pm-dec", "1.2");

    let conf_file = dir.path().join("retrieve-conf.mms");
    std::fs::write(&conf_file, &retrieved).expect("write");
    let j = pm(&["decode", conf_file.to_str().expect("path")]);
    println!(
        "python-messaging read our m-retrieve-conf: {}",
        j["headers"]
    );
    let h = &j["headers"];
    assert_eq!(h["Message-Type"], "m-retrieve-conf", "{h}");
    assert_eq!(h["Transaction-Id"].as_str().map(str::is_empty), Some(false));
    assert_eq!(h["MMS-Version"], "1.2", "{h}");
    assert_eq!(h["From"], plmn(A), "{h}");
    assert_eq!(h["To"], plmn(B), "{h}");
    assert_eq!(h["Subject"], "python-messaging", "{h}");
    assert!(
        h["Message-ID"].as_str().is_some_and(|m| m.contains('@')),
        "{h}"
    );
    assert_eq!(
        h["Content-Type"][0], "application/vnd.wap.multipart.related",
        "{h}"
    );
    let got = py_parts(&j);
    let want = py_parts(&manifest);
    assert_eq!(
        got.len(),
        want.len(),
        "number of parts python-messaging read"
    );
    for (i, ((gct, gh, gd), (wct, wh, wd))) in got.iter().zip(&want).enumerate() {
        assert_eq!(gct, wct, "part {i} content type");
        assert!(gd == wd, "part {i} ({gct}) octets differ");
        // python-messaging 0.5.13 reads the Content-ID it wrote (a textual header) but drops
        // Content-Location (0x8E) when decoding; compare what it reads.
        if let Some(id) = wh.get("Content-ID") {
            assert_eq!(gh.get("Content-ID"), Some(id), "part {i} Content-ID");
        }
    }

    // The m-notification-ind mmsc pushed, read by python-messaging too.
    let n_file = dir.path().join("notification-ind.mms");
    std::fs::write(&n_file, &notification).expect("write");
    let n = pm(&["decode", n_file.to_str().expect("path")]);
    let nh = &n["headers"];
    println!("python-messaging read our m-notification-ind: {nh}");
    assert_eq!(nh["Message-Type"], "m-notification-ind", "{nh}");
    assert_eq!(nh["From"], plmn(A), "{nh}");
    let want_loc = mm1::decode(&notification)
        .content_location()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .expect("Content-Location");
    assert_eq!(nh["Content-Location"], want_loc.as_str(), "{nh}");
    assert!(
        nh["Message-Size"].as_u64().is_some_and(|s| s > 5000),
        "{nh}"
    );
    println!("done in {:.2}s", t.elapsed().as_secs_f64());
}
