//! The connection's state word: everything a transition must change together.
//!
//! ```text
//! bits  0..2   state (Closed 0, Unknown 1, Open 2, HalfOpen 3)
//! bit   2      removed (unregistered or evicted; terminal)
//! bits  3..5   mode in effect (Normal 0, MetricsOnly 1, ForcedOpen 2, Disabled 3)
//! bits  5..15  backoff step, saturating at 1023
//! bits 15..32  cycle number (17 bits, wrapping)
//! bits 32..64  payload (Unknown, Closed): consecutive failures (low 30 bits; 0 under a
//!              rate policy), a slow-call rule (bit 62) and a rate policy (bit 63);
//!              (HalfOpen): in-flight probes (low 16) and an admission counter (high 16)
//! ```
//! A check on a healthy circuit is one load and one mask test: bits 1, 2 and 4 are zero
//! exactly when the state is `Unknown` or `Closed`, the connection is registered, and
//! its mode does not freeze the circuit (`Normal` or `MetricsOnly`: see `crate::mode`).
//! The masks of the other fast paths include the mode bits the same way, so a
//! connection in `Normal` mode pays nothing for modes: only the constants changed.
//!
//! The rate flag keeps a rate policy's circuit off the consecutive policy's fast paths:
//! its payload is never zero, so it is never a "clean closed" word whose success
//! changes nothing, and its failure threshold as the word sees it is 1. Both flags are
//! written under the transition lock, from the configuration in force.

use crate::mode::Mode;
use crate::rules::Machine;
use crate::state::State;

const REMOVED: u64 = 1 << 2;
const MODE_SHIFT: u32 = 3;
/// Both mode bits.
const MODE: u64 = 0b11 << MODE_SHIFT;
/// The mode bit of the two modes that freeze the circuit (`ForcedOpen`, `Disabled`).
const FROZEN: u64 = 0b10 << MODE_SHIFT;
/// Mask whose bits are all zero iff the word admits freely.
pub const FREE_MASK: u64 = 0b110 | FROZEN;
const STEP_SHIFT: u32 = 5;
const STEP_MAX: u64 = (1 << 10) - 1;
const GEN_SHIFT: u32 = 15;
/// How many low bits of the cycle number the word keeps.
pub const GEN_BITS: u32 = 17;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const PAYLOAD_SHIFT: u32 = 32;
/// The consecutive count's bits of the payload (it saturates there).
pub const COUNT_MAX: u32 = (1 << 30) - 1;
const TIMED: u32 = 1 << 30;
const RATE: u32 = 1 << 31;

/// A decoded state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Word(pub u64);

impl Word {
    /// The state.
    #[inline]
    pub const fn state(self) -> State {
        State::from_bits(self.0)
    }

    /// Whether the connection was removed from its registry.
    #[inline]
    pub const fn removed(self) -> bool {
        self.0 & REMOVED != 0
    }

    /// Whether a check admits without changing anything.
    #[inline]
    pub const fn admits_freely(self) -> bool {
        self.0 & FREE_MASK == 0
    }

    /// Whether the circuit is in `state`, registered and in `Normal` mode (one mask and
    /// compare).
    #[inline]
    pub const fn is_registered_in(self, state: State) -> bool {
        self.0 & (REMOVED | MODE | 0b11) == state.to_bits()
    }

    /// Whether the circuit is `Closed`, registered, with no consecutive failures, in a
    /// mode that counts reports as `Normal` does (`Normal`, `MetricsOnly`): the state in
    /// which a success changes nothing (one mask test: `Closed` is state 0, so a clean
    /// closed word has every masked bit zero).
    #[inline]
    pub const fn is_clean_closed(self) -> bool {
        self.0 & (0xFFFF_FFFF << PAYLOAD_SHIFT | REMOVED | FROZEN | 0b11) == 0
    }

    /// Whether the circuit is `Closed`, registered, counting as `Normal` does, under a
    /// rate policy without a slow-call rule (payload: the rate flag alone): the state
    /// in which a success may leave the rate window as it is
    /// ([`CountRing`](crate::window::CountRing)'s absorbing).
    #[inline]
    pub const fn is_untimed_rate_closed(self) -> bool {
        self.0 & (0xFFFF_FFFF << PAYLOAD_SHIFT | REMOVED | FROZEN | 0b11)
            == (RATE as u64) << PAYLOAD_SHIFT
    }

    /// [`is_untimed_rate_closed`](Self::is_untimed_rate_closed), with or without a
    /// slow-call rule.
    #[inline]
    pub const fn is_rate_closed(self) -> bool {
        self.0
            & (0xFFFF_FFFF << PAYLOAD_SHIFT & !((TIMED as u64) << PAYLOAD_SHIFT)
                | REMOVED
                | FROZEN
                | 0b11)
            == (RATE as u64) << PAYLOAD_SHIFT
    }

    /// The mode in effect.
    #[inline]
    pub const fn mode(self) -> Mode {
        Mode::from_bits(self.0 >> MODE_SHIFT)
    }

