//! Network namespaces for the backend tests: a [`Lab`] is two namespaces, a client and a
//! server, joined by a veth pair, with addresses in `10.203.<tag>.0/24` that exist only inside
//! them. Names carry the test process's pid and the tag (`mmsc-b<pid>-<tag>c` / `...s`,
//! interfaces `mmb<pid><tag>c` / `...s`), so concurrent tests and runs never collide. The
//! namespaces (and with them the veth pair and everything running in them that is not
//! waited for) are deleted when the [`Lab`] is dropped, also on panic. Every command has a
//! deadline.
//!
//! Creating namespaces needs root: tests check [`is_root`] first and skip with a message.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use crate::server::run_bounded;

/// Deadline of one `ip` / `ethtool` command.
pub const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// True when this process runs with effective uid 0 (from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs `args` (bounded by [`IP_TIMEOUT`]) and returns its stdout; panics with its stderr
/// when it fails.
pub fn sh(args: &[&str]) -> String {
    let (ok, out, err) = run_bounded(Command::new(args[0]).args(&args[1..]), IP_TIMEOUT);
    assert!(ok, "{args:?} failed: {err}");
    String::from_utf8_lossy(&out).into_owned()
}

/// Two namespaces joined by a veth pair: the client side has `10.203.<tag>.1` and
/// `.3` (two sources), the server side `.2`.
#[derive(Debug)]
pub struct Lab {
    tag: u8,
    /// The client's namespace.
    pub client_ns: String,
    /// The server's namespace.
    pub server_ns: String,
    /// The client's end of the veth pair.
    pub client_if: String,
    /// The server's end of the veth pair (where an XDP program attaches).
    pub server_if: String,
}

impl Lab {
    /// Creates the namespaces, the veth pair and the addresses, and brings everything up.
    pub fn new(tag: u8) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            tag,
            client_ns: format!("mmsc-b{pid}-{tag}c"),
            server_ns: format!("mmsc-b{pid}-{tag}s"),
            client_if: format!("mmb{pid}{tag}c"),
            server_if: format!("mmb{pid}{tag}s"),
        };
        // The guard exists before anything is created: a failure below still cleans up.
        sh(&["ip", "netns", "add", &lab.client_ns]);
        sh(&["ip", "netns", "add", &lab.server_ns]);
        sh(&[
            "ip",
            "link",
            "add",
            "name",
            &lab.client_if,
            "netns",
            &lab.client_ns,
            "type",
            "veth",
            "peer",
            "name",
            &lab.server_if,
            "netns",
            &lab.server_ns,
        ]);
        for (ns, iface, hosts) in [
            (&lab.client_ns, &lab.client_if, &[1u8, 3][..]),
            (&lab.server_ns, &lab.server_if, &[2u8][..]),
        ] {
            for &h in hosts {
                let addr = format!("{}/24", lab.v4(h));
                sh(&["ip", "-n", ns, "addr", "add", &addr, "dev", iface]);
            }
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", iface, "up"]);
        }
        lab
    }

    /// `10.203.<tag>.<host>`.
    pub fn v4(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 203, self.tag, host)
    }

    /// The server's address.
    pub fn server(&self) -> Ipv4Addr {
        self.v4(2)
    }

    /// The client's first address (its default source).
    pub fn client(&self) -> Ipv4Addr {
        self.v4(1)
    }

    /// The client's second address.
    pub fn client2(&self) -> Ipv4Addr {
        self.v4(3)
    }

    /// Hands the server's end of the veth pair to a user-space TCP/IP stack (backend `dpdk`
    /// over `net_af_packet`, which owns [`Lab::server`]): the server's kernel loses its
    /// address there, and IPv6, so that it answers nothing for that address (it still sees
    /// the frames); and the client computes its TCP checksums itself (`ethtool -K CLIENT tx
    /// off`: a veth leaves them to an offload that never happens, AF_PACKET passes such
    /// frames on as they are, and the user-space stack drops them as corrupt).
    pub fn hand_server_side_to_user_space(&self) {
        let addr = format!("{}/24", self.server());
        sh(&[
            "ip",
            "-n",
            &self.server_ns,
            "addr",
            "del",
            &addr,
            "dev",
            &self.server_if,
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.server_ns,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", self.server_if),
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.client_ns,
            "ethtool",
            "-K",
            &self.client_if,
            "tx",
            "off",
        ]);
    }

    /// Runs `args` in namespace `ns` (bounded by `timeout`): (success, stdout, stderr).
    pub fn exec(&self, ns: &str, args: &[&str], timeout: Duration) -> (bool, Vec<u8>, String) {
        run_bounded(
            Command::new("ip").args(["netns", "exec", ns]).args(args),
            timeout,
        )
    }

    /// Runs `args` in the client's namespace and returns its stdout; panics when it fails.
    pub fn client_sh(&self, args: &[&str], timeout: Duration) -> String {
        let (ok, out, err) = self.exec(&self.client_ns, args, timeout);
        assert!(ok, "in {}: {args:?} failed: {err}", self.client_ns);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Three pings from the client to the server's address (0.2 s apart, 10 s at most); the
    /// ping's output.
    pub fn ping_server(&self) -> String {
        let server = self.server().to_string();
        self.client_sh(
            &[
                "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-w", "10", &server,
            ],
            Duration::from_secs(15),
        )
    }

    /// `ip -d link show` of the server's interface (`xdp` / `xdpgeneric`, `prog/xdp id N`
    /// while an XDP program is attached).
    pub fn server_link(&self) -> String {
        sh(&[
            "ip",
            "-n",
            &self.server_ns,
            "-d",
            "link",
            "show",
            "dev",
            &self.server_if,
        ])
    }

    /// A counter of the client's TCP stack, from its namespace's `/proc/net/snmp` (`Tcp:`
    /// lines, e.g. `OutSegs`, `ActiveOpens`) or `/proc/net/netstat` (`TcpExt:` lines, e.g.
    /// `TCPSynRetrans`).
    pub fn client_tcp_counter(&self, name: &str) -> u64 {
        for (file, prefix) in [("/proc/net/snmp", "Tcp:"), ("/proc/net/netstat", "TcpExt:")] {
            let text = self.client_sh(&["cat", file], IP_TIMEOUT);
            let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
            // A header line of names, then a line of values.
            for pair in lines.chunks(2) {
                if let [names, values] = pair {
                    let names = names.split_whitespace().skip(1);
                    let values = values.split_whitespace().skip(1);
                    if let Some((_, v)) = names.zip(values).find(|(n, _)| *n == name) {
                        return v
                            .parse()
                            .unwrap_or_else(|_| panic!("{file}: {name} = {v:?}"));
                    }
                }
            }
        }
        panic!("no TCP counter {name} in {}", self.client_ns)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth pair with it.
        for ns in [&self.client_ns, &self.server_ns] {
            let _ = run_bounded(Command::new("ip").args(["netns", "del", ns]), IP_TIMEOUT);
        }
    }
}
