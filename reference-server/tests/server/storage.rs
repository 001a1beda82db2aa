//! The storage conformance suite: every trait method of `reference_server::storage` with known
//! answers, written once against the traits only and run for each backend
//! (`conformance_suite!` below: one test per check; sled on a temporary directory, PostgreSQL
//! on a fresh database of `REFERENCE_SERVER_TEST_PG`).
//!
//! A backend adds one line, e.g. `mod postgres { conformance_suite!(super::open_postgres); }`,
//! with a constructor that opens it empty (or returns `None`, after printing why, when its
//! server is not configured: the checks then pass without running).

use std::collections::BTreeMap;
use std::sync::Arc;

use assignee_sync::{
    Change, IntegrationId, IssueKey, KeyChange, Mutation, MutationResult, OrderingKey, Plan,
};
use reference_server::storage::records::{
    DeadLetterRecord, DeliveryRecord, DeliveryState, EmailRecord, GroupStatus, ImportLink,
    IntegrationRecord, OrgSettingsRecord, PipelineRecord, ProjectRecord, RetryRecord, UserRecord,
};
use reference_server::storage::{
    InboxBatch, Storage, StorageBackend, StorageConfig, StorageTasks, Tracker,
};
use serde_json::json;

/// A backend under test, with what keeps it alive (its directory, its tasks).
pub struct Opened<B> {
    storage: B,
    _keep: Box<dyn std::any::Any + Send>,
}

/// sled in a fresh temporary directory, through the `Storage` handle.
async fn open_sled() -> Option<Opened<Storage>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics = Arc::new(reference_server::metrics::Metrics::default());
    let (storage, tasks): (Storage, StorageTasks) =
        Storage::open(&StorageConfig::new(dir.path().to_path_buf()), metrics)
            .await
            .expect("the storage opens");
    Some(Opened {
        storage,
        _keep: Box::new((dir, tasks)),
    })
}

/// PostgreSQL on a fresh database, through the `Storage` handle; `None` (after one `skipped:`
/// line) when `REFERENCE_SERVER_TEST_PG` is not set.
async fn open_postgres() -> Option<Opened<Storage>> {
    let db = crate::support_pg::fresh_database().await?;
    let (storage, tasks) = Storage::open_postgres(
        &db.pg_url(),
        4,
        Arc::default(),
        reference_server::app::Faults::default(),
    )
    .await
    .expect("the PostgreSQL storage opens");
    // Dropped after the storage, in order: the tasks, then the database.
    Some(Opened {
        storage,
        _keep: Box::new((tasks, db)),
    })
}

/// One `#[tokio::test]` per check, against the backend `$open` opens.
macro_rules! conformance_suite {
    ($open:path) => {
        conformance_suite!(@tests $open;
            ids_are_unique_and_increasing,
            integrations_put_get_by_external_list_delete,
            pipelines_are_taken_once_and_purged,
            settings_mappings_and_status_categories,
            users_by_verified_email,
            project_membership,
            groups_keep_state_when_moved,
            links,
            import_counts,
            inbox_accept_claim_finish,
            inbox_concurrent_accepts_keep_their_bodies,
            inbox_skip_and_drop_without_finish,
            inbox_retry_later,
            inbox_retry_waits_until_due,
            dead_letters_keep_the_body,
            delivery_log_listing_prune_and_final,
            commit_compare_and_set_on_watermarks,
            commit_orders_by_event_time_across_id_banks,
            reset_watermarks_of_one_integration_or_all,
            commit_relinks_and_records_moves,
        );
    };
    (@tests $open:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(opened) = $open().await else {
                    return;
                };
                super::$check(&opened.storage).await;
            }
        )*
    };
}

mod sled {
    conformance_suite!(super::open_sled);
}

mod postgres {
    conformance_suite!(super::open_postgres);
}

// ---- builders ----

pub fn integration(id: &str, external_id: &str) -> IntegrationRecord {
    serde_json::from_value(json!({
        "id": id,
        "createdAt": "2026-12-07T00:00:00.000Z",
        "installed": {
            "externalId": external_id,
            "name": format!("bob@{external_id}"),
            "baseUrl": "https://jira.example.org",
            "domainName": "jira.example.org",
            "verifySsl": true,
            "auth": {"type": "personalAccessToken", "token": "pat"},
            "webhookSecret": "ab".repeat(32),
            "webhook": {"api": "webhooks1", "id": "1", "url": "https://example.org/hook"},
            "serverInfo": {}
        }
    }))
    .expect("an integration record")
}

fn pipeline(id: &str, token: &str, created_unix: i64) -> PipelineRecord {
    serde_json::from_value(json!({
        "id": id,
        "oauthToken": token,
        "createdUnix": created_unix,
        "state": {
            "baseUrl": "https://jira.example.org",
            "host": "jira.example.org",
            "verifySsl": true,
            "consumer": {"consumerKey": "ck", "privateKey": jira_sim::DEMO_PRIVATE_KEY_PEM},
            "requestToken": {"token": token, "secret": "s"},
            "authorizeUrl": "https://jira.example.org/plugins/servlet/oauth/authorize"
        }
    }))
    .expect("a pipeline record")
}