    /// Whether the mode is not `Normal` (one mask test).
    #[inline]
    pub const fn is_moded(self) -> bool {
        self.0 & MODE != 0
    }

    /// Whether the mode freezes the circuit (`ForcedOpen`, `Disabled`; one mask test).
    #[inline]
    pub const fn is_frozen(self) -> bool {
        self.0 & FROZEN != 0
    }

    /// The same word in another mode.
    #[inline]
    pub const fn with_mode(self, mode: Mode) -> Word {
        Word((self.0 & !MODE) | (mode.to_bits() << MODE_SHIFT))
    }

    /// The backoff step.
    pub const fn step(self) -> u32 {
        ((self.0 >> STEP_SHIFT) & STEP_MAX) as u32
    }

    /// The cycle number (low [`GEN_BITS`] bits).
    #[inline]
    pub const fn gen(self) -> u32 {
        ((self.0 >> GEN_SHIFT) & GEN_MASK) as u32
    }

    /// The payload.
    #[inline]
    pub const fn payload(self) -> u32 {
        (self.0 >> PAYLOAD_SHIFT) as u32
    }

    /// Consecutive failures (meaningful in `Unknown` and `Closed`).
    #[inline]
    pub const fn consecutive(self) -> u32 {
        self.payload() & COUNT_MAX
    }

    /// Whether reports go to a rate window (meaningful in `Unknown` and `Closed`).
    #[inline]
    pub const fn rate(self) -> bool {
        self.payload() & RATE != 0
    }

    /// Whether calls are timed for a slow-call rule (meaningful in `Unknown` and
    /// `Closed`).
    #[inline]
    pub const fn timed(self) -> bool {
        self.payload() & TIMED != 0
    }

    /// The same word with the policy flags set as given (`Unknown` and `Closed` only;
    /// other states' payloads are left alone). Under a rate policy the consecutive
    /// count is 0: no streak is counted there (docs/state-machine.md), so a switch to
    /// one drops the streak and a switch back starts it at 0.
    pub const fn with_policy_flags(self, rate: bool, timed: bool) -> Word {
        match self.state() {
            State::Unknown | State::Closed => {
                let count = if rate { 0 } else { self.payload() & COUNT_MAX };
                let flags = if rate { RATE } else { 0 } | if rate && timed { TIMED } else { 0 };
                self.with_payload(count | flags)
            }
            State::Open | State::HalfOpen => self,
        }
    }

    /// Probes in flight (meaningful in `HalfOpen`).
    #[inline]
    pub const fn in_flight(self) -> u32 {
        self.payload() & 0xFFFF
    }

    /// The admission counter (meaningful in `HalfOpen`).
    pub const fn admissions(self) -> u32 {
        self.payload() >> 16
    }

    /// The same word with another payload.
    #[inline]
    pub const fn with_payload(self, payload: u32) -> Word {
        Word((self.0 & 0xFFFF_FFFF) | ((payload as u64) << PAYLOAD_SHIFT))
    }

    /// The same word, marked removed.
    pub const fn with_removed(self) -> Word {
        Word(self.0 | REMOVED)
    }

    /// A half-open word with one more probe admitted.
    #[inline]
    pub const fn with_probe_admitted(self) -> Word {
        let admissions = (self.admissions() + 1) & 0xFFFF;
        self.with_payload((admissions << 16) | (self.in_flight() + 1))
    }

