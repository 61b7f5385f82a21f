//! The MM2 message store of mmsc: append-only segment files, one writer thread doing group
//! commit, reads through memory maps.
//!
//! - **Records.** Each record is a 24-octet header (magic, kind, length, CRC-32 of header and
//!   payload, log sequence number) and its payload, padded to 8 octets. Payloads are opaque to
//!   the store; the control plane defines their kinds.
//! - **Writes.** [`Store::append`] hands a record to the writer thread. The writer takes every
//!   record queued at that moment (a batch), writes it into the active segment, then makes the
//!   batch durable with one `fdatasync` and only then reports the records' [`Location`]s on the
//!   completion channel. An acknowledged record is on disk.
//! - **Routes.** A record appended with [`Store::append_routed`] is also reported, before the
//!   completion channel hears of it, to the sink of its [`Route`] ([`Store::add_route`]): a
//!   dataplane core answers the handset from there, without waiting for the thread that reads
//!   the channel. A commit of routed records only does not wake the channel's reader: it
//!   polls for them (see [`Store::open`]).
//! - **Direct I/O** ([`IoMode::Direct`], the default): the writer copies the batch into a
//!   4 KiB-aligned buffer of its own and writes it with one `pwrite` on an `O_DIRECT`
//!   descriptor, so the octets go from that buffer to the device without the kernel copying
//!   them into (and allocating) page-cache pages; each batch starts on a 4 KiB boundary and is
//!   padded with zeros to one. The buffers of the newest batches stay in memory (the
//!   *window*) and serve reads; older records are read from the file. Where the file system
//!   refuses `O_DIRECT` (tmpfs), the store falls back to [`IoMode::Buffered`]: records are
//!   written with `pwritev` from where they are into the page cache.
//! - **Segments** are preallocated (`fallocate`) files of a fixed size, so `fdatasync` has no
//!   file-size metadata to flush and a full disk fails when a segment is created, as an error,
//!   never as a fault on a mapped page. With [`StoreConfig::prepare_segments`] the next one is
//!   made ready by a thread of its own: a deleted segment reused (commits overwrite allocated,
//!   written blocks: no journal commit per `fdatasync`), or a new file preallocated off the
//!   commit path (and, with [`StoreConfig::zero_fill`], written with zeros first). A
//!   full segment ends with a marker record ([`SEGMENT_END`]); what a reused file held before
//!   lies behind it, or behind the newest record, with older sequence numbers, and is never
//!   read back as a record.
//! - **Reads** borrow ([`Mapped`]) from the write buffer of a batch still in the window, or from
//!   a read-only map of the segment: retrieval serves the stored octets without copying them
//!   into a new buffer. A buffer or map stays valid while any [`Mapped`] holds it, even after
//!   its batch left the window or its segment was deleted by compaction.
//! - **Recovery.** [`Store::open`] scans every segment; a record with a bad magic, length or CRC
//!   ends the segment (zeros from a record's end to the next 4 KiB boundary are a batch's
//!   padding: the scan goes on at the boundary). In the newest segment that is a torn tail from
//!   a crash: it is cut (zeroed) and writing resumes there (in direct mode at the next 4 KiB
//!   boundary, so an acknowledged record is never written over). In an older segment it is corruption, reported in
//!   [`Recovered::problems`].
//! - **Failure.** A failed write or `fdatasync` fails its batch and every later append (the
//!   page cache can no longer be trusted); the process must restart and recover.
//!
//! This crate is the storage I/O backend: its only `unsafe` is the creation of the maps and the
//! advice that drops their pages.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::ops::{Deref, Range};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use memmap2::Mmap;

/// Record header size.
pub const HEADER_BYTES: usize = 24;
/// Kind of the marker that ends a full segment (reserved: the store's, never returned). It
/// carries the log sequence number of the record before it, so a scan takes it for the end
/// of the segment's data; what follows it in a recycled file is stale.
pub const SEGMENT_END: u8 = 0xFF;
const MAGIC: u32 = 0x5253_4D4D; // "MMSR" little-endian
const ALIGN: u64 = 8;
/// Alignment of direct I/O: file offsets, lengths and buffer addresses (the largest logical
/// block size of common devices).
pub const BLOCK: u64 = 4096;

/// How the writer puts records on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IoMode {
    /// `O_DIRECT` writes from the store's own aligned buffers (no page-cache copy); the
    /// newest batches' buffers serve reads. The default.
    #[default]
    Direct,
    /// `pwritev` through the page cache.
    Buffered,
}

impl IoMode {
    /// `"direct"` or `"buffered"`.
    pub fn name(self) -> &'static str {
        match self {
            IoMode::Direct => "direct",
            IoMode::Buffered => "buffered",
        }
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O error (the operation names what was being done).
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A previous write or sync failed; the store accepts nothing until restarted.
    #[error("store failed earlier; restart to recover")]
    Failed,
    /// The store is shutting down.
    #[error("store is closed")]
    Closed,
    /// A record larger than the store accepts.
    #[error("record of {0} octets is too large")]
    TooLarge(usize),
    /// A record kind the store reserves for itself ([`SEGMENT_END`]).
    #[error("record kind {0:#04x} is reserved")]
    ReservedKind(u8),
    /// Every route number is taken.
    #[error("no route left (65 535 per store)")]
    TooManyRoutes,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { op, source }
}

/// Where a record's payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Segment number.
    pub segment: u32,
    /// Offset of the payload in the segment.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
}

impl Location {
    /// Octets the record takes in its segment (header, payload, padding).
    pub fn footprint(&self) -> u64 {
        record_footprint(self.len as usize)
    }
}

fn record_footprint(payload: usize) -> u64 {
    (HEADER_BYTES as u64 + payload as u64).div_ceil(ALIGN) * ALIGN
}

/// A record's payload, gathered from several buffers so that large parts (a PDU received in
/// an HTTP request buffer, a record relocated from an older segment) are written from where
/// they are, without a copy.
#[derive(Debug, Default)]
pub struct Payload {
    parts: Vec<Part>,
}

/// Where a buffer goes once its payload is written (or dropped): back to the pool it came
/// from (see [`Payload::push_recycled`]).
pub trait Recycle: Send + Sync {
    /// Take the buffer back.
    fn recycle(&self, buf: Vec<u8>);
}

enum Part {
    Owned(Vec<u8>, Range<usize>),
    Mapped(Mapped),
    Recycled(Vec<u8>, Range<usize>, Arc<dyn Recycle>),
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Part({} octets)", self.bytes().len())
    }
}

impl Part {
    fn bytes(&self) -> &[u8] {
        match self {
            Part::Owned(v, r) | Part::Recycled(v, r, _) => v.get(r.clone()).unwrap_or(&[]),
            Part::Mapped(m) => m,
        }
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        for p in self.parts.drain(..) {
            if let Part::Recycled(v, _, home) = p {
                home.recycle(v);
            }
        }
    }
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Append a whole buffer.
    pub fn push(&mut self, v: Vec<u8>) -> &mut Self {
        let r = 0..v.len();
        self.parts.push(Part::Owned(v, r));
        self
    }

    /// Append `range` of `v` (clamped to `v`).
    pub fn push_range(&mut self, v: Vec<u8>, range: Range<usize>) -> &mut Self {
        let end = range.end.min(v.len());
        let start = range.start.min(end);
        self.parts.push(Part::Owned(v, start..end));
        self
    }

    /// Append `range` of `v` (clamped), and give `v` to `home` once the payload is written
    /// (or dropped): a request buffer goes back to its core's pool.
    pub fn push_recycled(
        &mut self,
        v: Vec<u8>,
        range: Range<usize>,
        home: Arc<dyn Recycle>,
    ) -> &mut Self {
        let end = range.end.min(v.len());
        let start = range.start.min(end);
        self.parts.push(Part::Recycled(v, start..end, home));
        self
    }

    /// Append octets of a segment map (e.g. a record being relocated by compaction).
    pub fn push_mapped(&mut self, m: Mapped) -> &mut Self {
        self.parts.push(Part::Mapped(m));
        self
    }

    /// Total length.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.bytes().len()).sum()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.parts.iter().map(Part::bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        let mut p = Payload::new();
        p.push(v);
        p
    }
}

/// What [`Mapped`] octets live in: a segment file's map, or a chunk of direct-mode write
/// buffers.
enum Backing {
    File(Mmap),
    Chunk(Chunk),
}

impl Backing {
    /// The octets `r` (empty when out of bounds).
    fn get(&self, r: Range<usize>) -> &[u8] {
        match self {
            Backing::File(m) => m.get(r).unwrap_or(&[]),
            Backing::Chunk(c) => c.get(r),
        }
    }

    fn len(&self) -> usize {
        match self {
            Backing::File(m) => m.len(),
            Backing::Chunk(c) => c.raw.len(),
        }
    }
}

/// Direct mode: anonymous, page-aligned memory that batches are copied into for their
/// `O_DIRECT` write, one after the other on block boundaries, and that then serves reads of
/// those records while the chunk is in the window. Chunks are reused once out of the window
/// and no reader holds them, so the writer does not fault in fresh pages for every batch.
///
/// The writer copies into octets of a chunk that no reader has been given (past every
/// published batch) while readers read published batches of the same chunk; so the chunk
/// hands out raw memory, never a slice of the whole.
struct Chunk {
    raw: memmap2::MmapRaw,
}

impl Chunk {
    fn new(len: usize) -> std::io::Result<Chunk> {
        Ok(Chunk {
            raw: memmap2::MmapMut::map_anon(len)?.into(),
        })
    }

    /// The octets `r`: only ranges of published batches (readers), or of the batch being
    /// written (the writer, before publishing it).
    fn get(&self, r: Range<usize>) -> &[u8] {
        if r.start > r.end || r.end > self.raw.len() {
            return &[];
        }
        // SAFETY: `r` is within the mapping (checked above), which lives as long as `self`.
        // Callers ask only for octets that are not being written while the slice lives:
        // published batches are never written again until the chunk is reused, which needs
        // the writer's `Arc` to be the only one left (no `Mapped`, no window entry); and the
        // writer reads its unpublished batch only on its own thread.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(r.start), r.len()) }
    }

