//! `POST /extensions/jira-server/issue-updated/{token}/`: check the token, classify the body,
//! store it durably, answer.
//!
//! | condition | answer |
//! |---|---|
//! | token empty, undecodable, without `id`, unknown integration, bad signature, not HS256 | 400 |
//! | body larger than the limit | 413 |
//! | body not JSON, or JSON but not an object | 400 |
//! | body nested deeper than 128 levels | 400 |
//! | object without a changelog (absent, `null`, empty) | 200, nothing stored (kept in memory in [`IgnoredRing`]) |
//! | a change on an issue no group is linked to (issue key, and the old key of a key change) | 200, nothing stored (kept in memory in [`IgnoredRing`]) |
//! | otherwise | stored in the inbox (the members the sync reads, `storage::stored::StoredDelivery`) and flushed, then 200 |
//!
//! The body is read once (`probe::Probe`): by the hand-written fast path (`scan`) when it
//! takes the body, by serde otherwise; both give the same `Probe`, from which classification
//! and the stored form are taken.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use jira_webhook_model::ChangeKind;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::{self, Resp};
use crate::jira::webhook_token;
use crate::metrics::WebhookOutcome;
use crate::storage::{Inbox as _, Tracker as _};

mod ignored;
mod probe;
mod scan;

pub use ignored::{CAPACITY as IGNORED_CAPACITY, IgnoredDelivery, IgnoredReason, IgnoredRing};

use probe::{Picked, Probe, ProbeChangelog};

/// Deepest nesting accepted (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// The issue keys whose links decide whether a delivery matters: the issue key and, for an
/// issue moved to a new key, the old key. `None` when that cannot be told from the body.
/// The keys borrow from the body whenever they contain no JSON escapes.
fn candidate_keys<'a>(
    issue_key: Option<&Cow<'a, str>>,
    changelog: &'a str,
) -> Option<Vec<Cow<'a, str>>> {
    let mut keys = vec![issue_key?.clone()];
    let cl: ProbeChangelog<'a> = serde_json::from_str(changelog).ok()?;
    for item in cl.items.unwrap_or_default() {
        // Every shape the model recognises (`fieldId: issuekey`, `field: Key`, ...), as the
        // worker reads it: a move this misses would be answered as unlinked and never stored.
        let kind = ChangeKind::recognise_item(
            item.field_id.as_deref(),
            item.field.as_deref(),
            item.field_type.as_deref(),
        );
        if kind == ChangeKind::IssueKey {
            keys.push(item.from_string?);
        }
    }
    Some(keys)
}

/// What the delivery log shows of a delivery still waiting in the inbox (derived from its
/// stored body).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingInfo {
    /// `webhookEvent`.
    pub event: Option<String>,
    /// Issue key.
    pub issue_key: Option<String>,
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

/// [`BodyClass`] borrowing from the body: what the hot path needs, without allocating the
/// event name and keys (only a delivery that is stored needs them owned).
#[derive(Debug)]
enum Borrowed<'a> {
    Invalid,
    NoChangelog {
        event: Option<Cow<'a, str>>,
        issue_key: Option<Cow<'a, str>>,
    },
    Relevant {
        event: Option<Cow<'a, str>>,
        issue_key: Option<Cow<'a, str>>,
        keys: Option<Vec<Cow<'a, str>>>,
        /// The parse and the raw changelog the stored form is cut from, only once the
        /// delivery is known to be linked (`None`: the whole body is stored).
        read: Option<Box<(Probe<'a>, Picked<'a>, &'a str)>>,
    },
}

impl Borrowed<'_> {
    fn into_owned(self) -> BodyClass {
        match self {
            Borrowed::Invalid => BodyClass::Invalid,
            Borrowed::NoChangelog { .. } => BodyClass::NoChangelog,
            Borrowed::Relevant {
                event,
                issue_key,
                keys,
                read: _,
            } => BodyClass::Relevant {
                info: pending_info(event, issue_key),
                keys: keys.map(|k| k.into_iter().map(Cow::into_owned).collect()),
            },
        }
    }
}

fn pending_info(event: Option<Cow<'_, str>>, issue_key: Option<Cow<'_, str>>) -> PendingInfo {
    PendingInfo {
        event: event.map(Cow::into_owned),
        issue_key: issue_key.map(Cow::into_owned),
    }
}

