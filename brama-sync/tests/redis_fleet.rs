//! SPEC §12 against a real `redis-server` (started by each test on a free loopback port):
//! openings, closes and resets travel between two registries attached to one server,
//! with cause `Remote` and the remaining open time, without echo; a late joiner loads
//! the openings in force; namespaces isolate; malformed messages are ignored and counted.
//!
//! Needs `redis-server` (see tests/redis_support). Run:
//! `cargo test -p brama-sync --features redis --test redis_fleet`.

mod redis_support;

use std::time::Duration;

use brama_sync::redis::{Attached, SharedState};
use brama_sync::{Brama, Cause, Error, EventType, Filter, Key, OpenOptions, Options, State};
use redis_support::*;

const DB: Key<'static> = Key::scoped("payments", "db");

fn attach(brama: &Brama, server: &RedisServer, ns: &str) -> Attached {
    let a = SharedState::new(server.url())
        .namespace(ns)
        .attach(brama)
        .expect("attach");
    assert!(a.wait_connected(DEADLINE), "attached in {DEADLINE:?}");
    a
}

#[test]
fn an_opening_on_a_shows_up_on_b_with_cause_remote_and_its_remaining_time() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&[DB]), instance(&[DB]));
    let (fa, fb) = (attach(&a, &server, "svc"), attach(&b, &server, "svc"));
    let a_changes = a.subscribe(Filter::new().event_types([EventType::StateChanged]));
    let b_changes = b.subscribe(Filter::new().event_types([EventType::StateChanged]));

    trip(&a, DB);
    assert!(eventually(|| !b.available(DB)), "B rejects after A tripped");
    let s = b.status(DB).unwrap();
    assert_eq!(s.state, State::Open);
    assert!(
        s.open_duration <= Duration::from_secs(60) && s.open_duration > Duration::from_secs(55),
        "B is open for what A had left: {:?}",
        s.open_duration
    );
    let e = b_changes.recv_timeout(DEADLINE).expect("B's StateChanged");
    assert_eq!(
        change(&e),
        Some((State::Unknown, State::Open, Cause::Remote))
    );
    assert_eq!(e.reason.as_deref(), Some("timeout"), "the reason travels");
    // Counted just after the change is made: awaited.
    assert!(eventually(|| fb.stats().applied == 1), "{:?}", fb.stats());

    // No echo: B shares nothing it applied, so A sees only its own trip.
    assert!(eventually(|| fa.stats().published >= 1));
    assert_eq!(fb.stats().published, 0, "B published what it applied");
    let a_seen: Vec<_> = a_changes.try_iter().filter_map(|e| change(&e)).collect();
    assert_eq!(
        a_seen,
        vec![
            (State::Unknown, State::Closed, Cause::Report),
            (State::Closed, State::Open, Cause::Threshold)
        ]
    );
    assert_eq!(fa.stats().applied, 0);
    assert_eq!((fa.ignored(), fb.ignored()), (0, 0));
}

#[test]
fn manual_close_and_reset_propagate_and_manual_opens_too() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&[DB]), instance(&[DB]));
    let (_fa, _fb) = (attach(&a, &server, "svc"), attach(&b, &server, "svc"));
    let a_changes = a.subscribe(Filter::new().event_types([EventType::StateChanged]));

    trip(&a, DB);
    assert!(eventually(|| b.state(DB).unwrap() == State::Open));
    b.close_circuit(DB).unwrap();
    assert!(
        eventually(|| a.state(DB).unwrap() == State::Closed),
        "A closed by B's close"
    );
    assert!(a.available(DB));
    // The event may follow the state change A's readers see: awaited, not just polled.
    let mut seen = Vec::new();
    assert!(eventually(|| {
        seen.extend(a_changes.try_iter().filter_map(|e| change(&e)));
        seen.len() >= 3
    }));
    assert_eq!(
        seen,
        vec![
            (State::Unknown, State::Closed, Cause::Report),
            (State::Closed, State::Open, Cause::Threshold),
            (State::Open, State::Closed, Cause::Remote)
        ]
    );

    a.open_circuit(DB, OpenOptions::new().indefinitely().reason("maintenance"))
        .unwrap();
    assert!(eventually(|| b.state(DB).unwrap() == State::Open));
    assert_eq!(
        b.status(DB).unwrap().open_duration,
        Duration::MAX,
        "indefinitely"
    );
    a.reset_circuit(DB).unwrap();
    assert!(
        eventually(|| b.state(DB).unwrap() == State::Unknown),
        "B reset by A's reset"
    );
}

