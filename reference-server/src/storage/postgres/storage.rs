//! [`PgStorage`]: the storage traits on PostgreSQL, and what its parts share (the handle, the
//! id conversions, error mapping, transactions on a pooled connection).
//!
//! Every write is committed before its method returns, so [`StorageBackend::durable`] returns
//! at once. Statements are prepared once per connection (`prepare_cached`); values are always
//! parameters. A failed statement, a lost connection or a pool timeout is a
//! [`StorageError::Backend`] naming what failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use deadpool_postgres::{ClientWrapper, Object};
use tokio::sync::Notify;
use tokio_postgres::types::ToSql;

use super::Pg;
use super::generations::{Generations, STALE_AFTER};
use super::intake::Intake;
use super::link_keys::LinkKeys;
use crate::metrics::Metrics;
use crate::storage::Inbox as _;
use crate::storage::{StorageBackend, StorageError};

/// How often the worker is woken to look for deliveries other replicas accepted, and the
/// cache generations are read ([`super::generations`]).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often the tick sets the inbox-depth gauge from the shared inbox (`count(*)`).
pub const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// The PostgreSQL backend (cheap to clone: the pool, the wake-up and the caches are shared).
#[derive(Debug, Clone)]
pub struct PgStorage {
    pub(super) pg: Pg,
    pub(super) wake: Arc<Notify>,
    pub(super) rollbacks: Arc<Rollbacks>,
    pub(super) generations: Arc<Generations>,
    pub(super) link_keys: Arc<LinkKeys>,
    pub(super) intake: Intake,
    pub(super) inbox_limit: Arc<InboxLimit>,
}

/// `--inbox-max-mb` on PostgreSQL: the bytes of the bodies in the shared inbox, read by the
/// tick every [`DEPTH_EVERY`] and counted up by this replica's accepts in between.
#[derive(Debug, Default)]
pub(super) struct InboxLimit {
    /// The limit in bytes (0: none).
    pub(super) max: AtomicU64,
    /// Bytes of the inbox's bodies, as last read plus what this replica accepted since.
    pub(super) used: AtomicU64,
}

impl InboxLimit {
    /// Why a delivery is refused now, if it is.
    pub(super) fn refusal(&self) -> Option<String> {
        let max = self.max.load(Ordering::Relaxed);
        let used = self.used.load(Ordering::Relaxed);
        (max > 0 && used >= max).then(|| {
            format!(
                "the inbox holds {} MiB of deliveries, at its limit of {} MiB (--inbox-max-mb): deliveries are refused until the worker applies some; check why they are not applied (a paused integration, Jira unreachable) or raise --inbox-max-mb",
                used >> 20,
                max >> 20
            )
        })
    }
}

/// Batches dropped without `finish` whose `ROLLBACK` is still running: a claim waits for them,
/// so that a dropped batch's rows are claimable again as soon as it is gone.
#[derive(Debug, Default)]
pub(super) struct Rollbacks {
    pub(super) running: AtomicUsize,
    pub(super) done: Notify,
}

impl Rollbacks {
    pub(super) async fn wait(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            done.await;
        }
    }
}

/// The backend's background task: the tick that wakes the worker and reads the cache
/// generations.
#[derive(Debug)]
pub struct PgTasks {
    tick: tokio::task::JoinHandle<()>,
}

impl PgTasks {
    /// Stops the tick. Nothing to flush: every write was committed.
    pub async fn stop(self) -> Result<(), StorageError> {
        self.tick.abort();
        let _ = self.tick.await;
        Ok(())
    }
}

