//! Events, filters and bounded subscriptions (SPEC §5).
//!
//! An [`EventBus`] hands out [`Subscription`]s, each a bounded queue with its own
//! [`Filter`]. Publishers first ask [`EventBus::wants`] (one relaxed atomic load, no
//! lock, no allocation), so an event type nobody subscribes to costs nothing beyond
//! that load. When someone does want it, [`EventBus::publish`] numbers the event and
//! pushes it, without ever blocking, to every subscriber whose filter matches; a
//! subscriber whose queue is full loses the newest event and counts the loss in
//! [`Subscription::dropped`].
//!
//! # Guarantees
//!
//! - Sequence numbers are gap-free per bus and start at 1: every number handed out
//!   belongs to exactly one event that was offered to its subscribers.
//! - Every subscriber receives the events it keeps in increasing sequence order.
//! - A publisher never waits on a subscriber, and no lock is held while a subscriber
//!   receives.
//! - Dropping a [`Subscription`] unsubscribes it; when the last [`EventBus`] clone is
//!   dropped, subscriptions drain what is queued and then report `None`.

use std::fmt;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

use crate::clock::{Nanos, NOT_A_READING};
use crate::key::{Key, OwnedKey};
use crate::state::{Cause, State};
use crate::sync::{lock, Arc, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering};

/// A connection's counters as they stood just before the change an [`Event`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

/// Something that happened to a connection (or, for [`EventKind::Swept`], to the
/// registry as a whole).
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
    /// The reason given with a failure or a manual open, if any.
    pub reason: Option<String>,
    /// The connection; `None` only for registry-wide events (`Swept`, a `Configured`
    /// of the defaults).
    key: Option<OwnedKey>,
}

impl Event {
    /// An event. `key` is `None` only for [`EventKind::Swept`], which concerns no
    /// single connection.
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

    /// The connection's identifier; `""` for an event without a key ([`EventKind::Swept`]).
    pub fn identifier(&self) -> &str {
        self.key.as_ref().map_or("", OwnedKey::identifier)
    }

    /// The connection's scope, if it has one (`None` as well for an event without a key).
    pub fn scope(&self) -> Option<&str> {
        self.key.as_ref().and_then(OwnedKey::scope)
    }

    /// The connection's key; `None` for [`EventKind::Swept`].
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
        }
    }
}

/// The type of an [`EventKind`], without its data: what a [`Filter`] selects on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
}

/// Every type's bit set.
const ALL_TYPES_MASK: u32 = (1 << EventType::ALL.len()) - 1;

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 8] = [
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
        EventType::StateChanged,
        EventType::Success,
        EventType::Failure,
        EventType::Configured,
        EventType::Swept,
    ];

    /// This type's bit in a type mask.
    pub(crate) const fn mask(self) -> u32 {
        1 << self as u32
    }
}

/// Which events a [`Subscription`] receives: any combination of event types,
/// identifier and scope. Every part left unset matches everything.
///
/// - Types: an event matches if its type is one of those added; a filter with no
///   types matches every type.
/// - Identifier: the event's key must have this identifier, scoped or not.
/// - Scope: the event's key must be in this scope (an unscoped key never matches).
///
/// A [`EventKind::Swept`] event has no key, so it matches only filters with neither
/// an identifier nor a scope.
///
/// # Examples
/// ```
/// use brama_core::{EventType, Filter};
///
/// // State changes of any connection in the "payments" scope.
/// let f = Filter::new().event_types([EventType::StateChanged]).scope("payments");
/// // Failures of "stripe", in any scope or none.
/// let g = Filter::new().event_type(EventType::Failure).identifier("stripe");
/// # let _ = (f, g);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Bits from [`EventType::mask`]; 0 means every type.
    types: u32,
    identifier: Option<String>,
    scope: Option<String>,
}

impl Filter {
    /// A filter that matches every event.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Adds these types to the types the filter matches.
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Filter {
        for t in types {
            self.types |= t.mask();
        }
        self
    }

    /// Adds one type to the types the filter matches.
    pub fn event_type(mut self, t: EventType) -> Filter {
        self.types |= t.mask();
        self
    }

    /// Matches only events whose key has this identifier (in any scope, or none).
    pub fn identifier(mut self, id: impl Into<String>) -> Filter {
        self.identifier = Some(id.into());
        self
    }

