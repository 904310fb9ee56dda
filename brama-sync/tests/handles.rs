//! SPEC §3: `Connection` handles and `Permit`s, especially once their connection is
//! gone, and permits from an earlier circuit cycle (SPEC §2 rule 4).

use std::time::Duration;

use brama_sync::{Brama, Error, EventType, Filter, ManualClock, OpenOptions, Options, State};

const HOUR: Duration = Duration::from_secs(3600);
const EXPIRY: Duration = Duration::from_secs(10);

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Opens `key` by its threshold (2), then lets the open duration pass.
fn to_half_open(brama: &Brama, clock: &ManualClock, key: &str) {
    brama.failure(key).unwrap();
    brama.failure(key).unwrap();
    assert_eq!(brama.status(key).unwrap().state, State::Open);
    clock.advance(EXPIRY);
}

fn totals(brama: &Brama, key: &str) -> (u64, u64) {
    let s = brama.status(key).unwrap();
    (s.total_successes, s.total_failures)
}

#[test]
fn a_handle_after_unregister_reports_not_found_and_never_resurrects() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    let clone = conn.clone();
    conn.success().unwrap();
    let removed = brama.unregister("db").unwrap();
    assert_eq!(removed.total_successes, 1);

    for handle in [&conn, &clone] {
        assert!(!handle.available());
        assert!(matches!(handle.success(), Err(Error::NotFound { .. })));
        assert!(matches!(handle.failure(), Err(Error::NotFound { .. })));
        assert!(matches!(
            handle.failure_with("late"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            handle.status().unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            handle.acquire().unwrap_err(),
            Error::NotFound { .. }
        ));
        let out: Result<(), _> = handle.call(|| Ok::<_, ()>(()));
        assert!(matches!(
            out,
            Err(brama_sync::CallError::Rejected(Error::NotFound { .. }))
        ));
    }
    // Nothing came back.
    assert_eq!(brama.len(), 0);
    assert!(matches!(
        brama.status("db").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(!brama.available("db"));
    drop(clone);
    drop(conn);
    assert_eq!(brama.len(), 0);
}

#[test]
fn a_handle_after_unregister_does_not_auto_register() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .auto_register(true)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Registered));
    let conn = brama.connection("db").unwrap(); // auto-registered
    assert_eq!(sub.try_iter().count(), 1);
    brama.unregister("db").unwrap();
    assert!(!conn.available());
    assert!(matches!(conn.failure(), Err(Error::NotFound { .. })));
    assert_eq!(brama.len(), 0);
    assert_eq!(sub.try_iter().count(), 0, "the handle registered it again");
}

#[test]
fn re_registering_makes_a_new_connection_the_old_handle_does_not_see() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let old = brama.connection("db").unwrap();
    old.failure().unwrap();
    brama.unregister("db").unwrap();

    brama
        .register("db", Options::new().metadata("generation", "2"))
        .unwrap();
    let new = brama.connection("db").unwrap();
    assert!(new.available());
    assert!(!old.available());
    assert!(matches!(old.failure(), Err(Error::NotFound { .. })));
    assert!(matches!(old.failure(), Err(Error::NotFound { .. })));
    assert!(matches!(old.status().unwrap_err(), Error::NotFound { .. }));
    // The old handle's reports reached neither the new connection nor its circuit.
    let s = brama.status("db").unwrap();
    assert_eq!((s.total_failures, s.state), (0, State::Unknown));
    assert_eq!(s.metadata["generation"], "2");
    new.success().unwrap();
    assert_eq!(new.status().unwrap().total_successes, 1);
    // Unregistering again affects the new one; the old one stays gone.
    brama.unregister("db").unwrap();
    assert!(!new.available());
    assert!(matches!(
        brama.unregister("db").unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[test]
fn a_permit_after_unregister_reports_not_found_and_never_resurrects() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    let borrowed = conn.acquire().unwrap();
    let owned = brama.acquire("db").unwrap();
    let dropped = brama.acquire("db").unwrap();
    let removed = brama.unregister("db").unwrap();
    assert!(matches!(borrowed.success(), Err(Error::NotFound { .. })));
    assert!(matches!(owned.failure(), Err(Error::NotFound { .. })));
    drop(dropped); // no panic, nothing to free
    assert_eq!(brama.len(), 0);
    assert!(matches!(
        brama.status("db").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!((removed.total_successes, removed.total_failures), (0, 0));
}

#[test]
fn a_permit_outliving_unregister_of_a_half_open_probe_frees_nothing_and_panics_not() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    to_half_open(&brama, &clock, "db");
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe());
    brama.unregister("db").unwrap();
    assert!(matches!(probe.ignore(), Err(Error::NotFound { .. })));
    brama.register("db", Options::new()).unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Unknown);
}

