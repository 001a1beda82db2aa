//! Durable inbox of accepted webhook deliveries, with group commit.
//!
//! A request inserts its entry into the `inbox` tree (and a `pending` line into the delivery
//! log), then takes a *flush ticket* and waits. One flusher task owns flushing: it collects every
//! ticket waiting, runs a single `sled::Db::flush()` on the blocking pool and answers all of them.
//! Requests that arrive during a flush are served by the next one, so N concurrent requests cost
//! about one fsync instead of N, and there is never more than one flush in flight (sled 0.34.7
//! hangs with 8+ concurrent `flush_async` calls).
//!
//! Entries are keyed by a sled-generated increasing id, so the worker applies them in arrival
//! order and a restart replays whatever was not removed.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::metrics::Metrics;
use crate::store::records::DeliveryRecord;
use crate::store::{Store, StoreError};

const FORMAT_V1: u8 = 1;

/// One stored delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Inbox sequence number (also the delivery log key).
    pub seq: u64,
    /// Integration id.
    pub integration_id: String,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// The raw request body.
    pub body: Vec<u8>,
}

impl InboxEntry {
    fn encode(integration_id: &str, received_ms: i64, body: &[u8]) -> Vec<u8> {
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

    /// Decodes a stored entry; `None` when the bytes are not a v1 entry.
    fn decode(seq: u64, v: &[u8]) -> Option<Self> {
        let (&version, rest) = v.split_first()?;
        if version != FORMAT_V1 {
            return None;
        }
        let (len, rest) = rest.split_at_checked(2)?;
        let len = usize::from(u16::from_be_bytes(len.try_into().ok()?));
        let (id, rest) = rest.split_at_checked(len)?;
        let (ms, body) = rest.split_at_checked(8)?;
        Some(Self {
            seq,
            integration_id: String::from_utf8(id.to_vec()).ok()?,
            received_ms: i64::from_be_bytes(ms.try_into().ok()?),
            body: body.to_vec(),
        })
    }
}

/// Errors of the inbox.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// Writing or flushing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The flusher task is gone (shutting down).
    #[error("the inbox flusher has stopped; the server is shutting down")]
    Closed,
    /// The flush failed.
    #[error("flushing the inbox failed: {0}")]
    Flush(String),
}

type Ticket = oneshot::Sender<Result<(), String>>;

/// Handle on the inbox (cheap to clone).
#[derive(Debug, Clone)]
pub struct Inbox {
    store: Store,
    tickets: mpsc::UnboundedSender<Ticket>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
}

/// Metadata written to the delivery log as `pending` when an entry is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingInfo {
    /// `webhookEvent`.
    pub event: Option<String>,
    /// Issue key.
    pub issue_key: Option<String>,
}

impl Inbox {
    /// Creates the inbox and spawns its flusher task (on the current tokio runtime). Sets the
    /// depth gauge from what is already stored.
    pub fn start(store: Store, metrics: Arc<Metrics>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        metrics.inbox_set(i64::try_from(store.inbox.len()).unwrap_or(i64::MAX));
        let flusher = tokio::spawn(flusher(store.clone(), rx, metrics.clone()));
        (
            Self {
                store,
                tickets: tx,
                wake: Arc::new(Notify::new()),
                metrics,
            },
            flusher,
        )
    }

    /// Stores a delivery durably: returns once it is on disk. The worker is woken afterwards.
    pub async fn commit(
        &self,
        integration_id: &str,
        received_ms: i64,
        info: PendingInfo,
        body: &[u8],
    ) -> Result<u64, InboxError> {
        let _ = info; // the log view derives event and issue key from the stored body
        let seq = self.store.next_id()?;
        // One insert: the delivery log shows inbox entries as `pending` (see
        // [`Inbox::pending_for`]), so there is no second record that a crash could separate.
        self.store
            .inbox
            .insert(
                seq.to_be_bytes(),
                InboxEntry::encode(integration_id, received_ms, body),
            )
            .map_err(StoreError::from)?;
        self.metrics.inbox_add(1);
        self.flushed().await?;
        self.wake.notify_one();
        Ok(seq)
    }

    /// Waits until everything written before this call is on disk (shares flushes).
    pub async fn flushed(&self) -> Result<(), InboxError> {
        let (tx, rx) = oneshot::channel();
        self.tickets.send(tx).map_err(|_| InboxError::Closed)?;
        rx.await
            .map_err(|_| InboxError::Closed)?
            .map_err(InboxError::Flush)
    }

