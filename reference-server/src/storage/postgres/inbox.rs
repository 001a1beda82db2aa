//! [`Inbox`] and [`DeliveryLog`] on PostgreSQL: the `inbox` table is the queue, `delivery_log`
//! the outcomes.
//!
//! `accept` is committed before it returns, in a group commit with the deliveries accepted at the
//! same time ([`super::intake`]). `claim` opens a transaction on a
//! pooled connection and locks the oldest rows (`FOR UPDATE SKIP LOCKED`, so replicas claim
//! disjoint rows); the [`PgBatch`] owns that connection: the sync's reads and commits run in
//! its transaction (each `commit` under a savepoint), `retry_later` writes the `pending` log
//! row in it, and `finish` writes the final log rows (one statement), deletes the done inbox rows and commits,
//! all at once. Dropped without `finish`, the batch rolls back: its rows are claimable again.
//! The worker is woken by local accepts and every [`POLL_INTERVAL`](super::POLL_INTERVAL) (for
//! other replicas' deliveries); there is no `NOTIFY`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use assignee_sync::{
    Installation, IntegrationId, IssueKey, KeyMove, LinkedGroup, MutationResult, Plan, ProjectId,
    UserId,
};
use deadpool_postgres::{ClientWrapper, Object};
use tokio::sync::Notify;

use super::link_keys::LinkKeys;
use super::storage::{
    PgStorage, RFC3339_MS, Rollbacks, backend, db, exec, int_id, int_id_w, json, query, query_opt,
    to_i64, to_u64,
};
use super::sync;
use crate::storage::records::{DeadLetterRecord, DeliveryRecord, DeliveryState, RetryRecord};
use crate::storage::{DeadLetters, DeliveryLog, Inbox, InboxBatch, InboxEntry, StorageError};

/// The integrations with rows in the inbox, as `ids(id)` (its last row is a `NULL`): a loose
/// scan of the `(integration_id, seq)` index, one index probe per integration. The claims and
/// the worker's scan for due integrations run it on every wake-up; a `DISTINCT` or `GROUP BY`
/// over the whole table there read every pending delivery each time, which under a backlog of
/// tens of thousands of deliveries took most of PostgreSQL's CPU (BENCHMARKS.md).
const INTEGRATIONS_IN_INBOX: &str = "WITH RECURSIVE ids(id) AS ( \
       SELECT min(integration_id) FROM inbox \
       UNION ALL \
       SELECT (SELECT min(integration_id) FROM inbox WHERE integration_id > ids.id) \
       FROM ids WHERE ids.id IS NOT NULL)";

fn state_str(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Pending => "pending",
        DeliveryState::Applied => "applied",
        DeliveryState::Ignored => "ignored",
        DeliveryState::Failed => "failed",
    }
}

fn parse_state(s: &str) -> DeliveryState {
    match s {
        "applied" => DeliveryState::Applied,
        "ignored" => DeliveryState::Ignored,
        "failed" => DeliveryState::Failed,
        _ => DeliveryState::Pending,
    }
}

/// Writes (or replaces) one delivery-log row.
async fn put_delivery_on(
    c: &ClientWrapper,
    integration: &str,
    seq: u64,
    rec: &DeliveryRecord,
) -> Result<(), StorageError> {
    put_deliveries_on(c, &[(integration, seq, rec)]).await
}

/// Writes (or replaces) delivery-log rows, all in one statement.
async fn put_deliveries_on(
    c: &ClientWrapper,
    rows: &[(&str, u64, &DeliveryRecord)],
) -> Result<(), StorageError> {
    let n = rows.len();
    let (
        mut ids,
        mut seqs,
        mut received,
        mut events,
        mut keys,
        mut states,
        mut reasons,
        mut outcomes,
    ) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (integration, seq, rec) in rows {
        ids.push(int_id_w(integration)?);
        seqs.push(to_i64("sequence number", *seq)?);
        received.push(rec.received_at.as_str());
        events.push(rec.event.as_deref());
        keys.push(rec.issue_key.as_deref());
        states.push(state_str(rec.state));
        reasons.push(rec.reason.as_deref());
        outcomes.push(serde_json::to_string(&rec.outcomes).map_err(json("delivery outcomes"))?);
    }
    exec(
        c,
        "writing delivery-log entries",
        "INSERT INTO delivery_log (integration_id, seq, received_at, event, issue_key, state, \
         reason, outcomes) \
         SELECT i, s, r::timestamptz, e, k, st, re, o::jsonb FROM unnest($1::bigint[], \
           $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) \
           AS d(i, s, r, e, k, st, re, o) \
         ON CONFLICT (integration_id, seq) DO UPDATE SET received_at = EXCLUDED.received_at, \
         event = EXCLUDED.event, issue_key = EXCLUDED.issue_key, state = EXCLUDED.state, \
         reason = EXCLUDED.reason, outcomes = EXCLUDED.outcomes",
        &[
            &ids, &seqs, &received, &events, &keys, &states, &reasons, &outcomes,
        ],
    )
    .await
    .map(drop)
}

