//! # brama-core
//!
//! The engine of [brama](https://docs.rs/brama-sync): per-connection circuit cells whose
//! state changes are compare-and-swap transitions on one atomic word, the rules as a
//! pure function, keys, configuration, clocks, the registry, events and the sweep.
//! It starts no thread and never sleeps; `brama-sync` adds the janitor thread and the
//! user-facing `Brama` type. Most users depend on `brama-sync` only.
// `unsafe` is denied but in three places, each with its `SAFETY` argument: the
// `membarrier(2)` system call (`barrier.rs`), the rate windows a connection owns until it
// is dropped (`window/slot.rs`), and this thread's by-key cache reached without a
// closure (`registry/cache.rs`).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod barrier;
mod circuit;
mod clock;
mod config;
mod context;
mod error;
mod events;
mod health;
mod key;
mod layers;
mod mode;
mod policy;
mod registry;
mod rules;
#[cfg(feature = "serde")]
mod serde;
mod snapshot;
mod state;
mod status;
mod sync;
mod window;

#[doc(hidden)]
pub mod engine;

/// The serde formats brama's values share (feature `serde`): humantime durations and
/// RFC 3339 times, for `#[serde(with = ...)]` in crates that embed brama's settings in
/// their own configuration (`brama-sync`'s `Config` does).
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod formats {
    pub use crate::serde::{duration, option_duration, option_time, time, Humantime};
}

pub use clock::{Clock, ClockSource, ManualClock, SystemClock};
pub use config::{
    Config, ExpiryStrategy, OpenDuration, OpenOptions, Options, Settings, TripPolicy, Window,
    MAX_DURATION, MAX_EVENT_QUEUE_CAPACITY, MAX_HALF_OPEN_PROBES, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES, MAX_METADATA_TOTAL_BYTES, MAX_METADATA_VALUE_BYTES, MAX_REASON_BYTES,
    MAX_WINDOW_CALLS, MAX_WINDOW_DURATION, TIME_WINDOW_BUCKETS, TRUNCATED_REASON_MARK,
};
pub use error::Error;
pub use events::{Counts, Event, EventKind, EventType, Filter, RecvFuture, Subscription};
pub use health::{Health, Verdict};
pub use key::{Key, OwnedKey, MAX_KEY_PART_BYTES};
pub use mode::Mode;
pub use registry::SweepReport;
pub use snapshot::{
    ConnectionSnapshot, ScopeSnapshot, Snapshot, MAX_BACKOFF_STEP, MAX_SNAPSHOT_TOTAL,
    SNAPSHOT_VERSION,
};
pub use state::{Cause, State};
pub use status::Status;
