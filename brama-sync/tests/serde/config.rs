//! `Config`: a TOML file with every builder setting, unknown fields rejected by name,
//! humantime durations, round trips, and `Brama::from_config` equal to the builder.

use std::time::Duration;

use brama_sync::{
    Brama, Config, Error, ExpiryStrategy, Filter, Janitor, ManualClock, Mode, Options, State,
    TripPolicy, Window,
};

/// Every setting, durations written in several of the forms humantime reads.
const FULL: &str = r#"
failure_threshold = 3
expiry = "30s"
jitter = 0.25
half_open_probes = 2
probe_timeout = "1500ms"
cleanup_interval = "1m"
inactive_threshold = "2h 30m"
max_connections = 4
auto_register = true
event_queue_capacity = 8
janitor = "manual"
mode = "metrics_only"
trip_policy = { failure_rate = 0.5, window = { time = "1m" }, minimum_calls = 10, slow_calls = { duration = "2s", rate = 0.9 } }

[expiry_strategy.progressive]
initial = "1s"
max = "60s"
factor = 3.0
"#;

fn full() -> Config {
    Config {
        failure_threshold: Some(3),
        expiry: Some(Duration::from_secs(30)),
        expiry_strategy: Some(ExpiryStrategy::Progressive {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 3.0,
        }),
        jitter: Some(0.25),
        half_open_probes: Some(2),
        probe_timeout: Some(Duration::from_millis(1500)),
        cleanup_interval: Some(Duration::from_secs(60)),
        inactive_threshold: Some(Duration::from_secs(9000)),
        max_connections: Some(4),
        auto_register: Some(true),
        event_queue_capacity: Some(8),
        janitor: Some(Janitor::Manual),
        trip_policy: Some(
            TripPolicy::failure_rate(0.5)
                .window(Window::time(Duration::from_secs(60)))
                .minimum_calls(10)
                .slow_calls(Duration::from_secs(2), 0.9),
        ),
        mode: Some(Mode::MetricsOnly),
    }
}

#[test]
fn trip_policies_read_and_write_as_tables() {
    for (text, want) in [
        ("{ consecutive = 3 }", TripPolicy::consecutive(3)),
        ("{ failure_rate = 0.25 }", TripPolicy::failure_rate(0.25)),
        (
            "{ slow_calls = { duration = \"500ms\", rate = 0.8 }, window = { count = 20 } }",
            TripPolicy::slow_call_rate(Duration::from_millis(500), 0.8).window(Window::count(20)),
        ),
    ] {
        let config: Config = toml::from_str(&format!("trip_policy = {text}")).expect(text);
        assert_eq!(config.trip_policy, Some(want), "{text}");
        let back: Config = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config, "{text}");
    }
    // A typo names the field; a consecutive policy with rate settings is refused.
    let err =
        toml::from_str::<Config>("trip_policy = { failure_rate = 0.5, windw = { count = 5 } }")
            .unwrap_err()
            .to_string();
    assert!(err.contains("windw"), "{err}");
    assert!(
        toml::from_str::<Config>("trip_policy = { consecutive = 3, minimum_calls = 2 }").is_err()
    );
    assert!(toml::from_str::<Config>("trip_policy = {}").is_err());
    // A bad value is read, then refused by the registry naming the field.
    let config: Config = toml::from_str("trip_policy = { failure_rate = 1.5 }").unwrap();
    match Brama::from_config(config) {
        Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "trip_policy.failure_rate"),
        other => panic!("{other:?}"),
    }
    // A rate policy in a connection's options.
    let options: Options =
        serde_json::from_str(r#"{"failure_threshold":3,"trip_policy":{"failure_rate":0.5}}"#)
            .unwrap();
    assert_eq!(
        options.trip_policy_value(),
        Some(TripPolicy::failure_rate(0.5))
    );
    assert_eq!(
        options.failure_threshold_value(),
        Some(3),
        "kept, not in force"
    );
}

#[test]
fn a_toml_file_sets_every_builder_setting() {
    let config: Config = toml::from_str(FULL).expect("valid TOML");
    assert_eq!(config, full());
}

