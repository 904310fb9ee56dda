//! Quiet successes (`window/buckets/quiet.rs`): counted in a lane, flushed, closed by a failure.

use crate::support;
use brama_core::engine::counter::Lane;
use brama_core::engine::policy::Tallies;
use brama_core::engine::window::Buckets;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// A window of 1 ns buckets (stamp = epoch) with one success recorded at 5 and the
/// window opened to quiet successes at that stamp.
fn opened_at_5() -> Arc<Buckets> {
    let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
    assert_eq!(b.record_unless_clean(false, false, 5), None);
    assert_eq!(b.open_quiet(5), None);
    assert!(b.is_quiet(5));
    b
}

/// A quiet success at 5, as `circuit/quiet.rs` makes it if `look` is `Fenced` (through the shared lane:
/// under loom no thread owns one): `Some(tallies)` if it settled and must decide.
fn quiet_success(b: &Buckets, look: Look) -> Option<Tallies> {
    if !b.is_quiet(5) {
        return Some(b.record(false, false, 5));
    }
    b.count_quiet(Lane::SHARED);
    let still = match look {
        Look::Fenced => b.still_quiet(5),
        Look::Unfenced => b.is_quiet(5),
        Look::Not => true,
    };
    if !still {
        return b.settle_quiet(5);
    }
    None
}

/// How a quiet success looks at the stamp again after counting.
#[derive(Clone, Copy)]
enum Look {
    /// As `Buckets::still_quiet` does: a light fence, then the load.
    Fenced,
    /// The load alone.
    Unfenced,
    /// Not at all.
    Not,
}

/// Runs a quiet success (looking again as `look` says) against the failure that ends
/// the window's clean spell, and checks that the later decides on both and the window
/// holds all three calls.
fn quiet_success_racing_a_failure(look: Look) {
    let b = opened_at_5();
    let failure = {
        let b = Arc::clone(&b);
        thread::spawn(move || b.record_unless_clean(true, false, 5))
    };
    let success = {
        let b = Arc::clone(&b);
        thread::spawn(move || quiet_success(&b, look))
    };
    let f = failure
        .join()
        .unwrap()
        .expect("a failure's window is not clean");
    let s = success.join().unwrap();
    assert!(
        f.calls == 3 || s.is_some_and(|t| t.calls == 3 && t.failures == 1),
        "the later report decides on both: success {s:?}, failure {f:?}"
    );
    assert!(
        !b.is_quiet(5),
        "a dirty window is closed to quiet successes"
    );
    assert_eq!(b.tallies(5).calls, 3);
    assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
}

#[test]
fn a_quiet_success_racing_the_failure_that_ends_the_clean_spell() {
    support::check("window/quiet success", || {
        quiet_success_racing_a_failure(Look::Fenced)
    });
}

#[test]
#[should_panic(expected = "the later report decides on both")]
fn broken_quiet_success_that_does_not_look_again_is_caught() {
    // BROKEN: a quiet success loads the stamp again after counting (`still_quiet`).
    support::check("window/broken quiet twin", || {
        quiet_success_racing_a_failure(Look::Not)
    });
}

#[test]
#[should_panic(expected = "the later report decides on both")]
fn broken_quiet_success_that_looks_again_without_the_fence_is_caught() {
    // BROKEN: `Buckets::still_quiet` runs a light fence before its load.
    support::check("window/broken quiet fence twin", || {
        quiet_success_racing_a_failure(Look::Unfenced)
    });
}

#[test]
fn an_opening_racing_the_failure_that_ends_the_clean_spell() {
    support::check("window/quiet opening", || {
        // A success recorded at 5 (clean), about to open the window at 5, against a
        // failure at 5: whatever the order, the window ends closed to quiet
        // successes, and a quiet success counted meanwhile is decided on.
        let b = Arc::new(Buckets::new(Duration::from_nanos(10)));
        assert_eq!(b.record_unless_clean(false, false, 5), None);
        let opener = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                let reopened = b.open_quiet(5);
                (reopened, quiet_success(&b, Look::Fenced))
            })
        };
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.record_unless_clean(true, false, 5))
        };
        let (reopened, s) = opener.join().unwrap();
        let f = failure.join().unwrap().expect("not clean");
        assert!(
            !b.is_quiet(5),
            "a dirty window is closed to quiet successes"
        );
        assert!(
            f.calls == 3
                || s.is_some_and(|t| t.calls == 3)
                || reopened.is_some_and(|t| t.calls == 3),
            "someone decides on all three: failure {f:?}, success {s:?}, opener {reopened:?}"
        );
        assert_eq!(3, b.held() + b.evicted(), "none lost, none twice");
    });
}

