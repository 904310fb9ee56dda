//! Which counter lane the calling thread owns: claimed from the process-wide
//! [`LaneTable`] on first use, kept in a thread-local, given back when the thread exits.
//! (Under loom, `counter/mod.rs` has a stand-in: every thread on the shared lane.)

use super::{Lane, LaneTable};
use std::cell::Cell;
use std::sync::OnceLock;

fn table() -> &'static LaneTable {
    static TABLE: OnceLock<LaneTable> = OnceLock::new();
    TABLE.get_or_init(LaneTable::new)
}

/// This thread's lane, or [`UNCLAIMED`]. No destructor, so reading it is one
/// thread-local load with no liveness check, even during thread teardown.
const UNCLAIMED: u8 = u8::MAX;

thread_local! {
    static LANE: Cell<u8> = const { Cell::new(UNCLAIMED) };
    /// Armed once this thread owns a lane; its destructor gives the lane back.
    static RELEASER: Releaser = const { Releaser(Cell::new(false)) };
}

struct Releaser(Cell<bool>);

impl Drop for Releaser {
    fn drop(&mut self) {
        // From here on this thread counts on the shared lane: a destructor of another
        // thread-local that reports must not write a lane someone else may now own.
        let lane = LANE.with(|l| l.replace(Lane::SHARED.0));
        if self.0.get() && lane != UNCLAIMED {
            table().release(Lane(lane));
        }
    }
}

/// The calling thread's lane if it owns one (`None` before the first claim, and for
/// a thread on the shared lane).
#[inline]
pub fn owned_lane() -> Option<Lane> {
    let lane = Lane(LANE.with(Cell::get));
    lane.is_owned().then_some(lane)
}

/// The calling thread's lane, claimed on first use and given back at thread exit.
#[inline]
pub fn lane() -> Lane {
    match LANE.with(Cell::get) {
        UNCLAIMED => claim(),
        lane => Lane(lane),
    }
}

#[cold]
fn claim() -> Lane {
    // An owned lane counts with a plain store, exact against a removal only through
    // the removal's process-wide barrier (`barrier.rs`): where the process has none,
    // every thread counts on the shared lane, whose RMW is exact by itself.
    crate::barrier::init();
    if !crate::barrier::expedited() {
        LANE.with(|l| l.set(Lane::SHARED.0));
        return Lane::SHARED;
    }
    let mut lane = table().claim();
    // An owned lane must be given back: if the releaser cannot be armed (the thread
    // is tearing down), give it back now and count on the shared lane.
    if lane.is_owned() && RELEASER.try_with(|r| r.0.set(true)).is_err() {
        table().release(lane);
        lane = Lane::SHARED;
    }
    LANE.with(|l| l.set(lane.0));
    lane
}
