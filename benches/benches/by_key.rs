//! Group `by_key`: brama's by-key calls over the key shapes and access patterns a
//! service has, beside a map of atomics and a map of peer breakers over the same key
//! bytes, in one run (issue #14, "Show"). docs/by-key.md explains every cell;
//! `scripts/by_key_table.py` tables the run against the targets, and
//! `scripts/bench_user.sh` runs it in the build a user gets.
//!
//! Ids are `by_key/<shape>/<access>/<call>/<impl>`:
//!
//! - `<shape>`: `unscoped9` (`"conn-aq6s"`, 9 bytes), `scoped19`
//!   (`("tenant-500", "conn-0500")`, 19 bytes), `scoped40`
//!   (`("eu-west-1.tenant-500", "billing-api-0500.svc")`, 40 bytes);
//! - `<access>`: `hot` (one key, every call), `shuffled1k` (1,000 registered keys in a
//!   fixed shuffled order, cycling), `random1m` (1,000,000 registered keys, a fixed
//!   pseudo-random sequence of 2^20 indexes, cycling); for threads, `one_key_1t`,
//!   `one_key_2t` and `two_keys_2t`;
//! - `<call>`: `available`, `available_success` (`available`, then `success` if
//!   admitted), `failure`, `open_reject` (`available` on a circuit opened by hand),
//!   `unknown_key` (`available` on a key of the same shape that was never registered);
//! - `<impl>`: `brama`, or a reference: `dashmap_get` (`DashMap<String,
//!   Arc<AtomicU8>>` get and an Acquire load, foldhash), `recloser_sip` and
//!   `recloser_fold` (`DashMap<String, recloser::Recloser>` get and `call(|| Ok(()))`,
//!   std's SipHash and foldhash). A reference's key is the identifier, or
//!   `"scope/identifier"` for a scoped key, and brama's `Key` borrows its scope and
//!   identifier from that same string: both sides read the same key bytes.
//!
//! How each cell is shaped:
//!
//! - every key, every access sequence and every map is built before any timing; the
//!   registries and maps of one shape are built once and shared by all its calls (the
//!   hot and 1k cells use a registry of the 1,000 keys, the random cells one of 1M);
//! - one call per criterion iteration (`iter`): the iteration reads the next index of
//!   its access sequence, takes that key (a prepared `Key` for brama, a prepared `&str`
//!   for a reference) through [`black_box`], makes the call and returns its result,
//!   which criterion black-boxes. Every implementation pays the same sequence walk;
//! - brama is built as a service builds it: `Brama::builder()` with its janitor thread,
//!   no `max_connections`, and an `inactive_threshold` of 30 days so nothing is evicted
//!   during the run. Its `failure_threshold` is `u32::MAX`, so `failure` cells never trip
//!   a circuit: each is a counted failure on a `Closed` circuit, no state change. The
//!   cell's keys are closed by hand (untimed) before it, so every count starts at 0, and
//!   checked to still be `Closed` after it. Before every other cell each key has had a
//!   success (`Closed`, no failures), as a healthy connection of a service has;
//! - `open_reject`: the cell's keys are opened by hand with
//!   `OpenOptions::new().indefinitely()` (untimed), so neither time nor the janitor moves
//!   them to half-open, and closed again after the cell;
//! - the thread cells run on the 1,000-key registry through [`run_threads`] under
//!   `iter_custom` (ns per call per thread, threads started together). `two_keys_2t` uses
//!   keys 500 and 501 for brama; each reference map takes key 500 and the first other
//!   key that sits in a different dashmap shard of that map, so the references never
//!   share a shard lock between the two threads.
//!
//! Configuration (environment): `BY_KEY_MEASURE_SECS` (default 2) and
//! `BY_KEY_WARMUP_SECS` (default 1) per cell; `BY_KEY_SHAPES`, a comma list of shapes
//! to run (default all three); `BY_KEY_RANDOM_KEYS` (default 1,000,000, at most that),
//! the registered keys of the `random1m` cells. Under `--list` or `--test` the random
//! cells use at most 10,000 keys, so listing does not build three 1M registries.

use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use benches::{run_threads, XorShift};
use brama_sync::{Brama, Key, OpenOptions, Options, State};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use dashmap::DashMap;
use recloser::Recloser;

type Fold = foldhash::fast::RandomState;
type Sip = std::collections::hash_map::RandomState;
type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Scope and identifier numbers run below this: a shape has `GRID * GRID` keys.
const GRID: usize = 1_000;
/// Keys of the hot, 1k and thread cells: grid cells (j, j), j below this.
const SMALL: usize = 1_000;
/// The hot key's index in the small set: `("tenant-500", "conn-0500")`.
const HOT: usize = 500;
/// The second brama key of `two_keys_2t`.
const OTHER: usize = 501;
/// Length of the random access sequence (a power of two).
const RANDOM_SEQ: usize = 1 << 20;
/// Open duration of the peer breakers (brama's default expiry), as in `hot_path`.
const OPEN_WAIT: Duration = Duration::from_secs(60);
/// brama's `inactive_threshold`: nothing goes idle long enough to be evicted.
const NEVER_IDLE: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Unscoped9,
    Scoped19,
    Scoped40,
}

