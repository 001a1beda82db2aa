//! Crash test: the server binary is killed with SIGKILL at random moments while deliveries
//! stream in, restarted on the same data directory, and at the end the store is opened and
//! every delivery is accounted for.
//!
//! Ignored in the default run (it takes about half a minute); CI runs it with
//! `cargo test -p reference-server --test server -- --ignored --nocapture crash::` (the only
//! ignored test of the binary; the filter keeps it so).
//! `CRASH_KILLS` (default 5) and `CRASH_SEED` (default: from the clock, printed) tune it.
//!
//! Design: delivery `i` assigns linked issue `CRASH-i` (linked to its own group `c{i}`) to one
//! of two users, so each delivery's effect is separately observable. Each delivery is sent
//! once; a request cut by the kill counts as *unacknowledged*. After the last restart the inbox
//! drains, the server stops gracefully and the test opens the store itself and checks:
//! * the store opens without error (also checked at every restart);
//! * every delivery that got a 200 has exactly one delivery-log record, `applied`, whose
//!   outcome for its group is the assignment, and the group shows that assignee (applied
//!   exactly once);
//! * every unacknowledged delivery is either entirely absent (no record, group unassigned) or
//!   entirely applied (one applied record and the assignee): nothing half-applied;
//! * nothing is left pending in the log or the inbox, and no record exists for an issue that
//!   was never sent.
//!
//! The server runs with 256 KiB inbox segments, so the run rotates through many segments,
//! most of them zero-filled spares.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use jira_sim::{Config as JiraConfig, SimulatedJira};
use reference_server::storage::records::DeliveryState;
use reference_server::storage::sled::Store;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::common::free_port;

const ADMIN: &str = "crash-test-admin-token";
/// Groups (and so deliveries) available: one per delivery.
const CAPACITY: usize = 8_000;
/// Concurrent delivery streams (so kills cut several requests in flight).
const STREAMS: usize = 4;
const USERS: [&str; 2] = ["cu0", "cu1"];
const EMAILS: [&str; 2] = ["crash0@example.org", "crash1@example.org"];

