//! Latency of `available(key)` while the registry works (issue #14): a histogram of
//! every check one thread makes over random keys of 1M registered scoped connections,
//! in phases run one after the other:
//!
//! - `reference`: nothing else runs, and the reader looks the same keys up in a
//!   read-only std `HashMap<String, AtomicU8>` (`"scope/identifier"`, the same bytes)
//!   instead of asking brama: the floor this machine puts under any lookup of random
//!   keys (the timer, the cache misses, the scheduler, the hypervisor);
//! - `quiet`: nothing else runs, the reader asks brama (brama's own baseline);
//! - `busy`: the reader asks brama while the main thread walks and writes a buffer as
//!   large as the registry, calling nothing of brama's: the machine as loaded as in the
//!   sweep and storm phases, without any lock the reader could wait for. A tail that
//!   the sweep or the storm shares with this phase is the machine's, not brama's;
//! - `sweep`: the main thread runs `brama.sweep()` over all the connections (a full
//!   sweep, the janitor's work, nothing to evict), back to back: at least
//!   `LATENCY_SWEEPS` times and for at least the phase's length;
//! - `storm`: the main thread registers a batch of fresh keys and unregisters them
//!   again, in a loop.
//!
//! Each check is timed alone with two `Instant::now()` readings, and the figures include
//! that timer (its own cost, measured first, is printed) and any time the reader thread
//! was descheduled: on a shared machine the tail says as much about the neighbours as
//! about brama. Targets of issue #14 for the sweep and the storm: max <= 50 us,
//! p99.99 <= 5 us.
//!
//! The registry is built as a service builds it (`Brama::builder()`, its janitor
//! thread, no `max_connections`), with a long `cleanup_interval` so that the janitor's
//! own sweeps do not land in the reference or quiet phases: the sweep phase runs that
//! same work, on the main thread, at known times.
//!
//! Run: `cargo run --release -p benches --bin latency`. Environment: `LATENCY_KEYS`
//! (default 1,000,000), `LATENCY_SECS` (length of each phase, default 10),
//! `LATENCY_SWEEPS` (the fewest full sweeps in the sweep phase, default 10),
//! `LATENCY_CLEANUP_SECS` (the janitor's period, default 3600; 10 is brama's default,
//! which puts janitor sweeps in every phase).

use benches::env_or;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use benches::XorShift;
use brama_sync::{Brama, Key, Options};
use hdrhistogram::Histogram;

/// Scope and identifier numbers run below this: `GRID * GRID` keys at most.
const GRID: usize = 1_000;
/// Length of the reader's random sequence of key indexes (a power of two).
const SEQ: usize = 1 << 20;
/// Fresh keys registered, then unregistered, per round of the storm.
const STORM_BATCH: usize = 1_000;
/// Issue #14's targets for the sweep and storm phases, in ns.
const TARGET_MAX_NS: u64 = 50_000;
const TARGET_P9999_NS: u64 = 5_000;

const PHASES: [&str; 5] = [
    "reference: HashMap get, quiet",
    "quiet",
    "busy: a neighbour walks memory, no brama call",
    "sweep",
    "storm",
];
/// The phase whose reader looks keys up in the `HashMap` instead of brama.
const REFERENCE: usize = 0;
const QUIET: usize = 1;
const BUSY: usize = 2;
const SWEEP: usize = 3;
const STORM: usize = 4;
/// Phase value while the reader runs without recording (warm-up, between phases).
const IDLE: usize = PHASES.len();
/// Phase value that stops the reader.
const DONE: usize = IDLE + 1;

/// A histogram of nanoseconds, 1 ns to 100 s, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}

/// `SEQ` indexes drawn from `0..n` by `benches::XorShift` (fixed seed).
fn random_indexes(n: usize) -> Vec<u32> {
    let mut rng = XorShift::new();
    (0..SEQ).map(|_| rng.below(n) as u32).collect()
}

/// What the reader reads: brama, and the reference map over the same key bytes.
struct Target<'a> {
    brama: &'a Brama,
    keys: &'a [Key<'a>],
    map: &'a HashMap<String, AtomicU8>,
    names: &'a [&'a str],
}

