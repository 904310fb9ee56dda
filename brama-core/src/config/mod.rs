//! Configuration: the resolved per-connection [`Config`], the per-connection overrides
//! in [`Options`], manual-open [`OpenOptions`], registry-wide [`Settings`], and the
//! validation rules of SPEC §7.
//!
//! Every limit is a named constant here, and every rejection is an
//! [`Error::InvalidConfig`] whose `field` is the builder method's name and whose
//! `reason` says what is allowed and what was given.
//!
//! Durations are capped at [`MAX_DURATION`] (100 years) so that adding any valid
//! duration, even after jitter doubles it, to a clock reading can never overflow.

mod expiry;
mod inherit;
mod limits;
mod open;
mod options;
mod resolved;
#[cfg(feature = "serde")]
mod serde;
mod settings;
#[cfg(test)]
mod tests;
mod trip;
mod validate;

pub use expiry::ExpiryStrategy;
pub use limits::*;
pub use open::{OpenDuration, OpenOptions};
pub use options::Options;
pub use resolved::Config;
pub use settings::Settings;
pub(crate) use trip::RateSpec;
pub use trip::{TripPolicy, Window, MAX_WINDOW_CALLS, MAX_WINDOW_DURATION, TIME_WINDOW_BUCKETS};
