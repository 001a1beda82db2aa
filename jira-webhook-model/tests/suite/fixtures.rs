//! Every captured delivery in `tests/fixtures/<source>/` parses, round-trips losslessly, and
//! yields the typed values that matter (keys, users, status ids, changes).
//!
//! `tests/fixtures/sentry/` is not shipped in the published package (see its README): the tests
//! that read it print one `skipped:` line and return when it is absent.

#![allow(clippy::unnecessary_wraps)] // helpers build expected Option values

use std::path::PathBuf;

use jira_webhook_model::{
    Change, ChangeKind, Field, Issue, IssueEventTypeName, LeanEvent, NamedRef, ProjectRef,
    StatusRef, UserRef, WebhookEvent, WebhookEventKind,
};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

/// Reads `tests/fixtures/<source>/<name>` (`path` is `"<source>/<name>"`).
fn load(path: &str) -> WebhookEvent {
    let bytes = std::fs::read(dir().join(path)).expect("fixture exists");
    WebhookEvent::from_slice(&bytes).expect("fixture parses")
}

/// Whether `tests/fixtures/sentry/` is present; prints the skip line for `what` when it is not.
fn sentry_present(what: &str) -> bool {
    let present = dir().join("sentry").is_dir();
    if !present {
        eprintln!("skipped: {what} (tests/fixtures/sentry/ fixture not shipped in the package)");
    }
    present
}

/// Reads `tests/fixtures/sentry/<name>`, or `None` (after one printed line) when not shipped.
fn sentry_bytes(name: &str) -> Option<Vec<u8>> {
    sentry_present(name).then(|| std::fs::read(dir().join("sentry").join(name)).expect("read"))
}

/// Parses `tests/fixtures/sentry/<name>`, or `None` (after one printed line) when not shipped.
fn load_sentry(name: &str) -> Option<WebhookEvent> {
    sentry_bytes(name).map(|b| WebhookEvent::from_slice(&b).expect("fixture parses"))
}

