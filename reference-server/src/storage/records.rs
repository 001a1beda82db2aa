//! Records every storage backend keeps (the embedded backend stores them as JSON values), and
//! the bulk import's item and counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::jira::install::{Installed, PendingInstall};

/// An installed integration. Secrets live in `installed` (credentials, webhook secret, the
/// webhook URL) and are never returned by the API (see [`IntegrationRecord::public_view`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRecord {
    /// Our id (decimal string).
    pub id: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// What the Jira install logic produced.
    pub installed: Installed,
}

/// What the API shows of an integration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    /// Our id.
    pub id: String,
    /// External id.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// Jira base URL.
    pub base_url: String,
    /// TLS verification flag.
    pub verify_ssl: bool,
}

impl IntegrationRecord {
    /// The API view (no secrets).
    pub fn public_view(&self) -> IntegrationView {
        IntegrationView {
            id: self.id.clone(),
            external_id: self.installed.external_id.clone(),
            name: self.installed.name.clone(),
            base_url: self.installed.base_url.clone(),
            verify_ssl: self.installed.verify_ssl,
        }
    }

    /// The external id.
    pub fn external_id(&self) -> &str {
        &self.installed.external_id
    }
}

/// A pending OAuth install pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRecord {
    /// Pipeline id (random).
    pub id: String,
    /// The request token (`oauth_token`) Jira will send back to the browser callback.
    pub oauth_token: String,
    /// State of the Jira install logic (contains secrets).
    pub state: PendingInstall,
    /// Creation time, unix seconds (pipelines expire).
    pub created_unix: i64,
}

/// Per-organization settings of an integration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrgSettingsRecord {
    /// Jira assignee changes are applied to linked groups.
    pub sync_reverse_assignment: bool,
    /// Jira status changes resolve/unresolve linked groups.
    pub sync_status_reverse: bool,
    /// Optional per-Jira-project status mapping (`{"<project key>": {"resolved": "<status id>", ...}}`
    /// as understood by `assignee-sync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_mapping: Option<serde_json::Value>,
}

/// One e-mail address of a user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmailRecord {
    /// The address as given.
    pub email: String,
    /// Whether it is verified (only verified addresses match).
    #[serde(default)]
    pub verified: bool,
}

/// A tracker user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRecord {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Inactive users never match.
    #[serde(default = "default_true")]
    pub active: bool,
    /// E-mail addresses.
    #[serde(default)]
    pub emails: Vec<EmailRecord>,
}

fn default_true() -> bool {
    true
}

/// A tracker project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProjectRecord {
    /// Organization id.
    pub organization: String,
    /// Member user ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Status of a group.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    /// Open.
    #[default]
    Unresolved,
    /// Resolved.
    Resolved,
}

/// A tracker group (the tracker's "issue").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupRecord {
    /// Project id.
    pub project: String,
    /// Status.
    #[serde(default)]
    pub status: GroupStatus,
    /// Assigned user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Integration id that made the last change, if it came from a sync (echo detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_source: Option<String>,
    /// Newest delivery applied to this group, by `"<integration>/<kind>"` (`assignee` or
    /// `status`). Kept in the group record so that a change and its watermark are one atomic
    /// write.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub watermarks: std::collections::BTreeMap<String, WatermarkRecord>,
}

/// Ordering key of the newest delivery applied to a group for one integration and sync kind.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct WatermarkRecord {
    /// Jira changelog id, when the delivery had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog_id: Option<u64>,
    /// Delivery timestamp, unix milliseconds.
    pub timestamp_ms: i64,
}

/// State of a delivery in the log.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Stored, not applied yet (or waiting for Jira).
    Pending,
    /// Applied (at least one group considered).
    Applied,
    /// Nothing to do (reason says why).
    Ignored,
    /// Could not be applied (reason says why).
    Failed,
}

/// What happened to one linked group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupOutcomeRecord {
    /// Group id.
    pub group: String,
    /// `assigned`, `deassigned`, `resolved`, `unresolved`, `unchanged` or `skipped`.
    pub result: String,
    /// User involved, if any.
    pub user: Option<String>,
    /// Why (for `unchanged`/`skipped`).
    pub reason: Option<String>,
}

/// One entry of the delivery log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// Receive time, RFC 3339.
    pub received_at: String,
    /// `webhookEvent` of the delivery.
    pub event: Option<String>,
    /// Issue key.
    pub issue_key: Option<String>,
    /// State.
    pub state: DeliveryState,
    /// Why (ignored/failed/pending-retry).
    pub reason: Option<String>,
    /// Per-group outcomes.
    pub outcomes: Vec<GroupOutcomeRecord>,
}

/// Cached Jira status categories of one integration (status id -> category key).
pub type StatusCategories = BTreeMap<String, String>;

/// One link of a bulk import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLink {
    /// Group id.
    pub group: String,
    /// Project to create the group in or move it to; `None`: the group must already exist.
    pub project: Option<String>,
    /// Integration id.
    pub integration: String,
    /// Jira issue key.
    pub issue_key: String,
}

/// What [`Tracker::import_links`](super::Tracker::import_links) did, counted per item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportCounts {
    /// Items whose group did not exist and was created.
    pub groups_created: u64,
    /// Items that moved an existing group to another project.
    pub groups_moved: u64,
    /// Items whose group already was in the given project.
    pub groups_unchanged: u64,
    /// Links that did not exist before.
    pub links_created: u64,
    /// Links that already existed (also the second of two equal items).
    pub links_existing: u64,
}

/// The retry state of a delivery that could not be applied yet (Jira unreachable): kept per
/// delivery, so that later deliveries of the same integration go on while it waits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetryRecord {
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the first attempt failed, unix milliseconds.
    pub first_failure_ms: i64,
    /// Not retried before this time, unix milliseconds.
    pub next_attempt_ms: i64,
    /// Why the last attempt failed.
    pub last_error: String,
}

/// A delivery given up on after its retry budget (`--retry-max-attempts`,
/// `--retry-max-age`): kept with its body until an operator retries or deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterRecord {
    /// The delivery's inbox sequence number (its delivery-log key).
    pub seq: u64,
    /// Integration id.
    pub integration_id: String,
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// `webhookEvent` of the delivery, when it could be read.
    pub event: Option<String>,
    /// Issue key, when it could be read.
    pub issue_key: Option<String>,
    /// Failed attempts.
    pub attempts: u32,
    /// When the first attempt failed, unix milliseconds.
    pub first_failure_ms: i64,
    /// When it was given up on, unix milliseconds.
    pub dead_ms: i64,
    /// Why the last attempt failed.
    pub last_error: String,
    /// The stored body, as the inbox kept it.
    pub body: Vec<u8>,
}
