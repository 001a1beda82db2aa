//! Install pipeline endpoints: OAuth 1.0a (start, API callback, browser callback) and personal
//! access token. The Jira side is `crate::jira::install`; this module stores pipelines and
//! integrations.

use std::collections::BTreeMap;

use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::parse_json;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::{self, Resp, escape_html};
use crate::integration_jira::options;
use crate::jira::install::{self, InstallError, InstallRequest, Installed, PatInstallRequest};
use crate::storage::records::{IntegrationRecord, IntegrationView, PipelineRecord};
use crate::storage::{Integrations as _, StorageBackend as _};

/// Pipelines older than this are refused.
const PIPELINE_TTL_SECS: i64 = 3600;

fn install_error(e: &InstallError) -> ApiError {
    let status = if e.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut err = ApiError::new(status, e.code(), e.to_string());
    if let Some(fields) = e.fields() {
        err.fields = fields
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.join(" ")))
            .collect::<BTreeMap<_, _>>();
    }
    tracing::info!(code = e.code(), error = %e, "install step failed");
    err
}

fn now_unix() -> i64 {
    crate::time::now_ms() / 1000
}

/// `POST /integrations/jira-server/install` `{"url","consumerKey","privateKey","verifySsl"}`.
pub async fn start(state: &AppState, body: &[u8]) -> Result<Resp, ApiError> {
    let req: InstallRequest = parse_json(body)?;
    // Abandoned pipelines hold secrets (the private key): drop the expired ones.
    let purged = state
        .storage
        .purge_pipelines(now_unix() - PIPELINE_TTL_SECS)
        .await?;
    if purged > 0 {
        tracing::info!(purged, "expired install pipelines deleted");
    }
    let callback = format!("{}/extensions/jira_server/setup/", state.public_url);
    // The external id is known from the form: refuse a second Jira on the same host before
    // Jira is asked anything (checked again when the install is saved).
    if let Ok(valid) = install::validate(&req) {
        let external_id = install::external_id(&valid.host, &valid.consumer.consumer_key);
        if let Some(existing) = state.storage.integration_by_external(&external_id).await? {
            check_same_jira(&existing, &valid.base_url)?;
        }
    }
    let pending = install::start_oauth(&req, &options(state), Some(&callback))
        .await
        .map_err(|e| install_error(&e))?;
    let id = crate::secret::Secret::generate()
        .map_err(|e| ApiError::internal("could not generate a pipeline id", &e))?;
    let rec = PipelineRecord {
        id: id.expose().to_owned(),
        oauth_token: pending.oauth_token().to_owned(),
        created_unix: now_unix(),
        state: pending,
    };
    state.storage.put_pipeline(&rec).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "pipeline": rec.id,
            "step": "oauth_callback",
            "oauthUrl": rec.state.authorize_url,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallbackBody {
    #[serde(default)]
    oauth_token: Option<String>,
}

/// `POST /integrations/jira-server/install/{pipeline}/callback` `{"oauthToken"}`.
pub async fn callback(state: &AppState, pipeline: &str, body: &[u8]) -> Result<Resp, ApiError> {
    let b: CallbackBody = parse_json(body)?;
    let Some(verifier) = b.oauth_token.filter(|t| !t.trim().is_empty()) else {
        return Err(ApiError::field("oauthToken", "Missing oauth_token"));
    };
    let view = complete(state, pipeline, &verifier).await?;
    Ok(response::json(StatusCode::CREATED, &installed_body(&view)))
}

/// Completes a pipeline: access token, webhook, persist. The pipeline is consumed on success
/// and kept on failure (so the user can retry).
async fn complete(state: &AppState, pipeline: &str, verifier: &str) -> Result<Persisted, ApiError> {
    let Some(rec) = state.storage.take_pipeline(pipeline).await? else {
        return Err(ApiError::not_found(
            "No such install pipeline (unknown, already completed or expired); start the install again.",
        ));
    };
    if now_unix() - rec.created_unix > PIPELINE_TTL_SECS {
        return Err(ApiError::bad_request(
            "This install pipeline has expired; start the install again.",
        ));
    }
    // One install of a Jira host at a time, from the webhook's creation to the save.
    let _lock = state.install_locks.lock(&rec.state.host).await;
    match install::complete_oauth(&rec.state, verifier, &state.public_url, &options(state)).await {
        Ok(installed) => persist(state, installed).await,
        Err(e) => {
            state.storage.put_pipeline(&rec).await?;
            Err(install_error(&e))
        }
    }
}

/// `POST /integrations/jira-server/install-pat` `{"url","token","verifySsl"}`.
pub async fn install_pat(state: &AppState, body: &[u8]) -> Result<Resp, ApiError> {
    let req: PatInstallRequest = parse_json(body)?;
    // One install of a Jira host at a time, from the webhook's creation to the save.
    let host = jira_client::normalize_base_url(&req.url)
        .map_or_else(|_| req.url.clone(), |(_, host)| host);
    let _lock = state.install_locks.lock(&host).await;
    let installed = install::install_pat(&req, &state.public_url, &options(state))
        .await
        .map_err(|e| install_error(&e))?;
    let view = persist(state, installed).await?;
    Ok(response::json(StatusCode::CREATED, &installed_body(&view)))
}

fn installed_body(view: &Persisted) -> serde_json::Value {
    let mut body = json!({ "integration": view.view });
    if let Some(previous) = &view.previous_webhook {
        body["previousJiraWebhook"] = previous.clone();
    }
    body
}

/// A saved install: the integration, and for a reinstall what became of the previous webhook
/// in Jira (`{"result": "deleted" | "already_gone" | "failed", "message"?}`).
struct Persisted {
    view: IntegrationView,
    previous_webhook: Option<serde_json::Value>,
}

/// The context path of a normalised base URL (`https://h/jira` -> `/jira`, `https://h` -> ``).
fn context_path(base_url: &str) -> &str {
    base_url
        .split_once("://")
        .map_or("", |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]))
}

