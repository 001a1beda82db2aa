//! What the PostgreSQL backend adds to the conformance suite (`storage.rs`): its batch is a
//! transaction on a connection of its own. Two claims take disjoint rows (`SKIP LOCKED`, as two
//! replicas would), the sync's commit inside a batch is undone when the batch is dropped, and a
//! batch whose connection is lost reports it at `finish` (its entries stay pending); and the
//! whole server runs on it (install, seed, a delivery applied, a restart).
//!
//! Each test gets a database of its own from `support_pg`; without `REFERENCE_SERVER_TEST_PG`
//! they print one "skipped" line and pass.

use assignee_sync::{Change, IntegrationId, Mutation, MutationResult, OrderingKey, Plan};
use reference_server::storage::records::{DeliveryRecord, DeliveryState, ProjectRecord};
use reference_server::storage::{
    DeliveryLog as _, Inbox as _, InboxBatch, Storage, StorageTasks, Tracker as _,
};

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::json;

use crate::common::{MockJira, TestServer, fixture, install_pat};
use crate::support_pg::{TestDb, fresh_database};

const WITHIN: Duration = Duration::from_secs(5);

async fn open() -> Option<(Storage, StorageTasks, TestDb)> {
    let db = fresh_database().await?;
    let (storage, tasks) = Storage::open_postgres(&db.pg_url(), 4)
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
