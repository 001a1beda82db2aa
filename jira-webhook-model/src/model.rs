//! The delivery envelope, issues, users and the other objects of a Jira webhook body.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::changelog::{Change, Changelog, ProjectRef, StatusRef, Transition, UserRef};
use crate::error::ParseError;
use crate::extra::Extra;
use crate::field::{Id, JiraDateTime};

open_enum! {
    /// The `webhookEvent` discriminator of a delivery (note Jira's inconsistent `jira:` prefix).
    pub enum WebhookEventKind {
        /// `jira:issue_created`
        IssueCreated = "jira:issue_created",
        /// `jira:issue_updated`
        IssueUpdated = "jira:issue_updated",
        /// `jira:issue_deleted`
        IssueDeleted = "jira:issue_deleted",
        /// `comment_created`
        CommentCreated = "comment_created",
        /// `comment_updated`
        CommentUpdated = "comment_updated",
        /// `comment_deleted`
        CommentDeleted = "comment_deleted",
        /// `worklog_created`
        WorklogCreated = "worklog_created",
        /// `worklog_updated`
        WorklogUpdated = "worklog_updated",
        /// `worklog_deleted`
        WorklogDeleted = "worklog_deleted",
        /// `issuelink_created`
        IssueLinkCreated = "issuelink_created",
        /// `issuelink_deleted`
        IssueLinkDeleted = "issuelink_deleted",
        /// `attachment_created`
        AttachmentCreated = "attachment_created",
        /// `attachment_deleted`
        AttachmentDeleted = "attachment_deleted",
        /// `project_created`
        ProjectCreated = "project_created",
        /// `project_updated`
        ProjectUpdated = "project_updated",
        /// `project_deleted`
        ProjectDeleted = "project_deleted",
        /// `jira:version_created`
        VersionCreated = "jira:version_created",
        /// `jira:version_updated`
        VersionUpdated = "jira:version_updated",
        /// `jira:version_deleted`
        VersionDeleted = "jira:version_deleted",
        /// `jira:version_released`
        VersionReleased = "jira:version_released",
        /// `jira:version_unreleased`
        VersionUnreleased = "jira:version_unreleased",
        /// `jira:version_moved`
        VersionMoved = "jira:version_moved",
        /// `jira:version_merged`
        VersionMerged = "jira:version_merged",
        /// `user_created`
        UserCreated = "user_created",
        /// `user_updated`
        UserUpdated = "user_updated",
        /// `user_deleted`
        UserDeleted = "user_deleted",
        /// `sprint_created`
        SprintCreated = "sprint_created",
        /// `sprint_updated`
        SprintUpdated = "sprint_updated",
        /// `sprint_deleted`
        SprintDeleted = "sprint_deleted",
        /// `sprint_started`
        SprintStarted = "sprint_started",
        /// `sprint_closed`
        SprintClosed = "sprint_closed",
        /// `board_created`
        BoardCreated = "board_created",
        /// `board_updated`
        BoardUpdated = "board_updated",
        /// `board_deleted`
        BoardDeleted = "board_deleted",
        /// `board_configuration_changed`
        BoardConfigurationChanged = "board_configuration_changed",
    }
}

impl WebhookEventKind {
    /// `true` for `jira:issue_created`, `jira:issue_updated` and `jira:issue_deleted`.
    pub fn is_issue_event(&self) -> bool {
        matches!(
            self,
            WebhookEventKind::IssueCreated
                | WebhookEventKind::IssueUpdated
                | WebhookEventKind::IssueDeleted
        )
    }
}

