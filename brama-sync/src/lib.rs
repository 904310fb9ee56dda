//! # brama
//!
//! Circuit breakers for a service's outbound connections (APIs, databases, queues),
//! built for the hot path: the availability check is one atomic load on a healthy
//! circuit, lock-free and allocation-free, across thousands to millions of tracked
//! connections. A background janitor moves expired circuits to half-open and evicts idle
//! connections. A Rust take on the Elixir library Brama ("gate").
//!
//! ```
//! use std::time::Duration;
//! use brama_sync::{Brama, Key, Options, State};
//!
//! let brama = Brama::builder().failure_threshold(3).expiry(Duration::from_secs(30)).build()?;
//! let stripe = Key::scoped("payments", "stripe");
//! brama.register(stripe, Options::new().metadata("team", "billing"))?;
//!
//! for _ in 0..3 {
//!     if brama.available(stripe) {
//!         brama.failure_with(stripe, "timeout")?; // the call failed
//!     }
//! }
//! assert!(!brama.available(stripe)); // open: calls are refused without trying
//! assert_eq!(brama.status(stripe)?.state, State::Open);
//!
//! // Or let brama wrap the call:
//! let out: Result<u32, _> = brama.call("db", || Ok::<_, std::io::Error>(1));
//! assert!(out.is_err()); // "db" was never registered
//! # Ok::<(), brama_sync::Error>(())
//! ```
//!
//! ## Guarantees
//! - Every state change is one compare-and-swap and is reported as exactly one
//!   `StateChanged` event; when many threads report at once, exactly one opens the circuit.
//! - A half-open circuit admits at most `half_open_probes` callers per cycle; a permit from
//!   an earlier cycle decides nothing.
//! - Every report that returned `Ok` by key is counted exactly once, in the connection's
//!   totals or in the final counts of its `Unregistered`/`Evicted` event.
//! - No public method panics; bad input is an [`Error`] and changes nothing.
//!
//! See [`docs/guarantees.md`](https://github.com/brama-rs/brama/blob/main/docs/guarantees.md)
//! in the repository for the full list and the tests behind it.
//!
//! ## Async
//! [`Brama::call_async`] and [`Connection::call_async`] (and their `_with` forms taking
//! an [`Outcome`] classifier) wrap any future on any executor, with no allocation per
//! call; [`OwnedPermit`] moves into a spawned task; [`Subscription::recv_async`] reads
//! events in async code. With the `tower` feature, `brama_sync::tower::BramaLayer`
//! guards the upstream each request goes to.
//!
//! ## Threads and locks
//! Building a [`Brama`] spawns one thread, `brama-janitor`, joined when the last clone
//! drops; with [`Janitor::Manual`] there is none, and [`Brama::janitor_task`] runs the
//! same work on your runtime. An idle registry wakes its janitor once per
//! `cleanup_interval`. Checks and reports on a healthy circuit take no lock; state
//! changes take a short per-connection lock that never runs user code.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: each feature-gated module carries
// `#[cfg_attr(docsrs, doc(cfg(feature = "...")))]` so its items are labelled with the
// feature they need (docs/packaging.md, "Adding a feature").
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "admin")]
#[cfg_attr(docsrs, doc(cfg(feature = "admin")))]
pub mod admin;
mod as_key;
mod brama;
mod builder;
mod call;
mod config;
mod connection;
mod handle;
mod janitor;
mod keybuf;
mod observe;
mod ops;
mod permit;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
// Feature `serde`: `Config` and `Janitor`; the engine's value types get theirs from
// brama-core's feature `serde`.
#[cfg(feature = "serde")]
mod serde;
mod timed;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use as_key::AsKey;
pub use brama::Brama;
pub use builder::Builder;
#[allow(deprecated)]
pub use call::Classification;
pub use call::{ByResult, CallError, CallFuture, Classify, Outcome};
pub use config::Config;
pub use connection::Connection;
pub use janitor::Janitor;
pub use keybuf::KeyBuf;
pub use permit::{OwnedPermit, Permit};

/// The resolved configuration of one connection: the registry defaults with its
/// overrides applied, as [`Brama::defaults`] returns it (brama-core's `Config`; the
/// builder's settings as data are [`Config`]).
pub use brama_core::Config as ResolvedConfig;
pub use brama_core::{
    Cause, Clock, ClockSource, ConnectionSnapshot, Counts, Error, Event, EventKind, EventType,
    ExpiryStrategy, Filter, Health, Key, ManualClock, Mode, OpenDuration, OpenOptions, Options,
    OwnedKey, RecvFuture, ScopeSnapshot, Settings, Snapshot, State, Status, Subscription,
    SweepReport, SystemClock, TripPolicy, Verdict, Window, MAX_BACKOFF_STEP, MAX_DURATION,
    MAX_EVENT_QUEUE_CAPACITY, MAX_HALF_OPEN_PROBES, MAX_KEY_PART_BYTES, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES, MAX_METADATA_TOTAL_BYTES, MAX_METADATA_VALUE_BYTES, MAX_REASON_BYTES,
    MAX_SNAPSHOT_TOTAL, MAX_WINDOW_CALLS, MAX_WINDOW_DURATION, SNAPSHOT_VERSION,
    TIME_WINDOW_BUCKETS, TRUNCATED_REASON_MARK,
};
