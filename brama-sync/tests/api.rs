//! SPEC §3: the public API, compiled exactly as the SPEC's code blocks write it.
//!
//! The first test is the SPEC's first code block copied almost verbatim (the only
//! additions: a re-registration before `connection(key)`, since the block unregisters
//! the key just before, and placeholders for `d1`, `d2` and `do_request`). If a name,
//! an argument or a return type of the contract changes, this file stops compiling.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::{Debug, Display};
use std::io;
use std::time::{Duration, SystemTime};

use brama_sync::{
    Brama, CallError, Cause, Connection, Error, Event, EventKind, EventType, ExpiryStrategy,
    Filter, Key, ManualClock, OpenOptions, Options, OwnedPermit, Permit, State, Status,
    Subscription,
};

fn do_request() -> Result<u32, io::Error> {
    Ok(7)
}

#[test]
#[allow(clippy::redundant_closure)] // `|| do_request()` as the SPEC writes it
fn spec_code_block_compiles_and_runs() -> Result<(), Error> {
    let d1 = Duration::from_secs(1);
    let d2 = Duration::from_secs(60);

    let clock = ManualClock::new(); // Clone; clones share one time; clock.advance(Duration)
    let brama = Brama::builder() // Brama::new() = all defaults
        .failure_threshold(5) // u32
        .expiry(Duration::from_secs(60)) // fixed open duration
        .expiry_strategy(ExpiryStrategy::Progressive {
            initial: d1,
            max: d2,
            factor: 2.0,
        })
        .jitter(0.1) // f64 in [0, 1)
        .half_open_probes(1) // u32
        .probe_timeout(Duration::from_secs(60))
        .cleanup_interval(Duration::from_secs(10))
        .inactive_threshold(Duration::from_secs(24 * 3600))
        .max_connections(100_000) // usize
        .auto_register(false)
        .event_queue_capacity(1024)
        .clock(clock.clone()) // default: the system's monotonic clock
        .build()?; // Result<Brama, Error>

    // Keys: Key<'a> is Copy. Key::new(id), Key::scoped(scope, id), From<&str>, From<(&str, &str)> = (scope, id).
    let key = Key::scoped("payments", "stripe");
    let registered: Status = brama.register(key, Options::new().metadata("team", "billing"))?; // -> Result<Status, Error>
    assert_eq!(registered.state, State::Unknown);
    // Options: metadata(k, v), failure_threshold, expiry, expiry_strategy, jitter, half_open_probes,
    // probe_timeout: per-connection overrides; unset fields follow the registry defaults live.

    let ok: bool = brama.available(key);
    assert!(ok);
    brama.success(key)?; // -> Result<(), Error>
    brama.failure(key)?;
    brama.failure_with(key, "timeout")?; // the reason travels in the Failure / StateChanged event
    let s: Status = brama.status(key)?;
    assert_eq!((s.total_successes, s.total_failures), (1, 2));

    brama.open_circuit(key, OpenOptions::new().reason("maintenance"))?; // current open duration
    brama.open_circuit(key, OpenOptions::new().duration(Duration::from_secs(30)))?;
    brama.open_circuit(key, OpenOptions::new().indefinitely())?; // until closed by hand
    brama.close_circuit(key)?; // all three -> Result<(), Error>
    brama.reset_circuit(key)?;
    brama.configure(key, Options::new().failure_threshold(3))?; // changes only the fields given
    brama.configure_defaults(Options::new().expiry(Duration::from_secs(5)))?;
    let removed: Status = brama.unregister(key)?;
    assert_eq!(removed.metadata["team"], "billing");
    let all: Vec<Status> = brama.connections();
    let some: Vec<Status> = brama.connections_in("payments");
    assert!(all.is_empty() && some.is_empty());
    let report = brama.sweep(); // the janitor's work, now; report.evicted: usize
    let evicted: usize = report.evicted;
    assert_eq!(evicted, 0);

    brama.register(key, Options::new())?; // (not in the SPEC block: the key was just unregistered)
    let conn: Connection = brama.connection(key)?; // Clone + Send + Sync handle, no lookup per call
    let _: bool = conn.available();
    conn.success()?;
    conn.failure()?;
    let _ = conn.status()?;

    let permit: Permit<'_> = conn.acquire()?; // brama.acquire(key) -> Result<Permit<'static>, Error>
    permit.success()?; // or .failure() / .ignore(); drop = abandoned, slot freed
    let owned: Result<Permit<'static>, Error> = brama.acquire(key);
    owned?.ignore()?;

    let out: Result<u32, CallError<io::Error>> = brama.call(key, || do_request());
    assert_eq!(out.ok(), Some(7));
    // CallError::Rejected(Error) when not admitted, CallError::Failed(e) for the callee's error.

    let sub: Subscription = brama.subscribe(
        Filter::new()
            .event_types([EventType::StateChanged])
            .scope("payments"),
    ); // .identifier("stripe")
    brama.open_circuit(key, OpenOptions::new().reason("drill"))?;
    let e: Option<Event> = sub.recv_timeout(Duration::from_millis(100));
    assert_eq!(e.map(|e| e.event_type()), Some(EventType::StateChanged));
    let mut more = Vec::new();
    for e in sub.try_iter() {
        /* ... */
        more.push(e);
    }
    assert!(more.is_empty(), "only one state change was made: {more:?}");
    let _: u64 = sub.dropped();
    clock.advance(Duration::from_secs(1));
    Ok(())
}

