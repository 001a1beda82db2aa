//! The `reference-server serve` binary: generated admin token printed once and stored, health,
//! webhook tokens never in the logs, graceful shutdown on SIGTERM.

use crate::common::{self, free_port};

use std::process::Stdio;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use tokio::io::AsyncReadExt as _;

/// Starts `reference-server serve` on a free port with `dir` as data directory (no admin token
/// given, so one is generated) and waits until it accepts connections.
async fn spawn_server(
    dir: &std::path::Path,
    output: impl Fn() -> Stdio,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir)
        .env("REFERENCE_SERVER_LOG", "debug")
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .env_remove("REFERENCE_SERVER_STORE")
        .env_remove("REFERENCE_SERVER_PUBLIC_URL")
        .stdout(output())
        .stderr(output())
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
    (child, addr)
}

async fn run_until_sigterm(
    dir: &std::path::Path,
    during: impl AsyncFnOnce(std::net::SocketAddr),
) -> (String, String) {
    let (mut child, addr) = spawn_server(dir, Stdio::piped).await;
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

/// Log lines written to a pipe or a file carry no colour escape codes (issue 20, item 27).
#[tokio::test]
async fn logs_have_no_colour_codes_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out, err) = run_until_sigterm(dir.path(), async |addr| {
        let (status, _) = common::http(addr, Method::GET, "/healthz", &[], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
    assert!(out.contains("reference-server listening"), "{out}");
    for (name, text) in [("stdout", &out), ("stderr", &err)] {
        let first = text.lines().find(|l| l.contains('\u{1b}'));
        assert_eq!(first, None, "escape codes on {name}");
    }
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
    // The answer is the same for every refused token; the log says why.
    assert!(
        logs.contains("webhook token rejected") && logs.contains("Could not find integration"),
        "{logs}"
    );
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
    let logs = format!("{out}{err}");
    assert!(!logs.contains(stored));
    // Every start says where the token is (never the token itself).
    assert!(
        logs.contains("admin token: stored in this file")
            && logs.contains(&dir.path().join("admin-token").display().to_string()),
        "{logs}"
    );
}

/// A start that fails (here: the port is taken) generates and prints no admin token, so the
/// next good start is the one that prints it (issue 20, item 26).
#[tokio::test]
async fn a_start_that_fails_generates_no_admin_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path())
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .env_remove("REFERENCE_SERVER_STORE")
        .output()
        .await
        .expect("run");
    assert!(!output.status.success(), "the port is taken");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("Generated admin token"), "{err}");
    assert!(
        !dir.path().join("admin-token").exists(),
        "no token stored by a failed start"
    );
    drop(taken);
    // The next good start generates, stores and prints it.
    let (_, err) = run_until_sigterm(dir.path(), async |_| {}).await;
    let stored = std::fs::read_to_string(dir.path().join("admin-token")).expect("token stored");
    assert!(
        err.contains(&format!(
            "Generated admin token (stored in {}): {}",
            dir.path().join("admin-token").display(),
            stored.trim()
        )),
        "{err}"
    );
}

// ---------------------------------------------------------------- the README's walk-through

/// The fenced `sh` blocks of `README.md` that follow a `<!-- walkthrough -->` marker, in order.
fn walkthrough_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- walkthrough -->" {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```sh",
            "a walkthrough marker is followed by a sh block"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(block.join("\n"));
    }
    blocks
}

/// Printed before each walk-through block's output by the test's script.
const BLOCK_MARK: &str = "=== walkthrough block ";

/// Every JSON value in `output` (curl's answers end without a newline, so one line may hold
/// several; other text, such as an HTML page, is skipped).
fn json_values(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .flat_map(|line| {
            serde_json::Deserializer::from_str(line)
                .into_iter::<serde_json::Value>()
                .map_while(Result::ok)
        })
        .collect()
}

