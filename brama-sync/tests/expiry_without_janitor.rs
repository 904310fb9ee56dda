//! Issue #20, defect 1: an expired open circuit moves to half-open on the next check
//! whether or not a janitor tends the system clock's cached reading. Expiry never
//! depends on a background thread: not for a handle that outlives its `Brama` (whose
//! janitor was ticking when it went), not under `Janitor::Manual` with nobody
//! sweeping, not after a `janitor_task` ended or was aborted; through `available` and
//! `acquire`, by handle and by key.
//!
//! These tests are about the *system clock* itself (what the hot paths read once
//! nothing refreshes its cache), so they cannot use `ManualClock`. They wait with
//! liveness loops instead of timing assertions: poll until the condition holds or
//! [`DEADLINE`] passes (100 times the 50 ms open duration), then fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Connection, Error, Janitor, Options, State};

const EXPIRY: Duration = Duration::from_millis(50);
/// How long a liveness loop waits before it fails the test.
const DEADLINE: Duration = Duration::from_secs(5);

/// A registry on the system clock: threshold 1, open for 50 ms, "db", "db2" and a
/// "busy" connection that never trips.
fn brama(janitor: Janitor) -> Brama {
    let brama = Brama::builder()
        .janitor(janitor)
        .failure_threshold(1)
        .expiry(EXPIRY)
        .build()
        .unwrap();
    for key in ["db", "db2"] {
        brama.register(key, Options::new()).unwrap();
    }
    brama
        .register("busy", Options::new().failure_threshold(u32::MAX))
        .unwrap();
    brama
}

/// Polls `cond` until it holds, or fails once [`DEADLINE`] has passed (a liveness loop
/// on the system clock, not a timing assertion).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < DEADLINE,
            "{what}: still not so after {DEADLINE:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Another thread keeps the registry in use until this is stopped: failures on "busy"
/// (which never trips) stamp the clock's reading, so the janitor ticks.
struct Busy {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Busy {
    fn start(conn: Connection) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let theirs = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            // Relaxed: a stop flag; the join orders everything after it.
            while !theirs.load(Ordering::Relaxed) {
                conn.failure().unwrap();
            }
        });
        Busy {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        // Relaxed: as above.
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
    }
}

/// Waits (liveness loop) until the janitor has woken several times while `busy` runs:
/// resting, it wakes once per `cleanup_interval` (10 s), so it is ticking.
fn wait_until_ticking(brama: &Brama) {
    let before = brama.janitor_wakeups();
    eventually("the janitor ticks while the registry is busy", || {
        brama.janitor_wakeups() - before >= 5
    });
}

/// Trips `h` and `h2` (threshold 1), then waits for both to expire: `h` is checked with
/// `available`, `h2` with `acquire`; each admits its probe and closes on its success.
fn trip_and_expire(h: &Connection, h2: &Connection) {
    h.failure().unwrap();
    h2.failure().unwrap();
    assert!(!h.available(), "open after the failure");
    assert!(
        matches!(h2.acquire(), Err(Error::Rejected { .. })),
        "open: no permit"
    );
    eventually("the handle's available() after the open duration", || {
        h.available()
    });
    assert_eq!(h.status().unwrap().state, State::HalfOpen);
    h.success().unwrap();
    assert_eq!(h.status().unwrap().state, State::Closed);
    let mut probe = None;
    eventually("the handle's acquire() after the open duration", || {
        probe = h2.acquire().ok();
        probe.is_some()
    });
    let probe = probe.unwrap();
    assert!(probe.is_probe());
    probe.success().unwrap();
    assert_eq!(h2.status().unwrap().state, State::Closed);
}

/// The repro, with the janitor thread ticking when the `Brama` goes: the
/// registry is kept busy through the drop, so the janitor exits awake.
#[test]
fn a_handle_outliving_a_brama_whose_janitor_was_ticking_still_expires() {
    let brama = brama(Janitor::Thread);
    let (h, h2) = (
        brama.connection("db").unwrap(),
        brama.connection("db2").unwrap(),
    );
    let busy = Busy::start(brama.connection("busy").unwrap());
    wait_until_ticking(&brama);
    drop(brama); // joins the janitor thread, mid-tick-period
    busy.stop();
    trip_and_expire(&h, &h2);
}

