//! The XDP classifier: load, fill the maps from [`Rules`], attach, read the counters.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

use aya::maps::lpm_trie::Key;
use aya::maps::{Array, HashMap, LpmTrie, Map, MapData, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpMode, xdp::XdpLinkId};
use aya::{Ebpf, EbpfLoader};
use mmsc_classify::{Class, DropReason, Rules, Slow};

use crate::EbpfError;
use crate::maps::{
    CounterValue, ListenerKey, MAP_CLASSES, MAP_CONFIG, MAP_LISTENERS, MAP_OWNED, MAP_PEERS_V4,
    MAP_PEERS_V6, MAP_STATS, MAP_XSKS, MAX_OWNED, MAX_QUEUES, OwnedKey, STAT_NOT_PEER,
    STAT_REDIRECT_NO_SOCKET, STAT_REDIRECTED, STAT_REDIRECTED_OWNED, STAT_SLOW_BASE, STAT_SYN_RATE,
    XDP_PROGRAM,
};
use crate::netlink;
use crate::rules::MapContents;

/// The mode the program was attached in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// Native XDP, run by the driver before any socket buffer exists (fast path).
    Driver,
    /// Generic (SKB) XDP, run by the kernel after the driver built a socket buffer: same
    /// decisions, none of the speed. What a driver without XDP support gets.
    Generic,
}

impl AttachMode {
    /// `driver` or `generic`.
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Driver => "driver",
            AttachMode::Generic => "generic",
        }
    }
}

/// Which attach modes to try.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AttachRequest {
    /// Driver mode, and generic mode when the driver refuses.
    #[default]
    Auto,
    /// Driver mode only.
    Driver,
    /// Generic mode only.
    Generic,
}

/// How [`XdpProgram::load_with`] attaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct XdpOptions {
    /// Modes to try.
    pub attach: AttachRequest,
    /// Also replace an XDP program that is not ours (its name does not start with `mmsc`).
    /// Off by default: another tool's program is left alone and loading fails with
    /// [`EbpfError::InterfaceBusy`].
    pub replace_foreign: bool,
}

/// A stale XDP program removed from the interface before attaching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplacedProgram {
    /// The kernel's id of that program.
    pub prog_id: u32,
    /// Its name.
    pub name: String,
}

/// Packets and bytes of one class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounter {
    /// Frames seen (passed, dropped or redirected).
    pub packets: u64,
    /// Their length from the Ethernet header on, as XDP sees them (no FCS).
    pub bytes: u64,
}

/// The program's counters, summed over CPUs: the counters of step 6 of the rule set in
/// `mmsc_classify` (see [`Counters::from_classifier`] for the mapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Per class, indexed by [`Class::index`]. Every frame counts in exactly one class,
    /// dropped ones included.
    pub classes: [ClassCounter; Class::COUNT],
    /// MM4 packets dropped because the source is in no peer prefix.
    pub dropped_not_peer: u64,
    /// SYNs dropped by the per-source rate limit.
    pub dropped_syn_rate: u64,
    /// Frames passed to the kernel unclassified (class Other) because the fast path does
    /// not look into them: IP fragments, more than 2 VLAN tags, more than 8 IPv6 extension
    /// headers (the reasons of [`Slow::is_slow_path`]; the sum of those in `slow`).
    pub slow_path: u64,
    /// Frames with a header cut short or impossible, passed to the kernel (class Other):
    /// the reasons of [`Slow::is_malformed`] (the sum of those in `slow`).
    pub malformed: u64,
    /// Frames handed to an AF_XDP socket (redirect mode).
    pub redirected: u64,
    /// Frames to be redirected (redirect mode) whose receive queue had no AF_XDP socket:
    /// passed to the kernel instead.
    pub redirect_no_socket: u64,
    /// Of `redirected` and `redirect_no_socket`, the ARP, ICMP and ICMPv6 frames for an
    /// owned address ([`XdpProgram::set_owned_addresses`]).
    pub redirected_owned: u64,
    /// Frames that are not a classifiable TCP segment, per reason, indexed by
    /// [`Slow::index`] (all of them are in class Other).
    pub slow: [u64; Slow::COUNT],
}

