//! Fuzz target bodies (called from `fuzz/fuzz_targets/*.rs` and replayed by
//! `tests/suite/fuzz_corpus.rs`). Not part of the stable API.

use crate::{encoding::form_encode, header::parse_authorization_header, parse_token_reply};

/// `oauth_header`: parsing never panics; whatever parses renders to a header
/// that parses back to the same parameters.
pub fn oauth_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(params) = parse_authorization_header(&text) {
        let rendered = params.to_header_value();
        let again = parse_authorization_header(&rendered);
        assert_eq!(again.as_ref(), Ok(&params), "round trip of {rendered:?}");
    }
}

/// `oauth_token_reply`: parsing never panics; a successful reply has a
/// non-empty token and secret, and re-encoding them parses back to the same values.
pub fn oauth_token_reply(data: &[u8]) {
    if let Ok(reply) = parse_token_reply(data) {
        assert!(!reply.token.key().is_empty());
        assert!(!reply.token.secret().expose_secret().is_empty());
        let body = form_encode(&[
            ("oauth_token", reply.token.key()),
            ("oauth_token_secret", reply.token.secret().expose_secret()),
        ]);
        let again = parse_token_reply(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(again.token.key(), reply.token.key());
        assert_eq!(
            again.token.secret().expose_secret(),
            reply.token.secret().expose_secret()
        );
    }
}
