//! Ethdev ports and their queues.

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use dpdk_sys as sys;

use crate::eal::Eal;
use crate::error::{Errno, Error};
use crate::mbuf::Mbuf;
use crate::mempool::Mempool;
use crate::wait::RxWait;

/// How a [`Port`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Rx/tx queue pairs: one per lcore polling the port.
    pub queues: u16,
    /// Descriptors per rx queue (adjusted to the device's limits).
    pub rx_descriptors: u16,
    /// Descriptors per tx queue (adjusted to the device's limits).
    pub tx_descriptors: u16,
    /// Receive frames for every MAC address, not only the port's.
    pub promiscuous: bool,
    /// With more than one queue: spread flows over the rx queues by an IP/TCP/UDP hash (RSS),
    /// as far as the device supports it.
    pub rss: bool,
    /// The IP MTU to set, `None` to keep the device's (1500 for most).
    pub mtu: Option<u16>,
}

impl Default for PortConfig {
    /// One queue pair, 1024 descriptors each way, RSS on, not promiscuous.
    fn default() -> Self {
        PortConfig {
            queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            promiscuous: false,
            rss: true,
            mtu: None,
        }
    }
}

/// A port's counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames the device dropped because the rx queues were full.
    pub rx_missed: u64,
    /// Erroneous frames received.
    pub rx_errors: u64,
    /// Frames that failed to send.
    pub tx_errors: u64,
    /// Rx failures for want of an mbuf.
    pub rx_no_mbuf: u64,
}

/// A port's link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// One bit per ethdev port id: a [`Port`] of this process owns it.
static CLAIMED: [AtomicBool; sys::RTE_MAX_ETHPORTS as usize] =
    [const { AtomicBool::new(false) }; sys::RTE_MAX_ETHPORTS as usize];

/// Releases a port id's claim when dropped (on the error paths of [`Port::configure`]).
struct Claim(u16);

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED[usize::from(self.0)].store(false, Ordering::Release);
    }
}

/// A configured ethdev port; stopped (if started) and closed on drop.
///
/// `'a` is how long the EAL and the port's rx mempool live (and every mbuf given to the port
/// to send must come from a pool that lives as long): closing the port frees the mbufs left
/// in its rings into their pools. `Port` is invariant in `'a`, so that bound cannot be
/// shortened through a reference.
#[derive(Debug)]
pub struct Port<'a> {
    id: u16,
    queues: u16,
    started: bool,
    promiscuous: bool,
    driver: String,
    taken: Box<[AtomicBool]>,
    _claim: Claim,
    _life: PhantomData<fn(&'a ()) -> &'a ()>,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Claim({})", self.0)
    }
}

impl<'a> Port<'a> {
    /// Configures port `id` with `config.queues` rx/tx queue pairs; the rx queues fill from
    /// `rx_pool`. The port is left stopped: [`Port::start`] it.
    pub fn configure(
        _eal: &'a Eal,
        id: u16,
        config: &PortConfig,
        rx_pool: &'a Mempool<'_>,
    ) -> Result<Self, Error> {
        // SAFETY: reads the ethdev port table; any id is accepted.
        if unsafe { sys::rte_eth_dev_is_valid_port(id) } != 1 {
            return Err(Error::NoSuchPort(format!("port id {id}")));
        }
        let slot = CLAIMED
            .get(usize::from(id))
            .ok_or_else(|| Error::NoSuchPort(format!("port id {id}")))?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(Error::PortInUse(id));
        }
        let claim = Claim(id);

