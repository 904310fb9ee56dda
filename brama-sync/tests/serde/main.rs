//! Feature `serde` (SPEC §10, §13; issue #17): `Config` from a TOML file with every
//! builder setting (`mode` included), unknown fields rejected by name, humantime
//! durations, round trips of `Config`, `Options`, `State`, `Status`, `Event`, `Snapshot`
//! and `Health`, and `Brama::from_config` equal to the builder. ManualClock only, no
//! sleeps.

mod config;
mod health;
mod values;
