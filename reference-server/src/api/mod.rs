//! Admin API `/api/v1/*` (bearer token checked by the router).

pub(crate) mod dead_letters;
pub mod import;
pub(crate) mod install;
pub(crate) mod integrations;
mod routes;
pub(crate) mod tracker;

use bytes::Bytes;
use http::Method;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::response::{self, Resp};
use crate::storage::StorageBackend as _;

/// Routes `/api/v1/<segs>`. Writes are flushed to disk before the answer (concurrent writes
/// share one flush), so a crash right after seeding loses nothing that was acknowledged.
pub async fn dispatch(
    state: &AppState,
    method: &Method,
    path: &str,
    query: &str,
    body: Incoming,
) -> Result<Resp, ApiError> {
    let resp = route(state, method, path, query, body).await?;
    if method != Method::GET {
        state
            .storage
            .durable()
            .await
            .map_err(|e| ApiError::internal("could not flush the store", &e))?;
    }
    Ok(resp)
}

async fn route(
    state: &AppState,
    method: &Method,
    path: &str,
    query: &str,
    body: Incoming,
) -> Result<Resp, ApiError> {
    use routes::Endpoint as E;
    let found = routes::find(path)?;
    if !found.methods.contains(method) {
        return Err(ApiError::method_not_allowed(found.methods));
    }
    let p = |name| found.param(name);
    match (found.endpoint, method) {
        (E::InstallStart, _) => install::start(state, &read(state, body).await?).await,
        (E::InstallCallback, _) => {
            install::callback(state, p("pipeline"), &read(state, body).await?).await
        }
        (E::InstallPat, _) => install::install_pat(state, &read(state, body).await?).await,
        (E::Integrations, _) => integrations::list(state).await,
        (E::Integration, &Method::DELETE) => integrations::delete(state, p("id")).await,
        (E::Integration, _) => integrations::get(state, p("id")).await,
        (E::Organization, _) => {
            integrations::put_org(state, p("id"), p("org"), &read(state, body).await?).await
        }
        (E::Organizations, _) => integrations::list_orgs(state, p("id")).await,
        (E::UserMapping, _) => {
            let body = read(state, body).await?;
            integrations::put_user_mapping(state, p("id"), p("jira_user"), &body).await
        }
        (E::Deliveries, _) => integrations::deliveries(state, p("id"), query).await,
        (E::DeadLetters, _) => dead_letters::list(state, p("id"), query).await,
        (E::DeadLetterRetry, _) => dead_letters::retry(state, p("id"), p("delivery")).await,
        (E::DeadLetter, _) => dead_letters::delete(state, p("id"), p("delivery")).await,
        (E::User, &Method::PUT) => {
            tracker::put_user(state, p("id"), &read(state, body).await?).await
        }
        (E::User, _) => tracker::get_user(state, p("id")).await,
        (E::Project, &Method::PUT) => {
            tracker::put_project(state, p("id"), &read(state, body).await?).await
        }
        (E::Project, _) => tracker::get_project(state, p("id")).await,
        (E::Group, &Method::PUT) => {
            tracker::put_group(state, p("id"), &read(state, body).await?).await
        }
        (E::Group, _) => tracker::get_group(state, p("id")).await,
        (E::GroupLink, &Method::DELETE) => {
            tracker::delete_link(state, p("id"), p("integration"), p("key")).await
        }
        (E::GroupLink, _) => {
            let body = read(state, body).await?;
            tracker::put_link(state, p("id"), p("integration"), p("key"), &body).await
        }
        (E::GroupResetWatermarks, _) => {
            tracker::reset_watermarks(state, p("id"), &read(state, body).await?).await
        }
        // Streamed NDJSON with its own, larger size limit (see `import`).
        (E::ImportLinks, _) => import::links(state, body).await,
    }
}

async fn read(state: &AppState, body: Incoming) -> Result<Bytes, ApiError> {
    response::read_body(body, state.body_limit, state.body_timeout).await
}

/// Parses a JSON request body, which must be an object; an empty body counts as `{}`. (serde
/// would also read a struct from an array, so `[]` could pass for an empty object.)
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body: &[u8] = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => b"{}",
        Some(b'{') => body,
        Some(_) => {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object.",
            ));
        }
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid: {e}.")))
}

/// Checks a caller-chosen id (path segment): 1 to 200 characters, no control characters.
pub fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(ApiError::field(
            what,
            format!("`{what}` must be 1 to 200 characters without control characters."),
        ));
    }
    Ok(())
}

/// `200` with a JSON value.
pub fn ok(value: &serde_json::Value) -> Result<Resp, ApiError> {
    Ok(response::json(http::StatusCode::OK, value))
}
