//! On-disk format of the inbox: append-only segment files of checksummed records.
//!
//! A segment is named after the sequence number of its first record, 20 decimal digits and
//! `.log` (`00000000000000000042.log`), so names sort in order. It is a sequence of records:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | magic `0xB7` |
//! | 4 | payload length, big endian |
//! | 4 | CRC-32 (IEEE) of the payload, big endian |
//! | n | payload: sequence number u64, receive time i64 (unix ms), integration id length u16, integration id (UTF-8), body |
//!
//! Records are only appended, in batches followed by one `fdatasync`; a segment is never
//! appended to after a restart. Each batch is written with an *end mark* of [`HEADER_LEN`] zero
//! bytes after it, which the next batch overwrites. A record is valid when its length fits in
//! the segment, its checksum matches and its sequence number is at least the segment's first
//! (from its name) and above the one before it. Reading skips whatever is not a valid record
//! and resumes at the next valid one ([`read_segment`]): bytes that end the segment are the end
//! mark and what follows it, or, after a crash, the batch whose write was not acknowledged;
//! bytes with valid records after them are damage, and the start of the inbox moves such a
//! segment aside ([`set_aside`]).
//!
//! A segment may start as a *spare*: a file zero-filled to the segment size and synced ahead of
//! time ([`prepare_spare`]), renamed into place when a segment is needed ([`create`]) and then
//! written from its start. Its blocks and length are already durable, so the `fdatasync` after
//! each batch writes data only, with no journal commit for a new size or new blocks; on ext4
//! that halved both the sync's latency and its CPU time
//! (docs/decisions/0002-inbox-spare-and-recycled-segments.md). Zeros where a record
//! would start are the unwritten rest of such a file, and end the segment cleanly.
//!
//! Once a spare has been used, applied segments take its place: the first applied segment is
//! kept ([`retire`]), its first header zeroed, and the next rotation writes over it from its
//! start ([`take_recycled`]); only when none is kept is a spare zero-filled. Its old records
//! are never read again: the first header is zeros until the first batch is written, every
//! batch ends with an end mark, and should a torn write leave an old record where the next
//! one would start, its sequence number is below those before it. So the filesystem neither
//! frees nor allocates blocks per segment, and the disk does not write each segment twice
//! (zeros, then records). The bytes of old deliveries past the end mark stay in the file
//! until overwritten.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// First byte of every record.
pub const MAGIC: u8 = 0xB7;
/// Bytes before the payload: magic, length, checksum.
pub const HEADER_LEN: usize = 9;
/// Fixed part of the payload: sequence number, receive time, integration id length.
const FIXED_LEN: usize = 8 + 8 + 2;
/// File name suffix of segments.
pub const SUFFIX: &str = ".log";
/// A spare segment being zero-filled.
const SPARE_FILLING: &str = "spare.filling";
/// A spare segment ready to be taken.
const SPARE_READY: &str = "spare.ready";
/// An applied segment kept to be written over as the next segment (see [`retire`]).
const SPARE_RECYCLED: &str = "spare.recycled";
/// What follows every written batch: zeros where the next header would start.
pub const END_MARK: [u8; HEADER_LEN] = [0; HEADER_LEN];

/// One delivery as written to a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Inbox sequence number (also the delivery log key).
    pub seq: u64,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// Integration id (at most 65 535 bytes).
    pub integration_id: &'a str,
    /// Raw request body.
    pub body: &'a [u8],
}

/// Why a record cannot be written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The integration id does not fit the 16-bit length field.
    #[error("integration id of {0} bytes is longer than 65535 bytes")]
    IdTooLong(usize),
    /// The payload does not fit the 32-bit length field.
    #[error("delivery of {0} bytes is too large for an inbox record")]
    TooLarge(usize),
}

impl Record<'_> {
    /// Appends the encoded record to `out`; returns the offset of the body within `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
        let id = self.integration_id.as_bytes();
        let id_len = u16::try_from(id.len()).map_err(|_| EncodeError::IdTooLong(id.len()))?;
        let payload_len = FIXED_LEN + id.len() + self.body.len();
        let len = u32::try_from(payload_len).map_err(|_| EncodeError::TooLarge(payload_len))?;
        out.reserve(HEADER_LEN + payload_len);
        out.push(MAGIC);
        out.extend_from_slice(&len.to_be_bytes());
        let crc_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let payload_at = out.len();
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.received_ms.to_be_bytes());
        out.extend_from_slice(&id_len.to_be_bytes());
        out.extend_from_slice(id);
        let body_at = out.len();
        out.extend_from_slice(self.body);
        let crc = crc32fast::hash(out.get(payload_at..).unwrap_or_default());
        if let Some(slot) = out.get_mut(crc_at..payload_at) {
            slot.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(body_at)
    }
}

/// Bytes a record takes in a segment, header included.
pub fn record_len(id_len: usize, body_len: usize) -> u64 {
    (HEADER_LEN + FIXED_LEN + id_len + body_len) as u64
}

