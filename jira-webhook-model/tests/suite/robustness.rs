//! Leniency (unexpected member types are kept, not fatal), typed errors, and resource limits
//! (deep nesting is rejected cleanly, large bodies parse).

use jira_webhook_model::{
    Change, ChangeKind, Field, IssueEventTypeName, ParseError, WebhookEvent, WebhookEventKind,
};
use serde_json::{Value, json};

#[test]
fn unexpected_member_types_are_kept_raw_and_round_trip() {
    let input = json!({
        "timestamp": "yesterday",
        "webhookEvent": 42,
        "issue_event_type_name": "my_custom_event",
        "user": "not an object",
        "issue": {
            "id": 10042,
            "key": ["APP-7"],
            "fields": {
                "summary": 5,
                "description": null,
                "status": "In Progress",
                "assignee": { "name": 7, "key": "JIRAUSER1", "active": "yes", "avatarUrls": [] },
                "labels": ["a", 1, null],
                "components": [{"id": "1", "name": "c"}, "bare"],
                "created": "not a date",
                "updated": 1_561_647_317_488_i64,
                "customfield_1": {"nested": [1, 2.5, {"x": null}]}
            }
        },
        "changelog": { "id": 1, "items": {"not": "an array"} },
        "worklog": { "id": "1" }
    });
    let bytes = serde_json::to_vec(&input).expect("json");
    let e = WebhookEvent::from_slice(&bytes).expect("lenient parse");
    assert_eq!(e.to_value(), input, "lossless even for unexpected types");

    assert_eq!(e.timestamp, Field::Raw(json!("yesterday")));
    assert_eq!(e.webhook_event, Field::Raw(json!(42)));
    assert_eq!(
        e.event_type_name().map(IssueEventTypeName::as_str),
        Some("my_custom_event")
    );
    assert!(
        e.event_type_name()
            .is_some_and(IssueEventTypeName::is_unknown)
    );
    assert_eq!(e.user.raw(), Some(&json!("not an object")));
    let issue = e.issue().expect("issue");
    let id = issue.id.value().expect("numeric id accepted");
    assert_eq!((id.as_str(), id.is_numeric()), ("10042", true));
    assert_eq!(issue.key(), None);
    let f = issue.fields().expect("fields");
    assert_eq!(f.summary.raw(), Some(&json!(5)));
    assert!(f.description.is_null());
    assert_eq!(f.status.raw(), Some(&json!("In Progress")));
    let a = f.assignee.value().expect("assignee object");
    assert_eq!(a.name.raw(), Some(&json!(7)));
    assert_eq!(a.key.as_str(), Some("JIRAUSER1"));
    assert_eq!(a.identity(), Some("JIRAUSER1"));
    assert_eq!(f.labels.raw(), Some(&json!(["a", 1, null])));
    assert_eq!(
        f.components.raw(),
        Some(&json!([{"id": "1", "name": "c"}, "bare"]))
    );
    assert_eq!(f.created.raw(), Some(&json!("not a date")));
    assert_eq!(f.updated.raw(), Some(&json!(1_561_647_317_488_i64)));
    let changelog = e.changelog().expect("changelog");
    assert!(changelog.items().is_empty());
    assert!(e.changes().is_empty());
    assert_eq!(e.extra.get("worklog").expect("worklog"), json!({"id": "1"}));
}

/// Floats in members of unexpected types are held as `Value`; with exact float parsing the
/// typed round trip is stable (regression: `-461072.28938271635` used to come back 1 ulp off).
#[test]
fn floats_in_raw_members_round_trip_exactly() {
    for text in [
        r#"{"issue":{"fields":{"summary":-461072.28938271635}}}"#,
        r#"{"timestamp":0.1234567890123456789,"issue":{"key":1e-300}}"#,
        r#"{"issue":{"fields":{"labels":[2.2250738585072014e-308, 1.7976931348623157e308]}}}"#,
    ] {
        jira_webhook_model::fuzzing::webhook_parse(text.as_bytes());
        let e = WebhookEvent::from_str(text).expect("parses");
        assert_eq!(WebhookEvent::from_str(&e.to_json()).expect("again"), e);
    }
}

#[test]
fn unknown_event_kinds_keep_their_value() {
    let e = WebhookEvent::from_str(
        r#"{"webhookEvent":"jira:worklog_frobnicated","issue_event_type_name":"issue_generic","whatever":{"a":1}}"#,
    )
    .expect("parses");
    assert_eq!(
        e.kind(),
        Some(&WebhookEventKind::parse("jira:worklog_frobnicated"))
    );
    assert!(e.kind().is_some_and(WebhookEventKind::is_unknown));
    assert_eq!(
        e.kind().map(WebhookEventKind::as_str),
        Some("jira:worklog_frobnicated")
    );
    assert_eq!(e.event_type_name(), Some(&IssueEventTypeName::IssueGeneric));
    assert_eq!(e.to_value()["webhookEvent"], "jira:worklog_frobnicated");
    assert_eq!(e.extra.get("whatever").expect("whatever"), json!({"a": 1}));
    // A known string always gives the known variant (the unknown variant's payload is private,
    // so no hand-made unknown value can carry a known string), and equality goes by the string.
    assert_eq!(
        WebhookEventKind::parse("comment_created"),
        WebhookEventKind::CommentCreated
    );
    assert!(!WebhookEventKind::CommentCreated.is_unknown());
}

