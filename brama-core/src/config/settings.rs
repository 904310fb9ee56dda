//! [`Settings`]: registry-wide settings that are not per connection.

use std::time::Duration;

use super::limits::*;
use super::validate::*;
use crate::error::Error;

/// Registry-wide settings that are not per connection; the `Brama` builder fills
/// them in.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::Settings;
///
/// let settings = Settings { max_connections: Some(100_000), ..Settings::default() };
/// assert!(settings.validate().is_ok());
/// assert_eq!(settings.cleanup_interval, Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The janitor's period; greater than zero and at most [`MAX_DURATION`].
    pub cleanup_interval: Duration,
    /// How long a connection may go without activity before the janitor evicts it;
    /// greater than zero and at most [`MAX_DURATION`].
    pub inactive_threshold: Duration,
    /// The most connections the registry holds; `None` is unbounded. `Some(0)` is
    /// rejected.
    pub max_connections: Option<usize>,
    /// Whether unknown keys are registered, with the defaults, on first use.
    pub auto_register: bool,
    /// Events each subscriber's queue holds; 1 to [`MAX_EVENT_QUEUE_CAPACITY`].
    pub event_queue_capacity: usize,
}

impl Default for Settings {
    /// The SPEC §4 defaults: sweep every 10 s, evict after 24 h inactive, unbounded,
    /// no auto-registration, 1024 events per subscriber.
    fn default() -> Settings {
        Settings {
            cleanup_interval: Duration::from_secs(10),
            inactive_threshold: Duration::from_secs(24 * 60 * 60),
            max_connections: None,
            auto_register: false,
            event_queue_capacity: 1024,
        }
    }
}

impl Settings {
    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field that breaks its rule:
    /// `cleanup_interval` or `inactive_threshold` zero or above [`MAX_DURATION`],
    /// `max_connections` of `Some(0)`, `event_queue_capacity` outside 1 to
    /// [`MAX_EVENT_QUEUE_CAPACITY`].
    pub fn validate(&self) -> Result<(), Error> {
        check_duration("cleanup_interval", self.cleanup_interval)?;
        check_duration("inactive_threshold", self.inactive_threshold)?;
        if self.max_connections == Some(0) {
            return Err(Error::invalid_config(
                "max_connections",
                "must be at least 1 (leave it unset for no limit), got 0",
            ));
        }
        if !(1..=MAX_EVENT_QUEUE_CAPACITY).contains(&self.event_queue_capacity) {
            return Err(Error::invalid_config(
                "event_queue_capacity",
                format!(
                    "must be between 1 and {MAX_EVENT_QUEUE_CAPACITY}, got {}",
                    self.event_queue_capacity
                ),
            ));
        }
        Ok(())
    }
}
