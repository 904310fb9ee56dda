//! The SPEC §11 part of the model (`ops.rs`): modes, scope defaults, the scope
//! operations, and snapshots restored into another registry or into the same one.
//!
//! The modes' rules are written here again from the SPEC's table (docs/operations.md),
//! not taken from the engine: `Normal` and `MetricsOnly` run `rules::step`; `Disabled`
//! admits every check and counts no report; `ForcedOpen` refuses every check (counted)
//! and counts reports in the totals only; in both, nothing but a manual action or a
//! permit's release changes the machine. A check that `Disabled` or `MetricsOnly`
//! admits where `Normal` would not gets a ticket of no cycle. A change of a
//! connection's mode in effect starts a new cycle.

use std::time::Duration;

use brama_core::engine::rules::{next_gen, step, Effects, Input, Machine, Outcome, NEVER};
use brama_sync::{
    Cause, Counts, Error, EventKind, ManualClock, Mode, OpenOptions, Options, ResolvedConfig, State,
};

use super::{key_index, ms, Harness, Op, OpenHow, Ticket, KEYS};

/// The scopes scope ops name: one with two keys, one with none, and an invalid one.
const SCOPES: [&str; 3] = ["s", "t", ""];

/// The ticket of a check admitted only by the mode: no cycle has this number.
pub(super) const SHADOW: Ticket = Ticket {
    gen: u32::MAX,
    probe: false,
};

/// What a scope op does.
#[derive(Clone, Copy, Debug)]
pub enum ScopeAct {
    /// `open_scope`, with a reason or not.
    Open(OpenHow, bool),
    /// `close_scope`.
    Close,
    /// `reset_scope`.
    Reset,
    /// `unregister_scope`.
    Unregister,
}

/// `step` in `mode`.
pub(super) fn mode_step(
    mode: Mode,
    m: Machine,
    input: Input,
    now: u64,
    cfg: &ResolvedConfig,
) -> (Machine, Effects) {
    let frozen = |outcome| {
        let fx = Effects {
            outcome,
            changes: [None, None],
            opened: false,
            quiet_change: false,
            clocked: 0,
        };
        (m, fx)
    };
    let manual = matches!(
        input,
        Input::Open(_) | Input::Close | Input::Reset | Input::Release(_)
    );
    match mode {
        Mode::Normal | Mode::MetricsOnly => step(m, input, now, cfg, 0.0),
        _ if manual => step(m, input, now, cfg, 0.0),
        Mode::Disabled if input == Input::Check => frozen(Outcome::Admitted),
        Mode::ForcedOpen if input == Input::Check => frozen(Outcome::Rejected),
        Mode::ForcedOpen => match input {
            Input::Success(..) => frozen(Outcome::Success),
            Input::Failure(..) => frozen(Outcome::Failure),
            _ => frozen(Outcome::None),
        },
        _ => frozen(Outcome::None),
    }
}

/// The options of an `open_circuit` or `open_scope` op.
pub(super) fn open_options(how: OpenHow, reason: Option<&str>) -> OpenOptions {
    let options = match how {
        OpenHow::Current => OpenOptions::new(),
        OpenHow::ForMs(n) => OpenOptions::new().duration(ms(n)),
        OpenHow::Indefinitely => OpenOptions::new().indefinitely(),
    };
    match reason {
        Some(r) => options.reason(r),
        None => options,
    }
}

impl Harness {
    /// The defaults of key `k`'s scope, if it has any.
    pub(super) fn template(&self, k: usize) -> Option<&Options> {
        KEYS[k].scope().and_then(|s| self.scopes.get(s))
    }

    /// The mode in effect of key `k`: its own, else its scope's, else the default.
    pub(super) fn mode_of(&self, k: usize) -> Mode {
        let own = self.conns[k]
            .as_ref()
            .and_then(|c| c.overrides.mode_value());
        own.or_else(|| self.template(k).and_then(Options::mode_value))
            .unwrap_or(self.default_mode)
    }

    /// Every key's mode in effect, to compare after a change of a layer.
    pub(super) fn modes(&self) -> [Mode; 4] {
        std::array::from_fn(|k| self.mode_of(k))
    }

