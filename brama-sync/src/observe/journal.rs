//! The journal: one subscription to the events an operator wants to see, drained as
//! they come (by the thread that published them, [`Poke`]) and on every janitor round,
//! into `tracing` events (feature `tracing`) and into the last reason each circuit
//! opened for, which the admin page shows (feature `admin`).
//!
//! A drain takes the events and notes them under the journal's lock, then logs them
//! after releasing it: the `tracing` subscriber (user code) runs with no brama lock
//! held, and may call back into brama (an admin request, `Brama::sweep`) on that
//! thread. One drain logs at a time, so the log keeps the events' order: a drain that
//! finds another logging leaves its events to it and returns.

use std::collections::HashMap;
use std::fmt;
#[cfg(feature = "tracing")]
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Poll, Wake, Waker};
use std::time::SystemTime;

use brama_core::engine::Registry;
use brama_core::{Event, EventKind, EventType, Filter, Key, OwnedKey, State, Subscription};

use crate::janitor::JanitorShared;

/// The event types the journal reads: rare ones only (never `Success` or `Failure`, so
/// reports keep their fast paths, and never `Registered`, so registration builds no
/// event for it).
const TYPES: [EventType; 6] = [
    EventType::StateChanged,
    EventType::Evicted,
    EventType::Unregistered,
    EventType::Configured,
    EventType::Swept,
    EventType::FleetLink,
];

/// Why a circuit last opened, as its event said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reason {
    /// The failure's reason (or the manual open's).
    pub(crate) text: String,
    /// When it opened.
    pub(crate) at: SystemTime,
}

/// See the module docs.
pub(crate) struct Journal {
    sub: Subscription,
    /// Wakes the janitor when an event is queued (kept with the subscription's queue).
    waker: Waker,
    /// Held while taking and noting events, so they are handled in order; never while
    /// user code runs.
    state: Mutex<Drained>,
}

#[derive(Default)]
struct Drained {
    /// `Subscription::dropped` when last reported.
    dropped: u64,
    /// The reason each circuit last opened for, while it is registered.
    reasons: HashMap<OwnedKey, Reason>,
    /// Taken and noted, not logged yet: the drain that is logging logs them, in order.
    #[cfg(feature = "tracing")]
    unlogged: Vec<Log>,
    /// A drain is logging (with the lock released): others leave it their events.
    #[cfg(feature = "tracing")]
    logging: bool,
}

/// One line of the log, kept until it is written with no lock held.
#[cfg(feature = "tracing")]
enum Log {
    Event(Event),
    /// Events lost to a full queue: how many, and the queue's capacity.
    Dropped(u64, usize),
}

#[cfg(feature = "tracing")]
impl Log {
    fn emit(&self) {
        match self {
            Log::Event(event) => super::tracing::emit(event),
            Log::Dropped(lost, capacity) => super::tracing::dropped(*lost, *capacity),
        }
    }
}

/// The subscription's waker: drains the journal on the thread whose publish woke it,
/// so that a change is logged where and when it happens (under that thread's `tracing`
/// subscriber), with no brama lock held: a connection's transition lock wakes its
/// events' receivers once released (`brama_core`'s `wake_after`), and the sweep and
/// the registrations wake theirs once done. Without the journal or its registry (being
/// dropped), it pokes the janitor instead.
struct Poke {
    journal: Weak<Journal>,
    registry: Weak<Registry>,
    janitor: Weak<JanitorShared>,
}

