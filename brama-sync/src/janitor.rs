//! The janitor: one background thread per `Brama` that runs the sweep on an interval
//! and keeps the system clock's cached reading fresh.
//!
//! It holds only a `Weak` to the registry, sleeps on a condvar (so a shutdown or a new
//! interval wakes it at once), wraps every sweep in `catch_unwind`, and is joined by the
//! last `Brama` clone's drop. It never joins itself: it holds no `Brama`, so the last one
//! can never be dropped on its thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_core::engine::Registry;
use brama_core::Error;

/// How often the system clock's cached reading is refreshed.
pub(crate) const CLOCK_REFRESH: Duration = Duration::from_millis(1);

#[derive(Debug, Default)]
struct Signal {
    stop: bool,
    changed: bool,
}

/// What the `Brama` side keeps: the way to wake and stop the thread.
#[derive(Debug)]
pub(crate) struct Janitor {
    shared: Arc<JanitorShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
pub(crate) struct JanitorShared {
    signal: Mutex<Signal>,
    wake: Condvar,
    sweeps: AtomicU64,
    panics: AtomicU64,
}

fn lock(m: &Mutex<Signal>) -> MutexGuard<'_, Signal> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Janitor {
    /// Starts the thread `brama-janitor` over `registry`.
    pub(crate) fn start(registry: Weak<Registry>) -> Result<Janitor, Error> {
        let shared = Arc::new(JanitorShared::default());
        let theirs = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("brama-janitor".into())
            .spawn(move || run(&theirs, &registry))
            .map_err(|e| Error::Spawn {
                reason: e.to_string(),
            })?;
        Ok(Janitor {
            shared,
            thread: Some(thread),
        })
    }

    /// A janitor without a thread (when none could be spawned): sweeps run only by hand.
    pub(crate) fn idle() -> Janitor {
        Janitor {
            shared: Arc::new(JanitorShared::default()),
            thread: None,
        }
    }

    /// Wakes the thread to re-read its interval.
    pub(crate) fn wake(&self) {
        lock(&self.shared.signal).changed = true;
        self.shared.wake.notify_all();
    }

    pub(crate) fn sweeps(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.sweeps.load(Ordering::Relaxed)
    }

    pub(crate) fn panics(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.panics.load(Ordering::Relaxed)
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        lock(&self.shared.signal).stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            // Never a self-join: the janitor holds no Janitor (only a Weak registry).
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

fn run(shared: &JanitorShared, registry: &Weak<Registry>) {
    let mut last_sweep = Instant::now();
    loop {
        let (interval, ticking) = match registry.upgrade() {
            Some(r) => (r.cleanup_interval(), r.context().clock.needs_refresh()),
            None => return,
        };
        let until_sweep = interval.saturating_sub(last_sweep.elapsed());
        let wait = if ticking {
            until_sweep.min(CLOCK_REFRESH)
        } else {
            until_sweep
        };
        {
            let mut signal = lock(&shared.signal);
            if !signal.stop && !signal.changed && !wait.is_zero() {
                signal = shared
                    .wake
                    .wait_timeout(signal, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if signal.stop {
                return;
            }
            signal.changed = false;
        }
        // A temporary strong reference for this round only.
        let Some(registry) = registry.upgrade() else {
            return;
        };
        registry.context().refresh();
        if last_sweep.elapsed() >= registry.cleanup_interval() {
            last_sweep = Instant::now();
            match catch_unwind(AssertUnwindSafe(|| registry.sweep())) {
                // Relaxed: statistics.
                Ok(_) => shared.sweeps.fetch_add(1, Ordering::Relaxed),
                Err(_) => shared.panics.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}
