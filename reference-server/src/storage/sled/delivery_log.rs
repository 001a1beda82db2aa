//! The delivery log: what became of each stored delivery, in the `deliveries` tree.
//!
//! The worker writes the log once per batch and integration: one *chunk* holds the entries of
//! the deliveries of one integration applied in that batch, in sequence order, under the key
//! `integration\0` + the first entry's sequence number (u64, big endian). The value is a JSON
//! array of `[seq, record]` pairs. A single JSON object is one entry whose sequence number is
//! the key's: what versions before chunks wrote, and still read. A chunk written under the key
//! of an existing one replaces it: a delivery that waited for a retry is logged `pending` under
//! its own number, and is the first of its integration when it is applied, so its final chunk
//! replaces that entry.
//!
//! Why chunks: one sled insert per delivery was the largest part of the worker's writes, which
//! lengthen the inbox's syncs (docs/decisions/0005-delivery-log-chunks.md). With about 12
//! deliveries per
//! batch under load, a chunk is one insert instead of 12.
//!
//! Finding an entry takes the chunk with the greatest key at or below the entry's: a chunk
//! holds a run of one integration's oldest pending deliveries, so chunks of an integration
//! never overlap.

use serde::de::IgnoredAny;

use super::store::{Store, StoreError, prefix};
use crate::storage::records::{DeliveryRecord, DeliveryState};

/// A chunk's entries, in sequence order.
type Entries = Vec<(u64, DeliveryRecord)>;

