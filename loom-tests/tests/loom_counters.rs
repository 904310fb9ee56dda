//! No lost counter update: reports from two threads are all counted, and the owned-lane
//! increments of `Counter` are exact because `LaneTable` hands each lane to one thread
//! at a time and passes it on through its release/acquire pair.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::counter::{Counter, LaneTable};
use brama_core::{Config, State};
use loom::sync::Arc;
use loom::thread;
use support::Circuit;

#[test]
fn concurrent_reports_are_all_counted() {
    support::check("counters/2 reporters x 2 reports", || {
        let c = Circuit::new(Config {
            failure_threshold: 3,
            ..Config::default()
        });
        c.cell.success(&c.cx, None).unwrap();
        let successes = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || {
                cell.success(&cx, None).unwrap();
                cell.success(&cx, None).unwrap();
            })
        };
        let failures = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || {
                cell.failure(&cx, None, None).unwrap();
                cell.failure(&cx, None, None).unwrap();
            })
        };
        successes.join().unwrap();
        failures.join().unwrap();

        let counts = c.cell.counts();
        assert_eq!(counts.total_successes, 3);
        assert_eq!(counts.total_failures, 2);
        assert!(counts.consecutive_failures <= 2, "{counts:?}");
        assert_eq!((counts.trips, c.cell.state()), (0, State::Closed));
    });
}

/// Two threads each claim a lane, count twice through it and give it back. Only one
/// owned lane is free, so a thread gets it fresh, gets it second-hand (after the
/// other's release), or falls back to the shared lane.
#[test]
fn lane_ownership_counts_exactly() {
    support::check("counters/lane table", || {
        let table = Arc::new(LaneTable::new());
        let counter = Arc::new(Counter::new());
        let held = [table.claim(), table.claim()];
        assert!(held.iter().all(|l| l.is_owned()));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (table, counter) = (Arc::clone(&table), Arc::clone(&counter));
                thread::spawn(move || {
                    let lane = table.claim();
                    counter.incr(lane);
                    counter.incr(lane);
                    table.release(lane);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counter.sum(), 4);
    });
}

// ----- the broken twin ----------------------------------------------------------------

/// The same, but each thread claims from its own table: both believe they own lane 0
/// and both increment it with the owned-lane load and store.
#[test]
#[should_panic(expected = "lost update")]
fn broken_shared_owned_lane_is_caught() {
    support::check("counters/broken twin", || {
        let counter = Arc::new(Counter::new());
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let counter = Arc::clone(&counter);
                thread::spawn(move || {
                    // BROKEN: the lane table must be one per process.
                    let table = LaneTable::new();
                    let lane = table.claim();
                    counter.incr(lane);
                    counter.incr(lane);
                    table.release(lane);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(counter.sum(), 4, "lost update");
    });
}

/// `LaneTable` with its release/acquire pair weakened to `Relaxed`: a second-hand owner
/// need not see its predecessor's increments, and its load-and-store loses them.
#[test]
#[should_panic(expected = "lost update")]
fn broken_relaxed_hand_off_is_caught() {
    use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    support::check("counters/broken twin (relaxed hand-off)", || {
        let owned = Arc::new(AtomicBool::new(false));
        let cell = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (owned, cell) = (Arc::clone(&owned), Arc::clone(&cell));
                thread::spawn(move || {
                    // BROKEN: `LaneTable::claim` acquires on success.
                    if owned
                        .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        // `Counter::incr` on an owned lane.
                        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                        // BROKEN: `LaneTable::release` stores with Release.
                        owned.store(false, Ordering::Relaxed);
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        let claimed = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&c| c)
            .count() as u64;
        assert_eq!(cell.load(Ordering::Relaxed), claimed, "lost update");
    });
}

/// A report through an owned lane racing a removal (issue #20, defect 6): the reporter
/// counts with a plain load and store, fences lightly and re-checks the removal; the
/// remover marks the connection removed, then seals (a heavy fence, then a snapshot of
/// every owned cell). Whatever the interleaving, the report returns Ok exactly when the
/// removal's final total includes it. (`removed` and `lock` stand for the cell's word and
/// transition lock; `ConnectionCell::count` and `mark_removed_if` are the real code.)
fn owned_report_racing_removal(fenced: bool, heavy: bool) {
    use brama_core::engine::barrier;
    use brama_core::engine::counter::Tally;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::sync::Mutex;

    support::check("counters/owned report vs removal", move || {
        let tally = Arc::new(Tally::<1>::new());
        let table = Arc::new(LaneTable::new());
        let removed = Arc::new(AtomicBool::new(false));
        let lock = Arc::new(Mutex::new(()));
        let reporter = {
            let (tally, table, removed, lock) = (
                Arc::clone(&tally),
                Arc::clone(&table),
                Arc::clone(&removed),
                Arc::clone(&lock),
            );
            thread::spawn(move || {
                let lane = table.claim();
                assert!(lane.is_owned());
                if removed.load(Ordering::Acquire) {
                    return false; // NotFound before counting
                }
                tally.incr(0, lane);
                if fenced {
                    barrier::light();
                }
                if removed.load(Ordering::Acquire) {
                    let _sealed = lock.lock().unwrap();
                    return tally.kept_in(lane, 0);
                }
                true
            })
        };
        let final_total = {
            let _guard = lock.lock().unwrap();
            removed.store(true, Ordering::Release);
            tally.seal(heavy);
            tally.sum(0)
        };
        let ok = reporter.join().unwrap();
        assert_eq!(
            final_total,
            u64::from(ok),
            "Ok must mean counted in the final status"
        );
    });
}

#[test]
fn an_owned_report_racing_removal_is_in_the_final_total_iff_it_returned_ok() {
    owned_report_racing_removal(true, true);
}

/// The twin without the light fence: the reporter's re-check can miss the removal while
/// its count is still invisible to the seal's copy, so it returns Ok for a count the
/// final total lacks.
#[test]
#[should_panic(expected = "Ok must mean counted")]
fn broken_owned_report_without_the_fence_is_caught() {
    owned_report_racing_removal(false, true);
}

/// The twin whose seal skips its heavy fence, as `mark_removed_if` did whenever no
/// handle lived, although a success by key through a thread's per-thread cache counts
/// on an owned lane with no handle: the reporter's Ok can again lack a count in the
/// final total. (The seal now fences whenever the cell has lanes.)
#[test]
#[should_panic(expected = "Ok must mean counted")]
fn broken_seal_without_the_heavy_fence_is_caught() {
    owned_report_racing_removal(true, false);
}
