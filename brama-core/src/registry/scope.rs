//! Operations on a whole scope (SPEC §11): open, close, reset and unregister every
//! connection of a scope, its defaults (a template between the registry's defaults and
//! each connection's own overrides), and modes.
//!
//! The registry is not indexed by scope: a scope operation walks every connection as
//! the sweep does (`Map::sweep`: registration order, no shard lock while reading, one
//! walk of the list at a time) and acts on those of the scope, each under its own
//! transition lock, or for a removal under its shard's write lock, one at a time. So
//! checks and reports keep flowing, in that scope and in every other, while it runs; a
//! connection registered or removed during the walk may or may not be acted on, and
//! the count says how many were.

use super::manage::in_scope;
use super::*;
use crate::circuit::{CellRef, ConnectionCell};
use crate::config::{OpenOptions, Options};
use crate::events::{Counts, Event, EventKind, EventType};
use crate::key::Key;
use crate::mode::Mode;
use crate::registry::map::Segment;
use crate::rules::Input;
use crate::state::State;

impl Registry {
    /// Runs `f` on every connection `keep` selects that is not removed, in
    /// registration order, with the segment of the sweep list it was found in and its
    /// position there (for a removal). Events published under the walk wake their async
    /// receivers after it.
    pub(super) fn walk_where(
        &self,
        keep: impl Fn(&ConnectionCell) -> bool,
        f: impl FnMut(&mut Segment<'_>, usize, &CellRef),
    ) {
        self.walk_cells(false, keep, f);
    }

    /// [`walk_where`](Self::walk_where); with `entering`, the cells of registrations
    /// in progress (or refused) too ([`Segment::all_cells`]).
    fn walk_cells(
        &self,
        entering: bool,
        keep: impl Fn(&ConnectionCell) -> bool,
        mut f: impl FnMut(&mut Segment<'_>, usize, &CellRef),
    ) {
        let mut picked = Vec::new();
        crate::events::defer_wakes(|| {
            self.map.sweep(|segment| {
                let pick = |(pos, c): (usize, &CellRef)| {
                    (!c.is_removed() && keep(c)).then(|| (pos, CellRef::clone(c)))
                };
                if entering {
                    picked.extend(segment.all_cells().filter_map(pick));
                } else {
                    picked.extend(segment.cells().filter_map(pick));
                }
                for (pos, cell) in picked.drain(..) {
                    f(segment, pos, &cell);
                }
            });
        });
    }

    /// Resolves the layers of every connection `keep` selects again, after a layer
    /// changed; returns how many it resolved.
    ///
    /// It meets the cells of registrations in progress too: the epoch's guarantee
    /// (`crate::layers`) rests on the walk finding every cell that entered the sweep
    /// list before it took that list. Each is read under its transition lock, which a
    /// registration holds until its cell was taken by the map or refused: a cell not
    /// entered by then was refused, and is neither resolved nor counted.
    pub(super) fn refresh_walk(&self, keep: impl Fn(&ConnectionCell) -> bool) -> usize {
        let mut n = 0;
        self.walk_cells(true, keep, |_, _, cell| {
            let _held = cell.hold_transitions();
            if cell.is_entered() && !cell.is_removed() {
                cell.refresh_layers(&self.cx);
                n += 1;
            }
        });
        n
    }

    /// A manual action on every connection of `scope`, each reported with
    /// `Cause::Scope`; returns how many it applied to.
    fn act_on_scope(&self, scope: &str, input: Input, reason: Option<&str>) -> usize {
        let mut n = 0;
        self.walk_where(
            |c| in_scope(c, Some(scope)),
            |_, _, cell| {
                if cell.act_for_scope(&self.cx, input, reason).is_ok() {
                    n += 1;
                }
            },
        );
        n
    }

    /// `open_circuit` on every connection of `scope`: one `StateChanged` (cause
    /// `Scope`) for each that was not open; an open one is re-armed. Returns how many
    /// connections it applied to; an unknown or invalid scope is 0.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] (field `duration`) for a bad open duration; nothing
    /// changes.
    pub fn open_scope(&self, scope: &str, options: &OpenOptions) -> Result<usize, Error> {
        options.validate()?;
        Ok(self.act_on_scope(
            scope,
            Input::Open(options.open_duration()),
            options.reason_str(),
        ))
    }

    /// `close_circuit` on every connection of `scope` (see [`open_scope`](Self::open_scope)).
    pub fn close_scope(&self, scope: &str) -> usize {
        self.act_on_scope(scope, Input::Close, None)
    }

    /// `reset_circuit` on every connection of `scope` (see [`open_scope`](Self::open_scope)).
    pub fn reset_scope(&self, scope: &str) -> usize {
        self.act_on_scope(scope, Input::Reset, None)
    }

    /// `unregister` of every connection of `scope`, each with its `Unregistered` event;
    /// returns how many it removed. The scope's template stays (connections registered
    /// later get it).
    pub fn unregister_scope(&self, scope: &str) -> usize {
        // Read before anything changes (a custom clock is user code).
        let now = self.cx.clock.now();
        let mut n = 0;
        self.walk_where(
            |c| in_scope(c, Some(scope)),
            |segment, pos, cell| {
                let removed = self.map.remove_swept(cell.key(), |c| {
                    // The one this walk found, not a later registration of the same key.
                    let ours = Arc::ptr_eq(c, cell);
                    if ours {
                        self.retire(c, Removal::Unregistered, now);
                    }
                    ours
                });
                if removed.is_some() {
                    segment.release(pos);
                    self.unreserve();
                    n += 1;
                }
            },
        );
        n
    }

    /// Sets defaults for `scope`: only the fields given change (a field marked with an
    /// `inherit_*` method is cleared), and every connection of the scope, now or
    /// registered later, follows them live wherever it has no value of its own. Emits
    /// one registry-wide `Configured`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a bad scope; [`Error::InvalidConfig`] for a bad value,
    /// or for metadata (it belongs to connections). Nothing changes on error.
    pub fn configure_scope(&self, scope: &str, options: &Options) -> Result<(), Error> {
        self.configure_scope_counted(scope, options).map(|_| ())
    }

    /// [`configure_scope`](Self::configure_scope), returning how many connections the
    /// scope has.
    pub(super) fn configure_scope_counted(
        &self,
        scope: &str,
        options: &Options,
    ) -> Result<usize, Error> {
        Key::scoped(scope, "-").validate()?;
        if !options.metadata_map().is_empty() {
            return Err(Error::invalid_config(
                "metadata",
                "metadata belongs to a connection; pass it to register or configure",
            ));
        }
        let defaults = self.cx.defaults();
        // Read before the change: a custom clock that panics leaves it unmade.
        let now = self.cx.clock.now();
        self.cx.layers.update_scope(scope, |current| {
            let next = current.overlay(options);
            next.apply(&defaults)?;
            Ok(next)
        })?;
        self.publish_configured(now);
        Ok(self.refresh_walk(|c| in_scope(c, Some(scope))))
    }

    /// Sets the mode of `scope` (for its connections without a mode of their own, now
    /// and registered later); returns how many connections the scope has. An invalid
    /// scope changes nothing and is 0.
    pub fn set_scope_mode(&self, scope: &str, mode: Mode) -> usize {
        self.configure_scope_counted(scope, &Options::new().mode(mode))
            .unwrap_or(0)
    }

    /// Sets one connection's own mode (`configure` with `Options::mode`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn set_mode(&self, key: Key<'_>, mode: Mode) -> Result<(), Error> {
        self.configure(key, &Options::new().mode(mode))
    }

    /// The defaults of `scope` (`configure_scope`), if it has any.
    pub fn scope_defaults(&self, scope: &str) -> Option<Options> {
        self.cx
            .layers
            .scope(Some(scope))
            .map(|t| Options::clone(&t))
    }

    /// Publishes a registry-wide `Configured` (no connection) stamped `now`.
    pub(super) fn publish_configured(&self, now: crate::clock::Nanos) {
        self.cx.bus.publish(EventType::Configured, |seq| {
            Event::new(
                seq,
                EventKind::Configured,
                self.cx.wall(now),
                None,
                State::Unknown,
                Counts::default(),
            )
        });
    }
}
