//! TLS to PostgreSQL (rustls), as libpq's `sslmode` and `sslrootcert` ask for it.
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (default) | when the server offers it | not checked (libpq: same) |
//! | `require` | always | not checked; with `sslrootcert`, checked as `verify-ca` (as libpq) |
//! | `verify-ca` | always | signed by a certificate of `sslrootcert` |
//! | `verify-full` | always | as `verify-ca`, and issued for the host connected to |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the operating system's
//! trust store. `verify-ca` and `verify-full` need it (libpq falls back to
//! `~/.postgresql/root.crt`; this server asks for the file to be named instead).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, certificate not checked.
    Prefer,
    /// TLS, certificate not checked (unless `sslrootcert` is given).
    Require,
    /// TLS, certificate signed by a trusted CA.
    VerifyCa,
    /// TLS, certificate signed by a trusted CA and issued for the host.
    VerifyFull,
}

impl SslMode {
    /// Parses an `sslmode` value.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }
}

/// Where the trusted CA certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// What the URL asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `sslmode`.
    pub mode: SslMode,
    /// `sslrootcert`.
    pub root_cert: Option<RootCert>,
}

impl TlsSettings {
    /// The connector for these settings; `None` for `sslmode=disable`. Reads `sslrootcert`.
    pub fn connector(&self) -> Result<Option<MakeRustlsConnect>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let algorithms = provider.signature_verification_algorithms;
        let roots = match (self.mode, &self.root_cert) {
            (SslMode::Disable, _) => return Ok(None),
            (SslMode::Prefer | SslMode::Require, None) => None,
            _ => Some(Arc::new(self.roots()?)),
        };
        let config = match roots {
            Some(roots) if self.mode == SslMode::VerifyFull => {
                let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS set-up: {e}"))?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            roots => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { roots, algorithms }))
                .with_no_client_auth(),
        };
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            None => {
                return Err(
                    "sslmode=verify-ca and verify-full need sslrootcert=<PEM file of the CA certificates> (or sslrootcert=system)".to_owned(),
                );
            }
            Some(RootCert::System) => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(format!(
                        "sslrootcert=system: no CA certificates found in the system's trust store ({} errors)",
                        found.errors.len()
                    ));
                }
            }
            Some(RootCert::File(path)) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("sslrootcert={shown}: {e}"))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("sslrootcert={shown}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert={shown}: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "sslrootcert={shown}: no certificate in the file (expected PEM, -----BEGIN CERTIFICATE-----)"
                    ));
                }
            }
        }
        Ok(roots)
    }
}

/// The certificate check of every verifying-less or chain-only mode: `roots: None` (`prefer`
/// and `require` without `sslrootcert`) accepts any certificate, as libpq does; `Some` checks
/// that the chain ends at one of them, not the name (`verify-ca`). Either way the handshake's
/// signatures are checked, so the connection is encrypted to the key the certificate names.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_values() {
        assert_eq!(SslMode::parse("verify-full"), Some(SslMode::VerifyFull));
        assert_eq!(SslMode::parse("allow"), None);
        assert_eq!(SslMode::parse("Require"), None);
    }

    #[test]
    fn verify_modes_need_a_root_certificate_and_a_readable_one() {
        let settings = |mode, root_cert| TlsSettings { mode, root_cert };
        assert!(
            settings(SslMode::Disable, None)
                .connector()
                .expect("ok")
                .is_none()
        );
        assert!(
            settings(SslMode::Require, None)
                .connector()
                .expect("ok")
                .is_some()
        );
        let err = settings(SslMode::VerifyFull, None)
            .connector()
            .err()
            .expect("refused");
        assert!(err.contains("sslrootcert"), "{err}");
        let err = settings(
            SslMode::VerifyCa,
            Some(RootCert::File("/nonexistent/root.crt".into())),
        )
        .connector()
        .err()
        .expect("refused");
        assert!(err.contains("/nonexistent/root.crt"), "{err}");
    }
}
