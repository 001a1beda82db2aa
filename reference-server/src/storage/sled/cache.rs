//! Decoded records the admin API writes (integrations, organization settings, user mappings,
//! users, projects), reused until any of them is written.
//!
//! The worker reads an integration's record, its organizations' settings, the assignee's user
//! mapping, the users with the assignee's e-mail, the group's project and its membership for
//! every delivery; reading and decoding them from sled was 15-20% of the worker's samples
//! (perf, mix a of the load harness). All of them change only through the admin API
//! (`Store::put_integration`, `delete_integration`, `put_org_settings`, `put_user_mapping`,
//! `put_user`, `put_project`), which calls [`ConfigCache::written`].
//!
//! Every entry is tagged with the generation read *before* the store was read, and every write
//! bumps the generation *after* writing: an entry read before a write can therefore never be
//! served after it, whichever thread wins a race.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::records::{IntegrationRecord, OrgSettingsRecord, ProjectRecord, UserRecord};

/// At most this many entries per kind are cached; one more clears that kind, which only costs
/// re-reading.
const MAX_ENTRIES: usize = 1024;

/// All organizations' settings of one integration, as [`super::store::Store::org_settings`] gives them.
pub(crate) type OrgSettingsList = Arc<Vec<(String, OrgSettingsRecord)>>;

/// One kind of cached value: key -> (generation it was read at, value).
pub(crate) type Tagged<T> = Mutex<HashMap<String, (u64, T)>>;

#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    generation: AtomicU64,
    pub(crate) integrations: Tagged<Arc<IntegrationRecord>>,
    pub(crate) org_settings: Tagged<OrgSettingsList>,
    /// Lower-cased verified e-mail -> user ids.
    pub(crate) users_by_email: Tagged<Arc<Vec<String>>>,
    pub(crate) users: Tagged<Arc<UserRecord>>,
    pub(crate) projects: Tagged<Arc<ProjectRecord>>,
    /// `project\0user` -> member or not.
    pub(crate) members: Tagged<bool>,
    /// `integration\0jira user` -> the mapped user, if any.
    pub(crate) user_mappings: Tagged<Option<String>>,
}

impl ConfigCache {
    /// The generation to tag a value read from the store now with.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Call after every write to the trees this cache covers.
    pub(crate) fn written(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached value of `key`, if it was read at the current generation.
    pub(crate) fn get<T: Clone>(&self, map: &Tagged<T>, key: &str) -> Option<T> {
        let generation = self.generation();
        let map = map.lock().ok()?;
        match map.get(key) {
            Some((g, v)) if *g == generation => Some(v.clone()),
            _ => None,
        }
    }

    /// Remembers `value`, read from the store after [`ConfigCache::generation`] gave
    /// `generation`; a value already overtaken by a write is not kept.
    pub(crate) fn put<T>(&self, map: &Tagged<T>, key: &str, generation: u64, value: T) {
        if generation != self.generation() {
            return;
        }
        if let Ok(mut map) = map.lock() {
            if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
                map.clear();
            }
            map.insert(key.to_owned(), (generation, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::store::Store;
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
    fn users_and_projects_are_read_again_after_a_write() {
        use crate::storage::records::{EmailRecord, ProjectRecord, UserRecord};
        let s = Store::temporary().expect("open");
        let user = |email: &str, active: bool| UserRecord {
            name: "Bob".into(),
            active,
            emails: vec![EmailRecord {
                email: email.into(),
                verified: true,
            }],
        };
        s.put_user("u1", &user("bob@example.org", true))
            .expect("put");
        assert_eq!(
            s.users_by_verified_email("Bob@Example.org").expect("q"),
            ["u1"]
        );
        assert!(s.user("u1").expect("q").is_some_and(|u| u.active));
        s.put_user("u1", &user("robert@example.org", false))
            .expect("put");
        assert!(
            s.users_by_verified_email("bob@example.org")
                .expect("q")
                .is_empty()
        );
        assert_eq!(
            s.users_by_verified_email("robert@example.org").expect("q"),
            ["u1"]
        );
        assert!(s.user("u1").expect("q").is_some_and(|u| !u.active));

        let project = |org: &str, members: &[&str]| ProjectRecord {
            organization: org.into(),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        };
        s.put_project("p1", &project("o1", &["u1"])).expect("put");
        assert!(s.is_member("p1", "u1").expect("q"));
        assert!(!s.is_member("p1", "u2").expect("q"));
        assert_eq!(
            s.project("p1").expect("q").map(|p| p.organization),
            Some("o1".into())
        );
        s.put_project("p1", &project("o2", &["u2"])).expect("put");
        assert!(!s.is_member("p1", "u1").expect("q"));
        assert!(s.is_member("p1", "u2").expect("q"));
        assert_eq!(
            s.project("p1").expect("q").map(|p| p.organization),
            Some("o2".into())
        );
    }

    #[test]
    fn user_mappings_are_read_again_after_a_write() {
        let s = Store::temporary().expect("open");
        assert_eq!(s.user_mapping("1", "bob").expect("q"), None);
        s.put_user_mapping("1", "bob", "u1").expect("put");
        assert_eq!(
            s.user_mapping("1", "bob").expect("q").as_deref(),
            Some("u1")
        );
        s.put_user_mapping("1", "bob", "u2").expect("put");
        assert_eq!(
            s.user_mapping("1", "bob").expect("q").as_deref(),
            Some("u2")
        );
        assert_eq!(s.user_mapping("2", "bob").expect("q"), None);
        assert_eq!(s.user_mapping("1", "bobby").expect("q"), None);
    }

    #[test]
    fn a_value_read_before_a_write_is_not_served_after_it() {
        let cache = ConfigCache::default();
        let before = cache.generation();
        // A reader read the store, then a writer wrote and bumped the generation, then the
        // reader stores what it read: it must not be served.
        cache.written();
        cache.put(
            &cache.org_settings,
            "1",
            before,
            Arc::new(vec![("o1".into(), settings(true))]),
        );
        assert!(cache.get(&cache.org_settings, "1").is_none());
        // Read after the write: served until the next write.
        let now = cache.generation();
        cache.put(&cache.org_settings, "1", now, Arc::new(vec![]));
        assert_eq!(
            cache.get(&cache.org_settings, "1").map(|l| l.len()),
            Some(0)
        );
        cache.written();
        assert!(cache.get(&cache.org_settings, "1").is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ConfigCache::default();
        let g = cache.generation();
        for i in 0..(MAX_ENTRIES + 10) {
            cache.put(&cache.org_settings, &i.to_string(), g, Arc::new(vec![]));
        }
        assert!(cache.org_settings.lock().expect("lock").len() <= MAX_ENTRIES);
        assert!(
            cache
                .get(&cache.org_settings, &(MAX_ENTRIES + 9).to_string())
                .is_some()
        );
    }
}
