//! Outbound decisions (tracker → Jira), pure and free of I/O: which integrations a change goes
//! to, which Jira user to assign, which transition to take, and which queued work a newer
//! change supersedes. A server gathers the inputs (settings, the user's mapping and verified
//! e-mails, Jira's search results and transitions), asks these functions, and carries out the
//! answer.
//!
//! ```
//! use assignee_sync::outbound::{
//!     AssignableUser, AssigneeRequest, AssigneeTarget, OutboundKind, OutboundSettings,
//!     Transition, TransitionDecision, UserSearch, choose_assignee, choose_transition,
//!     should_sync,
//! };
//! use assignee_sync::{ChangeSource, GroupStatus, IntegrationId, UserId};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = OutboundSettings::new()
//!     .with_forward_assignment(true)
//!     .with_status_forward("10100", "10101", "3")?;
//! let jira = IntegrationId::new("jira-1");
//!
//! // A user assigned the group in the tracker: send it to jira-1 ...
//! let by_user = ChangeSource::User(UserId::new("u-1"));
//! assert!(should_sync(&settings, &jira, OutboundKind::Assignee, &by_user));
//! // ... but an assignment that came from jira-1 itself is never echoed back.
//! let from_jira = ChangeSource::Integration(jira.clone());
//! assert!(!should_sync(&settings, &jira, OutboundKind::Assignee, &from_jira));
//!
//! // Which Jira user: the verified e-mail matches `emailAddress` ignoring case.
//! let request = AssigneeRequest::assign(
//!     None,
//!     vec![UserSearch::new(
//!         "bob@example.com",
//!         vec![AssignableUser::new("Alive Tofu").with_email("Bob@example.com")],
//!     )],
//! );
//! assert_eq!(
//!     choose_assignee(&request)?,
//!     AssigneeTarget::Assign { name: "Alive Tofu".into() }
//! );
//!
//! // Which transition: resolving an issue of project 10100 that is "In Progress" (3).
//! let transitions = [
//!     Transition::new("21", "In Progress").with_to_status("3"),
//!     Transition::new("31", "Done").with_to_status("10101"),
//! ];
//! let decision = choose_transition(&settings, "10100", "3", GroupStatus::Resolved, &transitions)?;
//! assert_eq!(decision, TransitionDecision::Transition { id: "31".into() });
//! # Ok(())
//! # }
//! ```
//!
//! # Rules
//!
//! * **Settings** ([`OutboundSettings`], Sentry §1.4): `sync_forward_assignment`,
//!   `sync_comments`, and `sync_status_forward`, a map from Jira **project id** to the status
//!   ids to move to on resolve and on unresolve. All off by default. An empty status id is an
//!   error naming the project ([`OutboundSettingsError`]), as Sentry's
//!   `update_organization_config` refuses it.
//! * **Whether to send** ([`should_sync`], Sentry's `should_sync` with its sync source, §5.5): the
//!   kind must be on for the integration (status: at least one project mapped), and a change
//!   that came from Jira through integration X is never sent back to X. Other integrations
//!   linked to the same group still get it when their settings say so ([`targets`]).
//! * **Which Jira user** ([`choose_assignee`], Sentry §1.5 newest, with its faults fixed): the
//!   user's explicit Jira mapping first (a search result whose `name` equals the mapped
//!   username, ignoring case); then each verified e-mail in turn, the first search result whose
//!   `emailAddress` equals it ignoring case (the first e-mail that matches wins: Sentry's loop
//!   let a later e-mail overwrite it); then, when Jira hides e-mails, the single result of the
//!   mapped username's search. Unassigning sends `{"name": null}`. No match is an
//!   [`AssigneeFailure`] saying what was tried, never silence.
//! * **Which transition** ([`choose_transition`], Sentry's `sync_status_outbound`): no mapping
//!   for the issue's project → nothing; already at the target status → nothing; otherwise the
//!   first transition whose `to.id` is the target; none → a [`NoMatchingTransition`] listing the
//!   available transitions.
//! * **Supersession** ([`superseded_by`], [`survivors`]): a newer assignee or status change for
//!   the same integration and issue replaces the older unsent one; comments are never superseded
//!   (each is its own message). Survivors keep their queue order.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::types::{ChangeSource, GroupStatus, IntegrationId, IssueKey};

