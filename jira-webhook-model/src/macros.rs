//! Code generators for lossless JSON object structs and open string enums.

/// Defines a struct modelling a JSON object: every listed member is a [`crate::Field`], every
/// other member is kept in `extra`. Generates `Default`, `Serialize`, `Deserialize` and
/// [`crate::Lenient`] (a streaming, single-pass reader that never buffers the object).
macro_rules! json_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::Field<$ty>, )*
            /// Members this crate does not model, kept verbatim.
            pub extra: $crate::Extra,
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $crate::Field::Absent, )* extra: $crate::Extra::new() }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if !self.$field.is_absent() {
                        map.serialize_entry($json, &self.$field)?;
                    }
                )*
                for (k, v) in self.extra.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl $crate::Lenient for $name {
            const OBJECT: bool = true;
            fn from_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
                let mut out = Self::default();
                while let Some(key) = map.next_key::<$crate::field::Key<'de>>()? {
                    match &*key.0 {
                        $( $json => out.$field = map.next_value()?, )*
                        _ => {
                            let v: $crate::RawJson = map.next_value()?;
                            out.extra.push_raw(key.0.into_owned(), v);
                        }
                    }
                }
                out.extra.finish();
                Ok(out)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$name, A::Error> {
                        <$name as $crate::Lenient>::from_map(map)
                    }
                }
                deserializer.deserialize_map(V)
            }
        }
    };
}

/// Defines a *view* of a JSON object: like `json_object!`, every listed member is a
/// [`crate::Field`], but every other member is skipped (checked for syntax, not kept), so the
/// view is cheaper to parse and does not round-trip. Generates `Default`, `Serialize` (the
/// listed members), `Deserialize` and [`crate::Lenient`].
macro_rules! json_view {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $json:literal => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::Field<$ty>, )*
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $(
                    if !self.$field.is_absent() {
                        map.serialize_entry($json, &self.$field)?;
                    }
                )*
                map.end()
            }
        }

        impl $crate::Lenient for $name {
            const OBJECT: bool = true;
            fn from_map<'de, A: serde::de::MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
                let mut out = Self::default();
                while let Some(key) = map.next_key::<$crate::field::Key<'de>>()? {
                    match &*key.0 {
                        $( $json => out.$field = map.next_value()?, )*
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($name), ")"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$name, A::Error> {
                        <$name as $crate::Lenient>::from_map(map)
                    }
                }
                deserializer.deserialize_map(V)
            }
        }
    };
}

/// Defines an open string enum: known values as variants plus a hidden `_Custom` variant keeping
/// any unknown value (its payload cannot be named outside the crate: [`crate::private`]);
/// `as_str()` reads every value and it serialises back to the same string. Equality and hashing
/// go by the string.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, kept as sent: read it with `as_str()`.
            ///
            /// Do not match on this variant; a later version may add the value as a variant.
            #[doc(hidden)]
            _Custom($crate::private::PrivOwnedStr),
        }

        impl $name {
            /// The value as Jira sends it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $s, )*
                    $name::_Custom(s) => &s.0,
                }
            }

            /// Whether this is a value this crate does not know (kept as sent; see
            /// [`as_str`](Self::as_str)).
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::_Custom(_))
            }

            /// Maps a string to its variant; unknown strings are kept as sent.
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $s => $name::$variant, )*
                    other => $name::_Custom($crate::private::PrivOwnedStr(other.into())),
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name::parse(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                Ok($name::parse(&s))
            }
        }

        impl $crate::Lenient for $name {
            fn from_string(s: String) -> Result<Self, String> {
                Ok(match $name::parse(&s) {
                    $name::_Custom(_) => $name::_Custom($crate::private::PrivOwnedStr(s.into())),
                    known => known,
                })
            }
        }
    };
}
