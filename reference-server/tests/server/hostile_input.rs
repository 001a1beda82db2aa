//! Hostile input against the running server (ephemeral port, temp data dir): the rows of
//! `SECURITY.md` that the `webhooks` module does not already cover. Each test states what the
//! input is and what the server must answer, and checks that nothing was stored when nothing
//! may be and that the server keeps serving afterwards.
//!
//! The tests run on both storage backends, as `<name>::sled` and `<name>::postgres` (see
//! `support_backend`): a webhook's token is looked up in the store before anything else (even
//! the 413 for an oversized `Content-Length` comes after it), deliveries are stored, applied
//! and logged there, and the admin API is checked on a server with an install in its store.
//! The two HTTP-layer tests run on sled only: the slow client is cut off by hyper's header
//! read timeout and the slow body by the body read timeout of an admin request, before any
//! store is asked.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{TestServer, external_id_of, raw, secret_of, sign, sign_hs256};
use crate::support_backend::{Backend, installed_and_seeded_on, installed_on, on_both_backends};
use base64::Engine as _;
use http::{Method, StatusCode};
use reference_server::config::ServeConfig;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const WITHIN: Duration = Duration::from_secs(5);

/// The 11 KB perf delivery, re-targeted: assignee bob@example.org on `key`, changelog `clid`.
fn delivery(key: &str, clid: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&common::fixture("issue_updated_large.json"))
        .expect("fixture is JSON");
    v["issue"]["key"] = json!(key);
    v["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    v["changelog"]["id"] = json!(clid);
    v
}

