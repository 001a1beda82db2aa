//! Dead letters: deliveries the worker gave up on after their retry budget
//! (`--retry-max-attempts`, `--retry-max-age-secs`), kept with their bodies.
//!
//! - `GET /integrations/{id}/dead-letters?limit=N` (default 50, at most 1000): newest first,
//!   each with its attempts and last error.
//! - `POST /integrations/{id}/dead-letters/{delivery}/retry`: puts the delivery back into the
//!   inbox (a new delivery number; the groups' watermarks skip it if a newer change was
//!   applied meanwhile) and removes the dead letter.
//! - `DELETE /integrations/{id}/dead-letters/{delivery}`: removes it.
//!
//! An unknown integration or delivery is 404.

use serde_json::json;

use super::ok;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::Resp;
use crate::storage::records::DeadLetterRecord;
use crate::storage::{DeadLetters as _, Inbox as _, Integrations as _};

async fn known_integration(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.storage.integration(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("No integration `{id}`."))),
    }
}

fn not_found(id: &str, delivery: &str) -> ApiError {
    ApiError::not_found(format!(
        "No dead letter `{delivery}` in integration `{id}` (see GET /api/v1/integrations/{id}/dead-letters)."
    ))
}

/// The dead letter `delivery` (a delivery number) of integration `id`, or 404.
async fn find(state: &AppState, id: &str, delivery: &str) -> Result<DeadLetterRecord, ApiError> {
    known_integration(state, id).await?;
    let Ok(seq) = delivery.parse::<u64>() else {
        return Err(not_found(id, delivery));
    };
    state
        .storage
        .dead_letter(id, seq)
        .await?
        .ok_or_else(|| not_found(id, delivery))
}

fn view(d: &DeadLetterRecord) -> serde_json::Value {
    json!({
        "delivery": d.seq,
        "receivedAt": crate::time::rfc3339_ms(d.received_ms),
        "event": d.event,
        "issueKey": d.issue_key,
        "attempts": d.attempts,
        "firstFailureAt": crate::time::rfc3339_ms(d.first_failure_ms),
        "deadAt": crate::time::rfc3339_ms(d.dead_ms),
        "lastError": d.last_error,
        "bodyBytes": d.body.len(),
    })
}

/// `GET /integrations/{id}/dead-letters?limit=N` -> `{"deadLetters": [...]}`, newest first.
pub async fn list(state: &AppState, id: &str, query: &str) -> Result<Resp, ApiError> {
    known_integration(state, id).await?;
    let mut limit = 50usize;
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if k == "limit" {
            limit = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::field("limit", "`limit` must be 1 to 1000."))?;
        }
    }
    let list: Vec<_> = state
        .storage
        .dead_letters(id, limit)
        .await?
        .iter()
        .map(view)
        .collect();
    ok(&json!({ "deadLetters": list }))
}

/// `POST /integrations/{id}/dead-letters/{delivery}/retry`: back into the inbox.
pub async fn retry(state: &AppState, id: &str, delivery: &str) -> Result<Resp, ApiError> {
    let d = find(state, id, delivery).await?;
    // Into the inbox first, then out of the dead letters: a failure in between leaves both,
    // and applying the delivery twice changes nothing (the watermarks make it a duplicate).
    let seq = state
        .storage
        .accept(id, d.received_ms, &d.body)
        .await
        .map_err(|e| ApiError::internal("the delivery could not be put back into the inbox", &e))?;
    state.storage.remove_dead_letter(id, d.seq).await?;
    state.metrics.dead_letter("retried");
    tracing::info!(
        integration = id,
        from = d.seq,
        delivery = seq,
        "dead letter put back into the inbox"
    );
    ok(&json!({ "retried": d.seq, "delivery": seq }))
}

/// `DELETE /integrations/{id}/dead-letters/{delivery}`.
pub async fn delete(state: &AppState, id: &str, delivery: &str) -> Result<Resp, ApiError> {
    let d = find(state, id, delivery).await?;
    if !state.storage.remove_dead_letter(id, d.seq).await? {
        return Err(not_found(id, delivery));
    }
    state.metrics.dead_letter("deleted");
    ok(&json!({ "delivery": d.seq, "deleted": true }))
}