fn user(name: &str, emails: &[(&str, bool)], active: bool) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        active,
        emails: emails
            .iter()
            .map(|(email, verified)| EmailRecord {
                email: (*email).to_owned(),
                verified: *verified,
            })
            .collect(),
    }
}

fn project(org: &str, members: &[&str]) -> ProjectRecord {
    ProjectRecord {
        organization: org.to_owned(),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn record(state: DeliveryState, issue_key: &str) -> DeliveryRecord {
    DeliveryRecord {
        received_at: "2026-12-07T00:00:00.000Z".to_owned(),
        event: Some("jira:issue_updated".to_owned()),
        issue_key: Some(issue_key.to_owned()),
        state,
        reason: None,
        outcomes: Vec::new(),
    }
}

/// An integration `1` with organization `o1`, project `p1` (members `u1`), group `g1` in it
/// linked to `APP-1`.
async fn seeded<B: StorageBackend>(s: &B) {
    s.put_integration(&integration("1", "jira.example.org:pat:bob"))
        .await
        .expect("put integration");
    s.put_org_settings("1", "o1", &OrgSettingsRecord::default())
        .await
        .expect("settings");
    s.put_project("p1", &project("o1", &["u1"]))
        .await
        .expect("project");
    s.put_group("g1", "p1").await.expect("group");
    s.link("g1", "1", "APP-1").await.expect("link");
}

async fn seqs<B: StorageBackend>(s: &B, integration: &str) -> Vec<u64> {
    s.deliveries(integration, 1000)
        .await
        .expect("deliveries")
        .into_iter()
        .map(|(seq, _)| seq)
        .collect()
}

// ---- the checks ----

async fn ids_are_unique_and_increasing<B: StorageBackend>(s: &B) {
    let mut last = 0;
    for _ in 0..5 {
        let id = s.next_integration_id().await.expect("id");
        assert!(id > last, "{id} after {last}");
        last = id;
    }
}

async fn integrations_put_get_by_external_list_delete<B: StorageBackend>(s: &B) {
    assert!(s.integration("1").await.expect("get").is_none());
    assert!(s.integrations().await.expect("list").is_empty());
    seeded(s).await;
    s.put_integration(&integration("2", "jira.example.org:pat:carol"))
        .await
        .expect("put");
    let got = s.integration("1").await.expect("get").expect("stored");
    assert_eq!(got.external_id(), "jira.example.org:pat:bob");
    let by_ext = s
        .integration_by_external("jira.example.org:pat:carol")
        .await
        .expect("by external")
        .expect("found");
    assert_eq!(by_ext.id, "2");
    let ids: Vec<String> = s
        .integrations()
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["1", "2"]);
    // Replacing keeps one record.
    s.put_integration(&integration("1", "jira.example.org:pat:bob"))
        .await
        .expect("put again");
    assert_eq!(s.integrations().await.expect("list").len(), 2);

    // Delete removes what hangs off it: settings, mappings, links, status cache.
    s.put_user_mapping("1", "bob", "u1").await.expect("mapping");
    s.put_status_categories("1", &BTreeMap::from([("3".to_owned(), "done".to_owned())]))
        .await
        .expect("cats");
    let deleted = s.delete_integration("1").await.expect("delete");
    assert_eq!(deleted.map(|d| d.id).as_deref(), Some("1"));
    assert!(s.integration("1").await.expect("get").is_none());
    assert!(
        s.integration_by_external("jira.example.org:pat:bob")
            .await
            .expect("by external")
            .is_none()
    );
    assert!(s.org_settings("1").await.expect("settings").is_empty());
    assert!(s.user_mapping("1", "bob").await.expect("mapping").is_none());
    assert!(!s.has_links("1", "APP-1").await.expect("links"));
    assert!(
        Tracker::linked_groups(s, "1", "APP-1")
            .await
            .expect("links")
            .is_empty()
    );
    assert!(s.status_categories("1").await.expect("cats").is_empty());
    assert!(s.has_group("g1").await.expect("group"), "groups stay");
    assert!(s.delete_integration("1").await.expect("delete").is_none());
    assert!(s.integration("2").await.expect("get").is_some());
}

async fn pipelines_are_taken_once_and_purged<B: StorageBackend>(s: &B) {
    s.put_pipeline(&pipeline("pa", "tok-a", 100))
        .await
        .expect("put");
    s.put_pipeline(&pipeline("pb", "tok-b", 200))
        .await
        .expect("put");
    assert_eq!(
        s.pipeline("pa").await.expect("get").map(|p| p.oauth_token),
        Some("tok-a".to_owned())
    );
    assert_eq!(
        s.pipeline_by_token("tok-b")
            .await
            .expect("by token")
            .map(|p| p.id),
        Some("pb".to_owned())
    );
    assert!(
        s.pipeline_by_token("tok-c")
            .await
            .expect("by token")
            .is_none()
    );
    assert_eq!(
        s.take_pipeline("pa").await.expect("take").map(|p| p.id),
        Some("pa".to_owned())
    );
    assert!(s.take_pipeline("pa").await.expect("take").is_none(), "once");
    assert!(
        s.pipeline_by_token("tok-a")
            .await
            .expect("by token")
            .is_none()
    );
    s.put_pipeline(&pipeline("pc", "tok-c", 300))
        .await
        .expect("put");
    assert_eq!(s.purge_pipelines(250).await.expect("purge"), 1);
    assert!(s.pipeline("pb").await.expect("get").is_none());
    assert!(
        s.pipeline_by_token("tok-b")
            .await
            .expect("by token")
            .is_none()
    );
    assert!(s.pipeline("pc").await.expect("get").is_some());
}

async fn settings_mappings_and_status_categories<B: StorageBackend>(s: &B) {
    let on = OrgSettingsRecord {
        sync_reverse_assignment: true,
        sync_status_reverse: false,
        status_mapping: None,
    };
    s.put_org_settings("1", "o2", &on).await.expect("put");
    s.put_org_settings("1", "o1", &OrgSettingsRecord::default())
        .await
        .expect("put");
    s.put_org_settings("10", "o3", &on).await.expect("put");
    let got = s.org_settings("1").await.expect("settings");
    assert_eq!(
        got,
        vec![
            ("o1".to_owned(), OrgSettingsRecord::default()),
            ("o2".to_owned(), on.clone())
        ]
    );
    s.put_org_settings("1", "o1", &on).await.expect("replace");
    assert!(
        s.org_settings("1")
            .await
            .expect("settings")
            .iter()
            .all(|(_, r)| r.sync_reverse_assignment)
    );

    assert!(s.user_mapping("1", "bob").await.expect("mapping").is_none());
    s.put_user_mapping("1", "bob", "u1").await.expect("put");
    s.put_user_mapping("1", "bob", "u2").await.expect("replace");
    assert_eq!(
        s.user_mapping("1", "bob")
            .await
            .expect("mapping")
            .as_deref(),
        Some("u2")
    );
    assert!(
        s.user_mapping("10", "bob")
            .await
            .expect("mapping")
            .is_none()
    );

    assert!(s.status_categories("1").await.expect("cats").is_empty());
    let cats = BTreeMap::from([
        ("1".to_owned(), "new".to_owned()),
        ("3".to_owned(), "done".to_owned()),
    ]);
    s.put_status_categories("1", &cats).await.expect("put");
    assert_eq!(s.status_categories("1").await.expect("cats"), cats);
}

async fn users_by_verified_email<B: StorageBackend>(s: &B) {
    let bob = user(
        "Bob",
        &[("Bob@Example.org", true), ("bob@other.org", false)],
        true,
    );
    s.put_user("u1", &bob).await.expect("put");
    s.put_user("u2", &user("Bob 2", &[("bob@example.org", true)], false))
        .await
        .expect("put");
    assert_eq!(
        s.user("u1").await.expect("get").map(|u| u.name),
        Some("Bob".to_owned())
    );
    assert!(s.user("u3").await.expect("get").is_none());
    assert_eq!(
        Tracker::users_by_verified_email(s, "BOB@example.ORG")
            .await
            .expect("by e-mail"),
        ["u1", "u2"],
        "any active state, ignoring case"
    );
    assert!(
        Tracker::users_by_verified_email(s, "bob@other.org")
            .await
            .expect("by e-mail")
            .is_empty(),
        "unverified"
    );
    // Replacing drops the old index entries.
    s.put_user("u1", &user("Bob", &[], true))
        .await
        .expect("put");
    assert_eq!(
        Tracker::users_by_verified_email(s, "bob@example.org")
            .await
            .expect("by e-mail"),
        ["u2"]
    );
}

async fn project_membership<B: StorageBackend>(s: &B) {
    s.put_project("p1", &project("o1", &["u1", "u2"]))
        .await
        .expect("put");
    assert_eq!(
        s.project("p1").await.expect("get").map(|p| p.organization),
        Some("o1".to_owned())
    );
    assert!(s.project("p2").await.expect("get").is_none());
    assert!(s.is_member("p1", "u1").await.expect("member"));
    assert!(!s.is_member("p1", "u3").await.expect("member"));
    assert!(!s.is_member("p2", "u1").await.expect("member"));
    s.put_project("p1", &project("o1", &["u3"]))
        .await
        .expect("replace");
    assert!(!s.is_member("p1", "u1").await.expect("member"));
    assert!(s.is_member("p1", "u3").await.expect("member"));
}

async fn groups_keep_state_when_moved<B: StorageBackend>(s: &B) {
    assert!(!s.has_group("g1").await.expect("has"));
    assert!(s.group("g1").await.expect("get").is_none());
    let g = s.put_group("g1", "p1").await.expect("put");
    assert_eq!(g.project, "p1");
    assert_eq!(g.status, GroupStatus::Unresolved);
    assert_eq!(g.assignee, None);
    assert!(s.has_group("g1").await.expect("has"));
    // Assign through the sync contract, then move: the assignee and watermark stay.
    let mut plan = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(5));
    plan.mutations.push(Mutation::new(
        "g1",
        Change::Assign("u1".into()),
        OrderingKey::changelog(5),
    ));
    assert_eq!(
        assignee_sync::Store::commit(s, &plan)
            .await
            .expect("commit"),
        [MutationResult::Applied { changed: true }]
    );
    let moved = s.put_group("g1", "p2").await.expect("move");
    assert_eq!(moved.project, "p2");
    assert_eq!(moved.assignee.as_deref(), Some("u1"));
    let stored = s.group("g1").await.expect("get").expect("stored");
    assert_eq!(stored.project, "p2");
    assert_eq!(stored.assignee.as_deref(), Some("u1"));
    assert_eq!(stored.watermarks.len(), 1);
}

