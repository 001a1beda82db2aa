//! Provider-side verification (what a test Jira does with our requests).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::header::OAuthParams;
use crate::keys::{ConsumerSecret, RsaPublicKey, TokenSecret};
use crate::sign::{
    Body, RequestParts, SignatureMethod, base_string_from_parts, body_hash, collect_parameters,
    hmac_sha1, secret_key,
};
use crate::url::{UrlError, split_url};

/// The key material a provider checks a signature with.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum VerifyKey<'a> {
    /// RSA-SHA1 with the consumer's public key.
    RsaSha1(&'a RsaPublicKey),
    /// HMAC-SHA1 with the consumer secret and the token's secret (if a token is used).
    HmacSha1 {
        /// The consumer secret.
        consumer_secret: &'a ConsumerSecret,
        /// The secret of `oauth_token`, if any.
        token_secret: Option<&'a TokenSecret>,
    },
    /// PLAINTEXT with the consumer secret and the token's secret.
    Plaintext {
        /// The consumer secret.
        consumer_secret: &'a ConsumerSecret,
        /// The secret of `oauth_token`, if any.
        token_secret: Option<&'a TokenSecret>,
    },
}

impl VerifyKey<'_> {
    fn method(&self) -> SignatureMethod {
        match self {
            Self::RsaSha1(_) => SignatureMethod::RsaSha1,
            Self::HmacSha1 { .. } => SignatureMethod::HmacSha1,
            Self::Plaintext { .. } => SignatureMethod::Plaintext,
        }
    }
}

/// Remembers nonces so that a replayed request is refused.
///
/// Implementations must be atomic: `check_and_insert` returns `true` only for
/// the first caller presenting a given (consumer key, token, timestamp, nonce),
/// and `false` if it was seen before (or if the store cannot tell: fail closed).
pub trait NonceStore {
    /// Records the nonce; `true` if it was fresh, `false` if already used.
    fn check_and_insert(
        &self,
        consumer_key: &str,
        token: Option<&str>,
        timestamp: u64,
        nonce: &str,
    ) -> bool;
}

/// (consumer key, token, timestamp, nonce)
type NonceKey = (String, Option<String>, u64, String);

/// An in-memory [`NonceStore`] (for tests and single-process mock servers).
/// Grows without bound unless [`InMemoryNonceStore::prune_before`] is called.
#[derive(Debug, Default)]
pub struct InMemoryNonceStore {
    seen: Mutex<HashSet<NonceKey>>,
}

impl InMemoryNonceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets nonces with a timestamp before `timestamp` (they would be refused
    /// by the timestamp window anyway).
    pub fn prune_before(&self, timestamp: u64) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.retain(|(_, _, ts, _)| *ts >= timestamp);
        }
    }

    /// Number of remembered nonces.
    pub fn len(&self) -> usize {
        self.seen.lock().map_or(0, |s| s.len())
    }

    /// True when no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceStore for InMemoryNonceStore {
    fn check_and_insert(
        &self,
        consumer_key: &str,
        token: Option<&str>,
        timestamp: u64,
        nonce: &str,
    ) -> bool {
        // A poisoned lock means a panic elsewhere: fail closed.
        self.seen.lock().is_ok_and(|mut seen| {
            seen.insert((
                consumer_key.to_owned(),
                token.map(str::to_owned),
                timestamp,
                nonce.to_owned(),
            ))
        })
    }
}

