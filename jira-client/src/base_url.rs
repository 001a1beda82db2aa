//! [`BaseUrl`]: a validated Jira base URL, and the URLs of its resources.

use crate::JiraError;

/// A validated Jira base URL (no trailing `/`) and its `host[:port]` as written.
///
/// ```
/// use jira_client::BaseUrl;
/// let base = BaseUrl::parse("https://jira.example.com:8443/jira/")?;
/// assert_eq!(base.as_str(), "https://jira.example.com:8443/jira");
/// assert_eq!(base.host(), "jira.example.com:8443");
/// assert_eq!(
///     base.url("/rest/api/2/user", &[("username", "bob smith+1@example.org")]),
///     "https://jira.example.com:8443/jira/rest/api/2/user?username=bob%20smith%2B1%40example.org",
/// );
/// # Ok::<(), jira_client::JiraError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    url: String,
    host: String,
}

impl BaseUrl {
    /// Validates `url` (see [`normalize_base_url`]).
    pub fn parse(url: &str) -> Result<Self, JiraError> {
        let (url, host) = normalize_base_url(url)?;
        Ok(Self { url, host })
    }

    /// The base URL without trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// `host[:port]` as written in the URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `{base}{path}?{query}`, each query name and value percent-encoded per RFC 3986 /
    /// RFC 5849 (`jira_oauth::percent_encode`), so the URL sent and the URL signed agree.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.url, path);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&jira_oauth::percent_encode(name));
            url.push('=');
            url.push_str(&jira_oauth::percent_encode(value));
        }
        url
    }
}

/// Validates a Jira base URL and returns it without trailing `/`, plus its `host[:port]`.
///
/// ```
/// use jira_client::normalize_base_url;
/// let (url, host) = normalize_base_url("https://jira.example.com:8443/jira//").unwrap();
/// assert_eq!(url, "https://jira.example.com:8443/jira");
/// assert_eq!(host, "jira.example.com:8443");
/// assert!(normalize_base_url("jira.example.com/").is_err());
/// // Repaired by a WHATWG parser, but no `scheme://host` as written (found by fuzzing):
/// assert!(normalize_base_url("https:/.e/xjiarample.com/").is_err());
/// assert!(normalize_base_url("https:jira.example.com").is_err());
/// // Whitespace or control characters inside (surrounding whitespace is trimmed):
/// assert!(normalize_base_url("https://jira.example.com/ji ra").is_err());
/// assert!(normalize_base_url("https://jira.exa\tmple.com").is_err());
/// assert!(normalize_base_url(" https://jira.example.com ").is_ok());
/// ```
pub fn normalize_base_url(url: &str) -> Result<(String, String), JiraError> {
    let invalid = |reason: &str| JiraError::InvalidBaseUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    // The WHATWG parser drops tabs and newlines and percent-encodes spaces in the path, so such
    // a URL would pass here and fail later, when a request to it is signed.
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "the URL contains whitespace or a control character",
        ));
    }
    let parsed = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    // Sentry's `urlparse(url).netloc`: the authority exactly as written (an explicit default
    // port such as `:443` is kept), so external ids match Sentry's for the same input. A URL
    // that the WHATWG parser repairs (`https:/host`, `https:host`) has no written authority:
    // Sentry's urlparse sees an empty netloc there, and so do we.
    let Some(netloc) = trimmed
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .filter(|n| !n.is_empty())
    else {
        return Err(invalid("the URL must be written as scheme://host"));
    };
    let netloc = netloc.to_owned();
    let base = trimmed.trim_end_matches('/').to_owned();
    Ok((base, netloc))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace or a control character anywhere inside the URL is refused (the parser would
    /// drop or encode it and signing would fail later).
    #[test]
    fn whitespace_and_control_characters_are_refused() {
        for url in [
            "https://jira.example.com/ji ra",
            "https://jira.exa\tmple.com",
            "https://jira.example.com/\njira",
            "https://jira.example.com/\u{0}",
            "https://jira.example.com/\u{7f}",
            "https://jira.example.com/\u{85}jira",
            "https://jira\u{a0}example.com",
        ] {
            let err = normalize_base_url(url).expect_err(url);
            assert!(
                err.to_string()
                    .contains("whitespace or a control character"),
                "{err}"
            );
        }
        assert!(normalize_base_url("\t https://jira.example.com/jira \n").is_ok());
    }

    #[test]
    fn base_url_validation_matches_sentry() {
        assert!(normalize_base_url("jira.example.com/").is_err());
        assert!(normalize_base_url("ftp://jira.example.com").is_err());
        let (url, host) = normalize_base_url("https://jira.example.com//").unwrap();
        assert_eq!(url, "https://jira.example.com");
        assert_eq!(host, "jira.example.com");
        let (_, host) = normalize_base_url("https://Jira.Example.com:443/jira").unwrap();
        assert_eq!(
            host, "Jira.Example.com:443",
            "netloc as written, like Sentry's urlparse"
        );
    }

    #[test]
    fn query_components_are_rfc3986_encoded() {
        let base = BaseUrl::parse("https://j").unwrap();
        assert_eq!(
            base.url("/p", &[("q", "a b+c@d~")]),
            "https://j/p?q=a%20b%2Bc%40d~"
        );
        assert_eq!(
            base.url("/p", &[("q", "é"), ("r", "")]),
            "https://j/p?q=%C3%A9&r="
        );
    }
}
