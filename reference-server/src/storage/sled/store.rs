//! Persistent state in sled: one tree per kind of record, JSON values, `\0`-separated keys.
//!
//! Trees: `integrations` (id -> record), `integrations_by_external` (external id -> id),
//! `pipelines` (id -> pending install), `pipelines_by_token` (oauth token -> id),
//! `org_settings` (integration\0org), `user_mappings` (integration\0jira user -> user id),
//! `users`, `user_emails` (lowercased verified e-mail\0user id), `projects`,
//! `project_members` (project\0user), `groups`, `links` (integration\0issue key\0group),
//! `group_links` (group\0integration\0issue key), `deliveries` (integration\0seq),
//! `moves` (integration\0old issue key -> new key and ordering), `status_cache` (integration),
//! `retries` (seq -> retry state of a delivery waiting for a retry), `dead_letters`
//! (integration\0seq -> a delivery given up on, with its body; see `dead_letters.rs`).
//!
//! Ids are chosen by API callers and must not contain control characters (checked by the API),
//! so `\0` never appears inside a key part.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional as _;

use super::{cache, moves, sync};
use crate::storage::records::{
    GroupRecord, IntegrationRecord, OrgSettingsRecord, PipelineRecord, ProjectRecord,
    StatusCategories, UserRecord,
};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption); check the data directory and disk.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record could not be decoded; the data directory was written by an incompatible
    /// version.
    #[error("stored record could not be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    /// A transaction failed.
    #[error("storage transaction failed: {0}")]
    Transaction(String),
    /// A stored value is damaged; check the data directory and disk.
    #[error("stored value is damaged: {0}")]
    Corrupt(String),
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(inner) => inner,
            sled::transaction::TransactionError::Storage(s) => StoreError::Sled(s),
        }
    }
}

impl From<sled::transaction::TransactionError<()>> for StoreError {
    fn from(e: sled::transaction::TransactionError<()>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(()) => {
                StoreError::Transaction("aborted".into())
            }
            sled::transaction::TransactionError::Storage(s) => StoreError::Sled(s),
        }
    }
}

/// Joins key parts with `\0`.
pub fn key(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// `key(parts)` followed by a `\0`, for prefix scans.
pub fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

pub(super) fn last_part(k: &[u8]) -> String {
    let start = k.iter().rposition(|b| *b == 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(k.get(start..).unwrap_or_default()).into_owned()
}

pub(super) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(v)?)
}

pub(super) fn from_json<T: DeserializeOwned>(v: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(v)?)
}

/// Default page cache size in MiB (sled's own default is 1024). sled keeps several times this
/// much in memory (its nodes are larger in memory than its accounting counts, and the page
/// table and index nodes stay resident); 4 MiB keeps a server with 10^6 links under 200 MB of
/// peak RSS (see docs/operating.md, "Memory") at no measurable cost in webhook throughput.
pub const DEFAULT_CACHE_MB: u64 = 4;

/// Key of the integration id counter in the default tree.
const INTEGRATION_ID_KEY: &[u8] = b"next-integration-id";

