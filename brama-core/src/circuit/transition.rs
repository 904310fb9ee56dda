//! State changes: manual actions, the janitor's tick, and the locked slow path that runs
//! [`step`](crate::rules::step) and publishes its result with one CAS and its events.

use super::cell::*;
use crate::circuit::counter::lane;
use crate::circuit::word::Word;
use crate::clock::Nanos;
use crate::config::OpenOptions;
use crate::context::Context;
use crate::error::Error;
use crate::events::{bounded_reason, Counts, Event, EventKind, EventType};
use crate::policy::{Rate, Tallies};
use crate::rules::{Change, Effects, Input, Machine, Outcome};
use crate::state::{Cause, State};
use crate::sync::Ordering;
use crate::window::RateWindow;

/// What the lock-free path did with a report before handing it to the locked one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Done {
    /// Nothing: the locked path records and counts it.
    Nothing,
    /// Recorded it in the rate window: the locked path counts it.
    Recorded,
    /// Recorded and counted it (a quiet success, `window/buckets/quiet.rs`): the locked
    /// path only decides.
    Counted,
}

impl ConnectionCell {
    // ----- manual actions ------------------------------------------------------------

    /// `open_circuit`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed; [`Error::InvalidConfig`] for a bad duration.
    pub fn open(&self, cx: &Context, options: &OpenOptions) -> Result<(), Error> {
        options.validate()?;
        self.manual(
            cx,
            Input::Open(options.open_duration()),
            options.reason_str(),
        )
    }

    /// `close_circuit`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed.
    pub fn close(&self, cx: &Context) -> Result<(), Error> {
        self.manual(cx, Input::Close, None)
    }

    /// `reset_circuit`: `Unknown`, consecutive count and backoff step cleared, totals kept.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed.
    pub fn reset(&self, cx: &Context) -> Result<(), Error> {
        self.manual(cx, Input::Reset, None)
    }

    pub(super) fn manual(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let (_, _, now) = self.locked(cx, input, reason)?;
        self.touch(now);
        Ok(())
    }

    /// Records activity (configuration, manual actions) at `now`.
    pub fn touch(&self, now: Nanos) {
        touch(&self.touched_at, now);
    }

    /// The janitor's time-driven rules at `now`: expiry and probe timeouts.
    /// Returns true if the state word changed.
    pub fn tick(&self, cx: &Context) -> bool {
        let now = cx.clock.now();
        self.tick_due(cx, now)
            && self
                .locked(cx, Input::Tick, None)
                // A state change, or timed-out probe slots freed (no event since the
                // amended rule 4, but the word changed): `SweepReport::transitioned`.
                .is_ok_and(|(fx, _, _)| fx.changes().next().is_some() || fx.quiet_change)
    }

    /// Whether a time-driven rule applies at `now` (a cheap pre-check for the sweep).
    pub fn tick_due(&self, cx: &Context, now: Nanos) -> bool {
        let w = self.word();
        if w.is_frozen() {
            return false; // time does not move a frozen circuit (`crate::mode`)
        }
        let due = match w.state() {
            State::Open => self.open_expired(now),
            // Relaxed: ordered by the Acquire load of `w`.
            State::HalfOpen if w.in_flight() > 0 => {
                now.saturating_sub(self.deadline.load(Ordering::Relaxed))
                    >= crate::clock::nanos(self.config(cx).probe_timeout())
            }
            _ => false,
        };
        due && !w.removed()
    }

    // ----- the slow path -------------------------------------------------------------

    /// Runs `input` through [`step`](crate::rules::step) (as its mode has it,
    /// [`step_in`](crate::mode::step_in)) under the transition lock and publishes the result
    /// with one CAS. Returns the effects, the new machine and the time used.
    pub(super) fn locked(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        self.locked_report(cx, input, reason, None, Done::Nothing)
    }

    /// [`locked`](Self::locked), the state changes of a manual action reported with
    /// `cause` instead of the manual one when given (a scope operation).
    pub(super) fn locked_as(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
        cause: Option<Cause>,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        let _guard = self.hold_transitions();
        self.step_held(cx, input, reason, cause)
    }