async fn links<B: StorageBackend>(s: &B) {
    s.put_project("p1", &project("o1", &[]))
        .await
        .expect("project");
    for g in ["g2", "g1"] {
        s.put_group(g, "p1").await.expect("group");
    }
    assert!(!s.has_links("1", "APP-1").await.expect("has"));
    assert!(!s.is_tracked("1", "APP-1").await.expect("tracked"));
    s.link("g2", "1", "APP-1").await.expect("link");
    s.link("g1", "1", "APP-1").await.expect("link");
    s.link("g1", "1", "APP-1").await.expect("idempotent");
    s.link("g1", "10", "APP-10").await.expect("link");
    assert!(s.has_links("1", "APP-1").await.expect("has"));
    assert!(
        !s.has_links("1", "APP-10").await.expect("has"),
        "no prefix match"
    );
    assert!(!s.has_links("10", "APP-1").await.expect("has"));
    assert!(s.is_tracked("1", "APP-1").await.expect("tracked"));
    assert!(!s.is_tracked("1", "APP-10").await.expect("tracked"));
    assert_eq!(
        Tracker::linked_groups(s, "1", "APP-1")
            .await
            .expect("linked"),
        ["g1", "g2"]
    );
    assert!(!s.has_move("1", "APP-1").await.expect("moved"));
    assert!(s.unlink("g1", "1", "APP-1").await.expect("unlink"));
    assert!(!s.unlink("g1", "1", "APP-1").await.expect("unlink"), "gone");
    assert_eq!(
        Tracker::linked_groups(s, "1", "APP-1")
            .await
            .expect("linked"),
        ["g2"]
    );
    assert!(s.unlink("g2", "1", "APP-1").await.expect("unlink"));
    assert!(!s.has_links("1", "APP-1").await.expect("has"));
    assert!(!s.is_tracked("1", "APP-1").await.expect("tracked"));
}

