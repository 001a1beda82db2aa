//! Per integration, the issue keys that have links or moves, held by each replica so that the
//! webhook endpoint answers a delivery for an unlinked issue without a query (the load
//! harness's mix b: irrelevant deliveries must not touch the database).
//!
//! A set holds 64-bit hashes of the keys: a key whose hash is absent has no link and no move;
//! a present hash means a link or a move (or, once in 2^64, a collision: the delivery is then
//! stored and the worker finds no group), which `has_links` and `has_move` tell apart in the
//! database. A set is current while
//! * the integration's links generation ([`super::generations`], bumped by a trigger in every
//!   transaction that changes its links or moves) is not newer than the one the set was
//!   loaded at, and
//! * no write of links or moves through this replica committed since the load began (the
//!   local epoch: this replica's own writes count at once, before its next read of the
//!   counters; another replica's count from that read, within about 0.5 s).
//!
//! Otherwise the answer comes from the database, and a reload of the set starts in the
//! background: at most one per integration at a time, and at most one per [`RELOAD_EVERY`]
//! (a bulk import changes the links many times a second).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::storage::{PgStorage, Tx, query, query_opt, to_u64};
use crate::storage::StorageError;

/// The shortest time between two loads of one integration's set.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// The sets of one replica.
#[derive(Debug, Default)]
pub(super) struct LinkKeys {
    hasher: RandomState,
    /// Bumped after each commit through this replica that wrote links or moves.
    epoch: AtomicU64,
    slots: RwLock<HashMap<i64, Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    set: Option<Arc<KeySet>>,
    loading: bool,
    loaded_at: Option<Instant>,
}

#[derive(Debug)]
struct KeySet {
    generation: u64,
    epoch: u64,
    hashes: HashSet<u64>,
}

/// What a set says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// The key has no link and no move.
    Absent,
    /// The key has a link or a move.
    Present,
    /// Ask the database; `reload`: start a reload of the set (the caller owns it now and
    /// must call [`LinkKeys::loaded`] or [`LinkKeys::load_failed`]).
    AskDatabase {
        /// Whether the caller should reload the set.
        reload: bool,
    },
}

impl LinkKeys {
    /// What the set of `integration` says about `key`, given the integration's links
    /// generation as last read (`None`: not vouched for).
    pub(super) fn lookup(&self, generation: Option<u64>, integration: i64, key: &str) -> Answer {
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Ok(slots) = self.slots.read()
            && let Some(slot) = slots.get(&integration)
            && let Some(set) = &slot.set
            && let Some(generation) = generation
            && set.generation >= generation
            && set.epoch == epoch
        {
            return if set.hashes.contains(&self.hasher.hash_one(key)) {
                Answer::Present
            } else {
                Answer::Absent
            };
        }
        let Ok(mut slots) = self.slots.write() else {
            return Answer::AskDatabase { reload: false };
        };
        let slot = slots.entry(integration).or_default();
        let due = slot.loaded_at.is_none_or(|t| t.elapsed() >= RELOAD_EVERY);
        let reload = generation.is_some() && !slot.loading && due;
        if reload {
            slot.loading = true;
            slot.loaded_at = Some(Instant::now());
        }
        Answer::AskDatabase { reload }
    }

    /// The local epoch, read before a load starts.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A write of links or moves through this replica committed.
    pub(super) fn wrote(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// A load begun at local epoch `epoch` read `keys` at links generation `generation`.
    pub(super) fn loaded<'k>(
        &self,
        integration: i64,
        epoch: u64,
        generation: u64,
        keys: impl IntoIterator<Item = &'k str>,
    ) {
        let hashes = keys.into_iter().map(|k| self.hasher.hash_one(k)).collect();
        if let Ok(mut slots) = self.slots.write() {
            let slot = slots.entry(integration).or_default();
            slot.loading = false;
            slot.set = Some(Arc::new(KeySet {
                generation,
                epoch,
                hashes,
            }));
        }
    }

    /// A load failed: the next lookup after [`RELOAD_EVERY`] tries again.
    pub(super) fn load_failed(&self, integration: i64) {
        if let Ok(mut slots) = self.slots.write() {
            slots.entry(integration).or_default().loading = false;
        }
    }
}

