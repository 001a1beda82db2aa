//! [`Tracker`] on PostgreSQL: `users` (+ `user_emails`), `projects` (+ `project_members`),
//! `groups` (+ `group_watermarks`), `links`, `moves`.

use std::collections::BTreeMap;

use deadpool_postgres::ClientWrapper;

use super::storage::{PgStorage, Tx, exec, int_id, int_id_w, query, query_opt, to_u64};
use crate::storage::records::{
    EmailRecord, GroupRecord, GroupStatus, ImportCounts, ImportLink, ProjectRecord, UserRecord,
    WatermarkRecord,
};
use crate::storage::{StorageError, Tracker};

/// What [`put_group_on`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupPut {
    Created,
    Moved,
    Unchanged,
}

pub(super) fn status_str(s: GroupStatus) -> &'static str {
    match s {
        GroupStatus::Unresolved => "unresolved",
        GroupStatus::Resolved => "resolved",
    }
}

pub(super) fn parse_status(s: &str) -> GroupStatus {
    if s == "resolved" {
        GroupStatus::Resolved
    } else {
        GroupStatus::Unresolved
    }
}

/// A group with its watermarks, `FOR UPDATE` when `lock`.
pub(super) async fn group_on(
    c: &ClientWrapper,
    id: &str,
    lock: bool,
) -> Result<Option<GroupRecord>, StorageError> {
    let sql = if lock {
        "SELECT project_id, status, assignee, last_change_source::text FROM groups WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT project_id, status, assignee, last_change_source::text FROM groups WHERE id = $1"
    };
    let Some(row) = query_opt(c, "reading a group", sql, &[&id]).await? else {
        return Ok(None);
    };
    let status: String = row.get(1);
    let mut watermarks = BTreeMap::new();
    for w in query(
        c,
        "reading a group's watermarks",
        "SELECT integration_id::text, kind, changelog_id, timestamp_ms FROM group_watermarks \
         WHERE group_id = $1",
        &[&id],
    )
    .await?
    {
        let integration: String = w.get(0);
        let kind: String = w.get(1);
        let changelog: Option<i64> = w.get(2);
        watermarks.insert(
            format!("{integration}/{kind}"),
            WatermarkRecord {
                changelog_id: changelog.map(to_u64),
                timestamp_ms: w.get(3),
            },
        );
    }
    Ok(Some(GroupRecord {
        project: row.get(0),
        status: parse_status(&status),
        assignee: row.get(2),
        last_change_source: row.get(3),
        watermarks,
    }))
}

