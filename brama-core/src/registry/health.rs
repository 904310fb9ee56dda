//! Reads that change nothing: one connection's state by key, and the health of the
//! registry or of one scope.

use super::*;
use crate::circuit::ConnectionCell;
use crate::health::Health;
use crate::key::Key;
use crate::state::State;

impl Registry {
    /// The state the next check of `key` would see, changing nothing
    /// ([`ConnectionCell::state_at`]). Never registers an unknown key, whatever
    /// `auto_register` says.
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::NotFound`].
    pub fn state(&self, key: Key<'_>) -> Result<State, Error> {
        key.validate()?;
        // The one clock reading, the precise one: a cached reading may lag by a tick.
        let now = self.cx.clock.now();
        self.find(key, |cell| cell.state_at(now))
            .flatten()
            .ok_or_else(|| Error::not_found(key))
    }

    /// Every connection counted by state, changing nothing (see [`Health`]).
    pub fn health(&self) -> Health {
        self.health_of(None, |_| true)
    }

    /// The connections of `scope` counted by state. The map is not indexed by scope,
    /// so this walks every connection and counts those whose scope is `scope`; an
    /// unknown (or invalid) scope gives an empty, `Healthy` report.
    pub fn health_in(&self, scope: &str) -> Health {
        self.health_of(Some(scope), |c| c.key().scope() == Some(scope))
    }

    /// The walk: the sweep's (`Map::sweep`), in registration order, so that the cells
    /// are read in about the order they were allocated; no shard lock is taken, and a
    /// stripe of the sweep list is locked only to take its list out and put it back.
    /// It waits for a sweep in progress (one walk of the list at a time) and the next
    /// sweep waits for it. For each connection: one load of its word (and of its
    /// deadline when `Open`, of its overrides when `Open` or `HalfOpen`); nothing
    /// cloned, allocated or written per connection. Connections registered during the
    /// walk may be missed, removed ones are not counted.
    fn health_of(&self, scope: Option<&str>, keep: impl Fn(&ConnectionCell) -> bool) -> Health {
        let now = self.cx.clock.now();
        let default_critical = self.cx.default_critical();
        let mut health = Health::empty(scope);
        self.map.sweep(|segment| {
            for (_, cell) in segment.cells() {
                if !keep(cell) {
                    continue;
                }
                // A removed connection is leaving the map: not counted.
                if let Some(state) = cell.state_at(now) {
                    let critical = matches!(state, State::Open | State::HalfOpen)
                        && cell.is_critical_in(&self.cx, default_critical);
                    health.add(state, critical);
                }
            }
        });
        health
    }
}
