//! Registration (§3): AlreadyRegistered, NotFound, auto_register and max_connections.

use brama_core::{Config, Error, EventType, Filter, Key, OpenOptions, Options, Settings, State};

use crate::common::*;
use crate::support::registry;

// ----- registration (§3) --------------------------------------------------------------------

#[test]
fn registering_twice_is_already_registered_and_changes_nothing() {
    let h = Harness::empty(Config::default());
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    h.reg
        .register(
            KEY,
            &Options::new().failure_threshold(2).metadata("team", "a"),
        )
        .unwrap();
    h.failure();
    h.advance(secs(5));
    let before = h.status();
    let r = h.reg.register(
        KEY,
        &Options::new()
            .failure_threshold(1)
            .metadata("team", "b")
            .metadata("extra", "x"),
    );
    assert_eq!(r, Err(Error::AlreadyRegistered));
    let s = h.status();
    assert_eq!(s.metadata, before.metadata);
    assert_eq!(s.registered_at, before.registered_at);
    assert_eq!(
        (s.state, s.consecutive_failures, s.total_failures),
        (State::Closed, 1, 1)
    );
    assert_eq!(h.reg.len(), 1);
    assert_eq!(registered.try_iter().count(), 1, "one Registered event");
    h.failure();
    assert_eq!(h.state(), State::Open, "the original threshold 2 holds");
    // Invalid options on an existing key: still AlreadyRegistered or InvalidConfig,
    // never a change.
    assert!(h
        .reg
        .register(KEY, &Options::new().failure_threshold(0))
        .is_err());
    assert_eq!(h.state(), State::Open);
}

