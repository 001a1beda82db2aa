//! Which change is newest (issue 20, items 29 and 9), through the webhook and the admin API on
//! both backends: deliveries order by event time, the changelog id only breaking ties (Jira
//! Data Center nodes draw changelog ids from their own banks), and a watermark poisoned by a
//! forged delivery is reset with `POST /api/v1/groups/{id}/reset-watermarks`.

use std::time::{Duration, Instant};

use crate::common::{TestServer, fixture};
use crate::support_backend::{Backend, installed_and_seeded_on, on_both_backends};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(5);

/// A `jira:issue_updated` of `key` made at `timestamp_ms` with changelog `clid`: assigned to
/// bob (`assign`) or unassigned.
fn change(key: &str, clid: u64, timestamp_ms: i64, assign: bool) -> Vec<u8> {
    let mut v: Value =
        serde_json::from_slice(&fixture("issue_updated_large.json")).expect("fixture is JSON");
    v["timestamp"] = json!(timestamp_ms);
    v["issue"]["key"] = json!(key);
    v["changelog"]["id"] = json!(clid.to_string());
    if assign {
        v["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    } else {
        v["issue"]["fields"]["assignee"] = Value::Null;
        v["changelog"]["items"][0]["to"] = Value::Null;
        v["changelog"]["items"][0]["toString"] = Value::Null;
    }
    v.to_string().into_bytes()
}

/// Waits until the delivery log holds `n` entries, none pending; returns it (newest first).
async fn settled(server: &TestServer, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WITHIN;
    loop {
        let log = server.deliveries(id).await;
        if log.len() == n && log.iter().all(|d| d["state"] != "pending") {
            return log;
        }
        assert!(Instant::now() < deadline, "not processed: {log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn outcome_reason(delivery: &Value) -> String {
    delivery["outcomes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

const T0: i64 = 1_795_000_000_000;

on_both_backends!(a_newer_change_from_another_node_with_a_smaller_id_applies);
/// Jira Data Center: node B holds the changelog id bank 10 100.., node A the bank 10 000...
/// B assigns (id 10 150, t0 + 1 s), then A unassigns (id 10 050, t0 + 2 s): the unassignment
/// is the newer change and applies. A change made between them on B (id 10 200, t0 + 1.5 s),
/// delivered last, is older and does not.
async fn a_newer_change_from_another_node_with_a_smaller_id_applies(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let post = |body: Vec<u8>| {
        let (server, token) = (&server, &token);
        async move {
            let (status, reply) = server.webhook(token, &body).await;
            assert_eq!(status, StatusCode::OK, "{reply:?}");
        }
    };
    post(change("APP-1", 10_150, T0 + 1_000, true)).await;
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    post(change("APP-1", 10_050, T0 + 2_000, false)).await;
    let log = settled(&server, &id, 2).await;
    assert_eq!(
        log[0]["outcomes"][0]["result"], "deassigned",
        "the newer change with the smaller changelog id applies: {log:?}"
    );
    post(change("APP-1", 10_200, T0 + 1_500, true)).await;
    let log = settled(&server, &id, 3).await;
    assert_eq!(log[0]["outcomes"][0]["result"], "skipped", "{log:?}");
    assert!(outcome_reason(&log[0]).contains("stale"), "{log:?}");
    let (_, g) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(g["assignee"], Value::Null, "the older change did not apply");
}

on_both_backends!(a_watermark_poisoned_by_a_future_timestamp_is_reset_through_the_api);
/// A forged delivery dated far in the future freezes the group (every real change is stale);
/// `POST /groups/g1/reset-watermarks` removes the watermark and the real change then applies.
async fn a_watermark_poisoned_by_a_future_timestamp_is_reset_through_the_api(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let now = reference_server::time::now_ms();
    let forged = change("APP-1", 1, now + 10 * 365 * 24 * 3_600_000, true);
    let (status, _) = server.webhook(&token, &forged).await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    let real = change("APP-1", 2, now, false);
    let (status, _) = server.webhook(&token, &real).await;
    assert_eq!(status, StatusCode::OK);
    let log = settled(&server, &id, 2).await;
    assert!(outcome_reason(&log[0]).contains("stale"), "frozen: {log:?}");

    // Unknown group: 404; a body that is not the documented one: 400.
    let (status, body) = server
        .api(
            Method::POST,
            "/groups/nope/reset-watermarks",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server
        .api(
            Method::POST,
            "/groups/g1/reset-watermarks",
            Some(json!({"integrations": id})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Another integration's watermarks only: nothing of this one is removed.
    let (status, body) = server
        .api(
            Method::POST,
            "/groups/g1/reset-watermarks",
            Some(json!({"integration": "999"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reset"], json!([]), "{body}");

    let (status, body) = server
        .api(
            Method::POST,
            "/groups/g1/reset-watermarks",
            Some(json!({"integration": id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reset"], json!([format!("{id}/assignee")]), "{body}");
    assert_eq!(body["group"]["assignee"], "u-bob", "{body}");

    // The same real delivery again now applies.
    let (status, _) = server.webhook(&token, &real).await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == Value::Null)
        .await;
    // Without a body every integration's watermarks go.
    let (status, body) = server
        .api(Method::POST, "/groups/g1/reset-watermarks", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reset"], json!([format!("{id}/assignee")]), "{body}");
}

on_both_backends!(a_changelog_id_beyond_bigint_does_not_block_later_deliveries);
/// A forged changelog id of `u64::MAX` (no Jira id: Jira's are Java `long`s; PostgreSQL keeps
/// them as bigint) is left out of the ordering key, on both backends alike: the delivery
/// applies by its event time and does not hold up the deliveries after it (on PostgreSQL it
/// failed on every retry, and the inbox waited behind it).
async fn a_changelog_id_beyond_bigint_does_not_block_later_deliveries(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let now = reference_server::time::now_ms();
    let (status, _) = server
        .webhook(&token, &change("APP-1", u64::MAX, now - 2_000, true))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .webhook(&token, &change("APP-1", 7, now - 1_000, false))
        .await;
    assert_eq!(status, StatusCode::OK);
    let log = settled(&server, &id, 2).await;
    assert_eq!(log[1]["outcomes"][0]["result"], "assigned", "{log:?}");
    assert_eq!(log[0]["outcomes"][0]["result"], "deassigned", "{log:?}");
    let (_, g) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(g["assignee"], Value::Null);
}
