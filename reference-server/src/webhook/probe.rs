//! The one parse of a delivery body on the webhook path: what classification reads (event
//! name, issue key, changelog) and, in the same pass, the members the worker reads, kept as
//! borrowed raw JSON text so that the inbox's lean form is cut from the body instead of parsed
//! and serialised again ([`LeanParts`]).
//!
//! Everything else is skipped (checked for JSON syntax, not kept). [`Probe::read`] tries the
//! hand-written reader of [`super::scan`] first and falls back to the serde reader below for
//! anything it does not take.

use std::borrow::Cow;
use std::fmt;

use jira_webhook_model::{LeanEvent, Project, Status, User};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

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
    /// Reads a body: `None` when it is not JSON, or JSON of a shape these types do not take
    /// (say, a repeated `issue`, or an `issue` that is not an object or `null`).
    ///
    /// With it, what the stored form keeps of `status`, `assignee` and `project` ([`Kept`]):
    /// only the scanner gives those (the serde reader leaves them empty, and the stored form
    /// then keeps the objects whole).
    pub fn read(body: &'a [u8]) -> Option<(Self, Kept<'a>)> {
        super::scan::probe(body).or_else(|| Some((Self::read_with_serde(body)?, Kept::default())))
    }

    /// [`Probe::read`] with the serde reader only (the reference for the scanner).
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

/// The members of `status`, `assignee` and `project` that the stored form keeps, as
/// `(name, raw value)` in body order, for each one the scanner read as an object (`None`:
/// kept whole).
#[derive(Debug, Default)]
pub(super) struct Kept<'a>(pub [Option<Vec<(&'a str, &'a str)>>; 3]);

/// The member names of the issue's `status`, `assignee` and `project` that the stored form
/// keeps: all that the worker reads of them (`Worker::resolve_user`, `Worker::status_pair` and
/// the project key), so that the worker does not parse avatars, URLs and the like. The same
/// lists, as model fields, are in [`worker_view`].
pub(super) const KEPT_MEMBERS: [&[&str]; 3] = [
    &["id", "name", "statusCategory"],
    &["name", "key", "accountId", "displayName", "emailAddress"],
    &["id", "key"],
];

/// What the worker reads of a delivery: `event` with the issue's `status`, `assignee` and
/// `project` cut down to the members of [`KEPT_MEMBERS`]. The stored form of a body reads to
/// the same view as the body (tests and the `webhook_body` fuzz target).
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

/// The members of a relevant delivery that the worker reads (`jira_webhook_model::LeanEvent`),
/// borrowed from the body as raw JSON: `timestamp`, `webhookEvent`, the issue's `id`, `key`,
/// and its fields' `status`, `assignee` and `project`, and the `changelog`.
#[derive(Debug)]
pub(super) struct LeanParts<'a> {
    timestamp: Option<&'a str>,
    event: Option<&'a str>,
    issue_id: Option<&'a str>,
    issue_key: Option<&'a str>,
    fields: LeanFields<'a>,
    changelog: &'a str,
}

/// The issue's `fields` in the lean form.
#[derive(Debug)]
enum LeanFields<'a> {
    Absent,
    Null,
    /// `status`, `assignee`, `project`: raw, and what is kept of each.
    Object([Option<&'a str>; 3], Kept<'a>),
}

impl<'a> LeanParts<'a> {
    /// The parts of a probe with a truthy `changelog`, when the lean form can say the same as
    /// the body: `issue` is an object and its `fields` an object, `null` or absent. `None`
    /// otherwise (the body is then kept whole).
    pub fn of(probe: &Probe<'a>, changelog: &'a str, kept: Kept<'a>) -> Option<Self> {
        let issue = probe.issue.as_ref()?;
        let fields = match &issue.fields {
            None => LeanFields::Absent,
            Some(ProbeFields::Null) => LeanFields::Null,
            Some(ProbeFields::Object {
                status,
                assignee,
                project,
            }) => LeanFields::Object([*status, *assignee, *project], kept),
            Some(ProbeFields::NotObject) => return None,
        };
        Some(LeanParts {
            timestamp: probe.timestamp,
            event: probe.webhook_event,
            issue_id: issue.id,
            issue_key: issue.key,
            fields,
            changelog,
        })
    }

    /// The lean form: a JSON object with only these members, each value copied verbatim, so
    /// `LeanEvent` reads it to the same [`worker_view`] as the whole body.
    pub fn encode(&self) -> Vec<u8> {
        let len = |r: Option<&str>| r.map_or(0, str::len);
        let fields = match &self.fields {
            LeanFields::Object(f, _) => *f,
            LeanFields::Absent | LeanFields::Null => [None; 3],
        };
        let mut out = Vec::with_capacity(
            128 + len(self.timestamp)
                + len(self.event)
                + len(self.issue_id)
                + len(self.issue_key)
                + fields.into_iter().map(len).sum::<usize>()
                + self.changelog.len(),
        );
        let mut top = Object::open(&mut out);
        top.raw("timestamp", self.timestamp);
        top.raw("webhookEvent", self.event);
        top.name("issue");
        let mut issue = Object::open(&mut *top.out);
        issue.raw("id", self.issue_id);
        issue.raw("key", self.issue_key);
        match &self.fields {
            LeanFields::Absent => {}
            LeanFields::Null => issue.raw_str("fields", "null"),
            LeanFields::Object(raw, Kept(kept)) => {
                issue.name("fields");
                let mut f = Object::open(&mut *issue.out);
                for ((name, raw), kept) in
                    ["status", "assignee", "project"].iter().zip(raw).zip(kept)
                {
                    match (raw, kept) {
                        (None, _) => {}
                        (Some(raw), None) => f.raw_str(name, raw),
                        (Some(_), Some(members)) => {
                            f.name(name);
                            let mut m = Object::open(&mut *f.out);
                            for (member, value) in members {
                                m.raw_str(member, value);
                            }
                            m.close();
                        }
                    }
                }
                f.close();
            }
        }
        issue.close();
        top.raw("changelog", Some(self.changelog));
        top.close();
        out
    }
}

/// A JSON object being written member by member.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Object<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, first: true }
    }

    /// Writes `"name":` (names here are plain ASCII and need no escaping).
    fn name(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn raw(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.raw_str(name, v);
        }
    }

    fn raw_str(&mut self, name: &str, json: &str) {
        self.name(name);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn close(self) {
        self.out.push(b'}');
    }
}
