//! SPEC §2 rule 4 (amended): half-open probes. At most `half_open_probes` callers are
//! admitted; a probe's success closes, its failure re-opens; a probe that never reports
//! is given up after the probe timeout, its slot freed with no state change and no
//! event; a plain report is a probe's result only while a probe slot is taken (and
//! frees one), otherwise it is counted and decides nothing; a permit from an earlier
//! cycle decides nothing.

mod common;

use brama_core::{Cause, Config, Error, State};
use common::*;

use Cause::*;
use State::*;

fn probes(n: u32) -> Config {
    Config {
        half_open_probes: n,
        probe_timeout: Some(secs(10)),
        ..fixed(1, secs(60))
    }
}

/// A harness whose circuit is `HalfOpen` with no probe admitted yet, changes drained.
fn half_open(cfg: Config) -> Harness {
    let h = Harness::new(cfg);
    h.failure();
    h.expire();
    h.changes();
    h
}

fn busy() -> Error {
    Error::Rejected {
        identifier: "db".into(),
        scope: None,
        state: HalfOpen,
        retry_after: None,
    }
}

#[test]
fn one_probe_by_default() {
    let h = half_open(fixed(1, secs(60)));
    assert!(h.available(), "the probe");
    assert!(!h.available(), "a second caller");
    assert_eq!(h.rejected(), busy());
    let s = h.status();
    assert_eq!((s.state, s.total_rejected), (HalfOpen, 2));
    assert!(h.changes().is_empty(), "admissions are not state changes");
}

#[test]
fn two_probes_third_rejected_and_a_released_slot_readmits() {
    let h = half_open(probes(2));
    let (cell, a) = h.reg.acquire(KEY).expect("first probe");
    let (_, b) = h.reg.acquire(KEY).expect("second probe");
    assert!(a.probe && b.probe);
    assert_eq!(h.rejected(), busy(), "third caller");
    assert!(!h.available(), "third caller, plain check");
    cell.release(a);
    let (_, c) = h.reg.acquire(KEY).expect("the freed slot");
    assert!(c.probe);
    assert_eq!(h.rejected(), busy(), "full again");
    cell.release(b);
    cell.release(c);
    assert!(h.available());
    assert!(h.available());
    assert!(!h.available());
    assert_eq!(h.state(), HalfOpen);
    assert!(h.changes().is_empty());
}

#[test]
fn probe_success_closes() {
    let h = half_open(probes(2));
    let (cell, a) = h.reg.acquire(KEY).unwrap();
    let (_, b) = h.reg.acquire(KEY).unwrap();
    cell.success(h.cx(), Some(a)).unwrap();
    let s = h.status();
    assert_eq!((s.state, s.consecutive_failures), (Closed, 0));
    assert_eq!(h.changes(), vec![(HalfOpen, Closed, ProbeSuccess)]);
    // The other probe's permit is from the finished cycle: it decides nothing.
    cell.failure(h.cx(), Some(b), None).unwrap();
    let s = h.status();
    assert_eq!((s.state, s.consecutive_failures), (Closed, 0));
    assert_eq!(s.total_failures, 2, "counted in the totals");
    assert!(h.changes().is_empty());
}

#[test]
fn probe_failure_reopens_from_the_failure() {
    let h = half_open(probes(1));
    let (cell, a) = h.reg.acquire(KEY).unwrap();
    h.advance(secs(3));
    cell.failure(h.cx(), Some(a), Some("still down")).unwrap();
    let s = h.status();
    assert_eq!((s.state, s.trips), (Open, 2));
    assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)]);
    assert_eq!(
        h.rejected(),
        Error::Rejected {
            identifier: "db".into(),
            scope: None,
            state: Open,
            retry_after: Some(secs(60))
        }
    );
    h.advance(secs(60) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert!(h.available());
}

