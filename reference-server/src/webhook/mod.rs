//! `POST /extensions/jira-server/issue-updated/{token}/`: check the token, classify the body,
//! store it durably, answer.
//!
//! | condition | answer |
//! |---|---|
//! | token empty, undecodable, without `id`, unknown integration, bad signature, not HS256 | 400 |
//! | body larger than the limit | 413 |
//! | body not JSON, or JSON but not an object | 400 |
//! | body nested deeper than 128 levels | 400 |
//! | object without a changelog (absent, `null`, empty) | 200, nothing stored |
//! | a change on an issue no group is linked to (issue key, and the old key of a key change) | 200, nothing stored |
//! | otherwise | stored in the inbox and flushed, then 200 |

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::{self, Resp};
use crate::inbox::PendingInfo;
use crate::jira::webhook_token;
use crate::metrics::WebhookOutcome;

/// What the hot path reads of a delivery (borrowed, everything else skipped).
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, rename = "webhookEvent")]
    webhook_event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    issue: Option<ProbeIssue<'a>>,
    #[serde(borrow, default)]
    changelog: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ProbeIssue<'a> {
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ProbeChangelog<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<ProbeItem<'a>>>,
}

#[derive(Deserialize)]
struct ProbeItem<'a> {
    #[serde(borrow, default)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "fieldId")]
    field_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "fromString")]
    from_string: Option<Cow<'a, str>>,
}

/// Deepest nesting accepted (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Whether arrays/objects nest deeper than `max` (strings are skipped; one linear pass).
fn too_deep(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The issue keys whose links decide whether a delivery matters: the issue key and, for an
/// issue moved to a new key, the old key. `None` when that cannot be told from the body.
fn candidate_keys(issue_key: Option<&str>, changelog: &RawValue) -> Option<Vec<String>> {
    let mut keys = vec![issue_key?.to_owned()];
    let cl: ProbeChangelog<'_> = serde_json::from_str(changelog.get()).ok()?;
    for item in cl.items.unwrap_or_default() {
        let is_key = item
            .field_id
            .as_deref()
            .or(item.field.as_deref())
            .is_some_and(|f| f.eq_ignore_ascii_case("key"));
        if is_key {
            keys.push(item.from_string?.into_owned());
        }
    }
    Some(keys)
}

/// How a body is classified.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyClass {
    /// Not JSON, or not an object.
    Invalid,
    /// An object without a (truthy) changelog.
    NoChangelog,
    /// To be stored, unless no group is linked to any of `keys` (`None`: cannot tell).
    Relevant {
        /// What the delivery log shows while pending.
        info: PendingInfo,
        /// Issue keys whose links decide relevance.
        keys: Option<Vec<String>>,
    },
}

fn falsy(raw: &RawValue) -> bool {
    let s = raw.get();
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    matches!(
        compact.as_str(),
        "null" | "{}" | "[]" | "\"\"" | "0" | "false" | "0.0"
    )
}

/// Classifies a delivery body (Sentry: `if not data.get("changelog")` -> 200).
pub fn classify(body: &[u8]) -> BodyClass {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') || too_deep(body, MAX_DEPTH) {
        return BodyClass::Invalid;
    }
    match serde_json::from_slice::<Probe<'_>>(body) {
        Ok(p) => match p.changelog {
            Some(raw) if !falsy(raw) => {
                let issue_key = p.issue.and_then(|i| i.key).map(Cow::into_owned);
                BodyClass::Relevant {
                    keys: candidate_keys(issue_key.as_deref(), raw),
                    info: PendingInfo {
                        event: p.webhook_event.map(Cow::into_owned),
                        issue_key,
                    },
                }
            }
            _ => BodyClass::NoChangelog,
        },
        // An object whose `issue`/`webhookEvent` has an unexpected shape: still valid JSON?
        Err(_) => {
            match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
                Ok(map) => match map.get("changelog") {
                    Some(v) if truthy(v) => BodyClass::Relevant {
                        info: PendingInfo::default(),
                        keys: None,
                    },
                    _ => BodyClass::NoChangelog,
                },
                Err(_) => BodyClass::Invalid,
            }
        }
    }
}

fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

fn bad_token(state: &AppState, e: &dyn std::fmt::Display) -> Resp {
    // Never log the token itself.
    tracing::warn!(error = %e, "webhook token rejected");
    state.metrics.webhook(WebhookOutcome::BadToken);
    response::error(&ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        e.to_string(),
    ))
}

