//! A per-thread cache of recent checks by key, so that `available(key)` on a hot key
//! writes nothing shared (a dashmap read lock writes its shard's lock word, which two
//! cores checking the same key then fight over).
//!
//! Direct-mapped, 64 slots per thread, keyed by (registry id, key hash). A slot holds an
//! `Arc` of the cell; a hit still verifies the key and answers only the free case (the
//! cell registered and `Unknown`/`Closed`). Anything else, including a removed cell,
//! falls back to the map, so the cache can never answer for a connection that was
//! unregistered or re-registered. A slot is filled only on the second consecutive
//! check that misses on the same key, so random keys do not pay for an `Arc` clone on
//! every check; the miss is noted in the same access as the look-up. A success that
//! misses notes nothing: it is nearly always the second half of a check on the same
//! key, and counting it as a second use filled (and evicted) a slot on every
//! check-then-report of a cold key (1k shuffled keys, check + success: 132 -> 121 ns
//! unscoped, 160 -> 140 ns scoped, in a scratch loop).
//!
//! Successes by key use it too ([`with_cell`]), through
//! `ConnectionCell::success_unlocked`, which counts in the thread's own lane (a filled
//! slot gives its connection lanes: `prepare_lanes`) or else with a counter that
//! removal seals, so they stay exact across removal without the map's lock. Other
//! reports go to the map.

use std::cell::RefCell;

use crate::circuit::CellRef;
use crate::context::Context;
use crate::key::Key;
use crate::sync::Arc;

const SLOTS: usize = 64;

struct Slot {
    registry: u64,
    hash: u64,
    cell: Option<CellRef>,
    /// The registry's context, with the cell: what a report through [`with_cell_at`]
    /// needs besides the cell, so that its caller need hold no registry.
    cx: Option<Arc<Context>>,
    /// The hash of the last key that missed in this slot (admission filter).
    pending: u64,
}

impl Slot {
    const EMPTY: Slot = Slot {
        registry: 0,
        hash: 0,
        cell: None,
        cx: None,
        pending: 0,
    };
}

thread_local! {
    // Const-initialised and inline (no lazy initialisation, no pointer to a heap
    // buffer): an access is the thread pointer plus an offset and one state check.
    static CACHE: Slots = const { RefCell::new([const { Slot::EMPTY }; SLOTS]) };
}

type Slots = RefCell<[Slot; SLOTS]>;

/// This thread's cache; `None` once the thread is tearing it down.
///
/// Reached through a pointer that a closure of one instruction returns, and no other
/// closure on the way to the look-up: `LocalKey::try_with` is generic over its closure,
/// and with the look-up inside that closure the compiler inlined it only where a binary
/// had a single caller of the by-key check. Anywhere else (a service's crate, the
/// `by_key` benchmark) every check made a call to it: `key_available` 6.9 -> 12.9 ns in
/// the `hot_path` benchmark when a second caller was added (docs/benchmarks.md).
///
/// # Safety
/// The caller must not keep the reference past its own return: the value is this
/// thread's, and only this thread's thread-local destructors destroy it, which never
/// run while one of its functions is still running.
#[inline(always)]
#[allow(unsafe_code)]
unsafe fn slots<'a>() -> Option<&'a Slots> {
    let slots: *const Slots = CACHE.try_with(|c| c as *const Slots).ok()?;
    // SAFETY: `try_with` returned a pointer to this thread's live value (it fails once
    // the value's destructor has started); the caller keeps the reference no longer
    // than the value lives (above). The `RefCell` guards every mutation.
    unsafe { slots.as_ref() }
}

/// The cell in `registry`'s slot for `hash`, if it is `key`'s: [`with_cell`] without
/// the closure, for a caller holding the cache's borrow.
#[inline(always)]
fn cell_in<'c>(
    c: &'c mut [Slot; SLOTS],
    registry: u64,
    hash: u64,
    key: Key<'_>,
    miss: Miss,
) -> Result<&'c CellRef, Cached> {
    let slot = &mut c[index(hash)];
    if slot.registry != registry || slot.hash != hash {
        return Err(match miss {
            Miss::Note => slot.miss(hash),
            Miss::Ignore => Cached::Pass,
        });
    }
    match &slot.cell {
        Some(cell) if cell.key().is(key) => Ok(cell),
        _ => Err(Cached::Fill),
    }
}

