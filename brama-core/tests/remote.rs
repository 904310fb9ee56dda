//! SPEC §12, the engine's side: a change another instance made is applied through the
//! manual path with cause `Remote`; an opening never shortens one in force; the
//! remaining open time is read exactly.

mod common;

use brama_core::engine::Remote;
use brama_core::{Cause, Error, Key, OpenOptions, State};
use common::*;

use Cause::*;
use State::*;

#[test]
fn a_remote_opening_lasts_the_time_given_with_cause_remote() {
    let h = Harness::new(fixed(5, secs(60)));
    h.success();
    h.changes();
    assert!(h
        .reg
        .apply_remote(KEY, Remote::Open(Some(secs(20))), Some("db down"))
        .unwrap());
    let s = h.status();
    assert_eq!(s.state, Open);
    assert_eq!(s.trips, 1);
    assert_eq!(s.open_duration, secs(20));
    let events = h.change_events();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        events[0].kind,
        brama_core::EventKind::StateChanged {
            from: Closed,
            to: Open,
            cause: Remote
        }
    ));
    assert_eq!(events[0].reason.as_deref(), Some("db down"));
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(Some(secs(20))));
    h.advance(secs(5));
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(Some(secs(15))));
    h.advance(secs(15) - NS);
    assert!(!h.available());
    h.advance(NS);
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), None);
    assert!(h.available(), "half-open after the remaining time");
}

#[test]
fn a_remote_opening_never_shortens_one_in_force_and_may_extend_it() {
    let h = Harness::new(fixed(1, secs(60)));
    h.trip();
    h.changes();
    assert!(!h
        .reg
        .apply_remote(KEY, Remote::Open(Some(secs(10))), None)
        .unwrap());
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(Some(secs(60))));
    assert!(h
        .reg
        .apply_remote(KEY, Remote::Open(Some(secs(90))), None)
        .unwrap());
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(Some(secs(90))));
    assert_eq!(h.changes(), vec![], "re-arming an open circuit is quiet");
    assert_eq!(h.status().trips, 1);
    assert!(h.reg.apply_remote(KEY, Remote::Open(None), None).unwrap());
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(None));
    assert!(!h
        .reg
        .apply_remote(KEY, Remote::Open(Some(secs(1000))), None)
        .unwrap());
    assert_eq!(h.reg.open_remaining(KEY).unwrap(), Some(None));
}

#[test]
fn remote_close_and_reset_carry_cause_remote() {
    let h = Harness::new(fixed(1, secs(60)));
    h.trip();
    h.changes();
    assert!(h.reg.apply_remote(KEY, Remote::Close, None).unwrap());
    assert_eq!(h.changes(), vec![(Open, Closed, Remote)]);
    assert_eq!(h.consecutive(), 0);
    h.trip();
    h.changes();
    assert!(h.reg.apply_remote(KEY, Remote::Reset, None).unwrap());
    assert_eq!(h.changes(), vec![(Open, Unknown, Remote)]);
    assert!(!h.reg.apply_remote(KEY, Remote::Reset, None).unwrap());
    assert_eq!(h.changes(), vec![]);
    // Local manual actions keep their own causes.
    h.open(OpenOptions::new());
    h.close();
    assert_eq!(
        h.changes(),
        vec![(Unknown, Open, ManualOpen), (Open, Closed, ManualClose)]
    );
}

#[test]
fn bad_remote_changes_are_refused_and_change_nothing() {
    let h = Harness::new(fixed(1, secs(60)));
    h.changes();
    assert!(matches!(
        h.reg.apply_remote(KEY, Remote::Open(Some(secs(0))), None),
        Err(Error::InvalidConfig { .. })
    ));
    assert!(matches!(
        h.reg
            .apply_remote(Key::new("nope"), Remote::Open(Some(secs(1))), None),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        h.reg.apply_remote(Key::new(""), Remote::Close, None),
        Err(Error::InvalidKey { .. })
    ));
    assert_eq!(h.state(), Unknown);
    assert_eq!(h.changes(), vec![]);
    assert!(matches!(
        h.reg.open_remaining(Key::new("nope")),
        Err(Error::NotFound { .. })
    ));
}
