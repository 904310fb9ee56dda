//! The async wrappers and the tower layer, each beside the same thing unguarded, in one
//! run (issue 16).
//!
//! Group `async_tower`. Every entry runs on one current-thread tokio runtime built once;
//! each sample is one `block_on` around a loop of `iters` requests, timed inside the
//! loop (`iter_custom`), so the runtime's entry and exit are not in the figure. What
//! one iteration is:
//!
//! - `async/bare_future`: `.await` of an `async { Ok(black_box(1)) }`, unguarded;
//! - `async/call_async_ok`: the same future through `conn.call_async` on a closed
//!   circuit (a `Connection` handle: acquire, poll, classify, report);
//! - `async/sync_handle_pair`: `conn.available()` + `conn.success()`, the sync pair the
//!   async wrapper is held against (target: `call_async_ok − bare_future` at most twice
//!   this);
//! - `async/pair_future_floor`: the least any guarding future can do, for scale: a
//!   hand-written future that calls that same pair around one poll of the same inner
//!   future (no permit, no classifier, no panic guard), answering an 8-byte output;
//! - `async/pair_future_floor_wide`: the same answering `call_async`'s output type,
//!   `Result<T, CallError<E>>` (SPEC §13), 72 bytes here;
//! - `tower/bare_service`: `ready().await` + `call(req).await` on a `service_fn` that
//!   answers `Ok(req)` at once;
//! - `tower/brama_layer`: the same service behind `BramaLayer` (one key, closed);
//! - `tower/brama_layer_1k_keys`: the same, each request naming one of 1,024 registered
//!   keys in turn (the traffic of a gateway in front of many upstreams);
//! - `tower/tower_resilience_layer`: the same service behind tower-resilience's
//!   `CircuitBreakerLayer` with its default configuration, as its README builds it.
//!
//! Target (issue 16): `brama_layer − bare_service` at most 0.2 × `tower_resilience_layer −
//! bare_service`.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use brama_sync::tower::BramaLayer;
use brama_sync::{Brama, CallError, KeyBuf, Options};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::{Builder, Runtime};
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_resilience_circuitbreaker::CircuitBreakerLayer;

const KEYS: usize = 1024;

pin_project_lite::pin_project! {
    /// The least a guarding future can do (`async/pair_future_floor*`): the sync pair
    /// around one poll of the inner future, no permit; `O` is its output type.
    struct PairFuture<'a, F, O> {
        conn: &'a brama_sync::Connection,
        #[pin]
        fut: F,
        out: PhantomData<O>,
    }
}

/// What a [`PairFuture`] answers: an 8-byte result, or `call_async`'s.
trait Answer {
    fn ok(v: u32) -> Self;
    fn refused() -> Self;
}

impl Answer for Result<u32, Option<Infallible>> {
    fn ok(v: u32) -> Self {
        Ok(v)
    }
    fn refused() -> Self {
        Err(None)
    }
}

impl Answer for Result<u32, CallError<Infallible>> {
    fn ok(v: u32) -> Self {
        Ok(v)
    }
    fn refused() -> Self {
        Err(CallError::Rejected(brama_sync::Error::CapacityExceeded))
    }
}

impl<F: Future<Output = Result<u32, Infallible>>, O: Answer> Future for PairFuture<'_, F, O> {
    type Output = O;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<O> {
        let this = self.project();
        if !this.conn.available() {
            return Poll::Ready(O::refused());
        }
        match this.fut.poll(cx) {
            Poll::Ready(Ok(v)) => {
                let _ = this.conn.success();
                Poll::Ready(O::ok(v))
            }
            Poll::Ready(Err(e)) => match e {},
            Poll::Pending => Poll::Pending,
        }
    }
}

fn runtime() -> Runtime {
    Builder::new_current_thread().build().expect("a runtime")
}

/// The trivial upstream every tower entry wraps.
fn upstream(req: u32) -> Ready<Result<u32, Infallible>> {
    ready(Ok(req))
}

/// A registry with `n` registered keys `up-0000`.., each closed by one success.
fn brama(n: usize) -> Brama {
    let brama = Brama::builder().build().expect("a registry");
    for i in 0..n {
        let key = format!("up-{i:04}");
        brama
            .register(key.as_str(), Options::new())
            .expect("fresh key");
        brama.success(key.as_str()).expect("registered");
    }
    brama
}

