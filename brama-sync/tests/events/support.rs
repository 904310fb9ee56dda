//! Shared helpers: a registry on a `ManualClock` that never sweeps, draining, seq checks.

use std::time::Duration;

use brama_sync::{Brama, Event, ManualClock, Subscription};

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
pub(crate) const EXPIRY: Duration = Duration::from_secs(10);

pub(crate) fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(5))
        .cleanup_interval(HOUR)
        .inactive_threshold(HOUR)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Everything queued now.
pub(crate) fn drain(sub: &Subscription) -> Vec<Event> {
    sub.try_iter().collect()
}

pub(crate) fn assert_gap_free(events: &[Event], first: u64) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, first + i as u64, "gap or reordering at {i}: {e:?}");
    }
}
