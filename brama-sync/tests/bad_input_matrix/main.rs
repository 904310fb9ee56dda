//! Every invalid input of SPEC §7, and the nastier ones around it (durations that would
//! overflow, `u32::MAX`, NaN and infinities, multi-byte UTF-8 at the 256-byte boundary,
//! metadata bombs), through every public entry point that takes it: the builder,
//! `register`, `configure`, `configure_defaults`, `open_circuit`, the run-time settings,
//! and every method that takes a key. Each must return its documented error, emit no
//! event, and leave the registry exactly as it was (connections and their status,
//! defaults, settings). Every call runs under `catch_unwind`: no public method may panic.
//!
//! - `settings`: per-connection settings through the builder, `register`, `configure`
//!   and `configure_defaults`, invalid and at the edges;
//! - `registry`: run-time settings, builder-only limits, capacity, registering twice;
//! - `open_circuit`: invalid and extreme open durations;
//! - `keys`: invalid keys through every by-key method, unusual valid keys;
//! - `support`: `no_panic`, the bad durations, a populated registry, `rejected`.

mod keys;
mod open_circuit;
mod registry;
mod settings;
mod support;
