//! SPEC §2 rule 7: manual control. Open (for the current open duration, a given one, or
//! indefinitely; with an optional reason), close (Closed, count 0) and reset (Unknown,
//! counters and backoff step cleared, totals kept).

mod common;

use std::time::Duration;

use brama_core::{Cause, Config, Error, ExpiryStrategy, OpenOptions, State};
use common::*;

use Cause::*;
use State::*;

fn progressive() -> Config {
    Config {
        strategy: ExpiryStrategy::Progressive {
            initial: secs(1),
            max: secs(100),
            factor: 2.0,
        },
        probe_timeout: Some(secs(3600)),
        ..fixed(1, secs(60))
    }
}

// ----- open -------------------------------------------------------------------------------

#[test]
fn open_for_the_current_duration() {
    let h = Harness::new(fixed(5, secs(60)));
    h.success();
    h.failures(2);
    h.changes();
    h.advance(secs(4));
    h.open(OpenOptions::new());
    let s = h.status();
    assert_eq!(s.state, Open);
    assert_eq!(s.trips, 1, "a manual open counts as a trip");
    assert_eq!(s.opened_at, Some(h.wall(secs(4))));
    assert_eq!(s.open_duration, secs(60));
    assert_eq!(s.consecutive_failures, 2, "the count it had");
    assert_eq!(h.changes(), vec![(Closed, Open, ManualOpen)]);
    h.advance(secs(60) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert!(h.available());
    assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)]);
}

#[test]
fn open_for_a_given_duration() {
    let h = Harness::new(fixed(5, secs(60)));
    h.open(OpenOptions::new().duration(secs(30)));
    assert_eq!(h.status().open_duration, secs(30));
    assert_eq!(h.changes(), vec![(Unknown, Open, ManualOpen)]);
    assert_eq!(
        h.rejected(),
        Error::Rejected {
            identifier: "db".into(),
            scope: None,
            state: Open,
            retry_after: Some(secs(30))
        }
    );
    h.advance(secs(30) - NS);
    assert_eq!(h.reg.sweep().transitioned, 0);
    h.advance(NS);
    assert_eq!(h.reg.sweep().transitioned, 1);
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn open_indefinitely_never_expires() {
    let h = Harness::new(Config::default());
    h.success();
    h.changes();
    h.open(OpenOptions::new().indefinitely().reason("maintenance"));
    assert_eq!(h.changes(), vec![(Closed, Open, ManualOpen)]);
    let s = h.status();
    assert_eq!(s.open_duration, Duration::MAX);
    assert_eq!(s.trips, 1);
    for _ in 0..3 {
        h.advance(brama_core::engine::config::MAX_DURATION);
        assert_eq!(h.reg.sweep().transitioned, 0);
        assert!(!h.available());
        assert_eq!(
            h.rejected(),
            Error::Rejected {
                identifier: "db".into(),
                scope: None,
                state: Open,
                retry_after: None
            }
        );
        h.success();
        h.failure();
    }
    assert_eq!(h.state(), Open);
    assert!(h.changes().is_empty());
    h.close();
    assert_eq!(h.changes(), vec![(Open, Closed, ManualClose)]);
    assert!(h.available());
}

#[test]
fn open_indefinitely_at_the_end_of_time_stays_open() {
    let h = Harness::new(Config::default());
    h.advance(Duration::MAX); // the clock saturates at u64::MAX ns
    h.open(OpenOptions::new().indefinitely());
    assert!(!h.available());
    assert_eq!(h.reg.sweep().transitioned, 0);
    assert_eq!(h.state(), Open);
}

#[test]
fn open_does_not_advance_the_backoff_step() {
    let h = Harness::new(progressive());
    h.open(OpenOptions::new());
    assert_eq!(h.status().open_duration, secs(1), "step 1's duration");
    h.advance(secs(1));
    assert!(h.available());
    h.failure(); // the probe fails: the first step the backoff counts
    assert_eq!(
        h.status().open_duration,
        secs(1),
        "the manual open took no step"
    );
    assert_eq!(h.status().trips, 2);
}

#[test]
fn open_from_half_open_keeps_the_step() {
    let h = Harness::new(progressive());
    h.failure(); // trip 1: 1 s
    h.advance(secs(1));
    assert!(h.available());
    h.failure(); // trip 2: 2 s
    h.advance(secs(2));
    assert!(h.available());
    assert_eq!(h.status().open_duration, secs(4), "next would be 4 s");
    h.changes();
    h.open(OpenOptions::new());
    let s = h.status();
    assert_eq!(
        s.open_duration,
        secs(2),
        "current step's duration, not the next"
    );
    assert_eq!(s.trips, 3);
    assert_eq!(h.changes(), vec![(HalfOpen, Open, ManualOpen)]);
    h.advance(secs(2));
    assert!(h.available());
    h.failure();
    assert_eq!(h.status().open_duration, secs(4), "the step goes on from 2");
}

#[test]
fn open_on_an_open_circuit_rearms_without_an_event() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.changes();
    let first = h.status();
    h.advance(secs(50));
    h.open(OpenOptions::new().duration(secs(30)));
    let s = h.status();
    assert_eq!(s.state, Open);
    assert_eq!(s.trips, first.trips, "not a new trip");
    assert_eq!(s.open_duration, secs(30));
    assert!(h.changes().is_empty(), "no StateChanged");
    // The deadline moved to now + 30 s.
    h.advance(secs(10));
    assert!(
        !h.available(),
        "the old deadline passed; the new one has not"
    );
    h.advance(secs(20) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert!(h.available());
}

#[test]
fn open_on_an_open_circuit_can_make_it_indefinite_and_back() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.open(OpenOptions::new().indefinitely());
    h.advance(secs(3600));
    assert!(!h.available());
    h.open(OpenOptions::new());
    assert_eq!(h.status().open_duration, secs(60));
    h.advance(secs(60));
    assert!(h.available());
}

