//! Guarding async calls on tokio: `call_async` through a `Connection`, `call_async_with`
//! with a classifier that reads the response, an `OwnedPermit` moved into a spawned
//! task, and a task printing the circuit's state changes with `recv_async`.
//!
//! A simulated dependency answers "503" during an outage in the middle of the run; the
//! circuit opens, refuses calls without making them, probes after its open duration,
//! and closes once the dependency is back. Runs for about two seconds.
//!
//! Run with `cargo run --example tokio_calls`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brama_sync::{Brama, CallError, EventKind, EventType, Filter, Options, Outcome};

/// The dependency: answers a status code after a short delay; 503 while `down`.
async fn fetch(started: Instant, calls: &AtomicU32) -> Result<u16, std::io::Error> {
    // Relaxed: a statistic of the demo.
    calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t = started.elapsed();
    let down = t > Duration::from_millis(400) && t < Duration::from_millis(1100);
    Ok(if down { 503 } else { 200 })
}

/// 5xx is a failure even though the call returned `Ok`; 4xx says nothing about the
/// dependency.
fn by_status(r: &Result<u16, std::io::Error>) -> Outcome {
    match r {
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(s) if *s >= 400 => Outcome::Ignore,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), brama_sync::Error> {
    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_millis(300))
        .build()?;
    brama.register(("deps", "inventory"), Options::new())?;
    let inventory = brama.connection(("deps", "inventory"))?;

    // State changes, printed as they happen, by a task on the same runtime.
    let sub = brama.subscribe(Filter::new().event_types([EventType::StateChanged]));
    let started = Instant::now();
    let printer = tokio::spawn(async move {
        while let Some(e) = sub.recv_async().await {
            if let EventKind::StateChanged { from, to, cause } = e.kind {
                println!(
                    "{:>5} ms  circuit {}/{}: {from} -> {to} ({cause:?})",
                    started.elapsed().as_millis(),
                    e.scope().unwrap_or(""),
                    e.identifier()
                );
            }
        }
    });

    let calls = Arc::new(AtomicU32::new(0));
    let (mut ok, mut failed, mut refused) = (0, 0, 0);
    while started.elapsed() < Duration::from_millis(2000) {
        // Eight calls at once, each guarded, each classified by its response.
        let mut batch = Vec::new();
        for _ in 0..8 {
            let (conn, calls) = (inventory.clone(), Arc::clone(&calls));
            batch.push(tokio::spawn(async move {
                conn.call_async_with(by_status, fetch(started, &calls))
                    .await
            }));
        }
        for call in batch {
            match call.await.expect("the task ran") {
                Ok(200) => ok += 1,
                Ok(_) | Err(CallError::Failed(_)) => failed += 1,
                Err(CallError::Rejected(_)) => refused += 1,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A permit that moves into a spawned task and reports from there.
    if let Ok(permit) = inventory.acquire_owned() {
        tokio::spawn(async move { permit.success() })
            .await
            .expect("the task ran")?;
    }
    // The plain form: Ok is a success, Err a failure.
    let plain = inventory
        .call_async(async { Ok::<_, std::io::Error>("done") })
        .await;
    println!("a plain call_async: {plain:?}");

    let s = inventory.status()?;
    println!(
        "{ok} answered, {failed} failed, {refused} refused without calling; \
         the dependency saw {} calls; circuit {} ({} trips)",
        // Relaxed: read after every call finished.
        calls.load(Ordering::Relaxed),
        s.state,
        s.trips
    );
    drop((inventory, brama));
    printer.await.expect("the printer ended with the registry");
    Ok(())
}
