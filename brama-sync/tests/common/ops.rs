//! The operation interpreter shared by the model-based property test (`tests/model.rs`)
//! and the fuzz target (`fuzz/fuzz_targets/ops.rs`).
//!
//! A [`Harness`] drives a real `Brama` on a `ManualClock` (jitter 0) one [`Op`] at a
//! time and runs the same op on a reference model: per connection a
//! `brama_core::engine::rules::Machine` advanced only by the pure `rules::step`, plus the
//! counters, timestamps, handles and events that SPEC §1–§6 derive from it. After every
//! op it asserts that the two agree: the op's result (including the exact `Error`),
//! every key's `Status` (state, consecutive failures, totals, trips, open duration,
//! timestamps, metadata), the set of registered connections, and the events the op
//! emitted (kind, key, state before, counts, reason; sequence numbers gap-free).
//! Any disagreement panics with the op and both sides.
//!
//! Ops come from a proptest strategy (`tests/model.rs`) or from raw bytes
//! ([`decode`], used by the fuzz target).
//!
//! SPEC §11 is modelled too: modes (per connection, per scope, as a default), scope
//! defaults layered between the registry's and each connection's, fields cleared back
//! to "inherit", the scope operations, and a snapshot restored into a second registry
//! on another clock (the ops and their model are in `ops_scopes.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use brama_core::engine::rules::{next_open_duration, Input, Machine, Outcome, NEVER};
use brama_sync::{
    Brama, CallError, Cause, Connection, Counts, Error, Event, EventKind, EventType,
    ExpiryStrategy, Filter, Key, ManualClock, Mode, Options, Permit, ResolvedConfig, State, Status,
    Subscription,
};

#[path = "ops_scopes.rs"]
mod scopes;
pub use scopes::ScopeAct;
use scopes::{mode_step, open_options, SHADOW};

/// The keys ops refer to by index: an unscoped key, a scoped key with the same
/// identifier, an unscoped key spelled like the scoped one, and a second key of scope
/// "s" (all distinct).
pub const KEYS: [Key<'static>; 4] = [
    Key::new("a"),
    Key::scoped("s", "a"),
    Key::new("s:a"),
    Key::scoped("s", "b"),
];

/// The index of the key an op's byte names.
fn key_index(k: u8) -> usize {
    usize::from(k) % KEYS.len()
}

/// Registry-wide settings of one run (always valid; jitter is always 0).
#[derive(Clone, Debug)]
pub struct Setup {
    /// `failure_threshold`, 1 to 4.
    pub threshold: u32,
    /// `expiry` in milliseconds, at least 1.
    pub expiry_ms: u64,
    /// A progressive strategy: (initial ms, max ms, factor in tenths), or fixed.
    pub progressive: Option<(u64, u64, u8)>,
    /// `half_open_probes`, 1 to 3.
    pub probes: u32,
    /// `probe_timeout` in milliseconds, or the default (equal to expiry).
    pub probe_timeout_ms: Option<u64>,
    /// `inactive_threshold` in milliseconds, at least 1.
    pub inactive_ms: u64,
    /// `max_connections`.
    pub max_connections: Option<usize>,
    /// `auto_register`.
    pub auto_register: bool,
    /// Subscribe to `Success`/`Failure` too. When false those events are not wanted,
    /// so the cell's lock-free report fast paths run.
    pub observe_reports: bool,
}

/// A progressive expiry strategy as the ops spell it (possibly invalid).
#[derive(Clone, Copy, Debug)]
pub struct Progressive {
    /// `initial` in milliseconds (0 is invalid).
    pub initial_ms: u64,
    /// `max` in milliseconds (below initial is invalid).
    pub max_ms: u64,
    /// `factor` in tenths (below 10 is invalid).
    pub factor_tenths: u8,
}

