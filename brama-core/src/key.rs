//! Connection keys: an identifier and an optional scope (SPEC §1).
//!
//! `Key<'a>` is the borrowed, `Copy` form users pass to every method. The registry
//! stores an [`OwnedKey`], whose bytes are a length-prefixed encoding of both parts.
//! The map hashes and compares both through [`KeyView`], so a lookup by a borrowed key
//! builds nothing and never allocates.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::num::NonZeroU8;
use std::sync::OnceLock;

use crate::error::Error;

/// The longest identifier or scope, in bytes.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// `OwnedKey::split` of an unscoped key.
const UNSCOPED: u16 = u16::MAX;

/// A borrowed connection key: an identifier and an optional scope.
///
/// `("a:b")` unscoped and `("a", "b")` scoped are different keys, and a scoped
/// connection is found only with its scope.
///
/// # Examples
/// ```
/// use brama_core::Key;
/// let k = Key::scoped("payments", "stripe");
/// assert_eq!(k.scope(), Some("payments"));
/// assert_eq!(k.identifier(), "stripe");
/// assert_eq!(Key::from(("payments", "stripe")), k);
/// assert_ne!(Key::from("payments:stripe"), k);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    scope: Option<&'a str>,
    identifier: &'a str,
}

impl<'a> Key<'a> {
    /// An unscoped key.
    pub const fn new(identifier: &'a str) -> Key<'a> {
        Key {
            scope: None,
            identifier,
        }
    }

    /// A key within a scope.
    pub const fn scoped(scope: &'a str, identifier: &'a str) -> Key<'a> {
        Key {
            scope: Some(scope),
            identifier,
        }
    }

    /// The identifier.
    pub const fn identifier(&self) -> &'a str {
        self.identifier
    }

    /// The scope, if any.
    pub const fn scope(&self) -> Option<&'a str> {
        self.scope
    }

    /// Checks the key rules: identifier and scope (when given) non-empty and at most
    /// [`MAX_KEY_PART_BYTES`] bytes.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] naming the part and the rule it breaks.
    pub fn validate(&self) -> Result<(), Error> {
        check_part("identifier", self.identifier)?;
        if let Some(scope) = self.scope {
            check_part("scope", scope)?;
        }
        Ok(())
    }

    /// The owned form, after validation.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] as for [`Key::validate`].
    pub fn to_owned_key(&self) -> Result<OwnedKey, Error> {
        self.validate()?;
        Ok(self.concat())
    }

    fn concat(&self) -> OwnedKey {
        OwnedKey::new(self.scope, self.identifier)
    }
}

fn check_part(what: &str, part: &str) -> Result<(), Error> {
    if part.is_empty() {
        return Err(Error::invalid_key(format!(
            "{what} is empty; it must be 1 to 256 bytes"
        )));
    }
    if part.len() > MAX_KEY_PART_BYTES {
        return Err(Error::invalid_key(format!(
            "{what} is {} bytes; it must be 1 to {MAX_KEY_PART_BYTES} bytes",
            part.len()
        )));
    }
    Ok(())
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(identifier: &'a str) -> Key<'a> {
        Key::new(identifier)
    }
}

impl<'a> From<&'a String> for Key<'a> {
    fn from(identifier: &'a String) -> Key<'a> {
        Key::new(identifier)
    }
}

/// `(scope, identifier)`.
impl<'a> From<(&'a str, &'a str)> for Key<'a> {
    fn from((scope, identifier): (&'a str, &'a str)) -> Key<'a> {
        Key::scoped(scope, identifier)
    }
}

impl<'a> From<&'a OwnedKey> for Key<'a> {
    fn from(key: &'a OwnedKey) -> Key<'a> {
        key.as_key()
    }
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scope {
            Some(scope) => write!(f, "{scope}/{}", self.identifier),
            None => f.write_str(self.identifier),
        }
    }
}

/// Scope and identifier bytes (together) that an [`OwnedKey`] stores inline, without a
/// heap allocation. With the scope length and the total length, an inline key is 24
/// bytes, the size of the heap form, so `OwnedKey` is 24 bytes either way.
pub const INLINE_KEY_BYTES: usize = 22;

