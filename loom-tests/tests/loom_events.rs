//! The bus's quiet stamp: a handle success on a healthy circuit skips its report only
//! while the stamp holds a clock reading, and a `Success` subscription must put it out
//! of reach at once, whatever clock refresh races the subscribe
//! (`EventBus::publish_quiet`'s SeqCst re-check).
#![cfg(brama_loom)]

mod support;

use brama_core::engine::clock::NOT_A_READING;
use brama_core::engine::EventBus;
use brama_core::{EventType, Filter};
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A clock reading the refresh publishes.
const NOW: u64 = 5;

/// A subscribe to `Success` racing a refresh: once the subscribe has returned, the
/// subscriber (and, after the join, everyone) reads `NOT_A_READING`, so no handle
/// success can skip the event it now wants.
#[test]
fn a_success_subscription_is_never_outrun_by_a_refresh() {
    support::check("events/subscribe vs refresh", || {
        let bus = Arc::new(EventBus::new(4));
        bus.publish_quiet(NOW - 1);
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || bus.publish_quiet(NOW))
        };
        let sub = bus.subscribe(Filter::new().event_type(EventType::Success));
        assert_eq!(bus.quiet(), NOT_A_READING, "outrun after the subscribe");
        refresher.join().unwrap();
        assert_eq!(bus.quiet(), NOT_A_READING, "outrun after the join");
        drop(sub);
        bus.publish_quiet(NOW + 1);
        assert_eq!(
            bus.quiet(),
            NOW + 1,
            "quiet again once nobody wants Success"
        );
    });
}

/// A subscription to other events leaves the stamp to the refresh.
#[test]
fn other_subscriptions_leave_the_stamp_to_the_refresh() {
    support::check("events/other subscription vs refresh", || {
        let bus = Arc::new(EventBus::new(4));
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || bus.publish_quiet(NOW))
        };
        let _sub = bus.subscribe(Filter::new().event_type(EventType::StateChanged));
        refresher.join().unwrap();
        assert_eq!(bus.quiet(), NOW);
    });
}

/// The refresh deciding from the mask under the lock but storing after releasing it:
/// the subscribe can store its mask and `NOT_A_READING` in between, and the refresh's
/// reading lands last.
#[test]
#[should_panic(expected = "outrun")]
fn broken_refresh_storing_outside_the_lock_is_caught() {
    struct MiniBus {
        wants: Mutex<u32>,
        quiet: AtomicU64,
    }
    const SUCCESS: u32 = 1;
    support::check("events/broken twin", || {
        let bus = Arc::new(MiniBus {
            wants: Mutex::new(0),
            quiet: AtomicU64::new(NOT_A_READING),
        });
        let refresher = {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                let wants = *bus.wants.lock().unwrap();
                let quiet = if wants & SUCCESS != 0 {
                    NOT_A_READING
                } else {
                    NOW
                };
                // BROKEN: stored after the lock is released.
                bus.quiet.store(quiet, Ordering::Relaxed);
            })
        };
        {
            let mut wants = bus.wants.lock().unwrap();
            *wants |= SUCCESS;
            bus.quiet.store(NOT_A_READING, Ordering::Relaxed);
        }
        let seen = bus.quiet.load(Ordering::Relaxed);
        refresher.join().unwrap();
        assert_eq!(seen, NOT_A_READING, "outrun after the subscribe");
        assert_eq!(
            bus.quiet.load(Ordering::Relaxed),
            NOT_A_READING,
            "outrun after the join"
        );
    });
}