impl PgStorage {
    /// The storage on a connected, migrated database ([`super::connect`]); starts the tick on
    /// the current tokio runtime.
    pub fn new(pg: Pg, metrics: Arc<Metrics>, faults: &crate::app::Faults) -> (Self, PgTasks) {
        let intake = Intake::start(&pg, &metrics, faults);
        let storage = Self {
            pg,
            wake: Arc::new(Notify::new()),
            rollbacks: Arc::default(),
            generations: Arc::default(),
            link_keys: Arc::default(),
            intake,
            inbox_limit: Arc::default(),
        };
        let this = storage.clone();
        let tick = tokio::spawn(async move {
            let mut every = tokio::time::interval(POLL_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            let mut depth_read = None::<std::time::Instant>;
            loop {
                every.tick().await;
                this.wake.notify_one();
                if depth_read.is_none_or(|t| t.elapsed() >= DEPTH_EVERY) {
                    depth_read = Some(std::time::Instant::now());
                    if let Ok(Ok(n)) = tokio::time::timeout(STALE_AFTER, this.pending_count()).await
                    {
                        metrics.inbox_set(i64::try_from(n).unwrap_or(i64::MAX));
                    }
                    if this.inbox_limit.max.load(Ordering::Relaxed) > 0
                        && let Ok(Ok(bytes)) =
                            tokio::time::timeout(STALE_AFTER, this.inbox_bytes()).await
                    {
                        this.inbox_limit.used.store(bytes, Ordering::Relaxed);
                    }
                }
                let read = tokio::time::timeout(STALE_AFTER, this.read_generations()).await;
                match read {
                    Ok(Ok(())) if failing => {
                        failing = false;
                        tracing::info!("reading the cache generations works again");
                    }
                    Ok(Err(e)) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "reading the cache generations failed; every lookup goes to the database until it works");
                    }
                    Err(_) if !failing => {
                        failing = true;
                        tracing::warn!(
                            "reading the cache generations timed out; every lookup goes to the database until it works"
                        );
                    }
                    _ => {}
                }
            }
        });
        (storage, PgTasks { tick })
    }

    /// Sets `--inbox-max-mb` in bytes (0: no limit); read at once.
    pub async fn set_inbox_max_bytes(&self, max: u64) {
        self.inbox_limit.max.store(max, Ordering::Relaxed);
        if max > 0
            && let Ok(bytes) = self.inbox_bytes().await
        {
            self.inbox_limit.used.store(bytes, Ordering::Relaxed);
        }
    }

    /// Bytes of the bodies in the inbox.
    async fn inbox_bytes(&self) -> Result<u64, StorageError> {
        let c = self.conn().await?;
        let n: i64 = query(
            &c,
            "measuring the inbox",
            "SELECT coalesce(sum(octet_length(body)), 0)::bigint FROM inbox",
            &[],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .unwrap_or_default();
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// `Ok` when the database answers `SELECT 1` within [`READY_WITHIN`] and the inbox is
    /// below `--inbox-max-mb`; otherwise why not.
    pub async fn readiness(&self) -> Result<(), String> {
        if let Some(refusal) = self.inbox_limit.refusal() {
            return Err(refusal);
        }
        let ping = async {
            let c = self.conn().await?;
            query(&c, "checking the database", "SELECT 1", &[]).await
        };
        match tokio::time::timeout(READY_WITHIN, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the database does not answer: {e}")),
            Err(_) => Err(format!(
                "the database did not answer within {} s ({})",
                READY_WITHIN.as_secs(),
                self.pg.url().describe()
            )),
        }
    }

    /// The database handle.
    pub fn pg(&self) -> &Pg {
        &self.pg
    }

    /// A pooled connection.
    pub(super) async fn conn(&self) -> Result<Object, StorageError> {
        self.pg.conn().await
    }
}

impl StorageBackend for PgStorage {
    async fn durable(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// A [`StorageError::Backend`] with this message.
pub(super) fn backend(msg: String) -> StorageError {
    StorageError::Backend(msg.into())
}

/// Maps a database error: `what` says which operation failed.
pub(super) fn db(what: &str) -> impl FnOnce(tokio_postgres::Error) -> StorageError + '_ {
    move |e| backend(format!("PostgreSQL: {what}: {}", super::error_chain(&e)))
}

/// Maps a JSON error: `what` says which record.
pub(super) fn json(what: &str) -> impl FnOnce(serde_json::Error) -> StorageError + '_ {
    move |e| backend(format!("PostgreSQL: {what}: {e}"))
}

/// An integration id as stored (bigint), when `id` is one the backend can hold: the decimal
/// form of a non-negative bigint, written canonically (so that ids compare as strings do).
pub(super) fn int_id(id: &str) -> Option<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && n.to_string() == id)
}

/// [`int_id`] for a write: an id the backend cannot hold is an error.
pub(super) fn int_id_w(id: &str) -> Result<i64, StorageError> {
    int_id(id).ok_or_else(|| {
        backend(format!(
            "PostgreSQL: integration id {id:?} is not a decimal number (this backend keeps integration ids as bigint)"
        ))
    })
}

/// A u64 (sequence number, changelog id) as bigint.
pub(super) fn to_i64(what: &str, n: u64) -> Result<i64, StorageError> {
    i64::try_from(n).map_err(|_| backend(format!("PostgreSQL: {what} {n} does not fit in bigint")))
}

/// A bigint read back as u64.
pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// Runs a prepared statement, returning the number of rows.
pub(super) async fn exec(
    c: &ClientWrapper,
    what: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StorageError> {
    let st = c.prepare_cached(sql).await.map_err(db(what))?;
    c.execute(&st, params).await.map_err(db(what))
}

/// How long [`PgStorage::readiness`] waits for the database.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// Runs a prepared query, returning its rows.
pub(super) async fn query(
    c: &ClientWrapper,
    what: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, StorageError> {
    let st = c.prepare_cached(sql).await.map_err(db(what))?;
    c.query(&st, params).await.map_err(db(what))
}

/// Runs a prepared query returning at most one row.
pub(super) async fn query_opt(
    c: &ClientWrapper,
    what: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, StorageError> {
    let st = c.prepare_cached(sql).await.map_err(db(what))?;
    c.query_opt(&st, params).await.map_err(db(what))
}

/// A transaction on a pooled connection: [`Tx::begin`], statements through `Deref`,
/// [`Tx::commit`]. Dropped without `commit` (an error on the way), the connection is closed
/// instead of going back to the pool, which rolls the transaction back.
pub(super) struct Tx {
    conn: Option<Object>,
}

impl Tx {
    /// `BEGIN` on `conn`.
    pub(super) async fn begin(conn: Object, what: &str) -> Result<Self, StorageError> {
        conn.batch_execute("BEGIN").await.map_err(db(what))?;
        Ok(Self { conn: Some(conn) })
    }

    /// `COMMIT`.
    pub(super) async fn commit(mut self, what: &str) -> Result<(), StorageError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| backend(format!("PostgreSQL: {what}: no transaction")))?;
        match conn.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                drop(Object::take(conn));
                Err(db(what)(e))
            }
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = ClientWrapper;

    fn deref(&self) -> &ClientWrapper {
        self.conn
            .as_ref()
            .expect("a transaction's connection until commit")
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

/// `to_char` format of the RFC 3339 times the records keep (crate::time::rfc3339_ms).
pub(super) const RFC3339_MS: &str = r#"YYYY-MM-DD"T"HH24:MI:SS.MS"Z""#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_ids_are_canonical_non_negative_decimals() {
        assert_eq!(int_id("1"), Some(1));
        assert_eq!(int_id("9223372036854775807"), Some(i64::MAX));
        for not in [
            "",
            "01",
            "+1",
            "-1",
            " 1",
            "1a",
            "none",
            "9223372036854775808",
        ] {
            assert_eq!(int_id(not), None, "{not:?}");
        }
        assert!(int_id_w("none").is_err());
    }
}
