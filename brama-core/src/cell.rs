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
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::clock::Nanos;
use crate::config::{Config, OpenOptions, Options};
use crate::context::Context;
use crate::counter::{lane, Tally};
use crate::error::Error;
use crate::event::{Counts, Event, EventKind, EventType};
use crate::key::{Key, OwnedKey};
use crate::rules::{step, Change, Effects, Input, Machine, Outcome, NEVER};
use crate::state::{Cause, State};
use crate::status::Status;
use crate::sync::{lock, Arc, AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};
use crate::word::Word;

const SUCCESSES: usize = 0;
const FAILURES: usize = 1;
const REJECTED: usize = 2;

/// No timestamp yet.
const NONE: Nanos = u64::MAX;

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
}

/// Why a check did not admit (one byte; the full [`Error`] is built only by `acquire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Removed,
    Open,
    HalfOpen,
}

/// One tracked connection.
#[repr(C)] // field order is the cache-line layout: see below
pub struct ConnectionCell {
    // First cache line: the state word and the key right after it, so a lookup by a
    // short (inline) key compares the key and reads the state in one line; then
    // everything else a sweep reads (deadline, activity, handles).
    word: AtomicU64,
    key: OwnedKey,
    // Open: when the circuit may move to HalfOpen (NEVER if opened indefinitely).
    // HalfOpen: when the latest probe was admitted. One field, because the two are never
    // needed in the same state.
    deadline: AtomicU64,
    last_success: AtomicU64,
    last_failure: AtomicU64,
    changed_at: AtomicU64,
    touched_at: AtomicU64,
    registered_at: Nanos,
    handles: AtomicU32,
    // Consecutive failures shown while Open/HalfOpen (the word's payload is busy then).
    frozen: AtomicU32,
    // Then what reports and transitions read.
    // Per-connection overrides of the hot scalars; 0 = follow the registry default.
    threshold: AtomicU32,
    probes: AtomicU32,
    open_duration: AtomicU64,
    trips: AtomicU64,
    opened_at: AtomicU64,
    // Successes, failures, rejected checks (indexes SUCCESSES, FAILURES, REJECTED).
    tally: Tally<3>,
    // Overrides and metadata, behind one pointer: rarely written (register, configure
    // under the transition lock), 8 bytes when both are empty.
    extras: ArcSwapOption<Extras>,
    transition: Mutex<()>,
    // Where the registry's sweep list keeps this connection (`map::Slots`).
    #[cfg(not(brama_loom))]
    slot: AtomicU64,
}

/// What a connection rarely changes: its overrides (without metadata) and its metadata.
/// One allocation for both, so that the cell spends one pointer on them.
#[derive(Debug, Default)]
struct Extras {
    overrides: Options,
    metadata: BTreeMap<String, String>,
}

