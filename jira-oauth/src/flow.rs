//! The three-legged flow against Jira's OAuth servlet, sans-IO.
//!
//! 1. [`request_token_request`] → send it, parse the body with [`parse_token_reply`];
//! 2. send the user to [`authorize_url`];
//! 3. [`access_token_request`] with the request token and the verifier → send
//!    it, parse the body with [`parse_token_reply`]; sign API calls with
//!    [`Signer::with_token`] and the access token.

use thiserror::Error;

use crate::encoding::{form_decode, percent_encode};
use crate::keys::Token;
use crate::sign::{Body, RequestParts, SignError, SignOptions, Signed, Signer};

/// Path of Jira's request-token endpoint (below the base URL).
pub const REQUEST_TOKEN_PATH: &str = "/plugins/servlet/oauth/request-token";
/// Path of Jira's authorize page.
pub const AUTHORIZE_PATH: &str = "/plugins/servlet/oauth/authorize";
/// Path of Jira's access-token endpoint.
pub const ACCESS_TOKEN_PATH: &str = "/plugins/servlet/oauth/access-token";

fn endpoint(jira_base_url: &str, path: &str) -> String {
    format!("{}{path}", jira_base_url.trim_end_matches('/'))
}

/// A ready-to-send, signed request (method, URI, `Authorization` header, empty
/// body) and what was signed.
#[derive(Debug)]
#[non_exhaustive]
pub struct SignedRequest {
    /// The request to send.
    pub request: http::Request<Vec<u8>>,
    /// The header value and base string.
    pub signed: Signed,
}

fn post(signer: &Signer, url: &str, options: &SignOptions) -> Result<SignedRequest, SignError> {
    let outcome = signer.sign(
        &RequestParts::new("POST", url).with_body(Body::Empty),
        options,
    )?;
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header(http::header::AUTHORIZATION, outcome.header_value())
        .body(Vec::new())
        .map_err(|e| SignError::RelativeUri(format!("{url} ({e})")))?;
    Ok(SignedRequest {
        request,
        signed: outcome,
    })
}

/// Step 1: `POST {base}/plugins/servlet/oauth/request-token`, signed without a
/// token, with `oauth_callback` if given (Jira also accepts none; `oob` means
/// "show the verifier to the user").
pub fn request_token_request(
    signer: &Signer,
    jira_base_url: &str,
    callback: Option<&str>,
    options: &SignOptions,
) -> Result<SignedRequest, SignError> {
    let mut options = options.clone();
    if let Some(cb) = callback {
        options.callback = Some(cb.to_owned());
    }
    post(
        &signer.without_token(),
        &endpoint(jira_base_url, REQUEST_TOKEN_PATH),
        &options,
    )
}

/// Step 2: the page to send the user's browser to:
/// `{base}/plugins/servlet/oauth/authorize?oauth_token=<request token>`.
///
/// ```
/// assert_eq!(
///     jira_oauth::authorize_url("https://jira.example.com/", "abc 123"),
///     "https://jira.example.com/plugins/servlet/oauth/authorize?oauth_token=abc%20123",
/// );
/// ```
pub fn authorize_url(jira_base_url: &str, request_token: &str) -> String {
    format!(
        "{}?oauth_token={}",
        endpoint(jira_base_url, AUTHORIZE_PATH),
        percent_encode(request_token)
    )
}

/// Step 3: `POST {base}/plugins/servlet/oauth/access-token`, signed with the
/// request token and `oauth_verifier`.
pub fn access_token_request(
    signer: &Signer,
    jira_base_url: &str,
    request_token: &Token,
    verifier: &str,
    options: &SignOptions,
) -> Result<SignedRequest, SignError> {
    let options = options.clone().verifier(verifier);
    post(
        &signer.with_token(request_token.clone()),
        &endpoint(jira_base_url, ACCESS_TOKEN_PATH),
        &options,
    )
}

/// A successful token reply (request token or access token).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenReply {
    /// `oauth_token` and `oauth_token_secret`.
    pub token: Token,
    /// `oauth_callback_confirmed` (`Some(true)` for `true`), if present.
    pub callback_confirmed: Option<bool>,
    /// Other parameters in the reply (e.g. `oauth_expires_in`), decoded, in order.
    pub extra: Vec<(String, String)>,
}

