//! Types that appear in the public API but cannot be named outside this crate.

/// An unknown value of an open enum ([`StatusCategory`](crate::StatusCategory)), in its hidden
/// catch-all variant: unnameable outside this crate, so a downstream `match` cannot bind it by
/// its string (an arm that would stop matching once that value becomes a variant). Read it with
/// `key()`. The same convention as ruma's and `jira-webhook-model`'s.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PrivOwnedStr(pub(crate) Box<str>);
