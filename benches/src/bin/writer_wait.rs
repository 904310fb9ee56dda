//! How long a writer waits on a shard that hot readers are using (issue #20, defect 7).
//!
//! Reader threads (`WRITER_READERS`, default 2) hammer one hot key by key while one
//! writer thread changes *other keys of the same map shard* (found with the
//! `Brama::shard_of` hook), timing every write alone:
//!
//! - `register` / `unregister`: the writer registers a batch of same-shard keys, then
//!   unregisters them, in a loop;
//! - `sweep`: the writer registers a batch of same-shard keys, moves a `ManualClock`
//!   past `inactive_threshold` and runs `brama.sweep()`, which evicts them (the hot key
//!   is held by a `Connection`, so it stays); each sweep's whole call is timed, and its
//!   `longest_lock_hold` (the longest eviction, its wait for the shard's write lock
//!   included) recorded;
//! - `drop`: a `Brama` with its janitor thread sweeping every millisecond and evicting
//!   same-shard keys idle for a millisecond, the readers holding clones. Dropping a
//!   clone while readers run is timed (it never joins the janitor), and then the drop
//!   that does (the last clone, dropped by the last reader to stop).
//!
//! The readers read the hot key four ways: `available(key)` then `success(key)` on an
//! unscoped key (`plain`) and on a scoped one (`scoped`), which the per-thread cache
//! answers without the shard's lock once warm; `acquire(key)` then `permit.success()`
//! (`permit`), which finds the key in the map, under the shard's read lock, on every
//! call; and `available(key)`, `failure(key)`, `success(key)` (`failures`), whose
//! failure and the success after it report through the map, under that lock.
//!
//! Two controls run the `failures` readers with the writer's keys in *another* shard:
//! no lock is shared, so what their tails show is the machine (three busy threads on
//! two cores, and the neighbours), not the shard lock.
//!
//! Each scenario runs `WRITER_SECS` (default 3); then the readers stop. A writer still
//! waiting then finishes its write once they have, and that wait (as long as the
//! scenario at least) is recorded and counted in the `cut` column: its true length is
//! unknown, only that it outlasted the readers.
//!
//! Run as a user builds brama (no rustflags, thin LTO, one codegen unit):
//! `RUSTFLAGS= CARGO_PROFILE_BENCH_LTO=thin CARGO_PROFILE_BENCH_CODEGEN_UNITS=1 cargo
//! run --profile bench -p benches --bin writer_wait`; in a debug build, plain `cargo
//! run -p benches --bin writer_wait`. Environment: `WRITER_READERS`, `WRITER_SECS`,
//! `WRITER_BATCH` (same-shard keys per batch, default 32), `WRITER_ONLY` (run only the
//! scenarios whose name contains it).

use benches::{cpu_model, env_or};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, Janitor, Key, ManualClock, Options};
use hdrhistogram::Histogram;

/// A threshold the `failures` readers never reach (each clears its failure with a
/// success, so the count stays below the number of readers).
const FAILURES_NEVER_TRIP: u32 = 1 << 20;

/// A histogram of nanoseconds, 1 ns to 1 h, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How the readers use the hot key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Read {
    /// `available(key)` then `success(key)`, unscoped key.
    Plain,
    /// The same on `Key::scoped`.
    Scoped,
    /// `acquire(key)` then `permit.success()`: a map look-up on every call.
    Permit,
    /// `available(key)`, `failure(key)`, `success(key)` (the threshold is never
    /// reached): the failure, and the success that clears it, report through the map.
    Failures,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Read::Plain => "plain",
            Read::Scoped => "scoped",
            Read::Permit => "permit",
            Read::Failures => "failures",
        }
    }

    /// The hot key: unscoped for `Plain`, scoped otherwise.
    fn hot(self) -> Key<'static> {
        match self {
            Read::Plain => Key::new("hot-payments"),
            Read::Scoped | Read::Permit | Read::Failures => Key::scoped("payments", "stripe-eu-01"),
        }
    }

    /// One read of the hot key.
    #[inline]
    fn once(self, brama: &Brama, key: Key<'_>) {
        match self {
            Read::Plain | Read::Scoped => {
                if black_box(brama.available(key)) {
                    brama.success(key).expect("the hot key is registered");
                }
            }
            Read::Permit => {
                let permit = brama.acquire(key).expect("the hot key admits");
                permit.success().expect("the hot key is registered");
            }
            Read::Failures => {
                if black_box(brama.available(key)) {
                    brama.failure(key).expect("the hot key is registered");
                    brama.success(key).expect("the hot key is registered");
                }
            }
        }
    }
}