impl Extras {
    /// `None` when both are empty.
    fn of(
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
            word: AtomicU64::new(Word::encode(&Machine::new(), 0).0),
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

    #[inline]
    fn word(&self) -> Word {
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

    /// The effective configuration: registry defaults with this connection's overrides.
    pub fn config(&self, cx: &Context) -> Config {
        Self::config_of(cx, self.extras.load().as_deref())
    }

    /// The registry defaults with `extras`' overrides (the cell's, loaded by the caller).
    fn config_of(cx: &Context, extras: Option<&Extras>) -> Config {
        let defaults = cx.defaults_now();
        match extras {
            // Overrides were validated against every default they can meet.
            Some(e) if !e.overrides.is_empty() => e
                .overrides
                .apply(&defaults)
                .unwrap_or_else(|_| Config::clone(&defaults)),
            _ => Config::clone(&defaults),
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

    fn set_scalar_overrides(&self, options: &Options) {
        let threshold = options.failure_threshold_value().unwrap_or(0);
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

    #[inline]
    fn threshold(&self, cx: &Context) -> u32 {
        // Relaxed: see `set_overrides`.
        match self.threshold.load(Ordering::Relaxed) {
            0 => cx.default_threshold(),
            n => n,
        }
    }

    #[inline]
    fn probes(&self, cx: &Context) -> u32 {
        // Relaxed: see `set_overrides`.
        match self.probes.load(Ordering::Relaxed) {
            0 => cx.default_probes(),
            n => n,
        }
    }

    // ----- checks --------------------------------------------------------------------

    /// `available()`: true if a call may go ahead now. In `HalfOpen` a true answer takes
    /// a probe slot. A removed connection answers false.
    #[inline]
    pub fn available(&self, cx: &Context) -> bool {
        let w = self.word();
        if w.admits_freely() {
            return true;
        }
        // The common refusal, an open circuit before its deadline, inline as well.
        if w.is_registered_in(State::Open) && self.reject_open(cx) {
            return false;
        }
        self.available_slow(cx, w)
    }

    /// `available` for everything else, through `check_slow`.
    #[cold]
    #[inline(never)]
    fn available_slow(&self, cx: &Context, w: Word) -> bool {
        self.check_slow(cx, w).is_ok()
    }

    /// A check on an `Open` circuit that has not expired: counts the rejection and
    /// returns true; false means the deadline passed (the caller takes the slow path).
    #[inline(always)]
    fn reject_open(&self, cx: &Context) -> bool {
        if self.open_expired(cx.clock.recent()) {
            return false;
        }
        self.tally.incr_here(REJECTED);
        true
    }

    /// The full error for a refused check, with the time until the deadline when open.
    #[cold]
    fn refusal_error(&self, cx: &Context, r: Refusal) -> Error {
        match r {
            Refusal::Removed => Error::NotFound,
            Refusal::HalfOpen => Error::Rejected {
                state: State::HalfOpen,
                retry_after: None,
            },
            Refusal::Open => {
                // Relaxed: a hint for the caller, read after the refusal's Acquire load.
                let until = self.deadline.load(Ordering::Relaxed);
                let now = cx.clock.recent();
                let retry_after =
                    (until != NEVER).then(|| Duration::from_nanos(until.saturating_sub(now)));
                Error::Rejected {
                    state: State::Open,
                    retry_after,
                }
            }
        }
    }

    /// Like [`available`](Self::available), but returns the admission ticket or why not.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed, [`Error::Rejected`] if not admitted.
    #[inline]
    pub fn acquire(&self, cx: &Context) -> Result<Ticket, Error> {
        let w = self.word();
        if w.admits_freely() {
            return Ok(Ticket {
                gen: w.gen(),
                probe: false,
            });
        }
        self.check_slow(cx, w)
            .map_err(|r| self.refusal_error(cx, r))
    }

    #[cold]
    fn check_slow(&self, cx: &Context, mut w: Word) -> Result<Ticket, Refusal> {
        loop {
            if w.removed() {
                return Err(Refusal::Removed);
            }
            match w.state() {
                State::Unknown | State::Closed => {
                    return Ok(Ticket {
                        gen: w.gen(),
                        probe: false,
                    })
                }
                State::Open => {
                    if self.reject_open(cx) {
                        return Err(Refusal::Open);
                    }
                    return self.locked_check(cx);
                }
                State::HalfOpen => {
                    let now = cx.clock.recent();
                    if w.in_flight() > 0 {
                        // Relaxed: stamped before the admitting CAS that `w` shows.
                        let probe_at = self.deadline.load(Ordering::Relaxed);
                        let timeout = crate::clock::nanos(self.config(cx).probe_timeout());
                        if now.saturating_sub(probe_at) >= timeout {
                            return self.locked_check(cx);
                        }
                    }
                    if w.in_flight() >= self.probes(cx).min(crate::rules::MAX_PROBES) {
                        self.tally.incr(REJECTED, lane());
                        return Err(Refusal::HalfOpen);
                    }
                    // Stamp before the CAS, so a timeout decision that sees this admission
                    // in the word also sees a probe time at least this recent. fetch_max:
                    // a checker that read the clock earlier and then loses the CAS must not
                    // move a winner's newer stamp back (loom: loom_timeout, "losing check").
                    // Relaxed: published by the Release of the CAS below.
                    self.deadline.fetch_max(now, Ordering::Relaxed);
                    match self.word.compare_exchange_weak(
                        w.0,
                        w.with_probe_admitted().0,
                        // AcqRel: publishes the stamp; acquires the previous transition.
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            return Ok(Ticket {
                                gen: w.gen(),
                                probe: true,
                            })
                        }
                        Err(current) => w = Word(current),
                    }
                }
            }
        }
    }

    #[cold]
    fn locked_check(&self, cx: &Context) -> Result<Ticket, Refusal> {
        let (fx, m2, _) = self
            .locked(cx, Input::Check, None)
            .map_err(|_| Refusal::Removed)?;
        match (fx.outcome, m2.state) {
            (Outcome::Rejected, State::Open) => Err(Refusal::Open),
            (Outcome::Rejected, _) => Err(Refusal::HalfOpen),
            _ => Ok(Ticket {
                gen: Word::encode(&m2, 0).gen(),
                probe: m2.state == State::HalfOpen,
            }),
        }
    }

    // ----- reports -------------------------------------------------------------------

    /// Whether a check admits without any further work (one load).
    #[inline]
    pub fn available_fast(&self) -> bool {
        self.word().admits_freely()
    }

    /// A success; through a permit when `ticket` is given.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn success(&self, cx: &Context, ticket: Option<Ticket>) -> Result<(), Error> {
        self.report(cx, Outcome::Success, ticket, None)
    }

    /// A failure, with an optional reason for the events; through a permit when
    /// `ticket` is given.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn failure(
        &self,
        cx: &Context,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        self.report(cx, Outcome::Failure, ticket, reason)
    }

    /// A report (`outcome` is `Success` or `Failure`): the fast path, then the slow one.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[inline]
    pub fn report(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        match self.report_fast(cx, outcome, ticket) {
            Fast::Counted => Ok(()),
            fast => self.report_not_counted(cx, outcome, ticket, reason, fast),
        }
    }

    /// The rest of [`report`](Self::report), out of line so that what callers inline is
    /// only the counted case.
    #[cold]
    #[inline(never)]
    fn report_not_counted(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
        fast: Fast,
    ) -> Result<(), Error> {
        match fast {
            Fast::Removed => Err(Error::NotFound),
            _ => self.report_slow(cx, outcome, ticket, reason),
        }
    }

    /// The lock-free part of a report: counts it if that changes no state, with at most
    /// one CAS (zeroing or raising the consecutive count) and no event. [`Fast::Slow`]
    /// means the report needs [`report_slow`](Self::report_slow): a state change, a lost CAS race,
    /// or a subscriber that wants the report's event.
    #[inline(always)]
    pub fn report_fast(&self, cx: &Context, outcome: Outcome, ticket: Option<Ticket>) -> Fast {
        let mut w = self.word();
        if outcome == Outcome::Success {
            // A success on a healthy circuit changes nothing, whatever the ticket's cycle
            // (one mask and compare covers state, removal and count).
            if w.is_clean_closed() && !cx.bus.wants(EventType::Success) {
                self.count(cx, true);
                return Fast::Counted;
            }
        } else if w.is_registered_in(State::Closed)
            && ticket.is_none_or(|t| t.gen == w.gen())
            && w.consecutive().saturating_add(1) < self.threshold(cx)
            && !cx.bus.wants(EventType::Failure)
        {
            // A failure below the threshold: one CAS raises the consecutive count.
            match self.word.compare_exchange(
                w.0,
                w.with_payload(w.consecutive() + 1).0,
                // AcqRel: orders with transitions and other reports on the same word.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.count(cx, false);
                    return Fast::Counted;
                }
                Err(current) => w = Word(current),
            }
        }
        self.report_fast_general(cx, outcome, ticket, w)
    }

    /// [`report_fast`](Self::report_fast) for everything but the two common cases (a
    /// success on a healthy circuit, a failure below the threshold); out of line so that
    /// callers inline only those. `w` is the word as last loaded.
    #[inline(never)]
    fn report_fast_general(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        w: Word,
    ) -> Fast {
        if w.removed() {
            return Fast::Removed;
        }
        let (success, ty) = match outcome {
            Outcome::Success => (true, EventType::Success),
            _ => (false, EventType::Failure),
        };
        if cx.bus.wants(ty) {
            return Fast::Slow;
        }
        let current = ticket.is_none_or(|t| t.gen == w.gen());
        let next = match w.state() {
            State::Closed if !current => w,
            State::Closed if success => w.with_payload(0),
            State::Closed if w.consecutive().saturating_add(1) < self.threshold(cx) => {
                w.with_payload(w.consecutive() + 1)
            }
            State::Open if !self.open_expired(cx.clock.recent()) => w,
            _ => return Fast::Slow,
        };
        if next != w
            && self
                .word
                // AcqRel: orders with transitions and other reports on the same word.
                .compare_exchange(w.0, next.0, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Fast::Slow;
        }
        self.count(cx, success);
        Fast::Counted
    }

    /// The locked part of a report: [`step`] under the transition lock.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the connection was removed.
    #[cold]
    pub fn report_slow(
        &self,
        cx: &Context,
        outcome: Outcome,
        ticket: Option<Ticket>,
        reason: Option<&str>,
    ) -> Result<(), Error> {
        let gen = ticket.map(|t| t.gen);
        let input = match outcome {
            Outcome::Success => Input::Success(gen),
            _ => Input::Failure(gen),
        };
        self.locked(cx, input, reason).map(|_| ())
    }

    /// A success by key through the registry's per-thread cache, with no map lock: it
    /// counts only a success that changes nothing (`Closed` with no consecutive
    /// failures, nobody subscribed to `Success`), and counts it with
    /// [`Tally::incr_unless_sealed`], which `mark_removed` seals. So it is exact
    /// against removal with one read-modify-write: either it counted before the seal
    /// and the removal's counts include it, or it returns [`Fast::Removed`]. Anything
    /// else, a word already marked removed included, is [`Fast::Slow`]; on both the
    /// caller takes the locked by-key path.
    #[inline]
    pub fn success_unlocked(&self, cx: &Context) -> Fast {
        // One mask and compare covers state, removal and the consecutive count.
        if !self.word().is_clean_closed() || cx.bus.wants(EventType::Success) {
            return Fast::Slow;
        }
        if !self.tally.incr_unless_sealed(SUCCESSES) {
            return Fast::Removed;
        }
        touch(&self.last_success, cx.clock.recent());
        Fast::Counted
    }

    /// A permit of `ticket`'s cycle ended without a result: frees its probe slot.
    pub fn release(&self, ticket: Ticket) {
        if !ticket.probe {
            return;
        }
        let mut w = self.word();
        loop {
            if w.removed()
                || w.state() != State::HalfOpen
                || w.gen() != ticket.gen
                || w.in_flight() == 0
            {
                return;
            }
            let freed = w.with_payload((w.admissions() << 16) | (w.in_flight() - 1));
            // AcqRel: orders with admissions and transitions on the same word.
            match self
                .word
                .compare_exchange_weak(w.0, freed.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(c) => w = Word(c),
            }
        }
    }

    #[inline]
    fn open_expired(&self, now: Nanos) -> bool {
        // Relaxed: ordered by the caller's Acquire load of the word.
        let until = self.deadline.load(Ordering::Relaxed);
        until != NEVER && now >= until
    }

    /// Counts a report that changes no state (the lock-free path; no event is wanted).
    #[inline(always)]
    fn count(&self, cx: &Context, success: bool) {
        let now = cx.clock.recent();
        let (kind, stamp) = if success {
            (SUCCESSES, &self.last_success)
        } else {
            (FAILURES, &self.last_failure)
        };
        self.tally.incr_here(kind);
        touch(stamp, now);
    }

    /// A success through a handle, counted only in the commonest case: a healthy
    /// circuit (`Closed`, no consecutive failures, not removed), a success stamp equal
    /// to the bus's quiet stamp (which says both that nobody is subscribed to `Success`
    /// and that the stamp already holds the clock's cached reading, so nothing but the
    /// count is written), and a calling thread that owns a lane already allocated
    /// here. Returns false, having written nothing, in every other case; the caller
    /// then reports through [`success`](Self::success).
    ///
    /// Every test comes before the one write, so the caller's fallback is a complete
    /// report, and the out-of-line call it makes needs only the handle. The quiet
    /// stamp is published at each clock refresh ([`Context::refresh`]); under a manual
    /// or custom clock it never is, so this always falls back; under the system clock
    /// the first success on a connection in each refresh period does.
    #[inline(always)]
    pub fn success_if_quiet(&self, cx: &Context) -> bool {
        self.word().is_clean_closed()
            // Relaxed: as in `touch`; the quiet stamp's load is explained at
            // `EventBus::quiet`.
            && self.last_success.load(Ordering::Relaxed) == cx.bus.quiet()
            && self.tally.incr_if_owned(SUCCESSES)
    }

    // ----- manual actions ------------------------------------------------------------

    /// `open_circuit`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed; [`Error::InvalidConfig`] for a bad duration.
    pub fn open(&self, cx: &Context, options: &OpenOptions) -> Result<(), Error> {
        options.validate()?;
        self.manual(
            cx,
            Input::Open(options.open_duration()),
            options.reason_str(),
        )
    }

    /// `close_circuit`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed.
    pub fn close(&self, cx: &Context) -> Result<(), Error> {
        self.manual(cx, Input::Close, None)
    }

    /// `reset_circuit`: `Unknown`, consecutive count and backoff step cleared, totals kept.
    ///
    /// # Errors
    /// [`Error::NotFound`] if removed.
    pub fn reset(&self, cx: &Context) -> Result<(), Error> {
        self.manual(cx, Input::Reset, None)
    }

    fn manual(&self, cx: &Context, input: Input, reason: Option<&str>) -> Result<(), Error> {
        let (_, _, now) = self.locked(cx, input, reason)?;
        self.touch(now);
        Ok(())
    }

    /// Records activity (configuration, manual actions) at `now`.
    pub fn touch(&self, now: Nanos) {
        touch(&self.touched_at, now);
    }

    /// The janitor's time-driven rules at `now`: expiry and probe timeouts.
    /// Returns true if the state word changed.
    pub fn tick(&self, cx: &Context) -> bool {
        let now = cx.clock.now();
        self.tick_due(cx, now)
            && self
                .locked(cx, Input::Tick, None)
                .is_ok_and(|(fx, _, _)| fx.changes().next().is_some())
    }

    /// Whether a time-driven rule applies at `now` (a cheap pre-check for the sweep).
    pub fn tick_due(&self, cx: &Context, now: Nanos) -> bool {
        let w = self.word();
        let due = match w.state() {
            State::Open => self.open_expired(now),
            // Relaxed: ordered by the Acquire load of `w`.
            State::HalfOpen if w.in_flight() > 0 => {
                now.saturating_sub(self.deadline.load(Ordering::Relaxed))
                    >= crate::clock::nanos(self.config(cx).probe_timeout())
            }
            _ => false,
        };
        due && !w.removed()
    }

    // ----- the slow path -------------------------------------------------------------

    /// Runs `input` through [`step`] under the transition lock and publishes the result
    /// with one CAS. Returns the effects, the new machine and the time used.
    fn locked(
        &self,
        cx: &Context,
        input: Input,
        reason: Option<&str>,
    ) -> Result<(Effects, Machine, Nanos), Error> {
        let _guard = lock(&self.transition);
        let cfg = self.config(cx);
        let now = cx.clock.now();
        let jitter_u = if cfg.jitter > 0.0 {
            cx.jitter_sample()
        } else {
            0.0
        };
        loop {
            let w = self.word();
            if w.removed() {
                return Err(Error::NotFound);
            }
            let m = self.machine(w);
            let (m2, fx) = step(m, input, now, &cfg, jitter_u);
            let same_cycle = m2.state == State::HalfOpen && m2.gen == m.gen;
            let admissions = match (same_cycle, fx.outcome) {
                (true, Outcome::Admitted) => w.admissions() + 1,
                (true, _) => w.admissions(),
                _ => 0,
            };
            let w2 = Word::encode(&m2, admissions);
            if w2 != w {
                // Fields readers look at after seeing the new word; the CAS publishes them.
                // Relaxed: each is published by the Release of the CAS below.
                let deadline = match m2.state {
                    State::Open => Some(m2.open_until),
                    State::HalfOpen => Some(m2.probe_at),
                    State::Unknown | State::Closed => None,
                };
                if let Some(d) = deadline {
                    if d != self.deadline.load(Ordering::Relaxed) {
                        self.deadline.store(d, Ordering::Relaxed);
                    }
                }
                if m2.open_duration != m.open_duration {
                    self.open_duration
                        .store(m2.open_duration, Ordering::Relaxed);
                }
                if m2.consecutive != m.consecutive || m2.state != m.state {
                    self.frozen.store(m2.consecutive, Ordering::Relaxed);
                }
                // AcqRel: publishes the fields above; acquires lock-free updates we retry over.
                if self
                    .word
                    .compare_exchange(w.0, w2.0, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
            }
            self.account(cx, &m, &m2, &fx, now, reason);
            return Ok((fx, m2, now));
        }
    }

    /// Counters, timestamps and events for one applied step (under the transition lock).
    fn account(
        &self,
        cx: &Context,
        m: &Machine,
        m2: &Machine,
        fx: &Effects,
        now: Nanos,
        reason: Option<&str>,
    ) {
        let before = self.counts_of(m);
        let mut after = before;
        let mut pre_state = m.state;
        // Changes the clock caused (expiry, probe timeout) come before the input's own.
        for change in fx
            .changes()
            .filter(|c| matches!(c.cause, Cause::Expiry | Cause::ProbeTimeout))
        {
            self.emit_change(cx, change, None, before, now);
            pre_state = change.to;
        }
        match fx.outcome {
            Outcome::Success => {
                self.emit_report(cx, Outcome::Success, None, before, pre_state, now);
                self.tally.incr(SUCCESSES, lane());
                touch(&self.last_success, now);
                after.total_successes += 1;
            }
            Outcome::Failure => {
                self.emit_report(cx, Outcome::Failure, reason, before, pre_state, now);
                self.tally.incr(FAILURES, lane());
                touch(&self.last_failure, now);
                after.total_failures += 1;
                after.consecutive_failures = m2.consecutive.max(before.consecutive_failures);
            }
            Outcome::Rejected => {
                self.tally.incr(REJECTED, lane());
                after.total_rejected += 1;
            }
            Outcome::Admitted | Outcome::None => {}
        }
        if fx.opened {
            // Relaxed: a total; snapshots need no ordering with it.
            self.trips.fetch_add(1, Ordering::Relaxed);
            touch(&self.opened_at, now);
        }
        let mut changed = false;
        for change in fx.changes() {
            changed = true;
            if !matches!(change.cause, Cause::Expiry | Cause::ProbeTimeout) {
                self.emit_change(cx, change, reason, after, now);
            }
        }
        if changed {
            touch(&self.changed_at, now);
        }
    }

    fn emit_change(
        &self,
        cx: &Context,
        change: Change,
        reason: Option<&str>,
        counts: Counts,
        now: Nanos,
    ) {
        let Change { from, to, cause } = change;
        cx.bus.publish(EventType::StateChanged, |seq| {
            let mut e = Event::new(
                seq,
                EventKind::StateChanged { from, to, cause },
                cx.wall(now),
                Some(self.key.clone()),
                from,
                counts,
            );
            e.reason = reason.map(str::to_owned);
            e
        });
    }

    fn emit_report(
        &self,
        cx: &Context,
        outcome: Outcome,
        reason: Option<&str>,
        counts: Counts,
        state: State,
        now: Nanos,
    ) {
        let (ty, kind) = match outcome {
            Outcome::Success => (EventType::Success, EventKind::Success),
            _ => (
                EventType::Failure,
                EventKind::Failure {
                    reason: reason.map(str::to_owned),
                },
            ),
        };
        cx.bus.publish(ty, |seq| {
            let mut e = Event::new(
                seq,
                kind,
                cx.wall(now),
                Some(self.key.clone()),
                state,
                counts,
            );
            e.reason = reason.map(str::to_owned);
            e
        });
    }

    fn machine(&self, w: Word) -> Machine {
        // Relaxed loads: ordered by the Acquire load that produced `w`.
        let open_or_half = matches!(w.state(), State::Open | State::HalfOpen);
        let deadline = self.deadline.load(Ordering::Relaxed);
        Machine {
            state: w.state(),
            consecutive: if open_or_half {
                self.frozen.load(Ordering::Relaxed)
            } else {
                w.consecutive()
            },
            step: w.step(),
            in_flight: if w.state() == State::HalfOpen {
                w.in_flight()
            } else {
                0
            },
            gen: w.gen(),
            open_until: if w.state() == State::Open {
                deadline
            } else {
                0
            },
            open_duration: self.open_duration.load(Ordering::Relaxed),
            probe_at: if w.state() == State::HalfOpen {
                deadline
            } else {
                0
            },
        }
    }

    // ----- removal, handles, eviction ------------------------------------------------

    /// The registry's sweep-list slot of this connection (`u64::MAX` before it has one).
    #[cfg(not(brama_loom))]
    pub(crate) fn slot(&self) -> u64 {
        // Relaxed: written under the sweep list's stripe lock before the connection enters
        // the map; every reader found the connection through the map (whose shard lock
        // orders it after that write) or holds the same stripe lock.
        self.slot.load(Ordering::Relaxed)
    }

    /// Records the connection's sweep-list slot (under that list's stripe lock).
    #[cfg(not(brama_loom))]
    pub(crate) fn set_slot(&self, slot: u64) {
        // Relaxed: see `slot`.
        self.slot.store(slot, Ordering::Relaxed);
    }

    /// Marks the connection removed (terminal). Exclusive with every state change.
    /// Returns false if it was already removed.
    pub fn mark_removed(&self) -> bool {
        self.mark_removed_if(|| true)
    }

    /// [`mark_removed`](Self::mark_removed) if `still` holds, asked under the
    /// transition lock: after any state change in progress has landed, and before any
    /// other can start. Returns whether this call removed it. Eviction passes its
    /// condition here again, so that a trip racing its first check (a report by key
    /// finishing its transition after leaving the shard lock) keeps the connection.
    pub fn mark_removed_if(&self, still: impl FnOnce() -> bool) -> bool {
        let _guard = lock(&self.transition);
        if !still() {
            return false;
        }
        let mut w = self.word();
        loop {
            if w.removed() {
                return false;
            }
            // AcqRel: every later load of the word sees the removal.
            match self.word.compare_exchange_weak(
                w.0,
                w.with_removed().0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // After this, a success by key through the per-thread cache
                    // (`success_unlocked`) either counted already, and this thread's
                    // counts include it, or finds the seal and counts nothing.
                    self.tally.seal();
                    return true;
                }
                Err(c) => w = Word(c),
            }
        }
    }

    /// Holds the transition lock until the guard drops: meanwhile no state change of this
    /// connection, and so none of its events, can happen. The registry holds it across a
    /// registration and its `Registered` event, and across a `configure` and its
    /// `Configured` event, so that every event of a connection is published in the order
    /// of the changes.
    pub(crate) fn hold_transitions(&self) -> MutexGuard<'_, ()> {
        lock(&self.transition)
    }

