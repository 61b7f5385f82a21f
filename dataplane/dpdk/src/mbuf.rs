//! Owned packet buffers.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::slice;

use dpdk_sys as sys;

use crate::ether::EtherHeader;

/// One packet buffer of a [`Mempool`](crate::Mempool), owned: returned to its pool on drop.
///
/// `'a` is how long its pool lives. The bytes are the first segment's (`data_len`); ports are
/// configured without scatter, so a received frame is one segment. [`Mbuf::data`] and
/// [`Mbuf::data_mut`] are views of DPDK's buffer, not copies.
///
/// A `Vec<Mbuf>` has the layout of an array of `struct rte_mbuf *` (what bursts take).
#[repr(transparent)]
pub struct Mbuf<'a> {
    ptr: NonNull<sys::rte_mbuf>,
    _pool: PhantomData<&'a ()>,
}

// SAFETY: an Mbuf is the only owner of its buffer (never cloned: reference count 1), and
// freeing it from another thread is allowed (the pool is multi-producer).
unsafe impl Send for Mbuf<'_> {}
// SAFETY: `&Mbuf` only reads the buffer.
unsafe impl Sync for Mbuf<'_> {}

const _: () = assert!(size_of::<Mbuf<'static>>() == size_of::<*mut sys::rte_mbuf>());

impl Mbuf<'_> {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` is a valid mbuf owned by the caller (reference count 1, not indirect), whose
    /// pool lives at least as long as the returned `Mbuf`'s lifetime.
    pub unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Self {
        Mbuf {
            ptr,
            _pool: PhantomData,
        }
    }

    /// Gives up ownership: the caller frees the mbuf or hands it to DPDK.
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    /// The raw mbuf, still owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.ptr.as_ptr()
    }

    /// The bytes of the first segment.
    pub fn data(&self) -> &[u8] {
        // SAFETY: mtod points at data_len initialised bytes inside the mbuf's buffer, which
        // we own; the slice borrows self, so the buffer is neither freed nor changed under it.
        unsafe {
            let p = sys::mmsc_rte_pktmbuf_mtod(self.ptr.as_ptr()).cast::<u8>();
            slice::from_raw_parts(p, self.len())
        }
    }

    /// The bytes of the first segment, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: as in `data`; `&mut self` makes this the only view, and an Mbuf is never
        // shared with another owner (reference count 1).
        unsafe {
            let p = sys::mmsc_rte_pktmbuf_mtod(self.ptr.as_ptr()).cast::<u8>();
            slice::from_raw_parts_mut(p, len)
        }
    }

    /// Bytes in the first segment (`data_len`).
    pub fn len(&self) -> usize {
        // SAFETY: reads a field of an mbuf we own.
        usize::from(unsafe { sys::mmsc_rte_pktmbuf_data_len(self.ptr.as_ptr()) })
    }

    /// Whether the first segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet, every segment (`pkt_len`).
    pub fn pkt_len(&self) -> usize {
        // SAFETY: reads a field of an mbuf we own.
        let n = unsafe { sys::mmsc_rte_pktmbuf_pkt_len(self.ptr.as_ptr()) };
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// How many segments the packet has (1 unless the port scatters).
    pub fn segments(&self) -> u16 {
        // SAFETY: reads a field of an mbuf we own.
        unsafe { sys::mmsc_rte_pktmbuf_nb_segs(self.ptr.as_ptr()) }
    }

    /// Free bytes in front of the data.
    pub fn headroom(&self) -> usize {
        // SAFETY: reads fields of an mbuf we own.
        usize::from(unsafe { sys::mmsc_rte_pktmbuf_headroom(self.ptr.as_ptr()) })
    }

    /// Free bytes after the data (in the last segment).
    pub fn tailroom(&self) -> usize {
        // SAFETY: reads fields of an mbuf we own.
        usize::from(unsafe { sys::mmsc_rte_pktmbuf_tailroom(self.ptr.as_ptr()) })
    }

    /// Grows the data by `len` bytes at the end and returns them (uninitialised contents of
    /// the buffer, zeroed here so the slice is defined); `None` if the tailroom is smaller.
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let n = u16::try_from(len).ok()?;
        if self.segments() != 1 {
            return None;
        }
        // SAFETY: an mbuf we own; rte_pktmbuf_append checks the tailroom.
        let p = unsafe { sys::mmsc_rte_pktmbuf_append(self.ptr.as_ptr(), n) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: DPDK reserved `len` bytes at `p` inside our buffer; they may hold old packet
        // bytes, so they are written before being exposed as a slice.
        unsafe {
            p.as_ptr().write_bytes(0, len);
            Some(slice::from_raw_parts_mut(p.as_ptr(), len))
        }
    }

    /// Grows the data by `len` bytes at the front (into the headroom) and returns them,
    /// zeroed; `None` if the headroom is smaller.
    pub fn prepend(&mut self, len: usize) -> Option<&mut [u8]> {
        let n = u16::try_from(len).ok()?;
        // SAFETY: an mbuf we own; rte_pktmbuf_prepend checks the headroom.
        let p = unsafe { sys::mmsc_rte_pktmbuf_prepend(self.ptr.as_ptr(), n) };
        let p = NonNull::new(p.cast::<u8>())?;
        // SAFETY: as in `append`: `len` bytes of our buffer at `p`, zeroed before use.
        unsafe {
            p.as_ptr().write_bytes(0, len);
            Some(slice::from_raw_parts_mut(p.as_ptr(), len))
        }
    }

    /// Removes `len` bytes from the front (e.g. a header); false if the first segment is
    /// shorter.
    pub fn adj(&mut self, len: usize) -> bool {
        let Ok(n) = u16::try_from(len) else {
            return false;
        };
        // SAFETY: an mbuf we own; rte_pktmbuf_adj checks the length.
        !unsafe { sys::mmsc_rte_pktmbuf_adj(self.ptr.as_ptr(), n) }.is_null()
    }

    /// Removes `len` bytes from the end; false if the last segment is shorter.
    pub fn trim(&mut self, len: usize) -> bool {
        let Ok(n) = u16::try_from(len) else {
            return false;
        };
        // SAFETY: an mbuf we own; rte_pktmbuf_trim checks the length.
        unsafe { sys::mmsc_rte_pktmbuf_trim(self.ptr.as_ptr(), n) == 0 }
    }

    /// The RSS hash the NIC computed (0 when the port does not deliver one).
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reads a field of an mbuf we own.
        unsafe { sys::mmsc_rte_mbuf_rss_hash(self.ptr.as_ptr()) }
    }

    /// The port the mbuf was received on.
    pub fn port(&self) -> u16 {
        // SAFETY: reads a field of an mbuf we own.
        unsafe { sys::mmsc_rte_mbuf_port(self.ptr.as_ptr()) }
    }

    /// The Ethernet header at the start of the data, viewed in place; `None` if the data is
    /// shorter than 14 bytes.
    pub fn ether_header(&self) -> Option<&EtherHeader> {
        EtherHeader::view(self.data())
    }
}

impl Drop for Mbuf<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and its pool is alive ('a); nobody uses it afterwards.
        unsafe { sys::mmsc_rte_pktmbuf_free(self.ptr.as_ptr()) };
    }
}

impl fmt::Debug for Mbuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("segments", &self.segments())
            .finish()
    }
}
