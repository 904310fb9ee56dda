//! The janitor: the sweep on an interval, and the ticks that keep the system clock's
//! cached reading fresh while the registry is in use. It runs on its own thread
//! ([`Janitor::Thread`], the default) or as a task on the user's runtime
//! ([`Brama::janitor_task`](crate::Brama::janitor_task)), or not at all
//! ([`Janitor::Manual`] without a task: `brama.sweep()` by hand).
//!
//! Either way it holds only a `Weak` to the registry, wraps every sweep in
//! `catch_unwind`, and sleeps until the next sweep whenever nobody used the clock's
//! cached reading for a whole tick: an idle registry wakes it once per
//! `cleanup_interval`. The first hot path that reads the clock after that reads it
//! precisely and wakes it (brama-core `clock/tend.rs`), so an expired open circuit is
//! noticed on the next check whether or not the janitor is awake.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_core::engine::{Context, Registry};
use brama_core::Error;

use crate::observe::Observers;

mod task;
mod thread_loop;

pub(crate) use task::task;

/// How often the system clock's cached reading is refreshed while the registry is in
/// use.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Where a [`Brama`](crate::Brama)'s janitor runs (SPEC §9).
///
/// # Examples
/// ```
/// use brama_sync::{Brama, Janitor};
/// // No thread: sweep by hand, or spawn `brama.janitor_task(..)` on your runtime.
/// let brama = Brama::builder().janitor(Janitor::Manual).build()?;
/// let report = brama.sweep();
/// # let _ = report;
/// # Ok::<(), brama_sync::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Janitor {
    /// One thread per `Brama`, `brama-janitor`, joined when the last clone drops.
    #[default]
    Thread,
    /// No thread: the user drives the janitor, with [`Brama::sweep`](crate::Brama::sweep)
    /// or by spawning [`Brama::janitor_task`](crate::Brama::janitor_task) on their
    /// runtime. Without a task, nothing refreshes the system clock's cached reading, so
    /// the hot paths read the clock precisely (a little slower per report).
    Manual,
}

#[derive(Debug, Default)]
struct Signal {
    /// The last `Brama` is gone.
    stop: bool,
    /// A setting changed: re-read the interval.
    changed: bool,
    /// A hot path read the clock while the janitor rested.
    used: bool,
}

impl Signal {
    fn raised(&self) -> bool {
        self.stop || self.changed || self.used
    }
}

/// What the `Brama` side and the janitor (thread or task) share. Its `Wake` is what the
/// clock calls when a hot path finds the janitor resting.
#[derive(Debug)]
pub(crate) struct JanitorShared {
    signal: Mutex<Signal>,
    wake: Condvar,
    /// The janitor task's waker, while it waits.
    task: Mutex<Option<Waker>>,
    /// A janitor task is running (one at a time).
    task_running: AtomicBool,
    sweeps: AtomicU64,
    panics: AtomicU64,
    wakeups: AtomicU64,
    /// The integrations the janitor's rounds feed (features `tracing`, `metrics`,
    /// `admin`; nothing when they are off).
    pub(crate) observers: Observers,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JanitorShared {
    /// The shared state of a janitor over `registry`, its observers made (they may
    /// subscribe to its events, and wake the janitor through a weak reference).
    fn new(registry: &Weak<Registry>) -> Arc<JanitorShared> {
        Arc::new_cyclic(|me| JanitorShared {
            signal: Mutex::default(),
            wake: Condvar::new(),
            task: Mutex::default(),
            task_running: AtomicBool::new(false),
            sweeps: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            observers: Observers::new(registry, me),
        })
    }

    /// Wakes the janitor for a round (an observer has work), without marking the
    /// clock as used.
    #[cfg(any(feature = "tracing", feature = "admin"))]
    pub(crate) fn poke(&self) {
        self.raise(|s| s.changed = true);
    }

    /// Raises `signal` and wakes the thread or the task, with no lock held while
    /// waking the task.
    fn raise(&self, f: impl FnOnce(&mut Signal)) {
        f(&mut lock(&self.signal));
        self.wake.notify_all();
        let task = lock(&self.task).take();
        if let Some(w) = task {
            w.wake();
        }
    }

    /// Takes what was raised: `None` to stop, else whether a hot path woke it.
    fn take(&self) -> Option<bool> {
        let mut s = lock(&self.signal);
        if s.stop {
            return None;
        }
        s.changed = false;
        Some(std::mem::take(&mut s.used))
    }
}

impl Wake for JanitorShared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.raise(|s| s.used = true);
    }
}

/// One janitor's rounds, the same for the thread and the task: whether it is ticking
/// (the registry in use) and when it last swept.
///
/// Dropped when the janitor ends, however it ends (the last `Brama` gone, its task
/// aborted, a panic), it hands the clock back to the hot paths: they read it precisely
/// from then on, so no expiry waits for a tick that will never come.
pub(super) struct Rounds {
    ticking: bool,
    last_sweep: Instant,
    /// The context whose clock this janitor tends: weak, as the registry is (handles
    /// that outlive the registry keep it alive).
    tended: Weak<Context>,
}

