//! Connection keys: an identifier and an optional scope (SPEC §1).
//!
//! `Key<'a>` is the borrowed, `Copy` form users pass to every method. The registry
//! stores an [`OwnedKey`]: both parts inline when they fit in 46 bytes, else one boxed
//! byte string. A lookup hashes the borrowed key's parts once (`hash.rs`) and compares
//! them with the stored bytes ([`OwnedKey::is`]): it builds nothing and never
//! allocates.

use std::fmt;

use crate::error::Error;

mod hash;
mod inline;
mod owned;
#[cfg(test)]
pub(crate) mod tests;

#[cfg_attr(brama_loom, allow(unused_imports))] // the loom map hashes keys itself
pub(crate) use hash::KeyHashBuilder;
pub use inline::INLINE_KEY_BYTES;
pub use owned::*;

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
    /// The key's hash, as the map and the per-thread cache use it: the process-seeded
    /// foldhash of its parts (`hash.rs`), the same for every form of the key.
    #[inline]
    pub(crate) fn key_hash(&self) -> u64 {
        hash::hash_parts(self.scope.map(str::as_bytes), self.identifier.as_bytes())
    }

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
