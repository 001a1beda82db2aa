//! The storage contract the sync logic runs against.
//!
//! [`sync_inbound`](crate::sync_inbound) only **reads** through the first five methods of
//! [`Store`] and **writes** through exactly one call to [`Store::commit`] per event. All
//! decisions are made in this crate; a store only has to answer queries and apply a
//! [`Plan`] atomically with a per-group compare-and-set on the ordering watermark.

use std::future::Future;

use crate::event::{KeyChange, OrderingKey};
use crate::types::{
    ChangeSource, GroupId, IntegrationId, IssueKey, OrganizationId, ProjectId, SyncKind,
    SyncSettings, UserId,
};

/// One organization that installed an integration, with its sync settings.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    /// The organization.
    pub organization: OrganizationId,
    /// Its settings for this integration.
    pub settings: SyncSettings,
}

impl Installation {
    /// Builds an installation record.
    pub fn new(organization: impl Into<OrganizationId>, settings: SyncSettings) -> Self {
        Self {
            organization: organization.into(),
            settings,
        }
    }
}

/// A group linked to a Jira issue through one integration, as returned by
/// [`Store::linked_groups`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedGroup {
    /// The group.
    pub group: GroupId,
    /// The group's project.
    pub project: ProjectId,
    /// The organization of the group's project.
    pub organization: OrganizationId,
    /// The ordering key of the last assignee change applied to this group by this
    /// integration (see [`Store::commit`]), if any.
    pub assignee_watermark: Option<OrderingKey>,
    /// The ordering key of the last status change applied to this group by this integration.
    pub status_watermark: Option<OrderingKey>,
}

impl LinkedGroup {
    /// Builds a record with no watermarks.
    pub fn new(
        group: impl Into<GroupId>,
        project: impl Into<ProjectId>,
        organization: impl Into<OrganizationId>,
    ) -> Self {
        Self {
            group: group.into(),
            project: project.into(),
            organization: organization.into(),
            assignee_watermark: None,
            status_watermark: None,
        }
    }

    /// Sets the watermark of a kind.
    #[must_use]
    pub fn with_watermark(mut self, kind: SyncKind, key: Option<OrderingKey>) -> Self {
        match kind {
            SyncKind::Assignee => self.assignee_watermark = key,
            SyncKind::Status => self.status_watermark = key,
        }
        self
    }

    /// The watermark of a kind.
    pub fn watermark(&self, kind: SyncKind) -> Option<OrderingKey> {
        match kind {
            SyncKind::Assignee => self.assignee_watermark,
            SyncKind::Status => self.status_watermark,
        }
    }
}

/// The change a [`Mutation`] makes to a group. Deliberately exhaustive: a store must handle
/// every variant, and a new variant is a breaking change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// Set the assignee to this user.
    Assign(UserId),
    /// Remove the assignee.
    Deassign,
    /// Set the status to resolved.
    Resolve,
    /// Set the status to unresolved.
    Unresolve,
}

impl Change {
    /// Which watermark the change is guarded by.
    pub fn kind(&self) -> SyncKind {
        match self {
            Self::Assign(_) | Self::Deassign => SyncKind::Assignee,
            Self::Resolve | Self::Unresolve => SyncKind::Status,
        }
    }
}

/// One guarded change to one group.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// The group to change.
    pub group: GroupId,
    /// The change.
    pub change: Change,
    /// The event's ordering key; the guard and the new watermark.
    pub ordering: OrderingKey,
}

impl Mutation {
    /// Builds a mutation.
    pub fn new(group: impl Into<GroupId>, change: Change, ordering: OrderingKey) -> Self {
        Self {
            group: group.into(),
            change,
            ordering,
        }
    }

    /// The watermark kind guarding this mutation.
    pub fn kind(&self) -> SyncKind {
        self.change.kind()
    }
}

/// A recorded issue move: the key moved to, and the ordering key of the event that moved it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMove {
    /// The key the issue moved to.
    pub to: IssueKey,
    /// The ordering key of the moving event.
    pub ordering: OrderingKey,
}

