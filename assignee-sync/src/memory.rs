//! [`InMemoryStore`]: the reference [`Store`] implementation, with seeding helpers for tests,
//! benches and documentation.
//!
//! All data sits behind one mutex, so [`Store::commit`] is trivially atomic. Lookups are
//! indexed: links by `(integration, key)`, users by lower-cased verified e-mail, so one event
//! costs O(links of its key), independent of the total number of links.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::event::OrderingKey;
use crate::store::{Change, Installation, KeyMove, LinkedGroup, MutationResult, Plan, Store};
use crate::types::{
    ChangeSource, GroupId, GroupStatus, IntegrationId, IssueKey, OrganizationId, ProjectId,
    SyncKind, SyncSettings, UserId,
};

/// Errors of [`InMemoryStore`]: seeding with unknown references, or an injected failure.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// A project id that was never added.
    #[error("unknown project `{0}`: add it with `add_project` first")]
    UnknownProject(ProjectId),
    /// A user id that was never added.
    #[error("unknown user `{0}`: add it with `add_user` first")]
    UnknownUser(UserId),
    /// A group id that was never added.
    #[error("unknown group `{0}`: add it with `add_group` first")]
    UnknownGroup(GroupId),
    /// A failure requested with [`InMemoryStore::fail_next_commit`] (for testing atomicity).
    #[error("injected commit failure (requested by fail_next_commit); nothing was applied")]
    InjectedCommitFailure,
}

/// A group's state as seen by [`InMemoryStore::group`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group.
    pub id: GroupId,
    /// Its project.
    pub project: ProjectId,
    /// Its status.
    pub status: GroupStatus,
    /// Its assignee.
    pub assignee: Option<UserId>,
    /// Who made the last assignee change (none if never changed).
    pub assignee_source: Option<ChangeSource>,
    /// Who made the last status change (none if never changed).
    pub status_source: Option<ChangeSource>,
}

#[derive(Debug, Default)]
struct UserRecord {
    active: bool,
    /// `(address as given, verified)`.
    emails: Vec<(String, bool)>,
}

#[derive(Debug)]
struct ProjectRecord {
    organization: OrganizationId,
    members: HashSet<UserId>,
}

#[derive(Debug)]
struct GroupRecord {
    project: ProjectId,
    status: GroupStatus,
    assignee: Option<UserId>,
    assignee_source: Option<ChangeSource>,
    status_source: Option<ChangeSource>,
    /// `(integration, [assignee watermark, status watermark])`; usually 0 or 1 entries.
    watermarks: Vec<(IntegrationId, [Option<OrderingKey>; 2])>,
}

impl GroupRecord {
    fn watermark(&self, integration: &IntegrationId, kind: SyncKind) -> Option<OrderingKey> {
        self.watermarks
            .iter()
            .find(|(i, _)| i == integration)
            .and_then(|(_, w)| w[kind_index(kind)])
    }

    fn set_watermark(&mut self, integration: &IntegrationId, kind: SyncKind, key: OrderingKey) {
        if let Some((_, w)) = self.watermarks.iter_mut().find(|(i, _)| i == integration) {
            w[kind_index(kind)] = Some(key);
        } else {
            let mut w = [None, None];
            w[kind_index(kind)] = Some(key);
            self.watermarks.push((integration.clone(), w));
        }
    }
}

fn kind_index(kind: SyncKind) -> usize {
    match kind {
        SyncKind::Assignee => 0,
        SyncKind::Status => 1,
    }
}

#[derive(Debug, Default)]
struct State {
    organizations: BTreeSet<OrganizationId>,
    installs: HashMap<IntegrationId, BTreeMap<OrganizationId, SyncSettings>>,
    users: HashMap<UserId, UserRecord>,
    /// Lower-cased verified e-mail → users (active or not; filtered on read).
    verified_emails: HashMap<String, BTreeSet<UserId>>,
    projects: HashMap<ProjectId, ProjectRecord>,
    groups: HashMap<GroupId, GroupRecord>,
    /// integration → issue key → linked groups.
    links: HashMap<IntegrationId, HashMap<IssueKey, BTreeSet<GroupId>>>,
    /// integration → Jira username / user key / account id → user.
    mappings: HashMap<IntegrationId, HashMap<String, UserId>>,
    /// integration → old key → key it was moved to.
    moves: HashMap<IntegrationId, HashMap<IssueKey, KeyMove>>,
    link_count: usize,
    fail_next_commit: bool,
}