    /// The word for machine `m`, in `Normal` mode (see [`with_mode`](Self::with_mode)).
    /// `admissions` is carried over while the circuit stays in the same half-open cycle.
    pub fn encode(m: &Machine, admissions: u32) -> Word {
        let payload = match m.state {
            State::Unknown | State::Closed => {
                if m.consecutive < COUNT_MAX {
                    m.consecutive
                } else {
                    COUNT_MAX
                }
            }
            State::Open => 0,
            State::HalfOpen => ((admissions & 0xFFFF) << 16) | (m.in_flight & 0xFFFF),
        };
        Word(
            m.state.to_bits()
                | ((m.step as u64).min(STEP_MAX) << STEP_SHIFT)
                | ((m.gen as u64 & GEN_MASK) << GEN_SHIFT)
                | ((payload as u64) << PAYLOAD_SHIFT),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let m = Machine {
            state: State::HalfOpen,
            consecutive: 7,
            step: 5,
            in_flight: 3,
            gen: (1 << GEN_BITS) + 9,
            ..Machine::new()
        };
        let w = Word::encode(&m, 70_000);
        assert_eq!(w.state(), State::HalfOpen);
        assert_eq!(w.step(), 5);
        assert_eq!(w.gen(), 9, "cycle number keeps its low bits");
        assert_eq!(w.in_flight(), 3);
        assert_eq!(w.admissions(), 70_000 & 0xFFFF);
        assert!(!w.removed());
        assert!(!w.admits_freely());
        let closed = Word::encode(
            &Machine {
                state: State::Closed,
                consecutive: u32::MAX,
                ..m
            },
            0,
        );
        assert_eq!(
            closed.consecutive(),
            COUNT_MAX,
            "the count saturates below the flags"
        );
        assert!(!closed.rate() && !closed.timed());
        let rated = closed.with_policy_flags(true, true);
        assert!(rated.rate() && rated.timed() && rated.admits_freely());
        assert_eq!(rated.consecutive(), 0, "no streak under a rate policy");
        assert!(rated.is_rate_closed(), "so it takes the rate fast path");
        assert_eq!(
            rated.with_policy_flags(false, false).consecutive(),
            0,
            "and a switch back starts at 0"
        );
        assert_eq!(
            closed.with_policy_flags(false, false),
            closed,
            "the consecutive policy keeps its count"
        );
        assert!(!rated
            .with_payload(0)
            .with_policy_flags(true, false)
            .is_clean_closed());
        assert!(
            !rated.with_policy_flags(false, true).timed(),
            "no timing without a rate"
        );
        assert_eq!(
            w.with_policy_flags(true, true),
            w,
            "a half-open payload is left alone"
        );
        assert!(closed.admits_freely());
        assert!(!closed.is_clean_closed(), "failures pending");
        assert!(closed.with_payload(0).is_clean_closed());
        assert!(!closed.with_payload(0).with_removed().is_clean_closed());
        assert!(
            !Word::encode(&Machine::new(), 0).is_clean_closed(),
            "Unknown is not Closed"
        );
        assert!(!closed.with_removed().admits_freely());
        assert!(closed.with_removed().removed());
        let big_step = Word::encode(&Machine { step: 5000, ..m }, 0);
        assert_eq!(big_step.step(), 1023, "the step saturates");
    }

    #[test]
    fn state_tests_agree_with_the_decoded_state_and_removal() {
        for state in [State::Unknown, State::Closed, State::Open, State::HalfOpen] {
            for consecutive in [0, 1, u32::MAX] {
                let m = Machine {
                    state,
                    consecutive,
                    step: 1023,
                    gen: GEN_MASK as u32,
                    ..Machine::new()
                };
                for w in [Word::encode(&m, 0xFFFF), Word::encode(&m, 0)] {
                    for w in [w, w.with_removed()] {
                        let live = !w.removed();
                        for target in [State::Unknown, State::Closed, State::Open, State::HalfOpen]
                        {
                            assert_eq!(
                                w.is_registered_in(target),
                                live && w.state() == target,
                                "{w:?} in {target:?}"
                            );
                        }
                        assert_eq!(
                            w.is_clean_closed(),
                            live && w.state() == State::Closed && w.consecutive() == 0,
                            "{w:?}"
                        );
                        assert_eq!(
                            w.admits_freely(),
                            live && matches!(w.state(), State::Unknown | State::Closed),
                            "{w:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_mode_bits_take_exactly_the_fast_paths_they_must() {
        for state in [State::Unknown, State::Closed, State::Open, State::HalfOpen] {
            let m = Machine {
                state,
                step: 1023,
                gen: GEN_MASK as u32,
                ..Machine::new()
            };
            for mode in Mode::ALL {
                let w = Word::encode(&m, 0xFFFF).with_mode(mode);
                assert_eq!(w.mode(), mode);
                assert_eq!(
                    (w.state(), w.step(), w.gen()),
                    (state, 1023, GEN_MASK as u32)
                );
                assert_eq!(w.with_removed().mode(), mode, "removal keeps the mode");
                assert_eq!(w.with_payload(7).mode(), mode, "counts keep the mode");
                assert_eq!(w.with_mode(Mode::Normal), Word::encode(&m, 0xFFFF));
                let free = matches!(state, State::Unknown | State::Closed)
                    && !matches!(mode, Mode::ForcedOpen | Mode::Disabled);
                assert_eq!(w.admits_freely(), free, "{state:?} {mode:?}");
                assert_eq!(
                    w.is_registered_in(state),
                    mode == Mode::Normal,
                    "only Normal takes the state's own fast paths: {state:?} {mode:?}"
                );
                assert_eq!(
                    w.with_payload(0).is_clean_closed(),
                    state == State::Closed && matches!(mode, Mode::Normal | Mode::MetricsOnly),
                    "{state:?} {mode:?}"
                );
                assert_eq!(w.is_moded(), mode != Mode::Normal);
                assert_eq!(w.is_frozen(), mode.freezes());
            }
        }
    }

    #[test]
    fn probe_admission_counts_and_wraps() {
        let w = Word::encode(
            &Machine {
                state: State::HalfOpen,
                ..Machine::new()
            },
            0xFFFF,
        );
        let w2 = w.with_probe_admitted();
        assert_eq!(w2.in_flight(), 1);
        assert_eq!(w2.admissions(), 0);
        assert_eq!(w2.state(), State::HalfOpen);
    }
}
