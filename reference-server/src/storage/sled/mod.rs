//! The sled backend: records and the delivery log in sled trees ([`Store`]), accepted
//! deliveries in an append-only segment log with group commit (`inbox/`), and one flusher task
//! that makes sled durable for every caller at once (`flush.rs`).
//!
//! [`SledStorage`] implements the storage traits by calling the synchronous [`Store`] and the
//! inbox; the `async` wrappers add nothing but the future's state. Files:
//! - `store.rs`: the trees and their records (integrations, pipelines, settings, mappings,
//!   users, projects, groups, links, status cache); the tree layout is in its docs.
//! - `sync.rs`: [`assignee_sync::Store`] on the trees (compare-and-swap of a group record).
//! - `delivery_log.rs`: the delivery log in chunks (docs/decisions/0005).
//! - `import.rs`: bulk link import; `moves.rs`: the in-memory mirror of recorded key moves;
//!   `cache.rs`: decoded admin records reused by the worker; `flush.rs`: group flush.
//! - `inbox/`: the inbox log (`segment.rs` the file format, `seq.rs` the sequence bound).

mod cache;
mod dead_letters;
pub(crate) mod delivery_log;
pub(crate) mod flush;
mod import;
pub(crate) mod inbox;
mod moves;
mod store;
pub(crate) mod sync;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::records::{
    DeadLetterRecord, DeliveryRecord, GroupRecord, ImportCounts, ImportLink, IntegrationRecord,
    OrgSettingsRecord, PipelineRecord, ProjectRecord, RetryRecord, StatusCategories, UserRecord,
};
use super::{
    DeadLetters, DeliveryLog, Inbox, InboxBatch, InboxEntry, Integrations, StorageBackend,
    StorageConfig, StorageError, Tracker,
};
use crate::metrics::Metrics;
use flush::{FlushError, StoreFlush};
use inbox::{InboxError, InboxTasks};

pub use store::{DEFAULT_CACHE_MB, Store, StoreError};

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        StorageError::Backend(Box::new(e))
    }
}

impl From<InboxError> for StorageError {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::Closed => StorageError::Closed,
            e => StorageError::Backend(Box::new(e)),
        }
    }
}

impl From<FlushError> for StorageError {
    fn from(e: FlushError) -> Self {
        match e {
            FlushError::Closed => StorageError::Closed,
            e @ FlushError::Failed(_) => StorageError::Backend(Box::new(e)),
        }
    }
}

/// Integration lanes of the worker on sled: the store's calls are synchronous, so lanes
/// overlap only while one waits for Jira.
const WORKER_LANES: usize = 8;

/// The sled backend (cheap to clone): the store, the inbox log and the flusher.
#[derive(Debug, Clone)]
pub struct SledStorage {
    store: Store,
    inbox: inbox::Inbox,
    flush: StoreFlush,
    /// Next attempt times of deliveries waiting for a retry (`dead_letters.rs`).
    retry_waits: Arc<dead_letters::RetryWaits>,
}

/// The sled backend's tasks: the inbox's writer and janitor, and the flusher.
#[derive(Debug)]
pub struct SledTasks {
    inbox: InboxTasks,
    flusher: tokio::task::JoinHandle<()>,
    store: Store,
}

/// Why the store did not open, in words that point at the fix: sled reports a held lock as
/// an `Other` I/O error whose text carries the `Os { .. }` dump, which is no message for a
/// user.
fn open_failure(e: StoreError, data_dir: &std::path::Path) -> StorageError {
    let io = match &e {
        StoreError::Sled(sled::Error::Io(io)) => Some((io.kind(), io.to_string())),
        _ => None,
    };
    let (reason, hint): (Box<dyn std::error::Error + Send + Sync>, &'static str) = match io {
        Some((_, text)) if text.contains("could not acquire lock") => (
            "another server is using it (the store's lock is held)".into(),
            ": stop that server, or give this one another --data-dir",
        ),
        Some((std::io::ErrorKind::PermissionDenied, _)) => (
            "permission denied".into(),
            ": run the server as the directory's owner, or fix the directory's permissions",
        ),
        _ => (
            Box::new(e),
            " (check the directory, its permissions and the disk)",
        ),
    };
    StorageError::Open {
        what: "store",
        location: data_dir.display().to_string(),
        hint,
        source: reason,
    }
}