/// Whether a raw JSON value is falsy in Python (Sentry tests `if not data.get("changelog")`):
/// `null`, `false`, a number equal to zero (`0`, `-0`, `0.00`, `0e5`, and numbers that round to
/// zero), `""`, and an empty array or object (whitespace inside allowed). `" "` is truthy.
fn falsy(raw: &str) -> bool {
    let text = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    match text.as_bytes().first() {
        Some(b'"') => text == "\"\"",
        Some(b'{' | b'[') => text
            .get(1..text.len() - 1)
            .is_some_and(|inner| inner.bytes().all(|b| b.is_ascii_whitespace())),
        Some(b'n') => text == "null",
        Some(b'f') => text == "false",
        Some(b'-' | b'0'..=b'9') => text.parse::<f64>().is_ok_and(|f| f == 0.0),
        _ => false,
    }
}

/// Classifies a delivery body (Sentry: `if not data.get("changelog")` -> 200).
pub fn classify(body: &[u8]) -> BodyClass {
    classify_borrowed(body).into_owned()
}

fn classify_borrowed(body: &[u8]) -> Borrowed<'_> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') || jira_webhook_model::nests_deeper_than(body, MAX_DEPTH) {
        return Borrowed::Invalid;
    }
    let read = read(body).and_then(|(p, picked)| {
        let strings = p.strings()?;
        Some((p, picked, strings))
    });
    match read {
        Some((p, picked, (event, issue_key))) => match p.changelog {
            Some(raw) if !falsy(raw) => Borrowed::Relevant {
                keys: candidate_keys(issue_key.as_ref(), raw),
                event,
                issue_key,
                read: Some(Box::new((p, picked, raw))),
            },
            _ => Borrowed::NoChangelog { event, issue_key },
        },
        // An object whose `issue`/`webhookEvent` has an unexpected shape: still valid JSON?
        None => match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body) {
            Ok(map) => match map.get("changelog") {
                Some(v) if truthy(v) => Borrowed::Relevant {
                    event: None,
                    issue_key: None,
                    keys: None,
                    read: None,
                },
                _ => Borrowed::NoChangelog {
                    event: None,
                    issue_key: None,
                },
            },
            Err(_) => Borrowed::Invalid,
        },
    }
}

/// Reads a body: the fast path when it takes the body, serde otherwise (`None`: not JSON, or
/// JSON of a shape `Probe` does not take); with it, the members of the issue's `status`,
/// `assignee` and `project` that the fast path picked out for the stored form.
fn read(body: &[u8]) -> Option<(Probe<'_>, Picked<'_>)> {
    scan::probe(body).or_else(|| Some((Probe::read_with_serde(body)?, Picked::default())))
}

/// What the inbox keeps of a relevant delivery: its stored form
/// (`storage::stored::StoredDelivery`), or the body whole when the body was not read or its
/// issue or issue fields have an unexpected shape (the worker then records what it could not
/// read). Cut only for a delivery that is stored: an unlinked one never pays for it.
fn stored_form<'a>(body: &'a [u8], read: Option<(Probe<'_>, Picked<'_>, &str)>) -> Cow<'a, [u8]> {
    match read.and_then(|(probe, picked, changelog)| probe.stored(changelog, picked)) {
        Some(stored) => Cow::Owned(stored.encode()),
        None => Cow::Borrowed(body),
    }
}

/// The inbox's form of `body` when it is a relevant delivery (`None` otherwise): for the fuzz
/// target and the tests.
pub fn inbox_form(body: &[u8]) -> Option<Cow<'_, [u8]>> {
    match classify_borrowed(body) {
        Borrowed::Relevant { read, .. } => Some(stored_form(body, read.map(|r| *r))),
        _ => None,
    }
}

