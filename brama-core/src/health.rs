//! [`Health`]: the circuits of a registry (or of one scope) counted by state, and the
//! [`Verdict`] a readiness or health probe answers with.

use std::fmt;

use crate::state::State;

/// How a registry's (or a scope's) circuits stand, in one word.
///
/// | verdict | when |
/// |---|---|
/// | `Unhealthy` | a connection registered (or configured) with `Options::critical(true)` is `Open` |
/// | `Degraded` | otherwise, any connection is `Open` or `HalfOpen` (a critical one in `HalfOpen` included) |
/// | `Healthy` | every connection is `Unknown` or `Closed` (or there is none) |
///
/// The variants are ordered from best to worst, so the worse of two verdicts is their
/// `max`. The enum is exhaustive on purpose: an endpoint maps each verdict to an answer
/// (the admin endpoint: 200 for `Healthy` and `Degraded`, 503 for `Unhealthy`).
///
/// # Examples
/// ```
/// use brama_core::Verdict;
///
/// assert!(Verdict::Healthy < Verdict::Degraded && Verdict::Degraded < Verdict::Unhealthy);
/// assert_eq!(Verdict::Degraded.max(Verdict::Unhealthy), Verdict::Unhealthy);
/// assert_eq!(Verdict::Degraded.to_string(), "degraded");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// No circuit is open or half-open.
    Healthy,
    /// Some circuit is open or half-open, but no critical one is open.
    Degraded,
    /// A critical circuit is open.
    Unhealthy,
}

impl Verdict {
    /// The lower-case name used in messages and JSON (`"healthy"`, `"degraded"`,
    /// `"unhealthy"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The connections of a registry, or of one scope, counted by state at one moment,
/// with the critical ones among those open and half-open, and the [`Verdict`].
///
/// Taken by `Brama::health` and `Brama::health_in`, which change nothing: each
/// connection is counted in the state `Brama::state` would answer for it, so an `Open`
/// circuit whose open duration has passed counts as `HalfOpen` even before a check or
/// the janitor moves it there. The counts are read one connection after another while
/// checks and reports go on: a report is a consistent view of each connection, not one
/// instant of all of them, and a connection registered during the walk may be missed.
///
/// # Examples
/// ```
/// use brama_core::{Health, State, Verdict};
///
/// let health = Health::default(); // no connection
/// assert_eq!(health.verdict(), Verdict::Healthy);
/// assert_eq!((health.total(), health.count(State::Open), health.critical_open()), (0, 0, 0));
/// ```
///
/// With the feature `serde`, it (de)serializes as the admin endpoint's `/health` answers
/// (docs/observability.md):
///
/// ```json
/// {"verdict":"degraded","scope":null,"total":3,
///  "counts":{"unknown":1,"closed":1,"open":1,"half_open":0},
///  "critical_open":0,"critical_half_open":0}
/// ```
///
/// `verdict` and `total` follow from the counts: when read, each may be left out, and
/// one that disagrees with the counts is an error, as is a critical count above its
/// state's count or counts whose sum overflows `usize`. A missing count is 0; an unknown
/// field is an error naming it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Connections by state, indexed by [`index`].
    by_state: [usize; 4],
    critical_open: usize,
    critical_half_open: usize,
    scope: Option<String>,
}

/// `State` as an index into `Health::by_state`.
const fn index(state: State) -> usize {
    match state {
        State::Unknown => 0,
        State::Closed => 1,
        State::Open => 2,
        State::HalfOpen => 3,
    }
}

impl Health {
    /// An empty report of `scope` (`None`: the whole registry).
    pub(crate) fn empty(scope: Option<&str>) -> Health {
        Health {
            scope: scope.map(str::to_owned),
            ..Health::default()
        }
    }

    /// Counts one connection in `state`; `critical` says whether it is critical (only
    /// asked, and only counted, for `Open` and `HalfOpen`).
    #[inline]
    pub(crate) fn add(&mut self, state: State, critical: bool) {
        self.by_state[index(state)] += 1;
        if critical {
            match state {
                State::Open => self.critical_open += 1,
                State::HalfOpen => self.critical_half_open += 1,
                State::Unknown | State::Closed => {}
            }
        }
    }

