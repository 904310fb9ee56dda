//! SPEC §8 (issue #15): the rate windows' lock-free updates. Two reports racing on one
//! slot of a count window, a report racing an absorbed one or a clear in place, and
//! reports racing a time window's bucket rollover or clear, lose no outcome and count
//! none twice, and a success that skips the sum of a clean time window is counted by
//! the failure racing it, and reports into a bucket whose tag came round again count
//! nothing of the epoch it held; the twins (a plain store in place of the slot's
//! compare-and-swap, a clear that does not claim the ring, a clean-window mark raised
//! too late, `head` moved before a stale bucket is emptied) are caught.
//!
//! The models, by topic (each keeps its broken twins beside the model they break):
//! - `count_window`: count windows (`CountRing`), slot replacement, absorption, clears;
//! - `time_window`: time windows (`Buckets`), rollovers, clears, the clean-window mark,
//!   a bucket whose tag came round;
//! - `quiet`: quiet successes into a clean time window, openings, flushes, clears.
#![cfg(brama_loom)]

#[path = "../support/mod.rs"]
mod support;

mod count_window;
mod quiet;
mod time_window;
