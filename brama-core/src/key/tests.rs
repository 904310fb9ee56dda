use super::hash::*;
use super::owned::*;
use super::*;
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

#[test]
fn scoped_and_unscoped_with_same_text_differ() {
    let a = Key::new("a:b").to_owned_key().unwrap();
    let b = Key::scoped("a", "b").to_owned_key().unwrap();
    assert_ne!(a, b);
    let c = Key::scoped("a:", "b").to_owned_key().unwrap();
    let d = Key::scoped("a", ":b").to_owned_key().unwrap();
    assert_ne!(c, d);
}

#[test]
fn owned_key_round_trips_parts() {
    let k = Key::scoped("payments", "stripe").to_owned_key().unwrap();
    assert_eq!(k.scope(), Some("payments"));
    assert_eq!(k.identifier(), "stripe");
    assert_eq!(k.as_key(), Key::scoped("payments", "stripe"));
    let u = Key::new("ünïcode✓").to_owned_key().unwrap();
    assert_eq!(u.scope(), None);
    assert_eq!(u.identifier(), "ünïcode✓");
}

#[test]
fn borrowed_and_owned_views_hash_and_compare_alike() {
    use std::hash::BuildHasher;
    let s = std::collections::hash_map::RandomState::new();
    for k in [
        Key::scoped("s", "id"),
        Key::new("s\u{ff}id"),
        Key::new("id"),
    ] {
        let owned = k.to_owned_key().unwrap();
        let view: &dyn KeyView = &k;
        let owned_view: &dyn KeyView = owned.borrow();
        assert!(view == owned_view);
        assert_eq!(s.hash_one(view), s.hash_one(&owned));
    }
    let a: &dyn KeyView = &Key::scoped("a", "b");
    let b: &dyn KeyView = &Key::new("a:b");
    assert!(a != b);
}

fn owned(scope: Option<&str>, id: &str) -> OwnedKey {
    match scope {
        Some(s) => Key::scoped(s, id),
        None => Key::new(id),
    }
    .to_owned_key()
    .unwrap()
}

fn map_hash<T: Hash + ?Sized>(t: &T) -> u64 {
    KeyHashBuilder::default().hash_one(t)
}

/// Every way the map sees a key agrees with the owned key: the borrowed key matches it
/// and hashes alike, the `KeyView` form compares and hashes alike, and the parts
/// round-trip.
fn assert_forms_agree(scope: Option<&str>, id: &str) {
    let key = match scope {
        Some(s) => Key::scoped(s, id),
        None => Key::new(id),
    };
    let owned = key.to_owned_key().unwrap();
    assert_eq!(owned.scope(), scope);
    assert_eq!(owned.identifier(), id);
    assert_eq!(owned.as_key(), key);
    assert!(owned.is(key), "{key:?}");
    assert_eq!(key.key_hash(), owned.key_hash(), "{key:?}");
    assert_eq!(map_hash(&owned), owned.key_hash());
    // The map's lookup by hash asks with the borrowed key's hash as a plain u64.
    assert_eq!(map_hash(&key.key_hash()), map_hash(&owned), "{key:?}");
    match OwnedKey::short(key) {
        Some(short) => {
            assert!(owned.is_inline());
            assert!(short.is(key));
            assert_eq!(short, owned);
            assert_eq!(short.key_hash(), owned.key_hash());
            assert_eq!(map_hash(&short), map_hash(&owned));
        }
        None => assert!(!owned.is_inline()),
    }
    let view: &dyn KeyView = &key;
    let owned_view: &dyn KeyView = owned.borrow();
    assert!(view == owned_view);
    assert_eq!(map_hash(view), map_hash(&owned));
    assert_eq!(owned.clone(), owned);
}

#[test]
fn short_keys_are_inline_and_long_ones_on_the_heap() {
    let x = |n: usize| "x".repeat(n);
    for n in [
        1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 21, 22, 23, 32, 33, 40, 45, 46,
    ] {
        assert!(owned(None, &x(n)).is_inline(), "{n}");
    }
    for n in [47, 48, 100, 256] {
        assert!(!owned(None, &x(n)).is_inline(), "{n}");
    }
    // The scope's bytes count towards the 46.
    assert!(owned(Some(&x(1)), &x(45)).is_inline());
    assert!(owned(Some(&x(45)), &x(1)).is_inline());
    assert!(owned(Some(&x(20)), &x(20)).is_inline());
    assert!(!owned(Some(&x(1)), &x(46)).is_inline());
    assert!(!owned(Some(&x(46)), &x(1)).is_inline());
    assert!(!owned(Some(&x(256)), &x(256)).is_inline());
    assert_eq!(std::mem::size_of::<OwnedKey>(), 48);
}

#[test]
fn every_length_and_split_round_trips_and_agrees() {
    let text: String = ('a'..='z').cycle().take(60).collect();
    for n in 1..=56 {
        assert_forms_agree(None, &text[..n]);
        for s in 1..n {
            assert_forms_agree(Some(&text[..s]), &text[s..n]);
        }
    }
}

