//! Feature `tracing` (SPEC §10; issue #17): state changes, trips, evictions,
//! configuration changes and sweeps are `tracing` events under the target `brama`,
//! `Open` at WARN, recoveries at INFO, sweeps at DEBUG, and nothing per call. A
//! capturing `Subscriber` (written here, no dependency) records what is emitted.
//! ManualClock and a manual janitor (events are logged on `sweep()`, on this thread),
//! except one test that waits, bounded, for the janitor thread to log a trip by itself.

use std::fmt::Debug;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Janitor, Key, ManualClock, OpenOptions, Options};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event.
#[derive(Clone, Debug)]
struct Captured {
    target: String,
    level: Level,
    message: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Capture(Mutex<Vec<Captured>>, Condvar);

struct Fields<'a>(&'a mut Captured);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.push(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.push((field.name().to_owned(), value));
        }
    }
}

impl Subscriber for &'static Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut c = Captured {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            message: String::new(),
            fields: Vec::new(),
        };
        event.record(&mut Fields(&mut c));
        self.0.lock().unwrap().push(c);
        self.1.notify_all();
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The process-wide capture (the janitor thread logs outside any scoped subscriber).
/// Tests tell their events apart by identifier (or by scope for sweeps: never shared).
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::default());
        tracing::subscriber::set_global_default(capture).expect("one global subscriber");
        capture
    })
}

/// The events about `identifier` captured so far.
fn about(identifier: &str) -> Vec<Captured> {
    let quoted = identifier.to_owned();
    capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.field("identifier") == Some(quoted.as_str()))
        .cloned()
        .collect()
}

fn manual(clock: &ManualClock) -> Brama {
    capture();
    Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_secs(30))
        .inactive_threshold(Duration::from_secs(3600))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap()
}

#[test]
fn a_trip_is_a_warning_and_a_recovery_is_info() {
    let clock = ManualClock::new();
    let brama = manual(&clock);
    let key = Key::scoped("payments", "trip-and-recover");
    brama.register(key, Options::new()).unwrap();
    brama.failure(key).unwrap();
    brama.failure_with(key, "timeout").unwrap();
    brama.sweep();
    let opened = about("trip-and-recover");
    let open = opened
        .iter()
        .find(|c| c.message == "circuit opened")
        .unwrap_or_else(|| panic!("no trip in {opened:?}"));
    assert_eq!(open.target, "brama");
    assert_eq!(open.level, Level::WARN);
    assert_eq!(open.field("scope"), Some("payments"));
    assert_eq!(open.field("to"), Some("open"));
    assert_eq!(open.field("cause"), Some("threshold"));
    assert_eq!(open.field("reason"), Some("timeout"));
    assert_eq!(open.field("consecutive_failures"), Some("2"));

    clock.advance(Duration::from_secs(30));
    assert!(brama.available(key)); // the probe
    brama.success(key).unwrap();
    brama.sweep();
    let events = about("trip-and-recover");
    let half = events
        .iter()
        .find(|c| c.message == "circuit half-open")
        .expect("half-open");
    assert_eq!(half.level, Level::INFO);
    let closed = events
        .iter()
        .find(|c| c.message == "circuit closed" && c.field("from") == Some("half-open"))
        .unwrap_or_else(|| panic!("no recovery in {events:?}"));
    assert_eq!(closed.level, Level::INFO);
    assert_eq!(closed.field("cause"), Some("probe success"));
}

#[test]
fn nothing_is_logged_per_call() {
    let clock = ManualClock::new();
    let brama = manual(&clock);
    brama.register("quiet", Options::new()).unwrap();
    brama.success("quiet").unwrap(); // Unknown -> Closed: DEBUG, once
    brama.sweep();
    let before = about("quiet");
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].level, Level::DEBUG);
    let conn = brama.connection("quiet").unwrap();
    for _ in 0..1_000 {
        assert!(brama.available("quiet"));
        brama.success("quiet").unwrap();
        conn.success().unwrap();
        conn.acquire().unwrap().success().unwrap();
    }
    brama.failure("quiet").unwrap(); // below the threshold
    brama.success("quiet").unwrap();
    brama.sweep();
    assert_eq!(about("quiet").len(), 1, "{:?}", about("quiet"));
}

