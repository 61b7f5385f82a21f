//! The MM2 message store of mmsc: append-only segment files, one writer thread doing group
//! commit, reads through memory maps.
//!
//! - **Records.** Each record is a 24-octet header (magic, kind, length, CRC-32 of header and
//!   payload, log sequence number) and its payload, padded to 8 octets. Payloads are opaque to
//!   the store; the control plane defines their kinds.
//! - **Writes.** [`Store::append`] hands a record to the writer thread. The writer takes every
//!   record queued at that moment (a batch), writes each with `pwrite` into the active segment,
//!   then makes the batch durable with one `fdatasync` and only then reports the records'
//!   [`Location`]s on the completion channel. An acknowledged record is on disk.
//! - **Segments** are preallocated (`fallocate`) files of a fixed size, so `fdatasync` has no
//!   file-size metadata to flush and a full disk fails when a segment is created, as an error,
//!   never as a fault on a mapped page.
//! - **Reads** borrow from a read-only map of the segment ([`Mapped`]): retrieval serves the
//!   stored octets without copying them into a new buffer. A map stays valid while any
//!   [`Mapped`] holds it, even after its segment is deleted by compaction.
//! - **Recovery.** [`Store::open`] scans every segment; a record with a bad magic, length or CRC
//!   ends the segment. In the newest segment that is a torn tail from a crash: it is cut (zeroed)
//!   and writing resumes there. In an older segment it is corruption, reported in
//!   [`Recovered::problems`].
//! - **Failure.** A failed write or `fdatasync` fails its batch and every later append (the
//!   page cache can no longer be trusted); the process must restart and recover.
//!
//! This crate is the storage I/O backend: its only `unsafe` is the creation of the maps.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::ops::{Deref, Range};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use memmap2::Mmap;

/// Record header size.
pub const HEADER_BYTES: usize = 24;
const MAGIC: u32 = 0x5253_4D4D; // "MMSR" little-endian
const ALIGN: u64 = 8;

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

#[derive(Debug)]
enum Part {
    Owned(Vec<u8>, Range<usize>),
    Mapped(Mapped),
}

