//! The `jira-sim` binary: serves the demo Jira on the address given, prints how to use it, and
//! stops with exit status 0 on Ctrl-C (SIGINT) and on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

#[tokio::test]
async fn serves_the_demo_jira_until_sigint() {
    serves_the_demo_jira_until("INT").await;
}

/// What `kill`, systemd and container runtimes send (issue 20, item 28).
#[tokio::test]
async fn serves_the_demo_jira_until_sigterm() {
    serves_the_demo_jira_until("TERM").await;
}

/// Starts the binary, checks its first line and one REST call, sends `signal`, and checks that
/// it exits 0 having printed how to use it.
async fn serves_the_demo_jira_until(signal: &str) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jira-sim"))
        .args(["--listen", "127.0.0.1:0", "--jira-version", "10.3.6"])
        .env_remove("SIMULATED_JIRA_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn jira-sim");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    tokio::time::timeout(Duration::from_secs(20), stdout.read_line(&mut first))
        .await
        .expect("prints its address within 20 s")
        .expect("read");
    // "Simulated Jira 10.3.6 at http://127.0.0.1:<port>"
    let base = first
        .trim()
        .strip_prefix("Simulated Jira 10.3.6 at ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "the bound port is printed: {base}");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let reply = reqwest::Client::new()
        .get(format!("{base}/rest/api/2/serverInfo"))
        .header(
            "authorization",
            format!("Bearer {}", jira_sim::Config::DEMO_PAT),
        )
        .send()
        .await
        .expect("serverInfo");
    assert_eq!(reply.status(), 200);
    let info: serde_json::Value =
        serde_json::from_str(&reply.text().await.expect("body")).expect("JSON");
    assert_eq!(info["version"], "10.3.6");

    let pid = child.id().expect("pid").to_string();
    let signalled = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(&pid)
        .status()
        .expect("kill");
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap_or_else(|_| panic!("exits within 15 s after SIG{signal}"))
        .expect("wait");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.expect("read");
    assert!(status.success(), "exit status {status:?}");
    assert!(rest.contains("demo-admin-token"), "{rest}");
    assert!(
        rest.contains("jira-sim/keys/consumer_private_key.pem"),
        "{rest}"
    );
}