#[test]
fn open_on_an_expired_open_circuit_rearms_it() {
    // A manual action runs no time-driven rule: the circuit is still Open (nobody
    // looked since it expired), so this is a re-arm, not a change.
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.changes();
    h.advance(secs(90));
    h.open(OpenOptions::new().duration(secs(10)));
    assert!(h.changes().is_empty());
    assert!(!h.available());
    h.advance(secs(10));
    assert!(h.available());
}

#[test]
fn open_with_an_invalid_duration_changes_nothing() {
    let h = Harness::new(fixed(3, secs(60)));
    h.failure();
    h.changes();
    for d in [
        Duration::ZERO,
        brama_core::engine::config::MAX_DURATION + NS,
        Duration::MAX,
    ] {
        let r = h.reg.open(KEY, &OpenOptions::new().duration(d));
        assert_eq!(invalid_field(r), "duration");
    }
    let s = h.status();
    assert_eq!((s.state, s.consecutive_failures, s.trips), (Closed, 1, 0));
    assert!(h.changes().is_empty());
}

#[test]
fn open_cancels_half_open_probes() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.advance(secs(60));
    let (cell, probe) = h.reg.acquire(KEY).unwrap();
    h.open(OpenOptions::new().duration(secs(5)));
    cell.success(h.cx(), Some(probe)).unwrap();
    assert_eq!(
        h.state(),
        Open,
        "the probe's cycle ended with the manual open"
    );
}

// ----- close -------------------------------------------------------------------------------

#[test]
fn close_from_open() {
    let h = Harness::new(fixed(2, secs(60)));
    h.failures(2);
    h.changes();
    h.close();
    let s = h.status();
    assert_eq!((s.state, s.consecutive_failures), (Closed, 0));
    assert_eq!(s.trips, 1, "closing keeps the totals");
    assert_eq!(h.changes(), vec![(Open, Closed, ManualClose)]);
    assert!(h.available());
    h.failure();
    assert_eq!(h.state(), Closed, "the count starts again from 0");
}

#[test]
fn close_from_half_open() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.advance(secs(60));
    assert!(h.available());
    assert!(!h.available());
    h.changes();
    h.close();
    assert_eq!(h.changes(), vec![(HalfOpen, Closed, ManualClose)]);
    assert!(h.available());
    assert!(h.available(), "no probe limit once closed");
}

