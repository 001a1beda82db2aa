//! What a call to [`crate::sync_inbound`] did, per group, and its errors.

use std::fmt;

use crate::event::OrderingKey;
use crate::types::{GroupId, IntegrationId, IssueKey, OrganizationId, SyncKind, UserId};

/// Why a group was left alone.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SkipReason {
    /// The group's organization has not installed this integration (a leftover link).
    NotInstalled,
    /// The organization has this sync kind switched off.
    SyncDisabled,
    /// The Jira user has no usable e-mail (hidden or masked) and no explicit mapping matched.
    EmailHidden,
    /// No active user has that verified e-mail, and no explicit mapping matched.
    NoMatchingUser,
    /// Users matched, but none is a member of the group's project.
    NotProjectMember,
    /// The status change neither enters nor leaves a resolved status.
    NoResolutionChange,
    /// A newer change of this kind was already applied to the group.
    Stale,
    /// This very change (same ordering key) was already applied to the group.
    Duplicate,
    /// The group disappeared between reading and committing.
    GroupMissing,
}

impl SkipReason {
    /// A stable snake_case name, e.g. `"not_project_member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotInstalled => "not_installed",
            Self::SyncDisabled => "sync_disabled",
            Self::EmailHidden => "email_hidden",
            Self::NoMatchingUser => "no_matching_user",
            Self::NotProjectMember => "not_project_member",
            Self::NoResolutionChange => "no_resolution_change",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::GroupMissing => "group_missing",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one group for one [`SyncKind`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case", tag = "result"))]
pub enum GroupResult {
    /// The group is now assigned to this user (it was not before).
    Assigned {
        /// The new assignee.
        user: UserId,
    },
    /// The group's assignee was removed.
    Deassigned,
    /// The group was resolved.
    Resolved,
    /// The group was unresolved.
    Unresolved,
    /// The change applied but the group already had that value (watermark advanced).
    Unchanged,
    /// The group was left alone.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
}

impl GroupResult {
    /// `"assigned"`, `"deassigned"`, `"resolved"`, `"unresolved"`, `"unchanged"` or `"skipped"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Assigned { .. } => "assigned",
            Self::Deassigned => "deassigned",
            Self::Resolved => "resolved",
            Self::Unresolved => "unresolved",
            Self::Unchanged => "unchanged",
            Self::Skipped { .. } => "skipped",
        }
    }

    /// True when the group's value changed.
    pub fn changed(&self) -> bool {
        matches!(
            self,
            Self::Assigned { .. } | Self::Deassigned | Self::Resolved | Self::Unresolved
        )
    }

    /// The skip reason, if skipped.
    pub fn skip_reason(&self) -> Option<SkipReason> {
        match self {
            Self::Skipped { reason } => Some(*reason),
            _ => None,
        }
    }
}

/// The outcome for one group and one kind.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GroupOutcome {
    /// The group.
    pub group: GroupId,
    /// The group's organization.
    pub organization: OrganizationId,
    /// Assignee or status.
    pub kind: SyncKind,
    /// What happened.
    pub result: GroupResult,
}

/// The result of one [`crate::sync_inbound`] call.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SyncOutcome {
    /// The integration of the event.
    pub integration: IntegrationId,
    /// The issue key of the event.
    pub issue_key: IssueKey,
    /// The event's ordering key.
    pub ordering: OrderingKey,
    /// Per group and kind, sorted by group id then kind (assignee before status).
    /// Empty when no group is linked or the event carries no assignee or status change.
    pub groups: Vec<GroupOutcome>,
    /// Groups whose link moved from the old to the new key (issue moved), sorted.
    pub relinked: Vec<GroupId>,
}

impl SyncOutcome {
    /// The outcomes of one group.
    pub fn for_group<'a>(&'a self, group: &'a GroupId) -> impl Iterator<Item = &'a GroupOutcome> {
        self.groups.iter().filter(move |o| &o.group == group)
    }

    /// The result of one group for one kind, if the group was considered.
    pub fn result(&self, group: &str, kind: SyncKind) -> Option<&GroupResult> {
        self.groups
            .iter()
            .find(|o| o.group.as_str() == group && o.kind == kind)
            .map(|o| &o.result)
    }

    /// True when any group's value changed or any link moved.
    pub fn changed_anything(&self) -> bool {
        !self.relinked.is_empty() || self.groups.iter().any(|o| o.result.changed())
    }
}

/// Errors of [`crate::sync_inbound`].
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E> {
    /// The store failed; nothing of this event was committed if the failure happened in
    /// `commit` (the store guarantees atomicity). Retry the event later; it is idempotent.
    #[error("store error: {0}; nothing of this event was applied, retry it later")]
    Store(#[source] E),
    /// The event is unusable; fix the code that builds it from the webhook.
    #[error("invalid inbound event: {0}")]
    InvalidEvent(&'static str),
    /// The store broke the `commit` contract (wrong number of results). Fix the store.
    #[error(
        "store contract violation: commit returned {got} results for {expected} mutations; fix the Store implementation"
    )]
    StoreContract {
        /// Mutations in the plan.
        expected: usize,
        /// Results returned.
        got: usize,
    },
}
