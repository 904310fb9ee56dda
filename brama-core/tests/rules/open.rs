//! Rules 3 and 5: Open lasts its duration, then moves to HalfOpen; reports while Open.

use brama_core::{Cause, Config, Error, OpenOptions, State};

use crate::common::*;

use Cause::*;
use State::*;

// ----- rule 3: Open lasts the open duration; the first check, report or sweep after
// it moves to HalfOpen, without waiting for a sweep ------------------------------------

#[test]
fn check_exactly_at_expiry_moves_to_half_open() {
    let h = Harness::new(fixed(1, secs(60)));
    h.advance(secs(7));
    h.failure();
    h.changes();
    h.advance(secs(60) - NS);
    assert!(!h.available(), "1 ns before expiry");
    assert_eq!(h.state(), Open);
    assert!(h.changes().is_empty());
    h.advance(NS);
    assert!(h.available(), "exactly at expiry, no sweep needed");
    assert_eq!(h.state(), HalfOpen);
    assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)]);
}

#[test]
fn acquire_exactly_at_expiry_takes_a_probe() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.advance(secs(60) - NS);
    assert!(matches!(
        h.rejected(),
        Error::Rejected {
            ref identifier,
            scope: None,
            state: Open,
            retry_after: Some(d),
        } if d == NS && identifier == "db"
    ));
    h.changes();
    h.advance(NS);
    let (_, ticket) = h.reg.acquire(KEY).expect("admitted at expiry");
    assert!(ticket.probe, "the admission is a half-open probe");
    assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)]);
}

#[test]
fn retry_after_counts_down_to_the_deadline() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    let rejected = |left| Error::Rejected {
        identifier: "db".into(),
        scope: None,
        state: Open,
        retry_after: Some(left),
    };
    assert_eq!(h.rejected(), rejected(secs(60)));
    h.advance(millis(1_500));
    assert_eq!(h.rejected(), rejected(millis(58_500)));
    h.advance(millis(58_499));
    assert_eq!(h.rejected(), rejected(millis(1)));
}

#[test]
fn success_after_expiry_moves_to_half_open_and_decides_nothing() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.changes();
        h.advance(secs(60));
        // The first report after the deadline moves the circuit (rule 3); no probe is
        // out, so it decides nothing (rule 4) and is only counted.
        h.success();
        let s = h.status();
        assert_eq!((s.state, s.total_successes), (HalfOpen, 1), "{path}");
        assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)], "{path}");
        // The probe slot is untouched: the probe's success closes.
        assert!(h.available(), "{path}: the probe");
        assert!(!h.available(), "{path}: the only slot");
        h.success();
        assert_eq!(h.state(), Closed, "{path}");
        assert_eq!(
            h.changes(),
            vec![(HalfOpen, Closed, ProbeSuccess)],
            "{path}"
        );
    }
}

#[test]
fn failure_after_expiry_moves_to_half_open_and_decides_nothing() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.changes();
        h.advance(secs(60));
        // The first report after the deadline moves the circuit (rule 3); no probe is
        // out, so it decides nothing (rule 4) and is only counted.
        h.failure();
        let s = h.status();
        assert_eq!(
            (s.state, s.trips, s.total_failures),
            (HalfOpen, 1, 2),
            "{path}"
        );
        assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)], "{path}");
        // The probe's failure re-opens.
        assert!(h.available(), "{path}: the probe");
        assert!(!h.available(), "{path}: the only slot");
        h.advance(secs(3));
        h.failure();
        let s = h.status();
        assert_eq!((s.state, s.trips), (Open, 2), "{path}");
        assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)], "{path}");
        // The new deadline runs from the failure.
        h.advance(secs(60) - NS);
        assert!(!h.available(), "{path}");
        h.advance(NS);
        assert!(h.available(), "{path}");
    }
}

#[test]
fn report_one_ns_before_expiry_stays_open() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.changes();
        h.advance(secs(60) - NS);
        h.success();
        h.failure();
        assert_eq!(h.state(), Open, "{path}");
        assert!(h.changes().is_empty(), "{path}");
    }
}

#[test]
fn sweep_moves_expired_open_to_half_open() {
    let h = Harness::new(fixed(1, secs(60)));
    h.advance(secs(3));
    h.failure();
    h.changes();
    h.advance(secs(60) - NS);
    assert_eq!(h.reg.sweep().transitioned, 0, "1 ns before expiry");
    assert_eq!(h.state(), Open);
    h.advance(NS);
    let report = h.reg.sweep();
    assert_eq!((report.examined, report.transitioned), (1, 1));
    assert_eq!(h.state(), HalfOpen);
    assert_eq!(h.changes(), vec![(Open, HalfOpen, Expiry)]);
    // A second sweep finds nothing to do; the check after it takes the probe slot.
    assert_eq!(h.reg.sweep().transitioned, 0);
    assert!(h.available());
    assert!(!h.available());
    assert!(h.changes().is_empty());
}

#[test]
fn expiry_seen_by_check_is_not_repeated_by_sweep() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    h.advance(secs(61));
    assert!(h.available());
    assert_eq!(h.reg.sweep().transitioned, 0);
    let changes = h.changes();
    assert_eq!(changes.iter().filter(|c| c.2 == Expiry).count(), 1);
}

// ----- rule 5: reports while Open count in the totals only -----------------------------

#[test]
fn reports_while_open_count_in_totals_without_changing_state() {
    for (path, h) in Harness::both_paths(fixed(2, secs(60))) {
        h.failures(2);
        h.changes();
        let opened = h.status();
        h.advance(secs(30));
        h.failures(3);
        h.success();
        h.success();
        let s = h.status();
        assert_eq!(s.state, Open, "{path}");
        assert_eq!(s.total_failures, 5, "{path}");
        assert_eq!(s.total_successes, 2, "{path}");
        assert_eq!(
            s.consecutive_failures, 2,
            "{path}: still the count that tripped"
        );
        assert_eq!(s.trips, 1, "{path}");
        assert_eq!(s.opened_at, opened.opened_at, "{path}");
        assert_eq!(s.open_duration, secs(60), "{path}");
        assert_eq!(s.last_failure_at, Some(h.wall(secs(30))), "{path}");
        assert_eq!(s.last_success_at, Some(h.wall(secs(30))), "{path}");
        assert!(h.changes().is_empty(), "{path}");
        // The deadline did not move.
        assert_eq!(
            h.rejected(),
            Error::Rejected {
                identifier: "db".into(),
                scope: None,
                state: Open,
                retry_after: Some(secs(30))
            },
            "{path}"
        );
        h.advance(secs(30) - NS);
        h.failure();
        assert!(!h.available(), "{path}");
        h.advance(NS);
        assert!(
            h.available(),
            "{path}: opened + expiry, not last report + expiry"
        );
    }
}

#[test]
fn reports_while_open_indefinitely_count_in_totals_only() {
    for (path, h) in Harness::both_paths(Config::default()) {
        h.open(OpenOptions::new().indefinitely());
        h.changes();
        h.advance(secs(1_000_000));
        h.failure();
        h.success();
        let s = h.status();
        assert_eq!(
            (s.state, s.total_failures, s.total_successes),
            (Open, 1, 1),
            "{path}"
        );
        assert!(h.changes().is_empty(), "{path}");
    }
}
