//! Single-threaded cost of one availability check / one guarded call.
//!
//! Group `hot_path`. Every entry follows the same shape so the numbers compare:
//!
//! - the state (breaker, map, cell) is built once, outside the timed loop, and lives on
//!   the heap (boxed), as a service's shared state does. On the stack, the distance
//!   between it and criterion's own stack slots changed from build to build, and in
//!   some builds every iteration's load apparently waited on the previous iteration's
//!   store to criterion's slot (most likely 4K aliasing): `brama/handle_available`
//!   read 1.5 to 2.4 × `baseline/atomic_load` in such builds and 0.9 to 1.1 × boxed,
//!   with no change to the code under test. Every entry, peers and baselines included,
//!   is boxed the same way;
//! - each timed closure passes its handle and its key through
//!   [`std::hint::black_box`] and *returns* what it computed, which criterion's
//!   `iter` passes through `black_box` again, so nothing is optimised away;
//! - an operation that returns a `Result` returns its verdict (`is_ok()`), for every
//!   entry alike, peers included: that is what a caller's `?` reads. Black-boxing the
//!   whole value instead makes criterion copy it through the stack every iteration,
//!   and brama's `Result<(), Error>` is 40 bytes (SPEC's `Error::Rejected { state,
//!   retry_after }` alone needs 24), against 16 or less for the peers' results: that
//!   copy cost `brama/handle_success` 8.7 ns against 4.3 ns with the verdict, with no
//!   change to the code under test (docs/benchmarks.md has both runs);
//! - the wrapped operation of every `call` is [`ok_op`], the same
//!   `Ok(black_box(1))`, so the breakers' own bookkeeping is what is measured.
//!
//! The ids, and what one iteration means for each, are listed in
//! `docs/benchmarks.md`.

use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dashmap::DashMap;

/// Number of entries in every map-backed benchmark.
const KEYS: usize = 1024;
/// The entry every map-backed benchmark looks up.
const HOT_KEY: &str = "conn-0042";
/// Open duration given to every peer breaker (brama's default expiry).
const OPEN_WAIT: Duration = Duration::from_secs(60);
/// Consecutive failures before opening, where a peer has that knob (brama's default).
const FAILURE_THRESHOLD: u32 = 5;

/// The error type of the wrapped operation. `circuitbreaker-rs` requires
/// `std::error::Error`; `fmt::Error` is a zero-sized one, so the `Result`
/// costs the same for every peer.
type OpError = fmt::Error;

/// The wrapped operation of every `call_ok` entry: succeeds with an opaque value.
#[inline]
fn ok_op() -> Result<u8, OpError> {
    Ok(black_box(1))
}

fn key(i: usize) -> String {
    format!("conn-{i:04}")
}

fn baseline_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");

    let cell = Box::new(Arc::new(AtomicU8::new(1)));
    g.bench_function("baseline/atomic_load", |b| {
        // Acquire: the ordering a breaker's state check needs to see the writes
        // that published the state.
        b.iter(|| black_box(&*cell).load(Ordering::Acquire))
    });

    // The cost of one locked instruction, uncontended, in the same run: the floor of any
    // report that must change shared state exactly (a failure below the threshold
    // changes the consecutive count with one compare-and-swap). Not a target; it is
    // what says whether a target can be reached at all.
    let word = Box::new(Arc::new(AtomicU64::new(0)));
    g.bench_function("baseline/compare_exchange", |b| {
        b.iter(|| {
            let w = black_box(&*word);
            let v = w.load(Ordering::Relaxed);
            // AcqRel/Acquire: what brama's report CAS uses.
            w.compare_exchange(v, v.wrapping_add(1), Ordering::AcqRel, Ordering::Acquire)
        })
    });

    let map: Box<DashMap<String, Arc<AtomicU8>, foldhash::fast::RandomState>> =
        Box::new(DashMap::with_hasher(foldhash::fast::RandomState::default()));
    for i in 0..KEYS {
        map.insert(key(i), Arc::new(AtomicU8::new(1)));
    }
    g.bench_function("baseline/dashmap_get", |b| {
        b.iter(|| {
            black_box(&*map)
                .get(black_box(HOT_KEY))
                // Acquire: same as baseline/atomic_load.
                .map(|v| v.load(Ordering::Acquire))
        })
    });

    g.finish();
}