fn entry(r: &tokio_postgres::Row) -> InboxEntry {
    InboxEntry {
        seq: to_u64(r.get(0)),
        integration_id: r.get(1),
        received_ms: r.get(2),
        body: r.get(3),
    }
}

impl Inbox for PgStorage {
    type Batch<'a> = PgBatch;

    async fn accept(
        &self,
        integration: &str,
        received_ms: i64,
        body: &[u8],
    ) -> Result<u64, StorageError> {
        if let Some(refusal) = self.inbox_limit.refusal() {
            return Err(backend(refusal));
        }
        let id = int_id_w(integration)?;
        let seq = self.intake.accept(id, received_ms, body).await?;
        self.inbox_limit
            .used
            .fetch_add(body.len() as u64, std::sync::atomic::Ordering::Relaxed);
        self.wake.notify_one();
        Ok(seq)
    }

    async fn claim<'a>(
        &'a self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<PgBatch, StorageError> {
        let what = "claiming inbox entries";
        self.rollbacks.wait().await;
        let conn = self.conn().await?;
        // The integrations to claim from: those with pending entries that `skip` does not name.
        // Only these: an integration whose first delivery lands after this read is left for the
        // next claim, as `skip` was not asked about it (a lane claims only its own).
        let ids: Vec<String> = query(
            &conn,
            what,
            &format!("{INTEGRATIONS_IN_INBOX} SELECT id::text FROM ids WHERE id IS NOT NULL"),
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        let allowed: Vec<i64> = ids
            .iter()
            .filter(|i| !skip(i))
            .filter_map(|i| int_id(i))
            .collect();
        if allowed.is_empty() {
            return Ok(PgBatch::empty(&self.rollbacks, &self.link_keys));
        }
        conn.batch_execute("BEGIN").await.map_err(db(what))?;
        let mut batch = PgBatch::empty(&self.rollbacks, &self.link_keys);
        batch.conn = Some(Box::new(conn));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = query(
            batch.client()?,
            what,
            "SELECT seq, integration_id::text, received_ms, body FROM inbox \
             WHERE integration_id = ANY($1) AND not_before <= now() \
             AND (claimed_until IS NULL OR claimed_until < now()) \
             ORDER BY seq FOR UPDATE SKIP LOCKED LIMIT $2",
            &[&allowed, &limit],
        )
        .await?;
        batch.entries = rows.iter().map(entry).collect();
        if batch.entries.is_empty() {
            // Nothing claimed: end the transaction now and give the connection back.
            if let Some(conn) = batch.conn.take() {
                conn.batch_execute("COMMIT").await.map_err(db(what))?;
            }
        }
        Ok(batch)
    }

