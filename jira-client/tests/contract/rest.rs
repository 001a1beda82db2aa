//! REST calls with stored credentials: the signature, and the transport rules (one attempt,
//! no redirects, timeout, observer).

use std::time::Duration;

use jira_client::{CallOutcome, ClientOptions, JiraError};
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::fixtures::{SERVER_INFO_V9, SERVER_INFO_V10, sentry};
use crate::scenario::{Scenario, oauth};
use crate::signature::{assert_unique_nonces, authorization, oauth_params};

const SERVER_INFO: &str = "/rest/api/2/serverInfo";

// Sentry test_client.py::test_authorize_request
#[tokio::test]
async fn rest_calls_carry_the_rsa_sha1_oauth_header() {
    let jira = Scenario::start().await;
    jira.on("GET", SERVER_INFO)
        .signed("cnsmr-key", Some("acs-tkn"))
        .json_text(200, SERVER_INFO_V10)
        .mount()
        .await;
    let info = jira
        .client("cnsmr-key", "acs-tkn")
        .server_info()
        .await
        .unwrap();
    assert_eq!(info.major_version(), Some(10));
    let requests = jira.finish().await;
    let header = authorization(&requests[0]).unwrap();
    for expected in [
        r#"oauth_signature_method="RSA-SHA1""#,
        r#"oauth_consumer_key="cnsmr-key""#,
        r#"oauth_token="acs-tkn""#,
        "oauth_signature=",
    ] {
        assert!(
            header.contains(expected),
            "{expected} missing from {header}"
        );
    }
}

// Sentry test_oauth_retry.py::test_oauth_signature_uniqueness_across_requests
#[tokio::test]
async fn two_requests_carry_different_nonces() {
    let jira = Scenario::start().await;
    jira.on("GET", SERVER_INFO)
        .signed("cnsmr-key", Some("acs-tkn"))
        .json_text(200, SERVER_INFO_V9)
        .times(2)
        .mount()
        .await;
    let client = jira.client("cnsmr-key", "acs-tkn");
    client.server_info().await.unwrap();
    client.server_info().await.unwrap();
    let requests = jira.finish().await;
    assert_eq!(assert_unique_nonces(&[]), 0);
    let nonces: Vec<String> = requests
        .iter()
        .map(|r| oauth_params(r).nonce().unwrap().to_owned())
        .collect();
    assert_eq!(nonces.len(), 2);
    assert_ne!(nonces[0], nonces[1]);
}

// Sentry test_oauth_retry.py::test_jira_server_client_has_no_retries (behaviourally)
#[tokio::test]
async fn a_5xx_is_not_retried_and_is_transient() {
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/api/2/status")
        .json(
            503,
            &json!({"errorMessages": ["Jira is restarting"], "errors": {}}),
        )
        .mount()
        .await;
    let (client, counters) = jira.counted_client(oauth("ck", "at"), ClientOptions::default());
    let err = client.statuses().await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.jira_message(), Some("Jira is restarting"));
    assert_eq!(err.to_string(), "Jira answered 503: Jira is restarting");
    let JiraError::Status { error_messages, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(error_messages, &["Jira is restarting"]);
    assert_eq!(jira.finish().await.len(), 1);
    assert_eq!(
        counters.snapshot()[&("statuses", CallOutcome::Status(503))],
        1
    );
}

#[tokio::test]
async fn a_timeout_is_not_retried() {
    let jira = Scenario::start().await;
    jira.on("GET", SERVER_INFO)
        .reply(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .any_times()
        .mount()
        .await;
    let (client, counters) = jira.counted_client(
        oauth("ck", "at"),
        ClientOptions::default().with_timeout(Duration::from_millis(300)),
    );
    let err = client.server_info().await.unwrap_err();
    assert!(matches!(err, JiraError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(jira.finish().await.len(), 1);
    assert_eq!(
        counters.snapshot()[&("serverInfo", CallOutcome::Timeout)],
        1
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let jira = Scenario::start().await;
    jira.on("GET", SERVER_INFO)
        .reply(
            ResponseTemplate::new(302)
                .insert_header("location", "https://jira.example.com/rest/api/2/serverInfo"),
        )
        .mount()
        .await;
    let err = jira.client("ck", "at").server_info().await.unwrap_err();
    let JiraError::Redirect { status, location } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 302);
    assert_eq!(
        location.as_deref(),
        Some("https://jira.example.com/rest/api/2/serverInfo")
    );
    assert!(!err.is_transient());
    assert_eq!(jira.finish().await.len(), 1);
}

#[tokio::test]
async fn unreachable_host_is_transient() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client =
        jira_client::JiraClient::new(&format!("http://127.0.0.1:{port}"), true, oauth("ck", "at"))
            .unwrap();
    let err = client.server_info().await.unwrap_err();
    assert!(matches!(err, JiraError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("Unable to reach host: 127.0.0.1:{port}"))
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn statuses_map_ids_to_category_keys() {
    let Some(statuses) = sentry("status_response.json") else {
        return;
    };
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/api/2/status")
        .signed("ck", Some("at"))
        .json_text(200, &statuses)
        .mount()
        .await;
    let statuses = jira.client("ck", "at").statuses().await.unwrap();
    let pairs: Vec<(&str, Option<&str>)> = statuses
        .iter()
        .map(|s| (s.id.as_str(), s.category_key.as_deref()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("3", Some("indeterminate")),
            ("10000", Some("new")),
            ("10001", Some("indeterminate")),
            ("10002", Some("done")),
        ]
    );
    jira.finish().await;
}
