//! SPEC §11, snapshots: `snapshot()` captures every connection (key, overrides,
//! metadata, mode, state, counters, an open circuit's remaining time) and the scope
//! defaults; `Builder::restore` and `Brama::restore` bring them back, on another clock,
//! with `StateChanged` events of cause `Restore`; a bad snapshot is a clear error and
//! restores nothing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, EventType, Filter, Janitor, Key, ManualClock, Mode,
    OpenOptions, Options, Snapshot, State, Status, MAX_SNAPSHOT_TOTAL, SNAPSHOT_VERSION,
};

const EXPIRY: Duration = Duration::from_secs(60);
const NS: Duration = Duration::from_nanos(1);

fn builder(clock: &ManualClock) -> brama_sync::Builder {
    Brama::builder()
        .failure_threshold(3)
        .expiry(EXPIRY)
        .janitor(Janitor::Manual)
        .clock(clock.clone())
}

const UNKNOWN: Key<'static> = Key::new("unknown");
const CLOSED: Key<'static> = Key::scoped("payments", "closed");
const OPEN: Key<'static> = Key::scoped("payments", "open");
const FOREVER: Key<'static> = Key::new("forever");
const HALF: Key<'static> = Key::scoped("search", "half");
const FORCED: Key<'static> = Key::new("forced");
const KEYS: [Key<'static>; 6] = [UNKNOWN, CLOSED, OPEN, FOREVER, HALF, FORCED];

/// A registry with a connection in each state, overrides, metadata, modes and a scope
/// template; the clock stands at 1000 s, and `OPEN` has 45 s of its 60 left.
fn source() -> (ManualClock, Brama) {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(1000));
    let brama = builder(&clock).build().unwrap();
    brama
        .configure_scope(
            "payments",
            Options::new().half_open_probes(2).critical(true),
        )
        .unwrap();
    brama
        .register(UNKNOWN, Options::new().metadata("team", "core"))
        .unwrap();
    brama
        .register(CLOSED, Options::new().failure_threshold(5))
        .unwrap();
    brama.success(CLOSED).unwrap();
    brama.failure_with(CLOSED, "slow").unwrap();
    brama.failure(CLOSED).unwrap();
    brama.register(OPEN, Options::new()).unwrap();
    for _ in 0..3 {
        brama.failure(OPEN).unwrap();
    }
    assert!(!brama.available(OPEN));
    brama.register(FOREVER, Options::new()).unwrap();
    brama
        .open_circuit(FOREVER, OpenOptions::new().indefinitely())
        .unwrap();
    brama
        .register(HALF, Options::new().expiry(Duration::from_secs(5)))
        .unwrap();
    brama
        .open_circuit(HALF, OpenOptions::new().duration(Duration::from_secs(5)))
        .unwrap();
    brama
        .register(FORCED, Options::new().mode(Mode::ForcedOpen))
        .unwrap();
    assert!(!brama.available(FORCED));
    clock.advance(Duration::from_secs(15));
    assert!(brama.available(HALF), "half-open, this was its probe");
    assert_eq!(brama.status(HALF).unwrap().state, State::HalfOpen);
    (clock, brama)
}

/// What must survive a restore: everything, times as distances from `at` (the
/// snapshot, or the restore).
fn comparable(s: &Status, at: SystemTime) -> impl PartialEq + std::fmt::Debug {
    let ago = |t: SystemTime| at.duration_since(t).unwrap();
    (
        (s.identifier.clone(), s.scope.clone(), s.state, s.mode),
        (
            s.consecutive_failures,
            s.total_successes,
            s.total_failures,
            s.total_rejected,
            s.trips,
        ),
        (s.open_duration, s.metadata.clone(), s.since_state_change),
        (
            ago(s.registered_at),
            s.last_success_at.map(ago),
            s.last_failure_at.map(ago),
            s.opened_at.map(ago),
            ago(s.last_state_change_at),
        ),
    )
}

