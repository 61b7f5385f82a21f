//! The `afxdp` backend's packet I/O: AF_XDP sockets with a UMEM on memmap2, each one a
//! smoltcp [`Device`](smoltcp::phy::Device).
//!
//! The XDP program of `mmsc-ebpf` in [`Mode::Redirect`](mmsc_classify::Mode) hands MM1 and
//! MM4 TCP segments, and ARP, ICMP and ICMPv6 for the addresses the user-space stack owns
//! (`XdpProgram::set_owned_addresses`), to the AF_XDP socket of the queue they came in on;
//! everything else goes to the kernel. One [`XskDevice`] per queue, on the core that owns
//! the queue:
//!
//! - **UMEM**: one anonymous mapping per socket (memmap2), on 2 MiB hugepages
//!   (`MAP_HUGETLB`) when they are reserved and free, else on normal pages
//!   ([`HugePages`], [`XskDevice::pages`]); `frame_count` frames of 2048 or 4096 octets
//!   ([`FrameSize`]), half of them for receiving (fill ring → kernel → RX ring), half for
//!   sending (free list → TX ring → kernel → completion ring). A UMEM per socket: a core
//!   owns its frames outright, with no accounting shared between cores.
//! - **Socket**: created and bound with xdpilone to (interface index, queue), zero-copy when
//!   the driver supports it, else copy mode ([`BindMode`], [`XskDevice::mode`]), with the
//!   need-wakeup flag; [`XskDevice::register`] puts it in the program's XSKMAP.
//! - **smoltcp device**: [`XskRxToken`] lends smoltcp the received frame where the kernel
//!   put it in the UMEM (no copy) and returns the frame to the fill ring after;
//!   [`XskTxToken`] takes a free TX frame, lets smoltcp write into it and submits it; the
//!   kernel is kicked (`sendto`) in batches ([`XskConfig::tx_kick_batch`]) and at the end
//!   of every receive burst; completions put TX frames back on the free list. Rings, the
//!   free list and the recycle list are sized at open and never grow; a frame with no free
//!   TX frame is counted and dropped ([`XskStats::tx_dropped`]), never queued.
//!
//! ```no_run
//! use mmsc_afxdp::{XskConfig, XskDevice};
//! use mmsc_classify::{Class, Listener, Mode, Rules};
//! use mmsc_ebpf::XdpProgram;
//! use smoltcp::iface::{Config, Interface, SocketSet};
//! use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rules = Rules {
//!     listeners: vec![Listener { addr: None, port: 8514, class: Class::Mm1 }],
//!     mode: Mode::Redirect,
//!     ..Rules::default()
//! };
//! let mut xdp = XdpProgram::load("eth0", &rules)?;
//! xdp.set_owned_addresses(&["192.0.2.10".parse()?])?;
//! let mut device = XskDevice::open("eth0", 0, &XskConfig::default())?;
//! device.register(&mut xdp)?;
//! println!("{}", device.describe());
//!
//! let mac = EthernetAddress([0x02, 0, 0, 0, 0, 1]); // the interface's MAC
//! let now = smoltcp::time::Instant::now();
//! let mut iface = Interface::new(Config::new(mac.into()), &mut device, now);
//! iface.update_ip_addrs(|a| {
//!     let _ = a.push(IpCidr::new(IpAddress::v4(192, 0, 2, 10), 24));
//! });
//! let mut sockets = SocketSet::new(vec![]);
//! loop {
//!     iface.poll(smoltcp::time::Instant::now(), &mut device, &mut sockets);
//!     device.flush();
//!     device.wait(std::time::Duration::from_millis(1))?;
//! }
//! # }
//! ```
//!
//! `unsafe` lives here (an I/O backend): the UMEM registration and the slices of the frames
//! the device owns (the rules are in the [`device`] module's docs), and the socket's
//! borrowed descriptor; each block says why it holds. Needs root (CAP_NET_RAW, CAP_BPF and
//! CAP_NET_ADMIN for the program, CAP_IPC_LOCK for the UMEM).

mod config;
pub mod device;
mod error;
mod umem;

pub use config::{
    BindMode, FrameSize, HugePages, MAX_FRAMES, MIN_FRAMES, Pages, XDP_PACKET_HEADROOM, XskConfig,
    XskMode,
};
pub use device::{KernelStats, XskDevice, XskRxToken, XskStats, XskTxToken};
pub use error::AfXdpError;
pub use umem::free_hugepages;