#[test]
fn dropping_a_probe_permit_frees_its_slot_and_counts_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    to_half_open(&brama, &clock, "db");
    let before = totals(&brama, "db");

    let probe = conn.acquire().unwrap();
    assert!(probe.is_probe());
    // The only slot is taken.
    assert!(!conn.available());
    assert!(matches!(
        brama.acquire("db").unwrap_err(),
        Error::Rejected {
            ref identifier,
            scope: None,
            state: State::HalfOpen,
            retry_after: None
        } if identifier == "db"
    ));
    drop(probe);
    assert_eq!(totals(&brama, "db"), before, "a dropped permit counted");
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);

    // The slot is free again: the next caller is the probe. `ignore` frees it too.
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe());
    probe.ignore().unwrap();
    assert_eq!(totals(&brama, "db"), before, "an ignored permit counted");
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);

    // And the probe after that decides the cycle.
    let probe = conn.acquire().unwrap();
    probe.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    assert_eq!(totals(&brama, "db"), (before.0 + 1, before.1));
}

#[test]
fn dropping_a_closed_permit_counts_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let permit = brama.acquire("db").unwrap();
    assert!(!permit.is_probe());
    drop(permit);
    brama.acquire("db").unwrap().ignore().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.total_successes, s.total_failures, s.state),
        (0, 0, State::Unknown)
    );
}

#[test]
fn a_permit_from_before_a_trip_decides_nothing_in_half_open() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let stale_failure = brama.acquire("db").unwrap();
    let stale_success = brama.acquire("db").unwrap();
    to_half_open(&brama, &clock, "db");
    let probe = brama.acquire("db").unwrap(); // the current cycle's probe
    assert!(probe.is_probe());

    // Counted in the totals, but neither re-opens nor closes the circuit.
    stale_failure.failure().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    stale_success.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    assert_eq!(totals(&brama, "db"), (1, 3));
    // The probe slot is still held by the current probe, which decides.
    assert!(!brama.available("db"));
    probe.failure().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.trips), (State::Open, 2));
}

#[test]
fn a_permit_from_before_a_reset_or_close_does_not_count_towards_the_threshold() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.success("db").unwrap();
    let before_reset = brama.acquire("db").unwrap();
    let before_close = brama.acquire("db").unwrap();
    brama.reset_circuit("db").unwrap();
    before_reset.failure().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.consecutive_failures, s.total_failures),
        (State::Unknown, 0, 1)
    );

    brama.open_circuit("db", OpenOptions::new()).unwrap();
    brama.close_circuit("db").unwrap();
    before_close.failure().unwrap();
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.consecutive_failures, s.total_failures),
        (State::Closed, 0, 2)
    );
    // A current permit still counts: two failures trip the circuit.
    brama.acquire("db").unwrap().failure().unwrap();
    brama.acquire("db").unwrap().failure().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
}

