//! Client-side signing: base string, signature, `Authorization` header.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::HeaderValue;
use sha1::{Digest as _, Sha1};
use thiserror::Error;

use crate::encoding::{Parameters, percent_encode};
use crate::header::OAuthParams;
use crate::keys::{ConsumerSecret, RsaPrivateKey, Token, TokenSecret};
use crate::url::{UrlError, split_url};

/// The name of an OAuth 1.0a signature method (`oauth_signature_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureMethod {
    /// `RSA-SHA1`: RSASSA-PKCS1-v1_5 over SHA-1 with the consumer's private key (what Jira uses).
    RsaSha1,
    /// `HMAC-SHA1` keyed with `enc(consumer_secret)&enc(token_secret)`.
    HmacSha1,
    /// `PLAINTEXT`: the signature is the key `enc(consumer_secret)&enc(token_secret)` itself.
    Plaintext,
}

impl SignatureMethod {
    /// The wire name (`RSA-SHA1`, `HMAC-SHA1`, `PLAINTEXT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RsaSha1 => "RSA-SHA1",
            Self::HmacSha1 => "HMAC-SHA1",
            Self::Plaintext => "PLAINTEXT",
        }
    }

    /// Parses a wire name (exact, case-sensitive as in RFC 5849).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RSA-SHA1" => Some(Self::RsaSha1),
            "HMAC-SHA1" => Some(Self::HmacSha1),
            "PLAINTEXT" => Some(Self::Plaintext),
            _ => None,
        }
    }
}

/// The body of a request, as far as OAuth cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body<'a> {
    /// No body.
    #[default]
    Empty,
    /// An `application/x-www-form-urlencoded` body exactly as sent: its
    /// parameters are signed (RFC 5849 §3.4.1.3.1). Use [`crate::form_encode`]
    /// to build one from plain pairs.
    Form(&'a [u8]),
    /// Any other body (JSON, ...): not signed, only hashed into
    /// `oauth_body_hash` when that is requested.
    Other(&'a [u8]),
}

impl<'a> Body<'a> {
    /// Classifies a body by its `Content-Type` header value: a single-part
    /// `application/x-www-form-urlencoded` type (parameters allowed, case-insensitive)
    /// gives [`Body::Form`], an empty body without that type gives [`Body::Empty`],
    /// anything else [`Body::Other`].
    pub fn from_content_type(content_type: Option<&str>, bytes: &'a [u8]) -> Self {
        let is_form = content_type.is_some_and(|ct| {
            ct.split(';').next().is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if is_form {
            Body::Form(bytes)
        } else if bytes.is_empty() {
            Body::Empty
        } else {
            Body::Other(bytes)
        }
    }

    fn bytes(self) -> &'a [u8] {
        match self {
            Body::Empty => &[],
            Body::Form(b) | Body::Other(b) => b,
        }
    }
}

/// What is signed about a request: method, absolute URL (query included), body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// HTTP method (upper-cased in the base string).
    pub method: &'a str,
    /// Absolute URL as sent, query included (path kept exactly, escapes included).
    pub url: &'a str,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> RequestParts<'a> {
    /// A request without a body.
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Self {
            method,
            url,
            body: Body::Empty,
        }
    }

    /// The same request with a body.
    #[must_use]
    pub fn with_body(self, body: Body<'a>) -> Self {
        Self { body, ..self }
    }
}

/// Builds the signature base string of RFC 5849 §3.4.1:
/// `METHOD&enc(base_uri)&enc(normalized_parameters)`, where the parameters are
/// the URL's query, a form body, and `protocol_params` (the `oauth_*` values,
/// plain, not encoded), never `realm` and never `oauth_signature`.
///
/// ```
/// use jira_oauth::{RequestParts, signature_base_string};
/// let base = signature_base_string(
///     &RequestParts::new("get", "http://example.com/?n=v"),
///     &[("oauth_signature", "ignored"), ("realm", "r")],
/// ).unwrap();
/// assert_eq!(base, "GET&http%3A%2F%2Fexample.com%2F&n%3Dv");
/// ```
pub fn signature_base_string(
    request: &RequestParts<'_>,
    protocol_params: &[(&str, &str)],
) -> Result<String, UrlError> {
    let split = split_url(request.url)?;
    let params = collect_parameters(
        split.query,
        request.body,
        protocol_params
            .iter()
            .copied()
            .filter(|(name, _)| *name != "realm"),
    );
    Ok(base_string_from_parts(
        request.method,
        &split.base_uri(),
        &params.normalized(),
    ))
}

/// The parameters of RFC 5849 §3.4.1.3.1: the query, a form body and the
/// protocol parameters, with `oauth_signature` excluded from every source.
pub(crate) fn collect_parameters<'a>(
    query: Option<&str>,
    body: Body<'_>,
    protocol: impl Iterator<Item = (&'a str, &'a str)>,
) -> Parameters {
    let mut params = Parameters::new();
    if let Some(q) = query {
        params.extend_from_form(q.as_bytes());
    }
    if let Body::Form(b) = body {
        params.extend_from_form(b);
    }
    for (name, value) in protocol {
        params.push(name, value);
    }
    params.retain(|name, _| name != b"oauth_signature");
    params
}