impl PgStorage {
    /// Whether `key` has a link or a move in `integration`, from this replica's set (`None`:
    /// the set is not current, ask the database); starts a reload of the set in the
    /// background when it is out of date.
    pub(super) fn tracked_by_link_keys(&self, integration: i64, key: &str) -> Option<bool> {
        let generation = self.generations.links(integration);
        match self.link_keys.lookup(generation, integration, key) {
            Answer::Absent => Some(false),
            Answer::Present => Some(true),
            Answer::AskDatabase { reload } => {
                if reload {
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this.load_link_keys(integration).await {
                            tracing::warn!(integration, error = %e, "loading the linked issue keys failed; the webhook endpoint asks the database until a load succeeds");
                            this.link_keys.load_failed(integration);
                        }
                    });
                }
                None
            }
        }
    }

    /// Whether `key` surely has no link and no move in `integration` (see
    /// [`Self::tracked_by_link_keys`]).
    pub(super) fn surely_unlinked(&self, integration: i64, key: &str) -> bool {
        self.tracked_by_link_keys(integration, key) == Some(false)
    }

    /// Loads the set of `integration`: its generation and keys from one snapshot.
    async fn load_link_keys(&self, integration: i64) -> Result<(), StorageError> {
        let what = "loading the linked issue keys";
        let epoch = self.link_keys.epoch();
        let tx = Tx::begin(self.conn().await?, what).await?;
        tx.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(super::storage::db(what))?;
        let generation = query_opt(
            &tx,
            what,
            "SELECT generation FROM cache_generations WHERE scope = 'links' AND integration_id = $1",
            &[&integration],
        )
        .await?
        .map_or(0, |r| to_u64(r.get(0)));
        let rows = query(
            &tx,
            what,
            "SELECT issue_key FROM links WHERE integration_id = $1 \
             UNION SELECT from_key FROM moves WHERE integration_id = $1",
            &[&integration],
        )
        .await?;
        tx.commit(what).await?;
        self.link_keys.loaded(
            integration,
            epoch,
            generation,
            rows.iter().map(|r| r.get::<_, &str>(0)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(keys: &[&str], generation: u64) -> LinkKeys {
        let k = LinkKeys::default();
        assert_eq!(
            k.lookup(Some(generation), 1, "A-1"),
            Answer::AskDatabase { reload: true },
            "the first lookup starts a load"
        );
        k.loaded(1, k.epoch(), generation, keys.iter().copied());
        k
    }

    #[test]
    fn a_current_set_answers_absent_and_present_keys() {
        let k = loaded(&["A-1", "A-2"], 3);
        assert_eq!(k.lookup(Some(3), 1, "A-3"), Answer::Absent);
        assert_eq!(k.lookup(Some(3), 1, "A-1"), Answer::Present);
        // A counter read older than the set's load still vouches for it.
        assert_eq!(k.lookup(Some(2), 1, "A-3"), Answer::Absent);
    }

    #[test]
    fn a_newer_generation_an_own_write_or_no_fresh_read_make_the_set_out_of_date() {
        let k = loaded(&["A-1"], 3);
        assert_eq!(
            k.lookup(Some(4), 1, "A-3"),
            Answer::AskDatabase { reload: false },
            "out of date; the last load was under RELOAD_EVERY ago"
        );
        assert_eq!(
            k.lookup(None, 1, "A-3"),
            Answer::AskDatabase { reload: false }
        );
        let k = loaded(&["A-1"], 3);
        k.wrote();
        assert_eq!(
            k.lookup(Some(3), 1, "A-3"),
            Answer::AskDatabase { reload: false }
        );
        // Another integration has no set yet.
        assert_eq!(
            k.lookup(Some(3), 2, "A-3"),
            Answer::AskDatabase { reload: true }
        );
    }

    #[test]
    fn a_load_that_began_before_an_own_write_is_not_current() {
        let k = LinkKeys::default();
        let _ = k.lookup(Some(1), 1, "A-1");
        let began = k.epoch();
        k.wrote();
        k.loaded(1, began, 1, ["A-1"]);
        assert_eq!(
            k.lookup(Some(1), 1, "A-3"),
            Answer::AskDatabase { reload: false }
        );
    }

    #[test]
    fn one_load_at_a_time_and_a_failed_one_is_retried_after_reload_every() {
        let k = LinkKeys::default();
        assert_eq!(
            k.lookup(Some(1), 1, "A-1"),
            Answer::AskDatabase { reload: true }
        );
        assert_eq!(
            k.lookup(Some(1), 1, "A-1"),
            Answer::AskDatabase { reload: false },
            "a load is running"
        );
        k.load_failed(1);
        assert_eq!(
            k.lookup(Some(1), 1, "A-1"),
            Answer::AskDatabase { reload: false },
            "not again within RELOAD_EVERY"
        );
        if let Ok(mut slots) = k.slots.write() {
            slots.get_mut(&1).expect("slot").loaded_at = Instant::now().checked_sub(RELOAD_EVERY);
        }
        assert_eq!(
            k.lookup(Some(1), 1, "A-1"),
            Answer::AskDatabase { reload: true }
        );
    }
}
