//! End to end: install through the API (OAuth 1.0a) against the simulated Jira, seed users,
//! projects, groups and links, let Jira deliver (its own assignments and transitions, and real
//! captured deliveries), then check group state and the delivery log. Also: a restart replays a
//! delivery that was stored but not applied.
//!
//! Both tests run on each storage backend (`<name>::sled`, `<name>::postgres`; see
//! `support_backend`).

use crate::common;

use std::time::Duration;

use crate::common::{TestServer, fixture};
use crate::support_backend::{Backend, on_both_backends};
use http::{Method, StatusCode};
use jira_sim::{Config, DEMO_CONSUMER_KEY, DEMO_PRIVATE_KEY_PEM, SimIssue, SimulatedJira};
use reference_server::storage::Inbox as _;
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(5);

/// OAuth install: start, approve in Jira (as the user would), API callback with the verifier.
async fn install_oauth(server: &TestServer, jira: &SimulatedJira) -> String {
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(json!({
                "url": jira.base_url(),
                "consumerKey": DEMO_CONSUMER_KEY,
                "privateKey": DEMO_PRIVATE_KEY_PEM,
                "verifySsl": true
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let oauth_url = body["oauthUrl"].as_str().expect("oauthUrl");
    let request_token = oauth_url.rsplit("oauth_token=").next().expect("token");
    let verifier = jira.approve(request_token).expect("Jira approves");
    let pipeline = body["pipeline"].as_str().expect("pipeline");
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": verifier})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["integration"]["id"].as_str().expect("id").to_owned()
}

on_both_backends!(
    install_seed_deliver_and_check,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn install_seed_deliver_and_check(backend: Backend) {
    let jira = SimulatedJira::start(Config::demo())
        .await
        .expect("simulated Jira");
    jira.upsert_issue(SimIssue::new("10003", "APP-3", "Hidden e-mail", "10000"));
    let server = TestServer::start_on(&backend).await;
    let id = install_oauth(&server, &jira).await;
    assert_eq!(jira.webhooks().len(), 1);

    // Tracker data.
    server
        .put(
            "/users/u-bob",
            json!({"name": "Bob", "emails": [{"email": "BOB@example.org", "verified": true}]}),
        )
        .await;
    server
        .put(
            "/users/u-alice",
            json!({"name": "Alice", "emails": [{"email": "alice@example.org", "verified": true}]}),
        )
        .await;
    server.put("/users/u-ops", json!({"name": "Ops", "emails": [{"email": "some-instance-test@gmail.com", "verified": true}]})).await;
    server
        .put(
            "/projects/backend",
            json!({"organization": "acme", "members": ["u-bob", "u-alice", "u-ops"]}),
        )
        .await;
    server
        .put(
            "/projects/frontend",
            json!({"organization": "acme", "members": ["u-alice"]}),
        )
        .await;
    server
        .put(
            "/projects/other",
            json!({"organization": "globex", "members": ["u-bob"]}),
        )
        .await;
    for (g, p) in [
        ("g-back", "backend"),
        ("g-front", "frontend"),
        ("g-other", "other"),
        ("g-3", "backend"),
        ("g-tes", "backend"),
        ("g-prja", "backend"),
    ] {
        server
            .put(&format!("/groups/{g}"), json!({"project": p}))
            .await;
    }
    for (g, key) in [
        ("g-back", "APP-1"),
        ("g-front", "APP-1"),
        ("g-other", "APP-1"),
        ("g-3", "APP-3"),
        ("g-tes", "TES-4"),
        ("g-prja", "PRJA-37"),
    ] {
        server
            .put(
                &format!("/groups/{g}/external-issues/{id}/{key}"),
                json!({}),
            )
            .await;
    }
    server
        .put(
            &format!("/integrations/{id}/organizations/acme"),
            json!({"syncReverseAssignment": true, "syncStatusReverse": true}),
        )
        .await;
    // globex installed nothing: its group must stay alone.

    // 1. Jira assigns APP-1 to bob: backend group assigned, frontend skipped (bob not a member).
    let results = jira
        .assign_issue("APP-1", Some("bob"))
        .await
        .expect("delivered");
    assert!(results.iter().all(|r| r.status == Some(200)), "{results:?}");
    server
        .wait_group("g-back", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["state"], "applied", "{d}");
    assert_eq!(d["issueKey"], "APP-1");
    assert_eq!(d["event"], "jira:issue_updated");
    let outcomes = d["outcomes"].as_array().expect("outcomes");
    let of = |g: &str| {
        outcomes
            .iter()
            .find(|o| o["group"] == g)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of("g-back")["result"], "assigned");
    assert_eq!(of("g-back")["user"], "u-bob");
    assert_eq!(of("g-front")["result"], "skipped");
    assert!(
        of("g-front")["reason"]
            .as_str()
            .expect("reason")
            .contains("not_project_member")
    );
    assert_eq!(of("g-other")["result"], "skipped");
    let (_, front) = server.api(Method::GET, "/groups/g-front", None).await;
    assert_eq!(front["assignee"], Value::Null);
    let (_, other) = server.api(Method::GET, "/groups/g-other", None).await;
    assert_eq!(other["assignee"], Value::Null);

    // 2. Jira moves APP-1 to Done (status from the cached GET /rest/api/2/status).
    jira.transition_issue("APP-1", "10002")
        .await
        .expect("delivered");
    server
        .wait_group("g-back", WITHIN, |g| g["status"] == "resolved")
        .await;

    // 3. Alice's e-mail is hidden in Jira: without a mapping nothing happens, with one she is assigned.
    jira.assign_issue("APP-3", Some("alice"))
        .await
        .expect("delivered");
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["outcomes"][0]["result"], "skipped", "{d}");
    server
        .put(
            &format!("/integrations/{id}/user-mappings/JIRAUSER10002"),
            json!({"user": "u-alice"}),
        )
        .await;
    jira.assign_issue("APP-3", None).await.expect("delivered");
    jira.assign_issue("APP-3", Some("alice"))
        .await
        .expect("delivered");
    server
        .wait_group("g-3", WITHIN, |g| g["assignee"] == "u-alice")
        .await;

    // 4. Real captured deliveries: a Jira 7 resolve (TES-4) and assignment (PRJA-37).
    let resolved: Value =
        serde_json::from_slice(&fixture("server-7x-issue-updated-resolved.json")).expect("json");
    let assigned: Value =
        serde_json::from_slice(&fixture("server-7x-issue-updated-assigned.json")).expect("json");
    for body in [&resolved, &assigned] {
        let results = jira.deliver(body).await;
        assert!(results.iter().all(|r| r.status == Some(200)), "{results:?}");
    }
    server
        .wait_group("g-tes", WITHIN, |g| g["status"] == "resolved")
        .await;
    server
        .wait_group("g-prja", WITHIN, |g| g["assignee"] == "u-ops")
        .await;

    // 5. A delivery without changelog (issue created) is acknowledged and not logged.
    let created: Value =
        serde_json::from_slice(&fixture("server-legacy-issue-created-no-event-type.json"))
            .expect("json");
    assert!(
        jira.deliver(&created)
            .await
            .iter()
            .all(|r| r.status == Some(200))
    );

    // The log: newest first, every delivery applied or explained. (A group changes a moment
    // before its delivery's log line is finalised, so wait for the last ones.)
    let start = std::time::Instant::now();
    let log = loop {
        let log = server.deliveries(&id).await;
        if log.iter().all(|d| d["state"] != "pending") || start.elapsed() > WITHIN {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(log.len(), 7, "{log:#?}");
    assert!(
        log.iter()
            .all(|d| d["state"] != "pending" && d["state"] != "failed"),
        "{log:#?}"
    );
    assert_eq!(log[0]["issueKey"], "PRJA-37");
    assert_eq!(log[1]["issueKey"], "TES-4");
    assert_eq!(log[6]["issueKey"], "APP-1");
    assert!(
        log.iter()
            .all(|d| d["receivedAt"].as_str().is_some_and(|t| t.ends_with('Z')))
    );

    // Metrics reflect it.
    let (_, metrics) = common::http(server.addr, Method::GET, "/metrics", &[], Vec::new()).await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("reference_server_webhooks_received_total{outcome=\"accepted\"} 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reference_server_webhooks_received_total{outcome=\"no_changelog\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reference_server_sync_actions_total{action=\"assigned\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reference_server_jira_calls_total{status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reference_server_inbox_depth 0"),
        "{metrics}"
    );
    assert_eq!(server.inbox_len().await, 0);
    // The 7 accepted deliveries were made durable before their 200.
    let seconds = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {metrics}"))
    };
    let (synced, waited) = (
        seconds("reference_server_inbox_sync_seconds_total "),
        seconds("reference_server_inbox_durable_wait_seconds_total "),
    );
    match &backend {
        // By sled's inbox flushes (group commit), which the server times: both totals are
        // positive.
        Backend::Sled => assert!(synced > 0.0 && waited > 0.0, "{metrics}"),
        // By PostgreSQL: each accept is an INSERT committed before it returns. There are no
        // inbox flushes, so these counters of sled's stay at zero.
        Backend::Postgres(_) => assert!(
            synced <= 0.0
                && waited <= 0.0
                && metrics.contains("reference_server_inbox_flushes_total 0\n"),
            "{metrics}"
        ),
    }

    // Uninstall removes the webhook from Jira.
    let (status, body) = server
        .api(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(jira.webhooks().is_empty());
    server.stop().await;
}

on_both_backends!(
    stored_but_unapplied_delivery_is_applied_after_restart,
    flavor = "multi_thread",
    worker_threads = 2
);
/// A delivery accepted (durable, answered 200) and not applied before the process stopped is
/// applied by the next server on the same store (sled: the same data dir; PostgreSQL: the same
/// database), and only once.
async fn stored_but_unapplied_delivery_is_applied_after_restart(backend: Backend) {
    let jira = SimulatedJira::start(Config::demo())
        .await
        .expect("simulated Jira");
    let server = TestServer::start_on(&backend).await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install-pat",
            Some(json!({"url": jira.base_url(), "token": Config::DEMO_PAT})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["integration"]["id"].as_str().expect("id").to_owned();
    server.seed(&id, "APP-1").await;
    let dir = server.stop().await;

    // While the server is down, write an inbox entry the way the webhook endpoint does (as if
    // the process died right after answering 200).
    {
        let (storage, tasks) = backend.open_storage(dir.path()).await;
        storage
            .accept(
                &id,
                reference_server::time::now_ms(),
                &fixture("test_post_update_assignee.json"),
            )
            .await
            .expect("stored");
        assert_eq!(storage.pending_count().await.expect("count"), 1);
        drop(storage);
        // Every storage handle is gone now: the tasks end after any flush in flight (aborting
        // the flusher could leave that flush, and its store handle, running on the blocking
        // pool).
        tasks.stop().await.expect("the storage stops");
    }

    let server = TestServer::start_on_in(&backend, dir).await;
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["state"], "applied");
    assert_eq!(server.inbox_len().await, 0);
    // A second restart applies nothing twice: the log still has one entry.
    let server = server.restart(&backend).await;
    let (_, log) = server
        .api(Method::GET, &format!("/integrations/{id}/deliveries"), None)
        .await;
    assert_eq!(log["deliveries"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}
