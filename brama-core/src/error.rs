//! The one error type of brama.

use std::fmt;
use std::time::Duration;

use crate::state::State;

/// Everything that can go wrong in brama. Every public method that can fail returns
/// `Result<_, Error>`; bad input is rejected with one of these and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No connection is registered under that key (or it was unregistered/evicted
    /// while a handle or permit still referred to it).
    NotFound,
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
        /// The state the circuit was in.
        state: State,
        /// How long until the circuit may admit calls again, when known
        /// (`None` while half-open probes are busy or the circuit is open
        /// indefinitely).
        retry_after: Option<Duration>,
    },
}

impl Error {
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
            Error::NotFound => f.write_str(
                "no connection is registered under this key (register it first, or build the \
                 registry with auto_register(true))",
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
                state,
                retry_after: Some(d),
            } => {
                write!(f, "call rejected: circuit is {state}, retry after {d:?}")
            }
            Error::Rejected {
                state,
                retry_after: None,
            } => {
                write!(f, "call rejected: circuit is {state}")
            }
        }
    }
}

impl std::error::Error for Error {}