#[test]
fn a_probe_permit_given_up_after_the_probe_timeout_decides_nothing() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(5))
        .cleanup_interval(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    to_half_open(&brama, &clock, "db");
    let late = brama.acquire("db").unwrap();
    assert!(late.is_probe());
    clock.advance(Duration::from_secs(5));
    // The slot was given up: a new probe is admitted.
    let current = brama.acquire("db").unwrap();
    assert!(current.is_probe());
    late.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    current.failure().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
}

#[test]
fn a_permit_borrowed_from_a_handle_and_an_owned_one_report_alike() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    conn.acquire().unwrap().success().unwrap();
    brama.acquire("db").unwrap().success().unwrap();
    conn.acquire().unwrap().failure().unwrap();
    brama.acquire("db").unwrap().failure().unwrap();
    let s = conn.status().unwrap();
    assert_eq!(
        (s.total_successes, s.total_failures, s.state),
        (2, 2, State::Open)
    );
    // Open: neither kind of permit is granted, and the refusal says why.
    let Error::Rejected {
        identifier,
        scope,
        state,
        retry_after,
    } = conn.acquire().unwrap_err()
    else {
        panic!("not a rejection");
    };
    assert_eq!(
        (identifier.as_str(), scope, state, retry_after),
        ("db", None, State::Open, Some(EXPIRY))
    );
    assert!(matches!(
        brama.acquire("db").unwrap_err(),
        Error::Rejected {
            state: State::Open,
            ..
        }
    ));
    assert_eq!(conn.status().unwrap().total_rejected, 2);
}

#[test]
fn a_handle_sees_the_connection_it_was_made_for() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .register(("payments", "stripe"), Options::new())
        .unwrap();
    let conn = brama.connection(("payments", "stripe")).unwrap();
    assert_eq!(conn.identifier(), "stripe");
    assert_eq!(conn.scope(), Some("payments"));
    conn.failure().unwrap();
    conn.failure().unwrap();
    assert!(!brama.available(("payments", "stripe")));
    assert!(!conn.available());
    brama.close_circuit(("payments", "stripe")).unwrap();
    assert!(conn.available());
    assert!(matches!(
        brama.connection("stripe").unwrap_err(),
        Error::NotFound { .. }
    ));
}

/// A handle's success on a healthy circuit counts without writing the success stamp
/// while the stamp already holds the clock's reading; once the clock moves, the next
/// success must stamp again. Checked under a manual clock and under the same clock
/// wrapped as a custom one, whose cached reading is only a placeholder.
#[test]
fn quiet_handle_successes_keep_the_success_stamp_current() {
    for custom in [false, true] {
        let clock = ManualClock::new();
        let builder = Brama::builder().cleanup_interval(HOUR);
        let brama = if custom {
            builder.clock(brama_sync::ClockSource::custom(clock.clone()))
        } else {
            builder.clock(clock.clone())
        }
        .build()
        .unwrap();
        let at = |s: Duration| brama.status("db").unwrap().registered_at + s;
        brama.register("db", Options::new()).unwrap();
        let conn = brama.connection("db").unwrap();

        conn.success().unwrap();
        conn.success().unwrap();
        let s = brama.status("db").unwrap();
        assert_eq!(
            s.last_success_at,
            Some(at(Duration::ZERO)),
            "custom: {custom}"
        );
        clock.advance(Duration::from_secs(5));
        conn.success().unwrap();
        conn.success().unwrap();
        assert_eq!(
            brama.status("db").unwrap().last_success_at,
            Some(at(Duration::from_secs(5))),
            "custom: {custom}"
        );
        // Another thread (its own lane, claimed on its first report) counts too.
        let other = conn.clone();
        std::thread::spawn(move || {
            for _ in 0..3 {
                other.success().unwrap();
            }
        })
        .join()
        .unwrap();
        clock.advance(Duration::from_secs(1));
        conn.success().unwrap();
        let s = brama.status("db").unwrap();
        assert_eq!(s.total_successes, 8, "custom: {custom}");
        assert_eq!(
            s.last_success_at,
            Some(at(Duration::from_secs(6))),
            "custom: {custom}"
        );
    }
}
