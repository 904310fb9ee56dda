//! SPEC §2 rule 2 and §7 at the top of the range: the state word counts consecutive
//! failures up to `COUNT_MAX` (2^30 − 1). Every threshold a user may give is accepted;
//! the count never carries past that into the word's policy flags (before this, the
//! lock-free failure path did, and the circuit forgot its failures), a threshold of
//! 2^30 still trips, and a larger one leaves the count at its largest, closed.

use brama_sync::{Brama, Janitor, ManualClock, Options, State};

const COUNT_MAX: u32 = (1 << 30) - 1;

/// A registry where "db" has `threshold` and `count` consecutive failures (set by a
/// restore: counting there would take a billion reports).
fn at(threshold: u32, count: u32) -> Brama {
    let clock = ManualClock::new();
    let brama = || {
        Brama::builder()
            .janitor(Janitor::Manual)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let source = brama();
    source
        .register("db", Options::new().failure_threshold(threshold))
        .unwrap();
    source.failure("db").unwrap();
    let mut snapshot = source.snapshot();
    snapshot.connections[0].consecutive_failures = count;
    let restored = brama();
    assert_eq!(restored.restore(&snapshot), Ok(1));
    restored
}

fn state_and_count(brama: &Brama) -> (State, u32) {
    let s = brama.status("db").unwrap();
    (s.state, s.consecutive_failures)
}

#[test]
fn the_count_stops_at_its_largest_and_never_wraps() {
    for threshold in [COUNT_MAX + 2, u32::MAX] {
        let brama = at(threshold, COUNT_MAX - 2);
        let conn = brama.connection("db").unwrap();
        conn.failure().unwrap();
        assert_eq!(
            state_and_count(&brama),
            (State::Closed, COUNT_MAX - 1),
            "{threshold}"
        );
        conn.failure().unwrap();
        assert_eq!(
            state_and_count(&brama),
            (State::Closed, COUNT_MAX),
            "{threshold}"
        );
        // By handle and by key, the count stays at its largest: not 0, not wrapped.
        conn.failure().unwrap();
        brama.failure("db").unwrap();
        assert_eq!(
            state_and_count(&brama),
            (State::Closed, COUNT_MAX),
            "{threshold}"
        );
        // A success still clears it.
        conn.success().unwrap();
        assert_eq!(state_and_count(&brama), (State::Closed, 0), "{threshold}");
    }
}

#[test]
fn the_thresholds_at_the_top_of_the_count_trip() {
    for threshold in [COUNT_MAX, COUNT_MAX + 1] {
        let brama = at(threshold, threshold - 2);
        let conn = brama.connection("db").unwrap();
        conn.failure().unwrap();
        assert_eq!(
            state_and_count(&brama),
            (State::Closed, threshold - 1),
            "{threshold}"
        );
        conn.failure().unwrap();
        assert_eq!(
            brama.status("db").unwrap().state,
            State::Open,
            "{threshold}"
        );
    }
}
