//! Counting calls: [`CallObserver`], [`CallOutcome`] and the ready-made [`CallCounters`].

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// What one Jira call ended with, as seen by a [`CallObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// Jira answered with this HTTP status.
    Status(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection failed (refused, DNS, TLS, reset).
    Unreachable,
}

impl CallOutcome {
    /// A metrics label: the status code (`"200"`), `"timeout"` or `"unreachable"`.
    pub fn label(&self) -> String {
        match self {
            Self::Status(code) => code.to_string(),
            Self::Timeout => "timeout".to_owned(),
            Self::Unreachable => "unreachable".to_owned(),
        }
    }
}

/// Receives one notification per Jira call (for metrics). Must be cheap and must not block.
pub trait CallObserver: Send + Sync {
    /// `operation` is a stable name such as `serverInfo`, `createWebhook`, `userByUsername`
    /// (the `OPERATION` constant of each module under [`ops`](crate::ops)).
    fn observe(&self, operation: &'static str, outcome: CallOutcome);
}

/// A ready-made [`CallObserver`] that counts calls by operation and outcome.
///
/// ```
/// use jira_client::{CallCounters, CallObserver, CallOutcome};
/// let counters = CallCounters::default();
/// counters.observe("serverInfo", CallOutcome::Status(200));
/// counters.observe("serverInfo", CallOutcome::Status(200));
/// counters.observe("createWebhook", CallOutcome::Timeout);
/// let snapshot = counters.snapshot();
/// assert_eq!(snapshot[&("serverInfo", CallOutcome::Status(200))], 2);
/// assert_eq!(counters.total(), 3);
/// ```
#[derive(Debug, Default)]
pub struct CallCounters {
    counts: Mutex<BTreeMap<(&'static str, CallOutcome), u64>>,
}

impl CallCounters {
    /// Current counts keyed by `(operation, outcome)`.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, CallOutcome), u64> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of calls observed so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

impl CallObserver for CallCounters {
    fn observe(&self, operation: &'static str, outcome: CallOutcome) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((operation, outcome))
            .or_default() += 1;
    }
}
