//! Decoded integration records and organization settings, reused until either is written.
//!
//! The worker reads an integration's record and its organizations' settings for every delivery;
//! decoding the record (it carries the OAuth key material) and scanning the settings cost
//! about a tenth of the worker's time. Both change only through the admin API.
//!
//! Every entry is tagged with the generation read *before* the store was read, and every write
//! to either tree bumps the generation *after* writing: an entry read before a write can
//! therefore never be served after it, whichever thread wins a race.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::records::{IntegrationRecord, OrgSettingsRecord};

/// At most this many integrations are cached; more (a store with that many integrations) clears
/// the cache, which only costs re-reading.
const MAX_ENTRIES: usize = 1024;

/// All organizations' settings of one integration, as [`super::Store::org_settings`] gives them.
pub(crate) type OrgSettingsList = Arc<Vec<(String, OrgSettingsRecord)>>;

type Tagged<T> = Mutex<HashMap<String, (u64, T)>>;

#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    generation: AtomicU64,
    integrations: Tagged<Arc<IntegrationRecord>>,
    org_settings: Tagged<OrgSettingsList>,
}

fn lookup<T: Clone>(map: &Tagged<T>, id: &str, generation: u64) -> Option<T> {
    let map = map.lock().ok()?;
    match map.get(id) {
        Some((g, v)) if *g == generation => Some(v.clone()),
        _ => None,
    }
}

fn remember<T>(map: &Tagged<T>, id: &str, generation: u64, value: T) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= MAX_ENTRIES && !map.contains_key(id) {
            map.clear();
        }
        map.insert(id.to_owned(), (generation, value));
    }
}

impl ConfigCache {
    /// The generation to tag a value read from the store now with.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Call after every write to the integrations or organization settings trees.
    pub(crate) fn written(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn integration(&self, id: &str) -> Option<Arc<IntegrationRecord>> {
        lookup(&self.integrations, id, self.generation())
    }

    pub(crate) fn remember_integration(
        &self,
        id: &str,
        generation: u64,
        rec: Arc<IntegrationRecord>,
    ) {
        remember(&self.integrations, id, generation, rec);
    }

    pub(crate) fn org_settings(&self, integration: &str) -> Option<OrgSettingsList> {
        lookup(&self.org_settings, integration, self.generation())
    }

    pub(crate) fn remember_org_settings(
        &self,
        integration: &str,
        generation: u64,
        list: OrgSettingsList,
    ) {
        remember(&self.org_settings, integration, generation, list);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use super::*;

    fn settings(assign: bool) -> OrgSettingsRecord {
        OrgSettingsRecord {
            sync_reverse_assignment: assign,
            ..OrgSettingsRecord::default()
        }
    }

    #[test]
    fn a_write_is_seen_by_the_next_read() {
        let s = Store::temporary().expect("open");
        assert!(s.org_settings("1").expect("read").is_empty());
        s.put_org_settings("1", "o1", &settings(true)).expect("put");
        assert_eq!(
            s.org_settings("1").expect("read"),
            [("o1".to_owned(), settings(true))]
        );
        // Served from the cache now; a second write replaces it.
        assert_eq!(
            s.org_settings("1").expect("read"),
            [("o1".to_owned(), settings(true))]
        );
        s.put_org_settings("1", "o1", &settings(false))
            .expect("put");
        s.put_org_settings("1", "o2", &settings(true)).expect("put");
        assert_eq!(
            s.org_settings("1").expect("read"),
            [
                ("o1".to_owned(), settings(false)),
                ("o2".to_owned(), settings(true))
            ]
        );
        assert!(s.org_settings("2").expect("read").is_empty());
    }

    #[test]
    fn a_value_read_before_a_write_is_not_served_after_it() {
        let cache = ConfigCache::default();
        let before = cache.generation();
        // A reader read the store, then a writer wrote and bumped the generation, then the
        // reader stores what it read: it must not be served.
        cache.written();
        cache.remember_org_settings("1", before, Arc::new(vec![("o1".into(), settings(true))]));
        assert!(cache.org_settings("1").is_none());
        // Read after the write: served until the next write.
        let now = cache.generation();
        cache.remember_org_settings("1", now, Arc::new(vec![]));
        assert_eq!(cache.org_settings("1").map(|l| l.len()), Some(0));
        cache.written();
        assert!(cache.org_settings("1").is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ConfigCache::default();
        let g = cache.generation();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.remember_org_settings(&i.to_string(), g, Arc::new(vec![]));
        }
        assert!(cache.org_settings.lock().expect("lock").len() <= MAX_ENTRIES);
        assert!(cache.org_settings(&(MAX_ENTRIES + 9).to_string()).is_some());
    }
}
