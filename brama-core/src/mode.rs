//! [`Mode`]: how a connection's circuit treats calls (SPEC §11), and what each mode does
//! to the rules, as a pure function beside [`step`](crate::rules::step).
//!
//! | mode | checks | reports | the state machine |
//! |---|---|---|---|
//! | `Normal` | as the state says | counted | runs |
//! | `Disabled` | always admitted | not counted, no event | frozen: no report, check or time moves it |
//! | `ForcedOpen` | always refused (counted as rejected) | counted in the totals only | frozen, as above |
//! | `MetricsOnly` | always admitted; a check the state would refuse is counted as rejected | counted | runs, and emits its events |
//!
//! Manual actions (`open_circuit`, `close_circuit`, `reset_circuit`, the scope
//! operations) apply in every mode: they change the state the circuit will have when it
//! is back in `Normal`. Every change of a connection's mode starts a new cycle, so
//! permits admitted before it decide nothing after it (they are counted in the totals).

use std::fmt;

use crate::clock::Nanos;
use crate::config::Config;
use crate::rules::{step, Effects, Input, Machine, Outcome};

/// How a connection's circuit treats calls (resilience4j's `DISABLED`, `FORCED_OPEN`
/// and `METRICS_ONLY`).
///
/// Set per connection (`Options::mode`, `Brama::set_mode`), per scope
/// (`Brama::set_scope_mode`, `Brama::configure_scope`) or as the registry default
/// (`Brama::configure_defaults`, `Builder::mode`); a connection's own mode wins over its
/// scope's, which wins over the default. `Status::mode` is the mode in effect.
///
/// # Examples
/// ```
/// use brama_core::Mode;
///
/// assert_eq!(Mode::default(), Mode::Normal);
/// assert_eq!(Mode::MetricsOnly.to_string(), "metrics-only");
/// assert!(Mode::ForcedOpen.freezes() && !Mode::MetricsOnly.freezes());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The circuit breaks: the state decides (the default).
    #[default]
    Normal,
    /// The breaker is off: every call is admitted, reports are not counted, and the
    /// state stays as it was.
    Disabled,
    /// Every call is refused (and counted as rejected); reports are counted in the
    /// totals; the state stays as it was, and time does not move it.
    ForcedOpen,
    /// Shadow mode: every call is admitted, while the circuit counts reports, tracks
    /// the state it would be in and emits its events as in `Normal`. A check that the
    /// state would refuse is admitted and counted in `total_rejected`.
    MetricsOnly,
}

impl Mode {
    /// Every mode, in declaration order.
    pub const ALL: [Mode; 4] = [
        Mode::Normal,
        Mode::Disabled,
        Mode::ForcedOpen,
        Mode::MetricsOnly,
    ];