/// Sentry's `external_id` (`host[:port]:consumerKey`) has no room for the context path, so two
/// Jira instances on one host (`https://h/jira-a`, `https://h/jira-b`) installed with the same
/// consumer key (or PAT user) get the same one. Such a second install is refused instead of
/// being taken as a reinstall of the first (which would move the integration to the other
/// Jira and delete the first one's webhook).
fn check_same_jira(existing: &IntegrationRecord, base_url: &str) -> Result<(), ApiError> {
    if context_path(&existing.installed.base_url) == context_path(base_url) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "external_id_conflict",
        format!(
            "Integration {} is already installed for the Jira at {} with the same external id \
             `{}`, and {base_url} is another Jira on the same host (another context path). The \
             external id (host and consumer key, or host and PAT user) cannot tell them apart: \
             give this Jira's application link another consumer key (or install with another \
             Jira user's token), or, if {base_url} is the same Jira moved to a new path, delete \
             integration {} first.",
            existing.id,
            existing.installed.base_url,
            existing.external_id(),
            existing.id
        ),
    ))
}

/// Deletes the webhook an install just created, after the install could not be completed (so
/// no webhook is left firing for an integration that does not exist).
async fn delete_new_webhook(state: &AppState, installed: &Installed, why: &str) {
    let rec = IntegrationRecord {
        id: String::new(),
        created_at: String::new(),
        installed: installed.clone(),
    };
    match crate::integration_jira::delete_webhook(state, &rec).await {
        Ok(_) => {
            tracing::info!(external_id = %installed.external_id, why, "install not saved; its new Jira webhook was deleted");
        }
        Err(e) => {
            tracing::warn!(external_id = %installed.external_id, why, error = %e, "install not saved, and its new Jira webhook could not be deleted: delete it in Jira's administration (System > WebHooks)");
        }
    }
}