impl KeyMove {
    /// Builds a move record.
    pub fn new(to: impl Into<IssueKey>, ordering: OrderingKey) -> Self {
        Self {
            to: to.into(),
            ordering,
        }
    }
}

/// Everything one event writes, applied by [`Store::commit`] in one atomic step.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The integration the event came from (watermarks are per integration).
    pub integration: IntegrationId,
    /// Recorded with every applied mutation (always `ChangeSource::Integration(integration)`).
    pub source: ChangeSource,
    /// Move the links of `from` to `to` (issue moved); applied before the mutations.
    pub relink: Option<KeyChange>,
    /// The event's ordering key (recorded with a move, see [`Store::moved_to`]).
    pub ordering: OrderingKey,
    /// Guarded group changes, at most one per (group, kind), sorted by group then kind.
    pub mutations: Vec<Mutation>,
}

impl Plan {
    /// An empty plan for an event of an integration, with the integration as source.
    pub fn new(integration: IntegrationId, ordering: OrderingKey) -> Self {
        Self {
            source: ChangeSource::Integration(integration.clone()),
            integration,
            ordering,
            relink: None,
            mutations: Vec::new(),
        }
    }

    /// True when committing would do nothing.
    pub fn is_empty(&self) -> bool {
        self.relink.is_none() && self.mutations.is_empty()
    }
}

/// What [`Store::commit`] did with one [`Mutation`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutationResult {
    /// The guard passed: the watermark was advanced to the mutation's ordering key and the
    /// change source recorded. `changed` tells whether the field's value actually changed
    /// (false when the group already had that assignee or status).
    Applied {
        /// Whether the assignee / status value changed.
        changed: bool,
    },
    /// The group's watermark for this kind was already greater than the mutation's key.
    Stale,
    /// The group's watermark for this kind was equal to the mutation's key.
    Duplicate,
    /// The group no longer exists.
    GroupMissing,
}

impl MutationResult {
    /// The watermark guard of [`Store::commit`] for implementors: `Some(Stale)` or
    /// `Some(Duplicate)` when a mutation with key `ordering` must not be applied to a group
    /// whose current watermark is `current`, `None` when it must be applied.
    ///
    /// The same change ([`OrderingKey::same_change`]: an equal key, or the same changelog id)
    /// is a duplicate; a smaller key is stale.
    pub fn guard(current: Option<OrderingKey>, ordering: OrderingKey) -> Option<Self> {
        match current {
            Some(w) if w.same_change(ordering) => Some(Self::Duplicate),
            Some(w) if w > ordering => Some(Self::Stale),
            _ => None,
        }
    }
}