#[test]
fn manual_actions_configuration_evictions_and_sweeps_are_logged() {
    let clock = ManualClock::new();
    let brama = manual(&clock);
    let key = Key::scoped("logged-scope", "manual");
    brama.register(key, Options::new()).unwrap();
    brama
        .open_circuit(key, OpenOptions::new().reason("maintenance"))
        .unwrap();
    brama.reset_circuit(key).unwrap();
    brama.configure(key, Options::new().jitter(0.1)).unwrap();
    brama.register("evicted-one", Options::new()).unwrap();
    clock.advance(Duration::from_secs(7200));
    brama.sweep();
    let manual = about("manual");
    let levels: Vec<(&str, Level)> = manual
        .iter()
        .map(|c| (c.message.as_str(), c.level))
        .collect();
    assert!(
        levels.contains(&("circuit opened", Level::WARN)),
        "{levels:?}"
    );
    assert!(
        levels.contains(&("circuit reset", Level::INFO)),
        "{levels:?}"
    );
    assert!(levels.contains(&("configured", Level::INFO)), "{levels:?}");
    let opened = manual
        .iter()
        .find(|c| c.message == "circuit opened")
        .unwrap();
    assert_eq!(opened.field("reason"), Some("maintenance"));
    assert_eq!(opened.field("cause"), Some("manual open"));
    let evicted = about("evicted-one");
    assert!(
        evicted
            .iter()
            .any(|c| c.message == "connection evicted" && c.level == Level::DEBUG),
        "{evicted:?}"
    );
    // The sweep itself, at DEBUG, with what it did: both connections were idle for
    // longer than the threshold (the reset one too). Other tests' registries log their
    // own sweeps into the same capture.
    let sweeps: Vec<Captured> = capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.message == "sweep")
        .cloned()
        .collect();
    assert!(!sweeps.is_empty());
    assert!(sweeps
        .iter()
        .all(|c| c.level == Level::DEBUG && c.target == "brama"));
    assert!(
        sweeps
            .iter()
            .any(|c| c.field("evicted") == Some("2") && c.field("examined") == Some("2")),
        "{sweeps:?}"
    );
}

#[test]
fn the_janitor_thread_logs_a_trip_by_itself() {
    capture();
    let brama = Brama::builder().failure_threshold(1).build().unwrap();
    brama.register("by-the-janitor", Options::new()).unwrap();
    brama.failure("by-the-janitor").unwrap();
    // No sweep here: the publish wakes the janitor, whose round logs it. Bounded wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    while about("by-the-janitor").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the janitor never logged the trip"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let logged = about("by-the-janitor");
    assert_eq!(logged[0].message, "circuit opened");
    assert_eq!(logged[0].level, Level::WARN);
}

/// A change is logged by the call that made it, on its thread and under that thread's
/// own subscriber, with no janitor round or sweep (SPEC §10: changes are `tracing`
/// events). They used to wait for the janitor, which logs from its own thread, outside
/// a subscriber set with `with_default`.
#[test]
fn a_change_is_logged_by_the_call_that_made_it_under_the_threads_subscriber() {
    let local: &'static Capture = Box::leak(Box::default());
    let seen = |message: &str| {
        local
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.message == message && c.field("identifier") == Some("inline"))
    };
    let clock = ManualClock::new();
    tracing::subscriber::with_default(local, || {
        let brama = Brama::builder()
            .failure_threshold(2)
            .expiry(Duration::from_secs(30))
            .clock(clock.clone())
            .janitor(Janitor::Manual)
            .build()
            .unwrap();
        let key = Key::scoped("payments", "inline");
        brama.register(key, Options::new()).unwrap();
        brama.failure(key).unwrap();
        assert!(!seen("circuit opened"));
        brama.failure(key).unwrap();
        assert!(
            seen("circuit opened"),
            "the trip, by the failure that made it"
        );
        clock.advance(Duration::from_secs(30));
        assert!(brama.available(key)); // the probe: Open -> HalfOpen
        assert!(seen("circuit half-open"));
        brama.success(key).unwrap();
        assert!(
            seen("circuit closed"),
            "the recovery, by the success that made it"
        );
        brama
            .open_circuit(key, OpenOptions::new().reason("maintenance"))
            .unwrap();
        let manual = local.0.lock().unwrap().iter().any(|c| {
            c.field("identifier") == Some("inline") && c.field("reason") == Some("maintenance")
        });
        assert!(manual, "a manual opening too");
    });
    assert!(
        capture()
            .0
            .lock()
            .unwrap()
            .iter()
            .all(|c| c.field("identifier") != Some("inline")),
        "nothing went to the process-wide subscriber"
    );
}
