//! The atomic implementation against the pure rules: random sequences of checks,
//! reports (plain and through tickets), releases, clock advances, sweeps and manual
//! actions on one connection go through the public `Registry` and, in parallel, through
//! `brama_core::engine::rules::step` on a `Machine` with the same configuration and time.
//! After every input the two must agree on the answer, the `StateChanged` events, the
//! state, the consecutive count, the open duration, the totals and the timestamps.
//!
//! Jitter is 0 so the model is deterministic. `registry_matches_the_rules_model` runs
//! 2,000 cases; the `#[ignore]`d `..._long` variant runs 50,000
//! (`cargo test -p brama-core --test model -- --ignored`).

mod common;

use std::time::Duration;

use brama_core::engine::clock::Nanos;
use brama_core::engine::config::MAX_DURATION;
use brama_core::engine::rules::{next_open_duration, step, Input, Machine, Outcome, NEVER};
use brama_core::engine::word::GEN_BITS;
use brama_core::engine::{Registry, Ticket};
use brama_core::{
    ClockSource, Config, Error, EventKind, EventType, ExpiryStrategy, Filter, ManualClock,
    OpenDuration, OpenOptions, Options, Settings, State,
};
use common::KEY;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

/// The configuration of one case.
#[derive(Clone, Debug)]
struct Params {
    threshold: u32,
    expiry: Duration,
    /// `(initial, max, factor)` for a progressive strategy.
    progressive: Option<(Duration, Duration, f64)>,
    probes: u32,
    probe_timeout: Option<Duration>,
    /// Subscribe to report events, so reports take the locked path.
    slow_reports: bool,
}

impl Params {
    fn config(&self) -> Config {
        Config {
            failure_threshold: self.threshold,
            expiry: self.expiry,
            strategy: match self.progressive {
                None => ExpiryStrategy::Fixed,
                Some((initial, max, factor)) => ExpiryStrategy::Progressive {
                    initial,
                    max,
                    factor,
                },
            },
            jitter: 0.0,
            trip_policy: None,
            half_open_probes: self.probes,
            probe_timeout: self.probe_timeout,
        }
    }
}

/// One input.
#[derive(Clone, Debug)]
enum Op {
    /// `available()`.
    Available,
    /// `acquire()`, keeping the ticket if admitted.
    Acquire,
    /// A plain success.
    Success,
    /// A plain failure.
    Failure,
    /// A success through one of the live tickets (a plain success if there is none).
    TicketSuccess(usize),
    /// A failure through one of the live tickets (a plain failure if there is none).
    TicketFailure(usize),
    /// A live ticket ends without a result (a permit ignored or dropped).
    Release(usize),
    /// The clock moves.
    Advance(Duration),
    /// The clock moves to the model's next deadline plus this many nanoseconds (-1, 0
    /// or 1): an open circuit's expiry, or the latest probe's timeout; 1 s if neither.
    ToDeadline(i8),
    /// `sweep()`.
    Sweep,
    /// `open_circuit`.
    Open(OpenDuration),
    /// `close_circuit`.
    Close,
    /// `reset_circuit`.
    Reset,
}

fn params() -> impl Strategy<Value = Params> {
    let secs = |r: std::ops::RangeInclusive<u64>| r.prop_map(Duration::from_secs);
    let progressive = (
        secs(1..=2),
        0u64..=6,
        prop::sample::select(vec![1.0, 1.5, 2.0]),
    )
        .prop_map(|(initial, extra, factor)| {
            (initial, initial + Duration::from_secs(extra), factor)
        });
    (
        1u32..=4,
        secs(1..=3),
        prop::option::of(progressive),
        1u32..=3,
        prop::option::of(secs(1..=3)),
        any::<bool>(),
    )
        .prop_map(
            |(threshold, expiry, progressive, probes, probe_timeout, slow_reports)| Params {
                threshold,
                expiry,
                progressive,
                probes,
                probe_timeout,
                slow_reports,
            },
        )
}

