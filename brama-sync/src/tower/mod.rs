//! A tower [`Layer`](tower_layer::Layer) that guards many upstreams with one
//! [`Brama`](crate::Brama), choosing the connection per request (feature `tower`).
//!
//! [`BramaLayer::new(brama, key_fn)`](BramaLayer::new) wraps a service; for every
//! request, `key_fn` names the connection ([`KeyBuf`](crate::KeyBuf)), the circuit is
//! checked, and the call is made only if admitted. Its result is counted by the
//! classifier ([`BramaLayer::classify`]; by default `Ok` is a success and `Err` a
//! failure), so an `Ok` HTTP 503 can count as a failure. A refused request resolves to
//! [`BramaError::Rejected`], naming the connection, without reaching the inner service.
//!
//! ```
//! use std::convert::Infallible;
//! use brama_sync::tower::{BramaError, BramaLayer};
//! use brama_sync::{Brama, KeyBuf, Options, Outcome, State};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # pollster::block_on(async {
//! let brama = Brama::builder().failure_threshold(1).build()?;
//! brama.register(("upstream", "flaky"), Options::new())?;
//! // Requests are (upstream, path); a response is an HTTP-like status code.
//! let mut svc = ServiceBuilder::new()
//!     .layer(
//!         BramaLayer::new(brama.clone(), |req: &(&str, &str)| KeyBuf::from(("upstream", req.0)))
//!             .classify(|r: &Result<u16, Infallible>| match r {
//!                 Ok(s) if *s >= 500 => Outcome::Failure,
//!                 _ => Outcome::Success,
//!             }),
//!     )
//!     .service(service_fn(|_req: (&str, &str)| async { Ok::<u16, Infallible>(503) }));
//!
//! let first = svc.ready().await.unwrap().call(("flaky", "/")).await;
//! assert_eq!(first.ok(), Some(503)); // returned as it came, counted as a failure
//! match svc.ready().await.unwrap().call(("flaky", "/")).await {
//!     Err(BramaError::Rejected { identifier, state, .. }) => {
//!         assert_eq!((identifier.as_str(), state), ("flaky", State::Open));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), brama_sync::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Why `poll_ready` forwards and the check is in `call`
//!
//! Which connection a request goes to is known only from the request, and
//! `poll_ready` does not see it, so the circuit cannot be asked there. `poll_ready`
//! therefore only forwards the inner service's readiness (its errors become
//! [`BramaError::Inner`]); `call` picks the key, asks for a permit, and either calls
//! the inner service or answers with the rejection at once. A rejected request leaves
//! the readiness it was given unused; tower lets a caller hold readiness across calls,
//! so the next request uses it (this is how tower's own `Filter` behaves). The check is
//! made in `call`, synchronously, so a refused request never reaches the inner
//! service and an admitted one holds its half-open probe slot from the moment it is
//! made; the [`ResponseFuture`] carries the admission to completion and frees a probe
//! slot if dropped (docs/architecture.md compares this with tower-resilience).
//!
//! # What a call costs
//!
//! On a circuit that admits freely (`Unknown` or `Closed`, in `Normal` mode, calls not
//! timed for a slow-call rule) a request takes no permit: its connection's state word
//! is read once, on the cell this thread's cache holds for the key (else under the
//! map's read lock), and the future keeps where the connection was found (not the key)
//! and the cycle it was admitted in; admitted through this thread's cache, it holds no
//! reference to the registry either. A success is then counted as
//! [`Brama::success`](crate::Brama::success) counts one; any other report goes to that
//! connection with the cycle, so a call that finishes after the circuit changed state
//! is counted and decides nothing, as with a [`Permit`](crate::Permit). Such a call
//! holds no half-open slot and no handle: it does not keep its connection from
//! eviction while in flight (if the connection is evicted or unregistered meanwhile,
//! the call's result counts nowhere), nor its registry alive (a call that finishes
//! after the last [`Brama`](crate::Brama) of its registry was dropped may count
//! nowhere). Half-open
//! probes, refusals, other modes and timed calls take a permit as before.

use std::fmt;
use std::time::Duration;

use brama_core::{Error, Key, State};

mod free;
mod future;
mod layer;
mod registries;
mod service;

pub use future::ResponseFuture;
pub use layer::BramaLayer;
pub use service::BramaService;

/// The error of a [`BramaService`]: the circuit refused the request, or the inner
/// service failed.
///
/// `Debug + Display`, and `std::error::Error` when `E` is (its source is the inner
/// error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BramaError<E> {
    /// The circuit did not admit the request; the inner service was not called.
    ///
    /// `state` is the circuit's state (`Open`, or `HalfOpen` while its probes are
    /// busy), or [`State::Unknown`] when the key names no connection: not registered
    /// (and neither the layer nor the registry registers unknown keys), invalid, or
    /// refused registration at `max_connections`.
    Rejected {
        /// The connection's identifier.
        identifier: String,
        /// The connection's scope, if any.
        scope: Option<String>,
        /// The circuit's state (see above).
        state: State,
        /// How long until the circuit may admit requests again, when known.
        retry_after: Option<Duration>,
    },
    /// The inner service's error (from `poll_ready` or from the call).
    Inner(E),
}

impl<E> BramaError<E> {
    /// The refusal of `key` for the reason `error` (a brama error, never an inner one).
    /// A `Rejected` or `NotFound` error already names the connection: its strings are
    /// moved over, not copied.
    pub(super) fn refused(key: Key<'_>, error: Error) -> BramaError<E> {
        match error {
            Error::Rejected {
                identifier,
                scope,
                state,
                retry_after,
            } => BramaError::Rejected {
                identifier,
                scope,
                state,
                retry_after,
            },
            Error::NotFound { identifier, scope } => BramaError::Rejected {
                identifier,
                scope,
                state: State::Unknown,
                retry_after: None,
            },
            _ => BramaError::Rejected {
                identifier: key.identifier().to_owned(),
                scope: key.scope().map(str::to_owned),
                state: State::Unknown,
                retry_after: None,
            },
        }
    }

    /// Whether the circuit refused the request.
    pub fn is_rejected(&self) -> bool {
        matches!(self, BramaError::Rejected { .. })
    }

    /// The inner service's error, if that is what this is.
    pub fn into_inner(self) -> Option<E> {
        match self {
            BramaError::Inner(e) => Some(e),
            BramaError::Rejected { .. } => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for BramaError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BramaError::Rejected {
                identifier,
                scope,
                state,
                retry_after,
            } => {
                let key = match scope {
                    Some(s) => Key::scoped(s, identifier),
                    None => Key::new(identifier),
                };
                match (state, retry_after) {
                    (State::Unknown, _) => write!(
                        f,
                        "request to {key} rejected: no connection under this key (it is not \
                         registered and was not registered now: auto_register is off, the key \
                         is invalid, or max_connections is reached)"
                    ),
                    (_, Some(d)) => write!(
                        f,
                        "request to {key} rejected: circuit is {state}, retry after {d:?}"
                    ),
                    (_, None) => write!(f, "request to {key} rejected: circuit is {state}"),
                }
            }
            BramaError::Inner(e) => write!(f, "call failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BramaError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BramaError::Inner(e) => Some(e),
            BramaError::Rejected { .. } => None,
        }
    }
}
