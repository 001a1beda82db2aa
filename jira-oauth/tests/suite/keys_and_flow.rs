//! Key loading (accepted and refused formats) and the three-legged flow helpers.
//!
//! The G1/G2 known answers need Sentry's throw-away test key (`tests/fixtures/sentry/`, not
//! shipped in the published package): those tests print one `skipped:` line and return when it is
//! absent.
#![allow(clippy::similar_names)]

use jira_oauth::{
    KeyError, RsaPrivateKey, SignOptions, Signer, Token, TokenReplyError, access_token_request,
    authorize_url, parse_token_reply, request_token_request,
};

use crate::support::{fixture, sentry_fixture};

#[test]
fn pkcs1_and_pkcs8_load_and_sign_identically() {
    // the same key in both encodings gives the same (deterministic) signature
    let pkcs8 = fixture("wiki/wiki-rsa1024-pkcs8.pem");
    let k8 = RsaPrivateKey::from_pem(&pkcs8).unwrap();
    let pkcs1 = fixture("oauthlib/oauthlib-rsa1024-pkcs1.pem");
    RsaPrivateKey::from_pem(&pkcs1).unwrap();
    let with_crlf = pkcs8.replace('\n', "\r\n");
    let k8b = RsaPrivateKey::from_pem(&format!("\n  {with_crlf}\n")).unwrap();
    assert_eq!(k8.sign_sha1(b"x").unwrap(), k8b.sign_sha1(b"x").unwrap());
    assert_eq!(format!("{k8:?}"), "RsaPrivateKey([redacted])");
}

