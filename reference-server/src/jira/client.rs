//! The async Jira REST client ([`JiraClient`]) and the OAuth 1.0a setup client
//! ([`OAuthSetupClient`]).
//!
//! Transport rules (Sentry §2.4 plus its known weaknesses fixed):
//! * one attempt per call: no transport-level retry, so a signed request (and its nonce) is
//!   never sent twice; callers that retry call the method again, which signs afresh;
//! * redirects are not followed (a redirect changes the signed URL) and become
//!   [`JiraError::Redirect`];
//! * 30 s timeout (connect + read) by default;
//! * `verify_ssl = false` really disables certificate and host name checks;
//! * TLS is rustls with the `ring` provider and the operating system's trust store
//!   (`rustls-platform-verifier`), which helps with on-prem Jira behind a corporate CA.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Auth, Consumer, SecretString, TokenPair};
use super::error::JiraError;
use super::signing;

/// Default timeout of every call (Sentry: 30 s connect and read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Events the integration subscribes to.
pub const WEBHOOK_EVENTS: [&str; 2] = ["jira:issue_created", "jira:issue_updated"];

/// Name given to the webhook registered in Jira.
pub const DEFAULT_WEBHOOK_NAME: &str = "Issue Sync (reference-server)";

/// What one Jira call ended with, as seen by a [`CallObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// Jira answered with this HTTP status.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, DNS, TLS, reset).
    Unreachable,
}

impl CallOutcome {
    /// A metrics label: the status code (`"200"`), `"timeout"` or `"unreachable"`.
    pub fn label(&self) -> String {
        match self {
            Self::Status(code) => code.to_string(),
            Self::Timeout => "timeout".to_owned(),
            Self::Unreachable => "unreachable".to_owned(),
        }
    }
}

