//! The three-legged dance: request token (step 1), authorize URL (step 2), access token
//! (step 3).

use crate::fixtures::{OTHER_PRIVATE_KEY, PRIVATE_KEY_PKCS8};
use crate::scenario::{Scenario, consumer, consumer_with};
use crate::signature::{authorization, oauth_params};
use jira_client::{JiraError, TokenPair};

const REQUEST_TOKEN: &str = "/plugins/servlet/oauth/request-token";
const ACCESS_TOKEN: &str = "/plugins/servlet/oauth/access-token";

#[tokio::test]
async fn request_token_is_signed_by_the_consumer_and_parsed() {
    let jira = Scenario::start().await;
    jira.on("POST", REQUEST_TOKEN)
        .signed("sentry-bot", None)
        .text(
            200,
            "oauth_token=abc123&oauth_token_secret=secret&oauth_callback_confirmed=true",
        )
        .mount()
        .await;
    let setup = jira.setup(consumer("sentry-bot"));
    let token = setup.request_token(None).await.unwrap();
    assert_eq!(token.token, "abc123");
    assert_eq!(token.secret.expose(), "secret");
    assert_eq!(
        setup.authorize_url(&token.token),
        format!(
            "{}/plugins/servlet/oauth/authorize?oauth_token=abc123",
            jira.uri()
        )
    );
    let requests = jira.finish().await;
    let header = authorization(&requests[0]).unwrap();
    assert!(
        !header.contains("oauth_callback"),
        "Sentry sends no oauth_callback: {header}"
    );
    assert!(requests[0].body.is_empty());
}

#[tokio::test]
async fn pkcs8_keys_sign_the_same_way() {
    let jira = Scenario::start().await;
    jira.on("POST", REQUEST_TOKEN)
        .signed("sentry-bot", None)
        .text(200, "oauth_token=a&oauth_token_secret=b")
        .mount()
        .await;
    let setup = jira.setup(consumer_with("sentry-bot", PRIVATE_KEY_PKCS8));
    setup.request_token(None).await.unwrap();
    jira.finish().await;
}

#[tokio::test]
async fn a_signature_by_another_key_is_refused_by_the_matcher() {
    let jira = Scenario::start().await;
    jira.on("POST", REQUEST_TOKEN)
        .signed("sentry-bot", None)
        .text(200, "oauth_token=a&oauth_token_secret=b")
        .times(0)
        .mount()
        .await;
    let setup = jira.setup(consumer_with("sentry-bot", OTHER_PRIVATE_KEY));
    let err = setup.request_token(None).await.unwrap_err();
    assert_eq!(
        err.status(),
        Some(404),
        "wiremock answers 404 when no mock matches"
    );
    jira.finish().await;
}

#[tokio::test]
async fn request_token_with_callback_signs_oauth_callback() {
    let jira = Scenario::start().await;
    jira.on("POST", REQUEST_TOKEN)
        .signed("sentry-bot", None)
        .text(200, "oauth_token=a&oauth_token_secret=b")
        .mount()
        .await;
    let setup = jira.setup(consumer("sentry-bot"));
    setup
        .request_token(Some("http://127.0.0.1:8080/extensions/jira_server/setup/"))
        .await
        .unwrap();
    let requests = jira.finish().await;
    assert_eq!(
        oauth_params(&requests[0]).callback(),
        Some("http://127.0.0.1:8080/extensions/jira_server/setup/")
    );
}

#[tokio::test]
async fn access_token_is_signed_with_the_request_token_and_the_verifier() {
    let jira = Scenario::start().await;
    jira.on("POST", ACCESS_TOKEN)
        .and(crate::signature::signed("sentry-bot", Some("req-token")).with_verifier("v 1"))
        .text(
            200,
            "oauth_token=access-token&oauth_token_secret=access-token-secret",
        )
        .mount()
        .await;
    let setup = jira.setup(consumer("sentry-bot"));
    let request = TokenPair {
        token: "req-token".into(),
        secret: "req-secret".into(),
    };
    let access = setup.access_token(&request, "v 1").await.unwrap();
    assert_eq!(access.token, "access-token");
    assert_eq!(access.secret.expose(), "access-token-secret");
    let requests = jira.finish().await;
    assert_eq!(oauth_params(&requests[0]).verifier(), Some("v 1"));
}

#[tokio::test]
async fn an_oauth_problem_in_a_token_reply_is_reported() {
    let jira = Scenario::start().await;
    jira.on("POST", REQUEST_TOKEN)
        .text(
            200,
            "oauth_problem=consumer_key_unknown&oauth_problem_advice=add+an+application+link",
        )
        .mount()
        .await;
    let err = jira
        .setup(consumer("sentry-bot"))
        .request_token(None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Jira refused the OAuth request: oauth_problem=consumer_key_unknown (add an application link)"
    );
    assert!(matches!(err, JiraError::OAuthProblem { .. }));
    jira.finish().await;
}

#[tokio::test]
async fn an_empty_verifier_is_refused_before_any_call() {
    let jira = Scenario::start().await;
    let request = TokenPair {
        token: "req-token".into(),
        secret: "s".into(),
    };
    let err = jira
        .setup(consumer("sentry-bot"))
        .access_token(&request, "")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not sign the Jira request: Missing OAuth token verifier"
    );
    assert!(jira.finish().await.is_empty());
}
