# Sourced by the checks that use Python packages from PyPI
# (tests/sdk/run.sh, tests/openapi/validate.sh): project paths, and a venv
# under target/ holding one package.
#
# Sets ROOT (the project), TARGET (the cargo target folder, absolute) and
# PYTHON (default python3), and cds to ROOT.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
PYTHON="${PYTHON:-python3}"

# python_venv VENV MODULE PIP_SPEC: makes VENV hold PIP_SPEC (checked by
# importing MODULE), installing it once. Returns 1 after a SKIP line when it
# cannot be installed (e.g. offline), so callers can `|| exit 0`.
python_venv() {
  local venv="$1" module="$2" spec="$3"
  echo "== installing $spec into ${venv#"$ROOT"/}"
  if "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$venv"
  if ! "$PYTHON" -m venv "$venv" || ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"; then
    rm -rf "$venv"
    echo "SKIP: could not install $spec with $PYTHON; is PyPI reachable?"
    return 1
  fi
}
