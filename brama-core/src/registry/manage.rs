//! Manual control, configuration and listing by key.

use std::time::Duration;

use super::*;
use crate::circuit::{CellRef, ConnectionCell, Remote};
use crate::config::{Config, OpenOptions, Options};
use crate::context::Context;
use crate::error::Error;
use crate::events::{EventKind, EventType};
use crate::key::Key;
use crate::mode::Mode;
use crate::status::Status;

impl Registry {
    // ----- manual control ------------------------------------------------------------

    /// `open_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`] (duration).
    pub fn open(&self, key: Key<'_>, options: &OpenOptions) -> Result<(), Error> {
        options.validate()?;
        self.existing(key)?.open(&self.cx, options)
    }

    /// `close_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn close(&self, key: Key<'_>) -> Result<(), Error> {
        self.existing(key)?.close(&self.cx)
    }

    /// `reset_circuit`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn reset(&self, key: Key<'_>) -> Result<(), Error> {
        self.existing(key)?.reset(&self.cx)
    }

    /// Applies a change another instance of a fleet made (cause `Remote`; an opening
    /// never shortens one in force here). Returns whether anything changed. Not API:
    /// `brama_sync::redis` calls it.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`] (a zero or
    /// too long duration).
    pub fn apply_remote(
        &self,
        key: Key<'_>,
        change: Remote,
        reason: Option<&str>,
    ) -> Result<bool, Error> {
        if let Remote::Open(Some(d)) = change {
            OpenOptions::new().duration(d).validate()?;
        }
        self.existing(key)?.remote(&self.cx, change, reason)
    }

    /// How long the circuit stays open: `None` when it is not `Open`, `Some(None)` when
    /// opened indefinitely.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn open_remaining(&self, key: Key<'_>) -> Result<Option<Option<Duration>>, Error> {
        Ok(self.existing(key)?.open_remaining(&self.cx))
    }

    /// Changes only the given fields of one connection's overrides (and merges metadata).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`], [`Error::InvalidConfig`]; nothing changes on error.
    pub fn configure(&self, key: Key<'_>, options: &Options) -> Result<(), Error> {
        let cell = self.existing(key)?;
        // Ordered with the connection's state changes (and after its removal, refused),
        // so `Configured` takes its place in the order of the changes.
        let _held = cell.hold_transitions();
        if cell.is_removed() {
            return Err(Error::not_found_owned(cell.key()));
        }
        // Read before the change: a custom clock that panics leaves it unmade.
        let now = self.cx.clock.now();
        configure_cell(&self.cx, &cell, options)?;
        // Its threshold, probe budget and mode, over its scope's and the defaults.
        cell.refresh_layers(&self.cx);
        cell.touch(now);
        self.emit(
            EventType::Configured,
            &cell,
            EventKind::Configured,
            cell.counts(),
            now,
        );
        Ok(())
    }

    /// Changes only the given fields of the registry defaults; connections without their
    /// own value follow at once. That includes `critical`, which is kept beside the
    /// defaults' [`Config`] (see [`Context::default_critical`]).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (including metadata, which is per connection); nothing
    /// changes on error.
    pub fn configure_defaults(&self, options: &Options) -> Result<(), Error> {
        if !options.metadata_map().is_empty() {
            return Err(Error::invalid_config(
                "metadata",
                "metadata belongs to a connection; pass it to register or configure",
            ));
        }
        let before = self.cx.defaults();
        // A field marked `inherit_*` goes back to its SPEC §4 default.
        let next = options.apply(&options.reset_inherited(&before))?;
        // Read before the change: a custom clock that panics leaves it unmade.
        let now = self.cx.clock.now();
        let policy_changed = next.policy() != before.policy();
        self.cx.set_defaults(next);
        if policy_changed {
            // Connections that follow the defaults' trip policy take the new one now:
            // their word flags and windows (`refresh_layers`, one lock at a time).
            self.refresh_walk(|_| true);
        }
        let critical = options
            .critical_value()
            .or(options.inherits_critical().then_some(false));
        if let Some(critical) = critical {
            self.cx.set_default_critical(critical);
        }
        let mode = options
            .mode_value()
            .or(options.inherits_mode().then_some(Mode::Normal));
        if mode.is_some_and(|mode| self.cx.layers.set_default_mode(mode)) {
            // Every connection's mode in effect may change: each is resolved again.
            self.refresh_walk(|_| true);
        }
        self.publish_configured(now);
        Ok(())
    }

    /// The registry defaults now in force.
    pub fn defaults(&self) -> Config {
        (*self.cx.defaults()).clone()
    }

    // ----- listing -------------------------------------------------------------------

    /// Status of every connection (one shard locked at a time while collecting).
    pub fn connections(&self) -> Vec<Status> {
        let mut all = Vec::new();
        self.visit(None, |s| all.push(s));
        all
    }

    /// Status of every connection in `scope`.
    pub fn connections_in(&self, scope: &str) -> Vec<Status> {
        let mut all = Vec::new();
        self.visit(Some(scope), |s| all.push(s));
        all
    }

    /// The status of every connection (of `scope`, when given), handed to `f` one at a
    /// time: walked through the sweep list (registration order) as `health` walks them,
    /// no shard lock at all, and the cells visited in the order they were allocated,
    /// where the map's own iterator goes in hash order and clones an `Arc` per entry
    /// (docs/health.md: 398 ms against 33 ms for a health walk of 1M). Like the sweep,
    /// the walk waits for a sweep in progress; `f` runs after it, with no lock held.
    pub fn visit(&self, scope: Option<&str>, mut f: impl FnMut(Status)) {
        let mut cells = Vec::new();
        self.map.sweep(|segment| {
            for (_, cell) in segment.cells() {
                // A removed connection is leaving the map: not listed.
                if !cell.is_removed() && in_scope(cell, scope) {
                    cells.push(CellRef::clone(cell));
                }
            }
        });
        for cell in cells {
            f(cell.status(&self.cx));
        }
    }
}

/// Whether `cell` is in `scope` (any connection when `None`).
#[inline]
pub(super) fn in_scope(cell: &ConnectionCell, scope: Option<&str>) -> bool {
    scope.is_none_or(|s| cell.key().scope() == Some(s))
}

/// Validates and applies `options` as new overrides of `cell`; nothing changes on error.
pub(super) fn configure_cell(
    cx: &Context,
    cell: &ConnectionCell,
    options: &Options,
) -> Result<(), Error> {
    let merged = cell.overrides().overlay(options);
    merged.apply(&cx.defaults())?;
    let mut metadata = cell.metadata();
    metadata.extend(options.metadata_map());
    let mut check = Options::new();
    for (k, v) in &metadata {
        check = check.metadata(k.clone(), v.clone());
    }
    check.validate()?;
    cell.set_overrides(&merged);
    cell.merge_metadata(options.metadata_map());
    Ok(())
}
