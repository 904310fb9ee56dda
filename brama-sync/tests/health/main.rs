//! SPEC §10 / §13 (issue #17): `state()` reads without side effects, `Options::critical`,
//! and `health()` / `health_in(scope)` with their verdicts. ManualClock only, manual
//! janitor (nothing sweeps behind the test's back), no sleeps.
//!
//! - `state`: no side effects in any state; unknown, invalid and removed keys;
//! - `verdicts`: `health()` / `health_in(scope)`: counts, verdicts, `critical`, sweeps;
//! - `support`: the shared registry.

mod state;
mod support;
mod verdicts;