#[test]
fn an_empty_file_is_every_default() {
    let config: Config = toml::from_str("").expect("empty TOML");
    assert_eq!(config, Config::default());
    let brama = Brama::from_config(config).expect("defaults");
    let by_builder = Brama::builder().build().expect("defaults");
    assert_eq!(brama.defaults(), by_builder.defaults());
    assert_eq!(brama.cleanup_interval(), Duration::from_secs(10));
    assert_eq!(brama.janitor(), Janitor::Thread);
}

#[test]
fn config_round_trips_through_toml_and_json() {
    let config = full();
    let text = toml::to_string(&config).expect("serialize");
    assert_eq!(toml::from_str::<Config>(&text).expect("read back"), config);
    // Durations are written as humantime writes them.
    assert!(text.contains("cleanup_interval = \"1m\""), "{text}");
    assert!(text.contains("probe_timeout = \"1s 500ms\""), "{text}");
    assert!(text.contains("inactive_threshold = \"2h 30m\""), "{text}");
    assert!(text.contains("janitor = \"manual\""), "{text}");
    let json = serde_json::to_string(&config).expect("serialize");
    assert_eq!(
        serde_json::from_str::<Config>(&json).expect("read back"),
        config
    );
    // Unset fields are left out, not written as nulls.
    let sparse = Config {
        failure_threshold: Some(7),
        ..Config::default()
    };
    assert_eq!(
        serde_json::to_string(&sparse).unwrap(),
        r#"{"failure_threshold":7}"#
    );
}

#[test]
fn durations_read_60s_1m_and_500ms_alike() {
    for (text, want) in [
        ("60s", Duration::from_secs(60)),
        ("1m", Duration::from_secs(60)),
        ("1min", Duration::from_secs(60)),
        ("500ms", Duration::from_millis(500)),
        ("1h 30m", Duration::from_secs(5400)),
    ] {
        let config: Config = toml::from_str(&format!("expiry = {text:?}")).expect(text);
        assert_eq!(config.expiry, Some(want), "{text}");
    }
}

