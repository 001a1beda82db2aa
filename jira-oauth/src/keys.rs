//! Credentials: secret newtypes and RSA keys.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use thiserror::Error;

use crate::{SecretString, SignError};

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A typed [`SecretString`]: `Debug` prints `[redacted]`; there is no `Display` and no
        /// `PartialEq` (use [`Self::ct_eq`] for a constant-time comparison).
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(SecretString::new(secret))
            }

            /// The secret value, for storing it or putting it on the wire.
            pub fn expose_secret(&self) -> &str {
                self.0.expose()
            }

            /// Constant-time equality (for comparing a presented secret with a stored one).
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.ct_eq(other.0.expose().as_bytes())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(SecretString::from(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(SecretString::from(s))
            }
        }
    };
}

secret_string! {
    /// The consumer (client) secret used by HMAC-SHA1 and PLAINTEXT.
    ConsumerSecret
}

secret_string! {
    /// The secret that goes with a request or access token. RSA-SHA1 does not use
    /// it, HMAC-SHA1 and PLAINTEXT do; Jira returns it and clients store it.
    TokenSecret
}

/// A request or access token with its secret.
///
/// ```
/// let t = jira_oauth::Token::new("abc123", "s3cret");
/// assert_eq!(t.key(), "abc123");
/// assert_eq!(format!("{t:?}"), r#"Token { key: "abc123", secret: [redacted] }"#);
/// ```
#[derive(Clone, Debug)]
pub struct Token {
    key: String,
    secret: TokenSecret,
}

impl Token {
    /// A token value (`oauth_token`) and its secret (`oauth_token_secret`).
    pub fn new(key: impl Into<String>, secret: impl Into<TokenSecret>) -> Self {
        Self {
            key: key.into(),
            secret: secret.into(),
        }
    }

    /// The `oauth_token` value.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The token secret.
    pub fn secret(&self) -> &TokenSecret {
        &self.secret
    }
}

/// An RSA private key could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM is encrypted (`ENCRYPTED PRIVATE KEY` or `Proc-Type: 4,ENCRYPTED`).
    #[error(
        "the RSA private key is encrypted; decrypt it first (e.g. `openssl pkcs8 -topk8 -nocrypt -in key.pem`): accepted formats are unencrypted PEM PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)"
    )]
    Encrypted,
    /// No PEM block with a supported label was found.
    #[error(
        "no supported PEM block found{found}: accepted formats are unencrypted PEM PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY)"
    )]
    UnsupportedFormat {
        /// Description of the label that was found, if any (e.g. ` (found "BEGIN EC PRIVATE KEY")`).
        found: String,
    },
    /// The block has a supported label but its content could not be decoded.
    #[error(
        "malformed {format} RSA private key: {reason}; accepted formats are unencrypted PEM PKCS#1 (BEGIN RSA PRIVATE KEY) or PKCS#8 (BEGIN PRIVATE KEY) of an RSA key of 1024 to 8192 bits"
    )]
    Malformed {
        /// `PKCS#1` or `PKCS#8`.
        format: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// A public key could not be decoded.
    #[error(
        "malformed RSA public key: {reason}; accepted formats are PEM SubjectPublicKeyInfo (BEGIN PUBLIC KEY), PEM PKCS#1 (BEGIN RSA PUBLIC KEY) or the bare base64 of SubjectPublicKeyInfo DER (what Jira's application link shows)"
    )]
    MalformedPublicKey {
        /// What the decoder reported.
        reason: String,
    },
}

fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    let end = rest.find("-----")?;
    Some(rest[..end].trim())
}

/// The consumer's RSA private key for RSA-SHA1, decoded once.
///
/// Signing is RSASSA-PKCS1-v1_5 with the SHA-1 DigestInfo prefix (what Java's
/// `SHA1withRSA`, and so Jira, verifies). `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct RsaPrivateKey {
    signing: Arc<SigningKey<Sha1>>,
}

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPrivateKey([redacted])")
    }
}

