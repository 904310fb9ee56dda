//! Under threads: gap-free ordered seqs, `Registered` first, a subscriber calling back.

use std::collections::HashMap;
use std::thread;
use std::time::Duration;

use brama_sync::{Brama, EventKind, EventType, Filter, ManualClock, OpenOptions, Options, State};

use crate::support::{assert_gap_free, brama, drain, HOUR};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn seqs_stay_gap_free_and_ordered_under_concurrent_reporters() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 300;
    let brama = Brama::builder()
        .failure_threshold(2)
        .cleanup_interval(HOUR)
        .event_queue_capacity(1 << 16)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    brama.register("shared", Options::new()).unwrap();
    thread::scope(|s| {
        for t in 0..THREADS {
            let brama = &brama;
            s.spawn(move || {
                let own = format!("own-{t}");
                brama.register(own.as_str(), Options::new()).unwrap();
                for i in 0..ROUNDS {
                    if i % 3 == 0 {
                        brama.success("shared").unwrap();
                    } else {
                        brama.failure_with("shared", "boom").unwrap();
                    }
                    if i % 7 == 0 {
                        brama.close_circuit("shared").unwrap();
                    }
                    brama.failure(own.as_str()).unwrap();
                    brama.success(own.as_str()).unwrap();
                }
            });
        }
    });
    let events = drain(&sub);
    assert_eq!(sub.dropped(), 0);
    assert_gap_free(&events, 1);

    // Per connection: each report's event shows exactly the reports before it, and each
    // state change starts where the previous one ended.
    let mut successes: HashMap<String, u64> = HashMap::new();
    let mut failures: HashMap<String, u64> = HashMap::new();
    let mut state: HashMap<String, State> = HashMap::new();
    for e in &events {
        let id = e.identifier().to_owned();
        match e.kind {
            EventKind::Registered => {
                assert!(state.insert(id, State::Unknown).is_none());
            }
            EventKind::Success => {
                let n = successes.entry(id).or_default();
                assert_eq!(e.counts.total_successes, *n, "{e:?}");
                *n += 1;
            }
            EventKind::Failure { .. } => {
                let n = failures.entry(id).or_default();
                assert_eq!(e.counts.total_failures, *n, "{e:?}");
                *n += 1;
            }
            EventKind::StateChanged { from, to, .. } => {
                let s = state
                    .get_mut(&id)
                    .expect("a state change before Registered");
                assert_eq!(*s, from, "{e:?}");
                assert_eq!(e.state, from, "{e:?}");
                *s = to;
            }
            ref other => panic!("unexpected {other:?}"),
        }
    }
    let shared = brama.status("shared").unwrap();
    assert_eq!(successes["shared"], shared.total_successes);
    assert_eq!(failures["shared"], shared.total_failures);
    assert_eq!(state["shared"], shared.state);
    assert_eq!(
        shared.total_successes + shared.total_failures,
        (THREADS * ROUNDS) as u64
    );
}

#[test]
fn a_subscriber_that_calls_back_into_brama_does_not_deadlock() {
    let clock = ManualClock::new();
    let brama = brama(&clock);
    brama.register("db", Options::new()).unwrap();
    let sub =
        brama.subscribe(Filter::new().event_types([EventType::Failure, EventType::StateChanged]));
    let listener = {
        let brama = brama.clone();
        thread::spawn(move || {
            let mut seen = 0;
            while seen < 200 {
                let Some(e) = sub.recv_timeout(WAIT) else {
                    break;
                };
                // Re-enter the registry while holding the event.
                let _ = brama.status(e.key().unwrap()).unwrap();
                let _ = brama.available("db");
                seen += 1;
            }
            seen
        })
    };
    for _ in 0..100 {
        brama.failure("db").unwrap();
        brama.open_circuit("db", OpenOptions::new()).unwrap();
        brama.close_circuit("db").unwrap();
    }
    assert!(listener.join().unwrap() >= 200);
}

#[test]
fn registered_comes_before_every_other_event_of_its_connection() {
    const KEYS: usize = 5000;
    const REPORTERS: usize = 3;
    let brama = Brama::builder()
        .cleanup_interval(HOUR)
        .event_queue_capacity(1 << 16)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let sub = brama.subscribe(Filter::new());
    let names: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    thread::scope(|s| {
        for r in 0..REPORTERS {
            let (brama, names) = (&brama, &names);
            // Reporters: hammer each key until its registration is visible.
            s.spawn(move || {
                for name in names.iter().skip(r).step_by(REPORTERS) {
                    while brama.failure(name.as_str()).is_err() {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        for name in &names {
            brama.register(name.as_str(), Options::new()).unwrap();
        }
    });
    let mut registered = std::collections::HashSet::new();
    for e in drain(&sub) {
        if e.event_type() == EventType::Registered {
            registered.insert(e.identifier().to_owned());
        } else {
            assert!(
                registered.contains(e.identifier()),
                "{:?} of {} came before its Registered event",
                e.kind,
                e.identifier()
            );
        }
    }
    assert_eq!(registered.len(), KEYS);
}
