//! Issue #20, defect 3: user code that panics inside a public method (a custom
//! `Clock`, a sweep hook, a classifier, the guarded call itself) leaves the registry
//! consistent: no `max_connections` place is lost, no count disagrees with another, no
//! connection is pinned against eviction, no probe slot stays taken, and the next call
//! works. One test per call site; each names what broke before the fix, if anything.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brama_sync::{
    Brama, CallError, Clock, ClockSource, Error, EventType, Filter, ManualClock, Options, Outcome,
    State,
};

const EXPIRY: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(60);

/// A `ManualClock` that panics on every reading while armed.
#[derive(Clone, Default)]
struct Panicky {
    time: ManualClock,
    armed: Arc<AtomicBool>,
}

impl Panicky {
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
    fn disarm(&self) {
        self.armed.store(false, Ordering::SeqCst);
    }
    /// Runs `f` with the clock armed; asserts that it panicked.
    fn panics<T>(&self, what: &str, f: impl FnOnce() -> T) {
        self.arm();
        let out = catch_unwind(AssertUnwindSafe(f));
        self.disarm();
        assert!(
            out.is_err(),
            "{what}: the clock was armed, so it must panic"
        );
    }
}

impl Clock for Panicky {
    fn now(&self) -> Duration {
        assert!(!self.armed.load(Ordering::SeqCst), "the clock panics");
        self.time.now()
    }
}

fn brama(clock: &Panicky, max: usize, auto_register: bool) -> Brama {
    Brama::builder()
        .failure_threshold(3)
        .expiry(EXPIRY)
        .cleanup_interval(Duration::from_secs(3600))
        .inactive_threshold(IDLE)
        .max_connections(max)
        .auto_register(auto_register)
        .clock(ClockSource::custom(clock.clone()))
        .build()
        .unwrap()
}

/// Fills `brama` to its capacity of `max` with fresh keys: proves no place was lost.
fn fill(brama: &Brama, max: usize) {
    for i in 0..max {
        brama
            .register(format!("fill-{i}").as_str(), Options::new())
            .unwrap_or_else(|e| panic!("place {i} of {max} was lost: {e:?}"));
    }
    assert_eq!(
        brama.register("one-more", Options::new()),
        Err(Error::CapacityExceeded)
    );
    assert_eq!(brama.len(), max);
}

#[test]
fn a_clock_panicking_in_register_takes_no_place() {
    // Before the fix: `len()` stayed one too high for good, CapacityExceeded came early.
    let clock = Panicky::default();
    let brama = brama(&clock, 2, false);
    clock.panics("register", || brama.register("db", Options::new()));
    assert_eq!(brama.len(), 0);
    assert!(matches!(
        brama.status("db").unwrap_err(),
        Error::NotFound { .. }
    ));
    fill(&brama, 2);
}

#[test]
fn a_clock_panicking_in_an_auto_registration_takes_no_place() {
    let clock = Panicky::default();
    let brama = brama(&clock, 2, true);
    clock.panics("available", || brama.available("db"));
    clock.panics("failure", || brama.failure("cache"));
    assert_eq!(brama.len(), 0);
    fill(&brama, 2);
}

#[test]
fn a_clock_panicking_in_configure_changes_nothing_and_emits_nothing() {
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    brama.register("db", Options::new()).unwrap();
    let sub = brama.subscribe(Filter::new().event_type(EventType::Configured));
    clock.panics("configure", || {
        brama.configure("db", Options::new().failure_threshold(1))
    });
    assert!(
        sub.try_recv().is_none(),
        "no Configured for a change not made"
    );
    // The threshold is still 3: two failures keep it closed.
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    // And configure works again.
    brama
        .configure("db", Options::new().failure_threshold(1))
        .unwrap();
    assert!(sub.try_recv().is_some());
}

#[test]
fn a_clock_panicking_in_configure_defaults_changes_nothing() {
    // Before the fix: the defaults changed and no Configured event was sent.
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    let sub = brama.subscribe(Filter::new().event_type(EventType::Configured));
    clock.panics("configure_defaults", || {
        brama.configure_defaults(Options::new().failure_threshold(7))
    });
    assert_eq!(brama.defaults().failure_threshold, 3);
    assert!(sub.try_recv().is_none());
}

