//! Building responses and reading bodies.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};

use super::error::ApiError;

/// The response type of every handler.
pub type Resp = Response<Full<Bytes>>;

fn build(status: StatusCode, content_type: Option<&'static str>, body: Bytes) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(ct));
    }
    r
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    build(
        status,
        Some("application/json"),
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

/// An empty response.
pub fn empty(status: StatusCode) -> Resp {
    build(status, None, Bytes::new())
}

/// A plain text response.
pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    build(status, Some(content_type), Bytes::from(body))
}

/// An HTML response.
pub fn html(status: StatusCode, body: String) -> Resp {
    build(status, Some("text/html; charset=utf-8"), Bytes::from(body))
}

/// Seconds a 503 asks the client to wait before sending again (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 30;

/// The error as a JSON response. After 408 and 413 the connection is closed, since the rest
/// of the body was not read. A 503 carries `Retry-After` ([`RETRY_AFTER_SECS`]).
pub fn error(e: &ApiError) -> Resp {
    let mut r = json(e.status, &e.body());
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(RETRY_AFTER_SECS),
        );
    }
    if !e.allow.is_empty() {
        let names: Vec<&str> = e.allow.iter().map(http::Method::as_str).collect();
        if let Ok(v) = header::HeaderValue::from_str(&names.join(", ")) {
            r.headers_mut().insert(header::ALLOW, v);
        }
    }
    if matches!(
        e.status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE
    ) {
        r.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    r
}

/// Reads a body of at most `limit` bytes within `timeout`: 413 at once when the declared
/// length (`Content-Length`) is larger, 413 when more arrives, 408 when the client is too slow,
/// 400 when it breaks off.
pub async fn read_body<B>(
    body: B,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    if body.size_hint().lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(ApiError::too_large(limit));
    }
    let Ok(collected) = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await
    else {
        return Err(ApiError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "The request body did not arrive within {} s.",
                timeout.as_secs()
            ),
        ));
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large(limit))
            } else {
                Err(ApiError::bad_request(
                    "The request body could not be read completely.",
                ))
            }
        }
    }
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
