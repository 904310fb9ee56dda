//! Shared helpers: a registry with a policy and probes, its state changes, a 50 % policy.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Event, EventKind, Janitor, ManualClock, State, Subscription, TripPolicy, Window,
};

pub(crate) const MS: Duration = Duration::from_millis(1);
pub(crate) const EXPIRY: Duration = Duration::from_secs(30);

pub(crate) fn brama_with(clock: &ManualClock, policy: TripPolicy, probes: u32) -> Brama {
    Brama::builder()
        .trip_policy(policy)
        .expiry(EXPIRY)
        .half_open_probes(probes)
        .probe_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}

pub(crate) fn changes(sub: &Subscription) -> Vec<(State, State, Cause)> {
    sub.try_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
            _ => None,
        })
        .collect()
}

pub(crate) fn rate_50_of_10() -> TripPolicy {
    TripPolicy::failure_rate(0.5)
        .window(Window::count(10))
        .minimum_calls(4)
}
