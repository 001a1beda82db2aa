//! The token in the webhook URL: a JWT `{"id": "<external id>"}` signed with HS256
//! (Sentry §2.3, §3.1).
//!
//! The receiving endpoint reads the **unverified** `id` claim ([`peek_id`]) to find the
//! integration, then verifies the token with that integration's secret ([`verify`]).
//!
//! # Why hand-written instead of `jsonwebtoken`
//! Only one algorithm is ever needed, and the check runs on every delivery. `jsonwebtoken` 12
//! (with only its RustCrypto backend, the hmac 0.13 / sha2 0.11 generation the workspace uses)
//! was tried and measured: its `decode` parses the header into its `Header` type and the claims
//! twice, and copies the key into a boxed verifier, 10.3k more instructions per token (24.7k
//! to 35.0k), which cost mix (b) of the load harness about 7% of its requests per second
//! (DEPENDENCIES.md has the runs). It would also add about 20 crates (its ECDSA and EdDSA
//! verifiers cannot be left out), and its defaults require `exp`, which Sentry's tokens never
//! carry.
//! The format is small enough to implement strictly here (about 100 lines):
//! * exactly three base64url segments without padding;
//! * the header must say `"alg": "HS256"`; `none`, `HS384`, `RS256` and everything else is
//!   rejected before any key is used; a `crit` header is rejected;
//! * the MAC is compared in constant time (`hmac`'s `verify_slice`);
//! * no `exp` is required; if `exp` or `nbf` is present it must be a number and is enforced
//!   (a mistyped claim is an error, not "absent": the lesson of CVE-2026-25537).
//!
//! The known-answer tests use the jwt.io example token and a token computed independently
//! with Python's `hmac` module (the same bytes PyJWT 2 produces for Sentry).
//!
//! The HMAC key is the secret's bytes as given. [`WebhookSecret`] keeps 32 random bytes and
//! uses its 64-character lowercase hex text as the key, the way Sentry uses its 40-character
//! hex text, so tokens issued by Sentry verify with Sentry's secret string unchanged.
//!
//! ```
//! use reference_server::jira::webhook_token::{self, WebhookSecret};
//! let secret = WebhookSecret::generate().unwrap();
//! let token = webhook_token::issue("jira.example.com:sentry-bot", secret.key());
//! assert_eq!(webhook_token::peek_id(&token).unwrap(), "jira.example.com:sentry-bot");
//! assert!(webhook_token::verify(&token, secret.key()).is_ok());
//! let other = WebhookSecret::generate().unwrap();
//! assert!(webhook_token::verify(&token, other.key()).is_err());
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was rejected. The `Display` text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is the empty string.
    #[error("empty webhook token")]
    Empty,
    /// Not three base64url segments of JSON objects.
    #[error("webhook token is not a well-formed JWT: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than HS256 (including `none`).
    #[error("webhook token algorithm {0:?} is not accepted (only HS256)")]
    UnsupportedAlgorithm(String),
    /// The claims have no string `id`.
    #[error("webhook token has no string \"id\" claim")]
    MissingId,
    /// The signature does not match the integration's secret.
    #[error("webhook token signature does not verify")]
    BadSignature,
    /// `exp` is in the past or `nbf` in the future.
    #[error("webhook token is expired or not yet valid")]
    Expired,
    /// `exp` or `nbf` is present but not a number.
    #[error("webhook token claim {0:?} has the wrong type")]
    InvalidClaim(&'static str),
}

/// A webhook secret: 32 random bytes from the operating system, held in the server's one
/// secret type ([`Secret`]: redacted `Debug`, constant-time comparison).
///
/// Serialises as 64 lowercase hex characters; [`WebhookSecret::key`] is that text's bytes.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecret(Secret);

impl WebhookSecret {
    /// 32 bytes from the OS random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        let hex = bytes.iter().fold(String::with_capacity(64), |mut s, b| {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
            s
        });
        Ok(Self(Secret::new(hex)))
    }

    /// The HMAC key (the hex text's bytes).
    pub fn key(&self) -> &[u8] {
        self.0.expose().as_bytes()
    }
}

/// Prints `WebhookSecret([redacted])`.
impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// Constant time ([`Secret`]'s comparison), not derived.
impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for WebhookSecret {}

impl TryFrom<String> for WebhookSecret {
    type Error = String;

    fn try_from(hex: String) -> Result<Self, Self::Error> {
        if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(Secret::new(hex)))
        } else {
            Err("a webhook secret is 64 lowercase hex characters".to_owned())
        }
    }
}