const SHAPES: [Shape; 3] = [Shape::Unscoped9, Shape::Scoped19, Shape::Scoped40];

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Unscoped9 => "unscoped9",
            Shape::Scoped19 => "scoped19",
            Shape::Scoped40 => "scoped40",
        }
    }

    /// Scope bytes + identifier bytes of every key of this shape.
    fn bytes(self) -> usize {
        match self {
            Shape::Unscoped9 => 9,
            Shape::Scoped19 => 19,
            Shape::Scoped40 => 40,
        }
    }

    /// The (scope, identifier) of grid cell (a, b), both below [`GRID`]. `miss` gives a
    /// key of the same shape and length in the same scopes that is never registered.
    fn text(self, a: usize, b: usize, miss: bool) -> (Option<String>, String) {
        match self {
            Shape::Unscoped9 => {
                let prefix = if miss { "gone" } else { "conn" };
                (None, format!("{prefix}-{}", base36(a * GRID + b)))
            }
            Shape::Scoped19 => {
                let prefix = if miss { "gone" } else { "conn" };
                (Some(format!("tenant-{a:03}")), format!("{prefix}-{b:04}"))
            }
            Shape::Scoped40 => {
                let prefix = if miss { "missing" } else { "billing" };
                (
                    Some(format!("eu-west-1.tenant-{a:03}")),
                    format!("{prefix}-api-{b:04}.svc"),
                )
            }
        }
    }
}

/// Four base-36 digits (up to 1,679,615).
fn base36(mut n: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 4];
    for d in out.iter_mut().rev() {
        *d = DIGITS[n % 36];
        n /= 36;
    }
    assert_eq!(n, 0, "base36 takes numbers below 36^4");
    String::from_utf8(out.to_vec()).expect("ASCII digits")
}

/// The bytes of a set of keys, one string per key: the identifier, or
/// `"scope/identifier"`. A reference map stores that string; brama's `Key` borrows its
/// scope and identifier from the same bytes, so both sides read the same memory.
struct KeyText {
    names: Vec<String>,
    /// The scope's length in each name, `None` for an unscoped key.
    scope_len: Vec<Option<usize>>,
}

impl KeyText {
    fn new(shape: Shape, cells: impl Iterator<Item = (usize, usize)>, miss: bool) -> KeyText {
        let (names, scope_len) = cells
            .map(|(a, b)| {
                let (scope, id) = shape.text(a, b, miss);
                let len = scope.as_ref().map_or(0, String::len) + id.len();
                assert_eq!(len, shape.bytes(), "{scope:?}/{id} has the shape's length");
                match scope {
                    Some(s) => (format!("{s}/{id}"), Some(s.len())),
                    None => (id, None),
                }
            })
            .unzip();
        KeyText { names, scope_len }
    }

    /// The small set: grid cells (j, j), so key `HOT` is `("tenant-500", "conn-0500")`.
    fn small(shape: Shape, miss: bool) -> KeyText {
        KeyText::new(shape, (0..SMALL).map(|j| (j, j)), miss)
    }

    /// `n` keys, grid cells (i / GRID, i % GRID).
    fn large(shape: Shape, n: usize, miss: bool) -> KeyText {
        KeyText::new(shape, (0..n).map(|i| (i / GRID, i % GRID)), miss)
    }

    fn keys(&self) -> Vec<Key<'_>> {
        self.names
            .iter()
            .zip(&self.scope_len)
            .map(|(name, scope_len)| match *scope_len {
                Some(at) => Key::scoped(&name[..at], &name[at + 1..]),
                None => Key::new(name),
            })
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }
}

fn recloser_breaker() -> Recloser {
    // Defaults otherwise (100-call closed ring buffer, 50 % error rate), as in hot_path.
    Recloser::custom().open_wait(OPEN_WAIT).build()
}

/// One registry and the reference maps over the same keys, plus keys of the same
/// shape that none of them holds.
struct Fixture<'t> {
    brama: Box<Brama>,
    keys: Vec<Key<'t>>,
    names: Vec<&'t str>,
    unknown: Vec<Key<'t>>,
    unknown_names: Vec<&'t str>,
    cells: Box<DashMap<String, Arc<AtomicU8>, Fold>>,
    sip: Box<DashMap<String, Recloser, Sip>>,
    fold: Box<DashMap<String, Recloser, Fold>>,
}

