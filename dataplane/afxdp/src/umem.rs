//! The UMEM's memory: one anonymous mapping (memmap2), on 2 MiB hugepages when asked and
//! available, else on normal pages.

use std::io;

use memmap2::{MmapOptions, MmapRaw};

use crate::{AfXdpError, HugePages, Pages};

/// 2 MiB, the hugepage size asked for (`MAP_HUGE_2MB`: 21 bits).
pub(crate) const HUGEPAGE: usize = 2 << 20;
const HUGEPAGE_BITS: u8 = 21;
const PAGE: usize = 4096;

/// The mapping behind a UMEM.
///
/// Held as an `MmapRaw`, which gives a raw pointer and never a Rust reference to the whole
/// mapping: the kernel writes received packets into it while the device runs. Frames are
/// reached through [`Area::base`] by the device, one frame at a time, only while the device
/// owns that frame.
#[derive(Debug)]
pub(crate) struct Area {
    map: MmapRaw,
    pages: Pages,
    /// Why hugepages were not used, when they were tried and refused.
    huge_refusal: Option<io::Error>,
}

impl Area {
    /// Maps at least `len` octets (rounded up to the page size used), prefaulted
    /// (`MAP_POPULATE`), zeroed.
    pub(crate) fn map(len: usize, huge: HugePages) -> Result<Area, AfXdpError> {
        let mut huge_refusal = None;
        if huge != HugePages::Off {
            let bytes = len.next_multiple_of(HUGEPAGE);
            match MmapOptions::new()
                .len(bytes)
                .huge(Some(HUGEPAGE_BITS))
                .populate()
                .map_anon()
            {
                Ok(map) => {
                    return Ok(Area {
                        map: map.into(),
                        pages: Pages::Huge2M,
                        huge_refusal: None,
                    });
                }
                Err(source) if huge == HugePages::Require => {
                    return Err(AfXdpError::Umem {
                        bytes,
                        pages: Pages::Huge2M.name(),
                        source,
                    });
                }
                Err(e) => huge_refusal = Some(e),
            }
        }
        let bytes = len.next_multiple_of(PAGE);
        let map = MmapOptions::new()
            .len(bytes)
            .populate()
            .map_anon()
            .map_err(|source| AfXdpError::Umem {
                bytes,
                pages: Pages::Normal.name(),
                source,
            })?;
        Ok(Area {
            map: map.into(),
            pages: Pages::Normal,
            huge_refusal,
        })
    }

    /// The start of the mapping (page aligned, never null for a successful mmap).
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Octets mapped.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn pages(&self) -> Pages {
        self.pages
    }

    pub(crate) fn huge_refusal(&self) -> Option<&io::Error> {
        self.huge_refusal.as_ref()
    }
}

/// Free 2 MiB hugepages, from /proc/meminfo (0 when it cannot be read).
pub fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("HugePages_Free:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_pages_when_asked() {
        let a = Area::map(3 * PAGE + 1, HugePages::Off).unwrap();
        assert_eq!(a.pages(), Pages::Normal);
        assert_eq!(a.len(), 4 * PAGE);
        assert_eq!(a.base() as usize % PAGE, 0);
        assert!(a.huge_refusal().is_none());
    }

    #[test]
    fn hugepages_when_free_else_normal_pages_with_the_reason() {
        let len = 4 * HUGEPAGE;
        let free = free_hugepages();
        let a = Area::map(len, HugePages::Auto).unwrap();
        eprintln!(
            "{free} free hugepages: {} ({:?})",
            a.pages().name(),
            a.huge_refusal()
        );
        match a.pages() {
            Pages::Huge2M => {
                assert_eq!(a.base() as usize % HUGEPAGE, 0);
                assert_eq!(a.len(), len);
            }
            Pages::Normal => assert!(a.huge_refusal().is_some()),
        }
        let pages = a.pages();
        drop(a);
        let required = Area::map(len, HugePages::Require);
        assert_eq!(required.is_ok(), pages == Pages::Huge2M);
        if let Err(e) = required {
            assert!(e.to_string().contains("2 MiB hugepages"), "{e}");
        }
    }
}
