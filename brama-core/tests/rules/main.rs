//! SPEC §2 rules 1, 2, 3, 5 and 8 (closed, opening, expiry, reports while open, one
//! event per change) and the Status fields of §1, through the public `Registry` on a
//! `ManualClock`. Half-open probes, backoff, manual control and bad input have their own
//! files.
//!
//! - `closed`: rules 1 and 2 (successes close, failures count up to the threshold);
//! - `open`: rules 3 and 5 (expiry to HalfOpen, reports while Open);
//! - `events`: rule 8 (one `StateChanged` event per change);
//! - `status`: the Status fields and the state a read sees.

#[path = "../common/mod.rs"]
mod common;

mod closed;
mod events;
mod open;
mod status;
