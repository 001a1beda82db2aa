//! The `Authorization: OAuth …` header: building and parsing (RFC 5849 §3.5.1).

use std::fmt;

use thiserror::Error;

use crate::encoding::percent_encode;

/// The protocol parameters of an `Authorization: OAuth` header: an optional
/// `realm` and the `oauth_*` parameters in header order (values decoded).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OAuthParams {
    realm: Option<String>,
    params: Vec<(String, String)>,
}

impl fmt::Debug for OAuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A PLAINTEXT signature is the shared secret itself.
        let plaintext = self.signature_method() == Some("PLAINTEXT");
        let mut list = f.debug_map();
        if let Some(r) = &self.realm {
            list.entry(&"realm", r);
        }
        for (n, v) in &self.params {
            if plaintext && n == "oauth_signature" {
                list.entry(n, &"[redacted]");
            } else {
                list.entry(n, v);
            }
        }
        list.finish()
    }
}

/// The `Authorization` header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The scheme is not `OAuth`.
    #[error(
        "Authorization header does not use the OAuth scheme: expected `OAuth name=\"value\", …`"
    )]
    NotOAuth,
    /// The header has the OAuth scheme but no parameters.
    #[error("OAuth Authorization header has no parameters")]
    NoParameters,
    /// A syntax error at a byte offset.
    #[error(
        "malformed OAuth Authorization header at byte {position}: expected {expected} (syntax: OAuth name=\"percent-encoded value\", …)"
    )]
    Syntax {
        /// Byte offset into the header value.
        position: usize,
        /// What the parser expected there.
        expected: &'static str,
    },
    /// A name or value has an invalid `%` escape or decodes to invalid UTF-8.
    #[error(
        "OAuth parameter {0:?} has an invalid percent-encoding (use %XX with two hex digits, UTF-8)"
    )]
    BadEncoding(String),
    /// The same `oauth_*` parameter (or `realm`) appears twice.
    #[error("OAuth parameter {0:?} appears more than once in the Authorization header")]
    DuplicateParameter(String),
    /// A parameter that is neither `realm` nor `oauth_*`.
    #[error(
        "unexpected parameter {0:?} in the OAuth Authorization header: only realm and oauth_* parameters belong there"
    )]
    UnexpectedParameter(String),
}

impl HeaderError {
    /// The OAuth problem-reporting code a provider answers with
    /// (`parameter_absent` for an empty header, otherwise `parameter_rejected`).
    pub fn oauth_problem(&self) -> &'static str {
        match self {
            Self::NoParameters => "parameter_absent",
            _ => "parameter_rejected",
        }
    }
}

/// Strict percent-decoding: `%` must be followed by two hex digits; result must be UTF-8.
fn strict_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~' | b'%')
}

