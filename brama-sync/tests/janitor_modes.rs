//! SPEC §9/§13: `Janitor::Thread` and `Janitor::Manual`, `brama.janitor_task(sleep)`;
//! an idle registry wakes its janitor at most once per `cleanup_interval` (counted with
//! `janitor_wakeups`, a counter), and an expired open circuit moves to half-open on the
//! next check while the janitor sleeps, or when there is none.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use brama_sync::{Brama, Janitor, Options, State};

mod watchdog;
use watchdog::with_watchdog;

const INTERVAL: Duration = Duration::from_millis(100);
const EXPIRY: Duration = Duration::from_millis(50);

fn brama(janitor: Janitor, interval: Duration) -> Brama {
    let brama = Brama::builder()
        .janitor(janitor)
        .cleanup_interval(interval)
        .failure_threshold(1)
        .expiry(EXPIRY)
        .build()
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    brama
}

/// Idle for `rounds` intervals: the janitor wakes at most once per interval (plus one
/// for the rest it takes after the set-up's use, and one for slack in the timer).
fn assert_idle_wakeups(brama: &Brama, rounds: u32) {
    // Let the set-up's use settle: one tick, then a rest.
    thread::sleep(Duration::from_millis(20));
    let before = brama.janitor_wakeups();
    let sweeps = brama.janitor_sweeps();
    thread::sleep(INTERVAL * rounds);
    let woke = brama.janitor_wakeups() - before;
    assert!(
        woke <= u64::from(rounds) + 2,
        "{woke} wake-ups in {rounds} idle intervals"
    );
    assert!(
        brama.janitor_sweeps() - sweeps >= u64::from(rounds / 2),
        "it still sweeps every interval"
    );
}

#[test]
fn an_idle_registry_wakes_the_janitor_thread_at_most_once_per_interval() {
    let brama = brama(Janitor::Thread, INTERVAL);
    assert_eq!(brama.janitor(), Janitor::Thread);
    assert_idle_wakeups(&brama, 6);
}

#[test]
fn a_registry_in_use_ticks_and_rests_again_when_idle() {
    let brama = Brama::builder()
        .cleanup_interval(INTERVAL)
        .failure_threshold(u32::MAX)
        .build()
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    thread::sleep(Duration::from_millis(20));
    let before = brama.janitor_wakeups();
    // In use for 60 ms: failures stamp the clock's reading, so the janitor ticks.
    let until = std::time::Instant::now() + Duration::from_millis(60);
    while std::time::Instant::now() < until {
        conn.failure().unwrap();
    }
    let busy = brama.janitor_wakeups() - before;
    assert!(busy >= 5, "only {busy} wake-ups in 60 ms of use");
    drop(conn);
    assert_idle_wakeups(&brama, 4);
}

/// The janitor is asleep (or absent) and its interval an hour: the next check after the
/// open duration still finds the circuit expired and admits the probe.
#[test]
fn an_expired_open_circuit_moves_on_the_next_check_while_the_janitor_sleeps() {
    for mode in [Janitor::Thread, Janitor::Manual] {
        let brama = brama(mode, Duration::from_secs(3600));
        brama.failure("db").unwrap();
        assert!(!brama.available("db"), "{mode:?}: open");
        thread::sleep(EXPIRY + Duration::from_millis(30));
        let before = brama.janitor_wakeups();
        assert!(brama.available("db"), "{mode:?}: expired, the probe goes");
        assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
        brama.success("db").unwrap();
        assert_eq!(brama.status("db").unwrap().state, State::Closed);
        assert!(
            brama.janitor_wakeups() - before <= 5,
            "{mode:?}: the check did not wait for the janitor"
        );
    }
}

#[test]
fn manual_mode_has_no_thread_and_sweeps_by_hand() {
    let brama = Brama::builder()
        .janitor(Janitor::Manual)
        .inactive_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    brama.register("idle", Options::new()).unwrap();
    thread::sleep(Duration::from_millis(30));
    assert_eq!(brama.janitor_wakeups(), 0);
    assert_eq!(brama.len(), 1, "nobody swept");
    assert_eq!(brama.sweep().evicted, 1);
}

/// A sleep that counts its calls and the durations asked, waiting on tokio's timer.
#[derive(Clone, Default)]
struct Counted {
    asked: Arc<Mutex<Vec<Duration>>>,
}

