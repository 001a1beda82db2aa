//! Crash test: the server binary is killed with SIGKILL at random moments while deliveries
//! stream in, restarted on the same data directory (and store), and at the end the store is
//! opened and every delivery is accounted for. It runs on both backends:
//! `sigkill_loses_no_acknowledged_delivery` on sled (the default store, in the data
//! directory), `on_postgres` with `--store` a fresh PostgreSQL database (`support_pg`: without
//! `REFERENCE_SERVER_TEST_PG` it prints one "skipped" line and passes).
//!
//! Ignored in the default run (each takes about half a minute); CI runs them with
//! `cargo test -p reference-server --test server -- --ignored --nocapture crash::`.
//! `CRASH_KILLS` (default 5) and `CRASH_SEED` (default: from the clock, printed) tune them.
//!
//! Design: delivery `i` assigns linked issue `CRASH-i` (linked to its own group `c{i}`) to one
//! of two users, so each delivery's effect is separately observable (`support_ledger::World`).
//! Each delivery is sent once; a request cut by the kill counts as *unacknowledged*. After the
//! last restart the inbox drains, the server stops gracefully and the test opens the store
//! itself (sled: the data directory; PostgreSQL: the database, through the server's own
//! storage code) and checks (`World::check`):
//! * the store opens without error (also checked at every restart);
//! * every delivery that got a 200 has exactly one delivery-log record, `applied`, whose
//!   outcome for its group is the assignment, and the group shows that assignee (applied
//!   exactly once);
//! * every unacknowledged delivery is either entirely absent (no record, group unassigned) or
//!   entirely applied (one applied record and the assignee): nothing half-applied;
//! * nothing is left pending in the log or the inbox, and no record exists for an issue that
//!   was never sent.
//!
//! On sled the server runs with 256 KiB inbox segments, so the run rotates through many
//! segments, most of them zero-filled spares.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use jira_sim::{Config as JiraConfig, SimulatedJira};
use reference_server::storage::sled::Store;
use reference_server::storage::{DeliveryLog as _, Storage, Tracker as _};
use serde_json::json;

use crate::support_ledger::{Sent, World, wait_drained};
use crate::support_pg::{TestDb, fresh_database};
use crate::support_process::{Binary, Conn, Server, api, webhook_path};

/// Groups (and so deliveries) available: one per delivery.
const CAPACITY: usize = 8_000;
/// Concurrent delivery streams (so kills cut several requests in flight).
const STREAMS: usize = 4;
/// How long the last life may take to apply what is left in the inbox.
const DRAIN_WITHIN: Duration = Duration::from_mins(2);

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

/// Where the server keeps its data.
enum Backend {
    /// sled in the data directory.
    Sled,
    /// `--store` this database.
    Postgres(TestDb),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills and restarts the server binary several times; run with --ignored"]
async fn sigkill_loses_no_acknowledged_delivery() {
    run(Backend::Sled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "kills and restarts the server binary several times; run with --ignored"]
async fn on_postgres() {
    let Some(db) = fresh_database().await else {
        return;
    };
    run(Backend::Postgres(db)).await;
}

async fn run(backend: Backend) {
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
    println!(
        "crash test ({}): seed {seed} (set CRASH_SEED to repeat), {kills} kills",
        backend.name()
    );
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let world = World::new("CRASH", "c");
    let binary = match &backend {
        // Small inbox segments, so that kills also land while a spare segment is filled and
        // while deliveries are written into one.
        Backend::Sled => Binary::new(dir.path()).args(&["--inbox-segment-kb", "256"]),
        Backend::Postgres(db) => Binary::new(dir.path()).store(db.url()),
    };

    // Set-up: install against the simulated Jira and seed one group per delivery.
    let jira = SimulatedJira::start(JiraConfig::demo())
        .await
        .expect("jira");
    let mut server = binary.start().await;
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
    let path = webhook_path(&jira);
    world.seed(server.addr, &integration, CAPACITY).await;
    // A clean stop and start before the kills (the set-up is then surely on disk).
    server.stop_gracefully().await;
    server = binary.start().await;

    // Stream deliveries; kill at random moments.
    let world = Arc::new(world);
    let next = Arc::new(AtomicUsize::new(0));
    let mut sent: HashMap<usize, Sent> = HashMap::new();
    for life in 0..=kills {
        let running = Arc::new(AtomicBool::new(true));
        let mut streams = Vec::new();
        for _ in 0..STREAMS {
            let (addr, next, running, world, path) = (
                server.addr,
                next.clone(),
                running.clone(),
                world.clone(),
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
                    let r = c.request(Method::POST, &path, false, world.body(i)).await;
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
        let killed = if life < kills {
            server.kill().await;
            None
        } else {
            Some(server)
        };
        running.store(false, Ordering::Relaxed);
        for s in streams {
            for (i, st) in s.await.expect("stream") {
                sent.insert(i, st);
            }
        }
        match killed {
            None => {
                println!(
                    "  kill {} after {} ms; {} deliveries sent so far",
                    life + 1,
                    run_for.as_millis(),
                    sent.len()
                );
                server = binary.start().await;
            }
            Some(last) => server = last,
        }
    }

    // Let the last life drain its inbox, then stop cleanly and inspect the store.
    let (records, assignees) = match &backend {
        Backend::Sled => {
            wait_inbox_depth_zero(&server).await;
            server.stop_gracefully().await;
            let store = Store::open(&binary.data_dir()).expect("the store opens after the kills");
            let records = store
                .deliveries(&integration, usize::MAX)
                .expect("delivery log reads");
            let mut assignees = HashMap::new();
            for &i in sent.keys() {
                let group = world.group(i);
                let assignee = store
                    .group(&group)
                    .expect("group reads")
                    .expect("group exists")
                    .assignee;
                assignees.insert(group, assignee);
            }
            (records, assignees)
        }
        Backend::Postgres(db) => {
            let (storage, _tasks) = Storage::open_postgres(
                &db.pg_url(),
                2,
                Arc::default(),
                reference_server::app::Faults::default(),
            )
            .await
            .expect("the database opens after the kills");
            wait_drained(&storage, DRAIN_WITHIN).await;
            server.stop_gracefully().await;
            let records = storage
                .deliveries(&integration, usize::MAX)
                .await
                .expect("delivery log reads")
                .into_iter()
                .map(|(_, r)| r)
                .collect();
            let mut assignees = HashMap::new();
            for &i in sent.keys() {
                let group = world.group(i);
                let assignee = storage
                    .group(&group)
                    .await
                    .expect("group reads")
                    .expect("group exists")
                    .assignee;
                assignees.insert(group, assignee);
            }
            (records, assignees)
        }
    };
    jira.shutdown().await;

    let tally = world.check(&sent, &records, &assignees);
    println!(
        "crash test ({}): {kills} SIGKILLs, {} deliveries sent: {} acknowledged and applied exactly once, \
         {} unacknowledged but applied, {} unacknowledged and absent",
        backend.name(),
        sent.len(),
        tally.acked,
        tally.unacked_applied,
        tally.unacked_absent
    );
}

/// Polls `/metrics` until the sled inbox is empty (its depth gauge is the local inbox's).
async fn wait_inbox_depth_zero(server: &Server) {
    let deadline = Instant::now() + DRAIN_WITHIN;
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
}
