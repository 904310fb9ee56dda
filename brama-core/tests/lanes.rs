//! Lane ownership across thread lifetimes. One test in its own binary, so no other
//! test thread of this process claims lanes while it runs.

use std::sync::{Arc, Barrier};
use std::thread;

use brama_core::engine::counter::{lane, Lane, OWNED_LANES};

/// Starts `n` threads that each take their lane, all hold it until every one has taken
/// it, and report it (twice, to show it is stable). Returns the lanes after all exit.
fn lanes_of_concurrent_threads(n: usize) -> Vec<Lane> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let first = lane();
                barrier.wait();
                let again = lane();
                assert_eq!(first, again, "a thread keeps its lane");
                first
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn owned_are_distinct(lanes: &[Lane]) -> usize {
    let owned: Vec<Lane> = lanes.iter().copied().filter(|l| l.is_owned()).collect();
    for (i, a) in owned.iter().enumerate() {
        assert!(
            !owned[i + 1..].contains(a),
            "two live threads own the same lane: {lanes:?}"
        );
    }
    owned.len()
}

#[test]
fn live_threads_own_distinct_lanes_and_exiting_threads_give_them_back() {
    // One more thread than there are owned lanes: exactly one counts on the shared lane.
    let first = lanes_of_concurrent_threads(OWNED_LANES + 1);
    assert_eq!(owned_are_distinct(&first), OWNED_LANES, "{first:?}");
    assert_eq!(
        first.iter().filter(|l| **l == Lane::SHARED).count(),
        1,
        "{first:?}"
    );
    // Every owner exited: a new generation of threads gets every owned lane again.
    for _ in 0..3 {
        let next = lanes_of_concurrent_threads(OWNED_LANES);
        assert_eq!(owned_are_distinct(&next), OWNED_LANES, "{next:?}");
    }
}