/// Stores a new integration. A reinstall (same external id, same Jira) keeps the integration
/// id, its settings and links, and deletes the previous webhook in Jira so only one remains.
/// Whenever the install is not saved (another Jira with the same external id, a store
/// failure), the webhook it created is deleted again. Callers hold the host's install lock.
async fn persist(state: &AppState, installed: Installed) -> Result<Persisted, ApiError> {
    let saved = save(state, &installed).await;
    let (rec, previous) = match saved {
        Ok(saved) => saved,
        Err(e) => {
            delete_new_webhook(state, &installed, &e.message).await;
            return Err(e);
        }
    };
    let mut previous_webhook = None;
    if let Some(old) = previous
        && old.installed.webhook != rec.installed.webhook
    {
        // Delete the old webhook with the new credentials (the old ones may be revoked).
        let old_with_new_auth = IntegrationRecord {
            installed: Installed {
                webhook: old.installed.webhook.clone(),
                ..rec.installed.clone()
            },
            ..rec.clone()
        };
        previous_webhook = Some(
            match crate::integration_jira::delete_webhook(state, &old_with_new_auth).await {
                Ok(true) => json!({"result": "deleted"}),
                Ok(false) => json!({"result": "already_gone"}),
                Err(e) => {
                    tracing::warn!(integration = %rec.id, error = %e, "reinstall: could not delete the previous webhook; delete it in Jira's administration (System > WebHooks)");
                    json!({"result": "failed", "message": e.to_string()})
                }
            },
        );
    }
    tracing::info!(integration = %rec.id, external_id = %rec.external_id(), "integration installed");
    Ok(Persisted {
        view: rec.public_view(),
        previous_webhook,
    })
}

/// Checks for another Jira with the same external id and saves; returns the saved record
/// and the integration it replaces (a reinstall).
async fn save(
    state: &AppState,
    installed: &Installed,
) -> Result<(IntegrationRecord, Option<IntegrationRecord>), ApiError> {
    let previous = state
        .storage
        .integration_by_external(&installed.external_id)
        .await?;
    if let Some(p) = &previous {
        check_same_jira(p, &installed.base_url)?;
    }
    let id = match &previous {
        Some(p) => p.id.clone(),
        None => state.storage.next_integration_id().await?.to_string(),
    };
    let rec = IntegrationRecord {
        id,
        created_at: crate::time::rfc3339_ms(crate::time::now_ms()),
        installed: installed.clone(),
    };
    state.save_integration(&rec).await?;
    Ok((rec, previous))
}

/// `GET /extensions/jira_server/setup/?oauth_token=...[&oauth_verifier=...]`: where Jira's
/// application link sends the browser after approval. Completes the matching pipeline.
pub async fn browser_callback(state: &AppState, query: &str) -> Resp {
    let mut token = None;
    let mut verifier = None;
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "oauth_token" => token = Some(v),
            "oauth_verifier" => verifier = Some(v),
            _ => {}
        }
    }
    let page = |status: StatusCode, title: &str, text: &str| {
        response::html(
            status,
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
                 <body><h1>{t}</h1><p>{x}</p></body></html>",
                t = escape_html(title),
                x = escape_html(text)
            ),
        )
    };
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Installation failed",
            "Missing oauth_token: Jira did not send the request token back. Start the install again.",
        );
    };
    let pipeline = match state.storage.pipeline_by_token(&token).await {
        Ok(Some(p)) => p.id,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Installation failed",
                "No install is waiting for this token (already completed or expired). Start the install again.",
            );
        }
        Err(e) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Installation failed",
                &ApiError::from(e).message,
            );
        }
    };
    let verifier = verifier.unwrap_or(token);
    let completed = match complete(state, &pipeline, &verifier).await {
        // Flushed before the answer, as the API callback (`api::dispatch`) is: a crash right
        // after "connected" must not lose the integration whose webhook Jira now calls.
        Ok(done) => match state.storage.durable().await {
            Ok(()) => Ok(done.view),
            Err(e) => Err(ApiError::internal("could not flush the store", &e)),
        },
        Err(e) => Err(e),
    };
    match completed {
        Ok(view) => page(
            StatusCode::OK,
            "Jira Server connected",
            &format!(
                "Integration {} ({}) is installed with id {}. You can close this page.",
                view.name, view.base_url, view.id
            ),
        ),
        Err(e) => page(e.status, "Installation failed", &e.message),
    }
}
