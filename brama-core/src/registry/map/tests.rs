use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use super::sharded::Entry;
use super::{Map, SEGMENT};
use crate::circuit::{CellRef, ConnectionCell};
use crate::config::Options;
use crate::key::{Key, KeyHashBuilder, KeyView, OwnedKey};

fn cell(id: &str) -> CellRef {
    let key = Key::new(id).to_owned_key().expect("valid key");
    Arc::new(ConnectionCell::new(key, 0, &Options::new()))
}

/// The identifier of the connection a lookup of `id` by `hash` finds.
fn found(map: &Map, hash: u64, id: &str) -> Option<String> {
    map.get(hash, Key::new(id), |c| c.key().identifier().to_owned())
}

/// A key is looked up by its hash alone and its key compared in the one
/// connection found; when that connection is another key with the same hash (a
/// 64-bit collision, forced here), the lookup asks again by key and still finds the
/// right connection, or none.
#[test]
fn a_lookup_by_hash_checks_the_key_and_survives_a_collision() {
    let map = Map::new();
    for id in ["alpha", "beta"] {
        assert!(map.insert_new(&cell(id)));
    }
    let own = |id: &str| Key::new(id).key_hash();

    assert_eq!(found(&map, own("alpha"), "alpha").as_deref(), Some("alpha"));
    assert_eq!(found(&map, own("beta"), "beta").as_deref(), Some("beta"));
    assert_eq!(found(&map, own("gamma"), "gamma"), None);
    // "beta" asked with "alpha"'s hash: the table yields alpha's entry first.
    assert_eq!(found(&map, own("alpha"), "beta").as_deref(), Some("beta"));
    // An absent key with a present key's hash is still absent.
    assert_eq!(found(&map, own("alpha"), "gamma"), None);
    // The same for long keys, which take the same path.
    let long = "l".repeat(40);
    assert!(map.insert_new(&cell(&long)));
    assert_eq!(
        found(&map, own(&long), &long).as_deref(),
        Some(long.as_str())
    );
    assert_eq!(
        found(&map, own("alpha"), &long).as_deref(),
        Some(long.as_str())
    );
}

fn address(c: &ConnectionCell) -> usize {
    c.address()
}

/// A lookup by hash and address finds that very cell, never another key's or a
/// later cell of the same key; two entries under one hash (a forced 64-bit
/// collision) are each found by their own address.
#[test]
fn a_lookup_by_address_finds_that_cell_only_and_survives_a_collision() {
    let map = Map::new();
    let (alpha, beta) = (cell("alpha"), cell("beta"));
    assert!(map.insert_new(&alpha) && map.insert_new(&beta));
    let own = |id: &str| Key::new(id).key_hash();
    let at =
        |hash: u64, c: &CellRef| map.get_at(hash, address(c), |c| c.key().identifier().to_owned());
    assert_eq!(at(own("alpha"), &alpha).as_deref(), Some("alpha"));
    assert_eq!(at(own("beta"), &beta).as_deref(), Some("beta"));
    assert_eq!(at(own("alpha"), &beta), None, "another key's cell");
    assert_eq!(at(own("beta"), &alpha), None);
    // Removed, then registered again: the old cell is gone, the new one found.
    assert!(map.remove_if(&Key::new("alpha"), |_| true).is_some());
    assert_eq!(at(own("alpha"), &alpha), None);
    let again = cell("alpha");
    assert!(map.insert_new(&again));
    assert_eq!(at(own("alpha"), &alpha), None, "not the new connection");
    assert_eq!(at(own("alpha"), &again).as_deref(), Some("alpha"));
    // Two keys stored under one hash: each is found by its address.
    let shared = own("alpha") ^ 0x5555;
    let (x, y) = (cell("x"), cell("y"));
    map.inner
        .insert(Entry::with_hash(shared, CellRef::clone(&x)), ());
    map.inner
        .insert(Entry::with_hash(shared, CellRef::clone(&y)), ());
    assert_eq!(at(shared, &x).as_deref(), Some("x"));
    assert_eq!(at(shared, &y).as_deref(), Some("y"));
    assert_eq!(at(shared, &beta), None);
}

/// How many times one sweep visited each cell, by address.
fn visits(map: &Map) -> HashMap<usize, u32> {
    let mut seen = HashMap::new();
    map.sweep(|segment| {
        for (_, c) in segment.cells() {
            *seen.entry(address(c)).or_insert(0) += 1;
        }
    });
    seen
}