/// `Inline::split` of an unscoped key (a scope of an inline key has at most 22 bytes).
const INLINE_UNSCOPED: u8 = u8::MAX;

/// A short key stored in place: `bytes[..len]` is the scope followed by the
/// identifier, the rest of `bytes[..22]` is zero, and `bytes[22]` is the split. Two
/// inline keys are equal exactly when their 24 bytes are, so a comparison is a few
/// word compares, with no call and no pointer to follow.
#[repr(C)] // `len` (never 0) in the last byte is the enum's tag
#[derive(Clone, Copy)]
struct Inline {
    /// The key's bytes, zero-padded to 22; then the split: bytes of the key that are
    /// the scope, or [`INLINE_UNSCOPED`].
    bytes: [u8; INLINE_KEY_BYTES + 1],
    /// Total bytes; never 0 (an identifier is never empty), which gives `OwnedKey`'s
    /// enum its tag for free.
    len: NonZeroU8,
}

const SPLIT: usize = INLINE_KEY_BYTES;

impl Inline {
    /// The inline form of `(scope, identifier)`, if it fits. `None` for keys too long
    /// to be stored inline, and for an empty key (which is never registered).
    #[inline(always)]
    fn pack(scope: Option<&str>, id: &str) -> Option<Inline> {
        match scope {
            None => Inline::pack_unscoped(id.as_bytes()),
            Some(scope) => Inline::pack_scoped(scope.as_bytes(), id.as_bytes()),
        }
    }

    /// An unscoped key: the bytes are read as (overlapping) words, no copy loop and no
    /// call.
    #[inline(always)]
    fn pack_unscoped(id: &[u8]) -> Option<Inline> {
        if id.len() > INLINE_KEY_BYTES {
            return None;
        }
        let len = NonZeroU8::new(id.len() as u8)?;
        let (lo, hi) = padded_words(id);
        let mut bytes = [0u8; INLINE_KEY_BYTES + 1];
        bytes[..16].copy_from_slice(&lo.to_le_bytes());
        bytes[16..22].copy_from_slice(&hi.to_le_bytes()[..6]);
        bytes[SPLIT] = INLINE_UNSCOPED;
        Some(Inline { bytes, len })
    }

    /// A scoped key: copied part by part (scoped keys are the less common case).
    #[inline]
    fn pack_scoped(scope: &[u8], id: &[u8]) -> Option<Inline> {
        let (s, n) = (scope.len(), scope.len() + id.len());
        if n > INLINE_KEY_BYTES {
            return None;
        }
        let len = NonZeroU8::new(n as u8)?;
        let mut bytes = [0u8; INLINE_KEY_BYTES + 1];
        bytes.get_mut(..s)?.copy_from_slice(scope);
        bytes.get_mut(s..n)?.copy_from_slice(id);
        bytes[SPLIT] = s as u8;
        Some(Inline { bytes, len })
    }

    /// The 24 bytes as words (the middle one overlaps the first by one byte): what
    /// inline keys hash and compare as.
    #[inline(always)]
    fn words(&self) -> (u128, u64, u8) {
        let (lo, _) = self
            .bytes
            .split_first_chunk::<16>()
            .unwrap_or((&[0; 16], &[]));
        let (_, hi) = self.bytes.split_last_chunk::<8>().unwrap_or((&[], &[0; 8]));
        (
            u128::from_le_bytes(*lo),
            u64::from_le_bytes(*hi),
            self.len.get(),
        )
    }

    /// `(scope, identifier)`. Off the hot paths: it validates the UTF-8 of bytes that
    /// were copied from `&str`s, which cannot fail (and would give `""`, not a panic).
    fn parts(&self) -> (Option<&str>, &str) {
        let text = self
            .bytes
            .get(..usize::from(self.len.get()))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("");
        match self.bytes[SPLIT] {
            INLINE_UNSCOPED => (None, text),
            n => {
                let n = usize::from(n);
                (text.get(..n), text.get(n..).unwrap_or(""))
            }
        }
    }
}

