//! [`ResponseFuture`]: carries the permit to the end of the call, frees it if dropped.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use brama_core::{Error, Key};
use pin_project_lite::pin_project;

use super::BramaError;
use crate::call::Classify;
use crate::permit::Permit;

pin_project! {
    /// The future of a [`BramaService`](super::BramaService) call.
    ///
    /// Admitted: it polls the inner service's future, holding the permit; when that
    /// completes, the classifier decides how the result counts, and a panic while
    /// polling counts as a failure and unwinds on. Refused: it resolves to
    /// [`BramaError::Rejected`] at its first poll. Dropped before it completes, it
    /// counts as neither and frees its half-open probe slot. No allocation; `Send`
    /// when the inner future and the classifier are.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        kind: Kind<F, C>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Admitted {
            #[pin]
            fut: F,
            permit: Option<Permit<'static>>,
            classify: C,
        },
        Rejected {
            error: Option<BramaError<Infallible>>,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(super) fn admitted(fut: F, permit: Permit<'static>, classify: C) -> Self {
        ResponseFuture {
            kind: Kind::Admitted {
                fut,
                permit: Some(permit),
                classify,
            },
        }
    }

    #[cold]
    pub(super) fn rejected(key: Key<'_>, error: Error) -> Self {
        ResponseFuture {
            kind: Kind::Rejected {
                error: Some(BramaError::refused(key, error)),
            },
        }
    }
}

/// Reports a failure if the inner future panics while polled (dropped armed during
/// the unwind).
struct OnPanic<'p> {
    permit: &'p mut Option<Permit<'static>>,
    armed: bool,
}

impl Drop for OnPanic<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(p) = self.permit.take() {
                let _ = p.failure_with("panic");
            }
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, BramaError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Admitted {
                fut,
                permit,
                classify,
            } => {
                let mut guard = OnPanic {
                    permit,
                    armed: true,
                };
                let polled = fut.poll(cx);
                guard.armed = false;
                let Poll::Ready(result) = polled else {
                    return Poll::Pending;
                };
                if let Some(p) = guard.permit.as_mut() {
                    // In place, then dropped finished (see `Permit::report`).
                    let _ = p.report(classify.classify(&result));
                    *guard.permit = None;
                }
                Poll::Ready(result.map_err(BramaError::Inner))
            }
            KindProj::Rejected { error } => Poll::Ready(Err(refusal(error))),
        }
    }
}

#[cold]
fn refusal<E>(error: &mut Option<BramaError<Infallible>>) -> BramaError<E> {
    let refused = mem::take(error).map(|e| match e.recast::<E>() {
        Ok(e) => e,
        Err(never) => match never {},
    });
    // Polled again after it resolved: the same refusal, without the details.
    refused.unwrap_or(BramaError::Rejected {
        identifier: String::new(),
        scope: None,
        state: brama_core::State::Unknown,
        retry_after: None,
    })
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Admitted {
                permit: Some(_), ..
            } => "admitted",
            Kind::Admitted { permit: None, .. } => "finished",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