/// `n` keys (scope, identifier), scoped like `hot`, that live in the same map shard as
/// `hot` (`same`), or all in one other shard (the control).
fn shard_keys(
    brama: &Brama,
    hot: Key<'_>,
    n: usize,
    tag: &str,
    same: bool,
) -> Vec<(String, String)> {
    let hot_shard = brama.shard_of(hot);
    let mut shard = same.then_some(hot_shard);
    let scope = hot.scope().unwrap_or_default().to_owned();
    let mut found = Vec::with_capacity(n);
    let mut i = 0u64;
    while found.len() < n {
        let id = format!("{tag}-{i:08}");
        let k = if scope.is_empty() {
            Key::new(&id)
        } else {
            Key::scoped(&scope, &id)
        };
        let s = brama.shard_of(k);
        if shard.is_none() && s != hot_shard {
            shard = Some(s);
        }
        if shard == Some(s) {
            found.push((scope.clone(), id));
        }
        i += 1;
    }
    found
}

fn key_of((scope, id): &(String, String)) -> Key<'_> {
    if scope.is_empty() {
        Key::new(id)
    } else {
        Key::scoped(scope, id)
    }
}

/// One row of the table.
struct Row {
    scenario: String,
    write: &'static str,
    waits: Histogram<u64>,
    /// Writes that were still waiting when the readers stopped.
    cut: u64,
    /// Reads per second, all readers together.
    reads: f64,
}

