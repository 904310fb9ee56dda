//! Removal, handles, eviction, and the snapshots (`Status`, `Counts`) of a connection.

use std::time::Duration;

use super::cell::*;
use crate::circuit::word::Word;
use crate::clock::Nanos;
use crate::context::Context;
use crate::events::{Counts, WakeAfter};
use crate::key::Key;
use crate::rules::{Machine, NEVER};
use crate::state::State;
use crate::status::Status;
use crate::sync::{lock, AtomicU64, MutexGuard, Ordering};

/// The bit of `slot` that says the registry's map took the connection
/// ([`ConnectionCell::mark_entered`]); a slot's index never reaches it. Kept in the slot's
/// word so that the cell spends no byte on it (`the_slot_costs_the_cell_no_bytes`).
#[cfg(not(brama_loom))]
const ENTERED: u64 = 1 << 63;

impl ConnectionCell {
    // ----- removal, handles, eviction ------------------------------------------------

    /// The registry's sweep-list slot of this connection (`u64::MAX` before it has one).
    #[cfg(not(brama_loom))]
    pub(crate) fn slot(&self) -> u64 {
        // Relaxed: written under the sweep list's stripe lock before the connection enters
        // the map; every reader found the connection through the map (whose shard lock
        // orders it after that write) or holds the same stripe lock.
        let slot = self.slot.load(Ordering::Relaxed);
        if slot == u64::MAX {
            slot
        } else {
            slot & !ENTERED
        }
    }

    /// Whether the registry's map took this connection ([`mark_entered`](Self::mark_entered)).
    /// A registration puts its cell in the sweep list before it tries the map, and a
    /// refused one (`AlreadyRegistered`, `CapacityExceeded`) leaves the list again: until
    /// the map took it, a cell in the list is no connection, and the walks skip it.
    /// Once false under the cell's transition lock (which the registration holds from
    /// before the cell enters the list until it was taken or refused), false for good.
    #[cfg(not(brama_loom))]
    #[inline]
    pub(crate) fn is_entered(&self) -> bool {
        // Acquire: pairs with `mark_entered`'s Release, so a walk that sees the
        // connection entered sees it as it was resolved before it entered.
        let slot = self.slot.load(Ordering::Acquire);
        slot != u64::MAX && slot & ENTERED != 0
    }

    /// Under `--cfg brama_loom` the model map's walks see only what the map holds.
    #[cfg(brama_loom)]
    #[inline]
    pub(crate) fn is_entered(&self) -> bool {
        true
    }

    /// Records that the map took this connection: once, under the shard's write lock
    /// that inserts it, after its slot was recorded (so every thread that finds the
    /// connection through the map, or is refused as its duplicate, is ordered after it).
    #[cfg(not(brama_loom))]
    pub(crate) fn mark_entered(&self) {
        debug_assert!(self.slot.load(Ordering::Relaxed) != u64::MAX, "no slot yet");
        // Release: pairs with `is_entered`'s Acquire (see there).
        self.slot.fetch_or(ENTERED, Ordering::Release);
    }

    /// Records the connection's sweep-list slot (under that list's stripe lock).
    #[cfg(not(brama_loom))]
    pub(crate) fn set_slot(&self, slot: u64) {
        // Relaxed: see `slot`.
        self.slot.store(slot, Ordering::Relaxed);
    }

    /// Marks the connection removed (terminal). Exclusive with every state change.
    /// Returns false if it was already removed.
    pub fn mark_removed(&self) -> bool {
        self.mark_removed_if(|| true)
    }

