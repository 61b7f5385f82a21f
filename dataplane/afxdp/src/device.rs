//! One AF_XDP socket with its own UMEM, as a smoltcp [`Device`].
//!
//! Frame ownership, which every `unsafe` block below relies on. The UMEM's frames are split
//! in two halves by index, fixed for the socket's life:
//!
//! - **RX frames** `0 .. n/2` circulate: fill ring → kernel (writes a packet) → RX ring →
//!   the device ([`XskRxToken`] lends the packet to smoltcp) → `recycle` → fill ring.
//! - **TX frames** `n/2 .. n` circulate: `free` → [`XskTxToken`] (smoltcp writes a packet)
//!   → TX ring → kernel (reads it) → completion ring → `free`.
//!
//! The device only makes a slice of a frame that it owns at that moment (an RX frame taken
//! off the RX ring and not yet given back, or a TX frame taken off `free` and not yet
//! submitted), for the length of one token's `consume`, and never of anything else in the
//! mapping. Addresses the kernel hands back are checked against their half and the frame
//! size before use; one outside is counted and left alone. The two halves never overlap, so
//! the RX token's shared slice and the TX token's mutable slice (smoltcp may hold both at
//! once, from [`Device::receive`]) never alias; there is at most one of each, since they
//! borrow the device mutably.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;
use std::time::Duration;

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;
use xdpilone::xdp::XdpDesc;
use xdpilone::{
    CompletionQueue, FillQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, Umem, UmemConfig,
};

use crate::error::{errno, is_permission};
use crate::umem::Area;
use crate::{AfXdpError, BindMode, Pages, XskConfig, XskMode};

/// RX descriptors taken off the ring at a time.
const RX_BATCH: usize = 64;
/// Used RX frames go back to the fill ring this many at a time (and at the end of every
/// receive burst).
const REFILL_BATCH: usize = 32;
/// `sendto` handles at most 32 frames per call in copy mode; a kick makes at most this
/// many calls while the kernel keeps taking frames.
const MAX_KICK_ROUNDS: u32 = 256;

/// Counters of one device (this process's view; the kernel's own are
/// [`XskDevice::kernel_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames handed to smoltcp.
    pub rx_frames: u64,
    /// Their octets.
    pub rx_bytes: u64,
    /// RX descriptors outside the RX half or their frame (never from a sound kernel):
    /// skipped.
    pub rx_invalid: u64,
    /// Frames submitted to the TX ring.
    pub tx_frames: u64,
    /// Their octets.
    pub tx_bytes: u64,
    /// Frames smoltcp wrote that could not be sent: no free TX frame (all in flight), or
    /// longer than a frame. smoltcp's TCP retransmits.
    pub tx_dropped: u64,
    /// Completions outside the TX half: skipped.
    pub completion_invalid: u64,
    /// `sendto` calls made to start transmission.
    pub tx_kicks: u64,
    /// `poll` calls made because the fill ring asked for a wakeup (zero-copy).
    pub fill_wakeups: u64,
}

/// The kernel's counters of the socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets dropped for a reason other than an invalid descriptor (e.g. RX ring full).
    pub rx_dropped: u64,
    /// Invalid descriptors in the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors in the TX ring.
    pub tx_invalid_descs: u64,
    /// Packets dropped because the RX ring was full (0 before Linux 5.9).
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when a packet came (0 before Linux 5.9).
    pub rx_fill_ring_empty_descs: u64,
    /// Times the TX ring was empty when the kernel looked (0 before Linux 5.9).
    pub tx_ring_empty_descs: u64,
}

impl KernelStats {
    /// The kernel's counters of the AF_XDP socket `socket` (`XDP_STATISTICS`): a device, or
    /// a duplicate of its descriptor (`as_fd().try_clone_to_owned()`) that another thread
    /// keeps to read them while the device runs elsewhere.
    pub fn of(socket: impl AsFd) -> io::Result<KernelStats> {
        let s = rustix::net::sockopt::xdp_statistics(socket)?;
        Ok(KernelStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full.unwrap_or(0),
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs.unwrap_or(0),
            tx_ring_empty_descs: s.tx_ring_empty_descs.unwrap_or(0),
        })
    }
}