    async fn pending_for(&self, integration: &str) -> Result<Vec<InboxEntry>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(Vec::new());
        };
        let c = self.conn().await?;
        Ok(query(
            &c,
            "reading pending deliveries",
            "SELECT seq, integration_id::text, received_ms, body FROM inbox \
             WHERE integration_id = $1 ORDER BY seq DESC",
            &[&id],
        )
        .await?
        .iter()
        .map(entry)
        .collect())
    }

    async fn pending_count(&self) -> Result<usize, StorageError> {
        let c = self.conn().await?;
        let n: i64 = query(
            &c,
            "counting pending deliveries",
            "SELECT count(*) FROM inbox",
            &[],
        )
        .await?
        .first()
        .map(|r| r.get(0))
        .unwrap_or_default();
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn due_integrations(
        &self,
        limit: usize,
        skip: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<String>, StorageError> {
        let c = self.conn().await?;
        let rows = query(
            &c,
            "listing integrations with deliveries to apply",
            &format!(
                "{INTEGRATIONS_IN_INBOX} SELECT ids.id::text FROM ids CROSS JOIN LATERAL ( \
                   SELECT seq FROM inbox i WHERE i.integration_id = ids.id \
                   AND i.not_before <= now() \
                   AND (i.claimed_until IS NULL OR i.claimed_until < now()) \
                   ORDER BY seq LIMIT 1) AS first \
                 WHERE ids.id IS NOT NULL ORDER BY first.seq"
            ),
            &[],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .filter(|i| !skip(i))
            .take(limit)
            .collect())
    }

    fn worker_lanes(&self) -> usize {
        // A lane's batch holds a connection; leave as many for the reads beside it.
        (self.pg.pool().status().max_size / 2).clamp(1, 8)
    }

    fn next_retry_ms(&self) -> Option<i64> {
        // The backend's tick wakes the worker every POLL_INTERVAL; claims compare
        // `not_before` with the database's clock.
        None
    }

    fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

fn dead_letter_row(r: &tokio_postgres::Row) -> DeadLetterRecord {
    DeadLetterRecord {
        seq: to_u64(r.get(0)),
        integration_id: r.get(1),
        received_ms: r.get(2),
        event: r.get(3),
        issue_key: r.get(4),
        attempts: u32::try_from(r.get::<_, i32>(5)).unwrap_or_default(),
        first_failure_ms: r.get(6),
        dead_ms: r.get(7),
        last_error: r.get(8),
        body: r.get(9),
    }
}

const DEAD_LETTER_COLUMNS: &str = "seq, integration_id::text, received_ms, event, issue_key, \
     attempts, first_failed_ms, dead_ms, last_error, body";

impl DeadLetters for PgStorage {
    async fn dead_letters(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetterRecord>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        Ok(query(
            &c,
            "reading dead letters",
            &format!(
                "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE integration_id = $1 \
                 ORDER BY seq DESC LIMIT $2"
            ),
            &[&id, &limit],
        )
        .await?
        .iter()
        .map(dead_letter_row)
        .collect())
    }

    async fn dead_letter(
        &self,
        integration: &str,
        seq: u64,
    ) -> Result<Option<DeadLetterRecord>, StorageError> {
        let (Some(id), Ok(seq)) = (int_id(integration), i64::try_from(seq)) else {
            return Ok(None);
        };
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading a dead letter",
            &format!(
                "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
                 WHERE integration_id = $1 AND seq = $2"
            ),
            &[&id, &seq],
        )
        .await?
        .as_ref()
        .map(dead_letter_row))
    }

    async fn remove_dead_letter(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        let (Some(id), Ok(seq)) = (int_id(integration), i64::try_from(seq)) else {
            return Ok(false);
        };
        let c = self.conn().await?;
        let n = exec(
            &c,
            "removing a dead letter",
            "DELETE FROM dead_letters WHERE integration_id = $1 AND seq = $2",
            &[&id, &seq],
        )
        .await?;
        Ok(n > 0)
    }
}

/// A claimed batch: a pooled connection with an open transaction holding the claimed rows'
/// locks (see the module docs).
#[derive(Debug)]
pub struct PgBatch {
    /// Boxed: a pooled connection is large, and [`StorageBatch`](crate::storage::StorageBatch)
    /// holds a batch inline.
    conn: Option<Box<Object>>,
    entries: Vec<InboxEntry>,
    done: Vec<(usize, DeliveryRecord)>,
    /// A statement of the transaction failed (PostgreSQL then refuses the rest of it):
    /// `finish` rolls back and reports it.
    failed: AtomicBool,
    /// A plan moved links to a new issue key: the replica's linked-key sets are out of date
    /// once the batch commits.
    relinked: AtomicBool,
    rollbacks: Arc<Rollbacks>,
    link_keys: Arc<LinkKeys>,
}

impl PgBatch {
    /// A batch that claimed nothing (and holds no connection).
    fn empty(rollbacks: &Arc<Rollbacks>, link_keys: &Arc<LinkKeys>) -> Self {
        Self {
            conn: None,
            entries: Vec::new(),
            done: Vec::new(),
            failed: AtomicBool::new(false),
            relinked: AtomicBool::new(false),
            rollbacks: Arc::clone(rollbacks),
            link_keys: Arc::clone(link_keys),
        }
    }

    /// Marks the batch failed when `result` is an error.
    fn track<T>(&self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if result.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        result
    }

    fn client(&self) -> Result<&ClientWrapper, StorageError> {
        self.conn
            .as_deref()
            .map(|o| &**o)
            .ok_or_else(|| backend("PostgreSQL: the batch's transaction has ended".into()))
    }
}

