//! `Options`, `State`, `Cause`, `EventType`, `Status`, `Event` and `Snapshot`: round
//! trips, names, and unknown fields rejected.

use std::time::Duration;

use brama_sync::{
    Brama, Cause, Error, Event, EventKind, EventType, ExpiryStrategy, Filter, Janitor, Key,
    ManualClock, OpenOptions, Options, State, Status,
};

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
fn inherit_marks_are_written_by_name_and_trip_policy_is_the_thresholds() {
    let options = Options::new().inherit_expiry().inherit_mode();
    let json = serde_json::to_string(&options).unwrap();
    assert_eq!(json, r#"{"inherit":["expiry","mode"]}"#);
    assert_eq!(serde_json::from_str::<Options>(&json).unwrap(), options);
    // `inherit_trip_policy` is the failure threshold's mark, and is written as it.
    let json = serde_json::to_string(&Options::new().inherit_trip_policy()).unwrap();
    assert_eq!(json, r#"{"inherit":["failure_threshold"]}"#);
    let read: Options = serde_json::from_str(r#"{"inherit":["trip_policy"]}"#).unwrap();
    assert_eq!(read, Options::new().inherit_failure_threshold());
    let e = serde_json::from_str::<Options>(r#"{"inherit":["trip"]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`trip` is not a setting"), "{e}");
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