/// Suffix of the file a segment is rewritten into before it is renamed into place
/// ([`set_aside`], and the inbox's compaction).
pub const REWRITE: &str = REWRITE_SUFFIX;

/// A record found in a segment, with where its body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Sequence number.
    pub seq: u64,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// Integration id.
    pub integration_id: String,
    /// Offset of the record (its header) in the segment file.
    pub offset: u64,
    /// Offset of the body in the segment file.
    pub body_offset: u64,
    /// Length of the body.
    pub body_len: usize,
}

/// How reading a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every byte belonged to a valid record, or the rest is zeros (the unwritten part of a
    /// spare, or an end mark with an applied segment's old bytes after it).
    Clean,
    /// The bytes from this offset to the end are not a valid record (a torn write or
    /// damage).
    Invalid {
        /// Offset of the first byte not read.
        offset: u64,
    },
}

/// Bytes between two valid records of a segment that are not a valid record themselves:
/// damage (a flipped bit, a lost block, a wrong length), skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// First byte skipped.
    pub from: u64,
    /// Offset of the valid record after it.
    pub to: u64,
}

/// Everything [`read_segment`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// The valid records, in order.
    pub records: Vec<Located>,
    /// How the segment ends.
    pub end: End,
    /// Damaged stretches with valid records after them.
    pub damaged: Vec<Damage>,
}

impl Scanned {
    /// Whether the segment is damaged: valid records come after bytes that are not one, or
    /// the segment holds no valid record but does not start with zeros (its first header is
    /// bad). A torn tail after valid records is what a crash during an unacknowledged write
    /// leaves, and is not counted.
    pub fn is_damaged(&self) -> bool {
        !self.damaged.is_empty()
            || (self.records.is_empty() && matches!(self.end, End::Invalid { .. }))
    }

    /// How many records were skipped, at least: one per damaged stretch (the records inside
    /// one cannot be told apart).
    pub fn skipped(&self) -> usize {
        self.damaged.len() + usize::from(self.records.is_empty() && self.is_damaged())
    }
}

/// Bytes a segment is read from, by offset.
pub trait Source {
    /// Number of bytes.
    fn size(&self) -> io::Result<u64>;
    /// Reads up to `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }

    #[cfg(not(unix))]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use std::io::{Read as _, Seek as _};
        let mut f = self;
        f.seek(io::SeekFrom::Start(offset))?;
        f.read(buf)
    }
}

impl Source for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(rest.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Decodes one payload and checks it against its checksum.
fn decode_payload(payload: &[u8], crc: u32) -> Option<(u64, i64, &str, usize)> {
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let (seq, rest) = payload.split_at_checked(8)?;
    let (ms, rest) = rest.split_at_checked(8)?;
    let (id_len, rest) = rest.split_at_checked(2)?;
    let id_len = usize::from(u16::from_be_bytes(id_len.try_into().ok()?));
    let (id, _body) = rest.split_at_checked(id_len)?;
    Some((
        u64::from_be_bytes(seq.try_into().ok()?),
        i64::from_be_bytes(ms.try_into().ok()?),
        std::str::from_utf8(id).ok()?,
        FIXED_LEN + id_len,
    ))
}

/// How many bytes [`Window`] reads at a time.
const WINDOW: usize = 256 * 1024;

/// A window of a [`Source`], moved forward as the scan goes.
struct Window<'a, S: ?Sized> {
    src: &'a S,
    size: u64,
    start: u64,
    buf: Vec<u8>,
}

impl<S: Source + ?Sized> Window<'_, S> {
    /// The bytes at `offset..offset + n` (`n` at most [`WINDOW`]), fewer at the end.
    fn get(&mut self, offset: u64, n: usize) -> io::Result<&[u8]> {
        if offset >= self.size {
            return Ok(&[]);
        }
        let end = offset.saturating_add(n as u64).min(self.size);
        if offset < self.start || end > self.start + self.buf.len() as u64 {
            let want = usize::try_from(self.size - offset).map_or(WINDOW, |l| l.min(WINDOW));
            self.buf.resize(want, 0);
            let got = read_full_at(self.src, &mut self.buf, offset)?;
            self.buf.truncate(got);
            self.start = offset;
        }
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX);
        let to = usize::try_from(end - self.start).unwrap_or(usize::MAX);
        Ok(self.buf.get(from..to).unwrap_or_default())
    }

    /// The valid record starting at `offset`, if there is one: its length is bounded by
    /// the bytes left in the segment (a damaged length never makes the scan allocate more
    /// than the segment's size), and its checksum matches.
    fn record_at(&mut self, offset: u64) -> io::Result<Option<(Located, u64)>> {
        let Ok(header) = <[u8; HEADER_LEN]>::try_from(self.get(offset, HEADER_LEN)?) else {
            return Ok(None);
        };
        let [magic, l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u64::from(u32::from_be_bytes([l0, l1, l2, l3]));
        let payload_at = offset + HEADER_LEN as u64;
        if magic != MAGIC || len < FIXED_LEN as u64 || len > self.size.saturating_sub(payload_at) {
            return Ok(None);
        }
        let Ok(n) = usize::try_from(len) else {
            return Ok(None);
        };
        let crc = u32::from_be_bytes([c0, c1, c2, c3]);
        let large;
        let payload = if n <= WINDOW {
            self.get(payload_at, n)?
        } else {
            let mut buf = vec![0; n];
            let got = read_full_at(self.src, &mut buf, payload_at)?;
            buf.truncate(got);
            large = buf;
            &large
        };
        if payload.len() < n {
            return Ok(None);
        }
        let Some((seq, received_ms, id, body_start)) = decode_payload(payload, crc) else {
            return Ok(None);
        };
        let located = Located {
            seq,
            received_ms,
            integration_id: id.to_owned(),
            offset,
            body_offset: payload_at + body_start as u64,
            body_len: n - body_start,
        };
        Ok(Some((located, payload_at + len)))
    }

    /// Offset of the next [`MAGIC`] byte at or after `at` (the size when there is none).
    fn next_magic(&mut self, mut at: u64) -> io::Result<u64> {
        loop {
            let chunk = self.get(at, WINDOW)?;
            if chunk.is_empty() {
                return Ok(self.size);
            }
            match chunk.iter().position(|b| *b == MAGIC) {
                Some(i) => return Ok(at + i as u64),
                None => at += chunk.len() as u64,
            }
        }
    }
}