/// An in-memory [`Store`] (thread-safe; cheap to share by reference or in an `Arc`).
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- seeding -----

    /// Adds an organization (idempotent). Projects add their organization implicitly.
    pub fn add_organization(&self, org: impl Into<OrganizationId>) {
        self.lock().organizations.insert(org.into());
    }

    /// Installs `integration` for `org` with `settings` (replaces earlier settings).
    pub fn install(
        &self,
        integration: impl Into<IntegrationId>,
        org: impl Into<OrganizationId>,
        settings: SyncSettings,
    ) {
        let org = org.into();
        let mut s = self.lock();
        s.organizations.insert(org.clone());
        s.installs
            .entry(integration.into())
            .or_default()
            .insert(org, settings);
    }

    /// Removes the installation of `integration` for `org` (links stay, as in Sentry).
    pub fn uninstall(&self, integration: &IntegrationId, org: &OrganizationId) {
        if let Some(m) = self.lock().installs.get_mut(integration) {
            m.remove(org);
        }
    }

    /// Adds (or re-activates / deactivates) a user. E-mails are added with [`Self::add_email`].
    pub fn add_user(&self, user: impl Into<UserId>, active: bool) {
        self.lock().users.entry(user.into()).or_default().active = active;
    }

    /// Sets a user's active flag.
    pub fn set_user_active(&self, user: &UserId, active: bool) -> Result<(), MemoryError> {
        let mut s = self.lock();
        let u = s
            .users
            .get_mut(user)
            .ok_or_else(|| MemoryError::UnknownUser(user.clone()))?;
        u.active = active;
        Ok(())
    }

    /// Adds an e-mail address to a user; only verified addresses are used for matching.
    pub fn add_email(
        &self,
        user: impl Into<UserId>,
        email: impl Into<String>,
        verified: bool,
    ) -> Result<(), MemoryError> {
        let user = user.into();
        let email = email.into();
        let mut s = self.lock();
        let u = s
            .users
            .get_mut(&user)
            .ok_or_else(|| MemoryError::UnknownUser(user.clone()))?;
        u.emails.push((email.clone(), verified));
        if verified {
            s.verified_emails
                .entry(email.to_lowercase())
                .or_default()
                .insert(user);
        }
        Ok(())
    }

    /// Adds a project of an organization (re-adding keeps its members).
    pub fn add_project(&self, project: impl Into<ProjectId>, org: impl Into<OrganizationId>) {
        let org = org.into();
        let mut s = self.lock();
        s.organizations.insert(org.clone());
        s.projects
            .entry(project.into())
            .and_modify(|p| p.organization = org.clone())
            .or_insert_with(|| ProjectRecord {
                organization: org,
                members: HashSet::new(),
            });
    }

    /// Makes a user a member of a project.
    pub fn add_member(
        &self,
        project: impl Into<ProjectId>,
        user: impl Into<UserId>,
    ) -> Result<(), MemoryError> {
        let (project, user) = (project.into(), user.into());
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(MemoryError::UnknownUser(user));
        }
        s.projects
            .get_mut(&project)
            .ok_or(MemoryError::UnknownProject(project))?
            .members
            .insert(user);
        Ok(())
    }

    /// Removes a user from a project.
    pub fn remove_member(&self, project: &ProjectId, user: &UserId) {
        if let Some(p) = self.lock().projects.get_mut(project) {
            p.members.remove(user);
        }
    }

    /// Adds an unresolved, unassigned group to a project (re-adding keeps its state).
    pub fn add_group(
        &self,
        group: impl Into<GroupId>,
        project: impl Into<ProjectId>,
    ) -> Result<(), MemoryError> {
        let (group, project) = (group.into(), project.into());
        let mut s = self.lock();
        if !s.projects.contains_key(&project) {
            return Err(MemoryError::UnknownProject(project));
        }
        s.groups.entry(group).or_insert_with(|| GroupRecord {
            project,
            status: GroupStatus::Unresolved,
            assignee: None,
            assignee_source: None,
            status_source: None,
            watermarks: Vec::new(),
        });
        Ok(())
    }

    /// Deletes a group (its links are ignored from then on).
    pub fn remove_group(&self, group: &GroupId) {
        self.lock().groups.remove(group);
    }

    /// Links a group to a Jira issue of an integration (idempotent).
    pub fn link(
        &self,
        group: impl Into<GroupId>,
        integration: impl Into<IntegrationId>,
        key: impl Into<IssueKey>,
    ) -> Result<(), MemoryError> {
        let group = group.into();
        let mut s = self.lock();
        if !s.groups.contains_key(&group) {
            return Err(MemoryError::UnknownGroup(group));
        }
        let inserted = s
            .links
            .entry(integration.into())
            .or_default()
            .entry(key.into())
            .or_default()
            .insert(group);
        if inserted {
            s.link_count += 1;
        }
        Ok(())
    }

    /// Removes a link (no-op when absent).
    pub fn unlink(&self, group: &GroupId, integration: &IntegrationId, key: &IssueKey) {
        let mut s = self.lock();
        let removed = s
            .links
            .get_mut(integration)
            .and_then(|m| m.get_mut(key))
            .is_some_and(|set| set.remove(group));
        if removed {
            s.link_count -= 1;
        }
    }

    /// Maps a Jira username, user key or account id of an integration to a user.
    pub fn map_user(
        &self,
        integration: impl Into<IntegrationId>,
        jira_user: impl Into<String>,
        user: impl Into<UserId>,
    ) -> Result<(), MemoryError> {
        let user = user.into();
        let mut s = self.lock();
        if !s.users.contains_key(&user) {
            return Err(MemoryError::UnknownUser(user));
        }
        s.mappings
            .entry(integration.into())
            .or_default()
            .insert(jira_user.into(), user);
        Ok(())
    }

    /// Sets a group's assignee as `source` did (e.g. a user acting in the tracker).
    /// Does not touch the inbound watermarks.
    pub fn set_assignee(
        &self,
        group: &GroupId,
        assignee: Option<UserId>,
        source: ChangeSource,
    ) -> Result<(), MemoryError> {
        let mut s = self.lock();
        let g = s
            .groups
            .get_mut(group)
            .ok_or_else(|| MemoryError::UnknownGroup(group.clone()))?;
        g.assignee = assignee;
        g.assignee_source = Some(source);
        Ok(())
    }

    /// Sets a group's status as `source` did. Does not touch the inbound watermarks.
    pub fn set_status(
        &self,
        group: &GroupId,
        status: GroupStatus,
        source: ChangeSource,
    ) -> Result<(), MemoryError> {
        let mut s = self.lock();
        let g = s
            .groups
            .get_mut(group)
            .ok_or_else(|| MemoryError::UnknownGroup(group.clone()))?;
        g.status = status;
        g.status_source = Some(source);
        Ok(())
    }

    /// Makes the next [`Store::commit`] fail with [`MemoryError::InjectedCommitFailure`]
    /// without applying anything.
    pub fn fail_next_commit(&self) {
        self.lock().fail_next_commit = true;
    }

    // ----- inspection -----

    /// A group's current state.
    pub fn group(&self, group: &GroupId) -> Option<GroupSnapshot> {
        let s = self.lock();
        s.groups.get(group).map(|g| GroupSnapshot {
            id: group.clone(),
            project: g.project.clone(),
            status: g.status,
            assignee: g.assignee.clone(),
            assignee_source: g.assignee_source.clone(),
            status_source: g.status_source.clone(),
        })
    }

    /// All groups' states, sorted by id.
    pub fn groups(&self) -> Vec<GroupSnapshot> {
        let mut ids: Vec<GroupId> = self.lock().groups.keys().cloned().collect();
        ids.sort();
        ids.iter().filter_map(|g| self.group(g)).collect()
    }

    /// A group's watermark for an integration and kind.
    pub fn watermark(
        &self,
        group: &GroupId,
        integration: &IntegrationId,
        kind: SyncKind,
    ) -> Option<OrderingKey> {
        self.lock()
            .groups
            .get(group)
            .and_then(|g| g.watermark(integration, kind))
    }

    /// The groups linked to `(integration, key)`, sorted.
    pub fn links_of(&self, integration: &IntegrationId, key: &IssueKey) -> Vec<GroupId> {
        self.lock()
            .links
            .get(integration)
            .and_then(|m| m.get(key))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The total number of links.
    pub fn link_count(&self) -> usize {
        self.lock().link_count
    }
}

