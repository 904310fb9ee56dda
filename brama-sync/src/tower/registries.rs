//! The registries the tower layer's services report to, found by id: where a call
//! admitted without holding its registry (see [`Free`](super::free::Free)) finds it
//! when the thread its report runs on does not have its connection cached.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use brama_core::engine::Registry;

/// Every registry a [`BramaService`](super::BramaService) was built on, held weakly:
/// a registry whose last `Brama` is dropped is not kept alive by it (its entry is
/// pruned when the next service is built). Locked when a service is built, and by a
/// thread's first report for a registry it has not seen yet ([`SEEN`]).
static LIVE: Mutex<Vec<(u64, Weak<Registry>)>> = Mutex::new(Vec::new());

/// Registries a thread looked up in [`LIVE`] lately, so that later reports need no
/// shared lock.
const SEEN_MAX: usize = 8;

thread_local! {
    static SEEN: RefCell<Vec<(u64, Weak<Registry>)>> = const { RefCell::new(Vec::new()) };
}

/// Makes `registry` findable by its id (once; dead entries are pruned).
pub(super) fn remember(registry: &Arc<Registry>) {
    let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
    live.retain(|(_, r)| r.strong_count() > 0);
    if !live.iter().any(|(id, _)| *id == registry.id()) {
        live.push((registry.id(), Arc::downgrade(registry)));
    }
}

/// The registry with this id, if it is still alive: from this thread's list, else
/// from [`LIVE`] (then kept in this thread's list).
pub(super) fn find(id: u64) -> Option<Arc<Registry>> {
    let seen = SEEN.try_with(|seen| {
        let seen = seen.try_borrow().ok()?;
        seen.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| r.upgrade())
    });
    if let Ok(Some(found)) = seen {
        return found;
    }
    let weak = {
        let live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, r)| Weak::clone(r))
    }?;
    let _ = SEEN.try_with(|seen| {
        if let Ok(mut seen) = seen.try_borrow_mut() {
            seen.retain(|(_, r)| r.strong_count() > 0);
            if seen.len() == SEEN_MAX {
                seen.remove(0);
            }
            seen.push((id, Weak::clone(&weak)));
        }
    });
    weak.upgrade()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Brama;

    #[test]
    fn a_registry_is_found_by_id_while_alive_and_never_after() {
        let brama = Brama::new();
        let (registry, id) = (Arc::clone(brama.reg()), brama.reg().id());
        assert!(find(id).is_none(), "not remembered yet");
        remember(&registry);
        assert!(Arc::ptr_eq(&find(id).unwrap(), &registry));
        // From this thread's list, and from another thread through the shared one.
        assert!(Arc::ptr_eq(&find(id).unwrap(), &registry));
        std::thread::scope(|s| {
            s.spawn(|| assert!(find(id).is_some()));
        });
        drop((registry, brama));
        assert!(find(id).is_none(), "dropped: this thread's list");
        std::thread::scope(|s| {
            s.spawn(|| assert!(find(id).is_none(), "dropped: the shared list"));
        });
    }
}
