//! What a dataplane core and the control plane say to each other.
//!
//! Each core has one ring pair (rtrb, single producer, single consumer): jobs go up, replies
//! come down. Jobs are pushed in batches (one per poll round) and the control plane is woken
//! once per batch; replies are drained in batches and the core is woken with its mio waker.

use std::ops::Range;

use mmsc_wire::mms::{MessageType, Version};

use crate::submit::SubmitPlan;

/// A connection on a core. The generation makes a reply to a closed connection harmless even
/// when its slot was reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Dataplane core index.
    pub core: u16,
    /// Slot in the core's connection table.
    pub slot: u32,
    /// Generation of the slot.
    pub generation: u32,
}

/// Work for the control plane.
#[derive(Debug)]
pub struct Job {
    /// Whom to answer.
    pub conn: ConnId,
    /// What to do.
    pub kind: JobKind,
}

/// Kinds of work.
#[derive(Debug)]
pub enum JobKind {
    /// An MM1 POST whose PDU decoded, from an identified subscriber. The request buffer moves
    /// with the job (no copy); `body` is where the PDU is in it.
    Post {
        /// The subscriber (E.164 with '+').
        msisdn: String,
        /// Its message type.
        message_type: MessageType,
        /// Its MMS version (1.0 when absent).
        version: Version,
        /// The buffer the request arrived in.
        buf: Vec<u8>,
        /// The PDU's range in `buf`.
        body: Range<usize>,
    },
    /// An m-send-req accepted by the core's [`crate::submit::SubmitRules`]: what to store, and
    /// the request buffer with the PDU (no copy). A core with a
    /// [`crate::submit::Submitter`] takes it to the store itself; otherwise the control plane
    /// does.
    Submit {
        /// The message to store.
        plan: Box<SubmitPlan>,
        /// The buffer the request arrived in.
        buf: Vec<u8>,
        /// The PDU's range in `buf`.
        body: Range<usize>,
    },
    /// An MM1 GET of a Content-Location.
    Retrieve {
        /// The subscriber, when identified.
        msisdn: Option<String>,
        /// The token after the MM1 path.
        token: String,
    },
}

/// Octets of a response body: owned, or shared (e.g. a slice of a store segment map, written
/// to the socket from where it is).
pub enum Chunk {
    /// Owned octets.
    Owned(Vec<u8>),
    /// Shared octets.
    Shared(Box<dyn AsRef<[u8]> + Send>),
}

impl Chunk {
    /// The octets.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(s) => (**s).as_ref(),
        }
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Chunk({} octets)", self.bytes().len())
    }
}

/// An HTTP response to write.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content-Type, if there is a body.
    pub content_type: Option<&'static str>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body, in pieces written in order.
    pub body: Vec<Chunk>,
}

/// The MMS media type.
pub const MMS_CONTENT_TYPE: &str = "application/vnd.wap.mms-message";

impl Response {
    /// A response with no body.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with an MMS PDU.
    pub fn mms(pdu: Vec<u8>) -> Self {
        Response {
            status: 200,
            content_type: Some(MMS_CONTENT_TYPE),
            headers: Vec::new(),
            body: vec![Chunk::Owned(pdu)],
        }
    }

    /// A plain-text error.
    pub fn text(status: u16, msg: &str) -> Self {
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body: vec![Chunk::Owned(format!("{msg}\n").into_bytes())],
        }
    }

    /// Body length.
    pub fn body_len(&self) -> usize {
        self.body.iter().map(|c| c.bytes().len()).sum()
    }
}

/// The control plane's answer to a job.
#[derive(Debug)]
pub struct Reply {
    /// The connection to answer.
    pub conn: ConnId,
    /// The answer.
    pub response: Response,
}
