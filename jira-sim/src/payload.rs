//! Webhook payloads and REST representations built from the simulated state
//! (shapes from jira-server-api §1.1, §1.4, §1.5, §1.8).

use serde_json::{Value, json};

use super::{Shared, SimIssue, SimStatus, SimUser, State};

/// `2024-06-10T09:13:20.000+0000` for now.
pub(super) fn jira_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A Server/DC user object; `emailAddress` only when the user's e-mail is visible.
pub(super) fn user_json(base: &str, user: &SimUser) -> Value {
    let mut value = json!({
        "self": format!("{base}/rest/api/2/user?username={}", user.name),
        "name": user.name,
        "key": user.key,
        "displayName": user.display_name,
        "active": true,
        "timeZone": "UTC",
        "avatarUrls": {"48x48": format!("{base}/secure/useravatar?ownerId={}", user.key)},
    });
    if let (Some(email), Some(map)) = (&user.email, value.as_object_mut()) {
        map.insert("emailAddress".to_owned(), json!(email));
    }
    value
}

pub(super) fn status_json(base: &str, status: &SimStatus) -> Value {
    let (category_id, color, category_name) = match status.category_key.as_str() {
        "new" => (2, "blue-gray", "To Do"),
        "indeterminate" => (4, "yellow", "In Progress"),
        "done" => (3, "green", "Done"),
        _ => (1, "medium-gray", "No Category"),
    };
    json!({
        "self": format!("{base}/rest/api/2/status/{}", status.id),
        "description": "",
        "iconUrl": format!("{base}/images/icons/statuses/generic.png"),
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": format!("{base}/rest/api/2/statuscategory/{category_id}"),
            "id": category_id,
            "key": status.category_key,
            "colorName": color,
            "name": category_name,
        },
    })
}

pub(super) fn issue_json(base: &str, state: &State, issue: &SimIssue) -> Value {
    let status = state
        .config
        .statuses
        .iter()
        .find(|s| s.id == issue.status_id)
        .map_or(Value::Null, |s| status_json(base, s));
    let assignee = issue
        .assignee
        .as_deref()
        .and_then(|name| find_user(state, name))
        .map_or(Value::Null, |u| user_json(base, u));
    let project_key = issue.key.split('-').next().unwrap_or_default();
    json!({
        "id": issue.id,
        "self": format!("{base}/rest/api/2/issue/{}", issue.id),
        "key": issue.key,
        "fields": {
            "summary": issue.summary,
            "status": status,
            "assignee": assignee,
            "project": {
                "self": format!("{base}/rest/api/2/project/10000"),
                "id": "10000",
                "key": project_key,
                "name": project_key,
            },
            "resolution": null,
            "updated": jira_now(),
        },
    })
}

pub(super) fn find_user<'a>(state: &'a State, name: &str) -> Option<&'a SimUser> {
    state.config.users.iter().find(|u| u.name == name)
}

fn envelope(
    base: &str,
    state: &mut State,
    issue: &SimIssue,
    actor: &str,
    event_type: &str,
    item: &Value,
) -> Value {
    let changelog_id = state.next_changelog_id;
    state.next_changelog_id += 1;
    let user = find_user(state, actor).map_or(Value::Null, |u| user_json(base, u));
    json!({
        "timestamp": now_ms(),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": event_type,
        "user": user,
        "issue": issue_json(base, state, issue),
        "changelog": {"id": changelog_id.to_string(), "items": [item]},
    })
}

/// Assigns an issue and returns the delivery body.
pub(super) fn assign(
    shared: &Shared,
    key: &str,
    assignee: Option<&str>,
    actor: &str,
) -> Result<Value, String> {
    let base = shared.base_url.clone();
    let mut state = shared.lock();
    if let Some(name) = assignee
        && find_user(&state, name).is_none()
    {
        return Err(format!("User '{name}' cannot be assigned issues."));
    }
    let issue = state
        .issues
        .get_mut(key)
        .ok_or_else(|| "Issue Does Not Exist".to_owned())?;
    let previous = issue.assignee.take();
    issue.assignee = assignee.map(str::to_owned);
    let issue = issue.clone();
    let describe = |state: &State, name: Option<&str>| {
        name.and_then(|n| find_user(state, n))
            .map_or((Value::Null, Value::Null), |u| {
                (json!(u.key), json!(u.display_name))
            })
    };
    let (from, from_string) = describe(&state, previous.as_deref());
    let (to, to_string) = describe(&state, assignee);
    let item = json!({
        "field": "assignee", "fieldtype": "jira", "fieldId": "assignee",
        "from": from, "fromString": from_string, "to": to, "toString": to_string,
    });
    Ok(envelope(
        &base,
        &mut state,
        &issue,
        actor,
        "issue_assigned",
        &item,
    ))
}

/// Moves an issue to another status and returns the delivery body.
pub(super) fn transition(
    shared: &Shared,
    key: &str,
    status_id: &str,
    actor: &str,
) -> Result<Value, String> {
    let base = shared.base_url.clone();
    let mut state = shared.lock();
    let target = state
        .config
        .statuses
        .iter()
        .find(|s| s.id == status_id)
        .cloned()
        .ok_or_else(|| format!("Transition id '{status_id}' is not valid for this issue."))?;
    let issue = state
        .issues
        .get_mut(key)
        .ok_or_else(|| "Issue Does Not Exist".to_owned())?;
    let previous = std::mem::replace(&mut issue.status_id, target.id.clone());
    let issue = issue.clone();
    let previous_name = state
        .config
        .statuses
        .iter()
        .find(|s| s.id == previous)
        .map_or(Value::Null, |s| json!(s.name));
    let item = json!({
        "field": "status", "fieldtype": "jira", "fieldId": "status",
        "from": previous, "fromString": previous_name, "to": target.id, "toString": target.name,
    });
    Ok(envelope(
        &base,
        &mut state,
        &issue,
        actor,
        "issue_generic",
        &item,
    ))
}