/// Where the frames are: sizes and the two halves (see the module docs).
#[derive(Clone, Copy, Debug)]
struct Layout {
    frame_size: u64,
    /// Frames `0 .. rx_frames` receive, `rx_frames .. frames` transmit.
    rx_frames: u64,
    frames: u64,
}

impl Layout {
    /// The received packet of `d`: (its frame's offset, the packet's offset, its length),
    /// or, when it is not a packet in an RX frame, the offset of the RX frame it points
    /// into, if any.
    fn rx_packet(&self, d: &XdpDesc) -> Result<(u64, usize, usize), Option<u64>> {
        let index = d.addr / self.frame_size;
        if index >= self.rx_frames {
            return Err(None);
        }
        let frame = index * self.frame_size;
        let len = u64::from(d.len);
        if len == 0 || d.addr - frame + len > self.frame_size {
            return Err(Some(frame));
        }
        Ok((frame, d.addr as usize, d.len as usize))
    }

    /// The TX frame a completion gives back.
    fn tx_frame(&self, addr: u64) -> Option<u64> {
        let index = addr / self.frame_size;
        (self.rx_frames..self.frames)
            .contains(&index)
            .then_some(index * self.frame_size)
    }

    fn tx_frames(&self) -> usize {
        (self.frames - self.rx_frames) as usize
    }
}

/// The receiving half: RX ring, fill ring, and the frames on their way back.
struct RxHalf {
    ring: RingRx,
    fill: FillQueue,
    batch: [XdpDesc; RX_BATCH],
    next: usize,
    len: usize,
    /// Frames smoltcp is done with, for the fill ring (at most the RX half).
    recycle: Vec<u64>,
    recycle_max: usize,
    zero_copy: bool,
    frames: u64,
    bytes: u64,
    invalid: u64,
    wakeups: u64,
}

impl RxHalf {
    /// Gives the recycled frames back to the fill ring (as many as it takes).
    fn refill(&mut self) {
        if self.recycle.is_empty() {
            return;
        }
        let mut w = self.fill.fill(self.recycle.len() as u32);
        let take = (w.capacity() as usize).min(self.recycle.len());
        let start = self.recycle.len() - take;
        let put = w.insert(self.recycle[start..].iter().copied()) as usize;
        w.commit();
        // the first `put` of the tail went in (all of it: `take` fits the reservation)
        self.recycle.drain(start..start + put);
    }

    fn recycle(&mut self, frame: u64) {
        if self.recycle.len() < self.recycle_max {
            self.recycle.push(frame);
        } else {
            self.invalid += 1;
        }
    }

    /// The next RX descriptor, taking a batch off the ring when the last one is used up.
    fn next_desc(&mut self) -> Option<XdpDesc> {
        if self.next >= self.len {
            let mut r = self.ring.receive(RX_BATCH as u32);
            let mut n = 0;
            for slot in &mut self.batch {
                match r.read() {
                    Some(d) => {
                        *slot = d;
                        n += 1;
                    }
                    None => break,
                }
            }
            r.release();
            self.next = 0;
            self.len = n;
        }
        let d = self.batch.get(self.next).copied();
        if d.is_some() && self.next < self.len {
            self.next += 1;
            d
        } else {
            None
        }
    }

    /// Zero-copy drivers may need a poll to start filling again.
    fn wake_fill(&mut self) {
        if self.zero_copy && self.fill.needs_wakeup() {
            self.fill.wake();
            self.wakeups += 1;
        }
    }
}

/// The transmitting half: TX ring, completion ring, the free TX frames.
struct TxHalf {
    ring: RingTx,
    comp: CompletionQueue,
    free: Vec<u64>,
    /// Where smoltcp writes a frame that cannot be sent (see [`XskStats::tx_dropped`]).
    scratch: Vec<u8>,
    /// Frames submitted since the last kick.
    unkicked: u32,
    kick_batch: u32,
    zero_copy: bool,
    frames: u64,
    bytes: u64,
    dropped: u64,
    invalid: u64,
    kicks: u64,
}

