//! What the PostgreSQL backend adds to the conformance suite (`storage.rs`): its batch is a
//! transaction on a connection of its own. Two claims take disjoint rows (`SKIP LOCKED`, as two
//! replicas would), the sync's commit inside a batch is undone when the batch is dropped, and a
//! batch whose connection is lost reports it at `finish` (its entries stay pending); and the
//! whole server runs on it (install, seed, a delivery applied, a restart).
//!
//! Each test gets a database of its own from `support_pg`; without `REFERENCE_SERVER_TEST_PG`
//! they print one "skipped" line and pass.

use assignee_sync::{
    Change, IntegrationId, IssueKey, KeyChange, Mutation, MutationResult, OrderingKey, Plan,
    Store as _,
};
use reference_server::storage::records::{DeliveryRecord, DeliveryState, ProjectRecord};
use reference_server::storage::{
    DeliveryLog as _, Inbox as _, InboxBatch, Integrations as _, Storage, StorageTasks,
    Tracker as _,
};
use std::sync::Arc;

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{MockJira, TestServer, fixture, install_pat};
use crate::support_pg::{TestDb, fresh_database};

const WITHIN: Duration = Duration::from_secs(5);

async fn open() -> Option<(Storage, StorageTasks, TestDb)> {
    let db = fresh_database().await?;
    let (storage, tasks) = Storage::open_postgres(
        &db.pg_url(),
        4,
        Arc::default(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("the PostgreSQL storage opens");
    Some((storage, tasks, db))
}

fn applied() -> DeliveryRecord {
    DeliveryRecord {
        received_at: "2026-12-07T00:00:00.000Z".to_owned(),
        event: Some("jira:issue_updated".to_owned()),
        issue_key: Some("APP-1".to_owned()),
        state: DeliveryState::Applied,
        reason: None,
        outcomes: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_claims_take_disjoint_rows() {
    let Some((s, _tasks, _db)) = open().await else {
        return;
    };
    let mut seqs = Vec::new();
    for i in 0..4 {
        seqs.push(s.accept("1", i, b"{}").await.expect("accept"));
    }
    let first = s.claim(2, &|_| false).await.expect("claim");
    let second = s.claim(10, &|_| false).await.expect("claim");
    let got = |b: &reference_server::storage::StorageBatch<'_>| -> Vec<u64> {
        b.entries().iter().map(|e| e.seq).collect()
    };
    assert_eq!(got(&first), seqs[..2]);
    assert_eq!(
        got(&second),
        seqs[2..],
        "the first batch's rows are skipped"
    );
    drop(first);
    drop(second);
    assert_eq!(got(&s.claim(10, &|_| false).await.expect("claim")), seqs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_batch_undoes_its_commit_and_a_finished_one_keeps_it() {
    let Some((s, _tasks, _db)) = open().await else {
        return;
    };
    s.put_project(
        "p1",
        &ProjectRecord {
            organization: "o1".to_owned(),
            members: vec!["u1".to_owned()],
        },
    )
    .await
    .expect("project");
    s.put_group("g1", "p1").await.expect("group");
    let seq = s.accept("1", 0, b"{}").await.expect("accept");
    let mut plan = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(7));
    plan.mutations.push(Mutation::new(
        "g1",
        Change::Assign("u1".into()),
        OrderingKey::changelog(7),
    ));

    let batch = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(
        assignee_sync::Store::commit(&batch, &plan)
            .await
            .expect("commit"),
        [MutationResult::Applied { changed: true }]
    );
    let outside = s.group("g1").await.expect("group").expect("stored");
    assert_eq!(
        outside.assignee, None,
        "not visible before the batch commits"
    );
    drop(batch);
    assert_eq!(
        s.group("g1")
            .await
            .expect("group")
            .expect("stored")
            .assignee,
        None
    );
    assert_eq!(s.pending_count().await.expect("count"), 1);

    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(
        assignee_sync::Store::commit(&batch, &plan)
            .await
            .expect("commit"),
        [MutationResult::Applied { changed: true }],
        "the rolled-back watermark is gone too"
    );
    batch.done(0, applied());
    batch.finish().await.expect("finish");
    let g = s.group("g1").await.expect("group").expect("stored");
    assert_eq!(g.assignee.as_deref(), Some("u1"));
    assert_eq!(s.pending_count().await.expect("count"), 0);
    assert!(s.delivery_is_final("1", seq).await.expect("final"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_lost_its_connection_fails_to_finish_and_stays_pending() {
    let Some((s, _tasks, db)) = open().await else {
        return;
    };
    let seq = s.accept("1", 0, b"{}").await.expect("accept");
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(batch.entries().len(), 1);
    // Every connection of the pool is cut (as by a failover or a restart of the server).
    let admin = db.client().await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name()],
        )
        .await
        .expect("terminate");
    // Give the pool's idle connections a moment to see their end (a query on one that has not
    // yet would fail too: also an error, never a silent success, but not what is tested here).
    tokio::time::sleep(Duration::from_millis(200)).await;
    batch.done(0, applied());
    let err = batch
        .finish()
        .await
        .expect_err("a lost connection is an error");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    // The pool makes new connections; the delivery is still pending and claimable.
    assert_eq!(s.pending_count().await.expect("count"), 1);
    assert!(!s.delivery_is_final("1", seq).await.expect("final"));
    let again = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(again.entries().len(), 1);
}

/// The whole server on PostgreSQL: a PAT install, the admin API's seed, a webhook delivery
/// applied by the worker through a batch, its delivery-log entry, and a restart on the same
/// database that keeps everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_on_postgres_installs_applies_a_delivery_and_keeps_it_across_a_restart() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let url = db.url().to_owned();
    let start = |dir| {
        let url = url.clone();
        TestServer::start_with(dir, move |c| c.store = url)
    };
    let server = start(tempfile::tempdir().expect("tempdir")).await;
    let jira = MockJira::start(9).await;
    let (id, token) = install_pat(&server, &jira).await;
    server.seed(&id, "APP-1").await;
    let (status, _) = server
        .webhook(&token, &fixture("test_post_update_assignee.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    server
        .wait_group("g1", WITHIN, |g| g["assignee"] == "u-bob")
        .await;
    let d = server.wait_delivery(&id, WITHIN).await;
    assert_eq!(d["state"], "applied", "{d}");
    assert_eq!(
        d["outcomes"],
        json!([{"group": "g1", "result": "assigned", "user": "u-bob", "reason": null}])
    );
    assert_eq!(server.inbox_len().await, 0);

    // The same delivery again: a duplicate, nothing changes.
    let (status, _) = server
        .webhook(&token, &fixture("test_post_update_assignee.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let start_wait = std::time::Instant::now();
    while server.deliveries(&id).await.len() < 2 || server.inbox_len().await > 0 {
        assert!(start_wait.elapsed() < WITHIN, "second delivery not logged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A new server on the same database (another data directory: nothing is kept there).
    drop(server.stop().await);
    let again = start(tempfile::tempdir().expect("tempdir")).await;
    let (s, g) = again.api(Method::GET, "/groups/g1", None).await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(g["assignee"], "u-bob");
    assert_eq!(again.deliveries(&id).await.len(), 2);
    drop(again.stop().await);
}

// ---- several replicas on one database: their caches ----

/// Two storages on one database, as two replicas have.
async fn two_replicas() -> Option<([(Storage, StorageTasks); 2], TestDb)> {
    let db = fresh_database().await?;
    let open = || async {
        Storage::open_postgres(
            &db.pg_url(),
            4,
            Arc::default(),
            reference_server::app::Faults::default(),
        )
        .await
        .expect("the PostgreSQL storage opens")
    };
    let (a, b) = (open().await, open().await);
    Some(([a, b], db))
}

/// Polls `check` every 10 ms until it holds; returns how long that took, or panics after
/// `limit` naming `what`.
async fn within<F: Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> Duration {
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Asks `storage` about unlinked keys for long enough that its linked-key set of integration
/// 1 is loaded and current (the first ask starts the load; asks go to the database until then).
async fn warm_link_keys(storage: &Storage) {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(1_500) {
        assert!(!storage.has_links("1", "NEVER-1").await.expect("read"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The webhook endpoint's check for an unlinked issue is answered from the replica's set of
/// linked keys: with every pooled connection taken, it still answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlinked_issue_is_answered_without_the_database() {
    let Some(([(a, _ta), _b], _db)) = two_replicas().await else {
        return;
    };
    a.link("g1", "1", "APP-1").await.expect("link");
    warm_link_keys(&a).await;
    let reference_server::storage::Storage::Postgres(pg) = &a else {
        panic!("a PostgreSQL storage");
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pg.pg().pool().get().await.expect("a pooled connection"));
    }
    for i in 0..100 {
        let key = format!("FREE-{i}");
        let answer = tokio::time::timeout(Duration::from_millis(200), async {
            (
                a.has_links("1", &key).await.expect("read"),
                a.has_move("1", &key).await.expect("read"),
            )
        })
        .await
        .expect("answered without waiting for a connection");
        assert_eq!(answer, (false, false), "{key}");
        let tracked = tokio::time::timeout(Duration::from_millis(200), a.is_tracked("1", &key))
            .await
            .expect("answered without waiting for a connection");
        assert!(!tracked.expect("read"), "{key}");
    }
    // The intake's question for a linked key is answered from the set too.
    let tracked = tokio::time::timeout(Duration::from_millis(200), a.is_tracked("1", "APP-1"))
        .await
        .expect("answered without waiting for a connection");
    assert!(tracked.expect("read"));
    // has_links of a linked key does go to the database (and so waits here).
    assert!(
        tokio::time::timeout(Duration::from_millis(200), a.has_links("1", "APP-1"))
            .await
            .is_err(),
        "a linked key is checked in the database"
    );
    drop(held);
    assert!(a.has_links("1", "APP-1").await.expect("read"));
}

/// A link written through one replica is seen by the other's fast path within 2 s, and by
/// the writer's own at once; a move (written by a worker's sync) as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_written_through_one_replica_reach_every_replica_within_2_s() {
    let Some(([(a, _ta), (b, _tb)], _db)) = two_replicas().await else {
        return;
    };
    warm_link_keys(&a).await;
    warm_link_keys(&b).await;

    a.link("g1", "1", "FREE-1").await.expect("link");
    assert!(
        a.has_links("1", "FREE-1").await.expect("read"),
        "the writer sees its own link at once"
    );
    let took = within(Duration::from_secs(2), "B sees A's link", || async {
        b.has_links("1", "FREE-1").await.expect("read")
    })
    .await;
    println!("B saw A's link after {took:?}");

    // B's sync moves FREE-1 to FREE-2 (relinks and records the move): A's fast path must
    // see the new key linked and the old one moved.
    warm_link_keys(&a).await;
    let mut plan = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(9));
    plan.relink = Some(KeyChange {
        from: IssueKey::new("FREE-1"),
        to: IssueKey::new("FREE-2"),
    });
    b.commit(&plan).await.expect("commit");
    within(Duration::from_secs(2), "A sees B's relink", || async {
        a.has_links("1", "FREE-2").await.expect("read")
            && a.has_move("1", "FREE-1").await.expect("read")
    })
    .await;
    // A delete of the integration's links through A: B no longer finds them.
    a.unlink("g1", "1", "FREE-2").await.expect("unlink");
    within(Duration::from_secs(2), "B sees A's unlink", || async {
        !b.has_links("1", "FREE-2").await.expect("read")
    })
    .await;
}

/// An integration written or deleted through one replica changes the other's integrations
/// generation within 2 s (what its webhook-token cache is checked against).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integration_writes_through_one_replica_reach_every_replica_within_2_s() {
    let Some(([(a, _ta), (b, _tb)], _db)) = two_replicas().await else {
        return;
    };
    let generation = |s: &Storage| s.integrations_generation();
    within(
        Duration::from_secs(2),
        "a first read of the counters",
        || async { generation(&b).is_some() },
    )
    .await;
    let before = generation(&b);
    a.put_integration(&crate::storage::integration("1", "jira-1"))
        .await
        .expect("put");
    within(Duration::from_secs(2), "B sees the install", || async {
        generation(&b) != before
    })
    .await;
    let before = generation(&b);
    a.delete_integration("1").await.expect("delete");
    within(Duration::from_secs(2), "B sees the delete", || async {
        generation(&b) != before
    })
    .await;
}

/// The inbox-depth gauge on PostgreSQL is the shared inbox's depth, read by the backend's
/// tick: deliveries accepted through another replica count too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_depth_gauge_counts_the_shared_inbox() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let metrics = Arc::new(reference_server::metrics::Metrics::default());
    let (watched, _tasks) = Storage::open_postgres(
        &db.pg_url(),
        4,
        metrics.clone(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("the PostgreSQL storage opens");
    let (other, _other_tasks) = Storage::open_postgres(
        &db.pg_url(),
        4,
        Arc::default(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("the PostgreSQL storage opens");
    for i in 0..3 {
        other.accept("1", i, b"{}").await.expect("accept");
    }
    let limit = reference_server::storage::postgres::DEPTH_EVERY + Duration::from_secs(2);
    within(limit, "the gauge shows the other replica's 3", || async {
        metrics
            .render()
            .lines()
            .any(|l| l == "reference_server_inbox_depth 3")
    })
    .await;
    drop(watched);
}