#[test]
fn plain_success_in_half_open_is_a_probe_result_only_while_a_probe_is_out() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.expire();
        h.changes();
        let before = h.status();
        // No probe was admitted: a plain report (from a call that started before the
        // circuit opened) is counted and decides nothing.
        h.success();
        let s = h.status();
        assert_eq!(s.state, HalfOpen, "{path}: no probe out, nothing decided");
        assert_eq!(s.total_successes, before.total_successes + 1, "{path}");
        assert_eq!(
            s.consecutive_failures, 1,
            "{path}: the tripping count is kept"
        );
        assert_eq!(
            s.last_state_change_at, before.last_state_change_at,
            "{path}"
        );
        assert!(h.changes().is_empty(), "{path}: no event");
        // Nor did it take or free a slot: exactly one probe is admitted.
        assert!(h.available(), "{path}: the probe");
        assert!(!h.available(), "{path}: the only slot is taken");
        // With the probe out, a plain success is its result: it closes.
        h.success();
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 0), "{path}");
        assert_eq!(s.total_successes, before.total_successes + 2, "{path}");
        assert_eq!(
            h.changes(),
            vec![(HalfOpen, Closed, ProbeSuccess)],
            "{path}"
        );
    }
}

#[test]
fn plain_failure_in_half_open_with_no_probe_out_decides_nothing() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.expire();
        h.changes();
        let before = h.status();
        h.failure();
        h.failure();
        let s = h.status();
        assert_eq!(s.state, HalfOpen, "{path}: no probe out, nothing decided");
        assert_eq!(s.total_failures, before.total_failures + 2, "{path}");
        assert_eq!(s.trips, before.trips, "{path}: not a trip");
        assert_eq!(
            s.consecutive_failures, 1,
            "{path}: the tripping count is kept"
        );
        assert!(h.changes().is_empty(), "{path}: no event");
        // The probe slot is untouched: one probe admitted, and its failure re-opens.
        assert!(h.available(), "{path}: the probe");
        assert!(!h.available(), "{path}: the only slot is taken");
        h.failure();
        let s = h.status();
        assert_eq!((s.state, s.trips), (Open, before.trips + 1), "{path}");
        assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)], "{path}");
    }
}

#[test]
fn plain_failure_in_half_open_is_the_probe_result() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.failure();
        h.expire();
        assert!(h.available(), "{path}: a probe is out");
        h.changes();
        h.failure();
        assert_eq!(h.state(), Open, "{path}");
        assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)], "{path}");
    }
}

#[test]
fn plain_success_with_busy_probes_still_closes() {
    let h = half_open(probes(1));
    assert!(h.available());
    assert!(!h.available());
    h.success();
    assert_eq!(h.state(), Closed);
}

// ----- permits from an earlier cycle decide nothing --------------------------------------

#[test]
fn permit_taken_while_closed_decides_nothing_in_half_open() {
    for (path, h) in Harness::both_paths(fixed(2, secs(60))) {
        h.success();
        let (cell, old_ok) = h.reg.acquire(KEY).unwrap();
        let (_, old_bad) = h.reg.acquire(KEY).unwrap();
        assert!(!old_ok.probe);
        h.failures(2);
        h.expire();
        h.changes();
        cell.success(h.cx(), Some(old_ok)).unwrap();
        assert_eq!(h.state(), HalfOpen, "{path}: an old success does not close");
        cell.failure(h.cx(), Some(old_bad), None).unwrap();
        assert_eq!(
            h.state(),
            HalfOpen,
            "{path}: an old failure does not re-open"
        );
        let s = h.status();
        assert_eq!((s.total_successes, s.total_failures), (2, 3), "{path}");
        assert!(h.changes().is_empty(), "{path}");
        // The half-open cycle's own probe still decides.
        let (_, probe) = h.reg.acquire(KEY).unwrap();
        cell.success(h.cx(), Some(probe)).unwrap();
        assert_eq!(h.state(), Closed, "{path}");
    }
}

#[test]
fn permit_taken_while_closed_decides_nothing_while_open() {
    for (path, h) in Harness::both_paths(fixed(1, secs(60))) {
        h.success();
        let (cell, old) = h.reg.acquire(KEY).unwrap();
        h.failure();
        h.changes();
        cell.success(h.cx(), Some(old)).unwrap();
        assert_eq!(h.state(), Open, "{path}");
        assert!(h.changes().is_empty(), "{path}");
    }
}