impl TxHalf {
    /// Takes the completed frames back onto the free list.
    fn reap(&mut self, layout: &Layout) {
        let max = layout.tx_frames();
        let mut c = self.comp.complete(max as u32);
        while let Some(addr) = c.read() {
            match layout.tx_frame(addr) {
                Some(frame) if self.free.len() < max => self.free.push(frame),
                _ => self.invalid += 1,
            }
        }
        c.release();
    }

    /// Puts a written frame on the TX ring.
    fn submit(&mut self, frame: u64, len: usize) {
        let desc = XdpDesc {
            addr: frame,
            len: len as u32,
            options: 0,
        };
        let queued = {
            let mut w = self.ring.transmit(1);
            let queued = w.insert_once(desc);
            w.commit();
            queued
        };
        if queued {
            self.frames += 1;
            self.bytes += len as u64;
            self.unkicked += 1;
            if self.unkicked >= self.kick_batch {
                self.kick();
            }
        } else {
            // The ring has an entry for every TX frame: not reached.
            self.free.push(frame);
            self.dropped += 1;
        }
    }

    /// Starts the transmission of what is on the TX ring: in copy mode `sendto` until the
    /// kernel has taken everything (32 frames a call) or stops taking; in zero-copy mode one
    /// `sendto` when the driver asks for a wakeup.
    fn kick(&mut self) {
        self.unkicked = 0;
        let mut left = self.ring.pending();
        if left == 0 {
            return;
        }
        if self.zero_copy {
            if self.ring.needs_wakeup() {
                self.ring.wake();
                self.kicks += 1;
            }
            return;
        }
        for _ in 0..MAX_KICK_ROUNDS {
            self.ring.wake();
            self.kicks += 1;
            let now = self.ring.pending();
            if now == 0 || now >= left {
                break;
            }
            left = now;
        }
    }
}

/// One AF_XDP socket bound to an (interface, queue), with its own UMEM, fill, completion,
/// RX and TX rings; a smoltcp [`Device`] (Ethernet).
///
/// Put it in the XDP program's XSKMAP ([`XskDevice::register`]) to receive. Received frames
/// are lent to smoltcp in place (no copy) and go back to the fill ring after; smoltcp
/// writes frames to send straight into free UMEM frames. See the crate docs.
pub struct XskDevice {
    rx: RxHalf,
    tx: TxHalf,
    layout: Layout,
    iface: String,
    ifindex: u32,
    queue: u32,
    mode: XskMode,
    ethernet_mtu: usize,
    zero_copy_refusal: Option<io::Error>,
    /// Last: unmapped after the rings and the socket are gone.
    area: Area,
}

impl fmt::Debug for XskDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskDevice")
            .field("iface", &self.iface)
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .field("pages", &self.area.pages())
            .field("layout", &self.layout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// The device moves to its core's thread.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<XskDevice>();
};

