//! Warnings about ordering keys that could poison a group's watermark.
//!
//! A change applies only when its ordering key (event time, then changelog id; see
//! `assignee_sync::OrderingKey`) is greater than the group's watermark. A single forged or
//! broken delivery whose event time lies far in the future (or, within one millisecond, whose
//! changelog id is huge, e.g. `u64::MAX`) would leave a watermark that every real delivery is
//! `stale` against: the group's sync would be frozen. Nothing here refuses such a delivery (the
//! webhook token is the credential, and refusing on a clock reading would drop real changes
//! from a node whose clock is ahead); the worker logs a warning naming the integration, and
//! `POST /api/v1/groups/{id}/reset-watermarks` is the way out.
//!
//! Warned about, once per delivery the worker applies:
//! * an event time more than [`MAX_FUTURE_MS`] ahead of this server's clock;
//! * a changelog id more than [`MAX_CHANGELOG_JUMP`] above the highest this process has seen
//!   for the integration (the first id seen after a start sets the baseline; a jump warned
//!   about becomes the new baseline, so a real jump warns once, not for every delivery).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use assignee_sync::OrderingKey;

/// An event time further ahead of the server's clock than this (5 minutes) is warned about.
/// Jira Data Center requires its nodes' clocks in sync; a few seconds of skew are normal.
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// A changelog id more than this above the highest seen for the integration is warned about.
/// A Jira instance draws ids from one sequence (a Data Center node in banks of a few hundred),
/// so a million ids between two deliveries is far beyond any real rate.
pub const MAX_CHANGELOG_JUMP: u64 = 1_000_000;

/// Something suspicious about one delivery's ordering key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspicion {
    /// The event time is this many milliseconds ahead of the server's clock.
    FutureTimestamp {
        /// How far ahead.
        ahead_ms: i64,
    },
    /// The changelog id jumped this far above the highest seen for the integration.
    ChangelogJump {
        /// The highest id seen before.
        highest: u64,
        /// The delivery's id.
        id: u64,
    },
}

/// The highest changelog id seen per integration (process memory only).
#[derive(Debug, Default)]
pub struct OrderingWatch {
    highest: Mutex<HashMap<String, u64>>,
}

impl OrderingWatch {
    /// Checks one delivery's key against the clock (`now_ms`) and the integration's highest
    /// changelog id so far, and records the id. At most two suspicions.
    pub fn check(
        &self,
        integration: &str,
        key: OrderingKey,
        now_ms: i64,
    ) -> [Option<Suspicion>; 2] {
        let ahead_ms = key.timestamp_ms().saturating_sub(now_ms);
        let future = (ahead_ms > MAX_FUTURE_MS).then_some(Suspicion::FutureTimestamp { ahead_ms });
        let jump = key.changelog_id().and_then(|id| {
            let mut highest = self.highest.lock().unwrap_or_else(PoisonError::into_inner);
            match highest.get_mut(integration) {
                None => {
                    highest.insert(integration.to_owned(), id);
                    None
                }
                Some(h) if id > *h => {
                    let before = *h;
                    *h = id;
                    (id - before > MAX_CHANGELOG_JUMP).then_some(Suspicion::ChangelogJump {
                        highest: before,
                        id,
                    })
                }
                Some(_) => None,
            }
        });
        [future, jump]
    }
}

static WATCH: LazyLock<OrderingWatch> = LazyLock::new(OrderingWatch::default);

/// Checks a delivery's ordering key (see the module docs) and logs a warning for each
/// suspicion, naming the integration, the key and the way out.
pub fn observe(integration: &str, seq: u64, key: OrderingKey) {
    for s in WATCH
        .check(integration, key, crate::time::now_ms())
        .into_iter()
        .flatten()
    {
        match s {
            Suspicion::FutureTimestamp { ahead_ms } => tracing::warn!(
                integration,
                seq,
                ordering = %key,
                ahead_ms,
                "a delivery's event time lies more than 5 minutes in the future: if it is \
                 forged or the Jira node's clock is wrong, the groups it changes ignore every \
                 real change until then; check the Jira clocks, and reset the groups' \
                 watermarks with POST /api/v1/groups/{{id}}/reset-watermarks"
            ),
            Suspicion::ChangelogJump { highest, id } => tracing::warn!(
                integration,
                seq,
                ordering = %key,
                highest_seen = highest,
                changelog_id = id,
                "a delivery's changelog id jumps more than a million above the highest seen \
                 for this integration: if it is forged, it wins every tie of one millisecond; \
                 reset the groups' watermarks with POST /api/v1/groups/{{id}}/reset-watermarks"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_765_000_000_000;

    #[test]
    fn a_timestamp_far_in_the_future_is_suspicious_a_little_skew_is_not() {
        let w = OrderingWatch::default();
        assert_eq!(
            w.check("1", OrderingKey::timestamp(NOW + 2_000), NOW),
            [None, None]
        );
        assert_eq!(
            w.check("1", OrderingKey::timestamp(NOW + MAX_FUTURE_MS), NOW),
            [None, None]
        );
        assert_eq!(
            w.check("1", OrderingKey::timestamp(i64::MAX), NOW),
            [
                Some(Suspicion::FutureTimestamp {
                    ahead_ms: i64::MAX - NOW
                }),
                None
            ]
        );
        // A delivery from the past (delayed, replayed) is normal.
        assert_eq!(w.check("1", OrderingKey::timestamp(0), NOW), [None, None]);
    }

    #[test]
    fn a_changelog_id_far_beyond_the_highest_seen_is_suspicious_once() {
        let w = OrderingWatch::default();
        let at = |id| OrderingKey::new(Some(id), NOW);
        assert_eq!(w.check("1", at(10_050), NOW), [None, None], "baseline");
        // Interleaved Data Center banks, and ids going down, are normal.
        assert_eq!(w.check("1", at(10_150), NOW), [None, None]);
        assert_eq!(w.check("1", at(10_051), NOW), [None, None]);
        assert_eq!(
            w.check("1", at(u64::MAX), NOW),
            [
                None,
                Some(Suspicion::ChangelogJump {
                    highest: 10_150,
                    id: u64::MAX
                })
            ]
        );
        assert_eq!(w.check("1", at(u64::MAX), NOW), [None, None], "warned once");
        // Per integration: another integration's ids are its own.
        assert_eq!(w.check("2", at(5), NOW), [None, None]);
        assert_eq!(
            w.check("2", at(5 + MAX_CHANGELOG_JUMP + 1), NOW),
            [
                None,
                Some(Suspicion::ChangelogJump {
                    highest: 5,
                    id: 5 + MAX_CHANGELOG_JUMP + 1
                })
            ]
        );
    }
}
