//! Calls to an installed integration's Jira: clients built from stored credentials, webhook
//! deletion, status categories (cached in the store, refreshed after a TTL) and user look-ups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::AppState;
use crate::metrics::Metrics;
use crate::storage::records::{IntegrationRecord, StatusCategories};
use crate::storage::{Integrations as _, Storage, StorageError};
use jira_client::{CallObserver, CallOutcome, ClientOptions, JiraClient, JiraError};

/// Default of `--jira-status-cache-ttl-secs` (Sentry caches the status categories for 240 s).
pub const DEFAULT_STATUS_CACHE_TTL: Duration =
    Duration::from_secs(crate::config::DEFAULT_JIRA_STATUS_CACHE_TTL_SECS);

/// How the server talks to Jira (`--jira-timeout-secs`, `--jira-max-response-bytes`,
/// `--jira-status-cache-ttl-secs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JiraSettings {
    /// Time allowed for one call, answer body included.
    pub timeout: Duration,
    /// Longest answer body read from Jira, in bytes.
    pub max_response_bytes: usize,
    /// Age after which the cached status categories are fetched again when a delivery needs
    /// one (`ZERO`: every time).
    pub status_cache_ttl: Duration,
}

impl Default for JiraSettings {
    fn default() -> Self {
        Self {
            timeout: jira_client::DEFAULT_TIMEOUT,
            max_response_bytes: jira_client::DEFAULT_MAX_RESPONSE_BYTES,
            status_cache_ttl: DEFAULT_STATUS_CACHE_TTL,
        }
    }
}

impl CallObserver for Metrics {
    fn observe(&self, _operation: &'static str, outcome: CallOutcome) {
        self.jira_call(&outcome.label());
    }
}

/// Client options with the server's Jira settings (timeout, response size limit) that count
/// calls in the server's metrics.
pub fn options(state: &AppState) -> ClientOptions {
    ClientOptions::verify_ssl(true)
        .with_timeout(state.jira.timeout)
        .with_max_response_bytes(state.jira.max_response_bytes)
        .with_observer(state.metrics.clone())
}

/// Validates a `statusMapping` body value: `{"<project key>": ["<status id>", ...]}`.
pub fn check_status_mapping(value: Option<&serde_json::Value>) -> Result<(), String> {
    match value {
        None => Ok(()),
        Some(v) => serde_json::from_value::<assignee_sync::StatusMapping>(v.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "`statusMapping` must map Jira project keys to lists of status ids that resolve: {e}"
                )
            }),
    }
}

/// Deletes the integration's webhook in Jira; `Ok(false)` when Jira no longer had it.
pub async fn delete_webhook(
    state: &crate::app::AppState,
    rec: &IntegrationRecord,
) -> Result<bool, JiraError> {
    let client = rec.installed.client(&options(state))?;
    match client.delete_webhook(&rec.installed.webhook).await? {
        jira_client::WebhookDeletion::Deleted => Ok(true),
        _ => Ok(false),
    }
}

/// Errors of a look-up that needs Jira.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// Jira failed; retry later when [`JiraError::is_transient`].
    #[error(transparent)]
    Jira(#[from] JiraError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StorageError),
}

impl LookupError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Jira(e) => e.is_transient(),
            Self::Store(_) => true,
        }
    }
}

/// Per-integration Jira clients, built on first use and rebuilt after a reinstall (new
/// credentials), and when each integration's status categories were last fetched.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<HashMap<String, (String, JiraClient)>>,
    statuses_fetched: Mutex<HashMap<String, Instant>>,
}

impl Clients {
    /// The client of an integration.
    pub fn get(&self, rec: &IntegrationRecord, state: &AppState) -> Result<JiraClient, JiraError> {
        if let Ok(map) = self.map.lock()
            && let Some((created_at, c)) = map.get(&rec.id)
            && *created_at == rec.created_at
        {
            return Ok(c.clone());
        }
        let c = rec.installed.client(&options(state))?;
        if let Ok(mut map) = self.map.lock() {
            map.insert(rec.id.clone(), (rec.created_at.clone(), c.clone()));
        }
        Ok(c)
    }

    /// Whether the cached status categories of `integration` are older than `ttl` (or were
    /// never fetched by this process: the store's copy may be from long ago).
    pub fn statuses_expired(&self, integration: &str, ttl: Duration) -> bool {
        self.statuses_fetched.lock().map_or(true, |fetched| {
            fetched
                .get(integration)
                .is_none_or(|at| at.elapsed() >= ttl)
        })
    }

    /// [`refresh_statuses`], remembering when it was tried (a failed refresh is tried again
    /// after the TTL too, so a failing Jira is not asked for every delivery).
    pub async fn refresh_statuses(
        &self,
        storage: &Storage,
        client: &JiraClient,
        integration: &str,
    ) -> Result<StatusCategories, LookupError> {
        self.statuses_tried(integration, Instant::now());
        refresh_statuses(storage, client, integration).await
    }

    fn statuses_tried(&self, integration: &str, at: Instant) {
        if let Ok(mut fetched) = self.statuses_fetched.lock() {
            fetched.insert(integration.to_owned(), at);
        }
    }
}

/// Fetches `GET /rest/api/2/status` and stores the categories.
pub async fn refresh_statuses(
    storage: &Storage,
    client: &JiraClient,
    integration: &str,
) -> Result<StatusCategories, LookupError> {
    let statuses = client.statuses().await?;
    let cats: StatusCategories = statuses
        .into_iter()
        .filter_map(|s| s.category_key.map(|c| (s.id, c)))
        .collect();
    storage.put_status_categories(integration, &cats).await?;
    Ok(cats)
}

/// One lock per Jira host for the install pipeline: an install holds it from before it
/// registers the webhook until the integration is saved, so two concurrent installs of the
/// same Jira run one after the other (the second is then a reinstall: it replaces the first's
/// webhook instead of leaving two). Per process; replicas sharing a database rely on the
/// reinstall path for the rest.
#[derive(Debug, Default)]
pub struct InstallLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl InstallLocks {
    /// Waits for the lock of `host` (`host[:port]`, compared ignoring case).
    pub async fn lock(&self, host: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget the locks nobody holds or waits for.
            map.retain(|_, l| Arc::strong_count(l) > 1);
            map.entry(host.to_ascii_lowercase()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_cache_expires_after_the_ttl() {
        let clients = Clients::default();
        // Never fetched by this process: expired, whatever the TTL.
        assert!(clients.statuses_expired("1", DEFAULT_STATUS_CACHE_TTL));
        clients.statuses_tried("1", Instant::now());
        assert!(!clients.statuses_expired("1", DEFAULT_STATUS_CACHE_TTL));
        assert!(clients.statuses_expired("1", Duration::ZERO));
        assert!(clients.statuses_expired("2", DEFAULT_STATUS_CACHE_TTL));
        if let Some(long_ago) = Instant::now().checked_sub(Duration::from_secs(241)) {
            clients.statuses_tried("1", long_ago);
            assert!(clients.statuses_expired("1", DEFAULT_STATUS_CACHE_TTL));
        }
        assert_eq!(
            JiraSettings::default().status_cache_ttl,
            Duration::from_secs(crate::config::DEFAULT_JIRA_STATUS_CACHE_TTL_SECS)
        );
    }
}