/// A step of the socket set-up that failed: the bind (which another mode may pass), or
/// another one.
enum SetupError {
    Bind(io::Error),
    Other(&'static str, io::Error),
}

/// What a bound socket is made of.
struct Rings {
    rx: RingRx,
    tx: RingTx,
    fill: FillQueue,
    comp: CompletionQueue,
}

impl Rings {
    /// A socket on `area`'s first `config.umem_bytes()` octets, bound to `info`'s
    /// interface and queue with the need-wakeup flag, zero-copy or copy mode.
    fn bind(
        area: &Area,
        config: &XskConfig,
        info: &IfInfo,
        zero_copy: bool,
    ) -> Result<Rings, SetupError> {
        let other = |what| move |e: xdpilone::Errno| SetupError::Other(what, errno(&e));
        let ring = config.ring_size();
        let base = NonNull::new(area.base())
            .ok_or_else(|| SetupError::Other("map the UMEM", io::Error::other("null mapping")))?;
        // Area::map maps at least umem_bytes.
        let region = NonNull::slice_from_raw_parts(base, config.umem_bytes().min(area.len()));
        let umem_config = UmemConfig {
            fill_size: ring,
            complete_size: ring,
            frame_size: config.frame_size.bytes() as u32,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: `region` lies within the mapping of `area` (mmap: page aligned, at most
        // isize::MAX long), which the device keeps until after the socket and every ring
        // made from this UMEM are dropped (XskDevice drops `area` last; on an error here
        // they are dropped before `area` goes out of scope in `open`). This process touches
        // the region only through frames the device owns (see the module docs).
        let umem = unsafe { Umem::new(umem_config, region) }.map_err(other("register the UMEM"))?;
        let socket = Socket::with_shared(info, &umem).map_err(other("create the socket"))?;
        let device = umem
            .fq_cq(&socket)
            .map_err(other("create the fill and completion rings"))?;
        let mode = if zero_copy {
            SocketConfig::XDP_BIND_ZEROCOPY
        } else {
            SocketConfig::XDP_BIND_COPY
        };
        let user = umem
            .rx_tx(
                &socket,
                &SocketConfig {
                    rx_size: NonZeroU32::new(ring),
                    tx_size: NonZeroU32::new(ring),
                    bind_flags: mode | SocketConfig::XDP_BIND_NEED_WAKEUP,
                },
            )
            .map_err(other("create the RX and TX rings"))?;
        let rx = user.map_rx().map_err(other("map the RX ring"))?;
        let tx = user.map_tx().map_err(other("map the TX ring"))?;
        umem.bind(&user).map_err(|e| SetupError::Bind(errno(&e)))?;
        let (fill, comp) = device.into_parts();
        Ok(Rings { rx, tx, fill, comp })
    }
}

impl XskDevice {
    /// Opens an AF_XDP socket on `queue` of `iface` (in the calling thread's network
    /// namespace) with a new UMEM shaped by `config`: maps the UMEM (hugepages first unless
    /// [`HugePages::Off`](crate::HugePages::Off)), creates the socket and its four rings,
    /// binds it (zero-copy first unless [`BindMode::Copy`]), and puts the RX half of the
    /// frames in the fill ring. Frames start arriving once the socket is in the XDP
    /// program's XSKMAP ([`register`](Self::register)).
    pub fn open(iface: &str, queue: u32, config: &XskConfig) -> Result<XskDevice, AfXdpError> {
        config.validate()?;
        let not_found = || AfXdpError::InterfaceNotFound {
            name: iface.to_owned(),
        };
        let name = CString::new(iface).map_err(|_| not_found())?;
        let mut info = IfInfo::invalid();
        info.from_name(&name).map_err(|e| match errno(&e) {
            e if e.raw_os_error() == Some(19) || e.raw_os_error() == Some(22) => not_found(),
            source => AfXdpError::Socket {
                iface: iface.to_owned(),
                queue,
                what: "look up the interface",
                source,
            },
        })?;
        info.set_queue(queue);
        let area = Area::map(config.umem_bytes(), config.hugepages)?;

        let attempts: &[bool] = match config.bind {
            BindMode::Auto => &[true, false],
            BindMode::ZeroCopy => &[true],
            BindMode::Copy => &[false],
        };
        let (mut zero_copy_error, mut copy_error) = (None, None);
        let mut bound = None;
        for &zero_copy in attempts {
            match Rings::bind(&area, config, &info, zero_copy) {
                Ok(rings) => {
                    bound = Some((rings, zero_copy));
                    break;
                }
                Err(SetupError::Bind(e)) if is_permission(&e) => {
                    return Err(AfXdpError::Permission {
                        what: "bind the AF_XDP socket",
                        source: e,
                    });
                }
                Err(SetupError::Bind(e)) if zero_copy => zero_copy_error = Some(e),
                Err(SetupError::Bind(e)) => copy_error = Some(e),
                Err(SetupError::Other(what, source)) if is_permission(&source) => {
                    return Err(AfXdpError::Permission { what, source });
                }
                Err(SetupError::Other(what, source)) => {
                    return Err(AfXdpError::Socket {
                        iface: iface.to_owned(),
                        queue,
                        what,
                        source,
                    });
                }
            }
        }
        let Some((rings, zero_copy)) = bound else {
            return Err(AfXdpError::Bind {
                iface: iface.to_owned(),
                queue,
                zero_copy: zero_copy_error,
                copy: copy_error,
            });
        };

        let frame_size = config.frame_size.bytes() as u64;
        let half = u64::from(config.ring_size());
        let layout = Layout {
            frame_size,
            rx_frames: half,
            frames: 2 * half,
        };
        let rx_max = half as usize;
        let mut rx = RxHalf {
            ring: rings.rx,
            fill: rings.fill,
            batch: [XdpDesc::default(); RX_BATCH],
            next: 0,
            len: 0,
            recycle: (0..half).map(|i| i * frame_size).collect(),
            recycle_max: rx_max,
            zero_copy,
            frames: 0,
            bytes: 0,
            invalid: 0,
            wakeups: 0,
        };
        rx.refill();
        let tx = TxHalf {
            ring: rings.tx,
            comp: rings.comp,
            free: (half..2 * half).rev().map(|i| i * frame_size).collect(),
            scratch: Vec::new(),
            unkicked: 0,
            kick_batch: config.tx_kick_batch,
            zero_copy,
            frames: 0,
            bytes: 0,
            dropped: 0,
            invalid: 0,
            kicks: 0,
        };
        Ok(XskDevice {
            rx,
            tx,
            layout,
            iface: iface.to_owned(),
            ifindex: info.ifindex(),
            queue,
            mode: if zero_copy {
                XskMode::ZeroCopy
            } else {
                XskMode::Copy
            },
            ethernet_mtu: config.ethernet_mtu(),
            zero_copy_refusal: if zero_copy { None } else { zero_copy_error },
            area,
        })
    }

    /// The interface.
    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// Its index (in the namespace the device was opened in).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Zero-copy or copy mode.
    pub fn mode(&self) -> XskMode {
        self.mode
    }

    /// Why zero-copy was not used, when [`BindMode::Auto`] tried it and the kernel refused
    /// (EOPNOTSUPP: the driver has no AF_XDP zero-copy).
    pub fn zero_copy_refusal(&self) -> Option<&io::Error> {
        self.zero_copy_refusal.as_ref()
    }

    /// Hugepages or normal pages under the UMEM.
    pub fn pages(&self) -> Pages {
        self.area.pages()
    }

    /// Why hugepages were not used, when [`HugePages::Auto`](crate::HugePages::Auto) tried
    /// them and mmap refused (ENOMEM: not enough free in `vm.nr_hugepages`).
    pub fn hugepage_refusal(&self) -> Option<&io::Error> {
        self.area.huge_refusal()
    }

    /// Octets of one frame.
    pub fn frame_size(&self) -> usize {
        self.layout.frame_size as usize
    }

    /// Frames in the UMEM.
    pub fn frame_count(&self) -> usize {
        self.layout.frames as usize
    }

    /// Octets mapped for the UMEM (rounded up to the page size).
    pub fn umem_bytes(&self) -> usize {
        self.area.len()
    }

    /// One line for logs: interface, queue, mode, pages, UMEM shape, and why zero-copy or
    /// hugepages were not used.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} (ifindex {}) queue {}: {} mode",
            self.iface,
            self.ifindex,
            self.queue,
            self.mode.name()
        );
        if let Some(e) = &self.zero_copy_refusal {
            s += &format!(" (zero-copy refused: {e})");
        }
        s += &format!(
            ", UMEM {} frames of {} octets ({} KiB) on {}",
            self.layout.frames,
            self.layout.frame_size,
            self.area.len() / 1024,
            self.area.pages().name()
        );
        if let Some(e) = self.area.huge_refusal() {
            s += &format!(" (hugepages refused: {e})");
        }
        s
    }

