//! `Health`: the admin endpoint's `/health` shape, round trips, and counts that do not
//! add up rejected.

use std::time::Duration;

use brama_sync::{Brama, Health, Janitor, Key, ManualClock, OpenOptions, Options, State, Verdict};
use serde_json::json;

/// A registry of three connections: a critical one, one open, one half-open.
fn brama(clock: &ManualClock) -> Brama {
    let brama = Brama::builder()
        .expiry(Duration::from_secs(30))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap();
    let stripe = Key::scoped("payments", "stripe");
    brama
        .register(stripe, Options::new().critical(true))
        .unwrap();
    brama
        .register(("payments", "adyen"), Options::new())
        .unwrap();
    brama.register("search", Options::new()).unwrap();
    brama.success("search").unwrap();
    brama
        .open_circuit(("payments", "adyen"), OpenOptions::new())
        .unwrap();
    clock.advance(Duration::from_secs(30)); // adyen: half-open
    brama.open_circuit(stripe, OpenOptions::new()).unwrap();
    brama
}

fn read(json: &str) -> Result<Health, String> {
    serde_json::from_str::<Health>(json).map_err(|e| e.to_string())
}

#[test]
fn health_is_written_as_the_admin_endpoint_answers() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    assert_eq!(
        serde_json::to_value(brama.health()).unwrap(),
        json!({
            "verdict": "unhealthy", "scope": null, "total": 3,
            "counts": {"unknown": 0, "closed": 1, "open": 1, "half_open": 1},
            "critical_open": 1, "critical_half_open": 0,
        })
    );
    assert_eq!(
        serde_json::to_value(brama.health_in("payments")).unwrap(),
        json!({
            "verdict": "unhealthy", "scope": "payments", "total": 2,
            "counts": {"unknown": 0, "closed": 0, "open": 1, "half_open": 1},
            "critical_open": 1, "critical_half_open": 0,
        })
    );
    assert_eq!(
        serde_json::to_string(&Health::default()).unwrap(),
        r#"{"verdict":"healthy","scope":null,"total":0,"counts":{"unknown":0,"closed":0,"open":0,"half_open":0},"critical_open":0,"critical_half_open":0}"#
    );
}

#[test]
fn health_round_trips_through_json_and_toml() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let mut reports = vec![
        brama.health(),
        brama.health_in("payments"),
        brama.health_in("nowhere"),
        Health::default(),
    ];
    clock.advance(Duration::from_secs(60)); // stripe, critical: half-open
    reports.push(brama.health());
    assert_eq!(reports[4].critical_half_open(), 1);
    assert_eq!(reports[4].verdict(), Verdict::Degraded);
    for health in reports {
        let json = serde_json::to_string(&health).unwrap();
        assert_eq!(read(&json).unwrap(), health, "{json}");
        let text = toml::to_string(&health).unwrap();
        assert_eq!(toml::from_str::<Health>(&text).unwrap(), health, "{text}");
    }
}

#[test]
fn verdict_and_total_may_be_left_out_and_a_missing_count_is_zero() {
    let health = read(r#"{"counts":{"open":2,"closed":1},"critical_open":1}"#).unwrap();
    assert_eq!(health.verdict(), Verdict::Unhealthy);
    assert_eq!((health.total(), health.count(State::Open)), (3, 2));
    assert_eq!((health.count(State::Unknown), health.scope()), (0, None));
    assert_eq!(read("{}").unwrap(), Health::default());
}

#[test]
fn counts_that_do_not_add_up_are_rejected_with_what_is_wrong() {
    for (json, wanted) in [
        (r#"{"verdict":"healthy","counts":{"open":1}}"#, "verdict"),
        (r#"{"total":5,"counts":{"open":1}}"#, "total (5)"),
        (
            r#"{"counts":{"open":1},"critical_open":2}"#,
            "critical_open (2)",
        ),
        (
            r#"{"counts":{"half_open":0},"critical_half_open":1}"#,
            "critical_half_open (1)",
        ),
        (
            r#"{"counts":{"open":18446744073709551615,"closed":1}}"#,
            "add up",
        ),
        (r#"{"critcal_open":0}"#, "critcal_open"),
        (r#"{"counts":{"halfopen":1}}"#, "halfopen"),
        (r#"{"verdict":"sick"}"#, "sick"),
        (r#"{"counts":{"open":-1}}"#, "-1"),
    ] {
        let e = read(json).expect_err(json);
        assert!(e.contains(wanted), "{json}: {e}");
    }
}
