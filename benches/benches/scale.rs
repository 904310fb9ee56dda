//! Group `scale`: one million connections. Prints a table and writes
//! `target/criterion/scale.json`. Run: `cargo bench -p benches --bench scale`
//! (`BRAMA_SCALE_N=100000` for a smaller run).
//!
//! - register all: wall time to register N keys from one thread;
//! - bytes per connection: resident-set growth / N, with the identifier bytes
//!   (reported separately) subtracted;
//! - `key_available` over random keys vs `baseline/dashmap_get` over the same keys,
//!   same hasher (ns per lookup, best of 3 passes);
//! - a full sweep with nothing to evict, and with half evicted;
//! - the longest any one lock was held by each sweep, as the sweep itself measures it
//!   (`SweepReport::longest_lock_hold`: a sweep-list segment's lock from acquisition to
//!   release, or a shard's write lock around one eviction, wait included);
//! - the worst latency a writer (register + unregister of a key) saw while the sweep
//!   ran, which also counts scheduling delays on a busy machine;
//! - the worst `available()` latency a reader thread saw while the sweep ran.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use benches::XorShift;
use brama_sync::{Brama, ManualClock, Options, SweepReport};
use dashmap::DashMap;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn key(i: usize) -> String {
    format!("conn-{i:07}")
}

/// Fixed pseudo-random indices (`benches::XorShift`), the same for both maps.
fn random_indices(n: usize, count: usize) -> Vec<usize> {
    let mut rng = XorShift::new();
    (0..count).map(|_| rng.below(n)).collect()
}

fn ns_per(count: usize, f: impl Fn()) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / count as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs `sweep` while a reader checks `available` and a writer registers and
/// unregisters a key; returns (sweep time, the sweep's report, worst reader latency,
/// worst writer latency).
fn sweep_under_load(brama: &Brama, probe_key: &str) -> (Duration, SweepReport, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (brama, stop, k) = (brama.clone(), Arc::clone(&stop), probe_key.to_owned());
        thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                black_box(brama.available(k.as_str()));
                worst = worst.max(t.elapsed());
            }
            worst
        })
    };
    let writer = {
        let (brama, stop) = (brama.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("writer-{}", i % 64);
                let t = Instant::now();
                let _ = brama.register(k.as_str(), Options::new());
                let _ = brama.unregister(k.as_str());
                worst = worst.max(t.elapsed());
                i += 1;
            }
            worst
        })
    };
    thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    let report = black_box(brama.sweep());
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    (
        took,
        report,
        reader.join().unwrap_or_default(),
        writer.join().unwrap_or_default(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("BRAMA_SCALE_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let names: Vec<String> = (0..n).map(key).collect();
    let id_bytes: usize = names.iter().map(String::len).sum();

    let clock = ManualClock::new();
    let brama = Brama::builder()
        .inactive_threshold(Duration::from_secs(3600))
        .clock(clock.clone())
        .build()
        .expect("valid settings");
    let rss0 = rss_bytes();
    let t = Instant::now();
    for k in &names {
        brama.register(k.as_str(), Options::new()).expect("new key");
    }
    let register = t.elapsed();
    let rss1 = rss_bytes();
    let per_conn = (rss1.saturating_sub(rss0) as f64 - id_bytes as f64) / n as f64;

    let lookups = random_indices(n, 1_000_000);
    let brama_ns = ns_per(lookups.len(), || {
        for &i in &lookups {
            black_box(brama.available(names[i].as_str()));
        }
    });
    let map: DashMap<String, Arc<AtomicU8>, foldhash::fast::RandomState> =
        DashMap::with_hasher(foldhash::fast::RandomState::default());
    for k in &names {
        map.insert(k.clone(), Arc::new(AtomicU8::new(1)));
    }
    let dash_ns = ns_per(lookups.len(), || {
        for &i in &lookups {
            // Acquire: the same load a breaker check makes.
            black_box(
                map.get(names[i].as_str())
                    .map(|v| v.load(Ordering::Acquire)),
            );
        }
    });
    drop(map);

    let (sweep_none, none_report, reader_worst, writer_worst) = sweep_under_load(&brama, &names[0]);

    // Half the connections go idle: the other half reports after the clock moves.
    clock.advance(Duration::from_secs(3000));
    for k in names.iter().step_by(2) {
        brama.success(k.as_str()).expect("registered");
    }
    clock.advance(Duration::from_secs(1000));
    let t = Instant::now();
    let report = brama.sweep();
    let sweep_half = t.elapsed();
    assert_eq!(report.evicted, n / 2, "half the connections were idle");

    let rows = [
        ("connections", n as f64, "", "-"),
        (
            "register all",
            register.as_secs_f64() * 1e3,
            "ms",
            "<= 1000 ms",
        ),
        (
            "bytes per connection (without identifiers)",
            per_conn,
            "B",
            "<= 256 B",
        ),
        (
            "identifier bytes per connection",
            id_bytes as f64 / n as f64,
            "B",
            "-",
        ),
        ("brama/key_available, random keys", brama_ns, "ns", "-"),
        ("baseline/dashmap_get, random keys", dash_ns, "ns", "-"),
        (
            "key_available / dashmap_get",
            brama_ns / dash_ns,
            "x",
            "<= 1.2",
        ),
        (
            "full sweep, nothing to evict",
            sweep_none.as_secs_f64() * 1e3,
            "ms",
            "<= 100 ms",
        ),
        (
            "longest shard/segment lock held by the sweep",
            none_report.longest_lock_hold.as_secs_f64() * 1e6,
            "us",
            "<= 2000 us",
        ),
        (
            "worst writer wait during the sweep (register + unregister)",
            writer_worst.as_secs_f64() * 1e3,
            "ms",
            "-",
        ),
        (
            "worst available() during the sweep",
            reader_worst.as_secs_f64() * 1e6,
            "us",
            "-",
        ),
        (
            "full sweep, half evicted",
            sweep_half.as_secs_f64() * 1e3,
            "ms",
            "-",
        ),
        (
            "longest shard/segment lock held by the half-evicting sweep",
            report.longest_lock_hold.as_secs_f64() * 1e6,
            "us",
            "<= 2000 us",
        ),
    ];
    println!("\nscale ({n} connections)");
    let mut json = String::from("{\n");
    for (i, (name, value, unit, target)) in rows.iter().enumerate() {
        println!("  {name:<56} {value:>12.2} {unit:<3} target {target}");
        let sep = if i + 1 == rows.len() { "" } else { "," };
        json.push_str(&format!(
            "  \"{name}\": {{\"value\": {value:.4}, \"unit\": \"{unit}\"}}{sep}\n"
        ));
    }
    json.push_str("}\n");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("scale.json"), json);
}
