"""Runs the relay exactly as deploy/kubernetes/deployment.yaml does.

Usage: run_as_deployed.py RELAY_BINARY DEPLOYMENT_YAML

The container's `args` and `env` are used as written, with two stand-ins for
what only a cluster provides: a ConfigMap volume mount becomes the shipped
routes.d/ (what the README tells you to put in that ConfigMap), and a
secretKeyRef becomes a made-up test value. The image's ENTRYPOINT is
`relay`, so the binary is run with the args. Then:

- the readiness and liveness probes are asked as the kubelet would (httpGet
  on the named container port, 127.0.0.1 standing in for the pod IP) and
  must answer 200 within 20 s;
- SIGTERM must end the process with status 0 within
  terminationGracePeriodSeconds, which must exceed the preStop pause plus
  the drain timeout plus the relay's final second.
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(binary, manifest):
    with open(manifest) as f:
        deployment = yaml.safe_load(f)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}

    substitutions = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            substitutions[mount["mountPath"]] = os.path.join(ROOT, "routes.d")
        else:
            sys.exit(f"no stand-in for volume {mount['name']}: {volume}")

    def local(text):
        for path, replacement in substitutions.items():
            text = text.replace(path, replacement)
        return text

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = local(str(var["value"]))
        elif "secretKeyRef" in var["valueFrom"]:
            env[var["name"]] = "sk-test-" + var["valueFrom"]["secretKeyRef"]["key"].lower()
        else:
            sys.exit(f"no stand-in for env {var['name']}: {var['valueFrom']}")
    args = [local(str(a)) for a in container.get("args", [])]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}

    check_grace_period(pod, container, args)
    print("relay", " ".join(args))
    relay = subprocess.Popen([binary, *args], env=env)
    try:
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            port = ports.get(get["port"], get["port"])
            url = f"http://127.0.0.1:{port}{get['path']}"
            wait_for_200(url, relay)
            print(f"{probe}: GET {url} -> 200")
        started = time.monotonic()
        relay.send_signal(signal.SIGTERM)
        grace = pod["terminationGracePeriodSeconds"]
        status = relay.wait(timeout=grace)
        took = time.monotonic() - started
        if status != 0:
            sys.exit(f"the relay exited with {status} after SIGTERM")
        print(f"SIGTERM: exited 0 after {took:.1f} s (grace period {grace} s)")
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()


def check_grace_period(pod, container, args):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    drain = args[args.index("--drain-timeout") + 1] if "--drain-timeout" in args else "5m"
    value, unit = re.fullmatch(r"(\d+)(ms|s|m|h)", drain).groups()
    drain_s = int(value) * units[unit]
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = pod["terminationGracePeriodSeconds"]
    needed = pre_stop + drain_s + 1
    if grace <= needed:
        sys.exit(f"terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} s + drain {drain} + 1 s")
    print(f"grace period {grace} s > preStop {pre_stop} s + drain {drain} + 1 s")


def wait_for_200(url, relay):
    deadline = time.monotonic() + 20
    last = None
    while time.monotonic() < deadline:
        if relay.poll() is not None:
            sys.exit(f"the relay exited with {relay.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = response.status
        except (urllib.error.URLError, ConnectionError) as error:
            last = error
        time.sleep(0.1)
    sys.exit(f"{url} did not answer 200 within 20 s (last: {last})")


if __name__ == "__main__":
    main(*sys.argv[1:])
