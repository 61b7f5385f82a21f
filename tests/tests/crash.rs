//! Crash safety of the MM1 submit path (ISSUE 3 item 9): `kill -9` of the real `mmsc` in the
//! middle of a stream of submits; after a restart on the same store, every message that got
//! m-send-conf Ok is notified, retrievable, intact and there once.
//!
//! Client threads stream m-send-reqs over a few keep-alive connections (bounded: at most
//! [`MAX_SUBMITS`] in all and [`STREAM_LIMIT`] per round), each message with a unique
//! Subject and its own parts. The test kills mmsc with SIGKILL once enough submits are
//! acknowledged, restarts it on the same store and port, and does it all three times. Then,
//! from `mmsc notifications --json` (push mode "log"; a push may be repeated after a crash —
//! at least once — so locations are deduplicated), every Content-Location is fetched by its
//! recipient:
//! - every acknowledged Message-ID has a notification and its m-retrieve-conf carries that
//!   Message-ID, the sender, the Subject and exactly the parts sent (octet for octet);
//! - no message is there twice (one Message-ID per Subject; the client never resends);
//! - a message that got no answer may or may not exist, but if it does it is intact too;
//! - acknowledged Message-IDs are unique, also across restarts, and the restarted server
//!   takes new submits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mmsc_tests::http::HttpConn;
use mmsc_tests::mm1::{self, Handset, MMS_CONTENT_TYPE, plmn};
use mmsc_tests::server::{Config, Mmsc};
use mmsc_wire::mms::{MessageType, ResponseStatus, RetrieveStatus, field};
use mmsc_wire::wsp::Part;

/// Submits in all rounds together, at most.
const MAX_SUBMITS: usize = 2000;
/// Longest a round of streaming may last.
const STREAM_LIMIT: Duration = Duration::from_secs(10);
/// Connections streaming at once.
const CONNECTIONS: usize = 4;
const SENDER: &str = "+358401300000";

fn recipient(conn: usize) -> String {
    format!("+35840130010{conn}")
}

/// One submit the client made.
#[derive(Clone, Debug)]
struct Sent {
    subject: String,
    to: String,
    parts: Vec<Part<'static>>,
    /// The Message-ID of m-send-conf Ok; `None` without an answer (or with an error).
    acked: Option<String>,
    /// What the answer was, if not Ok.
    answer: Option<String>,
}

