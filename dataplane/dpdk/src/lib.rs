//! The dpdk backend's packet I/O: safe wrappers over [`dpdk_sys`] and a smoltcp device.
//!
//! Contract of this layer:
//! - [`Eal`] initialises DPDK once per process ([`Eal::init`]) and cleans it up on drop.
//!   Everything else borrows it, so nothing DPDK-owned outlives `rte_eal_cleanup`.
//! - [`Mempool`] is a pool of packet buffers; an [`Mbuf`] borrows the pool it came from and
//!   returns to it on drop. [`Mbuf::data`] / [`Mbuf::data_mut`] are views of the frame in the
//!   mbuf's own memory: nothing is copied.
//! - [`Port`] configures an ethdev port with `n` rx/tx queue pairs, starts, stops and closes
//!   it (on drop), and reads its MAC address, link and counters. A started port hands out each
//!   queue pair once as a [`Queue`], the only way to burst packets: a queue is polled by one
//!   thread (one lcore) at a time, as DPDK requires, and the port cannot be stopped while a
//!   `Queue` borrows it.
//! - [`DpdkDevice`] implements [`smoltcp::phy::Device`] over one `Queue`: the rx token lends
//!   smoltcp the mbuf's bytes, the tx token lets smoltcp write straight into a fresh mbuf;
//!   transmissions are batched into bursts ([`DpdkDevice::flush`] sends what is pending).
//! - [`RxWait`] lets an idle lcore sleep until frames arrive on ports whose driver receives
//!   through kernel sockets (`net_af_xdp`, `net_af_packet`), which have no rx interrupts.
//! - Lifetimes carry DPDK's ownership rules: mbufs a port received or was given to send are
//!   `Mbuf<'a>` where the port is `Port<'a>`, so their pools outlive the port's close (which
//!   frees the mbufs left in its rings).
//!
//! `unsafe` lives here and in `dpdk-sys` only; every block says why it holds.
//!
//! ```no_run
//! use mmsc_dpdk::{DpdkDevice, Eal, Mempool, MempoolConfig, Port, PortConfig};
//! use smoltcp::iface::{Config, Interface, SocketSet};
//! use smoltcp::time::Instant;
//! use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let args = ["--no-huge", "--no-pci", "--vdev=net_af_packet0,iface=veth1", "-l", "0"];
//! let eal = Eal::init(&args)?;
//! let pool = Mempool::new(&eal, "rx0", &MempoolConfig::default())?;
//! let id = eal.port_by_name("net_af_packet0")?;
//! let mut port = Port::configure(&eal, id, &PortConfig::default(), &pool)?;
//! port.start()?;
//! let mac = EthernetAddress(port.mac()?);
//! let mut device = DpdkDevice::new(port.queue(0)?, &pool, port.mtu()?);
//! let config = Config::new(HardwareAddress::Ethernet(mac));
//! let mut iface = Interface::new(config, &mut device, Instant::now());
//! let addr = IpAddress::v4(10, 0, 0, 2);
//! iface.update_ip_addrs(|a| a.push(IpCidr::new(addr, 24)).unwrap());
//! let mut sockets = SocketSet::new(vec![]);
//! loop {
//!     iface.poll(Instant::now(), &mut device, &mut sockets);
//!     device.flush();
//! }
//! # }
//! ```

mod device;
mod eal;
mod error;
mod ether;
mod mbuf;
mod mempool;
mod port;
mod wait;

pub use device::{DeviceStats, DpdkDevice, DpdkRxToken, DpdkTxToken};
pub use eal::Eal;
pub use error::{Errno, Error};
pub use ether::EtherHeader;
pub use mbuf::Mbuf;
pub use mempool::{Mempool, MempoolConfig};
pub use port::{Link, Port, PortConfig, PortStats, Queue};
pub use wait::RxWait;

/// The version of the DPDK this crate was built against.
pub const DPDK_VERSION: &str = dpdk_sys::DPDK_VERSION;

/// Where the DPDK this crate links loads its drivers (PMDs) from at [`Eal::init`]
/// (`RTE_EAL_PMD_PATH`).
pub fn pmd_path() -> &'static str {
    std::ffi::CStr::from_bytes_with_nul(dpdk_sys::RTE_EAL_PMD_PATH)
        .ok()
        .and_then(|s| s.to_str().ok())
        .unwrap_or("")
}
