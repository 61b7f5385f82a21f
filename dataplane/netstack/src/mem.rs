//! In-memory Ethernet ports, for tests and benchmarks that run a [`Stack`](crate::Stack)
//! without a NIC: a [`MemPort`] is a smoltcp device whose frames sit in two queues, and
//! [`exchange`] carries frames between two ports as a cable would (or a test reads and writes
//! the queues itself, to inject crafted frames and look at the answers).

use std::collections::VecDeque;

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

/// An Ethernet port in memory.
#[derive(Debug)]
pub struct MemPort {
    /// Frames waiting to be received, oldest first.
    pub rx: VecDeque<Vec<u8>>,
    /// Frames sent, oldest first.
    pub tx: VecDeque<Vec<u8>>,
    /// Most frames `tx` holds: beyond, the port refuses to transmit (a full TX ring).
    pub tx_capacity: usize,
    mtu: usize,
}

impl Default for MemPort {
    fn default() -> Self {
        MemPort::new()
    }
}

impl MemPort {
    /// A port with a 1514-octet MTU (1500 of IP) and room for 4096 frames to send.
    pub fn new() -> Self {
        MemPort::with_mtu(1514)
    }

    /// A port with this Ethernet MTU (header included).
    pub fn with_mtu(mtu: usize) -> Self {
        MemPort {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            tx_capacity: 4096,
            mtu,
        }
    }
}

/// Move every frame `a` sent to `b`'s receive queue and the other way round; the number of
/// frames moved.
pub fn exchange(a: &mut MemPort, b: &mut MemPort) -> usize {
    let n = a.tx.len() + b.tx.len();
    b.rx.extend(a.tx.drain(..));
    a.rx.extend(b.tx.drain(..));
    n
}

/// A received frame.
#[derive(Debug)]
pub struct MemRx(Vec<u8>);

/// Room for a frame to send.
#[derive(Debug)]
pub struct MemTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl RxToken for MemRx {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl TxToken for MemTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push_back(frame);
        r
    }
}

impl Device for MemPort {
    type RxToken<'a>
        = MemRx
    where
        Self: 'a;
    type TxToken<'a>
        = MemTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.tx.len() >= self.tx_capacity {
            return None;
        }
        let frame = self.rx.pop_front()?;
        Some((MemRx(frame), MemTx(&mut self.tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if self.tx.len() >= self.tx_capacity {
            return None;
        }
        Some(MemTx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}
