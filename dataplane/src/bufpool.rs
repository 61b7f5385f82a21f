//! Request buffers used again: a request's buffer travels with its PDU to the store writer
//! (no copy), which gives it back here once the PDU is written; the core's next connection
//! that needs storage takes it instead of a new allocation. A new allocation of a request
//! buffer costs more than it seems: the allocator hands out fresh pages (page faults, on
//! huge pages a 2 MiB clear), and the buffer is filled with zeros before the first read.
//!
//! Bounded: at most `count` buffers wait here; others (and buffers that grew beyond the pool's
//! size for a large request) are freed.

use crossbeam_queue::ArrayQueue;

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
}
