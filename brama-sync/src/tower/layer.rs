//! [`BramaLayer`]: builds a [`BramaService`] around a service; it decides nothing.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::service::BramaService;
use crate::brama::Brama;
use crate::call::ByResult;
use crate::keybuf::KeyBuf;

/// A tower layer guarding the calls of the wrapped service with a [`Brama`], the
/// connection picked per request by `key_fn` (so one layer guards many upstreams).
///
/// Cloning the layer is cheap (a `Brama` clone and an `Arc`); every service it builds
/// shares the registry.
///
/// # Examples
/// ```
/// use brama_sync::tower::BramaLayer;
/// use brama_sync::{Brama, KeyBuf, Outcome};
///
/// struct Request { host: String }
/// // Keys come from requests: bound how many connections they can register.
/// let brama = Brama::builder().max_connections(10_000).build()?;
/// let layer = BramaLayer::new(brama, |req: &Request| KeyBuf::from(req.host.as_str()))
///     .auto_register(true)
///     .classify(|r: &Result<u16, std::io::Error>| match r {
///         Ok(503) | Err(_) => Outcome::Failure,
///         Ok(_) => Outcome::Success,
///     });
/// # let _ = layer;
/// # Ok::<(), brama_sync::Error>(())
/// ```
pub struct BramaLayer<K, C = ByResult> {
    brama: Brama,
    key_fn: Arc<K>,
    classify: C,
    auto_register: bool,
}

impl<K> BramaLayer<K> {
    /// A layer over `brama` that asks `key_fn` which connection each request goes to.
    /// `Ok` counts as a success, `Err` as a failure, until [`classify`](Self::classify)
    /// says otherwise; unknown keys are refused unless
    /// [`auto_register`](Self::auto_register) (or the registry's own setting) says to
    /// register them.
    pub fn new<Req>(brama: Brama, key_fn: K) -> BramaLayer<K>
    where
        K: Fn(&Req) -> KeyBuf,
    {
        BramaLayer {
            brama,
            key_fn: Arc::new(key_fn),
            classify: ByResult,
            auto_register: false,
        }
    }
}

impl<K, C> BramaLayer<K, C> {
    /// Decides how each call's `Result<Response, Error>` is counted: an
    /// [`Outcome`](crate::Outcome) (an `Ok` can be a failure, e.g. an HTTP 503; an `Err` can be
    /// ignored). Cloned into every response future, so keep it small (a closure that
    /// captures nothing is free).
    pub fn classify<C2>(self, classify: C2) -> BramaLayer<K, C2>
    where
        C2: Clone,
    {
        BramaLayer {
            brama: self.brama,
            key_fn: self.key_fn,
            classify,
            auto_register: self.auto_register,
        }
    }

    /// Registers unknown keys on first use, with the registry's defaults, up to the
    /// registry's `max_connections` (unbounded unless the builder set one: set it when
    /// keys come from requests; idle connections are evicted after
    /// `inactive_threshold`). Off by default: then an unknown key is refused
    /// ([`BramaError::Rejected`](super::BramaError::Rejected) with state `Unknown`)
    /// unless the registry was built with `auto_register(true)`.
    pub fn auto_register(mut self, on: bool) -> BramaLayer<K, C> {
        self.auto_register = on;
        self
    }
}

impl<S, K, C: Clone> Layer<S> for BramaLayer<K, C> {
    type Service = BramaService<S, K, C>;

    fn layer(&self, inner: S) -> BramaService<S, K, C> {
        BramaService::new(
            inner,
            self.brama.clone(),
            Arc::clone(&self.key_fn),
            self.classify.clone(),
            self.auto_register,
        )
    }
}

impl<K, C: Clone> Clone for BramaLayer<K, C> {
    fn clone(&self) -> Self {
        BramaLayer {
            brama: self.brama.clone(),
            key_fn: Arc::clone(&self.key_fn),
            classify: self.classify.clone(),
            auto_register: self.auto_register,
        }
    }
}

impl<K, C> fmt::Debug for BramaLayer<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BramaLayer")
            .field("brama", &self.brama)
            .field("auto_register", &self.auto_register)
            .finish_non_exhaustive()
    }
}
