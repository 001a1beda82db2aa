//! Helpers for the Jira contract tests: `jira_sim::wiremock`'s signed-request matcher bound to
//! the fixture key, its nonce ledger, and [`on`], the one-line stub builder the tests share.

use jira_oauth::RsaPublicKey;
use jira_sim::wiremock::OAuthSigned;
pub use jira_sim::wiremock::{assert_unique_nonces, authorization};
use wiremock::matchers::{method, path};
use wiremock::{Match, MockBuilder, MockServer, ResponseTemplate};

/// The consumer key pair committed under tests/fixtures/jira/.
pub const PRIVATE_KEY: &str = include_str!("../fixtures/jira/consumer_private_key.pem");
/// Its public half (what Jira's application link holds).
pub const PUBLIC_KEY: &str = include_str!("../fixtures/jira/consumer_public_key.pem");
/// An unrelated key: signatures made with it must be refused.
pub const OTHER_PRIVATE_KEY: &str = include_str!("../fixtures/jira/other_private_key.pem");

/// Matches only requests signed with the fixture key by `consumer_key` with `token`.
pub fn signed(consumer_key: &str, token: Option<&str>) -> OAuthSigned {
    let key = RsaPublicKey::from_pem(PUBLIC_KEY).expect("fixture public key");
    OAuthSigned::new(key, consumer_key, token)
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
