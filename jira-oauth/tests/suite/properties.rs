//! Property tests. Each property states its invariant in plain words.
#![allow(clippy::similar_names)] // signer / signed

use std::time::Duration;

use jira_oauth::{
    Body, ConsumerSecret, InMemoryNonceStore, RequestParts, RsaPrivateKey, RsaPublicKey,
    SignOptions, Signer, Token, TokenSecret, VerifyError, VerifyKey, form_decode, form_encode,
    parse_authorization_header, parse_token_reply, percent_decode, percent_encode, verify,
};
use proptest::prelude::*;

const KEY: &str = include_str!("../fixtures/wiki/wiki-rsa1024-pkcs8.pem");
const PUB: &str = include_str!("../fixtures/wiki/wiki-rsa1024-pub-spki.pem");
const NOW: u64 = 1_700_000_000;
const WINDOW: Duration = Duration::from_secs(300);

/// A random request: method, URL with odd ports, unicode and reserved
/// characters in path and query, duplicate and empty parameters, optional form body.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    scheme: &'static str,
    host: String,
    port: Option<u16>,
    path: Vec<String>,
    query: Vec<(String, String)>,
    form: Option<Vec<(String, String)>>,
}

impl Req {
    fn url(&self) -> String {
        let mut url = format!("{}://{}", self.scheme, self.host);
        if let Some(p) = self.port {
            url.push(':');
            url.push_str(&p.to_string());
        }
        for seg in &self.path {
            url.push('/');
            url.push_str(&percent_encode(seg));
        }
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&form_encode(&self.query));
        }
        url
    }

    fn form_body(&self) -> Option<String> {
        self.form.as_ref().map(|f| form_encode(f))
    }
}

fn text() -> impl Strategy<Value = String> {
    // unicode, reserved characters, spaces, plus signs, percent signs, empties
    prop_oneof![
        "[a-zA-Z0-9]{0,6}",
        "[ !*'();:@&=+$,/?#\\[\\]%~._-]{0,6}",
        "\\PC{0,6}",
        Just(String::new()),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    // names from a small set so duplicates are frequent
    prop::collection::vec(
        (
            prop_oneof![
                Just("a".to_owned()),
                Just("a1".to_owned()),
                Just("A".to_owned()),
                text()
            ],
            text(),
        ),
        0..6,
    )
}

fn req() -> impl Strategy<Value = Req> {
    (
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("PUT"),
            Just("DELETE"),
            Just("patch"),
            Just("PROPFIND")
        ],
        prop_oneof![Just("http"), Just("https")],
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        prop_oneof![
            Just(None),
            Just(Some(80)),
            Just(Some(443)),
            any::<u16>().prop_map(Some)
        ],
        prop::collection::vec(text(), 0..4),
        params(),
        prop::option::of(params()),
    )
        .prop_map(|(method, scheme, host, port, path, query, form)| Req {
            method: method.to_owned(),
            scheme,
            host,
            port,
            path,
            query,
            form,
        })
}

fn parts<'a>(r: &Req, url: &'a str, body: Option<&'a String>) -> RequestParts<'a> {
    // `method` must outlive the parts: leak-free by borrowing from a static set
    let method: &'static str = match r.method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "patch" => "patch",
        _ => "PROPFIND",
    };
    let p = RequestParts::new(method, url);
    match body {
        Some(b) => p.with_body(Body::Form(b.as_bytes())),
        None => p,
    }
}

fn hmac_signer() -> Signer {
    Signer::hmac_sha1("consumer key", ConsumerSecret::new("cs&é"))
        .with_token(Token::new("tok/en", "ts +"))
}

fn hmac_key<'a>(cs: &'a ConsumerSecret, ts: &'a TokenSecret) -> VerifyKey<'a> {
    VerifyKey::HmacSha1 {
        consumer_secret: cs,
        token_secret: Some(ts),
    }
}