/// The things a tracker change can send to Jira. Each has its own setting.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum OutboundKind {
    /// Group assignee to Jira assignee (Sentry `outbound_assignee`, `sync_forward_assignment`).
    Assignee,
    /// Group status to a Jira transition (Sentry `outbound_status`, `sync_status_forward`).
    Status,
    /// Tracker comments to Jira comments (Sentry `comment`, `sync_comments`).
    Comment,
}

impl OutboundKind {
    /// `"assignee"`, `"status"` or `"comment"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assignee => "assignee",
            Self::Status => "status",
            Self::Comment => "comment",
        }
    }
}

impl fmt::Display for OutboundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Jira status ids one Jira project moves to when a linked group is resolved / unresolved
/// (Sentry's `IntegrationExternalProject.resolved_status` / `unresolved_status`). Both are
/// non-empty: [`OutboundSettings::with_status_forward`] checks it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StatusTargets {
    on_resolve: String,
    on_unresolve: String,
}

impl StatusTargets {
    /// The status ids, checked: an empty one is an error naming `project_id`.
    pub fn new(
        project_id: &str,
        on_resolve: impl Into<String>,
        on_unresolve: impl Into<String>,
    ) -> Result<Self, OutboundSettingsError> {
        let on_resolve = on_resolve.into();
        let on_unresolve = on_unresolve.into();
        for (value, field) in [(&on_resolve, "onResolve"), (&on_unresolve, "onUnresolve")] {
            if value.trim().is_empty() {
                return Err(OutboundSettingsError::EmptyStatus {
                    project_id: project_id.to_owned(),
                    field,
                });
            }
        }
        Ok(Self {
            on_resolve,
            on_unresolve,
        })
    }

    /// The status id for resolved groups.
    pub fn on_resolve(&self) -> &str {
        &self.on_resolve
    }

    /// The status id for unresolved groups.
    pub fn on_unresolve(&self) -> &str {
        &self.on_unresolve
    }

    /// The status id a group in `status` asks for.
    pub fn target(&self, status: GroupStatus) -> &str {
        match status {
            GroupStatus::Resolved => &self.on_resolve,
            GroupStatus::Unresolved => &self.on_unresolve,
        }
    }
}

/// Invalid outbound settings.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutboundSettingsError {
    /// A mapped Jira project has an empty status id (Sentry: "Resolve and unresolve status are
    /// required.").
    #[error(
        "syncStatusForward: Jira project {project_id} has an empty `{field}`; resolve and unresolve status are required: give both status ids, or remove the project"
    )]
    EmptyStatus {
        /// The Jira project id.
        project_id: String,
        /// `"onResolve"` or `"onUnresolve"`.
        field: &'static str,
    },
    /// A Jira project id is empty.
    #[error("syncStatusForward: a Jira project id is empty; use the project's numeric id")]
    EmptyProject,
}

/// Outbound sync settings of one organization for one installed integration (Sentry
/// `OrganizationIntegration.config`, §1.4). Everything is off by default.
///
/// With the `serde` feature its form is Sentry's: `{"sync_forward_assignment": bool,
/// "sync_comments": bool, "sync_status_forward": {"<jira project id>": {"on_resolve": "<status
/// id>", "on_unresolve": "<status id>"}}}`, every member optional; deserializing validates as
/// [`OutboundSettings::with_status_forward`] does.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(try_from = "raw::RawSettings", into = "raw::RawSettings")
)]
pub struct OutboundSettings {
    /// `sync_forward_assignment`: tracker assignments are sent to Jira.
    pub sync_forward_assignment: bool,
    /// `sync_comments`: tracker comments are sent to Jira.
    pub sync_comments: bool,
    sync_status_forward: BTreeMap<String, StatusTargets>,
}

impl OutboundSettings {
    /// Everything off, no project mapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `sync_forward_assignment`.
    #[must_use]
    pub fn with_forward_assignment(mut self, on: bool) -> Self {
        self.sync_forward_assignment = on;
        self
    }

    /// Sets `sync_comments`.
    #[must_use]
    pub fn with_comments(mut self, on: bool) -> Self {
        self.sync_comments = on;
        self
    }