/// Runs `readers` reader threads on `brama`'s hot key while `writer` runs on this
/// thread; the writer gets the stop flag and returns its rows. Returns them with the
/// readers' throughput filled in.
fn with_readers(
    brama: &Brama,
    read: Read,
    readers: usize,
    secs: Duration,
    writer: impl FnOnce(&AtomicBool, Instant) -> Vec<Row>,
) -> Vec<Row> {
    let stop = AtomicBool::new(false);
    let total = AtomicU64::new(0);
    let start = Barrier::new(readers + 1);
    let (rows, elapsed) = thread::scope(|s| {
        for _ in 0..readers {
            s.spawn(|| {
                let key = read.hot();
                // Warm: the second check fills this thread's cache slot.
                for _ in 0..4 {
                    read.once(brama, key);
                }
                start.wait();
                let mut n = 0u64;
                // Relaxed: a stop flag; nothing is published through it.
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        read.once(brama, key);
                    }
                    n += 64;
                }
                // Relaxed: summed after the scope joins the readers.
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        start.wait();
        let t = Instant::now();
        let stopper = s.spawn(|| {
            thread::sleep(secs);
            // Relaxed: see the readers' loop.
            stop.store(true, Ordering::Relaxed);
        });
        let rows = writer(&stop, t);
        stopper.join().expect("the stopper does not panic");
        (rows, t.elapsed())
    });
    // Relaxed: the readers were joined.
    let reads = total.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
    rows.into_iter().map(|r| Row { reads, ..r }).collect()
}

/// Runs `write`, and times it unless the readers had already stopped; a write that
/// started before they stopped and ended after is counted in `cut`.
fn timed(stop: &AtomicBool, waits: &mut Histogram<u64>, cut: &mut u64, write: impl FnOnce()) {
    // Relaxed: see the readers' loop.
    if stop.load(Ordering::Relaxed) {
        write();
        return;
    }
    let t = Instant::now();
    write();
    waits.saturating_record(ns(t.elapsed()));
    *cut += u64::from(stop.load(Ordering::Relaxed));
}

fn manual_brama(clock: &ManualClock, inactive: Duration) -> Brama {
    Brama::builder()
        .failure_threshold(FAILURES_NEVER_TRIP)
        .janitor(Janitor::Manual)
        .clock(clock.clone())
        .inactive_threshold(inactive)
        .build()
        .expect("valid settings")
}

/// Registers then unregisters batches of same-shard keys (or, for the control, keys of
/// one other shard) until `stop`.
fn register_unregister(
    read: Read,
    readers: usize,
    secs: Duration,
    batch: usize,
    same: bool,
) -> Vec<Row> {
    let clock = ManualClock::new();
    let brama = manual_brama(&clock, Duration::from_secs(3600));
    let hot = read.hot();
    brama.register(hot, Options::new()).expect("a new key");
    let keys = shard_keys(&brama, hot, batch, "w", same);
    with_readers(&brama, read, readers, secs, |stop, _| {
        let (mut reg, mut unreg) = (histogram(), histogram());
        let (mut reg_cut, mut unreg_cut) = (0, 0);
        // Relaxed: see the readers' loop.
        // A batch is always finished (so every key is free for the next), but a
        // write that starts after `stop` is not timed: the readers have gone.
        while !stop.load(Ordering::Relaxed) {
            for k in &keys {
                timed(stop, &mut reg, &mut reg_cut, || {
                    brama
                        .register(key_of(k), Options::new())
                        .expect("a new key");
                });
            }
            for k in &keys {
                timed(stop, &mut unreg, &mut unreg_cut, || {
                    brama.unregister(key_of(k)).expect("registered");
                });
            }
        }
        let mut scenario = format!("{} readers, {}", readers, read.name());
        if !same {
            scenario.push_str(", writer in another shard (control)");
        }
        vec![
            Row {
                scenario: scenario.clone(),
                write: "register",
                waits: reg,
                cut: reg_cut,
                reads: 0.0,
            },
            Row {
                scenario,
                write: "unregister",
                waits: unreg,
                cut: unreg_cut,
                reads: 0.0,
            },
        ]
    })
}

/// Registers a batch of same-shard keys (or, for the control, keys of one other
/// shard), lets them go idle and evicts them with a manual sweep, until `stop`.
fn sweep_evictions(
    read: Read,
    readers: usize,
    secs: Duration,
    batch: usize,
    same: bool,
) -> Vec<Row> {
    let clock = ManualClock::new();
    let inactive = Duration::from_secs(1);
    let brama = manual_brama(&clock, inactive);
    let hot = read.hot();
    brama.register(hot, Options::new()).expect("a new key");
    // A held connection is never evicted, however idle.
    let _held = brama.connection(hot).expect("registered");
    let keys = shard_keys(&brama, hot, batch, "idle", same);
    with_readers(&brama, read, readers, secs, |stop, _| {
        let (mut whole, mut longest) = (histogram(), histogram());
        let mut cut = 0;
        // Relaxed: see the readers' loop.
        while !stop.load(Ordering::Relaxed) {
            for k in &keys {
                brama
                    .register(key_of(k), Options::new())
                    .expect("a new key");
            }
            clock.advance(inactive * 2);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let t = Instant::now();
            let report = brama.sweep();
            whole.saturating_record(ns(t.elapsed()));
            longest.saturating_record(ns(report.longest_lock_hold));
            cut += u64::from(stop.load(Ordering::Relaxed));
            assert_eq!(report.evicted, keys.len(), "every idle key evicted");
        }
        let mut scenario = format!("{} readers, {}", readers, read.name());
        if !same {
            scenario.push_str(", evictions in another shard (control)");
        }
        vec![
            Row {
                scenario: scenario.clone(),
                write: "sweep (whole call)",
                waits: whole,
                cut,
                reads: 0.0,
            },
            Row {
                scenario,
                write: "sweep: longest eviction",
                waits: longest,
                cut,
                reads: 0.0,
            },
        ]
    })
}

/// The janitor thread evicting same-shard keys while the readers (holding clones) run;
/// then the drops. Returns the table's notes.
fn janitor_drop(read: Read, readers: usize, secs: Duration, batch: usize) -> Vec<String> {
    let ms = Duration::from_millis(1);
    let brama = Brama::builder()
        .failure_threshold(FAILURES_NEVER_TRIP)
        .cleanup_interval(ms)
        .inactive_threshold(ms)
        .build()
        .expect("valid settings");
    let hot = read.hot();
    brama.register(hot, Options::new()).expect("a new key");
    let held = brama.connection(hot).expect("registered");
    let keys = shard_keys(&brama, hot, batch, "j", true);
    let stop = AtomicBool::new(false);
    let start = Barrier::new(readers + 1);
    let mut notes = Vec::new();
    let last_drop = thread::scope(|s| {
        let handles: Vec<_> = (0..readers)
            .map(|_| {
                let mine = brama.clone();
                let (stop, start) = (&stop, &start);
                s.spawn(move || {
                    let key = read.hot();
                    start.wait();
                    // Relaxed: a stop flag.
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            read.once(&mine, key);
                        }
                    }
                    let t = Instant::now();
                    drop(mine);
                    t.elapsed()
                })
            })
            .collect();
        start.wait();
        // Register same-shard keys (they go idle a millisecond later, and the janitor
        // evicts them) for the scenario's length.
        let t = Instant::now();
        let sweeps = brama.janitor_sweeps();
        let (mut registered, mut refused) = (0u64, 0u64);
        while t.elapsed() < secs {
            for k in &keys {
                match brama.register(key_of(k), Options::new()) {
                    Ok(_) => registered += 1,
                    Err(_) => refused += 1, // not evicted yet
                }
            }
            thread::sleep(ms);
        }
        notes.push(format!(
            "janitor ({} readers, {}): {} sweeps in {:.1} s, {registered} same-shard registrations \
             ({refused} refused: the key was still registered), {} of them left when the readers stop",
            readers,
            read.name(),
            brama.janitor_sweeps() - sweeps,
            t.elapsed().as_secs_f64(),
            brama.len() - 1,
        ));
        // `held` stays to the end: with a 1 ms threshold (and a cached clock reading
        // up to a tick old), a hot key whose readers are all descheduled for a
        // millisecond is idle enough to evict.
        let t = Instant::now();
        drop(brama);
        let first = t.elapsed();
        notes.push(format!(
            "drop of a clone while the readers run (it does not join the janitor): {:.1} µs",
            first.as_secs_f64() * 1e6
        ));
        // Relaxed: a stop flag.
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().expect("a reader does not panic"))
            .max()
            .unwrap_or_default()
    });
    drop(held);
    notes.push(format!(
        "drop of the last clone (joins the janitor, which may be mid-sweep): {:.1} µs; \
         a drop that joins the janitor cannot overlap readers that hold clones",
        last_drop.as_secs_f64() * 1e6
    ));
    notes
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

