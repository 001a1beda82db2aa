//! Property tests.
//!
//! * Round trip: any generated delivery (typed members with expected or unexpected JSON types,
//!   unknown members, nulls, nesting) parses; serialising gives JSON equal to the input; and
//!   parsing that output gives the same typed event.
//! * Diff: `diff(a, a)` is empty; `diff(a, b)` is empty exactly when the modelled fields of `a`
//!   and `b` are equal; applying `diff(a, b)` to `a` gives `b` on the modelled fields.
//! * Changelog: every item yields exactly one change, and applying the changelog's changes
//!   to the issue never panics and agrees with `diff` afterwards.

use jira_webhook_model::{Issue, WebhookEvent, diff};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "id",
    "key",
    "name",
    "self",
    "fields",
    "status",
    "assignee",
    "labels",
    "items",
    "from",
    "to",
    "toString",
    "field",
    "fieldId",
    "accountId",
    "displayName",
    "statusCategory",
    "x",
    "é",
    "customfield_10010",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        "[a-z \"\\\\é\u{1F600}]{0,8}".prop_map(Value::from),
        Just(Value::from("2019-06-27T14:55:17.488+0000")),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// An optional member: absent, null, a well-typed value, or any JSON (often ill-typed).
fn member(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(Value::Null)),
        6 => good.prop_map(Some),
        1 => any_json().prop_map(Some),
    ]
    .boxed()
}

fn object(members: Vec<(&'static str, Option<Value>)>, extra: Vec<(String, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in extra {
        m.insert(k, v);
    }
    for (k, v) in members {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    }
    Value::Object(m)
}

fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(("(customfield_[0-9]{1,3}|zz[a-z]{0,3})", any_json()), 0..3)
}

fn user() -> impl Strategy<Value = Value> {
    (
        member(prop::sample::select(vec!["bob", "alice"]).prop_map(Value::from)),
        member(prop::sample::select(vec!["JIRAUSER10001", "bob"]).prop_map(Value::from)),
        member(prop::sample::select(vec!["5b10ac8d", "x"]).prop_map(Value::from)),
        member(prop::sample::select(vec!["Bob", "Alice"]).prop_map(Value::from)),
        member(
            prop::sample::select(vec!["b@example.com", "b at example dot com"])
                .prop_map(Value::from),
        ),
        member(any::<bool>().prop_map(Value::from)),
        member(Just(
            json!({"48x48": "https://a/48", "16x16": "https://a/16"}),
        )),
        extras(),
    )
        .prop_map(
            |(name, key, account, display, email, active, avatars, extra)| {
                object(
                    vec![
                        ("name", name),
                        ("key", key),
                        ("accountId", account),
                        ("displayName", display),
                        ("emailAddress", email),
                        ("active", active),
                        ("avatarUrls", avatars),
                    ],
                    extra,
                )
            },
        )
}

fn named(
    ids: &'static [&'static str],
    names: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    (
        member(prop::sample::select(ids).prop_map(Value::from)),
        member(prop::sample::select(names).prop_map(Value::from)),
        extras(),
    )
        .prop_map(|(id, name, extra)| object(vec![("id", id), ("name", name)], extra))
}

fn status() -> impl Strategy<Value = Value> {
    (
        member(prop::sample::select(vec!["1", "3", "10000"]).prop_map(Value::from)),
        member(prop::sample::select(vec!["Open", "Done"]).prop_map(Value::from)),
        member(prop::sample::select(vec!["new", "done"]).prop_map(|k| json!({"id": 2, "key": k}))),
    )
        .prop_map(|(id, name, cat)| {
            object(
                vec![("id", id), ("name", name), ("statusCategory", cat)],
                vec![],
            )
        })
}

