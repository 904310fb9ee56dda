//! SPEC §8 (issue #15): the rate windows under many threads at once lose no outcome and
//! count none twice. Exact counts, no timing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use brama_core::engine::policy::Tallies;
use brama_core::engine::window::{Buckets, CountRing};

const THREADS: u64 = 4;
const REPORTS: u64 = 20_000;

/// Runs `THREADS` threads of `REPORTS` outcomes each (`outcome(thread, i)`) into one
/// ring, `clear` running on the calling thread meanwhile; returns the fates counted.
fn hammer(
    ring: &Arc<CountRing>,
    outcome: fn(u64, u64) -> (bool, bool),
    clear: impl Fn(&CountRing),
) -> [u64; 3] {
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ring, start) = (Arc::clone(ring), Arc::clone(&start));
            thread::spawn(move || {
                let mut fates = [0u64; 3];
                start.wait();
                for i in 0..REPORTS {
                    let (failure, slow) = outcome(t, i);
                    fates[ring.record(failure, slow).1 as usize] += 1;
                }
                fates
            })
        })
        .collect();
    start.wait();
    clear(ring);
    handles.into_iter().fold([0; 3], |acc, h| {
        let f = h.join().unwrap();
        [acc[0] + f[0], acc[1] + f[1], acc[2] + f[2]]
    })
}

#[test]
fn a_count_window_keeps_exactly_its_size_and_sums_what_it_holds() {
    for n in [1u32, 7, 100, 1_000] {
        let ring = Arc::new(CountRing::new(n));
        // Each thread its own mix, so replacements change the sums.
        let fates = hammer(&ring, |t, i| ((i + t) % 3 == 0, (i * t) % 5 == 0), |_| ());
        let [taken, absorbed, cleared] = fates;
        assert_eq!(taken + absorbed + cleared, THREADS * REPORTS, "n = {n}");
        assert_eq!(cleared, 0, "no clear ran");
        assert_eq!(ring.taken(), taken, "n = {n}");
        assert_eq!(ring.in_flight(), 0);
        let t = ring.tallies();
        // What took a slot == what the window holds + what it evicted.
        assert_eq!(u64::from(t.calls), u64::from(n), "n = {n}");
        // The sums are the slots' outcomes, none lost, none twice.
        assert_eq!(t, ring.recount(), "n = {n}");
    }
}

#[test]
fn absorbing_and_clearing_racing_writers_keep_the_sums_exact() {
    for n in [1u32, 7, 100] {
        let ring = Arc::new(CountRing::new(n));
        // Mostly successes, so full rings of successes absorb; a failure now and then.
        let clears = AtomicU64::new(0);
        let fates = hammer(
            &ring,
            |t, i| ((i * (t + 1)) % 97 == 0, false),
            |ring| {
                // Best effort while they run: a clear needs a moment with no report in
                // flight (the loom models cover the race itself).
                for _ in 0..2_000 {
                    if ring.try_clear() {
                        clears.fetch_add(1, Ordering::Relaxed);
                    }
                    std::hint::spin_loop();
                }
            },
        );
        let [taken, absorbed, cleared] = fates;
        assert_eq!(taken + absorbed + cleared, THREADS * REPORTS, "n = {n}");
        assert!(
            cleared == 0 || clears.load(Ordering::Relaxed) > 0,
            "only a clear refuses a report"
        );
        assert_eq!(ring.taken(), taken, "n = {n}");
        assert_eq!(ring.in_flight(), 0, "n = {n}");
        assert_eq!(ring.tallies(), ring.recount(), "n = {n}");
        assert!(ring.tallies().calls <= n);
        // With nothing in flight a clear always succeeds, and empties the ring.
        assert!(ring.try_clear());
        assert_eq!(ring.tallies(), Tallies::default());
        assert_eq!(ring.recount(), Tallies::default());
    }
}

/// Runs `reporter(thread, now)` on `THREADS` threads started together, into a window
/// of 1 ms buckets, while the clock moves under them in 0.1 ms steps (rollovers race
/// the writers); returns what each thread returned and the clock's last reading.
fn race_the_clock<R: Send>(reporter: impl Fn(u64, &dyn Fn() -> u64) -> R + Sync) -> (Vec<R>, u64) {
    let now = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize + 1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (reporter, now, start) = (&reporter, &now, &start);
                s.spawn(move || {
                    start.wait();
                    reporter(t, &|| now.load(Ordering::Relaxed))
                })
            })
            .collect();
        start.wait();
        for step in 1..=2_000u64 {
            now.store(step * 100_000, Ordering::Relaxed); // 0.1 ms steps
            std::hint::spin_loop();
        }
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (results, now.load(Ordering::Relaxed))
    })
}

