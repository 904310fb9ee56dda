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

/// xorshift64 with a fixed seed: the same pseudo-random sequence in every run, so the
/// benchmarks and the latency harness walk their keys in a reproducible order.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// The generator at its fixed seed.
    pub fn new() -> XorShift {
        XorShift(0x2545_F491_4F6C_DD1D)
    }

    /// The next value, reduced to `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

impl Default for XorShift {
    fn default() -> XorShift {
        XorShift::new()
    }
}

/// The environment variable `name` parsed as a `T`, or `default` if it is unset or
/// does not parse: the harness binaries' knobs (`LATENCY_SECS`, `IDLE_N`, ...).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The CPU's model name from `/proc/cpuinfo` (`"unknown"` where there is none), for the
/// harness binaries' headers: every figure names the machine it was taken on.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
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
    fn xorshift_is_the_same_sequence_every_time_and_in_range() {
        let a: Vec<usize> = (0..100)
            .scan(XorShift::new(), |r, _| Some(r.below(7)))
            .collect();
        let b: Vec<usize> = (0..100)
            .scan(XorShift::new(), |r, _| Some(r.below(7)))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|&x| x < 7));
        assert!(
            (0..7).all(|v| a.contains(&v)),
            "every value comes up in 100 draws"
        );
    }

    #[test]
    fn zero_iterations_is_fine() {
        let d = run_threads(2, 0, |_| {});
        assert!(d < Duration::from_secs(1));
    }
}