#[inline]
fn index(hash: u64) -> usize {
    (hash >> 7) as usize & (SLOTS - 1)
}

/// What this thread's cache answered for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cached {
    /// Not answered: the caller should [`fill`] the slot if the map finds the key
    /// admitting freely (its second consecutive miss in the slot, or the slot holds the
    /// key with a cell that did not answer, such as a removed one).
    Fill,
    /// Not answered, and the miss is noted: leave the slot alone.
    Pass,
}

impl Slot {
    /// A key that is not in this slot missed: fill on its second consecutive miss. The
    /// note is written here, in the same borrow as the look-up, so a miss costs no
    /// second access to the cache.
    #[inline]
    fn miss(&mut self, hash: u64) -> Cached {
        if self.pending == hash {
            Cached::Fill
        } else {
            self.pending = hash;
            Cached::Pass
        }
    }
}

/// What a look-up that misses does with the admission filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// A check: note the miss, and ask for a fill on the second in a row.
    Note,
    /// A success: leave the note alone. A success is nearly always the second half of a
    /// check on the same key, whose miss was just noted; counting it too would fill
    /// the slot on every check-then-report of a cold key.
    Ignore,
}

/// Runs `f` on this thread's cached cell for `key` of `registry`, whatever its state
/// (it may have been removed since it was cached). `Err` if it is not cached:
/// [`Cached::Fill`] if the caller should [`fill`] the slot should the map find the key
/// admitting freely, [`Cached::Pass`] otherwise.
#[inline(always)]
pub(crate) fn with_cell<R>(
    registry: u64,
    hash: u64,
    key: Key<'_>,
    miss: Miss,
    f: impl FnOnce(&CellRef) -> R,
) -> Result<R, Cached> {
    // SAFETY: the reference is used only in this call.
    #[allow(unsafe_code)]
    let Some(Ok(mut c)) = (unsafe { slots() }).map(RefCell::try_borrow_mut) else {
        return Err(Cached::Pass);
    };
    cell_in(&mut c, registry, hash, key, miss).map(f)
}

/// Runs `f` on this thread's cached cell for `hash` of `registry`, and the registry's
/// context, if it is the cell at `address`, whatever its state (it may have been
/// removed since it was cached); `None` if the slot holds another cell or none. No key
/// is compared and no miss is noted: the caller found this cell by its key before
/// (`Registry::peek_at`, `Registry::peek_cached`).
#[inline(always)]
pub(crate) fn with_cell_at<R>(
    registry: u64,
    hash: u64,
    address: usize,
    f: impl FnOnce(&CellRef, &Arc<Context>) -> R,
) -> Option<R> {
    // SAFETY: the reference is used only in this call.
    #[allow(unsafe_code)]
    let c = unsafe { slots() }?.try_borrow().ok()?;
    let slot = &c[index(hash)];
    let (cell, cx) = (slot.cell.as_ref()?, slot.cx.as_ref()?);
    (slot.registry == registry && slot.hash == hash && cell.address() == address)
        .then(|| f(cell, cx))
}

/// Whether this thread's cache holds a cell for `hash` of `registry` (for the tests).
#[cfg(test)]
pub(crate) fn holds(registry: u64, hash: u64) -> bool {
    CACHE.with_borrow(|c| {
        let slot = &c[index(hash)];
        slot.registry == registry && slot.hash == hash && slot.cell.is_some()
    })
}

