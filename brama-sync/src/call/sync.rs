//! `call` and `call_with`: run a closure under a permit.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::{CallError, Outcome};
use crate::permit::Permit;

/// Runs `f` under `permit`: classifies its result, counts a panic as a failure and
/// resumes it.
pub(crate) fn run<T, E, F, C>(mut permit: Permit<'_>, classify: C, f: F) -> Result<T, CallError<E>>
where
    F: FnOnce() -> Result<T, E>,
    C: FnOnce(&Result<T, E>) -> Outcome,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => {
            // Only `NotFound` can come back (unregistered meanwhile): the result stands.
            let _ = permit.report(classify(&result));
            result.map_err(CallError::Failed)
        }
        Err(panic) => {
            let _ = permit.failure_with("panic");
            resume_unwind(panic)
        }
    }
}