    /// A handle or permit starts referring to this connection.
    pub fn retain_handle(&self) {
        // Relaxed: the increment is ordered for eviction by the map's shard lock, under
        // which both handle creation and the eviction decision run.
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle or permit stops referring to this connection.
    pub fn release_handle(&self) {
        // Release: the handle's reports happen-before an eviction that sees zero.
        self.handles.fetch_sub(1, Ordering::Release);
    }

    /// Live handles and permits.
    pub fn handles(&self) -> u32 {
        // Acquire: pairs with `release_handle`.
        self.handles.load(Ordering::Acquire)
    }

    /// The last activity: registration, a report, a manual action or configuration.
    pub fn last_activity(&self) -> Nanos {
        [
            &self.last_success,
            &self.last_failure,
            &self.touched_at,
            &self.changed_at,
        ]
        .iter()
        // Relaxed: a heuristic input to eviction; the sweep re-checks under the lock.
        .map(|a| a.load(Ordering::Relaxed))
        .filter(|&t| t != NONE)
        .fold(self.registered_at, u64::max)
    }

    /// Whether the janitor may evict this connection at `now`.
    pub fn evictable(&self, now: Nanos, inactive: Nanos) -> bool {
        let w = self.word();
        !w.removed()
            && matches!(w.state(), State::Unknown | State::Closed)
            && self.handles() == 0
            && now.saturating_sub(self.last_activity()) > inactive
    }

    // ----- snapshots -----------------------------------------------------------------

    fn counts_with(&self, w: Word) -> Counts {
        let consecutive = match w.state() {
            // Relaxed: a snapshot.
            State::Open | State::HalfOpen => self.frozen.load(Ordering::Relaxed),
            _ => w.consecutive(),
        };
        Counts {
            consecutive_failures: consecutive,
            total_successes: self.tally.sum(SUCCESSES),
            total_failures: self.tally.sum(FAILURES),
            total_rejected: self.tally.sum(REJECTED),
            // Relaxed: a snapshot.
            trips: self.trips.load(Ordering::Relaxed),
        }
    }

    fn counts_of(&self, m: &Machine) -> Counts {
        Counts {
            consecutive_failures: m.consecutive,
            ..self.counts_with(Word(0))
        }
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        self.counts_with(self.word())
    }

    /// A status snapshot.
    pub fn status(&self, cx: &Context) -> Status {
        self.status_at(cx, cx.clock.now(), self.key.as_key())
    }

    /// A snapshot as of `now`, with what the caller already has: a clock reading, and
    /// `key`, which must be this connection's key. Registration passes the time it
    /// registered at (so its `since_state_change` is zero) and the caller's own key, so
    /// that the stored key need not be decoded again.
    pub(crate) fn status_at(&self, cx: &Context, now: Nanos, key: Key<'_>) -> Status {
        debug_assert!(key == self.key.as_key(), "the status of another key");
        let w = self.word();
        let m = self.machine(w);
        let counts = self.counts_with(w);
        // One load for both the overrides and the metadata.
        let extras = self.extras.load();
        let extras = extras.as_deref();
        let open_duration = crate::rules::next_open_duration(&m, &Self::config_of(cx, extras));
        let opt = |a: &AtomicU64| {
            // Relaxed: a snapshot.
            let t = a.load(Ordering::Relaxed);
            (t != NONE).then(|| cx.wall(t))
        };
        // Relaxed: a snapshot.
        let changed = self.changed_at.load(Ordering::Relaxed);
        Status {
            identifier: key.identifier().to_owned(),
            scope: key.scope().map(str::to_owned),
            state: w.state(),
            consecutive_failures: counts.consecutive_failures,
            total_successes: counts.total_successes,
            total_failures: counts.total_failures,
            total_rejected: counts.total_rejected,
            trips: counts.trips,
            registered_at: cx.wall(self.registered_at),
            last_success_at: opt(&self.last_success),
            last_failure_at: opt(&self.last_failure),
            opened_at: opt(&self.opened_at),
            last_state_change_at: cx.wall(changed),
            since_state_change: Duration::from_nanos(now.saturating_sub(changed)),
            open_duration: if open_duration == NEVER {
                Duration::MAX
            } else {
                Duration::from_nanos(open_duration)
            },
            metadata: extras.map(|e| e.metadata.clone()).unwrap_or_default(),
        }
    }
}

/// Stores `now` unless the value is already `now` (reports write only what changed).
#[inline]
fn touch(a: &AtomicU64, now: Nanos) {
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
