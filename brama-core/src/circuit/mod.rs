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
//! | `transition` | manual actions, ticks, and the locked slow path that runs `rules::step` |
//! | `lifecycle` | removal, handles, eviction, status snapshots |
//! | `remote` | changes another instance of a fleet made, and the remaining open time |

mod cell;
mod check;
pub mod counter;
mod lifecycle;
mod remote;
mod report;
mod transition;
pub mod word;

pub use cell::{CellRef, ConnectionCell, Fast, Ticket};
pub use remote::Remote;