fn fields() -> impl Strategy<Value = Value> {
    (
        (
            member(prop::sample::select(vec!["s1", "s2"]).prop_map(Value::from)),
            member(prop::sample::select(vec!["d1", "d2"]).prop_map(Value::from)),
            member(status()),
            member(user()),
            member(named(&["10000", "10001"], &["APP", "PLATFORM"])),
            member(named(&["1", "2"], &["High", "Low"])),
        ),
        (
            member(named(&["10000"], &["Done", "Won't Do"])),
            member(
                prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..4)
                    .prop_map(|v| json!(v)),
            ),
            member(
                prop::collection::vec(named(&["1", "2", "3"], &["v1", "v2"]), 0..3)
                    .prop_map(Value::Array),
            ),
            member(
                prop::collection::vec(named(&["7", "8"], &["core", "ui"]), 0..3)
                    .prop_map(Value::Array),
            ),
            member(Just(Value::from("2019-06-27T14:55:17.488+0000"))),
            extras(),
        ),
    )
        .prop_map(
            |(
                (summary, description, status, assignee, project, priority),
                (resolution, labels, fix_versions, components, updated, extra),
            )| {
                object(
                    vec![
                        ("summary", summary),
                        ("description", description),
                        ("status", status),
                        ("assignee", assignee),
                        ("project", project),
                        ("priority", priority),
                        ("resolution", resolution),
                        ("labels", labels),
                        ("fixVersions", fix_versions),
                        ("components", components),
                        ("updated", updated),
                    ],
                    extra,
                )
            },
        )
}

fn issue_json() -> impl Strategy<Value = Value> {
    (
        member(prop_oneof![Just(json!("10042")), Just(json!(10042))]),
        member(prop::sample::select(vec!["APP-1", "PLATFORM-45"]).prop_map(Value::from)),
        member(fields()),
        extras(),
    )
        .prop_map(|(id, key, fields, extra)| {
            object(vec![("id", id), ("key", key), ("fields", fields)], extra)
        })
}

fn item() -> impl Strategy<Value = Value> {
    let text = || {
        member(prop_oneof![
            prop::sample::select(vec!["1", "3", "admin", "JIRAUSER1", "a b", "1, 2", "APP-1"])
                .prop_map(Value::from),
            "[a-z ,]{0,6}".prop_map(Value::from),
        ])
    };
    (
        member(
            prop::sample::select(vec![
                "assignee",
                "Assignee",
                "status",
                "Status",
                "resolution",
                "priority",
                "summary",
                "description",
                "labels",
                "Fix Version",
                "Component",
                "Sprint",
                "Key",
                "project",
                "Rank",
                "Custom Thing",
            ])
            .prop_map(Value::from),
        ),
        member(
            prop::sample::select(vec![
                "assignee",
                "status",
                "customfield_10020",
                "components",
            ])
            .prop_map(Value::from),
        ),
        member(prop::sample::select(vec!["jira", "custom"]).prop_map(Value::from)),
        text(),
        text(),
        text(),
        text(),
    )
        .prop_map(|(field, field_id, field_type, from, from_s, to, to_s)| {
            object(
                vec![
                    ("field", field),
                    ("fieldId", field_id),
                    ("fieldtype", field_type),
                    ("from", from),
                    ("fromString", from_s),
                    ("to", to),
                    ("toString", to_s),
                ],
                vec![],
            )
        })
}

fn event_json() -> impl Strategy<Value = Value> {
    (
        member(prop_oneof![
            any::<u32>().prop_map(|t| json!(u64::from(t) * 1000)),
            Just(json!(1_561_649_571_497_u64))
        ]),
        member(
            prop::sample::select(vec![
                "jira:issue_created",
                "jira:issue_updated",
                "comment_created",
                "sprint_started",
                "jira:something_new",
            ])
            .prop_map(Value::from),
        ),
        member(
            prop::sample::select(vec![
                "issue_updated",
                "issue_assigned",
                "issue_generic",
                "custom_event",
            ])
            .prop_map(Value::from),
        ),
        member(user()),
        member(issue_json()),
        member(
            (
                member(prop_oneof![Just(json!("10225")), Just(json!(12345))]),
                member(prop::collection::vec(item(), 0..4).prop_map(Value::Array)),
            )
                .prop_map(|(id, items)| object(vec![("id", id), ("items", items)], vec![])),
        ),
        extras(),
    )
        .prop_map(|(ts, kind, type_name, user, issue, changelog, extra)| {
            object(
                vec![
                    ("timestamp", ts),
                    ("webhookEvent", kind),
                    ("issue_event_type_name", type_name),
                    ("user", user),
                    ("issue", issue),
                    ("changelog", changelog),
                ],
                extra,
            )
        })
}