#[test]
fn a_clock_panicking_in_a_report_keeps_the_counts_in_step() {
    // Before the fix: a failure below the threshold raised the consecutive count and
    // then panicked before counting the failure (2 consecutive, 1 total).
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    let conn = brama.connection("db").unwrap();
    clock.panics("failure by key", || brama.failure("db"));
    clock.panics("failure by handle", || conn.failure());
    clock.panics("success by key", || brama.success("db"));
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.consecutive_failures, s.total_failures, s.total_successes),
        (1, 1, 0)
    );
    // The threshold still counts from where it was: two more failures trip it.
    conn.failure().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    conn.failure().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Open);
}

#[test]
fn a_clock_panicking_while_a_handle_drops_still_releases_it() {
    // Before the fix: the handle count stayed raised, so the connection was pinned
    // against eviction for good.
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    clock.panics("dropping a handle", || drop(conn));
    clock.time.advance(IDLE * 2);
    assert_eq!(
        brama.sweep().evicted,
        1,
        "the dropped handle no longer pins it"
    );
    assert_eq!(brama.len(), 0);
}

#[test]
fn a_clock_panicking_in_a_sweep_loses_no_connection_from_later_sweeps() {
    let clock = Panicky::default();
    let brama = brama(&clock, 100, false);
    for i in 0..50 {
        brama
            .register(format!("k{i}").as_str(), Options::new())
            .unwrap();
    }
    clock.panics("sweep", || brama.sweep());
    clock.time.advance(IDLE * 2);
    let report = brama.sweep();
    assert_eq!((report.examined, report.evicted), (50, 50));
    assert_eq!(brama.len(), 0);
}

#[test]
fn a_sweep_hook_that_panics_loses_nothing() {
    let clock = Panicky::default();
    let brama = brama(&clock, 100, false);
    for i in 0..20 {
        brama
            .register(format!("k{i}").as_str(), Options::new())
            .unwrap();
    }
    brama.set_sweep_hook(Some(Box::new(|| panic!("hook"))));
    assert!(catch_unwind(AssertUnwindSafe(|| brama.sweep())).is_err());
    brama.set_sweep_hook(None);
    clock.time.advance(IDLE * 2);
    assert_eq!(brama.sweep().evicted, 20);
    assert_eq!(brama.len(), 0);
}

/// Opens "db" (threshold 3) and lets the open duration pass: the next check is a probe.
fn half_open(brama: &Brama, clock: &Panicky) {
    brama.register("db", Options::new()).unwrap();
    for _ in 0..3 {
        brama.failure("db").unwrap();
    }
    clock.time.advance(EXPIRY);
}

#[test]
fn a_classifier_that_panics_frees_the_probe_slot() {
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    half_open(&brama, &clock);
    let out = catch_unwind(AssertUnwindSafe(|| {
        brama.call_with(
            "db",
            |_: &Result<(), ()>| -> Outcome { panic!("classifier") },
            || Ok::<_, ()>(()),
        )
    }));
    assert!(out.is_err());
    // A classifier's panic says nothing about the upstream: the call is neither a
    // success nor a failure, and its probe slot is free again for the next check.
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.total_successes, s.total_failures),
        (State::HalfOpen, 0, 3)
    );
    assert!(brama.acquire("db").unwrap().is_probe());
}

#[test]
fn an_async_classifier_that_panics_frees_the_probe_slot() {
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    half_open(&brama, &clock);
    let out = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(brama.call_async_with(
            "db",
            |_: &Result<(), ()>| -> Outcome { panic!("classifier") },
            async { Ok::<_, ()>(()) },
        ))
    }));
    assert!(out.is_err());
    let s = brama.status("db").unwrap();
    assert_eq!(
        (s.state, s.total_successes, s.total_failures),
        (State::HalfOpen, 0, 3)
    );
    assert!(brama.acquire("db").unwrap().is_probe());
}

#[test]
fn a_clock_panicking_in_a_check_takes_no_probe_slot() {
    let clock = Panicky::default();
    let brama = brama(&clock, 10, false);
    half_open(&brama, &clock);
    clock.panics("available", || brama.available("db"));
    clock.panics("acquire", || brama.acquire("db").map(|_| ()));
    let out: Result<(), CallError<()>> = brama.call("db", || Ok(()));
    assert!(out.is_ok(), "the probe slot is still free");
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
}
