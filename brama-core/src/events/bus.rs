//! [`EventBus`]: numbers events and fans them out to subscribers without blocking.

use std::fmt;
use std::task::Waker;

use super::event::*;
use super::filter::*;
use super::queue::Queue;
use super::subscription::*;
use crate::clock::{Nanos, NOT_A_READING};
use crate::sync::{lock, Arc, AtomicU32, AtomicU64, AtomicUsize, Mutex, Ordering};

/// The event bus of one registry: numbers events and fans them out to subscribers.
///
/// Clones share one bus. When the last clone is dropped, every subscription drains
/// what is queued and then reports `None`.
///
/// # Examples
/// ```
/// use brama_core::engine::EventBus;
/// use brama_core::{EventType, Filter};
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
    pub(super) shared: Arc<Shared>,
    /// Shared by the clones only (never by subscriptions): closes the bus when the
    /// last clone is dropped.
    pub(super) _closer: Arc<Closer>,
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
    /// Takes the sequencer lock briefly (the queue is made before, outside it).
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        // Relaxed: pairs with the store in `set_capacity`; only this value is read.
        let capacity = self.shared.capacity.load(Ordering::Relaxed);
        let queue = Arc::new(Queue::new(capacity));
        let id = {
            let mut seq = lock(&self.shared.sequencer);
            let id = seq.next_id;
            seq.next_id += 1;
            seq.wants |= filter.types_mask();
            seq.subscribers.push(Subscriber {
                id,
                filter,
                queue: Arc::clone(&queue),
            });
            self.shared.store_wants(seq.wants);
            id
        };
        Subscription {
            id,
            queue,
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
        // Async receivers' wakers are collected here and woken after the lock is
        // released (a waker is the executor's code); `Vec::new` does not allocate
        // until some receiver is waiting.
        let mut wake = Vec::new();
        let mut pending: Option<&Subscriber> = None;
        for sub in sequencer
            .subscribers
            .iter()
            .filter(|s| s.filter.matches(&event))
        {
            if let Some(previous) = pending.replace(sub) {
                previous.queue.push(event.clone(), &mut wake);
            }
        }
        if let Some(last) = pending {
            last.queue.push(event, &mut wake);
        }
        drop(guard);
        wake_all(wake);
        Some(seq)
    }

    /// The sequence number of the last event published (0 before the first). Takes
    /// the sequencer lock briefly.
    pub fn last_seq(&self) -> u64 {
        lock(&self.shared.sequencer).last_seq
    }
}

/// What the bus and its subscriptions share. It holds each subscriber's queue, never a
/// `Subscription`, so there is no reference cycle.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) sequencer: Mutex<Sequencer>,
    /// A copy of `Sequencer::wants` readable without the lock.
    pub(super) wants: AtomicU32,
    /// See [`EventBus::quiet`].
    pub(super) quiet: AtomicU64,
    /// Queue capacity for new subscriptions (at least 1).
    pub(super) capacity: AtomicUsize,
}

impl Shared {
    /// Publishes a new wants mask, and takes the quiet stamp out of reach if it wants
    /// `Success` (the next refresh restores it once nobody does); called with the
    /// sequencer lock held.
    pub(super) fn store_wants(&self, mask: u32) {
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
pub(super) struct Sequencer {
    /// The last sequence number used (0 before the first event).
    pub(super) last_seq: u64,
    /// The id the next subscription gets.
    pub(super) next_id: u64,
    /// The union of the live subscribers' type masks.
    pub(super) wants: u32,
    pub(super) subscribers: Vec<Subscriber>,
}

impl Sequencer {
    /// Removes subscriber `id` (if still there) and recomputes `wants`; returns it so
    /// the caller can drop its sender after releasing the lock.
    pub(super) fn remove(&mut self, id: u64) -> Option<Subscriber> {
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
pub(super) struct Subscriber {
    pub(super) id: u64,
    pub(super) filter: Filter,
    pub(super) queue: Arc<Queue>,
}

/// Wakes the async receivers a publish or a close collected, with no lock held.
fn wake_all(wake: Vec<Waker>) {
    for w in wake {
        w.wake();
    }
}

/// Closes the bus when the last [`EventBus`] clone is dropped: removes every
/// subscriber and closes its queue, so each subscription reports `None` once drained.
pub(super) struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        let subscribers = {
            let mut seq = lock(&self.0.sequencer);
            seq.wants = 0;
            self.0.store_wants(0);
            std::mem::take(&mut seq.subscribers)
        };
        // Closed and woken after the sequencer lock is released.
        let mut wake = Vec::new();
        for s in &subscribers {
            s.queue.close(&mut wake);
        }
        drop(subscribers);
        wake_all(wake);
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closer")
    }
}
