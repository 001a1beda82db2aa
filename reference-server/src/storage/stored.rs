//! The stored form of a delivery: what the inbox keeps of a relevant webhook body, and the
//! one way the worker reads it back.
//!
//! [`StoredDelivery`] is the only list of the members the worker reads: the delivery's
//! `timestamp`, `webhookEvent` and `changelog`, the issue's `id` and `key`, and of the issue's
//! `status`, `assignee` and `project` the members [`STATUS_MEMBERS`], [`USER_MEMBERS`] and
//! [`PROJECT_MEMBERS`] name (the webhook's fast path picks those out with the same lists).
//! Each value is kept as its JSON text, verbatim and in the body's order (so `null` stays
//! apart from absent, and a repeated member reads as in the body), and the whole is written by
//! serde as compact JSON: 637 bytes of the load harness's 11 KB `jira:issue_updated`, so the
//! inbox's disk write and sync and the worker's parse handle a fraction of the bytes. The worker decodes it with serde
//! ([`read`], `jira_webhook_model::LeanEvent`), which reads the stored form to the same
//! answers as the whole body (checked on the fixtures and by the `webhook_body` fuzz target
//! with `worker_view`).
//!
//! A body whose issue or its `fields` has a shape the stored form cannot carry is kept whole
//! (the webhook intake decides that); [`read`] reads both.
//!
//! Why here, in `storage/` and outside every backend: the stored form is what the inbox holds
//! whichever backend holds it (the sled segment log today, a table's `bytea` column tomorrow).
//! The intake writes it and the worker reads it; no backend looks inside, so backends share one
//! definition and an inbox written by one version reads the same in all of them.

use std::fmt;

use jira_webhook_model::{LeanEvent, ParseError, Project, Status, User};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
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

/// The members the worker reads of the issue's `status` (`Worker::status_pair`).
pub const STATUS_MEMBERS: &[&str] = &["id", "name", "statusCategory"];
/// The members the worker reads of the issue's `assignee` (`Worker::resolve_user`).
pub const USER_MEMBERS: &[&str] = &["name", "key", "accountId", "displayName", "emailAddress"];
/// The members the worker reads of the issue's `project` (its key).
pub const PROJECT_MEMBERS: &[&str] = &["id", "key"];

/// The kept members of the issue's `fields` object.
#[derive(Serialize, Debug, Default)]
pub struct FieldsObject<'a> {
    /// `status`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Kept<'a>>,
    /// `assignee` (`null` when unassigned)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Kept<'a>>,
    /// `project`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Kept<'a>>,
}

/// The members of an object named in a list such as [`USER_MEMBERS`], as `(name, JSON text)`
/// in the object's order, repeats included.
pub type Members<'a> = Vec<(&'static str, &'a str)>;

impl<'a> FieldsObject<'a> {
    /// The kept form of the raw `status`, `assignee` and `project` (each the JSON text of the
    /// last such member of `fields`), with their members named in [`STATUS_MEMBERS`],
    /// [`USER_MEMBERS`] and [`PROJECT_MEMBERS`] when a reader already picked them out (`None`:
    /// picked out here); an error when a text is not JSON.
    pub fn of(
        raw: [Option<&'a str>; 3],
        picked: [Option<Members<'a>>; 3],
    ) -> Result<Self, serde_json::Error> {
        let [status, assignee, project] = raw;
        let [p_status, p_assignee, p_project] = picked;
        let kept = |raw: Option<&'a str>, names, picked| {
            raw.map(|raw| Kept::of(raw, names, picked)).transpose()
        };
        Ok(FieldsObject {
            status: kept(status, STATUS_MEMBERS, p_status)?,
            assignee: kept(assignee, USER_MEMBERS, p_assignee)?,
            project: kept(project, PROJECT_MEMBERS, p_project)?,
        })
    }
}

/// A member of `fields`: an object cut down to the members the worker reads, or its JSON text
/// whole (not an object).
#[derive(Debug)]
pub enum Kept<'a> {
    /// The object's members the worker reads, in order.
    Cut(Vec<(&'static str, &'a RawValue)>),
    /// The value as it was.
    Whole(&'a RawValue),
}

impl Serialize for Kept<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Kept::Cut(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
            Kept::Whole(raw) => raw.serialize(s),
        }
    }
}

