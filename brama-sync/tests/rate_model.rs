//! SPEC §8 (issue #15): brama against a sequential reference model of the rate
//! policies. Random reports (with durations), checks and clock moves drive both; after
//! every step the state, the window's rates and calls, and the totals must agree.
//!
//! The model is written from the SPEC, not from the engine: a count window is the last
//! `n` outcomes in a `VecDeque`, a time window every outcome stamped with its epoch
//! (`now / (d / 10)`) kept while it is one of the last ten epochs.

use std::collections::VecDeque;
use std::time::Duration;

use brama_sync::{Brama, Janitor, ManualClock, Options, State, TripPolicy, Window};
use proptest::prelude::*;

const EXPIRY_MS: u64 = 1_000;
const PROBE_TIMEOUT_MS: u64 = 400;
const PROBES: u32 = 2;

#[derive(Clone, Copy, Debug)]
struct Params {
    failure_rate: Option<f64>,
    slow: Option<(u64, f64)>,
    minimum: u32,
    window: Win,
}

#[derive(Clone, Copy, Debug)]
enum Win {
    Count(u32),
    TimeMs(u64),
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Success {
        ms: u64,
        by_handle: bool,
    },
    Failure {
        ms: u64,
        by_handle: bool,
    },
    Check,
    Advance(u64),
    /// A time window's whole tag cycle (1,023 windows; for a count window 1,023 s),
    /// plus this many ms: a bucket untouched since then has the current tag again.
    AdvanceTagCycle(u64),
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tallies {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Tallies {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failure);
        self.slow += u32::from(slow);
    }
    fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.failures) / f64::from(self.calls))
    }
    fn slow_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.slow) / f64::from(self.calls))
    }
}

/// The SPEC's rules for one connection under a rate policy.
struct Model {
    p: Params,
    now: u64, // ms
    state: State,
    // (epoch or sequence, failure, slow)
    window: VecDeque<(u64, bool, bool)>,
    probes: Tallies,
    in_flight: u32,
    probe_at: u64,
    open_until: u64,
    successes: u64,
    failures: u64,
    rejected: u64,
    trips: u64,
}

impl Model {
    fn new(p: Params) -> Model {
        Model {
            p,
            now: 0,
            state: State::Unknown,
            window: VecDeque::new(),
            probes: Tallies::default(),
            in_flight: 0,
            probe_at: 0,
            open_until: 0,
            successes: 0,
            failures: 0,
            rejected: 0,
            trips: 0,
        }
    }

    fn width_ms(&self) -> Option<u64> {
        match self.p.window {
            Win::TimeMs(d) => Some(d / 10),
            Win::Count(_) => None,
        }
    }

    fn window_tallies(&self) -> Tallies {
        let mut t = Tallies::default();
        let epoch = self.width_ms().map(|w| self.now / w);
        for &(stamp, f, s) in &self.window {
            if epoch.is_none_or(|e| stamp + 10 > e) {
                t.add(f, s);
            }
        }
        t
    }

    fn minimum(&self) -> u32 {
        match self.p.window {
            Win::Count(n) => self.p.minimum.min(n),
            Win::TimeMs(_) => self.p.minimum,
        }
    }

    fn crossed(&self, t: Tallies) -> bool {
        let calls = f64::from(t.calls);
        t.calls > 0
            && (self
                .p
                .failure_rate
                .is_some_and(|r| f64::from(t.failures) >= r * calls)
                || self
                    .p
                    .slow
                    .is_some_and(|(_, r)| f64::from(t.slow) >= r * calls))
    }

    fn open(&mut self) {
        self.state = State::Open;
        self.open_until = self.now + EXPIRY_MS;
        self.in_flight = 0;
        self.trips += 1;
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.window.clear();
        self.probes = Tallies::default();
    }

    fn decide_probes(&mut self) {
        if self.probes.calls >= PROBES {
            if self.crossed(self.probes) {
                self.open();
            } else {
                self.close();
            }
        }
    }

    fn time_rules(&mut self) {
        if self.state == State::Open && self.now >= self.open_until {
            self.state = State::HalfOpen;
            self.window.clear();
            self.probes = Tallies::default();
            self.in_flight = 0;
        }
        if self.state == State::HalfOpen
            && self.in_flight > 0
            && self.now - self.probe_at >= PROBE_TIMEOUT_MS
        {
            for _ in 0..self.in_flight {
                self.probes.add(true, false);
            }
            self.in_flight = 0;
            self.decide_probes();
        }
    }

    fn check(&mut self) -> bool {
        self.time_rules();
        match self.state {
            State::Unknown | State::Closed => true,
            State::Open => {
                self.rejected += 1;
                false
            }
            State::HalfOpen => {
                if self.in_flight + self.probes.calls < PROBES {
                    self.in_flight += 1;
                    self.probe_at = self.now;
                    true
                } else {
                    self.rejected += 1;
                    false
                }
            }
        }
    }

