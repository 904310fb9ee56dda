//! The [`Harness`]: a real `Brama` and the model, built from a [`Setup`] and driven op by op.

use std::collections::BTreeMap;
use std::time::Duration;

use brama_core::engine::rules::Input;
use brama_sync::{
    Brama, CallError, Connection, Counts, Error, EventKind, EventType, Filter, ManualClock, Mode,
    Options, Permit, ResolvedConfig, State, Subscription,
};

use super::check::same_error;
use super::model::{Conn, Expected, Ticket};
use super::op::strategy;
use super::scopes::{mode_step, open_options};
use super::{key_index, ms, nanos, Op, Progressive, Setup, KEYS};

/// A real `Brama` and its reference model, stepped together.
pub struct Harness {
    pub(super) setup: Setup,
    pub(super) clock: ManualClock,
    pub(super) brama: Brama,
    pub(super) sub: Subscription,
    pub(super) last_seq: u64,
    pub(super) now: u64,
    pub(super) defaults: ResolvedConfig,
    /// The registry's default mode.
    pub(super) default_mode: Mode,
    /// Each scope's defaults (`configure_scope`), never empty.
    pub(super) scopes: BTreeMap<&'static str, Options>,
    pub(super) conns: [Option<Conn>; 4],
    pub(super) next_serial: u64,
    pub(super) permits: Vec<(Permit<'static>, usize, u64, Ticket)>,
    pub(super) handles: Vec<(Connection, usize, u64)>,
    pub(super) expected: Vec<Expected>,
    pub(super) op: String,
}

impl Harness {
    /// A fresh `Brama` with `setup` and its model.
    pub fn new(setup: Setup) -> Harness {
        let clock = ManualClock::new();
        let brama = Self::builder(&setup, &clock)
            .build()
            .expect("a valid setup builds");
        let defaults = brama.defaults();
        let filter = if setup.observe_reports {
            Filter::new()
        } else {
            Filter::new().event_types(
                EventType::ALL
                    .into_iter()
                    .filter(|t| !matches!(t, EventType::Success | EventType::Failure)),
            )
        };
        let sub = brama.subscribe(filter);
        Harness {
            setup,
            clock,
            brama,
            sub,
            last_seq: 0,
            now: 0,
            defaults,
            default_mode: Mode::Normal,
            scopes: BTreeMap::new(),
            conns: [None, None, None, None],
            next_serial: 0,
            permits: Vec::new(),
            handles: Vec::new(),
            expected: Vec::new(),
            op: String::new(),
        }
    }

    /// The builder of `setup`'s registry on `clock`.
    pub(super) fn builder(setup: &Setup, clock: &ManualClock) -> brama_sync::Builder {
        let mut b = Brama::builder()
            .failure_threshold(setup.threshold)
            .expiry(ms(setup.expiry_ms))
            .half_open_probes(setup.probes)
            .inactive_threshold(ms(setup.inactive_ms))
            // The janitor must never sweep on its own: every sweep is an op.
            .cleanup_interval(Duration::from_secs(3600))
            .auto_register(setup.auto_register)
            // Drained after every op; room for any one op's events (checked: none dropped).
            .event_queue_capacity(256)
            .clock(clock.clone());
        if let Some((initial, max, factor)) = setup.progressive {
            b = b.expiry_strategy(strategy(Some(Progressive {
                initial_ms: initial,
                max_ms: max,
                factor_tenths: factor,
            })));
        }
        if let Some(t) = setup.probe_timeout_ms {
            b = b.probe_timeout(ms(t));
        }
        if let Some(max) = setup.max_connections {
            b = b.max_connections(max);
        }
        b
    }

    /// The configuration of key `k`: the registry defaults, its scope's, its own.
    pub(super) fn config(&self, k: usize) -> ResolvedConfig {
        let c = self.conns[k].as_ref().expect("live");
        let base = match self.template(k) {
            Some(t) => t.apply(&self.defaults).expect("a template stays valid"),
            None => self.defaults.clone(),
        };
        c.overrides
            .apply(&base)
            .expect("overrides stay valid over any valid defaults")
    }

