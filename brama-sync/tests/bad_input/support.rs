//! Shared helpers: a registry on a `ManualClock`, the error checks, event draining.

use std::time::Duration;

use brama_sync::{Brama, Builder, Error, Event, ExpiryStrategy, ManualClock, Status, Subscription};

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
/// The longest duration any setting accepts (100 years).
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
pub(crate) const TOO_LONG: Duration = Duration::from_secs(100 * 365 * 24 * 3600 + 1);

pub(crate) fn builder(clock: &ManualClock) -> Builder {
    Brama::builder()
        .failure_threshold(2)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
}

pub(crate) fn brama() -> Brama {
    builder(&ManualClock::new()).build().unwrap()
}

/// The field of an `InvalidConfig`, checking that the message names it too.
pub(crate) fn invalid_field<T: std::fmt::Debug>(result: Result<T, Error>) -> &'static str {
    match result {
        Err(e @ Error::InvalidConfig { .. }) => {
            let Error::InvalidConfig { field, ref reason } = e else {
                unreachable!()
            };
            let message = e.to_string();
            assert!(message.contains(field), "{message:?} does not name {field}");
            assert!(!reason.is_empty());
            field
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

pub(crate) fn is_invalid_key<T: std::fmt::Debug>(result: Result<T, Error>) -> bool {
    match result {
        Err(e @ Error::InvalidKey { .. }) => {
            let message = e.to_string();
            assert!(message.contains("256 bytes"), "{message:?}");
            true
        }
        other => panic!("expected InvalidKey, got {other:?}"),
    }
}

/// Everything queued on `sub` now.
pub(crate) fn drain(sub: &Subscription) -> Vec<Event> {
    sub.try_iter().collect()
}

/// A status without the fields that move with time.
pub(crate) fn fixed(mut s: Status) -> Status {
    s.since_state_change = Duration::ZERO;
    s
}

pub(crate) fn progressive(initial: Duration, max: Duration, factor: f64) -> ExpiryStrategy {
    ExpiryStrategy::Progressive {
        initial,
        max,
        factor,
    }
}
