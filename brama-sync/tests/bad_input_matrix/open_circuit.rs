//! `open_circuit` durations: invalid ones rejected; the longest and indefinitely work.

use std::time::Duration;

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{Key, OpenOptions};

use crate::support::{bad_durations, invalid_config, populated, rejected};

#[test]
fn every_invalid_open_duration_is_rejected_and_changes_nothing() {
    let (brama, _clock, sub) = populated(false);
    for d in bad_durations() {
        for key in [
            Key::new("closed"),
            Key::scoped("s", "open"),
            Key::new("unknown"),
        ] {
            rejected(
                &brama,
                &sub,
                &format!("open_circuit {key:?} for {d:?}"),
                || brama.open_circuit(key, OpenOptions::new().reason("r").duration(d)),
                invalid_config("duration"),
            );
        }
    }
    // The longest valid duration, and indefinitely, are fine; the deadline saturates.
    brama
        .open_circuit("closed", OpenOptions::new().duration(MAX_DURATION))
        .expect("valid");
    brama
        .open_circuit("unknown", OpenOptions::new().indefinitely())
        .expect("valid");
    assert_eq!(
        brama.status("unknown").unwrap().open_duration,
        Duration::MAX
    );
}
