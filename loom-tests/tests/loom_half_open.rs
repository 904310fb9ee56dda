//! SPEC §2 rules 3 and 4: when the open duration has passed, the callers that race to
//! promote the circuit to `HalfOpen` admit exactly `half_open_probes` of themselves, and
//! the promotion is one `StateChanged` event.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::rules::{step, Input, Machine, Outcome};
use brama_core::engine::word::Word;
use brama_core::{Cause, Config, Error, State};
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::{Circuit, EXPIRY};

/// `threads` threads call `acquire` on an expired `Open` circuit with `probes` slots.
fn race_promotion(threads: usize, probes: u32) {
    let c = Circuit::expired(probes);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.acquire(&cx))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let admitted: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(admitted.len(), probes as usize, "admitted {results:?}");
    assert!(admitted.iter().all(|t| t.probe && t.gen == admitted[0].gen));
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    Error::Rejected {
                        state: State::HalfOpen,
                        retry_after: None,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
    assert_eq!(c.cell.state(), State::HalfOpen);
    assert_eq!(
        c.cell.counts().total_rejected,
        (threads - probes as usize) as u64
    );
    assert_eq!(
        c.changes(),
        [(State::Open, State::HalfOpen, Cause::Expiry)],
        "one promotion"
    );
}

#[test]
fn two_callers_one_probe() {
    support::check("half_open/2 threads, 1 probe", || race_promotion(2, 1));
}

#[test]
fn three_callers_two_probes() {
    support::check("half_open/3 threads, 2 probes", || race_promotion(3, 2));
}

// ----- the broken twin ----------------------------------------------------------------

/// The cell's check with the promotion and admission decided on a plain load and
/// published with a plain store, instead of a compare-and-swap under the lock.
fn acquire_broken(
    word: &AtomicU64,
    open_until: u64,
    cfg: &Config,
    admitted: &AtomicUsize,
    changes: &AtomicUsize,
) {
    let w = Word(word.load(Ordering::Acquire));
    let m = Machine {
        state: w.state(),
        in_flight: w.in_flight(),
        gen: w.gen(),
        step: w.step(),
        open_until,
        ..Machine::new()
    };
    let now = support::nanos(EXPIRY);
    let (m2, fx) = step(m, Input::Check, now, cfg, 0.0);
    let admissions = w.admissions() + u32::from(fx.outcome == Outcome::Admitted);
    // BROKEN: `ConnectionCell::locked` publishes with compare_exchange under its lock,
    // and the lock-free admission in `check_slow` is a compare_exchange too.
    word.store(Word::encode(&m2, admissions).0, Ordering::Release);
    if fx.outcome == Outcome::Admitted {
        admitted.fetch_add(1, Ordering::Relaxed);
    }
    changes.fetch_add(fx.changes().count(), Ordering::Relaxed);
}

#[test]
#[should_panic(expected = "admitted one probe")]
fn broken_admission_without_cas_is_caught() {
    support::check("half_open/broken twin", || {
        let cfg = Config {
            failure_threshold: 1,
            ..Config::default()
        };
        let open = Machine {
            state: State::Open,
            step: 1,
            gen: 1,
            open_until: support::nanos(EXPIRY),
            ..Machine::new()
        };
        let word = Arc::new(AtomicU64::new(Word::encode(&open, 0).0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let changes = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (word, admitted, changes, cfg) = (
                    Arc::clone(&word),
                    Arc::clone(&admitted),
                    Arc::clone(&changes),
                    cfg.clone(),
                );
                thread::spawn(move || {
                    acquire_broken(&word, open.open_until, &cfg, &admitted, &changes)
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::Relaxed), 1, "admitted one probe");
        assert_eq!(changes.load(Ordering::Relaxed), 1, "one promotion");
    });
}