    /// Matches only events whose key is in this scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Filter {
        self.scope = Some(scope.into());
        self
    }

    /// Whether `e` passes the filter.
    pub fn matches(&self, e: &Event) -> bool {
        if self.types_mask() & e.event_type().mask() == 0 {
            return false;
        }
        if self.identifier.is_none() && self.scope.is_none() {
            return true;
        }
        let Some(key) = e.key.as_ref() else {
            return false;
        };
        let identifier_ok = match self.identifier.as_deref() {
            Some(id) => key.identifier() == id,
            None => true,
        };
        let scope_ok = match self.scope.as_deref() {
            Some(scope) => key.scope() == Some(scope),
            None => true,
        };
        identifier_ok && scope_ok
    }

    /// The types this filter can match, as a mask (every type when none was added).
    pub(crate) fn types_mask(&self) -> u32 {
        if self.types == 0 {
            ALL_TYPES_MASK
        } else {
            self.types
        }
    }
}

/// A bounded queue of the events that match one [`Filter`].
///
/// When the queue is full, the newest events are dropped for this subscriber only
/// and counted in [`Subscription::dropped`]; publishers never wait. Events arrive in
/// increasing [`Event::seq`] order. Dropping the `Subscription` unsubscribes it.
///
/// # Examples
/// ```
/// use std::time::{Duration, SystemTime};
/// use brama_core::{Counts, Event, EventBus, EventKind, EventType, Filter, Key, State};
///
/// let bus = EventBus::new(16);
/// let sub = bus.subscribe(Filter::new().event_type(EventType::Success));
/// let key = Key::new("db").to_owned_key().unwrap();
/// bus.publish(EventType::Success, |seq| {
///     Event::new(seq, EventKind::Success, SystemTime::now(), Some(key.clone()),
///                State::Closed, Counts::default())
/// });
/// let e = sub.recv_timeout(Duration::from_millis(100)).unwrap();
/// assert_eq!((e.seq, e.identifier()), (1, "db"));
/// drop(sub);
/// assert!(!bus.wants(EventType::Success));
/// ```
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    receiver: Receiver<Event>,
    dropped: Arc<AtomicU64>,
    capacity: usize,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The next event, waiting at most `d` for one; `None` if none came (or the bus
    /// is gone and the queue is empty). Blocks the calling thread.
    pub fn recv_timeout(&self, d: Duration) -> Option<Event> {
        self.receiver.recv_timeout(d).ok()
    }

    /// The next event if one is queued; never blocks.
    pub fn try_recv(&self) -> Option<Event> {
        self.receiver.try_recv().ok()
    }

    /// The next event, waiting as long as it takes; `None` once the bus is gone (the
    /// last [`EventBus`] clone dropped) and the queue is empty. Blocks the calling
    /// thread.
    pub fn recv(&self) -> Option<Event> {
        self.receiver.recv().ok()
    }

    /// Drains the events queued now; never blocks.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.receiver.try_iter()
    }

    /// How many events this subscriber lost to a full queue.
    pub fn dropped(&self) -> u64 {
        // Relaxed: a lone counter that publishes no other data; pairs with the
        // fetch_add in `Subscriber::deliver`.
        self.dropped.load(Ordering::Relaxed)
    }

    /// The queue's capacity, in events.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let removed = {
            let mut seq = lock(&self.shared.sequencer);
            let removed = seq.remove(self.id);
            self.shared.store_wants(seq.wants);
            removed
        };
        // The sender is dropped here, after the sequencer lock is released.
        drop(removed);
    }
}

/// The event bus of one registry: numbers events and fans them out to subscribers.
///
/// Clones share one bus. When the last clone is dropped, every subscription drains
/// what is queued and then reports `None`.
///
/// # Examples
/// ```
/// use brama_core::{EventBus, EventType, Filter};
///
/// let bus = EventBus::new(1024);
/// assert!(!bus.wants(EventType::Failure));
/// let sub = bus.subscribe(Filter::new().event_type(EventType::Failure));
/// assert!(bus.wants(EventType::Failure));
/// assert!(!bus.wants(EventType::Success));
/// assert_eq!(bus.subscriber_count(), 1);
/// # drop(sub);
/// ```
#[derive(Clone, Debug)]
pub struct EventBus {
    shared: Arc<Shared>,
    /// Shared by the clones only (never by subscriptions): closes the bus when the
    /// last clone is dropped.
    _closer: Arc<Closer>,
}

