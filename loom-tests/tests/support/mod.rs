//! Shared set-up for the loom models: a runner that counts executions, and a circuit
//! built inside the model with a manual clock and a `StateChanged` subscription.
//!
//! Each test file declares `mod support;` and uses only part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brama_core::engine::{ConnectionCell, Context};
use brama_core::{
    Cause, ClockSource, Config, Event, EventKind, EventType, Filter, Key, ManualClock, Options,
    State, Subscription,
};
use loom::sync::Arc;

/// The open duration of `Config::default()`, which is also its probe timeout.
pub const EXPIRY: Duration = Duration::from_secs(60);

/// Runs `f` under loom, every interleaving within the preemption bound.
///
/// `LOOM_MAX_PREEMPTIONS` sets the bound (2 when unset, so a bare run stays small).
/// With `BRAMA_LOOM_STATS` set, prints one line: executions explored and time taken
/// (run with `-- --nocapture` to see it).
pub fn check(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    // A std counter, outside the model: one increment per execution.
    let executions = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&executions);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    if std::env::var_os("BRAMA_LOOM_STATS").is_some() {
        eprintln!(
            "loom {name}: {} executions, {:.2?} (preemption bound {})",
            executions.load(Ordering::Relaxed),
            start.elapsed(),
            builder.preemption_bound.unwrap_or(0),
        );
    }
}

/// One circuit, built inside a model.
pub struct Circuit {
    pub clock: ManualClock,
    pub cx: Arc<Context>,
    pub cell: Arc<ConnectionCell>,
    pub events: Subscription,
}

impl Circuit {
    /// A fresh `Unknown` circuit "db" with `cfg`, at time zero, whose state changes are
    /// recorded.
    pub fn new(cfg: Config) -> Circuit {
        let clock = ManualClock::new();
        let cx = Context::new(cfg, ClockSource::from(clock.clone()), 16);
        let events = cx
            .bus
            .subscribe(Filter::new().event_type(EventType::StateChanged));
        let key = Key::new("db").to_owned_key().expect("valid key");
        let cell = ConnectionCell::new(key, clock.nanos(), &Options::new());
        Circuit {
            clock,
            cx: Arc::new(cx),
            cell: Arc::new(cell),
            events,
        }
    }

    /// A circuit with threshold 1 and `probes` probe slots, tripped at time zero and
    /// with its open duration just passed: the next check promotes it to `HalfOpen`.
    pub fn expired(probes: u32) -> Circuit {
        let c = Circuit::new(Config {
            failure_threshold: 1,
            half_open_probes: probes,
            ..Config::default()
        });
        c.cell.failure(&c.cx, None, None).expect("registered");
        assert_eq!(c.cell.state(), State::Open);
        c.clock.advance(EXPIRY);
        c.changes();
        c
    }

    /// The state changes published since the last call.
    pub fn changes(&self) -> Vec<(State, State, Cause)> {
        changes(&self.events)
    }
}

/// The `StateChanged` events queued on `sub`, as `(from, to, cause)`.
pub fn changes(sub: &Subscription) -> Vec<(State, State, Cause)> {
    sub.try_iter()
        .filter_map(|e: Event| match e.kind {
            EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
            _ => None,
        })
        .collect()
}

/// `d` in the clock's nanoseconds.
pub fn nanos(d: Duration) -> u64 {
    brama_core::engine::clock::nanos(d)
}