    /// Maps (or re-maps) a Jira project id to its resolve / unresolve status ids.
    ///
    /// # Errors
    ///
    /// [`OutboundSettingsError`] naming the project when a status id or the project id is empty;
    /// the settings are then unchanged (the builder is consumed, so build again).
    pub fn with_status_forward(
        mut self,
        project_id: impl Into<String>,
        on_resolve: impl Into<String>,
        on_unresolve: impl Into<String>,
    ) -> Result<Self, OutboundSettingsError> {
        self.insert_status_forward(project_id, on_resolve, on_unresolve)?;
        Ok(self)
    }

    /// Maps (or re-maps) a Jira project id to its resolve / unresolve status ids.
    ///
    /// # Errors
    ///
    /// As [`OutboundSettings::with_status_forward`]; on error nothing changes.
    pub fn insert_status_forward(
        &mut self,
        project_id: impl Into<String>,
        on_resolve: impl Into<String>,
        on_unresolve: impl Into<String>,
    ) -> Result<(), OutboundSettingsError> {
        let project_id = project_id.into();
        if project_id.trim().is_empty() {
            return Err(OutboundSettingsError::EmptyProject);
        }
        let targets = StatusTargets::new(&project_id, on_resolve, on_unresolve)?;
        self.sync_status_forward.insert(project_id, targets);
        Ok(())
    }

    /// Replaces the whole status mapping with `mapping` (`project id → (onResolve,
    /// onUnresolve)`), as Sentry replaces every row on update; an empty mapping switches status
    /// sync off.
    ///
    /// # Errors
    ///
    /// The first invalid entry (in project id order); on error nothing changes.
    pub fn replace_status_forward<I, P, R, U>(
        &mut self,
        mapping: I,
    ) -> Result<(), OutboundSettingsError>
    where
        I: IntoIterator<Item = (P, R, U)>,
        P: Into<String>,
        R: Into<String>,
        U: Into<String>,
    {
        let mut next = Self::new();
        let mut entries: Vec<(String, String, String)> = mapping
            .into_iter()
            .map(|(p, r, u)| (p.into(), r.into(), u.into()))
            .collect();
        entries.sort();
        for (p, r, u) in entries {
            next.insert_status_forward(p, r, u)?;
        }
        self.sync_status_forward = next.sync_status_forward;
        Ok(())
    }

    /// The status ids mapped for a Jira project id, if any.
    pub fn status_targets(&self, project_id: &str) -> Option<&StatusTargets> {
        self.sync_status_forward.get(project_id)
    }

