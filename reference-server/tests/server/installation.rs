//! Sentry's `JiraServerApiPipelineTest` (and the legacy-view cases that apply) ported to the
//! running server's install API, against a wiremock Jira; plus PAT install, the browser
//! callback, delete and reinstall.

use crate::common;

use crate::common::{MockJira, TestServer, fixture, installed};
use crate::support_jira::on;
use http::{Method, StatusCode};
use reference_server::jira::webhook_token;
use reference_server::storage::Integrations as _;
use serde_json::{Value, json};
use wiremock::matchers::header_regex;
use wiremock::{MockServer, ResponseTemplate};

fn private_key() -> String {
    String::from_utf8(fixture("sentry-jira-pkcs1.pem")).expect("utf8")
}

fn install_body(url: &str, consumer_key: &str) -> Value {
    json!({"url": url, "consumerKey": consumer_key, "privateKey": private_key(), "verifySsl": false})
}

/// A Jira with the OAuth servlets, serverInfo `major` and the webhook resource.
async fn oauth_jira(major: u64) -> MockJira {
    let jira = MockJira::start(major).await;
    on("POST", "/plugins/servlet/oauth/request-token")
        .reply(
            ResponseTemplate::new(200)
                .set_body_string("oauth_token=req-token&oauth_token_secret=req-secret"),
        )
        .mount(&jira.server)
        .await;
    on("POST", "/plugins/servlet/oauth/access-token")
        .and(header_regex(
            "authorization",
            r#"oauth_verifier="callback-token""#,
        ))
        .reply(
            ResponseTemplate::new(200)
                .set_body_string("oauth_token=access-token&oauth_token_secret=access-secret"),
        )
        .mount(&jira.server)
        .await;
    jira
}

async fn integrations(server: &TestServer) -> Vec<Value> {
    let (status, body) = server.api(Method::GET, "/integrations", None).await;
    assert_eq!(status, StatusCode::OK);
    body["integrations"].as_array().expect("list").clone()
}

#[tokio::test]
async fn test_config_step_validation_missing_required_fields() {
    let server = TestServer::start().await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(json!({"url": "https://jira.example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["fields"]["consumerKey"],
        "This field is required."
    );
    assert_eq!(
        body["error"]["fields"]["privateKey"],
        "This field is required."
    );
}

#[tokio::test]
async fn test_config_step_validation_invalid_fields() {
    let server = TestServer::start().await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(json!({"url": "jira.example.com/", "consumerKey": "k".repeat(201), "privateKey": "hot-garbage"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let fields = &body["error"]["fields"];
    assert_eq!(fields["url"], "Enter a valid URL.");
    assert!(
        fields["consumerKey"]
            .as_str()
            .expect("msg")
            .contains("200 characters")
    );
    assert!(
        fields["privateKey"]
            .as_str()
            .expect("msg")
            .contains("PEM format")
    );
}

#[tokio::test]
async fn test_full_pipeline_flow_and_webhook_on_jira_9() {
    let server = TestServer::start().await;
    let jira = oauth_jira(9).await;
    // test_config_step_strips_trailing_slash: the URL ends with `//`.
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&format!("{}//", jira.uri()), "sentry-bot")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["step"], "oauth_callback");
    assert_eq!(
        body["oauthUrl"],
        format!(
            "{}/plugins/servlet/oauth/authorize?oauth_token=req-token",
            jira.uri()
        )
    );
    let pipeline = body["pipeline"].as_str().expect("pipeline").to_owned();

    // test_oauth_step_validation_missing_token
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["fields"]["oauthToken"], "Missing oauth_token");

    // test_oauth_step_passes_callback_token_as_verifier (the mock only answers with it).
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": "callback-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let host = jira.uri().trim_start_matches("http://").to_owned();
    let integration = &body["integration"];
    assert_eq!(integration["externalId"], format!("{host}:sentry-bot"));
    assert_eq!(integration["name"], "sentry-bot");
    assert_eq!(integration["baseUrl"], jira.uri());
    assert_eq!(integration["verifySsl"], false);
    // Secrets never come back.
    let text = body.to_string();
    assert!(!text.contains("access-secret") && !text.contains("PRIVATE KEY"));

    // test_setup_create_webhook: POST /rest/webhooks/1.0/webhook, JWT peeks to the external id.
    assert_eq!(jira.count("POST", "/rest/webhooks/1.0/webhook").await, 1);
    let url = jira.registered_webhook_url().await;
    assert!(
        url.starts_with(&format!(
            "http://{}/extensions/jira-server/issue-updated/",
            server.addr
        )),
        "{url}"
    );
    let token = url.trim_end_matches('/').rsplit('/').next().expect("token");
    assert_eq!(
        webhook_token::peek_id(token).expect("jwt"),
        format!("{host}:sentry-bot")
    );
    let reqs = jira.server.received_requests().await.expect("recorded");
    let create = reqs
        .iter()
        .find(|r| r.url.path() == "/rest/webhooks/1.0/webhook")
        .expect("create");
    let create_body: Value = serde_json::from_slice(&create.body).expect("json");
    assert_eq!(
        create_body["events"],
        json!(["jira:issue_created", "jira:issue_updated"])
    );

    // The pipeline is consumed.
    let (status, _) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": "callback-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(integrations(&server).await.len(), 1);
}

#[tokio::test]
async fn test_setup_create_webhook_with_new_endpoint_on_jira_10() {
    let server = TestServer::start().await;
    let jira = oauth_jira(10).await;
    let (_, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), "sentry-bot")),
        )
        .await;
    let pipeline = body["pipeline"].as_str().expect("pipeline").to_owned();
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": "callback-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        jira.count("POST", "/rest/jira-webhook/1.0/webhooks").await,
        1
    );
    assert_eq!(jira.count("POST", "/rest/webhooks/1.0/webhook").await, 0);
}

