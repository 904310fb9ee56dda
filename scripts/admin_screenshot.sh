#!/usr/bin/env bash
# Takes a screenshot of brama's admin page (feature `admin`) as the axum_gateway
# example serves it, during the `orders` upstream's outage, with headless Chromium
# (Debian package `chromium`), into docs/admin.png (or the path given).
#
#   scripts/admin_screenshot.sh [out.png]
#
# Exits 0 with a message, taking nothing, when no Chromium is installed (CI runs it as
# an optional step); any other failure is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/admin.png}

chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then
    chromium=$(command -v "$c")
    break
  fi
done
if [ -z "$chromium" ]; then
  echo "admin_screenshot: skipped: no chromium installed (apt-get install chromium)"
  exit 0
fi

cargo build -q -p brama-sync --features tower,admin --example axum_gateway
bin="${CARGO_TARGET_DIR:-target}/debug/examples/axum_gateway"
log=$(mktemp)
profile=$(mktemp -d)
# A longer run and outage than the example's default, so that Chromium, however long
# it takes to start, finds `orders` open or probing.
BRAMA_GATEWAY_SECONDS=15 BRAMA_GATEWAY_OUTAGE_END_MS=12000 "$bin" >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$log" "$profile"
}
trap cleanup EXIT

# The example prints its admin URL at start; the `orders` outage runs from 0.6 s to
# 12 s after that, and its circuit is open or probing from about 1 s.
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^admin page: //p' "$log")
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "admin_screenshot: the example printed no admin URL:" >&2
  cat "$log" >&2
  exit 1
fi
sleep 2
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --window-size=1280,640 \
  --screenshot="$out" "$url" >/dev/null 2>&1
test -s "$out"
echo "admin_screenshot: $url -> $out ($(wc -c <"$out") bytes)"
