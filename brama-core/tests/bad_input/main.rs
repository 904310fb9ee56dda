//! SPEC §7 (bad input is rejected with a clear error and changes nothing), the key rules
//! of §1, and the registration rules of §3 (AlreadyRegistered, NotFound, auto_register,
//! max_connections).
//!
//! - `config`: invalid defaults, settings, options and open durations (§7);
//! - `keys`: invalid keys, 256-byte parts, scoped and unscoped keys (§1);
//! - `registration`: AlreadyRegistered, NotFound, auto_register, max_connections (§3).

#[path = "../common/mod.rs"]
mod common;

mod config;
mod keys;
mod registration;
mod support;
