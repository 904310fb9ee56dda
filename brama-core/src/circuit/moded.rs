//! What modes (`crate::mode`) and layers (`crate::layers`) ask of a connection: the
//! checks and reports of a connection not in `Normal` mode, which the fast paths send
//! here (the mode bits are in every fast-path mask), and resolving a connection's
//! layers into the values its hot paths read.

use super::cell::*;
use crate::circuit::counter::lane;
use crate::circuit::word::Word;
use crate::clock::Nanos;
use crate::config::Options;
use crate::context::Context;
use crate::mode::{Mode, SHADOW_GEN};
use crate::policy::Tallies;
use crate::rules::next_gen;
use crate::state::State;
use crate::sync::Ordering;

/// The ticket of a call admitted where `Normal` would have refused it: counted when it
/// reports, deciding nothing (`SHADOW_GEN` is no cycle's number).
const SHADOW: Ticket = Ticket {
    gen: SHADOW_GEN,
    probe: false,
};

impl ConnectionCell {
    /// A check of a connection whose word `w` is not in `Normal` mode.
    /// `Disabled` admits (nothing counted); `ForcedOpen` refuses (counted as rejected);
    /// `MetricsOnly` runs the normal check, which counts what it counts (a rejection
    /// included), and admits what it would refuse with a ticket that decides nothing.
    #[cold]
    pub(super) fn check_moded(&self, cx: &Context, w: Word) -> Result<Ticket, Refusal> {
        if w.removed() {
            return Err(Refusal::Removed);
        }
        match w.mode() {
            Mode::Disabled => Ok(SHADOW),
            Mode::ForcedOpen => {
                self.tally.incr(REJECTED, lane());
                Err(Refusal::Forced)
            }
            // (`Normal` only when the mode changed since the caller's load.)
            Mode::Normal | Mode::MetricsOnly => match self.check_normal(cx, w) {
                // Unless the mode changed while the check ran (its locked part steps in
                // the mode it finds): then the refusal is that mode's.
                Err(Refusal::Open | Refusal::HalfOpen)
                    if self.word().mode() == Mode::MetricsOnly =>
                {
                    Ok(SHADOW)
                }
                admitted_or_refused => admitted_or_refused,
            },
        }
    }

    /// The lock-free part of a report on a connection in a mode that freezes it: in
    /// `Disabled` nothing is counted; in `ForcedOpen` the report is counted in the totals
    /// (as a report on an open circuit is) and changes nothing else. `now` was read
    /// before anything changed; the caller sent reports whose events are wanted to the
    /// locked path already.
    #[cold]
    pub(super) fn report_frozen(&self, w: Word, now: Nanos, success: bool) -> Fast {
        match w.mode() {
            Mode::ForcedOpen => self.count(now, success),
            _ => Fast::Counted,
        }
    }

    /// Whether the connection's own overrides set a rate policy.
    pub fn has_rate_override(&self) -> bool {
        self.extras
            .load()
            .as_deref()
            .is_some_and(|e| e.overrides.sets_rate_policy())
    }

    /// Resolves the layers of this connection into what its hot paths read: the
    /// failure threshold and probe budget (its own, else its scope's, else 0 for the
    /// registry default) and the mode in effect (its own, else its scope's, else the
    /// registry default). The caller holds the transition lock, so that two refreshes
    /// cannot interleave their stores.
    pub fn refresh_layers(&self, cx: &Context) {
        let extras = self.extras.load();
        let own = extras.as_deref().map(|e| &e.overrides);
        let (mode, rate_here) = match (cx.layers.scope(self.key.scope()), own) {
            (Some(template), own) => {
                let layered = match own {
                    Some(own) => template.overlay(own),
                    None => Options::clone(&template),
                };
                self.set_scalar_overrides(&layered);
                (layered.mode_value(), layered.sets_rate_policy())
            }
            (None, Some(own)) => {
                self.set_scalar_overrides(own);
                (own.mode_value(), own.sets_rate_policy())
            }
            (None, None) => {
                self.set_scalar_overrides(&Options::new());
                (None, false)
            }
        };
        self.set_mode(mode.unwrap_or(cx.layers.default_mode()));
        // A rate policy's window and word flags (SPEC §8), when one may be in force:
        // its own or its scope's, the defaults' (whose word threshold is then 1, one
        // plain load), or one it had. Nothing for the consecutive policy's connections.
        if rate_here || cx.default_threshold() == 1 || self.window.get().is_some() {
            self.sync_policy_held(cx);
        }
    }

    /// Empties a rate policy's probe tally for the new half-open cycle the word (just
    /// stored) shows: after the word, so that a check that reads the old word then reads
    /// the old tally and is refused as before, never admitted into the ended cycle; one
    /// between the two may only refuse a call it could admit (loom: loom_mode_rate,
    /// "tally after"). For a change of mode and a restore.
    pub(super) fn free_reported_probes(&self) {
        if let Some(win) = self.window.get() {
            win.set_probes(Tallies::default());
        }
    }

    /// Puts the word in `mode` (under the transition lock). A change of mode starts a
    /// new cycle, so permits admitted before it decide nothing after it, and frees a
    /// half-open circuit's probe slots: those in flight and, under a rate policy, those
    /// of the probes that reported (the window's probe tally). Returns whether the mode
    /// changed.
    fn set_mode(&self, mode: Mode) -> bool {
        let mut w = self.word();
        loop {
            if w.removed() || w.mode() == mode {
                return false;
            }
            let m = self.machine(w);
            let m2 = crate::rules::Machine {
                gen: next_gen(m.gen),
                in_flight: 0,
                ..m
            };
            // The policy's flags kept (`encode` writes none; `Unknown` and `Closed` only,
            // where the word has them), as every transition keeps them.
            let w2 = Word::encode(&m2, 0)
                .with_mode(mode)
                .with_policy_flags(w.rate(), w.timed());
            // AcqRel: orders with the lock-free CASes (counts, probe admissions) that may
            // race it; the transition lock orders it with every state change.
            match self
                .word
                .compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if w.state() == State::HalfOpen {
                        self.free_reported_probes();
                    }
                    return true;
                }
                Err(current) => w = Word(current),
            }
        }
    }

    /// The mode this connection sets itself, if any (not its scope's or the default).
    pub fn own_mode(&self) -> Option<Mode> {
        self.extras
            .load()
            .as_deref()
            .and_then(|e| e.overrides.mode_value())
    }

    /// Whether a sweep may not evict this connection for its mode: it has a mode of its
    /// own other than `Normal` (eviction would forget it; a scope's or the default mode
    /// comes back with a new registration). One mask test when the mode is `Normal`.
    #[inline]
    pub(super) fn kept_for_mode(&self, w: Word) -> bool {
        w.is_moded() && self.own_mode().is_some_and(|m| m != Mode::Normal)
    }

    /// The state word now (for the loom models).
    #[doc(hidden)]
    pub fn word_now(&self) -> Word {
        self.word()
    }

    /// Whether this connection is critical: its own `Options::critical`, else its
    /// scope's, else `default` (the registry's). Health reports ask it only of circuits
    /// they find `Open` or `HalfOpen`.
    pub fn is_critical_in(&self, cx: &Context, default: bool) -> bool {
        let own = self
            .extras
            .load()
            .as_deref()
            .and_then(|e| e.overrides.critical_value());
        own.or_else(|| {
            cx.layers
                .scope(self.key.scope())
                .and_then(|t| t.critical_value())
        })
        .unwrap_or(default)
    }
}
