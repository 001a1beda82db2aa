//! Helpers for the Jira contract tests: a wiremock matcher that checks real RSA-SHA1
//! signatures with `jira-oauth`'s verifier, a process-wide nonce ledger, and [`on`], the
//! one-line stub builder the tests share.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use jira_oauth::{Body, InMemoryNonceStore, RequestParts, RsaPublicKey, VerifyKey};
use wiremock::matchers::{method, path};
use wiremock::{Match, MockBuilder, MockServer, Request, ResponseTemplate};

#[allow(clippy::duration_suboptimal_units)] // from_mins needs 1.91 (MSRV 1.88)
const FIVE_MINUTES: Duration = Duration::from_secs(300);

/// The consumer key pair committed under tests/fixtures/jira/.
pub const PRIVATE_KEY: &str = include_str!("../fixtures/jira/consumer_private_key.pem");
/// Its public half (what Jira's application link holds).
pub const PUBLIC_KEY: &str = include_str!("../fixtures/jira/consumer_public_key.pem");
/// An unrelated key: signatures made with it must be refused.
pub const OTHER_PRIVATE_KEY: &str = include_str!("../fixtures/jira/other_private_key.pem");

/// The URL the client signed: wiremock reports `http://localhost/...`, so rebuild it from
/// the `Host` header as a Jira behind no proxy would.
pub fn signed_url(request: &Request) -> String {
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

pub fn authorization(request: &Request) -> Option<String> {
    request
        .headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
}

/// Verifies the request's `Authorization: OAuth` header with the public key, the way Jira's
/// OAuth filter does (base string rebuilt from method, URL and form body; timestamp window).
/// Returns the parsed parameters on success.
pub fn verify_oauth(
    request: &Request,
    public_key: &RsaPublicKey,
) -> Option<jira_oauth::OAuthParams> {
    let header = authorization(request)?;
    let params = jira_oauth::parse_authorization_header(&header).ok()?;
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
        FIVE_MINUTES,
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
    pub fn new(consumer_key: &str, token: Option<&str>) -> Self {
        Self {
            public_key: RsaPublicKey::from_pem(PUBLIC_KEY).expect("fixture public key"),
            consumer_key: consumer_key.to_owned(),
            token: token.map(str::to_owned),
            verifier: None,
        }
    }

    pub fn with_verifier(mut self, verifier: &str) -> Self {
        self.verifier = Some(verifier.to_owned());
        self
    }
}

impl Match for OAuthSigned {
    fn matches(&self, request: &Request) -> bool {
        let Some(params) = verify_oauth(request, &self.public_key) else {
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
/// so far in this test binary. Returns how many OAuth requests were checked.
pub fn assert_unique_nonces(requests: &[Request]) -> usize {
    let mut ledger = ledger()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// A stub for `method path` (see [`Stub`]).
pub fn on(http_method: &str, url_path: &str) -> Stub {
    Stub {
        mock: wiremock::Mock::given(method(http_method)).and(path(url_path)),
        response: ResponseTemplate::new(200),
        times: None,
    }
}

/// One stubbed answer of the mock Jira: matchers, the reply, and how often it is expected
/// (checked when the mock server is dropped).
pub struct Stub {
    mock: MockBuilder,
    response: ResponseTemplate,
    times: Option<u64>,
}

impl Stub {
    /// Another matcher (e.g. [`OAuthSigned`]).
    pub fn and(mut self, matcher: impl Match + 'static) -> Self {
        self.mock = self.mock.and(matcher);
        self
    }

    /// The reply (200 with an empty body unless set).
    pub fn reply(mut self, response: ResponseTemplate) -> Self {
        self.response = response;
        self
    }

    /// Expected exactly `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    pub async fn mount(self, server: &MockServer) {
        let mut mock = self.mock.respond_with(self.response);
        if let Some(n) = self.times {
            mock = mock.expect(n);
        }
        mock.mount(server).await;
    }
}
