//! Events, filters and bounded subscriptions (SPEC §5).
//!
//! An [`EventBus`] hands out [`Subscription`]s, each a bounded queue with its own
//! [`Filter`]. Publishers first ask [`EventBus::wants`] (one relaxed atomic load, no
//! lock, no allocation), so an event type nobody subscribes to costs nothing beyond
//! that load. When someone does want it, [`EventBus::publish`] numbers the event and
//! pushes it, without ever blocking or taking a lock other publishers take, to every subscriber whose filter matches; a
//! subscriber whose queue is full loses the newest event and counts the loss in
//! [`Subscription::dropped`].
//!
//! # Guarantees
//!
//! - Sequence numbers are gap-free per bus and start at 1: every number handed out
//!   belongs to exactly one event that was offered to its subscribers.
//! - Every subscriber receives the events of one connection in increasing sequence
//!   order (they are published under the connection's lock); events of different
//!   connections published at once may arrive in either order (see
//!   [`EventBus::publish`]).
//! - A publisher never waits on a subscriber, and no lock shared by publishers is
//!   taken: the subscriber list is a lock-free snapshot, each push takes only its
//!   queue's short leaf lock, and async receivers are woken after it is released.
//! - An event is one allocation shared by every queue that holds it; reasons are cut
//!   to [`MAX_REASON_BYTES`](crate::MAX_REASON_BYTES).
//! - Dropping a [`Subscription`] unsubscribes it; when the last [`EventBus`] clone is
//!   dropped, subscriptions drain what is queued and then report `None`.

mod bus;
mod event;
mod filter;
mod queue;
#[cfg(feature = "serde")]
mod serde;
mod subscription;
// Under `brama_loom` the primitives are loom's, which work only inside a loom model.
#[cfg(all(test, not(brama_loom)))]
mod tests;

pub use bus::EventBus;
pub(crate) use bus::{defer_wakes, wake_after, WakeAfter};
pub use event::{bounded_reason, Counts, Event, EventKind, EventType};
pub use filter::Filter;
pub use subscription::{RecvFuture, Subscription};