async fn import_counts<B: StorageBackend>(s: &B) {
    s.put_project("p1", &project("o1", &[]))
        .await
        .expect("project");
    s.put_project("p2", &project("o1", &[]))
        .await
        .expect("project");
    s.put_group("g0", "p1").await.expect("group");
    let item = |group: &str, project: Option<&str>, key: &str| ImportLink {
        group: group.to_owned(),
        project: project.map(str::to_owned),
        integration: "1".to_owned(),
        issue_key: key.to_owned(),
    };
    let counts = s
        .import_links(&[
            item("g1", Some("p1"), "APP-1"), // created
            item("g1", Some("p1"), "APP-1"), // unchanged, link existing
            item("g0", Some("p2"), "APP-2"), // moved
            item("g0", None, "APP-3"),       // no project: link only
        ])
        .await
        .expect("import");
    assert_eq!(counts.groups_created, 1);
    assert_eq!(counts.groups_moved, 1);
    assert_eq!(counts.groups_unchanged, 1);
    assert_eq!(counts.links_created, 3);
    assert_eq!(counts.links_existing, 1);
    assert_eq!(
        s.group("g0").await.expect("get").map(|g| g.project),
        Some("p2".to_owned())
    );
    for key in ["APP-1", "APP-2", "APP-3"] {
        assert!(s.has_links("1", key).await.expect("has"), "{key}");
    }
}

