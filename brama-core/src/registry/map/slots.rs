//! The sweep list: every connection in registration order, so that the sweep walks
//! memory in (roughly) the order it was allocated instead of in hash order.
//!
//! The list is striped; a registering thread keeps to one stripe. A sweep takes a
//! stripe's whole list *out* (one `mem::take` under the stripe lock), walks it with
//! no lock held, and puts it back under the lock. Meanwhile registrations and
//! removals of that stripe are queued as `Change`s under the lock and applied when
//! the list comes back; the sweep frees the slots of its own evictions itself. So
//! the sweep holds a stripe lock only to take a list and to put it back (applying
//! what was queued), however many connections it walks, and never a shard lock
//! while walking.

use std::time::{Duration, Instant};

use super::SEGMENT;
use crate::circuit::{CellRef, ConnectionCell};
use crate::sync::{lock, Mutex};

/// Stripes: a registering thread keeps to one, so registrations from different
/// threads rarely meet on a lock, and one thread's connections sit side by side.
const STRIPES: usize = 16;
const STRIPE_BITS: u32 = STRIPES.trailing_zeros();
/// A cell's slot before it has one.
const NO_SLOT: u64 = u64::MAX;

/// One stripe on its own cache line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Stripe(Mutex<List>);

#[derive(Debug, Default)]
struct List {
    /// `None` where a connection left (reused through `free`). Empty while out.
    cells: Vec<Option<CellRef>>,
    /// Slots handed out: `cells.len()` while the list is home.
    len: usize,
    free: Vec<usize>,
    /// Whether a sweep has the list out.
    out: bool,
    /// What happened while the list was out, in order.
    pending: Vec<Change>,
}

#[derive(Debug)]
enum Change {
    /// A registration took this slot.
    Put(usize, CellRef),
    /// The connection at this address left this slot. The address cannot be reused
    /// by another connection meanwhile: the list that is out still holds this one.
    Take(usize, usize),
}

fn holds(entry: Option<&Option<CellRef>>, addr: usize) -> bool {
    entry
        .and_then(Option::as_deref)
        .map(ConnectionCell::address)
        == Some(addr)
}

/// Striped lists of every connection, each slot recorded in its cell.
#[derive(Debug)]
pub struct Slots {
    stripes: Box<[Stripe]>,
    /// One sweep at a time (a manual sweep and the janitor's wait for each other).
    /// Only sweeps take it; no check, report or registration ever waits on it.
    turn: Mutex<()>,
}

/// The calling thread's stripe, dealt round-robin on first use.
fn home_stripe() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        // Relaxed: only the spread of the values matters.
        static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    HOME.with(|h| *h)
}

impl Slots {
    pub fn new() -> Slots {
        Slots {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            turn: Mutex::new(()),
        }
    }

    /// Adds `cell` to the calling thread's stripe and records the slot in the cell.
    pub fn insert(&self, cell: &CellRef) {
        let stripe = home_stripe();
        let mut list = lock(&self.stripes[stripe].0);
        let index = list.free.pop().unwrap_or_else(|| {
            list.len += 1;
            list.len - 1
        });
        if list.out {
            list.pending.push(Change::Put(index, CellRef::clone(cell)));
        } else if index == list.cells.len() {
            list.cells.push(Some(CellRef::clone(cell)));
        } else {
            list.cells[index] = Some(CellRef::clone(cell));
        }
        // Under the stripe lock, which a remover takes too.
        cell.set_slot(((index as u64) << STRIPE_BITS) | stripe as u64);
    }

    /// Takes `cell` out of its slot, if it is there, and frees the slot.
    pub fn remove(&self, cell: &ConnectionCell) {
        let slot = cell.slot();
        if slot == NO_SLOT {
            return;
        }
        let stripe = (slot & (STRIPES as u64 - 1)) as usize;
        let index = (slot >> STRIPE_BITS) as usize;
        let taken = {
            let mut list = lock(&self.stripes[stripe].0);
            if list.out {
                list.pending.push(Change::Take(index, cell.address()));
                None
            } else if holds(list.cells.get(index), cell.address()) {
                list.free.push(index);
                list.cells[index].take()
            } else {
                None
            }
        };
        // The list's reference is dropped here, off the lock.
        drop(taken);
    }