#[test]
fn a_late_joiner_loads_the_openings_in_force() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stripe = Key::new("stripe");
    let a = instance(&[DB, stripe]);
    let fa = attach(&a, &server, "svc");
    trip(&a, DB);
    a.open_circuit(stripe, OpenOptions::new().indefinitely())
        .unwrap();
    a.open_circuit(Key::new("gone"), OpenOptions::new())
        .unwrap_err();
    assert!(eventually(|| fa.stats().published >= 2));

    let b = instance(&[DB, stripe]);
    let fb = attach(&b, &server, "svc");
    // wait_connected returns after the load.
    assert_eq!(b.state(DB).unwrap(), State::Open);
    let left = b.status(DB).unwrap().open_duration;
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(55),
        "{left:?}"
    );
    assert_eq!(b.state(stripe).unwrap(), State::Open);
    assert_eq!(b.status(stripe).unwrap().open_duration, Duration::MAX);
    assert_eq!(fb.stats().applied, 2);

    // Closed meanwhile: a joiner after that loads nothing.
    a.close_circuit(DB).unwrap();
    a.close_circuit(stripe).unwrap();
    assert!(eventually(
        || b.state(DB).unwrap() == State::Closed && b.state(stripe).unwrap() == State::Closed
    ));
    let c = instance(&[DB, stripe]);
    let fc = attach(&c, &server, "svc");
    assert_eq!(c.state(DB).unwrap(), State::Unknown);
    assert_eq!(c.state(stripe).unwrap(), State::Unknown);
    assert_eq!(fc.stats().applied, 0);
}

#[test]
fn an_opening_of_a_connection_registered_later_is_applied_when_it_registers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = instance(&[DB]);
    let b = instance(&[]);
    let (_fa, fb) = (attach(&a, &server, "svc"), attach(&b, &server, "svc"));
    trip(&a, DB);
    assert!(
        eventually(|| fb.stats().deferred == 1),
        "remembered, not applied"
    );
    assert!(
        matches!(b.status(DB), Err(Error::NotFound { .. })),
        "never registered by the fleet"
    );
    b.register(DB, Options::new()).unwrap();
    assert!(eventually(|| b.state(DB).unwrap() == State::Open));
    assert!(b.status(DB).unwrap().open_duration <= Duration::from_secs(60));
    // A close forgets it: registering after a close applies nothing.
    let other = Key::new("other");
    a.register(other, Options::new()).unwrap();
    trip(&a, other);
    assert!(eventually(|| fb.stats().deferred == 2));
    a.close_circuit(other).unwrap();
    b.register(other, Options::new()).unwrap();
    // A later opening that B applies is the barrier: B handled what came before it.
    a.close_circuit(DB).unwrap();
    assert!(eventually(|| b.state(DB).unwrap() == State::Closed));
    // Unknown, or Closed if A's close arrived after B registered it; never Open.
    assert_ne!(b.state(other).unwrap(), State::Open);
}

#[test]
fn namespaces_isolate() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let marker = Key::new("marker");
    let (a, c) = (instance(&[DB]), instance(&[DB]));
    let (b, d) = (instance(&[DB, marker]), instance(&[marker]));
    let _f = [
        attach(&a, &server, "one"),
        attach(&c, &server, "one"),
        attach(&b, &server, "two"),
        attach(&d, &server, "two"),
    ];
    trip(&a, DB);
    assert!(
        eventually(|| c.state(DB).unwrap() == State::Open),
        "same namespace"
    );
    // D's opening in "two" is published after A's: once B has it, B has had everything
    // the server sent it before.
    d.open_circuit(marker, OpenOptions::new()).unwrap();
    assert!(eventually(|| b.state(marker).unwrap() == State::Open));
    assert_eq!(b.state(DB).unwrap(), State::Unknown, "another namespace");
    // A late joiner in "two" loads only "two"'s openings.
    let e = instance(&[DB, marker]);
    let _fe = attach(&e, &server, "two");
    assert_eq!(e.state(DB).unwrap(), State::Unknown);
    assert_eq!(e.state(marker).unwrap(), State::Open);
}

#[test]
fn malformed_and_foreign_messages_are_ignored_and_counted() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let b = instance(&[DB]);
    let fb = attach(&b, &server, "svc");
    let mut raw = server.client();
    let publish = |raw: &mut redis::Connection, text: &[u8]| {
        redis::cmd("PUBLISH")
            .arg("brama:svc:events")
            .arg(text)
            .query::<i64>(raw)
            .unwrap()
    };
    for bad in [
        &b"hello"[..],
        b"brama/2 open 0123456789abcdef 1000 payments db ",
        b"brama/1 open 0123456789abcdef 0 payments db ",
        b"brama/1 open 0123456789abcdef 1000 payments db",
        b"brama/1 open xyz 1000 payments db ",
        b"\xff\xfe",
    ] {
        assert_eq!(publish(&mut raw, bad), 1, "B is subscribed");
    }
    // A well-formed one from an instance that is not us: the barrier.
    publish(
        &mut raw,
        b"brama/1 open 0123456789abcdef 30000 payments db from%20elsewhere",
    );
    assert!(eventually(|| b.state(DB).unwrap() == State::Open));
    assert_eq!(fb.ignored(), 6);
    // Counted just after the change is made: awaited.
    assert!(eventually(|| fb.stats().applied == 1), "{:?}", fb.stats());
    let s = b.status(DB).unwrap();
    assert!(s.open_duration <= Duration::from_secs(30));

    // A malformed stored opening is ignored by a late joiner too.
    redis::cmd("SET")
        .arg("brama:svc:open:-:junk")
        .arg("not a message")
        .query::<()>(&mut raw)
        .unwrap();
    redis::cmd("SET")
        .arg("brama:svc:open:-:elsewhere")
        .arg("brama/1 open 0123456789abcdef 30000  db ")
        .query::<()>(&mut raw)
        .unwrap();
    redis::cmd("SET")
        .arg("brama:svc:open:8:payments:db")
        .arg("brama/1 open 0123456789abcdef 30000 payments db ")
        .arg("PX")
        .arg(30_000)
        .query::<()>(&mut raw)
        .unwrap();
    let c = instance(&[DB]);
    let fc = attach(&c, &server, "svc");
    assert_eq!(
        fc.ignored(),
        2,
        "bad value, and a value under another key's name"
    );
    assert_eq!(fc.stats().applied, 1);
    assert_eq!(
        c.state(DB).unwrap(),
        State::Open,
        "the valid stored opening"
    );
}