#[tokio::test]
async fn test_full_pipeline_truncates_external_id() {
    let server = TestServer::start().await;
    let jira = oauth_jira(9).await;
    let key = "a-very-long-consumer-key-that-when-combined-with-the-host-is-longer";
    let (_, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), key)),
        )
        .await;
    let pipeline = body["pipeline"].as_str().expect("pipeline").to_owned();
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": "callback-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let external = body["integration"]["externalId"].as_str().expect("id");
    assert_eq!(external.chars().count(), 64);
}

#[tokio::test]
async fn test_config_step_request_token_fails_and_missing_oauth_token() {
    let server = TestServer::start().await;
    let jira = MockServer::start().await;
    on("POST", "/plugins/servlet/oauth/request-token")
        .reply(ResponseTemplate::new(503))
        .mount(&jira)
        .await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), "sentry-bot")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("request token from Jira")
    );

    jira.reset().await;
    on("POST", "/plugins/servlet/oauth/request-token")
        .reply(ResponseTemplate::new(200).set_body_string("oauth_token=req-token"))
        .mount(&jira)
        .await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), "sentry-bot")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["message"], "Missing oauth_token");
}

/// The URL of a port nobody listens on.
fn unreachable_url() -> String {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", closed.local_addr().expect("addr"))
}

#[tokio::test]
async fn test_config_step_request_token_timeout_when_jira_is_unreachable() {
    let server = TestServer::start().await;
    let url = unreachable_url();
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&url, "sentry-bot")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("request token from Jira")
    );
}

