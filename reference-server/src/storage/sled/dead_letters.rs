//! Retry state and dead letters on sled.
//!
//! `retries`: seq (8 bytes, big-endian) -> JSON [`RetryRecord`], written when a delivery must
//! wait for a retry and removed when it leaves the inbox. The backend keeps the next attempt
//! time of each in memory ([`RetryWaits`], loaded on open), so that a claim leaves out the
//! deliveries not due yet without a read.
//!
//! `dead_letters`: integration\0seq (big-endian) -> a JSON header (the record without its body),
//! a `\0`, then the body as stored in the inbox (bodies stay binary, not a JSON array).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::store::{Store, StoreError, prefix};
use crate::storage::records::{DeadLetterRecord, RetryRecord};

/// Next attempt times of deliveries waiting for a retry (seq -> unix ms).
#[derive(Debug, Default)]
pub(crate) struct RetryWaits(Mutex<HashMap<u64, i64>>);

impl RetryWaits {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, i64>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `seq` waits for a retry that is not due at `now_ms`.
    pub(crate) fn waiting(&self, seq: u64, now_ms: i64) -> bool {
        self.map().get(&seq).is_some_and(|t| *t > now_ms)
    }

    /// The earliest retry time after `now_ms`, if any.
    pub(crate) fn next_after(&self, now_ms: i64) -> Option<i64> {
        self.map().values().copied().filter(|t| *t > now_ms).min()
    }

    /// Whether `seq` has a retry state.
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.map().contains_key(&seq)
    }

    pub(crate) fn set(&self, seq: u64, at_ms: i64) {
        self.map().insert(seq, at_ms);
    }

    pub(crate) fn remove(&self, seq: u64) {
        self.map().remove(&seq);
    }
}

/// The stored header of a dead letter (all but the body).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    received_ms: i64,
    event: Option<String>,
    issue_key: Option<String>,
    attempts: u32,
    first_failure_ms: i64,
    dead_ms: i64,
    last_error: String,
}

fn dead_key(integration: &str, seq: u64) -> Vec<u8> {
    let mut k = prefix(&[integration]);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn encode(rec: &DeadLetterRecord) -> Result<Vec<u8>, StoreError> {
    let header = Header {
        received_ms: rec.received_ms,
        event: rec.event.clone(),
        issue_key: rec.issue_key.clone(),
        attempts: rec.attempts,
        first_failure_ms: rec.first_failure_ms,
        dead_ms: rec.dead_ms,
        last_error: rec.last_error.clone(),
    };
    let mut out = serde_json::to_vec(&header)?;
    out.push(0);
    out.extend_from_slice(&rec.body);
    Ok(out)
}

fn decode(integration: &str, key: &[u8], value: &[u8]) -> Result<DeadLetterRecord, StoreError> {
    let damaged = || StoreError::Corrupt(format!("dead letter of integration {integration}"));
    let seq_bytes: [u8; 8] = key
        .len()
        .checked_sub(8)
        .and_then(|at| key.get(at..))
        .and_then(|b| b.try_into().ok())
        .ok_or_else(damaged)?;
    // JSON never contains a raw NUL byte, so the first one ends the header.
    let split = value.iter().position(|b| *b == 0).ok_or_else(damaged)?;
    let (header, body) = value.split_at(split);
    let header: Header = serde_json::from_slice(header)?;
    Ok(DeadLetterRecord {
        seq: u64::from_be_bytes(seq_bytes),
        integration_id: integration.to_owned(),
        received_ms: header.received_ms,
        event: header.event,
        issue_key: header.issue_key,
        attempts: header.attempts,
        first_failure_ms: header.first_failure_ms,
        dead_ms: header.dead_ms,
        last_error: header.last_error,
        body: body.get(1..).unwrap_or_default().to_vec(),
    })
}

impl Store {
    /// The retry state of a delivery, if it waits for a retry.
    pub fn retry_state(&self, seq: u64) -> Result<Option<RetryRecord>, StoreError> {
        self.retries
            .get(seq.to_be_bytes())?
            .map(|v| serde_json::from_slice(&v).map_err(StoreError::from))
            .transpose()
    }

    /// Writes the retry state of a delivery.
    pub fn put_retry_state(&self, seq: u64, rec: &RetryRecord) -> Result<(), StoreError> {
        self.retries
            .insert(seq.to_be_bytes(), serde_json::to_vec(rec)?)?;
        Ok(())
    }

    /// Removes the retry state of a delivery (it left the inbox).
    pub fn remove_retry_state(&self, seq: u64) -> Result<(), StoreError> {
        self.retries.remove(seq.to_be_bytes())?;
        Ok(())
    }

    /// Every stored retry state's next attempt time (seq -> unix ms), read on open.
    pub(crate) fn load_retry_waits(&self) -> Result<RetryWaits, StoreError> {
        let waits = RetryWaits::default();
        for kv in &self.retries {
            let (k, v) = kv?;
            let Ok(seq) = <[u8; 8]>::try_from(&*k) else {
                continue;
            };
            let rec: RetryRecord = serde_json::from_slice(&v)?;
            waits.set(u64::from_be_bytes(seq), rec.next_attempt_ms);
        }
        Ok(waits)
    }

    /// Stores a dead letter.
    pub fn put_dead_letter(&self, rec: &DeadLetterRecord) -> Result<(), StoreError> {
        self.dead_letters
            .insert(dead_key(&rec.integration_id, rec.seq), encode(rec)?)?;
        Ok(())
    }

    /// The newest `limit` dead letters of an integration, newest (highest seq) first.
    pub fn dead_letters(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetterRecord>, StoreError> {
        self.dead_letters
            .scan_prefix(prefix(&[integration]))
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                decode(integration, &k, &v)
            })
            .collect()
    }

    /// One dead letter.
    pub fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> Result<Option<DeadLetterRecord>, StoreError> {
        let k = dead_key(integration, seq);
        self.dead_letters
            .get(&k)?
            .map(|v| decode(integration, &k, &v))
            .transpose()
    }

    /// Removes a dead letter; returns whether it was there.
    pub fn remove_dead_letter(&self, integration: &str, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .dead_letters
            .remove(dead_key(integration, seq))?
            .is_some())
    }
}