pub(crate) fn base_string_from_parts(method: &str, base_uri: &str, normalized: &str) -> String {
    let mut out = String::with_capacity(method.len() + base_uri.len() * 2 + normalized.len() * 2);
    out.push_str(&percent_encode(&method.to_ascii_uppercase()));
    out.push('&');
    out.push_str(&percent_encode(base_uri));
    out.push('&');
    out.push_str(&percent_encode(normalized));
    out
}

/// `enc(consumer_secret)&enc(token_secret)`: the HMAC-SHA1 key and the PLAINTEXT signature.
pub(crate) fn secret_key(consumer: &ConsumerSecret, token: Option<&TokenSecret>) -> String {
    let mut key = percent_encode(consumer.expose_secret());
    key.push('&');
    if let Some(t) = token {
        key.push_str(&percent_encode(t.expose_secret()));
    }
    key
}

pub(crate) fn hmac_sha1(key: &str, message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `oauth_body_hash`: base64 of the SHA-1 of the raw body bytes.
///
/// ```
/// assert_eq!(jira_oauth::body_hash(b"Hello World!"), "Lve95gjOVATpfV8EL5X4nxwjKHE=");
/// ```
pub fn body_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha1::digest(body))
}

/// The secret material a [`Signer`] signs with.
#[derive(Clone, Debug)]
enum Credentials {
    Rsa(RsaPrivateKey),
    Hmac(ConsumerSecret),
    Plaintext(ConsumerSecret),
}

/// Signs requests for one consumer (and optionally one token).
///
/// Cheap to clone (the RSA key is shared). See the crate docs for examples.
#[derive(Clone, Debug)]
pub struct Signer {
    consumer_key: String,
    credentials: Credentials,
    token: Option<Token>,
    realm: Option<String>,
}

/// Per-request options: nonce, timestamp, three-legged extras, body hash.
///
/// The defaults (fresh random nonce, current time, `oauth_version="1.0"`, no
/// body hash) are what a Jira client wants; fix nonce and timestamp in tests.
///
/// ```
/// let opts = jira_oauth::SignOptions::new().nonce("jiranonce1").timestamp(1_700_000_000);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignOptions {
    /// Fixed `oauth_nonce` (default: 128 random bits from the OS, hex).
    pub nonce: Option<String>,
    /// Fixed `oauth_timestamp` in seconds since the epoch (default: now).
    pub timestamp: Option<u64>,
    /// `oauth_callback` (request-token step).
    pub callback: Option<String>,
    /// `oauth_verifier` (access-token step).
    pub verifier: Option<String>,
    /// Send `oauth_body_hash` for a non-form body (an empty body is hashed as
    /// the empty string). Never sent for form bodies.
    pub body_hash: bool,
    /// Send `oauth_version="1.0"` (default `true`, as Jira clients do).
    pub include_version: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            nonce: None,
            timestamp: None,
            callback: None,
            verifier: None,
            body_hash: false,
            include_version: true,
        }
    }
}

