//! SPEC §2 rule 4: a probe's result decides its own half-open cycle only. A new check
//! racing the probe's success is never admitted as a second probe of that cycle, and a
//! permit from an earlier cycle decides nothing. SPEC §8: under a rate policy a
//! half-open cycle admits `half_open_probes` calls in all, also while a probe that
//! reported is moving from the slot count (the word) to the probe tally (the window).
#![cfg(brama_loom)]

mod support;

use brama_core::engine::rules::Machine;
use brama_core::engine::word::Word;
use brama_core::engine::Ticket;
use brama_core::{Cause, Config, Error, State, TripPolicy, Window};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use support::{Circuit, EXPIRY};

fn is_rejected_half_open(r: &Result<Ticket, Error>) -> bool {
    matches!(
        r,
        Err(Error::Rejected {
            state: State::HalfOpen,
            ..
        })
    )
}

#[test]
fn probe_success_racing_acquire_admits_no_second_probe() {
    support::check("probe/success vs acquire", || {
        let c = Circuit::expired(1);
        let probe = c.cell.acquire(&c.cx).unwrap();
        assert!(probe.probe);
        c.changes();

        let reporter = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.success(&cx, Some(probe)))
        };
        let checker = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.acquire(&cx))
        };
        reporter.join().unwrap().unwrap();
        let r = checker.join().unwrap();

        match r {
            // Admitted only once the circuit is Closed: a plain call of the next cycle.
            Ok(t) => assert!(!t.probe && t.gen != probe.gen, "second probe: {t:?}"),
            Err(_) => assert!(is_rejected_half_open(&r), "{r:?}"),
        }
        assert_eq!(c.cell.state(), State::Closed);
        assert_eq!(
            c.changes(),
            [(State::HalfOpen, State::Closed, Cause::ProbeSuccess)]
        );
    });
}

/// A circuit in its second half-open cycle: returns it, the probe of the first cycle
/// (which failed and re-opened the circuit) and the probe of the current one.
fn second_cycle() -> (Circuit, Ticket, Ticket) {
    let c = Circuit::expired(1);
    let old = c.cell.acquire(&c.cx).unwrap();
    c.cell.failure(&c.cx, Some(old), None).unwrap();
    assert_eq!(c.cell.state(), State::Open);
    c.clock.advance(EXPIRY);
    let current = c.cell.acquire(&c.cx).unwrap();
    assert!(old.probe && current.probe && old.gen != current.gen);
    assert_eq!(c.cell.state(), State::HalfOpen);
    c.changes();
    (c, old, current)
}

#[test]
fn earlier_cycle_success_racing_acquire_decides_nothing() {
    support::check("probe/stale success vs acquire", || {
        let (c, old, _current) = second_cycle();
        let reporter = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.success(&cx, Some(old)))
        };
        let checker = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.acquire(&cx))
        };
        reporter.join().unwrap().unwrap();
        let r = checker.join().unwrap();

        // The current probe still holds the only slot.
        assert!(is_rejected_half_open(&r), "{r:?}");
        assert_eq!(c.cell.state(), State::HalfOpen);
        assert_eq!(c.changes(), []);
        assert_eq!(c.cell.counts().total_successes, 1, "still counted");
    });
}

#[test]
fn earlier_cycle_failure_racing_current_success_decides_nothing() {
    support::check("probe/stale failure vs current success", || {
        let (c, old, current) = second_cycle();
        let trips = c.cell.counts().trips;
        let stale = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.failure(&cx, Some(old), None))
        };
        let fresh = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.success(&cx, Some(current)))
        };
        stale.join().unwrap().unwrap();
        fresh.join().unwrap().unwrap();

        let counts = c.cell.counts();
        assert_eq!(c.cell.state(), State::Closed);
        assert_eq!(counts.trips, trips, "the stale failure opened nothing");
        assert_eq!(counts.consecutive_failures, 0, "nor counted towards a trip");
        assert_eq!(
            c.changes(),
            [(State::HalfOpen, State::Closed, Cause::ProbeSuccess)]
        );
    });
}

// ----- the broken twin ----------------------------------------------------------------

/// The lock-free probe admission of `ConnectionCell::check_slow` (the real shape):
/// `(gen, probe)` if admitted.
fn acquire(word: &AtomicU64, probes: u32) -> Option<(u32, bool)> {
    let mut w = Word(word.load(Ordering::Acquire));
    loop {
        match w.state() {
            State::Unknown | State::Closed => return Some((w.gen(), false)),
            State::HalfOpen if w.in_flight() < probes => {}
            _ => return None,
        }
        match word.compare_exchange_weak(
            w.0,
            w.with_probe_admitted().0,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Some((w.gen(), true)),
            Err(c) => w = Word(c),
        }
    }
}

/// A probe success done in two steps: the slot is freed (as `ConnectionCell::release`
/// does) and then the circuit is closed with a second CAS.
fn success_broken(word: &AtomicU64, gen: u32) {
    let mut w = Word(word.load(Ordering::Acquire));
    // BROKEN: the real cell closes in one CAS under its lock; in between these two
    // steps the circuit is HalfOpen with a free slot in the same cycle.
    while w.gen() == gen && w.in_flight() > 0 {
        let freed = w.with_payload((w.admissions() << 16) | (w.in_flight() - 1));
        match word.compare_exchange_weak(w.0, freed.0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(c) => w = Word(c),
        }
    }
    let mut w = Word(word.load(Ordering::Acquire));
    while w.gen() == gen {
        let closed = Machine {
            state: State::Closed,
            gen: gen + 1,
            ..Machine::new()
        };
        match word.compare_exchange_weak(
            w.0,
            Word::encode(&closed, 0).0,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => break,
            Err(c) => w = Word(c),
        }
    }
}

