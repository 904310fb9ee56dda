//! The janitor's side of [`Brama`]: its period and inactivity threshold, where it runs,
//! the task that runs it on a user's runtime, and its statistics.

use std::sync::Arc;
use std::time::Duration;

use brama_core::Error;

use super::Brama;
use crate::janitor::{self, Janitor};

impl Brama {
    /// The janitor's period.
    pub fn cleanup_interval(&self) -> Duration {
        self.reg().cleanup_interval()
    }

    /// Changes the janitor's period; takes effect at once.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if zero or too long.
    pub fn set_cleanup_interval(&self, d: Duration) -> Result<(), Error> {
        self.reg().set_cleanup_interval(d)?;
        self.inner.janitor.wake();
        Ok(())
    }

    /// How long a connection may stay inactive before it is evicted.
    pub fn inactive_threshold(&self) -> Duration {
        self.reg().inactive_threshold()
    }

    /// Changes the inactivity threshold; the next sweep uses it.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if zero or too long.
    pub fn set_inactive_threshold(&self, d: Duration) -> Result<(), Error> {
        self.reg().set_inactive_threshold(d)?;
        self.inner.janitor.wake();
        Ok(())
    }

    /// Sweeps the janitor (thread or task) has completed (a statistic).
    pub fn janitor_sweeps(&self) -> u64 {
        self.inner.janitor.sweeps()
    }

    /// Times the janitor (thread or task) has woken (a statistic). An idle registry
    /// wakes it once per `cleanup_interval`; one in use, once per millisecond (to keep
    /// the system clock's cached reading fresh), until a millisecond passes without a
    /// check or report that reads the clock.
    pub fn janitor_wakeups(&self) -> u64 {
        self.inner.janitor.wakeups()
    }

    /// Where the janitor runs ([`Builder::janitor`](crate::Builder::janitor)).
    pub fn janitor(&self) -> Janitor {
        self.inner.janitor.mode()
    }

    /// The janitor as a future to spawn on your runtime, for a registry built with
    /// [`Janitor::Manual`]: it sweeps every `cleanup_interval`, ticks the system
    /// clock's cached reading every millisecond while the registry is in use, and
    /// sleeps through `sleep(duration)` (your runtime's sleep) in between; an idle
    /// registry wakes it once per `cleanup_interval`. It holds no `Brama` (only a weak
    /// reference), and ends when the last `Brama` is dropped. With
    /// [`Janitor::Thread`], or while another janitor task runs, it ends at once.
    ///
    /// A sweep runs inside the task (as it would on the thread): it takes one shard
    /// lock at a time and never blocks on I/O, but a sweep of a million connections
    /// takes a few hundred milliseconds of that worker's time.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use brama_sync::{Brama, Janitor};
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// let brama = Brama::builder().janitor(Janitor::Manual).build()?;
    /// let janitor = tokio::spawn(brama.janitor_task(tokio::time::sleep));
    /// // ... use brama ...
    /// drop(brama);
    /// janitor.await.unwrap(); // ends with the last Brama
    /// # Ok::<(), brama_sync::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn janitor_task<S, F>(
        &self,
        sleep: S,
    ) -> impl std::future::Future<Output = ()> + Send + 'static
    where
        S: Fn(Duration) -> F + Send + 'static,
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        janitor::task(
            self.inner.janitor.mode(),
            Arc::clone(&self.inner.janitor.shared),
            Arc::downgrade(&self.inner.registry),
            sleep,
        )
    }

    /// Sweeps that panicked and were caught (a statistic).
    pub fn janitor_panics(&self) -> u64 {
        self.inner.janitor.panics()
    }

    /// Test hook: runs at the start of every sweep, e.g. to inject a panic.
    #[doc(hidden)]
    pub fn set_sweep_hook(&self, hook: Option<Box<dyn Fn() + Send + Sync>>) {
        self.reg().set_sweep_hook(hook);
    }
}
