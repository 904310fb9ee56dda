//! The sweep walks the registry's sweep list (registration order) rather than the map:
//! every connection present for the whole sweep is examined exactly once while other
//! threads register and unregister, evictions stay exact, and the sweep reports the
//! longest lock it held. Nothing here sleeps or asserts on timing beyond "the hold was
//! measured and fits inside the sweep".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use brama_core::engine::Registry;
use brama_core::{
    ClockSource, Config, EventKind, EventType, Filter, Key, ManualClock, Options, Settings,
};

const STABLE: usize = 2500;
const INACTIVE: Duration = Duration::from_secs(60);

fn registry(clock: &ManualClock) -> Arc<Registry> {
    Arc::new(
        Registry::new(
            Config::default(),
            Settings {
                inactive_threshold: INACTIVE,
                event_queue_capacity: 4 * STABLE,
                ..Settings::default()
            },
            ClockSource::from(clock.clone()),
        )
        .expect("valid settings"),
    )
}

/// Threads that register and unregister their own keys until stopped; each has at most
/// one connection registered at a time.
fn churn(reg: &Arc<Registry>, threads: usize) -> (Arc<AtomicBool>, Vec<thread::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..threads)
        .map(|t| {
            let (reg, stop) = (Arc::clone(reg), Arc::clone(&stop));
            thread::spawn(move || {
                let mut i = 0u64;
                // Relaxed: a polled flag; the join orders everything else.
                while !stop.load(Ordering::Relaxed) || i < 100 {
                    let id = format!("churn-{t}-{}", i % 16);
                    reg.register(Key::new(&id), &Options::new())
                        .expect("not registered");
                    reg.unregister(Key::new(&id)).expect("registered");
                    i += 1;
                }
            })
        })
        .collect();
    (stop, handles)
}

fn stop(stop: Arc<AtomicBool>, handles: Vec<thread::JoinHandle<()>>) {
    // Relaxed: see `churn`.
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("churn thread");
    }
}

#[test]
fn a_sweep_examines_each_connection_once_while_others_register_and_unregister() {
    let clock = ManualClock::new();
    let reg = registry(&clock);
    for i in 0..STABLE {
        reg.register(Key::new(&format!("stable-{i}")), &Options::new())
            .expect("new key");
    }
    let (flag, handles) = churn(&reg, 2);
    for _ in 0..20 {
        let report = reg.sweep();
        // The stable ones once each, plus at most the one live connection per churner.
        assert!(
            (STABLE..=STABLE + 2).contains(&report.examined),
            "{report:?}"
        );
        assert_eq!(report.evicted, 0);
    }
    stop(flag, handles);
    assert_eq!(reg.sweep().examined, STABLE);
    assert_eq!(reg.len(), STABLE);
}

#[test]
fn half_idle_are_evicted_exactly_while_others_register_and_unregister() {
    let clock = ManualClock::new();
    let reg = registry(&clock);
    let evictions = reg
        .context()
        .bus
        .subscribe(Filter::new().event_type(EventType::Evicted));
    for i in 0..STABLE {
        reg.register(Key::new(&format!("stable-{i}")), &Options::new())
            .expect("new key");
    }
    clock.advance(INACTIVE);
    for i in (0..STABLE).step_by(2) {
        reg.success(Key::new(&format!("stable-{i}")))
            .expect("registered");
    }
    clock.advance(INACTIVE / 2);
    let (flag, handles) = churn(&reg, 2);
    let report = reg.sweep();
    stop(flag, handles);
    assert_eq!(report.evicted, STABLE / 2, "{report:?}");
    let evicted: Vec<String> = evictions
        .try_iter()
        .filter(|e| e.kind == EventKind::Evicted)
        .map(|e| e.identifier().to_owned())
        .collect();
    assert_eq!(evicted.len(), STABLE / 2, "one event per eviction");
    assert_eq!(reg.len(), STABLE / 2);
    assert_eq!(reg.connections().len(), STABLE / 2);
    for i in 0..STABLE {
        let found = reg.status(Key::new(&format!("stable-{i}"))).is_ok();
        assert_eq!(found, i % 2 == 0, "stable-{i}");
    }
    // The freed slots are taken again, and every connection is still swept once.
    for i in 0..STABLE / 2 {
        reg.register(Key::new(&format!("again-{i}")), &Options::new())
            .expect("new key");
    }
    assert_eq!(reg.sweep().examined, STABLE);
}

#[test]
fn the_sweep_reports_the_longest_lock_it_held() {
    let clock = ManualClock::new();
    let reg = registry(&clock);
    for i in 0..STABLE {
        reg.register(Key::new(&format!("c-{i}")), &Options::new())
            .expect("new key");
    }
    clock.advance(2 * INACTIVE);
    let start = Instant::now();
    let report = reg.sweep();
    let took = start.elapsed();
    assert_eq!(report.evicted, STABLE);
    // Each eviction is timed around its removal, which does real work under the lock.
    assert!(report.longest_lock_hold > Duration::ZERO, "{report:?}");
    assert!(report.longest_lock_hold <= took, "{report:?} in {took:?}");
}
