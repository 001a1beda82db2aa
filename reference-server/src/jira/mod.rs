//! The Jira-facing half of the server: an async REST client for the calls the integration
//! makes, the install pipeline, and the webhook URL token.
//!
//! * [`JiraClient`]: REST calls with stored credentials ([`Auth`]: OAuth 1.0a RSA-SHA1 signed
//!   with `jira-oauth`, a fresh nonce per request, or a personal access token as
//!   `Authorization: Bearer`): `serverInfo`, `myself`, webhook create / list / delete (both the
//!   ≤ 9.x and the 10.x resource), statuses, user lookup by username or key.
//! * [`OAuthSetupClient`]: the three-legged dance (request token, authorize URL, access token).
//! * [`install`]: the install pipeline independent of HTTP routing, with Sentry's validation
//!   and error messages.
//! * [`webhook_token`]: the HS256 JWT `{"id": external_id}` in the webhook URL, shared with the
//!   webhook endpoint.
//!
//! No reqwest type appears in the public API: methods take `&str` and return this module's
//! types. Transport rules: one attempt per call (no transport retry that could resend a
//! nonce), no redirects (they would change the signed URL), 30 s timeout, `verify_ssl=false`
//! honoured. Every call can be counted by status through a [`CallObserver`] such as
//! [`CallCounters`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), reference_server::jira::JiraError> {
//! use std::sync::Arc;
//! use reference_server::jira::{Auth, CallCounters, ClientOptions, JiraClient, WebhookSpec};
//!
//! let counters = Arc::new(CallCounters::default());
//! let options = ClientOptions::verify_ssl(true).with_observer(counters.clone());
//! let client = JiraClient::with_options(
//!     "https://jira.example.com",
//!     Auth::personal_access_token("NjQ2..."),
//!     &options,
//! )?;
//! // serverInfo decides between /rest/webhooks/1.0/webhook and /rest/jira-webhook/1.0/webhooks.
//! let (info, webhook) = client
//!     .register_webhook(&WebhookSpec::new("https://sync.example.com/extensions/jira-server/issue-updated/TOKEN/"))
//!     .await?;
//! println!("Jira {}: webhook {:?}", info.version, webhook.id);
//! client.delete_webhook(&webhook).await?;
//! println!("{} calls so far", counters.total());
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod error;
pub mod install;
mod signing;
pub mod webhook_token;

pub use auth::{Auth, Consumer, PrivateKey, SecretString, TokenPair};
pub use client::{
    CallCounters, CallObserver, CallOutcome, ClientOptions, DEFAULT_TIMEOUT, DEFAULT_WEBHOOK_NAME,
    JiraClient, JiraStatus, JiraUser, OAuthSetupClient, ServerInfo, WEBHOOK_EVENTS, WebhookApi,
    WebhookDeletion, WebhookRef, WebhookSpec, normalize_base_url,
};
pub use error::{JiraError, first_error_message};