impl<'a> Kept<'a> {
    /// The value of the JSON text `raw`, cut down to `names` when it is an object (`picked`:
    /// those members as a reader already found them); an error when `raw` is not JSON.
    fn of(
        raw: &'a str,
        names: &'static [&'static str],
        picked: Option<Members<'a>>,
    ) -> Result<Self, serde_json::Error> {
        if let Some(members) = picked {
            return members
                .into_iter()
                .map(|(name, text)| Ok((name, raw_value(text)?)))
                .collect::<Result<_, _>>()
                .map(Kept::Cut);
        }
        if !raw.starts_with('{') {
            return raw_value(raw).map(Kept::Whole);
        }
        let mut de = serde_json::Deserializer::from_str(raw);
        let members = Pick(names).deserialize(&mut de)?;
        de.end()?;
        Ok(Kept::Cut(members))
    }
}

/// Reads an object's members named in `.0`, in order, repeats included.
struct Pick(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Pick {
    type Value = Vec<(&'static str, &'de RawValue)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pick {
    type Value = Vec<(&'static str, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(self.0.len());
        while let Some(name) = map.next_key::<String>()? {
            match self.0.iter().find(|n| **n == name) {
                Some(n) => out.push((*n, map.next_value::<&'de RawValue>()?)),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// The JSON text of one value as a `RawValue` (serde's way to write it verbatim); an error
/// when it is not one JSON value.
pub fn raw_value(text: &str) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_str(text)
}

impl StoredDelivery<'_> {
    /// The stored form: compact JSON.
    pub fn encode(&self) -> Vec<u8> {
        // The changelog is most of it; the rest of a typical stored form fits in 512 bytes
        // (sized once instead of grown from serde_json's 128).
        let mut out = Vec::with_capacity(self.changelog.get().len() + 512);
        // Serialising borrowed raw JSON text into a `Vec` cannot fail.
        serde_json::to_writer(&mut out, self).unwrap_or_else(|e| unreachable!("stored form: {e}"));
        out
    }
}

/// What the worker reads of a delivery: `event` with the issue's `status`, `assignee` and
/// `project` cut down to the members of [`STATUS_MEMBERS`], [`USER_MEMBERS`] and
/// [`PROJECT_MEMBERS`]. The stored form of a body reads to the same view as the body (tests and
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json(kept: &Kept<'_>) -> String {
        serde_json::to_string(kept).expect("serialises")
    }

    /// Without members picked out by the fast path, serde picks the same ones: in order,
    /// repeats included, nested values skipped, escaped names read decoded.
    #[test]
    fn kept_known_answers() {
        let raw = r#"{"self":"u","name":"amy","x":{"name":[1]},"name":"bob","emailAddress":null}"#;
        let kept = Kept::of(raw, USER_MEMBERS, None).expect("JSON");
        assert_eq!(
            json(&kept),
            r#"{"name":"amy","name":"bob","emailAddress":null}"#
        );
        let picked = vec![
            ("name", "\"amy\""),
            ("name", "\"bob\""),
            ("emailAddress", "null"),
        ];
        assert_eq!(
            json(&Kept::of(raw, USER_MEMBERS, Some(picked)).expect("JSON")),
            json(&kept)
        );
        let escaped = r#"{"display\u004eame":"Bob","avatarUrls":{}}"#;
        assert_eq!(
            json(&Kept::of(escaped, USER_MEMBERS, None).expect("JSON")),
            r#"{"displayName":"Bob"}"#
        );
        assert_eq!(
            json(&Kept::of(" \"odd\"", STATUS_MEMBERS, None).expect("JSON")),
            r#""odd""#
        );
        assert_eq!(
            json(&Kept::of("null", PROJECT_MEMBERS, None).expect("JSON")),
            "null"
        );
        assert!(Kept::of("{\"id\":", PROJECT_MEMBERS, None).is_err());
        assert!(Kept::of("nul", PROJECT_MEMBERS, None).is_err());
    }
}