impl From<WebhookSecret> for String {
    fn from(secret: WebhookSecret) -> Self {
        secret.0.expose().to_owned()
    }
}

const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

/// Issues `{"id": external_id}` signed with HS256 under `secret`, header
/// `{"alg":"HS256","typ":"JWT"}` (byte-identical to PyJWT 2's output).
pub fn issue(external_id: &str, secret: &[u8]) -> String {
    let claims = serde_json::json!({ "id": external_id }).to_string();
    let signing_input = format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(claims));
    let signature = URL_SAFE_NO_PAD.encode(
        mac(secret, signing_input.as_bytes())
            .finalize()
            .into_bytes(),
    );
    format!("{signing_input}.{signature}")
}

/// Reads the `id` claim **without verifying** the signature (only to find the integration
/// whose secret then verifies it). The header's algorithm is still checked, so an
/// `alg: none` token fails here already. The id may be the empty string.
pub fn peek_id(token: &str) -> Result<String, TokenError> {
    peek(token).map(|p| p.id)
}

/// A token whose header was checked and whose claims were read ([`peek`]), not verified yet.
///
/// [`Peeked::verify`] finishes the job of [`verify`] without splitting and decoding the token
/// a second time: the webhook handler peeks the id, looks the integration up, then verifies.
pub struct Peeked<'a> {
    signature: &'a str,
    signing_input: &'a str,
    claims: serde_json::Map<String, Value>,
    id: String,
}

impl fmt::Debug for Peeked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the token, nor its signature.
        f.debug_struct("Peeked")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Like [`peek_id`], keeping what [`Peeked::verify`] needs.
pub fn peek(token: &str) -> Result<Peeked<'_>, TokenError> {
    let parts = split(token)?;
    check_header(parts.header)?;
    let mut claims = decode_object(parts.claims)?;
    let Some(Value::String(id)) = claims.remove("id") else {
        return Err(TokenError::MissingId);
    };
    let signing_input = token
        .get(..parts.header.len() + 1 + parts.claims.len())
        .ok_or(TokenError::Malformed("truncated"))?;
    Ok(Peeked {
        signature: parts.signature,
        signing_input,
        claims,
        id,
    })
}

impl Peeked<'_> {
    /// The unverified `id` claim.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Verifies the signature with `secret` (HS256) and the optional `exp`/`nbf`: the same
    /// answer as [`verify`] on the same token.
    pub fn verify(&self, secret: &[u8]) -> Result<(), TokenError> {
        check_signature(self.signing_input, self.signature, secret)?;
        check_times(&self.claims)
    }
}

/// Verifies the token with `secret` (HS256 only) and its optional `exp`/`nbf`; returns the
/// `id` claim.
pub fn verify(token: &str, secret: &[u8]) -> Result<String, TokenError> {
    let parts = split(token)?;
    check_header(parts.header)?;
    let signing_input_len = parts.header.len() + 1 + parts.claims.len();
    let signing_input = token
        .get(..signing_input_len)
        .ok_or(TokenError::Malformed("truncated"))?;
    check_signature(signing_input, parts.signature, secret)?;
    let claims = decode_object(parts.claims)?;
    check_times(&claims)?;
    match claims.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        _ => Err(TokenError::MissingId),
    }
}

fn check_signature(signing_input: &str, signature: &str, secret: &[u8]) -> Result<(), TokenError> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
    mac(secret, signing_input.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)
}

fn check_times(claims: &serde_json::Map<String, Value>) -> Result<(), TokenError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Some(exp) = claims.get("exp") {
        let exp = exp.as_f64().ok_or(TokenError::InvalidClaim("exp"))?;
        if exp <= now {
            return Err(TokenError::Expired);
        }
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or(TokenError::InvalidClaim("nbf"))?;
        if nbf > now {
            return Err(TokenError::Expired);
        }
    }
    Ok(())
}

fn mac(secret: &[u8], input: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(input);
    mac
}

struct Parts<'a> {
    header: &'a str,
    claims: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    let mut it = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated segments",
        ));
    };
    if header.is_empty() || claims.is_empty() || signature.is_empty() {
        return Err(TokenError::Malformed("empty segment"));
    }
    Ok(Parts {
        header,
        claims,
        signature,
    })
}

fn decode_object(segment: &str) -> Result<serde_json::Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed("segment is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TokenError::Malformed("segment is not a JSON object")),
    }
}

