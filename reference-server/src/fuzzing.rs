//! Bodies of the fuzz targets that exercise this crate. `fuzz/fuzz_targets/<name>.rs` calls
//! them through `libfuzzer_sys::fuzz_target!`, and `tests/server/fuzz_corpus.rs` replays the committed
//! corpora through them in an ordinary test. Not a stable API.
//!
//! Each function must never panic on any input; the `assert!`s state the invariants (a failed
//! one is a finding, just like a panic in the code under test).
//!
//! ```
//! reference_server::fuzzing::webhook_token(b"eyJhbGciOiJub25lIn0.eyJpZCI6IngifQ.");
//! reference_server::fuzzing::install_request(br#"{"url":"jira.example.com","consumerKey":"k"}"#);
//! reference_server::fuzzing::webhook_body(br#"{"issue":{"key":"A-1"},"changelog":{"id":"1"}}"#);
//! ```

use crate::jira::install::{self, InstallRequest, PatInstallRequest};
use crate::jira::webhook_token::{self, TokenError};
use crate::webhook::{self, BodyClass};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER_KEY: &[u8] = b"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Messages never echo a secret: checked only for inputs long enough not to appear in a
/// message by coincidence.
fn assert_not_echoed(message: &str, secret: &str) {
    if secret.len() >= 16 {
        assert!(
            !message.contains(secret),
            "an error message echoes the secret input"
        );
    }
}

/// Like [`assert_not_echoed`], for messages built from a fixed vocabulary: checked only when
/// the secret has a character that `baseline` (the same message without the secret) lacks,
/// so a secret that merely spells out part of a fixed message is not a false alarm.
fn assert_not_echoed_vs(message: &str, secret: &str, baseline: &str) {
    if secret.chars().any(|c| !baseline.contains(c)) {
        assert_not_echoed(message, secret);
    }
}

/// Fuzz target `webhook_token`: the JWT path segment of the webhook URL.
///
/// Invariants:
/// * [`webhook_token::peek_id`] and [`webhook_token::verify`] never panic;
/// * a token that verifies also peeks to the same id (lookup and verification agree);
/// * whatever the input, a token issued for the peeked id (and for the raw input as id)
///   peeks and verifies back to that id, and is refused under another key;
/// * changing any single character of a valid token makes verification fail;
/// * error messages never contain the token.
pub fn webhook_token(data: &[u8]) {
    let Ok(segment) = std::str::from_utf8(data) else {
        // The router hands the handler a `&str` path segment: non-UTF-8 never gets here.
        return;
    };
    let peeked = webhook_token::peek_id(segment);
    let verified = webhook_token::verify(segment, KEY);
    if let Ok(id) = &verified {
        assert_eq!(peeked.as_ref(), Ok(id), "verify accepts what peek rejects");
    }
    for e in [peeked.as_ref().err(), verified.as_ref().err()]
        .into_iter()
        .flatten()
    {
        assert_not_echoed_vs(&e.to_string(), segment, &token_error_vocabulary());
    }
    if let Ok(id) = &peeked {
        round_trip(id);
    }
    round_trip(segment);
}

