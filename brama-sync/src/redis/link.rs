//! What the two background threads of one attachment share: the Redis client and names,
//! the link's state and counters, the stop signal, and the remote openings remembered
//! for connections not registered here.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use brama_core::engine::Registry;
use brama_core::{Counts, Event, EventKind, EventType, OwnedKey, State};

use super::protocol::Names;
use super::Stats;

/// The longest a connection attempt waits.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest a command waits for its reply before the link is taken as lost.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait before reconnecting.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long the subscriber's connection must have stayed up (past its load) for its
/// loss to start the backoff over from [`MIN_BACKOFF`]: a server that drops it sooner
/// is retried with the backoff still growing.
pub(crate) const STABLE_AFTER: Duration = MAX_BACKOFF;
/// How often an idle link is checked with a `PING`.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(1);
/// How often the stop signal is looked at while a thread waits on Redis or on events.
pub(crate) const POLL: Duration = Duration::from_millis(100);
/// The most updates waiting to be sent (one per connection: a newer one replaces an
/// older one of the same connection).
pub(crate) const MAX_QUEUED: usize = 10_000;
/// The most remote openings remembered for connections not registered here.
pub(crate) const MAX_DEFERRED: usize = 10_000;

/// A link-state callback.
pub(crate) type OnLink = Box<dyn Fn(bool) + Send + Sync>;

/// Which of the two connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Publisher,
    Subscriber,
}

/// The state one attachment's threads share with its [`Attached`](super::Attached) guard.
pub(crate) struct Shared {
    pub(crate) client: ::redis::Client,
    pub(crate) names: Names,
    pub(crate) namespace: String,
    pub(crate) instance: u64,
    on_link: Option<OnLink>,
    /// The registry, for the `FleetLink` events.
    registry: Weak<Registry>,
    stop: Mutex<bool>,
    stop_signal: Condvar,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
    /// The last link state reported (to waiters and to the callback).
    reported: Mutex<bool>,
    reported_signal: Condvar,
    /// Serialises link changes and their announcements (callback, event, metrics), so
    /// they are announced in the order they happened; the callback runs under no other
    /// lock.
    callback_turn: Mutex<()>,
    pub(crate) published: AtomicU64,
    pub(crate) applied: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) deferred: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    /// Remote openings of connections not registered here, applied when they register.
    deferred_openings: Mutex<HashMap<OwnedKey, Deferred>>,
}

/// A remote opening waiting for its connection to be registered here.
#[derive(Clone, Debug)]
pub(crate) struct Deferred {
    /// When it ends (`None`: open until closed by hand).
    pub(crate) until: Option<Instant>,
    pub(crate) reason: Option<String>,
}

impl Shared {
    pub(crate) fn new(
        client: ::redis::Client,
        names: Names,
        namespace: String,
        instance: u64,
        on_link: Option<OnLink>,
        registry: Weak<Registry>,
    ) -> Shared {
        Shared {
            client,
            names,
            namespace,
            instance,
            on_link,
            registry,
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            publisher_up: AtomicBool::new(false),
            subscriber_up: AtomicBool::new(false),
            reported: Mutex::new(false),
            reported_signal: Condvar::new(),
            callback_turn: Mutex::new(()),
            published: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            ignored: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            deferred_openings: Mutex::new(HashMap::new()),
        }
    }

    // ----- stopping ------------------------------------------------------------------

    /// Asks both threads to stop and wakes any that waits.
    pub(crate) fn stop(&self) {
        *relock(&self.stop) = true;
        self.stop_signal.notify_all();
    }

    pub(crate) fn stopped(&self) -> bool {
        *relock(&self.stop)
    }

    /// Waits for `d` or until stopped; true if stopped.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let guard = relock(&self.stop);
        let (guard, _) = self
            .stop_signal
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    // ----- the link ------------------------------------------------------------------

    /// Both connections are up (and the subscriber has loaded the openings in force).
    pub(crate) fn connected(&self) -> bool {
        // Acquire: pairs with the Release in `set_up`, so a reader that sees the link up
        // also sees the openings loaded before it went up.
        self.publisher_up.load(Ordering::Acquire) && self.subscriber_up.load(Ordering::Acquire)
    }

