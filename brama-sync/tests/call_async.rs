//! SPEC §9/§13: the async wrappers (`call_async`, `call_async_with` on `Brama` and on
//! `Connection`) on two executors (tokio's multi-threaded runtime and `futures`'
//! `block_on`), their classifier, and what dropping each future type does.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use brama_sync::{Brama, CallError, CallFuture, Connection, ManualClock, Options, Outcome, State};

#[path = "common/db.rs"]
mod db;
use db::{brama, state, to_half_open, totals, HOUR};

#[path = "common/poll.rs"]
mod poll;

/// HTTP-like: a 503 is a failure even though the call returned `Ok`.
fn by_status(r: &Result<u16, io::Error>) -> Outcome {
    match r {
        Ok(503) | Err(_) => Outcome::Failure,
        Ok(404) => Outcome::Ignore,
        Ok(_) => Outcome::Success,
    }
}

/// A future that stays pending until dropped (a call that never answers).
struct Never;

impl Future for Never {
    type Output = Result<u16, io::Error>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let waker = poll::noop_waker();
    fut.poll(&mut Context::from_waker(&waker))
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn call_async_with_counts_an_ok_503_as_a_failure_and_a_404_as_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let out = pollster::block_on(brama.call_async_with("db", by_status, async { Ok(503) }));
    assert_eq!(out.unwrap(), 503, "the response is returned as it came");
    assert_eq!(totals(&brama), (0, 1));

    let conn = brama.connection("db").unwrap();
    let out = pollster::block_on(conn.call_async_with(by_status, async { Ok(404) }));
    assert_eq!(out.unwrap(), 404);
    assert_eq!(totals(&brama), (0, 1), "ignored: neither");
    let out = pollster::block_on(conn.call_async_with(by_status, async { Ok(200) }));
    assert_eq!(out.unwrap(), 200);
    assert_eq!(totals(&brama), (1, 1));
    // Closures without annotations infer their argument from the future's output.
    let out = pollster::block_on(conn.call_async_with(
        |r| match r {
            Ok(n) if *n > 500 => Outcome::Failure,
            _ => Outcome::Success,
        },
        async { Ok::<u16, io::Error>(503) },
    ));
    assert_eq!(out.unwrap(), 503);
    assert_eq!(totals(&brama), (1, 2));
    assert_eq!(state(&brama), State::Closed, "one consecutive failure");
    let out = pollster::block_on(conn.call_async_with(by_status, async { Ok(503) }));
    assert_eq!(out.unwrap(), 503);
    assert_eq!(
        state(&brama),
        State::Open,
        "two consecutive failures trip it"
    );

    let out = pollster::block_on(conn.call_async(async { Ok::<_, io::Error>(()) }));
    assert!(matches!(out, Err(CallError::Rejected(_))));
}

#[test]
fn conn_call_async_reports_ok_err_and_rejection() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    assert_eq!(
        pollster::block_on(conn.call_async(async { Ok::<_, io::Error>(7) })).unwrap(),
        7
    );
    let out = pollster::block_on(conn.call_async(async { Err::<(), _>(io::Error::other("x")) }));
    assert!(matches!(out, Err(CallError::Failed(_))));
    assert_eq!(totals(&brama), (1, 1));
    brama.unregister("db").unwrap();
    let out = pollster::block_on(conn.call_async(async { Ok::<_, io::Error>(()) }));
    assert!(matches!(
        out,
        Err(CallError::Rejected(brama_sync::Error::NotFound { .. }))
    ));
}

/// Every future type, dropped while its call is in flight as the half-open probe:
/// counts neither, the slot is free for the next caller.
#[test]
fn every_call_future_dropped_mid_flight_frees_its_probe_and_counts_neither() {
    type Make = for<'a> fn(&'a Brama, &'a Connection) -> Pin<Box<dyn Future<Output = ()> + 'a>>;
    let makers: [(&str, Make); 4] = [
        ("brama.call_async", |b, _| {
            Box::pin(async move { drop(b.call_async("db", Never).await) })
        }),
        ("brama.call_async_with", |b, _| {
            Box::pin(async move { drop(b.call_async_with("db", by_status, Never).await) })
        }),
        ("conn.call_async", |_, c| {
            Box::pin(async move { drop(c.call_async(Never).await) })
        }),
        ("conn.call_async_with", |_, c| {
            Box::pin(async move { drop(c.call_async_with(by_status, Never).await) })
        }),
    ];
    for (what, make) in makers {
        let clock = ManualClock::new();
        let brama = brama(&clock);
        let conn = brama.connection("db").unwrap();
        to_half_open(&brama, &clock);
        let before = totals(&brama);
        {
            let mut fut = make(&brama, &conn);
            assert!(poll_once(fut.as_mut()).is_pending(), "{what}");
            assert!(
                !brama.available("db"),
                "{what}: it holds the only probe slot"
            );
        }
        assert_eq!(totals(&brama), before, "{what}: a dropped future counted");
        assert_eq!(state(&brama), State::HalfOpen, "{what}");
        assert!(brama.available("db"), "{what}: the slot was not freed");
    }
}

