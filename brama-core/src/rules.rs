//! The state machine of SPEC §2 as a pure function.
//!
//! [`step`] takes a [`Machine`] (everything about one circuit that the rules read),
//! an [`Input`], the time and the configuration, and returns the next machine and the
//! [`Effects`]. It is the documentation of the rules in code, the reference model the
//! property tests compare the atomic implementation against, and the slow path the
//! connection cell runs (under its transition lock) for every input that changes state.
//! Fast paths in the cell that skip it are checked against it by tests.

use crate::clock::{nanos, Nanos, CLOCK_MAX};
use crate::config::{Config, OpenDuration};
use crate::policy::{ProbeVerdict, Tallies, Verdict};
use crate::state::{Cause, State};

/// A deadline that never passes (a circuit opened indefinitely).
pub const NEVER: Nanos = u64::MAX;

/// The rule-relevant state of one circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The state.
    pub state: State,
    /// Consecutive failures; in `Open`/`HalfOpen`, the count that tripped the circuit.
    pub consecutive: u32,
    /// Opens since the circuit was last closed (the backoff step).
    pub step: u32,
    /// Half-open probes admitted and not yet reported.
    pub in_flight: u32,
    /// Cycle number: changes on every transition except `Unknown` to `Closed`, on probe
    /// timeouts and on manual actions. Permits decide only their own cycle.
    pub gen: u32,
    /// When an `Open` circuit may move to `HalfOpen` ([`NEVER`] if opened indefinitely).
    pub open_until: Nanos,
    /// The open duration in force (set when the circuit opens).
    pub open_duration: Nanos,
    /// When the latest half-open probe was admitted.
    pub probe_at: Nanos,
    /// Rate policies: the probes of the current half-open cycle that reported (a
    /// timed-out probe as a failure).
    pub probes: Tallies,
    /// Rate policies, an input to [`step`] rather than state: the closed window's
    /// tallies with the report being stepped already recorded in them.
    pub window: Tallies,
}

impl Machine {
    /// A freshly registered circuit.
    pub const fn new() -> Machine {
        Machine {
            state: State::Unknown,
            consecutive: 0,
            step: 0,
            in_flight: 0,
            gen: 0,
            open_until: 0,
            open_duration: 0,
            probe_at: 0,
            probes: Tallies {
                calls: 0,
                failures: 0,
                slow: 0,
            },
            window: Tallies {
                calls: 0,
                failures: 0,
                slow: 0,
            },
        }
    }
}

impl Default for Machine {
    fn default() -> Machine {
        Machine::new()
    }
}

/// What happened to a circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// `available()` or `acquire()`: may admit, reject, or take a probe slot.
    Check,
    /// A success; `Some(gen)` when reported through a permit of that cycle; `true` when
    /// the call was slow (rate policies with a slow-call rule).
    Success(Option<u32>, bool),
    /// A failure; `Some(gen)` when reported through a permit of that cycle; `true` when
    /// the call was slow.
    Failure(Option<u32>, bool),
    /// A permit of cycle `gen` ended without a result (ignored or dropped).
    Release(u32),
    /// The janitor's sweep: only the time-driven rules apply.
    Tick,
    /// `open_circuit`.
    Open(OpenDuration),
    /// `close_circuit`.
    Close,
    /// `reset_circuit`.
    Reset,
}

/// What a report or check amounted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to count (tick, release, manual action).
    None,
    /// A check that was admitted.
    Admitted,
    /// A check that was refused (counted in `total_rejected`).
    Rejected,
    /// A success (counted in `total_successes`).
    Success,
    /// A failure (counted in `total_failures`).
    Failure,
}

/// One state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why.
    pub cause: Cause,
}

/// Everything [`step`] decided besides the next machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effects {
    /// How the input is counted.
    pub outcome: Outcome,
    /// State changes in order (an expiry can precede a probe result): at most two.
    pub changes: [Option<Change>; 2],
    /// The circuit opened (trip or manual open from another state): `trips` += 1.
    pub opened: bool,
    /// The machine word changed in a way that emits no event (counts, probe slots,
    /// a manual re-arm of an open circuit).
    pub quiet_change: bool,
    /// How many of the first `changes` the clock caused (an expiry, a verdict that
    /// timed-out probes completed); they come before the input's own.
    pub clocked: usize,
}

