//! What a subscriber costs the reporters (issue #20, defect 5): nanoseconds per
//! `failure()` through a `Connection` (threshold never reached, so every failure is a
//! plain report that publishes one `Failure` event) with S live subscriptions, on one
//! thread and on two threads reporting on two different connections at once.
//!
//! Subscriptions come in two kinds: `all`, whose filter matches every failure (each
//! publish pushes to every queue), and `other`, whose filter names another scope (each
//! publish tests the filter and pushes nothing). A drain thread empties the `all`
//! queues so they never fill. Each figure is the median of `PUBLISH_ROUNDS` rounds of
//! `PUBLISH_ITERS` failures per thread.
//!
//! Run: `cargo run --release -p benches --bin publish` (for the build a user gets,
//! prefix `RUSTFLAGS="" CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1`).

use benches::{cpu_model, env_or};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use brama_sync::{Brama, Connection, EventType, Filter, Key, ManualClock, Options, Subscription};

/// Median ns per failure per thread with `threads` reporters, each on its own key.
fn measure(brama: &Brama, conns: &[Connection], threads: usize, iters: u64, rounds: usize) -> f64 {
    let mut per_op: Vec<f64> = (0..rounds)
        .map(|_| {
            let slowest = thread::scope(|s| {
                let handles: Vec<_> = conns[..threads]
                    .iter()
                    .map(|c| {
                        s.spawn(move || {
                            let start = Instant::now();
                            for _ in 0..iters {
                                c.failure().expect("registered");
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("reporter"))
                    .max()
                    .unwrap_or_default()
            });
            slowest.as_nanos() as f64 / iters as f64
        })
        .collect();
    let _ = brama;
    per_op.sort_by(f64::total_cmp);
    per_op[per_op.len() / 2]
}

fn main() {
    let iters = env_or("PUBLISH_ITERS", 20_000) as u64;
    let rounds = env_or("PUBLISH_ROUNDS", 7);
    println!("# publish: ns per failure() per thread, median of {rounds} rounds of {iters}");
    println!(
        "# CPU: {}, {} cores",
        cpu_model(),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| subscriptions | kind | 1 thread | 2 threads, 2 connections |");
    println!("|---:|---|---:|---:|");
    for &count in &[0usize, 1, 10, 100, 1000] {
        for kind in ["all", "other"] {
            if count == 0 && kind == "other" {
                continue;
            }
            let brama = Brama::builder()
                .failure_threshold(u32::MAX)
                .clock(ManualClock::new())
                .event_queue_capacity(1 << 16)
                .build()
                .expect("valid settings");
            let keys = [Key::scoped("svc", "a"), Key::scoped("svc", "b")];
            for k in keys {
                brama.register(k, Options::new()).expect("fresh key");
            }
            let conns: Vec<Connection> = keys
                .iter()
                .map(|&k| brama.connection(k).expect("registered"))
                .collect();
            let filter = match kind {
                "all" => Filter::new().event_type(EventType::Failure),
                _ => Filter::new()
                    .event_type(EventType::Failure)
                    .scope("elsewhere"),
            };
            let subs: Arc<Vec<Subscription>> = Arc::new(
                (0..count)
                    .map(|_| brama.subscribe(filter.clone()))
                    .collect(),
            );
            let stop = Arc::new(AtomicBool::new(false));
            let drain = {
                let (subs, stop) = (Arc::clone(&subs), Arc::clone(&stop));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let mut got = 0;
                        for s in subs.iter() {
                            got += s.try_iter().count();
                        }
                        if got == 0 {
                            thread::yield_now();
                        }
                    }
                })
            };
            let one = measure(&brama, &conns, 1, iters, rounds);
            let two = measure(&brama, &conns, 2, iters, rounds);
            stop.store(true, Ordering::Relaxed);
            drain.join().expect("drain");
            let dropped: u64 = subs.iter().map(Subscription::dropped).sum();
            println!(
                "| {count} | {kind} | {one:.0} ns | {two:.0} ns |{}",
                if dropped > 0 {
                    format!(" ({dropped} dropped)")
                } else {
                    String::new()
                }
            );
        }
    }
}
