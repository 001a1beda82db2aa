//! Background worker: applies inbox entries through `assignee-sync`, each integration's in
//! arrival order.
//!
//! The worker runs one *lane* per integration with entries to apply (at most
//! [`crate::storage::Inbox::worker_lanes`] at once: 8 on sled, half the connection pool on
//! PostgreSQL), as local tasks on its thread: a lane claims only its integration's entries, so
//! an integration whose Jira is slow (up to the Jira client's timeout per call) holds up only
//! its own lane while the others go on.
//!
//! For each entry: read its stored form ([`crate::storage::stored::read`]), build an
//! [`assignee_sync::InboundEvent`] (status categories from the cached `GET /rest/api/2/status`,
//! refreshed when an id is unknown; hidden e-mails resolved through the user mapping, then
//! Jira's user API) and run [`assignee_sync::sync_inbound`] on the claimed batch (the
//! storage's unit of work, [`crate::storage::InboxBatch`]). After each batch, the batch is
//! finished: the processed entries are written to the delivery log (on the embedded backend
//! one chunk per integration) and removed from the inbox; a crash before that applies them
//! again on start, where the group watermarks make them duplicates. When Jira is needed
//! and unreachable, the entry stays in the inbox and is retried on its own with exponential
//! backoff and jitter (1 s doubling to 60 s), while later entries, of the same integration too,
//! go on (the groups' watermarks skip an older change that arrives after a newer one, so
//! per-group order holds). Its retry state (attempts, first failure, next attempt, last
//! error) is stored with it and survives a restart. After `--retry-max-attempts` attempts or
//! `--retry-max-age-secs` since the first failure it moves to the dead letters, with its body
//! (`GET /api/v1/integrations/{id}/dead-letters`). After each batch the delivery log of its
//! integration is pruned to its newest `--delivery-log-keep` entries. The inbox is
//! replayed on start: anything acknowledged but not yet applied is applied then (sync is
//! idempotent, so an entry applied just before a crash is harmless to apply again).

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assignee_sync::{
    GroupResult, InboundEvent, JiraStatus as SyncStatus, JiraUser as SyncUser, OrderingKey,
    StatusCategory, SyncError, sync_inbound,
};
use jira_webhook_model::LeanEvent;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::AppState;
use crate::integration_jira::{Clients, LookupError};
use crate::storage::records::{
    DeadLetterRecord, DeliveryRecord, DeliveryState, GroupOutcomeRecord, IntegrationRecord,
    RetryRecord, StatusCategories,
};
use crate::storage::{
    DeliveryLog as _, Inbox as _, InboxBatch, InboxEntry, Integrations as _, Storage, StorageBatch,
    StorageError, Tracker as _,
};

const BATCH: usize = 256;
/// Most delivery log entries removed after one batch.
const PRUNE_BUDGET: usize = 4 * BATCH;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest time between two scans of the inbox for integrations without a lane.
const SCAN_EVERY: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_mins(1);

/// The wait before attempt `attempts + 1` of delivery `seq`: [`FIRST_BACKOFF`] doubling per
/// failed attempt up to [`MAX_BACKOFF`], then a random half of it taken off ("equal jitter"),
/// so that deliveries that failed together are not all retried in the same instant.
fn backoff(attempts: u32, seq: u64) -> Duration {
    use std::hash::BuildHasher as _;
    let exp = attempts.saturating_sub(1).min(16);
    let full = FIRST_BACKOFF.saturating_mul(1 << exp).min(MAX_BACKOFF);
    let half = full / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
    let random = std::collections::hash_map::RandomState::new().hash_one((seq, attempts));
    half + Duration::from_millis(random % half_ms)
}

/// When the worker gives up on a delivery that keeps failing (`--retry-max-attempts`,
/// `--retry-max-age-secs`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most attempts.
    pub max_attempts: u32,
    /// Longest time from the first failed attempt.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: crate::config::DEFAULT_RETRY_MAX_ATTEMPTS,
            max_age: Duration::from_secs(crate::config::DEFAULT_RETRY_MAX_AGE_SECS),
        }
    }
}