#[test]
fn a_restart_restores_every_connection_on_another_clock() {
    let (old_clock, old) = source();
    let snapshot = old.snapshot();
    assert_eq!(snapshot.version, SNAPSHOT_VERSION);
    assert_eq!(snapshot.connections.len(), 6);
    let before: Vec<_> = KEYS
        .iter()
        .map(|k| comparable(&old.status(*k).unwrap(), snapshot.taken_at))
        .collect();
    let _ = old_clock;

    // A new process whose clock reads 5000 s where the old one read 1015 s.
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(5000));
    let new = builder(&clock).restore(&snapshot).build().unwrap();
    let now = new.snapshot().taken_at;
    let after: Vec<_> = KEYS
        .iter()
        .map(|k| comparable(&new.status(*k).unwrap(), now))
        .collect();
    assert_eq!(
        after, before,
        "every field, every time at the same distance"
    );

    // The scope's defaults came back (two probes), and each connection's own.
    assert_eq!(
        new.scope_defaults("payments"),
        Some(Options::new().half_open_probes(2).critical(true))
    );
    new.close_circuit(CLOSED).unwrap();
    for _ in 0..4 {
        new.failure(CLOSED).unwrap();
    }
    assert_eq!(
        new.status(CLOSED).unwrap().state,
        State::Closed,
        "its own 5"
    );

    // OPEN had 45 s left, counted from the restore on the new clock.
    clock.advance(Duration::from_secs(45) - NS);
    assert!(!new.available(OPEN));
    clock.advance(NS);
    assert!(new.available(OPEN), "half-open at exactly 45 s");
    assert!(new.available(OPEN), "the scope's second probe");
    assert!(!new.available(OPEN), "two probes, no more");
    clock.advance(Duration::from_secs(100 * 365 * 24 * 3600));
    assert!(!new.available(FOREVER), "open until closed by hand");
    // HALF came back half-open with its probe slots free (a new cycle).
    assert!(new.available(HALF));
    new.success(HALF).unwrap();
    assert_eq!(new.status(HALF).unwrap().state, State::Closed);
    assert!(!new.available(FORCED), "its own mode came back");
}

#[test]
fn a_clock_that_starts_at_zero_keeps_the_open_time_left() {
    let (_, old) = source();
    let snapshot = old.snapshot();
    let clock = ManualClock::new();
    let new = builder(&clock).restore(&snapshot).build().unwrap();
    // Times before the new clock's zero (all of them) are shown at its zero.
    let s = new.status(OPEN).unwrap();
    assert_eq!(s.since_state_change, Duration::ZERO);
    assert_eq!(s.opened_at, Some(s.registered_at));
    // The open time left is exact.
    clock.advance(Duration::from_secs(45) - NS);
    assert_eq!(new.state(OPEN).unwrap(), State::Open);
    clock.advance(NS);
    assert_eq!(new.state(OPEN).unwrap(), State::HalfOpen);
}

#[test]
fn restored_state_changes_are_events_with_cause_restore() {
    let (_, old) = source();
    let snapshot = old.snapshot();
    let clock = ManualClock::new();
    let new = builder(&clock).build().unwrap();
    new.register(OPEN, Options::new()).unwrap();
    new.register(UNKNOWN, Options::new()).unwrap();
    let sub = new.subscribe(Filter::new());

    assert_eq!(new.restore(&snapshot), Ok(6));

    let events: Vec<Event> = sub.try_iter().collect();
    let registered: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Registered)
        .map(Event::identifier)
        .collect();
    assert_eq!(
        registered,
        ["closed", "forever", "half", "forced"],
        "only those that were not here, in the snapshot's order"
    );
    let mut changes: Vec<(&str, State, State, Cause)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StateChanged { from, to, cause } => Some((e.identifier(), from, to, cause)),
            _ => None,
        })
        .collect();
    changes.sort_by_key(|c| c.0);
    assert_eq!(
        changes,
        [
            ("closed", State::Unknown, State::Closed, Cause::Restore),
            ("forever", State::Unknown, State::Open, Cause::Restore),
            ("half", State::Unknown, State::HalfOpen, Cause::Restore),
            ("open", State::Unknown, State::Open, Cause::Restore),
        ],
        "one per connection whose state changed; UNKNOWN and FORCED stayed Unknown"
    );
    // Each connection's Registered comes before its StateChanged.
    let pos = |kind: EventType| {
        events
            .iter()
            .position(|e| e.identifier() == "closed" && e.event_type() == kind)
    };
    assert!(pos(EventType::Registered) < pos(EventType::StateChanged));
    let configured = events
        .iter()
        .filter(|e| e.kind == EventKind::Configured)
        .count();
    assert_eq!(configured, 1, "the scope defaults, once");
}

