//! The OAuth 1.0a three-legged dance against Jira's servlets (Sentry's
//! `JiraServerSetupClient`), on `jira-oauth`'s flow: [`jira_oauth::request_token_request`],
//! [`jira_oauth::authorize_url`], [`jira_oauth::access_token_request`] and
//! [`jira_oauth::parse_token_reply`].

use jira_oauth::{SignOptions, TokenReplyError};

use crate::{BaseUrl, Consumer, JiraError, SecretString, TokenPair};

/// Operation name of [`request_token_request`].
pub const REQUEST_TOKEN: &str = "requestToken";
/// Operation name of [`access_token_request`].
pub const ACCESS_TOKEN: &str = "accessToken";

fn signing_error(e: &jira_oauth::SignError) -> JiraError {
    JiraError::Signing(e.to_string())
}

fn with_accept(mut request: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    request
}

/// `POST /plugins/servlet/oauth/request-token`, signed with the consumer key only. Like
/// Sentry, no `oauth_callback` is sent unless `callback` is given, so Jira uses the callback
/// configured in its application link.
pub fn request_token_request(
    base: &BaseUrl,
    consumer: &Consumer,
    callback: Option<&str>,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    jira_oauth::request_token_request(
        &consumer.signer(),
        base.as_str(),
        callback,
        &SignOptions::new(),
    )
    .map(|signed| with_accept(signed.request))
    .map_err(|e| signing_error(&e))
}

/// `{base}/plugins/servlet/oauth/authorize?oauth_token=<token>`.
///
/// ```
/// let base = jira_client::BaseUrl::parse("https://jira.example.com/")?;
/// assert_eq!(
///     jira_client::ops::oauth::authorize_url(&base, "abc 123"),
///     "https://jira.example.com/plugins/servlet/oauth/authorize?oauth_token=abc%20123",
/// );
/// # Ok::<(), jira_client::JiraError>(())
/// ```
pub fn authorize_url(base: &BaseUrl, request_token: &str) -> String {
    jira_oauth::authorize_url(base.as_str(), request_token)
}

/// `POST /plugins/servlet/oauth/access-token` signed with the request token and
/// `oauth_verifier`. An empty verifier is refused before anything is built.
pub fn access_token_request(
    base: &BaseUrl,
    consumer: &Consumer,
    request_token: &TokenPair,
    verifier: &str,
) -> Result<http::Request<Vec<u8>>, JiraError> {
    if verifier.is_empty() {
        return Err(JiraError::Signing(
            "Missing OAuth token verifier".to_owned(),
        ));
    }
    jira_oauth::access_token_request(
        &consumer.signer(),
        base.as_str(),
        &request_token.to_oauth_token(),
        verifier,
        &SignOptions::new(),
    )
    .map(|signed| with_accept(signed.request))
    .map_err(|e| signing_error(&e))
}

/// Parses a token reply (request or access token) with [`jira_oauth::parse_token_reply`].
///
/// A non-2xx answer is [`JiraError::Status`]; a missing or empty `oauth_token` or
/// `oauth_token_secret` is [`JiraError::MissingOAuthToken`] (Sentry's "Missing oauth_token",
/// with the names of the keys the reply had); `oauth_problem` is [`JiraError::OAuthProblem`];
/// a duplicated parameter or a value that is not UTF-8 is [`JiraError::InvalidResponse`].
///
/// ```
/// use jira_client::{ops::oauth::parse_token_reply, JiraError};
/// let ok = http::Response::new(b"oauth_token=abc123&oauth_token_secret=s3cr%2Bt".to_vec());
/// let pair = parse_token_reply(jira_client::ops::oauth::REQUEST_TOKEN, &ok)?;
/// assert_eq!((pair.token.as_str(), pair.secret.expose()), ("abc123", "s3cr+t"));
/// let no_secret = http::Response::new(b"oauth_token=req-token".to_vec());
/// assert_eq!(parse_token_reply("requestToken", &no_secret).unwrap_err().to_string(), "Missing oauth_token");
/// # Ok::<(), JiraError>(())
/// ```
pub fn parse_token_reply<B: AsRef<[u8]>>(
    operation: &'static str,
    response: &http::Response<B>,
) -> Result<TokenPair, JiraError> {
    let body = super::check_status(response)?;
    match jira_oauth::parse_token_reply(body) {
        Ok(reply) => Ok(TokenPair {
            token: reply.token.key().to_owned(),
            secret: SecretString::new(reply.token.secret().expose_secret()),
        }),
        Err(TokenReplyError::MissingToken | TokenReplyError::MissingTokenSecret) => {
            Err(JiraError::MissingOAuthToken {
                keys: jira_oauth::form_decode(body)
                    .into_iter()
                    .map(|(name, _)| String::from_utf8_lossy(&name).into_owned())
                    .collect(),
            })
        }
        Err(TokenReplyError::Problem { problem, advice }) => {
            Err(JiraError::OAuthProblem { problem, advice })
        }
        Err(other) => Err(JiraError::InvalidResponse {
            operation,
            reason: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &[u8]) -> Result<TokenPair, JiraError> {
        parse_token_reply(REQUEST_TOKEN, &http::Response::new(body.to_vec()))
    }

    #[test]
    fn token_reply_needs_token_and_secret() {
        let ok = reply(b"oauth_token=abc123&oauth_token_secret=s3cr%2Bt").unwrap();
        assert_eq!(ok.token, "abc123");
        assert_eq!(ok.secret.expose(), "s3cr+t");
        let Err(JiraError::MissingOAuthToken { keys }) = reply(b"no_token=oops&foo=bar") else {
            panic!("expected MissingOAuthToken");
        };
        assert_eq!(keys, ["no_token", "foo"]);
        assert!(matches!(
            reply(b"oauth_token=req-token"),
            Err(JiraError::MissingOAuthToken { .. })
        ));
        assert_eq!(
            reply(b"oauth_token=").unwrap_err().to_string(),
            "Missing oauth_token"
        );
    }

    // Where the server's old parser and jira-oauth's disagreed, jira-oauth's stricter rule
    // holds: a duplicated parameter is refused (the old parser kept the last non-empty value),
    // and `oauth_problem` wins over tokens (the old parser ignored it).
    #[test]
    fn duplicates_and_oauth_problem_follow_jira_oauth() {
        let dup = reply(b"oauth_token=a&oauth_token=b&oauth_token_secret=s").unwrap_err();
        assert!(matches!(dup, JiraError::InvalidResponse { .. }), "{dup:?}");
        let problem =
            reply(b"oauth_problem=token_rejected&oauth_token=a&oauth_token_secret=s").unwrap_err();
        assert!(
            matches!(&problem, JiraError::OAuthProblem { problem, .. } if problem == "token_rejected"),
            "{problem:?}"
        );
        assert!(!problem.is_transient());
    }

    #[test]
    fn a_non_2xx_token_reply_is_a_status_error() {
        let response = http::Response::builder()
            .status(404)
            .body(b"oauth_error=token+expired".to_vec())
            .unwrap();
        let err = parse_token_reply(ACCESS_TOKEN, &response).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Jira answered 404: oauth_error: token expired"
        );
    }
}
