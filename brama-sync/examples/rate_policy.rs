//! Rate policies (SPEC §8): a dependency that fails 30 % of its calls, and one that
//! answers every call but slowly, both trip a rate policy, while the default policy
//! (five consecutive failures) never sees them as down.
//!
//! Run with `cargo run -p brama-sync --example rate_policy`. The calls are simulated
//! (their outcomes and durations are drawn from a fixed pattern), so the run is
//! instant and the same every time.

use std::time::Duration;

use brama_sync::{Brama, Error, Options, State, TripPolicy, Window};

/// Call `i` of the flaky dependency fails 3 times in 10, never twice in a row.
fn flaky_fails(i: u32) -> bool {
    matches!(i % 10, 0 | 3 | 6)
}

/// Call `i` of the slow dependency succeeds, in 600-900 ms four times in five.
fn slow_latency(i: u32) -> Duration {
    if i % 5 == 4 {
        Duration::from_millis(80)
    } else {
        Duration::from_millis(600 + u64::from(i % 4) * 100)
    }
}

fn main() -> Result<(), Error> {
    // The default: 5 consecutive failures.
    let brama = Brama::builder().failure_threshold(5).build()?;
    // Per connection: open at 25 % failures or 70 % calls slower than 500 ms, over the
    // last 20 calls, deciding from the 10th.
    let rate = TripPolicy::failure_rate(0.25)
        .window(Window::count(20))
        .minimum_calls(10)
        .slow_calls(Duration::from_millis(500), 0.7);
    brama.register(("payments", "flaky-consecutive"), Options::new())?;
    brama.register(("payments", "slow-consecutive"), Options::new())?;
    brama.register(("payments", "flaky-rate"), Options::new().trip_policy(rate))?;
    brama.register(("payments", "slow-rate"), Options::new().trip_policy(rate))?;

    for i in 0..40 {
        for id in ["flaky-consecutive", "flaky-rate"] {
            let key = ("payments", id);
            if !brama.available(key) {
                continue;
            }
            if flaky_fails(i) {
                brama.failure_after(key, Duration::from_millis(20))?;
            } else {
                brama.success_after(key, Duration::from_millis(20))?;
            }
        }
        for id in ["slow-consecutive", "slow-rate"] {
            let key = ("payments", id);
            if brama.available(key) {
                brama.success_after(key, slow_latency(i))?;
            }
        }
    }

    println!("after 40 calls to each dependency:");
    for id in [
        "flaky-consecutive",
        "flaky-rate",
        "slow-consecutive",
        "slow-rate",
    ] {
        let s = brama.status(("payments", id))?;
        let pct = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.0} %", r * 100.0));
        println!(
            "  {id:<18} {:<8} calls in window {:>2}  failure rate {:>5}  slow-call rate {:>5}  trips {}",
            format!("{:?}", s.state),
            s.window_calls,
            pct(s.failure_rate),
            pct(s.slow_call_rate),
            s.trips,
        );
    }
    // What the example shows, checked.
    assert_eq!(
        brama.state(("payments", "flaky-consecutive"))?,
        State::Closed
    );
    assert_eq!(
        brama.state(("payments", "slow-consecutive"))?,
        State::Closed
    );
    assert_eq!(brama.state(("payments", "flaky-rate"))?, State::Open);
    assert_eq!(brama.state(("payments", "slow-rate"))?, State::Open);
    Ok(())
}
