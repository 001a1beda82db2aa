//! JSON errors: `{"error": {"code": "...", "message": "...", "fields": {...}}}`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};

use crate::storage::StorageError;

/// An error answered to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`not_found`, `invalid_request`, ...).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Per-field messages.
    pub fields: BTreeMap<String, String>,
    /// For 405: the methods the path answers (the `Allow` header).
    pub allow: &'static [Method],
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            allow: &[],
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400 `invalid_request` for one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::bad_request(message.clone());
        e.fields.insert(field.to_owned(), message);
        e
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or wrong admin token: send `Authorization: Bearer <admin token>`.",
        )
    }

    /// 405 with the methods the path answers (sent as `Allow`).
    pub fn method_not_allowed(allow: &'static [Method]) -> Self {
        let names: Vec<&str> = allow.iter().map(Method::as_str).collect();
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("This path answers {} only.", names.join(", ")),
        );
        e.allow = allow;
        e
    }

    /// 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    }

    /// 500 for storage failures (details are logged, not sent).
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}; see the server log."),
        )
    }

    /// 503 `unavailable` for a failed write (a full disk, an I/O error, a database that does
    /// not answer): the client should send again later ([`super::response::error`] adds
    /// `Retry-After`). Details are logged, not sent.
    pub fn unavailable(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "{context}; the server cannot store it now, send it again later (see the server log)."
            ),
        )
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": self.fields,
            }
        })
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        Self::internal("storage error", &e)
    }
}
