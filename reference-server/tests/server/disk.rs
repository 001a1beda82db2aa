//! Faults of the disk and the database under a running server: a full disk under the sled
//! inbox (a size-limited tmpfs the test mounts; where mounting is not allowed the test prints
//! one `skipped:` line and passes), a database that refuses connections, and `GET /readyz`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::Value;

use crate::common::{self, MockJira, TestServer, fixture, install_pat};
use crate::support_backend::{Backend, on_both_backends};

/// `GET path`: the status and the JSON body.
async fn get(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let (status, body) = common::http(server.addr, Method::GET, path, &[], Vec::new()).await;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

/// Polls `GET /readyz` until it answers `want` (at most 10 s); returns the body.
async fn readyz_until(server: &TestServer, want: StatusCode) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = get(server, "/readyz").await;
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "/readyz stayed {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A size-limited tmpfs mounted at a directory for one test, unmounted when dropped.
struct SmallFs(PathBuf);

impl SmallFs {
    /// Mounts a tmpfs of `size` at `at`; `None`, after one printed line, where mounting is not
    /// allowed (not root, no `mount`, a container without the capability).
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(at.to_owned())),
            Ok(o) => {
                println!(
                    "skipped: cannot mount a small tmpfs ({})",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    /// Fills the filesystem with one file until a write fails; returns the file.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![1u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The raw answer to a webhook (status line and headers included).
async fn webhook_raw(server: &TestServer, token: &str, body: &[u8]) -> String {
    let mut req = format!(
        "POST /extensions/jira-server/issue-updated/{token}/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let (answer, _) = common::raw(server.addr, &req, false, Duration::from_secs(10)).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_503_with_retry_after_and_the_server_recovers_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The inbox on a small filesystem of its own; sled's files stay on the test's disk.
    let Some(fs) = SmallFs::mount(&dir.path().join("inbox"), "4m") else {
        return;
    };
    let server = TestServer::start_in(dir).await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;
    let body = fixture("test_post_update_assignee.json");
    let (status, _) = server.webhook(&token, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(readyz_until(&server, StatusCode::OK).await["status"], "ok");

    let filler = fs.fill();
    // Deliveries may still fit in the page the last one was written to; then one does not.
    let mut refused = None;
    for _ in 0..500 {
        let answer = webhook_raw(&server, &token, &body).await;
        if !answer.starts_with("HTTP/1.1 200") {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a delivery to a full disk is refused");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 30"),
        "{refused}"
    );
    let again = webhook_raw(&server, &token, &body).await;
    assert!(again.starts_with("HTTP/1.1 503"), "still full: {again}");
    let (status, _) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "the process is alive");
    let not_ready = readyz_until(&server, StatusCode::SERVICE_UNAVAILABLE).await;
    let reason = not_ready["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("No space left"), "{not_ready}");
    let metrics = common::http(server.addr, Method::GET, "/metrics", &[], Vec::new())
        .await
        .1;
    assert!(
        !String::from_utf8_lossy(&metrics)
            .contains("reference_server_webhooks_received_total{outcome=\"error\"} 0\n"),
        "the refusals are counted as errors"
    );

    std::fs::remove_file(&filler).expect("free the space");
    assert_eq!(readyz_until(&server, StatusCode::OK).await["status"], "ok");
    let (status, reply) = server.webhook(&token, &body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "stored again without a restart: {reply:?}"
    );
    let dir = server.stop().await;
    drop(fs);
    drop(dir);
}

on_both_backends!(readyz_is_ok_while_the_store_writes_and_503_while_shutting_down);
/// `GET /readyz` is 200 `{"status":"ok"}` while the store can write and 503 with the reason
/// once the server is stopping; `/healthz` stays 200; other methods get 405.
async fn readyz_is_ok_while_the_store_writes_and_503_while_shutting_down(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(
        (status, &body),
        (StatusCode::OK, &serde_json::json!({"status": "ok"}))
    );
    let (status, _) = common::http(server.addr, Method::POST, "/readyz", &[], Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    server.state().shutting_down.store(true, Ordering::Relaxed);
    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "the server is shutting down");
    let (status, _) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_database_refuses_connections() {
    let Some(db) = crate::support_pg::fresh_database().await else {
        return;
    };
    let admin = db.admin_client().await;
    let name = db.name().to_owned();
    let backend = Backend::Postgres(db);
    let server = TestServer::start_on(&backend).await;
    assert_eq!(readyz_until(&server, StatusCode::OK).await["status"], "ok");
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .expect("refuse connections");
    admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .expect("cut the server's connections");
    let body = readyz_until(&server, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("database")),
        "{body}"
    );
    let (status, _) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .expect("allow connections");
    assert_eq!(readyz_until(&server, StatusCode::OK).await["status"], "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_write_stops_the_server_with_an_error_for_its_supervisor() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The whole data directory on a small filesystem: sled's files too.
    let Some(fs) = SmallFs::mount(&dir.path().join("data"), "8m") else {
        return;
    };
    let data = dir.path().join("data");
    let server = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.data_dir.clone_from(&data);
    })
    .await;
    server
        .put(
            "/users/u-0",
            serde_json::json!({"name": "Zero", "active": true}),
        )
        .await;
    let _filler = fs.fill();
    // Admin writes are flushed before their answer: once sled's flush fails, it keeps failing
    // (sled keeps its first I/O error), and the server stops.
    let mut refused = None;
    for i in 1..500 {
        let (status, body) = server
            .api(
                Method::PUT,
                &format!("/users/u-{i}"),
                Some(serde_json::json!({"name": "x".repeat(2000), "active": true})),
            )
            .await;
        if status != StatusCode::OK {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("a write to a full disk fails");
    assert!(status.is_server_error(), "{status}: {body}");
    let mut server = server;
    let handle = server.handle.take().expect("running");
    let stopped = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the server stops by itself");
    let err = stopped.expect_err("a failed store is an error, not a clean stop");
    assert!(
        matches!(err, reference_server::server::ServerError::StoreFailed(_)),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
    let message = err.to_string();
    assert!(
        message.contains("cannot recover without a restart") && message.contains("free space"),
        "{message}"
    );
    drop(server);
    drop(fs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_inbox_refuses_deliveries_at_its_limit_and_takes_them_again_once_applied() {
    use reference_server::storage::{Inbox as _, Storage};
    let Some(db) = crate::support_pg::fresh_database().await else {
        return;
    };
    let (storage, tasks) = Storage::open_postgres(
        &db.pg_url(),
        4,
        std::sync::Arc::default(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("opens");
    storage.set_inbox_max_bytes(4000).await;
    let body = vec![b'x'; 1000];
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = storage.accept("1", 0, &body).await {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("the limit is reached");
    assert!(refused.contains("--inbox-max-mb"), "{refused}");
    assert_eq!(storage.pending_count().await.expect("count"), 4);
    let reason = storage
        .readiness()
        .await
        .expect_err("not ready at the limit");
    assert!(reason.contains("--inbox-max-mb"), "{reason}");
    // Applied (gone from the inbox): the next read of its size makes room again.
    db.client()
        .await
        .batch_execute("DELETE FROM inbox")
        .await
        .expect("delete");
    let start = Instant::now();
    while storage.readiness().await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(15), "no room again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    storage.accept("1", 0, &body).await.expect("room again");
    drop(storage);
    tasks.stop().await.expect("stops");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_0700_and_every_file_in_it_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("new").join("data");
    let server = TestServer::start_with(tempfile::tempdir().expect("tempdir"), |c| {
        c.data_dir.clone_from(&data);
    })
    .await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;
    // A delivery stored: the inbox's segment and sequence bound are created after the start.
    let (status, _) = server
        .webhook(&token, &fixture("test_post_update_assignee.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut server = server;
    let handle = server.handle.take().expect("running");
    handle.shutdown().await.expect("clean stop");

    let mut files = 0;
    let mut stack = vec![data.clone()];
    assert_eq!(
        std::fs::metadata(&data).expect("stat").permissions().mode() & 0o777,
        0o700
    );
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read") {
            let entry = entry.expect("entry");
            let meta = entry.metadata().expect("stat");
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode, 0o700, "{}", entry.path().display());
                stack.push(entry.path());
            } else {
                assert_eq!(
                    mode & 0o077,
                    0,
                    "{} has mode {mode:o}",
                    entry.path().display()
                );
                files += 1;
            }
        }
    }
    assert!(
        files >= 3,
        "sled's files, an inbox segment, the inbox's sequence bound"
    );
    drop(server);
}

/// `--inbox-max-mb` through the server: while the worker cannot drain the inbox (it panics on
/// every batch, through the test-only `Faults` hook), deliveries are stored up to the limit and
/// then answered 503 with `Retry-After`, and `/readyz` says why. (That the inbox takes
/// deliveries again once they are applied is `inbox/tests.rs::the_inbox_refuses_deliveries_at_
/// its_limit_and_takes_them_again_once_applied`.) A limit the inbox could not free space under
/// is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_inbox_gets_503_with_retry_after_and_readyz_says_why() {
    let faults = reference_server::app::Faults::default();
    faults.panic_worker(u32::MAX);
    let injected = faults.clone();
    let server = TestServer::start_with(tempfile::tempdir().expect("tempdir"), move |c| {
        c.inbox_max_mb = 1;
        c.inbox_segment_kb = 64;
        c.faults = injected;
    })
    .await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;
    let body = fixture("test_post_update_assignee.json");
    let mut stored = 0_u32;
    let mut refused = None;
    // A few hundred bytes per stored delivery (its stored form): 1 MiB within 20 000.
    for _ in 0..20_000 {
        let (status, reply) = server.webhook(&token, &body).await;
        if status == StatusCode::OK {
            stored += 1;
        } else {
            refused = Some((status, reply));
            break;
        }
    }
    let (status, reply) = refused.expect("deliveries beyond --inbox-max-mb are refused");
    assert!(stored > 100, "{stored} stored before the limit");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    let answer = webhook_raw(&server, &token, &body).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after:"),
        "{answer}"
    );
    let (status, _) = get(&server, "/healthz").await;
    assert_eq!(status, StatusCode::OK, "the process is alive");
    let not_ready = readyz_until(&server, StatusCode::SERVICE_UNAVAILABLE).await;
    let reason = not_ready["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("--inbox-max-mb"), "{not_ready}");
    faults.panic_worker(0);
    drop(jira);

    // A limit below four segments is refused at start, naming both settings.
    let unused = tempfile::tempdir().expect("tempdir");
    let mut config = reference_server::config::ServeConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        unused.path().to_path_buf(),
    );
    config.inbox_max_mb = 64;
    let err = reference_server::server::start(config)
        .await
        .expect_err("a limit of two 32 MiB segments is refused");
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert!(
        message.contains("--inbox-max-mb 64") && message.contains("--inbox-segment-kb 32768"),
        "{message}"
    );
}
