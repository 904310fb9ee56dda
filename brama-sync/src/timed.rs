//! Reports with the call's duration (SPEC §8): what a rate policy's slow-call rule
//! reads. Under any other policy they are plain reports.

use std::time::Duration;

use crate::AsKey;
use brama_core::engine::clock::nanos;
use brama_core::engine::rules::Outcome;
use brama_core::Error;

use crate::brama::Brama;
use crate::connection::Connection;

impl Brama {
    /// Reports a success of a call that took `elapsed`: slow when the connection's rate
    /// policy has a slow-call rule and `elapsed` reaches its duration.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_sync::{Brama, Options, TripPolicy};
    ///
    /// let brama = Brama::new();
    /// let slow = TripPolicy::slow_call_rate(Duration::from_millis(100), 0.5).minimum_calls(2);
    /// brama.register("search", Options::new().trip_policy(slow))?;
    /// brama.success_after("search", Duration::from_millis(250))?;
    /// brama.success_after("search", Duration::from_millis(300))?;
    /// assert!(!brama.available("search")); // every call was slow
    /// # Ok::<(), brama_sync::Error>(())
    /// ```
    pub fn success_after(&self, key: impl AsKey, elapsed: Duration) -> Result<(), Error> {
        self.reg()
            .report_after(key.as_key(), Outcome::Success, nanos(elapsed))
    }

    /// Reports a failure of a call that took `elapsed` (see
    /// [`success_after`](Self::success_after)).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn failure_after(&self, key: impl AsKey, elapsed: Duration) -> Result<(), Error> {
        self.reg()
            .report_after(key.as_key(), Outcome::Failure, nanos(elapsed))
    }
}

impl Connection {
    /// Reports a success of a call that took `elapsed` (see
    /// [`Brama::success_after`]).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn success_after(&self, elapsed: Duration) -> Result<(), Error> {
        self.report_after(Outcome::Success, elapsed)
    }

    /// Reports a failure of a call that took `elapsed` (see
    /// [`Brama::success_after`]).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was unregistered.
    pub fn failure_after(&self, elapsed: Duration) -> Result<(), Error> {
        self.report_after(Outcome::Failure, elapsed)
    }

    fn report_after(&self, outcome: Outcome, elapsed: Duration) -> Result<(), Error> {
        let h = &self.handle;
        h.cell
            .report_timed(&h.cx, outcome, None, None, Some(nanos(elapsed)))
    }
}
