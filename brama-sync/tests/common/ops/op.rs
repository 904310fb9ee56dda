//! The inputs of a run: its settings ([`Setup`]), the [`Op`]s, and the option sets they carry.

use std::time::Duration;

use brama_sync::{ExpiryStrategy, Mode, Options};

use super::ScopeAct;

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

pub(super) fn strategy(s: Option<Progressive>) -> ExpiryStrategy {
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
