//! SK_REUSEPORT steering: each new connection of a `SO_REUSEPORT` group goes to the listener
//! of the core that owns its flow.

use std::fmt;
use std::os::fd::AsFd;

use aya::maps::{Array, MapData, ReusePortSockArray};
use aya::programs::SkReuseport;
use aya::{Ebpf, EbpfLoader};

use crate::EbpfError;
use crate::maps::{MAP_RP_CONFIG, MAP_RP_SOCKS, MAX_CORES, REUSEPORT_PROGRAM, RpConfigValue};

/// The SK_REUSEPORT program, attached to one `SO_REUSEPORT` group.
///
/// Core `i`'s listener is entry `i` of a socket array; a new connection goes to entry
/// `hash(4-tuple) % cores`, where the hash is the kernel's (`sk_reuseport_md.hash`, the
/// one it uses itself), so a flow always lands on the same core. When that fails (an empty
/// entry, a socket of another group) the kernel chooses as it would without the program.
///
/// Dropping this value empties the socket array: the program, still attached to the group
/// until [`ReuseportSteering::detach`] or until every socket of the group is closed, then
/// leaves every choice to the kernel, and the sockets are free to join another steering (a
/// socket is in at most one socket array). Closed sockets leave the array by themselves.
pub struct ReuseportSteering {
    ebpf: Ebpf,
    cores: u32,
    /// Bit i: entry i holds a socket.
    filled: u64,
}

impl fmt::Debug for ReuseportSteering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReuseportSteering")
            .field("cores", &self.cores)
            .finish_non_exhaustive()
    }
}

impl ReuseportSteering {
    /// Loads the program, puts `listeners[i]` (core `i`'s listening socket, bound with
    /// `SO_REUSEPORT`) in entry `i`, and attaches it to their group through `listeners[0]`.
    /// The listeners must all be in one group; 1 to [`MAX_CORES`] of them.
    pub fn attach<S: AsFd>(listeners: &[S]) -> Result<Self, EbpfError> {
        if listeners.is_empty() || listeners.len() > MAX_CORES {
            return Err(EbpfError::ListenerCount {
                count: listeners.len(),
                max: MAX_CORES,
            });
        }
        let ebpf = EbpfLoader::new()
            .load(crate::reuseport_object())
            .map_err(|e| EbpfError::bpf("load the SK_REUSEPORT object and create its maps", e))?;
        let mut steering = Self {
            ebpf,
            cores: 0,
            filled: 0,
        };
        for (core, socket) in listeners.iter().enumerate() {
            steering.set_listener(core as u32, socket)?;
        }
        steering.set_cores(listeners.len() as u32)?;

        let program = steering.program_mut()?;
        program
            .load()
            .map_err(|e| EbpfError::bpf(format!("load program {REUSEPORT_PROGRAM}"), e))?;
        program.attach(listeners[0].as_fd()).map_err(|e| {
            EbpfError::bpf(
                format!("attach {REUSEPORT_PROGRAM} to the group (SO_ATTACH_REUSEPORT_EBPF)"),
                e,
            )
        })?;
        Ok(steering)
    }

    /// Number of cores (filled entries) connections are spread over.
    pub fn cores(&self) -> u32 {
        self.cores
    }

    /// Puts `socket` in entry `core` (e.g. a core's new listener after a restart). A socket
    /// can be in one entry of one socket array only (the kernel answers EBUSY otherwise).
    pub fn set_listener<S: AsFd>(&mut self, core: u32, socket: S) -> Result<(), EbpfError> {
        if core as usize >= MAX_CORES {
            return Err(EbpfError::ListenerCount {
                count: core as usize + 1,
                max: MAX_CORES,
            });
        }
        let map = self
            .ebpf
            .map_mut(MAP_RP_SOCKS)
            .ok_or_else(|| missing(MAP_RP_SOCKS))?;
        let mut socks: ReusePortSockArray<&mut MapData> = ReusePortSockArray::try_from(map)
            .map_err(|e| EbpfError::bpf(format!("map {MAP_RP_SOCKS}"), e))?;
        socks.set(core, &socket.as_fd(), 0).map_err(|e| {
            EbpfError::bpf(
                format!(
                    "put the listener of core {core} in {MAP_RP_SOCKS} (it must be a \
                     listening TCP socket bound with SO_REUSEPORT, and in no other live \
                     steering)"
                ),
                e,
            )
        })?;
        self.filled |= 1 << core;
        Ok(())
    }

    /// Spreads connections over entries `0..cores` (1 to [`MAX_CORES`]).
    pub fn set_cores(&mut self, cores: u32) -> Result<(), EbpfError> {
        if cores == 0 || cores as usize > MAX_CORES {
            return Err(EbpfError::ListenerCount {
                count: cores as usize,
                max: MAX_CORES,
            });
        }
        let map = self
            .ebpf
            .map_mut(MAP_RP_CONFIG)
            .ok_or_else(|| missing(MAP_RP_CONFIG))?;
        let mut config: Array<&mut MapData, RpConfigValue> =
            Array::try_from(map).map_err(|e| EbpfError::bpf(format!("map {MAP_RP_CONFIG}"), e))?;
        config
            .set(0, RpConfigValue { cores, _pad: 0 }, 0)
            .map_err(|e| EbpfError::bpf(format!("write map {MAP_RP_CONFIG}"), e))?;
        self.cores = cores;
        Ok(())
    }

    /// Removes whatever reuseport program the group of `socket` has (the kernel's own
    /// hash chooses again).
    pub fn detach<S: AsFd>(socket: S) -> Result<(), EbpfError> {
        SkReuseport::detach(socket.as_fd()).map_err(|e| {
            EbpfError::bpf("detach the reuseport program (SO_DETACH_REUSEPORT_BPF)", e)
        })
    }

    fn program_mut(&mut self) -> Result<&mut SkReuseport, EbpfError> {
        let program = self
            .ebpf
            .program_mut(REUSEPORT_PROGRAM)
            .ok_or_else(|| missing(REUSEPORT_PROGRAM))?;
        program
            .try_into()
            .map_err(|e| EbpfError::bpf(format!("program {REUSEPORT_PROGRAM}"), e))
    }
}

impl Drop for ReuseportSteering {
    fn drop(&mut self) {
        let Some(map) = self.ebpf.map_mut(MAP_RP_SOCKS) else {
            return;
        };
        let Ok(mut socks) = ReusePortSockArray::<&mut MapData>::try_from(map) else {
            return;
        };
        for core in (0..MAX_CORES as u32).filter(|c| self.filled & (1 << c) != 0) {
            // best effort: a closed socket has left the array already
            let _ = socks.clear_index(&core);
        }
    }
}

fn missing(name: &str) -> EbpfError {
    EbpfError::Bpf {
        what: name.to_owned(),
        source: "missing from the BPF object".into(),
    }
}
