//! SPEC §13: `KeyBuf`, an owned key with `From<&str>`, `From<String>`,
//! `From<(&str, &str)>` (scope, identifier) and `From<Key<'_>>`, usable wherever a key is
//! taken, by value or by reference (`AsKey`), as a `String` is.

use std::collections::HashSet;

use brama_sync::{Brama, Error, Key, KeyBuf, Options, State};

#[test]
fn every_conversion_makes_the_key_it_names() {
    let from_str = KeyBuf::from("db");
    let from_string = KeyBuf::from(String::from("db"));
    let from_key = KeyBuf::from(Key::new("db"));
    assert_eq!(from_str, from_string);
    assert_eq!(from_str, from_key);
    assert_eq!(from_str.as_key(), Key::new("db"));

    let scoped = KeyBuf::from(("payments", "stripe"));
    assert_eq!(scoped.scope(), Some("payments"));
    assert_eq!(scoped.identifier(), "stripe");
    assert_eq!(scoped, KeyBuf::from(Key::scoped("payments", "stripe")));
    assert_ne!(
        scoped,
        KeyBuf::from("payments:stripe"),
        "scope is its own field"
    );
    assert_eq!(scoped.to_string(), "payments/stripe");

    let long = "x".repeat(200);
    let long_key = KeyBuf::from((long.as_str(), "id"));
    assert_eq!(long_key.scope(), Some(long.as_str()));
    let set: HashSet<KeyBuf> = [scoped.clone(), scoped, from_str, long_key].into();
    assert_eq!(set.len(), 3);
}

#[test]
fn a_keybuf_is_taken_by_every_by_key_method() {
    let brama = Brama::builder().failure_threshold(1).build().unwrap();
    let key = KeyBuf::from(("payments", "stripe"));
    brama.register(&key, Options::new()).unwrap();
    assert!(brama.available(&key));
    brama.success(&key).unwrap();
    brama.failure_with(&key, "timeout").unwrap();
    assert_eq!(brama.status(&key).unwrap().state, State::Open);
    brama.close_circuit(&key).unwrap();
    let conn = brama.connection(&key).unwrap();
    assert_eq!(conn.key(), key.as_key());
    brama.acquire(&key).unwrap().success().unwrap();
    assert!(brama.call(&key, || Ok::<_, ()>(1)).is_ok());
    let out = pollster::block_on(brama.call_async(&key, async { Ok::<_, ()>(2) }));
    assert_eq!(out.ok(), Some(2));
    assert_eq!(brama.unregister(&key).unwrap().total_successes, 4);
}

/// Every by-key method takes its key by value as well: a `KeyBuf`, a `String`, an
/// `OwnedKey`, a tuple of a scope and an identifier, and references to them.
#[test]
fn keys_are_taken_by_value_and_by_reference_in_every_form() {
    let brama = Brama::builder().failure_threshold(1).build().unwrap();
    let key = KeyBuf::from(("payments", "stripe"));
    brama.register(key.clone(), Options::new()).unwrap();
    assert!(brama.available(key.clone()));
    brama.success(key.clone()).unwrap();
    let scope = String::from("payments");
    brama.success((scope.as_str(), "stripe")).unwrap();
    let owned = Key::scoped("payments", "stripe").to_owned_key().unwrap();
    brama.success(&owned).unwrap();
    brama.success(owned).unwrap();
    assert!(brama.call(key.clone(), || Ok::<_, ()>(())).is_ok());
    let out = pollster::block_on(brama.call_async(key.clone(), async { Ok::<_, ()>(()) }));
    assert!(out.is_ok());
    assert_eq!(brama.status(key.clone()).unwrap().total_successes, 6);

    // Unscoped keys made at run time, by value.
    for i in 0..3 {
        brama.register(format!("host-{i}"), Options::new()).unwrap();
    }
    brama.failure(String::from("host-1")).unwrap();
    assert_eq!(brama.state(String::from("host-1")).unwrap(), State::Open);
    let host2 = String::from("host-2");
    assert_eq!(brama.state(&host2).unwrap(), State::Unknown);
    assert_eq!(brama.state(host2).unwrap(), State::Unknown);
    assert_eq!(brama.unregister(key).unwrap().total_successes, 6);
}

#[test]
fn an_invalid_keybuf_is_kept_as_given_and_refused_like_a_bad_key() {
    let brama = Brama::new();
    for bad in [
        KeyBuf::from(""),
        KeyBuf::from(("", "id")),
        KeyBuf::from("x".repeat(257)),
    ] {
        assert!(matches!(
            brama.register(&bad, Options::new()),
            Err(Error::InvalidKey { .. })
        ));
        assert!(!brama.available(&bad));
        assert_eq!(KeyBuf::from(bad.as_key()), bad);
    }
    assert_eq!(KeyBuf::from(("", "id")).scope(), Some(""));
}

/// Short keys (scope and identifier together at most 22 bytes) are kept in place and
/// long ones in the registry's form: every length, split and character reads back as
/// given, and both forms of a key are equal, hash alike and find the same connection.
#[test]
fn short_and_long_keys_read_back_as_given_in_either_form() {
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let texts = [
        "a",
        "é",
        "日本",
        "ab\u{1F600}c",
        "0123456",
        "01234567",
        "012345678",
    ];
    let brama = Brama::new();
    for total in 1..=26usize {
        for split in 0..total {
            for fill in texts {
                let text: String = fill.chars().cycle().take(total).collect();
                let (scope, id) = text.split_at(
                    text.char_indices()
                        .nth(split)
                        .map_or(text.len(), |(i, _)| i),
                );
                let key = if scope.is_empty() {
                    Key::new(id)
                } else {
                    Key::scoped(scope, id)
                };
                if id.is_empty() {
                    continue;
                }
                let buf = KeyBuf::from(key);
                assert_eq!(buf.as_key(), key, "{key:?}");
                let owned = KeyBuf::from(key.to_owned_key().unwrap());
                assert_eq!(buf, owned);
                assert_eq!(hasher.hash_one(&buf), hasher.hash_one(&owned));
            }
        }
    }
    brama
        .register(("payments", "stripe"), Options::new())
        .unwrap();
    let short = KeyBuf::from(("payments", "stripe"));
    assert!(brama.available(&short));
    brama.success(&short).unwrap();
    assert_eq!(brama.status(&short).unwrap().total_successes, 1);
    assert!(
        KeyBuf::from(("", "x")).as_key().validate().is_err(),
        "an empty scope is kept as given"
    );
}
