//! The most recent deliveries the webhook answered without storing them (no group linked to
//! the issue, no changelog), kept in memory so that the deliveries API can show them
//! (`GET /api/v1/integrations/{id}/deliveries?include=ignored`): a user with a wrong id or a
//! missing link sees that the delivery arrived and why nothing happened.
//!
//! Built for the webhook's hot path (a flood of unlinked deliveries is the common case): a
//! fixed ring of [`CAPACITY`] slots allocated once at start, each slot a few fixed-size byte
//! arrays (no allocation per delivery), written under a lock held for one copy. Nothing is
//! written to disk; a restart empties the ring, and each replica of a PostgreSQL deployment
//! shows what it answered itself. Values longer than a slot's field are cut at a character
//! boundary (ending in `…`); a delivery of an integration whose id does not fit is not kept.

use std::sync::{Mutex, PoisonError};

/// How many deliveries the ring keeps (of all integrations together).
pub const CAPACITY: usize = 512;

/// Why a delivery was answered without being stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredReason {
    /// No group is linked to the issue key (nor to the old key of a move).
    Unlinked,
    /// The delivery has no changelog (absent, `null`, empty): Sentry ignores it too.
    NoChangelog,
}

impl IgnoredReason {
    /// `unlinked` or `no_changelog`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unlinked => "unlinked",
            Self::NoChangelog => "no_changelog",
        }
    }
}

/// A string of at most `N` bytes, stored inline.
#[derive(Clone, Copy)]
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    const EMPTY: Self = Self {
        len: 0,
        bytes: [0; N],
    };

    /// `s`, cut to fit at a character boundary with a trailing `…` when longer than `N`.
    fn cut(s: &str) -> Self {
        let mut out = Self::EMPTY;
        if s.len() <= N {
            out.bytes[..s.len()].copy_from_slice(s.as_bytes());
            out.len = s.len();
            return out;
        }
        let mut end = N.saturating_sub(ELLIPSIS.len());
        while end > 0 && !s.is_char_boundary(end) {
            end -= 1;
        }
        out.bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        out.bytes[end..end + ELLIPSIS.len()].copy_from_slice(ELLIPSIS.as_bytes());
        out.len = end + ELLIPSIS.len();
        out
    }

    /// Exactly `s`, or `None` when it does not fit.
    fn exact(s: &str) -> Option<Self> {
        (s.len() <= N).then(|| Self::cut(s))
    }

    fn as_str(&self) -> &str {
        // Always whole characters (see `cut`); an empty string otherwise, never a panic.
        self.bytes
            .get(..self.len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }
}

/// What ends a cut value.
const ELLIPSIS: &str = "…";

const INTEGRATION_BYTES: usize = 40;
const EVENT_BYTES: usize = 48;
const KEY_BYTES: usize = 64;

#[derive(Clone, Copy)]
struct Slot {
    received_ms: i64,
    integration: Inline<INTEGRATION_BYTES>,
    event: Option<Inline<EVENT_BYTES>>,
    issue_key: Option<Inline<KEY_BYTES>>,
    reason: IgnoredReason,
}

struct Ring {
    slots: Box<[Option<Slot>]>,
    /// Where the next delivery goes.
    next: usize,
}

/// One delivery answered without being stored, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredDelivery {
    /// Receive time, unix milliseconds.
    pub received_ms: i64,
    /// `webhookEvent`, if the body had one.
    pub event: Option<String>,
    /// The issue key, if the body had one.
    pub issue_key: Option<String>,
    /// Why it was not stored.
    pub reason: IgnoredReason,
}

/// The ring (see the module docs).
pub struct IgnoredRing {
    ring: Mutex<Ring>,
}

impl Default for IgnoredRing {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl std::fmt::Debug for IgnoredRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IgnoredRing").finish_non_exhaustive()
    }
}

