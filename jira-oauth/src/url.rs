//! Splitting a request URL and building the base string URI (RFC 5849 §3.4.1.2).

use thiserror::Error;

/// A request URL that cannot be used for signing or verification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL has no `scheme://` prefix.
    #[error(
        "URL {0:?} is not absolute: expected scheme://host[:port]/path[?query] (e.g. https://jira.example.com/rest/api/2/myself)"
    )]
    NotAbsolute(String),
    /// The scheme contains characters other than letters, digits, `+`, `-`, `.`.
    #[error("URL {0:?} has an invalid scheme: use http or https")]
    InvalidScheme(String),
    /// The authority has no host.
    #[error("URL {0:?} has no host: expected scheme://host[:port]/path")]
    MissingHost(String),
    /// The port is not a number between 0 and 65535.
    #[error("URL {0:?} has an invalid port: expected a number between 0 and 65535")]
    InvalidPort(String),
    /// The URL contains a space or a control character.
    #[error("URL {0:?} contains a space or control character: percent-encode it (a space is %20)")]
    InvalidCharacter(String),
}

/// The pieces of an absolute URL that OAuth signing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitUrl<'a> {
    /// Lower-cased scheme.
    pub scheme: String,
    /// Lower-cased host (IPv6 literals keep their brackets).
    pub host: String,
    /// Explicit port, if any.
    pub port: Option<u16>,
    /// Path exactly as given (may be empty).
    pub path: &'a str,
    /// Query without the `?`, if present.
    pub query: Option<&'a str>,
}

impl SplitUrl<'_> {
    /// The base string URI: scheme and host lower-cased, default port dropped,
    /// path as sent (`/` if empty), no query or fragment.
    pub fn base_uri(&self) -> String {
        let default_port = match self.scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        let mut out =
            String::with_capacity(self.scheme.len() + self.host.len() + self.path.len() + 10);
        out.push_str(&self.scheme);
        out.push_str("://");
        out.push_str(&self.host);
        if let Some(port) = self.port
            && Some(port) != default_port
        {
            out.push(':');
            out.push_str(&port.to_string());
        }
        if self.path.is_empty() {
            out.push('/');
        } else {
            out.push_str(self.path);
        }
        out
    }
}

/// Splits an absolute URL without altering its path or query.
pub(crate) fn split_url(url: &str) -> Result<SplitUrl<'_>, UrlError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::InvalidCharacter(url.to_owned()));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| UrlError::NotAbsolute(url.to_owned()))?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(UrlError::InvalidScheme(url.to_owned()));
    }
    // Drop the fragment first, then split authority / path / query.
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(auth_end);
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    // userinfo is never part of the base string URI
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port_str) = if let Some(v6) = host_port.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or_else(|| UrlError::MissingHost(url.to_owned()))?;
        let after = &v6[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UrlError::InvalidPort(url.to_owned())),
        };
        (&host_port[..close + 2], port)
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(UrlError::MissingHost(url.to_owned()));
    }
    let port = match port_str {
        None | Some("") => None,
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| UrlError::InvalidPort(url.to_owned()))?,
        ),
        Some(_) => return Err(UrlError::InvalidPort(url.to_owned())),
    };
    Ok(SplitUrl {
        scheme: scheme.to_ascii_lowercase(),
        host: host.to_ascii_lowercase(),
        port,
        path,
        query,
    })
}

/// The base string URI of RFC 5849 §3.4.1.2 for an absolute request URL:
/// scheme and host lower-cased, default ports (80 for http, 443 for https)
/// dropped, other ports kept, the path kept exactly as sent (`/` when empty),
/// query and fragment dropped.
///
/// ```
/// use jira_oauth::base_string_uri;
/// assert_eq!(base_string_uri("http://EXAMPLE.COM:80/r%20v/X?id=123").unwrap(), "http://example.com/r%20v/X");
/// assert_eq!(base_string_uri("https://www.example.net:8080/?q=1").unwrap(), "https://www.example.net:8080/");
/// ```
pub fn base_string_uri(url: &str) -> Result<String, UrlError> {
    Ok(split_url(url)?.base_uri())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_normalises() {
        let u = split_url("HTTPS://user:pw@JIRA.Example.com:8443/Jira/rest?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.host, "jira.example.com");
        assert_eq!(u.port, Some(8443));
        assert_eq!(u.path, "/Jira/rest");
        assert_eq!(u.query, Some("x=1"));
        assert_eq!(u.base_uri(), "https://jira.example.com:8443/Jira/rest");
    }

    #[test]
    fn ipv6_and_empty_path() {
        assert_eq!(
            base_string_uri("http://[::1]:80?q").unwrap(),
            "http://[::1]/"
        );
        assert_eq!(
            base_string_uri("http://[::1]:8080/a").unwrap(),
            "http://[::1]:8080/a"
        );
        assert_eq!(base_string_uri("https://h:443").unwrap(), "https://h/");
        assert_eq!(base_string_uri("https://h:").unwrap(), "https://h/");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "/relative",
            "http://",
            "http://:80/",
            "http://h:99999/",
            "http://h:x/",
            "1http://h/",
            "http://h/a b",
            "http://[::1/",
            "http://[::1]x/",
            "",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }
}
