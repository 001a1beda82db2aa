//! The shared scenario builder: one mock Jira per test, stubs declared in one line each, the
//! clients under test, and the closing nonce check.
//!
//! ```ignore
//! let jira = Scenario::start().await;
//! jira.on("GET", "/rest/api/2/serverInfo").signed("ck", Some("at")).json_text(200, SERVER_INFO_V9).mount().await;
//! let info = jira.client("ck", "at").server_info().await.unwrap();
//! let requests = jira.finish().await;
//! ```

use std::sync::Arc;

use jira_client::{
    Auth, CallCounters, ClientOptions, Consumer, JiraClient, OAuthSetupClient, PrivateKey,
    SecretString, TokenPair,
};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Match, MockBuilder, MockServer, Request, ResponseTemplate};

use crate::fixtures::PRIVATE_KEY;
use crate::signature::{assert_unique_nonces, signed};

/// The consumer `key` with the fixture private key.
pub fn consumer(key: &str) -> Consumer {
    consumer_with(key, PRIVATE_KEY)
}

/// The consumer `key` with the given PEM key.
pub fn consumer_with(key: &str, pem: &str) -> Consumer {
    Consumer {
        consumer_key: key.to_owned(),
        private_key: PrivateKey::from_pem(pem).expect("fixture key"),
    }
}

/// OAuth 1.0a credentials of consumer `consumer_key` with access token `token`.
pub fn oauth(consumer_key: &str, token: &str) -> Auth {
    Auth::oauth1(
        consumer(consumer_key),
        TokenPair {
            token: token.to_owned(),
            secret: SecretString::new("access-token-secret"),
        },
    )
}

/// One mock Jira.
pub struct Scenario {
    server: MockServer,
}

impl Scenario {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    /// The base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A stub for `method path`, answering 200 with an empty body, expected once, until
    /// changed.
    pub fn on(&self, http_method: &str, url_path: &str) -> Stub<'_> {
        Stub {
            scenario: self,
            mock: wiremock::Mock::given(method(http_method)).and(path(url_path)),
            response: ResponseTemplate::new(200),
            times: Some(1),
        }
    }

    /// A REST client signing as `consumer_key` with access token `token`.
    pub fn client(&self, consumer_key: &str, token: &str) -> JiraClient {
        JiraClient::new(&self.uri(), true, oauth(consumer_key, token)).expect("client")
    }

    /// A REST client with options and a call counter.
    pub fn counted_client(
        &self,
        auth: Auth,
        options: ClientOptions,
    ) -> (JiraClient, Arc<CallCounters>) {
        let counters = Arc::new(CallCounters::default());
        let options = options.with_observer(counters.clone());
        let client = JiraClient::with_options(&self.uri(), auth, &options).expect("client");
        (client, counters)
    }

    /// A setup client for the OAuth dance.
    pub fn setup(&self, consumer: Consumer) -> OAuthSetupClient {
        OAuthSetupClient::new(&self.uri(), true, consumer).expect("setup client")
    }

    /// What the mock received so far.
    pub async fn received(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Every test ends with this: the nonce check over everything the mock received. The
    /// stubs' expected call counts are checked when the scenario is dropped.
    pub async fn finish(&self) -> Vec<Request> {
        let requests = self.received().await;
        assert_unique_nonces(&requests);
        requests
    }
}

/// One stubbed answer of the mock Jira.
pub struct Stub<'a> {
    scenario: &'a Scenario,
    mock: MockBuilder,
    response: ResponseTemplate,
    times: Option<u64>,
}

impl Stub<'_> {
    /// Only requests signed by `consumer_key` (RSA-SHA1, fixture key) with `token`.
    pub fn signed(self, consumer_key: &str, token: Option<&str>) -> Self {
        self.and(signed(consumer_key, token))
    }

    /// Any other matcher.
    pub fn and(mut self, matcher: impl Match + 'static) -> Self {
        self.mock = self.mock.and(matcher);
        self
    }

    /// Answers with this template.
    pub fn reply(mut self, response: ResponseTemplate) -> Self {
        self.response = response;
        self
    }

    /// Answers `status` with a text body (a form-encoded servlet reply, an HTML page...).
    pub fn text(self, status: u16, body: &str) -> Self {
        self.reply(ResponseTemplate::new(status).set_body_string(body))
    }

    /// Answers `status` with JSON.
    pub fn json(self, status: u16, body: &Value) -> Self {
        self.reply(ResponseTemplate::new(status).set_body_json(body))
    }

    /// Answers `status` with JSON text (a fixture file) as `application/json`.
    pub fn json_text(self, status: u16, body: &str) -> Self {
        self.reply(
            ResponseTemplate::new(status)
                .set_body_raw(body.as_bytes().to_vec(), "application/json"),
        )
    }

    /// Expected exactly `n` times (checked when the scenario ends).
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// No expectation on the number of calls.
    pub fn any_times(mut self) -> Self {
        self.times = None;
        self
    }

    pub async fn mount(self) {
        let mut mock = self.mock.respond_with(self.response);
        if let Some(n) = self.times {
            mock = mock.expect(n);
        }
        mock.mount(&self.scenario.server).await;
    }
}