impl Store for InMemoryStore {
    type Error = MemoryError;

    async fn installations(
        &self,
        integration: &IntegrationId,
    ) -> Result<Vec<Installation>, MemoryError> {
        Ok(self
            .lock()
            .installs
            .get(integration)
            .map(|m| {
                m.iter()
                    .map(|(org, settings)| Installation::new(org.clone(), settings.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn linked_groups(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Vec<LinkedGroup>, MemoryError> {
        let s = self.lock();
        let Some(ids) = s.links.get(integration).and_then(|m| m.get(key)) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .iter()
            .filter_map(|id| {
                let g = s.groups.get(id)?;
                let p = s.projects.get(&g.project)?;
                Some(
                    LinkedGroup::new(id.clone(), g.project.clone(), p.organization.clone())
                        .with_watermark(
                            SyncKind::Assignee,
                            g.watermark(integration, SyncKind::Assignee),
                        )
                        .with_watermark(
                            SyncKind::Status,
                            g.watermark(integration, SyncKind::Status),
                        ),
                )
            })
            .collect())
    }

    async fn users_by_verified_email(&self, email: &str) -> Result<Vec<UserId>, MemoryError> {
        let s = self.lock();
        Ok(s.verified_emails
            .get(&email.to_lowercase())
            .map(|ids| {
                ids.iter()
                    .filter(|u| s.users.get(*u).is_some_and(|r| r.active))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn mapped_user(
        &self,
        integration: &IntegrationId,
        jira_user: &str,
    ) -> Result<Option<UserId>, MemoryError> {
        let s = self.lock();
        Ok(s.mappings
            .get(integration)
            .and_then(|m| m.get(jira_user))
            .filter(|u| s.users.get(*u).is_some_and(|r| r.active))
            .cloned())
    }

    async fn is_project_member(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> Result<bool, MemoryError> {
        Ok(self
            .lock()
            .projects
            .get(project)
            .is_some_and(|p| p.members.contains(user)))
    }

    async fn moved_to(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> Result<Option<KeyMove>, MemoryError> {
        Ok(self
            .lock()
            .moves
            .get(integration)
            .and_then(|m| m.get(key))
            .cloned())
    }

    async fn commit(&self, plan: &Plan) -> Result<Vec<MutationResult>, MemoryError> {
        let mut guard = self.lock();
        let s = &mut *guard;
        if std::mem::take(&mut s.fail_next_commit) {
            return Err(MemoryError::InjectedCommitFailure);
        }
        if let Some(k) = &plan.relink {
            let moves = s.moves.entry(plan.integration.clone()).or_default();
            if moves
                .get(&k.from)
                .is_none_or(|m| m.ordering <= plan.ordering)
            {
                moves.insert(k.from.clone(), KeyMove::new(k.to.clone(), plan.ordering));
            }
        }
        if let Some(k) = &plan.relink
            && let Some(by_key) = s.links.get_mut(&plan.integration)
            && let Some(moved) = by_key.remove(&k.from)
        {
            let target = by_key.entry(k.to.clone()).or_default();
            for g in moved {
                if !target.insert(g) {
                    s.link_count -= 1;
                }
            }
        }
        let mut results = Vec::with_capacity(plan.mutations.len());
        for m in &plan.mutations {
            let Some(g) = s.groups.get_mut(&m.group) else {
                results.push(MutationResult::GroupMissing);
                continue;
            };
            let kind = m.kind();
            if let Some(skip) =
                MutationResult::guard(g.watermark(&plan.integration, kind), m.ordering)
            {
                results.push(skip);
                continue;
            }
            let changed = match &m.change {
                Change::Assign(u) => {
                    let changed = g.assignee.as_ref() != Some(u);
                    g.assignee = Some(u.clone());
                    changed
                }
                Change::Deassign => g.assignee.take().is_some(),
                Change::Resolve => {
                    std::mem::replace(&mut g.status, GroupStatus::Resolved) != GroupStatus::Resolved
                }
                Change::Unresolve => {
                    std::mem::replace(&mut g.status, GroupStatus::Unresolved)
                        != GroupStatus::Unresolved
                }
            };
            match kind {
                SyncKind::Assignee => g.assignee_source = Some(plan.source.clone()),
                SyncKind::Status => g.status_source = Some(plan.source.clone()),
            }
            g.set_watermark(&plan.integration, kind, m.ordering);
            results.push(MutationResult::Applied { changed });
        }
        Ok(results)
    }
}