fn advance() -> impl Strategy<Value = Duration> {
    // Mostly whole seconds, so deadlines (whole seconds after an input) are hit exactly;
    // sometimes a nanosecond or just under a second, to land one step either side.
    prop_oneof![
        6 => (1u64..=3).prop_map(Duration::from_secs),
        2 => (1u64..=1_999).prop_map(Duration::from_millis),
        1 => Just(Duration::from_nanos(1)),
        1 => Just(Duration::from_secs(1) - Duration::from_nanos(1)),
        // Now and then a long idle spell: hours to a year, past every deadline and
        // far past any window, where counters and stamps meet large values.
        1 => (1u64..=8_760).prop_map(|h| Duration::from_secs(h * 3_600)),
    ]
}

fn open_duration() -> impl Strategy<Value = OpenDuration> {
    prop_oneof![
        Just(OpenDuration::Current),
        (1u64..=5).prop_map(|s| OpenDuration::For(Duration::from_secs(s))),
        Just(OpenDuration::Indefinitely),
    ]
}

/// Every kind of input.
fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Available),
        5 => Just(Op::Acquire),
        2 => Just(Op::Success),
        4 => Just(Op::Failure),
        3 => any::<usize>().prop_map(Op::TicketSuccess),
        3 => any::<usize>().prop_map(Op::TicketFailure),
        3 => any::<usize>().prop_map(Op::Release),
        3 => advance().prop_map(Op::Advance),
        4 => (-1i8..=1).prop_map(Op::ToDeadline),
        2 => Just(Op::Sweep),
        1 => open_duration().prop_map(Op::Open),
        1 => Just(Op::Close),
        1 => Just(Op::Reset),
    ]
}

/// Inputs that keep a circuit in its half-open cycles longer: reports only through
/// tickets (a plain report would decide the cycle at once), no manual actions.
fn probe_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Available),
        6 => Just(Op::Acquire),
        4 => any::<usize>().prop_map(Op::TicketSuccess),
        5 => any::<usize>().prop_map(Op::TicketFailure),
        5 => any::<usize>().prop_map(Op::Release),
        2 => advance().prop_map(Op::Advance),
        5 => (-1i8..=1).prop_map(Op::ToDeadline),
        2 => Just(Op::Sweep),
    ]
}

/// A case's inputs: half of the cases draw from every input, half from [`probe_op`].
fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop_oneof![
        prop::collection::vec(op(), 1..max),
        prop::collection::vec(probe_op(), 1..max),
    ]
}

/// The live ticket an op picks: an even `ix` picks among the probe tickets when there
/// are any (they are the interesting ones, and checks in a healthy circuit pile up
/// plain tickets), an odd one among all.
fn pick(tickets: &[Live], ix: usize) -> usize {
    let probes: Vec<usize> = (0..tickets.len())
        .filter(|&i| tickets[i].ticket.probe)
        .collect();
    if ix % 2 == 0 && !probes.is_empty() {
        probes[(ix / 2) % probes.len()]
    } else {
        (ix / 2) % tickets.len()
    }
}

/// A ticket the registry handed out, with the cycle the model admitted it in.
#[derive(Clone, Copy, Debug)]
struct Live {
    ticket: Ticket,
    gen: u32,
}

/// What the model expects besides the machine.
#[derive(Debug, Default)]
struct Books {
    successes: u64,
    failures: u64,
    rejected: u64,
    trips: u64,
    changed_at: Nanos,
    opened_at: Option<Nanos>,
    last_success: Option<Nanos>,
    last_failure: Option<Nanos>,
}

const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

