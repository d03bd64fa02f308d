#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a deterministic figure
that a noisy 2-core machine cannot blur (see ../shared/notes when at hand).

Runs a release `relay serve` (shipped routes.d/, one worker) under
`valgrind --tool=callgrind` in front of examples/bench_upstream, warms it
up, zeroes the counters, sends N small chat completions over one
keep-alive connection, dumps, and prints user-space instructions per
request (kernel time is not counted). Compare two binaries in one run:

    python3 bench/instructions.py --relay target/release/relay
    python3 bench/instructions.py --relay old/relay --relay new/relay --requests 3000
    python3 bench/instructions.py --relay new/relay --args=--access-log=off
    python3 bench/instructions.py --relay old/relay --routes old/routes.d
    python3 bench/instructions.py --relay new/relay --args=--routes=bench/consumers/routes.d \
        --header 'authorization: Bearer rk-bench'      # a consumer with every limit on

Needs: valgrind (apt install valgrind) and a release build of
examples/bench_upstream (`cargo build --release --example bench_upstream`).
"""

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, wait_port  # noqa: E402
CHAT_BODY = '{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'


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


def measure(relay, routes, extra, headers, upstream_port, requests, tmp):
    port = free_port()
    out = tmp / f"callgrind.{port}.out"
    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", OPENAI_API_KEY="sk-bench",
               RUST_LOG="warn")
    env.pop("RELAY_KEYS", None)
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", relay, "serve", "--routes",
               routes, "--listen", f"127.0.0.1:{port}", "--workers", "1", "--no-watch", *extra]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        send(port, 200, headers)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
        send(port, requests, headers)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1)
        dumps = sorted(tmp.glob(f"callgrind.{port}.out*"), key=lambda p: p.stat().st_mtime)
        print(f"profile: callgrind_annotate --inclusive=yes {dumps[-1]}", file=sys.stderr)
        return total_instructions(dumps[-1]) / requests
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relay", action="append", required=True, help="a relay binary (repeatable)")
    parser.add_argument("--args", action="append", default=[], help="extra `serve` argument for every binary")
    parser.add_argument("--upstream", default=str(ROOT / "target" / "release" / "examples" / "bench_upstream"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--header", action="append", default=[], help="'Name: value' sent with every request")
    parser.add_argument("--routes", default=str(ROOT / "routes.d"), help="the routes directory (an older binary may need its own)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="relay-instructions-"))
    upstream_port = free_port()
    upstream = subprocess.Popen([args.upstream, f"127.0.0.1:{upstream_port}"], stdout=subprocess.DEVNULL)
    try:
        wait_port(upstream_port)
        results = {}
        for relay in args.relay:
            headers = [tuple(part.strip() for part in h.split(":", 1)) for h in args.header]
            results[relay] = measure(relay, args.routes, args.args, headers, upstream_port, args.requests, tmp)
            print(f"{relay}: {results[relay]:,.0f} instructions per request", file=sys.stderr)
        summary = {"requests": args.requests, "args": args.args, "headers": [h.split(":", 1)[0] for h in args.header],
                   "instructions_per_request": results}
        print(json.dumps(summary, indent=2))
    finally:
        upstream.kill()
        upstream.wait()


if __name__ == "__main__":
    main()
