//! The janitor thread's life (SPEC §6, STYLE 7): it stops and is joined when the last
//! `Brama` is dropped, in the middle of a sweep too; it never joins itself, even when the
//! last `Brama` is dropped on its own thread while it holds a temporary strong reference;
//! a panicking sweep does not kill it; and creating and dropping many instances leaves
//! no thread behind.
//!
//! Every test here runs under a watchdog that fails it after 10 s instead of hanging,
//! and the tests of this file run one at a time (they count `brama-janitor` threads).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, Cause, EventKind, EventType, Filter, OpenOptions, Options, State};

mod watchdog;
use watchdog::with_watchdog;

/// This file's tests count janitor threads: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The kernel ids of this process's threads named `brama-janitor`.
fn janitor_threads() -> Vec<u64> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let entry = entry.expect("task entry");
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == "brama-janitor" {
            if let Some(id) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The kernel id of the calling thread.
fn current_tid() -> u64 {
    std::fs::read_link("/proc/thread-self")
        .expect("/proc/thread-self")
        .file_name()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("a task id")
}

fn thread_alive(tid: u64) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// Polls until the thread `tid` has exited; false after `limit`.
fn await_exit(tid: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while thread_alive(tid) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A sweep hook that, on its first call, reports the janitor's thread id and then waits
/// on `go` before letting the sweep continue. `sentinel` lives as long as the hook, so
/// its strong count shows whether the registry (which owns the hook) was freed.
fn blocking_hook(
    sentinel: Arc<()>,
) -> (Box<dyn Fn() + Send + Sync>, Receiver<u64>, mpsc::Sender<()>) {
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(Some(entered_tx));
    let go_rx = Mutex::new(go_rx);
    let hook = move || {
        let _keep = &sentinel;
        if let Some(tx) = entered_tx.lock().unwrap().take() {
            let _ = tx.send(current_tid());
            let _ = go_rx.lock().unwrap().recv();
        }
    };
    (Box::new(hook), entered, go)
}

/// The last `Brama` is dropped (on another thread) while the janitor is inside a sweep:
/// the drop waits for that sweep, then returns; the janitor thread is gone and the
/// registry freed (on the janitor's thread, by its temporary strong reference).
#[test]
fn dropping_the_last_brama_in_the_middle_of_a_sweep_joins_the_janitor() {
    let _serial = serial();
    with_watchdog("drop during a sweep", || {
        let brama = Brama::builder()
            .cleanup_interval(Duration::from_millis(1))
            .build()
            .expect("valid");
        let sentinel = Arc::new(());
        let (hook, entered, go) = blocking_hook(Arc::clone(&sentinel));
        brama.set_sweep_hook(Some(hook));
        let janitor = entered.recv().expect("the janitor sweeps");
        assert!(thread_alive(janitor));

        let dropped = Arc::new(AtomicBool::new(false));
        let dropper = {
            let dropped = Arc::clone(&dropped);
            thread::spawn(move || {
                drop(brama);
                dropped.store(true, Ordering::SeqCst);
            })
        };
        // The drop cannot finish while the sweep it must join is blocked...
        thread::sleep(Duration::from_millis(50));
        assert!(
            !dropped.load(Ordering::SeqCst),
            "drop returned before joining the janitor"
        );
        assert!(thread_alive(janitor));
        // ...and finishes as soon as the sweep does.
        go.send(()).expect("hook waiting");
        dropper.join().expect("dropper");
        assert!(dropped.load(Ordering::SeqCst));
        assert!(
            await_exit(janitor, Duration::from_secs(1)),
            "the joined janitor thread is gone"
        );
        assert_eq!(
            Arc::strong_count(&sentinel),
            1,
            "the registry (and its hook) was freed"
        );
    });
}

/// The last `Brama` is dropped *on the janitor's own thread*, while the janitor holds its
/// temporary strong reference to the registry (here through the sweep hook, which owns
/// the last clone). The janitor must not try to join itself: the drop returns, the
/// thread notices the stop and exits, and the registry is freed.
#[test]
fn dropping_the_last_brama_on_the_janitor_thread_does_not_self_join() {
    let _serial = serial();
    with_watchdog("drop on the janitor's thread", || {
        let brama = Brama::builder()
            .cleanup_interval(Duration::from_millis(1))
            .build()
            .expect("valid");
        let sentinel = Arc::new(());
        let slot: Arc<Mutex<Option<Brama>>> = Arc::new(Mutex::new(Some(brama.clone())));
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let hook = {
            let (slot, sentinel) = (Arc::clone(&slot), Arc::clone(&sentinel));
            let (tid_tx, done_tx) = (Mutex::new(tid_tx), Mutex::new(done_tx));
            move || {
                let _keep = &sentinel;
                let last = slot.lock().unwrap().take();
                if let Some(last) = last {
                    let _ = tid_tx.lock().unwrap().send(current_tid());
                    // The test dropped its own clone before it let go of the slot: this
                    // is the last `Brama`, dropped on the janitor's thread mid-sweep.
                    drop(last);
                    let _ = done_tx.lock().unwrap().send(());
                }
            }
        };
        // A self-join would not hang: std refuses it with a panic, which the sweep's
        // catch_unwind would swallow. Count panics on janitor threads to see one.
        let janitor_panics = Arc::new(AtomicU64::new(0));
        let previous = std::panic::take_hook();
        {
            let janitor_panics = Arc::clone(&janitor_panics);
            std::panic::set_hook(Box::new(move |info| {
                if thread::current().name() == Some("brama-janitor") {
                    janitor_panics.fetch_add(1, Ordering::SeqCst);
                }
                previous(info);
            }));
        }
        // Hold the slot until the test's own clone is gone.
        let gate = slot.lock().unwrap();
        brama.set_sweep_hook(Some(Box::new(hook)));
        drop(brama);
        drop(gate);
        let janitor = tid_rx.recv().expect("the janitor sweeps");
        done_rx
            .recv()
            .expect("the last Brama's drop returned on the janitor thread");
        assert!(
            await_exit(janitor, Duration::from_secs(5)),
            "the janitor stops after its last Brama is dropped on its own thread"
        );
        // The janitor's temporary reference was the last: the registry is freed, and
        // with it the hook (whose slot clone goes too).
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&sentinel) > 1 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(Arc::strong_count(&sentinel), 1, "the registry was freed");
        let _ = std::panic::take_hook();
        assert_eq!(
            janitor_panics.load(Ordering::SeqCst),
            0,
            "no panic on the janitor thread (a self-join panics)"
        );
    });
}

/// A sweep that panics is caught; the janitor keeps sweeping, and keeps doing the
/// sweep's work (an expired circuit moves to half-open with no check or report).
#[test]
fn a_panic_in_a_sweep_does_not_kill_the_janitor() {
    let _serial = serial();
    with_watchdog("panicking sweeps", || {
        let brama = Brama::builder()
            .cleanup_interval(Duration::from_millis(1))
            .expiry(Duration::from_millis(20))
            .build()
            .expect("valid");
        let events = brama.subscribe(Filter::new().event_type(EventType::StateChanged));
        let calls = Arc::new(AtomicU64::new(0));
        let hook = {
            let calls = Arc::clone(&calls);
            move || {
                // Panics in the first three sweeps, then lets them run.
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    panic!("injected sweep panic");
                }
            }
        };
        // Keep the test's output clean of the three expected panic messages.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() != Some("brama-janitor") {
                previous(info);
            }
        }));
        brama.set_sweep_hook(Some(Box::new(hook)));
        let deadline = Instant::now() + Duration::from_secs(5);
        while brama.janitor_panics() < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(brama.janitor_panics(), 3, "each panicking sweep was caught");
        let sweeps = brama.janitor_sweeps();
        brama.register("db", Options::new()).expect("fresh");
        brama
            .open_circuit("db", OpenOptions::new())
            .expect("registered");
        // Only the janitor can move it now: nobody checks or reports.
        let mut expired = false;
        while !expired && Instant::now() < deadline {
            if let Some(e) = events.recv_timeout(Duration::from_millis(10)) {
                expired = matches!(
                    e.kind,
                    EventKind::StateChanged {
                        from: State::Open,
                        to: State::HalfOpen,
                        cause: Cause::Expiry
                    }
                );
            }
        }
        assert!(
            expired,
            "the janitor still moves expired circuits to half-open"
        );
        assert!(brama.janitor_sweeps() > sweeps, "the janitor still sweeps");
        assert_eq!(brama.janitor_panics(), 3);
        let _ = std::panic::take_hook();
        drop(brama);
    });
}

