//! Model-based property tests: random sequences of register, unregister, checks,
//! reports (by key, through handles, through permits, through `call`), permit drops,
//! clock advances, sweeps, manual open/close/reset and configuration, and the SPEC §11
//! operations (modes per connection, per scope and as a default; scope defaults with
//! fields cleared back to "inherit"; open/close/reset/unregister of a scope; snapshots
//! restored into another registry on another clock, and into the same one), on four keys,
//! run against a real `Brama` on a `ManualClock` and compared after every op with the
//! pure reference model `brama_core::engine::rules::step` (see `common/ops.rs`): result, state,
//! consecutive failures, totals, trips, open duration, timestamps, metadata, the set of
//! connections, and every event emitted (kind, key, state before, counts, reason, gap-free
//! sequence numbers).
//!
//! Half the cases subscribe to every event; the other half leave `Success`/`Failure`
//! unsubscribed, so the cell's lock-free report fast paths run and are checked too.

mod common {
    pub mod ops;
}

use brama_sync::Mode;
use common::ops::{self, Cfg, Op, OpenHow, Progressive, ScopeAct, Setup};
use proptest::prelude::*;
use proptest::test_runner::RngAlgorithm;

fn setup() -> impl Strategy<Value = Setup> {
    (
        (
            1u32..=4,
            1u64..=40,
            proptest::option::of((1u64..=20, 0u64..=60, 10u8..=30)),
        ),
        (1u32..=3, proptest::option::of(1u64..=60), 1u64..=120),
        (
            proptest::option::weighted(0.3, 1usize..=3),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (threshold, expiry_ms, progressive),
                (probes, probe_timeout_ms, inactive_ms),
                (max_connections, auto_register, observe_reports),
            )| Setup {
                threshold,
                expiry_ms,
                progressive: progressive.map(|(i, extra, f)| (i, i + extra, f)),
                probes,
                probe_timeout_ms,
                inactive_ms,
                max_connections,
                auto_register,
                observe_reports,
            },
        )
}

fn progressive() -> impl Strategy<Value = Progressive> {
    // Mostly valid; initial 0, max below initial and factor below 1.0 are invalid.
    (0u64..=20, 0u64..=60, 5u8..=30).prop_map(|(initial_ms, max_ms, factor_tenths)| Progressive {
        initial_ms,
        max_ms,
        factor_tenths,
    })
}

fn cfg() -> impl Strategy<Value = Cfg> {
    use proptest::option::weighted as maybe;
    (
        maybe(0.3, 0u32..=5),
        maybe(0.2, 0u64..=50),
        maybe(0.15, proptest::option::of(progressive())),
        maybe(0.2, 0u32..=3),
        maybe(0.15, 0u64..=50),
        maybe(0.1, any::<bool>()),
        maybe(0.2, (0u8..4, any::<u8>())),
        (maybe(0.15, mode()), maybe(0.15, any::<u8>())),
    )
        .prop_map(
            |(
                threshold,
                expiry_ms,
                strategy,
                probes,
                probe_timeout_ms,
                jitter_bad,
                metadata,
                (mode, inherit),
            )| {
                Cfg {
                    threshold,
                    expiry_ms,
                    strategy,
                    probes,
                    probe_timeout_ms,
                    jitter_bad,
                    metadata,
                    mode,
                    inherit: inherit.unwrap_or(0),
                }
            },
        )
}

fn mode() -> impl Strategy<Value = Mode> {
    proptest::sample::select(Mode::ALL.to_vec())
}

fn open_how() -> impl Strategy<Value = OpenHow> {
    prop_oneof![
        Just(OpenHow::Current),
        (0u64..=40).prop_map(OpenHow::ForMs),
        Just(OpenHow::Indefinitely)
    ]
}