fn check_header(segment: &str) -> Result<(), TokenError> {
    if segment == HEADER_B64 {
        // The header this module issues (and PyJWT 2 emits): `{"alg":"HS256","typ":"JWT"}`
        // passes the checks below; skip decoding it on every delivery.
        return Ok(());
    }
    let header = decode_object(segment)?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => return Err(TokenError::UnsupportedAlgorithm(alg.clone())),
        _ => return Err(TokenError::Malformed("header has no \"alg\"")),
    }
    if header.contains_key("crit") {
        return Err(TokenError::Malformed("\"crit\" header is not supported"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example token shown on jwt.io (HS256, secret `your-256-bit-secret`).
    const JWT_IO: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn jwt_io_example_signature_verifies() {
        // The signature is right, but the claims have no `id`: that is the only complaint.
        assert_eq!(
            verify(JWT_IO, b"your-256-bit-secret"),
            Err(TokenError::MissingId)
        );
        assert_eq!(
            verify(JWT_IO, b"another secret"),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn issue_matches_independent_computation() {
        // Computed with Python's hmac/hashlib/base64 (what PyJWT 2 emits for
        // jwt.encode({"id": "jira.example.com:sentry-bot"}, "a long secret value")).
        let token = issue("jira.example.com:sentry-bot", b"a long secret value");
        assert_eq!(token, KNOWN_SENTRY_TOKEN);
        assert_eq!(
            verify(KNOWN_SENTRY_TOKEN, b"a long secret value").unwrap(),
            "jira.example.com:sentry-bot"
        );
    }

    const KNOWN_SENTRY_TOKEN: &str = include_str!("../../tests/fixtures/jira/known_token.txt");

    #[test]
    fn empty_id_is_accepted() {
        let token = issue("", b"k");
        assert_eq!(peek_id(&token).unwrap(), "");
        assert_eq!(verify(&token, b"k").unwrap(), "");
    }

    #[test]
    fn rejects_other_algorithms_and_garbage() {
        let none = format!(
            "{}.{}.x",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"id":"a"}"#)
        );
        assert_eq!(
            peek_id(&none),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
        assert_eq!(
            verify(&none, b"k"),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"id":"a"}"#)
        );
        assert!(verify(&unsigned, b"k").is_err());
        let hs384 = format!(
            "{}.{}.AAAA",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS384"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"id":"a"}"#)
        );
        assert_eq!(
            verify(&hs384, b"k"),
            Err(TokenError::UnsupportedAlgorithm("HS384".into()))
        );
        assert_eq!(peek_id(""), Err(TokenError::Empty));
        assert!(matches!(peek_id("abc"), Err(TokenError::Malformed(_))));
        assert!(matches!(peek_id("a.b.c.d"), Err(TokenError::Malformed(_))));
        assert!(matches!(peek_id("!!.!!.!!"), Err(TokenError::Malformed(_))));
        let no_id = issue("x", b"k").replace(
            &URL_SAFE_NO_PAD.encode(r#"{"id":"x"}"#),
            &URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#),
        );
        assert_eq!(peek_id(&no_id), Err(TokenError::MissingId));
    }

    #[test]
    fn tampered_claims_fail() {
        let token = issue("a", b"k");
        let forged = token.replace(
            &URL_SAFE_NO_PAD.encode(r#"{"id":"a"}"#),
            &URL_SAFE_NO_PAD.encode(r#"{"id":"b"}"#),
        );
        assert_eq!(peek_id(&forged).unwrap(), "b");
        assert_eq!(verify(&forged, b"k"), Err(TokenError::BadSignature));
    }

    fn signed(claims: &str, key: &[u8]) -> String {
        let input = format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(claims));
        let sig = URL_SAFE_NO_PAD.encode(mac(key, input.as_bytes()).finalize().into_bytes());
        format!("{input}.{sig}")
    }

    #[test]
    fn peeked_verify_agrees_with_verify() {
        let other_header = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"id":"a","nbf":1}"#)
        );
        let sig =
            URL_SAFE_NO_PAD.encode(mac(b"k", other_header.as_bytes()).finalize().into_bytes());
        let tokens = [
            KNOWN_SENTRY_TOKEN.to_owned(),
            issue("a", b"k"),
            format!("{other_header}.{sig}"),
            signed(r#"{"id":"a","exp":1}"#, b"k"),
            signed(r#"{"id":"a","exp":"1"}"#, b"k"),
            signed(r#"{"id":"a","exp":99999999999}"#, b"k"),
            format!("{}!", issue("a", b"k")),
        ];
        for token in &tokens {
            for key in [&b"k"[..], b"a long secret value", b"wrong"] {
                let expected = verify(token, key);
                let got = peek(token).and_then(|p| p.verify(key).map(|()| p.id().to_owned()));
                assert_eq!(got, expected, "{token}");
            }
        }
        assert_eq!(
            peek(KNOWN_SENTRY_TOKEN).map(|p| p.id().to_owned()),
            peek_id(KNOWN_SENTRY_TOKEN)
        );
        // The issued header is the fast path; a reordered one is checked the long way.
        assert!(KNOWN_SENTRY_TOKEN.starts_with(HEADER_B64));
        assert!(check_header(HEADER_B64).is_ok());
        assert!(check_header(&URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"HS256"}"#)).is_ok());
        assert_eq!(
            check_header(&URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","crit":[]}"#)),
            Err(TokenError::Malformed("\"crit\" header is not supported"))
        );
    }

    #[test]
    fn exp_is_optional_but_enforced_and_typed() {
        assert_eq!(
            verify(&signed(r#"{"id":"a","exp":1}"#, b"k"), b"k"),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&signed(r#"{"id":"a","exp":"99999999999"}"#, b"k"), b"k"),
            Err(TokenError::InvalidClaim("exp"))
        );
        assert_eq!(
            verify(&signed(r#"{"id":"a","exp":99999999999}"#, b"k"), b"k").unwrap(),
            "a"
        );
        assert_eq!(
            verify(&signed(r#"{"id":"a","nbf":99999999999}"#, b"k"), b"k"),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn errors_never_contain_the_token() {
        let token = issue("secret-id", b"k");
        for err in [
            verify(&token, b"wrong").unwrap_err(),
            peek_id("x.y").unwrap_err(),
        ] {
            assert!(!err.to_string().contains(&token));
        }
    }

    proptest::proptest! {
        /// Invariant: for any external id and any key, a token we issue reads back the same id
        /// unverified and verified, and does not verify under a different key.
        #[test]
        fn issue_then_verify_round_trips(id in ".{0,80}", key in proptest::collection::vec(proptest::num::u8::ANY, 1..64)) {
            let token = issue(&id, &key);
            proptest::prop_assert_eq!(peek_id(&token).unwrap(), id.clone());
            proptest::prop_assert_eq!(verify(&token, &key).unwrap(), id);
            let mut other = key.clone();
            other[0] ^= 1;
            proptest::prop_assert_eq!(verify(&token, &other), Err(TokenError::BadSignature));
        }

        /// Invariant: arbitrary input (any string, or three arbitrary dot-joined segments)
        /// never panics and never verifies without the right MAC.
        #[test]
        fn arbitrary_input_never_panics_or_verifies(s in ".{0,200}", a in "[A-Za-z0-9_-]{0,40}", b in "[A-Za-z0-9_-]{0,40}", c in "[A-Za-z0-9_-]{0,40}") {
            let _ = peek_id(&s);
            proptest::prop_assert!(verify(&s, b"k").is_err());
            let joined = format!("{a}.{b}.{c}");
            let _ = peek_id(&joined);
            proptest::prop_assert!(verify(&joined, b"k").is_err());
        }

        /// Invariant: for any token whose id can be peeked, verifying the peeked token gives
        /// the same answer as `verify` on the token, and the peeked id equals `peek_id`.
        #[test]
        fn peek_then_verify_equals_verify(id in ".{0,40}", claims in "[a-z\":,0-9{} ]{0,40}", tamper in proptest::bool::ANY) {
            for token in [issue(&id, b"k"), signed(&claims, b"k")] {
                let token = if tamper { token.replacen('e', "f", 1) } else { token };
                match peek(&token) {
                    Ok(p) => {
                        proptest::prop_assert_eq!(Ok(p.id().to_owned()), peek_id(&token));
                        proptest::prop_assert_eq!(
                            p.verify(b"k").map(|()| p.id().to_owned()),
                            verify(&token, b"k")
                        );
                    }
                    Err(e) => proptest::prop_assert_eq!(Err(e), peek_id(&token)),
                }
            }
        }
    }

    #[test]
    fn secrets_are_random_hex_and_redacted() {
        let a = WebhookSecret::generate().unwrap();
        let b = WebhookSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.key().len(), 64);
        assert_eq!(format!("{a:?}"), "WebhookSecret([redacted])");
        let json = serde_json::to_string(&a).unwrap();
        let back: WebhookSecret = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
        assert!(serde_json::from_str::<WebhookSecret>("\"abc\"").is_err());
    }
}
