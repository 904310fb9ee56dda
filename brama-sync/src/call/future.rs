//! [`CallFuture`]: a future run under a permit, with no allocation of its own.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use brama_core::Error;
use pin_project_lite::pin_project;

use super::{ByResult, CallError, Classify};
use crate::permit::Permit;

pin_project! {
    /// A future wrapped by [`Brama::call_async`](crate::Brama::call_async),
    /// [`Connection::call_async`](crate::Connection::call_async) or their `_with`
    /// forms.
    ///
    /// The permit is asked for when the future is made: an admitted call holds it (and
    /// a half-open probe slot, if it is a probe) until it completes; a refused one
    /// resolves to [`CallError::Rejected`] at its first poll without polling the inner
    /// future. On completion the classifier decides success, failure or neither; a
    /// panic while polling counts as a failure and unwinds on. Dropped before it
    /// completes, it counts as neither and frees its probe slot.
    ///
    /// The inner future is stored in place (no `Box`, no allocation); `CallFuture` is
    /// `Send` when the inner future and the classifier are, and `Unpin` when the inner
    /// future is. `'a` is the borrowed [`Connection`](crate::Connection)'s lifetime
    /// (`'static` for the by-key forms, which own their handle).
    #[must_use = "futures do nothing unless polled"]
    pub struct CallFuture<'a, F, C = ByResult> {
        #[pin]
        fut: F,
        state: Admission<'a, C>,
    }
}

/// What a [`CallFuture`] holds besides the inner future.
enum Admission<'a, C> {
    /// Admitted: the permit to report on and the classifier to ask.
    Admitted { permit: Permit<'a>, classify: C },
    /// Refused: the error the first poll returns.
    Rejected(Error),
    /// Finished (or it panicked).
    Done,
}

impl<'a, F, C> CallFuture<'a, F, C> {
    pub(crate) fn new(permit: Result<Permit<'a>, Error>, classify: C, fut: F) -> Self {
        let state = match permit {
            Ok(permit) => Admission::Admitted { permit, classify },
            Err(e) => Admission::Rejected(e),
        };
        CallFuture { fut, state }
    }

    /// Whether the call was admitted and has not finished yet.
    pub fn is_admitted(&self) -> bool {
        matches!(self.state, Admission::Admitted { .. })
    }
}

/// Reports a failure if the inner future panics while polled: dropped armed during the
/// unwind. Zero-cost on the normal path (a landing pad, no `catch_unwind` frame).
struct OnPanic<'s, 'a, C> {
    state: &'s mut Admission<'a, C>,
    armed: bool,
}

impl<C> Drop for OnPanic<'_, '_, C> {
    fn drop(&mut self) {
        if self.armed {
            if let Admission::Admitted { permit, .. } = mem::replace(self.state, Admission::Done) {
                let _ = permit.failure_with("panic");
            }
        }
    }
}

impl<T, E, F, C> Future for CallFuture<'_, F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, CallError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !matches!(this.state, Admission::Admitted { .. }) {
            return Poll::Ready(Err(CallError::Rejected(refusal(this.state))));
        }
        let mut guard = OnPanic {
            state: this.state,
            armed: true,
        };
        let polled = this.fut.poll(cx);
        guard.armed = false;
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        if let Admission::Admitted { permit, classify } = &mut *guard.state {
            permit.report_in_place(classify.classify(&result));
        }
        // The finished permit's drop does nothing.
        *guard.state = Admission::Done;
        Poll::Ready(result.map_err(CallError::Failed))
    }
}

/// The error a refused (or finished) call resolves to; leaves `Done` behind.
#[cold]
fn refusal<C>(state: &mut Admission<'_, C>) -> Error {
    match mem::replace(state, Admission::Done) {
        Admission::Rejected(e) => e,
        // Polled again after it finished: there is no result left to give, and the
        // permit (with its key) is gone; as the tower future does, the same kind of
        // answer without the details.
        _ => Error::NotFound {
            identifier: String::new(),
            scope: None,
        },
    }
}

impl<F, C> fmt::Debug for CallFuture<'_, F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            Admission::Admitted { .. } => "admitted",
            Admission::Rejected(_) => "rejected",
            Admission::Done => "finished",
        };
        f.debug_struct("CallFuture").field("state", &state).finish()
    }
}
