//! Shared helpers: the keys, event collection and checks, a breakable barrier, the quiet spell.

use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use brama_sync::{Brama, Cause, Error, Event, EventKind, Key, Options, State, Subscription};

pub(crate) const KEYS: [Key<'static>; 4] = [
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
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }
}

/// Receives every event of `sub` on its own thread until the registry is gone, so the
/// queue never fills; returns the events and how many were dropped.
pub(crate) fn collect(sub: Subscription) -> JoinHandle<(Vec<Event>, u64)> {
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
pub(crate) fn assert_gap_free(events: &[Event], dropped: u64) {
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
pub(crate) struct Lifecycle {
    pub(crate) registered: usize,
    pub(crate) removed: usize,
    /// Successes + failures in the final counts of `Evicted`/`Unregistered` events.
    pub(crate) removed_reports: u64,
    /// The state of the live connection, if any, as its events left it.
    pub(crate) live: Option<State>,
    /// Opens of the live connection seen in its events.
    pub(crate) opens: u64,
    pub(crate) changes: usize,
}

/// Walks every key's events in sequence order and checks that they tell a consistent
/// story: a connection is registered before anything happens to it and removed once;
/// every state change is legal and starts where the previous one ended; `trips` in a
/// removal's final counts equals the opens seen; evictions happen only from `Unknown` or
/// `Closed`. Reports (`Success`/`Failure`) must carry the state the changes left.
/// `states`: the events include every `StateChanged` (otherwise states are not checked).
pub(crate) fn check_lifecycles(events: &[Event], states: bool) -> Vec<Lifecycle> {
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

/// A barrier for rounds of work that a panicking thread breaks: its peers then fail
/// too instead of waiting for it forever (a failed assertion in one worker must fail
/// the test, not hang it).
pub(crate) struct Rounds {
    state: Mutex<(usize, u64, bool)>, // (arrived, generation, broken)
    changed: std::sync::Condvar,
    n: usize,
}

impl Rounds {
    pub(crate) fn new(n: usize) -> Arc<Rounds> {
        Arc::new(Rounds {
            state: Mutex::new((0, 0, false)),
            changed: std::sync::Condvar::new(),
            n,
        })
    }

    /// Waits for all `n` threads; true in exactly one of them (the leader).
    pub(crate) fn wait(&self) -> bool {
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
    pub(crate) fn guard(self: &Arc<Rounds>) -> RoundsGuard {
        RoundsGuard(Arc::clone(self))
    }
}

pub(crate) struct RoundsGuard(Arc<Rounds>);

impl Drop for RoundsGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.state.lock().unwrap_or_else(|p| p.into_inner()).2 = true;
            self.0.changed.notify_all();
        }
    }
}

/// Registers `key` (after `NotFound`); returns whether this call registered it.
pub(crate) fn register_again(brama: &Brama, key: Key<'_>) -> bool {
    match brama.register(key, Options::new()) {
        Ok(_) => true,
        Err(Error::AlreadyRegistered) => false,
        Err(e) => panic!("register {key:?}: {e:?}"),
    }
}

/// Waits until the janitor has finished `n` more sweeps (so none started before is
/// still running).
pub(crate) fn await_sweeps(brama: &Brama, n: u64) {
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
pub(crate) fn quiet_spell(
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
