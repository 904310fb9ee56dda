//! SPEC §7 (and the error rules of §3): bad input is rejected with a clear `Error` and
//! changes nothing; no public method panics on any input.
//!
//! - `builder`: invalid builder and run-time settings, the edges of every range;
//! - `options`: invalid options, metadata limits, `open_circuit` durations;
//! - `keys`: invalid keys everywhere, 256-byte parts;
//! - `registration`: `AlreadyRegistered`, `CapacityExceeded`, also under concurrency;
//! - `unknown_keys`: `NotFound`, and `auto_register` with the defaults and the limit;
//! - `no_panics`: extreme input everywhere;
//! - `support`: the shared helpers.

mod builder;
mod keys;
mod no_panics;
mod options;
mod registration;
mod support;
mod unknown_keys;
