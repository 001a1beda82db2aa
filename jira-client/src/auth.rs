//! How requests authenticate: OAuth 1.0a RSA-SHA1 through `jira_oauth::Signer` (a fresh nonce
//! per request), or a personal access token as `Authorization: Bearer`.
//!
//! Everything here is `serde`-able so a server can persist it; every secret is a
//! [`SecretString`] or a [`PrivateKey`], whose `Debug` is redacted.

use std::fmt;

use jira_oauth::{RsaPrivateKey, SignOptions, Signer, Token};
use serde::{Deserialize, Serialize};

use crate::{JiraError, SecretString};

/// The consumer's RSA private key: the PEM text (kept for persistence) and the parsed key.
///
/// Serialises as the PEM text; deserialising parses it again.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "SecretString", into = "SecretString")]
pub struct PrivateKey {
    pem: SecretString,
    parsed: RsaPrivateKey,
}

impl PrivateKey {
    /// Parses an unencrypted PEM private key (PKCS#1 `BEGIN RSA PRIVATE KEY` or PKCS#8
    /// `BEGIN PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, JiraError> {
        let parsed = RsaPrivateKey::from_pem(pem).map_err(|e| JiraError::Signing(e.to_string()))?;
        Ok(Self {
            pem: SecretString::new(pem),
            parsed,
        })
    }

    /// The PEM text this key was parsed from.
    pub fn pem(&self) -> &SecretString {
        &self.pem
    }

    /// An RSA-SHA1 signer for `consumer_key` with this key.
    pub fn signer(&self, consumer_key: &str) -> Signer {
        Signer::rsa_sha1(consumer_key, self.parsed.clone())
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

impl Consumer {
    /// The RSA-SHA1 signer of this consumer, without a token.
    pub fn signer(&self) -> Signer {
        self.private_key.signer(&self.consumer_key)
    }
}

/// A token + secret pair returned by Jira's request-token or access-token servlet.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// `oauth_token`.
    pub token: String,
    /// `oauth_token_secret` (not used by RSA-SHA1 signing, but Jira returns it and it is kept).
    pub secret: SecretString,
}

impl TokenPair {
    /// The pair as `jira-oauth`'s [`Token`].
    pub fn to_oauth_token(&self) -> Token {
        Token::new(self.token.clone(), self.secret.expose())
    }
}

/// How requests to Jira authenticate.
///
/// Serialises as a tagged JSON object, for example
/// `{"type":"oauth1","consumerKey":"sentry-bot","privateKey":"-----BEGIN...","accessToken":"...","accessTokenSecret":"..."}`
/// or `{"type":"personalAccessToken","token":"..."}`.
///
/// ```
/// use jira_client::{Auth, SecretString};
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

    /// Sets the `Authorization` header of `request`: an RSA-SHA1 signature over its method and
    /// absolute URI (query included; JSON bodies are not signed) with a fresh nonce and the
    /// current time, or `Bearer <token>`. Call it once per attempt: a signed request must not
    /// be sent twice.
    ///
    /// ```
    /// use jira_client::Auth;
    /// let mut request = http::Request::get("https://jira.example.com/rest/api/2/myself")
    ///     .body(Vec::new())?;
    /// Auth::personal_access_token("NjQ2").authorize(&mut request)?;
    /// assert_eq!(request.headers()["authorization"], "Bearer NjQ2");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorize<B: AsRef<[u8]>>(
        &self,
        request: &mut http::Request<B>,
    ) -> Result<(), JiraError> {
        match self {
            Self::OAuth1 {
                consumer_key,
                private_key,
                access_token,
                ..
            } => {
                private_key
                    .signer(consumer_key)
                    .with_token(Token::new(access_token.clone(), ""))
                    .sign_request(request, &SignOptions::new())
                    .map_err(|e| JiraError::Signing(e.to_string()))?;
            }
            Self::PersonalAccessToken { token } => {
                let mut value = http::HeaderValue::try_from(format!("Bearer {}", token.expose()))
                    .map_err(|_| {
                        JiraError::Signing(
                            "the personal access token contains characters not allowed in an HTTP header; copy it again from Jira's profile page".to_owned(),
                        )
                    })?;
                value.set_sensitive(true);
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, value);
            }
        }
        Ok(())
    }
}
