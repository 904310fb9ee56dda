//! [`EventBus`]: numbers events and fans them out to subscribers without blocking.

use std::fmt;
use std::task::Waker;

use super::event::*;
use super::filter::*;
use super::queue::{Queue, Queued};
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
                next_id: 0,
                wants: 0,
                subscribers: Vec::new(),
            }),
            list: List::new(),
            last_seq: AtomicU64::new(0),
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
    /// Takes the sequencer lock briefly to publish a new subscriber list; the queue is
    /// made before, outside it, and allocates nothing for events until they come.
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        // Relaxed: pairs with the store in `set_capacity`; only this value is read.
        let capacity = self.shared.capacity.load(Ordering::Relaxed);
        let queue = Arc::new(Queue::new(capacity));
        let id = {
            let mut seq = lock(&self.shared.sequencer);
            let id = seq.next_id;
            seq.next_id += 1;
            seq.wants |= filter.types_mask();
            seq.subscribers.push(std::sync::Arc::new(Subscriber {
                id,
                filter,
                queue: Arc::clone(&queue),
            }));
            self.shared.list.store(seq.subscribers.clone());
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
    /// the next sequence number (gap-free per bus, the first is 1), calls
    /// `build(seq)` once, and pushes the one event to every subscriber whose filter
    /// matches (moved into the queue if only one does, else shared, never copied);
    /// returns `Some(seq)`.
    ///
    /// # Locking
    ///
    /// No lock shared by publishers: the subscriber list is read from a lock-free
    /// snapshot, the number is one atomic increment, and each push takes only that
    /// subscriber's queue lock (O(1), no user code; a full queue drops the new event
    /// for that subscriber and counts it in [`Subscription::dropped`]). Async
    /// receivers' wakers are woken after every lock is released. The cost of a publish
    /// is one filter test per subscriber and one push per matching one.
    ///
    /// # Order
    ///
    /// A connection's events are published under its transition lock, so each
    /// subscriber receives them in sequence order. Events of different connections
    /// published at the same moment are numbered in the order they took their numbers
    /// and queued in sequence order, but one may reach a subscriber after a
    /// later-numbered one was already received (their `seq` gives the registry-wide
    /// order). If `build` panics, its number is not used by any event.
    pub fn publish(&self, t: EventType, build: impl FnOnce(u64) -> Event) -> Option<u64> {
        if !self.wants(t) {
            return None;
        }
        let list = self.shared.list.load();
        if !list.iter().any(|s| s.filter.types_mask() & t.mask() != 0) {
            return None;
        }
        // Relaxed: the numbers only need to be unique and in the order of the
        // increments; RMWs on one atomic are totally ordered, and a connection's
        // publishes are ordered by its transition lock, which coherence respects.
        let seq = self.shared.last_seq.fetch_add(1, Ordering::Relaxed) + 1;
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
        // `Vec::new` does not allocate until some receiver is waiting.
        let mut wake = Vec::new();
        let mut matching = (0..list.len()).filter(|&i| list[i].filter.matches(&event));
        let (first, second) = (matching.next(), matching.next());
        match (first, second) {
            (None, _) => {}
            // One queue: it takes the event itself, no allocation.
            (Some(only), None) => list[only].queue.push(Queued::Only(event), &mut wake),
            // Several: one shared copy.
            (Some(first), Some(second)) => {
                let event = std::sync::Arc::new(event);
                let rest = (second + 1..list.len()).filter(|&i| list[i].filter.matches(&event));
                for i in [first, second].into_iter().chain(rest) {
                    let copy = Queued::Shared(std::sync::Arc::clone(&event));
                    list[i].queue.push(copy, &mut wake);
                }
            }
        }
        drop(list);
        wake_all(wake);
        Some(seq)
    }

    /// The sequence number of the last event published (0 before the first).
    pub fn last_seq(&self) -> u64 {
        // Relaxed: a lone counter; a publish that happened before this load is seen.
        self.shared.last_seq.load(Ordering::Relaxed)
    }
}

/// What the bus and its subscriptions share. It holds each subscriber's queue, never a
/// `Subscription`, so there is no reference cycle.
#[derive(Debug)]
pub(super) struct Shared {
    /// Subscribes, unsubscribes and the quiet stamp; never taken by a publish.
    pub(super) sequencer: Mutex<Sequencer>,
    /// The live subscribers as publishers read them: a snapshot replaced (under the
    /// sequencer lock) on every subscribe and unsubscribe.
    pub(super) list: List,
    /// The last sequence number used.
    pub(super) last_seq: AtomicU64,
    /// A copy of `Sequencer::wants` readable without the lock.
    pub(super) wants: AtomicU32,
    /// See [`EventBus::quiet`].
    pub(super) quiet: AtomicU64,
    /// Queue capacity for new subscriptions (at least 1).
    pub(super) capacity: AtomicUsize,
}

/// The subscriber list's snapshot: an `ArcSwap`, read with no lock. Under loom (which
/// cannot see inside `arc-swap`) a mutex stands in for it, so the models check the
/// publish logic around it.
#[derive(Debug)]
pub(super) struct List {
    #[cfg(not(brama_loom))]
    cur: arc_swap::ArcSwap<Vec<std::sync::Arc<Subscriber>>>,
    #[cfg(brama_loom)]
    cur: Mutex<std::sync::Arc<Vec<std::sync::Arc<Subscriber>>>>,
}

