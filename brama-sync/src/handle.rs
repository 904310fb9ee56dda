//! [`Handle`]: a held connection, what a `Connection` and a `Permit` report through.
//!
//! Holding one is activity (SPEC §6): while any lives, the connection is never evicted.

use std::sync::Arc;

use brama_core::engine::{CellRef, Context};

/// A connection's cell and its registry's context, with the cell's handle count raised
/// for as long as this lives.
pub(crate) struct Handle {
    pub(crate) cell: CellRef,
    pub(crate) cx: Arc<Context>,
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        self.cell.retain_handle();
        Handle {
            cell: CellRef::clone(&self.cell),
            cx: Arc::clone(&self.cx),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // A live handle is activity (SPEC §6) up to this moment: the inactivity threshold
        // counts from here. Stamped before the release, which publishes it to a sweep
        // that sees no handle left.
        self.cell.touch(self.cx.clock.recent());
        self.cell.release_handle();
    }
}
