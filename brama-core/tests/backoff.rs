//! SPEC §2 rule 6: the open duration. Fixed (always `expiry`) or progressive
//! (`min(max, initial * factor ^ (consecutive_trips - 1))`, reset by a close), with
//! optional jitter in `[d(1 - j), d(1 + j)]`.

mod common;

use std::time::Duration;

use brama_core::{Cause, Config, ExpiryStrategy, OpenOptions, State};
use common::*;

use Cause::*;
use State::*;

fn progressive(initial: Duration, max: Duration, factor: f64) -> Config {
    Config {
        strategy: ExpiryStrategy::Progressive {
            initial,
            max,
            factor,
        },
        // Keep probe timeouts out of the way.
        probe_timeout: Some(secs(3600)),
        ..fixed(1, secs(60))
    }
}

/// Checks that the circuit, open now, stays open for exactly `d`: still `Open` 1 ns
/// before, `HalfOpen` (with a probe admitted) at `d`.
fn assert_open_for(h: &Harness, d: Duration, what: &str) {
    let s = h.status();
    assert_eq!(s.state, Open, "{what}");
    assert_eq!(s.open_duration, d, "{what}: Status.open_duration");
    assert_eq!(s.since_state_change, Duration::ZERO, "{what}: just opened");
    h.advance(d - NS);
    assert!(!h.available(), "{what}: 1 ns before {d:?}");
    h.advance(NS);
    assert!(h.available(), "{what}: at {d:?}");
    assert_eq!(h.state(), HalfOpen, "{what}");
}

#[test]
fn fixed_open_duration_is_expiry_on_every_trip() {
    let h = Harness::new(fixed(1, secs(60)));
    h.failure();
    for trip in 1..=5 {
        assert_open_for(&h, secs(60), &format!("trip {trip}"));
        assert_eq!(h.status().open_duration, secs(60), "next is the same");
        h.failure(); // the probe fails
    }
    assert_eq!(h.status().trips, 6);
}

#[test]
fn progressive_doubles_and_caps_at_max() {
    let h = Harness::new(progressive(secs(1), secs(5), 2.0));
    h.failure();
    for (trip, d) in [1, 2, 4, 5, 5, 5].into_iter().enumerate() {
        assert_open_for(&h, secs(d), &format!("trip {}", trip + 1));
        let next = [2, 4, 5, 5, 5, 5][trip];
        assert_eq!(
            h.status().open_duration,
            secs(next),
            "HalfOpen shows the next step's duration"
        );
        h.failure();
    }
    let changes = h.changes();
    assert_eq!(
        changes.iter().filter(|c| c.2 == ProbeFailure).count(),
        6,
        "{changes:?}"
    );
}

#[test]
fn progressive_with_a_fractional_factor() {
    let h = Harness::new(progressive(secs(2), secs(100), 1.5));
    h.failure();
    for d in [2_000, 3_000, 4_500, 6_750] {
        assert_open_for(&h, millis(d), &format!("{d} ms"));
        h.failure();
    }
}

#[test]
fn progressive_huge_step_stays_at_max() {
    let h = Harness::new(progressive(NS, secs(1), 2.0));
    h.failure();
    for _ in 0..200 {
        let d = h.status().open_duration;
        h.advance(d);
        assert!(h.available());
        h.failure();
    }
    assert_open_for(&h, secs(1), "after 200 trips");
}

#[test]
fn probe_success_resets_the_step() {
    let h = Harness::new(progressive(secs(1), secs(60), 2.0));
    h.failure();
    assert_open_for(&h, secs(1), "trip 1");
    h.failure();
    assert_open_for(&h, secs(2), "trip 2");
    h.failure();
    assert_open_for(&h, secs(4), "trip 3");
    h.success(); // the probe succeeds: Closed
    assert_eq!(h.state(), Closed);
    assert_eq!(
        h.status().open_duration,
        secs(1),
        "Closed shows the first step"
    );
    h.failure();
    assert_open_for(&h, secs(1), "first trip after the close");
    h.failure();
    assert_open_for(&h, secs(2), "second trip after the close");
}

#[test]
fn manual_close_resets_the_step() {
    let h = Harness::new(progressive(secs(1), secs(60), 2.0));
    h.failure();
    assert_open_for(&h, secs(1), "trip 1");
    h.failure();
    assert_eq!(h.status().open_duration, secs(2));
    h.close();
    h.failure();
    assert_open_for(&h, secs(1), "first trip after close_circuit");
}

