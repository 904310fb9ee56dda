//! Issue #19: the hot path with feature `redis` attached equals the hot path without.
//! Starts a `redis-server` on a free loopback port (no persistence; killed on exit),
//! builds two identical registries, attaches one to the server, and times in
//! alternation, in this one process, `Connection::available()`, `Connection::success()`
//! and `Brama::available(key)` on the attached and on the unattached registry: ns/op
//! per round for each, the ratio attached/unattached, and the median ratio (after one
//! untimed warm-up pass).
//!
//! Run (the build a user gets):
//! `RUSTFLAGS="" CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
//!  cargo run --release -p benches --features redis --bin fleet_hot_path`.
//! `FLEET_ITERS` (default 5,000,000) operations per measurement, `FLEET_ROUNDS`
//! (default 7) rounds; `BRAMA_REDIS_SERVER` names the server binary (default
//! `redis-server` from `PATH`).

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use benches::{cpu_model, env_or};
use brama_sync::redis::SharedState;
use brama_sync::{Brama, Connection, Key, Options};

const KEY: Key<'static> = Key::scoped("payments", "stripe");

/// A `redis-server` child, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Server {
    fn start() -> Server {
        let bin = std::env::var("BRAMA_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        for _ in 0..5 {
            let port = TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            let dir = std::env::temp_dir().join(format!(
                "brama-fleet-hot-path-{}-{port}",
                std::process::id()
            ));
            let _ = std::fs::create_dir_all(&dir);
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("`{bin}` does not start ({e}): install redis-server"));
            let mut server = Server { child, port, dir };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn registry() -> Brama {
    let brama = Brama::builder()
        .failure_threshold(5)
        .build()
        .expect("build");
    brama.register(KEY, Options::new()).expect("register");
    brama
}

/// ns per operation of `iters` calls of `op`.
fn time(iters: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let iters = env_or("FLEET_ITERS", 5_000_000) as u64;
    let rounds = env_or("FLEET_ROUNDS", 7);
    let server = Server::start();
    let (plain, attached) = (registry(), registry());
    let fleet = SharedState::new(format!("redis://127.0.0.1:{}/", server.port))
        .namespace("hot-path")
        .attach(&attached)
        .expect("attach");
    assert!(fleet.wait_connected(Duration::from_secs(5)), "connected");
    let (c_plain, c_att): (Connection, Connection) = (
        plain.connection(KEY).expect("registered"),
        attached.connection(KEY).expect("registered"),
    );

    // One untimed pass of every operation on both registries first: the first round
    // otherwise pays for cold caches and the clock's first readings.
    for (b, c) in [(&plain, &c_plain), (&attached, &c_att)] {
        for _ in 0..iters {
            black_box(black_box(c).available());
            let _ = black_box(black_box(c).success());
            black_box(black_box(b).available(black_box(KEY)));
        }
    }

    println!("# fleet_hot_path: ns/op, {rounds} rounds of {iters} ops, attached vs not");
    println!("# CPU: {}", cpu_model());
    println!("# redis-server on 127.0.0.1:{}, link up", server.port);
    let names = [
        "Connection::available",
        "Connection::success",
        "Brama::available",
    ];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            // Alternate which registry goes first, so neither always runs warm.
            let measure = |b: &Brama, c: &Connection| match i {
                0 => time(iters, || {
                    black_box(black_box(c).available());
                }),
                1 => time(iters, || {
                    let _ = black_box(black_box(c).success());
                }),
                _ => time(iters, || {
                    black_box(black_box(b).available(black_box(KEY)));
                }),
            };
            let (without, with) = if round % 2 == 0 {
                let w = measure(&plain, &c_plain);
                (w, measure(&attached, &c_att))
            } else {
                let a = measure(&attached, &c_att);
                (measure(&plain, &c_plain), a)
            };
            let ratio = with / without;
            ratios[i].push(ratio);
            println!(
                "round {round} {name:<22} without {without:6.2} ns  attached {with:6.2} ns  \
                 ratio {ratio:.3}"
            );
        }
    }
    for (name, r) in names.iter().zip(ratios) {
        println!("median ratio {name:<22} {:.3}", median(r));
    }
    let st = fleet.stats();
    println!(
        "# link still up: {}; published {}, disconnects {}",
        fleet.connected(),
        st.published,
        st.disconnects
    );
}
