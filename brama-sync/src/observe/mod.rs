//! What the janitor feeds besides the sweep: the optional integrations that read the
//! engine through its events and counters, never on the hot path.
//!
//! - `tracing` (feature `tracing`): one subscription to the events an operator wants to
//!   see (state changes, evictions, configuration changes, sweeps), drained into
//!   `tracing` events on every janitor round. A publish wakes the janitor (the
//!   subscription's async waker pokes it), so a trip is logged about when it happens,
//!   from the janitor's thread or task.
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
    #[cfg(any(feature = "tracing", feature = "admin"))]
    pub(crate) journal: Option<journal::Journal>,
}

impl Observers {
    /// The observers of `registry`, whose janitor `janitor` is (woken when there is
    /// something to drain).
    #[cfg_attr(
        not(any(feature = "tracing", feature = "admin")),
        allow(unused_variables)
    )]
    pub(crate) fn new(registry: &Weak<Registry>, janitor: &Weak<JanitorShared>) -> Observers {
        Observers {
            #[cfg(any(feature = "tracing", feature = "admin"))]
            journal: registry
                .upgrade()
                .map(|r| journal::Journal::new(&r, janitor.clone())),
        }
    }

    /// Every janitor round (and `Brama::sweep`): the events published since the last.
    #[inline]
    #[cfg_attr(
        not(any(feature = "tracing", feature = "admin")),
        allow(unused_variables)
    )]
    pub(crate) fn round(&self, registry: &Registry) {
        #[cfg(any(feature = "tracing", feature = "admin"))]
        if let Some(journal) = &self.journal {
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
