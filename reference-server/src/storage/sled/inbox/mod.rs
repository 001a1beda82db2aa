//! Durable inbox of accepted webhook deliveries: an append-only log with group commit.
//!
//! A request hands its body to the *writer* task and waits. The writer takes every delivery
//! waiting, gives each a sequence number, appends them to the current segment file in one
//! `write` and makes them durable with one `fdatasync` (see `segment.rs` for the format), then
//! answers them all: N concurrent requests cost one disk sync instead of N. Only then does the
//! webhook endpoint answer 200.
//!
//! Why not a sled tree: sled's `flush()` writes out every dirty buffer of the whole database,
//! one `sync_file_range` per buffer, including the worker's writes; under load it took 3-6 ms
//! and batched only 3-7 deliveries (docs/decisions/0001-inbox-log-group-commit.md), and each
//! 11 KB body was written about
//! 2.5 times. A dedicated log writes each body once and syncs only what the batch appended.
//!
//! The worker reads pending deliveries in sequence order from an in-memory index (bodies are
//! read back from the segment files, so memory stays small when the worker falls behind),
//! applies them, and records the result in the store's delivery log. A segment whose
//! deliveries are all recorded leaves the log once the store has been flushed (by the
//! *janitor* task), so a crash never leaves a delivery that is neither in the log nor in the
//! store; one such segment is kept and written over as a later segment, others are deleted.
//!
//! A backlog (a paused integration's deliveries among applied ones of others) does not keep
//! the segments it touches on disk: segments at most half pending are compacted into one
//! file of their pending records (see [`compact`]). Past `--inbox-max-mb` of records,
//! deliveries are refused ([`InboxError::Full`]).
//!
//! On start the segments are read back: a delivery whose delivery-log record is final is
//! skipped, every other one is pending again (applying twice is harmless: sync is idempotent).
//! A damaged segment is moved aside with its valid records kept (see [`set_aside`]).

pub(crate) mod segment;
mod seq;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::delivery_log::DeliveryLookup;
use super::flush::StoreFlush;
use super::store::{Store, StoreError};
use crate::metrics::Metrics;
use crate::storage::InboxEntry;
use crate::storage::records::DeliveryRecord;
use segment::Record;

/// The default segment size (tests).
#[cfg(test)]
const MAX_SEGMENT_BYTES: u64 = crate::config::DEFAULT_INBOX_SEGMENT_KB * 1024;
/// The writer stops collecting a batch at this many body bytes (bounds one write's latency).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// How many written batches may be syncing at once. `fdatasync` makes everything written
/// before it durable, so a second batch may be written and synced while the first one's sync
/// runs; that multiplies throughput where a sync takes milliseconds (network volumes, a busy
/// host). Where syncs are fast it only costs: smaller batches, and kernel time and a thread
/// hand-off per sync. So a batch starts syncing beside another only once the oldest running
/// sync has taken [`SLOW_SYNC`]; on a local SSD with spare segments (about 0.2-0.4 ms per
/// sync) that keeps one sync in flight, which gave 7-16% more throughput than two in
/// alternating pairs (docs/decisions/0003-one-sync-in-flight.md).
const MAX_SYNCS_IN_FLIGHT: usize = 4;
/// How long the oldest running sync must have taken before another batch may sync beside it.
const SLOW_SYNC: std::time::Duration = std::time::Duration::from_millis(2);
/// Most pending entries [`Inbox::integrations_where`] looks at.
const SCAN_FOR_INTEGRATIONS: usize = 4096;
/// Name of the inbox directory inside the data directory.
pub const DIR_NAME: &str = "inbox";

/// Errors of the inbox.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// A file operation failed; check the disk (space, permissions) and the data directory.
    #[error("{what} {path} failed: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The delivery cannot be stored (too large for a record).
    #[error(transparent)]
    Encode(#[from] segment::EncodeError),
    /// Writing or syncing the batch failed; the delivery was not stored and gets a 5xx (Jira
    /// Data Center documents no retries: the change is lost unless Jira sends it again).
    #[error("writing the inbox failed: {0}")]
    Write(String),
    /// The inbox holds more than `--inbox-max-mb` of deliveries not yet applied.
    #[error(
        "the inbox holds {used_mb} MiB of deliveries, at its limit of {max_mb} MiB (--inbox-max-mb): deliveries are refused until the worker applies some; check why they are not applied (a paused integration, Jira unreachable) or raise --inbox-max-mb"
    )]
    Full {
        /// MiB of records in the log.
        used_mb: u64,
        /// The limit in MiB.
        max_mb: u64,
    },
    /// The writer task is gone (shutting down).
    #[error("the inbox writer has stopped; the server is shutting down")]
    Closed,
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> InboxError {
    let path = path.display().to_string();
    move |source| InboxError::Io { what, path, source }
}

/// Where a pending delivery is.
#[derive(Debug, Clone)]
struct Meta {
    integration_id: Arc<str>,
    received_ms: i64,
    segment: u64,
    body_offset: u64,
    body_len: usize,
}

impl Meta {
    /// Bytes the record takes in its segment.
    fn record_len(&self) -> u64 {
        segment::record_len(self.integration_id.len(), self.body_len)
    }
}

#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    path: PathBuf,
    /// Deliveries of this segment not yet recorded in the store.
    open: usize,
    /// Batches written to this segment whose sync has not finished.
    in_flight: usize,
    /// No more appends (an older segment, or one read back on start).
    sealed: bool,
    /// Bytes of records written to it.
    bytes: u64,
    /// Bytes of its records still pending.
    live: u64,
    /// Being compacted: not taken out of the log until that is over.
    busy: bool,
}

impl Segment {
    fn new(file: Arc<File>, path: PathBuf, sealed: bool, bytes: u64) -> Self {
        Self {
            file,
            path,
            open: 0,
            in_flight: 0,
            sealed,
            bytes,
            live: 0,
            busy: false,
        }
    }
}