fn curl_is_installed() -> bool {
    std::process::Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the quick start of `reference-server/README.md` as a new user would (`bash -euo
/// pipefail`, `curl`), against the real `reference-server` binary and a simulated Jira (the
/// `jira-sim` library; its binary serves the same `Config::demo()`), on ephemeral ports given
/// to the script as `$JIRA`, `$SERVER` and `$DATA`, then checks what the README promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_in_the_readme_works() {
    if !curl_is_installed() {
        eprintln!("skipped: the README walk-through needs curl, which is not installed");
        return;
    }
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(manifest_dir.join("README.md")).expect("README.md");
    let blocks = walkthrough_blocks(&readme);
    assert_eq!(
        blocks.len(),
        3,
        "the PAT walk-through, alice's hidden e-mail and the OAuth install"
    );
    // One script (the blocks share variables), with a marker line before each block's output.
    let script = blocks
        .iter()
        .enumerate()
        .map(|(i, block)| format!("echo; echo '{BLOCK_MARK}{i}'\n{block}"))
        .collect::<Vec<_>>()
        .join("\n");

    let jira = jira_sim::SimulatedJira::start(jira_sim::Config::demo())
        .await
        .expect("simulated Jira");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (mut server, addr) = spawn_server(&data, Stdio::null).await;

    // From the repository root, as the README says.
    let run = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(manifest_dir.parent().expect("repository root"))
        .env("JIRA", jira.base_url())
        .env("SERVER", format!("http://{addr}"))
        .env("DATA", &data)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_mins(1), run)
        .await
        .expect("the walk-through ends within 60 s")
        .expect("run bash");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    let context = format!("script:\n{script}\n--- stdout:\n{out}\n--- stderr:\n{err}");
    assert!(output.status.success(), "{}: {context}", output.status);

    let outputs: Vec<Vec<serde_json::Value>> =
        out.split(BLOCK_MARK).skip(1).map(json_values).collect();
    assert_eq!(outputs.len(), 3, "{context}");
    let last_group_answer = |values: &[serde_json::Value]| {
        values
            .iter()
            .rfind(|v| v["id"] == "crash-on-save" && v.get("status").is_some())
            .cloned()
            .expect(&context)
    };

    // Block 1. The install answered with an id, which the later calls used.
    let id = outputs[0]
        .iter()
        .find_map(|v| v["integration"]["id"].as_str())
        .expect(&context);
    assert!(
        outputs[0]
            .iter()
            .any(|v| v["group"] == "crash-on-save" && v["integration"] == id),
        "the link uses the installed id: {context}"
    );
    // The group followed Jira: assignee bob, status resolved (the last answer about it).
    let group = last_group_answer(&outputs[0]);
    assert_eq!(group["assignee"], "bob", "{context}");
    assert_eq!(group["status"], "resolved", "{context}");
    // The delivery log lists the applied deliveries: the assignment and the transition.
    let log = outputs[0]
        .iter()
        .find(|v| v.get("deliveries").is_some())
        .expect(&context);
    let deliveries = log["deliveries"].as_array().expect(&context);
    assert_eq!(deliveries.len(), 2, "{context}");
    for delivery in deliveries {
        assert_eq!(delivery["state"], "applied", "{context}");
        assert_eq!(delivery["issueKey"], "APP-1", "{context}");
        assert_eq!(
            delivery["outcomes"][0]["group"], "crash-on-save",
            "{context}"
        );
    }
    let results: Vec<&str> = deliveries
        .iter()
        .filter_map(|d| d["outcomes"][0]["result"].as_str())
        .collect();
    assert!(
        results.contains(&"assigned") && results.contains(&"resolved"),
        "{context}"
    );

    // Block 2. alice's hidden e-mail: skipped, then assigned once her user key is mapped.
    let log = outputs[1]
        .iter()
        .find(|v| v.get("deliveries").is_some())
        .expect(&context);
    let skipped = &log["deliveries"][0];
    assert_eq!(skipped["state"], "applied", "{context}");
    assert_eq!(skipped["outcomes"][0]["result"], "skipped", "{context}");
    assert_eq!(
        skipped["outcomes"][0]["reason"], "assignee: email_hidden",
        "{context}"
    );
    let group = last_group_answer(&outputs[1]);
    assert_eq!(group["assignee"], "alice", "{context}");
    assert_eq!(group["status"], "resolved", "{context}");

    // Block 3. The OAuth install completed in the "browser", as a second integration.
    let started = outputs[2]
        .iter()
        .find(|v| v.get("oauthUrl").is_some())
        .expect(&context);
    assert_eq!(started["step"], "oauth_callback", "{context}");
    assert!(out.contains("<h1>Jira Server connected</h1>"), "{context}");
    assert!(
        !out.contains(&format!("installed with id {id}.")),
        "{context}"
    );
    assert_eq!(jira.webhooks().len(), 2, "{context}");
    assert_eq!(
        jira.issue("APP-1").and_then(|i| i.assignee).as_deref(),
        Some("alice")
    );

    server.start_kill().expect("kill");
    let _ = server.wait().await;
    jira.shutdown().await;
}

