//! Connection keys: an identifier and an optional scope (SPEC §1).
//!
//! `Key<'a>` is the borrowed, `Copy` form users pass to every method. The registry
//! stores an [`OwnedKey`], whose bytes are a length-prefixed encoding of both parts.
//! The map hashes and compares both through [`KeyView`], so a lookup by a borrowed key
//! builds nothing and never allocates.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

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
        let scope = self.scope.unwrap_or("");
        let mut text = String::with_capacity(scope.len() + self.identifier.len());
        text.push_str(scope);
        text.push_str(self.identifier);
        // Validated: a scope has at most 256 bytes, so its length fits in u16.
        let split = self.scope.map_or(UNSCOPED, |s| s.len() as u16);
        OwnedKey {
            text: text.into_boxed_str(),
            split,
        }
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

/// The parts of a key, borrowed or owned: what the map hashes and compares, so a lookup
/// by a borrowed [`Key`] needs no owned copy and no buffer.
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

impl Hash for dyn KeyView + '_ {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (scope, id) = self.parts();
        if let Some(scope) = scope {
            // 0xFF never occurs in UTF-8, so the scope's end is unambiguous.
            h.write(scope.as_bytes());
            h.write_u8(0xFF);
        }
        h.write(id.as_bytes());
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

/// A validated key owned by the registry: scope and identifier in one string.
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedKey {
    text: Box<str>,
    /// Bytes of `text` that are the scope, or [`UNSCOPED`].
    split: u16,
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
    #[inline]
    pub fn identifier(&self) -> &str {
        match self.split {
            UNSCOPED => &self.text,
            n => self.text.get(n as usize..).unwrap_or(""),
        }
    }

    /// The scope, if any.
    #[inline]
    pub fn scope(&self) -> Option<&str> {
        match self.split {
            UNSCOPED => None,
            n => self.text.get(..n as usize),
        }
    }
}

impl Hash for OwnedKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self as &dyn KeyView).hash(h);
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
