//! SPEC §2 rules 1, 2, 3, 5 and 8 (closed, opening, expiry, reports while open, one
//! event per change) and the Status fields of §1, through the public `Registry` on a
//! `ManualClock`. Half-open probes, backoff, manual control and bad input have their own
//! files.

mod common;

use std::sync::Barrier;
use std::thread;

use brama_core::engine::Registry;
use brama_core::{
    Cause, ClockSource, Config, Error, EventKind, EventType, Filter, Key, ManualClock, OpenOptions,
    Options, Settings, State,
};
use common::*;

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

// ----- rule 8: every change is exactly one StateChanged event ---------------------------

#[test]
fn every_change_is_exactly_one_event_with_from_to_and_cause() {
    let h = Harness::new(fixed(2, secs(10)));
    let all = h.reg.context().bus.subscribe(Filter::new());
    h.success(); // Unknown -> Closed
    h.failures(2); // Closed -> Open
    h.advance(secs(10));
    assert!(h.available()); // Open -> HalfOpen, probe admitted
    h.failure(); // HalfOpen -> Open
    h.advance(secs(10));
    h.reg.sweep(); // Open -> HalfOpen
    h.success(); // no probe out: counted, no change
    assert!(h.available()); // the probe
    h.success(); // HalfOpen -> Closed
    h.open(OpenOptions::new().reason("maintenance")); // Closed -> Open
    h.close(); // Open -> Closed
    h.reset(); // Closed -> Unknown
    h.open(OpenOptions::new()); // Unknown -> Open
    h.advance(secs(10));
    assert!(h.available()); // Open -> HalfOpen
    h.advance(secs(10));
    assert!(h.available()); // probe timeout: slot freed, no change; probe admitted
    assert!(!h.available()); // the new probe holds the slot
    h.advance(secs(10));
    h.failure(); // probe timeout again, then no probe out: counted, no change
    assert_eq!(h.state(), HalfOpen);
    h.reset(); // HalfOpen -> Unknown
    assert_eq!(
        h.changes(),
        vec![
            (Unknown, Closed, Report),
            (Closed, Open, Threshold),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Open, ProbeFailure),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Closed, ProbeSuccess),
            (Closed, Open, ManualOpen),
            (Open, Closed, ManualClose),
            (Closed, Unknown, ManualReset),
            (Unknown, Open, ManualOpen),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Unknown, ManualReset),
        ]
    );
    // Sequence numbers of all events are gap-free and in order.
    let seqs: Vec<u64> = all.try_iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn state_changed_events_carry_key_and_reason() {
    let h = Harness::empty(fixed(1, secs(10)));
    let key = Key::scoped("payments", "stripe");
    h.reg.register(key, &Options::new()).unwrap();
    h.reg.failure(key, Some("timeout")).unwrap();
    let events = h.change_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!((e.identifier(), e.scope()), ("stripe", Some("payments")));
    assert_eq!(e.event_type(), EventType::StateChanged);
    assert_eq!(e.reason.as_deref(), Some("timeout"));
    assert_eq!(e.at, h.wall(secs(0)));
}

#[test]
fn manual_open_event_carries_reason() {
    let h = Harness::new(Config::default());
    h.open(OpenOptions::new().reason("maintenance"));
    let events = h.change_events();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0].kind,
        EventKind::StateChanged {
            from: Unknown,
            to: Open,
            cause: ManualOpen
        }
    ));
    assert_eq!(events[0].reason.as_deref(), Some("maintenance"));
}

#[test]
fn quiet_updates_emit_no_state_changed() {
    let h = Harness::new(fixed(5, secs(10)));
    h.success();
    h.changes();
    h.failures(3); // count changes
    h.success(); // count zeroed
    assert!(h.available());
    assert!(h.changes().is_empty(), "counting is not a change");
    h.trip();
    h.advance(secs(10));
    h.reg.sweep();
    h.changes();
    let (cell, ticket) = h.reg.acquire(KEY).unwrap(); // probe admitted
    cell.release(ticket); // probe slot freed
    assert!(h.available()); // and taken again
    assert!(h.changes().is_empty());
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn concurrent_half_open_checks_admit_exactly_the_probe_limit() {
    const THREADS: usize = 8;
    let cfg = Config {
        half_open_probes: 3,
        ..fixed(1, secs(10))
    };
    let h = Harness::new(cfg);
    h.failure();
    h.advance(secs(10));
    h.changes();
    let barrier = Barrier::new(THREADS);
    let admitted = thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    h.reg.available(KEY)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&ok| ok)
            .count()
    });
    assert_eq!(admitted, 3);
    assert_eq!(h.status().total_rejected, (THREADS - 3) as u64);
    assert_eq!(
        h.changes(),
        vec![(Open, HalfOpen, Expiry)],
        "one expiry, however many checks saw it"
    );
}

