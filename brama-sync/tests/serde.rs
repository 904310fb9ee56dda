//! Feature `serde` (SPEC §10, §13; issue #17): `Config` from a TOML file with every
//! builder setting, unknown fields rejected by name, humantime durations, round trips
//! of `Config`, `Options`, `State`, `Status` and `Event`, and `Brama::from_config`
//! equal to the builder. ManualClock only, no sleeps.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Config, Error, Event, EventKind, EventType, ExpiryStrategy, Filter, Janitor, Key,
    ManualClock, OpenOptions, Options, State, Status, TripPolicy, Window,
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
    }
}

#[test]
fn options_round_trip_and_reject_unknown_fields() {
    let options = Options::new()
        .failure_threshold(2)
        .expiry(Duration::from_millis(750))
        .expiry_strategy(ExpiryStrategy::Fixed)
        .jitter(0.5)
        .half_open_probes(3)
        .probe_timeout(Duration::from_secs(90))
        .critical(true)
        .metadata("team", "billing")
        .metadata("tier", "1");
    let json = serde_json::to_string(&options).unwrap();
    assert_eq!(serde_json::from_str::<Options>(&json).unwrap(), options);
    assert!(json.contains(r#""expiry":"750ms""#), "{json}");
    assert!(json.contains(r#""probe_timeout":"1m 30s""#), "{json}");
    assert!(json.contains(r#""expiry_strategy":"fixed""#), "{json}");
    let text = toml::to_string(&options).unwrap();
    assert_eq!(toml::from_str::<Options>(&text).unwrap(), options);
    // Empty options are an empty table.
    assert_eq!(serde_json::to_string(&Options::new()).unwrap(), "{}");
    assert_eq!(
        serde_json::from_str::<Options>("{}").unwrap(),
        Options::new()
    );
    let e = serde_json::from_str::<Options>(r#"{"critcal": true}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("critcal"), "{e}");
    // Deserialized options are used as given: register validates them.
    let bad: Options = serde_json::from_str(r#"{"half_open_probes": 0}"#).unwrap();
    let brama = Brama::new();
    assert!(matches!(
        brama.register("db", bad),
        Err(Error::InvalidConfig {
            field: "half_open_probes",
            ..
        })
    ));
}

#[test]
fn states_causes_and_event_types_are_snake_case_strings() {
    for (state, name) in [
        (State::Unknown, "unknown"),
        (State::Closed, "closed"),
        (State::Open, "open"),
        (State::HalfOpen, "half_open"),
    ] {
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(json, format!("{name:?}"));
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), state);
    }
    assert_eq!(
        serde_json::to_string(&Cause::ProbeTimeout).unwrap(),
        r#""probe_timeout""#
    );
    assert_eq!(
        serde_json::from_str::<Cause>(r#""manual_open""#).unwrap(),
        Cause::ManualOpen
    );
    for t in EventType::ALL {
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), t);
    }
    let e = serde_json::from_str::<State>(r#""ajar""#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ajar") && e.contains("half_open"), "{e}");
}

#[test]
fn a_status_round_trips_exactly() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(2)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    let key = Key::scoped("payments", "stripe");
    brama
        .register(key, Options::new().metadata("team", "billing"))
        .unwrap();
    brama.success(key).unwrap();
    clock.advance(Duration::from_millis(1_234));
    brama.failure(key).unwrap();
    brama.failure(key).unwrap();
    clock.advance(Duration::from_nanos(7));
    let status = brama.status(key).unwrap();
    assert!(status.opened_at.is_some() && status.last_success_at.is_some());
    let json = serde_json::to_string(&status).unwrap();
    assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["state"], "open");
    assert_eq!(value["scope"], "payments");
    assert_eq!(value["open_duration"], "1m");
    assert_eq!(value["since_state_change"], "7ns");
    assert_eq!(value["metadata"]["team"], "billing");
    assert!(
        value["opened_at"].as_str().unwrap().ends_with('Z'),
        "{value}"
    );
    // An indefinite open duration is written as "forever" and read back.
    brama
        .open_circuit("db2", OpenOptions::new())
        .expect_err("unknown");
    brama.register("db2", Options::new()).unwrap();
    brama
        .open_circuit("db2", OpenOptions::new().indefinitely())
        .unwrap();
    let status = brama.status("db2").unwrap();
    assert_eq!(status.open_duration, Duration::MAX);
    let json = serde_json::to_string(&status).unwrap();
    assert!(json.contains(r#""open_duration":"forever""#), "{json}");
    assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
}

/// An event's fields, for comparison (`Event` is not `PartialEq`).
fn parts(e: &Event) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        e.seq,
        e.kind.clone(),
        e.at,
        e.identifier(),
        e.scope(),
        e.state,
        e.counts,
        e.reason_text(),
    )
}

#[test]
fn events_round_trip() {
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .failure_threshold(1)
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let key = Key::scoped("payments", "stripe");
    brama.register(key, Options::new()).unwrap();
    brama.success(key).unwrap();
    brama.failure_with(key, "timeout").unwrap();
    brama.configure(key, Options::new().jitter(0.1)).unwrap();
    brama.sweep();
    brama.unregister(key).unwrap();
    let events: Vec<Event> = sub.try_iter().collect();
    let kinds: Vec<EventType> = events.iter().map(Event::event_type).collect();
    for t in [
        EventType::Registered,
        EventType::StateChanged,
        EventType::Failure,
        EventType::Configured,
        EventType::Swept,
        EventType::Unregistered,
    ] {
        assert!(kinds.contains(&t), "{t:?} in {kinds:?}");
    }
    for e in &events {
        let json = serde_json::to_string(e).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(parts(&back), parts(e), "{json}");
    }
    let trip = events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::StateChanged {
                    to: State::Open,
                    ..
                }
            )
        })
        .expect("the trip");
    let value: serde_json::Value = serde_json::to_value(trip).unwrap();
    assert_eq!(value["kind"]["type"], "state_changed");
    assert_eq!(value["kind"]["cause"], "threshold");
    assert_eq!(value["identifier"], "stripe");
    assert_eq!(value["reason"], "timeout");
    let swept = events.iter().find(|e| e.event_type() == EventType::Swept);
    let value = serde_json::to_value(swept.unwrap()).unwrap();
    assert!(value.get("identifier").is_none(), "{value}");
    assert_eq!(value["kind"]["examined"], 1);
}

#[test]
fn a_fleet_link_kind_round_trips() {
    let kind = EventKind::FleetLink { connected: false };
    let value = serde_json::to_value(&kind).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"type": "fleet_link", "connected": false})
    );
    assert_eq!(serde_json::from_value::<EventKind>(value).unwrap(), kind);
    assert_eq!(
        serde_json::to_string(&EventType::FleetLink).unwrap(),
        r#""fleet_link""#
    );
}

