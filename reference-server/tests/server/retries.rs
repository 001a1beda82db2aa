//! Retry budget, dead letters and worker supervision (issue 20, items 4 and 8), on both
//! backends: a delivery whose Jira look-up keeps failing is retried on its own while later
//! deliveries of its integration are applied, becomes a dead letter (with its body) after
//! `--retry-max-attempts`, and is retried or deleted through the admin API; its retry state
//! survives a restart; a worker that panics is restarted.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use reference_server::app::Faults;
use reference_server::config::ServeConfig;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{MockJira, TestServer, fixture, install_pat};
use crate::support_backend::{Backend, on_both_backends};

const WITHIN: Duration = Duration::from_secs(15);

/// A server on `backend` set up by `configure`, with a PAT install against a Jira 9 mock and
/// the usual world seeded (group g1 linked to APP-1).
async fn installed_with(
    backend: &Backend,
    configure: impl FnOnce(&mut ServeConfig),
) -> (TestServer, MockJira, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_on_with(backend, dir, configure).await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;
    (server, jira, id, token)
}

/// Jira's status list fails (503) from now on; the other stubs stay.
async fn statuses_fail(jira: &MockJira) {
    Mock::given(method("GET"))
        .and(path("/rest/api/2/status"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&jira.server)
        .await;
}

/// Jira answers again, and knows the statuses of EXAMPLE_PAYLOAD (10101 -> 10102).
async fn statuses_back(jira: &MockJira) {
    jira.server.reset().await;
    Mock::given(path("/rest/api/2/status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": "10101", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
            {"id": "10102", "name": "Done", "statusCategory": {"key": "done"}}
        ])))
        .mount(&jira.server)
        .await;
}

/// A status change of APP-1 (needs Jira's status list): EXAMPLE_PAYLOAD with `changelog`.
fn status_change(changelog: &str, from: &str, to: &str) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture("EXAMPLE_PAYLOAD.json")).expect("json");
    body["changelog"]["id"] = json!(changelog);
    body["changelog"]["items"][0]["from"] = json!(from);
    body["changelog"]["items"][0]["to"] = json!(to);
    body.to_string().into_bytes()
}