/// A set of options for `register`, `configure` or `configure_defaults`; any field may
/// be invalid on purpose.
#[derive(Clone, Debug, Default)]
pub struct Cfg {
    /// `failure_threshold` (0 is invalid).
    pub threshold: Option<u32>,
    /// `expiry` in milliseconds (0 is invalid).
    pub expiry_ms: Option<u64>,
    /// `Some(None)`: fixed; `Some(Some(p))`: progressive.
    pub strategy: Option<Option<Progressive>>,
    /// `half_open_probes` (0 is invalid).
    pub probes: Option<u32>,
    /// `probe_timeout` in milliseconds (0 is invalid).
    pub probe_timeout_ms: Option<u64>,
    /// `Some(false)`: jitter 0.0 (valid); `Some(true)`: jitter 1.0 (invalid).
    pub jitter_bad: Option<bool>,
    /// A metadata entry: key index (0 is the empty, invalid key) and a value byte.
    pub metadata: Option<(u8, u8)>,
    /// `Options::mode`.
    pub mode: Option<Mode>,
    /// Fields cleared back to "inherit" (`inherit_*`), one bit each in the order
    /// threshold, expiry, strategy, probes, probe timeout, jitter, critical, mode; set
    /// before the fields above, so a field both set and cleared is set.
    pub inherit: u8,
}

impl Cfg {
    /// The options this spells.
    pub fn options(&self) -> Options {
        let mut o = Options::new();
        let clears: [fn(Options) -> Options; 8] = [
            Options::inherit_failure_threshold,
            Options::inherit_expiry,
            Options::inherit_expiry_strategy,
            Options::inherit_half_open_probes,
            Options::inherit_probe_timeout,
            Options::inherit_jitter,
            Options::inherit_critical,
            Options::inherit_mode,
        ];
        for (bit, clear) in clears.into_iter().enumerate() {
            if self.inherit & (1 << bit) != 0 {
                o = clear(o);
            }
        }
        if let Some(m) = self.mode {
            o = o.mode(m);
        }
        if let Some(n) = self.threshold {
            o = o.failure_threshold(n);
        }
        if let Some(ms) = self.expiry_ms {
            o = o.expiry(Duration::from_millis(ms));
        }
        if let Some(s) = self.strategy {
            o = o.expiry_strategy(strategy(s));
        }
        if let Some(n) = self.probes {
            o = o.half_open_probes(n);
        }
        if let Some(ms) = self.probe_timeout_ms {
            o = o.probe_timeout(Duration::from_millis(ms));
        }
        if let Some(bad) = self.jitter_bad {
            o = o.jitter(if bad { 1.0 } else { 0.0 });
        }
        if let Some((k, v)) = self.metadata {
            let key = ["", "team", "tier", "owner"][usize::from(k % 4)];
            o = o.metadata(key, format!("v{v}"));
        }
        o
    }
}

fn strategy(s: Option<Progressive>) -> ExpiryStrategy {
    match s {
        None => ExpiryStrategy::Fixed,
        Some(p) => ExpiryStrategy::Progressive {
            initial: Duration::from_millis(p.initial_ms),
            max: Duration::from_millis(p.max_ms),
            factor: f64::from(p.factor_tenths) / 10.0,
        },
    }
}

/// How a manual open lasts.
#[derive(Clone, Copy, Debug)]
pub enum OpenHow {
    /// The current open duration.
    Current,
    /// A given number of milliseconds (0 is invalid).
    ForMs(u64),
    /// Until closed by hand.
    Indefinitely,
}