impl EventBus {
    /// A bus whose subscriptions get queues of `capacity` events (0 is taken as 1;
    /// callers validate the setting).
    pub fn new(capacity: usize) -> EventBus {
        let shared = Arc::new(Shared {
            sequencer: Mutex::new(Sequencer {
                last_seq: 0,
                next_id: 0,
                wants: 0,
                subscribers: Vec::new(),
            }),
            wants: AtomicU32::new(0),
            quiet: AtomicU64::new(NOT_A_READING),
            capacity: AtomicUsize::new(capacity.max(1)),
        });
        EventBus {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
        }
    }

    /// Sets the queue capacity of subscriptions made from now on (0 is taken as 1);
    /// existing subscriptions keep theirs.
    pub fn set_capacity(&self, capacity: usize) {
        // Relaxed: a lone setting read by `subscribe`; nothing else is published with it.
        self.shared
            .capacity
            .store(capacity.max(1), Ordering::Relaxed);
    }

    /// A new subscription receiving the events that match `filter`.
    ///
    /// Takes the sequencer lock briefly (the queue is allocated before, outside it).
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        // Relaxed: pairs with the store in `set_capacity`; only this value is read.
        let capacity = self.shared.capacity.load(Ordering::Relaxed);
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let id = {
            let mut seq = lock(&self.shared.sequencer);
            let id = seq.next_id;
            seq.next_id += 1;
            seq.wants |= filter.types_mask();
            seq.subscribers.push(Subscriber {
                id,
                filter,
                sender,
                dropped: Arc::clone(&dropped),
            });
            self.shared.store_wants(seq.wants);
            id
        };
        Subscription {
            id,
            receiver,
            dropped,
            capacity,
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many subscriptions are live. Takes the sequencer lock briefly.
    pub fn subscriber_count(&self) -> usize {
        lock(&self.shared.sequencer).subscribers.len()
    }

    /// Whether any live subscription wants events of type `t`: one relaxed atomic
    /// load, no lock, no allocation. Publishers call it before building an event.
    ///
    /// A subscription made before the caller's change (in the happens-before sense)
    /// is always seen; one made concurrently may or may not be.
    #[inline]
    pub fn wants(&self, t: EventType) -> bool {
        // Relaxed: pairs with the stores in `Shared::store_wants` (made under the
        // sequencer lock); it is only a fast path, since `publish` re-checks under
        // the lock, and coherence alone makes any subscribe that happens-before this
        // load visible.
        self.shared.wants.load(Ordering::Relaxed) & t.mask() != 0
    }

    /// The quiet stamp: a clock reading such that a handle success on a healthy
    /// circuit whose success stamp equals it may be counted with no report (nothing to
    /// write but the count), or [`NOT_A_READING`] while some subscription wants
    /// `Success` or no reading was published ([`publish_quiet`](Self::publish_quiet)).
    /// One relaxed load standing for the wants test and the clock's cached reading.
    ///
    /// A subscription to `Success` made before the caller's load (in the
    /// happens-before sense) is always seen: the subscribe stores `NOT_A_READING`
    /// under the sequencer lock, and `publish_quiet` stores only under that lock and
    /// only `NOT_A_READING` while the mask wants `Success`.
    #[inline]
    pub fn quiet(&self) -> Nanos {
        // Relaxed: coherence alone (see above).
        self.shared.quiet.load(Ordering::Relaxed)
    }

    /// Publishes `now` (the clock's cached reading, just refreshed) as the quiet stamp,
    /// or `NOT_A_READING` if a subscription wants `Success`.
    ///
    /// Exact against subscribes: every store of the stamp is made under the
    /// sequencer lock, from the mask as it is there, so no refresh can store a reading
    /// after a `Success` subscription has stored `NOT_A_READING`. (Loom model
    /// `loom_events::a_success_subscription_is_never_outrun_by_a_refresh`.) The lock
    /// is taken once per refresh (every millisecond), never on a report.
    pub fn publish_quiet(&self, now: Nanos) {
        let seq = lock(&self.shared.sequencer);
        let quiet = if seq.wants & EventType::Success.mask() != 0 {
            NOT_A_READING
        } else {
            now
        };
        // Relaxed: the lock orders the stores; readers need only coherence.
        self.shared.quiet.store(quiet, Ordering::Relaxed);
    }

    /// Numbers an event of type `t` and offers it to every matching subscriber.
    ///
    /// If no subscription wants `t` (see [`EventBus::wants`]), returns `None` at once,
    /// without calling `build` and without using a sequence number. Otherwise it takes
    /// the bus's sequencer lock, assigns the next sequence number (gap-free per bus,
    /// the first is 1), calls `build(seq)`, pushes a copy to every subscriber whose
    /// filter matches, releases the lock and returns `Some(seq)`.
    ///
    /// # Locking
    ///
    /// Holding the sequencer across numbering and pushing is what makes every
    /// subscriber receive events in sequence order. It is held only briefly: the
    /// pushes never wait (a full queue drops the new event for that subscriber and
    /// counts it in [`Subscription::dropped`]), no user code runs under it, and no
    /// subscriber ever holds it while receiving. `build` runs under it, so it must be
    /// cheap and must not publish on the same bus (that would deadlock). If `build`
    /// panics, the sequence number is not used.
    pub fn publish(&self, t: EventType, build: impl FnOnce(u64) -> Event) -> Option<u64> {
        if !self.wants(t) {
            return None;
        }
        let mut guard = lock(&self.shared.sequencer);
        let sequencer = &mut *guard;
        // The atomic mask may be stale; this one is exact while we hold the lock.
        if sequencer.wants & t.mask() == 0 {
            return None;
        }
        let seq = sequencer.last_seq + 1;
        let event = build(seq);
        debug_assert_eq!(
            event.seq, seq,
            "build must use the sequence number it is given"
        );
        debug_assert_eq!(
            event.event_type(),
            t,
            "build must make an event of type `t`"
        );
        sequencer.last_seq = seq;

        // Each matching subscriber gets a clone except the last, which gets `event`.
        let mut pending: Option<&Subscriber> = None;
        for sub in sequencer
            .subscribers
            .iter()
            .filter(|s| s.filter.matches(&event))
        {
            if let Some(previous) = pending.replace(sub) {
                previous.deliver(event.clone());
            }
        }
        if let Some(last) = pending {
            last.deliver(event);
        }
        Some(seq)
    }

    /// The sequence number of the last event published (0 before the first). Takes
    /// the sequencer lock briefly.
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.sequencer).last_seq
    }
}