/// Made but never polled: the permit was taken at creation and is given back on drop.
#[test]
fn a_call_future_never_polled_frees_its_slot_on_drop() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    to_half_open(&brama, &clock);
    let fut = conn.call_async_with(by_status, Never);
    assert!(fut.is_admitted());
    assert!(!conn.available());
    drop(fut);
    assert!(conn.available());
}

#[test]
fn a_finished_or_rejected_future_polled_again_answers_without_panicking() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut fut = pin!(brama.call_async("nope", async { Ok::<_, io::Error>(()) }));
    assert!(matches!(
        poll_once(fut.as_mut()),
        Poll::Ready(Err(CallError::Rejected(brama_sync::Error::NotFound { .. })))
    ));
    assert!(matches!(
        poll_once(fut.as_mut()),
        Poll::Ready(Err(CallError::Rejected(_)))
    ));
    let mut fut = pin!(brama.call_async("db", async { Ok::<_, io::Error>(()) }));
    assert!(matches!(poll_once(fut.as_mut()), Poll::Ready(Ok(()))));
    assert!(matches!(
        poll_once(fut.as_mut()),
        Poll::Ready(Err(CallError::Rejected(_)))
    ));
    assert_eq!(totals(&brama), (1, 0), "counted once");
}

#[test]
fn call_futures_are_send_and_hold_the_future_in_place() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    let by_key: CallFuture<'static, _> = brama.call_async("db", async { Ok::<_, io::Error>(()) });
    assert_send(&by_key);
    let by_handle = conn.call_async_with(by_status, Never);
    assert_send(&by_handle);
    // A 1 KiB future is inside the wrapper, not behind a pointer.
    let big = [0u8; 1024];
    let held = conn.call_async(async move { Ok::<_, io::Error>(big.len()) });
    assert!(std::mem::size_of_val(&held) >= 1024);
    assert_eq!(pollster::block_on(held).unwrap(), 1024);
    drop((by_key, by_handle));
}

/// Many tasks on tokio's multi-threaded runtime, each yielding mid-call: every call is
/// counted exactly once, and a call cancelled by a timeout counts neither.
#[test]
fn call_async_on_tokio_multi_thread_counts_every_call_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(u32::MAX)
        .clock(clock)
        .build()
        .unwrap();
    brama.register("db", Options::new()).unwrap();
    let conn = brama.connection("db").unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let conn = conn.clone();
            let brama = brama.clone();
            tasks.push(tokio::spawn(async move {
                let work = async move {
                    tokio::task::yield_now().await;
                    if i % 4 == 0 {
                        Err(io::Error::other("flaky"))
                    } else {
                        Ok(i)
                    }
                };
                if i % 2 == 0 {
                    conn.call_async(work).await.is_ok()
                } else {
                    brama.call_async("db", work).await.is_ok()
                }
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 48);
        // Cancelled by a timeout: dropped mid-flight.
        let slow = conn.call_async(async {
            tokio::time::sleep(HOUR).await;
            Ok::<_, io::Error>(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(5), slow)
            .await
            .is_err());
    });
    let s = brama.status("db").unwrap();
    assert_eq!((s.total_successes, s.total_failures), (48, 16));
}

/// The same wrappers on `futures`' executor, with its own waker: nothing depends on
/// tokio.
#[test]
fn call_async_on_the_futures_executor() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    let polls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&polls);
    let out = futures::executor::block_on(async {
        let a = conn.call_async(futures::future::poll_fn(move |cx| {
            // Relaxed: a test counter.
            if counted.fetch_add(1, Ordering::Relaxed) < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(Ok::<_, io::Error>(1))
            }
        }));
        let b = brama.call_async_with("db", by_status, async { Ok(503) });
        let (a, b) = futures::future::join(a, b).await;
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(out, (1, 503));
    // Relaxed: a test counter, read after the executor returned.
    assert_eq!(polls.load(Ordering::Relaxed), 4);
    assert_eq!(totals(&brama), (1, 1));
}

#[test]
#[allow(deprecated)]
fn the_old_classification_name_still_works() {
    use brama_sync::Classification;
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let out = brama.call_with("db", |_| Classification::Failure, || Ok::<_, io::Error>(1));
    assert_eq!(out.unwrap(), 1);
    assert_eq!(totals(&brama), (0, 1));
    let same: Outcome = Classification::Ignore;
    assert_eq!(same, Outcome::Ignore);
}
