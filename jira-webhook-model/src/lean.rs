//! [`LeanEvent`]: the members of a delivery that a sync reads, parsed without keeping the rest.
//!
//! [`WebhookEvent`](crate::WebhookEvent) keeps every member (custom fields, descriptions,
//! avatars) so that a delivery round-trips; on a typical 11 KB `jira:issue_updated` that is
//! most of the parsing time. A consumer that only reacts to assignee, status and key changes
//! needs a handful of members. `LeanEvent` reads those with the same types and the same
//! leniency and skips everything else (checked for JSON syntax, not stored).
//!
//! Whenever [`WebhookEvent::from_slice`](crate::WebhookEvent::from_slice) accepts a body,
//! [`LeanEvent::from_slice`] accepts it too and its accessors give the same answers (tested
//! on the captured fixtures and by the `webhook_parse` fuzz target). The converse does not
//! hold: a skipped member is not checked for valid UTF-8 or for the nesting limit of
//! unmodelled members.

use crate::{
    Changelog, Id, ParseError, Project, Status, StatusRef, Transition, User, UserRef,
    WebhookEventKind,
};

json_view! {
    /// A delivery's `timestamp`, `webhookEvent`, `issue` (see [`LeanIssue`]) and `changelog`.
    ///
    /// ```
    /// use jira_webhook_model::LeanEvent;
    ///
    /// let body = br#"{"timestamp": 1718000000000, "webhookEvent": "jira:issue_updated",
    ///   "issue": {"key": "APP-7", "fields": {"assignee": {"name": "bob"},
    ///     "description": "not read", "customfield_10010": [1, 2, 3]}},
    ///   "changelog": {"id": "10500", "items": [{"field": "assignee", "to": "bob"}]}}"#;
    /// let event = LeanEvent::from_slice(body)?;
    /// assert_eq!(event.issue_key(), Some("APP-7"));
    /// assert_eq!(event.assignee().and_then(|u| u.name.as_str()), Some("bob"));
    /// assert!(event.assignee_change().is_some());
    /// # Ok::<(), jira_webhook_model::ParseError>(())
    /// ```
    pub struct LeanEvent {
        /// `timestamp`: when the event happened, epoch milliseconds.
        "timestamp" => timestamp: i64,
        /// `webhookEvent`
        "webhookEvent" => webhook_event: WebhookEventKind,
        /// `issue`: key, id and the fields a sync reads.
        "issue" => issue: LeanIssue,
        /// `changelog`, complete.
        "changelog" => changelog: Changelog,
    }
}

json_view! {
    /// An issue's `id`, `key` and [`LeanIssueFields`].
    pub struct LeanIssue {
        /// `id` (string of digits)
        "id" => id: Id,
        /// `key`, e.g. `APP-7`
        "key" => key: String,
        /// `fields`: assignee, status and project only.
        "fields" => fields: LeanIssueFields,
    }
}

json_view! {
    /// An issue's `assignee`, `status` and `project` (each complete).
    pub struct LeanIssueFields {
        /// `status`
        "status" => status: Status,
        /// `assignee` (`null` when unassigned)
        "assignee" => assignee: User,
        /// `project`
        "project" => project: Project,
    }
}

impl LeanEvent {
    /// Parses a delivery body. Errors are invalid JSON, nesting deeper than 128 levels, or a
    /// non-object body.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(body).map_err(ParseError::from)
    }

    /// The `webhookEvent` kind, if sent as a string.
    pub fn kind(&self) -> Option<&WebhookEventKind> {
        self.webhook_event.value()
    }

    /// The issue key, if an issue with a string key was sent.
    pub fn issue_key(&self) -> Option<&str> {
        self.issue.value().and_then(|i| i.key.as_str())
    }

    fn fields(&self) -> Option<&LeanIssueFields> {
        self.issue.value().and_then(|i| i.fields.value())
    }

    /// The current assignee: `Some(user)`, or `None` when unassigned (`null`) or not sent.
    pub fn assignee(&self) -> Option<&User> {
        self.fields().and_then(|f| f.assignee.value())
    }

    /// The current status, if sent.
    pub fn status(&self) -> Option<&Status> {
        self.fields().and_then(|f| f.status.value())
    }

    /// The project, if sent.
    pub fn project(&self) -> Option<&Project> {
        self.fields().and_then(|f| f.project.value())
    }

    /// The changelog, if sent.
    pub fn changelog(&self) -> Option<&Changelog> {
        self.changelog.value()
    }

    /// The assignee change of the changelog, if any. See [`Changelog::assignee_change`].
    pub fn assignee_change(&self) -> Option<Transition<UserRef>> {
        self.changelog().and_then(Changelog::assignee_change)
    }

    /// The status change of the changelog, if any.
    pub fn status_change(&self) -> Option<Transition<StatusRef>> {
        self.changelog().and_then(Changelog::status_change)
    }

    /// The issue key change (issue moved) of the changelog, if any.
    pub fn key_change(&self) -> Option<Transition<String>> {
        self.changelog().and_then(Changelog::key_change)
    }
}
