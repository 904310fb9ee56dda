//! Stress tests: several threads start together at a barrier, hammer a handful of keys
//! while the janitor sweeps every millisecond, and the results are checked exactly
//! afterwards, from the events and the final status of every connection.
//!
//! - `state_changes_are_legal_paths_*`: every key's `StateChanged` events, in sequence
//!   order, form a legal path of the state machine (each change starts where the last
//!   ended; every (from, to, cause) is one the rules allow; evictions only from
//!   `Unknown`/`Closed`); sequence numbers are gap-free; each connection's `trips` equals
//!   the opens its events show (no double transition); no half-open cycle ever has more
//!   than `half_open_probes` probes admitted at once.
//! - `reports_are_conserved_*`: every report by key that returned `Ok` is counted once,
//!   either in a live connection's totals or in the final counts of its
//!   `Evicted`/`Unregistered` event; each key's lifecycle alternates
//!   `Registered` → `Evicted`/`Unregistered` → `Registered` with exactly one
//!   `Registered` per successful registration (no evicted connection comes back).
//! - `max_connections_*`: concurrent registration never overshoots the limit.
//!
//! The default variants are small enough for `cargo test` in debug mode; the `_large`
//! variants are `#[ignore]`d and meant for a release-mode stage (`--ignored`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_core::engine::config::MAX_DURATION;
use brama_sync::{
    Brama, Cause, Error, Event, EventKind, EventType, Filter, Key, Options, Permit, State,
    Subscription,
};

const KEYS: [Key<'static>; 4] = [
    Key::new("k0"),
    Key::new("k1"),
    Key::scoped("svc", "k0"),
    Key::scoped("svc", "k2"),
];

fn key_index(e: &Event) -> Option<usize> {
    e.key().map(|k| {
        KEYS.iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("unexpected key {k:?}"))
    })
}

/// xorshift64*: a small, fast per-thread generator.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }
}

/// Receives every event of `sub` on its own thread until the registry is gone, so the
/// queue never fills; returns the events and how many were dropped.
fn collect(sub: Subscription) -> JoinHandle<(Vec<Event>, u64)> {
    thread::spawn(move || {
        let mut events = Vec::new();
        while let Some(e) = sub.recv() {
            events.push(e);
        }
        (events, sub.dropped())
    })
}

/// Sequence numbers are exactly 1..=n, each connection's arrived in increasing order,
/// and nothing was dropped. (Events of different connections published at the same
/// moment may arrive in either order: `EventBus::publish`, "Order".)
fn assert_gap_free(events: &[Event], dropped: u64) {
    assert_eq!(dropped, 0, "the collector lost events");
    let mut seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    seqs.sort_unstable();
    for (i, seq) in seqs.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "sequence numbers must be gap-free");
    }
    let mut last = std::collections::HashMap::new();
    for e in events.iter().filter(|e| e.key().is_some()) {
        let before = last.insert((e.scope(), e.identifier()), e.seq).unwrap_or(0);
        assert!(
            before < e.seq,
            "a connection's events arrive in order: {e:?}"
        );
    }
}

/// Whether the rules allow this change (SPEC §2).
fn legal(from: State, to: State, cause: Cause) -> bool {
    use State::*;
    match cause {
        Cause::Report => (from, to) == (Unknown, Closed),
        Cause::Threshold => matches!(from, Unknown | Closed) && to == Open,
        Cause::Expiry => (from, to) == (Open, HalfOpen),
        Cause::ProbeSuccess => (from, to) == (HalfOpen, Closed),
        Cause::ProbeFailure => (from, to) == (HalfOpen, Open),
        Cause::ProbeTimeout => (from, to) == (HalfOpen, HalfOpen),
        Cause::ManualOpen => from != Open && to == Open,
        Cause::ManualClose => from != Closed && to == Closed,
        Cause::ManualReset => from != Unknown && to == Unknown,
        _ => false,
    }
}

