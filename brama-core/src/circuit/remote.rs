//! Changes another instance of a fleet made (SPEC §12): applied through the manual
//! path with cause [`Cause::Remote`], and the remaining open time a fleet shares.

use std::time::Duration;

use super::cell::*;
use crate::clock::{nanos, Nanos};
use crate::config::OpenDuration;
use crate::context::Context;
use crate::error::Error;
use crate::rules::{Input, NEVER};
use crate::state::{Cause, State};

/// A change another instance made, to apply here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remote {
    /// Open for the given remaining time, or indefinitely (`None`).
    Open(Option<Duration>),
    /// Close (state `Closed`, consecutive count and backoff step cleared).
    Close,
    /// Reset (state `Unknown`, counters and backoff step cleared, totals kept).
    Reset,
}

impl ConnectionCell {
    /// Applies `change` with cause [`Cause::Remote`]. An opening never shortens an
    /// opening already in force here: when this circuit is `Open` until at least as late,
    /// nothing changes. Returns whether the state or the
    /// opening's deadline changed.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed.
    pub fn remote(
        &self,
        cx: &Context,
        change: Remote,
        reason: Option<&str>,
    ) -> Result<bool, Error> {
        let _guard = self.hold_transitions();
        let input = match change {
            Remote::Open(d) => {
                let m = self.machine(self.word());
                let until = match d {
                    Some(d) => cx.clock.now().saturating_add(nanos(d)),
                    None => NEVER,
                };
                if m.state == State::Open && m.open_until >= until {
                    return Ok(false);
                }
                Input::Open(d.map_or(OpenDuration::Indefinitely, OpenDuration::For))
            }
            Remote::Close => Input::Close,
            Remote::Reset => Input::Reset,
        };
        let (fx, _, now) = self.step_held(cx, input, reason, Some(Cause::Remote))?;
        self.touch(now);
        // A re-armed opening is a quiet change, and a change all the same.
        Ok(fx.changes().next().is_some() || matches!(change, Remote::Open(_)))
    }

    /// How long this circuit stays open: `None` when it is not `Open` (or its open
    /// duration has passed), `Some(None)` when opened indefinitely.
    pub fn open_remaining(&self, cx: &Context) -> Option<Option<Duration>> {
        let m = self.machine(self.word());
        if m.state != State::Open || m.open_until == 0 {
            return None;
        }
        if m.open_until == NEVER {
            return Some(None);
        }
        let now: Nanos = cx.clock.now();
        let left = m.open_until.checked_sub(now).filter(|&n| n > 0)?;
        Some(Some(Duration::from_nanos(left)))
    }
}