#[test]
#[should_panic(expected = "second probe")]
fn broken_two_step_success_is_caught() {
    support::check("probe/broken twin", || {
        let half_open = Machine {
            state: State::HalfOpen,
            step: 1,
            gen: 2,
            ..Machine::new()
        };
        let word = Arc::new(AtomicU64::new(Word::encode(&half_open, 0).0));
        let (gen, probe) = acquire(&word, 1).unwrap();
        assert!(probe);
        let reporter = {
            let word = Arc::clone(&word);
            thread::spawn(move || success_broken(&word, gen))
        };
        let checker = {
            let word = Arc::clone(&word);
            thread::spawn(move || acquire(&word, 1))
        };
        reporter.join().unwrap();
        if let Some((g, probe)) = checker.join().unwrap() {
            assert!(!probe || g != gen, "second probe in cycle {g}");
        }
    });
}

// ----- a rate policy's probe tally (SPEC §8) --------------------------------------------

/// A circuit under a failure-rate policy with `probes` probe slots, whose half-open
/// cycle has admitted all of them: returns it and the probes' permits.
fn rate_half_open(probes: u32) -> (Circuit, Vec<Ticket>) {
    let mut cfg = Config {
        half_open_probes: probes,
        ..Config::default()
    };
    cfg.set_trip_policy(
        TripPolicy::failure_rate(0.5)
            .window(Window::count(2))
            .minimum_calls(1),
    );
    let c = Circuit::new(cfg);
    c.cell.failure(&c.cx, None, None).expect("registered");
    assert_eq!(
        c.cell.state(),
        State::Open,
        "one failure of one call trips it"
    );
    c.clock.advance(EXPIRY);
    let permits: Vec<_> = (0..probes)
        .map(|_| c.cell.acquire(&c.cx).expect("a probe slot"))
        .collect();
    assert!(permits.iter().all(|t| t.probe && t.gen == permits[0].gen));
    assert_eq!(c.cell.state(), State::HalfOpen);
    c.changes();
    (c, permits)
}

/// One probe of two reports (not the cycle's last: the cycle stays half-open) while
/// another thread checks: the cycle already admitted its two calls, so the check is
/// refused however the report's two writes (the window's probe tally, the word's slot
/// count) interleave with the check's two reads.
#[test]
fn rate_probe_report_racing_acquire_admits_no_more_than_n() {
    support::check("probe/rate probe report vs acquire", || {
        let (c, permits) = rate_half_open(2);
        let first = permits[0];
        let reporter = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.success(&cx, Some(first)))
        };
        let checker = {
            let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
            thread::spawn(move || cell.acquire(&cx))
        };
        reporter.join().unwrap().unwrap();
        let r = checker.join().unwrap();

        assert!(
            is_rejected_half_open(&r),
            "a third call admitted in a cycle of 2: {r:?}"
        );
        assert_eq!(
            c.cell.state(),
            State::HalfOpen,
            "one result of two decides nothing"
        );
        assert_eq!(c.changes(), []);
        assert_eq!(c.cell.counts().total_rejected, 1);
    });
}

// ----- its twins ----------------------------------------------------------------------

/// The lock-free check of `ConnectionCell::check_normal` under a rate policy (the real
/// shape): the word, then the tally of the cycle's reported probes; `Some(gen)` if
/// admitted as a probe.
fn rate_acquire(word: &AtomicU64, tally: &AtomicU64, n: u32) -> Option<u32> {
    let mut w = Word(word.load(Ordering::Acquire));
    loop {
        if w.state() != State::HalfOpen {
            return None;
        }
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

/// A probe's result under the transition lock (the only writer of the tally), as
/// `ConnectionCell::locked_held` applies it: its slot freed in the word with one CAS
/// (retried over lock-free admissions), its result added to the tally; the tally first
/// when `tally_first`, else after the CAS (BROKEN: the order before the fix).
fn rate_report(word: &AtomicU64, tally: &AtomicU64, tally_first: bool) {
    let next = tally.load(Ordering::Relaxed) + 1;
    let mut w = Word(word.load(Ordering::Acquire));
    loop {
        let freed = w.with_payload((w.admissions() << 16) | (w.in_flight() - 1));
        if tally_first {
            tally.store(next, Ordering::Release);
        }
        match word.compare_exchange(w.0, freed.0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(c) => w = Word(c),
        }
    }
    if !tally_first {
        tally.store(next, Ordering::Release);
    }
}

/// A half-open cycle of `n` = 2 whose two probes are out; one reports while another
/// call checks. Panics if the cycle admits more than `n`.
fn rate_twin(tally_first: bool) {
    let half_open = Machine {
        state: State::HalfOpen,
        step: 1,
        gen: 2,
        in_flight: 2,
        ..Machine::new()
    };
    let word = Arc::new(AtomicU64::new(Word::encode(&half_open, 2).0));
    let tally = Arc::new(AtomicU64::new(0));
    let reporter = {
        let (word, tally) = (Arc::clone(&word), Arc::clone(&tally));
        thread::spawn(move || rate_report(&word, &tally, tally_first))
    };
    let checker = {
        let (word, tally) = (Arc::clone(&word), Arc::clone(&tally));
        thread::spawn(move || rate_acquire(&word, &tally, 2))
    };
    reporter.join().unwrap();
    let admitted = checker.join().unwrap();
    assert_eq!(admitted, None, "more than n admitted in cycle 2");
}

#[test]
fn rate_probe_tally_before_the_word_admits_no_more_than_n() {
    support::check("probe/rate tally first", || rate_twin(true));
}

#[test]
#[should_panic(expected = "more than n admitted")]
fn broken_rate_probe_tally_after_the_word_is_caught() {
    support::check("probe/rate broken twin", || rate_twin(false));
}
