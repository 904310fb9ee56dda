//! Quiet successes: a success on a healthy circuit, counted on the handle's inlined
//! path with nothing written but the count (under a time window, the window's own
//! count, `window/buckets/quiet.rs`).

use super::cell::*;
use super::transition::Done;
use crate::circuit::word::Word;
use crate::context::Context;
use crate::policy::Verdict;
use crate::rules::Outcome;
use crate::sync::Ordering;
use crate::window::{Buckets, RateWindow, Store};

impl ConnectionCell {
    /// A success through a handle, counted only in the commonest case: a healthy
    /// circuit (`Closed`, no consecutive failures, not removed), a success stamp equal
    /// to the bus's quiet stamp (which says both that nobody is subscribed to `Success`
    /// and that the stamp already holds the clock's cached reading, so nothing but the
    /// count is written), and a calling thread that owns a lane already allocated
    /// here. Returns false in every other case, having written nothing (or, if a
    /// removal raced the count, a count no total includes); the caller then reports
    /// through [`success`](Self::success).
    ///
    /// Every test comes before the one write, so the caller's fallback is a complete
    /// report, and the out-of-line call it makes needs only the handle. The quiet
    /// stamp is published at each clock refresh ([`Context::refresh`]); under a manual
    /// or custom clock it never is, so this always falls back; under the system clock
    /// the first success on a connection in each refresh period does.
    ///
    /// Under a rate policy without a slow-call rule, a success the window absorbs (a
    /// full count window of successes, [`CountRing`](crate::window::CountRing)) is such
    /// a success too: it is counted here, and recorded nowhere, whatever the caller's
    /// cycle (a permit of an earlier cycle would be counted and not recorded anyway). A
    /// success into a time window is not: the caller's fallback tries
    /// [`time_window_success_if_quiet`](Self::time_window_success_if_quiet) first.
    #[inline(always)]
    pub fn success_if_quiet(&self, cx: &Context) -> bool {
        let w = self.word();
        (w.is_clean_closed() || self.absorbs_success(w)) && self.count_if_quiet(cx)
    }

    /// A handle's plain success: [`success_if_quiet`](Self::success_if_quiet), then a
    /// success into a time window, in line too (its quiet count; the recording is out
    /// of line). A permit's success takes the first only and tries the time window in
    /// its fallback, with its cycle
    /// ([`time_window_success_if_quiet`](Self::time_window_success_if_quiet)): with
    /// that call inside `success_if_quiet`, a permit's `report`, which inlines it, was
    /// no longer inlined itself (`sync_permit` 4.4 -> 5.6 ns). Through that same call
    /// here, a time-window success cost 4.2 ns; in line, 2.6. The healthy case is
    /// tested first, on its own: testing it with the time window's word test (one
    /// `and` feeding two branches) cost `sync_handle_pair` 1.1 -> 1.6 ns
    /// (docs/benchmarks.md).
    #[inline(always)]
    pub fn handle_success_if_quiet(&self, cx: &Context) -> bool {
        let w = self.word();
        if w.is_clean_closed() || self.absorbs_success(w) {
            return self.count_if_quiet(cx);
        }
        self.time_window_success(cx, w, None)
    }

    /// The tests and the one write of a quiet success, once the word allows it.
    #[inline(always)]
    fn count_if_quiet(&self, cx: &Context) -> bool {
        // Relaxed: as in `touch`; the quiet stamp's load is explained at
        // `EventBus::quiet`.
        self.last_success.load(Ordering::Relaxed) == cx.bus.quiet()
            && self.tally.incr_if_owned(SUCCESSES)
            // A removal that raced the count and missed it: the caller's fallback
            // finds the removal and reports NotFound (the dead count is in no total).
            && !self.removed_since_counting(SUCCESSES)
    }

    /// [`success_if_quiet`](Self::success_if_quiet) for a success into a time window:
    /// a `Closed` time window of the cycle `gen` (a permit's; any, if `None`), the
    /// same stamp test, then counted in the window's quiet count, or recorded in its
    /// bucket and counted ([`success_in_time_window`](Self::success_in_time_window)).
    /// False, having written nothing, in every other case (or, as there, if a removal
    /// raced the count); the caller then reports in full. Out of line, for permits and
    /// successes by key (see [`handle_success_if_quiet`](Self::handle_success_if_quiet)).
    #[inline(never)]
    pub fn time_window_success_if_quiet(&self, cx: &Context, gen: Option<u32>) -> bool {
        self.time_window_success(cx, self.word(), gen)
    }

    /// [`time_window_success_if_quiet`](Self::time_window_success_if_quiet) on the
    /// word `w` already loaded, in line.
    #[inline(always)]
    fn time_window_success(&self, cx: &Context, w: Word, gen: Option<u32>) -> bool {
        if !w.is_untimed_rate_closed() || gen.is_some_and(|g| g != w.gen()) {
            return false;
        }
        let Some(win) = self.window.get() else {
            return false;
        };
        let Store::Time(buckets) = win.store() else {
            return false;
        };
        self.success_in_time_window(cx, win, buckets, gen)
    }