/// The reader: checks random keys until the phase is `DONE`, recording each check's
/// time in its phase's histogram. Returns the histograms and, per phase, how many
/// checks answered false (registered keys that are never opened: none should).
fn reader(
    target: &Target<'_>,
    seq: &[u32],
    phase: &AtomicUsize,
) -> (Vec<Histogram<u64>>, [u64; PHASES.len()]) {
    let mut hists: Vec<Histogram<u64>> = PHASES.iter().map(|_| histogram()).collect();
    let mut refused = [0u64; PHASES.len()];
    let mut pos = 0usize;
    loop {
        // Relaxed: a flag between phases; nothing else is read through it.
        let p = phase.load(Ordering::Relaxed);
        if p == DONE {
            break;
        }
        let i = seq[pos] as usize;
        pos = (pos + 1) & (SEQ - 1);
        let start = Instant::now();
        let ok = if p == REFERENCE {
            target
                .map
                .get(black_box(target.names[i]))
                // Acquire: the load a breaker's state check makes.
                .is_some_and(|v| v.load(Ordering::Acquire) == 1)
        } else {
            target.brama.available(black_box(target.keys[i]))
        };
        let ns = start.elapsed().as_nanos();
        if p < IDLE {
            hists[p].saturating_record(u64::try_from(ns).unwrap_or(u64::MAX));
            if !black_box(ok) {
                refused[p] += 1;
            }
        }
    }
    (hists, refused)
}

/// What two back-to-back `Instant::now()` readings cost here: the floor of every figure.
fn timer_floor() -> Histogram<u64> {
    let mut h = histogram();
    for _ in 0..1_000_000 {
        let start = Instant::now();
        let ns = black_box(start).elapsed().as_nanos();
        h.saturating_record(u64::try_from(ns).unwrap_or(u64::MAX));
    }
    h
}

fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1e3)
}

fn row(name: &str, h: &Histogram<u64>, refused: Option<u64>, verdict: &str) {
    let over = if h.max() > TARGET_MAX_NS {
        h.count_between(TARGET_MAX_NS + 1, h.max())
    } else {
        0
    };
    println!(
        "| {name} | {} | {over} | {} | {} | {} | {} | {} | {} | {} | {verdict} |",
        h.len(),
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.value_at_quantile(0.9999)),
        us(h.max()),
        us(h.mean().round() as u64),
        refused.map_or("-".to_owned(), |r| r.to_string()),
    );
}