    /// The lower-case name used in messages and docs (`"forced-open"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Normal => "normal",
            Mode::Disabled => "disabled",
            Mode::ForcedOpen => "forced-open",
            Mode::MetricsOnly => "metrics-only",
        }
    }

    /// Whether the mode freezes the state machine (`Disabled`, `ForcedOpen`): no report,
    /// check or time changes the state; only manual actions do.
    pub const fn freezes(self) -> bool {
        matches!(self, Mode::Disabled | Mode::ForcedOpen)
    }

    /// The two bits the state word keeps (see `circuit::word`): `MetricsOnly` has only
    /// the low bit, so that a word in it admits and counts as `Normal` does; the two
    /// freezing modes have the high bit, which every fast-path mask tests.
    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            Mode::Normal => 0b00,
            Mode::MetricsOnly => 0b01,
            Mode::ForcedOpen => 0b10,
            Mode::Disabled => 0b11,
        }
    }

    #[inline]
    pub(crate) const fn from_bits(bits: u64) -> Mode {
        const MODES: [Mode; 4] = [
            Mode::Normal,
            Mode::MetricsOnly,
            Mode::ForcedOpen,
            Mode::Disabled,
        ];
        MODES[(bits & 0b11) as usize]
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cycle number no permit of any real cycle carries: the state word keeps fewer bits
/// of the cycle than a `u32` has, so this never equals a circuit's cycle. A call that
/// `Disabled` or `MetricsOnly` admits where `Normal` would not gets it, so that its
/// report is counted and decides nothing.
pub const SHADOW_GEN: u32 = u32::MAX;

/// [`step`] in `mode`: the rules as the table in this module's documentation says.
/// `Normal` and `MetricsOnly` run `step` as it is (a `MetricsOnly` check that `step`
/// rejects is admitted by the caller, which still counts the rejection); the freezing
/// modes keep the machine as it is for every input but the manual ones and a permit's
/// release.
pub fn step_in(
    mode: Mode,
    m: Machine,
    input: Input,
    now: Nanos,
    cfg: &Config,
    jitter_u: f64,
) -> (Machine, Effects) {
    let frozen = |outcome| {
        let fx = Effects {
            outcome,
            changes: [None, None],
            opened: false,
            quiet_change: false,
            clocked: 0,
        };
        (m, fx)
    };
    match (mode, input) {
        (Mode::Normal | Mode::MetricsOnly, _)
        | (_, Input::Open(_) | Input::Close | Input::Reset | Input::Release(_)) => {
            step(m, input, now, cfg, jitter_u)
        }
        (Mode::Disabled, Input::Check) => frozen(Outcome::Admitted),
        (Mode::ForcedOpen, Input::Check) => frozen(Outcome::Rejected),
        (Mode::ForcedOpen, Input::Success(..)) => frozen(Outcome::Success),
        (Mode::ForcedOpen, Input::Failure(..)) => frozen(Outcome::Failure),
        (_, Input::Success(..) | Input::Failure(..) | Input::Tick) => frozen(Outcome::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpenDuration;
    use crate::state::State;

    fn open_machine() -> Machine {
        let (m, _) = step(
            Machine::new(),
            Input::Open(OpenDuration::For(std::time::Duration::from_nanos(10))),
            0,
            &Config::default(),
            0.0,
        );
        m
    }

    #[test]
    fn bits_round_trip_and_only_the_freezing_modes_have_the_high_bit() {
        for mode in Mode::ALL {
            assert_eq!(Mode::from_bits(mode.to_bits()), mode);
            assert_eq!(mode.to_bits() & 0b10 != 0, mode.freezes(), "{mode}");
        }
    }

    #[test]
    fn normal_and_metrics_only_run_the_rules() {
        let cfg = Config::default();
        let m = open_machine();
        for input in [
            Input::Check,
            Input::Success(None, false),
            Input::Failure(None, false),
            Input::Tick,
        ] {
            for mode in [Mode::Normal, Mode::MetricsOnly] {
                assert_eq!(
                    step_in(mode, m, input, 20, &cfg, 0.0),
                    step(m, input, 20, &cfg, 0.0)
                );
            }
        }
    }

    #[test]
    fn the_freezing_modes_change_nothing_but_by_hand() {
        let cfg = Config::default();
        let m = open_machine();
        // Past the deadline: Normal would expire it on any of these.
        for (mode, input, outcome) in [
            (Mode::Disabled, Input::Check, Outcome::Admitted),
            (Mode::Disabled, Input::Success(None, false), Outcome::None),
            (
                Mode::Disabled,
                Input::Failure(Some(3), false),
                Outcome::None,
            ),
            (Mode::Disabled, Input::Tick, Outcome::None),
            (Mode::ForcedOpen, Input::Check, Outcome::Rejected),
            (
                Mode::ForcedOpen,
                Input::Success(None, false),
                Outcome::Success,
            ),
            (
                Mode::ForcedOpen,
                Input::Failure(None, false),
                Outcome::Failure,
            ),
            (Mode::ForcedOpen, Input::Tick, Outcome::None),
        ] {
            let (m2, fx) = step_in(mode, m, input, 20, &cfg, 0.0);
            assert_eq!(m2, m, "{mode} {input:?}");
            assert_eq!(fx.outcome, outcome, "{mode} {input:?}");
            assert_eq!(fx.changes().count(), 0);
            assert!(!fx.opened);
        }
        for mode in [Mode::Disabled, Mode::ForcedOpen] {
            let (m2, _) = step_in(mode, m, Input::Close, 20, &cfg, 0.0);
            assert_eq!(m2.state, State::Closed, "manual actions apply in {mode}");
        }
    }
}
