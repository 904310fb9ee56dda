//! [`Queue`]: one subscriber's bounded queue, shared by the bus (which pushes) and the
//! [`Subscription`](super::Subscription) (which receives, blocking or async).
//!
//! It holds events in sequence order, each either its own (the only queue it went to)
//! or shared with the other subscribers' queues (`Arc<Event>`: one copy however many
//! queue it; a receiver takes it out, cloning only if another queue still holds it), and allocates as events come
//! (nothing up front, whatever the capacity).
//!
//! A short leaf mutex guards the events, the closed flag, the count of blocked
//! threads and the async receivers' wakers. A push never waits for anything but that
//! mutex, whose holders do O(1) work and run no user code; a blocked thread is
//! signalled through the condvar only when one is waiting, and the wakers are handed
//! back to the publisher, which wakes them after releasing every lock.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::event::Event;

/// One published event in a queue: owned when this is the only queue it went to (no
/// extra allocation), shared (one copy for all) when it went to several.
#[derive(Debug)]
pub(super) enum Queued {
    Only(Event),
    Shared(std::sync::Arc<Event>),
}

impl Queued {
    fn seq(&self) -> u64 {
        match self {
            Queued::Only(e) => e.seq,
            Queued::Shared(e) => e.seq,
        }
    }

    /// The event itself; a copy only if another queue still holds it.
    fn into_event(self) -> Event {
        match self {
            Queued::Only(e) => e,
            Queued::Shared(e) => std::sync::Arc::try_unwrap(e).unwrap_or_else(|e| (*e).clone()),
        }
    }
}
use crate::sync::{lock, AtomicU64, Condvar, Mutex, MutexGuard, Ordering};

/// One subscriber's bounded queue.
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct State {
    events: VecDeque<Queued>,
    /// The bus is gone: once drained, receivers get `None`.
    closed: bool,
    /// Threads blocked in `recv` / `recv_timeout`.
    blocked: usize,
    /// Tasks waiting in `recv_async` (one per task: a task that polls again replaces
    /// nothing, see `register`).
    wakers: Vec<Waker>,
}

/// What a receive found.
pub(super) enum Received {
    Event(Event),
    /// Nothing queued, the bus is live.
    Empty,
    /// Nothing queued and the bus is gone.
    Closed,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Queue {
        Queue {
            state: Mutex::new(State {
                events: VecDeque::new(),
                closed: false,
                blocked: 0,
                wakers: Vec::new(),
            }),
            ready: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn dropped(&self) -> u64 {
        // Relaxed: a lone counter that publishes no other data; pairs with the
        // fetch_add in `push`.
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues `event` in sequence order, or drops and counts it if the queue is full;
    /// does nothing once the queue is closed. Moves the async receivers' wakers into
    /// `wake` for the caller to wake once it holds no lock.
    pub(super) fn push(&self, event: Queued, wake: &mut Vec<Waker>) {
        let mut st = lock(&self.state);
        if st.closed {
            return;
        }
        if st.events.len() >= self.capacity {
            drop(st);
            // Relaxed: a lone counter; pairs with the load in `dropped`.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Publishers of different connections race without a shared lock, so an event
        // can come after a later-numbered one: it goes in its place (almost always the
        // back, found at the first compare).
        let at = st
            .events
            .iter()
            .rposition(|e| e.seq() < event.seq())
            .map_or(0, |i| i + 1);
        st.events.insert(at, event);
        self.signal(st, wake);
    }

    /// Marks the queue closed (the bus is gone) and wakes every receiver.
    pub(super) fn close(&self, wake: &mut Vec<Waker>) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.signal(st, wake);
    }

    fn signal(&self, mut st: MutexGuard<'_, State>, wake: &mut Vec<Waker>) {
        wake.append(&mut st.wakers);
        let blocked = st.blocked > 0;
        drop(st);
        if blocked {
            self.ready.notify_all();
        }
    }

    /// The next event without waiting.
    pub(super) fn try_pop(&self) -> Received {
        Self::pop(&mut lock(&self.state))
    }

    fn pop(st: &mut State) -> Received {
        match st.events.pop_front() {
            // The last holder takes the event itself; others take a copy.
            Some(e) => Received::Event(e.into_event()),
            None if st.closed => Received::Closed,
            None => Received::Empty,
        }
    }

    /// The next event, waiting up to `timeout` (forever if `None`); `None` on
    /// timeout or once closed and drained.
    pub(super) fn pop_blocking(&self, timeout: Option<Duration>) -> Option<Event> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = lock(&self.state);
        loop {
            match Self::pop(&mut st) {
                Received::Event(e) => return Some(e),
                Received::Closed => return None,
                Received::Empty => {}
            }
            let wait = match (timeout, deadline) {
                (None, _) => None,
                (Some(_), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    Some(left)
                }
                // A timeout so long that the deadline cannot be represented: forever.
                (Some(_), None) => None,
            };
            st.blocked += 1;
            st = match wait {
                None => self.ready.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(left) => {
                    self.ready
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            st.blocked -= 1;
        }
    }

    /// The next event for an async receiver; when there is none, registers `waker`
    /// (under the same lock as the check, so no push can fall in between).
    pub(super) fn pop_or_register(&self, waker: &Waker) -> Received {
        let mut st = lock(&self.state);
        let got = Self::pop(&mut st);
        if matches!(got, Received::Empty) && !st.wakers.iter().any(|w| w.will_wake(waker)) {
            st.wakers.push(waker.clone());
        }
        got
    }
}
