//! Bulk import of group links (`POST /api/v1/import/links`).

use super::store::{Store, StoreError, key};
use crate::storage::records::{GroupRecord, GroupStatus, ImportCounts, ImportLink};

impl Store {
    /// Imports links, item by item in order. An item with a project creates its group there or
    /// moves it there, keeping status and assignee, as [`Store::put_group`] does (a compare and
    /// swap, so a concurrent sync of the same group is not overwritten); then it links the group
    /// as [`Store::link`] does, `links` before `group_links`.
    ///
    /// Plain inserts, not transactions or `sled::Batch`: in sled 0.34 both hold back the log's
    /// write-out for as long as they run, which costs much memory for large imports (a 5 000
    /// item batch per tree reached about 1 GB for 10^5 links), and transactions also block every
    /// other writer. The price: a storage error or crash in the middle leaves the items before
    /// it written (and at most one item half written, its `links` entry without its
    /// `group_links` entry); importing the same items again completes it.
    ///
    /// The caller validates the items first (ids, integrations and projects exist, groups
    /// without a project exist). Nothing is flushed here.
    pub fn import_links(&self, items: &[ImportLink]) -> Result<ImportCounts, StoreError> {
        let mut c = ImportCounts::default();
        for it in items {
            if let Some(project) = &it.project {
                self.import_group(&it.group, project, &mut c)?;
            }
            let lk = key(&[&it.integration, &it.issue_key, &it.group]);
            if self.links.insert(lk, &[])?.is_some() {
                c.links_existing += 1;
            } else {
                c.links_created += 1;
            }
            self.group_links
                .insert(key(&[&it.group, &it.integration, &it.issue_key]), &[])?;
        }
        Ok(c)
    }

    fn import_group(
        &self,
        id: &str,
        project: &str,
        c: &mut ImportCounts,
    ) -> Result<(), StoreError> {
        // Optimistic: most imported groups are new, so the first swap expects no record (and
        // tells the current one when there is), saving a read per new group.
        let mut current: Option<sled::IVec> = None;
        loop {
            let old = current
                .as_deref()
                .and_then(|o| serde_json::from_slice::<GroupRecord>(o).ok());
            let (rec, created) = match old {
                Some(g) if g.project == project => {
                    c.groups_unchanged += 1;
                    return Ok(());
                }
                Some(mut g) => {
                    project.clone_into(&mut g.project);
                    (g, false)
                }
                None => (
                    GroupRecord {
                        project: project.to_owned(),
                        status: GroupStatus::Unresolved,
                        assignee: None,
                        last_change_source: None,
                        watermarks: std::collections::BTreeMap::new(),
                    },
                    true,
                ),
            };
            let new = serde_json::to_vec(&rec)?;
            match self
                .groups
                .compare_and_swap(id.as_bytes(), current.as_deref(), Some(new))?
            {
                Ok(()) => {
                    if created {
                        c.groups_created += 1;
                    } else {
                        c.groups_moved += 1;
                    }
                    return Ok(());
                }
                Err(e) => current = e.current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::records::ProjectRecord;

    fn item(group: &str, project: Option<&str>, key: &str) -> ImportLink {
        ImportLink {
            group: group.into(),
            project: project.map(Into::into),
            integration: "1".into(),
            issue_key: key.into(),
        }
    }

    #[test]
    fn import_creates_moves_and_links_like_the_single_calls() {
        let s = Store::temporary().expect("open");
        for p in ["p1", "p2"] {
            s.put_project(
                p,
                &ProjectRecord {
                    organization: "o1".into(),
                    members: vec![],
                },
            )
            .expect("project");
        }
        s.put_group("old", "p1").expect("group");
        let items = vec![
            item("g1", Some("p1"), "APP-1"),
            item("g1", Some("p1"), "APP-2"),
            item("old", Some("p2"), "APP-3"),
            item("old", None, "APP-1"),
            item("g1", Some("p1"), "APP-1"),
        ];
        let c = s.import_links(&items).expect("import");
        assert_eq!(
            c,
            ImportCounts {
                groups_created: 1,
                groups_moved: 1,
                groups_unchanged: 2,
                links_created: 4,
                links_existing: 1,
            }
        );
        assert_eq!(s.group("old").expect("q").expect("g").project, "p2");
        assert_eq!(s.linked_groups("1", "APP-1").expect("q"), vec!["g1", "old"]);
        assert!(s.has_links("1", "APP-2").expect("q"));
        // The reverse index is written too: unlinking finds both sides.
        assert!(s.unlink("old", "1", "APP-3").expect("unlink"));
        assert!(!s.has_links("1", "APP-3").expect("q"));

        // Again: nothing new.
        let many: Vec<ImportLink> = (0..2_000)
            .map(|i| item(&format!("m{i}"), Some("p1"), &format!("M-{i}")))
            .collect();
        let first = s.import_links(&many).expect("import");
        assert_eq!(
            first.groups_created,
            u64::try_from(many.len()).expect("fits")
        );
        let second = s.import_links(&many).expect("import");
        assert_eq!(second.links_created, 0);
        assert_eq!(second.links_existing, first.links_created);
        assert_eq!(second.groups_unchanged, first.groups_created);
    }
}
