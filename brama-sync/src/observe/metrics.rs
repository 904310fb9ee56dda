//! Feature `metrics`: every connection's own counters through the `metrics` facade,
//! published after each sweep (the janitor's, or `Brama::sweep`) and by
//! [`Brama::publish_metrics`]; never on the hot path.
//!
//! | metric | kind | labels | value |
//! |---|---|---|---|
//! | `brama_calls_total` | counter | `identifier`, `scope`, `outcome` = `success` / `failure` | `Status::total_successes` / `total_failures` |
//! | `brama_rejected_total` | counter | `identifier`, `scope` | `Status::total_rejected` (checks answered `false`) |
//! | `brama_trips_total` | counter | `identifier`, `scope` | `Status::trips` (times the circuit opened) |
//! | `brama_state` | gauge | `identifier`, `scope` | 0 unknown, 1 closed, 2 open, 3 half-open (as `state()` reads it) |
//! | `brama_connections` | gauge | none | connections registered |
//!
//! `scope` is `""` for an unscoped connection (Prometheus treats an empty label as
//! absent). Counters are set with `absolute`: the connection's totals are cumulative
//! since registration, so a recorder keeps the larger of what it had and what it is
//! given. A removed connection's series is no longer updated; the recorder decides
//! when to drop it (the Prometheus exporter's `idle_timeout`).

use brama_core::engine::Registry;
use brama_core::{Counts, OwnedKey, State};
use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

use crate::brama::Brama;

/// The `brama_state` gauge's value for `state`.
pub(crate) const fn state_value(state: State) -> f64 {
    match state {
        State::Unknown => 0.0,
        State::Closed => 1.0,
        State::Open => 2.0,
        State::HalfOpen => 3.0,
    }
}

/// Publishes every connection's counters and state to the recorder in force on this
/// thread (the global one, or a local one set around the call).
pub(crate) fn publish(registry: &Registry) {
    let now = registry.context().clock.now();
    // Copied out first: the recorder (user code) runs after the walk, with no brama
    // lock held and the next sweep free to start.
    let mut rows: Vec<(OwnedKey, State, Counts)> = Vec::with_capacity(registry.len());
    registry.visit_cells(|cell| {
        if let Some(state) = cell.state_at(now) {
            rows.push((cell.key().clone(), state, cell.counts()));
        }
    });
    describe();
    gauge!("brama_connections").set(rows.len() as f64);
    for (key, state, counts) in rows {
        let identifier = key.identifier().to_owned();
        let scope = key.scope().unwrap_or("").to_owned();
        counter!(
            "brama_calls_total",
            "identifier" => identifier.clone(),
            "scope" => scope.clone(),
            "outcome" => "success"
        )
        .absolute(counts.total_successes);
        counter!(
            "brama_calls_total",
            "identifier" => identifier.clone(),
            "scope" => scope.clone(),
            "outcome" => "failure"
        )
        .absolute(counts.total_failures);
        counter!("brama_rejected_total", "identifier" => identifier.clone(), "scope" => scope.clone())
            .absolute(counts.total_rejected);
        counter!("brama_trips_total", "identifier" => identifier.clone(), "scope" => scope.clone())
            .absolute(counts.trips);
        gauge!("brama_state", "identifier" => identifier, "scope" => scope).set(state_value(state));
    }
}

fn describe() {
    describe_counter!(
        "brama_calls_total",
        Unit::Count,
        "Calls reported to a circuit breaker, by outcome"
    );
    describe_counter!(
        "brama_rejected_total",
        Unit::Count,
        "Checks a circuit breaker answered with a refusal"
    );
    describe_counter!(
        "brama_trips_total",
        Unit::Count,
        "Times a circuit breaker opened"
    );
    describe_gauge!(
        "brama_state",
        "Circuit state: 0 unknown, 1 closed, 2 open, 3 half-open"
    );
    describe_gauge!("brama_connections", "Connections registered");
}

impl Brama {
    /// Publishes every connection's counters and state through the `metrics` facade
    /// now, as the janitor does after each sweep (feature `metrics`): the counters
    /// `brama_calls_total{outcome}`, `brama_rejected_total`, `brama_trips_total` and
    /// the gauge `brama_state`, labelled `identifier` and `scope`, and the gauge
    /// `brama_connections` (docs/observability.md).
    ///
    /// Walks every connection as [`Brama::health`] does, copies its key, state and
    /// counters, then calls the recorder with no brama lock held: the recorder in force
    /// on this thread (the global one, or a local one set around this call). Nothing is
    /// published on the hot path.
    ///
    /// # Examples
    /// ```
    /// use brama_sync::{Brama, Options};
    /// use metrics_util::debugging::DebuggingRecorder;
    ///
    /// let brama = Brama::new();
    /// brama.register("db", Options::new())?;
    /// brama.success("db")?;
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// metrics::with_local_recorder(&recorder, || brama.publish_metrics());
    /// let published = snapshotter.snapshot().into_vec();
    /// assert!(published.iter().any(|(key, ..)| key.key().name() == "brama_calls_total"));
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn publish_metrics(&self) {
        publish(self.reg());
    }
}
