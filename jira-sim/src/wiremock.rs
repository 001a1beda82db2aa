//! Jira's OAuth filter as a [`wiremock`] matcher, for tests that stub single Jira replies
//! instead of running the whole [`SimulatedJira`](crate::SimulatedJira) (feature `wiremock`).
//!
//! [`OAuthSigned`] matches only requests whose `Authorization: OAuth` header carries a valid
//! RSA-SHA1 signature, checked with `jira-oauth`'s verifier the way the simulated Jira checks
//! it; [`assert_unique_nonces`] checks that no nonce repeats across a whole test binary.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use jira_oauth::RsaPublicKey;
//! use jira_sim::wiremock::{OAuthSigned, assert_unique_nonces};
//! use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};
//!
//! # const PUBLIC_KEY: &str = include_str!("../keys/consumer_public_key.pem");
//! let jira = MockServer::start().await;
//! let key = RsaPublicKey::from_pem(PUBLIC_KEY).unwrap();
//! Mock::given(path("/rest/api/2/myself"))
//!     .and(OAuthSigned::new(key, "sentry-bot", Some("access-token")))
//!     .respond_with(ResponseTemplate::new(200))
//!     .mount(&jira)
//!     .await;
//!
//! // An unsigned request does not match: wiremock answers 404.
//! # let _ = rustls::crypto::ring::default_provider().install_default();
//! let reply = reqwest::get(format!("{}/rest/api/2/myself", jira.uri())).await.unwrap();
//! assert_eq!(reply.status(), 404);
//! assert_eq!(assert_unique_nonces(&jira.received_requests().await.unwrap()), 0);
//! # }
//! ```

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use jira_oauth::{Body, InMemoryNonceStore, OAuthParams, RequestParts, RsaPublicKey, VerifyKey};
use wiremock::{Match, Request};

use crate::server::TIMESTAMP_WINDOW;

/// The `Authorization` header of a received request.
#[must_use]
pub fn authorization(request: &Request) -> Option<String> {
    request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

/// The parsed `Authorization: OAuth` parameters of a received request (`None` without an
/// `OAuth` header or when it does not parse).
#[must_use]
pub fn oauth_params(request: &Request) -> Option<OAuthParams> {
    jira_oauth::parse_authorization_header(&authorization(request)?).ok()
}

/// The URL the client signed: wiremock reports `http://localhost/...`, so rebuild it from the
/// `Host` header as a Jira behind no proxy would.
fn signed_url(request: &Request) -> String {
    let host = request
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut url = format!("http://{host}{}", request.url.path());
    if let Some(query) = request.url.query() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Verifies the request's `Authorization: OAuth` header with the public key, the way Jira's
/// OAuth filter does (base string rebuilt from method, URL and form body; timestamp window).
fn verify(request: &Request, public_key: &RsaPublicKey) -> Option<OAuthParams> {
    let params = oauth_params(request)?;
    let url = signed_url(request);
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|h| h.to_str().ok());
    let parts = RequestParts::new(request.method.as_str(), &url)
        .with_body(Body::from_content_type(content_type, &request.body));
    let now = jira_oauth::unix_now().ok()?;
    // A fresh store per evaluation: wiremock may evaluate one request against several mocks.
    // Nonce uniqueness is asserted over all received requests by `assert_unique_nonces`.
    let store = InMemoryNonceStore::new();
    jira_oauth::verify(
        &parts,
        &params,
        &VerifyKey::RsaSha1(public_key),
        &store,
        now,
        TIMESTAMP_WINDOW,
    )
    .ok()?;
    Some(params)
}

/// Matches only requests carrying a valid RSA-SHA1 signature by `consumer_key`, with the
/// expected `oauth_token` (or none) and, if set, the expected `oauth_verifier`.
pub struct OAuthSigned {
    public_key: RsaPublicKey,
    consumer_key: String,
    token: Option<String>,
    verifier: Option<String>,
}

impl OAuthSigned {
    /// Signed with the private half of `public_key` by `consumer_key`, with `token`.
    #[must_use]
    pub fn new(public_key: RsaPublicKey, consumer_key: &str, token: Option<&str>) -> Self {
        Self {
            public_key,
            consumer_key: consumer_key.to_owned(),
            token: token.map(str::to_owned),
            verifier: None,
        }
    }

    /// Also carrying this `oauth_verifier` (the access-token request).
    #[must_use]
    pub fn with_verifier(mut self, verifier: &str) -> Self {
        self.verifier = Some(verifier.to_owned());
        self
    }
}

impl Match for OAuthSigned {
    fn matches(&self, request: &Request) -> bool {
        let Some(params) = verify(request, &self.public_key) else {
            return false;
        };
        params.consumer_key() == Some(self.consumer_key.as_str())
            && params.signature_method() == Some("RSA-SHA1")
            && params.token() == self.token.as_deref()
            && (self.verifier.is_none() || params.verifier() == self.verifier.as_deref())
    }
}

fn ledger() -> &'static Mutex<HashSet<String>> {
    static LEDGER: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LEDGER.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Asserts that no `oauth_nonce` repeats among `requests`, nor across every request checked
/// so far in this process (a test binary). Returns how many OAuth requests were checked.
///
/// # Panics
/// When a nonce repeats, or an `OAuth` header does not parse or has no nonce.
pub fn assert_unique_nonces(requests: &[Request]) -> usize {
    let mut ledger = ledger().lock().unwrap_or_else(PoisonError::into_inner);
    let mut count = 0;
    for request in requests {
        let Some(header) = authorization(request) else {
            continue;
        };
        if !header.starts_with("OAuth ") {
            continue;
        }
        let params =
            jira_oauth::parse_authorization_header(&header).expect("parsable OAuth header");
        let nonce = params
            .nonce()
            .expect("every OAuth request has a nonce")
            .to_owned();
        assert!(
            ledger.insert(nonce.clone()),
            "oauth_nonce {nonce} was sent twice"
        );
        count += 1;
    }
    count
}
