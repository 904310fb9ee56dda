//! The key rules (§1): invalid keys are rejected everywhere; scopes keep keys apart.

use brama_core::{Config, Error, Filter, Key, OpenOptions, Options, Settings, State};

use crate::common::*;

// ----- keys (§1) -------------------------------------------------------------------------

fn bad_keys() -> Vec<(String, Option<String>)> {
    let long = "x".repeat(257);
    let long_utf8 = "é".repeat(129); // 258 bytes, 129 chars
    vec![
        (String::new(), None),
        (long.clone(), None),
        (long_utf8.clone(), None),
        ("id".into(), Some(String::new())),
        ("id".into(), Some(long)),
        (String::new(), Some("scope".into())),
        ("x".repeat(300), Some(long_utf8)),
    ]
}

fn key_of(k: &(String, Option<String>)) -> Key<'_> {
    match &k.1 {
        Some(scope) => Key::scoped(scope, &k.0),
        None => Key::new(&k.0),
    }
}

#[test]
fn invalid_keys_are_rejected_by_every_method_and_change_nothing() {
    for auto_register in [false, true] {
        let h = Harness::with_settings(
            Config::default(),
            Settings {
                auto_register,
                ..Settings::default()
            },
        );
        let events = h.cx().bus.subscribe(Filter::new());
        for k in &bad_keys() {
            let key = key_of(k);
            let what = format!("auto={auto_register} {key:?}");
            assert!(
                is_invalid_key(&h.reg.register(key, &Options::new())),
                "{what}"
            );
            assert!(!h.reg.available(key), "{what}");
            assert!(is_invalid_key(&h.reg.acquire(key)), "{what}");
            assert!(is_invalid_key(&h.reg.success(key)), "{what}");
            assert!(is_invalid_key(&h.reg.failure(key, Some("x"))), "{what}");
            assert!(is_invalid_key(&h.reg.status(key)), "{what}");
            assert!(is_invalid_key(&h.reg.unregister(key)), "{what}");
            assert!(
                is_invalid_key(&h.reg.open(key, &OpenOptions::new())),
                "{what}"
            );
            assert!(is_invalid_key(&h.reg.close(key)), "{what}");
            assert!(is_invalid_key(&h.reg.reset(key)), "{what}");
            assert!(
                is_invalid_key(&h.reg.configure(key, &Options::new())),
                "{what}"
            );
            assert!(is_invalid_key(&h.reg.handle(key)), "{what}");
        }
        assert!(h.reg.is_empty());
        assert!(h.reg.connections().is_empty());
        assert_eq!(events.try_iter().count(), 0);
    }
}

#[test]
fn key_parts_of_256_bytes_are_accepted() {
    let h = Harness::empty(Config::default());
    let id = "x".repeat(256);
    let scope = "é".repeat(128); // 256 bytes
    let utf8_id = "日".repeat(85); // 255 bytes
    for key in [
        Key::new(&id),
        Key::scoped(&scope, &id),
        Key::scoped(&scope, "a"),
        Key::new(&utf8_id),
        Key::new("a"),
        Key::scoped("s", "a"),
    ] {
        let s = h.reg.register(key, &Options::new()).unwrap();
        assert_eq!(s.identifier, key.identifier());
        assert_eq!(s.scope.as_deref(), key.scope());
        h.reg.failure(key, None).unwrap();
        assert_eq!(h.reg.status(key).unwrap().total_failures, 1);
    }
    assert_eq!(h.reg.len(), 6);
}

#[test]
fn scoped_and_unscoped_keys_are_different_connections() {
    let h = Harness::empty(fixed(1, secs(60)));
    let unscoped = Key::new("a:b");
    let scoped = Key::scoped("a", "b");
    assert_eq!(Key::from("a:b"), unscoped);
    assert_eq!(Key::from(("a", "b")), scoped);
    h.reg.register(unscoped, &Options::new()).unwrap();
    assert!(matches!(h.reg.status(scoped), Err(Error::NotFound { .. })));
    assert!(!h.reg.available(scoped));
    assert!(matches!(h.reg.success(scoped), Err(Error::NotFound { .. })));
    h.reg.register(scoped, &Options::new()).unwrap();
    assert_eq!(h.reg.len(), 2);
    h.reg.failure(scoped, None).unwrap();
    assert_eq!(h.reg.status(scoped).unwrap().state, State::Open);
    assert_eq!(h.reg.status(unscoped).unwrap().state, State::Unknown);
    assert!(h.reg.available(unscoped));
    assert_eq!(h.reg.connections_in("a").len(), 1);
    assert_eq!(h.reg.connections().len(), 2);
    h.reg.unregister(unscoped).unwrap();
    assert_eq!(h.reg.status(scoped).unwrap().state, State::Open);
}

#[test]
fn a_scoped_connection_is_found_only_with_its_scope() {
    let h = Harness::empty(Config::default());
    let key = Key::scoped("payments", "stripe");
    h.reg.register(key, &Options::new()).unwrap();
    for other in [
        Key::new("stripe"),
        Key::scoped("billing", "stripe"),
        Key::new("payments:stripe"),
        Key::new("payments/stripe"),
        Key::new("paymentsstripe"),
        Key::scoped("paymentss", "tripe"),
        Key::scoped("payment", "sstripe"),
    ] {
        assert!(
            matches!(h.reg.status(other), Err(Error::NotFound { .. })),
            "{other:?}"
        );
        assert!(!h.reg.available(other), "{other:?}");
    }
    assert_eq!(h.reg.status(key).unwrap().identifier, "stripe");
}

#[test]
fn scope_and_identifier_boundaries_do_not_collide() {
    // Same concatenated bytes, split differently.
    let h = Harness::empty(fixed(1, secs(60)));
    let keys = [
        Key::scoped("ab", "c"),
        Key::scoped("a", "bc"),
        Key::new("abc"),
        Key::scoped("abc", "x"),
    ];
    for k in keys {
        h.reg.register(k, &Options::new()).unwrap();
    }
    h.reg.failure(keys[0], None).unwrap();
    let states: Vec<State> = keys
        .iter()
        .map(|k| h.reg.status(*k).unwrap().state)
        .collect();
    assert_eq!(
        states,
        [State::Open, State::Unknown, State::Unknown, State::Unknown]
    );
}
