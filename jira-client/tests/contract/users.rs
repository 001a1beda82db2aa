//! `myself` and user look-ups.

use serde_json::json;
use wiremock::matchers::{header, query_param};

use crate::fixtures::sentry;
use crate::scenario::Scenario;
use crate::signature::authorization;

#[tokio::test]
async fn user_lookup_by_username_signs_the_query() {
    let Some(user) = sentry("jira_server_user.json") else {
        return;
    };
    let jira = Scenario::start().await;
    // An odd username: '@', space and '+' must be encoded identically in the URL and the
    // signature base string, or the matcher would not match.
    jira.on("GET", "/rest/api/2/user")
        .and(query_param("username", "bob smith+1@example.org"))
        .signed("ck", Some("at"))
        .json_text(200, &user)
        .mount()
        .await;
    let user = jira
        .client("ck", "at")
        .user_by_username("bob smith+1@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.name.as_deref(), Some("bob"));
    assert_eq!(user.display_name.as_deref(), Some("Bobby"));
    assert_eq!(user.email(), Some("bob@example.org"));
    let requests = jira.finish().await;
    assert_eq!(
        requests[0].url.query(),
        Some("username=bob%20smith%2B1%40example.org")
    );
}

#[tokio::test]
async fn user_lookup_by_key_and_unknown_user() {
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/api/2/user")
        .and(query_param("key", "JIRAUSER10100"))
        .signed("ck", Some("at"))
        .json(
            200,
            &json!({"name": "carol", "key": "JIRAUSER10100", "displayName": "Carol"}),
        )
        .mount()
        .await;
    jira.on("GET", "/rest/api/2/user")
        .and(query_param("username", "ghost"))
        .json(
            404,
            &json!({"errorMessages": ["The user named 'ghost' does not exist"], "errors": {}}),
        )
        .mount()
        .await;
    let client = jira.client("ck", "at");
    let carol = client.user_by_key("JIRAUSER10100").await.unwrap().unwrap();
    assert_eq!(carol.name.as_deref(), Some("carol"));
    assert_eq!(carol.email(), None, "hidden e-mail");
    assert_eq!(client.user_by_username("ghost").await.unwrap(), None);
    jira.finish().await;
}

#[tokio::test]
async fn myself_with_a_personal_access_token_carries_bearer_and_no_oauth() {
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/api/2/myself")
        .and(header("authorization", "Bearer pat-secret"))
        .json(200, &json!({"name": "admin", "key": "JIRAUSER10000"}))
        .mount()
        .await;
    let client = jira_client::JiraClient::new(
        &format!("{}/", jira.uri()),
        true,
        jira_client::Auth::personal_access_token("pat-secret"),
    )
    .unwrap();
    let me = client.myself().await.unwrap();
    assert_eq!(me.key.as_deref(), Some("JIRAUSER10000"));
    assert!(!format!("{client:?}").contains("pat-secret"));
    let requests = jira.finish().await;
    assert_eq!(
        authorization(&requests[0]).as_deref(),
        Some("Bearer pat-secret")
    );
}