/// Key of the delivery log chunk (or entry) starting at `seq`.
pub fn delivery_key(integration: &str, seq: u64) -> Vec<u8> {
    let mut k = prefix(&[integration]);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number at the end of a key.
fn key_seq(k: &[u8]) -> Option<u64> {
    let at = k.len().checked_sub(8)?;
    Some(u64::from_be_bytes(k.get(at..)?.try_into().ok()?))
}

/// The entries of a chunk, in sequence order.
fn decode(key: &[u8], v: &[u8]) -> Result<Entries, StoreError> {
    if v.first() == Some(&b'[') {
        return Ok(serde_json::from_slice(v)?);
    }
    // Keys of the tree always end in the number; 0 only if one was damaged.
    Ok(vec![(
        key_seq(key).unwrap_or(0),
        serde_json::from_slice(v)?,
    )])
}

/// How many entries a chunk holds, without decoding them.
fn count(v: &[u8]) -> Result<u64, StoreError> {
    if v.first() == Some(&b'[') {
        let entries: Vec<IgnoredAny> = serde_json::from_slice(v)?;
        Ok(entries.len() as u64)
    } else {
        Ok(1)
    }
}

impl Store {
    /// Writes (or overwrites) one delivery log entry.
    pub fn put_delivery(
        &self,
        integration: &str,
        seq: u64,
        rec: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        self.put_deliveries(integration, &[(seq, rec)])
    }

    /// Writes the entries of one integration, in increasing sequence order, as one chunk keyed
    /// by the first; a chunk with the same first number is replaced. Nothing is written for
    /// none.
    pub fn put_deliveries(
        &self,
        integration: &str,
        entries: &[(u64, &DeliveryRecord)],
    ) -> Result<(), StoreError> {
        let Some((first, _)) = entries.first() else {
            return Ok(());
        };
        let previous = self.deliveries.insert(
            delivery_key(integration, *first),
            serde_json::to_vec(entries)?,
        )?;
        let replaced = previous.map(|v| count(&v)).transpose()?.unwrap_or(0);
        if let Some(n) = self.delivery_counts().get_mut(integration) {
            *n = (*n + entries.len() as u64).saturating_sub(replaced);
        }
        Ok(())
    }

    /// Keeps the newest `keep` delivery log entries of an integration (by sequence number), or
    /// a few more: removes its oldest chunks while what stays is at least `keep` entries, until
    /// at least `limit` entries were removed; returns how many were.
    ///
    /// The integration's entries are counted with one scan the first time, then the count
    /// follows [`Store::put_deliveries`] and the removals, so a call costs one removal per chunk
    /// written since the previous one. The log is written by the worker only, which also prunes
    /// it; call from one thread.
    pub fn prune_deliveries(
        &self,
        integration: &str,
        keep: u64,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let p = prefix(&[integration]);
        let counted = self.delivery_counts().get(integration).copied();
        let mut total = if let Some(n) = counted {
            n
        } else {
            let mut n = 0u64;
            for kv in self.deliveries.scan_prefix(&p) {
                n += count(&kv?.1)?;
            }
            self.delivery_counts().insert(integration.to_owned(), n);
            n
        };
        let mut removed = 0usize;
        for kv in self.deliveries.scan_prefix(&p) {
            if removed >= limit {
                break;
            }
            let (k, v) = kv?;
            let n = count(&v)?;
            if total.saturating_sub(n) < keep {
                break;
            }
            if self.deliveries.remove(k)?.is_some() {
                removed += usize::try_from(n).unwrap_or(usize::MAX);
                total -= n;
            }
        }
        if let Some(n) = self.delivery_counts().get_mut(integration) {
            *n = total;
        }
        Ok(removed)
    }

    /// Whether the delivery log has a final record (applied, ignored or failed) for a delivery.
    pub fn delivery_is_final(&self, integration: &str, seq: u64) -> Result<bool, StoreError> {
        DeliveryLookup::new(self).is_final(integration, seq)
    }

    /// The newest `limit` deliveries of an integration, newest first.
    pub fn deliveries(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(self
            .deliveries_with_seq(integration, limit)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Like [`Store::deliveries`], with each entry's sequence number.
    pub fn deliveries_with_seq(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<(u64, DeliveryRecord)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.deliveries.scan_prefix(prefix(&[integration])).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let room = limit - out.len();
            out.extend(decode(&k, &v)?.into_iter().rev().take(room));
        }
        Ok(out)
    }
}

/// Looks up delivery log entries one after another, decoding each chunk once while the
/// lookups stay inside it (replaying the inbox on start asks in sequence order).
#[derive(Debug)]
pub struct DeliveryLookup<'a> {
    store: &'a Store,
    /// The last chunk read: its key and entries.
    chunk: Option<(Vec<u8>, Entries)>,
}

impl<'a> DeliveryLookup<'a> {
    /// A lookup over `store`.
    pub fn new(store: &'a Store) -> Self {
        Self { store, chunk: None }
    }

    /// Whether the log has a final record (applied, ignored or failed) for a delivery.
    pub fn is_final(&mut self, integration: &str, seq: u64) -> Result<bool, StoreError> {
        let key = delivery_key(integration, seq);
        let p = prefix(&[integration]);
        let cached = self.chunk.as_ref().is_some_and(|(k, entries)| {
            k.starts_with(&p)
                && k.len() == key.len()
                && k.as_slice() <= key.as_slice()
                && entries.last().is_some_and(|(last, _)| *last >= seq)
        });
        if !cached {
            self.chunk = match self
                .store
                .deliveries
                .range(p.as_slice()..=key.as_slice())
                .next_back()
            {
                Some(kv) => {
                    let (k, v) = kv?;
                    let entries = decode(&k, &v)?;
                    Some((k.to_vec(), entries))
                }
                None => None,
            };
        }
        Ok(self.chunk.as_ref().is_some_and(|(_, entries)| {
            entries
                .binary_search_by_key(&seq, |(s, _)| *s)
                .ok()
                .and_then(|i| entries.get(i))
                .is_some_and(|(_, rec)| !matches!(rec.state, DeliveryState::Pending))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: DeliveryState, at: &str) -> DeliveryRecord {
        DeliveryRecord {
            received_at: at.into(),
            event: None,
            issue_key: None,
            state,
            reason: None,
            outcomes: Vec::new(),
        }
    }

    #[test]
    fn pruning_keeps_the_newest_entries_of_one_integration() {
        let s = Store::temporary().expect("open");
        let rec = rec(DeliveryState::Applied, "2026-11-27T00:00:00.000Z");
        // Integration ids that prefix each other, sequence numbers with zero bytes and a jump
        // (a restart starts a new range of numbers).
        let big = 1u64 << 20;
        for seq in [1, 5, 256, big + 1] {
            s.put_delivery("7", seq, &rec).expect("put");
        }
        for seq in [2, 6, 512] {
            s.put_delivery("70", seq, &rec).expect("put");
        }
        let seqs = |i: &str| -> Vec<u64> {
            s.deliveries_with_seq(i, 100)
                .expect("list")
                .into_iter()
                .map(|(seq, _)| seq)
                .collect()
        };
        // First call counts the existing entries; a budget of 1 stops early.
        assert_eq!(s.prune_deliveries("7", 2, 1).expect("prune"), 1);
        assert_eq!(seqs("7"), [big + 1, 256, 5]);
        assert_eq!(s.prune_deliveries("7", 2, 100).expect("prune"), 1);
        assert_eq!(seqs("7"), [big + 1, 256]);
        assert_eq!(seqs("70"), [512, 6, 2], "another integration is untouched");
        // Overwriting an entry (pending, then final) does not count twice; new ones do.
        s.put_delivery("7", big + 1, &rec).expect("overwrite");
        assert_eq!(s.prune_deliveries("7", 2, 100).expect("prune"), 0);
        s.put_delivery("7", big + 2, &rec).expect("put");
        s.put_delivery("7", big + 3, &rec).expect("put");
        assert_eq!(s.prune_deliveries("7", 2, 100).expect("prune"), 2);
        assert_eq!(seqs("7"), [big + 3, big + 2]);
        assert_eq!(s.prune_deliveries("70", 0, 100).expect("prune"), 3);
        assert!(seqs("70").is_empty());
        assert_eq!(s.prune_deliveries("none", 1, 100).expect("prune"), 0);
    }

    #[test]
    fn deliveries_newest_first() {
        let s = Store::temporary().expect("open");
        for seq in [1u64, 2, 300] {
            s.put_delivery("7", seq, &rec(DeliveryState::Pending, &seq.to_string()))
                .expect("put");
        }
        let got: Vec<String> = s
            .deliveries("7", 2)
            .expect("q")
            .into_iter()
            .map(|d| d.received_at)
            .collect();
        assert_eq!(got, vec!["300", "2"]);
        assert!(s.deliveries("70", 10).expect("q").is_empty());
    }

    #[test]
    fn chunks_are_listed_looked_up_replaced_and_pruned_whole() {
        let s = Store::temporary().expect("open");
        let applied = rec(DeliveryState::Applied, "a");
        let pending = rec(DeliveryState::Pending, "p");
        // An entry in the format of versions before chunks: one JSON object under its key.
        s.deliveries
            .insert(
                delivery_key("7", 3),
                serde_json::to_vec(&applied).expect("json"),
            )
            .expect("insert");
        s.put_deliveries("7", &[(10, &applied), (12, &applied), (15, &applied)])
            .expect("chunk");
        // 20 waits for a retry; 21 and 22 wait behind it.
        s.put_delivery("7", 20, &pending).expect("pending");
        s.put_deliveries("70", &[(11, &applied)]).expect("other");
        let listed: Vec<u64> = s
            .deliveries_with_seq("7", 100)
            .expect("list")
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(listed, [20, 15, 12, 10, 3]);
        let two: Vec<u64> = s
            .deliveries_with_seq("7", 2)
            .expect("list")
            .iter()
            .map(|(seq, _)| *seq)
            .collect();
        assert_eq!(two, [20, 15], "a limit inside a chunk");

        let mut lookup = DeliveryLookup::new(&s);
        let finals: Vec<(u64, bool)> = [1, 3, 10, 11, 12, 13, 15, 16, 20, 21]
            .into_iter()
            .map(|seq| (seq, lookup.is_final("7", seq).expect("lookup")))
            .collect();
        assert_eq!(
            finals,
            [
                (1, false),
                (3, true),
                (10, true),
                (11, false),
                (12, true),
                (13, false),
                (15, true),
                (16, false),
                (20, false),
                (21, false)
            ]
        );
        assert!(s.delivery_is_final("70", 11).expect("lookup"));
        assert!(!s.delivery_is_final("7", 0).expect("lookup"));

        // Applied with the two behind it: the chunk replaces the pending entry.
        s.put_deliveries("7", &[(20, &applied), (21, &applied), (22, &applied)])
            .expect("chunk");
        assert!(s.delivery_is_final("7", 20).expect("lookup"));
        assert!(s.delivery_is_final("7", 22).expect("lookup"));
        assert_eq!(s.deliveries_with_seq("7", 100).expect("list").len(), 7);

        // Keeping 4 of 7 removes the old entry but not the chunk after it, which would leave 3;
        // chunks are removed whole.
        assert_eq!(s.prune_deliveries("7", 4, 100).expect("prune"), 1);
        assert_eq!(s.deliveries_with_seq("7", 100).expect("list").len(), 6);
        assert_eq!(s.prune_deliveries("7", 3, 100).expect("prune"), 3);
        let left: Vec<u64> = s
            .deliveries_with_seq("7", 100)
            .expect("list")
            .into_iter()
            .map(|(seq, _)| seq)
            .collect();
        assert_eq!(left, [22, 21, 20]);
        assert_eq!(
            s.prune_deliveries("7", 0, 1).expect("prune"),
            3,
            "whole chunks"
        );
    }
}