fn parse_issue(v: &Value) -> Issue {
    serde_json::from_value(v.clone()).expect("generated issue parses")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Serialise/parse round trip: lossless as JSON, identical as typed values.
    #[test]
    fn generated_events_round_trip(input in event_json()) {
        let text = serde_json::to_string(&input).expect("serialise input");
        let event = WebhookEvent::from_str(&text).expect("any generated object parses");
        // Compare with what a JSON parser reads from the text (serde_json's float parsing may
        // differ from the generated f64 in the last bit; the crate keeps the text itself).
        let parsed: Value = serde_json::from_str(&text).expect("input is JSON");
        prop_assert_eq!(event.to_value(), parsed);
        let again = WebhookEvent::from_str(&event.to_json()).expect("output parses");
        prop_assert_eq!(&again, &event);
        // One change per changelog item.
        if let Some(changelog) = event.changelog() {
            prop_assert_eq!(changelog.changes().len(), changelog.items().len());
        }
    }

    /// `diff(a, a)` is empty.
    #[test]
    fn diff_with_itself_is_empty(a in issue_json()) {
        let a = parse_issue(&a);
        prop_assert!(diff(&a, &a).is_empty());
    }

    /// `diff(a, b)` is empty exactly when the modelled fields are equal, and applying it to
    /// `a` gives `b` on the modelled fields (after which nothing is left to diff).
    #[test]
    fn diff_then_apply_gives_b(a in issue_json(), b in issue_json()) {
        let (a, b) = (parse_issue(&a), parse_issue(&b));
        let changes = diff(&a, &b);
        prop_assert_eq!(changes.is_empty(), a.modelled() == b.modelled());
        let mut patched = a.clone();
        patched.apply_changes(&changes);
        prop_assert_eq!(patched.modelled(), b.modelled());
        prop_assert!(diff(&patched, &b).is_empty());
    }

    /// The same holds when `b` is `a` with a few fields changed (so equal and near-equal
    /// snapshots are well covered).
    #[test]
    fn diff_of_small_edits(a in issue_json(), b_fields in fields(), pick in any::<u8>()) {
        let mut b_json = a.clone();
        if let (Some(obj), Some(new_fields)) = (b_json.as_object_mut(), b_fields.as_object()) {
            let fields = obj.entry("fields").or_insert_with(|| json!({}));
            if let Some(f) = fields.as_object_mut() {
                for (i, (k, v)) in new_fields.iter().enumerate() {
                    if pick & (1 << (i % 8)) != 0 {
                        f.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let (a, b) = (parse_issue(&a), parse_issue(&b_json));
        let changes = diff(&a, &b);
        prop_assert_eq!(changes.is_empty(), a.modelled() == b.modelled());
        let mut patched = a.clone();
        patched.apply_changes(&changes);
        prop_assert_eq!(patched.modelled(), b.modelled());
    }

    /// Applying a changelog to its issue never panics, and diff agrees with the result.
    #[test]
    fn changelog_changes_apply_cleanly(input in event_json()) {
        let event: WebhookEvent = serde_json::from_value(input).expect("parses");
        if let Some(a) = event.issue() {
            let mut b = a.clone();
            b.apply_changes(&event.changes());
            let d = diff(a, &b);
            prop_assert_eq!(d.is_empty(), a.modelled() == b.modelled());
            let mut a2 = a.clone();
            a2.apply_changes(&d);
            prop_assert_eq!(a2.modelled(), b.modelled());
        }
    }
}
