//! The one parse of a delivery body on the webhook path ([`Probe`]): what classification reads
//! (event name, issue key, changelog) and, in the same pass, the members the inbox's stored
//! form keeps, as borrowed raw JSON text ([`Probe::stored`]).
//!
//! Everything else is skipped (checked for JSON syntax, not kept). This module is the serde
//! reader, which decides every edge case; the hand-written fast path ([`super::scan`]) gives
//! the same [`Probe`] for the common shape, and `super::read` tries it first.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::storage::stored::{
    FieldsObject, Members, StoredDelivery, StoredFields, StoredIssue, raw_value,
};

/// What the hot path reads of a delivery (borrowed raw JSON text, everything else skipped).
/// Each raw member is the value's text without the whitespace around it.
#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
pub(super) struct Probe<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    pub timestamp: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "raw", rename = "webhookEvent")]
    pub webhook_event: Option<&'a str>,
    #[serde(borrow, default)]
    pub issue: Option<ProbeIssue<'a>>,
    /// `None` when absent or `null`.
    #[serde(borrow, default, deserialize_with = "opt_raw")]
    pub changelog: Option<&'a str>,
}

#[derive(Deserialize, Debug, Default, PartialEq, Eq)]
pub(super) struct ProbeIssue<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    pub id: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "raw")]
    pub key: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "fields")]
    pub fields: Option<ProbeFields<'a>>,
}

impl<'a> Probe<'a> {
    /// Reads a body with serde: `None` when it is not JSON, or JSON of a shape these types
    /// do not take (say, a repeated `issue`, or an `issue` that is not an object or `null`).
    pub fn read_with_serde(body: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    /// The event name and the issue key, when each is a string, `null` or absent (borrowed
    /// when they have no escapes); `None` when either has another type.
    #[allow(clippy::type_complexity)]
    pub fn strings(&self) -> Option<(Option<Cow<'a, str>>, Option<Cow<'a, str>>)> {
        let key = self.issue.as_ref().and_then(|i| i.key);
        Some((string(self.webhook_event).ok()?, string(key).ok()?))
    }
}

/// A raw member read as an optional string: `None` for absent or `null`, an error for another
/// type.
fn string(raw: Option<&str>) -> Result<Option<Cow<'_, str>>, serde_json::Error> {
    match raw {
        None => Ok(None),
        Some(r) => opt_cow(&mut serde_json::Deserializer::from_str(r)),
    }
}

/// An issue's `fields`: the raw `status`, `assignee` and `project` of an object (a repeated
/// member counts once, the last one, as in `LeanEvent`), `null`, or another type.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ProbeFields<'a> {
    Object {
        status: Option<&'a str>,
        assignee: Option<&'a str>,
        project: Option<&'a str>,
    },
    Null,
    NotObject,
}

/// A present `fields` member, `null` included.
fn fields<'de, D>(d: D) -> Result<Option<ProbeFields<'de>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    ProbeFields::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub(super) struct ProbeChangelog<'a> {
    #[serde(borrow, default)]
    pub items: Option<Vec<ProbeItem<'a>>>,
}

#[derive(Deserialize)]
pub(super) struct ProbeItem<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub field: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow", rename = "fieldId")]
    pub field_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow", rename = "fieldtype")]
    pub field_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow", rename = "fromString")]
    pub from_string: Option<Cow<'a, str>>,
}

/// An optional string that borrows from the body when it has no escapes. (`#[serde(borrow)]`
/// on an `Option<Cow<str>>` field does not borrow: serde only special-cases a bare `Cow`.)
fn opt_cow<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Borrowing<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowing<'de>>::deserialize(d)?.map(|b| b.0))
}

/// A present member as raw JSON, `null` included (an `Option<&RawValue>` would read `null` as
/// absent).
fn raw<'de, D>(d: D) -> Result<Option<&'de str>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue>::deserialize(d).map(|r| Some(r.get()))
}

/// A present member as raw JSON, `null` read as absent.
fn opt_raw<'de, D>(d: D) -> Result<Option<&'de str>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<&'de RawValue>::deserialize(d).map(|r| r.map(RawValue::get))
}

impl<'de: 'a, 'a> Deserialize<'de> for ProbeFields<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldsVisitor)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FieldName {
    Status,
    Assignee,
    Project,
    #[serde(other)]
    Other,
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = ProbeFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut status, mut assignee, mut project) = (None, None, None);
        while let Some(name) = map.next_key::<FieldName>()? {
            let slot = match name {
                FieldName::Status => &mut status,
                FieldName::Assignee => &mut assignee,
                FieldName::Project => &mut project,
                FieldName::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value::<&'de RawValue>()?.get());
        }
        Ok(ProbeFields::Object {
            status,
            assignee,
            project,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ProbeFields::NotObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ProbeFields::NotObject)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ProbeFields::NotObject)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ProbeFields::NotObject)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ProbeFields::NotObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ProbeFields::NotObject)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ProbeFields::Null)
    }
}

/// The members of the issue's `status`, `assignee` and `project` that the stored form keeps,
/// as the fast path picked them out while reading (`None`: not picked; the serde reader picks
/// none).
#[derive(Debug, Default)]
pub(super) struct Picked<'a>(pub [Option<Members<'a>>; 3]);

impl<'a> Probe<'a> {
    /// The stored form of a delivery with this truthy `changelog`, when it can say the same as
    /// the body: `issue` is an object and its `fields` an object, `null` or absent. `None`
    /// otherwise (the body is then kept whole).
    pub fn stored(&self, changelog: &'a str, picked: Picked<'a>) -> Option<StoredDelivery<'a>> {
        let issue = self.issue.as_ref()?;
        let fields = match &issue.fields {
            None => StoredFields::Absent,
            Some(ProbeFields::Null) => StoredFields::Null,
            Some(ProbeFields::Object {
                status,
                assignee,
                project,
            }) => StoredFields::Object(
                FieldsObject::of([*status, *assignee, *project], picked.0).ok()?,
            ),
            Some(ProbeFields::NotObject) => return None,
        };
        let raw = |text: Option<&'a str>| text.map(raw_value).transpose();
        Some(StoredDelivery {
            timestamp: raw(self.timestamp).ok()?,
            webhook_event: raw(self.webhook_event).ok()?,
            issue: StoredIssue {
                id: raw(issue.id).ok()?,
                key: raw(issue.key).ok()?,
                fields,
            },
            changelog: raw_value(changelog).ok()?,
        })
    }
}
