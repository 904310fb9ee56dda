//! The inline form of a short key: scope and identifier bytes in place, compared and
//! hashed as words.

use std::num::NonZeroU8;

/// Scope and identifier bytes (together) that an [`OwnedKey`] stores inline, without a
/// heap allocation. With the scope length and the total length, an inline key is 24
/// bytes, the size of the heap form, so `OwnedKey` is 24 bytes either way.
pub const INLINE_KEY_BYTES: usize = 22;

/// `Inline::split` of an unscoped key (a scope of an inline key has at most 22 bytes).
pub(super) const INLINE_UNSCOPED: u8 = u8::MAX;

/// A short key stored in place: `bytes[..len]` is the scope followed by the
/// identifier, the rest of `bytes[..22]` is zero, and `bytes[22]` is the split. Two
/// inline keys are equal exactly when their 24 bytes are, so a comparison is a few
/// word compares, with no call and no pointer to follow.
#[repr(C)] // `len` (never 0) in the last byte is the enum's tag
#[derive(Clone, Copy)]
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

    /// An unscoped key: the bytes are read as (overlapping) words, no copy loop and no
    /// call.
    #[inline(always)]
    pub(super) fn pack_unscoped(id: &[u8]) -> Option<Inline> {
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

    /// The 24 bytes as words (the middle one overlaps the first by one byte): what
    /// inline keys hash and compare as.
    #[inline(always)]
    pub(super) fn words(&self) -> (u128, u64, u8) {
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

impl PartialEq for Inline {
    #[inline(always)]
    fn eq(&self, other: &Inline) -> bool {
        self.words() == other.words()
    }
}

impl Eq for Inline {}

/// `little-endian(b[i..i + 8])`, or 0 if out of range (never, where it is called).
#[inline(always)]
pub(super) fn u64_at(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

/// `little-endian(b[i..i + 4])`, or 0 if out of range (never, where it is called).
#[inline(always)]
pub(super) fn u32_at(b: &[u8], i: usize) -> u64 {
    b.get(i..i + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

/// `b` (at most 22 bytes) as a zero-padded little-endian 176-bit number, split into its
/// low 128 and high 48 bits. Reads overlapping words: where two reads overlap they read
/// the same bytes into the same positions, so OR-ing them is exact.
#[inline(always)]
pub(super) fn padded_words(b: &[u8]) -> (u128, u64) {
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
