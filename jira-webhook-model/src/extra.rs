//! Unmodelled members, kept as their JSON text: [`Extra`] and [`RawJson`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::field::{Key, Lenient};

/// One JSON value kept as its exact text (copied from the input, never re-parsed unless
/// asked). Compares by text.
#[derive(Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text, as sent.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The value parsed into a `serde_json::Value` (`None` only for numbers outside `f64`'s
    /// range, which `Value` cannot hold).
    pub fn to_value(&self) -> Option<Value> {
        serde_json::from_str(self.0.get()).ok()
    }

    /// Encodes a `Value`.
    pub fn from_value(v: &Value) -> Self {
        // A `Value` always serialises (its map keys are strings).
        RawJson(serde_json::value::to_raw_value(v).unwrap_or_else(|_| null_raw()))
    }

    /// The raw value.
    pub fn as_raw_value(&self) -> &RawValue {
        &self.0
    }
}

fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson {}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Deepest nesting accepted inside one unmodelled member. serde_json skips raw values
/// without its recursion limit, so the limit is enforced here; the model itself adds at most
/// 6 levels, so any accepted body also parses as a `serde_json::Value` (limit 128).
pub const MAX_MEMBER_DEPTH: usize = 100;

/// The message of the error for a member nested deeper than [`MAX_MEMBER_DEPTH`].
pub(crate) const TOO_DEEP_MESSAGE: &str =
    "recursion limit exceeded: JSON nested deeper than 100 levels inside a member";

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if crate::nests_deeper_than(raw.get().as_bytes(), MAX_MEMBER_DEPTH) {
            return Err(de::Error::custom(TOO_DEEP_MESSAGE));
        }
        Ok(RawJson(raw))
    }
}

/// The members of a JSON object that this crate does not model (custom fields, `watches`,
/// `worklog`, ...), each kept as its JSON text so that parsing stays cheap and serialising
/// gives it back unchanged. Keys are unique and sorted (a repeated key keeps the last value,
/// like `serde_json::Value`).
///
/// Only works with serde_json (de)serializers (it relies on `serde_json::value::RawValue`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Extra(Vec<(String, RawJson)>);

impl Extra {
    /// An empty set of members.
    pub fn new() -> Self {
        Extra(Vec::new())
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The member as raw JSON text.
    pub fn get_raw(&self, key: &str) -> Option<&RawJson> {
        self.find(key)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v)
    }

    /// The member parsed as a `serde_json::Value`.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.get_raw(key).and_then(RawJson::to_value)
    }

    /// The member, if it is a JSON string.
    pub fn get_str(&self, key: &str) -> Option<String> {
        self.get_as(key)
    }

    /// Parses the member into any deserialisable type.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.get_raw(key)
            .and_then(|r| serde_json::from_str(r.get()).ok())
    }

    /// `true` when the member exists.
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets a member.
    pub fn insert(&mut self, key: impl Into<String>, value: &Value) {
        self.insert_one(key.into(), RawJson::from_value(value));
    }

    fn insert_one(&mut self, key: String, value: RawJson) {
        match self.find(&key) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// Removes a member, returning its raw JSON.
    pub fn remove(&mut self, key: &str) -> Option<RawJson> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Member names and raw values, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawJson)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Member names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// All members parsed into a `serde_json::Map` (members `Value` cannot hold are skipped).
    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        self.0
            .iter()
            .filter_map(|(k, v)| v.to_value().map(|v| (k.clone(), v)))
            .collect()
    }

    /// Appends a member while reading; [`Extra::finish`] must be called afterwards.
    pub(crate) fn push_raw(&mut self, key: String, value: RawJson) {
        self.0.push((key, value));
    }

    /// Sorts the members read with [`Extra::push_raw`] and drops repeated keys, keeping the
    /// last value of each (O(n log n) even for adversarial input).
    pub(crate) fn finish(&mut self) {
        if self.0.len() > 1 {
            self.0.reverse();
            self.0.sort_by(|a, b| a.0.cmp(&b.0));
            self.0.dedup_by(|later, earlier| later.0 == earlier.0);
        }
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Lenient for Extra {
    const OBJECT: bool = true;
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut out = Extra::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let v: RawJson = map.next_value()?;
            out.push_raw(key.0.into_owned(), v);
        }
        out.finish();
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Extra;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Extra, A::Error> {
                Extra::from_map(map)
            }
        }
        deserializer.deserialize_map(V)
    }
}