impl Part {
    fn bytes(&self) -> &[u8] {
        match self {
            Part::Owned(v, r) => v.get(r.clone()).unwrap_or(&[]),
            Part::Mapped(m) => m,
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

/// Octets borrowed from a segment map.
#[derive(Clone)]
pub struct Mapped {
    map: Arc<Mmap>,
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
        self.map.get(self.range.clone()).unwrap_or(&[])
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
    /// Octets of the most recently written records kept in the page cache; older ones are
    /// dropped from it once durable (`POSIX_FADV_DONTNEED`), so that writing reuses the
    /// same pages instead of growing the cache into memory the machine has not touched yet
    /// (costly on a VM), and readers of recent messages still find them in memory. A read of
    /// an older record comes from the disk. 0 keeps everything (the kernel decides).
    pub page_cache_window: u64,
}

impl StoreConfig {
    /// Defaults for `path`: 64 MiB segments, batches of up to 1024 records, 64 MiB records.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig {
            path: path.into(),
            segment_bytes: 64 * 1024 * 1024,
            max_batch_records: 1024,
            max_record_bytes: 64 * 1024 * 1024,
            page_cache_window: 512 * 1024 * 1024,
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
    },
    Delete(u32),
    Barrier(Sender<()>),
}

struct Shared {
    dir: PathBuf,
    maps: RwLock<BTreeMap<u32, (Arc<Mmap>, u64)>>,
    active: AtomicU64,
    failed: AtomicBool,
    syncs: AtomicU64,
    records: AtomicU64,
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

fn create_segment(dir: &Path, id: u32, size: u64) -> Result<(File, Arc<Mmap>), StoreError> {
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
    Ok((file, Arc::new(map)))
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
        let Some(h) = decode_header(map.get(at..).unwrap_or(&[])) else {
            // End of data: zeros (clean) or garbage (torn / corrupt).
            let clean = map
                .get(at..at + HEADER_BYTES)
                .is_none_or(|b| b.iter().all(|&x| x == 0));
            return (at as u64, clean);
        };
        let fits = at + HEADER_BYTES + h.len as usize <= map.len();
        if !fits || h.lsn <= *last_lsn || !check_crc(map, at, &h) {
            return (at as u64, false);
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
struct Planned {
    token: u64,
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
}

impl Store {
    /// Open (or create) the store in `cfg.path`, recover it, and start the writer. Completions
    /// of appends are sent on `completions`, after which `notify` is called (to wake the
    /// thread that reads them).
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
            let map = Arc::new(map_file(&file)?);
            let (end, clean) = scan(id, &map, &mut recovered.records, &mut last_lsn);
            let newest = i + 1 == ids.len();
            if newest {
                if !clean
                    || map
                        .get(end as usize..)
                        .is_some_and(|r| r.iter().any(|&b| b != 0))
                {
                    // Cut the torn tail: zero it, so that nothing after the cut point can
                    // ever be read back as a record.
                    let last_nonzero = map
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
        let (active_id, active_file, active_size, write_at) = match tail {
            Some(t) => t,
            None => {
                let (file, map) = create_segment(&cfg.path, 1, cfg.segment_bytes)?;
                maps.insert(1, (map, 0));
                (1, file, cfg.segment_bytes, 0)
            }
        };
        let shared = Arc::new(Shared {
            dir: cfg.path.clone(),
            maps: RwLock::new(maps),
            active: AtomicU64::new(u64::from(active_id)),
            failed: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            cached_from: AtomicU64::new(0),
            records: AtomicU64::new(0),
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
        };
        let handle = std::thread::Builder::new()
            .name("mmsc-store".into())
            .spawn(move || writer.run())
            .map_err(io("start store writer"))?;
        Ok((
            Store {
                tx,
                shared,
                writer: Arc::new(WriterHandle(std::sync::Mutex::new(Some(handle)))),
            },
            recovered,
        ))
    }

    /// Queue a record. Its [`Completion`] (with `token`) arrives once it is durable, or failed.
    pub fn append(&self, kind: u8, payload: Payload, token: u64) -> Result<(), StoreError> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(StoreError::Failed);
        }
        self.tx
            .send(Cmd::Append {
                kind,
                payload,
                token,
            })
            .map_err(|_| StoreError::Closed)
    }

    /// The payload at `loc`, borrowed from its segment map.
    pub fn read(&self, loc: Location) -> Option<Mapped> {
        let maps = self.shared.maps.read().ok()?;
        let (map, _) = maps.get(&loc.segment)?;
        let start = usize::try_from(loc.offset).ok()?;
        let end = start.checked_add(loc.len as usize)?;
        (end <= map.len()).then(|| Mapped {
            map: Arc::clone(map),
            range: start..end,
        })
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
        let maps: Vec<Arc<Mmap>> = match self.shared.maps.read() {
            Ok(m) => m.values().map(|(map, _)| Arc::clone(map)).collect(),
            Err(_) => return,
        };
        for map in maps {
            // SAFETY: the maps are read-only private maps of files that are only ever written
            // through pwrite (never through a map). MADV_DONTNEED on such a map drops the
            // page-table entries only: the next access reads the same octets again from the
            // page cache or the file, so every live `Mapped` keeps seeing the same data.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// (fdatasync calls, records written) since open.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.shared.syncs.load(Ordering::Relaxed),
            self.shared.records.load(Ordering::Relaxed),
        )
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
        let mut batch: Vec<(u8, Payload, u64)> = Vec::new();
        let mut others: Vec<Cmd> = Vec::new();
        while let Ok(first) = self.rx.recv() {
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                match cmd {
                    Cmd::Append {
                        kind,
                        payload,
                        token,
                    } => batch.push((kind, payload, token)),
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
                    Cmd::Append { .. } => {}
                }
            }
        }
    }

    fn fail_all(&mut self, batch: &mut Vec<(u8, Payload, u64)>, why: impl Fn() -> StoreError) {
        for (_, _, token) in batch.drain(..) {
            let _ = self.completions.send(Completion {
                token,
                result: Err(why()),
            });
        }
        (self.notify)();
    }

    fn roll(&mut self, need: u64) -> Result<(), StoreError> {
        let id = self.active_id + 1;
        let size = self.cfg.segment_bytes.max(need);
        let (file, map) = create_segment(&self.shared.dir, id, size)?;
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

    fn set_used(&self, segment: u32, used: u64) {
        if let Ok(mut maps) = self.shared.maps.write()
            && let Some(entry) = maps.get_mut(&segment)
        {
            entry.1 = used;
        }
    }

    fn commit(&mut self, batch: &mut Vec<(u8, Payload, u64)>) {
        if self.shared.failed.load(Ordering::Acquire) {
            return self.fail_all(batch, || StoreError::Failed);
        }
        let mut done: Vec<(u64, Result<Location, StoreError>)> = Vec::with_capacity(batch.len());
        // Files written in this batch that need a sync (a roll leaves the old one behind).
        let mut to_sync: Vec<File> = Vec::new();
        let mut failed = false;
        // Records planned in the active segment, written as one run.
        let mut run: Vec<Planned> = Vec::with_capacity(batch.len());
        let mut run_start = self.write_at;
        for (kind, payload, token) in batch.drain(..) {
            let len = payload.len();
            if len > self.cfg.max_record_bytes || u32::try_from(len).is_err() {
                done.push((token, Err(StoreError::TooLarge(len))));
                continue;
            }
            if failed {
                done.push((token, Err(StoreError::Failed)));
                continue;
            }
            let need = record_footprint(len);
            if self.write_at + need > self.active_size {
                // Finish the run in this segment, then move on to a new one.
                if let Err(e) = self.write_run(run_start, &run) {
                    failed = true;
                    let kind = e.kind();
                    for p in run.drain(..) {
                        done.push((p.token, Err(io("write records")(kind.into()))));
                    }
                    done.push((token, Err(StoreError::Failed)));
                    continue;
                }
                for p in run.drain(..) {
                    done.push((p.token, Ok(p.loc)));
                }
                self.set_used(self.active_id, self.write_at);
                self.rolled
                    .push((self.active_id, self.active_synced, self.write_at));
                match self.active_file.try_clone() {
                    Ok(f) => {
                        if let Ok(keep) = f.try_clone() {
                            self.cached_files.insert(self.active_id, keep);
                        }
                        to_sync.push(f)
                    }
                    Err(e) => {
                        failed = true;
                        done.push((token, Err(io("keep segment for sync")(e))));
                        continue;
                    }
                }
                if let Err(e) = self.roll(need) {
                    // No room for a new segment: this record fails, the store does not.
                    done.push((token, Err(e)));
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
                token,
                header,
                pad: (need - HEADER_BYTES as u64 - len as u64) as usize,
                payload,
                loc,
            });
        }
        if !run.is_empty() {
            match self.write_run(run_start, &run) {
                Ok(()) => {
                    for p in run.drain(..) {
                        done.push((p.token, Ok(p.loc)));
                    }
                }
                Err(e) => {
                    failed = true;
                    let kind = e.kind();
                    for p in run.drain(..) {
                        done.push((p.token, Err(io("write records")(kind.into()))));
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
        } else {
            self.account_synced();
        }
        let written = done.iter().filter(|d| d.1.is_ok()).count() as u64;
        self.shared.records.fetch_add(written, Ordering::Relaxed);
        self.set_used(self.active_id, self.write_at);
        for (token, result) in done {
            let _ = self.completions.send(Completion { token, result });
        }
        (self.notify)();
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
        self.cached_files.remove(&id);
        if let Ok(mut maps) = self.shared.maps.write() {
            maps.remove(&id);
        }
        let _ = std::fs::remove_file(segment_path(&self.shared.dir, id));
        if let Ok(d) = File::open(&self.shared.dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mmsc-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn open(dir: &Path, seg: u64) -> (Store, Recovered, Receiver<Completion>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut cfg = StoreConfig::new(dir);
        cfg.segment_bytes = seg;
        let (s, r) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
        (s, r, rx)
    }

    fn wait(rx: &Receiver<Completion>, n: usize) -> Vec<Completion> {
        (0..n)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect()
    }

    #[test]
    fn records_dropped_from_the_page_cache_read_back_from_the_disk() {
        let dir = tmpdir("window");
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut cfg = StoreConfig::new(&dir);
        cfg.segment_bytes = 64 * 1024;
        cfg.page_cache_window = 8 * 1024;
        let (s, _) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
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
        let (s, r, _rx) = open(&dir, 64 * 1024);
        assert_eq!(r.records.len(), 60);
        assert_eq!(&*s.read(r.records[0].location).unwrap(), &body(0)[..]);
        s.close();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn append_read_recover() {
        let dir = tmpdir("basic");
        let (s, r, rx) = open(&dir, 1024);
        assert!(r.records.is_empty());
        for i in 0..50u64 {
            let mut p = Payload::new();
            p.push(format!("meta-{i}|").into_bytes());
            p.push_range(b"xxbodyxx".to_vec(), 2..6);
            s.append(7, p, i).unwrap();
        }
        let mut done = wait(&rx, 50);
        done.sort_by_key(|c| c.token);
        let locs: Vec<Location> = done.into_iter().map(|c| c.result.unwrap()).collect();
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
        let (s, r, _rx) = open(&dir, 1024);
        assert_eq!(r.records.len(), 50);
        assert!(r.cut.is_none() && r.problems.is_empty());
        for (i, rec) in r.records.iter().enumerate() {
            assert_eq!(rec.location, locs[i]);
            assert_eq!(rec.kind, 7);
        }
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_cut_and_never_resurrected() {
        let dir = tmpdir("torn");
        let (s, _, rx) = open(&dir, 1 << 16);
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
        let (s, r, rx) = open(&dir, 1 << 16);
        assert_eq!(r.records.len(), 2);
        let (id, at, zeroed) = r.cut.unwrap();
        assert_eq!(
            (id, at),
            (locs[2].segment, locs[2].offset - HEADER_BYTES as u64)
        );
        assert!(zeroed > 0);
        // New records go where the torn one was; a short one must not expose old octets.
        s.append(2, vec![9u8; 10].into(), 10).unwrap();
        let loc = wait(&rx, 1).pop().unwrap().result.unwrap();
        assert_eq!(loc.offset, locs[2].offset);
        s.close();
        let (s, r, _) = open(&dir, 1 << 16);
        assert_eq!(r.records.len(), 3);
        assert!(r.cut.is_none());
        assert_eq!(&*s.read(r.records[2].location).unwrap(), &[9u8; 10]);
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delete_keeps_live_maps() {
        let dir = tmpdir("delete");
        let (s, _, rx) = open(&dir, 1024);
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

    #[test]
    fn oversized_records_get_their_own_segment_or_are_refused() {
        let dir = tmpdir("big");
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut cfg = StoreConfig::new(&dir);
        cfg.segment_bytes = 1024;
        cfg.max_record_bytes = 10_000;
        let (s, _) = Store::open(cfg, tx, Box::new(|| {})).unwrap();
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
}