/// Why an entry must be retried later.
#[derive(Debug)]
struct Retry(String);

impl From<StorageError> for Retry {
    fn from(e: StorageError) -> Self {
        Retry(format!("storage error: {e}"))
    }
}

/// The worker.
#[derive(Debug)]
pub struct Worker {
    state: Arc<AppState>,
    clients: Clients,
}

impl Worker {
    /// A worker over the server's state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            state,
            clients: Clients::default(),
        }
    }

    /// Runs until `shutdown` turns true; finishes the entries in progress first. Must run
    /// inside a [`tokio::task::LocalSet`] (the lanes are local tasks).
    ///
    /// One lane per integration with deliveries to apply (at most
    /// [`crate::storage::Inbox::worker_lanes`] at once): each claims and applies only its
    /// integration's deliveries, so an integration whose Jira is slow holds up only its own
    /// lane. An entry that must wait for Jira is retried on its own (see [`RetryPolicy`]):
    /// later entries, of its integration too, keep flowing meanwhile. A lane that panics
    /// panics the worker (the server restarts it).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Rc::new(self);
        let storage = &this.state.storage;
        let wake = storage.wake();
        let max_lanes = storage.worker_lanes().max(1);
        let mut lanes: JoinSet<()> = JoinSet::new();
        let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut last_scan: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            while let Some(ended) = lanes.try_join_next_with_id() {
                running.remove(&lane_ended(ended));
            }
            // Under a stream of deliveries every accept wakes the worker; a running lane takes
            // its integration's new deliveries by itself, so while lanes run the inbox is
            // scanned for other integrations at most every SCAN_EVERY (at once when none runs or
            // one ends).
            let since = last_scan.map_or(SCAN_EVERY, |t| t.elapsed());
            if !lanes.is_empty()
                && let Some(wait) = SCAN_EVERY.checked_sub(since).filter(|w| !w.is_zero())
            {
                // A lane that ends meanwhile ends the wait: its integration may have more.
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    Some(ended) = lanes.join_next_with_id() => {
                        running.remove(&lane_ended(ended));
                    }
                    _ = shutdown.changed() => break,
                }
                while let Some(ended) = lanes.try_join_next_with_id() {
                    running.remove(&lane_ended(ended));
                }
            }
            if lanes.len() < max_lanes {
                last_scan = Some(Instant::now());
                let busy = |i: &str| running.values().any(|r| r == i);
                match storage
                    .due_integrations(max_lanes - lanes.len(), &busy)
                    .await
                {
                    Ok(due) => {
                        for integration in due {
                            let lane = Rc::clone(&this).lane(integration.clone(), shutdown.clone());
                            let handle = lanes.spawn_local(lane);
                            running.insert(handle.id(), integration);
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the inbox");
                        tokio::select! {
                            () = tokio::time::sleep(FIRST_BACKOFF) => {}
                            _ = shutdown.changed() => break,
                        }
                        continue;
                    }
                }
            }
            let next_retry = storage.next_retry_ms().map(|at| {
                let wait = at.saturating_sub(crate::time::now_ms()).max(0);
                Duration::from_millis(u64::try_from(wait).unwrap_or_default())
            });
            let sleep = async {
                match next_retry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = sleep => {}
                Some(ended) = lanes.join_next_with_id() => {
                    running.remove(&lane_ended(ended));
                }
                _ = shutdown.changed() => break,
            }
        }
        // The lanes stop after the entry in progress.
        while let Some(ended) = lanes.join_next_with_id().await {
            lane_ended(ended);
        }
        tracing::info!("worker stopped");
    }

    /// Applies the deliveries of one integration, a batch at a time, until none is due.
    async fn lane(self: Rc<Self>, integration: String, shutdown: watch::Receiver<bool>) {
        let storage = &self.state.storage;
        let other = |i: &str| i != integration;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let mut batch = match storage.claim(BATCH, &other).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, integration, "cannot read the inbox");
                    // A pause before the lane ends (and may be started again).
                    tokio::time::sleep(FIRST_BACKOFF).await;
                    return;
                }
            };
            if batch.entries().is_empty() {
                return;
            }
            self.state.faults.maybe_panic_worker();
            let mut applied = false;
            for index in 0..batch.entries().len() {
                if *shutdown.borrow() {
                    break;
                }
                let Some(entry) = batch.entries().get(index) else {
                    break;
                };
                match self.apply(&batch, entry).await {
                    Ok(record) => {
                        self.count(entry, &record);
                        applied = true;
                        batch.done(index, record);
                    }
                    Err(Retry(reason)) => self.retry_or_give_up(&mut batch, index, &reason).await,
                }
            }
            // On failure the processed entries stay in the inbox and are applied again (which
            // changes nothing: sync is idempotent); the backend logged which.
            let _ = batch.finish().await;
            if applied {
                self.prune_delivery_log(&integration).await;
            }
        }
    }

    /// Entry `index` failed with `reason`: schedules its next attempt (exponential backoff
    /// with jitter), or, once its retry budget is used up, moves it to the dead letters.
    async fn retry_or_give_up(&self, batch: &mut StorageBatch<'_>, index: usize, reason: &str) {
        let Some(entry) = batch.entries().get(index) else {
            return;
        };
        let (seq, integration) = (entry.seq, entry.integration_id.clone());
        let previous = match batch.retry_state(index).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, seq, "cannot read a delivery's retry state");
                None
            }
        };
        let now = crate::time::now_ms();
        let attempts = previous
            .as_ref()
            .map_or(0, |p| p.attempts)
            .saturating_add(1);
        let first_failure_ms = previous.as_ref().map_or(now, |p| p.first_failure_ms);
        let age_ms = now.saturating_sub(first_failure_ms).max(0);
        let policy = self.state.retry;
        let max_age_ms = i64::try_from(policy.max_age.as_millis()).unwrap_or(i64::MAX);
        if attempts >= policy.max_attempts || age_ms >= max_age_ms {
            let event = crate::storage::stored::read(&entry.body).ok();
            let base = Self::base_record(entry, event.as_ref());
            let letter = DeadLetterRecord {
                seq,
                integration_id: integration.clone(),
                received_ms: entry.received_ms,
                event: base.event.clone(),
                issue_key: base.issue_key.clone(),
                attempts,
                first_failure_ms,
                dead_ms: now,
                last_error: reason.to_owned(),
                body: entry.body.clone(),
            };
            let record = DeliveryRecord {
                state: DeliveryState::Failed,
                reason: Some(format!(
                    "gave up after {attempts} attempt(s) over {} s, kept as a dead letter \
                     (GET /api/v1/integrations/{integration}/dead-letters): {reason}",
                    age_ms / 1000
                )),
                ..base
            };
            tracing::error!(seq, integration = %integration, attempts, %reason, "delivery moved to the dead letters");
            match batch.dead_letter(index, record, &letter).await {
                Ok(()) => {
                    self.state.metrics.dead_letter("dead_lettered");
                    self.state.metrics.delivery("failed");
                }
                Err(e) => {
                    tracing::error!(error = %e, seq, "cannot store a dead letter; the delivery stays in the inbox");
                }
            }
            return;
        }
        let backoff = backoff(attempts, seq);
        let retry = RetryRecord {
            attempts,
            first_failure_ms,
            next_attempt_ms: now
                .saturating_add(i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX)),
            last_error: reason.to_owned(),
        };
        tracing::warn!(seq, integration = %integration, attempts, %reason, retry_in = ?backoff, "delivery will be retried");
        self.state.metrics.retry();
        let pending = Self::pending_record(entry, reason);
        if let Err(e) = batch.retry_later(index, pending, &retry).await {
            tracing::error!(error = %e, "cannot record a delivery's retry");
        }
    }

    /// Keeps an integration's delivery log to its newest `delivery_log_keep` entries (at most
    /// [`PRUNE_BUDGET`] removals per batch, so a large backlog, e.g. after lowering the
    /// setting, shrinks over several batches).
    async fn prune_delivery_log(&self, integration: &str) {
        let keep = self.state.delivery_log_keep;
        if keep == 0 {
            return;
        }
        match self
            .state
            .storage
            .prune_deliveries(integration, keep, PRUNE_BUDGET)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(integration, removed = n, "delivery log pruned"),
            Err(e) => tracing::warn!(error = %e, "cannot prune the delivery log"),
        }
    }

    /// Counts a processed entry in the metrics.
    fn count(&self, entry: &InboxEntry, record: &DeliveryRecord) {
        let state = &self.state;
        for o in &record.outcomes {
            state.metrics.sync_action(&o.result);
        }
        state.metrics.delivery(match record.state {
            DeliveryState::Applied => "applied",
            DeliveryState::Ignored => "ignored",
            DeliveryState::Failed => "failed",
            DeliveryState::Pending => "pending",
        });
        tracing::debug!(seq = entry.seq, state = ?record.state, reason = ?record.reason, "delivery processed");
    }

    /// The delivery-log entry of an entry that waits for a retry.
    fn pending_record(entry: &InboxEntry, reason: &str) -> DeliveryRecord {
        let base = Self::base_record(entry, None);
        DeliveryRecord {
            state: DeliveryState::Pending,
            reason: Some(format!("waiting to retry: {reason}")),
            ..base
        }
    }

    fn base_record(entry: &InboxEntry, event: Option<&LeanEvent>) -> DeliveryRecord {
        DeliveryRecord {
            received_at: crate::time::rfc3339_ms(entry.received_ms),
            event: event
                .and_then(LeanEvent::kind)
                .map(|k| k.as_str().to_owned()),
            issue_key: event.and_then(LeanEvent::issue_key).map(str::to_owned),
            state: DeliveryState::Pending,
            reason: None,
            outcomes: Vec::new(),
        }
    }

    /// Applies one entry of `batch` (the sync reads and commits through the batch);
    /// `Err(Retry)` when it must stay in the inbox.
    async fn apply(
        &self,
        batch: &impl InboxBatch,
        entry: &InboxEntry,
    ) -> Result<DeliveryRecord, Retry> {
        let store = &self.state.storage;
        let done = |base: DeliveryRecord, state: DeliveryState, reason: &str| DeliveryRecord {
            state,
            reason: Some(reason.to_owned()),
            ..base
        };
        let event = match crate::storage::stored::read(&entry.body) {
            Ok(e) => e,
            Err(e) => {
                return Ok(done(
                    Self::base_record(entry, None),
                    DeliveryState::Failed,
                    &format!("not a Jira delivery: {e}"),
                ));
            }
        };
        let base = Self::base_record(entry, Some(&event));
        let Some(integration) = store.integration(&entry.integration_id).await? else {
            return Ok(done(
                base,
                DeliveryState::Failed,
                "the integration was deleted before the delivery was applied",
            ));
        };
        let Some(issue_key) = event.issue_key().map(str::to_owned) else {
            return Ok(done(
                base,
                DeliveryState::Ignored,
                "the delivery has no issue key",
            ));
        };
        let assignee_change = event.assignee_change();
        let status_change = event.status_change();
        let key_change = event.key_change();
        if assignee_change.is_none() && status_change.is_none() && key_change.is_none() {
            return Ok(done(
                base,
                DeliveryState::Ignored,
                "the changelog changes neither the assignee, the status nor the issue key",
            ));
        }
        let old_key = key_change.as_ref().and_then(|k| k.from.clone());
        let linked = LinkCheck::new(store, &integration.id, &issue_key, old_key.as_deref());

        let mut sync_event = InboundEvent::new(
            integration.id.as_str(),
            issue_key.as_str(),
            ordering(&event, entry),
        );
        if let Some(p) = event.project().and_then(|p| p.key.as_str()) {
            sync_event = sync_event.with_project_key(p);
        }
        let mut notes: Vec<String> = Vec::new();
        if assignee_change.is_some() {
            sync_event = match event.assignee() {
                None => sync_event.unassigned(),
                Some(u) => {
                    let user = self
                        .resolve_user(&integration, u, &linked, &mut notes)
                        .await?;
                    sync_event.assigned_to(user)
                }
            };
        }
        if let Some(change) = &status_change {
            let (from, to) = self
                .status_pair(&integration, &event, change, &linked, &mut notes)
                .await?;
            sync_event = sync_event.with_status(from, to);
        }
        if let Some(k) = &key_change
            && let (Some(from), Some(to)) = (&k.from, &k.to)
        {
            sync_event = sync_event.with_key_change(from.as_str(), to.as_str());
        }

        let outcome = match sync_inbound(batch, &sync_event).await {
            Ok(o) => o,
            Err(SyncError::Store(e)) => return Err(Retry::from(e)),
            Err(_) if !linked.any().await? => {
                return Ok(done(
                    base,
                    DeliveryState::Ignored,
                    &format!("no group is linked to {issue_key}"),
                ));
            }
            Err(e) => {
                return Ok(done(base, DeliveryState::Failed, &e.to_string()));
            }
        };
        let outcomes: Vec<GroupOutcomeRecord> = outcome
            .groups
            .iter()
            .map(|o| {
                let (user, reason) = match &o.result {
                    GroupResult::Assigned { user } => (Some(user.as_str().to_owned()), None),
                    GroupResult::Skipped { reason } => {
                        (None, Some(format!("{}: {reason}", o.kind)))
                    }
                    GroupResult::Unchanged => {
                        (None, Some(format!("{}: already in that state", o.kind)))
                    }
                    _ => (None, None),
                };
                GroupOutcomeRecord {
                    group: o.group.as_str().to_owned(),
                    result: o.result.as_str().to_owned(),
                    user,
                    reason,
                }
            })
            .collect();
        let (state, reason) = if outcomes.is_empty() && outcome.relinked.is_empty() {
            (
                DeliveryState::Ignored,
                Some(format!("no group is linked to {issue_key}")),
            )
        } else {
            let mut parts = notes;
            if !outcome.relinked.is_empty() {
                parts.push(format!(
                    "links moved to {issue_key} for {} group(s)",
                    outcome.relinked.len()
                ));
            }
            (
                DeliveryState::Applied,
                (!parts.is_empty()).then(|| parts.join("; ")),
            )
        };
        Ok(DeliveryRecord {
            state,
            reason,
            outcomes,
            ..base
        })
    }

    /// The assignee as the sync crate sees it; looks the e-mail up in Jira when the delivery
    /// hides it and no explicit mapping settles it (`assignee_sync::mapping_settles`: a mapped
    /// user who is inactive or not a member of a linked group's project does not).
    ///
    /// The inbox keeps only the assignee members read here (and only the status and project
    /// members `status_pair` and `apply` read): reading another one means adding it to
    /// `crate::storage::stored::USER_MEMBERS` (or `STATUS_MEMBERS`, `PROJECT_MEMBERS`).
    async fn resolve_user(
        &self,
        integration: &IntegrationRecord,
        u: &jira_webhook_model::User,
        linked: &LinkCheck<'_>,
        notes: &mut Vec<String>,
    ) -> Result<SyncUser, Retry> {
        let mut user = SyncUser::new();
        if let Some(v) = u.name.as_str() {
            user = user.with_name(v);
        }
        if let Some(v) = u.key.as_str() {
            user = user.with_key(v);
        }
        if let Some(v) = u.account_id.as_str() {
            user = user.with_account_id(v);
        }
        if let Some(v) = u.display_name.as_str() {
            user = user.with_display_name(v);
        }
        if let Some(e) = u.email() {
            return Ok(user.with_email(e));
        }
        let store = &self.state.storage;
        if !store
            .org_settings(&integration.id)
            .await?
            .iter()
            .any(|(_, s)| s.sync_reverse_assignment)
        {
            return Ok(user);
        }
        // A mapping settles it only when the mapped user is active and a member of every
        // linked group's project; otherwise the e-mail is looked up (the sync falls back to it).
        let keys: Vec<assignee_sync::IssueKey> =
            linked.keys.iter().flatten().map(|k| (*k).into()).collect();
        let id = assignee_sync::IntegrationId::new(integration.id.as_str());
        match assignee_sync::mapping_settles(store, &id, &user, &keys).await {
            Ok(true) => return Ok(user),
            Err(SyncError::Store(e)) => return Err(Retry::from(e)),
            Ok(false) | Err(_) => {}
        }
        if !linked.any().await? {
            return Ok(user);
        }
        let client = match self.clients.get(integration, &self.state) {
            Ok(c) => c,
            Err(e) => {
                notes.push(format!("cannot call Jira to look up the assignee: {e}"));
                return Ok(user);
            }
        };
        let found = if let Some(name) = user.name.clone() {
            client.user_by_username(&name).await
        } else if let Some(key) = user.key.clone() {
            client.user_by_key(&key).await
        } else {
            return Ok(user);
        };
        match found {
            Ok(Some(j)) => {
                if let Some(e) = j.email() {
                    user = user.with_email(e);
                    notes.push("assignee e-mail looked up in Jira".to_owned());
                } else {
                    notes.push("Jira hides the assignee's e-mail".to_owned());
                }
                Ok(user)
            }
            Ok(None) => {
                notes.push("Jira does not know the assignee".to_owned());
                Ok(user)
            }
            Err(e) if e.is_transient() => Err(Retry(format!("Jira user look-up failed: {e}"))),
            Err(e) => {
                notes.push(format!("Jira user look-up failed: {e}"));
                Ok(user)
            }
        }
    }

    /// From and to statuses with categories: the payload's `fields.status` for the new status
    /// when ids match, otherwise the cached `GET /rest/api/2/status`, refreshed once when an
    /// id is unknown or the cache is older than `--jira-status-cache-ttl-secs`.
    async fn status_pair(
        &self,
        integration: &IntegrationRecord,
        event: &LeanEvent,
        change: &jira_webhook_model::Transition<jira_webhook_model::StatusRef>,
        linked: &LinkCheck<'_>,
        notes: &mut Vec<String>,
    ) -> Result<(Option<SyncStatus>, Option<SyncStatus>), Retry> {
        let store = &self.state.storage;
        let from_id = change.from.as_ref().and_then(|s| s.id.clone());
        let to_id = change.to.as_ref().and_then(|s| s.id.clone());
        let payload_to = event.status().and_then(|s| {
            let id = s.id.value()?.as_str().to_owned();
            let cat = s.status_category.value()?.key.as_str()?.to_owned();
            (Some(&id) == to_id.as_ref()).then_some(cat)
        });
        let mut cats = store.status_categories(&integration.id).await?;
        let needs = |cats: &StatusCategories| {
            from_id.as_ref().is_some_and(|id| !cats.contains_key(id))
                || (payload_to.is_none() && to_id.as_ref().is_some_and(|id| !cats.contains_key(id)))
        };
        // Unknown ids are fetched at once; known ones again after the cache TTL (a status may
        // have moved to another category), keeping the old categories if Jira fails then.
        let missing = needs(&cats);
        if (missing
            || self
                .clients
                .statuses_expired(&integration.id, self.state.jira.status_cache_ttl))
            && self.status_sync_enabled(&integration.id).await?
            && linked.any().await?
        {
            match self.clients.get(integration, &self.state) {
                Ok(client) => match self
                    .clients
                    .refresh_statuses(store, &client, &integration.id)
                    .await
                {
                    Ok(fresh) => cats = fresh,
                    Err(LookupError::Jira(e)) if !missing => {
                        tracing::info!(integration = %integration.id, error = %e, "status categories not refreshed; the cached ones are used");
                    }
                    Err(e) if e.is_transient() => {
                        return Err(Retry(format!("Jira status look-up failed: {e}")));
                    }
                    Err(LookupError::Jira(e)) => {
                        notes.push(format!("Jira status look-up failed: {e}"));
                    }
                    Err(LookupError::Store(e)) => return Err(Retry::from(e)),
                },
                Err(e) => notes.push(format!("cannot call Jira to look up statuses: {e}")),
            }
        }
        let build = |r: &Option<jira_webhook_model::StatusRef>, cat: Option<String>| {
            r.as_ref().and_then(|s| s.id.clone()).map(|id| {
                let mut st = SyncStatus::new(id);
                if let Some(name) = r.as_ref().and_then(|s| s.name.clone()) {
                    st = st.with_name(name);
                }
                if let Some(c) = cat {
                    st = st.with_category(StatusCategory::from_key(&c));
                }
                st
            })
        };
        let from_cat = from_id.as_ref().and_then(|id| cats.get(id).cloned());
        let to_cat = payload_to.or_else(|| to_id.as_ref().and_then(|id| cats.get(id).cloned()));
        Ok((build(&change.from, from_cat), build(&change.to, to_cat)))
    }

    async fn status_sync_enabled(&self, integration: &str) -> Result<bool, StorageError> {
        Ok(self
            .state
            .storage
            .org_settings(integration)
            .await?
            .iter()
            .any(|(_, s)| s.sync_status_reverse))
    }
}

