//! [`Filter`](crate::Filter): which events a subscription receives.

use super::event::*;

/// Which events a [`Subscription`](crate::Subscription) receives: any combination of event types,
/// identifier and scope. Every part left unset matches everything.
///
/// - Types: an event matches if its type is one of those added; a filter with no
///   types matches every type.
/// - Identifier: the event's key must have this identifier, scoped or not.
/// - Scope: the event's key must be in this scope (an unscoped key never matches).
///
/// A [`EventKind::Swept`] or [`EventKind::FleetLink`] event has no key, so it matches
/// only filters with neither an identifier nor a scope.
///
/// # Examples
/// ```
/// use brama_core::{EventType, Filter};
///
/// // State changes of any connection in the "payments" scope.
/// let f = Filter::new().event_types([EventType::StateChanged]).scope("payments");
/// // Failures of "stripe", in any scope or none.
/// let g = Filter::new().event_type(EventType::Failure).identifier("stripe");
/// # let _ = (f, g);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Bits from [`EventType::mask`]; 0 means every type.
    pub(super) types: u32,
    pub(super) identifier: Option<String>,
    pub(super) scope: Option<String>,
}

impl Filter {
    /// A filter that matches every event.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Adds these types to the types the filter matches.
    pub fn event_types(mut self, types: impl IntoIterator<Item = EventType>) -> Filter {
        for t in types {
            self.types |= t.mask();
        }
        self
    }

    /// Adds one type to the types the filter matches.
    pub fn event_type(mut self, t: EventType) -> Filter {
        self.types |= t.mask();
        self
    }

    /// Matches only events whose key has this identifier (in any scope, or none).
    pub fn identifier(mut self, id: impl Into<String>) -> Filter {
        self.identifier = Some(id.into());
        self
    }

    /// Matches only events whose key is in this scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Filter {
        self.scope = Some(scope.into());
        self
    }

    /// Whether `e` passes the filter.
    pub fn matches(&self, e: &Event) -> bool {
        if self.types_mask() & e.event_type().mask() == 0 {
            return false;
        }
        if self.identifier.is_none() && self.scope.is_none() {
            return true;
        }
        let Some(key) = e.key.as_ref() else {
            return false;
        };
        let identifier_ok = match self.identifier.as_deref() {
            Some(id) => key.identifier() == id,
            None => true,
        };
        let scope_ok = match self.scope.as_deref() {
            Some(scope) => key.scope() == Some(scope),
            None => true,
        };
        identifier_ok && scope_ok
    }

    /// The types this filter can match, as a mask (every type when none was added).
    pub(crate) fn types_mask(&self) -> u32 {
        if self.types == 0 {
            ALL_TYPES_MASK
        } else {
            self.types
        }
    }
}
