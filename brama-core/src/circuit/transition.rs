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
use crate::rules::{Change, Effects, Input, Machine, Outcome};
use crate::state::{Cause, State};
use crate::sync::{lock, Ordering};

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
                .is_ok_and(|(fx, _, _)| fx.changes().next().is_some())
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
        self.locked_as(cx, input, reason, None)
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
        let _guard = lock(&self.transition);
        let cfg = self.config(cx);
        let now = cx.clock.now();
        let jitter_u = if cfg.jitter > 0.0 {
            cx.jitter_sample()
        } else {
            0.0
        };
        loop {
            let w = self.word();
            if w.removed() {
                return Err(Error::NotFound);
            }
            let m = self.machine(w);
            let (m2, mut fx) = crate::mode::step_in(w.mode(), m, input, now, &cfg, jitter_u);
            if let Some(cause) = cause {
                fx.changes
                    .iter_mut()
                    .flatten()
                    .for_each(|c| c.cause = cause);
            }
            let same_cycle = m2.state == State::HalfOpen && m2.gen == m.gen;
            let admissions = match (same_cycle, fx.outcome) {
                (true, Outcome::Admitted) => w.admissions() + 1,
                (true, _) => w.admissions(),
                _ => 0,
            };
            let w2 = Word::encode(&m2, admissions).with_mode(w.mode());
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
            self.account(cx, &m, &m2, &fx, now, reason);
            return Ok((fx, m2, now));
        }
    }

    /// Counters, timestamps and events for one applied step (under the transition lock).
    pub(super) fn account(
        &self,
        cx: &Context,
        m: &Machine,
        m2: &Machine,
        fx: &Effects,
        now: Nanos,
        reason: Option<&str>,
    ) {
        let before = self.counts_of(m);
        let mut after = before;
        let mut pre_state = m.state;
        // Changes the clock caused (expiry, probe timeout) come before the input's own.
        for change in fx
            .changes()
            .filter(|c| matches!(c.cause, Cause::Expiry | Cause::ProbeTimeout))
        {
            self.emit_change(cx, change, None, before, now);
            pre_state = change.to;
        }
        match fx.outcome {
            Outcome::Success => {
                self.emit_report(cx, Outcome::Success, None, before, pre_state, now);
                self.tally.incr(SUCCESSES, lane());
                touch(&self.last_success, now);
                after.total_successes += 1;
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
        for change in fx.changes() {
            changed = true;
            if !matches!(change.cause, Cause::Expiry | Cause::ProbeTimeout) {
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
        }
    }
}
