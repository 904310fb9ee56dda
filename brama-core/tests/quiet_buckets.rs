//! Quiet successes into a time window (`window/buckets/quiet.rs`): counted in the
//! calling thread's lane while the window is clean, in the epoch of their stamp, and
//! in every sum, flush, clear and eviction exactly as if each had been recorded in its
//! bucket; checked step by step against a sequential model.
//!
//! In a process of its own, one test at a time: the quiet path needs a thread that owns
//! a counter lane (`counter::OWNED_LANES` per process).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use brama_core::engine::counter::lane;
use brama_core::engine::policy::Tallies;
use brama_core::engine::window::Buckets;
use proptest::prelude::*;

const S: u64 = 1_000_000_000;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A ten-second window of one-second buckets, this thread owning a lane.
fn window() -> Buckets {
    assert!(lane().is_owned(), "this test thread got no counter lane");
    Buckets::new(Duration::from_secs(10))
}

/// How a plain success went.
#[derive(Debug, PartialEq)]
enum Went {
    /// Counted in the lane, nothing to decide.
    Quiet,
    /// Counted in the lane, then settled: decide on these tallies if any.
    Settled(Option<Tallies>),
    /// Recorded in its bucket (and the window perhaps opened): decide on these.
    Recorded(Option<Tallies>),
}

/// A plain success at `stamp`, as `ConnectionCell::success_in_time_window` makes it.
fn success(b: &Buckets, stamp: u64) -> Went {
    if let Some(lane) = b.quiet_lane(stamp) {
        lane.incr(Buckets::QUIET);
        if b.still_quiet(stamp) {
            return Went::Quiet;
        }
        return Went::Settled(b.settle_quiet(stamp));
    }
    let t = b
        .record_unless_clean(false, false, stamp)
        .or_else(|| b.open_quiet(stamp));
    Went::Recorded(t)
}

fn calls(calls: u32, failures: u32) -> Tallies {
    Tallies {
        calls,
        failures,
        slow: 0,
    }
}

#[test]
fn quiet_successes_count_in_their_epoch_and_leave_the_window_with_it() {
    let _serial = serial();
    let b = window();
    assert_eq!(
        success(&b, 0),
        Went::Recorded(None),
        "the first opens the window"
    );
    for _ in 0..100 {
        assert_eq!(success(&b, 0), Went::Quiet);
    }
    assert_eq!(b.tallies(0), calls(101, 0));
    assert_eq!(b.quiet_successes(), 100);
    // A new stamp in the next second: recorded, and the 100 go into second 0's bucket.
    assert_eq!(success(&b, S), Went::Recorded(None));
    for _ in 0..50 {
        assert_eq!(success(&b, S), Went::Quiet);
    }
    assert_eq!(b.tallies(S), calls(152, 0));
    assert_eq!(b.tallies(9 * S), calls(152, 0));
    // At 10 s second 0 is out of the window; at 11 s second 1 too.
    assert_eq!(b.tallies(10 * S), calls(51, 0));
    assert_eq!(b.tallies(11 * S), calls(0, 0));
    assert_eq!(152, b.held() + b.evicted(), "none lost, none twice");
}

#[test]
fn the_failure_that_ends_a_clean_spell_counts_the_quiet_successes_and_closes_it() {
    let _serial = serial();
    let b = window();
    assert_eq!(success(&b, 0), Went::Recorded(None));
    for _ in 0..9 {
        assert_eq!(success(&b, 0), Went::Quiet);
    }
    assert_eq!(b.record_unless_clean(true, false, 0), Some(calls(11, 1)));
    assert!(
        !b.is_quiet(0),
        "a dirty window is closed to quiet successes"
    );
    // While the failure is in the window, successes are recorded and decided on.
    assert_eq!(success(&b, 0), Went::Recorded(Some(calls(12, 1))));
    assert_eq!(success(&b, 9 * S), Went::Recorded(Some(calls(13, 1))));
    assert!(!b.is_quiet(9 * S));
    // Once it has left, the window is clean and opens again.
    assert_eq!(success(&b, 10 * S), Went::Recorded(None));
    assert_eq!(success(&b, 10 * S), Went::Quiet);
    assert_eq!(b.tallies(10 * S), calls(3, 0));
    assert_eq!(15, b.held() + b.evicted());
}

#[test]
fn a_quiet_success_that_finds_the_window_closed_settles_and_decides() {
    let _serial = serial();
    let b = window();
    assert_eq!(success(&b, 0), Went::Recorded(None));
    // Counted, then a failure closes the window before the success looks again.
    let lane = b.quiet_lane(0).expect("open");
    lane.incr(Buckets::QUIET);
    assert_eq!(b.record_unless_clean(true, false, 0), Some(calls(3, 1)));
    assert!(!b.still_quiet(0));
    assert_eq!(b.settle_quiet(0), Some(calls(3, 1)), "counted once");
    assert_eq!(3, b.held() + b.evicted());
}