async fn inbox_accept_claim_finish<B: StorageBackend>(s: &B) {
    assert_eq!(s.pending_count().await.expect("count"), 0);
    let wake = s.wake();
    let notified = wake.notified();
    let a1 = s.accept("1", 1_000, b"{\"n\":1}").await.expect("accept");
    tokio::time::timeout(std::time::Duration::from_secs(5), notified)
        .await
        .expect("accept wakes the worker");
    let b1 = s.accept("2", 2_000, b"{\"n\":2}").await.expect("accept");
    let a2 = s.accept("1", 3_000, b"{\"n\":3}").await.expect("accept");
    assert!(a1 < b1 && b1 < a2, "{a1} {b1} {a2}");
    assert_eq!(s.pending_count().await.expect("count"), 3);
    let pending: Vec<u64> = s
        .pending_for("1")
        .await
        .expect("pending")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(pending, [a2, a1], "newest first");

    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    let claimed: Vec<(u64, &str, i64, &[u8])> = batch
        .entries()
        .iter()
        .map(|e| {
            (
                e.seq,
                e.integration_id.as_str(),
                e.received_ms,
                e.body.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        claimed,
        [
            (a1, "1", 1_000, &b"{\"n\":1}"[..]),
            (b1, "2", 2_000, &b"{\"n\":2}"[..]),
            (a2, "1", 3_000, &b"{\"n\":3}"[..]),
        ],
        "in sequence order"
    );
    batch.done(0, record(DeliveryState::Applied, "APP-1"));
    batch.done(1, record(DeliveryState::Ignored, "APP-2"));
    batch.done(2, record(DeliveryState::Failed, "APP-3"));
    batch.finish().await.expect("finish");

    assert_eq!(
        s.pending_count().await.expect("count"),
        0,
        "finished ones gone"
    );
    assert!(s.pending_for("1").await.expect("pending").is_empty());
    assert!(
        s.claim(10, &|_| false)
            .await
            .expect("claim")
            .entries()
            .is_empty()
    );
    assert_eq!(seqs(s, "1").await, [a2, a1], "log entries written");
    assert_eq!(seqs(s, "2").await, [b1]);
    let log = s.deliveries("1", 10).await.expect("log");
    assert_eq!(log[0].1.state, DeliveryState::Failed);
    assert_eq!(log[1].1.state, DeliveryState::Applied);
    for (i, seq) in [("1", a1), ("2", b1), ("1", a2)] {
        assert!(
            s.delivery_is_final(i, seq).await.expect("final"),
            "{i} {seq}"
        );
    }
}

/// Many deliveries accepted at once (the PostgreSQL backend stores them in group commits):
/// each accept's sequence number is its own delivery's, and all of them are distinct.
async fn inbox_concurrent_accepts_keep_their_bodies<B: StorageBackend>(s: &B) {
    let n: i64 = 300;
    let bodies: Vec<String> = (0..n).map(|i| format!("{{\"n\":{i}}}")).collect();
    let seqs: Vec<u64> = futures::future::join_all(
        (0..n)
            .zip(&bodies)
            .map(|(i, body)| s.accept(if i % 3 == 0 { "2" } else { "1" }, i, body.as_bytes())),
    )
    .await
    .into_iter()
    .collect::<Result<_, _>>()
    .expect("every accept succeeds");
    let distinct: std::collections::BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(distinct.len(), seqs.len(), "sequence numbers are distinct");
    let batch = s.claim(1000, &|_| false).await.expect("claim");
    let stored: std::collections::HashMap<u64, (String, i64, Vec<u8>)> = batch
        .entries()
        .iter()
        .map(|e| {
            (
                e.seq,
                (e.integration_id.clone(), e.received_ms, e.body.clone()),
            )
        })
        .collect();
    assert_eq!(
        stored.len(),
        seqs.len(),
        "every accepted delivery is pending"
    );
    for ((i, body), seq) in (0..n).zip(&bodies).zip(&seqs) {
        let (integration, received_ms, stored_body) = &stored[seq];
        assert_eq!(
            (integration.as_str(), *received_ms, stored_body.as_slice()),
            (if i % 3 == 0 { "2" } else { "1" }, i, body.as_bytes()),
            "accept {i} was answered with sequence number {seq}"
        );
    }
}

async fn inbox_skip_and_drop_without_finish<B: StorageBackend>(s: &B) {
    let mut seqs_in = Vec::new();
    for (i, integration) in (0i64..).zip(["1", "2", "1", "2", "1"]) {
        seqs_in.push(s.accept(integration, i, b"{}").await.expect("accept"));
    }
    {
        let batch = s.claim(2, &|i| i == "2").await.expect("claim");
        let got: Vec<(u64, &str)> = batch
            .entries()
            .iter()
            .map(|e| (e.seq, e.integration_id.as_str()))
            .collect();
        assert_eq!(
            got,
            [(seqs_in[0], "1"), (seqs_in[2], "1")],
            "skip and limit"
        );
        // Dropped without finish: nothing leaves the inbox.
    }
    assert_eq!(s.pending_count().await.expect("count"), 5);
    let again = s.claim(10, &|_| false).await.expect("claim");
    let got: Vec<u64> = again.entries().iter().map(|e| e.seq).collect();
    assert_eq!(got, seqs_in);
    drop(again);
    // Finishing only some leaves the others pending.
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    batch.done(1, record(DeliveryState::Applied, "APP-1"));
    batch.done(3, record(DeliveryState::Applied, "APP-1"));
    batch.finish().await.expect("finish");
    let left: Vec<u64> = s
        .claim(10, &|_| false)
        .await
        .expect("claim")
        .entries()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, [seqs_in[0], seqs_in[2], seqs_in[4]]);
    assert_eq!(seqs(s, "2").await, [seqs_in[3], seqs_in[1]]);
    assert!(seqs(s, "1").await.is_empty());
}

async fn inbox_retry_later<B: StorageBackend>(s: &B) {
    let seq = s.accept("1", 0, b"{}").await.expect("accept");
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    let mut waiting = record(DeliveryState::Pending, "APP-1");
    waiting.reason = Some("waiting to retry: Jira is down".to_owned());
    batch
        .retry_later(0, waiting, &retry_record(1, 0))
        .await
        .expect("retry later");
    batch.finish().await.expect("finish");
    assert_eq!(s.pending_count().await.expect("count"), 1, "still pending");
    let log = s.deliveries("1", 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, seq);
    assert_eq!(log[0].1.state, DeliveryState::Pending);
    assert_eq!(
        log[0].1.reason.as_deref(),
        Some("waiting to retry: Jira is down")
    );
    assert!(!s.delivery_is_final("1", seq).await.expect("final"));
    // Applied later: the final entry replaces the pending one.
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    batch.done(0, record(DeliveryState::Applied, "APP-1"));
    batch.finish().await.expect("finish");
    assert_eq!(s.pending_count().await.expect("count"), 0);
    let log = s.deliveries("1", 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1.state, DeliveryState::Applied);
    assert!(s.delivery_is_final("1", seq).await.expect("final"));
}

fn retry_record(attempts: u32, next_attempt_ms: i64) -> RetryRecord {
    RetryRecord {
        attempts,
        first_failure_ms: 1_000,
        next_attempt_ms,
        last_error: "Jira status look-up failed: 503".to_owned(),
    }
}

/// A delivery waiting for a retry is not claimed before its time, while a later one of the same
/// integration is; its retry state comes back with it once due; it is gone once it is done.
async fn inbox_retry_waits_until_due<B: StorageBackend>(s: &B) {
    let first = s.accept("1", 0, b"{}").await.expect("accept");
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(batch.retry_state(0).await.expect("state"), None);
    let due = reference_server::time::now_ms() + 1_500;
    let retry = retry_record(1, due);
    batch
        .retry_later(0, record(DeliveryState::Pending, "APP-1"), &retry)
        .await
        .expect("retry later");
    batch.finish().await.expect("finish");
    let later = s.accept("1", 0, b"{}").await.expect("accept");
    let batch = s.claim(10, &|_| false).await.expect("claim");
    let claimed: Vec<u64> = batch.entries().iter().map(|e| e.seq).collect();
    assert_eq!(
        claimed,
        [later],
        "the waiting delivery is left out, the later one is not"
    );
    drop(batch);
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    let mut batch = s.claim(10, &|_| false).await.expect("claim");
    assert_eq!(batch.entries().first().map(|e| e.seq), Some(first));
    let state = batch.retry_state(0).await.expect("state").expect("kept");
    assert_eq!(
        (
            state.attempts,
            state.first_failure_ms,
            state.last_error.as_str()
        ),
        (1, 1_000, retry.last_error.as_str())
    );
    assert!((state.next_attempt_ms - due).abs() <= 1, "{state:?}");
    batch.done(0, record(DeliveryState::Applied, "APP-1"));
    batch.done(1, record(DeliveryState::Applied, "APP-1"));
    batch.finish().await.expect("finish");
    assert_eq!(s.pending_count().await.expect("count"), 0);
    assert_eq!(s.next_retry_ms(), None);
}

/// A dead letter keeps the body, leaves the inbox with a final log entry, is listed newest
/// first and removed once.
async fn dead_letters_keep_the_body<B: StorageBackend>(s: &B) {
    let body = b"\x00binary\xffbody".to_vec();
    let mut seqs = Vec::new();
    for _ in 0..2 {
        let seq = s.accept("1", 42, &body).await.expect("accept");
        let mut batch = s.claim(10, &|_| false).await.expect("claim");
        let letter = DeadLetterRecord {
            seq,
            integration_id: "1".to_owned(),
            received_ms: 42,
            event: Some("jira:issue_updated".to_owned()),
            issue_key: Some("APP-1".to_owned()),
            attempts: 3,
            first_failure_ms: 1_000,
            dead_ms: 2_000,
            last_error: "Jira status look-up failed: 503".to_owned(),
            body: body.clone(),
        };
        batch
            .dead_letter(0, record(DeliveryState::Failed, "APP-1"), &letter)
            .await
            .expect("dead letter");
        batch.finish().await.expect("finish");
        seqs.push(seq);
    }
    assert_eq!(s.pending_count().await.expect("count"), 0);
    assert!(s.delivery_is_final("1", seqs[0]).await.expect("final"));
    let listed = s.dead_letters("1", 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|d| d.seq).collect::<Vec<_>>(),
        [seqs[1], seqs[0]]
    );
    assert_eq!(listed[0].body, body);
    assert_eq!(listed[0].attempts, 3);
    assert_eq!(listed[0].issue_key.as_deref(), Some("APP-1"));
    assert_eq!(s.dead_letters("1", 1).await.expect("list").len(), 1);
    assert!(s.dead_letters("2", 10).await.expect("list").is_empty());
    let one = s
        .dead_letter("1", seqs[0])
        .await
        .expect("get")
        .expect("there");
    assert_eq!(one.last_error, "Jira status look-up failed: 503");
    assert_eq!(s.dead_letter("2", seqs[0]).await.expect("get"), None);
    assert!(s.remove_dead_letter("1", seqs[0]).await.expect("remove"));
    assert!(!s.remove_dead_letter("1", seqs[0]).await.expect("remove"));
    assert_eq!(s.dead_letter("1", seqs[0]).await.expect("get"), None);
}

