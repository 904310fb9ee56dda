//! Feature `metrics` with `redis`: the gauge `brama_redis_connected` and the counters of
//! `Attached::stats()`, labelled `namespace`, follow the link across a killed and
//! restarted `redis-server`. Its own binary: the global recorder is the debugging one.
//!
//! Needs `redis-server` (see tests/redis_support). Run:
//! `cargo test -p brama-sync --features redis,metrics --test redis_metrics`.

mod redis_support;

use std::collections::HashMap;

use brama_sync::redis::SharedState;
use brama_sync::{EventKind, EventType, Filter, Key, Subscription};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use redis_support::*;

const DB: Key<'static> = Key::scoped("payments", "db");

/// One snapshot (it takes the values): every metric labelled `namespace="svc"`, by name,
/// as a number.
fn values(snapshotter: &Snapshotter) -> HashMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let (kind, key) = (key.kind(), key.key());
            let labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            if labels != [("namespace".to_owned(), "svc".to_owned())] {
                return None;
            }
            let n = match (kind, value) {
                (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
                (MetricKind::Counter, DebugValue::Counter(n)) => n as f64,
                other => panic!("{}: unexpected {other:?}", key.name()),
            };
            Some((key.name().to_owned(), n))
        })
        .collect()
}

/// Waits for the `FleetLink` event saying `connected` (the link's metrics are set before
/// it is published).
fn link_event(sub: &Subscription, connected: bool) -> bool {
    let deadline = std::time::Instant::now() + DEADLINE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match sub.recv_timeout(left).map(|e| e.kind) {
            Some(EventKind::FleetLink { connected: c }) if c == connected => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

#[test]
fn the_connected_gauge_and_the_counters_follow_the_link() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this binary");

    // The debugging recorder's snapshot takes the values (it swaps them with 0), so it is
    // read only after a link event, once per change.
    let a = instance(&[DB]);
    let link = a.subscribe(Filter::new().event_type(EventType::FleetLink));
    let fa = SharedState::new(server.url())
        .namespace("svc")
        .attach(&a)
        .unwrap();
    assert!(link_event(&link, true), "up");
    trip(&a, DB); // published while up
    assert!(eventually(|| fa.stats().published >= 1));

    server.kill();
    assert!(link_event(&link, false), "down");
    // No snapshot since attach: the gauge was set (1 then 0: present) and last to 0; the
    // counters as they stood at the change.
    let v = values(&snapshotter);
    assert_eq!(v.get("brama_redis_connected"), Some(&0.0), "{v:?}");
    assert!(v["brama_redis_disconnects_total"] >= 1.0, "{v:?}");
    assert!(v["brama_redis_published_total"] >= 1.0, "{v:?}");
    for name in [
        "brama_redis_applied_total",
        "brama_redis_ignored_total",
        "brama_redis_deferred_total",
        "brama_redis_dropped_total",
    ] {
        assert!(v.contains_key(name), "{name} recorded: {v:?}");
    }

    server.restart();
    assert!(link_event(&link, true), "up again");
    let v = values(&snapshotter);
    assert_eq!(v.get("brama_redis_connected"), Some(&1.0), "{v:?}");
    // Absolute: the attachment's own count (nothing disconnects between the change and now).
    assert_eq!(
        v.get("brama_redis_disconnects_total"),
        Some(&(fa.stats().disconnects as f64)),
        "{v:?}"
    );
}
