//! One page of circuits: a walk of every connection that keeps only the keys of the
//! page (a bounded heap), then the statuses of those alone.

use std::collections::BinaryHeap;

use brama_core::{Key, Status};

use super::query::{Cursor, Query};
use crate::brama::Brama;
use crate::observe::journal::Reason;

/// A key as pages order it: scope (unscoped first), then identifier.
type Order = (Option<String>, String);

/// One page.
pub(super) struct Page {
    /// The page's circuits, in order, each with the reason it last opened for (when an
    /// event gave one).
    pub(super) rows: Vec<(Status, Option<Reason>)>,
    /// Circuits that match the scope filter, over every page.
    pub(super) total: usize,
    /// Where the next page starts, if there is one.
    pub(super) next: Option<Cursor>,
}

/// The circuits after `query.after` that match `query.scope`, at most `limit`.
pub(super) fn page(brama: &Brama, query: &Query, limit: usize) -> Page {
    let cursor = query
        .after
        .as_ref()
        .map(|c| (c.scope.as_deref(), c.identifier.as_str()));
    let scope = query.scope.as_deref();
    // The `limit + 1` smallest keys after the cursor (one more, to know whether a
    // next page exists); a max-heap, so its top is the one to drop.
    let mut heap: BinaryHeap<Order> = BinaryHeap::with_capacity(limit + 1);
    let mut total = 0;
    brama.reg().visit_cells(|cell| {
        let key = cell.key();
        let at = (key.scope(), key.identifier());
        if scope.is_some() && at.0 != scope {
            return;
        }
        total += 1;
        if cursor.is_some_and(|c| at <= c) {
            return;
        }
        if heap.len() > limit {
            match heap.peek() {
                Some(top) if at < (top.0.as_deref(), top.1.as_str()) => {
                    heap.pop();
                }
                _ => return,
            }
        }
        heap.push((at.0.map(str::to_owned), at.1.to_owned()));
    });
    let mut keys = heap.into_sorted_vec();
    let next = (keys.len() > limit).then(|| {
        keys.truncate(limit);
        keys.last().map(|(scope, identifier)| Cursor {
            scope: scope.clone(),
            identifier: identifier.clone(),
        })
    });
    let journal = brama.observers().journal();
    let rows = keys
        .iter()
        .filter_map(|(scope, identifier)| {
            let key = match scope {
                Some(scope) => Key::scoped(scope, identifier),
                None => Key::new(identifier),
            };
            // Removed since the walk: left out.
            let status = brama.status(key).ok()?;
            Some((status, journal.and_then(|j| j.reason(key))))
        })
        .collect();
    Page {
        rows,
        total,
        next: next.flatten(),
    }
}