/// What the lifecycle check learned about one key.
#[derive(Debug, Default)]
struct Lifecycle {
    registered: usize,
    removed: usize,
    /// Successes + failures in the final counts of `Evicted`/`Unregistered` events.
    removed_reports: u64,
    /// The state of the live connection, if any, as its events left it.
    live: Option<State>,
    /// Opens of the live connection seen in its events.
    opens: u64,
    changes: usize,
}

/// Walks every key's events in sequence order and checks that they tell a consistent
/// story: a connection is registered before anything happens to it and removed once;
/// every state change is legal and starts where the previous one ended; `trips` in a
/// removal's final counts equals the opens seen; evictions happen only from `Unknown` or
/// `Closed`. Reports (`Success`/`Failure`) must carry the state the changes left.
/// `states`: the events include every `StateChanged` (otherwise states are not checked).
fn check_lifecycles(events: &[Event], states: bool) -> Vec<Lifecycle> {
    let mut keys: Vec<Lifecycle> = (0..KEYS.len()).map(|_| Lifecycle::default()).collect();
    for e in events {
        let Some(k) = key_index(e) else { continue };
        let l = &mut keys[k];
        let ctx = || format!("key {:?}, event {e:?}", KEYS[k]);
        match &e.kind {
            EventKind::Registered => {
                assert!(
                    l.live.is_none(),
                    "Registered while the previous connection is live: {}",
                    ctx()
                );
                l.registered += 1;
                l.live = Some(State::Unknown);
                l.opens = 0;
            }
            EventKind::Unregistered | EventKind::Evicted => {
                let state = l.live.take().unwrap_or_else(|| {
                    panic!("removal of a connection that is not live: {}", ctx())
                });
                if matches!(e.kind, EventKind::Evicted) {
                    assert!(
                        matches!(e.state, State::Unknown | State::Closed),
                        "evicted in state {:?}: {}",
                        e.state,
                        ctx()
                    );
                }
                if states {
                    assert_eq!(e.state, state, "removal reports the last state: {}", ctx());
                    assert_eq!(e.counts.trips, l.opens, "trips == opens seen: {}", ctx());
                }
                l.removed += 1;
                l.removed_reports += e.counts.total_successes + e.counts.total_failures;
            }
            EventKind::StateChanged { from, to, cause } => {
                let state = l.live.unwrap_or_else(|| {
                    panic!("change of a connection that is not live: {}", ctx())
                });
                assert_eq!(
                    *from,
                    state,
                    "a change starts where the last ended: {}",
                    ctx()
                );
                assert!(legal(*from, *to, *cause), "illegal change: {}", ctx());
                if *to == State::Open {
                    l.opens += 1;
                }
                l.live = Some(*to);
                l.changes += 1;
            }
            EventKind::Success | EventKind::Failure { .. } => {
                let state = l.live.unwrap_or_else(|| {
                    panic!("report on a connection that is not live: {}", ctx())
                });
                assert_eq!(e.state, state, "a report sees the current state: {}", ctx());
            }
            _ => {}
        }
    }
    keys
}

