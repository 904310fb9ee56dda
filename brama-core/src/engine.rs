//! The engine's internals, for `brama-sync`, the benchmarks and the loom models only.
//!
//! Nothing here is public API: names and shapes change without notice, and nothing here
//! is covered by semver. Users depend on `brama-sync`, which re-exports the value types
//! (keys, configuration, clocks, states, statuses, events, errors) from this crate's
//! root.

pub use crate::circuit::{CellRef, ConnectionCell, Fast, Remote, Ticket};
pub use crate::context::Context;
pub use crate::events::{bounded_reason, EventBus};
pub use crate::layers::Layers;
pub use crate::mode::{step_in, SHADOW_GEN};
pub use crate::registry::{Registry, Spot};

/// The packed state word.
pub mod word {
    pub use crate::circuit::word::*;
}

/// Exact counters with per-thread lanes.
pub mod counter {
    pub use crate::circuit::counter::*;
}

/// The asymmetric fences of handle reports against removal.
pub mod barrier {
    pub use crate::barrier::{expedited, heavy, light};
}

/// The rules as a pure function: the reference model.
pub mod rules {
    pub use crate::rules::*;
}

/// Clock internals: readings in nanoseconds.
pub mod clock {
    pub use crate::clock::*;
}

/// Configuration internals (the public types are also at the crate root).
pub mod config {
    pub use crate::config::*;
}

/// Key internals: the owned and inline forms.
pub mod key {
    pub use crate::key::*;
}

/// The trip-policy seam.
pub mod policy {
    pub use crate::policy::*;
}

/// The rate policies' lock-free windows.
pub mod window {
    pub use crate::window::*;
}
