#!/usr/bin/env python3
"""The relay against a direct connection and nginx, on loopback.

Starts a fast fixed-answer upstream (examples/bench_upstream.rs, answering
with the OpenAI API's ~20 response headers unless `--headers small`), the
relay (release build, shipped routes.d/, one worker) and nginx (proxy_pass
with an upstream keepalive pool, one worker). The systems under test are
pinned to core 0 and the load (oha, examples/bench_sse.rs) to core 1; the
upstream runs on the load's core (`--upstream-core other`), on the relay's
core (`same`: it then competes with the system under test, as a busy host
would), or both (default: one upstream on each, every target in front of
each). Every scenario runs against each target in turn, round after round,
so the ratios hold on a noisy machine. Prints a table and writes JSON.

Targets, per upstream placement:
  direct          oha straight to the upstream
  nginx           access log off;  nginx-log: access log on, to a file
  relay           as users run it: access log on (to a file) and metrics
                  (always recorded; served on an admin address)
  relay-off       `--access-log off` (metrics cannot be turned off)
  relay-consumer  `relay` plus bench/consumers/routes.d (one consumer, every
                  limit on, counted in memory), every request carrying its
                  key `authorization: Bearer rk-bench`
  relay-10k       `relay` with 10,000 extra routes (upstream on the other
                  core only)
  floor           examples/bench_floor: actix-web forwarding through awc
                  and nothing else, the least a relay on this stack costs

CPU per request is read from the targets' own counters (/proc utime +
stime, in clock ticks of 10 ms); each figure comes with its quantisation
bound (2 ticks per process over the ticks measured) in the JSON, and the
table marks figures whose bound is over 2 %.

    python3 bench/run.py                    # 3 rounds, both placements, about 20 minutes
    python3 bench/run.py --rounds 2 --seconds 4 --upstream-core other
    python3 bench/run.py --relay /path/to/relay --no-build --out bench/results/run.json
    python3 bench/run.py --only nginx-log,relay,relay-off --upstream-core other   # some targets

Needs: oha (cargo install oha --locked), nginx (apt install nginx; the nginx
columns are skipped with a message when it is missing), taskset (util-linux).
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, nginx_conf, wait_port  # noqa: E402
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
CHAT_BODY = '{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'
MIB = 1024 * 1024
TRANSFER = 8 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
CONSUMER_ROUTES = ROOT / "bench" / "consumers" / "routes.d"
CONSUMER_HEADER = "authorization: Bearer rk-bench"
SUT_CORE, LOAD_CORE = 0, 1
# A CPU figure is marked in the table when its quantisation bound is above this.
CPU_BOUND_OK = 0.02
FAILURES = {}  # target name: the answers that were not 2xx

class Target:
    """A system under test: a name, a port, the processes whose CPU and
    memory count (none for the direct connection) and the headers its
    requests carry."""

    def __init__(self, name, kind, placement, port, procs=(), headers=()):
        self.name, self.kind, self.placement, self.port = name, kind, placement, port
        self.procs, self.headers = list(procs), list(headers)

    def pids(self):
        pids = []
        for proc in self.procs:
            pids.append(proc.pid)
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
            if children.exists():
                pids += [int(p) for p in children.read_text().split()]
        return pids

    def cpu_ticks(self):
        """utime + stime of every process (all threads), in clock ticks, and
        how many processes were read."""
        total, pids = 0, self.pids()
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total, len(pids)

    def rss_mib(self):
        return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE for pid in self.pids()) / MIB


class CpuMeter:
    """CPU a target used between start and stop, with the bound of the error
    the clock-tick counters allow: each of utime and stime is read as a whole
    number of ticks, so each process's difference is off by under 2 ticks."""

    def __init__(self, target):
        self.target = target
        self.before, _ = target.cpu_ticks()

    def per(self, count, scale=1e6):
        """(CPU per unit in 1/scale seconds, relative bound), or (None, None)
        for the direct connection."""
        if not self.target.procs:
            return None, None
        after, processes = self.target.cpu_ticks()
        ticks = after - self.before
        bound = 2 * processes / ticks if ticks else float("inf")
        return ticks / CLK_TCK / count * scale, bound


def pinned(core, command, **kwargs):
    prefix = ["taskset", "-c", str(core)] if shutil.which("taskset") else []
    return subprocess.Popen(prefix + command, **kwargs)