impl PartialEq for Inline {
    #[inline(always)]
    fn eq(&self, other: &Inline) -> bool {
        self.words() == other.words()
    }
}

impl Eq for Inline {}

/// `little-endian(b[i..i + 8])`, or 0 if out of range (never, where it is called).
#[inline(always)]
fn u64_at(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

/// `little-endian(b[i..i + 4])`, or 0 if out of range (never, where it is called).
#[inline(always)]
fn u32_at(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

/// `b` (at most 22 bytes) as a zero-padded little-endian 176-bit number, split into its
/// low 128 and high 48 bits. Reads overlapping words: where two reads overlap they read
/// the same bytes into the same positions, so OR-ing them is exact.
#[inline(always)]
fn padded_words(b: &[u8]) -> (u128, u64) {
    let n = b.len();
    match n {
        0 => (0, 0),
        1..=3 => {
            let (first, mid, last) = (
                b.first().copied().unwrap_or(0),
                b.get(n / 2).copied().unwrap_or(0),
                b.get(n - 1).copied().unwrap_or(0),
            );
            let w = u64::from(first)
                | u64::from(mid) << (8 * (n / 2))
                | u64::from(last) << (8 * (n - 1));
            (u128::from(w), 0)
        }
        4..=7 => (
            u128::from(u32_at(b, 0) | u32_at(b, n - 4) << (8 * (n - 4))),
            0,
        ),
        8..=16 => (
            u128::from(u64_at(b, 0)) | u128::from(u64_at(b, n - 8)) << (8 * (n - 8)),
            0,
        ),
        _ => {
            let lo = u128::from(u64_at(b, 0)) | u128::from(u64_at(b, 8)) << 64;
            // Bytes 16..n, at the bottom of the high word (n - 8 > 8, so the shift < 64).
            (lo, u64_at(b, n - 8) >> (8 * (24 - n)))
        }
    }
}

/// The process-wide seeded hasher every key hash starts from: foldhash, with a seed drawn
/// once per process, so keys taken from requests do not make hash flooding easy.
#[inline]
fn hash_state() -> &'static foldhash::fast::SeedableRandomState {
    static STATE: OnceLock<foldhash::fast::SeedableRandomState> = OnceLock::new();
    STATE.get_or_init(foldhash::fast::SeedableRandomState::random)
}

#[inline(always)]
fn hash_inline(k: &Inline) -> u64 {
    hash_words(k.words())
}

/// The hash of an inline key, from its words ([`Inline::words`]).
#[inline(always)]
fn hash_words((lo, hi, len): (u128, u64, u8)) -> u64 {
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
    fn scoped(scope: &[u8], id: &[u8]) -> Option<ShortProbe> {
        Inline::pack_scoped(scope, id).map(|k| ShortProbe(k.words()))
    }
}

/// A [`ShortProbe`] with its hash: what the map is asked with for a short key (by the
/// hash first; see `map::MapKey for ShortLookup`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShortLookup<'a> {
    hash: u64,
    probe: &'a ShortProbe,
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
fn hash_long(scope: Option<&str>, id: &str) -> u64 {
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
fn hash_parts(scope: Option<&str>, id: &str) -> u64 {
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
        h.write_u64(hash_parts(scope, id));
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
pub struct OwnedKey(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline(Inline),
    /// The scope's length (`u16`, little-endian; [`UNSCOPED`] for none), then the scope,
    /// then the identifier. (16 bytes, so it fits beside `Inline`'s tag byte and the
    /// enum stays 24 bytes.)
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<OwnedKey>() == 24);

impl OwnedKey {
    /// The inline form of `key`, if it is short enough to be stored inline (no
    /// validation, no allocation). Lookups ask the map with a [`ShortLookup`] instead;
    /// the tests use this to check that every form of a key hashes and compares alike.
    #[cfg(test)]
    pub(crate) fn short(key: Key<'_>) -> Option<OwnedKey> {
        Inline::pack(key.scope, key.identifier).map(|k| OwnedKey(Repr::Inline(k)))
    }

    fn new(scope: Option<&str>, id: &str) -> OwnedKey {
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
    fn parts(&self) -> (Option<&str>, &str) {
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

    /// Whether this is the long key `(scope, id)`, comparing bytes (no UTF-8 check).
    #[inline]
    #[cfg_attr(brama_loom, allow(dead_code))] // used by the cache and the dashmap map
    fn is_long(&self, scope: Option<&str>, id: &str) -> bool {
        let Repr::Heap(bytes) = &self.0 else {
            return false;
        };
        let (split, s, i) = heap_parts(bytes);
        match scope {
            None => split == UNSCOPED && i == id.as_bytes(),
            Some(scope) => split != UNSCOPED && s == scope.as_bytes() && i == id.as_bytes(),
        }
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

    /// The key's hash (the same for the borrowed form, through [`Lookup`] or
    /// [`KeyView`]).
    #[inline(always)]
    fn key_hash(&self) -> u64 {
        match &self.0 {
            Repr::Inline(k) => hash_inline(k),
            Repr::Heap(_) => self.heap_hash(),
        }
    }

    #[inline(never)]
    fn heap_hash(&self) -> u64 {
        let (scope, id) = self.parts();
        hash_long(scope, id)
    }
}

/// A heap key's split, scope bytes and identifier bytes (empty scope when unscoped).
#[inline]
fn heap_parts(bytes: &[u8]) -> (u16, &[u8], &[u8]) {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn scoped_and_unscoped_with_same_text_differ() {
        let a = Key::new("a:b").to_owned_key().unwrap();
        let b = Key::scoped("a", "b").to_owned_key().unwrap();
        assert_ne!(a, b);
        let c = Key::scoped("a:", "b").to_owned_key().unwrap();
        let d = Key::scoped("a", ":b").to_owned_key().unwrap();
        assert_ne!(c, d);
    }

    #[test]
    fn owned_key_round_trips_parts() {
        let k = Key::scoped("payments", "stripe").to_owned_key().unwrap();
        assert_eq!(k.scope(), Some("payments"));
        assert_eq!(k.identifier(), "stripe");
        assert_eq!(k.as_key(), Key::scoped("payments", "stripe"));
        let u = Key::new("ünïcode✓").to_owned_key().unwrap();
        assert_eq!(u.scope(), None);
        assert_eq!(u.identifier(), "ünïcode✓");
    }

    #[test]
    fn borrowed_and_owned_views_hash_and_compare_alike() {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        for k in [
            Key::scoped("s", "id"),
            Key::new("s\u{ff}id"),
            Key::new("id"),
        ] {
            let owned = k.to_owned_key().unwrap();
            let view: &dyn KeyView = &k;
            let owned_view: &dyn KeyView = owned.borrow();
            assert!(view == owned_view);
            assert_eq!(s.hash_one(view), s.hash_one(&owned));
        }
        let a: &dyn KeyView = &Key::scoped("a", "b");
        let b: &dyn KeyView = &Key::new("a:b");
        assert!(a != b);
    }

    fn owned(scope: Option<&str>, id: &str) -> OwnedKey {
        match scope {
            Some(s) => Key::scoped(s, id),
            None => Key::new(id),
        }
        .to_owned_key()
        .unwrap()
    }

    fn map_hash<T: Hash + ?Sized>(t: &T) -> u64 {
        KeyHashBuilder::default().hash_one(t)
    }

    /// Every way the map sees a key agrees with the owned key: the probe matches it and
    /// hashes alike, the `KeyView` form compares and hashes alike, and the parts
    /// round-trip.
    fn assert_forms_agree(scope: Option<&str>, id: &str) {
        let key = match scope {
            Some(s) => Key::scoped(s, id),
            None => Key::new(id),
        };
        let owned = key.to_owned_key().unwrap();
        assert_eq!(owned.scope(), scope);
        assert_eq!(owned.identifier(), id);
        assert_eq!(owned.as_key(), key);
        assert!(key.is(&owned), "{key:?}");
        assert_eq!(key.lookup_hash(), owned.key_hash(), "{key:?}");
        assert_eq!(map_hash(&owned), owned.key_hash());
        match ShortProbe::new(key) {
            Some(probe) => {
                assert!(probe.is(&owned), "{key:?}");
                assert_eq!(probe.to_owned_key().as_ref(), Some(&owned), "{key:?}");
                assert_eq!(probe.lookup_hash(), owned.key_hash(), "{key:?}");
            }
            None => assert!(!owned.is_inline()),
        }
        match OwnedKey::short(key) {
            Some(short) => {
                assert!(owned.is_inline());
                assert!(short.is(&owned));
                assert_eq!(short, owned);
                assert_eq!(short.lookup_hash(), owned.key_hash());
                assert_eq!(map_hash(&short), map_hash(&owned));
            }
            None => assert!(!owned.is_inline()),
        }
        let view: &dyn KeyView = &key;
        let owned_view: &dyn KeyView = owned.borrow();
        assert!(view == owned_view);
        assert_eq!(map_hash(view), map_hash(&owned));
        assert_eq!(owned.clone(), owned);
    }

    #[test]
    fn short_keys_are_inline_and_long_ones_on_the_heap() {
        let x = |n: usize| "x".repeat(n);
        for n in [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 21, 22] {
            assert!(owned(None, &x(n)).is_inline(), "{n}");
        }
        for n in [23, 24, 100, 256] {
            assert!(!owned(None, &x(n)).is_inline(), "{n}");
        }
        // The scope's bytes count towards the 22.
        assert!(owned(Some(&x(1)), &x(21)).is_inline());
        assert!(owned(Some(&x(21)), &x(1)).is_inline());
        assert!(!owned(Some(&x(1)), &x(22)).is_inline());
        assert!(!owned(Some(&x(22)), &x(1)).is_inline());
        assert!(!owned(Some(&x(256)), &x(256)).is_inline());
        assert_eq!(std::mem::size_of::<OwnedKey>(), 24);
    }

    #[test]
    fn every_length_and_split_round_trips_and_agrees() {
        let text: String = ('a'..='z').cycle().take(40).collect();
        for n in 1..=30 {
            assert_forms_agree(None, &text[..n]);
            for s in 1..n {
                assert_forms_agree(Some(&text[..s]), &text[s..n]);
            }
        }
    }

    #[test]
    fn non_ascii_keys_at_the_inline_boundary() {
        // 11 two-byte chars = 22 bytes (inline); one more byte goes to the heap.
        let e11 = "é".repeat(11);
        assert!(owned(None, &e11).is_inline());
        assert_forms_agree(None, &e11);
        let e11x = format!("{e11}x");
        assert!(!owned(None, &e11x).is_inline());
        assert_forms_agree(None, &e11x);
        // A three-byte char crossing byte 22: 20 + 3 = 23 bytes, on the heap.
        let crossing = format!("{}✓", "a".repeat(20));
        assert!(!owned(None, &crossing).is_inline());
        assert_forms_agree(None, &crossing);
        // Four-byte chars, scoped, exactly 22 bytes.
        assert!(owned(Some("🦀"), "🦀🦀🦀🦀é").is_inline());
        assert_forms_agree(Some("🦀"), "🦀🦀🦀🦀é");
        assert_forms_agree(Some("ünï"), "cödé✓");
    }

    #[test]
    fn keys_that_differ_only_in_scope_or_split_differ() {
        let pairs = [
            (owned(None, "ab"), owned(Some("a"), "b")),
            (owned(Some("ab"), "c"), owned(Some("a"), "bc")),
            (owned(None, "a:b"), owned(Some("a"), "b")),
            (owned(None, "abc"), owned(None, "abd")),
            (owned(None, "ab"), owned(None, "ab\0")),
            (
                owned(None, &"y".repeat(30)),
                owned(Some("y"), &"y".repeat(29)),
            ),
            (
                owned(Some(&"y".repeat(3)), &"y".repeat(27)),
                owned(Some(&"y".repeat(4)), &"y".repeat(26)),
            ),
        ];
        for (a, b) in &pairs {
            assert_ne!(a, b);
            assert!(!a.as_key().is(b), "{a:?} {b:?}");
            assert!(!b.as_key().is(a), "{a:?} {b:?}");
            if let (Some(sa), Some(sb)) = (OwnedKey::short(a.as_key()), OwnedKey::short(b.as_key()))
            {
                assert!(!sa.is(b) && !sb.is(a));
            }
            if let (Some(pa), Some(pb)) = (ShortProbe::new(a.as_key()), ShortProbe::new(b.as_key()))
            {
                assert!(!pa.is(b) && !pb.is(a));
                assert!(pa.is(a) && pb.is(b));
            }
            let (va, vb): (&dyn KeyView, &dyn KeyView) = (a.borrow(), b.borrow());
            assert!(va != vb);
        }
    }

    #[test]
    fn invalid_keys_match_nothing_and_never_panic() {
        let stored = owned(None, "x");
        for k in [Key::new(""), Key::scoped("", "x"), Key::scoped("", "")] {
            assert!(!k.is(&stored));
            let _ = k.lookup_hash();
            if let Some(short) = OwnedKey::short(k) {
                assert!(!short.is(&stored));
            }
            if let Some(probe) = ShortProbe::new(k) {
                assert!(!probe.is(&stored));
            }
        }
        let long = "z".repeat(600);
        let k = Key::scoped(&long, &long);
        assert!(!k.is(&stored));
        assert!(OwnedKey::short(k).is_none());
        let _ = k.lookup_hash();
    }

    #[test]
    fn the_word_reader_packs_like_a_byte_copy() {
        let text: Vec<u8> = (1..=22).collect();
        for n in 0..=22 {
            let id = &text[..n];
            let (lo, hi) = padded_words(id);
            let mut expect = [0u8; 24];
            expect[..n].copy_from_slice(id);
            assert_eq!(lo.to_le_bytes(), expect[..16], "{n}");
            assert_eq!(hi.to_le_bytes(), expect[16..], "{n}");
        }
    }

    pub(crate) mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A scope or identifier: short and long, ASCII and not, around the 22-byte
        /// inline boundary. (Also used by map.rs's tests.)
        pub(crate) fn part() -> impl Strategy<Value = String> {
            // Short and long, ASCII and not, around the 22-byte boundary.
            prop_oneof![
                "[a-z:]{1,12}",
                "[a-zé✓🦀]{1,12}",
                "[a-z]{18,26}",
                "\\PC{1,40}",
            ]
        }

        proptest! {
            #[test]
            fn owned_and_borrowed_forms_hash_and_compare_alike(
                scope in proptest::option::of(part()),
                id in part(),
                other_scope in proptest::option::of(part()),
                other_id in part(),
            ) {
                assert_forms_agree(scope.as_deref(), &id);
                let a = owned(scope.as_deref(), &id);
                let b = owned(other_scope.as_deref(), &other_id);
                let same = (scope.as_deref(), id.as_str()) == (other_scope.as_deref(), other_id.as_str());
                prop_assert_eq!(a == b, same);
                prop_assert_eq!(b.as_key().is(&a), same);
                if same {
                    prop_assert_eq!(a.key_hash(), b.key_hash());
                }
            }
        }
    }

    #[test]
    fn rejects_empty_and_long_parts() {
        assert!(matches!(
            Key::new("").validate(),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            Key::scoped("", "x").validate(),
            Err(Error::InvalidKey { .. })
        ));
        let long = "x".repeat(257);
        assert!(matches!(
            Key::new(&long).validate(),
            Err(Error::InvalidKey { .. })
        ));
        assert!(matches!(
            Key::scoped(&long, "x").validate(),
            Err(Error::InvalidKey { .. })
        ));
        let max = "é".repeat(128); // 256 bytes
        assert!(Key::scoped(&max, &max).validate().is_ok());
        assert!(Key::new(&long).to_owned_key().is_err());
    }
}
