//! A real `redis-server` for the fleet tests: started on a free loopback port with no
//! persistence, killed (SIGKILL) when dropped, and restartable on the same port.
//!
//! The binary is `redis-server` from `PATH` (Debian package `redis-server`), or the path
//! in `BRAMA_REDIS_SERVER`. Without it the tests fail with a message that says how to
//! install it; `BRAMA_SKIP_REDIS_TESTS=1` skips them instead (say so when you do).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Event, EventKind, Key, Options, State};

/// How long a test waits for a remote effect before it fails.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

/// The server binary, or `None` when the tests are to be skipped.
fn binary() -> Option<String> {
    if std::env::var_os("BRAMA_SKIP_REDIS_TESTS").is_some_and(|v| v == "1") {
        eprintln!("BRAMA_SKIP_REDIS_TESTS=1: skipping a test that needs redis-server");
        return None;
    }
    let bin = std::env::var("BRAMA_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    match Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Some(bin),
        _ => panic!(
            "`{bin}` was not found or does not run: these tests need a real Redis server. \
             Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; the tests \
             start their own on a free loopback port), or point BRAMA_REDIS_SERVER at the \
             binary, or set BRAMA_SKIP_REDIS_TESTS=1 to skip them."
        ),
    }
}

impl RedisServer {
    /// A server on a free port; `None` only when skipping (see the module docs).
    pub fn start() -> Option<RedisServer> {
        let bin = binary()?;
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("brama-redis-{}-{port}", std::process::id()));
            let mut server = RedisServer {
                child: None,
                port,
                dir,
            };
            if server.spawn(&bin) {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    fn spawn(&mut self, bin: &str) -> bool {
        let _ = std::fs::create_dir_all(&self.dir);
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                return false; // exited: the port was taken meanwhile
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A plain client connection, for what a test writes or reads directly.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .expect("connect to the test redis-server")
    }

    /// SIGKILL, as `kill -9` does; waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        let bin = binary().expect("redis-server");
        let start = Instant::now();
        while !self.spawn(&bin) {
            assert!(
                start.elapsed() < DEADLINE,
                "redis-server did not restart on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `f` until it is true or [`DEADLINE`] passes; answers the last result.
pub fn eventually(f: impl FnMut() -> bool) -> bool {
    eventually_within(DEADLINE, f)
}

/// Polls `f` until it is true or `timeout` passes; answers the last result.
pub fn eventually_within(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() > timeout {
            return f();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How many `SCAN` commands the server has run since it started (`INFO commandstats`).
pub fn scan_calls(raw: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(raw)
        .expect("INFO commandstats");
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a number of calls"))
}

/// A registry on the system clock with `keys` registered: opens after 2 failures,
/// open for 60 s.
pub fn instance(keys: &[Key<'_>]) -> Brama {
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_secs(60))
        .build()
        .expect("build");
    for &k in keys {
        brama.register(k, Options::new()).expect("register");
    }
    brama
}

/// Fails `key` until it opens.
pub fn trip(brama: &Brama, key: Key<'_>) {
    while brama.state(key).expect("state") != State::Open {
        brama.failure_with(key, "timeout").expect("failure");
    }
}

/// The `(from, to, cause)` of a `StateChanged` event.
pub fn change(e: &Event) -> Option<(State, State, brama_sync::Cause)> {
    match e.kind {
        EventKind::StateChanged { from, to, cause } => Some((from, to, cause)),
        _ => None,
    }
}
