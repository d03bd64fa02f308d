#!/usr/bin/env bash
# Checks the deployment files offline:
#
# 1. deploy/kubernetes/*.yaml against the Kubernetes 1.30 API schemas with
#    `kubernetes-validate --strict` (unknown fields are errors). The schemas
#    ship inside the package, so no cluster and no network are needed once
#    it is installed. servicemonitor.yaml is skipped: ServiceMonitor is a
#    Prometheus Operator CRD, whose schema the package does not have.
# 2. deploy/run_as_deployed.py: the relay binary started with exactly the
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

echo "== the relay with the Deployment's args and env"
cargo build --quiet --bin relay
"$VENV/bin/python" deploy/run_as_deployed.py "$TARGET/debug/relay" deploy/kubernetes/deployment.yaml
