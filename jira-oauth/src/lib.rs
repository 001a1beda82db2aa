//! RFC 5849-exact OAuth 1.0a for Jira Server / Data Center: signing
//! (RSA-SHA1, HMAC-SHA1, PLAINTEXT), the three-legged flow, and provider-side
//! verification. Sans-IO: it builds header values and [`http::Request`]s and
//! parses replies; bring your own HTTP client.
//!
//! # Signing a Jira REST request
//!
//! ```
//! use jira_oauth::{RequestParts, RsaPrivateKey, SignOptions, Signer, Token};
//!
//! // A throw-away test key (python oauthlib's); yours is the application link's private key.
//! let key = RsaPrivateKey::from_pem(include_str!("../tests/fixtures/oauthlib/oauthlib-rsa1024-pkcs1.pem"))?;
//! let signer = Signer::rsa_sha1("sentry-bot", key).with_token(Token::new("valid-token", ""));
//!
//! let url = "https://JIRA.example.com:8443/rest/api/2/user/assignable/search?issueKey=APP-1&username=bob%40example.org&x=a%20b";
//! // Nonce and timestamp are random/current by default; fixed here to get a known answer.
//! let opts = SignOptions::new().nonce("jiranonce1").timestamp(1_700_000_000);
//! let signed = signer.sign(&RequestParts::new("GET", url), &opts)?;
//!
//! assert!(signed.base_string.starts_with("GET&https%3A%2F%2Fjira.example.com%3A8443%2Frest"));
//! assert!(signed.authorization.starts_with(r#"OAuth oauth_consumer_key="sentry-bot", oauth_token="valid-token""#));
//! assert_eq!(signed.signature, "Fz1Wc0F55NEAnOHI2e9kwqAnWTrs7lAt3NO+WEdTKMghCHRxXz89qPOU9Gz8c/eP0/jNYswPRLQ6LbDod28lFUm7zNt1Ifuu4PQORglPvAThcACJlMd6z7paCOaSsK4/ZRkDZnAnm27aHi5vArzTShccDnNMTj6VnoKm50C8xhI=");
//!
//! // Or sign an http::Request in place (JSON bodies are not signed; form bodies are):
//! let mut req = http::Request::put("https://jira.example.com/rest/api/2/issue/APP-1/assignee")
//!     .header("content-type", "application/json")
//!     .body(br#"{"name":"bob"}"#.to_vec())?;
//! signer.sign_request(&mut req, &SignOptions::new())?;
//! assert!(req.headers()["authorization"].to_str()?.starts_with("OAuth "));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The three-legged flow
//!
//! ```
//! use jira_oauth::{
//!     access_token_request, authorize_url, parse_token_reply, request_token_request,
//!     RsaPrivateKey, SignOptions, Signer,
//! };
//!
//! let key = RsaPrivateKey::from_pem(include_str!("../tests/fixtures/oauthlib/oauthlib-rsa1024-pkcs1.pem"))?;
//! let signer = Signer::rsa_sha1("sentry-bot", key);
//! let jira = "https://jira.example.com";
//!
//! // 1. request token (send `step1.request` with your HTTP client)
//! let step1 = request_token_request(&signer, jira, Some("https://app.example.com/cb"), &SignOptions::new())?;
//! assert_eq!(step1.request.uri(), "https://jira.example.com/plugins/servlet/oauth/request-token");
//! let reply = b"oauth_token=req123&oauth_token_secret=reqsecret&oauth_callback_confirmed=true";
//! let request_token = parse_token_reply(reply)?.token;
//!
//! // 2. send the user to Jira to approve
//! let url = authorize_url(jira, request_token.key());
//! assert_eq!(url, "https://jira.example.com/plugins/servlet/oauth/authorize?oauth_token=req123");
//!
//! // 3. exchange request token + verifier (from the callback) for an access token
//! let step3 = access_token_request(&signer, jira, &request_token, "verif", &SignOptions::new())?;
//! assert!(step3.signed.base_string.contains("oauth_verifier%3Dverif"));
//! let access = parse_token_reply(b"oauth_token=acc&oauth_token_secret=accsecret")?.token;
//!
//! // 4. sign API calls with the access token
//! let api = signer.with_token(access);
//! assert_eq!(api.token().map(|t| t.key()), Some("acc"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Verifying (provider side)
//!
//! ```
//! use std::time::Duration;
//! use jira_oauth::{
//!     parse_authorization_header, verify, InMemoryNonceStore, RequestParts, RsaPrivateKey,
//!     RsaPublicKey, SignOptions, Signer, VerifyKey,
//! };
//!
//! let key = RsaPrivateKey::from_pem(include_str!("../tests/fixtures/oauthlib/oauthlib-rsa1024-pkcs1.pem"))?;
//! let public = RsaPublicKey::from_pem(include_str!("../tests/fixtures/oauthlib/oauthlib-rsa1024-pub-spki.pem"))?;
//! let request = RequestParts::new("GET", "https://jira.example.com/rest/api/2/myself");
//! let signed = Signer::rsa_sha1("sentry-bot", key).sign(&request, &SignOptions::new().timestamp(1_700_000_000))?;
//!
//! let params = parse_authorization_header(&signed.authorization)?;
//! let nonces = InMemoryNonceStore::new();
//! let ok = verify(&request, &params, &VerifyKey::RsaSha1(&public), &nonces, 1_700_000_010, Duration::from_secs(300))?;
//! assert_eq!(ok.consumer_key, "sentry-bot");
//! // a replay is refused
//! let err = verify(&request, &params, &VerifyKey::RsaSha1(&public), &nonces, 1_700_000_010, Duration::from_secs(300)).unwrap_err();
//! assert_eq!(err.oauth_problem(), "nonce_used");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is covered
//!
//! * percent-encoding per RFC 5849 §3.6 ([`percent_encode`]);
//! * base string per §3.4.1 ([`signature_base_string`], [`base_string_uri`],
//!   [`Parameters`]): query and form parameters decoded (`+` is a space) and
//!   re-encoded, duplicates kept, sorted by encoded name then value;
//! * RSA-SHA1 (RSASSA-PKCS1-v1_5 with the SHA-1 DigestInfo, as Java's
//!   `SHA1withRSA` expects), HMAC-SHA1, PLAINTEXT; PKCS#1 and PKCS#8 PEM keys;
//! * `oauth_body_hash` for non-form bodies (optional; Jira does not need it);
//! * three-legged flow helpers and token-reply parsing;
//! * header parsing and verification with a timestamp window and a nonce store
//!   ([`parse_authorization_header`], [`verify`], [`request_url`] for servers that
//!   receive origin-form URIs).
//!
//! SHA-1 is weak, but RFC 5849 and Jira mandate it for these methods.
//!
//! # Other crates' types in this API
//!
//! Only [`http`]'s (`http::Request`, `Method`, `Uri`, `HeaderMap`; re-exported as
//! [`jira_oauth::http`](http)), on purpose: they are the currency of every Rust HTTP client.
//! The RSA, SHA-1, HMAC and encoding crates used inside are not part of the API (their errors
//! arrive as this crate's [`KeyError`] and [`SignError`]), so upgrading them is not a breaking
//! change here.

mod encoding;
mod flow;
mod header;
mod keys;
mod secret;
mod sign;
mod url;
mod verify;

#[doc(hidden)]
pub mod fuzzing;

pub use encoding::{
    Parameters, form_decode, form_encode, percent_decode, percent_decode_bytes, percent_encode,
    percent_encode_bytes,
};
pub use flow::{
    ACCESS_TOKEN_PATH, AUTHORIZE_PATH, REQUEST_TOKEN_PATH, SignedRequest, TokenReply,
    TokenReplyError, access_token_request, authorize_url, parse_token_reply, request_token_request,
};
pub use header::{HeaderError, OAuthParams, parse_authorization_header};
pub use keys::{ConsumerSecret, KeyError, RsaPrivateKey, RsaPublicKey, Token, TokenSecret};
pub use secret::SecretString;
pub use sign::{
    Body, RequestParts, SignError, SignOptions, SignatureMethod, Signed, Signer, body_hash,
    fresh_nonce, signature_base_string, unix_now,
};
pub use url::{UrlError, base_string_uri};
pub use verify::{
    InMemoryNonceStore, NonceStore, Verified, VerifyError, VerifyKey, base_string_for, request_url,
    verify,
};

pub use http;

// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
