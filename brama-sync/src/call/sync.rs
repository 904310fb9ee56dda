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
            // The report gives no result: `f`'s stands.
            permit.report_in_place(classify(&result));
            result.map_err(CallError::Failed)
        }
        Err(panic) => {
            let _ = permit.failure_with("panic");
            resume_unwind(panic)
        }
    }
}
