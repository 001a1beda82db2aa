//! [`JiraError`]: everything that can go wrong talking to Jira, keeping Jira's own
//! `errorMessages` and `errors`, and [`first_error_message`].

use std::collections::BTreeMap;

use serde_json::Value;

/// Longest raw response body kept in an error, in bytes (the rest is cut off).
const MAX_KEPT_BODY: usize = 2048;

/// Everything that can go wrong while talking to Jira.
///
/// The `Display` text says what failed and, where it helps, what to do; it never contains
/// credentials. [`JiraError::is_transient`] tells a retrying caller whether another attempt
/// (with a fresh signature) may succeed; [`JiraError::what_to_do`] gives advice for a person.
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
    /// The answer's body is longer than the client's limit (4 MiB by default): it was not read
    /// further and is dropped, so a hostile or broken Jira cannot exhaust memory.
    #[error(
        "Jira's answer to {operation} from {host} is larger than {limit} bytes; it was dropped unread"
    )]
    ResponseTooLarge {
        /// Host (and port) of the Jira instance.
        host: String,
        /// The call (e.g. `statuses`).
        operation: &'static str,
        /// The limit in bytes.
        limit: usize,
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
        /// Jira's `errorMessages` list (REST `ErrorCollection`), empty if absent.
        error_messages: Vec<String>,
        /// Jira's `errors` map, field name to message (REST `ErrorCollection`), empty if absent.
        errors: BTreeMap<String, String>,
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
    /// Jira's OAuth servlet answered with `oauth_problem` (OAuth Problem Reporting).
    #[error("Jira refused the OAuth request: oauth_problem={problem}{}", advice.as_ref().map(|a| format!(" ({a})")).unwrap_or_default())]
    OAuthProblem {
        /// The problem code, e.g. `token_rejected`, `timestamp_refused`.
        problem: String,
        /// `oauth_problem_advice`, if Jira sent one.
        advice: Option<String>,
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

    /// What a person can do about this error, in one sentence.
    ///
    /// ```
    /// use jira_client::JiraError;
    /// let e = JiraError::status_from_body(401, br#"{"errorMessages":["nope"]}"#);
    /// assert!(e.what_to_do().contains("credentials"));
    /// ```
    pub fn what_to_do(&self) -> &'static str {
        match self {
            Self::InvalidBaseUrl { .. } => {
                "Give the Jira base URL as scheme://host[:port][/context], e.g. https://jira.example.com."
            }
            Self::Timeout { .. } | Self::Unreachable { .. } => {
                "Check that Jira is up and reachable from this host (DNS, firewall, proxy, TLS), then try again."
            }
            Self::Redirect { .. } => {
                "Configure the URL Jira redirects to (often https:// or a context path such as /jira) as the base URL."
            }
            Self::Status { status: 401, .. } | Self::OAuthProblem { .. } => {
                "Check the credentials: the consumer key and public key of Jira's application link, the access or personal access token, and the clocks of both hosts."
            }
            Self::Status { status: 403, .. } => {
                "Give the Jira user the permission the call needs (webhooks need Jira administrator)."
            }
            Self::Status { status: 404, .. } => {
                "Check the base URL (context path) and that the Jira version has this resource."
            }
            Self::Status { status, .. } if *status == 429 || *status >= 500 => {
                "Jira is overloaded or failing; try again later."
            }
            Self::Status { .. } => "Read Jira's message above; the request was refused as sent.",
            Self::ResponseTooLarge { .. } => {
                "Check that the base URL points at Jira Server or Data Center (not at a proxy or a file server); raise the response size limit only if this Jira really answers that much."
            }
            Self::InvalidResponse { .. } => {
                "Check that the base URL points at Jira Server or Data Center and not at a proxy page."
            }
            Self::MissingOAuthToken { .. } => {
                "Check the application link in Jira (incoming authentication, consumer key, public key)."
            }
            Self::Signing(_) => {
                "Check the private key (unencrypted PEM, PKCS#1 or PKCS#8) or the token's characters."
            }
            Self::Client(_) => "Check the TLS set-up of this host.",
        }
    }

    /// The error for a non-2xx answer: keeps Jira's `errorMessages` and `errors`, the first
    /// message, and the first 2 KiB of the body.
    ///
    /// ```
    /// use jira_client::JiraError;
    /// let e = JiraError::status_from_body(400, br#"{"errorMessages":[],"errors":{"assignee":"User 'bob' cannot be assigned issues."}}"#);
    /// let JiraError::Status { errors, error_messages, .. } = &e else { unreachable!() };
    /// assert!(error_messages.is_empty());
    /// assert_eq!(errors["assignee"], "User 'bob' cannot be assigned issues.");
    /// assert_eq!(e.to_string(), "Jira answered 400: assignee: User 'bob' cannot be assigned issues.");
    /// ```
    pub fn status_from_body(status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let mut kept = text.into_owned();
        if kept.len() > MAX_KEPT_BODY {
            let mut cut = MAX_KEPT_BODY;
            while !kept.is_char_boundary(cut) {
                cut -= 1;
            }
            kept.truncate(cut);
        }
        let (error_messages, errors) = error_collection(body);
        Self::Status {
            status,
            message: first_error_message(body),
            error_messages,
            errors,
            body: kept,
        }
    }
}

/// Jira's REST `ErrorCollection`: `errorMessages` (strings kept) and `errors` (string values
/// kept), empty when the body is not one.
fn error_collection(body: &[u8]) -> (Vec<String>, BTreeMap<String, String>) {
    let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) else {
        return (Vec::new(), BTreeMap::new());
    };
    let messages = json
        .get("errorMessages")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let errors = json
        .get("errors")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    (messages, errors)
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
/// use jira_client::first_error_message;
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
    let pairs = jira_oauth::form_decode(text.as_bytes());
    for key in ["oauth_problem", "oauth_error"] {
        if let Some((_, value)) = pairs.iter().find(|(k, _)| k == key.as_bytes()) {
            return Some(format!("{key}: {}", String::from_utf8_lossy(value)));
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
    fn the_error_collection_is_kept() {
        let e = JiraError::status_from_body(
            400,
            br#"{"errorMessages":["a","",7,"b"],"errors":{"f":"m","n":1}}"#,
        );
        let JiraError::Status {
            error_messages,
            errors,
            message,
            ..
        } = e
        else {
            panic!("expected a status error");
        };
        assert_eq!(error_messages, ["a", "", "b"]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors["f"], "m");
        assert_eq!(message.as_deref(), Some("a"));
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
