//! One connection's part in the operations of SPEC §11: a scope operation's manual
//! action, and taking and restoring its snapshot.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::cell::*;
use crate::circuit::word::Word;
use crate::clock::{nanos, Nanos, CLOCK_MAX};
use crate::config::Options;
use crate::context::Context;
use crate::error::Error;
use crate::rules::{next_gen, Change, Input, Machine, NEVER};
use crate::snapshot::ConnectionSnapshot;
use crate::state::{Cause, State};
use crate::sync::Ordering;

/// A snapshot's times on a restoring registry's clock: each at the same distance
/// before the restore as it was before the snapshot was taken (saturating at the
/// clock's zero).
#[derive(Clone, Copy, Debug)]
pub struct Rebase {
    /// When the snapshot was taken (its wall clock).
    pub taken_at: SystemTime,
    /// The restoring registry's clock reading of the restore.
    pub now: Nanos,
}

impl Rebase {
    /// Where `t` falls on the restoring clock.
    pub fn at(&self, t: SystemTime) -> Nanos {
        let before = self.taken_at.duration_since(t).unwrap_or(Duration::ZERO);
        self.now.saturating_sub(nanos(before))
    }
}

impl ConnectionCell {
    /// Replaces this connection's own overrides and its metadata (a restore), under
    /// the transition lock the caller holds; its layers are the caller's to resolve
    /// again.
    pub fn replace_extras(&self, overrides: &Options, metadata: BTreeMap<String, String>) {
        self.set_scalar_overrides(overrides);
        self.extras
            .store(Extras::of(overrides.without_metadata(), metadata));
    }

    /// A manual action (`Input::Open`, `Close` or `Reset`) on behalf of a scope
    /// operation: as `open`/`close`/`reset`, its state change reported with
    /// [`Cause::Scope`].
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    pub fn act_for_scope(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let (_, _, now) = self.locked_as(cx, input, reason, Some(Cause::Scope))?;
        self.touch(now);
        Ok(())
    }

    /// This connection as a snapshot holds it at `now`, read under its transition lock
    /// so that state, step, deadline and the tripping count belong together; `None` if
    /// it was removed.
    pub fn capture(&self, cx: &Context, now: Nanos) -> Option<ConnectionSnapshot> {
        let _held = self.hold_transitions();
        let w = self.word();
        if w.removed() {
            return None;
        }
        let m = self.machine(w);
        let counts = self.counts_with(w);
        let extras = self.extras.load();
        let extras = extras.as_deref();
        let wall = |t: Nanos| cx.wall(t);
        // Relaxed: snapshots, read under the transition lock that orders every writer
        // of a state change before it.
        let opt = |a: &crate::sync::AtomicU64| {
            let t = a.load(Ordering::Relaxed);
            (t != NONE).then(|| wall(t))
        };
        let endless = |t: Nanos| {
            if t == NEVER {
                Duration::MAX
            } else {
                Duration::from_nanos(t)
            }
        };
        let open = m.state == State::Open;
        let key = self.key.as_key();
        Some(ConnectionSnapshot {
            identifier: key.identifier().to_owned(),
            scope: key.scope().map(str::to_owned),
            overrides: extras
                .map(|e| &e.overrides)
                .filter(|o| !o.is_empty())
                .map(|o| Box::new(o.clone())),
            metadata: extras.map(|e| e.metadata.clone()).unwrap_or_default(),
            state: m.state,
            consecutive_failures: m.consecutive,
            backoff_step: m.step,
            total_successes: counts.total_successes,
            total_failures: counts.total_failures,
            total_rejected: counts.total_rejected,
            trips: counts.trips,
            open_remaining: open.then(|| match m.open_until {
                NEVER => Duration::MAX,
                until => Duration::from_nanos(until.saturating_sub(now)),
            }),
            open_duration: open.then(|| endless(m.open_duration)),
            registered_at: wall(self.registered_at),
            last_success_at: opt(&self.last_success),
            last_failure_at: opt(&self.last_failure),
            opened_at: opt(&self.opened_at),
            // Relaxed: a timestamp read as a snapshot, as `opt`'s are.
            last_state_change_at: wall(self.changed_at.load(Ordering::Relaxed)),
        })
    }

    /// Gives this connection the state, counters and times of `snap` (already
    /// validated), under its transition lock: the state, consecutive count and backoff
    /// step are the snapshot's, in a new cycle (no probe in flight); an open circuit's
    /// deadline is the snapshot's remaining time from `at.now`; the totals and trips are
    /// added to this connection's own (a connection registered by the restore has
    /// none); each timestamp becomes the later of its own and the snapshot's; and the
    /// restore counts as activity. Its overrides and metadata are the caller's to set.
    /// Returns the state change, if the state changed; `None` also if the connection
    /// was removed. For a connection not yet in the map (`fresh`), whose events the
    /// caller publishes once it is; its last state change becomes the snapshot's.
    pub fn restore(&self, snap: &ConnectionSnapshot, at: &Rebase, fresh: bool) -> Option<Change> {
        let _held = self.hold_transitions();
        self.restore_locked(snap, at, fresh)
    }

