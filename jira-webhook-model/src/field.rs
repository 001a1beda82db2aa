//! Lenient, lossless field values: [`Field`], [`Id`], [`JiraDateTime`] and the [`Lenient`] trait.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// One member of a JSON object, as sent: absent, `null`, a value of the expected type, or a
/// value of an unexpected type kept verbatim.
///
/// Jira distinguishes "member missing" from "member is `null`" (e.g. `fields.assignee` is
/// `null` when unassigned but missing when the field is hidden), so both are representable.
/// A value whose JSON type does not fit the model (say a number where a string was expected)
/// does not fail the whole delivery: it is kept as [`Field::Raw`] and serialised back as is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    /// The member is not in the object.
    #[default]
    Absent,
    /// The member is present and `null`.
    Null,
    /// The member is present with the expected type.
    Value(T),
    /// The member is present but its JSON type was not the expected one; kept verbatim.
    Raw(Value),
}

impl<T> Field<T> {
    /// The typed value, if present with the expected type.
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Mutable access to the typed value, if present with the expected type.
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The typed value, consuming the field.
    pub fn into_value(self) -> Option<T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The raw JSON of a value that had an unexpected type.
    pub fn raw(&self) -> Option<&Value> {
        match self {
            Field::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// `true` when the member is missing from the object.
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// `true` when the member is present and `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Field::Null)
    }

    /// `true` when the member is present (with any value, including `null`).
    pub fn is_present(&self) -> bool {
        !self.is_absent()
    }

    /// `Some(v)` becomes [`Field::Value`], `None` becomes [`Field::Null`].
    pub fn from_option(v: Option<T>) -> Self {
        v.map_or(Field::Null, Field::Value)
    }
}

impl Field<String> {
    /// The string value, if present as a string.
    pub fn as_str(&self) -> Option<&str> {
        self.value().map(String::as_str)
    }
}

impl Field<Id> {
    /// The id text, if present as a string or integer.
    pub fn as_str(&self) -> Option<&str> {
        self.value().map(Id::as_str)
    }
}

impl<T> From<T> for Field<T> {
    fn from(v: T) -> Self {
        Field::Value(v)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Absent | Field::Null => serializer.serialize_unit(),
            Field::Value(v) => v.serialize(serializer),
            Field::Raw(v) => v.serialize(serializer),
        }
    }
}

/// A type that a [`Field`] can hold: says which JSON shapes it accepts, so that any other shape
/// is kept raw instead of failing the parse.
///
/// Implemented for the model types of this crate and for `String`, `bool`, `i64`, [`Id`],
/// [`JiraDateTime`], `Vec<T: Lenient>` and `serde_json::Map`.
pub trait Lenient: Sized + Serialize {
    /// `true` when the type is read from a JSON object (then [`Lenient::from_map`] is used).
    const OBJECT: bool = false;
    /// `true` when the type is read from a JSON array (then [`Lenient::from_seq`] is used).
    const ARRAY: bool = false;

    /// Builds the value from a JSON string, or gives the string back.
    fn from_string(s: String) -> Result<Self, String> {
        Err(s)
    }
    /// Builds the value from a non-negative JSON integer.
    fn from_u64(_v: u64) -> Option<Self> {
        None
    }
    /// Builds the value from a negative JSON integer.
    fn from_i64(_v: i64) -> Option<Self> {
        None
    }
    /// Builds the value from a JSON float.
    fn from_f64(_v: f64) -> Option<Self> {
        None
    }
    /// Builds the value from a JSON boolean.
    fn from_bool(_v: bool) -> Option<Self> {
        None
    }
    /// Builds the value from a JSON object (only called when [`Lenient::OBJECT`] is `true`).
    fn from_map<'de, A: MapAccess<'de>>(_map: A) -> Result<Self, A::Error> {
        Err(de::Error::custom(
            "this type is not read from a JSON object",
        ))
    }
    /// Builds the value from a JSON array (only called when [`Lenient::ARRAY`] is `true`);
    /// `Ok(Err(raw))` when an element did not fit, with the whole array as raw JSON.
    fn from_seq<'de, A: SeqAccess<'de>>(_seq: A) -> Result<Result<Self, Value>, A::Error> {
        Err(de::Error::custom("this type is not read from a JSON array"))
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Field::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(T::from_bool(v).map_or(Field::Raw(Value::Bool(v)), Field::Value))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        if let Ok(u) = u64::try_from(v) {
            return self.visit_u64(u);
        }
        Ok(T::from_i64(v).map_or_else(|| Field::Raw(Value::from(v)), Field::Value))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(T::from_u64(v).map_or_else(|| Field::Raw(Value::from(v)), Field::Value))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(T::from_f64(v).map_or_else(|| Field::Raw(Value::from(v)), Field::Value))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(match T::from_string(v) {
            Ok(t) => Field::Value(t),
            Err(s) => Field::Raw(Value::String(s)),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if T::OBJECT {
            T::from_map(map).map(Field::Value)
        } else {
            Value::deserialize(MapAccessDeserializer::new(map)).map(Field::Raw)
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if T::ARRAY {
            Ok(match T::from_seq(seq)? {
                Ok(t) => Field::Value(t),
                Err(raw) => Field::Raw(raw),
            })
        } else {
            Value::deserialize(SeqAccessDeserializer::new(seq)).map(Field::Raw)
        }
    }
}

impl<'de, T: Lenient> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(PhantomData))
    }
}

impl Lenient for String {
    fn from_string(s: String) -> Result<Self, String> {
        Ok(s)
    }
}

impl Lenient for bool {
    fn from_bool(v: bool) -> Option<Self> {
        Some(v)
    }
}

impl Lenient for i64 {
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
}

impl Lenient for Map<String, Value> {
    const OBJECT: bool = true;
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        match Value::deserialize(MapAccessDeserializer::new(map))? {
            Value::Object(m) => Ok(m),
            _ => Err(de::Error::custom("expected a JSON object")),
        }
    }
}