impl SledStorage {
    /// `Ok` when the store and the inbox can write; otherwise why not (see
    /// [`inbox::Inbox::readiness`]: the inbox recovers once the disk does).
    pub async fn readiness(&self) -> Result<(), String> {
        if let Some(e) = self.flush.failure() {
            return Err(format!(
                "the sled store failed and cannot recover without a restart: {e}"
            ));
        }
        self.inbox.readiness().await
    }

    /// Returns once the store failed for good (sled keeps its first I/O error and fails every
    /// later write; or the inbox writer died), with the reason; never when it does not.
    pub async fn failed(&self) -> String {
        tokio::select! {
            reason = self.flush.failed() => reason,
            reason = self.inbox.died() => reason,
        }
    }

    /// Opens the store in `data_dir/db` and the inbox in `data_dir/inbox` (reading back what
    /// earlier runs accepted but did not record as applied), and spawns the inbox's and the
    /// flusher's tasks on the current tokio runtime.
    pub fn open(
        config: &StorageConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, SledTasks), StorageError> {
        let store = Store::open_with_cache(&config.data_dir, config.cache_mb)
            .map_err(|e| open_failure(e, &config.data_dir))?;
        let retry_waits = Arc::new(
            store
                .load_retry_waits()
                .map_err(|e| open_failure(e, &config.data_dir))?,
        );
        let (flush, flusher) = StoreFlush::start(store.clone());
        let (inbox, inbox_tasks) = inbox::Inbox::open(
            &config.data_dir,
            store.clone(),
            flush.clone(),
            metrics,
            config.inbox_segment_bytes,
            config.inbox_max_bytes,
            config.faults.clone(),
        )
        .map_err(|e| StorageError::Open {
            what: "inbox",
            location: config.data_dir.join(inbox::DIR_NAME).display().to_string(),
            hint: "",
            source: Box::new(e),
        })?;
        Ok((
            Self {
                store: store.clone(),
                inbox,
                flush,
                retry_waits,
            },
            SledTasks {
                inbox: inbox_tasks,
                flusher,
                store,
            },
        ))
    }

    /// Number of inbox segment files in use (tests and diagnostics).
    pub fn inbox_segments(&self) -> usize {
        self.inbox.segments()
    }
}

impl SledTasks {
    /// Stops the inbox's tasks, waits for the flusher to end (every [`SledStorage`] handle
    /// must be gone) and flushes the store.
    pub async fn stop(self) -> Result<(), StorageError> {
        self.inbox.stop().await;
        stop_flusher(self.flusher).await;
        let store = self.store;
        match tokio::task::spawn_blocking(move || store.flush_blocking()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(StoreError::Transaction(e.to_string()).into()),
        }
    }
}

/// Waits for the store flusher to end, so that no handle on the store (and its directory lock)
/// outlives the server. It ends by itself once every `StoreFlush` handle is gone, after the
/// flush in flight. Aborting it instead is not enough: an aborted task's flush keeps running on
/// the blocking pool with its own store handle, and a restart on the same directory then fails
/// with "could not acquire lock" (seen once in `tests/server/end_to_end.rs`). Aborted after 10 s, in
/// case a handle is still held somewhere.
async fn stop_flusher(mut flusher: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(10), &mut flusher)
        .await
        .is_err()
    {
        tracing::warn!("the store flusher did not stop within 10 s; aborting it");
        flusher.abort();
        let _ = flusher.await;
    }
}

impl Integrations for SledStorage {
    fn integrations_generation(&self) -> Option<u64> {
        // The record cache's generation: bumped after every write of integrations (and of the
        // other records it caches).
        Some(self.store.config_cache.generation())
    }

