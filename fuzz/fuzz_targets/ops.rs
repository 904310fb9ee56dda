//! Fuzzes brama with the operation interpreter of the model-based tests: the input
//! decodes to registry settings and a sequence of ops (register, unregister, checks,
//! reports by key, handle, permit and `call`, permit drops, clock advances, sweeps,
//! manual open/close/reset, configure), run against a real `Brama` on a manual clock and
//! checked after every op against the pure rules model. Any disagreement or panic is a
//! crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../brama-sync/tests/common/ops.rs"]
#[allow(dead_code)]
mod ops;

fuzz_target!(|data: &[u8]| {
    let (setup, ops) = ops::decode(data);
    ops::run(&setup, &ops);
});