/// Why a request was refused. [`VerifyError::oauth_problem`] gives the
/// `oauth_problem` code a provider such as Jira would answer with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required `oauth_*` parameter is missing.
    #[error("missing OAuth parameter {0}")]
    ParameterAbsent(&'static str),
    /// A parameter has an invalid value (e.g. a non-numeric timestamp).
    #[error("OAuth parameter {name} is invalid: {reason}")]
    ParameterRejected {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `oauth_version` is present but not `1.0`.
    #[error("oauth_version {0:?} is not supported: send 1.0 or omit it")]
    VersionRejected(String),
    /// `oauth_signature_method` does not match the key the provider has.
    #[error("signature method {got:?} rejected: this consumer uses {expected}")]
    SignatureMethodRejected {
        /// What the request said.
        got: String,
        /// What the key requires.
        expected: &'static str,
    },
    /// The timestamp is outside the allowed window.
    #[error(
        "oauth_timestamp {timestamp} is more than {window_secs}s away from the server time {now}: check the client clock"
    )]
    TimestampRefused {
        /// The request's timestamp.
        timestamp: u64,
        /// The server's time.
        now: u64,
        /// Allowed skew in seconds.
        window_secs: u64,
    },
    /// The nonce was already used with this timestamp, consumer and token.
    #[error("oauth_nonce {0:?} was already used: send a fresh nonce per request")]
    NonceUsed(String),
    /// `oauth_body_hash` does not match the body.
    #[error("oauth_body_hash does not match the request body")]
    BodyHashInvalid,
    /// The signature does not match the rebuilt base string.
    #[error("oauth_signature is invalid for the base string {base_string:?}")]
    SignatureInvalid {
        /// The base string the provider computed (Jira echoes it as
        /// `oauth_signature_base_string`).
        base_string: String,
    },
    /// The request URL cannot be parsed.
    #[error(transparent)]
    Url(#[from] UrlError),
}

impl VerifyError {
    /// The OAuth problem-reporting code (`signature_invalid`, `nonce_used`, …).
    pub fn oauth_problem(&self) -> &'static str {
        match self {
            Self::ParameterAbsent(_) => "parameter_absent",
            Self::ParameterRejected { .. } | Self::Url(_) => "parameter_rejected",
            Self::VersionRejected(_) => "version_rejected",
            Self::SignatureMethodRejected { .. } => "signature_method_rejected",
            Self::TimestampRefused { .. } => "timestamp_refused",
            Self::NonceUsed(_) => "nonce_used",
            Self::BodyHashInvalid | Self::SignatureInvalid { .. } => "signature_invalid",
        }
    }
}

/// A request that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// `oauth_consumer_key`.
    pub consumer_key: String,
    /// `oauth_token`, if any.
    pub token: Option<String>,
    /// The base string that was verified.
    pub base_string: String,
}

/// The absolute URL of a request as a provider sees it: the request URI itself
/// when it is absolute, otherwise `{default_scheme}://{Host header}{path?query}`
/// (servers such as hyper receive origin-form URIs like `/rest/api/2/myself?x=1`).
///
/// ```
/// let uri: http::Uri = "/rest/api/2/myself?x=1".parse().unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::HOST, "127.0.0.1:8080".parse().unwrap());
/// assert_eq!(
///     jira_oauth::request_url(&uri, &headers, "http").unwrap(),
///     "http://127.0.0.1:8080/rest/api/2/myself?x=1",
/// );
/// ```
pub fn request_url(
    uri: &http::Uri,
    headers: &http::HeaderMap,
    default_scheme: &str,
) -> Result<String, UrlError> {
    if uri.scheme().is_some() && uri.authority().is_some() {
        return Ok(uri.to_string());
    }
    let host = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .filter(|h| !h.is_empty())
        .ok_or_else(|| UrlError::MissingHost(uri.to_string()))?;
    let path_and_query = uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let url = format!("{default_scheme}://{host}{path_and_query}");
    // validate the result so callers get a UrlError now rather than later
    split_url(&url)?;
    Ok(url)
}

/// Rebuilds the signature base string of a request from its parts and the
/// parsed `Authorization` header parameters (`oauth_signature` and `realm` excluded).
pub fn base_string_for(
    request: &RequestParts<'_>,
    params: &OAuthParams,
) -> Result<String, UrlError> {
    let split = split_url(request.url)?;
    let all = collect_parameters(split.query, request.body, params.iter());
    Ok(base_string_from_parts(
        request.method,
        &split.base_uri(),
        &all.normalized(),
    ))
}