impl RsaPrivateKey {
    /// Loads an unencrypted PEM key in PKCS#1 (`BEGIN RSA PRIVATE KEY`) or
    /// PKCS#8 (`BEGIN PRIVATE KEY`) form.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let label = pem_label(pem);
        let key = match label {
            Some("RSA PRIVATE KEY") => {
                if pem.contains("ENCRYPTED") {
                    return Err(KeyError::Encrypted);
                }
                rsa::PrivateKey::from_pkcs1_pem(pem.trim()).map_err(|e| KeyError::Malformed {
                    format: "PKCS#1",
                    reason: e.to_string(),
                })?
            }
            Some("PRIVATE KEY") => {
                rsa::PrivateKey::from_pkcs8_pem(pem.trim()).map_err(|e| KeyError::Malformed {
                    format: "PKCS#8",
                    reason: e.to_string(),
                })?
            }
            Some("ENCRYPTED PRIVATE KEY") => return Err(KeyError::Encrypted),
            Some(other) => {
                return Err(KeyError::UnsupportedFormat {
                    found: format!(" (found \"BEGIN {other}\")"),
                });
            }
            None => {
                return Err(KeyError::UnsupportedFormat {
                    found: String::new(),
                });
            }
        };
        let bits = key.size() * 8;
        if !(rsa::PublicKey::MIN_SIZE..=rsa::PublicKey::MAX_SIZE).contains(&bits) {
            return Err(KeyError::Malformed {
                format: if label == Some("PRIVATE KEY") {
                    "PKCS#8"
                } else {
                    "PKCS#1"
                },
                reason: format!("the modulus has {bits} bits"),
            });
        }
        Ok(Self {
            signing: Arc::new(SigningKey::<Sha1>::new(key)),
        })
    }

    /// The matching public key (what a Jira admin pastes into the application link).
    pub fn public_key(&self) -> RsaPublicKey {
        let public: &rsa::PrivateKey = self.signing.as_ref().as_ref();
        RsaPublicKey::from_rsa(public.to_public_key())
    }

    /// RSASSA-PKCS1-v1_5 / SHA-1 signature of `message`, raw bytes.
    ///
    /// Fails only if the RSA operation itself fails ([`SignError::Rsa`]).
    pub fn sign_sha1(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signing
            .try_sign(message)
            .map(|signature| signature.to_vec())
            .map_err(|e| SignError::Rsa(e.to_string()))
    }
}

/// An RSA public key for verifying RSA-SHA1 signatures (the provider side).
#[derive(Clone, Debug)]
pub struct RsaPublicKey {
    verifying: VerifyingKey<Sha1>,
}

impl RsaPublicKey {
    fn from_rsa(key: rsa::PublicKey) -> Self {
        Self {
            verifying: VerifyingKey::<Sha1>::new(key),
        }
    }

    /// Loads a public key from PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`),
    /// PEM PKCS#1 (`BEGIN RSA PUBLIC KEY`), or the bare base64 of the
    /// SubjectPublicKeyInfo DER (the form Jira's application-link screen takes).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let malformed = |reason: String| KeyError::MalformedPublicKey { reason };
        let key = match pem_label(pem) {
            Some("PUBLIC KEY") => rsa::PublicKey::from_public_key_pem(pem.trim())
                .map_err(|e| malformed(e.to_string()))?,
            Some("RSA PUBLIC KEY") => {
                rsa::PublicKey::from_pkcs1_pem(pem.trim()).map_err(|e| malformed(e.to_string()))?
            }
            Some(other) => return Err(malformed(format!("unsupported PEM label {other:?}"))),
            None => {
                let b64: String = pem.chars().filter(|c| !c.is_whitespace()).collect();
                let der = STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| malformed(format!("not PEM and not base64 DER ({e})")))?;
                rsa::PublicKey::from_public_key_der(&der).map_err(|e| malformed(e.to_string()))?
            }
        };
        Ok(Self::from_rsa(key))
    }

    /// Checks an RSASSA-PKCS1-v1_5 / SHA-1 signature (raw bytes) over `message`.
    pub fn verify_sha1(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
            return false;
        };
        self.verifying.verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let s = ConsumerSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(s.ct_eq(&ConsumerSecret::from("hunter2")));
        assert!(!s.ct_eq(&ConsumerSecret::from("hunter3")));
        assert_eq!(format!("{:?}", TokenSecret::new("x")), "[redacted]");
    }

    #[test]
    fn key_errors_name_accepted_formats() {
        for bad in [
            "",
            "garbage",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----",
        ] {
            let err = RsaPrivateKey::from_pem(bad).unwrap_err().to_string();
            assert!(err.contains("BEGIN RSA PRIVATE KEY"), "{err}");
            assert!(err.contains("BEGIN PRIVATE KEY"), "{err}");
        }
    }
}