/// Puts `cell` (with its registry's context `cx`), just found admitting freely through
/// the map, in its slot (after [`Cached::Fill`]).
#[inline(never)]
pub(crate) fn fill(registry: u64, cx: &Arc<Context>, hash: u64, cell: &CellRef) {
    let _ = CACHE.try_with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        let slot = &mut c[index(hash)];
        if slot.registry == registry
            && slot.hash == hash
            && slot
                .cell
                .as_ref()
                .is_some_and(|old| CellRef::ptr_eq(old, cell))
        {
            return;
        }
        // Same key with a replaced cell (re-registered), or another key: take this one,
        // and give it lanes to count this thread's successes in.
        cell.prepare_lanes();
        *slot = Slot {
            registry,
            hash,
            cell: Some(CellRef::clone(cell)),
            cx: Some(Arc::clone(cx)),
            pending: 0,
        };
    });
}

#[cfg(test)]
mod tests {
    use crate::clock::{ClockSource, ManualClock};
    use crate::config::{Config, OpenOptions, Options, Settings};
    use crate::key::Key;
    use crate::registry::Registry;
    use std::sync::Arc;

    fn registry() -> Registry {
        Registry::new(
            Config::default(),
            Settings::default(),
            ClockSource::from(ManualClock::new()),
        )
        .unwrap()
    }

    #[test]
    fn a_cached_key_never_outlives_its_connection_or_state() {
        let r = registry();
        let k = Key::scoped("s", "hot");
        r.register(k, &Options::new()).unwrap();
        for _ in 0..3 {
            assert!(r.available(k)); // the second check installs it in this thread's cache
        }
        r.open(k, &OpenOptions::new()).unwrap();
        assert!(
            !r.available(k),
            "an open circuit is not answered from the cache"
        );
        r.close(k).unwrap();
        assert!(r.available(k));
        r.unregister(k).unwrap();
        assert!(
            !r.available(k),
            "an unregistered key is not answered from the cache"
        );
        r.register(k, &Options::new()).unwrap();
        r.open(k, &OpenOptions::new()).unwrap();
        assert!(
            !r.available(k),
            "the re-registered connection is the one answered"
        );
        assert_eq!(r.status(k).unwrap().total_rejected, 1);
    }

    #[test]
    fn successes_by_key_through_the_cache_count_once_and_only_on_the_live_connection() {
        let r = registry();
        let k = Key::new("hot");
        r.register(k, &Options::new()).unwrap();
        assert!(r.available(k) && r.available(k)); // the second check fills the slot
        assert!(super::holds(r.id, k.key_hash()));
        for _ in 0..5 {
            r.success(k).unwrap(); // through the cache
        }
        assert_eq!(r.status(k).unwrap().total_successes, 5);
        let removed = r.unregister(k).unwrap();
        assert_eq!(removed.total_successes, 5);
        assert!(matches!(
            r.success(k),
            Err(crate::error::Error::NotFound { .. })
        ));
        // Registered again: the cached cell is the removed one, and is never counted.
        r.register(k, &Options::new()).unwrap();
        for _ in 0..3 {
            r.success(k).unwrap();
        }
        assert_eq!(r.status(k).unwrap().total_successes, 3);
    }

    #[test]
    fn a_cached_success_that_must_change_state_or_emit_takes_the_locked_path() {
        use crate::events::{EventType, Filter};
        use crate::state::State;
        let r = registry();
        let k = Key::scoped("s", "k");
        r.register(k, &Options::new()).unwrap();
        for _ in 0..3 {
            r.success(k).unwrap();
        }
        // Consecutive failures to clear: the success must zero them.
        r.failure(k, None).unwrap();
        assert_eq!(r.status(k).unwrap().consecutive_failures, 1);
        r.success(k).unwrap();
        assert_eq!(r.status(k).unwrap().consecutive_failures, 0);
        // Open: counted without closing (the rules), not through the cache.
        r.open(k, &OpenOptions::new()).unwrap();
        r.success(k).unwrap();
        assert_eq!(r.status(k).unwrap().state, State::Open);
        r.close(k).unwrap();
        // A subscriber to successes gets every one.
        let sub = r
            .context()
            .bus
            .subscribe(Filter::new().event_type(EventType::Success));
        for _ in 0..3 {
            r.success(k).unwrap();
        }
        assert_eq!(sub.try_iter().count(), 3);
        assert_eq!(r.status(k).unwrap().total_successes, 8);
    }

