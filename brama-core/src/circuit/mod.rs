//! One connection's circuit: the packed state word, the exact counters, and the cell
//! whose atomics the rules change by compare-and-swap.
//!
//! | file | one idea |
//! |---|---|
//! | `word` | the packed state word (state, removed bit, backoff step, cycle, payload) |
//! | `counter` | exact totals with per-thread lanes |
//! | `cell` | the connection's fields, its configuration and metadata |
//! | `check` | `available` / `acquire`: lock-free admission and refusal |
//! | `report` | successes and failures: the lock-free fast paths |
//! | `quiet` | quiet successes: counted on the handle's inlined path, nothing else written |
//! | `transition` | manual actions, ticks, and the locked slow path that runs `rules::step` |
//! | `lifecycle` | removal, handles, eviction, status snapshots |
//! | `remote` | changes another instance of a fleet made, and the remaining open time |
//! | `ops` | a scope operation's action, a connection's snapshot and its restore |
//! | `moded` | checks and reports of a connection not in `Normal` mode; resolving its layers |

mod cell;
mod check;
pub mod counter;
mod lifecycle;
mod moded;
mod ops;
mod quiet;
mod remote;
mod report;
mod transition;
pub mod word;

pub use cell::{CellRef, ConnectionCell, Fast, Ticket};

/// A consecutive threshold as the lock-free failure path compares with it: at most
/// [`word::COUNT_MAX`], the most failures the state word counts, so that the path never
/// raises the count past it (it would carry into the policy flags). A failure that
/// would is taken by the locked path, which compares the true threshold with the count;
/// past `COUNT_MAX` the count stays there, so a threshold above `COUNT_MAX + 1` is
/// never reached (documented in docs/configuration.md).
pub(crate) fn word_threshold_of(threshold: u32) -> u32 {
    threshold.min(word::COUNT_MAX)
}
pub use ops::Rebase;
pub use remote::Remote;