fn recloser_breaker() -> recloser::Recloser {
    // Defaults otherwise: 100-call closed ring buffer, 50 % error rate.
    recloser::Recloser::custom().open_wait(OPEN_WAIT).build()
}

fn peer_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_path");

    let rec = Box::new(recloser_breaker());
    g.bench_function("recloser/call_ok", |b| {
        b.iter(|| black_box(&*rec).call(ok_op).is_ok())
    });

    // failsafe's StateMachine with the policy closest to brama's default:
    // open after 5 consecutive failures, for a constant 60 s.
    let sm = Box::new(
        failsafe::Config::new()
            .failure_policy(failsafe::failure_policy::consecutive_failures(
                FAILURE_THRESHOLD,
                failsafe::backoff::constant(OPEN_WAIT),
            ))
            .build(),
    );
    g.bench_function("failsafe/is_call_permitted", |b| {
        b.iter(|| black_box(&*sm).is_call_permitted())
    });
    g.bench_function("failsafe/on_success", |b| {
        b.iter(|| black_box(&*sm).on_success())
    });

    let cb = Box::new(
        circuitbreaker_rs::CircuitBreaker::<circuitbreaker_rs::DefaultPolicy, OpError>::builder()
            .consecutive_failures(u64::from(FAILURE_THRESHOLD))
            .cooldown(OPEN_WAIT)
            .build(),
    );
    g.bench_function("circuitbreaker_rs/call_ok", |b| {
        b.iter(|| black_box(&*cb).call(ok_op).is_ok())
    });

    // What users build today: a map of per-connection breakers, looked up by
    // name on each request. The default (SipHash) hasher, as such code has it.
    let breakers: Box<DashMap<String, recloser::Recloser>> = Box::new(DashMap::new());
    for i in 0..KEYS {
        breakers.insert(key(i), recloser_breaker());
    }
    g.bench_function("dashmap_recloser/key_call_ok", |b| {
        b.iter(|| {
            black_box(&*breakers)
                .get(black_box(HOT_KEY))
                .is_some_and(|r| r.call(ok_op).is_ok())
        })
    });

    g.finish();
}

fn brama_entries(c: &mut Criterion) {
    use brama_sync::{Brama, OpenOptions, Options};

    let mut g = c.benchmark_group("hot_path");
    // A threshold no benchmark reaches, so `handle_failure` stays Closed.
    let brama = Box::new(
        Brama::builder()
            .failure_threshold(u32::MAX)
            .build()
            .expect("valid settings"),
    );
    for i in 0..KEYS {
        brama
            .register(key(i).as_str(), Options::new())
            .expect("new key");
    }
    brama.success(HOT_KEY).expect("registered");
    let handle = Box::new(brama.connection(HOT_KEY).expect("registered"));

    g.bench_function("brama/handle_available", |b| {
        b.iter(|| black_box(&*handle).available())
    });
    g.bench_function("brama/handle_success", |b| {
        b.iter(|| black_box(&*handle).success().is_ok())
    });
    g.bench_function("brama/handle_failure", |b| {
        b.iter(|| black_box(&*handle).failure().is_ok())
    });
    // Back to zero consecutive failures, as every other entry sees it.
    handle.success().expect("registered");
    g.bench_function("brama/key_available", |b| {
        b.iter(|| black_box(&*brama).available(black_box(HOT_KEY)))
    });
    g.bench_function("brama/key_success", |b| {
        b.iter(|| black_box(&*brama).success(black_box(HOT_KEY)).is_ok())
    });
    g.bench_function("brama/handle_acquire_success", |b| {
        b.iter(|| {
            black_box(&*handle)
                .acquire()
                .is_ok_and(|p| p.success().is_ok())
        })
    });

    let down = key(KEYS - 1);
    brama
        .open_circuit(down.as_str(), OpenOptions::new().duration(OPEN_WAIT))
        .expect("registered");
    let down = Box::new(brama.connection(down.as_str()).expect("registered"));
    g.bench_function("brama/open_reject", |b| {
        b.iter(|| black_box(&*down).available())
    });

    g.finish();
}

