//! Several replicas of the server on one PostgreSQL database (`serve --store postgres://...`),
//! and the server on PostgreSQL when its connections are lost.
//!
//! * `three_replicas_lose_no_acknowledged_delivery_while_one_is_killed`: three server
//!   processes on one fresh database. The OAuth install is started through replica A and
//!   completed through B (Jira's redirect, the browser callback, reaches B, as through a load
//!   balancer); the tracker is seeded through A; then deliveries go round-robin to A, B and C
//!   from concurrent streams while C is SIGKILLed and restarted (same flags) twice. Each
//!   delivery is sent once: one to a dead replica, or cut by the kill, is unacknowledged. After
//!   the drain every delivery is accounted for (`support_ledger::World::check`: acknowledged
//!   ones applied exactly once, unacknowledged ones absent or applied, nothing pending), group
//!   states are read through the replicas, and every replica's delivery log agrees with the
//!   database.
//! * `a_delete_through_one_replica_makes_another_refuse_the_token_within_2_s`: B has served a
//!   delivery (so it has the token cached); the integration is deleted through A; B must answer
//!   the token with `400 invalid_token` within 2 s.
//! * `lost_database_connections_cost_no_acknowledged_delivery`: one server receives deliveries
//!   while the test terminates its database connections a few times: a delivery that could
//!   not be stored gets a 5xx (never a 200 that is then lost), the server reconnects by
//!   itself, and every acknowledged delivery is applied.
//!
//! Each test has a database of its own (`support_pg`); without `REFERENCE_SERVER_TEST_PG` they
//! print one "skipped" line and pass. The three-replica test is `#[ignore]`d in the default run
//! (it takes about a minute on 2 cores); CI runs it with
//! `cargo test -p reference-server --test server -- --ignored --nocapture crash:: replicas::`.
//!
//! The admin API's delivery log shows the newest 1000 entries and has no paging, so the
//! three-replica test reads the whole log (3000 deliveries) from the database through the
//! server's own storage code and checks that each replica's API shows the newest 1000 of it
//! exactly; the connection-loss test sends fewer than 1000, so its whole log is read through
//! the API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use jira_sim::{Config as JiraConfig, DEMO_CONSUMER_KEY, DEMO_PRIVATE_KEY_PEM, SimulatedJira};
use reference_server::storage::records::DeliveryRecord;
use reference_server::storage::{DeliveryLog as _, Storage};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{MockJira, TestServer, fixture, install_pat};
use crate::support_ledger::{Sent, World, wait_drained};
use crate::support_pg::{TestDb, fresh_database};
use crate::support_process::{Binary, Conn, Server, api, webhook_path};

/// Deliveries sent to the three replicas.
const DELIVERIES: usize = 3_000;
/// Concurrent delivery streams.
const STREAMS: usize = 4;
/// How often replica C is killed and restarted.
const KILLS: usize = 2;
/// How long the replicas may take to apply what is left in the inbox.
const DRAIN_WITHIN: Duration = Duration::from_mins(1);
/// How soon another replica must refuse a deleted integration's webhook token.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);
/// Deliveries sent while connections are cut: fewer than one page of the delivery log (1000),
/// so the whole log is read through the API.
const LOSS_DELIVERIES: usize = 900;
/// How often the server's connections are cut.
const CUTS: usize = 3;
/// How long the server may take to answer a delivery with 200 again after a cut.
const RECOVER_WITHIN: Duration = Duration::from_secs(10);
/// Most entries one `GET .../deliveries` returns.
const LOG_PAGE: usize = 1_000;

/// Polls `done` (every 5 ms) until it holds; fails with `what` after `within`.
async fn poll_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} (waited {within:?})");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An in-process server on `db` (a replica of its own: own state, own token cache).
async fn in_process_replica(db: &TestDb) -> TestServer {
    let url = db.url().to_owned();
    TestServer::start_with(tempfile::tempdir().expect("tempdir"), move |c| {
        c.store = url;
    })
    .await
}