impl Effects {
    const fn none(outcome: Outcome) -> Effects {
        Effects {
            outcome,
            changes: [None, None],
            opened: false,
            quiet_change: false,
            clocked: 0,
        }
    }

    fn push(&mut self, from: State, to: State, cause: Cause) {
        let change = Some(Change { from, to, cause });
        if self.changes[0].is_none() {
            self.changes[0] = change;
        } else {
            self.changes[1] = change;
        }
    }

    /// The state changes, in order.
    pub fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        self.changes.iter().flatten().copied()
    }
}

/// The most probes the cell can count (the in-flight count has 16 bits).
pub const MAX_PROBES: u32 = u16::MAX as u32;

/// Applies one input at time `now`. `jitter_u` in `[0, 1)` is the random sample used if
/// the input opens the circuit with jitter.
pub fn step(
    m: Machine,
    input: Input,
    now: Nanos,
    cfg: &Config,
    jitter_u: f64,
) -> (Machine, Effects) {
    let mut m = m;
    let mut fx = Effects::none(Outcome::None);

    // Time-driven rules first (SPEC §2 rules 3 and 4): the first check or report after
    // the open duration passes, or the janitor's sweep, moves Open to HalfOpen; probes
    // that never reported are given up after the probe timeout.
    if matches!(
        input,
        Input::Check | Input::Success(..) | Input::Failure(..) | Input::Tick
    ) {
        if m.state == State::Open && m.open_until != NEVER && now >= m.open_until {
            m.state = State::HalfOpen;
            m.in_flight = 0;
            m.probes = Tallies::default();
            m.gen = next_gen(m.gen);
            fx.push(State::Open, State::HalfOpen, Cause::Expiry);
        }
        if m.state == State::HalfOpen
            && m.in_flight > 0
            && now.saturating_sub(m.probe_at) >= nanos(cfg.probe_timeout())
        {
            // Amended rule 4: the slots are freed with no state change; a new cycle
            // number makes the timed-out permits stale. Under a rate policy each
            // timed-out probe counts as a failure, which may complete the verdict.
            let timed_out = m.in_flight;
            m.in_flight = 0;
            m.gen = next_gen(m.gen);
            fx.quiet_change = true;
            if cfg.policy().rate().is_some() {
                m.probes = m.probes.plus(Tallies {
                    calls: timed_out,
                    failures: timed_out,
                    slow: 0,
                });
                decide_probes(&mut m, &mut fx, false, now, cfg, jitter_u);
            }
        }
        if m.state == State::HalfOpen
            && m.in_flight == 0
            && cfg.policy().rate().is_some()
            && m.probes.calls >= cfg.half_open_probes.min(MAX_PROBES)
        {
            // A rate policy's cycle whose probe count was lowered under it (configure,
            // restore) to no more than the probes that reported, none in flight: no
            // probe is left to report, so those that did decide it now.
            decide_probes(&mut m, &mut fx, false, now, cfg, jitter_u);
        }
        fx.clocked = fx.changes().count();
    }

    match input {
        Input::Tick => {}
        Input::Check => match m.state {
            State::Unknown | State::Closed => fx.outcome = Outcome::Admitted,
            State::Open => fx.outcome = Outcome::Rejected,
            State::HalfOpen => {
                // A rate policy's cycle admits `half_open_probes` calls in all (a slot
                // freed without a result admits another); the consecutive policy's,
                // that many at once.
                if m.in_flight.saturating_add(m.probes.calls) < cfg.half_open_probes.min(MAX_PROBES)
                {
                    m.in_flight += 1;
                    m.probe_at = now;
                    fx.outcome = Outcome::Admitted;
                    fx.quiet_change = true;
                } else {
                    fx.outcome = Outcome::Rejected;
                }
            }
        },
        Input::Success(permit, slow) => {
            fx.outcome = Outcome::Success;
            if permit.is_some_and(|g| g != m.gen) {
                return (m, fx);
            }
            match m.state {
                State::Unknown | State::Closed if cfg.policy().rate().is_some() => {
                    // A slow success can trip a rate policy.
                    report_in_window(&mut m, &mut fx, now, cfg, jitter_u);
                }
                State::Unknown => {
                    m.state = State::Closed;
                    m.consecutive = 0;
                    fx.push(State::Unknown, State::Closed, Cause::Report);
                }
                State::Closed => {
                    if m.consecutive != 0 {
                        m.consecutive = 0;
                        fx.quiet_change = true;
                    }
                }
                State::Open => {}
                State::HalfOpen => probe_result(&mut m, &mut fx, true, slow, now, cfg, jitter_u),
            }
        }
        Input::Failure(permit, slow) => {
            fx.outcome = Outcome::Failure;
            if permit.is_some_and(|g| g != m.gen) {
                return (m, fx);
            }
            match m.state {
                State::Unknown | State::Closed if cfg.policy().rate().is_some() => {
                    report_in_window(&mut m, &mut fx, now, cfg, jitter_u);
                }
                State::Unknown | State::Closed => {
                    let from = m.state;
                    let count = m.consecutive.saturating_add(1);
                    m.consecutive = count;
                    if let Verdict::Trip(cause) = cfg.policy().on_report(count, m.window) {
                        open(&mut m, now, cfg, jitter_u, OpenDuration::Current, true);
                        fx.opened = true;
                        fx.push(from, State::Open, cause);
                    } else if from == State::Unknown {
                        m.state = State::Closed;
                        fx.push(State::Unknown, State::Closed, Cause::Report);
                    } else {
                        fx.quiet_change = true;
                    }
                }
                State::Open => {}
                State::HalfOpen => probe_result(&mut m, &mut fx, false, slow, now, cfg, jitter_u),
            }
        }
        Input::Release(gen) => {
            if m.state == State::HalfOpen && gen == m.gen && m.in_flight > 0 {
                m.in_flight -= 1;
                fx.quiet_change = true;
            }
        }
        Input::Open(duration) => {
            let from = m.state;
            open(&mut m, now, cfg, jitter_u, duration, false);
            if from == State::Open {
                fx.quiet_change = true;
            } else {
                fx.opened = true;
                fx.push(from, State::Open, Cause::ManualOpen);
            }
        }
        Input::Close => {
            let from = m.state;
            m = closed(m);
            if from == State::Closed {
                fx.quiet_change = true;
            } else {
                fx.push(from, State::Closed, Cause::ManualClose);
            }
        }
        Input::Reset => {
            let from = m.state;
            m = Machine {
                gen: next_gen(m.gen),
                window: m.window,
                ..Machine::new()
            };
            if from == State::Unknown {
                fx.quiet_change = true;
            } else {
                fx.push(from, State::Unknown, Cause::ManualReset);
            }
        }
    }
    (m, fx)
}