fn main() {
    let n: usize = env_or("LATENCY_KEYS", GRID * GRID).clamp(1, GRID * GRID);
    let phase_secs: f64 = env_or("LATENCY_SECS", 10.0);
    let sweeps: usize = env_or("LATENCY_SWEEPS", 10);
    let cleanup_secs: u64 = env_or("LATENCY_CLEANUP_SECS", 3600);
    let phase_len = Duration::from_secs_f64(phase_secs.max(0.1));

    let brama = Brama::builder()
        .inactive_threshold(Duration::from_secs(30 * 24 * 3600))
        .cleanup_interval(Duration::from_secs(cleanup_secs.max(1)))
        .build()
        .expect("valid settings");

    // Scoped keys of 19 bytes, ("tenant-500", "conn-0500") style, each one string
    // "scope/identifier" (the reference map's key) that brama's Key borrows from.
    let names: Vec<String> = (0..n)
        .map(|i| format!("tenant-{:03}/conn-{:04}", i / GRID, i % GRID))
        .collect();
    let keys: Vec<Key<'_>> = names
        .iter()
        .map(|name| {
            let (scope, id) = name.split_once('/').expect("scope/identifier");
            Key::scoped(scope, id)
        })
        .collect();
    let map: HashMap<String, AtomicU8> = names
        .iter()
        .map(|name| (name.clone(), AtomicU8::new(1)))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = Instant::now();
    for &k in &keys {
        brama.register(k, Options::new()).expect("new key");
        brama.success(k).expect("registered");
    }
    println!(
        "registered {n} scoped connections (19 B keys) in {:.2} s; phases of {:.1} s, at least {sweeps} full sweeps",
        t.elapsed().as_secs_f64(),
        phase_len.as_secs_f64(),
    );
    let seq = random_indexes(n);
    let floor = timer_floor();

    let phase = AtomicUsize::new(IDLE);
    let (hists, refused, notes) = thread::scope(|s| {
        let target = Target {
            brama: &brama,
            keys: &keys,
            map: &map,
            names: &names,
        };
        let (seq, phase) = (&seq, &phase);
        let reader = s.spawn(move || reader(&target, seq, phase));
        let mut notes = Vec::new();
        // Let the reader warm up (its caches, the sequence) before recording.
        thread::sleep(Duration::from_millis(500));

        phase.store(REFERENCE, Ordering::Relaxed);
        thread::sleep(phase_len);

        phase.store(QUIET, Ordering::Relaxed);
        thread::sleep(phase_len);

        phase.store(BUSY, Ordering::Relaxed);
        // As many bytes as the registry's cells, touched a cache line at a time.
        let mut buffer = vec![0u8; n.max(1) * 256];
        let t = Instant::now();
        let mut walks = 0usize;
        while t.elapsed() < phase_len {
            for line in buffer.chunks_mut(64) {
                line[0] = line[0].wrapping_add(1);
            }
            walks += 1;
        }
        black_box(&buffer);
        drop(buffer);
        phase.store(IDLE, Ordering::Relaxed);
        notes.push(format!(
            "busy: {walks} walks of {} MB in {:.2} s",
            n.max(1) * 256 / 1_000_000,
            t.elapsed().as_secs_f64()
        ));

        phase.store(SWEEP, Ordering::Relaxed);
        let mut took = Vec::with_capacity(sweeps);
        let t = Instant::now();
        while took.len() < sweeps || t.elapsed() < phase_len {
            let start = Instant::now();
            let report = brama.sweep();
            took.push(start.elapsed());
            assert_eq!(report.evicted, 0, "nothing is idle long enough to evict");
        }
        phase.store(IDLE, Ordering::Relaxed);
        let slowest = took.iter().max().copied().unwrap_or_default();
        let fastest = took.iter().min().copied().unwrap_or_default();
        notes.push(format!(
            "sweep: {} full sweeps of {n} in {:.2} s (each {:.1} to {:.1} ms)",
            took.len(),
            t.elapsed().as_secs_f64(),
            fastest.as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
        ));

        phase.store(STORM, Ordering::Relaxed);
        let t = Instant::now();
        let mut rounds = 0usize;
        let mut fresh = 0usize;
        while t.elapsed() < phase_len {
            let batch: Vec<(String, String)> = (0..STORM_BATCH)
                .map(|j| {
                    fresh += 1;
                    (
                        format!("tenant-{:03}", j % GRID),
                        format!("fresh-{fresh:09}"),
                    )
                })
                .collect();
            for (s, id) in &batch {
                brama
                    .register(Key::scoped(s, id), Options::new())
                    .expect("a fresh key");
            }
            for (s, id) in &batch {
                brama.unregister(Key::scoped(s, id)).expect("registered");
            }
            rounds += 1;
        }
        let storm = t.elapsed();
        phase.store(DONE, Ordering::Relaxed);
        notes.push(format!(
            "storm: {} registrations + as many unregistrations in {:.2} s ({:.0} pairs/s)",
            rounds * STORM_BATCH,
            storm.as_secs_f64(),
            (rounds * STORM_BATCH) as f64 / storm.as_secs_f64(),
        ));
        let (hists, refused) = reader.join().expect("the reader does not panic");
        (hists, refused, notes)
    });

    for note in &notes {
        println!("{note}");
    }
    println!();
    println!(
        "`available(key)` (the reference phase: a HashMap get) over {n} random keys, one reader thread, in µs (timer included):"
    );
    println!();
    println!("| phase | checks | > 50 µs | p50 | p99 | p99.9 | p99.99 | max | mean | refused | target: max <= 50 µs, p99.99 <= 5 µs |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    row("timer alone", &floor, None, "-");
    for (i, name) in PHASES.iter().enumerate() {
        let h = &hists[i];
        let verdict = if i == REFERENCE || i == QUIET || i == BUSY {
            "(baseline)".to_owned()
        } else {
            let max_ok = h.max() <= TARGET_MAX_NS;
            let tail_ok = h.value_at_quantile(0.9999) <= TARGET_P9999_NS;
            let word = |ok: bool| if ok { "met" } else { "missed" };
            format!("max {}, p99.99 {}", word(max_ok), word(tail_ok))
        };
        row(name, h, Some(refused[i]), &verdict);
    }
}
