//! Storage: one interface for everything the server keeps, and its backends.
//!
//! Handlers, the webhook intake, the worker, the install pipeline and the server's start and
//! stop talk only to this module's traits, through the [`Storage`] handle. Nothing outside
//! `src/storage/` names a backend's types.
//!
//! # The traits, named for what they store
//! - [`Integrations`]: integration ids and records, install pipelines, organization settings,
//!   user mappings, the status-category cache (what the admin API and the install pipeline
//!   write; the worker reads it for every delivery).
//! - [`Tracker`]: the tracker's side: users, projects, groups and their links to Jira issues,
//!   bulk link import.
//! - [`Inbox`]: accepted webhook deliveries waiting for the worker: [`Inbox::accept`] (durable
//!   before it returns), [`Inbox::claim`] (a batch of work, [`InboxBatch`]), the pending view
//!   and the worker's wake-up.
//! - [`DeliveryLog`]: what became of each delivery (`GET .../deliveries`), pruned to the
//!   newest entries.
//! - [`DeadLetters`]: deliveries given up on after their retry budget, with their bodies
//!   (`GET .../dead-letters`).
//! - [`StorageBackend`]: all of the above plus [`assignee_sync::Store`] (the sync contract)
//!   and [`StorageBackend::durable`]: "every write made before this call is durable once it
//!   returns" (the admin API awaits it after every write).
//!
//! Every method is `async` and returns a `Send` future (written as
//! `impl Future<Output = ...> + Send`, like [`assignee_sync::Store`]): no `async_trait`, no
//! boxing, no `dyn`. [`Storage`] is an enum over the backends, so a call is a `match` and a
//! direct call, never a virtual one.
//!
//! # The worker's unit of work
//! The worker claims a batch ([`Inbox::claim`]), applies each entry through
//! [`assignee_sync::sync_inbound`] *on the batch* (the batch is the [`assignee_sync::Store`]
//! the sync reads and commits through), records each entry's outcome ([`InboxBatch::done`] or
//! [`InboxBatch::retry_later`]) and calls [`InboxBatch::finish`], which writes the
//! delivery-log entries and removes the done entries from the inbox. The shape lets a
//! database apply a delivery, log it and mark it done in **one transaction**:
//!
//! | step | sled (today) | a database (e.g. PostgreSQL) |
//! |---|---|---|
//! | `claim(limit, skip)` | pick the oldest pending entries from the inbox log's in-memory index; read their bodies | `BEGIN`; `SELECT ... FROM inbox WHERE integration NOT IN (skipped) ORDER BY seq FOR UPDATE SKIP LOCKED LIMIT n` |
//! | the sync's reads and `commit` | straight to sled (a compare-and-swap per group; a sled transaction for a key move) | inside the batch's transaction, each plan under a savepoint (PostgreSQL: the group row locked `FOR UPDATE`, its watermark compared, group and watermark written together) |
//! | `done(i, record)` | kept in memory | kept in memory |
//! | `retry_later(i, record)` | the `pending` log entry is written at once | the `pending` log row is written in the transaction |
//! | `finish()` | per integration: one delivery-log chunk (docs/decisions/0005), then the entries leave the index | `INSERT` the log rows, `DELETE` the inbox rows, `COMMIT` |
//! | dropped without `finish` | entries stay pending; a restart re-applies them (watermarks make it a duplicate) | `ROLLBACK`: nothing happened, the rows are claimable again |
//!
//! Work that calls Jira while a batch is claimed (hidden e-mails, status categories) goes
//! through the [`Storage`] handle, not the batch; a database backend that must not hold row
//! locks during a 30 s HTTP timeout can claim with a lease instead (`claimed_by`,
//! `claimed_until` set in a short transaction; the apply transaction then checks the lease).
//!
//! # Backends
//! - [`sled`]: embedded, the default: sled trees for records and the delivery
//!   log, and an append-only segment log with group commit for the inbox. [`StorageConfig`]
//!   says where.
//! - [`postgres`]: for several replicas sharing one database:
//!   [`postgres::PgStorage`], opened with [`Storage::open_postgres`]; each write is committed
//!   before it returns, the inbox is a table claimed with `FOR UPDATE SKIP LOCKED`, and a batch
//!   is one transaction as in the table above. The conformance suite
//!   (`tests/server/storage.rs`, written against the traits only) runs on both backends.
//!
//! [`records`] holds the record types every backend stores; `stored.rs` the stored form of a
//! delivery (written by the webhook intake, read by the worker).