/// The window's quiet stamp and `dirty` mark, as `Buckets` keeps them, with an
/// opening that does not look at the mark again after setting the stamp.
struct TwinQuiet {
    dirty: AtomicU64,
    quiet: AtomicU64,
}

impl TwinQuiet {
    fn open_broken(&self) {
        if self.dirty.load(Ordering::Acquire) != 0 {
            return;
        }
        let _ = self
            .quiet
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
        // BROKEN: `Buckets::open_quiet` fences, loads `dirty` again and closes if it
        // was raised meanwhile.
    }

    fn failure(&self) {
        self.dirty.fetch_max(1, Ordering::Relaxed);
        loom::sync::atomic::fence(Ordering::SeqCst);
        if self.quiet.load(Ordering::Relaxed) != 0 {
            self.quiet.swap(0, Ordering::AcqRel);
        }
    }
}

#[test]
#[should_panic(expected = "closed to quiet successes")]
fn broken_opening_that_does_not_look_again_is_caught() {
    support::check("window/broken opening twin", || {
        let t = Arc::new(TwinQuiet {
            dirty: AtomicU64::new(0),
            quiet: AtomicU64::new(0),
        });
        let opener = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.open_broken())
        };
        let failure = {
            let t = Arc::clone(&t);
            thread::spawn(move || t.failure())
        };
        opener.join().unwrap();
        failure.join().unwrap();
        assert_eq!(
            t.quiet.load(Ordering::Acquire),
            0,
            "a dirty window is closed to quiet successes"
        );
    });
}

#[test]
fn flushes_racing_add_each_quiet_success_once() {
    support::check("window/quiet flushes", || {
        // Two quiet successes at 5; then a failure at 5 (closing, flushing into 5)
        // races an opening at 6 (flushing the successes of 5 into their bucket).
        let b = opened_at_5();
        b.count_quiet(Lane::SHARED);
        b.count_quiet(Lane::SHARED);
        let failure = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.record_unless_clean(true, false, 5);
            })
        };
        let opener = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                b.record_unless_clean(false, false, 6);
                b.open_quiet(6);
            })
        };
        failure.join().unwrap();
        opener.join().unwrap();
        // The first success, two quiet ones, the failure, the opener's success.
        assert_eq!(5, b.held() + b.evicted(), "none lost, none twice");
        assert_eq!(b.tallies(6).calls, 5);
    });
}

#[test]
fn a_failure_deciding_while_another_closes_counts_the_quiet_successes() {
    support::check("window/quiet second failure", || {
        // A quiet success counted before two failures race: the one that ends the
        // clean spell closes and flushes; the other, finding the window dirty, sums
        // meanwhile. Neither decides on a window without the success.
        let b = opened_at_5();
        b.count_quiet(Lane::SHARED);
        let failure = |b: Arc<Buckets>| {
            thread::spawn(move || b.record_unless_clean(true, false, 5).expect("dirty"))
        };
        let first = failure(Arc::clone(&b));
        let second = failure(Arc::clone(&b));
        for t in [first.join().unwrap(), second.join().unwrap()] {
            assert!(
                t.calls - t.failures >= 2,
                "a failure decided without the quiet success: {t:?}"
            );
        }
        assert_eq!(4, b.held() + b.evicted(), "none lost, none twice");
    });
}

#[test]
fn a_quiet_success_racing_a_clear_is_in_the_window_or_evicted() {
    support::check("window/quiet clear", || {
        let b = opened_at_5();
        let success = {
            let b = Arc::clone(&b);
            thread::spawn(move || {
                quiet_success(&b, Look::Fenced);
            })
        };
        let clear = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.clear(5))
        };
        success.join().unwrap();
        clear.join().unwrap();
        // Once both are done nothing is left unflushed: the success is in the
        // window's sums (it landed after the clear) or evicted with the rest.
        assert_eq!(
            2,
            u64::from(b.tallies(5).calls) + b.evicted(),
            "the success is in the window or evicted"
        );
        assert_eq!(2, b.held() + b.evicted(), "none lost, none twice");
    });
}
