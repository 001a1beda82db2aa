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

/// In-memory index external id -> integration, filled from the store on demand and current
/// while the store's [`crate::storage::Integrations::integrations_generation`] stays the same (a delete or
/// reinstall through another replica empties it within that generation's delay).
#[derive(Debug, Default)]
pub struct TokenIndex {
    map: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// The integrations generation the entries were read at.
    generation: u64,
    by_external_id: HashMap<String, Arc<TokenEntry>>,
}

impl TokenIndex {
    /// The integration with this external id, if any.
    pub async fn lookup(
        &self,
        storage: &Storage,
        external_id: &str,
    ) -> Result<Option<Arc<TokenEntry>>, StorageError> {
        let generation = storage.integrations_generation();
        if let Some(generation) = generation
            && let Ok(map) = self.map.read()
            && map.generation == generation
            && let Some(e) = map.by_external_id.get(external_id)
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
        // Read at `generation` or later: kept under `generation`, so a change in between
        // empties the index at the next lookup.
        if let Some(generation) = generation
            && let Ok(mut map) = self.map.write()
        {
            if map.generation != generation {
                map.by_external_id.clear();
                map.generation = generation;
            }
            map.by_external_id
                .insert(external_id.to_owned(), entry.clone());
        }
        Ok(Some(entry))
    }

    /// Forgets an external id (after install or delete).
    pub fn invalidate(&self, external_id: &str) {
        if let Ok(mut map) = self.map.write() {
            map.by_external_id.remove(external_id);
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
