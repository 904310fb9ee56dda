//! Clearing a field of [`Options`] back to "inherit" (SPEC §11): the `inherit_*`
//! methods, and the marks they leave for [`Options::overlay`].
//!
//! A field of `Options` is set or unset; laid over older options (`configure`,
//! `configure_scope`), an unset field keeps the older value. `inherit_x()` marks `x` so
//! that the overlay clears it instead: the connection (or scope) then follows the layer
//! below it, live. In `configure_defaults` a marked field goes back to its SPEC §4
//! default. Setting and marking the same field: the last call wins.

use super::options::Options;
use super::resolved::Config;

/// One field of [`Options`] that can be cleared back to "inherit".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Inherit {
    FailureThreshold,
    Expiry,
    ExpiryStrategy,
    Jitter,
    HalfOpenProbes,
    ProbeTimeout,
    Critical,
    Mode,
}

impl Inherit {
    const ALL: [Inherit; 8] = [
        Inherit::FailureThreshold,
        Inherit::Expiry,
        Inherit::ExpiryStrategy,
        Inherit::Jitter,
        Inherit::HalfOpenProbes,
        Inherit::ProbeTimeout,
        Inherit::Critical,
        Inherit::Mode,
    ];

    /// The builder method's name.
    const fn name(self) -> &'static str {
        match self {
            Inherit::FailureThreshold => "failure_threshold",
            Inherit::Expiry => "expiry",
            Inherit::ExpiryStrategy => "expiry_strategy",
            Inherit::Jitter => "jitter",
            Inherit::HalfOpenProbes => "half_open_probes",
            Inherit::ProbeTimeout => "probe_timeout",
            Inherit::Critical => "critical",
            Inherit::Mode => "mode",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The fields marked to inherit, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Inherited(u16);

impl Inherited {
    pub(super) const NONE: Inherited = Inherited(0);

    pub(super) const fn has(self, field: Inherit) -> bool {
        self.0 & field.bit() != 0
    }

    pub(super) const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

macro_rules! inherit_methods {
    ($($(#[$doc:meta])* $method:ident => $which:ident;)*) => {
        impl Options {
            $(
                $(#[$doc])*
                pub fn $method(self) -> Options {
                    self.mark_inherit(Inherit::$which)
                }
            )*
        }
    };
}

inherit_methods! {
    /// Clears `failure_threshold` back to "inherit": laid over a connection's (or a
    /// scope's) own settings by `configure` (or `configure_scope`), the connection
    /// follows its scope's value, else the registry default, live; in
    /// `configure_defaults`, the default goes back to 5. Setting the field after this
    /// call sets it again (the last call wins).
    ///
    /// # Examples
    /// ```
    /// use brama_core::Options;
    ///
    /// let own = Options::new().failure_threshold(3).jitter(0.1);
    /// let cleared = own.overlay(&Options::new().inherit_failure_threshold());
    /// assert_eq!(cleared.failure_threshold_value(), None); // follows the layer below
    /// assert_eq!(cleared.jitter_value(), Some(0.1)); // untouched
    /// ```
    inherit_failure_threshold => FailureThreshold;
    /// Clears `trip_policy` back to "inherit": the same mark as
    /// [`Options::inherit_failure_threshold`], because the failure threshold and the trip
    /// policy are one setting (`TripPolicy::consecutive(n)` is `failure_threshold(n)`,
    /// SPEC §8). Either clears both; [`inherited`](Options::inherited) names the mark
    /// `"failure_threshold"`. Setting either field after this call sets it again (the
    /// last call wins).
    ///
    /// # Examples
    /// ```
    /// use brama_core::{Options, TripPolicy};
    ///
    /// let own = Options::new().trip_policy(TripPolicy::failure_rate(0.5)).jitter(0.1);
    /// let cleared = own.overlay(&Options::new().inherit_trip_policy());
    /// assert_eq!(cleared.trip_policy_value(), None); // follows the layer below
    /// assert_eq!(cleared.failure_threshold_value(), None);
    /// assert_eq!(cleared.jitter_value(), Some(0.1)); // untouched
    /// assert_eq!(
    ///     Options::new().inherit_trip_policy(),
    ///     Options::new().inherit_failure_threshold(),
    /// );
    /// ```
    inherit_trip_policy => FailureThreshold;
    /// Clears `expiry` back to "inherit" (see [`Options::inherit_failure_threshold`]).
    inherit_expiry => Expiry;
    /// Clears `expiry_strategy` back to "inherit" (see
    /// [`Options::inherit_failure_threshold`]).
    inherit_expiry_strategy => ExpiryStrategy;
    /// Clears `jitter` back to "inherit" (see [`Options::inherit_failure_threshold`]).
    inherit_jitter => Jitter;
    /// Clears `half_open_probes` back to "inherit" (see
    /// [`Options::inherit_failure_threshold`]).
    inherit_half_open_probes => HalfOpenProbes;
    /// Clears `probe_timeout` back to "inherit" (see
    /// [`Options::inherit_failure_threshold`]); with none set anywhere it follows
    /// `expiry`.
    inherit_probe_timeout => ProbeTimeout;
    /// Clears `critical` back to "inherit" (see [`Options::inherit_failure_threshold`]);
    /// in `configure_defaults`, the default goes back to `false`.
    inherit_critical => Critical;
    /// Clears `mode` back to "inherit" (see [`Options::inherit_failure_threshold`]): the
    /// connection takes its scope's mode, else the registry default; in
    /// `configure_defaults`, the default goes back to `Mode::Normal`.
    inherit_mode => Mode;
}

impl Options {
    /// Marks every field (not the metadata) to inherit: laid over a connection's or a
    /// scope's settings, it clears them all. See [`Options::inherit_failure_threshold`].
    ///
    /// # Examples
    /// ```
    /// use brama_core::Options;
    ///
    /// let own = Options::new().failure_threshold(3).metadata("team", "billing");
    /// let cleared = own.overlay(&Options::new().inherit_all());
    /// assert_eq!(cleared.failure_threshold_value(), None);
    /// assert_eq!(cleared.metadata_map().len(), 1); // metadata is never removed
    /// ```
    pub fn inherit_all(self) -> Options {
        Inherit::ALL
            .into_iter()
            .fold(self, |o, field| o.mark_inherit(field))
    }

    /// The names (as the builder methods spell them) of the fields these options clear
    /// back to "inherit" and do not set again.
    ///
    /// # Examples
    /// ```
    /// use brama_core::Options;
    ///
    /// let o = Options::new().inherit_expiry().inherit_jitter().jitter(0.2);
    /// assert_eq!(o.inherited().collect::<Vec<_>>(), ["expiry"]);
    /// ```
    pub fn inherited(&self) -> impl Iterator<Item = &'static str> + '_ {
        Inherit::ALL
            .into_iter()
            .filter(|&f| self.inherit.has(f) && !self.is_set(f))
            .map(Inherit::name)
    }

    /// The options with the field named `name` (as [`inherited`](Self::inherited)
    /// names it, or `"trip_policy"`, the same mark as `"failure_threshold"`) marked to
    /// inherit; `None` for a name that is no such field.
    #[cfg(feature = "serde")]
    pub(crate) fn inherit_named(self, name: &str) -> Option<Options> {
        if name == "trip_policy" {
            return Some(self.inherit_trip_policy());
        }
        Inherit::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .map(|f| self.mark_inherit(f))
    }

    fn mark_inherit(mut self, field: Inherit) -> Options {
        match field {
            Inherit::FailureThreshold => {
                self.failure_threshold = None;
                self.trip_policy = None;
            }
            Inherit::Expiry => self.expiry = None,
            Inherit::ExpiryStrategy => self.expiry_strategy = None,
            Inherit::Jitter => self.jitter = None,
            Inherit::HalfOpenProbes => self.half_open_probes = None,
            Inherit::ProbeTimeout => self.probe_timeout = None,
            Inherit::Critical => self.critical = None,
            Inherit::Mode => self.mode = None,
        }
        self.inherit.0 |= field.bit();
        self
    }

    fn is_set(&self, field: Inherit) -> bool {
        match field {
            Inherit::FailureThreshold => {
                self.failure_threshold.is_some() || self.trip_policy.is_some()
            }
            Inherit::Expiry => self.expiry.is_some(),
            Inherit::ExpiryStrategy => self.expiry_strategy.is_some(),
            Inherit::Jitter => self.jitter.is_some(),
            Inherit::HalfOpenProbes => self.half_open_probes.is_some(),
            Inherit::ProbeTimeout => self.probe_timeout.is_some(),
            Inherit::Critical => self.critical.is_some(),
            Inherit::Mode => self.mode.is_some(),
        }
    }

    /// The same options without the `inherit_*` marks (what a registration stores: it
    /// has nothing to clear).
    pub fn without_inherit(&self) -> Options {
        Options {
            inherit: Inherited::NONE,
            ..self.clone()
        }
    }

    /// `base` with every field these options mark to inherit (and do not set) put back
    /// to its SPEC §4 default: what `configure_defaults` lays the options over.
    pub fn reset_inherited(&self, base: &Config) -> Config {
        let fresh = Config::default();
        let reset = |field| self.inherit.has(field) && !self.is_set(field);
        Config {
            failure_threshold: if reset(Inherit::FailureThreshold) {
                fresh.failure_threshold
            } else {
                base.failure_threshold
            },
            // The trip policy is one setting with the failure threshold (SPEC §8).
            trip_policy: if reset(Inherit::FailureThreshold) {
                fresh.trip_policy
            } else {
                base.trip_policy
            },
            expiry: if reset(Inherit::Expiry) {
                fresh.expiry
            } else {
                base.expiry
            },
            strategy: if reset(Inherit::ExpiryStrategy) {
                fresh.strategy
            } else {
                base.strategy
            },
            jitter: if reset(Inherit::Jitter) {
                fresh.jitter
            } else {
                base.jitter
            },
            half_open_probes: if reset(Inherit::HalfOpenProbes) {
                fresh.half_open_probes
            } else {
                base.half_open_probes
            },
            probe_timeout: if reset(Inherit::ProbeTimeout) {
                fresh.probe_timeout
            } else {
                base.probe_timeout
            },
        }
    }

    /// Whether `critical` is marked to inherit (and not set).
    pub fn inherits_critical(&self) -> bool {
        self.inherit.has(Inherit::Critical) && self.critical.is_none()
    }

    /// Whether `mode` is marked to inherit (and not set).
    pub fn inherits_mode(&self) -> bool {
        self.inherit.has(Inherit::Mode) && self.mode.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::Mode;
    use std::time::Duration;

    #[test]
    fn each_mark_clears_its_field_and_only_its_field() {
        let full = Options::new()
            .failure_threshold(3)
            .expiry(Duration::from_secs(5))
            .expiry_strategy(crate::config::ExpiryStrategy::progressive(
                Duration::from_secs(1),
            ))
            .jitter(0.1)
            .half_open_probes(2)
            .probe_timeout(Duration::from_secs(4))
            .critical(true)
            .mode(Mode::Disabled);
        for field in Inherit::ALL {
            let cleared = full.overlay(&Options::new().mark_inherit(field));
            for other in Inherit::ALL {
                assert_eq!(cleared.is_set(other), other != field, "{field:?} {other:?}");
            }
            assert!(cleared.inherit.is_empty(), "an overlay carries no marks");
            assert_eq!(
                Options::new()
                    .mark_inherit(field)
                    .inherited()
                    .collect::<Vec<_>>(),
                [field.name()]
            );
        }
        assert!(full.overlay(&Options::new().inherit_all()).is_empty());
    }

    #[test]
    fn the_last_call_wins() {
        let set_again = Options::new().inherit_jitter().jitter(0.3);
        assert_eq!(
            Options::new()
                .jitter(0.1)
                .overlay(&set_again)
                .jitter_value(),
            Some(0.3)
        );
        let cleared_again = Options::new().jitter(0.3).inherit_jitter();
        assert_eq!(
            Options::new()
                .jitter(0.1)
                .overlay(&cleared_again)
                .jitter_value(),
            None
        );
        assert!(!Options::new().inherit_mode().is_empty());
        assert!(Options::new().inherit_mode().without_inherit().is_empty());
    }

    #[test]
    fn defaults_go_back_to_the_spec_defaults() {
        let base = Config {
            failure_threshold: 9,
            jitter: 0.5,
            ..Config::default()
        };
        let o = Options::new().inherit_failure_threshold();
        assert_eq!(
            o.reset_inherited(&base),
            Config {
                jitter: 0.5,
                ..Config::default()
            }
        );
        assert!(!o.inherits_mode() && Options::new().inherit_mode().inherits_mode());
    }

    #[test]
    fn inherit_trip_policy_is_the_failure_threshold_mark() {
        use crate::config::TripPolicy;
        let rate = TripPolicy::failure_rate(0.5);
        assert_eq!(
            Options::new().inherit_trip_policy(),
            Options::new().inherit_failure_threshold()
        );
        assert_eq!(
            Options::new()
                .inherit_trip_policy()
                .inherited()
                .collect::<Vec<_>>(),
            ["failure_threshold"]
        );
        // Clears a rate policy, a threshold, or both, and nothing else.
        for own in [
            Options::new().trip_policy(rate),
            Options::new().failure_threshold(3),
            Options::new().failure_threshold(3).trip_policy(rate),
        ] {
            let cleared = own
                .clone()
                .jitter(0.1)
                .overlay(&Options::new().inherit_trip_policy());
            assert_eq!(cleared.trip_policy_value(), None, "{own:?}");
            assert_eq!(cleared.failure_threshold_value(), None, "{own:?}");
            assert_eq!(cleared.jitter_value(), Some(0.1), "{own:?}");
        }
        // The last call wins.
        let set_again = Options::new().inherit_trip_policy().trip_policy(rate);
        assert_eq!(
            Options::new()
                .failure_threshold(3)
                .overlay(&set_again)
                .trip_policy_value(),
            Some(rate)
        );
        assert_eq!(set_again.inherited().count(), 0);
        // In `configure_defaults`: back to the SPEC §4 policy (`consecutive(5)`).
        let mut base = Config::default();
        base.set_trip_policy(rate);
        assert_eq!(
            Options::new().inherit_trip_policy().reset_inherited(&base),
            Config::default()
        );
    }
}
