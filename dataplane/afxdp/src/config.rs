//! How an AF_XDP socket and its UMEM are made.

use crate::AfXdpError;

/// Room the kernel keeps in front of every received frame in its UMEM chunk
/// (`XDP_PACKET_HEADROOM`).
pub const XDP_PACKET_HEADROOM: usize = 256;
/// The Ethernet header smoltcp counts in its MTU.
const ETHERNET_HEADER: usize = 14;
/// Fewest and most UMEM frames of one socket.
pub const MIN_FRAMES: u32 = 64;
/// See [`MIN_FRAMES`].
pub const MAX_FRAMES: u32 = 1 << 20;

/// The size of one UMEM frame (chunk). One frame holds one packet; the kernel puts a
/// received packet [`XDP_PACKET_HEADROOM`] octets into its frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FrameSize {
    /// 2048 octets: two frames per 4 KiB page, packets up to 1792 octets (IP MTU 1778).
    #[default]
    B2048,
    /// 4096 octets: one frame per page, packets up to 3840 octets.
    B4096,
}

impl FrameSize {
    /// The size in octets.
    pub fn bytes(self) -> usize {
        match self {
            FrameSize::B2048 => 2048,
            FrameSize::B4096 => 4096,
        }
    }

    /// The largest received frame (Ethernet header included) a frame of this size holds.
    pub fn max_frame(self) -> usize {
        self.bytes() - XDP_PACKET_HEADROOM
    }
}

/// Whether the UMEM lives on 2 MiB hugepages (`MAP_HUGETLB`): fewer TLB misses for the
/// packet memory. Hugepages must be reserved beforehand (`vm.nr_hugepages`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HugePages {
    /// Hugepages when enough are free, else normal pages (the refusal is kept:
    /// [`XskDevice::hugepage_refusal`](crate::XskDevice::hugepage_refusal)).
    #[default]
    Auto,
    /// Hugepages or an error ([`AfXdpError::Umem`]).
    Require,
    /// Normal pages.
    Off,
}

/// How the socket binds to its queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// Zero-copy (`XDP_ZEROCOPY`: the NIC's DMA goes straight into the UMEM), and copy mode
    /// when the driver refuses it (the refusal is kept:
    /// [`XskDevice::zero_copy_refusal`](crate::XskDevice::zero_copy_refusal)).
    #[default]
    Auto,
    /// Zero-copy or an error ([`AfXdpError::Bind`]).
    ZeroCopy,
    /// Copy mode (`XDP_COPY`: the kernel copies each packet between the driver's buffers
    /// and the UMEM). Works with every driver that runs XDP, in driver or generic mode.
    Copy,
}

/// The mode a socket got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XskMode {
    /// Zero-copy.
    ZeroCopy,
    /// Copy mode.
    Copy,
}

impl XskMode {
    /// `zero-copy` or `copy`.
    pub fn name(self) -> &'static str {
        match self {
            XskMode::ZeroCopy => "zero-copy",
            XskMode::Copy => "copy",
        }
    }
}

/// The pages a UMEM got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pages {
    /// 2 MiB hugepages.
    Huge2M,
    /// Normal (4 KiB) pages.
    Normal,
}

impl Pages {
    /// `2 MiB hugepages` or `normal pages`.
    pub fn name(self) -> &'static str {
        match self {
            Pages::Huge2M => "2 MiB hugepages",
            Pages::Normal => "normal pages",
        }
    }
}

