//! Sliding windows of call outcomes for the rate policies (SPEC §8), lock-free.
//!
//! A connection under a rate policy has one [`RateWindow`] in force: the resolved
//! policy, the outcomes of its closed cycle (a [`CountRing`] or [`Buckets`]), and the
//! tally of the current half-open cycle's probes. Reports in `Closed` record into the
//! window without a lock; the tally of probes is written only under the cell's
//! transition lock. A transition that clears the window (a close, entering
//! `HalfOpen`, a reset) clears it in place; a report racing the clear is ordered before
//! it or lands in the new cycle. Windows are never freed while their connection lives
//! (a [`WindowSlot`] owns them), so a report reaches its window with two plain loads
//! and no reference count.
//!
//! Memory, paid only by connections with a rate policy (a test keeps these figures):
//! `count(100)` is 1,096 bytes (100 slots of 8 bytes, the 240-byte `RateWindow` with
//! the policy, the store's header and the probe tally, and the slot's 56-byte home
//! with its list); `time(60 s)` is 296 bytes (its ten buckets live inside the
//! `RateWindow`), and 192 more once a thread that owns a counter lane opens it to quiet
//! successes (the lanes of its quiet count, `buckets/quiet.rs`). A connection under the
//! consecutive policy pays its cell's empty pointer (8 bytes).
//! A connection keeps every window it ever had (one per rate policy it was given, and
//! rarely one more when a clear found a report in flight, `WindowSlot`) until it is
//! removed; a policy given again reuses its window.

mod buckets;
mod ring;
mod slot;

pub use buckets::Buckets;
pub use ring::{CountRing, Fate};
pub use slot::WindowSlot;

use crate::clock::Nanos;
use crate::config::Window;
use crate::policy::{Rate, Tallies};
use crate::sync::{AtomicU64, Ordering};

/// How many times a clear tries to claim a count ring before it gives up.
const CLEAR_TRIES: u32 = 64;

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
            Window::Time(d) if rate.slow.is_some() => Store::Time(Buckets::new(d)),
            Window::Time(d) => Store::Time(Buckets::without_slow_calls(d)),
        };
        RateWindow {
            rate,
            store,
            probes: AtomicU64::new(0),
        }
    }

    /// Records one outcome at `now` and returns the window's tallies after it. A count
    /// window does not try to absorb it: the callers' fast paths did
    /// ([`absorb`](Self::absorb)), and a second try costs a mixed stream its loads.
    #[inline]
    pub fn record(&self, failure: bool, slow: bool, now: Nanos) -> Tallies {
        match &self.store {
            Store::Count(r) => r.record_in_slot(failure, slow).0,
            Store::Time(b) => b.record(failure, slow, now),
        }
    }

    /// [`record`](Self::record), or `None` when a time window holds no failure and no
    /// slow call after it ([`Buckets::record_unless_clean`]): no rate is crossed, so
    /// the caller's verdict is to stay, without the tallies.
    #[inline]
    pub fn record_unless_clean(&self, failure: bool, slow: bool, now: Nanos) -> Option<Tallies> {
        match &self.store {
            Store::Count(r) => Some(r.record_in_slot(failure, slow).0),
            Store::Time(b) => b.record_unless_clean(failure, slow, now),
        }
    }

    /// Whether a plain success would change nothing: a full count window of plain
    /// successes absorbs it ([`CountRing::absorb`]); a time window never does.
    #[inline]
    pub fn absorbs_success(&self) -> bool {
        self.absorb(false, false).is_some()
    }

    /// Absorbs an outcome if a full count window of equal outcomes takes it without a
    /// change ([`CountRing::absorb`]); returns the tallies it left as they were. A time
    /// window never absorbs.
    #[inline]
    pub fn absorb(&self, failure: bool, slow: bool) -> Option<Tallies> {
        match &self.store {
            Store::Count(r) => r.absorb(failure, slow),
            Store::Time(_) => None,
        }
    }

    /// Empties the window and its probe tally in place at `now`, under the cell's
    /// transition lock; `false` (nothing changed) if a count window had a report in
    /// flight throughout a short wait, when the caller puts another window in force.
    pub fn try_clear(&self, now: Nanos) -> bool {
        match &self.store {
            Store::Count(r) => {
                // A report is in flight for a few nanoseconds unless its thread was
                // preempted: a short wait, then give up rather than block.
                let mut tries = 1;
                while !r.try_clear() {
                    if tries == CLEAR_TRIES {
                        return false;
                    }
                    tries += 1;
                    crate::sync::spin_loop();
                }
            }
            Store::Time(b) => b.clear(now),
        }
        self.set_probes(Tallies::default());
        true
    }

    /// The window's tallies at `now`.
    pub fn tallies(&self, now: Nanos) -> Tallies {
        match &self.store {
            Store::Count(r) => r.tallies(),
            Store::Time(b) => b.tallies(now),
        }
    }

    /// The bytes this window takes on the heap: itself and a count window's slots.
    pub fn heap_bytes(&self) -> usize {
        let slots = match &self.store {
            Store::Count(r) => std::mem::size_of::<AtomicU64>() * r.len(),
            Store::Time(b) => b.quiet_heap_bytes(),
        };
        std::mem::size_of::<RateWindow>() + slots
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

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn memory_per_connection_is_as_documented() {
        let bytes = |w: Window| {
            let slot = WindowSlot::new();
            slot.serve(Some(rate(w)), 0, true);
            slot.heap_bytes()
        };
        // The module's documentation and docs/configuration.md give these figures.
        assert_eq!(bytes(Window::count(100)), 1096, "count(100)");
        assert_eq!(
            bytes(Window::time(Duration::from_secs(60))),
            296,
            "time(60s)"
        );
    }

    #[test]
    fn a_window_is_reused_and_cleared_in_place() {
        let slot = WindowSlot::new();
        let r = rate(Window::count(3));
        let first: *const RateWindow = slot.serve(Some(r), 0, true).unwrap();
        slot.get().unwrap().record(true, false, 0);
        // Kept while the policy stays.
        let kept = slot.serve(Some(r), 0, true).unwrap();
        assert!(std::ptr::eq(kept, first));
        assert_eq!(kept.tallies(0).failures, 1);
        // Cleared in place, not replaced.
        let cleared = slot.serve(Some(r), 0, false).unwrap();
        assert!(std::ptr::eq(cleared, first));
        assert_eq!(cleared.tallies(0), Tallies::default());
        // Another policy gets another window; going back reuses the first, empty.
        let other = rate(Window::time(Duration::from_secs(1)));
        slot.serve(Some(other), 0, true);
        slot.get().unwrap().record(true, false, 0);
        assert_eq!(slot.serve(None, 0, true).map(|_| ()), None);
        assert!(slot.get().is_none());
        let back = slot.serve(Some(r), 0, true).unwrap();
        assert!(std::ptr::eq(back, first));
        assert_eq!(slot.windows(), 2);
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
        w.record(true, false, 0);
        assert_eq!(w.tallies(0).calls, 1);
    }
}
