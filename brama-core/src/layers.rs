//! The layers between the registry's defaults and a connection's own overrides (SPEC
//! §11): each scope's defaults (a template of [`Options`]), and the registry's default
//! [`Mode`].
//!
//! A connection's configuration is read through the layers live: registry defaults,
//! then its scope's template, then its own overrides ([`crate::circuit`]'s `config_of`).
//! Three values are also kept in each connection, because its hot paths read them with
//! one load: the failure threshold and the probe budget (0 meaning "the registry
//! default") and the mode in effect (two bits of the state word). A writer of a layer
//! therefore changes the layer, then walks the connections it concerns and refreshes
//! them ([`ConnectionCell::refresh_layers`](crate::engine::ConnectionCell::refresh_layers)).
//!
//! A registration racing such a walk may be missed by it; the epoch closes that gap. A
//! writer bumps it after changing the layer and before walking; a registration reads
//! it before it resolves the layers and again once the connection is in the map, and
//! resolves them again if it moved. Either the walk finds the connection (the
//! registration entered the sweep list before the walk took that list out), or the
//! bump happened before the walk and so before the second read, which then sees it and
//! the layer written before it (see `Registry::insert`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::config::Options;
use crate::error::Error;
use crate::mode::Mode;
use crate::sync::{lock, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

type ScopeMap = HashMap<Box<str>, Arc<Options>>;

/// The scope templates and the default mode of one registry.
pub struct Layers {
    /// Each scope's template; `None` while there is none.
    scopes: ArcSwapOption<ScopeMap>,
    /// Whether `scopes` holds any: one plain load for the paths that ask while there is
    /// none (every registration, every configuration read), instead of an `ArcSwap` one.
    any_scope: AtomicBool,
    /// Serialises the writers of `scopes` (a read, a merge and a store).
    writer: Mutex<()>,
    default_mode: AtomicU32,
    epoch: AtomicU64,
}

impl Layers {
    /// No scope template, default mode `Normal`.
    pub fn new() -> Layers {
        Layers {
            scopes: ArcSwapOption::empty(),
            any_scope: AtomicBool::new(false),
            writer: Mutex::new(()),
            default_mode: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
        }
    }

    /// The template of `scope`, if it has one.
    #[inline]
    pub fn scope(&self, scope: Option<&str>) -> Option<Arc<Options>> {
        let scope = scope?;
        if !self.any_scope() {
            return None;
        }
        let map = self.scopes.load();
        map.as_deref()?.get(scope).cloned()
    }

    /// Every scope template, sorted by scope.
    pub fn scopes(&self) -> Vec<(String, Options)> {
        let map = self.scopes.load_full();
        let mut all: Vec<(String, Options)> = map
            .iter()
            .flat_map(|m| m.iter())
            .map(|(s, o)| (s.to_string(), Options::clone(o)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The registry's default mode.
    #[inline]
    pub fn default_mode(&self) -> Mode {
        // Relaxed: a lone value. A refresh that must see a new one is ordered after
        // its store by the epoch (see the module documentation) or by program order.
        Mode::from_bits(u64::from(self.default_mode.load(Ordering::Relaxed)))
    }

    /// Whether any layer would change what a connection's own options give it: a
    /// scope template exists, or the default mode is not `Normal`.
    #[inline]
    pub fn active(&self) -> bool {
        self.default_mode() != Mode::Normal || self.any_scope()
    }

    #[inline]
    fn any_scope(&self) -> bool {
        // Relaxed: a lone flag, stored before the epoch's bump and so published by it
        // to the registrations that must see it (see the module documentation); a
        // configuration read racing the first template may miss it, as it may miss the
        // template itself.
        self.any_scope.load(Ordering::Relaxed)
    }

    /// The epoch: bumped by every writer, after its change and before its walk.
    #[inline]
    pub fn epoch(&self) -> u64 {
        // Acquire: pairs with the bump's release, so a reader that sees a bump sees
        // the layer written before it.
        self.epoch.load(Ordering::Acquire)
    }

    fn bump(&self) {
        // AcqRel: releases the layer written before it to the registrations that read
        // the epoch (`epoch`); acquires the bumps before it.
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Sets the default mode; returns whether it changed (then the caller walks every
    /// connection).
    pub fn set_default_mode(&self, mode: Mode) -> bool {
        let _w = lock(&self.writer);
        if self.default_mode() == mode {
            return false;
        }
        // Relaxed: published by the bump below (see `default_mode`).
        self.default_mode
            .store(mode.to_bits() as u32, Ordering::Relaxed);
        self.bump();
        true
    }

    /// Replaces the template of `scope` by what `next` makes of the current one (an
    /// empty one when there is none); an empty result removes the template. Nothing
    /// changes if `next` fails. The caller then walks the scope's connections.
    ///
    /// # Errors
    /// Whatever `next` returns.
    pub fn update_scope(
        &self,
        scope: &str,
        next: impl FnOnce(&Options) -> Result<Options, Error>,
    ) -> Result<(), Error> {
        let _w = lock(&self.writer);
        let current = self.scope(Some(scope)).unwrap_or_default();
        let template = next(&current)?;
        let mut map: ScopeMap = self.scopes.load().as_deref().cloned().unwrap_or_default();
        if template.is_empty() {
            map.remove(scope);
        } else {
            map.insert(scope.into(), Arc::new(template));
        }
        let any = !map.is_empty();
        self.scopes.store(any.then(|| Arc::new(map)));
        // Relaxed: see `any_scope`.
        self.any_scope.store(any, Ordering::Relaxed);
        self.bump();
        Ok(())
    }
}

impl Default for Layers {
    fn default() -> Layers {
        Layers::new()
    }
}

impl fmt::Debug for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layers")
            .field("scopes", &self.scopes())
            .field("default_mode", &self.default_mode())
            .finish()
    }
}