impl Counters {
    /// The counter of one class.
    pub fn class(&self, class: Class) -> ClassCounter {
        self.classes[class.index()]
    }

    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.dropped_not_peer + self.dropped_syn_rate
    }

    /// What the XDP program counts for the frames that gave `c` in
    /// [`mmsc_classify::Classifier`], every redirect reaching a socket (the classifier has
    /// no notion of a queue without one: its `redirected` is the program's `redirected +
    /// redirect_no_socket`). Packets and bytes per class, drops per reason and slow-path
    /// frames per reason are the same counters on both sides, and `slow_path` /
    /// `malformed` the same totals.
    pub fn from_classifier(c: &mmsc_classify::Counters) -> Counters {
        let mut classes = [ClassCounter::default(); Class::COUNT];
        for (i, class) in classes.iter_mut().enumerate() {
            *class = ClassCounter {
                packets: c.packets[i],
                bytes: c.bytes[i],
            };
        }
        Counters {
            classes,
            dropped_not_peer: c.drops[DropReason::NotPeer.index()],
            dropped_syn_rate: c.drops[DropReason::SynRate.index()],
            slow_path: c.slow_path(),
            malformed: c.malformed(),
            redirected: c.redirected,
            redirect_no_socket: 0,
            redirected_owned: c.redirected_owned,
            slow: c.slow,
        }
    }
}

/// The XDP program, loaded and attached to one interface. Dropping it detaches it (the
/// attachment is a BPF link: a process killed with SIGKILL loses it as well).
pub struct XdpProgram {
    ebpf: Ebpf,
    iface: String,
    ifindex: u32,
    mode: AttachMode,
    prog_id: u32,
    link: Option<XdpLinkId>,
    replaced: Vec<ReplacedProgram>,
}

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("iface", &self.iface)
            .field("ifindex", &self.ifindex)
            .field("mode", &self.mode)
            .field("prog_id", &self.prog_id)
            .field("replaced", &self.replaced)
            .finish_non_exhaustive()
    }
}

/// The interface index of `name` in this network namespace.
fn ifindex(name: &str) -> Result<u32, EbpfError> {
    let not_found = || EbpfError::InterfaceNotFound {
        name: name.to_owned(),
    };
    if name.is_empty() || name.len() >= 16 || name.contains(['/', '\0']) {
        return Err(not_found());
    }
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(|e| EbpfError::netlink("open a socket for SIOCGIFINDEX", e.into()))?;
    match rustix::net::netdevice::name_to_index(&socket, name) {
        Ok(index) => Ok(index),
        Err(rustix::io::Errno::NODEV) => Err(not_found()),
        Err(e) => Err(EbpfError::netlink(
            format!("look up interface {name}"),
            e.into(),
        )),
    }
}

fn map_mut<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Map, EbpfError> {
    ebpf.map_mut(name).ok_or_else(|| EbpfError::Bpf {
        what: format!("map {name}"),
        source: "missing from the BPF object".into(),
    })
}

fn map_ref<'a>(ebpf: &'a Ebpf, name: &str) -> Result<&'a Map, EbpfError> {
    ebpf.map(name).ok_or_else(|| EbpfError::Bpf {
        what: format!("map {name}"),
        source: "missing from the BPF object".into(),
    })
}

fn program_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp, EbpfError> {
    let program = ebpf
        .program_mut(XDP_PROGRAM)
        .ok_or_else(|| EbpfError::Bpf {
            what: format!("program {XDP_PROGRAM}"),
            source: "missing from the BPF object".into(),
        })?;
    program
        .try_into()
        .map_err(|e| EbpfError::bpf(format!("program {XDP_PROGRAM}"), e))
}