    #[test]
    fn a_check_then_a_success_on_a_cold_key_fills_nothing_until_the_key_comes_back() {
        let r = registry();
        let (cold, other) = (Key::new("cold"), Key::new("other"));
        r.register(cold, &Options::new()).unwrap();
        r.register(other, &Options::new()).unwrap();
        assert!(r.available(cold));
        r.success(cold).unwrap();
        assert!(
            !super::holds(r.id, cold.key_hash()),
            "the success is the second half of the check, not a second use"
        );
        r.success(cold).unwrap();
        assert!(
            !super::holds(r.id, cold.key_hash()),
            "successes alone never fill"
        );
        assert!(r.available(cold));
        assert!(super::holds(r.id, cold.key_hash()), "checked again: filled");
        assert_eq!(r.status(cold).unwrap().total_successes, 2);
    }

    #[test]
    fn an_open_circuit_is_refused_from_the_cache_and_each_refusal_counted_once() {
        let r = registry();
        let k = Key::scoped("s", "hot");
        r.register(k, &Options::new()).unwrap();
        assert!(r.available(k) && r.available(k)); // the second check fills the slot
        r.open(k, &OpenOptions::new()).unwrap();
        for _ in 0..3 {
            assert!(!r.available(k));
        }
        assert!(
            super::holds(r.id, k.key_hash()),
            "the refusals were answered without replacing the slot"
        );
        assert_eq!(r.status(k).unwrap().total_rejected, 3);
        let removed = r.unregister(k).unwrap();
        assert_eq!(removed.total_rejected, 3);
        assert!(
            !r.available(k),
            "unregistered: answered by the map, not counted"
        );
        r.register(k, &Options::new()).unwrap();
        assert!(r.available(k), "the new connection is closed");
        assert_eq!(r.status(k).unwrap().total_rejected, 0);
    }

