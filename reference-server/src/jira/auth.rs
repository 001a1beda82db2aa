//! Credentials: secrets, the consumer's RSA key, and the two auth modes ([`Auth`]).
//!
//! Everything here is `serde`-able so the server can persist it (sled, JSON), and every secret
//! is a newtype whose `Debug` prints `[redacted]`. Serialising *does* write the secret: only
//! ever serialise into the store, never into logs or API responses.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::JiraError;
use super::signing;

/// A secret string (token, token secret, PEM text). `Debug` and `Display` never show it.
///
/// ```
/// use reference_server::jira::SecretString;
/// let s = SecretString::new("hunter2");
/// assert_eq!(format!("{s:?}"), "[redacted]");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call sites of this are the places to audit.
    pub fn expose(&self) -> &str {
        &self.0
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

/// The consumer's RSA private key: the PEM text (kept for persistence) and the parsed key.
///
/// Serialises as the PEM text; deserialising parses it again.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SecretString", into = "SecretString")]
pub struct PrivateKey {
    pem: SecretString,
    parsed: Arc<signing::ParsedKey>,
}

impl PrivateKey {
    /// Parses an unencrypted PEM private key (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8
    /// `BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, JiraError> {
        let parsed = signing::ParsedKey::from_pem(pem).map_err(JiraError::Signing)?;
        Ok(Self {
            pem: SecretString::new(pem),
            parsed: Arc::new(parsed),
        })
    }

    /// The PEM text this key was parsed from.
    pub fn pem(&self) -> &SecretString {
        &self.pem
    }

    pub(crate) fn parsed(&self) -> &signing::ParsedKey {
        &self.parsed
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

impl TryFrom<SecretString> for PrivateKey {
    type Error = JiraError;

    fn try_from(pem: SecretString) -> Result<Self, Self::Error> {
        Self::from_pem(pem.expose())
    }
}

impl From<PrivateKey> for SecretString {
    fn from(key: PrivateKey) -> Self {
        key.pem
    }
}

/// An OAuth 1.0a consumer as configured in Jira's application link: consumer key + RSA key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    /// The consumer key entered in Jira's application link (at most 200 characters).
    pub consumer_key: String,
    /// The RSA private key whose public half is registered in Jira.
    pub private_key: PrivateKey,
}

/// A token + secret pair returned by Jira's request-token or access-token servlet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// `oauth_token`.
    pub token: String,
    /// `oauth_token_secret` (not used by RSA-SHA1 signing, but Jira returns it and it is kept).
    pub secret: SecretString,
}

/// How requests to Jira authenticate.
///
/// Serialises as a tagged JSON object, for example
/// `{"type":"oauth1","consumerKey":"sentry-bot","privateKey":"-----BEGIN...","accessToken":"...","accessTokenSecret":"..."}`
/// or `{"type":"personalAccessToken","token":"..."}`.
///
/// ```
/// use reference_server::jira::{Auth, SecretString};
/// let auth = Auth::personal_access_token(SecretString::new("NjQ2..."));
/// let json = serde_json::to_string(&auth).unwrap();
/// assert_eq!(json, r#"{"type":"personalAccessToken","token":"NjQ2..."}"#);
/// assert!(!format!("{auth:?}").contains("NjQ2"));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Auth {
    /// OAuth 1.0a (RSA-SHA1) with an access token obtained through the three-legged flow.
    #[serde(rename = "oauth1", rename_all = "camelCase")]
    OAuth1 {
        /// Consumer key of the application link.
        consumer_key: String,
        /// RSA private key of the consumer.
        private_key: PrivateKey,
        /// Access token (`oauth_token` of the access-token reply).
        access_token: String,
        /// Access token secret (stored, not used by RSA-SHA1).
        access_token_secret: SecretString,
    },
    /// A Jira Data Center (8.14+) personal access token, sent as `Authorization: Bearer`.
    #[serde(rename_all = "camelCase")]
    PersonalAccessToken {
        /// The raw token.
        token: SecretString,
    },
}

impl Auth {
    /// Shorthand for [`Auth::PersonalAccessToken`].
    pub fn personal_access_token(token: impl Into<SecretString>) -> Self {
        let token = token.into();
        Self::PersonalAccessToken { token }
    }

    /// OAuth 1.0a credentials from a consumer and an access token pair.
    pub fn oauth1(consumer: Consumer, access: TokenPair) -> Self {
        Self::OAuth1 {
            consumer_key: consumer.consumer_key,
            private_key: consumer.private_key,
            access_token: access.token,
            access_token_secret: access.secret,
        }
    }

    /// A short label for logs and metrics: `oauth1` or `pat`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OAuth1 { .. } => "oauth1",
            Self::PersonalAccessToken { .. } => "pat",
        }
    }
}
