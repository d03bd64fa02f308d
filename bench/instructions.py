#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a deterministic figure
that a noisy 2-core machine cannot blur (see ../shared/notes when at hand).

Runs a release `relay serve` (shipped routes.d/, one worker) under
`valgrind --tool=callgrind` in front of examples/bench_upstream, warms it
up, zeroes the counters, sends N small chat completions over one
keep-alive connection, dumps, and prints user-space instructions per
request (kernel time is not counted). nginx is measured the same way in
the same run (`master_process off; daemon off; worker_processes 1;`, an
upstream keepalive pool, as bench/run.py configures it), so the ratio
comes out of one run.

Each relay runs in these variants (`--variants`; by default all but plain,
or plain alone when --args or --header is given, as before variants existed):

  on         access log to a file, metrics (always recorded) served on an
             admin address: as users run it
  off        `--access-log=off` (metrics cannot be turned off)
  consumers  `on` plus bench/consumers/routes.d (one consumer, every limit
             on, counted in memory) and its key `rk-bench` on every request
  plain      only --args (the access log goes to stdout, here /dev/null):
             what this script measured before variants existed

nginx runs with its access log off and on (to a file). The upstream answers
with the OpenAI API's ~20 response headers (`--headers openai`, default) or
only a content type (`--headers small`); `--headers openai,small` does both.

    python3 bench/instructions.py --relay target/release/relay
    python3 bench/instructions.py --relay old/relay --relay new/relay --requests 3000
    python3 bench/instructions.py --relay new/relay --args=--access-log=off    # plain, as before
    python3 bench/instructions.py --relay old/relay --routes old/routes.d --no-nginx
    python3 bench/instructions.py --relay new/relay --args=--routes=bench/consumers/routes.d \
        --header 'authorization: Bearer rk-bench'      # a consumer with every limit on, by hand
    python3 bench/instructions.py --relay target/release/relay --out bench/results/instructions.json
    python3 bench/instructions.py --relay target/release/relay --floor    # and the stack's floor (bench_floor)

`--floor` also measures examples/bench_floor: actix-web forwarding every
request through awc and doing nothing else, the least any relay on this
stack pays per request.