/// Stream submits over `CONNECTIONS` connections until `stop`, the limits, or the server
/// going away. Returns every submit made.
fn stream(
    mmsc: &Mmsc,
    round: usize,
    stop: &Arc<AtomicBool>,
    acks: &Arc<AtomicUsize>,
    budget: usize,
) -> thread::JoinHandle<Vec<Sent>> {
    let addr = mmsc.addr();
    let path = mmsc.path().to_owned();
    let stop = Arc::clone(stop);
    let acks = Arc::clone(acks);
    let sent = Arc::new(Mutex::new(Vec::new()));
    thread::spawn(move || {
        let issued = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + STREAM_LIMIT;
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let (stop, acks, issued, sent, path) = (
                    Arc::clone(&stop),
                    Arc::clone(&acks),
                    Arc::clone(&issued),
                    Arc::clone(&sent),
                    path.clone(),
                );
                thread::spawn(move || {
                    let Ok(mut conn) = HttpConn::connect(addr) else {
                        return;
                    };
                    let _ = conn.set_read_timeout(Duration::from_secs(10));
                    let to = recipient(c);
                    let mut i = 0usize;
                    while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
                        if issued.fetch_add(1, Ordering::AcqRel) >= budget {
                            break;
                        }
                        i += 1;
                        let subject = format!("crash r{round} c{c} #{i}");
                        let seed = (round * 1_000_000 + c * 10_000 + i) as u64;
                        let parts =
                            mm1::sample_parts(&subject, 200 + (seed as usize * 37) % 3000, seed);
                        let req = mm1::send_req(
                            &format!("r{round}c{c}i{i}"),
                            &[&to],
                            &subject,
                            false,
                            parts.clone(),
                        );
                        let body = mm1::encode(&req);
                        let mut s = Sent {
                            subject,
                            to: to.clone(),
                            parts,
                            acked: None,
                            answer: None,
                        };
                        let r = conn.post(
                            &path,
                            &[("Content-Type", MMS_CONTENT_TYPE), ("X-MSISDN", SENDER)],
                            &body,
                        );
                        let ok = match r {
                            Ok(r) if r.status == 200 => {
                                let conf =
                                    mmsc_wire::Pdu::decode(&r.body, &mmsc_wire::Limits::default());
                                match conf {
                                    Ok(p) if p.response_status() == Some(ResponseStatus::OK) => {
                                        s.acked = mm1::text_of(&p, field::MESSAGE_ID);
                                        assert!(s.acked.is_some(), "Ok without Message-ID");
                                        true
                                    }
                                    Ok(p) => {
                                        s.answer = Some(format!("{p:?}"));
                                        true
                                    }
                                    Err(e) => {
                                        s.answer = Some(format!("undecodable answer: {e}"));
                                        true
                                    }
                                }
                            }
                            Ok(r) => {
                                s.answer = Some(format!("HTTP {} {}", r.status, r.text()));
                                !r.closes()
                            }
                            Err(e) => {
                                s.answer = Some(format!("no answer: {e}"));
                                false
                            }
                        };
                        if s.acked.is_some() {
                            acks.fetch_add(1, Ordering::AcqRel);
                        }
                        sent.lock().expect("sent").push(s);
                        if !ok {
                            break;
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a client thread panicked");
        }
        std::mem::take(&mut *sent.lock().expect("sent"))
    })
}

/// One round: stream, and kill -9 once `kill_after` submits are acknowledged (or the stream
/// ends). Returns the submits.
fn round(mmsc: &mut Mmsc, round: usize, kill_after: usize, budget: usize) -> Vec<Sent> {
    let t = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let client = stream(mmsc, round, &stop, &acks, budget);
    let deadline = Instant::now() + STREAM_LIMIT;
    while acks.load(Ordering::Acquire) < kill_after
        && Instant::now() < deadline
        && !client.is_finished()
    {
        thread::sleep(Duration::from_millis(2));
    }
    let at_kill = acks.load(Ordering::Acquire);
    mmsc.kill9();
    let killed_at = t.elapsed();
    stop.store(true, Ordering::Release);
    let sent = client.join().expect("client");
    let acked = sent.iter().filter(|s| s.acked.is_some()).count();
    let unanswered = sent.iter().filter(|s| s.acked.is_none()).count();
    println!(
        "round {round}: kill -9 after {at_kill} acks at {:.2}s; {} submits, {acked} acked, \
         {unanswered} without Ok ({:?})",
        killed_at.as_secs_f64(),
        sent.len(),
        sent.iter()
            .filter_map(|s| s.answer.as_deref())
            .map(|a| a.chars().take(60).collect::<String>())
            .collect::<BTreeSet<_>>()
    );
    assert!(
        acked >= kill_after.min(50),
        "only {acked} submits acknowledged in round {round}:\n{}",
        mmsc.log()
    );
    sent
}

/// Wait (at most 60 s) until every acknowledged Message-ID has a notification and at least
/// `stored` distinct Content-Locations are notified; return them (location -> recipient),
/// deduplicated: pushes are at least once.
fn notified(
    mmsc: &Mmsc,
    acked: &BTreeMap<String, &Sent>,
    stored: usize,
) -> BTreeMap<String, String> {
    let token = |mid: &str| mid.split('@').next().unwrap_or(mid).to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut locs = BTreeMap::new();
        for n in mmsc.notifications() {
            let p = n.decode();
            assert_eq!(p.message_type, MessageType::NOTIFICATION_IND, "{p:?}");
            let l = n.content_location().expect("Content-Location");
            if let Some(prev) = locs.insert(l.clone(), n.to.clone()) {
                assert_eq!(prev, n.to, "{l} notified to two subscribers");
            }
        }
        let missing: Vec<&String> = acked
            .keys()
            .filter(|m| !locs.keys().any(|l| l.contains(&format!("/{}-", token(m)))))
            .collect();
        if missing.is_empty() && locs.len() >= stored {
            return locs;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged messages have no notification, e.g. {:?}; {} of {stored} stored \
             messages notified\n{}",
            missing.len(),
            &missing[..missing.len().min(5)],
            locs.len(),
            mmsc.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kill_9_during_submits_loses_no_acknowledged_message() {
    crash_and_check(Config::new(), false);
}

/// The same with 64 KiB segments: the store rolls every few messages into segments its
/// preparer made ready (zero-filled, or emptied ones reused), and a kill can land during a
/// roll or a preparation.
#[test]
fn kill_9_while_rolling_through_prepared_segments_loses_nothing() {
    crash_and_check(Config::new().set("store", "segment_bytes", "65536"), true);
}

fn crash_and_check(config: Config, small_segments: bool) {
    let t0 = Instant::now();
    let mut mmsc = Mmsc::start(config);
    let mut sent = Vec::new();
    // Three crashes, after different numbers of acknowledged submits.
    for (r, kill_after) in [400, 250, 150].into_iter().enumerate() {
        let budget = (MAX_SUBMITS - sent.len()).min(800);
        sent.extend(round(&mut mmsc, r + 1, kill_after, budget));
        mmsc.restart();
        println!(
            "restart {}: {} records recovered ({:.2}s)",
            r + 1,
            mmsc.recovered_records(),
            t0.elapsed().as_secs_f64()
        );
    }
    for l in mmsc
        .log()
        .lines()
        .filter(|l| l.contains("store:") || l.contains("recovery"))
    {
        println!("  log: {l}");
    }

    let acked: BTreeMap<String, &Sent> = sent
        .iter()
        .filter_map(|s| s.acked.clone().map(|m| (m, s)))
        .collect();
    let n_acked = sent.iter().filter(|s| s.acked.is_some()).count();
    assert_eq!(acked.len(), n_acked, "Message-IDs acknowledged twice");
    let by_subject: BTreeMap<&str, &Sent> = sent.iter().map(|s| (s.subject.as_str(), s)).collect();
    assert_eq!(by_subject.len(), sent.len(), "subjects are unique");

    // Every acknowledged message gets its notification (re-pushed after the crash if needed).
    let after_crash = notified(&mmsc, &acked, 0);
    println!(
        "{} distinct notifications after the last crash ({:.2}s)",
        after_crash.len(),
        t0.elapsed().as_secs_f64()
    );
    // How many messages the store holds (the acknowledged ones and any unanswered ones that
    // made it): the count at a graceful stop. Started again, every one of them is notified.
    let stored = mmsc.stop().stored as usize;
    let segments = std::fs::read_dir(mmsc.store_path())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .count()
        })
        .unwrap_or(0);
    println!("{segments} segment files");
    if small_segments {
        assert!(segments > 4, "only {segments} segments: nothing rolled");
    }
    mmsc.restart();
    let locations = notified(&mmsc, &acked, stored);
    assert_eq!(
        locations.len(),
        stored,
        "one notification per stored message"
    );
    println!(
        "{} distinct notifications for {} acked / {} submitted ({:.2}s)",
        locations.len(),
        acked.len(),
        sent.len(),
        t0.elapsed().as_secs_f64()
    );

    // Fetch every notified message as its recipient.
    let mut handsets: BTreeMap<String, Handset> = BTreeMap::new();
    let mut found: BTreeMap<String, String> = BTreeMap::new(); // Message-ID -> subject
    let mut subjects_seen: BTreeMap<String, String> = BTreeMap::new(); // subject -> Message-ID
    for (loc, to) in &locations {
        let h = handsets
            .entry(to.clone())
            .or_insert_with(|| Handset::new(&mmsc, to));
        let conf = h.retrieve(loc);
        assert_eq!(
            conf.retrieve_status().unwrap_or(RetrieveStatus::OK),
            RetrieveStatus::OK,
            "{loc} was notified but cannot be retrieved: {conf:?}"
        );
        let mid = mm1::text_of(&conf, field::MESSAGE_ID).expect("Message-ID");
        let subject = mm1::text_of(&conf, field::SUBJECT).expect("Subject");
        let s = by_subject
            .get(subject.as_str())
            .unwrap_or_else(|| panic!("{loc}: a message nobody sent: {subject:?}"));
        assert_eq!(&s.to, to, "{subject}: notified to the wrong subscriber");
        assert_eq!(
            mm1::text_of(&conf, field::FROM).as_deref(),
            Some(plmn(SENDER).as_str())
        );
        assert_eq!(mm1::addresses(&conf, field::TO), vec![plmn(&s.to)]);
        mm1::assert_same_parts(conf.parts(), &s.parts, &subject);
        if let Some(m) = &s.acked {
            assert_eq!(&mid, m, "{subject}: retrieved under another Message-ID");
        }
        assert!(
            found.insert(mid.clone(), subject.clone()).is_none(),
            "Message-ID {mid} notified under two locations"
        );
        if let Some(other) = subjects_seen.insert(subject.clone(), mid.clone()) {
            panic!("{subject} stored twice: as {other} and {mid}");
        }
    }
    for (mid, s) in &acked {
        assert!(
            found.contains_key(mid),
            "acknowledged {mid} ({}) is not retrievable",
            s.subject
        );
    }
    let extra = found.len() - acked.len();
    println!(
        "all {} acknowledged messages retrieved intact, once; {extra} unacknowledged ones were \
         stored too ({:.2}s)",
        acked.len(),
        t0.elapsed().as_secs_f64()
    );

    // The restarted server takes new submits, with fresh Message-IDs.
    let mut a = Handset::new(&mmsc, SENDER);
    let to = recipient(0);
    let mid = a.submit_ok(&mm1::send_req(
        "after-crash",
        &[&to],
        "after the crash",
        false,
        mm1::sample_parts("still here", 500, 1),
    ));
    assert!(!found.contains_key(&mid), "Message-ID {mid} reused");
    let s = mmsc.stop();
    println!("graceful stop: {s:?}");
    assert_eq!(s.accepted, 1, "{s:?}");
    // Every message in the store was notified: nothing stored is unknown to its recipient.
    let all: BTreeSet<String> = mmsc
        .notifications()
        .iter()
        .filter_map(|n| n.content_location())
        .collect();
    assert_eq!(all.len(), found.len() + 1, "notified messages");
    assert_eq!(
        s.stored as usize,
        found.len() + 1,
        "messages in the store at the stop"
    );
    println!("done in {:.2}s", t0.elapsed().as_secs_f64());
}

/// A SIGTERM as soon as the port accepts connections is a graceful stop (exit status 0 and
/// mmsc's `stopped (...)` line), never death by the signal's default action.
#[test]
fn sigterm_right_after_start_is_a_graceful_stop() {
    let mut mmsc = Mmsc::start(Config::new());
    let s = mmsc.stop();
    assert_eq!(s.stored, 0, "{s:?}");
    for _ in 0..8 {
        mmsc.restart();
        // stop() panics unless mmsc exits 0 after printing its counters.
        mmsc.stop();
    }
}
