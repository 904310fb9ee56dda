//! Features `tracing` and `admin`: the journal calls the `tracing` subscriber (user
//! code) with no brama lock held, its own included. A subscriber may call back into
//! brama from inside `event()` (an admin request drains the journal), and one that
//! panics fails no admin request and costs no other log line. The subscribers here are
//! set for the test's thread only (`with_default`); the janitor is manual, so every
//! drain runs on that thread.
#![cfg(all(feature = "tracing", feature = "admin"))]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brama_sync::admin::AdminService;
use brama_sync::{Brama, Janitor, ManualClock, Options};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

mod watchdog;
use watchdog::with_watchdog;

/// A subscriber to the target `brama` that records each event's message, then runs a
/// hook with it (with no lock of its own held).
#[derive(Clone)]
struct Hooked(Arc<Inner>);

struct Inner {
    messages: Mutex<Vec<String>>,
    hook: Box<dyn Fn(&str) + Send + Sync>,
}

impl Hooked {
    fn new(hook: impl Fn(&str) + Send + Sync + 'static) -> Hooked {
        Hooked(Arc::new(Inner {
            messages: Mutex::default(),
            hook: Box::new(hook),
        }))
    }

    fn logged(&self, message: &str) -> usize {
        let messages = self.0.messages.lock().unwrap();
        messages.iter().filter(|m| *m == message).count()
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Hooked {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "brama"
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.messages.lock().unwrap().push(message.0.clone());
        (self.0.hook)(&message.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn brama(clock: &ManualClock) -> Brama {
    Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_secs(30))
        .clock(clock.clone())
        .janitor(Janitor::Manual)
        .build()
        .unwrap()
}

/// The service asked directly, without a server.
fn call(admin: &mut AdminService, path: &str) -> http::Response<String> {
    use tower::{Service, ServiceExt};
    let request = http::Request::get(path).body(()).unwrap();
    let ready = pollster::block_on(ServiceExt::<http::Request<()>>::ready(admin)).unwrap();
    pollster::block_on(ready.call(request)).unwrap()
}

/// The last reason `/circuits` shows for its first circuit.
fn last_reason(admin: &mut AdminService) -> Value {
    let response = call(admin, "/circuits");
    assert_eq!(response.status(), 200);
    let body = response.into_body();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["circuits"][0]["last_reason"]["reason"].clone()
}

/// A subscriber that asks the admin endpoint from inside `event()`: the request drains
/// the journal too, on the same thread, while the outer drain is logging. Before, the
/// outer drain held the journal's lock while logging, and the request blocked on it
/// for ever (a deadlock, caught by the watchdog). Now the request answers at once,
/// with the reason of the opening being logged (noted before it is logged).
#[test]
fn a_tracing_subscriber_may_call_the_admin_endpoint() {
    with_watchdog("a subscriber calling the admin endpoint", || {
        let clock = ManualClock::new();
        let brama = brama(&clock);
        brama.register("db", Options::new()).unwrap();
        let admin = Mutex::new(AdminService::new(brama.clone()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let subscriber = Hooked::new({
            let seen = Arc::clone(&seen);
            move |message| {
                if message == "circuit opened" {
                    let reason = last_reason(&mut admin.lock().unwrap());
                    seen.lock().unwrap().push(reason);
                }
            }
        });
        tracing::subscriber::with_default(subscriber.clone(), || {
            brama.failure("db").unwrap();
            brama.failure_with("db", "timeout").unwrap(); // opens
            brama.sweep(); // drains the journal: logs, and the hook asks the endpoint
        });
        assert_eq!(*seen.lock().unwrap(), ["timeout"]);
        assert_eq!(subscriber.logged("circuit opened"), 1);
        assert_eq!(subscriber.logged("sweep"), 1);
    });
}

/// A subscriber that panics on a trip's WARN: the call that made the trip (which logs
/// it) returns as usual, the admin endpoint answers (with the reason, noted before the
/// logging), the events after the panicking one are logged all the same, and the
/// journal keeps logging afterwards. (Before, the panic came out of
/// `AdminService::call`, documented as never failing.)
#[test]
fn a_panicking_tracing_subscriber_fails_no_admin_request() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    brama.register("other", Options::new()).unwrap();
    let mut admin = AdminService::new(brama.clone());
    let subscriber = Hooked::new(|message| {
        assert_ne!(message, "circuit opened", "the subscriber panics");
    });
    tracing::subscriber::with_default(subscriber.clone(), || {
        brama.failure("db").unwrap();
        brama.failure_with("db", "timeout").unwrap(); // opens: its log line panics
        brama
            .configure("other", Options::new().failure_threshold(3))
            .unwrap();
        assert_eq!(last_reason(&mut admin), "timeout");
        assert_eq!(subscriber.logged("circuit opened"), 1);
        assert_eq!(subscriber.logged("configured"), 1, "logged after the panic");

        // Still logging: another configuration, and another trip.
        brama.configure("db", Options::new()).unwrap();
        brama.failure("other").unwrap();
        brama.failure("other").unwrap();
        brama.failure_with("other", "refused").unwrap(); // opens: panics again
        assert_eq!(last_reason(&mut admin), "timeout");
        assert_eq!(subscriber.logged("configured"), 2);
        assert_eq!(subscriber.logged("circuit opened"), 2);

        // The trip's line panics inside the failure that made it: caught there.
        brama.close_circuit("other").unwrap();
        brama.failure_with("other", "refused").unwrap();
        brama.failure_with("other", "refused").unwrap();
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            brama.failure_with("other", "refused") // opens
        }));
        assert!(matches!(opened, Ok(Ok(()))), "the call is not unwound");
        assert_eq!(subscriber.logged("circuit opened"), 3);
        brama.sweep();
        assert_eq!(subscriber.logged("sweep"), 1, "logged after the panic");
        // And the journal is not stuck: the next drain logs.
        brama.configure("db", Options::new()).unwrap();
        assert_eq!(call(&mut admin, "/health").status(), 200);
        assert_eq!(subscriber.logged("configured"), 3);
    });
}