impl Wake for Poke {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let (Some(journal), Some(registry)) = (self.journal.upgrade(), self.registry.upgrade()) {
            // A `tracing` subscriber that panics must not unwind into the call that
            // published (the panic hook has reported it).
            let drain = || journal.drain(&registry);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(drain));
        } else if let Some(janitor) = self.janitor.upgrade() {
            janitor.poke();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Journal {
    /// Subscribes to `registry` (also `weak`)'s rare events, drained as they come
    /// ([`Poke`]); `janitor` is poked instead once the journal is going away.
    pub(crate) fn new(
        registry: &Registry,
        weak: Weak<Registry>,
        janitor: Weak<JanitorShared>,
    ) -> Arc<Journal> {
        let journal = Arc::new_cyclic(|me| Journal {
            sub: registry
                .context()
                .bus
                .subscribe(Filter::new().event_types(TYPES)),
            waker: Waker::from(Arc::new(Poke {
                journal: me.clone(),
                registry: weak,
                janitor,
            })),
            state: Mutex::default(),
        });
        // Leaves the waker with the (empty) queue: the first event wakes the janitor.
        // An event already queued is noted, and logged by the first drain.
        journal.take(&mut lock(&journal.state), registry);
        journal
    }

    /// Handles every event queued now, then leaves the waker with the queue so that
    /// the next event wakes the janitor. `tracing`'s subscriber (user code) is called
    /// with no lock held, this journal's included; if another drain is logging, it logs
    /// these events too (after its own), and this one returns at once.
    ///
    /// # Panics
    /// If the subscriber panicked: once every event is logged, the first panic is
    /// resumed (the janitor catches and counts it; an admin request catches it).
    pub(crate) fn drain(&self, registry: &Registry) {
        let mut st = lock(&self.state);
        self.take(&mut st, registry);
        #[cfg(feature = "tracing")]
        if !st.logging && !st.unlogged.is_empty() {
            st.logging = true;
            drop(st);
            self.log();
        }
    }

    /// Takes every event queued now, noting each (and keeping it to be logged), then
    /// leaves the waker with the queue. Runs no user code.
    fn take(&self, st: &mut Drained, registry: &Registry) {
        while let Poll::Ready(Some(event)) = self.sub.poll_recv_keeping(&self.waker) {
            st.note(&event, registry);
            #[cfg(feature = "tracing")]
            st.unlogged.push(Log::Event(event));
        }
        let dropped = self.sub.dropped();
        if dropped > st.dropped {
            #[cfg(feature = "tracing")]
            st.unlogged
                .push(Log::Dropped(dropped - st.dropped, self.sub.capacity()));
            st.dropped = dropped;
        }
    }

    /// Logs what the drains took, in order, until nothing is left, taking the lock only
    /// to take each batch. A subscriber that panics costs no other line: the first
    /// panic is resumed once everything is logged (and `logging` is cleared).
    #[cfg(feature = "tracing")]
    fn log(&self) {
        let mut batch = Vec::new();
        let mut panic = None;
        loop {
            {
                let mut st = lock(&self.state);
                if st.unlogged.is_empty() {
                    st.logging = false;
                    break;
                }
                std::mem::swap(&mut st.unlogged, &mut batch);
            }
            for line in batch.drain(..) {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| line.emit())) {
                    panic.get_or_insert(p);
                }
            }
        }
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }

    /// Why the circuit of `key` last opened, if an event said so and it has not been
    /// removed since (call [`drain`](Self::drain) first for the latest).
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn reason(&self, key: Key<'_>) -> Option<Reason> {
        let owned = key.to_owned_key().ok()?;
        lock(&self.state).reasons.get(&owned).cloned()
    }
}

impl Drained {
    /// Keeps the reasons up to date with `event`.
    fn note(&mut self, event: &Event, registry: &Registry) {
        let key = || event.key().and_then(|k| k.to_owned_key().ok());
        match &event.kind {
            EventKind::StateChanged {
                to: State::Open, ..
            } => {
                let Some(key) = key() else { return };
                match event.reason_text() {
                    Some(text) => {
                        let reason = Reason {
                            text: text.to_owned(),
                            at: event.at,
                        };
                        self.reasons.insert(key, reason);
                    }
                    // Opened without a reason: an earlier opening's is not this one's.
                    None => {
                        self.reasons.remove(&key);
                    }
                }
            }
            EventKind::Unregistered | EventKind::Evicted => {
                if let Some(key) = key() {
                    self.reasons.remove(&key);
                }
            }
            EventKind::Swept { .. } if !self.reasons.is_empty() => {
                // A removal whose event was dropped (a full queue) leaves its reason
                // behind: once per sweep, keep only the registered.
                self.reasons
                    .retain(|k, _| registry.state(k.as_key()).is_ok());
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("subscription", &self.sub)
            .finish_non_exhaustive()
    }
}
