//! The inline form of a short key: scope and identifier bytes in place, no allocation.

use std::num::NonZeroU8;

/// Scope and identifier bytes (together) that an [`OwnedKey`](crate::OwnedKey) stores inline, without a
/// heap allocation. With the length and the split, an inline key is 48 bytes, so
/// `OwnedKey` is 48 bytes either way. (It was 22 inline bytes in 24; a 40-byte
/// `("eu-west-1.tenant-500", "billing-api-0500.svc")` then lived in a box that every
/// lookup reached through the cell, one dependent cache miss more than a map of
/// `String`s pays: docs/by-key.md, "Keys up to 46 bytes inline".)
pub const INLINE_KEY_BYTES: usize = 46;

/// `Inline::split` of an unscoped key (a scope of an inline key has at most 46 bytes).
pub(super) const INLINE_UNSCOPED: u8 = u8::MAX;

/// A short key stored in place: the length, the split, then `bytes[..len]`, the scope
/// followed by the identifier, and zeros to the end. Two inline keys are equal exactly
/// when their 48 bytes are. The length and the split come first, so that a lookup of
/// a short key reads them and the key's bytes from the same cache line as the cell's
/// state word.
#[repr(C)] // `len` (never 0) in the first byte is the enum's tag
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Inline {
    /// Total bytes; never 0 (an identifier is never empty), which gives `OwnedKey`'s
    /// enum its tag for free.
    pub(super) len: NonZeroU8,
    /// Bytes of the key that are the scope, or [`INLINE_UNSCOPED`].
    pub(super) split: u8,
    /// The key's bytes, zero-padded.
    pub(super) bytes: [u8; INLINE_KEY_BYTES],
}

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
        let mut bytes = [0u8; INLINE_KEY_BYTES];
        bytes.get_mut(..n)?.copy_from_slice(id);
        Some(Inline {
            len,
            split: INLINE_UNSCOPED,
            bytes,
        })
    }

    /// A scoped key.
    #[inline]
    pub(super) fn pack_scoped(scope: &[u8], id: &[u8]) -> Option<Inline> {
        let (s, n) = (scope.len(), scope.len() + id.len());
        if n > INLINE_KEY_BYTES {
            return None;
        }
        let len = NonZeroU8::new(n as u8)?;
        let mut bytes = [0u8; INLINE_KEY_BYTES];
        bytes.get_mut(..s)?.copy_from_slice(scope);
        bytes.get_mut(s..n)?.copy_from_slice(id);
        Some(Inline {
            len,
            split: s as u8,
            bytes,
        })
    }

    /// Whether this is the key `(scope, id)`: the split and the length first (one
    /// byte each), then the bytes of each part.
    #[inline(always)]
    pub(super) fn is(&self, scope: Option<&[u8]>, id: &[u8]) -> bool {
        let (split, s) = match scope {
            Some(s) => (s.len(), s),
            None => (usize::from(INLINE_UNSCOPED), &[][..]),
        };
        let n = s.len() + id.len();
        usize::from(self.split) == split
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
        match self.split {
            INLINE_UNSCOPED => (None, text),
            n => {
                let n = usize::from(n);
                (text.get(..n), text.get(n..).unwrap_or(""))
            }
        }
    }
}

/// `a == b` for the parts of an inline key (at most 46 bytes each), as a few
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
        17..=32 => {
            word::<16>(a, 0) == word::<16>(b, 0) && word::<16>(a, n - 16) == word::<16>(b, n - 16)
        }
        33..=48 => {
            word::<16>(a, 0) == word::<16>(b, 0)
                && word::<16>(a, 16) == word::<16>(b, 16)
                && word::<16>(a, n - 16) == word::<16>(b, n - 16)
        }
        _ => a == b,
    }
}

/// The `N` bytes of `b` at `i`, or `None` past its end (never, where it is called).
#[inline(always)]
fn word<const N: usize>(b: &[u8], i: usize) -> Option<[u8; N]> {
    b.get(i..i + N).and_then(|w| w.try_into().ok())
}
