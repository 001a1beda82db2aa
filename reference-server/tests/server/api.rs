//! Admin API: authentication, JSON errors, tracker data shapes, links, settings, delivery log
//! paging, health and metrics.

use crate::common;

use std::fmt::Write as _;

use crate::common::{ADMIN, TestServer, http, installed_and_seeded};
use http::{Method, StatusCode};
use reference_server::storage::Tracker as _;
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
    // A PUT replaces the user: no name, an empty body or an array is refused, and the stored
    // user stays as it was (issue 20, item 28).
    for bad in [
        json!({}),
        json!([]),
        json!({"name": " "}),
        json!({"emails": []}),
    ] {
        let (status, body) = server
            .api(Method::PUT, "/users/u%40bob", Some(bad.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = http(
        server.addr,
        Method::PUT,
        "/api/v1/users/u%40bob",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an empty body");
    let (_, body) = server.api(Method::GET, "/users/u%40bob", None).await;
    assert_eq!(body["name"], "Bob", "{body}");
    assert_eq!(body["emails"][0]["email"], "bob@example.org", "{body}");
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
    let (server, _jira, id, token) = installed_and_seeded("APP-1").await;

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

/// `POST /api/v1/import/links` with a raw body.
async fn import(server: &TestServer, body: String) -> (StatusCode, Value) {
    let auth = format!("Bearer {ADMIN}");
    let (status, bytes) = http(
        server.addr,
        Method::POST,
        "/api/v1/import/links",
        &[
            ("authorization", &auth),
            ("content-type", "application/x-ndjson"),
        ],
        body.into_bytes(),
    )
    .await;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

fn ndjson(items: &[Value]) -> String {
    let mut out = String::new();
    for i in items {
        out.push_str(&i.to_string());
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn bulk_import_creates_groups_and_links_that_then_work() {
    let (server, _jira, id, token) = installed_and_seeded("APP-1").await; // project p1 (bob is a member), group g1 linked to APP-1
    let body = ndjson(&[
        json!({"group": "g2", "project": "p1", "integration": id, "issueKey": "APP-2"}),
        json!({"group": "g3", "project": "p1", "integration": id, "issueKey": "APP-3"}),
        // An existing group without a project; then an existing link.
        json!({"group": "g1", "integration": id, "issueKey": "APP-4"}),
        json!({"group": "g1", "project": "p1", "integration": id, "issueKey": "APP-1"}),
        // A group created by an earlier item may leave the project out.
        json!({"group": "g2", "integration": id, "issueKey": "APP-5"}),
    ]);
    let (status, answer) = import(&server, format!("\n{body}\r\n")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"items": 5, "groups": {"created": 2, "moved": 0, "unchanged": 1},
               "links": {"created": 4, "existing": 1}})
    );
    let (status, g2) = server.api(Method::GET, "/groups/g2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        g2,
        json!({"id": "g2", "project": "p1", "status": "unresolved", "assignee": null})
    );
    let store = &server.state().storage;
    for key in ["APP-1", "APP-2", "APP-3", "APP-4", "APP-5"] {
        assert!(store.has_links(&id, key).await.expect("store"), "{key}");
    }
    assert_eq!(
        store.linked_groups(&id, "APP-4").await.expect("store"),
        vec!["g1"]
    );
    // The same import again changes nothing.
    let (status, again) = import(&server, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        again,
        json!({"items": 5, "groups": {"created": 0, "moved": 0, "unchanged": 3},
               "links": {"created": 0, "existing": 5}})
    );
    // An imported link can be deleted like a single one.
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/groups/g3/external-issues/{id}/APP-3"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // A webhook on an imported key is stored and applied: bob becomes g2's assignee.
    let delivery = String::from_utf8(common::fixture("test_post_update_assignee.json"))
        .expect("utf8")
        .replace("\"APP-1\"", "\"APP-2\"");
    let (status, _) = server.webhook(&token, delivery.as_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g2", std::time::Duration::from_secs(5), |g| {
            g["assignee"] == "u-bob"
        })
        .await;
    let metrics = server.state().metrics.render();
    assert!(
        metrics.contains("reference_server_webhooks_received_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bulk_import_with_a_bad_item_writes_nothing() {
    let (server, _jira, id, _token) = installed_and_seeded("APP-1").await;
    let good = json!({"group": "new", "project": "p1", "integration": id, "issueKey": "NEW-1"});

    // Shape errors: named by item index (blank lines are not items) and field.
    let body = format!(
        "{good}\n\n{}\n{}\nnot json\n",
        json!({"group": "", "project": "p1", "integration": id, "issueKey": "NEW-2"}),
        json!({"group": "x", "integration": id, "issue_key": "NEW-3"}),
    );
    let (status, answer) = import(&server, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let fields = &answer["error"]["fields"];
    assert!(fields["items[1].group"].is_string(), "{answer}");
    assert!(
        fields["items[2].item"]
            .as_str()
            .is_some_and(|m| m.contains("issue_key")),
        "{answer}"
    );
    assert!(fields["items[3].item"].is_string(), "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("3 item(s) are invalid; nothing was written. First: item 1 (line 3)"),
        "{message}"
    );

    // Reference errors: unknown integration, unknown project, unknown group without project.
    let body = ndjson(&[
        good.clone(),
        json!({"group": "new", "project": "p1", "integration": "999", "issueKey": "NEW-2"}),
        json!({"group": "new2", "project": "nope", "integration": id, "issueKey": "NEW-3"}),
        json!({"group": "ghost", "integration": id, "issueKey": "NEW-4"}),
    ]);
    let (status, answer) = import(&server, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let fields = &answer["error"]["fields"];
    assert_eq!(fields["items[1].integration"], "No integration `999`.");
    assert!(fields["items[2].project"].is_string(), "{answer}");
    assert!(fields["items[3].group"].is_string(), "{answer}");
    assert_eq!(fields.as_object().map(serde_json::Map::len), Some(3));

    // A JSON array is refused with a hint.
    let (status, answer) = import(&server, json!([good]).to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("NDJSON"))
    );

    // Nothing of the good item was written.
    let (status, _) = server.api(Method::GET, "/groups/new", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !server
            .state()
            .storage
            .has_links(&id, "NEW-1")
            .await
            .expect("store")
    );
}

#[tokio::test]
async fn bulk_import_may_exceed_the_body_limit() {
    let (server, _jira, id, _token) = installed_and_seeded("APP-1").await;
    // About 1.3 MB, above the 1 MiB --body-limit of the other calls.
    let n = 12_000;
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({"group": format!("bulk-group-{i:08}"), "project": "p1", "integration": id,
                   "issueKey": format!("BULK-{i}")})
        })
        .collect();
    let body = ndjson(&items);
    assert!(body.len() > reference_server::config::DEFAULT_BODY_LIMIT);
    let (status, answer) = import(&server, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["links"]["created"], n);
    assert!(
        server
            .state()
            .storage
            .has_links(&id, "BULK-11999")
            .await
            .expect("store")
    );
}

#[tokio::test]
async fn bulk_import_of_more_than_100_000_items_is_refused_whole() {
    let (server, _jira, id, _token) = installed_and_seeded("APP-1").await;
    let max = reference_server::api::import::IMPORT_MAX_ITEMS;
    let mut body = String::new();
    for i in 0..=max {
        let _ = writeln!(
            body,
            "{{\"group\":\"g{i}\",\"project\":\"p1\",\"integration\":\"{id}\",\"issueKey\":\"BIG-{i}\"}}"
        );
    }
    let (status, answer) = import(&server, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "payload_too_large", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("100000") && m.contains("Nothing was written")),
        "{answer}"
    );
    let store = &server.state().storage;
    assert!(!store.has_links(&id, "BIG-0").await.expect("store"));
    assert!(store.group("g0").await.expect("store").is_none());
}

/// The answer to a raw HTTP/1.1 request with `Connection: close`, as text (head and body).
async fn raw_answer(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (answer, closed) = common::raw(
        addr,
        request.as_bytes(),
        false,
        std::time::Duration::from_secs(10),
    )
    .await;
    assert!(closed, "the server closes after answering: {answer}");
    answer
}

/// A known path with a method it does not answer is 405 with `Allow` naming the methods it
/// does; an unknown path stays 404.
#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let server = TestServer::start().await;
    for (method, path, allow) in [
        ("PATCH", "/api/v1/users/u1", "GET, PUT"),
        ("POST", "/api/v1/integrations", "GET"),
        ("PUT", "/api/v1/integrations/1", "GET, DELETE"),
        ("GET", "/api/v1/import/links", "POST"),
        (
            "GET",
            "/api/v1/integrations/jira-server/install-pat",
            "POST",
        ),
        (
            "POST",
            "/api/v1/groups/g1/external-issues/1/APP-1",
            "PUT, DELETE",
        ),
        ("POST", "/healthz", "GET"),
        (
            "GET",
            "/extensions/jira-server/issue-updated/token/",
            "POST",
        ),
    ] {
        let answer = raw_answer(server.addr, method, path).await;
        assert!(
            answer.starts_with("HTTP/1.1 405 "),
            "{method} {path}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains(&format!("\r\nallow: {}\r\n", allow.to_ascii_lowercase())),
            "{method} {path}: {answer}"
        );
        assert!(answer.contains("\"method_not_allowed\""), "{answer}");
    }
    let answer = raw_answer(server.addr, "GET", "/api/v1/nothing/here").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
}