/// The OAuth dance across replicas: started through `start` (`POST .../install`), approved
/// in Jira by the "browser", whose redirect to the install's callback reaches `finish`, as it
/// would through a load balancer. Returns the integration id.
async fn install_oauth_across(
    jira: &SimulatedJira,
    start: SocketAddr,
    finish: SocketAddr,
) -> String {
    let started = api(
        start,
        Method::POST,
        "/integrations/jira-server/install",
        Some(json!({
            "url": jira.base_url(),
            "consumerKey": DEMO_CONSUMER_KEY,
            "privateKey": DEMO_PRIVATE_KEY_PEM,
            "verifySsl": true
        })),
    )
    .await;
    assert_eq!(started["step"], "oauth_callback", "{started}");
    let authorize = started["oauthUrl"].as_str().expect("oauthUrl");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser");
    let approved = browser
        .get(authorize)
        .send()
        .await
        .expect("Jira's authorize page");
    assert_eq!(approved.status(), 302, "Jira redirects after approval");
    let location = approved.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let callback = format!("http://{start}/extensions/jira_server/setup/?");
    let query = location.strip_prefix(&callback).unwrap_or_else(|| {
        panic!("Jira redirects to the callback the install gave ({callback}...): {location}")
    });
    let (status, page) = Conn::new(finish)
        .request(
            Method::GET,
            &format!("/extensions/jira_server/setup/?{query}"),
            false,
            Vec::new(),
        )
        .await
        .expect("browser callback");
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Jira Server connected"), "{page}");
    let listed = api(finish, Method::GET, "/integrations", None).await;
    listed["integrations"][0]["id"]
        .as_str()
        .expect("the installed integration")
        .to_owned()
}

/// The delivery log as one replica's API shows it (the newest [`LOG_PAGE`] entries).
async fn log_page(c: &mut Conn, integration: &str) -> Vec<DeliveryRecord> {
    let page = c
        .api(
            Method::GET,
            &format!("/integrations/{integration}/deliveries?limit={LOG_PAGE}"),
            None,
        )
        .await;
    serde_json::from_value(page["deliveries"].clone()).expect("delivery log entries")
}

/// A group's assignee as one replica's API shows it.
async fn assignee(c: &mut Conn, group: &str) -> Option<String> {
    let g = c.api(Method::GET, &format!("/groups/{group}"), None).await;
    match &g["assignee"] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("group {group}: assignee {other}"),
    }
}

/// What one delivery got: its index, the replica it went to, C's life at the time (0 before
/// the first kill), and the answer (`Err`: no answer).
type Answer = (usize, usize, usize, Result<StatusCode, String>);

/// Where the delivery streams are, shared with the test.
#[derive(Debug, Default)]
struct Progress {
    /// Deliveries taken by the streams (the next index).
    next: AtomicUsize,
    /// Replica C's life (0 before its first kill).
    life: AtomicUsize,
    /// One more than the highest index acknowledged so far (0: none yet).
    acked_below: AtomicUsize,
}

