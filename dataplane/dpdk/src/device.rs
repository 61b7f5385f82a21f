//! A smoltcp device over one queue pair of a DPDK port.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::mbuf::Mbuf;
use crate::mempool::Mempool;
use crate::port::Queue;

/// Frames taken per rx burst and sent per tx burst by default.
const DEFAULT_BURST: u16 = 32;

/// Counters of a [`DpdkDevice`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Frames received and handed to smoltcp.
    pub rx_frames: u64,
    /// Received frames dropped because they spanned several mbufs.
    pub rx_dropped_segmented: u64,
    /// Frames smoltcp wrote that the driver accepted.
    pub tx_frames: u64,
    /// Frames smoltcp wrote that were dropped: no free mbuf, or the tx queue stayed full.
    pub tx_dropped: u64,
}

/// [`smoltcp::phy::Device`] over one rx/tx queue pair of a started port.
///
/// Receive: frames come in bursts from the queue; each rx token lends smoltcp the bytes of
/// one mbuf (no copy) and frees the mbuf afterwards. Transmit: each tx token allocates an
/// mbuf from the device's pool and lets smoltcp write the frame into it; written frames are
/// queued and go out as one burst when `burst` of them are pending, at the next
/// [`receive`](phy::Device::receive) that finds the rx batch empty, or on [`flush`](Self::flush)
/// — call it after each `Interface::poll`.
#[derive(Debug)]
pub struct DpdkDevice<'q, 'a> {
    /// Received frames not yet handed out, last to hand out first.
    rx: Vec<Mbuf<'a>>,
    io: TxPath<'q, 'a>,
    caps: DeviceCapabilities,
}

/// What a tx token needs: the queue (to burst), the pool, the pending frames.
#[derive(Debug)]
struct TxPath<'q, 'a> {
    queue: Queue<'q, 'a>,
    pool: &'a Mempool<'a>,
    pending: Vec<Mbuf<'a>>,
    burst: u16,
    stats: DeviceStats,
    /// Where smoltcp writes a frame that has no mbuf (pool empty): it is then dropped.
    scratch: Vec<u8>,
}

impl<'q, 'a> DpdkDevice<'q, 'a> {
    /// A device over `queue` that allocates the frames it sends from `tx_pool`. `mtu` is the
    /// port's IP MTU (smoltcp is told the Ethernet frame size: `mtu` + 14, capped by the
    /// pool's buffers).
    pub fn new(queue: Queue<'q, 'a>, tx_pool: &'a Mempool<'a>, mtu: u16) -> Self {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = (usize::from(mtu) + 14).min(tx_pool.frame_capacity());
        let burst = DEFAULT_BURST;
        DpdkDevice {
            rx: Vec::with_capacity(usize::from(burst)),
            io: TxPath {
                queue,
                pool: tx_pool,
                pending: Vec::with_capacity(usize::from(burst) * 4),
                burst,
                stats: DeviceStats::default(),
                scratch: Vec::new(),
            },
            caps,
        }
    }

    /// Frames per rx burst and per tx burst (1..=512; default 32).
    pub fn set_burst(&mut self, burst: u16) {
        self.io.burst = burst.clamp(1, 512);
    }

    /// The capabilities smoltcp is told (checksum offloads can be declared here).
    pub fn capabilities_mut(&mut self) -> &mut DeviceCapabilities {
        &mut self.caps
    }

    /// Sends the frames smoltcp wrote that are still pending. Frames the queue does not take
    /// stay pending, up to four bursts; beyond that the oldest are dropped.
    pub fn flush(&mut self) {
        self.io.flush();
    }

    /// Frames written and not yet sent.
    pub fn pending(&self) -> usize {
        self.io.pending.len()
    }

    /// The device's counters.
    pub fn stats(&self) -> DeviceStats {
        self.io.stats
    }

    /// The queue pair under the device.
    pub fn queue(&self) -> &Queue<'q, 'a> {
        &self.io.queue
    }

    /// Sends what is pending and gives the queue back.
    pub fn into_queue(mut self) -> Queue<'q, 'a> {
        self.io.flush();
        self.io.queue
    }
}

impl TxPath<'_, '_> {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let sent = self.queue.tx_burst(&mut self.pending);
        self.stats.tx_frames += sent as u64;
        let cap = usize::from(self.burst) * 4;
        if self.pending.len() > cap {
            let excess = self.pending.len() - cap;
            self.stats.tx_dropped += excess as u64;
            self.pending.drain(..excess);
        }
    }
}

impl<'q, 'a> phy::Device for DpdkDevice<'q, 'a> {
    type RxToken<'d>
        = DpdkRxToken<'a>
    where
        Self: 'd;
    type TxToken<'d>
        = DpdkTxToken<'d, 'q, 'a>
    where
        Self: 'd;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let mbuf = loop {
            if self.rx.is_empty() {
                self.io.flush();
                if self.io.queue.rx_burst(&mut self.rx, self.io.burst) == 0 {
                    return None;
                }
                self.rx.reverse();
            }
            let mbuf = self.rx.pop()?;
            if mbuf.segments() == 1 {
                break mbuf;
            }
            // The port is configured without scatter; a chained frame would reach smoltcp
            // cut to its first segment, so it is dropped instead.
            self.io.stats.rx_dropped_segmented += 1;
        };
        self.io.stats.rx_frames += 1;
        Some((DpdkRxToken { mbuf }, DpdkTxToken { io: &mut self.io }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(DpdkTxToken { io: &mut self.io })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

/// One received frame, lent to smoltcp in place.
#[derive(Debug)]
pub struct DpdkRxToken<'a> {
    mbuf: Mbuf<'a>,
}

impl phy::RxToken for DpdkRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.mbuf.data())
        // The mbuf returns to its pool here.
    }
}

/// The right to send one frame: smoltcp writes it straight into a fresh mbuf.
#[derive(Debug)]
pub struct DpdkTxToken<'d, 'q, 'a> {
    io: &'d mut TxPath<'q, 'a>,
}

impl phy::TxToken for DpdkTxToken<'_, '_, '_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let io = self.io;
        let Some(mut mbuf) = io.pool.alloc() else {
            return io.drop_frame(len, f);
        };
        let Some(buf) = mbuf.append(len) else {
            return io.drop_frame(len, f);
        };
        let r = f(buf);
        io.pending.push(mbuf);
        if io.pending.len() >= usize::from(io.burst) {
            io.flush();
        }
        r
    }
}

impl TxPath<'_, '_> {
    /// No mbuf for this frame (pool exhausted, or a frame beyond the buffer): smoltcp still
    /// gets a buffer to write into, and the frame is dropped.
    fn drop_frame<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> R {
        self.scratch.clear();
        self.scratch.resize(len, 0);
        self.stats.tx_dropped += 1;
        f(&mut self.scratch)
    }
}
