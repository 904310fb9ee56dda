//! What the janitor feeds besides the sweep: the optional integrations that read the
//! engine through its events and counters, never on the hot path.
//!
//! - `tracing` (feature `tracing`): one subscription to the events an operator wants to
//!   see (state changes, evictions, configuration changes, sweeps), drained into
//!   `tracing` events as they come: the subscription's async waker drains it on the
//!   thread whose publish woke it, once that thread holds no brama lock, so a trip is
//!   logged by the call that made it, under that thread's subscriber. Janitor rounds
//!   and `Brama::sweep` drain it too.
//! - `metrics` (feature `metrics`): the connections' own counters published through the
//!   `metrics` facade after every sweep and on `Brama::publish_metrics`.
//!
//! With every feature off, [`Observers`] is empty and each call is a no-op: nothing is
//! subscribed, nothing is built, and the hot paths are the same code.

use std::sync::Weak;

use brama_core::engine::Registry;

use crate::janitor::JanitorShared;

#[cfg(any(feature = "tracing", feature = "admin"))]
pub(crate) mod journal;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub(crate) mod metrics;
#[cfg(feature = "tracing")]
mod tracing;

/// The integrations of one registry (see the module docs).
#[derive(Debug)]
pub(crate) struct Observers {
    /// Started at build when a `tracing` subscriber listens to the target `brama`, or
    /// by the first `AdminService` (so that, otherwise, brama subscribes to nothing
    /// of its own: `subscriber_count()` and the events' numbering are as without the
    /// features).
    #[cfg(any(feature = "tracing", feature = "admin"))]
    journal: std::sync::OnceLock<std::sync::Arc<journal::Journal>>,
    /// The registry the journal drains for as events come.
    #[cfg(any(feature = "tracing", feature = "admin"))]
    registry: Weak<Registry>,
    /// The janitor the journal pokes once it cannot drain itself.
    #[cfg(any(feature = "tracing", feature = "admin"))]
    janitor: Weak<JanitorShared>,
}

impl Observers {
    /// The observers of `registry`, whose janitor `janitor` is (woken when there is
    /// something to drain).
    #[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
    pub(crate) fn new(registry: &Weak<Registry>, janitor: &Weak<JanitorShared>) -> Observers {
        let observers = Observers {
            #[cfg(any(feature = "tracing", feature = "admin"))]
            journal: std::sync::OnceLock::new(),
            #[cfg(any(feature = "tracing", feature = "admin"))]
            registry: registry.clone(),
            #[cfg(any(feature = "tracing", feature = "admin"))]
            janitor: janitor.clone(),
        };
        // Logs are kept only if someone reads them: a subscriber in force now (install
        // it before building the registry) that listens to `brama` at WARN at least.
        #[cfg(feature = "tracing")]
        if ::tracing::enabled!(target: "brama", ::tracing::Level::WARN) {
            if let Some(registry) = registry.upgrade() {
                observers.start_journal(&registry);
            }
        }
        observers
    }

    /// The journal, started now if it was not (see [`Observers::journal`]).
    #[cfg(any(feature = "tracing", feature = "admin"))]
    pub(crate) fn start_journal(&self, registry: &Registry) -> &journal::Journal {
        self.journal.get_or_init(|| {
            journal::Journal::new(registry, self.registry.clone(), self.janitor.clone())
        })
    }

    /// The journal, if it was started.
    #[cfg(any(feature = "tracing", feature = "admin"))]
    pub(crate) fn journal(&self) -> Option<&journal::Journal> {
        self.journal.get().map(|j| &**j)
    }

    /// Every janitor round (and `Brama::sweep`): the events published since the last.
    #[inline]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "admin")),
        allow(unused_variables)
    )]
    pub(crate) fn round(&self, registry: &Registry) {
        #[cfg(any(feature = "tracing", feature = "admin"))]
        if let Some(journal) = self.journal() {
            journal.drain(registry);
        }
    }

    /// After every sweep (the janitor's, or `Brama::sweep`): the periodic work.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn after_sweep(&self, registry: &Registry) {
        #[cfg(feature = "metrics")]
        metrics::publish(registry);
    }
}
