//! The stored form of a delivery: what the inbox keeps of a relevant webhook body, and the
//! one way the worker reads it back.
//!
//! [`StoredDelivery`] is the only list of the members the worker reads: the delivery's
//! `timestamp`, `webhookEvent` and `changelog`, the issue's `id` and `key`, and of the issue's
//! `status`, `assignee` and `project` the members [`StoredStatus`], [`StoredUser`] and
//! [`StoredProject`] name. Each value is kept as its JSON text, verbatim (so `null` stays apart
//! from absent), and the whole is written by serde as compact JSON: 637 bytes of the load
//! harness's 11 KB `jira:issue_updated`, so the inbox's disk write and sync and the worker's
//! parse handle a fraction of the bytes. The worker decodes it with serde
//! ([`read`], `jira_webhook_model::LeanEvent`), which reads the stored form to the same
//! answers as the whole body (checked on the fixtures and by the `webhook_body` fuzz target
//! with `worker_view`).
//!
//! A body whose issue or its `fields` has a shape the stored form cannot carry is kept whole
//! (the webhook intake decides that); [`read`] reads both.

use jira_webhook_model::{LeanEvent, ParseError, Project, Status, User};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// Reads an inbox entry's body (a stored form, or a body kept whole) as the worker does.
pub fn read(stored: &[u8]) -> Result<LeanEvent, ParseError> {
    LeanEvent::from_slice(stored)
}

/// What the inbox keeps of a relevant delivery (see the module docs). Serialises to the stored
/// form; each member borrows its JSON text from the body.
#[derive(Serialize, Debug)]
pub struct StoredDelivery<'a> {
    /// `timestamp`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<&'a RawValue>,
    /// `webhookEvent`
    #[serde(rename = "webhookEvent", skip_serializing_if = "Option::is_none")]
    pub webhook_event: Option<&'a RawValue>,
    /// `issue`
    pub issue: StoredIssue<'a>,
    /// `changelog` (present and truthy: the delivery is relevant).
    pub changelog: &'a RawValue,
}

/// The issue's `id`, `key` and `fields`.
#[derive(Serialize, Debug)]
pub struct StoredIssue<'a> {
    /// `id`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a RawValue>,
    /// `key`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a RawValue>,
    /// `fields`
    #[serde(skip_serializing_if = "StoredFields::is_absent")]
    pub fields: StoredFields<'a>,
}

/// The issue's `fields`: absent, `null`, or an object of which `status`, `assignee` and
/// `project` are kept.
#[derive(Debug)]
pub enum StoredFields<'a> {
    /// No `fields` member.
    Absent,
    /// `"fields": null`
    Null,
    /// An object.
    Object(FieldsObject<'a>),
}

impl StoredFields<'_> {
    fn is_absent(&self) -> bool {
        matches!(self, StoredFields::Absent)
    }
}

impl Serialize for StoredFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StoredFields::Absent | StoredFields::Null => s.serialize_unit(),
            StoredFields::Object(o) => o.serialize(s),
        }
    }
}

/// The kept members of the issue's `fields` object.
#[derive(Serialize, Debug, Default)]
pub struct FieldsObject<'a> {
    /// `status`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Kept<'a, StoredStatus<'a>>>,
    /// `assignee` (`null` when unassigned)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Kept<'a, StoredUser<'a>>>,
    /// `project`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Kept<'a, StoredProject<'a>>>,
}

impl<'a> FieldsObject<'a> {
    /// The kept members of the raw `status`, `assignee` and `project` (each the JSON text of
    /// the last such member of `fields`); an error when one is not JSON.
    pub fn of(
        status: Option<&'a str>,
        assignee: Option<&'a str>,
        project: Option<&'a str>,
    ) -> Result<Self, serde_json::Error> {
        Ok(FieldsObject {
            status: kept(status)?,
            assignee: kept(assignee)?,
            project: kept(project)?,
        })
    }
}

/// An optional member's [`Kept`] form; an error for text that is not JSON.
fn kept<'a, T: Deserialize<'a>>(
    raw: Option<&'a str>,
) -> Result<Option<Kept<'a, T>>, serde_json::Error> {
    raw.map(Kept::of).transpose()
}