/// The message of a TOML that fails to read.
fn toml_error(text: &str) -> String {
    toml::from_str::<Config>(text)
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn a_misspelt_field_is_rejected_with_its_name() {
    let e = toml_error("failure_treshold = 3\nexpiry = \"30s\"\n");
    assert!(e.contains("failure_treshold"), "{e}");
    // The message lists what is allowed.
    assert!(e.contains("failure_threshold"), "{e}");
    // Inside a nested table too.
    let e =
        toml_error("[expiry_strategy.progressive]\ninitial = \"1s\"\nmax = \"1m\"\nfactr = 2.0\n");
    assert!(e.contains("factr"), "{e}");
    let e = toml_error("janitor = \"threads\"");
    assert!(e.contains("threads") && e.contains("manual"), "{e}");
}

#[test]
fn a_bad_duration_or_type_is_rejected_with_what_is_expected() {
    let e = toml_error("expiry = \"30 parsecs\"");
    assert!(e.contains("30 parsecs") && e.contains("500ms"), "{e}");
    assert!(e.contains("expiry"), "{e}");
    let e = toml_error("expiry = 30");
    assert!(e.contains("duration"), "{e}");
    let e = toml_error("failure_threshold = \"three\"");
    assert!(e.contains("failure_threshold"), "{e}");
}

#[test]
fn an_out_of_range_value_is_rejected_by_from_config_naming_the_setting() {
    let config: Config = toml::from_str("failure_threshold = 0").unwrap();
    match Brama::from_config(config) {
        Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "failure_threshold"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    let config: Config = toml::from_str("jitter = 1.0").unwrap();
    assert!(matches!(
        Brama::from_config(config),
        Err(Error::InvalidConfig {
            field: "jitter",
            ..
        })
    ));
    let config: Config = toml::from_str("max_connections = 0").unwrap();
    assert!(matches!(
        Brama::from_config(config),
        Err(Error::InvalidConfig {
            field: "max_connections",
            ..
        })
    ));
}

/// The same registry built from the full config and by the builder, with the same clock.
fn both(clock: &ManualClock) -> [Brama; 2] {
    let from_config = Brama::builder()
        .config(&toml::from_str(FULL).unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let by_builder = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_secs(30))
        .expiry_strategy(ExpiryStrategy::Progressive {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            factor: 3.0,
        })
        .jitter(0.25)
        .half_open_probes(2)
        .probe_timeout(Duration::from_millis(1500))
        .cleanup_interval(Duration::from_secs(60))
        .inactive_threshold(Duration::from_secs(9000))
        .max_connections(4)
        .auto_register(true)
        .event_queue_capacity(8)
        .janitor(Janitor::Manual)
        .trip_policy(
            TripPolicy::failure_rate(0.5)
                .window(Window::time(Duration::from_secs(60)))
                .minimum_calls(10)
                .slow_calls(Duration::from_secs(2), 0.9),
        )
        .mode(Mode::MetricsOnly)
        .clock(clock.clone())
        .build()
        .unwrap();
    [from_config, by_builder]
}

#[test]
fn from_config_equals_the_builder() {
    let clock = ManualClock::new();
    let [a, b] = both(&clock);
    assert_eq!(a.defaults(), b.defaults());
    for brama in [&a, &b] {
        assert_eq!(brama.defaults().failure_threshold, 3);
        assert_eq!(brama.cleanup_interval(), Duration::from_secs(60));
        assert_eq!(brama.inactive_threshold(), Duration::from_secs(9000));
        assert_eq!(brama.janitor(), Janitor::Manual);
        // event_queue_capacity
        assert_eq!(brama.subscribe(Filter::new()).capacity(), 8);
        // auto_register: an unknown key is registered on first use.
        assert!(brama.available("auto"));
        assert_eq!(brama.len(), 1);
        // max_connections: 4 in all.
        for id in ["b", "c", "d"] {
            brama.register(id, Options::new()).unwrap();
        }
        assert!(matches!(
            brama.register("e", Options::new()),
            Err(Error::CapacityExceeded)
        ));
        // The rate policy (it wins over failure_threshold 3, which is kept): ten
        // calls, all failed, reach minimum_calls at 100 %.
        for _ in 0..9 {
            brama.failure("b").unwrap();
        }
        assert_eq!(brama.state("b").unwrap(), State::Closed);
        brama.failure("b").unwrap();
        assert_eq!(brama.state("b").unwrap(), State::Open);
        assert_eq!(brama.status("b").unwrap().trips, 1);
        // mode: metrics_only tracks the state but admits every call.
        assert_eq!(brama.status("b").unwrap().mode, Mode::MetricsOnly);
        assert!(brama.available("b"));
    }
}

#[test]
fn the_example_file_builds_a_registry() {
    let text = include_str!("../../examples/brama.toml");
    let config: Config = toml::from_str(text).expect("examples/brama.toml");
    assert_eq!(config.failure_threshold, Some(3));
    let brama = Brama::from_config(config).expect("valid settings");
    assert_eq!(brama.defaults().half_open_probes, 2);
}

#[test]
fn a_mode_reads_and_writes_as_its_snake_case_name() {
    for (name, mode) in [
        ("normal", Mode::Normal),
        ("disabled", Mode::Disabled),
        ("forced_open", Mode::ForcedOpen),
        ("metrics_only", Mode::MetricsOnly),
    ] {
        let text = format!("mode = {name:?}");
        let config: Config = toml::from_str(&text).expect(name);
        assert_eq!(
            config,
            Config {
                mode: Some(mode),
                ..Config::default()
            }
        );
        assert_eq!(toml::to_string(&config).unwrap().trim(), text);
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(json, format!(r#"{{"mode":{name:?}}}"#));
        assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config);
    }
    // An unknown mode names itself and the valid ones; `null` is unset.
    let e = toml_error("mode = \"disable\"");
    assert!(e.contains("disable") && e.contains("metrics_only"), "{e}");
    assert!(toml_error("mode = 1").contains("mode"));
    let config: Config = serde_json::from_str(r#"{"mode":null}"#).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn mode_disabled_in_a_file_disables_every_connection() {
    let config: Config = toml::from_str(
        r#"
        failure_threshold = 1
        janitor = "manual"
        mode = "disabled"
        "#,
    )
    .unwrap();
    let brama = Brama::from_config(config).unwrap();
    brama
        .register(("payments", "stripe"), Options::new())
        .unwrap();
    brama.failure(("payments", "stripe")).unwrap();
    let status = brama.status(("payments", "stripe")).unwrap();
    assert_eq!(status.mode, Mode::Disabled);
    assert_eq!((status.state, status.total_failures), (State::Unknown, 0));
    assert!(brama.available(("payments", "stripe")));
}
