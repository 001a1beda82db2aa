//! Issue moves in every changelog shape Jira sends (issue 20, item 12): the move is stored even
//! though only the old key is linked, and the links follow the issue to its new key. Only the
//! HTTP interfaces are used.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::common::{fixture, installed_and_seeded};

const WITHIN: Duration = Duration::from_secs(5);

/// `moved_issue_payload.json` (APP-123 moved to PLATFORM-45) with its key item replaced.
fn moved(key_item: Value) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&fixture("moved_issue_payload.json")).expect("json");
    body["changelog"]["items"][1] = key_item;
    body.to_string().into_bytes()
}

async fn links_follow(key_item: Value) {
    let (server, _jira, id, token) = installed_and_seeded("APP-123").await;
    let (status, _) = server.webhook(&token, &moved(key_item.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["state"], "applied", "{key_item}: {d}");
    // An assignment on the new key reaches the group: its link moved.
    let mut assign: Value =
        serde_json::from_slice(&fixture("edit_issue_assignee_payload.json")).expect("json");
    assign["issue"]["key"] = json!("PLATFORM-45");
    assign["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    let (status, _) = server.webhook(&token, assign.to_string().as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
}

#[tokio::test]
async fn a_move_with_field_id_issuekey_moves_the_links() {
    links_follow(
        json!({"field": "Key", "fieldtype": "jira", "fieldId": "issuekey",
        "from": null, "fromString": "APP-123", "to": null, "toString": "PLATFORM-45"}),
    )
    .await;
}

#[tokio::test]
async fn a_move_with_only_field_id_issuekey_moves_the_links() {
    links_follow(
        json!({"fieldId": "issuekey", "fromString": "APP-123", "toString": "PLATFORM-45"}),
    )
    .await;
}

#[tokio::test]
async fn a_move_with_field_issuekey_moves_the_links() {
    links_follow(json!({"field": "issuekey", "fieldtype": "jira",
        "fromString": "APP-123", "toString": "PLATFORM-45"}))
    .await;
}
