//! Cost per operation per thread when several threads hit breakers at once.
//!
//! Group `contention`, ids `<impl>/<op>/<keys>/<N>t`:
//!
//! - `<impl>/<op>`: the `hot_path` id of the same operation (`baseline/dashmap_get`,
//!   `recloser/call_ok`, later the brama ones);
//! - `<keys>`: `same_key` (every thread uses one connection) or `diff_keys`
//!   (thread `t` uses its own connection; for map-backed entries the keys are
//!   chosen to sit in different dashmap shards, so no lock word is shared);
//! - `<N>t`: the number of threads running at once.
//!
//! Timing uses [`benches::run_threads`] under `iter_custom`: threads start
//! together behind a barrier, each does `iters` operations, and the slowest
//! thread's time is reported, so criterion's figure is ns per operation per
//! thread. Each closure returns its result, which `run_threads` black-boxes (for a
//! `Result`, its verdict, as in `hot_path`). `same_key/1t` is the single-thread figure
//! through the same harness. The per-operation work is the same as in `hot_path` (see
//! that file).

use std::fmt;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use benches::run_threads;
use criterion::{criterion_group, criterion_main, Criterion};
use dashmap::DashMap;

/// Number of entries in every map-backed benchmark.
const KEYS: usize = 1024;
/// The most threads any entry uses.
const MAX_THREADS: usize = 2;
/// Open duration given to the peer breakers (brama's default expiry).
const OPEN_WAIT: Duration = Duration::from_secs(60);

/// The (keys, threads) cases every implementation is run under.
const CASES: [(Keys, usize); 3] = [(Keys::Same, 1), (Keys::Same, 2), (Keys::Diff, 2)];

#[derive(Clone, Copy, Debug)]
enum Keys {
    Same,
    Diff,
}

impl Keys {
    fn name(self) -> &'static str {
        match self {
            Keys::Same => "same_key",
            Keys::Diff => "diff_keys",
        }
    }

    /// Which of the prepared keys thread `t` uses.
    #[inline]
    fn index(self, t: usize) -> usize {
        match self {
            Keys::Same => 0,
            Keys::Diff => t,
        }
    }
}

fn id(op: &str, keys: Keys, threads: usize) -> String {
    format!("{op}/{}/{threads}t", keys.name())
}

/// The wrapped operation of every `call_ok` entry (as in `hot_path`).
#[inline]
fn ok_op() -> Result<u8, fmt::Error> {
    Ok(black_box(1))
}

/// `n` keys of `map`, each in a different shard (so threads that use different
/// keys never touch the same shard lock). Panics if the map has too few shards.
fn keys_in_distinct_shards<V, S>(map: &DashMap<String, V, S>, n: usize) -> Vec<String>
where
    S: BuildHasher + Clone,
{
    let mut picked: Vec<(String, usize)> = Vec::with_capacity(n);
    let mut candidates: Vec<String> = map.iter().map(|e| e.key().clone()).collect();
    candidates.sort();
    for k in candidates {
        let shard = map.determine_map(k.as_str());
        if picked.iter().all(|(_, s)| *s != shard) {
            picked.push((k, shard));
            if picked.len() == n {
                return picked.into_iter().map(|(k, _)| k).collect();
            }
        }
    }
    panic!("the map has fewer than {n} non-empty shards");
}

fn baseline_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention");

    let map: DashMap<String, Arc<AtomicU8>, foldhash::fast::RandomState> =
        DashMap::with_hasher(foldhash::fast::RandomState::default());
    for i in 0..KEYS {
        map.insert(format!("conn-{i:04}"), Arc::new(AtomicU8::new(1)));
    }
    let keys = keys_in_distinct_shards(&map, MAX_THREADS);

    for (k, threads) in CASES {
        g.bench_function(id("baseline/dashmap_get", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    let key = keys[k.index(t)].as_str();
                    black_box(&map)
                        .get(black_box(key))
                        // Acquire: the ordering a breaker's state check needs.
                        .map(|v| v.load(Ordering::Acquire))
                })
            })
        });
    }

    g.finish();
}

fn peer_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention");

    // One breaker per "connection"; same_key shares breakers[0].
    let breakers: Vec<recloser::Recloser> = (0..MAX_THREADS)
        .map(|_| recloser::Recloser::custom().open_wait(OPEN_WAIT).build())
        .collect();

    for (k, threads) in CASES {
        g.bench_function(id("recloser/call_ok", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(&breakers[k.index(t)]).call(ok_op).is_ok()
                })
            })
        });
    }

    g.finish();
}

fn brama_entries(c: &mut Criterion) {
    use brama_sync::{Brama, Options, TripPolicy, Window};

    let mut g = c.benchmark_group("contention");
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .build()
        .expect("valid settings");
    let names: Vec<String> = (0..KEYS).map(|i| format!("conn-{i:04}")).collect();
    for n in &names {
        brama.register(n.as_str(), Options::new()).expect("new key");
        brama.success(n.as_str()).expect("registered");
    }
    let keys: Vec<&str> = names.iter().take(MAX_THREADS).map(String::as_str).collect();
    let rate = TripPolicy::failure_rate(0.5).window(Window::count(100));
    let rate_names: Vec<String> = (0..MAX_THREADS).map(|i| format!("rate-{i}")).collect();
    for n in &rate_names {
        let options = Options::new().trip_policy(rate);
        brama.register(n.as_str(), options).expect("new key");
        brama.success(n.as_str()).expect("registered");
    }
    let rate_keys: Vec<&str> = rate_names.iter().map(String::as_str).collect();
    // A time window: a healthy one's successes count in each thread's own lane
    // (`window/buckets/quiet.rs`), so two threads on one key do not share a bucket word.
    let time = TripPolicy::failure_rate(0.5).window(Window::time(Duration::from_secs(60)));
    let time_handles: Vec<_> = (0..MAX_THREADS)
        .map(|i| {
            let name = format!("time-{i}");
            brama
                .register(name.as_str(), Options::new().trip_policy(time))
                .expect("new key");
            brama.success(name.as_str()).expect("registered");
            brama.connection(name.as_str()).expect("registered")
        })
        .collect();
    let handles: Vec<_> = keys
        .iter()
        .map(|k| brama.connection(*k).expect("registered"))
        .collect();

    for (k, threads) in CASES {
        g.bench_function(id("brama/handle_available", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(&handles[k.index(t)]).available()
                })
            })
        });
        g.bench_function(id("brama/key_available", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    brama.available(black_box(keys[k.index(t)]))
                })
            })
        });
        g.bench_function(id("brama/handle_success", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(&handles[k.index(t)]).success().is_ok()
                })
            })
        });
        g.bench_function(id("brama/key_success", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    brama.success(black_box(keys[k.index(t)])).is_ok()
                })
            })
        });
        g.bench_function(id("brama/handle_success_rate_time60s", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(&time_handles[k.index(t)]).success().is_ok()
                })
            })
        });
        // SPEC §8 (issue #15): the same key under a rate policy (count window of 100,
        // 50 % failure rate; successes never trip it).
        g.bench_function(id("brama/key_success_rate_count100", k, threads), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    brama.success(black_box(rate_keys[k.index(t)])).is_ok()
                })
            })
        });
    }

    g.finish();
}

criterion_group!(benches, baseline_entries, peer_entries, brama_entries);
criterion_main!(benches);