/// Tiny xorshift generator (deterministic from the printed seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// A keep-alive connection that reconnects after errors.
struct Conn {
    addr: SocketAddr,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        auth: bool,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), String> {
        if self
            .sender
            .as_ref()
            .is_none_or(hyper::client::conn::http1::SendRequest::is_closed)
        {
            let stream = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|e| e.to_string())?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        if auth {
            req = req.header("authorization", format!("Bearer {ADMIN}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let result = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        }
        .await;
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

async fn api(addr: SocketAddr, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut c = Conn::new(addr);
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let (s, b) = c
        .request(method.clone(), &format!("/api/v1{path}"), true, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert!(
        s.is_success(),
        "{method} {path}: {s} {}",
        String::from_utf8_lossy(&b)
    );
    serde_json::from_slice(&b).unwrap_or(Value::Null)
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

/// Starts the binary on `dir` and waits for `/healthz` (the store must open without error).
async fn start(dir: &Path) -> Server {
    for _ in 0..5 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.join("data"))
            .env_remove("REFERENCE_SERVER_STORE")
            // Small inbox segments, so that kills also land while a spare segment is filled
            // and while deliveries are written into one.
            .args(["--inbox-segment-kb", "256"])
            .env("REFERENCE_SERVER_ADMIN_TOKEN", ADMIN)
            .env("REFERENCE_SERVER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                assert!(
                    log.contains("cannot listen"),
                    "server exited with {status} on restart (store did not open?):\n{log}"
                );
                break; // port taken meanwhile: try another
            }
            let mut c = Conn::new(addr);
            if let Ok((StatusCode::OK, _)) =
                c.request(Method::GET, "/healthz", false, Vec::new()).await
            {
                return Server { child, addr };
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("could not start the server");
}

fn body(template: &Value, i: usize) -> Vec<u8> {
    let mut v = template.clone();
    let u = i % 2;
    v["issue"]["key"] = json!(format!("CRASH-{i}"));
    v["issue"]["fields"]["assignee"]["emailAddress"] = json!(EMAILS[u]);
    v["issue"]["fields"]["assignee"]["name"] = json!(format!("crash{u}"));
    v["changelog"]["id"] = json!((i + 1).to_string());
    v.to_string().into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Acked,
    Unacked,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills and restarts the server binary several times; run with --ignored"]
async fn sigkill_loses_no_acknowledged_delivery() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| u64::from(d.subsec_nanos()) | 1)
        });
    println!("crash test: seed {seed} (set CRASH_SEED to repeat), {kills} kills");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let template: Value =
        serde_json::from_str(include_str!("../fixtures/issue_updated_large.json"))
            .expect("fixture");

    // Set-up: install against the simulated Jira and seed one group per delivery.
    let jira = SimulatedJira::start(JiraConfig::demo())
        .await
        .expect("jira");
    let mut server = start(dir.path()).await;
    let installed = api(
        server.addr,
        Method::POST,
        "/integrations/jira-server/install-pat",
        Some(json!({"url": jira.base_url(), "token": JiraConfig::DEMO_PAT})),
    )
    .await;
    let integration = installed["integration"]["id"]
        .as_str()
        .expect("integration id")
        .to_owned();
    let hook = jira
        .webhooks()
        .first()
        .expect("webhook registered")
        .url
        .clone();
    let path = hook
        .get(hook.find("/extensions/").expect("webhook path")..)
        .expect("path")
        .to_owned();
    api(
        server.addr,
        Method::PUT,
        &format!("/integrations/{integration}/organizations/co"),
        Some(json!({"syncReverseAssignment": true})),
    )
    .await;
    for (u, e) in USERS.iter().zip(EMAILS) {
        api(
            server.addr,
            Method::PUT,
            &format!("/users/{u}"),
            Some(json!({"name": u, "emails": [{"email": e, "verified": true}]})),
        )
        .await;
    }
    api(
        server.addr,
        Method::PUT,
        "/projects/cp",
        Some(json!({"organization": "co", "members": USERS})),
    )
    .await;
    // Seed concurrently on a few connections.
    let seeded = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (addr, seeded, integration) = (server.addr, seeded.clone(), integration.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(addr);
            loop {
                let i = seeded.fetch_add(1, Ordering::Relaxed);
                if i >= CAPACITY {
                    break;
                }
                for (p, b) in [
                    (
                        format!("/api/v1/groups/c{i}"),
                        br#"{"project":"cp"}"#.to_vec(),
                    ),
                    (
                        format!("/api/v1/groups/c{i}/external-issues/{integration}/CRASH-{i}"),
                        Vec::new(),
                    ),
                ] {
                    let (s, _) = c.request(Method::PUT, &p, true, b).await.expect("seed");
                    assert!(s.is_success(), "seeding {p}: {s}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("seeding task");
    }
    // Admin writes are made durable by a clean stop (they are not flushed per request).
    stop_gracefully(server).await;
    server = start(dir.path()).await;

    // Stream deliveries; kill at random moments.
    let next = Arc::new(AtomicUsize::new(0));
    let mut sent: HashMap<usize, Sent> = HashMap::new();
    for life in 0..=kills {
        let running = Arc::new(AtomicBool::new(true));
        let mut streams = Vec::new();
        for _ in 0..STREAMS {
            let (addr, next, running, template, path) = (
                server.addr,
                next.clone(),
                running.clone(),
                template.clone(),
                path.clone(),
            );
            streams.push(tokio::spawn(async move {
                let mut c = Conn::new(addr);
                let mut out = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= CAPACITY {
                        break;
                    }
                    let r = c
                        .request(Method::POST, &path, false, body(&template, i))
                        .await;
                    let acked = matches!(r, Ok((StatusCode::OK, _)));
                    out.push((i, if acked { Sent::Acked } else { Sent::Unacked }));
                    if r.is_err() {
                        // The server is gone: stop this stream until the restart.
                        break;
                    }
                }
                out
            }));
        }
        let run_for = Duration::from_millis(rng.between(150, 1200));
        tokio::time::sleep(run_for).await;
        if life < kills {
            server.child.start_kill().expect("SIGKILL");
            let _ = server.child.wait().await;
        }
        running.store(false, Ordering::Relaxed);
        for s in streams {
            for (i, st) in s.await.expect("stream") {
                sent.insert(i, st);
            }
        }
        if life < kills {
            println!(
                "  kill {} after {} ms; {} deliveries sent so far",
                life + 1,
                run_for.as_millis(),
                sent.len()
            );
            server = start(dir.path()).await;
        }
    }

    // Let the last life drain its inbox, then stop cleanly and inspect the store.
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let mut c = Conn::new(server.addr);
        let (_, m) = c
            .request(Method::GET, "/metrics", false, Vec::new())
            .await
            .expect("metrics");
        let m = String::from_utf8_lossy(&m).into_owned();
        if m.lines().any(|l| l == "reference_server_inbox_depth 0") {
            break;
        }
        assert!(Instant::now() < deadline, "inbox did not drain:\n{m}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_gracefully(server).await;
    jira.shutdown().await;

    let store = Store::open(&dir.path().join("data")).expect("the store opens after the kills");
    let records = store
        .deliveries(&integration, usize::MAX)
        .expect("delivery log reads");
    let mut per_key: HashMap<String, Vec<&reference_server::storage::records::DeliveryRecord>> =
        HashMap::new();
    for r in &records {
        assert!(
            !matches!(r.state, DeliveryState::Pending),
            "a delivery is still pending after the drain: {r:?}"
        );
        per_key
            .entry(r.issue_key.clone().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let (mut acked, mut unacked_applied, mut unacked_absent) = (0, 0, 0);
    for (&i, &st) in &sent {
        let key = format!("CRASH-{i}");
        let group = format!("c{i}");
        let user = USERS[i % 2];
        let recs = per_key.remove(&key).unwrap_or_default();
        let assignee = store
            .group(&group)
            .expect("group reads")
            .expect("group exists")
            .assignee;
        let applied_once = recs.len() == 1
            && recs.iter().all(|r| {
                matches!(r.state, DeliveryState::Applied)
                    && r.outcomes.iter().any(|o| {
                        o.group == group
                            && (o.result == "assigned"
                                || o.reason.as_deref().is_some_and(|r| r.contains("duplicate")))
                    })
            })
            && assignee.as_deref() == Some(user);
        let absent = recs.is_empty() && assignee.is_none();
        match st {
            Sent::Acked => {
                acked += 1;
                assert!(
                    applied_once,
                    "acknowledged delivery {i} is not applied exactly once: records {recs:?}, assignee {assignee:?}"
                );
            }
            Sent::Unacked if applied_once => unacked_applied += 1,
            Sent::Unacked => {
                assert!(
                    absent,
                    "unacknowledged delivery {i} is half-applied: records {recs:?}, assignee {assignee:?}"
                );
                unacked_absent += 1;
            }
        }
    }
    assert!(
        per_key.is_empty(),
        "delivery log has records for issues never sent: {:?}",
        per_key.keys().take(5).collect::<Vec<_>>()
    );
    assert!(acked > 0, "no delivery was acknowledged");
    println!(
        "crash test: {kills} SIGKILLs, {} deliveries sent: {acked} acknowledged and applied exactly once, \
         {unacked_applied} unacknowledged but applied, {unacked_absent} unacknowledged and absent",
        sent.len()
    );
}

async fn stop_gracefully(mut server: Server) {
    let pid = server.child.id().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_mins(1), server.child.wait())
        .await
        .expect("stops within 60 s")
        .expect("wait");
    assert!(exit.success(), "graceful stop failed: {exit}");
}