    /// [`mark_removed`](Self::mark_removed) if `still` holds, asked under the
    /// transition lock: after any state change in progress has landed, and before any
    /// other can start. Returns whether this call removed it. Eviction passes its
    /// condition here again, so that a trip racing its first check (a report by key
    /// finishing its transition after leaving the shard lock) keeps the connection.
    pub fn mark_removed_if(&self, still: impl FnOnce() -> bool) -> bool {
        let _guard = self.hold_transitions();
        if !still() {
            return false;
        }
        let mut w = self.word();
        loop {
            if w.removed() {
                return false;
            }
            // AcqRel: every later load of the word sees the removal.
            match self.word.compare_exchange_weak(
                w.0,
                w.with_removed().0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // A report can count on an owned lane without a locked instruction,
                    // and so race this removal unordered, while a handle lives (a
                    // dropped handle's release is Acquired by `handles`) or, with no
                    // handle, through a thread's per-thread cache (`success_unlocked`,
                    // which takes no shard lock; the cache fills only a connection with
                    // lanes) or a time window's quiet count. Reports by key through the
                    // map run under the shard lock the removal holds. Only when a
                    // handle lives or lanes exist does the seal need its heavy fence
                    // (one `membarrier`, under a microsecond on the machine we measure);
                    // a report on the shared lane is exact by its read-modify-write.
                    let racing = self.handles() > 0
                        || self.tally.has_lanes()
                        || self.window.has_quiet_lanes();
                    self.tally.seal(racing);
                    // The time windows' quiet counts, ordered by that seal's fence.
                    self.window.seal_quiet();
                    return true;
                }
                Err(c) => w = Word(c),
            }
        }
    }

    /// Holds the transition lock until the guard drops: meanwhile no state change of this
    /// connection, and so none of its events, can happen. The registry holds it across a
    /// registration and its `Registered` event, and across a `configure` and its
    /// `Configured` event, so that every event of a connection is published in the order
    /// of the changes. The async receivers those events wake are woken once it is
    /// released ([`wake_after`](crate::events::wake_after)): a waker may call into brama.
    pub(crate) fn hold_transitions(&self) -> WakeAfter<MutexGuard<'_, ()>> {
        crate::events::wake_after(lock(&self.transition))
    }

    /// A handle or permit starts referring to this connection.
    pub fn retain_handle(&self) {
        // Relaxed: the increment is ordered for eviction by the map's shard lock, under
        // which both handle creation and the eviction decision run.
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle or permit stops referring to this connection.
    pub fn release_handle(&self) {
        // Release: the handle's reports happen-before an eviction that sees zero.
        self.handles.fetch_sub(1, Ordering::Release);
    }

    /// Live handles and permits.
    pub fn handles(&self) -> u32 {
        // Acquire: pairs with `release_handle`.
        self.handles.load(Ordering::Acquire)
    }

    /// The last activity: registration, a report, a manual action or configuration.
    pub fn last_activity(&self) -> Nanos {
        [
            &self.last_success,
            &self.last_failure,
            &self.touched_at,
            &self.changed_at,
        ]
        .iter()
        // Relaxed: a heuristic input to eviction; the sweep re-checks under the lock.
        .map(|a| a.load(Ordering::Relaxed))
        .filter(|&t| t != NONE)
        .fold(self.registered_at, u64::max)
    }

    /// Whether the janitor may evict this connection at `now`.
    pub fn evictable(&self, now: Nanos, inactive: Nanos) -> bool {
        let w = self.word();
        !w.removed()
            && matches!(w.state(), State::Unknown | State::Closed)
            && self.handles() == 0
            && now.saturating_sub(self.last_activity()) > inactive
            && !self.kept_for_mode(w)
    }

    // ----- side-effect-free reads ----------------------------------------------------

    /// The state a check at `now` would see, changing nothing ([`rules::state_at`]: an
    /// `Open` circuit past its deadline reads `HalfOpen`); `None` if the connection was
    /// removed. One load of the word, and of the deadline when `Open`; no write, no
    /// lock, no probe slot, no counter, no event.
    ///
    /// [`rules::state_at`]: crate::rules::state_at
    #[inline]
    pub fn state_at(&self, now: Nanos) -> Option<State> {
        let w = self.word();
        if w.removed() {
            return None;
        }
        let state = w.state();
        if state != State::Open {
            return Some(state);
        }
        // Relaxed: ordered by the Acquire load of `w` (the deadline is written before
        // the CAS that published `Open`).
        let until = self.deadline.load(Ordering::Relaxed);
        Some(crate::rules::state_at(state, until, now))
    }

    // ----- snapshots -----------------------------------------------------------------

    pub(super) fn counts_with(&self, w: Word) -> Counts {
        let consecutive = match w.state() {
            // Relaxed: a snapshot.
            State::Open | State::HalfOpen => self.frozen.load(Ordering::Relaxed),
            _ => w.consecutive(),
        };
        Counts {
            consecutive_failures: consecutive,
            total_successes: self.tally.sum(SUCCESSES) + self.window.quiet_successes(),
            total_failures: self.tally.sum(FAILURES),
            total_rejected: self.tally.sum(REJECTED),
            // Relaxed: a snapshot.
            trips: self.trips.load(Ordering::Relaxed),
        }
    }

    pub(super) fn counts_of(&self, m: &Machine) -> Counts {
        Counts {
            consecutive_failures: m.consecutive,
            ..self.counts_with(Word(0))
        }
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        self.counts_with(self.word())
    }

    /// A status snapshot.
    pub fn status(&self, cx: &Context) -> Status {
        self.status_at(cx, cx.clock.now(), self.key.as_key())
    }

    /// A snapshot as of `now`, with what the caller already has: a clock reading, and
    /// `key`, which must be this connection's key. Registration passes the time it
    /// registered at (so its `since_state_change` is zero) and the caller's own key, so
    /// that the stored key need not be decoded again.
    pub(crate) fn status_at(&self, cx: &Context, now: Nanos, key: Key<'_>) -> Status {
        debug_assert!(key == self.key.as_key(), "the status of another key");
        let w = self.word();
        let m = self.machine(w);
        let counts = self.counts_with(w);
        // One load for both the overrides and the metadata.
        let extras = self.extras.load();
        let extras = extras.as_deref();
        let config = Self::config_of(cx, key.scope(), extras);
        let open_duration = crate::rules::next_open_duration(&m, &config);
        let opt = |a: &AtomicU64| {
            // Relaxed: a snapshot.
            let t = a.load(Ordering::Relaxed);
            (t != NONE).then(|| cx.wall(t))
        };
        // Relaxed: a snapshot.
        let changed = self.changed_at.load(Ordering::Relaxed);
        let window = self.window_tallies(w, now);
        Status {
            identifier: key.identifier().to_owned(),
            scope: key.scope().map(str::to_owned),
            state: w.state(),
            consecutive_failures: counts.consecutive_failures,
            total_successes: counts.total_successes,
            total_failures: counts.total_failures,
            total_rejected: counts.total_rejected,
            trips: counts.trips,
            registered_at: cx.wall(self.registered_at),
            last_success_at: opt(&self.last_success),
            last_failure_at: opt(&self.last_failure),
            opened_at: opt(&self.opened_at),
            last_state_change_at: cx.wall(changed),
            since_state_change: Duration::from_nanos(now.saturating_sub(changed)),
            open_duration: if open_duration == NEVER {
                Duration::MAX
            } else {
                Duration::from_nanos(open_duration)
            },
            metadata: extras.map(|e| e.metadata.clone()).unwrap_or_default(),
            mode: w.mode(),
            failure_rate: window.failure_rate(),
            slow_call_rate: window.slow_call_rate(),
            window_calls: u64::from(window.calls),
        }
    }

    /// What a status shows of the rate window at `now`: the half-open cycle's probes
    /// while `HalfOpen` (and while `Open` after they re-opened it), else the closed
    /// window; nothing under the consecutive policy.
    pub(crate) fn window_tallies(&self, w: Word, now: Nanos) -> crate::policy::Tallies {
        let Some(win) = self.window.get() else {
            return crate::policy::Tallies::default();
        };
        let probes = win.probes();
        match w.state() {
            State::HalfOpen => probes,
            State::Open if probes.calls > 0 => probes,
            _ => win.tallies(now),
        }
    }
}
