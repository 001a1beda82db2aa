//! Deliveries stored by earlier versions in the sled tree `inbox` are moved into the log.
//!
//! Old entry format (value; the key is the big-endian sequence number): version `1`, integration
//! id length u16 BE, integration id, receive time i64 BE, body.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use super::segment::{self, Record};
use super::{InboxError, Index, Meta, Segment, io_error};
use crate::store::{Store, StoreError};

const FORMAT_V1: u8 = 1;

/// One decoded old entry.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OldEntry {
    pub seq: u64,
    pub integration_id: String,
    pub received_ms: i64,
    pub body: Vec<u8>,
}

/// Encodes an old entry (tests of the migration write the old format).
#[cfg(test)]
pub(super) fn encode(integration_id: &str, received_ms: i64, body: &[u8]) -> Vec<u8> {
    let id = integration_id.as_bytes();
    let id_len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let id = id.get(..usize::from(id_len)).unwrap_or(id);
    let mut out = Vec::with_capacity(1 + 2 + id.len() + 8 + body.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&id_len.to_be_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&received_ms.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes an old entry; `None` when the bytes are not a v1 entry.
pub(super) fn decode(key: &[u8], v: &[u8]) -> Option<OldEntry> {
    let seq = u64::from_be_bytes(key.try_into().ok()?);
    let (&version, rest) = v.split_first()?;
    if version != FORMAT_V1 {
        return None;
    }
    let (len, rest) = rest.split_at_checked(2)?;
    let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
    let (id, rest) = rest.split_at_checked(len)?;
    let (ms, body) = rest.split_at_checked(8)?;
    Some(OldEntry {
        seq,
        integration_id: String::from_utf8(id.to_vec()).ok()?,
        received_ms: i64::from_be_bytes(ms.try_into().ok()?),
        body: body.to_vec(),
    })
}

/// Moves the old tree's entries into a new segment (written and synced first, then removed
/// from sled and sled flushed: a crash in between only repeats the move, and the index keeps
/// one copy per sequence number). Returns how many were moved.
pub(super) fn migrate(
    dir: &Path,
    store: &Store,
    index: &mut Index,
    seqs: &mut super::seq::SeqGen,
) -> Result<usize, InboxError> {
    let mut old = Vec::new();
    for kv in &store.legacy_inbox {
        let (k, v) = kv.map_err(StoreError::from)?;
        if let Some(e) = decode(&k, &v) {
            old.push(e);
        } else {
            tracing::error!(
                key = ?k,
                "an entry of the old sled inbox cannot be decoded; it is left in place"
            );
        }
    }
    if old.is_empty() {
        return Ok(0);
    }
    // The segment is named after a fresh number (the entries keep their own).
    let first = seqs
        .next()
        .map_err(io_error("reserving a sequence number in", dir))?;
    let path = dir.join(segment::file_name(first));
    let mut buf = Vec::new();
    let mut metas = Vec::with_capacity(old.len());
    for e in &old {
        let at = Record {
            seq: e.seq,
            received_ms: e.received_ms,
            integration_id: &e.integration_id,
            body: &e.body,
        }
        .encode_into(&mut buf)?;
        metas.push((
            e.seq,
            Meta {
                integration_id: e.integration_id.as_str().into(),
                received_ms: e.received_ms,
                segment: first,
                body_offset: at as u64,
                body_len: e.body.len(),
            },
        ));
    }
    let file =
        segment::create(dir, first, false).map_err(io_error("creating inbox segment", &path))?;
    (&file)
        .write_all(&buf)
        .and_then(|()| file.sync_data())
        .map_err(io_error("writing inbox segment", &path))?;
    index.segments.insert(
        first,
        Segment {
            file: Arc::new(file),
            path,
            open: 0,
            in_flight: 0,
            sealed: true,
        },
    );
    for (seq, meta) in metas {
        index.add(seq, meta);
    }
    if let Some(done) = index.take_if_done(first) {
        // Every entry was already moved by an earlier, interrupted start.
        std::fs::remove_file(&done).map_err(io_error("deleting inbox segment", &done))?;
    }
    for e in &old {
        store
            .legacy_inbox
            .remove(e.seq.to_be_bytes())
            .map_err(StoreError::from)?;
    }
    store.flush_blocking()?;
    Ok(old.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_entries_decode() {
        let bytes = encode("12", -5, b"{\"a\":1}");
        let e = decode(&9u64.to_be_bytes(), &bytes).expect("decodes");
        assert_eq!(
            e,
            OldEntry {
                seq: 9,
                integration_id: "12".into(),
                received_ms: -5,
                body: b"{\"a\":1}".to_vec()
            }
        );
        let key = 1u64.to_be_bytes();
        assert_eq!(decode(&key, &[]), None);
        assert_eq!(decode(&key, &[2, 0, 0]), None);
        assert_eq!(decode(&key, &[1, 0, 5, b'a']), None);
        assert_eq!(decode(b"short", &bytes), None);
    }
}
