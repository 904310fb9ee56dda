//! SPEC §9/§13: `OwnedPermit`: `'static + Send + Sync`, the same methods and drop
//! rules as `Permit`, and `Permit::ignore` returning `Result<(), Error>`.

use std::thread;
use std::time::Duration;

use brama_sync::{Brama, Error, ManualClock, OwnedPermit, State};

#[path = "common/db.rs"]
mod db;
use db::{builder, to_half_open, totals, with_db, EXPIRY};

const MINUTE: Duration = Duration::from_secs(60);

fn brama(clock: &ManualClock) -> Brama {
    with_db(builder(clock).inactive_threshold(MINUTE))
}

fn assert_owned<T: Send + Sync + 'static>(_: &T) {}

#[test]
fn an_owned_permit_moves_into_a_spawned_task_and_reports() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    let permit = conn.acquire_owned().unwrap();
    assert_owned(&permit);
    drop(conn);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::spawn(async move { permit.success() })
            .await
            .unwrap()
            .unwrap();
    });
    let by_key = brama.acquire_owned("db").unwrap();
    thread::spawn(move || by_key.failure_with("timeout"))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(totals(&brama), (1, 1));
}

#[test]
fn a_dropped_or_ignored_owned_probe_frees_its_slot_and_counts_neither() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let conn = brama.connection("db").unwrap();
    to_half_open(&brama, &clock);
    let before = totals(&brama);
    let probe = conn.acquire_owned().unwrap();
    assert!(probe.is_probe());
    assert!(matches!(
        conn.acquire_owned(),
        Err(Error::Rejected {
            state: State::HalfOpen,
            ..
        })
    ));
    drop(probe);
    assert_eq!(totals(&brama), before);
    let probe = conn.acquire_owned().unwrap();
    assert!(probe.is_probe(), "the dropped permit's slot was freed");
    probe.ignore().unwrap();
    assert_eq!(totals(&brama), before);
    assert_eq!(brama.status("db").unwrap().state, State::HalfOpen);
    // And a probe that reports decides.
    conn.acquire_owned().unwrap().success().unwrap();
    assert_eq!(brama.status("db").unwrap().state, State::Closed);
}

#[test]
fn an_owned_permit_from_an_earlier_cycle_decides_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    to_half_open(&brama, &clock);
    let probe = brama.acquire_owned("db").unwrap();
    brama.close_circuit("db").unwrap();
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    clock.advance(EXPIRY);
    assert!(brama.available("db"), "a new half-open cycle");
    probe.failure().unwrap();
    assert_eq!(
        brama.status("db").unwrap().state,
        State::HalfOpen,
        "the stale probe's failure was counted but decided nothing"
    );
}

#[test]
fn an_owned_permit_outliving_its_connection_answers_not_found() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let permits: Vec<OwnedPermit> = (0..4).map(|_| brama.acquire_owned("db").unwrap()).collect();
    brama.unregister("db").unwrap();
    let mut permits = permits.into_iter();
    assert!(matches!(
        permits.next().unwrap().success(),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        permits.next().unwrap().failure(),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        permits.next().unwrap().ignore(),
        Err(Error::NotFound { .. })
    ));
    let p = permits.next().unwrap().into_permit();
    assert!(matches!(p.ignore(), Err(Error::NotFound { .. })));
    assert!(brama.status("db").is_err(), "never brought back");
}

#[test]
fn a_live_owned_permit_keeps_its_connection_from_eviction() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    let permit = brama.connection("db").unwrap().acquire_owned().unwrap();
    clock.advance(MINUTE * 2);
    assert_eq!(brama.sweep().evicted, 0, "held by the permit");
    permit.ignore().unwrap();
    assert_eq!(brama.sweep().evicted, 0, "dropping it is activity");
    clock.advance(MINUTE * 2);
    assert_eq!(brama.sweep().evicted, 1);
}

#[test]
fn a_refused_owned_acquire_holds_nothing() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.failure("db").unwrap();
    brama.failure("db").unwrap();
    let conn = brama.connection("db").unwrap();
    match conn.acquire_owned() {
        Err(Error::Rejected {
            identifier,
            state: State::Open,
            retry_after,
            ..
        }) => assert_eq!((identifier.as_str(), retry_after), ("db", Some(EXPIRY))),
        other => panic!("expected a rejection, got {other:?}"),
    }
    drop(conn);
    brama.close_circuit("db").unwrap();
    clock.advance(MINUTE * 2);
    assert_eq!(brama.sweep().evicted, 1, "no handle was left behind");
}
