//! Checks: `available` and `acquire`, the lock-free admission and the refusal.

use std::time::Duration;

use super::cell::*;
use crate::circuit::counter::lane;
use crate::circuit::word::Word;
use crate::context::Context;
use crate::error::Error;
use crate::rules::{Input, Outcome, NEVER};
use crate::state::State;
use crate::sync::Ordering;

impl ConnectionCell {
    // ----- checks --------------------------------------------------------------------

    /// `available()`: true if a call may go ahead now. In `HalfOpen` a true answer takes
    /// a probe slot. A removed connection answers false.
    #[inline]
    pub fn available(&self, cx: &Context) -> bool {
        let w = self.word();
        if w.admits_freely() {
            return true;
        }
        // The common refusal, an open circuit before its deadline, inline as well.
        if w.is_registered_in(State::Open) && self.reject_open(cx) {
            return false;
        }
        self.available_slow(cx, w)
    }

    /// `available` when the answer changes no state, for callers that hold a map guard
    /// or the per-thread cache: `Some(true)` if the circuit admits freely, `Some(false)`
    /// for an open circuit before its deadline (the rejection counted on the shared
    /// counter that removal seals, so a rejection counted here is in the final counts
    /// of a removal that races it, or not counted at all), `None` for everything else
    /// (an expiry, a half-open admission, a removal), which the caller runs through
    /// [`available`](Self::available) with nothing held.
    #[inline]
    pub fn available_unlocked(&self, cx: &Context) -> Option<bool> {
        let w = self.word();
        if w.admits_freely() {
            return Some(true);
        }
        if w.is_registered_in(State::Open)
            && !self.open_expired(cx.clock.recent())
            && self.tally.incr_unless_sealed(REJECTED)
        {
            return Some(false);
        }
        None
    }

    /// `available` for everything else, through `check_slow`.
    #[cold]
    #[inline(never)]
    pub(super) fn available_slow(&self, cx: &Context, w: Word) -> bool {
        self.check_slow(cx, w).is_ok()
    }

    /// A check on an `Open` circuit that has not expired: counts the rejection and
    /// returns true; false means the deadline passed (the caller takes the slow path).
    #[inline(always)]
    pub(super) fn reject_open(&self, cx: &Context) -> bool {
        if self.open_expired(cx.clock.recent()) {
            return false;
        }
        self.tally.incr_here(REJECTED);
        true
    }

    /// The full error for a refused check, with the time until the deadline when open.
    #[cold]
    pub(super) fn refusal_error(&self, cx: &Context, r: Refusal) -> Error {
        match r {
            Refusal::Removed => Error::not_found_owned(&self.key),
            Refusal::HalfOpen => Error::rejected(self.key.as_key(), State::HalfOpen, None),
            // Refused until its mode changes: open, with no time to wait for.
            Refusal::Forced => Error::rejected(self.key.as_key(), State::Open, None),
            Refusal::Open => {
                // Relaxed: a hint for the caller, read after the refusal's Acquire load.
                let until = self.deadline.load(Ordering::Relaxed);
                let now = cx.clock.recent();
                let retry_after =
                    (until != NEVER).then(|| Duration::from_nanos(until.saturating_sub(now)));
                Error::rejected(self.key.as_key(), State::Open, retry_after)
            }
        }
    }

    /// Like [`available`](Self::available), but returns the admission ticket or why not.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed, [`Error::Rejected`] if not admitted.
    #[inline]
    pub fn acquire(&self, cx: &Context) -> Result<Ticket, Error> {
        let w = self.word();
        if w.admits_freely() {
            return Ok(Ticket {
                gen: w.gen(),
                probe: false,
            });
        }
        self.check_slow(cx, w)
            .map_err(|r| self.refusal_error(cx, r))
    }

    /// A free admission (`Unknown` or `Closed`, `Normal` mode, not removed) read from
    /// one load of the word: its ticket, and whether the call is to be timed (what
    /// [`times_calls`](Self::times_calls) answers then). `None` for everything else,
    /// which the caller runs through [`acquire`](Self::acquire). Changes nothing.
    #[inline]
    pub fn acquire_free(&self) -> Option<(Ticket, bool)> {
        let w = self.word();
        w.admits_freely().then(|| {
            (
                Ticket {
                    gen: w.gen(),
                    probe: false,
                },
                w.timed(),
            )
        })
    }

    #[cold]
    pub(super) fn check_slow(&self, cx: &Context, w: Word) -> Result<Ticket, Refusal> {
        if w.is_moded() {
            return self.check_moded(cx, w);
        }
        self.check_normal(cx, w)
    }