impl Drop for Rounds {
    fn drop(&mut self) {
        if let Some(cx) = self.tended.upgrade() {
            cx.untend();
        }
    }
}

impl Rounds {
    /// Starts resting: the clock's reading is untended until a hot path wakes it.
    pub(super) fn start(registry: &Registry, shared: &Arc<JanitorShared>) -> Rounds {
        let mut rounds = Rounds {
            ticking: false,
            last_sweep: Instant::now(),
            tended: Arc::downgrade(registry.context()),
        };
        rounds.rest(registry, shared);
        rounds
    }

    fn rest(&mut self, registry: &Registry, shared: &Arc<JanitorShared>) {
        let waker = Waker::from(Arc::clone(shared));
        self.ticking = !registry.context().rest(&waker);
    }

    /// How long to wait before the next round: one tick while ticking, else until the
    /// next sweep.
    pub(super) fn wait(&self, registry: &Registry) -> Duration {
        let until_sweep = registry
            .cleanup_interval()
            .saturating_sub(self.last_sweep.elapsed());
        if self.ticking && registry.context().clock.needs_refresh() {
            until_sweep.min(TICK)
        } else {
            until_sweep
        }
    }

    /// One round after a wake: a tick while in use (resting after a tick that found no
    /// use), and the sweep when due.
    pub(super) fn run(
        &mut self,
        registry: &Registry,
        woken_by_use: bool,
        shared: &Arc<JanitorShared>,
    ) {
        let cx = registry.context();
        if cx.clock.needs_refresh() && (self.ticking || woken_by_use) {
            let used = cx.refresh();
            self.ticking = true;
            if !used && !woken_by_use {
                self.rest(registry, shared);
            }
        }
        if self.last_sweep.elapsed() >= registry.cleanup_interval() {
            self.last_sweep = Instant::now();
            match catch_unwind(AssertUnwindSafe(|| registry.sweep())) {
                // Relaxed: statistics.
                Ok(_) => shared.sweeps.fetch_add(1, Ordering::Relaxed),
                Err(_) => shared.panics.fetch_add(1, Ordering::Relaxed),
            };
            // The integrations' periodic work (metrics), user code included: caught
            // like the sweep.
            if catch_unwind(AssertUnwindSafe(|| shared.observers.after_sweep(registry))).is_err() {
                // Relaxed: a statistic.
                shared.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Events published since the last round (tracing, the admin page's reasons).
        if catch_unwind(AssertUnwindSafe(|| shared.observers.round(registry))).is_err() {
            // Relaxed: a statistic.
            shared.panics.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the `Brama` side keeps: the mode, and the way to wake and stop the janitor.
#[derive(Debug)]
pub(crate) struct JanitorHandle {
    mode: Janitor,
    pub(crate) shared: Arc<JanitorShared>,
    thread: Option<JoinHandle<()>>,
}

impl JanitorHandle {
    /// Starts the janitor of `mode` over `registry`: the thread `brama-janitor`, or
    /// nothing until a task is spawned.
    pub(crate) fn start(mode: Janitor, registry: Weak<Registry>) -> Result<JanitorHandle, Error> {
        let shared = JanitorShared::new(&registry);
        let thread = match mode {
            Janitor::Thread => {
                let theirs = Arc::clone(&shared);
                let t = thread::Builder::new()
                    .name("brama-janitor".into())
                    .spawn(move || thread_loop::run(&theirs, &registry))
                    .map_err(|e| Error::Spawn {
                        reason: e.to_string(),
                    })?;
                Some(t)
            }
            Janitor::Manual => None,
        };
        Ok(JanitorHandle {
            mode,
            shared,
            thread,
        })
    }

    /// A janitor without a thread (when none could be spawned): sweeps run only by hand
    /// or in a task.
    pub(crate) fn idle(registry: &Weak<Registry>) -> JanitorHandle {
        JanitorHandle {
            mode: Janitor::Manual,
            shared: JanitorShared::new(registry),
            thread: None,
        }
    }

    pub(crate) fn mode(&self) -> Janitor {
        self.mode
    }

    /// Wakes the janitor to re-read its interval.
    pub(crate) fn wake(&self) {
        self.shared.raise(|s| s.changed = true);
    }

    pub(crate) fn sweeps(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.sweeps.load(Ordering::Relaxed)
    }

    pub(crate) fn panics(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.panics.load(Ordering::Relaxed)
    }

    pub(crate) fn wakeups(&self) -> u64 {
        // Relaxed: a statistic.
        self.shared.wakeups.load(Ordering::Relaxed)
    }
}

impl Drop for JanitorHandle {
    fn drop(&mut self) {
        self.shared.raise(|s| s.stop = true);
        if let Some(t) = self.thread.take() {
            // Never a self-join: the janitor holds no JanitorHandle (only a Weak registry).
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}
