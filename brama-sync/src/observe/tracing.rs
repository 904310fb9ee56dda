//! Feature `tracing`: the journal's events as `tracing` events, target `brama`.
//!
//! | what | level | message |
//! |---|---|---|
//! | a circuit opens (a trip, a probe failure, a manual open) | WARN | `circuit opened` |
//! | a circuit closes after being open or half-open (a recovery) | INFO | `circuit closed` |
//! | a circuit closes on the first report after registration or reset | DEBUG | `circuit closed` |
//! | a circuit moves to half-open (its open duration passed) | INFO | `circuit half-open` |
//! | half-open probes timed out and their slots were freed | INFO | `probe timed out` |
//! | a circuit is reset by hand | INFO | `circuit reset` |
//! | a connection's options, or the registry defaults, change | INFO | `configured` |
//! | a connection is evicted for inactivity | DEBUG | `connection evicted` |
//! | a connection is unregistered | DEBUG | `connection unregistered` |
//! | a sweep | DEBUG | `sweep` |
//! | a fleet attachment's link to Redis goes down (feature `redis`) | WARN | `fleet link down` |
//! | a fleet attachment's link to Redis comes up (feature `redis`) | INFO | `fleet link up` |
//! | events lost to a full queue before they could be logged | WARN | `events dropped` |
//!
//! Every connection event carries the fields `identifier` and `scope` (absent when
//! unscoped), and the counts as they stood before the change (`consecutive_failures`,
//! `trips`, ...); a state change carries `from`, `to`, `cause` and `reason` (when one
//! was given). Nothing is logged per call, successful or not.

use brama_core::{Cause, Event, EventKind, State};
use tracing::{debug, info, warn};

/// Logs one journal event.
pub(super) fn emit(e: &Event) {
    let identifier = e.key().map(|k| k.identifier());
    let scope = e.scope();
    let c = e.counts;
    match &e.kind {
        EventKind::StateChanged { from, to, cause } => {
            let (from_name, to_name, cause_name) = (from.as_str(), to.as_str(), cause.as_str());
            let reason = e.reason_text();
            macro_rules! change {
                ($level:ident, $message:literal) => {
                    $level!(
                        target: "brama",
                        identifier,
                        scope,
                        from = from_name,
                        to = to_name,
                        cause = cause_name,
                        reason,
                        consecutive_failures = c.consecutive_failures,
                        total_failures = c.total_failures,
                        trips = c.trips,
                        seq = e.seq,
                        $message
                    )
                };
            }
            match (*from, *to, *cause) {
                (_, State::Open, _) => change!(warn, "circuit opened"),
                (State::Unknown, State::Closed, _) => change!(debug, "circuit closed"),
                (_, State::Closed, _) => change!(info, "circuit closed"),
                (_, State::HalfOpen, Cause::ProbeTimeout) => change!(info, "probe timed out"),
                (_, State::HalfOpen, _) => change!(info, "circuit half-open"),
                (_, State::Unknown, _) => change!(info, "circuit reset"),
            }
        }
        EventKind::Configured => {
            info!(target: "brama", identifier, scope, seq = e.seq, "configured");
        }
        EventKind::Evicted => debug!(
            target: "brama",
            identifier,
            scope,
            total_successes = c.total_successes,
            total_failures = c.total_failures,
            seq = e.seq,
            "connection evicted"
        ),
        EventKind::Unregistered => {
            debug!(target: "brama", identifier, scope, seq = e.seq, "connection unregistered");
        }
        EventKind::Swept { examined, evicted } => {
            debug!(target: "brama", examined, evicted, seq = e.seq, "sweep");
        }
        EventKind::FleetLink { connected: false } => {
            warn!(target: "brama", seq = e.seq, "fleet link down");
        }
        EventKind::FleetLink { connected: true } => {
            info!(target: "brama", seq = e.seq, "fleet link up");
        }
        _ => {}
    }
}

/// Logs that `lost` events never reached the journal (its queue of `capacity` was full).
pub(super) fn dropped(lost: u64, capacity: usize) {
    warn!(
        target: "brama",
        lost,
        capacity,
        "events dropped: more state changes came between two janitor rounds than the \
         journal's queue holds (raise event_queue_capacity)"
    );
}
