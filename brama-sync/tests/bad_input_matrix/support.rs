//! Shared helpers: `no_panic`, the bad durations, a populated registry, `rejected`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{Brama, Error, Filter, ManualClock, Options, State, Status, Subscription};

/// Runs `f`, failing the test if it panics.
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(out) => out,
        Err(_) => panic!("{what} panicked"),
    }
}

/// Durations no setting accepts: zero, just above the 100-year cap, and the ones that
/// overflow a nanosecond count.
pub(crate) fn bad_durations() -> Vec<Duration> {
    vec![
        Duration::ZERO,
        MAX_DURATION + Duration::from_nanos(1),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ]
}

/// What must not change: every connection's status, the defaults, the settings.
#[derive(Debug, PartialEq)]
struct Snapshot {
    connections: Vec<Status>,
    defaults: brama_sync::ResolvedConfig,
    len: usize,
    cleanup_interval: Duration,
    inactive_threshold: Duration,
}

fn snapshot(brama: &Brama) -> Snapshot {
    let mut connections = brama.connections();
    connections.sort_by(|a, b| (&a.scope, &a.identifier).cmp(&(&b.scope, &b.identifier)));
    Snapshot {
        connections,
        defaults: brama.defaults(),
        len: brama.len(),
        cleanup_interval: brama.cleanup_interval(),
        inactive_threshold: brama.inactive_threshold(),
    }
}

/// A registry on a manual clock (so status snapshots compare exactly) with a few
/// connections in different states, and a subscription to every event.
pub(crate) fn populated(auto_register: bool) -> (Brama, ManualClock, Subscription) {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .auto_register(auto_register)
        .max_connections(4)
        .clock(clock.clone())
        .build()
        .expect("valid");
    brama
        .register("closed", Options::new().metadata("team", "a"))
        .expect("fresh");
    brama
        .register(("s", "open"), Options::new().failure_threshold(1))
        .expect("fresh");
    brama.register("unknown", Options::new()).expect("fresh");
    brama.success("closed").expect("registered");
    brama.failure(("s", "open")).expect("registered");
    assert_eq!(brama.status(("s", "open")).unwrap().state, State::Open);
    clock.advance(Duration::from_secs(1));
    let sub = brama.subscribe(Filter::new());
    (brama, clock, sub)
}

/// Runs `op` (which must fail with an error `check` accepts) and checks that nothing
/// changed and no event was emitted.
pub(crate) fn rejected<T: std::fmt::Debug>(
    brama: &Brama,
    sub: &Subscription,
    what: &str,
    op: impl FnOnce() -> Result<T, Error>,
    check: impl FnOnce(&Error) -> bool,
) {
    let before = snapshot(brama);
    let out = no_panic(what, op);
    match &out {
        Err(e) if check(e) => {}
        other => panic!("{what}: unexpected result {other:?}"),
    }
    assert_eq!(snapshot(brama), before, "{what}: the registry changed");
    let events: Vec<_> = sub.try_iter().collect();
    assert!(events.is_empty(), "{what}: emitted {events:?}");
}

pub(crate) fn invalid_config(field: &'static str) -> impl Fn(&Error) -> bool {
    move |e| matches!(e, Error::InvalidConfig { field: f, .. } if *f == field)
}
