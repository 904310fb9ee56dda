//! Registry-wide settings (run-time setters, builder-only limits), capacity and duplicates.

use brama_sync::{Brama, Error, Options};

use crate::support::{bad_durations, invalid_config, no_panic, populated, rejected};

#[test]
fn every_invalid_run_time_setting_is_rejected_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    for d in bad_durations() {
        rejected(
            &brama,
            &sub,
            &format!("set_cleanup_interval {d:?}"),
            || brama.set_cleanup_interval(d),
            invalid_config("cleanup_interval"),
        );
        rejected(
            &brama,
            &sub,
            &format!("set_inactive_threshold {d:?}"),
            || brama.set_inactive_threshold(d),
            invalid_config("inactive_threshold"),
        );
        for b in [
            Brama::builder().cleanup_interval(d),
            Brama::builder().inactive_threshold(d),
        ] {
            let out = no_panic("builder", || b.build());
            assert!(matches!(out, Err(Error::InvalidConfig { .. })), "{out:?}");
        }
    }
    for (b, field) in [
        (Brama::builder().max_connections(0), "max_connections"),
        (
            Brama::builder().event_queue_capacity(0),
            "event_queue_capacity",
        ),
        (
            Brama::builder().event_queue_capacity((1 << 20) + 1),
            "event_queue_capacity",
        ),
        (
            Brama::builder().event_queue_capacity(usize::MAX),
            "event_queue_capacity",
        ),
    ] {
        match no_panic(field, || b.build()) {
            Err(ref e) if invalid_config(field)(e) => {}
            other => panic!("{field}: {other:?}"),
        }
    }
    // Past max_connections (4: three registered, one place left).
    brama
        .register("fourth", Options::new())
        .expect("one place left");
    let _ = sub.try_iter().count();
    rejected(
        &brama,
        &sub,
        "register past max_connections",
        || brama.register("fifth", Options::new()),
        |e| *e == Error::CapacityExceeded,
    );
    rejected(
        &brama,
        &sub,
        "register twice",
        || brama.register("closed", Options::new()),
        |e| *e == Error::AlreadyRegistered,
    );
}