    /// The device's counters.
    pub fn stats(&self) -> XskStats {
        XskStats {
            rx_frames: self.rx.frames,
            rx_bytes: self.rx.bytes,
            rx_invalid: self.rx.invalid,
            tx_frames: self.tx.frames,
            tx_bytes: self.tx.bytes,
            tx_dropped: self.tx.dropped,
            completion_invalid: self.tx.invalid,
            tx_kicks: self.tx.kicks,
            fill_wakeups: self.rx.wakeups,
        }
    }

    /// The kernel's counters of the socket.
    pub fn kernel_stats(&self) -> io::Result<KernelStats> {
        KernelStats::of(self)
    }

    /// Puts this socket in `xdp`'s XSKMAP at its queue: the program's redirects of that
    /// queue come here.
    pub fn register(&self, xdp: &mut mmsc_ebpf::XdpProgram) -> Result<(), mmsc_ebpf::EbpfError> {
        xdp.register_xsk(self.queue, self)
    }

    /// Hands everything written to the kernel (see [`XskConfig::tx_kick_batch`]), takes
    /// completed TX frames back and gives used RX frames to the fill ring. smoltcp's
    /// polls do this on their own at the end of each receive burst; call it after a poll
    /// when nothing else will touch the device for a while.
    pub fn flush(&mut self) {
        self.tx.kick();
        self.tx.reap(&self.layout);
        self.rx.refill();
    }

