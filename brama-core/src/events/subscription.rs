//! [`Subscription`](crate::Subscription): a subscriber's bounded queue.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::bus::*;
use super::event::*;
use super::queue::{Queue, Received, Registration};
use crate::sync::{lock, Arc};

/// A bounded queue of the events that match one [`Filter`](crate::Filter).
///
/// When the queue is full, the newest events are dropped for this subscriber only
/// and counted in [`Subscription::dropped`]; publishers never wait. A connection's
/// events arrive in increasing [`Event::seq`] order (see [`EventBus::publish`] for
/// events of different connections). Dropping the `Subscription` unsubscribes it.
///
/// Receive by blocking ([`recv`](Self::recv), [`recv_timeout`](Self::recv_timeout)),
/// without waiting ([`try_recv`](Self::try_recv), [`try_iter`](Self::try_iter)), or
/// in async code on any executor ([`recv_async`](Self::recv_async)). `Send + Sync`.
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
    pub(super) queue: Arc<Queue>,
    pub(super) shared: Arc<Shared>,
}

impl Subscription {
    /// The next event, waiting at most `d` for one; `None` if none came (or the bus
    /// is gone and the queue is empty). Blocks the calling thread.
    pub fn recv_timeout(&self, d: Duration) -> Option<Event> {
        self.queue.pop_blocking(Some(d))
    }

    /// The next event if one is queued; never blocks (beyond the queue's short lock).
    pub fn try_recv(&self) -> Option<Event> {
        match self.queue.try_pop() {
            Received::Event(e) => Some(e),
            Received::Empty | Received::Closed => None,
        }
    }

    /// The next event, waiting as long as it takes; `None` once the bus is gone (the
    /// last [`EventBus`] clone dropped) and the queue is empty. Blocks the calling
    /// thread.
    pub fn recv(&self) -> Option<Event> {
        self.queue.pop_blocking(None)
    }

    /// The next event, in async code: resolves at once if one is queued, otherwise
    /// when the next matching event is published; `None` once the bus is gone and the
    /// queue is empty. Works on any executor: while the future is pending, its task's
    /// waker is kept with this subscription's queue and woken by the publisher after it
    /// has released every lock. Dropping the future before it resolves loses no event,
    /// and takes its waker back out of the queue (a receive under a timeout, once per
    /// request, leaves nothing behind).
    ///
    /// Meant for one task at a time (as [`recv`](Self::recv) is for one thread); if
    /// several tasks wait on one subscription, each event goes to one of them and every
    /// waiting task is woken.
    ///
    /// # Examples
    /// ```
    /// use std::time::SystemTime;
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
    /// let e = pollster::block_on(sub.recv_async()).unwrap();
    /// assert_eq!(e.seq, 1);
    /// drop(bus);
    /// assert!(pollster::block_on(sub.recv_async()).is_none());
    /// ```
    pub fn recv_async(&self) -> RecvFuture<'_> {
        RecvFuture {
            sub: self,
            registered: None,
        }
    }

    /// For brama-sync's journal: the next event if one is queued (`Ready(None)` once
    /// the bus is gone and the queue is drained); otherwise `Pending`, and `waker` is
    /// kept with the queue until the next event (or the bus's end) wakes it, unless an
    /// equal waker is kept already. Unlike [`recv_async`](Self::recv_async)'s future,
    /// nothing takes it back out before that wake: for one long-lived waker only.
    #[doc(hidden)]
    pub fn poll_recv_keeping(&self, waker: &Waker) -> Poll<Option<Event>> {
        match self.queue.pop_or_keep(waker) {
            Received::Event(e) => Poll::Ready(Some(e)),
            Received::Closed => Poll::Ready(None),
            Received::Empty => Poll::Pending,
        }
    }

    /// Drains the events queued now; never blocks.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.try_recv())
    }

    /// How many events this subscriber lost to a full queue.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// The queue's capacity, in events.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let removed = {
            let mut seq = lock(&self.shared.sequencer);
            let removed = seq.remove(self.id, &self.shared.list);
            self.shared.store_wants(seq.wants);
            removed
        };
        // The bus's side (and any events left in the queue) is dropped here, after the
        // sequencer lock is released.
        drop(removed);
    }
}

/// The future of [`Subscription::recv_async`]: the next event, or `None` once the bus
/// is gone and the queue is drained. `Send`. While pending, it leaves a clone of its
/// task's waker with the queue (and keeps one, to find it again; polled again with the
/// same waker, it clones nothing); resolving or being dropped takes that waker back out,
/// so the queue holds wakers only for the receives still waiting.
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a> {
    sub: &'a Subscription,
    /// The waker this future left with the queue, while it waits.
    registered: Option<Registration>,
}

impl Future for RecvFuture<'_> {
    type Output = Option<Event>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        match this
            .sub
            .queue
            .pop_or_register(cx.waker(), &mut this.registered)
        {
            Received::Event(e) => Poll::Ready(Some(e)),
            Received::Closed => Poll::Ready(None),
            Received::Empty => Poll::Pending,
        }
    }
}

impl Drop for RecvFuture<'_> {
    fn drop(&mut self) {
        if let Some(reg) = self.registered.take() {
            self.sub.queue.unregister(reg);
        }
    }
}

impl fmt::Debug for RecvFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture")
            .field("subscription", &self.sub.id)
            .field("waiting", &self.registered.is_some())
            .finish()
    }
}