/// The cycle number a permit was admitted in. `Permit` has no accessor for it; its
/// `Debug` output shows the ticket, and a change of that format fails here loudly.
fn cycle_of(p: &Permit<'_>) -> u32 {
    let s = format!("{p:?}");
    let at = s
        .find("gen: ")
        .unwrap_or_else(|| panic!("no cycle number in {s}"));
    s[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no cycle number in {s}"))
}

/// A barrier for rounds of work that a panicking thread breaks: its peers then fail
/// too instead of waiting for it forever (a failed assertion in one worker must fail
/// the test, not hang it).
struct Rounds {
    state: Mutex<(usize, u64, bool)>, // (arrived, generation, broken)
    changed: std::sync::Condvar,
    n: usize,
}

impl Rounds {
    fn new(n: usize) -> Arc<Rounds> {
        Arc::new(Rounds {
            state: Mutex::new((0, 0, false)),
            changed: std::sync::Condvar::new(),
            n,
        })
    }

    /// Waits for all `n` threads; true in exactly one of them (the leader).
    fn wait(&self) -> bool {
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        assert!(!g.2, "a peer thread failed");
        let generation = g.1;
        g.0 += 1;
        if g.0 == self.n {
            g.0 = 0;
            g.1 += 1;
            self.changed.notify_all();
            return true;
        }
        while g.1 == generation && !g.2 {
            g = self.changed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        assert!(!g.2, "a peer thread failed");
        false
    }

    /// Held by each participant: if the thread unwinds, the barrier breaks.
    fn guard(self: &Arc<Rounds>) -> RoundsGuard {
        RoundsGuard(Arc::clone(self))
    }
}

struct RoundsGuard(Arc<Rounds>);

impl Drop for RoundsGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.state.lock().unwrap_or_else(|p| p.into_inner()).2 = true;
            self.0.changed.notify_all();
        }
    }
}

/// Registers `key` (after `NotFound`); returns whether this call registered it.
fn register_again(brama: &Brama, key: Key<'_>) -> bool {
    match brama.register(key, Options::new()) {
        Ok(_) => true,
        Err(Error::AlreadyRegistered) => false,
        Err(e) => panic!("register {key:?}: {e:?}"),
    }
}

