//! One connection's circuit: atomics changed by compare-and-swap, rules from [`step`].
//!
//! Hot paths (a check on a healthy circuit, a success on a closed circuit with no
//! failures, a failure below the threshold, a check or report on an open circuit that
//! has not expired, a half-open probe admission) are lock-free. Every state change runs
//! [`step`] under the cell's transition lock and is published by one successful CAS of
//! the state word; the lock orders the changes of one connection so their events carry
//! sequence numbers in the order of the changes, and it makes the removal of a
//! connection exclusive with every state change.

use std::collections::BTreeMap;
use std::fmt;

use arc_swap::ArcSwapOption;

use crate::circuit::counter::Tally;
use crate::circuit::word::Word;
use crate::clock::Nanos;
use crate::config::{Config, Options};
use crate::context::Context;
use crate::key::OwnedKey;
use crate::rules::Machine;
use crate::state::State;
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::window::WindowSlot;

pub(super) const SUCCESSES: usize = 0;
pub(super) const FAILURES: usize = 1;
pub(super) const REJECTED: usize = 2;

/// No timestamp yet.
pub(super) const NONE: Nanos = u64::MAX;

/// What an admitted check hands to the caller: the cycle it was admitted in, and
/// whether it holds a half-open probe slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The cycle number the check was admitted in.
    pub gen: u32,
    /// Whether the ticket holds a half-open probe slot.
    pub probe: bool,
}

/// What the lock-free part of a report did. One byte, so the hot path returns it in a
/// register (a `Result<(), Error>` is 40 bytes and goes through the stack).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// Counted; nothing else to do.
    Counted,
    /// The connection was removed: the report is `NotFound`.
    Removed,
    /// The report needs the locked path.
    Slow,
    /// A rate policy's window recorded the report, and its rates call for a state
    /// change: the locked path decides, without recording it again.
    Recorded,
}

/// Why a check did not admit (one byte; the full [`Error`] is built only by `acquire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Removed,
    Open,
    HalfOpen,
    /// `Mode::ForcedOpen`.
    Forced,
}

/// One tracked connection.
#[repr(C)] // field order is the cache-line layout: see below
pub struct ConnectionCell {
    // First: the state word and the key right after it (56 bytes together), so a
    // lookup by an inline key (up to 46 bytes) compares the key and reads the state in
    // one line or two adjacent ones, with no pointer to follow; then everything else
    // a sweep reads (deadline, activity, handles).
    pub(super) word: AtomicU64,
    pub(super) key: OwnedKey,
    // Open: when the circuit may move to HalfOpen (NEVER if opened indefinitely).
    // HalfOpen: when the latest probe was admitted. One field, because the two are never
    // needed in the same state.
    pub(super) deadline: AtomicU64,
    pub(super) last_success: AtomicU64,
    pub(super) last_failure: AtomicU64,
    pub(super) changed_at: AtomicU64,
    pub(super) touched_at: AtomicU64,
    pub(super) registered_at: Nanos,
    pub(super) handles: AtomicU32,
    // Consecutive failures shown while Open/HalfOpen (the word's payload is busy then).
    pub(super) frozen: AtomicU32,
    // Then what reports and transitions read.
    // Per-connection overrides of the hot scalars; 0 = follow the registry default.
    pub(super) threshold: AtomicU32,
    pub(super) probes: AtomicU32,
    pub(super) open_duration: AtomicU64,
    pub(super) trips: AtomicU64,
    pub(super) opened_at: AtomicU64,
    // Successes, failures, rejected checks (indexes SUCCESSES, FAILURES, REJECTED).
    pub(super) tally: Tally<3>,
    // Overrides and metadata, behind one pointer: rarely written (register, configure
    // under the transition lock), 8 bytes when both are empty.
    pub(super) extras: ArcSwapOption<Extras>,
    // A rate policy's window (none in force under the consecutive policy): cleared in
    // place by the transitions that clear it, under the transition lock.
    pub(super) window: WindowSlot,
    pub(super) transition: Mutex<()>,
    // Where the registry's sweep list keeps this connection (`map::Slots`).
    #[cfg(not(brama_loom))]
    pub(super) slot: AtomicU64,
}

