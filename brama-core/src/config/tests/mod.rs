use std::time::Duration;

use super::expiry::*;
use super::limits::*;
use super::open::*;
use super::options::*;
use super::resolved::*;
use super::settings::*;
use crate::error::Error;

pub(super) const NS: Duration = Duration::from_nanos(1);

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The field of an `InvalidConfig` error, failing the test on anything else.
pub(super) fn field_of(result: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match result {
        Err(Error::InvalidConfig { field, reason }) => {
            assert!(!reason.is_empty());
            field
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

pub(super) fn progressive(initial: Duration, max: Duration, factor: f64) -> Config {
    Config {
        strategy: ExpiryStrategy::Progressive {
            initial,
            max,
            factor,
        },
        ..Config::default()
    }
}

mod durations;
mod validation;
