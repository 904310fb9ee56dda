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
