//! Two instances of a service sharing circuit openings through a local `redis-server`
//! (feature `redis`): a trip on A makes B reject, a manual close on B reopens traffic
//! on A, and an instance that attaches late loads the openings in force.
//!
//! ```text
//! redis-server --port 6379 --save "" --appendonly no &
//! cargo run -p brama-sync --features redis --example fleet [redis://127.0.0.1:6379/]
//! ```
//!
//! Both instances live in this one process for the demo; in a service each process
//! attaches its own `Brama` the same way.

use std::time::{Duration, Instant};

use brama_sync::redis::{Attached, SharedState};
use brama_sync::{Brama, Cause, EventKind, EventType, Filter, Key, Options, State};

const STRIPE: Key<'static> = Key::scoped("payments", "stripe");

fn instance(name: &str, url: &str) -> Result<(Brama, Attached), Box<dyn std::error::Error>> {
    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_secs(30))
        .build()?;
    brama.register(STRIPE, Options::new())?;
    let who = name.to_owned();
    let fleet = SharedState::new(url)
        .namespace("fleet-demo")
        .on_link(move |up| println!("[{who}] link to redis {}", if up { "up" } else { "down" }))
        .attach(&brama)?;
    if !fleet.wait_connected(Duration::from_secs(3)) {
        return Err(format!(
            "[{name}] could not reach {url}: start one with \
             `redis-server --port 6379 --save \"\" --appendonly no`"
        )
        .into());
    }
    Ok((brama, fleet))
}

fn wait_until(what: &str, f: impl Fn() -> bool) -> Result<Duration, String> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(5) {
            return Err(format!("timed out waiting until {what}"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(start.elapsed())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    let (a, fa) = instance("A", &url)?;
    let (b, fb) = instance("B", &url)?;
    let b_changes = b.subscribe(Filter::new().event_types([EventType::StateChanged]));

    // A's calls to stripe time out three times: A trips...
    for _ in 0..3 {
        if a.available(STRIPE) {
            a.failure_with(STRIPE, "timeout after 2s")?;
        }
    }
    assert_eq!(a.state(STRIPE)?, State::Open);
    // ...and B rejects without having made a single call.
    let took = wait_until("B rejects", || !b.available(STRIPE))?;
    let s = b.status(STRIPE)?;
    println!(
        "A tripped; B rejects {took:?} later, open for {:?} more",
        s.open_duration
    );
    if let Some(e) = b_changes.recv_timeout(Duration::from_secs(1)) {
        if let EventKind::StateChanged { from, to, cause } = e.kind {
            assert_eq!(cause, Cause::Remote);
            println!("B's event: {from} -> {to} ({cause}, reason {:?})", e.reason);
        }
    }

    // A late joiner loads the opening in force.
    let (c, _fc) = instance("C", &url)?;
    println!("C attached late: stripe is {}", c.state(STRIPE)?);

    // An operator closes the circuit on B: traffic reopens on A (and C).
    b.close_circuit(STRIPE)?;
    let took = wait_until("A admits again", || a.state(STRIPE) == Ok(State::Closed))?;
    println!("B closed by hand; A admits again {took:?} later");
    println!("A: {:?}", fa.stats());
    println!("B: {:?}", fb.stats());
    Ok(())
}
