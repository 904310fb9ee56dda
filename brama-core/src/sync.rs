//! The one place brama-core takes its concurrency primitives from.
//!
//! Normally these are `std`'s; under `--cfg brama_loom` they are loom's, so the code
//! that ships is the code the loom models check (see `loom-tests/`).

#[cfg(not(brama_loom))]
pub(crate) use std::{
    hint::spin_loop,
    sync::{
        atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

#[cfg(brama_loom)]
pub(crate) use loom::{
    hint::spin_loop,
    sync::{
        atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every
/// structure brama guards with a mutex stays consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