/// Writes `contents` into the maps: new entries first, stale ones removed after, so an
/// update never opens a gap in the ACL.
fn write_maps(ebpf: &mut Ebpf, contents: &MapContents) -> Result<(), EbpfError> {
    {
        let mut config: Array<&mut MapData, crate::maps::ConfigValue> =
            Array::try_from(map_mut(ebpf, MAP_CONFIG)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_CONFIG}"), e))?;
        config
            .set(0, contents.config, 0)
            .map_err(|e| EbpfError::bpf(format!("write map {MAP_CONFIG}"), e))?;
    }
    {
        let mut listeners: HashMap<&mut MapData, ListenerKey, u32> =
            HashMap::try_from(map_mut(ebpf, MAP_LISTENERS)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_LISTENERS}"), e))?;
        let old: Vec<ListenerKey> = listeners
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| EbpfError::bpf(format!("read map {MAP_LISTENERS}"), e))?;
        for (key, class) in &contents.listeners {
            listeners
                .insert(key, class, 0)
                .map_err(|e| EbpfError::bpf(format!("write map {MAP_LISTENERS}"), e))?;
        }
        for key in old.iter().filter(|k| !contents.listeners.contains_key(k)) {
            listeners
                .remove(key)
                .map_err(|e| EbpfError::bpf(format!("write map {MAP_LISTENERS}"), e))?;
        }
    }
    write_trie::<4>(ebpf, MAP_PEERS_V4, &contents.peers_v4)?;
    write_trie::<16>(ebpf, MAP_PEERS_V6, &contents.peers_v6)?;
    Ok(())
}

fn write_trie<const N: usize>(
    ebpf: &mut Ebpf,
    name: &str,
    prefixes: &[(u32, [u8; N])],
) -> Result<(), EbpfError> {
    let mut trie: LpmTrie<&mut MapData, [u8; N], u32> = LpmTrie::try_from(map_mut(ebpf, name)?)
        .map_err(|e| EbpfError::bpf(format!("map {name}"), e))?;
    let old: Vec<Key<[u8; N]>> = trie
        .keys()
        .collect::<Result<_, _>>()
        .map_err(|e| EbpfError::bpf(format!("read map {name}"), e))?;
    let wanted: BTreeSet<(u32, [u8; N])> = prefixes.iter().copied().collect();
    for &(len, addr) in prefixes {
        trie.insert(&Key::new(len, addr), 1, 0)
            .map_err(|e| EbpfError::bpf(format!("write map {name}"), e))?;
    }
    for key in old {
        if !wanted.contains(&(key.prefix_len(), key.data())) {
            trie.remove(&key)
                .map_err(|e| EbpfError::bpf(format!("write map {name}"), e))?;
        }
    }
    Ok(())
}

/// The name of a loaded BPF program, by id ("?" when it cannot be read).
fn program_name(prog_id: u32) -> String {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|info| info.id() == prog_id)
        .map(|info| info.name_as_str().unwrap_or("?").to_owned())
        .unwrap_or_else(|| "?".to_owned())
}

/// Removes what a dead loader (or `ip link set ... xdp`) left on the interface: netlink-
/// attached programs are removed when they are ours (or `replace_foreign`); a program held
/// by a BPF link belongs to a live process and is left alone.
fn remove_stale(
    iface: &str,
    ifindex: u32,
    options: &XdpOptions,
) -> Result<Vec<ReplacedProgram>, EbpfError> {
    let attached = netlink::query(ifindex)
        .map_err(|e| EbpfError::netlink(format!("query the XDP program of {iface}"), e))?;
    let mut replaced = Vec::new();
    for program in attached {
        let name = program_name(program.prog_id);
        if !name.starts_with("mmsc") && !options.replace_foreign {
            return Err(EbpfError::InterfaceBusy {
                iface: iface.to_owned(),
                prog_id: program.prog_id,
                name,
                why: "it is not an mmsc program (XdpOptions::replace_foreign replaces it)",
            });
        }
        match netlink::detach(ifindex, program.mode_flags) {
            Ok(()) => replaced.push(ReplacedProgram {
                prog_id: program.prog_id,
                name,
            }),
            Err(e) if e.raw_os_error() == Some(16) => {
                // EBUSY: attached through a BPF link, which a live process holds
                return Err(EbpfError::InterfaceBusy {
                    iface: iface.to_owned(),
                    prog_id: program.prog_id,
                    name,
                    why: "it is held by a BPF link of a running process (or a pinned link); \
                          stop that process first",
                });
            }
            Err(e) => {
                return Err(EbpfError::netlink(
                    format!("remove XDP program {} from {iface}", program.prog_id),
                    e,
                ));
            }
        }
    }
    Ok(replaced)
}

