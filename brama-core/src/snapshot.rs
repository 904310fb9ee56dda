//! [`Snapshot`]: everything a registry knows about its connections, as plain data, to
//! be restored after a restart (SPEC §11).
//!
//! Taken by `Brama::snapshot`, restored by `Builder::restore` or `Brama::restore`. The
//! fields are public and plain (strings, numbers, durations, wall-clock times,
//! [`Options`]), so that a snapshot can be stored in any format; with brama-sync's
//! `serde` feature it is a versioned JSON document (docs/operations.md). Restoring
//! checks every field first ([`Snapshot::validate`]) and changes nothing unless all of
//! it is good.
//!
//! Times are wall-clock times of the registry that took the snapshot. A restore
//! converts them to its own clock through their distance from [`Snapshot::taken_at`]:
//! a connection registered an hour before the snapshot was taken is shown registered an
//! hour before the restore. An open circuit keeps the open time it had left when the
//! snapshot was taken ([`ConnectionSnapshot::open_remaining`]), counted on the
//! restoring registry's clock from the restore: the time the process was down is not
//! taken off, so a restart never shortens an open period (and a clock that differs
//! between the two processes cannot).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::config::{Options, MAX_DURATION};
use crate::error::Error;
use crate::key::Key;
use crate::state::State;

/// The snapshot format this version of brama writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The largest total a snapshot may carry (successes, failures, rejections, trips):
/// 2⁶². The counters keep their top bit for themselves. A restore onto a registered
/// connection adds the snapshot's totals to its own, up to this value, however often
/// it is repeated; counting goes on above it, 2⁶² short of the top bit.
pub const MAX_SNAPSHOT_TOTAL: u64 = 1 << 62;

/// The largest backoff step a circuit keeps (10 bits of its state word).
pub const MAX_BACKOFF_STEP: u32 = 1023;

/// Every connection of a registry, and its scope templates (SPEC §11).
///
/// # Examples
/// ```
/// use brama_core::{Snapshot, SNAPSHOT_VERSION};
///
/// let empty = Snapshot::default();
/// assert_eq!(empty.version, SNAPSHOT_VERSION);
/// assert!(empty.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Snapshot {
    /// The format version ([`SNAPSHOT_VERSION`]); a restore refuses any other.
    pub version: u32,
    /// When the snapshot was taken, on the wall clock of the registry that took it.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde::time"))]
    pub taken_at: SystemTime,
    /// The scope templates (`Brama::configure_scope`, `Brama::set_scope_mode`).
    pub scopes: Vec<ScopeSnapshot>,
    /// Every connection, in the registry's walking order (registration order).
    pub connections: Vec<ConnectionSnapshot>,
}

impl Default for Snapshot {
    /// An empty snapshot of the current version, taken now.
    fn default() -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            taken_at: SystemTime::now(),
            scopes: Vec::new(),
            connections: Vec::new(),
        }
    }
}

/// One scope's template.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ScopeSnapshot {
    /// The scope.
    pub scope: String,
    /// Its defaults (mode and criticality included; never metadata).
    pub defaults: Options,
}

/// One connection.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct ConnectionSnapshot {
    /// The identifier.
    pub identifier: String,
    /// The scope, if any.
    pub scope: Option<String>,
    /// The connection's own overrides (its own mode and criticality included), without
    /// metadata; `None` when it has none (most connections: boxed, so that they cost a
    /// snapshot 8 bytes, not the 136 of an `Options`).
    pub overrides: Option<Box<Options>>,
    /// The metadata.
    pub metadata: BTreeMap<String, String>,
    /// The state (in `MetricsOnly`, the state the circuit would be in).
    pub state: State,
    /// Consecutive failures (in `Open`/`HalfOpen`, the count that tripped it).
    pub consecutive_failures: u32,
    /// Opens since the circuit was last closed, 0 to [`MAX_BACKOFF_STEP`].
    pub backoff_step: u32,
    /// Successes reported since registration (at most [`MAX_SNAPSHOT_TOTAL`]).
    pub total_successes: u64,
    /// Failures reported since registration (at most [`MAX_SNAPSHOT_TOTAL`]).
    pub total_failures: u64,
    /// Checks answered false (at most [`MAX_SNAPSHOT_TOTAL`]).
    pub total_rejected: u64,
    /// Times the circuit opened (at most [`MAX_SNAPSHOT_TOTAL`]).
    pub trips: u64,
    /// While `Open`: the open time left when the snapshot was taken (`Duration::MAX`
    /// for a circuit opened indefinitely); `None` in every other state.
    #[cfg_attr(
        feature = "serde",
        serde(default, with = "crate::serde::option_duration")
    )]
    pub open_remaining: Option<Duration>,
    /// While `Open`: the open duration in force (`Duration::MAX` when indefinite);
    /// `None` in every other state.
    #[cfg_attr(
        feature = "serde",
        serde(default, with = "crate::serde::option_duration")
    )]
    pub open_duration: Option<Duration>,
    /// When the connection was registered.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde::time"))]
    pub registered_at: SystemTime,
    /// The last success, if any.
    #[cfg_attr(feature = "serde", serde(default, with = "crate::serde::option_time"))]
    pub last_success_at: Option<SystemTime>,
    /// The last failure, if any.
    #[cfg_attr(feature = "serde", serde(default, with = "crate::serde::option_time"))]
    pub last_failure_at: Option<SystemTime>,
    /// When the circuit last opened, if ever.
    #[cfg_attr(feature = "serde", serde(default, with = "crate::serde::option_time"))]
    pub opened_at: Option<SystemTime>,
    /// The last state change.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde::time"))]
    pub last_state_change_at: SystemTime,
}

