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