/// A member of `fields`: an object cut down to what the worker reads, or its JSON text whole
/// (not an object, or an object the cut-down type does not read, e.g. a repeated member).
#[derive(Serialize, Debug)]
#[serde(untagged)]
pub enum Kept<'a, T> {
    /// The object's members the worker reads.
    Cut(T),
    /// The value as it was.
    Whole(&'a RawValue),
}

impl<'a, T: Deserialize<'a>> Kept<'a, T> {
    /// The value of the JSON text `raw`, cut down when it is an object `T` reads; an error
    /// when `raw` is not JSON.
    fn of(raw: &'a str) -> Result<Self, serde_json::Error> {
        if raw.starts_with('{')
            && let Ok(cut) = serde_json::from_str(raw)
        {
            return Ok(Kept::Cut(cut));
        }
        raw_value(raw).map(Kept::Whole)
    }
}

/// The JSON text of one value as a `RawValue` (serde's way to write it verbatim); an error
/// when it is not one JSON value.
pub fn raw_value(text: &str) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_str(text)
}

/// What the worker reads of the issue's `status` (`Worker::status_pair`).
#[derive(Serialize, Deserialize, Debug)]
pub struct StoredStatus<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    id: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    name: Option<&'a RawValue>,
    #[serde(
        rename = "statusCategory",
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    status_category: Option<&'a RawValue>,
}

/// What the worker reads of the issue's `assignee` (`Worker::resolve_user`).
#[derive(Serialize, Deserialize, Debug)]
pub struct StoredUser<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    name: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    key: Option<&'a RawValue>,
    #[serde(
        rename = "accountId",
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    account_id: Option<&'a RawValue>,
    #[serde(
        rename = "displayName",
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    display_name: Option<&'a RawValue>,
    #[serde(
        rename = "emailAddress",
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    email_address: Option<&'a RawValue>,
}

/// What the worker reads of the issue's `project` (its key).
#[derive(Serialize, Deserialize, Debug)]
pub struct StoredProject<'a> {
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    id: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        deserialize_with = "raw",
        skip_serializing_if = "Option::is_none"
    )]
    key: Option<&'a RawValue>,
}

/// A present member as raw JSON, `null` included (an `Option<&RawValue>` would read `null` as
/// absent).
fn raw<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue>::deserialize(d).map(Some)
}

impl StoredDelivery<'_> {
    /// The stored form: compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising borrowed raw JSON text into a `Vec` cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|e| unreachable!("stored form: {e}"))
    }
}

/// What the worker reads of a delivery: `event` with the issue's `status`, `assignee` and
/// `project` cut down to the members of [`StoredStatus`], [`StoredUser`] and
/// [`StoredProject`]. The stored form of a body reads to the same view as the body (tests and
/// the `webhook_body` fuzz target); this is the statement of that view on the model's side.
pub(crate) fn worker_view(event: &LeanEvent) -> LeanEvent {
    let mut view = event.clone();
    let Some(fields) = view.issue.value_mut().and_then(|i| i.fields.value_mut()) else {
        return view;
    };
    if let Some(s) = fields.status.value_mut() {
        let mut kept = Status::default();
        kept.id = std::mem::take(&mut s.id);
        kept.name = std::mem::take(&mut s.name);
        kept.status_category = std::mem::take(&mut s.status_category);
        *s = kept;
    }
    if let Some(u) = fields.assignee.value_mut() {
        let mut kept = User::default();
        kept.name = std::mem::take(&mut u.name);
        kept.key = std::mem::take(&mut u.key);
        kept.account_id = std::mem::take(&mut u.account_id);
        kept.display_name = std::mem::take(&mut u.display_name);
        kept.email_address = std::mem::take(&mut u.email_address);
        *u = kept;
    }
    if let Some(p) = fields.project.value_mut() {
        let mut kept = Project::default();
        kept.id = std::mem::take(&mut p.id);
        kept.key = std::mem::take(&mut p.key);
        *p = kept;
    }
    view
}