def oha(target, path, *args, seconds=None, requests=None):
    command = ["oha", "--no-tui", "--output-format", "json"]
    command += ["-z", f"{seconds}s"] if seconds else ["-n", str(requests)]
    for header in target.headers:
        command += ["-H", header]
    command += list(args) + [f"http://127.0.0.1:{target.port}{path}"]
    prefix = ["taskset", "-c", str(LOAD_CORE)] if shutil.which("taskset") else []
    out = subprocess.run(prefix + command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    codes = result.get("statusCodeDistribution", {})
    bad = {code: n for code, n in codes.items() if not code.startswith("2")}
    # oha -z ends with the requests in flight cut off: not the target's doing.
    bad.update({kind: n for kind, n in result.get("errorDistribution", {}).items() if "deadline" not in kind})
    if bad:
        # Counted and reported (the summary's `failures`), not hidden; a
        # target that answers nothing right stops the run.
        print(f"{target.name} {path}: failed answers {bad}", file=sys.stderr)
        FAILURES.setdefault(target.name, []).append({"path": path, "answers": bad})
        if not any(code.startswith("2") for code in codes):
            raise SystemExit(f"{target.name} {path}: no 2xx answer")
    return result


def answered(result):
    """Requests answered 2xx."""
    return sum(n for code, n in result["statusCodeDistribution"].items() if code.startswith("2"))


def stop(proc):
    """Ends a process and its children (nginx's workers outlive a killed master)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    pids = [int(p) for p in children.read_text().split()] if children.exists() else []
    proc.kill()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def chat_args():
    return ["-m", "POST", "-T", "application/json", "-d", CHAT_BODY]


def scenario_rate(target, rate, seconds):
    meter = CpuMeter(target)
    result = oha(target, "/v1/chat/completions", "-q", str(rate), "-c", "32", "--latency-correction",
                 *chat_args(), seconds=seconds)
    cpu, bound = meter.per(answered(result))
    latency = result["latencyPercentiles"]
    return {"p50_ms": latency["p50"] * 1000, "p99_ms": latency["p99"] * 1000,
            "cpu_us_per_req": cpu, "cpu_bound": bound}


def scenario_saturation(target, seconds):
    meter = CpuMeter(target)
    result = oha(target, "/v1/chat/completions", "-c", "64", *chat_args(), seconds=seconds)
    count = answered(result)
    cpu, bound = meter.per(count)
    return {"rps": result["summary"]["requestsPerSec"], "requests": count, "cpu_us_per_req": cpu, "cpu_bound": bound}


def scenario_sse(target, streams=50):
    meter = CpuMeter(target)
    prefix = ["taskset", "-c", str(LOAD_CORE)] if shutil.which("taskset") else []
    out = subprocess.run(prefix + [str(RELEASE / "examples" / "bench_sse"), f"127.0.0.1:{target.port}", str(streams)],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if result["failed"]:
        raise SystemExit(f"{target.name}: {result['failed']} SSE streams failed")
    result["cpu_ms_per_stream"], result["cpu_bound"] = meter.per(streams, 1e3)
    return result


def scenario_transfers(target, upload_file, count=40, parallel_count=128, connections=8):
    down = oha(target, "/v1/files/file-bench/content", "-c", "1", requests=count)
    if down["summary"]["totalData"] != count * TRANSFER:
        raise SystemExit(f"{target.name}: download size {down['summary']['totalData']}")
    upload = ["-m", "POST", "-T", "multipart/form-data; boundary=benchboundary", "-D", str(upload_file)]
    up = oha(target, "/v1/files", "-c", "1", *upload, requests=count)
    size = upload_file.stat().st_size
    # Several uploads at once, each streamed through (not buffered whole).
    meter = CpuMeter(target)
    many = oha(target, "/v1/files", "-c", str(connections), *upload, requests=parallel_count)
    cpu, bound = meter.per(parallel_count * size / MIB, 1e3)
    return {"download_mib_s": count * TRANSFER / down["summary"]["total"] / MIB,
            "upload_mib_s": count * size / up["summary"]["total"] / MIB,
            f"upload_c{connections}_mib_s": parallel_count * size / many["summary"]["total"] / MIB,
            f"upload_c{connections}_cpu_ms_per_mib": cpu, f"upload_c{connections}_cpu_bound": bound}


def open_streams_rss(target, streams):
    """RSS (MiB) of the target with `streams` slow SSE streams open."""
    prefix = ["taskset", "-c", str(LOAD_CORE)] if shutil.which("taskset") else []
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
    """The shipped routes plus `count` more, each its own path (with the
    schemas/ folder beside them, where the routes' schemas are read)."""
    shutil.copytree(ROOT / "routes.d", directory)
    schemas = directory.parent / "schemas"
    if not schemas.exists():
        schemas.symlink_to(ROOT / "schemas")
    lines = ['[defaults]\nupstream = "openai"\n']
    for i in range(count):
        lines.append(f'[[route]]\nid = "bench.extra{i}"\nmethod = "POST"\npath = "/v1/bench/r{i}/{{item}}/run"\n')
    (directory / "zz-bench-extra.toml").write_text("\n".join(lines))


def machine_note():
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), "unknown CPU")
    return {"time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cpu": model, "cores": os.cpu_count(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5, help="length of each fixed-rate and saturation run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--extra-routes", type=int, default=10_000, help="routes of relay-10k (0: no relay-10k)")
    parser.add_argument("--open-streams", type=int, default=1000)
    parser.add_argument("--upstream-core", choices=["same", "other", "both"], default="both",
                        help="the upstream on the relay's core, on the load generator's, or a run of each")
    parser.add_argument("--headers", choices=["openai", "small"], default="openai",
                        help="the upstream's answer headers: the OpenAI API's ~20, or only a content type")
    parser.add_argument("--relay", default=str(RELEASE / "relay"), help="the relay binary")
    parser.add_argument("--consumer-routes", default=str(CONSUMER_ROUTES),
                        help="the consumer's routes directory (default: bench/consumers/routes.d, every limit on; "
                             "bench/consumers/lookup.d: lookup and in-process limits only)")
    parser.add_argument("--only", type=lambda text: set(text.split(",")),
                        help="comma-separated kinds of target to run (direct, nginx, nginx-log, relay, relay-off, "
                             "relay-consumer, relay-10k, floor); default: all")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    args = parser.parse_args()
    if not shutil.which("oha"):
        raise SystemExit("oha is missing: cargo install oha --locked")
    if not args.no_build:
        print("building (release)...", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "relay", "--example", "bench_upstream",
                        "--example", "bench_sse", "--example", "bench_floor"], cwd=ROOT, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    procs = []
    try:
        results = run(args, tmp, procs)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nJSON: {args.out}", file=sys.stderr)


def start_targets(args, tmp, procs, placement):
    """The upstream on its core and every target in front of it."""
    upstream_port = free_port()
    core = SUT_CORE if placement == "same" else LOAD_CORE
    procs.append(pinned(core, [str(RELEASE / "examples" / "bench_upstream"), f"127.0.0.1:{upstream_port}"],
                        env=dict(os.environ, BENCH_UPSTREAM_HEADERS=args.headers), stdout=subprocess.DEVNULL))
    wait_port(upstream_port)
    wanted = (lambda kind: kind in args.only) if args.only else (lambda kind: True)
    targets = [Target(f"direct@{placement}", "direct", placement, upstream_port)] if wanted("direct") else []

    if shutil.which("nginx"):
        for kind, access_log in [("nginx", None), ("nginx-log", tmp / f"nginx-{placement}-access.log")]:
            if not wanted(kind):
                continue
            port = free_port()
            conf = tmp / f"nginx-{port}.conf"
            log = f"access_log {access_log}" if access_log else "access_log off"
            conf.write_text(nginx_conf(tmp, port, upstream_port, log, worker_connections=8192))
            nginx = pinned(SUT_CORE, ["nginx", "-c", str(conf), "-p", str(tmp)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            procs.append(nginx)
            wait_port(port, proc=nginx)
            targets.append(Target(f"{kind}@{placement}", kind, placement, port, [nginx]))
    elif placement == args.placements[0]:
        print("nginx is missing (apt install nginx): the nginx columns are skipped", file=sys.stderr)

    if wanted("floor"):
        port = free_port()
        floor = pinned(SUT_CORE, [str(RELEASE / "examples" / "bench_floor"), f"127.0.0.1:{port}",
                                  f"http://127.0.0.1:{upstream_port}"], stdout=subprocess.DEVNULL)
        procs.append(floor)
        wait_port(port, proc=floor)
        targets.append(Target(f"floor@{placement}", "floor", placement, port, [floor]))

    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", OPENAI_API_KEY="sk-bench",
               RUST_LOG="warn")
    env.pop("RELAY_KEYS", None)
    routes = ROOT / "routes.d"
    relays = [("relay", [routes], "on", []), ("relay-off", [routes], "off", []),
              ("relay-consumer", [routes, Path(args.consumer_routes)], "on", [CONSUMER_HEADER])]
    if args.extra_routes and placement == "other" and wanted("relay-10k"):
        extra_dir = tmp / "routes-extra"
        if not extra_dir.exists():
            write_extra_routes(extra_dir, args.extra_routes)
        relays.append(("relay-10k", [extra_dir], "on", []))
    for kind, route_dirs, logging, headers in relays:
        if not wanted(kind):
            continue
        port = free_port()
        command = [args.relay, "serve", "--listen", f"127.0.0.1:{port}", "--workers", "1", "--no-watch"]
        for directory in route_dirs:
            command += ["--routes", str(directory)]
        if logging == "on":
            # As in production: metrics on (always), served on an admin
            # address, and the access log on, to a file.
            command += ["--access-log", str(tmp / f"{kind}-{placement}-access.log"),
                        "--admin-listen", f"127.0.0.1:{free_port()}"]
        else:
            command += ["--access-log", "off"]
        relay = pinned(SUT_CORE, command, env=env, stdout=subprocess.DEVNULL,
                       stderr=open(tmp / f"{kind}-{placement}.log", "w"))
        procs.append(relay)
        wait_port(port, proc=relay)
        targets.append(Target(f"{kind}@{placement}", kind, placement, port, [relay], headers))
    return targets


def run(args, tmp, procs):
    load_before = machine_note()
    args.placements = ["other", "same"] if args.upstream_core == "both" else [args.upstream_core]
    targets = []
    for placement in args.placements:
        targets += start_targets(args, tmp, procs, placement)

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
            if target.kind != "relay-10k":
                if not target.headers:  # bench_sse sends no relay key
                    measured["sse"] = scenario_sse(target)
                measured.update(scenario_transfers(target, upload))
            round_results[target.name] = measured
        rounds.append(round_results)

    open_streams = {t.name: open_streams_rss(t, args.open_streams) for t in targets
                    if t.procs and t.placement == args.placements[0] and not t.headers and t.kind != "relay-10k"}
    return {"date": load_before["time"][:10], "upstream_headers": args.headers, "placements": args.placements,
            "machine_before": load_before, "machine_after": machine_note(), "failures": FAILURES, "rounds": rounds,
            "summary": summarize(rounds, targets, idle, open_streams, args.open_streams)}


RATIO_KEYS = ["cpu_us/req@1000", "cpu_us/req@64", "rps@64", "sse_cpu_ms/stream", "download_mib_s", "upload_mib_s",
              "upload_c8_mib_s", "upload_c8_cpu_ms/mib", "added_p99_ms@1000", "added_sse_first_p50_ms"]


def summarize(rounds, targets, idle, open_streams, stream_count):
    def med(name, *keys):
        values = []
        for r in rounds:
            value = r[name]
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return median(values)

    def worst(name, *keys):  # the largest quantisation bound over the rounds
        return max((v for v in [med_one(r[name], keys) for r in rounds] if v is not None), default=None)

    def med_one(value, keys):
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    summary = {}
    for target in targets:
        name = target.name
        summary[name] = {
            "p50_ms@200": med(name, "rate200", "p50_ms"), "p99_ms@200": med(name, "rate200", "p99_ms"),
            "p50_ms@1000": med(name, "rate1000", "p50_ms"), "p99_ms@1000": med(name, "rate1000", "p99_ms"),
            "rps@64": med(name, "saturation", "rps"),
            "cpu_us/req@1000": med(name, "rate1000", "cpu_us_per_req"),
            "cpu_us/req@64": med(name, "saturation", "cpu_us_per_req"),
            "sse_first_p50_ms": med(name, "sse", "first_p50"), "sse_first_p99_ms": med(name, "sse", "first_p99"),
            "sse_total_p50_ms": med(name, "sse", "total_p50"), "sse_cpu_ms/stream": med(name, "sse", "cpu_ms_per_stream"),
            "download_mib_s": med(name, "download_mib_s"), "upload_mib_s": med(name, "upload_mib_s"),
            "upload_c8_mib_s": med(name, "upload_c8_mib_s"), "upload_c8_cpu_ms/mib": med(name, "upload_c8_cpu_ms_per_mib"),
            "rss_idle_mib": idle.get(name), f"rss_{stream_count}_streams_mib": open_streams.get(name),
            "cpu_bound": {"cpu_us/req@1000": worst(name, "rate1000", "cpu_bound"),
                          "cpu_us/req@64": worst(name, "saturation", "cpu_bound"),
                          "sse_cpu_ms/stream": worst(name, "sse", "cpu_bound"),
                          "upload_c8_cpu_ms/mib": worst(name, "upload_c8_cpu_bound")},
        }
    by_name = {t.name: t for t in targets}
    for target in targets:
        direct = summary.get(f"direct@{target.placement}")
        if target.kind == "direct" or not direct:
            continue
        row = summary[target.name]
        for key in ["p50_ms@200", "p99_ms@200", "p50_ms@1000", "p99_ms@1000", "sse_first_p50_ms", "sse_total_p50_ms"]:
            if row[key] is not None and direct[key] is not None:
                row["added_" + key] = row[key] - direct[key]
    for target in targets:
        if not (target.kind.startswith("relay") or target.kind == "floor"):
            continue
        row = summary[target.name]
        for nginx_kind in ["nginx", "nginx-log"]:
            nginx = summary.get(f"{nginx_kind}@{target.placement}")
            if not nginx:
                continue
            ratios = {}
            for key in RATIO_KEYS:
                ours, theirs = row.get(key), nginx.get(key)
                if ours is not None and theirs:
                    ratios[key] = ours / theirs
            row[f"vs_{nginx_kind}"] = ratios
        base = summary.get(f"relay@{target.placement}")
        if target.kind != "relay" and base:
            row["vs_relay"] = {key: row[key] / base[key] for key in ["cpu_us/req@1000", "cpu_us/req@64", "rps@64"]
                               if base[key] and row[key]}
    # The same target with the upstream on the relay's core, over on the other core.
    for name, target in by_name.items():
        other = summary.get(f"{target.kind}@other")
        if target.placement == "same" and other:
            summary[name]["same_vs_other"] = {key: summary[name][key] / other[key]
                                              for key in ["rps@64", "cpu_us/req@64", "p99_ms@1000"]
                                              if summary[name][key] and other[key]}
    return summary


def print_table(results):
    summary = results["summary"]
    for placement in results["placements"]:
        names = [n for n in summary if n.endswith("@" + placement)]
        where = "the relay's core" if placement == "same" else "the load generator's core"
        print(f"\nupstream on {where} ({placement}); answers with {results['upstream_headers']} headers")
        keys = [k for k in summary[names[0]] if not isinstance(summary[names[0]][k], dict)]
        keys += [k for name in names for k in summary[name] if k.startswith("added_") and k not in keys]
        keys = list(dict.fromkeys(keys))
        width = max(len(k) for k in keys) + 2
        print("metric".ljust(width) + "".join(n.split("@")[0].rjust(15) for n in names))
        for key in keys:
            cells = []
            for name in names:
                value = summary[name].get(key)
                bound = summary[name].get("cpu_bound", {}).get(key)
                mark = "~" if bound is not None and bound > CPU_BOUND_OK else ""
                text = "-" if value is None else f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
                cells.append((mark + text).rjust(15))
            print(key.ljust(width) + "".join(cells))
        for name in names:
            for label in ["vs_nginx", "vs_nginx-log", "vs_relay", "same_vs_other"]:
                ratios = summary[name].get(label)
                if ratios:
                    print(f"{name} {label}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    for name, failures in results.get("failures", {}).items():
        print(f"{name}: failed answers " + "; ".join(f"{f['path']} {f['answers']}" for f in failures))
    print(f"~: CPU figure whose clock-tick quantisation bound is over {CPU_BOUND_OK:.0%} (bounds in the JSON)")
    before, after = results["machine_before"], results["machine_after"]
    print(f"machine: {before['cpu']}, {before['cores']} cores; {before['time']}; load average before "
          f"{' '.join(before['loadavg'])}, after {' '.join(after['loadavg'])}")


if __name__ == "__main__":
    main()
