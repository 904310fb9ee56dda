//! Polling a future by hand, with no executor: a waker that does nothing, and one poll
//! of a future that is ready at once. Included with `#[path = "common/poll.rs"] mod
//! poll;` by each test file that polls futures itself.
#![allow(dead_code)] // each test file uses its own part

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A waker that does nothing (`Waker::noop` needs Rust 1.85; the MSRV is 1.82).
pub fn noop_waker() -> Waker {
    Waker::from(Arc::new(Noop))
}

/// Polls `fut` once; it must be ready.
pub fn finish<F: Future>(fut: F) -> F::Output {
    let waker = noop_waker();
    match pin!(fut).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future was not ready at its first poll"),
    }
}
