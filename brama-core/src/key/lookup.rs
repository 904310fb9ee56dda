//! Hashing a key once, and the forms a lookup asks the map and the per-thread cache
//! with ([`Lookup`], [`ShortProbe`], [`ShortLookup`], [`KeyHasher`]).

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::num::NonZeroU8;
use std::sync::OnceLock;

use super::inline::*;
use super::owned::*;
use super::*;

/// The process-wide seeded hasher every key hash starts from: foldhash, with a seed drawn
/// once per process, so keys taken from requests do not make hash flooding easy.
#[inline]
pub(super) fn hash_state() -> &'static foldhash::fast::SeedableRandomState {
    static STATE: OnceLock<foldhash::fast::SeedableRandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::SeedableRandomState::random)
}

#[inline(always)]
pub(super) fn hash_inline(k: &Inline) -> u64 {
    hash_words(k.words())
}

/// The hash of an inline key, from its words ([`Inline::words`]).
#[inline(always)]
pub(super) fn hash_words((lo, hi, len): (u128, u64, u8)) -> u64 {
    let mut h = hash_state().build_hasher();
    h.write_u128(lo);
    h.write_u64(hi);
    h.write_u8(len);
    h.finish()
}

/// A short key as the words an inline key compares and hashes as ([`Inline::words`]),
/// computed in registers: what the per-thread cache is asked with. (Packed into an
/// `Inline` first, the key went through the stack in narrow stores that were read back
/// as wider loads, which the CPU cannot forward from the stores: a stall on every
/// cached check.) `None` for keys that are not stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShortProbe((u128, u64, u8));

impl ShortProbe {
    /// The probe for `key`, if it is short enough to be stored inline.
    #[inline(always)]
    pub(crate) fn new(key: Key<'_>) -> Option<ShortProbe> {
        let Some(scope) = key.scope else {
            let id = key.identifier.as_bytes();
            if id.len() > INLINE_KEY_BYTES {
                return None;
            }
            let len = NonZeroU8::new(id.len() as u8)?;
            let (lo, hi) = padded_words(id);
            // Bytes 15..23 of the inline form: byte 15, bytes 16..22, the split.
            let hi = (lo >> 120) as u64 | hi << 8 | u64::from(INLINE_UNSCOPED) << 56;
            return Some(ShortProbe((lo, hi, len.get())));
        };
        ShortProbe::scoped(scope.as_bytes(), key.identifier.as_bytes())
    }

    /// The inline key this probe stands for (what the map is asked with).
    #[inline]
    pub(crate) fn to_owned_key(self) -> Option<OwnedKey> {
        let (lo, hi, len) = self.0;
        let mut bytes = [0u8; INLINE_KEY_BYTES + 1];
        bytes[..16].copy_from_slice(&lo.to_le_bytes());
        // Bytes 15..23: byte 15 again (the same value), then 16..22 and the split.
        bytes[15..].copy_from_slice(&hi.to_le_bytes());
        let len = NonZeroU8::new(len)?;
        Some(OwnedKey(Repr::Inline(Inline { bytes, len })))
    }

    /// A scoped key's probe: copied part by part, out of line.
    #[inline(never)]
    pub(super) fn scoped(scope: &[u8], id: &[u8]) -> Option<ShortProbe> {
        Inline::pack_scoped(scope, id).map(|k| ShortProbe(k.words()))
    }
}

/// A [`ShortProbe`] with its hash: what the map is asked with for a short key (by the
/// hash first; see `map::MapKey for ShortLookup`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShortLookup<'a> {
    pub(super) hash: u64,
    pub(super) probe: &'a ShortProbe,
}