    /// [`check_slow`](Self::check_slow) as the state decides (`Normal`, and what
    /// `MetricsOnly` would do).
    pub(super) fn check_normal(&self, cx: &Context, mut w: Word) -> Result<Ticket, Refusal> {
        loop {
            if w.removed() {
                return Err(Refusal::Removed);
            }
            if w.is_frozen() {
                // The mode changed under this check: it decides.
                return self.check_moded(cx, w);
            }
            match w.state() {
                State::Unknown | State::Closed => {
                    return Ok(Ticket {
                        gen: w.gen(),
                        probe: false,
                    })
                }
                State::Open => {
                    if self.reject_open(cx) {
                        return Err(Refusal::Open);
                    }
                    return self.locked_check(cx);
                }
                State::HalfOpen => {
                    let now = cx.clock.recent();
                    if w.in_flight() > 0 {
                        // Relaxed: stamped before the admitting CAS that `w` shows.
                        let probe_at = self.deadline.load(Ordering::Relaxed);
                        let timeout = crate::clock::nanos(self.config(cx).probe_timeout());
                        if now.saturating_sub(probe_at) >= timeout {
                            return self.locked_check(cx);
                        }
                    }
                    // A rate policy's cycle admits `half_open_probes` in all: those that
                    // reported hold their slots (`rules::step`, Check). Read after `w`:
                    // the locked path stores a probe's result in the tally before the CAS
                    // that frees its slot, so with `w` acquired the tally is at least as
                    // new (loom: loom_probe, "rate probe").
                    let reported = self.probe_cycle();
                    let n = self.probes(cx).min(crate::rules::MAX_PROBES);
                    if w.in_flight() == 0 && reported >= n {
                        // The probe count was lowered under the cycle: `step` decides it.
                        return self.locked_check(cx);
                    }
                    if w.in_flight().saturating_add(reported) >= n {
                        self.tally.incr(REJECTED, lane());
                        return Err(Refusal::HalfOpen);
                    }
                    // Stamp before the CAS, so a timeout decision that sees this admission
                    // in the word also sees a probe time at least this recent. fetch_max:
                    // a checker that read the clock earlier and then loses the CAS must not
                    // move a winner's newer stamp back (loom: loom_timeout, "losing check").
                    // Relaxed: published by the Release of the CAS below.
                    self.deadline.fetch_max(now, Ordering::Relaxed);
                    match self.word.compare_exchange_weak(
                        w.0,
                        w.with_probe_admitted().0,
                        // AcqRel: publishes the stamp; acquires the previous transition.
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            return Ok(Ticket {
                                gen: w.gen(),
                                probe: true,
                            })
                        }
                        Err(current) => w = Word(current),
                    }
                }
            }
        }
    }

    #[cold]
    pub(super) fn locked_check(&self, cx: &Context) -> Result<Ticket, Refusal> {
        let (fx, m2, _) = self
            .locked(cx, Input::Check, None)
            .map_err(|_| Refusal::Removed)?;
        match (fx.outcome, m2.state) {
            (Outcome::Rejected, State::Open) => Err(Refusal::Open),
            (Outcome::Rejected, _) => Err(Refusal::HalfOpen),
            _ => Ok(Ticket {
                gen: Word::encode(&m2, 0).gen(),
                // A slot was taken (`quiet_change`): a mode that froze the circuit
                // meanwhile admits without one.
                probe: m2.state == State::HalfOpen && fx.quiet_change,
            }),
        }
    }

    /// Under a rate policy, the current half-open cycle's reported probes; 0 under the
    /// consecutive policy.
    #[cold]
    pub(super) fn probe_cycle(&self) -> u32 {
        // Acquire (`RateWindow::probes`, for status readers); here the caller's Acquire
        // load of the word already makes this see any tally stored before the CAS that
        // published that word.
        self.window.get().map_or(0, |win| win.probes().calls)
    }

    /// Whether calls admitted now are to be timed: the connection's rate policy has a
    /// slow-call rule. One load of the word while `Unknown` or `Closed` (its flag);
    /// the window's policy otherwise.
    #[inline]
    pub fn times_calls(&self) -> bool {
        let w = self.word();
        if w.admits_freely() {
            w.timed()
        } else {
            self.times_calls_slow()
        }
    }

    #[cold]
    #[inline(never)]
    fn times_calls_slow(&self) -> bool {
        self.window.get().is_some_and(|win| win.rate.slow.is_some())
    }
}