    /// Waits up to `timeout` for a received frame (poll(2) on the socket; in copy mode this
    /// also pushes out pending transmissions). True when one is there.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut fds = [rustix::event::PollFd::new(
            self,
            rustix::event::PollFlags::IN,
        )];
        let n = rustix::event::poll(&mut fds, Some(&timespec(timeout)))?;
        Ok(n > 0)
    }

    /// [`wait`](Self::wait), ended early also when `doorbell` becomes readable: a socket or
    /// eventfd another thread writes to to wake the thread that polls this device (the
    /// caller drains it). True when a frame or the doorbell is there.
    pub fn wait_or(&self, doorbell: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        let mut fds = [
            rustix::event::PollFd::new(self, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&doorbell, rustix::event::PollFlags::IN),
        ];
        let n = rustix::event::poll(&mut fds, Some(&timespec(timeout)))?;
        Ok(n > 0)
    }
}

/// `timeout` as poll(2) takes it.
fn timespec(timeout: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    }
}

impl AsFd for XskDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor is the socket's, which `self.rx.ring` (and the other rings,
        // through xdpilone's reference-counted SocketFd) keeps open until the device is
        // dropped; the borrow cannot outlive `&self`.
        unsafe { BorrowedFd::borrow_raw(self.rx.ring.as_raw_fd()) }
    }
}

impl Drop for XskDevice {
    fn drop(&mut self) {
        // what smoltcp wrote last goes out before the socket closes
        self.tx.kick();
    }
}

impl Device for XskDevice {
    type RxToken<'a> = XskRxToken<'a>;
    type TxToken<'a> = XskTxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(XskRxToken<'_>, XskTxToken<'_>)> {
        if self.rx.recycle.len() >= REFILL_BATCH {
            self.rx.refill();
        }
        let layout = self.layout;
        // At most a ring's worth of invalid descriptors is skipped per call.
        for _ in 0..=layout.rx_frames {
            let Some(desc) = self.rx.next_desc() else {
                // the end of a burst: the used frames go back to the kernel, and what
                // smoltcp answered goes out now
                self.rx.refill();
                self.tx.kick();
                self.rx.wake_fill();
                return None;
            };
            match layout.rx_packet(&desc) {
                Ok((frame, data, len)) => {
                    let area = &self.area;
                    return Some((
                        XskRxToken {
                            area,
                            rx: &mut self.rx,
                            frame,
                            data,
                            len,
                        },
                        XskTxToken {
                            area,
                            tx: &mut self.tx,
                            layout,
                        },
                    ));
                }
                Err(frame) => {
                    self.rx.invalid += 1;
                    if let Some(frame) = frame {
                        self.rx.recycle(frame);
                    }
                }
            }
        }
        None
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<XskTxToken<'_>> {
        if self.tx.free.is_empty() {
            self.tx.kick();
            self.tx.reap(&self.layout);
            if self.tx.free.is_empty() {
                return None;
            }
        }
        Some(XskTxToken {
            area: &self.area,
            tx: &mut self.tx,
            layout: self.layout,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.ethernet_mtu;
        caps.max_burst_size = None;
        caps
    }
}

/// A received frame, in its UMEM frame; back to the fill ring when the token is consumed
/// (or dropped).
pub struct XskRxToken<'a> {
    area: &'a Area,
    rx: &'a mut RxHalf,
    /// Offset of its frame in the UMEM.
    frame: u64,
    /// Offset of the packet in the UMEM, and its length (checked by Layout::rx_packet).
    data: usize,
    len: usize,
}

