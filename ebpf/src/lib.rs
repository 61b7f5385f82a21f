//! The MMSC's BPF programs and their loader.
//!
//! Two programs, written in C (`ebpf/bpf/`), built by clang from `build.rs` and embedded in
//! this crate, loaded with aya 0.14:
//!
//! - [`XdpProgram`]: the XDP classifier. Classifies every frame by the MMSC listener it is
//!   addressed to ([`mmsc_classify::Class`]), drops MM4 packets from sources outside the peer
//!   prefixes and SYNs beyond a per-source token bucket, counts packets and bytes per class,
//!   and in [`Mode::Redirect`](mmsc_classify::Mode::Redirect) hands MM1/MM4 frames to the
//!   AF_XDP socket of the receiving queue. The rules are [`mmsc_classify::Rules`], and the
//!   decisions the rule set written in `mmsc_classify`'s crate docs, which the user-space
//!   [`mmsc_classify::Classifier`] implements too (the tests compare the two frame by frame;
//!   [`Counters::from_classifier`] maps the classifier's counters onto the program's).
//! - [`ReuseportSteering`]: an SK_REUSEPORT program that puts each new connection of a
//!   `SO_REUSEPORT` group on the listener of the core that owns the flow.
//!
//! Everything here needs root (or CAP_BPF + CAP_NET_ADMIN); errors say what failed
//! ([`EbpfError`]).
//!
//! ```no_run
//! use mmsc_classify::{Class, Listener, Rules};
//! use mmsc_ebpf::XdpProgram;
//!
//! # fn main() -> Result<(), mmsc_ebpf::EbpfError> {
//! let rules = Rules {
//!     listeners: vec![Listener { addr: None, port: 8002, class: Class::Mm1 }],
//!     ..Rules::default()
//! };
//! let mut xdp = XdpProgram::load("eth0", &rules)?; // driver mode, else generic
//! println!("{} mode, program {}", xdp.mode().name(), xdp.program_id());
//! let c = xdp.counters()?; // summed over CPUs
//! println!("mm1 {} packets, {} dropped", c.class(Class::Mm1).packets, c.dropped());
//! xdp.update_rules(&Rules::default())?; // new entries before removals: no gap
//! xdp.detach()?; // or drop it
//! # Ok(())
//! # }
//! ```

mod error;
mod maps;
mod netlink;
mod reuseport;
mod rules;
mod xdp;

pub use error::EbpfError;
pub use maps::{MAX_CORES, MAX_LISTENERS, MAX_OWNED, MAX_PEERS, MAX_QUEUES};
pub use reuseport::ReuseportSteering;
pub use xdp::{
    AttachMode, AttachRequest, ClassCounter, Counters, ReplacedProgram, XdpOptions, XdpProgram,
};

/// The XDP object file (ELF, BPF target) as built by clang: program `mmsc_xdp` in section
/// `xdp`. For tools that load it themselves (`ip link set dev IFACE xdp obj FILE sec xdp`).
pub fn xdp_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mmsc_xdp.o"))
}

/// The SK_REUSEPORT object file: program `mmsc_reuseport` in section `sk_reuseport`.
pub fn reuseport_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mmsc_reuseport.o"))
}
