//! The admin token: a [`jira_client::SecretString`] (the workspace's one redacting secret
//! string) with constant-time comparison, generation and parsing from the command line.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use jira_client::SecretString;

/// A secret string compared in constant time (admin token, URL token). `Debug` and `Display`
/// print `[redacted]` (it is a [`SecretString`]); use [`Secret::expose`] where the value is
/// really needed.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::new(value))
    }

    /// A new random secret: 32 bytes from the operating system, base64url without padding.
    pub fn generate() -> std::io::Result<Self> {
        Ok(Self::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?),
        ))
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Constant-time comparison with a candidate (the length is not hidden).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.ct_eq(candidate)
    }
}

/// Equality is [`Secret::matches`]: constant time.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose().as_bytes())
    }
}

impl Eq for Secret {}

impl From<SecretString> for Secret {
    fn from(value: SecretString) -> Self {
        Self(value)
    }
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> std::io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(buf)
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    }

    #[test]
    fn matches_exactly() {
        let s = Secret::new("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
    }

    #[test]
    fn generated_secrets_differ() {
        let a = Secret::generate().expect("rng");
        let b = Secret::generate().expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
    }
}
