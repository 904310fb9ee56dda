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
            && self.bytes.get(..s.len()).is_some_and(|b| eq_short(b, s))
            && self.bytes.get(s.len()..n).is_some_and(|b| eq_short(b, id))
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

/// `a == b` for the parts of an inline key (at most 22 bytes each), as a few
/// overlapping word compares in line instead of a call to `memcmp` per part. Where two
/// reads overlap they compare the same bytes twice, which is still exact. For a key
/// written as a literal (`brama.available(("payments", "stripe"))`) the reads of the
/// caller's bytes fold into constants.
#[inline(always)]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a.first() == b.first() && a.get(n / 2) == b.get(n / 2) && a.last() == b.last(),
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        17..=24 => {
            word::<8>(a, 0) == word::<8>(b, 0)
                && word::<8>(a, 8) == word::<8>(b, 8)
                && word::<8>(a, n - 8) == word::<8>(b, n - 8)
        }
        _ => a == b,
    }
}

/// The `N` bytes of `b` at `i`, or `None` past its end (never, where it is called).
#[inline(always)]
fn word<const N: usize>(b: &[u8], i: usize) -> Option<[u8; N]> {
    b.get(i..i + N).and_then(|w| w.try_into().ok())
}
