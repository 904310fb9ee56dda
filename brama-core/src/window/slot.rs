//! [`WindowSlot`]: the cell's rate window, reached with two loads and no reference
//! count, because no window is freed while its connection lives.
//!
//! The slot points at a home, allocated the first time the connection gets a rate
//! policy, that owns every window the connection has had and points at the one in
//! force (or none, under the consecutive policy). Windows are added, and the pointer
//! moved, only under the cell's transition lock; they are freed with the slot, when
//! the cell is dropped and nothing can read them. A report that read the pointer just
//! before it moved records into a window that still exists: the race every transition
//! has with a report in flight, and the reason the old window is never reused while a
//! report is in flight in it ([`RateWindow::try_clear`]).

use std::ptr;

use super::RateWindow;
use crate::clock::Nanos;
use crate::policy::Rate;
use crate::sync::{lock, AtomicPtr, Mutex, Ordering};

/// The cell's rate windows.
#[derive(Debug)]
pub struct WindowSlot {
    home: AtomicPtr<Home>,
}

#[derive(Debug)]
struct Home {
    current: AtomicPtr<RateWindow>,
    // Every window the connection has had, from `Box::into_raw`, freed with the slot.
    // Pushed under the transition lock; the mutex only satisfies the borrow rules.
    all: Mutex<Vec<AtomicPtr<RateWindow>>>,
}

impl WindowSlot {
    /// A slot with no window.
    pub fn new() -> WindowSlot {
        WindowSlot {
            home: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The window in force, if any.
    #[inline]
    pub fn get(&self) -> Option<&RateWindow> {
        let home = self.home()?;
        // Acquire: the window was written before its pointer was published (Release).
        self.deref(home.current.load(Ordering::Acquire))
    }

    /// Puts a window serving `rate` in force, under the transition lock, and returns
    /// it: the one in force if it serves `rate` (its outcomes kept, or cleared in
    /// place at `now` if `!keep`), else one the connection had for `rate`, cleared in
    /// place, else a new one. `None` puts none in force.
    pub fn serve(&self, rate: Option<Rate>, now: Nanos, keep: bool) -> Option<&RateWindow> {
        let current = self.get();
        let Some(rate) = rate else {
            if let Some(home) = self.home() {
                // Release: as every publication of the pointer.
                home.current.store(ptr::null_mut(), Ordering::Release);
            }
            return None;
        };
        if let Some(win) = current.filter(|w| w.rate == rate) {
            if keep || win.try_clear(now) {
                return Some(win);
            }
        }
        let home = self.home_or_make()?;
        let mut all = lock(&home.all);
        let reuse = all
            .iter()
            // Relaxed: written once, under this lock.
            .map(|w| w.load(Ordering::Relaxed))
            .find(|&p| {
                self.deref(p).is_some_and(|w| {
                    !current.is_some_and(|c| ptr::eq(c, w)) && w.rate == rate && w.try_clear(now)
                })
            });
        let win = reuse.unwrap_or_else(|| {
            let fresh = Box::into_raw(Box::new(RateWindow::new(rate)));
            // Exact: most connections only ever have one window.
            all.reserve_exact(1);
            all.push(AtomicPtr::new(fresh));
            fresh
        });
        drop(all);
        // Release: the window (made, or cleared) is seen whole by a report that loads
        // the pointer.
        home.current.store(win, Ordering::Release);
        self.deref(win)
    }

    /// Every success counted quietly in any of the connection's time windows
    /// (`buckets/quiet.rs`): part of its total successes.
    pub fn quiet_successes(&self) -> u64 {
        let mut total = 0;
        self.each_time_window(|b| total += b.quiet_successes());
        total
    }

    /// Freezes the quiet counts of every time window (the connection was removed),
    /// after the caller's own seal of the cell's counters: its heavy fence, run when
    /// any of these counts has lanes ([`has_quiet_lanes`](Self::has_quiet_lanes)),
    /// orders these reads too.
    pub fn seal_quiet(&self) {
        self.each_time_window(|b| b.seal_quiet(false));
    }

    /// Whether any time window's quiet count has lanes, where a thread may be
    /// counting with a plain store.
    pub fn has_quiet_lanes(&self) -> bool {
        let mut any = false;
        self.each_time_window(|b| any |= b.has_quiet_lanes());
        any
    }

    fn each_time_window(&self, mut f: impl FnMut(&super::Buckets)) {
        let Some(home) = self.home() else {
            return;
        };
        for w in lock(&home.all).iter() {
            // Relaxed: written once, under the transition lock.
            if let Some(super::Store::Time(b)) =
                self.deref(w.load(Ordering::Relaxed)).map(RateWindow::store)
            {
                f(b);
            }
        }
    }

    /// The windows the connection has (for tests and memory figures).
    pub fn windows(&self) -> usize {
        self.home().map_or(0, |h| lock(&h.all).len())
    }

    /// The heap bytes the slot holds: its home, the home's list and every window
    /// (for the memory figures the module documents).
    pub fn heap_bytes(&self) -> usize {
        let Some(home) = self.home() else {
            return 0;
        };
        let all = lock(&home.all);
        let windows: usize = all
            .iter()
            // Relaxed: written once, under the transition lock.
            .filter_map(|w| self.deref(w.load(Ordering::Relaxed)))
            .map(RateWindow::heap_bytes)
            .sum();
        std::mem::size_of::<Home>()
            + all.capacity() * std::mem::size_of::<AtomicPtr<RateWindow>>()
            + windows
    }

    fn home(&self) -> Option<&Home> {
        // Acquire: the home was written before its pointer was published (Release).
        self.deref(self.home.load(Ordering::Acquire))
    }

    /// The home, made if the slot has none (under the transition lock); never `None`.
    fn home_or_make(&self) -> Option<&Home> {
        if let Some(home) = self.home() {
            return Some(home);
        }
        let home = Box::into_raw(Box::new(Home {
            current: AtomicPtr::new(ptr::null_mut()),
            all: Mutex::new(Vec::new()),
        }));
        // Release: publishes the home whole; only the transition lock's holder stores.
        self.home.store(home, Ordering::Release);
        self.deref(home)
    }

    /// A shared reference to the home or a window this slot owns, for as long as the
    /// slot is borrowed; `None` for null.
    #[inline]
    fn deref<T>(&self, p: *mut T) -> Option<&T> {
        // SAFETY: every non-null pointer passed here comes from `Box::into_raw` in this
        // module (the home, or a window listed in `Home::all`, which only grows) and is
        // freed only in `Drop`, which cannot run while `&self` is borrowed; the result
        // lives no longer than that borrow. Only shared references are ever made.
        #[allow(unsafe_code)]
        unsafe {
            p.as_ref()
        }
    }
}

impl Default for WindowSlot {
    fn default() -> Self {
        WindowSlot::new()
    }
}

impl Drop for WindowSlot {
    fn drop(&mut self) {
        // Relaxed (all): `&mut self`, nothing else can reach the slot.
        let home = self.home.load(Ordering::Relaxed);
        if home.is_null() {
            return;
        }
        // SAFETY: made by `Box::into_raw` in `home_or_make`, freed only here, once; as
        // are the windows it lists, each listed once.
        #[allow(unsafe_code)]
        unsafe {
            let home = Box::from_raw(home);
            for w in lock(&home.all).iter() {
                drop(Box::from_raw(w.load(Ordering::Relaxed)));
            }
        }
    }
}
