//! SPEC §3: the call wrappers: `call`, `call_with`, and the async `call_async`.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use brama_sync::{CallError, Error, ManualClock, Outcome, State};

#[path = "common/db.rs"]
mod db;
use db::{brama, state, to_half_open, totals, EXPIRY};

#[path = "common/poll.rs"]
mod poll;

fn boom() -> io::Error {
    io::Error::other("boom")
}

#[test]
fn ok_counts_as_a_success_and_err_as_a_failure() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let out = brama.call("db", || Ok::<_, io::Error>(42));
    assert_eq!(out.unwrap(), 42);
    assert_eq!(totals(&brama), (1, 0));

    let out: Result<u32, _> = brama.call("db", || Err(boom()));
    match out {
        Err(CallError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(totals(&brama), (1, 1));

    // Through a handle, the same.
    let conn = brama.connection("db").unwrap();
    assert_eq!(conn.call(|| Ok::<_, io::Error>(1)).unwrap(), 1);
    assert!(conn.call(|| Err::<(), _>(boom())).is_err());
    assert_eq!(totals(&brama), (2, 2));
}

#[test]
fn failures_through_call_trip_the_circuit_and_then_it_is_not_called() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    for _ in 0..2 {
        let _ = brama.call("db", || Err::<(), _>(boom()));
    }
    assert_eq!(state(&brama), State::Open);
    let ran = Cell::new(false);
    let out: Result<(), CallError<io::Error>> = brama.call("db", || {
        ran.set(true);
        Ok(())
    });
    assert!(!ran.get(), "a call was made through an open circuit");
    match out {
        Err(CallError::Rejected(Error::Rejected {
            identifier,
            state: State::Open,
            retry_after: Some(d),
            ..
        })) => assert_eq!((identifier.as_str(), d), ("db", EXPIRY)),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(brama.status("db").unwrap().total_rejected, 1);
}

#[test]
fn an_unknown_key_is_rejected_without_calling() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let ran = Cell::new(false);
    let out: Result<(), CallError<io::Error>> = brama.call("nope", || {
        ran.set(true);
        Ok(())
    });
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::NotFound { .. }))
    ));
    assert!(!ran.get());
    let out: Result<(), CallError<io::Error>> = brama.call_with(
        "nope",
        |_| Outcome::Success,
        || {
            ran.set(true);
            Ok(())
        },
    );
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::NotFound { .. }))
    ));
    assert!(!ran.get());
}

#[test]
fn call_with_classifies_success_failure_and_ignore() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    // A client error says nothing about the dependency: ignore it.
    let classify = |r: &Result<u32, io::Error>| match r {
        Ok(_) => Outcome::Success,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Outcome::Ignore,
        Err(_) => Outcome::Failure,
    };
    let out = brama.call_with("db", classify, || {
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    });
    assert!(
        matches!(out, Err(CallError::Failed(_))),
        "the error is returned"
    );
    assert_eq!(totals(&brama), (0, 0));
    assert_eq!(state(&brama), State::Unknown);

    assert_eq!(brama.call_with("db", classify, || Ok(3)).unwrap(), 3);
    assert_eq!(totals(&brama), (1, 0));
    assert!(brama.call_with("db", classify, || Err(boom())).is_err());
    assert_eq!(totals(&brama), (1, 1));

    // The classifier decides, whatever the result: an Ok can be a failure.
    let out = brama.call_with("db", |_| Outcome::Failure, || Ok::<_, io::Error>(5));
    assert_eq!(out.unwrap(), 5);
    assert_eq!(totals(&brama), (1, 2));
    assert_eq!(state(&brama), State::Open);

    let conn = brama.connection("db").unwrap();
    brama.close_circuit("db").unwrap();
    let out = conn.call_with(|_| Outcome::Ignore, || Err::<(), _>(boom()));
    assert!(out.is_err());
    assert_eq!(totals(&brama), (1, 2));
}

#[test]
fn an_ignored_half_open_probe_frees_its_slot() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    to_half_open(&brama, &clock);
    let out = brama.call_with("db", |_| Outcome::Ignore, || Ok::<_, io::Error>(()));
    assert!(out.is_ok());
    assert_eq!(state(&brama), State::HalfOpen);
    // The slot is free: the next call is the probe and decides.
    assert!(brama.call("db", || Ok::<_, io::Error>(())).is_ok());
    assert_eq!(state(&brama), State::Closed);
}

