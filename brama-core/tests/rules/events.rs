//! Rule 8: every change of state is exactly one `StateChanged` event, and only changes.

use std::sync::Barrier;
use std::thread;

use brama_core::{Cause, Config, EventKind, EventType, Filter, Key, OpenOptions, Options, State};

use crate::common::*;

use Cause::*;
use State::*;

// ----- rule 8: every change is exactly one StateChanged event ---------------------------

#[test]
fn every_change_is_exactly_one_event_with_from_to_and_cause() {
    let h = Harness::new(fixed(2, secs(10)));
    let all = h.reg.context().bus.subscribe(Filter::new());
    h.success(); // Unknown -> Closed
    h.failures(2); // Closed -> Open
    h.advance(secs(10));
    assert!(h.available()); // Open -> HalfOpen, probe admitted
    h.failure(); // HalfOpen -> Open
    h.advance(secs(10));
    h.reg.sweep(); // Open -> HalfOpen
    h.success(); // no probe out: counted, no change
    assert!(h.available()); // the probe
    h.success(); // HalfOpen -> Closed
    h.open(OpenOptions::new().reason("maintenance")); // Closed -> Open
    h.close(); // Open -> Closed
    h.reset(); // Closed -> Unknown
    h.open(OpenOptions::new()); // Unknown -> Open
    h.advance(secs(10));
    assert!(h.available()); // Open -> HalfOpen
    h.advance(secs(10));
    assert!(h.available()); // probe timeout: slot freed, no change; probe admitted
    assert!(!h.available()); // the new probe holds the slot
    h.advance(secs(10));
    h.failure(); // probe timeout again, then no probe out: counted, no change
    assert_eq!(h.state(), HalfOpen);
    h.reset(); // HalfOpen -> Unknown
    assert_eq!(
        h.changes(),
        vec![
            (Unknown, Closed, Report),
            (Closed, Open, Threshold),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Open, ProbeFailure),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Closed, ProbeSuccess),
            (Closed, Open, ManualOpen),
            (Open, Closed, ManualClose),
            (Closed, Unknown, ManualReset),
            (Unknown, Open, ManualOpen),
            (Open, HalfOpen, Expiry),
            (HalfOpen, Unknown, ManualReset),
        ]
    );
    // Sequence numbers of all events are gap-free and in order.
    let seqs: Vec<u64> = all.try_iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn state_changed_events_carry_key_and_reason() {
    let h = Harness::empty(fixed(1, secs(10)));
    let key = Key::scoped("payments", "stripe");
    h.reg.register(key, &Options::new()).unwrap();
    h.reg.failure(key, Some("timeout")).unwrap();
    let events = h.change_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!((e.identifier(), e.scope()), ("stripe", Some("payments")));
    assert_eq!(e.event_type(), EventType::StateChanged);
    assert_eq!(e.reason.as_deref(), Some("timeout"));
    assert_eq!(e.at, h.wall(secs(0)));
}

#[test]
fn manual_open_event_carries_reason() {
    let h = Harness::new(Config::default());
    h.open(OpenOptions::new().reason("maintenance"));
    let events = h.change_events();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0].kind,
        EventKind::StateChanged {
            from: Unknown,
            to: Open,
            cause: ManualOpen
        }
    ));
    assert_eq!(events[0].reason.as_deref(), Some("maintenance"));
}

#[test]
fn quiet_updates_emit_no_state_changed() {
    let h = Harness::new(fixed(5, secs(10)));
    h.success();
    h.changes();
    h.failures(3); // count changes
    h.success(); // count zeroed
    assert!(h.available());
    assert!(h.changes().is_empty(), "counting is not a change");
    h.trip();
    h.advance(secs(10));
    h.reg.sweep();
    h.changes();
    let (cell, ticket) = h.reg.acquire(KEY).unwrap(); // probe admitted
    cell.release(ticket); // probe slot freed
    assert!(h.available()); // and taken again
    assert!(h.changes().is_empty());
    assert_eq!(h.state(), HalfOpen);
}

#[test]
fn concurrent_half_open_checks_admit_exactly_the_probe_limit() {
    const THREADS: usize = 8;
    let cfg = Config {
        half_open_probes: 3,
        ..fixed(1, secs(10))
    };
    let h = Harness::new(cfg);
    h.failure();
    h.advance(secs(10));
    h.changes();
    let barrier = Barrier::new(THREADS);
    let admitted = thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    h.reg.available(KEY)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&ok| ok)
            .count()
    });
    assert_eq!(admitted, 3);
    assert_eq!(h.status().total_rejected, (THREADS - 3) as u64);
    assert_eq!(
        h.changes(),
        vec![(Open, HalfOpen, Expiry)],
        "one expiry, however many checks saw it"
    );
}
