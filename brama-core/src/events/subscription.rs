//! [`Subscription`](crate::Subscription): a subscriber's bounded queue.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use super::bus::*;
use super::event::*;
use crate::sync::{lock, Arc, AtomicU64, Ordering};

/// A bounded queue of the events that match one [`Filter`](crate::Filter).
///
/// When the queue is full, the newest events are dropped for this subscriber only
/// and counted in [`Subscription::dropped`]; publishers never wait. Events arrive in
/// increasing [`Event::seq`] order. Dropping the `Subscription` unsubscribes it.
///
/// # Examples
/// ```
/// use std::time::{Duration, SystemTime};
/// use brama_core::engine::EventBus;
/// use brama_core::{Counts, Event, EventKind, EventType, Filter, Key, State};
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
    pub(super) id: u64,
    pub(super) receiver: Receiver<Event>,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) capacity: usize,
    pub(super) shared: Arc<Shared>,
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