    /// Whether the rate window absorbs a plain success on word `w` (see
    /// [`success_if_quiet`](Self::success_if_quiet)).
    #[inline(always)]
    pub(super) fn absorbs_success(&self, w: Word) -> bool {
        w.is_untimed_rate_closed() && self.window.get().is_some_and(|win| win.absorbs_success())
    }

    /// [`success_if_quiet`](Self::success_if_quiet) into the time window `win` of a
    /// `Closed` circuit, of the current cycle, after the same test of the quiet stamp.
    /// While the window is clean and open at that stamp, the success is counted in
    /// this thread's lane of the window's quiet count and nowhere else
    /// (`window/buckets/quiet.rs`: `handle_success_rate_time60s` 9.7 -> 2.6 ns, with
    /// the handle's test in line). Otherwise, if this thread owns a lane here, it is
    /// recorded in its bucket ([`Buckets::record_unless_clean`] at the quiet stamp,
    /// which is the clock's cached reading) and counted, and a clean window is opened
    /// at the stamp for the successes that follow. A success that leaves the window's
    /// rates calling for a change goes on to the locked path; false if that finds the
    /// connection removed.
    #[inline(always)]
    fn success_in_time_window(
        &self,
        cx: &Context,
        win: &RateWindow,
        buckets: &Buckets,
        gen: Option<u32>,
    ) -> bool {
        let now = cx.bus.quiet();
        // Relaxed: as in `success_if_quiet`.
        if self.last_success.load(Ordering::Relaxed) != now {
            return false;
        }
        if let Some(lane) = buckets.quiet_lane(now) {
            lane.incr(Buckets::QUIET);
            if !buckets.still_quiet(now) {
                self.settle_quiet_success(cx, win, buckets, now, gen);
            }
            return !self.removed_since_quiet_count(buckets);
        }
        self.record_time_window_success(cx, win, buckets, now, gen)
    }

    /// The rest of [`success_in_time_window`](Self::success_in_time_window), out of
    /// line: recorded in its bucket and counted, the window opened at `now`.
    #[inline(never)]
    fn record_time_window_success(
        &self,
        cx: &Context,
        win: &RateWindow,
        buckets: &Buckets,
        now: crate::clock::Nanos,
        gen: Option<u32>,
    ) -> bool {
        let Some(lane) = self.tally.owned_here() else {
            return false;
        };
        let tallies = match buckets.record_unless_clean(false, false, now) {
            Some(t) => Some(t),
            None => buckets.open_quiet(now),
        };
        if tallies.is_some_and(|t| win.rate.on_window(t) != Verdict::Stay) {
            return self.decide_recorded_success(cx, gen);
        }
        lane.incr(SUCCESSES);
        !self.removed_since_counting(SUCCESSES)
    }

    /// A quiet success counted at `stamp` whose window closed since it looked: the
    /// closer may have decided without it, so it puts its count in the window and
    /// decides on the window, as any report would (`window/buckets/quiet.rs`).
    #[cold]
    #[inline(never)]
    fn settle_quiet_success(
        &self,
        cx: &Context,
        win: &RateWindow,
        buckets: &Buckets,
        stamp: crate::clock::Nanos,
        gen: Option<u32>,
    ) {
        let Some(t) = buckets.settle_quiet(stamp) else {
            return;
        };
        if win.rate.on_window(t) != Verdict::Stay {
            // Not a probe: a probe's cycle ended when the circuit closed. Counted
            // already: a removal found first is the caller's to report.
            let ticket = gen.map(|gen| Ticket { gen, probe: false });
            let input = crate::rules::Input::Success(ticket.map(|t| t.gen), false);
            let _ = self.locked_report(cx, input, None, None, Done::Counted);
        }
    }

    /// [`removed_since_counting`](Self::removed_since_counting) for a count in the
    /// quiet count of `buckets`.
    #[inline(always)]
    fn removed_since_quiet_count(&self, buckets: &Buckets) -> bool {
        crate::barrier::light();
        self.word().removed() && !self.kept_quiet(buckets)
    }

    /// [`kept`](Self::kept) for a quiet count: the transition lock waits for the
    /// removal, which seals every window's quiet count under it.
    #[cold]
    #[inline(never)]
    fn kept_quiet(&self, buckets: &Buckets) -> bool {
        let _sealed = self.hold_transitions();
        buckets.kept_quiet()
    }

    /// A quiet success whose window now calls for a change: the locked path counts it
    /// and decides, as for any report the lock-free path recorded.
    #[cold]
    #[inline(never)]
    fn decide_recorded_success(&self, cx: &Context, gen: Option<u32>) -> bool {
        // Not a probe: a probe's cycle ended when the circuit closed.
        let ticket = gen.map(|gen| Ticket { gen, probe: false });
        self.report_locked(cx, Outcome::Success, ticket, None, None, true)
            .is_ok()
    }
}
