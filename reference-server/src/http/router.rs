//! Dispatch by method and path, request logging with secrets redacted.

use std::borrow::Cow;
use std::time::Instant;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use super::error::ApiError;
use super::response::{self, Resp};
use crate::app::AppState;

const WEBHOOK_PREFIX: &str = "/extensions/jira-server/issue-updated/";
const SETUP_PATH: &str = "/extensions/jira_server/setup";

/// The path as it may be logged: webhook tokens replaced by `[redacted]`, query dropped.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    if path.starts_with(WEBHOOK_PREFIX) {
        Cow::Owned(format!("{WEBHOOK_PREFIX}[redacted]/"))
    } else {
        Cow::Borrowed(path)
    }
}

/// Routes one request.
pub async fn route(state: &AppState, req: Request<Incoming>) -> Resp {
    let started = Instant::now();
    let method = req.method().clone();
    // A clone of the URI shares its bytes (no copy of the path).
    let uri = req.uri().clone();
    let path = uri.path();
    let resp = dispatch(state, req).await;
    let status = resp.status();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if path.starts_with(WEBHOOK_PREFIX) {
        tracing::debug!(%method, path = %loggable_path(path), status = status.as_u16(), micros, "request");
    } else if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        tracing::info!(%method, path = %loggable_path(path), status = status.as_u16(), micros, "request");
    }
    resp
}

/// Bytes of the request head as sent, near enough: the request target and each header line.
fn head_bytes<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + target
}

async fn dispatch(state: &AppState, req: Request<Incoming>) -> Resp {
    if head_bytes(&req) > super::MAX_HEAD_BYTES {
        return response::error(&ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "The request's headers are larger than 64 KiB: send fewer or smaller headers.",
        ));
    }
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix(WEBHOOK_PREFIX) {
        let token = rest.strip_suffix('/').unwrap_or(rest);
        if token.contains('/') {
            return response::error(&ApiError::not_found("No such path."));
        }
        if req.method() != Method::POST {
            return response::error(&ApiError::method_not_allowed(&[Method::POST]));
        }
        // Split the request so the token can borrow from the URI while the body is read.
        let (parts, body) = req.into_parts();
        let rest = parts
            .uri
            .path()
            .strip_prefix(WEBHOOK_PREFIX)
            .unwrap_or_default();
        let token = rest.strip_suffix('/').unwrap_or(rest);
        return crate::webhook::handle(state, token, body).await;
    }
    match (req.method(), path) {
        (&Method::GET, "/healthz") => {
            return response::json(StatusCode::OK, &serde_json::json!({"status": "ok"}));
        }
        (&Method::GET, "/readyz") => {
            let reason = if state
                .shutting_down
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                Err("the server is shutting down".to_owned())
            } else {
                state.storage.readiness().await
            };
            return match reason {
                Ok(()) => response::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
                Err(reason) => response::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"status": "unavailable", "reason": reason}),
                ),
            };
        }
        (&Method::GET, "/metrics") => {
            return response::text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                state.metrics.render(),
            );
        }
        (_, "/healthz" | "/readyz" | "/metrics") => {
            return response::error(&ApiError::method_not_allowed(&[Method::GET]));
        }
        _ => {}
    }
    if path.trim_end_matches('/') == SETUP_PATH {
        if req.method() != Method::GET {
            return response::error(&ApiError::method_not_allowed(&[Method::GET]));
        }
        let query = req.uri().query().unwrap_or_default().to_owned();
        return crate::api::install::browser_callback(state, &query).await;
    }
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        if !authorized(state, &req) {
            return response::error(&ApiError::unauthorized());
        }
        let method = req.method().clone();
        let query = req.uri().query().unwrap_or_default().to_owned();
        let rest = rest.to_owned();
        return match crate::api::dispatch(state, &method, &rest, &query, req.into_body()).await {
            Ok(r) => r,
            Err(e) => response::error(&e),
        };
    }
    response::error(&ApiError::not_found("No such path."))
}

fn authorized(state: &AppState, req: &Request<Incoming>) -> bool {
    let Some(value) = req.headers().get(http::header::AUTHORIZATION) else {
        return false;
    };
    let bytes = value.as_bytes();
    let Some(token) = bytes
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| bytes.get(7..))
    else {
        return false;
    };
    state.admin_token.matches(token.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_tokens_are_redacted_in_logs() {
        assert_eq!(
            loggable_path("/extensions/jira-server/issue-updated/eyJ.abc.def/"),
            "/extensions/jira-server/issue-updated/[redacted]/"
        );
        assert_eq!(loggable_path("/api/v1/groups/g1"), "/api/v1/groups/g1");
    }
}