/// Verifies a signed request as an OAuth 1.0a provider does.
///
/// Checks, in order: required parameters (`oauth_consumer_key`,
/// `oauth_signature_method`, `oauth_signature`, and for non-PLAINTEXT methods
/// `oauth_timestamp` and `oauth_nonce`), `oauth_version` (absent or `1.0`), the
/// signature method against `key`, the timestamp against `now` ± `window`,
/// `oauth_body_hash` (if present, against the raw body), the signature over the
/// rebuilt base string, and finally the nonce (recorded only for requests whose
/// signature is valid, so forged requests cannot burn nonces).
pub fn verify(
    request: &RequestParts<'_>,
    params: &OAuthParams,
    key: &VerifyKey<'_>,
    nonces: &(impl NonceStore + ?Sized),
    now: u64,
    window: Duration,
) -> Result<Verified, VerifyError> {
    let consumer_key = params
        .consumer_key()
        .ok_or(VerifyError::ParameterAbsent("oauth_consumer_key"))?;
    let method = params
        .signature_method()
        .ok_or(VerifyError::ParameterAbsent("oauth_signature_method"))?;
    let signature = params
        .signature()
        .ok_or(VerifyError::ParameterAbsent("oauth_signature"))?;
    if let Some(v) = params.version()
        && v != "1.0"
    {
        return Err(VerifyError::VersionRejected(v.to_owned()));
    }
    if SignatureMethod::from_name(method) != Some(key.method()) {
        return Err(VerifyError::SignatureMethodRejected {
            got: method.to_owned(),
            expected: key.method().as_str(),
        });
    }
    let needs_nonce = key.method() != SignatureMethod::Plaintext;
    let timestamp = match params.timestamp() {
        Some(ts) => Some(
            ts.parse::<u64>()
                .ok()
                .filter(|_| ts.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(VerifyError::ParameterRejected {
                    name: "oauth_timestamp",
                    reason: "not a whole number of seconds since the epoch",
                })?,
        ),
        None if needs_nonce => return Err(VerifyError::ParameterAbsent("oauth_timestamp")),
        None => None,
    };
    let nonce = match params.nonce() {
        Some(n) => Some(n),
        None if needs_nonce => return Err(VerifyError::ParameterAbsent("oauth_nonce")),
        None => None,
    };
    if let Some(ts) = timestamp
        && ts.abs_diff(now) > window.as_secs()
    {
        return Err(VerifyError::TimestampRefused {
            timestamp: ts,
            now,
            window_secs: window.as_secs(),
        });
    }
    if let Some(expected) = params.body_hash() {
        let body = match request.body {
            Body::Empty => &[][..],
            Body::Form(b) | Body::Other(b) => b,
        };
        let actual = body_hash(body);
        if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(VerifyError::BodyHashInvalid);
        }
    }
    let base_string = base_string_for(request, params)?;
    let valid = match key {
        VerifyKey::RsaSha1(public) => STANDARD
            .decode(signature.as_bytes())
            .is_ok_and(|raw| public.verify_sha1(base_string.as_bytes(), &raw)),
        VerifyKey::HmacSha1 {
            consumer_secret,
            token_secret,
        } => {
            let expected = hmac_sha1(
                &secret_key(consumer_secret, *token_secret),
                base_string.as_bytes(),
            );
            STANDARD
                .decode(signature.as_bytes())
                .is_ok_and(|raw| bool::from(raw.ct_eq(&expected)))
        }
        VerifyKey::Plaintext {
            consumer_secret,
            token_secret,
        } => {
            let expected = secret_key(consumer_secret, *token_secret);
            bool::from(signature.as_bytes().ct_eq(expected.as_bytes()))
        }
    };
    if !valid {
        return Err(VerifyError::SignatureInvalid { base_string });
    }
    if let (Some(ts), Some(nonce)) = (timestamp, nonce)
        && !nonces.check_and_insert(consumer_key, params.token(), ts, nonce)
    {
        return Err(VerifyError::NonceUsed(nonce.to_owned()));
    }
    Ok(Verified {
        consumer_key: consumer_key.to_owned(),
        token: params.token().map(str::to_owned),
        base_string,
    })
}