/// Waits until the janitor has finished `n` more sweeps (so none started before is
/// still running).
fn await_sweeps(brama: &Brama, n: u64) {
    let start = brama.janitor_sweeps();
    let deadline = Instant::now() + Duration::from_secs(10);
    while brama.janitor_sweeps() < start + n {
        assert!(Instant::now() < deadline, "the janitor stopped sweeping");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The end of a round, run by one thread while the others wait at a barrier: lets open
/// circuits expire (the janitor moves them to half-open), closes every circuit with a
/// success (a probe result), then stays quiet for longer than the inactivity threshold
/// so the janitor evicts them. Returns which keys' successes returned `Ok`, and which
/// keys this call registered again (after `NotFound`).
fn quiet_spell(
    brama: &Brama,
    expiry_and_sweep: Duration,
    idle: Duration,
) -> (Vec<bool>, Vec<bool>) {
    thread::sleep(expiry_and_sweep);
    let mut ok = vec![false; KEYS.len()];
    let mut registered = vec![false; KEYS.len()];
    for (k, key) in KEYS.iter().enumerate() {
        match brama.success(*key) {
            Ok(()) => ok[k] = true,
            Err(Error::NotFound { .. }) => registered[k] = register_again(brama, *key),
            Err(e) => panic!("{key:?}: {e:?}"),
        }
    }
    thread::sleep(idle);
    (ok, registered)
}

// ----- (a) legal paths ----------------------------------------------------------------

/// `observe_reports`: subscribe to `Success`/`Failure` too. With it, every report takes
/// the locked slow path (its event is wanted); without it, reports that change no
/// state take the lock-free fast paths, whose races with transitions are then checked.
fn state_changes_are_legal_paths(
    threads: usize,
    rounds: usize,
    iterations: usize,
    observe_reports: bool,
) {
    const PROBES: u32 = 2;
    let brama = Brama::builder()
        .failure_threshold(3)
        .expiry(Duration::from_millis(1))
        .half_open_probes(PROBES)
        .probe_timeout(Duration::from_millis(3))
        .cleanup_interval(Duration::from_millis(1))
        .inactive_threshold(Duration::from_millis(4))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    let filter = if observe_reports {
        Filter::new()
    } else {
        Filter::new().event_types(
            EventType::ALL
                .into_iter()
                .filter(|t| !matches!(t, EventType::Success | EventType::Failure)),
        )
    };
    let collector = collect(brama.subscribe(filter));
    for k in KEYS {
        brama.register(k, Options::new()).expect("fresh");
    }
    // Probes admitted and not yet reported, per (key, cycle): counted up right after the
    // admission and down right before the report, so never above the true number.
    let in_flight: Arc<Mutex<HashMap<(usize, u32), u32>>> = Arc::default();
    let most = Arc::new(AtomicUsize::new(0));
    let barrier = Rounds::new(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier) = (brama.clone(), Arc::clone(&barrier));
            let (in_flight, most) = (Arc::clone(&in_flight), Arc::clone(&most));
            thread::spawn(move || {
                let _breaks = barrier.guard();
                let mut rng = Rng::new(t as u64 + 1);
                barrier.wait();
                for _ in 0..rounds {
                    for _ in 0..iterations {
                        let k = rng.below(KEYS.len() as u64) as usize;
                        let key = KEYS[k];
                        let result = match rng.below(10) {
                            0..=3 => match brama.acquire(key) {
                                Ok(p) => {
                                    if p.is_probe() {
                                        let cycle = cycle_of(&p);
                                        let n = {
                                            let mut m = in_flight.lock().unwrap();
                                            let n = m.entry((k, cycle)).or_default();
                                            *n += 1;
                                            *n
                                        };
                                        most.fetch_max(n as usize, Ordering::Relaxed);
                                        assert!(
                                            n <= PROBES,
                                            "{n} probes at once in one half-open cycle of {key:?}"
                                        );
                                        thread::yield_now();
                                        *in_flight.lock().unwrap().get_mut(&(k, cycle)).unwrap() -=
                                            1;
                                    }
                                    match rng.below(3) {
                                        0 => p.success(),
                                        1 => p.failure(),
                                        _ => p.ignore(),
                                    }
                                }
                                Err(e) => Err(e),
                            },
                            4..=5 => brama.success(key),
                            6..=8 => brama.failure(key),
                            _ => {
                                brama.available(key);
                                Ok(())
                            }
                        };
                        match result {
                            Ok(()) | Err(Error::Rejected { .. }) => {}
                            Err(Error::NotFound { .. }) => drop(register_again(&brama, key)),
                            Err(e) => panic!("{key:?}: {e:?}"),
                        }
                    }
                    // A quiet spell: circuits close, then idle ones get evicted.
                    if barrier.wait() {
                        quiet_spell(&brama, Duration::from_millis(3), Duration::from_millis(8));
                    }
                    barrier.wait();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let statuses = brama.connections();
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let lifecycles = check_lifecycles(&events, true);
    // A change in the middle of a collection could show in the status but not the
    // events, or vice versa: the registry is dropped, and each event was taken before.
    for s in &statuses {
        let k = KEYS
            .iter()
            .position(|x| x.identifier() == s.identifier && x.scope() == s.scope.as_deref())
            .expect("one of KEYS");
        let l = &lifecycles[k];
        assert_eq!(Some(s.state), l.live, "final state of {:?}", KEYS[k]);
        assert_eq!(s.trips, l.opens, "trips of the live {:?}", KEYS[k]);
    }
    let changes: usize = lifecycles.iter().map(|l| l.changes).sum();
    let evictions: usize = lifecycles.iter().map(|l| l.removed).sum();
    assert!(changes > 0, "the run must change some states");
    eprintln!(
        "legal paths (reports observed: {observe_reports}): {} events, {changes} state \
         changes, {evictions} evictions, at most {} probes at once",
        events.len(),
        most.load(Ordering::Relaxed)
    );
}

#[test]
fn state_changes_are_legal_paths_under_the_janitor() {
    state_changes_are_legal_paths(4, 6, 1_500, true);
}

#[test]
fn state_changes_are_legal_paths_with_lock_free_reports() {
    state_changes_are_legal_paths(4, 8, 3_000, false);
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn state_changes_are_legal_paths_under_the_janitor_large() {
    state_changes_are_legal_paths(8, 40, 50_000, true);
    state_changes_are_legal_paths(8, 40, 50_000, false);
}

// ----- (b) conservation ---------------------------------------------------------------

fn reports_are_conserved(threads: usize, rounds: usize, iterations: usize, churn: bool) {
    let brama = Brama::builder()
        .failure_threshold(2)
        .expiry(Duration::from_millis(1))
        .cleanup_interval(Duration::from_millis(1))
        .inactive_threshold(Duration::from_millis(3))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    // Lifecycle events only: with no subscriber for Success/Failure, reports take the
    // lock-free fast paths.
    let collector = collect(brama.subscribe(Filter::new().event_types([
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
    ])));
    for k in KEYS {
        brama.register(k, Options::new()).expect("fresh");
    }
    let n = KEYS.len();
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + usize::from(churn)));
    let round = Rounds::new(threads);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier, round) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&round));
            thread::spawn(move || {
                let _breaks = round.guard();
                let mut rng = Rng::new(100 + t as u64);
                let mut ok = vec![0u64; n];
                let mut registered = vec![0usize; n];
                barrier.wait();
                for _ in 0..rounds {
                    for _ in 0..iterations {
                        let k = rng.below(n as u64) as usize;
                        let result = if rng.below(3) == 0 {
                            brama.success(KEYS[k])
                        } else {
                            brama.failure(KEYS[k])
                        };
                        match result {
                            Ok(()) => ok[k] += 1,
                            Err(Error::NotFound { .. }) => {
                                registered[k] += usize::from(register_again(&brama, KEYS[k]));
                            }
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    // A quiet spell: circuits close, then idle ones get evicted.
                    if round.wait() {
                        let (closed, again) =
                            quiet_spell(&brama, Duration::from_millis(3), Duration::from_millis(8));
                        for k in 0..n {
                            ok[k] += u64::from(closed[k]);
                            registered[k] += usize::from(again[k]);
                        }
                    }
                    round.wait();
                }
                (ok, registered)
            })
        })
        .collect();
    let churner = churn.then(|| {
        let (brama, barrier, stop) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rng = Rng::new(7);
            let (mut registered, mut unregistered) = (vec![0usize; n], vec![0usize; n]);
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                let k = rng.below(n as u64) as usize;
                match brama.unregister(KEYS[k]) {
                    Ok(_) => unregistered[k] += 1,
                    Err(Error::NotFound { .. }) => {}
                    Err(e) => panic!("{e:?}"),
                }
                thread::yield_now();
                registered[k] += usize::from(register_again(&brama, KEYS[k]));
                thread::sleep(Duration::from_micros(50));
            }
            (registered, unregistered)
        })
    });
    let mut ok = vec![0u64; n];
    let mut registered = vec![1usize; n];
    let joined: Vec<_> = workers.into_iter().map(JoinHandle::join).collect();
    stop.store(true, Ordering::Relaxed);
    for w in joined {
        let (o, r) = w.expect("worker");
        for k in 0..n {
            ok[k] += o[k];
            registered[k] += r[k];
        }
    }
    let mut unregistered = vec![0usize; n];
    if let Some(c) = churner {
        let (r, u) = c.join().expect("churner");
        for k in 0..n {
            registered[k] += r[k];
        }
        unregistered = u;
    }
    // Stop evictions, and let any sweep that started before finish.
    brama
        .set_inactive_threshold(MAX_DURATION)
        .expect("valid threshold");
    await_sweeps(&brama, 2);
    let mut live = vec![None; n];
    for s in brama.connections() {
        let k = KEYS
            .iter()
            .position(|x| x.identifier() == s.identifier && x.scope() == s.scope.as_deref())
            .expect("one of KEYS");
        live[k] = Some(s.total_successes + s.total_failures);
    }
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let lifecycles = check_lifecycles(&events, false);
    let mut evicted = 0;
    for k in 0..n {
        let l = &lifecycles[k];
        assert_eq!(
            l.registered, registered[k],
            "{:?}: one Registered event per successful registration",
            KEYS[k]
        );
        assert_eq!(
            l.live.is_some(),
            live[k].is_some(),
            "{:?}: live at the end exactly when the events say so",
            KEYS[k]
        );
        assert_eq!(
            l.removed,
            l.registered - usize::from(live[k].is_some()),
            "{:?}: every connection but the live one was removed once",
            KEYS[k]
        );
        let counted = l.removed_reports + live[k].unwrap_or(0);
        assert_eq!(
            counted, ok[k],
            "{:?}: reports that returned Ok vs reports counted (live + removed)",
            KEYS[k]
        );
        evicted += l.removed;
    }
    let unregistered: usize = unregistered.iter().sum();
    eprintln!(
        "conservation: {} reports, {evicted} removals ({unregistered} by unregister)",
        ok.iter().sum::<u64>()
    );
}

