//! SPEC §12 when Redis goes away: `redis-server` killed with SIGKILL and restarted
//! (empty) mid-run. Checks and reports keep working, `connected()` goes false then true,
//! the link callback sees both, and the fleet converges once the server is back. Also
//! two instances in two OS processes (this test binary runs itself as the second).
//!
//! Needs `redis-server` (see tests/redis_support). Run:
//! `cargo test -p brama-sync --features redis --test redis_outage`.

mod redis_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brama_sync::redis::SharedState;
use brama_sync::{EventKind, EventType, Filter, Key, OpenOptions, State};
use redis_support::*;

const DB: Key<'static> = Key::scoped("payments", "db");

#[test]
fn redis_killed_and_restarted_local_breaking_goes_on_and_the_fleet_converges() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let (a, b) = (instance(&[DB]), instance(&[DB]));
    let link_events = a.subscribe(Filter::new().event_type(EventType::FleetLink));
    let links = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&links);
    let fa = SharedState::new(server.url())
        .namespace("svc")
        .on_link(move |up| seen.lock().unwrap().push(up))
        .attach(&a)
        .unwrap();
    let fb = SharedState::new(server.url())
        .namespace("svc")
        .attach(&b)
        .unwrap();
    assert!(fa.wait_connected(DEADLINE) && fb.wait_connected(DEADLINE));

    server.kill();
    assert!(
        eventually(|| !fa.connected() && !fb.connected()),
        "the outage is seen"
    );
    // Local breaking is unaffected: a million checks and the reports that trip A, with
    // no wait on the network.
    let start = Instant::now();
    for _ in 0..1_000_000 {
        assert!(b.available(DB));
    }
    trip(&a, DB);
    assert!(!a.available(DB));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "checks and reports took {:?} with Redis down",
        start.elapsed()
    );
    assert_eq!(
        b.state(DB).unwrap(),
        State::Unknown,
        "nothing travels while down"
    );

    server.restart();
    assert!(
        fa.wait_connected(DEADLINE) && fb.wait_connected(DEADLINE),
        "reconnected"
    );
    // A's opening made during the outage reaches B once the server is back.
    assert!(
        eventually(|| b.state(DB).unwrap() == State::Open),
        "converged"
    );
    assert!(b.status(DB).unwrap().open_duration <= Duration::from_secs(60));
    // Updates resume both ways.
    b.close_circuit(DB).unwrap();
    assert!(eventually(|| a.state(DB).unwrap() == State::Closed));
    assert!(fa.stats().disconnects >= 1 && fb.stats().disconnects >= 1);
    // The subscriber sees the link go down then up again as `FleetLink` events (keyless),
    // the same sequence as the callback. Both are announced after `wait_connected`
    // wakes, so they are awaited.
    let mut events = Vec::new();
    assert!(
        eventually(|| {
            for e in link_events.try_iter() {
                assert_eq!((e.identifier(), e.scope(), e.key()), ("", None, None));
                match e.kind {
                    EventKind::FleetLink { connected } => events.push(connected),
                    other => panic!("not asked for: {other:?}"),
                }
            }
            events.windows(2).any(|w| w == [false, true]) && events.last() == Some(&true)
        }),
        "FleetLink down then up: {events:?}"
    );
    assert_eq!(events.first(), Some(&true), "{events:?}");
    assert!(
        events.windows(2).all(|w| w[0] != w[1]),
        "changes alternate: {events:?}"
    );
    assert!(
        eventually(|| *links.lock().unwrap() == events),
        "the callback saw what the subscriber saw: {:?} vs {events:?}",
        links.lock().unwrap()
    );
}