#[test]
fn refused_keys_give_clear_errors() {
    let cases = [
        ("own/encrypted-pkcs8.pem", "encrypted"),
        ("own/encrypted-pkcs1.pem", "encrypted"),
        ("own/ec-key.pem", "BEGIN EC PRIVATE KEY"),
        ("own/ed25519-pkcs8.pem", "PKCS#8"),
        ("own/rsa512-pkcs1.pem", "1024 to 8192 bits"),
        ("oauthlib/oauthlib-rsa1024-pub-spki.pem", "BEGIN PUBLIC KEY"),
    ];
    for (file, needle) in cases {
        let err = RsaPrivateKey::from_pem(&fixture(file)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{file}: {msg}");
        assert!(
            msg.contains("PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)"),
            "{file}: {msg}"
        );
    }
    assert!(matches!(
        RsaPrivateKey::from_pem(&fixture("own/encrypted-pkcs8.pem")),
        Err(KeyError::Encrypted)
    ));
    // truncated key
    let full = fixture("oauthlib/oauthlib-rsa1024-pkcs1.pem");
    let truncated: String =
        full.lines().take(5).collect::<Vec<_>>().join("\n") + "\n-----END RSA PRIVATE KEY-----\n";
    assert!(matches!(
        RsaPrivateKey::from_pem(&truncated),
        Err(KeyError::Malformed {
            format: "PKCS#1",
            ..
        })
    ));
}

/// The G vectors' signer (Sentry's test key), or `None` after one printed line when not shipped.
fn sentry(test: &str) -> Option<Signer> {
    let pem = sentry_fixture("sentry-jira-pkcs1.pem", test)?;
    Some(Signer::rsa_sha1(
        "sentry-bot",
        RsaPrivateKey::from_pem(&pem).unwrap(),
    ))
}

/// A signer on a key that ships with the crate (oauthlib's test key).
fn shipped_signer() -> Signer {
    Signer::rsa_sha1(
        "sentry-bot",
        RsaPrivateKey::from_pem(&fixture("oauthlib/oauthlib-rsa1024-pkcs1.pem")).unwrap(),
    )
}

fn g_opts() -> SignOptions {
    SignOptions::new()
        .nonce("jiranonce1")
        .timestamp(1_700_000_000)
}

#[test]
fn request_token_request_matches_g1_and_drops_any_token() {
    // a token on the signer must not leak into the request-token step
    let Some(signer) = sentry("request_token_request_matches_g1_and_drops_any_token") else {
        return;
    };
    let signer = signer.with_token(Token::new("stale", "x"));
    let step = request_token_request(
        &signer,
        "https://jira.example.com/",
        Some("https://sentry.example.com/extensions/jira-server/setup/?step=2"),
        &g_opts(),
    )
    .unwrap();
    assert_eq!(step.request.method(), http::Method::POST);
    assert_eq!(
        step.request.uri(),
        "https://jira.example.com/plugins/servlet/oauth/request-token"
    );
    assert!(step.request.body().is_empty());
    assert_eq!(
        step.request.headers()[http::header::AUTHORIZATION],
        step.signed.authorization.as_str()
    );
    assert!(!step.signed.authorization.contains("oauth_token"));
    assert_eq!(
        step.signed.signature,
        "KTu5oq3JF2plqKw4ApB60Hw1UwNPfhxPyp2PhuUItulbQlhSgDf0jRHyTp/iqneNihrhsyiAs5NSM6+EJHV17d0SAVgZ3ZRGT3CU/7t5mzize0BC1yA9D7KP7mobHVmJTwsxQhheO2384b/TTrlaKP84+Gbo72qvWqiSUTiSZ0s="
    );

    // Sentry's variant: no callback at all
    let no_cb =
        request_token_request(&signer, "https://jira.example.com", None, &g_opts()).unwrap();
    assert!(!no_cb.signed.authorization.contains("oauth_callback"));
}

#[test]
fn access_token_request_matches_g2() {
    let Some(signer) = sentry("access_token_request_matches_g2") else {
        return;
    };
    let step = access_token_request(
        &signer,
        "https://jira.example.com",
        &Token::new("abc123", "request-secret"),
        "xyz789",
        &g_opts(),
    )
    .unwrap();
    assert_eq!(
        step.request.uri(),
        "https://jira.example.com/plugins/servlet/oauth/access-token"
    );
    assert_eq!(
        step.signed.signature,
        "LZ/I1FvTOWbee9B/15Q3KeZEVYVdeoFd3KfrxgBc/KkGeOZ6BFp83vS6CjNlhAozxgh1MacP6nBbnvU48KuE7nULLH3Z7c8R4TwT+YUDokTkXXIUuWsbv2P72riWH/nK5cr7t3rtw3wKxLEZitRKvN+45ScOxtKtwPmwJPnV63g="
    );
}

#[test]
fn authorize_url_keeps_context_path() {
    assert_eq!(
        authorize_url("https://example.com/jira", "t+1/2"),
        "https://example.com/jira/plugins/servlet/oauth/authorize?oauth_token=t%2B1%2F2"
    );
}

#[test]
fn flow_helpers_reject_bad_base_urls() {
    for base in ["jira.example.com", "", "https://"] {
        assert!(
            request_token_request(&shipped_signer(), base, None, &g_opts()).is_err(),
            "{base}"
        );
    }
}

#[test]
fn token_replies() {
    let r = parse_token_reply(
        b"oauth_token=acc%20tok&oauth_token_secret=a+b%2Bc&oauth_expires_in=157680000",
    )
    .unwrap();
    assert_eq!(r.token.key(), "acc tok");
    assert_eq!(r.token.secret().expose_secret(), "a b+c");
    assert_eq!(r.callback_confirmed, None);
    assert_eq!(
        r.extra,
        vec![("oauth_expires_in".to_owned(), "157680000".to_owned())]
    );
    assert_eq!(
        format!("{:?}", r.token),
        "Token { key: \"acc tok\", secret: [redacted] }"
    );

    for (body, err) in [
        (&b""[..], TokenReplyError::MissingToken),
        (b"oauth_token_secret=s", TokenReplyError::MissingToken),
        (
            b"oauth_token=&oauth_token_secret=s",
            TokenReplyError::MissingToken,
        ),
        (b"oauth_token=t", TokenReplyError::MissingTokenSecret),
        (
            b"oauth_token=t&oauth_token_secret=",
            TokenReplyError::MissingTokenSecret,
        ),
        (
            b"oauth_token=t&oauth_token=u&oauth_token_secret=s",
            TokenReplyError::Duplicate("oauth_token".into()),
        ),
        (
            b"oauth_token=%FF&oauth_token_secret=s",
            TokenReplyError::NotUtf8("oauth_token".into()),
        ),
        (
            b"oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1-2",
            TokenReplyError::Problem {
                problem: "timestamp_refused".into(),
                advice: None,
            },
        ),
        (
            b"oauth_error=token+expired",
            TokenReplyError::Problem {
                problem: "token expired".into(),
                advice: None,
            },
        ),
        (b"<html>404</html>", TokenReplyError::MissingToken),
    ] {
        assert_eq!(
            parse_token_reply(body).unwrap_err(),
            err,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let err = parse_token_reply(
        b"oauth_problem=token_rejected&oauth_problem_advice=The+token+is+no+longer+valid",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Jira refused the token request: oauth_problem=token_rejected (The token is no longer valid)"
    );
    assert_eq!(
        TokenReplyError::MissingTokenSecret.to_string(),
        "Missing oauth_token_secret"
    );
}
