//! Reports: successes and failures, their lock-free fast paths and the release of a permit.

use super::cell::*;
use super::transition::Done;
use crate::circuit::word::Word;
use crate::clock::Nanos;
use crate::context::Context;
use crate::error::Error;
use crate::events::EventType;
use crate::rules::{Input, Outcome, NEVER};
use crate::state::State;
use crate::sync::Ordering;
use crate::window::Store;

impl ConnectionCell {
    // ----- reports -------------------------------------------------------------------

    /// Whether a check admits without any further work (one load).
    #[inline]
    pub fn available_fast(&self) -> bool {
        self.word().admits_freely()
    }

    /// A success; through a permit when `ticket` is given.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn success(&self, cx: &Context, ticket: Option<Ticket>) -> Result<(), Error> {
        self.report(cx, Outcome::Success, ticket, None)
    }

    /// A failure, with an optional reason for the events; through a permit when
    /// `ticket` is given.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn failure(
        &self,
        cx: &Context,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        self.report(cx, Outcome::Failure, ticket, reason)
    }

    /// A report (`outcome` is `Success` or `Failure`): the fast path, then the slow one.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn report(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        match self.report_fast(cx, outcome, ticket) {
            Fast::Counted => Ok(()),
            fast => self.report_not_counted(cx, outcome, ticket, reason, fast, None),
        }
    }

    /// A report of a call that took `elapsed` (SPEC §8: a rate policy's slow-call rule
    /// reads it; every other policy ignores it).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn report_timed(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
    ) -> Result<(), Error> {
        match self.report_fast_timed(cx, outcome, ticket, elapsed) {
            Fast::Counted => Ok(()),
            fast => self.report_not_counted(cx, outcome, ticket, reason, fast, elapsed),
        }
    }

    /// The rest of [`report`](Self::report), out of line so that what callers inline is
    /// only the counted case.
    #[cold]
    #[inline(never)]
    pub(super) fn report_not_counted(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
        fast: Fast,
        elapsed: Option<Nanos>,
    ) -> Result<(), Error> {
        match fast {
            Fast::Removed => Err(Error::not_found_owned(&self.key)),
            _ => self.report_locked(cx, outcome, ticket, reason, elapsed, fast == Fast::Recorded),
        }
    }

    /// The lock-free part of a report: counts it if that changes no state, with at most
    /// one CAS (zeroing or raising the consecutive count) and no event. [`Fast::Slow`]
    /// means the report needs [`report_slow`](Self::report_slow): a state change, a lost CAS race,
    /// or a subscriber that wants the report's event.
    #[inline(always)]
    pub fn report_fast(&self, cx: &Context, outcome: Outcome, ticket: Option<Ticket>) -> Fast {
        self.report_fast_timed(cx, outcome, ticket, None)
    }

    /// [`report_fast`](Self::report_fast) of a call that took `elapsed`.
    #[inline(always)]
    pub fn report_fast_timed(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        elapsed: Option<Nanos>,
    ) -> Fast {
        let mut w = self.word();
        if outcome == Outcome::Success {
            // A success on a healthy circuit changes nothing, whatever the ticket's cycle
            // (one mask and compare covers state, removal and count).
            if w.is_clean_closed() && !cx.bus.wants(EventType::Success) {
                return self.count(cx.clock.recent(), true);
            }
        } else if w.is_registered_in(State::Closed)
            && ticket.is_none_or(|t| t.gen == w.gen())
            && w.consecutive().saturating_add(1) < self.word_threshold(cx)
            && !cx.bus.wants(EventType::Failure)
        {
            // A failure below the threshold: one CAS raises the consecutive count. The
            // clock (user code, if custom) is read first, so a panic there changes
            // nothing.
            let now = cx.clock.recent();
            match self.word.compare_exchange(
                w.0,
                w.with_payload(w.consecutive() + 1).0,
                // AcqRel: orders with transitions and other reports on the same word.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return self.count(now, false),
                Err(current) => w = Word(current),
            }
        }
        if w.is_rate_closed() {
            if let Some(fast) = self.report_rate_closed(cx, outcome, ticket, w, elapsed) {
                return fast;
            }
        }
        self.report_fast_general(cx, outcome, ticket, w, elapsed)
    }

    /// A report on a closed rate-policy circuit (word `w`) without the general path:
    /// one its count window absorbs (full of outcomes equal to this one,
    /// [`CountRing::absorb`]) is counted and decided on the unchanged tallies; one of
    /// the current cycle to a time window is recorded and decided there
    /// ([`record_in_window`](Self::record_in_window)). `None` when neither applies (or
    /// a subscriber wants its event): the general path takes it. A report of an
    /// earlier cycle may be absorbed too: it would be counted and not recorded.
    ///
    /// [`CountRing::absorb`]: crate::window::CountRing::absorb
    #[inline(always)]
    fn report_rate_closed(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        w: Word,
        elapsed: Option<Nanos>,
    ) -> Option<Fast> {
        let success = outcome == Outcome::Success;
        let ty = if success {
            EventType::Success
        } else {
            EventType::Failure
        };
        let win = self.window.get()?;
        if cx.bus.wants(ty) {
            return None;
        }
        match win.store() {
            Store::Count(ring) => {
                let slow = win.rate.is_slow(elapsed);
                ring.absorb(!success, slow)?;
                // Read before counting (absorbing wrote nothing), so a custom clock
                // that panics counts nothing.
                let now = cx.clock.recent();
                // Unchanged tallies that call for a change (a full window of failures
                // under a failure rate): the locked path decides, as after any report.
                if win.rate.full_window_trips(!success, slow) {
                    return None;
                }
                Some(self.count(now, success))
            }
            Store::Time(_) => {
                if ticket.is_some_and(|t| t.gen != w.gen()) {
                    return None;
                }
                Some(self.report_in_time_window(cx, win, success, elapsed))
            }
        }
    }

    /// [`report_rate_closed`](Self::report_rate_closed) into a time window.
    #[inline]
    fn report_in_time_window(
        &self,
        cx: &Context,
        win: &crate::window::RateWindow,
        success: bool,
        elapsed: Option<Nanos>,
    ) -> Fast {
        // Read before recording, so a custom clock that panics changes nothing.
        let now = cx.clock.recent();
        self.record_in_window(win, now, success, elapsed)
    }

    /// [`report_fast`](Self::report_fast) for everything but the two common cases (a
    /// success on a healthy circuit, a failure below the threshold); out of line so that
    /// callers inline only those. `w` is the word as last loaded.
    #[inline(never)]
    pub(super) fn report_fast_general(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        w: Word,
        elapsed: Option<Nanos>,
    ) -> Fast {
        if w.removed() {
            return Fast::Removed;
        }
        let (success, ty) = match outcome {
            Outcome::Success => (true, EventType::Success),
            _ => (false, EventType::Failure),
        };
        if cx.bus.wants(ty) {
            return Fast::Slow;
        }
        let current = ticket.is_none_or(|t| t.gen == w.gen());
        // Read before the CAS, so a custom clock that panics changes nothing.
        let now = cx.clock.recent();
        if w.is_frozen() {
            return self.report_frozen(w, now, success);
        }
        // A rate policy's closed circuit, in `Normal` or `MetricsOnly` mode (both
        // count and decide); a permit of an earlier cycle is only counted, below.
        if w.state() == State::Closed && w.rate() && current {
            return self.report_in_window(now, success, elapsed);
        }
        let next = match w.state() {
            State::Closed if !current => w,
            State::Closed if success => w.with_payload(0),
            State::Closed if w.consecutive().saturating_add(1) < self.word_threshold(cx) => {
                w.with_payload(w.consecutive() + 1)
            }
            State::Open if !self.open_expired(now) => w,
            _ => return Fast::Slow,
        };
        if next != w
            && self
                .word
                // AcqRel: orders with transitions and other reports on the same word.
                .compare_exchange(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Fast::Slow;
        }
        self.count(now, success)
    }

    /// A report of the current cycle on a `Closed` circuit under a rate policy, at
    /// `now`, without the lock (the caller checked removal and the subscribers):
    /// records it in the window and counts it, unless the window's rates now call for
    /// a state change ([`Fast::Recorded`]: the locked path decides).
    #[inline(never)]
    fn report_in_window(&self, now: Nanos, success: bool, elapsed: Option<Nanos>) -> Fast {
        let Some(win) = self.window.get() else {
            return Fast::Slow;
        };
        self.record_in_window(win, now, success, elapsed)
    }

    /// Records a report of the current cycle in `win` (the window in force on a
    /// `Closed` circuit) and counts it, unless the window's rates now call for a state
    /// change ([`Fast::Recorded`]: the locked path decides).
    #[inline(always)]
    fn record_in_window(
        &self,
        win: &crate::window::RateWindow,
        now: Nanos,
        success: bool,
        elapsed: Option<Nanos>,
    ) -> Fast {
        let slow = win.rate.is_slow(elapsed);
        // Every report is a decision point, as in resilience4j: a success that brings
        // the window to `minimum_calls` with the failure rate reached opens it too. A
        // window with no failure and no slow call in it crosses nothing.
        match win.record_unless_clean(!success, slow, now) {
            Some(t) if win.rate.on_window(t) != crate::policy::Verdict::Stay => Fast::Recorded,
            _ => self.count(now, success),
        }
    }

    /// The locked part of a report: [`step`] under the transition lock.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[cold]
    pub fn report_slow(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        self.report_locked(cx, outcome, ticket, reason, None, false)
    }

    /// [`report_slow`](Self::report_slow) of a call that took `elapsed`; `recorded`
    /// when the lock-free path put it in the rate window already.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[cold]
    pub fn report_locked(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
        recorded: bool,
    ) -> Result<(), Error> {
        let gen = ticket.map(|t| t.gen);
        // Whether the call was slow is the window's to say; `locked` asks it.
        let input = match outcome {
            Outcome::Success => Input::Success(gen, false),
            _ => Input::Failure(gen, false),
        };
        let done = if recorded {
            Done::Recorded
        } else {
            Done::Nothing
        };
        self.locked_report(cx, input, reason, elapsed, done)
            .map(|_| ())
    }

    /// A success by key through the registry's per-thread cache, with no map lock: it
    /// counts only a success that changes nothing (`Closed` with no consecutive
    /// failures or a rate window that absorbs it, nobody subscribed to `Success`), and
    /// counts it in this thread's own lane if the connection has lanes (given when a
    /// thread caches it: [`prepare_lanes`](Self::prepare_lanes)), exact against removal
    /// by the lane protocol (`counter/mod.rs`, "Removal"), else with
    /// [`Tally::incr_unless_sealed`], which `mark_removed` seals (one read-modify-write).
    /// Either way it counted before the seal and the removal's counts include it, or it
    /// returns [`Fast::Removed`]. Anything
    /// else, a word already marked removed included, is [`Fast::Slow`]; on both the
    /// caller takes the locked by-key path.
    #[inline]
    pub fn success_unlocked(&self, cx: &Context) -> Fast {
        // One mask and compare covers state, removal and the consecutive count; a
        // success a rate window absorbs changes nothing either (`success_if_quiet`).
        let w = self.word();
        if !(w.is_clean_closed() || self.absorbs_success(w)) || cx.bus.wants(EventType::Success) {
            // A success into a time window: the handle's quiet path when it applies
            // (false: nothing written, or a count no live total holds, as there).
            return if self.time_window_success_if_quiet(cx, None) {
                Fast::Counted
            } else {
                Fast::Slow
            };
        }
        // Read before counting, so a custom clock that panics counts nothing.
        let now = cx.clock.recent();
        // This thread's own lane where it has one here (a connection in its per-thread
        // cache, `prepare_lanes`): a plain store, exact against removal as in
        // `success_if_quiet`. Else the shared lane, sealed by removal (one RMW).
        let counted = if self.tally.incr_if_owned(SUCCESSES) {
            !self.removed_since_counting(SUCCESSES)
        } else {
            self.tally.incr_unless_sealed(SUCCESSES)
        };
        if !counted {
            return Fast::Removed;
        }
        touch(&self.last_success, now);
        Fast::Counted
    }

    /// Gives this connection's counters their per-thread lanes now, if the calling
    /// thread owns one: for a connection it puts in its per-thread cache, so that its
    /// successes by key count without a locked instruction
    /// ([`success_unlocked`](Self::success_unlocked)). 192 bytes, once per connection,
    /// and only for connections some thread caches.
    #[cold]
    pub fn prepare_lanes(&self) {
        self.tally.prepare_lanes();
    }

    /// A permit of `ticket`'s cycle ended without a result: frees its probe slot.
    pub fn release(&self, ticket: Ticket) {
        if !ticket.probe {
            return;
        }
        let mut w = self.word();
        loop {
            if w.removed()
                || w.state() != State::HalfOpen
                || w.gen() != ticket.gen
                || w.in_flight() == 0
            {
                return;
            }
            let freed = w.with_payload((w.admissions() << 16) | (w.in_flight() - 1));
            // AcqRel: orders with admissions and transitions on the same word.
            match self
                .word
                .compare_exchange_weak(w.0, freed.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(c) => w = Word(c),
            }
        }
    }

    #[inline]
    pub(super) fn open_expired(&self, now: Nanos) -> bool {
        // Relaxed: ordered by the caller's Acquire load of the word.
        let until = self.deadline.load(Ordering::Relaxed);
        until != NEVER && now >= until
    }

    /// Counts a report that changes no state (the lock-free path; no event is wanted)
    /// at `now`, read by the caller before it changed anything. Exact against removal
    /// (issue #20, defect 6): [`Fast::Counted`] means the count is in the totals a
    /// removal racing it reports, [`Fast::Removed`] that it is not.
    #[inline(always)]
    pub(super) fn count(&self, now: Nanos, success: bool) -> Fast {
        let (kind, stamp) = if success {
            (SUCCESSES, &self.last_success)
        } else {
            (FAILURES, &self.last_failure)
        };
        if !self.tally.incr_here(kind) {
            return Fast::Removed;
        }
        touch(stamp, now);
        if self.removed_since_counting(kind) {
            return Fast::Removed;
        }
        Fast::Counted
    }

    /// After counting `kind` through this thread's lane: whether a removal came first
    /// and its sealed totals miss the count. The light fence pairs with the seal's
    /// heavy one (`counter/mod.rs`, "Removal"): if this load does not see the removal, the
    /// seal's copy sees the count. Free on the hot path (a compiler fence where
    /// `membarrier` is available, one load of the word already in cache, a branch).
    #[inline(always)]
    pub(super) fn removed_since_counting(&self, kind: usize) -> bool {
        crate::barrier::light();
        self.word().removed() && !self.kept(kind)
    }

    /// The count of `kind` this thread just made, on a connection it has since seen
    /// removed: in the sealed totals or not. The transition lock waits for the removal
    /// (which seals under it) to finish.
    #[cold]
    #[inline(never)]
    fn kept(&self, kind: usize) -> bool {
        let _sealed = self.hold_transitions();
        self.tally.kept_here(kind)
    }
}
