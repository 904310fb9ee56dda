//! Scope operations racing reports and registrations, with exact counts (SPEC §11):
//! the count an operation returns is the number of connections it applied to, each of
//! those changed state exactly once with cause `Scope` (and no other did), every
//! connection present for the whole operation is among them, and every report that
//! returned `Ok` is in the totals.
//!
//! The heavy variant is `#[ignore]`d: `cargo test --release -p brama-sync --test
//! scope_stress -- --ignored`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;

use brama_sync::{
    Brama, Cause, Event, EventKind, EventType, Filter, Janitor, Key, OpenOptions, Options, State,
};

const SCOPE: &str = "payments";

struct Race {
    brama: Brama,
    /// Registered before the operation starts.
    before: usize,
    /// Registered by the registrar while it runs (identifiers `new-<i>`).
    added: Vec<String>,
    /// What the operation returned.
    count: usize,
    /// Reports that returned `Ok`: (successes, failures).
    reported: (u64, u64),
    events: Vec<Event>,
}

fn id(i: usize) -> String {
    format!("old-{i}")
}

/// Registers `before` connections in the scope (and as many elsewhere), then runs `op`
/// while two threads report on them and one registers more in the scope.
fn race(before: usize, reports: u64, op: impl FnOnce(&Brama) -> usize + Send) -> Race {
    let brama = Brama::builder()
        .failure_threshold(u32::MAX) // reports never change a state on their own
        .janitor(Janitor::Manual)
        .event_queue_capacity(1 << 20)
        .build()
        .unwrap();
    for i in 0..before {
        brama
            .register(Key::scoped(SCOPE, &id(i)), Options::new())
            .unwrap();
        brama
            .register(Key::scoped("other", &id(i)), Options::new())
            .unwrap();
    }
    let sub = brama.subscribe(Filter::new().event_types([
        EventType::StateChanged,
        EventType::Registered,
        EventType::Unregistered,
    ]));
    let done = AtomicBool::new(false);
    let (ok_success, ok_failure) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Barrier::new(4);
    let mut added = Vec::new();
    let mut count = 0;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (brama, start, done) = (&brama, &start, &done);
            let (ok_success, ok_failure) = (&ok_success, &ok_failure);
            s.spawn(move || {
                start.wait();
                let mut n = 0u64;
                while n < reports || !done.load(Ordering::Relaxed) {
                    let i = ((n * 7919 + t * 104_729) % before as u64) as usize;
                    let name = id(i);
                    let key = Key::scoped(SCOPE, &name);
                    let ok = if (n + t) % 3 == 0 {
                        brama.failure(key).is_ok().then_some(ok_failure)
                    } else {
                        brama.success(key).is_ok().then_some(ok_success)
                    };
                    if let Some(c) = ok {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            });
        }
        let registrar = {
            let (brama, start, done) = (&brama, &start, &done);
            s.spawn(move || {
                start.wait();
                let mut added = Vec::new();
                let mut i = 0;
                while !done.load(Ordering::Relaxed) || i < 64 {
                    let name = format!("new-{i}");
                    brama
                        .register(Key::scoped(SCOPE, &name), Options::new())
                        .unwrap();
                    added.push(name);
                    i += 1;
                }
                added
            })
        };
        start.wait();
        count = op(&brama);
        done.store(true, Ordering::Relaxed);
        added = registrar.join().unwrap();
    });
    assert_eq!(sub.dropped(), 0);
    Race {
        events: sub.try_iter().collect(),
        brama,
        before,
        added,
        count,
        reported: (
            ok_success.load(Ordering::Relaxed),
            ok_failure.load(Ordering::Relaxed),
        ),
    }
}

/// The identifiers with a `StateChanged` of cause `Scope`, and how many each has.
fn scope_changes(events: &[Event]) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for e in events {
        if let EventKind::StateChanged {
            cause: Cause::Scope,
            ..
        } = e.kind
        {
            assert_eq!(e.scope(), Some(SCOPE), "only the scope's connections");
            *seen.entry(e.identifier().to_owned()).or_insert(0) += 1;
        }
    }
    seen
}

fn open_scope_racing(before: usize, reports: u64) {
    let r = race(before, reports, |b| {
        b.open_scope(SCOPE, OpenOptions::new().indefinitely().reason("drill"))
    });
    let changed = scope_changes(&r.events);
    assert!(
        changed.values().all(|&n| n == 1),
        "one StateChanged per connection"
    );
    assert_eq!(
        changed.len(),
        r.count,
        "the count is the connections it changed"
    );
    let open: BTreeSet<String> = r
        .brama
        .connections_in(SCOPE)
        .into_iter()
        .filter(|s| s.state == State::Open)
        .map(|s| s.identifier)
        .collect();
    assert_eq!(
        open,
        changed.keys().cloned().collect(),
        "and exactly those are open"
    );
    for i in 0..r.before {
        assert!(
            open.contains(&id(i)),
            "{}: present throughout, so opened",
            id(i)
        );
    }
    assert!(r.count >= r.before && r.count <= r.before + r.added.len());
    assert_eq!(r.brama.health_in("other").count(State::Open), 0);
    // Every report that returned Ok is counted.
    let (mut successes, mut failures) = (0, 0);
    for s in r.brama.connections_in(SCOPE) {
        successes += s.total_successes;
        failures += s.total_failures;
    }
    assert_eq!((successes, failures), r.reported);
    assert_eq!(r.brama.len(), 2 * r.before + r.added.len());
}

fn unregister_scope_racing(before: usize, reports: u64) {
    let r = race(before, reports, |b| b.unregister_scope(SCOPE));
    let removed: BTreeSet<&str> = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Unregistered)
        .map(Event::identifier)
        .collect();
    let unregistered = r
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Unregistered)
        .count();
    assert_eq!(
        unregistered, r.count,
        "one Unregistered per connection removed"
    );
    assert_eq!(removed.len(), r.count);
    for i in 0..r.before {
        assert!(
            removed.contains(id(i).as_str()),
            "{}: present throughout",
            id(i)
        );
    }
    let left: BTreeSet<String> = r
        .brama
        .connections_in(SCOPE)
        .into_iter()
        .map(|s| s.identifier)
        .collect();
    assert_eq!(left.len() + r.count, r.before + r.added.len(), "exact");
    assert!(left.iter().all(|k| !removed.contains(k.as_str())));
    assert_eq!(r.brama.len(), r.before + left.len());
}

#[test]
fn open_scope_racing_reports_and_registrations_counts_exactly() {
    for _ in 0..4 {
        open_scope_racing(500, 2_000);
    }
}

#[test]
fn unregister_scope_racing_reports_and_registrations_counts_exactly() {
    for _ in 0..4 {
        unregister_scope_racing(500, 2_000);
    }
}

#[test]
#[ignore = "heavy: run with --release --ignored"]
fn scope_operations_racing_heavy() {
    for _ in 0..20 {
        open_scope_racing(20_000, 200_000);
        unregister_scope_racing(20_000, 200_000);
    }
}
