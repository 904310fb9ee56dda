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
/// Pass `&key_buf` wherever a key is taken: `&KeyBuf` converts into [`Key`].
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
    /// A key that keeps the rules, in the registry's own form.
    Valid(OwnedKey),
    /// A key that breaks them, kept as given so that errors can name it.
    Invalid {
        scope: Option<Box<str>>,
        identifier: Box<str>,
    },
}

impl KeyBuf {
    /// An unscoped key.
    pub fn new(identifier: &str) -> KeyBuf {
        KeyBuf::from(Key::new(identifier))
    }

    /// A key within a scope.
    pub fn scoped(scope: &str, identifier: &str) -> KeyBuf {
        KeyBuf::from(Key::scoped(scope, identifier))
    }

    /// The borrowed form.
    #[inline]
    pub fn as_key(&self) -> Key<'_> {
        match &self.0 {
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

impl From<Key<'_>> for KeyBuf {
    fn from(key: Key<'_>) -> KeyBuf {
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
