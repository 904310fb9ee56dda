//! Shared state across instances (feature `redis`, SPEC §12): circuit openings travel
//! between the instances of a fleet through a Redis (or Valkey) server.
//!
//! ```no_run
//! use brama_sync::{Brama, Key, Options};
//! use brama_sync::redis::SharedState;
//!
//! let brama = Brama::new();
//! brama.register(Key::scoped("payments", "stripe"), Options::new())?;
//! let fleet = SharedState::new("redis://127.0.0.1:6379/")
//!     .namespace("payments-svc")
//!     .attach(&brama)?;
//! // A trip here now opens "stripe" on every instance attached to the same namespace,
//! // for the time it has left; a manual close or reset here closes or resets it there.
//! assert!(brama.available(Key::scoped("payments", "stripe")));
//! println!("connected: {}", fleet.connected());
//! drop(fleet); // sharing stops
//! # Ok::<(), brama_sync::Error>(())
//! ```
//!
//! What is shared: every local transition to `Open` (threshold, failure rate, slow
//! calls, a failed probe, a manual or scope open) with its remaining open time, and
//! every manual close and reset. Each attached instance applies them with cause
//! [`Cause::Remote`](crate::Cause::Remote), and never shares again what it applied, so
//! no update echoes between instances. An opening received never shortens an opening
//! already in force here. An instance that attaches later loads the openings in force.
//!
//! # Threads, locks and the network
//! [`SharedState::attach`] spawns two threads, `brama-fleet-pub` and `brama-fleet-sub`,
//! each with its own connection to the server; they hold the registry weakly and end
//! when the [`Attached`] guard drops (which joins them: up to about a second when a
//! connection attempt or a round of a load is under way) or when the last `Brama` clone
//! drops. Checks and reports never touch the network nor wait for these threads: the
//! publisher reads the registry's own events, and remote changes are applied through
//! the same manual path as `open_circuit`.
//!
//! # When Redis is down, slow or restarted
//! Checks and reports go on unaffected. Each thread reconnects with backoff (50 ms
//! doubling up to 2 s, starting over only after a write the server took or a subscriber
//! connection that stayed up 2 s); updates made meanwhile wait in a queue that keeps
//! the latest update per connection (at most 10,000 connections; beyond, updates are
//! dropped and counted) and are sent when the server is back, with this instance's
//! openings in force written again. On reconnect the subscriber loads the openings in
//! force again, so what it missed is caught up. [`Attached::connected`] says whether both
//! connections are up, [`SharedState::on_link`] calls you back when that changes, the
//! registry's subscribers receive an [`EventKind::FleetLink`](crate::EventKind::FleetLink)
//! event (no key) with each change, with feature `metrics` the gauge
//! `brama_redis_connected` follows it, and [`Attached::stats`] counts what was published, applied, ignored, deferred and
//! dropped, and the disconnects.
//!
//! docs/fleet.md in the repository describes the protocol, its guarantees and limits.

mod apply;
mod link;
mod protocol;
mod publish;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use brama_core::{Error, EventType, Filter};

use crate::Brama;
use link::{OnLink, Shared};
use protocol::Names;

/// The namespace used when none is given.
pub const DEFAULT_NAMESPACE: &str = "default";

/// How to share a [`Brama`]'s circuit openings through a Redis server: the server's URL
/// and a namespace. Build it, then [`attach`](SharedState::attach) it.
pub struct SharedState {
    url: String,
    namespace: String,
    on_link: Option<OnLink>,
}

impl SharedState {
    /// Shares through the server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `redis+unix:///path`), in the namespace [`DEFAULT_NAMESPACE`]. The URL is
    /// checked by [`SharedState::attach`].
    pub fn new(url: impl Into<String>) -> SharedState {
        SharedState {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            on_link: None,
        }
    }

    /// The namespace: instances share only with those attached to the same one on the
    /// same server. 1 to 64 bytes of ASCII letters, digits, `-`, `.` and `_` (checked by
    /// [`SharedState::attach`]).
    pub fn namespace(mut self, namespace: impl Into<String>) -> SharedState {
        self.namespace = namespace.into();
        self
    }

    /// Calls `f` with the new state whenever the link to the server goes up or down (the
    /// value [`Attached::connected`] answers). It runs on one of the background threads,
    /// one call at a time: the link holds its own announcement lock around it, which no
    /// registry operation takes, so it may call the `Brama` and the `Attached` freely,
    /// except to drop the guard (that waits for these threads, and would deadlock). It
    /// should return quickly (it delays the next link change's announcement). Calls alternate, starting with `true`; a
    /// last `false` comes when the guard drops while connected. A panic in it is caught
    /// and ignored. The registry's subscribers see the same changes as
    /// [`EventKind::FleetLink`](crate::EventKind::FleetLink) events.
    pub fn on_link(mut self, f: impl Fn(bool) + Send + Sync + 'static) -> SharedState {
        self.on_link = Some(Box::new(f));
        self
    }