    /// [`locked`](Self::locked) for a report of a call that took `elapsed`, of which the
    /// lock-free path may have `done` part already.
    pub(super) fn locked_report(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
        done: Done,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        let _guard = self.hold_transitions();
        if matches!(input, Input::Success(..) | Input::Failure(..))
            && self.window.get().is_some()
            && self.tick_due(cx, cx.clock.now())
        {
            // A rate policy's timed-out probes may decide the cycle (and close it)
            // before this report applies: the clock's rules first, as a step of their
            // own, so that the report finds the window of the state they leave.
            self.locked_held(cx, Input::Tick, None, None, Done::Nothing, None)?;
        }
        self.locked_held(cx, input, reason, elapsed, done, None)
    }

    /// The body of [`ConnectionCell::locked`], for a caller that holds the transition
    /// lock. `cause`, if given, replaces the cause of a manual open, close or reset
    /// (remote changes, `remote.rs`).
    pub(super) fn step_held(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
        cause: Option<Cause>,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        self.locked_held(cx, input, reason, None, Done::Nothing, cause)
    }

    /// [`locked_report`](Self::locked_report) with the transition lock held; `cause`
    /// as in [`step_held`](Self::step_held).
    #[allow(clippy::too_many_arguments)]
    fn locked_held(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
        elapsed: Option<Nanos>,
        done: Done,
        cause: Option<Cause>,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        let cfg = self.config(cx);
        let now = cx.clock.now();
        let jitter_u = if cfg.jitter > 0.0 {
            cx.jitter_sample()
        } else {
            0.0
        };
        let policy = cfg.policy();
        let rate = policy.rate().copied();
        // The window, made to serve the policy in force (configure may have changed
        // it), and what this input reads from it; read once, as only this lock writes
        // the probe tally.
        let window = self.window.serve(rate, now, true);
        let probes = window.map(|w| w.probes()).unwrap_or_default();
        let recorded = done != Done::Nothing;
        let (input, window_tallies) = self.record_report(window, input, now, elapsed, recorded);
        // The probe tally the window holds now (this lock is its only writer).
        let mut tally = probes;
        loop {
            let w = self.word();
            if w.removed() {
                return Err(Error::not_found_owned(&self.key));
            }
            let mut m = self.machine(w);
            m.probes = probes;
            m.window = window_tallies;
            let (m2, mut fx) = crate::mode::step_in(w.mode(), m, input, now, &cfg, jitter_u);
            if let Some(cause) = cause {
                relabel(&mut fx, cause);
            }
            let same_cycle = m2.state == State::HalfOpen && m2.gen == m.gen;
            let admissions = match (same_cycle, fx.outcome) {
                (true, Outcome::Admitted) => w.admissions() + 1,
                (true, _) => w.admissions(),
                _ => 0,
            };
            let w2 = Word::encode(&m2, admissions).with_mode(w.mode());
            let w2 = with_policy(w2, rate);
            // A close, entering half-open, a reset: an empty window (this one cleared
            // in place, or another put in force), before the word shows the new state,
            // so that a report that sees the state records into the window of its cycle.
            let fresh = match rate {
                Some(r) if clears_window(&input, m.state, m2.state) => {
                    self.window.serve(Some(r), now, false);
                    tally = Tallies::default();
                    true
                }
                _ => false,
            };
            // The probe tally, before the word: a lock-free check (`check_normal`)
            // reads the tally after the word, so one that sees a reported probe's slot
            // freed in the word sees its result in the tally too, and never admits
            // more than `half_open_probes` in the cycle. A check between the two sees
            // the result and the slot both (it may refuse a call it could admit, never
            // the reverse). A CAS lost below retries, storing the tally of its new
            // step if that differs.
            if !fresh && m2.probes != tally {
                if let Some(win) = window {
                    // Release (`set_probes`), and published by the word's CAS below
                    // to a check that acquires the new word.
                    win.set_probes(m2.probes);
                    tally = m2.probes;
                }
            }
            if w2 != w {
                // Fields readers look at after seeing the new word; the CAS publishes them.
                // Relaxed: each is published by the Release of the CAS below.
                let deadline = match m2.state {
                    State::Open => Some(m2.open_until),
                    State::HalfOpen => Some(m2.probe_at),
                    State::Unknown | State::Closed => None,
                };
                if let Some(d) = deadline {
                    if d != self.deadline.load(Ordering::Relaxed) {
                        self.deadline.store(d, Ordering::Relaxed);
                    }
                }
                if m2.open_duration != m.open_duration {
                    self.open_duration
                        .store(m2.open_duration, Ordering::Relaxed);
                }
                if m2.consecutive != m.consecutive || m2.state != m.state {
                    self.frozen.store(m2.consecutive, Ordering::Relaxed);
                }
                // AcqRel: publishes the fields above; acquires lock-free updates we retry over.
                if self
                    .word
                    .compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
            }
            self.account(cx, &m, &m2, &fx, now, reason, done == Done::Counted);
            return Ok((fx, m2, now));
        }
    }

