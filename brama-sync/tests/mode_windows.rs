//! Rate windows and the consecutive count across modes and policy changes: a frozen mode
//! (`Disabled`, `ForcedOpen`) records nothing into the rate window whoever subscribes
//! (SPEC §5: a subscription changes no behaviour; `crate::mode`: reports in a frozen
//! mode decide nothing), and a switch to or from a rate policy starts the streak at 0
//! (SPEC §2 rule 1, docs/state-machine.md: under a rate policy `consecutive_failures`
//! stays 0).

use std::time::Duration;

use brama_sync::{
    Brama, EventType, Filter, Janitor, ManualClock, Mode, Options, State, Subscription, TripPolicy,
    Window,
};

fn brama(clock: &ManualClock, policy: TripPolicy) -> Brama {
    Brama::builder()
        .trip_policy(policy)
        .expiry(Duration::from_secs(30))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}

fn rate_50_of_4() -> TripPolicy {
    TripPolicy::failure_rate(0.5)
        .window(Window::count(4))
        .minimum_calls(4)
}

/// The subscriptions a test runs under: none, one that wants every event of another
/// scope only, one that wants every event, and one that wants exactly the reports.
fn subscriptions(brama: &Brama) -> Vec<(&'static str, Vec<Subscription>)> {
    vec![
        ("none", vec![]),
        (
            "another scope",
            vec![brama.subscribe(Filter::new().scope("elsewhere"))],
        ),
        ("everything", vec![brama.subscribe(Filter::new())]),
        (
            "reports",
            vec![brama
                .subscribe(Filter::new().event_types([EventType::Success, EventType::Failure]))],
        ),
    ]
}

/// One success, four failures in `mode`, back to `Normal`, one success: what the window
/// holds after, the state, and the totals of successes and failures.
fn frozen_round(mode: Mode, subscribed: &str) -> (u64, Option<f64>, State, u64, u64) {
    let clock = ManualClock::new();
    let brama = brama(&clock, rate_50_of_4());
    let _subs = subscriptions(&brama)
        .into_iter()
        .find(|(name, _)| *name == subscribed)
        .expect("a known subscription")
        .1;
    brama.register("db", Options::new()).unwrap();
    brama.success("db").unwrap();
    brama.set_mode("db", Mode::Disabled).unwrap();
    brama.set_mode("db", mode).unwrap();
    let conn = brama.connection("db").unwrap();
    for i in 0..4 {
        // By key and through a handle: both paths, with and without a subscriber.
        if i % 2 == 0 {
            brama.failure("db").unwrap();
        } else {
            conn.failure().unwrap();
        }
    }
    brama.set_mode("db", Mode::Normal).unwrap();
    brama.success("db").unwrap();
    let s = brama.status("db").unwrap();
    (
        s.window_calls,
        s.failure_rate,
        s.state,
        s.total_successes,
        s.total_failures,
    )
}

#[test]
fn frozen_modes_record_nothing_into_the_window_whoever_subscribes() {
    for (mode, counted_failures) in [(Mode::Disabled, 0), (Mode::ForcedOpen, 4)] {
        let quiet = frozen_round(mode, "none");
        assert_eq!(
            (quiet.0, quiet.2),
            (2, State::Closed),
            "{mode}: only the two Normal successes are in the window"
        );
        assert_eq!(
            (quiet.3, quiet.4),
            (2, counted_failures),
            "{mode}: the totals"
        );
        for subscribed in ["another scope", "everything", "reports"] {
            assert_eq!(
                frozen_round(mode, subscribed),
                quiet,
                "{mode}, subscribed to {subscribed}: a subscription changes nothing"
            );
        }
    }
}

#[test]
fn frozen_modes_record_nothing_into_a_time_window_either() {
    for mode in [Mode::Disabled, Mode::ForcedOpen] {
        let clock = ManualClock::new();
        let brama = brama(
            &clock,
            TripPolicy::failure_rate(0.5)
                .window(Window::time(Duration::from_secs(10)))
                .minimum_calls(4),
        );
        let _sub = brama.subscribe(Filter::new());
        brama.register("db", Options::new()).unwrap();
        brama.success("db").unwrap();
        brama.set_mode("db", mode).unwrap();
        for _ in 0..4 {
            brama.failure("db").unwrap();
        }
        brama.set_mode("db", Mode::Normal).unwrap();
        brama.success("db").unwrap();
        let s = brama.status("db").unwrap();
        assert_eq!((s.window_calls, s.state), (2, State::Closed), "{mode}");
    }
}

#[test]
fn a_rate_policy_shows_no_streak_and_a_switch_back_starts_at_zero() {
    let clock = ManualClock::new();
    let brama = brama(&clock, TripPolicy::consecutive(5));
    brama.register("db", Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure("db").unwrap();
    }
    assert_eq!(brama.status("db").unwrap().consecutive_failures, 4);
    brama
        .configure(
            "db",
            Options::new().trip_policy(
                TripPolicy::failure_rate(0.5)
                    .window(Window::count(100))
                    .minimum_calls(100),
            ),
        )
        .unwrap();
    assert_eq!(
        brama.status("db").unwrap().consecutive_failures,
        0,
        "no streak under a rate policy"
    );
    for _ in 0..1000 {
        brama.success("db").unwrap();
    }
    assert_eq!(brama.status("db").unwrap().consecutive_failures, 0);
    brama
        .configure("db", Options::new().failure_threshold(5))
        .unwrap();
    assert_eq!(brama.status("db").unwrap().consecutive_failures, 0);
    brama.failure("db").unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.consecutive_failures),
        (State::Closed, 1),
        "one failure after 1000 successes is a streak of 1"
    );
}

#[test]
fn a_switch_to_a_rate_policy_and_straight_back_drops_the_streak() {
    let clock = ManualClock::new();
    let brama = brama(&clock, TripPolicy::consecutive(5));
    brama.register("db", Options::new()).unwrap();
    for _ in 0..4 {
        brama.failure("db").unwrap();
    }
    // Through the defaults this time: the connection follows them.
    brama
        .configure_defaults(Options::new().trip_policy(rate_50_of_4()))
        .unwrap();
    assert_eq!(brama.status("db").unwrap().consecutive_failures, 0);
    brama
        .configure_defaults(Options::new().trip_policy(TripPolicy::consecutive(5)))
        .unwrap();
    brama.failure("db").unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 1));
}

#[test]
fn an_open_circuit_moved_to_a_rate_policy_shows_no_streak() {
    let clock = ManualClock::new();
    let brama = brama(&clock, TripPolicy::consecutive(3));
    brama.register("db", Options::new()).unwrap();
    for _ in 0..3 {
        brama.failure("db").unwrap();
    }
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.consecutive_failures), (State::Open, 3));
    brama
        .configure("db", Options::new().trip_policy(rate_50_of_4()))
        .unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.consecutive_failures),
        (State::Open, 0),
        "no streak under a rate policy, open or not"
    );
}