    fn report(&mut self, failure: bool, ms: u64) {
        self.time_rules();
        if failure {
            self.failures += 1;
        } else {
            self.successes += 1;
        }
        let slow = self.p.slow.is_some_and(|(limit, _)| ms >= limit);
        match self.state {
            State::Unknown | State::Closed => {
                self.state = State::Closed;
                let stamp = match (self.p.window, self.width_ms()) {
                    (Win::Count(n), _) => {
                        if self.window.len() == n as usize {
                            self.window.pop_front();
                        }
                        0
                    }
                    (_, Some(w)) => self.now / w,
                    _ => unreachable!(),
                };
                self.window.push_back((stamp, failure, slow));
                let t = self.window_tallies();
                if t.calls >= self.minimum() && self.crossed(t) {
                    self.open();
                }
            }
            State::Open => {}
            State::HalfOpen => {
                if self.in_flight > 0 {
                    self.in_flight -= 1;
                    self.probes.add(failure, slow);
                    self.decide_probes();
                }
            }
        }
    }

    fn shown(&self) -> Tallies {
        match self.state {
            State::HalfOpen => self.probes,
            State::Open if self.probes.calls > 0 => self.probes,
            _ => self.window_tallies(),
        }
    }
}

fn policy(p: &Params) -> TripPolicy {
    let window = match p.window {
        Win::Count(n) => Window::count(n),
        Win::TimeMs(d) => Window::time(Duration::from_millis(d)),
    };
    let base = match (p.failure_rate, p.slow) {
        (Some(r), _) => TripPolicy::failure_rate(r),
        (None, Some((ms, r))) => TripPolicy::slow_call_rate(Duration::from_millis(ms), r),
        (None, None) => unreachable!(),
    };
    let base = match (p.failure_rate, p.slow) {
        (Some(_), Some((ms, r))) => base.slow_calls(Duration::from_millis(ms), r),
        _ => base,
    };
    base.window(window).minimum_calls(p.minimum)
}

fn params() -> impl Strategy<Value = Params> {
    let rate = prop_oneof![Just(0.25), Just(0.5), Just(0.6), Just(1.0)];
    (
        prop::option::of(rate.clone()),
        prop::option::of((50u64..300, rate)),
        1u32..8,
        prop_oneof![
            (1u32..8).prop_map(Win::Count),
            (1u64..5).prop_map(|k| Win::TimeMs(k * 1_000)),
        ],
    )
        .prop_filter("a rule", |(f, s, _, _)| f.is_some() || s.is_some())
        .prop_map(|(failure_rate, slow, minimum, window)| Params {
            failure_rate,
            slow,
            minimum,
            window,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..400, any::<bool>()).prop_map(|(ms, by_handle)| Op::Success { ms, by_handle }),
        4 => (0u64..400, any::<bool>()).prop_map(|(ms, by_handle)| Op::Failure { ms, by_handle }),
        2 => Just(Op::Check),
        2 => prop_oneof![0u64..300, 300u64..1_500].prop_map(Op::Advance),
        1 => (0u64..2_000).prop_map(Op::AdvanceTagCycle),
    ]
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn brama_follows_the_reference_model(p in params(), ops in prop::collection::vec(op(), 1..120)) {
        let clock = ManualClock::new();
        let brama = Brama::builder()
            .trip_policy(policy(&p))
            .expiry(Duration::from_millis(EXPIRY_MS))
            .probe_timeout(Duration::from_millis(PROBE_TIMEOUT_MS))
            .half_open_probes(PROBES)
            .clock(clock.clone())
            .janitor(Janitor::Manual)
            .build()
            .unwrap();
        brama.register("k", Options::new()).unwrap();
        let conn = brama.connection("k").unwrap();
        let tag_cycle_ms = match p.window {
            Win::TimeMs(d) => 1_023 * d,
            Win::Count(_) => 1_023_000,
        };
        let mut m = Model::new(p);
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Success { ms, by_handle } => {
                    let d = Duration::from_millis(ms);
                    if by_handle { conn.success_after(d).unwrap() } else { brama.success_after("k", d).unwrap() }
                    m.report(false, ms);
                }
                Op::Failure { ms, by_handle } => {
                    let d = Duration::from_millis(ms);
                    if by_handle { conn.failure_after(d).unwrap() } else { brama.failure_after("k", d).unwrap() }
                    m.report(true, ms);
                }
                Op::Check => {
                    let got = brama.available("k");
                    prop_assert_eq!(got, m.check(), "check at step {}: {:?}", i, op);
                }
                Op::Advance(ms) => {
                    clock.advance(Duration::from_millis(ms));
                    m.now += ms;
                }
                Op::AdvanceTagCycle(extra) => {
                    let ms = tag_cycle_ms + extra;
                    clock.advance(Duration::from_millis(ms));
                    m.now += ms;
                }
            }
            let s = brama.status("k").unwrap();
            let want = m.shown();
            prop_assert_eq!(s.state, m.state, "state after step {}: {:?}", i, op);
            prop_assert_eq!(s.window_calls, u64::from(want.calls), "calls after step {}: {:?}", i, op);
            prop_assert!(close(s.failure_rate, want.failure_rate()), "failure rate after step {}: {:?} vs {:?}", i, s.failure_rate, want.failure_rate());
            prop_assert!(close(s.slow_call_rate, want.slow_rate()), "slow rate after step {}: {:?} vs {:?}", i, s.slow_call_rate, want.slow_rate());
            prop_assert_eq!(
                (s.total_successes, s.total_failures, s.total_rejected, s.trips),
                (m.successes, m.failures, m.rejected, m.trips),
                "totals after step {}: {:?}", i, op
            );
        }
    }
}
