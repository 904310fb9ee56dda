//! What a health report costs (issue #17): `Brama::health()` over `HEALTH_SCOPES` x
//! `HEALTH_PER_SCOPE` (default 1,000 x 1,000 = 1M) registered scoped connections, and
//! `Brama::health_in(scope)` for one of those scopes, each called `HEALTH_RUNS` times
//! (default 21) after 3 untimed calls; min, median and max per call.
//!
//! The registry is what a readiness probe meets in a service: scoped keys
//! (`scope-0042` / `conn-0017`), about one connection in 100 marked critical, one per
//! scope `Open` and one `HalfOpen` with its probe out (critical in every other scope),
//! the rest `Closed`. The janitor is manual (nothing sweeps during the timings; a sweep
//! would only share the two cores).
//!
//! Then the writers' side: a thread registers and unregisters keys (one at a time, each
//! timed) for `HEALTH_WRITE_SECS` (default 2 s) with no health report running, and
//! again while another thread calls `health()` in a loop: a write that lands in the
//! shard the walk holds waits for it (one shard's read lock at a time).
//!
//! Run it as a user builds brama (no rustflags, thin LTO, one codegen unit):
//!
//! ```text
//! RUSTFLAGS= CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
//!   CARGO_TARGET_DIR=target/user-build cargo run --release -p benches --bin health
//! ```

use benches::{cpu_model, env_or};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, Janitor, Key, OpenOptions, Options, State, Verdict};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `f` `runs` times after 3 untimed calls: (min, median, max).
fn time<R>(runs: usize, mut f: impl FnMut() -> R) -> (Duration, Duration, Duration) {
    for _ in 0..3 {
        black_box(f());
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2], t[t.len() - 1])
}

/// Registers and unregisters keys one at a time until `stop`, timing each; returns
/// the sorted times.
fn write_loop(brama: &Brama, stop: &AtomicBool) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("w{i}");
        let key = Key::scoped("writer", &id);
        let start = Instant::now();
        brama.register(key, Options::new()).expect("a fresh key");
        times.push(start.elapsed());
        let start = Instant::now();
        brama.unregister(key).expect("just registered");
        times.push(start.elapsed());
        i += 1;
    }
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let scopes: usize = env_or("HEALTH_SCOPES", 1_000);
    let per_scope: usize = env_or("HEALTH_PER_SCOPE", 1_000);
    let runs: usize = env_or("HEALTH_RUNS", 21);
    let write_secs: f64 = env_or("HEALTH_WRITE_SECS", 2.0);
    let n = scopes * per_scope;
    println!(
        "cpu: {} ({} threads available)",
        cpu_model(),
        thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!("registry: {scopes} scopes x {per_scope} = {n} connections, {runs} timed runs");

    let brama = Brama::builder()
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings");
    let start = Instant::now();
    let mut permits = Vec::new();
    for s in 0..scopes {
        let scope = format!("scope-{s:04}");
        for i in 0..per_scope {
            let id = format!("conn-{i:04}");
            let key = Key::scoped(&scope, &id);
            // About one in 100 critical: the Open and the HalfOpen connection of every
            // other scope, and one in 100 of the rest.
            let critical = (i < 2 && s % 2 == 0) || i % 100 == 10;
            brama
                .register(key, Options::new().critical(critical))
                .expect("register");
            match i {
                // One Open per scope.
                0 => brama.open_circuit(key, OpenOptions::new()).expect("open"),
                // One HalfOpen per scope, its probe out.
                1 => {
                    brama
                        .open_circuit(key, OpenOptions::new().duration(Duration::from_nanos(1)))
                        .expect("open");
                    permits.push(brama.acquire_owned(key).expect("the probe"));
                }
                _ => brama.success(key).expect("success"),
            }
        }
    }
    println!("registered in {:.0} ms", ms(start.elapsed()));

    let health = brama.health();
    println!(
        "health: {} total, unknown {}, closed {}, open {}, half-open {}, critical open {}, verdict {}",
        health.total(),
        health.count(State::Unknown),
        health.count(State::Closed),
        health.count(State::Open),
        health.count(State::HalfOpen),
        health.critical_open(),
        health.verdict()
    );
    assert_eq!(health.total(), n);
    assert_eq!(health.verdict(), Verdict::Unhealthy);

    println!();
    println!("| call | connections counted | min ms | median ms | max ms |");
    println!("|---|---|---|---|---|");
    let (lo, med, hi) = time(runs, || brama.health());
    println!(
        "| `health()` | {n} | {:.1} | {:.1} | {:.1} |",
        ms(lo),
        ms(med),
        ms(hi)
    );
    let mut s = 0usize;
    let (lo, med, hi) = time(runs, || {
        s = (s + 389) % scopes;
        brama.health_in(&format!("scope-{s:04}"))
    });
    println!(
        "| `health_in(scope)` | {per_scope} (of {n} walked) | {:.1} | {:.1} | {:.1} |",
        ms(lo),
        ms(med),
        ms(hi)
    );
    let (lo, med, hi) = time(runs, || brama.connections_in("scope-0007"));
    println!(
        "| `connections_in(scope)` (for comparison) | {per_scope} (of {n} walked) | {:.1} | {:.1} | {:.1} |",
        ms(lo),
        ms(med),
        ms(hi)
    );
    let (lo, med, hi) = time(runs.max(1001), || brama.state(("scope-0007", "conn-0000")));
    println!(
        "\n`state(key)` (for comparison), per call: min {:.0} ns, median {:.0} ns, max {:.0} ns",
        lo.as_secs_f64() * 1e9,
        med.as_secs_f64() * 1e9,
        hi.as_secs_f64() * 1e9
    );

    // Writers beside the walk.
    let window = Duration::from_secs_f64(write_secs);
    let stop = AtomicBool::new(false);
    let alone = thread::scope(|sc| {
        let w = sc.spawn(|| write_loop(&brama, &stop));
        thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        w.join().expect("writer")
    });
    stop.store(false, Ordering::Relaxed);
    let (beside, reports) = thread::scope(|sc| {
        let w = sc.spawn(|| write_loop(&brama, &stop));
        let h = sc.spawn(|| {
            let mut reports = 0u64;
            while !stop.load(Ordering::Relaxed) {
                black_box(brama.health());
                reports += 1;
            }
            reports
        });
        thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        (w.join().expect("writer"), h.join().expect("health"))
    });
    println!();
    println!("| writes (register or unregister, each timed) | writes | p50 us | p99 us | p99.9 us | max ms |");
    println!("|---|---|---|---|---|---|");
    for (name, t) in [
        ("alone".to_owned(), &alone),
        (
            format!("beside `health()` in a loop ({reports} reports)"),
            &beside,
        ),
    ] {
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.2} |",
            t.len(),
            pct(t, 0.5).as_secs_f64() * 1e6,
            pct(t, 0.99).as_secs_f64() * 1e6,
            pct(t, 0.999).as_secs_f64() * 1e6,
            ms(pct(t, 1.0))
        );
    }
    drop(permits);
}