/// Creates a group or moves it to `project`, in the caller's transaction.
pub(super) async fn put_group_on(
    c: &ClientWrapper,
    id: &str,
    project: &str,
) -> Result<(GroupRecord, GroupPut), StorageError> {
    let what = "writing a group";
    let before = query_opt(
        c,
        what,
        "SELECT project_id FROM groups WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .map(|r| r.get::<_, String>(0));
    let put = match before.as_deref() {
        None => {
            exec(
                c,
                what,
                "INSERT INTO groups (id, project_id) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET project_id = EXCLUDED.project_id",
                &[&id, &project],
            )
            .await?;
            GroupPut::Created
        }
        Some(p) if p == project => GroupPut::Unchanged,
        Some(_) => {
            exec(
                c,
                what,
                "UPDATE groups SET project_id = $2 WHERE id = $1",
                &[&id, &project],
            )
            .await?;
            GroupPut::Moved
        }
    };
    let group = group_on(c, id, false).await?.ok_or_else(|| {
        super::storage::backend(format!("PostgreSQL: group {id:?} vanished while written"))
    })?;
    Ok((group, put))
}

/// Links a group; returns whether the link is new.
pub(super) async fn link_on(
    c: &ClientWrapper,
    group: &str,
    integration: i64,
    issue_key: &str,
) -> Result<bool, StorageError> {
    Ok(exec(
        c,
        "writing a link",
        "INSERT INTO links (integration_id, issue_key, group_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
        &[&integration, &issue_key, &group],
    )
    .await?
        == 1)
}

impl Tracker for PgStorage {
    async fn put_user(&self, id: &str, rec: &UserRecord) -> Result<(), StorageError> {
        let what = "writing a user";
        let tx = Tx::begin(self.conn().await?, what).await?;
        exec(
            &tx,
            what,
            "INSERT INTO users (id, name, active) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, active = EXCLUDED.active",
            &[&id, &rec.name, &rec.active],
        )
        .await?;
        exec(
            &tx,
            what,
            "DELETE FROM user_emails WHERE user_id = $1",
            &[&id],
        )
        .await?;
        for (pos, e) in (0i32..).zip(&rec.emails) {
            exec(
                &tx,
                what,
                "INSERT INTO user_emails (user_id, position, email, verified) VALUES ($1, $2, $3, $4)",
                &[&id, &pos, &e.email, &e.verified],
            )
            .await?;
        }
        tx.commit(what).await
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StorageError> {
        let c = self.conn().await?;
        let Some(row) = query_opt(
            &c,
            "reading a user",
            "SELECT name, active FROM users WHERE id = $1",
            &[&id],
        )
        .await?
        else {
            return Ok(None);
        };
        let emails = query(
            &c,
            "reading a user's e-mails",
            "SELECT email, verified FROM user_emails WHERE user_id = $1 ORDER BY position",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| EmailRecord {
            email: r.get(0),
            verified: r.get(1),
        })
        .collect();
        Ok(Some(UserRecord {
            name: row.get(0),
            active: row.get(1),
            emails,
        }))
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<String>, StorageError> {
        let c = self.conn().await?;
        Ok(query(
            &c,
            "reading users by e-mail",
            r#"SELECT DISTINCT user_id COLLATE "C" FROM user_emails
               WHERE verified AND lower(email) = lower($1) ORDER BY 1"#,
            &[&email],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    async fn put_project(&self, id: &str, rec: &ProjectRecord) -> Result<(), StorageError> {
        let what = "writing a project";
        let tx = Tx::begin(self.conn().await?, what).await?;
        exec(
            &tx,
            what,
            "INSERT INTO projects (id, organization) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET organization = EXCLUDED.organization",
            &[&id, &rec.organization],
        )
        .await?;
        exec(
            &tx,
            what,
            "DELETE FROM project_members WHERE project_id = $1",
            &[&id],
        )
        .await?;
        for (pos, m) in (0i32..).zip(&rec.members) {
            exec(
                &tx,
                what,
                "INSERT INTO project_members (project_id, user_id, position) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                &[&id, m, &pos],
            )
            .await?;
        }
        tx.commit(what).await
    }

    async fn project(&self, id: &str) -> Result<Option<ProjectRecord>, StorageError> {
        let c = self.conn().await?;
        let Some(row) = query_opt(
            &c,
            "reading a project",
            "SELECT organization FROM projects WHERE id = $1",
            &[&id],
        )
        .await?
        else {
            return Ok(None);
        };
        let members = query(
            &c,
            "reading a project's members",
            "SELECT user_id FROM project_members WHERE project_id = $1 ORDER BY position",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
        Ok(Some(ProjectRecord {
            organization: row.get(0),
            members,
        }))
    }

    async fn is_member(&self, project: &str, user: &str) -> Result<bool, StorageError> {
        let c = self.conn().await?;
        is_member_on(&c, project, user).await
    }

    async fn put_group(&self, id: &str, project: &str) -> Result<GroupRecord, StorageError> {
        let what = "writing a group";
        let tx = Tx::begin(self.conn().await?, what).await?;
        let (group, _) = put_group_on(&tx, id, project).await?;
        tx.commit(what).await?;
        Ok(group)
    }

    async fn group(&self, id: &str) -> Result<Option<GroupRecord>, StorageError> {
        let c = self.conn().await?;
        group_on(&c, id, false).await
    }

    async fn reset_watermarks(
        &self,
        group: &str,
        integration: Option<&str>,
    ) -> Result<Option<Vec<String>>, StorageError> {
        let what = "resetting a group's watermarks";
        let tx = Tx::begin(self.conn().await?, what).await?;
        // The group's row lock, as the sync's commit takes it: a reset and a commit serialise.
        if query_opt(
            &tx,
            what,
            "SELECT 1 FROM groups WHERE id = $1 FOR UPDATE",
            &[&group],
        )
        .await?
        .is_none()
        {
            tx.commit(what).await?;
            return Ok(None);
        }
        let only: Option<i64> = match integration.map(int_id) {
            // Integration ids are numbers on this backend: another id has no watermarks.
            Some(None) => {
                tx.commit(what).await?;
                return Ok(Some(Vec::new()));
            }
            Some(Some(n)) => Some(n),
            None => None,
        };
        let rows = query(
            &tx,
            what,
            "DELETE FROM group_watermarks WHERE group_id = $1 \
             AND ($2::bigint IS NULL OR integration_id = $2) \
             RETURNING integration_id::text, kind",
            &[&group, &only],
        )
        .await?;
        tx.commit(what).await?;
        let mut removed: Vec<String> = rows
            .iter()
            .map(|r| format!("{}/{}", r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        removed.sort();
        Ok(Some(removed))
    }

    async fn has_group(&self, id: &str) -> Result<bool, StorageError> {
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading a group",
            "SELECT 1 FROM groups WHERE id = $1",
            &[&id],
        )
        .await?
        .is_some())
    }

    async fn link(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<(), StorageError> {
        let id = int_id_w(integration)?;
        let c = self.conn().await?;
        link_on(&c, group, id, issue_key).await?;
        self.link_keys.wrote();
        Ok(())
    }

    async fn unlink(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<bool, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(false);
        };
        let c = self.conn().await?;
        let removed = exec(
            &c,
            "removing a link",
            "DELETE FROM links WHERE integration_id = $1 AND issue_key = $2 AND group_id = $3",
            &[&id, &issue_key, &group],
        )
        .await?;
        self.link_keys.wrote();
        Ok(removed == 1)
    }

    async fn has_links(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(false);
        };
        if self.surely_unlinked(id, issue_key) {
            return Ok(false);
        }
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading links",
            "SELECT 1 FROM links WHERE integration_id = $1 AND issue_key = $2 LIMIT 1",
            &[&id, &issue_key],
        )
        .await?
        .is_some())
    }

    async fn has_move(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(false);
        };
        if self.surely_unlinked(id, issue_key) {
            return Ok(false);
        }
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading moves",
            "SELECT 1 FROM moves WHERE integration_id = $1 AND from_key = $2",
            &[&id, &issue_key],
        )
        .await?
        .is_some())
    }

    async fn is_tracked(&self, integration: &str, issue_key: &str) -> Result<bool, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(false);
        };
        if let Some(known) = self.tracked_by_link_keys(id, issue_key) {
            return Ok(known);
        }
        let c = self.conn().await?;
        Ok(query_opt(
            &c,
            "reading links and moves",
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM links WHERE integration_id = $1 AND issue_key = $2) \
             OR EXISTS (SELECT 1 FROM moves WHERE integration_id = $1 AND from_key = $2)",
            &[&id, &issue_key],
        )
        .await?
        .is_some())
    }

    async fn linked_groups(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> Result<Vec<String>, StorageError> {
        let Some(id) = int_id(integration) else {
            return Ok(Vec::new());
        };
        let c = self.conn().await?;
        linked_group_ids_on(&c, id, issue_key).await
    }

    async fn import_links(&self, items: &[ImportLink]) -> Result<ImportCounts, StorageError> {
        let mut counts = ImportCounts::default();
        let what = "importing links";
        // One transaction for the chunk (all of it or none): the groups item by item (their
        // counts say created, moved or unchanged), then the links in one statement, so the
        // links generation is bumped once and its row is locked only until the commit.
        let mut integrations = Vec::with_capacity(items.len());
        for item in items {
            integrations.push(int_id_w(&item.integration)?);
        }
        let tx = Tx::begin(self.conn().await?, what).await?;
        for item in items {
            if let Some(project) = &item.project {
                match put_group_on(&tx, &item.group, project).await?.1 {
                    GroupPut::Created => counts.groups_created += 1,
                    GroupPut::Moved => counts.groups_moved += 1,
                    GroupPut::Unchanged => counts.groups_unchanged += 1,
                }
            }
        }
        let keys: Vec<&str> = items.iter().map(|i| i.issue_key.as_str()).collect();
        let groups: Vec<&str> = items.iter().map(|i| i.group.as_str()).collect();
        let created = exec(
            &tx,
            what,
            "INSERT INTO links (integration_id, issue_key, group_id) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            &[&integrations, &keys, &groups],
        )
        .await?;
        tx.commit(what).await?;
        self.link_keys.wrote();
        counts.links_created = created;
        counts.links_existing = u64::try_from(items.len())
            .unwrap_or(u64::MAX)
            .saturating_sub(created);
        Ok(counts)
    }
}

/// Whether a user is a member of a project.
pub(super) async fn is_member_on(
    c: &ClientWrapper,
    project: &str,
    user: &str,
) -> Result<bool, StorageError> {
    Ok(query_opt(
        c,
        "reading project membership",
        "SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2",
        &[&project, &user],
    )
    .await?
    .is_some())
}

/// Ids of the groups linked to an issue key, in byte order.
pub(super) async fn linked_group_ids_on(
    c: &ClientWrapper,
    integration: i64,
    issue_key: &str,
) -> Result<Vec<String>, StorageError> {
    Ok(query(
        c,
        "reading linked groups",
        r#"SELECT group_id FROM links WHERE integration_id = $1 AND issue_key = $2
           ORDER BY group_id COLLATE "C""#,
        &[&integration, &issue_key],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
