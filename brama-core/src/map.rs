//! The registry's map from key to connection, behind one small facade.
//!
//! Normally a sharded `dashmap` (readers of different shards never meet; a shard's read
//! lock is held only for the length of a closure that runs no user code). Under
//! `--cfg brama_loom` a loom `Mutex<HashMap>` stands in, because loom cannot model
//! dashmap's locks; the facade's contract (closures run under the entry's lock,
//! conditional removal is atomic with the condition) holds for both.

use crate::cell::CellRef;
use crate::key::{Key, KeyView, OwnedKey};

/// What the map can be asked with: an inline [`OwnedKey`] (a short key), or a borrowed
/// [`Key`] (a long one). See `key::Lookup`.
pub(crate) trait MapKey {
    /// Runs `f` on the entry under its lock, if present.
    fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R>;
}

#[cfg(not(brama_loom))]
/// Shards: more than dashmap's default so that a sweep of a million connections holds
/// any one shard for a short time.
pub const SHARDS: usize = 512;

#[cfg(not(brama_loom))]
mod imp {
    use super::*;
    use std::borrow::Borrow;
    use std::hash::Hash;

    use dashmap::mapref::entry::Entry as MapEntry;
    use dashmap::DashMap;

    /// Keys hash themselves with the process-seeded foldhash (`key.rs`); the map keeps
    /// that one `u64`.
    type Hasher = crate::key::KeyHashBuilder;

    /// A map entry is the connection itself: its key lives once, in the cell, and the
    /// table holds one pointer per connection.
    #[derive(Debug)]
    struct Entry(CellRef);

    impl Hash for Entry {
        #[inline]
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            self.0.key().hash(h);
        }
    }

    impl PartialEq for Entry {
        #[inline]
        fn eq(&self, other: &Entry) -> bool {
            self.0.key() == other.0.key()
        }
    }

    impl Eq for Entry {}

    impl<'a> Borrow<dyn KeyView + 'a> for Entry {
        fn borrow(&self) -> &(dyn KeyView + 'a) {
            self.0.key()
        }
    }

    /// Lookups by short keys: the probe is an inline `OwnedKey`, compared as words.
    impl Borrow<OwnedKey> for Entry {
        #[inline]
        fn borrow(&self) -> &OwnedKey {
            self.0.key()
        }
    }

    #[derive(Debug)]
    pub struct Map {
        inner: DashMap<Entry, (), Hasher>,
    }

    /// A short key: compared as words through `Borrow<OwnedKey>`.
    impl MapKey for OwnedKey {
        #[inline(always)]
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            map.inner.get(self).map(|r| f(&r.key().0))
        }
    }

    /// A long key: compared by parts through `Borrow<dyn KeyView>`.
    impl MapKey for Key<'_> {
        #[inline]
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            map.inner.get(self as &dyn KeyView).map(|r| f(&r.key().0))
        }
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: DashMap::with_hasher_and_shard_amount(Hasher::default(), SHARDS),
            }
        }

        /// Runs `f` on the entry under its shard's read lock.
        #[inline(always)]
        pub fn get<K: MapKey + ?Sized, R>(
            &self,
            key: &K,
            f: impl FnOnce(&CellRef) -> R,
        ) -> Option<R> {
            key.find(self, f)
        }

        /// Inserts `cell` under its own key unless that key is present.
        pub fn insert_new(&self, cell: &CellRef) -> bool {
            match self.inner.entry(Entry(CellRef::clone(cell))) {
                MapEntry::Occupied(_) => false,
                MapEntry::Vacant(v) => {
                    v.insert(());
                    true
                }
            }
        }

        /// Removes the entry if `pred` holds, atomically with the check.
        pub fn remove_if(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            self.inner
                .remove_if(key, |k, _| pred(&k.0))
                .map(|(k, _)| k.0)
        }

        /// Visits every entry, holding one shard's read lock at a time.
        pub fn for_each(&self, mut f: impl FnMut(&CellRef)) {
            for r in self.inner.iter() {
                f(&r.key().0);
            }
        }
    }
}

#[cfg(brama_loom)]
mod imp {
    use super::*;
    use crate::sync::{lock, Mutex};
    use std::collections::HashMap;

    #[derive(Debug)]
    pub struct Map {
        inner: Mutex<HashMap<OwnedKey, CellRef>>,
    }

    impl MapKey for OwnedKey {
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            lock(&map.inner).get(self).map(f)
        }
    }

    impl MapKey for Key<'_> {
        fn find<R>(&self, map: &Map, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
            lock(&map.inner).get(self as &dyn KeyView).map(f)
        }
    }

    impl Map {
        pub fn new() -> Map {
            Map {
                inner: Mutex::new(HashMap::new()),
            }
        }

        pub fn get<K: MapKey + ?Sized, R>(
            &self,
            key: &K,
            f: impl FnOnce(&CellRef) -> R,
        ) -> Option<R> {
            key.find(self, f)
        }

        pub fn insert_new(&self, cell: &CellRef) -> bool {
            let mut map = lock(&self.inner);
            if map.contains_key(cell.key()) {
                return false;
            }
            map.insert(cell.key().clone(), CellRef::clone(cell));
            true
        }

        pub fn remove_if(
            &self,
            key: &dyn KeyView,
            pred: impl FnOnce(&CellRef) -> bool,
        ) -> Option<CellRef> {
            let mut map = lock(&self.inner);
            if map.get(key).is_some_and(pred) {
                map.remove(key)
            } else {
                None
            }
        }

        pub fn for_each(&self, mut f: impl FnMut(&CellRef)) {
            let cells: Vec<CellRef> = lock(&self.inner).values().cloned().collect();
            for c in &cells {
                f(c);
            }
        }
    }
}

pub(crate) use imp::Map;
