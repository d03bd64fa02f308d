#!/usr/bin/env bash
# Smoke test with the official OpenAI Python SDK:
#
#   SDK (tests/sdk/smoke.py) -> relay serve (shipped routes.d/) -> mock upstream (examples/mock_upstream)
#
# Usage: bash tests/sdk/run.sh        (from any directory)
#
# Builds the relay and the mock, installs `openai` from PyPI into
# target/sdk-venv (once; delete that folder to get a newer SDK), starts both
# servers on free loopback ports, runs smoke.py and stops both servers on any
# exit. If the SDK cannot be installed (e.g. offline), it prints a SKIP line
# and exits 0. Logs are kept in target/sdk-logs/.
#
# Environment: PYTHON (default python3), OPENAI_SDK (pip spec, default openai),
# SMOKE_VERBOSE=1 (tracebacks for failed checks).
set -euo pipefail

# shellcheck source=../python_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../python_env.sh"
VENV="$TARGET/sdk-venv"
LOGS="$TARGET/sdk-logs"
# Loopback must never go through a proxy someone has configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

echo "== building the relay and the mock upstream"
cargo build --quiet
cargo build --quiet --example mock_upstream

python_venv "$VENV" openai "${OPENAI_SDK:-openai}" || exit 0
"$VENV/bin/python" -c 'import openai, sys; print(f"openai {openai.__version__} on Python {sys.version.split()[0]}")'

mkdir -p "$LOGS"
MOCK_PID=""
RELAY_PID=""

# Stops a server we started: TERM, then KILL if it is still there after 5 s.
stop() {
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop "$RELAY_PID"
  stop "$MOCK_PID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_logs() {
  echo "--- relay log ($LOGS/relay.log), last 30 lines"
  tail -n 30 "$LOGS/relay.log" 2>/dev/null || true
  echo "--- mock upstream log ($LOGS/mock.log), last 30 lines"
  tail -n 30 "$LOGS/mock.log" 2>/dev/null || true
}

fail() {
  echo "FAIL: $*"
  show_logs
  exit 1
}

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

http_ok() {
  "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" >/dev/null 2>&1
}

# A key only this run knows: the mock requires it, the relay sends it as its
# server key, and the SDK never sees it.
MOCK_API_KEY="sk-mock-upstream-$$-$RANDOM$RANDOM"
export MOCK_API_KEY

echo "== starting the mock upstream"
# Port 0: the system picks a free port and the mock prints the one it got.
"$TARGET/debug/examples/mock_upstream" --listen 127.0.0.1:0 >"$LOGS/mock.out" 2>"$LOGS/mock.log" &
MOCK_PID=$!
MOCK_BASE=""
for _ in $(seq 100); do
  MOCK_BASE="$(sed -n 's/^OPENAI_BASE_URL=//p' "$LOGS/mock.out")"
  [ -n "$MOCK_BASE" ] && break
  kill -0 "$MOCK_PID" 2>/dev/null || fail "the mock upstream exited"
  sleep 0.1
done
[ -n "$MOCK_BASE" ] || fail "the mock upstream did not start within 10 s"
echo "mock upstream at $MOCK_BASE"

echo "== starting relay serve"
# A free port can be taken between choosing it and binding it: try again.
RELAY_URL=""
for attempt in 1 2 3 4 5; do
  port="$(free_port)"
  env -u RELAY_KEYS OPENAI_BASE_URL="$MOCK_BASE" OPENAI_API_KEY="$MOCK_API_KEY" RUST_LOG="${RUST_LOG:-info}" \
    "$TARGET/debug/relay" serve --routes "$ROOT/routes.d" --listen "127.0.0.1:$port" --no-watch --workers 2 \
    >"$LOGS/relay.log" 2>&1 &
  RELAY_PID=$!
  for _ in $(seq 100); do
    if http_ok "http://127.0.0.1:$port/health"; then
      RELAY_URL="http://127.0.0.1:$port"
      break 2
    fi
    kill -0 "$RELAY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "relay did not come up on port $port (attempt $attempt)"
  stop "$RELAY_PID"
  RELAY_PID=""
done
[ -n "$RELAY_URL" ] || fail "relay serve did not answer /health"
echo "relay at $RELAY_URL"

echo "== smoke test: official OpenAI Python SDK -> relay -> mock upstream"
status=0
RELAY_URL="$RELAY_URL" MOCK_URL="${MOCK_BASE%/v1}" "$VENV/bin/python" "$ROOT/tests/sdk/smoke.py" || status=$?
if [ "$status" -ne 0 ]; then
  show_logs
fi
exit "$status"
