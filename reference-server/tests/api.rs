//! Admin API: authentication, JSON errors, tracker data shapes, links, settings, delivery log
//! paging, health and metrics.

mod common;

use common::{ADMIN, MockJira, TestServer, http, install_pat};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn admin_api_requires_the_bearer_token() {
    let server = TestServer::start().await;
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", "Basic dGVzdA==")],
        vec![("authorization", "Bearer")],
    ] {
        let (status, body) = http(
            server.addr,
            Method::GET,
            "/api/v1/integrations",
            &headers,
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let body: Value = serde_json::from_slice(&body).expect("json error");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(body["error"]["fields"].is_object());
    }
    let auth = format!("bearer {ADMIN}");
    let (status, _) = http(
        server.addr,
        Method::GET,
        "/api/v1/integrations",
        &[("authorization", &auth)],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn health_metrics_and_unknown_paths() {
    let server = TestServer::start().await;
    let (status, body) = http(server.addr, Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"status": "ok"})
    );
    let (status, body) = http(server.addr, Method::GET, "/metrics", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("# TYPE reference_server_webhooks_received_total counter"));
    assert!(text.contains("reference_server_inbox_depth 0"));
    let (status, _) = http(server.addr, Method::GET, "/nope", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server.api(Method::GET, "/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn tracker_data_is_idempotent_and_validated() {
    let server = TestServer::start().await;
    let user = json!({"name": "Bob", "active": true, "emails": [{"email": "bob@example.org", "verified": true}]});
    for _ in 0..2 {
        let (status, body) = server
            .api(Method::PUT, "/users/u%40bob", Some(user.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], "u@bob");
    }
    let (status, body) = server
        .api(
            Method::PUT,
            "/users/u2",
            Some(json!({"emails": [{"email": "not-an-address"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["fields"]["emails"].is_string(), "{body}");
    let (status, body) = server
        .api(Method::PUT, "/users/u3", Some(json!({"bogus": 1})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = http(
        server.addr,
        Method::PUT,
        "/api/v1/users/u4",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A group needs an existing project; status and assignee survive a re-PUT.
    let (status, body) = server
        .api(Method::PUT, "/groups/g1", Some(json!({"project": "p1"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["fields"]["project"].is_string());
    let (status, _) = server
        .api(
            Method::PUT,
            "/projects/p1",
            Some(json!({"organization": "o1", "members": ["u@bob"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .api(Method::PUT, "/groups/g1", Some(json!({"project": "p1"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"id": "g1", "project": "p1", "status": "unresolved", "assignee": null})
    );
    let (status, body) = server.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"id": "g1", "project": "p1", "status": "unresolved", "assignee": null})
    );
    let (status, _) = server.api(Method::GET, "/groups/missing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn links_settings_mappings_and_delivery_paging() {
    let server = TestServer::start().await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;

    // Link to an unknown integration or group: 404. Unlink twice: 200 then 404.
    let (status, _) = server
        .api(Method::PUT, "/groups/g1/external-issues/999/APP-1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .api(
            Method::PUT,
            &format!("/groups/nope/external-issues/{id}/APP-1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .api(
            Method::PUT,
            &format!("/groups/g1/external-issues/{id}/APP-2"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/groups/g1/external-issues/{id}/APP-2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/groups/g1/external-issues/{id}/APP-2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Settings: a status mapping must map project keys to status ids.
    let (status, body) = server
        .api(
            Method::PUT,
            &format!("/integrations/{id}/organizations/o1"),
            Some(json!({"syncReverseAssignment": true, "syncStatusReverse": true, "statusMapping": {"APP": ["10002"]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .api(
            Method::PUT,
            &format!("/integrations/{id}/organizations/o1"),
            Some(json!({"syncReverseAssignment": true, "statusMapping": {"APP": 5}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["fields"]["statusMapping"].is_string());
    let (status, body) = server
        .api(
            Method::PUT,
            &format!("/integrations/{id}/user-mappings/jdoe"),
            Some(json!({"user": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = server
        .api(
            Method::PUT,
            &format!("/integrations/{id}/user-mappings/jdoe"),
            Some(json!({"user": "u-bob"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Three deliveries; limit pages from the newest.
    let body = String::from_utf8(common::fixture("test_post_update_assignee.json")).expect("utf8");
    for n in 1..=3 {
        let b = body.replace("12345", &format!("1234{n}"));
        let (status, _) = server.webhook(&token, b.as_bytes()).await;
        assert_eq!(status, StatusCode::OK);
    }
    server
        .wait_delivery(&id, std::time::Duration::from_secs(5))
        .await;
    let (status, body) = server
        .api(
            Method::GET,
            &format!("/integrations/{id}/deliveries?limit=2"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["deliveries"].as_array().map(Vec::len), Some(2));
    let (status, _) = server
        .api(
            Method::GET,
            &format!("/integrations/{id}/deliveries?limit=0"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .api(Method::GET, "/integrations/404/deliveries", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
