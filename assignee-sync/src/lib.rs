//! Store-agnostic inbound sync from Jira Server / Data Center: an assignee or status change
//! on a Jira issue assigns, de-assigns, resolves or unresolves the tracker groups linked to
//! it; exact, order-safe and idempotent.
//!
//! ```
//! use assignee_sync::memory::InMemoryStore;
//! use assignee_sync::{
//!     GroupId, GroupResult, InboundEvent, JiraUser, OrderingKey, SyncKind, SyncSettings,
//!     UserId, sync_inbound,
//! };
//! use jira_webhook_model::WebhookEvent;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Seed: org "acme" installed Jira integration "jira-1" with inbound assignee sync on.
//! let store = InMemoryStore::new();
//! store.install("jira-1", "acme", SyncSettings::new().with_reverse_assignment(true));
//! store.add_project("backend", "acme");
//! store.add_user("u-jess", true);
//! store.add_email("u-jess", "Jess@Sentry.io", true)?;
//! store.add_member("backend", "u-jess")?;
//! store.add_group("g-1", "backend")?;
//! store.link("g-1", "jira-1", "APP-123")?;
//!
//! // A delivery as Jira sends it: APP-123 assigned to jess@sentry.io.
//! let delivery = WebhookEvent::from_str(r#"{
//!   "timestamp": 1718000000000,
//!   "webhookEvent": "jira:issue_updated",
//!   "changelog": { "id": "10172", "items": [
//!     { "field": "assignee", "fieldtype": "jira", "from": null, "fromString": null,
//!       "to": "jess", "toString": "Jess MacQueen" } ] },
//!   "issue": { "id": "101", "key": "APP-123",
//!     "fields": { "assignee": { "name": "jess", "emailAddress": "jess@sentry.io" } } }
//! }"#)?;
//! let issue = delivery.issue().ok_or("no issue")?;
//! let changelog_id = delivery.changelog().and_then(|c| c.id.as_str()?.parse().ok());
//! // Event time first (a delivery without one: the time it was received), then the changelog id.
//! let received_ms = 1718000000500;
//! let ordering = OrderingKey::new(
//!     changelog_id,
//!     delivery.timestamp.value().copied().unwrap_or(received_ms),
//! );
//! let mut event = InboundEvent::new("jira-1", issue.key().ok_or("no key")?, ordering);
//! if delivery.assignee_change().is_some() {
//!     // Sentry's rule: the new assignee's identity comes from `issue.fields.assignee`.
//!     event = match issue.assignee() {
//!         Some(user) => event.assigned_to(
//!             JiraUser::new()
//!                 .with_name(user.name.as_str().unwrap_or_default())
//!                 .with_email(user.email().unwrap_or_default()),
//!         ),
//!         None => event.unassigned(),
//!     };
//! }
//! let outcome = sync_inbound(&store, &event).await?;
//!
//! assert_eq!(
//!     outcome.result("g-1", SyncKind::Assignee),
//!     Some(&GroupResult::Assigned { user: UserId::new("u-jess") })
//! );
//! let group = store.group(&GroupId::new("g-1")).expect("seeded");
//! assert_eq!(group.assignee, Some(UserId::new("u-jess")));
//!
//! // Delivered twice? The second time changes nothing.
//! let again = sync_inbound(&store, &event).await?;
//! assert!(!again.changed_anything());
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! A caller turns a webhook delivery into an [`InboundEvent`] (integration id, issue key,
//! [`OrderingKey`], optional assignee / status / key change, Jira project key) and calls
//! [`sync_inbound`] with a [`Store`]. The logic reads installations, linked groups, users
//! and project membership, decides with the pure functions of [`decide`], and writes
//! everything in **one** atomic [`Store::commit`] of a [`Plan`]. It returns a [`SyncOutcome`]
//! saying, per group and kind, what happened: assigned to X, de-assigned, resolved,
//! unresolved, unchanged, or skipped with a [`SkipReason`].
//!
//! Behaviour (Sentry's `sync_group_assignee_inbound` and inbound status sync, with its known
//! faults fixed):
//!
//! * **Assignee set**: candidates are the user explicitly mapped to the Jira user key,
//!   username or account id (in that order), then active users with that **verified** e-mail
//!   ignoring case, by ascending user id. Each linked group (in organizations with
//!   `sync_reverse_assignment`) gets the first candidate that is a member of its project.
//!   Otherwise the group is skipped with `EmailHidden` (no usable e-mail, no mapping),
//!   `NoMatchingUser` or `NotProjectMember`.
//! * **Assignee cleared**: every linked group in enabled organizations is de-assigned.
//! * **Status**: into a `done`-category status resolves, out of it unresolves, anything else
//!   is `NoResolutionChange`; a per-project [`StatusMapping`] decides instead when configured.
//! * Only links of the event's integration count; groups of organizations that did not
//!   install it are skipped `NotInstalled`.
//! * **Key change** (issue moved): the links of the old key move to the new key, in the same
//!   commit. A store that tracks moves ([`Store::moved_to`], optional; `InMemoryStore` does)
//!   also lets an older event that names the old key, delivered after the move, reach the
//!   moved groups, and makes moves delivered out of order end at the newest key. Limitation:
//!   an event naming a new key that arrives *before* the move creating that key finds no
//!   links and is not replayed (the model test states this guarantee precisely).
//! * **Order and duplicates**: every group has one watermark per (integration, kind). A change
//!   applies only if its ordering key is greater than the watermark, and advances it; the same
//!   change (an equal key, or the same changelog id) is `Duplicate`, smaller is `Stale`. Assignee and status are independent. A decision of
//!   "leave alone" does not advance the watermark. Delivering any set of events in any order,
//!   any number of times, ends in the same state as delivering them once in order (a property
//!   test checks this, with changelog ids drawn from per-node id banks as on a Jira Data
//!   Center cluster). [`OrderingKey`] orders by event time first and by changelog id only
//!   within one millisecond, because a cluster's changelog ids are not in time order.
//! * **Echo**: every change records `ChangeSource::Integration(id)` so outbound sync can skip
//!   echoes ([`ChangeSource::is_echo_of`]).
//!
//! * **Outbound** (tracker → Jira): the pure decisions of [`outbound`]: whether to send a
//!   change to an integration (never back to the one it came from), which Jira user to
//!   assign, which transition to take, and which queued work a newer change supersedes.
//!
//! Out of scope: Sentry's release-based resolution strategies, and the lookups that need Jira
//! (status categories, users by username); the caller fills those into the event.
//!
//! # Other crates' types in this API
//!
//! None, except serde's `Serialize`/`Deserialize` implementations with the `serde` feature.

pub mod decide;
mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod memory;
pub mod outbound;
mod outcome;
mod private;
mod store;
mod sync;
mod types;

pub use event::{
    AssigneeChange, InboundEvent, JiraStatus, JiraUser, KeyChange, OrderingKey, StatusCategory,
    StatusChange,
};
pub use outcome::{GroupOutcome, GroupResult, SkipReason, SyncError, SyncOutcome};
pub use store::{
    Change, Installation, KeyMove, LinkedGroup, Mutation, MutationResult, Plan, Store,
};
pub use sync::{mapping_settles, sync_inbound};
pub use types::{
    ChangeSource, GroupId, GroupStatus, IntegrationId, IssueKey, OrganizationId, ProjectId,
    StatusMapping, SyncKind, SyncSettings, UserId,
};

// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
