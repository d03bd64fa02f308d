#!/usr/bin/env python3
"""The relay against a direct connection and nginx, on loopback.

Starts a fast fixed-answer upstream (examples/bench_upstream.rs), the relay
(release build, shipped routes.d/, one worker) and nginx (proxy_pass with an
upstream keepalive pool, one worker), pins the systems under test to core 0
and the load (oha, examples/bench_sse.rs) and the upstream to core 1, and
runs every scenario against each target in turn, round after round, so the
ratios hold on a noisy machine. Prints a table and writes JSON.

    python3 bench/run.py                 # 3 rounds, about 6 minutes
    python3 bench/run.py --rounds 5 --seconds 8 --out bench/results/latest.json

Needs: oha (cargo install oha --locked), nginx (apt install nginx; the nginx
column is skipped with a message when it is missing), taskset (util-linux).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, wait_port  # noqa: E402
RELEASE = ROOT / "target" / "release"
CHAT_BODY = '{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'
MIB = 1024 * 1024
TRANSFER = 8 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream openai {{
        server 127.0.0.1:{upstream};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://openai;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer sk-bench";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


class Target:
    """A system under test: a name, a port and the processes whose CPU and
    memory count (none for the direct connection)."""

    def __init__(self, name, port, procs=()):
        self.name, self.port, self.procs = name, port, list(procs)

    def pids(self):
        pids = []
        for proc in self.procs:
            pids.append(proc.pid)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            if children.exists():
                pids += [int(p) for p in children.read_text().split()]
        return pids

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLK_TCK

    def rss_mib(self):
        return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE for pid in self.pids()) / MIB


def pinned(core, command, **kwargs):
    prefix = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
    return subprocess.Popen(prefix + command, **kwargs)


def oha(target, path, *args, seconds=None, requests=None):
    command = ["oha", "--no-tui", "--output-format", "json"]
    command += ["-z", f"{seconds}s"] if seconds else ["-n", str(requests)]
    command += list(args) + [f"http://127.0.0.1:{target.port}{path}"]
    prefix = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    out = subprocess.run(prefix + command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    codes = result.get("statusCodeDistribution", {})
    bad = {code: n for code, n in codes.items() if not code.startswith("2")}
    if bad:
        raise SystemExit(f"{target.name} {path}: non-2xx answers {bad}")
    return result


def chat_args():
    return ["-m", "POST", "-T", "application/json", "-d", CHAT_BODY]


def scenario_rate(target, rate, seconds):
    before = target.cpu_seconds()
    result = oha(target, "/v1/chat/completions", "-q", str(rate), "-c", "32", "--latency-correction",
                 *chat_args(), seconds=seconds)
    count = sum(result["statusCodeDistribution"].values())
    cpu = target.cpu_seconds() - before
    latency = result["latencyPercentiles"]
    return {"p50_ms": latency["p50"] * 1000, "p99_ms": latency["p99"] * 1000,
            "cpu_us_per_req": cpu / count * 1e6 if target.procs else None}


def scenario_saturation(target, seconds):
    before = target.cpu_seconds()
    result = oha(target, "/v1/chat/completions", "-c", "64", *chat_args(), seconds=seconds)
    count = sum(result["statusCodeDistribution"].values())
    cpu = target.cpu_seconds() - before
    return {"rps": result["summary"]["requestsPerSec"],
            "cpu_us_per_req": cpu / count * 1e6 if target.procs else None}


def scenario_sse(target, streams=50):
    before = target.cpu_seconds()
    prefix = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    out = subprocess.run(prefix + [str(RELEASE / "examples" / "bench_sse"), f"127.0.0.1:{target.port}", str(streams)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if result["failed"]:
        raise SystemExit(f"{target.name}: {result['failed']} SSE streams failed")
    cpu = target.cpu_seconds() - before
    result["cpu_ms_per_stream"] = cpu / streams * 1000 if target.procs else None
    return result


def scenario_transfers(target, upload_file, count=40):
    down = oha(target, "/v1/files/file-bench/content", "-c", "1", requests=count)
    if down["summary"]["totalData"] != count * TRANSFER:
        raise SystemExit(f"{target.name}: download size {down['summary']['totalData']}")
    up = oha(target, "/v1/files", "-c", "1", "-m", "POST", "-T", "multipart/form-data; boundary=benchboundary",
             "-D", str(upload_file), requests=count)
    size = upload_file.stat().st_size
    return {"download_mib_s": count * TRANSFER / down["summary"]["total"] / MIB,
            "upload_mib_s": count * size / up["summary"]["total"] / MIB}


def open_streams_rss(target, streams):
    """RSS (MiB) of the target with `streams` slow SSE streams open."""
    prefix = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    holder = subprocess.Popen(prefix + [str(RELEASE / "examples" / "bench_sse"), f"127.0.0.1:{target.port}",
                                        str(streams), "--hold", "8"], stdout=subprocess.PIPE, text=True)
    line = holder.stdout.readline().strip()
    rss = target.rss_mib()
    holder.wait(timeout=60)
    if line != "ready":
        raise SystemExit(f"{target.name}: the {streams} slow streams did not all start")
    return rss


def write_upload(path):
    head = (b"--benchboundary\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            b"--benchboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jsonl\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n")
    with open(path, "wb") as f:
        f.write(head)
        f.write(b"x" * TRANSFER)
        f.write(b"\r\n--benchboundary--\r\n")


def write_extra_routes(directory, count):
    """The shipped routes plus `count` more, each its own path."""
    shutil.copytree(ROOT / "routes.d", directory)
    lines = ['[defaults]\nupstream = "openai"\n']
    for i in range(count):
        lines.append(f'[[route]]\nid = "bench.extra{i}"\nmethod = "POST"\npath = "/v1/bench/r{i}/{{item}}/run"\n')
    (directory / "zz-bench-extra.toml").write_text("\n".join(lines))


def machine_note():
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), "unknown CPU")
    return {"cpu": model, "cores": os.cpu_count(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of each fixed-rate and saturation run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--extra-routes", type=int, default=10_000)
    parser.add_argument("--open-streams", type=int, default=1000)
    args = parser.parse_args()
    if not shutil.which("oha"):
        raise SystemExit("oha is missing: cargo install oha --locked")
    print("building (release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "relay", "--example", "bench_upstream",
                    "--example", "bench_sse"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    procs = []
    try:
        results = run(args, tmp, procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nJSON: {args.out}", file=sys.stderr)


def run(args, tmp, procs):
    load_before = machine_note()
    upstream_port = free_port()
    procs.append(pinned(1, [str(RELEASE / "examples" / "bench_upstream"), f"127.0.0.1:{upstream_port}"]))
    wait_port(upstream_port)
    targets = [Target("direct", upstream_port)]

    if shutil.which("nginx"):
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream_port, port=port))
        nginx = pinned(0, ["nginx", "-c", str(conf), "-p", str(tmp)], stderr=subprocess.DEVNULL)
        procs.append(nginx)
        wait_port(port)
        targets.append(Target("nginx", port, [nginx]))
    else:
        print("nginx is missing (apt install nginx): the nginx column is skipped", file=sys.stderr)

    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", OPENAI_API_KEY="sk-bench",
               RUST_LOG="warn")
    env.pop("RELAY_KEYS", None)
    extra_dir = tmp / "routes-extra"
    write_extra_routes(extra_dir, args.extra_routes)
    for name, routes in [("relay", ROOT / "routes.d"), ("relay-10k", extra_dir)]:
        port = free_port()
        # As in production: metrics on (always) and the access log on, to a file.
        relay = pinned(0, [str(RELEASE / "relay"), "serve", "--routes", str(routes), "--listen",
                           f"127.0.0.1:{port}", "--workers", "1", "--no-watch",
                           "--access-log", str(tmp / f"{name}-access.log")], env=env, stderr=subprocess.DEVNULL)
        procs.append(relay)
        wait_port(port)
        targets.append(Target(name, port, [relay]))

    upload = tmp / "upload.bin"
    write_upload(upload)
    idle = {t.name: t.rss_mib() for t in targets if t.procs}
    for target in targets:  # warm up connections and caches
        oha(target, "/v1/chat/completions", "-c", "8", *chat_args(), requests=2000)

    rounds = []
    for number in range(1, args.rounds + 1):
        print(f"round {number}/{args.rounds}", file=sys.stderr)
        round_results = {}
        for target in targets:
            measured = {"rate200": scenario_rate(target, 200, args.seconds),
                        "rate1000": scenario_rate(target, 1000, args.seconds),
                        "saturation": scenario_saturation(target, args.seconds)}
            if target.name != "relay-10k":
                measured["sse"] = scenario_sse(target)
                measured.update(scenario_transfers(target, upload))
            round_results[target.name] = measured
        rounds.append(round_results)

    open_streams = {t.name: open_streams_rss(t, args.open_streams) for t in targets if t.procs and t.name != "relay-10k"}
    return {"machine_before": load_before, "machine_after": machine_note(), "rounds": rounds,
            "summary": summarize(rounds, idle, open_streams, args.open_streams)}


def summarize(rounds, idle, open_streams, stream_count):
    names = list(rounds[0])

    def med(name, *keys):
        values = []
        for r in rounds:
            value = r[name]
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return median(values)

    summary = {}
    for name in names:
        summary[name] = {
            "p50_ms@200": med(name, "rate200", "p50_ms"), "p99_ms@200": med(name, "rate200", "p99_ms"),
            "p50_ms@1000": med(name, "rate1000", "p50_ms"), "p99_ms@1000": med(name, "rate1000", "p99_ms"),
            "rps@64": med(name, "saturation", "rps"),
            "cpu_us/req@1000": med(name, "rate1000", "cpu_us_per_req"),
            "cpu_us/req@64": med(name, "saturation", "cpu_us_per_req"),
            "sse_first_p50_ms": med(name, "sse", "first_p50"), "sse_first_p99_ms": med(name, "sse", "first_p99"),
            "sse_total_p50_ms": med(name, "sse", "total_p50"), "sse_cpu_ms/stream": med(name, "sse", "cpu_ms_per_stream"),
            "download_mib_s": med(name, "download_mib_s"), "upload_mib_s": med(name, "upload_mib_s"),
            "rss_idle_mib": idle.get(name), f"rss_{stream_count}_streams_mib": open_streams.get(name),
        }
    direct = summary["direct"]
    for name in names:
        if name == "direct":
            continue
        row = summary[name]
        for key in ["p50_ms@200", "p99_ms@200", "p50_ms@1000", "p99_ms@1000", "sse_first_p50_ms", "sse_total_p50_ms"]:
            if row[key] is not None and direct[key] is not None:
                row["added_" + key] = row[key] - direct[key]
    if "nginx" in summary:
        nginx = summary["nginx"]
        for name in ["relay", "relay-10k"]:
            ratios = {}
            for key in ["cpu_us/req@1000", "cpu_us/req@64", "rps@64", "sse_cpu_ms/stream", "download_mib_s",
                        "upload_mib_s", "added_p99_ms@1000", "added_sse_first_p50_ms"]:
                ours, theirs = summary[name].get(key), nginx.get(key)
                if ours is not None and theirs:
                    ratios[key] = ours / theirs
            summary[name]["vs_nginx"] = ratios
    if "relay-10k" in summary:
        base, big = summary["relay"], summary["relay-10k"]
        summary["relay-10k"]["cpu_vs_shipped"] = {
            key: big[key] / base[key] for key in ["cpu_us/req@1000", "cpu_us/req@64"] if base[key] and big[key]}
    return summary


def print_table(results):
    summary = results["summary"]
    names = list(summary)
    keys = [k for k in summary[names[0]] if not isinstance(summary[names[0]][k], dict)]
    keys += [k for k in summary.get("relay", {}) if k.startswith("added_") and k not in keys]
    width = max(len(k) for k in keys) + 2
    print("metric".ljust(width) + "".join(n.rjust(12) for n in names))
    for key in keys:
        cells = []
        for name in names:
            value = summary[name].get(key)
            cells.append(("-" if value is None else f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}").rjust(12))
        print(key.ljust(width) + "".join(cells))
    for name in ["relay", "relay-10k"]:
        for label in ["vs_nginx", "cpu_vs_shipped"]:
            ratios = summary.get(name, {}).get(label)
            if ratios:
                print(f"{name} {label}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    before, after = results["machine_before"], results["machine_after"]
    print(f"machine: {before['cpu']}, {before['cores']} cores; load average before {' '.join(before['loadavg'])}, "
          f"after {' '.join(after['loadavg'])}")


if __name__ == "__main__":
    main()
