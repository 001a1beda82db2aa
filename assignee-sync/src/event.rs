//! The inbound event a caller fills from a Jira webhook delivery.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::private::PrivOwnedStr;
use crate::types::{IntegrationId, IssueKey};

/// Orders the events of one Jira instance: **event time first, the changelog id breaks ties**.
///
/// * The timestamp (milliseconds since the Unix epoch: the webhook's top-level `timestamp`,
///   the time Jira created the event) decides first; the later event is the newer one.
/// * Between events of the same millisecond, the changelog id (`changelog.id`) decides; an
///   event without one orders before every event of that millisecond that has one.
///
/// Why not the changelog id first: on a Jira Data Center cluster every node takes its own bank
/// of ids from the shared sequence table (the entity engine's sequence bank), so node A can
/// write changelog 10 050 *after* node B wrote 10 150. Ordered by id, A's newer change would be
/// dropped as stale. Event time is comparable across nodes because Jira Data Center requires the
/// nodes' clocks to be synchronised; clock skew between nodes is therefore the error margin of
/// this order: two changes of one issue made on different nodes within the skew may be applied
/// in the wrong order (the one from the node whose clock is ahead wins).
///
/// Both parts take part in comparisons. The ordering guards ([`crate::decide::guard`],
/// [`crate::MutationResult::guard`]) also count a key with the watermark's changelog id as a
/// duplicate whatever its timestamp ([`OrderingKey::same_change`]).
///
/// This is a total order; `Eq` and `Hash` agree with it.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OrderingKey {
    changelog_id: Option<u64>,
    timestamp_ms: i64,
}

impl OrderingKey {
    /// Builds a key from an optional changelog id and a timestamp in ms.
    pub fn new(changelog_id: Option<u64>, timestamp_ms: i64) -> Self {
        Self {
            changelog_id,
            timestamp_ms,
        }
    }

    /// A key from a changelog id (timestamp 0).
    pub fn changelog(changelog_id: u64) -> Self {
        Self::new(Some(changelog_id), 0)
    }

    /// A key from a timestamp only.
    pub fn timestamp(timestamp_ms: i64) -> Self {
        Self::new(None, timestamp_ms)
    }

    /// The changelog id, if any.
    pub fn changelog_id(self) -> Option<u64> {
        self.changelog_id
    }

    /// The timestamp in ms.
    pub fn timestamp_ms(self) -> i64 {
        self.timestamp_ms
    }

    /// Whether `self` and `other` name the same Jira change: equal keys, or the same changelog
    /// id (Jira's changelog ids are unique within an instance, whichever node wrote them). The
    /// ordering guard treats a delivery of the same change as a duplicate even when its
    /// timestamp differs (a redelivery serialised again), so it neither applies again nor moves
    /// the watermark.
    pub fn same_change(self, other: Self) -> bool {
        self == other || (self.changelog_id.is_some() && self.changelog_id == other.changelog_id)
    }

    /// The projection that comparisons use: time, then changelog id (`None` first).
    fn rank(self) -> (i64, Option<u64>) {
        (self.timestamp_ms, self.changelog_id)
    }
}

impl PartialEq for OrderingKey {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}

impl Eq for OrderingKey {}

impl PartialOrd for OrderingKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderingKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl Hash for OrderingKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
    }
}

impl fmt::Display for OrderingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.changelog_id {
            Some(id) => write!(f, "timestamp {}ms, changelog {id}", self.timestamp_ms),
            None => write!(f, "timestamp {}ms", self.timestamp_ms),
        }
    }
}

/// The Jira user an issue was assigned to, as far as the webhook tells.
///
/// Jira Server / Data Center fill `name` (username) and `key` (user key); Cloud fills
/// `account_id`. `email` is absent or masked ("bob at example dot com") when the instance
/// hides e-mail addresses; a value without `@` is treated as hidden.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct JiraUser {
    /// Username (`assignee.name`).
    pub name: Option<String>,
    /// User key (`assignee.key`), stable across renames on Server / DC.
    pub key: Option<String>,
    /// Cloud account id (`assignee.accountId`).
    pub account_id: Option<String>,
    /// `assignee.emailAddress`.
    pub email: Option<String>,
    /// `assignee.displayName`.
    pub display_name: Option<String>,
}

impl JiraUser {
    /// A user with nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the username.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the user key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the Cloud account id.
    #[must_use]
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Sets the e-mail address.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_display_name(mut self, display_name: impl Into<String>) -> Self {
        self.display_name = Some(display_name.into());
        self
    }

    /// The e-mail address if it is usable: trimmed, non-empty and containing `@`.
    /// Hidden or masked addresses give `None`.
    pub fn usable_email(&self) -> Option<&str> {
        let email = self.email.as_deref()?.trim();
        (!email.is_empty() && email.contains('@')).then_some(email)
    }

