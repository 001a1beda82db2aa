//! Deliveries the webhook answers without storing them (no group linked to the issue, no
//! changelog) are listed by `GET /api/v1/integrations/{id}/deliveries?include=ignored` with
//! `state: "ignored"` and the reason, newest first, merged with the stored ones (issue 20,
//! item 24). They are kept in memory only: nothing is written for them.

use std::time::{Duration, Instant};

use crate::common::fixture;
use crate::support_backend::{Backend, installed_and_seeded_on, on_both_backends};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(5);

fn assigned(key: &str, clid: &str) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("issue_updated_large.json")).expect("fixture is JSON");
    v["issue"]["key"] = json!(key);
    v["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    v["changelog"]["id"] = json!(clid);
    v.to_string().into_bytes()
}

on_both_backends!(unlinked_and_changelog_less_deliveries_are_listed_as_ignored);
async fn unlinked_and_changelog_less_deliveries_are_listed_as_ignored(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    // A linked change (stored), then one for an issue nobody linked, then one without a changelog.
    for body in [
        assigned("APP-1", "10"),
        assigned("WRONG-7", "11"),
        br#"{"webhookEvent":"jira:issue_updated","timestamp":1,"issue":{"key":"APP-9"}}"#.to_vec(),
    ] {
        let (status, reply) = server.webhook(&token, &body).await;
        assert_eq!(status, StatusCode::OK, "{reply:?}");
        // Receive times one millisecond apart at least, so that the order is the posts' order.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let path = format!("/integrations/{id}/deliveries?include=ignored&limit=10");
    let deadline = Instant::now() + WITHIN;
    let list = loop {
        let (status, body) = server.api(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body["deliveries"].as_array().expect("list").clone();
        if list.iter().all(|d| d["state"] != "pending") {
            break list;
        }
        assert!(Instant::now() < deadline, "still pending: {list:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen: Vec<(&str, &str, &str)> = list
        .iter()
        .map(|d| {
            (
                d["issueKey"].as_str().unwrap_or_default(),
                d["state"].as_str().unwrap_or_default(),
                d["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    // Newest first; the stored delivery merged in by its receive time.
    assert_eq!(
        seen,
        [
            ("APP-9", "ignored", "no_changelog"),
            ("WRONG-7", "ignored", "unlinked"),
            ("APP-1", "applied", ""),
        ],
        "{list:?}"
    );
    assert_eq!(list[1]["event"], "jira:issue_updated");

    // Without `include=ignored` the list is the stored deliveries only, as before.
    let plain = server.deliveries(&id).await;
    assert_eq!(plain.len(), 1, "{plain:?}");
    // `limit` counts the merged list; an unknown `include` is refused.
    let (_, body) = server
        .api(
            Method::GET,
            &format!("/integrations/{id}/deliveries?include=ignored&limit=2"),
            None,
        )
        .await;
    assert_eq!(body["deliveries"].as_array().map(Vec::len), Some(2));
    let (status, body) = server
        .api(
            Method::GET,
            &format!("/integrations/{id}/deliveries?include=everything"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