#[test]
fn restoring_onto_registered_connections_adds_their_totals_and_replaces_the_rest() {
    let (_, old) = source();
    let snapshot = old.snapshot();
    let clock = ManualClock::new();
    let new = builder(&clock).build().unwrap();
    new.register(
        CLOSED,
        Options::new()
            .failure_threshold(9)
            .mode(Mode::Disabled)
            .metadata("old", "entry"),
    )
    .unwrap();
    new.success(CLOSED).unwrap();
    let conn = new.connection(CLOSED).unwrap();
    new.restore(&snapshot).unwrap();
    let s = new.status(CLOSED).unwrap();
    let o = old.status(CLOSED).unwrap();
    assert_eq!(
        s.total_successes, o.total_successes,
        "Disabled counted nothing"
    );
    assert_eq!(
        s.mode,
        Mode::Normal,
        "the snapshot's overrides replace its own"
    );
    assert_eq!(s.metadata, BTreeMap::new(), "and its metadata");
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 2));
    conn.success().unwrap();
    assert_eq!(
        new.status(CLOSED).unwrap().total_successes,
        o.total_successes + 1,
        "a handle from before the restore is the same connection"
    );
    // Restored twice: the totals add up.
    new.restore(&snapshot).unwrap();
    assert_eq!(
        new.status(OPEN).unwrap().total_failures,
        2 * old.status(OPEN).unwrap().total_failures
    );
}

/// Totals at the largest a snapshot may carry, restored again and again onto the same
/// connections: they stay there (a counter's top bit is its removal seal, and two such
/// restores once set it, so the totals read near zero), and counting goes on above.
#[test]
fn repeated_restores_of_the_largest_totals_saturate_and_counting_goes_on() {
    let (_, old) = source();
    let mut snapshot = old.snapshot();
    for c in &mut snapshot.connections {
        c.total_successes = MAX_SNAPSHOT_TOTAL;
        c.total_failures = MAX_SNAPSHOT_TOTAL;
        c.total_rejected = MAX_SNAPSHOT_TOTAL;
        c.trips = MAX_SNAPSHOT_TOTAL;
    }
    let clock = ManualClock::new();
    let new = builder(&clock).restore(&snapshot).build().unwrap();
    for restores in 1..=4 {
        for key in KEYS {
            let s = new.status(key).unwrap();
            assert_eq!(
                (
                    s.total_successes,
                    s.total_failures,
                    s.total_rejected,
                    s.trips
                ),
                (
                    MAX_SNAPSHOT_TOTAL,
                    MAX_SNAPSHOT_TOTAL,
                    MAX_SNAPSHOT_TOTAL,
                    MAX_SNAPSHOT_TOTAL
                ),
                "{key} after {restores} restores"
            );
        }
        new.restore(&snapshot).unwrap();
    }
    new.success(CLOSED).unwrap();
    new.failure(CLOSED).unwrap();
    assert!(!new.available(OPEN));
    let (closed, open) = (new.status(CLOSED).unwrap(), new.status(OPEN).unwrap());
    assert_eq!(closed.total_successes, MAX_SNAPSHOT_TOTAL + 1);
    assert_eq!(closed.total_failures, MAX_SNAPSHOT_TOTAL + 1);
    assert_eq!(open.total_rejected, MAX_SNAPSHOT_TOTAL + 1);
    // And removal still seals and reports them exactly.
    let removed = new.unregister(CLOSED).unwrap();
    assert_eq!(removed.total_successes, MAX_SNAPSHOT_TOTAL + 1);
}

/// Every way a snapshot can be bad, with the words its error must contain.
fn bad_snapshots(good: &Snapshot) -> Vec<(Snapshot, &'static str)> {
    let edit = |f: &dyn Fn(&mut Snapshot)| {
        let mut s = good.clone();
        f(&mut s);
        s
    };
    let open = good
        .connections
        .iter()
        .position(|c| c.state == State::Open && c.identifier == "open")
        .unwrap();
    vec![
        (edit(&|s| s.version = 2), "version 2"),
        (
            edit(&|s| {
                let dup = s.connections[3].clone();
                s.connections.push(dup)
            }),
            "appears twice",
        ),
        (
            edit(&|s| s.connections[0].total_failures = MAX_SNAPSHOT_TOTAL + 1),
            "total_failures",
        ),
        (edit(&|s| s.connections[1].trips = u64::MAX), "trips"),
        (
            edit(&|s| s.connections[1].backoff_step = 1024),
            "backoff_step",
        ),
        (
            edit(&|s| s.connections[0].open_remaining = Some(Duration::from_secs(1))),
            "only an open circuit",
        ),
        (
            edit(&|s| s.connections[open].open_remaining = None),
            "open_remaining is missing",
        ),
        (
            edit(&|s| {
                s.connections[open].open_remaining = Some(Duration::from_secs(200 * 365 * 86400))
            }),
            "100 years",
        ),
        (
            edit(&|s| s.connections[open].open_duration = Some(Duration::ZERO)),
            "open_duration is zero",
        ),
        (
            edit(&|s| s.connections[2].identifier.clear()),
            "identifier is empty",
        ),
        (
            edit(&|s| s.connections[2].scope = Some("x".repeat(300))),
            "scope is 300 bytes",
        ),
        (
            edit(&|s| {
                s.connections[1].overrides = Some(Box::new(Options::new().failure_threshold(0)))
            }),
            "failure_threshold",
        ),
        (
            edit(&|s| {
                s.connections[1]
                    .metadata
                    .insert("k".repeat(200), String::new());
            }),
            "metadata",
        ),
        (
            edit(&|s| {
                let dup = s.scopes[0].clone();
                s.scopes.push(dup)
            }),
            "scope 1 (\"payments\"): the scope appears twice",
        ),
        (
            edit(&|s| s.scopes[0].defaults = Options::new().metadata("team", "x")),
            "no metadata",
        ),
        (
            edit(&|s| s.scopes[0].defaults = Options::new().jitter(2.0)),
            "jitter",
        ),
    ]
}

