//! Deliveries whose effects can be told apart, and the check that each one is accounted for
//! (`crash`, `replicas`).
//!
//! A [`World`]: delivery `i` assigns issue `<KEY>-i`, linked to a group of its own
//! (`<group>i`), to one of two users (alternating), with changelog id `i + 1`; so whether it
//! was applied, and how often, shows in its group and in the delivery log, whatever happened to
//! the others. The test records for each delivery it sent whether it was acknowledged (a 200)
//! or not ([`Sent`]: a request cut by a kill, a dead server, a 5xx), and [`World::check`]
//! compares that with the delivery log and the groups' assignees:
//! * every acknowledged delivery has exactly one delivery-log record, `applied`, whose outcome
//!   for its group is the assignment, and the group shows that assignee (applied exactly once;
//!   with one delivery per group, the last acknowledged change of each group is its state);
//! * every unacknowledged delivery is either entirely absent (no record, group unassigned) or
//!   entirely applied as above: nothing half-applied;
//! * nothing is left pending, and no record exists for an issue that was never sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use reference_server::storage::records::{DeliveryRecord, DeliveryState};
use reference_server::storage::{Inbox as _, Storage};
use serde_json::{Value, json};

use crate::support_process::Conn;

/// The two users deliveries alternate between (tracker ids).
pub const USERS: [&str; 2] = ["cu0", "cu1"];
/// Their verified e-mail addresses (what the deliveries' assignees carry).
pub const EMAILS: [&str; 2] = ["crash0@example.org", "crash1@example.org"];
/// The project every group is in, and its organization.
const PROJECT: &str = "cp";
const ORG: &str = "co";
/// Concurrent link imports when seeding.
const IMPORTS: usize = 8;

/// Whether a delivery got a 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Acked,
    Unacked,
}

/// What [`World::check`] found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Acknowledged, and applied exactly once.
    pub acked: usize,
    /// Not acknowledged, and applied exactly once (stored before the cut).
    pub unacked_applied: usize,
    /// Not acknowledged, and absent.
    pub unacked_absent: usize,
}

/// One group per delivery (see the module docs).
pub struct World {
    key_prefix: &'static str,
    group_prefix: &'static str,
    template: Value,
}

impl World {
    /// Issue keys `<key_prefix>-i`, groups `<group_prefix>i`.
    pub fn new(key_prefix: &'static str, group_prefix: &'static str) -> Self {
        Self {
            key_prefix,
            group_prefix,
            template: serde_json::from_str(include_str!("../fixtures/issue_updated_large.json"))
                .expect("fixture"),
        }
    }

    pub fn key(&self, i: usize) -> String {
        format!("{}-{i}", self.key_prefix)
    }

    pub fn group(&self, i: usize) -> String {
        format!("{}{i}", self.group_prefix)
    }

    /// The user delivery `i` assigns.
    pub fn user(i: usize) -> &'static str {
        USERS[i % 2]
    }

    /// The body of delivery `i`.
    pub fn body(&self, i: usize) -> Vec<u8> {
        let mut v = self.template.clone();
        let u = i % 2;
        v["issue"]["key"] = json!(self.key(i));
        v["issue"]["fields"]["assignee"]["emailAddress"] = json!(EMAILS[u]);
        v["issue"]["fields"]["assignee"]["name"] = json!(format!("crash{u}"));
        v["changelog"]["id"] = json!((i + 1).to_string());
        v.to_string().into_bytes()
    }

    /// Seeds through the admin API of the server at `addr`: the two users, the project, the
    /// organization enabled for reverse assignment, and groups `0..n`, each linked to its
    /// issue (bulk imports).
    pub async fn seed(&self, addr: SocketAddr, integration: &str, n: usize) {
        let mut c = Conn::new(addr);
        c.api(
            Method::PUT,
            &format!("/integrations/{integration}/organizations/{ORG}"),
            Some(json!({"syncReverseAssignment": true})),
        )
        .await;
        for (u, e) in USERS.iter().zip(EMAILS) {
            c.api(
                Method::PUT,
                &format!("/users/{u}"),
                Some(json!({"name": u, "emails": [{"email": e, "verified": true}]})),
            )
            .await;
        }
        c.api(
            Method::PUT,
            &format!("/projects/{PROJECT}"),
            Some(json!({"organization": ORG, "members": USERS})),
        )
        .await;
        // Several imports at once: on PostgreSQL each item is a transaction of its own, and
        // concurrent commits share their disk flushes.
        let imports: Vec<_> = (0..IMPORTS)
            .map(|part| {
                let mut body = String::new();
                for i in (part..n).step_by(IMPORTS) {
                    body.push_str(
                        &json!({"group": self.group(i), "project": PROJECT, "integration": integration, "issueKey": self.key(i)})
                            .to_string(),
                    );
                    body.push('\n');
                }
                tokio::spawn(async move {
                    Conn::new(addr)
                        .request(Method::POST, "/api/v1/import/links", true, body.into_bytes())
                        .await
                })
            })
            .collect();
        for import in imports {
            let (s, b) = import.await.expect("import task").expect("import");
            assert_eq!(s, StatusCode::OK, "import: {}", String::from_utf8_lossy(&b));
        }
    }

    /// Checks `records` (an integration's whole delivery log) and `assignees` (group id ->
    /// assignee, for every group of a sent delivery) against what was sent (see the module
    /// docs); panics at the first delivery not accounted for.
    pub fn check(
        &self,
        sent: &HashMap<usize, Sent>,
        records: &[DeliveryRecord],
        assignees: &HashMap<String, Option<String>>,
    ) -> Tally {
        let mut per_key: HashMap<String, Vec<&DeliveryRecord>> = HashMap::new();
        for r in records {
            assert!(
                !matches!(r.state, DeliveryState::Pending),
                "a delivery is still pending after the drain: {r:?}"
            );
            per_key
                .entry(r.issue_key.clone().unwrap_or_default())
                .or_default()
                .push(r);
        }
        let mut tally = Tally::default();
        for (&i, &st) in sent {
            let key = self.key(i);
            let group = self.group(i);
            let user = Self::user(i);
            let recs = per_key.remove(&key).unwrap_or_default();
            let assignee = assignees
                .get(&group)
                .unwrap_or_else(|| panic!("no state read for group {group}"));
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
                    tally.acked += 1;
                    assert!(
                        applied_once,
                        "acknowledged delivery {i} is not applied exactly once: records {recs:?}, assignee {assignee:?}"
                    );
                }
                Sent::Unacked if applied_once => tally.unacked_applied += 1,
                Sent::Unacked => {
                    assert!(
                        absent,
                        "unacknowledged delivery {i} is half-applied: records {recs:?}, assignee {assignee:?}"
                    );
                    tally.unacked_absent += 1;
                }
            }
        }
        assert!(
            per_key.is_empty(),
            "delivery log has records for issues never sent: {:?}",
            per_key.keys().take(5).collect::<Vec<_>>()
        );
        assert!(tally.acked > 0, "no delivery was acknowledged");
        tally
    }
}

/// Polls `storage` until its inbox is empty (every replica's worker is done), for at most
/// `within`.
pub async fn wait_drained(storage: &Storage, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let pending = tokio::time::timeout(within, storage.pending_count())
            .await
            .expect("the inbox count answers")
            .expect("inbox count");
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the inbox did not drain: {pending} deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