/// Times `iters` requests through `svc` on `rt`: `ready().await` + `call().await` each.
fn drive<S>(rt: &Runtime, svc: &mut S, iters: u64) -> Duration
where
    S: Service<u32>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let ready = svc.ready().await.expect("ready");
            let out = ready.call(black_box(i as u32)).await;
            black_box(out.is_ok());
        }
        start.elapsed()
    })
}

fn async_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_tower");
    let rt = runtime();
    let brama = brama(1);
    let conn = brama.connection("up-0000").expect("registered");

    g.bench_function("async/bare_future", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let out = async { Ok::<_, Infallible>(black_box(1u32)) }.await;
                    black_box(out.is_ok());
                }
                start.elapsed()
            })
        })
    });

    g.bench_function("async/call_async_ok", |b| {
        let conn = black_box(&conn);
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let out = conn
                        .call_async(async { Ok::<_, Infallible>(black_box(1u32)) })
                        .await;
                    black_box(out.is_ok());
                }
                start.elapsed()
            })
        })
    });

    // Each entry writes its loop out: the floors timed through one shared generic
    // helper read 0.3 ns slower (2.80-2.84 against 2.53-2.54 ns), which a floor must not.
    g.bench_function("async/pair_future_floor", |b| {
        let conn = black_box(&conn);
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let out = PairFuture::<_, Result<u32, Option<Infallible>>> {
                        conn,
                        fut: async { Ok::<_, Infallible>(black_box(1u32)) },
                        out: PhantomData,
                    }
                    .await;
                    black_box(out.is_ok());
                }
                start.elapsed()
            })
        })
    });

    g.bench_function("async/pair_future_floor_wide", |b| {
        let conn = black_box(&conn);
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let out = PairFuture::<_, Result<u32, CallError<Infallible>>> {
                        conn,
                        fut: async { Ok::<_, Infallible>(black_box(1u32)) },
                        out: PhantomData,
                    }
                    .await;
                    black_box(out.is_ok());
                }
                start.elapsed()
            })
        })
    });

    g.bench_function("async/sync_handle_pair", |b| {
        let conn = black_box(&conn);
        b.iter(|| conn.available() && conn.success().is_ok())
    });

    g.bench_function("async/sync_permit", |b| {
        let conn = black_box(&conn);
        b.iter(|| conn.acquire().map(|p| p.success().is_ok()))
    });

    g.bench_function("async/sync_permit_by_key", |b| {
        let brama = black_box(&brama);
        b.iter(|| {
            brama
                .acquire(black_box("up-0000"))
                .map(|p| p.success().is_ok())
        })
    });
    g.finish();
}

fn tower_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("async_tower");
    let rt = runtime();

    g.bench_function("tower/bare_service", |b| {
        let mut svc = service_fn(upstream);
        b.iter_custom(|iters| drive(&rt, &mut svc, iters))
    });

    let one = brama(1);
    g.bench_function("tower/brama_layer", |b| {
        let layer = BramaLayer::new(one.clone(), |_: &u32| KeyBuf::from("up-0000"));
        let mut svc = layer.layer(service_fn(upstream));
        b.iter_custom(|iters| drive(&rt, &mut svc, iters))
    });

    let many = brama(KEYS);
    let names: Vec<String> = (0..KEYS).map(|i| format!("up-{i:04}")).collect();
    g.bench_function("tower/brama_layer_1k_keys", |b| {
        let names = names.clone();
        let layer = BramaLayer::new(many.clone(), move |req: &u32| {
            KeyBuf::from(names[*req as usize % KEYS].as_str())
        });
        let mut svc = layer.layer(service_fn(upstream));
        b.iter_custom(|iters| drive(&rt, &mut svc, iters))
    });

    g.bench_function("tower/tower_resilience_layer", |b| {
        let layer = CircuitBreakerLayer::builder()
            .build()
            .expect("the default configuration");
        let mut svc = layer.layer(service_fn(upstream));
        b.iter_custom(|iters| drive(&rt, &mut svc, iters))
    });
    g.finish();
}

criterion_group!(benches, async_entries, tower_entries);
criterion_main!(benches);
