//! [`Handle`]: a held connection, what a `Connection` and a `Permit` report through.
//!
//! Holding one is activity (SPEC §6): while any lives, the connection is never evicted.

use std::panic::{self, AssertUnwindSafe};
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
        // that sees no handle left. A custom clock is user code: if it panics, the
        // handle is released all the same (else the connection would be pinned against
        // eviction for good) and the panic goes on, unless this drop is itself part of
        // an unwinding, where a second panic would abort the process.
        let now = panic::catch_unwind(AssertUnwindSafe(|| self.cx.clock.recent()));
        if let Ok(now) = now {
            self.cell.touch(now);
        }
        self.cell.release_handle();
        if let Err(payload) = now {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}
