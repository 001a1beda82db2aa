//! Errors of the Jira client ([`JiraError`]) and extraction of Jira's error messages.

use serde_json::Value;

/// Longest raw response body kept in an error, in bytes (the rest is cut off).
const MAX_KEPT_BODY: usize = 2048;

/// Everything that can go wrong while talking to Jira.
///
/// The `Display` text says what failed and, where it helps, what to do; it never contains
/// credentials. [`JiraError::is_transient`] tells a retrying caller whether another attempt
/// (with a fresh signature) may succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JiraError {
    /// The configured Jira base URL is not an absolute `http`/`https` URL.
    #[error("invalid Jira URL {url:?}: {reason}; use e.g. https://jira.example.com")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No answer within the timeout (30 s by default). Matches Sentry's `ApiTimeoutError` text.
    #[error("Timed out attempting to reach host: {host}")]
    Timeout {
        /// Host (and port) of the Jira instance.
        host: String,
    },
    /// Connection refused, DNS failure, TLS failure, connection reset...
    #[error("Unable to reach host: {host} ({reason})")]
    Unreachable {
        /// Host (and port) of the Jira instance.
        host: String,
        /// The transport error, without URL or credentials.
        reason: String,
    },
    /// Jira answered with a redirect. Redirects are never followed because the OAuth signature
    /// covers the URL: configure the final base URL (often `https://` or a context path).
    #[error(
        "Jira answered {status} redirecting to {location:?}; configure the final Jira base URL instead"
    )]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// Jira answered with a 4xx or 5xx status.
    #[error("Jira answered {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// HTTP status code.
        status: u16,
        /// Jira's first error message (see [`first_error_message`]), if one could be found.
        message: Option<String>,
        /// The raw body (first 2 KiB), for diagnostics.
        body: String,
    },
    /// Jira answered 2xx but the body was not what this endpoint returns.
    #[error("unexpected answer from Jira to {operation}: {reason}")]
    InvalidResponse {
        /// The call (e.g. `serverInfo`).
        operation: &'static str,
        /// What was wrong with the body.
        reason: String,
    },
    /// A token reply (request or access token) lacked `oauth_token` or `oauth_token_secret`.
    /// The text is Sentry's.
    #[error("Missing oauth_token")]
    MissingOAuthToken {
        /// Names of the keys the reply did have (values are never kept).
        keys: Vec<String>,
    },
    /// The request could not be signed or the credentials are unusable.
    #[error("could not sign the Jira request: {0}")]
    Signing(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

impl JiraError {
    /// True when a later attempt may succeed: timeouts, unreachable hosts, 429 and 5xx.
    /// 4xx answers (bad credentials, missing permission, unknown user) are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status Jira answered with, if the error is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::Redirect { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Jira's own error message, if Jira answered with one.
    pub fn jira_message(&self) -> Option<&str> {
        match self {
            Self::Status { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn status_from_body(status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let mut kept = text.into_owned();
        if kept.len() > MAX_KEPT_BODY {
            let mut cut = MAX_KEPT_BODY;
            while !kept.is_char_boundary(cut) {
                cut -= 1;
            }
            kept.truncate(cut);
        }
        Self::Status {
            status,
            message: first_error_message(body),
            body: kept,
        }
    }
}

/// Extracts the first human-readable error message from a Jira error body.
///
/// Understands the shapes listed in jira-server-api §2.3, in this order:
/// 1. REST `ErrorCollection`: the first non-empty `errorMessages[]` entry, else the first
///    `errors` entry rendered as `field: message`;
/// 2. the webhooks plugin's `{"messages": [{"key": "..."}]}`: the first string value of the
///    first entry (what Sentry shows after "Could not create issue webhook in Jira.");
/// 3. `{"message": "..."}`;
/// 4. a form-encoded OAuth servlet reply: `oauth_problem` (e.g. `signature_invalid`), or
///    Sentry's mocked `oauth_error=token+expired`.
///
/// Returns `None` for anything else (HTML error pages, empty bodies).
///
/// ```
/// use reference_server::jira::first_error_message;
/// let body = br#"{"messages":[{"key":"You do not have permission to create WebHook 'Sentry Issue Sync'."}]}"#;
/// assert_eq!(
///     first_error_message(body).as_deref(),
///     Some("You do not have permission to create WebHook 'Sentry Issue Sync'.")
/// );
/// let body = br#"{"errorMessages":[],"errors":{"assignee":"User 'bob' cannot be assigned issues."}}"#;
/// assert_eq!(
///     first_error_message(body).as_deref(),
///     Some("assignee: User 'bob' cannot be assigned issues.")
/// );
/// assert_eq!(first_error_message(b"oauth_problem=nonce_used").as_deref(), Some("oauth_problem: nonce_used"));
/// assert_eq!(first_error_message(b"<html>Bad things</html>"), None);
/// ```
pub fn first_error_message(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        return first_json_message(&json);
    }
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.contains(char::is_whitespace) || !text.contains('=') {
        return None;
    }
    for key in ["oauth_problem", "oauth_error"] {
        if let Some((_, value)) =
            url::form_urlencoded::parse(text.as_bytes()).find(|(k, _)| k == key)
        {
            return Some(format!("{key}: {value}"));
        }
    }
    None
}

fn first_json_message(json: &Value) -> Option<String> {
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
    if let Some(list) = json.get("errorMessages").and_then(Value::as_array)
        && let Some(msg) = list.iter().filter_map(Value::as_str).find_map(non_empty)
    {
        return Some(msg);
    }
    if let Some(map) = json.get("errors").and_then(Value::as_object) {
        for (field, value) in map {
            if let Some(msg) = value.as_str().and_then(non_empty) {
                return Some(format!("{field}: {msg}"));
            }
        }
    }
    if let Some(first) = json
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|list| list.first())
    {
        match first {
            Value::String(s) => return non_empty(s),
            Value::Object(map) => {
                if let Some(msg) = map.values().filter_map(Value::as_str).find_map(non_empty) {
                    return Some(msg);
                }
            }
            _ => {}
        }
    }
    json.get("message")
        .and_then(Value::as_str)
        .and_then(non_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_win_over_errors() {
        let body = br#"{"errorMessages":["Issue Does Not Exist"],"errors":{"a":"b"}}"#;
        assert_eq!(
            first_error_message(body).as_deref(),
            Some("Issue Does Not Exist")
        );
    }

    #[test]
    fn empty_collections_give_none() {
        assert_eq!(
            first_error_message(br#"{"errorMessages":[],"errors":{}}"#),
            None
        );
        assert_eq!(first_error_message(b""), None);
        assert_eq!(first_error_message(b"Bad things"), None);
    }

    #[test]
    fn plain_message_and_sentry_token_expired_mock() {
        assert_eq!(
            first_error_message(br#"{"message":"Client must be authenticated"}"#).as_deref(),
            Some("Client must be authenticated")
        );
        assert_eq!(
            first_error_message(b"oauth_error=token+expired").as_deref(),
            Some("oauth_error: token expired")
        );
    }

    #[test]
    fn body_is_cut_on_a_char_boundary() {
        let body = "é".repeat(MAX_KEPT_BODY);
        let JiraError::Status { body: kept, .. } =
            JiraError::status_from_body(500, body.as_bytes())
        else {
            panic!("expected a status error");
        };
        assert!(kept.len() <= MAX_KEPT_BODY);
    }

    #[test]
    fn transient_classification() {
        let e = JiraError::status_from_body(503, b"");
        assert!(e.is_transient());
        assert!(!JiraError::status_from_body(403, b"").is_transient());
        assert!(JiraError::status_from_body(429, b"").is_transient());
        assert!(JiraError::Timeout { host: "h".into() }.is_transient());
    }
}