impl SignOptions {
    /// Defaults: random nonce, current time, `oauth_version="1.0"`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses a fixed nonce.
    #[must_use]
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Uses a fixed timestamp (seconds since the Unix epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets `oauth_callback`.
    #[must_use]
    pub fn callback(mut self, callback: impl Into<String>) -> Self {
        self.callback = Some(callback.into());
        self
    }

    /// Sets `oauth_verifier`.
    #[must_use]
    pub fn verifier(mut self, verifier: impl Into<String>) -> Self {
        self.verifier = Some(verifier.into());
        self
    }

    /// Sends `oauth_body_hash` for non-form bodies.
    #[must_use]
    pub fn with_body_hash(mut self, on: bool) -> Self {
        self.body_hash = on;
        self
    }

    /// Omits `oauth_version` (only for reproducing vectors that lack it).
    #[must_use]
    pub fn without_version(mut self) -> Self {
        self.include_version = false;
        self
    }
}

/// The result of signing: the `Authorization` header value and what went into it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signed {
    /// `OAuth realm="…", oauth_consumer_key="…", …, oauth_signature="…"`.
    pub authorization: String,
    /// The signature base string (compare with the `oauth_signature_base_string`
    /// that Jira echoes in a 401 body).
    pub base_string: String,
    /// The signature before percent-encoding (base64 for RSA-SHA1 and HMAC-SHA1).
    pub signature: String,
    /// All protocol parameters sent, `oauth_signature` last.
    pub params: OAuthParams,
}

impl Signed {
    /// The `Authorization` header value as an [`http::HeaderValue`].
    pub fn header_value(&self) -> HeaderValue {
        // Every byte of the header is printable ASCII (all values are percent-encoded).
        HeaderValue::from_str(&self.authorization)
            .unwrap_or_else(|_| unreachable!("percent-encoded header is visible ASCII"))
    }
}

/// Signing failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The request URL cannot be signed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// `http::Request` with a relative URI (origin-form).
    #[error(
        "the request URI {0:?} is relative: sign requests with an absolute URI (scheme://host/path)"
    )]
    RelativeUri(String),
    /// The OS random number generator failed while making a nonce.
    #[error("could not draw a random nonce from the OS ({0}); pass a nonce in SignOptions")]
    Random(String),
    /// The system clock is before 1970.
    #[error("the system clock is before the Unix epoch; pass a timestamp in SignOptions")]
    Clock,
    /// The RSA signature operation failed.
    #[error("RSA-SHA1 signing failed: {0}")]
    Rsa(String),
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// 128 random bits from the OS RNG, hex-encoded.
pub fn fresh_nonce() -> Result<String, SignError> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| SignError::Random(e.to_string()))?;
    let mut out = String::with_capacity(32);
    for b in buf {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    Ok(out)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> Result<u64, SignError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| SignError::Clock)
}

impl Signer {
    /// RSA-SHA1 signer (what Jira application links use).
    pub fn rsa_sha1(consumer_key: impl Into<String>, key: RsaPrivateKey) -> Self {
        Self::with(consumer_key, Credentials::Rsa(key))
    }

    /// HMAC-SHA1 signer.
    pub fn hmac_sha1(consumer_key: impl Into<String>, secret: ConsumerSecret) -> Self {
        Self::with(consumer_key, Credentials::Hmac(secret))
    }

    /// PLAINTEXT signer (only over TLS).
    pub fn plaintext(consumer_key: impl Into<String>, secret: ConsumerSecret) -> Self {
        Self::with(consumer_key, Credentials::Plaintext(secret))
    }