#[test]
fn the_slot_costs_the_cell_no_bytes() {
    // 216 bytes + the Arc's two counts = a 232-byte request, glibc's 240-byte chunk;
    // one byte more is 256. (The cell was at most 184 bytes, a 208-byte chunk, until
    // keys of up to 46 bytes went inline: docs/architecture.md, "Memory per
    // connection".)
    assert!(std::mem::size_of::<ConnectionCell>() <= 216);
}

fn key_of<'a>(scope: Option<&'a str>, id: &'a str) -> Key<'a> {
    match scope {
        Some(s) => Key::scoped(s, id),
        None => Key::new(id),
    }
}

/// Finds `key` as every lookup does: by its hash, then its parts.
fn find(map: &Map, key: Key<'_>) -> Option<CellRef> {
    map.get(key.key_hash(), key, CellRef::clone)
}

/// The entry's cached hash is what every probe of its key hashes to, through the
/// map's hasher and through any other (the entry writes the same one `u64`).
fn assert_entry_hashes_like_its_probes(scope: Option<&str>, id: &str) {
    use std::hash::BuildHasher;
    let key = key_of(scope, id);
    let owned = key.to_owned_key().expect("valid key");
    let entry = Entry::new(Arc::new(ConnectionCell::new(
        owned.clone(),
        0,
        &Options::new(),
    )));
    let other = std::collections::hash_map::RandomState::new();
    let view: &dyn KeyView = &key;
    let by_map = KeyHashBuilder::default();
    assert_eq!(by_map.hash_one(&entry), by_map.hash_one(&owned), "{key:?}");
    assert_eq!(by_map.hash_one(&entry), by_map.hash_one(view), "{key:?}");
    assert_eq!(other.hash_one(&entry), other.hash_one(&owned), "{key:?}");
    assert_eq!(other.hash_one(&entry), other.hash_one(view), "{key:?}");
    if let Some(short) = OwnedKey::short(key) {
        assert_eq!(by_map.hash_one(&entry), by_map.hash_one(&short), "{key:?}");
    }
    let twin = Entry::new(Arc::new(ConnectionCell::new(owned, 0, &Options::new())));
    assert_eq!(entry, twin, "same key, same entry");
}

#[test]
fn an_entry_hashes_like_every_probe_of_its_key_at_every_length_and_split() {
    let text: String = ('a'..='z').cycle().take(40).collect();
    for n in 1..=30 {
        assert_entry_hashes_like_its_probes(None, &text[..n]);
        for s in 1..n {
            assert_entry_hashes_like_its_probes(Some(&text[..s]), &text[s..n]);
        }
    }
}

mod prop {
    use super::*;
    use crate::key::tests::prop::part;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_entry_hashes_like_every_probe_of_its_key(
            scope in proptest::option::of(part()),
            id in part(),
        ) {
            assert_entry_hashes_like_its_probes(scope.as_deref(), &id);
            // And the map finds it by the probe a lookup uses, and removes it by view.
            let map = Map::new();
            let key = key_of(scope.as_deref(), &id);
            let c = Arc::new(ConnectionCell::new(
                key.to_owned_key().expect("valid key"),
                0,
                &Options::new(),
            ));
            prop_assert!(map.insert_new(&c));
            prop_assert!(find(&map, key).is_some_and(|f| Arc::ptr_eq(&f, &c)));
            prop_assert!(map.remove_if(&key, |_| true).is_some());
            prop_assert!(find(&map, key).is_none());
        }
    }
}

/// Growing a shard's table rehashes its entries from the cached hashes; every key
/// must still be found, by both probe forms, and still be refused as a duplicate.
#[test]
fn a_map_that_grew_finds_every_key_by_every_form() {
    let map = Map::new();
    let long = "l".repeat(30);
    let parts: Vec<(Option<&str>, String)> = (0..20_000)
        .map(|i| match i % 4 {
            0 => (None, format!("conn-{i:07}")),
            1 => (Some("scope"), format!("{i}")),
            2 => (None, format!("{long}-{i}")),
            _ => (Some(long.as_str()), format!("{i}")),
        })
        .collect();
    let keys: Vec<Key<'_>> = parts.iter().map(|(s, id)| key_of(*s, id)).collect();
    let cells: Vec<CellRef> = keys
        .iter()
        .map(|k| {
            let c = Arc::new(ConnectionCell::new(
                k.to_owned_key().expect("valid key"),
                0,
                &Options::new(),
            ));
            assert!(map.insert_new(&c), "{k:?}");
            c
        })
        .collect();
    for (k, c) in keys.iter().zip(&cells) {
        let found = find(&map, *k).expect("registered");
        assert!(Arc::ptr_eq(&found, c), "{k:?}");
        let twin = Arc::new(ConnectionCell::new(
            k.to_owned_key().expect("valid key"),
            0,
            &Options::new(),
        ));
        assert!(!map.insert_new(&twin), "{k:?} is a duplicate");
    }
    for k in keys.iter().step_by(2) {
        assert!(map.remove_if(k, |_| true).is_some(), "{k:?}");
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(find(&map, *k).is_some(), i % 2 == 1, "{k:?}");
    }
}