proptest! {
    /// Percent-encoding then decoding gives back the original string, and the
    /// encoding uses only unreserved characters and upper-case `%XX` escapes.
    #[test]
    fn percent_encoding_round_trips(s in "\\PC*") {
        let enc = percent_encode(&s);
        prop_assert_eq!(percent_decode(&enc), s);
        let bytes = enc.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                prop_assert!(bytes[i + 1..i + 3].iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
                i += 3;
            } else {
                prop_assert!(bytes[i].is_ascii_alphanumeric() || b"-._~".contains(&bytes[i]));
                i += 1;
            }
        }
    }

    /// Form-encoding plain pairs and decoding them gives back the same pairs
    /// (order and duplicates kept).
    #[test]
    fn form_encoding_round_trips(pairs in prop::collection::vec(("\\PC*", "\\PC*"), 0..5)) {
        let nonempty: Vec<(String, String)> = pairs.into_iter().filter(|(n, v)| !(n.is_empty() && v.is_empty())).collect();
        let decoded: Vec<(String, String)> = form_decode(form_encode(&nonempty).as_bytes())
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        prop_assert_eq!(decoded, nonempty);
    }

    /// The base string and the signature do not depend on the order in which
    /// query and form parameters are given.
    #[test]
    fn signature_independent_of_parameter_order(
        (original, shuffled) in params().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle())),
        split in 0usize..6,
    ) {
        let signer = hmac_signer();
        let opts = SignOptions::new().nonce("n").timestamp(NOW);
        let sign = |p: &[(String, String)]| {
            let cut = split.min(p.len());
            let url = format!("https://jira.example.com/rest?{}", form_encode(&p[..cut]));
            let body = form_encode(&p[cut..]);
            signer.sign(&RequestParts::new("POST", &url).with_body(Body::Form(body.as_bytes())), &opts).unwrap()
        };
        let a = sign(&original);
        let b = sign(&shuffled);
        prop_assert_eq!(&a.base_string, &b.base_string);
        prop_assert_eq!(a.signature, b.signature);
    }

    /// Signing then verifying (after a round trip through the header text)
    /// succeeds for any request.
    #[test]
    fn sign_then_verify_hmac(r in req()) {
        let url = r.url();
        let body = r.form_body();
        let p = parts(&r, &url, body.as_ref());
        let signed = hmac_signer().sign(&p, &SignOptions::new().timestamp(NOW)).unwrap();
        let params = parse_authorization_header(&signed.authorization).unwrap();
        let (cs, ts) = (ConsumerSecret::new("cs&é"), TokenSecret::new("ts +"));
        let ok = verify(&p, &params, &hmac_key(&cs, &ts), &InMemoryNonceStore::new(), NOW, WINDOW);
        prop_assert!(ok.is_ok(), "{:?}", ok);
    }

    /// Changing any signed part (method, host, path, a parameter, the form
    /// body) after signing makes verification fail with signature_invalid.
    #[test]
    fn tampering_breaks_verification(r in req(), what in 0usize..5, pick in any::<prop::sample::Index>()) {
        let url = r.url();
        let body = r.form_body();
        let p = parts(&r, &url, body.as_ref());
        let signed = hmac_signer().sign(&p, &SignOptions::new().timestamp(NOW)).unwrap();
        let params = parse_authorization_header(&signed.authorization).unwrap();

        let mut t = r.clone();
        match what {
            0 => t.method = if r.method.eq_ignore_ascii_case("GET") { "POST".into() } else { "GET".into() },
            1 => t.host.push('x'),
            2 => t.path.push("x".into()),
            3 if !t.query.is_empty() => { let i = pick.index(t.query.len()); t.query[i].1.push('x'); }
            3 => t.query.push(("q".into(), String::new())),
            _ => match &mut t.form {
                Some(f) if !f.is_empty() => { let i = pick.index(f.len()); f[i].1.push('x'); }
                Some(f) => f.push(("z".into(), "1".into())),
                None => t.form = Some(vec![("z".into(), "1".into())]),
            },
        }
        let t_url = t.url();
        let t_body = t.form_body();
        let tp = parts(&t, &t_url, t_body.as_ref());
        let (cs, ts) = (ConsumerSecret::new("cs&é"), TokenSecret::new("ts +"));
        let err = verify(&tp, &params, &hmac_key(&cs, &ts), &InMemoryNonceStore::new(), NOW, WINDOW).unwrap_err();
        prop_assert!(matches!(err, VerifyError::SignatureInvalid { .. }), "{:?}", err);
    }

    /// Arbitrary text never panics the header parser, the token-reply parser,
    /// the key loaders or the signer (bad input gives errors).
    #[test]
    fn bad_input_never_panics(s in "\\PC{0,80}", b in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse_authorization_header(&s);
        let _ = parse_authorization_header(&format!("OAuth {s}"));
        let _ = parse_token_reply(&b);
        let _ = parse_token_reply(s.as_bytes());
        let _ = RsaPrivateKey::from_pem(&s);
        let _ = RsaPrivateKey::from_pem(&format!("-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----"));
        let _ = RsaPublicKey::from_pem(&s);
        let _ = jira_oauth::base_string_uri(&s);
        let _ = hmac_signer().sign(&RequestParts::new(&s, &s).with_body(Body::Form(&b)), &SignOptions::new());
        let _ = hmac_signer().sign(&RequestParts::new("GET", &format!("http://{s}")), &SignOptions::new());
    }
}

