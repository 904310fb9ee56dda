//! The rate policies (SPEC §8): a failure rate, a slow-call rate, or both, over a
//! sliding window; in half-open, the verdict of `half_open_probes` probes.

use super::{ProbeVerdict, Verdict};
use crate::clock::{nanos, Nanos};
use crate::config::{RateSpec, Window};
use crate::state::Cause;

/// Calls, failures and slow calls: what a window (or a half-open cycle's probes) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Calls.
    pub calls: u32,
    /// Failed calls.
    pub failures: u32,
    /// Slow calls (failed or not).
    pub slow: u32,
}

const BITS: u32 = 21;
const MASK: u64 = (1 << BITS) - 1;

impl Tallies {
    /// `n` calls, all failed or none, all slow or none: a full count window of one
    /// outcome.
    #[inline]
    pub fn uniform(n: u32, failure: bool, slow: bool) -> Tallies {
        let all = |yes: bool| if yes { n } else { 0 };
        Tallies {
            calls: n,
            failures: all(failure),
            slow: all(slow),
        }
    }

    /// Field-wise sum, saturating.
    #[inline]
    pub fn plus(self, o: Tallies) -> Tallies {
        Tallies {
            calls: self.calls.saturating_add(o.calls),
            failures: self.failures.saturating_add(o.failures),
            slow: self.slow.saturating_add(o.slow),
        }
    }

    /// failures / calls; `None` with no calls.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.failures) / f64::from(self.calls))
    }

    /// slow / calls; `None` with no calls.
    pub fn slow_call_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| f64::from(self.slow) / f64::from(self.calls))
    }

    /// One word (21 bits a field; probe tallies never come near).
    pub fn pack(self) -> u64 {
        let f = |v: u32| u64::from(v).min(MASK);
        f(self.calls) | f(self.failures) << BITS | f(self.slow) << (2 * BITS)
    }

    /// The inverse of [`pack`](Self::pack).
    pub fn unpack(w: u64) -> Tallies {
        Tallies {
            calls: (w & MASK) as u32,
            failures: ((w >> BITS) & MASK) as u32,
            slow: ((w >> (2 * BITS)) & MASK) as u32,
        }
    }
}

/// A rate policy, resolved: thresholds, the slow-call duration, the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Open when failures / calls reaches this.
    pub failure_rate: Option<f64>,
    /// A call of this many nanoseconds or more is slow; open when slow / calls reaches
    /// the rate.
    pub slow: Option<(Nanos, f64)>,
    /// No decision with fewer calls than this in the window (already capped at a count
    /// window's size).
    pub minimum_calls: u32,
    /// The window.
    pub window: Window,
    // Bit `failure | slow << 1` set when a full count window of that one outcome trips
    // (`full_window_trips`); 0 for a time window.
    full_trips: u8,
}

impl Rate {
    /// The resolved form of a validated spec.
    pub(crate) fn of(spec: &RateSpec) -> Rate {
        let minimum_calls = match spec.window {
            Window::Count(n) => spec.minimum_calls.min(n),
            Window::Time(_) => spec.minimum_calls,
        };
        let mut rate = Rate {
            failure_rate: spec.failure_rate,
            slow: spec.slow.map(|(d, r)| (nanos(d), r)),
            minimum_calls: minimum_calls.max(1),
            window: spec.window,
            full_trips: 0,
        };
        if let Window::Count(n) = rate.window {
            for k in 0..4u8 {
                let full = Tallies::uniform(n, k & 1 != 0, k & 2 != 0);
                if rate.on_window(full) != Verdict::Stay {
                    rate.full_trips |= 1 << k;
                }
            }
        }
        rate
    }

    /// Whether a full count window of equal outcomes (each a failure or not, slow or
    /// not) trips: the verdict on the tallies an absorbed report leaves as they were
    /// ([`CountRing::absorb`](crate::window::CountRing::absorb)), worked out once from
    /// [`on_window`](Self::on_window) so that the report does no floating point.
    #[inline]
    pub fn full_window_trips(&self, failure: bool, slow: bool) -> bool {
        self.full_trips & 1 << (u8::from(failure) | u8::from(slow) << 1) != 0
    }

    /// Whether a call that took `elapsed` is slow (a report without a duration never is).
    #[inline]
    pub fn is_slow(&self, elapsed: Option<Nanos>) -> bool {
        matches!((self.slow, elapsed), (Some((limit, _)), Some(e)) if e >= limit)
    }

    /// Which threshold `t` crosses, failures first.
    fn crossed(&self, t: Tallies) -> Option<Cause> {
        let calls = f64::from(t.calls);
        if let Some(r) = self.failure_rate {
            if t.calls > 0 && f64::from(t.failures) >= r * calls {
                return Some(Cause::FailureRate);
            }
        }
        if let Some((_, r)) = self.slow {
            if t.calls > 0 && f64::from(t.slow) >= r * calls {
                return Some(Cause::SlowCalls);
            }
        }
        None
    }

