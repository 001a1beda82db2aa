//! Types that appear in the public API but cannot be named outside this crate.

/// The string an open enum keeps for a value this crate does not know (ruma's convention).
///
/// It sits in the enum's hidden catch-all variant and cannot be named, built or read outside
/// this crate: read the value through the enum's `as_str()`. So no downstream `match` can bind
/// an unknown value by its string, an arm that would silently stop matching once a later
/// version adds that value as a variant.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrivOwnedStr(pub(crate) Box<str>);