    async fn next_integration_id(&self) -> Result<u64, StorageError> {
        Ok(self.store.next_integration_id()?)
    }

    async fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), StorageError> {
        Ok(self.store.put_integration(rec)?)
    }

    async fn integration(&self, id: &str) -> Result<Option<Arc<IntegrationRecord>>, StorageError> {
        Ok(self.store.integration_shared(id)?)
    }

    async fn integration_by_external(
        &self,
        external_id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        Ok(self.store.integration_by_external(external_id)?)
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StorageError> {
        Ok(self.store.integrations()?)
    }

    async fn delete_integration(
        &self,
        id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        Ok(self.store.delete_integration(id)?)
    }

    async fn put_pipeline(&self, rec: &PipelineRecord) -> Result<(), StorageError> {
        Ok(self.store.put_pipeline(rec)?)
    }

    async fn pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        Ok(self.store.pipeline(id)?)
    }

    async fn pipeline_by_token(&self, token: &str) -> Result<Option<PipelineRecord>, StorageError> {
        Ok(self.store.pipeline_by_token(token)?)
    }

    async fn take_pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        Ok(self.store.take_pipeline(id)?)
    }

    async fn purge_pipelines(&self, cutoff_unix: i64) -> Result<usize, StorageError> {
        Ok(self.store.purge_pipelines(cutoff_unix)?)
    }

    async fn put_org_settings(
        &self,
        integration: &str,
        org: &str,
        rec: &OrgSettingsRecord,
    ) -> Result<(), StorageError> {
        Ok(self.store.put_org_settings(integration, org, rec)?)
    }

    async fn org_settings(
        &self,
        integration: &str,
    ) -> Result<Vec<(String, OrgSettingsRecord)>, StorageError> {
        Ok(self.store.org_settings(integration)?)
    }

    async fn put_user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
        user: &str,
    ) -> Result<(), StorageError> {
        Ok(self.store.put_user_mapping(integration, jira_user, user)?)
    }

    async fn user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
    ) -> Result<Option<String>, StorageError> {
        Ok(self.store.user_mapping(integration, jira_user)?)
    }

    async fn status_categories(&self, integration: &str) -> Result<StatusCategories, StorageError> {
        Ok(self.store.status_categories(integration)?)
    }

    async fn put_status_categories(
        &self,
        integration: &str,
        cats: &StatusCategories,
    ) -> Result<(), StorageError> {
        Ok(self.store.put_status_categories(integration, cats)?)
    }
}

impl Tracker for SledStorage {
    async fn put_user(&self, id: &str, rec: &UserRecord) -> Result<(), StorageError> {
        Ok(self.store.put_user(id, rec)?)
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError> {
        Ok(self.store.user(id)?)
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.store.users_by_verified_email(email)?)
    }

    async fn put_project(&self, id: &str, rec: &ProjectRecord) -> Result<(), StorageError> {
        Ok(self.store.put_project(id, rec)?)
    }

    async fn project(&self, id: &str) -> Result<Option<ProjectRecord>, StorageError> {
        Ok(self.store.project(id)?)
    }

    async fn is_member(&self, project: &str, user: &str) -> Result<bool, StorageError> {
        Ok(self.store.is_member(project, user)?)
    }

    async fn put_group(&self, id: &str, project: &str) -> Result<GroupRecord, StorageError> {
        Ok(self.store.put_group(id, project)?)
    }

    async fn group(&self, id: &str) -> Result<Option<GroupRecord>, StorageError> {
        Ok(self.store.group(id)?)
    }