/// Sends deliveries `0..n` once each, delivery `i` to replica `i % addrs.len()`, from
/// [`STREAMS`] concurrent streams; returns each stream's answers.
fn stream(
    world: &Arc<World>,
    path: &str,
    addrs: &[SocketAddr],
    n: usize,
    progress: &Arc<Progress>,
) -> Vec<tokio::task::JoinHandle<Vec<Answer>>> {
    (0..STREAMS)
        .map(|_| {
            let (world, path, progress) = (world.clone(), path.to_owned(), progress.clone());
            let mut conns: Vec<Conn> = addrs.iter().map(|&a| Conn::new(a)).collect();
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = progress.next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let replica = i % conns.len();
                    let life = progress.life.load(Ordering::Relaxed);
                    let answer = conns[replica]
                        .request(Method::POST, &path, false, world.body(i))
                        .await
                        .map(|(status, _)| status);
                    if matches!(answer, Ok(StatusCode::OK)) {
                        progress.acked_below.fetch_max(i + 1, Ordering::Relaxed);
                    }
                    out.push((i, replica, life, answer));
                }
                out
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "three server processes and 3000 deliveries (about a minute on 2 cores); run with --ignored"]
async fn three_replicas_lose_no_acknowledged_delivery_while_one_is_killed() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let started = Instant::now();
    let jira = SimulatedJira::start(JiraConfig::demo())
        .await
        .expect("jira");
    let dirs: Vec<TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let binaries: Vec<Binary> = dirs
        .iter()
        .map(|d| Binary::new(d.path()).store(db.url()))
        .collect();
    let mut servers: Vec<Server> = Vec::new();
    for b in &binaries {
        servers.push(b.start().await);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let (a, b, c) = (addrs[0], addrs[1], addrs[2]);

    let integration = install_oauth_across(&jira, a, b).await;
    for addr in &addrs {
        let listed = api(*addr, Method::GET, "/integrations", None).await;
        assert_eq!(
            listed["integrations"].as_array().map(Vec::len),
            Some(1),
            "every replica sees the one integration: {listed}"
        );
    }
    let path = webhook_path(&jira);
    let world = Arc::new(World::new("REP", "r"));
    world.seed(a, &integration, DELIVERIES).await;
    let set_up = started.elapsed();

    // Deliveries round-robin; C is killed at a quarter and at half of them, and restarted
    // on the same address each time.
    let progress = Arc::new(Progress::default());
    let streams = stream(&world, &path, &addrs, DELIVERIES, &progress);
    let mut replica_c = servers.pop().expect("replica C");
    for k in 0..KILLS {
        let at = DELIVERIES * (k + 1) / (KILLS + 2);
        poll_until(
            &format!("deliveries did not reach {at} before kill {}", k + 1),
            Duration::from_mins(1),
            || progress.next.load(Ordering::Relaxed) >= at,
        )
        .await;
        replica_c.kill().await;
        replica_c = binaries[2].restart_on(c).await;
        progress.life.fetch_add(1, Ordering::Relaxed);
    }
    servers.push(replica_c);
    let mut sent: HashMap<usize, Sent> = HashMap::new();
    // Per replica: acknowledged, unacknowledged; and C's acknowledged per life.
    let mut per_replica = [(0usize, 0usize); 3];
    let mut c_acked_in_life = [0usize; KILLS + 1];
    for s in streams {
        for (i, replica, in_life, answer) in s.await.expect("stream") {
            let acked = match answer {
                Ok(StatusCode::OK) => true,
                Ok(status) => panic!("replica {replica} answered delivery {i} with {status}"),
                Err(e) => {
                    assert_eq!(
                        replica, 2,
                        "replica {replica} (never killed) did not answer delivery {i}: {e}"
                    );
                    false
                }
            };
            if acked {
                per_replica[replica].0 += 1;
                if replica == 2 {
                    c_acked_in_life[in_life] += 1;
                }
            } else {
                per_replica[replica].1 += 1;
            }
            sent.insert(i, if acked { Sent::Acked } else { Sent::Unacked });
        }
    }
    assert_eq!(sent.len(), DELIVERIES);
    let streamed = started.elapsed();
    assert!(
        per_replica[2].1 > 0,
        "no delivery to C went unanswered: the kills did not land"
    );
    assert!(
        c_acked_in_life.iter().all(|&n| n > 0),
        "C acknowledged deliveries in each life (before the first kill, after each restart): {c_acked_in_life:?}"
    );

    // Everything drains; then the accounting, group states through the replicas, and each
    // replica's delivery log against the database.
    let (database, _tasks) = Storage::open_postgres(
        &db.pg_url(),
        2,
        Arc::default(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("the database opens");
    wait_drained(&database, DRAIN_WITHIN).await;
    let drained = started.elapsed();
    let records: Vec<DeliveryRecord> = database
        .deliveries(&integration, usize::MAX)
        .await
        .expect("delivery log reads")
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    // Group `i` is read through replica `i % 3`, the replicas at once.
    let reads: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(replica, &addr)| {
            let groups: Vec<String> = sent
                .keys()
                .filter(|&&i| i % addrs.len() == replica)
                .map(|&i| world.group(i))
                .collect();
            tokio::spawn(async move {
                let mut c = Conn::new(addr);
                let mut got = Vec::with_capacity(groups.len());
                for group in groups {
                    let a = assignee(&mut c, &group).await;
                    got.push((group, a));
                }
                got
            })
        })
        .collect();
    let mut assignees = HashMap::new();
    for read in reads {
        assignees.extend(read.await.expect("group reads"));
    }
    let tally = world.check(&sent, &records, &assignees);
    let newest = &records[..records.len().min(LOG_PAGE)];
    for (replica, &addr) in addrs.iter().enumerate() {
        let page = log_page(&mut Conn::new(addr), &integration).await;
        assert!(
            page == newest,
            "replica {replica}'s delivery log differs from the database's newest {} entries",
            newest.len()
        );
    }

    let checked = started.elapsed();
    let stops: Vec<_> = servers
        .into_iter()
        .map(|s| tokio::spawn(s.stop_gracefully()))
        .collect();
    for stop in stops {
        stop.await.expect("graceful stop");
    }
    jira.shutdown().await;
    println!(
        "replicas: {DELIVERIES} deliveries to 3 replicas, C killed {KILLS} times: \
         {} acknowledged and applied exactly once, {} unacknowledged but applied, {} \
         unacknowledged and absent; per replica (acked, unacked) {per_replica:?}, C acked per \
         life {c_acked_in_life:?}; set-up {set_up:?}, streamed by {streamed:?}, drained by \
         {drained:?}, checked by {checked:?}, total {:?}",
        tally.acked,
        tally.unacked_applied,
        tally.unacked_absent,
        started.elapsed()
    );
}

/// `400 invalid_token`: the answer to a refused webhook token.
fn refused(status: StatusCode, body: &[u8]) -> bool {
    status == StatusCode::BAD_REQUEST
        && serde_json::from_slice::<Value>(body)
            .is_ok_and(|v| v["error"]["code"] == "invalid_token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_through_one_replica_makes_another_refuse_the_token_within_2_s() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let a = in_process_replica(&db).await;
    let b = in_process_replica(&db).await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&a, &jira).await;
    a.seed(&id, "APP-1").await;
    let delivery = fixture("test_post_update_assignee.json");

    // B serves a delivery with the token first, so it has the token cached.
    let (status, body) = b.webhook(&token, &delivery).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
    b.wait_group("g1", Duration::from_secs(5), |g| g["assignee"] == "u-bob")
        .await;

    let (status, body) = a
        .api(Method::DELETE, &format!("/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deleted = Instant::now();
    let (status, body) = a.webhook(&token, &delivery).await;
    assert!(
        refused(status, &body),
        "A, which deleted it, refuses the token at once: {status} {body:?}"
    );
    loop {
        let (status, body) = b.webhook(&token, &delivery).await;
        if refused(status, &body) {
            break;
        }
        assert!(
            deleted.elapsed() < REFUSED_WITHIN,
            "{:?} after the integration was deleted through replica A, replica B still answers \
             its webhook token with {status} (body {:?}) instead of 400 invalid_token: B's \
             token cache still holds the deleted integration",
            deleted.elapsed(),
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "replica B refused the deleted integration's token {:?} after the delete through A",
        deleted.elapsed()
    );
    drop(a.stop().await);
    drop(b.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_database_connections_cost_no_acknowledged_delivery() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let started = Instant::now();
    let server = in_process_replica(&db).await;
    let jira = MockJira::start(9).await;
    let (integration, token) = install_pat(&server, &jira).await;
    let world = Arc::new(World::new("LOSS", "l"));
    world.seed(server.addr, &integration, LOSS_DELIVERIES).await;
    let path = format!("/extensions/jira-server/issue-updated/{token}/");
    // The test's own connection: `pg_backend_pid()` keeps it out of the cuts.
    let admin = db.client().await;

    let set_up = started.elapsed();
    let progress = Arc::new(Progress::default());
    let streams = stream(&world, &path, &[server.addr], LOSS_DELIVERIES, &progress);
    let mut terminated = Vec::new();
    for k in 0..CUTS {
        let at = LOSS_DELIVERIES * (k + 1) / (CUTS + 1);
        poll_until(
            &format!("deliveries did not reach {at} before cut {}", k + 1),
            Duration::from_mins(1),
            || progress.next.load(Ordering::Relaxed) >= at,
        )
        .await;
        // Every connection of the server is cut (a failover, a restart of PostgreSQL).
        let pids: Vec<i32> = admin
            .query(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db.name()],
            )
            .await
            .expect("terminate the server's connections")
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        assert!(
            !pids.is_empty(),
            "cut {}: the server had no connection to cut",
            k + 1
        );
        let deadline = Instant::now() + RECOVER_WITHIN;
        loop {
            let left: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                    &[&pids],
                )
                .await
                .expect("backends")
                .get(0);
            if left == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cut {}: backends still there",
                k + 1
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        terminated.push(pids.len());
        // Every connection the server had is gone: a delivery taken from now on and
        // acknowledged was stored on a connection made since.
        let after = progress.next.load(Ordering::Relaxed);
        poll_until(
            &format!(
                "the server did not acknowledge a delivery again after cut {}",
                k + 1
            ),
            RECOVER_WITHIN,
            || progress.acked_below.load(Ordering::Relaxed) > after,
        )
        .await;
    }
    let mut sent: HashMap<usize, Sent> = HashMap::new();
    let mut refused = 0;
    for s in streams {
        for (i, _, _, answer) in s.await.expect("stream") {
            let acked = match answer {
                Ok(StatusCode::OK) => true,
                Ok(status) if status.is_server_error() => {
                    refused += 1;
                    false
                }
                Ok(status) => panic!("delivery {i} answered {status}"),
                Err(e) => panic!(
                    "delivery {i} got no answer (a 5xx is expected when it cannot be stored): {e}"
                ),
            };
            sent.insert(i, if acked { Sent::Acked } else { Sent::Unacked });
        }
    }
    assert_eq!(sent.len(), LOSS_DELIVERIES);
    let streamed = started.elapsed();

    // Everything drains on the same server (no restart); the whole log and every group
    // through its API.
    wait_drained(&server.state().storage, DRAIN_WITHIN).await;
    let drained = started.elapsed();
    let mut c = Conn::new(server.addr);
    let records = log_page(&mut c, &integration).await;
    assert!(
        records.len() < LOG_PAGE,
        "the delivery log fits on one page ({} entries)",
        records.len()
    );
    let mut assignees = HashMap::new();
    for &i in sent.keys() {
        let group = world.group(i);
        let got = assignee(&mut c, &group).await;
        assignees.insert(group, got);
    }
    let tally = world.check(&sent, &records, &assignees);
    drop(server.stop().await);
    println!(
        "connection loss: {LOSS_DELIVERIES} deliveries, {CUTS} cuts (connections terminated: \
         {terminated:?}): {} acknowledged and applied exactly once, {refused} answered 5xx ({} \
         of them applied, {} absent); set-up {set_up:?}, streamed by {streamed:?}, drained by \
         {drained:?}, total {:?}",
        tally.acked,
        tally.unacked_applied,
        tally.unacked_absent,
        started.elapsed()
    );
}