impl<'t> Fixture<'t> {
    fn new(known: &'t KeyText, unknown: &'t KeyText) -> Fixture<'t> {
        let brama = Box::new(
            Brama::builder()
                .failure_threshold(u32::MAX)
                .inactive_threshold(NEVER_IDLE)
                .build()
                .expect("valid settings"),
        );
        let keys = known.keys();
        for &k in &keys {
            brama.register(k, Options::new()).expect("new key");
            brama.success(k).expect("registered");
        }
        let cells = Box::new(DashMap::with_hasher(Fold::default()));
        let sip = Box::new(DashMap::with_hasher(Sip::default()));
        let fold = Box::new(DashMap::with_hasher(Fold::default()));
        for name in &known.names {
            cells.insert(name.clone(), Arc::new(AtomicU8::new(1)));
            sip.insert(name.clone(), recloser_breaker());
            fold.insert(name.clone(), recloser_breaker());
        }
        let fixture = Fixture {
            brama,
            keys,
            names: known.names(),
            unknown: unknown.keys(),
            unknown_names: unknown.names(),
            cells,
            sip,
            fold,
        };
        for (&k, &name) in fixture.unknown.iter().zip(&fixture.unknown_names) {
            assert!(!fixture.brama.available(k), "{name} is not registered");
            assert!(
                !fixture.cells.contains_key(name),
                "{name} is not in the map"
            );
        }
        fixture
    }
}

/// Walks `seq` one index per iteration, cycling, and makes `op`'s call on that index.
fn cell<R>(g: &mut Group<'_>, id: &str, seq: &[u32], mut op: impl FnMut(usize) -> R) {
    g.bench_function(id, |b| {
        let mut pos = 0usize;
        b.iter(|| {
            let i = seq[pos] as usize;
            pos += 1;
            if pos == seq.len() {
                pos = 0;
            }
            op(i)
        })
    });
}

/// `0..n` in a fixed shuffled order (Fisher-Yates).
fn shuffled(n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut rng = XorShift::new();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i + 1));
    }
    v
}

/// [`RANDOM_SEQ`] indexes drawn uniformly from `0..n`.
fn random(n: usize) -> Vec<u32> {
    let mut rng = XorShift::new();
    (0..RANDOM_SEQ).map(|_| rng.below(n) as u32).collect()
}

