//! Just enough rtnetlink to see which XDP program an interface has (`RTM_GETLINK`,
//! `IFLA_XDP`) and to remove one that was attached through netlink (`RTM_SETLINK` with
//! `IFLA_XDP_FD` = -1), e.g. the stale program of a loader killed with SIGKILL. Programs
//! attached through a BPF link go away with their link; aya attaches that way.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;

/// `XDP_FLAGS_*_MODE`.
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
pub(crate) const XDP_FLAGS_HW_MODE: u32 = 1 << 3;

const XDP_ATTACHED_DRV: u8 = 1;
const XDP_ATTACHED_SKB: u8 = 2;
const XDP_ATTACHED_HW: u8 = 3;

static SEQ: AtomicU32 = AtomicU32::new(1);

/// One XDP program on an interface and the mode it runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttachedProgram {
    pub prog_id: u32,
    /// `XDP_FLAGS_*_MODE` of that mode.
    pub mode_flags: u32,
}

/// The XDP programs of an interface, one per mode (driver, generic, offload).
pub(crate) fn query(ifindex: u32) -> io::Result<Vec<AttachedProgram>> {
    let mut req = header(RTM_GETLINK, NLM_F_REQUEST, ifindex);
    finish(&mut req);
    let reply = transact(&req)?;
    parse_link(&reply)
}

/// Removes the netlink-attached XDP program of `mode_flags` from the interface. The kernel
/// refuses (EBUSY) when the program belongs to a BPF link.
pub(crate) fn detach(ifindex: u32, mode_flags: u32) -> io::Result<()> {
    let mut req = header(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex);
    let nest = begin_attr(&mut req, IFLA_XDP | NLA_F_NESTED);
    put_attr(&mut req, IFLA_XDP_FD, &(-1i32).to_ne_bytes());
    put_attr(&mut req, IFLA_XDP_FLAGS, &mode_flags.to_ne_bytes());
    end_attr(&mut req, nest);
    finish(&mut req);
    transact(&req).map(drop)
}

fn header(kind: u16, flags: u16, ifindex: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&SEQ.fetch_add(1, Ordering::Relaxed).to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    // struct ifinfomsg: family AF_UNSPEC, pad, type, index, flags, change
    msg.extend_from_slice(&[0, 0, 0, 0]);
    msg.extend_from_slice(&ifindex.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg
}

fn put_attr(msg: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    msg.extend_from_slice(&(len as u16).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(payload);
    msg.resize(msg.len().next_multiple_of(4), 0);
}

fn begin_attr(msg: &mut Vec<u8>, kind: u16) -> usize {
    let start = msg.len();
    msg.extend_from_slice(&0u16.to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    start
}

fn end_attr(msg: &mut [u8], start: usize) {
    let len = (msg.len() - start) as u16;
    msg[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

fn finish(msg: &mut [u8]) {
    let len = msg.len() as u32;
    msg[..4].copy_from_slice(&len.to_ne_bytes());
}

fn seq_of(msg: &[u8]) -> u32 {
    u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]])
}

/// Sends one request; returns the RTM_NEWLINK answer, or an empty vector for an ACK.
fn transact(req: &[u8]) -> io::Result<Vec<u8>> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )?;
    set_socket_timeout(&fd, Timeout::Recv, Some(Duration::from_secs(5)))?;
    rustix::net::sendto(&fd, req, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let seq = seq_of(req);
    let mut buf = vec![0u8; 64 * 1024];
    // a bounded number of datagrams: an answer is one message (plus, at most, strays)
    for _ in 0..64 {
        let (_, len) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
        let mut rest = &buf[..len.min(buf.len())];
        while rest.len() >= NLMSG_HDRLEN {
            let msg_len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if msg_len < NLMSG_HDRLEN || msg_len > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated netlink message",
                ));
            }
            let msg = &rest[..msg_len];
            let kind = u16::from_ne_bytes([msg[4], msg[5]]);
            if seq_of(msg) == seq {
                match kind {
                    NLMSG_ERROR => {
                        if msg.len() < NLMSG_HDRLEN + 4 {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "short netlink error message",
                            ));
                        }
                        let errno = i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
                        return if errno == 0 {
                            Ok(Vec::new())
                        } else {
                            Err(io::Error::from_raw_os_error(-errno))
                        };
                    }
                    RTM_NEWLINK => return Ok(msg.to_vec()),
                    NLMSG_DONE => return Ok(Vec::new()),
                    _ => {}
                }
            }
            rest = &rest[msg_len.next_multiple_of(4).min(rest.len())..];
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "no netlink answer to our request",
    ))
}

/// Iterates over (type without flags, payload) of the attributes in `data`.
fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            return None;
        }
        let payload = &data[4..len];
        data = &data[len.next_multiple_of(4).min(data.len())..];
        Some((kind, payload))
    })
}

fn u32_of(payload: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?))
}