/// SPEC §8 (issue #15): reports on connections under a rate policy, beside the
/// consecutive entries above. None of them trips: successes under a 50 % failure rate,
/// failures under a slow-call-only rule (failures decide nothing there), and a mixed
/// stream (one failure in ten) under a 50 % failure rate. The first two fill their count
/// window with equal outcomes, which the ring then absorbs without a write; the mixed
/// stream never lets it, so every report takes a slot (the cost of a window that moves).
fn brama_rate_entries(c: &mut Criterion) {
    use brama_sync::{Brama, Options, TripPolicy, Window};

    let mut g = c.benchmark_group("hot_path");
    let brama = Box::new(Brama::new());
    let rate = |w: Window| TripPolicy::failure_rate(0.5).window(w);
    let slow_only = TripPolicy::slow_call_rate(OPEN_WAIT, 1.0).window(Window::count(100));
    let cases = [
        ("count100", rate(Window::count(100))),
        ("time60s", rate(Window::time(Duration::from_secs(60)))),
        ("failures_count100", slow_only),
        ("mixed_count100", rate(Window::count(100))),
        ("mixed_time60s", rate(Window::time(Duration::from_secs(60)))),
    ];
    for (name, policy) in cases {
        brama
            .register(name, Options::new().trip_policy(policy))
            .expect("new key");
        brama.success(name).expect("registered");
    }
    let count = Box::new(brama.connection("count100").expect("registered"));
    let time = Box::new(brama.connection("time60s").expect("registered"));
    let fail = Box::new(brama.connection("failures_count100").expect("registered"));
    let mixed = Box::new(brama.connection("mixed_count100").expect("registered"));
    let mixed_time = Box::new(brama.connection("mixed_time60s").expect("registered"));
    g.bench_function("brama/handle_success_rate_count100", |b| {
        b.iter(|| black_box(&*count).success().is_ok())
    });
    g.bench_function("brama/handle_failure_rate_count100", |b| {
        b.iter(|| black_box(&*fail).failure().is_ok())
    });
    g.bench_function("brama/handle_success_rate_time60s", |b| {
        b.iter(|| black_box(&*time).success().is_ok())
    });
    for (id, conn) in [
        ("brama/handle_mixed_rate_count100", &mixed),
        ("brama/handle_mixed_rate_time60s", &mixed_time),
    ] {
        let mut i = 0u32;
        g.bench_function(id, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let c = black_box(&**conn);
                if i % 10 == 0 {
                    c.failure()
                } else {
                    c.success()
                }
                .is_ok()
            })
        });
    }
    // A service checks a key before it reports on it, so the per-thread cache holds
    // the key by then (it fills on a check's second miss in a row; a report alone
    // never fills it): each by-key entry checks its key twice first, as `key_success`
    // finds its key cached after `key_available`.
    let checked = |key: &str| {
        brama.available(key);
        brama.available(key);
    };
    g.bench_function("brama/key_success_rate_count100", |b| {
        checked("count100");
        b.iter(|| black_box(&*brama).success(black_box("count100")).is_ok())
    });
    g.bench_function("brama/key_failure_rate_count100", |b| {
        checked("failures_count100");
        b.iter(|| {
            black_box(&*brama)
                .failure(black_box("failures_count100"))
                .is_ok()
        })
    });
    g.bench_function("brama/key_success_rate_time60s", |b| {
        checked("time60s");
        b.iter(|| black_box(&*brama).success(black_box("time60s")).is_ok())
    });
    g.finish();
}

criterion_group!(
    benches,
    baseline_entries,
    peer_entries,
    brama_entries,
    brama_rate_entries
);
criterion_main!(benches);
