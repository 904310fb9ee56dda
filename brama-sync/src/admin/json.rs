//! The admin endpoint's JSON: small view structs of its own (the feature does not need
//! `serde`'s derives on brama's types).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brama_core::{Health, State, Status};
use serde::Serialize;

use super::select::Page;
use crate::brama::Brama;

/// `GET <prefix>/health`.
#[derive(Serialize)]
pub(super) struct HealthView<'a> {
    /// `"healthy"`, `"degraded"` or `"unhealthy"`.
    verdict: &'static str,
    /// The scope asked for (`?scope=`), or null for the whole registry.
    scope: Option<&'a str>,
    total: usize,
    counts: CountsView,
    critical_open: usize,
    critical_half_open: usize,
}

#[derive(Serialize)]
struct CountsView {
    unknown: usize,
    closed: usize,
    open: usize,
    half_open: usize,
}

pub(super) fn health(h: &Health) -> HealthView<'_> {
    HealthView {
        verdict: h.verdict().as_str(),
        scope: h.scope(),
        total: h.total(),
        counts: CountsView {
            unknown: h.count(State::Unknown),
            closed: h.count(State::Closed),
            open: h.count(State::Open),
            half_open: h.count(State::HalfOpen),
        },
        critical_open: h.critical_open(),
        critical_half_open: h.critical_half_open(),
    }
}

/// `GET <prefix>/circuits`.
#[derive(Serialize)]
pub(super) struct CircuitsView<'a> {
    circuits: Vec<CircuitView<'a>>,
    /// Circuits on this page.
    count: usize,
    /// Circuits that match the scope filter, on every page.
    total: usize,
    limit: usize,
    /// The URL of the next page, or null on the last.
    next: Option<String>,
}

/// One circuit. Times are milliseconds since the Unix epoch; durations milliseconds.
#[derive(Serialize)]
struct CircuitView<'a> {
    identifier: &'a str,
    scope: Option<&'a str>,
    /// `"unknown"`, `"closed"`, `"open"` or `"half_open"` (what the next check sees).
    state: &'static str,
    consecutive_failures: u32,
    total_successes: u64,
    total_failures: u64,
    total_rejected: u64,
    trips: u64,
    /// successes / (successes + failures) since registration; null before a report.
    success_rate: Option<f64>,
    /// Rate policies: failures / calls in the window (the probes' while half-open);
    /// null for an empty window and under the consecutive policy.
    failure_rate: Option<f64>,
    /// Rate policies: slow calls / calls in the window; null as `failure_rate`.
    slow_call_rate: Option<f64>,
    /// Rate policies: the calls in the window; 0 under the consecutive policy.
    window_calls: u64,
    registered_at_ms: u64,
    last_success_at_ms: Option<u64>,
    last_failure_at_ms: Option<u64>,
    opened_at_ms: Option<u64>,
    last_state_change_at_ms: u64,
    since_state_change_ms: u64,
    /// The open duration in force; null when opened indefinitely.
    open_duration_ms: Option<u64>,
    /// Why the circuit last opened, when the failure (or manual open) gave a reason.
    last_reason: Option<ReasonView<'a>>,
    metadata: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ReasonView<'a> {
    reason: &'a str,
    at_ms: u64,
}

/// The snake_case name of `state`, as JSON carries it.
pub(super) const fn state_name(state: State) -> &'static str {
    match state {
        State::Unknown => "unknown",
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, ms)
}

pub(super) fn circuits<'a>(
    brama: &Brama,
    page: &'a Page,
    limit: usize,
    next: Option<String>,
) -> CircuitsView<'a> {
    let circuits: Vec<CircuitView<'a>> = page
        .rows
        .iter()
        .map(|(s, reason)| circuit(brama, s, reason.as_ref()))
        .collect();
    CircuitsView {
        count: circuits.len(),
        circuits,
        total: page.total,
        limit,
        next,
    }
}

fn circuit<'a>(
    brama: &Brama,
    s: &'a Status,
    reason: Option<&'a crate::observe::journal::Reason>,
) -> CircuitView<'a> {
    CircuitView {
        identifier: &s.identifier,
        scope: s.scope.as_deref(),
        state: state_name(shown_state(brama, s)),
        consecutive_failures: s.consecutive_failures,
        total_successes: s.total_successes,
        total_failures: s.total_failures,
        total_rejected: s.total_rejected,
        trips: s.trips,
        success_rate: s.success_rate(),
        failure_rate: s.failure_rate,
        slow_call_rate: s.slow_call_rate,
        window_calls: s.window_calls,
        registered_at_ms: epoch_ms(s.registered_at),
        last_success_at_ms: s.last_success_at.map(epoch_ms),
        last_failure_at_ms: s.last_failure_at.map(epoch_ms),
        opened_at_ms: s.opened_at.map(epoch_ms),
        last_state_change_at_ms: epoch_ms(s.last_state_change_at),
        since_state_change_ms: ms(s.since_state_change),
        open_duration_ms: (s.open_duration != Duration::MAX).then(|| ms(s.open_duration)),
        last_reason: reason.map(|r| ReasonView {
            reason: &r.text,
            at_ms: epoch_ms(r.at),
        }),
        metadata: &s.metadata,
    }
}

/// The state the endpoint shows: what the next check would see (`Brama::state`, so an
/// open circuit past its deadline shows `half_open`, as `health` counts it), or the
/// status's own if the connection left meanwhile.
pub(super) fn shown_state(brama: &Brama, s: &Status) -> State {
    let key = match &s.scope {
        Some(scope) => brama_core::Key::scoped(scope, &s.identifier),
        None => brama_core::Key::new(&s.identifier),
    };
    brama.state(key).unwrap_or(s.state)
}
