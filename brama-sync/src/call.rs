//! Call wrappers: run a closure or a future through a circuit.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use brama_core::Error;

use crate::permit::Permit;

/// Why a wrapped call did not produce a value.
#[derive(Debug)]
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

/// How [`call_with`](crate::Brama::call_with) counts a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Classification {
    /// Count as a success.
    Success,
    /// Count as a failure.
    Failure,
    /// Count as neither (e.g. a client error that says nothing about the dependency).
    Ignore,
}

/// The default classifier: `Ok` is a success, `Err` a failure.
pub(crate) fn by_result<T, E>(r: &Result<T, E>) -> Classification {
    if r.is_ok() {
        Classification::Success
    } else {
        Classification::Failure
    }
}

fn settle(permit: Permit<'_>, class: Classification) {
    // A report can only fail with NotFound (unregistered meanwhile); the caller's result
    // stands either way.
    let _ = match class {
        Classification::Success => permit.success(),
        Classification::Failure => permit.failure(),
        Classification::Ignore => {
            permit.ignore();
            Ok(())
        }
    };
}

/// Runs `f` under `permit`: classifies its result, counts a panic as a failure and
/// resumes it.
pub(crate) fn run<T, E, F, C>(permit: Permit<'_>, classify: C, f: F) -> Result<T, CallError<E>>
where
    F: FnOnce() -> Result<T, E>,
    C: FnOnce(&Result<T, E>) -> Classification,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => {
            settle(permit, classify(&result));
            result.map_err(CallError::Failed)
        }
        Err(panic) => {
            let _ = permit.failure_with("panic");
            resume_unwind(panic)
        }
    }
}

/// A future wrapped by [`call_async`](crate::Brama::call_async).
#[must_use = "futures do nothing unless polled"]
pub struct CallFuture<F> {
    state: Option<Admission<F>>,
}

enum Admission<F> {
    Admitted(Permit<'static>, Pin<Box<F>>),
    Rejected(Error),
}

impl<F> CallFuture<F> {
    pub(crate) fn new(permit: Result<Permit<'static>, Error>, fut: F) -> CallFuture<F> {
        let state = match permit {
            Ok(p) => Admission::Admitted(p, Box::pin(fut)),
            Err(e) => Admission::Rejected(e),
        };
        CallFuture { state: Some(state) }
    }
}

impl<T, E, F> Future for CallFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, CallError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        // CallFuture is Unpin: the inner future is boxed.
        let this = self.get_mut();
        match this.state.take() {
            None => Poll::Ready(Err(CallError::Rejected(Error::NotFound))),
            Some(Admission::Rejected(e)) => Poll::Ready(Err(CallError::Rejected(e))),
            Some(Admission::Admitted(permit, mut fut)) => {
                match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => {
                        this.state = Some(Admission::Admitted(permit, fut));
                        Poll::Pending
                    }
                    Ok(Poll::Ready(result)) => {
                        settle(permit, by_result(&result));
                        Poll::Ready(result.map_err(CallError::Failed))
                    }
                    Err(panic) => {
                        let _ = permit.failure_with("panic");
                        resume_unwind(panic)
                    }
                }
            }
        }
    }
}

impl<F> fmt::Debug for CallFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            None => "finished",
            Some(Admission::Admitted(..)) => "admitted",
            Some(Admission::Rejected(_)) => "rejected",
        };
        f.debug_struct("CallFuture").field("state", &state).finish()
    }
}