async fn delivery_log_listing_prune_and_final<B: StorageBackend>(s: &B) {
    for seq in [1u64, 2, 300, 1 << 20] {
        s.put_delivery("7", seq, &record(DeliveryState::Applied, "APP-1"))
            .await
            .expect("put");
    }
    s.put_delivery("70", 5, &record(DeliveryState::Applied, "APP-1"))
        .await
        .expect("put");
    s.put_delivery("7", 400, &record(DeliveryState::Pending, "APP-2"))
        .await
        .expect("put");
    assert_eq!(
        seqs(s, "7").await,
        [1 << 20, 400, 300, 2, 1],
        "newest first"
    );
    let two: Vec<u64> = s
        .deliveries("7", 2)
        .await
        .expect("list")
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    assert_eq!(two, [1 << 20, 400], "limit");
    assert!(s.delivery_is_final("7", 300).await.expect("final"));
    assert!(
        !s.delivery_is_final("7", 400).await.expect("final"),
        "pending"
    );
    assert!(!s.delivery_is_final("7", 3).await.expect("final"), "absent");
    assert!(!s.delivery_is_final("70", 1).await.expect("final"));
    assert!(s.delivery_is_final("70", 5).await.expect("final"));

    assert_eq!(s.prune_deliveries("7", 3, 100).await.expect("prune"), 2);
    assert_eq!(seqs(s, "7").await, [1 << 20, 400, 300]);
    assert_eq!(seqs(s, "70").await, [5], "another integration is untouched");
    assert_eq!(s.prune_deliveries("7", 3, 100).await.expect("prune"), 0);
    assert_eq!(
        s.prune_deliveries("7", 0, 1).await.expect("prune"),
        1,
        "limit"
    );
    assert_eq!(s.prune_deliveries("none", 1, 100).await.expect("prune"), 0);
}

