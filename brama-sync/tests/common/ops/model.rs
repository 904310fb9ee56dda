//! The reference model: its per-connection state and the `Harness` methods that step it.

use std::collections::BTreeMap;
use std::time::Duration;

use brama_core::engine::rules::{Input, Machine, Outcome, NEVER};
use brama_sync::{Cause, Counts, Error, EventKind, Mode, Options, State};

use super::scopes::{mode_step, SHADOW};
use super::{Harness, KEYS};

/// A ticket as the model sees it: the cycle a permit was admitted in, and whether it
/// holds a probe slot.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    pub(super) gen: u32,
    pub(super) probe: bool,
}

/// The reference state of one registered connection.
#[derive(Clone, Debug)]
pub(super) struct Conn {
    pub(super) serial: u64,
    pub(super) m: Machine,
    pub(super) overrides: Options,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) successes: u64,
    pub(super) failures: u64,
    pub(super) rejected: u64,
    pub(super) trips: u64,
    pub(super) registered_at: u64,
    pub(super) last_success: Option<u64>,
    pub(super) last_failure: Option<u64>,
    pub(super) opened_at: Option<u64>,
    pub(super) touched_at: u64,
    pub(super) changed_at: u64,
}

impl Conn {
    fn counts(&self) -> Counts {
        // `Counts` is `#[non_exhaustive]`: filled field by field.
        let mut c = Counts::default();
        c.consecutive_failures = self.m.consecutive;
        c.total_successes = self.successes;
        c.total_failures = self.failures;
        c.total_rejected = self.rejected;
        c.trips = self.trips;
        c
    }

    pub(super) fn last_activity(&self) -> u64 {
        [
            self.last_success,
            self.last_failure,
            Some(self.touched_at),
            Some(self.changed_at),
        ]
        .into_iter()
        .flatten()
        .fold(self.registered_at, u64::max)
    }
}

/// An event the model expects.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Expected {
    pub(super) key: Option<usize>,
    pub(super) kind: EventKind,
    pub(super) state: State,
    pub(super) counts: Counts,
    pub(super) reason: Option<String>,
}

impl Harness {
    pub(super) fn expect(
        &mut self,
        key: Option<usize>,
        kind: EventKind,
        state: State,
        counts: Counts,
    ) {
        self.expect_with(key, kind, state, counts, None);
    }

    fn expect_with(
        &mut self,
        key: Option<usize>,
        kind: EventKind,
        state: State,
        counts: Counts,
        reason: Option<String>,
    ) {
        let wanted = self.setup.observe_reports
            || !matches!(kind, EventKind::Success | EventKind::Failure { .. });
        if wanted {
            self.expected.push(Expected {
                key,
                kind,
                state,
                counts,
                reason,
            });
        }
    }

    /// The model's `register`: validation, duplicate and capacity checks, then a new
    /// `Unknown` connection and its `Registered` event.
    pub(super) fn model_register(&mut self, k: usize, options: &Options) -> Result<(), Error> {
        options.apply(&self.defaults)?;
        if self.conns[k].is_some() {
            return Err(Error::AlreadyRegistered);
        }
        if self
            .setup
            .max_connections
            .is_some_and(|max| self.live() >= max)
        {
            return Err(Error::CapacityExceeded);
        }
        self.next_serial += 1;
        self.conns[k] = Some(Conn {
            serial: self.next_serial,
            m: Machine::new(),
            overrides: options.without_metadata().without_inherit(),
            metadata: options.metadata_map(),
            successes: 0,
            failures: 0,
            rejected: 0,
            trips: 0,
            registered_at: self.now,
            last_success: None,
            last_failure: None,
            opened_at: None,
            touched_at: self.now,
            changed_at: self.now,
        });
        self.expect(
            Some(k),
            EventKind::Registered,
            State::Unknown,
            Counts::default(),
        );
        Ok(())
    }

    /// The connection for a by-key lookup that may auto-register (`available`,
    /// reports, `connection`, `acquire`).
    pub(super) fn model_lookup(&mut self, k: usize) -> Result<u64, Error> {
        if let Some(c) = &self.conns[k] {
            return Ok(c.serial);
        }
        if !self.setup.auto_register {
            return Err(Error::not_found(KEYS[k]));
        }
        self.model_register(k, &Options::new())?;
        Ok(self.conns[k].as_ref().expect("just registered").serial)
    }

