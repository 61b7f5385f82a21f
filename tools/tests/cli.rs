//! `mmsc pdu` as a user runs it: the real binary, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mmsc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmsc"))
}

fn run(args: &[&str]) -> Output {
    mmsc().args(args).output().expect("run mmsc")
}

fn vectors() -> Option<PathBuf> {
    let dir = match std::env::var_os("MMSC_VECTORS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} is absent (set MMSC_VECTORS); vector checks not run",
            dir.display()
        );
        None
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            // Expected decoded parts and MM7 samples are not PDUs.
            if p.file_name()
                .is_some_and(|n| n == "parts" || n == "mm7-instantcom")
            {
                continue;
            }
            files(&p, out);
        } else if p.extension().is_none_or(|x| x != "md") {
            out.push(p);
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmsc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn one_line(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr).to_string();
    assert_eq!(s.trim_end().lines().count(), 1, "one line on stderr: {s:?}");
    s
}

/// decode --json, encode, decode --json: the same JSON, for every vector that decodes; and
/// every file that does not decode is refused with status 2 and one line naming the offset.
#[test]
fn every_vector_round_trips_through_json_or_is_refused() {
    let Some(dir) = vectors() else { return };
    let mut all = Vec::new();
    files(&dir, &mut all);
    assert!(
        all.len() > 100,
        "expected the whole vector set, found {}",
        all.len()
    );
    let (mut decoded, mut refused) = (0, 0);
    for (i, f) in all.iter().enumerate() {
        let f_s = f.to_str().unwrap();
        let out = run(&["pdu", "decode", "--json", f_s]);
        match out.status.code() {
            Some(0) => {
                decoded += 1;
                // The CLI prints exactly the JSON form of the library's decode, whose fields
                // tests/tests/vectors.rs checks against the vectors' README.
                let bytes = std::fs::read(f).unwrap();
                let pdu = mmsc_wire::Pdu::decode(&bytes, &mmsc_wire::Limits::default()).unwrap();
                let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(printed, mmsc_wire::json::to_json(&pdu), "{f_s}");
                let json1 = tmp(&format!("{i}.json"));
                std::fs::write(&json1, &out.stdout).unwrap();
                let bin = tmp(&format!("{i}.bin"));
                let enc = run(&[
                    "pdu",
                    "encode",
                    json1.to_str().unwrap(),
                    "-o",
                    bin.to_str().unwrap(),
                ]);
                assert!(
                    enc.status.success(),
                    "{f_s}: {}",
                    String::from_utf8_lossy(&enc.stderr)
                );
                let again = run(&["pdu", "decode", "--json", bin.to_str().unwrap()]);
                assert!(again.status.success());
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&again.stdout),
                    "{f_s}: JSON changed through encode"
                );
                // The tree form works too.
                assert!(run(&["pdu", "decode", f_s]).status.success());
            }
            Some(2) => {
                refused += 1;
                let line = one_line(&out.stderr);
                assert!(line.contains("offset"), "{f_s}: {line}");
                assert!(out.stdout.is_empty());
            }
            other => panic!(
                "{f_s}: exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    // The MMS PDUs of the set decode; push PDUs, HTML pages and garbage do not.
    assert!(decoded >= 96, "decoded {decoded}");
    assert!(refused >= 10, "refused {refused}");
}

#[test]
fn malformed_input_is_one_line_and_status_2() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "offset 0"),
        ("html", b"<html><body>404</body></html>", "offset 0"),
        ("truncated", b"\x8c\x80\x98abc", "offset 3"),
        (
            "bad-length",
            b"\x8c\x80\x89\x1f\xff\xff\xff\xff\xff",
            "offset 4",
        ),
        ("bad-expiry", b"\x8c\x82\x88\x02\x99\x81", "offset 4"),
        (
            "huge-parts",
            b"\x8c\x80\x84\xa3\x8f\xff\xff\xff\x7f",
            "part count",
        ),
    ];
    for (name, bytes, expect) in cases {
        let p = tmp(&format!("bad-{name}"));
        std::fs::write(&p, bytes).unwrap();
        let out = run(&["pdu", "decode", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let line = one_line(&out.stderr);
        assert!(line.contains(expect), "{name}: {line}");
    }
    // Bad JSON documents: the path of the bad value is named.
    let cases: &[(&str, &str, &str)] = &[
        ("not-json", "{", "not JSON"),
        ("no-type", "{}", "X-Mms-Message-Type"),
        (
            "bad-enum",
            r#"{"X-Mms-Message-Type":"m-send-req","X-Mms-Priority":7}"#,
            "X-Mms-Priority",
        ),
        (
            "bad-date",
            r#"{"X-Mms-Message-Type":"m-send-req","Date":"yesterday"}"#,
            "Date",
        ),
        (
            "bad-part",
            r#"{"X-Mms-Message-Type":"m-send-req","Content-Type":"application/vnd.wap.multipart.mixed","parts":[{"data":"aGk="}]}"#,
            "parts[0]",
        ),
        (
            "nul",
            r#"{"X-Mms-Message-Type":"m-send-req","Message-ID":"a\u0000b"}"#,
            "NUL",
        ),
    ];
    for (name, doc, expect) in cases {
        let p = tmp(&format!("bad-{name}.json"));
        std::fs::write(&p, doc).unwrap();
        let o = tmp(&format!("bad-{name}.bin"));
        let out = run(&[
            "pdu",
            "encode",
            p.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let line = one_line(&out.stderr);
        assert!(line.contains(expect), "{name}: {line}");
    }
}

#[test]
fn encode_builds_a_send_req_that_decodes() {
    let doc = r#"{
      "X-Mms-Message-Type": "m-send-req",
      "X-Mms-Transaction-ID": "T1",
      "X-Mms-MMS-Version": "1.2",
      "From": {"insert-address": true},
      "To": ["+358401234567/TYPE=PLMN", "+358407654321/TYPE=PLMN"],
      "Subject": {"charset": "utf-8", "text": "Hyvää päivää"},
      "X-Mms-Expiry": {"relative": 86400},
      "X-Mms-Delivery-Report": "Yes",
      "Content-Type": "application/vnd.wap.multipart.related; type=\"application/smil\"; start=\"<s>\"",
      "parts": [
        {"Content-Type": "application/smil", "Content-ID": "<s>", "data": "PHNtaWwvPg=="},
        {"Content-Type": "text/plain; charset=utf-8", "Content-Location": "t.txt", "data": "aGVsbG8="}
      ]
    }"#;
    let j = tmp("send.json");
    std::fs::write(&j, doc).unwrap();
    let b = tmp("send.bin");
    let out = run(&[
        "pdu",
        "encode",
        j.to_str().unwrap(),
        "-o",
        b.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&b).unwrap();
    // Canonical order: type, transaction id, version first.
    assert_eq!(&bytes[..6], b"\x8c\x80\x98T1\0");
    assert_eq!(&bytes[6..8], b"\x8d\x92");
    let out = run(&["pdu", "decode", b.to_str().unwrap()]);
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(
        tree.contains("Subject: Hyvää päivää (charset utf-8)"),
        "{tree}"
    );
    assert!(tree.contains("To: +358407654321/TYPE=PLMN"), "{tree}");
    assert!(tree.contains("| hello"), "{tree}");
}

#[test]
fn push_segments_reassemble_and_decode() {
    let doc = r#"{
      "X-Mms-Message-Type": "m-notification-ind",
      "X-Mms-Transaction-ID": "notif-0001",
      "X-Mms-MMS-Version": "1.2",
      "From": "+358401111111/TYPE=PLMN",
      "Subject": "A subject long enough to need two short messages once the URL is added too",
      "X-Mms-Message-Class": "Personal",
      "X-Mms-Message-Size": 30000,
      "X-Mms-Expiry": {"relative": 259200},
      "X-Mms-Content-Location": "http://127.0.0.1:8514/mms/0123456789abcdef0123456789abcdef-0"
    }"#;
    let j = tmp("notif.json");
    std::fs::write(&j, doc).unwrap();
    let b = tmp("notif.bin");
    assert!(
        run(&[
            "pdu",
            "encode",
            j.to_str().unwrap(),
            "-o",
            b.to_str().unwrap()
        ])
        .status
        .success()
    );
    for (extra, udh) in [
        (&[][..], "0B05040B8423F0000301"),
        (&["--ref16", "--ref", "700"][..], "0C05040B8423F0080402BC"),
    ] {
        let mut args = vec!["pdu", "push", b.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let segs = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = segs.lines().collect();
        assert_eq!(lines.len(), 2, "{segs}");
        for l in &lines {
            assert!(l.starts_with(udh), "{l}");
            assert!(l.len() / 2 <= 140);
        }
        // Reassemble in reverse order, from stdin.
        let mut child = mmsc()
            .args(["pdu", "push", "--decode", "--json", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let input = format!("{}\n{}\n", lines[1], lines[0]);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want: serde_json::Value = serde_json::from_str(doc).unwrap();
        assert_eq!(got, want);
    }
    // A missing segment is refused.
    let out = run(&["pdu", "push", b.to_str().unwrap()]);
    let first = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let p = tmp("one-of-two.txt");
    std::fs::write(&p, first).unwrap();
    let out = run(&["pdu", "push", "--decode", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    one_line(&out.stderr);
}

#[test]
fn kannel_push_decodes() {
    let Some(dir) = vectors() else { return };
    let bin = dir.join("../peers/kannel/wsp_push_from_kannel.bin");
    let out = run(&["pdu", "push", "--decode", bin.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Content-Type: application/vnd.wap.mms-message",
        "X-Wap-Application-Id: x-wap-application:mms.ua",
        "Body: 125 octets",
        "m-notification-ind (0x82)",
        "X-Mms-Transaction-ID: m10l9m7u03mct2jbc12@mms.beeline.ru",
        "X-Mms-Content-Location: http://mmsr5/?message-id=m10l9m7u03mct2jbc12",
    ] {
        assert!(tree.contains(want), "missing {want:?} in\n{tree}");
    }
    // A push of something else than MMS is named as such.
    let drm = dir.join("mmsd/from-test-source/push3.bin");
    let out = run(&["pdu", "push", "--decode", drm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("does not carry an MMS PDU"));
}