    /// Copy `src` to offset `at` (the writer, into octets no reader has been given). An
    /// error (never expected: callers size the chunk first) rather than a partial copy.
    fn put(&self, at: usize, src: &[u8]) -> std::io::Result<()> {
        if at
            .checked_add(src.len())
            .is_none_or(|end| end > self.raw.len())
        {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: the destination is within the mapping (checked above). Only the writer
        // thread calls `put`, and only at offsets past every batch published from this chunk,
        // which no reader can reach until the batch is published (through the window's lock,
        // after this copy). `src` never overlaps the destination: it is a request buffer, or
        // (compaction relocating a recent record) a published batch, which lies before it.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.raw.as_mut_ptr().add(at), src.len())
        };
        Ok(())
    }
}

/// Octets borrowed from a segment map or a batch's write buffer.
#[derive(Clone)]
pub struct Mapped {
    map: Arc<Backing>,
    range: Range<usize>,
}

impl Mapped {
    /// A sub-range of these octets (clamped).
    pub fn slice(&self, r: Range<usize>) -> Mapped {
        let end = (self.range.start + r.end).min(self.range.end);
        let start = (self.range.start + r.start).min(end);
        Mapped {
            map: Arc::clone(&self.map),
            range: start..end,
        }
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.get(self.range.clone())
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Mapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapped({} octets)", self.range.len())
    }
}

/// Store settings.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Directory of the segment files (created if absent).
    pub path: PathBuf,
    /// Size of a segment file. A record larger than this gets a segment of its own size.
    pub segment_bytes: u64,
    /// Most records made durable by one `fdatasync`.
    pub max_batch_records: usize,
    /// Largest record accepted.
    pub max_record_bytes: usize,
    /// Octets of the most recently written records kept in memory, so that readers of recent
    /// messages find them there; a read of an older record comes from the disk. In direct
    /// mode these are the batches' own write buffers (reused once out of the window; 0 keeps
    /// none). In buffered mode it is the page cache: older ranges are dropped from it once
    /// durable (`POSIX_FADV_DONTNEED`), so that writing reuses the same pages instead of
    /// growing the cache into memory the machine has not touched yet (costly on a VM); 0
    /// leaves the page cache to the kernel.
    pub page_cache_window: u64,
    /// Direct or buffered writes.
    pub io: IoMode,
    /// Keep the next segment ready ahead of time (a thread of its own): a deleted segment of
    /// the configured size is kept and reused (up to sixteen: its blocks are allocated and
    /// written, so group commits overwrite them and their `fdatasync` needs no file-system
    /// journal commit); otherwise a new one is created and preallocated off the commit path.
    pub prepare_segments: bool,
    /// With `prepare_segments`, a new segment is also written with zeros before use (as
    /// PostgreSQL's WAL zero-fill), so that commits into it overwrite written blocks too. It
    /// costs a second write of every new segment: disk bandwidth the commits share, and wear.
    pub zero_fill: bool,
}

impl StoreConfig {
    /// Defaults for `path`: 64 MiB segments, batches of up to 1024 records, 64 MiB records,
    /// a 512 MiB window, direct I/O, prepared segments (reused, or preallocated without
    /// zero-fill).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig {
            path: path.into(),
            segment_bytes: 64 * 1024 * 1024,
            max_batch_records: 1024,
            max_record_bytes: 64 * 1024 * 1024,
            page_cache_window: 512 * 1024 * 1024,
            io: IoMode::Direct,
            prepare_segments: true,
            zero_fill: false,
        }
    }
}

/// One record found by recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveredRecord {
    /// Its kind.
    pub kind: u8,
    /// Its log sequence number.
    pub lsn: u64,
    /// Its payload.
    pub location: Location,
}

/// What [`Store::open`] found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Every valid record, in log order.
    pub records: Vec<RecoveredRecord>,
    /// Torn tail cut from the newest segment: (segment, offset, octets zeroed).
    pub cut: Option<(u32, u64, u64)>,
    /// Corruption found in older segments (records after it are lost).
    pub problems: Vec<String>,
}

/// A second destination of completions, besides the completion channel (see
/// [`Store::add_route`]). `Route::NONE` is no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route(u16);

impl Route {
    /// No route: the completion channel only.
    pub const NONE: Route = Route(0);
}

/// The sink of a [`Route`], called on the writer thread once per group commit that completed
/// records appended with that route. Neither call may block.
pub trait RouteSink: Send {
    /// Take `(token, durable)` of each such record (hand them on: a ring), before the
    /// completion channel hears of them.
    fn put(&mut self, done: &[(u64, bool)]);
    /// Wake their reader: called once every completion of the commit is handed on, so that
    /// the reader it wakes does not take the CPU from the writer before it is done.
    fn wake(&mut self);
}

/// The result of one append, delivered on the completion channel.
#[derive(Debug)]
pub struct Completion {
    /// The token given to [`Store::append`].
    pub token: u64,
    /// Where the record is, once durable; or why it is not.
    pub result: Result<Location, StoreError>,
}

/// Per-segment figures, for compaction decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Segment number.
    pub id: u32,
    /// File size.
    pub size: u64,
    /// Octets used by records.
    pub used: u64,
    /// True for the segment being written.
    pub active: bool,
}

enum Cmd {
    Append {
        kind: u8,
        payload: Payload,
        token: u64,
        route: Route,
    },
    AddRoute(Route, Box<dyn RouteSink>),
    Delete(u32),
    Barrier(Sender<()>),
}

/// A batch in the window: the octets `start..end` of `segment`, at `base` in chunk `data`.
struct RecentBatch {
    segment: u32,
    start: u64,
    end: u64,
    data: Arc<Backing>,
    base: usize,
}

struct Shared {
    dir: PathBuf,
    maps: RwLock<BTreeMap<u32, (Arc<Backing>, u64)>>,
    /// Direct mode: the write buffers of the newest batches, oldest first.
    recent: RwLock<std::collections::VecDeque<RecentBatch>>,
    /// True while the writer uses direct I/O.
    direct: AtomicBool,
    active: AtomicU64,
    failed: AtomicBool,
    syncs: AtomicU64,
    records: AtomicU64,
    /// Segments that were prepared ahead of time when the writer rolled.
    prepared_used: AtomicU64,
    /// Of those, deleted segments reused (the preparer counts them).
    reused: Arc<AtomicU64>,
    /// Position (segment << 40 | offset) from which records are still in the page-cache
    /// window; 0 while nothing was dropped (or the window is off).
    cached_from: AtomicU64,
}

/// A record's position in the log, comparable across segments.
fn position(segment: u32, offset: u64) -> u64 {
    (u64::from(segment) << 40) | (offset & ((1 << 40) - 1))
}

/// A handle to the store; clone it freely. Dropping the last handle stops the writer after
/// the queued records are written.
#[derive(Clone)]
pub struct Store {
    tx: Sender<Cmd>,
    shared: Arc<Shared>,
    /// The last route handed out.
    routes: Arc<std::sync::atomic::AtomicU16>,
    writer: Arc<WriterHandle>,
}

struct WriterHandle(std::sync::Mutex<Option<JoinHandle<()>>>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.dir)
            .finish()
    }
}

fn segment_path(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("{id:08}.seg"))
}

fn map_file(file: &File) -> Result<Mmap, StoreError> {
    // SAFETY: segment files belong to this store: they are only written through `pwrite` by
    // its single writer thread, at offsets no reader has been given yet (a `Location` is
    // published only after its octets are written and synced), and never truncated while
    // mapped (deleted segments are unlinked, which keeps the pages of live maps). Another
    // process modifying the files would break this; the store directory is private to mmsc.
    unsafe { Mmap::map(file) }.map_err(io("map segment"))
}

/// A second descriptor of a segment, for direct writes; `None` where the file system refuses
/// `O_DIRECT`.
fn open_direct(dir: &Path, id: u32) -> Option<File> {
    open_direct_path(&segment_path(dir, id))
}

fn open_direct_path(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
        .ok()
}

/// Drop a segment map's page-table entries (see [`Store::release_pages`]).
fn release_map(map: &Mmap) {
    // SAFETY: the maps are read-only shared maps of files that are only ever written through
    // pwrite (never through a map). MADV_DONTNEED on such a map drops the page-table entries
    // only: the next access reads the same octets again from the page cache or the file, so
    // every live `Mapped` keeps seeing the same data.
    let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
}

/// The size of a new segment for a first record of `need` octets.
fn segment_size(cfg: &StoreConfig, need: u64) -> u64 {
    let size = cfg.segment_bytes.max(need);
    match cfg.io {
        IoMode::Direct => size.next_multiple_of(BLOCK),
        IoMode::Buffered => size,
    }
}

