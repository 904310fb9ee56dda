//! The map under `--cfg brama_loom`: a loom `Mutex<HashMap>` with the same contract,
//! since loom cannot model dashmap's locks.

use super::*;
use crate::sync::{lock, Mutex};
use std::collections::HashMap;

#[derive(Debug)]
pub struct Map {
    inner: Mutex<HashMap<OwnedKey, CellRef>>,
}

impl Map {
    pub fn new() -> Map {
        Map {
            inner: Mutex::new(HashMap::new()),
        }
    }

    pub fn get<R>(&self, _hash: u64, key: Key<'_>, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        lock(&self.inner).get(&key as &dyn KeyView).map(f)
    }

    pub fn get_at<R>(&self, hash: u64, address: usize, f: impl FnOnce(&CellRef) -> R) -> Option<R> {
        lock(&self.inner)
            .values()
            .find(|c| c.address() == address && c.key().key_hash() == hash)
            .map(f)
    }

    pub fn insert_new_with<R, E>(
        &self,
        cell: &CellRef,
        admit: impl FnOnce() -> Result<R, E>,
    ) -> Result<Option<R>, E> {
        let mut map = lock(&self.inner);
        if map.contains_key(cell.key()) {
            return Ok(None);
        }
        let r = admit()?;
        map.insert(cell.key().clone(), CellRef::clone(cell));
        Ok(Some(r))
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

    pub fn remove_swept(
        &self,
        key: &dyn KeyView,
        pred: impl FnOnce(&CellRef) -> bool,
    ) -> Option<CellRef> {
        self.remove_if(key, pred)
    }

    /// Segments of a snapshot taken under the lock (loom cannot time the hold).
    pub fn sweep(&self, mut f: impl FnMut(&mut Segment<'_>)) -> Duration {
        let cells: Vec<CellRef> = lock(&self.inner).values().cloned().collect();
        for (i, chunk) in cells.chunks(SEGMENT).enumerate() {
            f(&mut Segment {
                cells: chunk,
                base: i * SEGMENT,
            });
        }
        Duration::ZERO
    }
}

/// A run of the sweep's snapshot.
pub struct Segment<'a> {
    cells: &'a [CellRef],
    base: usize,
}

impl Segment<'_> {
    /// The snapshot holds only what the map held: every cell is entered.
    pub fn cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
        self.all_cells()
    }

    pub fn all_cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
        let base = self.base;
        self.cells
            .iter()
            .enumerate()
            .map(move |(i, c)| (base + i, c))
    }

    /// Nothing to free: the snapshot is dropped after the sweep.
    pub fn release(&mut self, _pos: usize) {}
}
