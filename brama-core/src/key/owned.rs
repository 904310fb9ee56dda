//! [`OwnedKey`]: the validated key a registry stores, and [`KeyView`], what the map
//! hashes and compares for any form of a key.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::hash::hash_parts;
use super::inline::*;
use super::*;

/// The parts of a key, borrowed or owned: what the map hashes and compares for keys
/// that are not stored inline (and what removal looks keys up by).
pub trait KeyView {
    /// `(scope, identifier)`.
    fn parts(&self) -> (Option<&str>, &str);
}

impl KeyView for Key<'_> {
    #[inline]
    fn parts(&self) -> (Option<&str>, &str) {
        (self.scope, self.identifier)
    }
}

impl KeyView for OwnedKey {
    #[inline]
    fn parts(&self) -> (Option<&str>, &str) {
        (self.scope(), self.identifier())
    }
}

/// Writes one `u64`, the same as [`OwnedKey`]'s `Hash` for the same key.
impl Hash for dyn KeyView + '_ {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (scope, id) = self.parts();
        h.write_u64(hash_parts(scope.map(str::as_bytes), id.as_bytes()));
    }
}

impl PartialEq for dyn KeyView + '_ {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl<'a> Borrow<dyn KeyView + 'a> for OwnedKey {
    #[inline]
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// A validated key owned by the registry: scope and identifier inline when together
/// they have at most [`INLINE_KEY_BYTES`] bytes, otherwise in one boxed byte string.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedKey(pub(super) Repr);

#[derive(Clone, PartialEq, Eq)]
pub(super) enum Repr {
    Inline(Inline),
    /// The scope's length (`u16`, little-endian; [`UNSCOPED`] for none), then the scope,
    /// then the identifier. (16 bytes, placed after `Inline`'s tag byte, so the enum
    /// stays 48 bytes.)
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<OwnedKey>() == 48);

impl OwnedKey {
    /// The inline form of `key`, if it is short enough to be stored inline (no
    /// validation, no allocation). The tests use it to check that every form of a key
    /// hashes and compares alike.
    #[cfg(test)]
    pub(crate) fn short(key: Key<'_>) -> Option<OwnedKey> {
        Inline::pack(key.scope, key.identifier).map(|k| OwnedKey(Repr::Inline(k)))
    }

    pub(super) fn new(scope: Option<&str>, id: &str) -> OwnedKey {
        if let Some(k) = Inline::pack(scope, id) {
            return OwnedKey(Repr::Inline(k));
        }
        let s = scope.unwrap_or("");
        // Validated: a scope has at most 256 bytes, so its length fits in u16.
        let split = scope.map_or(UNSCOPED, |s| s.len() as u16);
        let mut bytes = Vec::with_capacity(2 + s.len() + id.len());
        bytes.extend_from_slice(&split.to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
        bytes.extend_from_slice(id.as_bytes());
        OwnedKey(Repr::Heap(bytes.into_boxed_slice()))
    }

    /// The borrowed form.
    pub fn as_key(&self) -> Key<'_> {
        let (scope, identifier) = self.parts();
        Key { scope, identifier }
    }

    /// `(scope, identifier)`. Off the hot paths: it checks the UTF-8 of bytes that were
    /// copied from `&str`s, which cannot fail (and would give `""`, never a panic).
    #[inline]
    pub(super) fn parts(&self) -> (Option<&str>, &str) {
        match &self.0 {
            Repr::Inline(k) => k.parts(),
            Repr::Heap(bytes) => {
                let (split, scope, id) = heap_parts(bytes);
                let id = std::str::from_utf8(id).unwrap_or("");
                match split {
                    UNSCOPED => (None, id),
                    _ => (std::str::from_utf8(scope).ok(), id),
                }
            }
        }
    }

    /// Whether this is the key `key`: compares the parts' bytes where they are stored
    /// (no UTF-8 check, no copy of `key`).
    #[inline(always)]
    pub fn is(&self, key: Key<'_>) -> bool {
        let (scope, id) = (key.scope.map(str::as_bytes), key.identifier.as_bytes());
        match &self.0 {
            Repr::Inline(k) => k.is(scope, id),
            Repr::Heap(bytes) => heap_is(bytes, scope, id),
        }
    }

    /// [`is`](Self::is) as a call, for the map's look-up under a shard lock.
    #[inline(never)]
    #[cfg_attr(brama_loom, allow(dead_code))] // the loom map compares keys itself
    pub(crate) fn is_called(&self, key: Key<'_>) -> bool {
        self.is(key)
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        self.parts().1
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.parts().0
    }

    /// Whether the key is stored inline (no heap allocation of its own).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// The key's hash: the same as [`Key::key_hash`] of the borrowed form.
    #[inline]
    pub(crate) fn key_hash(&self) -> u64 {
        self.as_key().key_hash()
    }
}

/// [`OwnedKey::is`] for a key too long to be stored inline, out of line.
#[inline(never)]
fn heap_is(bytes: &[u8], scope: Option<&[u8]>, id: &[u8]) -> bool {
    let (split, s, i) = heap_parts(bytes);
    match scope {
        None => split == UNSCOPED && i == id,
        Some(scope) => split != UNSCOPED && s == scope && i == id,
    }
}

/// A heap key's split, scope bytes and identifier bytes (empty scope when unscoped).
#[inline]
pub(super) fn heap_parts(bytes: &[u8]) -> (u16, &[u8], &[u8]) {
    let (head, rest) = bytes.split_at_checked(2).unwrap_or((&[0xFF, 0xFF], bytes));
    let split = u16::from_le_bytes([head[0], head[1]]);
    let n = match split {
        UNSCOPED => 0,
        n => usize::from(n).min(rest.len()),
    };
    let (scope, id) = rest.split_at(n);
    (split, scope, id)
}

/// Writes one `u64`, the key's seeded hash, which the map's hasher keeps as it is.
impl Hash for OwnedKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.key_hash());
    }
}

impl fmt::Debug for OwnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedKey")
            .field("scope", &self.scope())
            .field("identifier", &self.identifier())
            .finish()
    }
}

impl fmt::Display for OwnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_key().fmt(f)
    }
}