async fn commit_compare_and_set_on_watermarks<B: StorageBackend>(s: &B) {
    seeded(s).await;
    let plan = |change: Change, changelog: u64| {
        let mut p = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(changelog));
        p.mutations.push(Mutation::new(
            "g1",
            change,
            OrderingKey::changelog(changelog),
        ));
        p
    };
    let commit =
        |p: Plan| async move { assignee_sync::Store::commit(s, &p).await.expect("commit") };
    assert_eq!(
        commit(plan(Change::Assign("u1".into()), 10)).await,
        [MutationResult::Applied { changed: true }]
    );
    assert_eq!(
        commit(plan(Change::Assign("u1".into()), 10)).await,
        [MutationResult::Duplicate]
    );
    assert_eq!(
        commit(plan(Change::Deassign, 9)).await,
        [MutationResult::Stale]
    );
    assert_eq!(
        commit(plan(Change::Assign("u1".into()), 11)).await,
        [MutationResult::Applied { changed: false }],
        "the watermark advances even when the value is the same"
    );
    // The status has its own watermark.
    assert_eq!(
        commit(plan(Change::Resolve, 5)).await,
        [MutationResult::Applied { changed: true }]
    );
    let mut missing = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(12));
    missing.mutations.push(Mutation::new(
        "nope",
        Change::Deassign,
        OrderingKey::changelog(12),
    ));
    assert_eq!(
        assignee_sync::Store::commit(s, &missing)
            .await
            .expect("commit"),
        [MutationResult::GroupMissing]
    );
    let g = s.group("g1").await.expect("get").expect("stored");
    assert_eq!(g.assignee.as_deref(), Some("u1"));
    assert_eq!(g.status, GroupStatus::Resolved);
    assert_eq!(g.last_change_source.as_deref(), Some("1"));
    // The sync reads see the watermarks.
    let linked =
        assignee_sync::Store::linked_groups(s, &IntegrationId::new("1"), &IssueKey::new("APP-1"))
            .await
            .expect("linked");
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].organization.as_str(), "o1");
    assert_eq!(
        linked[0].assignee_watermark,
        Some(OrderingKey::changelog(11))
    );
    assert_eq!(linked[0].status_watermark, Some(OrderingKey::changelog(5)));
}