    /// The oldest stored entries, at most `limit`, in order. Undecodable entries are returned as
    /// `Err(seq)` so the worker can record and drop them.
    pub fn oldest(&self, limit: usize) -> Result<Vec<Result<InboxEntry, u64>>, StoreError> {
        let mut out = Vec::new();
        for kv in self.store.inbox.iter().take(limit) {
            let (k, v) = kv?;
            let seq = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or_default();
            out.push(InboxEntry::decode(seq, &v).ok_or(seq));
        }
        Ok(out)
    }

    /// Like [`Inbox::oldest`], but skips entries whose integration id `skip` returns true for
    /// (integrations waiting for Jira), scanning further so others are not held up.
    pub fn oldest_except(
        &self,
        limit: usize,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Result<InboxEntry, u64>>, StoreError> {
        let mut out = Vec::new();
        for kv in &self.store.inbox {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let seq = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or_default();
            match InboxEntry::decode(seq, &v) {
                Some(e) if skip(&e.integration_id) => {}
                Some(e) => out.push(Ok(e)),
                None => out.push(Err(seq)),
            }
        }
        Ok(out)
    }

    /// Entries of one integration still waiting in the inbox, newest first (the delivery log
    /// shows them as `pending`).
    pub fn pending_for(&self, integration_id: &str) -> Result<Vec<InboxEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.store.inbox.iter().rev() {
            let (k, v) = kv?;
            let seq = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or_default();
            if let Some(e) = InboxEntry::decode(seq, &v)
                && e.integration_id == integration_id
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Removes an applied entry.
    pub fn remove(&self, seq: u64) -> Result<(), StoreError> {
        if self.store.inbox.remove(seq.to_be_bytes())?.is_some() {
            self.metrics.inbox_add(-1);
        }
        Ok(())
    }

    /// Records the final delivery log entry and removes the inbox entry, in one transaction.
    pub fn complete(
        &self,
        seq: u64,
        integration_id: &str,
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        use sled::Transactional as _;
        let value = serde_json::to_vec(record)?;
        let dkey = crate::store::delivery_key(integration_id, seq);
        let removed = (&self.store.deliveries, &self.store.inbox).transaction(|(d, i)| {
            d.insert(dkey.as_slice(), value.as_slice())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(
                i.remove(&seq.to_be_bytes())?.is_some(),
            )
        })?;
        if removed {
            self.metrics.inbox_add(-1);
        }
        Ok(())
    }

    /// The notifier the worker waits on.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Number of stored entries (scans; for tests and start-up).
    pub fn len(&self) -> usize {
        self.store.inbox.len()
    }

    /// Whether the inbox is empty.
    pub fn is_empty(&self) -> bool {
        self.store.inbox.is_empty()
    }
}

async fn flusher(store: Store, mut rx: mpsc::UnboundedReceiver<Ticket>, metrics: Arc<Metrics>) {
    let mut batch: Vec<Ticket> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let s = store.clone();
        let result = match tokio::task::spawn_blocking(move || s.flush_blocking()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("flush task failed: {e}")),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "inbox flush failed");
        }
        metrics.flush(batch.len() as u64);
        for t in batch.drain(..) {
            let _ = t.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip() {
        let bytes = InboxEntry::encode("12", -5, b"{\"a\":1}");
        let e = InboxEntry::decode(9, &bytes).expect("decodes");
        assert_eq!(
            e,
            InboxEntry {
                seq: 9,
                integration_id: "12".into(),
                received_ms: -5,
                body: b"{\"a\":1}".to_vec()
            }
        );
        assert_eq!(InboxEntry::decode(1, &[]), None);
        assert_eq!(InboxEntry::decode(1, &[2, 0, 0]), None);
        assert_eq!(InboxEntry::decode(1, &[1, 0, 5, b'a']), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_flushes() {
        let store = Store::temporary().expect("open");
        let metrics = Arc::new(Metrics::default());
        let (inbox, _flusher) = Inbox::start(store, metrics.clone());
        let mut tasks = Vec::new();
        for i in 0..64 {
            let inbox = inbox.clone();
            tasks.push(tokio::spawn(async move {
                inbox
                    .commit("1", i, PendingInfo::default(), b"{}")
                    .await
                    .expect("commit")
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.expect("join"));
        }
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 64);
        assert_eq!(inbox.len(), 64);
        assert_eq!(metrics.inbox_depth(), 64);
        let got = inbox.oldest(100).expect("read");
        assert_eq!(got.len(), 64);
        let first = got.first().cloned().expect("one").expect("decodes");
        inbox.remove(first.seq).expect("remove");
        assert_eq!(inbox.len(), 63);
        assert_eq!(metrics.inbox_depth(), 63);
    }
}