    /// Iterates over `(Jira project id, status ids)`.
    pub fn status_forward(&self) -> impl Iterator<Item = (&str, &StatusTargets)> {
        self.sync_status_forward
            .iter()
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Whether a kind is on. Status is on when at least one project is mapped (Sentry stores
    /// `sync_status_forward: bool(mapping)`).
    pub fn enabled(&self, kind: OutboundKind) -> bool {
        match kind {
            OutboundKind::Assignee => self.sync_forward_assignment,
            OutboundKind::Status => !self.sync_status_forward.is_empty(),
            OutboundKind::Comment => self.sync_comments,
        }
    }
}

#[cfg(feature = "serde")]
mod raw {
    use std::collections::BTreeMap;

    use super::{OutboundSettings, OutboundSettingsError};

    #[derive(serde::Serialize, serde::Deserialize, Default)]
    #[serde(default)]
    pub(super) struct RawTargets {
        on_resolve: String,
        on_unresolve: String,
    }

    #[derive(serde::Serialize, serde::Deserialize, Default)]
    #[serde(default)]
    #[allow(clippy::struct_field_names)] // Sentry's config keys
    pub(super) struct RawSettings {
        sync_forward_assignment: bool,
        sync_comments: bool,
        sync_status_forward: BTreeMap<String, RawTargets>,
    }

    impl TryFrom<RawSettings> for OutboundSettings {
        type Error = OutboundSettingsError;

        fn try_from(raw: RawSettings) -> Result<Self, Self::Error> {
            let mut out = OutboundSettings::new()
                .with_forward_assignment(raw.sync_forward_assignment)
                .with_comments(raw.sync_comments);
            out.replace_status_forward(
                raw.sync_status_forward
                    .into_iter()
                    .map(|(p, t)| (p, t.on_resolve, t.on_unresolve)),
            )?;
            Ok(out)
        }
    }

    impl From<OutboundSettings> for RawSettings {
        fn from(s: OutboundSettings) -> Self {
            Self {
                sync_forward_assignment: s.sync_forward_assignment,
                sync_comments: s.sync_comments,
                sync_status_forward: s
                    .sync_status_forward
                    .into_iter()
                    .map(|(p, t)| {
                        (
                            p,
                            RawTargets {
                                on_resolve: t.on_resolve,
                                on_unresolve: t.on_unresolve,
                            },
                        )
                    })
                    .collect(),
            }
        }
    }
}

/// Whether a change of `kind` made by `source` is sent to `integration`, whose organization's
/// settings are `settings` (Sentry's `should_sync(attribute, sync_source)`).
///
/// True when the kind is on and the change did not come from `integration` itself: a change
/// that came from Jira through integration X is never sent back to X.
pub fn should_sync(
    settings: &OutboundSettings,
    integration: &IntegrationId,
    kind: OutboundKind,
    source: &ChangeSource,
) -> bool {
    settings.enabled(kind) && !source.is_echo_of(integration)
}

/// The integrations, among those linked to a group, that a change goes to: each that
/// [`should_sync`] accepts, in the given order, each at most once.
pub fn targets<'a, I>(linked: I, kind: OutboundKind, source: &ChangeSource) -> Vec<IntegrationId>
where
    I: IntoIterator<Item = (&'a IntegrationId, &'a OutboundSettings)>,
{
    let mut seen = HashSet::new();
    linked
        .into_iter()
        .filter(|(id, settings)| should_sync(settings, id, kind, source))
        .filter(|(id, _)| seen.insert(*id))
        .map(|(id, _)| id.clone())
        .collect()
}

/// One user from Jira's `GET /rest/api/2/user/assignable/search` reply.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AssignableUser {
    /// `name`: the username sent as `{"name": ...}` to assign.
    pub name: String,
    /// `emailAddress`, if Jira shows it (hidden e-mails: `None`; an empty string counts as hidden).
    pub email: Option<String>,
}

impl AssignableUser {
    /// A user with this username and no visible e-mail.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: None,
        }
    }

    /// Sets the e-mail Jira shows.
    #[must_use]
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    fn visible_email(&self) -> Option<&str> {
        self.email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }
}

/// One assignable-user search: what was searched for (a mapped username or a verified e-mail)
/// and Jira's results in the order Jira gave them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserSearch {
    /// The search term (`username=` parameter).
    pub query: String,
    /// The results.
    pub results: Vec<AssignableUser>,
}

impl UserSearch {
    /// A search and its results.
    pub fn new(query: impl Into<String>, results: Vec<AssignableUser>) -> Self {
        Self {
            query: query.into(),
            results,
        }
    }
}

/// What the tracker asks for, with the lookups a server made for it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssigneeRequest {
    /// The group was unassigned (or assigned to nobody the server can name, such as a team).
    Unassign,
    /// The group was assigned to a user.
    Assign {
        /// The user's explicit Jira mapping (Sentry's `ExternalActor`): the mapped username and
        /// the results of searching it. `None` when the user has no mapping.
        mapped: Option<UserSearch>,
        /// One search per **verified** e-mail of the user, in the order to try them.
        emails: Vec<UserSearch>,
    },
}

impl AssigneeRequest {
    /// An assignment with these lookups.
    pub fn assign(mapped: Option<UserSearch>, emails: Vec<UserSearch>) -> Self {
        Self::Assign { mapped, emails }
    }
}

/// The assignee to send to Jira.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AssigneeTarget {
    /// `PUT /rest/api/2/issue/{key}/assignee` with `{"name": name}`.
    Assign {
        /// The Jira username.
        name: String,
    },
    /// The same PUT with `{"name": null}`.
    Unassign,
}

/// Why no Jira user could be chosen. It is a visible failure: the server records it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AssigneeFailure {
    /// The user has no explicit mapping and no verified e-mail, so there is nothing to search
    /// for (Sentry's `test_sync_assignee_outbound_user_email_empty`).
    #[error(
        "no Jira user to assign: the user has no Jira mapping and no verified e-mail; map the user to a Jira username or verify an e-mail"
    )]
    NothingToSearch,
    /// Nothing matched (Sentry: "No matching Jira Server user found").
    #[error("no matching Jira user found among the assignable users: {}", describe_tried(.tried))]
    NoMatch {
        /// What was tried, e.g. `username "bob": 2 results, none named so`.
        tried: Vec<String>,
    },
}