    /// The word's policy flags and the rate window made to match the configuration in
    /// force (after a configuration change or at registration), with the transition
    /// lock held by the caller.
    pub fn sync_policy_held(&self, cx: &Context) {
        let rate = self.config(cx).policy().rate().copied();
        self.window.serve(rate, cx.clock.now(), true);
        // No streak under a rate policy, in any state: the count an open circuit keeps
        // from a trip under the consecutive policy goes too (the word's goes below,
        // `Word::with_policy_flags`).
        // Relaxed: read under this lock, or by snapshots that need no ordering with it.
        if rate.is_some() && self.frozen.load(Ordering::Relaxed) != 0 {
            self.frozen.store(0, Ordering::Relaxed);
        }
        let mut w = self.word();
        loop {
            let w2 = with_policy(w, rate);
            if w.removed() || w2 == w {
                return;
            }
            // AcqRel: as every CAS on the word; retried over lock-free count changes.
            match self
                .word
                .compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(current) => w = Word(current),
            }
        }
    }

    /// A report's slowness, and the closed window's tallies with the report in them:
    /// recorded here unless the lock-free path did (`recorded`). Only a report the
    /// window takes is recorded: one on an `Unknown` or `Closed` circuit in a mode that
    /// is not frozen, not from a permit of an earlier cycle.
    fn record_report(
        &self,
        window: Option<&RateWindow>,
        input: Input,
        now: Nanos,
        elapsed: Option<Nanos>,
        recorded: bool,
    ) -> (Input, Tallies) {
        let Some(win) = window else {
            return (input, Tallies::default());
        };
        let slow = win.rate.is_slow(elapsed);
        let (input, failure, gen) = match input {
            Input::Success(gen, _) => (Input::Success(gen, slow), false, gen),
            Input::Failure(gen, _) => (Input::Failure(gen, slow), true, gen),
            other => return (other, Tallies::default()),
        };
        let w = self.word();
        // A frozen mode (`Disabled`, `ForcedOpen`) records nothing: its reports decide
        // nothing, now or after (`crate::mode`), whether they came here for a
        // subscriber's event or not (SPEC §5: subscribing changes no behaviour). The
        // mode is stable here: it changes only under the transition lock, held.
        let takes = matches!(w.state(), State::Unknown | State::Closed)
            && !w.is_frozen()
            && gen.is_none_or(|g| g == w.gen());
        let tallies = match (takes, recorded) {
            (false, _) => Tallies::default(),
            (true, true) => win.tallies(now),
            (true, false) => win.record(failure, slow, now),
        };
        (input, tallies)
    }

    /// Counters, timestamps and events for one applied step (under the transition lock);
    /// a success `counted` already is only reported.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn account(
        &self,
        cx: &Context,
        m: &Machine,
        m2: &Machine,
        fx: &Effects,
        now: Nanos,
        reason: Option<&str>,
        counted: bool,
    ) {
        let before = self.counts_of(m);
        let mut after = before;
        let mut pre_state = m.state;
        // Changes the clock caused (expiry, probe timeout) come before the input's own.
        for change in fx.changes().take(fx.clocked) {
            self.emit_change(cx, change, None, before, now);
            pre_state = change.to;
        }
        match fx.outcome {
            Outcome::Success => {
                self.emit_report(cx, Outcome::Success, None, before, pre_state, now);
                if !counted {
                    self.tally.incr(SUCCESSES, lane());
                    touch(&self.last_success, now);
                    after.total_successes += 1;
                }
            }
            Outcome::Failure => {
                self.emit_report(cx, Outcome::Failure, reason, before, pre_state, now);
                self.tally.incr(FAILURES, lane());
                touch(&self.last_failure, now);
                after.total_failures += 1;
                after.consecutive_failures = m2.consecutive.max(before.consecutive_failures);
            }
            Outcome::Rejected => {
                self.tally.incr(REJECTED, lane());
                after.total_rejected += 1;
            }
            Outcome::Admitted | Outcome::None => {}
        }
        if fx.opened {
            // Relaxed: a total; snapshots need no ordering with it.
            self.trips.fetch_add(1, Ordering::Relaxed);
            touch(&self.opened_at, now);
        }
        let mut changed = false;
        for (i, change) in fx.changes().enumerate() {
            changed = true;
            if i >= fx.clocked {
                self.emit_change(cx, change, reason, after, now);
            }
        }
        if changed {
            touch(&self.changed_at, now);
        }
    }

    pub(super) fn emit_change(
        &self,
        cx: &Context,
        change: Change,
        reason: Option<&str>,
        counts: Counts,
        now: Nanos,
    ) {
        let Change { from, to, cause } = change;
        cx.bus.publish(EventType::StateChanged, |seq| {
            let mut e = Event::new(
                seq,
                EventKind::StateChanged { from, to, cause },
                cx.wall(now),
                Some(self.key.clone()),
                from,
                counts,
            );
            e.reason = reason.map(bounded_reason);
            e
        });
    }

    pub(super) fn emit_report(
        &self,
        cx: &Context,
        outcome: Outcome,
        reason: Option<&str>,
        counts: Counts,
        state: State,
        now: Nanos,
    ) {
        let (ty, kind) = match outcome {
            Outcome::Success => (EventType::Success, EventKind::Success),
            _ => (
                EventType::Failure,
                EventKind::Failure {
                    // Stored once, in the kind (`Event::reason` stays `None`).
                    reason: reason.map(bounded_reason),
                },
            ),
        };
        cx.bus.publish(ty, |seq| {
            Event::new(
                seq,
                kind,
                cx.wall(now),
                Some(self.key.clone()),
                state,
                counts,
            )
        });
    }

    pub(super) fn machine(&self, w: Word) -> Machine {
        // Relaxed loads: ordered by the Acquire load that produced `w`.
        let open_or_half = matches!(w.state(), State::Open | State::HalfOpen);
        let deadline = self.deadline.load(Ordering::Relaxed);
        Machine {
            state: w.state(),
            consecutive: if open_or_half {
                self.frozen.load(Ordering::Relaxed)
            } else {
                w.consecutive()
            },
            step: w.step(),
            in_flight: if w.state() == State::HalfOpen {
                w.in_flight()
            } else {
                0
            },
            gen: w.gen(),
            open_until: if w.state() == State::Open {
                deadline
            } else {
                0
            },
            open_duration: self.open_duration.load(Ordering::Relaxed),
            probe_at: if w.state() == State::HalfOpen {
                deadline
            } else {
                0
            },
            // Set by the caller, from the window.
            probes: Tallies::default(),
            window: Tallies::default(),
        }
    }
}

/// Whether a step from `from` to `to` on `input` starts an empty rate window: a close
/// (also of a closed circuit), a reset, entering `HalfOpen`, and any move back to
/// `Closed` but the first report's `Unknown` to `Closed`.
fn clears_window(input: &Input, from: State, to: State) -> bool {
    matches!(input, Input::Close | Input::Reset)
        || (from != to && matches!(to, State::HalfOpen | State::Closed) && from != State::Unknown)
}

/// Gives the manual changes in `fx` another cause.
fn relabel(fx: &mut Effects, cause: Cause) {
    for change in fx.changes.iter_mut().flatten() {
        if matches!(
            change.cause,
            Cause::ManualOpen | Cause::ManualClose | Cause::ManualReset
        ) {
            change.cause = cause;
        }
    }
}

/// `w` with the flags of the trip policy in force: a rate policy (`rate`), and whether
/// it has a slow-call rule (calls are then timed).
fn with_policy(w: Word, rate: Option<Rate>) -> Word {
    w.with_policy_flags(rate.is_some(), rate.is_some_and(|r| r.slow.is_some()))
}
