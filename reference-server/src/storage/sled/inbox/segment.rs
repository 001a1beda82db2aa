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
//! bytes after it, which the next batch overwrites. Reading stops cleanly at zeros where a
//! header would start, and stops at the first record that is cut short, fails its checksum,
//! or whose sequence number is not above the one before it: after a crash that is the batch
//! whose write was not acknowledged.
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
use std::io::{self, BufReader, Read, Write as _};
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

/// A record found in a segment, with where its body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Sequence number.
    pub seq: u64,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// Integration id.
    pub integration_id: String,
    /// Offset of the body in the segment file.
    pub body_offset: u64,
    /// Length of the body.
    pub body_len: usize,
}

/// How reading a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every byte belonged to a valid record, or the rest is zeros (the unwritten part of a
    /// spare).
    Clean,
    /// The bytes from this offset on are not a valid record (a torn write or damage); nothing
    /// after it is read.
    Invalid {
        /// Offset of the first byte not read.
        offset: u64,
    },
}

/// Decodes one payload (after its checksum was verified).
fn decode_payload(payload: &[u8]) -> Option<(u64, i64, &str, usize)> {
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

/// Reads every valid record of a segment, in order, without keeping bodies in memory.
pub fn scan(reader: impl Read) -> io::Result<(Vec<Located>, End)> {
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let mut out: Vec<Located> = Vec::new();
    let mut offset = 0u64;
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; HEADER_LEN];
        match read_full(&mut reader, &mut header)? {
            0 => return Ok((out, End::Clean)),
            n if n < HEADER_LEN => return Ok((out, End::Invalid { offset })),
            _ => {}
        }
        if header == [0; HEADER_LEN] {
            // The unwritten rest of a spare.
            return Ok((out, End::Clean));
        }
        let [magic, l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        if magic != MAGIC || len < FIXED_LEN {
            return Ok((out, End::Invalid { offset }));
        }
        payload.resize(len, 0);
        if read_full(&mut reader, &mut payload)? < len
            || crc32fast::hash(&payload) != u32::from_be_bytes([c0, c1, c2, c3])
        {
            return Ok((out, End::Invalid { offset }));
        }
        let Some((seq, received_ms, id, body_start)) = decode_payload(&payload) else {
            return Ok((out, End::Invalid { offset }));
        };
        if out.last().is_some_and(|prev| seq <= prev.seq) {
            // Not written after the record before it: left from the file's earlier use.
            return Ok((out, End::Invalid { offset }));
        }
        let payload_offset = offset + HEADER_LEN as u64;
        out.push(Located {
            seq,
            received_ms,
            integration_id: id.to_owned(),
            body_offset: payload_offset + body_start as u64,
            body_len: len - body_start,
        });
        offset = payload_offset + len as u64;
    }
}

/// Like `read_exact`, but returns how many bytes were read before the end of the input.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
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
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?
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
    Ok(true)
}

/// Writes `size` zero bytes to a new file at `path`, syncing after every [`FILL_STEP`] bytes
/// and at the end; `false` when cancelled.
fn fill_zeros(path: &Path, size: u64, cancel: &AtomicBool) -> io::Result<bool> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
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

/// Removes spare files an earlier run left behind.
pub fn remove_spares(dir: &Path) -> io::Result<()> {
    for name in [SPARE_FILLING, SPARE_READY, SPARE_RECYCLED] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
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
        let (found, end) = scan(File::open(&path).expect("open")).expect("scan");
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
        let (found, end) = scan(bytes.as_slice()).expect("reads");
        assert_eq!(found.len(), 1);
        assert_eq!(
            end,
            End::Invalid {
                offset: second_at as u64
            }
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
            let (found, end) = scan(bytes.as_slice()).expect("reads");
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
            scan(File::open(&path).expect("open")).expect("reads"),
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
            let (found, _) = scan(file.as_slice()).expect("reads");
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
            let (found, end) = scan(bytes.as_slice()).expect("reads");
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
            let (partial, end) = scan(&bytes[..cut]).expect("reads");
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
