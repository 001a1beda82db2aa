//! Jira's OAuth filter for the mocks: `jira_sim::wiremock`'s signed-request matcher bound to the
//! fixture key, and its nonce ledger.

use jira_oauth::{OAuthParams, RsaPublicKey};
use jira_sim::wiremock::OAuthSigned;
pub use jira_sim::wiremock::{assert_unique_nonces, authorization};
use wiremock::Request;

use crate::fixtures::PUBLIC_KEY;

/// Matches only requests signed with the fixture key by `consumer_key` with `token`.
pub fn signed(consumer_key: &str, token: Option<&str>) -> OAuthSigned {
    let key = RsaPublicKey::from_pem(PUBLIC_KEY).expect("fixture public key");
    OAuthSigned::new(key, consumer_key, token)
}

/// The parsed `Authorization: OAuth` parameters of a received request.
pub fn oauth_params(request: &Request) -> OAuthParams {
    jira_sim::wiremock::oauth_params(request).expect("a parsable OAuth header")
}