    /// Runs `input` through `step` on connection `k` and does the bookkeeping of SPEC
    /// §1/§5: counts, timestamps, trips, and the events in the order the changes happen
    /// (a clock-driven change first, then the report, then the input's own change).
    pub(super) fn model_step(
        &mut self,
        k: usize,
        input: Input,
        reason: Option<&str>,
    ) -> (Outcome, Machine) {
        let now = self.now;
        let cfg = self.config(k);
        let observe = self.setup.observe_reports;
        let mode = self.mode_of(k);
        let c = self.conns[k].as_mut().expect("live");
        let (m2, fx) = mode_step(mode, c.m, input, now, &cfg);
        let before = c.counts();
        let mut after = before;
        let mut pre_state = c.m.state;
        let mut events = Vec::new();
        for ch in fx
            .changes()
            .filter(|ch| matches!(ch.cause, Cause::Expiry | Cause::ProbeTimeout))
        {
            events.push(Expected {
                key: Some(k),
                kind: EventKind::StateChanged {
                    from: ch.from,
                    to: ch.to,
                    cause: ch.cause,
                },
                state: ch.from,
                counts: before,
                reason: None,
            });
            pre_state = ch.to;
        }
        match fx.outcome {
            Outcome::Success => {
                if observe {
                    events.push(Expected {
                        key: Some(k),
                        kind: EventKind::Success,
                        state: pre_state,
                        counts: before,
                        reason: None,
                    });
                }
                c.successes += 1;
                c.last_success = Some(now);
                after.total_successes += 1;
            }
            Outcome::Failure => {
                if observe {
                    events.push(Expected {
                        key: Some(k),
                        kind: EventKind::Failure {
                            reason: reason.map(str::to_owned),
                        },
                        state: pre_state,
                        counts: before,
                        // Stored once: a Failure's reason is in its kind only.
                        reason: None,
                    });
                }
                c.failures += 1;
                c.last_failure = Some(now);
                after.total_failures += 1;
                after.consecutive_failures = m2.consecutive.max(before.consecutive_failures);
            }
            Outcome::Rejected => {
                c.rejected += 1;
                after.total_rejected += 1;
            }
            Outcome::Admitted | Outcome::None => {}
        }
        if fx.opened {
            c.trips += 1;
            c.opened_at = Some(now);
        }
        for ch in fx
            .changes()
            .filter(|ch| !matches!(ch.cause, Cause::Expiry | Cause::ProbeTimeout))
        {
            events.push(Expected {
                key: Some(k),
                kind: EventKind::StateChanged {
                    from: ch.from,
                    to: ch.to,
                    cause: ch.cause,
                },
                state: ch.from,
                counts: after,
                reason: reason.map(str::to_owned),
            });
        }
        if fx.changes().next().is_some() {
            c.changed_at = now;
        }
        c.m = m2;
        self.expected.extend(events);
        (fx.outcome, m2)
    }

    /// The model's check (`available`/`acquire`): the ticket, or the rejection.
    pub(super) fn model_check(&mut self, k: usize) -> Result<Ticket, Error> {
        let mode = self.mode_of(k);
        let (outcome, m2) = self.model_step(k, Input::Check, None);
        match (mode, outcome) {
            // Admitted where Normal would not be: the ticket decides nothing.
            (Mode::Disabled, _) | (Mode::MetricsOnly, Outcome::Rejected) => Ok(SHADOW),
            (_, Outcome::Admitted) => Ok(Ticket {
                gen: m2.gen,
                probe: m2.state == State::HalfOpen,
            }),
            (Mode::ForcedOpen, _) => Err(Error::rejected(KEYS[k], State::Open, None)),
            _ => Err(Error::rejected(
                KEYS[k],
                m2.state,
                (m2.state == State::Open && m2.open_until != NEVER)
                    .then(|| Duration::from_nanos(m2.open_until - self.now)),
            )),
        }
    }

    pub(super) fn model_report(
        &mut self,
        k: usize,
        success: bool,
        gen: Option<u32>,
        reason: Option<&str>,
    ) {
        let input = if success {
            Input::Success(gen, false)
        } else {
            Input::Failure(gen, false)
        };
        self.model_step(k, input, reason);
    }

    pub(super) fn model_remove(&mut self, k: usize, kind: EventKind) -> Conn {
        let c = self.conns[k].take().expect("live");
        self.expect(Some(k), kind, c.m.state, c.counts());
        c
    }

    pub(super) fn model_manual(&mut self, k: usize, input: Input, reason: Option<&str>) {
        self.model_step(k, input, reason);
        let now = self.now;
        self.conns[k].as_mut().expect("live").touched_at = now;
    }

    /// A `Connection` handle (or the one inside an owned `Permit`) was dropped: that is
    /// activity up to now (SPEC §6), if its connection still lives.
    pub(super) fn model_handle_dropped(&mut self, k: usize, serial: u64) {
        let now = self.now;
        if let Some(c) = self.conns[k].as_mut().filter(|c| c.serial == serial) {
            c.touched_at = now;
        }
    }

    pub(super) fn existing(&self, k: usize) -> Result<(), Error> {
        if self.conns[k].is_some() {
            Ok(())
        } else {
            Err(Error::not_found(KEYS[k]))
        }
    }

    pub(super) fn model_configure(&mut self, k: usize, options: &Options) -> Result<(), Error> {
        self.existing(k)?;
        let c = self.conns[k].as_ref().expect("live");
        let merged = c.overrides.overlay(options);
        merged.apply(&self.defaults)?;
        let mut metadata = c.metadata.clone();
        metadata.extend(options.metadata_map());
        metadata
            .iter()
            .fold(Options::new(), |o, (k, v)| o.metadata(k.clone(), v.clone()))
            .validate()?;
        let now = self.now;
        let modes = self.modes();
        let c = self.conns[k].as_mut().expect("live");
        c.overrides = merged.without_metadata();
        c.metadata = metadata;
        c.touched_at = now;
        let (state, counts) = (c.m.state, c.counts());
        self.expect(Some(k), EventKind::Configured, state, counts);
        self.modes_changed(modes);
        Ok(())
    }
}