#[test]
fn a_server_restarted_empty_learns_the_openings_in_force_again() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let a = instance(&[DB]);
    let fa = SharedState::new(server.url())
        .namespace("svc")
        .attach(&a)
        .unwrap();
    assert!(fa.wait_connected(DEADLINE));
    trip(&a, DB);
    assert!(eventually(|| fa.stats().published >= 1));
    server.restart(); // no persistence: the opening key is gone
    assert!(eventually(|| fa.connected()));
    // A late joiner finds the opening A wrote again after reconnecting.
    let c = instance(&[DB]);
    let fc = SharedState::new(server.url())
        .namespace("svc")
        .attach(&c)
        .unwrap();
    assert!(fc.wait_connected(DEADLINE));
    assert!(
        eventually(|| c.state(DB).unwrap() == State::Open),
        "{:?} {:?} {:?}",
        fa.stats(),
        fc.stats(),
        redis::cmd("KEYS")
            .arg("*")
            .query::<Vec<String>>(&mut server.client())
    );
}

/// The second process of [`two_processes_share_trips_and_closes`]: not a test of its
/// own (it returns at once unless that test started it). Reads commands on stdin and
/// answers each with one line on stdout.
#[test]
#[ignore = "helper process, started by two_processes_share_trips_and_closes"]
fn fleet_peer_process() {
    let Ok(url) = std::env::var("BRAMA_FLEET_PEER_URL") else {
        return;
    };
    let brama = instance(&[DB]);
    let fleet = SharedState::new(url)
        .namespace("procs")
        .attach(&brama)
        .unwrap();
    let mut out = std::io::stdout();
    let answer = |out: &mut std::io::Stdout, s: &str| {
        writeln!(out, "{s}").unwrap();
        out.flush().unwrap();
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let reply = match line.trim() {
            "connected" => fleet.wait_connected(DEADLINE).to_string(),
            "wait-open" => eventually(|| !brama.available(DB)).to_string(),
            "wait-closed" => eventually(|| brama.state(DB).unwrap() == State::Closed).to_string(),
            "state" => brama.state(DB).unwrap().to_string(),
            "trip" => {
                trip(&brama, DB);
                "tripped".to_owned()
            }
            "close" => {
                brama.close_circuit(DB).unwrap();
                "closed".to_owned()
            }
            "quit" => break,
            other => format!("unknown command {other:?}"),
        };
        answer(&mut out, &reply);
    }
}

#[test]
fn two_processes_share_trips_and_closes_across_a_redis_restart() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let mut peer = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fleet_peer_process",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env("BRAMA_FLEET_PEER_URL", server.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the peer process");
    let mut to_peer = peer.stdin.take().unwrap();
    let mut from_peer = BufReader::new(peer.stdout.take().unwrap());
    let mut ask = |cmd: &str| -> String {
        writeln!(to_peer, "{cmd}").unwrap();
        to_peer.flush().unwrap();
        loop {
            let mut line = String::new();
            assert!(
                from_peer.read_line(&mut line).unwrap() > 0,
                "the peer exited"
            );
            let line = line.trim();
            // The test harness prints its own lines around the helper's.
            if !line.is_empty() && !line.starts_with("running") && !line.starts_with("test ") {
                return line.to_owned();
            }
        }
    };

    let a = instance(&[DB]);
    let fa = SharedState::new(server.url())
        .namespace("procs")
        .attach(&a)
        .unwrap();
    assert!(fa.wait_connected(DEADLINE));
    assert_eq!(ask("connected"), "true");

    // A trip here makes the other process reject.
    trip(&a, DB);
    assert_eq!(ask("wait-open"), "true");
    // A manual close there reopens traffic here.
    assert_eq!(ask("close"), "closed");
    assert!(eventually(
        || a.available(DB) && a.state(DB).unwrap() == State::Closed
    ));

    // kill -9 and restart mid-run: no panic, no stuck circuit, convergence after.
    server.kill();
    assert!(eventually(|| !fa.connected()));
    assert_eq!(ask("trip"), "tripped");
    server.restart();
    assert!(fa.wait_connected(DEADLINE));
    assert!(
        eventually(|| !a.available(DB)),
        "the peer's trip during the outage arrives"
    );
    a.close_circuit(DB).unwrap();
    assert_eq!(ask("wait-closed"), "true");
    assert_eq!(ask("state"), "closed");

    let _ = ask("quit");
    let status = peer.wait().unwrap();
    assert!(status.success(), "the peer process failed: {status}");
    a.open_circuit(DB, OpenOptions::new()).unwrap();
}