/// Reads every valid record of a segment, in order, without keeping bodies in memory.
/// Records have sequence numbers of at least `floor` (the segment's first, from its name),
/// each above the one before; anything else is left from the file's earlier use.
///
/// After bytes that are not a valid record (a torn write, or damage), reading resumes at the
/// next valid record, found by trying every [`MAGIC`] byte after them; such stretches are
/// reported in [`Scanned::damaged`] when valid records follow, and as [`End::Invalid`] when
/// they reach the end (unless they start with zeros: an end mark or the unwritten rest of a
/// spare). A length field is never trusted beyond the bytes left in the segment.
pub fn read_segment<S: Source + ?Sized>(src: &S, floor: u64) -> io::Result<Scanned> {
    let size = src.size()?;
    let mut window = Window {
        src,
        size,
        start: 0,
        buf: Vec::new(),
    };
    let mut records: Vec<Located> = Vec::new();
    let mut damaged = Vec::new();
    let mut bad_from: Option<u64> = None;
    let mut offset = 0u64;
    while offset < size {
        let found = window.record_at(offset)?.filter(|(r, _)| {
            records
                .last()
                .map_or(r.seq >= floor, |prev| r.seq > prev.seq)
        });
        if let Some((record, next)) = found {
            if let Some(from) = bad_from.take() {
                damaged.push(Damage { from, to: offset });
            }
            records.push(record);
            offset = next;
        } else {
            bad_from.get_or_insert(offset);
            offset = window.next_magic(offset + 1)?;
        }
    }
    let end = match bad_from {
        None => End::Clean,
        Some(from) if window.get(from, HEADER_LEN)? == END_MARK => End::Clean,
        Some(offset) => End::Invalid { offset },
    };
    Ok(Scanned {
        records,
        end,
        damaged,
    })
}

/// [`read_segment`], without the damaged stretches.
#[cfg(test)]
pub fn scan<S: Source + ?Sized>(src: &S, floor: u64) -> io::Result<(Vec<Located>, End)> {
    let s = read_segment(src, floor)?;
    Ok((s.records, s.end))
}