#[test]
fn a_time_window_counts_every_outcome_once_across_rollovers() {
    let buckets = Buckets::new(Duration::from_millis(10)); // 1 ms buckets
    let (_, now) = race_the_clock(|t, now| {
        for i in 0..REPORTS {
            buckets.record((i + t) % 2 == 0, false, now());
        }
    });
    assert_eq!(
        THREADS * REPORTS,
        buckets.held() + buckets.evicted(),
        "threads × reports == held + evicted"
    );
    let t: Tallies = buckets.tallies(now);
    assert!(u64::from(t.calls) <= buckets.held());
}

#[test]
fn reports_that_skip_the_sum_of_a_clean_window_are_counted_once() {
    // Successes that find the window clean record without summing it; one thread in
    // four reports a failure now and then, so clean and dirty reports interleave.
    let buckets = Buckets::new(Duration::from_millis(10)); // 1 ms buckets
    let (failures, at) = race_the_clock(|t, now| {
        let mut failures = 0;
        for i in 0..REPORTS {
            let failure = t == 0 && i % 1_000 == 0;
            let tallies = buckets.record_unless_clean(failure, false, now());
            if failure {
                failures += 1;
                // A failure's own window is never clean.
                assert!(tallies.is_some(), "a failure found its window clean");
            }
        }
        failures
    });
    assert_eq!(failures.iter().sum::<u64>(), REPORTS / 1_000);
    assert_eq!(
        THREADS * REPORTS,
        buckets.held() + buckets.evicted(),
        "threads × reports == held + evicted"
    );
    // Quiet now: the window is clean exactly when its sum holds no failure.
    let clean = buckets.tallies(at).failures == 0;
    assert_eq!(
        buckets.record_unless_clean(false, false, at).is_none(),
        clean
    );
}

#[test]
fn quiet_successes_racing_failures_and_rollovers_are_counted_once() {
    // Successes as `ConnectionCell::success_in_time_window` makes them: counted in the
    // thread's lane while the window is open at their stamp (the threads that got a
    // lane), else recorded and the window opened. Thread 0 reports a failure every
    // 5,000 reports, which closes the window for the next 10 ms of the clock. The
    // reporters move the clock themselves, 0.1 ms every 20 reports each, so that
    // thread 0's own reports take it 25 ms past each of its failures: the window is
    // clean, and open to quiet successes, for a good part of the run, however the
    // threads are scheduled.
    let buckets = Buckets::new(Duration::from_millis(10)); // 1 ms buckets
    let clock = AtomicU64::new(0);
    let start = Barrier::new(THREADS as usize);
    let quiet: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (buckets, clock, start) = (&buckets, &clock, &start);
                s.spawn(move || {
                    let _ = brama_core::engine::counter::lane(); // a lane, if one is free
                    start.wait();
                    let mut quiet = 0u64;
                    for i in 0..REPORTS {
                        if i % 20 == 0 {
                            clock.fetch_add(100_000, Ordering::Relaxed);
                        }
                        let stamp = clock.load(Ordering::Relaxed);
                        if t == 0 && i % 5_000 == 0 {
                            buckets.record_unless_clean(true, false, stamp);
                        } else if let Some(lane) = buckets.quiet_lane(stamp) {
                            lane.incr(Buckets::QUIET);
                            quiet += 1;
                            if !buckets.still_quiet(stamp) {
                                buckets.settle_quiet(stamp);
                            }
                        } else if buckets.record_unless_clean(false, false, stamp).is_none() {
                            buckets.open_quiet(stamp);
                        }
                    }
                    quiet
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(quiet > 0, "no success went quiet");
    assert_eq!(buckets.quiet_successes(), quiet);
    assert_eq!(
        THREADS * REPORTS,
        buckets.held() + buckets.evicted(),
        "threads × reports == held + evicted"
    );
    let t: Tallies = buckets.tallies(clock.load(Ordering::Relaxed));
    assert!(u64::from(t.calls) <= buckets.held());
}
