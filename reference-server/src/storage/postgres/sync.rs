//! `assignee_sync::Store` on PostgreSQL: the statements, written once over a connection, run
//! by [`PgStorage`] on a pooled connection (its `commit` in a transaction of its own) and by
//! the inbox batch inside the batch's transaction.
//!
//! `commit` locks each group's row (`SELECT ... FOR UPDATE`), decides with the sled backend's
//! rule ([`apply_mutation`]) on the group's watermark for the mutation's integration and kind,
//! and writes the group and the watermark together: one mutation is applied once, whatever the
//! replicas do concurrently (the row lock serializes them; the second sees the first's
//! watermark and reports a duplicate or stale delivery). A relink moves the links of the old
//! key to the new one and records the move unless a newer move of the key is recorded.

use std::collections::BTreeMap;

use assignee_sync::{
    Installation, IntegrationId, IssueKey, KeyMove, LinkedGroup, MutationResult, OrderingKey, Plan,
    ProjectId, SyncKind, UserId,
};
use deadpool_postgres::ClientWrapper;

use super::integrations::org_settings_on;
use super::storage::{PgStorage, Tx, exec, int_id, int_id_w, query, query_opt, to_i64, to_u64};
use super::tracker::{is_member_on, parse_status, status_str};
use crate::storage::StorageError;
use crate::storage::records::{GroupRecord, WatermarkRecord};
use crate::storage::sled::sync::{apply_mutation, to_sync_settings, watermark_field};

fn kind_str(kind: SyncKind) -> &'static str {
    match kind {
        SyncKind::Assignee => "assignee",
        SyncKind::Status => "status",
    }
}

fn ordering(changelog: Option<i64>, ts: i64) -> OrderingKey {
    OrderingKey::new(changelog.map(to_u64), ts)
}

fn changelog_param(k: OrderingKey) -> Result<Option<i64>, StorageError> {
    k.changelog_id()
        .map(|id| to_i64("changelog id", id))
        .transpose()
}

pub(super) async fn installations(
    c: &ClientWrapper,
    integration: &IntegrationId,
) -> Result<Vec<Installation>, StorageError> {
    let Some(id) = int_id(integration.as_str()) else {
        return Ok(Vec::new());
    };
    Ok(org_settings_on(c, id)
        .await?
        .into_iter()
        .map(|(org, rec)| Installation::new(org, to_sync_settings(&rec)))
        .collect())
}

pub(super) async fn linked_groups(
    c: &ClientWrapper,
    integration: &IntegrationId,
    issue: &IssueKey,
) -> Result<Vec<LinkedGroup>, StorageError> {
    let Some(id) = int_id(integration.as_str()) else {
        return Ok(Vec::new());
    };
    let rows = query(
        c,
        "reading the groups linked to an issue",
        r#"SELECT g.id, g.project_id, p.organization,
                  wa.changelog_id, wa.timestamp_ms, ws.changelog_id, ws.timestamp_ms
           FROM links l
           JOIN groups g ON g.id = l.group_id
           JOIN projects p ON p.id = g.project_id
           LEFT JOIN group_watermarks wa
             ON wa.group_id = g.id AND wa.integration_id = l.integration_id AND wa.kind = 'assignee'
           LEFT JOIN group_watermarks ws
             ON ws.group_id = g.id AND ws.integration_id = l.integration_id AND ws.kind = 'status'
           WHERE l.integration_id = $1 AND l.issue_key = $2
           ORDER BY g.id COLLATE "C""#,
        &[&id, &issue.as_str()],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let gid: String = r.get(0);
            let project: String = r.get(1);
            let org: String = r.get(2);
            let assignee = r.get::<_, Option<i64>>(4).map(|ts| ordering(r.get(3), ts));
            let status = r.get::<_, Option<i64>>(6).map(|ts| ordering(r.get(5), ts));
            LinkedGroup::new(gid.as_str(), project.as_str(), org.as_str())
                .with_watermark(SyncKind::Assignee, assignee)
                .with_watermark(SyncKind::Status, status)
        })
        .collect())
}

pub(super) async fn users_by_verified_email(
    c: &ClientWrapper,
    email: &str,
) -> Result<Vec<UserId>, StorageError> {
    Ok(query(
        c,
        "reading active users by e-mail",
        r#"SELECT DISTINCT e.user_id COLLATE "C" FROM user_emails e JOIN users u ON u.id = e.user_id
           WHERE e.verified AND u.active AND lower(e.email) = lower($1) ORDER BY 1"#,
        &[&email],
    )
    .await?
    .iter()
    .map(|r| UserId::new(r.get::<_, String>(0)))
    .collect())
}

pub(super) async fn mapped_user(
    c: &ClientWrapper,
    integration: &IntegrationId,
    jira_user: &str,
) -> Result<Option<UserId>, StorageError> {
    let Some(id) = int_id(integration.as_str()) else {
        return Ok(None);
    };
    Ok(query_opt(
        c,
        "reading a mapped user",
        "SELECT m.user_id FROM user_mappings m JOIN users u ON u.id = m.user_id \
         WHERE m.integration_id = $1 AND m.jira_user = $2 AND u.active",
        &[&id, &jira_user],
    )
    .await?
    .map(|r| UserId::new(r.get::<_, String>(0))))
}

pub(super) async fn is_project_member(
    c: &ClientWrapper,
    project: &ProjectId,
    user: &UserId,
) -> Result<bool, StorageError> {
    is_member_on(c, project.as_str(), user.as_str()).await
}

