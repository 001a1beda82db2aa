//! Domain types: string ids, group status, per-organization sync settings and status mapping.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[cfg_attr(feature = "serde", serde(transparent))]
        pub struct $name(String);

        impl $name {
            /// Wraps an id. Ids are opaque strings chosen by the caller; they are compared exactly.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An organization of the tracker (Sentry's `Organization`).
    OrganizationId
);
string_id!(
    /// A user of the tracker.
    UserId
);
string_id!(
    /// A project of the tracker; it belongs to one organization and has member users.
    ProjectId
);
string_id!(
    /// A group: the tracker's issue (Sentry's `Group`); it belongs to one project.
    GroupId
);
string_id!(
    /// An installed Jira integration (one Jira instance).
    IntegrationId
);
string_id!(
    /// A Jira issue key such as `APP-123`. Compared exactly (case-sensitive), as Sentry does.
    IssueKey
);

/// Resolution status of a group.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum GroupStatus {
    /// Open (Sentry's `UNRESOLVED`).
    #[default]
    Unresolved,
    /// Resolved (Sentry's `RESOLVED`).
    Resolved,
}

impl GroupStatus {
    /// `"unresolved"` or `"resolved"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unresolved => "unresolved",
            Self::Resolved => "resolved",
        }
    }
}

impl fmt::Display for GroupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two independent things an inbound event can sync. Each has its own ordering watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum SyncKind {
    /// Jira assignee to group assignee (Sentry `inbound_assignee`, config key `sync_reverse_assignment`).
    Assignee,
    /// Jira status to group status (Sentry `inbound_status`, config key `sync_status_reverse`).
    Status,
}

impl SyncKind {
    /// `"assignee"` or `"status"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assignee => "assignee",
            Self::Status => "status",
        }
    }
}

impl fmt::Display for SyncKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change to a group. Every change this crate makes records
/// `ChangeSource::Integration(<the integration>)`, so an outbound sync can recognise
/// its own echo (Sentry §5.5 `AssignmentSource`) with [`ChangeSource::is_echo_of`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "lowercase", tag = "type", content = "id")
)]
pub enum ChangeSource {
    /// An inbound sync from this integration.
    Integration(IntegrationId),
    /// A user acting in the tracker.
    User(UserId),
}

impl ChangeSource {
    /// True when the change came from `integration` itself, so syncing it back out
    /// to the same integration would be an echo.
    pub fn is_echo_of(&self, integration: &IntegrationId) -> bool {
        matches!(self, Self::Integration(i) if i == integration)
    }
}

/// Per-Jira-project status mapping for inbound status sync.
///
/// For a Jira project key that has an entry, the set of Jira **status ids** listed there
/// count as "resolved", and this decides instead of the status category: moving into the
/// set resolves, moving out of it unresolves, anything else does nothing. Projects without
/// an entry use the status category (`done`), as Sentry does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct StatusMapping {
    projects: BTreeMap<String, BTreeSet<String>>,
}

impl StatusMapping {
    /// An empty mapping (every project uses the status category).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the resolved status ids of a Jira project key.
    #[must_use]
    pub fn with_project<I, S>(
        mut self,
        project_key: impl Into<String>,
        resolved_status_ids: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.insert(project_key, resolved_status_ids);
        self
    }

    /// Adds (or replaces) the resolved status ids of a Jira project key.
    pub fn insert<I, S>(&mut self, project_key: impl Into<String>, resolved_status_ids: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.projects.insert(
            project_key.into(),
            resolved_status_ids.into_iter().map(Into::into).collect(),
        );
    }

    /// The resolved status ids configured for a Jira project key, if any.
    pub fn resolved_statuses(&self, project_key: &str) -> Option<&BTreeSet<String>> {
        self.projects.get(project_key)
    }

    /// Iterates over `(project key, resolved status ids)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.projects.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when no project has a mapping.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }
}

/// Sync settings of one organization for one installed integration
/// (Sentry `OrganizationIntegration.config`, §1.4). Everything is off by default.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct SyncSettings {
    /// `sync_reverse_assignment`: Jira assignee changes assign / de-assign groups.
    pub sync_reverse_assignment: bool,
    /// `sync_status_reverse`: Jira status changes resolve / unresolve groups.
    pub sync_status_reverse: bool,
    /// Optional per-Jira-project status mapping for inbound status (empty: use categories).
    pub status_mapping: StatusMapping,
}

impl SyncSettings {
    /// All sync off, no mapping.
    pub fn new() -> Self {
        Self::default()
    }

    /// Both inbound assignee and inbound status sync on.
    pub fn all_inbound() -> Self {
        Self::new()
            .with_reverse_assignment(true)
            .with_status_reverse(true)
    }

    /// Sets `sync_reverse_assignment`.
    #[must_use]
    pub fn with_reverse_assignment(mut self, on: bool) -> Self {
        self.sync_reverse_assignment = on;
        self
    }

    /// Sets `sync_status_reverse`.
    #[must_use]
    pub fn with_status_reverse(mut self, on: bool) -> Self {
        self.sync_status_reverse = on;
        self
    }

    /// Sets the per-project status mapping.
    #[must_use]
    pub fn with_status_mapping(mut self, mapping: StatusMapping) -> Self {
        self.status_mapping = mapping;
        self
    }

    /// Whether a sync kind is enabled.
    pub fn enabled(&self, kind: SyncKind) -> bool {
        match kind {
            SyncKind::Assignee => self.sync_reverse_assignment,
            SyncKind::Status => self.sync_status_reverse,
        }
    }
}
