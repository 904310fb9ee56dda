//! [`OpenOptions`]: what a manual open asks for.

use std::time::Duration;

use super::validate::*;
use crate::error::Error;

/// How long a manual open lasts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenDuration {
    /// The connection's current open duration, as if it had tripped (the default).
    #[default]
    Current,
    /// The given duration; greater than zero and at most [`MAX_DURATION`](crate::MAX_DURATION).
    For(Duration),
    /// Until closed (or reset) by hand; neither time nor the janitor moves it to
    /// half-open.
    Indefinitely,
}

/// Options for a manual open (`open_circuit`, SPEC §2 rule 7).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use brama_core::{OpenDuration, OpenOptions};
///
/// let options = OpenOptions::new()
///     .reason("maintenance")
///     .duration(Duration::from_secs(30));
/// assert!(options.validate().is_ok());
/// assert_eq!(options.reason_str(), Some("maintenance"));
/// assert_eq!(options.open_duration(), OpenDuration::For(Duration::from_secs(30)));
/// assert_eq!(OpenOptions::new().open_duration(), OpenDuration::Current);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenOptions {
    pub(super) reason: Option<String>,
    pub(super) duration: OpenDuration,
}

impl OpenOptions {
    /// Open for the current open duration, without a reason.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// The reason, carried in the `StateChanged` event.
    pub fn reason(mut self, reason: impl Into<String>) -> OpenOptions {
        self.reason = Some(reason.into());
        self
    }

    /// Open for `d` instead of the current open duration; greater than zero and at
    /// most [`MAX_DURATION`](crate::MAX_DURATION). Replaces an earlier [`OpenOptions::indefinitely`].
    pub fn duration(mut self, d: Duration) -> OpenOptions {
        self.duration = OpenDuration::For(d);
        self
    }

    /// Open until closed by hand. Replaces an earlier [`OpenOptions::duration`].
    pub fn indefinitely(mut self) -> OpenOptions {
        self.duration = OpenDuration::Indefinitely;
        self
    }

    /// Checks the duration, if one was given.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] with field `duration` when it is zero or above
    /// [`MAX_DURATION`](crate::MAX_DURATION).
    pub fn validate(&self) -> Result<(), Error> {
        match self.duration {
            OpenDuration::For(d) => check_duration("duration", d),
            OpenDuration::Current | OpenDuration::Indefinitely => Ok(()),
        }
    }

    /// The reason, if one was given.
    pub fn reason_str(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// How long the open lasts.
    pub fn open_duration(&self) -> OpenDuration {
        self.duration
    }
}