/// Optional whitespace; CR and LF are accepted too, so headers copied from
/// documentation with folded lines (like RFC 5849's examples) parse.
fn is_ows(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl OAuthParams {
    /// An empty parameter set.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set_realm(&mut self, realm: String) {
        self.realm = Some(realm);
    }

    pub(crate) fn push_unchecked(&mut self, name: String, value: String) {
        self.params.push((name, value));
    }

    /// Adds an `oauth_*` parameter; errors on a name without the `oauth_` prefix
    /// or on a duplicate.
    pub fn push(
        &mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), HeaderError> {
        let name = name.into();
        if !name.starts_with("oauth_") {
            return Err(HeaderError::UnexpectedParameter(name));
        }
        if self.get(&name).is_some() {
            return Err(HeaderError::DuplicateParameter(name));
        }
        self.params.push((name, value.into()));
        Ok(())
    }

    /// `realm`, if present (never signed).
    pub fn realm(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The value of an `oauth_*` parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `oauth_*` parameters in header order (decoded values).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// `oauth_consumer_key`.
    pub fn consumer_key(&self) -> Option<&str> {
        self.get("oauth_consumer_key")
    }
    /// `oauth_token`.
    pub fn token(&self) -> Option<&str> {
        self.get("oauth_token")
    }
    /// `oauth_signature_method`.
    pub fn signature_method(&self) -> Option<&str> {
        self.get("oauth_signature_method")
    }
    /// `oauth_signature` (decoded: base64 for RSA-SHA1 / HMAC-SHA1).
    pub fn signature(&self) -> Option<&str> {
        self.get("oauth_signature")
    }
    /// `oauth_timestamp` (as sent).
    pub fn timestamp(&self) -> Option<&str> {
        self.get("oauth_timestamp")
    }
    /// `oauth_nonce`.
    pub fn nonce(&self) -> Option<&str> {
        self.get("oauth_nonce")
    }
    /// `oauth_version`.
    pub fn version(&self) -> Option<&str> {
        self.get("oauth_version")
    }
    /// `oauth_callback`.
    pub fn callback(&self) -> Option<&str> {
        self.get("oauth_callback")
    }
    /// `oauth_verifier`.
    pub fn verifier(&self) -> Option<&str> {
        self.get("oauth_verifier")
    }
    /// `oauth_body_hash`.
    pub fn body_hash(&self) -> Option<&str> {
        self.get("oauth_body_hash")
    }

    /// Renders `OAuth realm="…", name="value", …` with every name and value
    /// percent-encoded (RFC 5849 §3.6), in stored order, `realm` first.
    pub fn to_header_value(&self) -> String {
        let mut out = String::from("OAuth ");
        let mut first = true;
        let realm = self.realm.as_ref().map(|r| ("realm", r.as_str()));
        for (name, value) in realm.into_iter().chain(self.iter()) {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(&percent_encode(name));
            out.push_str("=\"");
            out.push_str(&percent_encode(value));
            out.push('"');
        }
        out
    }
}

/// Parses an `Authorization: OAuth …` header value.
///
/// Tolerant of optional whitespace (spaces, tabs, line breaks) around `,` and
/// `=`, of empty list elements
/// and of parameter order; strict on everything else: the scheme must be
/// `OAuth` (case-insensitive), every value must be a double-quoted,
/// percent-encoded string (no backslash escapes), `%` escapes must be valid
/// UTF-8, only `realm` and `oauth_*` parameters are allowed and none may repeat.
///
/// ```
/// let p = jira_oauth::parse_authorization_header(
///     r#"OAuth realm="Example",oauth_consumer_key="sentry-bot",  oauth_signature="a%2Bb%3D""#,
/// ).unwrap();
/// assert_eq!(p.realm(), Some("Example"));
/// assert_eq!(p.consumer_key(), Some("sentry-bot"));
/// assert_eq!(p.signature(), Some("a+b="));
/// ```
pub fn parse_authorization_header(header: &str) -> Result<OAuthParams, HeaderError> {
    let bytes = header.as_bytes();
    let mut i = 0;
    while i < bytes.len() && is_ows(bytes[i]) {
        i += 1;
    }
    let scheme_start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if !header[scheme_start..i].eq_ignore_ascii_case("OAuth") {
        return Err(HeaderError::NotOAuth);
    }
    if i < bytes.len() && !is_ows(bytes[i]) {
        return Err(HeaderError::NotOAuth);
    }
    let mut params = OAuthParams::new();
    let mut count = 0usize;
    loop {
        while i < bytes.len() && is_ows(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        if bytes[i] == b',' {
            i += 1;
            continue;
        }
        let name_start = i;
        while i < bytes.len() && is_name_byte(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(HeaderError::Syntax {
                position: i,
                expected: "a parameter name",
            });
        }
        let raw_name = &header[name_start..i];
        while i < bytes.len() && is_ows(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(HeaderError::Syntax {
                position: i,
                expected: "`=` after the parameter name",
            });
        }
        i += 1;
        while i < bytes.len() && is_ows(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'"') {
            return Err(HeaderError::Syntax {
                position: i,
                expected: "a double-quoted value",
            });
        }
        i += 1;
        let value_start = i;
        while i < bytes.len() && bytes[i] != b'"' {
            let b = bytes[i];
            if b == b'\\' || !(b == b' ' || b == b'\t' || b.is_ascii_graphic()) {
                return Err(HeaderError::Syntax {
                    position: i,
                    expected: "a percent-encoded value (visible ASCII, no backslash)",
                });
            }
            i += 1;
        }
        if i >= bytes.len() {
            return Err(HeaderError::Syntax {
                position: i,
                expected: "the closing double quote",
            });
        }
        let raw_value = &header[value_start..i];
        i += 1;
        while i < bytes.len() && is_ows(bytes[i]) {
            i += 1;
        }
        if i < bytes.len() && bytes[i] != b',' {
            return Err(HeaderError::Syntax {
                position: i,
                expected: "`,` between parameters",
            });
        }
        let name =
            strict_decode(raw_name).ok_or_else(|| HeaderError::BadEncoding(raw_name.to_owned()))?;
        let value =
            strict_decode(raw_value).ok_or_else(|| HeaderError::BadEncoding(name.clone()))?;
        if name.eq_ignore_ascii_case("realm") {
            if params.realm.is_some() {
                return Err(HeaderError::DuplicateParameter(name));
            }
            params.realm = Some(value);
        } else {
            params.push(name, value)?;
        }
        count += 1;
    }
    if count == 0 {
        return Err(HeaderError::NoParameters);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_example_with_newlines_as_error_but_spaces_ok() {
        let ok = parse_authorization_header(
            "oauth   realm=\"Example\" ,\toauth_nonce = \"7d8f3e4a\",,oauth_signature=\"djosJKDKJSD8743243%2Fjdk33klY%3D\",",
        )
        .unwrap();
        assert_eq!(ok.nonce(), Some("7d8f3e4a"));
        assert_eq!(ok.signature(), Some("djosJKDKJSD8743243/jdk33klY="));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Basic abc",
            "OAuthx a=\"b\"",
            "OAuth",
            "OAuth   ",
            "OAuth oauth_nonce",
            "OAuth oauth_nonce=abc",
            "OAuth oauth_nonce=\"abc",
            "OAuth oauth_nonce=\"a\\\"bc\"",
            "OAuth oauth_nonce=\"a\" oauth_token=\"b\"",
            "OAuth oauth_nonce=\"%zz\"",
            "OAuth oauth_nonce=\"%ff\"",
            "OAuth oauth_nonce=\"a\", oauth_nonce=\"b\"",
            "OAuth realm=\"a\", Realm=\"b\"",
            "OAuth foo=\"a\"",
            "OAuth oauth_nonce=\"é\"",
            "OAuth =\"a\"",
        ] {
            assert!(parse_authorization_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips() {
        let mut p = OAuthParams::new();
        p.set_realm("https://jira.example.com".into());
        p.push("oauth_callback", "https://x/?a=b c").unwrap();
        p.push("oauth_signature", "a+b/c=").unwrap();
        let header = p.to_header_value();
        assert_eq!(
            header,
            "OAuth realm=\"https%3A%2F%2Fjira.example.com\", oauth_callback=\"https%3A%2F%2Fx%2F%3Fa%3Db%20c\", oauth_signature=\"a%2Bb%2Fc%3D\""
        );
        assert_eq!(parse_authorization_header(&header).unwrap(), p);
    }

    #[test]
    fn plaintext_signature_is_redacted_in_debug() {
        let mut p = OAuthParams::new();
        p.push("oauth_signature_method", "PLAINTEXT").unwrap();
        p.push("oauth_signature", "foo&bar").unwrap();
        assert!(!format!("{p:?}").contains("foo&bar"));
    }
}