#[test]
fn a_clear_evicts_the_quiet_successes_and_closes_the_window() {
    let _serial = serial();
    let b = window();
    assert_eq!(success(&b, S), Went::Recorded(None));
    for _ in 0..10 {
        assert_eq!(success(&b, S), Went::Quiet);
    }
    b.clear(2 * S);
    assert!(!b.is_quiet(S));
    assert_eq!(b.tallies(2 * S), calls(0, 0));
    // The quiet ones are evicted; the recorded one stays in its bucket, out of the
    // window, until the bucket rolls over (as for any report).
    assert_eq!((b.held(), b.evicted()), (1, 10));
    // A success stamped before the clear is late for the window: evicted.
    assert_eq!(success(&b, S), Went::Recorded(Some(calls(0, 0))));
    assert_eq!(b.tallies(2 * S), calls(0, 0));
    assert_eq!(success(&b, 2 * S), Went::Recorded(None));
    assert_eq!(success(&b, 2 * S), Went::Quiet);
    assert_eq!(b.tallies(2 * S), calls(2, 0));
    assert_eq!(14, b.held() + b.evicted());
}

#[test]
fn an_older_stamp_does_not_move_the_quiet_stamp_back() {
    let _serial = serial();
    let b = window();
    assert_eq!(success(&b, 2 * S), Went::Recorded(None));
    assert_eq!(success(&b, S), Went::Recorded(None));
    assert!(b.is_quiet(2 * S) && !b.is_quiet(S));
    assert_eq!(b.tallies(2 * S), calls(2, 0));
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Step {
    /// The clock moves on by this many tenths of a second.
    Wait(u64),
    Success,
    Failure,
    Slow,
    Clear,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1u64..40).prop_map(Step::Wait),
        8 => Just(Step::Success),
        1 => Just(Step::Failure),
        1 => Just(Step::Slow),
        1 => Just(Step::Clear),
    ]
}

/// The sequential model: every outcome since the last clear with its second, and how
/// many there were in all. The window at second `e` holds those of seconds
/// `e - 9 ..= e`.
#[derive(Default)]
struct Model {
    outcomes: Vec<(u64, bool, bool)>,
    total: u64,
}

impl Model {
    fn report(&mut self, now: u64, failure: bool, slow: bool) {
        self.outcomes.push((now / S, failure, slow));
        self.total += 1;
    }

    fn tallies(&self, now: u64) -> Tallies {
        let e = now / S;
        let oldest = e.saturating_sub(9);
        let mut t = Tallies::default();
        for &(at, failure, slow) in &self.outcomes {
            if at >= oldest && at <= e {
                t.calls += 1;
                t.failures += u32::from(failure);
                t.slow += u32::from(slow);
            }
        }
        t
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn quiet_successes_sum_as_the_model_does(steps in prop::collection::vec(step(), 1..120)) {
        let _serial = serial();
        let b = window();
        let mut m = Model::default();
        let mut now = 0u64;
        let mut quiet = 0u64;
        for s in &steps {
            match s {
                Step::Wait(tenths) => now += tenths * S / 10,
                Step::Success => {
                    if success(&b, now) == Went::Quiet {
                        quiet += 1;
                    }
                    m.report(now, false, false);
                }
                Step::Failure | Step::Slow => {
                    let failure = matches!(s, Step::Failure);
                    let t = b.record(failure, !failure, now);
                    m.report(now, failure, !failure);
                    prop_assert_eq!(t, m.tallies(now), "the report's own tallies");
                    prop_assert!(!b.is_quiet(now), "a dirty window is closed");
                }
                Step::Clear => {
                    b.clear(now);
                    m.outcomes.clear();
                }
            }
            prop_assert_eq!(b.tallies(now), m.tallies(now), "after {:?} at {}", s, now);
            prop_assert_eq!(b.held() + b.evicted(), m.total);
        }
        prop_assert_eq!(b.quiet_successes(), quiet);
    }
}

#[test]
fn the_model_test_takes_the_quiet_path() {
    // The model test above means something only if its successes go quiet: a run of
    // successes at one stamp after the first does.
    let _serial = serial();
    let b = window();
    let went: Vec<Went> = (0..5).map(|_| success(&b, 0)).collect();
    assert_eq!(went[0], Went::Recorded(None));
    assert!(went[1..].iter().all(|w| *w == Went::Quiet), "{went:?}");
}
