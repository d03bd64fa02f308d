#!/usr/bin/env bash
# The official OpenAI Node SDK (the `openai` npm package) through the relay:
#
#   1. smoke.mjs demo       -> relay demo (shipped routes + built-in mock upstream)
#   2. smoke.mjs two-ports  -> relay serve --routes routes.d --routes examples/two-ports
#                              -> mock upstream (examples/mock_upstream), which
#                                 requires the client's own key
#
# Usage: bash tests/node/run.sh        (from any directory)
#
# Installs the SDK version pinned in tests/node/package-lock.json into
# tests/node/node_modules (gitignored) with `npm ci`. Without node and npm,
# or when the npm registry cannot be reached, it prints a SKIP line and
# exits 0 (.ci/run installs node and npm first). Servers listen on port 0
# and are stopped on any exit; logs are kept in target/node-logs/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
LOGS="$TARGET/node-logs"
# Loopback must never go through a proxy someone has configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node and npm are not installed"
  exit 0
fi
echo "== installing the openai npm package (tests/node/package-lock.json) with node $(node --version)"
if ! (cd tests/node && npm ci --no-audit --no-fund --loglevel=error); then
  echo "SKIP: npm ci failed; is the npm registry reachable?"
  exit 0
fi

echo "== building the relay and the mock upstream"
cargo build --quiet
cargo build --quiet --example mock_upstream
mkdir -p "$LOGS"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*"
  for log in "$LOGS"/*.log; do
    echo "--- $log, last 20 lines"
    tail -n 20 "$log"
  done
  exit 1
}

# wait_for FILE SED_SCRIPT PID: prints what SED_SCRIPT finds in FILE, once it
# is there (10 s at most, and only while PID runs).
wait_for() {
  local found=""
  for _ in $(seq 100); do
    found="$(sed -n "$2" "$1" | head -n 1)"
    [ -n "$found" ] && { echo "$found"; return 0; }
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

CLIENT_KEY="sk-node-client-$$-$RANDOM"
export CLIENT_KEY

echo "== relay demo"
env -u RELAY_KEYS RUST_LOG=info "$TARGET/debug/relay" demo --listen 127.0.0.1:0 --routes "$ROOT/routes.d" \
  >"$LOGS/demo.out" 2>"$LOGS/demo.log" &
PIDS+=($!)
DEMO_URL="$(wait_for "$LOGS/demo.out" 's/.*the shipped routes at \(http:[^ ]*\)\/v1.*/\1/p' "${PIDS[-1]}")" \
  || fail "relay demo printed no URL"
node tests/node/smoke.mjs demo "$DEMO_URL" || fail "the Node SDK against relay demo"

echo "== examples/two-ports in front of the mock upstream"
MOCK_API_KEY="$CLIENT_KEY" "$TARGET/debug/examples/mock_upstream" --listen 127.0.0.1:0 \
  >"$LOGS/mock.out" 2>"$LOGS/mock.log" &
PIDS+=($!)
MOCK_BASE="$(wait_for "$LOGS/mock.out" 's/^OPENAI_BASE_URL=//p' "${PIDS[-1]}")" || fail "the mock upstream did not start"
env -u RELAY_KEYS -u RELAY_LISTEN OPENAI_BASE_URL="$MOCK_BASE" RELAY_CHAT_LISTEN=127.0.0.1:0 RELAY_BRIDGE_LISTEN=127.0.0.1:0 \
  RUST_LOG=info "$TARGET/debug/relay" serve --routes routes.d --routes examples/two-ports --no-watch --workers 2 \
  >"$LOGS/two-ports.out" 2>"$LOGS/two-ports.log" &
PIDS+=($!)
listening='s/.*relay listening on \(http:\/\/[^ ]*\) listener=NAME.*/\1/p'
CHAT_URL="$(wait_for "$LOGS/two-ports.log" "${listening/NAME/default}" "${PIDS[-1]}")" || fail "port 5101 did not listen"
BRIDGE_URL="$(wait_for "$LOGS/two-ports.log" "${listening/NAME/bridge}" "${PIDS[-1]}")" || fail "port 5102 did not listen"
node tests/node/smoke.mjs two-ports "$CHAT_URL" "$BRIDGE_URL" || fail "the Node SDK against examples/two-ports"
