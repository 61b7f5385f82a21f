//! MM1 over a user-space TCP/IP stack (smoltcp), one per dataplane core, for the `afxdp` and
//! `dpdk` backends.
//!
//! A backend brings a smoltcp [`Device`](smoltcp::phy::Device) over its port queue (AF_XDP
//! socket, DPDK queue), with the [`CoreDevice`] hooks if it batches transmissions or waits on
//! something, and a pinned thread, and calls [`run_core`] on it (or [`spawn_core`]). The
//! [`Stack`] it runs owns the core's addresses: smoltcp answers ARP, IPv6 neighbour discovery
//! and ICMP echo and terminates TCP (neighbours are also gleaned from the frames received, so
//! that several cores can share one address); the stack feeds each connection's octets to
//! the same sans-I/O HTTP engine ([`mmsc_wire::http::ServerConn`]) and MM1 front
//! ([`mmsc_dataplane::mm1::Mm1Front`]) as the `kernel` backend, hands jobs to the control
//! plane over the core's rings ([`mmsc_dataplane::ring_pair`]) in one batch per round, and
//! writes the replies back in request order. Keep-alive, pipelining, `100-continue`,
//! timeouts, read backpressure and 503 on a full ring behave as in the `kernel` backend; at
//! [`StackConfig::max_connections`] new SYNs are reset (the kernel backend accepts and
//! answers 503).
//!
//! - [`StackConfig`]: addresses, gateways, MAC, MM1 port, socket pool and buffers, HTTP
//!   limits, the front, an optional classifier in front of smoltcp.
//! - [`Stack`]: [`Stack::poll`] runs one round and says whether it did work;
//!   [`Stack::poll_delay`] says how long an idle caller may wait.
//! - [`run_core`] / [`Stack::run`]: the busy-poll loop with a [`Backoff`] when idle;
//!   [`spawn_core`]: the same on a thread of its own, with a [`NetCore`] handle (counters,
//!   the waker the control plane calls, stop).
//! - [`mem`]: in-memory Ethernet ports, to run stacks in tests and benchmarks.
//!
//! Time is an input ([`smoltcp::time::Instant`]); nothing here reads a clock except
//! [`Clock`], used by the run loop. No `unsafe`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

mod config;
pub mod mem;
mod neigh;
mod run;
mod stack;
mod table;
mod tap;

pub use config::{
    ConfigProblem, MAX_ADDRESSES, MAX_GATEWAYS, MIN_BUFFER_BYTES, StackConfig, StackError,
};
pub use run::{Backoff, Clock, CoreDevice, CoreError, Hooked, NetCore, run_core, spawn_core};
pub use stack::{INGRESS_BUDGET, SWEEP_MS, Stack, StackStats, WakeFn};
