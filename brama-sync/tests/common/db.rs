//! The one-connection registry the call tests share: connection "db", threshold 2, a
//! 10 s open duration, a manual clock, and a janitor that never sweeps during a test.
//! Included with `#[path = "common/db.rs"] mod db;` by each test file that uses it.
#![allow(dead_code)] // each test file uses its own part

use std::time::Duration;

use brama_sync::{Brama, Builder, ManualClock, Options, State};

pub const HOUR: Duration = Duration::from_secs(3600);
pub const EXPIRY: Duration = Duration::from_secs(10);

/// The shared settings, to build as is or adjust first.
pub fn builder(clock: &ManualClock) -> Builder {
    Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .cleanup_interval(HOUR)
        .clock(clock.clone())
}

/// Builds `builder` and registers "db".
pub fn with_db(builder: Builder) -> Brama {
    let brama = builder.build().unwrap();
    brama.register("db", Options::new()).unwrap();
    brama
}

/// The shared registry, with "db" registered.
pub fn brama(clock: &ManualClock) -> Brama {
    with_db(builder(clock))
}

/// Two failures, then the open duration: "db" is due for half-open.
pub fn to_half_open(brama: &Brama, clock: &ManualClock) {
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    clock.advance(EXPIRY);
}

/// "db"'s total successes and failures.
pub fn totals(brama: &Brama) -> (u64, u64) {
    let s = brama.status("db").unwrap();
    (s.total_successes, s.total_failures)
}

/// "db"'s state.
pub fn state(brama: &Brama) -> State {
    brama.status("db").unwrap().state
}
