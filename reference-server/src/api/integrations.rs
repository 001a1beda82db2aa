//! Installed integrations: list, get, delete, per-organization settings, user mappings and
//! the delivery log.

use serde::Deserialize;
use serde_json::json;

use super::{check_id, ok, parse_json};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::Resp;
use crate::storage::records::{
    DeliveryRecord, DeliveryState, IntegrationRecord, OrgSettingsRecord,
};
use crate::storage::{DeliveryLog as _, Inbox as _, Integrations as _, Tracker as _};

async fn load(state: &AppState, id: &str) -> Result<IntegrationRecord, ApiError> {
    state
        .storage
        .integration(id)
        .await?
        .map(std::sync::Arc::unwrap_or_clone)
        .ok_or_else(|| ApiError::not_found(format!("No integration `{id}`.")))
}

/// `GET /integrations` -> `{"integrations": [...]}`.
pub async fn list(state: &AppState) -> Result<Resp, ApiError> {
    let all: Vec<_> = state
        .storage
        .integrations()
        .await?
        .iter()
        .map(IntegrationRecord::public_view)
        .collect();
    ok(&json!({ "integrations": all }))
}

/// `GET /integrations/{id}` -> `{"integration": {...}}`.
pub async fn get(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let rec = load(state, id).await?;
    ok(&json!({ "integration": rec.public_view() }))
}

