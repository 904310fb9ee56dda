//! The janitor as a task on the user's runtime
//! ([`Brama::janitor_task`](crate::Brama::janitor_task)): the thread's rounds, waiting
//! on the user's `sleep` raced with the janitor's signal.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use brama_core::engine::Registry;

use super::{lock, Janitor, JanitorShared, Rounds};

/// Clears `task_running` when the task ends (or is dropped).
struct Running(Arc<JanitorShared>);

impl Drop for Running {
    fn drop(&mut self) {
        // Release: pairs with the Acquire swap of the next task to start.
        self.0.task_running.store(false, Ordering::Release);
    }
}

/// The janitor task over `registry`. It ends at once in [`Janitor::Thread`] mode (the
/// thread does the work) or when another task is running, and otherwise when the last
/// `Brama` is dropped.
pub(crate) async fn task<S, F>(
    mode: Janitor,
    shared: Arc<JanitorShared>,
    registry: Weak<Registry>,
    sleep: S,
) where
    S: Fn(Duration) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    {
        // Acquire: pairs with the Release store of a task that ended.
        if mode == Janitor::Thread || shared.task_running.swap(true, Ordering::Acquire) {
            return;
        }
        let _running = Running(Arc::clone(&shared));
        let mut rounds = match registry.upgrade() {
            Some(r) => Rounds::start(&r, &shared),
            None => return,
        };
        loop {
            let wait = match registry.upgrade() {
                Some(r) => rounds.wait(&r),
                None => return,
            };
            if !wait.is_zero() {
                let sleeping = pin!(sleep(wait));
                Raced {
                    shared: &shared,
                    sleep: sleeping,
                }
                .await;
            }
            let Some(woken_by_use) = shared.take() else {
                return;
            };
            // Relaxed: a statistic.
            shared.wakeups.fetch_add(1, Ordering::Relaxed);
            let Some(registry) = registry.upgrade() else {
                return;
            };
            rounds.run(&registry, woken_by_use, &shared);
        }
    }
}

/// Ready when the user's sleep ends or the janitor is signalled, whichever is first.
struct Raced<'a, F> {
    shared: &'a JanitorShared,
    sleep: Pin<&'a mut F>,
}

impl<F: Future<Output = ()>> Future for Raced<'_, F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The waker is stored before the signal is checked: a raise after the check
        // finds it, and a raise before it is seen by the check.
        *lock(&self.shared.task) = Some(cx.waker().clone());
        if lock(&self.shared.signal).raised() {
            return Poll::Ready(());
        }
        self.sleep.as_mut().poll(cx)
    }
}
