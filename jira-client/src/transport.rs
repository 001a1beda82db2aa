//! The async adapter's sending half (feature `reqwest`): [`ClientOptions`] and [`Transport`],
//! which sends one built `http::Request` once and returns the `http::Response`.
//!
//! Transport rules (Sentry §2.4 plus its known weaknesses fixed):
//! * one attempt per call: no transport-level retry, so a signed request (and its nonce) is
//!   never sent twice; callers that retry build and sign a new request;
//! * redirects are not followed (a redirect changes the signed URL); the parsers turn a 3xx
//!   into [`JiraError::Redirect`];
//! * 30 s timeout by default, covering the connection and the whole answer, body included
//!   (a Jira that trickles its answer forever is cut off when it runs out);
//! * answers are read up to a size limit (4 MiB by default,
//!   [`ClientOptions::max_response_bytes`]): a larger declared `Content-Length` is refused
//!   before the body is read, and a body that grows past the limit is dropped as soon as it
//!   does, so a hostile or broken Jira cannot exhaust memory
//!   ([`JiraError::ResponseTooLarge`]);
//! * `verify_ssl = false` really disables certificate and host name checks;
//! * TLS is rustls with the `ring` provider and the operating system's trust store
//!   (`rustls-platform-verifier`), which helps with on-prem Jira behind a corporate CA.

use std::sync::Arc;
use std::time::Duration;

use crate::{BaseUrl, CallObserver, CallOutcome, JiraError};

/// Default timeout of every call (Sentry: 30 s connect and read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default limit of an answer's body (4 MiB). Jira's largest answers here (the status list,
/// the webhook list of an instance with many webhooks) are well below it.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Transport options shared by [`JiraClient`](crate::JiraClient) and
/// [`OAuthSetupClient`](crate::OAuthSetupClient).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Check the server certificate and host name (Sentry's `verify_ssl`). Default `true`.
    pub verify_ssl: bool,
    /// Timeout of each call. Default [`DEFAULT_TIMEOUT`] (30 s).
    pub timeout: Duration,
    /// Notified once per call (metrics).
    pub observer: Option<Arc<dyn CallObserver>>,
    /// Longest answer body read, in bytes. Default [`DEFAULT_MAX_RESPONSE_BYTES`] (4 MiB).
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            verify_ssl: true,
            timeout: DEFAULT_TIMEOUT,
            observer: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("verify_ssl", &self.verify_ssl)
            .field("timeout", &self.timeout)
            .field("observer", &self.observer.is_some())
            .field("max_response_bytes", &self.max_response_bytes)
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

    /// Sets `verify_ssl`.
    #[must_use]
    pub fn with_verify_ssl(mut self, verify_ssl: bool) -> Self {
        self.verify_ssl = verify_ssl;
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest answer body read (bytes); a longer answer is
    /// [`JiraError::ResponseTooLarge`].
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Sets the call observer.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// Sends built requests to one Jira instance: one attempt, no redirects, timeout, observer.
/// Cheap to clone. No reqwest type appears in its API.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    base: BaseUrl,
    observer: Option<Arc<dyn CallObserver>>,
    max_response_bytes: usize,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport for `base_url` (validated with [`BaseUrl::parse`]).
    pub fn new(base_url: &str, options: &ClientOptions) -> Result<Self, JiraError> {
        let base = BaseUrl::parse(base_url)?;
        // reqwest is built without a bundled crypto provider (no aws-lc C build); install ring
        // as the process default. An error only means a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .tls_danger_accept_invalid_certs(!options.verify_ssl)
            .user_agent(concat!("jira-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JiraError::Client(error_chain(&e)))?;
        Ok(Self {
            http,
            base,
            observer: options.observer.clone(),
            max_response_bytes: options.max_response_bytes,
        })
    }

    /// The validated base URL.
    pub fn base(&self) -> &BaseUrl {
        &self.base
    }

    /// Sends `request` once. Any answer (2xx or not) is `Ok`: the operation's parser decides.
    /// Timeouts and connection failures are [`JiraError::Timeout`] and
    /// [`JiraError::Unreachable`]; an answer longer than the size limit is
    /// [`JiraError::ResponseTooLarge`] (and is not read further). The observer hears about
    /// every outcome.
    pub async fn send(
        &self,
        operation: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, JiraError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| JiraError::Client(error_chain(&e.without_url())))?;
        let mut response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) => return Err(self.failed(operation, e)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let limit = self.max_response_bytes;
        if response
            .content_length()
            .is_some_and(|declared| declared > limit as u64)
        {
            return Err(self.too_large(operation, status.as_u16(), limit));
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if chunk.len() > limit.saturating_sub(body.len()) {
                        return Err(self.too_large(operation, status.as_u16(), limit));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.failed(operation, e)),
            }
        }
        self.observe(operation, CallOutcome::Status(status.as_u16()));
        tracing::debug!(operation, host = %self.base.host(), status = status.as_u16(), "jira call");
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    fn failed(&self, operation: &'static str, e: reqwest::Error) -> JiraError {
        let host = self.base.host().to_owned();
        let (outcome, error) = if e.is_timeout() {
            (CallOutcome::Timeout, JiraError::Timeout { host })
        } else {
            let reason = error_chain(&e.without_url());
            (
                CallOutcome::Unreachable,
                JiraError::Unreachable { host, reason },
            )
        };
        self.observe(operation, outcome);
        tracing::debug!(operation, host = %self.base.host(), error = %error, "jira call failed");
        error
    }

    fn too_large(&self, operation: &'static str, status: u16, limit: usize) -> JiraError {
        let error = JiraError::ResponseTooLarge {
            host: self.base.host().to_owned(),
            operation,
            limit,
        };
        self.observe(operation, CallOutcome::Status(status));
        tracing::warn!(operation, host = %self.base.host(), status, limit, "jira answer too large, dropped");
        error
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
