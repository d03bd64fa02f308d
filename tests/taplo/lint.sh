#!/usr/bin/env bash
# Lints the shipped spec files with taplo (PyPI `taplo`, in a venv under
# target/) against the schema each names on its first line
# (`#:schema .../schemas/relay-routes.schema.json`), as editors with
# Even Better TOML do. Prints a SKIP line and exits 0 when taplo cannot be
# installed (e.g. offline).
set -euo pipefail
source "$(dirname "$0")/../python_env.sh"

VENV="$TARGET/taplo-venv"
echo "== installing taplo into ${VENV#"$ROOT"/}"
if [ ! -x "$VENV/bin/taplo" ]; then
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV" || ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check taplo; then
    rm -rf "$VENV"
    echo "SKIP: could not install taplo with $PYTHON; is PyPI reachable?"
    exit 0
  fi
fi

"$VENV/bin/taplo" --version
# --no-auto-config: no taplo.toml is read; each file's directive names the schema.
"$VENV/bin/taplo" lint --no-auto-config --colors never \
  routes.d/*.toml examples/*/routes.d/*.toml examples/two-ports/*.toml bench/consumers/routes.d/*.toml bench/consumers/lookup.d/*.toml