fn run(p: &Params, ops: &[Op]) -> Result<(), TestCaseError> {
    let cfg = p.config();
    let clock = ManualClock::new();
    let settings = Settings {
        // No eviction: the model has no notion of it.
        inactive_threshold: MAX_DURATION,
        ..Settings::default()
    };
    let reg = Registry::new(cfg.clone(), settings, ClockSource::from(clock.clone()))
        .map_err(|e| TestCaseError::fail(format!("config rejected: {e}")))?;
    let cx = reg.context();
    let changes = cx
        .bus
        .subscribe(Filter::new().event_type(EventType::StateChanged));
    let reports = p.slow_reports.then(|| {
        cx.bus
            .subscribe(Filter::new().event_types([EventType::Success, EventType::Failure]))
    });
    reg.register(KEY, &Options::new()).unwrap();
    let cell = reg.handle(KEY).unwrap();

    let mut m = Machine::new();
    let mut books = Books::default();
    let mut tickets: Vec<Live> = Vec::new();

    for (i, op) in ops.iter().enumerate() {
        let now = clock.nanos();
        let before = m;
        let at = || format!("op {i} {op:?} at {now} ns, model before {before:?}");
        // Turn ticket ops without a ticket into plain ones; pick the ticket of the others.
        let op = match op {
            Op::TicketSuccess(_) if tickets.is_empty() => &Op::Success,
            Op::TicketFailure(_) if tickets.is_empty() => &Op::Failure,
            op => op,
        };
        let chosen = match op {
            Op::TicketSuccess(ix) | Op::TicketFailure(ix) | Op::Release(ix)
                if !tickets.is_empty() =>
            {
                Some(pick(&tickets, *ix))
            }
            _ => None,
        };
        let live = chosen.map(|c| tickets[c]);
        let input = match (op, live) {
            (Op::Available | Op::Acquire, _) => Some(Input::Check),
            (Op::Success, _) => Some(Input::Success(None, false)),
            (Op::Failure, _) => Some(Input::Failure(None, false)),
            (Op::TicketSuccess(_), Some(live)) => Some(Input::Success(Some(live.gen), false)),
            (Op::TicketFailure(_), Some(live)) => Some(Input::Failure(Some(live.gen), false)),
            // A ticket without a probe slot has nothing to release.
            (Op::Release(_), Some(live)) => live.ticket.probe.then_some(Input::Release(live.gen)),
            (Op::Sweep, _) => Some(Input::Tick),
            (Op::Open(d), _) => Some(Input::Open(*d)),
            (Op::Close, _) => Some(Input::Close),
            (Op::Reset, _) => Some(Input::Reset),
            _ => None,
        };
        let (m2, fx) = match input {
            Some(input) => step(m, input, now, &cfg, 0.0),
            None => (m, effects_none(&cfg, m, now)),
        };

        // The registry, and its answer against the model's.
        match op {
            Op::Available => {
                let got = reg.available(KEY);
                prop_assert_eq!(got, fx.outcome == Outcome::Admitted, "{}", at());
            }
            Op::Acquire => match (reg.acquire(KEY), fx.outcome) {
                (Ok((_, ticket)), Outcome::Admitted) => {
                    prop_assert_eq!(ticket.probe, m2.state == State::HalfOpen, "{}", at());
                    prop_assert_eq!(ticket.gen, m2.gen & GEN_MASK, "{}", at());
                    tickets.push(Live {
                        ticket,
                        gen: m2.gen,
                    });
                }
                (Err(e), Outcome::Rejected) => {
                    let retry_after = (m2.state == State::Open && m2.open_until != NEVER)
                        .then(|| Duration::from_nanos(m2.open_until - now));
                    prop_assert_eq!(
                        e,
                        Error::Rejected {
                            identifier: "db".into(),
                            scope: None,
                            state: m2.state,
                            retry_after
                        },
                        "{}",
                        at()
                    );
                }
                (got, want) => {
                    return Err(TestCaseError::fail(format!(
                        "{}: registry {got:?}, model {want:?}",
                        at()
                    )))
                }
            },
            Op::Success => reg.success(KEY).unwrap(),
            Op::Failure => reg.failure(KEY, None).unwrap(),
            Op::TicketSuccess(_) => {
                let live = tickets.remove(chosen.unwrap());
                cell.success(cx, Some(live.ticket)).unwrap();
            }
            Op::TicketFailure(_) => {
                let live = tickets.remove(chosen.unwrap());
                cell.failure(cx, Some(live.ticket), None).unwrap();
            }
            Op::Release(_) => {
                if let Some(c) = chosen {
                    cell.release(tickets.remove(c).ticket);
                }
            }
            Op::Advance(d) => clock.advance(*d),
            Op::ToDeadline(offset) => clock.advance(to_deadline(&m, &cfg, now, *offset)),
            Op::Sweep => {
                let report = reg.sweep();
                // A tick's quiet change is a timeout freeing probe slots.
                let changed = fx.changes().next().is_some() || fx.quiet_change;
                prop_assert_eq!(report.transitioned, usize::from(changed), "{}", at());
                prop_assert_eq!(report.evicted, 0, "{}", at());
            }
            Op::Open(d) => {
                let options = match d {
                    OpenDuration::Current => OpenOptions::new(),
                    OpenDuration::For(d) => OpenOptions::new().duration(*d),
                    OpenDuration::Indefinitely => OpenOptions::new().indefinitely(),
                };
                reg.open(KEY, &options).unwrap();
            }
            Op::Close => reg.close(KEY).unwrap(),
            Op::Reset => reg.reset(KEY).unwrap(),
        }

        // The model's books.
        match fx.outcome {
            Outcome::Success => {
                books.successes += 1;
                books.last_success = Some(now);
            }
            Outcome::Failure => {
                books.failures += 1;
                books.last_failure = Some(now);
            }
            Outcome::Rejected => books.rejected += 1,
            Outcome::Admitted | Outcome::None => {}
        }
        if fx.opened {
            books.trips += 1;
            books.opened_at = Some(now);
        }
        if fx.changes().next().is_some() {
            books.changed_at = now;
        }
        m = m2;

        // Events: exactly the model's changes, in order.
        let want: Vec<_> = fx.changes().map(|c| (c.from, c.to, c.cause)).collect();
        let got: Vec<_> = changes
            .try_iter()
            .map(|e| match e.kind {
                EventKind::StateChanged { from, to, cause } => (from, to, cause),
                other => panic!("not a state change: {other:?}"),
            })
            .collect();
        prop_assert_eq!(got, want, "{}", at());
        if let Some(r) = &reports {
            r.try_iter().for_each(drop);
        }

        // The snapshot.
        let now = clock.nanos();
        let s = reg.status(KEY).unwrap();
        let wall = |t: Option<Nanos>| t.map(|t| cx.wall(t));
        let open_duration = match next_open_duration(&m, &cfg) {
            NEVER => Duration::MAX,
            d => Duration::from_nanos(d),
        };
        prop_assert_eq!(s.state, m.state, "{}", at());
        prop_assert_eq!(s.consecutive_failures, m.consecutive, "{}", at());
        prop_assert_eq!(s.open_duration, open_duration, "{}", at());
        prop_assert_eq!(s.total_successes, books.successes, "{}", at());
        prop_assert_eq!(s.total_failures, books.failures, "{}", at());
        prop_assert_eq!(s.total_rejected, books.rejected, "{}", at());
        prop_assert_eq!(s.trips, books.trips, "{}", at());
        prop_assert_eq!(
            s.since_state_change,
            Duration::from_nanos(now - books.changed_at),
            "{}",
            at()
        );
        prop_assert_eq!(s.opened_at, wall(books.opened_at), "{}", at());
        prop_assert_eq!(s.last_success_at, wall(books.last_success), "{}", at());
        prop_assert_eq!(s.last_failure_at, wall(books.last_failure), "{}", at());
    }
    Ok(())
}

