//! SPEC §8, §11, §13: a change of mode on a rate-policy circuit. The change keeps the
//! state word's policy flags, so a lock-free success racing it is recorded in the rate
//! window whenever it lands ("flags kept"); and under `HalfOpen` it frees the reported
//! probes' slots (the window's probe tally) after the word shows the new cycle, so a
//! check racing it is never admitted into the cycle it ended beyond `half_open_probes`
//! ("tally after"). The twin empties the tally before the word and is caught.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::word::Word;
use brama_core::engine::{rules::Machine, ConnectionCell, Context, Ticket};
use brama_core::{Config, Error, Mode, State, TripPolicy, Window};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::{Circuit, EXPIRY};

/// A circuit "db" under 50 % of the last 4 calls (from 4 on), `probes` probe slots,
/// its policy's window and word flags in force.
fn rate_circuit(probes: u32) -> Circuit {
    let mut cfg = Config {
        half_open_probes: probes,
        ..Config::default()
    };
    cfg.set_trip_policy(
        TripPolicy::failure_rate(0.5)
            .window(Window::count(4))
            .minimum_calls(4),
    );
    let c = Circuit::new(cfg);
    c.cell.refresh_layers(&c.cx);
    c
}

/// Resolves the default mode, just set to `MetricsOnly` (it counts and decides as
/// `Normal` does), into the connection while `other` runs; returns `other`'s result.
fn racing_metrics_only<T: Send + 'static>(
    c: &Circuit,
    other: impl FnOnce(&Context, &ConnectionCell) -> T + Send + 'static,
) -> T {
    assert!(c.cx.layers.set_default_mode(Mode::MetricsOnly));
    let racer = {
        let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
        thread::spawn(move || other(&cx, &cell))
    };
    let changer = {
        let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
        thread::spawn(move || cell.refresh_layers(&cx))
    };
    changer.join().unwrap();
    racer.join().unwrap()
}

/// A closed circuit with one success in its window; a success reported lock-free
/// races the change of mode: it is recorded whether it lands before, between or after
/// the change's writes (before the fix the change wrote the word without its rate
/// flag, and a success seeing that word was counted and not recorded).
#[test]
fn a_success_racing_a_mode_change_is_recorded() {
    support::check("mode/rate flags kept", || {
        let c = rate_circuit(1);
        c.cell.success(&c.cx, None).unwrap();
        assert_eq!(c.cell.state(), State::Closed);
        let w = c.cell.word_now();
        assert!(w.rate() && w.is_rate_closed(), "{w:?}");
        racing_metrics_only(&c, |cx, cell| cell.success(cx, None).unwrap());
        let w = c.cell.word_now();
        assert_eq!(w.mode(), Mode::MetricsOnly);
        assert!(w.rate(), "the change kept the rate flag: {w:?}");
        let s = c.cell.status(&c.cx);
        assert_eq!(
            (s.window_calls, s.total_successes),
            (2, 2),
            "both successes recorded and counted"
        );
    });
}

fn is_rejected_half_open(r: &Result<Ticket, Error>) -> bool {
    matches!(
        r,
        Err(Error::Rejected {
            state: State::HalfOpen,
            ..
        })
    )
}