/// An assignment of APP-1 to bob (e-mail in the payload: no Jira call).
fn assignment(changelog: &str) -> Vec<u8> {
    let mut body: Value =
        serde_json::from_slice(&fixture("edit_issue_assignee_payload.json")).expect("json");
    body["issue"]["key"] = json!("APP-1");
    body["changelog"]["id"] = json!(changelog);
    body["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    body.to_string().into_bytes()
}

/// Polls the dead letters of `id` until there are `n`.
async fn wait_dead_letters(server: &TestServer, id: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let (s, v) = server
            .api(
                Method::GET,
                &format!("/integrations/{id}/dead-letters"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let list = v["deadLetters"].as_array().cloned().unwrap_or_default();
        if list.len() == n {
            return list;
        }
        assert!(start.elapsed() < WITHIN, "not {n} dead letters: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(server: &TestServer, token: &str, body: &[u8]) {
    let (status, b) = server.webhook(token, body).await;
    assert_eq!(status, StatusCode::OK, "{b:?}");
}

on_both_backends!(a_failing_delivery_does_not_hold_up_later_ones_and_becomes_a_dead_letter);
/// Jira's status list keeps failing: the status change waits for its retries while a later
/// assignment of the same issue is applied; after 3 attempts it is a dead letter with its body
/// and last error; retried once Jira is back it is applied; another one is deleted; unknown
/// deliveries are 404.
async fn a_failing_delivery_does_not_hold_up_later_ones_and_becomes_a_dead_letter(
    backend: Backend,
) {
    let (server, jira, id, token) = installed_with(&backend, |c| c.retry_max_attempts = 3).await;
    statuses_fail(&jira).await;
    send(&server, &token, &status_change("12345", "10101", "10102")).await;
    send(&server, &token, &assignment("12346")).await;
    // The later delivery is applied while the first one waits (it used to wait behind it).
    server
        .wait_group("g1", Duration::from_secs(5), |g| g["assignee"] == "u-bob")
        .await;

    let dead = wait_dead_letters(&server, &id, 1).await;
    let d = &dead[0];
    assert_eq!(d["attempts"], 3, "{d}");
    assert_eq!(d["issueKey"], "APP-1", "{d}");
    assert!(
        d["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("status")),
        "{d}"
    );
    assert!(d["bodyBytes"].as_u64().is_some_and(|n| n > 0), "{d}");
    assert_eq!(
        server.inbox_len().await,
        0,
        "a dead letter leaves the inbox"
    );
    let log = server.deliveries(&id).await;
    let failed = log
        .iter()
        .find(|e| e["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed entry: {log:?}"));
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("dead letter") && r.contains("3 attempt")),
        "{failed}"
    );
    let metrics = server.state().metrics.render();
    assert!(
        metrics.contains("reference_server_dead_letters_total{action=\"dead_lettered\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reference_server_delivery_retries_total 2\n"),
        "{metrics}"
    );

    // Jira is back: the retried dead letter is applied.
    statuses_back(&jira).await;
    let delivery = d["delivery"].as_u64().expect("a delivery number");
    let retry = format!("/integrations/{id}/dead-letters/{delivery}/retry");
    let (s, v) = server.api(Method::POST, &retry, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["retried"], delivery, "{v}");
    server
        .wait_group("g1", WITHIN, |g| g["status"] == "resolved")
        .await;
    wait_dead_letters(&server, &id, 0).await;
    let (s, v) = server.api(Method::POST, &retry, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "retried twice: {v}");

    // Another one fails for good and is deleted.
    statuses_fail(&jira).await;
    send(&server, &token, &status_change("12347", "10201", "10202")).await;
    let dead = wait_dead_letters(&server, &id, 1).await;
    let gone = dead[0]["delivery"].as_u64().expect("a delivery number");
    let one = format!("/integrations/{id}/dead-letters/{gone}");
    let (s, v) = server.api(Method::DELETE, &one, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_dead_letters(&server, &id, 0).await;
    for (m, p) in [
        (Method::DELETE, one.clone()),
        (Method::POST, format!("{one}/retry")),
        (
            Method::DELETE,
            format!("/integrations/{id}/dead-letters/nope"),
        ),
        (
            Method::DELETE,
            format!("/integrations/{id}/dead-letters/99999999"),
        ),
        (Method::GET, "/integrations/999999/dead-letters".to_owned()),
    ] {
        let (s, v) = server.api(m.clone(), &p, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}: {v}");
    }
    let metrics = server.state().metrics.render();
    for line in [
        "reference_server_dead_letters_total{action=\"dead_lettered\"} 2\n",
        "reference_server_dead_letters_total{action=\"retried\"} 1\n",
        "reference_server_dead_letters_total{action=\"deleted\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line}: {metrics}");
    }
}

on_both_backends!(the_retry_state_survives_a_restart);
/// A delivery that failed once before a restart keeps its attempts and first failure: with a
/// budget of 2 it becomes a dead letter at the first failure after the restart, dated from
/// before it.
async fn the_retry_state_survives_a_restart(backend: Backend) {
    let budget = |c: &mut ServeConfig| c.retry_max_attempts = 2;
    let (server, jira, id, token) = installed_with(&backend, budget).await;
    statuses_fail(&jira).await;
    send(&server, &token, &status_change("12345", "10101", "10102")).await;
    let start = Instant::now();
    while server
        .state()
        .metrics
        .render()
        .contains("reference_server_delivery_retries_total 0\n")
    {
        assert!(start.elapsed() < WITHIN, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before_restart = reference_server::time::rfc3339_ms(reference_server::time::now_ms());
    let dir = server.stop().await;
    let server = TestServer::start_on_with(&backend, dir, budget).await;
    let dead = wait_dead_letters(&server, &id, 1).await;
    assert_eq!(dead[0]["attempts"], 2, "{}", dead[0]);
    let first = dead[0]["firstFailureAt"].as_str().expect("a time");
    assert!(
        first <= before_restart.as_str(),
        "{first} vs {before_restart}"
    );
    drop(jira);
}

on_both_backends!(a_panicking_worker_is_restarted);
/// The worker panics (test-only fault injection) when it claims the first delivery: it is
/// restarted (counted in the metrics) and the delivery, left pending, is applied.
async fn a_panicking_worker_is_restarted(backend: Backend) {
    let faults = Faults::default();
    faults.panic_worker(1);
    let injected = faults.clone();
    let (server, jira, _id, token) = installed_with(&backend, move |c| c.faults = injected).await;
    send(&server, &token, &assignment("12346")).await;
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    assert_eq!(server.state().metrics.worker_restarts(), 1);
    let metrics = server.state().metrics.render();
    assert!(
        metrics.contains("reference_server_worker_restarts_total 1\n"),
        "{metrics}"
    );
    // Still draining after the restart.
    statuses_back(&jira).await;
    send(&server, &token, &status_change("12347", "10101", "10102")).await;
    server
        .wait_group("g1", WITHIN, |g| g["status"] == "resolved")
        .await;
}

/// A PostgreSQL intake writer panics (injected through the test-only `Faults` hook): the
/// delivery of the batch it held is answered 503, not 200; the writer is restarted (logged,
/// counted in `reference_server_intake_writer_restarts_total`) and the next delivery is stored
/// and applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_postgres_intake_writer_is_restarted() {
    let Some(db) = crate::support_pg::fresh_database().await else {
        return;
    };
    let faults = Faults::default();
    faults.panic_inbox_writer(1);
    let injected = faults.clone();
    // The database lives as long as the backend that owns it.
    let backend = Backend::Postgres(db);
    let (server, _jira, _id, token) = installed_with(&backend, move |c| c.faults = injected).await;
    let (status, body) = server.webhook(&token, &assignment("12346")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    send(&server, &token, &assignment("12347")).await;
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    assert_eq!(server.state().metrics.intake_writer_restarts(), 1);
    let metrics = server.state().metrics.render();
    assert!(
        metrics.contains("reference_server_intake_writer_restarts_total 1\n"),
        "{metrics}"
    );
}

/// How long the slow Jira takes to answer its status list.
const SLOW_JIRA: Duration = Duration::from_secs(12);

/// The sled inbox's writer panics (injected through the test-only `Faults` hook): the delivery
/// it held is answered 503, not 200, and the server stops by itself with an error (exit code 1)
/// naming the panic, for its supervisor to restart it; restarted, it stores deliveries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_inbox_writer_stops_the_server_with_an_error() {
    let faults = Faults::default();
    faults.panic_inbox_writer(1);
    let injected = faults.clone();
    let (mut server, _jira, _id, token) =
        installed_with(&Backend::Sled, move |c| c.faults = injected).await;
    let (status, body) = server.webhook(&token, &assignment("12346")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    let handle = server.handle.take().expect("running");
    let stopped = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the server stops by itself");
    let err = stopped.expect_err("a dead inbox writer is an error, not a clean stop");
    assert!(
        matches!(err, reference_server::server::ServerError::StoreFailed(_)),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("inbox writer panicked"), "{err}");
    // Started again on the same data directory, it takes deliveries.
    let restarted = server.restart(&Backend::Sled).await;
    send(&restarted, &token, &assignment("12347")).await;
    restarted
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
}

on_both_backends!(a_slow_jira_does_not_stall_other_integrations);
/// Integration A's Jira takes [`SLOW_JIRA`] to list its statuses; a delivery of integration B
/// that arrives after A's status change is applied meanwhile (a lane per integration), and A's
/// is applied once its Jira answers.
async fn a_slow_jira_does_not_stall_other_integrations(backend: Backend) {
    let (server, slow, a, token_a) = installed_with(&backend, |_| {}).await;
    let fast = MockJira::start(9).await;
    let (b, token_b) = install_pat(&server, &fast).await;
    for (path, body) in [
        ("/groups/g2".to_owned(), Some(json!({"project": "p1"}))),
        (format!("/groups/g2/external-issues/{b}/APP-2"), None),
        (
            format!("/integrations/{b}/organizations/o1"),
            Some(json!({"syncReverseAssignment": true, "syncStatusReverse": true})),
        ),
    ] {
        let (s, v) = server.api(Method::PUT, &path, body).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    // A replica on PostgreSQL learns of new links within about 0.5 s (its link-key cache).
    tokio::time::sleep(Duration::from_secs(1)).await;
    slow.server.reset().await;
    Mock::given(path("/rest/api/2/status"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([
                    {"id": "10101", "name": "In Progress", "statusCategory": {"key": "indeterminate"}},
                    {"id": "10102", "name": "Done", "statusCategory": {"key": "done"}}
                ]))
                .set_delay(SLOW_JIRA),
        )
        .mount(&slow.server)
        .await;

    send(&server, &token_a, &status_change("12345", "10101", "10102")).await;
    let mut assign_b: Value = serde_json::from_slice(&assignment("500")).expect("json");
    assign_b["issue"]["key"] = json!("APP-2");
    send(&server, &token_b, assign_b.to_string().as_bytes()).await;
    // B's delivery, accepted after A's, is applied while A's look-up still waits for its Jira
    // (the order of events is the check, not a time: a busy machine only makes both later).
    server
        .wait_group("g2", SLOW_JIRA / 6 * 5, |g| g["assignee"] == "u-bob")
        .await;
    let (status, g1) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(status, StatusCode::OK, "{g1}");
    assert_ne!(
        g1["status"], "resolved",
        "B was applied only after A's slow Jira answered: the worker waited for it"
    );
    let g1 = server
        .wait_group("g1", SLOW_JIRA + WITHIN, |g| g["status"] == "resolved")
        .await;
    assert_eq!(g1["status"], "resolved");
    assert_eq!(server.inbox_len().await, 0, "both applied");
    drop(a);
}