/// How far to move the clock from `now` for [`Op::ToDeadline`].
fn to_deadline(m: &Machine, cfg: &Config, now: Nanos, offset: i8) -> Duration {
    let deadline = match m.state {
        State::Open if m.open_until != NEVER => Some(m.open_until),
        State::HalfOpen if m.in_flight > 0 => {
            Some(m.probe_at + brama_core::engine::clock::nanos(cfg.probe_timeout()))
        }
        _ => None,
    };
    match deadline.map(|d| d.saturating_add_signed(i64::from(offset))) {
        Some(t) if t > now => Duration::from_nanos(t - now),
        _ => Duration::from_secs(1),
    }
}

/// The effects of an input the model does not step (a clock advance, a release of a
/// ticket that holds no slot): nothing.
fn effects_none(cfg: &Config, m: Machine, now: Nanos) -> brama_core::engine::rules::Effects {
    // A release of a stale cycle is a no-op in the rules too; use it for "nothing".
    let (same, fx) = step(m, Input::Release(m.gen.wrapping_add(1)), now, cfg, 0.0);
    assert_eq!(same, m);
    fx
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        // Next to this file, as tests/model.proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn registry_matches_the_rules_model(
        p in params(),
        ops in ops(100),
    ) {
        run(&p, &ops)?;
    }
}

proptest! {
    #![proptest_config(config(50_000))]

    #[test]
    #[ignore = "long: 50,000 cases; run with --ignored"]
    fn registry_matches_the_rules_model_long(
        p in params(),
        ops in ops(200),
    ) {
        run(&p, &ops)?;
    }
}
