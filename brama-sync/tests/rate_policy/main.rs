//! SPEC §8 (issue #15): rate trip policies, through the public API. ManualClock only,
//! manual janitor, no sleeps.
//!
//! - `opening`: when a closed circuit opens: rate, minimum, slow calls, timed reports;
//! - `windows`: what count and time windows hold: idle, busy, threads, shadow mode;
//! - `half_open`: the probes of a rate policy and how they decide;
//! - `configuration`: per-connection policies, the defaults, invalid policies;
//! - `support`: the shared helpers.

mod configuration;
mod half_open;
mod opening;
mod support;
mod windows;
