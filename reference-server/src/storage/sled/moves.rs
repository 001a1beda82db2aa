//! The keys of the `moves` tree, mirrored in memory so that a sync asking "was this issue key
//! moved?" for an issue that never moved (nearly every delivery) is answered without a sled
//! read.
//!
//! A sync follows the moves of every delivery's issue key ([`assignee_sync::Store::moved_to`]);
//! that sled read was about 3% of the server's CPU under mix (a) of the load harness, where no
//! issue ever moves.
//!
//! The mirror may hold a key the tree does not (a move whose transaction aborted), never the
//! other way round: a key is added *before* the transaction that writes it and removed only
//! *after* the tree's entry is gone. A key in the mirror is therefore always looked up in sled.

use std::collections::HashSet;
use std::sync::RwLock;

/// `integration\0issue key` of every recorded move (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct MoveKeys(RwLock<HashSet<Vec<u8>>>);

impl MoveKeys {
    /// The mirror of `tree`'s keys.
    pub(crate) fn load(tree: &sled::Tree) -> Result<Self, sled::Error> {
        let keys = tree
            .iter()
            .keys()
            .map(|k| k.map(|k| k.to_vec()))
            .collect::<Result<_, _>>()?;
        Ok(MoveKeys(RwLock::new(keys)))
    }

    /// Whether the tree may hold `key` (`false`: it certainly does not).
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(key)
    }

    /// Call before writing `key` to the tree.
    pub(crate) fn add(&self, key: &[u8]) {
        let mut set = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !set.contains(key) {
            set.insert(key.to_vec());
        }
    }

    /// Call after removing every key starting with `prefix` from the tree.
    pub(crate) fn remove_prefix(&self, prefix: &[u8]) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_the_tree_and_forgets_removed_prefixes() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("moves").unwrap();
        tree.insert(b"i1\0APP-1", b"x").unwrap();
        let keys = MoveKeys::load(&tree).unwrap();
        assert!(keys.may_contain(b"i1\0APP-1"));
        assert!(!keys.may_contain(b"i1\0APP-2"));
        keys.add(b"i2\0APP-2");
        assert!(keys.may_contain(b"i2\0APP-2"));
        keys.remove_prefix(b"i1\0");
        assert!(!keys.may_contain(b"i1\0APP-1"));
        assert!(keys.may_contain(b"i2\0APP-2"));
    }
}
