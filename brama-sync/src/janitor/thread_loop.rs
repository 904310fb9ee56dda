//! The janitor thread's loop: wait on the condvar (a tick, the next sweep, or a
//! signal), then one round.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use brama_core::engine::Registry;

use super::{lock, JanitorShared, Rounds};

pub(super) fn run(shared: &Arc<JanitorShared>, registry: &Weak<Registry>) {
    let mut rounds = match registry.upgrade() {
        Some(r) => Rounds::start(&r, shared),
        None => return,
    };
    loop {
        let wait = match registry.upgrade() {
            Some(r) => rounds.wait(&r),
            None => return,
        };
        {
            let signal = lock(&shared.signal);
            if !signal.raised() && !wait.is_zero() {
                // Spurious wake-ups are taken as a round like any other.
                drop(
                    shared
                        .wake
                        .wait_timeout(signal, wait)
                        .unwrap_or_else(|p| p.into_inner()),
                );
            }
        }
        let Some(woken_by_use) = shared.take() else {
            return;
        };
        // Relaxed: a statistic.
        shared.wakeups.fetch_add(1, Ordering::Relaxed);
        // A temporary strong reference for this round only.
        let Some(registry) = registry.upgrade() else {
            return;
        };
        rounds.run(&registry, woken_by_use, shared);
    }
}
