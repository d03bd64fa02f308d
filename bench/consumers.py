#!/usr/bin/env python3
"""What consumers add to a request's latency: the release relay in front of
examples/bench_upstream, three ways in one run, interleaved round by round:

  plain     the shipped routes, no relay key;
  memory    bench/consumers/ (one consumer, every limit on), counters in
            the relay's memory;
  redis     the same with `[state] redis` on a local redis-server (one
            round trip per admission; usage settled after the answer).

Sends requests one at a time over one keep-alive connection and prints p50
and p99 latency per configuration and what each adds to `plain`.

    python3 bench/consumers.py                      # 3 rounds of 3000 requests
    python3 bench/consumers.py --rounds 5 --requests 5000 --out bench/results/consumers.json

Needs: a release build (`cargo build --release --bin relay --example
bench_upstream`) and redis-server (apt install redis-server).
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, wait_port  # noqa: E402
CHAT_BODY = '{"model":"gpt-bench","messages":[{"role":"user","content":"Say hello."}]}'


def latencies(port, count, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = {"content-type": "application/json", **headers}
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", CHAT_BODY, sent)
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise SystemExit(f"answer {response.status}: {response.read()[:200]}")
    conn.close()
    return times


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def start_relay(relay, upstream_port, extra_routes, env_extra):
    port = free_port()
    env = dict(os.environ, OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1", OPENAI_API_KEY="sk-bench",
               RUST_LOG="warn", **env_extra)
    env.pop("RELAY_KEYS", None)
    command = [relay, "serve", "--routes", str(ROOT / "routes.d"), "--listen", f"127.0.0.1:{port}", "--workers", "1",
               "--no-watch", "--access-log", "off"]
    for routes in extra_routes:
        command += ["--routes", routes]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relay", default=str(ROOT / "target" / "release" / "relay"))
    parser.add_argument("--upstream", default=str(ROOT / "target" / "release" / "examples" / "bench_upstream"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--out")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="relay-consumers-"))
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    upstream_port = free_port()
    upstream = subprocess.Popen([args.upstream, f"127.0.0.1:{upstream_port}"], stdout=subprocess.DEVNULL)
    # The bench consumer's file, once with Redis.
    consumer = (ROOT / "bench" / "consumers" / "routes.d" / "00-bench-consumer.toml").read_text()
    with_redis = tmp / "redis.d"
    with_redis.mkdir()
    (with_redis / "00-bench-consumer.toml").write_text(consumer + '\n[state]\nredis = "${RELAY_REDIS_URL}"\n')
    key = {"authorization": "Bearer rk-bench"}
    configs = {
        "plain": ([], {}, {}),
        "memory": ([str(ROOT / "bench" / "consumers" / "routes.d")], {}, key),
        "redis": ([str(with_redis)], {"RELAY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/"}, key),
    }
    samples = {name: [] for name in configs}
    try:
        wait_port(upstream_port)
        wait_port(redis_port)
        for round_number in range(args.rounds):
            for name, (routes, env, headers) in configs.items():
                proc, port = start_relay(args.relay, upstream_port, routes, env)
                try:
                    latencies(port, 300, headers)  # warm-up
                    samples[name] += latencies(port, args.requests, headers)
                finally:
                    proc.kill()
                    proc.wait()
            print(f"round {round_number + 1} done", file=sys.stderr)
    finally:
        upstream.kill()
        redis.kill()
    result = {}
    for name, values in samples.items():
        result[name] = {"p50_us": percentile(values, 0.50) * 1e6, "p99_us": percentile(values, 0.99) * 1e6,
                        "mean_us": statistics.mean(values) * 1e6}
    for name in ("memory", "redis"):
        result[name]["added_p50_us"] = result[name]["p50_us"] - result["plain"]["p50_us"]
        result[name]["added_p99_us"] = result[name]["p99_us"] - result["plain"]["p99_us"]
    summary = {"date": time.strftime("%Y-%m-%d"), "rounds": args.rounds, "requests_per_round": args.requests,
               "load_average": os.getloadavg(), "latency": result}
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