impl XdpProgram {
    /// Loads the program, fills its maps from `rules` and attaches it to `iface` in driver
    /// mode, or in generic mode when the driver refuses. A stale mmsc XDP program on the
    /// interface (left by a loader killed with SIGKILL that attached through netlink, or
    /// by `ip link`) is replaced; see [`XdpProgram::load_with`].
    pub fn load(iface: &str, rules: &Rules) -> Result<Self, EbpfError> {
        Self::load_with(iface, rules, &XdpOptions::default())
    }

    /// [`XdpProgram::load`] with options.
    pub fn load_with(iface: &str, rules: &Rules, options: &XdpOptions) -> Result<Self, EbpfError> {
        let contents = MapContents::from_rules(rules)?;
        let ifindex = ifindex(iface)?;
        let mut ebpf = EbpfLoader::new()
            .load(crate::xdp_object())
            .map_err(|e| EbpfError::bpf("load the XDP object and create its maps", e))?;
        write_maps(&mut ebpf, &contents)?;

        let program = program_mut(&mut ebpf)?;
        program
            .load()
            .map_err(|e| EbpfError::bpf(format!("load program {XDP_PROGRAM}"), e))?;
        let prog_id = program
            .info()
            .map_err(|e| EbpfError::bpf(format!("read the id of {XDP_PROGRAM}"), e))?
            .id();

        let replaced = remove_stale(iface, ifindex, options)?;

        let modes: &[(XdpMode, AttachMode)] = match options.attach {
            AttachRequest::Auto => &[
                (XdpMode::Driver, AttachMode::Driver),
                (XdpMode::Skb, AttachMode::Generic),
            ],
            AttachRequest::Driver => &[(XdpMode::Driver, AttachMode::Driver)],
            AttachRequest::Generic => &[(XdpMode::Skb, AttachMode::Generic)],
        };
        let mut failures = Vec::new();
        let mut attached = None;
        for &(xdp_mode, mode) in modes {
            match program.attach_to_if_index(ifindex, xdp_mode) {
                Ok(link) => {
                    attached = Some((link, mode));
                    break;
                }
                Err(e) => {
                    let what = format!("attach {XDP_PROGRAM} to {iface} in {} mode", mode.name());
                    match EbpfError::bpf(what, e) {
                        e @ EbpfError::Permission { .. } => return Err(e),
                        e => failures.push(format!("{} mode: {e}", mode.name())),
                    }
                }
            }
        }
        let Some((link, mut mode)) = attached else {
            return Err(EbpfError::Attach {
                iface: iface.to_owned(),
                detail: failures.join("; "),
            });
        };
        // what the kernel reports (it is the authority on the mode)
        if let Ok(programs) = netlink::query(ifindex)
            && let Some(p) = programs.iter().find(|p| p.prog_id == prog_id)
        {
            if p.mode_flags == netlink::XDP_FLAGS_SKB_MODE {
                mode = AttachMode::Generic;
            } else if p.mode_flags == netlink::XDP_FLAGS_DRV_MODE {
                mode = AttachMode::Driver;
            }
        }
        Ok(Self {
            ebpf,
            iface: iface.to_owned(),
            ifindex,
            mode,
            prog_id,
            link: Some(link),
            replaced,
        })
    }

    /// The mode the program runs in.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The interface it is attached to.
    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// The kernel's id of the loaded program (as `ip link` and `bpftool prog` show it).
    pub fn program_id(&self) -> u32 {
        self.prog_id
    }

    /// Stale programs removed from the interface before attaching.
    pub fn replaced(&self) -> &[ReplacedProgram] {
        &self.replaced
    }

