//! `assignee_sync::Store` on sled.
//!
//! Reads go straight to the trees. Each group's watermarks (the newest delivery applied, per
//! integration and sync kind) live in the group record itself, so
//! [`Store::commit`](assignee_sync::Store::commit) applies a mutation as one atomic
//! compare-and-swap of that record: the change and its watermark are written together or not
//! at all (also across a crash), and a concurrent write to the group makes it decide again.
//! A crash between two groups of one plan leaves the first applied; replaying the delivery finds
//! its watermark and reports it as a duplicate, and applies the rest.
//!
//! Only a plan that moves links to a new issue key uses a sled transaction (over `links`,
//! `group_links`, `groups` and `moves`). sled seals and writes its log buffer
//! twice for every transaction, which made transactions the largest cost of the worker.
//!
//! A watermark in a recorded move is 17 bytes: a flag byte (1 when a changelog id is present),
//! the changelog id (u64, big endian) and the timestamp (i64, big endian).

use assignee_sync::{
    Change, Installation, IntegrationId, IssueKey, KeyMove, LinkedGroup, Mutation, MutationResult,
    OrderingKey, Plan, ProjectId, StatusMapping, SyncKind, SyncSettings, UserId,
};
use sled::Transactional as _;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::store::{Store, StoreError, key};
use crate::storage::records::{GroupRecord, GroupStatus, OrgSettingsRecord, WatermarkRecord};

fn encode_watermark(k: OrderingKey) -> [u8; 17] {
    let mut out = [0u8; 17];
    if let Some(id) = k.changelog_id() {
        out[0] = 1;
        out[1..9].copy_from_slice(&id.to_be_bytes());
    }
    out[9..17].copy_from_slice(&k.timestamp_ms().to_be_bytes());
    out
}

fn decode_watermark(v: &[u8]) -> Option<OrderingKey> {
    let flag = *v.first()?;
    let id = u64::from_be_bytes(v.get(1..9)?.try_into().ok()?);
    let ts = i64::from_be_bytes(v.get(9..17)?.try_into().ok()?);
    Some(OrderingKey::new((flag == 1).then_some(id), ts))
}

/// A recorded move: the new key followed by the 17-byte ordering key.
fn encode_move(to: &str, ordering: OrderingKey) -> Vec<u8> {
    let mut v = to.as_bytes().to_vec();
    v.extend_from_slice(&encode_watermark(ordering));
    v
}

fn decode_move(v: &[u8]) -> Option<KeyMove> {
    let split = v.len().checked_sub(17)?;
    let (to, ordering) = v.split_at(split);
    Some(KeyMove::new(
        std::str::from_utf8(to).ok()?,
        decode_watermark(ordering)?,
    ))
}

fn kind_str(kind: SyncKind) -> &'static str {
    match kind {
        SyncKind::Assignee => "assignee",
        SyncKind::Status => "status",
    }
}

/// Key of a watermark in [`GroupRecord::watermarks`].
pub(crate) fn watermark_field(integration: &str, kind: SyncKind) -> String {
    format!("{integration}/{}", kind_str(kind))
}

/// A group's watermark from its record.
fn record_watermark(group: &GroupRecord, integration: &str, kind: SyncKind) -> Option<OrderingKey> {
    group
        .watermarks
        .get(&watermark_field(integration, kind))
        .map(|w| OrderingKey::new(w.changelog_id, w.timestamp_ms))
}

