//! The inline form of a short key: scope and identifier bytes in place, no allocation.

use std::num::NonZeroU8;

/// Scope and identifier bytes (together) that an [`OwnedKey`](crate::OwnedKey) stores inline, without a
/// heap allocation. With the scope length and the total length, an inline key is 24
/// bytes, the size of the heap form, so `OwnedKey` is 24 bytes either way.
pub const INLINE_KEY_BYTES: usize = 22;

/// `Inline::split` of an unscoped key (a scope of an inline key has at most 22 bytes).
pub(super) const INLINE_UNSCOPED: u8 = u8::MAX;

/// A short key stored in place: `bytes[..len]` is the scope followed by the
/// identifier, the rest of `bytes[..22]` is zero, and `bytes[22]` is the split. Two
/// inline keys are equal exactly when their 24 bytes are.
#[repr(C)] // `len` (never 0) in the last byte is the enum's tag
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Inline {
    /// The key's bytes, zero-padded to 22; then the split: bytes of the key that are
    /// the scope, or [`INLINE_UNSCOPED`].
    pub(super) bytes: [u8; INLINE_KEY_BYTES + 1],
    /// Total bytes; never 0 (an identifier is never empty), which gives `OwnedKey`'s
    /// enum its tag for free.
    pub(super) len: NonZeroU8,
}

pub(super) const SPLIT: usize = INLINE_KEY_BYTES;

impl Inline {
    /// The inline form of `(scope, identifier)`, if it fits. `None` for keys too long
    /// to be stored inline, and for an empty key (which is never registered).
    #[inline(always)]
    pub(super) fn pack(scope: Option<&str>, id: &str) -> Option<Inline> {
        match scope {
            None => Inline::pack_unscoped(id.as_bytes()),
            Some(scope) => Inline::pack_scoped(scope.as_bytes(), id.as_bytes()),
        }
    }

    /// An unscoped key.
    #[inline]
    pub(super) fn pack_unscoped(id: &[u8]) -> Option<Inline> {
        let n = id.len();
        if n > INLINE_KEY_BYTES {
            return None;
        }
        let len = NonZeroU8::new(n as u8)?;
        let mut bytes = [0u8; INLINE_KEY_BYTES + 1];
        bytes.get_mut(..n)?.copy_from_slice(id);
        bytes[SPLIT] = INLINE_UNSCOPED;
        Some(Inline { bytes, len })
    }

    /// A scoped key.
    #[inline]
    pub(super) fn pack_scoped(scope: &[u8], id: &[u8]) -> Option<Inline> {
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

    /// Whether this is the key `(scope, id)`: the split and the length first (one
    /// byte each), then the bytes of each part.
    #[inline]
    pub(super) fn is(&self, scope: Option<&[u8]>, id: &[u8]) -> bool {
        let (split, s) = match scope {
            Some(s) => (s.len(), s),
            None => (usize::from(INLINE_UNSCOPED), &[][..]),
        };
        let n = s.len() + id.len();
        usize::from(self.bytes[SPLIT]) == split
            && usize::from(self.len.get()) == n
            && self.bytes.get(..s.len()) == Some(s)
            && self.bytes.get(s.len()..n) == Some(id)
    }

    /// `(scope, identifier)`. Off the hot paths: it validates the UTF-8 of bytes that
    /// were copied from `&str`s, which cannot fail (and would give `""`, not a panic).
    pub(super) fn parts(&self) -> (Option<&str>, &str) {
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