/// Like `read_exact_at`, but returns how many bytes were read before the end of the input.
fn read_full_at<S: Source + ?Sized>(src: &S, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match src.read_at(rest, offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// File name of the segment whose first record has sequence number `first`.
pub fn file_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// The first sequence number encoded in a segment file name, if it is one.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segments in `dir`, ordered by first sequence number. Other files are ignored.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_name) {
            out.push((first, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(first, _)| *first);
    Ok(out)
}

/// Creates a new segment and makes its directory entry durable: the ready spare renamed into
/// place when `spare` is true (writes start at its beginning), else a new empty file.
pub fn create(dir: &Path, first: u64, spare: bool) -> io::Result<File> {
    let path = dir.join(file_name(first));
    let file = if spare {
        if path.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        std::fs::rename(dir.join(SPARE_READY), &path)?;
        OpenOptions::new().read(true).write(true).open(&path)?
    } else {
        // Not `append`: batches are written at their offset, over the end mark before them.
        private(OpenOptions::new().read(true).write(true).create_new(true)).open(&path)?
    };
    sync_dir(dir)?;
    Ok(file)
}

/// Zero-fills a spare segment of `size` bytes in `dir`, syncs it and marks it ready for
/// [`create`]. Returns `false`, leaving no spare, when `cancel` turned true first.
///
/// The zeros are written and synced [`FILL_STEP`] bytes at a time, so the disk never has more
/// than one step of them queued ahead of an inbox sync. Written all at once and synced at the
/// end, the 32 MiB of a default segment stalled every request waiting on the inbox (load
/// harness, mix a, 10 alternating pairs: max latency 65-256 ms, against 37-55 ms with 256 KiB
/// steps; throughput and p99 within noise). Steps of 4 MiB raised the p99 from about 8 to
/// 12 ms.
pub const FILL_STEP: usize = 256 * 1024;

/// See [`FILL_STEP`].
pub fn prepare_spare(dir: &Path, size: u64, cancel: &AtomicBool) -> io::Result<bool> {
    let filling = dir.join(SPARE_FILLING);
    let filled = fill_zeros(&filling, size, cancel);
    if !matches!(filled, Ok(true)) {
        // Cancelled, or failed (say the disk is full): leave nothing behind.
        let _ = std::fs::remove_file(&filling);
        return filled;
    }
    std::fs::rename(&filling, dir.join(SPARE_READY))?;
    sync_dir(dir)?;
    Ok(true)
}

/// Writes `size` zero bytes to a new file at `path`, syncing after every [`FILL_STEP`] bytes
/// and at the end; `false` when cancelled.
fn fill_zeros(path: &Path, size: u64, cancel: &AtomicBool) -> io::Result<bool> {
    let mut file =
        private(OpenOptions::new().write(true).create(true).truncate(true)).open(path)?;
    let zeros = vec![0u8; FILL_STEP];
    let mut left = size;
    while left > 0 {
        if cancel.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let n = usize::try_from(left).map_or(FILL_STEP, |l| l.min(FILL_STEP));
        file.write_all(zeros.get(..n).unwrap_or_default())?;
        file.sync_data()?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(true)
}

/// Takes an applied segment out of the log. When no segment is kept yet and this one is at
/// least `min_len` bytes long, it is kept for [`take_recycled`] (`Ok(true)`): its first header
/// is zeroed and synced, then it is renamed. Otherwise it is deleted (`Ok(false)`). The caller
/// syncs the directory. Call from one thread at a time.
///
/// Writing over a kept segment rather than deleting it and writing a new file keeps the
/// filesystem from freeing and allocating 32 MiB per rotation. On ext4 mounted with `discard`
/// (this machine's disks), freed blocks are discarded at the next journal commit, and inbox
/// syncs queued behind that took 20-24 ms, two or three times after every deletion
/// (docs/decisions/0002-inbox-spare-and-recycled-segments.md).
pub fn retire(dir: &Path, segment: &Path, min_len: u64) -> io::Result<bool> {
    let kept = dir.join(SPARE_RECYCLED);
    // Only this function creates `kept`, so nothing can create it between this check and the
    // rename (`take_recycled` only takes it away).
    if !kept.exists() {
        let file = OpenOptions::new().write(true).open(segment)?;
        if file.metadata()?.len() >= min_len {
            write_all_at(&file, &END_MARK, 0)?;
            file.sync_data()?;
            std::fs::rename(segment, kept)?;
            return Ok(true);
        }
    }
    std::fs::remove_file(segment)?;
    Ok(false)
}

/// The segment kept by [`retire`], renamed into place as the segment whose first record has
/// sequence number `first` (directory entry durable); `None` when none is kept.
pub fn take_recycled(dir: &Path, first: u64) -> io::Result<Option<File>> {
    let path = dir.join(file_name(first));
    if path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists", path.display()),
        ));
    }
    match std::fs::rename(dir.join(SPARE_RECYCLED), &path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let file = OpenOptions::new().read(true).write(true).open(&path)?;
    sync_dir(dir)?;
    Ok(Some(file))
}

/// Whether a segment kept by [`retire`] is there to take.
pub fn has_recycled(dir: &Path) -> bool {
    dir.join(SPARE_RECYCLED).exists()
}

/// Writes all of `buf` at `offset`.
#[cfg(unix)]
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

/// Writes all of `buf` at `offset`.
#[cfg(not(unix))]
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    use std::io::Seek as _;
    let mut f = file;
    f.seek(io::SeekFrom::Start(offset))?;
    f.write_all(buf)
}