    /// Replaces the rules. Listeners and peers are added before stale entries are removed,
    /// so no packet sees a half-empty ACL; the SYN buckets of known sources are kept.
    pub fn update_rules(&mut self, rules: &Rules) -> Result<(), EbpfError> {
        let contents = MapContents::from_rules(rules)?;
        write_maps(&mut self.ebpf, &contents)
    }

    /// Reads the counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters, EbpfError> {
        let mut counters = Counters::default();
        let classes: PerCpuArray<&MapData, CounterValue> =
            PerCpuArray::try_from(map_ref(&self.ebpf, MAP_CLASSES)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_CLASSES}"), e))?;
        for class in Class::ALL {
            let values = classes
                .get(&(class.index() as u32), 0)
                .map_err(|e| EbpfError::bpf(format!("read map {MAP_CLASSES}"), e))?;
            let sum = &mut counters.classes[class.index()];
            for v in values.iter() {
                sum.packets += v.packets;
                sum.bytes += v.bytes;
            }
        }
        let stats: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map_ref(&self.ebpf, MAP_STATS)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_STATS}"), e))?;
        let stat = |index: u32| -> Result<u64, EbpfError> {
            let values = stats
                .get(&index, 0)
                .map_err(|e| EbpfError::bpf(format!("read map {MAP_STATS}"), e))?;
            Ok(values.iter().sum())
        };
        counters.dropped_not_peer = stat(STAT_NOT_PEER)?;
        counters.dropped_syn_rate = stat(STAT_SYN_RATE)?;
        counters.redirected = stat(STAT_REDIRECTED)?;
        counters.redirect_no_socket = stat(STAT_REDIRECT_NO_SOCKET)?;
        counters.redirected_owned = stat(STAT_REDIRECTED_OWNED)?;
        for reason in Slow::ALL {
            let n = stat(STAT_SLOW_BASE + reason.index() as u32)?;
            counters.slow[reason.index()] = n;
            if reason.is_slow_path() {
                counters.slow_path += n;
            }
            if reason.is_malformed() {
                counters.malformed += n;
            }
        }
        Ok(counters)
    }

    /// Sets the addresses the user-space stack behind the AF_XDP sockets owns (the `afxdp`
    /// backend's smoltcp; the kernel does not have them): in [`Mode::Redirect`], ARP
    /// packets whose target protocol address is owned, ICMP messages to an owned IPv4
    /// address, and ICMPv6 messages to an owned IPv6 address or Neighbor Solicitations for
    /// one go to the AF_XDP socket of the receiving queue too (step 5 of the rule set in
    /// `mmsc_classify`; [`mmsc_classify::Classifier::set_owned_addresses`] is the same
    /// rule in user space). They stay class Other and count in `redirected` (or
    /// `redirect_no_socket`) and `redirected_owned`. Replaces the previous set (new entries
    /// are written before stale ones are removed); duplicates are ignored; IPv4 and
    /// IPv4-mapped IPv6 addresses are different addresses. At most [`MAX_OWNED`]
    /// addresses ([`EbpfError::InvalidRules`]). Empty at load.
    ///
    /// [`Mode::Redirect`]: mmsc_classify::Mode::Redirect
    /// [`MAX_OWNED`]: crate::MAX_OWNED
    pub fn set_owned_addresses(&mut self, addrs: &[IpAddr]) -> Result<(), EbpfError> {
        let wanted: BTreeSet<OwnedKey> = addrs.iter().map(|&a| OwnedKey::new(a)).collect();
        if wanted.len() > MAX_OWNED {
            return Err(EbpfError::InvalidRules(format!(
                "{} owned addresses, at most {MAX_OWNED}",
                wanted.len()
            )));
        }
        let mut owned: HashMap<&mut MapData, OwnedKey, u32> =
            HashMap::try_from(map_mut(&mut self.ebpf, MAP_OWNED)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_OWNED}"), e))?;
        let old: Vec<OwnedKey> = owned
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| EbpfError::bpf(format!("read map {MAP_OWNED}"), e))?;
        for key in &wanted {
            owned
                .insert(key, 1, 0)
                .map_err(|e| EbpfError::bpf(format!("write map {MAP_OWNED}"), e))?;
        }
        for key in old.iter().filter(|k| !wanted.contains(k)) {
            owned
                .remove(key)
                .map_err(|e| EbpfError::bpf(format!("write map {MAP_OWNED}"), e))?;
        }
        Ok(())
    }

    /// The owned addresses in the program's map (see
    /// [`set_owned_addresses`](Self::set_owned_addresses)), IPv4 first, sorted.
    pub fn owned_addresses(&self) -> Result<Vec<IpAddr>, EbpfError> {
        let owned: HashMap<&MapData, OwnedKey, u32> =
            HashMap::try_from(map_ref(&self.ebpf, MAP_OWNED)?)
                .map_err(|e| EbpfError::bpf(format!("map {MAP_OWNED}"), e))?;
        let keys: BTreeSet<OwnedKey> = owned
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| EbpfError::bpf(format!("read map {MAP_OWNED}"), e))?;
        let mut addrs: Vec<IpAddr> = keys.iter().map(OwnedKey::addr).collect();
        addrs.sort_by_key(|a| (a.is_ipv6(), *a));
        Ok(addrs)
    }

    /// Puts the AF_XDP socket `socket` (bound to this interface and `queue`) in the XSKMAP:
    /// in redirect mode, MM1/MM4 frames received on `queue` (and the ARP/ICMP/ICMPv6 frames
    /// for the owned addresses) go to it. Without a socket on a queue, its frames go to the
    /// kernel.
    pub fn register_xsk(&mut self, queue: u32, socket: impl AsFd) -> Result<(), EbpfError> {
        let mut xsks = self.xsk_map(queue)?;
        xsks.set(queue, socket.as_fd().as_raw_fd(), 0).map_err(|e| {
            EbpfError::bpf(
                format!("put the AF_XDP socket of queue {queue} in {MAP_XSKS}"),
                e,
            )
        })
    }

    /// Takes the AF_XDP socket of `queue` out of the XSKMAP (its frames go to the kernel).
    pub fn unregister_xsk(&mut self, queue: u32) -> Result<(), EbpfError> {
        let mut xsks = self.xsk_map(queue)?;
        match xsks.unset(queue) {
            Ok(()) => Ok(()),
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.kind() == io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(e) => Err(EbpfError::bpf(
                format!("remove the AF_XDP socket of queue {queue} from {MAP_XSKS}"),
                e,
            )),
        }
    }

    fn xsk_map(&mut self, queue: u32) -> Result<XskMap<&mut MapData>, EbpfError> {
        if queue >= MAX_QUEUES {
            return Err(EbpfError::QueueOutOfRange {
                queue,
                max: MAX_QUEUES,
            });
        }
        XskMap::try_from(map_mut(&mut self.ebpf, MAP_XSKS)?)
            .map_err(|e| EbpfError::bpf(format!("map {MAP_XSKS}"), e))
    }

    /// Detaches the program from the interface and unloads it (what dropping does, with the
    /// error reported).
    pub fn detach(mut self) -> Result<(), EbpfError> {
        let iface = self.iface.clone();
        if let Some(link) = self.link.take() {
            program_mut(&mut self.ebpf)?
                .detach(link)
                .map_err(|e| EbpfError::bpf(format!("detach {XDP_PROGRAM} from {iface}"), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_rejection_carries_the_end_of_the_log() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: loading a BPF program needs root");
            return;
        }
        let object = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/test_rejected_xdp.o"));
        let mut ebpf = EbpfLoader::new().load(object).expect("load the object");
        let program = program_mut(&mut ebpf).expect("program");
        let error = program.load().expect_err("the verifier refuses it");
        match EbpfError::bpf(format!("load program {XDP_PROGRAM}"), error) {
            EbpfError::Verifier {
                program,
                log_excerpt,
                source,
            } => {
                assert_eq!(program, XDP_PROGRAM);
                assert!(
                    log_excerpt.contains("invalid access to packet"),
                    "{log_excerpt}"
                );
                assert_eq!(source.raw_os_error(), Some(13), "EACCES from the verifier");
            }
            other => panic!("{other:?}"),
        }
    }
}