impl IgnoredRing {
    /// A ring keeping the newest `capacity` deliveries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                slots: vec![None; capacity.max(1)].into_boxed_slice(),
                next: 0,
            }),
        }
    }

    /// Keeps a delivery, replacing the oldest when full. No allocation: the fields are copied
    /// into the slot (before the lock is taken).
    pub fn record(
        &self,
        received_ms: i64,
        integration: &str,
        event: Option<&str>,
        issue_key: Option<&str>,
        reason: IgnoredReason,
    ) {
        let Some(integration) = Inline::exact(integration) else {
            return;
        };
        let slot = Slot {
            received_ms,
            integration,
            event: event.map(Inline::cut),
            issue_key: issue_key.map(Inline::cut),
            reason,
        };
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let at = ring.next;
        if let Some(s) = ring.slots.get_mut(at) {
            *s = Some(slot);
        }
        ring.next = (at + 1) % ring.slots.len();
    }

    /// The newest `limit` deliveries of `integration`, newest first.
    pub fn recent(&self, integration: &str, limit: usize) -> Vec<IgnoredDelivery> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let n = ring.slots.len();
        (1..=n)
            .filter_map(|back| ring.slots.get((ring.next + n - back) % n)?.as_ref())
            .filter(|s| s.integration.as_str() == integration)
            .take(limit)
            .map(|s| IgnoredDelivery {
                received_ms: s.received_ms,
                event: s.event.as_ref().map(|e| e.as_str().to_owned()),
                issue_key: s.issue_key.as_ref().map(|k| k.as_str().to_owned()),
                reason: s.reason,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_integration_newest_first_and_forgets_the_oldest() {
        let ring = IgnoredRing::with_capacity(3);
        assert!(ring.recent("1", 10).is_empty());
        ring.record(
            1,
            "1",
            Some("jira:issue_updated"),
            Some("APP-1"),
            IgnoredReason::Unlinked,
        );
        ring.record(2, "2", None, None, IgnoredReason::NoChangelog);
        ring.record(
            3,
            "1",
            Some("jira:issue_updated"),
            Some("APP-3"),
            IgnoredReason::NoChangelog,
        );
        let got = ring.recent("1", 10);
        assert_eq!(
            got,
            [
                IgnoredDelivery {
                    received_ms: 3,
                    event: Some("jira:issue_updated".into()),
                    issue_key: Some("APP-3".into()),
                    reason: IgnoredReason::NoChangelog,
                },
                IgnoredDelivery {
                    received_ms: 1,
                    event: Some("jira:issue_updated".into()),
                    issue_key: Some("APP-1".into()),
                    reason: IgnoredReason::Unlinked,
                },
            ]
        );
        assert_eq!(ring.recent("1", 1).len(), 1, "limit");
        // Full: the fourth replaces the oldest (APP-1).
        ring.record(4, "1", None, Some("APP-4"), IgnoredReason::Unlinked);
        let keys: Vec<_> = ring
            .recent("1", 10)
            .into_iter()
            .map(|d| d.issue_key)
            .collect();
        assert_eq!(keys, [Some("APP-4".into()), Some("APP-3".into())]);
        assert_eq!(ring.recent("2", 10).len(), 1);
        assert!(ring.recent("3", 10).is_empty());
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary_and_long_integration_ids_not_kept() {
        let ring = IgnoredRing::with_capacity(4);
        let key = "É".repeat(100);
        ring.record(
            1,
            "1",
            Some(&"x".repeat(200)),
            Some(&key),
            IgnoredReason::Unlinked,
        );
        let got = ring.recent("1", 1).pop().expect("kept");
        let k = got.issue_key.expect("key");
        assert!(
            k.len() <= KEY_BYTES && k.ends_with('…') && k.starts_with("ÉÉ"),
            "{k}"
        );
        let e = got.event.expect("event");
        assert!(e.len() <= EVENT_BYTES && e.ends_with('…'), "{e}");
        let long = "9".repeat(INTEGRATION_BYTES + 1);
        ring.record(2, &long, None, None, IgnoredReason::Unlinked);
        assert!(ring.recent(&long, 10).is_empty());
        assert!(ring.recent(&long[..INTEGRATION_BYTES], 10).is_empty());
    }
}