/// The shape of one socket and its UMEM.
///
/// The UMEM holds `frame_count` frames of `frame_size`: the first half receives (they
/// circulate between the fill ring, the kernel, the RX ring and the device), the second
/// half transmits (free list, TX ring, kernel, completion ring). The four rings have
/// `frame_count / 2` entries each, so a ring never lacks room for the frames of its half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XskConfig {
    /// Size of a frame.
    pub frame_size: FrameSize,
    /// Frames in the UMEM: a power of two from [`MIN_FRAMES`] to [`MAX_FRAMES`].
    pub frame_count: u32,
    /// Hugepages or not.
    pub hugepages: HugePages,
    /// Zero-copy or copy mode.
    pub bind: BindMode,
    /// The IP MTU smoltcp is told (the device's `max_transmission_unit` is this plus the
    /// 14-octet Ethernet header): at least 576 (RFC 791 asks every host to take 576-octet
    /// datagrams; IPv6 needs 1280), at most what a frame holds
    /// ([`FrameSize::max_frame`] - 14).
    pub mtu: usize,
    /// Transmitted frames are handed to the kernel (`sendto`, in copy mode always, in
    /// zero-copy mode when the driver asks for a wakeup) once this many are waiting, and at
    /// the next `receive`, `transmit` or [`XskDevice::flush`](crate::XskDevice::flush); 1
    /// kicks every frame at once. At most `frame_count / 2`.
    pub tx_kick_batch: u32,
}

impl Default for XskConfig {
    /// 4096 frames of 2048 octets (8 MiB), hugepages when free, zero-copy when the driver
    /// has it, IP MTU 1500, kicks in batches of 32.
    fn default() -> Self {
        XskConfig {
            frame_size: FrameSize::B2048,
            frame_count: 4096,
            hugepages: HugePages::Auto,
            bind: BindMode::Auto,
            mtu: 1500,
            tx_kick_batch: 32,
        }
    }
}

impl XskConfig {
    /// Octets of the UMEM.
    pub fn umem_bytes(&self) -> usize {
        self.frame_count as usize * self.frame_size.bytes()
    }

    /// Entries of each ring, and frames of each half.
    pub fn ring_size(&self) -> u32 {
        self.frame_count / 2
    }

    /// Everything wrong with this configuration, all at once (empty when it is sound).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.frame_count.is_power_of_two()
            || !(MIN_FRAMES..=MAX_FRAMES).contains(&self.frame_count)
        {
            out.push(format!(
                "frame_count {} is not a power of two from {MIN_FRAMES} to {MAX_FRAMES}",
                self.frame_count
            ));
        }
        let max_mtu = self.frame_size.max_frame() - ETHERNET_HEADER;
        if !(576..=max_mtu).contains(&self.mtu) {
            out.push(format!(
                "mtu {} is outside 576..={max_mtu} (frames of {} octets)",
                self.mtu,
                self.frame_size.bytes()
            ));
        }
        if self.tx_kick_batch == 0 || self.tx_kick_batch > self.ring_size().max(1) {
            out.push(format!(
                "tx_kick_batch {} is outside 1..={}",
                self.tx_kick_batch,
                self.ring_size().max(1)
            ));
        }
        out
    }

    pub(crate) fn validate(&self) -> Result<(), AfXdpError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(AfXdpError::InvalidConfig(problems.join("; ")))
        }
    }

    /// The Ethernet MTU smoltcp is given.
    pub(crate) fn ethernet_mtu(&self) -> usize {
        self.mtu + ETHERNET_HEADER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_sound_and_problems_come_all_at_once() {
        let c = XskConfig::default();
        assert!(c.problems().is_empty());
        assert_eq!(c.umem_bytes(), 8 << 20);
        assert_eq!(c.ring_size(), 2048);
        assert_eq!(c.ethernet_mtu(), 1514);
        let bad = XskConfig {
            frame_count: 1000,
            mtu: 2000,
            tx_kick_batch: 0,
            ..XskConfig::default()
        };
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
        assert!(matches!(bad.validate(), Err(AfXdpError::InvalidConfig(_))));
        let big = XskConfig {
            frame_size: FrameSize::B4096,
            mtu: 3826,
            frame_count: 64,
            tx_kick_batch: 32,
            ..XskConfig::default()
        };
        assert!(big.problems().is_empty(), "{:?}", big.problems());
        let small = XskConfig {
            frame_count: 32,
            ..XskConfig::default()
        };
        assert_eq!(small.problems().len(), 2, "{:?}", small.problems());
    }
}
