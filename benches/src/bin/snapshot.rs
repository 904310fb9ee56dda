//! What a snapshot and a restore cost (issue #18): `Brama::snapshot()` of
//! `SNAPSHOT_SCOPES` x `SNAPSHOT_PER_SCOPE` (default 1,000 x 1,000 = 1M) scoped
//! connections, and restoring it: with `Builder::restore` into a new registry (what a
//! restarted process does), with `Brama::restore` into an empty registry, and with
//! `Brama::restore` onto the registry it came from (every connection already there).
//! Each is run `SNAPSHOT_RUNS` times (default 3); min, median and max.
//!
//! Bytes: what the snapshot holds in memory, counted by a global allocator that adds
//! up the bytes live at the end of `snapshot()` that were not before (every string,
//! map and vector of it). With brama-sync's `serde` feature a snapshot is also a JSON
//! document; that form is measured where the feature is.
//!
//! The registry is what a service meets: scoped keys (`scope-0042` / `conn-0017`), one
//! connection in 10 `Open`, one in 100 with metadata and one in 100 with an override of
//! its own, the rest `Closed` after a success; one scope in 10 has defaults of its own.
//!
//! Run it as a user builds brama (no rustflags, thin LTO, one codegen unit):
//!
//! ```text
//! RUSTFLAGS= CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
//!   CARGO_TARGET_DIR=target/user-build cargo run --release -p benches --bin snapshot
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use benches::{cpu_model, env_or};
use brama_sync::{Brama, Janitor, Key, Mode, OpenOptions, Options, Snapshot, State};

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is bookkeeping beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a statistic read by the same thread after the work.
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Relaxed: as in `alloc`.
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Relaxed: as in `alloc`.
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    // Relaxed: see `Counting::alloc`.
    LIVE.load(Ordering::Relaxed)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `f` `runs` times, each on a fresh input from `setup` (not timed): (min,
/// median, max).
fn time<I, R>(
    runs: usize,
    mut setup: impl FnMut() -> I,
    mut f: impl FnMut(I) -> R,
) -> (Duration, Duration, Duration) {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            let out = f(input);
            let took = start.elapsed();
            drop(black_box(out));
            took
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2], t[t.len() - 1])
}

fn row(name: &str, n: usize, (lo, med, hi): (Duration, Duration, Duration)) {
    println!(
        "| {name} | {n} | {:.0} | {:.0} | {:.0} | {:.2} |",
        ms(lo),
        ms(med),
        ms(hi),
        med.as_secs_f64() * 1e9 / n as f64 / 1e3
    );
}

fn registry() -> Brama {
    Brama::builder()
        .janitor(Janitor::Manual)
        .build()
        .expect("valid settings")
}

fn main() {
    let scopes: usize = env_or("SNAPSHOT_SCOPES", 1_000);
    let per_scope: usize = env_or("SNAPSHOT_PER_SCOPE", 1_000);
    let runs: usize = env_or("SNAPSHOT_RUNS", 3);
    let n = scopes * per_scope;
    println!(
        "cpu: {} ({} threads available)",
        cpu_model(),
        thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!("registry: {scopes} scopes x {per_scope} = {n} connections, {runs} timed runs");

    let brama = registry();
    let start = Instant::now();
    for s in 0..scopes {
        let scope = format!("scope-{s:04}");
        if s % 10 == 0 {
            brama
                .configure_scope(
                    &scope,
                    Options::new().failure_threshold(3).mode(Mode::MetricsOnly),
                )
                .expect("scope defaults");
        }
        for i in 0..per_scope {
            let id = format!("conn-{i:04}");
            let key = Key::scoped(&scope, &id);
            let mut options = Options::new();
            if i % 100 == 1 {
                options = options.metadata("team", "payments").metadata("tier", "1");
            }
            if i % 100 == 2 {
                options = options.expiry(Duration::from_secs(30));
            }
            brama.register(key, options).expect("register");
            if i % 10 == 0 {
                brama.open_circuit(key, OpenOptions::new()).expect("open");
            } else {
                brama.success(key).expect("success");
            }
        }
    }
    println!("registered in {:.0} ms", ms(start.elapsed()));

    let before = live();
    let start = Instant::now();
    let snapshot = brama.snapshot();
    let took = start.elapsed();
    let bytes = live() - before;
    assert_eq!(snapshot.connections.len(), n);
    let open = snapshot
        .connections
        .iter()
        .filter(|c| c.state == State::Open)
        .count();
    println!(
        "snapshot: {n} connections ({open} open), {} scope defaults, {:.1} MB in memory \
         ({:.0} bytes per connection), first call {:.0} ms",
        snapshot.scopes.len(),
        bytes as f64 / 1e6,
        bytes as f64 / n as f64,
        ms(took)
    );

    println!();
    println!("| call | connections | min ms | median ms | max ms | median us per connection |");
    println!("|---|---|---|---|---|---|");
    row("`snapshot()`", n, time(runs, || (), |()| brama.snapshot()));
    row(
        "`Snapshot::clone` (what `Builder::restore` keeps)",
        n,
        time(runs, || (), |()| snapshot.clone()),
    );
    row(
        "`Builder::restore(&s).build()`: a restarted process",
        n,
        time(
            runs,
            || (),
            |()| {
                Brama::builder()
                    .janitor(Janitor::Manual)
                    .restore(&snapshot)
                    .build()
                    .expect("restores")
            },
        ),
    );
    row(
        "`restore(&s)` into an empty registry",
        n,
        time(runs, registry, |b: Brama| {
            b.restore(&snapshot).expect("restores");
            b
        }),
    );
    row(
        "`restore(&s)` onto the registry it came from",
        n,
        time(
            runs,
            || (),
            |()| brama.restore(&snapshot).expect("restores"),
        ),
    );
    check(&snapshot);
}

/// The restored registry says what the snapshot says.
fn check(snapshot: &Snapshot) {
    let b = Brama::builder()
        .janitor(Janitor::Manual)
        .restore(snapshot)
        .build()
        .expect("restores");
    let health = b.health();
    let open = snapshot
        .connections
        .iter()
        .filter(|c| c.state == State::Open)
        .count();
    assert_eq!(health.total(), snapshot.connections.len());
    assert_eq!(health.count(State::Open), open);
    println!(
        "\nchecked: the restored registry has {open} open of {}",
        health.total()
    );
}
