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
//!   receives: a publish pushes each copy under the subscriber queue's short leaf lock
//!   (inside the sequencer), and wakes async receivers only after releasing both.
//! - Dropping a [`Subscription`] unsubscribes it; when the last [`EventBus`] clone is
//!   dropped, subscriptions drain what is queued and then report `None`.

mod bus;
mod event;
mod filter;
mod queue;
mod subscription;
// Under `brama_loom` the primitives are loom's, which work only inside a loom model.
#[cfg(all(test, not(brama_loom)))]
mod tests;

pub use bus::EventBus;
pub use event::{Counts, Event, EventKind, EventType};
pub use filter::Filter;
pub use subscription::{RecvFuture, Subscription};