/// The state a circuit shows at `now` to a reader that changes nothing (`state()`,
/// health reports): the state after the one time-driven rule that changes a state. An
/// `Open` circuit whose deadline has passed is `HalfOpen`: the next check or report (or
/// the janitor's sweep) moves it there, and that check is admitted as the new cycle's
/// first probe. Every other state is shown as it is; a `HalfOpen` circuit stays
/// `HalfOpen` whether its probe slots are free, all taken, or timed out (a timeout frees
/// slots without a state change). This is the state `step(m, Input::Tick, now, ..)`
/// leaves (a test checks it), computed without the configuration; the one exception, a
/// rate policy's cycle whose `half_open_probes` was lowered to no more than the probes
/// that reported (none in flight), shows `HalfOpen` until a check or report decides it.
///
/// # Examples
/// ```
/// use brama_core::engine::rules::{state_at, NEVER};
/// use brama_core::State;
///
/// assert_eq!(state_at(State::Open, 100, 99), State::Open);
/// assert_eq!(state_at(State::Open, 100, 100), State::HalfOpen);
/// assert_eq!(state_at(State::Open, NEVER, u64::MAX), State::Open); // opened indefinitely
/// assert_eq!(state_at(State::Closed, 100, 200), State::Closed);
/// ```
#[inline]
pub const fn state_at(state: State, open_until: Nanos, now: Nanos) -> State {
    match state {
        State::Open if open_until != NEVER && now >= open_until => State::HalfOpen,
        other => other,
    }
}

/// The next cycle number (wraps; the cell keeps its low bits).
pub const fn next_gen(gen: u32) -> u32 {
    gen.wrapping_add(1)
}

