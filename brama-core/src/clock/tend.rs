//! Tending the system clock's cached reading: refreshed by a ticker (the janitor) only
//! while the registry is in use, and read precisely by the hot paths while nobody
//! tends it.
//!
//! The cache holds even readings; bit 0 is the "not used since the last tick" mark.
//!
//! - A **tick** (the ticker, every millisecond while awake) stores a fresh reading with
//!   the mark set, and learns from the value it replaced whether any hot path used the
//!   cache since the previous tick (mark cleared).
//! - A **hot path** that loads an unmarked value uses it as it is (one load). One that
//!   finds the mark, while the ticker is awake, clears it (one `fetch_and`, once per
//!   tick) and uses the reading. While the ticker is **asleep** (or there is none), a
//!   hot path reads the clock precisely, writes nothing, and asks the ticker to wake
//!   (once per sleep): so an expired open circuit is noticed on the next check, however
//!   long the registry was idle, and an idle registry costs no wake-ups but its sweeps.
//! - The ticker **rests** after a tick that found the mark still set (nobody used the
//!   cache for a whole tick): it registers its waker, sets `asleep`, and checks the
//!   mark once more. Its `asleep` store and check, and a hot path's `fetch_and` and
//!   `asleep` load, are `SeqCst`: of a rest and a use racing, at least one sees the
//!   other, so either the ticker stays awake or the hot path reads precisely and wakes
//!   it. The one window is a hot path that cleared the mark just before the ticker's
//!   check: it used a reading at most one tick old, and its own wake request (it sees
//!   `asleep` after its `fetch_and`) brings the ticker back. A hot path that sees
//!   `asleep` after its `fetch_and` puts the mark back (`fetch_or`), so a cleared mark
//!   never outlives the ticker.
//! - The ticker **goes away** (its janitor ends, the last `Brama` dropped or its task
//!   aborted, possibly while awake): `untend` sets `asleep`, then the mark. From then
//!   on every hot path reads the clock precisely, as with no ticker at all: expiry
//!   never waits for a thread that will not come back (issue #20, defect 1).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Waker;

use super::Nanos;

/// Bit 0 of the cache: no hot path has used the reading since the last tick.
pub(super) const UNUSED: Nanos = 1;

/// The ticker's side of one system clock.
#[derive(Debug)]
pub(super) struct Tend {
    /// Nobody is refreshing the cache: hot paths read the clock precisely.
    asleep: AtomicBool,
    /// A hot path has asked the resting ticker to wake since it went to rest.
    wake_asked: AtomicBool,
    /// How to wake the ticker (registered by `rest`).
    waker: Mutex<Option<Waker>>,
}

impl Tend {
    /// No ticker yet: asleep, so every hot-path reading is precise until one ticks.
    pub(super) fn new() -> Tend {
        Tend {
            asleep: AtomicBool::new(true),
            wake_asked: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    /// Stores a tick's reading `t` (even) with the mark into `cache`; returns the reading
    /// now cached (unmarked) and whether a hot path used the cache since the last tick.
    pub(super) fn tick(&self, cache: &AtomicU64, t: Nanos) -> (Nanos, bool) {
        // SeqCst: the ticker is awake from here on (see the module docs).
        self.asleep.store(false, Ordering::SeqCst);
        // SeqCst: the used-mark protocol with `used`'s fetch_and. fetch_max: readings
        // never go back, even with two ticker sharing a clock.
        let prev = cache.fetch_max(t | UNUSED, Ordering::SeqCst);
        ((prev & !UNUSED).max(t), prev & UNUSED == 0)
    }

    /// Stores `t` (even) into `cache` for someone who is not the ticker (a user's
    /// `refresh`): the reading advances, and the mark and `asleep` stay as they were.
    /// A refresh never stands in for a ticker, so while none is awake the hot paths
    /// keep reading precisely and waking it; if a refresh set `asleep` false as a tick
    /// does, the first hot path would clear the mark and every later one would read
    /// that refresh's value for as long as the ticker rests.
    pub(super) fn store_reading(cache: &AtomicU64, t: Nanos) {
        // SeqCst: in the used-mark protocol as a tick's store is (module docs); the
        // mark bit is carried over, never set or cleared here.
        let _ = cache.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |prev| {
            Some((prev & !UNUSED).max(t) | (prev & UNUSED))
        });
    }

    /// Tries to rest: true if the ticker may sleep (nobody used the cache since the
    /// last tick, and anyone who does from now on will call `waker`).
    pub(super) fn rest(&self, cache: &AtomicU64, waker: &Waker) -> bool {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(waker.clone());
        // SeqCst: reset before `asleep` is published, so a hot path that sees `asleep`
        // asks for a wake afresh.
        self.wake_asked.store(false, Ordering::SeqCst);
        // SeqCst: pairs with `used`'s fetch_and and asleep load (module docs).
        self.asleep.store(true, Ordering::SeqCst);
        // SeqCst: as above.
        if cache.load(Ordering::SeqCst) & UNUSED == 0 {
            // Used meanwhile: stay awake.
            // SeqCst: as above.
            self.asleep.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Whether the ticker is asleep (or there is none).
    pub(super) fn asleep(&self) -> bool {
        // SeqCst: as in `rest`.
        self.asleep.load(Ordering::SeqCst)
    }

    /// A hot path found the mark: clears it and returns the reading, or `None` if the
    /// ticker is asleep (the caller then reads precisely and calls `wake`).
    #[inline]
    pub(super) fn used(&self, cache: &AtomicU64) -> Option<Nanos> {
        if self.asleep() {
            return None;
        }
        // SeqCst: the used-mark protocol (module docs).
        let prev = cache.fetch_and(!UNUSED, Ordering::SeqCst);
        if self.asleep() {
            // SeqCst: puts the mark back after a rest or an `untend` came between our
            // loads, so no unmarked reading stays behind with nobody left to tick it.
            cache.fetch_or(UNUSED, Ordering::SeqCst);
            return None;
        }
        Some(prev & !UNUSED)
    }

    /// The ticker is gone (its janitor ended, awake or not): from now on hot paths read
    /// the clock precisely, as if it rested for good.
    pub(super) fn untend(&self, cache: &AtomicU64) {
        // SeqCst: before the mark, so a hot path that finds the mark (or clears it in
        // `used`) then sees `asleep` (pairs with `used`'s loads).
        self.asleep.store(true, Ordering::SeqCst);
        // SeqCst: marks the last reading unused, so no hot path takes it as it is.
        cache.fetch_or(UNUSED, Ordering::SeqCst);
    }

    /// Asks the resting ticker to wake, once per rest.
    pub(super) fn wake(&self) {
        // Relaxed load: a fast "already asked"; the swap decides.
        if self.wake_asked.load(Ordering::Relaxed) {
            return;
        }
        // SeqCst: one asker per rest (reset by `rest` before it publishes `asleep`).
        if self.wake_asked.swap(true, Ordering::SeqCst) {
            return;
        }
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}
