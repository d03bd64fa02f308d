#!/usr/bin/env bash
# The README's first screen after `cargo install --path .` (.ci/run): runs
# `relay demo` from PATH as the README says, then every request the demo
# prints, then the README's Python snippet against it (with the SDK venv of
# tests/sdk/run.sh, when that exists). Fails on any unexpected answer.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${CARGO_TARGET_DIR:-target}/first-screen"
mkdir -p "$OUT"

relay demo >"$OUT/demo.out" 2>"$OUT/demo.log" &
DEMO_PID=$!
trap 'kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q 'Ctrl-C' "$OUT/demo.out" && break
  kill -0 "$DEMO_PID" 2>/dev/null || break
  sleep 0.1
done
grep -E '^(curl|echo) ' "$OUT/demo.out" >"$OUT/requests.sh" || true
if [ "$(wc -l <"$OUT/requests.sh")" -ne 3 ]; then
  echo "FAIL: relay demo did not print its three requests"
  cat "$OUT/demo.out" "$OUT/demo.log"
  exit 1
fi
while IFS= read -r request; do
  echo "\$ $request"
  answer="$(bash -c "$request" 2>>"$OUT/curl.log")"
  echo "${answer:0:300}"
  case "$answer" in
    *'"object":"chat.completion'* | *'"object":"file"'*) ;;
    *) echo "FAIL: unexpected answer"; exit 1 ;;
  esac
done <"$OUT/requests.sh"

PYTHON="${CARGO_TARGET_DIR:-target}/sdk-venv/bin/python"
if [ -x "$PYTHON" ]; then
  sed -n '/first-screen:start/,/first-screen:end/p' README.md | sed -n '/^```python$/,/^```$/p' | sed '1d;$d' >"$OUT/snippet.py"
  echo "\$ python (the README's snippet)"
  "$PYTHON" "$OUT/snippet.py" | tee "$OUT/snippet.out"
  grep -q 'Hello from the mock upstream' "$OUT/snippet.out" || { echo "FAIL: the snippet's answer"; exit 1; }
else
  echo "SKIP: the README's Python snippet (no $PYTHON; tests/sdk/run.sh makes it)"
fi
