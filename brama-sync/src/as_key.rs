//! [`AsKey`]: what every method that takes a key accepts.

use brama_core::{Key, OwnedKey};

use crate::keybuf::KeyBuf;

/// Anything that names a connection: what every method taking a key accepts, by value
/// or by reference.
///
/// Implemented for [`Key`], `&str` and [`String`] (an unscoped key), `(&str, &str)`
/// (scope, identifier), [`KeyBuf`] and [`OwnedKey`], and for references to any of
/// them. A key taken by value is only borrowed for the call: passing a `KeyBuf` or a
/// `String` by value drops it afterwards, as any argument taken by value is.
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Key, KeyBuf, Options};
/// let brama = Brama::new();
/// brama.register(KeyBuf::from(("payments", "stripe")), Options::new())?;
/// let scope = String::from("payments");
/// assert!(brama.available((scope.as_str(), "stripe")));
/// assert!(brama.available(Key::scoped("payments", "stripe")));
/// let host = String::from("api.example.com");
/// brama.register(&host, Options::new())?;
/// brama.success(host)?; // by value
/// # Ok::<(), brama_sync::Error>(())
/// ```
pub trait AsKey {
    /// The borrowed key.
    fn as_key(&self) -> Key<'_>;
}

impl AsKey for Key<'_> {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        *self
    }
}

impl AsKey for str {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        Key::new(self)
    }
}

impl AsKey for String {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        Key::new(self)
    }
}

/// `(scope, identifier)`.
impl AsKey for (&str, &str) {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        Key::scoped(self.0, self.1)
    }
}

impl AsKey for KeyBuf {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        KeyBuf::as_key(self)
    }
}

impl AsKey for OwnedKey {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        OwnedKey::as_key(self)
    }
}

impl<T: AsKey + ?Sized> AsKey for &T {
    #[inline(always)]
    fn as_key(&self) -> Key<'_> {
        T::as_key(self)
    }
}
