//! Registering twice, or past `max_connections` (also concurrently), changes nothing.

use std::thread;
use std::time::Duration;

use brama_sync::{Error, EventType, Filter, ManualClock, Options, State};

use crate::support::{builder, drain, fixed};

#[test]
fn registering_twice_is_already_registered_and_changes_nothing() {
    let clock = ManualClock::new();
    let brama = builder(&clock).build().unwrap();
    let sub = brama.subscribe(Filter::new());
    brama
        .register("db", Options::new().metadata("team", "billing"))
        .unwrap();
    brama.failure("db").unwrap();
    let _ = drain(&sub);
    let before = fixed(brama.status("db").unwrap());
    clock.advance(Duration::from_secs(5));
    let again = brama.register(
        "db",
        Options::new()
            .metadata("team", "other")
            .failure_threshold(1),
    );
    assert_eq!(again.unwrap_err(), Error::AlreadyRegistered);
    // With invalid options as well, nothing changes.
    assert!(brama
        .register("db", Options::new().failure_threshold(0))
        .is_err());
    assert_eq!(fixed(brama.status("db").unwrap()), before);
    assert_eq!(brama.len(), 1);
    assert!(
        drain(&sub).is_empty(),
        "an event for a rejected registration"
    );
    // The threshold stayed 2: one more failure opens it, not the first.
    brama.failure("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
    // A scoped key with the same identifier is another connection.
    brama.register(("s", "db"), Options::new()).unwrap();
}

#[test]
fn registering_past_max_connections_is_capacity_exceeded_and_changes_nothing() {
    let clock = ManualClock::new();
    let brama = builder(&clock)
        .max_connections(2)
        .inactive_threshold(Duration::from_secs(60))
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Registered));
    brama.register("a", Options::new()).unwrap();
    brama.register("b", Options::new()).unwrap();
    assert_eq!(
        brama.register("c", Options::new()).unwrap_err(),
        Error::CapacityExceeded
    );
    assert_eq!(brama.len(), 2);
    assert!(matches!(
        brama.status("c").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(drain(&sub).len(), 2);
    // Registering an existing key at capacity is still AlreadyRegistered.
    assert_eq!(
        brama.register("a", Options::new()).unwrap_err(),
        Error::AlreadyRegistered
    );

    // Room comes back with unregistration and with eviction.
    brama.unregister("a").unwrap();
    brama.register("c", Options::new()).unwrap();
    assert_eq!(
        brama.register("d", Options::new()).unwrap_err(),
        Error::CapacityExceeded
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(brama.sweep().evicted, 2);
    brama.register("d", Options::new()).unwrap();
    brama.register("e", Options::new()).unwrap();
    assert_eq!(brama.len(), 2);
}

#[test]
fn max_connections_holds_under_concurrent_registration() {
    const MAX: usize = 50;
    let brama = builder(&ManualClock::new())
        .max_connections(MAX)
        .build()
        .unwrap();
    let accepted: usize = thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let brama = &brama;
                s.spawn(move || {
                    (0..100)
                        .filter(|i| {
                            let key = format!("t{t}-{i}");
                            match brama.register(key.as_str(), Options::new()) {
                                Ok(_) => true,
                                Err(Error::CapacityExceeded) => false,
                                Err(e) => panic!("{e}"),
                            }
                        })
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(accepted, MAX);
    assert_eq!(brama.len(), MAX);
    assert_eq!(brama.connections().len(), MAX);
}
