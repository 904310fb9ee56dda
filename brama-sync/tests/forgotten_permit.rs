//! Issue #20, defect 8: a permit that owns its handle (one by key, or an `OwnedPermit`)
//! and is never dropped (`mem::forget`, a leaked task) keeps its connection's handle
//! count raised for ever, so the sweep never evicts that connection. This is
//! documented, not changed (docs/janitor.md, "Forgotten permits and handles"): making
//! such pins expire would put a write on every permit's path. What bounds the damage:
//! a forgotten probe's half-open slot is still freed by the probe timeout, and
//! `unregister` still removes the connection, after which anything reporting through
//! the pinned handle gets `NotFound`.
//!
//! All on `ManualClock` with `Janitor::Manual`: nothing runs but what the test calls.

use std::mem::{self, ManuallyDrop};
use std::time::Duration;

use brama_sync::{Brama, Error, Janitor, ManualClock, Options, State};

const INACTIVE: Duration = Duration::from_secs(60);
const EXPIRY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .inactive_threshold(INACTIVE)
        .failure_threshold(1)
        .expiry(EXPIRY)
        .half_open_probes(1)
        .probe_timeout(PROBE_TIMEOUT)
        .build()
        .unwrap()
}

/// Past the inactivity threshold, then a sweep: how many were evicted.
fn idle_and_sweep(brama: &Brama, clock: &ManualClock) -> usize {
    clock.advance(INACTIVE + Duration::from_secs(1));
    brama.sweep().evicted
}

#[test]
fn a_forgotten_closed_permit_that_owns_its_handle_pins_its_connection() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    for key in ["by_key", "owned", "borrowed", "dropped"] {
        brama.register(key, Options::new()).unwrap();
        brama.success(key).unwrap(); // Closed
    }
    // By key: the permit owns the handle it looked up.
    mem::forget(brama.acquire("by_key").unwrap());
    // Owned: a clone of the connection's handle, which is itself dropped.
    let owned = brama.connection("owned").unwrap();
    mem::forget(owned.acquire_owned().unwrap());
    drop(owned);
    // Borrowed: the permit borrows the connection's handle; forgetting it pins nothing
    // once the connection is dropped.
    let borrowed = brama.connection("borrowed").unwrap();
    mem::forget(borrowed.acquire().unwrap());
    drop(borrowed);
    // The control: a permit by key that is dropped.
    drop(brama.acquire("dropped").unwrap());

    assert_eq!(idle_and_sweep(&brama, &clock), 2, "borrowed and dropped");
    for key in ["borrowed", "dropped"] {
        assert!(
            matches!(brama.status(key), Err(Error::NotFound { .. })),
            "{key}"
        );
    }
    for round in 0..3 {
        assert_eq!(idle_and_sweep(&brama, &clock), 0, "round {round}: pinned");
    }
    let mut left: Vec<String> = brama
        .connections()
        .into_iter()
        .map(|s| s.identifier)
        .collect();
    left.sort();
    assert_eq!(left, ["by_key", "owned"], "pinned for good");

    // `unregister` still removes them.
    for key in ["by_key", "owned"] {
        let last = brama.unregister(key).unwrap();
        assert_eq!(last.state, State::Closed, "{key}");
        assert!(
            matches!(brama.status(key), Err(Error::NotFound { .. })),
            "{key}"
        );
    }
    assert!(brama.is_empty());
}

#[test]
fn reports_through_a_pinned_permit_after_unregister_say_not_found() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.success("db").unwrap();
    // Never dropped, as a forgotten permit, but still at hand to report through.
    let by_key = ManuallyDrop::new(brama.acquire("db").unwrap());
    let owned = ManuallyDrop::new(brama.acquire_owned("db").unwrap());
    assert_eq!(idle_and_sweep(&brama, &clock), 0, "pinned");

    brama.unregister("db").unwrap();
    assert!(matches!(
        ManuallyDrop::into_inner(by_key).success(),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        ManuallyDrop::into_inner(owned).failure(),
        Err(Error::NotFound { .. })
    ));
    // The key is free again: a new connection, not the pinned one.
    brama.register("db", Options::new()).unwrap();
    assert_eq!(brama.status("db").unwrap().total_successes, 0);
}

#[test]
fn a_forgotten_probe_permit_frees_its_slot_at_the_probe_timeout_and_still_pins() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.failure("db").unwrap();
    clock.advance(EXPIRY);
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe());
    mem::forget(probe);
    assert!(
        matches!(brama.acquire("db"), Err(Error::Rejected { .. })),
        "its one slot is taken"
    );
    clock.advance(PROBE_TIMEOUT + Duration::from_millis(1));
    let probe = brama.acquire("db").unwrap();
    assert!(probe.is_probe(), "the timed-out slot was freed");
    probe.success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
    assert_eq!(
        idle_and_sweep(&brama, &clock),
        0,
        "but the forgotten permit's handle still pins the connection"
    );
    brama.unregister("db").unwrap();
    assert!(brama.is_empty());
}
