//! A throw-away Kannel on loopback for tests: bearerbox, optionally wapbox (with its PPG) and
//! smsbox (with `sendsms`), and Kannel's fake SMSC client `fakesmsc` as the SMS sink.
//!
//! ```text
//! PAP POST ──▶ wapbox PPG ──┐
//!                           ├─▶ bearerbox ── smsc fake ──▶ fakesmsc (prints every MT SMS)
//! sendsms GET ──▶ smsbox ───┘
//! ```
//!
//! [`Kannel::start`] writes a kannel.conf into a fresh temporary directory (ports picked by
//! binding 127.0.0.1:0; admin, smsbox and sendsms listeners bound to 127.0.0.1, the others
//! restricted to it by `*-allow-ip`; no UDP bearer), starts the processes and waits, bounded,
//! until bearerbox reports the boxes and fakesmsc on line and the HTTP ports accept
//! connections. Dropping it kills every process (also when the test panics, in which case the
//! directory is kept and the logs' tails are printed). Each process also gets
//! `PR_SET_PDEATHSIG` (through util-linux `setpriv`), so nothing outlives a killed test
//! thread.
//!
//! fakesmsc prints each SMS it receives on stderr as
//! `... DEBUG: Got message N: <FROM TO udh %0B%05... data %01%06...>` (FROM and TO as they
//! are, UDH and data URL-encoded with `+` for a space), or `<FROM TO data ...>` /
//! `<FROM TO text ...>` without a UDH; [`Sms::parse_line`] parses those lines.
//!
//! Binaries: Debian packages `kannel` (bearerbox, wapbox, smsbox) and `kannel-extras`
//! (`/usr/lib/kannel/test/fakesmsc`). A missing binary fails the test with the package to
//! install.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mmsc_wire::Limits;
use mmsc_wire::push::{PushPdu, parse_user_data, reassemble};

use crate::TempDir;
use crate::http::HttpConn;

/// bearerbox admin password.
pub const ADMIN_PASSWORD: &str = "adminsecret";
/// The `sendsms-user` of the generated configuration.
pub const SENDSMS_USER: &str = "mmsc";
/// Its password.
pub const SENDSMS_PASSWORD: &str = "pushsecret";
/// The sender smsbox puts on SMS sent through `sendsms` without `from=`.
pub const SENDSMS_SENDER: &str = "2948";
/// How long start-up may take.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const WAPBOX: &str = "/usr/sbin/wapbox";
const SMSBOX: &str = "/usr/sbin/smsbox";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";
const SETPRIV: &str = "/usr/bin/setpriv";

/// Which boxes to run besides bearerbox and fakesmsc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// wapbox with the PPG (PAP at `/wappush`).
    pub wapbox: bool,
    /// smsbox with `sendsms`.
    pub smsbox: bool,
}

/// The loopback ports of one instance.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// bearerbox HTTP admin (`/status.txt`).
    pub admin: u16,
    /// bearerbox port for smsbox.
    pub smsbox: u16,
    /// bearerbox port for wapbox.
    pub wapbox: u16,
    /// bearerbox's fake SMSC listener, which fakesmsc connects to.
    pub smsc: u16,
    /// wapbox PPG (PAP over HTTP).
    pub ppg: u16,
    /// smsbox `sendsms` HTTP.
    pub sendsms: u16,
}

impl Ports {
    /// Six distinct free ports: all bound on 127.0.0.1:0 at once, then released.
    fn pick() -> Ports {
        let listeners: Vec<TcpListener> = (0..6)
            .map(|_| {
                TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 for a port")
            })
            .collect();
        let p: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("local_addr").port())
            .collect();
        Ports {
            admin: p[0],
            smsbox: p[1],
            wapbox: p[2],
            smsc: p[3],
            ppg: p[4],
            sendsms: p[5],
        }
    }
}

/// One SMS that fakesmsc received (an MT message from Kannel's point of view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sms {
    /// Sender as Kannel gave it.
    pub from: String,
    /// Destination number.
    pub to: String,
    /// `udh`, `data`, `text`, ... as fakesmsc names it.
    pub kind: String,
    /// The user data header octets, UDHL included (empty without a UDH).
    pub udh: Vec<u8>,
    /// The message octets after the UDH.
    pub data: Vec<u8>,
}

