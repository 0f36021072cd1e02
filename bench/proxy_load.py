#!/usr/bin/env python3
"""Proxy benchmark: sluice running examples/proxy.yaml (http_server ->
http_client with propagate_response), nginx proxying the same path, and the
hyper_proxy example (hyper's server and pooled client with nothing else: the
floor for a proxy built on hyper), all in front of the same minimal upstream
(the hyper_weather example), measured in the same run.

The proxy under test is pinned to CPU 1; wrk and the upstream share CPU 0.
Reported per proxy: requests per second at 64 connections, the proxy's CPU
microseconds per request (user+system time from /proc, the stable figure on
small shared machines), p50/p99 latency, and the connections to the upstream
(established ones sampled mid-run, and how many were opened during the run:
with keep-alive reuse that stays at about the number of caller connections).
Every answer is checked once before and once after the load (the weather JSON
for Berlin). Targets are loopback only; every run is bounded in time.

Usage: bench/proxy_load.py [--duration 10] [--conns 64] [--runs 3]
Needs: wrk and nginx (Debian packages: apt-get install -y wrk nginx) and
`cargo build --release -p sluice -p sluice-components --examples`
(binaries are looked up under $CARGO_TARGET_DIR, default ./target).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
BODY = b'{"location":"Berlin"}'
WANT = {"city": "Berlin", "forecast": "Clear skies with light winds", "temperature_c": 22}
UPSTREAM = "127.0.0.1:4196"

NGINX_CONF = """
worker_processes 1;
master_process off;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream weather {{
        server {upstream};
        keepalive 128;
    }}
    server {{
        listen {listen};
        location /post {{
            proxy_pass http://weather;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def check_answer(url):
    req = urllib.request.Request(url, data=BODY, method="POST")
    with urllib.request.urlopen(req, timeout=2) as r:
        got = json.loads(r.read())
    if got != WANT:
        sys.exit(f"{url} answered {got}, want {WANT}")


def wait_ready(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            check_answer(url)
            return
        except (OSError, ValueError):
            time.sleep(0.1)
    sys.exit(f"{url} never became ready")


def upstream_sockets(state):
    out = subprocess.run(["ss", "-Htn", "state", state, "dst", UPSTREAM],
                         capture_output=True, text=True, check=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def opened_connections():
    # Active opens of the whole host (TCP ActiveOpens in /proc/net/snmp);
    # the only other client on the machine during a run is wrk.
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("ActiveOpens")])


def measure(name, argv, url, upstream_pid, args):
    proc = subprocess.Popen(["taskset", "-c", "1", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        results = []
        for _ in range(args.runs):
            sampled = {}
            sampler = threading.Timer(args.duration / 2,
                                      lambda: sampled.update(est=upstream_sockets("established")))
            before, up_before, opens_before = cpu_seconds(proc.pid), cpu_seconds(upstream_pid), opened_connections()
            sampler.start()
            out = subprocess.run(
                ["taskset", "-c", "0", "wrk", "-t1", f"-c{args.conns}", f"-d{args.duration}s",
                 "-s", os.path.join(ROOT, "bench", "post.lua"), url],
                capture_output=True, text=True, timeout=args.duration + 30, check=True).stdout
            sampler.join()
            used = cpu_seconds(proc.pid) - before
            up_used = cpu_seconds(upstream_pid) - up_before
            # wrk's own connections are in the count: take them out.
            opens = opened_connections() - opens_before - args.conns
            summary = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
            if summary["errors"]:
                sys.exit(f"{name}: {summary['errors']} errors under load")
            n = summary["requests"]
            results.append({"rps": n / summary["seconds"], "cpu_us": used * 1e6 / n,
                            "upstream_cpu_us": up_used * 1e6 / n,
                            "p50_us": summary["p50_us"], "p99_us": summary["p99_us"],
                            "established": sampled.get("est", -1), "opened": max(opens, 0)})
        check_answer(url)
        results.sort(key=lambda r: r["cpu_us"])
        median = results[len(results) // 2]
        median.update(name=name, all_cpu_us=[round(r["cpu_us"], 2) for r in results])
        return median
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        sys.exit("nginx is not installed (Debian: apt-get install -y nginx); it is the baseline")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    release = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
    upstream = subprocess.Popen(
        ["taskset", "-c", "0", os.path.join(release, "examples", "hyper_weather"), UPSTREAM],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="proxy-bench-")
    try:
        wait_ready(f"http://{UPSTREAM}/post")
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=tmp, upstream=UPSTREAM, listen="127.0.0.1:4197"))
        rows = [
            measure("nginx", [nginx, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                    "http://127.0.0.1:4197/post", upstream.pid, args),
            measure("hyper", [os.path.join(release, "examples", "hyper_proxy"), "127.0.0.1:4198", UPSTREAM],
                    "http://127.0.0.1:4198/post", upstream.pid, args),
            measure("sluice", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "examples", "proxy.yaml"),
                               "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"],
                    "http://127.0.0.1:4195/post", upstream.pid, args),
        ]
    finally:
        upstream.terminate()
        upstream.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0]["cpu_us"]
    for row in rows:
        print(f"{row['name']:>7}: {row['rps']:>8.0f} req/s  {row['cpu_us']:6.2f} CPU us/req "
              f"({row['cpu_us'] / base:4.2f}x nginx; runs {row['all_cpu_us']})  "
              f"p50 {row['p50_us']} us  p99 {row['p99_us']} us  "
              f"upstream {row['upstream_cpu_us']:.2f} CPU us/req, "
              f"{row['established']} upstream connections open, {row['opened']} opened during the run")


if __name__ == "__main__":
    main()