/// `serve` with the given arguments (no admin token from the environment); its exit code and
/// standard error.
async fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .arg("serve")
        .args(args)
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .env_remove("REFERENCE_SERVER_LISTEN")
        .env_remove("REFERENCE_SERVER_DATA_DIR")
        .env_remove("REFERENCE_SERVER_STORE")
        .output()
        .await
        .expect("run");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Start-up errors name the cause and the fix, never a raw `Os { .. }` dump (issue 20,
/// item 25): a bare port for `--listen`, a `--data-dir` that is a file or under a file, and a
/// second server on a data directory in use.
#[tokio::test]
async fn start_errors_name_the_cause_and_the_fix() {
    let (code, err) = serve_fails(&["--listen", "8081"]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("use 127.0.0.1:8081"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let listen = [
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        "t",
        "--data-dir",
    ];
    let file_arg = file.display().to_string();
    let (code, err) = serve_fails(&[&listen[..], &[file_arg.as_str()]].concat()).await;
    assert_ne!(code, Some(0));
    assert!(err.contains("exists and is not a directory"), "{err}");
    let under = file.join("sub").display().to_string();
    let (_, err) = serve_fails(&[&listen[..], &[under.as_str()]].concat()).await;
    assert!(err.contains("a part of the path is a file"), "{err}");

    // A second server on a data directory in use.
    let data = dir.path().join("data");
    let (mut first, _) = spawn_server(&data, Stdio::null).await;
    let data_arg = data.display().to_string();
    let (code, err) = serve_fails(&[&listen[..], &[data_arg.as_str()]].concat()).await;
    let _ = first.kill().await;
    assert_ne!(code, Some(0));
    assert!(err.contains("another server is using it"), "{err}");
    assert!(err.contains("another --data-dir"), "{err}");
    assert!(!err.contains("Os {"), "{err}");
}

/// `--store` with a PostgreSQL that cannot be reached: exit code 2 and one message naming host,
/// port, database and user, never the password.
#[tokio::test]
async fn an_unreachable_postgres_store_exits_with_code_2_naming_the_target_without_the_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Port 1 on the loopback: nothing listens there, the connection is refused at once.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "REFERENCE_SERVER_STORE",
            "postgres://bob:s3cr3t-pw@127.0.0.1:1/tracker",
        )
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("exits")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for part in ["127.0.0.1", "1", "tracker", "bob"] {
        assert!(stderr.contains(part), "{part} in {stderr}");
    }
    assert!(
        !stderr.contains("s3cr3t-pw") && !stdout.contains("s3cr3t-pw"),
        "{stdout}{stderr}"
    );
}

/// `--store` that is neither `sled` nor a PostgreSQL URL: exit code 2, saying what is expected.
#[tokio::test]
async fn a_store_that_is_not_a_postgres_url_exits_with_code_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "/var/lib/x",
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("REFERENCE_SERVER_ADMIN_TOKEN")
        .env_remove("REFERENCE_SERVER_STORE")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("exits")
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a PostgreSQL URL"), "{stderr}");
}