fn main() {
    let readers: usize = env_or("WRITER_READERS", 2).max(1);
    let secs = Duration::from_secs_f64(env_or("WRITER_SECS", 3.0f64).max(0.1));
    let batch: usize = env_or("WRITER_BATCH", 32).max(1);
    let only: String = env_or("WRITER_ONLY", String::new());
    let profile = if cfg!(debug_assertions) {
        "debug (debug assertions on)"
    } else {
        "optimised"
    };
    println!(
        "CPU: {}; {} cores; load average {}; build: {profile}",
        cpu_model(),
        thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!(
        "{readers} reader threads on one hot key, one writer on {batch} other keys of its shard, {:.1} s per scenario",
        secs.as_secs_f64()
    );

    let wanted = |name: &str| only.is_empty() || name.contains(only.as_str());
    let mut rows = Vec::new();
    for read in [Read::Plain, Read::Scoped, Read::Permit, Read::Failures] {
        if wanted(&format!("register {}", read.name())) {
            rows.extend(register_unregister(read, readers, secs, batch, true));
        }
    }
    if wanted("register control") {
        rows.extend(register_unregister(
            Read::Failures,
            readers,
            secs,
            batch,
            false,
        ));
    }
    for read in [Read::Plain, Read::Failures] {
        if wanted(&format!("sweep {}", read.name())) {
            rows.extend(sweep_evictions(read, readers, secs, batch, true));
        }
    }
    if wanted("sweep control") {
        rows.extend(sweep_evictions(Read::Failures, readers, secs, batch, false));
    }
    let mut notes = Vec::new();
    for read in [Read::Plain, Read::Failures] {
        if wanted(&format!("drop {}", read.name())) {
            notes.extend(janitor_drop(read, readers, secs, batch));
        }
    }

    println!();
    println!("Writer waits in ms (each write timed alone; target: p99 <= 10 ms):");
    println!();
    println!("| readers | write | writes | cut | p50 | p99 | p99.9 | max | reads/s (all readers) | p99 <= 10 ms |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        let p99 = r.waits.value_at_quantile(0.99);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2e} | {} |",
            r.scenario,
            r.write,
            r.waits.len(),
            r.cut,
            ms(r.waits.value_at_quantile(0.5)),
            ms(p99),
            ms(r.waits.value_at_quantile(0.999)),
            ms(r.waits.max()),
            r.reads,
            if p99 <= 10_000_000 { "met" } else { "missed" },
        );
    }
    if !notes.is_empty() {
        println!();
        for n in &notes {
            println!("- {n}");
        }
    }
}