/// What the bus and its subscriptions share. It holds only the sending side of each
/// queue, never a `Subscription` or its receiver, so there is no reference cycle.
#[derive(Debug)]
struct Shared {
    sequencer: Mutex<Sequencer>,
    /// A copy of `Sequencer::wants` readable without the lock.
    wants: AtomicU32,
    /// See [`EventBus::quiet`].
    quiet: AtomicU64,
    /// Queue capacity for new subscriptions (at least 1).
    capacity: AtomicUsize,
}

impl Shared {
    /// Publishes a new wants mask, and takes the quiet stamp out of reach if it wants
    /// `Success` (the next refresh restores it once nobody does); called with the
    /// sequencer lock held.
    fn store_wants(&self, mask: u32) {
        // Relaxed: pairs with the load in `EventBus::wants`; the exact mask lives
        // under the sequencer lock, this copy is a hint.
        self.wants.store(mask, Ordering::Relaxed);
        if mask & EventType::Success.mask() != 0 {
            // Relaxed: as in `EventBus::publish_quiet`.
            self.quiet.store(NOT_A_READING, Ordering::Relaxed);
        }
    }
}

/// State guarded by the sequencer lock.
#[derive(Debug)]
struct Sequencer {
    /// The last sequence number used (0 before the first event).
    last_seq: u64,
    /// The id the next subscription gets.
    next_id: u64,
    /// The union of the live subscribers' type masks.
    wants: u32,
    subscribers: Vec<Subscriber>,
}

impl Sequencer {
    /// Removes subscriber `id` (if still there) and recomputes `wants`; returns it so
    /// the caller can drop its sender after releasing the lock.
    fn remove(&mut self, id: u64) -> Option<Subscriber> {
        let index = self.subscribers.iter().position(|s| s.id == id)?;
        let removed = self.subscribers.swap_remove(index);
        self.wants = self
            .subscribers
            .iter()
            .fold(0, |mask, s| mask | s.filter.types_mask());
        Some(removed)
    }
}

