//! Background worker: applies inbox entries through `assignee-sync`, in arrival order.
//!
//! For each entry: read its stored form ([`crate::storage::stored::read`]), build an
//! [`assignee_sync::InboundEvent`] (status categories from the cached `GET /rest/api/2/status`,
//! refreshed when an id is unknown; hidden e-mails resolved through the user mapping, then
//! Jira's user API) and run [`assignee_sync::sync_inbound`] on the claimed batch (the
//! storage's unit of work, [`crate::storage::InboxBatch`]). After each batch, the batch is
//! finished: the processed entries are written to the delivery log (on the embedded backend
//! one chunk per integration) and removed from the inbox; a crash before that applies them
//! again on start, where the group watermarks make them duplicates. When Jira is needed
//! and unreachable, the entry stays in the inbox and is retried with exponential backoff (1 s
//! doubling to 60 s); later entries of the same integration wait behind it, which keeps their
//! order, while other integrations' entries go on. After each batch the delivery log of each
//! integration it touched is pruned to its newest `--delivery-log-keep` entries. The inbox is
//! replayed on start: anything acknowledged but not yet applied is applied then (sync is
//! idempotent, so an entry applied just before a crash is harmless to apply again).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use assignee_sync::{
    GroupResult, InboundEvent, JiraStatus as SyncStatus, JiraUser as SyncUser, OrderingKey,
    StatusCategory, SyncError, sync_inbound,
};
use jira_webhook_model::LeanEvent;
use tokio::sync::watch;

use crate::app::AppState;
use crate::integration_jira::{Clients, LookupError};
use crate::storage::records::{
    DeliveryRecord, DeliveryState, GroupOutcomeRecord, IntegrationRecord, StatusCategories,
};
use crate::storage::{
    DeliveryLog as _, Inbox as _, InboxBatch, InboxEntry, Integrations as _, Storage, StorageError,
    Tracker as _,
};

const BATCH: usize = 256;
/// Most delivery log entries removed after one batch.
const PRUNE_BUDGET: usize = 4 * BATCH;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_mins(1);

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

    /// Runs until `shutdown` turns true; finishes the entry in progress first.
    ///
    /// When an entry must wait for Jira, its integration is paused (its later entries wait
    /// behind it, which keeps their order) with a per-integration backoff, while entries of
    /// other integrations keep flowing.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let storage = &self.state.storage;
        let wake = storage.wake();
        // integration -> (retry not before, next backoff)
        let mut paused: HashMap<String, (Instant, Duration)> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let is_paused = |integration: &str| {
                paused
                    .get(integration)
                    .is_some_and(|(until, _)| *until > now)
            };
            let mut batch = match storage.claim(BATCH, &is_paused).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the inbox");
                    tokio::select! {
                        () = tokio::time::sleep(FIRST_BACKOFF) => {}
                        _ = shutdown.changed() => break,
                    }
                    continue;
                }
            };
            if batch.entries().is_empty() {
                let next_retry = paused.values().map(|(until, _)| *until).min();
                let sleep = async {
                    match next_retry {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = &mut notified => {}
                    () = sleep => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            let mut blocked_now: Vec<String> = Vec::new();
            // Integrations with applied entries: their delivery log is pruned after the batch.
            let mut touched: Vec<String> = Vec::new();
            for index in 0..batch.entries().len() {
                if *shutdown.borrow() {
                    break;
                }
                let Some(entry) = batch.entries().get(index) else {
                    break;
                };
                if blocked_now.contains(&entry.integration_id) {
                    continue;
                }
                match self.apply(&batch, entry).await {
                    Ok(record) => {
                        paused.remove(&entry.integration_id);
                        self.count(entry, &record);
                        if !touched.contains(&entry.integration_id) {
                            touched.push(entry.integration_id.clone());
                        }
                        batch.done(index, record);
                    }
                    Err(Retry(reason)) => {
                        let backoff = paused
                            .get(&entry.integration_id)
                            .map_or(FIRST_BACKOFF, |(_, b)| *b);
                        tracing::warn!(seq = entry.seq, integration = %entry.integration_id, %reason, retry_in = ?backoff, "delivery will be retried");
                        let pending = Self::pending_record(entry, &reason);
                        paused.insert(
                            entry.integration_id.clone(),
                            (Instant::now() + backoff, (backoff * 2).min(MAX_BACKOFF)),
                        );
                        blocked_now.push(entry.integration_id.clone());
                        if let Err(e) = batch.retry_later(index, pending).await {
                            tracing::error!(error = %e, "cannot update the delivery log");
                        }
                    }
                }
            }
            // On failure the processed entries stay in the inbox and are applied again (which
            // changes nothing: sync is idempotent); the backend logged which.
            let _ = batch.finish().await;
            for integration in &touched {
                self.prune_delivery_log(integration).await;
            }
        }
        tracing::info!("worker stopped");
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