    /// Each live connection whose mode in effect changed since `before` starts a new
    /// cycle, with no probe in flight.
    pub(super) fn modes_changed(&mut self, before: [Mode; 4]) {
        for (k, before) in before.into_iter().enumerate() {
            if self.conns[k].is_some() && self.mode_of(k) != before {
                let c = self.conns[k].as_mut().expect("live");
                c.m.gen = next_gen(c.m.gen);
                c.m.in_flight = 0;
            }
        }
    }

    /// The live keys of `scope`.
    fn members(&self, scope: &str) -> Vec<usize> {
        (0..KEYS.len())
            .filter(|&k| self.conns[k].is_some() && KEYS[k].scope() == Some(scope))
            .collect()
    }

    /// A manual action for a scope op: as the manual one, its state change with cause
    /// `Scope`.
    fn model_scope_action(&mut self, k: usize, input: Input, reason: Option<&str>) {
        let mark = self.expected.len();
        self.model_manual(k, input, reason);
        for e in &mut self.expected[mark..] {
            if let EventKind::StateChanged { cause, .. } = &mut e.kind {
                *cause = Cause::Scope;
            }
        }
    }

    /// The model's `configure_scope`; returns the scope's member count.
    fn model_configure_scope(
        &mut self,
        scope: &'static str,
        options: &Options,
    ) -> Result<usize, Error> {
        if scope.is_empty() {
            return Err(Error::InvalidKey {
                reason: String::new(),
            });
        }
        if !options.metadata_map().is_empty() {
            return Err(Error::InvalidConfig {
                field: "metadata",
                reason: String::new(),
            });
        }
        let next = self
            .scopes
            .get(scope)
            .cloned()
            .unwrap_or_default()
            .overlay(options);
        next.apply(&self.defaults)?;
        let modes = self.modes();
        if next.is_empty() {
            self.scopes.remove(scope);
        } else {
            self.scopes.insert(scope, next);
        }
        self.modes_changed(modes);
        self.expect(
            None,
            EventKind::Configured,
            State::Unknown,
            Counts::default(),
        );
        Ok(self.members(scope).len())
    }

    /// Applies one of the SPEC §11 ops to both sides (the caller compares after).
    pub(super) fn apply_operation(&mut self, op: &Op) {
        match op {
            Op::Scope(s, act) => {
                let scope = SCOPES[usize::from(*s) % SCOPES.len()];
                let members = self.members(scope);
                let (real, model) = match *act {
                    ScopeAct::Open(how, with_reason) => {
                        let reason = with_reason.then_some("drill");
                        let options = open_options(how, reason);
                        let real = self.brama.open_scope(scope, options.clone());
                        let valid = options.validate().is_ok();
                        for &k in members.iter().filter(|_| valid) {
                            let input = Input::Open(options.open_duration());
                            self.model_scope_action(k, input, reason);
                        }
                        (real, if valid { members.len() } else { 0 })
                    }
                    ScopeAct::Close | ScopeAct::Reset => {
                        let (real, input) = match act {
                            ScopeAct::Close => (self.brama.close_scope(scope), Input::Close),
                            _ => (self.brama.reset_scope(scope), Input::Reset),
                        };
                        for &k in &members {
                            self.model_scope_action(k, input, None);
                        }
                        (real, members.len())
                    }
                    ScopeAct::Unregister => {
                        let real = self.brama.unregister_scope(scope);
                        for &k in &members {
                            self.model_remove(k, EventKind::Unregistered);
                        }
                        (real, members.len())
                    }
                };
                assert_eq!(real, model, "{}: the count", self.op);
            }
            Op::ConfigureScope(s, cfg) => {
                let scope = SCOPES[usize::from(*s) % SCOPES.len()];
                let options = cfg.options();
                let real = self.brama.configure_scope(scope, options.clone());
                let model = self.model_configure_scope(scope, &options).map(|_| ());
                self.check_result("configure_scope", &real, &model);
                assert_eq!(
                    self.brama.scope_defaults(scope).as_ref(),
                    self.scopes.get(scope),
                    "{}: scope defaults",
                    self.op
                );
            }
            Op::SetMode(k, mode) => {
                let k = key_index(*k);
                let real = self.brama.set_mode(KEYS[k], *mode);
                let model = self.model_configure(k, &Options::new().mode(*mode));
                self.check_result("set_mode", &real, &model);
            }
            Op::SetScopeMode(s, mode) => {
                let scope = SCOPES[usize::from(*s) % SCOPES.len()];
                let real = self.brama.set_scope_mode(scope, *mode);
                let model = self
                    .model_configure_scope(scope, &Options::new().mode(*mode))
                    .unwrap_or(0);
                assert_eq!(real, model, "{}: set_scope_mode count", self.op);
            }
            Op::RoundTrip(secs) => self.round_trip(*secs),
            Op::RestoreSelf => self.restore_self(),
            _ => unreachable!("not a SPEC §11 op: {op:?}"),
        }
    }

