//! Tracker data: users, projects, groups and links (ids chosen by the caller, PUT is idempotent).

use serde::Deserialize;
use serde_json::json;

use super::{check_id, ok, parse_json};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::Resp;
use crate::storage::records::{EmailRecord, GroupRecord, ProjectRecord, UserRecord};
use crate::storage::{Integrations as _, Tracker as _};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    /// Required (a PUT replaces the user: an empty body must not blank it).
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    emails: Vec<EmailRecord>,
}

fn yes() -> bool {
    true
}

/// `PUT /users/{id}` `{"name", "active", "emails": [{"email", "verified"}]}`.
pub async fn put_user(state: &AppState, id: &str, body: &[u8]) -> Result<Resp, ApiError> {
    check_id("id", id)?;
    let b: UserBody = parse_json(body)?;
    if let Some(bad) = b.emails.iter().find(|e| !e.email.contains('@')) {
        return Err(ApiError::field(
            "emails",
            format!("`{}` is not an e-mail address.", bad.email),
        ));
    }
    let Some(name) = b.name.filter(|n| !n.trim().is_empty()) else {
        return Err(ApiError::field(
            "name",
            "`name` is required: a PUT replaces the whole user.",
        ));
    };
    let rec = UserRecord {
        name,
        active: b.active,
        emails: b.emails,
    };
    state.storage.put_user(id, &rec).await?;
    ok(&user_json(id, &rec))
}

fn user_json(id: &str, u: &UserRecord) -> serde_json::Value {
    json!({"id": id, "name": u.name, "active": u.active, "emails": u.emails})
}

/// `GET /users/{id}`.
pub async fn get_user(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let u = state
        .storage
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No user `{id}`.")))?;
    ok(&user_json(id, &u))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBody {
    organization: String,
    #[serde(default)]
    members: Vec<String>,
}

/// `PUT /projects/{id}` `{"organization", "members": [user ids]}`.
pub async fn put_project(state: &AppState, id: &str, body: &[u8]) -> Result<Resp, ApiError> {
    check_id("id", id)?;
    let b: ProjectBody = parse_json(body)?;
    check_id("organization", &b.organization)?;
    for m in &b.members {
        check_id("members", m)?;
    }
    let rec = ProjectRecord {
        organization: b.organization,
        members: b.members,
    };
    state.storage.put_project(id, &rec).await?;
    ok(&json!({"id": id, "organization": rec.organization, "members": rec.members}))
}

/// `GET /projects/{id}`.
pub async fn get_project(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let p = state
        .storage
        .project(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No project `{id}`.")))?;
    ok(&json!({"id": id, "organization": p.organization, "members": p.members}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    project: String,
}

/// `PUT /groups/{id}` `{"project"}` (status and assignee of an existing group are kept).
pub async fn put_group(state: &AppState, id: &str, body: &[u8]) -> Result<Resp, ApiError> {
    check_id("id", id)?;
    let b: GroupBody = parse_json(body)?;
    check_id("project", &b.project)?;
    if state.storage.project(&b.project).await?.is_none() {
        return Err(ApiError::field(
            "project",
            format!(
                "No project `{}`; create it first with PUT /api/v1/projects/{{id}}.",
                b.project
            ),
        ));
    }
    let g = state.storage.put_group(id, &b.project).await?;
    ok(&group_json(id, &g))
}

fn group_json(id: &str, g: &GroupRecord) -> serde_json::Value {
    json!({"id": id, "project": g.project, "status": g.status, "assignee": g.assignee})
}

/// `GET /groups/{id}` -> `{"id", "project", "status", "assignee"}`.
pub async fn get_group(state: &AppState, id: &str) -> Result<Resp, ApiError> {
    let g = state
        .storage
        .group(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No group `{id}`.")))?;
    ok(&group_json(id, &g))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    /// Only this integration's watermarks; all when absent.
    #[serde(default)]
    integration: Option<String>,
}

/// `POST /groups/{id}/reset-watermarks` (empty body, `{}`, or `{"integration": "<id>"}`):
/// removes the group's ordering watermarks (of one integration, or all), so that the next
/// delivery applies whatever its ordering key. The way out when a forged or broken delivery
/// (a timestamp far in the future, a huge changelog id) left a watermark that every real
/// delivery is `stale` against. Answers the removed watermarks and the group as it is now.
pub async fn reset_watermarks(state: &AppState, id: &str, body: &[u8]) -> Result<Resp, ApiError> {
    let b: ResetBody = parse_json(body)?;
    if let Some(i) = &b.integration {
        check_id("integration", i)?;
    }
    let removed = state
        .storage
        .reset_watermarks(id, b.integration.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No group `{id}`.")))?;
    tracing::warn!(
        group = %id,
        integration = b.integration.as_deref().unwrap_or("(all)"),
        removed = ?removed,
        "ordering watermarks reset through the admin API"
    );
    let g = state
        .storage
        .group(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No group `{id}`.")))?;
    ok(&json!({ "reset": removed, "group": group_json(id, &g) }))
}

/// `PUT /groups/{id}/external-issues/{integration}/{key}` (empty body or `{}`).
pub async fn put_link(
    state: &AppState,
    group: &str,
    integration: &str,
    key: &str,
    body: &[u8],
) -> Result<Resp, ApiError> {
    let _: serde_json::Map<String, serde_json::Value> = parse_json(body)?;
    check_id("key", key)?;
    if state.storage.group(group).await?.is_none() {
        return Err(ApiError::not_found(format!("No group `{group}`.")));
    }
    if state.storage.integration(integration).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "No integration `{integration}`."
        )));
    }
    state.storage.link(group, integration, key).await?;
    ok(&json!({"group": group, "integration": integration, "issueKey": key}))
}

/// `DELETE /groups/{id}/external-issues/{integration}/{key}`.
pub async fn delete_link(
    state: &AppState,
    group: &str,
    integration: &str,
    key: &str,
) -> Result<Resp, ApiError> {
    if state.storage.unlink(group, integration, key).await? {
        ok(&json!({"group": group, "integration": integration, "issueKey": key, "deleted": true}))
    } else {
        Err(ApiError::not_found(format!(
            "Group `{group}` is not linked to `{key}` of integration `{integration}`."
        )))
    }
}
