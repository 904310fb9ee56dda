//! Asymmetric fences: a [`light`] one on the hot path that costs nothing at run time, a
//! [`heavy`] one on a rare path that pays for both.
//!
//! Together they give what two `SeqCst` fences give (a store-then-load on each side, and
//! of the two loads at least one sees the other side's store), which is what a handle
//! report needs against `unregister` (issue #20, defect 6; `circuit/counter/mod.rs`,
//! "Removal"). A `SeqCst` fence on every report would cost a locked instruction (about
//! 6 ns on the EPYC we measure on, more than the report itself); `unregister` is rare.
//!
//! - On Linux with `membarrier(2)`'s private expedited command (4.14 and later, and
//!   allowed by the seccomp policy), [`light`] is a compiler fence and [`heavy`] is the
//!   system call, which runs a full barrier on every CPU running a thread of this
//!   process before it returns (the kernel's interrupt does for the light side what its
//!   missing fence would have).
//! - Anywhere else, or if the kernel refuses, [`expedited`] is false and the light fence
//!   must not be relied on: no thread then owns a counter lane (`counter/current.rs`, `claim`),
//!   every report counts on the shared lane, whose read-modify-write is exact against
//!   the removal by itself, and [`heavy`] is a plain `SeqCst` fence. The light fence's
//!   only callers run after counting on an owned lane, so it costs the hot path no
//!   check of the mode.
//! - Under loom both are loom's `fence(SeqCst)`, so the models check the protocol.
//!
//! The choice is made once, by [`init`], which every registry calls when it is made and
//! every lane claim calls first: before any owned-lane count exists, so every light
//! fence and every heavy fence in the process agree on it.

#[cfg(brama_loom)]
mod imp {
    pub(crate) fn init() {}

    #[inline]
    pub(crate) fn light() {
        // SeqCst: loom has no membarrier; a full fence on both sides is the protocol
        // the models check (module docs).
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        // SeqCst: as in `light`.
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn expedited() -> bool {
        false
    }
}

#[cfg(all(not(brama_loom), target_os = "linux"))]
mod imp {
    use std::sync::atomic::{compiler_fence, fence, AtomicBool, Ordering};
    use std::sync::Once;

    /// `membarrier` commands (linux/membarrier.h).
    const QUERY: libc::c_int = 0;
    const PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
    const REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

    /// Whether this process registered for private expedited membarriers.
    static EXPEDITED: AtomicBool = AtomicBool::new(false);

    /// `membarrier(cmd, 0)`: returns the kernel's answer (negative on error).
    #[allow(unsafe_code)]
    fn membarrier(cmd: libc::c_int) -> libc::c_long {
        // SAFETY: `membarrier` takes two integers and touches no memory of ours; an
        // unknown command or a kernel without it returns -1 (ENOSYS, EINVAL, EPERM).
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_int) }
    }

    pub(crate) fn init() {
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            let supported = membarrier(QUERY);
            let wanted = libc::c_long::from(PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED);
            if supported >= 0
                && supported & wanted == wanted
                && membarrier(REGISTER_PRIVATE_EXPEDITED) == 0
            {
                // Relaxed: `Once` orders this store before every later `init` returns,
                // and a registry's connections are reached only after its `init`.
                EXPEDITED.store(true, Ordering::Relaxed);
            }
        });
    }

    #[inline]
    pub(crate) fn light() {
        // Only ever run after an owned-lane count, and lanes are owned only once
        // `EXPEDITED` is set (module docs): the heavy side's membarrier does the rest.
        compiler_fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        // Relaxed: set once, before any owned-lane count exists (see `init`).
        if EXPEDITED.load(Ordering::Relaxed) {
            // After a successful registration the command cannot fail (the man page
            // lists no error for it); the fence below keeps this side correct anyway.
            let _ = membarrier(PRIVATE_EXPEDITED);
        }
        // SeqCst: orders the sealer's loads after the removal it published, against
        // every light fence (or, without membarrier, against the shared lane's RMWs).
        fence(Ordering::SeqCst);
    }

    pub(crate) fn expedited() -> bool {
        // Relaxed: as in `heavy`.
        EXPEDITED.load(Ordering::Relaxed)
    }
}

#[cfg(all(not(brama_loom), not(target_os = "linux")))]
mod imp {
    use std::sync::atomic::{fence, Ordering};

    pub(crate) fn init() {}

    #[inline]
    pub(crate) fn light() {
        // Never relied on: without `expedited`, no lane is owned (module docs).
        fence(Ordering::SeqCst);
    }

    pub(crate) fn heavy() {
        // SeqCst: the heavy side on its own; nothing relies on the light one here.
        fence(Ordering::SeqCst);
    }

    pub(crate) fn expedited() -> bool {
        false
    }
}

/// Chooses the fences for this process (once; later calls return at once).
pub fn init() {
    imp::init();
}

/// The hot side: orders this thread's earlier stores before its later loads, as seen by
/// a thread that runs [`heavy`]. Relied on only after a count on an owned lane (which
/// exists only when [`expedited`]).
#[inline]
pub fn light() {
    imp::light();
}

/// The rare side: after it, this thread sees every store a [`light`] side made before
/// its fence, or that side's later loads see this thread's stores before `heavy`.
pub fn heavy() {
    imp::heavy();
}

/// Whether this process uses `membarrier` (and so lets threads own counter lanes).
pub fn expedited() -> bool {
    imp::expedited()
}