/// Handle on the database (cheap to clone).
#[derive(Clone)]
pub struct Store {
    pub(crate) db: sled::Db,
    pub(crate) integrations: sled::Tree,
    pub(crate) integrations_by_external: sled::Tree,
    pub(crate) pipelines: sled::Tree,
    pub(crate) pipelines_by_token: sled::Tree,
    pub(crate) org_settings: sled::Tree,
    pub(crate) user_mappings: sled::Tree,
    pub(crate) users: sled::Tree,
    pub(crate) user_emails: sled::Tree,
    pub(crate) projects: sled::Tree,
    pub(crate) project_members: sled::Tree,
    pub(crate) groups: sled::Tree,
    pub(crate) links: sled::Tree,
    pub(crate) group_links: sled::Tree,
    pub(crate) deliveries: sled::Tree,
    pub(crate) moves: sled::Tree,
    pub(crate) status_cache: sled::Tree,
    /// Retry state of deliveries waiting for a retry (seq, big-endian -> `RetryRecord`).
    pub(crate) retries: sled::Tree,
    /// Dead letters (integration\0seq big-endian -> `dead_letters::encode`).
    pub(crate) dead_letters: sled::Tree,
    pub(super) config_cache: std::sync::Arc<cache::ConfigCache>,
    /// Delivery log entries per integration, for the integrations counted so far (see
    /// [`Store::prune_deliveries`]).
    pub(super) delivery_counts: Arc<std::sync::Mutex<HashMap<String, u64>>>,
    /// Group records a sync read last, for its compare-and-swap (see [`sync::GroupReads`]).
    pub(super) group_reads: Arc<sync::GroupReads>,
    /// The keys of `moves`, so that an issue that never moved costs no read of it.
    pub(super) move_keys: Arc<moves::MoveKeys>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database in `dir/db` with a page cache of [`DEFAULT_CACHE_MB`].
    pub fn open(dir: &std::path::Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_MB)
    }

    /// Opens (or creates) the database in `dir/db` with a page cache of `cache_mb` MiB
    /// (sled's `cache_capacity`).
    pub fn open_with_cache(dir: &std::path::Path, cache_mb: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            .open()?;
        Self::from_db(db)
    }

    /// A temporary database (tests, benches).
    pub fn temporary() -> Result<Self, StoreError> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let moves = db.open_tree("moves")?;
        let move_keys = Arc::new(moves::MoveKeys::load(&moves)?);
        let store = Self {
            integrations: db.open_tree("integrations")?,
            integrations_by_external: db.open_tree("integrations_by_external")?,
            pipelines: db.open_tree("pipelines")?,
            pipelines_by_token: db.open_tree("pipelines_by_token")?,
            org_settings: db.open_tree("org_settings")?,
            user_mappings: db.open_tree("user_mappings")?,
            users: db.open_tree("users")?,
            user_emails: db.open_tree("user_emails")?,
            projects: db.open_tree("projects")?,
            project_members: db.open_tree("project_members")?,
            groups: db.open_tree("groups")?,
            links: db.open_tree("links")?,
            group_links: db.open_tree("group_links")?,
            deliveries: db.open_tree("deliveries")?,
            moves,
            status_cache: db.open_tree("status_cache")?,
            retries: db.open_tree("retries")?,
            dead_letters: db.open_tree("dead_letters")?,
            config_cache: std::sync::Arc::default(),
            delivery_counts: Arc::default(),
            group_reads: Arc::default(),
            move_keys,
            db,
        };
        Ok(store)
    }

    /// Flushes everything to disk (blocking; call from `spawn_blocking` in async code).
    pub fn flush_blocking(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush()?)
    }

    /// A new unique, increasing id.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// A new integration id: 1, 2, 3, ... on a new data directory, never handed out twice
    /// (a deleted integration's id included). The counter lives in the default tree, so it is
    /// durable with the records written after it. A data directory from before the counter
    /// continues above sled's generated ids, which earlier versions used.
    pub fn next_integration_id(&self) -> Result<u64, StoreError> {
        let floor = if self.db.contains_key(INTEGRATION_ID_KEY)? || !self.db.was_recovered() {
            0
        } else {
            self.db.generate_id()?
        };
        let decode = |v: &[u8]| <[u8; 8]>::try_from(v).map(u64::from_be_bytes).ok();
        let new = self.db.update_and_fetch(INTEGRATION_ID_KEY, |old| {
            let last = old.and_then(decode).unwrap_or(floor);
            Some(last.saturating_add(1).to_be_bytes().to_vec())
        })?;
        new.as_deref()
            .and_then(decode)
            .ok_or_else(|| StoreError::Corrupt("the integration id counter is not 8 bytes".into()))
    }

    // ---- integrations ----

    /// Persists an integration and its external-id index.
    pub fn put_integration(&self, rec: &IntegrationRecord) -> Result<(), StoreError> {
        let value = to_json(rec)?;
        (&self.integrations, &self.integrations_by_external).transaction(|(i, x)| {
            i.insert(rec.id.as_bytes(), value.as_slice())?;
            x.insert(rec.external_id().as_bytes(), rec.id.as_bytes())?;
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
        })?;
        self.config_cache.written();
        Ok(())
    }

    /// An integration by id.
    pub fn integration(&self, id: &str) -> Result<Option<IntegrationRecord>, StoreError> {
        Ok(self.integration_shared(id)?.map(Arc::unwrap_or_clone))
    }

    /// An integration by id, shared: decoded once and reused until an integration or
    /// organization settings are written (what the worker reads for every delivery).
    pub fn integration_shared(
        &self,
        id: &str,
    ) -> Result<Option<Arc<IntegrationRecord>>, StoreError> {
        let cache = &self.config_cache;
        if let Some(rec) = cache.get(&cache.integrations, id) {
            return Ok(Some(rec));
        }
        let generation = cache.generation();
        let Some(v) = self.integrations.get(id.as_bytes())? else {
            return Ok(None);
        };
        let rec = Arc::new(from_json::<IntegrationRecord>(&v)?);
        cache.put(&cache.integrations, id, generation, rec.clone());
        Ok(Some(rec))
    }

    /// An integration by external id.
    pub fn integration_by_external(
        &self,
        external_id: &str,
    ) -> Result<Option<IntegrationRecord>, StoreError> {
        match self.integrations_by_external.get(external_id.as_bytes())? {
            Some(id) => self.integration(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// All integrations, ordered by id bytes.
    pub fn integrations(&self) -> Result<Vec<IntegrationRecord>, StoreError> {
        self.integrations
            .iter()
            .values()
            .map(|v| from_json(&v?))
            .collect()
    }

    /// Deletes an integration with its settings, mappings, links and watermarks. Returns the
    /// deleted record.
    pub fn delete_integration(&self, id: &str) -> Result<Option<IntegrationRecord>, StoreError> {
        let Some(rec) = self.integration(id)? else {
            return Ok(None);
        };
        (&self.integrations, &self.integrations_by_external).transaction(|(i, x)| {
            i.remove(id.as_bytes())?;
            if x.get(rec.external_id().as_bytes())?.as_deref() == Some(id.as_bytes()) {
                x.remove(rec.external_id().as_bytes())?;
            }
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
        })?;
        self.config_cache.written();
        let p = prefix(&[id]);
        for tree in [
            &self.org_settings,
            &self.user_mappings,
            &self.moves,
            &self.dead_letters,
        ] {
            for k in tree.scan_prefix(&p).keys() {
                tree.remove(k?)?;
            }
        }
        self.move_keys.remove_prefix(&p);
        self.config_cache.written();
        for k in self.links.scan_prefix(&p).keys() {
            let k = k?;
            self.links.remove(&k)?;
            // links key: integration\0issue\0group -> group_links: group\0integration\0issue
            let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
            if let [integ, issue, group] = parts.as_slice() {
                let mut gk = group.to_vec();
                gk.push(0);
                gk.extend_from_slice(integ);
                gk.push(0);
                gk.extend_from_slice(issue);
                self.group_links.remove(gk)?;
            }
        }
        self.status_cache.remove(id.as_bytes())?;
        Ok(Some(rec))
    }

    // ---- pipelines ----

    /// Stores a pending install pipeline.
    pub fn put_pipeline(&self, rec: &PipelineRecord) -> Result<(), StoreError> {
        self.pipelines.insert(rec.id.as_bytes(), to_json(rec)?)?;
        self.pipelines_by_token
            .insert(rec.oauth_token.as_bytes(), rec.id.as_bytes())?;
        Ok(())
    }

    /// Deletes pipelines created before `cutoff_unix`; returns how many.
    pub fn purge_pipelines(&self, cutoff_unix: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for v in self.pipelines.iter().values() {
            let rec: PipelineRecord = match from_json(&v?) {
                Ok(r) => r,
                Err(_) => continue,
            };
            if rec.created_unix < cutoff_unix && self.take_pipeline(&rec.id)?.is_some() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// A pipeline by id.
    pub fn pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StoreError> {
        self.pipelines
            .get(id.as_bytes())?
            .map(|v| from_json(&v))
            .transpose()
    }

    /// A pipeline by request token.
    pub fn pipeline_by_token(&self, token: &str) -> Result<Option<PipelineRecord>, StoreError> {
        match self.pipelines_by_token.get(token.as_bytes())? {
            Some(id) => self.pipeline(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Removes a pipeline; returns it if it was still there (so only one completion wins).
    pub fn take_pipeline(&self, id: &str) -> Result<Option<PipelineRecord>, StoreError> {
        let Some(v) = self.pipelines.remove(id.as_bytes())? else {
            return Ok(None);
        };
        let rec: PipelineRecord = from_json(&v)?;
        self.pipelines_by_token.remove(rec.oauth_token.as_bytes())?;
        Ok(Some(rec))
    }

    // ---- organization settings, user mappings ----

    /// Sets an organization's settings for an integration.
    pub fn put_org_settings(
        &self,
        integration: &str,
        org: &str,
        rec: &OrgSettingsRecord,
    ) -> Result<(), StoreError> {
        self.org_settings
            .insert(key(&[integration, org]), to_json(rec)?)?;
        self.config_cache.written();
        Ok(())
    }

    /// All organizations' settings of an integration (decoded once and reused until an
    /// integration or organization settings are written).
    pub fn org_settings(
        &self,
        integration: &str,
    ) -> Result<Vec<(String, OrgSettingsRecord)>, StoreError> {
        let cache = &self.config_cache;
        if let Some(list) = cache.get(&cache.org_settings, integration) {
            return Ok(list.to_vec());
        }
        let generation = cache.generation();
        let list: Vec<(String, OrgSettingsRecord)> = self
            .org_settings
            .scan_prefix(prefix(&[integration]))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((last_part(&k), from_json(&v)?))
            })
            .collect::<Result<_, StoreError>>()?;
        cache.put(
            &cache.org_settings,
            integration,
            generation,
            Arc::new(list.clone()),
        );
        Ok(list)
    }

    /// Maps a Jira username or user key to a user.
    pub fn put_user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
        user: &str,
    ) -> Result<(), StoreError> {
        self.user_mappings
            .insert(key(&[integration, jira_user]), user.as_bytes())?;
        self.config_cache.written();
        Ok(())
    }

    /// The user mapped to a Jira username or key.
    pub fn user_mapping(
        &self,
        integration: &str,
        jira_user: &str,
    ) -> Result<Option<String>, StoreError> {
        let cache = &self.config_cache;
        let cache_key = format!("{integration}\0{jira_user}");
        if let Some(user) = cache.get(&cache.user_mappings, &cache_key) {
            return Ok(user);
        }
        let generation = cache.generation();
        let user = self
            .user_mappings
            .get(key(&[integration, jira_user]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        cache.put(&cache.user_mappings, &cache_key, generation, user.clone());
        Ok(user)
    }

    // ---- users, projects, groups ----

    /// Creates or replaces a user (and its verified e-mail index).
    pub fn put_user(&self, id: &str, rec: &UserRecord) -> Result<(), StoreError> {
        let value = to_json(rec)?;
        (&self.users, &self.user_emails).transaction(|(users, emails)| {
            if let Some(old) = users.get(id.as_bytes())? {
                let old: UserRecord = serde_json::from_slice(&old)
                    .map_err(|_| sled::transaction::ConflictableTransactionError::Abort(()))?;
                for e in old.emails {
                    emails.remove(key(&[&e.email.to_lowercase(), id]))?;
                }
            }
            for e in rec.emails.iter().filter(|e| e.verified) {
                emails.insert(key(&[&e.email.to_lowercase(), id]), &[])?;
            }
            users.insert(id.as_bytes(), value.as_slice())?;
            Ok(())
        })?;
        self.config_cache.written();
        Ok(())
    }

    /// A user by id.
    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.user_shared(id)?.map(Arc::unwrap_or_clone))
    }

    /// A user by id, decoded once and reused until the admin API writes (see `cache`).
    pub fn user_shared(&self, id: &str) -> Result<Option<Arc<UserRecord>>, StoreError> {
        let cache = &self.config_cache;
        if let Some(rec) = cache.get(&cache.users, id) {
            return Ok(Some(rec));
        }
        let generation = cache.generation();
        let Some(v) = self.users.get(id.as_bytes())? else {
            return Ok(None);
        };
        let rec = Arc::new(from_json::<UserRecord>(&v)?);
        cache.put(&cache.users, id, generation, rec.clone());
        Ok(Some(rec))
    }

    /// Ids of users with this verified e-mail (case-insensitive), any active state.
    pub fn users_by_verified_email(&self, email: &str) -> Result<Vec<String>, StoreError> {
        let email = email.to_lowercase();
        let cache = &self.config_cache;
        if let Some(ids) = cache.get(&cache.users_by_email, &email) {
            return Ok(ids.to_vec());
        }
        let generation = cache.generation();
        let ids: Vec<String> = self
            .user_emails
            .scan_prefix(prefix(&[&email]))
            .keys()
            .map(|k| Ok(last_part(&k?)))
            .collect::<Result<_, StoreError>>()?;
        cache.put(
            &cache.users_by_email,
            &email,
            generation,
            Arc::new(ids.clone()),
        );
        Ok(ids)
    }

    /// Creates or replaces a project (and its membership index).
    pub fn put_project(&self, id: &str, rec: &ProjectRecord) -> Result<(), StoreError> {
        let value = to_json(rec)?;
        (&self.projects, &self.project_members).transaction(|(projects, members)| {
            if let Some(old) = projects.get(id.as_bytes())? {
                let old: ProjectRecord = serde_json::from_slice(&old)
                    .map_err(|_| sled::transaction::ConflictableTransactionError::Abort(()))?;
                for m in old.members {
                    members.remove(key(&[id, &m]))?;
                }
            }
            for m in &rec.members {
                members.insert(key(&[id, m]), &[])?;
            }
            projects.insert(id.as_bytes(), value.as_slice())?;
            Ok(())
        })?;
        self.config_cache.written();
        Ok(())
    }

    /// A project by id.
    pub fn project(&self, id: &str) -> Result<Option<ProjectRecord>, StoreError> {
        Ok(self.project_shared(id)?.map(Arc::unwrap_or_clone))
    }

    /// A project by id, decoded once and reused until the admin API writes (see `cache`).
    pub fn project_shared(&self, id: &str) -> Result<Option<Arc<ProjectRecord>>, StoreError> {
        let cache = &self.config_cache;
        if let Some(rec) = cache.get(&cache.projects, id) {
            return Ok(Some(rec));
        }
        let generation = cache.generation();
        let Some(v) = self.projects.get(id.as_bytes())? else {
            return Ok(None);
        };
        let rec = Arc::new(from_json::<ProjectRecord>(&v)?);
        cache.put(&cache.projects, id, generation, rec.clone());
        Ok(Some(rec))
    }

    /// Whether a user is a member of a project (cached like [`Store::project`]).
    pub fn is_member(&self, project: &str, user: &str) -> Result<bool, StoreError> {
        let k = key(&[project, user]);
        let cache_key = String::from_utf8_lossy(&k);
        let cache = &self.config_cache;
        if let Some(member) = cache.get(&cache.members, &cache_key) {
            return Ok(member);
        }
        let generation = cache.generation();
        let member = self.project_members.contains_key(&k)?;
        cache.put(&cache.members, &cache_key, generation, member);
        Ok(member)
    }

    /// Creates a group or moves it to another project; keeps status and assignee of an
    /// existing group.
    pub fn put_group(&self, id: &str, project: &str) -> Result<GroupRecord, StoreError> {
        let mut result = None;
        self.groups.fetch_and_update(id.as_bytes(), |old| {
            let mut rec = old
                .and_then(|o| serde_json::from_slice::<GroupRecord>(o).ok())
                .unwrap_or(GroupRecord {
                    project: String::new(),
                    status: crate::storage::records::GroupStatus::Unresolved,
                    assignee: None,
                    last_change_source: None,
                    watermarks: std::collections::BTreeMap::new(),
                });
            project.clone_into(&mut rec.project);
            let bytes = serde_json::to_vec(&rec).ok();
            result = Some(rec);
            bytes
        })?;
        result.ok_or_else(|| StoreError::Transaction("group update produced no record".into()))
    }

    /// Removes a group's watermarks of `integration` (all when `None`) with a compare-and-swap
    /// of the group record, as the sync's commit writes it (so a reset and a commit never
    /// overwrite each other); `None` when there is no such group.
    pub fn reset_watermarks(
        &self,
        id: &str,
        integration: Option<&str>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        loop {
            let Some(raw) = self.groups.get(id.as_bytes())? else {
                return Ok(None);
            };
            let mut group: GroupRecord = from_json(&raw)?;
            let removed: Vec<String> = group
                .watermarks
                .keys()
                .filter(|field| {
                    integration
                        .is_none_or(|i| field.rsplit_once('/').is_some_and(|(of, _kind)| of == i))
                })
                .cloned()
                .collect();
            if removed.is_empty() {
                return Ok(Some(removed));
            }
            for field in &removed {
                group.watermarks.remove(field);
            }
            let new = serde_json::to_vec(&group)?;
            if self
                .groups
                .compare_and_swap(id.as_bytes(), Some(raw.as_ref()), Some(new))?
                .is_ok()
            {
                return Ok(Some(removed));
            }
        }
    }

    /// Whether a group exists.
    pub fn has_group(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.groups.contains_key(id.as_bytes())?)
    }

    /// A group by id.
    pub fn group(&self, id: &str) -> Result<Option<GroupRecord>, StoreError> {
        self.groups
            .get(id.as_bytes())?
            .map(|v| from_json(&v))
            .transpose()
    }

    /// Links a group to a Jira issue of an integration (idempotent).
    pub fn link(&self, group: &str, integration: &str, issue_key: &str) -> Result<(), StoreError> {
        (&self.links, &self.group_links).transaction(|(l, g)| {
            l.insert(key(&[integration, issue_key, group]), &[])?;
            g.insert(key(&[group, integration, issue_key]), &[])?;
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
        })?;
        Ok(())
    }

    /// Unlinks; returns whether the link existed.
    pub fn unlink(
        &self,
        group: &str,
        integration: &str,
        issue_key: &str,
    ) -> Result<bool, StoreError> {
        let existed = (&self.links, &self.group_links).transaction(|(l, g)| {
            let existed = l.remove(key(&[integration, issue_key, group]))?.is_some();
            g.remove(key(&[group, integration, issue_key]))?;
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(existed)
        })?;
        Ok(existed)
    }

    /// Whether any group is linked to an issue key of an integration (one key read).
    pub fn has_links(&self, integration: &str, issue_key: &str) -> Result<bool, StoreError> {
        Ok(self
            .links
            .scan_prefix(prefix(&[integration, issue_key]))
            .next()
            .transpose()?
            .is_some())
    }

    /// Whether an issue key of an integration was recorded as moved to another key.
    pub fn has_move(&self, integration: &str, issue_key: &str) -> Result<bool, StoreError> {
        let k = key(&[integration, issue_key]);
        Ok(self.move_keys.may_contain(&k) && self.moves.contains_key(k)?)
    }

    /// Group ids linked to an issue key of an integration.
    pub fn linked_groups(
        &self,
        integration: &str,
        issue_key: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.links
            .scan_prefix(prefix(&[integration, issue_key]))
            .keys()
            .map(|k| Ok(last_part(&k?)))
            .collect()
    }

    /// Delivery log entries per integration, for the integrations counted so far.
    pub(super) fn delivery_counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.delivery_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // ---- status cache ----

    /// Cached status categories of an integration.
    pub fn status_categories(&self, integration: &str) -> Result<StatusCategories, StoreError> {
        Ok(self
            .status_cache
            .get(integration.as_bytes())?
            .map(|v| from_json(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// Replaces the cached status categories of an integration.
    pub fn put_status_categories(
        &self,
        integration: &str,
        cats: &StatusCategories,
    ) -> Result<(), StoreError> {
        self.status_cache
            .insert(integration.as_bytes(), to_json(cats)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::records::{EmailRecord, GroupStatus};

    #[test]
    fn integration_ids_are_small_sequential_and_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        let ids: Vec<u64> = (0..3)
            .map(|_| s.next_integration_id().expect("id"))
            .collect();
        assert_eq!(ids, [1, 2, 3]);
        s.flush_blocking().expect("flush");
        drop(s);
        let s = Store::open(dir.path()).expect("reopen");
        assert_eq!(s.next_integration_id().expect("id"), 4);
    }

    #[test]
    fn a_data_directory_from_before_the_counter_continues_above_sleds_ids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path()).expect("open");
        // What earlier versions handed out: sled's generated ids.
        let old = s.next_id().expect("id") + 1;
        s.flush_blocking().expect("flush");
        drop(s);
        let s = Store::open(dir.path()).expect("reopen");
        assert!(s.next_integration_id().expect("id") > old);
    }

    #[test]
    fn users_are_indexed_by_verified_lowercase_email() {
        let s = Store::temporary().expect("open");
        let rec = UserRecord {
            name: "Bob".into(),
            active: true,
            emails: vec![
                EmailRecord {
                    email: "Bob@Example.org".into(),
                    verified: true,
                },
                EmailRecord {
                    email: "bob@other.org".into(),
                    verified: false,
                },
            ],
        };
        s.put_user("u1", &rec).expect("put");
        assert_eq!(
            s.users_by_verified_email("BOB@example.ORG").expect("q"),
            vec!["u1".to_owned()]
        );
        assert!(
            s.users_by_verified_email("bob@other.org")
                .expect("q")
                .is_empty()
        );
        // replacing drops the old index entries
        s.put_user(
            "u1",
            &UserRecord {
                emails: vec![],
                ..rec
            },
        )
        .expect("put");
        assert!(
            s.users_by_verified_email("bob@example.org")
                .expect("q")
                .is_empty()
        );
    }

    #[test]
    fn links_and_membership() {
        let s = Store::temporary().expect("open");
        s.put_project(
            "p1",
            &ProjectRecord {
                organization: "o1".into(),
                members: vec!["u1".into()],
            },
        )
        .expect("put");
        assert!(s.is_member("p1", "u1").expect("q"));
        assert!(!s.is_member("p1", "u2").expect("q"));
        let g = s.put_group("g1", "p1").expect("put");
        assert_eq!(g.status, GroupStatus::Unresolved);
        s.link("g1", "1", "APP-1").expect("link");
        s.link("g1", "1", "APP-1").expect("link again");
        assert_eq!(s.linked_groups("1", "APP-1").expect("q"), vec!["g1"]);
        assert!(s.linked_groups("1", "APP-10").expect("q").is_empty());
        assert!(s.unlink("g1", "1", "APP-1").expect("unlink"));
        assert!(!s.unlink("g1", "1", "APP-1").expect("unlink"));
        assert!(s.linked_groups("1", "APP-1").expect("q").is_empty());
    }
}
