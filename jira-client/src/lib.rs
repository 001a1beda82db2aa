#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! * [`ops`]: one module per Jira resource, each building `http::Request`s and parsing
//!   `http::Response`s (sans-IO);
//! * [`Auth`]: OAuth 1.0a (RSA-SHA1 via `jira_oauth::Signer`) or a personal access token;
//! * [`JiraError`]: typed errors keeping Jira's `errorMessages` and `errors`;
//! * [`JiraClient`], [`OAuthSetupClient`] (feature `reqwest`, on by default): the async
//!   adapter that sends them, one attempt each, no redirects, with a timeout, a response
//!   size limit and a [`CallObserver`].

mod auth;
mod base_url;
mod error;
mod observer;
pub mod ops;

#[cfg(feature = "reqwest")]
mod client;
#[cfg(feature = "reqwest")]
mod setup;
#[cfg(feature = "reqwest")]
mod transport;

pub use auth::{Auth, Consumer, PrivateKey, TokenPair};
pub use base_url::{BaseUrl, normalize_base_url};
pub use error::{JiraError, first_error_message};
/// The workspace's one redacting secret string, from `jira-oauth`.
pub use jira_oauth::SecretString;
pub use observer::{CallCounters, CallObserver, CallOutcome};
pub use ops::server_info::ServerInfo;
pub use ops::statuses::JiraStatus;
pub use ops::users::JiraUser;
pub use ops::webhooks::{
    DEFAULT_WEBHOOK_NAME, WEBHOOK_EVENTS, WebhookApi, WebhookDeletion, WebhookRef, WebhookSpec,
};

#[cfg(feature = "reqwest")]
pub use client::JiraClient;
#[cfg(feature = "reqwest")]
pub use setup::OAuthSetupClient;
#[cfg(feature = "reqwest")]
pub use transport::{ClientOptions, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, Transport};

pub use http;
