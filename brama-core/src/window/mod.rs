//! Sliding windows of call outcomes for the rate policies (SPEC §8), lock-free.
//!
//! A connection under a rate policy owns one [`RateWindow`]: the resolved policy, the
//! outcomes of its closed cycle (a [`CountRing`] or [`Buckets`]), and the tally of the
//! current half-open cycle's probes. Reports in `Closed` record into the window without
//! a lock; the tally of probes is written only under the cell's transition lock. A
//! transition that clears the window (a close, entering `HalfOpen`, a reset, a new
//! policy) installs a new `RateWindow`; a report racing it records into the old one,
//! which is dropped with its last reader.
//!
//! Memory, paid only by connections with a rate policy (a test keeps these figures):
//! `count(100)` is 1,008 bytes (100 slots of 8 bytes, the 192-byte `RateWindow` with
//! the policy, the store's header and the probe tally, and the `Arc`'s 16); `time(60 s)`
//! is 208 bytes (its ten buckets live inside the `RateWindow`). A connection under the
//! consecutive policy pays its cell's empty pointer (8 bytes).

mod buckets;
mod ring;

pub use buckets::Buckets;
pub use ring::CountRing;

use crate::clock::Nanos;
use crate::config::Window;
use crate::policy::{Rate, Tallies};
use crate::sync::{AtomicU64, Ordering};

/// The window store of one policy.
#[derive(Debug)]
pub enum Store {
    /// The last `n` calls.
    Count(CountRing),
    /// The calls of the last `d`.
    Time(Buckets),
}

/// One connection's rate window: its policy, its outcomes, its probes' tally.
#[derive(Debug)]
pub struct RateWindow {
    /// The resolved policy this window serves.
    pub rate: Rate,
    store: Store,
    // The current half-open cycle's probe outcomes, packed as `Tallies`; written under
    // the transition lock only.
    probes: AtomicU64,
}

impl RateWindow {
    /// An empty window for `rate`.
    pub fn new(rate: Rate) -> RateWindow {
        let store = match rate.window {
            Window::Count(n) => Store::Count(CountRing::new(n)),
            Window::Time(d) => Store::Time(Buckets::new(d)),
        };
        RateWindow {
            rate,
            store,
            probes: AtomicU64::new(0),
        }
    }

    /// Records one outcome at `now` and returns the window's tallies after it.
    #[inline]
    pub fn record(&self, failure: bool, slow: bool, now: Nanos) -> Tallies {
        match &self.store {
            Store::Count(r) => r.record(failure, slow),
            Store::Time(b) => b.record(failure, slow, now),
        }
    }

    /// The window's tallies at `now`.
    pub fn tallies(&self, now: Nanos) -> Tallies {
        match &self.store {
            Store::Count(r) => r.tallies(),
            Store::Time(b) => b.tallies(now),
        }
    }

    /// Outcomes recorded since the window was made (in it or evicted from it).
    pub fn recorded(&self) -> u64 {
        match &self.store {
            Store::Count(r) => r.recorded(),
            Store::Time(b) => b.recorded(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The current half-open cycle's probe tally.
    pub fn probes(&self) -> Tallies {
        // Acquire: pairs with the Release store under the transition lock.
        Tallies::unpack(self.probes.load(Ordering::Acquire))
    }

    /// Sets the probe tally (under the transition lock).
    pub fn set_probes(&self, t: Tallies) {
        // Release: a status read after it sees the tally whole.
        self.probes.store(t.pack(), Ordering::Release);
    }
}

#[cfg(all(test, not(brama_loom)))]
mod tests {
    use super::*;
    use crate::config::{TripPolicy, Window};
    use crate::policy::Policy;
    use std::time::Duration;

    fn rate(w: Window) -> Rate {
        let cfg = crate::config::Config {
            trip_policy: Some(TripPolicy::failure_rate(0.5).window(w)),
            ..crate::config::Config::default()
        };
        match cfg.policy() {
            Policy::Rate(r) => r,
            Policy::Consecutive(_) => unreachable!(),
        }
    }

    /// The bytes a connection pays for its window, as the module documents them: the
    /// `Arc`'s two counts, the header, and a count window's slots.
    fn bytes(w: &RateWindow) -> usize {
        let slots = match w.store() {
            Store::Count(r) => 8 * r.len(),
            Store::Time(_) => 0,
        };
        16 + std::mem::size_of::<RateWindow>() + slots
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn memory_per_connection_is_as_documented() {
        let count = RateWindow::new(rate(Window::count(100)));
        let time = RateWindow::new(rate(Window::time(Duration::from_secs(60))));
        // The module's documentation and docs/configuration.md give these figures.
        assert_eq!(bytes(&count), 1008, "count(100)");
        assert_eq!(bytes(&time), 208, "time(60s)");
    }

    #[test]
    fn probe_tally_is_kept_whole() {
        let w = RateWindow::new(rate(Window::count(3)));
        let t = Tallies {
            calls: 3,
            failures: 2,
            slow: 1,
        };
        w.set_probes(t);
        assert_eq!(w.probes(), t);
        assert_eq!(w.recorded(), 0);
        w.record(true, false, 0);
        assert_eq!(w.tallies(0).calls, 1);
    }
}