/// What a connection rarely changes: its overrides (without metadata) and its metadata.
/// One allocation for both, so that the cell spends one pointer on them.
#[derive(Debug, Default)]
pub(super) struct Extras {
    pub(super) overrides: Options,
    pub(super) metadata: BTreeMap<String, String>,
}

impl Extras {
    /// `None` when both are empty.
    pub(super) fn of(
        overrides: Options,
        metadata: BTreeMap<String, String>,
    ) -> Option<std::sync::Arc<Extras>> {
        (!overrides.is_empty() || !metadata.is_empty()).then(|| {
            std::sync::Arc::new(Extras {
                overrides,
                metadata,
            })
        })
    }
}

impl ConnectionCell {
    /// A new `Unknown` connection registered at `now` with `options` (validated by the
    /// caller) as its overrides and metadata.
    pub fn new(key: OwnedKey, now: Nanos, options: &Options) -> ConnectionCell {
        let cell = ConnectionCell {
            // The connection's own mode; the registry resolves its layers (`refresh_layers`)
            // when a scope template or a default mode could change it.
            word: AtomicU64::new(
                Word::encode(&Machine::new(), 0)
                    .with_mode(options.mode_value().unwrap_or_default())
                    .0,
            ),
            deadline: AtomicU64::new(0),
            open_duration: AtomicU64::new(0),
            frozen: AtomicU32::new(0),
            handles: AtomicU32::new(0),
            threshold: AtomicU32::new(0),
            probes: AtomicU32::new(0),
            tally: Tally::new(),
            trips: AtomicU64::new(0),
            registered_at: now,
            last_success: AtomicU64::new(NONE),
            last_failure: AtomicU64::new(NONE),
            opened_at: AtomicU64::new(NONE),
            changed_at: AtomicU64::new(now),
            touched_at: AtomicU64::new(now),
            extras: ArcSwapOption::new(if options.is_empty() {
                None
            } else {
                Extras::of(options.without_metadata(), options.metadata_map())
            }),
            window: WindowSlot::new(),
            transition: Mutex::new(()),
            #[cfg(not(brama_loom))]
            slot: AtomicU64::new(u64::MAX),
            key,
        };
        cell.set_scalar_overrides(options);
        cell
    }

    /// The key.
    pub fn key(&self) -> &OwnedKey {
        &self.key
    }

    /// Where this cell lives: what finds it again (a sweep list's slot, a report's
    /// `Spot`, the map's lookup by connection), compared and never dereferenced.
    #[inline]
    pub(crate) fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    #[inline]
    pub(super) fn word(&self) -> Word {
        // Acquire: pairs with the Release of every CAS on the word, so the fields a
        // transition wrote before its CAS (deadline, durations) are visible.
        Word(self.word.load(Ordering::Acquire))
    }

    /// The state now.
    pub fn state(&self) -> State {
        self.word().state()
    }

    /// Whether the connection was removed from its registry.
    pub fn is_removed(&self) -> bool {
        self.word().removed()
    }

    // ----- configuration -------------------------------------------------------------

    /// The effective configuration: registry defaults, then this connection's scope's
    /// template, then its own overrides.
    pub fn config(&self, cx: &Context) -> Config {
        Self::config_of(cx, self.key.scope(), self.extras.load().as_deref())
    }

    /// The registry defaults with the template of `scope` and `extras`' overrides (the
    /// cell's, loaded by the caller) laid over them, read live.
    pub(super) fn config_of(cx: &Context, scope: Option<&str>, extras: Option<&Extras>) -> Config {
        let defaults = cx.defaults_now();
        // Each layer was validated against every layer below it can be; any mix of
        // valid fields is a valid config.
        let over = |base: Config, o: &Options| o.apply(&base).unwrap_or(base);
        let base = match cx.layers.scope(scope) {
            Some(t) => over(Config::clone(&defaults), &t),
            None => Config::clone(&defaults),
        };
        match extras {
            Some(e) if !e.overrides.is_empty() => over(base, &e.overrides),
            _ => base,
        }
    }

