//! Stress tests: several threads start together at a barrier, hammer a handful of keys
//! while the janitor sweeps every millisecond, and the results are checked exactly
//! afterwards, from the events and the final status of every connection.
//!
//! - `state_changes_are_legal_paths_*`: every key's `StateChanged` events, in sequence
//!   order, form a legal path of the state machine (each change starts where the last
//!   ended; every (from, to, cause) is one the rules allow; evictions only from
//!   `Unknown`/`Closed`); sequence numbers are gap-free; each connection's `trips` equals
//!   the opens its events show (no double transition); no half-open cycle ever has more
//!   than `half_open_probes` probes admitted at once.
//! - `reports_are_conserved_*`: every report by key that returned `Ok` is counted once,
//!   either in a live connection's totals or in the final counts of its
//!   `Evicted`/`Unregistered` event; each key's lifecycle alternates
//!   `Registered` → `Evicted`/`Unregistered` → `Registered` with exactly one
//!   `Registered` per successful registration (no evicted connection comes back).
//! - `max_connections_*`: concurrent registration never overshoots the limit.
//!
//! The default variants are small enough for `cargo test` in debug mode; the `_large`
//! variants are `#[ignore]`d and meant for a release-mode stage (`--ignored`).

mod conservation;
mod interleavings;
mod legal_paths;
mod max_connections;
mod support;