impl List {
    fn new() -> List {
        List {
            #[cfg(not(brama_loom))]
            cur: arc_swap::ArcSwap::from_pointee(Vec::new()),
            #[cfg(brama_loom)]
            cur: Mutex::new(std::sync::Arc::new(Vec::new())),
        }
    }

    /// Replaces the snapshot (called under the sequencer lock).
    pub(super) fn store(&self, subscribers: Vec<std::sync::Arc<Subscriber>>) {
        #[cfg(not(brama_loom))]
        self.cur.store(std::sync::Arc::new(subscribers));
        #[cfg(brama_loom)]
        {
            *lock(&self.cur) = std::sync::Arc::new(subscribers);
        }
    }

    /// The snapshot now in force. A `store` that happened before this call is seen.
    fn load(
        &self,
    ) -> impl std::ops::Deref<Target = std::sync::Arc<Vec<std::sync::Arc<Subscriber>>>> {
        #[cfg(not(brama_loom))]
        return self.cur.load();
        #[cfg(brama_loom)]
        return Box::new(std::sync::Arc::clone(&lock(&self.cur)));
    }
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
    /// The id the next subscription gets.
    pub(super) next_id: u64,
    /// The union of the live subscribers' type masks.
    pub(super) wants: u32,
    /// The live subscribers; `Shared::list` is a copy for publishers.
    pub(super) subscribers: Vec<std::sync::Arc<Subscriber>>,
}

impl Sequencer {
    /// Removes subscriber `id` (if still there), recomputes `wants` and publishes the
    /// new list; returns the removed one so the caller can drop it after releasing
    /// the lock.
    pub(super) fn remove(&mut self, id: u64, list: &List) -> Option<std::sync::Arc<Subscriber>> {
        let index = self.subscribers.iter().position(|s| s.id == id)?;
        let removed = self.subscribers.swap_remove(index);
        self.wants = self
            .subscribers
            .iter()
            .fold(0, |mask, s| mask | s.filter.types_mask());
        list.store(self.subscribers.clone());
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

/// Wakes the async receivers a publish or a close collected, with no lock of the bus
/// held; or, inside [`defer_wakes`], leaves them for it to wake.
fn wake_all(wake: Vec<Waker>) {
    if wake.is_empty() {
        return;
    }
    #[cfg(not(brama_loom))]
    let wake = {
        let mut wake = wake;
        let held = DEFERRED.try_with(|d| match d.borrow_mut().as_mut() {
            Some(later) => {
                later.append(&mut wake);
                true
            }
            None => false,
        });
        if held == Ok(true) {
            return;
        }
        wake
    };
    for w in wake {
        w.wake();
    }
}

#[cfg(not(brama_loom))]
thread_local! {
    /// Inside [`defer_wakes`] on this thread: the wakers its publishes collected.
    static DEFERRED: std::cell::RefCell<Option<Vec<Waker>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f`, holding back the wakers of the async receivers its publishes wake, and
/// wakes them once `f` has returned (or unwound). For the callers that publish while
/// holding a registry lock a waker could call back into (the sweep's turn of the sweep
/// list, a removal's shard write lock): a waker is the executor's code, and one that
/// runs brama calls inside `wake()` must find no brama lock held. Nested calls defer to
/// the outermost. Under loom (one OS thread for every model thread) it only runs `f`.
pub(crate) fn defer_wakes<R>(f: impl FnOnce() -> R) -> R {
    let _later = WakeLater::start();
    f()
}

/// A lock guard that holds back the wakers of the publishes made while it is held and
/// wakes them once the lock is released: [`defer_wakes`] for a connection's transition
/// lock, under which its state changes are published. A waker may run user code (the
/// journal's logs its `tracing` events on this thread) or call into brama, and must not
/// find that lock held.
pub(crate) struct WakeAfter<G> {
    /// Dropped first (fields drop in order): the lock is released...
    guard: G,
    /// ...then the wakers held back run.
    _later: WakeLater,
}

/// Holds back the wakers of the publishes made while `guard` is held.
#[inline]
pub(crate) fn wake_after<G>(guard: G) -> WakeAfter<G> {
    let _later = WakeLater::start();
    WakeAfter { guard, _later }
}

impl<G: std::ops::Deref> std::ops::Deref for WakeAfter<G> {
    type Target = G::Target;

    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

/// While it lives, this thread's publishes leave their wakers to it; the outermost one
/// wakes them when dropped. Nothing under loom.
struct WakeLater(#[cfg_attr(brama_loom, allow(dead_code))] bool);

impl WakeLater {
    #[inline]
    fn start() -> WakeLater {
        #[cfg(not(brama_loom))]
        let outermost = DEFERRED
            .try_with(|d| {
                let mut d = d.borrow_mut();
                d.is_none().then(|| *d = Some(Vec::new())).is_some()
            })
            .unwrap_or(false);
        #[cfg(brama_loom)]
        let outermost = false;
        WakeLater(outermost)
    }
}

impl Drop for WakeLater {
    fn drop(&mut self) {
        #[cfg(not(brama_loom))]
        if self.0 {
            let held = DEFERRED.try_with(|d| d.borrow_mut().take()).ok().flatten();
            for w in held.into_iter().flatten() {
                w.wake();
            }
        }
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
            self.0.list.store(Vec::new());
            std::mem::take(&mut seq.subscribers)
        };
        // Closed and woken after the sequencer lock is released. A publish still
        // holding the old list finds the queues closed and pushes nothing.
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
