//! Issue #20, defect 6: a report through a `Connection` or a `Permit` that races
//! `unregister` is exact: it returned `Ok` if and only if it is in the final `Status`
//! that `unregister` returned. (Before, 7 of 20.8 M such reports returned `Ok` and were
//! missing. The loom model `loom_counters.rs::an_owned_report_racing_removal_is_in_the_
//! final_total_iff_it_returned_ok` proves the protocol, and its broken twin shows the
//! fence is what makes it hold; this test runs the real code under real threads.)

use std::sync::Barrier;
use std::thread;

use brama_sync::{Brama, Error, ManualClock, Options};

const ROUNDS: usize = 400;
const REPORTERS: usize = 2;

/// Reports through `conn` until the connection is gone; returns the successes and the
/// failures that returned `Ok`.
fn report_until_gone(conn: &brama_sync::Connection, start: &Barrier) -> (u64, u64) {
    let (mut ok_s, mut ok_f) = (0, 0);
    start.wait();
    for i in 0u64.. {
        let out = match i % 4 {
            0 => conn.failure().map(|()| ok_f += 1),
            1 => conn.acquire().and_then(|p| p.success()).map(|()| ok_s += 1),
            _ => conn.success().map(|()| ok_s += 1),
        };
        match out {
            Ok(()) => {}
            Err(Error::NotFound { .. }) => break,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    (ok_s, ok_f)
}

#[test]
fn handle_reports_racing_unregister_are_in_the_final_status_iff_ok() {
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let mut late = 0;
    for round in 0..ROUNDS {
        brama.register("db", Options::new()).unwrap();
        let conn = brama.connection("db").unwrap();
        let start = Barrier::new(REPORTERS + 1);
        let (status, counted) = thread::scope(|s| {
            let reporters: Vec<_> = (0..REPORTERS)
                .map(|_| s.spawn(|| report_until_gone(&conn, &start)))
                .collect();
            start.wait();
            // Let the reporters run a varying while, then unregister under them.
            for _ in 0..(round % 50) * 20 {
                std::hint::spin_loop();
            }
            let status = brama.unregister("db").unwrap();
            let counted = reporters
                .into_iter()
                .map(|r| r.join().unwrap())
                .fold((0, 0), |(a, b), (s, f)| (a + s, b + f));
            (status, counted)
        });
        assert_eq!(
            (status.total_successes, status.total_failures),
            counted,
            "round {round}: the final status and the Ok reports disagree"
        );
        if counted.0 + counted.1 > 0 {
            late += 1;
        }
    }
    assert!(late > 0, "the reporters never ran before the unregister");
}

/// Checks and successes by key until the connection is gone; returns the successes
/// that returned `Ok`. From the second check on the key is in this thread's cache, so
/// its successes count in the thread's own lane where it has one.
fn succeed_by_key_until_gone(brama: &Brama, start: &Barrier) -> u64 {
    let mut ok = 0;
    start.wait();
    loop {
        if !brama.available("db") {
            // Refused: only an unknown key is, here (nothing fails).
            return ok;
        }
        match brama.success("db") {
            Ok(()) => ok += 1,
            Err(Error::NotFound { .. }) => return ok,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[test]
fn by_key_successes_racing_unregister_are_in_the_final_status_iff_ok() {
    let brama = Brama::builder().clock(ManualClock::new()).build().unwrap();
    let mut late = 0;
    for round in 0..ROUNDS {
        brama.register("db", Options::new()).unwrap();
        let start = Barrier::new(REPORTERS + 1);
        let (status, counted) = thread::scope(|s| {
            let reporters: Vec<_> = (0..REPORTERS)
                .map(|_| s.spawn(|| succeed_by_key_until_gone(&brama, &start)))
                .collect();
            start.wait();
            for _ in 0..(round % 50) * 20 {
                std::hint::spin_loop();
            }
            let status = brama.unregister("db").unwrap();
            let counted: u64 = reporters.into_iter().map(|r| r.join().unwrap()).sum();
            (status, counted)
        });
        assert_eq!(
            status.total_successes, counted,
            "round {round}: the final status and the Ok successes disagree"
        );
        if counted > 0 {
            late += 1;
        }
    }
    assert!(late > 0, "the reporters never ran before the unregister");
}