    /// See `Map::sweep`.
    pub fn sweep(&self, mut f: impl FnMut(&mut Segment<'_>)) -> Duration {
        let _turn = lock(&self.turn);
        let mut longest = Duration::ZERO;
        for stripe in self.stripes.iter() {
            let mut out = Out::take(stripe);
            longest = longest.max(out.held);
            let len = out.cells.len();
            for base in (0..len).step_by(SEGMENT) {
                let end = len.min(base + SEGMENT);
                f(&mut Segment {
                    cells: &mut out.cells[base..end],
                    base,
                    freed: &mut out.freed,
                });
            }
            longest = longest.max(out.put_back());
        }
        longest
    }
}

/// A stripe's list while a sweep has it out; put back on drop, even if the sweep
/// panics.
struct Out<'a> {
    stripe: &'a Stripe,
    cells: Vec<Option<CellRef>>,
    /// Slots the sweep's own evictions freed.
    freed: Vec<usize>,
    held: Duration,
    home: bool,
}

impl<'a> Out<'a> {
    fn take(stripe: &'a Stripe) -> Out<'a> {
        let mut list = lock(&stripe.0);
        let start = Instant::now();
        list.out = true;
        let cells = std::mem::take(&mut list.cells);
        let held = start.elapsed();
        drop(list);
        Out {
            stripe,
            cells,
            freed: Vec::new(),
            held,
            home: false,
        }
    }

    /// Applies what was queued, puts the list back; returns how long that held the
    /// stripe lock.
    fn put_back(&mut self) -> Duration {
        let mut cells = std::mem::take(&mut self.cells);
        let mut dropped = Vec::new();
        let mut list = lock(&self.stripe.0);
        let start = Instant::now();
        let pending = std::mem::take(&mut list.pending);
        for change in pending {
            match change {
                Change::Put(index, cell) => {
                    if index >= cells.len() {
                        cells.resize_with(index + 1, || None);
                    }
                    cells[index] = Some(cell);
                }
                Change::Take(index, addr) => {
                    if holds(cells.get(index), addr) {
                        dropped.push(cells[index].take());
                        list.free.push(index);
                    }
                }
            }
        }
        // The longer list is kept and the shorter one appended, so that putting back
        // the slots of a sweep that evicted many does not grow (and page-fault in) a
        // new free list under the lock.
        if list.free.len() < self.freed.len() {
            std::mem::swap(&mut list.free, &mut self.freed);
        }
        list.free.append(&mut self.freed);
        list.cells = cells;
        list.out = false;
        self.home = true;
        let held = start.elapsed();
        drop(list);
        drop(dropped);
        held
    }
}

impl Drop for Out<'_> {
    fn drop(&mut self) {
        if !self.home {
            self.put_back();
        }
    }
}

/// A run of a stripe's list, as the sweep reads it (no lock held).
pub struct Segment<'a> {
    cells: &'a mut [Option<CellRef>],
    base: usize,
    freed: &'a mut Vec<usize>,
}

impl Segment<'_> {
    /// The connections of the run, with their positions for [`release`](Self::release):
    /// the cells the map took ([`ConnectionCell::is_entered`]). A registration's cell
    /// is in the list before it tries the map, and one refused leaves it again; until
    /// the map took it, it is no connection (and one refused never is).
    pub fn cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
        self.all_cells().filter(|(_, c)| c.is_entered())
    }

    /// Every cell of the run, those of registrations in progress or refused included:
    /// for the layers' refresh walk, whose guarantee rests on meeting every cell that
    /// entered the list before the walk took it (see `crate::layers`). Whoever acts
    /// on one asks [`ConnectionCell::is_entered`] under its transition lock.
    pub fn all_cells(&self) -> impl Iterator<Item = (usize, &CellRef)> {
        let base = self.base;
        self.cells
            .iter()
            .enumerate()
            .filter_map(move |(i, c)| c.as_ref().map(|c| (base + i, c)))
    }

    /// Frees the slot at `pos` after the sweep evicted its connection (through
    /// `Map::remove_swept`).
    pub fn release(&mut self, pos: usize) {
        let entry = pos
            .checked_sub(self.base)
            .and_then(|i| self.cells.get_mut(i));
        if let Some(entry) = entry {
            if entry.take().is_some() {
                self.freed.push(pos);
            }
        }
    }
}