    /// The identifiers tried against the explicit user mapping, in order:
    /// user key, username, account id (empty values skipped, duplicates removed).
    pub fn mapping_candidates(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for v in [&self.key, &self.name, &self.account_id]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

/// What happened to the assignee.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum AssigneeChange {
    /// The assignee was removed (`issue.fields.assignee` null or absent).
    Cleared,
    /// The issue was assigned to this Jira user.
    Set(JiraUser),
}

/// A Jira status category key (`statusCategory.key`). Unknown keys are kept, in a hidden
/// variant: read any key with [`key`](Self::key), ask [`is_unknown`](Self::is_unknown).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(from = "String", into = "String"))]
pub enum StatusCategory {
    /// `new` (To Do).
    New,
    /// `indeterminate` (In Progress).
    Indeterminate,
    /// `done`.
    Done,
    /// Any other key, kept verbatim (e.g. `undefined`): read it with [`key`](Self::key).
    ///
    /// Do not match on this variant; a later version may add the key as a variant.
    #[doc(hidden)]
    _Custom(PrivOwnedStr),
}

impl StatusCategory {
    /// Parses a category key; exact match on Jira's lowercase keys.
    pub fn from_key(key: &str) -> Self {
        match key {
            "new" => Self::New,
            "indeterminate" => Self::Indeterminate,
            "done" => Self::Done,
            other => Self::_Custom(PrivOwnedStr(other.into())),
        }
    }

    /// The category key.
    pub fn key(&self) -> &str {
        match self {
            Self::New => "new",
            Self::Indeterminate => "indeterminate",
            Self::Done => "done",
            Self::_Custom(k) => &k.0,
        }
    }

    /// Whether this is a key this crate does not know (kept as sent; see [`key`](Self::key)).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::_Custom(_))
    }

    /// True for the `done` category.
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }
}

impl From<String> for StatusCategory {
    fn from(key: String) -> Self {
        Self::from_key(&key)
    }
}

impl From<StatusCategory> for String {
    fn from(c: StatusCategory) -> Self {
        c.key().to_owned()
    }
}

/// One side of a status change.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct JiraStatus {
    /// Status id (changelog `from` / `to`).
    pub id: String,
    /// Status name (changelog `fromString` / `toString`), informational.
    pub name: Option<String>,
    /// Status category, when known (from `GET /rest/api/2/status` or the issue snapshot).
    /// Unknown category counts as "not done".
    pub category: Option<StatusCategory>,
}

impl JiraStatus {
    /// A status with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            category: None,
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the category.
    #[must_use]
    pub fn with_category(mut self, category: StatusCategory) -> Self {
        self.category = Some(category);
        self
    }
}

/// A status change (the first `status` changelog item).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct StatusChange {
    /// Previous status, if known.
    pub from: Option<JiraStatus>,
    /// New status, if known.
    pub to: Option<JiraStatus>,
}

impl StatusChange {
    /// A change from one status to another.
    pub fn new(from: Option<JiraStatus>, to: Option<JiraStatus>) -> Self {
        Self { from, to }
    }
}

/// An issue key change (issue moved to another project, changelog item `Key`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct KeyChange {
    /// The old key (`fromString`).
    pub from: IssueKey,
    /// The new key (`toString`).
    pub to: IssueKey,
}

/// One inbound Jira event, filled by the caller from a webhook delivery.
///
/// `issue_key` is the issue's current key (`issue.key`; after a move that is the new key).
/// An event may carry an assignee change, a status change and a key change at once; each is
/// handled independently.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InboundEvent {
    /// The integration (Jira instance) the delivery came from.
    pub integration: IntegrationId,
    /// The issue key (`issue.key`).
    pub issue_key: IssueKey,
    /// Ordering key (changelog id, then timestamp).
    pub ordering: OrderingKey,
    /// Jira project key of the issue (`issue.fields.project.key`), for the status mapping.
    pub jira_project_key: Option<String>,
    /// Assignee change, when the changelog has an `assignee` item.
    pub assignee: Option<AssigneeChange>,
    /// Status change, when the changelog has a `status` item.
    pub status: Option<StatusChange>,
    /// Key change, when the changelog has a `Key` item.
    pub key_change: Option<KeyChange>,
}

impl InboundEvent {
    /// An event with no changes yet.
    pub fn new(
        integration: impl Into<IntegrationId>,
        issue_key: impl Into<IssueKey>,
        ordering: OrderingKey,
    ) -> Self {
        Self {
            integration: integration.into(),
            issue_key: issue_key.into(),
            ordering,
            jira_project_key: None,
            assignee: None,
            status: None,
            key_change: None,
        }
    }

    /// Sets the Jira project key.
    #[must_use]
    pub fn with_project_key(mut self, key: impl Into<String>) -> Self {
        self.jira_project_key = Some(key.into());
        self
    }

    /// Sets the assignee change.
    #[must_use]
    pub fn with_assignee(mut self, change: AssigneeChange) -> Self {
        self.assignee = Some(change);
        self
    }

    /// Shorthand: assigned to a Jira user.
    #[must_use]
    pub fn assigned_to(self, user: JiraUser) -> Self {
        self.with_assignee(AssigneeChange::Set(user))
    }

    /// Shorthand: assignee cleared.
    #[must_use]
    pub fn unassigned(self) -> Self {
        self.with_assignee(AssigneeChange::Cleared)
    }

    /// Sets the status change.
    #[must_use]
    pub fn with_status(mut self, from: Option<JiraStatus>, to: Option<JiraStatus>) -> Self {
        self.status = Some(StatusChange { from, to });
        self
    }

    /// Sets the key change (`from` is the old key; `to` should equal `issue_key`).
    #[must_use]
    pub fn with_key_change(mut self, from: impl Into<IssueKey>, to: impl Into<IssueKey>) -> Self {
        self.key_change = Some(KeyChange {
            from: from.into(),
            to: to.into(),
        });
        self
    }
}
