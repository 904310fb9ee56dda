//! SPEC §9: feature `tower`: `BramaLayer` in a `ServiceBuilder`, one layer guarding two
//! upstreams independently, an `Ok(503)` counted as a failure, rejections naming the
//! key, `poll_ready` forwarding, `auto_register`, and what dropping the response
//! future does; on tokio's multi-threaded runtime and on `futures`' executor.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use brama_sync::tower::{BramaError, BramaLayer};
use brama_sync::{Brama, KeyBuf, ManualClock, Options, Outcome, State};
use http::{Request, Response, StatusCode};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

#[path = "common/poll.rs"]
mod poll;

const EXPIRY: Duration = Duration::from_secs(30);

fn brama(clock: &ManualClock) -> Brama {
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(EXPIRY)
        .cleanup_interval(Duration::from_secs(3600))
        .clock(clock.clone())
        .build()
        .unwrap();
    for upstream in ["users", "orders"] {
        brama
            .register(("upstream", upstream), Options::new())
            .unwrap();
    }
    brama
}

/// The upstream is the first path segment: `/users/1` goes to ("upstream", "users").
fn upstream_of<B>(req: &Request<B>) -> KeyBuf {
    let path = req.uri().path().trim_start_matches('/');
    let name = path.split('/').next().unwrap_or("");
    KeyBuf::from(("upstream", name))
}