/// Every `*.json` fixture of every source directory, and how many there must be: 11 shipped
/// (mattermost, jenkins, own) plus 10 from `sentry/` when present.
fn json_fixtures() -> (Vec<PathBuf>, usize) {
    let mut files = Vec::new();
    for source in std::fs::read_dir(dir()).expect("fixtures dir") {
        let source = source.expect("entry").path();
        if !source.is_dir() {
            continue;
        }
        for entry in std::fs::read_dir(&source).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let expected = if sentry_present("the 10 Sentry-derived fixtures") {
        21
    } else {
        11
    };
    (files, expected)
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn user(id: &str, display: &str) -> Option<UserRef> {
    Some(UserRef::new(s(id), s(display)))
}

fn status(id: &str, name: &str) -> Option<StatusRef> {
    Some(StatusRef::new(s(id), s(name)))
}

/// The Jira captures are byte-for-byte copies: SHA-256 as listed in the shared fixtures README.
#[test]
fn captured_fixtures_are_unmodified() {
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let expected = [
        (
            "mattermost/cloud-2019-issue-deleted.json",
            "ea08c2579a892d814e7c5552801689c903f4e5c58283eee34cbb7174634c6d96",
        ),
        (
            "mattermost/cloud-2019-issue-updated-unassigned.json",
            "76230391f7a7ea9e27d99834d9572795f0ce8b678f6f6e66cc30a0e0c0020313",
        ),
        (
            "mattermost/cloud-2019-issue-updated-user-without-email.json",
            "953e84aca55a7aa01c1c9fe0b3cf27fcaba3c0cc9f0511f938ae807223ff0623",
        ),
        (
            "mattermost/cloud-2024-issue-assigned-accountid-only-empty-changelog.json",
            "2931a39a0b8588c56831cd29b0868f635d4862f37eb087bff277bd7e904d2b9a",
        ),
        (
            "mattermost/server-7x-comment-created.json",
            "b73219dc04dfb038637faf665d65799bfdcaa59ac3e9e363df2b401ad2a90b1c",
        ),
        (
            "mattermost/server-7x-issue-updated-assigned.json",
            "32c050d1a4044aedbed471dee6235fd62c4d4fb47f61a74e6f47aa1546fac1d6",
        ),
        (
            "mattermost/server-7x-issue-updated-commented.json",
            "213dcc43dd6841d0d2b8d6cf60a3ebbdf92df4061a329278420ab7dd7086f795",
        ),
        (
            "mattermost/server-7x-issue-updated-resolved.json",
            "c6899eb08671347892230f41c6457358628d39ac289655cba1d7dce7157972c9",
        ),
        (
            "mattermost/server-7x-issue-updated-status-work-started.json",
            "9bed4f32da629bb758ecddebb44a703d0be10c0bb98c75025e18b06a2f321ff0",
        ),
        (
            "jenkins/server-legacy-issue-created-no-event-type.json",
            "8d79002e3474242ec39229773e3c040a8b496e84ceadc46b1dc0001713be0ce6",
        ),
    ];
    for (name, sha) in expected {
        let bytes = std::fs::read(dir().join(name)).expect("fixture exists");
        let hex = Sha256::digest(&bytes)
            .iter()
            .fold(String::new(), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            });
        assert_eq!(hex, sha, "{name} differs from the captured original");
    }
}

#[test]
fn every_fixture_round_trips_losslessly() {
    let mut count = 0;
    let (files, expected) = json_fixtures();
    for path in files {
        let bytes = std::fs::read(&path).expect("read fixture");
        let input: Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
        let event = WebhookEvent::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        assert_eq!(event.to_value(), input, "{} round trip", path.display());
        let again = WebhookEvent::from_str(&event.to_json()).expect("output parses");
        assert_eq!(again, event, "{} typed round trip", path.display());
        // Also through the str entry point.
        let text = std::str::from_utf8(&bytes).expect("fixture is UTF-8");
        assert_eq!(
            text.parse::<WebhookEvent>().expect("parses from str"),
            event
        );
        count += 1;
    }
    assert_eq!(count, expected, "all copied fixtures were checked");
}

#[test]
fn server_7x_assigned_through_edit_screen() {
    let e = load("mattermost/server-7x-issue-updated-assigned.json");
    assert_eq!(e.kind(), Some(&WebhookEventKind::IssueUpdated));
    // The trap: an assignment arrives as issue_updated, not issue_assigned.
    assert_eq!(e.event_type_name(), Some(&IssueEventTypeName::IssueUpdated));
    assert_eq!(e.timestamp.value(), Some(&1_561_649_571_497));
    assert_eq!(e.issue_key(), Some("PRJA-37"));
    let issue = e.issue().expect("issue");
    assert_eq!(issue.id.as_str(), Some("10226"));
    let assignee = issue.assignee().expect("assignee");
    assert_eq!(assignee.name.as_str(), Some("admin"));
    assert_eq!(assignee.key.as_str(), Some("admin"));
    assert_eq!(assignee.email(), Some("some-instance-test@gmail.com"));
    assert_eq!(assignee.account_id, Field::Absent);
    assert_eq!(assignee.time_zone.as_str(), Some("America/Toronto"));
    let avatars = assignee.avatar_urls().expect("avatarUrls");
    assert_eq!(avatars.len(), 4);
    assert!(avatars["48x48"].ends_with("s=48"));
    let st = issue.status().expect("status");
    assert_eq!(st.id.as_str(), Some("10000"));
    assert_eq!(st.name.as_str(), Some("To Do"));
    assert_eq!(
        st.status_category.value().and_then(|c| c.key.as_str()),
        Some("new")
    );
    assert!(!st.is_done());
    let fields = issue.fields().expect("fields");
    let created = fields.created.value().expect("created parses");
    assert_eq!(created.as_str(), "2019-06-27T14:55:17.488+0000");
    assert_eq!(created.unix_millis(), 1_561_647_317_488);
    assert_eq!(
        fields.other("customfield_10114"),
        Some(Value::from("0|i000qn:"))
    );
    assert_eq!(
        fields.other("customfield_10117"),
        Some(Value::from("false"))
    );
    assert!(fields.resolution.is_null());
    // Mojibake in issuetype.description is odd but valid JSON: kept.
    assert!(
        fields
            .issue_type
            .value()
            .and_then(|t| t.description.as_str())
            .is_some_and(|d| d.starts_with('æ'))
    );
    let changelog = e.changelog().expect("changelog");
    assert_eq!(changelog.id.as_str(), Some("10225"));
    assert_eq!(
        changelog.items()[0].field_id,
        Field::Absent,
        "Server: no fieldId"
    );
    assert_eq!(
        e.changes(),
        vec![Change::Assignee {
            from: None,
            to: user("admin", "Test User")
        }]
    );
    let a = e.assignee_change().expect("assignee change");
    assert_eq!(a.from, None);
    assert_eq!(a.to, user("admin", "Test User"));
    assert_eq!(e.status_change(), None);
    assert_eq!(e.key_change(), None);
}

#[test]
fn server_7x_work_started_status_change() {
    let e = load("mattermost/server-7x-issue-updated-status-work-started.json");
    assert_eq!(
        e.event_type_name(),
        Some(&IssueEventTypeName::IssueWorkStarted)
    );
    assert_eq!(e.issue_key(), Some("TES-4"));
    let st = e.status_change().expect("status change");
    assert_eq!(st.from, status("4", "Reopened"));
    assert_eq!(st.to, status("3", "In Progress"));
    let issue = e.issue().expect("issue");
    assert_eq!(issue.status().and_then(|s| s.id.as_str()), Some("3"));
    assert_eq!(
        issue.assignee().and_then(|u| u.email()),
        Some("test@example.com")
    );
    let updated = issue
        .fields()
        .and_then(|f| f.updated.value())
        .expect("updated");
    assert_eq!(updated.offset_date_time().offset().whole_hours(), 8);
}

#[test]
fn server_7x_resolved_gives_status_then_resolution() {
    let e = load("mattermost/server-7x-issue-updated-resolved.json");
    assert_eq!(
        e.event_type_name(),
        Some(&IssueEventTypeName::IssueResolved)
    );
    assert_eq!(
        e.changes(),
        vec![
            Change::Status {
                from: status("3", "In Progress"),
                to: status("5", "Resolved")
            },
            Change::Resolution {
                from: None,
                to: Some(NamedRef::new(s("10000"), s("Done")))
            },
        ]
    );
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert!(
        fields.assignee.is_null(),
        "assignee is null (unassigned), not absent"
    );
    assert_eq!(
        fields.resolution.value().and_then(|r| r.name.as_str()),
        Some("Done")
    );
    let resolved = fields.resolution_date.value().expect("resolutiondate");
    assert!(resolved.unix_millis() > 0);
    assert_eq!(
        fields
            .created
            .value()
            .map(jira_webhook_model::JiraDateTime::unix_millis),
        Some(1_565_648_063_580)
    );
}

#[test]
fn server_7x_commented_has_no_changelog() {
    let e = load("mattermost/server-7x-issue-updated-commented.json");
    assert_eq!(
        e.event_type_name(),
        Some(&IssueEventTypeName::IssueCommented)
    );
    assert!(e.changelog.is_absent());
    assert!(e.changes().is_empty());
    assert_eq!(e.issue_key(), Some("PRJA-42"));
    let c = e.comment.value().expect("comment");
    assert_eq!(c.id.as_str(), Some("10118"));
    assert!(
        c.body
            .as_str()
            .is_some_and(|b| b.starts_with("This is a test comment"))
    );
    assert_eq!(
        e.issue()
            .and_then(|i| i.assignee())
            .and_then(|u| u.name.as_str()),
        Some("dylan")
    );
}

#[test]
fn server_7x_comment_created_has_no_issue_and_no_user() {
    let e = load("mattermost/server-7x-comment-created.json");
    assert_eq!(e.kind(), Some(&WebhookEventKind::CommentCreated));
    assert!(e.issue.is_absent());
    assert!(e.user.is_absent());
    assert!(e.issue_event_type_name.is_absent());
    let c = e.comment.value().expect("comment");
    assert_eq!(c.issue_id(), Some("10013"));
    assert_eq!(c.body.as_str(), Some("unik"));
    assert_eq!(
        c.author.value().and_then(|u| u.name.as_str()),
        Some("levbrouk")
    );
    assert!(e.looks_like_delivery());
}

#[test]
fn legacy_issue_created_without_event_type() {
    let e = load("jenkins/server-legacy-issue-created-no-event-type.json");
    assert_eq!(e.kind(), Some(&WebhookEventKind::IssueCreated));
    assert!(e.kind().is_some_and(WebhookEventKind::is_issue_event));
    assert!(e.issue_event_type_name.is_absent());
    assert!(e.changelog.is_absent());
    assert_eq!(e.issue_key(), Some("TEST-4"));
    assert_eq!(
        e.issue().and_then(|i| i.self_url.as_str()),
        Some("http://localhost:2990/jira/rest/api/2/issue/10003")
    );
    assert_eq!(e.user.value().and_then(|u| u.name.as_str()), Some("admin"));
}

#[test]
fn cloud_2019_unassigned_with_field_id() {
    let e = load("mattermost/cloud-2019-issue-updated-unassigned.json");
    assert_eq!(
        e.event_type_name(),
        Some(&IssueEventTypeName::IssueAssigned)
    );
    assert_eq!(e.issue_key(), Some("TES-41"));
    let item = &e.changelog().expect("changelog").items()[0];
    assert_eq!(item.field_id.as_str(), Some("assignee"));
    assert_eq!(
        e.changes(),
        vec![Change::Assignee {
            from: user("admin", "Test User"),
            to: None
        }]
    );
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert!(fields.assignee.is_null());
    let actor = e.user.value().expect("user");
    assert_eq!(actor.account_id.as_str(), Some("5c5f880629be9642ba529340"));
    assert_eq!(actor.name.as_str(), Some("admin"));
    assert_eq!(actor.identity(), Some("admin"), "key wins over accountId");
    assert_eq!(fields.labels.value(), Some(&vec!["test-label".to_owned()]));
    assert_eq!(
        fields.components.value().map(|c| c
            .iter()
            .map(jira_webhook_model::Named::to_ref)
            .collect::<Vec<_>>()),
        Some(vec![NamedRef::new(s("10000"), s("COMP-1"))])
    );
    assert_eq!(
        e.issue()
            .and_then(|i| i.status())
            .and_then(|s| s.id.as_str()),
        Some("10001")
    );
}

#[test]
fn cloud_2024_assigned_with_empty_changelog() {
    let e = load("mattermost/cloud-2024-issue-assigned-accountid-only-empty-changelog.json");
    assert_eq!(
        e.event_type_name(),
        Some(&IssueEventTypeName::IssueAssigned)
    );
    let changelog = e.changelog().expect("changelog present");
    assert!(changelog.items().is_empty());
    assert_eq!(changelog.items.value().map(Vec::len), Some(0));
    assert!(e.changes().is_empty());
    assert_eq!(e.assignee_change(), None);
    let assignee = e.issue().and_then(|i| i.assignee()).expect("assignee");
    assert_eq!(assignee.account_id.as_str(), Some("789012"));
    assert!(assignee.name.is_absent() && assignee.key.is_absent());
    assert_eq!(assignee.email(), Some("assignee@example.com"));
    assert_eq!(assignee.identity(), Some("789012"));
    assert_eq!(assignee.account_type.as_str(), Some("atlassian"));
}

#[test]
fn cloud_2019_component_by_display_name_and_user_without_email() {
    let e = load("mattermost/cloud-2019-issue-updated-user-without-email.json");
    let actor = e.user.value().expect("user");
    assert!(actor.email_address.is_absent());
    assert_eq!(actor.email(), None);
    assert_eq!(actor.account_id.as_str(), Some("5cedcb4355a88a0fc86388ba"));
    let item = &e.changelog().expect("changelog").items()[0];
    assert_eq!(item.field.as_str(), Some("Component"));
    assert_eq!(item.kind(), ChangeKind::Components);
    assert_eq!(
        e.changes(),
        vec![Change::Components {
            added: vec![NamedRef::new(s("10000"), s("Special Component"))],
            removed: vec![],
        }]
    );
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert_eq!(fields.labels.value().map(Vec::len), Some(4));
    assert_eq!(fields.fix_versions.value().map(Vec::len), Some(2));
}

#[test]
fn cloud_2019_issue_deleted() {
    let e = load("mattermost/cloud-2019-issue-deleted.json");
    assert_eq!(e.kind(), Some(&WebhookEventKind::IssueDeleted));
    assert!(e.issue_event_type_name.is_absent());
    assert!(e.changelog.is_absent());
    assert_eq!(e.issue_key(), Some("IDT-19"));
    assert_eq!(e.issue().and_then(|i| i.id.as_str()), Some("10303"));
    assert_eq!(e.timestamp.value(), Some(&1_562_177_136_176));
}

#[test]
fn perf_dc_assignee_change_between_user_keys() {
    let e = load("own/issue_updated_large.json");
    assert_eq!(e.issue_key(), Some("PAY-1234"));
    assert_eq!(
        e.assignee_change().map(|t| (t.from, t.to)),
        Some((
            user("JIRAUSER10100", "John Smith"),
            user("JIRAUSER10207", "Ana García")
        ))
    );
    let assignee = e.issue().and_then(|i| i.assignee()).expect("assignee");
    assert_eq!(assignee.name.as_str(), Some("agarcia"));
    assert_eq!(assignee.key.as_str(), Some("JIRAUSER10207"));
    assert_eq!(assignee.email(), Some("ana.garcia@example.com"));
    let st = e.issue().and_then(|i| i.status()).expect("status");
    assert_eq!(st.id.as_str(), Some("3"));
    assert_eq!(
        st.status_category.value().and_then(|c| c.key.as_str()),
        Some("indeterminate")
    );
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert_eq!(
        fields.other("customfield_10002"),
        Some(serde_json::json!(5.0))
    );
    assert_eq!(fields.labels.value().map(Vec::len), Some(3));
}

/// The lean view reads the same answers from every captured delivery as the full model.
#[test]
fn every_fixture_lean_view_agrees_with_the_full_model() {
    let mut count = 0;
    let (files, expected) = json_fixtures();
    for path in files {
        let bytes = std::fs::read(&path).expect("read fixture");
        let event = WebhookEvent::from_slice(&bytes).expect("fixture parses");
        let lean = LeanEvent::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{} lean parse: {e}", path.display()));
        jira_webhook_model::fuzzing::assert_lean_agrees(&event, &lean);
        count += 1;
    }
    assert_eq!(count, expected, "all copied fixtures were checked");
}

#[test]
fn perf_dc_lean_view_known_answers() {
    let bytes = std::fs::read(dir().join("own/issue_updated_large.json")).expect("fixture");
    let e = LeanEvent::from_slice(&bytes).expect("parses");
    assert_eq!(e.kind(), Some(&WebhookEventKind::IssueUpdated));
    assert_eq!(e.issue_key(), Some("PAY-1234"));
    assert_eq!(
        e.assignee_change().map(|t| (t.from, t.to)),
        Some((
            user("JIRAUSER10100", "John Smith"),
            user("JIRAUSER10207", "Ana García")
        ))
    );
    let assignee = e.assignee().expect("assignee");
    assert_eq!(assignee.name.as_str(), Some("agarcia"));
    assert_eq!(assignee.email(), Some("ana.garcia@example.com"));
    let st = e.status().expect("status");
    assert_eq!(st.id.as_str(), Some("3"));
    assert_eq!(
        st.status_category.value().and_then(|c| c.key.as_str()),
        Some("indeterminate")
    );
    assert!(e.project().is_some_and(|p| p.key.as_str().is_some()));
    assert_eq!(e.status_change(), None);
}

#[test]
fn sentry_example_payload_with_numeric_changelog_id() {
    let Some(e) = load_sentry("EXAMPLE_PAYLOAD.json") else {
        return;
    };
    assert!(e.webhook_event.is_absent());
    let id = e.changelog().and_then(|c| c.id.value()).expect("id");
    assert_eq!(id.as_str(), "12345");
    assert!(id.is_numeric());
    assert_eq!(e.to_value()["changelog"]["id"], serde_json::json!(12345));
    let st = e.status_change().expect("status change");
    assert_eq!(st.from, status("10101", "In Progress"));
    assert_eq!(st.to, status("10102", "Done"));
    let issue = e.issue().expect("issue");
    assert_eq!(issue.key(), Some("APP-1"));
    // `project` at the issue level (not under fields) is kept as an unknown member.
    assert_eq!(issue.extra.get("project").expect("project")["key"], "APP");
}

#[test]
fn sentry_empty_bodies() {
    for name in [
        "changelog_missing.json",
        "test_drop_request_without_changelog.json",
    ] {
        let Some(e) = load_sentry(name) else {
            return;
        };
        assert!(e.changes().is_empty());
        assert!(e.issue.is_absent() && e.changelog.is_absent());
        assert!(!e.looks_like_delivery());
        assert_eq!(e.to_json(), "{}");
    }
}

#[test]
fn sentry_assignee_payloads() {
    let Some(e) = load_sentry("edit_issue_assignee_payload.json") else {
        return;
    };
    assert_eq!(
        e.assignee_change().and_then(|t| t.to),
        user("admin", "Jess MacQueen")
    );
    let a = e.issue().and_then(|i| i.assignee()).expect("assignee");
    assert_eq!(a.email(), Some("jess@sentry.io"));
    assert_eq!(a.account_id.as_str(), Some("deadbeef123"));
    assert_eq!(e.issue().and_then(|i| i.id.as_str()), Some("101"));

    let Some(e) = load_sentry("edit_issue_no_assignee_payload.json") else {
        return;
    };
    assert!(e.assignee_change().is_some());
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert!(fields.assignee.is_null(), "null assignee means de-assign");

    let Some(e) = load_sentry("edit_issue_assignee_missing_payload.json") else {
        return;
    };
    let t = e.assignee_change().expect("assignee change");
    assert_eq!((t.from, t.to), (None, None));
    let fields = e.issue().and_then(Issue::fields).expect("fields");
    assert!(fields.assignee.is_absent(), "missing assignee key");

    let Some(e) = load_sentry("test_post_update_assignee.json") else {
        return;
    };
    let item = &e.changelog().expect("changelog").items()[0];
    assert!(item.field_type.is_absent());
    assert_eq!(
        e.changes(),
        vec![Change::Assignee {
            from: None,
            to: None
        }]
    );
    assert_eq!(
        e.issue().and_then(|i| i.assignee()).and_then(|u| u.email()),
        Some("bob@example.org")
    );
}

#[test]
fn sentry_status_payload() {
    let Some(e) = load_sentry("edit_issue_status_payload.json") else {
        return;
    };
    let st = e.status_change().expect("status change");
    assert_eq!(st.from, status("10101", "Done"));
    assert_eq!(st.to, status("3", "In Progress"));
    assert_eq!(e.issue_key(), Some("APP-123"));
    assert_eq!(
        e.issue()
            .and_then(|i| i.project())
            .and_then(|p| p.key.as_str()),
        Some("APP")
    );
}

#[test]
fn sentry_moved_issue_changes_project_and_key() {
    let Some(e) = load_sentry("moved_issue_payload.json") else {
        return;
    };
    assert_eq!(e.event_type_name(), Some(&IssueEventTypeName::IssueMoved));
    assert_eq!(
        e.changes(),
        vec![
            Change::Project {
                from: Some(ProjectRef::new(s("10000"), None, s("APP"))),
                to: Some(ProjectRef::new(s("10001"), None, s("PLATFORM"))),
            },
            Change::IssueKey {
                from: s("APP-123"),
                to: s("PLATFORM-45")
            },
        ]
    );
    let k = e.key_change().expect("key change");
    assert_eq!((k.from, k.to), (s("APP-123"), s("PLATFORM-45")));
    assert_eq!(e.issue_key(), Some("PLATFORM-45"));
}

#[test]
fn rest_issue_reply_parses_as_issue_and_diffs() {
    let Some(bytes) = sentry_bytes("get_issue_response.json") else {
        return;
    };
    let issue: Issue = serde_json::from_slice(&bytes).expect("issue parses");
    assert_eq!(issue.key(), Some("SEN-5"));
    assert_eq!(issue.status().and_then(|s| s.id.as_str()), Some("10100"));
    assert_eq!(
        issue.extra.get("expand").expect("expand"),
        Value::from(
            "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
        )
    );
    let fields = issue.fields().expect("fields");
    assert!(fields.assignee.is_null());
    assert_eq!(
        fields.reporter.value().and_then(|u| u.email()),
        Some("jess@sentry.io")
    );
    assert_eq!(
        serde_json::to_value(&issue).expect("serialise"),
        serde_json::from_slice::<Value>(&bytes).expect("json")
    );

    // Polling view: assign it and move it to Done; diff gives the same Change type.
    let mut after = issue.clone();
    after.apply_changes(&[
        Change::Assignee {
            from: None,
            to: user("admin", "Jess MacQueen"),
        },
        Change::Status {
            from: None,
            to: status("10102", "Done"),
        },
    ]);
    let changes = jira_webhook_model::diff(&issue, &after);
    assert_eq!(
        changes,
        vec![
            Change::Status {
                from: status("10100", "To Do"),
                to: status("10102", "Done")
            },
            Change::Assignee {
                from: None,
                to: user("admin", "Jess MacQueen")
            },
        ]
    );
}

/// The `inspect` example prints `WebhookEvent::summary()`.
#[test]
fn inspect_summary_of_a_moved_issue() {
    if let Some(e) = load_sentry("moved_issue_payload.json") {
        assert_eq!(
            e.summary(),
            serde_json::json!({
                "event": "jira:issue_updated",
                "type": "issue_moved",
                "issue": "PLATFORM-45",
                "changes": [
                    {"kind": "project", "field": "project", "from": "10000", "to": "10001",
                     "fromString": "APP", "toString": "PLATFORM"},
                    {"kind": "key", "field": "Key", "from": null, "to": null,
                     "fromString": "APP-123", "toString": "PLATFORM-45"}
                ]
            })
        );
    }
    let e = load("mattermost/server-7x-comment-created.json");
    assert_eq!(
        e.summary(),
        serde_json::json!({"event": "comment_created", "type": null, "issue": null, "changes": []})
    );
}
