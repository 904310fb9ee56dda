//! # brama-core
//!
//! The engine of [brama](https://docs.rs/brama-sync): per-connection circuit cells whose
//! state changes are compare-and-swap transitions on one atomic word, the rules as a
//! pure function, keys, configuration, clocks, the registry, events and the sweep.
//! It starts no thread and never sleeps; `brama-sync` adds the janitor thread and the
//! user-facing `Brama` type. Most users depend on `brama-sync` only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod context;
#[cfg(not(brama_loom))]
mod lookup_cache;
mod map;
mod sync;

pub mod cell;
pub mod clock;
pub mod config;
pub mod counter;
pub mod error;
pub mod event;
pub mod key;
pub mod registry;
pub mod rules;
pub mod state;
pub mod status;
pub mod word;

pub use cell::{CellRef, ConnectionCell, Fast, Ticket};
pub use clock::{Clock, ClockSource, ManualClock, SystemClock};
pub use config::{Config, ExpiryStrategy, OpenDuration, OpenOptions, Options, Settings};
pub use context::Context;
pub use error::Error;
pub use event::{Counts, Event, EventBus, EventKind, EventType, Filter, Subscription};
pub use key::{Key, OwnedKey};
pub use registry::{Registry, SweepReport};
pub use state::{Cause, State};
pub use status::Status;