/// A token reply that does not carry a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenReplyError {
    /// Jira reported a problem (`oauth_problem`, or `oauth_error` in some versions).
    #[error("Jira refused the token request: oauth_problem={problem}{}", advice.as_ref().map(|a| format!(" ({a})")).unwrap_or_default())]
    Problem {
        /// The problem code, e.g. `token_rejected`, `timestamp_refused`.
        problem: String,
        /// `oauth_problem_advice`, if Jira sent one.
        advice: Option<String>,
    },
    /// No (or an empty) `oauth_token`.
    #[error("Missing oauth_token")]
    MissingToken,
    /// No (or an empty) `oauth_token_secret`.
    #[error("Missing oauth_token_secret")]
    MissingTokenSecret,
    /// A parameter appears twice.
    #[error("token reply has parameter {0:?} more than once")]
    Duplicate(String),
    /// A token value is not valid UTF-8 after decoding.
    #[error("token reply parameter {0:?} is not valid UTF-8")]
    NotUtf8(String),
}

/// Parses a form-encoded token reply (`oauth_token=…&oauth_token_secret=…`),
/// or returns Jira's `oauth_problem` (with `oauth_problem_advice`).
///
/// Strict on purpose, and the workspace's only token-reply parser (`jira-client`
/// maps its errors): a protocol parameter that appears twice is refused
/// ([`TokenReplyError::Duplicate`]) rather than "last one wins", since RFC 5849
/// §2.1/§2.3 define one value per parameter and a second one means a confused or
/// tampered reply; `oauth_problem` (or `oauth_error`) wins over any token in the
/// same reply (OAuth Problem Reporting: the provider refused the request); an
/// empty `oauth_token` or `oauth_token_secret` counts as missing.
///
/// ```
/// use jira_oauth::{parse_token_reply, TokenReplyError};
/// let r = parse_token_reply(b"oauth_token=abc&oauth_token_secret=s&oauth_callback_confirmed=true").unwrap();
/// assert_eq!(r.token.key(), "abc");
/// assert_eq!(r.callback_confirmed, Some(true));
/// assert_eq!(parse_token_reply(b"oauth_token_secret=s").unwrap_err().to_string(), "Missing oauth_token");
/// assert!(matches!(
///     parse_token_reply(b"oauth_problem=token_rejected").unwrap_err(),
///     TokenReplyError::Problem { problem, .. } if problem == "token_rejected"
/// ));
/// ```
pub fn parse_token_reply(body: &[u8]) -> Result<TokenReply, TokenReplyError> {
    let mut token = None;
    let mut secret = None;
    let mut problem = None;
    let mut advice = None;
    let mut confirmed = None;
    let mut extra = Vec::new();
    for (name, value) in form_decode(body) {
        let name = String::from_utf8_lossy(&name).into_owned();
        let slot = match name.as_str() {
            "oauth_token" => &mut token,
            "oauth_token_secret" => &mut secret,
            "oauth_problem" | "oauth_error" => &mut problem,
            "oauth_problem_advice" => &mut advice,
            "oauth_callback_confirmed" => &mut confirmed,
            _ => {
                extra.push((name, String::from_utf8_lossy(&value).into_owned()));
                continue;
            }
        };
        if slot.is_some() {
            return Err(TokenReplyError::Duplicate(name));
        }
        let value = String::from_utf8(value).map_err(|_| TokenReplyError::NotUtf8(name))?;
        *slot = Some(value);
    }
    if let Some(problem) = problem {
        return Err(TokenReplyError::Problem { problem, advice });
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(TokenReplyError::MissingToken)?;
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(TokenReplyError::MissingTokenSecret)?;
    Ok(TokenReply {
        token: Token::new(token, secret),
        callback_confirmed: confirmed.map(|c| c == "true"),
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_wins_over_tokens_and_duplicates_are_refused() {
        assert!(matches!(
            parse_token_reply(b"oauth_token=a&oauth_token_secret=s&oauth_problem=token_expired"),
            Err(TokenReplyError::Problem { problem, advice: None }) if problem == "token_expired"
        ));
        assert_eq!(
            parse_token_reply(b"oauth_token=a&oauth_token_secret=s&oauth_token_secret=t")
                .unwrap_err(),
            TokenReplyError::Duplicate("oauth_token_secret".into())
        );
        assert_eq!(
            parse_token_reply(b"oauth_token=a&oauth_token_secret=").unwrap_err(),
            TokenReplyError::MissingTokenSecret
        );
    }
}