/// One operation. Key arguments index [`KEYS`] (modulo 4); slot arguments index the
/// live permits or handles (modulo their number; a no-op when there are none).
#[derive(Clone, Debug)]
pub enum Op {
    /// `register(key, options)`.
    Register(u8, Cfg),
    /// `unregister(key)`.
    Unregister(u8),
    /// `available(key)`.
    Available(u8),
    /// `success(key)`.
    Success(u8),
    /// `failure(key)`, or `failure_with(key, "boom")`.
    Failure(u8, bool),
    /// `acquire(key)`, keeping the permit.
    Acquire(u8),
    /// `permit.success()`.
    PermitSuccess(u8),
    /// `permit.failure()`.
    PermitFailure(u8),
    /// Drop (or `ignore`) a permit.
    PermitDrop(u8),
    /// `connection(key)`, keeping the handle.
    Connect(u8),
    /// Drop a handle.
    Disconnect(u8),
    /// `handle.available()`.
    HandleAvailable(u8),
    /// `handle.success()`.
    HandleSuccess(u8),
    /// `handle.failure()`.
    HandleFailure(u8),
    /// `call(key, || Ok/Err)`.
    Call(u8, bool),
    /// Advance the manual clock by this many milliseconds.
    Advance(u32),
    /// `sweep()`.
    Sweep,
    /// `open_circuit(key, ...)`, with a reason or not.
    Open(u8, OpenHow, bool),
    /// `close_circuit(key)`.
    Close(u8),
    /// `reset_circuit(key)`.
    Reset(u8),
    /// `configure(key, options)`.
    Configure(u8, Cfg),
    /// `configure_defaults(options)`.
    ConfigureDefaults(Cfg),
    /// A scope operation on [`SCOPES`] (modulo 3).
    Scope(u8, ScopeAct),
    /// `configure_scope(scope, options)`.
    ConfigureScope(u8, Cfg),
    /// `set_mode(key, mode)`.
    SetMode(u8, Mode),
    /// `set_scope_mode(scope, mode)`.
    SetScopeMode(u8, Mode),
    /// `snapshot()`, restored into a second registry whose clock is this many seconds
    /// ahead, and compared with the model there.
    RoundTrip(u16),
    /// `restore(&snapshot())` into the same registry.
    RestoreSelf,
}

// ----- decoding raw bytes (the fuzz target) -------------------------------------------

struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.u8() & 1 == 1 {
            Some(f(self))
        } else {
            None
        }
    }

    fn cfg(&mut self) -> Cfg {
        Cfg {
            threshold: self.opt(|b| u32::from(b.u8() % 6)),
            expiry_ms: self.opt(|b| u64::from(b.u8() % 80)),
            strategy: self.opt(|b| {
                b.opt(|b| Progressive {
                    initial_ms: u64::from(b.u8() % 40),
                    max_ms: u64::from(b.u8() % 200),
                    factor_tenths: b.u8() % 40,
                })
            }),
            probes: self.opt(|b| u32::from(b.u8() % 4)),
            probe_timeout_ms: self.opt(|b| u64::from(b.u8() % 80)),
            jitter_bad: self.opt(|b| b.u8() & 1 == 1),
            metadata: self.opt(|b| (b.u8(), b.u8())),
            mode: self.opt(|b| b.mode()),
            inherit: self.opt(|b| b.u8()).unwrap_or(0),
        }
    }

    fn mode(&mut self) -> Mode {
        Mode::ALL[usize::from(self.u8()) % Mode::ALL.len()]
    }

    fn how(&mut self) -> OpenHow {
        match self.u8() % 3 {
            0 => OpenHow::Current,
            1 => OpenHow::ForMs(u64::from(self.u8() % 100)),
            _ => OpenHow::Indefinitely,
        }
    }
}

