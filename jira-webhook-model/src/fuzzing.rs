//! Fuzz target bodies (used by `fuzz/fuzz_targets/*.rs` and the corpus replay test).

use serde_json::Value;

use crate::{Change, WebhookEvent, diff};

/// Parses arbitrary bytes as a delivery. Never panics on any input; for a body that parses,
/// asserts that serialising gives JSON equal (as a value) to the input, that parsing the
/// output gives the same typed event, and that the changelog yields one change per item.
pub fn webhook_parse(data: &[u8]) {
    let Ok(event) = WebhookEvent::from_slice(data) else {
        return;
    };
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
