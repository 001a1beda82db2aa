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

/// The error as a JSON response.
pub fn error(e: &ApiError) -> Resp {
    json(e.status, &e.body())
}

/// Reads a body of at most `limit` bytes (413 beyond, 400 when the client breaks off).
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
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