#[test]
fn spec_type_block_shapes() {
    // pub enum State { Unknown, Closed, Open, HalfOpen }
    let states = [State::Unknown, State::Closed, State::Open, State::HalfOpen];
    assert_eq!(states.len(), 4);

    // pub struct Status: a snapshot; fields public, of these types.
    let brama = Brama::new();
    let status = brama.register("db", Options::new()).unwrap();
    let _: String = status.identifier.clone();
    let _: Option<String> = status.scope.clone();
    let _: State = status.state;
    let _: u32 = status.consecutive_failures;
    let _: u64 = status.total_successes;
    let _: u64 = status.total_failures;
    let _: u64 = status.total_rejected;
    let _: u64 = status.trips;
    let _: SystemTime = status.registered_at;
    let _: Option<SystemTime> = status.last_success_at;
    let _: Option<SystemTime> = status.last_failure_at;
    let _: Option<SystemTime> = status.opened_at;
    let _: SystemTime = status.last_state_change_at;
    let _: Duration = status.since_state_change;
    let _: Duration = status.open_duration;
    let _: BTreeMap<String, String> = status.metadata.clone();
    // impl Status { pub fn success_rate(&self) -> Option<f64>; }
    let rate: fn(&Status) -> Option<f64> = Status::success_rate;
    assert_eq!(rate(&status), None);

    // pub struct Event { pub seq: u64, pub kind: EventKind, pub at: SystemTime, .. }
    let sub = brama.subscribe(Filter::new());
    brama.success("db").unwrap();
    let event = sub.recv_timeout(Duration::from_secs(5)).expect("an event");
    let _: u64 = event.seq;
    let _: EventKind = event.kind.clone();
    let _: SystemTime = event.at;
    // impl Event { identifier() -> &str; scope() -> Option<&str>; event_type() -> EventType }
    let identifier: fn(&Event) -> &str = Event::identifier;
    let scope: fn(&Event) -> Option<&str> = Event::scope;
    let event_type: fn(&Event) -> EventType = Event::event_type;
    assert_eq!(identifier(&event), "db");
    assert_eq!(scope(&event), None);
    assert_eq!(event_type(&event), EventType::Success);

    // pub enum EventKind { .. } with these variants and fields, each of its EventType.
    let kinds = [
        (EventKind::Registered, EventType::Registered),
        (EventKind::Unregistered, EventType::Unregistered),
        (EventKind::Evicted, EventType::Evicted),
        (
            EventKind::StateChanged {
                from: State::Closed,
                to: State::Open,
                cause: Cause::Threshold,
            },
            EventType::StateChanged,
        ),
        (EventKind::Success, EventType::Success),
        (
            EventKind::Failure {
                reason: Some(String::from("timeout")),
            },
            EventType::Failure,
        ),
        (EventKind::Configured, EventType::Configured),
        (
            EventKind::Swept {
                examined: 1usize,
                evicted: 0usize,
            },
            EventType::Swept,
        ),
        (
            EventKind::FleetLink { connected: true },
            EventType::FleetLink,
        ),
    ];
    for (kind, ty) in kinds {
        assert_eq!(kind.event_type(), ty);
    }

    // pub enum EventType { Registered, Unregistered, Evicted, StateChanged, Success,
    //                      Failure, Configured, Swept, FleetLink }
    let types = [
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
        EventType::StateChanged,
        EventType::Success,
        EventType::Failure,
        EventType::Configured,
        EventType::Swept,
        EventType::FleetLink,
    ];
    for (i, a) in types.iter().enumerate() {
        for b in &types[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn trait_bounds_of_the_contract() {
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    fn copy_eq_debug<T: Copy + Eq + Debug>() {}
    fn debug<T: Debug>() {}
    fn error<T: StdError + Display + Send + Sync + 'static>() {}
    fn send<T: Send>() {}

    clone_send_sync::<Brama>();
    clone_send_sync::<Connection>();
    clone_send_sync::<ManualClock>();
    copy_eq_debug::<State>();
    copy_eq_debug::<EventType>();
    copy_eq_debug::<Key<'static>>();
    debug::<Status>();
    debug::<Event>();
    debug::<EventKind>();
    debug::<Error>();
    debug::<CallError<io::Error>>();
    debug::<Permit<'static>>();
    error::<Error>();
    send::<Subscription>();
    send::<Permit<'static>>();
}

#[test]
fn permit_outcomes_consume_the_permit() {
    // `success`/`failure`/`ignore` take the permit by value.
    let _: fn(Permit<'static>) -> Result<(), Error> = Permit::success;
    let _: fn(Permit<'static>) -> Result<(), Error> = Permit::failure;
    let _: fn(Permit<'static>) -> Result<(), Error> = Permit::ignore;
    // SPEC §13: the same methods on `OwnedPermit`, which is `'static + Send + Sync`.
    let _: fn(OwnedPermit) -> Result<(), Error> = OwnedPermit::success;
    let _: fn(OwnedPermit) -> Result<(), Error> = OwnedPermit::failure;
    let _: fn(OwnedPermit) -> Result<(), Error> = OwnedPermit::ignore;
    let _: fn(&Connection) -> Result<OwnedPermit, Error> = Connection::acquire_owned;
    fn owned<T: Send + Sync + 'static>() {}
    owned::<OwnedPermit>();
}

#[test]
fn error_has_the_contract_variants_and_actionable_messages() {
    let rejected = Error::Rejected {
        identifier: "stripe".into(),
        scope: Some("payments".into()),
        state: State::Open,
        retry_after: Some(Duration::from_secs(3)),
    };
    let all = [
        Error::NotFound {
            identifier: "db".into(),
            scope: None,
        },
        Error::AlreadyRegistered,
        Key::new("").validate().unwrap_err(),
        Brama::builder().failure_threshold(0).build().unwrap_err(),
        Error::CapacityExceeded,
        rejected.clone(),
    ];
    for e in &all {
        match e {
            Error::NotFound { .. }
            | Error::AlreadyRegistered
            | Error::InvalidKey { .. }
            | Error::InvalidConfig { .. }
            | Error::CapacityExceeded
            | Error::Rejected { .. } => {}
            other => panic!("unexpected variant {other:?}"),
        }
        let _: &dyn StdError = e;
    }
    let message = |e: &Error| e.to_string();
    // Each message says what went wrong and what to do about it.
    assert!(
        message(&all[0]).contains("register"),
        "{}",
        message(&all[0])
    );
    assert!(
        message(&all[1]).contains("configure"),
        "{}",
        message(&all[1])
    );
    assert!(
        message(&all[2]).contains("identifier"),
        "{}",
        message(&all[2])
    );
    assert!(message(&all[2]).contains("256"), "{}", message(&all[2]));
    assert!(
        message(&all[3]).contains("failure_threshold") && message(&all[3]).contains("at least 1"),
        "{}",
        message(&all[3])
    );
    assert!(
        message(&all[4]).contains("max_connections"),
        "{}",
        message(&all[4])
    );
    // NotFound and Rejected name the connection (SPEC §10).
    assert!(message(&all[0]).contains("\"db\""), "{}", message(&all[0]));
    let r = message(&rejected);
    assert!(r.contains("open") && r.contains("retry after"), "{r}");
    assert!(
        r.contains("\"stripe\"") && r.contains("\"payments\""),
        "{r}"
    );
    let half = Error::Rejected {
        identifier: "db".into(),
        scope: None,
        state: State::HalfOpen,
        retry_after: None,
    };
    assert!(message(&half).contains("half-open"), "{}", message(&half));
}

#[test]
fn call_error_shapes() {
    let rejected: CallError<io::Error> = CallError::Rejected(Error::not_found(Key::new("db")));
    let failed: CallError<io::Error> = CallError::Failed(io::Error::other("boom"));
    assert!(matches!(
        rejected,
        CallError::Rejected(Error::NotFound { .. })
    ));
    assert!(matches!(&failed, CallError::Failed(e) if e.to_string() == "boom"));
    // With a std error inside, CallError is itself one.
    let as_error: &dyn StdError = &failed;
    assert!(as_error.to_string().contains("boom"));
}

#[test]
fn keys_are_copy_and_convert_from_str_and_pairs() {
    let k = Key::scoped("payments", "stripe");
    let copy = k; // Copy: `k` stays usable
    assert_eq!(k, copy);
    assert_eq!(Key::from(("payments", "stripe")), k);
    assert_eq!(Key::from("db"), Key::new("db"));
    assert_eq!(k.scope(), Some("payments"));
    assert_eq!(k.identifier(), "stripe");

    // Every method takes `impl Into<Key>`: &str, (scope, id) and Key are interchangeable.
    let brama = Brama::new();
    brama
        .register(("payments", "stripe"), Options::new())
        .unwrap();
    brama.register("payments:stripe", Options::new()).unwrap();
    assert!(brama.available(k));
    assert!(brama.available(("payments", "stripe")));
    assert!(brama.available("payments:stripe"));
    // A scoped connection is found only with its scope.
    assert!(!brama.available("stripe"));
    assert_eq!(brama.connections_in("payments").len(), 1);
    assert_eq!(brama.connections().len(), 2);
}

#[test]
fn manual_clock_clones_share_one_time() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    assert!(!brama.available("db"));
    let other = clock.clone();
    other.advance(Duration::from_secs(10));
    // The registry's clock moved with the clone.
    assert!(brama.available("db"));
}

#[test]
fn brama_new_uses_every_default() {
    let brama = Brama::new();
    let d = Brama::default();
    assert_eq!(brama.defaults(), d.defaults());
    assert_eq!(brama.cleanup_interval(), Duration::from_secs(10));
    assert_eq!(brama.inactive_threshold(), Duration::from_secs(24 * 3600));
    let s = brama.register("db", Options::new()).unwrap();
    assert_eq!(s.open_duration, Duration::from_secs(60));
    for _ in 0..4 {
        brama.failure("db").unwrap();
    }
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    brama.failure("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
}

#[test]
fn clones_share_one_registry() {
    let brama = Brama::new();
    let clone = brama.clone();
    brama.register("db", Options::new()).unwrap();
    assert!(clone.available("db"));
    clone.failure_with("db", "timeout").unwrap();
    assert_eq!(brama.status("db").unwrap().total_failures, 1);
    drop(brama);
    assert_eq!(clone.len(), 1);
}

#[test]
fn call_takes_any_fn_once_without_unwind_safe_bound() {
    let brama = Brama::new();
    brama.register("db", Options::new()).unwrap();
    // A `&RefCell` is not `UnwindSafe`; a moved String makes the closure FnOnce.
    let cell = std::cell::RefCell::new(0);
    let owned = String::from("payload");
    let out: Result<usize, CallError<io::Error>> = brama.call("db", || {
        *cell.borrow_mut() += 1;
        let consumed = owned;
        Ok(consumed.len())
    });
    assert_eq!(out.ok(), Some(7));
    assert_eq!(*cell.borrow(), 1);
    let conn = brama.connection("db").unwrap();
    let out: Result<(), CallError<io::Error>> = conn.call(|| {
        *cell.borrow_mut() += 1;
        Ok(())
    });
    assert!(out.is_ok());
    assert_eq!(*cell.borrow(), 2);
}

#[test]
fn connection_and_brama_cross_threads() {
    let brama = Brama::new();
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    let (b, c) = (brama.clone(), conn.clone());
    std::thread::spawn(move || {
        b.success("db").unwrap();
        c.success().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(conn.status().unwrap().total_successes, 2);
}

/// `register` returns the connection as it was registered: the same snapshot `status`
/// gives at that instant, named by the caller's key, whatever form the key is stored in
/// (inline or on the heap), with its overrides and metadata.
#[test]
fn register_returns_the_connection_as_registered() -> Result<(), Error> {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(7));
    let brama = Brama::builder()
        .expiry(Duration::from_secs(60))
        .clock(clock.clone())
        .build()?;
    let long = "l".repeat(200);
    let keys = [
        Key::new("conn-0000042"),
        Key::scoped("payments", "stripe"),
        Key::new("ünïcode✓"),
        Key::new(&long),
        Key::scoped(&long, "x"),
    ];
    for (i, key) in keys.into_iter().enumerate() {
        let options = if i % 2 == 0 {
            Options::new()
        } else {
            Options::new()
                .metadata("team", "billing")
                .expiry(Duration::from_secs(30))
        };
        let registered = brama.register(key, options)?;
        assert_eq!(registered, brama.status(key)?, "{key:?}");
        assert_eq!(registered.identifier, key.identifier());
        assert_eq!(registered.scope.as_deref(), key.scope());
        assert_eq!(registered.state, State::Unknown);
        assert_eq!(registered.since_state_change, Duration::ZERO);
        assert_eq!(registered.last_state_change_at, registered.registered_at);
        let (expiry, metadata) = if i % 2 == 0 {
            (60, BTreeMap::new())
        } else {
            (
                30,
                BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
            )
        };
        assert_eq!(
            registered.open_duration,
            Duration::from_secs(expiry),
            "{key:?}"
        );
        assert_eq!(registered.metadata, metadata, "{key:?}");
    }
    Ok(())
}