#[test]
fn manual_close_from_half_open_resets_the_step() {
    let h = Harness::new(progressive(secs(1), secs(60), 2.0));
    h.failure();
    assert_open_for(&h, secs(1), "trip 1");
    h.failure();
    assert_open_for(&h, secs(2), "trip 2");
    h.close();
    assert_eq!(h.status().open_duration, secs(1));
    h.failure();
    assert_open_for(&h, secs(1), "after the close");
}

#[test]
fn step_survives_reports_while_open_and_probe_timeouts() {
    let cfg = Config {
        probe_timeout: Some(secs(1)),
        ..progressive(secs(10), secs(1000), 2.0)
    };
    let h = Harness::new(cfg);
    h.failure();
    h.failure(); // a report while open
    h.success();
    assert_open_for(&h, secs(10), "trip 1");
    h.advance(secs(1));
    assert!(h.available(), "the probe timed out; a new one");
    h.failure();
    assert_open_for(&h, secs(20), "trip 2");
}

#[test]
fn jitter_keeps_open_duration_within_bounds() {
    const TRIPS: usize = 500;
    let j = 0.2;
    let d = secs(10);
    let cfg = Config {
        jitter: j,
        ..fixed(1, d)
    };
    let h = Harness::new(cfg);
    let (lo, hi) = (d.mul_f64(1.0 - j), d.mul_f64(1.0 + j));
    let mut seen = Vec::with_capacity(TRIPS);
    h.failure();
    for trip in 0..TRIPS {
        let got = h.status().open_duration;
        assert!(
            got >= lo - NS && got <= hi + NS,
            "trip {trip}: {got:?} not in [{lo:?}, {hi:?}]"
        );
        // The deadline is the jittered duration, exactly.
        assert_open_for(&h, got, &format!("trip {trip}"));
        seen.push(got);
        h.failure();
    }
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() > TRIPS / 2,
        "jitter spreads: {} distinct",
        seen.len()
    );
    let (min, max) = (seen[0], seen[seen.len() - 1]);
    assert!(
        min < d.mul_f64(1.0 - j / 2.0),
        "reaches the low side: {min:?}"
    );
    assert!(
        max > d.mul_f64(1.0 + j / 2.0),
        "reaches the high side: {max:?}"
    );
}

#[test]
fn jitter_applies_to_each_progressive_step() {
    let j = 0.5;
    let cfg = Config {
        jitter: j,
        ..progressive(secs(1), secs(16), 2.0)
    };
    let h = Harness::new(cfg);
    for round in 0..50 {
        h.failure();
        for base in [1u64, 2, 4, 8, 16, 16] {
            let base = secs(base);
            let got = h.status().open_duration;
            let (lo, hi) = (base.mul_f64(1.0 - j), base.mul_f64(1.0 + j));
            assert!(
                got >= lo - NS && got <= hi + NS,
                "round {round}: {got:?} not in [{lo:?}, {hi:?}]"
            );
            h.advance(got);
            assert!(h.available());
            h.failure();
        }
        h.advance(h.status().open_duration);
        assert!(h.available(), "round {round}: the probe");
        h.success(); // the probe's success closes: the next round starts from the first step
        assert_eq!(h.state(), Closed);
    }
}

#[test]
fn jitter_does_not_apply_to_a_given_manual_duration() {
    let cfg = Config {
        jitter: 0.9,
        ..fixed(1, secs(60))
    };
    let h = Harness::new(cfg);
    for _ in 0..20 {
        h.open(OpenOptions::new().duration(secs(30)));
        assert_open_for(&h, secs(30), "manual 30 s");
        h.close();
    }
}

#[test]
fn zero_jitter_is_exact() {
    let h = Harness::new(fixed(1, Duration::from_nanos(123_456_789)));
    for _ in 0..20 {
        h.failure();
        assert_open_for(&h, Duration::from_nanos(123_456_789), "no jitter");
        h.success();
    }
}

#[test]
fn longest_open_duration_with_jitter_does_not_overflow() {
    let cfg = Config {
        jitter: 0.999,
        ..fixed(1, brama_core::engine::config::MAX_DURATION)
    };
    let h = Harness::new(cfg);
    h.advance(secs(1_000_000));
    for _ in 0..20 {
        h.failure();
        let s = h.status();
        assert_eq!(s.state, Open);
        assert!(s.open_duration <= brama_core::engine::config::MAX_DURATION * 2);
        assert!(!h.available());
        h.close();
    }
}