impl<T: Lenient> Lenient for Vec<T> {
    const ARRAY: bool = true;
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, Value>, A::Error> {
        let mut typed: Vec<T> = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        // Fast path: every element has the expected type.
        let first_odd = loop {
            match seq.next_element::<Field<T>>()? {
                None => return Ok(Ok(typed)),
                Some(Field::Value(t)) => typed.push(t),
                Some(other) => break other,
            }
        };
        // An element did not fit: the whole array is kept raw.
        let mut raw = Vec::with_capacity(typed.len() + 1);
        for t in &typed {
            raw.push(serde_json::to_value(t).map_err(de::Error::custom)?);
        }
        raw.push(serde_json::to_value(&first_odd).map_err(de::Error::custom)?);
        while let Some(item) = seq.next_element::<Field<T>>()? {
            raw.push(serde_json::to_value(&item).map_err(de::Error::custom)?);
        }
        Ok(Err(Value::Array(raw)))
    }
}

/// A Jira id: sent as a string of digits (`"10226"`) by Jira, but some producers send a
/// number (`12345`). The text is available either way and the original JSON type is kept
/// for serialisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    text: String,
    numeric: bool,
}

impl Id {
    /// An id sent as a JSON string.
    pub fn new(text: impl Into<String>) -> Self {
        Id {
            text: text.into(),
            numeric: false,
        }
    }

    /// An id sent as a JSON number.
    pub fn from_number(n: u64) -> Self {
        Id {
            text: n.to_string(),
            numeric: true,
        }
    }

    /// The id as text (`"10226"`), whatever its JSON type was.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `true` when the id was sent as a JSON number.
    pub fn is_numeric(&self) -> bool {
        self.numeric
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::new(s)
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::new(s)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.numeric {
            if let Ok(u) = self.text.parse::<u64>() {
                return serializer.serialize_u64(u);
            }
            if let Ok(i) = self.text.parse::<i64>() {
                return serializer.serialize_i64(i);
            }
        }
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Field::<Id>::deserialize(deserializer)? {
            Field::Value(id) => Ok(id),
            _ => Err(de::Error::custom("expected a string or integer id")),
        }
    }
}

impl Lenient for Id {
    fn from_string(s: String) -> Result<Self, String> {
        Ok(Id::new(s))
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(Id::from_number(v))
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(Id {
            text: v.to_string(),
            numeric: true,
        })
    }
}

const JIRA_FORMAT: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory][offset_minute]"
);

/// A Jira date-time such as `2019-06-27T14:55:17.488+0000` (offset without colon, in the
/// server's or user's time zone). Keeps the text as sent, so serialising gives it back
/// byte for byte, together with the parsed instant.
///
/// A string that is not in this form (or RFC 3339) is not a `JiraDateTime`; a [`Field`] keeps
/// it as [`Field::Raw`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JiraDateTime {
    raw: String,
    parsed: OffsetDateTime,
}

impl JiraDateTime {
    /// Parses Jira's `yyyy-MM-dd'T'HH:mm:ss.SSS±hhmm` form (RFC 3339 is accepted too).
    pub fn parse(s: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(s, JIRA_FORMAT)
            .or_else(|_| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
            .ok()?;
        Some(JiraDateTime {
            raw: s.to_owned(),
            parsed,
        })
    }

    /// Formats an instant the way Jira does (`2019-06-27T14:55:17.488+0000`).
    pub fn from_offset_date_time(t: OffsetDateTime) -> Option<Self> {
        let raw = t.format(JIRA_FORMAT).ok()?;
        JiraDateTime::parse(&raw)
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed instant, with the offset as sent.
    pub fn offset_date_time(&self) -> OffsetDateTime {
        self.parsed
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> i128 {
        self.parsed.unix_timestamp_nanos() / 1_000_000
    }
}

impl fmt::Display for JiraDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for JiraDateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl Lenient for JiraDateTime {
    fn from_string(s: String) -> Result<Self, String> {
        match OffsetDateTime::parse(&s, JIRA_FORMAT)
            .or_else(|_| OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339))
        {
            Ok(parsed) => Ok(JiraDateTime { raw: s, parsed }),
            Err(_) => Err(s),
        }
    }
}

/// An object key, borrowed from the input when possible.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}
