//! SPEC §11: a change of mode racing a half-open probe admission. The mode lives in the
//! state word and a change of mode starts a new cycle (freeing the probe slots), so a
//! check racing `ForcedOpen` is either refused by it, or admitted before it as a probe
//! of a cycle the change ended: never a probe of the cycle that follows.
#![cfg(brama_loom)]

mod support;

use brama_core::engine::Ticket;
use brama_core::{Error, Mode, State};
use loom::sync::Arc;
use loom::thread;
use support::Circuit;

/// A half-open circuit with one free probe slot, the default mode set to `ForcedOpen`
/// but not yet resolved into the connection.
fn half_open_about_to_be_forced() -> Circuit {
    let c = Circuit::expired(1);
    let first = c.cell.acquire(&c.cx).unwrap();
    assert!(first.probe);
    c.cell.release(first);
    assert_eq!(c.cell.state(), State::HalfOpen);
    assert!(c.cx.layers.set_default_mode(Mode::ForcedOpen));
    c.changes();
    c
}

/// Races an `acquire` with the change of mode; returns its result.
fn race(c: &Circuit) -> Result<Ticket, Error> {
    let checker = {
        let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
        thread::spawn(move || cell.acquire(&cx))
    };
    let changer = {
        let (cx, cell) = (Arc::clone(&c.cx), Arc::clone(&c.cell));
        thread::spawn(move || cell.refresh_layers(&cx))
    };
    changer.join().unwrap();
    checker.join().unwrap()
}

#[test]
fn a_check_racing_forced_open_is_refused_or_a_probe_of_the_ended_cycle() {
    support::check("mode/forced vs acquire", || {
        let c = half_open_about_to_be_forced();
        let r = race(&c);
        let w = c.cell.word_now();
        assert_eq!((w.state(), w.mode()), (State::HalfOpen, Mode::ForcedOpen));
        assert_eq!(w.in_flight(), 0, "the change freed the slots");
        match r {
            Ok(t) => assert!(
                t.probe && t.gen != w.gen(),
                "admitted only as the probe of the ended cycle: {t:?}, {w:?}"
            ),
            Err(e) => assert!(
                matches!(
                    e,
                    Error::Rejected {
                        state: State::Open,
                        retry_after: None,
                        ..
                    }
                ),
                "refused by the mode: {e:?}"
            ),
        }
        assert!(c.cell.acquire(&c.cx).is_err(), "refused from now on");
        assert!(
            c.changes().is_empty(),
            "a change of mode is no state change"
        );
    });
}

/// The twin: that a check racing the change is always refused is false (it can be
/// admitted just before it), and the model finds that interleaving.
#[test]
#[should_panic(expected = "admitted before the change")]
fn a_check_racing_forced_open_is_sometimes_admitted_first() {
    support::check("mode/forced vs acquire (twin)", || {
        let c = half_open_about_to_be_forced();
        let r = race(&c);
        assert!(r.is_err(), "admitted before the change: {r:?}");
    });
}