async fn assert_healthy(server: &TestServer) {
    let (s, _) = common::http(server.addr, Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!(s, StatusCode::OK, "the server stopped serving");
}

on_both_backends!(expired_token_is_rejected);
async fn expired_token_is_rejected(backend: Backend) {
    let (server, _jira, id, _token) = installed_on(&backend).await;
    let claims =
        json!({"id": external_id_of(&server, &id).await, "exp": 1_000_000_000}).to_string();
    let token = sign_hs256(&claims, &secret_of(&server, &id).await);
    let body = delivery("APP-1", "1").to_string();
    let (status, reply) = server.webhook(&token, body.as_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reply = String::from_utf8_lossy(&reply);
    assert!(!reply.contains(&token), "the answer echoes the token");
    assert_eq!(server.inbox_len().await, 0);
}

on_both_backends!(mistyped_exp_claim_is_rejected_not_ignored);
async fn mistyped_exp_claim_is_rejected_not_ignored(backend: Backend) {
    // CVE-2026-25537 (jsonwebtoken < 10.3): a string `exp` was treated as absent.
    let (server, _jira, id, _token) = installed_on(&backend).await;
    let secret = secret_of(&server, &id).await;
    let ext = external_id_of(&server, &id).await;
    for claims in [
        json!({"id": ext, "exp": "99999999999"}),
        json!({"id": ext, "nbf": "0"}),
        json!({"id": ext, "nbf": 99_999_999_999_i64}),
    ] {
        let token = sign(r#"{"alg":"HS256"}"#, &claims.to_string(), &secret);
        let (status, _) = server.webhook(&token, b"{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{claims}");
    }
}

on_both_backends!(forged_token_for_a_real_integration_is_rejected);
async fn forged_token_for_a_real_integration_is_rejected(backend: Backend) {
    // Right `id`, HS256, but signed with a key the attacker chose; also the signature of a
    // valid token moved onto other claims.
    let (server, _jira, id, token) = installed_on(&backend).await;
    let ext = external_id_of(&server, &id).await;
    let forged = sign(
        r#"{"alg":"HS256"}"#,
        &json!({"id": ext}).to_string(),
        b"guessed",
    );
    let (status, _) = server
        .webhook(&forged, b"{\"changelog\":{\"id\":\"1\"}}")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let sig = token.rsplit('.').next().expect("signature");
    let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let spliced = format!(
        "{}.{}.{sig}",
        enc.encode(r#"{"alg":"HS256"}"#),
        enc.encode(json!({"id": ext, "admin": true}).to_string())
    );
    let (status, _) = server
        .webhook(&spliced, b"{\"changelog\":{\"id\":\"1\"}}")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // alg:none with the real id and no signature.
    let none = format!(
        "{}.{}.",
        enc.encode(r#"{"alg":"none","typ":"JWT"}"#),
        enc.encode(json!({"id": ext}).to_string())
    );
    let (status, _) = server
        .webhook(&none, b"{\"changelog\":{\"id\":\"1\"}}")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.inbox_len().await, 0);
}

on_both_backends!(deeply_nested_body_is_refused_without_harm);
async fn deeply_nested_body_is_refused_without_harm(backend: Backend) {
    let (server, _jira, _id, token) = installed_on(&backend).await;
    for depth in [200usize, 100_000] {
        let mut body = b"{\"changelog\":".to_vec();
        body.extend(std::iter::repeat_n(b'[', depth));
        body.extend(std::iter::repeat_n(b']', depth));
        body.push(b'}');
        let (status, _) = server.webhook(&token, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "depth {depth}");
        // Unbalanced nesting (never closed) as well.
        let mut open = b"{\"changelog\":{\"a\":".to_vec();
        open.extend(std::iter::repeat_n(b'{', depth));
        let (status, _) = server.webhook(&token, &open).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unbalanced depth {depth}");
    }
    assert_eq!(server.inbox_len().await, 0);
    assert_healthy(&server).await;
}

on_both_backends!(invalid_utf8_body_is_refused);
async fn invalid_utf8_body_is_refused(backend: Backend) {
    let (server, _jira, _id, token) = installed_on(&backend).await;
    let mut body = br#"{"changelog":{"id":"1","items":[{"field":"assignee","to":""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    body.extend_from_slice(br#""}]},"issue":{"key":"APP-1"}}"#);
    let (status, _) = server.webhook(&token, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Invalid UTF-8 in the token path segment (percent-encoded bytes) is a bad token.
    let (status, _) = common::http(
        server.addr,
        Method::POST,
        "/extensions/jira-server/issue-updated/%FF%FE.%C3%28.x/",
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.inbox_len().await, 0);
}

on_both_backends!(truncated_request_stores_nothing);
async fn truncated_request_stores_nothing(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let body = delivery("APP-1", "7").to_string();
    let head = format!(
        "POST /extensions/jira-server/issue-updated/{token}/ HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes().get(..body.len() / 2).expect("half"));
    // The client goes away half-way through the body.
    let (answer, _) = raw(server.addr, &bytes, true, Duration::from_secs(5)).await;
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "a truncated delivery was acknowledged: {answer}"
    );
    // Truncated headers too.
    let (answer, _) = raw(
        server.addr,
        b"POST /extensions/jira-server/issue-updated/x/ HTTP/1.1\r\nContent-Le",
        true,
        Duration::from_secs(5),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.inbox_len().await, 0);
    assert!(server.deliveries(&id).await.is_empty());
    let (_, g) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(g["assignee"], Value::Null);
    assert_healthy(&server).await;
}

on_both_backends!(oversized_declared_length_is_refused_before_the_body_arrives);
async fn oversized_declared_length_is_refused_before_the_body_arrives(backend: Backend) {
    let (server, _jira, _id, token) = installed_on(&backend).await;
    let head = format!(
        "POST /extensions/jira-server/issue-updated/{token}/ HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
        64 * 1024 * 1024
    );
    // The body never comes: the answer must not wait for 64 MiB.
    let (answer, _) = raw(server.addr, head.as_bytes(), false, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "expected 413 before the body, got: {answer:?}"
    );
    assert_eq!(server.inbox_len().await, 0);
}

#[tokio::test]
async fn slow_client_is_cut_off_by_the_header_read_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
    config.admin_token = Some(common::ADMIN.parse().expect("token"));
    config.header_timeout_secs = 1;
    config.shutdown_timeout_secs = 1;
    let handle = reference_server::server::start(config)
        .await
        .expect("starts");
    let addr = handle.addr;
    // A slowloris client: the request line and one header, then silence.
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"POST /extensions/jira-server/issue-updated/x/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let waited = started.elapsed();
    assert!(read.is_ok(), "the connection was still open after 10 s");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}, expected about 1 s"
    );
    let answer = String::from_utf8_lossy(&out);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "unexpected answer to a slow client: {answer}"
    );
    // Other clients are served meanwhile and afterwards.
    let (status, _) = common::http(addr, Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    handle.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn slow_body_is_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"), dir.path().into());
    config.admin_token = Some(common::ADMIN.parse().expect("token"));
    config.header_timeout_secs = 1;
    config.shutdown_timeout_secs = 1;
    let handle = reference_server::server::start(config)
        .await
        .expect("starts");
    // Complete headers announcing 100 bytes, 10 of them sent, then silence.
    let (answer, closed) = raw(
        handle.addr,
        format!(
            "PUT /api/v1/users/u1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Length: 100\r\n\r\n{{\"name\":\"",
            common::ADMIN
        )
        .as_bytes(),
        false,
        Duration::from_secs(10),
    )
    .await;
    // A 408 well before our 10 s patience ends (the idle connection may stay open afterwards,
    // until the header read timeout of the next request), or the connection closed.
    assert!(
        answer.starts_with("HTTP/1.1 408") || (closed && answer.is_empty()),
        "no 408 and no close within 10 s (closed: {closed}): {answer:?}"
    );
    handle.shutdown().await.expect("shutdown");
}

on_both_backends!(unknown_event_kind_is_accepted_and_logged);
async fn unknown_event_kind_is_accepted_and_logged(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let mut body = delivery("APP-1", "20");
    body["webhookEvent"] = json!("jira:issue_teleported");
    body["issue_event_type_name"] = json!("issue_teleported");
    let (status, _) = server.webhook(&token, body.to_string().as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["event"], "jira:issue_teleported");
    assert_ne!(d["state"], "failed", "{d}");
    // An event without any changelog is acknowledged and not stored.
    let (status, _) = server
        .webhook(
            &token,
            br#"{"webhookEvent":"jira:version_released","version":{"id":"1"}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.deliveries(&id).await.len(), 1);
}

on_both_backends!(content_type_is_not_trusted_the_body_decides);
async fn content_type_is_not_trusted_the_body_decides(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let path = format!("/extensions/jira-server/issue-updated/{token}/");
    // A JSON delivery labelled text/plain is still a delivery (Jira's own header varies).
    let body = delivery("APP-1", "30").to_string().into_bytes();
    let (status, _) = common::http(
        server.addr,
        Method::POST,
        &path,
        &[("content-type", "text/plain")],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    // A form body labelled JSON, and XML, are not JSON objects: 400, nothing stored.
    for (ct, body) in [
        ("application/json", &b"changelog=1&issue=APP-1"[..]),
        (
            "application/x-www-form-urlencoded",
            b"changelog=1&issue=APP-1",
        ),
        ("application/xml", b"<changelog id=\"1\"/>"),
    ] {
        let (status, _) = common::http(
            server.addr,
            Method::POST,
            &path,
            &[("content-type", ct)],
            body.to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ct}");
    }
    assert_eq!(server.deliveries(&id).await.len(), 1);
}

on_both_backends!(replayed_delivery_is_applied_once);
async fn replayed_delivery_is_applied_once(backend: Backend) {
    let (server, _jira, id, token) = installed_and_seeded_on(&backend, "APP-1").await;
    let body = delivery("APP-1", "40").to_string();
    let (status, _) = server.webhook(&token, body.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    // The same bytes again (an attacker replaying a captured request, a proxy resending; Jira
    // Data Center documents no retries, Jira Cloud retries on 5xx).
    let (status, _) = server.webhook(&token, body.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + WITHIN;
    let log = loop {
        let log = server.deliveries(&id).await;
        if log.len() == 2 && log.iter().all(|d| d["state"] != "pending") {
            break log;
        }
        assert!(Instant::now() < deadline, "replay not processed: {log:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let newest = log.first().expect("two entries");
    let outcome = &newest["outcomes"][0];
    assert_eq!(outcome["group"], "g1");
    assert_eq!(outcome["result"], "skipped", "{newest}");
    assert!(
        outcome["reason"]
            .as_str()
            .is_some_and(|r| r.contains("duplicate")),
        "{newest}"
    );
    let (_, g) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(g["assignee"], "u-bob");
    let m = String::from_utf8_lossy(
        &common::http(server.addr, Method::GET, "/metrics", &[], Vec::new())
            .await
            .1,
    )
    .into_owned();
    assert!(
        m.contains("reference_server_sync_actions_total{action=\"assigned\"} 1\n"),
        "assigned more than once:\n{m}"
    );
}

on_both_backends!(admin_api_refuses_missing_or_wrong_bearer_tokens);
async fn admin_api_refuses_missing_or_wrong_bearer_tokens(backend: Backend) {
    let (server, _jira, _id, _token) = installed_on(&backend).await;
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some("Bearer "),
    ] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let (status, body) = common::http(
            server.addr,
            Method::GET,
            "/api/v1/integrations",
            &headers,
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(!String::from_utf8_lossy(&body).contains(common::ADMIN));
    }
}
