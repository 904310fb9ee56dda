//! No public method panics on extreme input.

use std::time::Duration;

use brama_sync::{Brama, Filter, ManualClock, OpenOptions, Options};

use crate::support::{progressive, MAX_DURATION};

#[test]
fn no_public_method_panics_on_extreme_input() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .expiry(MAX_DURATION)
        .expiry_strategy(progressive(Duration::from_nanos(1), MAX_DURATION, f64::MAX))
        .jitter(0.999_999)
        .half_open_probes(65_535)
        .probe_timeout(MAX_DURATION)
        .cleanup_interval(MAX_DURATION)
        .inactive_threshold(MAX_DURATION)
        .max_connections(usize::MAX)
        .event_queue_capacity(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let reason = "r".repeat(1 << 20);
    brama
        .register("db", Options::new().failure_threshold(1))
        .unwrap();
    for _ in 0..50 {
        brama.failure_with("db", &reason).unwrap();
        let _ = brama.available("db");
        clock.advance(MAX_DURATION);
        let _ = brama.available("db");
        brama.sweep();
    }
    let _ = brama.status("db").unwrap();
    brama
        .open_circuit("db", OpenOptions::new().duration(MAX_DURATION))
        .unwrap();
    clock.advance(Duration::MAX); // the clock saturates
    let s = brama.status("db").unwrap();
    let _ = (s.success_rate(), s.since_state_change, s.open_duration);
    assert!(brama.available("db"));
    brama.success("db").unwrap();
    brama
        .open_circuit("db", OpenOptions::new().indefinitely())
        .unwrap();
    assert_eq!(brama.status("db").unwrap().open_duration, Duration::MAX);
    assert!(!brama.available("db"));
    brama.sweep();
    brama.reset_circuit("db").unwrap();
    for _ in 0..10 {
        let _ = brama.acquire("db").and_then(|p| p.ignore());
    }
    let _ = sub.dropped();
    let _ = brama.connections_in("");
    let _ = brama.connections_in(&reason);
    brama.unregister("db").unwrap();
    assert!(brama.unregister("db").is_err());
}