    /// Starts sharing `brama`'s openings. Returns at once, connected or not: the threads
    /// connect in the background and keep trying with backoff (see
    /// [`Attached::wait_connected`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] with field `url` for a URL the client cannot use, or
    /// `namespace` for a bad namespace; [`Error::Spawn`] if a thread cannot be started.
    /// Nothing is started on error.
    pub fn attach(self, brama: &Brama) -> Result<Attached, Error> {
        let names = Names::new(&self.namespace)?;
        let client =
            ::redis::Client::open(self.url.as_str()).map_err(|e| Error::InvalidConfig {
                field: "url",
                // The URL itself is not repeated: it may hold a password.
                reason: format!(
                    "not a Redis URL the client can use (redis://host:port/db or \
                 redis+unix:///path; TLS is not built in): {e}"
                ),
            })?;
        let shared = Arc::new(Shared::new(
            client,
            names,
            self.namespace,
            instance_id(),
            self.on_link,
            brama.registry_weak(),
        ));
        // Taken before the publisher walks the openings in force: no change is missed.
        let events = brama
            .subscribe(Filter::new().event_types([EventType::StateChanged, EventType::Registered]));
        let mut attached = Attached {
            shared: Arc::clone(&shared),
            threads: Vec::with_capacity(2),
        };
        let (s, r) = (Arc::clone(&shared), brama.registry_weak());
        attached.threads.push(spawn("brama-fleet-pub", move || {
            publish::run(s, r, events)
        })?);
        let (s, r) = (Arc::clone(&shared), brama.registry_weak());
        // On error `attached` drops here, which stops and joins the publisher.
        attached
            .threads
            .push(spawn("brama-fleet-sub", move || apply::run(s, r))?);
        Ok(attached)
    }
}

impl fmt::Debug for SharedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: not shown.
        f.debug_struct("SharedState")
            .field("namespace", &self.namespace)
            .field("on_link", &self.on_link.is_some())
            .finish_non_exhaustive()
    }
}

/// The guard of an attachment: sharing goes on while it lives and stops when it drops.
pub struct Attached {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What an attachment has done so far ([`Attached::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Both connections to the server are up ([`Attached::connected`]).
    pub connected: bool,
    /// Updates written to the server (openings, closes, resets, and the periodic
    /// rewrite of this instance's openings in force).
    pub published: u64,
    /// Remote changes applied here (including those that changed nothing, e.g. an
    /// opening shorter than the one in force).
    pub applied: u64,
    /// Malformed or foreign messages and stored values, ignored (including keys of
    /// another type than string under the namespace's opening keys).
    pub ignored: u64,
    /// Remote openings of connections not registered here, remembered while in force
    /// and applied if the connection registers (at most 10,000 at a time).
    pub deferred: u64,
    /// Updates lost: the send queue or the remembered openings were full, or the
    /// registry's event queue for this attachment overflowed (its openings in force are
    /// then sent again).
    pub dropped: u64,
    /// Times a connection to the server that was up went down.
    pub disconnects: u64,
}

impl Attached {
    /// Whether both connections to the server are up and the openings in force were
    /// loaded since the last reconnect. Lock-free.
    pub fn connected(&self) -> bool {
        self.shared.connected()
    }

    /// Waits up to `timeout` until [`Attached::connected`]; answers whether it is.
    /// Blocks the calling thread.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        self.shared.wait_connected(timeout)
    }

    /// Malformed or foreign messages ignored so far (also in [`Attached::stats`]).
    pub fn ignored(&self) -> u64 {
        self.shared.stats().ignored
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// This attachment's instance id, carried by every message it sends.
    pub fn instance_id(&self) -> u64 {
        self.shared.instance
    }

    /// The namespace it shares in.
    pub fn namespace(&self) -> &str {
        &self.shared.namespace
    }
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("namespace", &self.shared.namespace)
            .field("instance", &format_args!("{:016x}", self.shared.instance))
            .field("stats", &self.shared.stats())
            .finish()
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.shared.stop();
        for t in self.threads.drain(..) {
            // Never joined from its own thread: the threads hold no `Attached`.
            let _ = t.join();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|e| Error::Spawn {
            reason: format!("{name}: {e}"),
        })
}

/// A random id for this attachment: std's randomly seeded hasher over the time, the
/// process id and a counter (no dependency; ids need to differ, not be secret).
fn instance_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    // Relaxed: only uniqueness of the value matters.
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}