/// A report in `Unknown` or `Closed` under a rate policy: the cell recorded it in the
/// window already (`m.window`); the policy decides on the window.
fn report_in_window(m: &mut Machine, fx: &mut Effects, now: Nanos, cfg: &Config, jitter_u: f64) {
    let from = m.state;
    if let Verdict::Trip(cause) = cfg.policy().on_report(0, m.window) {
        open(m, now, cfg, jitter_u, OpenDuration::Current, true);
        fx.opened = true;
        fx.push(from, State::Open, cause);
    } else if from == State::Unknown {
        m.state = State::Closed;
        fx.push(State::Unknown, State::Closed, Cause::Report);
    }
}

/// A success or failure while `HalfOpen` (from a permit of this cycle, or a plain
/// report): amended rule 4 takes it as a probe's result only while a probe slot is
/// taken, and frees that slot; the policy decides how the cycle ends.
#[allow(clippy::too_many_arguments)]
fn probe_result(
    m: &mut Machine,
    fx: &mut Effects,
    success: bool,
    slow: bool,
    now: Nanos,
    cfg: &Config,
    jitter_u: f64,
) {
    if m.in_flight == 0 {
        // No probe is out: a report from a call that started before the circuit
        // opened. Counted in the totals; decides nothing.
        return;
    }
    m.in_flight -= 1;
    fx.quiet_change = true;
    if cfg.policy().rate().is_some() {
        m.probes = m.probes.plus(Tallies {
            calls: 1,
            failures: u32::from(!success),
            slow: u32::from(slow),
        });
    }
    decide_probes(m, fx, success, now, cfg, jitter_u);
}

/// Asks the policy whether the half-open cycle is decided (`success`: the latest
/// probe's result, which is all the consecutive policy reads).
fn decide_probes(
    m: &mut Machine,
    fx: &mut Effects,
    success: bool,
    now: Nanos,
    cfg: &Config,
    jitter_u: f64,
) {
    let n = cfg.half_open_probes.min(MAX_PROBES);
    match cfg.policy().on_probe(success, m.probes, n) {
        None => {}
        Some(ProbeVerdict::Close) => {
            *m = closed(*m);
            fx.push(State::HalfOpen, State::Closed, Cause::ProbeSuccess);
        }
        Some(ProbeVerdict::Reopen(cause)) => {
            open(m, now, cfg, jitter_u, OpenDuration::Current, true);
            fx.opened = true;
            fx.push(State::HalfOpen, State::Open, cause);
        }
    }
}

fn closed(m: Machine) -> Machine {
    Machine {
        state: State::Closed,
        consecutive: 0,
        step: 0,
        in_flight: 0,
        gen: next_gen(m.gen),
        open_until: m.open_until,
        open_duration: m.open_duration,
        probe_at: m.probe_at,
        probes: Tallies::default(),
        window: m.window,
    }
}

/// Moves `m` to `Open` at `now`. A trip (`advance`) takes the next backoff step; a
/// manual open keeps the step and uses the duration asked for.
fn open(
    m: &mut Machine,
    now: Nanos,
    cfg: &Config,
    jitter_u: f64,
    duration: OpenDuration,
    advance: bool,
) {
    if advance {
        m.step = m.step.saturating_add(1);
    }
    let d = match duration {
        OpenDuration::Current => Some(cfg.jittered(cfg.open_duration(m.step.max(1)), jitter_u)),
        OpenDuration::For(d) => Some(d),
        OpenDuration::Indefinitely => None,
    };
    m.state = State::Open;
    m.in_flight = 0;
    m.gen = next_gen(m.gen);
    match d {
        Some(d) => {
            m.open_duration = nanos(d);
            // A finite deadline is one the clock reaches, at the latest when it stops.
            m.open_until = now.saturating_add(m.open_duration).min(CLOCK_MAX);
        }
        None => {
            m.open_duration = NEVER;
            m.open_until = NEVER;
        }
    }
}

/// The open duration that would be used by the next trip from machine `m`.
pub fn next_open_duration(m: &Machine, cfg: &Config) -> Nanos {
    if m.state == State::Open {
        return m.open_duration;
    }
    let step = if m.state == State::HalfOpen {
        m.step.saturating_add(1)
    } else {
        1
    };
    nanos(cfg.open_duration(step))
}
