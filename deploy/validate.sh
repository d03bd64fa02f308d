#!/usr/bin/env bash
# Checks the deployment files offline:
#
# 1. deploy/kubernetes/*.yaml against the Kubernetes 1.30 API schemas with
#    `kubernetes-validate --strict` (unknown fields are errors). The schemas
#    ship inside the package, so no cluster and no network are needed once
#    it is installed. servicemonitor.yaml is skipped: ServiceMonitor is a
#    Prometheus Operator CRD, whose schema the package does not have.
# 2. deploy/compose.yaml parses, and every relay service gives compose more
#    time to stop (`stop_grace_period`) than its drain timeout. (There is no
#    compose tool here to go further: see the README's Deployment section.)
# 3. deploy/run_as_deployed.py: the relay binary started with exactly the
#    Deployment's args and env, its probes asked as the kubelet would, then
#    SIGTERM and a clean exit within the termination grace period.
#
# Usage: bash deploy/validate.sh        (from any directory)
#
# Installs `kubernetes-validate` from PyPI into target/kubernetes-venv (once);
# if it cannot be installed (e.g. offline), prints a SKIP line and exits 0.
# Environment: PYTHON (default python3), KUBERNETES_VALIDATE (pip spec),
# KUBERNETES_VERSION (default 1.30.0).
set -euo pipefail

# shellcheck source=../tests/python_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/python_env.sh"
VENV="$TARGET/kubernetes-venv"
K8S="${KUBERNETES_VERSION:-1.30.0}"

python_venv "$VENV" kubernetes_validate "${KUBERNETES_VALIDATE:-kubernetes-validate==1.37.0}" || exit 0

echo "== Kubernetes manifests against the $K8S schemas (strict)"
manifests=()
for file in deploy/kubernetes/*.yaml; do
  case "$(basename "$file")" in
    servicemonitor.yaml) echo "SKIP: $file (Prometheus Operator CRD: no schema offline)" ;;
    kustomization.yaml) echo "SKIP: $file (a kustomize file, not an API object)" ;;
    *) manifests+=("$file") ;;
  esac
done
"$VENV/bin/kubernetes-validate" -k "$K8S" --strict "${manifests[@]}"

echo "== compose: stop_grace_period above each relay's drain timeout"
"$VENV/bin/python" - deploy/compose.yaml <<'PY'
import re, sys, yaml
def seconds(text):
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", str(text)))
services = yaml.safe_load(open(sys.argv[1]))["services"]
for name, service in services.items():
    command = service.get("command", [])
    if service.get("entrypoint") or "serve" not in command:
        continue
    drain = command[command.index("--drain-timeout") + 1] if "--drain-timeout" in command else "5m"
    grace = service.get("stop_grace_period", "10s")
    if seconds(grace) <= seconds(drain):
        sys.exit(f"{name}: stop_grace_period {grace} is not above the drain timeout {drain}")
    print(f"{name}: drain {drain}, stop_grace_period {grace}")
PY

echo "== the relay with the Deployment's args and env"
cargo build --quiet --bin relay
"$VENV/bin/python" deploy/run_as_deployed.py "$TARGET/debug/relay" deploy/kubernetes/deployment.yaml
