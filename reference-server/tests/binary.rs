//! The `reference-server serve` binary: generated admin token printed once and stored, health,
//! webhook tokens never in the logs, graceful shutdown on SIGTERM.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tokio::io::AsyncReadExt as _;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn run_until_sigterm(
    dir: &std::path::Path,
    during: impl AsyncFnOnce(std::net::SocketAddr),
) -> (String, String) {
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir)
        .env("REFERENCE_SERVER_LOG", "debug")
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    during(addr).await;
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .await
        .expect("read");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .await
        .expect("read");
    (out, err)
}

#[tokio::test]
async fn serve_generates_token_keeps_secrets_out_of_logs_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Looks like a real token; must never be logged.
    let secret_token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6ImppcmEuZXhhbXBsZS5vcmc6eCJ9.c2lnbmF0dXJlLXNlY3JldA";
    let (out, err) = run_until_sigterm(dir.path(), async |addr| {
        let (status, _) = common::http(addr, Method::GET, "/healthz", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = common::http(
            addr,
            Method::POST,
            &format!("/extensions/jira-server/issue-updated/{secret_token}/"),
            &[],
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    })
    .await;
    let stored = std::fs::read_to_string(dir.path().join("admin-token")).expect("token stored");
    let stored = stored.trim();
    assert!(stored.len() >= 32);
    assert!(
        err.contains(stored),
        "the generated token is printed once: {err}"
    );
    let logs = format!("{out}{err}");
    assert!(!logs.contains(secret_token), "{logs}");
    assert!(logs.contains("issue-updated/[redacted]/"), "{logs}");
    assert!(logs.contains("store flushed"), "{logs}");
    assert_eq!(logs.matches(stored).count(), 1, "{logs}");

    // Second start: the stored token is reused and not printed again.
    let (out, err) = run_until_sigterm(dir.path(), async |addr| {
        let auth = format!("Bearer {stored}");
        let (status, _) = common::http(
            addr,
            Method::GET,
            "/api/v1/integrations",
            &[("authorization", &auth)],
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
    assert!(!format!("{out}{err}").contains(stored));
}