open_enum! {
    /// Jira's internal event type behind an issue webhook (`issue_event_type_name`).
    ///
    /// Never infer *what* changed from it: an assignment made on the edit screen arrives as
    /// `issue_updated`, and Cloud can send `issue_assigned` with an empty changelog. Use
    /// [`Changelog::changes`] or [`crate::diff`].
    pub enum IssueEventTypeName {
        /// `issue_created`
        IssueCreated = "issue_created",
        /// `issue_updated`
        IssueUpdated = "issue_updated",
        /// `issue_assigned`
        IssueAssigned = "issue_assigned",
        /// `issue_resolved`
        IssueResolved = "issue_resolved",
        /// `issue_closed`
        IssueClosed = "issue_closed",
        /// `issue_commented`
        IssueCommented = "issue_commented",
        /// `issue_comment_edited`
        IssueCommentEdited = "issue_comment_edited",
        /// `issue_comment_deleted`
        IssueCommentDeleted = "issue_comment_deleted",
        /// `issue_reopened`
        IssueReopened = "issue_reopened",
        /// `issue_deleted`
        IssueDeleted = "issue_deleted",
        /// `issue_moved`
        IssueMoved = "issue_moved",
        /// `issue_worklogged`
        IssueWorklogged = "issue_worklogged",
        /// `issue_worklog_updated`
        IssueWorklogUpdated = "issue_worklog_updated",
        /// `issue_worklog_deleted`
        IssueWorklogDeleted = "issue_worklog_deleted",
        /// `issue_work_started`
        IssueWorkStarted = "issue_work_started",
        /// `issue_work_stopped`
        IssueWorkStopped = "issue_work_stopped",
        /// `issue_generic` (most custom workflow transitions)
        IssueGeneric = "issue_generic",
    }
}

json_object! {
    /// A Jira user. Server/DC users carry `name` (login, can be renamed) and `key` (stable,
    /// `JIRAUSER10100` on newer instances); Cloud users carry `accountId`. `emailAddress` is
    /// absent when Jira hides e-mails. Every member is optional.
    pub struct User {
        /// `self`: REST URL of the user.
        "self" => self_url: String,
        /// `name`: Server/DC username (use in REST parameters).
        "name" => name: String,
        /// `key`: Server/DC user key (stable identity; what changelogs store on DC).
        "key" => key: String,
        /// `accountId`: Cloud account id.
        "accountId" => account_id: String,
        /// `accountType`: Cloud account type (`atlassian`, `app`, ...).
        "accountType" => account_type: String,
        /// `emailAddress`: absent (or masked) when the instance hides e-mails.
        "emailAddress" => email_address: String,
        /// `displayName`.
        "displayName" => display_name: String,
        /// `active`.
        "active" => active: bool,
        /// `deleted` (DC 8+ REST).
        "deleted" => deleted: bool,
        /// `timeZone`, e.g. `Europe/Berlin`.
        "timeZone" => time_zone: String,
        /// `locale`, e.g. `en_US`.
        "locale" => locale: String,
    }
}

/// `avatarUrls` (size such as `48x48` to URL), kept raw in `extra` and parsed on demand.
fn avatar_urls(extra: &Extra) -> Option<BTreeMap<String, String>> {
    extra.get_as("avatarUrls")
}

impl User {
    /// The identifier Jira stores for the user (what changelog `from`/`to` carry): `key` on
    /// Server/DC, else `accountId` (Cloud), else `name`.
    pub fn identity(&self) -> Option<&str> {
        self.key
            .as_str()
            .or_else(|| self.account_id.as_str())
            .or_else(|| self.name.as_str())
    }

    /// The e-mail address, when Jira sent one that looks like an address (contains `@`).
    /// Masked values such as `jdoe at example dot com` and empty strings give `None`.
    pub fn email(&self) -> Option<&str> {
        self.email_address.as_str().filter(|e| e.contains('@'))
    }

    /// `avatarUrls`: size (`48x48`) to URL. Kept raw in `extra` (parsed on demand).
    pub fn avatar_urls(&self) -> Option<BTreeMap<String, String>> {
        avatar_urls(&self.extra)
    }

    /// The user's identifier and display name as a [`UserRef`].
    pub fn to_ref(&self) -> UserRef {
        UserRef {
            id: self.identity().map(str::to_owned),
            display: self.display_name.as_str().map(str::to_owned),
        }
    }
}

