//! Sleeping until frames arrive, on ports whose driver has no rx interrupts.
//!
//! DPDK 22.11's `net_af_xdp` and `net_af_packet` drivers cannot wake an lcore
//! (`rte_eth_dev_rx_intr_enable` is not supported), so an idle lcore would have to poll. But
//! both receive through kernel sockets (an AF_XDP socket, an AF_PACKET socket with a mapped
//! ring) that poll(2) reports readable when a frame is in their ring. [`RxWait`] finds
//! those sockets and lets an idle lcore sleep on them, beside a doorbell of its own.

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::net::AddressFamily;

/// The kernel sockets a port's driver receives through, to sleep on (see the module docs).
///
/// It holds duplicates of the driver's descriptors, so it borrows the port (`'q`): a socket
/// must not outlive the driver's use of it (an AF_XDP socket keeps its UMEM registered while
/// any descriptor of it is open). All the sockets of the driver's family in the process are
/// taken: with several queues, an lcore also wakes for the frames of the others' queues (a
/// spurious wake-up costs one empty poll); mmsc runs one port per process.
#[derive(Debug)]
pub struct RxWait<'q> {
    sockets: Vec<OwnedFd>,
    _port: PhantomData<&'q ()>,
}

impl<'q> RxWait<'q> {
    /// The sockets of a port driven by `driver` (its PMD's name): AF_XDP sockets for
    /// `net_af_xdp`, AF_PACKET sockets for `net_af_packet`; none for other drivers (a NIC's
    /// PMD has no socket to sleep on: its lcore polls).
    pub(crate) fn for_driver(driver: &str) -> io::Result<RxWait<'q>> {
        let family = match driver {
            "net_af_xdp" => AddressFamily::XDP,
            "net_af_packet" => AddressFamily::PACKET,
            _ => return Ok(RxWait::none()),
        };
        Ok(RxWait {
            sockets: sockets_of(family)?,
            _port: PhantomData,
        })
    }

    /// Nothing to sleep on.
    pub fn none() -> RxWait<'q> {
        RxWait {
            sockets: Vec::new(),
            _port: PhantomData,
        }
    }

    /// How many sockets it sleeps on; 0 when the driver has none.
    pub fn sockets(&self) -> usize {
        self.sockets.len()
    }

    /// Whether there is nothing to sleep on (the lcore must poll or sleep blind).
    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }

    /// Waits up to `timeout` until a frame is in one of the sockets' rings or `doorbell` is
    /// readable; returns whether anything is ready (false: the time ran out).
    pub fn wait_or(&self, doorbell: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(self.sockets.len() + 1);
        fds.push(PollFd::new(&doorbell, PollFlags::IN));
        fds.extend(self.sockets.iter().map(|s| PollFd::new(s, PollFlags::IN)));
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let ready = poll(&mut fds, Some(&timeout))?;
        Ok(ready > 0)
    }
}

impl Drop for RxWait<'_> {
    /// Closes the duplicates. Having a `Drop` keeps the port borrowed until then, so the
    /// port cannot be stopped or closed while a duplicate keeps one of its sockets open.
    fn drop(&mut self) {
        self.sockets.clear();
    }
}

/// Duplicates of every socket of `family` open in this process, found in `/proc/self/fd`.
fn sockets_of(family: AddressFamily) -> io::Result<Vec<OwnedFd>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Some(raw) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: `raw` was listed as an open descriptor of this process a moment ago, and
        // the borrow lasts only for the dup below, which takes its own reference to the open
        // file. Should another thread close `raw` in between, fcntl fails with EBADF or
        // duplicates whatever took the number, which the family check then rejects: nothing
        // is read or written through it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        let Ok(dup) = rustix::io::fcntl_dupfd_cloexec(borrowed, 0) else {
            continue;
        };
        if rustix::net::sockopt::socket_domain(dup.as_fd()).is_ok_and(|f| f == family) {
            found.push(dup);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;

    fn of(family: AddressFamily) -> RxWait<'static> {
        RxWait {
            sockets: sockets_of(family).unwrap(),
            _port: PhantomData,
        }
    }

    #[test]
    fn finds_the_sockets_of_one_family_only() {
        let before = sockets_of(AddressFamily::UNIX).unwrap().len();
        let (_a, _b) = UnixDatagram::pair().unwrap();
        let _udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let found = sockets_of(AddressFamily::UNIX).unwrap();
        assert!(found.len() >= before + 2, "{} then {}", before, found.len());
        for fd in &found {
            assert_eq!(
                rustix::net::sockopt::socket_domain(fd.as_fd()).unwrap(),
                AddressFamily::UNIX
            );
        }
        let inet = sockets_of(AddressFamily::INET).unwrap();
        assert!(!inet.is_empty(), "the UDP socket is an INET one");
    }

    #[test]
    fn other_drivers_have_nothing_to_sleep_on() {
        let w = RxWait::for_driver("net_ixgbe").unwrap();
        assert!(w.is_empty());
        assert_eq!(w.sockets(), 0);
    }

    #[test]
    fn wakes_for_a_frame_or_the_doorbell_and_times_out_otherwise() {
        let (tx, rx) = UnixDatagram::pair().unwrap();
        let (bell, core) = UnixDatagram::pair().unwrap();
        // Sleeps on `rx` alone (what the driver's sockets are to an lcore).
        let wait = RxWait {
            sockets: vec![rx.as_fd().try_clone_to_owned().unwrap()],
            _port: PhantomData,
        };
        let t = std::time::Instant::now();
        assert!(
            !wait
                .wait_or(core.as_fd(), Duration::from_millis(20))
                .unwrap()
        );
        assert!(t.elapsed() >= Duration::from_millis(15));
        tx.send(b"frame").unwrap();
        assert!(wait.wait_or(core.as_fd(), Duration::from_secs(5)).unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(rx.recv(&mut buf).unwrap(), 5);
        bell.send(&[1]).unwrap();
        assert!(wait.wait_or(core.as_fd(), Duration::from_secs(5)).unwrap());
        assert!(of(AddressFamily::UNIX).sockets() >= 4);
    }
}
