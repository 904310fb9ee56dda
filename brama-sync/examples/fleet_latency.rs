//! The fleet's figures (docs/fleet.md): the time from a trip on A to B rejecting, over
//! loopback, p50/p99 over 1,000 trips; then 10 instances tripping and closing at a
//! steady rate, with the messages per second the server saw and delivered.
//!
//! ```text
//! redis-server --port 6399 --save "" --appendonly no &
//! cargo run --release -p brama-sync --features redis --example fleet_latency [redis://127.0.0.1:6399/]
//! ```
//! It flushes nothing, but uses its own namespaces (`latency`, `rate`).

use std::time::{Duration, Instant};

use brama_sync::redis::{Attached, SharedState};
use brama_sync::{Brama, Key, Options, State};

fn instance(
    url: &str,
    ns: &str,
    keys: usize,
) -> Result<(Brama, Attached), Box<dyn std::error::Error>> {
    let brama = Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_secs(60))
        .build()?;
    for i in 0..keys {
        brama.register(Key::new(&format!("k{i}")), Options::new())?;
    }
    let fleet = SharedState::new(url).namespace(ns).attach(&brama)?;
    if !fleet.wait_connected(Duration::from_secs(3)) {
        return Err(format!("no redis-server at {url}").into());
    }
    Ok((brama, fleet))
}

fn spin_until(f: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > Duration::from_secs(5) {
            return None;
        }
        std::hint::spin_loop();
    }
    Some(start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn publishes(url: &str) -> Result<(u64, u64), Box<dyn std::error::Error>> {
    let mut c = redis::Client::open(url)?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c)?;
    let calls = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    Ok((calls("cmdstat_publish:"), calls("cmdstat_exec:")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6399/".to_owned());

    // 1. Trip on A -> B rejects, 1,000 times.
    let (a, _fa) = instance(&url, "latency", 1)?;
    let (b, _fb) = instance(&url, "latency", 1)?;
    let k = Key::new("k0");
    let mut samples = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        a.failure(k)?;
        spin_until(|| b.state(k) == Ok(State::Open)).ok_or("B never opened")?;
        samples.push(start.elapsed());
        a.close_circuit(k)?;
        spin_until(|| b.state(k) == Ok(State::Closed)).ok_or("B never closed")?;
    }
    samples.sort();
    println!(
        "trip on A -> B rejects, 1000 trips over loopback: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );

    // 2. Ten instances, each tripping and closing one of 100 keys every 10 ms.
    let n = 10;
    let fleet: Vec<_> = (0..n)
        .map(|_| instance(&url, "rate", 100))
        .collect::<Result<_, _>>()?;
    let (p0, e0) = publishes(&url)?;
    let start = Instant::now();
    let run = Duration::from_secs(5);
    let rounds = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for (i, (brama, _)) in fleet.iter().enumerate() {
            let rounds = &rounds;
            s.spawn(move || {
                let mut j = i;
                while start.elapsed() < run {
                    let key = format!("k{}", j % 100);
                    let _ = brama.failure(Key::new(&key));
                    std::thread::sleep(Duration::from_millis(5));
                    let _ = brama.close_circuit(Key::new(&key));
                    std::thread::sleep(Duration::from_millis(5));
                    j += n;
                    rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let (p1, e1) = publishes(&url)?;
    let applied: u64 = fleet.iter().map(|(_, f)| f.stats().applied).sum();
    let published: u64 = fleet.iter().map(|(_, f)| f.stats().published).sum();
    let trips = rounds.into_inner();
    println!(
        "{n} instances, {:.0} local trips/s and as many manual closes: {:.0} PUBLISH/s and {:.0} \
         transactions/s at the server, {:.0} updates/s published, {:.0} remote changes/s \
         applied across the fleet ({:.1} per published update)",
        trips as f64 / secs,
        (p1 - p0) as f64 / secs,
        (e1 - e0) as f64 / secs,
        published as f64 / secs,
        applied as f64 / secs,
        applied as f64 / published.max(1) as f64,
    );
    Ok(())
}