/// 5xx responses are failures, 4xx say nothing about the upstream, the rest succeed.
fn by_status(r: &Result<Response<String>, io::Error>) -> Outcome {
    match r {
        Ok(resp) if resp.status().is_server_error() => Outcome::Failure,
        Ok(resp) if resp.status().is_client_error() => Outcome::Ignore,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

fn get(path: &str) -> Request<()> {
    Request::builder().uri(path).body(()).unwrap()
}

/// An upstream that answers `/orders/...` with 503 and everything else with 200.
async fn upstreams(req: Request<()>) -> Result<Response<String>, io::Error> {
    let status = if req.uri().path().starts_with("/orders") {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok(Response::builder()
        .status(status)
        .body(req.uri().path().to_owned())
        .unwrap())
}

fn totals(brama: &Brama, upstream: &str) -> (u64, u64, State) {
    let s = brama.status(("upstream", upstream)).unwrap();
    (s.total_successes, s.total_failures, s.state)
}

/// The scenario the tests below run on an executor of their choice.
async fn two_upstreams_routed_independently(brama: Brama) {
    let mut svc = ServiceBuilder::new()
        .layer(BramaLayer::new(brama.clone(), upstream_of).classify(by_status))
        .service_fn(upstreams);

    // Two 503s from orders: returned as they came, counted as failures, circuit open.
    for _ in 0..2 {
        let resp = svc.ready().await.unwrap().call(get("/orders/7")).await;
        assert_eq!(resp.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(totals(&brama, "orders"), (0, 2, State::Open));

    // Orders is refused without reaching the upstream, and the error names it.
    match svc.ready().await.unwrap().call(get("/orders/8")).await {
        Err(BramaError::Rejected {
            identifier,
            scope,
            state,
            retry_after,
        }) => {
            assert_eq!(identifier, "orders");
            assert_eq!(scope.as_deref(), Some("upstream"));
            assert_eq!(state, State::Open);
            assert_eq!(retry_after, Some(EXPIRY));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    // Users, behind the same layer, is untouched.
    for i in 0..3 {
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(get(&format!("/users/{i}")))
            .await;
        assert_eq!(resp.unwrap().body(), &format!("/users/{i}"));
    }
    assert_eq!(totals(&brama, "users"), (3, 0, State::Closed));
    assert_eq!(
        brama.status(("upstream", "orders")).unwrap().total_rejected,
        1
    );
}

#[test]
fn two_upstreams_routed_independently_on_tokio_multi_thread() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let brama = brama(&clock);
    rt.block_on(async move {
        tokio::spawn(two_upstreams_routed_independently(brama))
            .await
            .unwrap()
    });
}

#[test]
fn two_upstreams_routed_independently_on_the_futures_executor() {
    let clock = ManualClock::new();
    futures::executor::block_on(two_upstreams_routed_independently(brama(&clock)));
}

#[test]
fn a_rejection_displays_the_key_and_how_long_to_wait() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama
        .open_circuit(("upstream", "users"), brama_sync::OpenOptions::new())
        .unwrap();
    let mut svc = BramaLayer::new(brama, upstream_of).layer(service_fn(upstreams));
    let err = pollster::block_on(async { svc.ready().await.unwrap().call(get("/users")).await })
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("upstream/users"), "{text}");
    assert!(text.contains("Open") || text.contains("open"), "{text}");
    assert!(text.contains("30s"), "{text}");
    assert!(err.is_rejected());
    // std::error::Error when the inner error is one.
    let _: &dyn std::error::Error = &err;
}

#[test]
fn unknown_keys_are_refused_unless_auto_registered() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut strict = BramaLayer::new(brama.clone(), upstream_of).layer(service_fn(upstreams));
    let out = pollster::block_on(async { strict.ready().await.unwrap().call(get("/new")).await });
    match out {
        Err(BramaError::Rejected {
            identifier, state, ..
        }) => assert_eq!((identifier.as_str(), state), ("new", State::Unknown)),
        other => panic!("{other:?}"),
    }
    assert!(brama.status(("upstream", "new")).is_err(), "not registered");

    let mut open = BramaLayer::new(brama.clone(), upstream_of)
        .auto_register(true)
        .layer(service_fn(upstreams));
    let out = pollster::block_on(async { open.ready().await.unwrap().call(get("/new")).await });
    assert_eq!(out.unwrap().status(), StatusCode::OK);
    assert_eq!(
        brama.status(("upstream", "new")).unwrap().total_successes,
        1
    );
    // An invalid key (empty identifier) is refused, even with auto_register; the
    // message names every reason a key can have no connection, not only the first.
    let out = pollster::block_on(async { open.ready().await.unwrap().call(get("/")).await });
    let err = out.unwrap_err();
    assert!(matches!(
        err,
        BramaError::Rejected {
            state: State::Unknown,
            ..
        }
    ));
    let text = err.to_string();
    for cause in [
        "auto_register is off",
        "the key is invalid",
        "max_connections",
    ] {
        assert!(text.contains(cause), "{text}");
    }
}

/// An inner service that is ready only when told, and counts its calls.
#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
    fail_ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Service<Request<()>> for Gate {
    type Response = Response<String>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Response<String>, io::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        if self.fail_ready {
            return Poll::Ready(Err(io::Error::other("inner not ready")));
        }
        // Relaxed: a test flag.
        if self.open.load(Ordering::Relaxed) {
            Poll::Ready(Ok(()))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        // Relaxed: a test counter.
        self.calls.fetch_add(1, Ordering::Relaxed);
        std::future::ready(Ok(Response::new(String::new())))
    }
}

#[test]
fn poll_ready_forwards_the_inner_readiness_and_errors_whatever_the_circuit() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    // Even with every circuit open, readiness is the inner service's.
    brama
        .open_circuit(("upstream", "users"), brama_sync::OpenOptions::new())
        .unwrap();
    let gate = Gate {
        open: Arc::new(AtomicBool::new(false)),
        fail_ready: false,
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let mut svc = BramaLayer::new(brama.clone(), upstream_of).layer(gate.clone());
    let waker = poll::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(svc.poll_ready(&mut cx).is_pending());
    // Relaxed: a test flag.
    gate.open.store(true, Ordering::Relaxed);
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    // The check is in call: a refused request never reaches the inner service.
    let out = pollster::block_on(svc.call(get("/users")));
    assert!(out.unwrap_err().is_rejected());
    // Relaxed: read after the call returned, on this thread.
    assert_eq!(gate.calls.load(Ordering::Relaxed), 0);
    // The readiness it was given is still there for the next request.
    assert!(pollster::block_on(svc.call(get("/orders"))).is_ok());
    assert_eq!(gate.calls.load(Ordering::Relaxed), 1);

    let mut failing = BramaLayer::new(brama, upstream_of).layer(Gate {
        fail_ready: true,
        ..gate
    });
    match failing.poll_ready(&mut cx) {
        Poll::Ready(Err(BramaError::Inner(e))) => assert_eq!(e.to_string(), "inner not ready"),
        other => panic!("{other:?}"),
    }
}

/// An upstream call that never answers.
struct Hang;

impl Future for Hang {
    type Output = Result<Response<String>, io::Error>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

#[test]
fn a_response_future_dropped_mid_flight_frees_its_probe_and_counts_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let key = ("upstream", "users");
    brama.failure(key).unwrap();
    brama.failure(key).unwrap();
    clock.advance(EXPIRY);
    let mut svc = BramaLayer::new(brama.clone(), upstream_of)
        .classify(by_status)
        .layer(service_fn(|_: Request<()>| Hang));
    let (s0, f0, _) = totals(&brama, "users");
    let waker = poll::noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(svc.call(get("/users")));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(!brama.available(key), "it holds the only probe slot");
    }
    let (s1, f1, _) = totals(&brama, "users");
    assert_eq!((s1, f1), (s0, f0), "a dropped call counted");
    // Made but never polled: the permit is taken in `call`, freed on drop.
    let fut = svc.call(get("/users"));
    assert!(!brama.available(key));
    drop(fut);
    assert!(brama.available(key), "the slot was freed");
    assert_eq!(totals(&brama, "users").2, State::HalfOpen);
    // A rejected future dropped unpolled leaves nothing behind either.
    drop(svc.call(get("/users")));
}

#[test]
fn a_cancelled_call_on_tokio_counts_neither() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let svc =
        BramaLayer::new(brama.clone(), upstream_of).layer(service_fn(|_: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, io::Error>(Response::new(String::new()))
        }));
    rt.block_on(async move {
        let call = svc.oneshot(get("/users"));
        assert!(tokio::time::timeout(Duration::from_millis(5), call)
            .await
            .is_err());
    });
    assert_eq!(totals(&brama, "users"), (0, 0, State::Unknown));
}

