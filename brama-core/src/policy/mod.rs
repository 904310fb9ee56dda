//! The trip-policy seam: what a failure, a success and a half-open cycle's probes mean.
//!
//! The rules ([`crate::rules::step`]) own the states and the time-driven moves (expiry,
//! probe timeout, manual actions); a policy owns the one question they leave open: given
//! what was reported, does the circuit open, stay, or (half-open) close? Each policy is
//! one file of this folder and one variant of [`Policy`]; enum dispatch, so a decision
//! is a `match`, never a virtual call.
//!
//! | policy | state it keeps | file |
//! |---|---|---|
//! | consecutive failures (SPEC §2, the default) | the word's consecutive count | `consecutive` |
//! | failure rate, slow-call rate (SPEC §8) | a [`RateWindow`](crate::window::RateWindow) | `rate` |
//!
//! The consecutive policy is also specialised in the cell: its count lives in the state
//! word's payload, so a failure below the threshold is one lock-free CAS
//! (`circuit::report`), and only the failure that reaches the threshold runs
//! `rules::step` under the transition lock. [`Policy::word_threshold`] is that contract:
//! a policy that answers `Some(n)` is decided by the word's count alone, and the cell
//! may count its failures without the lock. A policy that keeps other state (a window of
//! outcomes) answers `None`, and every report it sees goes through `step`.

mod consecutive;
mod rate;

pub use consecutive::Consecutive;
pub use rate::{Rate, Tallies};

use crate::state::Cause;

/// What a report in `Unknown` or `Closed` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The circuit stays closed.
    Stay,
    /// The circuit opens, for this reason.
    Trip(Cause),
}

/// What a half-open probe's result decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// The circuit closes.
    Close,
    /// The circuit opens again (the next backoff step), for this reason.
    Reopen(Cause),
}

/// A trip policy, resolved for one connection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// Open after this many consecutive failures.
    Consecutive(Consecutive),
    /// Open on a failure or slow-call rate over a window.
    Rate(Rate),
}

impl Policy {
    /// A report in `Unknown` or `Closed`: `consecutive` counts the failures in a row
    /// (this one included), `window` is the rate window after recording this report.
    #[inline]
    pub fn on_report(&self, consecutive: u32, window: Tallies) -> Verdict {
        match self {
            Policy::Consecutive(p) => p.on_failure(consecutive),
            Policy::Rate(r) => r.on_window(window),
        }
    }

    /// A success or failure from a probe of the current half-open cycle; `probes` is
    /// the cycle's tally with this probe in it, `n` the cycle's probe count. `None`:
    /// the cycle waits for more probes.
    #[inline]
    pub fn on_probe(&self, success: bool, probes: Tallies, n: u32) -> Option<ProbeVerdict> {
        match self {
            Policy::Consecutive(p) => Some(p.on_probe(success)),
            Policy::Rate(r) => r.on_probes(probes, n),
        }
    }

    /// The rate policy, if this is one.
    #[inline]
    pub fn rate(&self) -> Option<&Rate> {
        match self {
            Policy::Rate(r) => Some(r),
            Policy::Consecutive(_) => None,
        }
    }

    /// `Some(threshold)` when the policy is decided by the state word's consecutive
    /// count alone, so the cell may count failures below it without the lock.
    #[inline]
    pub fn word_threshold(&self) -> Option<u32> {
        match self {
            Policy::Consecutive(p) => Some(p.threshold),
            Policy::Rate(_) => None,
        }
    }
}
