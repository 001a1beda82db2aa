//! Calls to an installed integration's Jira: clients built from stored credentials, webhook
//! deletion, status categories (cached in the store) and user look-ups.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::metrics::Metrics;
use crate::storage::records::{IntegrationRecord, StatusCategories};
use crate::storage::{Integrations as _, Storage, StorageError};
use jira_client::{CallObserver, CallOutcome, ClientOptions, JiraClient, JiraError};

impl CallObserver for Metrics {
    fn observe(&self, _operation: &'static str, outcome: CallOutcome) {
        self.jira_call(&outcome.label());
    }
}

/// Client options that count calls in `metrics`.
pub fn options(metrics: &Arc<Metrics>) -> ClientOptions {
    ClientOptions::verify_ssl(true).with_observer(metrics.clone())
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
    let client = rec.installed.client(&options(&state.metrics))?;
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
/// credentials).
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<HashMap<String, (String, JiraClient)>>,
}

impl Clients {
    /// The client of an integration.
    pub fn get(
        &self,
        rec: &IntegrationRecord,
        metrics: &Arc<Metrics>,
    ) -> Result<JiraClient, JiraError> {
        if let Ok(map) = self.map.lock()
            && let Some((created_at, c)) = map.get(&rec.id)
            && *created_at == rec.created_at
        {
            return Ok(c.clone());
        }
        let c = rec.installed.client(&options(metrics))?;
        if let Ok(mut map) = self.map.lock() {
            map.insert(rec.id.clone(), (rec.created_at.clone(), c.clone()));
        }
        Ok(c)
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
