//! `verify_ssl` against a self-signed HTTPS "Jira".

use std::net::SocketAddr;
use std::sync::Arc;

use jira_client::{Auth, JiraClient, JiraError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::{TLS_CERT, TLS_KEY};

/// An HTTPS server with a self-signed certificate for 127.0.0.1 that answers every request
/// with serverInfo 9.12.0 (one request per connection).
async fn self_signed_jira() -> SocketAddr {
    let certs = CertificateDer::pem_slice_iter(TLS_CERT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(TLS_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                // Read the request head, then answer and close.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = br#"{"version":"9.12.0"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn verify_ssl_false_accepts_a_self_signed_certificate() {
    let addr = self_signed_jira().await;
    let client = JiraClient::new(
        &format!("https://{addr}"),
        false,
        Auth::personal_access_token("t"),
    )
    .unwrap();
    let info = client.server_info().await.unwrap();
    assert_eq!(info.version, "9.12.0");
}

#[tokio::test]
async fn verify_ssl_true_refuses_a_self_signed_certificate() {
    let addr = self_signed_jira().await;
    let client = JiraClient::new(
        &format!("https://{addr}"),
        true,
        Auth::personal_access_token("t"),
    )
    .unwrap();
    let err = client.server_info().await.unwrap_err();
    let JiraError::Unreachable { reason, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        reason.to_lowercase().contains("certificate"),
        "the TLS error is reported: {reason}"
    );
    assert!(
        !err.to_string().contains("https://"),
        "no URL in the message"
    );
}
