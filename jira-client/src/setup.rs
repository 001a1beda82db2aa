//! [`OAuthSetupClient`]: the OAuth 1.0a three-legged dance, sent by the reqwest adapter.

use crate::ops::oauth;
use crate::transport::{ClientOptions, Transport};
use crate::{BaseUrl, Consumer, JiraError, TokenPair};

/// The OAuth 1.0a three-legged flow against Jira's servlets (Sentry's `JiraServerSetupClient`),
/// built on [`ops::oauth`](crate::ops::oauth) and so on `jira-oauth`'s flow.
///
/// ```no_run
/// # async fn demo(consumer: jira_client::Consumer) -> Result<(), jira_client::JiraError> {
/// use jira_client::OAuthSetupClient;
/// let setup = OAuthSetupClient::new("https://jira.example.com", true, consumer)?;
/// let request = setup.request_token(None).await?;
/// println!("approve at {}", setup.authorize_url(&request.token));
/// // ... Jira redirects the browser back with ?oauth_token=...
/// let access = setup.access_token(&request, "verifier-or-callback-token").await?;
/// # let _ = access; Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthSetupClient {
    transport: Transport,
    consumer: Consumer,
}

impl std::fmt::Debug for OAuthSetupClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSetupClient")
            .field("base_url", &self.base_url())
            .field("consumer_key", &self.consumer.consumer_key)
            .finish_non_exhaustive()
    }
}

impl OAuthSetupClient {
    /// A setup client with default options.
    pub fn new(base_url: &str, verify_ssl: bool, consumer: Consumer) -> Result<Self, JiraError> {
        Self::with_options(base_url, consumer, &ClientOptions::verify_ssl(verify_ssl))
    }

    /// A setup client with explicit options.
    pub fn with_options(
        base_url: &str,
        consumer: Consumer,
        options: &ClientOptions,
    ) -> Result<Self, JiraError> {
        Ok(Self {
            transport: Transport::new(base_url, options)?,
            consumer,
        })
    }

    fn base(&self) -> &BaseUrl {
        self.transport.base()
    }

    /// The normalised base URL.
    pub fn base_url(&self) -> &str {
        self.base().as_str()
    }

    /// `host[:port]` of the base URL.
    pub fn host(&self) -> &str {
        self.base().host()
    }

    /// The consumer this client signs as.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// Step 1: see [`oauth::request_token_request`].
    pub async fn request_token(&self, callback: Option<&str>) -> Result<TokenPair, JiraError> {
        let request = oauth::request_token_request(self.base(), &self.consumer, callback)?;
        let response = self.transport.send(oauth::REQUEST_TOKEN, request).await?;
        oauth::parse_token_reply(oauth::REQUEST_TOKEN, &response)
    }

    /// Step 2: `{base}/plugins/servlet/oauth/authorize?oauth_token=<token>`.
    pub fn authorize_url(&self, request_token: &str) -> String {
        oauth::authorize_url(self.base(), request_token)
    }

    /// Step 3: see [`oauth::access_token_request`].
    pub async fn access_token(
        &self,
        request: &TokenPair,
        verifier: &str,
    ) -> Result<TokenPair, JiraError> {
        let built = oauth::access_token_request(self.base(), &self.consumer, request, verifier)?;
        let response = self.transport.send(oauth::ACCESS_TOKEN, built).await?;
        oauth::parse_token_reply(oauth::ACCESS_TOKEN, &response)
    }
}