        if config.queues == 0 {
            return Err(Error::InvalidArgument(
                "a port needs at least one queue".to_owned(),
            ));
        }
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: a valid port id and a valid out pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_dev_info_get", Errno::from_ret(ret)));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-null driver_name is the driver's static, NUL-terminated name.
            unsafe { std::ffi::CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let max_queues = info.max_rx_queues.min(info.max_tx_queues);
        if config.queues > max_queues {
            return Err(Error::InvalidArgument(format!(
                "port {id} supports at most {max_queues} queue pairs, {} asked",
                config.queues
            )));
        }

        let mut conf = sys::rte_eth_conf::default();
        if config.rss && config.queues > 1 {
            // SAFETY: returns a compile-time constant.
            let wanted = unsafe { sys::mmsc_rte_eth_rss_ip_tcp_udp() };
            let hf = wanted & info.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
            }
        }
        // SAFETY: a valid, stopped port (we own it: CLAIMED) and a valid configuration.
        let ret = unsafe { sys::rte_eth_dev_configure(id, config.queues, config.queues, &conf) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_dev_configure", Errno::from_ret(ret)));
        }
        let (mut rxd, mut txd) = (config.rx_descriptors, config.tx_descriptors);
        // SAFETY: a configured port and valid in/out pointers.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd) };
        if ret != 0 {
            return Err(Error::dpdk(
                "rte_eth_dev_adjust_nb_rx_tx_desc",
                Errno::from_ret(ret),
            ));
        }
        // SAFETY: a valid port id. -1 (unknown) reads as SOCKET_ID_ANY below.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = socket.cast_unsigned();
        for q in 0..config.queues {
            // SAFETY: a configured, stopped port; q < the configured queue count; a null
            // rxconf/txconf means the device's defaults; rx_pool outlives the port ('a).
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rxd, socket, ptr::null(), rx_pool.as_ptr())
            };
            if ret != 0 {
                return Err(Error::dpdk("rte_eth_rx_queue_setup", Errno::from_ret(ret)));
            }
            // SAFETY: as above.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(id, q, txd, socket, ptr::null()) };
            if ret != 0 {
                return Err(Error::dpdk("rte_eth_tx_queue_setup", Errno::from_ret(ret)));
            }
        }
        if let Some(mtu) = config.mtu {
            // SAFETY: a configured port.
            let ret = unsafe { sys::rte_eth_dev_set_mtu(id, mtu) };
            if ret != 0 {
                return Err(Error::dpdk("rte_eth_dev_set_mtu", Errno::from_ret(ret)));
            }
        }
        Ok(Port {
            id,
            queues: config.queues,
            started: false,
            promiscuous: config.promiscuous,
            driver,
            taken: (0..config.queues).map(|_| AtomicBool::new(false)).collect(),
            _claim: claim,
            _life: PhantomData,
        })
    }

    /// The name of the port's driver (PMD), e.g. `net_af_xdp`.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// How many rx/tx queue pairs the port has.
    pub fn queue_count(&self) -> u16 {
        self.queues
    }

    /// Starts the port (and turns promiscuous mode on if configured).
    pub fn start(&mut self) -> Result<(), Error> {
        if self.started {
            return Ok(());
        }
        // SAFETY: a configured port whose queues are all set up.
        let ret = unsafe { sys::rte_eth_dev_start(self.id) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_dev_start", Errno::from_ret(ret)));
        }
        self.started = true;
        if self.promiscuous {
            // SAFETY: a started port.
            let ret = unsafe { sys::rte_eth_promiscuous_enable(self.id) };
            if ret != 0 {
                return Err(Error::dpdk(
                    "rte_eth_promiscuous_enable",
                    Errno::from_ret(ret),
                ));
            }
        }
        Ok(())
    }

    /// Stops the port. `&mut self`: no [`Queue`] of it is in use.
    pub fn stop(&mut self) -> Result<(), Error> {
        if !self.started {
            return Ok(());
        }
        // SAFETY: a started port none of whose queues is borrowed (`&mut self`).
        let ret = unsafe { sys::rte_eth_dev_stop(self.id) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_dev_stop", Errno::from_ret(ret)));
        }
        self.started = false;
        Ok(())
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6], Error> {
        let mut addr = sys::rte_ether_addr::default();
        // SAFETY: a valid port and out pointer.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.id, &mut addr) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_macaddr_get", Errno::from_ret(ret)));
        }
        Ok(addr.addr_bytes)
    }

    /// The port's IP MTU.
    pub fn mtu(&self) -> Result<u16, Error> {
        let mut mtu = 0u16;
        // SAFETY: a valid port and out pointer.
        let ret = unsafe { sys::rte_eth_dev_get_mtu(self.id, &mut mtu) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_dev_get_mtu", Errno::from_ret(ret)));
        }
        Ok(mtu)
    }

    /// The port's counters.
    pub fn stats(&self) -> Result<PortStats, Error> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: a valid port and out pointer.
        let ret = unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_stats_get", Errno::from_ret(ret)));
        }
        Ok(PortStats {
            rx_packets: s.ipackets,
            rx_bytes: s.ibytes,
            tx_packets: s.opackets,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        })
    }

    /// Sets the counters to zero.
    pub fn reset_stats(&self) -> Result<(), Error> {
        // SAFETY: a valid port.
        let ret = unsafe { sys::rte_eth_stats_reset(self.id) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_stats_reset", Errno::from_ret(ret)));
        }
        Ok(())
    }

    /// The link state, without waiting for autonegotiation.
    pub fn link(&self) -> Result<Link, Error> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: a valid port and out pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut link) };
        if ret != 0 {
            return Err(Error::dpdk("rte_eth_link_get_nowait", Errno::from_ret(ret)));
        }
        Ok(Link {
            up: u32::from(link.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// Queue pair `index` of the started port, for one thread to poll; held until the
    /// returned [`Queue`] is dropped.
    pub fn queue(&self, index: u16) -> Result<Queue<'_, 'a>, Error> {
        if !self.started {
            return Err(Error::NotStarted(self.id));
        }
        let slot = self
            .taken
            .get(usize::from(index))
            .ok_or(Error::NoSuchQueue {
                port: self.id,
                queue: index,
                count: self.queues,
            })?;
        if slot.swap(true, Ordering::AcqRel) {
            return Err(Error::QueueInUse {
                port: self.id,
                queue: index,
            });
        }
        Ok(Queue { port: self, index })
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // SAFETY: no Queue borrows the port (`&mut self`); the mbufs in its rings belong to
        // pools that outlive 'a, which is alive here. Errors cannot be reported from drop.
        unsafe {
            if self.started {
                sys::rte_eth_dev_stop(self.id);
            }
            sys::rte_eth_dev_close(self.id);
        }
    }
}

/// Rx/tx queue pair `index` of a started [`Port`], polled by one thread at a time.
///
/// Received mbufs are `Mbuf<'a>`; mbufs to send must be `Mbuf<'a>` too (from a pool that
/// outlives the port), since the driver may hold them until the port closes.
#[derive(Debug)]
pub struct Queue<'q, 'a> {
    port: &'q Port<'a>,
    index: u16,
}

impl<'q, 'a> Queue<'q, 'a> {
    /// The port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// The queue pair's index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// What an idle lcore can sleep on until frames arrive (see [`RxWait`]): the kernel
    /// sockets of a `net_af_xdp` or `net_af_packet` port; nothing for other drivers. It
    /// borrows the port, not the queue, so the queue can go to a device beside it.
    pub fn rx_wait(&self) -> std::io::Result<RxWait<'q>> {
        RxWait::for_driver(&self.port.driver)
    }

    /// Receives up to `max` frames, appended to `out`; returns how many.
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf<'a>>, max: u16) -> usize {
        out.reserve(usize::from(max));
        let len = out.len();
        // SAFETY: `out` has room for `max` more elements after `len`; Mbuf is a transparent
        // non-null `*mut rte_mbuf`; this thread holds the queue (`&mut self` on the only
        // Queue for this index) of a started port (the borrow keeps it started). The driver
        // writes `n` valid mbufs from the rx pool, now ours.
        unsafe {
            let slots = out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>();
            let n = sys::mmsc_rte_eth_rx_burst(self.port.id, self.index, slots, max);
            out.set_len(len + usize::from(n));
            usize::from(n)
        }
    }

    /// Sends frames from the front of `pkts`; the ones the driver took are removed (it frees
    /// them once sent), the rest stay in `pkts` in order. Returns how many were taken.
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf<'a>>) -> usize {
        let n = u16::try_from(pkts.len()).unwrap_or(u16::MAX);
        // SAFETY: the first `n` elements are mbufs we own, laid out as `*mut rte_mbuf`; this
        // thread holds the queue of a started port. The driver takes ownership of the first
        // `sent`, which are then removed from the Vec without being dropped (moved over by
        // the rest, whose ownership stays with the Vec).
        unsafe {
            let sent =
                sys::mmsc_rte_eth_tx_burst(self.port.id, self.index, pkts.as_mut_ptr().cast(), n);
            let sent = usize::from(sent);
            let rest = pkts.len() - sent;
            ptr::copy(pkts.as_ptr().add(sent), pkts.as_mut_ptr(), rest);
            pkts.set_len(rest);
            sent
        }
    }
}

impl Drop for Queue<'_, '_> {
    fn drop(&mut self) {
        self.port.taken[usize::from(self.index)].store(false, Ordering::Release);
    }
}