/// `DELETE /integrations/{id}`: deletes the webhook in Jira, then everything stored locally.
pub async fn delete(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let rec = load(state, id).await?;
    let jira_webhook = match crate::integration_jira::delete_webhook(state, &rec).await {
        Ok(true) => json!({"result": "deleted"}),
        Ok(false) => json!({"result": "already_gone"}),
        Err(e) => {
            tracing::warn!(integration = %id, error = %e, "could not delete the Jira webhook");
            json!({"result": "failed", "message": e.to_string()})
        }
    };
    state.storage.delete_integration(id).await?;
    state.tokens.invalidate(rec.external_id());
    ok(&json!({"deleted": rec.public_view(), "jiraWebhook": jira_webhook}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrgBody {
    #[serde(default)]
    sync_reverse_assignment: bool,
    #[serde(default)]
    sync_status_reverse: bool,
    #[serde(default)]
    status_mapping: Option<serde_json::Value>,
}

/// `PUT /integrations/{id}/organizations/{org}`.
pub async fn put_org(state: &AppState, id: &str, org: &str, body: &[u8]) -> Result<Resp, ApiError> {
    load(state, id).await?;
    check_id("organization", org)?;
    let b: OrgBody = parse_json(body)?;
    if let Some(m) = &b.status_mapping
        && !(m.is_object() || m.is_null())
    {
        return Err(ApiError::field(
            "statusMapping",
            "`statusMapping` must be an object keyed by Jira project key.",
        ));
    }
    let rec = OrgSettingsRecord {
        sync_reverse_assignment: b.sync_reverse_assignment,
        sync_status_reverse: b.sync_status_reverse,
        status_mapping: b.status_mapping.filter(|m| !m.is_null()),
    };
    crate::integration_jira::check_status_mapping(rec.status_mapping.as_ref())
        .map_err(|msg| ApiError::field("statusMapping", msg))?;
    state.storage.put_org_settings(id, org, &rec).await?;
    ok(&json!({"integration": id, "organization": org, "settings": rec}))
}

/// `GET /integrations/{id}/organizations`.
pub async fn list_orgs(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    load(state, id).await?;
    let orgs: Vec<_> = state
        .storage
        .org_settings(id)
        .await?
        .into_iter()
        .map(|(org, settings)| json!({"organization": org, "settings": settings}))
        .collect();
    ok(&json!({ "organizations": orgs }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingBody {
    user: String,
}

/// `PUT /integrations/{id}/user-mappings/{jiraUser}` `{"user": "<user id>"}`.
pub async fn put_user_mapping(
    state: &AppState,
    id: &str,
    jira_user: &str,
    body: &[u8],
) -> Result<Resp, ApiError> {
    load(state, id).await?;
    check_id("jiraUser", jira_user)?;
    let b: MappingBody = parse_json(body)?;
    if state.storage.user(&b.user).await?.is_none() {
        return Err(ApiError::field(
            "user",
            format!(
                "No user `{}`; create it first with PUT /api/v1/users/{{id}}.",
                b.user
            ),
        ));
    }
    state
        .storage
        .put_user_mapping(id, jira_user, &b.user)
        .await?;
    ok(&json!({"integration": id, "jiraUser": jira_user, "user": b.user}))
}

/// `GET /integrations/{id}/deliveries?limit=N` (default 50, at most 1000), newest first.
/// With `include=ignored`, the deliveries the webhook answered without storing them (no group
/// linked, no changelog; kept in memory, see `crate::webhook::IgnoredRing`) are merged in by
/// receive time, with `state: "ignored"` and `reason` `unlinked` or `no_changelog`.
pub async fn deliveries(state: &AppState, id: &str, query: &str) -> Result<Resp, ApiError> {
    load(state, id).await?;
    let mut limit = 50usize;
    let mut include_ignored = false;
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if k == "include" {
            for part in v.split(',').filter(|p| !p.is_empty()) {
                if part != "ignored" {
                    return Err(ApiError::field(
                        "include",
                        "`include` takes `ignored` (the deliveries answered without being stored).",
                    ));
                }
                include_ignored = true;
            }
        }
        if k == "limit" {
            limit = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::field("limit", "`limit` must be 1 to 1000."))?;
        }
    }
    // Logged deliveries (final, or pending with a retry reason) merged with inbox entries not
    // logged yet, newest (highest sequence number) first. The inbox is read first: a batch
    // that finishes between the two reads logs an entry no later than it leaves the inbox (one
    // transaction on PostgreSQL, the log written first on sled), so each entry is seen in one
    // read or the other; read the other way round, it could be in neither.
    let pending = state
        .storage
        .pending_for(id)
        .await
        .map_err(|e| ApiError::internal("the inbox could not be read", &e))?;
    let mut merged: std::collections::BTreeMap<u64, DeliveryRecord> = state
        .storage
        .deliveries(id, limit)
        .await?
        .into_iter()
        .collect();
    for e in pending {
        merged.entry(e.seq).or_insert_with(|| {
            let info = match crate::webhook::classify(&e.body) {
                crate::webhook::BodyClass::Relevant { info, .. } => info,
                _ => crate::webhook::PendingInfo::default(),
            };
            DeliveryRecord {
                received_at: crate::time::rfc3339_ms(e.received_ms),
                event: info.event,
                issue_key: info.issue_key,
                state: DeliveryState::Pending,
                reason: None,
                outcomes: Vec::new(),
            }
        });
    }
    let mut list: Vec<DeliveryRecord> = merged.into_values().rev().take(limit).collect();
    if include_ignored {
        list = merge_ignored(list, state.ignored.recent(id, limit), limit);
    }
    ok(&json!({ "deliveries": list }))
}

/// Merges the stored deliveries (newest first) with the ones answered without being stored
/// (newest first) by receive time, newest first (a stored one first on a tie), `limit` at most.
fn merge_ignored(
    stored: Vec<DeliveryRecord>,
    ignored: Vec<crate::webhook::IgnoredDelivery>,
    limit: usize,
) -> Vec<DeliveryRecord> {
    let mut ignored = ignored
        .into_iter()
        .map(|d| DeliveryRecord {
            received_at: crate::time::rfc3339_ms(d.received_ms),
            event: d.event,
            issue_key: d.issue_key,
            state: DeliveryState::Ignored,
            reason: Some(d.reason.as_str().to_owned()),
            outcomes: Vec::new(),
        })
        .peekable();
    let mut stored = stored.into_iter().peekable();
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        // RFC 3339 times of one format in UTC order as strings.
        let take_ignored = match (stored.peek(), ignored.peek()) {
            (Some(s), Some(i)) => i.received_at > s.received_at,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        let next = if take_ignored {
            ignored.next()
        } else {
            stored.next()
        };
        match next {
            Some(d) => out.push(d),
            None => break,
        }
    }
    out
}