/// Removes spare files and unfinished copies of damaged segments ([`set_aside`]) an earlier
/// run left behind.
pub fn remove_spares(dir: &Path) -> io::Result<()> {
    for name in [SPARE_FILLING, SPARE_READY, SPARE_RECYCLED] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let copy = name
            .to_str()
            .and_then(|n| n.strip_suffix(REWRITE_SUFFIX))
            .is_some_and(|n| parse_name(n).is_some());
        if copy {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// What a damaged segment moved aside is renamed to (after its name): `NAME.log.corrupt`.
pub const CORRUPT_SUFFIX: &str = ".corrupt";
/// The clean copy of a damaged segment being written (see [`set_aside`]).
const REWRITE_SUFFIX: &str = ".rewrite";

/// Moves a damaged segment aside and puts a copy of its valid `records` in its place: the
/// records are copied byte for byte to `NAME.log.rewrite` and synced, the damaged file is
/// linked as `NAME.log.corrupt` (`.corrupt.1`, `.corrupt.2`, ... when that name is taken;
/// kept for inspection, never deleted by the server), the copy is renamed over the segment,
/// and the directory is synced. A crash in between leaves either the damaged segment (read
/// again next time) or the copy; a leftover `.rewrite` is removed by [`remove_spares`].
/// Returns where the damaged file is kept.
pub fn set_aside(dir: &Path, path: &Path, file: &File, records: &[Located]) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    let copy = dir.join(format!("{name}{REWRITE_SUFFIX}"));
    {
        let mut out =
            private(OpenOptions::new().write(true).create(true).truncate(true)).open(&copy)?;
        let mut buf = Vec::new();
        for r in records {
            let end = r.body_offset + r.body_len as u64;
            let len = usize::try_from(end.saturating_sub(r.offset))
                .map_err(|_| io::Error::other("an inbox record is larger than memory"))?;
            buf.resize(len, 0);
            if read_full_at(file, &mut buf, r.offset)? < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} became shorter while it was read", path.display()),
                ));
            }
            out.write_all(&buf)?;
        }
        out.sync_all()?;
    }
    let mut n = 0u32;
    let kept = loop {
        let kept = if n == 0 {
            dir.join(format!("{name}{CORRUPT_SUFFIX}"))
        } else {
            dir.join(format!("{name}{CORRUPT_SUFFIX}.{n}"))
        };
        match std::fs::hard_link(path, &kept) {
            Ok(()) => break kept,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    std::fs::rename(&copy, path)?;
    sync_dir(dir)?;
    Ok(kept)
}

/// Files the inbox creates are readable by their owner only (mode 0600), whatever the umask.
pub fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts
}

