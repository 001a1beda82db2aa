//! Fuzz target bodies (used by `fuzz/fuzz_targets/*.rs` and the corpus replay test).

use serde_json::Value;

use crate::{Change, LeanEvent, WebhookEvent, diff};

/// Parses arbitrary bytes as a delivery. Never panics on any input; for a body that parses,
/// asserts that serialising gives JSON equal (as a value) to the input, that parsing the
/// output gives the same typed event, that the changelog yields one change per item, and that
/// [`LeanEvent`] parses it too, agrees (see [`assert_lean_agrees`]) and parses again from its
/// own serialisation.
pub fn webhook_parse(data: &[u8]) {
    let lean = LeanEvent::from_slice(data);
    let Ok(event) = WebhookEvent::from_slice(data) else {
        return;
    };
    let lean = lean.expect("a body the full model accepts must parse as a LeanEvent");
    assert_lean_agrees(&event, &lean);
    let again = serde_json::to_vec(&lean).expect("a LeanEvent serialises");
    assert_eq!(
        LeanEvent::from_slice(&again).ok(),
        Some(lean),
        "a serialised LeanEvent parses to itself"
    );
    let out = event.to_json();
    let back = WebhookEvent::from_str(&out).expect("serialised delivery must parse again");
    assert_eq!(back, event, "typed round trip");
    if let Ok(input) = serde_json::from_slice::<Value>(data) {
        let output: Value = serde_json::from_str(&out).expect("serialised delivery is JSON");
        assert_eq!(input, output, "lossless round trip");
    }
    if let Some(changelog) = event.changelog() {
        assert_eq!(changelog.changes().len(), changelog.items().len());
    }
}

/// Parses arbitrary bytes as a delivery and exercises changelog recognition and diffing:
/// `diff(a, a)` is empty; applying the changelog to the issue gives `b`; applying
/// `diff(a, b)` to `a` gives `b` on the modelled fields; `diff(a, b)` is empty exactly when
/// the modelled fields are equal.
pub fn changelog_diff(data: &[u8]) {
    let Ok(event) = WebhookEvent::from_slice(data) else {
        return;
    };
    let changes: Vec<Change> = event.changes();
    for c in &changes {
        let _ = c.kind().as_str();
    }
    let _ = (
        event.assignee_change(),
        event.status_change(),
        event.key_change(),
    );
    let Some(a) = event.issue() else {
        return;
    };
    assert!(diff(a, a).is_empty(), "diff(a, a) must be empty");
    let mut b = a.clone();
    b.apply_changes(&changes);
    let d = diff(a, &b);
    assert_eq!(d.is_empty(), a.modelled() == b.modelled());
    let mut a2 = a.clone();
    a2.apply_changes(&d);
    assert_eq!(a2.modelled(), b.modelled(), "apply(diff(a, b), a) == b");
}

/// Asserts that every accessor of a [`LeanEvent`] gives the same answer as the
/// [`WebhookEvent`] parsed from the same body.
pub fn assert_lean_agrees(event: &WebhookEvent, lean: &LeanEvent) {
    assert_eq!(lean.timestamp, event.timestamp, "timestamp");
    assert_eq!(lean.kind(), event.kind(), "webhookEvent");
    assert_eq!(lean.issue_key(), event.issue_key(), "issue key");
    assert_eq!(
        lean.issue.value().map(|i| &i.id),
        event.issue().map(|i| &i.id),
        "issue id"
    );
    assert_eq!(
        lean.assignee(),
        event.issue().and_then(crate::Issue::assignee)
    );
    assert_eq!(lean.status(), event.issue().and_then(crate::Issue::status));
    assert_eq!(
        lean.project(),
        event.issue().and_then(crate::Issue::project)
    );
    assert_eq!(lean.changelog(), event.changelog(), "changelog");
    assert_eq!(lean.assignee_change(), event.assignee_change());
    assert_eq!(lean.status_change(), event.status_change());
    assert_eq!(lean.key_change(), event.key_change());
}
