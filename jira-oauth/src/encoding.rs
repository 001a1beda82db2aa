//! RFC 5849 §3.6 percent-encoding and the parameter normalisation of §3.4.1.3.
//!
//! OAuth 1.0a uses a stricter encoding than HTML forms: every byte of the UTF-8
//! form of a string is kept only if it is *unreserved* (`A-Z a-z 0-9 - . _ ~`);
//! everything else becomes `%XX` with upper-case hex. A space is `%20`, never `+`.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode as pct_decode};

/// Bytes that RFC 5849 §3.6 requires to be percent-encoded: everything except
/// the unreserved set `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
const RFC5849: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a string per RFC 5849 §3.6 (UTF-8, unreserved set only,
/// upper-case hex).
///
/// ```
/// assert_eq!(jira_oauth::percent_encode("a b+c/é~"), "a%20b%2Bc%2F%C3%A9~");
/// ```
pub fn percent_encode(s: &str) -> String {
    percent_encode_bytes(s.as_bytes())
}

/// Percent-encodes raw bytes per RFC 5849 §3.6 (for values that are not UTF-8,
/// such as a form body carrying Latin-1 escapes).
pub fn percent_encode_bytes(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, RFC5849).to_string()
}

/// Decodes `%XX` escapes (not `+`). Invalid escapes such as `%zz` are kept
/// literally, like most servlet containers' lenient decoders.
///
/// The result is raw bytes: decoding may produce bytes that are not UTF-8.
pub fn percent_decode_bytes(s: &[u8]) -> Cow<'_, [u8]> {
    pct_decode(s).into()
}

/// Decodes a percent-encoded string to UTF-8 (invalid UTF-8 sequences are
/// replaced with U+FFFD). `+` is kept as `+`.
///
/// ```
/// assert_eq!(jira_oauth::percent_decode("a%20b%2Bc+d"), "a b+c+d");
/// ```
pub fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s.as_bytes())).into_owned()
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space,
/// then `%XX` escapes are decoded.
pub(crate) fn form_decode_component(s: &[u8]) -> Vec<u8> {
    if s.contains(&b'+') {
        let replaced: Vec<u8> = s
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        pct_decode(&replaced).collect()
    } else {
        pct_decode(s).collect()
    }
}

/// Splits an `application/x-www-form-urlencoded` string (a query or a form body)
/// into decoded `(name, value)` byte pairs: `+` is a space, `%XX` escapes are
/// decoded, a pair without `=` has an empty value, empty segments (`a&&b`) are
/// skipped, duplicates are kept in order.
pub fn form_decode(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    input
        .split(|&b| b == b'&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| match seg.iter().position(|&b| b == b'=') {
            Some(eq) => (
                form_decode_component(&seg[..eq]),
                form_decode_component(&seg[eq + 1..]),
            ),
            None => (form_decode_component(seg), Vec::new()),
        })
        .collect()
}

/// Builds an `application/x-www-form-urlencoded` body (or query string) from
/// plain `(name, value)` pairs, encoding each with the RFC 5849 unreserved set
/// (valid form encoding that every server decodes back to the same values).
///
/// ```
/// let body = jira_oauth::form_encode(&[("b", "2 3"), ("c", "")]);
/// assert_eq!(body, "b=2%203&c=");
/// ```
pub fn form_encode<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(name.as_ref()));
        out.push('=');
        out.push_str(&percent_encode(value.as_ref()));
    }
    out
}

/// The request parameters that enter a signature base string (RFC 5849
/// §3.4.1.3), kept as decoded bytes so that nothing is lost before the
/// re-encoding step.
///
/// ```
/// use jira_oauth::Parameters;
/// let mut p = Parameters::from_form(b"a=x!y&a=x+y");
/// p.push("oauth_nonce", "n");
/// assert_eq!(p.normalized(), "a=x%20y&a=x%21y&oauth_nonce=n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Parameters {
    /// An empty parameter list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters decoded from a query string or form body (see [`form_decode`]).
    pub fn from_form(input: &[u8]) -> Self {
        Self {
            pairs: form_decode(input),
        }
    }

    /// Adds the pairs of a query string or form body.
    pub fn extend_from_form(&mut self, input: &[u8]) {
        self.pairs.extend(form_decode(input));
    }

    /// Adds one decoded (plain) parameter.
    pub fn push(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.pairs
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
    }

    /// Keeps only the parameters for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        self.pairs.retain(|(n, v)| keep(n, v));
    }

    /// Number of parameters (duplicates counted).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Iterates over the decoded `(name, value)` pairs in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// The normalised parameter string of RFC 5849 §3.4.1.3.2: every name and
    /// value percent-encoded, sorted by encoded name then encoded value (byte
    /// order), joined as `name=value` with `&`. Duplicates and empty values are kept.
    pub fn normalized(&self) -> String {
        let mut encoded: Vec<(String, String)> = self
            .pairs
            .iter()
            .map(|(n, v)| (percent_encode_bytes(n), percent_encode_bytes(v)))
            .collect();
        encoded.sort_unstable();
        let mut out =
            String::with_capacity(encoded.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
        for (i, (n, v)) in encoded.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(n);
            out.push('=');
            out.push_str(v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_handles_plus_missing_equals_and_empty_segments() {
        let got = form_decode(b"c2&a3=2+q&&x=%41%zz");
        assert_eq!(
            got,
            vec![
                (b"c2".to_vec(), Vec::new()),
                (b"a3".to_vec(), b"2 q".to_vec()),
                (b"x".to_vec(), b"A%zz".to_vec()),
            ]
        );
    }
}
