//! SPEC §2 rule 2: however many threads report the failure that reaches the threshold,
//! exactly one of them opens the circuit, and the opening is one `StateChanged` event.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::rules::{step, Input, Machine};
use brama_core::engine::word::Word;
use brama_core::{Cause, Config, State};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::Circuit;

/// `threads` threads report one failure each on a `Closed` (or, with `fresh`, a just
/// registered `Unknown`) circuit with this threshold.
fn race_failures(threads: usize, threshold: u32, fresh: bool) {
    let c = Circuit::new(Config {
        failure_threshold: threshold,
        ..Config::default()
    });
    if !fresh {
        c.cell.success(&c.cx, None).unwrap();
        assert_eq!(
            c.changes(),
            [(State::Unknown, State::Closed, Cause::Report)]
        );
    }
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.failure(&cx, None, None).unwrap())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }

    let counts = c.cell.counts();
    assert_eq!(c.cell.state(), State::Open);
    assert_eq!(counts.trips, 1, "opened exactly once");
    assert_eq!(
        counts.total_failures, threads as u64,
        "every failure counted"
    );
    let opens: Vec<_> = c
        .changes()
        .into_iter()
        .filter(|&(_, to, _)| to == State::Open)
        .collect();
    let from = if fresh && threshold == 1 {
        State::Unknown
    } else {
        State::Closed
    };
    assert_eq!(opens, [(from, State::Open, Cause::Threshold)]);
}

#[test]
fn two_failures_at_threshold_two_open_once() {
    support::check("open/2 threads, threshold 2", || race_failures(2, 2, false));
}

#[test]
fn two_failures_on_a_fresh_circuit_open_once() {
    // The first report also moves Unknown to Closed, under the same lock.
    support::check("open/2 threads, threshold 2, fresh", || {
        race_failures(2, 2, true)
    });
}

#[test]
fn three_failures_at_threshold_two_open_once() {
    support::check("open/3 threads, threshold 2", || race_failures(3, 2, false));
}

#[test]
fn three_failures_at_threshold_three_open_once() {
    support::check("open/3 threads, threshold 3", || race_failures(3, 3, false));
}

// ----- the broken twin ----------------------------------------------------------------

/// The rule-relevant part of a `Closed` word (what `ConnectionCell::machine` reads).
fn machine(w: Word) -> Machine {
    Machine {
        state: w.state(),
        consecutive: w.consecutive(),
        step: w.step(),
        gen: w.gen(),
        ..Machine::new()
    }
}

/// The cell's failure report with the step published by a plain store instead of a
/// compare-and-swap under the transition lock.
fn failure_broken(word: &AtomicU64, trips: &AtomicU64, cfg: &Config) {
    let w = Word(word.load(Ordering::Acquire));
    let (m2, fx) = step(machine(w), Input::Failure(None, false), 0, cfg, 0.0);
    // BROKEN: `ConnectionCell::locked` publishes with compare_exchange and retries.
    word.store(Word::encode(&m2, 0).0, Ordering::Release);
    if fx.opened {
        trips.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
#[should_panic(expected = "opened exactly once")]
fn broken_load_then_store_trip_is_caught() {
    support::check("open/broken twin", || {
        let cfg = Config {
            failure_threshold: 2,
            ..Config::default()
        };
        let closed = Machine {
            state: State::Closed,
            ..Machine::new()
        };
        let word = Arc::new(AtomicU64::new(Word::encode(&closed, 0).0));
        let trips = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (word, trips, cfg) = (Arc::clone(&word), Arc::clone(&trips), cfg.clone());
                thread::spawn(move || failure_broken(&word, &trips, &cfg))
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Two failures from 0 at threshold 2: a lost update leaves it Closed at 1.
        assert_eq!(trips.load(Ordering::Relaxed), 1, "opened exactly once");
    });
}
