//! The registry's map from key to connection, behind one small facade.
//!
//! Normally a sharded `dashmap` (readers of different shards never meet; a shard's read
//! lock is held only for the length of a closure that runs no user code), plus a sweep
//! list (`slots::Slots`) that keeps every connection in registration order for the
//! janitor. Under `--cfg brama_loom` a loom `Mutex<HashMap>` stands in, because loom
//! cannot model dashmap's locks; the facade's contract (closures run under the entry's
//! lock, conditional removal is atomic with the condition, a sweep visits every entry
//! present for its whole length exactly once, in segments) holds for both.

use std::time::Duration;

use crate::circuit::CellRef;
use crate::key::{Key, KeyView, OwnedKey};

/// Entries the sweep reads before it acts on what it found (ticks, evictions), so that
/// its lists of candidates stay small.
pub const SEGMENT: usize = 1024;

#[cfg(not(brama_loom))]
/// Shards: more than dashmap's default, so that writers (registration, removal) meet
/// readers of the same shard rarely. (The sweep no longer walks the shards; see
/// `slots`.)
pub const SHARDS: usize = 512;

#[cfg(brama_loom)]
mod model;
#[cfg(not(brama_loom))]
mod sharded;
#[cfg(not(brama_loom))]
mod slots;
#[cfg(all(test, not(brama_loom)))]
mod tests;

#[cfg(brama_loom)]
pub(crate) use model::{Map, Segment};
#[cfg(not(brama_loom))]
pub(crate) use sharded::{Map, Segment};
