//! Circuit states and the causes of state changes.

use std::fmt;

/// The state of one connection's circuit (SPEC §2).
///
/// | state | `available()` answers |
/// |---|---|
/// | `Unknown` | true (registered or reset, no report yet) |
/// | `Closed` | true (healthy; failures are counted) |
/// | `Open` | false (failing; calls are refused without trying) |
/// | `HalfOpen` | true for at most `half_open_probes` callers at a time |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Registered (or reset), no report yet.
    Unknown,
    /// Healthy: calls flow, consecutive failures are counted.
    Closed,
    /// Failing: calls are refused until the open duration passes.
    Open,
    /// The open duration passed: a bounded number of probe calls may try.
    HalfOpen,
}

impl State {
    pub(crate) const fn to_bits(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Unknown => 1,
            State::Open => 2,
            State::HalfOpen => 3,
        }
    }

    #[inline]
    pub(crate) const fn from_bits(bits: u64) -> State {
        // An indexed table: one load, no branches on the hot path.
        const STATES: [State; 4] = [State::Closed, State::Unknown, State::Open, State::HalfOpen];
        STATES[(bits & 0b11) as usize]
    }

    /// The lower-case name used in messages and docs (`"half-open"` for `HalfOpen`).
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a circuit changed state (carried by `EventKind::StateChanged`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The first report after registration or reset moved an `Unknown` circuit to
    /// `Closed`.
    Report,
    /// Consecutive failures reached `failure_threshold` (`Unknown`/`Closed` to `Open`).
    Threshold,
    /// The open duration passed (`Open` to `HalfOpen`).
    Expiry,
    /// A probe succeeded (`HalfOpen` to `Closed`).
    ProbeSuccess,
    /// A probe failed (`HalfOpen` to `Open`, next backoff step).
    ProbeFailure,
    /// Probes never reported within `probe_timeout`. Their slots are freed without a
    /// state change (no event carries this cause since SPEC §2 rule 4 was amended);
    /// kept for compatibility.
    ProbeTimeout,
    /// `open_circuit` was called.
    ManualOpen,
    /// `close_circuit` was called.
    ManualClose,
    /// `reset_circuit` was called.
    ManualReset,
    /// A rate policy's failure rate was reached (`Closed` to `Open`, or the half-open
    /// probes' verdict).
    FailureRate,
    /// A rate policy's slow-call rate was reached (`Closed` to `Open`, or the half-open
    /// probes' verdict).
    SlowCalls,
    /// Another instance of the fleet opened, closed or reset the circuit, and this one
    /// applied it (feature `redis` of `brama-sync`, SPEC §12). A change with this cause
    /// is never shared again.
    Remote,
    /// A scope operation (`open_scope`, `close_scope`, `reset_scope`) was applied to
    /// the connection's scope.
    Scope,
    /// A snapshot was restored (`Builder::restore`, `Brama::restore`).
    Restore,
}

impl Cause {
    /// A short lower-case name, e.g. `"probe timeout"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cause::Report => "report",
            Cause::Threshold => "threshold",
            Cause::Expiry => "expiry",
            Cause::ProbeSuccess => "probe success",
            Cause::ProbeFailure => "probe failure",
            Cause::ProbeTimeout => "probe timeout",
            Cause::ManualOpen => "manual open",
            Cause::ManualClose => "manual close",
            Cause::ManualReset => "manual reset",
            Cause::FailureRate => "failure rate",
            Cause::SlowCalls => "slow calls",
            Cause::Remote => "remote",
            Cause::Scope => "scope operation",
            Cause::Restore => "restore",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
