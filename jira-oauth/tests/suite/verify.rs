//! Provider-side verification: what a test Jira checks about our requests.
#![allow(clippy::similar_names)] // signer / signed

use std::time::Duration;

use jira_oauth::{
    Body, ConsumerSecret, InMemoryNonceStore, NonceStore, RequestParts, RsaPrivateKey,
    RsaPublicKey, SignOptions, Signer, Token, TokenSecret, VerifyError, VerifyKey,
    parse_authorization_header, verify,
};

const KEY: &str = include_str!("../fixtures/oauthlib/oauthlib-rsa1024-pkcs1.pem");
const PUB: &str = include_str!("../fixtures/oauthlib/oauthlib-rsa1024-pub-spki.pem");
const OTHER_PUB: &str = include_str!("../fixtures/wiki/wiki-rsa1024-pub-spki.pem");
const NOW: u64 = 1_700_000_000;
const WINDOW: Duration = Duration::from_secs(300);

fn signer() -> Signer {
    Signer::rsa_sha1("sentry-bot", RsaPrivateKey::from_pem(KEY).unwrap())
        .with_token(Token::new("valid-token", ""))
}

fn public() -> RsaPublicKey {
    RsaPublicKey::from_pem(PUB).unwrap()
}

fn check(
    parts: &RequestParts<'_>,
    header: &str,
    key: &VerifyKey<'_>,
    nonces: &InMemoryNonceStore,
    now: u64,
) -> Result<jira_oauth::Verified, VerifyError> {
    let params = parse_authorization_header(header).unwrap();
    verify(parts, &params, key, nonces, now, WINDOW)
}

#[test]
fn rsa_round_trip_then_replay_is_refused() {
    let parts = RequestParts::new(
        "GET",
        "https://jira.example.com/rest/api/2/issue/APP-1?fields=status,assignee",
    );
    let signed = signer()
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    let pk = public();
    let nonces = InMemoryNonceStore::new();
    let ok = check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &nonces,
        NOW + 5,
    )
    .unwrap();
    assert_eq!(ok.consumer_key, "sentry-bot");
    assert_eq!(ok.token.as_deref(), Some("valid-token"));
    assert_eq!(ok.base_string, signed.base_string);
    let replay = check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &nonces,
        NOW + 5,
    )
    .unwrap_err();
    assert_eq!(replay.oauth_problem(), "nonce_used");
    assert_eq!(nonces.len(), 1);
}

#[test]
fn provider_errors_map_to_oauth_problems() {
    let parts = RequestParts::new("POST", "https://jira.example.com/rest/api/2/issue")
        .with_body(Body::Other(b"{}"));
    let signed = signer()
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    let pk = public();
    let other = RsaPublicKey::from_pem(OTHER_PUB).unwrap();

    // wrong key
    let err = check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&other),
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(&err, VerifyError::SignatureInvalid { base_string } if *base_string == signed.base_string)
    );
    assert_eq!(err.oauth_problem(), "signature_invalid");

    // stale and future timestamps
    for now in [NOW + 301, NOW - 301] {
        let err = check(
            &parts,
            &signed.authorization,
            &VerifyKey::RsaSha1(&pk),
            &InMemoryNonceStore::new(),
            now,
        )
        .unwrap_err();
        assert_eq!(err.oauth_problem(), "timestamp_refused", "{err}");
    }

    // method mismatch: the consumer is configured for HMAC
    let cs = ConsumerSecret::new("x");
    let err = check(
        &parts,
        &signed.authorization,
        &VerifyKey::HmacSha1 {
            consumer_secret: &cs,
            token_secret: None,
        },
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.oauth_problem(), "signature_method_rejected");

    // a forged signature does not burn the nonce
    let nonces = InMemoryNonceStore::new();
    let forged = signed
        .authorization
        .replace(&jira_oauth::percent_encode(&signed.signature), "AAAA");
    assert_ne!(forged, signed.authorization);
    let _ = check(&parts, &forged, &VerifyKey::RsaSha1(&pk), &nonces, NOW);
    assert!(nonces.is_empty());
    check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &nonces,
        NOW,
    )
    .unwrap();
}

