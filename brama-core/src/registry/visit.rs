//! A read-only walk of every connection, for the integrations of `brama-sync` (metrics,
//! the admin endpoint) that read many connections at once.

use super::*;
use crate::circuit::ConnectionCell;

impl Registry {
    /// Calls `f` with every connection, in registration order, through the sweep
    /// list as `health` walks it: no shard lock is taken, nothing is cloned or
    /// allocated per connection, and removed connections are left out. It waits for a
    /// sweep in progress, and the next sweep waits for it, so `f` must be short and
    /// must not call back into the registry's walks (`health`, `connections`,
    /// `sweep`, `visit_cells`): copy what you need and act after it returns. A connection
    /// registered during the walk may be missed.
    pub fn visit_cells(&self, mut f: impl FnMut(&ConnectionCell)) {
        self.map.sweep(|segment| {
            for (_, cell) in segment.cells() {
                if !cell.is_removed() {
                    f(cell);
                }
            }
        });
    }
}