/// Whether any group is linked to a delivery's issue: to its key or the old key of a key change,
/// directly or through a recorded move. The webhook endpoint stores only deliveries on linked
/// issues, so this is asked only where the answer saves work: before a call to Jira (an issue
/// unlinked since the delivery arrived costs no round trip) and to tell "not linked" from a
/// failed sync. The answer is remembered.
struct LinkCheck<'a> {
    store: &'a Storage,
    integration: &'a str,
    keys: [Option<&'a str>; 2],
    known: Cell<Option<bool>>,
}

impl<'a> LinkCheck<'a> {
    fn new(
        store: &'a Storage,
        integration: &'a str,
        key: &'a str,
        old_key: Option<&'a str>,
    ) -> Self {
        Self {
            store,
            integration,
            keys: [Some(key), old_key],
            known: Cell::new(None),
        }
    }

    async fn any(&self) -> Result<bool, StorageError> {
        if let Some(known) = self.known.get() {
            return Ok(known);
        }
        let mut linked = false;
        for k in self.keys.into_iter().flatten() {
            if self.store.is_tracked(self.integration, k).await? {
                linked = true;
                break;
            }
        }
        self.known.set(Some(linked));
        Ok(linked)
    }
}

/// The id of a lane that ended; a lane's panic is the worker's (the server restarts it).
fn lane_ended(ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match ended {
        Ok((id, ())) => id,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => e.id(),
    }
}