#[test]
fn null_and_absent_are_distinct() {
    let null = WebhookEvent::from_str(r#"{"issue":{"fields":{"assignee":null}}}"#).expect("ok");
    let absent = WebhookEvent::from_str(r#"{"issue":{"fields":{}}}"#).expect("ok");
    let f1 = null.issue().and_then(|i| i.fields()).expect("fields");
    let f2 = absent.issue().and_then(|i| i.fields()).expect("fields");
    assert!(f1.assignee.is_null());
    assert!(f2.assignee.is_absent());
    assert_ne!(null, absent);
    assert_eq!(null.to_json(), r#"{"issue":{"fields":{"assignee":null}}}"#);
    assert_eq!(absent.to_json(), r#"{"issue":{"fields":{}}}"#);
}

#[test]
fn duplicate_keys_keep_the_last_like_serde_json_value() {
    let text = r#"{"webhookEvent":"a","webhookEvent":"comment_created","x":1,"x":2}"#;
    let e = WebhookEvent::from_str(text).expect("parses");
    let v: Value = serde_json::from_str(text).expect("json");
    assert_eq!(e.to_value(), v);
    assert_eq!(e.kind(), Some(&WebhookEventKind::CommentCreated));
}

#[test]
fn field_recognition_by_id_and_display_name() {
    let cases = [
        (None, "Assignee", ChangeKind::Assignee),
        (None, "assignee", ChangeKind::Assignee),
        (None, "Status", ChangeKind::Status),
        (None, "Fix Version", ChangeKind::FixVersions),
        (Some("fixVersions"), "Fix Version", ChangeKind::FixVersions),
        (None, "Component", ChangeKind::Components),
        (Some("components"), "Component", ChangeKind::Components),
        (None, "Key", ChangeKind::IssueKey),
        (None, "project", ChangeKind::Project),
        (None, "labels", ChangeKind::Labels),
        (None, "Sprint", ChangeKind::Sprints),
        (Some("customfield_10020"), "Sprint", ChangeKind::Sprints),
        (Some("customfield_10073"), "Status", ChangeKind::Other),
        (None, "Rank", ChangeKind::Other),
        (Some("status"), "Workflow State", ChangeKind::Status),
    ];
    for (id, name, kind) in cases {
        assert_eq!(ChangeKind::recognise(id, Some(name)), kind, "{id:?} {name}");
    }
}

/// Without `fieldId`, `fieldtype: custom` decides: a custom field named like a system field
/// is not that field (issue 20, item 13). With `fieldId` the id decides, as before.
#[test]
fn custom_fields_named_like_system_fields_are_not_those_fields() {
    let cases = [
        (None, "Status", Some("custom"), ChangeKind::Other),
        (None, "Assignee", Some("custom"), ChangeKind::Other),
        (None, "Key", Some("custom"), ChangeKind::Other),
        (None, "Sprint", Some("custom"), ChangeKind::Sprints),
        (None, "Status", Some("jira"), ChangeKind::Status),
        (None, "Assignee", None, ChangeKind::Assignee),
        (
            Some("customfield_10073"),
            "Status",
            Some("custom"),
            ChangeKind::Other,
        ),
        (Some("status"), "Status", Some("jira"), ChangeKind::Status),
    ];
    for (id, name, field_type, kind) in cases {
        assert_eq!(
            ChangeKind::recognise_item(id, Some(name), field_type),
            kind,
            "{id:?} {name} {field_type:?}"
        );
    }
    // Through a parsed delivery: the custom "Status" item is not a status change.
    let e = WebhookEvent::from_str(
        r#"{"changelog":{"id":"1","items":[
            {"field":"Status","fieldtype":"custom","from":"1","fromString":"Red","to":"2","toString":"Green"}
        ]}}"#,
    )
    .expect("parses");
    assert_eq!(e.status_change(), None);
}

#[test]
fn list_fields_from_changelog() {
    let e = WebhookEvent::from_str(
        r#"{"changelog":{"id":"1","items":[
            {"field":"labels","fieldtype":"jira","from":null,"fromString":"a b","to":null,"toString":"b c d"},
            {"field":"Fix Version","fieldtype":"jira","from":"10004","fromString":"v1","to":null,"toString":null},
            {"field":"Sprint","fieldtype":"custom","fieldId":"customfield_10020","from":"1, 2","fromString":"S1, S2","to":"2,3","toString":"S2, S3"},
            {"field":"Rank","fieldtype":"custom","from":"","fromString":"","to":"","toString":"Ranked higher"}
        ]}}"#,
    )
    .expect("parses");
    let r = |id: &str, n: &str| jira_webhook_model::NamedRef::new(Some(id.into()), Some(n.into()));
    let changes = e.changes();
    assert_eq!(
        changes[0],
        Change::Labels {
            added: vec!["c".into(), "d".into()],
            removed: vec!["a".into()]
        }
    );
    assert_eq!(
        changes[1],
        Change::FixVersions {
            added: vec![],
            removed: vec![r("10004", "v1")]
        }
    );
    assert_eq!(
        changes[2],
        Change::Sprints {
            added: vec![r("3", "S3")],
            removed: vec![r("1", "S1")]
        }
    );
    match &changes[3] {
        Change::Other(o) => {
            assert_eq!(o.field.as_deref(), Some("Rank"));
            assert_eq!(o.field_type.as_deref(), Some("custom"));
            assert_eq!(o.to_string.as_deref(), Some("Ranked higher"));
        }
        other => panic!("expected Other, got {other:?}"),
    }
}

