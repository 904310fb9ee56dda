//! The one error type of brama.

use std::fmt;
use std::time::Duration;

use crate::key::{Key, OwnedKey};
use crate::state::State;

/// Everything that can go wrong in brama. Every public method that can fail returns
/// `Result<_, Error>`; bad input is rejected with one of these and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No connection is registered under that key (or it was unregistered/evicted
    /// while a handle or permit still referred to it).
    NotFound {
        /// The identifier of the key that was not found.
        identifier: String,
        /// Its scope, if it has one.
        scope: Option<String>,
    },
    /// A connection is already registered under that key; nothing was changed.
    AlreadyRegistered,
    /// The identifier or scope breaks the key rules.
    InvalidKey {
        /// What is wrong, e.g. "identifier is empty".
        reason: String,
    },
    /// A setting is outside its allowed range.
    InvalidConfig {
        /// The setting, e.g. `"failure_threshold"`.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Registering would exceed `max_connections`.
    CapacityExceeded,
    /// The janitor thread could not be started.
    Spawn {
        /// What the operating system said.
        reason: String,
    },
    /// A snapshot given to a restore is not one this brama can restore: an unknown
    /// version, a bad key or setting, a key given twice, or a value out of its range.
    /// Nothing was restored.
    InvalidSnapshot {
        /// What is wrong, naming the connection (its position and key) or the scope.
        reason: String,
    },
    /// The circuit did not admit the call.
    Rejected {
        /// The identifier of the connection that refused.
        identifier: String,
        /// Its scope, if it has one.
        scope: Option<String>,
        /// The state the circuit was in.
        state: State,
        /// How long until the circuit may admit calls again, when known
        /// (`None` while half-open probes are busy or the circuit is open
        /// indefinitely).
        retry_after: Option<Duration>,
    },
}

impl Error {
    /// [`Error::NotFound`] naming `key`. Built only where the error is returned (the
    /// engine's hot paths carry one-byte codes and call this on their cold side), so
    /// its two allocations are never paid by a call that succeeds.
    #[cold]
    pub fn not_found(key: Key<'_>) -> Error {
        Error::NotFound {
            identifier: key.identifier().to_owned(),
            scope: key.scope().map(str::to_owned),
        }
    }

    /// [`Error::Rejected`] naming `key`, with the state that refused and the time until
    /// it may admit again, when known.
    #[cold]
    pub fn rejected(key: Key<'_>, state: State, retry_after: Option<Duration>) -> Error {
        Error::Rejected {
            identifier: key.identifier().to_owned(),
            scope: key.scope().map(str::to_owned),
            state,
            retry_after,
        }
    }

    /// The connection this error is about, for [`Error::NotFound`] and
    /// [`Error::Rejected`]; `None` for the others.
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Error, Key};
    ///
    /// let e = Error::not_found(Key::scoped("payments", "stripe"));
    /// assert_eq!(e.key(), Some(Key::scoped("payments", "stripe")));
    /// assert_eq!(
    ///     e.to_string(),
    ///     "no connection \"stripe\" in scope \"payments\" is registered (register it \
    ///      first, or build the registry with auto_register(true))"
    /// );
    /// ```
    pub fn key(&self) -> Option<Key<'_>> {
        match self {
            Error::NotFound { identifier, scope }
            | Error::Rejected {
                identifier, scope, ..
            } => Some(match scope {
                Some(scope) => Key::scoped(scope, identifier),
                None => Key::new(identifier),
            }),
            _ => None,
        }
    }

    pub(crate) fn not_found_owned(key: &OwnedKey) -> Error {
        Error::not_found(key.as_key())
    }

    pub(crate) fn invalid_key(reason: impl Into<String>) -> Error {
        Error::InvalidKey {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_snapshot(reason: impl Into<String>) -> Error {
        Error::InvalidSnapshot {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_config(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { identifier, scope } => write!(
                f,
                "no connection {} is registered (register it first, or build the registry \
                 with auto_register(true))",
                Named(identifier, scope.as_deref())
            ),
            Error::AlreadyRegistered => f.write_str(
                "a connection is already registered under this key (use configure to change it)",
            ),
            Error::InvalidKey { reason } => write!(f, "invalid key: {reason}"),
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration for `{field}`: {reason}")
            }
            Error::CapacityExceeded => f.write_str(
                "max_connections reached: unregister connections or raise max_connections",
            ),
            Error::InvalidSnapshot { reason } => {
                write!(f, "invalid snapshot, nothing was restored: {reason}")
            }
            Error::Spawn { reason } => {
                write!(f, "could not start the brama-janitor thread: {reason}")
            }
            Error::Rejected {
                identifier,
                scope,
                state,
                retry_after,
            } => {
                let named = Named(identifier, scope.as_deref());
                write!(f, "call to {named} rejected: circuit is {state}")?;
                match retry_after {
                    Some(d) => write!(f, ", retry after {d:?}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {}

/// A connection as messages name it: `"stripe" in scope "payments"`, or `"db"`.
struct Named<'a>(&'a str, Option<&'a str>);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)?;
        match self.1 {
            Some(scope) => write!(f, " in scope {scope:?}"),
            None => Ok(()),
        }
    }
}
