//! Connection keys: an identifier and an optional scope (SPEC §1).
//!
//! `Key<'a>` is the borrowed, `Copy` form users pass to every method. The registry
//! stores an [`OwnedKey`], whose bytes are a length-prefixed encoding of both parts;
//! a lookup encodes the borrowed key into a stack buffer, so it never allocates.

use std::borrow::Borrow;
use std::fmt;

use crate::error::Error;

/// The longest identifier or scope, in bytes.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// Room for the encoded form of the longest valid key: a tag byte, a two-byte scope
/// length, the scope and the identifier.
const ENCODED_MAX: usize = 3 + 2 * MAX_KEY_PART_BYTES;

const TAG_UNSCOPED: u8 = 0;
const TAG_SCOPED: u8 = 1;

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
        let buf = self
            .encode()
            .ok_or_else(|| Error::invalid_key("key is too long"))?;
        Ok(OwnedKey {
            bytes: buf.as_slice().into(),
        })
    }

    /// Encodes the key into a stack buffer; `None` if a part is too long to encode
    /// (such a key cannot be registered, so it is found nowhere).
    pub(crate) fn encode(&self) -> Option<EncodedKey> {
        let mut buf = EncodedKey {
            bytes: [0; ENCODED_MAX],
            len: 0,
        };
        let id = self.identifier.as_bytes();
        if id.len() > MAX_KEY_PART_BYTES {
            return None;
        }
        match self.scope {
            None => {
                buf.bytes[0] = TAG_UNSCOPED;
                buf.bytes[1..1 + id.len()].copy_from_slice(id);
                buf.len = 1 + id.len();
            }
            Some(scope) => {
                let s = scope.as_bytes();
                if s.len() > MAX_KEY_PART_BYTES {
                    return None;
                }
                buf.bytes[0] = TAG_SCOPED;
                buf.bytes[1..3].copy_from_slice(&(s.len() as u16).to_le_bytes());
                buf.bytes[3..3 + s.len()].copy_from_slice(s);
                buf.bytes[3 + s.len()..3 + s.len() + id.len()].copy_from_slice(id);
                buf.len = 3 + s.len() + id.len();
            }
        }
        Some(buf)
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

/// A key encoded on the stack for a map lookup.
pub(crate) struct EncodedKey {
    bytes: [u8; ENCODED_MAX],
    len: usize,
}

impl EncodedKey {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A validated key owned by the registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedKey {
    bytes: Box<[u8]>,
}

impl OwnedKey {
    /// The borrowed form.
    pub fn as_key(&self) -> Key<'_> {
        Key {
            scope: self.scope(),
            identifier: self.identifier(),
        }
    }

    /// The identifier.
    pub fn identifier(&self) -> &str {
        let start = self.identifier_start();
        // The bytes were copied from a `&str` at this boundary, so they are UTF-8.
        std::str::from_utf8(&self.bytes[start..]).unwrap_or("")
    }

    /// The scope, if any.
    pub fn scope(&self) -> Option<&str> {
        if self.bytes[0] != TAG_SCOPED {
            return None;
        }
        let len = u16::from_le_bytes([self.bytes[1], self.bytes[2]]) as usize;
        std::str::from_utf8(&self.bytes[3..3 + len]).ok()
    }

    /// Heap bytes this key owns (reported separately from per-connection overhead).
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn identifier_start(&self) -> usize {
        if self.bytes[0] == TAG_SCOPED {
            3 + u16::from_le_bytes([self.bytes[1], self.bytes[2]]) as usize
        } else {
            1
        }
    }
}

impl Borrow<[u8]> for OwnedKey {
    fn borrow(&self) -> &[u8] {
        &self.bytes
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
mod tests {
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
    fn encoding_matches_owned_bytes() {
        let k = Key::scoped("s", "id");
        let owned = k.to_owned_key().unwrap();
        let enc = k.encode().unwrap();
        let b: &[u8] = owned.borrow();
        assert_eq!(enc.as_slice(), b);
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
        assert!(Key::new(&long).encode().is_none());
    }
}