#[test]
fn a_sweep_visits_every_connection_present_throughout_exactly_once() {
    let map = Arc::new(Map::new());
    let stable: Vec<CellRef> = (0..3 * SEGMENT + 7)
        .map(|i| cell(&format!("stable-{i}")))
        .collect();
    for c in &stable {
        assert!(map.insert_new(c));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn: Vec<_> = (0..2)
        .map(|t| {
            let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0u32;
                // Relaxed: a flag polled in a loop; the join orders the rest.
                while !stop.load(Ordering::Relaxed) || i < 200 {
                    let c = cell(&format!("churn-{t}-{}", i % 50));
                    assert!(map.insert_new(&c));
                    assert!(map.remove_if(c.key(), |_| true).is_some());
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..20 {
        let seen = visits(&map);
        for c in &stable {
            assert_eq!(seen.get(&address(c)), Some(&1), "visited exactly once");
        }
        assert!(seen.values().all(|&n| n == 1), "no cell twice");
    }
    // Relaxed: see above.
    stop.store(true, Ordering::Relaxed);
    for t in churn {
        t.join().expect("churn thread");
    }
    let seen = visits(&map);
    assert_eq!(seen.len(), stable.len(), "the churn left nothing behind");
}

#[test]
fn a_freed_slot_is_reused() {
    let map = Map::new();
    let a = cell("a");
    assert!(map.insert_new(&a));
    let slot = a.slot();
    assert!(map.remove_if(a.key(), |_| true).is_some());
    assert_eq!(
        Arc::strong_count(&a),
        1,
        "neither the map nor the list holds it"
    );
    let b = cell("b");
    assert!(map.insert_new(&b));
    assert_eq!(b.slot(), slot);
}

#[test]
fn a_duplicate_leaves_the_list_again() {
    let map = Map::new();
    let (a, twin) = (cell("a"), cell("a"));
    assert!(map.insert_new(&a));
    assert!(!map.insert_new(&twin));
    assert_eq!(Arc::strong_count(&twin), 1);
    assert_eq!(visits(&map).len(), 1);
}

/// Whether a sweep meets `c` in the list, entered or not (`Segment::all_cells`).
fn in_list(map: &Map, c: &CellRef) -> bool {
    let mut met = false;
    map.sweep(|segment| met |= segment.all_cells().any(|(_, x)| Arc::ptr_eq(x, c)));
    met
}

/// A registration's cell is in the sweep list before the map decides; a walk that
/// meets it there (here from inside `admit`, which runs between the two) does not see
/// it as a connection until the map took it, and never if it was refused.
#[test]
fn a_walk_sees_a_registration_only_once_the_map_took_it() {
    let map = Map::new();
    let a = cell("a");
    assert!(map.insert_new(&a));
    let (refused, taken) = (cell("refused"), cell("taken"));
    let out = map.insert_new_with(&refused, || {
        assert!(
            in_list(&map, &refused),
            "the walk meets the cell in the list"
        );
        let seen = visits(&map);
        assert_eq!(seen.len(), 1, "but not as a connection");
        assert!(seen.contains_key(&address(&a)));
        Err::<(), ()>(())
    });
    assert_eq!(out, Err(()));
    assert!(!in_list(&map, &refused), "the refused cell left the list");
    assert_eq!(Arc::strong_count(&refused), 1);
    let out = map.insert_new_with(&taken, || {
        assert!(in_list(&map, &taken));
        assert!(
            !visits(&map).contains_key(&address(&taken)),
            "not taken yet"
        );
        Ok::<_, ()>(())
    });
    assert_eq!(out, Ok(Some(())));
    assert!(
        visits(&map).contains_key(&address(&taken)),
        "taken: a connection"
    );
    assert_eq!(
        a.slot() & (1 << 63),
        0,
        "the slot reads without the entered bit"
    );
}

/// The duplicate of a registered key waits for the shard's write lock with its cell in
/// the sweep list (a reader holds the shard here); walks meanwhile see the registered
/// connection once, and the duplicate never.
#[test]
fn a_duplicate_waiting_for_the_map_is_no_connection_to_a_walk() {
    let map = Map::new();
    let a = cell("a");
    assert!(map.insert_new(&a));
    let twin = cell("a");
    let hash = a.key().key_hash();
    thread::scope(|s| {
        let read = map.inner.get(&hash).expect("a is in the map");
        let registering = s.spawn(|| map.insert_new(&twin));
        // The twin enters the list, then waits for the shard this thread reads.
        while !in_list(&map, &twin) {
            thread::yield_now();
        }
        for _ in 0..3 {
            let seen = visits(&map);
            assert_eq!(seen.len(), 1, "one connection, once");
            assert_eq!(seen.get(&address(&a)), Some(&1));
        }
        drop(read);
        assert!(!registering.join().expect("registering thread"), "refused");
    });
    assert!(!in_list(&map, &twin));
    assert_eq!(Arc::strong_count(&twin), 1);
}

#[test]
fn changes_while_a_sweep_has_the_list_out_are_applied_when_it_comes_back() {
    let map = Map::new();
    let (a, b, c) = (cell("a"), cell("b"), cell("c"));
    assert!(map.insert_new(&a));
    assert!(map.insert_new(&b));
    let slot_a = a.slot();
    let mut visited = Vec::new();
    map.sweep(|segment| {
        if segment.cells().any(|(_, x)| Arc::ptr_eq(x, &a)) {
            // This thread's stripe is out: both changes are queued.
            assert!(map.remove_if(a.key(), |_| true).is_some());
            assert!(map.insert_new(&c));
        }
        visited.extend(segment.cells().map(|(_, x)| address(x)));
    });
    assert_eq!(
        visited,
        [address(&a), address(&b)],
        "the list as it was taken"
    );
    let seen = visits(&map);
    assert_eq!(seen.len(), 2);
    assert!(seen.contains_key(&address(&b)) && seen.contains_key(&address(&c)));
    assert_eq!(Arc::strong_count(&a), 1, "a's queued removal was applied");
    let d = cell("d");
    assert!(map.insert_new(&d));
    assert_eq!(d.slot(), slot_a, "and its slot freed");
}

#[test]
fn a_slot_released_by_the_sweep_is_reused() {
    let map = Map::new();
    let (a, b) = (cell("a"), cell("b"));
    assert!(map.insert_new(&a));
    assert!(map.insert_new(&b));
    let slot_a = a.slot();
    map.sweep(|segment| {
        let pos = segment
            .cells()
            .find(|(_, x)| Arc::ptr_eq(x, &a))
            .map(|(pos, _)| pos);
        if let Some(pos) = pos {
            assert!(map.remove_swept(a.key(), |_| true).is_some());
            segment.release(pos);
        }
    });
    assert_eq!(Arc::strong_count(&a), 1);
    assert_eq!(visits(&map).len(), 1);
    let c = cell("c");
    assert!(map.insert_new(&c));
    assert_eq!(c.slot(), slot_a);
}

#[test]
fn a_panicking_sweep_puts_the_list_back() {
    let map = Map::new();
    let cells: Vec<CellRef> = (0..10).map(|i| cell(&format!("c{i}"))).collect();
    for c in &cells {
        assert!(map.insert_new(c));
    }
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        map.sweep(|_| panic!("a sweep that fails"));
    }));
    assert!(panicked.is_err());
    let late = cell("late");
    assert!(map.insert_new(&late));
    assert_eq!(visits(&map).len(), 11);
}

#[test]
fn concurrent_sweeps_each_visit_every_connection_once() {
    let map = Arc::new(Map::new());
    let cells: Vec<CellRef> = (0..2 * SEGMENT).map(|i| cell(&format!("c{i}"))).collect();
    for c in &cells {
        assert!(map.insert_new(c));
    }
    let sweepers: Vec<_> = (0..2)
        .map(|_| {
            let map = Arc::clone(&map);
            thread::spawn(move || (0..10).map(|_| visits(&map)).collect::<Vec<_>>())
        })
        .collect();
    for s in sweepers {
        for seen in s.join().expect("sweeper") {
            assert_eq!(seen.len(), cells.len());
            assert!(seen.values().all(|&n| n == 1));
        }
    }
}

/// `Map::shard_of` (the benchmark hook) names the shard dashmap itself picks.
#[test]
fn shard_of_agrees_with_dashmap() {
    let map = Map::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..10_000 {
        let id = format!("k{i}");
        let hash = Key::new(&id).key_hash();
        let shard = map.shard_of(hash);
        assert_eq!(shard, map.inner.determine_map(&hash));
        assert!(shard < super::SHARDS);
        seen.insert(shard);
    }
    assert_eq!(seen.len(), super::SHARDS, "10k keys cover every shard");
}