/// Storage for inbound sync. Implement it on your database; [`crate::memory::InMemoryStore`]
/// is the reference implementation.
///
/// Implementations may write `async fn` for each method; the returned futures must be `Send`.
///
/// # Contract
///
/// **Reads** (may be served from any consistent-enough snapshot; correctness under
/// concurrency is guaranteed by the guard in `commit`, not by the reads):
///
/// * [`installations`](Store::installations): every organization that installed the
///   integration, with its [`SyncSettings`]. Order does not matter.
/// * [`linked_groups`](Store::linked_groups): every group that has a link
///   `(integration, issue key)` — **only links of this integration**, key compared exactly
///   (case-sensitive) — with its project, the project's organization and its two watermarks
///   for this integration. Each group at most once. Must cost O(links of that key), not
///   O(all links). Groups of organizations that did not install the integration may be
///   returned; the logic filters them.
/// * [`users_by_verified_email`](Store::users_by_verified_email): ids of **active** users
///   having a **verified** e-mail equal to `email` ignoring case (compare
///   `str::to_lowercase` of both sides). Not limited to one organization. Any order.
/// * [`mapped_user`](Store::mapped_user): the user an explicit mapping of this integration
///   assigns to a Jira username, user key or account id (one namespace; exact match), if any,
///   **and only if that user is active**.
/// * [`is_project_member`](Store::is_project_member): whether the user is a member of the
///   project (the membership model is the store's: Sentry uses active team membership).
///
/// **Write**: [`commit`](Store::commit) applies a [`Plan`] as **one atomic transaction**
/// (all of it or none of it is visible, also after a crash), and for every mutation decides
/// **inside that transaction**:
///
/// 1. If the group does not exist: [`MutationResult::GroupMissing`], nothing written.
/// 2. Let `w` be the group's watermark for `(plan.integration, mutation.kind())`.
///    If `w` names the same change ([`OrderingKey::same_change`]: `w == mutation.ordering`, or
///    the same changelog id): [`MutationResult::Duplicate`]; else if `w > mutation.ordering`
///    ([`OrderingKey`]'s order: event time, then changelog id): [`MutationResult::Stale`];
///    nothing written for that mutation. [`MutationResult::guard`] decides exactly this.
/// 3. Otherwise set the field (`Assign(u)`: assignee = u; `Deassign`: assignee = none;
///    `Resolve` / `Unresolve`: status), set the watermark to `mutation.ordering`, record
///    `plan.source` as the source of that field's last change, and return
///    [`MutationResult::Applied`] with `changed` = whether the value differs from before.
///    The watermark and source are written even when the value did not change.
///
/// Before the mutations, if `plan.relink` is `Some(KeyChange { from, to })`, every link
/// `(plan.integration, from)` becomes `(plan.integration, to)` (a group already linked to `to`
/// keeps one link). Relinking an absent key is a no-op, so it is idempotent.
/// A store that implements [`moved_to`](Store::moved_to) also records, in the same
/// transaction and **even when no link moved**, the move `from → KeyMove { to,
/// ordering: plan.ordering }`, unless `from` already has a recorded move with a greater
/// ordering key (the newest move of a key wins).
///
/// **Optional** (default: not tracked): [`moved_to`](Store::moved_to) returns the key that
/// `key` was relinked to by an earlier commit. With it, an event that names an old key and is
/// delivered after the move still reaches the moved groups, and moves delivered out of order
/// still end at the newest key. Without it, such an event finds no linked groups.
///
/// The result vector has exactly one entry per mutation, in the same order. A transaction
/// conflict should be retried by the implementation (or reported as an error, in which case
/// nothing of the plan may be visible). Errors are returned as `Self::Error`; the logic never
/// retries on its own.
pub trait Store {
    /// The store's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Organizations that installed `integration`, with their settings.
    fn installations(
        &self,
        integration: &IntegrationId,
    ) -> impl Future<Output = Result<Vec<Installation>, Self::Error>> + Send;

    /// Groups linked to `(integration, key)`.
    fn linked_groups(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> impl Future<Output = Result<Vec<LinkedGroup>, Self::Error>> + Send;

    /// Active users with a verified e-mail equal to `email`, ignoring case.
    fn users_by_verified_email(
        &self,
        email: &str,
    ) -> impl Future<Output = Result<Vec<UserId>, Self::Error>> + Send;

    /// The active user explicitly mapped to a Jira username / user key / account id.
    fn mapped_user(
        &self,
        integration: &IntegrationId,
        jira_user: &str,
    ) -> impl Future<Output = Result<Option<UserId>, Self::Error>> + Send;

    /// Whether `user` is a member of `project`.
    fn is_project_member(
        &self,
        project: &ProjectId,
        user: &UserId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Where `key` of `integration` was moved to by a committed relink, if the store tracks
    /// moves. The default tracks nothing and returns `Ok(None)`.
    fn moved_to(
        &self,
        integration: &IntegrationId,
        key: &IssueKey,
    ) -> impl Future<Output = Result<Option<KeyMove>, Self::Error>> + Send {
        let _ = (integration, key);
        async { Ok(None) }
    }

    /// Applies a plan atomically; see the trait docs for the exact semantics.
    fn commit(
        &self,
        plan: &Plan,
    ) -> impl Future<Output = Result<Vec<MutationResult>, Self::Error>> + Send;
}
