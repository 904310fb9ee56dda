//! (b) Conservation: every report that returned `Ok` is counted once, live or in a removal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{Brama, Error, EventType, Filter, Options};

use crate::support::{
    assert_gap_free, await_sweeps, check_lifecycles, collect, quiet_spell, register_again, Rng,
    Rounds, KEYS,
};

fn reports_are_conserved(threads: usize, rounds: usize, iterations: usize, churn: bool) {
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_millis(1))
        .cleanup_interval(Duration::from_millis(1))
        .inactive_threshold(Duration::from_millis(3))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    // Lifecycle events only: with no subscriber for Success/Failure, reports take the
    // lock-free fast paths.
    let collector = collect(brama.subscribe(Filter::new().event_types([
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
    ])));
    for k in KEYS {
        brama.register(k, Options::new()).expect("fresh");
    }
    let n = KEYS.len();
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + usize::from(churn)));
    let round = Rounds::new(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier, round) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&round));
            thread::spawn(move || {
                let _breaks = round.guard();
                let mut rng = Rng::new(100 + t as u64);
                let mut ok = vec![0u64; n];
                let mut registered = vec![0usize; n];
                barrier.wait();
                for _ in 0..rounds {
                    for _ in 0..iterations {
                        let k = rng.below(n as u64) as usize;
                        let result = if rng.below(3) == 0 {
                            brama.success(KEYS[k])
                        } else {
                            brama.failure(KEYS[k])
                        };
                        match result {
                            Ok(()) => ok[k] += 1,
                            Err(Error::NotFound { .. }) => {
                                registered[k] += usize::from(register_again(&brama, KEYS[k]));
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    // A quiet spell: circuits close, then idle ones get evicted.
                    if round.wait() {
                        let (closed, again) =
                            quiet_spell(&brama, Duration::from_millis(3), Duration::from_millis(8));
                        for k in 0..n {
                            ok[k] += u64::from(closed[k]);
                            registered[k] += usize::from(again[k]);
                        }
                    }
                    round.wait();
                }
                (ok, registered)
            })
        })
        .collect();
    let churner = churn.then(|| {
        let (brama, barrier, stop) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rng = Rng::new(7);
            let (mut registered, mut unregistered) = (vec![0usize; n], vec![0usize; n]);
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                let k = rng.below(n as u64) as usize;
                match brama.unregister(KEYS[k]) {
                    Ok(_) => unregistered[k] += 1,
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => panic!("{e:?}"),
                }
                thread::yield_now();
                registered[k] += usize::from(register_again(&brama, KEYS[k]));
                thread::sleep(Duration::from_micros(50));
            }
            (registered, unregistered)
        })
    });
    let mut ok = vec![0u64; n];
    let mut registered = vec![1usize; n];
    let joined: Vec<_> = workers.into_iter().map(JoinHandle::join).collect();
    stop.store(true, Ordering::Relaxed);
    for w in joined {
        let (o, r) = w.expect("worker");
        for k in 0..n {
            ok[k] += o[k];
            registered[k] += r[k];
        }
    }
    let mut unregistered = vec![0usize; n];
    if let Some(c) = churner {
        let (r, u) = c.join().expect("churner");
        for k in 0..n {
            registered[k] += r[k];
        }
        unregistered = u;
    }
    // Stop evictions, and let any sweep that started before finish.
    brama
        .set_inactive_threshold(MAX_DURATION)
        .expect("valid threshold");
    await_sweeps(&brama, 2);
    let mut live = vec![None; n];
    for s in brama.connections() {
        let k = KEYS
            .iter()
            .position(|x| x.identifier() == s.identifier && x.scope() == s.scope.as_deref())
            .expect("one of KEYS");
        live[k] = Some(s.total_successes + s.total_failures);
    }
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let lifecycles = check_lifecycles(&events, false);
    let mut evicted = 0;
    for k in 0..n {
        let l = &lifecycles[k];
        assert_eq!(
            l.registered, registered[k],
            "{:?}: one Registered event per successful registration",
            KEYS[k]
        );
        assert_eq!(
            l.live.is_some(),
            live[k].is_some(),
            "{:?}: live at the end exactly when the events say so",
            KEYS[k]
        );
        assert_eq!(
            l.removed,
            l.registered - usize::from(live[k].is_some()),
            "{:?}: every connection but the live one was removed once",
            KEYS[k]
        );
        let counted = l.removed_reports + live[k].unwrap_or(0);
        assert_eq!(
            counted, ok[k],
            "{:?}: reports that returned Ok vs reports counted (live + removed)",
            KEYS[k]
        );
        evicted += l.removed;
    }
    let unregistered: usize = unregistered.iter().sum();
    eprintln!(
        "conservation: {} reports, {evicted} removals ({unregistered} by unregister)",
        ok.iter().sum::<u64>()
    );
}

#[test]
fn reports_are_conserved_across_eviction() {
    reports_are_conserved(4, 8, 2_000, false);
}

#[test]
fn reports_are_conserved_across_eviction_and_unregistration() {
    reports_are_conserved(3, 8, 2_000, true);
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn reports_are_conserved_large() {
    reports_are_conserved(8, 40, 100_000, true);
}

// ----- (b') conservation where reports and removals collide most ----------------------

/// Reports racing `unregister` on one key whose circuit trips at the first failure and
/// then stays open: most reports find the circuit `Unknown` or just tripped, the states
/// whose reports need more than the lock-free fast path.
///
/// The map's shard locks prefer readers: a key reported on without pause from more
/// threads than there are cores can hold off `unregister` (a writer) for a long time.
/// Reporters therefore yield between reports, and a watchdog stops them after `limit`
/// so the test always ends; the worst `unregister` latency is printed.
fn reports_racing_unregister(threads: usize, cycles: usize, limit: Duration) {
    let brama = Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_secs(3600))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    let collector = collect(brama.subscribe(Filter::new().event_types([
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
    ])));
    let key = KEYS[0];
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let reporters: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier, stop) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&stop));
            thread::spawn(move || {
                let mut ok = 0u64;
                barrier.wait();
                while !stop.load(Ordering::Relaxed) {
                    let r = if t % 2 == 0 {
                        brama.failure(key)
                    } else {
                        brama.success(key)
                    };
                    match r {
                        Ok(()) => ok += 1,
                        Err(Error::NotFound { .. }) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                    thread::yield_now();
                }
                ok
            })
        })
        .collect();
    let watchdog = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    barrier.wait();
    let (mut registered, mut worst) = (0, Duration::ZERO);
    for _ in 0..cycles {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        brama
            .register(key, Options::new())
            .expect("unregistered before");
        registered += 1;
        thread::yield_now();
        let t0 = Instant::now();
        brama.unregister(key).expect("registered above");
        worst = worst.max(t0.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    watchdog.join().expect("watchdog");
    let ok: u64 = reporters
        .into_iter()
        .map(|r| r.join().expect("reporter"))
        .sum();
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let l = &check_lifecycles(&events, false)[0];
    assert_eq!((l.registered, l.removed), (registered, registered));
    assert_eq!(
        l.removed_reports, ok,
        "every report that returned Ok is in the final counts of an Unregistered event"
    );
    eprintln!(
        "reports racing unregister: {registered} cycles, {ok} reports, worst unregister {worst:?}"
    );
}

#[test]
fn reports_racing_unregister_are_counted_once() {
    reports_racing_unregister(3, 3_000, Duration::from_secs(5));
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn reports_racing_unregister_are_counted_once_large() {
    reports_racing_unregister(8, 1_000_000, Duration::from_secs(60));
}
