//! What an event is: [`Event`], its [`EventKind`] and [`EventType`], and the [`Counts`]
//! it carries.

use std::time::SystemTime;

use crate::key::{Key, OwnedKey};
use crate::state::{Cause, State};

/// A connection's counters as they stood just before the change an [`Event`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Failures since the last success or state change that resets them.
    pub consecutive_failures: u32,
    /// Successes reported since registration.
    pub total_successes: u64,
    /// Failures reported since registration.
    pub total_failures: u64,
    /// Checks answered `false` since registration.
    pub total_rejected: u64,
    /// Times the circuit opened since registration.
    pub trips: u64,
}

/// Something that happened to a connection (or, for [`EventKind::Swept`] and
/// [`EventKind::FleetLink`], to the registry as a whole).
///
/// # Examples
/// ```
/// use std::time::SystemTime;
/// use brama_core::{Counts, Event, EventKind, EventType, Key, State};
///
/// let key = Key::scoped("payments", "stripe").to_owned_key().unwrap();
/// let e = Event::new(7, EventKind::Success, SystemTime::now(), Some(key),
///                    State::Closed, Counts::default());
/// assert_eq!(e.identifier(), "stripe");
/// assert_eq!(e.scope(), Some("payments"));
/// assert_eq!(e.event_type(), EventType::Success);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Event {
    /// The sequence number: gap-free per bus, starting at 1.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// Wall-clock time of the change.
    pub at: SystemTime,
    /// The connection's counters as they stood just before the change.
    pub counts: Counts,
    /// The connection's state just before the change.
    pub state: State,
    /// The reason of a `StateChanged`: the failure report's that caused it, or the
    /// manual open's. A `Failure` event keeps its reason in its kind
    /// ([`EventKind::Failure`]) and `None` here, so it is stored once;
    /// [`Event::reason_text`] reads either. At most
    /// [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES) (see [`bounded_reason`]).
    pub reason: Option<String>,
    /// The connection; `None` only for registry-wide events (`Swept`, `FleetLink`, a
    /// `Configured` of the defaults).
    pub(super) key: Option<OwnedKey>,
}

impl Event {
    /// An event. `key` is `None` only for a registry-wide event ([`EventKind::Swept`],
    /// [`EventKind::FleetLink`]), which concerns no single connection.
    pub fn new(
        seq: u64,
        kind: EventKind,
        at: SystemTime,
        key: Option<OwnedKey>,
        state: State,
        counts: Counts,
    ) -> Event {
        Event {
            seq,
            kind,
            at,
            counts,
            state,
            reason: None,
            key,
        }
    }

    /// The reason this event carries, wherever it keeps it: a `Failure`'s in its kind,
    /// any other's in [`Event::reason`].
    pub fn reason_text(&self) -> Option<&str> {
        match &self.kind {
            EventKind::Failure { reason } => reason.as_deref(),
            _ => self.reason.as_deref(),
        }
    }

    /// The connection's identifier; `""` for an event without a key ([`EventKind::Swept`],
    /// [`EventKind::FleetLink`]).
    pub fn identifier(&self) -> &str {
        self.key.as_ref().map_or("", OwnedKey::identifier)
    }

    /// The connection's scope, if it has one (`None` as well for an event without a key).
    pub fn scope(&self) -> Option<&str> {
        self.key.as_ref().and_then(OwnedKey::scope)
    }

    /// The connection's key; `None` for [`EventKind::Swept`] and [`EventKind::FleetLink`].
    pub fn key(&self) -> Option<Key<'_>> {
        self.key.as_ref().map(OwnedKey::as_key)
    }

    /// The type of [`Event::kind`], for filtering.
    pub fn event_type(&self) -> EventType {
        self.kind.event_type()
    }
}

/// What an [`Event`] reports.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The connection was registered.
    Registered,
    /// The connection was unregistered.
    Unregistered,
    /// The sweep removed the connection for inactivity.
    Evicted,
    /// The circuit changed state (or, for [`Cause::ProbeTimeout`], freed its probe
    /// slots without changing state).
    StateChanged {
        /// The state before.
        from: State,
        /// The state after.
        to: State,
        /// Why.
        cause: Cause,
    },
    /// A success was reported.
    Success,
    /// A failure was reported.
    Failure {
        /// The reason given with the report, if any.
        reason: Option<String>,
    },
    /// The connection's options were changed.
    Configured,
    /// A sweep finished (the event has no key).
    Swept {
        /// Connections the sweep looked at.
        examined: usize,
        /// Connections it evicted.
        evicted: usize,
    },
    /// The link of a fleet attachment (brama-sync's feature `redis`) to its server went
    /// up or down (the event has no key).
    FleetLink {
        /// Whether the link is up now.
        connected: bool,
    },
}

impl EventKind {
    /// The type of this kind, for filtering.
    pub fn event_type(&self) -> EventType {
        match self {
            EventKind::Registered => EventType::Registered,
            EventKind::Unregistered => EventType::Unregistered,
            EventKind::Evicted => EventType::Evicted,
            EventKind::StateChanged { .. } => EventType::StateChanged,
            EventKind::Success => EventType::Success,
            EventKind::Failure { .. } => EventType::Failure,
            EventKind::Configured => EventType::Configured,
            EventKind::Swept { .. } => EventType::Swept,
            EventKind::FleetLink { .. } => EventType::FleetLink,
        }
    }
}

/// The type of an [`EventKind`], without its data: what a [`Filter`](crate::Filter) selects on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// [`EventKind::Registered`].
    Registered,
    /// [`EventKind::Unregistered`].
    Unregistered,
    /// [`EventKind::Evicted`].
    Evicted,
    /// [`EventKind::StateChanged`].
    StateChanged,
    /// [`EventKind::Success`].
    Success,
    /// [`EventKind::Failure`].
    Failure,
    /// [`EventKind::Configured`].
    Configured,
    /// [`EventKind::Swept`].
    Swept,
    /// [`EventKind::FleetLink`].
    FleetLink,
}

/// Every type's bit set.
pub(super) const ALL_TYPES_MASK: u32 = (1 << EventType::ALL.len()) - 1;

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 9] = [
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
        EventType::StateChanged,
        EventType::Success,
        EventType::Failure,
        EventType::Configured,
        EventType::Swept,
        EventType::FleetLink,
    ];

    /// This type's bit in a type mask.
    pub(crate) const fn mask(self) -> u32 {
        1 << self as u32
    }
}

/// A reason as events carry it: `reason` itself if it is at most
/// [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES), else its longest prefix that ends on
/// a character boundary and leaves room for
/// [`TRUNCATED_REASON_MARK`](crate::TRUNCATED_REASON_MARK), followed by the mark.
///
/// # Examples
/// ```
/// use brama_core::engine::bounded_reason;
/// use brama_core::{MAX_REASON_BYTES, TRUNCATED_REASON_MARK};
/// assert_eq!(bounded_reason("timeout"), "timeout");
/// let long = bounded_reason(&"é".repeat(1000));
/// assert!(long.len() <= MAX_REASON_BYTES && long.ends_with(TRUNCATED_REASON_MARK));
/// ```
pub fn bounded_reason(reason: &str) -> String {
    use crate::config::{MAX_REASON_BYTES, TRUNCATED_REASON_MARK};
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_owned();
    }
    let mut end = MAX_REASON_BYTES - TRUNCATED_REASON_MARK.len();
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED_REASON_MARK.len());
    out.push_str(&reason[..end]);
    out.push_str(TRUNCATED_REASON_MARK);
    out
}