/// The SPEC §11 ops, weighted for the main scenario.
fn operation() -> impl Strategy<Value = Op> {
    let scope = 0u8..3;
    let act = prop_oneof![
        2 => (open_how(), any::<bool>()).prop_map(|(how, r)| ScopeAct::Open(how, r)),
        1 => Just(ScopeAct::Close),
        1 => Just(ScopeAct::Reset),
        1 => Just(ScopeAct::Unregister),
    ];
    prop_oneof![
        3 => (scope.clone(), act).prop_map(|(s, a)| Op::Scope(s, a)),
        2 => (scope.clone(), cfg()).prop_map(|(s, c)| Op::ConfigureScope(s, c)),
        3 => (0u8..4, mode()).prop_map(|(k, m)| Op::SetMode(k, m)),
        2 => (scope, mode()).prop_map(|(s, m)| Op::SetScopeMode(s, m)),
        1 => any::<u16>().prop_map(Op::RoundTrip),
        1 => Just(Op::RestoreSelf),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..4;
    let slot = any::<u8>();
    prop_oneof![
        4 => (key.clone(), cfg()).prop_map(|(k, c)| Op::Register(k, c)),
        1 => key.clone().prop_map(Op::Unregister),
        5 => key.clone().prop_map(Op::Available),
        5 => key.clone().prop_map(Op::Success),
        8 => (key.clone(), any::<bool>()).prop_map(|(k, r)| Op::Failure(k, r)),
        4 => key.clone().prop_map(Op::Acquire),
        2 => slot.prop_map(Op::PermitSuccess),
        2 => slot.prop_map(Op::PermitFailure),
        2 => slot.prop_map(Op::PermitDrop),
        1 => key.clone().prop_map(Op::Connect),
        1 => slot.prop_map(Op::Disconnect),
        1 => slot.prop_map(Op::HandleAvailable),
        1 => slot.prop_map(Op::HandleSuccess),
        1 => slot.prop_map(Op::HandleFailure),
        2 => (key.clone(), any::<bool>()).prop_map(|(k, ok)| Op::Call(k, ok)),
        5 => prop_oneof![0u32..=3, 1u32..=60, Just(1000), Just(86_400_000), Just(u32::MAX)].prop_map(Op::Advance),
        3 => Just(Op::Sweep),
        2 => (key.clone(), open_how(), any::<bool>())
            .prop_map(|(k, how, r)| Op::Open(k, how, r)),
        1 => key.clone().prop_map(Op::Close),
        1 => key.clone().prop_map(Op::Reset),
        2 => (key, cfg()).prop_map(|(k, c)| Op::Configure(k, c)),
        1 => cfg().prop_map(Op::ConfigureDefaults),
        6 => operation(),
    ]
}

fn scenario() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    // Most sequences start by registering every key, so reports have something to hit.
    (
        setup(),
        any::<bool>(),
        proptest::collection::vec(op(), 1..80),
    )
        .prop_map(|(setup, preregister, mut ops)| {
            if preregister {
                let mut pre: Vec<Op> = (0..4).map(|k| Op::Register(k, Cfg::default())).collect();
                pre.append(&mut ops);
                ops = pre;
            }
            (setup, ops)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        max_shrink_iters: 20_000,
        // ChaCha costs more than the runs themselves in a debug build.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    /// The real registry agrees with the reference model after every op.
    #[test]
    fn brama_agrees_with_the_rules_model((setup, ops) in scenario()) {
        ops::run(&setup, &ops);
    }
}

/// One key, a low threshold and short timeouts: sequences that reach half-open often
/// and juggle probe permits across cycles (expiry, probe timeout, probe results).
fn half_open_scenario() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    let setup = (
        1u32..=2,
        1u64..=10,
        1u32..=3,
        proptest::option::of(1u64..=10),
        any::<bool>(),
    )
        .prop_map(
            |(threshold, expiry_ms, probes, probe_timeout_ms, observe_reports)| Setup {
                threshold,
                expiry_ms,
                progressive: None,
                probes,
                probe_timeout_ms,
                inactive_ms: 1_000,
                max_connections: None,
                auto_register: false,
                observe_reports,
            },
        );
    let op = prop_oneof![
        4 => Just(Op::Acquire(0)),
        2 => any::<u8>().prop_map(Op::PermitSuccess),
        2 => any::<u8>().prop_map(Op::PermitFailure),
        3 => any::<u8>().prop_map(Op::PermitDrop),
        3 => Just(Op::Available(0)),
        3 => (0u32..=12).prop_map(Op::Advance),
        3 => any::<bool>().prop_map(|r| Op::Failure(0, r)),
        1 => Just(Op::Success(0)),
        1 => any::<bool>().prop_map(|ok| Op::Call(0, ok)),
        1 => Just(Op::Sweep),
        1 => Just(Op::Connect(0)),
        1 => any::<u8>().prop_map(Op::HandleFailure),
    ];
    (setup, proptest::collection::vec(op, 1..60)).prop_map(|(setup, mut ops)| {
        ops.insert(0, Op::Register(0, Cfg::default()));
        (setup, ops)
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1_000,
        max_shrink_iters: 20_000,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    /// Half-open cycles and probe permits agree with the model after every op.
    #[test]
    fn half_open_cycles_agree_with_the_rules_model((setup, ops) in half_open_scenario()) {
        ops::run(&setup, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 50_000,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    /// The long variant (run with `--ignored`, in release mode).
    #[test]
    #[ignore = "long variant: 50,000 cases; run with --ignored in release mode"]
    fn brama_agrees_with_the_rules_model_long((setup, ops) in scenario()) {
        ops::run(&setup, &ops);
    }

    /// The long variant of the half-open scenario.
    #[test]
    #[ignore = "long variant: 50,000 cases; run with --ignored in release mode"]
    fn half_open_cycles_agree_with_the_rules_model_long((setup, ops) in half_open_scenario()) {
        ops::run(&setup, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    })]

    /// The fuzz target's byte decoder drives the same interpreter; every byte string
    /// decodes to a run that agrees with the model.
    #[test]
    fn fuzz_decoder_runs_agree_with_the_model(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (setup, ops) = ops::decode(&data);
        ops::run(&setup, &ops);
    }
}

/// Found by `brama_agrees_with_the_rules_model` (2026-12-05): a half-open probe out,
/// a sweep, then `configure_defaults` with nothing but an inherit flag, then a check.
#[test]
fn a_defaults_change_while_a_probe_is_out() {
    let setup = Setup {
        threshold: 1,
        expiry_ms: 1,
        progressive: None,
        probes: 1,
        probe_timeout_ms: None,
        inactive_ms: 1,
        max_connections: None,
        auto_register: true,
        observe_reports: false,
    };
    let ops = [
        Op::Failure(0, false),
        Op::Advance(1),
        Op::Acquire(0),
        Op::Advance(1),
        Op::Sweep,
        Op::ConfigureDefaults(Cfg {
            threshold: None,
            expiry_ms: None,
            strategy: None,
            probes: None,
            probe_timeout_ms: None,
            jitter_bad: None,
            metadata: None,
            mode: None,
            inherit: 2,
        }),
        Op::Available(0),
    ];
    ops::run(&setup, &ops);
}
