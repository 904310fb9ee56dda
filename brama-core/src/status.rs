//! Status snapshots.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::mode::Mode;
use crate::state::State;

/// A snapshot of one connection (SPEC §3). Fields are read one by one without a lock:
/// under concurrent reports they may come from slightly different instants.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// The identifier.
    pub identifier: String,
    /// The scope, if any.
    pub scope: Option<String>,
    /// The circuit state. In `Mode::MetricsOnly`, the state the circuit would be in
    /// (it tracks it, but admits every call); in `Mode::ForcedOpen` and
    /// `Mode::Disabled`, the state it had when its mode froze it (or that a manual
    /// action gave it since).
    pub state: State,
    /// Consecutive failures (in `Open`/`HalfOpen`: the count that tripped the circuit).
    pub consecutive_failures: u32,
    /// Successes reported since registration.
    pub total_successes: u64,
    /// Failures reported since registration.
    pub total_failures: u64,
    /// Checks answered false.
    pub total_rejected: u64,
    /// Times the circuit opened.
    pub trips: u64,
    /// When the connection was registered.
    pub registered_at: SystemTime,
    /// The last success, if any.
    pub last_success_at: Option<SystemTime>,
    /// The last failure, if any.
    pub last_failure_at: Option<SystemTime>,
    /// When the circuit last opened, if ever.
    pub opened_at: Option<SystemTime>,
    /// The last state change (registration counts as one).
    pub last_state_change_at: SystemTime,
    /// Time since the last state change.
    pub since_state_change: Duration,
    /// The open duration in force (or that the next trip would use);
    /// `Duration::MAX` for a circuit opened indefinitely.
    pub open_duration: Duration,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// The mode in effect: the connection's own, else its scope's, else the registry
    /// default.
    pub mode: Mode,
    /// Rate policies: failures / calls in the window (in `HalfOpen`, of the cycle's
    /// probes); `None` with no calls in it, and under the consecutive policy.
    pub failure_rate: Option<f64>,
    /// Rate policies: slow calls / calls in the window; `None` as `failure_rate`.
    pub slow_call_rate: Option<f64>,
    /// Rate policies: the calls the window holds now (in `HalfOpen`, the probes that
    /// reported); 0 under the consecutive policy.
    pub window_calls: u64,
}

impl Status {
    /// successes / (successes + failures); `None` before the first report.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.total_successes.saturating_add(self.total_failures);
        (total > 0).then(|| self.total_successes as f64 / total as f64)
    }
}
