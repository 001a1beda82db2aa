//! Small known-answer tests of the helper types: `Extra`, `Id`, `JiraDateTime`, `Field`,
//! open enums and `ChangeKind` names.

use jira_webhook_model::{
    ChangeKind, Extra, Field, Id, IssueEventTypeName, JiraDateTime, WebhookEvent, WebhookEventKind,
};
use serde_json::json;

#[test]
fn extra_keeps_last_duplicate_sorted_and_editable() {
    let e = WebhookEvent::from_str(r#"{"b":1,"a":{"x":[1,2]},"b":"two","c":null}"#).expect("ok");
    let extra: &Extra = &e.extra;
    assert_eq!(extra.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(extra.get("b"), Some(json!("two")));
    assert_eq!(extra.get_str("b").as_deref(), Some("two"));
    assert_eq!(
        extra.get_raw("a").map(jira_webhook_model::RawJson::get),
        Some(r#"{"x":[1,2]}"#)
    );
    assert_eq!(extra.get_as::<Vec<u8>>("a"), None);
    assert_eq!(extra.get("c"), Some(json!(null)));
    assert!(extra.get("zz").is_none());

    let mut extra = extra.clone();
    extra.insert("aa", &json!({"k": true}));
    extra.insert("b", &json!(3));
    assert_eq!(extra.keys().collect::<Vec<_>>(), ["a", "aa", "b", "c"]);
    assert_eq!(extra.get("b"), Some(json!(3)));
    assert_eq!(
        extra.remove("a").map(|r| r.get().to_owned()).as_deref(),
        Some(r#"{"x":[1,2]}"#)
    );
    assert!(!extra.contains_key("a"));
    assert_eq!(extra.len(), 3);
    assert_eq!(
        serde_json::to_value(&extra).expect("serialise"),
        json!({"aa": {"k": true}, "b": 3, "c": null})
    );
    assert_eq!(extra.to_map().len(), 3);
}

#[test]
fn ids_keep_their_json_type() {
    assert_eq!(
        serde_json::to_value(Id::new("10042")).expect("ser"),
        json!("10042")
    );
    assert_eq!(
        serde_json::to_value(Id::from_number(12345)).expect("ser"),
        json!(12345)
    );
    assert_eq!(Id::from_number(7).as_str(), "7");
    assert!(Id::from_number(7).is_numeric());
    assert_eq!(Id::from("x").to_string(), "x");
}

#[test]
fn jira_date_times() {
    let t = JiraDateTime::parse("2019-08-13T06:14:23.580+0800").expect("jira form");
    assert_eq!(t.unix_millis(), 1_565_648_063_580);
    assert_eq!(t.as_str(), "2019-08-13T06:14:23.580+0800");
    assert_eq!(t.offset_date_time().offset().whole_hours(), 8);
    let rfc = JiraDateTime::parse("2019-08-12T22:14:23.580Z").expect("rfc 3339 accepted");
    assert_eq!(rfc.unix_millis(), t.unix_millis());
    assert!(JiraDateTime::parse("2019-13-45T00:00:00.000+0000").is_none());
    assert!(JiraDateTime::parse("yesterday").is_none());
    let again = JiraDateTime::from_offset_date_time(t.offset_date_time()).expect("format");
    assert_eq!(again.as_str(), t.as_str());
}

#[test]
fn field_helpers() {
    let f: Field<String> = Field::from_option(None);
    assert!(f.is_null() && f.is_present() && !f.is_absent());
    let f = Field::from("x".to_owned());
    assert_eq!(f.as_str(), Some("x"));
    assert_eq!(f.into_value().as_deref(), Some("x"));
    let f: Field<String> = Field::Raw(json!(5));
    assert_eq!(f.raw(), Some(&json!(5)));
    assert_eq!(f.value(), None);
    assert!(Field::<String>::default().is_absent());
}

#[test]
fn open_enums_round_trip_every_string() {
    for s in [
        "jira:issue_updated",
        "comment_deleted",
        "board_configuration_changed",
        "new_thing",
    ] {
        let k = WebhookEventKind::from(s);
        assert_eq!(k.as_str(), s);
        assert_eq!(serde_json::to_value(&k).expect("ser"), json!(s));
    }
    assert_eq!(
        WebhookEventKind::from("jira:issue_updated"),
        WebhookEventKind::IssueUpdated
    );
    let unknown = WebhookEventKind::from("x");
    assert!(unknown.is_unknown());
    assert_eq!(unknown.as_str(), "x");
    assert_eq!(
        "issue_work_started".parse::<IssueEventTypeName>(),
        Ok(IssueEventTypeName::IssueWorkStarted)
    );
    assert_eq!(
        IssueEventTypeName::IssueGeneric.to_string(),
        "issue_generic"
    );
}

#[test]
fn change_kind_names() {
    let names: Vec<&str> = [
        ChangeKind::Assignee,
        ChangeKind::Status,
        ChangeKind::Resolution,
        ChangeKind::Priority,
        ChangeKind::Summary,
        ChangeKind::Description,
        ChangeKind::Labels,
        ChangeKind::FixVersions,
        ChangeKind::Components,
        ChangeKind::Sprints,
        ChangeKind::IssueKey,
        ChangeKind::Project,
        ChangeKind::Other,
    ]
    .into_iter()
    .map(ChangeKind::as_str)
    .collect();
    assert_eq!(
        names,
        [
            "assignee",
            "status",
            "resolution",
            "priority",
            "summary",
            "description",
            "labels",
            "fix_versions",
            "components",
            "sprints",
            "key",
            "project",
            "other"
        ]
    );
}
