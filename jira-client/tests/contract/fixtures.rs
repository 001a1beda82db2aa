//! Test fixtures: own files are compiled in; Sentry-derived ones are read at run time and may
//! be absent (they are not shipped in the package).

use std::path::PathBuf;

/// The consumer key pair written for these tests (tests/fixtures/own/).
pub const PRIVATE_KEY: &str = include_str!("../fixtures/own/consumer_private_key.pem");
/// Same key in PKCS#8.
pub const PRIVATE_KEY_PKCS8: &str = include_str!("../fixtures/own/consumer_private_key_pkcs8.pem");
/// Its public half (what Jira's application link holds).
pub const PUBLIC_KEY: &str = include_str!("../fixtures/own/consumer_public_key.pem");
/// An unrelated key: signatures made with it must be refused.
pub const OTHER_PRIVATE_KEY: &str = include_str!("../fixtures/own/other_private_key.pem");
/// `serverInfo` of a Jira Server 9.12.
pub const SERVER_INFO_V9: &str = include_str!("../fixtures/own/server_info_9.json");
/// `serverInfo` of a Jira Data Center 10.3.
pub const SERVER_INFO_V10: &str = include_str!("../fixtures/own/server_info_10.json");
/// Self-signed certificate for 127.0.0.1 and its key.
pub const TLS_CERT: &[u8] = include_bytes!("../fixtures/own/tls_self_signed_cert.pem");
/// Key of [`TLS_CERT`].
pub const TLS_KEY: &[u8] = include_bytes!("../fixtures/own/tls_self_signed_key.pem");

/// A Sentry-derived fixture, or `None` (with the one-line skip notice) when the package does
/// not ship it.
pub fn sentry(name: &str) -> Option<String> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "sentry",
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).ok();
    if text.is_none() {
        eprintln!(
            "skipped: tests/fixtures/sentry/{name} is absent (fixture not shipped in the package)"
        );
    }
    text
}