pub mod postgres;
pub mod records;
pub mod sled;
pub(crate) mod stored;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::metrics::Metrics;
use records::{
    DeadLetterRecord, DeliveryRecord, GroupRecord, ImportCounts, ImportLink, IntegrationRecord,
    OrgSettingsRecord, PipelineRecord, ProjectRecord, RetryRecord, StatusCategories, UserRecord,
};

/// Errors of the storage interface. Messages say what went wrong and what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The storage could not be opened: `what` (the store, the inbox) in `location`.
    #[error("cannot open the {what} in {location}: {source}{hint}")]
    Open {
        /// Which part could not be opened.
        what: &'static str,
        /// Where (a directory, a database).
        location: String,
        /// What to check, appended to the message (may be empty).
        hint: &'static str,
        /// The cause.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A read or write failed in the backend (I/O, corruption, a record that does not decode,
    /// a lost connection); the message names the cause.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The storage has stopped (the server is shutting down).
    #[error("the storage has stopped; the server is shutting down")]
    Closed,
}

/// Integrations and what hangs off them: ids, records, install pipelines, organization
/// settings, user mappings and the status-category cache.
pub trait Integrations {
    /// A new integration id, unique and increasing, from the backend (never a process
    /// counter: several replicas may allocate at once).
    fn next_integration_id(&self) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Creates or replaces an integration and its external-id index.
    fn put_integration(
        &self,
        rec: &IntegrationRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// An integration by id, shared (the worker reads it for every delivery; a backend may
    /// hand out a cached, decoded record until an integration or settings are written).
    fn integration(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Arc<IntegrationRecord>>, StorageError>> + Send;

    /// An integration by external id (the webhook token's `iss`).
    fn integration_by_external(
        &self,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<IntegrationRecord>, StorageError>> + Send;

    /// A number that changes whenever any replica writes or deletes an integration record;
    /// `None` while the backend cannot vouch for it. A cache of integration records
    /// ([`crate::app::TokenIndex`]) is current while this stays the same; it only grows, and
    /// it moves after the write is visible, so a record read after reading generation `g` is
    /// at least as new as `g`. sled: the record cache's generation. PostgreSQL: a counter a
    /// trigger bumps, read four times a second (and `None` when that read is not fresh).
    fn integrations_generation(&self) -> Option<u64>;

    /// All integrations, ordered by id bytes.
    fn integrations(
        &self,
    ) -> impl Future<Output = Result<Vec<IntegrationRecord>, StorageError>> + Send;

    /// Deletes an integration with its organization settings, user mappings, links, moves and
    /// status cache; returns the deleted record.
    fn delete_integration(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<IntegrationRecord>, StorageError>> + Send;

    /// Stores a pending install pipeline (indexed by its OAuth request token).
    fn put_pipeline(
        &self,
        rec: &PipelineRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A pipeline by id.
    fn pipeline(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<PipelineRecord>, StorageError>> + Send;

    /// A pipeline by OAuth request token.
    fn pipeline_by_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<PipelineRecord>, StorageError>> + Send;

    /// Removes a pipeline and returns it if it was still there: of concurrent callers, one
    /// gets it (only one install completion wins).
    fn take_pipeline(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<PipelineRecord>, StorageError>> + Send;

    /// Deletes pipelines created before `cutoff_unix`; returns how many.
    fn purge_pipelines(
        &self,
        cutoff_unix: i64,
    ) -> impl Future<Output = Result<usize, StorageError>> + Send;

    /// Sets an organization's settings for an integration.
    fn put_org_settings(
        &self,
        integration: &str,
        org: &str,
        rec: &OrgSettingsRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// All organizations' settings of an integration, ordered by organization id.
    fn org_settings(
        &self,
        integration: &str,
    ) -> impl Future<Output = Result<Vec<(String, OrgSettingsRecord)>, StorageError>> + Send;

    /// Maps a Jira username, user key or account id to a user.
    fn put_user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
        user: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The user mapped to a Jira username, user key or account id.
    fn user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
    ) -> impl Future<Output = Result<Option<String>, StorageError>> + Send;

    /// Cached status categories of an integration (status id -> category key; empty when
    /// none are cached).
    fn status_categories(
        &self,
        integration: &str,
    ) -> impl Future<Output = Result<StatusCategories, StorageError>> + Send;

    /// Replaces the cached status categories of an integration.
    fn put_status_categories(
        &self,
        integration: &str,
        cats: &StatusCategories,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// The tracker's side: users, projects, groups, and links from groups to Jira issues.
pub trait Tracker {
    /// Creates or replaces a user (and its index of verified e-mails).
    fn put_user(
        &self,
        id: &str,
        rec: &UserRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A user by id.
    fn user(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<UserRecord>, StorageError>> + Send;

    /// Ids of users (active or not) with this verified e-mail, compared ignoring case.
    fn users_by_verified_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;

    /// Creates or replaces a project (and its membership index).
    fn put_project(
        &self,
        id: &str,
        rec: &ProjectRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A project by id.
    fn project(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ProjectRecord>, StorageError>> + Send;

    /// Whether a user is a member of a project.
    fn is_member(
        &self,
        project: &str,
        user: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Creates a group in a project or moves it there; an existing group keeps its status,
    /// assignee and watermarks. Returns the group as stored.
    fn put_group(
        &self,
        id: &str,
        project: &str,
    ) -> impl Future<Output = Result<GroupRecord, StorageError>> + Send;

    /// A group by id.
    fn group(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<GroupRecord>, StorageError>> + Send;

    /// Whether a group exists (without decoding it).
    fn has_group(&self, id: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Removes a group's ordering watermarks: those of `integration`, or all when `None` (the
    /// way out of a watermark poisoned by a forged or broken delivery: the next delivery then
    /// applies whatever its ordering key). Atomic with the sync's compare-and-set on the group.
    /// Returns the removed watermarks' keys (`"<integration>/<kind>"`, sorted), or `None` when
    /// there is no such group.
    fn reset_watermarks(
        &self,
        group: &str,
        integration: Option<&str>,
    ) -> impl Future<Output = Result<Option<Vec<String>>, StorageError>> + Send;

    /// Links a group to a Jira issue of an integration (idempotent).
    fn link(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Removes a link; returns whether it existed.
    fn unlink(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether any group is linked to an issue key of an integration (the webhook intake asks
    /// for every delivery: one key read).
    fn has_links(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether an issue key of an integration was recorded as moved to another key.
    fn has_move(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether a delivery for this issue key may concern a group: the key has links or a
    /// recorded move (what decides whether the webhook intake stores a delivery, asked for
    /// every one). Never `false` for a key with either; a backend answering from a
    /// probabilistic cache may say `true` for a key with neither (the worker then finds no
    /// group).
    fn is_tracked(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Ids of the groups linked to an issue key of an integration, ordered by id.
    fn linked_groups(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;

    /// Imports links, item by item in order: an item with a project creates its group there
    /// or moves it there (as [`Tracker::put_group`]), then links it (as [`Tracker::link`]).
    /// The caller validates the items first. A failure midway may leave the items before it
    /// written (sled; PostgreSQL writes the call's items in one transaction); importing the
    /// same items again completes them. Returns what was done, counted
    /// per item.
    fn import_links(
        &self,
        items: &[ImportLink],
    ) -> impl Future<Output = Result<ImportCounts, StorageError>> + Send;
}

/// One accepted delivery waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Inbox sequence number: increasing in acceptance order, and the delivery log's key.
    pub seq: u64,
    /// Integration id.
    pub integration_id: String,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// The stored body (the stored form of `stored.rs`, or the body whole).
    pub body: Vec<u8>,
}

/// Accepted webhook deliveries waiting for the worker.
pub trait Inbox {
    /// A claimed batch of work (see [`InboxBatch`]).
    type Batch<'a>: InboxBatch
    where
        Self: 'a;

    /// Stores a delivery; returns its sequence number only once it is durable (the webhook
    /// answers 200 after this). Wakes the worker.
    fn accept(
        &self,
        integration: &str,
        received_ms: i64,
        body: &[u8],
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Claims the oldest pending entries, at most `limit`, in sequence order, leaving out
    /// those whose integration `skip` returns true for, and those waiting for a retry that is
    /// not due yet ([`InboxBatch::retry_later`]). An empty batch when nothing is pending.
    fn claim<'a>(
        &'a self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> impl Future<Output = Result<Self::Batch<'a>, StorageError>> + Send;

    /// Entries of one integration still pending, newest first (the delivery log shows them
    /// as `pending`).
    fn pending_for(
        &self,
        integration: &str,
    ) -> impl Future<Output = Result<Vec<InboxEntry>, StorageError>> + Send;

    /// Number of pending entries.
    fn pending_count(&self) -> impl Future<Output = Result<usize, StorageError>> + Send;

    /// Integrations with deliveries that could be claimed now (not waiting for a retry),
    /// leaving out those `skip` returns true for, in order of their oldest such delivery, at
    /// most `limit` (the worker starts one lane per integration). A backend may look at only
    /// its oldest few thousand pending deliveries.
    fn due_integrations(
        &self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;

    /// How many batches the worker may hold at once (one per integration lane): PostgreSQL
    /// holds a pooled connection per batch and leaves as many for the reads beside them.
    fn worker_lanes(&self) -> usize;

    /// When the earliest delivery waiting for a retry is due (unix ms), for the worker's
    /// sleep; `None` when none waits, or when the backend wakes the worker itself often
    /// enough (PostgreSQL's tick).
    fn next_retry_ms(&self) -> Option<i64>;

    /// The notifier the worker waits on; notified after each accept.
    fn wake(&self) -> Arc<Notify>;
}

/// A claimed batch of inbox entries: the worker's unit of work.
///
/// The batch is the [`assignee_sync::Store`] the worker passes to
/// [`assignee_sync::sync_inbound`], so that a database backend runs the sync inside the
/// batch's transaction. Each applied entry's outcome is recorded with [`InboxBatch::done`],
/// an entry that must wait with [`InboxBatch::retry_later`]; [`InboxBatch::finish`] writes the
/// delivery log and removes the done entries. Dropped without `finish`, every entry of the
/// batch stays pending (see the table in the module docs).
pub trait InboxBatch: assignee_sync::Store<Error = StorageError> + Send {
    /// The claimed entries, in sequence order.
    fn entries(&self) -> &[InboxEntry];

    /// Records the final outcome of entry `index` (applied, ignored or failed); written to
    /// the delivery log by [`InboxBatch::finish`], which also removes the entry.
    fn done(&mut self, index: usize, record: DeliveryRecord);

    /// Entry `index` stays pending (Jira was needed and unreachable): records its `pending`
    /// delivery-log entry (with the reason) and its retry state, and leaves it in the inbox,
    /// not claimed again before `retry.next_attempt_ms`. Written at once on sled, with the
    /// batch's transaction on PostgreSQL.
    fn retry_later(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        retry: &RetryRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The retry state of entry `index` (`None`: no attempt failed yet).
    fn retry_state(
        &self,
        index: usize,
    ) -> impl Future<Output = Result<Option<RetryRecord>, StorageError>> + Send;

    /// Entry `index` used up its retry budget: stores `letter` (with the body) among the
    /// dead letters and, like [`InboxBatch::done`], records the final `record` and removes
    /// the entry from the inbox at [`InboxBatch::finish`].
    fn dead_letter(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        letter: &DeadLetterRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Writes the delivery-log entries of the done entries and removes them from the inbox.
    /// On failure they stay pending and are applied again later (a duplicate, by the
    /// watermarks).
    fn finish(self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// What became of each delivery, by integration and sequence number.
pub trait DeliveryLog {
    /// Writes (or overwrites) one delivery-log entry (a `pending` mark).
    fn put_delivery(
        &self,
        integration: &str,
        seq: u64,
        rec: &DeliveryRecord,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The newest `limit` entries of an integration with their sequence numbers, newest
    /// first.
    fn deliveries(
        &self,
        integration: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(u64, DeliveryRecord)>, StorageError>> + Send;

    /// Keeps the newest `keep` entries of an integration (or a few more: a backend may remove
    /// in chunks), removing at most about `limit` per call; returns how many were removed.
    fn prune_deliveries(
        &self,
        integration: &str,
        keep: u64,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StorageError>> + Send;

    /// Whether the log has a final entry (applied, ignored or failed) for a delivery.
    fn delivery_is_final(
        &self,
        integration: &str,
        seq: u64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;
}

/// Deliveries given up on after their retry budget, kept with their bodies until an operator
/// retries (puts them back into the inbox) or deletes them.
pub trait DeadLetters {
    /// The newest `limit` dead letters of an integration, newest (highest sequence number)
    /// first.
    fn dead_letters(
        &self,
        integration: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetterRecord>, StorageError>> + Send;

    /// One dead letter by integration and sequence number.
    fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> impl Future<Output = Result<Option<DeadLetterRecord>, StorageError>> + Send;

    /// Removes a dead letter; returns whether it was there.
    fn remove_dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;
}

/// A complete backend: every trait of this module, the sync contract, and durability.
pub trait StorageBackend:
    Integrations
    + Tracker
    + Inbox
    + DeliveryLog
    + DeadLetters
    + assignee_sync::Store<Error = StorageError>
    + Sync
{
    /// Returns once every write made before this call is durable. sled: one shared flush of
    /// the database for all concurrent callers; a database that commits each write returns at
    /// once.
    fn durable(&self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

pub use self::sled::DEFAULT_CACHE_MB;

/// Where and how to open the storage.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The data directory (sled keeps `db/` and `inbox/` in it).
    pub data_dir: PathBuf,
    /// sled's page cache in MiB.
    pub cache_mb: u64,
    /// A new inbox segment starts once the current one is larger than this.
    pub inbox_segment_bytes: u64,
    /// Deliveries are refused once the inbox holds this many bytes (0: no limit).
    pub inbox_max_bytes: u64,
    /// Test-only fault injection (the inbox writer's).
    #[doc(hidden)]
    pub faults: crate::app::Faults,
}

impl StorageConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            cache_mb: DEFAULT_CACHE_MB,
            inbox_segment_bytes: crate::config::DEFAULT_INBOX_SEGMENT_KB * 1024,
            inbox_max_bytes: crate::config::DEFAULT_INBOX_MAX_MB << 20,
            faults: crate::app::Faults::default(),
        }
    }
}

/// The storage handle: one variant per backend (sled today). Implements every trait by
/// delegating to the backend, without boxing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Storage {
    /// The embedded sled backend.
    Sled(sled::SledStorage),
    /// The PostgreSQL backend.
    Postgres(postgres::PgStorage),
}

/// The backend's background tasks (sled: the inbox writer and janitor, the flusher).
#[derive(Debug)]
// One value per process: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum StorageTasks {
    /// sled's tasks.
    Sled(sled::SledTasks),
    /// PostgreSQL's task (the worker's wake-up tick).
    Postgres(postgres::PgTasks),
}

impl StorageTasks {
    /// Stops the tasks and makes everything durable (after the HTTP server and the worker
    /// stopped and every [`Storage`] handle is dropped).
    pub async fn stop(self) -> Result<(), StorageError> {
        match self {
            Self::Sled(t) => t.stop().await,
            Self::Postgres(t) => t.stop().await,
        }
    }
}

impl Storage {
    /// Opens the storage (sled in `config.data_dir`), reads back what an earlier run accepted
    /// but did not apply, and starts the backend's tasks on the current tokio runtime.
    // async for the backends to come (a database connects); sled opens synchronously.
    #[allow(clippy::unused_async)]
    pub async fn open(
        config: &StorageConfig,
        metrics: Arc<Metrics>,
    ) -> Result<(Self, StorageTasks), StorageError> {
        let (s, tasks) = sled::SledStorage::open(config, metrics)?;
        Ok((Self::Sled(s), StorageTasks::Sled(tasks)))
    }

    /// `Ok` when the storage can take writes; otherwise why not (`GET /readyz`). sled: the
    /// inbox's last write and sync worked, or a probe write works again, and the store has not
    /// failed; PostgreSQL: the database answers a query within 2 s.
    pub async fn readiness(&self) -> Result<(), String> {
        match self {
            Self::Sled(s) => s.readiness().await,
            Self::Postgres(p) => p.readiness().await,
        }
    }

    /// Sets `--inbox-max-mb` in bytes (0: no limit) on a backend that takes it after opening
    /// (PostgreSQL; sled takes it from [`StorageConfig::inbox_max_bytes`]).
    pub async fn set_inbox_max_bytes(&self, max: u64) {
        if let Self::Postgres(p) = self {
            p.set_inbox_max_bytes(max).await;
        }
    }

    /// Returns once the storage failed in a way it cannot recover from without a restart,
    /// with the reason (sled: a failed flush); never for PostgreSQL, which reconnects.
    pub async fn failed(&self) -> String {
        match self {
            Self::Sled(s) => s.failed().await,
            Self::Postgres(_) => std::future::pending().await,
        }
    }

    /// Opens the PostgreSQL storage at `url` with at most `pool_size` connections (at least
    /// two: a claimed batch holds one while the worker reads through the handle): connects,
    /// applies the schema migrations ([`postgres::connect`]) and starts the backend's tick
    /// on the current tokio runtime (the worker's wake-up, the cache generations, and every
    /// [`postgres::DEPTH_EVERY`] the inbox-depth gauge: the shared inbox's depth, the same on
    /// every replica). `faults` is test-only fault injection (`Faults::default()` otherwise).
    pub async fn open_postgres(
        url: &postgres::PgUrl,
        pool_size: usize,
        metrics: Arc<Metrics>,
        faults: crate::app::Faults,
    ) -> Result<(Self, StorageTasks), postgres::PgStartError> {
        // The worker's batch holds one connection while the sync reads through the handle.
        let pg = postgres::connect(url, pool_size.max(2)).await?;
        let (s, tasks) = postgres::PgStorage::new(pg, metrics, &faults);
        Ok((Self::Postgres(s), StorageTasks::Postgres(tasks)))
    }
}

/// A batch claimed from [`Storage`]: one variant per backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageBatch<'a> {
    /// A sled batch.
    Sled(sled::SledBatch<'a>),
    /// A PostgreSQL batch (a transaction on a pooled connection).
    Postgres(postgres::PgBatch),
}

/// `match` on the backend and run `$body` with `$b` bound to it.
macro_rules! on_backend {
    ($self:expr, $b:ident => $body:expr) => {
        match $self {
            Storage::Sled($b) => $body,
            Storage::Postgres($b) => $body,
        }
    };
}

/// `match` on a batch's backend and run `$body` with `$b` bound to it.
macro_rules! on_batch {
    ($self:expr, $b:ident => $body:expr) => {
        match $self {
            StorageBatch::Sled($b) => $body,
            StorageBatch::Postgres($b) => $body,
        }
    };
}

/// Implements `assignee_sync::Store` for `$ty` by running each call on the backend
/// `$on!(self, b => ...)` hands out (a `match` over [`Storage`]'s variants, or a field).
macro_rules! delegate_sync_store {
    ($ty:ty, $on:ident) => {
        impl assignee_sync::Store for $ty {
            type Error = $crate::storage::StorageError;

            async fn installations(
                &self,
                integration: &assignee_sync::IntegrationId,
            ) -> Result<Vec<assignee_sync::Installation>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::installations(b, integration).await)
            }

            async fn linked_groups(
                &self,
                integration: &assignee_sync::IntegrationId,
                key: &assignee_sync::IssueKey,
            ) -> Result<Vec<assignee_sync::LinkedGroup>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::linked_groups(b, integration, key).await)
            }

            async fn users_by_verified_email(
                &self,
                email: &str,
            ) -> Result<Vec<assignee_sync::UserId>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::users_by_verified_email(b, email).await)
            }

            async fn mapped_user(
                &self,
                integration: &assignee_sync::IntegrationId,
                jira_user: &str,
            ) -> Result<Option<assignee_sync::UserId>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::mapped_user(b, integration, jira_user).await)
            }

            async fn is_project_member(
                &self,
                project: &assignee_sync::ProjectId,
                user: &assignee_sync::UserId,
            ) -> Result<bool, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::is_project_member(b, project, user).await)
            }

            async fn moved_to(
                &self,
                integration: &assignee_sync::IntegrationId,
                key: &assignee_sync::IssueKey,
            ) -> Result<Option<assignee_sync::KeyMove>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::moved_to(b, integration, key).await)
            }

            async fn commit(
                &self,
                plan: &assignee_sync::Plan,
            ) -> Result<Vec<assignee_sync::MutationResult>, $crate::storage::StorageError> {
                $on!(self, b => assignee_sync::Store::commit(b, plan).await)
            }
        }
    };
}
pub(crate) use delegate_sync_store;

delegate_sync_store!(Storage, on_backend);
delegate_sync_store!(StorageBatch<'_>, on_batch);

impl InboxBatch for StorageBatch<'_> {
    fn entries(&self) -> &[InboxEntry] {
        on_batch!(self, b => b.entries())
    }

    fn done(&mut self, index: usize, record: DeliveryRecord) {
        on_batch!(self, b => b.done(index, record));
    }

    async fn retry_later(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        retry: &RetryRecord,
    ) -> Result<(), StorageError> {
        on_batch!(self, b => b.retry_later(index, record, retry).await)
    }

    async fn retry_state(&self, index: usize) -> Result<Option<RetryRecord>, StorageError> {
        on_batch!(self, b => b.retry_state(index).await)
    }

    async fn dead_letter(
        &mut self,
        index: usize,
        record: DeliveryRecord,
        letter: &DeadLetterRecord,
    ) -> Result<(), StorageError> {
        on_batch!(self, b => b.dead_letter(index, record, letter).await)
    }

    async fn finish(self) -> Result<(), StorageError> {
        on_batch!(self, b => b.finish().await)
    }
}

impl Integrations for Storage {
    async fn next_integration_id(&self) -> Result<u64, StorageError> {
        on_backend!(self, b => b.next_integration_id().await)
    }

    fn integrations_generation(&self) -> Option<u64> {
        on_backend!(self, b => b.integrations_generation())
    }

    async fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_integration(rec).await)
    }

    async fn integration(&self, id: &str) -> Result<Option<Arc<IntegrationRecord>>, StorageError> {
        on_backend!(self, b => b.integration(id).await)
    }

    async fn integration_by_external(
        &self,
        external_id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        on_backend!(self, b => b.integration_by_external(external_id).await)
    }

    async fn integrations(&self) -> Result<Vec<IntegrationRecord>, StorageError> {
        on_backend!(self, b => b.integrations().await)
    }

    async fn delete_integration(
        &self,
        id: &str,
    ) -> Result<Option<IntegrationRecord>, StorageError> {
        on_backend!(self, b => b.delete_integration(id).await)
    }

    async fn put_pipeline(&self, rec: &PipelineRecord) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_pipeline(rec).await)
    }

    async fn pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        on_backend!(self, b => b.pipeline(id).await)
    }

    async fn pipeline_by_token(&self, token: &str) -> Result<Option<PipelineRecord>, StorageError> {
        on_backend!(self, b => b.pipeline_by_token(token).await)
    }

    async fn take_pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StorageError> {
        on_backend!(self, b => b.take_pipeline(id).await)
    }

    async fn purge_pipelines(&self, cutoff_unix: i64) -> Result<usize, StorageError> {
        on_backend!(self, b => b.purge_pipelines(cutoff_unix).await)
    }

    async fn put_org_settings(
        &self,
        integration: &str,
        org: &str,
        rec: &OrgSettingsRecord,
    ) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_org_settings(integration, org, rec).await)
    }

    async fn org_settings(
        &self,
        integration: &str,
    ) -> Result<Vec<(String, OrgSettingsRecord)>, StorageError> {
        on_backend!(self, b => b.org_settings(integration).await)
    }

    async fn put_user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
        user: &str,
    ) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_user_mapping(integration, jira_user, user).await)
    }

    async fn user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
    ) -> Result<Option<String>, StorageError> {
        on_backend!(self, b => b.user_mapping(integration, jira_user).await)
    }

    async fn status_categories(&self, integration: &str) -> Result<StatusCategories, StorageError> {
        on_backend!(self, b => b.status_categories(integration).await)
    }

    async fn put_status_categories(
        &self,
        integration: &str,
        cats: &StatusCategories,
    ) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_status_categories(integration, cats).await)
    }
}

impl Tracker for Storage {
    async fn put_user(&self, id: &str, rec: &UserRecord) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_user(id, rec).await)
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError> {
        on_backend!(self, b => b.user(id).await)
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<String>, StorageError> {
        on_backend!(self, b => Tracker::users_by_verified_email(b, email).await)
    }

    async fn put_project(&self, id: &str, rec: &ProjectRecord) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_project(id, rec).await)
    }

    async fn project(&self, id: &str) -> Result<Option<ProjectRecord>, StorageError> {
        on_backend!(self, b => b.project(id).await)
    }

    async fn is_member(&self, project: &str, user: &str) -> Result<bool, StorageError> {
        on_backend!(self, b => b.is_member(project, user).await)
    }

    async fn put_group(&self, id: &str, project: &str) -> Result<GroupRecord, StorageError> {
        on_backend!(self, b => b.put_group(id, project).await)
    }

    async fn group(&self, id: &str) -> Result<Option<GroupRecord>, StorageError> {
        on_backend!(self, b => b.group(id).await)
    }

    async fn has_group(&self, id: &str) -> Result<bool, StorageError> {
        on_backend!(self, b => b.has_group(id).await)
    }

    async fn reset_watermarks(
        &self,
        group: &str,
        integration: Option<&str>,
    ) -> Result<Option<Vec<String>>, StorageError> {
        on_backend!(self, b => b.reset_watermarks(group, integration).await)
    }

    async fn link(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<(), StorageError> {
        on_backend!(self, b => b.link(group, integration, issue_key).await)
    }

    async fn unlink(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<bool, StorageError> {
        on_backend!(self, b => b.unlink(group, integration, issue_key).await)
    }

    async fn has_links(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        on_backend!(self, b => b.has_links(integration, issue_key).await)
    }

    async fn has_move(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        on_backend!(self, b => b.has_move(integration, issue_key).await)
    }

    async fn is_tracked(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        on_backend!(self, b => b.is_tracked(integration, issue_key).await)
    }

    async fn linked_groups(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> Result<Vec<String>, StorageError> {
        on_backend!(self, b => Tracker::linked_groups(b, integration, issue_key).await)
    }

    async fn import_links(&self, items: &[ImportLink]) -> Result<ImportCounts, StorageError> {
        on_backend!(self, b => b.import_links(items).await)
    }
}

impl Inbox for Storage {
    type Batch<'a> = StorageBatch<'a>;

    async fn accept(
        &self,
        integration: &str,
        received_ms: i64,
        body: &[u8],
    ) -> Result<u64, StorageError> {
        on_backend!(self, b => b.accept(integration, received_ms, body).await)
    }

    async fn claim<'a>(
        &'a self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<StorageBatch<'a>, StorageError> {
        match self {
            Storage::Sled(b) => b.claim(limit, skip).await.map(StorageBatch::Sled),
            Storage::Postgres(b) => b.claim(limit, skip).await.map(StorageBatch::Postgres),
        }
    }

    async fn pending_for(&self, integration: &str) -> Result<Vec<InboxEntry>, StorageError> {
        on_backend!(self, b => b.pending_for(integration).await)
    }

    async fn pending_count(&self) -> Result<usize, StorageError> {
        on_backend!(self, b => b.pending_count().await)
    }

    fn next_retry_ms(&self) -> Option<i64> {
        on_backend!(self, b => b.next_retry_ms())
    }

    async fn due_integrations(
        &self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<String>, StorageError> {
        on_backend!(self, b => b.due_integrations(limit, skip).await)
    }

    fn worker_lanes(&self) -> usize {
        on_backend!(self, b => b.worker_lanes())
    }

    fn wake(&self) -> Arc<Notify> {
        on_backend!(self, b => b.wake())
    }
}

impl DeadLetters for Storage {
    async fn dead_letters(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetterRecord>, StorageError> {
        on_backend!(self, b => b.dead_letters(integration, limit).await)
    }

    async fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> Result<Option<DeadLetterRecord>, StorageError> {
        on_backend!(self, b => b.dead_letter(integration, seq).await)
    }

    async fn remove_dead_letter(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        on_backend!(self, b => b.remove_dead_letter(integration, seq).await)
    }
}

impl DeliveryLog for Storage {
    async fn put_delivery(
        &self,
        integration: &str,
        seq: u64,
        rec: &DeliveryRecord,
    ) -> Result<(), StorageError> {
        on_backend!(self, b => b.put_delivery(integration, seq, rec).await)
    }

    async fn deliveries(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<(u64, DeliveryRecord)>, StorageError> {
        on_backend!(self, b => b.deliveries(integration, limit).await)
    }

    async fn prune_deliveries(
        &self,
        integration: &str,
        keep: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        on_backend!(self, b => b.prune_deliveries(integration, keep, limit).await)
    }

    async fn delivery_is_final(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        on_backend!(self, b => b.delivery_is_final(integration, seq).await)
    }
}

impl StorageBackend for Storage {
    async fn durable(&self) -> Result<(), StorageError> {
        on_backend!(self, b => b.durable().await)
    }
}
