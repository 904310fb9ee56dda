//! [`ResponseFuture`]: carries the permit to the end of the call, frees it if dropped.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use brama_core::{Error, Key, State};
use pin_project_lite::pin_project;

use super::free::Free;
use super::BramaError;
use crate::call::{Classify, Outcome};
use crate::permit::Permit;

pin_project! {
    /// The future of a [`BramaService`](super::BramaService) call.
    ///
    /// Admitted: it polls the inner service's future, holding the permit (or, on a
    /// healthy circuit, where the connection was found and the admission's cycle: see
    /// [`BramaService`](super::BramaService)); when that completes, the classifier
    /// decides how the result counts, and a panic while polling counts as a failure and
    /// unwinds on. Refused: it resolves to
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
        // Admitted with no permit, on a circuit that admitted freely.
        Free {
            #[pin]
            fut: F,
            free: Option<Free>,
            classify: C,
        },
        Rejected {
            refusal: Option<Refusal>,
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

    #[inline]
    pub(super) fn free(fut: F, free: Free, classify: C) -> Self {
        ResponseFuture {
            kind: Kind::Free {
                fut,
                free: Some(free),
                classify,
            },
        }
    }

    #[cold]
    pub(super) fn rejected(key: Key<'_>, error: Error) -> Self {
        let refusal = match BramaError::<Infallible>::refused(key, error) {
            BramaError::Rejected {
                identifier,
                scope,
                state,
                retry_after,
            } => Refusal {
                // No copy: a string made to its length boxes in place.
                identifier: identifier.into_boxed_str(),
                scope: scope.map(String::into_boxed_str),
                retry_after: retry_after.map_or(NO_RETRY, |d| {
                    u64::try_from(d.as_nanos()).map_or(NO_RETRY - 1, |n| n.min(NO_RETRY - 1))
                }),
                state,
            },
            BramaError::Inner(never) => match never {},
        };
        ResponseFuture {
            kind: Kind::Rejected {
                refusal: Some(refusal),
            },
        }
    }
}

/// What an admitted call reports on: its permit, or its free admission.
trait Report {
    /// Reports `outcome`; a finished call reports nothing more.
    fn report(&mut self, outcome: Outcome);
    /// Reports the failure of a call whose future panicked.
    fn panicked(self);
}

impl Report for Permit<'static> {
    #[inline]
    fn report(&mut self, outcome: Outcome) {
        // In place, then dropped finished (see `Permit::report`).
        let _ = Permit::report(self, outcome);
    }

    fn panicked(self) {
        let _ = self.failure_with("panic");
    }
}

impl Report for Free {
    #[inline]
    fn report(&mut self, outcome: Outcome) {
        Free::report(self, outcome, None);
    }

    fn panicked(self) {
        Free::report(&self, Outcome::Failure, Some("panic"));
    }
}

/// Reports a failure if the inner future panics while polled (dropped armed during
/// the unwind).
struct OnPanic<'p, P: Report> {
    admitted: &'p mut Option<P>,
    armed: bool,
}

impl<P: Report> Drop for OnPanic<'_, P> {
    fn drop(&mut self) {
        if self.armed {
            if let Some(p) = self.admitted.take() {
                p.panicked();
            }
        }
    }
}

/// Polls an admitted call's future; when it completes, reports the outcome the
/// classifier gives and leaves `admitted` empty.
#[inline]
fn poll_admitted<F, C, T, E, P>(
    fut: Pin<&mut F>,
    admitted: &mut Option<P>,
    classify: &C,
    cx: &mut Context<'_>,
) -> Poll<Result<T, BramaError<E>>>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
    P: Report,
{
    let mut guard = OnPanic {
        admitted,
        armed: true,
    };
    let polled = fut.poll(cx);
    guard.armed = false;
    let Poll::Ready(result) = polled else {
        return Poll::Pending;
    };
    if let Some(p) = guard.admitted.as_mut() {
        p.report(classify.classify(&result));
        *guard.admitted = None;
    }
    Poll::Ready(result.map_err(BramaError::Inner))
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
            } => poll_admitted(fut, permit, classify, cx),
            KindProj::Free {
                fut,
                free,
                classify,
            } => poll_admitted(fut, free, classify, cx),
            KindProj::Rejected { refusal } => Poll::Ready(Err(refused(refusal))),
        }
    }
}

/// A refusal as the future keeps it until its first poll: the rejection's fields in
/// 48 bytes rather than a `BramaError`'s 72, so that the future (as large as its
/// largest variant) is copied in fewer pieces each time it is moved (`call`'s result
/// into the awaiting future's state: perf annotate of the tower benchmark).
struct Refusal {
    identifier: Box<str>,
    scope: Option<Box<str>>,
    /// `retry_after` in nanoseconds, [`NO_RETRY`] for `None`. (The circuit reports it
    /// in nanoseconds, so it fits.)
    retry_after: u64,
    state: State,
}

/// `Refusal::retry_after` when there is none.
const NO_RETRY: u64 = u64::MAX;

#[cold]
fn refused<E>(refusal: &mut Option<Refusal>) -> BramaError<E> {
    match mem::take(refusal) {
        Some(r) => BramaError::Rejected {
            identifier: r.identifier.into_string(),
            scope: r.scope.map(str::into_string),
            state: r.state,
            retry_after: (r.retry_after != NO_RETRY).then(|| Duration::from_nanos(r.retry_after)),
        },
        // Polled again after it resolved: the same refusal, without the details.
        None => BramaError::Rejected {
            identifier: String::new(),
            scope: None,
            state: State::Unknown,
            retry_after: None,
        },
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Admitted {
                permit: Some(_), ..
            } => "admitted",
            Kind::Free { free: Some(_), .. } => "admitted",
            Kind::Admitted { permit: None, .. } | Kind::Free { free: None, .. } => "finished",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Ready;

    /// The refusal keeps the future no larger than an admission with a permit and the
    /// variant's tag (a `BramaError` would make it 72 bytes).
    #[test]
    fn a_refusal_is_no_larger_than_an_admission() {
        type Admitted = (Ready<Result<u32, ()>>, Option<Permit<'static>>);
        assert!(mem::size_of::<Option<Refusal>>() <= mem::size_of::<Admitted>());
        let future = mem::size_of::<ResponseFuture<Ready<Result<u32, ()>>, crate::ByResult>>();
        assert!(future <= mem::size_of::<Admitted>() + 8, "{future} bytes");
    }
}