    fn with(consumer_key: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            consumer_key: consumer_key.into(),
            credentials,
            token: None,
            realm: None,
        }
    }

    /// The same signer acting for a token (`oauth_token`; its secret is used by
    /// HMAC-SHA1 and PLAINTEXT).
    #[must_use]
    pub fn with_token(&self, token: Token) -> Self {
        Self {
            token: Some(token),
            ..self.clone()
        }
    }

    /// The same signer without a token (request-token step).
    #[must_use]
    pub fn without_token(&self) -> Self {
        Self {
            token: None,
            ..self.clone()
        }
    }

    /// Adds `realm="…"` (first in the header, never signed).
    #[must_use]
    pub fn with_realm(&self, realm: impl Into<String>) -> Self {
        Self {
            realm: Some(realm.into()),
            ..self.clone()
        }
    }

    /// The consumer key.
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The token, if any.
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// The signature method.
    pub fn method(&self) -> SignatureMethod {
        match self.credentials {
            Credentials::Rsa(_) => SignatureMethod::RsaSha1,
            Credentials::Hmac(_) => SignatureMethod::HmacSha1,
            Credentials::Plaintext(_) => SignatureMethod::Plaintext,
        }
    }

    /// Signs a base string with this signer's credentials; returns the
    /// signature before percent-encoding.
    pub fn sign_base_string(&self, base_string: &str) -> Result<String, SignError> {
        let token_secret = self.token.as_ref().map(Token::secret);
        Ok(match &self.credentials {
            Credentials::Rsa(key) => STANDARD.encode(key.sign_sha1(base_string.as_bytes())?),
            Credentials::Hmac(secret) => STANDARD.encode(hmac_sha1(
                &secret_key(secret, token_secret),
                base_string.as_bytes(),
            )),
            Credentials::Plaintext(secret) => secret_key(secret, token_secret),
        })
    }

    /// Signs a request: returns the `Authorization` header value, the base string
    /// and the signature.
    pub fn sign(
        &self,
        request: &RequestParts<'_>,
        options: &SignOptions,
    ) -> Result<Signed, SignError> {
        let split = split_url(request.url)?;
        let nonce = match &options.nonce {
            Some(n) => n.clone(),
            None => fresh_nonce()?,
        };
        let timestamp = match options.timestamp {
            Some(t) => t,
            None => unix_now()?,
        }
        .to_string();

        let mut protocol: Vec<(&str, String)> = Vec::with_capacity(10);
        protocol.push(("oauth_consumer_key", self.consumer_key.clone()));
        if let Some(token) = &self.token {
            protocol.push(("oauth_token", token.key().to_owned()));
        }
        protocol.push(("oauth_signature_method", self.method().as_str().to_owned()));
        protocol.push(("oauth_timestamp", timestamp));
        protocol.push(("oauth_nonce", nonce));
        if options.include_version {
            protocol.push(("oauth_version", "1.0".to_owned()));
        }
        if let Some(cb) = &options.callback {
            protocol.push(("oauth_callback", cb.clone()));
        }
        if let Some(v) = &options.verifier {
            protocol.push(("oauth_verifier", v.clone()));
        }
        if options.body_hash && !matches!(request.body, Body::Form(_)) {
            protocol.push(("oauth_body_hash", body_hash(request.body.bytes())));
        }

        let params = collect_parameters(
            split.query,
            request.body,
            protocol.iter().map(|(n, v)| (*n, v.as_str())),
        );
        let base_string =
            base_string_from_parts(request.method, &split.base_uri(), &params.normalized());
        let signature = self.sign_base_string(&base_string)?;

        let mut header = OAuthParams::new();
        if let Some(realm) = &self.realm {
            header.set_realm(realm.clone());
        }
        for (name, value) in protocol {
            header.push_unchecked(name.to_owned(), value);
        }
        header.push_unchecked("oauth_signature".to_owned(), signature.clone());
        Ok(Signed {
            authorization: header.to_header_value(),
            base_string,
            signature,
            params: header,
        })
    }

    /// Signs an [`http::Request`] in place: reads its method, absolute URI and
    /// (for `application/x-www-form-urlencoded` bodies) its form parameters,
    /// then sets the `Authorization` header. Returns what was signed.
    pub fn sign_request<B: AsRef<[u8]>>(
        &self,
        request: &mut http::Request<B>,
        options: &SignOptions,
    ) -> Result<Signed, SignError> {
        let uri = request.uri().to_string();
        if request.uri().scheme().is_none() || request.uri().authority().is_none() {
            return Err(SignError::RelativeUri(uri));
        }
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let body = Body::from_content_type(content_type, request.body().as_ref());
        let parts = RequestParts {
            method: request.method().as_str(),
            url: &uri,
            body,
        };
        let signed = self.sign(&parts, options)?;
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, signed.header_value());
        Ok(signed)
    }
}