/// Every text a token error can print for inputs that carry nothing of their own: the
/// baseline for [`assert_not_echoed_vs`], so an input that merely spells out an error message
/// (the fuzzer found one) is not taken for an echo, while a token with any other character is
/// still checked.
fn token_error_vocabulary() -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let probes = [
        String::new(),
        ".".to_owned(),
        "a.b".to_owned(),
        "a..c".to_owned(),
        "!.!.!".to_owned(),
        format!("{}.{}.!", b64("[]"), b64("{}")),
        format!("{}.{}.x", b64("{}"), b64("{}")),
        format!(
            "{}.{}.x",
            b64(r#"{"alg":"HS256","crit":["b64"]}"#),
            b64("{}")
        ),
        format!("{}.{}.x", b64(r#"{"alg":"none"}"#), b64(r#"{"id":"x"}"#)),
        format!("{}.{}.x", b64(r#"{"alg":"HS256"}"#), b64("{}")),
        format!("{}.{}.x", b64(r#"{"alg":"HS256"}"#), b64(r#"{"id":"x"}"#)),
        webhook_token::issue("x", KEY),
    ];
    let mut vocabulary = String::new();
    for probe in &probes {
        for e in [
            webhook_token::peek_id(probe).err(),
            webhook_token::verify(probe, OTHER_KEY).err(),
        ]
        .into_iter()
        .flatten()
        {
            vocabulary.push_str(&e.to_string());
        }
    }
    vocabulary
}

fn round_trip(id: &str) {
    let token = webhook_token::issue(id, KEY);
    assert_eq!(webhook_token::peek_id(&token).as_deref(), Ok(id));
    assert_eq!(webhook_token::verify(&token, KEY).as_deref(), Ok(id));
    assert_eq!(
        webhook_token::verify(&token, OTHER_KEY),
        Err(TokenError::BadSignature)
    );
    // Tamper with one character of the signature.
    if let Some(last) = token.chars().last() {
        let replacement = if last == 'A' { 'B' } else { 'A' };
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(replacement);
        assert!(
            webhook_token::verify(&tampered, KEY).is_err(),
            "a tampered signature verifies"
        );
    }
}

/// Fuzz target `install_request`: the JSON bodies of `POST .../install` and
/// `POST .../install-pat`, parsed the way the API parses them, then validated.
///
/// Invariants:
/// * parsing and [`install::validate`] never panic;
/// * a form that passes validation has a base URL with an `http`/`https` scheme and no
///   trailing `/`, a non-empty host, and a non-empty consumer key of at most 200 characters;
/// * a form that fails is a client error (400) with at least one field message, and the
///   message never contains the submitted private key;
/// * `Debug` of a PAT form never shows the token.
pub fn install_request(data: &[u8]) {
    if let Ok(req) = crate::api::parse_json::<InstallRequest>(data) {
        match install::validate(&req) {
            Ok(v) => {
                let lower = v.base_url.to_ascii_lowercase();
                assert!(
                    lower.starts_with("http://") || lower.starts_with("https://"),
                    "validated base URL without http(s) scheme: {:?}",
                    v.base_url
                );
                assert!(!v.base_url.ends_with('/'), "trailing slash kept");
                assert!(!v.host.is_empty(), "empty host");
                let key = &v.consumer.consumer_key;
                assert!(!key.is_empty(), "empty consumer key accepted");
                assert!(
                    key.chars().count() <= install::MAX_CONSUMER_KEY_LEN,
                    "consumer key over the limit accepted"
                );
                assert_eq!(key.trim(), key, "consumer key not trimmed");
            }
            Err(e) => {
                assert!(
                    e.is_client_error(),
                    "validation error is not a client error"
                );
                let fields = e.fields().expect("validation errors carry field messages");
                assert!(
                    ["url", "consumerKey", "privateKey"]
                        .iter()
                        .any(|f| !fields.get(f).is_empty()),
                    "validation error without any field message"
                );
                let mut neutral = req.clone();
                "x".clone_into(&mut neutral.private_key);
                let baseline = install::validate(&neutral)
                    .err()
                    .map(|b| format!("{b} {b:?}"))
                    .unwrap_or_default();
                let secret = req.private_key.trim();
                assert_not_echoed_vs(&e.to_string(), secret, &baseline);
                assert_not_echoed_vs(&format!("{e:?}"), secret, &baseline);
            }
        }
    }
    if let Ok(req) = crate::api::parse_json::<PatInstallRequest>(data) {
        let baseline = format!(
            "{:?}",
            PatInstallRequest::new(req.url.clone(), "", req.verify_ssl)
        );
        assert_not_echoed_vs(&format!("{req:?}"), req.token.expose(), &baseline);
    }
}

/// Fuzz target `webhook_body`: a delivery body on the webhook path.
///
/// Invariants:
/// * [`webhook::classify`] and [`webhook::inbox_form`] never panic;
/// * a body gets an inbox form exactly when it is classified relevant;
/// * the inbox form classifies as the body does (the delivery listing reads the stored form);
/// * when `LeanEvent` reads the body, it reads the inbox form to the same
///   `crate::storage::stored::worker_view` (the worker reads the stored form);
/// * the hand-written body reader, whenever it answers, answers as the serde reader does.
pub fn webhook_body(data: &[u8]) {
    assert!(
        webhook::probe_readers_agree(data),
        "the hand-written reader reads the body differently from serde"
    );
    let class = webhook::classify(data);
    let Some(stored) = webhook::inbox_form(data) else {
        assert!(
            !matches!(class, BodyClass::Relevant { .. }),
            "a relevant body has no inbox form"
        );
        return;
    };
    assert!(
        matches!(class, BodyClass::Relevant { .. }),
        "an inbox form for a body that is not relevant"
    );
    assert_eq!(
        webhook::classify(&stored),
        class,
        "the stored form classifies differently"
    );
    if let Ok(full) = jira_webhook_model::LeanEvent::from_slice(data) {
        assert_eq!(
            jira_webhook_model::LeanEvent::from_slice(&stored)
                .ok()
                .as_ref()
                .map(crate::storage::stored::worker_view),
            Some(crate::storage::stored::worker_view(&full)),
            "the worker would read the stored form differently"
        );
    }
}