#[test]
fn permit_from_an_earlier_closed_cycle_does_not_count_toward_the_threshold() {
    for (path, h) in Harness::both_paths(fixed(2, secs(60))) {
        h.success();
        let (cell, old) = h.reg.acquire(KEY).unwrap();
        h.failures(2);
        h.expire();
        assert!(h.available(), "{path}: the probe");
        h.success(); // the probe's result, HalfOpen -> Closed: a new cycle
        assert_eq!(h.state(), Closed, "{path}");
        h.failure();
        assert_eq!(h.consecutive(), 1, "{path}");
        cell.failure(h.cx(), Some(old), None).unwrap();
        let s = h.status();
        assert_eq!((s.state, s.consecutive_failures), (Closed, 1), "{path}");
        assert_eq!(s.total_failures, 4, "{path}: counted in the totals");
    }
}

#[test]
fn permit_of_the_current_closed_cycle_counts() {
    for (path, h) in Harness::both_paths(fixed(2, secs(60))) {
        let (cell, a) = h.reg.acquire(KEY).unwrap();
        let (_, b) = h.reg.acquire(KEY).unwrap();
        cell.failure(h.cx(), Some(a), None).unwrap();
        assert_eq!((h.state(), h.consecutive()), (Closed, 1), "{path}");
        // Unknown -> Closed starts no new cycle: b (taken in Unknown) still counts.
        cell.failure(h.cx(), Some(b), None).unwrap();
        assert_eq!(h.state(), Open, "{path}");
    }
}

#[test]
fn probe_permit_from_an_earlier_half_open_cycle_decides_nothing() {
    let h = half_open(probes(1));
    let (cell, first) = h.reg.acquire(KEY).unwrap();
    h.failure(); // HalfOpen -> Open: the first probe's cycle is over
    h.expire();
    h.changes();
    cell.success(h.cx(), Some(first)).unwrap();
    assert_eq!(h.state(), HalfOpen);
    assert!(h.changes().is_empty());
    // Its release does not free the new cycle's slot either.
    let (_, second) = h.reg.acquire(KEY).unwrap();
    cell.release(first);
    assert_eq!(h.rejected(), busy());
    cell.failure(h.cx(), Some(second), None).unwrap();
    assert_eq!(h.state(), Open);
}

#[test]
fn permit_issued_before_a_manual_close_decides_nothing() {
    let h = half_open(probes(1));
    let (cell, probe) = h.reg.acquire(KEY).unwrap();
    h.close();
    h.changes();
    cell.failure(h.cx(), Some(probe), None).unwrap();
    assert_eq!((h.state(), h.consecutive()), (Closed, 0));
    assert!(h.changes().is_empty());
}

// ----- the probe timeout -------------------------------------------------------------------

#[test]
fn probe_timeout_frees_the_slot_exactly_at_the_timeout() {
    let h = half_open(probes(1));
    h.advance(secs(2));
    assert!(h.available(), "the probe, admitted at t");
    h.advance(secs(10) - NS);
    assert!(!h.available(), "1 ns before the timeout");
    assert!(h.changes().is_empty());
    h.advance(NS);
    assert!(
        h.available(),
        "exactly at the timeout: freed and re-admitted"
    );
    assert!(h.changes().is_empty(), "a freed slot is not a state change");
    assert_eq!(h.state(), HalfOpen);
    assert!(!h.available(), "the new probe holds the slot");
    // The new probe's own timeout runs from its admission.
    h.advance(secs(10) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert!(h.available());
    assert!(h.changes().is_empty());
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn probe_timeout_by_sweep() {
    let h = half_open(probes(1));
    assert!(h.available());
    h.advance(secs(10) - NS);
    assert_eq!(h.reg.sweep().transitioned, 0);
    assert!(h.changes().is_empty());
    h.advance(NS);
    assert_eq!(h.reg.sweep().transitioned, 1, "the sweep freed the slot");
    assert!(h.changes().is_empty(), "a timeout is not a state change");
    assert_eq!(h.reg.sweep().transitioned, 0, "nothing left to free");
    assert!(h.available(), "the slot is free");
    assert!(h.changes().is_empty(), "and no second timeout event");
}

#[test]
fn probe_timeout_by_sweep_is_not_a_state_change() {
    let h = half_open(probes(1));
    let before = h.status();
    let (cell, late) = h.reg.acquire(KEY).unwrap();
    h.advance(secs(10));
    h.reg.sweep();
    let s = h.status();
    assert_eq!(s.state, HalfOpen);
    assert_eq!(s.trips, before.trips, "not a trip");
    assert_eq!(
        s.last_state_change_at, before.last_state_change_at,
        "the timeout is not a state change"
    );
    assert_eq!(
        s.since_state_change,
        before.since_state_change + secs(10),
        "still counted from entering HalfOpen"
    );
    assert!(h.changes().is_empty(), "no StateChanged event");
    // The sweep freed the slot: a new probe is admitted (and holds the only slot).
    let (_, fresh) = h.reg.acquire(KEY).expect("the slot freed by the sweep");
    assert!(fresh.probe);
    assert_eq!(h.rejected(), busy());
    // The timed-out permit is stale: its late report decides nothing.
    cell.success(h.cx(), Some(late)).unwrap();
    assert_eq!(h.state(), HalfOpen, "the late success does not close");
    assert_eq!(h.rejected(), busy(), "and frees nothing");
    assert!(h.changes().is_empty());
    cell.failure(h.cx(), Some(fresh), None).unwrap();
    assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)]);
}

