//! The change counters of `cache_generations` (migration V3) as this replica last read them.
//!
//! Triggers bump a counter in the transaction that changes the integrations table, or the
//! links and moves of one integration. The backend's tick reads the whole table every
//! [`super::POLL_INTERVAL`]; a cache entry filled at generation `g` is current while the last
//! read still says `g`. When the table cannot be read (the database is unreachable), or the
//! last successful read is older than [`STALE_AFTER`], every cache counts as out of date and
//! readers go to the database, which then answers or fails: a replica never trusts a cache it
//! cannot vouch for.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::storage::{PgStorage, query};
use crate::storage::StorageError;

/// A read of the counters older than this no longer vouches for any cache (the promise is
/// that a change through one replica reaches every other within 2 s).
pub const STALE_AFTER: Duration = Duration::from_secs(1);

/// The counters, as last read.
#[derive(Debug)]
pub(super) struct Generations {
    /// When this was created (the base of `read_at_ms`).
    base: Instant,
    /// Milliseconds after `base` of the last successful read, plus one (`0`: never).
    read_at_ms: AtomicU64,
    integrations: AtomicU64,
    links: RwLock<HashMap<i64, u64>>,
}

impl Default for Generations {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            read_at_ms: AtomicU64::new(0),
            integrations: AtomicU64::new(0),
            links: RwLock::default(),
        }
    }
}

impl Generations {
    fn fresh(&self) -> bool {
        let read = self.read_at_ms.load(Ordering::Acquire);
        read != 0
            && self.base.elapsed().as_millis() < u128::from(read - 1) + STALE_AFTER.as_millis()
    }

    /// The generation of the integrations table, `None` when the last read is not fresh.
    pub(super) fn integrations(&self) -> Option<u64> {
        self.fresh()
            .then(|| self.integrations.load(Ordering::Acquire))
    }

    /// The generation of one integration's links and moves (`0` while it never had any),
    /// `None` when the last read is not fresh.
    pub(super) fn links(&self, integration: i64) -> Option<u64> {
        if !self.fresh() {
            return None;
        }
        let links = self.links.read().ok()?;
        Some(links.get(&integration).copied().unwrap_or(0))
    }

    /// Records a read of the whole table.
    fn set(&self, rows: impl IntoIterator<Item = (String, i64, i64)>) {
        let mut integrations = 0;
        let mut links = HashMap::new();
        for (scope, id, generation) in rows {
            let generation = super::storage::to_u64(generation);
            if scope == "integrations" {
                integrations = generation;
            } else {
                links.insert(id, generation);
            }
        }
        self.integrations.store(integrations, Ordering::Release);
        if let Ok(mut l) = self.links.write() {
            *l = links;
        }
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.read_at_ms.store(now + 1, Ordering::Release);
    }
}

impl PgStorage {
    /// Reads the counters (the backend's tick calls this).
    pub(super) async fn read_generations(&self) -> Result<(), StorageError> {
        let c = self.conn().await?;
        let rows = query(
            &c,
            "reading the cache generations",
            "SELECT scope, integration_id, generation FROM cache_generations",
            &[],
        )
        .await?;
        self.generations
            .set(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_vouched_for_before_the_first_read() {
        let g = Generations::default();
        assert_eq!(g.integrations(), None);
        assert_eq!(g.links(1), None);
    }

    #[test]
    fn a_read_gives_each_scope_its_counter_and_unknown_integrations_zero() {
        let g = Generations::default();
        g.set([
            ("integrations".to_owned(), 0, 7),
            ("links".to_owned(), 3, 2),
        ]);
        assert_eq!(g.integrations(), Some(7));
        assert_eq!(g.links(3), Some(2));
        assert_eq!(g.links(4), Some(0));
    }

    #[test]
    fn a_read_older_than_stale_after_vouches_for_nothing() {
        let mut g = Generations::default();
        g.set([("integrations".to_owned(), 0, 7)]);
        g.base = Instant::now()
            .checked_sub(STALE_AFTER * 2)
            .expect("the clock is past 2 s");
        g.read_at_ms.store(1, Ordering::Release);
        assert_eq!(g.integrations(), None);
        assert_eq!(g.links(1), None);
    }
}