#[test]
fn non_ascii_keys_at_the_inline_boundary() {
    // 23 two-byte chars = 46 bytes (inline); one more byte goes to the heap.
    let e11 = "é".repeat(23);
    assert!(owned(None, &e11).is_inline());
    assert_forms_agree(None, &e11);
    let e11x = format!("{e11}x");
    assert!(!owned(None, &e11x).is_inline());
    assert_forms_agree(None, &e11x);
    // A three-byte char crossing byte 46: 44 + 3 = 47 bytes, on the heap.
    let crossing = format!("{}✓", "a".repeat(44));
    assert!(!owned(None, &crossing).is_inline());
    assert_forms_agree(None, &crossing);
    // Four-byte chars, scoped, exactly 46 bytes.
    assert!(owned(Some("🦀🦀🦀"), "🦀🦀🦀🦀🦀🦀🦀🦀é").is_inline());
    assert_forms_agree(Some("🦀🦀🦀"), "🦀🦀🦀🦀🦀🦀🦀🦀é");
    assert_forms_agree(Some("ünï"), "cödé✓");
}

#[test]
fn keys_that_differ_only_in_scope_or_split_differ() {
    let pairs = [
        (owned(None, "ab"), owned(Some("a"), "b")),
        (owned(Some("ab"), "c"), owned(Some("a"), "bc")),
        (owned(None, "a:b"), owned(Some("a"), "b")),
        (owned(None, "abc"), owned(None, "abd")),
        (owned(None, "ab"), owned(None, "ab\0")),
        (
            owned(None, &"y".repeat(30)),
            owned(Some("y"), &"y".repeat(29)),
        ),
        (
            owned(Some(&"y".repeat(3)), &"y".repeat(27)),
            owned(Some(&"y".repeat(4)), &"y".repeat(26)),
        ),
    ];
    for (a, b) in &pairs {
        assert_ne!(a, b);
        assert!(!b.is(a.as_key()), "{a:?} {b:?}");
        assert!(!a.is(b.as_key()), "{a:?} {b:?}");
        assert!(a.is(a.as_key()) && b.is(b.as_key()));
        if let (Some(sa), Some(sb)) = (OwnedKey::short(a.as_key()), OwnedKey::short(b.as_key())) {
            assert!(!sa.is(b.as_key()) && !sb.is(a.as_key()));
        }
        let (va, vb): (&dyn KeyView, &dyn KeyView) = (a.borrow(), b.borrow());
        assert!(va != vb);
    }
}

#[test]
fn invalid_keys_match_nothing_and_never_panic() {
    let stored = owned(None, "x");
    for k in [Key::new(""), Key::scoped("", "x"), Key::scoped("", "")] {
        assert!(!stored.is(k));
        let _ = k.key_hash();
        if let Some(short) = OwnedKey::short(k) {
            assert!(!short.is(stored.as_key()));
        }
    }
    let long = "z".repeat(600);
    let k = Key::scoped(&long, &long);
    assert!(!stored.is(k));
    assert!(OwnedKey::short(k).is_none());
    let _ = k.key_hash();
}

pub(crate) mod prop {
    use super::*;
    use proptest::prelude::*;

    /// A scope or identifier: short and long, ASCII and not, around the 46-byte
    /// inline boundary (alone, or with a scope). (Also used by map.rs's tests.)
    pub(crate) fn part() -> impl Strategy<Value = String> {
        // Short and long, ASCII and not, around the boundary.
        prop_oneof![
            "[a-z:]{1,12}",
            "[a-zé✓🦀]{1,12}",
            "[a-z]{18,26}",
            "[a-z]{40,50}",
            "\\PC{1,40}",
        ]
    }

    proptest! {
        #[test]
        fn owned_and_borrowed_forms_hash_and_compare_alike(
            scope in proptest::option::of(part()),
            id in part(),
            other_scope in proptest::option::of(part()),
            other_id in part(),
        ) {
            assert_forms_agree(scope.as_deref(), &id);
            let a = owned(scope.as_deref(), &id);
            let b = owned(other_scope.as_deref(), &other_id);
            let same = (scope.as_deref(), id.as_str()) == (other_scope.as_deref(), other_id.as_str());
            prop_assert_eq!(a == b, same);
            prop_assert_eq!(a.is(b.as_key()), same);
            if same {
                prop_assert_eq!(a.key_hash(), b.key_hash());
            }
        }
    }
}

#[test]
fn rejects_empty_and_long_parts() {
    assert!(matches!(
        Key::new("").validate(),
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        Key::scoped("", "x").validate(),
        Err(Error::InvalidKey { .. })
    ));
    let long = "x".repeat(257);
    assert!(matches!(
        Key::new(&long).validate(),
        Err(Error::InvalidKey { .. })
    ));
    assert!(matches!(
        Key::scoped(&long, "x").validate(),
        Err(Error::InvalidKey { .. })
    ));
    let max = "é".repeat(128); // 256 bytes
    assert!(Key::scoped(&max, &max).validate().is_ok());
    assert!(Key::new(&long).to_owned_key().is_err());
}
