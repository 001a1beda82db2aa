//! Shared state of a running server.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::jira::webhook_token::WebhookSecret;
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::storage::records::IntegrationRecord;
use crate::storage::{Integrations as _, Storage, StorageError};

/// What the webhook hot path needs of an integration.
#[derive(Debug)]
pub struct TokenEntry {
    /// Integration id.
    pub integration_id: String,
    /// Webhook JWT secret.
    pub secret: WebhookSecret,
}

/// In-memory index external id -> integration, filled from the store on demand.
#[derive(Debug, Default)]
pub struct TokenIndex {
    map: RwLock<HashMap<String, Arc<TokenEntry>>>,
}

impl TokenIndex {
    /// The integration with this external id, if any.
    pub async fn lookup(
        &self,
        storage: &Storage,
        external_id: &str,
    ) -> Result<Option<Arc<TokenEntry>>, StorageError> {
        if let Ok(map) = self.map.read()
            && let Some(e) = map.get(external_id)
        {
            return Ok(Some(e.clone()));
        }
        let Some(rec) = storage.integration_by_external(external_id).await? else {
            return Ok(None);
        };
        let entry = Arc::new(TokenEntry {
            secret: rec.installed.webhook_secret.clone(),
            integration_id: rec.id,
        });
        if let Ok(mut map) = self.map.write() {
            map.insert(external_id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// Forgets an external id (after install or delete).
    pub fn invalidate(&self, external_id: &str) {
        if let Ok(mut map) = self.map.write() {
            map.remove(external_id);
        }
    }
}

/// State shared by every request handler and the worker.
#[derive(Debug)]
pub struct AppState {
    /// Everything the server keeps: records, the inbox, the delivery log (see
    /// [`crate::storage`]).
    pub storage: Storage,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Admin bearer token.
    pub admin_token: Secret,
    /// Public URL (no trailing slash).
    pub public_url: String,
    /// Request body limit.
    pub body_limit: usize,
    /// Time allowed to receive a request body.
    pub body_timeout: std::time::Duration,
    /// Webhook token index.
    pub tokens: TokenIndex,
    /// How many of the newest delivery log entries the worker keeps (`0`: all).
    pub delivery_log_keep: u64,
}

impl AppState {
    /// Persists an integration and refreshes the token index.
    pub async fn save_integration(&self, rec: &IntegrationRecord) -> Result<(), StorageError> {
        self.storage.put_integration(rec).await?;
        self.tokens.invalidate(rec.external_id());
        Ok(())
    }
}