/// Whether the fast path, when it reads `body`, reads it as the serde reader does (for the
/// fuzz target; see `scan`).
pub(crate) fn probe_readers_agree(body: &[u8]) -> bool {
    scan::probe(body).is_none_or(|(p, _)| Probe::read_with_serde(body).as_ref() == Some(&p))
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

/// The one answer to every refused webhook token, whatever the reason: a reason in the answer
/// (unknown integration, bad signature, ...) would let anyone probe which external ids exist.
/// The log keeps the reason.
pub const BAD_TOKEN_MESSAGE: &str = "The webhook token was refused. Check the webhook URL \
    registered in Jira, or re-install the integration; the server's log says why.";

fn bad_token(state: &AppState, e: &dyn std::fmt::Display) -> Resp {
    // Never log the token itself.
    tracing::warn!(reason = %e, "webhook token rejected");
    state.metrics.webhook(WebhookOutcome::BadToken);
    response::error(&ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        BAD_TOKEN_MESSAGE,
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
    let peeked = match webhook_token::peek(token_str) {
        Ok(p) => p,
        Err(e) => return bad_token(state, &e),
    };
    let entry = match state.tokens.lookup(&state.storage, peeked.id()).await {
        Ok(Some(e)) => e,
        Ok(None) => return bad_token(state, &"Could not find integration for token"),
        Err(e) => {
            state.metrics.webhook(WebhookOutcome::Error);
            return response::error(&ApiError::unavailable("could not look up the token", &e));
        }
    };
    let now = crate::time::now_ms();
    if let Err(e) = peeked.verify(entry.secret.key()) {
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
    match classify_borrowed(&body) {
        Borrowed::Invalid => {
            state.metrics.webhook(WebhookOutcome::BadBody);
            tracing::info!(integration = %entry.integration_id, "webhook body is not a JSON object");
            response::error(&ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The body must be a JSON object (a Jira webhook delivery).",
            ))
        }
        Borrowed::NoChangelog { event, issue_key } => {
            state.metrics.webhook(WebhookOutcome::NoChangelog);
            state.ignored.record(
                now,
                &entry.integration_id,
                event.as_deref(),
                issue_key.as_deref(),
                IgnoredReason::NoChangelog,
            );
            tracing::debug!(integration = %entry.integration_id, "missing-changelog");
            response::empty(StatusCode::OK)
        }
        Borrowed::Relevant {
            event,
            issue_key,
            keys,
            read,
        } => {
            if let Some(keys) = keys {
                let mut linked = false;
                for k in &keys {
                    // A storage error counts as linked: store and let the worker decide.
                    let unlinked = matches!(
                        state.storage.is_tracked(&entry.integration_id, k).await,
                        Ok(false)
                    );
                    if !unlinked {
                        linked = true;
                        break;
                    }
                }
                if !linked {
                    state.metrics.webhook(WebhookOutcome::Unlinked);
                    state.ignored.record(
                        now,
                        &entry.integration_id,
                        event.as_deref(),
                        issue_key.as_deref(),
                        IgnoredReason::Unlinked,
                    );
                    tracing::debug!(integration = %entry.integration_id, "no group linked to the issue");
                    return response::empty(StatusCode::OK);
                }
            }
            match state
                .storage
                .accept(
                    &entry.integration_id,
                    now,
                    &stored_form(&body, read.map(|r| *r)),
                )
                .await
            {
                Ok(seq) => {
                    state.metrics.webhook(WebhookOutcome::Accepted);
                    tracing::debug!(integration = %entry.integration_id, seq, "delivery stored");
                    response::empty(StatusCode::OK)
                }
                Err(e) => {
                    state.metrics.webhook(WebhookOutcome::Error);
                    // 503, never 200: the delivery is not stored (Jira Data Center does
                    // not retry; see docs/operating.md).
                    response::error(&ApiError::unavailable("could not store the delivery", &e))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::stored::worker_view;
    use jira_webhook_model::LeanEvent;

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
        assert_eq!(classify(b"{\"changelog\": -0.0}"), BodyClass::NoChangelog);
        // A one-space string is truthy in Python: relevant (and the worker then ignores it).
        assert!(matches!(
            classify(b"{\"changelog\": \" \"}"),
            BodyClass::Relevant { keys: None, .. }
        ));
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
    fn falsy_changelogs_known_answers() {
        // Python's truthiness of the parsed value (json.loads), which Sentry's check uses.
        let raw = |s: &str| s.to_owned();
        for s in [
            "null", "{}", "{ }", "[]", "[\n\t]", "\"\"", "0", "false", "0.0", "0.00", "-0", "-0.0",
            "0e5", "1e-400",
        ] {
            assert!(falsy(&raw(s)), "{s} is falsy");
        }
        for s in [
            "1",
            "true",
            "\"x\"",
            "\" \"",
            "\"\\u0000\"",
            "[0]",
            "{\"a\":1}",
            "[null]",
            "\"falsee\"",
            "1e-5",
            "1e400",
        ] {
            assert!(!falsy(&raw(s)), "{s} is truthy");
        }
        // The fallback path (a body the probe cannot read) agrees.
        for s in ["0.00", "-0", "\" \"", "{ }", "1e-400"] {
            let v: serde_json::Value = serde_json::from_str(s).expect("JSON");
            assert_eq!(truthy(&v), !falsy(&raw(s)), "{s}");
        }
    }

    #[test]
    fn fixtures_are_answered_by_the_opener_count() {
        // The fixtures nest shallowly and have few openers: the count alone answers (the
        // count and the exact scan are tested with `jira_webhook_model::nests_deeper_than`).
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        for name in [
            "issue_updated_large.json",
            "edit_issue_assignee_payload.json",
            "moved_issue_payload.json",
            "test_drop_request_without_changelog.json",
        ] {
            let body = std::fs::read(format!("{dir}/{name}")).expect("fixture");
            let openers = body.iter().filter(|&&b| b == b'{' || b == b'[').count();
            assert!(openers <= MAX_DEPTH, "{name}");
            assert!(
                !jira_webhook_model::nests_deeper_than(&body, MAX_DEPTH),
                "{name}"
            );
        }
    }

    #[test]
    fn hot_path_borrows_keys_from_the_body() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let body = std::fs::read(format!("{dir}/moved_issue_payload.json")).expect("fixture");
        match classify_borrowed(&body) {
            Borrowed::Relevant {
                keys: Some(keys), ..
            } => {
                assert_eq!(keys, ["PLATFORM-45", "APP-123"]);
                assert!(keys.iter().all(|k| matches!(k, Cow::Borrowed(_))));
            }
            other => panic!("unexpected {other:?}"),
        }
        // An escaped key cannot borrow but reads the same.
        let escaped = br#"{"issue":{"key":"APP\u002d1"},"changelog":{"items":[]}}"#;
        assert!(matches!(
            classify(escaped),
            BodyClass::Relevant { keys: Some(k), .. } if k == ["APP-1"]
        ));
    }

    /// Every shape of an issue-key item the model recognises names the old key, so a move is
    /// stored when the old key is linked (issue 20, item 12); a custom field named "Key" is not
    /// a move (item 13).
    #[test]
    fn every_issue_key_shape_names_the_old_key() {
        let body = |item: &str| {
            format!(
                r#"{{"issue":{{"key":"PLATFORM-45"}},"changelog":{{"id":"10197","items":[{item}]}}}}"#
            )
        };
        let moves = [
            r#"{"field":"Key","fieldtype":"jira","fromString":"APP-123","toString":"PLATFORM-45"}"#,
            r#"{"field":"key","fromString":"APP-123","toString":"PLATFORM-45"}"#,
            r#"{"field":"Key","fieldtype":"jira","fieldId":"issuekey","fromString":"APP-123","toString":"PLATFORM-45"}"#,
            r#"{"field":"issuekey","fieldtype":"jira","fromString":"APP-123","toString":"PLATFORM-45"}"#,
            r#"{"fieldId":"issuekey","fromString":"APP-123","toString":"PLATFORM-45"}"#,
            r#"{"field":"Issue Key","fieldtype":"jira","fromString":"APP-123","toString":"PLATFORM-45"}"#,
        ];
        for item in moves {
            assert!(
                matches!(
                    classify(body(item).as_bytes()),
                    BodyClass::Relevant { keys: Some(k), .. } if k == ["PLATFORM-45", "APP-123"]
                ),
                "{item}"
            );
        }
        let not_moves = [
            r#"{"field":"Key","fieldtype":"custom","fromString":"APP-123","toString":"X"}"#,
            r#"{"field":"Key","fieldtype":"custom","fieldId":"customfield_10100","fromString":"APP-123","toString":"X"}"#,
            r#"{"field":"Rank","fieldtype":"custom","fromString":"APP-123","toString":"X"}"#,
        ];
        for item in not_moves {
            assert!(
                matches!(
                    classify(body(item).as_bytes()),
                    BodyClass::Relevant { keys: Some(k), .. } if k == ["PLATFORM-45"]
                ),
                "{item}"
            );
        }
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

    /// The inbox keeps the lean form: smaller, and read the same by the worker (`LeanEvent`)
    /// and by the delivery listing (`classify`), for every captured delivery.
    #[test]
    fn stored_form_reads_the_same_and_is_smaller() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let (mut checked, mut lean) = (0, 0);
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let body = std::fs::read(&path).expect("fixture");
            let name = path.display();
            let Some(stored) = inbox_form(&body) else {
                assert!(
                    !matches!(classify(&body), BodyClass::Relevant { .. }),
                    "{name}"
                );
                continue;
            };
            assert_eq!(
                LeanEvent::from_slice(&stored)
                    .ok()
                    .as_ref()
                    .map(worker_view),
                LeanEvent::from_slice(&body).ok().as_ref().map(worker_view),
                "{name}"
            );
            assert_eq!(classify(&stored), classify(&body), "{name}");
            if stored.len() < body.len() {
                lean += 1;
            }
            checked += 1;
        }
        assert!(checked >= 10, "{checked} relevant fixtures");
        assert_eq!(lean, checked, "every relevant fixture is kept lean");
        // The load harness's 11 KB DC delivery keeps 637 bytes, which the worker reads as the full parse.
        let large = std::fs::read(format!("{dir}/issue_updated_large.json")).expect("fixture");
        let stored = inbox_form(&large).expect("relevant");
        assert_eq!(large.len(), 11_014);
        assert!(stored.len() < 700, "{}", stored.len());
        let lean = LeanEvent::from_slice(&stored).expect("lean form parses");
        let full = jira_webhook_model::WebhookEvent::from_slice(&large).expect("fixture parses");
        assert_eq!(lean.issue_key(), full.issue_key());
        assert_eq!(lean.assignee_change(), full.assignee_change());
        let status = |s: &jira_webhook_model::Status| {
            (
                s.id.clone(),
                s.status_category.value().map(|c| c.key.clone()),
            )
        };
        assert_eq!(
            lean.status().map(status),
            full.issue().and_then(|i| i.status()).map(status)
        );
    }

    /// Shapes the lean form cannot carry are kept whole; the others read the same as the body,
    /// with `null` kept apart from absent and a repeated `fields` member counted once, the
    /// last one (as `LeanEvent` does).
    #[test]
    fn lean_form_edge_shapes() {
        let cl = r#""changelog":{"id":"1","items":[{"field":"assignee","to":"bob"}]}"#;
        for body in [
            format!(r#"{{"webhookEvent":"e","issue":{{"key":"A-1","fields":5}},{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":{{"key":"A-1","fields":[1,{{}}]}},{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":null,{cl}}}"#),
            format!(r#"{{"webhookEvent":"e",{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":{{"key":"A-1","key":"A-2"}},{cl}}}"#),
            format!(r#"{{"webhookEvent":7,"issue":{{"key":"A-1"}},{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":{{"key":{{}}}},{cl}}}"#),
        ] {
            let stored = inbox_form(body.as_bytes()).expect("relevant");
            assert!(
                matches!(stored, Cow::Borrowed(s) if s == body.as_bytes()),
                "{body}"
            );
        }
        for body in [
            format!(r#"{{"webhookEvent":"e","issue":{{"key":"A-1","fields":null}},{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":{{"key":"A-1"}},{cl}}}"#),
            format!(r#"{{"webhookEvent":"e","issue":{{"fields":{{}}}},{cl}}}"#),
            format!(r#"{{"issue":{{"key":"A-1","fields":{{}}}},{cl}}}"#),
            format!(r#"{{"webhookEvent":null,"issue":{{"key":null,"fields":{{}}}},{cl}}}"#),
            format!(r#"{{"timestamp":"x","issue":{{"id":17,"key":"A-1"}},{cl},"more":[1]}}"#),
        ] {
            let stored = inbox_form(body.as_bytes()).expect("relevant");
            assert!(matches!(stored, Cow::Owned(_)), "{body}");
            assert_eq!(
                LeanEvent::from_slice(&stored)
                    .ok()
                    .as_ref()
                    .map(worker_view),
                LeanEvent::from_slice(body.as_bytes())
                    .ok()
                    .as_ref()
                    .map(worker_view),
                "{body}"
            );
            assert_eq!(classify(&stored), classify(body.as_bytes()), "{body}");
        }
        let body = format!(
            r#"{{"timestamp":null,"webhookEvent":"jira:issue_updated","issue":{{"id":null,"key":"A\u002d1","fields":{{"assignee":{{"name":"amy"}},"x":[{{"y":1}}],"assignee":null,"status":"odd"}}}},{cl}}}"#
        );
        let stored = inbox_form(body.as_bytes()).expect("relevant");
        assert!(matches!(stored, Cow::Owned(_)));
        assert_eq!(
            std::str::from_utf8(&stored).expect("utf-8"),
            r#"{"timestamp":null,"webhookEvent":"jira:issue_updated","issue":{"id":null,"key":"A\u002d1","fields":{"status":"odd","assignee":null}},"changelog":{"id":"1","items":[{"field":"assignee","to":"bob"}]}}"#
        );
        assert_eq!(
            LeanEvent::from_slice(&stored).ok(),
            LeanEvent::from_slice(body.as_bytes()).ok()
        );
    }

    /// The stored form keeps only the members of `status`, `assignee` and `project` that the
    /// worker reads, verbatim and in order; avatars, URLs and the rest are left out.
    #[test]
    fn stored_form_keeps_what_the_worker_reads() {
        let cl = r#""changelog":{"id":"1","items":[{"field":"assignee","to":"bob"}]}"#;
        let body = format!(
            r#"{{"issue":{{"key":"A-1","fields":{{"assignee":{{"self":"https://j/u","name":"bob","key":"JIRAUSER1","emailAddress":"bob@example.org","avatarUrls":{{"48x48":"https://j/a"}},"displayName":"Bob","active":true,"timeZone":"UTC"}},"status":{{"self":"https://j/s","description":"","iconUrl":"https://j/i","name":"Done","id":"10001","statusCategory":{{"id":3,"key":"done"}}}},"project":{{"self":"https://j/p","id":"10000","key":"APP","name":"App","avatarUrls":{{}}}},"description":"long"}}}},{cl}}}"#
        );
        let stored = inbox_form(body.as_bytes()).expect("relevant");
        assert_eq!(
            std::str::from_utf8(&stored).expect("utf-8"),
            format!(
                r#"{{"issue":{{"key":"A-1","fields":{{"status":{{"name":"Done","id":"10001","statusCategory":{{"id":3,"key":"done"}}}},"assignee":{{"name":"bob","key":"JIRAUSER1","emailAddress":"bob@example.org","displayName":"Bob"}},"project":{{"id":"10000","key":"APP"}}}}}},{cl}}}"#
            )
        );
        let full = LeanEvent::from_slice(body.as_bytes()).expect("body");
        let lean = LeanEvent::from_slice(&stored).expect("stored form");
        assert_eq!(worker_view(&lean), worker_view(&full));
        assert_eq!(
            lean.assignee().and_then(|u| u.email()),
            Some("bob@example.org")
        );
        assert_eq!(
            full.assignee()
                .and_then(jira_webhook_model::User::avatar_urls)
                .map(|a| a.len()),
            Some(1)
        );
        // A member name with an escape is read by its decoded name, as `LeanEvent` reads it,
        // and the rest is still left out.
        let escaped = body.replace(r#""displayName""#, r#""display\u004eame""#);
        let stored = inbox_form(escaped.as_bytes()).expect("relevant");
        assert!(!stored.windows(10).any(|w| w == b"avatarUrls"));
        assert_eq!(
            LeanEvent::from_slice(&stored)
                .ok()
                .as_ref()
                .map(worker_view),
            LeanEvent::from_slice(escaped.as_bytes())
                .ok()
                .as_ref()
                .map(worker_view)
        );
        assert_eq!(
            LeanEvent::from_slice(&stored)
                .ok()
                .as_ref()
                .and_then(|e| e.assignee()?.display_name.as_str().map(str::to_owned))
                .as_deref(),
            Some("Bob")
        );
    }
}