/// The bus's side of one subscription.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    filter: Filter,
    sender: SyncSender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Subscriber {
    /// Queues `event` without blocking; a full queue drops it and counts the loss.
    fn deliver(&self, event: Event) {
        match self.sender.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                // Relaxed: a lone counter; pairs with the load in `Subscription::dropped`.
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The subscription is being dropped; it removes itself under the lock.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Closes the bus when the last [`EventBus`] clone is dropped: removes every
/// subscriber, so each subscription's queue disconnects once drained.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        let subscribers = {
            let mut seq = lock(&self.0.sequencer);
            seq.wants = 0;
            self.0.store_wants(0);
            std::mem::take(&mut seq.subscribers)
        };
        // The senders are dropped here, after the sequencer lock is released.
        drop(subscribers);
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closer")
    }
}

// Under `brama_loom` the primitives are loom's, which work only inside a loom model.
#[cfg(all(test, not(brama_loom)))]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::thread;

    fn key(id: &str) -> OwnedKey {
        Key::new(id).to_owned_key().unwrap()
    }

    fn scoped(scope: &str, id: &str) -> OwnedKey {
        Key::scoped(scope, id).to_owned_key().unwrap()
    }

    fn event(seq: u64, kind: EventKind, key: Option<OwnedKey>) -> Event {
        Event::new(
            seq,
            kind,
            SystemTime::UNIX_EPOCH,
            key,
            State::Closed,
            Counts::default(),
        )
    }

    fn failure() -> EventKind {
        EventKind::Failure { reason: None }
    }

    fn swept() -> EventKind {
        EventKind::Swept {
            examined: 3,
            evicted: 1,
        }
    }

    /// Publishes a `Success` for `k`, returning the sequence number if one was used.
    fn publish_success(bus: &EventBus, k: &OwnedKey) -> Option<u64> {
        bus.publish(EventType::Success, |seq| {
            event(seq, EventKind::Success, Some(k.clone()))
        })
    }

    #[test]
    fn event_accessors_report_key_parts() {
        let e = event(1, EventKind::Success, Some(scoped("payments", "stripe")));
        assert_eq!(e.identifier(), "stripe");
        assert_eq!(e.scope(), Some("payments"));
        assert_eq!(e.key(), Some(Key::scoped("payments", "stripe")));

        let u = event(2, failure(), Some(key("db")));
        assert_eq!((u.identifier(), u.scope()), ("db", None));
        assert_eq!(u.event_type(), EventType::Failure);

        let s = event(3, swept(), None);
        assert_eq!((s.identifier(), s.scope(), s.key()), ("", None, None));
        assert_eq!(s.event_type(), EventType::Swept);
    }

    #[test]
    fn event_type_masks_are_distinct_bits() {
        let mut seen = 0;
        for t in EventType::ALL {
            assert_eq!(t.mask().count_ones(), 1);
            assert_eq!(seen & t.mask(), 0, "{t:?} shares a bit");
            seen |= t.mask();
        }
        assert_eq!(seen, ALL_TYPES_MASK);
    }

    #[test]
    fn filter_matches_by_type_identifier_and_scope() {
        let stripe_in_payments = event(1, EventKind::Success, Some(scoped("payments", "stripe")));
        let stripe_unscoped = event(2, EventKind::Success, Some(key("stripe")));
        let adyen_in_payments = event(3, failure(), Some(scoped("payments", "adyen")));
        let payments_colon_stripe = event(4, EventKind::Success, Some(key("payments:stripe")));
        let sweep = event(5, swept(), None);
        let all = [
            &stripe_in_payments,
            &stripe_unscoped,
            &adyen_in_payments,
            &payments_colon_stripe,
            &sweep,
        ];
        let hits = |f: &Filter| -> Vec<u64> {
            all.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect()
        };

        assert_eq!(hits(&Filter::new()), [1, 2, 3, 4, 5]);
        assert_eq!(
            hits(&Filter::new().event_type(EventType::Success)),
            [1, 2, 4]
        );
        assert_eq!(
            hits(&Filter::new().event_types([EventType::Failure, EventType::Swept])),
            [3, 5]
        );
        // event_type and event_types add to the set.
        assert_eq!(
            hits(
                &Filter::new()
                    .event_type(EventType::Failure)
                    .event_types([EventType::Swept])
            ),
            [3, 5]
        );
        // Identifier alone: that identifier in any scope, or none.
        assert_eq!(hits(&Filter::new().identifier("stripe")), [1, 2]);
        // Scope alone: only keys in that scope; unscoped "payments:stripe" is not.
        assert_eq!(hits(&Filter::new().scope("payments")), [1, 3]);
        assert_eq!(
            hits(&Filter::new().scope("payments").identifier("stripe")),
            [1]
        );
        assert_eq!(
            hits(
                &Filter::new()
                    .scope("payments")
                    .event_type(EventType::Failure)
            ),
            [3]
        );
        assert_eq!(
            hits(
                &Filter::new()
                    .identifier("stripe")
                    .event_type(EventType::Failure)
            ),
            [] as [u64; 0]
        );
        assert_eq!(hits(&Filter::new().scope("stripe")), [] as [u64; 0]);
        // A keyless Swept event never matches an identifier or scope filter.
        assert!(!Filter::new()
            .event_type(EventType::Swept)
            .identifier("")
            .matches(&sweep));
    }

    #[test]
    fn wants_is_false_without_subscribers_and_publish_skips_build() {
        let bus = EventBus::new(4);
        for t in EventType::ALL {
            assert!(!bus.wants(t));
        }
        let mut called = false;
        let out = bus.publish(EventType::Success, |seq| {
            called = true;
            event(seq, EventKind::Success, Some(key("db")))
        });
        assert_eq!(out, None);
        assert!(!called, "build ran with nobody subscribed");
        assert_eq!(bus.last_seq(), 0);

        // A subscriber to another type does not make Success wanted either.
        let sub = bus.subscribe(Filter::new().event_type(EventType::Failure));
        assert!(bus.wants(EventType::Failure));
        assert!(!bus.wants(EventType::Success));
        assert_eq!(publish_success(&bus, &key("db")), None);
        assert_eq!(bus.last_seq(), 0);

        // The first sequence number actually used is 1.
        let published = bus.publish(EventType::Failure, |seq| {
            event(seq, failure(), Some(key("db")))
        });
        assert_eq!(published, Some(1));
        assert_eq!(sub.try_recv().map(|e| e.seq), Some(1));
    }

    #[test]
    fn seqs_are_gap_free_and_arrive_in_order() {
        let bus = EventBus::new(64);
        let sub = bus.subscribe(Filter::new());
        let k = key("db");
        for expected in 1..=50 {
            assert_eq!(publish_success(&bus, &k), Some(expected));
        }
        assert_eq!(bus.last_seq(), 50);
        let seqs: Vec<u64> = sub.try_iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        assert_eq!(sub.dropped(), 0);
    }

    #[test]
    fn full_queue_drops_newest_and_counts_exactly() {
        let bus = EventBus::new(2);
        let sub = bus.subscribe(Filter::new());
        assert_eq!(sub.capacity(), 2);
        let k = key("db");
        for _ in 0..5 {
            publish_success(&bus, &k);
        }
        assert_eq!(sub.dropped(), 3);
        let kept: Vec<u64> = sub.try_iter().map(|e| e.seq).collect();
        assert_eq!(kept, [1, 2], "the oldest stay queued");

        // Room again: the next event is queued, the count stays.
        assert_eq!(publish_success(&bus, &k), Some(6));
        assert_eq!(sub.try_recv().map(|e| e.seq), Some(6));
        assert_eq!(sub.dropped(), 3);
    }

    #[test]
    fn a_full_subscriber_does_not_affect_another() {
        let bus = EventBus::new(1);
        let slow = bus.subscribe(Filter::new());
        bus.set_capacity(8);
        let fast = bus.subscribe(Filter::new());
        assert_eq!((slow.capacity(), fast.capacity()), (1, 8));
        let k = key("db");
        for _ in 0..4 {
            publish_success(&bus, &k);
        }
        assert_eq!(slow.dropped(), 3);
        assert_eq!(fast.dropped(), 0);
        assert_eq!(fast.try_iter().count(), 4);
        assert_eq!(slow.try_iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn capacity_zero_is_taken_as_one() {
        let bus = EventBus::new(0);
        assert_eq!(bus.subscribe(Filter::new()).capacity(), 1);
        bus.set_capacity(0);
        let sub = bus.subscribe(Filter::new());
        assert_eq!(sub.capacity(), 1);
        publish_success(&bus, &key("db"));
        assert_eq!(sub.try_recv().map(|e| e.seq), Some(1));
    }

    #[test]
    fn dropping_the_subscription_unsubscribes() {
        let bus = EventBus::new(4);
        let a = bus.subscribe(Filter::new().event_type(EventType::Success));
        let b = bus.subscribe(Filter::new().event_type(EventType::Failure));
        assert_eq!(bus.subscriber_count(), 2);
        assert!(bus.wants(EventType::Success) && bus.wants(EventType::Failure));

        drop(a);
        assert_eq!(bus.subscriber_count(), 1);
        assert!(!bus.wants(EventType::Success));
        assert!(bus.wants(EventType::Failure));

        drop(b);
        assert_eq!(bus.subscriber_count(), 0);
        for t in EventType::ALL {
            assert!(!bus.wants(t));
        }
        assert_eq!(publish_success(&bus, &key("db")), None);
        assert_eq!(bus.last_seq(), 0);
    }

    #[test]
    fn a_subscriber_whose_filter_does_not_match_gets_nothing() {
        let bus = EventBus::new(16);
        let other_scope = bus.subscribe(Filter::new().scope("billing"));
        let other_type = bus.subscribe(Filter::new().event_type(EventType::Failure));
        let everything = bus.subscribe(Filter::new());
        let k = scoped("payments", "stripe");
        for _ in 0..3 {
            publish_success(&bus, &k);
        }
        assert!(other_scope.try_recv().is_none());
        assert!(other_type.try_recv().is_none());
        assert_eq!(other_scope.dropped() + other_type.dropped(), 0);
        assert_eq!(everything.try_iter().count(), 3);
    }

    #[test]
    fn concurrent_publishers_deliver_gap_free_increasing_seqs() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 2_000;
        const TOTAL: usize = THREADS * PER_THREAD;

        let bus = EventBus::new(TOTAL);
        let sub = bus.subscribe(Filter::new());
        let start = Barrier::new(THREADS);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (bus, start) = (&bus, &start);
                s.spawn(move || {
                    let k = key(&format!("t{t}"));
                    start.wait();
                    for _ in 0..PER_THREAD {
                        assert!(publish_success(bus, &k).is_some());
                    }
                });
            }
        });

        assert_eq!(sub.dropped(), 0);
        let events: Vec<Event> = sub.try_iter().collect();
        assert_eq!(events.len(), TOTAL);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "gap or reordering at position {i}");
        }
        for t in 0..THREADS {
            let id = format!("t{t}");
            let n = events.iter().filter(|e| e.identifier() == id).count();
            assert_eq!(n, PER_THREAD, "events from {id}");
        }
        assert_eq!(bus.last_seq(), TOTAL as u64);
    }

    #[test]
    fn recv_timeout_on_an_empty_queue_is_none() {
        let bus = EventBus::new(4);
        let sub = bus.subscribe(Filter::new());
        assert!(sub.recv_timeout(Duration::from_millis(10)).is_none());
        assert!(sub.try_recv().is_none());
        assert_eq!(sub.try_iter().count(), 0);
    }

    #[test]
    fn subscriptions_drain_then_end_when_the_bus_is_gone() {
        let bus = EventBus::new(4);
        let clone = bus.clone();
        let sub = bus.subscribe(Filter::new());
        publish_success(&bus, &key("db"));
        drop(bus);
        // A clone keeps the bus open.
        assert_eq!(clone.subscriber_count(), 1);
        assert_eq!(publish_success(&clone, &key("db")), Some(2));
        drop(clone);
        assert_eq!(sub.recv().map(|e| e.seq), Some(1));
        assert_eq!(sub.recv().map(|e| e.seq), Some(2));
        assert!(sub.recv().is_none());
        assert!(sub.recv_timeout(Duration::from_secs(60)).is_none());
    }

    #[test]
    fn subscription_is_send_and_moves_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Subscription>();
        fn assert_sync<T: Sync>() {}
        assert_send::<EventBus>();
        assert_sync::<EventBus>();

        let bus = EventBus::new(4);
        let sub = bus.subscribe(Filter::new());
        publish_success(&bus, &key("db"));
        let got = thread::spawn(move || sub.recv().map(|e| e.seq))
            .join()
            .unwrap();
        assert_eq!(got, Some(1));
        assert_eq!(bus.subscriber_count(), 0);
    }
}