#[test]
fn a_bad_snapshot_is_a_clear_error_and_restores_nothing() {
    let (_, old) = source();
    let good = old.snapshot();
    let clock = ManualClock::new();
    let new = builder(&clock).build().unwrap();
    new.register(CLOSED, Options::new()).unwrap();
    new.configure_scope("payments", Options::new().failure_threshold(4))
        .unwrap();
    let sub = new.subscribe(Filter::new());
    let before = new.connections();
    for (bad, words) in bad_snapshots(&good) {
        let err = new.restore(&bad).unwrap_err();
        let Error::InvalidSnapshot { reason } = &err else {
            panic!("{words}: {err:?}");
        };
        assert!(reason.contains(words), "{words:?} not in {reason:?}");
        assert!(err.to_string().contains("nothing was restored"));
        assert!(
            matches!(
                builder(&clock).restore(&bad).build(),
                Err(Error::InvalidSnapshot { .. })
            ),
            "{words}: the builder fails at build()"
        );
        assert_eq!(new.connections(), before, "{words}: nothing changed");
        assert_eq!(
            new.scope_defaults("payments"),
            Some(Options::new().failure_threshold(4))
        );
        assert_eq!(sub.try_iter().count(), 0, "{words}: no event");
    }
    // The message names the connection.
    let mut dup = good.clone();
    dup.connections.push(good.connections[2].clone());
    let msg = new.restore(&dup).unwrap_err().to_string();
    assert!(msg.contains("connection 6 (payments/open)"), "{msg}");
}

#[test]
fn a_restore_that_does_not_fit_restores_nothing() {
    let (_, old) = source();
    let snapshot = old.snapshot();
    let clock = ManualClock::new();
    let new = builder(&clock).max_connections(6).build().unwrap();
    new.register("other", Options::new()).unwrap();
    assert_eq!(new.restore(&snapshot), Err(Error::CapacityExceeded));
    assert_eq!(new.len(), 1);
    assert_eq!(new.scope_defaults("payments"), None, "nothing changed");
    assert!(matches!(
        builder(&clock)
            .max_connections(5)
            .restore(&snapshot)
            .build(),
        Err(Error::CapacityExceeded)
    ));
    // Connections already here need no room.
    new.unregister("other").unwrap();
    new.register(OPEN, Options::new()).unwrap();
    assert_eq!(new.restore(&snapshot), Ok(6));
    assert_eq!(new.len(), 6);
    assert!(
        new.register("seventh", Options::new()).is_err(),
        "full, exactly"
    );
}

#[test]
fn a_snapshot_is_plain_data_that_can_be_edited() {
    let clock = ManualClock::new();
    let brama = builder(&clock).build().unwrap();
    let mut snapshot = brama.snapshot();
    assert!(snapshot.connections.is_empty());
    assert!(snapshot.validate().is_ok());
    // Open "db" for 30 s in a new registry by writing the snapshot by hand.
    let mut old = builder(&clock).build().unwrap().snapshot();
    let template = {
        let b = builder(&clock).build().unwrap();
        b.register("db", Options::new()).unwrap();
        b.snapshot().connections.remove(0)
    };
    let mut db = template;
    db.state = State::Open;
    db.open_remaining = Some(Duration::from_secs(30));
    db.open_duration = Some(Duration::from_secs(30));
    db.trips = 1;
    snapshot.connections.push(db);
    old.connections = snapshot.connections.clone();
    brama.restore(&old).unwrap();
    assert!(!brama.available("db"));
    clock.advance(Duration::from_secs(30));
    assert!(brama.available("db"));
}