impl Drop for PgBatch {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let rollbacks = Arc::clone(&self.rollbacks);
                rollbacks.running.fetch_add(1, Ordering::AcqRel);
                rt.spawn(async move {
                    if conn.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(*conn));
                    } else {
                        drop(conn);
                    }
                    rollbacks.running.fetch_sub(1, Ordering::AcqRel);
                    rollbacks.done.notify_waiters();
                });
            }
            // No runtime to roll back on: close the connection, the server rolls back.
            Err(_) => drop(Object::take(*conn)),
        }
    }
}

impl assignee_sync::Store for PgBatch {
    type Error = StorageError;

    async fn installations(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<Installation>, StorageError> {
        self.track(sync::installations(self.client()?, integration).await)
    }

    async fn linked_groups(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Vec<LinkedGroup>, StorageError> {
        self.track(sync::linked_groups(self.client()?, integration, key).await)
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<UserId>, StorageError> {
        self.track(sync::users_by_verified_email(self.client()?, email).await)
    }

    async fn mapped_user(
        &self,
        integration: &IntegrationId,
        jira_user: &str,
    ) -> Result<Option<UserId>, StorageError> {
        self.track(sync::mapped_user(self.client()?, integration, jira_user).await)
    }

    async fn is_project_member(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<bool, StorageError> {
        self.track(sync::is_project_member(self.client()?, project, user).await)
    }

    async fn moved_to(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Option<KeyMove>, StorageError> {
        self.track(sync::moved_to(self.client()?, integration, key).await)
    }

    async fn commit(&self, plan: &Plan) -> Result<Vec<MutationResult>, StorageError> {
        let what = "committing a sync plan in the batch";
        let c = self.client()?;
        // A savepoint per plan: a failed plan is undone alone and the batch goes on.
        self.track(c.batch_execute("SAVEPOINT plan").await.map_err(db(what)))?;
        match sync::commit_in(c, plan).await {
            Ok(results) => {
                self.track(
                    c.batch_execute("RELEASE SAVEPOINT plan")
                        .await
                        .map_err(db(what)),
                )?;
                if plan.relink.is_some() {
                    self.relinked.store(true, Ordering::Relaxed);
                }
                Ok(results)
            }
            Err(e) => {
                self.track(
                    c.batch_execute("ROLLBACK TO SAVEPOINT plan")
                        .await
                        .map_err(db(what)),
                )?;
                Err(e)
            }
        }
    }
}

impl InboxBatch for PgBatch {
    fn entries(&self) -> &[InboxEntry] {
        &self.entries
    }

    fn done(&mut self, index: usize, record: DeliveryRecord) {
        if index < self.entries.len() {
            self.done.push((index, record));
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
        let c = self.client()?;
        let result = put_delivery_on(c, &entry.integration_id, entry.seq, &record).await;
        self.track(result)?;
        let seq = to_i64("sequence number", entry.seq)?;
        let attempts = i32::try_from(retry.attempts).unwrap_or(i32::MAX);
        let result = exec(
            c,
            "recording a delivery's retry state",
            "UPDATE inbox SET attempts = $2, last_error = $3, first_failed_ms = $4, \
             not_before = to_timestamp($5::bigint / 1000.0) WHERE seq = $1",
            &[
                &seq,
                &attempts,
                &retry.last_error,
                &retry.first_failure_ms,
                &retry.next_attempt_ms,
            ],
        )
        .await
        .map(drop);
        self.track(result)
    }

    async fn retry_state(&self, index: usize) -> Result<Option<RetryRecord>, StorageError> {
        let Some(entry) = self.entries.get(index) else {
            return Ok(None);
        };
        let seq = to_i64("sequence number", entry.seq)?;
        let row = query_opt(
            self.client()?,
            "reading a delivery's retry state",
            "SELECT attempts, first_failed_ms, \
             (extract(epoch FROM not_before) * 1000)::bigint, coalesce(last_error, '') \
             FROM inbox WHERE seq = $1 AND attempts > 0 AND first_failed_ms IS NOT NULL",
            &[&seq],
        )
        .await;
        Ok(self.track(row)?.map(|r| RetryRecord {
            attempts: u32::try_from(r.get::<_, i32>(0)).unwrap_or_default(),
            first_failure_ms: r.get(1),
            next_attempt_ms: r.get(2),
            last_error: r.get(3),
        }))
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
        let id = int_id_w(&letter.integration_id)?;
        let seq = to_i64("sequence number", letter.seq)?;
        let attempts = i32::try_from(letter.attempts).unwrap_or(i32::MAX);
        let result = exec(
            self.client()?,
            "storing a dead letter",
            "INSERT INTO dead_letters (integration_id, seq, received_ms, event, issue_key, \
             attempts, first_failed_ms, dead_ms, last_error, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (integration_id, seq) DO UPDATE SET attempts = EXCLUDED.attempts, \
             first_failed_ms = EXCLUDED.first_failed_ms, dead_ms = EXCLUDED.dead_ms, \
             last_error = EXCLUDED.last_error",
            &[
                &id,
                &seq,
                &letter.received_ms,
                &letter.event,
                &letter.issue_key,
                &attempts,
                &letter.first_failure_ms,
                &letter.dead_ms,
                &letter.last_error,
                &letter.body,
            ],
        )
        .await
        .map(drop);
        self.track(result)?;
        self.done(index, record);
        Ok(())
    }

    async fn finish(mut self) -> Result<(), StorageError> {
        let what = "finishing a batch";
        if self.failed.load(Ordering::Relaxed) {
            return Err(backend(format!(
                "PostgreSQL: {what}: a statement of the batch's transaction failed; rolled back, its deliveries stay pending"
            )));
        }
        if self.entries.is_empty() {
            return Ok(());
        }
        let c = self.client()?;
        let mut seqs = Vec::with_capacity(self.done.len());
        let mut log = Vec::with_capacity(self.done.len());
        for (index, record) in &self.done {
            let Some(entry) = self.entries.get(*index) else {
                continue;
            };
            log.push((entry.integration_id.as_str(), entry.seq, record));
            seqs.push(to_i64("sequence number", entry.seq)?);
        }
        if !log.is_empty() {
            put_deliveries_on(c, &log).await?;
        }
        exec(c, what, "DELETE FROM inbox WHERE seq = ANY($1)", &[&seqs]).await?;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| backend(format!("PostgreSQL: {what}: no transaction")))?;
        match conn.batch_execute("COMMIT").await {
            Ok(()) => {
                if self.relinked.load(Ordering::Relaxed) {
                    self.link_keys.wrote();
                }
                Ok(())
            }
            Err(e) => {
                drop(Object::take(*conn));
                Err(db(what)(e))
            }
        }
    }
}

impl DeliveryLog for PgStorage {
    async fn put_delivery(
        &self,
        integration: &str,
        seq: u64,
        rec: &DeliveryRecord,
    ) -> Result<(), StorageError> {
        put_delivery_on(&*self.conn().await?, integration, seq, rec).await
    }

    async fn deliveries(
        &self,
        integration: &str,
        limit: usize,
    ) -> Result<Vec<(u64, DeliveryRecord)>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        query(
            &c,
            "reading the delivery log",
            &format!(
                "SELECT seq, to_char(received_at AT TIME ZONE 'UTC', '{RFC3339_MS}'), event, \
                 issue_key, state, reason, outcomes::text FROM delivery_log \
                 WHERE integration_id = $1 ORDER BY seq DESC LIMIT $2"
            ),
            &[&id, &limit],
        )
        .await?
        .iter()
        .map(|r| {
            let state: String = r.get(4);
            let outcomes: String = r.get(6);
            Ok((
                to_u64(r.get(0)),
                DeliveryRecord {
                    received_at: r.get(1),
                    event: r.get(2),
                    issue_key: r.get(3),
                    state: parse_state(&state),
                    reason: r.get(5),
                    outcomes: serde_json::from_str(&outcomes).map_err(json("delivery outcomes"))?,
                },
            ))
        })
        .collect()
    }

    async fn prune_deliveries(
        &self,
        integration: &str,
        keep: u64,
        limit: usize,
    ) -> Result<usize, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(0);
        };
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.conn().await?;
        let n = exec(
            &c,
            "pruning the delivery log",
            "DELETE FROM delivery_log WHERE integration_id = $1 AND seq IN ( \
               SELECT seq FROM ( \
                 SELECT seq FROM delivery_log WHERE integration_id = $1 \
                 ORDER BY seq DESC OFFSET $2) AS old \
               ORDER BY seq LIMIT $3)",
            &[&id, &keep, &limit],
        )
        .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn delivery_is_final(&self, integration: &str, seq: u64) -> Result<bool, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(false);
        };
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(false);
        };
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading a delivery-log entry",
            "SELECT 1 FROM delivery_log WHERE integration_id = $1 AND seq = $2 AND state <> 'pending'",
            &[&id, &seq],
        )
        .await?
        .is_some())
    }
}
