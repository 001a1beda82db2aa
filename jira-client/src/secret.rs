//! [`SecretString`]: the one redacting secret-string type of the workspace.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string (access token, token secret, PEM text, webhook URL with its token, admin
/// token). `Debug` and `Display` print `[redacted]`; [`SecretString::expose`] is the one way to
/// read it, so its call sites are the places to audit.
///
/// Serialising *does* write the secret (`#[serde(transparent)]`): serialise only into a store,
/// never into logs or API responses. There is deliberately no `PartialEq`: compare exposed
/// values where you mean to, in constant time where an attacker chooses the candidate.
///
/// ```
/// use jira_client::SecretString;
/// let s = SecretString::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
/// assert_eq!(s.expose(), "hunter2");
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#""hunter2""#);
/// ```
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}