#[test]
fn reports_are_conserved_across_eviction() {
    reports_are_conserved(4, 8, 2_000, false);
}

#[test]
fn reports_are_conserved_across_eviction_and_unregistration() {
    reports_are_conserved(3, 8, 2_000, true);
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn reports_are_conserved_large() {
    reports_are_conserved(8, 40, 100_000, true);
}

// ----- (c) max_connections -------------------------------------------------------------

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

// ----- (b') conservation where reports and removals collide most ----------------------

/// Reports racing `unregister` on one key whose circuit trips at the first failure and
/// then stays open: most reports find the circuit `Unknown` or just tripped, the states
/// whose reports need more than the lock-free fast path.
///
/// The map's shard locks prefer readers: a key reported on without pause from more
/// threads than there are cores can hold off `unregister` (a writer) for a long time.
/// Reporters therefore yield between reports, and a watchdog stops them after `limit`
/// so the test always ends; the worst `unregister` latency is printed.
fn reports_racing_unregister(threads: usize, cycles: usize, limit: Duration) {
    let brama = Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_secs(3600))
        .event_queue_capacity(1 << 20)
        .build()
        .expect("valid");
    let collector = collect(brama.subscribe(Filter::new().event_types([
        EventType::Registered,
        EventType::Unregistered,
        EventType::Evicted,
    ])));
    let key = KEYS[0];
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(threads + 1));
    let reporters: Vec<_> = (0..threads)
        .map(|t| {
            let (brama, barrier, stop) = (brama.clone(), Arc::clone(&barrier), Arc::clone(&stop));
            thread::spawn(move || {
                let mut ok = 0u64;
                barrier.wait();
                while !stop.load(Ordering::Relaxed) {
                    let r = if t % 2 == 0 {
                        brama.failure(key)
                    } else {
                        brama.success(key)
                    };
                    match r {
                        Ok(()) => ok += 1,
                        Err(Error::NotFound { .. }) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                    thread::yield_now();
                }
                ok
            })
        })
        .collect();
    let watchdog = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let deadline = Instant::now() + limit;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    barrier.wait();
    let (mut registered, mut worst) = (0, Duration::ZERO);
    for _ in 0..cycles {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        brama
            .register(key, Options::new())
            .expect("unregistered before");
        registered += 1;
        thread::yield_now();
        let t0 = Instant::now();
        brama.unregister(key).expect("registered above");
        worst = worst.max(t0.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    watchdog.join().expect("watchdog");
    let ok: u64 = reporters
        .into_iter()
        .map(|r| r.join().expect("reporter"))
        .sum();
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let l = &check_lifecycles(&events, false)[0];
    assert_eq!((l.registered, l.removed), (registered, registered));
    assert_eq!(
        l.removed_reports, ok,
        "every report that returned Ok is in the final counts of an Unregistered event"
    );
    eprintln!(
        "reports racing unregister: {registered} cycles, {ok} reports, worst unregister {worst:?}"
    );
}

#[test]
fn reports_racing_unregister_are_counted_once() {
    reports_racing_unregister(3, 3_000, Duration::from_secs(5));
}

#[test]
#[ignore = "large stress variant; run with --ignored in release mode"]
fn reports_racing_unregister_are_counted_once_large() {
    reports_racing_unregister(8, 1_000_000, Duration::from_secs(60));
}

// ----- exact interleavings, forced with a clock that stops one thread ---------------------

/// A manual clock whose readings on one chosen thread stop, at chosen call numbers,
/// until the test releases them. Every clock reading inside brama is a point where the
/// test can freeze that thread, so a race that stress finds rarely can be replayed
/// exactly.
#[derive(Clone, Default)]
struct GateClock(Arc<GateInner>);

#[derive(Default)]
struct GateInner {
    now: std::sync::atomic::AtomicU64,
    gate: Mutex<Gate>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct Gate {
    thread: Option<thread::ThreadId>,
    calls: u32,
    stops: Vec<u32>,
    stopped_at: Option<u32>,
    released: u32,
}

impl brama_sync::Clock for GateClock {
    fn now(&self) -> Duration {
        let mut g = self.0.gate.lock().unwrap();
        if g.thread == Some(thread::current().id()) {
            g.calls += 1;
            let n = g.calls;
            if g.stops.contains(&n) {
                g.stopped_at = Some(n);
                self.0.changed.notify_all();
                while g.released < n {
                    g = self.0.changed.wait(g).unwrap();
                }
                g.stopped_at = None;
            }
        }
        Duration::from_nanos(self.0.now.load(Ordering::SeqCst))
    }
}

impl GateClock {
    fn advance(&self, d: Duration) {
        self.0
            .now
            .fetch_add(u64::try_from(d.as_nanos()).unwrap(), Ordering::SeqCst);
    }

    /// From now on, the calling thread's clock readings number `stops` stop.
    fn trap_this_thread(&self, stops: &[u32]) {
        let mut g = self.0.gate.lock().unwrap();
        *g = Gate {
            thread: Some(thread::current().id()),
            stops: stops.to_vec(),
            ..Gate::default()
        };
    }

    /// Waits until the trapped thread stops at reading `n` (false after `limit`).
    fn await_stop(&self, n: u32, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut g = self.0.gate.lock().unwrap();
        while g.stopped_at != Some(n) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = self.0.changed.wait_timeout(g, left).unwrap().0;
        }
        true
    }

    /// Lets the trapped thread go on past reading `n`.
    fn release(&self, n: u32) {
        self.0.gate.lock().unwrap().released = n;
        self.0.changed.notify_all();
    }
}

fn gated_brama(clock: &GateClock) -> Brama {
    Brama::builder()
        .failure_threshold(1)
        .expiry(Duration::from_millis(10))
        .cleanup_interval(Duration::from_secs(3600))
        .clock(brama_sync::ClockSource::custom(clock.clone()))
        .build()
        .expect("valid")
}

/// Runs `f` on a new thread and waits up to `limit` for it; returns its handle and
/// whether it finished.
fn spawn_and_wait<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> (JoinHandle<T>, bool) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = thread::spawn(move || {
        let out = f();
        let _ = tx.send(());
        out
    });
    let done = rx.recv_timeout(limit).is_ok();
    (handle, done)
}

/// A success by key whose lock-free attempt under the map's read lock gives up (the
/// circuit it saw had expired) must not count itself lock-free after the guard is
/// dropped: an `unregister` can complete in between, and the report would return `Ok`
/// yet be in no final count. Forced interleaving of the race in `reports_racing_*`.
#[test]
fn a_report_off_the_map_lock_is_in_the_final_counts_or_refused() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[0];
    let events = brama.subscribe(Filter::new().event_type(EventType::Unregistered));
    brama.register(key, Options::new()).expect("fresh");
    brama.failure(key).expect("trips");
    clock.advance(Duration::from_millis(10)); // the open period has passed
    let reporter = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Reading 1: the open-expiry test of the fast path, under the read lock.
            // Reading 2: whatever the report does next.
            clock.trap_this_thread(&[1, 2]);
            brama.success(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "reporter at reading 1"
    );
    // Meanwhile the circuit goes half-open and a probe closes it, with the same deadline.
    assert!(brama.available(key));
    brama.success(key).expect("probe result");
    assert_eq!(brama.status(key).unwrap().state, State::Closed);
    clock.release(1);
    let stopped = clock.await_stop(2, Duration::from_secs(10));
    // The reporter is off the map lock now: unregister can run. If the report holds a
    // lock that removal takes, unregister waits for it.
    let (unregister, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.unregister(key)
    });
    if stopped {
        clock.release(2);
    }
    let reported = reporter.join().expect("reporter");
    let last = unregister
        .join()
        .expect("unregister")
        .expect("was registered");
    drop(brama);
    let e = events
        .recv_timeout(Duration::from_secs(1))
        .expect("Unregistered");
    let expected = 1 + u64::from(reported.is_ok());
    assert_eq!(
        (e.counts.total_successes, last.total_successes),
        (expected, expected),
        "the report returned {reported:?}: it must be in the final counts exactly when Ok"
    );
}