/// A personal-access-token install against a Jira that cannot be reached says so (not that the
/// token was rejected) and what to check.
#[tokio::test]
async fn pat_install_against_an_unreachable_jira_names_the_cause_and_the_fix() {
    let server = TestServer::start().await;
    let url = unreachable_url();
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install-pat",
            Some(json!({"url": url, "token": "pat-secret", "verifySsl": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "jira_unreachable", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.starts_with(
            "Could not verify the personal access token with Jira. Unable to reach host: 127.0.0.1:"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("Check that Jira is up and reachable from this host (DNS, firewall, proxy, TLS), then try again."),
        "{message}"
    );
    assert!(!message.contains("pat-secret"), "{message}");
}

#[tokio::test]
async fn test_oauth_step_access_token_failure_keeps_pipeline() {
    let server = TestServer::start().await;
    let jira = MockJira::start(9).await;
    on("POST", "/plugins/servlet/oauth/request-token")
        .reply(
            ResponseTemplate::new(200)
                .set_body_string("oauth_token=req-token&oauth_token_secret=s"),
        )
        .mount(&jira.server)
        .await;
    on("POST", "/plugins/servlet/oauth/access-token")
        .reply(ResponseTemplate::new(404).set_body_string("oauth_error=token+expired"))
        .mount(&jira.server)
        .await;
    let (_, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), "sentry-bot")),
        )
        .await;
    let pipeline = body["pipeline"].as_str().expect("pipeline").to_owned();
    let (status, body) = server
        .api(
            Method::POST,
            &format!("/integrations/jira-server/install/{pipeline}/callback"),
            Some(json!({"oauthToken": "callback-token"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("access token from Jira")
    );
    assert!(integrations(&server).await.is_empty());
    assert!(
        server
            .state()
            .storage
            .pipeline(&pipeline)
            .await
            .expect("store")
            .is_some()
    );
}

#[tokio::test]
async fn test_full_pipeline_webhook_failure_forbidden_persists_nothing() {
    let server = TestServer::start().await;
    let jira = MockServer::start().await;
    on("GET", "/rest/api/2/serverInfo")
        .reply(
            ResponseTemplate::new(200)
                .set_body_json(json!({"version": "9.9.9", "versionNumbers": [9, 9, 9]})),
        )
        .mount(&jira)
        .await;
    on("GET", "/rest/api/2/myself")
        .reply(ResponseTemplate::new(200).set_body_json(json!({"name": "admin"})))
        .mount(&jira)
        .await;
    on("POST", "/rest/webhooks/1.0/webhook")
        .reply(ResponseTemplate::new(403).set_body_raw(
            fixture("test_setup_create_webhook_failure_forbidden.json"),
            "application/json",
        ))
        .mount(&jira)
        .await;
    let (status, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install-pat",
            Some(json!({"url": jira.uri(), "token": "pat", "verifySsl": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let msg = body["error"]["message"].as_str().expect("msg");
    assert!(
        msg.starts_with("Could not create issue webhook in Jira."),
        "{msg}"
    );
    assert!(
        msg.contains("You do not have permission to create"),
        "{msg}"
    );
    assert!(integrations(&server).await.is_empty());
}

#[tokio::test]
async fn browser_callback_completes_the_pipeline() {
    let server = TestServer::start().await;
    let jira = oauth_jira(9).await;
    let (_, body) = server
        .api(
            Method::POST,
            "/integrations/jira-server/install",
            Some(install_body(&jira.uri(), "sentry-bot")),
        )
        .await;
    assert!(body["pipeline"].is_string());
    // Without oauth_token: a page that says so, not a 500 (Sentry §8.1 #14).
    let (status, page) = common::http(
        server.addr,
        Method::GET,
        "/extensions/jira_server/setup/",
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&page).contains("Missing oauth_token"));
    // Jira redirects with the request token and the verifier.
    let (status, page) = common::http(
        server.addr,
        Method::GET,
        "/extensions/jira_server/setup/?oauth_token=req-token&oauth_verifier=callback-token",
        &[],
        Vec::new(),
    )
    .await;
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Jira Server connected"), "{page}");
    assert_eq!(integrations(&server).await.len(), 1);
}

#[tokio::test]
async fn pat_install_get_delete_and_reinstall_keep_one_webhook() {
    let (server, jira, id, _token) = installed().await;
    let (status, body) = server
        .api(Method::GET, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let host = jira.uri().trim_start_matches("http://").to_owned();
    assert_eq!(
        body,
        json!({"integration": {"id": id, "externalId": format!("{host}:pat:admin"), "name": format!("admin@{host}"), "baseUrl": jira.uri(), "verifySsl": true}})
    );
    assert!(!body.to_string().contains("pat-secret"));

    // Reinstall: same integration id, the previous webhook deleted.
    let (id2, _token2) = common::install_pat(&server, &jira).await;
    assert_eq!(id2, id);
    assert_eq!(jira.count("POST", "/rest/webhooks/1.0/webhook").await, 2);
    assert_eq!(
        jira.count("DELETE", "/rest/webhooks/1.0/webhook/77").await,
        1
    );
    assert_eq!(integrations(&server).await.len(), 1);

    // Delete: the webhook goes too.
    let (status, body) = server
        .api(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jiraWebhook"]["result"], "deleted");
    assert_eq!(
        jira.count("DELETE", "/rest/webhooks/1.0/webhook/77").await,
        2
    );
    let (status, body) = server
        .api(Method::GET, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(integrations(&server).await.is_empty());
}
