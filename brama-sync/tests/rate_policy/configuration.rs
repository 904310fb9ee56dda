//! Per-connection policies and back, the defaults' policy, invalid policies.

use std::time::Duration;

use brama_sync::{Brama, Error, Janitor, ManualClock, Options, State, TripPolicy, Window};

use crate::support::{brama_with, rate_50_of_10, MS};

#[test]
fn a_connection_can_override_the_registry_policy_and_back() {
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama
        .register(
            "legacy",
            Options::new().trip_policy(TripPolicy::consecutive(2)),
        )
        .unwrap();
    brama.register("new", Options::new()).unwrap();
    brama.failure("legacy").unwrap();
    brama.success("legacy").unwrap();
    brama.failure("legacy").unwrap();
    assert_eq!(brama.status("legacy").unwrap().consecutive_failures, 1);
    assert_eq!(brama.status("legacy").unwrap().failure_rate, None);
    brama.failure("legacy").unwrap();
    assert_eq!(brama.state("legacy").unwrap(), State::Open, "two in a row");
    // Live: the rate connection becomes consecutive(1).
    brama
        .configure("new", Options::new().failure_threshold(1))
        .unwrap();
    brama.failure("new").unwrap();
    assert_eq!(brama.state("new").unwrap(), State::Open);
}

#[test]
fn configure_defaults_moves_following_connections_to_the_new_policy() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(100)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    for id in ["a", "b"] {
        brama.register(id, Options::new()).unwrap();
        brama.success(id).unwrap();
    }
    brama
        .configure_defaults(
            Options::new().trip_policy(
                TripPolicy::failure_rate(1.0)
                    .window(Window::count(2))
                    .minimum_calls(2),
            ),
        )
        .unwrap();
    brama.failure("a").unwrap();
    assert_eq!(brama.status("a").unwrap().window_calls, 1);
    brama.failure("a").unwrap();
    assert_eq!(brama.state("a").unwrap(), State::Open);
    assert_eq!(brama.state("b").unwrap(), State::Closed);
    // And back: "b" counts a streak again.
    brama
        .configure_defaults(Options::new().failure_threshold(1))
        .unwrap();
    brama.failure("b").unwrap();
    assert_eq!(brama.state("b").unwrap(), State::Open);
}

#[test]
fn bad_policies_are_rejected_naming_the_field_and_change_nothing() {
    let cases: Vec<(TripPolicy, &str)> = vec![
        (TripPolicy::failure_rate(0.0), "trip_policy.failure_rate"),
        (TripPolicy::failure_rate(1.01), "trip_policy.failure_rate"),
        (
            TripPolicy::failure_rate(f64::NAN),
            "trip_policy.failure_rate",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::count(0)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::count(brama_sync::MAX_WINDOW_CALLS + 1)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).window(Window::time(Duration::ZERO)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5)
                .window(Window::time(brama_sync::MAX_WINDOW_DURATION + MS)),
            "trip_policy.window",
        ),
        (
            TripPolicy::failure_rate(0.5).minimum_calls(0),
            "trip_policy.minimum_calls",
        ),
        (
            TripPolicy::failure_rate(0.5).slow_calls(Duration::ZERO, 0.5),
            "trip_policy.slow_call_duration",
        ),
        (
            TripPolicy::slow_call_rate(MS, 2.0),
            "trip_policy.slow_call_rate",
        ),
        // consecutive(n) is failure_threshold(n): the error names that setting.
        (TripPolicy::consecutive(0), "failure_threshold"),
        (TripPolicy::consecutive(3).minimum_calls(2), "trip_policy"),
    ];
    let clock = ManualClock::new();
    let brama = brama_with(&clock, rate_50_of_10(), 1);
    brama.register("x", Options::new()).unwrap();
    for (policy, field) in cases {
        let builder = Brama::builder().trip_policy(policy).build();
        match builder {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field, "{policy:?}"),
            other => panic!("{policy:?}: {other:?}"),
        }
        let err = brama
            .configure("x", Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { field: f, .. } if f == field),
            "{err}"
        );
        let err = brama
            .register("y", Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        let err = brama
            .configure_defaults(Options::new().trip_policy(policy))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    }
    assert!(brama.status("y").is_err(), "nothing registered");
    // Nothing changed: "x" still trips at 50 % of at least 4.
    for _ in 0..4 {
        brama.failure("x").unwrap();
    }
    assert_eq!(brama.state("x").unwrap(), State::Open);
}
