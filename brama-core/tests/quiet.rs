//! The quiet path of a handle success (`ConnectionCell::success_if_quiet`): taken only
//! while the bus's quiet stamp holds the reading the success stamp already holds, and
//! never while a subscription wants `Success`.
//!
//! The quiet path needs a thread that owns a counter lane (there are
//! `counter::OWNED_LANES` of them per process), so the concurrent test is in
//! `quiet_stress.rs`, a process of its own: here at most the harness's test threads
//! claim lanes, and only the first test needs one.

mod common;

use brama_core::engine::clock::NOT_A_READING;
use brama_core::engine::Context;
use brama_core::{ClockSource, Config, EventKind, EventType, Filter, ManualClock, SystemClock};
use common::cell;
use std::time::Duration;

#[test]
fn a_success_subscription_closes_the_quiet_path_at_once_and_others_leave_it_open() {
    let cx = Context::new(Config::default(), ClockSource::from(SystemClock::new()), 16);
    let db = cell(&cx);
    assert_eq!(cx.bus.quiet(), NOT_A_READING, "nothing published yet");
    assert!(!db.success_if_quiet(&cx));

    db.success(&cx, None).unwrap(); // Unknown -> Closed, claims a lane
    cx.refresh();
    assert_ne!(cx.bus.quiet(), NOT_A_READING);
    db.success(&cx, None).unwrap(); // stamps the published reading
    assert!(
        db.success_if_quiet(&cx),
        "stamped with the published reading"
    );
    assert_eq!(db.counts().total_successes, 3);

    let sub = cx
        .bus
        .subscribe(Filter::new().event_type(EventType::Success));
    assert_eq!(cx.bus.quiet(), NOT_A_READING);
    assert!(!db.success_if_quiet(&cx), "the subscriber wants this one");
    db.success(&cx, None).unwrap();
    let event = sub.try_recv().expect("the success was published");
    assert!(matches!(event.kind, EventKind::Success), "{event:?}");
    cx.refresh();
    assert_eq!(cx.bus.quiet(), NOT_A_READING, "a refresh keeps it closed");
    assert!(!db.success_if_quiet(&cx));

    drop(sub);
    cx.refresh();
    assert_ne!(cx.bus.quiet(), NOT_A_READING, "nobody wants Success now");
    db.success(&cx, None).unwrap();
    assert!(db.success_if_quiet(&cx));
    assert_eq!(db.counts().total_successes, 6, "every success counted once");

    // Subscriptions to other events leave it open. (In this test rather than one of
    // its own: each test thread that takes the quiet path holds a counter lane.)
    let _others = cx
        .bus
        .subscribe(Filter::new().event_types([EventType::StateChanged, EventType::Failure]));
    cx.refresh();
    db.success(&cx, None).unwrap();
    assert!(db.success_if_quiet(&cx), "no one wants Success");

    // The ticker goes away (issue #20, defect 1): the stamp is withdrawn, so a success
    // stamped with its last reading no longer skips its report for ever (which would
    // freeze the connection's last success at that reading). Here too for the lane.
    cx.untend();
    assert_eq!(cx.bus.quiet(), NOT_A_READING, "withdrawn with the ticker");
    assert!(!db.success_if_quiet(&cx));
    db.success(&cx, None).unwrap();
    assert!(!db.success_if_quiet(&cx), "untended: never quiet again");
    cx.refresh();
    db.success(&cx, None).unwrap();
    assert!(
        db.success_if_quiet(&cx),
        "a ticker that comes back reopens it"
    );
}

#[test]
fn clocks_without_a_cache_never_take_the_quiet_path() {
    let manual = ManualClock::new();
    for source in [
        ClockSource::from(manual.clone()),
        ClockSource::custom(manual.clone()),
    ] {
        let cx = Context::new(Config::default(), source, 16);
        let db = cell(&cx);
        for _ in 0..3 {
            cx.refresh();
            db.success(&cx, None).unwrap();
            assert_eq!(cx.bus.quiet(), NOT_A_READING);
            assert!(!db.success_if_quiet(&cx));
            manual.advance(Duration::from_secs(1));
        }
        // Even at the end of time no stamp equals the placeholder.
        manual.advance(Duration::MAX);
        db.success(&cx, None).unwrap();
        assert!(!db.success_if_quiet(&cx));
        assert_eq!(db.counts().total_successes, 4);
    }
}
