//! Pools of packet buffers.

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;

use dpdk_sys as sys;

use crate::eal::Eal;
use crate::error::{Errno, Error};
use crate::mbuf::Mbuf;

/// Sizes of a [`Mempool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolConfig {
    /// How many mbufs (best as 2^n - 1). Enough for every rx and tx ring of the ports using
    /// the pool, plus each lcore's cache, plus what the application holds at once.
    pub mbufs: u32,
    /// Mbufs kept per lcore to avoid the shared ring (0 for none; at most 512).
    pub cache_size: u32,
    /// Bytes of each mbuf's buffer, headroom (`RTE_PKTMBUF_HEADROOM`, 128) included.
    pub data_room: u16,
    /// NUMA socket to allocate on; `None` for any.
    pub socket: Option<i32>,
}

impl Default for MempoolConfig {
    /// 8191 mbufs of `RTE_MBUF_DEFAULT_BUF_SIZE` (2048 + headroom), 256 cached per lcore.
    fn default() -> Self {
        MempoolConfig {
            mbufs: 8191,
            cache_size: 256,
            // SAFETY: returns a compile-time constant.
            data_room: unsafe { sys::mmsc_rte_mbuf_default_buf_size() },
            socket: None,
        }
    }
}

/// A DPDK packet-buffer pool (`rte_pktmbuf_pool_create`), freed on drop.
///
/// Allocation and freeing are safe from any thread (the default ring handler is
/// multi-producer, multi-consumer); EAL lcores also use their per-lcore cache.
#[derive(Debug)]
pub struct Mempool<'eal> {
    ptr: NonNull<sys::rte_mempool>,
    data_room: u16,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: a pktmbuf pool with the default "ring_mp_mc" handler may be used from any thread;
// the pointer is only dereferenced by DPDK.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above: concurrent get/put from several threads is what the handler is for.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool named `name` (unique in the process, at most 25 bytes).
    pub fn new(_eal: &'eal Eal, name: &str, config: &MempoolConfig) -> Result<Self, Error> {
        let c_name = CString::new(name).map_err(|_| {
            Error::InvalidArgument(format!("mempool name {name:?} contains a NUL byte"))
        })?;
        let socket = config.socket.unwrap_or(sys::SOCKET_ID_ANY);
        // SAFETY: c_name is a valid C string (DPDK copies it); the EAL is initialised
        // (`_eal` is borrowed for the pool's whole life); DPDK validates the sizes.
        let ptr = unsafe {
            sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                config.mbufs,
                config.cache_size,
                0,
                config.data_room,
                socket,
            )
        };
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::dpdk("rte_pktmbuf_pool_create", Errno::last()))?;
        Ok(Mempool {
            ptr,
            data_room: config.data_room,
            _eal: PhantomData,
        })
    }

    /// One mbuf, empty (length 0, default headroom); `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf<'_>> {
        // SAFETY: the pool is alive (borrowed by the returned Mbuf).
        let m = unsafe { sys::mmsc_rte_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-null mbuf fresh from this pool, owned by nobody else.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Appends `n` empty mbufs to `out`, all or none; false when the pool has fewer.
    pub fn alloc_bulk<'p>(&'p self, out: &mut Vec<Mbuf<'p>>, n: u32) -> bool {
        let count = n as usize;
        out.reserve(count);
        let len = out.len();
        // SAFETY: `out` has room for `count` more elements after `len`; Mbuf is a transparent
        // non-null `*mut rte_mbuf`, so DPDK writes valid Mbufs there (all or none).
        let ret = unsafe {
            sys::mmsc_rte_pktmbuf_alloc_bulk(
                self.ptr.as_ptr(),
                out.as_mut_ptr().add(len).cast::<*mut sys::rte_mbuf>(),
                n,
            )
        };
        if ret != 0 {
            return false;
        }
        // SAFETY: rte_pktmbuf_alloc_bulk succeeded, so the `count` slots hold fresh mbufs.
        unsafe { out.set_len(len + count) };
        true
    }

    /// Mbufs free in the pool (the lcore caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs allocated from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// Bytes of each mbuf's buffer, headroom included.
    pub fn data_room(&self) -> u16 {
        self.data_room
    }

    /// The largest frame one mbuf of this pool holds: the data room minus the default
    /// headroom.
    pub fn frame_capacity(&self) -> usize {
        // SAFETY: returns a compile-time constant.
        let headroom = unsafe { sys::mmsc_rte_pktmbuf_headroom_default() };
        usize::from(self.data_room.saturating_sub(headroom))
    }

    /// Returns the mbufs cached by the calling lcore to the shared pool (e.g. when an lcore's
    /// loop ends, so that [`Mempool::available`] counts them as free for everyone). A no-op
    /// on a thread that is not an EAL lcore.
    pub fn flush_lcore_cache(&self) {
        // SAFETY: the pool is alive; the function touches the calling lcore's own cache only.
        unsafe { sys::mmsc_rte_mempool_cache_flush(self.ptr.as_ptr()) };
    }

    /// The raw pool, for `dpdk_sys` calls the wrappers lack.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }
}

impl Drop for Mempool<'_> {
    fn drop(&mut self) {
        // SAFETY: every Mbuf of this pool borrows it and every Port using it for rx borrows
        // it, so nothing refers to the pool any more.
        unsafe { sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
