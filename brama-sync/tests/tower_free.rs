//! Where a call the tower layer admitted with no permit reports (see `tower/free.rs`):
//! admitted through this thread's cache it holds no reference to its registry, and its
//! report finds the connection in that cache; finished on another thread, or admitted
//! through the map, it reaches the registry all the same. A call in flight when its
//! registry's last `Brama` is dropped finishes normally.

use std::future::{ready, Future, Ready};

use brama_sync::tower::BramaLayer;
use brama_sync::{Brama, KeyBuf, Options};
use tower::{service_fn, Layer, Service};

#[path = "common/poll.rs"]
mod poll;
use poll::finish;

const KEY: (&str, &str) = ("upstream", "users");

fn echo(req: Result<u32, u32>) -> Ready<Result<u32, u32>> {
    ready(req)
}

fn layered(
    brama: &Brama,
) -> impl Service<
    Result<u32, u32>,
    Future = impl Future<Output = Result<u32, impl std::fmt::Debug>> + Send,
> {
    BramaLayer::new(brama.clone(), |_: &Result<u32, u32>| KeyBuf::from(KEY)).layer(service_fn(echo))
}

fn registered() -> Brama {
    let brama = Brama::new();
    brama.register(KEY, Options::new()).unwrap();
    brama
}

#[test]
fn calls_admitted_through_the_cache_count_on_this_thread_and_on_another() {
    let brama = registered();
    let mut svc = layered(&brama);
    // The first calls fill this thread's cache (a key's second miss in a row).
    for _ in 0..3 {
        finish(svc.call(Ok(1))).unwrap();
    }
    finish(svc.call(Err(2))).unwrap_err();
    let status = brama.status(KEY).unwrap();
    assert_eq!((status.total_successes, status.total_failures), (3, 1));
    // Made here, finished on threads whose caches hold nothing.
    let ok = svc.call(Ok(3));
    let failed = svc.call(Err(4));
    std::thread::scope(|s| {
        s.spawn(|| finish(ok).unwrap());
        s.spawn(|| finish(failed).unwrap_err());
    });
    let status = brama.status(KEY).unwrap();
    assert_eq!((status.total_successes, status.total_failures), (4, 2));
}

#[test]
fn calls_admitted_through_the_map_count() {
    let brama = registered();
    // Each call on a fresh thread: its cache is empty, so every admission is through
    // the map, and the report finds the connection there.
    for i in 0..4u32 {
        let mut svc = layered(&brama);
        std::thread::scope(|s| {
            s.spawn(move || {
                let req = if i % 2 == 0 { Ok(i) } else { Err(i) };
                let _ = finish(svc.call(req));
            });
        });
    }
    let status = brama.status(KEY).unwrap();
    assert_eq!((status.total_successes, status.total_failures), (2, 2));
}

#[test]
fn a_call_in_flight_when_the_last_brama_is_dropped_finishes_normally() {
    let brama = registered();
    let conn = brama.connection(KEY).unwrap();
    let mut svc = layered(&brama);
    for _ in 0..3 {
        finish(svc.call(Ok(1))).unwrap();
    }
    let here = svc.call(Ok(5));
    let there = svc.call(Err(6));
    drop((svc, brama));
    // Its result is returned; where it counts is not promised (through this thread's
    // cache, which still holds the connection, or nowhere).
    assert_eq!(finish(here).unwrap(), 5);
    std::thread::scope(|s| {
        s.spawn(|| finish(there).unwrap_err());
    });
    let status = conn.status().unwrap();
    assert!((3..=4).contains(&status.total_successes));
    assert_eq!(status.total_failures, 0, "another thread finds no registry");
}
