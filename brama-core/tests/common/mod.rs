//! Shared set-up for the rule tests: a registry on a [`ManualClock`], one connection
//! under [`KEY`], and a subscription that records every `StateChanged` event.
//!
//! Nothing here sleeps or measures time: the clock moves only when a test advances it.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use brama_core::engine::{ConnectionCell, Context, Registry};
use brama_core::{
    Cause, ClockSource, Config, Error, EventKind, EventType, Filter, Key, ManualClock, OpenOptions,
    Options, Settings, State, Status, Subscription,
};

/// The connection most tests drive.
pub const KEY: Key<'static> = Key::new("db");

/// One nanosecond: the resolution of every boundary test.
pub const NS: Duration = Duration::from_nanos(1);

/// A fresh connection cell for [`KEY`] in `cx`, at the clock's time, outside any
/// registry: for tests that drive a cell and its context directly.
pub fn cell(cx: &Context) -> ConnectionCell {
    let key = KEY.to_owned_key().expect("valid key");
    ConnectionCell::new(key, cx.clock.now(), &Options::new())
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A state change as the event reports it.
pub type Change = (State, State, Cause);

/// A registry on a manual clock plus a `StateChanged` recorder.
pub struct Harness {
    pub clock: ManualClock,
    pub reg: Registry,
    changes: Subscription,
    // Held only to switch off the lock-free report path (someone wants report events).
    _reports: Option<Subscription>,
}

impl Harness {
    /// A registry with these defaults and default settings; nothing registered.
    pub fn empty(cfg: Config) -> Harness {
        Harness::build(cfg, Settings::default(), false)
    }

    /// A registry with these defaults and settings; nothing registered.
    pub fn with_settings(cfg: Config, settings: Settings) -> Harness {
        Harness::build(cfg, settings, false)
    }

    /// A registry with these defaults and [`KEY`] registered (time is still 0).
    pub fn new(cfg: Config) -> Harness {
        let h = Harness::empty(cfg);
        h.reg.register(KEY, &Options::new()).expect("register");
        h
    }

    /// Like [`Harness::new`], but with a subscriber to `Success` and `Failure` events, so
    /// every report takes the locked slow path instead of the lock-free fast path.
    pub fn slow_reports(cfg: Config) -> Harness {
        let h = Harness::build(cfg, Settings::default(), true);
        h.reg.register(KEY, &Options::new()).expect("register");
        h
    }

    /// Both report paths, for tests that must hold on each.
    pub fn both_paths(cfg: Config) -> [(&'static str, Harness); 2] {
        [
            ("fast path", Harness::new(cfg.clone())),
            ("slow path", Harness::slow_reports(cfg)),
        ]
    }

    fn build(cfg: Config, settings: Settings, slow: bool) -> Harness {
        let clock = ManualClock::new();
        let reg =
            Registry::new(cfg, settings, ClockSource::from(clock.clone())).expect("valid config");
        let changes = reg
            .context()
            .bus
            .subscribe(Filter::new().event_type(EventType::StateChanged));
        let reports = slow.then(|| {
            reg.context()
                .bus
                .subscribe(Filter::new().event_types([EventType::Success, EventType::Failure]))
        });
        Harness {
            clock,
            reg,
            changes,
            _reports: reports,
        }
    }

    pub fn cx(&self) -> &Context {
        self.reg.context()
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub fn status(&self) -> Status {
        self.reg.status(KEY).expect("status")
    }

    pub fn state(&self) -> State {
        self.status().state
    }

    pub fn consecutive(&self) -> u32 {
        self.status().consecutive_failures
    }

    pub fn available(&self) -> bool {
        self.reg.available(KEY)
    }

    pub fn success(&self) {
        self.reg.success(KEY).expect("success");
    }

    pub fn failure(&self) {
        self.reg.failure(KEY, None).expect("failure");
    }

    pub fn failures(&self, n: u32) {
        for _ in 0..n {
            self.failure();
        }
    }

    pub fn open(&self, options: OpenOptions) {
        self.reg.open(KEY, &options).expect("open_circuit");
    }

    pub fn close(&self) {
        self.reg.close(KEY).expect("close_circuit");
    }

    pub fn reset(&self) {
        self.reg.reset(KEY).expect("reset_circuit");
    }

    /// Fails until the circuit opens (from `Unknown` or `Closed`).
    pub fn trip(&self) {
        let before = self.status().trips;
        for _ in 0..10_000 {
            self.failure();
            if self.state() == State::Open {
                assert_eq!(self.status().trips, before + 1, "one trip");
                return;
            }
        }
        panic!("the circuit never opened");
    }

    /// Moves an `Open` circuit to `HalfOpen`: advances to its deadline and checks once
    /// with a sweep (so no probe slot is taken). Returns the open duration that was
    /// in force.
    pub fn expire(&self) -> Duration {
        let status = self.status();
        assert_eq!(status.state, State::Open, "expire() needs an open circuit");
        let d = status.open_duration;
        let since = status.since_state_change;
        self.advance(d - since);
        self.reg.sweep();
        assert_eq!(self.state(), State::HalfOpen);
        d
    }

    /// Every `StateChanged` event since the last call, as `(from, to, cause)`.
    /// Also checks that each event's `state` (the state before) is its `from`.
    pub fn changes(&self) -> Vec<Change> {
        self.changes
            .try_iter()
            .map(|e| match e.kind {
                EventKind::StateChanged { from, to, cause } => {
                    assert_eq!(e.state, from, "event state is the state before: {e:?}");
                    (from, to, cause)
                }
                other => panic!("not a state change: {other:?}"),
            })
            .collect()
    }

    /// Every `StateChanged` event since the last call, whole.
    pub fn change_events(&self) -> Vec<brama_core::Event> {
        self.changes.try_iter().collect()
    }

    /// The wall-clock time the registry gives to clock reading `t` (it started at 0).
    pub fn wall(&self, t: Duration) -> SystemTime {
        self.cx().wall(brama_core::engine::clock::nanos(t))
    }

    /// The acquire error, or panics if the check was admitted.
    pub fn rejected(&self) -> Error {
        match self.reg.acquire(KEY) {
            Ok((_, t)) => panic!("admitted: {t:?}"),
            Err(e) => e,
        }
    }
}

/// Fixed expiry `expiry`, threshold `threshold`, everything else default.
pub fn fixed(threshold: u32, expiry: Duration) -> Config {
    Config {
        failure_threshold: threshold,
        expiry,
        ..Config::default()
    }
}

/// The `field` of an `InvalidConfig`, or panics.
pub fn invalid_field<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Err(Error::InvalidConfig { field, .. }) => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

/// Whether `r` is an `InvalidKey`.
pub fn is_invalid_key<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidKey { .. }))
}