    async fn has_group(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.store.has_group(id)?)
    }

    async fn reset_watermarks(
        &self,
        group: &str,
        integration: Option<&str>,
    ) -> Result<Option<Vec<String>>, StorageError> {
        Ok(self.store.reset_watermarks(group, integration)?)
    }

    async fn link(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<(), StorageError> {
        Ok(self.store.link(group, integration, issue_key)?)
    }

    async fn unlink(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<bool, StorageError> {
        Ok(self.store.unlink(group, integration, issue_key)?)
    }

    async fn has_links(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        Ok(self.store.has_links(integration, issue_key)?)
    }

    async fn has_move(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        Ok(self.store.has_move(integration, issue_key)?)
    }

    async fn is_tracked(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        Ok(self.store.has_links(integration, issue_key)?
            || self.store.has_move(integration, issue_key)?)
    }

    async fn linked_groups(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> Result<Vec<String>, StorageError> {
        Ok(self.store.linked_groups(integration, issue_key)?)
    }

    async fn import_links(&self, items: &[ImportLink]) -> Result<ImportCounts, StorageError> {
        Ok(self.store.import_links(items)?)
    }
}

impl Inbox for SledStorage {
    type Batch<'a> = SledBatch<'a>;

    async fn accept(
        &self,
        integration: &str,
        received_ms: i64,
        body: &[u8],
    ) -> Result<u64, StorageError> {
        Ok(self.inbox.accept(integration, received_ms, body).await?)
    }

    async fn claim<'a>(
        &'a self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<SledBatch<'a>, StorageError> {
        let now = crate::time::now_ms();
        let waits = &self.retry_waits;
        let entries = self.inbox.oldest_where(limit, &|integration, seq| {
            !skip(integration) && !waits.waiting(seq, now)
        })?;
        Ok(SledBatch {
            storage: self,
            entries,
            done: Vec::new(),
        })
    }

    async fn pending_for(&self, integration: &str) -> Result<Vec<InboxEntry>, StorageError> {
        Ok(self.inbox.pending_for(integration)?)
    }

    async fn pending_count(&self) -> Result<usize, StorageError> {
        Ok(self.inbox.len())
    }

    fn next_retry_ms(&self) -> Option<i64> {
        self.retry_waits.next_after(crate::time::now_ms())
    }

    async fn due_integrations(
        &self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<String>, StorageError> {
        let now = crate::time::now_ms();
        let waits = &self.retry_waits;
        Ok(self.inbox.integrations_where(limit, &|integration, seq| {
            !skip(integration) && !waits.waiting(seq, now)
        }))
    }

    fn worker_lanes(&self) -> usize {
        WORKER_LANES
    }

    fn wake(&self) -> Arc<Notify> {
        self.inbox.wake()
    }
}

impl DeadLetters for SledStorage {
    async fn dead_letters(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetterRecord>, StorageError> {
        Ok(self.store.dead_letters(integration, limit)?)
    }

    async fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> Result<Option<DeadLetterRecord>, StorageError> {
        Ok(self.store.dead_letter(integration, seq)?)
    }

    async fn remove_dead_letter(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        Ok(self.store.remove_dead_letter(integration, seq)?)
    }
}

impl DeliveryLog for SledStorage {
    async fn put_delivery(
        &self,
        integration: &str,
        seq: u64,
        rec: &DeliveryRecord,
    ) -> Result<(), StorageError> {
        Ok(self.store.put_delivery(integration, seq, rec)?)
    }

    async fn deliveries(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<(u64, DeliveryRecord)>, StorageError> {
        Ok(self.store.deliveries_with_seq(integration, limit)?)
    }

    async fn prune_deliveries(
        &self,
        integration: &str,
        keep: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        Ok(self.store.prune_deliveries(integration, keep, limit)?)
    }

    async fn delivery_is_final(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        Ok(self.store.delivery_is_final(integration, seq)?)
    }
}

/// `assignee_sync::Store` on sled: the sync reads and commits straight to the trees
/// (`sync.rs`).
macro_rules! on_store {
    ($self:expr, $b:ident => $body:expr) => {{
        let $b = &$self.store;
        Ok($body?)
    }};
}
super::delegate_sync_store!(SledStorage, on_store);

impl StorageBackend for SledStorage {
    async fn durable(&self) -> Result<(), StorageError> {
        Ok(self.flush.flushed().await?)
    }
}

/// A claimed batch on sled. The sync commits straight to sled (a crash before
/// [`InboxBatch::finish`] re-applies the batch's entries on start, where the watermarks make
/// them duplicates); `finish` writes one delivery-log chunk per integration and drops the
/// entries from the inbox log's index (`Inbox::complete`), as the worker did before the
/// storage interface.
#[derive(Debug)]
pub struct SledBatch<'a> {
    storage: &'a SledStorage,
    entries: Vec<InboxEntry>,
    /// Done entries per integration, in sequence order: the index of the integration's first
    /// entry in `entries` (for its id), and the records.
    done: Vec<(usize, Vec<(u64, DeliveryRecord)>)>,
}

/// The batch's sync goes to its storage.
macro_rules! on_batch_storage {
    ($self:expr, $b:ident => $body:expr) => {{
        let $b = $self.storage;
        $body
    }};
}
super::delegate_sync_store!(SledBatch<'_>, on_batch_storage);

impl InboxBatch for SledBatch<'_> {
    fn entries(&self) -> &[InboxEntry] {
        &self.entries
    }

    fn done(&mut self, index: usize, record: DeliveryRecord) {
        let Some(entry) = self.entries.get(index) else {
            return;
        };
        let entries = &self.entries;
        match self.done.iter_mut().find(|(first, _)| {
            entries
                .get(*first)
                .is_some_and(|e| e.integration_id == entry.integration_id)
        }) {
            Some((_, records)) => records.push((entry.seq, record)),
            None => self.done.push((index, vec![(entry.seq, record)])),
        }
    }

    async fn retry_later(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        retry: &RetryRecord,
    ) -> Result<(), StorageError> {
        let Some(entry) = self.entries.get(index) else {
            return Ok(());
        };
        let store = &self.storage.store;
        store.put_retry_state(entry.seq, retry)?;
        self.storage
            .retry_waits
            .set(entry.seq, retry.next_attempt_ms);
        Ok(store.put_delivery(&entry.integration_id, entry.seq, &record)?)
    }

    async fn retry_state(&self, index: usize) -> Result<Option<RetryRecord>, StorageError> {
        let Some(entry) = self.entries.get(index) else {
            return Ok(None);
        };
        if !self.storage.retry_waits.contains(entry.seq) {
            return Ok(None);
        }
        Ok(self.storage.store.retry_state(entry.seq)?)
    }

    async fn dead_letter(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        letter: &DeadLetterRecord,
    ) -> Result<(), StorageError> {
        if index >= self.entries.len() {
            return Ok(());
        }
        // Stored before the entry leaves the inbox: the inbox segment is deleted only after a
        // flush of the store, which then holds the dead letter too.
        self.storage.store.put_dead_letter(letter)?;
        self.done(index, record);
        Ok(())
    }

    async fn finish(self) -> Result<(), StorageError> {
        let mut result = Ok(());
        for (first, records) in &self.done {
            let Some(entry) = self.entries.get(*first) else {
                continue;
            };
            let refs: Vec<(u64, &DeliveryRecord)> = records.iter().map(|(s, r)| (*s, r)).collect();
            if let Err(e) = self.storage.inbox.complete(&entry.integration_id, &refs) {
                tracing::error!(error = %e, integration = %entry.integration_id, deliveries = records.len(), "cannot record the processed deliveries");
                if result.is_ok() {
                    result = Err(e.into());
                }
                continue;
            }
            // Retry state of entries that waited for a retry (only those: no write otherwise).
            let waits = &self.storage.retry_waits;
            for (seq, _) in records {
                if waits.contains(*seq) {
                    if let Err(e) = self.storage.store.remove_retry_state(*seq) {
                        tracing::warn!(error = %e, seq, "cannot remove a delivery's retry state");
                    }
                    waits.remove(*seq);
                }
            }
        }
        result
    }
}
