//! Credentials: serde round trips and redaction (no network).

use jira_client::Auth;
use serde_json::json;

use crate::scenario::oauth;

#[test]
fn auth_round_trips_through_serde_and_hides_secrets_in_debug() {
    let auth = oauth("ck", "at");
    let json = serde_json::to_value(&auth).unwrap();
    assert_eq!(json["type"], "oauth1");
    assert_eq!(json["consumerKey"], "ck");
    assert_eq!(json["accessToken"], "at");
    assert!(
        json["privateKey"]
            .as_str()
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    let back: Auth = serde_json::from_value(json).unwrap();
    assert_eq!(back.kind(), "oauth1");
    let debug = format!("{back:?}");
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("access-token-secret"),
        "{debug}"
    );
    let broken = json!({"type": "oauth1", "consumerKey": "ck", "privateKey": "nope", "accessToken": "a", "accessTokenSecret": "s"});
    assert!(serde_json::from_value::<Auth>(broken).is_err());
}