#[test]
fn missing_and_bad_parameters() {
    let pk = public();
    let parts = RequestParts::new("GET", "https://jira.example.com/");
    for (header, problem) in [
        (
            "OAuth oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\"",
            "parameter_absent",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature=\"x\"",
            "parameter_absent",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\"",
            "parameter_absent",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\", oauth_nonce=\"n\"",
            "parameter_absent",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\", oauth_timestamp=\"1700000000\"",
            "parameter_absent",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\", oauth_timestamp=\"+1700000000\", oauth_nonce=\"n\"",
            "parameter_rejected",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\", oauth_timestamp=\"99999999999999999999999\", oauth_nonce=\"n\"",
            "parameter_rejected",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"x\", oauth_timestamp=\"1700000000\", oauth_nonce=\"n\", oauth_version=\"2.0\"",
            "version_rejected",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"rsa-sha1\", oauth_signature=\"x\", oauth_timestamp=\"1700000000\", oauth_nonce=\"n\"",
            "signature_method_rejected",
        ),
        (
            "OAuth oauth_consumer_key=\"c\", oauth_signature_method=\"RSA-SHA1\", oauth_signature=\"not base64!\", oauth_timestamp=\"1700000000\", oauth_nonce=\"n\"",
            "signature_invalid",
        ),
    ] {
        let err = check(
            &parts,
            header,
            &VerifyKey::RsaSha1(&pk),
            &InMemoryNonceStore::new(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.oauth_problem(), problem, "{header}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn body_hash_is_checked() {
    let parts = RequestParts::new(
        "PUT",
        "https://jira.example.com/rest/api/2/issue/APP-1/assignee",
    )
    .with_body(Body::Other(br#"{"name":"bob"}"#));
    let signed = signer()
        .sign(
            &parts,
            &SignOptions::new().timestamp(NOW).with_body_hash(true),
        )
        .unwrap();
    let pk = public();
    check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
    let other_body = parts.with_body(Body::Other(br#"{"name":"eve"}"#));
    let err = check(
        &other_body,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::BodyHashInvalid);
}

#[test]
fn hmac_and_plaintext_verify_with_secrets() {
    let cs = ConsumerSecret::new("consumer secret");
    let ts = TokenSecret::new("token/secret");
    let token = Token::new("tok", "token/secret");
    let parts = RequestParts::new("POST", "http://localhost:8080/jira/rest/x?q=1")
        .with_body(Body::Form(b"a=1&a=2&b="));

    let hmac = Signer::hmac_sha1("ck", cs.clone()).with_token(token.clone());
    let signed = hmac
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    let key = VerifyKey::HmacSha1 {
        consumer_secret: &cs,
        token_secret: Some(&ts),
    };
    check(
        &parts,
        &signed.authorization,
        &key,
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
    let wrong_ts = TokenSecret::new("other");
    let err = check(
        &parts,
        &signed.authorization,
        &VerifyKey::HmacSha1 {
            consumer_secret: &cs,
            token_secret: Some(&wrong_ts),
        },
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err.oauth_problem(), "signature_invalid");

    let plain = Signer::plaintext("ck", cs.clone()).with_token(token);
    let signed = plain
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    let key = VerifyKey::Plaintext {
        consumer_secret: &cs,
        token_secret: Some(&ts),
    };
    check(
        &parts,
        &signed.authorization,
        &key,
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
    // PLAINTEXT needs neither timestamp nor nonce
    check(
        &parts,
        "OAuth oauth_consumer_key=\"ck\", oauth_token=\"tok\", oauth_signature_method=\"PLAINTEXT\", oauth_signature=\"consumer%2520secret%26token%252Fsecret\"",
        &key,
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
}

#[test]
fn custom_nonce_store_that_fails_closed() {
    struct Broken;
    impl NonceStore for Broken {
        fn check_and_insert(&self, _: &str, _: Option<&str>, _: u64, _: &str) -> bool {
            false
        }
    }
    let parts = RequestParts::new("GET", "https://jira.example.com/rest/api/2/myself");
    let signed = signer()
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    let params = parse_authorization_header(&signed.authorization).unwrap();
    let pk = public();
    let err = verify(
        &parts,
        &params,
        &VerifyKey::RsaSha1(&pk),
        &Broken,
        NOW,
        WINDOW,
    )
    .unwrap_err();
    assert_eq!(err.oauth_problem(), "nonce_used");
}

#[test]
fn prune_forgets_old_nonces() {
    let store = InMemoryNonceStore::new();
    assert!(store.check_and_insert("c", None, 10, "n"));
    assert!(!store.check_and_insert("c", None, 10, "n"));
    assert!(store.check_and_insert("c", Some("t"), 10, "n"));
    assert!(store.check_and_insert("c", None, 20, "n"));
    store.prune_before(15);
    assert_eq!(store.len(), 1);
    assert!(store.check_and_insert("c", None, 10, "n"));
}

#[test]
fn jira_app_link_public_key_form_is_accepted() {
    // Jira's application-link screen takes the bare base64 of the SPKI DER.
    let bare: String = PUB.lines().filter(|l| !l.starts_with("-----")).collect();
    let pk = RsaPublicKey::from_pem(&bare).unwrap();
    let parts = RequestParts::new("GET", "https://jira.example.com/rest/api/2/myself");
    let signed = signer()
        .sign(&parts, &SignOptions::new().timestamp(NOW))
        .unwrap();
    check(
        &parts,
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
    for bad in [
        "",
        "!!!",
        "AAAA",
        "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----",
    ] {
        assert!(RsaPublicKey::from_pem(bad).is_err());
    }
}

#[test]
fn request_url_rebuilds_origin_form_requests() {
    let mut headers = http::HeaderMap::new();
    let uri: http::Uri = "/jira/rest/api/2/search?jql=a%20b".parse().unwrap();
    assert!(jira_oauth::request_url(&uri, &headers, "http").is_err());
    headers.insert(http::header::HOST, "Jira.Example.com:8080".parse().unwrap());
    let url = jira_oauth::request_url(&uri, &headers, "http").unwrap();
    assert_eq!(
        url,
        "http://Jira.Example.com:8080/jira/rest/api/2/search?jql=a%20b"
    );
    // a client that signed the absolute URL verifies against the rebuilt one
    let signed = signer()
        .sign(
            &RequestParts::new(
                "GET",
                "http://jira.example.com:8080/jira/rest/api/2/search?jql=a+b",
            ),
            &SignOptions::new().timestamp(NOW),
        )
        .unwrap();
    let pk = public();
    check(
        &RequestParts::new("GET", &url),
        &signed.authorization,
        &VerifyKey::RsaSha1(&pk),
        &InMemoryNonceStore::new(),
        NOW,
    )
    .unwrap();
    let absolute: http::Uri = "https://x.example/a".parse().unwrap();
    assert_eq!(
        jira_oauth::request_url(&absolute, &headers, "http").unwrap(),
        "https://x.example/a"
    );
    assert_eq!(
        jira_oauth::parse_authorization_header("OAuth")
            .unwrap_err()
            .oauth_problem(),
        "parameter_absent"
    );
}

#[test]
fn oauth_signature_in_the_query_is_never_signed() {
    // RFC 5849 §3.4.1.3.1: oauth_signature is excluded from every source.
    let clean = signer()
        .sign(
            &RequestParts::new("GET", "https://jira.example.com/rest?a=1"),
            &SignOptions::new().nonce("n").timestamp(NOW),
        )
        .unwrap();
    let with_sig = signer()
        .sign(
            &RequestParts::new(
                "GET",
                "https://jira.example.com/rest?a=1&oauth_signature=zzz",
            ),
            &SignOptions::new().nonce("n").timestamp(NOW),
        )
        .unwrap();
    assert_eq!(clean.base_string, with_sig.base_string);
    // but a query parameter called realm is an ordinary parameter
    let realm = signer()
        .sign(
            &RequestParts::new("GET", "https://jira.example.com/rest?a=1&realm=x"),
            &SignOptions::new().nonce("n").timestamp(NOW),
        )
        .unwrap();
    assert!(realm.base_string.contains("realm%3Dx"));
}

#[test]
fn signer_debug_never_shows_secrets() {
    let hmac = Signer::hmac_sha1("ck", ConsumerSecret::new("consumer-secret-value"))
        .with_token(Token::new("tok", "token-secret-value"));
    let rsa = signer();
    for dbg in [format!("{hmac:?}"), format!("{rsa:?}")] {
        assert!(!dbg.contains("secret-value"), "{dbg}");
        assert!(dbg.contains("[redacted]"), "{dbg}");
    }
}
