//! A live demo: simulated dependencies with different failure patterns, driven by
//! worker threads for about ten seconds, with a table of each circuit and the state
//! changes as they happen.
//!
//! Run with `cargo run --release --example demo` (`-- --seconds N` to change the length).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, EventKind, EventType, ExpiryStrategy, Filter, Key, Options};

/// How a simulated dependency behaves over time.
#[derive(Clone, Copy)]
enum Pattern {
    /// Always answers.
    Healthy,
    /// Fails this fraction of calls at random.
    Flaky(f64),
    /// Down between these seconds of the run, healthy otherwise.
    Outage(f64, f64),
    /// Fails every call.
    Dead,
}

struct Dependency {
    scope: &'static str,
    name: &'static str,
    pattern: Pattern,
}

const DEPENDENCIES: [Dependency; 5] = [
    Dependency {
        scope: "payments",
        name: "stripe",
        pattern: Pattern::Healthy,
    },
    Dependency {
        scope: "payments",
        name: "paypal",
        pattern: Pattern::Flaky(0.6),
    },
    Dependency {
        scope: "storage",
        name: "postgres",
        pattern: Pattern::Outage(2.0, 5.0),
    },
    Dependency {
        scope: "storage",
        name: "redis",
        pattern: Pattern::Flaky(0.05),
    },
    Dependency {
        scope: "search",
        name: "elastic",
        pattern: Pattern::Dead,
    },
];

/// A small xorshift generator, so the demo needs no dependency.
fn next_random(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn call(pattern: Pattern, elapsed: f64, rng: &mut u64) -> Result<(), &'static str> {
    let ok = match pattern {
        Pattern::Healthy => true,
        Pattern::Flaky(p) => next_random(rng) >= p,
        Pattern::Outage(from, to) => !(from..to).contains(&elapsed),
        Pattern::Dead => false,
    };
    if ok {
        Ok(())
    } else {
        Err("timeout")
    }
}

fn main() -> Result<(), brama_sync::Error> {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);

    let brama = Brama::builder()
        .failure_threshold(5)
        .expiry_strategy(ExpiryStrategy::Progressive {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(4),
            factor: 2.0,
        })
        .jitter(0.1)
        .half_open_probes(1)
        .cleanup_interval(Duration::from_millis(100))
        .build()?;
    for d in &DEPENDENCIES {
        brama.register(
            Key::scoped(d.scope, d.name),
            Options::new().metadata("pattern", pattern_name(d.pattern)),
        )?;
    }

    let changes = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));

    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let brama = brama.clone();
            let stop = Arc::clone(&stop);
            let calls = Arc::clone(&calls);
            thread::spawn(move || {
                let handles: Vec<_> = DEPENDENCIES
                    .iter()
                    .map(|d| (d.pattern, brama.connection(Key::scoped(d.scope, d.name))))
                    .collect();
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (w + 1);
                while !stop.load(Ordering::Relaxed) {
                    for (pattern, handle) in &handles {
                        let Ok(handle) = handle else { continue };
                        let elapsed = start.elapsed().as_secs_f64();
                        let _ = handle.call(|| call(*pattern, elapsed, &mut rng));
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();

    let mut next_table = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(seconds) {
        while let Some(e) = changes.recv_timeout(Duration::from_millis(50)) {
            if let EventKind::StateChanged { from, to, cause } = e.kind {
                println!(
                    "  [{:>5.2}s] #{:<4} {:>9}/{:<9} {:>9} -> {:<9} ({cause})",
                    start.elapsed().as_secs_f64(),
                    e.seq,
                    e.scope().unwrap_or(""),
                    e.identifier(),
                    from.to_string(),
                    to.to_string(),
                );
            }
        }
        if start.elapsed() >= next_table {
            print_table(&brama, start.elapsed(), calls.load(Ordering::Relaxed));
            next_table += Duration::from_secs(1);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn pattern_name(p: Pattern) -> &'static str {
    match p {
        Pattern::Healthy => "healthy",
        Pattern::Flaky(_) => "flaky",
        Pattern::Outage(..) => "outage 2s-5s",
        Pattern::Dead => "dead",
    }
}

fn print_table(brama: &Brama, elapsed: Duration, calls: u64) {
    let mut rows = brama.connections();
    rows.sort_by(|a, b| (&a.scope, &a.identifier).cmp(&(&b.scope, &b.identifier)));
    println!("\n--- t = {:.1}s, {calls} calls ---", elapsed.as_secs_f64());
    println!(
        "{:<20} {:<13} {:<10} {:>8} {:>6} {:>9} {:>9}",
        "connection", "pattern", "state", "success", "trips", "rejected", "open dur"
    );
    for s in rows {
        let name = format!("{}/{}", s.scope.as_deref().unwrap_or(""), s.identifier);
        let rate = s
            .success_rate()
            .map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0));
        println!(
            "{:<20} {:<13} {:<10} {:>8} {:>6} {:>9} {:>8.1}s",
            name,
            s.metadata.get("pattern").map_or("", String::as_str),
            s.state.to_string(),
            rate,
            s.trips,
            s.total_rejected,
            s.open_duration.as_secs_f64(),
        );
    }
    println!();
}
