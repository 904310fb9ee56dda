//! Writers make progress beside hot readers (issue #20, defect 7): while two threads
//! spin on one hot key by key, a writer registers, unregisters and evicts *other keys
//! of the same map shard* (found with the `Brama::shard_of` test hook), so that every
//! write needs the write lock of the shard the readers use.
//!
//! These are liveness checks, not timings: each test only asks that the writer finish
//! its cycles before a generous deadline ([`DEADLINE`], minutes longer than the work
//! takes even in a debug build on a loaded machine). If it does not, the readers are
//! stopped (so that the writer, and the test, can end) and the test fails, naming how
//! far the writer got. How long writes wait is measured by the harness
//! `benches/src/bin/writer_wait.rs` (docs/writer-wait.md).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, Janitor, Key, ManualClock, Options};

/// How long the writer may take for all its cycles before the test calls it starved.
const DEADLINE: Duration = Duration::from_secs(120);
/// Register/unregister cycles, and sweeps, the writer completes.
const CYCLES: usize = 200;
/// Same-shard keys per cycle.
const BATCH: usize = 8;
/// Reader threads on the hot key.
const READERS: usize = 2;
const INACTIVE: Duration = Duration::from_secs(1);

/// How the readers use the hot key.
#[derive(Clone, Copy, Debug)]
enum Read {
    /// `available(key)` then `success(key)`: the per-thread cache, once warm.
    Cached,
    /// `available(key)`, `failure(key)`, `success(key)`: the failure and the success
    /// after it report through the map, under the shard's read lock.
    ThroughMap,
}

fn hot() -> Key<'static> {
    Key::scoped("payments", "stripe-eu-01")
}

/// `n` identifiers, scoped like [`hot`], in the hot key's shard.
fn same_shard(brama: &Brama, n: usize) -> Vec<String> {
    let shard = brama.shard_of(hot());
    (0u64..)
        .map(|i| format!("writer-{i}"))
        .filter(|id| brama.shard_of(Key::scoped("payments", id)) == shard)
        .take(n)
        .collect()
}

/// Runs `READERS` threads on the hot key while `write` runs `CYCLES` times on another
/// thread; fails if the writer has not finished by [`DEADLINE`].
fn writer_finishes_beside_hot_readers(
    read: Read,
    write: impl Fn(&Brama, &ManualClock, &[String]) + Sync,
) {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .inactive_threshold(INACTIVE)
        // The readers' failures are each cleared by a success: never a trip.
        .failure_threshold(1 << 20)
        .build()
        .expect("valid settings");
    brama.register(hot(), Options::new()).expect("a new key");
    // A held connection is never evicted: the sweeps leave the hot key alone.
    let _held = brama.connection(hot()).expect("registered");
    let ids = same_shard(&brama, BATCH);
    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let reads = AtomicU64::new(0);
    let start = Barrier::new(READERS + 1);
    let (brama, ids, stop, done, reads, start) = (&brama, &ids, &stop, &done, &reads, &start);
    let (clock, write) = (&clock, &write);
    let finished = thread::scope(|s| {
        for _ in 0..READERS {
            s.spawn(move || {
                let key = hot();
                let mut n = 0u64;
                // Relaxed: a stop flag; nothing is published through it.
                while !stop.load(Ordering::Relaxed) {
                    assert!(brama.available(key), "the hot key stays closed");
                    if let Read::ThroughMap = read {
                        brama.failure(key).expect("registered");
                    }
                    brama.success(key).expect("registered");
                    n += 1;
                    if n == 1_000 {
                        start.wait(); // the writer starts once the readers are hot
                    }
                }
                // Relaxed: read after the scope joins this thread.
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
        let writer = s.spawn(move || {
            start.wait();
            for _ in 0..CYCLES {
                write(brama, clock, ids);
                // Relaxed: a progress count for the failure message.
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
        let t = Instant::now();
        while !writer.is_finished() && t.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(5));
        }
        let finished = writer.is_finished();
        // Relaxed: see the readers' loop.
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("the writer does not panic");
        finished
    });
    // Relaxed: every thread was joined.
    let (done, reads) = (done.load(Ordering::Relaxed), reads.load(Ordering::Relaxed));
    assert!(
        finished,
        "writer starved: {done} of {CYCLES} cycles in {DEADLINE:?} beside {READERS} hot readers ({read:?})"
    );
    assert!(reads >= READERS as u64 * 1_000, "the readers ran");
    assert!(
        brama.status(hot()).is_ok(),
        "the hot key is still registered"
    );
}

/// One cycle: every same-shard key registered, then unregistered.
fn register_unregister(brama: &Brama, _: &ManualClock, ids: &[String]) {
    for id in ids {
        brama
            .register(Key::scoped("payments", id), Options::new())
            .expect("a new key");
    }
    for id in ids {
        brama
            .unregister(Key::scoped("payments", id))
            .expect("registered");
    }
}

/// One cycle: every same-shard key registered, left idle, and evicted by a sweep.
fn evict_by_sweep(brama: &Brama, clock: &ManualClock, ids: &[String]) {
    for id in ids {
        brama
            .register(Key::scoped("payments", id), Options::new())
            .expect("a new key");
    }
    clock.advance(INACTIVE * 2);
    assert_eq!(
        brama.sweep().evicted,
        ids.len(),
        "the idle keys are evicted"
    );
}

#[test]
fn registration_progresses_beside_cached_hot_readers() {
    writer_finishes_beside_hot_readers(Read::Cached, register_unregister);
}

#[test]
fn registration_progresses_beside_hot_readers_on_the_shard_lock() {
    writer_finishes_beside_hot_readers(Read::ThroughMap, register_unregister);
}

#[test]
fn eviction_progresses_beside_cached_hot_readers() {
    writer_finishes_beside_hot_readers(Read::Cached, evict_by_sweep);
}

#[test]
fn eviction_progresses_beside_hot_readers_on_the_shard_lock() {
    writer_finishes_beside_hot_readers(Read::ThroughMap, evict_by_sweep);
}
