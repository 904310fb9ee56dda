//! A refused registration changes nothing, even for a walk that races it (SPEC: "Registering
//! twice is `Err(AlreadyRegistered)` and changes nothing"; "registrations past
//! `max_connections` are rejected ... and change nothing").
//!
//! A registration puts its new cell in the sweep list before it tries the map. Before
//! the fix a refused one left the list again, but a walk (`connections`, `health`,
//! `snapshot`, the scope operations) that had taken that list in between counted it as
//! a connection: the key listed twice, a snapshot that would not restore ("the key
//! appears twice"), `close_scope` acting on (and publishing `StateChanged` for) a
//! connection that was never registered. Here threads hammer refused registrations
//! while the main thread walks a fixed number of rounds and checks that every walk sees
//! exactly the one registered connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;

use brama_sync::{Brama, Error, Event, EventKind, Filter, Key, Mode, OpenOptions, Options};

/// Rounds of checks; before the fix both tests failed within the first few.
const ROUNDS: usize = 2_000;
/// Threads registering in a loop (on a 2-core machine they share it with the checks).
const HAMMERS: usize = 2;
const SCOPE: &str = "s";
const LIVE: Key<'static> = Key::scoped(SCOPE, "live");

/// Every walk of one round sees exactly the one registered connection, `LIVE`; a
/// snapshot restores (into `other`, over what the last round restored there).
fn check_round(brama: &Brama, other: &Brama, round: usize) {
    let only_live = |what: &str, ids: Vec<String>| {
        assert_eq!(
            ids,
            ["live"],
            "round {round}: {what} must list the one registered connection once"
        );
    };
    only_live(
        "connections()",
        brama
            .connections()
            .into_iter()
            .map(|s| s.identifier)
            .collect(),
    );
    only_live(
        "connections_in(scope)",
        brama
            .connections_in(SCOPE)
            .into_iter()
            .map(|s| s.identifier)
            .collect(),
    );
    assert_eq!(brama.health().total(), 1, "round {round}: health().total()");
    assert_eq!(
        brama.health_in(SCOPE).total(),
        1,
        "round {round}: health_in"
    );
    let snapshot = brama.snapshot();
    only_live(
        "snapshot()",
        snapshot
            .connections
            .iter()
            .map(|c| c.identifier.clone())
            .collect(),
    );
    assert_eq!(
        other.restore(&snapshot).map_err(|e| e.to_string()),
        Ok(1),
        "round {round}: a snapshot taken restores"
    );
    // The scope operations act on the one connection (an open circuit is re-armed, a
    // closed one closed again: each counts).
    let n = if round % 2 == 0 {
        brama.open_scope(SCOPE, OpenOptions::new())
    } else {
        brama.close_scope(SCOPE)
    };
    assert_eq!(
        n, 1,
        "round {round}: a scope operation counts one connection"
    );
    assert_eq!(brama.reset_scope(SCOPE), 1, "round {round}: reset_scope");
    // A layer's refresh walk meets registrations in progress, and counts none refused.
    assert_eq!(
        brama.set_scope_mode(SCOPE, Mode::Normal),
        1,
        "round {round}: set_scope_mode"
    );
}

/// Runs `hammer` on `HAMMERS` threads until the main thread's `ROUNDS` of checks end.
fn race(brama: &Brama, hammer: impl Fn(usize, u64) + Sync) {
    let stop = AtomicBool::new(false);
    let start = Barrier::new(HAMMERS + 1);
    thread::scope(|s| {
        for t in 0..HAMMERS {
            let (stop, start, hammer) = (&stop, &start, &hammer);
            s.spawn(move || {
                start.wait();
                let mut i = 0u64;
                // Relaxed: a flag polled in a loop; the scope's join orders the rest.
                while !stop.load(Ordering::Relaxed) {
                    hammer(t, i);
                    i += 1;
                    if i % 64 == 0 {
                        // Leaves the checking thread a core on a small machine.
                        thread::yield_now();
                    }
                }
            });
        }
        start.wait();
        // Stops the hammers even if a check panics, so the scope can join them.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                // Relaxed: see above.
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let other = Brama::builder().build().expect("valid");
        for round in 0..ROUNDS {
            check_round(brama, &other, round);
        }
    });
}

/// No event names a connection other than `LIVE`, and no sweep examined more than it.
fn assert_only_live_events(events: impl Iterator<Item = Event>) {
    for e in events {
        match e.kind {
            EventKind::Swept { examined, .. } => {
                assert!(examined <= 1, "a sweep examined {examined} connections");
            }
            _ if e.key().is_none() => {}
            _ => assert_eq!(
                e.key(),
                Some(LIVE),
                "an event of a connection never registered: {:?}",
                e.kind
            ),
        }
    }
}

#[test]
fn a_duplicate_registration_is_never_seen_by_a_walk() {
    let brama = Brama::builder()
        .event_queue_capacity(1 << 16)
        .build()
        .expect("valid");
    brama.register(LIVE, Options::new()).unwrap();
    let sub = brama.subscribe(Filter::new());
    let refused = AtomicBool::new(false);
    race(&brama, |_, _| {
        assert!(matches!(
            brama.register(LIVE, Options::new()),
            Err(Error::AlreadyRegistered)
        ));
        // Relaxed: read after the join.
        refused.store(true, Ordering::Relaxed);
    });
    assert!(refused.load(Ordering::Relaxed), "the hammers never ran");
    assert_eq!(brama.len(), 1);
    assert_only_live_events(sub.try_iter());
}

#[test]
fn a_registration_past_max_connections_is_never_seen_by_a_walk() {
    let brama = Brama::builder()
        .max_connections(1)
        .auto_register(true)
        .event_queue_capacity(1 << 16)
        .build()
        .expect("valid");
    brama.register(LIVE, Options::new()).unwrap();
    let sub = brama.subscribe(Filter::new());
    race(&brama, |t, i| {
        // A new key each time: auto-registration tries it and is refused at capacity.
        let id = format!("ghost-{t}-{}", i % 64);
        brama.available(Key::scoped(SCOPE, &id));
        assert!(matches!(
            brama.register(Key::scoped(SCOPE, &id), Options::new()),
            Err(Error::CapacityExceeded)
        ));
    });
    assert_eq!(brama.len(), 1);
    assert!(brama.status(Key::scoped(SCOPE, "ghost-0-0")).is_err());
    let events: Vec<Event> = sub.try_iter().collect();
    assert!(
        events
            .iter()
            .all(|e| !matches!(e.kind, EventKind::Registered)),
        "nothing was registered"
    );
    assert_only_live_events(events.into_iter());
}