/// Creating and dropping 200 instances (some with clones dropped on other threads)
/// leaves as many `brama-janitor` threads as before, and each drop is prompt whatever
/// the interval.
#[test]
fn two_hundred_instances_leave_no_thread_behind() {
    let _serial = serial();
    with_watchdog("200 instances", || {
        let baseline = janitor_threads().len();
        let mut slowest = Duration::ZERO;
        for i in 0..200 {
            let brama = Brama::builder()
                // Long or short: the drop must not wait for the next round.
                .cleanup_interval(if i % 2 == 0 {
                    Duration::from_secs(3600)
                } else {
                    Duration::from_millis(1)
                })
                .build()
                .expect("valid");
            brama.register("db", Options::new()).expect("fresh");
            if i % 4 == 0 {
                // The last clone is dropped on another thread.
                let clone = brama.clone();
                drop(brama);
                let t0 = Instant::now();
                thread::spawn(move || drop(clone)).join().expect("dropper");
                slowest = slowest.max(t0.elapsed());
            } else {
                let t0 = Instant::now();
                drop(brama);
                slowest = slowest.max(t0.elapsed());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut now = janitor_threads().len();
        while now != baseline && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
            now = janitor_threads().len();
        }
        assert_eq!(
            now, baseline,
            "janitor threads before and after 200 instances"
        );
        assert!(
            slowest < Duration::from_secs(1),
            "the slowest drop took {slowest:?} (SPEC §6: well under a second)"
        );
        eprintln!("200 instances: slowest drop {slowest:?}");
    });
}
