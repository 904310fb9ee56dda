//! The Status fields (SPEC §1, §3) and the state a read sees (§10, `state()`).

use brama_core::engine::Registry;
use brama_core::{ClockSource, Config, Key, ManualClock, OpenOptions, Options, Settings, State};

use crate::common::*;

use State::*;

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