/// A half-open cycle of 2 with one probe out and one reported (full); a check races
/// the change of mode. It is refused, or admitted as a probe of the new cycle; never
/// as a third probe of the cycle the change ended.
#[test]
fn a_check_racing_a_mode_change_in_half_open_is_no_probe_of_the_ended_cycle() {
    support::check("mode/rate tally after", || {
        let c = rate_circuit(2);
        for _ in 0..4 {
            c.cell.failure(&c.cx, None, None).unwrap();
        }
        assert_eq!(c.cell.state(), State::Open);
        c.clock.advance(EXPIRY);
        let out = c.cell.acquire(&c.cx).unwrap();
        let reported = c.cell.acquire(&c.cx).unwrap();
        assert!(out.probe && reported.probe);
        c.cell.success(&c.cx, Some(reported)).unwrap();
        assert_eq!(c.cell.state(), State::HalfOpen);
        let ended = out.gen;
        let r = racing_metrics_only(&c, |cx, cell| cell.acquire(cx));
        let w = c.cell.word_now();
        assert_eq!((w.state(), w.mode()), (State::HalfOpen, Mode::MetricsOnly));
        assert_ne!(w.gen(), ended, "a new cycle");
        let taken = match &r {
            Ok(t) if t.probe => {
                assert_eq!(
                    t.gen,
                    w.gen(),
                    "a third probe admitted into the ended cycle: {t:?}"
                );
                1
            }
            // `MetricsOnly` admits what it refuses, with a ticket that decides nothing.
            Ok(_) => 0,
            Err(_) => {
                assert!(is_rejected_half_open(&r), "refused as half-open: {r:?}");
                0
            }
        };
        // The new cycle has its two slots (less one the racing check may have taken).
        let more = (0..2)
            .map(|_| c.cell.acquire(&c.cx))
            .filter(|t| matches!(t, Ok(t) if t.probe))
            .count() as u32;
        assert_eq!(taken + more, 2, "every slot of the new cycle, and no more");
    });
}

// ----- the twin ---------------------------------------------------------------------

/// The lock-free check of `ConnectionCell::check_normal` under a rate policy: the
/// word, then the tally of the cycle's reported probes; `Some(gen)` if admitted.
fn rate_acquire(word: &AtomicU64, tally: &AtomicU64, n: u32) -> Option<u32> {
    let mut w = Word(word.load(Ordering::Acquire));
    loop {
        let reported = tally.load(Ordering::Acquire) as u32;
        if w.in_flight() + reported >= n {
            return None;
        }
        match word.compare_exchange_weak(
            w.0,
            w.with_probe_admitted().0,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Some(w.gen()),
            Err(c) => w = Word(c),
        }
    }
}

/// `set_mode` on a half-open word: a new cycle with no probe in flight, in
/// `MetricsOnly`, with one CAS (retried over lock-free admissions); the probe tally
/// emptied after the CAS when `tally_after`, else before it (BROKEN).
fn set_mode(word: &AtomicU64, tally: &AtomicU64, tally_after: bool) {
    let mut w = Word(word.load(Ordering::Acquire));
    loop {
        let m = Machine {
            state: State::HalfOpen,
            step: w.step(),
            gen: w.gen() + 1,
            ..Machine::new()
        };
        let w2 = Word::encode(&m, 0).with_mode(Mode::MetricsOnly);
        if !tally_after {
            tally.store(0, Ordering::Release);
        }
        match word.compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(c) => w = Word(c),
        }
    }
    if tally_after {
        tally.store(0, Ordering::Release);
    }
}

/// A full half-open cycle of 2 (cycle 2: one probe out, one reported); a check races
/// the change of mode. Panics if the check is admitted into cycle 2.
fn tally_twin(tally_after: bool) {
    let half_open = Machine {
        state: State::HalfOpen,
        step: 1,
        gen: 2,
        in_flight: 1,
        ..Machine::new()
    };
    let word = Arc::new(AtomicU64::new(Word::encode(&half_open, 2).0));
    let tally = Arc::new(AtomicU64::new(1));
    let changer = {
        let (word, tally) = (Arc::clone(&word), Arc::clone(&tally));
        thread::spawn(move || set_mode(&word, &tally, tally_after))
    };
    let checker = {
        let (word, tally) = (Arc::clone(&word), Arc::clone(&tally));
        thread::spawn(move || rate_acquire(&word, &tally, 2))
    };
    changer.join().unwrap();
    let admitted = checker.join().unwrap();
    assert_ne!(
        admitted,
        Some(2),
        "a third probe admitted into ended cycle 2"
    );
}

#[test]
fn the_tally_emptied_after_the_word_admits_nothing_into_the_ended_cycle() {
    support::check("mode/rate tally after (shape)", || tally_twin(true));
}

#[test]
#[should_panic(expected = "admitted into ended cycle")]
fn broken_tally_emptied_before_the_word_is_caught() {
    support::check("mode/rate tally before (twin)", || tally_twin(false));
}
