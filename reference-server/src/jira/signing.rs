//! The seam between this module and `jira-oauth`: key parsing and RSA-SHA1 header signing.
//! Kept in one small file so the rest of the module never touches the crate's API directly.

use jira_oauth::{RequestParts, RsaPrivateKey, SignOptions, Signer, Token};

/// A parsed RSA private key (cheap to clone: `jira-oauth` shares it).
pub(crate) struct ParsedKey(RsaPrivateKey);

impl ParsedKey {
    pub(crate) fn from_pem(pem: &str) -> Result<Self, String> {
        RsaPrivateKey::from_pem(pem)
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

/// The OAuth protocol parameters that vary per call.
pub(crate) struct OAuthParams<'a> {
    pub(crate) consumer_key: &'a str,
    pub(crate) token: Option<&'a str>,
    pub(crate) verifier: Option<&'a str>,
    pub(crate) callback: Option<&'a str>,
}

/// Builds the `Authorization: OAuth ...` value for `method` and the final `url` (query
/// included, so query parameters are signed), with a fresh random nonce and the current
/// timestamp. The token secret is not needed: RSA-SHA1 signs with the private key only.
pub(crate) fn authorization(
    method: &str,
    url: &str,
    key: &ParsedKey,
    params: &OAuthParams<'_>,
) -> Result<String, String> {
    let mut signer = Signer::rsa_sha1(params.consumer_key, key.0.clone());
    if let Some(token) = params.token {
        signer = signer.with_token(Token::new(token, ""));
    }
    let mut options = SignOptions::new();
    if let Some(verifier) = params.verifier {
        options = options.verifier(verifier);
    }
    if let Some(callback) = params.callback {
        options = options.callback(callback);
    }
    signer
        .sign(&RequestParts::new(method, url), &options)
        .map(|signed| signed.authorization)
        .map_err(|e| e.to_string())
}