impl fmt::Debug for XskRxToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskRxToken")
            .field("frame", &self.frame)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl RxToken for XskRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // SAFETY: `data .. data + len` lies within one RX frame (Layout::rx_packet checked
        // the frame index against the RX half and the packet against the frame size), and
        // the RX half lies within the mapping. The device owns that frame: the kernel put
        // it on the RX ring and it is not in the fill ring until this token is dropped, so
        // nothing writes to it meanwhile; no other slice of it exists (one RX token at a
        // time; TX slices are of TX frames only).
        let packet =
            unsafe { std::slice::from_raw_parts(self.area.base().add(self.data), self.len) };
        let r = f(packet);
        self.rx.frames += 1;
        self.rx.bytes += self.len as u64;
        r
    }
}

impl Drop for XskRxToken<'_> {
    fn drop(&mut self) {
        self.rx.recycle(self.frame);
    }
}

/// Room to send one frame: a free TX frame, taken when smoltcp writes.
pub struct XskTxToken<'a> {
    area: &'a Area,
    tx: &'a mut TxHalf,
    layout: Layout,
}

impl fmt::Debug for XskTxToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XskTxToken")
            .field("free", &self.tx.free.len())
            .finish_non_exhaustive()
    }
}

impl TxToken for XskTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        if tx.free.is_empty() {
            tx.reap(&self.layout);
        }
        let frame = if len as u64 <= self.layout.frame_size {
            tx.free.pop()
        } else {
            None
        };
        let Some(frame) = frame else {
            // No room: smoltcp still gets a buffer to write (len is bounded by the MTU it
            // was given), and the frame is counted as dropped.
            tx.dropped += 1;
            tx.scratch.clear();
            tx.scratch.resize(len, 0);
            return f(&mut tx.scratch);
        };
        // SAFETY: `frame` is the offset of a TX frame (free holds only offsets that
        // Layout::tx_frame accepted, or the initial TX half), which lies within the mapping,
        // and len <= frame size. The device owns it: it was on the free list, so it is in
        // no ring and the kernel does not read it; no other slice of it exists (one TX
        // token at a time; RX slices are of RX frames only).
        let buf =
            unsafe { std::slice::from_raw_parts_mut(self.area.base().add(frame as usize), len) };
        let r = f(buf);
        tx.submit(frame, len);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_checked_against_their_half_and_frame() {
        let l = Layout {
            frame_size: 2048,
            rx_frames: 4,
            frames: 8,
        };
        let d = |addr, len| XdpDesc {
            addr,
            len,
            options: 0,
        };
        assert_eq!(l.rx_packet(&d(256, 60)), Ok((0, 256, 60)));
        assert_eq!(
            l.rx_packet(&d(3 * 2048 + 256, 1792)),
            Ok((6144, 6400, 1792))
        );
        // past the frame, empty, in the TX half, past the UMEM
        assert_eq!(l.rx_packet(&d(3 * 2048 + 256, 1793)), Err(Some(6144)));
        assert_eq!(l.rx_packet(&d(256, 0)), Err(Some(0)));
        assert_eq!(l.rx_packet(&d(4 * 2048 + 256, 60)), Err(None));
        assert_eq!(l.rx_packet(&d(u64::MAX, u32::MAX)), Err(None));
        assert_eq!(l.tx_frame(4 * 2048), Some(8192));
        assert_eq!(l.tx_frame(7 * 2048 + 5), Some(7 * 2048));
        assert_eq!(l.tx_frame(3 * 2048), None);
        assert_eq!(l.tx_frame(8 * 2048), None);
        assert_eq!(l.tx_frames(), 4);
    }
}
