//! Shared helpers: a registry on a `ManualClock` with a manual janitor.

use std::time::Duration;

use brama_sync::{Brama, Janitor, ManualClock};

pub(crate) const EXPIRY: Duration = Duration::from_secs(30);

/// Threshold 1, a fixed 30 s open duration, one probe, a 10 s probe timeout.
pub(crate) fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(1)
        .expiry(EXPIRY)
        .probe_timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}