fn describe_tried(tried: &[String]) -> String {
    tried.join("; ")
}

/// The result whose `name` equals `username`, ignoring case (the mapping step).
pub fn match_username<'a>(
    username: &str,
    results: &'a [AssignableUser],
) -> Option<&'a AssignableUser> {
    results
        .iter()
        .find(|u| u.name.to_lowercase() == username.to_lowercase())
}

/// The first result whose visible `emailAddress` equals `email`, ignoring case (the e-mail step).
pub fn match_email<'a>(email: &str, results: &'a [AssignableUser]) -> Option<&'a AssignableUser> {
    let wanted = email.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    results.iter().find(|u| {
        u.visible_email()
            .is_some_and(|e| e.to_lowercase() == wanted)
    })
}

/// Chooses the Jira assignee for an [`AssigneeRequest`] (see the module's rules).
///
/// # Errors
///
/// [`AssigneeFailure`] saying what was searched and why nothing matched.
pub fn choose_assignee(request: &AssigneeRequest) -> Result<AssigneeTarget, AssigneeFailure> {
    let (mapped, emails) = match request {
        AssigneeRequest::Unassign => return Ok(AssigneeTarget::Unassign),
        AssigneeRequest::Assign { mapped, emails } => (mapped.as_ref(), emails),
    };
    let mapped = mapped.filter(|m| !m.query.trim().is_empty());
    let emails: Vec<&UserSearch> = emails
        .iter()
        .filter(|s| !s.query.trim().is_empty())
        .collect();
    if mapped.is_none() && emails.is_empty() {
        return Err(AssigneeFailure::NothingToSearch);
    }
    let assign = |u: &AssignableUser| AssigneeTarget::Assign {
        name: u.name.clone(),
    };
    // 1. The explicit mapping.
    if let Some(found) = mapped.and_then(|m| match_username(m.query.trim(), &m.results)) {
        return Ok(assign(found));
    }
    // 2. Each verified e-mail; the first that matches wins.
    for search in &emails {
        if let Some(found) = match_email(&search.query, &search.results) {
            return Ok(assign(found));
        }
    }
    // 3. Jira hides e-mails: the single result of the mapped username's search.
    if let Some([only]) = mapped.map(|m| m.results.as_slice())
        && only.visible_email().is_none()
    {
        return Ok(assign(only));
    }
    let mut tried = Vec::new();
    if let Some(m) = mapped {
        tried.push(format!(
            "mapped username \"{}\": {} result(s), none named so{}",
            m.query.trim(),
            m.results.len(),
            if m.results.len() == 1 {
                " and its e-mail is visible"
            } else {
                ""
            }
        ));
    }
    for s in &emails {
        tried.push(format!(
            "e-mail \"{}\": {} result(s), none with that emailAddress{}",
            s.query.trim(),
            s.results.len(),
            if !s.results.is_empty() && s.results.iter().all(|u| u.visible_email().is_none()) {
                " (Jira hides e-mails; map the user to a Jira username)"
            } else {
                ""
            }
        ));
    }
    Err(AssigneeFailure::NoMatch { tried })
}

/// One transition from Jira's `GET /rest/api/2/issue/{key}/transitions` reply.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    /// The transition id, sent as `{"transition": {"id": ...}}`.
    pub id: String,
    /// Its name, for messages.
    pub name: String,
    /// `to.id`: the status it leads to (`None` when Jira did not say).
    pub to_status: Option<String>,
}

impl Transition {
    /// A transition with no known target status.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            to_status: None,
        }
    }

    /// Sets `to.id`.
    #[must_use]
    pub fn with_to_status(mut self, status_id: impl Into<String>) -> Self {
        self.to_status = Some(status_id.into());
        self
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.id, self.name)?;
        match &self.to_status {
            Some(to) => write!(f, " → status {to}"),
            None => f.write_str(" → unknown status"),
        }
    }
}

/// Why no transition is needed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoTransitionReason {
    /// The issue's Jira project has no status mapping.
    ProjectNotMapped,
    /// The issue is already at the target status.
    AlreadyAtTarget,
}

/// What to do with a Jira issue's status.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransitionDecision {
    /// Nothing to send.
    Nothing(NoTransitionReason),
    /// `POST /rest/api/2/issue/{key}/transitions` with `{"transition": {"id": id}}`.
    Transition {
        /// The transition id.
        id: String,
    },
}