    /// A closed circuit's window after a report: trip when a rate is reached with at
    /// least `minimum_calls` calls in it.
    #[inline]
    pub fn on_window(&self, t: Tallies) -> Verdict {
        // No failure and no slow call crosses no threshold (both are above 0): the
        // healthy case, decided without the floating point of `crossed`.
        if t.calls < self.minimum_calls || (t.failures | t.slow) == 0 {
            return Verdict::Stay;
        }
        match self.crossed(t) {
            Some(cause) => Verdict::Trip(cause),
            None => Verdict::Stay,
        }
    }

    /// A half-open cycle's probes: no verdict until `probes` of them have reported;
    /// then close when both rates are under their thresholds, re-open otherwise.
    pub fn on_probes(&self, t: Tallies, probes: u32) -> Option<ProbeVerdict> {
        if t.calls < probes {
            return None;
        }
        Some(match self.crossed(t) {
            Some(cause) => ProbeVerdict::Reopen(cause),
            None => ProbeVerdict::Close,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rate() -> Rate {
        Rate::of(&RateSpec {
            failure_rate: Some(0.5),
            slow: Some((Duration::from_millis(100), 0.8)),
            window: Window::Count(10),
            minimum_calls: 4,
        })
    }

    fn t(calls: u32, failures: u32, slow: u32) -> Tallies {
        Tallies {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn no_decision_below_the_minimum() {
        assert_eq!(rate().on_window(t(3, 3, 3)), Verdict::Stay);
        assert_eq!(
            rate().on_window(t(4, 2, 0)),
            Verdict::Trip(Cause::FailureRate)
        );
        assert_eq!(rate().on_window(t(4, 1, 3)), Verdict::Stay);
        assert_eq!(
            rate().on_window(t(5, 1, 4)),
            Verdict::Trip(Cause::SlowCalls)
        );
    }

    #[test]
    fn the_minimum_is_capped_at_the_count_window() {
        let r = Rate::of(&RateSpec {
            failure_rate: Some(1.0),
            slow: None,
            window: Window::Count(3),
            minimum_calls: 50,
        });
        assert_eq!(r.minimum_calls, 3);
        assert_eq!(r.on_window(t(3, 3, 0)), Verdict::Trip(Cause::FailureRate));
    }

    #[test]
    fn probes_decide_when_all_reported() {
        assert_eq!(rate().on_probes(t(2, 0, 0), 3), None);
        assert_eq!(rate().on_probes(t(3, 1, 0), 3), Some(ProbeVerdict::Close));
        assert_eq!(
            rate().on_probes(t(3, 2, 0), 3),
            Some(ProbeVerdict::Reopen(Cause::FailureRate))
        );
        assert_eq!(
            rate().on_probes(t(3, 0, 3), 3),
            Some(ProbeVerdict::Reopen(Cause::SlowCalls))
        );
    }

    #[test]
    fn a_full_window_is_decided_as_on_window_decides_it() {
        let specs = [
            (Some(0.5), None, 1),
            (Some(1.0), None, 3),
            (None, Some((Duration::from_millis(5), 1.0)), 1),
            (Some(0.3), Some((Duration::from_millis(5), 0.9)), 50),
            (Some(0.5), Some((Duration::from_millis(5), 0.8)), 200),
        ];
        for (i, (failure_rate, slow, minimum_calls)) in specs.into_iter().enumerate() {
            for n in [1, 3, 100] {
                let r = Rate::of(&RateSpec {
                    failure_rate,
                    slow,
                    window: Window::Count(n),
                    minimum_calls,
                });
                for (failure, slow) in [(false, false), (true, false), (false, true), (true, true)]
                {
                    assert_eq!(
                        r.full_window_trips(failure, slow),
                        r.on_window(Tallies::uniform(n, failure, slow)) != Verdict::Stay,
                        "spec {i}, n {n}, failure {failure}, slow {slow}"
                    );
                }
            }
        }
        assert!(rate().full_window_trips(true, false));
        assert!(rate().full_window_trips(false, true));
        assert!(!rate().full_window_trips(false, false));
        let time = Rate::of(&RateSpec {
            window: Window::Time(Duration::from_secs(1)),
            ..RateSpec {
                failure_rate: Some(0.5),
                slow: None,
                window: Window::Count(1),
                minimum_calls: 1,
            }
        });
        assert!(
            !time.full_window_trips(true, true),
            "a time window has none"
        );
    }

    #[test]
    fn slowness_needs_a_duration_and_a_rule() {
        assert!(rate().is_slow(Some(100_000_000)));
        assert!(!rate().is_slow(Some(99_999_999)));
        assert!(!rate().is_slow(None));
        let no_rule = Rate {
            slow: None,
            ..rate()
        };
        assert!(!no_rule.is_slow(Some(u64::MAX)));
    }

    #[test]
    fn tallies_pack_round_trip() {
        let x = t(1_000_000, 999_999, 3);
        assert_eq!(Tallies::unpack(x.pack()), x);
        assert_eq!(x.failure_rate(), Some(0.999_999));
        assert_eq!(Tallies::default().slow_call_rate(), None);
    }
}