json_object! {
    /// A status category (`statusCategory`): `new`, `indeterminate`, `done`, `undefined`.
    pub struct StatusCategory {
        /// `self`
        "self" => self_url: String,
        /// `id` (an integer: 1 undefined, 2 new, 3 done, 4 indeterminate).
        "id" => id: Id,
        /// `key`: `new`, `indeterminate`, `done` or `undefined`.
        "key" => key: String,
        /// `colorName`
        "colorName" => color_name: String,
        /// `name`
        "name" => name: String,
    }
}

json_object! {
    /// An issue status (`fields.status`, `GET /rest/api/2/status` entries).
    pub struct Status {
        /// `self`
        "self" => self_url: String,
        /// `description`
        "description" => description: String,
        /// `iconUrl`
        "iconUrl" => icon_url: String,
        /// `name`
        "name" => name: String,
        /// `id` (string of digits).
        "id" => id: Id,
        /// `statusCategory` (missing on very old Jira).
        "statusCategory" => status_category: StatusCategory,
    }
}

impl Status {
    /// `true` when `statusCategory.key == "done"` (how Sentry decides "resolved").
    pub fn is_done(&self) -> bool {
        self.status_category
            .value()
            .and_then(|c| c.key.as_str())
            .is_some_and(|k| k == "done")
    }

    /// The status id and name as a [`StatusRef`].
    pub fn to_ref(&self) -> StatusRef {
        StatusRef {
            id: self.id.value().map(|i| i.as_str().to_owned()),
            name: self.name.as_str().map(str::to_owned),
        }
    }
}

json_object! {
    /// A project (`fields.project`).
    pub struct Project {
        /// `self`
        "self" => self_url: String,
        /// `id`
        "id" => id: Id,
        /// `key`, e.g. `APP`.
        "key" => key: String,
        /// `name`
        "name" => name: String,
        /// `projectTypeKey`
        "projectTypeKey" => project_type_key: String,
    }
}

impl Project {
    /// `avatarUrls`: size (`48x48`) to URL. Kept raw in `extra` (parsed on demand).
    pub fn avatar_urls(&self) -> Option<BTreeMap<String, String>> {
        avatar_urls(&self.extra)
    }

    /// The project id, key and name as a [`ProjectRef`].
    pub fn to_ref(&self) -> ProjectRef {
        ProjectRef {
            id: self.id.value().map(|i| i.as_str().to_owned()),
            key: self.key.as_str().map(str::to_owned),
            name: self.name.as_str().map(str::to_owned),
        }
    }
}

json_object! {
    /// An issue type (`fields.issuetype`).
    pub struct IssueType {
        /// `self`
        "self" => self_url: String,
        /// `id`
        "id" => id: Id,
        /// `description`
        "description" => description: String,
        /// `iconUrl`
        "iconUrl" => icon_url: String,
        /// `name`
        "name" => name: String,
        /// `subtask`
        "subtask" => subtask: bool,
        /// `avatarId`
        "avatarId" => avatar_id: i64,
    }
}

json_object! {
    /// A priority (`fields.priority`), a resolution (`fields.resolution`), a component or a
    /// version: an object with an `id` and a `name`.
    pub struct Named {
        /// `self`
        "self" => self_url: String,
        /// `id`
        "id" => id: Id,
        /// `name`
        "name" => name: String,
        /// `description`
        "description" => description: String,
        /// `iconUrl` (priorities)
        "iconUrl" => icon_url: String,
        /// `archived` (versions)
        "archived" => archived: bool,
        /// `released` (versions)
        "released" => released: bool,
        /// `releaseDate` (versions, `YYYY-MM-DD`)
        "releaseDate" => release_date: String,
    }
}

impl Named {
    /// The id and name as a [`crate::NamedRef`].
    pub fn to_ref(&self) -> crate::NamedRef {
        crate::NamedRef {
            id: self.id.value().map(|i| i.as_str().to_owned()),
            name: self.name.as_str().map(str::to_owned),
        }
    }
}