#[test]
fn errors_are_typed() {
    assert!(matches!(
        WebhookEvent::from_slice(b""),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"{\"a\":"),
        Err(ParseError::Truncated { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"{a}"),
        Err(ParseError::Syntax { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"[1,2]"),
        Err(ParseError::NotAnObject { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"\"hi\""),
        Err(ParseError::NotAnObject { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"{} x"),
        Err(ParseError::Syntax { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_slice(b"{\"a\":\"\xff\"}"),
        Err(ParseError::Syntax { .. })
    ));
    let err = WebhookEvent::from_slice(b"{\n  \"issue\": {,}\n}").expect_err("syntax error");
    match &err {
        ParseError::Syntax { line, column, .. } => assert_eq!((*line, *column), (2, 13)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("line 2"));
}

fn nested(depth: usize, open: &str, close: &str) -> String {
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + 32);
    s.push_str("{\"issue\":{\"fields\":{\"customfield_1\":");
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push('1');
    for _ in 0..depth {
        s.push_str(close);
    }
    s.push_str("}}}");
    s
}

#[test]
fn hundred_thousand_deep_nesting_is_rejected_without_stack_overflow() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let body = nested(100_000, open, close);
        let err = WebhookEvent::from_str(&body).expect_err("too deep");
        assert!(matches!(err, ParseError::TooDeep { .. }), "{err}");
        assert!(err.to_string().contains("128"));
    }
    // Unclosed deep nesting: a clean error too (truncated, as serde_json skips an unknown
    // member to its end before the depth check can run).
    let body = format!("{{\"a\":{}", "[".repeat(100_000));
    assert!(matches!(
        WebhookEvent::from_str(&body),
        Err(ParseError::Truncated { .. } | ParseError::TooDeep { .. })
    ));
    let body = format!("{{\"issue\":{}", "{\"fields\":".repeat(100_000));
    assert!(matches!(
        WebhookEvent::from_str(&body),
        Err(ParseError::Truncated { .. } | ParseError::TooDeep { .. })
    ));
    assert!(matches!(
        WebhookEvent::from_str(&"[".repeat(100_000)),
        Err(ParseError::NotAnObject { .. })
    ));
    // Nesting well within the limit is fine; any accepted body also parses as a Value.
    let ok = nested(100, "[", "]");
    let e = WebhookEvent::from_str(&ok).expect("100 levels parse");
    assert_eq!(e.to_json(), ok);
    assert_eq!(
        e.to_value(),
        serde_json::from_str::<Value>(&ok).expect("value parse")
    );
    // One level more inside a member is refused (serde_json skips raw members without its
    // recursion limit, so the crate enforces 100 levels per member itself).
    let too_deep = nested(101, "{\"a\":", "}");
    assert!(matches!(
        WebhookEvent::from_str(&too_deep),
        Err(ParseError::TooDeep { .. })
    ));
    // Brackets inside strings do not count.
    let strings = format!("{{\"x\":[\"{}\"]}}", "[".repeat(1000));
    assert!(WebhookEvent::from_str(&strings).is_ok());
}

#[test]
fn large_bodies_parse() {
    // A 16 MB description and a 200k-element custom field array.
    let description = "x".repeat(16 << 20);
    let array: Vec<u32> = (0..200_000).collect();
    let input = json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": "APP-1", "fields": {"description": description, "customfield_2": array}},
        "changelog": {"id": "1", "items": vec![json!({"field": "Rank", "fieldtype": "custom"}); 50_000]}
    });
    let bytes = serde_json::to_vec(&input).expect("json");
    let e = WebhookEvent::from_slice(&bytes).expect("large body parses");
    assert_eq!(e.changes().len(), 50_000);
    assert_eq!(
        e.issue()
            .and_then(|i| i.fields())
            .and_then(|f| f.description.as_str())
            .map(str::len),
        Some(16 << 20)
    );
    assert_eq!(e.to_value(), input);
}
