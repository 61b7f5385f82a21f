//! mmsc-xdp-probe: attaches the mmsc XDP program to one interface with rules from the
//! command line, answers commands on stdin, and detaches when stdin closes. For tests
//! (run under `ip netns exec NS`) and for trying the program by hand.
//!
//! ```text
//! mmsc-xdp-probe --iface IFACE [--attach auto|driver|generic] [--replace-foreign] RULES
//! RULES: [--mode pass|redirect] [--listener ADDR:PORT:CLASS]... [--peer ADDR/LEN]...
//!        [--syn-rate N] [--syn-burst N] [--owned IP]...
//!        ADDR is *, an IPv4 address or [an IPv6 address]; CLASS mm1|mm4|mm7|mm3;
//!        --owned: an address of the user-space stack (redirect mode: its ARP, ICMP and
//!        ICMPv6 go to the AF_XDP socket too)
//! stdin: "counters" prints the counters; "rules RULES" replaces the rules (and the owned
//!        addresses);
//!        end of input prints the counters, detaches and exits.
//! ```
//!
//! Output lines: `attached iface=.. mode=driver|generic prog_id=N replaced=none|ID:NAME,..`,
//! `counters other=P/B mm1=P/B mm4=P/B mm7=P/B mm3=P/B not_peer=N syn_rate=N slow_path=N
//! malformed=N redirected=N redirect_no_socket=N redirected_owned=N` followed by one
//! `REASON=N` per `mmsc_classify::Slow` reason (`not_ip=N ... bad_tcp_header=N`), `updated`,
//! `error MESSAGE`, `detached`.

use std::io::BufRead;
use std::net::IpAddr;
use std::process::ExitCode;

use mmsc_classify::{Class, Listener, Mode, Prefix, Rules, Slow};
use mmsc_ebpf::{AttachRequest, Counters, XdpOptions, XdpProgram};

fn parse_class(s: &str) -> Result<Class, String> {
    Class::ALL
        .into_iter()
        .find(|c| c.name() == s)
        .ok_or_else(|| format!("unknown class {s:?}"))
}

fn parse_listener(s: &str) -> Result<Listener, String> {
    let mut parts = s.rsplitn(3, ':');
    let (Some(class), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("listener {s:?}: want ADDR:PORT:CLASS"));
    };
    let addr = match addr {
        "*" => None,
        a => Some(
            a.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|e| format!("listener {s:?}: {e}"))?,
        ),
    };
    Ok(Listener {
        addr,
        port: port.parse().map_err(|e| format!("listener {s:?}: {e}"))?,
        class: parse_class(class)?,
    })
}

fn parse_prefix(s: &str) -> Result<Prefix, String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or(format!("peer {s:?}: want ADDR/LEN"))?;
    Ok(Prefix {
        addr: addr.parse().map_err(|e| format!("peer {s:?}: {e}"))?,
        len: len.parse().map_err(|e| format!("peer {s:?}: {e}"))?,
    })
}

struct Args {
    iface: Option<String>,
    options: XdpOptions,
    rules: Rules,
    owned: Vec<IpAddr>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        iface: None,
        options: XdpOptions::default(),
        rules: Rules::default(),
        owned: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--iface" => out.iface = Some(value()?.clone()),
            "--attach" => {
                out.options.attach = match value()?.as_str() {
                    "auto" => AttachRequest::Auto,
                    "driver" => AttachRequest::Driver,
                    "generic" => AttachRequest::Generic,
                    other => return Err(format!("unknown attach mode {other:?}")),
                }
            }
            "--replace-foreign" => out.options.replace_foreign = true,
            "--mode" => {
                out.rules.mode = match value()?.as_str() {
                    "pass" => Mode::Pass,
                    "redirect" => Mode::Redirect,
                    other => return Err(format!("unknown mode {other:?}")),
                }
            }
            "--listener" => out.rules.listeners.push(parse_listener(value()?)?),
            "--peer" => out.rules.mm4_peers.push(parse_prefix(value()?)?),
            "--owned" => {
                let v = value()?;
                out.owned
                    .push(v.parse().map_err(|e| format!("--owned {v:?}: {e}"))?)
            }
            "--syn-rate" => {
                out.rules.syn_rate = value()?.parse().map_err(|e| format!("--syn-rate: {e}"))?
            }
            "--syn-burst" => {
                out.rules.syn_burst = value()?.parse().map_err(|e| format!("--syn-burst: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(out)
}

fn counters_line(c: &Counters) -> String {
    let mut line = String::from("counters");
    for class in Class::ALL {
        let v = c.class(class);
        line.push_str(&format!(" {}={}/{}", class.name(), v.packets, v.bytes));
    }
    line.push_str(&format!(
        " not_peer={} syn_rate={} slow_path={} malformed={} redirected={} \
         redirect_no_socket={} redirected_owned={}",
        c.dropped_not_peer,
        c.dropped_syn_rate,
        c.slow_path,
        c.malformed,
        c.redirected,
        c.redirect_no_socket,
        c.redirected_owned
    ));
    for reason in Slow::ALL {
        line.push_str(&format!(" {}={}", reason.name(), c.slow[reason.index()]));
    }
    line
}

fn print_counters(program: &XdpProgram) {
    match program.counters() {
        Ok(c) => println!("{}", counters_line(&c)),
        Err(e) => println!("error {e}"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("mmsc-xdp-probe: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(iface) = args.iface else {
        eprintln!("mmsc-xdp-probe: --iface is required");
        return ExitCode::from(2);
    };
    let mut program = match XdpProgram::load_with(&iface, &args.rules, &args.options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mmsc-xdp-probe: {e}");
            println!("error {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = program.set_owned_addresses(&args.owned) {
        eprintln!("mmsc-xdp-probe: {e}");
        println!("error {e}");
        return ExitCode::FAILURE;
    }
    let replaced: Vec<String> = program
        .replaced()
        .iter()
        .map(|r| format!("{}:{}", r.prog_id, r.name))
        .collect();
    println!(
        "attached iface={} mode={} prog_id={} replaced={}",
        program.interface(),
        program.mode().name(),
        program.program_id(),
        if replaced.is_empty() {
            "none".to_owned()
        } else {
            replaced.join(",")
        }
    );

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        match words.first().map(String::as_str) {
            Some("counters") => print_counters(&program),
            Some("rules") => match parse_args(&words[1..]) {
                Ok(a) => match program
                    .update_rules(&a.rules)
                    .and_then(|()| program.set_owned_addresses(&a.owned))
                {
                    Ok(()) => println!("updated"),
                    Err(e) => println!("error {e}"),
                },
                Err(e) => println!("error {e}"),
            },
            Some(other) => println!("error unknown command {other:?}"),
            None => {}
        }
    }
    print_counters(&program);
    match program.detach() {
        Ok(()) => {
            println!("detached");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}