impl Counted {
    fn sleep(&self) -> impl Fn(Duration) -> tokio::time::Sleep + Send + 'static {
        let asked = Arc::clone(&self.asked);
        move |d| {
            asked.lock().unwrap().push(d);
            tokio::time::sleep(d)
        }
    }

    fn calls(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
}

#[test]
fn an_idle_janitor_task_sleeps_a_whole_interval_and_ends_with_the_last_brama() {
    with_watchdog("janitor task", || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let brama = brama(Janitor::Manual, INTERVAL);
        let counted = Counted::default();
        let task = rt.spawn(brama.janitor_task(counted.sleep()));
        thread::sleep(Duration::from_millis(20));
        let calls = counted.calls();
        let wakeups = brama.janitor_wakeups();
        thread::sleep(INTERVAL * 6);
        let slept = counted.calls() - calls;
        assert!(slept <= 8, "{slept} sleeps in 6 idle intervals");
        assert!(brama.janitor_wakeups() - wakeups <= 8);
        assert!(brama.janitor_sweeps() >= 4, "the task sweeps");
        let asked = counted.asked.lock().unwrap().clone();
        assert!(
            asked
                .iter()
                .skip(calls)
                .all(|d| *d > Duration::from_millis(5)),
            "idle: no millisecond ticks: {asked:?}"
        );
        // In use: the task ticks, then rests again.
        let conn = brama.connection("db").unwrap();
        let until = std::time::Instant::now() + Duration::from_millis(50);
        let before = counted.calls();
        while std::time::Instant::now() < until {
            let _ = conn.success();
        }
        assert!(counted.calls() - before >= 3, "the task ticks while in use");
        // Ends with the last Brama, promptly, even mid-interval.
        drop((conn, brama));
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .expect("the task ended")
                .unwrap()
        });
    });
}

#[test]
fn janitor_task_ends_at_once_in_thread_mode_and_for_a_second_task() {
    with_watchdog("task refused", || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let threaded = brama(Janitor::Thread, INTERVAL);
        rt.block_on(threaded.janitor_task(tokio::time::sleep));
        let manual = brama(Janitor::Manual, Duration::from_secs(3600));
        let first = rt.spawn(manual.janitor_task(tokio::time::sleep));
        rt.block_on(async {
            tokio::task::yield_now().await;
            manual.janitor_task(tokio::time::sleep).await; // ends: one task at a time
        });
        drop(manual);
        rt.block_on(first).unwrap();
    });
}

/// Whether a thread sleep has ended, and who to wake when it does.
type Alarm = Arc<Mutex<(bool, Option<Waker>)>>;

/// A sleep future on a plain thread (no runtime): the task runs on `futures`' executor.
struct ThreadSleep {
    duration: Duration,
    started: Option<Alarm>,
}

impl Future for ThreadSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let state = match &self.started {
            Some(s) => Arc::clone(s),
            None => {
                let s: Alarm = Arc::new(Mutex::new((false, None)));
                let theirs = Arc::clone(&s);
                let d = self.duration;
                thread::spawn(move || {
                    thread::sleep(d);
                    let mut st = theirs.lock().unwrap();
                    st.0 = true;
                    if let Some(w) = st.1.take() {
                        w.wake();
                    }
                });
                self.started = Some(Arc::clone(&s));
                s
            }
        };
        let mut st = state.lock().unwrap();
        if st.0 {
            return Poll::Ready(());
        }
        st.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn janitor_task_runs_on_the_futures_executor_with_a_thread_sleep() {
    with_watchdog("futures janitor", || {
        let brama = brama(Janitor::Manual, Duration::from_millis(30));
        let sleeps = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&sleeps);
        let task = brama.janitor_task(move |d| {
            // Relaxed: a test counter.
            counted.fetch_add(1, Ordering::Relaxed);
            ThreadSleep {
                duration: d,
                started: None,
            }
        });
        let handle = thread::spawn(move || futures::executor::block_on(task));
        thread::sleep(Duration::from_millis(200));
        assert!(brama.janitor_sweeps() >= 3, "swept on its interval");
        drop(brama);
        handle.join().unwrap();
        // Relaxed: read after the task ended.
        assert!(sleeps.load(Ordering::Relaxed) >= 3);
    });
}
