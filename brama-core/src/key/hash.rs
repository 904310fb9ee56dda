//! Hashing a key once: the process-seeded foldhash over its parts, and the map's
//! hasher, which keeps that one `u64` instead of hashing again.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// The process-wide seeded hasher every key hash starts from: foldhash, with a seed drawn
/// once per process, so keys taken from requests do not make hash flooding easy.
#[inline]
fn hash_state() -> &'static foldhash::fast::SeedableRandomState {
    static STATE: OnceLock<foldhash::fast::SeedableRandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::SeedableRandomState::random)
}

/// The hash of `(scope, identifier)`: the scope's bytes and a 0xFF (which never occurs
/// in UTF-8, so the scope's end is unambiguous), then the identifier's. Every form of a
/// key (borrowed, inline, boxed) hashes through here, from the same bytes, so they
/// always agree; nothing is copied or packed first. Inlined always: as a call it was
/// a sixth of a by-key check on a hot key (perf), and in line the unscoped checks are
/// about 1 ns faster (docs/benchmarks.md, "A quiet machine").
#[inline(always)]
pub(crate) fn hash_parts(scope: Option<&[u8]>, id: &[u8]) -> u64 {
    let mut h = hash_state().build_hasher();
    if let Some(scope) = scope {
        h.write(scope);
        h.write_u8(0xFF);
    }
    h.write(id);
    h.finish()
}

/// A [`Hasher`] for maps whose keys hash themselves into one well-mixed `u64` (map
/// entries write their stored hash, lookups the key's [`hash_parts`]): it keeps that
/// value, so the map does not hash the key's bytes a second time.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(brama_loom, allow(dead_code))] // used by the cache and the dashmap map
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used by keys; a plain mix so any other input still hashes.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline(always)]
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The map's [`BuildHasher`]: [`KeyHasher`].
#[cfg_attr(brama_loom, allow(dead_code))] // used by the cache and the dashmap map
pub(crate) type KeyHashBuilder = BuildHasherDefault<KeyHasher>;
