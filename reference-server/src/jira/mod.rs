//! The server's Jira-side pipeline: the install pipeline and the webhook URL token. The REST
//! calls themselves (client, auth, errors) are the `jira-client` crate.
//!
//! * [`install`]: the install pipeline independent of HTTP routing, with Sentry's validation
//!   and error messages, on `jira_client::{OAuthSetupClient, JiraClient}`.
//! * [`webhook_token`]: the HS256 JWT `{"id": external_id}` in the webhook URL, shared with the
//!   webhook endpoint.

pub mod install;
pub mod webhook_token;
