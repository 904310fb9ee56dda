//! (a) Legal paths: every key's state changes form a legal path of the state machine.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use brama_sync::{Brama, Error, EventType, Filter, Options, Permit};

use crate::support::{
    assert_gap_free, check_lifecycles, collect, quiet_spell, register_again, Rng, Rounds, KEYS,
};

/// The cycle number a permit was admitted in. `Permit` has no accessor for it; its
/// `Debug` output shows the ticket, and a change of that format fails here loudly.
fn cycle_of(p: &Permit<'_>) -> u32 {
    let s = format!("{p:?}");
    let at = s
        .find("gen: ")
        .unwrap_or_else(|| panic!("no cycle number in {s}"));
    s[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no cycle number in {s}"))
}

/// `observe_reports`: subscribe to `Success`/`Failure` too. With it, every report takes
/// the locked slow path (its event is wanted); without it, reports that change no
/// state take the lock-free fast paths, whose races with transitions are then checked.
fn state_changes_are_legal_paths(
    threads: usize,
    rounds: usize,
    iterations: usize,
    observe_reports: bool,
) {
    const PROBES: u32 = 2;
    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_millis(1))
        .half_open_probes(PROBES)
        .probe_timeout(Duration::from_millis(3))
        .cleanup_interval(Duration::from_millis(1))
        .inactive_threshold(Duration::from_millis(4))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    let filter = if observe_reports {
        Filter::new()
    } else {
        Filter::new().event_types(
            EventType::ALL
                .into_iter()
                .filter(|t| !matches!(t, EventType::Success | EventType::Failure)),
        )
    };
    let collector = collect(brama.subscribe(filter));
    for k in KEYS {
        brama.register(k, Options::new()).expect("fresh");
    }
    // Probes admitted and not yet reported, per (key, cycle): counted up right after the
    // admission and down right before the report, so never above the true number.
    let in_flight: Arc<Mutex<HashMap<(usize, u32), u32>>> = Arc::default();
    let most = Arc::new(AtomicUsize::new(0));
    let barrier = Rounds::new(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
            let (in_flight, most) = (Arc::clone(&in_flight), Arc::clone(&most));
            thread::spawn(move || {
                let _breaks = barrier.guard();
                let mut rng = Rng::new(t as u64 + 1);
                barrier.wait();
                for _ in 0..rounds {
                    for _ in 0..iterations {
                        let k = rng.below(KEYS.len() as u64) as usize;
                        let key = KEYS[k];
                        let result = match rng.below(10) {
                            0..=3 => match brama.acquire(key) {
                                Ok(p) => {
                                    if p.is_probe() {
                                        let cycle = cycle_of(&p);
                                        let n = {
                                            let mut m = in_flight.lock().unwrap();
                                            let n = m.entry((k, cycle)).or_default();
                                            *n += 1;
                                            *n
                                        };
                                        most.fetch_max(n as usize, Ordering::Relaxed);
                                        assert!(
                                            n <= PROBES,
                                            "{n} probes at once in one half-open cycle of {key:?}"
                                        );
                                        thread::yield_now();
                                        *in_flight.lock().unwrap().get_mut(&(k, cycle)).unwrap() -=
                                            1;
                                    }
                                    match rng.below(3) {
                                        0 => p.success(),
                                        1 => p.failure(),
                                        _ => p.ignore(),
                                    }
                                }
                                Err(e) => Err(e),
                            },
                            4..=5 => brama.success(key),
                            6..=8 => brama.failure(key),
                            _ => {
                                brama.available(key);
                                Ok(())
                            }
                        };
                        match result {
                            Ok(()) | Err(Error::Rejected { .. }) => {}
                            Err(Error::NotFound { .. }) => drop(register_again(&brama, key)),
                            Err(e) => panic!("{key:?}: {e:?}"),
                        }
                    }
                    // A quiet spell: circuits close, then idle ones get evicted.
                    if barrier.wait() {
                        quiet_spell(&brama, Duration::from_millis(3), Duration::from_millis(8));
                    }
                    barrier.wait();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let statuses = brama.connections();
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let lifecycles = check_lifecycles(&events, true);
    // A change in the middle of a collection could show in the status but not the
    // events, or vice versa: the registry is dropped, and each event was taken before.
    for s in &statuses {
        let k = KEYS
            .iter()
            .position(|x| x.identifier() == s.identifier && x.scope() == s.scope.as_deref())
            .expect("one of KEYS");
        let l = &lifecycles[k];
        assert_eq!(Some(s.state), l.live, "final state of {:?}", KEYS[k]);
        assert_eq!(s.trips, l.opens, "trips of the live {:?}", KEYS[k]);
    }
    let changes: usize = lifecycles.iter().map(|l| l.changes).sum();
    let evictions: usize = lifecycles.iter().map(|l| l.removed).sum();
    assert!(changes > 0, "the run must change some states");
    eprintln!(
        "legal paths (reports observed: {observe_reports}): {} events, {changes} state \
         changes, {evictions} evictions, at most {} probes at once",
        events.len(),
        most.load(Ordering::Relaxed)
    );
}

#[test]
fn state_changes_are_legal_paths_under_the_janitor() {
    state_changes_are_legal_paths(4, 6, 1_500, true);
}

#[test]
fn state_changes_are_legal_paths_with_lock_free_reports() {
    state_changes_are_legal_paths(4, 8, 3_000, false);
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn state_changes_are_legal_paths_under_the_janitor_large() {
    state_changes_are_legal_paths(8, 40, 50_000, true);
    state_changes_are_legal_paths(8, 40, 50_000, false);
}
