#!/usr/bin/env bash
# Runs the by_key matrix (benches/benches/by_key.rs) as a user builds brama, then
# tables it against issue #14's targets (scripts/by_key_table.py).
#
# "As a user builds it": a crate that depends on brama never reads this workspace's
# .cargo/config.toml, so no rustflags (RUSTFLAGS is set, empty, which also overrides
# any build.rustflags a config file might set), and the release profile a service
# ships with: thin LTO, one codegen unit. The build goes to its own target directory
# (default target/user-build, or BENCH_USER_TARGET_DIR) so it neither rebuilds nor
# mixes criterion baselines with the workspace's usual `cargo bench`.
#
# Usage (from anywhere in the workspace):
#   scripts/bench_user.sh [criterion args, e.g. a filter such as scoped19/hot]
# Environment: BY_KEY_MEASURE_SECS (default 2), BY_KEY_WARMUP_SECS (default 1),
# BY_KEY_SHAPES, BY_KEY_RANDOM_KEYS (see by_key.rs); BENCH_USER_LATENCY=1 also runs
# the latency harness (src/bin/latency.rs) in the same build, LATENCY_* passed on.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS=""
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
export CARGO_PROFILE_BENCH_LTO=thin
export CARGO_PROFILE_BENCH_CODEGEN_UNITS=1
# Absolute: criterion runs in benches/ and puts its results under $CARGO_TARGET_DIR.
target_dir="${BENCH_USER_TARGET_DIR:-target/user-build}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$PWD/$target_dir" ;;
esac
export CARGO_TARGET_DIR="$target_dir"

echo "== machine"
lscpu | grep 'Model name' || echo "Model name: (lscpu unavailable)"
echo "cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
rustc -V
echo "RUSTFLAGS='${RUSTFLAGS}' CARGO_PROFILE_BENCH_LTO=${CARGO_PROFILE_BENCH_LTO}" \
  "CARGO_PROFILE_BENCH_CODEGEN_UNITS=${CARGO_PROFILE_BENCH_CODEGEN_UNITS}" \
  "CARGO_TARGET_DIR=${CARGO_TARGET_DIR}"
echo "BY_KEY_MEASURE_SECS=${BY_KEY_MEASURE_SECS:-2} BY_KEY_WARMUP_SECS=${BY_KEY_WARMUP_SECS:-1}" \
  "BY_KEY_SHAPES=${BY_KEY_SHAPES:-all} BY_KEY_RANDOM_KEYS=${BY_KEY_RANDOM_KEYS:-1000000}"

echo "== by_key matrix"
start=$SECONDS
cargo bench -p benches --bench by_key -- "$@"
echo "== by_key matrix: $((SECONDS - start)) s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
python3 scripts/by_key_table.py --criterion-dir "${CARGO_TARGET_DIR}/criterion"

if [ "${BENCH_USER_LATENCY:-0}" = "1" ]; then
  echo
  echo "== latency harness (same build settings, bench profile)"
  cargo run --profile bench -p benches --bin latency
fi