    /// The overrides in force (without metadata).
    pub fn overrides(&self) -> Options {
        self.extras
            .load()
            .as_deref()
            .map(|e| e.overrides.clone())
            .unwrap_or_default()
    }

    /// Replaces the overrides (validated by the caller); keeps the metadata (see
    /// [`merge_metadata`](Self::merge_metadata)).
    pub fn set_overrides(&self, options: &Options) {
        self.set_scalar_overrides(options);
        let plain = options.without_metadata();
        self.extras.rcu(|old| {
            Extras::of(
                plain.clone(),
                old.as_deref()
                    .map(|e| e.metadata.clone())
                    .unwrap_or_default(),
            )
        });
    }

    pub(super) fn set_scalar_overrides(&self, options: &Options) {
        // A rate policy's failures never count in the word: threshold 1 keeps them off
        // the lock-free consecutive path (see `word_threshold`).
        let threshold = match options.trip_policy_value() {
            Some(p) => p
                .consecutive_threshold()
                .map_or(1, super::word_threshold_of),
            None => 0,
        };
        let probes = options.half_open_probes_value().unwrap_or(0);
        // Relaxed: lone values read by reports; a report racing configure may use either.
        self.threshold.store(threshold, Ordering::Relaxed);
        self.probes.store(probes, Ordering::Relaxed);
    }

    /// Merges metadata entries into this connection's metadata.
    pub fn merge_metadata(&self, entries: BTreeMap<String, String>) {
        if !entries.is_empty() {
            self.extras.rcu(|old| {
                let old = old.as_deref();
                let mut metadata = old.map(|e| e.metadata.clone()).unwrap_or_default();
                metadata.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
                Extras::of(
                    old.map(|e| e.overrides.clone()).unwrap_or_default(),
                    metadata,
                )
            });
        }
    }

    /// A copy of the metadata.
    pub fn metadata(&self) -> BTreeMap<String, String> {
        self.extras
            .load()
            .as_deref()
            .map(|e| e.metadata.clone())
            .unwrap_or_default()
    }

    /// The consecutive policy's threshold as the lock-free failure path needs it
    /// ([`Policy::word_threshold`](crate::policy::Policy::word_threshold)): a failure that
    /// leaves the word's count below it is one CAS; the one that reaches it takes the
    /// locked path, where `rules::step` asks the policy. Kept as a hot scalar (one load)
    /// beside the overrides, which hold the same value.
    #[inline]
    pub(super) fn word_threshold(&self, cx: &Context) -> u32 {
        // Relaxed: see `set_overrides`.
        match self.threshold.load(Ordering::Relaxed) {
            0 => cx.default_threshold(),
            n => n,
        }
    }

    #[inline]
    pub(super) fn probes(&self, cx: &Context) -> u32 {
        // Relaxed: see `set_overrides`.
        match self.probes.load(Ordering::Relaxed) {
            0 => cx.default_probes(),
            n => n,
        }
    }
}

/// Stores `now` unless the value is already `now` (reports write only what changed).
#[inline]
pub(super) fn touch(a: &AtomicU64, now: Nanos) {
    // Relaxed: a timestamp read only by snapshots and the eviction heuristic.
    if a.load(Ordering::Relaxed) != now {
        a.store(now, Ordering::Relaxed);
    }
}

impl fmt::Debug for ConnectionCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.word();
        f.debug_struct("ConnectionCell")
            .field("key", &self.key)
            .field("state", &w.state())
            .field("removed", &w.removed())
            .field("gen", &w.gen())
            .finish_non_exhaustive()
    }
}

/// Shared ownership of a cell, as the registry and handles hold it.
pub type CellRef = Arc<ConnectionCell>;