#[test]
fn a_panicking_upstream_counts_as_a_failure() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut svc =
        BramaLayer::new(brama.clone(), upstream_of).layer(service_fn(|_: Request<()>| async {
            if true {
                panic!("upstream exploded");
            }
            Ok::<Response<String>, io::Error>(Response::new(String::new()))
        }));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pollster::block_on(svc.call(get("/users")))
    }));
    assert!(caught.is_err());
    assert_eq!(totals(&brama, "users"), (0, 1, State::Closed));
}

#[test]
fn the_service_and_its_future_are_send_when_the_inner_ones_are() {
    fn send<T: Send>(_: &T) {}
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut svc = ServiceBuilder::new()
        .layer(BramaLayer::new(brama, upstream_of).classify(by_status))
        .service_fn(upstreams);
    send(&svc);
    let fut = svc.call(get("/users"));
    send(&fut);
    let _: Result<Response<String>, BramaError<io::Error>> = pollster::block_on(fut);
    // An infallible inner service works too.
    let mut plain = BramaLayer::new(Brama::new(), |_: &u8| KeyBuf::from("x"))
        .auto_register(true)
        .layer(service_fn(|n: u8| async move { Ok::<_, Infallible>(n) }));
    assert_eq!(pollster::block_on(plain.call(7)).unwrap(), 7);
}

/// Issue #20, defect 3, for the layer: a key function or a classifier that panics
/// leaves the registry consistent. A key function panics before anything is taken; a
/// classifier's panic inside the response future frees the probe slot it held.
#[test]
fn a_panicking_key_function_or_classifier_takes_nothing_for_good() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    // Open "users" and let it expire: the next request is the one probe.
    for _ in 0..2 {
        brama.failure(("upstream", "users")).unwrap();
    }
    clock.advance(EXPIRY);

    let mut by_panicking_key = BramaLayer::new(brama.clone(), |_: &Request<()>| -> KeyBuf {
        panic!("key function")
    })
    .layer(service_fn(upstreams));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        by_panicking_key.call(get("/users"))
    }));
    assert!(caught.is_err());

    let mut classifying = BramaLayer::new(brama.clone(), upstream_of)
        .classify(|_: &Result<Response<String>, io::Error>| -> Outcome { panic!("classifier") })
        .layer(service_fn(upstreams));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pollster::block_on(classifying.call(get("/users/1")))
    }));
    assert!(caught.is_err());

    // The probe slot is free again: a plain request is admitted as the probe, and its
    // success closes the circuit.
    let mut plain = BramaLayer::new(brama.clone(), upstream_of).layer(service_fn(upstreams));
    let resp = pollster::block_on(plain.call(get("/users/2"))).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        brama.status(("upstream", "users")).unwrap().state,
        State::Closed
    );
}
