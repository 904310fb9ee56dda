//! The checks every setting goes through; each rejection is an
//! [`Error::InvalidConfig`] naming the builder method and what it allows.

use std::collections::BTreeMap;
use std::time::Duration;

use super::limits::*;
use crate::error::Error;

pub(super) fn check_failure_threshold(n: u32) -> Result<(), Error> {
    if n == 0 {
        return Err(Error::invalid_config(
            "failure_threshold",
            "must be at least 1, got 0",
        ));
    }
    Ok(())
}

pub(super) fn check_duration(field: &'static str, d: Duration) -> Result<(), Error> {
    if d.is_zero() {
        return Err(Error::invalid_config(
            field,
            "must be greater than zero, got 0ns",
        ));
    }
    if d > MAX_DURATION {
        return Err(Error::invalid_config(
            field,
            format!("must be at most 100 years ({MAX_DURATION:?}), got {d:?}"),
        ));
    }
    Ok(())
}

pub(super) fn check_jitter(j: f64) -> Result<(), Error> {
    if !(0.0..1.0).contains(&j) {
        return Err(Error::invalid_config(
            "jitter",
            format!("must be a fraction in [0, 1), got {j}"),
        ));
    }
    Ok(())
}

pub(super) fn check_half_open_probes(n: u32) -> Result<(), Error> {
    if !(1..=MAX_HALF_OPEN_PROBES).contains(&n) {
        return Err(Error::invalid_config(
            "half_open_probes",
            format!(
                "must be between 1 and {MAX_HALF_OPEN_PROBES} (the in-flight probe count is \
                 kept in 16 bits), got {n}"
            ),
        ));
    }
    Ok(())
}

pub(super) fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::invalid_config(
            "metadata",
            format!(
                "at most {MAX_METADATA_ENTRIES} entries are allowed, got {}",
                metadata.len()
            ),
        ));
    }
    let mut total = 0usize;
    for (key, value) in metadata {
        if key.is_empty() {
            return Err(Error::invalid_config(
                "metadata",
                format!("keys must be 1 to {MAX_METADATA_KEY_BYTES} bytes, got an empty key"),
            ));
        }
        if key.len() > MAX_METADATA_KEY_BYTES {
            return Err(Error::invalid_config(
                "metadata",
                format!(
                    "keys must be 1 to {MAX_METADATA_KEY_BYTES} bytes, got a key of {} bytes",
                    key.len()
                ),
            ));
        }
        if value.len() > MAX_METADATA_VALUE_BYTES {
            return Err(Error::invalid_config(
                "metadata",
                format!(
                    "values must be at most {MAX_METADATA_VALUE_BYTES} bytes, got {} bytes for \
                     key {key:?}",
                    value.len()
                ),
            ));
        }
        total += key.len() + value.len();
    }
    if total > MAX_METADATA_TOTAL_BYTES {
        return Err(Error::invalid_config(
            "metadata",
            format!(
                "keys and values together must be at most {MAX_METADATA_TOTAL_BYTES} bytes, \
                 got {total}"
            ),
        ));
    }
    Ok(())
}