impl Sms {
    /// The SMS user data as the handset sees it: UDH then data.
    pub fn user_data(&self) -> Vec<u8> {
        let mut ud = self.udh.clone();
        ud.extend_from_slice(&self.data);
        ud
    }

    /// Parse one fakesmsc output line; `None` for lines that are not a received message.
    ///
    /// Seen from Kannel 1.4.5: `<FROM TO udh UDH data DATA>` for 8-bit data with a UDH, where
    /// FROM and TO are as Kannel has them (a `+` is a plus) and UDH and DATA are URL-encoded
    /// (`%XX`, `+` for a space); `<FROM TO text TEXT>` / `<FROM TO data DATA>` without a UDH.
    pub fn parse_line(line: &str) -> Option<Sms> {
        let rest = line.split_once("Got message ")?.1;
        let inner = rest.split_once(": <")?.1.trim_end().strip_suffix('>')?;
        let mut f = inner.splitn(4, ' ');
        let from = f.next()?.to_owned();
        let to = f.next()?.to_owned();
        let kind = f.next()?.to_owned();
        let rest = f.next().unwrap_or("");
        let (udh, data) = match kind.as_str() {
            "udh" => {
                let (u, d) = rest.split_once(' ').unwrap_or((rest, ""));
                let d = d.strip_prefix("data ").unwrap_or(d);
                (url_decode(u)?, url_decode(d)?)
            }
            _ => (Vec::new(), url_decode(rest)?),
        };
        Some(Sms {
            from,
            to,
            kind,
            udh,
            data,
        })
    }
}

/// One WAP push as the handset received it: its SMS and their reassembled payload.
#[derive(Clone, Debug)]
pub struct WapPush {
    /// The SMS, in arrival order.
    pub sms: Vec<Sms>,
    /// The reassembled WSP payload, or why it could not be reassembled.
    pub wsp: Result<Vec<u8>, String>,
}

impl WapPush {
    fn new(sms: Vec<Sms>) -> WapPush {
        let uds: Vec<Vec<u8>> = sms.iter().map(Sms::user_data).collect();
        let refs: Vec<&[u8]> = uds.iter().map(Vec::as_slice).collect();
        let wsp = reassemble(&refs).map_err(|e| e.to_string());
        WapPush { sms, wsp }
    }

    /// Check every SMS (8-bit data with a UDH addressed to port 2948 from 9200, at most 140
    /// octets of user data), decode the WSP Push and check that it is an unconfirmed MMS
    /// push. Returns the push. Panics on any problem.
    pub fn decode(&self) -> PushPdu<'static> {
        for m in &self.sms {
            assert_eq!(m.kind, "udh", "an SMS without UDH: {m:?}");
            let ud = m.user_data();
            assert!(ud.len() <= 140, "SMS user data over 140 octets: {m:?}");
            let (udh, payload) = parse_user_data(&ud).expect("the SMS's UDH");
            assert_eq!(
                (udh.dst_port, udh.src_port),
                (Some(2948), Some(9200)),
                "WAP Push ports: {m:?}"
            );
            assert!(!payload.is_empty(), "{m:?}");
        }
        let wsp = self
            .wsp
            .as_ref()
            .unwrap_or_else(|e| panic!("reassemble {:?}: {e}", self.sms));
        let push = PushPdu::decode(wsp, &Limits::default())
            .unwrap_or_else(|e| panic!("decode the WSP push {wsp:02X?}: {e}"))
            .into_owned();
        assert!(push.is_mms(), "not an MMS push: {push:?}");
        assert_eq!(push.pdu_type, 0x06, "an unconfirmed Push: {push:?}");
        push
    }
}

/// Decode Kannel's URL encoding: `%XX` and `+` for a space; `None` on a bad escape.
pub fn url_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

struct Proc {
    name: &'static str,
    child: Child,
}

/// A running Kannel (see the module documentation).
pub struct Kannel {
    /// Its ports.
    pub ports: Ports,
    procs: Vec<Proc>,
    fakesmsc_stdin: Option<ChildStdin>,
    fakesmsc_lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    // Last, so that it is dropped (and kept on panic) after the processes are gone.
    dir: TempDir,
}