impl ConnectionSnapshot {
    /// Its own overrides (empty when `overrides` is `None`), without `inherit_*` marks.
    pub fn own_options(&self) -> Options {
        self.overrides
            .as_deref()
            .map(Options::without_inherit)
            .unwrap_or_default()
    }

    /// The connection's key.
    pub fn key(&self) -> Key<'_> {
        match &self.scope {
            Some(scope) => Key::scoped(scope, &self.identifier),
            None => Key::new(&self.identifier),
        }
    }
}

impl Snapshot {
    /// Checks what can be checked without a registry: the version, every key, every
    /// scope template and override on its own, the metadata limits, that no key and no
    /// scope appears twice, and every value's range (totals, backoff step, open times,
    /// and an open time given exactly when the state is `Open`). A restore also checks
    /// each connection's overrides over its registry's defaults and its scope's template.
    ///
    /// # Errors
    /// [`Error::InvalidSnapshot`] naming the version, or the connection (its position
    /// and key) or scope and what is wrong with it.
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Error, Snapshot};
    ///
    /// let future = Snapshot { version: 99, ..Snapshot::default() };
    /// let err = future.validate().unwrap_err();
    /// assert!(matches!(err, Error::InvalidSnapshot { .. }));
    /// assert!(err.to_string().contains("version 99"));
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        if self.version != SNAPSHOT_VERSION {
            return Err(Error::invalid_snapshot(format!(
                "version {} is not one this brama reads (it reads version {SNAPSHOT_VERSION})",
                self.version
            )));
        }
        let mut scopes = std::collections::HashSet::new();
        for (i, s) in self.scopes.iter().enumerate() {
            let at = |what: String| {
                Error::invalid_snapshot(format!("scope {i} ({:?}): {what}", s.scope))
            };
            Key::scoped(&s.scope, "-")
                .validate()
                .map_err(|e| at(e.to_string()))?;
            if !s.defaults.metadata_map().is_empty() {
                return Err(at("a scope template carries no metadata".into()));
            }
            s.defaults.validate().map_err(|e| at(e.to_string()))?;
            if !scopes.insert(s.scope.as_str()) {
                return Err(at("the scope appears twice".into()));
            }
        }
        let mut keys = std::collections::HashSet::with_capacity(self.connections.len());
        for (i, c) in self.connections.iter().enumerate() {
            let at = |what: String| {
                Error::invalid_snapshot(format!("connection {i} ({}): {what}", c.key()))
            };
            c.key().validate().map_err(|e| at(e.to_string()))?;
            if !keys.insert((c.scope.as_deref(), c.identifier.as_str())) {
                return Err(at("the key appears twice".into()));
            }
            let mut own = c.own_options();
            for (k, v) in &c.metadata {
                own = own.metadata(k.clone(), v.clone());
            }
            own.validate().map_err(|e| at(e.to_string()))?;
            check_values(c).map_err(at)?;
        }
        Ok(())
    }
}

/// The ranges of one connection's values.
fn check_values(c: &ConnectionSnapshot) -> Result<(), String> {
    for (name, v) in [
        ("total_successes", c.total_successes),
        ("total_failures", c.total_failures),
        ("total_rejected", c.total_rejected),
        ("trips", c.trips),
    ] {
        if v > MAX_SNAPSHOT_TOTAL {
            return Err(format!(
                "{name} is {v}, above the largest total a restore takes ({MAX_SNAPSHOT_TOTAL})"
            ));
        }
    }
    if c.backoff_step > MAX_BACKOFF_STEP {
        return Err(format!(
            "backoff_step is {}, above the largest step a circuit keeps ({MAX_BACKOFF_STEP})",
            c.backoff_step
        ));
    }
    let open = c.state == State::Open;
    for (name, d) in [
        ("open_remaining", c.open_remaining),
        ("open_duration", c.open_duration),
    ] {
        match d {
            Some(_) if !open => {
                return Err(format!(
                    "{name} is given but the state is {} (only an open circuit has one)",
                    c.state
                ))
            }
            None if open => return Err(format!("the state is open but {name} is missing")),
            Some(d) if d != Duration::MAX && d > MAX_DURATION => {
                return Err(format!(
                    "{name} is {d:?}, above 100 years ({MAX_DURATION:?}; Duration::MAX means \
                     indefinitely)"
                ))
            }
            Some(d) if name == "open_duration" && d.is_zero() => {
                return Err("open_duration is zero".into())
            }
            _ => {}
        }
    }
    if let (Some(remaining), Some(duration)) = (c.open_remaining, c.open_duration) {
        if (remaining == Duration::MAX) != (duration == Duration::MAX) {
            return Err(format!(
                "open_remaining ({remaining:?}) and open_duration ({duration:?}) disagree on \
                 whether the circuit is open indefinitely"
            ));
        }
    }
    Ok(())
}