    /// [`restore`](Self::restore) on a connection in the map: the `StateChanged` (cause
    /// `Restore`) is published under the transition lock, in the order of its changes.
    /// Returns false if the connection was removed (nothing was restored).
    pub fn restore_announced(&self, cx: &Context, snap: &ConnectionSnapshot, at: &Rebase) -> bool {
        let _held = self.hold_transitions();
        if self.word().removed() {
            return false;
        }
        if let Some(change) = self.restore_locked(snap, at, false) {
            self.announce_restore(cx, change, at.now);
        }
        true
    }

    fn restore_locked(
        &self,
        snap: &ConnectionSnapshot,
        at: &Rebase,
        fresh: bool,
    ) -> Option<Change> {
        let mut w = self.word();
        let from = w.state();
        let open = snap.state == State::Open;
        let duration = snap.open_duration.map_or(NEVER, |d| match d {
            Duration::MAX => NEVER,
            d => nanos(d),
        });
        let until = match snap.open_remaining {
            Some(Duration::MAX) => NEVER,
            Some(d) => at.now.saturating_add(nanos(d)).min(CLOCK_MAX),
            None => 0,
        };
        // The rate policy in force, if any: `refresh_layers` put its window in force.
        let rate = self.window.get().map(|win| win.rate);
        loop {
            if w.removed() {
                return None;
            }
            let m = self.machine(w);
            let m2 = Machine {
                state: snap.state,
                consecutive: snap.consecutive_failures,
                step: snap.backoff_step,
                in_flight: 0,
                gen: next_gen(m.gen),
                open_until: until,
                open_duration: if open { duration } else { m.open_duration },
                probe_at: 0,
                // A restored circuit starts with an empty rate window (not snapshotted).
                ..Machine::new()
            };
            // Relaxed: published by the Release of the CAS below, as in `locked`.
            if open || snap.state == State::HalfOpen {
                self.deadline
                    .store(if open { until } else { 0 }, Ordering::Relaxed);
            }
            self.open_duration
                .store(m2.open_duration, Ordering::Relaxed);
            self.frozen.store(m2.consecutive, Ordering::Relaxed);
            // The policy's flags kept, as every transition keeps them (`encode` writes
            // none): without the rate flag a clean closed word takes the consecutive
            // policy's fast paths, which count a success without recording it.
            let w2 = Word::encode(&m2, 0)
                .with_mode(w.mode())
                .with_policy_flags(rate.is_some(), rate.is_some_and(|r| r.slow.is_some()));
            // The empty window, before the word shows the restored state (as a
            // transition's, `clears_window`): cleared in place, or another put in force;
            // its probe tally with it. A half-open circuit's window holds no outcome
            // (entering `HalfOpen` emptied it): its probe tally is emptied after the CAS.
            if let Some(r) = rate.filter(|_| w.state() != State::HalfOpen) {
                self.window.serve(Some(r), at.now, false);
            }
            // AcqRel: publishes the fields above; acquires the lock-free updates that
            // made the CAS fail, which it retries over.
            match self
                .word
                .compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(current) => w = Word(current),
            }
        }
        if w.state() == State::HalfOpen {
            self.free_reported_probes();
        }
        // Unsealed: the transition lock, which removal takes, is held and the word was
        // not removed.
        self.tally.add(SUCCESSES, snap.total_successes);
        self.tally.add(FAILURES, snap.total_failures);
        self.tally.add(REJECTED, snap.total_rejected);
        super::counter::add_restored(&self.trips, snap.trips);
        // Relaxed (the loads and stores below): timestamps, read as snapshots.
        let later = |a: &crate::sync::AtomicU64, t: Option<SystemTime>| {
            if let Some(t) = t {
                let t = at.at(t);
                let own = a.load(Ordering::Relaxed);
                if own == NONE || own < t {
                    a.store(t, Ordering::Relaxed);
                }
            }
        };
        later(&self.last_success, snap.last_success_at);
        later(&self.last_failure, snap.last_failure_at);
        later(&self.opened_at, snap.opened_at);
        if fresh || from != snap.state {
            // Relaxed: as the timestamps above.
            self.changed_at
                .store(at.at(snap.last_state_change_at), Ordering::Relaxed);
        }
        touch(&self.touched_at, at.now);
        (from != snap.state).then_some(Change {
            from,
            to: snap.state,
            cause: Cause::Restore,
        })
    }

    /// Publishes the `StateChanged` of a restore, with the counts after it (under the
    /// transition lock, or for a connection entering the map, under the lock its
    /// registration holds).
    pub fn announce_restore(&self, cx: &Context, change: Change, now: Nanos) {
        self.emit_change(cx, change, None, self.counts(), now);
    }
}