impl<'a> ShortLookup<'a> {
    /// `probe`, whose hash ([`Lookup::lookup_hash`]) is `hash`.
    #[inline(always)]
    pub(crate) fn new(probe: &'a ShortProbe, hash: u64) -> ShortLookup<'a> {
        debug_assert_eq!(hash, probe.lookup_hash());
        ShortLookup { hash, probe }
    }

    /// The inline key the probe stands for.
    #[inline]
    pub(crate) fn to_owned_key(self) -> Option<OwnedKey> {
        self.probe.to_owned_key()
    }

    /// `probe` with a hash that may not be its own: how a 64-bit hash collision looks
    /// to the map, for its tests.
    #[cfg(test)]
    pub(crate) fn colliding(probe: &'a ShortProbe, hash: u64) -> ShortLookup<'a> {
        ShortLookup { hash, probe }
    }

    /// The hash.
    #[cfg_attr(brama_loom, allow(dead_code))] // the loom map asks by key
    #[inline(always)]
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }
}

impl Lookup for ShortLookup<'_> {
    #[inline(always)]
    fn lookup_hash(&self) -> u64 {
        self.hash
    }

    #[inline(always)]
    fn is(&self, stored: &OwnedKey) -> bool {
        self.probe.is(stored)
    }
}

impl Lookup for ShortProbe {
    #[inline(always)]
    fn lookup_hash(&self) -> u64 {
        hash_words(self.0)
    }

    #[inline(always)]
    fn is(&self, stored: &OwnedKey) -> bool {
        match &stored.0 {
            Repr::Inline(k) => k.words() == self.0,
            Repr::Heap(_) => false,
        }
    }
}

#[inline]
pub(super) fn hash_long(scope: Option<&str>, id: &str) -> u64 {
    let mut h = hash_state().build_hasher();
    if let Some(scope) = scope {
        // 0xFF never occurs in UTF-8, so the scope's end is unambiguous.
        h.write(scope.as_bytes());
        h.write_u8(0xFF);
    }
    h.write(id.as_bytes());
    h.finish()
}

/// The hash of a key, whichever form it is in (inline keys hash their words, longer
/// ones their bytes; a key's length decides which, so the two forms always agree).
#[inline]
pub(super) fn hash_parts(scope: Option<&str>, id: &str) -> u64 {
    match Inline::pack(scope, id) {
        Some(k) => hash_inline(&k),
        None => hash_long(scope, id),
    }
}

/// What the registry asks the map and the per-thread cache with: a borrowed key in
/// the form of the stored key it must match. A short key is a [`ShortProbe`] (the words
/// of its inline form, in registers; the map is asked with it and its hash, a
/// [`ShortLookup`]), so hashing and comparing it are a few word operations; a longer one
/// is the borrowed [`Key`] itself. The registry picks the form once per call
/// ([`ShortProbe::new`]) and runs a copy of its lookup for each, so the hot path for
/// short keys holds no branch for long ones.
#[cfg_attr(brama_loom, allow(dead_code))] // used by the cache and the dashmap map
pub(crate) trait Lookup {
    /// The key's hash, as the map and the per-thread cache use it.
    fn lookup_hash(&self) -> u64;
    /// Whether `stored` is this key.
    fn is(&self, stored: &OwnedKey) -> bool;
}

impl Lookup for OwnedKey {
    #[inline(always)]
    fn lookup_hash(&self) -> u64 {
        self.key_hash()
    }

    #[inline(always)]
    fn is(&self, stored: &OwnedKey) -> bool {
        self == stored
    }
}

impl Lookup for Key<'_> {
    #[inline]
    fn lookup_hash(&self) -> u64 {
        hash_parts(self.scope, self.identifier)
    }

    #[inline]
    fn is(&self, stored: &OwnedKey) -> bool {
        match Inline::pack(self.scope, self.identifier) {
            Some(k) => stored.0 == Repr::Inline(k),
            None => stored.is_long(self.scope, self.identifier),
        }
    }
}

/// A [`Hasher`] for maps whose keys hash themselves into one well-mixed `u64` (as
/// [`OwnedKey`] and [`KeyView`] do): it keeps that value, so the map does not hash the
/// key's bytes a second time.
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