/// Receives one notification per Jira call (for metrics). Must be cheap and must not block.
pub trait CallObserver: Send + Sync {
    /// `operation` is a stable name such as `serverInfo`, `createWebhook`, `userByUsername`.
    fn observe(&self, operation: &'static str, outcome: CallOutcome);
}

/// A ready-made [`CallObserver`] that counts calls by operation and outcome.
///
/// ```
/// use reference_server::jira::{CallCounters, CallObserver, CallOutcome};
/// let counters = CallCounters::default();
/// counters.observe("serverInfo", CallOutcome::Status(200));
/// counters.observe("serverInfo", CallOutcome::Status(200));
/// counters.observe("createWebhook", CallOutcome::Timeout);
/// let snapshot = counters.snapshot();
/// assert_eq!(snapshot[&("serverInfo", CallOutcome::Status(200))], 2);
/// assert_eq!(counters.total(), 3);
/// ```
#[derive(Debug, Default)]
pub struct CallCounters {
    counts: Mutex<BTreeMap<(&'static str, CallOutcome), u64>>,
}

impl CallCounters {
    /// Current counts keyed by `(operation, outcome)`.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, CallOutcome), u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of calls observed so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

impl CallObserver for CallCounters {
    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((operation, outcome))
            .or_default() += 1;
    }
}

/// Transport options shared by [`JiraClient`] and [`OAuthSetupClient`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Check the server certificate and host name (Sentry's `verify_ssl`). Default `true`.
    pub verify_ssl: bool,
    /// Timeout of each call. Default [`DEFAULT_TIMEOUT`] (30 s).
    pub timeout: Duration,
    /// Notified once per call (metrics).
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            verify_ssl: true,
            timeout: DEFAULT_TIMEOUT,
            observer: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("verify_ssl", &self.verify_ssl)
            .field("timeout", &self.timeout)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl ClientOptions {
    /// Options with the given `verify_ssl` and defaults otherwise.
    pub fn verify_ssl(verify_ssl: bool) -> Self {
        Self {
            verify_ssl,
            ..Self::default()
        }
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the call observer.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// How one request is authenticated.
enum Signing<'a> {
    OAuth {
        consumer_key: &'a str,
        key: &'a signing::ParsedKey,
        token: Option<&'a str>,
        verifier: Option<&'a str>,
        callback: Option<&'a str>,
    },
    Bearer(&'a SecretString),
}

/// HTTP plumbing shared by both clients.
#[derive(Clone)]
struct Transport {
    http: reqwest::Client,
    base_url: String,
    host: String,
    observer: Option<Arc<dyn CallObserver>>,
}

impl Transport {
    fn new(base_url: &str, options: &ClientOptions) -> Result<Self, JiraError> {
        let (base_url, host) = normalize_base_url(base_url)?;
        // reqwest is built without a bundled crypto provider (no aws-lc C build); install ring
        // as the process default. An error only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .tls_danger_accept_invalid_certs(!options.verify_ssl)
            .user_agent(concat!("reference-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JiraError::Client(error_chain(&e)))?;
        Ok(Self {
            http,
            base_url,
            host,
            observer: options.observer.clone(),
        })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.base_url, path);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode_component(name));
            url.push('=');
            url.push_str(&encode_component(value));
        }
        url
    }

    /// Sends one request, once. `Ok` only for 2xx; the body is returned as bytes.
    async fn send(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        url: &str,
        json_body: Option<Vec<u8>>,
        signing: Signing<'_>,
    ) -> Result<(u16, bytes::Bytes), JiraError> {
        let authorization = match signing {
            Signing::OAuth {
                consumer_key,
                key,
                token,
                verifier,
                callback,
            } => signing::authorization(
                method.as_str(),
                url,
                key,
                &signing::OAuthParams {
                    consumer_key,
                    token,
                    verifier,
                    callback,
                },
            )
            .map_err(JiraError::Signing)?,
            Signing::Bearer(token) => format!("Bearer {}", token.expose()),
        };
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::AUTHORIZATION, authorization);
        if let Some(body) = json_body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let result = request.send().await;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let (outcome, error) = if e.is_timeout() {
                    (
                        CallOutcome::Timeout,
                        JiraError::Timeout {
                            host: self.host.clone(),
                        },
                    )
                } else {
                    (
                        CallOutcome::Unreachable,
                        JiraError::Unreachable {
                            host: self.host.clone(),
                            reason: error_chain(&e.without_url()),
                        },
                    )
                };
                self.observe(operation, outcome);
                tracing::debug!(operation, host = %self.host, error = %error, "jira call failed");
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => {
                let timeout = e.is_timeout();
                self.observe(
                    operation,
                    if timeout {
                        CallOutcome::Timeout
                    } else {
                        CallOutcome::Unreachable
                    },
                );
                return Err(if timeout {
                    JiraError::Timeout {
                        host: self.host.clone(),
                    }
                } else {
                    JiraError::Unreachable {
                        host: self.host.clone(),
                        reason: error_chain(&e.without_url()),
                    }
                });
            }
        };
        self.observe(operation, CallOutcome::Status(status));
        tracing::debug!(operation, host = %self.host, status, "jira call");
        match status {
            200..=299 => Ok((status, body)),
            300..=399 => Err(JiraError::Redirect { status, location }),
            _ => Err(JiraError::status_from_body(status, &body)),
        }
    }

    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        if let Some(observer) = &self.observer {
            observer.observe(operation, outcome);
        }
    }
}

/// Renders an error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// RFC 3986 percent-encoding of a query component (unreserved characters kept), which is
/// also the RFC 5849 encoding, so the URL Jira receives and the signed URL agree.
fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Validates a Jira base URL and returns it without trailing `/`, plus its `host[:port]`.
///
/// ```
/// use reference_server::jira::normalize_base_url;
/// let (url, host) = normalize_base_url("https://jira.example.com:8443/jira//").unwrap();
/// assert_eq!(url, "https://jira.example.com:8443/jira");
/// assert_eq!(host, "jira.example.com:8443");
/// assert!(normalize_base_url("jira.example.com/").is_err());
/// // Repaired by a WHATWG parser, but no `scheme://host` as written (found by fuzzing):
/// assert!(normalize_base_url("https:/.e/xjiarample.com/").is_err());
/// assert!(normalize_base_url("https:jira.example.com").is_err());
/// ```
pub fn normalize_base_url(url: &str) -> Result<(String, String), JiraError> {
    let invalid = |reason: &str| JiraError::InvalidBaseUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    let parsed = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    // Sentry's `urlparse(url).netloc`: the authority exactly as written (an explicit default
    // port such as `:443` is kept), so external ids match Sentry's for the same input. A URL
    // that the WHATWG parser repairs (`https:/host`, `https:host`) has no written authority:
    // Sentry's urlparse sees an empty netloc there, and so do we.
    let Some(netloc) = trimmed
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .filter(|n| !n.is_empty())
    else {
        return Err(invalid("the URL must be written as scheme://host"));
    };
    let netloc = netloc.to_owned();
    let base = trimmed.trim_end_matches('/').to_owned();
    Ok((base, netloc))
}

