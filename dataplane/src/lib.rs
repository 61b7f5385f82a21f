//! The mmsc dataplane: protocol termination on pinned cores.
//!
//! - [`mm1`]: the MM1 front (routing, subscriber identification, PDU validation), sans-I/O.
//! - [`bufpool`]: request buffers given back by the store writer and used again.
//! - [`kernel`]: the `kernel` backend, one mio reactor per core over SO_REUSEPORT listeners.
//! - [`ring`]: the jobs and replies exchanged with the control plane over rtrb rings.
//! - [`submit`]: the submit fast path: m-send-req planned on the core, appended to the store
//!   from there, answered from there once durable.
//!
//! Nothing slow runs here: state changes, storage and pushes happen in the control plane, and
//! a core that cannot hand a job over (its ring is full) answers 503 at once.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod bufpool;
pub mod kernel;
pub mod mm1;
pub mod ring;
pub mod submit;

/// Create the ring pair of one core: (core side, control-plane side).
pub fn ring_pair(capacity: usize) -> (kernel::CoreRings, ControlRings) {
    let (jobs_tx, jobs_rx) = rtrb::RingBuffer::new(capacity);
    let (replies_tx, replies_rx) = rtrb::RingBuffer::new(capacity);
    (
        kernel::CoreRings {
            jobs: jobs_tx,
            replies: replies_rx,
            submit: None,
            pool: None,
        },
        ControlRings {
            jobs: jobs_rx,
            replies: replies_tx,
        },
    )
}

/// The control plane's ends of one core's rings.
#[derive(Debug)]
pub struct ControlRings {
    /// Jobs from the core.
    pub jobs: rtrb::Consumer<ring::Job>,
    /// Replies to the core.
    pub replies: rtrb::Producer<ring::Reply>,
}