/// Header-shaped text: the scheme, names, quotes, commas, escapes and blanks
/// in random order, so the parser's paths are reached far more often than by
/// arbitrary text.
fn headerish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("OAuth ".to_owned()),
            Just("oauth_nonce".to_owned()),
            Just("oauth_token".to_owned()),
            Just("oauth_%5Fx".to_owned()),
            Just("REALM".to_owned()),
            Just("foo".to_owned()),
            Just("=".to_owned()),
            Just("\"".to_owned()),
            Just(",".to_owned()),
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("%".to_owned()),
            Just("%2".to_owned()),
            Just("%22".to_owned()),
            Just("%C3%A9".to_owned()),
            Just("%FF".to_owned()),
            "[a-zA-Z0-9+/=]{1,4}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    /// The fuzz target bodies hold their invariants (no panic; whatever parses
    /// renders to text that parses back to the same value) on header-shaped
    /// and token-reply-shaped input.
    #[test]
    fn fuzz_bodies_hold_on_structured_input(
        h in headerish(),
        reply in prop::collection::vec(
            prop_oneof![
                Just("oauth_token".to_owned()), Just("oauth_token_secret".to_owned()),
                Just("oauth_problem".to_owned()), Just("=".to_owned()), Just("&".to_owned()),
                Just("+".to_owned()), Just("%".to_owned()), Just("%2B".to_owned()),
                Just("%FF".to_owned()), "[a-z0-9]{1,3}",
            ],
            0..16,
        ),
    ) {
        jira_oauth::fuzzing::oauth_header(h.as_bytes());
        jira_oauth::fuzzing::oauth_header(format!("OAuth {h}").as_bytes());
        jira_oauth::fuzzing::oauth_token_reply(reply.concat().as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// RSA-SHA1: signing then verifying with the public key succeeds for any
    /// request, and the signature fails for a changed path.
    #[test]
    fn sign_then_verify_rsa(r in req()) {
        let url = r.url();
        let body = r.form_body();
        let p = parts(&r, &url, body.as_ref());
        let signer = Signer::rsa_sha1("ck", RsaPrivateKey::from_pem(KEY).unwrap());
        let signed = signer.sign(&p, &SignOptions::new().timestamp(NOW)).unwrap();
        let params = parse_authorization_header(&signed.authorization).unwrap();
        let pk = RsaPublicKey::from_pem(PUB).unwrap();
        let ok = verify(&p, &params, &VerifyKey::RsaSha1(&pk), &InMemoryNonceStore::new(), NOW, WINDOW);
        prop_assert!(ok.is_ok(), "{:?}", ok);
        let mut t = r.clone();
        t.path.push("x".into());
        let t_url = t.url();
        let tp = parts(&t, &t_url, body.as_ref());
        prop_assert!(verify(&tp, &params, &VerifyKey::RsaSha1(&pk), &InMemoryNonceStore::new(), NOW, WINDOW).is_err());
    }
}
