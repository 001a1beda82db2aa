//! Webhook create, list and delete on both resources.

use jira_client::{WebhookApi, WebhookDeletion, WebhookRef, WebhookSpec};
use serde_json::json;
use wiremock::matchers::body_json;

use crate::fixtures::{SERVER_INFO_V9, SERVER_INFO_V10};
use crate::scenario::Scenario;

#[tokio::test]
async fn delete_webhook_on_both_resources() {
    let jira = Scenario::start().await;
    jira.on("DELETE", "/rest/webhooks/1.0/webhook/12")
        .signed("ck", Some("at"))
        .text(204, "")
        .mount()
        .await;
    jira.on("DELETE", "/rest/jira-webhook/1.0/webhooks/7")
        .signed("ck", Some("at"))
        .json(404, &json!({"errorMessages": ["gone"]}))
        .mount()
        .await;
    // A 404 is "already gone" only once serverInfo confirms this Jira still uses that resource.
    jira.on("GET", "/rest/api/2/serverInfo")
        .signed("ck", Some("at"))
        .json_text(200, SERVER_INFO_V10)
        .mount()
        .await;
    let client = jira.client("ck", "at");
    let v9: WebhookRef =
        serde_json::from_value(json!({"api": "webhooks1", "id": "12", "url": "http://x/"}))
            .unwrap();
    let v10: WebhookRef =
        serde_json::from_value(json!({"api": "jiraWebhook1", "id": "7", "url": "http://x/"}))
            .unwrap();
    assert_eq!(
        client.delete_webhook(&v9).await.unwrap(),
        WebhookDeletion::Deleted
    );
    assert_eq!(
        client.delete_webhook(&v10).await.unwrap(),
        WebhookDeletion::AlreadyGone
    );
    jira.finish().await;
}

#[tokio::test]
async fn delete_webhook_without_id_finds_it_by_url() {
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/webhooks/1.0/webhook")
        .signed("ck", Some("at"))
        .json(200, &json!([
            {"self": format!("{}/rest/webhooks/1.0/webhook/3", jira.uri()), "url": "http://other/"},
            {"self": format!("{}/rest/webhooks/1.0/webhook/4", jira.uri()), "url": "http://mine/t/"},
        ]))
        .mount()
        .await;
    jira.on("DELETE", "/rest/webhooks/1.0/webhook/4")
        .signed("ck", Some("at"))
        .text(204, "")
        .mount()
        .await;
    let hook: WebhookRef =
        serde_json::from_value(json!({"api": "webhooks1", "id": null, "url": "http://mine/t/"}))
            .unwrap();
    assert_eq!(
        jira.client("ck", "at").delete_webhook(&hook).await.unwrap(),
        WebhookDeletion::Deleted
    );
    jira.finish().await;
}

/// Issue 20 item 16: the webhook was created on Jira 9 (`/rest/webhooks/1.0`), Jira was then
/// upgraded to 10, where that path answers 404: the webhook is found by its URL at
/// `/rest/jira-webhook/1.0` and deleted there, not taken as already gone.
#[tokio::test]
async fn delete_webhook_after_an_upgrade_to_jira_10_uses_the_new_resource() {
    let jira = Scenario::start().await;
    jira.on("DELETE", "/rest/webhooks/1.0/webhook/12")
        .signed("ck", Some("at"))
        .text(404, "")
        .mount()
        .await;
    jira.on("GET", "/rest/api/2/serverInfo")
        .signed("ck", Some("at"))
        .json_text(200, SERVER_INFO_V10)
        .mount()
        .await;
    jira.on("GET", "/rest/jira-webhook/1.0/webhooks")
        .signed("ck", Some("at"))
        .json(
            200,
            &json!([{"id": 3, "url": "http://other/"}, {"id": 5, "url": "http://mine/t/"}]),
        )
        .mount()
        .await;
    jira.on("DELETE", "/rest/jira-webhook/1.0/webhooks/5")
        .signed("ck", Some("at"))
        .text(204, "")
        .mount()
        .await;
    let hook: WebhookRef =
        serde_json::from_value(json!({"api": "webhooks1", "id": "12", "url": "http://mine/t/"}))
            .unwrap();
    assert_eq!(
        jira.client("ck", "at").delete_webhook(&hook).await.unwrap(),
        WebhookDeletion::Deleted
    );
    jira.finish().await;
}

/// A 404 followed by a failing `serverInfo` is an error, not "already gone"; a 404 on a Jira
/// that still uses the recorded resource is "already gone".
#[tokio::test]
async fn delete_webhook_404_is_gone_only_when_server_info_confirms_it() {
    let hook: WebhookRef =
        serde_json::from_value(json!({"api": "webhooks1", "id": "12", "url": "http://mine/t/"}))
            .unwrap();
    for (server_info, gone) in [(None, false), (Some(SERVER_INFO_V9), true)] {
        let jira = Scenario::start().await;
        jira.on("DELETE", "/rest/webhooks/1.0/webhook/12")
            .signed("ck", Some("at"))
            .text(404, "")
            .mount()
            .await;
        let stub = jira
            .on("GET", "/rest/api/2/serverInfo")
            .signed("ck", Some("at"));
        match server_info {
            Some(info) => stub.json_text(200, info).mount().await,
            None => stub.text(503, "down for maintenance").mount().await,
        }
        let result = jira.client("ck", "at").delete_webhook(&hook).await;
        if gone {
            assert_eq!(result.unwrap(), WebhookDeletion::AlreadyGone);
        } else {
            let err = result.unwrap_err();
            assert_eq!(err.status(), Some(503), "{err}");
        }
        jira.finish().await;
    }
}

#[tokio::test]
async fn create_webhook_sends_name_url_and_events() {
    let jira = Scenario::start().await;
    jira.on("POST", "/rest/jira-webhook/1.0/webhooks")
        .and(body_json(json!({
            "name": "Issue Sync (reference-server)",
            "url": "https://sync.example.com/extensions/jira-server/issue-updated/tok/",
            "events": ["jira:issue_created", "jira:issue_updated"],
        })))
        .signed("ck", Some("at"))
        .json(201, &json!({"id": 99}))
        .mount()
        .await;
    let hook = jira
        .client("ck", "at")
        .create_webhook(
            WebhookApi::JiraWebhook1,
            &WebhookSpec::new("https://sync.example.com/extensions/jira-server/issue-updated/tok/"),
        )
        .await
        .unwrap();
    assert_eq!(hook.id.as_deref(), Some("99"));
    jira.finish().await;
}

#[tokio::test]
async fn register_webhook_picks_the_resource_from_server_info() {
    let jira = Scenario::start().await;
    jira.on("GET", "/rest/api/2/serverInfo")
        .signed("ck", Some("at"))
        .json_text(200, crate::fixtures::SERVER_INFO_V9)
        .mount()
        .await;
    jira.on("POST", "/rest/webhooks/1.0/webhook")
        .signed("ck", Some("at"))
        .json(
            201,
            &json!({"self": format!("{}/rest/webhooks/1.0/webhook/12", jira.uri())}),
        )
        .mount()
        .await;
    let (info, hook) = jira
        .client("ck", "at")
        .register_webhook(&WebhookSpec::new("https://sync.example.com/t/"))
        .await
        .unwrap();
    assert_eq!(info.major_version(), Some(9));
    assert_eq!(hook.api, WebhookApi::Webhooks1);
    assert_eq!(hook.id.as_deref(), Some("12"));
    jira.finish().await;
}