/// The ordering key of a delivery: its event time (the webhook's top-level `timestamp`, ms;
/// kept in the stored form) with its changelog id, which only breaks ties of one millisecond
/// (`assignee_sync::OrderingKey`: on a Jira Data Center cluster changelog ids are not in time
/// order across nodes). A delivery without a `timestamp` orders by the time this server
/// received it (`entry.received_ms`, kept with the inbox entry), which is later than the event
/// by the delivery's latency. Keys that could poison a watermark are logged
/// (`crate::ordering_watch`). A changelog id above `i64::MAX` is no Jira id (Jira's ids are
/// Java `long`s) and is left out, with a warning: PostgreSQL keeps ids as `bigint`, and such a
/// delivery would otherwise fail there on every retry and hold up the deliveries behind it.
pub fn ordering(event: &LeanEvent, entry: &InboxEntry) -> OrderingKey {
    let ts = event
        .timestamp
        .value()
        .copied()
        .unwrap_or(entry.received_ms);
    let changelog_id = event
        .changelog()
        .and_then(|c| c.id.value())
        .and_then(|id| id.as_str().parse::<u64>().ok())
        .filter(|id| {
            let fits = i64::try_from(*id).is_ok();
            if !fits {
                tracing::warn!(
                    integration = %entry.integration_id,
                    seq = entry.seq,
                    changelog_id = id,
                    "a delivery's changelog id is beyond Jira's range (a forged or broken \
                     delivery); it is ordered by its event time alone"
                );
            }
            fits
        });
    let key = OrderingKey::new(changelog_id, ts);
    crate::ordering_watch::observe(&entry.integration_id, entry.seq, key);
    key
}
