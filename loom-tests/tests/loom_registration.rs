//! A registration refused by the map (a duplicate, or `max_connections` reached) is
//! never a connection to a walk of the sweep list: the protocol of
//! `ConnectionCell::mark_entered` and `Segment::cells`, modelled here because the loom
//! map has no sweep list, with two broken twins loom catches.
#![cfg(brama_loom)]

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The sweep list's protocol (the loom map has no list, so it is modelled here): a
/// registration puts its cell in the list, then tries the map and, under the map's
/// lock, marks the cell entered (`ConnectionCell::mark_entered`); a refused one leaves
/// the list again. A walk takes the list and keeps the entered cells (`Segment::cells`).
/// Two registrations of one key and a walk: a walk sees the key at most once, and a
/// registration's own walk after it returned (won, or refused as the duplicate) sees it
/// exactly once. Broken twins: `late` marks the cell entered after the map's lock is
/// released, `all` walks keep every cell of the list.
fn refused_registration_model(late: bool, all: bool) {
    type Cell = (&'static str, AtomicBool);
    let list: Arc<Mutex<Vec<Arc<Cell>>>> = Arc::new(Mutex::new(Vec::new()));
    let map: Arc<Mutex<HashMap<&'static str, Arc<Cell>>>> = Arc::new(Mutex::new(HashMap::new()));
    let walk = move |list: &Mutex<Vec<Arc<Cell>>>| -> Vec<&'static str> {
        let cells = list.lock().unwrap().clone();
        // Acquire: as `is_entered`.
        cells
            .iter()
            .filter(|c| all || c.1.load(Ordering::Acquire))
            .map(|c| c.0)
            .collect()
    };
    let registrants: Vec<_> = (0..2)
        .map(|_| {
            let (list, map) = (Arc::clone(&list), Arc::clone(&map));
            thread::spawn(move || {
                let cell = Arc::new(("db", AtomicBool::new(false)));
                list.lock().unwrap().push(Arc::clone(&cell));
                let mut held = map.lock().unwrap();
                let won = !held.contains_key("db");
                if won {
                    held.insert("db", Arc::clone(&cell));
                }
                // Release: as `mark_entered` (the twin's fault is where, not how).
                let mark = || cell.1.store(true, Ordering::Release);
                if won && !late {
                    mark();
                }
                drop(held);
                if won && late {
                    mark();
                }
                if !won {
                    list.lock().unwrap().retain(|c| !Arc::ptr_eq(c, &cell));
                }
                assert_eq!(walk(&list), ["db"], "registered (won: {won}): seen once");
                won
            })
        })
        .collect();
    let seen = walk(&list);
    assert!(seen.len() <= 1, "seen once: {seen:?}");
    let won: Vec<bool> = registrants.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        (won.iter().filter(|&&w| w).count(), walk(&list)),
        (1, vec!["db"])
    );
}

#[test]
fn a_refused_registration_is_never_seen_by_a_walk() {
    support::check("registry/refused registration", || {
        refused_registration_model(false, false)
    });
}

#[test]
#[should_panic(expected = "seen once")]
fn broken_walk_keeping_cells_not_entered_is_caught() {
    support::check("registry/broken twin, walk keeps every cell", || {
        refused_registration_model(false, true)
    });
}

#[test]
#[should_panic(expected = "seen once")]
fn broken_mark_entered_after_the_map_lock_is_caught() {
    support::check("registry/broken twin, entered after the lock", || {
        refused_registration_model(true, false)
    });
}