    #[test]
    fn a_spot_finds_its_cell_cached_or_in_the_map_and_never_a_later_one() {
        let r = registry();
        let k = Key::scoped("s", "spot");
        r.register(k, &Options::new()).unwrap();
        let live = |c: &crate::circuit::CellRef| (!c.is_removed()).then_some(());
        // Not cached yet: the first check's spot is found through the map.
        let ((), spot) = r.peek(k, true, live).unwrap();
        assert!(!super::holds(r.id, k.key_hash()));
        assert_eq!(r.peek_at(spot, live), Some(()));
        assert!(!spot.cached());
        assert_eq!(Registry::peek_cached(r.id(), spot, |_, _| ()), None);
        // The second check fills the slot (found through the map once more); the third
        // finds the same cell in the cache, with the registry's context.
        let ((), second) = r.peek(k, true, live).unwrap();
        assert!(super::holds(r.id, k.key_hash()));
        assert_eq!(second, spot);
        let ((), cached) = r.peek(k, true, live).unwrap();
        assert!(cached.cached() && cached.is(&r.map.get(k.key_hash(), k, Arc::clone).unwrap()));
        assert_eq!(r.peek_at(spot, live), Some(()));
        assert_eq!(r.peek_at(cached, live), Some(()));
        let same_cx = |_: &_, cx: &Arc<crate::context::Context>| Arc::ptr_eq(cx, r.context());
        assert_eq!(Registry::peek_cached(r.id(), spot, same_cx), Some(true));
        assert_eq!(
            Registry::peek_cached(r.id() + 1, spot, same_cx),
            None,
            "another registry"
        );
        // On another thread (its own empty cache): through the map.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(r.peek_at(spot, live), Some(()));
                assert_eq!(Registry::peek_cached(r.id(), spot, |_, _| ()), None);
            });
        });
        // Removed: the cached cell is seen removed, the map has none.
        r.unregister(k).unwrap();
        assert_eq!(r.peek_at(spot, live), None);
        assert_eq!(
            r.peek_at(spot, |_| Some(())),
            Some(()),
            "still in the cache"
        );
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(r.peek_at(spot, |_| Some(())), None, "not in the map"));
        });
        // Registered again: the new connection is never found by the old spot.
        r.register(k, &Options::new()).unwrap();
        for _ in 0..3 {
            assert!(r.available(k)); // the cache now holds the new cell
        }
        assert_eq!(r.peek_at(spot, |_| Some(())), None);
        assert_eq!(Registry::peek_cached(r.id(), spot, |_, _| ()), None);
        let ((), new) = r.peek(k, true, live).unwrap();
        assert!(new.cached() && new != cached);
        assert_eq!(r.peek_at(new, live), Some(()));
    }

    #[test]
    fn registries_do_not_share_cache_entries() {
        let (a, b) = (registry(), registry());
        let k = Key::new("k");
        a.register(k, &Options::new()).unwrap();
        for _ in 0..3 {
            assert!(a.available(k));
        }
        assert!(!b.available(k), "unknown in the other registry");
        b.register(k, &Options::new()).unwrap();
        b.open(k, &OpenOptions::new()).unwrap();
        assert!(!b.available(k));
        assert!(a.available(k));
    }

    #[test]
    fn scoped_and_unscoped_keys_with_equal_text_stay_apart() {
        let r = registry();
        r.register(Key::new("a:b"), &Options::new()).unwrap();
        r.register(Key::scoped("a", "b"), &Options::new()).unwrap();
        for _ in 0..3 {
            assert!(r.available(Key::new("a:b")));
        }
        r.open(Key::scoped("a", "b"), &OpenOptions::new()).unwrap();
        assert!(!r.available(Key::scoped("a", "b")));
        assert!(r.available(Key::new("a:b")));
    }

    /// Checks and successes by key from thread-local destructors, before and after the
    /// cache's own is run (their order is unspecified): the cache is reached only while
    /// it lives (`slots`), and the answers are the map's either way.
    #[test]
    fn checks_from_thread_local_destructors_are_answered_whatever_the_teardown_order() {
        use std::cell::RefCell;

        type Seen = Arc<std::sync::Mutex<Vec<bool>>>;
        struct CheckOnDrop(Option<(Arc<Registry>, Seen)>);
        impl Drop for CheckOnDrop {
            fn drop(&mut self) {
                if let Some((r, seen)) = self.0.take() {
                    let k = Key::new("torn");
                    let ok = r.available(k) && r.available(k) && r.success(k).is_ok();
                    // No unwrap in a thread-local destructor: a panic there aborts.
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(ok);
                }
            }
        }
        thread_local! {
            static BEFORE: RefCell<CheckOnDrop> = const { RefCell::new(CheckOnDrop(None)) };
            static AFTER: RefCell<CheckOnDrop> = const { RefCell::new(CheckOnDrop(None)) };
        }

        let r = Arc::new(registry());
        r.register(Key::new("torn"), &Options::new()).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        // A thread joined by its handle, not a scoped one: a scope ends when the
        // closure returns, before the thread's destructors have run; `join` waits for
        // the thread itself.
        let (tr, ts) = (Arc::clone(&r), Arc::clone(&seen));
        std::thread::spawn(move || {
            // Registered before and after the cache is first touched, so that one
            // destructor is likely to run on each side of the cache's.
            BEFORE
                .with(|b| *b.borrow_mut() = CheckOnDrop(Some((Arc::clone(&tr), Arc::clone(&ts)))));
            for _ in 0..3 {
                assert!(tr.available(Key::new("torn"))); // fills this thread's slot
            }
            AFTER.with(|a| *a.borrow_mut() = CheckOnDrop(Some((tr, ts))));
        })
        .join()
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), [true, true]);
        assert_eq!(r.status(Key::new("torn")).unwrap().total_successes, 2);
    }
}