#[test]
fn close_from_unknown() {
    let h = Harness::new(Config::default());
    h.close();
    assert_eq!(h.state(), Closed);
    assert_eq!(h.changes(), vec![(Unknown, Closed, ManualClose)]);
}

#[test]
fn close_on_a_closed_circuit_clears_the_count_without_an_event() {
    for (path, h) in Harness::both_paths(fixed(3, secs(60))) {
        h.failures(2);
        h.changes();
        let before = h.status();
        h.advance(secs(1));
        h.close();
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 0), "{path}");
        assert_eq!(
            s.last_state_change_at, before.last_state_change_at,
            "{path}"
        );
        assert!(h.changes().is_empty(), "{path}");
        h.failures(2);
        assert_eq!(h.state(), Closed, "{path}: 2 < 3 after the clear");
    }
}

// ----- reset -------------------------------------------------------------------------------

#[test]
fn reset_keeps_totals_and_clears_state_count_and_step() {
    let h = Harness::new(progressive());
    h.success();
    h.failure(); // trip 1: 1 s
    h.advance(secs(1));
    assert!(h.available());
    h.failure(); // trip 2: 2 s
    assert!(!h.available());
    h.changes();
    let before = h.status();
    assert_eq!(before.open_duration, secs(2));
    h.reset();
    let s = h.status();
    assert_eq!(s.state, Unknown);
    assert_eq!(s.consecutive_failures, 0);
    assert_eq!(s.open_duration, secs(1), "the backoff step is cleared");
    assert_eq!(
        (
            s.total_successes,
            s.total_failures,
            s.total_rejected,
            s.trips
        ),
        (
            before.total_successes,
            before.total_failures,
            before.total_rejected,
            before.trips
        ),
        "totals are kept"
    );
    assert_eq!(s.registered_at, before.registered_at);
    assert_eq!(h.changes(), vec![(Open, Unknown, ManualReset)]);
    assert!(h.available());
    h.failure();
    assert_eq!(h.status().open_duration, secs(1), "the next trip is step 1");
    assert_eq!(h.changes(), vec![(Unknown, Open, Threshold)]);
}

#[test]
fn reset_from_closed_clears_the_count() {
    let h = Harness::new(fixed(3, secs(60)));
    h.failures(2);
    h.changes();
    h.reset();
    assert_eq!((h.state(), h.consecutive()), (Unknown, 0));
    assert_eq!(h.changes(), vec![(Closed, Unknown, ManualReset)]);
    h.failures(2);
    assert_eq!(h.state(), Closed);
}

#[test]
fn reset_from_half_open_ends_the_probe_cycle() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.advance(secs(60));
    let (cell, probe) = h.reg.acquire(KEY).unwrap();
    h.changes();
    h.reset();
    assert_eq!(h.changes(), vec![(HalfOpen, Unknown, ManualReset)]);
    cell.failure(h.cx(), Some(probe), None).unwrap();
    assert_eq!(h.state(), Unknown, "the old probe decides nothing");
}

#[test]
fn reset_of_an_indefinitely_open_circuit() {
    let h = Harness::new(Config::default());
    h.open(OpenOptions::new().indefinitely());
    h.reset();
    assert_eq!(h.state(), Unknown);
    assert_eq!(h.status().open_duration, secs(60));
    assert!(h.available());
}

#[test]
fn reset_on_an_unknown_circuit_emits_no_event() {
    let h = Harness::new(Config::default());
    h.reset();
    assert_eq!(h.state(), Unknown);
    assert!(h.changes().is_empty());
}

#[test]
fn manual_actions_count_as_activity_and_not_reports() {
    let h = Harness::new(Config::default());
    h.open(OpenOptions::new());
    h.close();
    h.reset();
    let s = h.status();
    assert_eq!((s.total_successes, s.total_failures), (0, 0));
    assert_eq!(s.success_rate(), None);
    assert_eq!((s.last_success_at, s.last_failure_at), (None, None));
}
