#!/usr/bin/env python3
"""Load benchmark: sluice running examples/weather.yaml against a minimal hyper
server doing the same transform, measured in the same run.

Each server is pinned to CPU 1, wrk to CPU 0. Reported per system: requests per
second at 64 connections, server CPU microseconds per request (user+system time
from /proc, the stable figure on small shared machines), p50/p99 latency and RSS.
Targets are loopback only; every run is bounded in time.

Usage: bench/http_load.py [--duration 10] [--conns 64] [--runs 3] [--idempotency] [--cached]
--idempotency adds a row: bench/weather_idempotent.yaml, every request with its
own Idempotency-Key (claimed, answered and stored in a memory cache).
--cached adds a row: bench/weather_cached.yaml, every request answered by the
`cached` processor from a memory cache hit.
--baseline BIN adds a row: another sluice binary (an older build, say) running
examples/weather.yaml, to compare builds in the same run.
Needs: wrk (Debian package) and `cargo build --release -p sluice --examples`.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
BODY = b'{"location":"Berlin"}'
WANT = {"city": "Berlin", "forecast": "Clear skies with light winds", "temperature_c": 22}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_ready(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url, data=BODY, method="POST")
            with urllib.request.urlopen(req, timeout=2) as r:
                got = json.loads(r.read())
                if got != WANT:
                    sys.exit(f"{url} answered {got}, want {WANT}")
                return
        except (OSError, ValueError):
            time.sleep(0.1)
    sys.exit(f"{url} never became ready")


def measure(name, argv, url, args, env=None):
    proc = subprocess.Popen(["taskset", "-c", "1", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        idle_rss = rss_kib(proc.pid)
        results = []
        for _ in range(args.runs):
            before = cpu_seconds(proc.pid)
            out = subprocess.run(
                ["taskset", "-c", "0", "wrk", "-t1", f"-c{args.conns}", f"-d{args.duration}s",
                 "-s", os.path.join(ROOT, "bench", "post.lua"), url],
                capture_output=True, text=True, timeout=args.duration + 30, check=True,
                env={**os.environ, **(env or {})}).stdout
            used = cpu_seconds(proc.pid) - before
            summary = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
            if summary["errors"]:
                sys.exit(f"{name}: {summary['errors']} errors under load")
            rps = summary["requests"] / summary["seconds"]
            results.append({"rps": rps, "cpu_us": used * 1e6 / summary["requests"],
                            "p50_us": summary["p50_us"], "p99_us": summary["p99_us"]})
        results.sort(key=lambda r: r["cpu_us"])
        median = results[len(results) // 2]
        median.update(name=name, idle_rss_kib=idle_rss, loaded_rss_kib=rss_kib(proc.pid))
        return median
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idempotency", action="store_true")
    ap.add_argument("--cached", action="store_true")
    ap.add_argument("--baseline", metavar="BIN")
    args = ap.parse_args()
    release = os.path.join(ROOT, "target", "release")
    rows = [
        measure("hyper", [os.path.join(release, "examples", "hyper_weather"), "127.0.0.1:4196"],
                "http://127.0.0.1:4196/weather", args),
        measure("sluice", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "examples", "weather.yaml"),
                           "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"],
                "http://127.0.0.1:4195/weather", args),
    ]
    if args.baseline:
        rows.append(measure("base", [args.baseline, "-c", os.path.join(ROOT, "examples", "weather.yaml"),
                                     "--log.level", "WARN", "--set", "http.address=127.0.0.1:4199"],
                            "http://127.0.0.1:4199/weather", args))
    if args.idempotency:
        rows.append(measure(
            "idem", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "bench", "weather_idempotent.yaml"),
                     "--log.level", "WARN", "--set", "http.address=127.0.0.1:4197"],
            "http://127.0.0.1:4197/weather", args, env={"BENCH_IDEMPOTENCY_KEYS": "1"}))
    if args.cached:
        rows.append(measure(
            "cached", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "bench", "weather_cached.yaml"),
                       "--log.level", "WARN", "--set", "http.address=127.0.0.1:4198"],
            "http://127.0.0.1:4198/weather", args))
    base = rows[0]["cpu_us"]
    for row in rows:
        print(f"{row['name']:>7}: {row['rps']:>9.0f} req/s  {row['cpu_us']:6.2f} CPU us/req "
              f"({row['cpu_us'] / base:4.2f}x hyper, {row['cpu_us'] / rows[1]['cpu_us']:4.2f}x sluice)  p50 {row['p50_us']} us  p99 {row['p99_us']} us  "
              f"RSS idle {row['idle_rss_kib'] / 1024:.1f} MiB, loaded {row['loaded_rss_kib'] / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
