//! Contract tests for every Jira call of `jira-client`, in one test binary.
//!
//! The wiremock mocks verify the RSA-SHA1 signature with `jira-oauth`'s verifier and the
//! consumer's public key (so a wrong base string, key or parameter makes the mock not match),
//! and every test ends by checking that no `oauth_nonce` is ever sent twice. Also the ported
//! Sentry cases for the client (`test_client.py`) and the no-retry rule
//! (`test_oauth_retry.py`). Set-up goes through [`scenario::Scenario`].

mod fixtures;
mod scenario;
mod signature;

mod auth;
mod limits;
mod oauth_dance;
mod rest;
mod tls;
mod users;
mod webhooks;
