//! Call wrappers: run a closure ([`sync`]) or a future ([`future`]) through a circuit,
//! and the pieces both share: [`CallError`], [`Outcome`], [`Classify`].

use std::fmt;

use brama_core::Error;

mod future;
mod sync;

pub use future::CallFuture;
pub(crate) use sync::run;

/// Why a wrapped call did not produce a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError<E> {
    /// The circuit did not admit the call (or the key is unknown/invalid).
    Rejected(Error),
    /// The call ran and returned this error.
    Failed(E),
}

impl<E> CallError<E> {
    /// The callee's error, if the call ran.
    pub fn into_failed(self) -> Option<E> {
        match self {
            CallError::Failed(e) => Some(e),
            CallError::Rejected(_) => None,
        }
    }

    /// Whether the circuit refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, CallError::Rejected(_))
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(e) => write!(f, "call not made: {e}"),
            CallError::Failed(e) => write!(f, "call failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Rejected(e) => Some(e),
            CallError::Failed(e) => Some(e),
        }
    }
}

/// How a call's result is counted: what a classifier returns.
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Options, Outcome};
/// let brama = Brama::new();
/// brama.register("api", Options::new())?;
/// // An `Ok` can be a failure: a 503 says the dependency is unwell.
/// let status = brama.call_with("api", |r: &Result<u16, ()>| match r {
///     Ok(503) | Err(_) => Outcome::Failure,
///     Ok(404) => Outcome::Ignore,
///     Ok(_) => Outcome::Success,
/// }, || Ok(503));
/// assert_eq!(status.ok(), Some(503));
/// assert_eq!(brama.status("api")?.total_failures, 1);
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Count as a success.
    Success,
    /// Count as a failure.
    Failure,
    /// Count as neither (e.g. a client error that says nothing about the dependency);
    /// a half-open probe slot it held is freed.
    Ignore,
}

/// The name [`Outcome`] had before the async wrappers (SPEC §9) named it.
#[deprecated(since = "0.2.0", note = "renamed to `Outcome`")]
pub type Classification = Outcome;

/// Decides how a call's result is counted: any `Fn(&Result<T, E>) -> Outcome`, or
/// [`ByResult`] (`Ok` is a success, `Err` a failure).
///
/// The async wrappers and the tower layer take a `Classify`, so that their future
/// types can be named with the default classifier in place of a closure type.
pub trait Classify<T, E> {
    /// The outcome of `result`.
    fn classify(&self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, C> Classify<T, E> for C
where
    C: Fn(&Result<T, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, `Err` a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByResult;

impl<T, E> Classify<T, E> for ByResult {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        by_result(result)
    }
}

/// `Ok` is a success, `Err` a failure.
#[inline]
pub(crate) fn by_result<T, E>(r: &Result<T, E>) -> Outcome {
    if r.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}
