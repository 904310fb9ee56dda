//! Keys: invalid ones are `InvalidKey` (or `false`) everywhere; 256-byte parts are valid.

use brama_sync::{CallError, Error, Filter, Key, ManualClock, OpenOptions, Options};

use crate::support::{brama, builder, drain, is_invalid_key};

#[test]
fn invalid_keys_are_invalid_key_everywhere_and_change_nothing() {
    let long = "x".repeat(257);
    let long_multibyte = "é".repeat(129); // 258 bytes
    let bad = [
        Key::new(""),
        Key::scoped("", "db"),
        Key::scoped("payments", ""),
        Key::new(&long),
        Key::scoped(&long, "db"),
        Key::scoped("payments", &long),
        Key::new(&long_multibyte),
    ];
    for auto in [false, true] {
        let brama = builder(&ManualClock::new())
            .auto_register(auto)
            .build()
            .unwrap();
        let sub = brama.subscribe(Filter::new());
        for k in bad {
            assert!(is_invalid_key(brama.register(k, Options::new())));
            assert!(!brama.available(k));
            assert!(is_invalid_key(brama.success(k)));
            assert!(is_invalid_key(brama.failure(k)));
            assert!(is_invalid_key(brama.failure_with(k, "x")));
            assert!(is_invalid_key(brama.status(k)));
            assert!(is_invalid_key(brama.open_circuit(k, OpenOptions::new())));
            assert!(is_invalid_key(brama.close_circuit(k)));
            assert!(is_invalid_key(brama.reset_circuit(k)));
            assert!(is_invalid_key(brama.configure(k, Options::new())));
            assert!(is_invalid_key(brama.unregister(k)));
            assert!(is_invalid_key(brama.connection(k)));
            assert!(is_invalid_key(brama.acquire(k)));
            let out: Result<(), CallError<()>> = brama.call(k, || Ok(()));
            assert!(
                matches!(out, Err(CallError::Rejected(Error::InvalidKey { .. }))),
                "{out:?}"
            );
        }
        assert_eq!(brama.len(), 0, "auto_register({auto})");
        assert!(brama.connections().is_empty());
        assert!(drain(&sub).is_empty());
    }
}

#[test]
fn key_parts_of_exactly_256_bytes_are_valid() {
    let brama = brama();
    let ascii = "x".repeat(256);
    let multibyte = "é".repeat(128);
    for k in [
        Key::new(&ascii),
        Key::scoped(&ascii, &ascii),
        Key::scoped(&multibyte, &multibyte),
        Key::new("\0 with NUL, spaces\tand ✓"),
    ] {
        brama.register(k, Options::new()).unwrap();
        assert!(brama.available(k));
        brama.success(k).unwrap();
    }
    assert_eq!(brama.len(), 4);
}