Needs: valgrind (apt install valgrind), a release build of
examples/bench_upstream (`cargo build --release --example bench_upstream`,
and `--example bench_floor` for `--floor`),
and nginx for its column (apt install nginx; skipped with a message when
missing).
"""

import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, nginx_conf, wait_port  # noqa: E402
RELEASE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
CHAT_BODY = '{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'
CONSUMER_ROUTES = ROOT / "bench" / "consumers" / "routes.d"
CONSUMER_HEADER = ("authorization", "Bearer rk-bench")
VARIANTS = ["on", "off", "consumers", "plain"]

def send(port, count, headers=()):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = {"content-type": "application/json", **dict(headers)}
    for _ in range(count):
        conn.request("POST", "/v1/chat/completions", CHAT_BODY, sent)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"answer {response.status}")
    conn.close()


def total_instructions(path):
    for line in Path(path).read_text().splitlines():
        match = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if match:
            return int(match.group(1))
    raise SystemExit(f"no totals in {path}")


def callgrind(command, port, headers, requests, tmp, env=None):
    """Starts `command` under callgrind, listening on `port`; instructions per
    request over `requests` requests after 200 to warm up."""
    out = tmp / f"callgrind.{port}.out"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc=proc)
        send(port, 200, headers)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(port, requests, headers)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1)
        dumps = sorted(tmp.glob(f"callgrind.{port}.out*"), key=lambda p: p.stat().st_mtime)
        print(f"profile (with --keep): callgrind_annotate --inclusive=yes {dumps[-1]}", file=sys.stderr)
        return total_instructions(dumps[-1]) / requests
    finally:
        proc.kill()
        proc.wait()


def measure(relay, routes, extra, headers, upstream_port, requests, tmp):
    port = free_port()
    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", OPENAI_API_KEY="sk-bench",
               RUST_LOG="warn")
    env.pop("RELAY_KEYS", None)
    command = [relay, "serve", "--routes", routes, "--listen", f"127.0.0.1:{port}", "--workers", "1", "--no-watch",
               *extra]
    return callgrind(command, port, headers, requests, tmp, env)


def variant_args(variant, tmp, consumer_routes=CONSUMER_ROUTES):
    """Extra `serve` arguments and request headers of a relay variant."""
    if variant == "plain":
        return [], []
    if variant == "off":
        return ["--access-log=off"], []
    on = [f"--access-log={tmp / f'access-{variant}-{free_port()}.log'}", f"--admin-listen=127.0.0.1:{free_port()}"]
    if variant == "on":
        return on, []
    return on + [f"--routes={consumer_routes}"], [CONSUMER_HEADER]


def measure_nginx(nginx, access_log, upstream_port, requests, tmp):
    port = free_port()
    conf = tmp / f"nginx-{port}.conf"
    log = f"access_log {tmp / f'nginx-{port}-access.log'}" if access_log else "access_log off"
    conf.write_text(nginx_conf(tmp, port, upstream_port, log, master_process=False))
    return callgrind([nginx, "-c", str(conf), "-p", str(tmp)], port, [], requests, tmp)


def start_upstream(binary, headers):
    port = free_port()
    env = dict(os.environ, BENCH_UPSTREAM_HEADERS=headers)
    proc = subprocess.Popen([binary, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, env=env)
    wait_port(port)
    # An older bench_upstream ignores the variable: check what it answers.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/v1/chat/completions", CHAT_BODY, {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if (headers == "openai") != (response.getheader("openai-version") is not None):
        proc.kill()
        raise SystemExit(f"{binary} does not answer with {headers} headers: rebuild it "
                         "(cargo build --release --example bench_upstream)")
    return proc, port


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relay", action="append", required=True, help="a relay binary (repeatable)")
    parser.add_argument("--args", action="append", default=[], help="extra `serve` argument for every binary")
    parser.add_argument("--upstream", default=str(RELEASE / "examples" / "bench_upstream"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--header", action="append", default=[], help="'Name: value' sent with every request")
    parser.add_argument("--routes", default=str(ROOT / "routes.d"), help="the routes directory (an older binary may need its own)")
    parser.add_argument("--variants", help=f"comma-separated relay variants, of {', '.join(VARIANTS)} (default: "
                        "on,off,consumers; plain when --args or --header is given)")
    parser.add_argument("--headers", default="openai", help="the upstream's answer headers: openai, small, or both (comma-separated)")
    parser.add_argument("--nginx", default=shutil.which("nginx"), help="the nginx binary (default: on PATH)")
    parser.add_argument("--no-nginx", action="store_true", help="measure the relay only")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the callgrind profiles (their paths are printed)")
    parser.add_argument("--consumer-routes", default=str(CONSUMER_ROUTES),
                        help="the consumer's routes directory (default: bench/consumers/routes.d, every limit on; "
                             "bench/consumers/lookup.d: lookup and in-process limits only)")
    parser.add_argument("--floor", nargs="?", const=str(RELEASE / "examples" / "bench_floor"),
                        help="also measure the stack's floor: examples/bench_floor, actix-web forwarding through awc "
                             "and nothing else (default: the release build of it)")
    args = parser.parse_args()
    if args.variants is None:
        args.variants = "plain" if args.args or args.header else "on,off,consumers"
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    header_sets = [h.strip() for h in args.headers.split(",") if h.strip()]
    for variant in variants:
        if variant not in VARIANTS:
            raise SystemExit(f"--variants: {variant}? (one of {', '.join(VARIANTS)})")
    for header_set in header_sets:
        if header_set not in ("openai", "small"):
            raise SystemExit(f"--headers: {header_set}? (openai or small)")
    nginx = None if args.no_nginx else args.nginx
    if not nginx and not args.no_nginx:
        print("nginx is missing (apt install nginx): its figures are skipped", file=sys.stderr)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="relay-instructions-"))
    headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
    results = {}
    try:
        for header_set in header_sets:
            upstream, upstream_port = start_upstream(args.upstream, header_set)
            try:
                figures = {}
                for relay in args.relay:
                    for variant in variants:
                        extra, sent = variant_args(variant, tmp, args.consumer_routes)
                        name = relay if variants == ["plain"] else f"{relay} [{variant}]"
                        figures[name] = measure(relay, args.routes, args.args + extra, headers + sent, upstream_port,
                                                args.requests, tmp)
                        print(f"{header_set} headers, {name}: {figures[name]:,.0f} instructions per request",
                              file=sys.stderr)
                if args.floor:
                    port = free_port()
                    name = "floor [actix-web + awc]"
                    figures[name] = callgrind([args.floor, f"127.0.0.1:{port}", f"http://127.0.0.1:{upstream_port}"],
                                              port, [], args.requests, tmp)
                    print(f"{header_set} headers, {name}: {figures[name]:,.0f} instructions per request",
                          file=sys.stderr)
                if nginx:
                    for access_log in (False, True):
                        name = f"nginx [access log {'on' if access_log else 'off'}]"
                        figures[name] = measure_nginx(nginx, access_log, upstream_port, args.requests, tmp)
                        print(f"{header_set} headers, {name}: {figures[name]:,.0f} instructions per request",
                              file=sys.stderr)
                results[header_set] = figures
            finally:
                upstream.kill()
                upstream.wait()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
               "requests": args.requests, "args": args.args, "headers": [h.split(":", 1)[0] for h in args.header],
               "variants": variants, "loadavg_before": load_before,
               "loadavg_after": Path("/proc/loadavg").read_text().split()[:3]}
    if header_sets == ["openai"] and not nginx:
        # The shape this script printed before nginx and header sets existed.
        summary["instructions_per_request"] = results["openai"]
    else:
        summary["instructions_per_request"] = results
        summary["vs_nginx"] = ratios(results, args.relay, variants)
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


def ratios(results, relays, variants):
    """Each relay variant over nginx with its access log set alike: off for
    `off`, on for the others (`plain` logs to stdout)."""
    out = {}
    for header_set, figures in results.items():
        nginx_on, nginx_off = figures.get("nginx [access log on]"), figures.get("nginx [access log off]")
        if not nginx_on:
            continue
        per_set = {}
        for relay in relays:
            for variant in variants:
                name = relay if variants == ["plain"] else f"{relay} [{variant}]"
                theirs = nginx_off if variant == "off" else nginx_on
                per_set[name] = round(figures[name] / theirs, 2)
        out[header_set] = per_set
    return out


if __name__ == "__main__":
    main()
