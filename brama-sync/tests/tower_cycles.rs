//! SPEC §2 rule 4 and §9 through the tower layer's permit-free admission: a call the
//! layer admitted on a circuit that admitted freely (no permit, only where the
//! connection was found and the cycle) and that finishes after the circuit changed decides
//! nothing, counts only on the connection it was admitted on, and a dropped or ignored
//! one counts neither.

use std::future::{ready, Ready};
use std::time::Duration;

use brama_sync::tower::BramaLayer;
use brama_sync::{Brama, KeyBuf, ManualClock, Options, Outcome, State};
use tower::{service_fn, Layer, Service};

#[path = "common/poll.rs"]
mod poll;
use poll::finish;

const EXPIRY: Duration = Duration::from_secs(30);
const KEY: (&str, &str) = ("upstream", "users");

fn brama(clock: &ManualClock) -> Brama {
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .cleanup_interval(Duration::from_secs(3600))
        .clock(clock.clone())
        .build()
        .unwrap();
    brama.register(KEY, Options::new()).unwrap();
    brama
}

/// A service whose request is its own answer: `Ok` or `Err`, at once.
fn echo(req: Result<u32, u32>) -> Ready<Result<u32, u32>> {
    ready(req)
}

type Svc = brama_sync::tower::BramaService<
    tower::util::ServiceFn<fn(Result<u32, u32>) -> Ready<Result<u32, u32>>>,
    fn(&Result<u32, u32>) -> KeyBuf,
    brama_sync::ByResult,
>;

fn key_of(_: &Result<u32, u32>) -> KeyBuf {
    KeyBuf::from(KEY)
}

fn layered(brama: &Brama) -> Svc {
    BramaLayer::new(brama.clone(), key_of as fn(&Result<u32, u32>) -> KeyBuf).layer(service_fn(
        echo as fn(Result<u32, u32>) -> Ready<Result<u32, u32>>,
    ))
}

/// Trips the circuit and lets its open duration pass: the next check is a probe.
fn trip_and_expire(brama: &Brama, clock: &ManualClock) {
    brama.failure(KEY).unwrap();
    brama.failure(KEY).unwrap();
    assert_eq!(brama.status(KEY).unwrap().state, State::Open);
    clock.advance(EXPIRY);
}

#[test]
fn a_failure_admitted_before_the_circuit_opened_decides_nothing_in_the_probe_cycle() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.success(KEY).unwrap();
    let mut svc = layered(&brama);
    let stale = svc.call(Err(1)); // admitted on the closed circuit
    trip_and_expire(&brama, &clock);
    let probe = brama.acquire(KEY).unwrap();
    assert!(probe.is_probe());
    assert!(finish(stale).is_err());
    let s = brama.status(KEY).unwrap();
    assert_eq!(s.total_failures, 3, "counted in the totals");
    assert_eq!(s.state, State::HalfOpen, "it did not re-open the circuit");
    assert!(!brama.available(KEY), "the probe's slot is still taken");
    probe.success().unwrap();
    assert_eq!(brama.status(KEY).unwrap().state, State::Closed);
}

#[test]
fn a_success_admitted_in_an_earlier_cycle_leaves_the_consecutive_count_alone() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut svc = layered(&brama);
    let stale = svc.call(Ok(1));
    trip_and_expire(&brama, &clock);
    brama.acquire(KEY).unwrap().success().unwrap(); // closed again: a new cycle
    brama.failure(KEY).unwrap();
    assert_eq!(finish(stale), Ok(1));
    let s = brama.status(KEY).unwrap();
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 1));
    assert_eq!(s.total_successes, 2, "counted in the totals");
    // A call of the current cycle does zero it.
    assert_eq!(finish(svc.call(Ok(2))), Ok(2));
    assert_eq!(brama.status(KEY).unwrap().consecutive_failures, 0);
}

#[test]
fn a_call_that_outlives_its_connection_counts_on_no_other() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut svc = layered(&brama);
    let (ok, failed) = (svc.call(Ok(1)), svc.call(Err(2)));
    brama.unregister(KEY).unwrap();
    brama.register(KEY, Options::new()).unwrap();
    assert_eq!(finish(ok), Ok(1), "the result stands");
    assert!(finish(failed).is_err());
    let s = brama.status(KEY).unwrap();
    assert_eq!((s.total_successes, s.total_failures), (0, 0));
    assert_eq!(s.state, State::Unknown);
}

#[test]
fn dropped_and_ignored_calls_count_neither_and_take_no_slot() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.success(KEY).unwrap();
    let mut svc = layered(&brama);
    drop(svc.call(Ok(1)));
    let mut ignoring = BramaLayer::new(brama.clone(), key_of)
        .classify(|_: &Result<u32, u32>| Outcome::Ignore)
        .layer(service_fn(echo));
    assert_eq!(
        finish(ignoring.call(Err(3))),
        Err(brama_sync::tower::BramaError::Inner(3))
    );
    let s = brama.status(KEY).unwrap();
    assert_eq!((s.total_successes, s.total_failures), (1, 0));
    // Many unfinished calls on a closed circuit hold nothing a probe needs.
    let held: Vec<_> = (0..4).map(|i| svc.call(Ok(i))).collect();
    trip_and_expire(&brama, &clock);
    assert!(brama.available(KEY), "the half-open slot is free");
    drop(held);
    assert_eq!(brama.status(KEY).unwrap().total_successes, 1);
}

#[test]
fn a_call_through_the_cache_and_one_through_the_map_count_alike() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut svc = layered(&brama);
    // The first calls fill this thread's cache; the rest are answered from it.
    for i in 0..10 {
        assert_eq!(finish(svc.call(Ok(i))), Ok(i));
    }
    assert!(finish(svc.call(Err(0))).is_err());
    let s = brama.status(KEY).unwrap();
    assert_eq!((s.total_successes, s.total_failures), (10, 1));
    assert_eq!((s.state, s.consecutive_failures), (State::Closed, 1));
}