/// The `Unregistered` event of a connection comes before the `Registered` event of the
/// next connection under the same key (SPEC §5: sequence numbers in the order of the
/// changes), even when the registration races the end of the unregistration.
#[test]
fn a_removal_is_published_before_the_key_can_be_registered_again() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[1];
    let collector = collect(brama.subscribe(Filter::new()));
    brama.register(key, Options::new()).expect("fresh");
    let unregister = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Stops at the first clock reading of the unregistration (after the
            // entry is chosen for removal, before or after it leaves the map).
            clock.trap_this_thread(&[1]);
            brama.unregister(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "unregister at reading 1"
    );
    let (register, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.register(key, Options::new())
    });
    clock.release(1);
    unregister.join().expect("thread").expect("was registered");
    let again = register.join().expect("thread");
    assert!(
        matches!(again, Ok(_) | Err(Error::AlreadyRegistered)),
        "{again:?}"
    );
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    check_lifecycles(&events, true);
}

/// A state change of a connection that is being unregistered is published before its
/// `Unregistered` event, and both before the next connection's `Registered`.
#[test]
fn a_state_change_racing_removal_is_published_before_the_next_registration() {
    let clock = GateClock::default();
    let brama = gated_brama(&clock);
    let key = KEYS[2];
    let collector = collect(brama.subscribe(Filter::new()));
    brama.register(key, Options::new()).expect("fresh");
    let reporter = {
        let (brama, clock) = (brama.clone(), clock.clone());
        thread::spawn(move || {
            // Reading 1: the slow path's clock reading, under the transition lock.
            clock.trap_this_thread(&[1]);
            brama.failure(key)
        })
    };
    assert!(
        clock.await_stop(1, Duration::from_secs(10)),
        "reporter at reading 1"
    );
    let (unregister, _) = spawn_and_wait(Duration::from_millis(100), {
        let brama = brama.clone();
        move || brama.unregister(key)
    });
    let (register, _) = spawn_and_wait(Duration::from_millis(300), {
        let brama = brama.clone();
        move || brama.register(key, Options::new())
    });
    clock.release(1);
    let reported = reporter.join().expect("reporter");
    unregister.join().expect("thread").expect("was registered");
    let again = register.join().expect("thread");
    assert!(
        matches!(again, Ok(_) | Err(Error::AlreadyRegistered)),
        "{again:?}"
    );
    drop(brama);
    let (events, dropped) = collector.join().expect("collector");
    assert_gap_free(&events, dropped);
    let l = &check_lifecycles(&events, true)[2];
    assert_eq!(
        l.removed_reports,
        u64::from(reported.is_ok()),
        "the failure is in the final counts exactly when it returned Ok ({reported:?})"
    );
}
