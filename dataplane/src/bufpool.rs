//! Request buffers used again: a request's buffer travels with its PDU to the store writer
//! (no copy), which gives it back here once the PDU is written; the core's next connection
//! that needs storage takes it instead of a new allocation. A new allocation of a request
//! buffer costs more than it seems: the allocator hands out fresh pages (page faults, on
//! huge pages a 2 MiB clear), and the buffer is filled with zeros before the first read.
//!
//! Bounded: at most `count` buffers wait here; others (and buffers that grew beyond the pool's
//! size for a large request) are freed.

use crossbeam_queue::ArrayQueue;
use mmsc_wire::http::ServerConn;

/// A pool of request buffers of one size, shared by a core (which takes) and whoever is done
/// with the buffers (which gives back).
#[derive(Debug)]
pub struct BufPool {
    free: ArrayQueue<Vec<u8>>,
    size: usize,
}

impl BufPool {
    /// A pool of at most `count` buffers of `size` octets.
    pub fn new(count: usize, size: usize) -> BufPool {
        BufPool {
            free: ArrayQueue::new(count.max(1)),
            size,
        }
    }

    /// The size of its buffers.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A buffer of the pool's size, initialized (its contents are those of an earlier
    /// request): one given back, else a new one.
    pub fn take(&self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.size])
    }

    /// Storage for `conn` to read at least `min` octets into ([`ServerConn::spare_from`]):
    /// a buffer of the pool when the connection needs new storage and one of the pool's size
    /// holds what it has buffered and `min` more; else none (it keeps or grows its own).
    pub fn storage_for(&self, conn: &ServerConn, min: usize) -> Option<Vec<u8>> {
        (conn.room() < min && conn.buffered() + min <= self.size).then(|| self.take())
    }

    /// Give a buffer back; kept if it is of the pool's size and the pool has room.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.len() == self.size {
            let _ = self.free.push(buf);
        }
    }

    /// Buffers waiting to be taken.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_bounded_and_of_one_size() {
        let p = BufPool::new(2, 16);
        let a = p.take();
        assert_eq!(a.len(), 16);
        let ptr = a.as_ptr();
        p.give(a);
        assert_eq!(p.available(), 1);
        let again = p.take();
        assert_eq!(again.as_ptr(), ptr, "the same storage, again");
        p.give(again);
        p.give(vec![0; 16]);
        p.give(vec![0; 16]);
        assert_eq!(p.available(), 2, "bounded");
        let _ = p.take();
        p.give(vec![0; 17]);
        p.give(vec![0; 8]);
        assert_eq!(p.available(), 1, "other sizes are freed");
    }

    #[test]
    fn storage_only_for_a_connection_that_needs_it_and_fits() {
        let p = BufPool::new(4, 64);
        let mut c = ServerConn::new(mmsc_wire::http::HttpLimits::default(), 0);
        // Nothing yet: a fresh connection needs storage.
        assert_eq!(p.storage_for(&c, 64).map(|b| b.len()), Some(64));
        assert_eq!(
            p.storage_for(&c, 65),
            None,
            "larger than the pool's buffers"
        );
        // 16 octets buffered in 32 of storage.
        c.spare_from(16, Some(vec![0; 32]))[..16].copy_from_slice(b"GET / HTTP/1.1\r\n");
        c.filled(16, 0);
        assert_eq!(p.storage_for(&c, 16), None, "it has the room");
        assert_eq!(
            p.storage_for(&c, 48).map(|b| b.len()),
            Some(64),
            "16 held + 48 fit"
        );
        assert_eq!(p.storage_for(&c, 49), None, "16 held + 49 do not fit in 64");
    }
}