#[test]
fn the_example_file_builds_a_registry() {
    let text = include_str!("../examples/brama.toml");
    let config: Config = toml::from_str(text).expect("examples/brama.toml");
    assert_eq!(config.failure_threshold, Some(3));
    let brama = Brama::from_config(config).expect("valid settings");
    assert_eq!(brama.defaults().half_open_probes, 2);
}

#[test]
fn a_snapshot_round_trips_through_json_and_restores() {
    use brama_sync::Snapshot;
    let clock = ManualClock::new();
    let brama = Brama::builder()
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    brama
        .register(("pay", "db"), Options::new().metadata("team", "billing"))
        .unwrap();
    brama
        .open_circuit(
            ("pay", "db"),
            OpenOptions::new().duration(Duration::from_secs(30)),
        )
        .unwrap();
    brama.register("cache", Options::new()).unwrap();
    brama.success("cache").unwrap();
    let snapshot = brama.snapshot();
    let json = serde_json::to_string(&snapshot).expect("serialize");
    assert!(json.contains("\"version\":1"), "{json}");
    let back: Snapshot = serde_json::from_str(&json).expect("read back");
    assert_eq!(back.connections.len(), 2);
    let restored = Brama::builder()
        .clock(ManualClock::new())
        .janitor(Janitor::Manual)
        .restore(&back)
        .build()
        .unwrap();
    assert_eq!(restored.state(("pay", "db")).unwrap(), State::Open);
    assert_eq!(restored.state("cache").unwrap(), State::Closed);
    // A corrupt file is an error, naming what is wrong; an unknown field too.
    assert!(serde_json::from_str::<Snapshot>("{\"version\":1}").is_err());
    let typo = json.replacen("\"connections\"", "\"conections\"", 1);
    let err = serde_json::from_str::<Snapshot>(&typo)
        .unwrap_err()
        .to_string();
    assert!(err.contains("conections"), "{err}");
    // An unknown version reads, and restores nothing.
    let mut future = back.clone();
    future.version = 99;
    let target = Brama::builder().janitor(Janitor::Manual).build().unwrap();
    assert!(target.restore(&future).is_err());
    assert_eq!(target.len(), 0);
}
