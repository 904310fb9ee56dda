//! The operation interpreter shared by the model-based property test (`tests/model.rs`)
//! and the fuzz target (`fuzz/fuzz_targets/ops.rs`).
//!
//! A [`Harness`] drives a real `Brama` on a `ManualClock` (jitter 0) one [`Op`] at a
//! time and runs the same op on a reference model: per connection a
//! `brama_core::engine::rules::Machine` advanced only by the pure `rules::step`, plus the
//! counters, timestamps, handles and events that SPEC §1–§6 derive from it. After every
//! op it asserts that the two agree: the op's result (including the exact `Error`),
//! every key's `Status` (state, consecutive failures, totals, trips, open duration,
//! timestamps, metadata), the set of registered connections, and the events the op
//! emitted (kind, key, state before, counts, reason; sequence numbers gap-free).
//! Any disagreement panics with the op and both sides.
//!
//! Ops come from a proptest strategy (`tests/model.rs`) or from raw bytes
//! ([`decode`], used by the fuzz target).
//!
//! SPEC §11 is modelled too: modes (per connection, per scope, as a default), scope
//! defaults layered between the registry's and each connection's, fields cleared back
//! to "inherit", the scope operations, and a snapshot restored into a second registry
//! on another clock (the ops and their model are in `ops_scopes.rs`).

use std::time::Duration;

use brama_sync::Key;

// Each submodule's path is explicit: the fuzz target loads this file through `#[path]`,
// and a plain `mod x;` in a file loaded that way resolves next to it (`common/x.rs`),
// not under `common/ops/` as from `tests/model.rs`. A `#[path]` here is relative to
// this file's directory either way.
#[path = "ops/check.rs"]
mod check;
#[path = "ops/decode.rs"]
mod decode;
#[path = "ops/harness.rs"]
mod harness;
#[path = "ops/model.rs"]
mod model;
#[path = "ops/op.rs"]
mod op;
#[path = "ops_scopes.rs"]
mod scopes;

pub use decode::decode;
pub use harness::Harness;
pub use op::{Cfg, Op, OpenHow, Progressive, Setup};
pub use scopes::ScopeAct;
// Taken from here by `ops_scopes.rs` (`super::Ticket`).
use model::Ticket;

/// The keys ops refer to by index: an unscoped key, a scoped key with the same
/// identifier, an unscoped key spelled like the scoped one, and a second key of scope
/// "s" (all distinct).
pub const KEYS: [Key<'static>; 4] = [
    Key::new("a"),
    Key::scoped("s", "a"),
    Key::new("s:a"),
    Key::scoped("s", "b"),
];

/// The index of the key an op's byte names.
fn key_index(k: u8) -> usize {
    usize::from(k) % KEYS.len()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `ops` on a fresh harness built from `setup`, checking after every op.
pub fn run(setup: &Setup, ops: &[Op]) {
    let mut h = Harness::new(setup.clone());
    for op in ops {
        h.apply(op);
    }
    h.finish();
}
