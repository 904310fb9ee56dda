//! Feature `metrics` (SPEC §10; issue #17): the connections' own counters through the
//! `metrics` facade, read with `metrics-util`'s debugging recorder: on
//! `publish_metrics()` and after a sweep, never per call. ManualClock, manual janitor,
//! a local recorder per test.

use std::collections::HashMap;
use std::time::Duration;

use brama_sync::{Brama, Janitor, Key, ManualClock, OpenOptions, Options};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_secs(30))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap()
}

/// (name, sorted labels) -> value, for every metric the recorder holds.
type Values = HashMap<(String, Vec<(String, String)>), (MetricKind, DebugValue)>;

fn values(snapshotter: &Snapshotter) -> Values {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let kind = key.kind();
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), (kind, value))
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

fn counter(values: &Values, name: &str, pairs: &[(&str, &str)]) -> Option<u64> {
    match values.get(&(name.to_owned(), labels(pairs))) {
        Some((MetricKind::Counter, DebugValue::Counter(n))) => Some(*n),
        None => None,
        other => panic!("{name}: not a counter: {other:?}"),
    }
}

fn gauge(values: &Values, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    match values.get(&(name.to_owned(), labels(pairs))) {
        Some((MetricKind::Gauge, DebugValue::Gauge(g))) => Some(g.into_inner()),
        None => None,
        other => panic!("{name}: not a gauge: {other:?}"),
    }
}

#[test]
fn publish_metrics_reports_each_connections_own_counters() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let stripe = Key::scoped("payments", "stripe");
    brama.register(stripe, Options::new()).unwrap();
    brama.register("db", Options::new()).unwrap();
    for _ in 0..3 {
        brama.success(stripe).unwrap();
    }
    brama.failure(stripe).unwrap();
    brama.failure(stripe).unwrap(); // trips (threshold 2)
    for _ in 0..4 {
        assert!(!brama.available(stripe)); // rejected
    }
    brama.success("db").unwrap();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || brama.publish_metrics());
    let v = values(&snapshotter);
    let s = [("identifier", "stripe"), ("scope", "payments")];
    let with = |outcome| {
        [
            ("identifier", "stripe"),
            ("scope", "payments"),
            ("outcome", outcome),
        ]
    };
    assert_eq!(counter(&v, "brama_calls_total", &with("success")), Some(3));
    assert_eq!(counter(&v, "brama_calls_total", &with("failure")), Some(2));
    assert_eq!(counter(&v, "brama_rejected_total", &s), Some(4));
    assert_eq!(counter(&v, "brama_trips_total", &s), Some(1));
    assert_eq!(gauge(&v, "brama_state", &s), Some(2.0)); // open
                                                         // Unscoped: scope "".
    let db = [("identifier", "db"), ("scope", "")];
    assert_eq!(gauge(&v, "brama_state", &db), Some(1.0)); // closed
    assert_eq!(counter(&v, "brama_trips_total", &db), Some(0));
    assert_eq!(gauge(&v, "brama_connections", &[]), Some(2.0));

    // The open duration passes: the gauge reads what the next check would see.
    clock.advance(Duration::from_secs(30));
    metrics::with_local_recorder(&recorder, || brama.publish_metrics());
    let v = values(&snapshotter);
    assert_eq!(gauge(&v, "brama_state", &s), Some(3.0)); // half-open
}

#[test]
fn nothing_is_published_per_call_only_on_a_sweep_or_publish() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        for _ in 0..100 {
            assert!(brama.available("db"));
            brama.success("db").unwrap();
        }
        brama.failure("db").unwrap();
        brama.open_circuit("db", OpenOptions::new()).unwrap();
        assert!(!brama.available("db"));
    });
    assert!(values(&snapshotter).is_empty(), "published on the hot path");
    // A sweep (the janitor's work, here by hand) publishes.
    metrics::with_local_recorder(&recorder, || brama.sweep());
    let v = values(&snapshotter);
    let db = [("identifier", "db"), ("scope", "")];
    let ok = [("identifier", "db"), ("scope", ""), ("outcome", "success")];
    assert_eq!(counter(&v, "brama_calls_total", &ok), Some(100));
    assert_eq!(counter(&v, "brama_rejected_total", &db), Some(1));
    assert_eq!(counter(&v, "brama_trips_total", &db), Some(1));
}

#[test]
fn counters_are_absolute_and_removed_connections_are_not_published() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.register("gone", Options::new()).unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let ok = [("identifier", "db"), ("scope", ""), ("outcome", "success")];
    for round in 1..=3u64 {
        for _ in 0..5 {
            brama.success("db").unwrap();
        }
        metrics::with_local_recorder(&recorder, || brama.publish_metrics());
        // Cumulative, not added up per publish.
        assert_eq!(
            counter(&values(&snapshotter), "brama_calls_total", &ok),
            Some(5 * round)
        );
    }
    brama.unregister("gone").unwrap();
    let fresh = DebuggingRecorder::new();
    let fresh_snapshotter = fresh.snapshotter();
    metrics::with_local_recorder(&fresh, || brama.publish_metrics());
    let v = values(&fresh_snapshotter);
    assert_eq!(
        gauge(&v, "brama_state", &[("identifier", "gone"), ("scope", "")]),
        None
    );
    assert_eq!(gauge(&v, "brama_connections", &[]), Some(1.0));
}
