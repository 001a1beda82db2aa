//! [`SecretString`]: the one redacting secret-string type of the workspace (`jira-client`
//! re-exports it, the reference server's admin token wraps it, [`ConsumerSecret`] and
//! [`TokenSecret`] are typed wrappers of it).
//!
//! [`ConsumerSecret`]: crate::ConsumerSecret
//! [`TokenSecret`]: crate::TokenSecret

use std::fmt;

use subtle::ConstantTimeEq as _;

/// A secret string (access token, token secret, PEM text, webhook URL with its token, admin
/// token). `Debug` and `Display` print `[redacted]`; [`SecretString::expose`] is the one way to
/// read it, so its call sites are the places to audit.
///
/// With the `serde` feature it serialises as the plain string (`#[serde(transparent)]`), which
/// *does* write the secret: serialise only into a store, never into logs or API responses.
/// There is deliberately no `PartialEq`: use [`SecretString::ct_eq`] (constant time) where an
/// attacker chooses the candidate.
///
/// ```
/// use jira_oauth::SecretString;
/// let s = SecretString::new("hunter2");
/// assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
/// assert_eq!(s.expose(), "hunter2");
/// assert!(s.ct_eq(b"hunter2") && !s.ct_eq(b"hunter3"));
/// ```
#[derive(Clone, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
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

    /// Constant-time comparison with a candidate (only the length is not hidden).
    pub fn ct_eq(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
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
