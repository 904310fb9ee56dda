//! What idle registries cost the machine (issue #20, defect 2): `IDLE_N` (default 200)
//! registries built with `Brama::new()` (each with its janitor thread), left alone,
//! and the process's CPU time and context switches measured over `IDLE_SECS`
//! (default 5 s), read from /proc. Target: 200 idle instances below 1 % of one core.
//!
//! Phases, one after the other, each measured over the same window:
//!
//! - `baseline`: no registry (the harness itself: the main thread sleeping);
//! - `idle`: `IDLE_N` fresh `Brama::new()`, nothing registered, never used;
//! - `used, then idle`: `IDLE_N` fresh `Brama::new()`, each used for `IDLE_USE_MS`
//!   (default 5 ms: a connection registered, failures on it that never trip, which
//!   read the clock's cached reading, so its janitor ticks), then all left alone for
//!   `IDLE_SETTLE_MS` (default 200 ms) before the window: each janitor must go back to
//!   sleep by itself.
//!
//! The figures, per phase, over the window:
//!
//! - CPU: utime + stime of the whole process from /proc/self/stat (clock ticks,
//!   USER_HZ = 100 on Linux, so 10 ms resolution: 1 % of a core over 5 s is 5 ticks;
//!   it includes the harness's own reading of /proc at one end of the window, a few
//!   milliseconds for 200 threads), and the sum of the run time of every thread but
//!   the main one (the janitors) from /proc/self/task/*/schedstat (nanoseconds), each
//!   as a percentage of one core;
//! - context switches per second: voluntary + nonvoluntary, summed over
//!   /proc/self/task/*/status;
//! - janitor wake-ups per second, summed over the instances (`janitor_wakeups()`).
//!
//! Run it as a user builds brama (no rustflags, thin LTO, one codegen unit; see
//! scripts/bench_user.sh):
//!
//! ```text
//! RUSTFLAGS= CARGO_PROFILE_BENCH_LTO=thin CARGO_PROFILE_BENCH_CODEGEN_UNITS=1 \
//!   cargo run --profile bench -p benches --bin idle
//! ```
//!
//! Linux only (it reads /proc); elsewhere it says so and exits.

use benches::{cpu_model, env_or};
use std::fs;
use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use brama_sync::{Brama, Options};

/// Linux's USER_HZ: the unit of utime and stime in /proc/self/stat.
const USER_HZ: f64 = 100.0;

/// One reading of the process's counters.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    /// utime + stime of the whole process, in clock ticks.
    ticks: u64,
    /// Sum of the run time (schedstat) of every thread but the main one (the
    /// janitors), in nanoseconds.
    run_ns: u64,
    /// Sum of the threads' voluntary + nonvoluntary context switches.
    switches: u64,
    threads: usize,
}

/// utime + stime (fields 14 and 15) of /proc/self/stat, counted after the command
/// name's closing parenthesis (the name may hold spaces).
fn stat_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    // `rest` starts at field 3 (state); utime is field 14, stime 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

fn sample() -> Sample {
    let at = Instant::now();
    let ticks = stat_ticks();
    let main_tid = std::process::id().to_string();
    let (mut run_ns, mut switches, mut threads) = (0, 0, 0);
    for task in fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let task = task.expect("task");
        let main = task.file_name().to_str() == Some(main_tid.as_str());
        let dir = task.path();
        // A thread that exited since the listing is skipped.
        let (Ok(sched), Ok(status)) = (
            fs::read_to_string(dir.join("schedstat")),
            fs::read_to_string(dir.join("status")),
        ) else {
            continue;
        };
        threads += 1;
        run_ns += if main { "0" } else { sched.as_str() }
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Sample {
        at,
        ticks,
        run_ns,
        switches,
        threads,
    }
}

/// What one phase measured.
struct Row {
    phase: &'static str,
    instances: usize,
    threads: usize,
    cpu_stat_pct: f64,
    cpu_sched_pct: f64,
    switches_per_s: f64,
    wakeups_per_s: f64,
}

/// Measures the process over `window` while `bramas` sit idle (the main thread sleeps).
fn measure(phase: &'static str, bramas: &[Brama], window: Duration) -> Row {
    let wakeups = |b: &[Brama]| b.iter().map(janitor_wakeups).sum::<u64>();
    let w0 = wakeups(bramas);
    let a = sample();
    thread::sleep(window);
    let b = sample();
    let w1 = wakeups(bramas);
    let secs = (b.at - a.at).as_secs_f64();
    Row {
        phase,
        instances: bramas.len(),
        threads: b.threads,
        cpu_stat_pct: 100.0 * (b.ticks - a.ticks) as f64 / USER_HZ / secs,
        cpu_sched_pct: 100.0 * (b.run_ns.saturating_sub(a.run_ns)) as f64 / 1e9 / secs,
        switches_per_s: (b.switches.saturating_sub(a.switches)) as f64 / secs,
        wakeups_per_s: (w1 - w0) as f64 / secs,
    }
}

/// The janitor's wake-ups so far (a counter brama keeps since the janitor modes).
fn janitor_wakeups(b: &Brama) -> u64 {
    b.janitor_wakeups()
}

/// Uses `brama` for `for_`: a connection whose failures never trip it, each failure
/// stamping the clock's cached reading (so the janitor ticks while it lasts).
fn use_briefly(brama: &Brama, for_: Duration) {
    brama
        .register("db", Options::new().failure_threshold(u32::MAX))
        .expect("new key");
    let db = brama.connection("db").expect("registered");
    let until = Instant::now() + for_;
    while Instant::now() < until {
        black_box(db.available());
        black_box(db.failure()).expect("registered");
    }
}

fn main() {
    if fs::metadata("/proc/self/stat").is_err() {
        println!("idle: needs Linux's /proc; nothing measured");
        return;
    }
    let n: usize = env_or("IDLE_N", 200);
    let window = Duration::from_secs_f64(env_or("IDLE_SECS", 5.0f64).max(0.5));
    let use_for = Duration::from_millis(env_or("IDLE_USE_MS", 5));
    let settle = Duration::from_millis(env_or("IDLE_SETTLE_MS", 200));

    println!("CPU: {}", cpu_model());
    println!(
        "cores: {}, load average: {}",
        thread::available_parallelism().map_or(0, |p| p.get()),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{n} instances, window {:.1} s, each used {} ms in the second phase, then {} ms to settle",
        window.as_secs_f64(),
        use_for.as_millis(),
        settle.as_millis()
    );

    let mut rows = vec![measure("baseline (no registry)", &[], window)];

    let bramas: Vec<Brama> = (0..n).map(|_| Brama::new()).collect();
    thread::sleep(settle);
    rows.push(measure("idle", &bramas, window));
    drop(bramas);

    let bramas: Vec<Brama> = (0..n).map(|_| Brama::new()).collect();
    for b in &bramas {
        use_briefly(b, use_for);
    }
    thread::sleep(settle);
    rows.push(measure("used, then idle", &bramas, window));
    drop(bramas);

    println!();
    println!(
        "| phase | instances | threads | CPU, % of one core (stat) | janitor threads' CPU, % of one core (schedstat) | context switches / s | janitor wake-ups / s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.3} | {:.0} | {:.1} |",
            r.phase,
            r.instances,
            r.threads,
            r.cpu_stat_pct,
            r.cpu_sched_pct,
            r.switches_per_s,
            r.wakeups_per_s
        );
    }
}