/// Decodes a setup and a sequence of ops from arbitrary bytes (every input decodes).
pub fn decode(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut b = Bytes { data, at: 0 };
    let expiry_ms = 1 + u64::from(b.u8() % 50);
    let setup = Setup {
        threshold: 1 + u32::from(b.u8() % 4),
        expiry_ms,
        progressive: b.opt(|b| {
            let initial = 1 + u64::from(b.u8() % 20);
            (initial, initial + u64::from(b.u8() % 100), 10 + b.u8() % 30)
        }),
        probes: 1 + u32::from(b.u8() % 3),
        probe_timeout_ms: b.opt(|b| 1 + u64::from(b.u8() % 60)),
        inactive_ms: 1 + u64::from(b.u8() % 200),
        max_connections: b.opt(|b| 1 + usize::from(b.u8() % 3)),
        auto_register: b.u8() & 1 == 1,
        observe_reports: b.u8() & 1 == 1,
    };
    let mut ops = Vec::new();
    while !b.done() && ops.len() < 512 {
        let op = match b.u8() % 28 {
            0 => Op::Register(b.u8(), b.cfg()),
            1 => Op::Unregister(b.u8()),
            2 => Op::Available(b.u8()),
            3 => Op::Success(b.u8()),
            4 => Op::Failure(b.u8(), b.u8() & 1 == 1),
            5 => Op::Acquire(b.u8()),
            6 => Op::PermitSuccess(b.u8()),
            7 => Op::PermitFailure(b.u8()),
            8 => Op::PermitDrop(b.u8()),
            9 => Op::Connect(b.u8()),
            10 => Op::Disconnect(b.u8()),
            11 => Op::HandleAvailable(b.u8()),
            12 => Op::HandleSuccess(b.u8()),
            13 => Op::HandleFailure(b.u8()),
            14 => Op::Call(b.u8(), b.u8() & 1 == 1),
            15 => Op::Advance(u32::from(b.u8())),
            16 => Op::Sweep,
            17 => {
                let k = b.u8();
                let how = b.how();
                Op::Open(k, how, b.u8() & 1 == 1)
            }
            18 => Op::Close(b.u8()),
            19 => Op::Reset(b.u8()),
            20 => Op::Configure(b.u8(), b.cfg()),
            21 => Op::ConfigureDefaults(b.cfg()),
            22 => {
                let scope = b.u8();
                let act = match b.u8() % 4 {
                    0 => {
                        let how = b.how();
                        ScopeAct::Open(how, b.u8() & 1 == 1)
                    }
                    1 => ScopeAct::Close,
                    2 => ScopeAct::Reset,
                    _ => ScopeAct::Unregister,
                };
                Op::Scope(scope, act)
            }
            23 => Op::ConfigureScope(b.u8(), b.cfg()),
            24 => Op::SetMode(b.u8(), b.mode()),
            25 => Op::SetScopeMode(b.u8(), b.mode()),
            26 => Op::RoundTrip(u16::from(b.u8())),
            _ => Op::RestoreSelf,
        };
        ops.push(op);
    }
    (setup, ops)
}

/// Runs `ops` on a fresh harness built from `setup`, checking after every op.
pub fn run(setup: &Setup, ops: &[Op]) {
    let mut h = Harness::new(setup.clone());
    for op in ops {
        h.apply(op);
    }
    h.finish();
}

// ----- the model ----------------------------------------------------------------------

/// A ticket as the model sees it: the cycle a permit was admitted in, and whether it
/// holds a probe slot.
#[derive(Clone, Copy, Debug)]
struct Ticket {
    gen: u32,
    probe: bool,
}

/// The reference state of one registered connection.
#[derive(Clone, Debug)]
struct Conn {
    serial: u64,
    m: Machine,
    overrides: Options,
    metadata: BTreeMap<String, String>,
    successes: u64,
    failures: u64,
    rejected: u64,
    trips: u64,
    registered_at: u64,
    last_success: Option<u64>,
    last_failure: Option<u64>,
    opened_at: Option<u64>,
    touched_at: u64,
    changed_at: u64,
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