#[test]
fn probe_timeout_runs_from_the_latest_probe_and_frees_every_slot() {
    let h = half_open(probes(2));
    assert!(h.available(), "probe A at t");
    h.advance(secs(5));
    assert!(h.available(), "probe B at t + 5 s");
    h.advance(secs(5));
    assert!(!h.available(), "A is 10 s old, B only 5 s: nothing freed");
    h.reg.sweep();
    assert!(h.changes().is_empty());
    h.advance(secs(5));
    assert!(h.available(), "B timed out: both slots freed, one taken");
    assert!(h.available(), "the second freed slot");
    assert!(!h.available());
    assert!(
        h.changes().is_empty(),
        "freeing slots is not a state change"
    );
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn probe_timeout_defaults_to_expiry() {
    let h = half_open(fixed(1, secs(30)));
    assert!(h.available());
    h.advance(secs(30) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert!(h.available(), "freed at the expiry (30 s) and re-admitted");
    assert!(!h.available(), "the new probe holds the slot");
    assert!(h.changes().is_empty());
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn no_probe_timeout_without_probes_in_flight() {
    let h = half_open(probes(1));
    h.advance(secs(3600));
    assert_eq!(h.reg.sweep().transitioned, 0);
    assert!(h.available());
    assert!(h.changes().is_empty());
}

#[test]
fn released_probe_does_not_time_out() {
    let h = half_open(probes(1));
    let (cell, t) = h.reg.acquire(KEY).unwrap();
    cell.release(t);
    h.advance(secs(100));
    assert_eq!(h.reg.sweep().transitioned, 0);
    assert!(h.changes().is_empty());
}

#[test]
fn report_of_a_timed_out_probe_decides_nothing() {
    let h = half_open(probes(1));
    let (cell, late) = h.reg.acquire(KEY).unwrap();
    h.advance(secs(10));
    let (_, fresh) = h.reg.acquire(KEY).expect("slot freed by the timeout");
    h.changes();
    cell.failure(h.cx(), Some(late), None).unwrap();
    assert_eq!(h.state(), HalfOpen, "the late probe's cycle is over");
    assert_eq!(h.rejected(), busy(), "and it freed nothing");
    cell.success(h.cx(), Some(fresh)).unwrap();
    assert_eq!(h.state(), Closed);
    assert_eq!(h.changes(), vec![(HalfOpen, Closed, ProbeSuccess)]);
}

#[test]
fn plain_report_after_probe_timeout_decides_nothing_until_a_probe_is_out() {
    for (path, h) in Harness::both_paths(probes(1)) {
        h.failure();
        h.expire();
        assert!(h.available(), "{path}: the probe");
        h.advance(secs(10));
        h.changes();
        let before = h.status();
        // The report applies the timeout first: the slot is freed, so no probe is out
        // and the plain failure is only counted.
        h.failure();
        let s = h.status();
        assert_eq!(s.state, HalfOpen, "{path}");
        assert_eq!(s.total_failures, before.total_failures + 1, "{path}");
        assert_eq!(s.trips, before.trips, "{path}");
        assert!(h.changes().is_empty(), "{path}: no event");
        // The timeout freed the slot: a new probe is admitted, and a plain report is
        // its result.
        assert!(h.available(), "{path}: the freed slot");
        assert!(!h.available(), "{path}: taken again");
        h.failure();
        assert_eq!(h.state(), Open, "{path}");
        assert_eq!(h.changes(), vec![(HalfOpen, Open, ProbeFailure)], "{path}");
    }
}