fn parse_link(msg: &[u8]) -> io::Result<Vec<AttachedProgram>> {
    let Some(body) = msg.get(NLMSG_HDRLEN + IFINFOMSG_LEN..) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short RTM_NEWLINK message",
        ));
    };
    let mut found = Vec::new();
    for (kind, payload) in attrs(body) {
        if kind != IFLA_XDP {
            continue;
        }
        let mut attached = 0u8;
        let mut prog_id = 0;
        for (kind, payload) in attrs(payload) {
            match kind {
                IFLA_XDP_ATTACHED => attached = payload.first().copied().unwrap_or(0),
                IFLA_XDP_PROG_ID => prog_id = u32_of(payload).unwrap_or(0),
                IFLA_XDP_DRV_PROG_ID | IFLA_XDP_SKB_PROG_ID | IFLA_XDP_HW_PROG_ID => {
                    if let Some(id) = u32_of(payload) {
                        let mode_flags = match kind {
                            IFLA_XDP_DRV_PROG_ID => XDP_FLAGS_DRV_MODE,
                            IFLA_XDP_SKB_PROG_ID => XDP_FLAGS_SKB_MODE,
                            _ => XDP_FLAGS_HW_MODE,
                        };
                        found.push(AttachedProgram {
                            prog_id: id,
                            mode_flags,
                        });
                    }
                }
                _ => {}
            }
        }
        // one program: the kernel sends only IFLA_XDP_PROG_ID and the mode in ATTACHED
        if found.is_empty() && prog_id != 0 {
            let mode_flags = match attached {
                XDP_ATTACHED_DRV => XDP_FLAGS_DRV_MODE,
                XDP_ATTACHED_SKB => XDP_FLAGS_SKB_MODE,
                XDP_ATTACHED_HW => XDP_FLAGS_HW_MODE,
                _ => 0,
            };
            found.push(AttachedProgram {
                prog_id,
                mode_flags,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link_message(xdp: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut msg = header(RTM_NEWLINK, 0, 7);
        put_attr(&mut msg, 3, b"eth0\0"); // IFLA_IFNAME
        let nest = begin_attr(&mut msg, IFLA_XDP | NLA_F_NESTED);
        for (kind, payload) in xdp {
            put_attr(&mut msg, *kind, payload);
        }
        end_attr(&mut msg, nest);
        finish(&mut msg);
        msg
    }

    #[test]
    fn builds_aligned_nested_requests() {
        let mut req = header(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, 3);
        let nest = begin_attr(&mut req, IFLA_XDP | NLA_F_NESTED);
        put_attr(&mut req, IFLA_XDP_FD, &(-1i32).to_ne_bytes());
        put_attr(&mut req, IFLA_XDP_FLAGS, &XDP_FLAGS_SKB_MODE.to_ne_bytes());
        end_attr(&mut req, nest);
        finish(&mut req);
        assert_eq!(req.len(), 16 + 16 + 4 + 8 + 8);
        assert_eq!(u32::from_ne_bytes(req[..4].try_into().unwrap()), 52);
        assert_eq!(u32::from_ne_bytes(req[20..24].try_into().unwrap()), 3);
        let nested: Vec<_> = attrs(&req[32..]).collect();
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].0, IFLA_XDP);
        let inner: Vec<_> = attrs(nested[0].1).collect();
        assert_eq!(inner[0], (IFLA_XDP_FD, &(-1i32).to_ne_bytes()[..]));
        assert_eq!(inner[1], (IFLA_XDP_FLAGS, &2u32.to_ne_bytes()[..]));
    }

    #[test]
    fn parses_one_program_and_none() {
        let msg = link_message(&[
            (IFLA_XDP_ATTACHED, vec![XDP_ATTACHED_SKB]),
            (IFLA_XDP_PROG_ID, 42u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            parse_link(&msg).unwrap(),
            vec![AttachedProgram {
                prog_id: 42,
                mode_flags: XDP_FLAGS_SKB_MODE
            }]
        );
        let msg = link_message(&[(IFLA_XDP_ATTACHED, vec![0])]);
        assert!(parse_link(&msg).unwrap().is_empty());
        assert!(parse_link(&msg[..20]).is_err());
    }

    #[test]
    fn parses_programs_in_several_modes() {
        let msg = link_message(&[
            (IFLA_XDP_ATTACHED, vec![4]),
            (IFLA_XDP_DRV_PROG_ID, 5u32.to_ne_bytes().to_vec()),
            (IFLA_XDP_HW_PROG_ID, 6u32.to_ne_bytes().to_vec()),
        ]);
        assert_eq!(
            parse_link(&msg).unwrap(),
            vec![
                AttachedProgram {
                    prog_id: 5,
                    mode_flags: XDP_FLAGS_DRV_MODE
                },
                AttachedProgram {
                    prog_id: 6,
                    mode_flags: XDP_FLAGS_HW_MODE
                }
            ]
        );
    }
}