/// Jira Data Center id banks: node B wrote changelog 10 150 at t=1000, node A then wrote
/// 10 050 at t=2000. The stored watermark keeps both parts and the newer change applies; the
/// older one with the larger id is stale; within one millisecond the id breaks the tie.
async fn commit_orders_by_event_time_across_id_banks<B: StorageBackend>(s: &B) {
    seeded(s).await;
    let commit = |change: Change, key: OrderingKey| async move {
        let mut p = Plan::new(IntegrationId::new("1"), key);
        p.mutations.push(Mutation::new("g1", change, key));
        assignee_sync::Store::commit(s, &p).await.expect("commit")
    };
    let b_older = OrderingKey::new(Some(10_150), 1_000);
    let a_newer = OrderingKey::new(Some(10_050), 2_000);
    assert_eq!(
        commit(Change::Assign("u1".into()), b_older).await,
        [MutationResult::Applied { changed: true }]
    );
    assert_eq!(
        commit(Change::Deassign, a_newer).await,
        [MutationResult::Applied { changed: true }],
        "the newer change with the smaller id applies"
    );
    assert_eq!(
        commit(
            Change::Assign("u1".into()),
            OrderingKey::new(Some(10_200), 1_500)
        )
        .await,
        [MutationResult::Stale],
        "an older change with a larger id does not"
    );
    assert_eq!(
        commit(
            Change::Assign("u1".into()),
            OrderingKey::new(Some(10_049), 2_000)
        )
        .await,
        [MutationResult::Stale],
        "same millisecond, smaller id"
    );
    assert_eq!(
        commit(Change::Deassign, a_newer).await,
        [MutationResult::Duplicate]
    );
    let g = s.group("g1").await.expect("get").expect("stored");
    assert_eq!(g.assignee, None);
    let w = g.watermarks.get("1/assignee").expect("watermark");
    assert_eq!((w.changelog_id, w.timestamp_ms), (Some(10_050), 2_000));
    let linked =
        assignee_sync::Store::linked_groups(s, &IntegrationId::new("1"), &IssueKey::new("APP-1"))
            .await
            .expect("linked");
    assert_eq!(linked[0].assignee_watermark, Some(a_newer));
}

/// `reset_watermarks`: of one integration, or all; an unknown group is `None`; afterwards any
/// key applies again.
async fn reset_watermarks_of_one_integration_or_all<B: StorageBackend>(s: &B) {
    seeded(s).await;
    let commit = |integration: &'static str, change: Change, key: OrderingKey| async move {
        let mut p = Plan::new(IntegrationId::new(integration), key);
        p.mutations.push(Mutation::new("g1", change, key));
        assignee_sync::Store::commit(s, &p).await.expect("commit")
    };
    // A poisoned watermark: far in the future, the largest id.
    let poison = OrderingKey::new(Some(i64::MAX as u64), i64::MAX);
    commit("1", Change::Assign("u1".into()), poison).await;
    commit("1", Change::Resolve, OrderingKey::changelog(3)).await;
    commit("2", Change::Resolve, OrderingKey::changelog(4)).await;
    assert_eq!(
        commit("1", Change::Deassign, OrderingKey::timestamp(5)).await,
        [MutationResult::Stale]
    );
    assert_eq!(s.reset_watermarks("nope", None).await.expect("reset"), None);
    assert_eq!(
        s.reset_watermarks("g1", Some("3")).await.expect("reset"),
        Some(Vec::new())
    );
    assert_eq!(
        s.reset_watermarks("g1", Some("1")).await.expect("reset"),
        Some(vec!["1/assignee".to_owned(), "1/status".to_owned()])
    );
    let g = s.group("g1").await.expect("get").expect("stored");
    assert_eq!(g.watermarks.keys().collect::<Vec<_>>(), ["2/status"]);
    assert_eq!(g.assignee.as_deref(), Some("u1"), "the group's state stays");
    assert_eq!(
        commit("1", Change::Deassign, OrderingKey::timestamp(5)).await,
        [MutationResult::Applied { changed: true }]
    );
    assert_eq!(
        s.reset_watermarks("g1", None).await.expect("reset"),
        Some(vec!["1/assignee".to_owned(), "2/status".to_owned()])
    );
    assert!(
        s.group("g1")
            .await
            .expect("get")
            .expect("stored")
            .watermarks
            .is_empty()
    );
}

async fn commit_relinks_and_records_moves<B: StorageBackend>(s: &B) {
    seeded(s).await;
    let mut plan = Plan::new(IntegrationId::new("1"), OrderingKey::changelog(20));
    plan.relink = Some(KeyChange {
        from: IssueKey::new("APP-1"),
        to: IssueKey::new("NEW-1"),
    });
    assignee_sync::Store::commit(s, &plan)
        .await
        .expect("commit");
    assert!(!s.has_links("1", "APP-1").await.expect("has"));
    assert_eq!(
        Tracker::linked_groups(s, "1", "NEW-1")
            .await
            .expect("linked"),
        ["g1"]
    );
    assert!(s.has_move("1", "APP-1").await.expect("moved"));
    assert!(!s.has_move("1", "NEW-1").await.expect("moved"));
    assert!(s.is_tracked("1", "APP-1").await.expect("tracked: moved"));
    assert!(s.is_tracked("1", "NEW-1").await.expect("tracked: linked"));
    let moved =
        assignee_sync::Store::moved_to(s, &IntegrationId::new("1"), &IssueKey::new("APP-1"))
            .await
            .expect("moved to")
            .expect("recorded");
    assert_eq!(moved.to.as_str(), "NEW-1");
    assert_eq!(moved.ordering, OrderingKey::changelog(20));
}