    /// `Unhealthy` if a critical connection is `Open`; else `Degraded` if any
    /// connection is `Open` or `HalfOpen`; else `Healthy` (see [`Verdict`]).
    pub fn verdict(&self) -> Verdict {
        if self.critical_open > 0 {
            Verdict::Unhealthy
        } else if self.count(State::Open) + self.count(State::HalfOpen) > 0 {
            Verdict::Degraded
        } else {
            Verdict::Healthy
        }
    }

    /// How many connections were in `state`.
    pub fn count(&self, state: State) -> usize {
        self.by_state[index(state)]
    }

    /// How many connections were counted (the sum of [`count`](Self::count) over the
    /// four states).
    pub fn total(&self) -> usize {
        self.by_state.iter().sum()
    }

    /// How many critical connections were `Open`: the ones that make the verdict
    /// `Unhealthy`.
    pub fn critical_open(&self) -> usize {
        self.critical_open
    }

    /// How many critical connections were `HalfOpen` (probing their way back; they
    /// make the verdict `Degraded`, not `Unhealthy`).
    pub fn critical_half_open(&self) -> usize {
        self.critical_half_open
    }

    /// The scope this report covers (`health_in`), or `None` for the whole registry.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

/// Feature `serde`: [`Health`] as the admin endpoint's `/health` JSON.
#[cfg(feature = "serde")]
mod wire {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{index, Health, Verdict};
    use crate::state::State;

    /// [`Health`] on the wire. `S` is `&str` when written, `String` when read; `verdict`
    /// and `total` are always written, and checked against the counts when read.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct HealthWire<S> {
        #[serde(default)]
        verdict: Option<Verdict>,
        #[serde(default)]
        scope: Option<S>,
        #[serde(default)]
        total: Option<usize>,
        #[serde(default)]
        counts: CountsWire,
        #[serde(default)]
        critical_open: usize,
        #[serde(default)]
        critical_half_open: usize,
    }

    /// The connections by state, each under its state's name.
    #[derive(Default, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CountsWire {
        #[serde(default)]
        unknown: usize,
        #[serde(default)]
        closed: usize,
        #[serde(default)]
        open: usize,
        #[serde(default)]
        half_open: usize,
    }

    impl Serialize for Health {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // Destructured in full: a field added to `Health` fails to compile here
            // until it is given its place on the wire.
            let Health {
                by_state: _,
                critical_open,
                critical_half_open,
                scope,
            } = self;
            HealthWire {
                verdict: Some(self.verdict()),
                scope: scope.as_deref(),
                total: Some(self.total()),
                counts: CountsWire {
                    unknown: self.count(State::Unknown),
                    closed: self.count(State::Closed),
                    open: self.count(State::Open),
                    half_open: self.count(State::HalfOpen),
                },
                critical_open: *critical_open,
                critical_half_open: *critical_half_open,
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Health {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Health, D::Error> {
            let w = HealthWire::<String>::deserialize(d)?;
            let c = &w.counts;
            let mut by_state = [0; 4];
            by_state[index(State::Unknown)] = c.unknown;
            by_state[index(State::Closed)] = c.closed;
            by_state[index(State::Open)] = c.open;
            by_state[index(State::HalfOpen)] = c.half_open;
            let sum = by_state
                .iter()
                .try_fold(0usize, |sum, &n| sum.checked_add(n))
                .ok_or_else(|| D::Error::custom("health: the counts add up to more than usize"))?;
            if w.critical_open > c.open {
                return Err(D::Error::custom(format_args!(
                    "health: critical_open ({}) is more than counts.open ({})",
                    w.critical_open, c.open
                )));
            }
            if w.critical_half_open > c.half_open {
                return Err(D::Error::custom(format_args!(
                    "health: critical_half_open ({}) is more than counts.half_open ({})",
                    w.critical_half_open, c.half_open
                )));
            }
            let health = Health {
                by_state,
                critical_open: w.critical_open,
                critical_half_open: w.critical_half_open,
                scope: w.scope,
            };
            if let Some(total) = w.total.filter(|&t| t != sum) {
                return Err(D::Error::custom(format_args!(
                    "health: total ({total}) is not the sum of the counts ({sum})"
                )));
            }
            if let Some(verdict) = w.verdict.filter(|&v| v != health.verdict()) {
                return Err(D::Error::custom(format_args!(
                    "health: verdict \"{verdict}\" does not follow from the counts (they \
                     give \"{}\")",
                    health.verdict()
                )));
            }
            Ok(health)
        }
    }
}
