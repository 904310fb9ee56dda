//! The journal: one subscription to the events an operator wants to see, drained on
//! every janitor round into `tracing` events (feature `tracing`) and into the last
//! reason each circuit opened for, which the admin page shows (feature `admin`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
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
    /// Wakes the janitor when an event is queued (the subscription's async waker).
    waker: Waker,
    /// Held while draining, so events are handled one drain at a time, in order.
    state: Mutex<Drained>,
}

#[derive(Default)]
struct Drained {
    /// `Subscription::dropped` when last reported.
    dropped: u64,
    /// The reason each circuit last opened for, while it is registered.
    reasons: HashMap<OwnedKey, Reason>,
}

/// The subscription's waker: pokes the janitor for a round.
struct Poke(Weak<JanitorShared>);

impl Wake for Poke {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(janitor) = self.0.upgrade() {
            janitor.poke();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Journal {
    /// Subscribes to `registry`'s rare events; `janitor` is woken when one comes.
    pub(crate) fn new(registry: &Registry, janitor: Weak<JanitorShared>) -> Journal {
        let journal = Journal {
            sub: registry
                .context()
                .bus
                .subscribe(Filter::new().event_types(TYPES)),
            waker: Waker::from(Arc::new(Poke(janitor))),
            state: Mutex::default(),
        };
        // Leaves the waker with the (empty) queue: the first event wakes the janitor.
        let mut cx = Context::from_waker(&journal.waker);
        let _ = Pin::new(&mut journal.sub.recv_async()).poll(&mut cx);
        journal
    }

    /// Handles every event queued now, then leaves the waker with the queue so that
    /// the next event wakes the janitor. Runs no brama lock; `tracing`'s subscriber
    /// (user code) is called with only the journal's own lock held.
    pub(crate) fn drain(&self, registry: &Registry) {
        let mut st = lock(&self.state);
        let mut cx = Context::from_waker(&self.waker);
        let mut recv = self.sub.recv_async();
        while let Poll::Ready(Some(event)) = Pin::new(&mut recv).poll(&mut cx) {
            #[cfg(feature = "tracing")]
            super::tracing::emit(&event);
            st.note(&event, registry);
        }
        let dropped = self.sub.dropped();
        if dropped > st.dropped {
            #[cfg(feature = "tracing")]
            super::tracing::dropped(dropped - st.dropped, self.sub.capacity());
            st.dropped = dropped;
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
                if let (Some(key), Some(text)) = (key(), event.reason_text()) {
                    let reason = Reason {
                        text: text.to_owned(),
                        at: event.at,
                    };
                    self.reasons.insert(key, reason);
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
