//! [`BramaService`]: decides, per request, whether the call is made.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use brama_core::{Error, Options};
use tower_service::Service;

use super::free::Free;
use super::future::ResponseFuture;
use super::BramaError;
use crate::brama::Brama;
use crate::call::Classify;
use crate::keybuf::KeyBuf;
use crate::permit::Permit;

/// The service a [`BramaLayer`](super::BramaLayer) builds: `poll_ready` forwards the
/// inner service's readiness; `call` picks the request's connection, asks its circuit
/// for a permit, and calls the inner service only if admitted (see the
/// [module docs](super) for why the check is in `call`).
pub struct BramaService<S, K, C> {
    inner: S,
    brama: Brama,
    key_fn: Arc<K>,
    classify: C,
    auto_register: bool,
}

impl<S, K, C> BramaService<S, K, C> {
    pub(super) fn new(
        inner: S,
        brama: Brama,
        key_fn: Arc<K>,
        classify: C,
        auto_register: bool,
    ) -> Self {
        // A call admitted without holding the registry finds it by its id.
        super::registries::remember(brama.reg());
        BramaService {
            inner,
            brama,
            key_fn,
            classify,
            auto_register,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// A permit for `key`, registering the key first if it is unknown and the layer
    /// was told to.
    fn admit(&self, key: &KeyBuf) -> Result<Permit<'static>, Error> {
        match self.brama.acquire(key) {
            Err(Error::NotFound { .. }) if self.auto_register => {
                match self.brama.register(key, Options::new()) {
                    // Registered here, or by a concurrent request: either way it exists.
                    Ok(_) | Err(Error::AlreadyRegistered) => self.brama.acquire(key),
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }
}

impl<S, K, C, Req> Service<Req> for BramaService<S, K, C>
where
    S: Service<Req>,
    K: Fn(&Req) -> KeyBuf,
    C: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BramaError<S::Error>;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BramaError::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let key = (self.key_fn)(&req);
        // A circuit that admits freely admits with no permit: one load of its word,
        // on the cell this thread's cache holds (or under the shard's read lock), and
        // where it was found and the cycle kept for the report (see `Free`). A probe, a refusal, a timed call,
        // a mode, an unknown key: a permit.
        let reg = self.brama.reg();
        let free = reg.peek(key.as_key(), true, |cell| match cell.acquire_free() {
            Some((ticket, false)) => Some(ticket.gen),
            _ => None,
        });
        if let Some((gen, spot)) = free {
            drop(key);
            let free = Free::new(reg, spot, gen);
            return ResponseFuture::free(self.inner.call(req), free, self.classify.clone());
        }
        match self.admit(&key) {
            Ok(permit) => {
                ResponseFuture::admitted(self.inner.call(req), permit, self.classify.clone())
            }
            Err(e) => ResponseFuture::rejected(key.as_key(), e),
        }
    }
}

impl<S: Clone, K, C: Clone> Clone for BramaService<S, K, C> {
    fn clone(&self) -> Self {
        BramaService {
            inner: self.inner.clone(),
            brama: self.brama.clone(),
            key_fn: Arc::clone(&self.key_fn),
            classify: self.classify.clone(),
            auto_register: self.auto_register,
        }
    }
}

impl<S: fmt::Debug, K, C> fmt::Debug for BramaService<S, K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BramaService")
            .field("inner", &self.inner)
            .field("auto_register", &self.auto_register)
            .finish_non_exhaustive()
    }
}
