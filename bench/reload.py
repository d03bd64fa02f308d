#!/usr/bin/env python3
"""Measures hot reload on a real `relay serve` (issue 4's figures).

1. Latency: a route file is rewritten with a new path N times; the time from
   the write to the first request that the new route answers is recorded
   (polled every 2 ms). Printed as p50 / p99 / max.
2. Failures under swaps: clients send requests as fast as 4 keep-alive
   connections allow while the table is swapped 10 times a second; every
   answer that is not 200 counts as a failure.
3. Memory: 100 SSE streams are held open through a slow loopback upstream
   while the table is reloaded 1,000 times (file change + SIGHUP, watcher
   off); the relay's RSS is read before and after.

Usage: bench/reload.py [path/to/relay]   (default target/release/relay)
Only loopback addresses are used. Nothing here asserts: it prints figures.
"""
import http.client, http.server, json, os, signal, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port  # noqa: E402

RELAY = sys.argv[1] if len(sys.argv) > 1 else "target/release/relay"


class SlowSSE(http.server.BaseHTTPRequestHandler):
    """Answers every request with an SSE stream: one event a second, for a minute."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path.endswith("/fast"):
            body = b'{"ok":true}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for i in range(60):
                data = f"data: {i}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(1)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    def log_message(self, *args):
        pass


def status(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    code = conn.getresponse().status
    conn.close()
    return code


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def route(path):
    return (f'[[route]]\nid = "probe"\nmethod = "GET"\npath = "{path}"\n'
            '[[route]]\nid = "fast"\nmethod = "GET"\npath = "/v1/fast"\n')


def hammer(port, stop, counts):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        try:
            conn.request("GET", "/v1/fast")
            response = conn.getresponse()
            response.read()
            counts["ok" if response.status == 200 else "failed"] += 1
        except OSError:
            counts["failed"] += 1
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)


def start_relay(routes, port, *args):
    proc = subprocess.Popen([RELAY, "serve", "--routes", routes, "--listen", f"127.0.0.1:{port}", "--workers", "1", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    for _ in range(500):
        try:
            status(port, "/health")
            return proc
        except OSError:
            time.sleep(0.01)
    raise SystemExit("the relay did not start")


def main():
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowSSE)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as routes:
        with open(os.path.join(routes, "00-upstream.toml"), "w") as f:
            f.write(f'[upstream.up]\nbase_url = "http://127.0.0.1:{upstream.server_address[1]}/v1"\n')
        probe = os.path.join(routes, "probe.toml")
        with open(probe, "w") as f:
            f.write(route("/v1/probe-0"))

        port = free_port()
        relay = start_relay(routes, port)
        latencies = []
        for n in range(1, 41):
            time.sleep(0.3)  # let the previous burst settle
            tmp = probe + ".tmp"
            with open(tmp, "w") as f:
                f.write(route(f"/v1/probe-{n}"))
            written = time.monotonic()
            os.rename(tmp, probe)
            while status(port, f"/v1/probe-{n}") == 404:
                time.sleep(0.002)
            latencies.append((time.monotonic() - written) * 1000)
        relay.terminate()
        relay.wait()
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"reload latency over {len(latencies)} edits: p50 {statistics.median(latencies):.0f} ms, "
              f"p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms (debounce 200 ms included)")

        port = free_port()
        relay = start_relay(routes, port, "--no-watch")
        stop, counts = threading.Event(), {"ok": 0, "failed": 0}
        workers = [threading.Thread(target=hammer, args=(port, stop, counts)) for _ in range(4)]
        for w in workers:
            w.start()
        started = time.monotonic()
        swaps = 0
        while time.monotonic() - started < 5:
            with open(probe, "w") as f:
                f.write(route("/v1/probe-40") + f"# swap {swaps}\n")
            os.kill(relay.pid, signal.SIGHUP)
            swaps += 1
            time.sleep(0.1)
        stop.set()
        for w in workers:
            w.join()
        rate = (counts["ok"] + counts["failed"]) / (time.monotonic() - started)
        print(f"under {swaps} table swaps in 5 s (10/s): {counts['ok']} requests answered 200, "
              f"{counts['failed']} failed ({rate:.0f} req/s from 4 Python connections)")

        streams = []
        for _ in range(100):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", f"/v1/probe-40")
            response = conn.getresponse()
            response.read1(64)
            streams.append((conn, response))
        time.sleep(0.5)
        before = rss_kb(relay.pid)
        for n in range(1000):
            with open(probe, "w") as f:
                f.write(route("/v1/probe-40") + f"# reload {n}\n")
            os.kill(relay.pid, signal.SIGHUP)
            time.sleep(0.003)
        time.sleep(1.0)
        after = rss_kb(relay.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/relay/status")
        reloads = json.loads(conn.getresponse().read())["version"] - 1
        alive = sum(1 for _, r in streams if r.read1(64))
        relay.terminate()
        relay.wait()
        print(f"RSS with 100 open streams: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after "
              f"{reloads} reloads (1,000 signals; signals that arrive during a reload are coalesced); "
              f"{alive}/100 streams still delivering")
    upstream.shutdown()


if __name__ == "__main__":
    main()
