//! Feature `serde`: [`Event`], [`EventKind`], [`EventType`] and [`Counts`].
//!
//! An event is a table: `seq`, `kind` (a table whose `type` names the kind, with the
//! kind's own fields beside it), `at` (RFC 3339), `identifier` and `scope` (absent for a
//! registry-wide event), `state`, `counts` and `reason`.
//!
//! ```json
//! {"seq": 7, "kind": {"type": "state_changed", "from": "closed", "to": "open",
//!  "cause": "threshold"}, "at": "2026-05-01T12:00:00.000000000Z",
//!  "identifier": "stripe", "scope": "payments", "state": "closed",
//!  "counts": {"consecutive_failures": 4, "total_successes": 10, "total_failures": 4,
//!             "total_rejected": 0, "trips": 0}, "reason": "timeout"}
//! ```

use std::time::SystemTime;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::event::{Counts, Event, EventKind, EventType};
use crate::key::Key;
use crate::serde::{named_enum, time};
use crate::state::{Cause, State};

named_enum!(EventType, "an event type", [
    Registered => "registered",
    Unregistered => "unregistered",
    Evicted => "evicted",
    StateChanged => "state_changed",
    Success => "success",
    Failure => "failure",
    Configured => "configured",
    Swept => "swept",
    FleetLink => "fleet_link",
]);

/// [`Counts`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountsWire {
    consecutive_failures: u32,
    total_successes: u64,
    total_failures: u64,
    total_rejected: u64,
    trips: u64,
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Counts {
            consecutive_failures,
            total_successes,
            total_failures,
            total_rejected,
            trips,
        } = *self;
        CountsWire {
            consecutive_failures,
            total_successes,
            total_failures,
            total_rejected,
            trips,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        let w = CountsWire::deserialize(d)?;
        Ok(Counts {
            consecutive_failures: w.consecutive_failures,
            total_successes: w.total_successes,
            total_failures: w.total_failures,
            total_rejected: w.total_rejected,
            trips: w.trips,
        })
    }
}

/// [`EventKind`] on the wire: internally tagged by `type`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum KindWire {
    Registered,
    Unregistered,
    Evicted,
    StateChanged {
        from: State,
        to: State,
        cause: Cause,
    },
    Success,
    Failure {
        #[serde(default)]
        reason: Option<String>,
    },
    Configured,
    Swept {
        examined: usize,
        evicted: usize,
    },
    FleetLink {
        connected: bool,
    },
}

impl From<EventKind> for KindWire {
    fn from(k: EventKind) -> KindWire {
        match k {
            EventKind::Registered => KindWire::Registered,
            EventKind::Unregistered => KindWire::Unregistered,
            EventKind::Evicted => KindWire::Evicted,
            EventKind::StateChanged { from, to, cause } => {
                KindWire::StateChanged { from, to, cause }
            }
            EventKind::Success => KindWire::Success,
            EventKind::Failure { reason } => KindWire::Failure { reason },
            EventKind::Configured => KindWire::Configured,
            EventKind::Swept { examined, evicted } => KindWire::Swept { examined, evicted },
            EventKind::FleetLink { connected } => KindWire::FleetLink { connected },
        }
    }
}

impl From<KindWire> for EventKind {
    fn from(k: KindWire) -> EventKind {
        match k {
            KindWire::Registered => EventKind::Registered,
            KindWire::Unregistered => EventKind::Unregistered,
            KindWire::Evicted => EventKind::Evicted,
            KindWire::StateChanged { from, to, cause } => {
                EventKind::StateChanged { from, to, cause }
            }
            KindWire::Success => EventKind::Success,
            KindWire::Failure { reason } => EventKind::Failure { reason },
            KindWire::Configured => EventKind::Configured,
            KindWire::Swept { examined, evicted } => EventKind::Swept { examined, evicted },
            KindWire::FleetLink { connected } => EventKind::FleetLink { connected },
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        KindWire::from(self.clone()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        KindWire::deserialize(d).map(EventKind::from)
    }
}

/// [`Event`] on the wire. `K` is the kind (borrowed when written), `S` the strings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventWire<K, S> {
    seq: u64,
    kind: K,
    #[serde(with = "time")]
    at: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identifier: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<S>,
    state: State,
    counts: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<S>,
}

impl Serialize for Event {
    fn serialize<Ser: Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        // Destructured in full: a field added to `Event` fails to compile here until
        // it is given its place on the wire.
        let Event {
            seq,
            kind,
            at,
            counts,
            state,
            reason,
            key,
        } = self;
        EventWire::<&EventKind, &str> {
            seq: *seq,
            kind,
            at: *at,
            identifier: key.as_ref().map(|k| k.identifier()),
            scope: key.as_ref().and_then(|k| k.scope()),
            state: *state,
            counts: *counts,
            reason: reason.as_deref(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        let w = EventWire::<EventKind, String>::deserialize(d)?;
        let key = match (&w.identifier, &w.scope) {
            (None, None) => None,
            (None, Some(_)) => return Err(D::Error::missing_field("identifier")),
            (Some(id), scope) => {
                let key = match scope {
                    Some(scope) => Key::scoped(scope, id),
                    None => Key::new(id),
                };
                Some(key.to_owned_key().map_err(D::Error::custom)?)
            }
        };
        let mut event = Event::new(w.seq, w.kind, w.at, key, w.state, w.counts);
        event.reason = w.reason;
        Ok(event)
    }
}
