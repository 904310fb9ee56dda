//! Unknown keys are `NotFound`; `auto_register` registers them, within `max_connections`.

use brama_sync::{
    CallError, Error, EventType, Filter, Key, ManualClock, OpenOptions, Options, State,
};

use crate::support::{brama, builder, drain};

#[test]
fn an_unknown_key_is_not_found_and_never_available() {
    let brama = brama();
    let sub = brama.subscribe(Filter::new());
    for k in [Key::new("nope"), Key::scoped("s", "nope")] {
        assert!(!brama.available(k));
        assert!(matches!(brama.success(k), Err(Error::NotFound { .. })));
        assert!(matches!(brama.failure(k), Err(Error::NotFound { .. })));
        assert!(matches!(
            brama.failure_with(k, "x"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.status(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.open_circuit(k, OpenOptions::new()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.close_circuit(k),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.reset_circuit(k),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.configure(k, Options::new()),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            brama.unregister(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.connection(k).unwrap_err(),
            Error::NotFound { .. }
        ));
        assert!(matches!(
            brama.acquire(k).unwrap_err(),
            Error::NotFound { .. }
        ));
    }
    // A scoped connection is not found without its scope, nor an unscoped one with one.
    brama.register(("s", "db"), Options::new()).unwrap();
    brama.register("plain", Options::new()).unwrap();
    let _ = drain(&sub);
    assert!(!brama.available("db"));
    assert!(matches!(brama.success("db"), Err(Error::NotFound { .. })));
    assert!(!brama.available(("s", "plain")));
    assert_eq!(brama.len(), 2);
    assert!(drain(&sub).is_empty());
}

#[test]
fn auto_register_registers_unknown_keys_with_the_defaults() {
    let clock = ManualClock::new();
    let brama = builder(&clock).auto_register(true).build().unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Registered));
    assert!(brama.available("a"));
    brama.failure("b").unwrap();
    let _conn = brama.connection(("s", "c")).unwrap();
    brama.acquire("d").unwrap().success().unwrap();
    let out: Result<(), CallError<()>> = brama.call("e", || Ok(()));
    out.unwrap();
    let registered: Vec<String> = drain(&sub)
        .iter()
        .map(|e| e.identifier().to_owned())
        .collect();
    assert_eq!(registered, ["a", "b", "c", "d", "e"]);
    assert_eq!(brama.len(), 5);

    // With the registry defaults, followed live: threshold 2, then 3.
    let s = brama.status("a").unwrap();
    assert!(s.metadata.is_empty());
    brama.failure("a").unwrap();
    brama.failure("a").unwrap();
    assert_eq!(brama.status("a").unwrap().state, State::Open);
    brama
        .configure_defaults(Options::new().failure_threshold(3))
        .unwrap();
    brama.failure("b").unwrap(); // 2 of 3
    assert_eq!(brama.status("b").unwrap().state, State::Closed);
    brama.failure("b").unwrap();
    assert_eq!(brama.status("b").unwrap().state, State::Open);

    // Reads, manual actions and removal do not register.
    assert!(matches!(
        brama.status("f").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        brama.close_circuit("f"),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        brama.unregister("f").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(brama.len(), 5);
}

#[test]
fn auto_register_respects_max_connections() {
    let brama = builder(&ManualClock::new())
        .auto_register(true)
        .max_connections(2)
        .build()
        .unwrap();
    assert!(brama.available("a"));
    brama.success("b").unwrap();
    assert!(!brama.available("c"));
    assert_eq!(brama.success("c"), Err(Error::CapacityExceeded));
    assert_eq!(brama.failure("c"), Err(Error::CapacityExceeded));
    assert_eq!(brama.connection("c").unwrap_err(), Error::CapacityExceeded);
    assert_eq!(brama.acquire("c").unwrap_err(), Error::CapacityExceeded);
    let out: Result<(), CallError<()>> = brama.call("c", || Ok(()));
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::CapacityExceeded))
    ));
    assert_eq!(brama.len(), 2);
    assert!(matches!(
        brama.status("c").unwrap_err(),
        Error::NotFound { .. }
    ));
    // Known keys keep working at capacity.
    assert!(brama.available("a"));
    brama.unregister("a").unwrap();
    assert!(brama.available("c"));
}
