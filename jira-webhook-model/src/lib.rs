//! Typed, lossless models of Jira Server, Data Center and Cloud webhook deliveries, with typed
//! changelog changes and issue snapshot diffing.
//!
//! ```
//! use jira_webhook_model::{Change, WebhookEvent, WebhookEventKind};
//!
//! let body = br#"{
//!   "timestamp": 1718000000000,
//!   "webhookEvent": "jira:issue_updated",
//!   "issue_event_type_name": "issue_updated",
//!   "issue": {
//!     "id": "10042", "key": "APP-7",
//!     "fields": {
//!       "assignee": { "name": "bob", "key": "JIRAUSER10002", "displayName": "Bob" },
//!       "customfield_10010": "kept as JSON"
//!     }
//!   },
//!   "changelog": { "id": "10500", "items": [
//!     { "field": "assignee", "fieldtype": "jira",
//!       "from": null, "fromString": null, "to": "JIRAUSER10002", "toString": "Bob" } ] }
//! }"#;
//!
//! let event = WebhookEvent::from_slice(body)?;
//! assert_eq!(event.kind(), Some(&WebhookEventKind::IssueUpdated));
//! assert_eq!(event.issue_key(), Some("APP-7"));
//!
//! // React to an assignee change: the changelog says *that* it changed (and the stored id),
//! // the issue snapshot says who the new assignee is (username for REST calls, e-mail if shown).
//! if let Some(change) = event.assignee_change() {
//!     assert_eq!(change.from, None);
//!     assert_eq!(change.to.and_then(|u| u.id).as_deref(), Some("JIRAUSER10002"));
//!     let assignee = event.issue().and_then(|i| i.assignee());
//!     assert_eq!(assignee.and_then(|u| u.name.as_str()), Some("bob"));
//!     assert_eq!(assignee.and_then(|u| u.email()), None); // e-mail hidden
//! }
//! assert!(matches!(event.changes()[..], [Change::Assignee { .. }]));
//!
//! // Lossless: unknown members survive a round trip.
//! let again: serde_json::Value = serde_json::from_str(&event.to_json())?;
//! assert_eq!(again, serde_json::from_slice::<serde_json::Value>(body)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is modelled
//!
//! * [`WebhookEvent`]: the envelope; [`WebhookEventKind`] and [`IssueEventTypeName`] are open
//!   enums that keep unknown values (read any value with `as_str()`; `is_unknown()` says whether
//!   this version knows it; the unknown variant itself is hidden, so matches on it cannot break
//!   when a value gains a variant).
//! * [`Issue`], [`IssueFields`] (summary, description, status with category, assignee,
//!   reporter, creator, project, issue type, priority, resolution, labels, fix versions,
//!   versions, components, created/updated/resolution date as [`JiraDateTime`]); every other
//!   field (custom fields included) is kept as raw JSON text in `extra` ([`Extra`]).
//! * [`User`] for Server/DC (`name`, `key`) and Cloud (`accountId`); every member optional.
//! * Every member is a [`Field`]: absent, `null`, a typed value, or (when the JSON type was
//!   unexpected) the raw JSON. Parsing never fails because of a member's type.
//! * [`Changelog::changes`] gives typed [`Change`]s; [`diff`] compares two snapshots and gives
//!   the same type; [`Issue::apply_changes`] applies them.
//! * [`LeanEvent`]: only `timestamp`, `webhookEvent`, the issue's key, id, assignee, status
//!   and project, and the changelog, for consumers that react to changes and need not keep
//!   the delivery; the rest is skipped, which makes parsing several times cheaper.
//!
//! # Limits
//!
//! Parsing uses serde_json's default recursion limit (128 levels), and unmodelled members
//! (which are kept as raw JSON text, [`Extra`]) may nest at most 100 levels, so deeply nested
//! input is rejected with [`ParseError::TooDeep`] instead of overflowing the stack, and any
//! body that parses also parses as a `serde_json::Value`; [`nests_deeper_than`] tells a body's
//! depth before parsing it. Parsing never panics; see the
//! `fuzzing` module used by the fuzz targets. The types deserialise from serde_json only
//! (unmodelled members use `serde_json::value::RawValue`).
//!
//! # Other crates' types in this API
//!
//! On purpose, and stable across this crate's 0.x versions as long as they are: serde's
//! `Serialize`/`Deserialize`, serde_json's `Value`, `Map`, `RawValue` and `Error` (the JSON
//! this crate models; [`ParseError::json_error`]), and `time::OffsetDateTime`
//! ([`JiraDateTime::offset_date_time`]). Nothing else from a dependency is public.

#[macro_use]
mod macros;

mod changelog;
mod depth;
mod diff;
mod error;
mod extra;
mod field;
#[doc(hidden)]
pub mod fuzzing;
mod lean;
mod model;
mod private;

pub use changelog::{
    Change, ChangeKind, Changelog, ChangelogItem, NamedRef, OtherChange, ProjectRef, StatusRef,
    Transition, UserRef,
};
pub use depth::nests_deeper_than;
pub use diff::{Modelled, diff};
pub use error::ParseError;
pub use extra::{Extra, RawJson};
pub use field::{Field, Id, JiraDateTime, Lenient};
pub use lean::{LeanEvent, LeanIssue, LeanIssueFields};
pub use model::{
    Comment, Issue, IssueEventTypeName, IssueFields, IssueType, Named, Project, Status,
    StatusCategory, User, WebhookEvent, WebhookEventKind,
};

// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