/// `GET /rest/api/2/serverInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServerInfo {
    /// Jira's own idea of its base URL.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Version string, e.g. `9.12.2` or `10.3.6`.
    #[serde(default)]
    pub version: String,
    /// Version numbers, e.g. `[10, 3, 6]` (absent in some mocks).
    #[serde(default)]
    pub version_numbers: Vec<u64>,
    /// `Server` for Server and Data Center, `Cloud` on Cloud.
    #[serde(default)]
    pub deployment_type: Option<String>,
    /// The instance's title (Sentry renames the integration to it).
    #[serde(default)]
    pub server_title: Option<String>,
}

impl ServerInfo {
    /// Major version from `versionNumbers[0]`, else from the leading digits of `version`.
    ///
    /// ```
    /// use reference_server::jira::ServerInfo;
    /// let v10: ServerInfo = serde_json::from_str(r#"{"baseUrl":"https://jira.example.com","version":"10.0.1"}"#).unwrap();
    /// assert_eq!(v10.major_version(), Some(10));
    /// ```
    pub fn major_version(&self) -> Option<u64> {
        if let Some(major) = self.version_numbers.first() {
            return Some(*major);
        }
        let digits: String = self
            .version
            .trim()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    }

    /// Which webhook REST resource this version uses.
    pub fn webhook_api(&self) -> WebhookApi {
        WebhookApi::for_major_version(self.major_version().unwrap_or(0))
    }
}

/// The two webhook REST resources of Jira Server/DC (jira-server-api §2.1, §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum WebhookApi {
    /// Jira up to 9.x: `/rest/webhooks/1.0/webhook`; the reply has `self`, the id is its last
    /// path segment.
    Webhooks1,
    /// Jira Data Center 10+: `/rest/jira-webhook/1.0/webhooks`; the reply has a numeric `id`.
    JiraWebhook1,
}

impl WebhookApi {
    /// `JiraWebhook1` for major version 10 and later, `Webhooks1` otherwise (Sentry PR #90116).
    pub fn for_major_version(major: u64) -> Self {
        if major >= 10 {
            Self::JiraWebhook1
        } else {
            Self::Webhooks1
        }
    }

    /// Path of the collection resource (POST creates, GET lists).
    pub fn collection_path(self) -> &'static str {
        match self {
            Self::Webhooks1 => "/rest/webhooks/1.0/webhook",
            Self::JiraWebhook1 => "/rest/jira-webhook/1.0/webhooks",
        }
    }
}

/// What to register: name, target URL (a secret: it carries the token) and events.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebhookSpec {
    /// Webhook name shown in Jira's admin UI.
    pub name: String,
    /// The delivery URL.
    pub url: SecretString,
    /// Subscribed events.
    pub events: Vec<String>,
}

impl WebhookSpec {
    /// [`DEFAULT_WEBHOOK_NAME`], the given URL and [`WEBHOOK_EVENTS`].
    pub fn new(url: impl Into<SecretString>) -> Self {
        Self {
            name: DEFAULT_WEBHOOK_NAME.to_owned(),
            url: url.into(),
            events: WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        }
    }
}

