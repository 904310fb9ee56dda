//! Every limit a setting is checked against (SPEC §7).

use std::time::Duration;

/// The longest duration any setting accepts: 100 years of 365 days.
///
/// A jittered open duration is at most twice this, about 6.3 × 10¹⁸ ns, which still
/// fits an `i64` or `u64` count of nanoseconds added to any realistic clock reading.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The most half-open probes a circuit admits at once: the cell packs the in-flight
/// probe count in 16 bits.
pub const MAX_HALF_OPEN_PROBES: u32 = u16::MAX as u32;

/// The largest per-subscriber event queue.
pub const MAX_EVENT_QUEUE_CAPACITY: usize = 1 << 20;

/// The longest metadata key, in bytes (keys must also be non-empty).
pub const MAX_METADATA_KEY_BYTES: usize = 128;

/// The longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// The most metadata entries one connection carries.
pub const MAX_METADATA_ENTRIES: usize = 32;

/// The most bytes of metadata (keys plus values) one connection carries.
pub const MAX_METADATA_TOTAL_BYTES: usize = 8 * 1024;

/// The longest reason an event carries, in bytes (a `failure_with` reason or an
/// `OpenOptions` reason). A longer one is cut at a character boundary and ends with
/// [`TRUNCATED_REASON_MARK`]; the whole is at most this long. Reports never fail for it.
pub const MAX_REASON_BYTES: usize = 256;

/// The end of a reason cut to [`MAX_REASON_BYTES`].
pub const TRUNCATED_REASON_MARK: &str = "…[truncated]";

/// The default progressive backoff factor (SPEC §4).
pub(super) const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;

/// How many times `expiry` the default progressive cap is (SPEC §4).
pub(super) const DEFAULT_MAX_EXPIRY_MULTIPLE: u32 = 10;
