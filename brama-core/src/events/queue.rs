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
//!
//! A pending [`RecvFuture`](super::RecvFuture) owns the waker it left in the queue (a
//! [`Registration`]) and takes it back out when it is dropped or resolves, so futures
//! dropped before an event came (a `timeout` around each receive) leave nothing
//! behind. The hand-overs are counted: a registration made before the last one is
//! spent (the publisher took its waker), and its owner removes nothing.

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
    /// The async receivers' wakers, all handed to the publisher at the next push or
    /// close. The first `kept` are kept ones (`pop_or_keep`: one per distinct waker,
    /// removed only by that hand-over); each of the others belongs to one pending
    /// `RecvFuture`, which removes it when dropped (`unregister`).
    wakers: Vec<Waker>,
    /// How many of `wakers`, from the front, are kept ones (never more than its length).
    kept: usize,
    /// How many times `wakers` was handed over: a [`Registration`] made at an earlier
    /// count is spent.
    handovers: u64,
}

/// A pending [`RecvFuture`](super::RecvFuture)'s waker in the queue: a clone of it (to
/// find it again; equal wakers are interchangeable) and the hand-over it awaits.
#[derive(Debug)]
pub(super) struct Registration {
    waker: Waker,
    handover: u64,
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
                kept: 0,
                handovers: 0,
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
        if !st.wakers.is_empty() {
            wake.append(&mut st.wakers);
            // Every registration made so far is spent: its waker is the publisher's now.
            st.kept = 0;
            st.handovers = st.handovers.wrapping_add(1);
        }
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

    /// The next event for the async receiver whose registration is `reg`; when there
    /// is none, leaves `waker` with the queue (under the same lock as the check, so no
    /// push can fall in between) and records it in `reg`. A receiver polled again with
    /// the waker it left changes nothing; with another, it swaps them; once it has an
    /// event (or `None`), it takes its waker back out. Wakers are dropped with no lock
    /// held (dropping one runs the executor's code).
    pub(super) fn pop_or_register(
        &self,
        waker: &Waker,
        reg: &mut Option<Registration>,
    ) -> Received {
        let mut st = lock(&self.state);
        let got = Self::pop(&mut st);
        let pending = matches!(got, Received::Empty);
        if pending
            && reg
                .as_ref()
                .is_some_and(|r| r.handover == st.handovers && r.waker.will_wake(waker))
        {
            return got;
        }
        let old = reg.take().map(|r| {
            let removed = Self::remove(&mut st, &r);
            (r, removed)
        });
        let handover = st.handovers;
        if pending {
            st.wakers.push(waker.clone());
        }
        drop(st);
        drop(old);
        if pending {
            *reg = Some(Registration {
                waker: waker.clone(),
                handover,
            });
        }
        got
    }

    /// Takes the waker of `reg` (a receiver that stops waiting) back out of the queue,
    /// if the publisher has not taken it already.
    pub(super) fn unregister(&self, reg: Registration) {
        let removed = Self::remove(&mut lock(&self.state), &reg);
        // Both dropped here, with no lock held.
        drop((removed, reg));
    }

    /// Removes the waker `reg` left, unless it is spent. Any receiver's waker equal to
    /// it serves: it wakes the same task.
    fn remove(st: &mut State, reg: &Registration) -> Option<Waker> {
        if reg.handover != st.handovers {
            return None;
        }
        let kept = st.kept;
        let at = st
            .wakers
            .iter()
            .skip(kept)
            .position(|w| w.will_wake(&reg.waker))?;
        // The receivers' wakers follow the kept ones: the last moves into the gap.
        Some(st.wakers.swap_remove(kept + at))
    }

    /// The next event without waiting; when there is none, keeps `waker` with the
    /// queue until the next push or close hands it over (under the same lock as the
    /// check), unless an equal one is kept already. Nothing else removes it: for a
    /// long-lived waker polled again and again (brama-sync's journal).
    pub(super) fn pop_or_keep(&self, waker: &Waker) -> Received {
        let mut st = lock(&self.state);
        let got = Self::pop(&mut st);
        let kept = st.kept;
        if matches!(got, Received::Empty)
            && !st.wakers.iter().take(kept).any(|w| w.will_wake(waker))
        {
            st.wakers.push(waker.clone());
            // Into the kept ones at the front; the receiver's waker there moves last.
            let last = st.wakers.len() - 1;
            let at = kept.min(last);
            st.wakers.swap(at, last);
            st.kept = at + 1;
        }
        got
    }

    /// How many wakers the queue holds (kept ones included).
    #[cfg(test)]
    pub(super) fn wakers(&self) -> usize {
        lock(&self.state).wakers.len()
    }
}
