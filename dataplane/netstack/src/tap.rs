//! A smoltcp device over the backend's device, for one poll: counts the frames that go in and
//! out (so that a poll knows whether it did work) and, when a classifier is configured, hides
//! the frames it drops from smoltcp.

use std::cell::{Cell, RefCell};

use mmsc_classify::{Action, Classifier};
use smoltcp::phy::{Device, DeviceCapabilities, PacketMeta, RxToken, TxToken};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress};

use crate::neigh::source_of;

/// Most sources gleaned in one poll.
const MAX_GLEANED: usize = 64;

/// Frames seen during one poll.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) rx: Cell<u64>,
    pub(crate) tx: Cell<u64>,
    pub(crate) filtered: Cell<u64>,
    /// Sources of the frames received (consecutive repeats left out).
    pub(crate) gleaned: RefCell<Vec<(IpAddress, EthernetAddress)>>,
    last_gleaned: Cell<Option<(IpAddress, EthernetAddress)>>,
}

impl Counts {
    fn glean(&self, frame: &[u8]) {
        if let Some(src) = source_of(frame)
            && self.last_gleaned.get() != Some(src)
        {
            self.last_gleaned.set(Some(src));
            let mut g = self.gleaned.borrow_mut();
            if g.len() < MAX_GLEANED {
                g.push(src);
            }
        }
    }
}

fn bump(c: &Cell<u64>) {
    c.set(c.get().wrapping_add(1));
}

pub(crate) struct Tap<'d, D> {
    pub(crate) inner: &'d mut D,
    pub(crate) filter: Option<&'d mut Classifier>,
    pub(crate) counts: &'d Counts,
    /// The poll's time, for the classifier's SYN buckets (only differences matter).
    pub(crate) now_ns: u64,
    /// Record the sources of the frames received.
    pub(crate) glean: bool,
}

pub(crate) struct TapRx<'a, T> {
    inner: T,
    filter: Option<&'a mut Classifier>,
    counts: &'a Counts,
    now_ns: u64,
    glean: bool,
}

pub(crate) struct TapTx<'a, T> {
    inner: T,
    counts: &'a Counts,
}

impl<'d, D: Device> Device for Tap<'d, D> {
    type RxToken<'a>
        = TapRx<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = TapTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(timestamp)?;
        let counts = self.counts;
        Some((
            TapRx {
                inner: rx,
                filter: self.filter.as_deref_mut(),
                counts,
                now_ns: self.now_ns,
                glean: self.glean,
            },
            TapTx { inner: tx, counts },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(timestamp)?;
        Some(TapTx {
            inner: tx,
            counts: self.counts,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<T: RxToken> RxToken for TapRx<'_, T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let TapRx {
            inner,
            filter,
            counts,
            now_ns,
            glean,
        } = self;
        bump(&counts.rx);
        inner.consume(|frame| {
            if let Some(c) = filter
                && matches!(c.classify(frame, now_ns).action, Action::Drop(_))
            {
                bump(&counts.filtered);
                // smoltcp takes an empty frame as processed and ignores it.
                return f(&[]);
            }
            if glean {
                counts.glean(frame);
            }
            f(frame)
        })
    }

    fn meta(&self) -> PacketMeta {
        self.inner.meta()
    }
}

impl<T: TxToken> TxToken for TapTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        bump(&self.counts.tx);
        self.inner.consume(len, f)
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.inner.set_meta(meta);
    }
}