#[test]
fn unknown_keys_are_not_found_and_change_nothing() {
    let h = Harness::empty(Config::default());
    let events = h.cx().bus.subscribe(Filter::new());
    let key = Key::scoped("nowhere", "nothing");
    assert!(!h.reg.available(key));
    assert!(matches!(
        h.reg.acquire(key).err(),
        Some(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.success(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.failure(key, None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.status(key), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.unregister(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.open(key, &OpenOptions::new()),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(h.reg.close(key), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.reset(key), Err(Error::NotFound { .. })));
    assert!(matches!(
        h.reg.configure(key, &Options::new().failure_threshold(2)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.handle(key).err(),
        Some(Error::NotFound { .. })
    ));
    assert!(h.reg.is_empty());
    assert_eq!(events.try_iter().count(), 0);
}

#[test]
fn unregistered_connection_is_gone_and_its_cell_is_inert() {
    let h = Harness::new(fixed(1, secs(60)));
    let (cell, ticket) = h.reg.acquire(KEY).unwrap();
    h.failure();
    let last = h.reg.unregister(KEY).unwrap();
    assert_eq!((last.state, last.total_failures), (State::Open, 1));
    assert!(matches!(h.reg.unregister(KEY), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.status(KEY), Err(Error::NotFound { .. })));
    assert!(matches!(h.reg.success(KEY), Err(Error::NotFound { .. })));
    assert!(!h.reg.available(KEY));
    assert!(h.reg.is_empty());
    // A cell held past its removal reports NotFound and never resurrects the key.
    assert!(matches!(
        cell.success(h.cx(), Some(ticket)),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        cell.failure(h.cx(), None, None),
        Err(Error::NotFound { .. })
    ));
    assert!(!cell.available(h.cx()));
    assert!(matches!(cell.acquire(h.cx()), Err(Error::NotFound { .. })));
    cell.release(ticket);
    assert!(matches!(h.reg.status(KEY), Err(Error::NotFound { .. })));
    // The key can be registered again, fresh.
    let s = h.reg.register(KEY, &Options::new()).unwrap();
    assert_eq!((s.state, s.total_failures, s.trips), (State::Unknown, 0, 0));
}

#[test]
fn auto_register_registers_on_first_use() {
    let h = Harness::with_settings(
        fixed(1, secs(60)),
        Settings {
            auto_register: true,
            ..Settings::default()
        },
    );
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    assert!(h.reg.available(Key::new("a")), "registered and admitted");
    assert_eq!(h.reg.status(Key::new("a")).unwrap().state, State::Unknown);
    h.reg.failure(Key::scoped("s", "b"), None).unwrap();
    let s = h.reg.status(Key::scoped("s", "b")).unwrap();
    assert_eq!(
        (s.state, s.total_failures),
        (State::Open, 1),
        "defaults apply"
    );
    h.reg.success(Key::new("c")).unwrap();
    assert_eq!(h.reg.status(Key::new("c")).unwrap().state, State::Closed);
    let (_, t) = h.reg.acquire(Key::new("d")).unwrap();
    assert!(!t.probe);
    assert_eq!(h.reg.len(), 4);
    assert_eq!(registered.try_iter().count(), 4);
    // Lookups that do not use a connection do not register it.
    assert!(matches!(
        h.reg.status(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.unregister(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.close(Key::new("e")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(h.reg.len(), 4);
    // Already registered: used, not re-registered.
    assert!(!h.reg.available(Key::scoped("s", "b")));
    assert_eq!(registered.try_iter().count(), 0);
}

#[test]
fn auto_register_off_by_default() {
    let h = Harness::empty(Config::default());
    assert!(!h.reg.auto_register());
    assert!(!h.reg.available(KEY));
    assert!(matches!(h.reg.success(KEY), Err(Error::NotFound { .. })));
    assert!(h.reg.is_empty());
}

#[test]
fn auto_register_is_bounded_by_max_connections() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            auto_register: true,
            max_connections: Some(2),
            ..Settings::default()
        },
    );
    assert!(h.reg.available(Key::new("a")));
    h.reg.success(Key::new("b")).unwrap();
    assert!(
        !h.reg.available(Key::new("c")),
        "over capacity: not admitted"
    );
    assert_eq!(h.reg.success(Key::new("c")), Err(Error::CapacityExceeded));
    assert_eq!(
        h.reg.acquire(Key::new("c")).err(),
        Some(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
    assert!(matches!(
        h.reg.status(Key::new("c")),
        Err(Error::NotFound { .. })
    ));
    // Existing ones keep working.
    assert!(h.reg.available(Key::new("a")));
    h.reg.unregister(Key::new("a")).unwrap();
    assert!(h.reg.available(Key::new("c")), "room again");
}

#[test]
fn max_connections_rejects_past_the_limit_and_changes_nothing() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            max_connections: Some(2),
            ..Settings::default()
        },
    );
    let registered = h
        .cx()
        .bus
        .subscribe(Filter::new().event_type(EventType::Registered));
    h.reg.register(Key::new("a"), &Options::new()).unwrap();
    h.reg.register(Key::new("b"), &Options::new()).unwrap();
    assert_eq!(
        h.reg.register(Key::new("c"), &Options::new()),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
    assert!(matches!(
        h.reg.status(Key::new("c")),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(registered.try_iter().count(), 2);
    // A duplicate at capacity is AlreadyRegistered, and frees nothing.
    assert_eq!(
        h.reg.register(Key::new("a"), &Options::new()),
        Err(Error::AlreadyRegistered)
    );
    assert_eq!(h.reg.len(), 2);
    h.reg.unregister(Key::new("a")).unwrap();
    h.reg.register(Key::new("c"), &Options::new()).unwrap();
    assert_eq!(
        h.reg.register(Key::new("d"), &Options::new()),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(h.reg.len(), 2);
}

#[test]
fn failed_registrations_do_not_use_up_capacity() {
    let h = Harness::with_settings(
        Config::default(),
        Settings {
            max_connections: Some(1),
            ..Settings::default()
        },
    );
    for _ in 0..10 {
        assert!(h.reg.register(Key::new(""), &Options::new()).is_err());
        assert!(h
            .reg
            .register(Key::new("a"), &Options::new().jitter(2.0))
            .is_err());
    }
    h.reg.register(Key::new("a"), &Options::new()).unwrap();
    assert!(h.reg.register(Key::new("a"), &Options::new()).is_err());
    assert_eq!(h.reg.len(), 1);
}

#[test]
fn errors_say_what_to_do() {
    let e = registry(fixed(0, secs(1)), Settings::default()).unwrap_err();
    assert!(e.to_string().contains("failure_threshold"), "{e}");
    let h = Harness::new(Config::default());
    let e = h.reg.register(Key::new(""), &Options::new()).unwrap_err();
    assert!(e.to_string().contains("identifier"), "{e}");
    let long = "s".repeat(257);
    let e = h
        .reg
        .register(Key::scoped(&long, "a"), &Options::new())
        .unwrap_err();
    assert!(
        e.to_string().contains("scope") && e.to_string().contains("256"),
        "{e}"
    );
    let e = h.reg.register(KEY, &Options::new()).unwrap_err();
    assert!(e.to_string().contains("already registered"), "{e}");
}
