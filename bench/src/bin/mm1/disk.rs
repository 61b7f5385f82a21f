//! The disk's own rate for the durable path, measured in the same run: records of the
//! message's size written one after the other into a preallocated file (as the store does:
//! `fallocate`d segments), one `fdatasync` per batch of N records. Three ways, as the store's
//! modes: `buffered` (one `pwrite` per record, through the page cache), `direct` (the batch
//! copied into a 4 KiB-aligned buffer, padded to whole blocks, one `O_DIRECT` `pwrite`) and
//! `prepared` (direct, into a file written with zeros beforehand, as the store's reused
//! segments, or its new ones with `zero_fill`: the writes overwrite allocated blocks; the
//! file is reused round-robin).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Size of one preallocated file, as the store's default segment.
const FILE_BYTES: u64 = 64 << 20;

/// Block size of direct writes (offsets, lengths and buffer addresses), as the store's.
const BLOCK: usize = 4096;

/// How the reference writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A `pwrite` per record into a preallocated file, through the page cache.
    Buffered,
    /// One `O_DIRECT` write per batch into a preallocated file.
    Direct,
    /// One `O_DIRECT` write per batch into a file written with zeros beforehand.
    Prepared,
}

impl Mode {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Buffered => "buffered",
            Mode::Direct => "direct",
            Mode::Prepared => "prepared",
        }
    }
}

/// The figures of one batch size.
#[derive(Clone, Debug)]
pub struct DiskResult {
    /// Records per fdatasync.
    pub batch: usize,
    /// How the records were written.
    pub mode: Mode,
    /// Records per second.
    pub rate: f64,
    /// MB/s (10^6 octets).
    pub mb_per_s: f64,
    /// Median duration of one fdatasync, ms.
    pub sync_p50_ms: f64,
}

struct Segment {
    file: File,
    at: u64,
}

impl Segment {
    /// A new preallocated file: `fallocate -l` (util-linux) gives the same unwritten extents
    /// as the store's fallocate(2); without it, a sparse file.
    fn create(path: &Path, mode: Mode) -> Result<Segment, String> {
        let _ = std::fs::remove_file(path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let fallocated = Command::new("fallocate")
            .arg("-l")
            .arg(FILE_BYTES.to_string())
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !fallocated {
            file.set_len(FILE_BYTES).map_err(|e| e.to_string())?;
        }
        if mode == Mode::Prepared {
            let zeros = vec![0u8; 1 << 20];
            let mut at = 0;
            while at < FILE_BYTES {
                file.write_all_at(&zeros, at)
                    .map_err(|e| format!("zero-fill: {e}"))?;
                at += zeros.len() as u64;
            }
        }
        file.sync_all().map_err(|e| e.to_string())?;
        if mode != Mode::Buffered {
            use std::os::unix::fs::OpenOptionsExt;
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
                .open(path)
                .map_err(|e| format!("cannot open {} with O_DIRECT: {e}", path.display()))?;
            return Ok(Segment { file, at: 0 });
        }
        Ok(Segment { file, at: 0 })
    }
}

/// Write `record_bytes`-octet records with one fdatasync per `batch`, for about `duration`
/// (at least one batch), into files in `dir`. Like the store's segments, the files are kept
/// until the end (their pages stay in the page cache: new pages are taken for every record,
/// as the store takes them; reusing the pages of a deleted file would be cheaper than what
/// the store does); they are removed afterwards.
pub fn measure(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    mode: Mode,
    duration: Duration,
) -> Result<DiskResult, String> {
    let direct = mode != Mode::Buffered;
    let batch = batch.max(1);
    let name = |i: usize| dir.join(format!("disk-reference.{batch}.{i}.seg"));
    let mut files = 1;
    let result = (|| {
        let mut seg = Segment::create(&name(0), mode)?;
        // Data that does not compress or dedupe to nothing, like a JPEG.
        let mut record = vec![0u8; record_bytes];
        crate::fixtures::XorShift64::new(0xD15C).fill(&mut record);
        // Direct mode: one aligned buffer for a whole batch.
        let run = (record_bytes * batch).next_multiple_of(BLOCK);
        let mut staging = if direct {
            vec![0u8; run + BLOCK]
        } else {
            Vec::new()
        };
        let skip = (BLOCK - staging.as_ptr().addr() % BLOCK) % BLOCK;
        let mut sync_ns: Vec<u64> = Vec::new();
        let mut records = 0u64;
        let start = Instant::now();
        while records == 0 || start.elapsed() < duration {
            if direct {
                if seg.at + run as u64 > FILE_BYTES.max(run as u64) {
                    if mode == Mode::Prepared {
                        // Round-robin over the same written blocks.
                        seg.at = 0;
                    } else {
                        seg = Segment::create(&name(files), mode)?;
                        files += 1;
                    }
                }
                let buf = staging
                    .get_mut(skip..skip + run)
                    .ok_or("staging buffer too short")?;
                // A copy per record, as the store makes into its chunk.
                for chunk in buf.chunks_mut(record_bytes).take(batch) {
                    let n = chunk.len();
                    chunk.copy_from_slice(record.get(..n).unwrap_or(&[]));
                }
                seg.file
                    .write_all_at(buf, seg.at)
                    .map_err(|e| format!("direct write: {e}"))?;
                seg.at += run as u64;
            }
            for _ in 0..if direct { 0 } else { batch } {
                if seg.at + record_bytes as u64 > FILE_BYTES {
                    // The store rolls to a new segment; so does this.
                    seg.file.sync_data().map_err(|e| e.to_string())?;
                    seg = Segment::create(&name(files), mode)?;
                    files += 1;
                }
                seg.file
                    .write_all_at(&record, seg.at)
                    .map_err(|e| format!("write: {e}"))?;
                seg.at += record_bytes as u64;
            }
            let t = Instant::now();
            seg.file
                .sync_data()
                .map_err(|e| format!("fdatasync: {e}"))?;
            sync_ns.push(t.elapsed().as_nanos() as u64);
            records += batch as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        sync_ns.sort_unstable();
        let p50 = sync_ns.get(sync_ns.len() / 2).copied().unwrap_or(0);
        Ok(DiskResult {
            batch,
            mode,
            rate: records as f64 / secs,
            mb_per_s: records as f64 * record_bytes as f64 / secs / 1e6,
            sync_p50_ms: p50 as f64 / 1e6,
        })
    })();
    for i in 0..files {
        let _ = std::fs::remove_file(name(i));
    }
    result
}
