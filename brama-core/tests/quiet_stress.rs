//! The quiet path of a handle success under concurrency: a `Success` subscription
//! racing clock refreshes and quiet successes. In a process of its own, because the
//! quiet path needs threads that own counter lanes (`counter::OWNED_LANES` per
//! process), and other tests running beside it would take them.

mod common;

use brama_core::engine::counter::{lane, OWNED_LANES};
use brama_core::engine::Context;
use brama_core::{ClockSource, Config, EventType, Filter, SystemClock};
use common::cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

/// Two threads report successes as a handle does (the quiet path, else the full
/// report) while a third refreshes the clock without pause; once both have taken the
/// quiet path, the main thread subscribes to `Success` and raises a flag. Every success
/// a reporter makes after seeing the flag happens after the subscribe, so each must
/// reach the subscriber: no refresh may reopen the quiet path under it.
#[test]
fn no_success_after_a_subscription_is_counted_quietly_whatever_the_refreshes() {
    const REPORTERS: usize = 2;
    const AFTER: u64 = 20_000;
    let cx = Arc::new(Context::new(
        Config::default(),
        ClockSource::from(SystemClock::new()),
        1 << 20,
    ));
    let db = Arc::new(cell(&cx));
    // Unknown -> Closed, from a thread whose lane is given back when it exits.
    thread::scope(|s| s.spawn(|| db.success(&cx, None).unwrap()).join().unwrap());
    const { assert!(REPORTERS <= OWNED_LANES) };
    let stop = Arc::new(AtomicBool::new(false));
    let subscribed = Arc::new(AtomicBool::new(false));
    let went_quiet = Arc::new(AtomicUsize::new(0));

    let refresher = {
        let (cx, stop) = (Arc::clone(&cx), Arc::clone(&stop));
        thread::spawn(move || {
            // Relaxed: a stop signal; the join orders the rest.
            while !stop.load(Ordering::Relaxed) {
                cx.refresh();
                thread::yield_now();
            }
        })
    };
    let reporters: Vec<_> = (0..REPORTERS)
        .map(|_| {
            let (cx, db) = (Arc::clone(&cx), Arc::clone(&db));
            let (subscribed, went_quiet) = (Arc::clone(&subscribed), Arc::clone(&went_quiet));
            thread::spawn(move || {
                // Without a lane this thread could never go quiet (and the wait below
                // would not end): say so instead.
                assert!(lane().is_owned(), "a reporter got no counter lane");
                let (mut quiet, mut after, mut total) = (false, 0u64, 0u64);
                while after < AFTER {
                    // Acquire: pairs with the Release below, after the subscribe.
                    let seen = subscribed.load(Ordering::Acquire);
                    if db.success_if_quiet(&cx) {
                        if !quiet {
                            quiet = true;
                            went_quiet.fetch_add(1, Ordering::Release);
                        }
                    } else {
                        db.success(&cx, None).unwrap();
                    }
                    total += 1;
                    after += u64::from(seen);
                }
                (after, total)
            })
        })
        .collect();
    // Acquire: pairs with the reporters' Release (only a progress condition).
    while went_quiet.load(Ordering::Acquire) < REPORTERS {
        if reporters.iter().any(thread::JoinHandle::is_finished) {
            break; // one failed: its join below says why
        }
        thread::yield_now();
    }
    let sub = cx
        .bus
        .subscribe(Filter::new().event_type(EventType::Success));
    subscribed.store(true, Ordering::Release);
    let (after, total) = reporters
        .into_iter()
        .map(|r| r.join().unwrap())
        .fold((0, 0), |(a, t), (a1, t1)| (a + a1, t + t1));
    stop.store(true, Ordering::Relaxed);
    refresher.join().unwrap();

    let events = std::iter::from_fn(|| sub.try_recv()).count() as u64;
    assert_eq!(sub.dropped(), 0, "the queue holds every event");
    assert!(
        events >= after,
        "{events} events for {after} successes after the subscribe"
    );
    assert!(events <= total);
    assert_eq!(db.counts().total_successes, 1 + total, "each counted once");
}