// ----- Status fields (SPEC §1, §3) -------------------------------------------------------

#[test]
fn status_timestamps_are_exact_under_manual_clock() {
    let clock = ManualClock::new();
    clock.advance(secs(100));
    let reg = Registry::new(
        fixed(2, secs(60)),
        Settings::default(),
        ClockSource::from(clock.clone()),
    )
    .unwrap();
    let cx = reg.context();
    let at = |t: u64| cx.wall(brama_core::engine::clock::nanos(secs(t)));
    clock.advance(secs(1)); // t = 101
    let s = reg.register(KEY, &Options::new()).unwrap();
    assert_eq!(s.registered_at, at(101));
    assert_eq!(
        s.last_state_change_at,
        at(101),
        "registration counts as a change"
    );
    assert_eq!(s.since_state_change, secs(0));
    assert_eq!(
        (s.last_success_at, s.last_failure_at, s.opened_at),
        (None, None, None)
    );
    assert_eq!(s.open_duration, secs(60), "the one the next trip would use");

    clock.advance(secs(2)); // 103
    reg.success(KEY).unwrap();
    clock.advance(secs(3)); // 106
    let s = reg.status(KEY).unwrap();
    assert_eq!(s.registered_at, at(101));
    assert_eq!(s.last_success_at, Some(at(103)));
    assert_eq!(s.last_state_change_at, at(103), "Unknown -> Closed");
    assert_eq!(s.since_state_change, secs(3));

    reg.failure(KEY, None).unwrap();
    clock.advance(secs(1)); // 107
    let s = reg.status(KEY).unwrap();
    assert_eq!(s.last_failure_at, Some(at(106)));
    assert_eq!(s.last_state_change_at, at(103), "a count is not a change");
    assert_eq!(s.since_state_change, secs(4));

    reg.failure(KEY, None).unwrap(); // opens at 107
    let s = reg.status(KEY).unwrap();
    assert_eq!(s.state, Open);
    assert_eq!(s.opened_at, Some(at(107)));
    assert_eq!(s.last_failure_at, Some(at(107)));
    assert_eq!(s.last_state_change_at, at(107));
    assert_eq!(s.since_state_change, secs(0));
    assert_eq!(s.open_duration, secs(60));

    clock.advance(secs(60)); // 167
    assert!(reg.available(KEY));
    let s = reg.status(KEY).unwrap();
    assert_eq!(s.state, HalfOpen);
    assert_eq!(s.opened_at, Some(at(107)), "opened_at is the last opening");
    assert_eq!(s.last_state_change_at, at(167));

    clock.advance(NS);
    reg.failure(KEY, None).unwrap(); // re-opens at 167 s + 1 ns
    let s = reg.status(KEY).unwrap();
    let reopened = cx.wall(brama_core::engine::clock::nanos(secs(167) + NS));
    assert_eq!(s.opened_at, Some(reopened));
    assert_eq!(s.last_state_change_at, reopened);
    assert_eq!(s.registered_at, at(101));
    assert_eq!(s.last_success_at, Some(at(103)));
}

#[test]
fn success_rate_is_none_before_the_first_report() {
    let h = Harness::new(fixed(100, secs(60)));
    let s = h.status();
    assert_eq!(s.success_rate(), None);
    assert_eq!((s.total_successes, s.total_failures), (0, 0));
    assert!(h.available());
    assert_eq!(h.status().success_rate(), None, "a check is not a report");
    h.failure();
    assert_eq!(h.status().success_rate(), Some(0.0));
    h.success();
    h.success();
    h.success();
    assert_eq!(h.status().success_rate(), Some(0.75));
}