/// The same after a `janitor_task` ended with the last `Brama` while ticking.
#[test]
fn a_handle_outliving_a_brama_whose_janitor_task_ended_still_expires() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let brama = brama(Janitor::Manual);
    let task = rt.spawn(brama.janitor_task(tokio::time::sleep));
    let (h, h2) = (
        brama.connection("db").unwrap(),
        brama.connection("db2").unwrap(),
    );
    let busy = Busy::start(brama.connection("busy").unwrap());
    wait_until_ticking(&brama);
    drop(brama);
    rt.block_on(task).unwrap(); // ended with the last Brama
    busy.stop();
    trip_and_expire(&h, &h2);
}

/// A janitor task aborted while ticking (a runtime shut down, a task cancelled) while
/// the `Brama` lives on: checks by key, and by handle, still see the time.
#[test]
fn a_live_brama_whose_janitor_task_was_aborted_still_expires_by_key() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let brama = brama(Janitor::Manual);
    let task = rt.spawn(brama.janitor_task(tokio::time::sleep));
    let busy = Busy::start(brama.connection("busy").unwrap());
    wait_until_ticking(&brama);
    task.abort();
    assert!(rt.block_on(task).unwrap_err().is_cancelled());
    busy.stop();
    trip_and_expire_by_key(&brama);
    let (h, h2) = (
        brama.connection("db").unwrap(),
        brama.connection("db2").unwrap(),
    );
    trip_and_expire(&h, &h2);
}

/// By key on a live `Brama`: "db" checked with `available`, "db2" with `acquire`.
fn trip_and_expire_by_key(brama: &Brama) {
    brama.failure("db").unwrap();
    brama.failure("db2").unwrap();
    assert!(!brama.available("db"), "open after the failure");
    assert!(matches!(brama.acquire("db2"), Err(Error::Rejected { .. })));
    eventually("available(key) after the open duration", || {
        brama.available("db")
    });
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    brama.success("db").unwrap();
    let mut probe = None;
    eventually("acquire(key) after the open duration", || {
        probe = brama.acquire("db2").ok();
        probe.is_some()
    });
    let probe = probe.unwrap();
    assert!(probe.is_probe());
    probe.success().unwrap();
    for key in ["db", "db2"] {
        assert_eq!(brama.status(key).unwrap().state, State::Closed, "{key}");
    }
}

/// `Janitor::Manual` and nobody ever sweeps or spawns a task: nothing refreshes the
/// clock's cache, on a live `Brama` (by key, then by handle) and on handles that
/// outlive it.
#[test]
fn a_manual_registry_nobody_sweeps_still_expires_by_key_and_by_handle() {
    let brama = brama(Janitor::Manual);
    // In use first, as a service would be: nothing ticks whatever the traffic.
    let busy = Busy::start(brama.connection("busy").unwrap());
    thread::sleep(Duration::from_millis(20));
    busy.stop();
    trip_and_expire_by_key(&brama);
    let (h, h2) = (
        brama.connection("db").unwrap(),
        brama.connection("db2").unwrap(),
    );
    trip_and_expire(&h, &h2);
    drop(brama);
    trip_and_expire(&h, &h2);
}

/// Once the janitor is gone, a handle's successes are stamped with the time, not with
/// the janitor's last tick for ever. (The withdrawal of the quiet stamp, which keeps a
/// success stamped with that last tick from skipping its report from then on, is shown
/// deterministically in brama-core `tests/quiet.rs`.)
#[test]
fn successes_after_the_janitor_is_gone_are_stamped_with_the_time() {
    let brama = brama(Janitor::Thread);
    let h = brama.connection("busy").unwrap();
    // Successes through this very handle up to and through the janitor's exit, so its
    // stamp is the last tick's reading.
    let stop = Arc::new(AtomicBool::new(false));
    let hammer = {
        let (h, stop) = (h.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            // Relaxed: a stop flag; the join orders the rest.
            while !stop.load(Ordering::Relaxed) {
                h.success().unwrap();
            }
        })
    };
    wait_until_ticking(&brama);
    drop(brama);
    // Relaxed: as above.
    stop.store(true, Ordering::Relaxed);
    hammer.join().unwrap();
    let then = h.status().unwrap().last_success_at.unwrap();
    eventually("a later success moves last_success_at", || {
        h.success().unwrap();
        h.status().unwrap().last_success_at.unwrap() > then
    });
}