/// Applies one mutation to a group record, given the group's current watermark for it: a
/// stale or repeated delivery changes nothing; otherwise the change is made and the watermark
/// advanced.
pub(crate) fn apply_mutation(
    group: &mut GroupRecord,
    known: Option<OrderingKey>,
    m: &Mutation,
    integration: &str,
) -> MutationResult {
    if let Some(skip) = MutationResult::guard(known, m.ordering) {
        return skip;
    }
    let changed = match &m.change {
        Change::Assign(u) => {
            let changed = group.assignee.as_deref() != Some(u.as_str());
            group.assignee = Some(u.as_str().to_owned());
            changed
        }
        Change::Deassign => group.assignee.take().is_some(),
        Change::Resolve => {
            let changed = group.status != GroupStatus::Resolved;
            group.status = GroupStatus::Resolved;
            changed
        }
        Change::Unresolve => {
            let changed = group.status != GroupStatus::Unresolved;
            group.status = GroupStatus::Unresolved;
            changed
        }
    };
    group.last_change_source = Some(integration.to_owned());
    group.watermarks.insert(
        watermark_field(integration, m.kind()),
        WatermarkRecord {
            changelog_id: m.ordering.changelog_id(),
            timestamp_ms: m.ordering.timestamp_ms(),
        },
    );
    MutationResult::Applied { changed }
}

/// Converts stored organization settings to the sync crate's settings. A stored status mapping
/// that does not decode is ignored (the API validates it before storing).
pub fn to_sync_settings(rec: &OrgSettingsRecord) -> SyncSettings {
    let mut s = SyncSettings::new()
        .with_reverse_assignment(rec.sync_reverse_assignment)
        .with_status_reverse(rec.sync_status_reverse);
    if let Some(m) = &rec.status_mapping
        && let Ok(mapping) = serde_json::from_value::<StatusMapping>(m.clone())
    {
        s = s.with_status_mapping(mapping);
    }
    s
}

/// At most this many group reads are kept for [`GroupReads`].
const MAX_GROUP_READS: usize = 32;

/// The group records [`assignee_sync::Store::linked_groups`] read last, raw and decoded, so
/// that committing a mutation to one of them (normally right after) need not read and decode
/// it again. A kept read is only a first guess: the compare-and-swap still checks it against
/// the stored bytes, and a group written in between is read afresh.
#[derive(Debug, Default)]
pub(crate) struct GroupReads(std::sync::Mutex<Vec<(String, sled::IVec, GroupRecord)>>);

impl GroupReads {
    fn reads(&self) -> std::sync::MutexGuard<'_, Vec<(String, sled::IVec, GroupRecord)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn put(&self, group: String, raw: sled::IVec, record: GroupRecord) {
        let mut reads = self.reads();
        reads.retain(|(g, _, _)| *g != group);
        if reads.len() >= MAX_GROUP_READS {
            reads.remove(0);
        }
        reads.push((group, raw, record));
    }

    fn take(&self, group: &str) -> Option<(sled::IVec, GroupRecord)> {
        let mut reads = self.reads();
        let at = reads.iter().position(|(g, _, _)| g == group)?;
        let (_, raw, record) = reads.remove(at);
        Some((raw, record))
    }
}

impl Store {
    /// Applies one mutation with a compare-and-swap of the group record (retried when the
    /// record changed in between).
    fn commit_mutation(
        &self,
        integration: &str,
        m: &Mutation,
    ) -> Result<MutationResult, StoreError> {
        let gid = m.group.as_str();
        let mut read = self.group_reads.take(gid);
        loop {
            let (raw, mut group) = if let Some(r) = read.take() {
                r
            } else {
                let Some(raw) = self.groups.get(gid.as_bytes())? else {
                    return Ok(MutationResult::GroupMissing);
                };
                let group: GroupRecord = serde_json::from_slice(&raw)?;
                (raw, group)
            };
            let known = record_watermark(&group, integration, m.kind());
            let result = apply_mutation(&mut group, known, m, integration);
            if !matches!(result, MutationResult::Applied { .. }) {
                return Ok(result);
            }
            let new = serde_json::to_vec(&group)?;
            if self
                .groups
                .compare_and_swap(gid.as_bytes(), Some(raw.as_ref()), Some(new))?
                .is_ok()
            {
                return Ok(result);
            }
        }
    }