json_object! {
    /// The `fields` of an issue. Which members exist depends on the instance's field
    /// configuration; every one is optional. Custom fields (`customfield_NNNNN`) and other
    /// unmodelled fields are in `extra`.
    pub struct IssueFields {
        /// `summary`
        "summary" => summary: String,
        /// `description` (wiki markup on Server/DC; `null` when empty)
        "description" => description: String,
        /// `status`
        "status" => status: Status,
        /// `assignee` (`null` when unassigned)
        "assignee" => assignee: User,
        /// `reporter`
        "reporter" => reporter: User,
        /// `creator`
        "creator" => creator: User,
        /// `project`
        "project" => project: Project,
        /// `issuetype`
        "issuetype" => issue_type: IssueType,
        /// `priority`
        "priority" => priority: Named,
        /// `resolution` (`null` while unresolved)
        "resolution" => resolution: Named,
        /// `labels`
        "labels" => labels: Vec<String>,
        /// `fixVersions`
        "fixVersions" => fix_versions: Vec<Named>,
        /// `versions` (affects versions)
        "versions" => versions: Vec<Named>,
        /// `components`
        "components" => components: Vec<Named>,
        /// `created`
        "created" => created: JiraDateTime,
        /// `updated`
        "updated" => updated: JiraDateTime,
        /// `resolutiondate`
        "resolutiondate" => resolution_date: JiraDateTime,
        /// `duedate` (`YYYY-MM-DD`)
        "duedate" => due_date: String,
    }
}

impl IssueFields {
    /// Any field by id (`customfield_10010`, `watches`, ...) that is not modelled, parsed
    /// into JSON (see [`Extra`] for the raw text and typed access).
    pub fn other(&self, id: &str) -> Option<Value> {
        self.extra.get(id)
    }
}

json_object! {
    /// An issue: `id`, `key`, `self`, `fields`.
    pub struct Issue {
        /// `id` (string of digits)
        "id" => id: Id,
        /// `self`
        "self" => self_url: String,
        /// `key`, e.g. `APP-7`
        "key" => key: String,
        /// `fields`
        "fields" => fields: IssueFields,
    }
}

impl Issue {
    /// The issue key, if present.
    pub fn key(&self) -> Option<&str> {
        self.key.as_str()
    }

    /// The issue's fields, if present as an object.
    pub fn fields(&self) -> Option<&IssueFields> {
        self.fields.value()
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
}

json_object! {
    /// A comment (`comment` of `comment_*` and `issue_commented` deliveries).
    pub struct Comment {
        /// `self` (`.../issue/{issueId}/comment/{commentId}`)
        "self" => self_url: String,
        /// `id`
        "id" => id: Id,
        /// `author`
        "author" => author: User,
        /// `body`
        "body" => body: String,
        /// `updateAuthor`
        "updateAuthor" => update_author: User,
        /// `created`
        "created" => created: JiraDateTime,
        /// `updated`
        "updated" => updated: JiraDateTime,
    }
}

impl Comment {
    /// The issue id taken from `self` (`.../issue/10013/comment/10082` gives `10013`); Server
    /// `comment_*` deliveries carry no `issue`, so this is the only link to it.
    pub fn issue_id(&self) -> Option<&str> {
        let s = self.self_url.as_str()?;
        let after = s.rsplit_once("/issue/")?.1;
        let id = after.split('/').next()?;
        (!id.is_empty()).then_some(id)
    }
}

json_object! {
    /// A webhook delivery: the envelope with `timestamp`, `webhookEvent`,
    /// `issue_event_type_name`, `user`, `issue`, `changelog`, `comment`; everything else
    /// (worklog, issueLink, sprint, ...) is kept in `extra`.
    pub struct WebhookEvent {
        /// `timestamp`: when the event happened, epoch milliseconds.
        "timestamp" => timestamp: i64,
        /// `webhookEvent`
        "webhookEvent" => webhook_event: WebhookEventKind,
        /// `issue_event_type_name` (issue events on Jira 7+)
        "issue_event_type_name" => issue_event_type_name: IssueEventTypeName,
        /// `user`: the actor (absent on some events)
        "user" => user: User,
        /// `issue` (absent on Server `comment_*`)
        "issue" => issue: Issue,
        /// `changelog` (absent when only a comment changed; items may be empty)
        "changelog" => changelog: Changelog,
        /// `comment`
        "comment" => comment: Comment,
    }
}

impl WebhookEvent {
    /// Parses a delivery body. Any JSON object parses (members of unexpected types are kept
    /// raw); errors are invalid JSON, nesting deeper than 128 levels, or a non-object body.
    pub fn from_slice(body: &[u8]) -> Result<Self, ParseError> {
        serde_json::from_slice(body).map_err(ParseError::from)
    }