    fn last_activity(&self) -> u64 {
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
struct Expected {
    key: Option<usize>,
    kind: EventKind,
    state: State,
    counts: Counts,
    reason: Option<String>,
}

/// A real `Brama` and its reference model, stepped together.
pub struct Harness {
    setup: Setup,
    clock: ManualClock,
    brama: Brama,
    sub: Subscription,
    last_seq: u64,
    now: u64,
    defaults: ResolvedConfig,
    /// The registry's default mode.
    default_mode: Mode,
    /// Each scope's defaults (`configure_scope`), never empty.
    scopes: BTreeMap<&'static str, Options>,
    conns: [Option<Conn>; 4],
    next_serial: u64,
    permits: Vec<(Permit<'static>, usize, u64, Ticket)>,
    handles: Vec<(Connection, usize, u64)>,
    expected: Vec<Expected>,
    op: String,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether two errors are the same variant (and, for `InvalidConfig`, the same field;
/// for `Rejected`, the same state and retry time).
fn same_error(real: &Error, model: &Error) -> bool {
    match (real, model) {
        (Error::InvalidConfig { field: a, .. }, Error::InvalidConfig { field: b, .. }) => a == b,
        (Error::InvalidKey { .. }, Error::InvalidKey { .. }) => true,
        _ => real == model,
    }
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
    fn builder(setup: &Setup, clock: &ManualClock) -> brama_sync::Builder {
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
    fn config(&self, k: usize) -> ResolvedConfig {
        let c = self.conns[k].as_ref().expect("live");
        let base = match self.template(k) {
            Some(t) => t.apply(&self.defaults).expect("a template stays valid"),
            None => self.defaults.clone(),
        };
        c.overrides
            .apply(&base)
            .expect("overrides stay valid over any valid defaults")
    }

    fn live(&self) -> usize {
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

    fn expect(&mut self, key: Option<usize>, kind: EventKind, state: State, counts: Counts) {
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
    fn model_register(&mut self, k: usize, options: &Options) -> Result<(), Error> {
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
    fn model_lookup(&mut self, k: usize) -> Result<u64, Error> {
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
    fn model_step(&mut self, k: usize, input: Input, reason: Option<&str>) -> (Outcome, Machine) {
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
    fn model_check(&mut self, k: usize) -> Result<Ticket, Error> {
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

    fn model_report(&mut self, k: usize, success: bool, gen: Option<u32>, reason: Option<&str>) {
        let input = if success {
            Input::Success(gen, false)
        } else {
            Input::Failure(gen, false)
        };
        self.model_step(k, input, reason);
    }

    fn model_remove(&mut self, k: usize, kind: EventKind) -> Conn {
        let c = self.conns[k].take().expect("live");
        self.expect(Some(k), kind, c.m.state, c.counts());
        c
    }

    fn model_manual(&mut self, k: usize, input: Input, reason: Option<&str>) {
        self.model_step(k, input, reason);
        let now = self.now;
        self.conns[k].as_mut().expect("live").touched_at = now;
    }

    /// A `Connection` handle (or the one inside an owned `Permit`) was dropped: that is
    /// activity up to now (SPEC §6), if its connection still lives.
    fn model_handle_dropped(&mut self, k: usize, serial: u64) {
        let now = self.now;
        if let Some(c) = self.conns[k].as_mut().filter(|c| c.serial == serial) {
            c.touched_at = now;
        }
    }

    fn existing(&self, k: usize) -> Result<(), Error> {
        if self.conns[k].is_some() {
            Ok(())
        } else {
            Err(Error::not_found(KEYS[k]))
        }
    }

    fn check_result<T: std::fmt::Debug>(
        &self,
        what: &str,
        real: &Result<T, Error>,
        model: &Result<(), Error>,
    ) {
        let ok = match (real, model) {
            (Ok(_), Ok(())) => true,
            (Err(a), Err(b)) => same_error(a, b),
            _ => false,
        };
        assert!(ok, "{}: {what}: real {real:?}, model {model:?}", self.op);
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

    fn model_configure(&mut self, k: usize, options: &Options) -> Result<(), Error> {
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

    /// Compares every key's status, the registry's listing and the op's events.
    fn compare(&mut self) {
        for (k, key) in KEYS.iter().enumerate() {
            match self.brama.status(*key) {
                Ok(status) => self.check_status_value(k, &status),
                Err(e) => assert!(
                    e == Error::not_found(*key) && self.conns[k].is_none(),
                    "{}: status of key {k}: real {e:?}, model {:?}",
                    self.op,
                    self.conns[k]
                ),
            }
        }
        let mut listed: Vec<(Option<String>, String)> = self
            .brama
            .connections()
            .into_iter()
            .map(|s| (s.scope, s.identifier))
            .collect();
        listed.sort();
        let mut model: Vec<(Option<String>, String)> = (0..KEYS.len())
            .filter(|&k| self.conns[k].is_some())
            .map(|k| {
                (
                    KEYS[k].scope().map(str::to_owned),
                    KEYS[k].identifier().to_owned(),
                )
            })
            .collect();
        model.sort();
        assert_eq!(listed, model, "{}: connections()", self.op);
        assert_eq!(self.brama.len(), self.live(), "{}: len()", self.op);
        self.check_events();
    }

    fn check_status_value(&self, k: usize, s: &Status) {
        let c = self.conns[k]
            .as_ref()
            .unwrap_or_else(|| panic!("{}: real has key {k}, model does not: {s:?}", self.op));
        let op = &self.op;
        let cfg = self.config(k);
        assert_eq!(s.identifier, KEYS[k].identifier(), "{op}");
        assert_eq!(s.scope.as_deref(), KEYS[k].scope(), "{op}");
        assert_eq!(s.state, c.m.state, "{op}: state of key {k}");
        assert_eq!(
            s.consecutive_failures, c.m.consecutive,
            "{op}: consecutive failures of key {k}"
        );
        assert_eq!(
            (
                s.total_successes,
                s.total_failures,
                s.total_rejected,
                s.trips
            ),
            (c.successes, c.failures, c.rejected, c.trips),
            "{op}: totals (successes, failures, rejected, trips) of key {k}"
        );
        let open = next_open_duration(&c.m, &cfg);
        let open = if open == NEVER {
            Duration::MAX
        } else {
            Duration::from_nanos(open)
        };
        assert_eq!(s.open_duration, open, "{op}: open duration of key {k}");
        let at = |t: Option<u64>| t.map(|t| Duration::from_nanos(t - c.registered_at));
        let since_reg = |t: Option<std::time::SystemTime>| {
            t.map(|t| {
                t.duration_since(s.registered_at)
                    .expect("after registration")
            })
        };
        assert_eq!(
            since_reg(s.last_success_at),
            at(c.last_success),
            "{op}: last success of key {k}"
        );
        assert_eq!(
            since_reg(s.last_failure_at),
            at(c.last_failure),
            "{op}: last failure of key {k}"
        );
        assert_eq!(
            since_reg(s.opened_at),
            at(c.opened_at),
            "{op}: opened at of key {k}"
        );
        assert_eq!(
            since_reg(Some(s.last_state_change_at)),
            at(Some(c.changed_at)),
            "{op}: last state change of key {k}"
        );
        assert_eq!(
            s.since_state_change,
            Duration::from_nanos(self.now - c.changed_at),
            "{op}: since state change of key {k}"
        );
        assert_eq!(s.metadata, c.metadata, "{op}: metadata of key {k}");
        assert_eq!(s.mode, self.mode_of(k), "{op}: mode of key {k}");
    }

    fn check_events(&mut self) {
        let real: Vec<Event> = self.sub.try_iter().collect();
        let op = &self.op;
        for e in &real {
            assert_eq!(
                e.seq,
                self.last_seq + 1,
                "{op}: sequence numbers are gap-free: {real:?}"
            );
            self.last_seq = e.seq;
        }
        assert_eq!(self.sub.dropped(), 0, "{op}: the subscriber lost events");
        let key_of = |e: &Event| {
            e.key()
                .map(|key| KEYS.iter().position(|k| *k == key).expect("one of KEYS"))
        };
        // Within one op, events of different keys may interleave in any order (the sweep
        // visits the map in its own order); each key's events, and the registry-wide
        // ones, must come exactly in the model's order.
        for key in [None, Some(0), Some(1), Some(2), Some(3)] {
            let got: Vec<Expected> = real
                .iter()
                .filter(|e| key_of(e) == key)
                .map(|e| Expected {
                    key,
                    kind: e.kind.clone(),
                    state: e.state,
                    counts: e.counts,
                    reason: e.reason.clone(),
                })
                .collect();
            let want: Vec<Expected> = self
                .expected
                .iter()
                .filter(|e| e.key == key)
                .cloned()
                .collect();
            assert_eq!(got, want, "{op}: events of key {key:?}");
        }
        if let Some(i) = real
            .iter()
            .position(|e| matches!(e.kind, EventKind::Swept { .. }))
        {
            assert_eq!(
                i + 1,
                real.len(),
                "{op}: Swept is the last event of a sweep"
            );
        }
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