    /// A snapshot restored into a second registry of the same setup whose clock reads
    /// `secs` seconds: every connection as the model has it, its mode from its own or
    /// its scope's (the new registry's default is `Normal`), and each open circuit open
    /// for exactly the time it had left.
    fn round_trip(&mut self, secs: u16) {
        let op = self.op.clone();
        let snapshot = self.brama.snapshot();
        let clock = ManualClock::new();
        clock.advance(Duration::from_secs(u64::from(secs)));
        let restored = Self::builder(&self.setup, &clock)
            .restore(&snapshot)
            .build()
            .unwrap_or_else(|e| panic!("{op}: a snapshot restores: {e}"));
        assert_eq!(restored.len(), self.live(), "{op}: restored len");
        let mut deadlines = Vec::new();
        for (k, key) in KEYS.into_iter().enumerate() {
            let Some(c) = &self.conns[k] else {
                assert!(
                    matches!(restored.status(key), Err(Error::NotFound { .. })),
                    "{op}"
                );
                continue;
            };
            let s = restored.status(key).expect("restored");
            let mode = c
                .overrides
                .mode_value()
                .or_else(|| self.template(k).and_then(Options::mode_value))
                .unwrap_or(Mode::Normal);
            assert_eq!(
                (s.state, s.mode, s.consecutive_failures, s.trips),
                (c.m.state, mode, c.m.consecutive, c.trips),
                "{op}: restored key {k}"
            );
            assert_eq!(
                (s.total_successes, s.total_failures, s.total_rejected),
                (c.successes, c.failures, c.rejected),
                "{op}: restored totals of key {k}"
            );
            assert_eq!(s.metadata, c.metadata, "{op}: restored metadata of key {k}");
            if c.m.state == State::Open {
                let endless = |t: u64| {
                    if t == NEVER {
                        Duration::MAX
                    } else {
                        Duration::from_nanos(t)
                    }
                };
                assert_eq!(s.open_duration, endless(c.m.open_duration), "{op}: key {k}");
                if c.m.open_until != NEVER {
                    deadlines.push((c.m.open_until.saturating_sub(self.now), k));
                }
            }
        }
        deadlines.sort_unstable();
        let mut elapsed = 0;
        for (left, k) in deadlines {
            if left > elapsed {
                clock.advance(Duration::from_nanos(left - 1 - elapsed));
                assert_eq!(
                    restored.state(KEYS[k]),
                    Ok(State::Open),
                    "{op}: key {k} before"
                );
                clock.advance(Duration::from_nanos(1));
                elapsed = left;
            }
            assert_eq!(
                restored.state(KEYS[k]),
                Ok(State::HalfOpen),
                "{op}: key {k} at"
            );
        }
    }

    /// The registry's own snapshot restored into it: every connection is here, so each
    /// keeps its state (no `StateChanged`), adds the snapshot's totals to its own (so
    /// they double), starts a new cycle, and counts the restore as activity; an open
    /// circuit keeps its deadline (one already passed moves to now).
    fn restore_self(&mut self) {
        let snapshot = self.brama.snapshot();
        let real = self.brama.restore(&snapshot);
        let now = self.now;
        for c in self.conns.iter_mut().flatten() {
            c.successes *= 2;
            c.failures *= 2;
            c.rejected *= 2;
            c.trips *= 2;
            c.m.gen = next_gen(c.m.gen);
            c.m.in_flight = 0;
            c.touched_at = now;
            if c.m.state == State::Open && c.m.open_until != NEVER {
                c.m.open_until = c.m.open_until.max(now);
            }
        }
        if !self.scopes.is_empty() {
            self.expect(
                None,
                EventKind::Configured,
                State::Unknown,
                Counts::default(),
            );
        }
        assert_eq!(real, Ok(self.live()), "{}: restore count", self.op);
    }
}