    /// Parses a delivery body from text. See [`WebhookEvent::from_slice`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(body: &str) -> Result<Self, ParseError> {
        serde_json::from_str(body).map_err(ParseError::from)
    }

    /// Serialises the delivery back to JSON (equal, as a value, to what was parsed).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Serialises the delivery to a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The `webhookEvent` kind, if sent as a string.
    pub fn kind(&self) -> Option<&WebhookEventKind> {
        self.webhook_event.value()
    }

    /// The `issue_event_type_name`, if sent as a string.
    pub fn event_type_name(&self) -> Option<&IssueEventTypeName> {
        self.issue_event_type_name.value()
    }

    /// The issue, if sent.
    pub fn issue(&self) -> Option<&Issue> {
        self.issue.value()
    }

    /// The issue key, if an issue was sent.
    pub fn issue_key(&self) -> Option<&str> {
        self.issue().and_then(Issue::key)
    }

    /// The changelog, if sent.
    pub fn changelog(&self) -> Option<&Changelog> {
        self.changelog.value()
    }

    /// Typed changes of the changelog (empty when there is none), one per item, in order.
    pub fn changes(&self) -> Vec<Change> {
        self.changelog().map(Changelog::changes).unwrap_or_default()
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

    /// A compact JSON summary (what the `inspect` example prints):
    /// `{"event": <webhookEvent>, "type": <issue_event_type_name or null>, "issue": <key or
    /// null>, "changes": [{"kind", "field", "from", "to", "fromString", "toString"}, ...]}`,
    /// one change per changelog item in order, with the raw values as sent and `kind` one of
    /// the [`crate::ChangeKind`] names (`assignee`, `status`, ..., `fix_versions`, `sprints`,
    /// `key`, `project`, `other`).
    pub fn summary(&self) -> Value {
        fn raw<T: serde::Serialize>(f: &crate::Field<T>) -> Value {
            serde_json::to_value(f).unwrap_or(Value::Null)
        }
        let changes: Vec<Value> = self
            .changelog()
            .map(Changelog::items)
            .unwrap_or_default()
            .iter()
            .map(|item| {
                serde_json::json!({
                    "kind": item.kind().as_str(),
                    "field": raw(&item.field),
                    "from": raw(&item.from),
                    "to": raw(&item.to),
                    "fromString": raw(&item.from_string),
                    "toString": raw(&item.to_string),
                })
            })
            .collect();
        serde_json::json!({
            "event": raw(&self.webhook_event),
            "type": raw(&self.issue_event_type_name),
            "issue": self.issue_key(),
            "changes": changes,
        })
    }

    /// `true` when the object has at least one of `webhookEvent`, `issue`, `changelog` or
    /// `comment`, i.e. looks like a Jira delivery rather than some other JSON object.
    pub fn looks_like_delivery(&self) -> bool {
        self.webhook_event.is_present()
            || self.issue.is_present()
            || self.changelog.is_present()
            || self.comment.is_present()
    }
}

impl std::str::FromStr for WebhookEvent {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WebhookEvent::from_str(s)
    }
}
