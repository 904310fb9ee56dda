//! Rules 1 and 2: successes close and zero the count; failures count up to the threshold.

use std::sync::Barrier;
use std::thread;

use brama_core::{Cause, Config, Options, State};

use crate::common::*;

use Cause::*;
use State::*;

// ----- rule 1: a success in Unknown or Closed closes and zeroes the count ------------

#[test]
fn success_in_unknown_closes_with_report_cause() {
    for (path, h) in Harness::both_paths(Config::default()) {
        assert_eq!(h.state(), Unknown, "{path}");
        assert!(h.available(), "{path}: Unknown admits");
        h.success();
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 0), "{path}");
        assert_eq!(h.changes(), vec![(Unknown, Closed, Report)], "{path}");
    }
}

#[test]
fn success_in_closed_zeroes_consecutive_failures() {
    for (path, h) in Harness::both_paths(fixed(5, secs(60))) {
        h.failures(4);
        assert_eq!((h.state(), h.consecutive()), (Closed, 4), "{path}");
        h.success();
        assert_eq!((h.state(), h.consecutive()), (Closed, 0), "{path}");
        // Had the count not been zeroed, the first of these would open the circuit.
        h.failures(4);
        assert_eq!((h.state(), h.consecutive()), (Closed, 4), "{path}");
        assert_eq!(
            h.changes(),
            vec![(Unknown, Closed, Report)],
            "{path}: only the first report changed the state"
        );
    }
}

#[test]
fn success_in_closed_with_no_failures_changes_nothing() {
    for (path, h) in Harness::both_paths(Config::default()) {
        h.success();
        h.changes();
        for _ in 0..10 {
            h.success();
        }
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 0), "{path}");
        assert_eq!(s.total_successes, 11, "{path}");
        assert!(h.changes().is_empty(), "{path}");
    }
}

// ----- rule 2: failures count up to the threshold, which opens -----------------------

#[test]
fn failure_in_unknown_below_threshold_closes_and_counts() {
    for (path, h) in Harness::both_paths(fixed(3, secs(60))) {
        h.failure();
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 1), "{path}");
        assert_eq!(h.changes(), vec![(Unknown, Closed, Report)], "{path}");
        assert!(h.available(), "{path}");
    }
}

#[test]
fn failures_reaching_threshold_open() {
    for (path, h) in Harness::both_paths(fixed(3, secs(60))) {
        h.failures(2);
        assert_eq!((h.state(), h.consecutive()), (Closed, 2), "{path}");
        assert_eq!(h.status().trips, 0, "{path}");
        h.failure();
        let s = h.status();
        assert_eq!(s.state, Open, "{path}");
        assert_eq!(s.consecutive_failures, 3, "{path}: the count that tripped");
        assert_eq!(s.trips, 1, "{path}");
        assert_eq!(s.total_failures, 3, "{path}");
        assert!(!h.available(), "{path}");
        assert_eq!(
            h.changes(),
            vec![(Unknown, Closed, Report), (Closed, Open, Threshold)],
            "{path}"
        );
    }
}

#[test]
fn threshold_one_opens_unknown_directly_on_first_failure() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        let s = h.status();
        assert_eq!(
            (s.state, s.consecutive_failures, s.trips),
            (Open, 1, 1),
            "{path}"
        );
        assert_eq!(
            h.changes(),
            vec![(Unknown, Open, Threshold)],
            "{path}: no Closed in between"
        );
    }
}

#[test]
fn threshold_one_opens_closed_on_first_failure() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.success();
        h.failure();
        assert_eq!(h.state(), Open, "{path}");
        assert_eq!(
            h.changes(),
            vec![(Unknown, Closed, Report), (Closed, Open, Threshold)],
            "{path}"
        );
    }
}

#[test]
fn threshold_u32_max_counts_without_opening() {
    for (path, h) in Harness::both_paths(fixed(u32::MAX, secs(60))) {
        h.failures(10_000);
        let s = h.status();
        assert_eq!(
            (s.state, s.consecutive_failures),
            (Closed, 10_000),
            "{path}"
        );
        assert_eq!(s.trips, 0, "{path}");
        // The threshold is compared with the count, not computed from it: lowering it
        // to one above the count opens on the next failure.
        h.reg
            .configure(KEY, &Options::new().failure_threshold(10_001))
            .unwrap();
        h.failure();
        assert_eq!((h.state(), h.consecutive()), (Open, 10_001), "{path}");
    }
}

#[test]
fn lowering_threshold_below_count_opens_on_next_failure() {
    for (path, h) in Harness::both_paths(fixed(10, secs(60))) {
        h.failures(6);
        h.reg
            .configure(KEY, &Options::new().failure_threshold(3))
            .unwrap();
        assert_eq!(h.state(), Closed, "{path}: configure alone opens nothing");
        h.failure();
        assert_eq!((h.state(), h.consecutive()), (Open, 7), "{path}");
    }
}

#[test]
fn threshold_counts_consecutive_not_total_failures() {
    for (path, h) in Harness::both_paths(fixed(3, secs(60))) {
        for _ in 0..5 {
            h.failures(2);
            h.success();
        }
        let s = h.status();
        assert_eq!(
            (s.state, s.total_failures, s.trips),
            (Closed, 10, 0),
            "{path}"
        );
    }
}

#[test]
fn concurrent_failures_open_exactly_once() {
    const THREADS: usize = 8;
    const EACH: u32 = 50;
    for slow in [false, true] {
        let h = if slow {
            Harness::slow_reports(fixed(5, secs(60)))
        } else {
            Harness::new(fixed(5, secs(60)))
        };
        let barrier = Barrier::new(THREADS);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..EACH {
                        h.reg.failure(KEY, None).unwrap();
                    }
                });
            }
        });
        let s = h.status();
        assert_eq!(s.state, Open, "slow={slow}");
        assert_eq!(s.trips, 1, "slow={slow}: exactly one opening");
        assert_eq!(s.consecutive_failures, 5, "slow={slow}");
        assert_eq!(
            s.total_failures,
            THREADS as u64 * EACH as u64,
            "slow={slow}"
        );
        let opens: Vec<_> = h.changes().into_iter().filter(|c| c.1 == Open).collect();
        assert_eq!(opens.len(), 1, "slow={slow}: one StateChanged to Open");
    }
}
