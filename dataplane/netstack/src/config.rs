//! What one core's stack is told: its addresses, its MM1 listener, its socket pool, and the
//! engines it feeds; and what can be wrong with that.

use std::fmt;

use mmsc_classify::Classifier;
use mmsc_dataplane::mm1::Mm1Front;
use mmsc_wire::http::HttpLimits;
use smoltcp::phy::Medium;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

/// Most addresses an interface holds in this build of smoltcp (its `IFACE_MAX_ADDR_COUNT`).
pub const MAX_ADDRESSES: usize = smoltcp::config::IFACE_MAX_ADDR_COUNT;
/// Most routes an interface holds in this build of smoltcp (its `IFACE_MAX_ROUTE_COUNT`):
/// one default route per family.
pub const MAX_GATEWAYS: usize = smoltcp::config::IFACE_MAX_ROUTE_COUNT;
/// Smallest socket buffer accepted (a few segments; smaller buffers only slow TCP down).
pub const MIN_BUFFER_BYTES: usize = 4 * 1024;

/// Settings of one core's user-space TCP/IP stack serving MM1.
///
/// The stack owns `addresses` on the Ethernet port behind its device: it answers ARP and
/// IPv6 neighbour solicitations for them, ICMP echo requests to them, accepts TCP connections
/// to `mm1_port` on any of them, and resets connection attempts to every other port.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Index of this dataplane core (in [`ConnId::core`](mmsc_dataplane::ring::ConnId)).
    pub core: u16,
    /// The addresses the stack owns, with their on-link prefix: at most [`MAX_ADDRESSES`]
    /// (one IPv4 and one IPv6, say), each unicast.
    pub addresses: Vec<IpCidr>,
    /// Default routers, at most one per family and [`MAX_GATEWAYS`] in all, each of the family
    /// of an owned address. With none, only on-link peers are answered.
    pub gateways: Vec<IpAddress>,
    /// The port's Ethernet address (unicast).
    pub mac: EthernetAddress,
    /// TCP port of MM1.
    pub mm1_port: u16,
    /// Sockets kept in the LISTEN state, ready for the next SYNs (smoltcp needs one socket per
    /// connection, so this is the accept backlog): refilled after each poll as they get
    /// connections, as long as [`StackConfig::max_connections`] allows.
    pub listen_backlog: usize,
    /// Most TCP sockets at once, listening, half-open, open and closing ones together; each
    /// holds `rx_buffer_bytes + tx_buffer_bytes` of memory. When all are in use, no socket
    /// listens and new SYNs are answered with RST.
    pub max_connections: usize,
    /// A connection whose handshake is not complete this long after the SYN is reset and its
    /// socket listens again (smoltcp has no SYN cookies: half-open connections hold sockets).
    pub handshake_timeout_ms: u64,
    /// Receive buffer of each socket (the TCP window), octets.
    pub rx_buffer_bytes: usize,
    /// Transmit buffer of each socket, octets. Responses larger than this are written over
    /// several polls, as the peer acknowledges.
    pub tx_buffer_bytes: usize,
    /// HTTP limits and timeouts (the request timeout also bounds how long a response may
    /// wait for a peer that does not read it, and how long a closing socket lingers).
    pub http: HttpLimits,
    /// The MM1 front.
    pub front: Mm1Front,
    /// Seed of smoltcp's random numbers (initial sequence numbers, IP ids): use a different
    /// one per core and per start in service.
    pub random_seed: u64,
    /// Frames the classifier drops ([`mmsc_classify::Action::Drop`]: MM4 from non-peers, SYNs
    /// over the rate) never reach smoltcp; all others do. For the `dpdk` backend, where no XDP
    /// program filters in front of the stack; `None` for `afxdp`, whose XDP program already
    /// did.
    pub filter: Option<Classifier>,
    /// Learn the link-layer address of each peer from the frames it sends (and that of the
    /// gateway from frames of off-link peers), instead of only from ARP / NDP aimed at this
    /// stack. Needed when several cores serve one address: a peer's ARP reply reaches one
    /// receive queue only. On by default.
    pub glean_neighbors: bool,
}

impl StackConfig {
    /// A configuration with one address and the defaults: a backlog of 64, 1024 sockets of
    /// 64 KiB + 64 KiB, a 5 s handshake timeout, default HTTP limits, no gateway, no filter,
    /// neighbours gleaned, seed 0.
    pub fn new(
        core: u16,
        address: IpCidr,
        mac: EthernetAddress,
        mm1_port: u16,
        front: Mm1Front,
    ) -> Self {
        StackConfig {
            core,
            addresses: vec![address],
            gateways: Vec::new(),
            mac,
            mm1_port,
            listen_backlog: 64,
            max_connections: 1024,
            handshake_timeout_ms: 5_000,
            rx_buffer_bytes: 64 * 1024,
            tx_buffer_bytes: 64 * 1024,
            http: HttpLimits::default(),
            front,
            random_seed: 0,
            filter: None,
            glean_neighbors: true,
        }
    }