/// Handles one delivery. `token` is the raw path segment.
pub async fn handle<B>(state: &AppState, token_str: &str, body: B) -> Resp
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if token_str.trim().is_empty() {
        return bad_token(state, &"Token was empty");
    }
    let external_id = match webhook_token::peek_id(token_str) {
        Ok(id) => id,
        Err(e) => return bad_token(state, &e),
    };
    let entry = match state.tokens.lookup(&state.store, &external_id) {
        Ok(Some(e)) => e,
        Ok(None) => return bad_token(state, &"Could not find integration for token"),
        Err(e) => {
            state.metrics.webhook(WebhookOutcome::Error);
            return response::error(&ApiError::from(e));
        }
    };
    let now = crate::time::now_ms();
    if let Err(e) = webhook_token::verify(token_str, entry.secret.key()) {
        return bad_token(state, &format_args!("Could not validate JWT. Got {e}"));
    }
    let body = match response::read_body(body, state.body_limit, state.body_timeout).await {
        Ok(b) => b,
        Err(e) => {
            state
                .metrics
                .webhook(if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                    WebhookOutcome::TooLarge
                } else {
                    WebhookOutcome::BadBody
                });
            return response::error(&e);
        }
    };
    match classify(&body) {
        BodyClass::Invalid => {
            state.metrics.webhook(WebhookOutcome::BadBody);
            tracing::info!(integration = %entry.integration_id, "webhook body is not a JSON object");
            response::error(&ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The body must be a JSON object (a Jira webhook delivery).",
            ))
        }
        BodyClass::NoChangelog => {
            state.metrics.webhook(WebhookOutcome::NoChangelog);
            tracing::debug!(integration = %entry.integration_id, "missing-changelog");
            response::empty(StatusCode::OK)
        }
        BodyClass::Relevant { info, keys } => {
            if let Some(keys) = keys {
                let mut linked = false;
                for k in &keys {
                    // A storage error counts as linked: store and let the worker decide.
                    let unlinked =
                        matches!(state.store.has_links(&entry.integration_id, k), Ok(false))
                            && matches!(state.store.has_move(&entry.integration_id, k), Ok(false));
                    if !unlinked {
                        linked = true;
                        break;
                    }
                }
                if !linked {
                    state.metrics.webhook(WebhookOutcome::Unlinked);
                    tracing::debug!(integration = %entry.integration_id, "no group linked to the issue");
                    return response::empty(StatusCode::OK);
                }
            }
            match state
                .inbox
                .commit(&entry.integration_id, now, info, &body)
                .await
            {
                Ok(seq) => {
                    state.metrics.webhook(WebhookOutcome::Accepted);
                    tracing::debug!(integration = %entry.integration_id, seq, "delivery stored");
                    response::empty(StatusCode::OK)
                }
                Err(e) => {
                    state.metrics.webhook(WebhookOutcome::Error);
                    response::error(&ApiError::internal("could not store the delivery", &e))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(b""), BodyClass::Invalid);
        assert_eq!(classify(b"not json"), BodyClass::Invalid);
        assert_eq!(classify(b"[1,2]"), BodyClass::Invalid);
        assert_eq!(classify(b"\"x\""), BodyClass::Invalid);
        assert_eq!(classify(b"{\"a\":"), BodyClass::Invalid);
        assert_eq!(classify(b"{}"), BodyClass::NoChangelog);
        assert_eq!(classify(b"{\"changelog\":null}"), BodyClass::NoChangelog);
        assert_eq!(classify(b"{\"changelog\": { } }"), BodyClass::NoChangelog);
        assert_eq!(
            classify(b"{\"webhookEvent\":\"jira:issue_updated\",\"issue\":{\"key\":\"APP-1\"},\"changelog\":{\"items\":[]}}"),
            BodyClass::Relevant {
                info: PendingInfo {
                    event: Some("jira:issue_updated".into()),
                    issue_key: Some("APP-1".into())
                },
                keys: Some(vec!["APP-1".into()]),
            }
        );
        assert_eq!(
            classify(b"{\"issue\":5,\"changelog\":{\"id\":\"1\"}}"),
            BodyClass::Relevant {
                info: PendingInfo::default(),
                keys: None
            }
        );
        let mut deep = b"{\"changelog\":".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 200));
        deep.extend(std::iter::repeat_n(b']', 200));
        deep.push(b'}');
        assert_eq!(classify(&deep), BodyClass::Invalid);
        // Brackets inside strings do not count.
        let mut quoted = b"{\"changelog\":{\"id\":\"".to_vec();
        quoted.extend(std::iter::repeat_n(b'[', 200));
        quoted.extend_from_slice(b"\\\"\"}}");
        assert!(matches!(classify(&quoted), BodyClass::Relevant { .. }));
    }

    #[test]
    fn sentry_fixtures() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let read = |n: &str| std::fs::read(format!("{dir}/{n}")).expect("fixture");
        assert_eq!(
            classify(&read("test_drop_request_without_changelog.json")),
            BodyClass::NoChangelog
        );
        assert!(matches!(
            classify(&read("edit_issue_assignee_payload.json")),
            BodyClass::Relevant { keys: Some(k), .. } if k == ["APP-123"]
        ));
        // An issue moved from APP-123 to PLATFORM-45: both keys decide.
        assert!(matches!(
            classify(&read("moved_issue_payload.json")),
            BodyClass::Relevant { keys: Some(k), .. } if k == ["PLATFORM-45", "APP-123"]
        ));
    }
}
