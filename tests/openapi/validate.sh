#!/usr/bin/env bash
# Validates the generated documents with a real OpenAPI validator:
#
#   relay openapi                      (the full document of routes.d/)
#   relay openapi --actions SET        (every Actions set, and `default`)
#
# Usage: bash tests/openapi/validate.sh        (from any directory)
#
# Installs `openapi-spec-validator` from PyPI into target/openapi-venv (once;
# delete that folder to get a newer one). If it cannot be installed (e.g.
# offline), it prints a SKIP line and exits 0. The documents use the https
# server URL an Actions import needs (RELAY_PUBLIC_URL is set for the run).
#
# Environment: PYTHON (default python3), OPENAPI_VALIDATOR (pip spec,
# default openapi-spec-validator), RELAY_ROUTES (default routes.d).
set -euo pipefail

# shellcheck source=../python_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../python_env.sh"
VENV="$TARGET/openapi-venv"
OUT="$TARGET/openapi-docs"
ROUTES="${RELAY_ROUTES:-routes.d}"

echo "== building the relay"
cargo build --quiet
RELAY="$TARGET/debug/relay"

python_venv "$VENV" openapi_spec_validator "${OPENAPI_VALIDATOR:-openapi-spec-validator}" || exit 0

rm -rf "$OUT"
mkdir -p "$OUT"
export RELAY_PUBLIC_URL="https://relay.example.test"
"$RELAY" openapi --routes "$ROUTES" >"$OUT/openapi.json"
documents=("$OUT/openapi.json")
# The set names, as written in the route files.
sets="$("$VENV/bin/python" - "$ROUTES" <<'PY'
import pathlib, sys, tomllib
names = set()
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.toml")):
    for route in tomllib.loads(path.read_text()).get("route", []):
        names.update(route.get("openapi", {}).get("actions", []))
print(" ".join(sorted(names)))
PY
)"
for set in default $sets; do
  if "$RELAY" openapi --routes "$ROUTES" --actions "$set" >"$OUT/actions_$set.json" 2>"$OUT/actions_$set.log"; then
    documents+=("$OUT/actions_$set.json")
  elif [ "$set" != default ]; then
    cat "$OUT/actions_$set.log"
    exit 1
  fi
done

echo "== validating ${#documents[@]} documents"
status=0
for doc in "${documents[@]}"; do
  if "$VENV/bin/python" -m openapi_spec_validator "$doc" >"$doc.validation" 2>&1; then
    echo "ok: ${doc#"$ROOT"/}"
  else
    echo "FAILED: ${doc#"$ROOT"/}"
    cat "$doc.validation"
    status=1
  fi
done
exit "$status"