#[test]
fn rejected_checks_are_counted_and_admitted_ones_are_not() {
    let h = Harness::new(fixed(1, secs(10)));
    assert!(h.available());
    assert!(h.reg.acquire(KEY).is_ok());
    assert_eq!(h.status().total_rejected, 0);
    h.failure();
    assert!(!h.available());
    assert!(!h.available());
    assert!(h.reg.acquire(KEY).is_err());
    assert_eq!(h.status().total_rejected, 3);
    h.advance(secs(10));
    assert!(h.available(), "the probe");
    assert!(!h.available(), "no second probe");
    assert_eq!(h.status().total_rejected, 4);
}

#[test]
fn consecutive_failures_in_open_and_half_open_is_the_tripping_count() {
    let h = Harness::new(fixed(3, secs(10)));
    h.failures(3);
    assert_eq!((h.state(), h.consecutive()), (Open, 3));
    h.failures(5);
    assert_eq!(h.consecutive(), 3, "reports while open do not add");
    h.advance(secs(10));
    h.reg.sweep();
    assert_eq!((h.state(), h.consecutive()), (HalfOpen, 3));
    h.failures(2);
    assert_eq!(
        (h.state(), h.consecutive()),
        (HalfOpen, 3),
        "failures with no probe out do not add"
    );
    assert!(h.available(), "the probe");
    h.failure();
    assert_eq!(
        (h.state(), h.consecutive()),
        (Open, 3),
        "a probe failure keeps it"
    );
    h.advance(secs(10));
    assert!(h.available(), "the probe");
    h.success();
    assert_eq!((h.state(), h.consecutive()), (Closed, 0));
}

#[test]
fn status_open_duration_is_in_force_or_next() {
    let h = Harness::new(fixed(1, secs(42)));
    assert_eq!(h.status().open_duration, secs(42), "Unknown: next");
    h.success();
    assert_eq!(h.status().open_duration, secs(42), "Closed: next");
    h.open(OpenOptions::new().duration(secs(7)));
    assert_eq!(h.status().open_duration, secs(7), "Open: in force");
    h.advance(secs(7));
    h.reg.sweep();
    assert_eq!(h.status().open_duration, secs(42), "HalfOpen: next");
    h.open(OpenOptions::new().indefinitely());
    assert_eq!(h.status().open_duration, std::time::Duration::MAX);
}

#[test]
fn status_reports_key_and_metadata() {
    let h = Harness::empty(Config::default());
    let key = Key::scoped("payments", "stripe");
    let s = h
        .reg
        .register(key, &Options::new().metadata("team", "billing"))
        .unwrap();
    assert_eq!(s.identifier, "stripe");
    assert_eq!(s.scope.as_deref(), Some("payments"));
    assert_eq!(s.metadata.get("team").map(String::as_str), Some("billing"));
    assert_eq!(s.state, Unknown);
    assert_eq!(
        (s.consecutive_failures, s.total_rejected, s.trips),
        (0, 0, 0)
    );
}

// ----- the state a read sees (SPEC §10: `state()` without side effects) --------------

/// `rules::state_at`, which `state()` and health reports use, is the state the
/// time-driven rules (`step` with `Input::Tick`) leave, for every state, deadline and
/// time around it; and where it turns `Open` into `HalfOpen`, the next check is admitted
/// as a probe.
#[test]
fn state_at_is_the_state_the_time_rules_leave() {
    use brama_core::engine::rules::{state_at, step, Input, Machine, Outcome, NEVER};
    let cfg = Config {
        probe_timeout: Some(secs(5)),
        ..Config::default()
    };
    let t = 1_000_000_000u64;
    for state in [Unknown, Closed, Open, HalfOpen] {
        for open_until in [0, t, NEVER] {
            for in_flight in [0, 1] {
                for now in [0, t - 1, t, t + 1, 10 * t, u64::MAX - 1] {
                    let m = Machine {
                        state,
                        open_until: if state == Open { open_until } else { 0 },
                        in_flight: if state == HalfOpen { in_flight } else { 0 },
                        probe_at: if state == HalfOpen { t } else { 0 },
                        ..Machine::new()
                    };
                    let seen = state_at(m.state, m.open_until, now);
                    let (ticked, _) = step(m, Input::Tick, now, &cfg, 0.0);
                    assert_eq!(seen, ticked.state, "{m:?} at {now}");
                    if state == Open && seen == HalfOpen {
                        let (_, fx) = step(m, Input::Check, now, &cfg, 0.0);
                        assert_eq!(fx.outcome, Outcome::Admitted, "{m:?} at {now}");
                    }
                }
            }
        }
    }
}