/// Makes the creation or removal of files in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(records: &[Record<'_>]) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let bodies = records
            .iter()
            .map(|r| r.encode_into(&mut out).expect("encodes"))
            .collect();
        (out, bodies)
    }

    #[test]
    fn known_bytes() {
        let mut out = Vec::new();
        let body_at = Record {
            seq: 1,
            received_ms: 2,
            integration_id: "7",
            body: b"{}",
        }
        .encode_into(&mut out)
        .expect("encodes");
        let payload: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, b'7', b'{', b'}',
        ];
        let mut expected = vec![MAGIC, 0, 0, 0, 21];
        // CRC-32/IEEE of the payload, computed independently with Python's zlib.crc32.
        expected.extend_from_slice(&0xEA24_BC3A_u32.to_be_bytes());
        expected.extend_from_slice(payload);
        assert_eq!(crc32fast::hash(payload), 0xEA24_BC3A);
        assert_eq!(out, expected);
        assert_eq!(body_at, out.len() - 2);
    }

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(file_name(42), "00000000000000000042.log");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("42.log"), None);
        assert_eq!(parse_name("0000000000000000004x.log"), None);
        assert_eq!(parse_name("00000000000000000042.tmp"), None);
    }

    #[test]
    fn a_spare_larger_than_a_fill_step_is_all_zeros_and_exactly_its_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let no = AtomicBool::new(false);
        let size = 2 * FILL_STEP + 100;
        assert!(prepare_spare(dir.path(), size as u64, &no).expect("prepare"));
        let bytes = std::fs::read(dir.path().join(SPARE_READY)).expect("read the spare");
        assert_eq!(bytes.len(), size);
        assert!(bytes.iter().all(|b| *b == 0));
        assert!(!dir.path().join(SPARE_FILLING).exists());
    }

    #[test]
    fn a_spare_is_written_from_its_start_and_its_zeros_end_it_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let no = AtomicBool::new(false);
        assert!(prepare_spare(dir.path(), 4096, &no).expect("prepare"));
        assert_eq!(
            list(dir.path()).expect("list"),
            [],
            "a spare is not a segment"
        );
        let mut file = create(dir.path(), 7, true).expect("create");
        assert!(
            !dir.path().join(SPARE_READY).exists(),
            "the spare was taken"
        );
        let recs = [
            Record {
                seq: 7,
                received_ms: 1,
                integration_id: "1",
                body: b"{\"a\":1}",
            },
            Record {
                seq: 8,
                received_ms: 2,
                integration_id: "2",
                body: b"{}",
            },
        ];
        let (bytes, _) = encode(&recs);
        file.write_all(&bytes).expect("write");
        let path = dir.path().join(file_name(7));
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 4096);
        let (found, end) = scan(&File::open(&path).expect("open"), 7).expect("scan");
        assert_eq!(found.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(end, End::Clean);
        assert_eq!(list(dir.path()).expect("list"), [(7, path)]);
        // No spare ready: creating from one fails (the inbox then creates an empty segment).
        assert_eq!(
            create(dir.path(), 9, true)
                .map(|_| ())
                .map_err(|e| e.kind()),
            Err(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_cancelled_spare_leaves_nothing_and_old_spares_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!prepare_spare(dir.path(), 1 << 22, &AtomicBool::new(true)).expect("prepare"));
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
        std::fs::write(dir.path().join(SPARE_FILLING), b"\0\0").expect("write");
        assert!(prepare_spare(dir.path(), 16, &AtomicBool::new(false)).expect("prepare"));
        remove_spares(dir.path()).expect("remove");
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
        remove_spares(dir.path()).expect("nothing to remove");
    }

    #[test]
    fn oversized_ids_are_refused() {
        let id = "x".repeat(70_000);
        let r = Record {
            seq: 1,
            received_ms: 0,
            integration_id: &id,
            body: b"",
        };
        assert_eq!(
            r.encode_into(&mut Vec::new()),
            Err(EncodeError::IdTooLong(70_000))
        );
    }

    #[test]
    fn a_flipped_bit_ends_the_scan_at_that_record() {
        let recs = [
            Record {
                seq: 1,
                received_ms: 5,
                integration_id: "1",
                body: b"first",
            },
            Record {
                seq: 2,
                received_ms: 6,
                integration_id: "1",
                body: b"second",
            },
        ];
        let (mut bytes, _) = encode(&recs);
        let second_at = HEADER_LEN + FIXED_LEN + 1 + 5;
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        let (found, end) = scan(bytes.as_slice(), 0).expect("reads");
        assert_eq!(found.len(), 1);
        assert_eq!(
            end,
            End::Invalid {
                offset: second_at as u64
            }
        );
    }

    fn five() -> (Vec<u8>, Vec<Located>) {
        let bodies: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'a' + i; 40]).collect();
        let recs: Vec<Record<'_>> = bodies
            .iter()
            .zip(10u64..)
            .map(|(body, seq)| Record {
                seq,
                received_ms: 0,
                integration_id: "1",
                body,
            })
            .collect();
        let (bytes, _) = encode(&recs);
        let (found, end) = scan(bytes.as_slice(), 10).expect("reads");
        assert_eq!(end, End::Clean);
        (bytes, found)
    }

    /// A source that remembers the largest read asked of it.
    struct Counting<'a>(&'a [u8], std::cell::Cell<usize>);

    impl Source for Counting<'_> {
        fn size(&self) -> io::Result<u64> {
            self.0.size()
        }

        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.1.set(self.1.get().max(buf.len()));
            self.0.read_at(buf, offset)
        }
    }

    #[test]
    fn after_a_damaged_record_reading_resumes_at_the_next_valid_one() {
        let (clean, found) = five();
        for (name, at, patch) in [
            ("a body bit", found[2].body_offset + 3, None),
            ("the first header", 0, Some(vec![0x42; HEADER_LEN])),
            (
                "a zeroed header",
                found[2].offset,
                Some(vec![0; HEADER_LEN]),
            ),
            (
                "a length",
                found[2].offset + 1,
                Some(vec![0xFF, 0xFF, 0xFF, 0xF0]),
            ),
            (
                "a short length",
                found[2].offset + 1,
                Some(vec![0, 0, 0, 30]),
            ),
        ] {
            let mut bytes = clean.clone();
            let at = usize::try_from(at).expect("small");
            match patch {
                None => bytes[at] ^= 0x01,
                Some(p) => bytes[at..at + p.len()].copy_from_slice(&p),
            }
            let lost = usize::from(at >= usize::try_from(found[2].offset).expect("small")) * 2;
            let source = Counting(&bytes, std::cell::Cell::new(0));
            let scanned = read_segment(&source, 10).expect("reads");
            let mut expected = found.clone();
            expected.remove(lost);
            assert_eq!(scanned.records, expected, "{name}");
            assert_eq!(scanned.end, End::Clean, "{name}");
            assert_eq!(
                scanned.damaged,
                [Damage {
                    from: found[lost].offset,
                    to: found[lost + 1].offset
                }],
                "{name}"
            );
            assert!(scanned.is_damaged());
            assert_eq!(scanned.skipped(), 1, "{name}");
            assert!(
                source.1.get() <= bytes.len(),
                "{name}: a read of {} bytes from a segment of {}",
                source.1.get(),
                bytes.len()
            );
        }
    }

    #[test]
    fn a_length_is_never_trusted_beyond_the_segment() {
        let (mut bytes, found) = five();
        // A payload longer than the window is read at once: still bounded by the file.
        bytes.resize(bytes.len() + 2 * WINDOW, 0x33);
        let at = usize::try_from(found[4].offset + 1).expect("small");
        let len = u32::try_from(bytes.len()).expect("small");
        bytes[at..at + 4].copy_from_slice(&len.to_be_bytes());
        let source = Counting(&bytes, std::cell::Cell::new(0));
        let scanned = read_segment(&source, 10).expect("reads");
        assert_eq!(scanned.records, found[..4]);
        assert_eq!(
            scanned.end,
            End::Invalid {
                offset: found[4].offset
            }
        );
        assert!(!scanned.is_damaged(), "a torn tail is not damage");
        assert!(source.1.get() <= bytes.len());
        let too_long = u32::try_from(bytes.len() - at - 4 - HEADER_LEN + 5).expect("small");
        bytes[at..at + 4].copy_from_slice(&too_long.to_be_bytes());
        let source = Counting(&bytes, std::cell::Cell::new(0));
        assert_eq!(
            read_segment(&source, 10).expect("reads").records,
            found[..4]
        );
        let largest = source.1.get();
        assert!(largest > WINDOW && largest <= bytes.len(), "{largest}");
    }

    #[test]
    fn records_below_the_segment_start_are_old_bytes_not_records() {
        let (bytes, found) = five();
        let (old, _) = scan(bytes.as_slice(), 11).expect("reads");
        assert_eq!(old, found[1..]);
        let mut zeroed = bytes.clone();
        zeroed[..HEADER_LEN].fill(0);
        let scanned = read_segment(zeroed.as_slice(), 100).expect("reads");
        assert_eq!(scanned.records, []);
        assert_eq!(scanned.end, End::Clean, "an applied segment written over");
        assert!(!scanned.is_damaged());
    }

    #[test]
    fn a_damaged_segment_is_set_aside_with_a_clean_copy_in_its_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut bytes, found) = five();
        bytes[usize::try_from(found[1].body_offset).expect("small")] ^= 0x80;
        let path = dir.path().join(file_name(10));
        std::fs::write(&path, &bytes).expect("write");
        let file = File::open(&path).expect("open");
        let scanned = read_segment(&file, 10).expect("reads");
        assert_eq!(scanned.records.len(), 4);
        let kept = set_aside(dir.path(), &path, &file, &scanned.records).expect("set aside");
        assert_eq!(kept, dir.path().join(format!("{}.corrupt", file_name(10))));
        assert_eq!(std::fs::read(&kept).expect("kept"), bytes);
        let copy = read_segment(&File::open(&path).expect("open"), 10).expect("reads");
        assert!(!copy.is_damaged());
        assert_eq!(
            copy.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [10, 12, 13, 14]
        );
        // A second damaged copy does not replace the first one kept.
        let again = set_aside(dir.path(), &path, &file, &scanned.records).expect("again");
        assert_eq!(
            again,
            dir.path().join(format!("{}.corrupt.1", file_name(10)))
        );
        // An unfinished copy is removed on start; kept files and segments are not.
        std::fs::write(dir.path().join(format!("{}.rewrite", file_name(10))), b"x").expect("write");
        remove_spares(dir.path()).expect("remove");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                file_name(10),
                format!("{}.corrupt", file_name(10)),
                format!("{}.corrupt.1", file_name(10))
            ]
        );
    }

    #[test]
    fn a_record_not_above_the_one_before_ends_the_scan() {
        for seqs in [[5, 6, 6], [5, 6, 4]] {
            let recs: Vec<Record<'_>> = seqs
                .iter()
                .map(|seq| Record {
                    seq: *seq,
                    received_ms: 0,
                    integration_id: "1",
                    body: b"{}",
                })
                .collect();
            let (bytes, bodies) = encode(&recs);
            let (found, end) = scan(bytes.as_slice(), 0).expect("reads");
            assert_eq!(found.iter().map(|r| r.seq).collect::<Vec<_>>(), [5, 6]);
            let third_at = bodies[1] + 2;
            assert_eq!(
                end,
                End::Invalid {
                    offset: third_at as u64
                }
            );
        }
    }

    #[test]
    fn one_long_enough_applied_segment_is_kept_with_its_head_zeroed_the_rest_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (bytes, _) = encode(&[Record {
            seq: 3,
            received_ms: 0,
            integration_id: "1",
            body: &[7; 100],
        }]);
        let short = dir.path().join(file_name(1));
        let long = dir.path().join(file_name(3));
        let later = dir.path().join(file_name(4));
        std::fs::write(&short, &bytes[..50]).expect("write");
        std::fs::write(&long, &bytes).expect("write");
        std::fs::write(&later, &bytes).expect("write");
        let min = bytes.len() as u64;
        assert!(
            !retire(dir.path(), &short, min).expect("retire"),
            "too short"
        );
        assert!(!has_recycled(dir.path()));
        assert!(retire(dir.path(), &long, min).expect("retire"), "kept");
        assert!(
            !retire(dir.path(), &later, min).expect("retire"),
            "one is kept"
        );
        assert_eq!(list(dir.path()).expect("list"), []);
        assert!(has_recycled(dir.path()));

        let file = take_recycled(dir.path(), 9).expect("take").expect("kept");
        let path = dir.path().join(file_name(9));
        let kept = std::fs::read(&path).expect("read");
        assert_eq!(kept.len(), bytes.len(), "the file keeps its length");
        assert_eq!(kept[..HEADER_LEN], END_MARK, "its first header is zeroed");
        assert_eq!(kept[HEADER_LEN..], bytes[HEADER_LEN..], "the rest is left");
        assert_eq!(
            scan(&File::open(&path).expect("open"), 9).expect("reads"),
            (vec![], End::Clean),
            "the old record is not read"
        );
        write_all_at(&file, &END_MARK, 0).expect("opened for writing");
        assert!(take_recycled(dir.path(), 10).expect("take").is_none());
        retire(dir.path(), &path, min).expect("retire");
        remove_spares(dir.path()).expect("remove");
        assert_eq!(std::fs::read_dir(dir.path()).expect("read").count(), 0);
    }

    /// Records with sequence numbers from `start`, strictly increasing by the given steps.
    fn numbered(start: u64, items: &[(u64, i64, String, Vec<u8>)]) -> Vec<Record<'_>> {
        let mut seq = start;
        items
            .iter()
            .map(|(step, ms, id, body)| {
                seq += step;
                Record {
                    seq,
                    received_ms: *ms,
                    integration_id: id,
                    body,
                }
            })
            .collect()
    }

    fn items() -> impl Strategy<Value = Vec<(u64, i64, String, Vec<u8>)>> {
        proptest::collection::vec(
            (
                1..1_000u64,
                any::<i64>(),
                "[0-9a-z]{0,12}",
                proptest::collection::vec(any::<u8>(), 0..300),
            ),
            0..12,
        )
    }

    proptest! {
        /// A segment kept after it was applied and written over in batches, the way the inbox
        /// does (first header zeroed, then each batch and its end mark at the end of the one
        /// before), reads back exactly the new records; when the last batch is cut short at
        /// any byte (a torn write, with the old bytes after the cut), exactly the new records
        /// complete before the cut. An old record is never read.
        #[test]
        fn a_segment_written_over_reads_back_only_its_new_records(
            old in items(),
            new in items(),
            split in any::<prop::sample::Index>(),
            cut in any::<prop::sample::Index>(),
        ) {
            // Old records first, then the file's earlier tail: bytes that look like records.
            let old_recs = numbered(0, &old);
            let (mut file, _) = encode(&old_recs);
            let (more, _) = encode(&old_recs);
            file.extend_from_slice(&more);
            let head = HEADER_LEN.min(file.len());
            file[..head].fill(0);
            let first = old_recs.last().map_or(0, |r| r.seq) + 1;
            let new_recs = numbered(first, &new);
            let split = split.index(new_recs.len() + 1);
            let mut at = 0;
            let mut complete = Vec::new();
            for (i, batch) in [&new_recs[..split], &new_recs[split..]].into_iter().enumerate() {
                let (mut bytes, bodies) = encode(batch);
                bytes.extend_from_slice(&END_MARK);
                let last = i == 1;
                let written = if last { cut.index(bytes.len() + 1) } else { bytes.len() };
                if file.len() < at + written {
                    file.resize(at + written, 0);
                }
                file[at..at + written].copy_from_slice(&bytes[..written]);
                for (r, body_at) in batch.iter().zip(&bodies) {
                    if body_at + r.body.len() <= written {
                        complete.push(r.seq);
                    }
                }
                at += bytes.len() - END_MARK.len();
            }
            let (found, _) = scan(file.as_slice(), first).expect("reads");
            let seqs: Vec<u64> = found.iter().map(|r| r.seq).collect();
            prop_assert_eq!(seqs, complete);
        }

        /// Whatever was appended is read back in order with each body at its offset, and a
        /// segment cut at any byte (a torn write) yields exactly the records that were
        /// complete before the cut, never a partial or invented one.
        #[test]
        fn scan_reads_back_complete_records_only(
            items in items(),
            start in any::<u32>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let recs = numbered(u64::from(start), &items);
            let (bytes, body_offsets) = encode(&recs);
            let (found, end) = scan(bytes.as_slice(), 0).expect("reads");
            prop_assert_eq!(end, End::Clean);
            prop_assert_eq!(found.len(), recs.len());
            for ((f, r), at) in found.iter().zip(&recs).zip(&body_offsets) {
                prop_assert_eq!(f.seq, r.seq);
                prop_assert_eq!(f.received_ms, r.received_ms);
                prop_assert_eq!(f.integration_id.as_str(), r.integration_id);
                prop_assert_eq!(f.body_offset, *at as u64);
                let start = usize::try_from(f.body_offset).expect("fits");
                prop_assert_eq!(&bytes[start..start + f.body_len], r.body);
            }
            let cut = cut.index(bytes.len() + 1);
            let (partial, end) = scan(&bytes[..cut], 0).expect("reads");
            let complete = body_offsets
                .iter()
                .zip(&recs)
                .take_while(|(at, r)| **at + r.body.len() <= cut)
                .count();
            prop_assert_eq!(partial.len(), complete);
            prop_assert_eq!(&partial[..], &found[..complete]);
            let at_boundary = cut == 0
                || body_offsets.iter().zip(&recs).any(|(at, r)| at + r.body.len() == cut);
            prop_assert_eq!(end == End::Clean, at_boundary);
        }
    }
}
