//! Shared helpers: a registry on a fresh `ManualClock`, built or rejected.

use brama_core::engine::Registry;
use brama_core::{ClockSource, Config, Error, ManualClock, Settings};

pub(crate) fn registry(cfg: Config, settings: Settings) -> Result<Registry, Error> {
    Registry::new(cfg, settings, ClockSource::from(ManualClock::new()))
}