#[test]
fn a_panic_counts_as_a_failure_and_is_resumed() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _: Result<(), CallError<io::Error>> = brama.call("db", || panic!("callee exploded"));
    }));
    let payload = caught.expect_err("the panic was swallowed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"callee exploded"));
    assert_eq!(totals(&brama), (0, 1));

    // call_with too, whatever the classifier would have said.
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _: Result<(), CallError<io::Error>> =
            brama.call_with("db", |_| Outcome::Ignore, || panic!("again"));
    }));
    assert!(caught.is_err());
    assert_eq!(totals(&brama), (0, 2));
    assert_eq!(state(&brama), State::Open, "two panics reach the threshold");
}

#[test]
fn a_panicking_probe_reopens_the_circuit() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    to_half_open(&brama, &clock);
    let conn = brama.connection("db").unwrap();
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _: Result<(), CallError<io::Error>> = conn.call(|| panic!("probe exploded"));
    }));
    assert!(caught.is_err());
    let s = brama.status("db").unwrap();
    assert_eq!((s.state, s.trips, s.total_failures), (State::Open, 2, 3));
}

/// A waker that does nothing, for polling by hand.
/// A future that is pending on its first poll and ready with `value` on its second.
struct YieldOnce<T> {
    value: Option<T>,
    polled: bool,
}

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.polled {
            self.polled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.value.take().expect("polled after completion"))
    }
}

fn yield_once<T>(value: T) -> YieldOnce<T> {
    YieldOnce {
        value: Some(value),
        polled: false,
    }
}

#[test]
fn async_ok_counts_as_a_success_and_err_as_a_failure() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let out = pollster::block_on(brama.call_async("db", async { Ok::<_, io::Error>(7) }));
    assert_eq!(out.unwrap(), 7);
    assert_eq!(totals(&brama), (1, 0));

    let out = pollster::block_on(brama.call_async("db", yield_once(Err::<u8, _>(boom()))));
    assert!(matches!(out, Err(CallError::Failed(e)) if e.to_string() == "boom"));
    assert_eq!(totals(&brama), (1, 1));
}

#[test]
fn async_on_an_open_circuit_is_rejected_without_polling_the_future() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    let polled = Cell::new(false);
    let out = pollster::block_on(brama.call_async("db", async {
        polled.set(true);
        Ok::<_, io::Error>(())
    }));
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::Rejected {
            state: State::Open,
            ..
        }))
    ));
    assert!(!polled.get());
    let out = pollster::block_on(brama.call_async("nope", async { Ok::<_, io::Error>(()) }));
    assert!(matches!(
        out,
        Err(CallError::Rejected(Error::NotFound { .. }))
    ));
}

#[test]
fn an_async_panic_counts_as_a_failure_and_is_resumed() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pollster::block_on(brama.call_async("db", async {
            if totals(&brama).0 == 0 {
                panic!("future exploded");
            }
            Ok::<_, io::Error>(())
        }))
    }));
    let payload = caught.expect_err("the panic was swallowed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"future exploded"));
    assert_eq!(totals(&brama), (0, 1));
}

#[test]
fn an_async_probe_dropped_mid_flight_frees_its_slot_and_counts_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    to_half_open(&brama, &clock);
    let before = totals(&brama);
    let waker = poll::noop_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut fut = pin!(brama.call_async("db", yield_once(Ok::<_, io::Error>(()))));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        // In flight: it holds the only probe slot.
        assert!(!brama.available("db"));
        assert_eq!(state(&brama), State::HalfOpen);
    } // dropped before it finished
    assert_eq!(totals(&brama), before, "a dropped future counted");
    assert_eq!(state(&brama), State::HalfOpen);
    // The slot is free: the next caller is the probe.
    let out = pollster::block_on(brama.call_async("db", async { Ok::<_, io::Error>(()) }));
    assert!(out.is_ok());
    assert_eq!(state(&brama), State::Closed);
}

#[test]
fn an_async_call_is_admitted_when_made_and_frees_its_slot_if_never_polled() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    to_half_open(&brama, &clock);
    let fut = brama.call_async("db", async { Ok::<_, io::Error>(()) });
    assert!(!brama.available("db"), "the future holds the probe slot");
    drop(fut);
    assert!(brama.available("db"), "the slot was not freed");
}
