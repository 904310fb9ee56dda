//! Shared helpers for the benchmarks.
//!
//! The bench targets live in `benches/benches/`; this library holds the pieces
//! more than one of them (and the brama entries, once they exist) reuse.

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Runs `op(thread_index)` `iters` times on each of `threads` scoped threads and
/// returns the time the slowest thread took for its `iters` calls.
///
/// All threads are spawned first and released together by a [`Barrier`]; each
/// starts its own clock after the barrier and stops it after its last call, so
/// thread spawning and joining are not timed. Returning the slowest thread's
/// time means that, fed to criterion's `iter_custom`, the reported figure is
/// nanoseconds per operation per thread while all threads run at once.
///
/// `op` gets the thread's index (`0..threads`) so a benchmark can pick a key per
/// thread (same key for all, or one key each). What it returns is passed
/// through [`std::hint::black_box`], as criterion's `iter` does, so return the
/// result rather than discarding it.
///
/// # Panics
///
/// Panics if `threads` is 0, or if `op` panics on any thread.
pub fn run_threads<F, R>(threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(usize) -> R + Sync,
{
    assert!(threads > 0, "run_threads needs at least one thread");
    let barrier = Barrier::new(threads);
    let op = &op;
    let barrier = &barrier;
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(op(t));
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("benchmark thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_thread_runs_every_iteration() {
        let count = AtomicU64::new(0);
        let seen = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
        run_threads(3, 1000, |t| {
            count.fetch_add(1, Ordering::SeqCst);
            seen[t].fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 3000);
        for s in &seen {
            assert_eq!(s.load(Ordering::SeqCst), 1000);
        }
    }

    #[test]
    fn zero_iterations_is_fine() {
        let d = run_threads(2, 0, |_| {});
        assert!(d < Duration::from_secs(1));
    }
}