    pub(super) fn live(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    fn is_live(&self, k: usize, serial: u64) -> bool {
        self.conns[k].as_ref().is_some_and(|c| c.serial == serial)
    }

    fn handles_of(&self, k: usize, serial: u64) -> usize {
        self.permits
            .iter()
            .filter(|p| p.1 == k && p.2 == serial)
            .count()
            + self
                .handles
                .iter()
                .filter(|h| h.1 == k && h.2 == serial)
                .count()
    }

    /// Applies one op to both sides and compares everything.
    pub fn apply(&mut self, op: &Op) {
        self.op = format!("{op:?}");
        self.expected.clear();
        match op {
            Op::Register(k, cfg) => {
                let k = key_index(*k);
                let options = cfg.options();
                let real = self.brama.register(KEYS[k], options.clone());
                let model = self.model_register(k, &options);
                self.check_result("register", &real, &model);
                if let Ok(status) = &real {
                    self.check_status_value(k, status);
                }
            }
            Op::Unregister(k) => {
                let k = key_index(*k);
                let real = self.brama.unregister(KEYS[k]);
                let model = self.existing(k);
                self.check_result("unregister", &real, &model);
                if let Ok(status) = &real {
                    self.check_status_value(k, status);
                    self.model_remove(k, EventKind::Unregistered);
                }
            }
            Op::Available(k) => {
                let k = key_index(*k);
                let real = self.brama.available(KEYS[k]);
                let model = match self.model_lookup(k) {
                    Ok(_) => self.model_check(k).is_ok(),
                    Err(_) => false,
                };
                assert_eq!(real, model, "{}: available", self.op);
            }
            Op::Success(k) => {
                let k = key_index(*k);
                let real = self.brama.success(KEYS[k]);
                let model = self
                    .model_lookup(k)
                    .map(|_| self.model_report(k, true, None, None));
                self.check_result("success", &real, &model);
            }
            Op::Failure(k, with_reason) => {
                let k = key_index(*k);
                let reason = with_reason.then_some("boom");
                let real = match reason {
                    Some(r) => self.brama.failure_with(KEYS[k], r),
                    None => self.brama.failure(KEYS[k]),
                };
                let model = self
                    .model_lookup(k)
                    .map(|_| self.model_report(k, false, None, reason));
                self.check_result("failure", &real, &model);
            }
            Op::Acquire(k) => {
                let k = key_index(*k);
                let real = self.brama.acquire(KEYS[k]);
                let model = self.model_lookup(k).and_then(|serial| {
                    let checked = self.model_check(k).map(|t| (serial, t));
                    if checked.is_err() {
                        // `acquire` makes a handle, which is dropped with the rejection.
                        self.model_handle_dropped(k, serial);
                    }
                    checked
                });
                match (real, model) {
                    (Ok(permit), Ok((serial, ticket))) => {
                        assert_eq!(
                            permit.is_probe(),
                            ticket.probe,
                            "{}: permit holds a probe slot",
                            self.op
                        );
                        self.permits.push((permit, k, serial, ticket));
                    }
                    (real, model) => {
                        self.check_result("acquire", &real.map(|_| ()), &model.map(|_| ()))
                    }
                }
            }
            Op::PermitSuccess(i) | Op::PermitFailure(i) | Op::PermitDrop(i) => {
                if self.permits.is_empty() {
                    return self.compare();
                }
                let i = usize::from(*i) % self.permits.len();
                let (permit, k, serial, ticket) = self.permits.swap_remove(i);
                let live = self.is_live(k, serial);
                match op {
                    Op::PermitDrop(_) => {
                        drop(permit);
                        if live && ticket.probe {
                            self.model_step(k, Input::Release(ticket.gen), None);
                        }
                        self.model_handle_dropped(k, serial);
                    }
                    _ => {
                        let success = matches!(op, Op::PermitSuccess(_));
                        let real = if success {
                            permit.success()
                        } else {
                            permit.failure()
                        };
                        let model = if live {
                            self.model_report(k, success, Some(ticket.gen), None);
                            Ok(())
                        } else {
                            Err(Error::not_found(KEYS[k]))
                        };
                        self.model_handle_dropped(k, serial);
                        self.check_result("permit report", &real, &model);
                    }
                }
            }
            Op::Connect(k) => {
                let k = key_index(*k);
                let real = self.brama.connection(KEYS[k]);
                let model = self.model_lookup(k);
                match (real, model) {
                    (Ok(handle), Ok(serial)) => self.handles.push((handle, k, serial)),
                    (real, model) => {
                        self.check_result("connection", &real.map(|_| ()), &model.map(|_| ()))
                    }
                }
            }
            Op::Disconnect(i) => {
                if !self.handles.is_empty() {
                    let i = usize::from(*i) % self.handles.len();
                    let (_, k, serial) = self.handles.swap_remove(i);
                    self.model_handle_dropped(k, serial);
                }
            }
            Op::HandleAvailable(i) | Op::HandleSuccess(i) | Op::HandleFailure(i) => {
                if self.handles.is_empty() {
                    return self.compare();
                }
                let i = usize::from(*i) % self.handles.len();
                let (k, serial) = (self.handles[i].1, self.handles[i].2);
                let live = self.is_live(k, serial);
                match op {
                    Op::HandleAvailable(_) => {
                        let real = self.handles[i].0.available();
                        let model = live && self.model_check(k).is_ok();
                        assert_eq!(real, model, "{}: handle available", self.op);
                    }
                    _ => {
                        let success = matches!(op, Op::HandleSuccess(_));
                        let h = &self.handles[i].0;
                        let real = if success { h.success() } else { h.failure() };
                        let model = if live {
                            self.model_report(k, success, None, None);
                            Ok(())
                        } else {
                            Err(Error::not_found(KEYS[k]))
                        };
                        self.check_result("handle report", &real, &model);
                    }
                }
                let real_status = self.handles[i].0.status();
                assert_eq!(
                    real_status.is_ok(),
                    live,
                    "{}: a handle's status answers only while its connection lives",
                    self.op
                );
            }
            Op::Call(k, ok) => {
                let k = key_index(*k);
                let real: Result<u8, CallError<u8>> =
                    self.brama
                        .call(KEYS[k], || if *ok { Ok(1) } else { Err(2) });
                let serial = self.model_lookup(k);
                let model = serial.clone().and_then(|_| self.model_check(k));
                match (&real, model) {
                    (Ok(1), Ok(t)) if *ok => self.model_report(k, true, Some(t.gen), None),
                    (Err(CallError::Failed(2)), Ok(t)) if !*ok => {
                        self.model_report(k, false, Some(t.gen), None)
                    }
                    (Err(CallError::Rejected(e)), Err(m)) if same_error(e, &m) => {}
                    (real, model) => panic!("{}: call: real {real:?}, model {model:?}", self.op),
                }
                // The call's permit, and the handle inside it, ended with the call.
                if let Ok(serial) = serial {
                    self.model_handle_dropped(k, serial);
                }
            }
            Op::Advance(n) => {
                let d = ms(u64::from(*n));
                self.clock.advance(d);
                self.now += nanos(d);
            }
            Op::Sweep => {
                let report = self.brama.sweep();
                let now = self.now;
                let examined = self.live();
                let inactive = nanos(ms(self.setup.inactive_ms));
                let mut evicted = 0;
                for k in 0..KEYS.len() {
                    let Some(c) = &self.conns[k] else { continue };
                    let (m, serial, idle) = (c.m, c.serial, now.saturating_sub(c.last_activity()));
                    // A connection with a mode of its own (not Normal) is kept.
                    let own_mode = c.overrides.mode_value().is_some_and(|m| m != Mode::Normal);
                    let (m2, fx) = mode_step(self.mode_of(k), m, Input::Tick, now, &self.config(k));
                    // A quiet change counts too: a probe timeout frees its slot without
                    // an event since rule 4's amendment (SPEC §2), and the sweep applies
                    // it then, under the configuration of that moment.
                    if fx.changes().next().is_some() || m2 != m {
                        self.model_step(k, Input::Tick, None);
                    } else if matches!(m.state, State::Unknown | State::Closed)
                        && self.handles_of(k, serial) == 0
                        && idle > inactive
                        && !own_mode
                    {
                        self.model_remove(k, EventKind::Evicted);
                        evicted += 1;
                    }
                }
                self.expect(
                    None,
                    EventKind::Swept { examined, evicted },
                    State::Unknown,
                    Counts::default(),
                );
                assert_eq!(
                    (report.examined, report.evicted),
                    (examined, evicted),
                    "{}: sweep report",
                    self.op
                );
            }
            Op::Open(k, how, with_reason) => {
                let k = key_index(*k);
                let reason = with_reason.then_some("maintenance");
                let options = open_options(*how, reason);
                let real = self.brama.open_circuit(KEYS[k], options.clone());
                let model = options.validate().and_then(|()| self.existing(k));
                if model.is_ok() {
                    self.model_manual(k, Input::Open(options.open_duration()), reason);
                }
                self.check_result("open_circuit", &real, &model);
            }
            Op::Close(k) | Op::Reset(k) => {
                let k = key_index(*k);
                let (real, input) = match op {
                    Op::Close(_) => (self.brama.close_circuit(KEYS[k]), Input::Close),
                    _ => (self.brama.reset_circuit(KEYS[k]), Input::Reset),
                };
                let model = self.existing(k);
                if model.is_ok() {
                    self.model_manual(k, input, None);
                }
                self.check_result("close/reset", &real, &model);
            }
            Op::Configure(k, cfg) => {
                let k = key_index(*k);
                let options = cfg.options();
                let real = self.brama.configure(KEYS[k], options.clone());
                let model = self.model_configure(k, &options);
                self.check_result("configure", &real, &model);
            }
            Op::ConfigureDefaults(cfg) => {
                let options = cfg.options();
                let real = self.brama.configure_defaults(options.clone());
                let model = if options.metadata_map().is_empty() {
                    options
                        .apply(&options.reset_inherited(&self.defaults))
                        .map(|next| {
                            let modes = self.modes();
                            self.defaults = next;
                            if let Some(m) = options
                                .mode_value()
                                .or(options.inherits_mode().then_some(Mode::Normal))
                            {
                                self.default_mode = m;
                            }
                            self.modes_changed(modes);
                            self.expect(
                                None,
                                EventKind::Configured,
                                State::Unknown,
                                Counts::default(),
                            );
                        })
                } else {
                    Err(Error::InvalidConfig {
                        field: "metadata",
                        reason: String::new(),
                    })
                };
                self.check_result("configure_defaults", &real, &model);
                assert_eq!(
                    self.brama.defaults(),
                    self.defaults,
                    "{}: defaults",
                    self.op
                );
            }
            Op::Scope(..)
            | Op::ConfigureScope(..)
            | Op::SetMode(..)
            | Op::SetScopeMode(..)
            | Op::RoundTrip(_)
            | Op::RestoreSelf => self.apply_operation(op),
        }
        self.compare();
    }

    /// Drops every permit and handle (checking the model's releases), sweeps once more,
    /// and drops the registry.
    pub fn finish(mut self) {
        while !self.permits.is_empty() {
            self.apply(&Op::PermitDrop(0));
        }
        while !self.handles.is_empty() {
            self.apply(&Op::Disconnect(0));
        }
        self.apply(&Op::Sweep);
    }
}
