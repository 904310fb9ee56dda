//! brama's metrics served to Prometheus (feature `metrics`), with
//! `metrics-exporter-prometheus`'s HTTP listener on 127.0.0.1:
//!
//! ```text
//! cargo run -p brama-sync --example metrics_prometheus --features metrics [-- seconds [port]]
//! curl -s http://127.0.0.1:9000/metrics | grep brama_
//! ```
//!
//! Three upstreams get simulated traffic for a while (10 s by default); `search/elastic`
//! goes down in bursts and trips. The janitor publishes every connection's counters after each sweep
//! (every second here); at the end the example scrapes its own endpoint once and
//! prints brama's lines. Ends by itself.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Key, Options};
use metrics_exporter_prometheus::PrometheusBuilder;

/// Whether an upstream's call in a given round fails.
type Fails = fn(u64) -> bool;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let port: u16 = args.next().and_then(|s| s.parse().ok()).unwrap_or(9000);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()?;
    println!("serving http://{addr}/metrics for {seconds} s");

    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_secs(2))
        .cleanup_interval(Duration::from_secs(1)) // a sweep, and a publish, each second
        .build()?;
    // Which round's call fails, per upstream.
    let upstreams: [(Key<'static>, Fails); 3] = [
        (Key::scoped("payments", "stripe"), |round| round % 50 == 0),
        // Down for 100 rounds (half a second) out of every 600.
        (Key::scoped("search", "elastic"), |round| round % 600 < 100),
        (Key::new("db"), |_| false),
    ];
    for (key, _) in upstreams {
        brama.register(key, Options::new())?;
    }
    let started = Instant::now();
    let mut round: u64 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        round += 1;
        for (key, fails) in upstreams {
            let _ = brama.call(key, || if fails(round) { Err("boom") } else { Ok(()) });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    brama.publish_metrics();

    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    println!("scraped http://{addr}/metrics:");
    for line in response.lines().filter(|l| l.starts_with("brama_")) {
        println!("  {line}");
    }
    Ok(())
}
