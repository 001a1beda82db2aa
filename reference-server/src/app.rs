//! Shared state of a running server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
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
        self.lookup_at(storage.integrations_generation(), external_id, || {
            storage.integration_by_external(external_id)
        })
        .await
    }

    /// [`Self::lookup`] given the generation read before `read` reads the record.
    async fn lookup_at<F, Fut>(
        &self,
        generation: Option<u64>,
        external_id: &str,
        read: F,
    ) -> Result<Option<Arc<TokenEntry>>, StorageError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<IntegrationRecord>, StorageError>>,
    {
        if let Some(generation) = generation
            && let Ok(map) = self.map.read()
            && map.generation == generation
            && let Some(e) = map.by_external_id.get(external_id)
        {
            return Ok(Some(e.clone()));
        }
        let Some(rec) = read().await? else {
            return Ok(None);
        };
        let entry = Arc::new(TokenEntry {
            secret: rec.installed.webhook_secret.clone(),
            integration_id: rec.id,
        });
        // Read at `generation` or later: kept under `generation`, so a change in between
        // empties the index at the next lookup. An entry read before a newer generation the
        // index already holds is not kept (it may be older than what that generation saw).
        if let Some(generation) = generation
            && let Ok(mut map) = self.map.write()
            && map.generation <= generation
        {
            if map.generation < generation {
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

/// Test-only fault injection: tests of the server's supervision set it through
/// [`crate::config::ServeConfig`]'s hidden `faults` field, which no command-line flag or
/// environment variable reaches. Clones share the counters.
#[derive(Debug, Clone, Default)]
#[doc(hidden)]
pub struct Faults {
    worker_panics: Arc<AtomicU32>,
    inbox_writer_panics: Arc<AtomicU32>,
}

impl Faults {
    /// Makes the worker panic the next `n` times it claims a non-empty batch (test-only).
    pub fn panic_worker(&self, n: u32) {
        self.worker_panics.store(n, Ordering::SeqCst);
    }

    /// Panics when a worker panic was asked for (test-only).
    #[allow(clippy::panic)]
    pub(crate) fn maybe_panic_worker(&self) {
        if self
            .worker_panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("injected worker fault (test-only Faults::panic_worker)");
        }
    }

    /// Makes the (sled) inbox writer panic the next `n` times it takes a batch (test-only).
    pub fn panic_inbox_writer(&self, n: u32) {
        self.inbox_writer_panics.store(n, Ordering::SeqCst);
    }

    /// Panics when an inbox-writer panic was asked for (test-only; one atomic load per batch
    /// otherwise).
    #[allow(clippy::panic)]
    pub(crate) fn maybe_panic_inbox_writer(&self) {
        if self.inbox_writer_panics.load(Ordering::Relaxed) > 0
            && self
                .inbox_writer_panics
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("injected inbox writer fault (test-only Faults::panic_inbox_writer)");
        }
    }
}

/// The message of a caught panic (`&str` or `String` payloads), for the supervisors' logs.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
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
    /// The newest deliveries answered without being stored (memory only; see
    /// [`crate::webhook::IgnoredRing`]).
    pub ignored: crate::webhook::IgnoredRing,
    /// How the server talks to Jira (timeout, response size limit, status cache TTL).
    pub jira: crate::integration_jira::JiraSettings,
    /// Held while an install of a Jira host registers its webhook and persists, so that two
    /// concurrent installs of the same Jira never both create a webhook (keyed by host).
    pub install_locks: crate::integration_jira::InstallLocks,
    /// Set once the server starts to stop (`GET /readyz` answers 503 from then on).
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// When the worker gives up on a delivery that keeps failing.
    pub retry: crate::worker::RetryPolicy,
    /// Test-only fault injection.
    #[doc(hidden)]
    pub faults: Faults,
}

impl AppState {
    /// Persists an integration and refreshes the token index.
    pub async fn save_integration(&self, rec: &IntegrationRecord) -> Result<(), StorageError> {
        self.storage.put_integration(rec).await?;
        self.tokens.invalidate(rec.external_id());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn record(secret_byte: u8) -> IntegrationRecord {
        serde_json::from_value(serde_json::json!({
            "id": "1",
            "createdAt": "2026-12-07T00:00:00.000Z",
            "installed": {
                "externalId": "jira-1",
                "name": "bob@jira-1",
                "baseUrl": "https://jira.example.org",
                "domainName": "jira.example.org",
                "verifySsl": true,
                "auth": {"type": "personalAccessToken", "token": "pat"},
                "webhookSecret": format!("{secret_byte:02x}").repeat(32),
                "webhook": {"api": "webhooks1", "id": "1", "url": "https://example.org/hook"},
                "serverInfo": {}
            }
        }))
        .expect("an integration record")
    }

    /// The webhook secret of [`record`]`(secret_byte)`, as the index hands it out.
    fn secret(secret_byte: u8) -> Vec<u8> {
        format!("{secret_byte:02x}").repeat(32).into_bytes()
    }

    async fn lookup(
        index: &TokenIndex,
        generation: u64,
        stored: u8,
        reads: &AtomicUsize,
    ) -> Vec<u8> {
        index
            .lookup_at(Some(generation), "jira-1", || async {
                reads.fetch_add(1, Ordering::Relaxed);
                Ok(Some(record(stored)))
            })
            .await
            .expect("lookup")
            .expect("found")
            .secret
            .key()
            .to_vec()
    }

    /// A reinstall that lands between a lookup's read of the generation and its read of the
    /// record (the old secret) must not leave the old secret in the index: the next lookup,
    /// at the reinstall's generation, reads the new one.
    #[tokio::test]
    async fn a_record_read_before_a_reinstall_is_not_served_after_it() {
        let index = TokenIndex::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(lookup(&index, 0, 0xaa, &reads).await, secret(0xaa));
        assert_eq!(lookup(&index, 1, 0xbb, &reads).await, secret(0xbb));
        assert_eq!(reads.load(Ordering::Relaxed), 2);
    }

    /// A slow lookup that read the generation before a newer one filled the index does not
    /// put its (possibly older) record back, nor move the index back to its generation.
    #[tokio::test]
    async fn a_slow_lookup_does_not_overwrite_a_newer_generation() {
        let index = TokenIndex::default();
        let reads = AtomicUsize::new(0);
        assert_eq!(lookup(&index, 2, 0xbb, &reads).await, secret(0xbb));
        // The slow one returns what it read to its own caller...
        assert_eq!(lookup(&index, 1, 0xaa, &reads).await, secret(0xaa));
        // ...but the index still serves generation 2's entry without a read.
        assert_eq!(lookup(&index, 2, 0xcc, &reads).await, secret(0xbb));
        assert_eq!(reads.load(Ordering::Relaxed), 2);
    }

    /// A backend that cannot vouch for its generation (`None`) is asked every time.
    #[tokio::test]
    async fn no_generation_no_cache() {
        let index = TokenIndex::default();
        let reads = AtomicUsize::new(0);
        for _ in 0..3 {
            index
                .lookup_at(None, "jira-1", || async {
                    reads.fetch_add(1, Ordering::Relaxed);
                    Ok(Some(record(0xaa)))
                })
                .await
                .expect("lookup");
        }
        assert_eq!(reads.load(Ordering::Relaxed), 3);
    }
}