/// The distinct indexes of `seq`: the keys a cell touches.
fn touched(seq: &[u32]) -> Vec<usize> {
    let mut v: Vec<usize> = seq.iter().map(|&i| i as usize).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every call of one (shape, access) pair, brama's and the references'.
fn access_cells(g: &mut Group<'_>, shape: Shape, access: &str, f: &Fixture<'_>, seq: &[u32]) {
    let id = |call: &str, imp: &str| format!("{}/{access}/{call}/{imp}", shape.name());
    let brama = &*f.brama;
    let (keys, names) = (&f.keys, &f.names);
    let (cells, sip, fold) = (&*f.cells, &*f.sip, &*f.fold);
    let touched = touched(seq);

    cell(g, &id("available", "brama"), seq, |i| {
        black_box(brama).available(black_box(keys[i]))
    });
    cell(g, &id("available", "dashmap_get"), seq, |i| {
        black_box(cells)
            .get(black_box(names[i]))
            // Acquire: the load a breaker's state check makes.
            .map(|v| v.load(Ordering::Acquire))
    });

    cell(g, &id("available_success", "brama"), seq, |i| {
        let (b, k) = (black_box(brama), black_box(keys[i]));
        b.available(k) && b.success(k).is_ok()
    });
    cell(g, &id("available_success", "recloser_sip"), seq, |i| {
        black_box(sip)
            .get(black_box(names[i]))
            .is_some_and(|r| r.call(|| Ok::<_, ()>(())).is_ok())
    });
    cell(g, &id("available_success", "recloser_fold"), seq, |i| {
        black_box(fold)
            .get(black_box(names[i]))
            .is_some_and(|r| r.call(|| Ok::<_, ()>(())).is_ok())
    });

    // Failure: every count starts at 0; the threshold (u32::MAX) is out of reach.
    let trips: Vec<u64> = touched
        .iter()
        .map(|&i| {
            brama.close_circuit(keys[i]).expect("registered");
            brama.status(keys[i]).expect("registered").trips
        })
        .collect();
    cell(g, &id("failure", "brama"), seq, |i| {
        black_box(brama).failure(black_box(keys[i])).is_ok()
    });
    for (&i, &before) in touched.iter().zip(&trips) {
        let status = brama.status(keys[i]).expect("registered");
        assert_eq!(
            (status.state, status.trips),
            (State::Closed, before),
            "{}: a failure cell must not change the state",
            names[i]
        );
        brama.success(keys[i]).expect("registered");
    }

    for &i in &touched {
        brama
            .open_circuit(keys[i], OpenOptions::new().indefinitely())
            .expect("registered");
        assert!(!brama.available(keys[i]), "{} is open", names[i]);
    }
    cell(g, &id("open_reject", "brama"), seq, |i| {
        black_box(brama).available(black_box(keys[i]))
    });
    for &i in &touched {
        brama.close_circuit(keys[i]).expect("registered");
        brama.success(keys[i]).expect("registered");
    }

    let (unknown, unknown_names) = (&f.unknown, &f.unknown_names);
    cell(g, &id("unknown_key", "brama"), seq, |i| {
        black_box(brama).available(black_box(unknown[i]))
    });
    cell(g, &id("unknown_key", "dashmap_get"), seq, |i| {
        black_box(cells)
            .get(black_box(unknown_names[i]))
            // Acquire: as in the `available` reference.
            .map(|v| v.load(Ordering::Acquire))
    });
}

/// Key [`HOT`] and the first other key of `names` in a different shard of `map`.
fn two_shards<V, S>(map: &DashMap<String, V, S>, names: &[&str]) -> [usize; 2]
where
    S: BuildHasher + Clone,
{
    let hot_shard = map.determine_map(names[HOT]);
    let other = (0..names.len())
        .find(|&j| j != HOT && map.determine_map(names[j]) != hot_shard)
        .expect("the keys span more than one shard");
    [HOT, other]
}

/// `available` and `available_success` on 1 thread and on 2, one key or two.
fn thread_cells(g: &mut Group<'_>, shape: Shape, f: &Fixture<'_>) {
    let brama = &*f.brama;
    let (cells, fold) = (&*f.cells, &*f.fold);
    let cases: [(&str, usize, bool); 3] = [
        ("one_key_1t", 1, false),
        ("one_key_2t", 2, false),
        ("two_keys_2t", 2, true),
    ];
    for (access, threads, two_keys) in cases {
        let id = |call: &str, imp: &str| format!("{}/{access}/{call}/{imp}", shape.name());
        let pick = |two: [usize; 2]| if two_keys { two } else { [HOT, HOT] };
        let bk = pick([HOT, OTHER]).map(|i| f.keys[i]);
        let dk = pick(two_shards(cells, &f.names)).map(|i| f.names[i]);
        let rk = pick(two_shards(fold, &f.names)).map(|i| f.names[i]);

        g.bench_function(id("available", "brama"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| brama.available(black_box(bk[t])))
            })
        });
        g.bench_function(id("available", "dashmap_get"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(cells)
                        .get(black_box(dk[t]))
                        // Acquire: as in the single-thread reference.
                        .map(|v| v.load(Ordering::Acquire))
                })
            })
        });
        g.bench_function(id("available_success", "brama"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    let k = black_box(bk[t]);
                    brama.available(k) && brama.success(k).is_ok()
                })
            })
        });
        g.bench_function(id("available_success", "recloser_fold"), |b| {
            b.iter_custom(|iters| {
                run_threads(threads, iters, |t| {
                    black_box(fold)
                        .get(black_box(rk[t]))
                        .is_some_and(|r| r.call(|| Ok::<_, ()>(())).is_ok())
                })
            })
        });
    }
}

fn env_secs(name: &str, default: f64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(default);
    Duration::from_secs_f64(secs)
}

fn shapes() -> Vec<Shape> {
    match std::env::var("BY_KEY_SHAPES") {
        Ok(list) => SHAPES
            .into_iter()
            .filter(|s| list.split(',').any(|n| n.trim() == s.name()))
            .collect(),
        Err(_) => SHAPES.to_vec(),
    }
}

fn random_keys() -> usize {
    let n = std::env::var("BY_KEY_RANDOM_KEYS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(GRID * GRID)
        .clamp(SMALL, GRID * GRID);
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        n.min(10_000)
    } else {
        n
    }
}

fn by_key(c: &mut Criterion) {
    let mut g = c.benchmark_group("by_key");
    let n = random_keys();
    for shape in shapes() {
        {
            let (known, unknown) = (KeyText::small(shape, false), KeyText::small(shape, true));
            let f = Fixture::new(&known, &unknown);
            access_cells(&mut g, shape, "hot", &f, &[HOT as u32]);
            access_cells(&mut g, shape, "shuffled1k", &f, &shuffled(SMALL));
            thread_cells(&mut g, shape, &f);
        }
        {
            let known = KeyText::large(shape, n, false);
            let unknown = KeyText::large(shape, n, true);
            let f = Fixture::new(&known, &unknown);
            access_cells(&mut g, shape, "random1m", &f, &random(n));
        }
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(env_secs("BY_KEY_WARMUP_SECS", 1.0))
        .measurement_time(env_secs("BY_KEY_MEASURE_SECS", 2.0))
}

criterion_group! {
    name = benches;
    config = config();
    targets = by_key
}
criterion_main!(benches);
