//! [`KeyBuf`]: an owned key, for code that makes keys at run time (a tower layer's
//! `key_fn`, a key taken from a request or a config file).

use std::fmt;
use std::hash::{Hash, Hasher};

use brama_core::{Key, OwnedKey};

/// An owned connection key: an identifier and an optional scope, like [`Key`] but
/// owning its text, so it can be returned from a function or kept in a struct.
///
/// Short keys (scope and identifier together at most 46 bytes) are stored inline, with
/// no allocation. A `KeyBuf` can hold a key that breaks the key rules (empty or over
/// 256 bytes); using it then answers [`Error::InvalidKey`](crate::Error::InvalidKey)
/// as a bad [`Key`] does.
///
/// Pass it, by value or as `&key_buf`, wherever a key is taken ([`AsKey`](crate::AsKey));
/// `&KeyBuf` also converts into [`Key`].
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Key, KeyBuf, Options};
/// let brama = Brama::new();
/// let upstream = KeyBuf::from(("payments", "stripe")); // (scope, identifier)
/// brama.register(&upstream, Options::new())?;
/// assert!(brama.available(&upstream));
/// assert_eq!(upstream.as_key(), Key::scoped("payments", "stripe"));
/// let host: KeyBuf = String::from("api.example.com").into();
/// assert_eq!((host.scope(), host.identifier()), (None, "api.example.com"));
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyBuf(Repr);

#[derive(Clone)]
enum Repr {
    /// A short key that keeps the rules, in place (the common case: see [`Short`]).
    Short(Short),
    /// A key that keeps the rules, in the registry's own form.
    Valid(OwnedKey),
    /// A key that breaks them, kept as given so that errors can name it.
    Invalid {
        scope: Option<Box<str>>,
        identifier: Box<str>,
    },
}

/// Scope and identifier bytes (together) a [`KeyBuf`] keeps in place.
const SHORT: usize = 22;

/// [`Short::split`] of an unscoped key.
const UNSCOPED: u8 = u8::MAX;

/// A valid key of at most [`SHORT`] bytes: `bytes[..len]` is the scope followed by the
/// identifier, the rest zero; `bytes[SHORT]` is the split (the scope's length, or
/// [`UNSCOPED`]) and `bytes[SHORT + 1]` the length.
///
/// Made from whole words: the bytes are gathered into three `u64`s in registers and
/// stored as such. A key written byte by byte (a variable-length `memset` and `memcpy`,
/// as `OwnedKey`'s inline form is) and then moved at once, as a `key_fn`'s result is
/// into the response future, is read back in wider loads than it was written with: a
/// store-forwarding stall per move, which cost more than the rest of a tower call (a
/// scratch loop: `KeyBuf::from("up-0000")` 78-104 ns before, see docs/benchmarks.md).
#[derive(Clone, Copy)]
#[repr(align(8))] // whole words, at a word's offset in `Repr`
struct Short {
    bytes: [u8; SHORT + 2],
}

impl Short {
    /// The short form of `(scope, identifier)`, if the key keeps the rules and fits.
    #[inline]
    fn pack(scope: Option<&str>, identifier: &str) -> Option<Short> {
        let (s, id) = (scope.map_or(&[][..], str::as_bytes), identifier.as_bytes());
        let len = s.len() + id.len();
        // Non-empty parts, and short enough (so well under the 256-byte limit).
        if len > SHORT || id.is_empty() || scope.is_some_and(str::is_empty) {
            return None;
        }
        let [a, b, c] = match scope {
            None => [word(id, 0), word(id, 8), word(id, 16)],
            Some(_) => concat(s, id),
        };
        let split = scope.map_or(UNSCOPED, |s| s.len() as u8);
        let c = c | u64::from(split) << 48 | (len as u64) << 56;
        let mut bytes = [0u8; SHORT + 2];
        bytes[..8].copy_from_slice(&a.to_le_bytes());
        bytes[8..16].copy_from_slice(&b.to_le_bytes());
        bytes[16..].copy_from_slice(&c.to_le_bytes());
        Some(Short { bytes })
    }

    /// The borrowed form. (The bytes were copied from `&str`s, so the UTF-8 checks
    /// cannot fail; they would give `""`, never a panic.)
    #[inline]
    fn as_key(&self) -> Key<'_> {
        let (split, len) = (self.bytes[SHORT], usize::from(self.bytes[SHORT + 1]));
        let key = self.bytes.get(..len).unwrap_or_default();
        if split == UNSCOPED {
            return Key::new(std::str::from_utf8(key).unwrap_or_default());
        }
        let (scope, id) = key.split_at(usize::from(split).min(len));
        Key::scoped(
            std::str::from_utf8(scope).unwrap_or_default(),
            std::str::from_utf8(id).unwrap_or_default(),
        )
    }
}

impl KeyBuf {
    /// An unscoped key.
    #[inline]
    pub fn new(identifier: &str) -> KeyBuf {
        KeyBuf::from(Key::new(identifier))
    }

    /// A key within a scope.
    #[inline]
    pub fn scoped(scope: &str, identifier: &str) -> KeyBuf {
        KeyBuf::from(Key::scoped(scope, identifier))
    }