    /// Whether the user exists and is active (a record that does not decode counts as not).
    fn active_user(&self, id: &str) -> Result<bool, StoreError> {
        match self.user_shared(id) {
            Ok(user) => Ok(user.is_some_and(|u| u.active)),
            Err(StoreError::Decode(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

type TxError = ConflictableTransactionError<StoreError>;

fn abort(e: impl Into<StoreError>) -> TxError {
    ConflictableTransactionError::Abort(e.into())
}

fn relink_in_tx(
    links: &TransactionalTree,
    group_links: &TransactionalTree,
    integration: &str,
    from: &str,
    to: &str,
    groups: &[String],
) -> Result<(), TxError> {
    for g in groups {
        links.remove(key(&[integration, from, g]))?;
        group_links.remove(key(&[g, integration, from]))?;
        links.insert(key(&[integration, to, g]), &[])?;
        group_links.insert(key(&[g, integration, to]), &[])?;
    }
    Ok(())
}

impl assignee_sync::Store for Store {
    type Error = StoreError;

    async fn installations(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<Installation>, StoreError> {
        Ok(self
            .org_settings(integration.as_str())?
            .into_iter()
            .map(|(org, rec)| Installation::new(org, to_sync_settings(&rec)))
            .collect())
    }

    async fn linked_groups(
        &self,
        integration: &IntegrationId,
        issue: &IssueKey,
    ) -> Result<Vec<LinkedGroup>, StoreError> {
        let mut out = Vec::new();
        for gid in self.linked_groups(integration.as_str(), issue.as_str())? {
            let Some(raw) = self.groups.get(gid.as_bytes())? else {
                continue;
            };
            let group: GroupRecord = serde_json::from_slice(&raw)?;
            let Some(project) = self.project_shared(&group.project)? else {
                continue;
            };
            let assignee = record_watermark(&group, integration.as_str(), SyncKind::Assignee);
            let status = record_watermark(&group, integration.as_str(), SyncKind::Status);
            out.push(
                LinkedGroup::new(
                    gid.as_str(),
                    group.project.as_str(),
                    project.organization.as_str(),
                )
                .with_watermark(SyncKind::Assignee, assignee)
                .with_watermark(SyncKind::Status, status),
            );
            self.group_reads.put(gid, raw, group);
        }
        Ok(out)
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<UserId>, StoreError> {
        let mut out = Vec::new();
        for id in Store::users_by_verified_email(self, email)? {
            if self.active_user(&id)? {
                out.push(UserId::new(id));
            }
        }
        Ok(out)
    }

    async fn mapped_user(
        &self,
        integration: &IntegrationId,
        jira_user: &str,
    ) -> Result<Option<UserId>, StoreError> {
        match self.user_mapping(integration.as_str(), jira_user)? {
            Some(u) if self.active_user(&u)? => Ok(Some(UserId::new(u))),
            _ => Ok(None),
        }
    }

    async fn is_project_member(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<bool, StoreError> {
        self.is_member(project.as_str(), user.as_str())
    }

    async fn moved_to(
        &self,
        integration: &IntegrationId,
        issue: &IssueKey,
    ) -> Result<Option<KeyMove>, StoreError> {
        let k = key(&[integration.as_str(), issue.as_str()]);
        if !self.move_keys.may_contain(&k) {
            return Ok(None);
        }
        Ok(self.moves.get(k)?.and_then(|v| decode_move(&v)))
    }

    async fn commit(&self, plan: &Plan) -> Result<Vec<MutationResult>, StoreError> {
        let integration = plan.integration.as_str().to_owned();
        // sled transactions cannot scan, so the groups to relink are read first.
        let relink = match &plan.relink {
            Some(k) => Some((
                k.from.as_str().to_owned(),
                k.to.as_str().to_owned(),
                self.linked_groups(&integration, k.from.as_str())?,
            )),
            None => {
                return plan
                    .mutations
                    .iter()
                    .map(|m| self.commit_mutation(&integration, m))
                    .collect();
            }
        };
        if let Some((from, _, _)) = &relink {
            self.move_keys.add(&key(&[&integration, from]));
        }
        let results = (&self.links, &self.group_links, &self.groups, &self.moves).transaction(
            |(links, group_links, groups, moves)| {
                if let Some((from, to, gs)) = &relink {
                    relink_in_tx(links, group_links, &integration, from, to, gs)?;
                    // Record the move; the newest move of a key wins.
                    let mk = key(&[&integration, from]);
                    let newer_exists = moves
                        .get(&mk)?
                        .and_then(|v| decode_move(&v))
                        .is_some_and(|m| m.ordering > plan.ordering);
                    if !newer_exists {
                        moves.insert(mk, encode_move(to, plan.ordering))?;
                    }
                }
                let mut results = Vec::with_capacity(plan.mutations.len());
                for m in &plan.mutations {
                    let gid = m.group.as_str();
                    let Some(raw) = groups.get(gid.as_bytes())? else {
                        results.push(MutationResult::GroupMissing);
                        continue;
                    };
                    let mut group: GroupRecord = serde_json::from_slice(&raw).map_err(abort)?;
                    let known = record_watermark(&group, &integration, m.kind());
                    let result = apply_mutation(&mut group, known, m, &integration);
                    if matches!(result, MutationResult::Applied { .. }) {
                        let bytes = serde_json::to_vec(&group).map_err(abort)?;
                        groups.insert(gid.as_bytes(), bytes)?;
                    }
                    results.push(result);
                }
                Ok(results)
            },
        )?;
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::records::{EmailRecord, ProjectRecord, UserRecord};
    use assignee_sync::{GroupResult, InboundEvent, JiraUser, sync_inbound};

    /// Opens a store again after its handle was dropped. sled releases the directory lock
    /// when the dropped handle's last background write ends, which can be a moment later
    /// ("could not acquire lock", seen once in this module's tests).
    fn reopen(dir: &std::path::Path) -> Store {
        for _ in 0..100 {
            match Store::open(dir) {
                Ok(s) => return s,
                Err(e) if e.to_string().contains("lock") => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("reopen: {e}"),
            }
        }
        panic!("the store stayed locked for 2 s after its handle was dropped");
    }

    fn seeded() -> Store {
        let s = Store::temporary().expect("open");
        seed(&s);
        s
    }

    fn seed(s: &Store) {
        s.put_org_settings(
            "1",
            "org",
            &OrgSettingsRecord {
                sync_reverse_assignment: true,
                sync_status_reverse: true,
                status_mapping: None,
            },
        )
        .expect("settings");
        s.put_user(
            "u-bob",
            &UserRecord {
                name: "Bob".into(),
                active: true,
                emails: vec![EmailRecord {
                    email: "bob@example.org".into(),
                    verified: true,
                }],
            },
        )
        .expect("user");
        s.put_project(
            "p",
            &ProjectRecord {
                organization: "org".into(),
                members: vec!["u-bob".into()],
            },
        )
        .expect("project");
        s.put_group("g1", "p").expect("group");
        s.link("g1", "1", "APP-1").expect("link");
    }

    #[test]
    fn move_round_trip() {
        let m = decode_move(&encode_move("NEW-1", OrderingKey::changelog(9))).expect("decodes");
        assert_eq!(m, KeyMove::new("NEW-1", OrderingKey::changelog(9)));
        assert_eq!(decode_move(b"short"), None);
    }

    #[test]
    fn watermark_round_trip() {
        for k in [
            OrderingKey::changelog(10196),
            OrderingKey::timestamp(-3),
            OrderingKey::new(Some(u64::MAX), 7),
        ] {
            assert_eq!(decode_watermark(&encode_watermark(k)), Some(k));
        }
        assert_eq!(decode_watermark(&[1, 2]), None);
    }

    #[tokio::test]
    async fn a_group_written_after_the_sync_read_it_is_read_again_before_the_swap() {
        let s = seeded();
        let linked = assignee_sync::Store::linked_groups(
            &s,
            &IntegrationId::new("1"),
            &assignee_sync::IssueKey::new("APP-1"),
        )
        .await
        .expect("read");
        assert_eq!(linked.len(), 1);
        // Someone else writes the group after the sync read it.
        let mut g = s.group("g1").expect("q").expect("g");
        g.status = GroupStatus::Resolved;
        s.groups
            .insert("g1", serde_json::to_vec(&g).expect("encode"))
            .expect("write");
        let m = Mutation::new(
            assignee_sync::GroupId::new("g1"),
            Change::Assign(UserId::new("u-bob")),
            OrderingKey::changelog(20),
        );
        assert_eq!(
            s.commit_mutation("1", &m).expect("commit"),
            MutationResult::Applied { changed: true }
        );
        let g = s.group("g1").expect("q").expect("g");
        assert_eq!(g.assignee.as_deref(), Some("u-bob"));
        assert_eq!(g.status, GroupStatus::Resolved, "the other write is kept");
    }

    #[tokio::test]
    async fn assign_is_idempotent_and_order_safe() {
        let s = seeded();
        let event = InboundEvent::new("1", "APP-1", OrderingKey::changelog(20)).assigned_to(
            JiraUser::new()
                .with_name("bob")
                .with_email("Bob@Example.org"),
        );
        let out = sync_inbound(&s, &event).await.expect("sync");
        assert_eq!(
            out.result("g1", SyncKind::Assignee),
            Some(&GroupResult::Assigned {
                user: UserId::new("u-bob")
            })
        );
        assert_eq!(
            s.group("g1").expect("q").expect("g").assignee.as_deref(),
            Some("u-bob")
        );
        let again = sync_inbound(&s, &event).await.expect("sync");
        assert!(!again.changed_anything());
        // An older de-assignment arriving late is stale.
        let old = InboundEvent::new("1", "APP-1", OrderingKey::changelog(10)).unassigned();
        let out = sync_inbound(&s, &old).await.expect("sync");
        assert!(!out.changed_anything());
        assert_eq!(
            s.group("g1").expect("q").expect("g").assignee.as_deref(),
            Some("u-bob")
        );
        // A newer one applies.
        let newer = InboundEvent::new("1", "APP-1", OrderingKey::changelog(30)).unassigned();
        let out = sync_inbound(&s, &newer).await.expect("sync");
        assert_eq!(
            out.result("g1", SyncKind::Assignee),
            Some(&GroupResult::Deassigned)
        );
        assert_eq!(s.group("g1").expect("q").expect("g").assignee, None);
    }

    /// A group record as versions before the event-time order wrote it (the same form: both
    /// parts of the key were always kept) reads back and is ordered by event time: a newer
    /// change with a smaller changelog id applies, nothing needs rewriting on open.
    #[test]
    fn a_watermark_stored_before_the_event_time_order_orders_by_event_time() {
        let stored = br#"{"project":"p1","status":"unresolved","assignee":"u1","last_change_source":"1","watermarks":{"1/assignee":{"changelog_id":10150,"timestamp_ms":1000}}}"#;
        let mut group: GroupRecord = serde_json::from_slice(stored).expect("decodes");
        let known = record_watermark(&group, "1", SyncKind::Assignee);
        assert_eq!(known, Some(OrderingKey::new(Some(10_150), 1_000)));
        let newer = Mutation::new(
            "g1",
            Change::Deassign,
            OrderingKey::new(Some(10_050), 2_000),
        );
        assert_eq!(
            apply_mutation(&mut group, known, &newer, "1"),
            MutationResult::Applied { changed: true }
        );
        let older = Mutation::new(
            "g1",
            Change::Assign(UserId::new("u1")),
            OrderingKey::new(Some(10_200), 1_500),
        );
        let known = record_watermark(&group, "1", SyncKind::Assignee);
        assert_eq!(
            apply_mutation(&mut group, known, &older, "1"),
            MutationResult::Stale
        );
        assert_eq!(group.assignee, None);
    }

    #[tokio::test]
    async fn the_watermark_is_written_with_the_change_and_an_existing_watermark_decides() {
        let s = seeded();
        // A watermark already in the group record.
        let mut g1 = s.group("g1").expect("q").expect("g1");
        g1.watermarks.insert(
            "1/assignee".into(),
            WatermarkRecord {
                changelog_id: Some(20),
                timestamp_ms: OrderingKey::changelog(20).timestamp_ms(),
            },
        );
        s.groups
            .insert("g1", serde_json::to_vec(&g1).expect("encode"))
            .expect("write");
        let bob = || {
            JiraUser::new()
                .with_name("bob")
                .with_email("bob@example.org")
        };
        let older = InboundEvent::new("1", "APP-1", OrderingKey::changelog(15)).assigned_to(bob());
        let out = sync_inbound(&s, &older).await.expect("sync");
        assert!(
            !out.changed_anything(),
            "older than the record's watermark: stale"
        );
        assert_eq!(s.group("g1").expect("q").expect("g").assignee, None);

        let newer = InboundEvent::new("1", "APP-1", OrderingKey::changelog(25)).assigned_to(bob());
        sync_inbound(&s, &newer).await.expect("sync");
        let g = s.group("g1").expect("q").expect("g");
        assert_eq!(g.assignee.as_deref(), Some("u-bob"));
        assert_eq!(
            g.watermarks.get("1/assignee"),
            Some(&WatermarkRecord {
                changelog_id: Some(25),
                timestamp_ms: OrderingKey::changelog(25).timestamp_ms(),
            }),
            "the watermark is in the same record as the change"
        );
        // The record's watermark decides.
        let between = InboundEvent::new("1", "APP-1", OrderingKey::changelog(22)).unassigned();
        assert!(
            !sync_inbound(&s, &between)
                .await
                .expect("sync")
                .changed_anything()
        );
    }

    #[tokio::test]
    async fn key_change_moves_links() {
        let s = seeded();
        let event = InboundEvent::new("1", "NEW-1", OrderingKey::changelog(5))
            .with_key_change("APP-1", "NEW-1");
        sync_inbound(&s, &event).await.expect("sync");
        assert!(s.linked_groups("1", "APP-1").expect("q").is_empty());
        assert_eq!(s.linked_groups("1", "NEW-1").expect("q"), vec!["g1"]);
        // A late event naming the old key still reaches the group.
        let late = InboundEvent::new("1", "APP-1", OrderingKey::changelog(6))
            .assigned_to(JiraUser::new().with_email("bob@example.org"));
        let out = sync_inbound(&s, &late).await.expect("sync");
        assert_eq!(
            out.result("g1", SyncKind::Assignee),
            Some(&GroupResult::Assigned {
                user: UserId::new("u-bob")
            })
        );
    }

    #[tokio::test]
    async fn a_move_is_followed_after_the_store_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let s = Store::open(dir.path()).expect("open");
            seed(&s);
            let event = InboundEvent::new("1", "NEW-1", OrderingKey::changelog(5))
                .with_key_change("APP-1", "NEW-1");
            sync_inbound(&s, &event).await.expect("sync");
            s.flush_blocking().expect("flush");
        }
        let s = reopen(dir.path());
        let to = |key| {
            let k = IssueKey::new(key);
            let s = &s;
            async move {
                assignee_sync::Store::moved_to(s, &IntegrationId::new("1"), &k)
                    .await
                    .expect("read")
            }
        };
        assert_eq!(
            to("APP-1").await,
            Some(KeyMove::new("NEW-1", OrderingKey::changelog(5)))
        );
        assert_eq!(to("NEW-1").await, None);
        assert!(s.has_move("1", "APP-1").expect("read"));
        // The late event naming the old key still reaches the group through the move.
        let late = InboundEvent::new("1", "APP-1", OrderingKey::changelog(6))
            .assigned_to(JiraUser::new().with_email("bob@example.org"));
        let out = sync_inbound(&s, &late).await.expect("sync");
        assert_eq!(
            out.result("g1", SyncKind::Assignee),
            Some(&GroupResult::Assigned {
                user: UserId::new("u-bob")
            })
        );
    }
}
