//! Admin API `/api/v1/*` (bearer token checked by the router).

pub mod import;
pub(crate) mod install;
pub(crate) mod integrations;
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
    segs: &[String],
    query: &str,
    body: Incoming,
) -> Result<Resp, ApiError> {
    let resp = route(state, method, segs, query, body).await?;
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
    segs: &[String],
    query: &str,
    body: Incoming,
) -> Result<Resp, ApiError> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, s.as_slice()) {
        (&Method::POST, ["integrations", "jira-server", "install"]) => {
            install::start(state, &read(state, body).await?).await
        }
        (
            &Method::POST,
            [
                "integrations",
                "jira-server",
                "install",
                pipeline,
                "callback",
            ],
        ) => install::callback(state, pipeline, &read(state, body).await?).await,
        (&Method::POST, ["integrations", "jira-server", "install-pat"]) => {
            install::install_pat(state, &read(state, body).await?).await
        }
        (&Method::GET, ["integrations"]) => integrations::list(state).await,
        (&Method::GET, ["integrations", id]) => integrations::get(state, id).await,
        (&Method::DELETE, ["integrations", id]) => integrations::delete(state, id).await,
        (&Method::PUT, ["integrations", id, "organizations", org]) => {
            integrations::put_org(state, id, org, &read(state, body).await?).await
        }
        (&Method::GET, ["integrations", id, "organizations"]) => {
            integrations::list_orgs(state, id).await
        }
        (&Method::PUT, ["integrations", id, "user-mappings", jira_user]) => {
            integrations::put_user_mapping(state, id, jira_user, &read(state, body).await?).await
        }
        (&Method::GET, ["integrations", id, "deliveries"]) => {
            integrations::deliveries(state, id, query).await
        }
        (&Method::PUT, ["users", id]) => {
            tracker::put_user(state, id, &read(state, body).await?).await
        }
        (&Method::GET, ["users", id]) => tracker::get_user(state, id).await,
        (&Method::PUT, ["projects", id]) => {
            tracker::put_project(state, id, &read(state, body).await?).await
        }
        (&Method::GET, ["projects", id]) => tracker::get_project(state, id).await,
        (&Method::PUT, ["groups", id]) => {
            tracker::put_group(state, id, &read(state, body).await?).await
        }
        (&Method::GET, ["groups", id]) => tracker::get_group(state, id).await,
        (&Method::PUT, ["groups", id, "external-issues", integration, key]) => {
            let body = read(state, body).await?;
            tracker::put_link(state, id, integration, key, &body).await
        }
        (&Method::DELETE, ["groups", id, "external-issues", integration, key]) => {
            tracker::delete_link(state, id, integration, key).await
        }
        // Streamed NDJSON with its own, larger size limit (see `import`).
        (&Method::POST, ["import", "links"]) => import::links(state, body).await,
        _ => Err(ApiError::not_found("No such API path or method.")),
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