/// A registered webhook, as needed to delete it later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebhookRef {
    /// Which resource it was created at.
    pub api: WebhookApi,
    /// Its id (from `id`, or the last segment of `self`), if Jira returned one.
    pub id: Option<String>,
    /// The delivery URL, used to find the webhook by listing when Jira returned no id.
    pub url: SecretString,
}

/// Result of [`JiraClient::delete_webhook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookDeletion {
    /// Jira deleted it.
    Deleted,
    /// Jira no longer had it (404, or not found by URL).
    AlreadyGone,
}

/// One status from `GET /rest/api/2/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JiraStatus {
    /// Status id, e.g. `"10002"`.
    pub id: String,
    /// Display name, e.g. `"Done"`.
    pub name: String,
    /// Status category key: `new`, `indeterminate`, `done` or `undefined` (open set).
    pub category_key: Option<String>,
}

/// A Jira Server/DC user (`GET /rest/api/2/user`, `/myself`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JiraUser {
    /// Username (`name`), what Server's REST API identifies users by.
    #[serde(default)]
    pub name: Option<String>,
    /// Stable user key (e.g. `JIRAUSER10002`).
    #[serde(default)]
    pub key: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// E-mail address as Jira shows it (may be hidden or masked).
    #[serde(default)]
    pub email_address: Option<String>,
    /// Whether the account is active.
    #[serde(default)]
    pub active: Option<bool>,
}

impl JiraUser {
    /// The e-mail address if it looks like one: non-empty, with an `@` and no spaces (Jira's
    /// "masked" visibility shows `bob at example dot com`, which is not usable).
    ///
    /// ```
    /// use reference_server::jira::JiraUser;
    /// let user: JiraUser = serde_json::from_str(r#"{"name":"bob","emailAddress":"bob at example dot com"}"#).unwrap();
    /// assert_eq!(user.email(), None);
    /// ```
    pub fn email(&self) -> Option<&str> {
        let email = self.email_address.as_deref()?.trim();
        (email.contains('@') && !email.contains(char::is_whitespace)).then_some(email)
    }
}

/// Client for Jira REST calls made with stored credentials. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), reference_server::jira::JiraError> {
/// use reference_server::jira::{Auth, JiraClient};
/// let client = JiraClient::new("https://jira.example.com", true, Auth::personal_access_token("NjQ2..."))?;
/// let info = client.server_info().await?;
/// println!("Jira {} (major {:?})", info.version, info.major_version());
/// let statuses = client.statuses().await?;
/// let bob = client.user_by_username("bob").await?;
/// # let _ = (statuses, bob); Ok(()) }
/// ```
#[derive(Clone)]
pub struct JiraClient {
    transport: Transport,
    auth: Arc<Auth>,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("base_url", &self.transport.base_url)
            .field("auth", &self.auth.kind())
            .finish_non_exhaustive()
    }
}

impl JiraClient {
    /// A client for `base_url` (trailing `/` ignored) with default options.
    pub fn new(base_url: &str, verify_ssl: bool, auth: Auth) -> Result<Self, JiraError> {
        Self::with_options(base_url, auth, &ClientOptions::verify_ssl(verify_ssl))
    }

    /// A client with explicit options (timeout, observer).
    pub fn with_options(
        base_url: &str,
        auth: Auth,
        options: &ClientOptions,
    ) -> Result<Self, JiraError> {
        Ok(Self {
            transport: Transport::new(base_url, options)?,
            auth: Arc::new(auth),
        })
    }

    /// The normalised base URL (no trailing `/`).
    pub fn base_url(&self) -> &str {
        &self.transport.base_url
    }

    /// `host[:port]` of the base URL.
    pub fn host(&self) -> &str {
        &self.transport.host
    }