impl std::fmt::Debug for Kannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kannel")
            .field("dir", &self.dir)
            .field("ports", &self.ports)
            .field(
                "procs",
                &self.procs.iter().map(|p| p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Panic unless `path` exists, naming the Debian package that has it.
fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` \
         (apt-get install --no-install-recommends kannel kannel-extras)"
    );
}

impl Kannel {
    /// Start bearerbox, fakesmsc and the boxes `options` asks for, and wait until all are up.
    /// Panics (after killing what it started) when a binary is missing, a process exits or
    /// start-up takes longer than [`START_TIMEOUT`].
    pub fn start(options: Options) -> Kannel {
        require(BEARERBOX, "kannel");
        require(FAKESMSC, "kannel-extras");
        if options.wapbox {
            require(WAPBOX, "kannel");
        }
        if options.smsbox {
            require(SMSBOX, "kannel");
        }
        let dir = TempDir::new("mmsc-tests-kannel");
        let ports = Ports::pick();
        let conf = dir.path().join("kannel.conf");
        std::fs::write(&conf, config(dir.path(), &ports))
            .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let mut k = Kannel {
            ports,
            procs: Vec::new(),
            fakesmsc_stdin: None,
            fakesmsc_lines: Arc::new(Mutex::new(Vec::new())),
            readers: Vec::new(),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let conf = conf.to_string_lossy().into_owned();
        k.spawn("bearerbox", BEARERBOX, &[&conf]);
        k.wait_until(deadline, "bearerbox's admin status", |k| {
            k.status().is_some()
        });
        k.spawn_fakesmsc();
        if options.wapbox {
            k.spawn("wapbox", WAPBOX, &[&conf]);
        }
        if options.smsbox {
            k.spawn("smsbox", SMSBOX, &[&conf]);
        }
        k.wait_until(deadline, "fakesmsc and the boxes on line", |k| {
            k.status().is_some_and(|s| {
                smsc_online(&s)
                    && (!options.wapbox || s.contains("wapbox, IP"))
                    && (!options.smsbox || s.contains("smsbox:"))
            })
        });
        if options.wapbox {
            let port = k.ports.ppg;
            k.wait_until(deadline, "the PPG port", |_| accepts(port));
        }
        if options.smsbox {
            let port = k.ports.sendsms;
            k.wait_until(deadline, "the sendsms port", |_| accepts(port));
        }
        k
    }

    /// The PAP URL of the PPG.
    pub fn pap_url(&self) -> String {
        format!("http://127.0.0.1:{}/wappush", self.ports.ppg)
    }

    /// The sendsms URL with these credentials.
    pub fn sendsms_url(&self, user: &str, password: &str) -> String {
        format!(
            "http://127.0.0.1:{}/cgi-bin/sendsms?username={user}&password={password}",
            self.ports.sendsms
        )
    }

    /// The sendsms URL with the configured user.
    pub fn sendsms_url_ok(&self) -> String {
        self.sendsms_url(SENDSMS_USER, SENDSMS_PASSWORD)
    }

    /// bearerbox's `/status.txt`, if it answers (within 2 s).
    pub fn status(&self) -> Option<String> {
        let mut c = HttpConn::connect((Ipv4Addr::LOCALHOST, self.ports.admin).into()).ok()?;
        c.set_read_timeout(Duration::from_secs(2)).ok()?;
        let r = c
            .get(
                &format!("/status.txt?password={ADMIN_PASSWORD}"),
                &[("Connection", "close")],
            )
            .ok()?;
        (r.status == 200).then(|| r.text())
    }

    /// Every SMS fakesmsc has printed so far, in order.
    pub fn messages(&self) -> Vec<Sms> {
        self.fakesmsc_lines
            .lock()
            .expect("fakesmsc lines")
            .iter()
            .filter_map(|l| Sms::parse_line(l))
            .collect()
    }

    /// Wait (at most `timeout`) until fakesmsc has received at least `count` SMS for `to`, and
    /// return them all. Panics on timeout, showing what did arrive.
    pub fn messages_to(&self, to: &str, count: usize, timeout: Duration) -> Vec<Sms> {
        let deadline = Instant::now() + timeout;
        loop {
            let got: Vec<Sms> = self.messages().into_iter().filter(|m| m.to == to).collect();
            if got.len() >= count {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "fakesmsc received {} of {count} SMS for {to} within {timeout:?}; \
                     all it printed:\n{}\n{}",
                    got.len(),
                    self.fakesmsc_lines.lock().expect("lines").join("\n"),
                    self.diagnostics()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The complete WAP pushes fakesmsc has received for `to`, in the order their last SMS
    /// arrived: SMS grouped by their concatenation reference (a reference is free again once
    /// its message is complete) and reassembled with [`mmsc_wire::push::reassemble`]. A push
    /// still missing segments is left out.
    pub fn wap_pushes_to(&self, to: &str) -> Vec<WapPush> {
        let mut open: Vec<(u16, u8, Vec<Sms>)> = Vec::new();
        let mut done = Vec::new();
        for m in self.messages().into_iter().filter(|m| m.to == to) {
            let ud = m.user_data();
            let Ok((udh, _)) = parse_user_data(&ud) else {
                // Not a WAP push SMS: a push of its own, which will fail to decode.
                done.push(WapPush::new(vec![m]));
                continue;
            };
            let Some(c) = udh.concat else {
                done.push(WapPush::new(vec![m]));
                continue;
            };
            let key = (c.reference.value(), c.total);
            let i = match open.iter().position(|(r, t, _)| (*r, *t) == key) {
                Some(i) => i,
                None => {
                    open.push((key.0, key.1, Vec::new()));
                    open.len() - 1
                }
            };
            open[i].2.push(m);
            if open[i].2.len() >= usize::from(c.total) {
                let (_, _, sms) = open.remove(i);
                done.push(WapPush::new(sms));
            }
        }
        done
    }

    /// Wait (at most `timeout`) until at least `count` complete WAP pushes reached `to`, and
    /// return them all. Panics on timeout, showing what fakesmsc printed.
    pub fn wait_wap_pushes(&self, to: &str, count: usize, timeout: Duration) -> Vec<WapPush> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.wap_pushes_to(to);
            if got.len() >= count {
                return got;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} of {count} WAP pushes to {to} arrived within {timeout:?}; fakesmsc \
                     printed:\n{}\n{}",
                    got.len(),
                    self.fakesmsc_lines.lock().expect("lines").join("\n"),
                    self.diagnostics()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill one process (`bearerbox`, `wapbox`, `smsbox`, `fakesmsc`) and wait for it.
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.procs.iter().position(|p| p.name == name) {
            let mut p = self.procs.remove(i);
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// The last lines of every log, for a failure message.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for name in [
            "bearerbox.log",
            "wapbox.log",
            "smsbox.log",
            "bearerbox.out",
            "wapbox.out",
            "smsbox.out",
        ] {
            let p = self.dir.path().join(name);
            if let Ok(text) = std::fs::read_to_string(&p) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(15)..];
                out.push_str(&format!("--- {} (last {})\n", p.display(), tail.len()));
                for l in tail {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }

    fn command(program: &str, args: &[&str]) -> Command {
        if Path::new(SETPRIV).exists() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", "KILL", program]).args(args);
            c
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }

    fn spawn(&mut self, name: &'static str, program: &str, args: &[&str]) {
        let out_path = self.dir.path().join(format!("{name}.out"));
        let out = std::fs::File::create(&out_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", out_path.display()));
        let err = out.try_clone().expect("clone the output file");
        let child = Self::command(program, args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        self.procs.push(Proc { name, child });
    }

    fn spawn_fakesmsc(&mut self) {
        let port = self.ports.smsc.to_string();
        // -m 0: generate no MO messages (a message template is still required); stdin stays
        // open (fakesmsc stops at its end).
        let mut child = Self::command(
            FAKESMSC,
            &[
                "-H",
                "127.0.0.1",
                "-r",
                &port,
                "-i",
                "0.1",
                "-m",
                "0",
                "100 200 text unused",
            ],
        )
        .current_dir(self.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {FAKESMSC}: {e}"));
        self.fakesmsc_stdin = child.stdin.take();
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("fakesmsc stdout")),
            Box::new(child.stderr.take().expect("fakesmsc stderr")),
        ];
        for pipe in pipes {
            let lines = Arc::clone(&self.fakesmsc_lines);
            self.readers.push(thread::spawn(move || {
                let mut r = BufReader::new(pipe);
                let mut buf = Vec::new();
                // Ends at EOF, when fakesmsc is gone.
                while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    lines.lock().expect("fakesmsc lines").push(line);
                    buf.clear();
                }
            }));
        }
        self.procs.push(Proc {
            name: "fakesmsc",
            child,
        });
    }

    /// Poll `ready` every 100 ms until it holds; panic at `deadline` or when a process exits.
    fn wait_until(&mut self, deadline: Instant, what: &str, ready: impl Fn(&Kannel) -> bool) {
        loop {
            if ready(self) {
                return;
            }
            let exited = self
                .procs
                .iter_mut()
                .find_map(|p| Some((p.name, p.child.try_wait().ok()??)));
            if let Some((name, status)) = exited {
                panic!(
                    "{name} exited ({status}) while waiting for {what}\n{}",
                    self.diagnostics_of(name)
                );
            }
            assert!(
                Instant::now() < deadline,
                "Kannel: no {what} within {START_TIMEOUT:?}\nstatus: {:?}\n{}",
                self.status(),
                self.diagnostics()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn diagnostics_of(&self, name: &str) -> String {
        let p = self.dir.path().join(format!("{name}.out"));
        let out = std::fs::read_to_string(&p).unwrap_or_default();
        format!("--- {}\n{out}\n{}", p.display(), self.diagnostics())
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "Kannel in {}:\n{}",
                self.dir.path().display(),
                self.diagnostics()
            );
        }
        // In reverse order of start: the boxes, fakesmsc, bearerbox last.
        self.fakesmsc_stdin = None;
        while let Some(mut p) = self.procs.pop() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let _ = std::io::stderr().flush();
    }
}

/// True when bearerbox's status shows the fake SMSC connection on line.
fn smsc_online(status: &str) -> bool {
    status
        .lines()
        .any(|l| l.contains("fake1") && l.contains("(online"))
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// The kannel.conf of an instance: /work/shared/peers/kannel/kannel.conf with this
/// directory, these ports, listeners on 127.0.0.1, no UDP bearer, and a sendsms user.
fn config(dir: &Path, p: &Ports) -> String {
    let d = dir.display();
    format!(
        r#"group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
wapbox-port = {wapbox}
box-allow-ip = "127.0.0.1"
log-file = "{d}/bearerbox.log"
log-level = 0

group = smsc
smsc = fake
smsc-id = fake1
host = 127.0.0.1
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 0

group = sendsms-user
username = {SENDSMS_USER}
password = {SENDSMS_PASSWORD}
default-sender = {SENDSMS_SENDER}
user-allow-ip = "127.0.0.1"

group = wapbox
bearerbox-host = 127.0.0.1
log-file = "{d}/wapbox.log"
log-level = 0

group = ppg
ppg-url = /wappush
ppg-port = {ppg}
ppg-allow-ip = "127.0.0.1"
trusted-pi = true
users = 10
concurrent-pushes = 10
service-name = ppg
default-smsc = fake1
"#,
        admin = p.admin,
        smsbox = p.smsbox,
        wapbox = p.wapbox,
        smsc = p.smsc,
        sendsms = p.sendsms,
        ppg = p.ppg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fakesmsc_lines_parse() {
        // As fakesmsc printed a PAP push through Kannel 1.4.5 (data shortened).
        let l = "2026-11-24 22:31:40 [6717] [0] DEBUG: Got message 2: <1234 +358401234567 udh \
             %06%05%04%0B%84%23%F0 data %00%065application%2Fvnd+x%00>";
        let m = Sms::parse_line(l).expect("a message line");
        assert_eq!(m.from, "1234");
        assert_eq!(m.to, "+358401234567");
        assert_eq!(m.kind, "udh");
        assert_eq!(m.udh, [0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0]);
        assert_eq!(m.data, b"\x00\x065application/vnd x\x00");
        assert_eq!(m.user_data().len(), 7 + m.data.len());
        let t = Sms::parse_line("... Got message 1: <1 2 text hello+world%21>").expect("text");
        assert_eq!(
            (t.kind.as_str(), &t.data[..]),
            ("text", &b"hello world!"[..])
        );
        assert_eq!(Sms::parse_line("INFO: fakesmsc starting"), None);
        assert_eq!(url_decode("%4"), None);
        assert_eq!(url_decode("%zz"), None);
    }

    #[test]
    #[should_panic(expected = "install the Debian package `kannel-extras`")]
    fn a_missing_binary_names_its_package() {
        require("/nonexistent/usr/lib/kannel/test/fakesmsc", "kannel-extras");
    }
}