    /// Records that one side's connection went up or down; when the link as a whole
    /// changed, wakes waiters and announces it (callback, `FleetLink` event, metrics).
    /// Announcements alternate, starting with `true`: a change and its announcement
    /// happen under `callback_turn`, so no two carry the same value.
    pub(crate) fn set_up(&self, side: Side, up: bool) {
        let flag = match side {
            Side::Publisher => &self.publisher_up,
            Side::Subscriber => &self.subscriber_up,
        };
        // AcqRel: the Release half publishes what the side did before going up (the
        // subscriber's load) to `connected`'s Acquire; the Acquire half is unused.
        let was = flag.swap(up, Ordering::AcqRel);
        if was && !up {
            // Relaxed: a counter read only for reporting.
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        let _turn = relock(&self.callback_turn);
        let now = self.connected();
        let changed = {
            let mut reported = relock(&self.reported);
            let changed = *reported != now;
            *reported = now;
            changed
        };
        if changed {
            self.reported_signal.notify_all();
            self.announce(now);
        }
    }

    /// Tells (feature `metrics`) the metrics recorder, then the registry's subscribers,
    /// then the callback that the link is now `connected`: a subscriber that received the
    /// event finds the metrics set. Called under `callback_turn`.
    fn announce(&self, connected: bool) {
        // The recorder is user code too: a panic in it must not end the thread.
        #[cfg(feature = "metrics")]
        let _ = catch_unwind(AssertUnwindSafe(|| self.publish_metrics(connected)));
        if let Some(registry) = self.registry.upgrade() {
            let cx = registry.context();
            cx.bus.publish(EventType::FleetLink, |seq| {
                Event::new(
                    seq,
                    EventKind::FleetLink { connected },
                    cx.wall(cx.clock.now()),
                    None,
                    State::Unknown,
                    Counts::default(),
                )
            });
        }
        if let Some(f) = &self.on_link {
            // The user's callback: a panic in it must not end the thread.
            let _ = catch_unwind(AssertUnwindSafe(|| f(connected)));
        }
    }

    /// Feature `metrics`: the gauge `brama_redis_connected` (1 up, 0 down) and the
    /// counters of [`Shared::stats`], all labelled `namespace`, to the recorder in force
    /// on this (background) thread: the global one. Counters are set with `absolute`
    /// (they are cumulative since attach), so a publish never double-counts.
    #[cfg(feature = "metrics")]
    fn publish_metrics(&self, connected: bool) {
        use ::metrics::{counter, gauge};
        let ns = self.namespace.clone();
        gauge!("brama_redis_connected", "namespace" => ns.clone()).set(if connected {
            1.0
        } else {
            0.0
        });
        let st = self.stats();
        for (name, value) in [
            ("brama_redis_published_total", st.published),
            ("brama_redis_applied_total", st.applied),
            ("brama_redis_ignored_total", st.ignored),
            ("brama_redis_deferred_total", st.deferred),
            ("brama_redis_dropped_total", st.dropped),
            ("brama_redis_disconnects_total", st.disconnects),
        ] {
            counter!(name, "namespace" => ns.clone()).absolute(value);
        }
    }

    /// Waits up to `timeout` for the link to be up; answers whether it is.
    pub(crate) fn wait_connected(&self, timeout: Duration) -> bool {
        let guard = relock(&self.reported);
        let (_guard, _) = self
            .reported_signal
            .wait_timeout_while(guard, timeout, |_| !self.connected())
            .unwrap_or_else(PoisonError::into_inner);
        self.connected()
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> Stats {
        // Relaxed: independent counters, read for reporting.
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            connected: self.connected(),
            published: read(&self.published),
            applied: read(&self.applied),
            ignored: read(&self.ignored),
            deferred: read(&self.deferred),
            dropped: read(&self.dropped),
            disconnects: read(&self.disconnects),
        }
    }

    /// Adds one to a counter.
    pub(crate) fn count(&self, counter: &AtomicU64) {
        // Relaxed: a counter read only for reporting.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    // ----- openings of connections not registered here --------------------------------

    /// Remembers a remote opening of a connection not registered here (bounded by
    /// [`MAX_DEFERRED`]; the ones that ended are forgotten first).
    pub(crate) fn defer(&self, key: OwnedKey, remaining: Option<Duration>, reason: Option<String>) {
        let now = Instant::now();
        // A time past what `Instant` can hold (about a century) is taken as "until closed".
        let until = remaining.and_then(|d| now.checked_add(d));
        let mut map = relock(&self.deferred_openings);
        if map.len() >= MAX_DEFERRED && !map.contains_key(&key) {
            map.retain(|_, d| d.until.is_none_or(|u| u > now));
            if map.len() >= MAX_DEFERRED {
                drop(map);
                self.count(&self.dropped);
                return;
            }
        }
        map.insert(key, Deferred { until, reason });
        drop(map);
        self.count(&self.deferred);
    }

    /// Forgets a remembered opening (a close or reset of it arrived).
    pub(crate) fn forget(&self, key: &OwnedKey) {
        relock(&self.deferred_openings).remove(key);
    }

    /// Takes the remembered opening of `key`, with its remaining time, if still in force.
    pub(crate) fn take_deferred(
        &self,
        key: &OwnedKey,
    ) -> Option<(Option<Duration>, Option<String>)> {
        let d = relock(&self.deferred_openings).remove(key)?;
        match d.until {
            None => Some((None, d.reason)),
            Some(until) => {
                let left = until.checked_duration_since(Instant::now())?;
                (!left.is_zero()).then_some((Some(left), d.reason))
            }
        }
    }
}

/// Locks `m`, taking over a lock a panicking thread left poisoned (the data under these
/// locks stays consistent at every step).
pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The next wait before reconnecting.
pub(crate) fn next_backoff(d: Duration) -> Duration {
    (d * 2).min(MAX_BACKOFF)
}
