//! Webhooks: create, list and delete, on both resources of Jira Server/DC
//! (jira-server-api §2.1, §2.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Auth, BaseUrl, JiraError, SecretString};

/// Operation name of [`create_request`].
pub const CREATE: &str = "createWebhook";
/// Operation name of [`list_request`].
pub const LIST: &str = "listWebhooks";
/// Operation name of [`delete_request`].
pub const DELETE: &str = "deleteWebhook";

/// Events the integration subscribes to.
pub const WEBHOOK_EVENTS: [&str; 2] = ["jira:issue_created", "jira:issue_updated"];

/// Name given to the webhook registered in Jira.
pub const DEFAULT_WEBHOOK_NAME: &str = "Issue Sync (reference-server)";

/// The two webhook REST resources of Jira Server/DC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum WebhookApi {
    /// Jira up to 9.x: `/rest/webhooks/1.0/webhook`; the reply has `self`, the id is its last
    /// path segment.
    Webhooks1,
    /// Jira Data Center 10+: `/rest/jira-webhook/1.0/webhooks`; the reply has a numeric `id`.
    JiraWebhook1,
}

impl WebhookApi {
    /// `JiraWebhook1` for major version 10 and later, `Webhooks1` otherwise (Sentry PR #90116).
    pub fn for_major_version(major: u64) -> Self {
        if major >= 10 {
            Self::JiraWebhook1
        } else {
            Self::Webhooks1
        }
    }

    /// Path of the collection resource (POST creates, GET lists).
    pub fn collection_path(self) -> &'static str {
        match self {
            Self::Webhooks1 => "/rest/webhooks/1.0/webhook",
            Self::JiraWebhook1 => "/rest/jira-webhook/1.0/webhooks",
        }
    }
}

/// What to register: name, target URL (a secret: it carries the token) and events.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebhookSpec {
    /// Webhook name shown in Jira's admin UI.
    pub name: String,
    /// The delivery URL.
    pub url: SecretString,
    /// Subscribed events.
    pub events: Vec<String>,
}

impl WebhookSpec {
    /// [`DEFAULT_WEBHOOK_NAME`], the given URL and [`WEBHOOK_EVENTS`].
    pub fn new(url: impl Into<SecretString>) -> Self {
        Self {
            name: DEFAULT_WEBHOOK_NAME.to_owned(),
            url: url.into(),
            events: WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        }
    }
}

/// A registered webhook, as needed to delete it later.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookRef {
    /// Which resource it was created at.
    pub api: WebhookApi,
    /// Its id (from `id`, or the last segment of `self`), if Jira returned one.
    pub id: Option<String>,
    /// The delivery URL, used to find the webhook by listing when Jira returned no id.
    pub url: SecretString,
}

/// Two references are equal when they name the same resource, id and delivery URL (the
/// URL is compared as exposed text: both sides are ours, not an attacker's candidate).
impl PartialEq for WebhookRef {
    fn eq(&self, other: &Self) -> bool {
        self.api == other.api && self.id == other.id && self.url.expose() == other.url.expose()
    }
}

impl Eq for WebhookRef {}

/// Result of deleting a webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookDeletion {
    /// Jira deleted it.
    Deleted,
    /// Jira no longer had it (404, or not found by URL).
    AlreadyGone,
}

/// `POST` on the collection with `{"name", "url", "events"}`.
pub fn create_request(
    base: &BaseUrl,
    auth: &Auth,
    api: WebhookApi,
    spec: &WebhookSpec,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    let body = serde_json::json!({
        "name": spec.name,
        "url": spec.url.expose(),
        "events": spec.events,
    });
    super::rest(
        http::Method::POST,
        base,
        auth,
        api.collection_path(),
        &[],
        Some(body.to_string().into_bytes()),
    )
}

/// Parses the create answer. Any 2xx is success; a 204 or a body without `id`/`self` gives a
/// [`WebhookRef`] without id (deletion then finds it by URL).
pub fn parse_create<B: AsRef<[u8]>>(
    api: WebhookApi,
    spec: &WebhookSpec,
    response: &http::Response<B>,
) -> Result<WebhookRef, JiraError> {
    let body = super::check_status(response)?;
    let id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|json| webhook_id(&json));
    Ok(WebhookRef {
        api,
        id,
        url: spec.url.clone(),
    })
}

/// `GET` on the collection.
pub fn list_request(
    base: &BaseUrl,
    auth: &Auth,
    api: WebhookApi,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    super::rest(
        http::Method::GET,
        base,
        auth,
        api.collection_path(),
        &[],
        None,
    )
}

/// Parses the list as raw JSON objects (a bare array, or `{"values": [...]}` in versions that
/// page it).
pub fn parse_list<B: AsRef<[u8]>>(response: &http::Response<B>) -> Result<Vec<Value>, JiraError> {
    let json: Value = super::json(LIST, response)?;
    Ok(match json {
        Value::Array(list) => list,
        Value::Object(mut map) => match map.remove("values") {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

/// The ids of the listed webhooks whose `url` is `url`.
pub fn ids_with_url(list: &[Value], url: &SecretString) -> Vec<String> {
    list.iter()
        .filter(|w| w.get("url").and_then(Value::as_str) == Some(url.expose()))
        .filter_map(webhook_id)
        .collect()
}

/// `DELETE {collection}/{id}`.
pub fn delete_request(
    base: &BaseUrl,
    auth: &Auth,
    api: WebhookApi,
    id: &str,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    let path = format!(
        "{}/{}",
        api.collection_path(),
        jira_oauth::percent_encode(id)
    );
    super::rest(http::Method::DELETE, base, auth, &path, &[], None)
}

/// Parses the delete answer: 404 is [`WebhookDeletion::AlreadyGone`].
pub fn parse_delete<B: AsRef<[u8]>>(
    response: &http::Response<B>,
) -> Result<WebhookDeletion, JiraError> {
    match super::check_status(response) {
        Ok(_) => Ok(WebhookDeletion::Deleted),
        Err(JiraError::Status { status: 404, .. }) => Ok(WebhookDeletion::AlreadyGone),
        Err(e) => Err(e),
    }
}

/// The id of a webhook object: `id` (number or string), else the last segment of `self`.
fn webhook_id(json: &Value) -> Option<String> {
    match json.get("id") {
        Some(Value::Number(n)) => return Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
        _ => {}
    }
    let self_url = json.get("self")?.as_str()?;
    let last = self_url.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty()).then(|| last.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_ids_from_both_apis() {
        let v9 =
            serde_json::json!({"self": "https://jira.example.com/rest/webhooks/1.0/webhook/12"});
        assert_eq!(webhook_id(&v9).as_deref(), Some("12"));
        let v10 = serde_json::json!({"id": 7, "name": "x"});
        assert_eq!(webhook_id(&v10).as_deref(), Some("7"));
        assert_eq!(webhook_id(&serde_json::json!({})), None);
    }
}