/// No available transition leads to the target status (Sentry logs `jira.status-sync-fail`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "no Jira transition leads to status {target} from status {current}; available: {}; check the status mapping of the Jira project or the workflow",
    describe_transitions(.available)
)]
pub struct NoMatchingTransition {
    /// The target status id.
    pub target: String,
    /// The issue's current status id.
    pub current: String,
    /// The transitions Jira offered.
    pub available: Vec<Transition>,
}

fn describe_transitions(available: &[Transition]) -> String {
    if available.is_empty() {
        return "none".to_owned();
    }
    available
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Chooses the transition that brings a Jira issue of project `project_id`, now at status
/// `current_status`, to the status mapped for a group now `group_status`.
///
/// # Errors
///
/// [`NoMatchingTransition`] listing the available transitions when the project is mapped, the
/// issue is not at the target, and no transition leads there.
pub fn choose_transition(
    settings: &OutboundSettings,
    project_id: &str,
    current_status: &str,
    group_status: GroupStatus,
    available: &[Transition],
) -> Result<TransitionDecision, NoMatchingTransition> {
    let Some(targets) = settings.status_targets(project_id) else {
        return Ok(TransitionDecision::Nothing(
            NoTransitionReason::ProjectNotMapped,
        ));
    };
    let target = targets.target(group_status);
    if current_status == target {
        return Ok(TransitionDecision::Nothing(
            NoTransitionReason::AlreadyAtTarget,
        ));
    }
    match available
        .iter()
        .find(|t| t.to_status.as_deref() == Some(target))
    {
        Some(t) => Ok(TransitionDecision::Transition { id: t.id.clone() }),
        None => Err(NoMatchingTransition {
            target: target.to_owned(),
            current: current_status.to_owned(),
            available: available.to_vec(),
        }),
    }
}

/// What a queued outbound work item is about: supersession compares these.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct WorkKey {
    /// The integration it goes to.
    pub integration: IntegrationId,
    /// The Jira issue.
    pub issue: IssueKey,
    /// The kind of work.
    pub kind: OutboundKind,
}

impl WorkKey {
    /// A key.
    pub fn new(
        integration: impl Into<IntegrationId>,
        issue: impl Into<IssueKey>,
        kind: OutboundKind,
    ) -> Self {
        Self {
            integration: integration.into(),
            issue: issue.into(),
            kind,
        }
    }

    /// Whether a newer item with this key replaces an older unsent one with the same key:
    /// assignee and status carry the whole state, so only the newest counts; every comment is
    /// its own message.
    pub fn supersedes_same_key(&self) -> bool {
        match self.kind {
            OutboundKind::Assignee | OutboundKind::Status => true,
            OutboundKind::Comment => false,
        }
    }
}

/// One unsent item of an outbound queue: its queue sequence number (higher is newer) and key.
/// Sequence numbers are unique within a queue.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueuedWork {
    /// Position in the queue; a newer item has a higher number.
    pub seq: u64,
    /// What it is about.
    pub key: WorkKey,
}

impl QueuedWork {
    /// An item.
    pub fn new(seq: u64, key: WorkKey) -> Self {
        Self { seq, key }
    }
}

/// The sequence numbers of the unsent `queued` items that a new item with key `new` replaces:
/// the older items with the same key, when that kind supersedes (assignee, status). In queue
/// order.
pub fn superseded_by(queued: &[QueuedWork], new: &WorkKey) -> Vec<u64> {
    if !new.supersedes_same_key() {
        return Vec::new();
    }
    queued
        .iter()
        .filter(|q| q.key == *new)
        .map(|q| q.seq)
        .collect()
}

/// The items of `queued` that survive supersession, in their original order: for assignee and
/// status the newest (highest `seq`) item per key, and every comment.
pub fn survivors(queued: &[QueuedWork]) -> Vec<&QueuedWork> {
    let mut newest: BTreeMap<&WorkKey, u64> = BTreeMap::new();
    for q in queued.iter().filter(|q| q.key.supersedes_same_key()) {
        let e = newest.entry(&q.key).or_insert(q.seq);
        *e = (*e).max(q.seq);
    }
    queued
        .iter()
        .filter(|q| !q.key.supersedes_same_key() || newest.get(&q.key) == Some(&q.seq))
        .collect()
}