    /// Everything wrong with this configuration, all at once (empty when it is usable).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if self.addresses.is_empty() {
            out.push(ConfigProblem::NoAddress);
        }
        if self.addresses.len() > MAX_ADDRESSES {
            out.push(ConfigProblem::TooManyAddresses { max: MAX_ADDRESSES });
        }
        for (i, a) in self.addresses.iter().enumerate() {
            if !a.address().is_unicast() {
                out.push(ConfigProblem::NotUnicast(*a));
            } else if self
                .addresses
                .get(..i)
                .is_some_and(|before| before.iter().any(|b| b.address() == a.address()))
            {
                out.push(ConfigProblem::DuplicateAddress(*a));
            }
        }
        if self.gateways.len() > MAX_GATEWAYS {
            out.push(ConfigProblem::TooManyGateways { max: MAX_GATEWAYS });
        }
        for (i, g) in self.gateways.iter().enumerate() {
            let same_family = |x: &IpAddress| {
                matches!(
                    (x, g),
                    (IpAddress::Ipv4(_), IpAddress::Ipv4(_))
                        | (IpAddress::Ipv6(_), IpAddress::Ipv6(_))
                )
            };
            if !g.is_unicast() || !self.addresses.iter().any(|a| same_family(&a.address())) {
                out.push(ConfigProblem::BadGateway(*g));
            } else if self
                .gateways
                .get(..i)
                .is_some_and(|before| before.iter().any(same_family))
            {
                out.push(ConfigProblem::TwoGatewaysOfAFamily(*g));
            }
        }
        if !self.mac.is_unicast() {
            out.push(ConfigProblem::MacNotUnicast(self.mac));
        }
        if self.mm1_port == 0 {
            out.push(ConfigProblem::PortZero);
        }
        if self.listen_backlog == 0 {
            out.push(ConfigProblem::NoBacklog);
        }
        if self.handshake_timeout_ms == 0 {
            out.push(ConfigProblem::NoHandshakeTime);
        }
        if self.max_connections < self.listen_backlog {
            out.push(ConfigProblem::FewerConnectionsThanBacklog);
        }
        for (which, n) in [("rx", self.rx_buffer_bytes), ("tx", self.tx_buffer_bytes)] {
            if n < MIN_BUFFER_BYTES {
                out.push(ConfigProblem::BufferTooSmall { which, bytes: n });
            }
        }
        out
    }
}

/// One thing wrong with a [`StackConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// No address to own.
    NoAddress,
    /// More addresses than smoltcp holds.
    TooManyAddresses {
        /// The most it holds.
        max: usize,
    },
    /// An address that is not unicast (unspecified, multicast, broadcast).
    NotUnicast(IpCidr),
    /// The same address twice.
    DuplicateAddress(IpCidr),
    /// More gateways than smoltcp holds routes.
    TooManyGateways {
        /// The most it holds.
        max: usize,
    },
    /// A gateway that is not unicast, or of a family no owned address has.
    BadGateway(IpAddress),
    /// A second gateway of one family.
    TwoGatewaysOfAFamily(IpAddress),
    /// A multicast or broadcast Ethernet address.
    MacNotUnicast(EthernetAddress),
    /// MM1 port 0.
    PortZero,
    /// A listen backlog of 0 (nothing would ever be accepted).
    NoBacklog,
    /// A handshake timeout of 0.
    NoHandshakeTime,
    /// Fewer sockets in all than the backlog wants listening.
    FewerConnectionsThanBacklog,
    /// A socket buffer below [`MIN_BUFFER_BYTES`].
    BufferTooSmall {
        /// "rx" or "tx".
        which: &'static str,
        /// The size asked for.
        bytes: usize,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::NoAddress => write!(f, "no address to own"),
            ConfigProblem::TooManyAddresses { max } => {
                write!(f, "more than {max} addresses (smoltcp's limit)")
            }
            ConfigProblem::NotUnicast(a) => write!(f, "address {a} is not unicast"),
            ConfigProblem::DuplicateAddress(a) => write!(f, "address {a} given twice"),
            ConfigProblem::TooManyGateways { max } => {
                write!(f, "more than {max} gateways (smoltcp's route limit)")
            }
            ConfigProblem::BadGateway(g) => write!(
                f,
                "gateway {g} is not unicast or has no owned address of its family"
            ),
            ConfigProblem::TwoGatewaysOfAFamily(g) => {
                write!(f, "gateway {g}: a gateway of that family is already given")
            }
            ConfigProblem::MacNotUnicast(m) => write!(f, "Ethernet address {m} is not unicast"),
            ConfigProblem::PortZero => write!(f, "MM1 port 0"),
            ConfigProblem::NoBacklog => write!(f, "listen backlog 0"),
            ConfigProblem::NoHandshakeTime => write!(f, "handshake timeout 0"),
            ConfigProblem::FewerConnectionsThanBacklog => {
                write!(f, "max_connections below listen_backlog")
            }
            ConfigProblem::BufferTooSmall { which, bytes } => write!(
                f,
                "{which} buffer of {bytes} octets, below the {MIN_BUFFER_BYTES} minimum"
            ),
        }
    }
}

/// Why a stack cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StackError {
    /// The configuration has problems (all of them listed).
    Config(Vec<ConfigProblem>),
    /// The device does not carry Ethernet frames.
    NotEthernet(Medium),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Config(problems) => {
                write!(f, "bad stack configuration: ")?;
                for (i, p) in problems.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
            StackError::NotEthernet(m) => write!(f, "device medium {m:?} is not Ethernet"),
        }
    }
}

impl std::error::Error for StackError {}
