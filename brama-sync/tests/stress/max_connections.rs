//! (c) `max_connections`: concurrent and automatic registration never overshoot the limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use brama_sync::{Brama, Error, EventType, Filter, Options};

use crate::support::collect;

fn max_connections_never_overshoots(threads: usize, per_thread: usize, max: usize) {
    let brama = Brama::builder()
        .max_connections(max)
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    let collector = collect(brama.subscribe(Filter::new().event_type(EventType::Registered)));
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut ok = Vec::new();
                for i in 0..per_thread {
                    let id = format!("t{t}-{i}");
                    match brama.register(id.as_str(), Options::new()) {
                        Ok(_) => ok.push(id),
                        Err(Error::CapacityExceeded) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                    // Another thread's register with auto-registration off must not
                    // add anything: a check on an unknown key is just false.
                    assert!(!brama.available(format!("u{t}-{i}").as_str()));
                }
                ok
            })
        })
        .collect();
    let ok: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert_eq!(ok.len(), max, "exactly max registrations succeed");
    assert_eq!(brama.len(), max);
    assert_eq!(brama.connections().len(), max);
    for id in &ok {
        brama.status(id.as_str()).expect("registered");
    }

    // Churn at the limit: each unregister frees exactly one place, which exactly one of
    // the racing registrations gets; a watcher checks the count never exceeds the limit.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (brama, stop) = (brama.clone(), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // `len` is reserved before an insert and released after a removal, so
                // it bounds the map's size at every instant. (`connections()` visits one
                // shard at a time and is no snapshot: it may list a removed connection
                // and its replacement together.)
                assert!(brama.len() <= max, "len {} over {max}", brama.len());
            }
        })
    };
    let barrier = Arc::new(Barrier::new(threads));
    let chunks: Vec<Vec<String>> = ok
        .chunks(max.div_ceil(threads))
        .map(<[String]>::to_vec)
        .collect();
    let workers: Vec<_> = chunks
        .into_iter()
        .enumerate()
        .map(|(t, mine)| {
            let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let (mut unregistered, mut registered) = (0usize, 0usize);
                for (i, id) in mine.iter().enumerate() {
                    brama.unregister(id.as_str()).expect("mine");
                    unregistered += 1;
                    for j in 0..3 {
                        let fresh = format!("c{t}-{i}-{j}");
                        match brama.register(fresh.as_str(), Options::new()) {
                            Ok(_) => registered += 1,
                            Err(Error::CapacityExceeded) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                (unregistered, registered)
            })
        })
        .collect();
    let (mut unregistered, mut registered) = (0, 0);
    for w in workers {
        let (u, r) = w.join().expect("worker");
        unregistered += u;
        registered += r;
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    assert!(
        registered <= unregistered,
        "never more registrations than freed places"
    );
    assert_eq!(brama.len(), max - unregistered + registered);
    assert_eq!(brama.connections().len(), brama.len());
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_eq!(dropped, 0);
    assert_eq!(events.len(), max + registered, "one Registered per Ok");
}

fn auto_register_never_overshoots(threads: usize, per_thread: usize, max: usize) {
    let brama = Brama::builder()
        .max_connections(max)
        .auto_register(true)
        .build()
        .expect("valid");
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let mut admitted = 0usize;
                for i in 0..per_thread {
                    // Every thread races for the same keys, and for fresh ones.
                    let shared = format!("s{i}");
                    let own = format!("a{t}-{i}");
                    for id in [shared, own] {
                        if brama.available(id.as_str()) {
                            admitted += 1;
                        }
                        match brama.success(id.as_str()) {
                            Ok(()) | Err(Error::CapacityExceeded) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
                admitted
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(
        brama.len(),
        max,
        "auto-registration fills up to the limit, no more"
    );
    assert_eq!(brama.connections().len(), max);
}

#[test]
fn max_connections_never_overshoots_under_concurrent_registration() {
    max_connections_never_overshoots(4, 40, 97);
    auto_register_never_overshoots(4, 40, 53);
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn max_connections_never_overshoots_large() {
    for _ in 0..20 {
        max_connections_never_overshoots(8, 5_000, 20_011);
        auto_register_never_overshoots(8, 2_000, 5_003);
    }
}
