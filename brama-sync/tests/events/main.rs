//! SPEC §5: events, their sequence numbers, counts and filters, and subscriptions.
//!
//! Every registry here runs on a `ManualClock` with a one-hour janitor interval, so the
//! janitor never sweeps (and never emits `Swept`) during a test: the only events are
//! the ones the test causes.
//!
//! - `contents`: every kind and cause; the counts, state, time and reason events carry;
//! - `subscriptions`: filters, a full queue, reports only when wanted, dropping;
//! - `threads`: concurrent reporters and registrations, a subscriber calling back;
//! - `support`: the shared helpers.

mod contents;
mod subscriptions;
mod support;
mod threads;
