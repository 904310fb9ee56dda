//! A watchdog for tests whose failure mode is a hang (shared by `lifecycle.rs` and
//! `subscribers.rs`).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a watched test may run.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and fails the test if it has not finished within
/// [`WATCHDOG`]: a hang or deadlock becomes a failure (the stuck threads are left
/// behind), and a panic in `f` is resumed here.
pub fn with_watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(()) => worker.join().expect("worker"),
        // The worker panicked: surface its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: still running after {WATCHDOG:?}"),
    }
}