    async fn call(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        json_body: Option<Vec<u8>>,
    ) -> Result<(u16, bytes::Bytes), JiraError> {
        let url = self.transport.url(path, query);
        let signing = match &*self.auth {
            Auth::OAuth1 {
                consumer_key,
                private_key,
                access_token,
                ..
            } => Signing::OAuth {
                consumer_key,
                key: private_key.parsed(),
                token: Some(access_token),
                verifier: None,
                callback: None,
            },
            Auth::PersonalAccessToken { token } => Signing::Bearer(token),
        };
        self.transport
            .send(operation, method, &url, json_body, signing)
            .await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, JiraError> {
        let (_, body) = self
            .call(operation, reqwest::Method::GET, path, query, None)
            .await?;
        serde_json::from_slice(&body).map_err(|e| JiraError::InvalidResponse {
            operation,
            reason: e.to_string(),
        })
    }

    /// `GET /rest/api/2/serverInfo`.
    pub async fn server_info(&self) -> Result<ServerInfo, JiraError> {
        self.get_json("serverInfo", "/rest/api/2/serverInfo", &[])
            .await
    }

    /// `GET /rest/api/2/myself`: the user the credentials act as (a cheap credential check).
    pub async fn myself(&self) -> Result<JiraUser, JiraError> {
        self.get_json("myself", "/rest/api/2/myself", &[]).await
    }

    /// `GET /rest/api/2/status`: every status with its category key.
    pub async fn statuses(&self) -> Result<Vec<JiraStatus>, JiraError> {
        let raw: Vec<Value> = self.get_json("statuses", "/rest/api/2/status", &[]).await?;
        let mut statuses = Vec::with_capacity(raw.len());
        for entry in raw {
            let id = match entry.get("id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(id)) => id.to_string(),
                _ => continue,
            };
            statuses.push(JiraStatus {
                id,
                name: entry
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                category_key: entry
                    .get("statusCategory")
                    .and_then(|c| c.get("key"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        Ok(statuses)
    }

    /// `GET /rest/api/2/user?username=<name>`; `Ok(None)` when Jira answers 404.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<JiraUser>, JiraError> {
        self.user("userByUsername", "username", username).await
    }

    /// `GET /rest/api/2/user?key=<key>`; `Ok(None)` when Jira answers 404.
    pub async fn user_by_key(&self, key: &str) -> Result<Option<JiraUser>, JiraError> {
        self.user("userByKey", "key", key).await
    }

    async fn user(
        &self,
        operation: &'static str,
        param: &str,
        value: &str,
    ) -> Result<Option<JiraUser>, JiraError> {
        match self
            .get_json(operation, "/rest/api/2/user", &[(param, value)])
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(JiraError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Registers a webhook at the given resource. Any 2xx is success; a 204 or a body without
    /// `id`/`self` gives a [`WebhookRef`] without id (deletion then finds it by URL).
    pub async fn create_webhook(
        &self,
        api: WebhookApi,
        spec: &WebhookSpec,
    ) -> Result<WebhookRef, JiraError> {
        let body = serde_json::json!({
            "name": spec.name,
            "url": spec.url.expose(),
            "events": spec.events,
        });
        let (_, reply) = self
            .call(
                "createWebhook",
                reqwest::Method::POST,
                api.collection_path(),
                &[],
                Some(body.to_string().into_bytes()),
            )
            .await?;
        let id = serde_json::from_slice::<Value>(&reply)
            .ok()
            .and_then(|json| webhook_id(&json));
        Ok(WebhookRef {
            api,
            id,
            url: spec.url.clone(),
        })
    }

    /// Sentry's registration flow: `GET serverInfo`, then create the webhook at the resource
    /// that version uses. Returns both so the caller can keep the server info.
    pub async fn register_webhook(
        &self,
        spec: &WebhookSpec,
    ) -> Result<(ServerInfo, WebhookRef), JiraError> {
        let info = self.server_info().await?;
        let webhook = self.create_webhook(info.webhook_api(), spec).await?;
        Ok((info, webhook))
    }

    /// Deletes a webhook. 404 is [`WebhookDeletion::AlreadyGone`]. Without an id, the
    /// collection is listed and every webhook with the same URL is deleted.
    pub async fn delete_webhook(&self, webhook: &WebhookRef) -> Result<WebhookDeletion, JiraError> {
        let ids = match &webhook.id {
            Some(id) => vec![id.clone()],
            None => self.find_webhooks_by_url(webhook).await?,
        };
        let mut outcome = WebhookDeletion::AlreadyGone;
        for id in ids {
            let path = format!(
                "{}/{}",
                webhook.api.collection_path(),
                encode_component(&id)
            );
            match self
                .call("deleteWebhook", reqwest::Method::DELETE, &path, &[], None)
                .await
            {
                Ok(_) => outcome = WebhookDeletion::Deleted,
                Err(JiraError::Status { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// Lists the webhooks at `api` (`GET` on the collection) as raw JSON objects.
    pub async fn list_webhooks(&self, api: WebhookApi) -> Result<Vec<Value>, JiraError> {
        let json: Value = self
            .get_json("listWebhooks", api.collection_path(), &[])
            .await?;
        Ok(match json {
            Value::Array(list) => list,
            // Some versions page the list: {"values": [...]}.
            Value::Object(mut map) => match map.remove("values") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    async fn find_webhooks_by_url(&self, webhook: &WebhookRef) -> Result<Vec<String>, JiraError> {
        let list = self.list_webhooks(webhook.api).await?;
        Ok(list
            .iter()
            .filter(|w| w.get("url").and_then(Value::as_str) == Some(webhook.url.expose()))
            .filter_map(webhook_id)
            .collect())
    }
}

/// The id of a webhook object: `id` (number or string), else the last segment of `self`.
fn webhook_id(json: &Value) -> Option<String> {
    match json.get("id") {
        Some(Value::Number(n)) => return Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
        _ => {}
    }
    let self_url = json.get("self")?.as_str()?;
    let last = self_url.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty()).then(|| last.to_owned())
}

/// The OAuth 1.0a three-legged flow against Jira's servlets (Sentry's `JiraServerSetupClient`).
///
/// ```no_run
/// # async fn demo(consumer: reference_server::jira::Consumer) -> Result<(), reference_server::jira::JiraError> {
/// use reference_server::jira::OAuthSetupClient;
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
            .field("base_url", &self.transport.base_url)
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

    /// The normalised base URL.
    pub fn base_url(&self) -> &str {
        &self.transport.base_url
    }

    /// `host[:port]` of the base URL.
    pub fn host(&self) -> &str {
        &self.transport.host
    }

    /// The consumer this client signs as.
    pub fn consumer(&self) -> &Consumer {
        &self.consumer
    }

    /// `POST /plugins/servlet/oauth/request-token`, signed with the consumer key only. Like
    /// Sentry, no `oauth_callback` is sent unless `callback` is given, so Jira uses the
    /// callback configured in its application link.
    pub async fn request_token(&self, callback: Option<&str>) -> Result<TokenPair, JiraError> {
        let url = self
            .transport
            .url("/plugins/servlet/oauth/request-token", &[]);
        let (_, body) = self
            .transport
            .send(
                "requestToken",
                reqwest::Method::POST,
                &url,
                None,
                Signing::OAuth {
                    consumer_key: &self.consumer.consumer_key,
                    key: self.consumer.private_key.parsed(),
                    token: None,
                    verifier: None,
                    callback,
                },
            )
            .await?;
        parse_token_reply(&body)
    }

    /// `{base}/plugins/servlet/oauth/authorize?oauth_token=<token>`.
    pub fn authorize_url(&self, request_token: &str) -> String {
        self.transport.url(
            "/plugins/servlet/oauth/authorize",
            &[("oauth_token", request_token)],
        )
    }

    /// `POST /plugins/servlet/oauth/access-token` signed with the request token and
    /// `oauth_verifier`.
    pub async fn access_token(
        &self,
        request: &TokenPair,
        verifier: &str,
    ) -> Result<TokenPair, JiraError> {
        if verifier.is_empty() {
            return Err(JiraError::Signing(
                "Missing OAuth token verifier".to_owned(),
            ));
        }
        let url = self
            .transport
            .url("/plugins/servlet/oauth/access-token", &[]);
        let (_, body) = self
            .transport
            .send(
                "accessToken",
                reqwest::Method::POST,
                &url,
                None,
                Signing::OAuth {
                    consumer_key: &self.consumer.consumer_key,
                    key: self.consumer.private_key.parsed(),
                    token: Some(&request.token),
                    verifier: Some(verifier),
                    callback: None,
                },
            )
            .await?;
        parse_token_reply(&body)
    }
}

/// Parses a form-encoded token reply; both `oauth_token` and `oauth_token_secret` must be
/// present and non-empty (Sentry's newest check), else [`JiraError::MissingOAuthToken`].
fn parse_token_reply(body: &[u8]) -> Result<TokenPair, JiraError> {
    let mut token = None;
    let mut secret = None;
    let mut keys = Vec::new();
    for (key, value) in url::form_urlencoded::parse(body) {
        match &*key {
            "oauth_token" if !value.is_empty() => token = Some(value.into_owned()),
            "oauth_token_secret" if !value.is_empty() => secret = Some(value.into_owned()),
            _ => {}
        }
        keys.push(key.into_owned());
    }
    match (token, secret) {
        (Some(token), Some(secret)) => Ok(TokenPair {
            token,
            secret: SecretString::new(secret),
        }),
        _ => Err(JiraError::MissingOAuthToken { keys }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_reply_needs_token_and_secret() {
        let ok = parse_token_reply(b"oauth_token=abc123&oauth_token_secret=s3cr%2Bt").unwrap();
        assert_eq!(ok.token, "abc123");
        assert_eq!(ok.secret.expose(), "s3cr+t");
        let Err(JiraError::MissingOAuthToken { keys }) =
            parse_token_reply(b"no_token=oops&foo=bar")
        else {
            panic!("expected MissingOAuthToken");
        };
        assert_eq!(keys, ["no_token", "foo"]);
        assert!(matches!(
            parse_token_reply(b"oauth_token=req-token"),
            Err(JiraError::MissingOAuthToken { .. })
        ));
        assert_eq!(
            parse_token_reply(b"oauth_token=").unwrap_err().to_string(),
            "Missing oauth_token"
        );
    }

    #[test]
    fn webhook_ids_from_both_apis() {
        let v9 =
            serde_json::json!({"self": "https://jira.example.com/rest/webhooks/1.0/webhook/12"});
        assert_eq!(webhook_id(&v9).as_deref(), Some("12"));
        let v10 = serde_json::json!({"id": 7, "name": "x"});
        assert_eq!(webhook_id(&v10).as_deref(), Some("7"));
        assert_eq!(webhook_id(&serde_json::json!({})), None);
    }

    #[test]
    fn query_components_are_rfc3986_encoded() {
        assert_eq!(encode_component("a b+c@d~"), "a%20b%2Bc%40d~");
        assert_eq!(encode_component("é"), "%C3%A9");
    }

    #[test]
    fn major_version_from_string_or_numbers() {
        let v9: ServerInfo =
            serde_json::from_str(r#"{"baseUrl": "https://jira.example.com", "version": "9.9.9"}"#)
                .unwrap();
        assert_eq!(v9.major_version(), Some(9));
        assert_eq!(v9.webhook_api(), WebhookApi::Webhooks1);
        let v11: ServerInfo =
            serde_json::from_str(r#"{"version": "x", "versionNumbers": [11, 0, 0]}"#).unwrap();
        assert_eq!(v11.webhook_api(), WebhookApi::JiraWebhook1);
        let unknown: ServerInfo = serde_json::from_str("{}").unwrap();
        assert_eq!(unknown.major_version(), None);
        assert_eq!(unknown.webhook_api(), WebhookApi::Webhooks1);
    }

    #[test]
    fn base_url_validation_matches_sentry() {
        assert!(normalize_base_url("jira.example.com/").is_err());
        assert!(normalize_base_url("ftp://jira.example.com").is_err());
        let (url, host) = normalize_base_url("https://jira.example.com//").unwrap();
        assert_eq!(url, "https://jira.example.com");
        assert_eq!(host, "jira.example.com");
        let (_, host) = normalize_base_url("https://Jira.Example.com:443/jira").unwrap();
        assert_eq!(
            host, "Jira.Example.com:443",
            "netloc as written, like Sentry's urlparse"
        );
    }
}