pub(super) async fn moved_to(
    c: &ClientWrapper,
    integration: &IntegrationId,
    issue: &IssueKey,
) -> Result<Option<KeyMove>, StorageError> {
    let Some(id) = int_id(integration.as_str()) else {
        return Ok(None);
    };
    Ok(query_opt(
        c,
        "reading a key move",
        "SELECT to_key, changelog_id, timestamp_ms FROM moves \
         WHERE integration_id = $1 AND from_key = $2",
        &[&id, &issue.as_str()],
    )
    .await?
    .map(|r| KeyMove::new(r.get::<_, String>(0).as_str(), ordering(r.get(1), r.get(2)))))
}

/// The plan's writes, on a connection inside a transaction (the caller's).
pub(super) async fn commit_in(
    c: &ClientWrapper,
    plan: &Plan,
) -> Result<Vec<MutationResult>, StorageError> {
    let what = "committing a sync plan";
    let integration = plan.integration.as_str();
    let id = int_id_w(integration)?;
    if let Some(k) = &plan.relink {
        let (from, to) = (k.from.as_str(), k.to.as_str());
        exec(
            c,
            what,
            "INSERT INTO links (integration_id, issue_key, group_id) \
             SELECT integration_id, $3, group_id FROM links \
             WHERE integration_id = $1 AND issue_key = $2 ON CONFLICT DO NOTHING",
            &[&id, &from, &to],
        )
        .await?;
        exec(
            c,
            what,
            "DELETE FROM links WHERE integration_id = $1 AND issue_key = $2",
            &[&id, &from],
        )
        .await?;
        let newer_exists = query_opt(
            c,
            what,
            "SELECT changelog_id, timestamp_ms FROM moves \
             WHERE integration_id = $1 AND from_key = $2 FOR UPDATE",
            &[&id, &from],
        )
        .await?
        .is_some_and(|r| ordering(r.get(0), r.get(1)) > plan.ordering);
        if !newer_exists {
            exec(
                c,
                what,
                "INSERT INTO moves (integration_id, from_key, to_key, changelog_id, timestamp_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (integration_id, from_key) DO UPDATE \
                 SET to_key = EXCLUDED.to_key, changelog_id = EXCLUDED.changelog_id, \
                 timestamp_ms = EXCLUDED.timestamp_ms",
                &[
                    &id,
                    &from,
                    &to,
                    &changelog_param(plan.ordering)?,
                    &plan.ordering.timestamp_ms(),
                ],
            )
            .await?;
        }
    }
    let mut results = Vec::with_capacity(plan.mutations.len());
    for m in &plan.mutations {
        let gid = m.group.as_str();
        let kind = kind_str(m.kind());
        let Some(row) = query_opt(
            c,
            what,
            "SELECT project_id, status, assignee FROM groups WHERE id = $1 FOR UPDATE",
            &[&gid],
        )
        .await?
        else {
            results.push(MutationResult::GroupMissing);
            continue;
        };
        let known = query_opt(
            c,
            what,
            "SELECT changelog_id, timestamp_ms FROM group_watermarks \
             WHERE group_id = $1 AND integration_id = $2 AND kind = $3",
            &[&gid, &id, &kind],
        )
        .await?
        .map(|r| WatermarkRecord {
            changelog_id: r.get::<_, Option<i64>>(0).map(to_u64),
            timestamp_ms: r.get(1),
        });
        let status: String = row.get(1);
        let mut group = GroupRecord {
            project: row.get(0),
            status: parse_status(&status),
            assignee: row.get(2),
            last_change_source: None,
            watermarks: BTreeMap::new(),
        };
        if let Some(w) = known {
            group
                .watermarks
                .insert(watermark_field(integration, m.kind()), w);
        }
        let known = known.map(|w| OrderingKey::new(w.changelog_id, w.timestamp_ms));
        let result = apply_mutation(&mut group, known, m, integration);
        if matches!(result, MutationResult::Applied { .. }) {
            exec(
                c,
                what,
                "UPDATE groups SET status = $2, assignee = $3, last_change_source = $4 WHERE id = $1",
                &[&gid, &status_str(group.status), &group.assignee, &id],
            )
            .await?;
            exec(
                c,
                what,
                "INSERT INTO group_watermarks (group_id, integration_id, kind, changelog_id, timestamp_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_id, integration_id, kind) DO UPDATE \
                 SET changelog_id = EXCLUDED.changelog_id, timestamp_ms = EXCLUDED.timestamp_ms",
                &[
                    &gid,
                    &id,
                    &kind,
                    &changelog_param(m.ordering)?,
                    &m.ordering.timestamp_ms(),
                ],
            )
            .await?;
        }
        results.push(result);
    }
    Ok(results)
}

impl assignee_sync::Store for PgStorage {
    type Error = StorageError;

    async fn installations(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<Installation>, StorageError> {
        installations(&*self.conn().await?, integration).await
    }

    async fn linked_groups(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Vec<LinkedGroup>, StorageError> {
        linked_groups(&*self.conn().await?, integration, key).await
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<UserId>, StorageError> {
        users_by_verified_email(&*self.conn().await?, email).await
    }

    async fn mapped_user(
        &self,
        integration: &IntegrationId,
        jira_user: &str,
    ) -> Result<Option<UserId>, StorageError> {
        mapped_user(&*self.conn().await?, integration, jira_user).await
    }

    async fn is_project_member(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<bool, StorageError> {
        is_project_member(&*self.conn().await?, project, user).await
    }

    async fn moved_to(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Option<KeyMove>, StorageError> {
        moved_to(&*self.conn().await?, integration, key).await
    }

    async fn commit(&self, plan: &Plan) -> Result<Vec<MutationResult>, StorageError> {
        let what = "committing a sync plan";
        let tx = Tx::begin(self.conn().await?, what).await?;
        let results = commit_in(&tx, plan).await?;
        tx.commit(what).await?;
        if plan.relink.is_some() {
            self.link_keys.wrote();
        }
        Ok(results)
    }
}
