//! Every invalid key through every by-key method; unusual valid keys are distinct.

use brama_sync::{Brama, CallError, Error, Key, OpenOptions, Options, Outcome};

use crate::support::{populated, rejected};

/// Keys that break the rules: empty parts, and parts over 256 bytes, including
/// multi-byte UTF-8 that crosses the boundary.
fn invalid_keys() -> Vec<(Option<String>, String)> {
    let ok = "id".to_owned();
    let over: Vec<String> = vec![
        "a".repeat(257),
        "é".repeat(128) + "a", // 257 bytes, 129 chars
        "€".repeat(86),        // 258 bytes
        "🦀".repeat(65),       // 260 bytes, 65 chars
        "€".repeat(85) + "é",  // 257 bytes
        "x".repeat(1 << 20),   // 1 MB
    ];
    let mut v = vec![
        (None, String::new()),
        (Some(String::new()), ok.clone()),
        (Some(String::new()), String::new()),
        (Some("s".to_owned()), String::new()),
    ];
    for o in over {
        v.push((None, o.clone()));
        v.push((Some(o.clone()), ok.clone()));
        v.push((Some("s".to_owned()), o));
    }
    v
}

fn key_of(k: &(Option<String>, String)) -> Key<'_> {
    match &k.0 {
        Some(scope) => Key::scoped(scope, &k.1),
        None => Key::new(&k.1),
    }
}

#[test]
fn every_invalid_key_is_rejected_by_every_method_and_changes_nothing() {
    for auto in [false, true] {
        let (brama, _clock, sub) = populated(auto);
        for k in invalid_keys() {
            let key = key_of(&k);
            let what = |m: &str| format!("{m} {:?}", (k.0.as_deref().map(str::len), k.1.len()));
            let is_key = |e: &Error| matches!(e, Error::InvalidKey { .. });
            rejected(
                &brama,
                &sub,
                &what("register"),
                || brama.register(key, Options::new()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("unregister"),
                || brama.unregister(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("success"),
                || brama.success(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("failure"),
                || brama.failure(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("failure_with"),
                || brama.failure_with(key, "r"),
                is_key,
            );
            rejected(&brama, &sub, &what("status"), || brama.status(key), is_key);
            rejected(
                &brama,
                &sub,
                &what("open_circuit"),
                || brama.open_circuit(key, OpenOptions::new()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("close_circuit"),
                || brama.close_circuit(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("reset_circuit"),
                || brama.reset_circuit(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("configure"),
                || brama.configure(key, Options::new().failure_threshold(3)),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("connection"),
                || brama.connection(key),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("acquire"),
                || brama.acquire(key).and_then(|p| p.ignore()),
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call"),
                || match brama.call(key, || -> Result<(), ()> { panic!("must not run") }) {
                    Err(CallError::Rejected(e)) => Err::<(), _>(e),
                    other => panic!("call: {other:?}"),
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call_with"),
                || match brama.call_with(
                    key,
                    |_: &Result<(), ()>| Outcome::Failure,
                    || -> Result<(), ()> { panic!("must not run") },
                ) {
                    Err(CallError::Rejected(e)) => Err::<(), _>(e),
                    other => panic!("call_with: {other:?}"),
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("call_async"),
                || {
                    let fut = brama.call_async(key, async {
                        assert!(std::hint::black_box(false), "must not run");
                        Ok::<(), ()>(())
                    });
                    match pollster::block_on(fut) {
                        Err(CallError::Rejected(e)) => Err::<(), _>(e),
                        other => panic!("call_async: {other:?}"),
                    }
                },
                is_key,
            );
            rejected(
                &brama,
                &sub,
                &what("available"),
                || {
                    if brama.available(key) {
                        Ok(())
                    } else {
                        Err(Error::InvalidKey {
                            reason: String::new(),
                        })
                    }
                },
                is_key,
            );
            if let Some(scope) = k.0.as_deref().filter(|s| s.is_empty() || s.len() > 256) {
                rejected(
                    &brama,
                    &sub,
                    &what("connections_in"),
                    || {
                        let listed = brama.connections_in(scope);
                        assert!(listed.is_empty(), "no connection lives in an invalid scope");
                        Err::<(), _>(Error::InvalidKey {
                            reason: String::new(),
                        })
                    },
                    is_key,
                );
            }
        }
    }
}

/// Unusual but valid keys: exactly 256 bytes of multi-byte UTF-8, control and format
/// characters, canonically equivalent but differently encoded strings. Each is its own
/// connection, found again by the same key and only by it.
#[test]
fn unusual_valid_keys_are_distinct_connections() {
    let ids = [
        "é".repeat(128),      // 256 bytes
        "€".repeat(85) + "a", // 256 bytes
        "🦀".repeat(64),      // 256 bytes
        "\0".to_owned(),
        "\u{feff}".to_owned(),    // byte-order mark
        "\u{202e}abc".to_owned(), // right-to-left override
        "e\u{301}".to_owned(),    // e + combining acute
        "\u{e9}".to_owned(),      // precomposed é
        "a:b".to_owned(),
        " ".to_owned(),
        "\u{10ffff}".to_owned(),
    ];
    let brama = Brama::new();
    let mut keys: Vec<Key<'_>> = ids.iter().map(|id| Key::new(id)).collect();
    keys.extend(ids.iter().map(|id| Key::scoped(id, id)));
    keys.push(Key::scoped("a", "b"));
    for (i, key) in keys.iter().enumerate() {
        brama
            .register(*key, Options::new().metadata("i", i.to_string()))
            .unwrap_or_else(|e| panic!("{key:?}: {e:?}"));
    }
    assert_eq!(brama.len(), keys.len(), "every key is its own connection");
    for (i, key) in keys.iter().enumerate() {
        let s = brama.status(*key).expect("registered");
        assert_eq!(
            s.metadata["i"],
            i.to_string(),
            "{key:?} finds its own connection"
        );
        assert_eq!(s.identifier, key.identifier());
        assert_eq!(s.scope.as_deref(), key.scope());
        brama.failure(*key).expect("registered");
    }
    assert_eq!(brama.connections_in("a").len(), 1);
}