    /// The borrowed form.
    #[inline]
    pub fn as_key(&self) -> Key<'_> {
        match &self.0 {
            Repr::Short(k) => k.as_key(),
            Repr::Valid(k) => k.as_key(),
            Repr::Invalid {
                scope: Some(s),
                identifier,
            } => Key::scoped(s, identifier),
            Repr::Invalid {
                scope: None,
                identifier,
            } => Key::new(identifier),
        }
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        self.as_key().identifier()
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.as_key().scope()
    }
}

/// Bytes `at..at + 8` of `x` (zero past its end) as a little-endian word, read in at
/// most two loads, in registers.
#[inline(always)]
fn word(x: &[u8], at: usize) -> u64 {
    let x = x.get(at..).unwrap_or_default();
    let n = x.len().min(8);
    // The first and the last `w` bytes of the `n`, overlapping: together all `n`.
    let (lo, hi, w) = match n {
        0 => return 0,
        1 => return u64::from(x[0]),
        2..=3 => (le::<2>(x, 0), le::<2>(x, n - 2), 2),
        4..=7 => (le::<4>(x, 0), le::<4>(x, n - 4), 4),
        _ => return le::<8>(x, 0),
    };
    lo | hi << (8 * (n - w))
}

/// `x[at..at + W]` as a little-endian number (0 if out of range: never, as called).
#[inline(always)]
fn le<const W: usize>(x: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    if let Some(b) = x.get(at..at + W) {
        buf[..W].copy_from_slice(b);
    }
    u64::from_le_bytes(buf)
}

/// `scope` then `identifier` (together at most [`SHORT`] bytes) as three words, one
/// byte at a time in registers (scoped keys only).
#[inline]
fn concat(scope: &[u8], identifier: &[u8]) -> [u64; 3] {
    let (mut a, mut b, mut c) = (0u64, 0u64, 0u64);
    for (k, &v) in scope.iter().chain(identifier).enumerate() {
        let v = u64::from(v) << (8 * (k % 8));
        match k / 8 {
            0 => a |= v,
            1 => b |= v,
            _ => c |= v,
        }
    }
    [a, b, c]
}

impl From<Key<'_>> for KeyBuf {
    #[inline]
    fn from(key: Key<'_>) -> KeyBuf {
        match Short::pack(key.scope(), key.identifier()) {
            Some(short) => KeyBuf(Repr::Short(short)),
            None => KeyBuf::long(key),
        }
    }
}

impl KeyBuf {
    /// A key too long for [`Short`], or one that breaks the rules.
    #[cold]
    #[inline(never)]
    fn long(key: Key<'_>) -> KeyBuf {
        match key.to_owned_key() {
            Ok(k) => KeyBuf(Repr::Valid(k)),
            Err(_) => KeyBuf(Repr::Invalid {
                scope: key.scope().map(Box::from),
                identifier: Box::from(key.identifier()),
            }),
        }
    }
}

impl From<&str> for KeyBuf {
    #[inline]
    fn from(identifier: &str) -> KeyBuf {
        KeyBuf::new(identifier)
    }
}

impl From<String> for KeyBuf {
    fn from(identifier: String) -> KeyBuf {
        KeyBuf::new(&identifier)
    }
}

impl From<&String> for KeyBuf {
    fn from(identifier: &String) -> KeyBuf {
        KeyBuf::new(identifier)
    }
}

/// `(scope, identifier)`.
impl From<(&str, &str)> for KeyBuf {
    fn from((scope, identifier): (&str, &str)) -> KeyBuf {
        KeyBuf::scoped(scope, identifier)
    }
}

/// `(scope, identifier)`.
impl From<(String, String)> for KeyBuf {
    fn from((scope, identifier): (String, String)) -> KeyBuf {
        KeyBuf::scoped(&scope, &identifier)
    }
}

impl From<OwnedKey> for KeyBuf {
    fn from(key: OwnedKey) -> KeyBuf {
        KeyBuf(Repr::Valid(key))
    }
}

impl From<&OwnedKey> for KeyBuf {
    fn from(key: &OwnedKey) -> KeyBuf {
        KeyBuf(Repr::Valid(key.clone()))
    }
}

impl<'a> From<&'a KeyBuf> for Key<'a> {
    #[inline]
    fn from(key: &'a KeyBuf) -> Key<'a> {
        key.as_key()
    }
}

impl PartialEq for KeyBuf {
    fn eq(&self, other: &KeyBuf) -> bool {
        self.as_key() == other.as_key()
    }
}

impl Eq for KeyBuf {}

impl PartialEq<Key<'_>> for KeyBuf {
    fn eq(&self, other: &Key<'_>) -> bool {
        self.as_key() == *other
    }
}

impl Hash for KeyBuf {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_key().hash(h);
    }
}

impl fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.as_key();
        f.debug_struct("KeyBuf")
            .field("scope", &k.scope())
            .field("identifier", &k.identifier())
            .finish()
    }
}

/// `scope/identifier`, or the identifier alone, as [`Key`] shows.
impl fmt::Display for KeyBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_key(), f)
    }
}