#[test]
fn a_stored_key_of_another_type_is_ignored_and_counted_and_the_load_goes_on() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let stripe = Key::new("stripe");
    let mut raw = server.client();
    // Under the opening keys' prefix, but not a string: `GET` answers WRONGTYPE.
    redis::cmd("HSET")
        .arg("brama:svc:open:-:a-hash")
        .arg("field")
        .arg("value")
        .query::<i64>(&mut raw)
        .unwrap();
    redis::cmd("RPUSH")
        .arg("brama:svc:open:8:payments:list")
        .arg("item")
        .query::<i64>(&mut raw)
        .unwrap();
    // A valid stored opening beside them: loaded all the same.
    redis::cmd("SET")
        .arg("brama:svc:open:-:stripe")
        .arg("brama/1 open 0123456789abcdef 30000  stripe ")
        .arg("PX")
        .arg(30_000)
        .query::<()>(&mut raw)
        .unwrap();
    let (a, b) = (instance(&[DB]), instance(&[DB, stripe]));
    let fb = SharedState::new(server.url())
        .namespace("svc")
        .attach(&b)
        .unwrap();
    assert!(
        fb.wait_connected(DEADLINE),
        "B connects despite the hash and the list: {:?}",
        fb.stats()
    );
    let fa = attach(&a, &server, "svc");
    assert_eq!(fb.ignored(), 2, "the hash and the list, counted");
    assert_eq!(
        b.state(stripe).unwrap(),
        State::Open,
        "the valid stored one"
    );
    // The session goes on: a remote opening is applied.
    trip(&a, DB);
    assert!(eventually(|| b.state(DB).unwrap() == State::Open));
    // Counted just after the change is made: awaited.
    assert!(eventually(|| fb.stats().applied == 2), "{:?}", fb.stats());
    assert_eq!(fb.stats().disconnects, 0);
    assert_eq!(fa.ignored(), 2, "A loaded them too");
}

#[test]
fn dropping_the_guard_stops_sharing() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let (a, b, c) = (instance(&[DB]), instance(&[DB]), instance(&[DB]));
    let (_fa, fb, _fc) = (
        attach(&a, &server, "svc"),
        attach(&b, &server, "svc"),
        attach(&c, &server, "svc"),
    );
    drop(fb); // joins B's threads: nothing is applied to B after this
    trip(&a, DB);
    assert!(eventually(|| c.state(DB).unwrap() == State::Open));
    assert_eq!(b.state(DB).unwrap(), State::Unknown);
    b.open_circuit(DB, OpenOptions::new()).unwrap();
    a.close_circuit(DB).unwrap();
    assert!(eventually(|| c.state(DB).unwrap() == State::Closed));
    assert_eq!(
        b.state(DB).unwrap(),
        State::Open,
        "B shares nothing any more"
    );
}

#[test]
fn bad_urls_and_namespaces_are_invalid_config() {
    let brama = instance(&[]);
    for url in [
        "not a url",
        "http://127.0.0.1/",
        "redis://",
        "",
        "rediss://127.0.0.1/",
    ] {
        let err = SharedState::new(url).attach(&brama).unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { field: "url", .. }),
            "{url:?}: {err:?}"
        );
        let shown = err.to_string();
        assert!(shown.contains("url"), "{shown}");
    }
    let secret = SharedState::new("redis://user:hunter2@no-such-host:-1/")
        .attach(&brama)
        .unwrap_err();
    assert!(
        !format!("{secret} {secret:?}").contains("hunter2"),
        "{secret}"
    );
    assert!(!format!("{:?}", SharedState::new("redis://u:hunter2@h/")).contains("hunter2"));
    for ns in ["", "a:b", "a*", &"n".repeat(65)] {
        let err = SharedState::new("redis://127.0.0.1:1/")
            .namespace(ns)
            .attach(&brama)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidConfig {
                    field: "namespace",
                    ..
                }
            ),
            "{ns:?}: {err:?}"
        );
    }
    assert_eq!(brama.subscriber_count(), 0, "nothing was started");
    // A server that is not there: attached, not connected, trying again.
    let f = SharedState::new("redis://127.0.0.1:1/")
        .attach(&brama)
        .unwrap();
    assert!(!f.wait_connected(Duration::from_millis(200)));
    assert!(!f.connected());
}
