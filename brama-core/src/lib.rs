//! # brama-core
//!
//! The engine of [brama](https://docs.rs/brama-sync): per-connection circuit cells whose
//! state changes are compare-and-swap transitions on one atomic word, the rules as a
//! pure function, keys, configuration, clocks, the registry, events and the sweep.
//! It starts no thread and never sleeps; `brama-sync` adds the janitor thread and the
//! user-facing `Brama` type. Most users depend on `brama-sync` only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod sync;

pub mod config;
pub mod error;
pub mod event;
pub mod key;
pub mod state;

pub use config::{Config, ExpiryStrategy, OpenDuration, OpenOptions, Options, Settings};
pub use error::Error;
pub use event::{Counts, Event, EventBus, EventKind, EventType, Filter, Subscription};
pub use key::{Key, OwnedKey};
pub use state::{Cause, State};
