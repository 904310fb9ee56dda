//! The consecutive-failures policy (SPEC §2 rules 1, 2 and 4): `threshold` failures in a
//! row open the circuit; in half-open, the first probe result decides.

use super::{ProbeVerdict, Verdict};
use crate::state::Cause;

/// Open after `threshold` consecutive failures (a success zeroes the count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Consecutive {
    /// Consecutive failures that open the circuit; at least 1.
    pub threshold: u32,
}

impl Consecutive {
    /// The count reached the threshold: trip.
    #[inline]
    pub fn on_failure(&self, consecutive: u32) -> Verdict {
        if consecutive >= self.threshold {
            Verdict::Trip(Cause::Threshold)
        } else {
            Verdict::Stay
        }
    }

    /// One probe decides: a success closes, a failure re-opens.
    #[inline]
    pub fn on_probe(&self, success: bool) -> ProbeVerdict {
        if success {
            ProbeVerdict::Close
        } else {
            ProbeVerdict::Reopen(Cause::ProbeFailure)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_exactly_at_the_threshold() {
        let p = Consecutive { threshold: 3 };
        assert_eq!(p.on_failure(1), Verdict::Stay);
        assert_eq!(p.on_failure(2), Verdict::Stay);
        assert_eq!(p.on_failure(3), Verdict::Trip(Cause::Threshold));
        assert_eq!(p.on_failure(u32::MAX), Verdict::Trip(Cause::Threshold));
    }

    #[test]
    fn one_probe_decides() {
        let p = Consecutive { threshold: 3 };
        assert_eq!(p.on_probe(true), ProbeVerdict::Close);
        assert_eq!(p.on_probe(false), ProbeVerdict::Reopen(Cause::ProbeFailure));
    }
}