#[derive(Debug, Default)]
struct Index {
    pending: BTreeMap<u64, Meta>,
    segments: BTreeMap<u64, Segment>,
    /// Bytes of records in the segments of the log (read without the lock by `accept`).
    bytes: Arc<AtomicU64>,
}

impl Index {
    fn add(&mut self, seq: u64, meta: Meta) {
        if self.pending.contains_key(&seq) {
            return;
        }
        if let Some(s) = self.segments.get_mut(&meta.segment) {
            s.open += 1;
            s.live += meta.record_len();
        }
        self.pending.insert(seq, meta);
    }

    /// Adds a segment to the log.
    fn insert_segment(&mut self, first: u64, segment: Segment) {
        self.bytes.fetch_add(segment.bytes, Ordering::Relaxed);
        self.segments.insert(first, segment);
    }

    /// Takes a segment out of the log.
    fn remove_segment(&mut self, first: u64) -> Option<Segment> {
        let s = self.segments.remove(&first)?;
        self.bytes.fetch_sub(
            s.bytes.min(self.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Some(s)
    }

    /// Marks `seq` done; returns whether it was pending and the path of a segment that became
    /// deletable.
    fn finish(&mut self, seq: u64) -> (bool, Option<PathBuf>) {
        let Some(meta) = self.pending.remove(&seq) else {
            return (false, None);
        };
        let Some(s) = self.segments.get_mut(&meta.segment) else {
            return (true, None);
        };
        s.open = s.open.saturating_sub(1);
        s.live = s.live.saturating_sub(meta.record_len());
        (true, self.take_if_done(meta.segment))
    }

    fn seal(&mut self, first: u64) -> Option<PathBuf> {
        self.segments.get_mut(&first)?.sealed = true;
        self.take_if_done(first)
    }

    fn take_if_done(&mut self, first: u64) -> Option<PathBuf> {
        let done = self
            .segments
            .get(&first)
            .is_some_and(|s| s.sealed && s.open == 0 && s.in_flight == 0 && !s.busy);
        done.then(|| self.remove_segment(first))
            .flatten()
            .map(|s| s.path)
    }
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    store: Store,
    index: Mutex<Index>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// Why the last write or sync failed, until a later one succeeds or [`Inbox::readiness`]
    /// finds the disk writable again.
    failure: Mutex<Option<String>>,
    /// Whether `failure` holds one (read without the lock).
    failed: std::sync::atomic::AtomicBool,
    /// Bytes of records in the log's segments (the index's counter).
    bytes: Arc<AtomicU64>,
    /// Above this many bytes deliveries are refused (`--inbox-max-mb`; 0: no limit).
    max_bytes: u64,
    /// Woken when a segment is sealed: the janitor looks for segments to compact.
    compact: Notify,
    /// Why the writer died (it panicked), once it did: no delivery can be stored any more.
    died: watch::Sender<Option<String>>,
    /// Test-only fault injection.
    faults: crate::app::Faults,
}

impl Shared {
    fn failure(&self) -> MutexGuard<'_, Option<String>> {
        self.failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records how the last batch ended. A success while nothing failed (every batch, normally)
    /// costs one atomic load.
    fn set_failure(&self, result: Result<(), &str>) {
        match result {
            Ok(()) => {
                if self.failed.load(Ordering::Relaxed) {
                    let mut f = self.failure();
                    self.failed.store(false, Ordering::Relaxed);
                    if f.take().is_some() {
                        tracing::info!("the inbox can write again");
                    }
                }
            }
            Err(e) => {
                let mut f = self.failure();
                *f = Some(e.to_owned());
                self.failed.store(true, Ordering::Relaxed);
            }
        }
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // loses deliveries (they are on disk), so keep going with the inner value.
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Write {
    integration_id: String,
    received_ms: i64,
    body: Vec<u8>,
    reply: oneshot::Sender<Result<u64, String>>,
}

/// Handle on the inbox (cheap to clone).
#[derive(Debug, Clone)]
pub struct Inbox {
    shared: Arc<Shared>,
    writes: mpsc::UnboundedSender<Write>,
    janitor: mpsc::UnboundedSender<PathBuf>,
}

/// The inbox's background tasks (writer and janitor).
#[derive(Debug)]
pub struct InboxTasks {
    writer: tokio::task::AbortHandle,
    /// Waits for the writer; records its panic as the inbox's death ([`Inbox::died`]).
    watcher: tokio::task::JoinHandle<()>,
    janitor: tokio::task::JoinHandle<()>,
}

impl InboxTasks {
    /// Stops both tasks (after the HTTP server stopped: no request waits on them any more).
    /// Segments whose deletion was pending are deleted on the next start.
    pub async fn stop(self) {
        self.writer.abort();
        self.janitor.abort();
        let _ = self.watcher.await;
        let _ = self.janitor.await;
    }
}

impl Inbox {
    /// Opens the inbox in `data_dir/inbox`, reads back what earlier runs stored but did not
    /// record as applied, and spawns the writer and janitor tasks (on the current tokio
    /// runtime). A new segment starts once the current one is larger than
    /// `max_segment_bytes` (`--inbox-segment-kb`; tests use small segments). `flush` makes
    /// the store durable before a segment is deleted.
    pub fn open(
        data_dir: &Path,
        store: Store,
        flush: StoreFlush,
        metrics: Arc<Metrics>,
        max_segment_bytes: u64,
        max_bytes: u64,
        faults: crate::app::Faults,
    ) -> Result<(Self, InboxTasks), InboxError> {
        let dir = data_dir.join(DIR_NAME);
        if !dir.is_dir() {
            create_private_dir(&dir).map_err(io_error("creating the inbox directory", &dir))?;
            segment::sync_dir(data_dir).map_err(io_error("syncing", data_dir))?;
        }
        segment::remove_spares(&dir).map_err(io_error("removing old spare segments in", &dir))?;
        let (index, max_seq) = recover(&dir, &store, &metrics)?;
        // Above every number in the log, and above sled's ids (used before `next-seq`).
        let floor = max_seq
            .map_or(0, |m| m.saturating_add(1))
            .max(store.next_id()?);
        let seqs = seq::SeqGen::open(&dir, floor)
            .map_err(io_error("reading the sequence bound in", &dir))?;
        metrics.inbox_set(i64::try_from(index.pending.len()).unwrap_or(i64::MAX));
        let bytes = index.bytes.clone();
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            store,
            index: Mutex::new(index),
            wake: Arc::new(Notify::new()),
            metrics,
            failure: Mutex::new(None),
            failed: std::sync::atomic::AtomicBool::new(false),
            bytes,
            max_bytes,
            compact: Notify::new(),
            died: watch::channel(None).0,
            faults,
        });
        let (writes, write_rx) = mpsc::unbounded_channel();
        let (janitor, janitor_rx) = mpsc::unbounded_channel();
        let writer_task = tokio::spawn(writer(
            shared.clone(),
            write_rx,
            janitor.clone(),
            max_segment_bytes,
            seqs,
        ));
        let tasks = InboxTasks {
            writer: writer_task.abort_handle(),
            watcher: tokio::spawn(watch_writer(writer_task, shared.clone())),
            janitor: tokio::spawn(janitor_task(
                shared.clone(),
                flush,
                janitor_rx,
                max_segment_bytes,
            )),
        };
        Ok((
            Self {
                shared,
                writes,
                janitor,
            },
            tasks,
        ))
    }

    /// Stores a delivery durably: returns its sequence number once it is on disk. The worker is
    /// woken afterwards.
    pub async fn accept(
        &self,
        integration_id: &str,
        received_ms: i64,
        body: &[u8],
    ) -> Result<u64, InboxError> {
        let used = self.shared.bytes.load(Ordering::Relaxed);
        if self.shared.max_bytes > 0 && used >= self.shared.max_bytes {
            return Err(InboxError::Full {
                used_mb: used >> 20,
                max_mb: self.shared.max_bytes >> 20,
            });
        }
        let handed_off = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        self.writes
            .send(Write {
                integration_id: integration_id.to_owned(),
                received_ms,
                body: body.to_vec(),
                reply,
            })
            .map_err(|_| InboxError::Closed)?;
        let seq = answer
            .await
            .map_err(|_| InboxError::Closed)?
            .map_err(InboxError::Write)?;
        self.shared.metrics.inbox_durable_wait(handed_off.elapsed());
        Ok(seq)
    }

    /// The oldest pending entries, at most `limit`, in sequence order, skipping those whose
    /// integration id `skip` returns true for (integrations waiting for Jira), so others are
    /// not held up.
    #[cfg(test)]
    pub fn oldest_except(
        &self,
        limit: usize,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<InboxEntry>, InboxError> {
        self.oldest_where(limit, &|integration, _| !skip(integration))
    }

    /// The oldest pending entries, at most `limit`, in sequence order, keeping those `keep`
    /// (integration id, sequence number) returns true for.
    pub fn oldest_where(
        &self,
        limit: usize,
        keep: &dyn Fn(&str, u64) -> bool,
    ) -> Result<Vec<InboxEntry>, InboxError> {
        let picked = {
            let index = self.shared.index();
            pick(&index, index.pending.iter(), limit, |seq, m| {
                keep(&m.integration_id, seq)
            })
        };
        picked.into_iter().map(read_entry).collect()
    }

    /// Integrations of the oldest pending entries that `keep` (integration id, sequence
    /// number) returns true for, in order of their oldest such entry, at most `limit`; only
    /// the oldest [`SCAN_FOR_INTEGRATIONS`] pending entries are looked at (no read of a body).
    pub fn integrations_where(
        &self,
        limit: usize,
        keep: &dyn Fn(&str, u64) -> bool,
    ) -> Vec<String> {
        let index = self.shared.index();
        let mut found: Vec<String> = Vec::new();
        for (seq, m) in index.pending.iter().take(SCAN_FOR_INTEGRATIONS) {
            if found.len() >= limit {
                break;
            }
            if !found.iter().any(|f| **f == *m.integration_id) && keep(&m.integration_id, *seq) {
                found.push(m.integration_id.to_string());
            }
        }
        found
    }

    /// Entries of one integration still pending, newest first (the delivery log shows them as
    /// `pending`).
    pub fn pending_for(&self, integration_id: &str) -> Result<Vec<InboxEntry>, InboxError> {
        let picked = {
            let index = self.shared.index();
            pick(&index, index.pending.iter().rev(), usize::MAX, |_, m| {
                &*m.integration_id == integration_id
            })
        };
        picked.into_iter().map(read_entry).collect()
    }

    /// Records the final delivery log entries of applied entries of one integration (in
    /// increasing sequence order; one delivery-log chunk, see `delivery_log.rs`)
    /// and drops them from the inbox.
    pub fn complete(
        &self,
        integration_id: &str,
        done: &[(u64, &DeliveryRecord)],
    ) -> Result<(), StoreError> {
        self.shared.store.put_deliveries(integration_id, done)?;
        let mut finished = 0;
        let mut deletable = Vec::new();
        {
            let mut index = self.shared.index();
            for (seq, _) in done {
                let (was_pending, path) = index.finish(*seq);
                finished += i64::from(was_pending);
                deletable.extend(path);
            }
        }
        self.shared.metrics.inbox_add(-finished);
        for path in deletable {
            let _ = self.janitor.send(path);
        }
        Ok(())
    }

    /// Returns once the writer died (it panicked), with the reason; never while it runs.
    pub async fn died(&self) -> String {
        let mut rx = self.shared.died.subscribe();
        let reason = rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone());
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// `Ok` when the inbox can store deliveries; otherwise why not. After a failed write or
    /// sync (a full disk, an I/O error) this writes, syncs and deletes a small probe file in
    /// the inbox directory, and is `Ok` again (without a restart) once that works.
    pub async fn readiness(&self) -> Result<(), String> {
        if let Some(reason) = self.shared.died.borrow().clone() {
            return Err(reason);
        }
        let used = self.shared.bytes.load(Ordering::Relaxed);
        if self.shared.max_bytes > 0 && used >= self.shared.max_bytes {
            return Err(InboxError::Full {
                used_mb: used >> 20,
                max_mb: self.shared.max_bytes >> 20,
            }
            .to_string());
        }
        let Some(failure) = self.shared.failure().clone() else {
            return Ok(());
        };
        let dir = self.shared.dir.clone();
        let probed = tokio::task::spawn_blocking(move || probe(&dir))
            .await
            .map_err(|e| format!("the inbox probe failed: {e}"))?;
        match probed {
            Ok(()) => {
                let mut f = self.shared.failure();
                if f.as_ref() == Some(&failure) {
                    *f = None;
                    self.shared.failed.store(false, Ordering::Relaxed);
                    tracing::info!("the inbox can write again");
                }
                Ok(())
            }
            Err(e) => Err(format!(
                "the inbox cannot store deliveries: {failure} (a probe write still fails: {e}); free disk space or fix the disk under {}",
                self.shared.dir.display()
            )),
        }
    }

    /// The notifier the worker waits on.
    pub fn wake(&self) -> Arc<Notify> {
        self.shared.wake.clone()
    }

    /// Number of pending entries.
    pub fn len(&self) -> usize {
        self.shared.index().pending.len()
    }

    /// Whether nothing is pending.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of segment files in use (for tests and diagnostics).
    pub fn segments(&self) -> usize {
        self.shared.index().segments.len()
    }
}

/// Creates `dir` (and missing parents) readable by its owner only (mode 0700).
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Name of the file [`probe`] writes.
const PROBE: &str = "probe.tmp";

/// Writes 64 KiB to a new file in `dir`, syncs it and deletes it.
fn probe(dir: &Path) -> io::Result<()> {
    use std::io::Write as _;
    let path = dir.join(PROBE);
    let result = (|| {
        let mut f = segment::private(OpenOptions::new().write(true).create(true).truncate(true))
            .open(&path)?;
        f.write_all(&vec![0; 64 * 1024])?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    result?;
    removed
}

type Picked = (u64, Meta, Arc<File>);

fn pick<'a>(
    index: &Index,
    iter: impl Iterator<Item = (&'a u64, &'a Meta)>,
    limit: usize,
    keep: impl Fn(u64, &Meta) -> bool,
) -> Vec<Picked> {
    iter.filter(|(seq, m)| keep(**seq, m))
        .filter_map(|(seq, m)| {
            let file = index.segments.get(&m.segment)?.file.clone();
            Some((*seq, m.clone(), file))
        })
        .take(limit)
        .collect()
}

fn read_entry((seq, meta, file): Picked) -> Result<InboxEntry, InboxError> {
    let mut body = vec![0; meta.body_len];
    read_at(&file, &mut body, meta.body_offset).map_err(|source| InboxError::Io {
        what: "reading delivery",
        path: format!("{seq} of segment {}", segment::file_name(meta.segment)),
        source,
    })?;
    Ok(InboxEntry {
        seq,
        integration_id: meta.integration_id.to_string(),
        received_ms: meta.received_ms,
        body,
    })
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read as _, Seek as _};
    let mut f = file;
    f.seek(io::SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

/// Reads back every segment: deliveries without a final delivery-log record are pending;
/// segments with none left are deleted (the store already records all of them durably, since
/// that is what it read back). A damaged segment is moved aside first ([`set_aside`]): its
/// valid records stay in the log, the damaged file is kept as `*.corrupt`, and the records
/// skipped are logged at error level and counted in `metrics`.
fn recover(
    dir: &Path,
    store: &Store,
    metrics: &Metrics,
) -> Result<(Index, Option<u64>), InboxError> {
    let mut index = Index::default();
    let mut max_seq: Option<u64> = None;
    let mut deleted = false;
    let mut log = DeliveryLookup::new(store);
    for (first, path) in segment::list(dir).map_err(io_error("listing", dir))? {
        let mut file = OpenOptions::new()
            .read(true)
            .open(&path)
            .map_err(io_error("opening inbox segment", &path))?;
        let mut scanned = segment::read_segment(&file, first)
            .map_err(io_error("reading inbox segment", &path))?;
        if scanned.is_damaged() {
            (file, scanned) = set_aside(dir, first, &path, &file, &scanned, metrics)?;
        } else if let segment::End::Invalid { offset } = scanned.end {
            tracing::warn!(
                segment = %path.display(),
                offset,
                "ignoring the unreadable end of an inbox segment (a write cut short by a crash, which was never acknowledged)"
            );
        }
        let records = scanned.records;
        let bytes = records
            .last()
            .map_or(0, |r| r.body_offset + r.body_len as u64);
        index.insert_segment(
            first,
            Segment::new(Arc::new(file), path.clone(), true, bytes),
        );
        for r in records {
            max_seq = max_seq.max(Some(r.seq));
            if log.is_final(&r.integration_id, r.seq)? {
                continue;
            }
            index.add(
                r.seq,
                Meta {
                    integration_id: r.integration_id.into(),
                    received_ms: r.received_ms,
                    segment: first,
                    body_offset: r.body_offset,
                    body_len: r.body_len,
                },
            );
        }
        if let Some(path) = index.take_if_done(first) {
            std::fs::remove_file(&path).map_err(io_error("deleting inbox segment", &path))?;
            deleted = true;
        }
    }
    if deleted {
        segment::sync_dir(dir).map_err(io_error("syncing", dir))?;
    }
    Ok((index, max_seq))
}

/// Moves a damaged segment aside ([`segment::set_aside`]), reports it, and returns the clean
/// copy now in its place, read back.
fn set_aside(
    dir: &Path,
    first: u64,
    path: &Path,
    file: &File,
    scanned: &segment::Scanned,
    metrics: &Metrics,
) -> Result<(File, segment::Scanned), InboxError> {
    let skipped = scanned.skipped();
    let size = file.metadata().map_or(0, |m| m.len());
    let damaged_bytes = scanned
        .damaged
        .iter()
        .map(|d| d.to.saturating_sub(d.from))
        .sum::<u64>()
        + match scanned.end {
            segment::End::Invalid { offset } => size.saturating_sub(offset),
            segment::End::Clean => 0,
        };
    let kept = segment::set_aside(dir, path, file, &scanned.records)
        .map_err(io_error("moving aside the damaged inbox segment", path))?;
    metrics.inbox_skipped(u64::try_from(skipped).unwrap_or(u64::MAX));
    tracing::error!(
        segment = %path.display(),
        kept = %kept.display(),
        recovered = scanned.records.len(),
        skipped_at_least = skipped,
        damaged_bytes,
        "an inbox segment is damaged (disk or filesystem fault, or the file was changed): its valid records were kept and will be applied, the deliveries in the damaged parts are lost unless Jira sends them again; the damaged file is kept for inspection (delete it when done)"
    );
    let file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(io_error("opening inbox segment", path))?;
    let again =
        segment::read_segment(&file, first).map_err(io_error("reading inbox segment", path))?;
    Ok((file, again))
}

/// The segment being appended to.
struct Current {
    first: u64,
    file: Arc<File>,
    size: u64,
    /// A write or sync failed: start a new segment before the next write.
    broken: bool,
}

/// What a write did to the set of segments (reported even when the write failed).
#[derive(Default)]
struct Rotation {
    created: Option<(u64, Arc<File>, PathBuf)>,
    sealed: Option<u64>,
}

struct Appender {
    dir: PathBuf,
    max_segment: u64,
    current: Option<Current>,
    spare: Spare,
    /// Whether the current segment has passed a quarter of its size (and a spare was looked
    /// for).
    quarter: bool,
}

/// The next segment, zero-filled ahead of time by a background thread (see [`segment`]).
/// Filling starts once the current segment is a quarter full, unless an applied segment is
/// kept to be written over ([`segment::retire`]); so a server that stores little never writes
/// one. A rotation that finds neither creates an empty segment instead.
#[derive(Default)]
struct Spare {
    filling: Option<std::thread::JoinHandle<io::Result<bool>>>,
    ready: bool,
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

impl Spare {
    /// Whether a ready spare is there to take now (never waits for one being filled).
    fn take(&mut self) -> bool {
        if self
            .filling
            .as_ref()
            .is_some_and(std::thread::JoinHandle::is_finished)
            && let Some(h) = self.filling.take()
        {
            match h.join() {
                Ok(Ok(done)) => self.ready = done,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot prepare a spare inbox segment");
                }
                Err(_) => tracing::warn!("preparing a spare inbox segment panicked"),
            }
        }
        std::mem::take(&mut self.ready)
    }

    /// Starts filling a spare of `size` bytes in `dir` unless one is ready or being filled.
    fn start(&mut self, dir: &Path, size: u64) {
        if self.ready || self.filling.is_some() {
            return;
        }
        let (dir, cancel) = (dir.to_owned(), self.cancel.clone());
        self.filling = std::thread::Builder::new()
            .name("inbox-spare".into())
            .spawn(move || segment::prepare_spare(&dir, size, &cancel))
            .map_err(|e| tracing::warn!(error = %e, "cannot start preparing a spare inbox segment"))
            .ok();
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        self.cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.filling.take() {
            let _ = h.join();
        }
    }
}

impl Appender {
    /// Writes `buf` (records, then [`segment::END_MARK`]) at the end of the current segment,
    /// over the end mark of the batch before, starting a new segment first when needed.
    /// Returns the segment, its file (to sync) and the offset `buf` starts at. Not durable yet.
    fn write(
        &mut self,
        buf: &[u8],
        first_seq: u64,
    ) -> (Rotation, io::Result<(u64, Arc<File>, u64)>) {
        let mut rotation = Rotation::default();
        if self.needs_rotation() {
            let recycled = segment::take_recycled(&self.dir, first_seq).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot use the kept inbox segment");
                None
            });
            let created = if let Some(file) = recycled {
                Ok(file)
            } else if self.spare.take() {
                segment::create(&self.dir, first_seq, true).or_else(|e| {
                    tracing::warn!(error = %e, "cannot use the spare inbox segment");
                    segment::create(&self.dir, first_seq, false)
                })
            } else {
                segment::create(&self.dir, first_seq, false)
            };
            let file = match created {
                Ok(f) => Arc::new(f),
                Err(e) => return (rotation, Err(e)),
            };
            rotation.created = Some((
                first_seq,
                file.clone(),
                self.dir.join(segment::file_name(first_seq)),
            ));
            rotation.sealed = self.current.take().map(|c| c.first);
            self.quarter = false;
            self.current = Some(Current {
                first: first_seq,
                file,
                size: 0,
                broken: false,
            });
        }
        let Some(cur) = self.current.as_mut() else {
            return (rotation, Err(io::Error::other("no inbox segment is open")));
        };
        let base = cur.size;
        match segment::write_all_at(&cur.file, buf, base) {
            Ok(()) => {
                let records = buf.len().saturating_sub(segment::END_MARK.len());
                cur.size += records as u64;
                let written = (cur.first, cur.file.clone(), base);
                if !self.quarter && cur.size >= self.max_segment / 4 {
                    self.quarter = true;
                    if !segment::has_recycled(&self.dir) {
                        self.spare.start(&self.dir, self.max_segment);
                    }
                }
                (rotation, Ok(written))
            }
            Err(e) => {
                cur.broken = true;
                (rotation, Err(e))
            }
        }
    }

    /// Whether the next write starts a new segment.
    fn needs_rotation(&self) -> bool {
        self.current
            .as_ref()
            .is_none_or(|c| c.broken || c.size >= self.max_segment)
    }

    /// After a failed sync of `segment`: nothing more is written to it.
    fn abandon(&mut self, segment: u64) {
        if let Some(c) = self.current.as_mut().filter(|c| c.first == segment) {
            c.broken = true;
        }
    }
}

/// Deliveries collected for one write, with their sequence numbers and body offsets within
/// the write (or why each could not be encoded).
struct Batch {
    writes: Vec<Write>,
    placed: Vec<Result<(u64, usize), String>>,
}

/// A written batch whose sync is running.
struct Syncing {
    batch: Batch,
    segment: u64,
    base: u64,
    started: tokio::time::Instant,
    sync: tokio::task::JoinHandle<io::Result<()>>,
}

/// The writer task: group commit of deliveries into the current segment.
///
/// Writes are issued one at a time, in order; up to [`MAX_SYNCS_IN_FLIGHT`] syncs may run at
/// once (a second one only beside a slow one, see [`SLOW_SYNC`]), and batches are answered in
/// write order. When a sync fails, that batch and every later batch of the same segment fail
/// (their bytes follow data that may be lost, and reading stops there), and the next write
/// starts a new segment.
/// Waits for the writer task. If it panicked (a bug), no delivery can be stored any more: the
/// accepts waiting on it and every later one fail (503, never 200), and [`Inbox::died`]
/// returns the reason, on which the server stops with a non-zero exit so that a supervisor
/// restarts it (the writer's state, the open segment and its sequence numbers, is rebuilt from
/// the log on start).
async fn watch_writer(writer: tokio::task::JoinHandle<()>, shared: Arc<Shared>) {
    let Err(e) = writer.await else { return };
    if !e.is_panic() {
        return;
    }
    let panic = e.into_panic();
    let message = crate::app::panic_message(&*panic);
    tracing::error!(panic = %message, "the inbox writer panicked: deliveries cannot be stored until the server restarts");
    shared.died.send_replace(Some(format!(
        "the inbox writer panicked ({message}); restart the server (what was acknowledged is in the inbox log)"
    )));
}

async fn writer(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Write>,
    janitor: mpsc::UnboundedSender<PathBuf>,
    max_segment: u64,
    mut seqs: seq::SeqGen,
) {
    let new_appender = || Appender {
        dir: shared.dir.clone(),
        max_segment,
        current: None,
        spare: Spare::default(),
        quarter: false,
    };
    let mut appender = Some(new_appender());
    let mut syncing: std::collections::VecDeque<Syncing> = std::collections::VecDeque::new();
    let mut failed_segment: Option<u64> = None;
    let mut open = true;
    while open || !syncing.is_empty() {
        // When another batch may sync beside the running ones (see `SLOW_SYNC`).
        let overlap_at = syncing.front().map(|s| s.started + SLOW_SYNC);
        let room = syncing.len() < MAX_SYNCS_IN_FLIGHT;
        let accept = open
            && (syncing.is_empty()
                || (room && overlap_at.is_some_and(|t| t <= tokio::time::Instant::now())));
        let oldest = async {
            match syncing.front_mut() {
                Some(s) => Some((&mut s.sync).await),
                None => std::future::pending().await,
            }
        };
        let slow = async {
            match overlap_at {
                Some(t) if open && !accept && room => {
                    tokio::time::sleep_until(t).await;
                }
                _ => std::future::pending().await,
            }
        };
        let next = tokio::select! {
            biased;
            Some(joined) = oldest => Err(joined),
            w = rx.recv(), if accept => Ok(w),
            () = slow => continue,
        };
        match next {
            Err(joined) => {
                let Some(s) = syncing.pop_front() else {
                    continue;
                };
                shared.metrics.inbox_sync(s.started.elapsed());
                let mut result = match joined {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(format!("syncing the inbox failed: {e}")),
                    Err(e) => Err(format!("inbox sync task failed: {e}")),
                };
                if result.is_err() {
                    failed_segment = Some(s.segment);
                    if let Some(app) = appender.as_mut() {
                        app.abandon(s.segment);
                    }
                } else if failed_segment == Some(s.segment) {
                    result =
                        Err("an earlier write to the same inbox segment failed to sync".to_owned());
                }
                finish(
                    &shared,
                    &janitor,
                    s.batch,
                    s.segment,
                    &result.map(|()| s.base),
                );
            }
            Ok(None) => open = false,
            Ok(Some(first)) => {
                shared.faults.maybe_panic_inbox_writer();
                let (batch, buf, seq_failure) = collect(&mut seqs, first, &mut rx);
                if let Some(e) = &seq_failure {
                    // The bound file could not be written: the disk, like a failed write.
                    shared.set_failure(Err(e));
                }
                let Some(first_seq) = batch
                    .placed
                    .iter()
                    .find_map(|p| p.as_ref().ok().map(|(s, _)| *s))
                else {
                    reply(batch, None);
                    continue;
                };
                let Some(mut app) = appender.take() else {
                    break;
                };
                let written_len = buf.len().saturating_sub(segment::END_MARK.len()) as u64;
                let joined = if app.needs_rotation() {
                    // Creating a segment syncs the directory: off the runtime's threads.
                    tokio::task::spawn_blocking(move || {
                        let (rotation, result) = app.write(&buf, first_seq);
                        (app, rotation, result)
                    })
                    .await
                } else {
                    // Appending to the page cache takes microseconds; a hop to the blocking
                    // pool would cost more than it saves.
                    let (rotation, result) = app.write(&buf, first_seq);
                    Ok((app, rotation, result))
                };
                let (rotation, written) = match joined {
                    Ok((app, rotation, result)) => {
                        appender = Some(app);
                        (
                            rotation,
                            result.map_err(|e| format!("writing the inbox failed: {e}")),
                        )
                    }
                    Err(e) => {
                        // The blocking task panicked; start over with a new segment.
                        appender = Some(new_appender());
                        (
                            Rotation::default(),
                            Err(format!("inbox write task failed: {e}")),
                        )
                    }
                };
                {
                    let mut index = shared.index();
                    if let Some((first, file, path)) = rotation.created {
                        index.insert_segment(first, Segment::new(file, path, false, 0));
                    }
                    if let Some(old) = rotation.sealed {
                        if let Some(path) = index.seal(old) {
                            let _ = janitor.send(path);
                        }
                        // A segment was sealed: see whether older ones are worth compacting.
                        shared.compact.notify_one();
                    }
                    if let Ok((segment, _, _)) = &written
                        && let Some(seg) = index.segments.get_mut(segment)
                    {
                        seg.in_flight += 1;
                        seg.bytes += written_len;
                        shared.bytes.fetch_add(written_len, Ordering::Relaxed);
                    }
                }
                match written {
                    Ok((segment, file, base)) => syncing.push_back(Syncing {
                        batch,
                        segment,
                        base,
                        started: tokio::time::Instant::now(),
                        sync: tokio::task::spawn_blocking(move || file.sync_data()),
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, deliveries = batch.writes.len(), "inbox write failed");
                        shared.set_failure(Err(&e));
                        reply(batch, Some(&e));
                    }
                }
            }
        }
    }
}

/// Takes `first` and whatever else is waiting (up to [`MAX_BATCH_BYTES`]), numbers and encodes
/// them; a delivery that cannot be numbered or encoded fails alone. Also returns why numbers
/// could not be reserved, if they could not.
fn collect(
    seqs: &mut seq::SeqGen,
    first: Write,
    rx: &mut mpsc::UnboundedReceiver<Write>,
) -> (Batch, Vec<u8>, Option<String>) {
    let mut bytes = first.body.len();
    let mut writes = vec![first];
    while bytes < MAX_BATCH_BYTES {
        match rx.try_recv() {
            Ok(more) => {
                bytes += more.body.len();
                writes.push(more);
            }
            Err(_) => break,
        }
    }
    let mut buf = Vec::with_capacity(bytes + writes.len() * 64);
    let mut seq_failure = None;
    let placed = writes
        .iter()
        .map(|w| {
            let seq = seqs.next().map_err(|e| {
                let e = format!("reserving inbox sequence numbers failed: {e}");
                seq_failure = Some(e.clone());
                e
            })?;
            Record {
                seq,
                received_ms: w.received_ms,
                integration_id: &w.integration_id,
                body: &w.body,
            }
            .encode_into(&mut buf)
            .map(|at| (seq, at))
            .map_err(|e| e.to_string())
        })
        .collect();
    buf.extend_from_slice(&segment::END_MARK);
    (Batch { writes, placed }, buf, seq_failure)
}

/// Answers every delivery of a batch: with `failure` when the batch was not stored, otherwise
/// with its own sequence number or encoding error.
fn reply(batch: Batch, failure: Option<&str>) {
    for (w, p) in batch.writes.into_iter().zip(batch.placed) {
        let answer = match failure {
            Some(e) => Err(e.to_owned()),
            None => p.map(|(seq, _)| seq),
        };
        let _ = w.reply.send(answer);
    }
}

/// Records a synced batch in the index (or drops its reservation when it failed) and answers
/// its requests.
fn finish(
    shared: &Shared,
    janitor: &mpsc::UnboundedSender<PathBuf>,
    batch: Batch,
    segment: u64,
    result: &Result<u64, String>,
) {
    let mut stored = 0u64;
    {
        let mut index = shared.index();
        if let Some(seg) = index.segments.get_mut(&segment) {
            seg.in_flight = seg.in_flight.saturating_sub(1);
        }
        if let Ok(base) = *result {
            for (w, p) in batch.writes.iter().zip(&batch.placed) {
                if let Ok((seq, at)) = p {
                    index.add(
                        *seq,
                        Meta {
                            integration_id: w.integration_id.as_str().into(),
                            received_ms: w.received_ms,
                            segment,
                            body_offset: base + *at as u64,
                            body_len: w.body.len(),
                        },
                    );
                    stored += 1;
                }
            }
        }
        if let Some(path) = index.take_if_done(segment) {
            let _ = janitor.send(path);
        }
    }
    if let Err(e) = result {
        tracing::error!(error = %e, deliveries = batch.writes.len(), "inbox write failed");
    }
    shared.set_failure(result.as_ref().map(|_| ()).map_err(String::as_str));
    if stored > 0 {
        shared
            .metrics
            .inbox_add(i64::try_from(stored).unwrap_or(i64::MAX));
        shared.metrics.flush(stored);
        shared.wake.notify_one();
    }
    reply(batch, result.as_ref().err().map(String::as_str));
}

/// Takes segments whose deliveries are all recorded out of the log ([`segment::retire`]: one
/// is kept to be written over as a later segment, others are deleted), after making the
/// store durable.
async fn janitor_task(
    shared: Arc<Shared>,
    flush: StoreFlush,
    mut rx: mpsc::UnboundedReceiver<PathBuf>,
    segment_bytes: u64,
) {
    loop {
        let first = tokio::select! {
            p = rx.recv() => match p {
                Some(p) => p,
                None => return,
            },
            () = shared.compact.notified() => {
                compact(&shared, &flush).await;
                continue;
            }
        };
        let mut paths = vec![first];
        while let Ok(more) = rx.try_recv() {
            paths.push(more);
        }
        if let Err(e) = flush.flushed().await {
            tracing::error!(error = %e, "cannot flush the store; applied inbox segments are kept until the next start");
            continue;
        }
        let dir = shared.dir.clone();
        let removed = tokio::task::spawn_blocking(move || {
            for p in &paths {
                if let Err(e) = segment::retire(&dir, p, segment_bytes) {
                    tracing::warn!(segment = %p.display(), error = %e, "cannot remove an applied inbox segment");
                }
            }
            segment::sync_dir(&dir)
        })
        .await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!("cannot sync the inbox directory after deleting segments");
        }
    }
}

/// A segment is compacted once at most this fraction (1/n: half) of its bytes is still pending.
const COMPACT_BELOW: u64 = 2;

/// Compaction: sealed segments of which at most half is still pending (say, the backlog
/// of one paused integration among applied deliveries of others) are merged into one file
/// holding only their pending records, in sequence order with their sequence numbers, named
/// after the first of them; the others are deleted. So a backlog keeps its own bytes on disk,
/// not the applied deliveries around it.
///
/// Crash safety: the pending records are chosen, then the store is flushed (the applied ones
/// left out are durably recorded), then the merged file is written and synced as
/// `NAME.log.rewrite`, renamed over the first segment and the directory synced, and only then
/// are the others deleted. A crash before the rename leaves the old segments (the `.rewrite`
/// is removed on start); after it, the records of the others are read twice on start, and the
/// second copies are ignored, which leaves those segments with nothing pending: they are
/// deleted.
async fn compact(shared: &Arc<Shared>, flush: &StoreFlush) {
    let picked: Vec<u64> = {
        let mut index = shared.index();
        let picked: Vec<u64> = index
            .segments
            .iter()
            .filter(|(_, s)| {
                s.sealed
                    && s.in_flight == 0
                    && !s.busy
                    && s.open > 0
                    && s.live.saturating_mul(COMPACT_BELOW) <= s.bytes
            })
            .map(|(first, _)| *first)
            .collect();
        for first in &picked {
            if let Some(s) = index.segments.get_mut(first) {
                s.busy = true;
            }
        }
        picked
    };
    let Some(&target) = picked.first() else {
        return;
    };
    let records: Vec<Picked> = {
        let index = shared.index();
        let set: std::collections::BTreeSet<u64> = picked.iter().copied().collect();
        pick(&index, index.pending.iter(), usize::MAX, |_, m| {
            set.contains(&m.segment)
        })
    };
    let flushed = flush.flushed().await;
    let written = match flushed {
        Ok(()) => {
            let dir = shared.dir.clone();
            tokio::task::spawn_blocking(move || write_compacted(&dir, target, &records))
                .await
                .unwrap_or_else(|e| Err(io::Error::other(format!("compaction task failed: {e}"))))
        }
        Err(e) => Err(io::Error::other(e.to_string())),
    };
    let mut delete = Vec::new();
    let mut done = None;
    {
        let mut index = shared.index();
        match written {
            Ok((file, path, placed, bytes)) => {
                let mut seg = Segment::new(Arc::new(file), path, true, bytes);
                for (seq, body_offset) in placed {
                    if let Some(m) = index.pending.get_mut(&seq) {
                        m.segment = target;
                        m.body_offset = body_offset;
                        seg.open += 1;
                        seg.live += m.record_len();
                    }
                }
                for first in &picked {
                    if let Some(old) = index.remove_segment(*first)
                        && *first != target
                    {
                        delete.push(old.path);
                    }
                }
                index.insert_segment(target, seg);
                done = index.take_if_done(target);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot compact inbox segments; they are kept as they are");
                for first in &picked {
                    if let Some(s) = index.segments.get_mut(first) {
                        s.busy = false;
                    }
                }
                for first in &picked {
                    if let Some(p) = index.take_if_done(*first) {
                        delete.push(p);
                    }
                }
            }
        }
    }
    if !delete.is_empty() || done.is_some() {
        let dir = shared.dir.clone();
        let removed = tokio::task::spawn_blocking(move || {
            for p in delete.iter().chain(&done) {
                std::fs::remove_file(p)?;
            }
            segment::sync_dir(&dir)
        })
        .await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!(
                "cannot delete compacted inbox segments; they are deleted on the next start"
            );
        }
    }
}

/// What [`write_compacted`] made: the file opened, its path, where each record's body now is
/// (sequence number, offset), and its length.
type Compacted = (File, PathBuf, Vec<(u64, u64)>, u64);

/// Writes the merged file of [`compact`] and renames it over segment `target`.
fn write_compacted(dir: &Path, target: u64, records: &[Picked]) -> io::Result<Compacted> {
    use std::io::Write as _;
    let path = dir.join(segment::file_name(target));
    let tmp = dir.join(format!(
        "{}{}",
        segment::file_name(target),
        segment::REWRITE
    ));
    let mut out = io::BufWriter::new(
        segment::private(OpenOptions::new().write(true).create(true).truncate(true)).open(&tmp)?,
    );
    let mut placed = Vec::with_capacity(records.len());
    let mut buf = Vec::new();
    let mut body = Vec::new();
    let mut at = 0u64;
    for (seq, meta, file) in records {
        body.resize(meta.body_len, 0);
        read_at(file, &mut body, meta.body_offset)?;
        buf.clear();
        let body_at = Record {
            seq: *seq,
            received_ms: meta.received_ms,
            integration_id: &meta.integration_id,
            body: &body,
        }
        .encode_into(&mut buf)
        .map_err(io::Error::other)?;
        out.write_all(&buf)?;
        placed.push((*seq, at + body_at as u64));
        at += buf.len() as u64;
    }
    let out = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&tmp, &path)?;
    segment::sync_dir(dir)?;
    let file = OpenOptions::new().read(true).open(&path)?;
    Ok((file, path, placed, at))
}

#[cfg(test)]
mod tests;