/// Create a segment file under a temporary name, preallocated and, with `zero_fill`, written
/// with zeros (direct writes where the file system allows them); durably.
fn prepare_segment(
    dir: &Path,
    n: u64,
    size: u64,
    zero_fill: bool,
    stop: &AtomicBool,
) -> std::io::Result<Prepared> {
    let path = dir.join(format!("next-{n}.seg{PREPARING}"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let result = (|| {
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size)?;
        if zero_fill {
            const STEP: usize = 1 << 20;
            let zeros = memmap2::MmapMut::map_anon(STEP)?;
            let direct = open_direct_path(&path);
            let mut at = 0u64;
            while at < size {
                if stop.load(Ordering::Acquire) {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                let n = (size - at).min(STEP as u64) as usize;
                let chunk = zeros.get(..n).unwrap_or(&[]);
                match &direct {
                    Some(d) if n.is_multiple_of(BLOCK as usize) => d.write_all_at(chunk, at)?,
                    _ => file.write_all_at(chunk, at)?,
                }
                at += n as u64;
            }
        }
        file.sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(Prepared { path, file }),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Take a deleted segment file for reuse under a preparing name.
fn recycle_segment(dir: &Path, old: &Path, n: u64) -> std::io::Result<Prepared> {
    let path = dir.join(format!("next-{n}.seg{PREPARING}"));
    std::fs::rename(old, &path)?;
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    Ok(Prepared { path, file })
}

/// The preparer thread: always one segment ready (the channel holds one), a deleted one
/// reused or a new one preallocated (and written with zeros with `zero_fill`); ends when the
/// writer is gone, removing what it had prepared.
fn run_preparer(
    dir: PathBuf,
    size: u64,
    zero_fill: bool,
    tx: Sender<Prepared>,
    stop: Arc<AtomicBool>,
    free: FreeList,
    reused: Arc<AtomicU64>,
) {
    let mut n = 0u64;
    let mut failing = false;
    loop {
        n += 1;
        let reuse = free.lock().ok().and_then(|mut f| f.pop());
        let made = match reuse {
            Some(old) => match recycle_segment(&dir, &old, n) {
                Ok(p) => {
                    reused.fetch_add(1, Ordering::Relaxed);
                    Ok(p)
                }
                Err(_) => {
                    let _ = std::fs::remove_file(&old);
                    prepare_segment(&dir, n, size, zero_fill, &stop)
                }
            },
            None => prepare_segment(&dir, n, size, zero_fill, &stop),
        };
        let p = match made {
            Ok(p) => {
                failing = false;
                p
            }
            Err(_) if stop.load(Ordering::Acquire) => return,
            Err(e) => {
                // A full disk, say: segments are created when needed meanwhile; try again
                // later (said once per run of failures).
                if !failing {
                    eprintln!(
                        "mmsc: store: cannot prepare a segment in {} ({e}); new segments are \
                         created when needed, preparing again every {} s",
                        dir.display(),
                        PREPARE_RETRY.as_secs()
                    );
                }
                failing = true;
                let until = std::time::Instant::now() + PREPARE_RETRY;
                while std::time::Instant::now() < until {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if let Err(crossbeam_channel::SendError(p)) = tx.send(p) {
            let _ = std::fs::remove_file(&p.path);
            return;
        }
    }
}

fn create_segment(dir: &Path, id: u32, size: u64) -> Result<(File, Arc<Backing>), StoreError> {
    let path = segment_path(dir, id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io("create segment"))?;
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size).map_err(|e| {
        StoreError::Io {
            op: "preallocate segment",
            source: e.into(),
        }
    })?;
    file.sync_all().map_err(io("sync new segment"))?;
    // Make the new file's directory entry durable too.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    let map = map_file(&file)?;
    Ok((file, Arc::new(Backing::File(map))))
}

struct Header {
    kind: u8,
    len: u32,
    crc: u32,
    lsn: u64,
}

fn encode_header(kind: u8, payload: &Payload, lsn: u64) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    let len = payload.len() as u32;
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4] = kind;
    h[5] = 1; // record format version
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[16..24].copy_from_slice(&lsn.to_le_bytes());
    let mut c = crc32fast::Hasher::new();
    c.update(&h[0..12]);
    c.update(&h[16..24]);
    for s in payload.slices() {
        c.update(s);
    }
    h[12..16].copy_from_slice(&c.finalize().to_le_bytes());
    h
}

fn decode_header(b: &[u8]) -> Option<Header> {
    let b: &[u8; HEADER_BYTES] = b.get(..HEADER_BYTES)?.try_into().ok()?;
    let magic = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if magic != MAGIC || b[5] != 1 {
        return None;
    }
    Some(Header {
        kind: b[4],
        len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        crc: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        lsn: u64::from_le_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
    })
}

fn check_crc(map: &[u8], at: usize, h: &Header) -> bool {
    let Some(hdr) = map.get(at..at + HEADER_BYTES) else {
        return false;
    };
    let Some(payload) = map.get(at + HEADER_BYTES..at + HEADER_BYTES + h.len as usize) else {
        return false;
    };
    let mut c = crc32fast::Hasher::new();
    c.update(&hdr[0..12]);
    c.update(&hdr[16..24]);
    c.update(payload);
    c.finalize() == h.crc
}

/// Scan one segment: its valid records, and where the valid data ends.
fn scan(id: u32, map: &[u8], out: &mut Vec<RecoveredRecord>, last_lsn: &mut u64) -> (u64, bool) {
    let mut at = 0usize;
    loop {
        let mut header = decode_header(map.get(at..).unwrap_or(&[]));
        if header.is_none() {
            // A direct-mode batch ends with zeros up to a block boundary, where the next
            // batch starts.
            let boundary = at.next_multiple_of(BLOCK as usize);
            if boundary != at
                && map
                    .get(at..boundary)
                    .is_some_and(|gap| gap.iter().all(|&b| b == 0))
                && let Some(h) = decode_header(map.get(boundary..).unwrap_or(&[]))
            {
                at = boundary;
                header = Some(h);
            }
        }
        let Some(h) = header else {
            // End of data: zeros (clean) or garbage (torn / corrupt).
            let clean = map
                .get(at..at + HEADER_BYTES)
                .is_none_or(|b| b.iter().all(|&x| x == 0));
            return (at as u64, clean);
        };
        let fits = at + HEADER_BYTES + h.len as usize <= map.len();
        if !fits || !check_crc(map, at, &h) {
            return (at as u64, false);
        }
        if h.kind == SEGMENT_END || h.lsn <= *last_lsn {
            // The end marker of a full segment, or a whole record older than the log here:
            // what a recycled segment file held before. The data ends cleanly.
            return (at as u64, true);
        }
        *last_lsn = h.lsn;
        out.push(RecoveredRecord {
            kind: h.kind,
            lsn: h.lsn,
            location: Location {
                segment: id,
                offset: (at + HEADER_BYTES) as u64,
                len: h.len,
            },
        });
        at += record_footprint(h.len as usize) as usize;
        if at >= map.len() {
            return (at as u64, true);
        }
    }
}

/// A record placed in the active segment, waiting for its run to be written.
/// A record's token and the route its completion also goes to.
type Tag = (u64, Route);

struct Planned {
    /// None for the segment-end marker.
    token: Option<Tag>,
    header: [u8; HEADER_BYTES],
    pad: usize,
    payload: Payload,
    loc: Location,
}

struct Writer {
    cfg: StoreConfig,
    shared: Arc<Shared>,
    rx: Receiver<Cmd>,
    completions: Sender<Completion>,
    notify: Box<dyn Fn() + Send>,
    active_id: u32,
    active_file: File,
    active_size: u64,
    write_at: u64,
    lsn: u64,
    /// How far the active segment is durable and accounted in `cached`.
    active_synced: u64,
    /// Durable ranges still in the page cache, oldest first: (segment, from, to).
    cached: std::collections::VecDeque<(u32, u64, u64)>,
    /// Their total length.
    cached_bytes: u64,
    /// Rolled segments with ranges in `cached` (the active one is `active_file`).
    cached_files: BTreeMap<u32, File>,
    /// Rolled in the current batch, not yet synced: (segment, from, to).
    rolled: Vec<(u32, u64, u64)>,
    /// The active segment's `O_DIRECT` descriptor; `None` in buffered mode.
    direct: Option<File>,
    /// Direct mode: runs of this batch, published once it is durable.
    written: Vec<RecentBatch>,
    /// Direct mode: the chunks holding the window, oldest first (the last one is being
    /// filled).
    chunks: std::collections::VecDeque<Arc<Backing>>,
    /// Where the next run goes in the newest chunk.
    chunk_at: usize,
    /// Size of a chunk: an eighth of the window, between one block and 8 MiB.
    chunk_size: usize,
    /// Chunks that left the window, reused once no reader holds them.
    spare: Vec<Arc<Backing>>,
    /// Segment files written with zeros ahead of time, from the preparer thread; its stop
    /// flag and handle.
    prepared: Option<Receiver<Prepared>>,
    preparer: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    /// Deleted segments kept for the preparer (with preparation on).
    free: Option<FreeList>,
    /// The routes, by route number (0, no route, has none).
    routes: Vec<Option<RouteSlot>>,
}

/// A route's sink, and the completions of the commit being handed over to it (kept for its
/// capacity).
struct RouteSlot {
    sink: Box<dyn RouteSink>,
    done: Vec<(u64, bool)>,
    /// Given completions in this commit: its reader is to be woken.
    wake: bool,
}

/// A zero-filled file of `segment_bytes`, waiting under a temporary name to become the next
/// segment.
struct Prepared {
    path: PathBuf,
    file: File,
}

/// Suffix of segment files being prepared (removed at open: a crash may leave one).
const PREPARING: &str = ".prep";
/// Suffix of deleted segments kept for the preparer to reuse (removed at open).
const RECYCLED: &str = ".free";
/// Most deleted segment files kept for reuse.
const FREE_MAX: usize = 16;
/// How long the preparer waits after a failure before it tries again.
const PREPARE_RETRY: Duration = Duration::from_secs(5);

/// Deleted segment files of the configured size, kept for reuse: rolling into one overwrites
/// allocated blocks as a zero-filled file does, without writing it first. What it held
/// before is stale: it ends the data of the segment in a scan (an older log sequence number,
/// or no record at all after the marker that ends every full segment).
type FreeList = Arc<std::sync::Mutex<Vec<PathBuf>>>;

/// Most spare chunks kept for reuse.
const SPARE_CHUNKS: usize = 4;

impl Store {
    /// Open (or create) the store in `cfg.path`, recover it, and start the writer. Completions
    /// of appends are sent on `completions`, after which `notify` is called (to wake the
    /// thread that reads them) — except after a commit whose records were all appended with
    /// a route ([`Store::append_routed`]): their routes' readers are woken, and the channel's
    /// reader is expected to look for them on its own while it waits for such records.
    pub fn open(
        cfg: StoreConfig,
        completions: Sender<Completion>,
        notify: Box<dyn Fn() + Send>,
    ) -> Result<(Store, Recovered), StoreError> {
        std::fs::create_dir_all(&cfg.path).map_err(io("create store directory"))?;
        let mut ids: Vec<u32> = std::fs::read_dir(&cfg.path)
            .map_err(io("list store directory"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".seg")?.parse::<u32>().ok()
            })
            .collect();
        ids.sort_unstable();
        // Segments being prepared when the process stopped: never part of the log.
        if let Ok(entries) = std::fs::read_dir(&cfg.path) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(PREPARING))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let mut recovered = Recovered::default();
        let mut maps = BTreeMap::new();
        let mut last_lsn = 0u64;
        let mut tail: Option<(u32, File, u64, u64)> = None;
        for (i, &id) in ids.iter().enumerate() {
            let path = segment_path(&cfg.path, id);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io("open segment"))?;
            let size = file.metadata().map_err(io("stat segment"))?.len();
            let file_map = map_file(&file)?;
            let (end, clean) = scan(id, &file_map, &mut recovered.records, &mut last_lsn);
            let map = Arc::new(Backing::File(file_map));
            let newest = i + 1 == ids.len();
            if newest {
                if !clean || map.get(end as usize..map.len()).iter().any(|&b| b != 0) {
                    // Cut the torn tail: zero it, so that nothing after the cut point can
                    // ever be read back as a record.
                    let last_nonzero = map
                        .get(0..map.len())
                        .iter()
                        .rposition(|&b| b != 0)
                        .map_or(end, |p| p as u64 + 1);
                    let zeros = vec![0u8; 1 << 20];
                    let mut at = end;
                    while at < last_nonzero {
                        let n = (last_nonzero - at).min(zeros.len() as u64) as usize;
                        file.write_all_at(zeros.get(..n).unwrap_or(&[]), at)
                            .map_err(io("cut torn tail"))?;
                        at += n as u64;
                    }
                    file.sync_data().map_err(io("sync cut tail"))?;
                    recovered.cut = Some((id, end, last_nonzero.saturating_sub(end)));
                }
                tail = Some((id, file, size, end));
            } else if !clean {
                recovered.problems.push(format!(
                    "segment {id:08}: corrupt record at offset {end}; later records of this segment are lost"
                ));
            }
            maps.insert(id, (map, end));
        }
        let (active_id, active_file, active_size, mut write_at) = match tail {
            Some(t) => t,
            None => {
                let size = segment_size(&cfg, 0);
                let (file, map) = create_segment(&cfg.path, 1, size)?;
                maps.insert(1, (map, 0));
                (1, file, size, 0)
            }
        };
        let direct = match cfg.io {
            IoMode::Direct => open_direct(&cfg.path, active_id),
            IoMode::Buffered => None,
        };
        let mut cached_from = 0;
        if direct.is_some() {
            // Batches start on block boundaries; records before this one are read from the
            // file (the scan's pages are dropped: direct writes bypass them anyway).
            write_at = write_at.next_multiple_of(BLOCK).min(active_size);
            cached_from = position(active_id, write_at);
            for (map, _) in maps.values() {
                if let Backing::File(m) = &**map {
                    release_map(m);
                }
            }
            let _ = rustix::fs::fadvise(&active_file, 0, None, rustix::fs::Advice::DontNeed);
        }
        let shared = Arc::new(Shared {
            dir: cfg.path.clone(),
            maps: RwLock::new(maps),
            recent: RwLock::new(std::collections::VecDeque::new()),
            direct: AtomicBool::new(direct.is_some()),
            active: AtomicU64::new(u64::from(active_id)),
            failed: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            cached_from: AtomicU64::new(cached_from),
            records: AtomicU64::new(0),
            prepared_used: AtomicU64::new(0),
            reused: Arc::default(),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut writer = Writer {
            cfg,
            shared: Arc::clone(&shared),
            rx,
            completions,
            notify,
            active_id,
            active_file,
            active_size,
            write_at,
            lsn: last_lsn,
            active_synced: write_at,
            cached: std::collections::VecDeque::new(),
            cached_bytes: 0,
            cached_files: BTreeMap::new(),
            rolled: Vec::new(),
            direct,
            written: Vec::new(),
            chunks: std::collections::VecDeque::new(),
            chunk_at: 0,
            chunk_size: 0,
            spare: Vec::new(),
            prepared: None,
            preparer: None,
            free: None,
            routes: Vec::new(),
        };
        if writer.cfg.prepare_segments {
            let (ptx, prx) = crossbeam_channel::bounded(0);
            let dir = writer.cfg.path.clone();
            let size = writer.cfg.segment_bytes;
            let zero_fill = writer.cfg.zero_fill;
            let stop = Arc::new(AtomicBool::new(false));
            let stop2 = Arc::clone(&stop);
            let free: FreeList = Arc::default();
            let free2 = Arc::clone(&free);
            let reused = Arc::clone(&writer.shared.reused);
            // Without the thread, segments are created when needed: nothing is lost.
            if let Ok(h) = std::thread::Builder::new()
                .name("mmsc-store-prep".into())
                .spawn(move || run_preparer(dir, size, zero_fill, ptx, stop2, free2, reused))
            {
                writer.prepared = Some(prx);
                writer.preparer = Some((stop, h));
                writer.free = Some(free);
            }
        }
        writer.chunk_size = usize::try_from(
            (writer.cfg.page_cache_window / 8)
                .clamp(BLOCK, 8 << 20)
                .next_multiple_of(BLOCK),
        )
        .unwrap_or(8 << 20);
        let handle = std::thread::Builder::new()
            .name("mmsc-store".into())
            .spawn(move || writer.run())
            .map_err(io("start store writer"))?;
        Ok((
            Store {
                tx,
                shared,
                routes: Arc::default(),
                writer: Arc::new(WriterHandle(std::sync::Mutex::new(Some(handle)))),
            },
            recovered,
        ))
    }

    /// Queue a record. Its [`Completion`] (with `token`) arrives once it is durable, or failed.
    pub fn append(&self, kind: u8, payload: Payload, token: u64) -> Result<(), StoreError> {
        self.append_routed(kind, payload, token, Route::NONE)
    }

    /// A new route: records appended with it have their completion handed to `sink` too,
    /// first. At most 65 535 routes per store.
    pub fn add_route(&self, sink: Box<dyn RouteSink>) -> Result<Route, StoreError> {
        let n = self
            .routes
            .fetch_add(1, Ordering::Relaxed)
            .checked_add(1)
            .ok_or(StoreError::TooManyRoutes)?;
        let route = Route(n);
        self.tx
            .send(Cmd::AddRoute(route, sink))
            .map_err(|_| StoreError::Closed)?;
        Ok(route)
    }

    /// Queue a record whose completion goes to `route`'s sink, then to the completion channel
    /// as every completion does (with the same token).
    pub fn append_routed(
        &self,
        kind: u8,
        payload: Payload,
        token: u64,
        route: Route,
    ) -> Result<(), StoreError> {
        if kind == SEGMENT_END {
            return Err(StoreError::ReservedKind(kind));
        }
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(StoreError::Failed);
        }
        self.tx
            .send(Cmd::Append {
                kind,
                payload,
                token,
                route,
            })
            .map_err(|_| StoreError::Closed)
    }

    /// The payload at `loc`, borrowed from its batch's write buffer while that is in the
    /// window, else from its segment map.
    pub fn read(&self, loc: Location) -> Option<Mapped> {
        let end = loc.offset.checked_add(u64::from(loc.len))?;
        if let Ok(recent) = self.shared.recent.read()
            && !recent.is_empty()
        {
            let pos = position(loc.segment, loc.offset);
            let i = recent.partition_point(|b| position(b.segment, b.start) <= pos);
            if let Some(b) = i.checked_sub(1).and_then(|i| recent.get(i))
                && b.segment == loc.segment
                && end <= b.end
            {
                let from = b.base + usize::try_from(loc.offset - b.start).ok()?;
                return Some(Mapped {
                    map: Arc::clone(&b.data),
                    range: from..from + loc.len as usize,
                });
            }
        }
        let maps = self.shared.maps.read().ok()?;
        let (map, _) = maps.get(&loc.segment)?;
        let start = usize::try_from(loc.offset).ok()?;
        let end = usize::try_from(end).ok()?;
        (end <= map.len()).then(|| Mapped {
            map: Arc::clone(map),
            range: start..end,
        })
    }

    /// The write mode in use (direct falls back to buffered where the file system refuses it).
    pub fn io_mode(&self) -> IoMode {
        if self.shared.direct.load(Ordering::Acquire) {
            IoMode::Direct
        } else {
            IoMode::Buffered
        }
    }

    /// True when the record at `loc` is within the page-cache window (recent enough to be in
    /// memory); false when the store dropped it from the cache and reading it will wait for
    /// the disk (see [`StoreConfig::page_cache_window`]). Readers on latency-critical threads
    /// fetch such records on another thread first ([`Store::prefetch`]).
    pub fn is_cached(&self, loc: Location) -> bool {
        position(loc.segment, loc.offset) >= self.shared.cached_from.load(Ordering::Acquire)
    }

    /// Bring the record at `loc` into memory (touch each page of its mapping; blocks on the
    /// disk). Returns false when there is no such record.
    pub fn prefetch(&self, loc: Location) -> bool {
        let Some(m) = self.read(loc) else {
            return false;
        };
        let mut sum = 0u8;
        for b in m.iter().step_by(4096) {
            sum ^= *b;
        }
        if let Some(b) = m.last() {
            sum ^= *b;
        }
        std::hint::black_box(sum);
        true
    }

    /// Delete a segment that holds no live record any more (not the active one). Maps held
    /// by readers stay valid.
    pub fn delete_segment(&self, id: u32) -> Result<(), StoreError> {
        self.tx
            .send(Cmd::Delete(id))
            .map_err(|_| StoreError::Closed)
    }

    /// Wait until every command queued before this call has been carried out.
    pub fn barrier(&self) -> Result<(), StoreError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.tx
            .send(Cmd::Barrier(tx))
            .map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let active = self.shared.active.load(Ordering::Acquire);
        self.shared
            .maps
            .read()
            .map(|m| {
                m.iter()
                    .map(|(&id, (map, used))| SegmentInfo {
                        id,
                        size: map.len() as u64,
                        used: *used,
                        active: u64::from(id) == active,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drop this process's mappings of segment pages (they stay in the page cache, and are
    /// mapped again on the next read). Reads fault pages into the maps; without this the
    /// process's resident size grows with every octet ever read, although the kernel could
    /// reclaim those pages at any time. The control plane calls it periodically.
    pub fn release_pages(&self) {
        let maps: Vec<Arc<Backing>> = match self.shared.maps.read() {
            Ok(m) => m.values().map(|(map, _)| Arc::clone(map)).collect(),
            Err(_) => return,
        };
        for map in maps {
            if let Backing::File(m) = &*map {
                release_map(m);
            }
        }
    }

    /// (fdatasync calls, records written) since open.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.shared.syncs.load(Ordering::Relaxed),
            self.shared.records.load(Ordering::Relaxed),
        )
    }

    /// Segments rolled into that had been prepared ahead of time.
    pub fn prepared_segments_used(&self) -> u64 {
        self.shared.prepared_used.load(Ordering::Relaxed)
    }

    /// Deleted segments taken up again for reuse (instead of a new zero-filled file).
    pub fn segments_reused(&self) -> u64 {
        self.shared.reused.load(Ordering::Relaxed)
    }

    /// True once a write or sync failed.
    pub fn is_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
    }

    /// Stop the writer after the queued commands, and wait for it.
    pub fn close(self) {
        let Store { tx, writer, .. } = self;
        drop(tx);
        if let Ok(mut h) = writer.0.lock()
            && let Some(h) = h.take()
        {
            let _ = h.join();
        }
    }
}

impl Writer {
    fn run(&mut self) {
        let mut batch: Vec<(u8, Payload, u64, Route)> = Vec::new();
        let mut others: Vec<Cmd> = Vec::new();
        while let Ok(first) = self.rx.recv() {
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                match cmd {
                    Cmd::Append {
                        kind,
                        payload,
                        token,
                        route,
                    } => batch.push((kind, payload, token, route)),
                    // At once: appends queued behind it may use the route.
                    Cmd::AddRoute(route, sink) => {
                        let i = usize::from(route.0);
                        if self.routes.len() <= i {
                            self.routes.resize_with(i + 1, || None);
                        }
                        if let Some(slot) = self.routes.get_mut(i) {
                            *slot = Some(RouteSlot {
                                sink,
                                done: Vec::new(),
                                wake: false,
                            });
                        }
                    }
                    other => others.push(other),
                }
                if batch.len() < self.cfg.max_batch_records {
                    next = self.rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch);
            }
            for cmd in others.drain(..) {
                match cmd {
                    Cmd::Delete(id) => self.delete(id),
                    Cmd::Barrier(tx) => {
                        let _ = tx.send(());
                    }
                    Cmd::Append { .. } | Cmd::AddRoute(..) => {}
                }
            }
        }
        // Closed: stop the preparer (it removes what it was preparing) and wait for it; the
        // deleted segments kept for it go.
        self.prepared = None;
        if let Some((stop, h)) = self.preparer.take() {
            stop.store(true, Ordering::Release);
            let _ = h.join();
        }
        if let Some(free) = self.free.take()
            && let Ok(mut f) = free.lock()
        {
            for path in f.drain(..) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn fail_all(
        &mut self,
        batch: &mut Vec<(u8, Payload, u64, Route)>,
        why: impl Fn() -> StoreError,
    ) {
        let done: Vec<(Tag, Result<Location, StoreError>)> = batch
            .drain(..)
            .map(|(_, _, t, r)| ((t, r), Err(why())))
            .collect();
        self.deliver(done);
    }

    /// Hand the batch's completions on: first to the sinks of their routes, then to the
    /// completion channel; then wake the routes' readers, then the channel's, unless every
    /// record was routed (the channel's reader polls for those).
    fn deliver(&mut self, done: Vec<(Tag, Result<Location, StoreError>)>) {
        let mut unrouted = false;
        for ((token, route), result) in &done {
            match self.routes.get_mut(usize::from(route.0)) {
                Some(Some(slot)) => slot.done.push((*token, result.is_ok())),
                _ => unrouted = true,
            }
        }
        for slot in self.routes.iter_mut().flatten() {
            if !slot.done.is_empty() {
                slot.sink.put(&slot.done);
                slot.done.clear();
                slot.wake = true;
            }
        }
        for ((token, _), result) in done {
            let _ = self.completions.send(Completion { token, result });
        }
        for slot in self.routes.iter_mut().flatten() {
            if std::mem::take(&mut slot.wake) {
                slot.sink.wake();
            }
        }
        if unrouted {
            (self.notify)();
        }
    }

    fn roll(&mut self, need: u64) -> Result<(), StoreError> {
        let id = self.active_id + 1;
        let size = segment_size(&self.cfg, need);
        let ready = match &self.prepared {
            Some(rx) if size == self.cfg.segment_bytes => rx.try_recv().ok(),
            _ => None,
        };
        let (file, map) = match ready {
            Some(p) => self.adopt(p, id)?,
            None => create_segment(&self.shared.dir, id, size)?,
        };
        if self.direct.is_some() {
            self.direct = open_direct(&self.shared.dir, id);
            if self.direct.is_none() {
                self.fall_back_to_buffered("open a new segment with O_DIRECT");
            }
        }
        if let Ok(mut maps) = self.shared.maps.write() {
            maps.insert(id, (map, 0));
        }
        self.active_id = id;
        self.active_file = file;
        self.active_size = size;
        self.write_at = 0;
        self.active_synced = 0;
        self.shared.active.store(u64::from(id), Ordering::Release);
        Ok(())
    }

    /// Make a prepared file segment `id`: rename it, make the rename durable, map it.
    fn adopt(&self, p: Prepared, id: u32) -> Result<(File, Arc<Backing>), StoreError> {
        let path = segment_path(&self.shared.dir, id);
        std::fs::rename(&p.path, &path).map_err(io("rename prepared segment"))?;
        File::open(&self.shared.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync store directory"))?;
        let map = map_file(&p.file)?;
        self.shared.prepared_used.fetch_add(1, Ordering::Relaxed);
        Ok((p.file, Arc::new(Backing::File(map))))
    }

    /// Write a run of records that lie one after the other from `start` in the active
    /// segment: one `pwritev` per up to IOV_MAX slices (headers, payload parts, padding).
    fn write_run(&self, start: u64, run: &[Planned]) -> std::io::Result<()> {
        const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];
        const IOV_MAX: usize = 1024;
        let mut slices: Vec<std::io::IoSlice<'_>> = Vec::with_capacity(run.len() * 4);
        for p in run {
            slices.push(std::io::IoSlice::new(&p.header));
            for s in p.payload.slices() {
                if !s.is_empty() {
                    slices.push(std::io::IoSlice::new(s));
                }
            }
            if p.pad > 0 {
                slices.push(std::io::IoSlice::new(ZEROS.get(..p.pad).unwrap_or(&[])));
            }
        }
        let mut at = start;
        let mut rest: &mut [std::io::IoSlice<'_>] = &mut slices;
        while !rest.is_empty() {
            let n = rest.len().min(IOV_MAX);
            let written =
                match rustix::io::pwritev(&self.active_file, rest.get(..n).unwrap_or(&[]), at) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(w) => w,
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                };
            at += written as u64;
            std::io::IoSlice::advance_slices(&mut rest, written);
        }
        Ok(())
    }

    /// Write a planned run: directly from an aligned copy, or (buffered mode, or where the
    /// file system turns out to refuse direct writes) from where its octets are.
    fn write_planned(&mut self, start: u64, run: &[Planned]) -> std::io::Result<()> {
        if self.direct.is_some() {
            match self.write_run_direct(start, run) {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    self.fall_back_to_buffered("a direct write");
                }
                other => return other,
            }
        }
        self.write_run(start, run)
    }

    /// Direct mode: copy a run into a chunk on a block boundary, pad it with zeros to whole
    /// blocks, write it with `pwrite` on the `O_DIRECT` descriptor (keeping it for the
    /// window), and move `write_at` to the next block boundary.
    fn write_run_direct(&mut self, start: u64, run: &[Planned]) -> std::io::Result<()> {
        static ZEROS: [u8; BLOCK as usize] = [0; BLOCK as usize];
        let Some(last) = run.last() else {
            return Ok(());
        };
        let end = last.loc.offset + u64::from(last.loc.len) + last.pad as u64;
        let len = (end - start).next_multiple_of(BLOCK);
        let len_usize = usize::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let (chunk, base) = self.chunk_for(len_usize)?;
        let Backing::Chunk(c) = &*chunk else {
            return Err(std::io::ErrorKind::Unsupported.into());
        };
        let mut at = base;
        for p in run {
            c.put(at, &p.header)?;
            at += HEADER_BYTES;
            for s in p.payload.slices() {
                c.put(at, s)?;
                at += s.len();
            }
            c.put(at, ZEROS.get(..p.pad).unwrap_or(&[]))?;
            at += p.pad;
        }
        while at < base + len_usize {
            let n = (base + len_usize - at).min(ZEROS.len());
            c.put(at, ZEROS.get(..n).unwrap_or(&[]))?;
            at += n;
        }
        let Some(file) = &self.direct else {
            return Err(std::io::ErrorKind::Unsupported.into());
        };
        let octets = c.get(base..base + len_usize);
        let mut done = 0usize;
        while done < octets.len() {
            match rustix::io::pwrite(file, octets.get(done..).unwrap_or(&[]), start + done as u64) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.chunk_at = base + len_usize;
        self.written.push(RecentBatch {
            segment: self.active_id,
            start,
            end: start + len,
            data: chunk,
            base,
        });
        self.write_at = self.write_at.max(start + len).min(self.active_size);
        Ok(())
    }

    /// Room for `len` octets: in the newest chunk, else in a spare or new one (a run larger
    /// than a chunk gets a chunk of its own size).
    fn chunk_for(&mut self, len: usize) -> std::io::Result<(Arc<Backing>, usize)> {
        if let Some(c) = self.chunks.back()
            && self.chunk_at + len <= c.len()
        {
            return Ok((Arc::clone(c), self.chunk_at));
        }
        let reuse = (len <= self.chunk_size)
            .then(|| {
                self.spare
                    .iter_mut()
                    .position(|c| Arc::get_mut(c).is_some())
            })
            .flatten();
        let chunk = match reuse {
            Some(i) => self.spare.swap_remove(i),
            None => Arc::new(Backing::Chunk(Chunk::new(len.max(self.chunk_size))?)),
        };
        self.chunks.push_back(Arc::clone(&chunk));
        self.chunk_at = 0;
        Ok((chunk, 0))
    }

    fn fall_back_to_buffered(&mut self, what: &str) {
        eprintln!(
            "mmsc: store: {what} was refused (O_DIRECT not supported by the file system of {}); \
             writing through the page cache",
            self.shared.dir.display()
        );
        self.direct = None;
        self.shared.direct.store(false, Ordering::Release);
        self.active_synced = self.write_at;
    }

    /// Direct mode: the runs this batch made durable join the window; the oldest chunks
    /// leave it (kept as spares for reuse). The newest chunk always stays: it is being filled.
    fn publish_written(&mut self) {
        let window = self.cfg.page_cache_window;
        if window == 0 {
            // Nothing is kept: chunks are never published, so the next batch reuses the
            // newest one from its start.
            self.written.clear();
            self.chunk_at = 0;
            self.chunks.drain(..self.chunks.len().saturating_sub(1));
            let from = position(self.active_id, self.write_at);
            self.shared.cached_from.fetch_max(from, Ordering::AcqRel);
            return;
        }
        let mut out = Vec::new();
        if let Ok(mut recent) = self.shared.recent.write() {
            recent.extend(self.written.drain(..));
            let mut held: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
            while held > window && self.chunks.len() > 1 {
                let Some(old) = self.chunks.pop_front() else {
                    break;
                };
                held -= old.len() as u64;
                recent.retain(|b| !Arc::ptr_eq(&b.data, &old));
                out.push(old);
            }
            let from = recent
                .front()
                .map_or(position(self.active_id, self.write_at), |b| {
                    position(b.segment, b.start)
                });
            self.shared.cached_from.fetch_max(from, Ordering::AcqRel);
        }
        self.written.clear();
        for c in out {
            if c.len() == self.chunk_size && self.spare.len() < SPARE_CHUNKS {
                self.spare.push(c);
            }
        }
    }

    fn set_used(&self, segment: u32, used: u64) {
        if let Ok(mut maps) = self.shared.maps.write()
            && let Some(entry) = maps.get_mut(&segment)
        {
            entry.1 = used;
        }
    }

    fn commit(&mut self, batch: &mut Vec<(u8, Payload, u64, Route)>) {
        if self.shared.failed.load(Ordering::Acquire) {
            return self.fail_all(batch, || StoreError::Failed);
        }
        let mut done: Vec<(Tag, Result<Location, StoreError>)> = Vec::with_capacity(batch.len());
        // Files written in this batch that need a sync (a roll leaves the old one behind).
        let mut to_sync: Vec<File> = Vec::new();
        let mut failed = false;
        // Records planned in the active segment, written as one run.
        let mut run: Vec<Planned> = Vec::with_capacity(batch.len());
        let mut run_start = self.write_at;
        for (kind, payload, token, route) in batch.drain(..) {
            let tag = (token, route);
            let len = payload.len();
            if len > self.cfg.max_record_bytes || u32::try_from(len).is_err() {
                done.push((tag, Err(StoreError::TooLarge(len))));
                continue;
            }
            if failed {
                done.push((tag, Err(StoreError::Failed)));
                continue;
            }
            let need = record_footprint(len);
            if self.write_at + need > self.active_size {
                // Finish the run in this segment, with the end marker where it fits, then move
                // on to a new one.
                if self.write_at + HEADER_BYTES as u64 <= self.active_size {
                    let marker = Payload::new();
                    run.push(Planned {
                        token: None,
                        header: encode_header(SEGMENT_END, &marker, self.lsn),
                        pad: 0,
                        loc: Location {
                            segment: self.active_id,
                            offset: self.write_at + HEADER_BYTES as u64,
                            len: 0,
                        },
                        payload: marker,
                    });
                    self.write_at += HEADER_BYTES as u64;
                }
                if let Err(e) = self.write_planned(run_start, &run) {
                    failed = true;
                    let kind = e.kind();
                    for t in run.drain(..).filter_map(|p| p.token) {
                        done.push((t, Err(io("write records")(kind.into()))));
                    }
                    done.push((tag, Err(StoreError::Failed)));
                    continue;
                }
                for p in run.drain(..) {
                    if let Some(t) = p.token {
                        done.push((t, Ok(p.loc)));
                    }
                }
                self.set_used(self.active_id, self.write_at);
                // Buffered mode: the segment's ranges leave the page cache once synced
                // (`account_synced`). Direct writes never enter it.
                let buffered = self.direct.is_none();
                if buffered {
                    self.rolled
                        .push((self.active_id, self.active_synced, self.write_at));
                }
                match self.active_file.try_clone() {
                    Ok(f) => {
                        if buffered && let Ok(keep) = f.try_clone() {
                            self.cached_files.insert(self.active_id, keep);
                        }
                        to_sync.push(f)
                    }
                    Err(e) => {
                        failed = true;
                        done.push((tag, Err(io("keep segment for sync")(e))));
                        continue;
                    }
                }
                if let Err(e) = self.roll(need) {
                    // No room for a new segment: this record fails, the store does not.
                    done.push((tag, Err(e)));
                    run_start = self.write_at;
                    continue;
                }
                run_start = self.write_at;
            }
            self.lsn += 1;
            let header = encode_header(kind, &payload, self.lsn);
            let loc = Location {
                segment: self.active_id,
                offset: self.write_at + HEADER_BYTES as u64,
                len: len as u32,
            };
            self.write_at += need;
            run.push(Planned {
                token: Some(tag),
                header,
                pad: (need - HEADER_BYTES as u64 - len as u64) as usize,
                payload,
                loc,
            });
        }
        if !run.is_empty() {
            match self.write_planned(run_start, &run) {
                Ok(()) => {
                    for p in run.drain(..) {
                        if let Some(t) = p.token {
                            done.push((t, Ok(p.loc)));
                        }
                    }
                }
                Err(e) => {
                    failed = true;
                    let kind = e.kind();
                    for t in run.drain(..).filter_map(|p| p.token) {
                        done.push((t, Err(io("write records")(kind.into()))));
                    }
                }
            }
        }
        let mut sync_err = None;
        for f in to_sync.iter().chain(std::iter::once(&self.active_file)) {
            if let Err(e) = f.sync_data() {
                sync_err = Some(e);
            }
        }
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = sync_err {
            failed = true;
            let kind = e.kind();
            for d in &mut done {
                if d.1.is_ok() {
                    d.1 = Err(StoreError::Io {
                        op: "fdatasync",
                        source: std::io::Error::from(kind),
                    });
                }
            }
        }
        if failed {
            self.shared.failed.store(true, Ordering::Release);
            self.rolled.clear();
            self.written.clear();
        } else if self.direct.is_some() || !self.written.is_empty() {
            // (A run written directly before a fall-back is published too.)
            self.publish_written();
        } else {
            self.account_synced();
        }
        let written = done.iter().filter(|d| d.1.is_ok()).count() as u64;
        self.shared.records.fetch_add(written, Ordering::Relaxed);
        self.set_used(self.active_id, self.write_at);
        self.deliver(done);
    }

    /// The ranges this batch made durable join the window; what falls out of it leaves the
    /// page cache.
    fn account_synced(&mut self) {
        for (seg, from, to) in self.rolled.drain(..) {
            if to > from {
                self.cached.push_back((seg, from, to));
                self.cached_bytes += to - from;
            }
        }
        if self.write_at > self.active_synced {
            self.cached
                .push_back((self.active_id, self.active_synced, self.write_at));
            self.cached_bytes += self.write_at - self.active_synced;
        }
        self.active_synced = self.write_at;
        let window = self.cfg.page_cache_window;
        if window == 0 {
            self.cached.clear();
            self.cached_bytes = 0;
            self.cached_files.clear();
            return;
        }
        while self.cached_bytes > window {
            let Some((seg, from, to)) = self.cached.pop_front() else {
                break;
            };
            let over = self.cached_bytes - window;
            let drop_to = if to - from > over { from + over } else { to };
            let file = if seg == self.active_id {
                Some(&self.active_file)
            } else {
                self.cached_files.get(&seg)
            };
            if let Some(f) = file
                && let Some(len) = std::num::NonZeroU64::new(drop_to - from)
            {
                // Clean pages only (the range is durable); mapped ones stay until unmapped.
                let _ = rustix::fs::fadvise(f, from, Some(len), rustix::fs::Advice::DontNeed);
            }
            self.cached_bytes -= drop_to - from;
            if drop_to < to {
                self.cached.push_front((seg, drop_to, to));
            } else if seg != self.active_id && !self.cached.iter().any(|c| c.0 == seg) {
                self.cached_files.remove(&seg);
            }
        }
        if let Some((seg, from, _)) = self.cached.front() {
            // Page granularity: a record that starts on the first kept page is kept too.
            let from = from & !4095;
            self.shared
                .cached_from
                .fetch_max(position(*seg, from), Ordering::AcqRel);
        }
    }

    fn delete(&mut self, id: u32) {
        if id == self.active_id {
            return;
        }
        self.cached.retain(|c| c.0 != id);
        self.cached_bytes = self.cached.iter().map(|c| c.2 - c.1).sum();
        if let Ok(mut recent) = self.shared.recent.write() {
            recent.retain(|b| b.segment != id);
        }
        self.cached_files.remove(&id);
        let mut size = 0;
        if let Ok(mut maps) = self.shared.maps.write()
            && let Some((map, _)) = maps.remove(&id)
        {
            size = map.len() as u64;
        }
        let path = segment_path(&self.shared.dir, id);
        let kept = self.free.as_ref().is_some_and(|free| {
            let Ok(mut f) = free.lock() else {
                return false;
            };
            let to = self.shared.dir.join(format!("free-{id}.seg{RECYCLED}"));
            let ok = size == self.cfg.segment_bytes
                && f.len() < FREE_MAX
                && std::fs::rename(&path, &to).is_ok();
            if ok {
                f.push(to);
            }
            ok
        });
        if !kept {
            let _ = std::fs::remove_file(&path);
        }
        if let Ok(d) = File::open(&self.shared.dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tmpdir(name: &str, io: IoMode) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "mmsc-store-{name}-{}-{}",
            io.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn open_with(dir: &Path, io: IoMode, f: impl FnOnce(&mut StoreConfig)) -> Opened {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut cfg = StoreConfig::new(dir);
        cfg.io = io;
        f(&mut cfg);
        let (s, r) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
        (s, r, rx)
    }

    type Opened = (Store, Recovered, Receiver<Completion>);

    /// Each test runs with both write modes.
    macro_rules! both_modes {
        ($($name:ident),* $(,)?) => {
            mod direct {
                $(#[test]
                fn $name() {
                    super::$name(super::IoMode::Direct)
                })*
            }
            mod buffered {
                $(#[test]
                fn $name() {
                    super::$name(super::IoMode::Buffered)
                })*
            }
        };
    }

    both_modes!(
        records_out_of_the_window_read_back_from_the_disk,
        append_read_recover,
        torn_tail_is_cut_and_never_resurrected,
        delete_keeps_live_maps,
        oversized_records_get_their_own_segment_or_are_refused,
        batches_of_many_sizes_recover_in_order,
        prepared_segments_are_rolled_into_and_none_is_left_behind,
        deleted_segments_are_reused_and_their_old_records_never_come_back,
        routed_completions_reach_their_sink_before_the_channel,
    );

    fn wait(rx: &Receiver<Completion>, n: usize) -> Vec<Completion> {
        (0..n)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect()
    }

    fn routed_completions_reach_their_sink_before_the_channel(io: IoMode) {
        let dir = tmpdir("routes", io);
        let (s, _, rx) = open_with(&dir, io, |c| c.max_record_bytes = 10_000);
        // Each sink records what it got, and how many completions the channel had by then.
        type Seen = Arc<std::sync::Mutex<Vec<(u64, bool, usize)>>>;
        struct Sink {
            log: Seen,
            rx: Receiver<Completion>,
            wakes: Arc<AtomicU64>,
        }
        impl RouteSink for Sink {
            fn put(&mut self, done: &[(u64, bool)]) {
                let mut l = self.log.lock().unwrap();
                for &(t, ok) in done {
                    l.push((t, ok, self.rx.len()));
                }
            }
            fn wake(&mut self) {
                self.wakes.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut routes = Vec::new();
        let mut seen: Vec<Seen> = Vec::new();
        let wakes = Arc::new(AtomicU64::new(0));
        for _ in 0..2 {
            let log: Seen = Arc::default();
            let sink = Sink {
                log: Arc::clone(&log),
                rx: rx.clone(),
                wakes: Arc::clone(&wakes),
            };
            routes.push(s.add_route(Box::new(sink)).unwrap());
            seen.push(log);
        }
        assert_ne!(routes[0], routes[1]);
        assert_ne!(routes[0], Route::NONE);
        for i in 0..30u64 {
            let mut p = Payload::new();
            p.push(vec![i as u8; 100 + i as usize]);
            let route = match i % 3 {
                0 => Route::NONE,
                1 => routes[0],
                _ => routes[1],
            };
            s.append_routed(1, p, i, route).unwrap();
        }
        let done = wait(&rx, 30);
        assert!(done.iter().all(|c| c.result.is_ok()));
        assert!(
            wakes.load(Ordering::Relaxed) >= 2,
            "each route's reader was woken"
        );
        for (r, log) in seen.iter().enumerate() {
            let log = log.lock().unwrap();
            let mut tokens: Vec<u64> = log.iter().map(|x| x.0).collect();
            tokens.sort_unstable();
            let want: Vec<u64> = (0..30).filter(|i| i % 3 == r as u64 + 1).collect();
            assert_eq!(tokens, want, "route {r} got its own tokens, once each");
            assert!(log.iter().all(|x| x.1), "durable");
        }
        // A sink hears of a record before the channel does: within its batch, the channel
        // never holds more completions than the batches before it.
        let channel_before: Vec<usize> = seen[0].lock().unwrap().iter().map(|x| x.2).collect();
        assert!(channel_before.iter().all(|&n| n == 0), "{channel_before:?}");
        // An oversized record fails; its route hears so.
        let mut big = Payload::new();
        big.push(vec![0; 10_001]);
        s.append_routed(1, big, 99, routes[0]).unwrap();
        let c = wait(&rx, 1);
        assert!(matches!(c[0].result, Err(StoreError::TooLarge(_))));
        assert!(seen[0].lock().unwrap().contains(&(99, false, 0)));
        s.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn records_out_of_the_window_read_back_from_the_disk(io: IoMode) {
        let dir = tmpdir("window", io);
        let (s, _, rx) = open_with(&dir, io, |c| {
            c.segment_bytes = 64 * 1024;
            c.page_cache_window = 8 * 1024;
        });
        assert_eq!(s.io_mode(), io);
        let body = |i: u64| -> Vec<u8> { (0..5000u64).map(|j| (i * 31 + j) as u8).collect() };
        let mut locs = Vec::new();
        for round in 0..6u64 {
            for i in 0..10u64 {
                let mut p = Payload::new();
                p.push(body(round * 10 + i));
                s.append(1, p, round * 10 + i).unwrap();
            }
            let mut done = wait(&rx, 10);
            done.sort_by_key(|c| c.token);
            locs.extend(done.into_iter().map(|c| c.result.unwrap()));
        }
        assert!(s.segments().len() > 3, "rolled over 64 KiB segments");
        assert!(!s.is_cached(locs[0]), "the oldest record left the window");
        assert!(s.is_cached(locs[59]), "the newest is in it");
        assert!(s.prefetch(locs[0]));
        for (i, loc) in locs.iter().enumerate() {
            assert_eq!(&*s.read(*loc).unwrap(), &body(i as u64)[..], "record {i}");
        }
        s.close();
        // And after a restart, from the files.
        let (s, r, _rx) = open_with(&dir, io, |c| c.segment_bytes = 64 * 1024);
        assert_eq!(r.records.len(), 60);
        assert_eq!(&*s.read(r.records[0].location).unwrap(), &body(0)[..]);
        s.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn append_read_recover(io: IoMode) {
        let dir = tmpdir("basic", io);
        let (s, r, rx) = open_with(&dir, io, |c| c.segment_bytes = 1024);
        assert!(r.records.is_empty());
        // Ten batches of five (a direct-mode batch takes at least a block).
        let mut locs: Vec<Location> = Vec::new();
        for i in 0..50u64 {
            let mut p = Payload::new();
            p.push(format!("meta-{i}|").into_bytes());
            p.push_range(b"xxbodyxx".to_vec(), 2..6);
            s.append(7, p, i).unwrap();
            if i % 5 == 4 {
                let mut done = wait(&rx, 5);
                done.sort_by_key(|c| c.token);
                locs.extend(done.into_iter().map(|c| c.result.unwrap()));
            }
        }
        assert_eq!(&*s.read(locs[3]).unwrap(), b"meta-3|body");
        assert!(s.segments().len() > 1, "rolled over 1 KiB segments");
        let (syncs, records) = s.counters();
        assert_eq!(records, 50);
        assert!(syncs >= 1);
        let held = s.read(locs[0]).unwrap();
        // Released pages read back the same.
        s.release_pages();
        assert_eq!(&*s.read(locs[3]).unwrap(), b"meta-3|body");
        s.close();
        assert_eq!(&*held, b"meta-0|body");
        let (s, r, _rx) = open_with(&dir, io, |c| c.segment_bytes = 1024);
        assert_eq!(r.records.len(), 50);
        assert!(r.cut.is_none() && r.problems.is_empty());
        for (i, rec) in r.records.iter().enumerate() {
            assert_eq!(rec.location, locs[i]);
            assert_eq!(rec.kind, 7);
        }
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn torn_tail_is_cut_and_never_resurrected(io: IoMode) {
        let dir = tmpdir("torn", io);
        let (s, _, rx) = open_with(&dir, io, |c| c.segment_bytes = 1 << 16);
        for i in 0..3u64 {
            s.append(1, vec![i as u8; 100].into(), i).unwrap();
        }
        let locs: Vec<Location> = wait(&rx, 3)
            .into_iter()
            .map(|c| c.result.unwrap())
            .collect();
        s.close();
        // Tear the third record: flip a payload octet (as if the write was cut short).
        let seg = segment_path(&dir, locs[2].segment);
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(&[0xEE], locs[2].offset + 50).unwrap();
        drop(f);
        let (s, r, rx) = open_with(&dir, io, |c| c.segment_bytes = 1 << 16);
        assert_eq!(r.records.len(), 2);
        let (id, at, zeroed) = r.cut.unwrap();
        assert_eq!(
            (id, at),
            (locs[2].segment, locs[2].offset - HEADER_BYTES as u64)
        );
        assert!(zeroed > 0);
        // New records go where the torn one was (direct mode: at the next block boundary,
        // never over the block of acknowledged records); a short one must not expose old
        // octets.
        s.append(2, vec![9u8; 10].into(), 10).unwrap();
        let loc = wait(&rx, 1).pop().unwrap().result.unwrap();
        let expect = match io {
            IoMode::Buffered => locs[2].offset,
            IoMode::Direct => at.next_multiple_of(BLOCK) + HEADER_BYTES as u64,
        };
        assert_eq!(loc.offset, expect);
        s.close();
        let (s, r, _) = open_with(&dir, io, |c| c.segment_bytes = 1 << 16);
        assert_eq!(r.records.len(), 3);
        assert!(r.cut.is_none());
        assert_eq!(&*s.read(r.records[2].location).unwrap(), &[9u8; 10]);
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn delete_keeps_live_maps(io: IoMode) {
        let dir = tmpdir("delete", io);
        let (s, _, rx) = open_with(&dir, io, |c| c.segment_bytes = 1024);
        for i in 0..20u64 {
            s.append(1, vec![i as u8; 200].into(), i).unwrap();
        }
        let locs: Vec<Location> = wait(&rx, 20)
            .into_iter()
            .map(|c| c.result.unwrap())
            .collect();
        let first = locs[0];
        let held = s.read(first).unwrap();
        s.delete_segment(first.segment).unwrap();
        s.barrier().unwrap();
        assert!(s.read(first).is_none());
        assert!(
            s.segments().iter().all(|i| i.id != first.segment),
            "{:?}",
            s.segments()
        );
        assert_eq!(&*held, &[0u8; 200][..]);
        assert!(!segment_path(&dir, first.segment).exists());
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn oversized_records_get_their_own_segment_or_are_refused(io: IoMode) {
        let dir = tmpdir("big", io);
        let (s, _, rx) = open_with(&dir, io, |c| {
            c.segment_bytes = 1024;
            c.max_record_bytes = 10_000;
        });
        s.append(1, vec![1u8; 5000].into(), 1).unwrap();
        s.append(1, vec![1u8; 20_000].into(), 2).unwrap();
        let mut done = wait(&rx, 2);
        done.sort_by_key(|c| c.token);
        assert_eq!(
            s.read(*done[0].result.as_ref().unwrap()).unwrap().len(),
            5000
        );
        assert!(matches!(done[1].result, Err(StoreError::TooLarge(20_000))));
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Batches of 1 to 40 records of sizes around block multiples, over several segments, a
    /// window smaller than what is written: every record reads back the same from the window,
    /// from the file, and after a restart, in log order.
    fn batches_of_many_sizes_recover_in_order(io: IoMode) {
        let dir = tmpdir("sizes", io);
        let (s, _, rx) = open_with(&dir, io, |c| {
            c.segment_bytes = 256 * 1024;
            c.page_cache_window = 512 * 1024;
        });
        let body = |i: u64| -> Vec<u8> {
            let len = [1usize, 7, 4072, 4073, 4096, 8192 - 24, 9999, 0, 30_000][i as usize % 9];
            (0..len as u64)
                .map(|j| (i * 7 + j * 13) as u8 | 1)
                .collect()
        };
        let mut locs = Vec::new();
        let mut token = 0u64;
        for batch in 1..=40u64 {
            for _ in 0..batch {
                s.append(3, body(token).into(), token).unwrap();
                token += 1;
            }
            let mut done = wait(&rx, batch as usize);
            done.sort_by_key(|c| c.token);
            locs.extend(done.into_iter().map(|c| c.result.unwrap()));
        }
        for (i, loc) in locs.iter().enumerate() {
            assert_eq!(&*s.read(*loc).unwrap(), &body(i as u64)[..], "record {i}");
            if io == IoMode::Direct {
                assert_eq!(loc.offset % ALIGN, 0);
            }
        }
        assert!(!s.is_cached(locs[0]) && s.is_cached(*locs.last().unwrap()));
        s.close();
        let (s, r, _rx) = open_with(&dir, io, |c| c.segment_bytes = 256 * 1024);
        assert!(r.cut.is_none() && r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.records.len(), locs.len());
        for (i, rec) in r.records.iter().enumerate() {
            assert_eq!(rec.location, locs[i], "record {i}");
            assert_eq!(&*s.read(rec.location).unwrap(), &body(i as u64)[..]);
        }
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn direct_batches_start_on_block_boundaries() {
        let dir = tmpdir("aligned", IoMode::Direct);
        let (s, _, rx) = open_with(&dir, IoMode::Direct, |_| {});
        let mut firsts = Vec::new();
        for batch in 0..5u64 {
            for i in 0..3u64 {
                s.append(1, vec![batch as u8; 100 + i as usize].into(), batch * 3 + i)
                    .unwrap();
            }
            let mut done = wait(&rx, 3);
            done.sort_by_key(|c| c.token);
            firsts.push(done[0].result.as_ref().unwrap().offset - HEADER_BYTES as u64);
        }
        // Every batch was one write (the test waits for each), so each started on a block.
        assert!(firsts.iter().all(|f| f % BLOCK == 0), "{firsts:?}");
        assert!(firsts.windows(2).all(|w| w[1] > w[0]));
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Descriptors the process holds open on files of `dir`.
    fn open_files_in(dir: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    /// Direct writes never enter the page cache: a rolled segment leaves nothing to account,
    /// and no descriptor is kept for it (buffered mode keeps one per segment with ranges in
    /// the window, to drop them from the page cache).
    #[test]
    fn direct_mode_keeps_no_descriptor_per_rolled_segment() {
        let dir = tmpdir("rolled-fds", IoMode::Direct);
        let (s, _, rx) = open_with(&dir, IoMode::Direct, |c| {
            c.segment_bytes = 64 * 1024;
            c.prepare_segments = false;
        });
        for i in 0..200u64 {
            s.append(1, vec![i as u8; 5000].into(), i).unwrap();
            if i % 10 == 9 {
                wait(&rx, 10);
            }
        }
        assert!(s.segments().len() > 12, "rolled: {}", s.segments().len());
        let open = open_files_in(&dir);
        // The active segment's two descriptors (buffered and O_DIRECT).
        assert!(
            open <= 2,
            "{open} descriptors open in the store after the rolls"
        );
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With segment preparation on (the default), rolls take zero-filled files made ahead of
    /// time; records in them recover; closing leaves no file being prepared behind.
    fn prepared_segments_are_rolled_into_and_none_is_left_behind(io: IoMode) {
        for zero_fill in [false, true] {
            prepared_segments_rolled_into(io, zero_fill);
        }
    }

    fn prepared_segments_rolled_into(io: IoMode, zero_fill: bool) {
        let dir = tmpdir(if zero_fill { "prepared0" } else { "prepared" }, io);
        let (s, _, rx) = open_with(&dir, io, |c| {
            c.segment_bytes = 64 * 1024;
            c.zero_fill = zero_fill;
        });
        let mut locs = Vec::new();
        for i in 0..40u64 {
            s.append(1, vec![i as u8 | 1; 6000].into(), i).unwrap();
            locs.push(wait(&rx, 1).pop().unwrap().result.unwrap());
            if i % 8 == 7 {
                // Give the preparer time to have the next one ready.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        assert!(s.segments().len() >= 4, "{:?}", s.segments());
        assert!(s.prepared_segments_used() >= 1, "no prepared segment used");
        s.close();
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".seg"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let (s, r, _rx) = open_with(&dir, io, |c| {
            c.segment_bytes = 64 * 1024;
            c.prepare_segments = false;
        });
        assert!(r.cut.is_none() && r.problems.is_empty(), "{:?}", r.problems);
        let got: Vec<Location> = r.records.iter().map(|x| x.location).collect();
        assert_eq!(got, locs);
        for (i, l) in locs.iter().enumerate() {
            assert_eq!(&*s.read(*l).unwrap(), &vec![i as u8 | 1; 6000][..]);
        }
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Deleted segments are kept and rolled into again (same inode); after a restart, only
    /// the records written since are recovered: what the reused files held before stays
    /// behind their end marker or, in the newest one, is cut.
    fn deleted_segments_are_reused_and_their_old_records_never_come_back(io: IoMode) {
        use std::os::unix::fs::MetadataExt;
        let dir = tmpdir("recycle", io);
        let seg = 64 * 1024;
        let (s, _, rx) = open_with(&dir, io, |c| c.segment_bytes = seg);
        let body = |i: u64| vec![(i % 251) as u8 | 1; 6000 + (i as usize % 7) * 100];
        let mut token = 0u64;
        let mut write = |s: &Store, n: u64, locs: &mut Vec<(u64, Location)>| {
            for _ in 0..n {
                s.append(1, body(token).into(), token).unwrap();
                locs.push((token, wait(&rx, 1).pop().unwrap().result.unwrap()));
                token += 1;
            }
        };
        let mut old = Vec::new();
        write(&s, 40, &mut old);
        let first_segments: Vec<u32> = s
            .segments()
            .iter()
            .filter(|i| !i.active)
            .map(|i| i.id)
            .take(3)
            .collect();
        assert_eq!(first_segments.len(), 3, "{:?}", s.segments());
        let inodes: Vec<u64> = first_segments
            .iter()
            .map(|id| std::fs::metadata(segment_path(&dir, *id)).unwrap().ino())
            .collect();
        for id in &first_segments {
            s.delete_segment(*id).unwrap();
        }
        s.barrier().unwrap();
        // Let the preparer take them up, one per roll.
        let mut new = Vec::new();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(30));
            write(&s, 12, &mut new);
        }
        let reused = s
            .segments()
            .iter()
            .filter(|i| {
                std::fs::metadata(segment_path(&dir, i.id)).is_ok_and(|m| inodes.contains(&m.ino()))
            })
            .count();
        assert!(reused >= 2, "{reused} deleted segments reused");
        assert!(s.segments_reused() >= reused as u64);
        s.close();
        // Expected: every record not in a deleted segment.
        let live: Vec<(u64, Location)> = old
            .into_iter()
            .filter(|(_, l)| !first_segments.contains(&l.segment))
            .chain(new)
            .collect();
        let (s, r, _rx) = open_with(&dir, io, |c| c.segment_bytes = seg);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let got: Vec<Location> = r.records.iter().map(|x| x.location).collect();
        let want: Vec<Location> = live.iter().map(|x| x.1).collect();
        assert_eq!(got, want);
        for (t, l) in &live {
            assert_eq!(&*s.read(*l).unwrap(), &body(*t)[..], "record {t}");
        }
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
